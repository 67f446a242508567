/*-------------------------------------------------------------------------
 *
 * auditwrite.c
 *		The audit worker's rows: building, chaining and inserting them.
 *
 * A batch of events is written in one transaction, each row chained to
 * the one before by its HMAC (auditchain.c).  Before the first row after
 * a start or a failure, the worker checks that the root key matches the
 * key ring: a server started with another root key writes nothing, since
 * its rows could never be verified once the right key is back.
 *
 * One event must not fail another.  If the batch's transaction fails for
 * a reason of its rows (not of the table or the key), it is written again
 * with each row in a subtransaction of its own; a row that still fails is
 * written without its matches, as an "error" row that says why, and only
 * if that fails too does its event alone fail.
 *
 * Begun rows whose completion never comes are closed by auditclose.c,
 * through WriteTransaction here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/array.h"
#include "utils/typcache.h"
#include "utils/lsyscache.h"
#include "funcapi.h"
#include "access/htup_details.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "core/core.h"
#include "crypto/keys.h"
#include "template/template.h"
#include "audit/audit_internal.h"

/* The worker's view of its chain's head. */
static bool head_loaded = false;
static int64 head_id;
static uint8 head_hash[AUDIT_HASH_BYTES];

/* biocrypt.audit_log's row type, and where each column sits in it */
static Oid	log_rowtype = InvalidOid;
static AttrNumber log_attnum[AUDIT_NCOLUMNS];

static void AdvanceHead(AuditWriteItem *item, const uint8 *hash);

/* A kept plan for one of the audit layer's own statements, prepared once. */
SPIPlanPtr
KeptPlan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		*plan = SPI_prepare(sql, nargs, argtypes);
		if (*plan == NULL)
			ereport(ERROR,
					(errmsg_internal("biocrypt: could not prepare \"%s\"", sql),
					 errhidestmt(true), errhidecontext(true)));
		SPI_keepplan(*plan);
	}
	return *plan;
}

static Datum
TextOrNull(const char *s, bool *isnull)
{
	*isnull = s[0] == '\0';
	return *isnull ? (Datum) 0 : CStringGetTextDatum(s);
}

static Datum
NameOrNull(const NameData *n, bool *isnull)
{
	*isnull = NameStr(*n)[0] == '\0';
	return *isnull ? (Datum) 0 : NameGetDatum(n);
}

static Datum
HashDatum(const uint8 *hash)
{
	bytea	   *b = palloc(VARHDRSZ + AUDIT_HASH_BYTES);

	SET_VARSIZE(b, VARHDRSZ + AUDIT_HASH_BYTES);
	memcpy(VARDATA(b), hash, AUDIT_HASH_BYTES);
	return PointerGetDatum(b);
}

/*
 * The matches column: the event's JSON text, or for a degraded row (or a
 * list that went away with its backend) a note of what happened instead.
 */
