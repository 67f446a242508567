/*-------------------------------------------------------------------------
 *
 * auditchain.c
 *		The audit log's HMAC chain: canonical row encoding, verify_audit().
 *
 * row_hash = HMAC-SHA-256(audit key, canonical encoding of every column
 * but xact_outcome and row_hash, prev_hash last).  The key is derived from
 * the root key, so SQL can neither recompute nor forge it.  The encoding
 * (base/auditenc.c) depends only on stored values, never on settings such
 * as DateStyle or extra_float_digits: integers and timestamps as
 * big-endian 64-bit, floats by their IEEE bits, text, names and binary
 * values with a length prefix, each preceded by a NULL marker.
 * xact_outcome is filled in by the worker after the fact and so stays
 * outside the hash.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "base/auditenc.h"
#include "core/core.h"
#include "crypto/keys.h"
#include "template/template.h"
#include "audit/audit_internal.h"

#define VERIFY_BATCH		1000

typedef struct AuditColumn
{
	const char *name;
	Oid			type;
	bool		hashed;
	int			release;		/* 0: from the first; else the release that added it */
} AuditColumn;

/* the releases that added columns, as AuditColumn.release numbers them */
#define AUDIT_RELEASES		3

static const AuditColumn columns[AUDIT_NCOLUMNS] = {
	[AC_ID] = {"id", INT8OID, true},
	[AC_CHAIN_ID] = {"chain_id", TEXTOID, true},
	[AC_STARTED_AT] = {"started_at", TIMESTAMPTZOID, true},
	[AC_ENDED_AT] = {"ended_at", TIMESTAMPTZOID, true},
	[AC_SESSION_ROLE] = {"session_role", NAMEOID, true},
	[AC_EFFECTIVE_ROLE] = {"effective_role", NAMEOID, true},
	[AC_CLIENT_ADDR] = {"client_addr", INETOID, true},
	[AC_APPLICATION_NAME] = {"application_name", TEXTOID, true},
	[AC_BACKEND_PID] = {"backend_pid", INT4OID, true},
	[AC_XID] = {"xid", XID8OID, true},
	[AC_XACT_OUTCOME] = {"xact_outcome", TEXTOID, false},
	[AC_PURPOSE] = {"purpose", TEXTOID, true},
	[AC_OPERATION] = {"operation", TEXTOID, true},
	[AC_RELATION] = {"relation", REGCLASSOID, true},
	[AC_COLUMN_NAME] = {"column_name", NAMEOID, true},
	[AC_TEMPLATES_COMPARED] = {"templates_compared", INT8OID, true},
	[AC_EXPIRED_SKIPPED] = {"expired_skipped", INT8OID, true},
	[AC_MATCHES] = {"matches", JSONBOID, true},
	[AC_METRIC] = {"metric", TEXTOID, true},
	[AC_THRESHOLD] = {"threshold", FLOAT8OID, true},
	[AC_K] = {"k", INT4OID, true},
	[AC_PROBE_HMAC] = {"probe_hmac", BYTEAOID, true},
	[AC_QUERY_ID] = {"query_id", INT8OID, true},
	[AC_OUTCOME] = {"outcome", TEXTOID, true},
	[AC_SQLSTATE] = {"sqlstate", TEXTOID, true},
	[AC_BEGUN_ID] = {"begun_id", INT8OID, true},
	[AC_PREV_HASH] = {"prev_hash", BYTEAOID, true},
	[AC_ROW_HASH] = {"row_hash", BYTEAOID, false},
	[AC_PURPOSE_SKIPPED] = {"purpose_skipped", INT8OID, true, 1},	/* 0.2.0 */
	[AC_SHAPE_SKIPPED] = {"shape_skipped", INT8OID, true, 1},
	[AC_ORIGIN] = {"origin", TEXTOID, true, 2}, /* 0.3.0 */
	[AC_REQUEST_ID] = {"request_id", TEXTOID, true, 2},
};

