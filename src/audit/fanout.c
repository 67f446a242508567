/*-------------------------------------------------------------------------
 *
 * fanout.c
 *		The coordinator's record of a call it sent to the shards of a
 *		gallery (docs/scale-out.md): biocrypt.record_fanout().
 *
 * A coordinator in front of shards (PL/Proxy) holds no template and
 * decrypts nothing; the shards record their accesses.  What the
 * coordinator adds is the call as a whole: who asked, for which purpose,
 * with which probe (its keyed hash), and the candidates it merged from
 * every shard.  It records that in its own chained audit log, as one row
 * of the call's operation with origin 'shards' (the access happened
 * there) and the call's request id (biocrypt.request_id), the id that the
 * shards' rows carry too.  The row is queued without waiting for its
 * commit: it guards no decryption (the shards committed theirs before
 * they decrypted), and a search would otherwise wait for a second durable
 * commit on its way back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "core/core.h"
#include "template/template.h"
#include "audit/audit_internal.h"

/*
 * The operations a coordinator sends to shards, each with the role whose
 * members may record it: the role that may perform it on a shard, so that
 * a matcher cannot put an erasure or a hold of its own making into the
 * log (or the compliance report).
 */
static const struct
{
	AuditOperation op;
	const char *role;
}			routed[] = {
	{AUDIT_OP_PROTECT, "biocrypt_enroller"},
	{AUDIT_OP_VERIFY, "biocrypt_verifier"},
	{AUDIT_OP_IDENTIFY, "biocrypt_matcher"},
	{AUDIT_OP_ERASE, "biocrypt_admin"},
	{AUDIT_OP_HOLD, "biocrypt_admin"},
	{AUDIT_OP_PURGE, "biocrypt_admin"},
};

/* The fan-out operation called name; -1 if none. */
static int
FanoutOperation(const char *name)
{
	for (int i = 0; i < (int) lengthof(routed); i++)
		if (strcmp(AuditOperationName(routed[i].op), name) == 0)
			return i;
	return -1;
}

/* The row's matches: the merged candidates, or the subject the call named. */
static void
FanoutMatches(AuditEvent *ev, Jsonb *candidates, const char *subject)
{
	StringInfoData buf;

	if (candidates != NULL)
	{
		if (!JB_ROOT_IS_ARRAY(candidates) || JB_ROOT_IS_SCALAR(candidates))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("biocrypt: the candidates of a fan-out must be a JSON array"),
					 errhidestmt(true), errhidecontext(true)));
		buf.data = JsonbToCString(NULL, &candidates->root, VARSIZE(candidates));
		AuditSetMatches(ev, buf.data, strlen(buf.data));
		return;
	}
	if (subject == NULL)
		return;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "[{\"subject\": ");
	AuditJsonString(&buf, subject);
	appendStringInfoString(&buf, "}]");
	AuditSetMatches(ev, buf.data, buf.len);
}

PG_FUNCTION_INFO_V1(biocrypt_record_fanout);
/*
 * biocrypt.record_fanout(operation, subject, probe, k, candidates): record
 * a call this coordinator made to its shards.  The session's
 * biocrypt.request_id must be set: it is what links the row to the
 * shards' rows.
 */
Datum
biocrypt_record_fanout(PG_FUNCTION_ARGS)
{
	int			r = PG_ARGISNULL(0) ? -1 : FanoutOperation(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	AuditEvent *ev;

	if (r < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: a fan-out's operation is protect, verify, identify, erase, hold or purge"),
				 errhidestmt(true), errhidecontext(true)));
	if (!has_privs_of_role(GetUserId(), get_role_oid(routed[r].role, false)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("biocrypt: only members of %s record a fan-out's %s",
						routed[r].role, AuditOperationName(routed[r].op)),
				 errhidestmt(true), errhidecontext(true)));
	if (RequestIdCurrent()[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: a fan-out is recorded with its request id"),
				 errhint("SET LOCAL biocrypt.request_id to the id the shards' calls carry."),
				 errhidestmt(true), errhidecontext(true)));
	if (!PG_ARGISNULL(3) && PG_GETARG_INT32(3) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: k must be at least 1"),
				 errhidestmt(true), errhidecontext(true)));
	ev = palloc(sizeof(AuditEvent));
	AuditEventInit(ev, routed[r].op);
	strlcpy(ev->origin, "shards", sizeof(ev->origin));
	if (!PG_ARGISNULL(2))
	{
		int			dims;
		const float4 *probe = CheckFloatArray(PG_GETARG_ARRAYTYPE_P(2), "probe", &dims);

		/* this server's keyed hash: equal probes give equal hashes here */
		AuditProbeHash(ev->probe_hmac, probe, sizeof(float4) * dims, NULL, 0);
		ev->has_probe = true;
	}
	ev->k = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	FanoutMatches(ev, PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4),
				  PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	/* a list too long for the queue's slot travels in a segment: wait for it */
	if (ev->matches_dsm == DSM_HANDLE_INVALID)
		AuditRecordLater(ev);
	else
		(void) AuditRecord(ev);
	pfree(ev);
	PG_RETURN_VOID();
}