static Datum
MatchesDatum(const AuditWriteItem *item, const char *degraded_sqlstate, bool *isnull)
{
	StringInfoData buf;

	if (degraded_sqlstate == NULL && !item->matches_lost)
	{
		*isnull = item->matches == NULL;
		return *isnull ? (Datum) 0 :
			DirectFunctionCall1(jsonb_in,
								CStringGetDatum(pnstrdup(item->matches, item->matches_len)));
	}
	initStringInfo(&buf);
	appendStringInfoString(&buf, "[{\"audit_error\": ");
	AuditJsonString(&buf, degraded_sqlstate != NULL ?
					"the row could not be stored as sent" :
					"the match list went away with its backend");
	if (degraded_sqlstate != NULL)
	{
		appendStringInfoString(&buf, ", \"sqlstate\": ");
		AuditJsonString(&buf, degraded_sqlstate);
		appendStringInfoString(&buf, ", \"outcome\": ");
		AuditJsonString(&buf, AuditOutcomeName(item->ev->outcome));
	}
	appendStringInfoString(&buf, "}]");
	*isnull = false;
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * Fill values/nulls from an event, hashes excluded.  A degraded row
 * (degraded_sqlstate set) is an error row without the event's matches.
 */
static void
BuildRow(const AuditWriteItem *item, int64 id, const char *degraded_sqlstate,
		 Datum *values, bool *nulls)
{
	const AuditEvent *ev = item->ev;
	bool		has_xid = FullTransactionIdIsValid(ev->xid);
	AuditOutcome outcome = degraded_sqlstate ? AUDIT_OUTCOME_ERROR : ev->outcome;
	const char *sqlstate = ev->sqlstate[0] || !degraded_sqlstate ? ev->sqlstate : degraded_sqlstate;

	memset(nulls, false, sizeof(bool) * AUDIT_NCOLUMNS);
	values[AC_ID] = Int64GetDatum(id);
	values[AC_CHAIN_ID] = CStringGetTextDatum(BiocryptChainId());
	values[AC_STARTED_AT] = TimestampTzGetDatum(ev->started_at);
	values[AC_ENDED_AT] = TimestampTzGetDatum(ev->ended_at);
	values[AC_SESSION_ROLE] = NameOrNull(&ev->session_role, &nulls[AC_SESSION_ROLE]);
	values[AC_EFFECTIVE_ROLE] = NameOrNull(&ev->effective_role, &nulls[AC_EFFECTIVE_ROLE]);
	nulls[AC_CLIENT_ADDR] = ev->client_addr[0] == '\0';
	values[AC_CLIENT_ADDR] = nulls[AC_CLIENT_ADDR] ? (Datum) 0 :
		DirectFunctionCall1(inet_in, CStringGetDatum(ev->client_addr));
	values[AC_APPLICATION_NAME] = TextOrNull(ev->application_name, &nulls[AC_APPLICATION_NAME]);
	values[AC_BACKEND_PID] = Int32GetDatum(ev->backend_pid);
	values[AC_XID] = FullTransactionIdGetDatum(ev->xid);
	nulls[AC_XID] = !has_xid;
	values[AC_XACT_OUTCOME] = TextOrNull(has_xid ? "in progress" : "", &nulls[AC_XACT_OUTCOME]);
	values[AC_PURPOSE] = TextOrNull(ev->purpose, &nulls[AC_PURPOSE]);
	values[AC_OPERATION] = CStringGetTextDatum(AuditOperationName(ev->operation));
	values[AC_RELATION] = ObjectIdGetDatum(ev->relation);
	nulls[AC_RELATION] = !OidIsValid(ev->relation);
	values[AC_COLUMN_NAME] = NameOrNull(&ev->column_name, &nulls[AC_COLUMN_NAME]);
	values[AC_TEMPLATES_COMPARED] = Int64GetDatum(ev->templates_compared);
	values[AC_EXPIRED_SKIPPED] = Int64GetDatum(ev->expired_skipped);
	values[AC_MATCHES] = MatchesDatum(item, degraded_sqlstate, &nulls[AC_MATCHES]);
	values[AC_METRIC] = TextOrNull(ev->metric, &nulls[AC_METRIC]);
	values[AC_THRESHOLD] = Float8GetDatum(ev->threshold);
	nulls[AC_THRESHOLD] = !ev->has_threshold;
	values[AC_K] = Int32GetDatum(ev->k);
	nulls[AC_K] = ev->k == 0;
	nulls[AC_PROBE_HMAC] = !ev->has_probe;
	values[AC_PROBE_HMAC] = nulls[AC_PROBE_HMAC] ? (Datum) 0 : HashDatum(ev->probe_hmac);
	values[AC_QUERY_ID] = Int64GetDatum(ev->query_id);
	nulls[AC_QUERY_ID] = ev->query_id == 0;
	values[AC_OUTCOME] = CStringGetTextDatum(AuditOutcomeName(outcome));
	values[AC_SQLSTATE] = TextOrNull(sqlstate, &nulls[AC_SQLSTATE]);
	values[AC_BEGUN_ID] = Int64GetDatum(ev->begun_id);
	values[AC_PURPOSE_SKIPPED] = Int64GetDatum(ev->purpose_skipped);
	values[AC_SHAPE_SKIPPED] = Int64GetDatum(ev->shape_skipped);
	values[AC_ORIGIN] = TextOrNull(ev->origin, &nulls[AC_ORIGIN]);
	values[AC_REQUEST_ID] = TextOrNull(ev->request_id, &nulls[AC_REQUEST_ID]);
	/* a column the table lacks yet (before the update) is neither stored nor hashed */
	for (int c = AC_FIRST_OPTIONAL; c < AUDIT_NCOLUMNS; c++)
		nulls[c] |= log_attnum[c] == InvalidAttrNumber;
	nulls[AC_BEGUN_ID] = ev->begun_id == 0;
}

/* The chain's last row, all columns, or NULL for a new chain (in SPI). */
static HeapTuple
HeadRow(void)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(BiocryptChainId())};

	/* not kept: an update of the extension may change the column list */
	if (SPI_execute_with_args(psprintf("SELECT %s FROM biocrypt.audit_log WHERE chain_id = $1 "
									   "ORDER BY id DESC LIMIT 1", AuditColumnList()),
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read the audit chain's head"),
				 errhidestmt(true), errhidecontext(true)));
	return SPI_processed == 1 ? SPI_tuptable->vals[0] : NULL;
}

