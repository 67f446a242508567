/*-------------------------------------------------------------------------
 *
 * session.c
 *		Session settings read by several layers: the purpose a session
 *		compares templates for (biocrypt.purpose).
 *
 * Whether the role holds that purpose, and whether a template was enrolled
 * for it, is decided where templates are opened; this file only keeps the
 * setting and checks its spelling.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "base/envelope.h"
#include "core/core.h"

static char *biocrypt_purpose = NULL;

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

void
SessionInit(void)
{
	DefineCustomStringVariable("biocrypt.purpose",
							   "The purpose this session compares templates for.",
							   "Must be one of a template's purposes and granted to the role (biocrypt.grant_purpose).",
							   &biocrypt_purpose, "",
							   PGC_USERSET, 0,
							   CheckPurposeSetting, NULL, NULL);
}
