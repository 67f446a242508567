/*-------------------------------------------------------------------------
 *
 * auditchain.c
 *		The audit log's HMAC chain: canonical row encoding, verify_audit().
 *
 * row_hash = HMAC-SHA-256(audit key, "biocrypt-audit-v1" || encoding of
 * every column but xact_outcome and row_hash, prev_hash last).  The key is
 * derived from the root key, so SQL can neither recompute nor forge it.
 * The encoding depends only on stored values, never on settings such as
 * DateStyle or extra_float_digits: integers and timestamps as big-endian
 * 64-bit, floats by their IEEE bits, text, names and binary values with a
 * length prefix, each preceded by a NULL marker.  xact_outcome is filled in
 * by the worker after the fact and so stays outside the hash.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "biocrypt.h"
#include "audit.h"

#define AUDIT_HASH_VERSION	"biocrypt-audit-v1"
#define VERIFY_BATCH		1000

typedef struct AuditColumn
{
	const char *name;
	Oid			type;
	bool		hashed;
} AuditColumn;

static const AuditColumn columns[AUDIT_NCOLUMNS] = {
	{"id", INT8OID, true},
	{"chain_id", TEXTOID, true},
	{"started_at", TIMESTAMPTZOID, true},
	{"ended_at", TIMESTAMPTZOID, true},
	{"session_role", NAMEOID, true},
	{"effective_role", NAMEOID, true},
	{"client_addr", INETOID, true},
	{"application_name", TEXTOID, true},
	{"backend_pid", INT4OID, true},
	{"xid", XID8OID, true},
	{"xact_outcome", TEXTOID, false},
	{"purpose", TEXTOID, true},
	{"operation", TEXTOID, true},
	{"relation", REGCLASSOID, true},
	{"column_name", NAMEOID, true},
	{"templates_compared", INT8OID, true},
	{"expired_skipped", INT8OID, true},
	{"matches", JSONBOID, true},
	{"metric", TEXTOID, true},
	{"threshold", FLOAT8OID, true},
	{"k", INT4OID, true},
	{"probe_hmac", BYTEAOID, true},
	{"query_id", INT8OID, true},
	{"outcome", TEXTOID, true},
	{"sqlstate", TEXTOID, true},
	{"prev_hash", BYTEAOID, true},
	{"row_hash", BYTEAOID, false},
};

static void
PutU64(crypto_auth_hmacsha256_state *st, uint64 v)
{
	uint8		b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8) (v >> (56 - 8 * i));
	crypto_auth_hmacsha256_update(st, b, 8);
}

static void
PutBytes(crypto_auth_hmacsha256_state *st, const void *p, size_t len)
{
	PutU64(st, len);
	crypto_auth_hmacsha256_update(st, p, len);
}

/* One column's value in the canonical encoding. */
static void
PutValue(crypto_auth_hmacsha256_state *st, Oid type, Datum d)
{
	switch (type)
	{
		case INT8OID:
		case TIMESTAMPTZOID:
		case XID8OID:
			PutU64(st, (uint64) DatumGetInt64(d));
			break;
		case INT4OID:
			PutU64(st, (uint64) (int64) DatumGetInt32(d));
			break;
		case REGCLASSOID:
			PutU64(st, DatumGetObjectId(d));
			break;
		case FLOAT8OID:
			{
				double		f = DatumGetFloat8(d);
				uint64		bits;

				memcpy(&bits, &f, sizeof(bits));
				PutU64(st, bits);
				break;
			}
		case NAMEOID:
			PutBytes(st, NameStr(*DatumGetName(d)), strlen(NameStr(*DatumGetName(d))));
			break;
		default:
			{
				/* text, bytea, inet, jsonb: their binary form as stored */
				struct varlena *v = PG_DETOAST_DATUM_PACKED(d);

				PutBytes(st, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
				break;
			}
	}
}

/* row_hash of a row given in audit_columns order (prev_hash included). */
void
AuditRowHash(const Datum *values, const bool *nulls, uint8 *out)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, KeysAuditKey(), BIOCRYPT_KEY_BYTES);
	crypto_auth_hmacsha256_update(&st, (const uint8 *) AUDIT_HASH_VERSION,
								  strlen(AUDIT_HASH_VERSION));
	for (int i = 0; i < AUDIT_NCOLUMNS; i++)
	{
		uint8		marker = nulls[i] ? 0 : 1;

		if (!columns[i].hashed)
			continue;
		crypto_auth_hmacsha256_update(&st, &marker, 1);
		if (!nulls[i])
			PutValue(&st, columns[i].type, values[i]);
	}
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

