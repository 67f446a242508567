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
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "core/core.h"
#include "crypto/keys.h"
#include "template/template.h"
#include "audit/audit_internal.h"

#define WORKER_NAP_MS			1000
#define WORKER_IDLE_EXIT_MS		60000
#define LAUNCH_RETRY_MS			10000
#define RESOLVE_EVERY_MS		200
#define SWEEP_EVERY_MS			1000

static bool am_audit_worker = false;

/* ---------------------------------------------------------------------
 * Launcher
 * --------------------------------------------------------------------- */

void
AuditRegisterLauncher(void)
{
	BackgroundWorker bgw;

	BiocryptWorkerInit(&bgw, "biocrypt audit launcher", "biocrypt_audit_launcher_main",
					   BGWORKER_SHMEM_ACCESS, 5);
	/* a hot standby's accesses are audited too (auditforward.c) */
	bgw.bgw_start_time = BgWorkerStart_ConsistentState;
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
	bgw.bgw_start_time = BgWorkerStart_ConsistentState;
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
					 errhint("Raise max_worker_processes; accesses in that database fail until a worker runs."),
					 errhidestmt(true), errhidecontext(true)));
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
			/* one process per server, and it sees every reload */
			ConfigWarnSevere(true);
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
	AuditForwardStop();
}

/*
 * Accesses of this database begun and not completed.  A standby's worker
 * stays while there are any: they are owned on the primary by its
 * connection, which closes them as incomplete when it goes.
 */
static int
OpenAccesses(void)
{
	AuditDatabase *db;
	int			n;

	LWLockAcquire(audit_shared->lock, LW_SHARED);
	db = AuditFindDatabase(MyDatabaseId, false);
	n = db != NULL ? db->nopen : 0;
	LWLockRelease(audit_shared->lock);
	return n;
}

typedef struct Taken
{
	AuditSlot  *slot;
	uint64		ticket;
	dsm_segment *seg;			/* matches, when not inline */
} Taken;

/*
 * How long to hold the queue before taking it (the audit lock is held): a
 * while, when nobody waits for any of its events (completions that may be
 * written later) and the oldest has waited less than AUDIT_GATHER_MS, so
 * that they share the commit of the next event someone waits for.
 */
static long
GatherTime(void)
{
	TimestampTz oldest = 0;
	long		left;

	for (int i = 0; i < AUDIT_QUEUE_SLOTS; i++)
	{
		AuditSlot  *slot = &audit_shared->slots[i];

		if (slot->state != SLOT_QUEUED || slot->dbid != MyDatabaseId)
			continue;
		if (!slot->abandoned)
			return 0;
		if (oldest == 0 || slot->queued_at < oldest)
			oldest = slot->queued_at;
	}
	if (oldest == 0)
		return 0;
	left = AUDIT_GATHER_MS - TimestampDifferenceMilliseconds(oldest, GetCurrentTimestamp());
	return Max(left, 0);
}

