/*-------------------------------------------------------------------------
 *
 * worker.c
 *		Describing biocrypt's background workers to the postmaster.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "postmaster/bgworker.h"

#include "core/core.h"

/*
 * Describe one of biocrypt's background workers: its type (also its name),
 * entry point, flags and restart policy.
 */
void
BiocryptWorkerInit(BackgroundWorker *bgw, const char *type, const char *function,
				   int flags, int restart_time)
{
	memset(bgw, 0, sizeof(*bgw));
	bgw->bgw_flags = flags;
	bgw->bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw->bgw_restart_time = restart_time;
	strlcpy(bgw->bgw_library_name, "biocrypt", BGW_MAXLEN);
	strlcpy(bgw->bgw_function_name, function, BGW_MAXLEN);
	strlcpy(bgw->bgw_name, type, BGW_MAXLEN);
	strlcpy(bgw->bgw_type, type, BGW_MAXLEN);
}

/*
 * A worker for database dbid (its main argument), started on demand and
 * never restarted by the postmaster: whoever needs one starts another.
 */
void
BiocryptDatabaseWorkerInit(BackgroundWorker *bgw, const char *type,
						   const char *function, Oid dbid)
{
	BiocryptWorkerInit(bgw, type, function,
					   BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION,
					   BGW_NEVER_RESTART);
	snprintf(bgw->bgw_name, BGW_MAXLEN, "%s for database %u", type, dbid);
	bgw->bgw_main_arg = ObjectIdGetDatum(dbid);
}
