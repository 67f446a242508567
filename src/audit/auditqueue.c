/*-------------------------------------------------------------------------
 *
 * auditqueue.c
 *		The audit queue as each database uses it (biocrypt.audit_queue),
 *		and biocrypt.stats_reset(), which restarts the counters of
 *		auditstats.c and the queue's high-water marks.
 *
 * The queue is one array of slots shared by every database (audit.c): a
 * full queue refuses accesses in all of them.  So the view shows, for each
 * database with an audit worker entry, its own events in the queue now and
 * at most, beside the whole queue's depth, high-water mark and size.  The
 * marks are raised by audit.c under the queue's lock as each slot fills;
 * the view and the reset take the same lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"

#include "audit/audit_internal.h"

static const char *const worker_state_names[] = {
	"none", "requested", "starting", "running"
};

PG_FUNCTION_INFO_V1(biocrypt_audit_queue_state);
/* audit_queue_state(): one row per database with an audit entry */
Datum
biocrypt_audit_queue_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			queue_depth;
	int			queue_max;

	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(audit_shared->lock, LW_SHARED);
	queue_depth = AuditQueueDepth(InvalidOid);
	queue_max = audit_shared->depth_max;
	for (int i = 0; i < AUDIT_MAX_DATABASES; i++)
	{
		const AuditDatabase *db = &audit_shared->dbs[i];
		Datum		values[8];
		bool		nulls[8] = {0};

		if (db->dbid == InvalidOid)
			continue;
		values[0] = ObjectIdGetDatum(db->dbid);
		values[1] = CStringGetTextDatum(worker_state_names[db->state]);
		nulls[2] = db->state != WORKER_RUNNING;
		values[2] = Int32GetDatum(db->pid);
		values[3] = Int32GetDatum(AuditQueueDepth(db->dbid));
		values[4] = Int32GetDatum(db->depth_max);
		values[5] = Int32GetDatum(queue_depth);
		values[6] = Int32GetDatum(queue_max);
		values[7] = Int32GetDatum(AUDIT_QUEUE_SLOTS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(audit_shared->lock);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(biocrypt_stats_reset);
/* stats_reset(): every entry goes, the high-water marks start again */
Datum
biocrypt_stats_reset(PG_FUNCTION_ARGS)
{
	AuditStatsResetCounters();

	/* the marks restart from what the queue holds now */
	LWLockAcquire(audit_shared->lock, LW_EXCLUSIVE);
	audit_shared->depth_max = AuditQueueDepth(InvalidOid);
	for (int i = 0; i < AUDIT_MAX_DATABASES; i++)
		if (audit_shared->dbs[i].dbid != InvalidOid)
			audit_shared->dbs[i].depth_max = AuditQueueDepth(audit_shared->dbs[i].dbid);
	LWLockRelease(audit_shared->lock);
	PG_RETURN_VOID();
}