/* qsort comparator: slots in the order their events were queued. */
static int
TicketCmp(const void *a, const void *b)
{
	uint64		x = (*(AuditSlot *const *) a)->ticket;
	uint64		y = (*(AuditSlot *const *) b)->ticket;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Take every queued event of this database, with what the writer needs:
 * the event and its matches, from the slot or from the backend's segment.
 */
static int
TakeBatch(Taken *batch, AuditWriteItem *items, long *gather_ms)
{
	int			n = 0;
	int			nqueued = 0;
	AuditSlot  *order[AUDIT_QUEUE_SLOTS];

	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	*gather_ms = GatherTime();
	if (*gather_ms > 0)
	{
		LWLockRelease(audit_shared->lock);
		return 0;
	}
	for (int i = 0; i < AUDIT_QUEUE_SLOTS; i++)
		if (audit_shared->slots[i].state == SLOT_QUEUED &&
			audit_shared->slots[i].dbid == MyDatabaseId)
			order[nqueued++] = &audit_shared->slots[i];
	/* rows in the order the events were queued: a session's in its order */
	qsort(order, nqueued, sizeof(AuditSlot *), TicketCmp);
	for (int i = 0; i < nqueued; i++)
	{
		AuditSlot  *slot = order[i];
		AuditEvent *ev = &slot->ev;
		AuditWriteItem *item = &items[n];

		memset(item, 0, sizeof(AuditWriteItem));
		/* attach while the backend still holds the segment */
		batch[n].seg = ev->matches_dsm != DSM_HANDLE_INVALID ?
			dsm_attach(ev->matches_dsm) : NULL;
		item->ev = ev;
		item->matches_len = ev->matches_len;
		item->matches_lost = ev->matches_dsm != DSM_HANDLE_INVALID && batch[n].seg == NULL;
		if (ev->matches_len >= 0 && !item->matches_lost)
			item->matches = batch[n].seg ? dsm_segment_address(batch[n].seg) : ev->matches;
		slot->state = SLOT_WRITING;
		batch[n].slot = slot;
		batch[n].ticket = slot->ticket;
		n++;
	}
	LWLockRelease(audit_shared->lock);
	return n;
}

/* Forget begun row id (completed); the audit lock is held. */
static void
CloseOpen(AuditDatabase *db, int64 id)
{
	for (int i = 0; i < db->nopen; i++)
		if (db->open[i].begun_id == id)
		{
			db->open[i] = db->open[--db->nopen];
			return;
		}
}

/*
 * Keep the begun rows a committed event opened and forget those it
 * closed (the audit lock is held).  A begun row with no room is not kept,
 * and the mark then stays before it for as long as the server runs.
 */
static void
NoteOpen(AuditDatabase *db, const AuditWriteItem *item)
{
	const AuditEvent *ev = item->ev;

	if (item->id == 0)
		return;
	if (ev->begun_id != 0)
		CloseOpen(db, ev->begun_id);
	if (ev->outcome != AUDIT_OUTCOME_BEGUN)
		return;
	if (db->nopen == AUDIT_MAX_OPEN)
	{
		if (db->untracked_min == 0)
			db->untracked_min = item->id;
		return;
	}
	db->open[db->nopen].begun_id = item->id;
	db->open[db->nopen].owner_pid = ev->owner_pid;
	db->nopen++;
}

/* Report each event's fate to its waiting backend. */
static void
FinishBatch(Taken *batch, const AuditWriteItem *items, int n)
{
	AuditDatabase *db;

	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	db = AuditFindDatabase(MyDatabaseId, true);
	for (int i = 0; i < n; i++)
	{
		AuditSlot  *slot = batch[i].slot;
		const AuditWriteItem *item = &items[i];

		Assert(slot->ticket == batch[i].ticket);
		NoteOpen(db, item);
		if (slot->abandoned)
			slot->state = SLOT_FREE;
		else
		{
			slot->event_id = item->id;
			slot->degraded = item->degraded;
			memcpy(slot->failure, item->sqlstate, sizeof(slot->failure));
			slot->state = item->id != 0 && !item->degraded ? SLOT_DONE : SLOT_FAILED;
		}
		if (batch[i].seg != NULL)
			dsm_detach(batch[i].seg);
	}
	LWLockRelease(audit_shared->lock);
	ConditionVariableBroadcast(&audit_shared->cv);
}

/* Does a queued or taken event close begun row id?  The audit lock is held. */
static bool
QueuedCompletion(int64 id)
{
	for (int i = 0; i < AUDIT_QUEUE_SLOTS; i++)
	{
		AuditSlot  *slot = &audit_shared->slots[i];

		if (slot->dbid != MyDatabaseId ||
			(slot->state != SLOT_QUEUED && slot->state != SLOT_WRITING))
			continue;
		if (slot->ev.begun_id == id)
			return true;
	}
	return false;
}

/*
 * Take from the open accesses those whose backend has gone without
 * sending their completion (ids, returns how many), and compute the mark:
 * every begun row up to it is closed.
 */
static int
TakeAbandoned(int64 *ids, int64 *mark)
{
	AuditOpenAccess open[AUDIT_MAX_OPEN];
	bool		gone[AUDIT_MAX_OPEN];
	int			nopen;
	int			n = 0;
	AuditDatabase *db;

	LWLockAcquire(audit_shared->lock, LW_SHARED);
	db = AuditFindDatabase(MyDatabaseId, false);
	nopen = db != NULL ? db->nopen : 0;
	if (nopen > 0)
		memcpy(open, db->open, sizeof(AuditOpenAccess) * nopen);
	LWLockRelease(audit_shared->lock);
	/* ProcArrayLock is never taken under the audit lock */
	for (int i = 0; i < nopen; i++)
		gone[i] = BackendPidGetProc(open[i].owner_pid) == NULL;
	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	db = AuditFindDatabase(MyDatabaseId, true);
	for (int i = 0; i < nopen; i++)
	{
		bool		still = false;

		for (int k = 0; k < db->nopen && !still; k++)
			still = db->open[k].begun_id == open[i].begun_id;
		if (gone[i] && still && !QueuedCompletion(open[i].begun_id))
		{
			CloseOpen(db, open[i].begun_id);
			ids[n++] = open[i].begun_id;
		}
	}
	*mark = AuditWriteHead();
	for (int k = 0; k < db->nopen; k++)
		*mark = Min(*mark, db->open[k].begun_id - 1);
	for (int k = 0; k < n; k++)
		*mark = Min(*mark, ids[k] - 1);
	if (db->untracked_min != 0)
		*mark = Min(*mark, db->untracked_min - 1);
	LWLockRelease(audit_shared->lock);
	return n;
}

/*
 * Put back accesses that could not be closed: as gone (no owner), so that
 * the next sweep tries them again and the mark stays before them.
 */
static void
ReturnAbandoned(const int64 *ids, int n)
{
	AuditDatabase *db;

	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	db = AuditFindDatabase(MyDatabaseId, true);
	for (int i = 0; i < n; i++)
	{
		if (db->nopen == AUDIT_MAX_OPEN)
		{
			if (db->untracked_min == 0 || ids[i] < db->untracked_min)
				db->untracked_min = ids[i];
			continue;
		}
		db->open[db->nopen].begun_id = ids[i];
		db->open[db->nopen].owner_pid = 0;
		db->nopen++;
	}
	LWLockRelease(audit_shared->lock);
}

/*
 * Close the accesses whose backends died without completing them, and
 * move the chain's mark; a failure is logged and tried again at the next
 * sweep.
 */
static void
SweepOpen(int64 *last_mark)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64		ids[AUDIT_MAX_OPEN];
	int64		mark;
	int			n = TakeAbandoned(ids, &mark);
	volatile bool closed = n == 0;

	PG_TRY();
	{
		if (n > 0)
			closed = AuditWriteIncomplete(ids, n) >= 0;
		if (closed && mark > *last_mark)
		{
			AuditWriteClosedThrough(mark);
			*last_mark = mark;
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	if (!closed)
		ReturnAbandoned(ids, n);
}

/*
 * A standby's sweep: the accesses whose backends died without completing
 * them are closed by the primary, from its begun rows.
 */
static void
SweepForwarded(void)
{
	int64		ids[AUDIT_MAX_OPEN];
	int64		mark;
	int			n = TakeAbandoned(ids, &mark);

	if (n > 0 && !AuditForwardIncomplete(ids, n))
		ReturnAbandoned(ids, n);
}

/*
 * The first worker of this database since the server started turns the
 * begun rows left open by the stop into incomplete ones.  A failure is
 * logged and not retried until the next start: accesses must not wait
 * on it.
 */
static void
ReconcileOnce(Oid dbid)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		first;

	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	first = !AuditFindDatabase(dbid, true)->reconciled;
	AuditFindDatabase(dbid, true)->reconciled = true;
	LWLockRelease(audit_shared->lock);
	if (!first)
		return;
	PG_TRY();
	{
		(void) AuditWriteReconcile();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(WARNING,
				(errmsg("biocrypt: begun audit rows left open by the last stop were not closed"),
				 errhidestmt(true), errhidecontext(true)));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
}

void
biocrypt_audit_worker_main(Datum arg)
{
	Oid			dbid = DatumGetObjectId(arg);
	Taken		batch[AUDIT_QUEUE_SLOTS];
	AuditWriteItem items[AUDIT_QUEUE_SLOTS];
	TimestampTz idle_since;
	MemoryContext cxt;
	bool		pending = true;
	TimestampTz resolved_at = 0;
	TimestampTz swept_at = 0;
	int64		mark = 0;
	bool		forwarding;

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
	MemoryContextSwitchTo(cxt);
	forwarding = AuditForwarding();
	if (forwarding)
		pending = false;		/* the primary fills in outcomes */
	else
		ReconcileOnce(dbid);
	idle_since = GetCurrentTimestamp();
	for (;;)
	{
		int			n;
		long		gather_ms;
		bool		resolve;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* promoted: the next worker writes the rows here */
		if (forwarding && !AuditForwarding())
		{
			(void) ReleaseDatabase(false);
			proc_exit(0);
		}
		MemoryContextReset(cxt);
		MemoryContextSwitchTo(cxt);
		n = TakeBatch(batch, items, &gather_ms);
		if (gather_ms > 0)
		{
			/* only completions nobody waits for: give them company */
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 gather_ms, PG_WAIT_EXTENSION);
			continue;
		}
		/* outcomes are looked up between batches, not for each one */
		resolve = pending && (n == 0 ||
							  TimestampDifferenceExceeds(resolved_at, GetCurrentTimestamp(),
														 RESOLVE_EVERY_MS));
		if (forwarding && n > 0)
		{
			AuditForwardBatch(items, n);
			FinishBatch(batch, items, n);
		}
		else if (n > 0 || resolve)
		{
			pending = AuditWriteBatch(items, n, resolve) || (pending && !resolve);
			if (n > 0)
				FinishBatch(batch, items, n);
			if (resolve)
				resolved_at = GetCurrentTimestamp();
		}
		if (TimestampDifferenceExceeds(swept_at, GetCurrentTimestamp(), SWEEP_EVERY_MS))
		{
			if (forwarding)
				SweepForwarded();
			else
				SweepOpen(&mark);
			swept_at = GetCurrentTimestamp();
		}
		if (n > 0)
		{
			idle_since = GetCurrentTimestamp();
			continue;
		}
		if (!pending &&
			TimestampDifferenceExceeds(idle_since, GetCurrentTimestamp(),
									   WORKER_IDLE_EXIT_MS) &&
			!(forwarding && OpenAccesses() > 0) &&
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
		ereport(ERROR,
				(errmsg_internal("biocrypt: audit_guard must be called as a trigger"),
				 errhidestmt(true), errhidecontext(true)));
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
			 errhidestmt(true), errhidecontext(true)));
	PG_RETURN_NULL();
}
