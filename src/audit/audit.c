/*-------------------------------------------------------------------------
 *
 * audit.c
 *		Access recording: backends hand events to their database's audit
 *		worker and wait until the event's row has committed.
 *
 * The queue is a fixed array of slots in shared memory under one LWLock.
 * A backend fills a free slot, wakes the worker (or asks the launcher to
 * start one) and sleeps on a condition variable until the worker reports
 * the slot committed or failed.  Everything that can go wrong on the way
 * (no free slot, no worker, the insert failing, the wait running past
 * biocrypt.audit_timeout) is an ERROR: an access that cannot be recorded
 * does not happen.  Events that arrive while the worker commits are
 * written together in its next transaction, so one WAL flush serves many
 * backends.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_extension.h"
#include "utils/fmgroids.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "core/core.h"
#include "crypto/keys.h"
#include "template/template.h"
#include "audit/audit_internal.h"
#include "base/jsonenc.h"

/* time between checks while waiting, in ms */
#define AUDIT_POLL_MS	100

AuditShared *audit_shared = NULL;

static int	biocrypt_audit_timeout = 10000;
static int	biocrypt_required_confirmations = 2;

/* the slots this backend waits on, given up if the process exits (FATAL) */
static AuditSlot *waiting_slot[AUDIT_QUEUE_SLOTS];
static uint64 waiting_ticket[AUDIT_QUEUE_SLOTS];
static int	nwaiting = 0;
static bool exit_callback_registered = false;

static const char *const operation_names[] = {
	"protect", "compare", "verify", "identify", "reveal", "export", "retain",
	"purge", "rotate", "destroy", "hold", "erase", "policy", "denied", "review",
	"calibrate"
};

static const char *const outcome_names[] = {
	"ok", "error", "denied", "begun", "incomplete"
};

const char *
AuditOperationName(AuditOperation op)
{
	return operation_names[op];
}

/* Is name an operation (outcome) the audit log knows?  (-1: no) */
int
AuditOperationIndex(const char *name)
{
	for (int op = 0; op < (int) lengthof(operation_names); op++)
		if (strcmp(operation_names[op], name) == 0)
			return op;
	return -1;
}

int
AuditOutcomeIndex(const char *name)
{
	for (int o = 0; o < (int) lengthof(outcome_names); o++)
		if (strcmp(outcome_names[o], name) == 0)
			return o;
	return -1;
}

/* The operation of a recorded name (rows read back by the worker). */
AuditOperation
AuditOperationByName(const char *name)
{
	int			op = AuditOperationIndex(name);

	if (op < 0)
		ereport(ERROR,
				(errmsg_internal("biocrypt: unknown audit operation \"%s\"", name),
				 errhidestmt(true), errhidecontext(true)));
	return (AuditOperation) op;
}

const char *
AuditOutcomeName(AuditOutcome outcome)
{
	return outcome_names[outcome];
}

/* The outcome of a recorded name (rows read back, rows a standby sent). */
AuditOutcome
AuditOutcomeByName(const char *name)
{
	int			o = AuditOutcomeIndex(name);

	if (o < 0)
		ereport(ERROR,
				(errmsg_internal("biocrypt: unknown audit outcome \"%s\"", name),
				 errhidestmt(true), errhidecontext(true)));
	return (AuditOutcome) o;
}

/* biocrypt.audit_timeout, for the standby's forwarder */
int
AuditTimeoutMs(void)
{
	return biocrypt_audit_timeout;
}

/* Shared memory for the queue (biocrypt.c's shmem_request_hook). */
void
AuditShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(AuditShared)));
	RequestNamedLWLockTranche("biocrypt_audit", 1);
}

/* Attach the queue (shmem_startup_hook, under AddinShmemInitLock). */
void
AuditShmemStartup(void)
{
	bool		found;

	audit_shared = ShmemInitStruct("biocrypt audit", sizeof(AuditShared), &found);
	if (!found)
	{
		memset(audit_shared, 0, sizeof(AuditShared));
		audit_shared->lock = &(GetNamedLWLockTranche("biocrypt_audit"))->lock;
		ConditionVariableInit(&audit_shared->cv);
	}
}

