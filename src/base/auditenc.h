/*-------------------------------------------------------------------------
 *
 * auditenc.h
 *		The canonical encoding of an audit row, which the HMAC chain hashes.
 *
 * audit/auditchain.c turns a row's stored values into AuditEncValues and
 * hashes what AuditEncRow writes; the fuzz target test/fuzz/fuzz_auditenc.c
 * checks the same code.  C library only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_AUDITENC_H
#define BIOCRYPT_AUDITENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The version string every encoding starts with. */
#define AUDITENC_VERSION	"biocrypt-audit-v2"

/* How a column's value is written; a column keeps its kind for good. */
typedef enum AuditEncKind
{
	AUDITENC_INT64,				/* int8, timestamptz, xid8 */
	AUDITENC_INT32,				/* int4, sign-extended to 64 bits */
	AUDITENC_OID,				/* regclass, zero-extended to 64 bits */
	AUDITENC_FLOAT8,			/* by its IEEE 754 bits */
	AUDITENC_BYTES,				/* text, name, bytea, inet, jsonb as stored */
	AUDITENC_GROUP				/* not a column: the start of a release's group */
} AuditEncKind;

/*
 * One column's value; the member that kind names is the one used.  A
 * group mark (AUDITENC_GROUP, its number in i64) precedes the columns a
 * release added, from 0.3.0 on, where they are present.
 */
typedef struct AuditEncValue
{
	AuditEncKind kind;
	bool		isnull;
	union
	{
		int64_t		i64;
		int32_t		i32;
		uint32_t	oid;
		double		f8;
		struct
		{
			const void *data;
			size_t		len;
		}			bytes;
	}			v;
} AuditEncValue;

/* Receives the encoding piece by piece (an HMAC update, say). */
typedef void (*AuditEncSink) (void *arg, const uint8_t *data, size_t len);

extern void AuditEncRow(const AuditEncValue *values, int n,
						AuditEncSink sink, void *arg);

#endif							/* BIOCRYPT_AUDITENC_H */
