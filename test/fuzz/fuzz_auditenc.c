/*-------------------------------------------------------------------------
 *
 * fuzz_auditenc.c
 *		libFuzzer target for the audit row encoding that the HMAC chain
 *		hashes (base/auditenc.c, called by audit/auditchain.c).
 *
 * The input describes a list of column kinds (the schema) and two rows of
 * that schema, A and B.  B is either read from the input on its own or
 * made from A by one edit that a forger would try: moving bytes from the
 * end of one byte column to the start of the next (their concatenation
 * stays the same), turning a value into NULL or back, growing or shrinking
 * a byte value by one byte, or flipping one bit of a number.
 *
 * Properties, each a call to abort() when violated:
 *  - the encoding starts with AUDITENC_VERSION and has the length the
 *    format gives (a marker byte per column, 8 bytes per number, 8 plus
 *    the length per byte value);
 *  - it is deterministic (encoding A again gives the same bytes);
 *  - it reads back: an independent decoder, given the schema, takes the
 *    encoding apart into exactly the row it came from and consumes all of
 *    it (so the encoding is injective for a schema);
 *  - A and B encode to the same bytes exactly when they are the same row
 *    (floats compared by their bits), and neither encoding is a proper
 *    prefix of the other.
 *
 * Every byte value is a malloc'd block of exactly its size, so that
 * AddressSanitizer reports a read past it.
 *
 * Build and run: make fuzz-smoke; test/fuzz/README.md for long runs.
 *
 *-------------------------------------------------------------------------
 */
#include "base/auditenc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLUMNS		32
#define NUM_KINDS		6	/* AUDITENC_GROUP included: a mark in any place */
#define NUM_EDITS		5

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The unread rest of the input; reads past its end give zero bytes. */
typedef struct Reader
{
	const uint8_t *p;
	size_t		left;
} Reader;

/* A growing buffer that the encoder's sink appends to. */
typedef struct Buf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} Buf;

/* Report a violated invariant and stop. */
static void
Fail(const char *what)
{
	fprintf(stderr, "fuzz_auditenc: invariant violated: %s\n", what);
	abort();
}

/* malloc that never returns NULL; at least one byte. */
static void *
Alloc(size_t len)
{
	void	   *p = malloc(len > 0 ? len : 1);

	if (p == NULL)
		Fail("out of memory");
	return p;
}

/* The next byte of the input, or 0 past its end. */
static uint8_t
ReadByte(Reader *r)
{
	if (r->left == 0)
		return 0;
	r->left--;
	return *r->p++;
}

/* The next n (<= 8) bytes as a little-endian number. */
static uint64_t
ReadNumber(Reader *r, int n)
{
	uint64_t	v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t) ReadByte(r) << (8 * i);
	return v;
}

/* A byte value in an exact-size block, copied from len bytes of src. */
static void
SetBytes(AuditEncValue *v, const uint8_t *src, size_t len)
{
	uint8_t    *copy = malloc(len);

	if (copy == NULL && len > 0)
		Fail("out of memory");
	if (len > 0)
		memcpy(copy, src, len);
	v->v.bytes.data = copy;
	v->v.bytes.len = len;
}

/* Read one value of kind from the input (bit 7 of its first byte: NULL). */
static void
ReadValue(Reader *r, AuditEncKind kind, AuditEncValue *v)
{
	uint8_t		head = ReadByte(r);

	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->isnull = (head & 0x80) != 0;
	switch (kind)
	{
		case AUDITENC_INT64:
			v->v.i64 = (int64_t) ReadNumber(r, 8);
			break;
		case AUDITENC_INT32:
			v->v.i32 = (int32_t) (uint32_t) ReadNumber(r, 4);
			break;
		case AUDITENC_OID:
			v->v.oid = (uint32_t) ReadNumber(r, 4);
			break;
		case AUDITENC_FLOAT8:
			{
				uint64_t	bits = ReadNumber(r, 8);

				memcpy(&v->v.f8, &bits, sizeof(bits));
				break;
			}
		case AUDITENC_BYTES:
			{
				/* the low 7 bits of the head byte are the length */
				size_t		len = head & 0x7F;

				if (len > r->left)
					len = r->left;
				SetBytes(v, r->p, len);
				r->p += len;
				r->left -= len;
				break;
			}
		case AUDITENC_GROUP:
			/* a mark is never NULL: the encoding ignores isnull for it */
			v->isnull = false;
			v->v.i64 = (int64_t) ReadNumber(r, 8);
			break;
	}
	if (v->isnull && kind == AUDITENC_BYTES)
	{
		free((void *) v->v.bytes.data);
		memset(&v->v, 0, sizeof(v->v));
	}
	else if (v->isnull)
		memset(&v->v, 0, sizeof(v->v));
}