/* Preload: settings (biocrypt.c also asks for shared memory and the launcher). */
void
AuditInit(void)
{
	DefineCustomIntVariable("biocrypt.audit_timeout",
							"How long an access waits for its audit record to commit.",
							"Past it the access fails: nothing is returned unrecorded.",
							&biocrypt_audit_timeout,
							10000, 100, 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("biocrypt.required_confirmations",
							"How many distinct login roles must confirm an identification.",
							"See biocrypt.confirm_match and the view biocrypt.match_reviews.",
							&biocrypt_required_confirmations,
							2, 1, 100,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
#ifdef BIOCRYPT_AUDIT_BYPASS
	ereport(WARNING,
			(errmsg("biocrypt: this build was made with BIOCRYPT_AUDIT_BYPASS: accesses are NOT audited"),
			 errhint("Such builds exist only to measure the audit's cost; never use one with real data."),
			 errhidestmt(true), errhidecontext(true)));
#endif
}

/*
 * The worker entry of database dbid; with create, a free entry is claimed
 * for it.  NULL if there is none (or none free).  The caller holds the
 * audit lock exclusively.
 */
static AuditDatabase *
DatabaseEntry(Oid dbid, bool create)
{
	AuditDatabase *free_entry = NULL;

	for (int i = 0; i < AUDIT_MAX_DATABASES; i++)
	{
		AuditDatabase *db = &audit_shared->dbs[i];

		if (db->dbid == dbid)
			return db;
		if (db->dbid == InvalidOid && free_entry == NULL)
			free_entry = db;
	}
	if (!create || free_entry == NULL)
		return NULL;
	memset(free_entry, 0, sizeof(AuditDatabase));
	free_entry->dbid = dbid;
	free_entry->state = WORKER_NONE;
	return free_entry;
}

/* DatabaseEntry, with an ERROR when every entry is taken. */
AuditDatabase *
AuditFindDatabase(Oid dbid, bool create)
{
	AuditDatabase *db = DatabaseEntry(dbid, create);

	if (create && db == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("biocrypt: too many databases with an audit worker"),
				 errhint("At most %d databases of one server can use biocrypt.",
						 AUDIT_MAX_DATABASES),
				 errhidestmt(true), errhidecontext(true)));
	return db;
}

/* A free queue slot, or NULL; the audit lock is held. */
static AuditSlot *
FreeSlot(void)
{
	for (int i = 0; i < AUDIT_QUEUE_SLOTS; i++)
		if (audit_shared->slots[i].state == SLOT_FREE)
			return &audit_shared->slots[i];
	return NULL;
}

/* Slots in use now, of database dbid (InvalidOid: of all); lock held. */
int
AuditQueueDepth(Oid dbid)
{
	int			n = 0;

	for (int i = 0; i < AUDIT_QUEUE_SLOTS; i++)
		if (audit_shared->slots[i].state != SLOT_FREE &&
			(dbid == InvalidOid || audit_shared->slots[i].dbid == dbid))
			n++;
	return n;
}

/* A slot has just been filled: raise the high-water marks (auditqueue.c). */
static void
RaiseDepthMarks(void)
{
	AuditDatabase *db = DatabaseEntry(MyDatabaseId, false);

	audit_shared->depth_max = Max(audit_shared->depth_max, AuditQueueDepth(InvalidOid));
	if (db != NULL)
		db->depth_max = Max(db->depth_max, AuditQueueDepth(db->dbid));
}

/* Queue ev in slot for this database; the audit lock is held. */
static uint64
FillSlot(AuditSlot *slot, const AuditEvent *ev, bool abandoned)
{
	memcpy(&slot->ev, ev, sizeof(AuditEvent));
	slot->dbid = MyDatabaseId;
	slot->ticket = ++audit_shared->next_ticket;
	slot->abandoned = abandoned;
	slot->queued_at = GetCurrentTimestamp();
	slot->event_id = 0;
	slot->degraded = false;
	slot->failure[0] = '\0';
	slot->state = SLOT_QUEUED;
	RaiseDepthMarks();
	return slot->ticket;
}

/* The client's address as text, or "" for a Unix socket or no client. */
void
AuditClientAddress(char *out, size_t outlen)
{
	/* cppcheck-suppress unusedStructMember ; the macro's storage union */
	LOCAL_FCINFO(fcinfo, 0);
	Datum		addr;

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	addr = inet_client_addr(fcinfo);
	out[0] = '\0';
	if (!fcinfo->isnull)
		strlcpy(out, DatumGetCString(DirectFunctionCall1(inet_out, addr)), outlen);
}

/* Start an event of this session: who, from where, when, which xid. */
void
AuditEventInit(AuditEvent *ev, AuditOperation op)
{
	char	   *name;

	memset(ev, 0, sizeof(AuditEvent));
	ev->started_at = GetCurrentStatementStartTimestamp();
	name = GetUserNameFromId(GetSessionUserId(), true);
	if (name != NULL)
		strlcpy(NameStr(ev->session_role), name, NAMEDATALEN);
	name = GetUserNameFromId(GetUserId(), true);
	if (name != NULL)
		strlcpy(NameStr(ev->effective_role), name, NAMEDATALEN);
	AuditClientAddress(ev->client_addr, sizeof(ev->client_addr));
	if (application_name != NULL)
		strlcpy(ev->application_name, application_name, NAMEDATALEN);
	ev->backend_pid = MyProcPid;
	/* a parallel worker's accesses are completed by its leader */
	ev->owner_pid = MyProc->lockGroupLeader != NULL ? MyProc->lockGroupLeader->pid : MyProcPid;
	ev->xid = GetTopFullTransactionIdIfAny();
	strlcpy(ev->purpose, PurposeCurrent(), NAMEDATALEN);
	strlcpy(ev->request_id, RequestIdCurrent(), NAMEDATALEN);
	ev->operation = op;
	ev->relation = InvalidOid;
	ev->query_id = (int64) pgstat_get_my_query_id();
	ev->outcome = AUDIT_OUTCOME_OK;
	ev->matches_len = -1;
	ev->matches_dsm = DSM_HANDLE_INVALID;
	/* the primary adds who forwarded it, and from where */
	if (RecoveryInProgress())
		strlcpy(ev->origin, cluster_name[0] != '\0' ? cluster_name : "standby", NAMEDATALEN);
}

void
AuditSetRelation(AuditEvent *ev, Oid relid, const char *column)
{
	ev->relation = relid;
	if (column != NULL)
		strlcpy(NameStr(ev->column_name), column, NAMEDATALEN);
}

/*
 * The keyed hash of a probe (a, then b if any, e.g. code and mask): equal
 * probes give equal hashes, the values never show.
 */
void
AuditProbeHash(uint8 *out, const void *a, size_t alen, const void *b, size_t blen)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, KeysAuditProbeKey(), BIOCRYPT_KEY_BYTES);
	crypto_auth_hmacsha256_update(&st, a, alen);
	if (b != NULL)
		crypto_auth_hmacsha256_update(&st, b, blen);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/*
 * Append s as a JSON string: every value an audit row carries goes through
 * jsonenc.c, whose output jsonb always accepts.
 */
