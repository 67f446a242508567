/*-------------------------------------------------------------------------
 *
 * rotate.c
 *		Re-encryption of a column's templates after biocrypt.rotate_key().
 *
 * reencrypt(tbl, col) walks the table in block ranges.  In each range it
 * reads, as the extension, the templates sealed under retired keys that
 * have not expired, re-seals them in C under the active key of their epoch
 * (same subject, expiry and purposes; the plaintext lives only in locked
 * memory), and writes them back by ctid as the table's owner, one UPDATE
 * per range.  A row
 * changed in between keeps its old template for the next run.  A call may
 * stop after max_rows templates; moved templates are skipped by the next
 * call, so the work resumes where it stopped.  While it runs, its progress
 * shows in the view biocrypt.reencrypt_progress (like pg_stat_progress_*),
 * from a small array in shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "core/core.h"
#include "crypto/keys.h"
#include "lifecycle/lifecycle.h"
#include "template/template.h"

#define REENCRYPT_BLOCKS		128	/* blocks read per batch */
#define REENCRYPT_NOTICE_ROWS	10000	/* progress NOTICE every so many */
#define PROGRESS_SLOTS			32	/* reencrypt() calls shown at once */

/* One running reencrypt(), as biocrypt.reencrypt_progress shows it. */
typedef struct ProgressSlot
{
	int			pid;			/* 0: free */
	Oid			dbid;
	Oid			relid;
	NameData	column;
	TimestampTz started_at;
	int64		blocks_total;
	int64		blocks_done;
	int64		moved;
} ProgressSlot;

typedef struct ProgressShared
{
	slock_t		mutex;
	ProgressSlot slots[PROGRESS_SLOTS];
} ProgressShared;

static ProgressShared *progress = NULL;

typedef struct Reencrypt
{
	Oid			relid;
	const char *column;
	Datum		retired;		/* int4[] of retired key ids */
	TimestampTz now;
	int64		limit;			/* -1: no limit */
	int64		moved;
	int64		next_notice;
	BlockNumber nblocks;
	Oid			typid;			/* protected_template */
	char	   *relname;		/* schema.table, quoted */
	SPIPlanPtr	select;			/* the movable templates of a block range */
	SPIPlanPtr	update;			/* their re-sealed values, back by ctid */
	ProgressSlot *progress;		/* NULL: not shown */
} Reencrypt;

/* Shared memory behind biocrypt.reencrypt_progress (shmem_request_hook). */
void
RotateShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(ProgressShared)));
}

/* Attach it (shmem_startup_hook, under AddinShmemInitLock). */
void
RotateShmemStartup(void)
{
	bool		found;

	progress = ShmemInitStruct("biocrypt reencrypt progress", sizeof(ProgressShared), &found);
	if (!found)
	{
		memset(progress, 0, sizeof(ProgressShared));
		SpinLockInit(&progress->mutex);
	}
}

/* A backend that exits in the middle of a call gives its slot back. */
static void
ProgressAtExit(int code, Datum arg)
{
	SpinLockAcquire(&progress->mutex);
	for (int i = 0; i < PROGRESS_SLOTS; i++)
		if (progress->slots[i].pid == MyProcPid)
			progress->slots[i].pid = 0;
	SpinLockRelease(&progress->mutex);
}

/*
 * Take a progress slot for this call, or NULL when all are in use (the
 * call then runs unreported).
 */
static ProgressSlot *
ProgressBegin(const Reencrypt *re)
{
	static bool exit_registered = false;
	ProgressSlot *mine = NULL;
	ProgressSlot filled;

	if (!exit_registered)
	{
		before_shmem_exit(ProgressAtExit, (Datum) 0);
		exit_registered = true;
	}

	memset(&filled, 0, sizeof(filled));
	filled.pid = MyProcPid;
	filled.dbid = MyDatabaseId;
	filled.relid = re->relid;
	namestrcpy(&filled.column, re->column);
	filled.started_at = GetCurrentTimestamp();
	filled.blocks_total = re->nblocks;
	SpinLockAcquire(&progress->mutex);
	for (int i = 0; i < PROGRESS_SLOTS && mine == NULL; i++)
		if (progress->slots[i].pid == 0 || progress->slots[i].pid == MyProcPid)
			mine = &progress->slots[i];
	if (mine != NULL)
		*mine = filled;
	SpinLockRelease(&progress->mutex);
	return mine;
}

static void
ProgressUpdate(ProgressSlot *slot, const Reencrypt *re, BlockNumber done)
{
	if (slot == NULL)
		return;
	SpinLockAcquire(&progress->mutex);
	slot->blocks_done = done;
	slot->moved = re->moved;
	SpinLockRelease(&progress->mutex);
}

