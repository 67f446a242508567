/*-------------------------------------------------------------------------
 *
 * biocrypt.c
 *		Module entry point: settings in order, and one dispatcher for each
 *		server hook, which calls the layers below (docs/architecture.md).
 *
 * The root key is read in the postmaster while preloading, so that every
 * backend inherits it and the server refuses to start without one.  Loading
 * biocrypt any other way (CREATE EXTENSION without shared_preload_libraries)
 * is an error, which stops CREATE EXTENSION before it installs anything.
 *
 * Hooks live here only, so that no layer calls up into another to be told
 * of a statement: the executor and utility hooks tell audit/ when queries
 * run and fail (with the error's SQLSTATE, caught on its way out), and tell
 * lifecycle/ of renamed columns and dropped roles.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "tcop/utility.h"

#include "audit/audit.h"
#include "core/core.h"
#include "crypto/keys.h"
#include "gallery/gallery.h"
#include "lifecycle/lifecycle.h"
#include "match/match.h"
#include "template/template.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;
static ExecutorRun_hook_type prev_run = NULL;
static ExecutorFinish_hook_type prev_finish = NULL;
static ExecutorEnd_hook_type prev_end = NULL;
static ProcessUtility_hook_type prev_utility = NULL;
static emit_log_hook_type prev_emit_log = NULL;
static object_access_hook_type prev_object_access = NULL;

/*
 * Shared memory is requested once, in the postmaster, after every library
 * in shared_preload_libraries has run its _PG_init: the first moment at
 * which the settings of modules preloaded after biocrypt (auto_explain.*,
 * pgaudit.*) are defined with their values, and before any client can
 * connect.  So the leak guard warns here, once per start (the audit
 * launcher warns at a reload of what became severe since).
 */
static void
BiocryptShmemRequest(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	AuditShmemRequest();
	AuditStatsShmemRequest();
	RotateShmemRequest();
	ProgressShmemRequest();
	DisclosureShmemRequest();
	GalleryShmemRequest();
	GalleryHelpersShmemRequest();
	if (!IsUnderPostmaster)
		ConfigWarnSevere(false);
}