void
AuditJsonString(StringInfo buf, const char *s)
{
	size_t		len = strlen(s);

	enlargeStringInfo(buf, JSONENC_STRING_BOUND(len));
	buf->len += JsonEncString(buf->data + buf->len, (const uint8 *) s, len,
							  GetDatabaseEncoding() == PG_UTF8);
	buf->data[buf->len] = '\0';
}

/* Append v as JSON: a number, or "NaN", "Infinity", "-Infinity". */
void
AuditJsonNumber(StringInfo buf, double v)
{
	enlargeStringInfo(buf, JSONENC_NUMBER_BOUND);
	buf->len += JsonEncNumber(buf->data + buf->len, v);
	buf->data[buf->len] = '\0';
}

/* The event's matches as JSON text; long lists go to a DSM segment. */
void
AuditSetMatches(AuditEvent *ev, const char *json, size_t len)
{
	dsm_segment *seg;

	if (len > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("biocrypt: too many matches to record"),
				 errhidestmt(true), errhidecontext(true)));
	ev->matches_len = (int32) len;
	if (len <= AUDIT_INLINE_MATCHES)
	{
		memcpy(ev->matches, json, len);
		return;
	}
	/* detached by AuditRecord, or by the resource owner on error */
	seg = dsm_create(len, 0);
	memcpy(dsm_segment_address(seg), json, len);
	ev->matches_dsm = dsm_segment_handle(seg);
}

