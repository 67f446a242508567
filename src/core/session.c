/*-------------------------------------------------------------------------
 *
 * session.c
 *		Session settings read by several layers: the purpose a session
 *		compares templates for (biocrypt.purpose), whether administrators
 *		may see what templates hold (biocrypt.allow_reveal); and the
 *		statement text this session shows in pg_stat_activity.
 *
 * Whether the role holds that purpose, and whether a template was enrolled
 * for it, is decided where templates are opened; this file only keeps the
 * setting and checks its spelling.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/atomics.h"
#include "utils/backend_status.h"
#include "utils/guc.h"

#include "base/envelope.h"
#include "core/core.h"

static char *biocrypt_purpose = NULL;
static bool biocrypt_allow_reveal = false;

const char *
PurposeCurrent(void)
{
	return biocrypt_purpose != NULL ? biocrypt_purpose : "";
}

static bool
CheckPurposeSetting(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' ||
		EnvelopePurposeValid(*newval, strlen(*newval)))
		return true;
	GUC_check_errdetail("A purpose is 1 to %d characters of a-z, 0-9, \"_\", \".\" or \"-\".",
						ENVELOPE_MAX_PURPOSE_LEN);
	return false;
}

/*
 * Withhold the running statement's text from pg_stat_activity: it may
 * carry a plaintext embedding or probe, and members of pg_read_all_stats
 * (pg_monitor) see every session's text, while it runs and after it ends
 * until the session's next statement.  Only this backend's status entry
 * changes; the next statement reports its own text.  The text was visible
 * while the statement was parsed and planned: clients that must keep
 * probes out of it altogether send them sealed.
 */
void
SessionWithholdActivity(void)
{
	static const char withheld[] = "<biocrypt: statement text withheld>";
	volatile PgBackendStatus *be = MyBEEntry;

	if (be == NULL || !pgstat_track_activities)
		return;
	PGSTAT_BEGIN_WRITE_ACTIVITY(be);
	memcpy((char *) be->st_activity_raw, withheld, sizeof(withheld));
	PGSTAT_END_WRITE_ACTIVITY(be);
}

/*
 * May administrators see what a template holds: reveal(), and comparing
 * stored templates with each other, from which one can be rebuilt?
 */
bool
RevealAllowed(void)
{
	return biocrypt_allow_reveal;
}

/*
 * biocrypt.request_id: a label a caller gives its accesses, recorded in
 * each audit row (request_id), so that the rows one request leaves on
 * several servers can be found together (a coordinator and its shards).
 * Printable ASCII and short: it is written in every row as given.
 */
static char *biocrypt_request_id = NULL;

static bool
CheckRequestId(char **newval, void **extra, GucSource source)
{
	size_t		len = strlen(*newval);

	if (len >= NAMEDATALEN)
	{
		GUC_check_errdetail("A request id is at most %d bytes.", NAMEDATALEN - 1);
		return false;
	}
	for (size_t i = 0; i < len; i++)
		if ((*newval)[i] < 0x20 || (*newval)[i] > 0x7e)
		{
			GUC_check_errdetail("A request id is printable ASCII.");
			return false;
		}
	return true;
}

const char *
RequestIdCurrent(void)
{
	return biocrypt_request_id != NULL ? biocrypt_request_id : "";
}

void
SessionInit(void)
{
	DefineCustomBoolVariable("biocrypt.allow_reveal",
							 "Allows biocrypt.reveal() and comparisons of stored templates with each other for administrators.",
							 NULL, &biocrypt_allow_reveal, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("biocrypt.purpose",
							   "The purpose this session compares templates for.",
							   "Must be one of a template's purposes and granted to the role (biocrypt.grant_purpose).",
							   &biocrypt_purpose, "",
							   PGC_USERSET, 0,
							   CheckPurposeSetting, NULL, NULL);
	DefineCustomStringVariable("biocrypt.request_id",
							   "A label recorded in the audit row of each access (request_id).",
							   "Links the audit rows one request leaves on several servers, e.g. a coordinator and its shards.",
							   &biocrypt_request_id, "",
							   PGC_USERSET, 0,
							   CheckRequestId, NULL, NULL);
}