/* A deep copy of a value (its bytes in a new exact-size block). */
static void
CopyValue(AuditEncValue *dst, const AuditEncValue *src)
{
	*dst = *src;
	if (src->kind == AUDITENC_BYTES && !src->isnull)
		SetBytes(dst, src->v.bytes.data, src->v.bytes.len);
}

/* Free the byte blocks of a row. */
static void
FreeRow(AuditEncValue *row, int n)
{
	for (int i = 0; i < n; i++)
		if (row[i].kind == AUDITENC_BYTES && !row[i].isnull)
			free((void *) row[i].v.bytes.data);
}

/* Are two values of one kind the same (floats by their bits)? */
static int
SameValue(const AuditEncValue *a, const AuditEncValue *b)
{
	if (a->isnull || b->isnull)
		return a->isnull == b->isnull;
	switch (a->kind)
	{
		case AUDITENC_INT64:
		case AUDITENC_GROUP:
			return a->v.i64 == b->v.i64;
		case AUDITENC_INT32:
			return a->v.i32 == b->v.i32;
		case AUDITENC_OID:
			return a->v.oid == b->v.oid;
		case AUDITENC_FLOAT8:
			return memcmp(&a->v.f8, &b->v.f8, sizeof(double)) == 0;
		case AUDITENC_BYTES:
			return a->v.bytes.len == b->v.bytes.len &&
				(a->v.bytes.len == 0 ||
				 memcmp(a->v.bytes.data, b->v.bytes.data, a->v.bytes.len) == 0);
	}
	return 0;
}

/* Are two rows of one schema the same? */
static int
SameRow(const AuditEncValue *a, const AuditEncValue *b, int n)
{
	for (int i = 0; i < n; i++)
		if (!SameValue(&a[i], &b[i]))
			return 0;
	return 1;
}

