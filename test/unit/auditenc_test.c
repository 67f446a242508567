/*-------------------------------------------------------------------------
 *
 * auditenc_test.c
 *		Unit tests for the audit row encoding that the HMAC chain hashes
 *		(auditenc.c).
 *
 * Each case is a row and the exact bytes it must encode to, written here
 * by hand from the format in auditenc.c's header comment.  The encoding
 * must never change for rows already in an audit log (their hashes would
 * no longer verify), so these bytes are fixed: a change that alters any
 * of them needs a new version string.  Also checked: moving a byte across
 * a column border, or NULL against empty, changes the encoding.
 *
 * Every check is one assertion.  The last line of output is
 * "unit: N passed, N failed"; the exit status is non-zero when any
 * assertion failed.
 *
 *-------------------------------------------------------------------------
 */
#include "base/auditenc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

#define MAX_ENCODED		256


/* A row and the bytes that follow the version string in its encoding. */
typedef struct EncCase
{
	const char *name;
	AuditEncValue values[6];
	int			n;
	const char *want;			/* after the version */
	size_t		wantlen;
} EncCase;

#define W(lit)	lit, sizeof(lit) - 1
#define I64(x)	{AUDITENC_INT64, false, {.i64 = (x)}}
#define I32(x)	{AUDITENC_INT32, false, {.i32 = (x)}}
#define OIDV(x)	{AUDITENC_OID, false, {.oid = (x)}}
#define F8(x)	{AUDITENC_FLOAT8, false, {.f8 = (x)}}
#define BYTES(s) {AUDITENC_BYTES, false, {.bytes = {(s), sizeof(s) - 1}}}
#define NUL(k)	{(k), true, {.i64 = 0}}
#define GROUP(x) {AUDITENC_GROUP, false, {.i64 = (x)}}

static const EncCase cases[] = {
	{"no columns", {{0}}, 0, W("")},
	{"int64 -2", {I64(-2)}, 1, W("\x01\xff\xff\xff\xff\xff\xff\xff\xfe")},
	{"int64 2^56 + 1", {I64(72057594037927937LL)}, 1,
	W("\x01\x01\x00\x00\x00\x00\x00\x00\x01")},
	{"int32 -1, sign-extended", {I32(-1)}, 1,
	W("\x01\xff\xff\xff\xff\xff\xff\xff\xff")},
	{"int32 max", {I32(2147483647)}, 1,
	W("\x01\x00\x00\x00\x00\x7f\xff\xff\xff")},
	{"oid 2^32 - 1, zero-extended", {OIDV(4294967295U)}, 1,
	W("\x01\x00\x00\x00\x00\xff\xff\xff\xff")},
	{"float8 1.0", {F8(1.0)}, 1, W("\x01\x3f\xf0\x00\x00\x00\x00\x00\x00")},
	{"float8 -0.0", {F8(-0.0)}, 1, W("\x01\x80\x00\x00\x00\x00\x00\x00\x00")},
	{"bytes \"ab\"", {BYTES("ab")}, 1,
	W("\x01\x00\x00\x00\x00\x00\x00\x00\x02" "ab")},
	{"empty bytes", {BYTES("")}, 1, W("\x01\x00\x00\x00\x00\x00\x00\x00\x00")},
	{"NULLs of every kind",
		{NUL(AUDITENC_INT64), NUL(AUDITENC_INT32), NUL(AUDITENC_OID),
		NUL(AUDITENC_FLOAT8), NUL(AUDITENC_BYTES)}, 5, W("\x00\x00\x00\x00\x00")},
	{"group mark 2", {GROUP(2)}, 1, W("\x02\x00\x00\x00\x00\x00\x00\x00\x02")},
	{"a row: id, chain, NULL, relation, k, metric",
		{I64(7), BYTES("73"), NUL(AUDITENC_INT64), OIDV(16384), I32(10),
		BYTES("cosine")}, 6,
		W("\x01\x00\x00\x00\x00\x00\x00\x00\x07"
		  "\x01\x00\x00\x00\x00\x00\x00\x00\x02" "73"
		  "\x00"
		  "\x01\x00\x00\x00\x00\x00\x00\x40\x00"
		  "\x01\x00\x00\x00\x00\x00\x00\x00\x0a"
		  "\x01\x00\x00\x00\x00\x00\x00\x00\x06" "cosine")},
};

