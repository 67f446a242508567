/*-------------------------------------------------------------------------
 *
 * purgeworker.c
 *		The purge launcher and the per-database purge workers.
 *
 * The purge launcher is a static background worker.  Every
 * biocrypt.purge_interval it lists the databases that accept connections
 * and, one at a time, starts a purge worker in each.  The worker looks for
 * the extension there and, if it is installed, runs the same purge as
 * biocrypt.purge_expired() in one transaction, then exits.  Nothing needs
 * configuring per database: a database where the extension is created later
 * is purged from the next round on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/core.h"
#include "crypto/keys.h"
#include "lifecycle/lifecycle.h"
#include "template/template.h"

#define PURGE_LOCK_TIMEOUT	"60s"

static int	biocrypt_purge_interval = 3600;	/* seconds */

/* Register the purge launcher (while preloading). */
static void
RegisterPurgeLauncher(void)
{
	BackgroundWorker bgw;

	BiocryptWorkerInit(&bgw, "biocrypt purge launcher", "biocrypt_purge_launcher_main",
					   BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION, 10);
	RegisterBackgroundWorker(&bgw);
}

/* The databases a purge worker can connect to. */
static List *
PurgeableDatabases(void)
{
	List	   *dbs = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (db->datallowconn && !db->datistemplate)
			dbs = lappend_oid(dbs, db->oid);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return dbs;
}

/* Run one purge worker in database dbid and wait until it is done. */
static void
PurgeDatabase(Oid dbid)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;

	BiocryptDatabaseWorkerInit(&bgw, "biocrypt purge worker", "biocrypt_purge_worker_main",
							   dbid);
	bgw.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
	{
		ereport(WARNING,
				(errmsg("biocrypt: could not start the purge worker for database %u", dbid),
				 errhint("Raise max_worker_processes."),
				 errhidestmt(true), errhidecontext(true)));
		return;
	}
	(void) WaitForBackgroundWorkerShutdown(handle);
}

/* Sleep until the next round is due (or a shutdown request). */
static void
WaitForNextRound(TimestampTz due)
{
	while (!ShutdownRequestPending)
	{
		long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), due);

		if (ms <= 0)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		/* answer barriers (DROP DATABASE waits for every connected process) */
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* a shorter interval applies to the round already waited for */
			due = Min(due, TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   biocrypt_purge_interval * 1000L));
		}
	}
}

/* The launcher: every biocrypt.purge_interval, purge each database. */
void
biocrypt_purge_launcher_main(Datum arg)
{
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	/* no database: pg_database is shared, and that is all it reads */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("biocrypt purge launcher");
	while (!ShutdownRequestPending)
	{
		TimestampTz due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  biocrypt_purge_interval * 1000L);
		ListCell   *lc;

		WaitForNextRound(due);
		if (ShutdownRequestPending)
			break;
		foreach(lc, PurgeableDatabases())
		{
			PurgeDatabase(lfirst_oid(lc));
			CHECK_FOR_INTERRUPTS();
			if (ShutdownRequestPending)
				break;
		}
	}
	/* exit non-zero: the postmaster restarts a launcher that was stopped */
	proc_exit(1);
}

/* A purge worker: purge its database if the extension is installed. */
void
biocrypt_purge_worker_main(Datum arg)
{
	Oid			dbid = DatumGetObjectId(arg);

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	SetConfigOption("application_name", "biocrypt purge worker", PGC_USERSET, PGC_S_SESSION);
	/* a table locked for long fails its own purge, not every database's */
	SetConfigOption("lock_timeout", PURGE_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("biocrypt purge worker");

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(BiocryptExtensionOid()))
	{
		int64		purged;

		pgstat_report_activity(STATE_RUNNING, "biocrypt: purging expired templates");
		purged = RetentionPurge();
		if (purged > 0)
			ereport(LOG,
					(errmsg("biocrypt: purge removed " INT64_FORMAT " expired templates", purged)));
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}

/* Define biocrypt.purge_interval and register the launcher. */
void
PurgeWorkerInit(void)
{
	DefineCustomIntVariable("biocrypt.purge_interval",
							"Time between two runs of the purge in every database.",
							NULL, &biocrypt_purge_interval, 3600, 1, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	if (process_shared_preload_libraries_in_progress)
		RegisterPurgeLauncher();
}
