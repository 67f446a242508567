/*-------------------------------------------------------------------------
 *
 * erasure.c
 *		Erased subjects, so that an old copy of a template is never
 *		written back.
 *
 * erase_subject() removes a subject's templates, but a copy taken before
 * (a dump, a client's cache, a base64 text) could be inserted again and
 * would verify as before.  So each erasure leaves a row in
 * biocrypt.erasures, and the column policy's check trigger refuses a
 * template whose subject was erased at or after the template was sealed
 * (its created time, in the authenticated header).  A template sealed
 * after the erasure, a new enrolment, is allowed.
 *
 * The row holds a keyed hash of the subject (UTF-8, as in the header),
 * not the subject: keeping an erased person's identifier in clear would
 * undo part of the erasure.  The key is derived from the audit chain key,
 * which outlives root-key changes (crypto/chainkey.c).
 *
 * Locking: the check trigger holds ROW EXCLUSIVE on biocrypt.erasures
 * until its transaction ends; erase_subject takes SHARE ROW EXCLUSIVE
 * before it looks for templates.  So a write in flight is committed (and
 * found by the erasure) or waits for the erasure (and sees its row).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/core.h"
#include "crypto/keys.h"
#include "lifecycle/policy_internal.h"

/* The subject hash as a bytea. */
static bytea *
HashBytea(const char *utf8, size_t len)
{
	bytea	   *out = palloc(VARHDRSZ + BIOCRYPT_KEY_BYTES);

	SET_VARSIZE(out, VARHDRSZ + BIOCRYPT_KEY_BYTES);
	KeysSubjectHash((uint8 *) VARDATA(out), utf8, len);
	return out;
}

/*
 * Record that subject was erased at erased_at (in SPI), after locking out
 * the writes in flight (see above).
 */
void
ErasureRecord(text *subject, TimestampTz erased_at)
{
	const char *s = text_to_cstring(subject);
	const char *utf8 = pg_server_to_any(s, strlen(s), PG_UTF8);
	Oid			argtypes[2] = {BYTEAOID, TIMESTAMPTZOID};
	Datum		args[2];

	LockRelationOid(BiocryptRelid("erasures"), ShareRowExclusiveLock);
	args[0] = PointerGetDatum(HashBytea(utf8, strlen(utf8)));
	args[1] = TimestampTzGetDatum(erased_at);
	if (SPI_execute_with_args("INSERT INTO biocrypt.erasures AS e (subject_hash, erased_at) "
							  "VALUES ($1, $2) ON CONFLICT (subject_hash) DO UPDATE "
							  "SET erased_at = greatest(e.erased_at, excluded.erased_at)",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not write biocrypt.erasures"),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * When hdr's subject was last erased (DT_NOBEGIN: never).  Read through
 * the primary key's index with the latest snapshot, not by SPI: a query
 * would end an executor, and that records the loose audit events of a
 * statement run by none (COPY FROM) once per row.  Holds ROW EXCLUSIVE on
 * biocrypt.erasures until the transaction ends, so that an erasure waits
 * for the write being checked.
 */
TimestampTz
ErasureLastErased(const EnvelopeHeader *hdr)
{
	Relation	rel = table_open(BiocryptRelid("erasures"), RowExclusiveLock);
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	bytea	   *hash = HashBytea(hdr->subject, hdr->subject_len);
	TimestampTz at = DT_NOBEGIN;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(hash));
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true, snap, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);

		if (!isnull)
			at = DatumGetTimestampTz(d);
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, NoLock);
	return at;
}

/*
 * Refuse a template (written to column c of relid) whose subject was
 * erased (at erased_at, from ErasureLastErased) at or after it was sealed.
 */
void
ErasureCheck(const EnvelopeHeader *hdr, TimestampTz erased_at,
			 const ColumnPolicy *c, Oid relid)
{
	if (erased_at < (TimestampTz) hdr->created)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("biocrypt: template written to column \"%s\" of table \"%s\" was sealed before its subject was erased",
					c->column, get_rel_name(relid)),
			 errdetail("A template sealed before its subject's erasure may not be stored again."),
			 errhint("Enrol the subject anew, with consent, to store a template."),
			 errhidestmt(true), errhidecontext(true)));
}
