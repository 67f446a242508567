/*-------------------------------------------------------------------------
 *
 * purpose.c
 *		Purpose limitation: a comparison needs a declared purpose that the
 *		template allows and that was granted to the role.
 *
 * A session declares its purpose with SET biocrypt.purpose.  Every
 * comparison checks, before anything is decrypted, that a purpose is
 * declared, that it is one of the purposes sealed into the template's
 * authenticated header, and that biocrypt.purpose_grants grants it to a
 * role whose privileges the current role has (superusers need no grant).
 * A refusal is an ERROR and is recorded as a "denied" event.  Grants are
 * read once per transaction and role.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "audit/audit.h"
#include "biocrypt.h"

static char *biocrypt_purpose = NULL;

/* The last grant lookup, valid within one transaction. */
static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
static Oid	cached_user = InvalidOid;
static char cached_purpose[ENVELOPE_MAX_PURPOSE_LEN + 1];
static bool cached_granted = false;

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
PurposeInit(void)
{
	DefineCustomStringVariable("biocrypt.purpose",
							   "The purpose this session compares templates for.",
							   "Must be one of a template's purposes and granted to the role (biocrypt.grant_purpose).",
							   &biocrypt_purpose, "",
							   PGC_USERSET, 0,
							   CheckPurposeSetting, NULL, NULL);
}

/* Does a role with the current user's privileges hold a grant of purpose? */
static bool
LookUpGrant(Oid userid, const char *purpose)
{
	BiocryptSpi spi;
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {CStringGetTextDatum(purpose), ObjectIdGetDatum(userid)};
	bool		isnull;
	bool		granted;

	BiocryptSpiBegin(&spi);
	if (SPI_execute_with_args("SELECT EXISTS (SELECT FROM biocrypt.purpose_grants g "
							  "WHERE g.purpose = $1 "
							  "AND pg_catalog.pg_has_role($2, g.role, 'USAGE'))",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: could not read biocrypt.purpose_grants");
	granted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 1, &isnull));
	BiocryptSpiEnd(&spi);
	return granted;
}

static bool
PurposeGranted(Oid userid, const char *purpose)
{
	if (superuser_arg(userid))
		return true;
	if (cached_lxid != MyProc->lxid || cached_user != userid ||
		strcmp(cached_purpose, purpose) != 0)
	{
		cached_granted = LookUpGrant(userid, purpose);
		cached_lxid = MyProc->lxid;
		cached_user = userid;
		strlcpy(cached_purpose, purpose, sizeof(cached_purpose));
	}
	return cached_granted;
}

static bool
HeaderAllows(const EnvelopeHeader *hdr, const char *purpose)
{
	size_t		len = strlen(purpose);

	for (int i = 0; i < hdr->npurposes; i++)
		if (hdr->purpose_len[i] == len && memcmp(hdr->purpose[i], purpose, len) == 0)
			return true;
	return false;
}

/* Record the refusal (as the statement fails) and raise it. */
static void
Deny(FunctionCallInfo fcinfo, AuditEvent *ev, const char *msg, const char *hint)
{
	AuditDeny(fcinfo, ev);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("biocrypt: %s", msg),
			 errhint("%s", hint),
			 errhidestmt(true)));
}

/*
 * May the current role compare this template now?  ERROR if not, recorded
 * as denied in place of (or beside) the access's event ev.
 */
void
PurposeCheck(FunctionCallInfo fcinfo, const EnvelopeHeader *hdr, AuditEvent *ev)
{
	const char *purpose = PurposeCurrent();

	if (purpose[0] == '\0')
		Deny(fcinfo, ev, "no purpose declared for comparing templates",
			 "SET biocrypt.purpose to the purpose of this access.");
	if (!HeaderAllows(hdr, purpose))
		Deny(fcinfo, ev,
			 psprintf("a template may not be used for purpose \"%s\"", purpose),
			 "Templates are compared only for the purposes they were enrolled for (biocrypt.purposes_of).");
	if (!PurposeGranted(GetUserId(), purpose))
		Deny(fcinfo, ev,
			 psprintf("purpose \"%s\" is not granted to role \"%s\"", purpose,
					  GetUserNameFromId(GetUserId(), false)),
			 "An administrator grants purposes with biocrypt.grant_purpose(role, purpose).");
}