/* Ask the launcher for a worker if the database has none. */
static Latch *
RequestWorker(AuditDatabase *db)
{
	if (db->state == WORKER_RUNNING)
		return db->latch;
	if (db->state == WORKER_NONE)
	{
		db->state = WORKER_REQUESTED;
		db->state_since = GetCurrentTimestamp();
	}
	return audit_shared->launcher_latch;
}

/*
 * The worker could not write the event: one clear error per cause.  A
 * wrong root key is said as such, since no access can work until the
 * right key is back.
 */
static void
AuditWriteFailed(const char *sqlstate, bool degraded)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: access refused: this server is a standby, and the primary did not record the access"),
				 errdetail("A standby's accesses are recorded in the primary's biocrypt.audit_log; delivering this one failed with SQLSTATE %s.",
						   sqlstate),
				 errhint("Check that the primary is up and reachable with biocrypt.primary_conninfo; the standby's server log says why it was not."),
				 errhidestmt(true), errhidecontext(true)));
	if (strcmp(sqlstate, "F0000") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: the root key does not match the key ring"),
				 errdetail("The audit worker writes no row under a root key that did not create the key ring."),
				 errhint("Start the server with the root key that created biocrypt.keys."),
				 errhidestmt(true), errhidecontext(true)));
	if (degraded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: access refused: the audit record could not be stored as sent"),
				 errdetail("It was recorded as an error row (SQLSTATE %s) without its matches.", sqlstate),
				 errhidestmt(true), errhidecontext(true)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("biocrypt: access refused: the audit record could not be written"),
			 errdetail("The audit worker's insert failed with SQLSTATE %s.", sqlstate),
			 errhint("See the server log for the audit worker's messages."),
			 errhidestmt(true), errhidecontext(true)));
}

/*
 * A standby records its accesses in the primary's audit log, through its
 * own audit worker (auditforward.c).  One with nowhere to send them (no
 * connection to a primary configured) refuses an access at once, before
 * anything is decrypted or sent, rather than after biocrypt.audit_timeout.
 */
static void
RefuseOnStandby(void)
{
	if (!RecoveryInProgress() || PrimaryConninfo() != NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("biocrypt: access refused: this server is a standby with no primary to record its accesses"),
			 errdetail("A standby's accesses are recorded in the primary's biocrypt.audit_log, and neither biocrypt.primary_conninfo nor primary_conninfo is set."),
			 errhint("Set biocrypt.primary_conninfo (docs/dba.md, \"Standbys\"), or compare templates on the primary."),
			 errhidestmt(true), errhidecontext(true)));
}

/*
 * Before a statement's first access: make sure the database has a running
 * audit worker (asking for one and waiting up to biocrypt.audit_timeout),
 * so that nothing is decrypted while nobody could record it.  The row
 * itself is written when the statement's executor ends.
 */
