/*-------------------------------------------------------------------------
 *
 * auditstats.c
 *		Counters of accesses per database and role (biocrypt.stats).
 *
 * Every access already produces an audit event, and every event goes
 * through the queue (audit.c): the counters are taken from the event at
 * the moment it is put into a slot, so no access is missed and none is
 * counted twice.  Begun rows are not counted; completions (ok, error,
 * denied) are.  The time a backend waits for its row to commit is counted
 * too.
 *
 * Locking, as in pg_stat_statements: the hash table of entries is under
 * one LWLock, taken shared to find an entry and exclusively to add one or
 * to reset; each entry's counters are under the entry's own spinlock, so
 * backends counting into different entries (or the same one) under the
 * shared lock never lose an increment.  audit.c counts with its queue's
 * lock released; the two locks are never held together.
 *
 * The table holds at most biocrypt.stats_max roles' entries.  When it is
 * full, a role without an entry counts into its database's "other" entry
 * (role NULL in the view), so totals stay exact; room for one "other"
 * entry per database is set aside beyond stats_max, and one for the whole
 * cluster (database NULL too), made at start, takes what finds no room.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "audit/audit_internal.h"

/* one entry's counters, in the order biocrypt.stats shows them */
typedef enum StatsCounter
{
	SC_COMPARISONS,
	SC_VERIFIES,
	SC_IDENTIFIES,
	SC_TEMPLATES_COMPARED,
	SC_EXPIRED_SKIPPED,
	SC_PURPOSE_SKIPPED,
	SC_SHAPE_SKIPPED,
	SC_DENIALS,
	SC_ERRORS,
	SC_REVEALS,
	SC_EXPORTS,
	SC_AUDIT_WAITS,
	SC_NCOUNTERS
} StatsCounter;

typedef struct StatsKey
{
	Oid			dbid;
	Oid			userid;			/* InvalidOid: the database's "other" entry */
} StatsKey;

typedef struct StatsEntry
{
	StatsKey	key;			/* hash key: first */
	slock_t		mutex;			/* protects the counters below */
	int64		counters[SC_NCOUNTERS];
	int64		wait_total_us;
	int64		wait_max_us;
} StatsEntry;

typedef struct StatsShared
{
	LWLock	   *lock;			/* the hash table's entries, and stats_reset */
	TimestampTz stats_reset;
	int			nroles;			/* entries of roles (not "other" ones) */
} StatsShared;

static int	biocrypt_stats_max = 1000;
static StatsShared *stats_shared = NULL;
static HTAB *stats_hash = NULL;

static StatsEntry *StatsEnter(Oid dbid, Oid userid);

/*
 * Entries the hash table may hold: the roles', one "other" per database,
 * and the cluster's last resort (dbid and role 0) for databases past those.
 */
static long
StatsCapacity(void)
{
	return (long) biocrypt_stats_max + AUDIT_MAX_DATABASES + 1;
}

/* Preload: the size of the table (a restart changes it). */
void
AuditStatsInit(void)
{
	DefineCustomIntVariable("biocrypt.stats_max",
							"How many (database, role) entries biocrypt.stats keeps.",
							"When they are taken, other roles count into their database's row with role NULL.",
							&biocrypt_stats_max,
							1000, 1, 100000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
}

/* Shared memory for the counters (biocrypt.c's shmem_request_hook). */
void
AuditStatsShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(StatsShared)));
	RequestAddinShmemSpace(hash_estimate_size(StatsCapacity(), sizeof(StatsEntry)));
	RequestNamedLWLockTranche("biocrypt_stats", 1);
}

/* Attach them (shmem_startup_hook, under AddinShmemInitLock). */
void
AuditStatsShmemStartup(void)
{
	bool		found;
	HASHCTL		info;

	stats_shared = ShmemInitStruct("biocrypt stats", sizeof(StatsShared), &found);
	if (!found)
	{
		stats_shared->lock = &(GetNamedLWLockTranche("biocrypt_stats"))->lock;
		stats_shared->stats_reset = GetCurrentTimestamp();
		stats_shared->nroles = 0;
	}
	info.keysize = sizeof(StatsKey);
	info.entrysize = sizeof(StatsEntry);
	stats_hash = ShmemInitHash("biocrypt stats hash", StatsCapacity(), StatsCapacity(),
							   &info, HASH_ELEM | HASH_BLOBS);
	if (!found)
		(void) StatsEnter(InvalidOid, InvalidOid);
}

/* Find or add an entry, or NULL if there is no room; lock held exclusively. */
static StatsEntry *
StatsEnter(Oid dbid, Oid userid)
{
	StatsKey	key;
	StatsEntry *e;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.dbid = dbid;
	key.userid = userid;
	e = hash_search(stats_hash, &key, HASH_ENTER_NULL, &found);
	if (e != NULL && !found)
	{
		if (OidIsValid(userid))
			stats_shared->nroles++;
		SpinLockInit(&e->mutex);
		memset(e->counters, 0, sizeof(e->counters));
		e->wait_total_us = 0;
		e->wait_max_us = 0;
	}
	return e;
}

/*
 * The entry to count into, adding it if need be (the caller holds the
 * lock shared; it is exclusive on return when an entry was added).  Never
 * fails and never raises an error: an abort callback counts failed
 * accesses.
 */
