/*-------------------------------------------------------------------------
 *
 * auditworker.c
 *		The audit launcher and the per-database audit workers.
 *
 * The launcher is a static background worker registered at preload.  It
 * holds no database connection; backends that find no worker for their
 * database mark it requested and set the launcher's latch, and the launcher
 * registers a dynamic worker for that database.  So CREATE EXTENSION in any
 * database, even one created later, needs no configuration.
 *
 * A worker owns every write to its database's biocrypt.audit_log.  It takes
 * all queued events of its database at once, inserts them in one
 * transaction with synchronous_commit on, and only then reports them
 * committed: one WAL flush for every backend that queued meanwhile (group
 * commit).  If the transaction fails, the events are reported failed and
 * their accesses raise ERROR.  It also fills in each row's xact_outcome once
 * the accessing transaction has ended.  A worker that dies is not restarted
 * by the postmaster (its database may be gone: DROP DATABASE ... FORCE);
 * the next access asks the launcher for a new one, which takes over what
 * was queued.  One idle for a minute exits so that it does not hold its
 * database open (DROP DATABASE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "biocrypt.h"
#include "audit.h"

#define WORKER_NAP_MS			1000
#define WORKER_IDLE_EXIT_MS		60000
#define LAUNCH_RETRY_MS			10000
#define RESOLVE_EVERY_MS		200

static bool am_audit_worker = false;

/* The worker's view of its chain's head. */
static bool head_loaded = false;
static int64 head_id;
static uint8 head_hash[AUDIT_HASH_BYTES];
static SPIPlanPtr insert_plan = NULL;

/* This server's chain: its system identifier, as text. */
static const char *
ChainId(void)
{
	static char chain[32];

	if (chain[0] == '\0')
		snprintf(chain, sizeof(chain), UINT64_FORMAT, GetSystemIdentifier());
	return chain;
}

bool
AmAuditWorker(void)
{
	return am_audit_worker;
}

/* ---------------------------------------------------------------------
 * Launcher
 * --------------------------------------------------------------------- */

void
AuditRegisterLauncher(void)
{
	BackgroundWorker bgw;

	BiocryptWorkerInit(&bgw, "biocrypt audit launcher", "biocrypt_audit_launcher_main",
					   BGWORKER_SHMEM_ACCESS, 5);
	RegisterBackgroundWorker(&bgw);
}

/* Register the dynamic worker of database dbid. */
static bool
StartWorker(Oid dbid)
{
	BackgroundWorker bgw;

	/* never restarted by the postmaster: the next access asks for a new one */
	BiocryptDatabaseWorkerInit(&bgw, "biocrypt audit worker", "biocrypt_audit_worker_main",
							   dbid);
	return RegisterDynamicBackgroundWorker(&bgw, NULL);
}

/* Start a worker for every database that asked (again, if one is slow). */
static void
LaunchRequested(void)
{
	Oid			todo[AUDIT_MAX_DATABASES];
	int			n = 0;
	TimestampTz at = GetCurrentTimestamp();

	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < AUDIT_MAX_DATABASES; i++)
	{
		AuditDatabase *db = &audit_shared->dbs[i];

		if (db->dbid == InvalidOid)
			continue;
		if (db->state == WORKER_REQUESTED ||
			(db->state == WORKER_STARTING &&
			 TimestampDifferenceExceeds(db->state_since, at, LAUNCH_RETRY_MS)))
		{
			db->state = WORKER_STARTING;
			db->state_since = at;
			todo[n++] = db->dbid;
		}
	}
	LWLockRelease(audit_shared->lock);
	for (int i = 0; i < n; i++)
		if (!StartWorker(todo[i]))
			ereport(WARNING,
					(errmsg("biocrypt: could not start the audit worker for database %u",
							todo[i]),
					 errhint("Raise max_worker_processes; accesses in that database fail until a worker runs.")));
}

static void
LauncherExit(int code, Datum arg)
{
	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	audit_shared->launcher_latch = NULL;
	LWLockRelease(audit_shared->lock);
}

void
biocrypt_audit_launcher_main(Datum arg)
{
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	audit_shared->launcher_latch = MyLatch;
	LWLockRelease(audit_shared->lock);
	on_shmem_exit(LauncherExit, (Datum) 0);
	while (!ShutdownRequestPending)
	{
		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		LaunchRequested();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 WORKER_NAP_MS, PG_WAIT_EXTENSION);
	}
	/* exit non-zero: the postmaster restarts a launcher that was stopped */
	proc_exit(1);
}