/*
 * The one error for a chain that this server's root key cannot continue:
 * rows MAC'd under another key would never verify.
 */
static void
ChainKeyMismatch(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("biocrypt: the root key does not match the key ring"),
			 errdetail("The last row of the audit chain was not written under this server's root key."),
			 errhint("Start the server with the root key that created biocrypt.keys."),
			 errhidestmt(true), errhidecontext(true)));
}

/*
 * Before the first row: the table is the one this code writes, the root
 * key matches the key ring, and the head of the chain is loaded.
 */
static void
LoadHead(void)
{
	HeapTuple	head;
	bool		key_stored;

	log_rowtype = AuditCheckTable(log_attnum);
	key_stored = KeysCheckRing();
	head = HeadRow();
	head_id = 0;
	memset(head_hash, 0, AUDIT_HASH_BYTES);
	if (head != NULL)
	{
		Datum		values[AUDIT_NCOLUMNS];
		bool		nulls[AUDIT_NCOLUMNS];

		heap_deform_tuple(head, SPI_tuptable->tupdesc, values, nulls);
		/* a chain older than its stored key: its head must verify first */
		if (!key_stored && !AuditRowHashMatches(values, nulls))
			ChainKeyMismatch();
		head_id = DatumGetInt64(values[AC_ID]);
		if (nulls[AC_ROW_HASH] ||
			VARSIZE_ANY_EXHDR(DatumGetByteaPP(values[AC_ROW_HASH])) != AUDIT_HASH_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("biocrypt: the last audit row has no valid row_hash"),
					 errhidestmt(true), errhidecontext(true)));
		memcpy(head_hash, VARDATA_ANY(DatumGetByteaPP(values[AC_ROW_HASH])), AUDIT_HASH_BYTES);
	}
	if (!key_stored)
		KeysStoreChainKey();
	head_loaded = true;
}

/*
 * Build the row of item after the head, hashes included; *hash gets its
 * row_hash.  The caller moves the head once the row is sure to stay.
 */
static void
ChainedRow(const AuditWriteItem *item, int64 after_id, const uint8 *after_hash,
		   const char *degraded_sqlstate, Datum *values, bool *nulls, uint8 *hash)
{
	BuildRow(item, after_id + 1, degraded_sqlstate, values, nulls);
	values[AC_PREV_HASH] = HashDatum(after_hash);
	nulls[AC_PREV_HASH] = false;
	nulls[AC_ROW_HASH] = false;
	AuditRowHash(values, nulls, hash);
	values[AC_ROW_HASH] = HashDatum(hash);
}

/* A row as a value of biocrypt.audit_log's row type. */
static Datum
RowDatum(TupleDesc desc, const Datum *values, const bool *nulls)
{
	Datum	   *tvalues = palloc(sizeof(Datum) * desc->natts);
	bool	   *tnulls = palloc(sizeof(bool) * desc->natts);

	for (int a = 0; a < desc->natts; a++)
		tnulls[a] = true;
	for (int c = 0; c < AUDIT_NCOLUMNS; c++)
	{
		if (log_attnum[c] == InvalidAttrNumber)
			continue;
		tvalues[log_attnum[c] - 1] = values[c];
		tnulls[log_attnum[c] - 1] = nulls[c];
	}
	return HeapTupleGetDatum(heap_form_tuple(desc, tvalues, tnulls));
}