#define NUM_CASES (sizeof(cases) / sizeof(cases[0]))

/* An encoding collected from the sink. */
typedef struct Collected
{
	unsigned char data[MAX_ENCODED];
	size_t		len;
	int			overflow;
} Collected;

/* The test sink: append. */
static void
Collect(void *arg, const uint8_t *data, size_t len)
{
	Collected  *c = arg;

	if (len > MAX_ENCODED - c->len)
	{
		c->overflow = 1;
		return;
	}
	memcpy(c->data + c->len, data, len);
	c->len += len;
}

/* One case: version, then exactly the expected bytes. */
static void
TestCase(const EncCase *c)
{
	Collected	got = {{0}, 0, 0};
	size_t		vlen = strlen(AUDITENC_VERSION);

	AuditEncRow(c->values, c->n, Collect, &got);
	Check(!got.overflow && got.len == vlen + c->wantlen &&
		  memcmp(got.data, "biocrypt-audit-v2", vlen) == 0 &&
		  memcmp(got.data + vlen, c->want, c->wantlen) == 0,
		  "%s: encoding differs from the fixed bytes (%zu bytes, want %zu)",
		  c->name, got.len, vlen + c->wantlen);
}

/* Moving a byte across a column border changes the encoding. */
static void
TestBorder(void)
{
	const AuditEncValue ab_c[2] = {BYTES("ab"), BYTES("c")};
	const AuditEncValue a_bc[2] = {BYTES("a"), BYTES("bc")};
	const AuditEncValue null_i[1] = {NUL(AUDITENC_BYTES)};
	const AuditEncValue empty_i[1] = {BYTES("")};
	Collected	x = {{0}, 0, 0};
	Collected	y = {{0}, 0, 0};
	Collected	z = {{0}, 0, 0};
	Collected	w = {{0}, 0, 0};

	AuditEncRow(ab_c, 2, Collect, &x);
	AuditEncRow(a_bc, 2, Collect, &y);
	Check(x.len == y.len && memcmp(x.data, y.data, x.len) != 0,
		  "(\"ab\", \"c\") and (\"a\", \"bc\") encode alike");
	AuditEncRow(null_i, 1, Collect, &z);
	AuditEncRow(empty_i, 1, Collect, &w);
	Check(z.len != w.len || memcmp(z.data, w.data, z.len) != 0,
		  "NULL and empty bytes encode alike");
}

/*
 * 0.2.0's counts at 0 and 0.3.0's texts empty (the one group present or
 * the other) must not encode alike: the mark tells them apart.
 */
static void
TestGroups(void)
{
	const AuditEncValue counts[2] = {I64(0), I64(0)};
	const AuditEncValue texts[3] = {GROUP(2), BYTES(""), BYTES("")};
	Collected	x = {{0}, 0, 0};
	Collected	y = {{0}, 0, 0};

	AuditEncRow(counts, 2, Collect, &x);
	AuditEncRow(texts, 3, Collect, &y);
	Check(x.len != y.len || memcmp(x.data, y.data, x.len) != 0,
		  "a group of two zero counts and a marked group of two empty texts encode alike");
	/* x: the counts' encoding, then the texts' without the mark */
	AuditEncRow(texts + 1, 2, Collect, &x);
	Check(memcmp(x.data + strlen(AUDITENC_VERSION), x.data + x.len - 18, 18) == 0,
		  "without the mark, the two groups would encode alike (the check could not fail)");
}

int
main(void)
{
	for (size_t i = 0; i < NUM_CASES; i++)
		TestCase(&cases[i]);
	TestBorder();
	TestGroups();

	return UnitReport();
}
