/*-------------------------------------------------------------------------
 *
 * biocrypt.c
 *		Module entry point: biocrypt must be preloaded.
 *
 * The root key is read in the postmaster while preloading, so that every
 * backend inherits it and the server refuses to start without one.  Loading
 * biocrypt any other way (CREATE EXTENSION without shared_preload_libraries)
 * is an error, which stops CREATE EXTENSION before it installs anything.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "utils/guc.h"

#include "biocrypt.h"
#include "audit/audit.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Module load: refuse unless preloaded, then set up each module. */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt must be loaded via shared_preload_libraries"),
				 errhint("Add biocrypt to shared_preload_libraries in postgresql.conf, configure biocrypt.root_key_file or biocrypt.root_key_command, and restart the server.")));
	KeysInit();
	AuditInit();
	AuditStmtInit();
	AuditGuardInit();
	PurposeInit();
	RetentionInit();
	PurgeWorkerInit();
	RotateInit();
	EnrolInit();
	CompareInit();
	MarkGUCPrefixReserved("biocrypt");
}

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