/* ---------------------------------------------------------------------
 * Worker: shared state
 * --------------------------------------------------------------------- */

/* Become the database's worker; false if another one already is. */
static bool
ClaimDatabase(Oid dbid)
{
	AuditDatabase *db;
	bool		ok;

	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	db = AuditFindDatabase(dbid, true);
	ok = db->state != WORKER_RUNNING;
	if (ok)
	{
		db->state = WORKER_RUNNING;
		db->state_since = GetCurrentTimestamp();
		db->pid = MyProcPid;
		db->latch = MyLatch;
	}
	LWLockRelease(audit_shared->lock);
	ConditionVariableBroadcast(&audit_shared->cv);
	return ok;
}

/*
 * Give the database up.  Events taken but not committed go back to the
 * queue for the next worker.  With only_if_idle, nothing happens (false)
 * while events wait.
 */
static bool
ReleaseDatabase(bool only_if_idle)
{
	AuditDatabase *db;
	bool		busy = false;

	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < AUDIT_QUEUE_SLOTS; i++)
	{
		AuditSlot  *slot = &audit_shared->slots[i];

		if (slot->dbid != MyDatabaseId)
			continue;
		if (slot->state == SLOT_QUEUED)
			busy = true;
		else if (slot->state == SLOT_WRITING && !only_if_idle)
			slot->state = SLOT_QUEUED;
	}
	db = AuditFindDatabase(MyDatabaseId, false);
	if (db != NULL && db->pid == MyProcPid && !(only_if_idle && busy))
	{
		db->state = busy ? WORKER_REQUESTED : WORKER_NONE;
		db->pid = 0;
		db->latch = NULL;
	}
	LWLockRelease(audit_shared->lock);
	ConditionVariableBroadcast(&audit_shared->cv);
	if (busy && audit_shared->launcher_latch != NULL)
		SetLatch(audit_shared->launcher_latch);
	return !(only_if_idle && busy);
}

static void
WorkerExit(int code, Datum arg)
{
	(void) ReleaseDatabase(false);
}

typedef struct Taken
{
	AuditSlot  *slot;
	uint64		ticket;
	dsm_segment *seg;			/* matches, when not inline */
} Taken;

/* Take every queued event of this database. */
static int
TakeBatch(Taken *batch)
{
	int			n = 0;

	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < AUDIT_QUEUE_SLOTS; i++)
	{
		AuditSlot  *slot = &audit_shared->slots[i];

		if (slot->state != SLOT_QUEUED || slot->dbid != MyDatabaseId)
			continue;
		/* attach while the backend still holds the segment */
		batch[n].seg = slot->ev.matches_dsm != DSM_HANDLE_INVALID ?
			dsm_attach(slot->ev.matches_dsm) : NULL;
		if (slot->ev.matches_dsm != DSM_HANDLE_INVALID && batch[n].seg == NULL)
		{
			/* its backend is gone: fail this event alone */
			slot->state = slot->abandoned ? SLOT_FREE : SLOT_FAILED;
			continue;
		}
		slot->state = SLOT_WRITING;
		batch[n].slot = slot;
		batch[n].ticket = slot->ticket;
		n++;
	}
	LWLockRelease(audit_shared->lock);
	return n;
}

/* Report the batch's fate to the waiting backends. */
static void
FinishBatch(Taken *batch, int n, const int64 *ids)
{
	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
	{
		AuditSlot  *slot = batch[i].slot;

		Assert(slot->ticket == batch[i].ticket);
		if (slot->abandoned)
			slot->state = SLOT_FREE;
		else
		{
			slot->event_id = ids ? ids[i] : 0;
			slot->state = ids ? SLOT_DONE : SLOT_FAILED;
		}
		if (batch[i].seg != NULL)
			dsm_detach(batch[i].seg);
	}
	LWLockRelease(audit_shared->lock);
	ConditionVariableBroadcast(&audit_shared->cv);
}

/* ---------------------------------------------------------------------
 * Worker: writing rows
 * --------------------------------------------------------------------- */

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

