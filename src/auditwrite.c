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
 * biocrypt.audit_begun lists the begun rows whose completion has not been
 * written yet: a begun row adds its id, the completion removes it, both
 * in the row's own transaction.  After a crash the worker turns what is
 * left into "incomplete" completions (AuditWriteReconcile).
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
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "biocrypt.h"
#include "audit.h"

/* The worker's view of its chain's head. */
static bool head_loaded = false;
static int64 head_id;
static uint8 head_hash[AUDIT_HASH_BYTES];

/* A kept plan for one of the worker's own statements, prepared once. */
static SPIPlanPtr
KeptPlan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		*plan = SPI_prepare(sql, nargs, argtypes);
		if (*plan == NULL)
			elog(ERROR, "biocrypt: could not prepare \"%s\"", sql);
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
	values[AC_CHAIN_ID] = CStringGetTextDatum(AuditChainId());
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
	nulls[AC_BEGUN_ID] = ev->begun_id == 0;
}

/* The chain's last row, all columns, or NULL for a new chain (in SPI). */
static HeapTuple
HeadRow(void)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(AuditChainId())};

	if (SPI_execute_plan(KeptPlan(&plan,
								  psprintf("SELECT %s FROM biocrypt.audit_log WHERE chain_id = $1 "
										   "ORDER BY id DESC LIMIT 1", AuditColumnList()),
								  1, argtypes),
						 args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: could not read the audit chain's head");
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
			 errhint("Start the server with the root key that created biocrypt.keys.")));
}

/*
 * Before the first row: the table is the one this code writes, the root
 * key matches the key ring, and the head of the chain is loaded.
 */
static void
LoadHead(void)
{
	HeapTuple	head;
	Datum		values[AUDIT_NCOLUMNS];
	bool		nulls[AUDIT_NCOLUMNS];
	bool		key_stored;

	AuditCheckTable();
	key_stored = KeysCheckRing();
	head = HeadRow();
	head_id = 0;
	memset(head_hash, 0, AUDIT_HASH_BYTES);
	if (head != NULL)
	{
		heap_deform_tuple(head, SPI_tuptable->tupdesc, values, nulls);
		/* a chain older than its stored key: its head must verify first */
		if (!key_stored && !AuditRowHashMatches(values, nulls))
			ChainKeyMismatch();
		head_id = DatumGetInt64(values[AC_ID]);
		if (nulls[AC_ROW_HASH] ||
			VARSIZE_ANY_EXHDR(DatumGetByteaPP(values[AC_ROW_HASH])) != AUDIT_HASH_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("biocrypt: the last audit row has no valid row_hash")));
		memcpy(head_hash, VARDATA_ANY(DatumGetByteaPP(values[AC_ROW_HASH])), AUDIT_HASH_BYTES);
	}
	if (!key_stored)
		KeysStoreChainKey();
	head_loaded = true;
}

static SPIPlanPtr
InsertPlan(void)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[AUDIT_NCOLUMNS];
	StringInfoData q;

	if (plan != NULL)
		return plan;
	initStringInfo(&q);
	appendStringInfo(&q, "INSERT INTO biocrypt.audit_log (%s) VALUES (", AuditColumnList());
	for (int i = 0; i < AUDIT_NCOLUMNS; i++)
		appendStringInfo(&q, "%s$%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoChar(&q, ')');
	for (int i = 0; i < AUDIT_NCOLUMNS; i++)
		types[i] = AuditColumnType(i);
	return KeptPlan(&plan, q.data, AUDIT_NCOLUMNS, types);
}