Oid
AuditColumnType(int i)
{
	return columns[i].type;
}

/* "id, chain_id, ..." in the order of the encoding. */
char *
AuditColumnList(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < AUDIT_NCOLUMNS; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", columns[i].name);
	return buf.data;
}

/* Refuse an audit_log whose columns are not the ones this code hashes. */
void
AuditCheckTable(void)
{
	Oid			nsp = get_namespace_oid("biocrypt", false);
	Oid			relid = get_relname_relid("audit_log", nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("biocrypt: table biocrypt.audit_log does not exist")));
	for (int i = 0; i < AUDIT_NCOLUMNS; i++)
	{
		AttrNumber	att = get_attnum(relid, columns[i].name);

		if (att == InvalidAttrNumber || get_atttype(relid, att) != columns[i].type)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("biocrypt: column \"%s\" of biocrypt.audit_log is missing or altered",
							columns[i].name)));
	}
}

typedef struct VerifyState
{
	bool		started;
	char	   *chain;			/* chain_id of the previous row */
	int64		last_id;
	uint8		last_hash[AUDIT_HASH_BYTES];
	int64		rows;
	bool		bad;
	int64		first_bad;
} VerifyState;

/* Check one row against the chain so far. */
static bool
VerifyRow(VerifyState *vs, const Datum *values, const bool *nulls)
{
	static const uint8 zero[AUDIT_HASH_BYTES];
	uint8		hash[AUDIT_HASH_BYTES];
	char	   *chain = TextDatumGetCString(values[1]);
	int64		id = DatumGetInt64(values[0]);
	bytea	   *prev = nulls[25] ? NULL : DatumGetByteaPP(values[25]);
	bytea	   *row = nulls[26] ? NULL : DatumGetByteaPP(values[26]);

	if (!vs->started || strcmp(chain, vs->chain) != 0)
	{
		/* a chain starts at id 1 after an all-zero hash */
		vs->chain = MemoryContextStrdup(TopTransactionContext, chain);
		vs->last_id = 0;
		memcpy(vs->last_hash, zero, AUDIT_HASH_BYTES);
		vs->started = true;
	}
	AuditRowHash(values, nulls, hash);
	if (id != vs->last_id + 1 || prev == NULL || row == NULL ||
		VARSIZE_ANY_EXHDR(prev) != AUDIT_HASH_BYTES ||
		VARSIZE_ANY_EXHDR(row) != AUDIT_HASH_BYTES ||
		memcmp(VARDATA_ANY(prev), vs->last_hash, AUDIT_HASH_BYTES) != 0 ||
		sodium_memcmp(VARDATA_ANY(row), hash, AUDIT_HASH_BYTES) != 0)
		return false;
	vs->last_id = id;
	memcpy(vs->last_hash, hash, AUDIT_HASH_BYTES);
	return true;
}

PG_FUNCTION_INFO_V1(biocrypt_verify_audit);
/*
 * verify_audit() RETURNS TABLE(ok, rows_checked, first_bad_id): walks every
 * chain in id order and recomputes each row's HMAC.
 */
Datum
biocrypt_verify_audit(PG_FUNCTION_ARGS)
{
	VerifyState vs = {0};
	TupleDesc	tupdesc;
	Datum		result[3];
	bool		rnulls[3] = {false, false, false};
	Portal		portal;
	char	   *query;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "biocrypt: verify_audit must return a row");
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
			if (!vs.bad && !VerifyRow(&vs, values, nulls))
			{
				vs.bad = true;
				vs.first_bad = DatumGetInt64(values[0]);
			}
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	result[0] = BoolGetDatum(!vs.bad);
	result[1] = Int64GetDatum(vs.rows);
	result[2] = Int64GetDatum(vs.first_bad);
	rnulls[2] = !vs.bad;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, result, rnulls)));
}
