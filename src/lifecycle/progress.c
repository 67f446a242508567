/*-------------------------------------------------------------------------
 *
 * progress.c
 *		What long enrolments and purges have done so far, for the views
 *		biocrypt.enrol_progress and biocrypt.purge_progress (like
 *		pg_stat_progress_*).
 *
 * Each backend (background workers included) owns one enrolment slot and
 * one purge slot in shared memory, at its BackendId, so no slot is ever
 * claimed or searched for.  Only the owner writes a slot, under the slot's
 * spinlock; readers copy it under the same lock.  A slot shows while its
 * pid is set: an enrolment from the first template its statement seals
 * until the statement's executor (or, for COPY FROM, the utility
 * statement) ends, a purge for the length of RetentionPurge.  A
 * transaction that aborts, or a backend that exits, clears its slots.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "lifecycle/lifecycle.h"

typedef struct ProgressSlot
{
	slock_t		mutex;
	int			pid;			/* 0: nothing to show */
	Oid			dbid;
	Oid			relid;			/* InvalidOid: none (yet) */
	NameData	column;			/* purge: the column at work */
	char		phase[32];		/* purge only */
	TimestampTz started_at;
	int64		count[4];		/* see EnrolCount and PurgeCount */
} ProgressSlot;

/* enrolment slot counts */
enum EnrolCount
{
	EC_ENROLLED
};

/* purge slot counts */
enum PurgeCount
{
	PC_COLUMNS_TOTAL,
	PC_COLUMNS_DONE,
	PC_FOUND,
	PC_PURGED
};

static ProgressSlot *enrol_slots = NULL;
static ProgressSlot *purge_slots = NULL;

/* the executor whose statement is enrolling (NULL: a top-level COPY) */
static const void *enrol_owner = NULL;
static bool enrol_active = false;
static bool callbacks_registered = false;

static Size
ProgressSize(void)
{
	return mul_size(sizeof(ProgressSlot), mul_size(MaxBackends, 2));
}

/* Shared memory behind the two views (shmem_request_hook). */
void
ProgressShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(ProgressSize()));
}

/* Attach it (shmem_startup_hook, under AddinShmemInitLock). */
void
ProgressShmemStartup(void)
{
	bool		found;
	ProgressSlot *all;

	all = ShmemInitStruct("biocrypt progress", ProgressSize(), &found);
	if (!found)
	{
		memset(all, 0, ProgressSize());
		for (int i = 0; i < MaxBackends * 2; i++)
			SpinLockInit(&all[i].mutex);
	}
	enrol_slots = all;
	purge_slots = all + MaxBackends;
}

/* This backend's slot of an array, or NULL if it has none. */
static ProgressSlot *
MySlot(ProgressSlot *slots)
{
	if (slots == NULL || MyBackendId == InvalidBackendId || MyBackendId > MaxBackends)
		return NULL;
	return &slots[MyBackendId - 1];
}

static void
SlotClear(ProgressSlot *slot)
{
	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	slot->pid = 0;
	SpinLockRelease(&slot->mutex);
}

/* Start showing a slot: who, where, since when; counts at zero. */
static void
SlotStart(ProgressSlot *slot, Oid relid)
{
	TimestampTz at = GetCurrentTimestamp();

	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	slot->dbid = MyDatabaseId;
	slot->relid = relid;
	memset(&slot->column, 0, sizeof(NameData));
	slot->phase[0] = '\0';
	slot->started_at = at;
	memset(slot->count, 0, sizeof(slot->count));
	SpinLockRelease(&slot->mutex);
}

/*
 * A transaction that ends ends whatever it was showing: an aborted one
 * ran no executor end, and a committed one has ended all its statements.
 */
static void
ProgressXactCallback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_COMMIT && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PREPARE)
		return;
	SlotClear(MySlot(enrol_slots));
	SlotClear(MySlot(purge_slots));
	enrol_active = false;
}

/*
 * A subtransaction that aborts may take the enrolling executor with it
 * without its end; a purge goes on (each column is a subtransaction).
 */
static void
ProgressSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB || !enrol_active)
		return;
	SlotClear(MySlot(enrol_slots));
	enrol_active = false;
}

static void
ProgressAtExit(int code, Datum arg)
{
	SlotClear(MySlot(enrol_slots));
	SlotClear(MySlot(purge_slots));
}

static void
RegisterCallbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(ProgressXactCallback, NULL);
	RegisterSubXactCallback(ProgressSubXactCallback, NULL);
	before_shmem_exit(ProgressAtExit, (Datum) 0);
	callbacks_registered = true;
}

/*
 * One more template sealed into relid (InvalidOid: not known) by the
 * running statement; the first one starts the statement's row.
 */