void
AuditRequireWorker(void)
{
	TimestampTz deadline;

#ifdef BIOCRYPT_AUDIT_BYPASS
	return;
#endif
	if (audit_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: access refused: biocrypt is not preloaded"),
				 errhint("Every access must be recorded in biocrypt.audit_log; see the server log for the audit worker's messages."),
				 errhidestmt(true), errhidecontext(true)));
	RefuseOnStandby();
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), biocrypt_audit_timeout);
	for (;;)
	{
		AuditDatabase *db;
		Latch	   *wake = NULL;
		bool		running;

		LWLockAcquire(audit_shared->lock, LW_SHARED);
		db = AuditFindDatabase(MyDatabaseId, false);
		running = db != NULL && db->state == WORKER_RUNNING;
		LWLockRelease(audit_shared->lock);
		if (running)
			break;
		LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
		wake = RequestWorker(AuditFindDatabase(MyDatabaseId, true));
		LWLockRelease(audit_shared->lock);
		if (wake != NULL)
			SetLatch(wake);
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("biocrypt: access refused: no audit worker is running for this database"),
					 errhint("Every access must be recorded in biocrypt.audit_log; see the server log for the audit worker's messages."),
					 errhidestmt(true), errhidecontext(true)));
		ConditionVariableTimedSleep(&audit_shared->cv, AUDIT_POLL_MS, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

/*
 * Put ev into a free slot (waiting for one until deadline).  An abandoned
 * slot has nobody waiting: the worker frees it once written.
 */
static AuditSlot *
Enqueue(const AuditEvent *ev, TimestampTz deadline, uint64 *ticket, bool abandoned)
{
	for (;;)
	{
		AuditSlot  *slot;
		Latch	   *wake;

		LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
		wake = RequestWorker(AuditFindDatabase(MyDatabaseId, true));
		slot = FreeSlot();
		if (slot != NULL)
			*ticket = FillSlot(slot, ev, abandoned);
		LWLockRelease(audit_shared->lock);
		if (wake != NULL)
			SetLatch(wake);
		if (slot != NULL)
		{
			ConditionVariableCancelSleep();
			/* a standby's access is counted on the standby */
			if (!ev->forwarded)
				AuditStatsCount(ev);
			return slot;
		}
		if (GetCurrentTimestamp() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("biocrypt: access refused: the audit queue is full"),
					 errhint("The audit worker cannot keep up; retry, or raise biocrypt.audit_timeout."),
					 errhidestmt(true), errhidecontext(true)));
		ConditionVariableTimedSleep(&audit_shared->cv, AUDIT_POLL_MS, PG_WAIT_EXTENSION);
	}
}

/*
 * Stop waiting for a slot (an error, a cancel, the process ending).  An
 * event still queued is left for the worker as a failed access (its rows
 * may already have reached the client: an operator query streams them), so
 * a hung worker's backlog is recorded once it runs again; its matches, in
 * a segment that goes away with this backend, are dropped.  A begun row
 * still queued is withdrawn instead: its access never began, and the
 * abort path records the event it belongs to as failed (one row, not two).
 */
static void
Abandon(AuditSlot *slot, uint64 ticket, const char *sqlstate)
{
	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	if (slot->ticket == ticket)
	{
		if (slot->state == SLOT_QUEUED && slot->ev.outcome == AUDIT_OUTCOME_BEGUN)
			slot->state = SLOT_FREE;
		else if (slot->state == SLOT_QUEUED)
		{
			slot->ev.outcome = AUDIT_OUTCOME_ERROR;
			strlcpy(slot->ev.sqlstate, sqlstate, sizeof(slot->ev.sqlstate));
			if (slot->ev.matches_dsm != DSM_HANDLE_INVALID)
			{
				slot->ev.matches_dsm = DSM_HANDLE_INVALID;
				slot->ev.matches_len = -1;
			}
			slot->abandoned = true;
		}
		else if (slot->state == SLOT_WRITING)
			slot->abandoned = true;
		else
			slot->state = SLOT_FREE;
	}
	LWLockRelease(audit_shared->lock);
}

/* Process exit while waiting (FATAL, terminate): let the slot go. */
static void
AuditBackendExit(int code, Datum arg)
{
	for (int i = 0; i < nwaiting; i++)
		Abandon(waiting_slot[i], waiting_ticket[i], "");
	nwaiting = 0;
}