/* The matches as jsonb, from the slot or its DSM segment. */
static Datum
MatchesDatum(const Taken *t, bool *isnull)
{
	const AuditEvent *ev = &t->slot->ev;
	const char *src;
	char	   *json;

	*isnull = ev->matches_len < 0;
	if (*isnull)
		return (Datum) 0;
	if (ev->matches_dsm != DSM_HANDLE_INVALID && t->seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: an audit event's matches are no longer available")));
	src = t->seg != NULL ? dsm_segment_address(t->seg) : ev->matches;
	json = pnstrdup(src, ev->matches_len);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/* Fill values/nulls (audit column order) from an event, without hashes. */
static void
BuildRow(const Taken *t, int64 id, Datum *values, bool *nulls)
{
	const AuditEvent *ev = &t->slot->ev;
	bool		has_xid = FullTransactionIdIsValid(ev->xid);

	memset(nulls, false, sizeof(bool) * AUDIT_NCOLUMNS);
	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(ChainId());
	values[2] = TimestampTzGetDatum(ev->started_at);
	values[3] = TimestampTzGetDatum(ev->ended_at);
	values[4] = NameOrNull(&ev->session_role, &nulls[4]);
	values[5] = NameOrNull(&ev->effective_role, &nulls[5]);
	nulls[6] = ev->client_addr[0] == '\0';
	values[6] = nulls[6] ? (Datum) 0 :
		DirectFunctionCall1(inet_in, CStringGetDatum(ev->client_addr));
	values[7] = TextOrNull(ev->application_name, &nulls[7]);
	values[8] = Int32GetDatum(ev->backend_pid);
	values[9] = FullTransactionIdGetDatum(ev->xid);
	nulls[9] = !has_xid;
	values[10] = TextOrNull(has_xid ? "in progress" : "", &nulls[10]);
	values[11] = TextOrNull(ev->purpose, &nulls[11]);
	values[12] = CStringGetTextDatum(AuditOperationName(ev->operation));
	values[13] = ObjectIdGetDatum(ev->relation);
	nulls[13] = !OidIsValid(ev->relation);
	values[14] = NameOrNull(&ev->column_name, &nulls[14]);
	values[15] = Int64GetDatum(ev->templates_compared);
	values[16] = Int64GetDatum(ev->expired_skipped);
	values[17] = MatchesDatum(t, &nulls[17]);
	values[18] = TextOrNull(ev->metric, &nulls[18]);
	values[19] = Float8GetDatum(ev->threshold);
	nulls[19] = !ev->has_threshold;
	values[20] = Int32GetDatum(ev->k);
	nulls[20] = ev->k == 0;
	nulls[21] = !ev->has_probe;
	values[21] = nulls[21] ? (Datum) 0 : HashDatum(ev->probe_hmac);
	values[22] = Int64GetDatum(ev->query_id);
	nulls[22] = ev->query_id == 0;
	values[23] = CStringGetTextDatum(AuditOutcomeName(ev->outcome));
	values[24] = TextOrNull(ev->sqlstate, &nulls[24]);
}

/* Read the chain's last id and hash (0 and zeros for a new chain). */
static void
LoadHead(void)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(ChainId())};

	AuditCheckTable();
	if (SPI_execute_with_args("SELECT id, row_hash FROM biocrypt.audit_log "
							  "WHERE chain_id = $1 ORDER BY id DESC LIMIT 1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: could not read the audit chain's head");
	head_id = 0;
	memset(head_hash, 0, AUDIT_HASH_BYTES);
	if (SPI_processed == 1)
	{
		bool		isnull;
		bytea	   *h;

		head_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
		h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 2, &isnull));
		if (isnull || VARSIZE_ANY_EXHDR(h) != AUDIT_HASH_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("biocrypt: the last audit row has no valid row_hash")));
		memcpy(head_hash, VARDATA_ANY(h), AUDIT_HASH_BYTES);
	}
	head_loaded = true;
}

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