/*
 * Insert items' rows, chained after the head, with one statement: the
 * table's constraints, trigger and indexes are set up once per batch, not
 * once per row.  Each item gets its id; the head moves past them all.
 */
static void
InsertRows(AuditWriteItem *items, int n)
{
	static SPIPlanPtr plan = NULL;
	TupleDesc	desc = lookup_rowtype_tupdesc(log_rowtype, -1);
	Datum	   *rows = palloc(sizeof(Datum) * n);
	uint8	   *hashes = palloc(AUDIT_HASH_BYTES * n);
	Oid			arraytype = get_array_type(log_rowtype);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum		arg;

	for (int i = 0; i < n; i++)
	{
		Datum		values[AUDIT_NCOLUMNS];
		bool		nulls[AUDIT_NCOLUMNS];

		ChainedRow(&items[i], head_id + i, i == 0 ? head_hash : hashes + AUDIT_HASH_BYTES * (i - 1),
				   NULL, values, nulls, hashes + AUDIT_HASH_BYTES * i);
		rows[i] = RowDatum(desc, values, nulls);
	}
	ReleaseTupleDesc(desc);
	get_typlenbyvalalign(log_rowtype, &typlen, &typbyval, &typalign);
	arg = PointerGetDatum(construct_array(rows, n, log_rowtype, typlen, typbyval, typalign));
	if (SPI_execute_plan(KeptPlan(&plan, "INSERT INTO biocrypt.audit_log "
								  "SELECT * FROM pg_catalog.unnest($1)", 1, &arraytype),
						 &arg, NULL, false, 0) != SPI_OK_INSERT || SPI_processed != (uint64) n)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not insert audit rows"),
				 errhidestmt(true), errhidecontext(true)));
	for (int i = 0; i < n; i++)
		AdvanceHead(&items[i], hashes + AUDIT_HASH_BYTES * i);
}

/*
 * The rows of items, unchained, as one value of biocrypt.audit_log[] in
 * its binary form: what a standby sends its primary (auditforward.c).  In
 * a transaction; the primary checks each row's types as it reads them.
 */
bytea *
AuditRowsSend(const AuditWriteItem *items, int n)
{
	TupleDesc	desc;
	Datum	   *rows = palloc(sizeof(Datum) * Max(n, 1));
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Oid			sendfn;
	bool		varlena;
	ArrayType  *arr;

	log_rowtype = AuditCheckTable(log_attnum);
	desc = lookup_rowtype_tupdesc(log_rowtype, -1);
	for (int i = 0; i < n; i++)
	{
		Datum		values[AUDIT_NCOLUMNS];
		bool		nulls[AUDIT_NCOLUMNS];

		BuildRow(&items[i], 0, NULL, values, nulls);
		nulls[AC_ID] = nulls[AC_PREV_HASH] = nulls[AC_ROW_HASH] = true;
		rows[i] = RowDatum(desc, values, nulls);
	}
	ReleaseTupleDesc(desc);
	get_typlenbyvalalign(log_rowtype, &typlen, &typbyval, &typalign);
	arr = construct_array(rows, n, log_rowtype, typlen, typbyval, typalign);
	getTypeBinaryOutputInfo(get_array_type(log_rowtype), &sendfn, &varlena);
	return OidSendFunctionCall(sendfn, PointerGetDatum(arr));
}

/* Insert one row after the head (a batch written row by row). */
static void
InsertRow(const AuditWriteItem *item, const char *degraded_sqlstate, uint8 *hash)
{
	static SPIPlanPtr plan = NULL;
	TupleDesc	desc = lookup_rowtype_tupdesc(log_rowtype, -1);
	Datum		values[AUDIT_NCOLUMNS];
	bool		nulls[AUDIT_NCOLUMNS];
	Datum		arg;

	ChainedRow(item, head_id, head_hash, degraded_sqlstate, values, nulls, hash);
	arg = RowDatum(desc, values, nulls);
	ReleaseTupleDesc(desc);
	if (SPI_execute_plan(KeptPlan(&plan, "INSERT INTO biocrypt.audit_log SELECT ($1).*",
								  1, &log_rowtype),
						 &arg, NULL, false, 0) != SPI_OK_INSERT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not insert an audit row"),
				 errhidestmt(true), errhidecontext(true)));
}

