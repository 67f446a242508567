/*-------------------------------------------------------------------------
 *
 * auditclose.c
 *		Closing accesses that never completed: a begun row whose owner died
 *		gets an "incomplete" completion row, written by the worker.
 *
 * While the server runs, the worker closes the open accesses of backends
 * that have gone (auditworker.c's sweep).  After a crash, the first worker
 * of the database closes every begun row after the mark kept in
 * biocrypt.audit_state, which bounds that scan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "audit/audit_internal.h"
#include "core/core.h"

static void
NameFromColumn(NameData *out, const Datum *values, const bool *nulls, int col)
{
	if (!nulls[col])
		namestrcpy(out, NameStr(*DatumGetName(values[col])));
}

static void
TextFromColumn(char *out, size_t outlen, const Datum *values, const bool *nulls, int col)
{
	if (!nulls[col])
		text_to_cstring_buffer(DatumGetTextPP(values[col]), out, outlen);
}

/*
 * An event as its row says (the matches aside): a begun row read back, or
 * a row a standby sent (auditforward.c).
 */
void
AuditEventFromRow(const Datum *values, const bool *nulls, AuditEvent *ev)
{
	memset(ev, 0, sizeof(AuditEvent));
	ev->started_at = DatumGetTimestampTz(values[AC_STARTED_AT]);
	ev->ended_at = DatumGetTimestampTz(values[AC_ENDED_AT]);
	NameFromColumn(&ev->session_role, values, nulls, AC_SESSION_ROLE);
	NameFromColumn(&ev->effective_role, values, nulls, AC_EFFECTIVE_ROLE);
	if (!nulls[AC_CLIENT_ADDR])
		strlcpy(ev->client_addr,
				DatumGetCString(DirectFunctionCall1(inet_out, values[AC_CLIENT_ADDR])),
				sizeof(ev->client_addr));
	TextFromColumn(ev->application_name, NAMEDATALEN, values, nulls, AC_APPLICATION_NAME);
	ev->backend_pid = nulls[AC_BACKEND_PID] ? 0 : DatumGetInt32(values[AC_BACKEND_PID]);
	ev->xid = nulls[AC_XID] ? InvalidFullTransactionId : DatumGetFullTransactionId(values[AC_XID]);
	TextFromColumn(ev->purpose, NAMEDATALEN, values, nulls, AC_PURPOSE);
	ev->operation = AuditOperationByName(TextDatumGetCString(values[AC_OPERATION]));
	ev->relation = nulls[AC_RELATION] ? InvalidOid : DatumGetObjectId(values[AC_RELATION]);
	NameFromColumn(&ev->column_name, values, nulls, AC_COLUMN_NAME);
	ev->templates_compared = DatumGetInt64(values[AC_TEMPLATES_COMPARED]);
	ev->expired_skipped = DatumGetInt64(values[AC_EXPIRED_SKIPPED]);
	ev->purpose_skipped = nulls[AC_PURPOSE_SKIPPED] ? 0 : DatumGetInt64(values[AC_PURPOSE_SKIPPED]);
	ev->shape_skipped = nulls[AC_SHAPE_SKIPPED] ? 0 : DatumGetInt64(values[AC_SHAPE_SKIPPED]);
	TextFromColumn(ev->metric, sizeof(ev->metric), values, nulls, AC_METRIC);
	ev->has_threshold = !nulls[AC_THRESHOLD];
	ev->threshold = ev->has_threshold ? DatumGetFloat8(values[AC_THRESHOLD]) : 0;
	ev->k = nulls[AC_K] ? 0 : DatumGetInt32(values[AC_K]);
	ev->has_probe = !nulls[AC_PROBE_HMAC] &&
		VARSIZE_ANY_EXHDR(DatumGetByteaPP(values[AC_PROBE_HMAC])) == AUDIT_HASH_BYTES;
	if (ev->has_probe)
		memcpy(ev->probe_hmac, VARDATA_ANY(DatumGetByteaPP(values[AC_PROBE_HMAC])),
			   AUDIT_HASH_BYTES);
	ev->query_id = nulls[AC_QUERY_ID] ? 0 : DatumGetInt64(values[AC_QUERY_ID]);
	ev->outcome = AuditOutcomeByName(TextDatumGetCString(values[AC_OUTCOME]));
	TextFromColumn(ev->sqlstate, sizeof(ev->sqlstate), values, nulls, AC_SQLSTATE);
	ev->begun_id = nulls[AC_BEGUN_ID] ? 0 : DatumGetInt64(values[AC_BEGUN_ID]);
	TextFromColumn(ev->origin, sizeof(ev->origin), values, nulls, AC_ORIGIN);
	TextFromColumn(ev->request_id, sizeof(ev->request_id), values, nulls, AC_REQUEST_ID);
	ev->matches_len = -1;
	ev->matches_dsm = DSM_HANDLE_INVALID;
}