/* One look at the slot; true and *event_id when it is committed. */
static bool
SlotCommitted(AuditSlot *slot, uint64 ticket, int64 *event_id)
{
	AuditSlotState state;
	Latch	   *wake = NULL;
	char		failure[6] = "";
	bool		degraded = false;

	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	Assert(slot->ticket == ticket);
	state = slot->state;
	if (state == SLOT_DONE || state == SLOT_FAILED)
	{
		*event_id = slot->event_id;
		memcpy(failure, slot->failure, sizeof(failure));
		degraded = slot->degraded;
		slot->state = SLOT_FREE;
	}
	else
		wake = RequestWorker(AuditFindDatabase(MyDatabaseId, true));
	LWLockRelease(audit_shared->lock);
	if (state == SLOT_FAILED && BiocryptExtensionIsNew())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: access refused: the audit log does not exist until CREATE EXTENSION biocrypt commits"),
				 errhint("Commit CREATE EXTENSION before protecting or comparing templates."),
				 errhidestmt(true), errhidecontext(true)));
	if (state == SLOT_FAILED)
		AuditWriteFailed(failure, degraded);
	if (state == SLOT_QUEUED && wake != NULL)
		SetLatch(wake);
	return state == SLOT_DONE;
}

/*
 * Hand an event to the worker without waiting for it (a failed access,
 * from an abort callback: never raises an error).  The worker frees the
 * slot.  Without a free slot the event is lost, with a WARNING.
 */
void
AuditRecordNoWait(AuditEvent *ev)
{
	AuditSlot  *slot = NULL;
	AuditDatabase *db = NULL;
	Latch	   *wake = NULL;

	if (audit_shared == NULL)
		return;
	ev->ended_at = GetCurrentTimestamp();
	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	db = DatabaseEntry(MyDatabaseId, true);
	slot = db != NULL ? FreeSlot() : NULL;
	if (slot != NULL)
	{
		(void) FillSlot(slot, ev, true);
		/* a matches segment goes away with this transaction */
		slot->ev.matches_dsm = DSM_HANDLE_INVALID;
		if (ev->matches_len > AUDIT_INLINE_MATCHES)
			slot->ev.matches_len = -1;
		wake = RequestWorker(db);
	}
	LWLockRelease(audit_shared->lock);
	if (wake != NULL)
		SetLatch(wake);
	if (slot != NULL)
		AuditStatsCount(ev);
	if (slot == NULL)
		ereport(WARNING,
				(errmsg("biocrypt: a failed access could not be queued for the audit log"),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * An event about to be queued: its end time, its transaction if it has one
 * by now; returns how long it may take to get a slot (and, for a caller
 * that waits, to be written).
 */
static TimestampTz
Seal(AuditEvent *ev)
{
	if (audit_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: access refused: biocrypt is not preloaded"),
				 errhint("Every access must be recorded in biocrypt.audit_log; see the server log for the audit worker's messages."),
				 errhidestmt(true), errhidecontext(true)));
	if (!ev->forwarded)
	{
		ev->ended_at = GetCurrentTimestamp();
		if (!FullTransactionIdIsValid(ev->xid))
			ev->xid = GetTopFullTransactionIdIfAny();
	}
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), biocrypt_audit_timeout);
}

/*
 * Hand an event to the worker and go on without waiting for its row: the
 * completion of an access whose begun row is already on record.  Waits
 * only for a free slot; its matches must fit in the slot.  The worker
 * holds such events a moment (AUDIT_GATHER_MS) for company, so that they
 * share a commit with the next events that someone waits for.
 */
void
AuditRecordLater(AuditEvent *ev)
{
	uint64		ticket;

#ifdef BIOCRYPT_AUDIT_BYPASS
	return;
#endif
	Assert(ev->matches_dsm == DSM_HANDLE_INVALID);
	(void) Enqueue(ev, Seal(ev), &ticket, true);
}