/* A column's value as the encoding takes it (base/auditenc.c). */
static AuditEncValue
EncValue(Oid type, Datum d)
{
	AuditEncValue v = {0};

	switch (type)
	{
		case INT8OID:
		case TIMESTAMPTZOID:
		case XID8OID:
			v.kind = AUDITENC_INT64;
			v.v.i64 = DatumGetInt64(d);
			break;
		case INT4OID:
			v.kind = AUDITENC_INT32;
			v.v.i32 = DatumGetInt32(d);
			break;
		case REGCLASSOID:
			v.kind = AUDITENC_OID;
			v.v.oid = DatumGetObjectId(d);
			break;
		case FLOAT8OID:
			v.kind = AUDITENC_FLOAT8;
			v.v.f8 = DatumGetFloat8(d);
			break;
		case NAMEOID:
			v.kind = AUDITENC_BYTES;
			v.v.bytes.data = NameStr(*DatumGetName(d));
			v.v.bytes.len = strlen(NameStr(*DatumGetName(d)));
			break;
		default:
			{
				/* text, bytea, inet, jsonb: their binary form as stored */
				struct varlena *vl = PG_DETOAST_DATUM_PACKED(d);

				v.kind = AUDITENC_BYTES;
				v.v.bytes.data = VARDATA_ANY(vl);
				v.v.bytes.len = VARSIZE_ANY_EXHDR(vl);
				break;
			}
	}
	return v;
}

/* The encoding's sink: the next piece of the HMAC's message. */
static void
HmacSink(void *arg, const uint8_t *data, size_t len)
{
	crypto_auth_hmacsha256_update((crypto_auth_hmacsha256_state *) arg,
								  data, len);
}

/* row_hash of a row given in column order (prev_hash included). */
void
AuditRowHash(const Datum *values, const bool *nulls, uint8 *out)
{
	crypto_auth_hmacsha256_state st;
	AuditEncValue enc[AUDIT_NCOLUMNS + AUDIT_RELEASES];
	int			n = 0;
	bool		present[AUDIT_RELEASES] = {true};

	/*
	 * The columns a release added are hashed together, or not at all when
	 * every one is NULL: a row written before they existed keeps its hash,
	 * and a later row with any of them set hashes them all (NULLs included),
	 * so no value can move between them unseen.  Each release's columns are
	 * a group of their own, so that the next release's (NULL in the rows
	 * written before it) leaves the hash of those rows as it was.
	 */
	for (int i = AC_FIRST_OPTIONAL; i < AUDIT_NCOLUMNS; i++)
		present[columns[i].release] |= !nulls[i];
	for (int i = 0; i < AUDIT_NCOLUMNS; i++)
	{
		if (!columns[i].hashed || !present[columns[i].release])
			continue;
		/* 0.3.0 on: a present group starts with its mark (base/auditenc.c) */
		if (columns[i].release >= 2 && columns[i - 1].release != columns[i].release)
		{
			memset(&enc[n], 0, sizeof(enc[n]));
			enc[n].kind = AUDITENC_GROUP;
			enc[n++].v.i64 = columns[i].release;
		}
		if (nulls[i])
		{
			memset(&enc[n], 0, sizeof(enc[n]));
			enc[n++].isnull = true;
		}
		else
			enc[n++] = EncValue(columns[i].type, values[i]);
	}
	crypto_auth_hmacsha256_init(&st, KeysAuditKey(), BIOCRYPT_KEY_BYTES);
	AuditEncRow(enc, n, HmacSink, &st);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

Oid
AuditColumnType(int i)
{
	return columns[i].type;
}

/*
 * "id, chain_id, ..." in the order of the encoding; an optional column the
 * table does not have yet reads as NULL.
 */
char *
AuditColumnList(void)
{
	Oid			relid = get_relname_relid("audit_log", BiocryptSchemaOid());
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < AUDIT_NCOLUMNS; i++)
	{
		appendStringInfoString(&buf, i > 0 ? ", " : "");
		if (i >= AC_FIRST_OPTIONAL && get_attnum(relid, columns[i].name) == InvalidAttrNumber)
			appendStringInfo(&buf, "NULL::%s AS ", format_type_be(columns[i].type));
		appendStringInfoString(&buf, columns[i].name);
	}
	return buf.data;
}