void
EnrolProgressCount(Oid relid)
{
	ProgressSlot *slot = MySlot(enrol_slots);

	if (slot == NULL)
		return;
	if (!enrol_active)
	{
		RegisterCallbacks();
		SlotStart(slot, relid);
		enrol_owner = AuditCurrentQuery();
		enrol_active = true;
	}
	SpinLockAcquire(&slot->mutex);
	slot->count[EC_ENROLLED]++;
	if (!OidIsValid(slot->relid))
		slot->relid = relid;
	SpinLockRelease(&slot->mutex);
}

/*
 * An executor ends (qd), or a utility statement (NULL): if the enrolment
 * shown belongs to it, it is over.
 */
void
EnrolProgressEnd(const void *qd)
{
	if (!enrol_active || enrol_owner != qd)
		return;
	SlotClear(MySlot(enrol_slots));
	enrol_active = false;
}

/* A purge begins, over ncolumns registered columns. */
void
PurgeProgressBegin(int ncolumns)
{
	ProgressSlot *slot = MySlot(purge_slots);

	if (slot == NULL)
		return;
	RegisterCallbacks();
	SlotStart(slot, InvalidOid);
	SpinLockAcquire(&slot->mutex);
	strlcpy(slot->phase, "purging", sizeof(slot->phase));
	slot->count[PC_COLUMNS_TOTAL] = ncolumns;
	SpinLockRelease(&slot->mutex);
}

/* The purge's phase, and the column it works on (relid InvalidOid: none). */
void
PurgeProgressPhase(const char *phase, Oid relid, const char *column)
{
	ProgressSlot *slot = MySlot(purge_slots);

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	strlcpy(slot->phase, phase, sizeof(slot->phase));
	slot->relid = relid;
	memset(&slot->column, 0, sizeof(NameData));
	if (column != NULL)
		strlcpy(NameStr(slot->column), column, NAMEDATALEN);
	SpinLockRelease(&slot->mutex);
}

/* Expired templates found in a column, or purged; a column done. */
void
PurgeProgressAdd(int64 found, int64 purged, bool column_done)
{
	ProgressSlot *slot = MySlot(purge_slots);

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	slot->count[PC_FOUND] += found;
	slot->count[PC_PURGED] += purged;
	if (column_done)
		slot->count[PC_COLUMNS_DONE]++;
	SpinLockRelease(&slot->mutex);
}

void
PurgeProgressEnd(void)
{
	SlotClear(MySlot(purge_slots));
}

/* A copy of slot i of an array, or false if it shows nothing. */
static bool
SlotCopy(ProgressSlot *slots, int i, ProgressSlot *copy)
{
	SpinLockAcquire(&slots[i].mutex);
	*copy = slots[i];
	SpinLockRelease(&slots[i].mutex);
	return copy->pid != 0;
}

PG_FUNCTION_INFO_V1(biocrypt_enrol_progress);
/* enrol_progress(): one row per statement enrolling templates now */
Datum
biocrypt_enrol_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz at = GetCurrentTimestamp();

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < MaxBackends; i++)
	{
		ProgressSlot s;
		Datum		values[6];
		bool		nulls[6] = {0};
		double		secs;

		if (!SlotCopy(enrol_slots, i, &s))
			continue;
		secs = (at - s.started_at) / (double) USECS_PER_SEC;
		values[0] = Int32GetDatum(s.pid);
		values[1] = ObjectIdGetDatum(s.dbid);
		nulls[2] = !OidIsValid(s.relid);
		values[2] = ObjectIdGetDatum(s.relid);
		values[3] = TimestampTzGetDatum(s.started_at);
		values[4] = Int64GetDatum(s.count[EC_ENROLLED]);
		/* a rate over no measurable time says nothing */
		nulls[5] = secs <= 0;
		values[5] = Float8GetDatum(secs > 0 ? s.count[EC_ENROLLED] / secs : 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(biocrypt_purge_progress);
/* purge_progress(): one row per purge running now (function or worker) */
Datum
biocrypt_purge_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < MaxBackends; i++)
	{
		ProgressSlot s;
		Datum		values[10];
		bool		nulls[10] = {0};

		if (!SlotCopy(purge_slots, i, &s))
			continue;
		values[0] = Int32GetDatum(s.pid);
		values[1] = ObjectIdGetDatum(s.dbid);
		values[2] = CStringGetTextDatum(s.phase);
		nulls[3] = !OidIsValid(s.relid);
		values[3] = ObjectIdGetDatum(s.relid);
		nulls[4] = NameStr(s.column)[0] == '\0';
		values[4] = NameGetDatum(&s.column);
		values[5] = TimestampTzGetDatum(s.started_at);
		values[6] = Int64GetDatum(s.count[PC_COLUMNS_TOTAL]);
		values[7] = Int64GetDatum(s.count[PC_COLUMNS_DONE]);
		values[8] = Int64GetDatum(s.count[PC_FOUND]);
		values[9] = Int64GetDatum(s.count[PC_PURGED]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