/* Insert or delete a grant; true if the table changed. */
static bool
ChangeGrant(Oid role, text *purpose, bool grant)
{
	BiocryptSpi spi;
	Oid			argtypes[3] = {OIDOID, TEXTOID, NAMEOID};
	Datum		args[3];
	char	   *name = text_to_cstring(purpose);
	NameData	grantor;
	int			rc;

	if (!EnvelopePurposeValid(name, strlen(name)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: invalid purpose name"),
				 errdetail("A purpose is 1 to %d characters of a-z, 0-9, \"_\", \".\" or \"-\".",
						   ENVELOPE_MAX_PURPOSE_LEN)));
	namestrcpy(&grantor, GetUserNameFromId(GetUserId(), false));
	args[0] = ObjectIdGetDatum(role);
	args[1] = PointerGetDatum(purpose);
	args[2] = NameGetDatum(&grantor);
	BiocryptSpiBegin(&spi);
	if (grant)
		rc = SPI_execute_with_args("INSERT INTO biocrypt.purpose_grants (role, purpose, granted_by) "
								   "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
								   3, argtypes, args, NULL, false, 0);
	else
		rc = SPI_execute_with_args("DELETE FROM biocrypt.purpose_grants "
								   "WHERE role = $1 AND purpose = $2",
								   2, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT && rc != SPI_OK_DELETE)
		elog(ERROR, "biocrypt: could not change biocrypt.purpose_grants");
	rc = (int) SPI_processed;
	BiocryptSpiEnd(&spi);
	cached_lxid = InvalidLocalTransactionId;
	return rc > 0;
}

/*
 * After DROP ROLE: remove this database's grants of roles that no longer
 * exist, so a later role that happens to get the same OID inherits none.
 */
void
PurposeForgetDroppedRoles(void)
{
	BiocryptSpi spi;

	if (!OidIsValid(get_extension_oid("biocrypt", true)))
		return;
	BiocryptSpiBegin(&spi);
	if (SPI_execute("DELETE FROM biocrypt.purpose_grants g "
					"WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = g.role)",
					false, 0) != SPI_OK_DELETE)
		elog(ERROR, "biocrypt: could not update biocrypt.purpose_grants");
	BiocryptSpiEnd(&spi);
	cached_lxid = InvalidLocalTransactionId;
}

/* Make a grant change, then record it as a policy event. */
static Datum
GrantCommand(FunctionCallInfo fcinfo, bool grant)
{
	bool		changed;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: role and purpose must not be NULL")));
	changed = ChangeGrant(PG_GETARG_OID(0), PG_GETARG_TEXT_PP(1), grant);
	AuditRecordEventJson(AUDIT_OP_POLICY,
						 get_relname_relid("purpose_grants", get_namespace_oid("biocrypt", false)),
						 NULL, 0, AuditRequestJson(fcinfo));
	PG_RETURN_BOOL(changed);
}

/* The body of grant_purpose(). */
static Datum
GrantPurposeRequest(PG_FUNCTION_ARGS)
{
	return GrantCommand(fcinfo, true);
}

PG_FUNCTION_INFO_V1(biocrypt_grant_purpose);
/* grant_purpose(role, purpose): true if the grant is new. */
Datum
biocrypt_grant_purpose(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_POLICY, GrantPurposeRequest);
}

/* The body of revoke_purpose(). */
static Datum
RevokePurposeRequest(PG_FUNCTION_ARGS)
{
	return GrantCommand(fcinfo, false);
}

PG_FUNCTION_INFO_V1(biocrypt_revoke_purpose);
/* revoke_purpose(role, purpose): true if there was such a grant. */
Datum
biocrypt_revoke_purpose(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_POLICY, RevokePurposeRequest);
}