/*
 * Refuse an audit_log whose columns are not the ones this code hashes;
 * returns its row type, and each column's attnum in attnums (if given).
 */
Oid
AuditCheckTable(AttrNumber *attnums)
{
	Oid			nsp = BiocryptSchemaOid();
	Oid			relid = get_relname_relid("audit_log", nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("biocrypt: table biocrypt.audit_log does not exist"),
				 errhidestmt(true), errhidecontext(true)));
	for (int i = 0; i < AUDIT_NCOLUMNS; i++)
	{
		AttrNumber	att = get_attnum(relid, columns[i].name);

		/* an optional column may be missing: the extension's update adds it */
		bool		missing_ok = att == InvalidAttrNumber && i >= AC_FIRST_OPTIONAL;

		if (!missing_ok &&
			(att == InvalidAttrNumber || get_atttype(relid, att) != columns[i].type))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("biocrypt: column \"%s\" of biocrypt.audit_log is missing or altered",
							columns[i].name),
					 errhidestmt(true), errhidecontext(true)));
		if (attnums != NULL)
			attnums[i] = att;
	}
	return get_rel_type_id(relid);
}

/* Does the stored row_hash match the row?  (A malformed hash does not.) */
bool
AuditRowHashMatches(const Datum *values, const bool *nulls)
{
	uint8		hash[AUDIT_HASH_BYTES];
	bytea	   *row;

	if (nulls[AC_ROW_HASH])
		return false;
	row = DatumGetByteaPP(values[AC_ROW_HASH]);
	if (VARSIZE_ANY_EXHDR(row) != AUDIT_HASH_BYTES)
		return false;
	AuditRowHash(values, nulls, hash);
	return sodium_memcmp(VARDATA_ANY(row), hash, AUDIT_HASH_BYTES) == 0;
}

/*
 * What verify_audit() found wrong, as ranges of ids of one chain: rows
 * whose hash does not match ("altered"), rows that do not link to the
 * stored hash of the row before ("unlinked"), and ids absent from the
 * numbering ("missing").  Consecutive ids with the same problem merge.
 */
typedef enum Break
{
	BREAK_MISSING,
	BREAK_UNLINKED,
	BREAK_ALTERED
} Break;

static const char *const break_names[] = {"missing", "unlinked", "altered"};

typedef struct VerifyState
{
	bool		started;
	char	   *chain;			/* chain_id of the rows being read */
	int64		last_id;
	uint8		last_hash[AUDIT_HASH_BYTES];	/* stored row_hash of last_id */
	int64		rows;
	int64		first_bad;		/* 0: none yet */
	StringInfoData ranges;		/* JSON array body of the merged ranges */
	int			nranges;
	/* the range being merged */
	bool		open;
	Break		kind;
	int64		from;
	int64		to;
} VerifyState;

/* Write the range being merged into the JSON list. */
static void
FlushRange(VerifyState *vs)
{
	if (!vs->open)
		return;
	if (vs->nranges++ > 0)
		appendStringInfoString(&vs->ranges, ", ");
	appendStringInfoString(&vs->ranges, "{\"chain_id\": ");
	AuditJsonString(&vs->ranges, vs->chain);
	appendStringInfo(&vs->ranges,
					 ", \"first_id\": " INT64_FORMAT ", \"last_id\": " INT64_FORMAT
					 ", \"problem\": \"%s\"}", vs->from, vs->to, break_names[vs->kind]);
	vs->open = false;
}

/* Note ids from..to of the current chain as broken by kind. */
static void
NoteBreak(VerifyState *vs, Break kind, int64 from, int64 to)
{
	if (vs->first_bad == 0 || from < vs->first_bad)
		vs->first_bad = from;
	if (vs->open && vs->kind == kind && vs->to + 1 == from)
	{
		vs->to = to;
		return;
	}
	FlushRange(vs);
	vs->open = true;
	vs->kind = kind;
	vs->from = from;
	vs->to = to;
}