static SPIPlanPtr
InsertPlan(void)
{
	Oid			types[AUDIT_NCOLUMNS];
	StringInfoData q;

	if (insert_plan != NULL)
		return insert_plan;
	initStringInfo(&q);
	appendStringInfo(&q, "INSERT INTO biocrypt.audit_log (%s) VALUES (", AuditColumnList());
	for (int i = 0; i < AUDIT_NCOLUMNS; i++)
		appendStringInfo(&q, "%s$%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoChar(&q, ')');
	for (int i = 0; i < AUDIT_NCOLUMNS; i++)
		types[i] = AuditColumnType(i);
	return KeptPlan(&insert_plan, q.data, AUDIT_NCOLUMNS, types);
}

/* Insert the batch's rows, chained; the caller commits. */
static void
InsertBatch(Taken *batch, int n, int64 *ids)
{
	SPIPlanPtr plan;

	if (!head_loaded)
		LoadHead();
	plan = InsertPlan();
	for (int i = 0; i < n; i++)
	{
		Datum		values[AUDIT_NCOLUMNS];
		bool		nulls[AUDIT_NCOLUMNS];
		char		cnulls[AUDIT_NCOLUMNS];
		uint8		hash[AUDIT_HASH_BYTES];

		BuildRow(&batch[i], head_id + 1, values, nulls);
		values[25] = HashDatum(head_hash);
		nulls[25] = false;
		nulls[26] = false;
		AuditRowHash(values, nulls, hash);
		values[26] = HashDatum(hash);
		for (int c = 0; c < AUDIT_NCOLUMNS; c++)
			cnulls[c] = nulls[c] ? 'n' : ' ';
		if (SPI_execute_plan(plan, values, cnulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "biocrypt: could not insert an audit row");
		ids[i] = ++head_id;
		memcpy(head_hash, hash, AUDIT_HASH_BYTES);
	}
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
BatchHasXid(const Taken *batch, int n)
{
	for (int i = 0; i < n; i++)
		if (FullTransactionIdIsValid(batch[i].slot->ev.xid))
			return true;
	return false;
}

/*
 * One transaction: insert the batch (if any), and fill in outcomes when
 * asked.  On failure the events are reported failed and the head is read
 * again.  Returns whether outcomes remain to be filled in.
 */
static bool
WriteBatch(Taken *batch, int n, bool resolve)
{
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	MemoryContext cxt = CurrentMemoryContext;
	bool		ok = true;
	bool		open = resolve || BatchHasXid(batch, n);

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "biocrypt: writing audit records");
		/* the table's presence is checked with the chain's head */
		if (!head_loaded && !OidIsValid(get_extension_oid("biocrypt", true)))
		{
			if (n > 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("biocrypt: extension biocrypt is not installed in this database")));
			open = false;
		}
		else
		{
			if (n > 0)
				InsertBatch(batch, n, ids);
			if (resolve)
				open = ResolveOutcomes() || BatchHasXid(batch, n);
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		pgstat_report_stat(false);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		pgstat_report_activity(STATE_IDLE, NULL);
		head_loaded = false;
		ok = false;
	}
	PG_END_TRY();
	if (n > 0)
		FinishBatch(batch, n, ok ? ids : NULL);
	pfree(ids);
	return open;
}

void
biocrypt_audit_worker_main(Datum arg)
{
	Oid			dbid = DatumGetObjectId(arg);
	Taken		batch[AUDIT_QUEUE_SLOTS];
	TimestampTz idle_since;
	MemoryContext cxt;
	bool		pending = true;
	TimestampTz resolved_at = 0;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	am_audit_worker = true;
	if (!ClaimDatabase(dbid))
		proc_exit(0);			/* another worker has it: unregister */
	on_shmem_exit(WorkerExit, (Datum) 0);
	SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", "pg_catalog", PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("biocrypt audit worker");
	cxt = AllocSetContextCreate(TopMemoryContext, "biocrypt audit worker",
								ALLOCSET_DEFAULT_SIZES);
	idle_since = GetCurrentTimestamp();
	for (;;)
	{
		int			n;
		bool		resolve;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(cxt);
		MemoryContextSwitchTo(cxt);
		n = TakeBatch(batch);
		/* outcomes are looked up between batches, not for each one */
		resolve = pending && (n == 0 ||
							  TimestampDifferenceExceeds(resolved_at, GetCurrentTimestamp(),
														 RESOLVE_EVERY_MS));
		if (n > 0 || resolve)
		{
			pending = WriteBatch(batch, n, resolve) || (pending && !resolve);
			if (resolve)
				resolved_at = GetCurrentTimestamp();
		}
		if (n > 0)
		{
			idle_since = GetCurrentTimestamp();
			continue;
		}
		if (!pending &&
			TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(),
									   WORKER_IDLE_EXIT_MS) &&
			ReleaseDatabase(true))
			proc_exit(0);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 WORKER_NAP_MS, PG_WAIT_EXTENSION);
	}
}

/* ---------------------------------------------------------------------
 * Append-only guard
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(biocrypt_audit_guard);
/*
 * Trigger on biocrypt.audit_log: rows are written only by the audit worker
 * (which alone updates xact_outcome); nobody deletes or truncates them.
 */
Datum
biocrypt_audit_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "biocrypt: audit_guard must be called as a trigger");
	if (am_audit_worker && TRIGGER_FIRED_FOR_ROW(td->tg_event))
	{
		if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
			return PointerGetDatum(td->tg_trigtuple);
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
			return PointerGetDatum(td->tg_newtuple);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("biocrypt: biocrypt.audit_log is append-only"),
			 errdetail("Only the audit worker writes audit rows; none is ever changed or removed."),
			 errhidestmt(true)));
	PG_RETURN_NULL();
}