/*
 * The "incomplete" completion of a begun row: who, what and where as the
 * begun row says; no counts, since the accessing backend never sent them.
 */
static void
IncompleteFromBegun(const Datum *values, const bool *nulls, AuditEvent *ev)
{
	AuditEventFromRow(values, nulls, ev);
	ev->ended_at = GetCurrentTimestamp();
	ev->templates_compared = ev->expired_skipped = 0;
	ev->purpose_skipped = ev->shape_skipped = 0;
	ev->sqlstate[0] = '\0';
	ev->outcome = AUDIT_OUTCOME_INCOMPLETE;
	ev->begun_id = DatumGetInt64(values[AC_ID]);
}

/*
 * Begun rows of this chain that match cond (on l.id, with $2) and have no
 * completion, oldest first (in SPI).
 */
static SPITupleTable *
OpenBegunRows(const char *cond, Oid argtype, Datum arg, uint64 *n)
{
	Oid			argtypes[2] = {TEXTOID, argtype};
	Datum		args[2] = {CStringGetTextDatum(BiocryptChainId()), arg};
	char	   *sql = psprintf("SELECT %s FROM biocrypt.audit_log l "
							   "WHERE l.chain_id = $1 AND l.outcome = 'begun' AND %s "
							   "AND NOT EXISTS (SELECT FROM biocrypt.audit_log c "
							   "WHERE c.chain_id = l.chain_id AND c.begun_id = l.id) "
							   "ORDER BY l.id",
							   AuditColumnList(), cond);

	/* not read-only: a snapshot of its own, after the rows just committed */
	if (SPI_execute_with_args(sql, 2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read the open begun audit rows"),
				 errhidestmt(true), errhidecontext(true)));
	*n = SPI_processed;
	return SPI_tuptable;
}

/*
 * Write an incomplete completion for each begun row of this chain that
 * matches cond and has none yet; returns how many, or -1 if they could not
 * be written.  Reads them in one
 * transaction and writes them in the next, as a batch.
 */
static int64
CloseBegunRows(const char *cond, Oid argtype, Datum arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		open = false;
	bool		setup_failed = false;
	uint64		n;
	SPITupleTable *rows;
	AuditEvent *evs;
	AuditWriteItem *items;

	BeginWork();
	if (!OidIsValid(BiocryptExtensionOid()))
	{
		EndWork();
		MemoryContextSwitchTo(cxt);
		return 0;
	}
	rows = OpenBegunRows(cond, argtype, arg, &n);
	MemoryContextSwitchTo(cxt);
	evs = palloc0(sizeof(AuditEvent) * Max(n, 1));
	items = palloc0(sizeof(AuditWriteItem) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		Datum		values[AUDIT_NCOLUMNS];
		bool		nulls[AUDIT_NCOLUMNS];

		heap_deform_tuple(rows->vals[i], rows->tupdesc, values, nulls);
		IncompleteFromBegun(values, nulls, &evs[i]);
		items[i].ev = &evs[i];
	}
	EndWork();
	MemoryContextSwitchTo(cxt);
	if (n == 0)
		return 0;
	if (!WriteTransaction(items, (int) n, false, false, &open, &setup_failed))
		return -1;
	return (int64) n;
}

/*
 * The chain's mark (every begun row up to it has its completion) and its
 * last id, in *head.
 */
static int64
ClosedThrough(int64 *head)
{
	int64		mark = 0;

	*head = 0;
	BeginWork();
	if (OidIsValid(BiocryptExtensionOid()))
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1] = {CStringGetTextDatum(BiocryptChainId())};
		bool		isnull;

		if (SPI_execute_with_args("SELECT coalesce((SELECT closed_through FROM biocrypt.audit_state "
								  "WHERE chain_id = $1), 0), coalesce((SELECT max(id) "
								  "FROM biocrypt.audit_log WHERE chain_id = $1), 0)",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			ereport(ERROR,
					(errmsg_internal("biocrypt: could not read biocrypt.audit_state"),
					 errhidestmt(true), errhidecontext(true)));
		mark = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
		*head = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 2, &isnull));
	}
	EndWork();
	return mark;
}

/*
 * Move the chain's mark to id (in a transaction of its own): all begun
 * rows up to it have their completion.  A mark that lags is only more
 * work for the next reconciliation.
 */