/* Does the row's prev_hash hold the stored hash of the row before it? */
static bool
LinksBack(const VerifyState *vs, const Datum *values, const bool *nulls)
{
	bytea	   *prev = nulls[AC_PREV_HASH] ? NULL : DatumGetByteaPP(values[AC_PREV_HASH]);

	return prev != NULL && VARSIZE_ANY_EXHDR(prev) == AUDIT_HASH_BYTES &&
		memcmp(VARDATA_ANY(prev), vs->last_hash, AUDIT_HASH_BYTES) == 0;
}

/*
 * Check one row against the chain so far.  The walk goes on from each
 * row's stored hash whatever it found, so one bad row does not hide the
 * state of the rows after it.
 */
static void
VerifyRow(VerifyState *vs, const Datum *values, const bool *nulls)
{
	char	   *chain = TextDatumGetCString(values[AC_CHAIN_ID]);
	int64		id = DatumGetInt64(values[AC_ID]);
	bytea	   *row = nulls[AC_ROW_HASH] ? NULL : DatumGetByteaPP(values[AC_ROW_HASH]);

	if (!vs->started || strcmp(chain, vs->chain) != 0)
	{
		/* a chain starts at id 1 after an all-zero hash */
		FlushRange(vs);
		vs->chain = MemoryContextStrdup(TopTransactionContext, chain);
		vs->last_id = 0;
		memset(vs->last_hash, 0, AUDIT_HASH_BYTES);
		vs->started = true;
	}
	if (id > vs->last_id + 1)
		NoteBreak(vs, BREAK_MISSING, vs->last_id + 1, id - 1);
	else if (!LinksBack(vs, values, nulls))
		NoteBreak(vs, BREAK_UNLINKED, id, id);
	if (!AuditRowHashMatches(values, nulls))
		NoteBreak(vs, BREAK_ALTERED, id, id);
	vs->last_id = id;
	memset(vs->last_hash, 0, AUDIT_HASH_BYTES);
	if (row != NULL && VARSIZE_ANY_EXHDR(row) == AUDIT_HASH_BYTES)
		memcpy(vs->last_hash, VARDATA_ANY(row), AUDIT_HASH_BYTES);
}

PG_FUNCTION_INFO_V1(biocrypt_verify_audit);
/*
 * verify_audit() RETURNS TABLE(ok, rows_checked, first_bad_id, bad_ranges):
 * walks every chain in id order, recomputes each row's HMAC and lists
 * every range of ids that does not verify.
 */
Datum
biocrypt_verify_audit(PG_FUNCTION_ARGS)
{
	VerifyState vs = {0};
	TupleDesc	tupdesc;
	Datum		result[4];
	bool		rnulls[4] = {false, false, false, false};
	Portal		portal;
	char	   *query;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: verify_audit must return a row"),
				 errhidestmt(true), errhidecontext(true)));
	initStringInfo(&vs.ranges);
	query = psprintf("SELECT %s FROM biocrypt.audit_log ORDER BY chain_id, id",
					 AuditColumnList());
	SPI_connect();
	portal = SPI_cursor_open_with_args(NULL, query, 0, NULL, NULL, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, VERIFY_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Datum		values[AUDIT_NCOLUMNS];
			bool		nulls[AUDIT_NCOLUMNS];

			heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, values, nulls);
			vs.rows++;
			VerifyRow(&vs, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();
	FlushRange(&vs);
	result[0] = BoolGetDatum(vs.first_bad == 0);
	result[1] = Int64GetDatum(vs.rows);
	result[2] = Int64GetDatum(vs.first_bad);
	rnulls[2] = vs.first_bad == 0;
	result[3] = DirectFunctionCall1(jsonb_in,
									CStringGetDatum(psprintf("[%s]", vs.ranges.data)));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, result, rnulls)));
}