/* The row is in: it is the new head. */
static void
AdvanceHead(AuditWriteItem *item, const uint8 *hash)
{
	item->id = ++head_id;
	memcpy(head_hash, hash, AUDIT_HASH_BYTES);
}

/* One row to try, for BiocryptSubxact. */
typedef struct RowTry
{
	const AuditWriteItem *item;
	const char *degraded_sqlstate;
	uint8		hash[AUDIT_HASH_BYTES];
} RowTry;

static void
RunRowTry(void *arg)
{
	RowTry	   *t = arg;

	InsertRow(t->item, t->degraded_sqlstate, t->hash);
}

/*
 * Try one row in a subtransaction; false, with the SQLSTATE, if it fails
 * (and nothing of it stays).
 */
static bool
TryRow(AuditWriteItem *item, const char *degraded_sqlstate, char *sqlstate)
{
	RowTry		t = {item, degraded_sqlstate};
	ErrorData  *edata = BiocryptSubxact(RunRowTry, &t);

	if (edata != NULL)
	{
		strlcpy(sqlstate, unpack_sql_state(edata->sqlerrcode), 6);
		FreeErrorData(edata);
		return false;
	}
	AdvanceHead(item, t.hash);
	return true;
}

/*
 * A row alone: as sent, else degraded.  The server log says which event
 * failed and how, never what it held (a value could be in the message).
 */
static void
InsertIsolated(AuditWriteItem *item)
{
	char		sqlstate[6];
	char		again[6];

	if (TryRow(item, NULL, sqlstate))
		return;
	ereport(WARNING,
			(errmsg("biocrypt: the audit event of process %d could not be stored as sent (SQLSTATE %s)",
					item->ev->backend_pid, sqlstate),
			 errhidestmt(true), errhidecontext(true)));
	if (TryRow(item, sqlstate, again))
	{
		item->degraded = true;
		strlcpy(item->sqlstate, sqlstate, sizeof(item->sqlstate));
		return;
	}
	strlcpy(item->sqlstate, again, sizeof(item->sqlstate));
	ereport(WARNING,
			(errmsg("biocrypt: the audit event of process %d could not be stored (SQLSTATE %s); its access fails",
					item->ev->backend_pid, again),
			 errhidestmt(true), errhidecontext(true)));
}

/*
 * Fill in the outcome of transactions that have ended since; true while
 * some are still running.
 */
static bool
ResolveOutcomes(void)
{
	static SPIPlanPtr update_plan = NULL;
	static SPIPlanPtr open_plan = NULL;
	bool		isnull;

	if (SPI_execute_plan(KeptPlan(&update_plan,
								  "UPDATE biocrypt.audit_log SET xact_outcome = pg_catalog.pg_xact_status(xid) "
								  "WHERE xact_outcome = 'in progress' "
								  "AND pg_catalog.pg_xact_status(xid) <> 'in progress'", 0, NULL),
						 NULL, NULL, false, 0) != SPI_OK_UPDATE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not update audit outcomes"),
				 errhidestmt(true), errhidecontext(true)));
	if (SPI_execute_plan(KeptPlan(&open_plan,
								  "SELECT EXISTS (SELECT FROM biocrypt.audit_log "
								  "WHERE xact_outcome = 'in progress')", 0, NULL),
						 NULL, NULL, false, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read audit outcomes"),
				 errhidestmt(true), errhidecontext(true)));
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  1, &isnull));
}

/* Did any event of the batch come from a transaction with an xid? */
static bool
BatchHasXid(const AuditWriteItem *items, int n)
{
	for (int i = 0; i < n; i++)
		if (FullTransactionIdIsValid(items[i].ev->xid))
			return true;
	return false;
}

/*
 * Forget every row id of the batch: its transaction did not commit (or, on
 * a standby, the primary did not record it).
 */
void
AuditFailItems(AuditWriteItem *items, int n, const char *sqlstate)
{
	for (int i = 0; i < n; i++)
	{
		items[i].id = 0;
		items[i].degraded = false;
		strlcpy(items[i].sqlstate, sqlstate, sizeof(items[i].sqlstate));
	}
}