/* Add (begun) or remove (completed) begun rows of the open list. */
static void
TrackBegun(const AuditEvent *ev, int64 id)
{
	static SPIPlanPtr add_plan = NULL;
	static SPIPlanPtr remove_plan = NULL;
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		args[2] = {CStringGetTextDatum(AuditChainId()), Int64GetDatum(id)};

	if (ev->outcome == AUDIT_OUTCOME_BEGUN &&
		SPI_execute_plan(KeptPlan(&add_plan,
								  "INSERT INTO biocrypt.audit_begun (chain_id, id) VALUES ($1, $2)",
								  2, argtypes), args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "biocrypt: could not list a begun audit row");
	for (int i = 0; i < ev->nclose; i++)
	{
		args[1] = Int64GetDatum(ev->close_ids[i]);
		if (SPI_execute_plan(KeptPlan(&remove_plan,
									  "DELETE FROM biocrypt.audit_begun WHERE chain_id = $1 AND id = $2",
									  2, argtypes), args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "biocrypt: could not close a begun audit row");
	}
}

/*
 * Insert one row after the head; *hash gets its row_hash.  The caller
 * moves the head once the row is sure to stay.
 */
static void
InsertRow(const AuditWriteItem *item, const char *degraded_sqlstate, uint8 *hash)
{
	Datum		values[AUDIT_NCOLUMNS];
	bool		nulls[AUDIT_NCOLUMNS];
	char		cnulls[AUDIT_NCOLUMNS];

	BuildRow(item, head_id + 1, degraded_sqlstate, values, nulls);
	values[AC_PREV_HASH] = HashDatum(head_hash);
	nulls[AC_PREV_HASH] = false;
	nulls[AC_ROW_HASH] = false;
	AuditRowHash(values, nulls, hash);
	values[AC_ROW_HASH] = HashDatum(hash);
	for (int c = 0; c < AUDIT_NCOLUMNS; c++)
		cnulls[c] = nulls[c] ? 'n' : ' ';
	if (SPI_execute_plan(InsertPlan(), values, cnulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "biocrypt: could not insert an audit row");
	TrackBegun(item->ev, head_id + 1);
}

/* The row is in: it is the new head. */
static void
AdvanceHead(AuditWriteItem *item, const uint8 *hash)
{
	item->id = ++head_id;
	memcpy(head_hash, hash, AUDIT_HASH_BYTES);
}

/*
 * Try one row in a subtransaction; false, with the SQLSTATE, if it fails
 * (and nothing of it stays).
 */
static bool
TryRow(AuditWriteItem *item, const char *degraded_sqlstate, char *sqlstate)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	uint8		hash[AUDIT_HASH_BYTES];
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		InsertRow(item, degraded_sqlstate, hash);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		strlcpy(sqlstate, unpack_sql_state(edata->sqlerrcode), 6);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (ok)
		AdvanceHead(item, hash);
	return ok;
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
					item->ev->backend_pid, sqlstate)));
	if (TryRow(item, sqlstate, again))
	{
		item->degraded = true;
		strlcpy(item->sqlstate, sqlstate, sizeof(item->sqlstate));
		return;
	}
	strlcpy(item->sqlstate, again, sizeof(item->sqlstate));
	ereport(WARNING,
			(errmsg("biocrypt: the audit event of process %d could not be stored (SQLSTATE %s); its access fails",
					item->ev->backend_pid, again)));
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
		elog(ERROR, "biocrypt: could not update audit outcomes");
	if (SPI_execute_plan(KeptPlan(&open_plan,
								  "SELECT EXISTS (SELECT FROM biocrypt.audit_log "
								  "WHERE xact_outcome = 'in progress')", 0, NULL),
						 NULL, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: could not read audit outcomes");
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

/* Forget every row id of the batch: its transaction did not commit. */
static void
ForgetIds(AuditWriteItem *items, int n, const char *sqlstate)
{
	for (int i = 0; i < n; i++)
	{
		items[i].id = 0;
		items[i].degraded = false;
		strlcpy(items[i].sqlstate, sqlstate, sizeof(items[i].sqlstate));
	}
}

/*
 * One transaction: the rows (together, or each alone), then the outcomes
 * when asked.  false if it failed; *setup_failed when it failed before any
 * row (the table, the key), where writing rows alone would not help.
 */
static bool
WriteTransaction(AuditWriteItem *items, int n, bool resolve, bool alone,
				 bool *open, bool *setup_failed)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool setup_done = false;
	volatile bool ok = true;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "biocrypt: writing audit records");
		if (!head_loaded && !OidIsValid(get_extension_oid("biocrypt", true)))
		{
			if (n > 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("biocrypt: extension biocrypt is not installed in this database")));
			*open = false;
		}
		else
		{
			if (!head_loaded && (n > 0 || resolve))
				LoadHead();
			setup_done = true;
			for (int i = 0; i < n; i++)
			{
				uint8		hash[AUDIT_HASH_BYTES];

				if (alone)
					InsertIsolated(&items[i]);
				else
				{
					InsertRow(&items[i], NULL, hash);
					AdvanceHead(&items[i], hash);
				}
			}
			if (resolve)
				*open = ResolveOutcomes() || BatchHasXid(items, n);
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		pgstat_report_stat(false);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		pgstat_report_activity(STATE_IDLE, NULL);
		head_loaded = false;
		ForgetIds(items, n, unpack_sql_state(edata->sqlerrcode));
		FreeErrorData(edata);
		*setup_failed = !setup_done;
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
		n > 1 && !setup_failed)
	{
		/* one of the rows, perhaps: each alone, so that none fails another */
		(void) WriteTransaction(items, n, false, true, &open, &setup_failed);
	}
	return open;
}

