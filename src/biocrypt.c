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
#include "utils/guc.h"

#include "biocrypt.h"
#include "audit.h"

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