static void
ProgressEnd(ProgressSlot *slot)
{
	if (slot == NULL)
		return;
	SpinLockAcquire(&progress->mutex);
	slot->pid = 0;
	SpinLockRelease(&progress->mutex);
}

PG_FUNCTION_INFO_V1(biocrypt_reencrypt_progress);
/* reencrypt_progress(): one row per reencrypt() running in the cluster */
Datum
biocrypt_reencrypt_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ProgressSlot copy[PROGRESS_SLOTS];

	InitMaterializedSRF(fcinfo, 0);
	SpinLockAcquire(&progress->mutex);
	memcpy(copy, progress->slots, sizeof(copy));
	SpinLockRelease(&progress->mutex);
	for (int i = 0; i < PROGRESS_SLOTS; i++)
	{
		Datum		values[8];
		bool		nulls[8] = {0};

		if (copy[i].pid == 0 || kill(copy[i].pid, 0) != 0)
			continue;
		values[0] = Int32GetDatum(copy[i].pid);
		values[1] = ObjectIdGetDatum(copy[i].dbid);
		values[2] = ObjectIdGetDatum(copy[i].relid);
		values[3] = NameGetDatum(&copy[i].column);
		values[4] = TimestampTzGetDatum(copy[i].started_at);
		values[5] = Int64GetDatum(copy[i].blocks_total);
		values[6] = Int64GetDatum(copy[i].blocks_done);
		values[7] = Int64GetDatum(copy[i].moved);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* The retired keys of the ring, or NULL if there are none (in SPI). */
static ArrayType *
RetiredKeys(void)
{
	bool		isnull;
	Datum		ids;

	if (SPI_execute("SELECT pg_catalog.array_agg(id) FROM biocrypt.keys WHERE state = 'retired'",
					true, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring query failed"),
				 errhidestmt(true), errhidecontext(true)));
	ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : DatumGetArrayTypePCopy(ids);
}

/* A tid value for block blk, offset 0 (the start of a block range). */
static Datum
BlockStart(BlockNumber blk)
{
	ItemPointer tid = palloc(sizeof(ItemPointerData));

	ItemPointerSet(tid, blk, 0);
	return PointerGetDatum(tid);
}

/* Write re-sealed templates back by ctid, as the table's owner. */
static void
WriteBack(Reencrypt *re, Datum *tids, Datum *tpls, int n)
{
	Datum		args[2];
	BiocryptAsOwner as;

	args[0] = PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData),
											  false, TYPALIGN_SHORT));
	args[1] = PointerGetDatum(construct_array(tpls, n, re->typid, -1, false, TYPALIGN_INT));
	BiocryptBecomeOwner(&as, re->relid);
	if (SPI_execute_plan(re->update, args, NULL, false, 0) != SPI_OK_UPDATE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not write re-encrypted templates"),
				 errhidestmt(true), errhidecontext(true)));
	BiocryptRestoreUser(&as);
	re->moved += (int64) SPI_processed;
	pfree(DatumGetPointer(args[0]));
	pfree(DatumGetPointer(args[1]));
}

/* Re-seal the movable templates of blocks [lo, hi), in one UPDATE. */
static void
ReencryptRange(Reencrypt *re, BlockNumber lo, BlockNumber hi)
{
	Datum		args[4] = {BlockStart(lo), BlockStart(hi), re->retired,
	TimestampTzGetDatum(re->now)};
	MemoryContext batch = CurrentMemoryContext;
	SPITupleTable *found;
	uint64		nfound;
	Datum	   *tids;
	Datum	   *tpls;
	int			n = 0;

	if (SPI_execute_plan(re->select, args, NULL, false, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not scan %s", re->relname),
				 errhidestmt(true), errhidecontext(true)));
	/* SPI returns in its own context, which lives until the end of the call */
	MemoryContextSwitchTo(batch);
	found = SPI_tuptable;
	nfound = SPI_processed;
	tids = palloc(sizeof(Datum) * Max(nfound, 1));
	tpls = palloc(sizeof(Datum) * Max(nfound, 1));
	for (uint64 i = 0; i < nfound; i++)
	{
		bool		isnull;
		bytea	   *tpl;
		EnvelopeHeader hdr;

		if (re->limit >= 0 && re->moved + n >= re->limit)
			break;
		tpl = DatumGetProtectedTemplateP(SPI_getbinval(found->vals[i], found->tupdesc,
													   2, &isnull));
		ParseTemplate(tpl, &hdr);
		if (RetentionIsExpired(&hdr))
			continue;			/* expired since: never decrypted */
		tids[n] = SPI_getbinval(found->vals[i], found->tupdesc, 1, &isnull);
		tpls[n] = PointerGetDatum(ResealTemplate(tpl, &hdr));
		n++;
	}
	if (n > 0)
		WriteBack(re, tids, tpls, n);
	MemoryContextSwitchTo(batch);
	/* the batch's ciphertexts: do not keep them until the end of the call */
	SPI_freetuptable(found);
	while (re->moved >= re->next_notice)
	{
		ereport(NOTICE,
				(errmsg("biocrypt: reencrypt %s.%s: " INT64_FORMAT " templates moved, block %u of %u",
						re->relname, quote_identifier(re->column), re->moved,
						hi, re->nblocks),
				 errhidestmt(true), errhidecontext(true)));
		re->next_notice += REENCRYPT_NOTICE_ROWS;
	}
}