void
AuditWriteClosedThrough(int64 id)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		args[2];

	BeginWork();
	args[0] = CStringGetTextDatum(BiocryptChainId());
	args[1] = Int64GetDatum(id);
	if (SPI_execute_with_args("INSERT INTO biocrypt.audit_state (chain_id, closed_through) "
							  "VALUES ($1, $2) ON CONFLICT (chain_id) DO UPDATE "
							  "SET closed_through = excluded.closed_through, updated_at = now()",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not write biocrypt.audit_state"),
				 errhidestmt(true), errhidecontext(true)));
	EndWork();
	MemoryContextSwitchTo(cxt);
}

/*
 * Did the login role sender forward this origin?  The primary writes
 * " (role@address)" last (auditforward.c); the address has no parentheses.
 */
static bool
ForwardedBy(const char *origin, const char *sender)
{
	const char *last = NULL;
	size_t		len = strlen(sender);

	for (const char *p = strstr(origin, " ("); p != NULL; p = strstr(p + 1, " ("))
		last = p;
	return last != NULL && strncmp(last + 2, sender, len) == 0 && last[2 + len] == '@';
}

/*
 * AuditStandbyOpenAccess without the row: only its origin, by a plan kept
 * for the backend (the primary's forwarding session asks for each
 * completion a standby sends).
 */
static bool
StandbyOpenOrigin(int64 begun_id, const char *sender)
{
	static SPIPlanPtr plan = NULL;
	Datum		args[2] = {CStringGetTextDatum(BiocryptChainId()), Int64GetDatum(begun_id)};
	bool		isnull;
	Datum		origin;

	Oid			argtypes[2] = {TEXTOID, INT8OID};

	/* not read-only: a snapshot of its own, after the rows just committed */
	if (SPI_execute_plan(KeptPlan(&plan, "SELECT l.origin FROM biocrypt.audit_log l "
								  "WHERE l.chain_id = $1 AND l.id = $2 AND l.outcome = 'begun' "
								  "AND l.origin IS NOT NULL "
								  "AND NOT EXISTS (SELECT FROM biocrypt.audit_log c "
								  "WHERE c.chain_id = l.chain_id AND c.begun_id = l.id)",
								  2, argtypes),
						 args, NULL, false, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read the open begun audit rows"),
				 errhidestmt(true), errhidecontext(true)));
	if (SPI_processed != 1)
		return false;
	origin = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && ForwardedBy(TextDatumGetCString(origin), sender);
}

/*
 * Is begun row begun_id of this chain an access that login role sender
 * forwarded from a standby and that has no completion yet?  If so and ev
 * is given, ev gets its incomplete completion (a standby's backend died:
 * auditforward.c).  In SPI.
 */
bool
AuditStandbyOpenAccess(int64 begun_id, const char *sender, AuditEvent *ev)
{
	uint64		n;
	SPITupleTable *rows;
	Datum		values[AUDIT_NCOLUMNS];
	bool		nulls[AUDIT_NCOLUMNS];

	/* every completion a standby sends asks this: one kept plan for it */
	if (ev == NULL)
		return StandbyOpenOrigin(begun_id, sender);
	rows = OpenBegunRows("l.id = $2 AND l.origin IS NOT NULL", INT8OID,
						 Int64GetDatum(begun_id), &n);
	if (n != 1)
		return false;
	heap_deform_tuple(rows->vals[0], rows->tupdesc, values, nulls);
	if (nulls[AC_ORIGIN] || !ForwardedBy(TextDatumGetCString(values[AC_ORIGIN]), sender))
		return false;
	if (ev != NULL)
		IncompleteFromBegun(values, nulls, ev);
	return true;
}

/*
 * The accesses whose backends died before completing them: their begun
 * rows (ids) are closed as incomplete.  Returns the rows written, or -1 if
 * they could not be written.
 */
int64
AuditWriteIncomplete(const int64 *ids, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	return CloseBegunRows("l.id = ANY ($2)", INT8ARRAYOID,
						  PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64),
														  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)));
}

/*
 * Once per start of the server (the caller knows): every begun row after
 * the chain's mark without a completion belongs to a backend that died
 * with the server, so its access is written incomplete, and the mark
 * moves to the head.  Returns the rows written.
 */
int64
AuditWriteReconcile(void)
{
	int64		head;
	int64		mark = ClosedThrough(&head);
	int64		written = mark < head ?
		CloseBegunRows("l.id > $2", INT8OID, Int64GetDatum(mark)) : 0;

	if (written < 0)
		return 0;				/* the mark stays: the next start tries again */

	if (written > 0)
		ereport(LOG,
				(errmsg_plural("biocrypt: recorded " INT64_FORMAT " access interrupted by a server stop as incomplete",
							   "biocrypt: recorded " INT64_FORMAT " accesses interrupted by a server stop as incomplete",
							   written, written)));
	head = Max(head, AuditWriteHead());
	if (head > mark)
		AuditWriteClosedThrough(head);
	return written;
}