/* The sink: append to a Buf. */
static void
BufSink(void *arg, const uint8_t *data, size_t len)
{
	Buf		   *b = arg;

	if (b->len + len > b->cap)
	{
		size_t		cap = (b->len + len) * 2;
		uint8_t    *p = realloc(b->data, cap);

		if (p == NULL)
			Fail("out of memory");
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

/* Encode a row into a fresh Buf. */
static Buf
Encode(const AuditEncValue *row, int n)
{
	Buf			b = {NULL, 0, 0};

	AuditEncRow(row, n, BufSink, &b);
	return b;
}

/* Read a big-endian 64-bit number at p. */
static uint64_t
GetU64(const uint8_t *p)
{
	uint64_t	v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * The reference decoder: take enc apart by the documented format for the
 * schema of row and check that it gives row back, consuming every byte.
 */
static void
CheckDecodes(const Buf *enc, const AuditEncValue *row, int n)
{
	size_t		vlen = strlen(AUDITENC_VERSION);
	size_t		pos = vlen;

	if (enc->len < vlen || memcmp(enc->data, AUDITENC_VERSION, vlen) != 0)
		Fail("encoding does not start with the version");
	for (int i = 0; i < n; i++)
	{
		const AuditEncValue *v = &row[i];
		uint64_t	word;

		if (pos >= enc->len || enc->data[pos] > (v->kind == AUDITENC_GROUP ? 2 : 1))
			Fail("missing or bad NULL marker");
		if (v->kind == AUDITENC_GROUP && enc->data[pos] != 2)
			Fail("a group mark does not start with 2");
		if (v->kind != AUDITENC_GROUP && (enc->data[pos] == 0) != v->isnull)
			Fail("NULL marker differs from the value");
		pos++;
		if (v->isnull)
			continue;
		if (enc->len - pos < 8)
			Fail("encoding ends inside a value");
		word = GetU64(enc->data + pos);
		pos += 8;
		switch (v->kind)
		{
			case AUDITENC_INT64:
			case AUDITENC_GROUP:
				if ((int64_t) word != v->v.i64)
					Fail("int64 or group mark does not read back");
				break;
			case AUDITENC_INT32:
				if ((int64_t) word != (int64_t) v->v.i32)
					Fail("int32 does not read back sign-extended");
				break;
			case AUDITENC_OID:
				if (word != (uint64_t) v->v.oid)
					Fail("oid does not read back zero-extended");
				break;
			case AUDITENC_FLOAT8:
				if (memcmp(&word, &v->v.f8, sizeof(word)) != 0)
					Fail("float8 does not read back to the same bits");
				break;
			case AUDITENC_BYTES:
				if (word != v->v.bytes.len || enc->len - pos < word)
					Fail("byte value length does not read back");
				if (word > 0 && memcmp(enc->data + pos, v->v.bytes.data, word) != 0)
					Fail("byte value does not read back");
				pos += word;
				break;
		}
	}
	if (pos != enc->len)
		Fail("bytes left after the last column");
}

/* Index of the first BYTES column at or after i that is not NULL, or -1. */
static int
NextBytes(const AuditEncValue *row, int n, int i)
{
	for (; i < n; i++)
		if (row[i].kind == AUDITENC_BYTES && !row[i].isnull)
			return i;
	return -1;
}

/*
 * Split the concatenation of byte columns i and j (both non-NULL) anew,
 * with split bytes in column i: a forger moving bytes across the border.
 */
static void
Resplit(AuditEncValue *row, int i, int j, size_t split)
{
	size_t		ilen = row[i].v.bytes.len;
	size_t		jlen = row[j].v.bytes.len;
	uint8_t    *joined = Alloc(ilen + jlen);

	if (ilen > 0)
		memcpy(joined, row[i].v.bytes.data, ilen);
	if (jlen > 0)
		memcpy(joined + ilen, row[j].v.bytes.data, jlen);
	free((void *) row[i].v.bytes.data);
	free((void *) row[j].v.bytes.data);
	SetBytes(&row[i], joined, split);
	SetBytes(&row[j], joined + split, ilen + jlen - split);
	free(joined);
}

/* Turn column i into NULL, or a NULL into a zero (empty) value. */
static void
ToggleNull(AuditEncValue *v)
{
	/* a group mark has no NULL: change its number instead */
	if (v->kind == AUDITENC_GROUP)
	{
		v->v.i64 = ~v->v.i64;
		return;
	}
	if (v->kind == AUDITENC_BYTES && !v->isnull)
		free((void *) v->v.bytes.data);
	memset(&v->v, 0, sizeof(v->v));
	v->isnull = !v->isnull;
	if (v->kind == AUDITENC_BYTES && !v->isnull)
		SetBytes(v, NULL, 0);
}

/* Grow a byte value by one byte (c), or shrink it; flip a number's bit. */
static void
Nudge(AuditEncValue *v, uint8_t c)
{
	if (v->isnull)
		return;
	switch (v->kind)
	{
		case AUDITENC_BYTES:
			{
				size_t		len = v->v.bytes.len;
				uint8_t    *p = Alloc(len + 1);

				if (len > 0)
					memcpy(p, v->v.bytes.data, len);
				p[len] = c;
				free((void *) v->v.bytes.data);
				SetBytes(v, p, (c & 1) && len > 0 ? len - 1 : len + 1);
				free(p);
				break;
			}
		case AUDITENC_INT64:
		case AUDITENC_GROUP:
			v->v.i64 = (int64_t) ((uint64_t) v->v.i64 ^ ((uint64_t) 1 << (c % 64)));
			break;
		case AUDITENC_INT32:
			v->v.i32 = (int32_t) ((uint32_t) v->v.i32 ^ ((uint32_t) 1 << (c % 32)));
			break;
		case AUDITENC_OID:
			v->v.oid ^= (uint32_t) 1 << (c % 32);
			break;
		case AUDITENC_FLOAT8:
			{
				uint64_t	bits;

				memcpy(&bits, &v->v.f8, sizeof(bits));
				bits ^= (uint64_t) 1 << (c % 64);
				memcpy(&v->v.f8, &bits, sizeof(bits));
				break;
			}
	}
}

/* Make row B from A and the input, by the edit the input picks. */
static void
MakeB(Reader *r, const AuditEncValue *a, AuditEncValue *b, int n)
{
	uint8_t		edit = ReadByte(r) % NUM_EDITS;
	int			col = ReadByte(r) % n;

	if (edit == 0)
	{
		for (int i = 0; i < n; i++)
			ReadValue(r, a[i].kind, &b[i]);
		return;
	}
	for (int i = 0; i < n; i++)
		CopyValue(&b[i], &a[i]);
	if (edit == 1 || edit == 2)
	{
		/* k bytes from the end of one byte value to the next's start, or back */
		int			i = NextBytes(b, n, col);
		int			j = i < 0 ? -1 : NextBytes(b, n, i + 1);
		size_t		k = ReadByte(r);
		size_t		ilen;
		size_t		jlen;

		if (j < 0)
			return;
		ilen = b[i].v.bytes.len;
		jlen = b[j].v.bytes.len;
		if (edit == 1)
			Resplit(b, i, j, ilen - (k < ilen ? k : ilen));
		else
			Resplit(b, i, j, ilen + (k < jlen ? k : jlen));
	}
	else if (edit == 3)
		ToggleNull(&b[col]);
	else
		Nudge(&b[col], ReadByte(r));
}

/* libFuzzer entry point: build A and B, encode both, check. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Reader		r = {data, size};
	AuditEncValue a[MAX_COLUMNS];
	AuditEncValue b[MAX_COLUMNS];
	AuditEncKind kinds[MAX_COLUMNS];
	int			n;
	Buf			ea;
	Buf			ea2;
	Buf			eb;
	size_t		want;
	int			same;
	int			same_bytes;

	if (size == 0)
		return 0;
	n = 1 + ReadByte(&r) % MAX_COLUMNS;
	for (int i = 0; i < n; i++)
		kinds[i] = (AuditEncKind) (ReadByte(&r) % NUM_KINDS);
	for (int i = 0; i < n; i++)
		ReadValue(&r, kinds[i], &a[i]);
	MakeB(&r, a, b, n);

	ea = Encode(a, n);
	ea2 = Encode(a, n);
	eb = Encode(b, n);

	want = strlen(AUDITENC_VERSION);
	for (int i = 0; i < n; i++)
		want += 1 + (a[i].isnull ? 0 : 8 +
					 (kinds[i] == AUDITENC_BYTES ? a[i].v.bytes.len : 0));
	if (ea.len != want)
		Fail("encoding has the wrong length");
	if (ea2.len != ea.len || memcmp(ea2.data, ea.data, ea.len) != 0)
		Fail("encoding is not deterministic");
	CheckDecodes(&ea, a, n);
	CheckDecodes(&eb, b, n);

	same = SameRow(a, b, n);
	same_bytes = ea.len == eb.len && memcmp(ea.data, eb.data, ea.len) == 0;
	if (same != same_bytes)
		Fail(same ? "one row encodes two ways" : "two rows encode to the same bytes");
	if (!same &&
		memcmp(ea.data, eb.data, ea.len < eb.len ? ea.len : eb.len) == 0)
		Fail("one row's encoding is a prefix of another's");

	free(ea.data);
	free(ea2.data);
	free(eb.data);
	FreeRow(a, n);
	FreeRow(b, n);
	return 0;
}
