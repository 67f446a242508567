/*-------------------------------------------------------------------------
 *
 * auditrequest.c
 *		Administrative requests (erasure, holds, policies, purpose grants,
 *		keys): a refused request is recorded too.
 *
 * Each administrative SQL function runs its body through AuditAttempt.
 * The body records what it did, as it always has.  If it raises an error
 * instead (a subject under legal hold, a bad argument, a missing key), the
 * body's work is rolled back with a subtransaction, and a row of the
 * request's operation is committed before the error goes on to the
 * client: outcome "denied" when biocrypt refused the request (a bad or
 * forbidden request, or one the current state does not allow), "error"
 * when it failed for another reason, with the SQLSTATE, and the request
 * itself (function and arguments) in matches.  Such a row can be missing
 * only if the audit log itself cannot be written, and then the server log
 * says so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "audit/audit_internal.h"
#include "core/core.h"
#include "crypto/keys.h"
#include "template/template.h"

/* Append one argument as JSON: its output text, or null. */
static void
AppendArgument(StringInfo buf, FunctionCallInfo fcinfo, int i, Oid type)
{
	Oid			outfunc;
	bool		varlena;

	if (fcinfo->args[i].isnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	getTypeOutputInfo(type, &outfunc, &varlena);
	AuditJsonString(buf, OidOutputFunctionCall(outfunc, fcinfo->args[i].value));
}

/*
 * The request as JSON: [{"function": name, argument: value as text, ...}],
 * arguments by their declared names.  Administrative functions take no
 * template and no probe, so nothing here is biometric.
 */
char *
AuditRequestJson(FunctionCallInfo fcinfo)
{
	HeapTuple	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	StringInfoData buf;
	Oid		   *types;
	char	  **names;
	char	   *modes;
	int			nargs;

	if (!HeapTupleIsValid(proc))
		ereport(ERROR,
				(errmsg_internal("biocrypt: cache lookup failed for function %u", fcinfo->flinfo->fn_oid),
				 errhidestmt(true), errhidecontext(true)));
	nargs = get_func_arg_info(proc, &types, &names, &modes);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "[{\"function\": ");
	AuditJsonString(&buf, NameStr(((Form_pg_proc) GETSTRUCT(proc))->proname));
	for (int i = 0; i < nargs && i < fcinfo->nargs; i++)
	{
		appendStringInfoString(&buf, ", ");
		AuditJsonString(&buf, names != NULL && names[i][0] != '\0' ? names[i] :
						psprintf("$%d", i + 1));
		appendStringInfoString(&buf, ": ");
		AppendArgument(&buf, fcinfo, i, types[i]);
	}
	appendStringInfoString(&buf, "}]");
	ReleaseSysCache(proc);
	return buf.data;
}

/*
 * Was the request refused (it was bad, forbidden, a repeat, or not allowed
 * in the current state), rather than failed?  By the SQLSTATE: data
 * exceptions (22), integrity violations such as a second decision (23),
 * access rule violations (42), objects in the wrong state (55), and no
 * such thing (P0002).
 */
static bool
IsRefusal(int sqlerrcode)
{
	const char *s = unpack_sql_state(sqlerrcode);

	return strncmp(s, "22", 2) == 0 || strncmp(s, "23", 2) == 0 ||
		strncmp(s, "42", 2) == 0 || strncmp(s, "55", 2) == 0 ||
		strcmp(s, "P0002") == 0;
}

/*
 * Commit the row of a request that did not happen.  If even that fails,
 * the server log says so and the request's own error goes on.
 */
static void
RecordFailedRequest(AuditOperation op, const char *request, int sqlerrcode)
{
	MemoryContext cxt = CurrentMemoryContext;
	AuditEvent *ev = palloc(sizeof(AuditEvent));

	PG_TRY();
	{
		AuditEventInit(ev, op);
		ev->outcome = IsRefusal(sqlerrcode) ? AUDIT_OUTCOME_DENIED : AUDIT_OUTCOME_ERROR;
		strlcpy(ev->sqlstate, unpack_sql_state(sqlerrcode), sizeof(ev->sqlstate));
		AuditSetMatches(ev, request, strlen(request));
		(void) AuditRecord(ev);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		ereport(WARNING,
				(errmsg("biocrypt: a failed %s request could not be recorded in the audit log",
						AuditOperationName(op)),
				 errhidestmt(true), errhidecontext(true)));
	}
	PG_END_TRY();
	pfree(ev);
}

/* A request's body and its result, for BiocryptSubxact. */
typedef struct Attempt
{
	FunctionCallInfo fcinfo;
	PGFunction	body;
	Datum		result;
} Attempt;

static void
RunAttempt(void *arg)
{
	Attempt    *a = arg;

	a->result = a->body(a->fcinfo);
}

/*
 * Run body, an administrative request of operation op; if it raises an
 * error, its work is undone, the failed request recorded, and the error
 * raised again.
 */
Datum
AuditAttempt(FunctionCallInfo fcinfo, AuditOperation op, PGFunction body)
{
	char	   *request = AuditRequestJson(fcinfo);
	Attempt		a = {fcinfo, body, (Datum) 0};
	ErrorData  *edata = BiocryptSubxact(RunAttempt, &a);

	if (edata != NULL)
	{
		RecordFailedRequest(op, request, edata->sqlerrcode);
		ReThrowError(edata);
	}
	return a.result;
}