/* Start a transaction of the worker's own, with SPI and a snapshot. */
void
BeginWork(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

/*
 * In the PG_CATCH of a transaction BeginWork started: the error, copied
 * into cxt, and the transaction aborted.
 */
ErrorData *
AbortWork(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(cxt);
	return edata;
}

/* Commit what BeginWork started. */
void
EndWork(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Log why a write failed.  The DETAIL of a data or constraint error (SQLSTATE
 * classes 22 and 23) is left out, and so is any CONTEXT: they can quote the
 * failing row ("Failing row contains ..."), and the server log holds no
 * audit values.
 */
static void
ReportWriteFailure(const ErrorData *edata, int n)
{
	const char *state = unpack_sql_state(edata->sqlerrcode);
	bool		row_data = strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0;

	ereport(LOG,
			(errcode(edata->sqlerrcode),
			 errmsg_internal("%s", edata->message),
			 edata->detail && !row_data ? errdetail_internal("%s", edata->detail) : 0,
			 edata->hint ? errhint("%s", edata->hint) : 0,
			 errcontext("biocrypt audit worker writing %d %s", n, n == 1 ? "event" : "events")));
}

/*
 * One transaction: the rows (together, or each alone), then the outcomes
 * when asked.  false if it failed; *setup_failed when it failed before any
 * row (the table, the key), where writing rows alone would not help.
 */
bool
WriteTransaction(AuditWriteItem *items, int n, bool resolve, bool alone,
				 bool *open, bool *setup_failed)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool setup_done = false;
	volatile bool ok = true;

	PG_TRY();
	{
		BeginWork();
		pgstat_report_activity(STATE_RUNNING, "biocrypt: writing audit records");
		if (!head_loaded && !OidIsValid(BiocryptExtensionOid()))
		{
			if (n > 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("biocrypt: extension biocrypt is not installed in this database"),
						 errhidestmt(true), errhidecontext(true)));
			*open = false;
		}
		else
		{
			if (!head_loaded && (n > 0 || resolve))
				LoadHead();
			else if (n > 0)
			{
				/* ALTER EXTENSION ... UPDATE may have added columns since */
				log_rowtype = AuditCheckTable(log_attnum);
			}
			setup_done = true;
			if (alone)
			{
				for (int i = 0; i < n; i++)
					InsertIsolated(&items[i]);
			}
			else if (n > 0)
				InsertRows(items, n);
			if (resolve)
				*open = ResolveOutcomes() || BatchHasXid(items, n);
		}
		EndWork();
		pgstat_report_activity(STATE_IDLE, NULL);
		pgstat_report_stat(false);
	}
	PG_CATCH();
	{
		ErrorData  *edata = AbortWork(cxt);

		pgstat_report_activity(STATE_IDLE, NULL);
		ReportWriteFailure(edata, n);
		head_loaded = false;
		AuditFailItems(items, n, unpack_sql_state(edata->sqlerrcode));
		*setup_failed = !setup_done;
		/* nothing can be written now: no retry until the next event */
		if (*setup_failed)
			*open = false;
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Write a batch, and fill in outcomes when asked.  Each item ends with its
 * row id, or 0 and the SQLSTATE of its failure.  Returns whether
 * transaction outcomes remain to be filled in.
 */
bool
AuditWriteBatch(AuditWriteItem *items, int n, bool resolve)
{
	bool		open = resolve || BatchHasXid(items, n);
	bool		setup_failed = false;

	if (!WriteTransaction(items, n, resolve, false, &open, &setup_failed) &&
		n > 0 && !setup_failed)
	{
		/*
		 * one of the rows, perhaps: each alone, so that none fails another,
		 * and a row that fails alone is written degraded (also a batch of
		 * one: a completion nobody waits for would otherwise be lost)
		 */
		(void) WriteTransaction(items, n, false, true, &open, &setup_failed);
	}
	return open;
}

/* ---------------------------------------------------------------------
 * After a crash: completions nobody sent
 * --------------------------------------------------------------------- */

/* The id of the chain's last row as this worker wrote or read it. */
int64
AuditWriteHead(void)
{
	return head_loaded ? head_id : 0;
}
