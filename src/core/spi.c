/*-------------------------------------------------------------------------
 *
 * spi.c
 *		Running SQL as another role: the extension's own SQL as the
 *		bootstrap superuser, a table's maintenance as its owner.
 *
 * Either way the switch is a security-restricted operation with
 * search_path pinned to pg_catalog, so neither the caller's privileges nor
 * its search_path reach the SQL that runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "core/core.h"

/*
 * Become role user in a security-restricted operation with search_path
 * pinned to pg_catalog, saving what BiocryptRestoreUser restores.
 */
static void
SwitchUser(BiocryptSpi *st, Oid user)
{
	GetUserIdAndSecContext(&st->save_userid, &st->save_sec_context);
	SetUserIdAndSecContext(user, st->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	st->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/* Back to the identity and settings SwitchUser saved. */
void
BiocryptRestoreUser(BiocryptSpi *st)
{
	AtEOXact_GUC(true, st->save_nestlevel);
	SetUserIdAndSecContext(st->save_userid, st->save_sec_context);
}

/*
 * Enter the extension's own SQL (key ring, purpose grants): SPI as the
 * bootstrap superuser with a pinned search_path, whoever the caller is.
 */
void
BiocryptSpiBegin(BiocryptSpi *st)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: SPI_connect failed"),
				 errhidestmt(true), errhidecontext(true)));
	SwitchUser(st, BOOTSTRAP_SUPERUSERID);
}

/* Leave the extension's SQL, restoring the caller's identity and settings. */
void
BiocryptSpiEnd(BiocryptSpi *st)
{
	BiocryptRestoreUser(st);
	SPI_finish();
}

/*
 * Run a table's maintenance (purge, erasure, re-encryption) as its owner,
 * the way VACUUM and REFRESH MATERIALIZED VIEW do: the table's triggers
 * then never run with the extension's privileges.
 */
void
BiocryptBecomeOwner(BiocryptAsOwner *st, Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errmsg_internal("biocrypt: cache lookup failed for relation %u", relid),
				 errhidestmt(true), errhidecontext(true)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	SwitchUser(st, owner);
}

/*
 * Run a read-only query as the calling role, every row to dest: a search
 * reads a table with the caller's privileges and row-level security, and
 * sees the rows its snapshot sees.
 */
void
SpiScanAsCaller(const char *query, DestReceiver *dest)
{
	SPIExecuteOptions opts;

	memset(&opts, 0, sizeof(opts));
	opts.read_only = true;
	opts.dest = dest;
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: SPI_connect failed"),
				 errhidestmt(true), errhidecontext(true)));
	if (SPI_execute_extended(query, &opts) < 0)
		ereport(ERROR,
				(errmsg_internal("biocrypt: scan of a template column failed"),
				 errhidestmt(true), errhidecontext(true)));
	SPI_finish();
}