static StatsEntry *
StatsEntryFor(Oid dbid, Oid userid)
{
	StatsKey	key;
	StatsEntry *e;

	memset(&key, 0, sizeof(key));
	key.dbid = dbid;
	key.userid = userid;
	e = hash_search(stats_hash, &key, HASH_FIND, NULL);
	if (e != NULL)
		return e;
	LWLockRelease(stats_shared->lock);
	LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
	e = hash_search(stats_hash, &key, HASH_FIND, NULL);
	/* roles beyond stats_max go to their database's shared entry */
	if (e == NULL && stats_shared->nroles < biocrypt_stats_max)
		e = StatsEnter(dbid, userid);
	if (e == NULL)
		e = StatsEnter(dbid, InvalidOid);
	/* and past the databases set aside for, to the cluster's (made at start) */
	if (e == NULL)
		e = StatsEnter(InvalidOid, InvalidOid);
	Assert(e != NULL);
	return e;
}

/* Add to the counters of this backend's database and current role. */
static void
StatsAdd(const int64 *add, int64 wait_us)
{
	StatsEntry *e;

	if (stats_shared == NULL)
		return;
	LWLockAcquire(stats_shared->lock, LW_SHARED);
	e = StatsEntryFor(MyDatabaseId, GetUserId());
	SpinLockAcquire(&e->mutex);
	for (int i = 0; i < SC_NCOUNTERS; i++)
		e->counters[i] += add[i];
	e->wait_total_us += wait_us;
	e->wait_max_us = Max(e->wait_max_us, wait_us);
	SpinLockRelease(&e->mutex);
	LWLockRelease(stats_shared->lock);
}

/* The counter an operation's completed accesses go to, or -1. */
static int
OperationCounter(AuditOperation op)
{
	switch (op)
	{
		case AUDIT_OP_COMPARE:
		case AUDIT_OP_CALIBRATE:
			return SC_COMPARISONS;
		case AUDIT_OP_VERIFY:
			return SC_VERIFIES;
		case AUDIT_OP_IDENTIFY:
			return SC_IDENTIFIES;
		case AUDIT_OP_REVEAL:
			return SC_REVEALS;
		case AUDIT_OP_EXPORT:
			return SC_EXPORTS;
		default:
			return -1;
	}
}

/*
 * An event has just been put into a queue slot (audit.c).  Begun rows are
 * the first half of an access whose completion is counted; a denial is
 * counted as such, whatever operation was refused.
 */
void
AuditStatsCount(const AuditEvent *ev)
{
	int64		add[SC_NCOUNTERS] = {0};
	int			op;

	if (ev->outcome == AUDIT_OUTCOME_BEGUN)
		return;
	if (ev->outcome == AUDIT_OUTCOME_DENIED)
		add[SC_DENIALS] = 1;
	else if ((op = OperationCounter(ev->operation)) >= 0)
		add[op] = 1;
	if (ev->outcome == AUDIT_OUTCOME_ERROR)
		add[SC_ERRORS] = 1;
	/* other operations use templates_compared for rows enrolled or purged */
	if (ev->operation == AUDIT_OP_COMPARE || ev->operation == AUDIT_OP_VERIFY ||
		ev->operation == AUDIT_OP_IDENTIFY || ev->operation == AUDIT_OP_CALIBRATE)
	{
		add[SC_TEMPLATES_COMPARED] = ev->templates_compared;
		add[SC_EXPIRED_SKIPPED] = ev->expired_skipped;
		add[SC_PURPOSE_SKIPPED] = ev->purpose_skipped;
		add[SC_SHAPE_SKIPPED] = ev->shape_skipped;
	}
	StatsAdd(add, 0);
}

/* A backend waited wait_us for the worker to commit one of its events. */
void
AuditStatsWait(int64 wait_us)
{
	int64		add[SC_NCOUNTERS] = {0};

	add[SC_AUDIT_WAITS] = 1;
	StatsAdd(add, Max(wait_us, 0));
}

/* Has the entry counted anything? */
static bool
StatsCounted(const StatsEntry *e)
{
	for (int i = 0; i < SC_NCOUNTERS; i++)
		if (e->counters[i] != 0)
			return true;
	return false;
}

PG_FUNCTION_INFO_V1(biocrypt_stats_state);
/* stats_state(): one row per (database, role) entry */
Datum
biocrypt_stats_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	StatsEntry *e;
	TimestampTz reset_at;

	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(stats_shared->lock, LW_SHARED);
	reset_at = stats_shared->stats_reset;
	hash_seq_init(&seq, stats_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[SC_NCOUNTERS + 5];
		bool		nulls[SC_NCOUNTERS + 5] = {0};
		StatsEntry	copy;
		int			n = 0;

		SpinLockAcquire(&e->mutex);
		copy = *e;
		SpinLockRelease(&e->mutex);
		/* the cluster's last resort shows only once it has counted */
		if (!OidIsValid(copy.key.dbid) && !StatsCounted(&copy))
			continue;
		nulls[n] = !OidIsValid(copy.key.dbid);
		values[n++] = ObjectIdGetDatum(copy.key.dbid);
		nulls[n] = !OidIsValid(copy.key.userid);
		values[n++] = ObjectIdGetDatum(copy.key.userid);
		for (int i = 0; i < SC_NCOUNTERS; i++)
			values[n++] = Int64GetDatum(copy.counters[i]);
		values[n++] = Float8GetDatum(copy.wait_total_us / 1000.0);
		values[n++] = Float8GetDatum(copy.wait_max_us / 1000.0);
		values[n++] = TimestampTzGetDatum(reset_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(stats_shared->lock);
	return (Datum) 0;
}

/* Drop every entry (biocrypt.stats_reset(), in auditqueue.c). */
void
AuditStatsResetCounters(void)
{
	HASH_SEQ_STATUS seq;
	StatsEntry *e;

	LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, stats_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
		(void) hash_search(stats_hash, &e->key, HASH_REMOVE, NULL);
	stats_shared->nroles = 0;
	(void) StatsEnter(InvalidOid, InvalidOid);
	stats_shared->stats_reset = GetCurrentTimestamp();
	LWLockRelease(stats_shared->lock);
}
