/*-------------------------------------------------------------------------
 *
 * purpose.c
 *		Purpose grants: grant_purpose and revoke_purpose, audited, and the
 *		grants of dropped roles.
 *
 * A comparison needs a declared purpose (SET biocrypt.purpose) that the
 * template allows and that biocrypt.purpose_grants grants to a role whose
 * privileges the current role has: template/purposes.c gives that verdict
 * and audit/access.c records and raises a refusal.  This file keeps the
 * grants table.
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
#include "core/core.h"
#include "crypto/keys.h"
#include "lifecycle/lifecycle.h"
#include "template/template.h"



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
						   ENVELOPE_MAX_PURPOSE_LEN),
				 errhidestmt(true), errhidecontext(true)));
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
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not change biocrypt.purpose_grants"),
				 errhidestmt(true), errhidecontext(true)));
	rc = (int) SPI_processed;
	BiocryptSpiEnd(&spi);
	PurposeGrantsChanged();
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

	if (!OidIsValid(BiocryptExtensionOid()))
		return;
	BiocryptSpiBegin(&spi);
	if (SPI_execute("DELETE FROM biocrypt.purpose_grants g "
					"WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = g.role)",
					false, 0) != SPI_OK_DELETE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not update biocrypt.purpose_grants"),
				 errhidestmt(true), errhidecontext(true)));
	BiocryptSpiEnd(&spi);
	PurposeGrantsChanged();
}

/* Make a grant change, then record it as a policy event. */
static Datum
GrantCommand(FunctionCallInfo fcinfo, bool grant)
{
	bool		changed;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: role and purpose must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	changed = ChangeGrant(PG_GETARG_OID(0), PG_GETARG_TEXT_PP(1), grant);
	AuditRecordEventJson(AUDIT_OP_POLICY,
						 BiocryptRelid("purpose_grants"),
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