/* Walk the whole table in block ranges, within re->limit. */
static void
ReencryptTable(Reencrypt *re)
{
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext,
												"biocrypt reencrypt batch",
												ALLOCSET_DEFAULT_SIZES);
	const char *col = quote_identifier(re->column);
	Oid			select_types[4] = {TIDOID, TIDOID, INT4ARRAYOID, TIMESTAMPTZOID};
	Oid			update_types[2];

	re->relname = RelationQualifiedName(re->relid);
	re->typid = get_atttype(re->relid, get_attnum(re->relid, re->column));
	update_types[0] = TIDARRAYOID;
	update_types[1] = get_array_type(re->typid);
	/* both planned once, run once per range of blocks */
	re->select = SPI_prepare(psprintf("SELECT t.ctid, t.%s FROM ONLY %s t "
									  "WHERE t.ctid >= $1 AND t.ctid < $2 AND t.%s IS NOT NULL "
									  "AND biocrypt.key_id_of(t.%s) = ANY ($3) "
									  "AND biocrypt.expires_at(t.%s) > $4",
									  col, re->relname, col, col, col), 4, select_types);
	re->update = SPI_prepare(psprintf("UPDATE ONLY %s t SET %s = x.v "
									  "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) x(tid, v) "
									  "WHERE t.ctid = x.tid",
									  re->relname, col), 2, update_types);
	if (re->select == NULL || re->update == NULL)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not prepare the re-encryption queries"),
				 errhidestmt(true), errhidecontext(true)));
	for (BlockNumber lo = 0; lo < re->nblocks; lo += REENCRYPT_BLOCKS)
	{
		MemoryContext old = MemoryContextSwitchTo(batch);

		CHECK_FOR_INTERRUPTS();
		ReencryptRange(re, lo, Min(lo + REENCRYPT_BLOCKS, re->nblocks));
		ProgressUpdate(re->progress, re, Min(lo + REENCRYPT_BLOCKS, re->nblocks));
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch);
		if (re->limit >= 0 && re->moved >= re->limit)
			break;
	}
	MemoryContextDelete(batch);
}

/* ReencryptTable, shown in biocrypt.reencrypt_progress while it runs. */
static void
ReencryptShown(Reencrypt *re)
{
	re->progress = ProgressBegin(re);
	PG_TRY();
	{
		ReencryptTable(re);
	}
	PG_FINALLY();
	{
		ProgressEnd(re->progress);
	}
	PG_END_TRY();
}

/* The body of reencrypt(). */
static Datum
ReencryptRequest(PG_FUNCTION_ARGS)
{
	Reencrypt	re;
	BiocryptSpi spi;
	ArrayType  *retired;
	Relation	rel;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: tbl and col must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	memset(&re, 0, sizeof(re));
	re.relid = PG_GETARG_OID(0);
	re.column = NameStr(*PG_GETARG_NAME(1));
	re.limit = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT64(2);
	if (!PG_ARGISNULL(2) && re.limit <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: max_rows must be positive"),
				 errhidestmt(true), errhidecontext(true)));
	/* lock first: the checked column cannot change type until we are done */
	rel = table_open(re.relid, RowExclusiveLock);
	(void) CheckTemplateColumn(re.relid, re.column);
	re.nblocks = RelationGetNumberOfBlocks(rel);
	table_close(rel, NoLock);
	re.now = GetCurrentTimestamp();
	re.next_notice = REENCRYPT_NOTICE_ROWS;

	AuditRequireWorker();
	BiocryptSpiBegin(&spi);
	retired = RetiredKeys();
	if (retired != NULL)
	{
		re.retired = PointerGetDatum(retired);
		ReencryptShown(&re);
	}
	BiocryptSpiEnd(&spi);
	AuditRecordEventJson(AUDIT_OP_ROTATE, re.relid, re.column, re.moved,
						 "[{\"action\": \"reencrypt\"}]");
	PG_RETURN_INT64(re.moved);
}

PG_FUNCTION_INFO_V1(biocrypt_reencrypt);
/* reencrypt(tbl, col, max_rows): templates moved to active keys */
Datum
biocrypt_reencrypt(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_ROTATE, ReencryptRequest);
}