static void
BiocryptShmemStartup(void)
{
	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	AuditShmemStartup();
	AuditStatsShmemStartup();
	RotateShmemStartup();
	ProgressShmemStartup();
	DisclosureShmemStartup();
	GalleryShmemStartup();
	GalleryHelpersShmemStartup();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Run and Finish: the audit follows which query a comparison belongs to,
 * and catches an error's SQLSTATE on its way out for the events it fails.
 */
static void
BiocryptExecutorRun(QueryDesc *qd, ScanDirection dir, uint64 count,
					bool execute_once)
{
	int			depth;

	AuditExportQueryBegin(qd);
	depth = AuditExecBegin(qd);
	PG_TRY();
	{
		if (prev_run)
			prev_run(qd, dir, count, execute_once);
		else
			standard_ExecutorRun(qd, dir, count, execute_once);
	}
	PG_CATCH();
	{
		AuditExecEnd(depth, geterrcode());
		PG_RE_THROW();
	}
	PG_END_TRY();
	AuditExecEnd(depth, 0);
}

static void
BiocryptExecutorFinish(QueryDesc *qd)
{
	int			depth = AuditExecBegin(qd);

	PG_TRY();
	{
		if (prev_finish)
			prev_finish(qd);
		else
			standard_ExecutorFinish(qd);
	}
	PG_CATCH();
	{
		AuditExecEnd(depth, geterrcode());
		PG_RE_THROW();
	}
	PG_END_TRY();
	AuditExecEnd(depth, 0);
}

/* End: the query's events are recorded once its parallel workers are done. */
static void
BiocryptExecutorEnd(QueryDesc *qd)
{
	uint64		rows = qd->estate != NULL ? qd->estate->es_processed : 0;

	PG_TRY();
	{
		if (prev_end)
			prev_end(qd);
		else
			standard_ExecutorEnd(qd);
	}
	PG_CATCH();
	{
		AuditNoteError(geterrcode());
		PG_RE_THROW();
	}
	PG_END_TRY();
	AuditExportQueryEnd(qd, rows);
	AuditExecDone(qd);
	EnrolProgressEnd(qd);
}

/*
 * Utility statements: the guards refuse what would get around the audit or
 * switch a column policy off;
 * COPY TO is recorded; a renamed template column keeps its policy, and a
 * dropped role's purpose grants go with it.
 */
static void
BiocryptProcessUtility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	Oid			copied;

	AuditGuardUtility(pstmt);
	PolicyGuardUtility(pstmt);
	copied = AuditUtilityBegin(pstmt);
	PG_TRY();
	{
		if (prev_utility)
			prev_utility(pstmt, queryString, readOnlyTree, context, params,
						 queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		AuditNoteError(geterrcode());
		PG_RE_THROW();
	}
	PG_END_TRY();
	AuditUtilityEnd(copied, qc);
	EnrolProgressEnd(NULL);
	if (IsA(stmt, DropRoleStmt) && IsTransactionState())
		PurposeForgetDroppedRoles();
	if (IsA(stmt, RenameStmt) && IsTransactionState())
		PolicyFollowRename((RenameStmt *) stmt);
	AuditStatementDone();
}

/*
 * The SQLSTATE of errors the dispatchers above cannot catch: a FATAL (a
 * terminated backend, a lost connection) ends the process without
 * returning to any PG_CATCH, and an ERROR may come outside an executor or
 * utility statement (at commit, say).  This hook sees them when they go to
 * the server log, which FATAL always does unless log_min_messages = panic.
 */
static void
BiocryptEmitLog(ErrorData *edata)
{
	if (edata->elevel >= ERROR)
		AuditNoteError(edata->sqlerrcode);
	if (prev_emit_log)
		prev_emit_log(edata);
}

/*
 * A dropped index or database takes its warm galleries with it at once
 * (a DROP that rolls back only costs a warm-up).
 */
static void
BiocryptObjectAccess(ObjectAccessType access, Oid classId, Oid objectId,
					 int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
	if (access != OAT_DROP)
		return;
	if (classId == RelationRelationId && subId == 0)
		GalleryEvictIndex(objectId);
	else if (classId == DatabaseRelationId)
		GalleryEvictDatabase(objectId);
}

static void
InstallHooks(void)
{
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = BiocryptShmemRequest;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = BiocryptShmemStartup;
	prev_run = ExecutorRun_hook;
	ExecutorRun_hook = BiocryptExecutorRun;
	prev_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = BiocryptExecutorFinish;
	prev_end = ExecutorEnd_hook;
	ExecutorEnd_hook = BiocryptExecutorEnd;
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = BiocryptProcessUtility;
	prev_emit_log = emit_log_hook;
	emit_log_hook = BiocryptEmitLog;
	prev_object_access = object_access_hook;
	object_access_hook = BiocryptObjectAccess;
}

/*
 * Module load: refuse unless preloaded; read the root key; define the
 * settings, lowest layer first; hooks; then the background workers.
 */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt must be loaded via shared_preload_libraries"),
				 errhint("Add biocrypt to shared_preload_libraries in postgresql.conf, configure biocrypt.root_key_file or biocrypt.root_key_command, and restart the server.")));
	SessionInit();
	RemoteInit();
	KeysInit();
	ExpiryInit();
	AuditInit();
	AuditStatsInit();
	AuditStmtInit();
	AuditGuardInit();
	CompareInit();
	DisclosureInit();
	GalleryInit();
	GalleryHelpersInit();
	GalleryScoreInit();
	EnrolInit();
	InstallHooks();
	AuditRegisterLauncher();
	PurgeWorkerInit();
	MarkGUCPrefixReserved("biocrypt");
}