/* The same, with matches (JSON text, or NULL). */
void
AuditRecordEventJson(AuditOperation op, Oid relid, const char *col, int64 rows,
					 const char *json)
{
	AuditEvent *ev = palloc(sizeof(AuditEvent));

	AuditEventInit(ev, op);
	AuditSetRelation(ev, relid, col);
	ev->templates_compared = rows;
	if (json != NULL)
		AuditSetMatches(ev, json, strlen(json));
	(void) AuditRecord(ev);
	pfree(ev);
}

/* Let go of the event's matches segment (the worker has its own mapping). */
static void
DetachMatches(const AuditEvent *ev)
{
	dsm_segment *seg = ev->matches_dsm != DSM_HANDLE_INVALID ?
		dsm_find_mapping(ev->matches_dsm) : NULL;

	if (seg != NULL)
		dsm_detach(seg);
}

/* Microseconds since start, for biocrypt.stats' audit waits. */
static int64
WaitedSince(instr_time start)
{
	instr_time	end;

	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	return (int64) INSTR_TIME_GET_MICROSEC(end);
}

/*
 * Record events (a standby's batch: auditforward.c): each is queued, in
 * order, before any is waited for, so that they share one commit; ids
 * gets each event's id once all have committed.  ERROR if that cannot
 * happen within biocrypt.audit_timeout.  The wait (for the slots, then for
 * the commit) is counted in biocrypt.stats, a failed one too.
 */
void
AuditRecordMany(AuditEvent **evs, int n, int64 *ids)
{
	TimestampTz deadline = 0;
	volatile bool timed_out = false;
	instr_time	start;

#ifdef BIOCRYPT_AUDIT_BYPASS
	/* benchmark builds only: the floor that audited accesses are measured against */
	memset(ids, 0, sizeof(int64) * n);
	return;
#endif
	Assert(n <= AUDIT_QUEUE_SLOTS);
	RefuseOnStandby();
	INSTR_TIME_SET_CURRENT(start);
	if (!exit_callback_registered)
	{
		before_shmem_exit(AuditBackendExit, (Datum) 0);
		exit_callback_registered = true;
	}
	PG_TRY();
	{
		for (int i = 0; i < n; i++)
		{
			deadline = Seal(evs[i]);
			waiting_slot[i] = Enqueue(evs[i], deadline, &waiting_ticket[i], false);
			nwaiting = i + 1;
		}
		for (int i = 0; i < n; i++)
			while (!SlotCommitted(waiting_slot[i], waiting_ticket[i], &ids[i]))
			{
				if (GetCurrentTimestamp() >= deadline)
				{
					timed_out = true;
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("biocrypt: access refused: the audit worker did not record the access in time"),
							 errhint("Every access must be recorded in biocrypt.audit_log; see the server log for the audit worker's messages."),
							 errhidestmt(true), errhidecontext(true)));
				}
				ConditionVariableTimedSleep(&audit_shared->cv, AUDIT_POLL_MS,
											PG_WAIT_EXTENSION);
			}
	}
	PG_CATCH();
	{
		ConditionVariableCancelSleep();
		/* a slot already read as committed is free again: Abandon leaves it */
		for (int i = 0; i < nwaiting; i++)
			Abandon(waiting_slot[i], waiting_ticket[i], timed_out ? "55000" : "");
		nwaiting = 0;
		for (int i = 0; i < n; i++)
			DetachMatches(evs[i]);
		AuditStatsWait(WaitedSince(start));
		PG_RE_THROW();
	}
	PG_END_TRY();
	nwaiting = 0;
	ConditionVariableCancelSleep();
	for (int i = 0; i < n; i++)
		DetachMatches(evs[i]);
	AuditStatsWait(WaitedSince(start));
}

/*
 * Record an access: returns the event's id once its row has committed.
 * ERROR if that cannot happen within biocrypt.audit_timeout.
 */
int64
AuditRecord(AuditEvent *ev)
{
	int64		id = 0;

	AuditRecordMany(&ev, 1, &id);
	return id;
}