/* ---------------------------------------------------------------------
 * After a crash: completions nobody sent
 * --------------------------------------------------------------------- */

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
 * The "incomplete" completion of a begun row: who, what and where as the
 * begun row says; no counts, since the accessing backend never sent them.
 */
static void
IncompleteFromBegun(const Datum *values, const bool *nulls, AuditEvent *ev)
{
	memset(ev, 0, sizeof(AuditEvent));
	ev->started_at = DatumGetTimestampTz(values[AC_STARTED_AT]);
	ev->ended_at = GetCurrentTimestamp();
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
	ev->outcome = AUDIT_OUTCOME_INCOMPLETE;
	ev->begun_id = DatumGetInt64(values[AC_ID]);
	ev->nclose = 1;
	ev->close_ids[0] = ev->begun_id;
	ev->matches_len = -1;
}

/* The begun rows still listed as open, oldest first (in SPI). */
static SPITupleTable *
OpenBegunRows(uint64 *n)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(AuditChainId())};
	char	   *sql = psprintf("SELECT %s FROM biocrypt.audit_log l "
							   "JOIN biocrypt.audit_begun b USING (chain_id, id) "
							   "WHERE l.chain_id = $1 ORDER BY l.id",
							   AuditColumnList());

	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: could not read the open begun audit rows");
	*n = SPI_processed;
	return SPI_tuptable;
}

/*
 * Once per start of the server (the caller knows): every begun row still
 * listed as open belongs to a backend that died with the server, so its
 * access is written "incomplete".  Returns the rows written.
 */
int64
AuditWriteReconcile(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64		written = 0;
	bool		open = false;
	bool		setup_failed = false;
	uint64		n;
	SPITupleTable *rows;
	AuditEvent *evs;
	AuditWriteItem *items;

	/* read them in a transaction of their own, then write them as a batch */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (!OidIsValid(get_extension_oid("biocrypt", true)))
	{
		CommitTransactionCommand();
		return 0;
	}
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	rows = OpenBegunRows(&n);
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
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	if (n > 0 && WriteTransaction(items, (int) n, false, false, &open, &setup_failed))
		written = (int64) n;
	if (written > 0)
		ereport(LOG,
				(errmsg("biocrypt: recorded " INT64_FORMAT " accesses interrupted by a server stop as incomplete",
						written)));
	return written;
}
