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
 * call, so the work resumes where it stopped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "biocrypt.h"

#define REENCRYPT_BLOCKS		128	/* blocks read per batch */
#define REENCRYPT_NOTICE_ROWS	10000	/* progress NOTICE every so many */

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
	SPIPlanPtr	update;
} Reencrypt;

/* The retired keys of the ring, or NULL if there are none (in SPI). */
static ArrayType *
RetiredKeys(void)
{
	bool		isnull;
	Datum		ids;

	if (SPI_execute("SELECT pg_catalog.array_agg(id) FROM biocrypt.keys WHERE state = 'retired'",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: key ring query failed");
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
		elog(ERROR, "biocrypt: could not write re-encrypted templates");
	BiocryptRestoreUser(&as);
	re->moved += (int64) SPI_processed;
}

/* Re-seal the movable templates of blocks [lo, hi), in one UPDATE. */
static void
ReencryptRange(Reencrypt *re, BlockNumber lo, BlockNumber hi)
{
	const char *col = quote_identifier(re->column);
	char	   *sql = psprintf("SELECT t.ctid, t.%s FROM ONLY %s t "
							   "WHERE t.ctid >= $1 AND t.ctid < $2 AND t.%s IS NOT NULL "
							   "AND biocrypt.key_id_of(t.%s) = ANY ($3) "
							   "AND biocrypt.expires_at(t.%s) > $4",
							   col, RelationQualifiedName(re->relid), col, col, col);
	Oid			argtypes[4] = {TIDOID, TIDOID, INT4ARRAYOID, TIMESTAMPTZOID};
	Datum		args[4] = {BlockStart(lo), BlockStart(hi), re->retired,
	TimestampTzGetDatum(re->now)};
	SPITupleTable *found;
	uint64		nfound;
	Datum	   *tids;
	Datum	   *tpls;
	int			n = 0;

	if (SPI_execute_with_args(sql, 4, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: could not scan %s", RelationQualifiedName(re->relid));
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
	/* the batch's ciphertexts: do not keep them until the end of the call */
	SPI_freetuptable(found);
	while (re->moved >= re->next_notice)
	{
		ereport(NOTICE,
				(errmsg("biocrypt: reencrypt %s.%s: " INT64_FORMAT " templates moved, block %u of %u",
						RelationQualifiedName(re->relid), col, re->moved,
						hi, re->nblocks)));
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
	Oid			types[2];

	re->typid = get_atttype(re->relid, get_attnum(re->relid, re->column));
	types[0] = TIDARRAYOID;
	types[1] = get_array_type(re->typid);
	re->update = SPI_prepare(psprintf("UPDATE ONLY %s t SET %s = x.v "
									  "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) x(tid, v) "
									  "WHERE t.ctid = x.tid",
									  RelationQualifiedName(re->relid),
									  quote_identifier(re->column)), 2, types);
	if (re->update == NULL)
		elog(ERROR, "biocrypt: could not prepare the re-encryption update");
	for (BlockNumber lo = 0; lo < re->nblocks; lo += REENCRYPT_BLOCKS)
	{
		MemoryContext old = MemoryContextSwitchTo(batch);

		CHECK_FOR_INTERRUPTS();
		ReencryptRange(re, lo, Min(lo + REENCRYPT_BLOCKS, re->nblocks));
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch);
		if (re->limit >= 0 && re->moved >= re->limit)
			break;
	}
	MemoryContextDelete(batch);
}

PG_FUNCTION_INFO_V1(biocrypt_reencrypt);
/* reencrypt(tbl, col, max_rows): templates moved to active keys */
Datum
biocrypt_reencrypt(PG_FUNCTION_ARGS)
{
	Reencrypt	re;
	BiocryptSpi spi;
	ArrayType  *retired;
	Relation	rel;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: tbl and col must not be NULL")));
	memset(&re, 0, sizeof(re));
	re.relid = PG_GETARG_OID(0);
	re.column = NameStr(*PG_GETARG_NAME(1));
	re.limit = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT64(2);
	if (!PG_ARGISNULL(2) && re.limit <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: max_rows must be positive")));
	(void) CheckTemplateColumn(re.relid, re.column);
	re.now = GetCurrentTimestamp();
	re.next_notice = REENCRYPT_NOTICE_ROWS;
	rel = table_open(re.relid, RowExclusiveLock);
	re.nblocks = RelationGetNumberOfBlocks(rel);
	table_close(rel, NoLock);

	AuditRequireWorker();
	BiocryptSpiBegin(&spi);
	retired = RetiredKeys();
	if (retired != NULL)
	{
		re.retired = PointerGetDatum(retired);
		ReencryptTable(&re);
	}
	BiocryptSpiEnd(&spi);
	AuditRecordEventJson(AUDIT_OP_ROTATE, re.relid, re.column, re.moved,
						 "[{\"action\": \"reencrypt\"}]");
	PG_RETURN_INT64(re.moved);
}
