/*-------------------------------------------------------------------------
 *
 * envelope_test.c
 *		Unit tests for the envelope parser and builder and for the binary16
 *		conversions in halfutils.h.
 *
 * Every check is one assertion.  Sizes and byte offsets are computed here
 * by hand (or by small reference helpers written independently of
 * envelope.c) so that the code under test is never its own oracle.  Loops
 * over many inputs (truncations, half bit patterns, random floats) count as
 * a single assertion each and print the first few mismatches.
 *
 * The last line of output is "unit: N passed, N failed"; the exit status is
 * non-zero when any assertion failed.
 *
 *-------------------------------------------------------------------------
 */
#include "base/envelope.h"
#include "base/halfutils.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

#define KEY_ID			42
#define CREATED			INT64_C(757382400000000)	/* 2024-01-01 */
#define EXPIRES			INT64_C(788918400000000)	/* 2025-01-01 */
#define MAX_REPORTS		5	/* mismatches printed per looping assertion */
#define RANDOM_FLOATS	1000000


/* Description of a valid envelope together with its hand-computed sizes. */
typedef struct ValidCase
{
	const char *name;
	uint8_t		cipher;
	uint8_t		format;
	uint8_t		flags;
	uint32_t	dims;
	uint16_t	rows;
	uint16_t	cols;
	uint16_t	bits_per_cell;
	const char *subject;
	int			npurposes;
	const char *purposes[4];
	size_t		header_len;
	size_t		nonce_len;
	size_t		payload_len;
	size_t		total_len;
} ValidCase;

/*
 * Header: 44 fixed bytes + subject + (1 + len) per purpose.  Nonce: 12 for
 * AES-GCM, 24 for XChaCha.  Payload: f32 4d, f16 2d, i8 4+d, bits d/8 (x2
 * with the mask).  Tag: 16.
 */
static const ValidCase valid_cases[] = {
	/* 44+5+(1+4) = 54; 12; 4*128 = 512; 54+12+512+16 = 594 */
	{"f32/aes", 1, 1, 0, 128, 0, 0, 0, "alice", 1, {"auth"},
	54, 12, 512, 594},
	/* 44+3+(1+4)+(1+5) = 58; 24; 2*512 = 1024; 58+24+1024+16 = 1122 */
	{"f16/xchacha", 2, 2, 0, 512, 0, 0, 0, "bob", 2, {"auth", "login"},
	58, 24, 1024, 1122},
	/* 44+17+(1+10) = 72; 12; 4+256 = 260; 72+12+260+16 = 360 */
	{"i8/aes", 1, 3, 0, 256, 0, 0, 0, "carol@example.org", 1, {"attendance"},
	72, 12, 260, 360},
	/* 44+4+3*(1+1) = 54; 24; 1024/8 = 128; 54+24+128+16 = 222 */
	{"bits/xchacha", 2, 4, 0, 1024, 0, 0, 0, "dave", 3, {"a", "b", "c"},
	54, 24, 128, 222},
	/* 44+3+(1+10) = 58; 12; 2*1024/8 = 256; 58+12+256+16 = 342 */
	{"bits+mask/aes", 1, 4, 1, 1024, 0, 0, 0, "eve", 1, {"door.front"},
	58, 12, 256, 342},
	/* 44+5+(1+4) = 54; 12; 2048/8 = 256; 54+12+256+16 = 338 */
	{"bits 8x128x2/aes", 1, 4, 0, 2048, 8, 128, 2, "frank", 1, {"iris"},
	54, 12, 256, 338},
	/* 44+5+(1+4)+(1+7) = 62; 24; 2*16384/8 = 4096; 62+24+4096+16 = 4198 */
	{"bits+mask 16x256x4/xchacha", 2, 4, 1, 16384, 16, 256, 4, "grace", 2,
	{"iris", "iris-v2"}, 62, 24, 4096, 4198},
	/* 44+5+(1+4) = 54; 24; 16384/8 = 2048; 54+24+2048+16 = 2142 */
	{"bits 16x256x4/xchacha", 2, 4, 0, 16384, 16, 256, 4, "heidi", 1,
	{"iris"}, 54, 24, 2048, 2142},
	/* 44+2+(1+4) = 51; 12; 4*16000 = 64000; 51+12+64000+16 = 64079 */
	{"f32 max dims/aes", 1, 1, 0, 16000, 0, 0, 0, "\xc3\xa9", 1, {"auth"},
	51, 12, 64000, 64079},
	/* 44+1+(1+4) = 50; 12; 65536/8 = 8192; 50+12+8192+16 = 8270 */
	{"bits max/aes", 1, 4, 0, 65536, 0, 0, 0, "x", 1, {"auth"},
	50, 12, 8192, 8270},
};

#define NUM_VALID_CASES (sizeof(valid_cases) / sizeof(valid_cases[0]))

/* Name of a status, for diagnostics. */
static const char *
StatusName(EnvelopeStatus status)
{
	static const char *const names[] = {
		"ENVELOPE_OK", "ENVELOPE_TRUNCATED", "ENVELOPE_BAD_MAGIC",
		"ENVELOPE_BAD_VERSION", "ENVELOPE_BAD_CIPHER", "ENVELOPE_BAD_FORMAT",
		"ENVELOPE_BAD_FLAGS", "ENVELOPE_BAD_RESERVED", "ENVELOPE_BAD_DIMS",
		"ENVELOPE_BAD_LAYOUT", "ENVELOPE_BAD_HEADER_LENGTH",
		"ENVELOPE_BAD_KEY_ID", "ENVELOPE_BAD_TIMES", "ENVELOPE_BAD_SUBJECT",
		"ENVELOPE_BAD_PURPOSES", "ENVELOPE_BAD_LENGTH"
	};

	if ((unsigned) status < sizeof(names) / sizeof(names[0]))
		return names[status];
	return "(unknown status)";
}

/* Assert that a status equals the expected one. */
static void
CheckStatus(EnvelopeStatus got, EnvelopeStatus want, const char *ctx,
			const char *what)
{
	Check(got == want, "%s: %s: got %s, want %s", ctx, what,
		  StatusName(got), StatusName(want));
}

/* Assert that two unsigned integers are equal. */
static void
CheckU64(uint64_t got, uint64_t want, const char *ctx, const char *what)
{
	Check(got == want, "%s: %s = %" PRIu64 ", want %" PRIu64,
		  ctx, what, got, want);
}

/* Assert that two signed integers are equal. */
static void
CheckI64(int64_t got, int64_t want, const char *ctx, const char *what)
{
	Check(got == want, "%s: %s = %" PRId64 ", want %" PRId64,
		  ctx, what, got, want);
}

/* malloc that gives up on failure; size 0 still yields a distinct block. */
static uint8_t *
Alloc(size_t size)
{
	uint8_t    *p = malloc(size > 0 ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

/* Read a little-endian unsigned integer of n bytes at buf + off. */
static uint64_t
GetLE(const uint8_t *buf, size_t off, int n)
{
	uint64_t	v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t) buf[off + i] << (8 * i);
	return v;
}

/* Store a little-endian unsigned integer of n bytes at buf + off. */
static void
PutLE(uint8_t *buf, size_t off, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		buf[off + i] = (uint8_t) (v >> (8 * i));
}

/* Fill a buffer with a recognizable byte pattern. */
static void
FillPattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t) (i * 31 + seed);
}

/* Set up a header from a valid case (derived sizes left zero). */
static void
HeaderFromCase(EnvelopeHeader *hdr, const ValidCase *c)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->cipher = c->cipher;
	hdr->format = c->format;
	hdr->flags = c->flags;
	hdr->dims = c->dims;
	hdr->rows = c->rows;
	hdr->cols = c->cols;
	hdr->bits_per_cell = c->bits_per_cell;
	hdr->key_id = KEY_ID;
	hdr->created = CREATED;
	hdr->expires = EXPIRES;
	hdr->subject = c->subject;
	hdr->subject_len = (uint16_t) strlen(c->subject);
	hdr->npurposes = (uint8_t) c->npurposes;
	for (int i = 0; i < c->npurposes; i++)
	{
		hdr->purpose[i] = c->purposes[i];
		hdr->purpose_len[i] = (uint8_t) strlen(c->purposes[i]);
	}
}

/*
 * Sizes from the format description, independent of envelope.c.  Unknown
 * ciphers and formats count as zero bytes; at most 16 purposes are read.
 */
static size_t
RefSizes(const EnvelopeHeader *hdr, size_t *header_len, size_t *nonce_len,
		 size_t *payload_len)
{
	size_t		h = 44 + (size_t) hdr->subject_len;
	int			np = hdr->npurposes > 16 ? 16 : hdr->npurposes;

	for (int i = 0; i < np; i++)
		h += 1 + (size_t) hdr->purpose_len[i];
	*header_len = h;
	*nonce_len = hdr->cipher == 1 ? 12 : hdr->cipher == 2 ? 24 : 0;
	switch (hdr->format)
	{
		case 1:
			*payload_len = 4 * (size_t) hdr->dims;
			break;
		case 2:
			*payload_len = 2 * (size_t) hdr->dims;
			break;
		case 3:
			*payload_len = 4 + (size_t) hdr->dims;
			break;
		case 4:
			*payload_len = (size_t) hdr->dims / 8 * ((hdr->flags & 1) ? 2 : 1);
			break;
		default:
			*payload_len = 0;
			break;
	}
	return *header_len + *nonce_len + *payload_len + 16;
}

/*
 * Serialize a header without validating it: sizes come from RefSizes, the
 * header from EnvelopeWriteHeader, then nonce, payload and tag patterns.
 */
static uint8_t *
BuildRaw(const EnvelopeHeader *hdr, size_t *len)
{
	EnvelopeHeader tmp = *hdr;
	size_t		nonce_len;
	size_t		payload_len;
	size_t		total;
	uint8_t    *buf;

	total = RefSizes(hdr, &tmp.header_len, &nonce_len, &payload_len);
	buf = Alloc(total);
	EnvelopeWriteHeader(&tmp, buf);
	FillPattern(buf + tmp.header_len, total - tmp.header_len, 7);
	*len = total;
	return buf;
}

/* Parse a copy of len bytes held in an exactly sized block. */
static EnvelopeStatus
ParseCopy(const uint8_t *src, size_t len, EnvelopeHeader *hdr)
{
	uint8_t    *copy = Alloc(len);
	EnvelopeStatus status;

	if (len > 0)
		memcpy(copy, src, len);
	status = EnvelopeParse(copy, len, hdr);
	free(copy);
	return status;
}

/*
 * Assert that a header is rejected with the given status both when it is
 * validated as a struct (EnvelopeComputeSizes) and when it is parsed from
 * bytes that are otherwise consistent.
 */
static void
ExpectHeader(const EnvelopeHeader *hdr, EnvelopeStatus want, const char *what)
{
	EnvelopeHeader tmp = *hdr;
	EnvelopeHeader parsed;
	size_t		len;
	uint8_t    *buf;

	CheckStatus(EnvelopeComputeSizes(&tmp), want, what, "compute sizes");
	buf = BuildRaw(hdr, &len);
	CheckStatus(EnvelopeParse(buf, len, &parsed), want, what, "parse");
	free(buf);
}

/* Assert the parse status of a valid envelope with one byte changed. */
static void
ExpectPatched(const uint8_t *base, size_t len, size_t off, uint8_t value,
			  EnvelopeStatus want, const char *what)
{
	uint8_t    *buf = Alloc(len);
	EnvelopeHeader parsed;

	memcpy(buf, base, len);
	buf[off] = value;
	CheckStatus(EnvelopeParse(buf, len, &parsed), want, what, "parse");
	free(buf);
}

/* Check the serialized header byte by byte against the format description. */
static void
CheckHeaderBytes(const uint8_t *buf, const ValidCase *c)
{
	size_t		off = 44;
	size_t		slen = strlen(c->subject);
	int			ok;

	Check(memcmp(buf, "BCT\001", 4) == 0, "%s: magic and version", c->name);
	CheckU64(buf[4], c->cipher, c->name, "byte 4 (cipher)");
	CheckU64(buf[5], c->format, c->name, "byte 5 (format)");
	CheckU64(buf[6], c->flags, c->name, "byte 6 (flags)");
	CheckU64(buf[7], 0, c->name, "byte 7 (reserved)");
	CheckU64(GetLE(buf, 8, 4), c->dims, c->name, "bytes 8-11 (dims)");
	CheckU64(GetLE(buf, 12, 2), c->rows, c->name, "bytes 12-13 (rows)");
	CheckU64(GetLE(buf, 14, 2), c->cols, c->name, "bytes 14-15 (cols)");
	CheckU64(GetLE(buf, 16, 2), c->bits_per_cell, c->name,
			 "bytes 16-17 (bits per cell)");
	CheckU64(GetLE(buf, 18, 2), c->header_len, c->name,
			 "bytes 18-19 (header length)");
	CheckU64(GetLE(buf, 20, 4), KEY_ID, c->name, "bytes 20-23 (key id)");
	CheckI64((int64_t) GetLE(buf, 24, 8), CREATED, c->name,
			 "bytes 24-31 (created)");
	CheckI64((int64_t) GetLE(buf, 32, 8), EXPIRES, c->name,
			 "bytes 32-39 (expires)");
	CheckU64(GetLE(buf, 40, 2), slen, c->name, "bytes 40-41 (subject length)");
	CheckU64(buf[42], (uint64_t) c->npurposes, c->name, "byte 42 (purposes)");
	CheckU64(buf[43], 0, c->name, "byte 43 (reserved)");

	ok = memcmp(buf + off, c->subject, slen) == 0;
	off += slen;
	for (int i = 0; i < c->npurposes; i++)
	{
		size_t		plen = strlen(c->purposes[i]);

		ok = ok && buf[off] == plen &&
			memcmp(buf + off + 1, c->purposes[i], plen) == 0;
		off += 1 + plen;
	}
	Check(ok && off == c->header_len, "%s: subject and purposes bytes",
		  c->name);
}

/* Check that a parsed header matches the case it was built from. */
static void
CheckParsedHeader(const EnvelopeHeader *p, const uint8_t *buf,
				  const ValidCase *c)
{
	size_t		off = 44;
	int			ok;

	CheckU64(p->cipher, c->cipher, c->name, "parsed cipher");
	CheckU64(p->format, c->format, c->name, "parsed format");
	CheckU64(p->flags, c->flags, c->name, "parsed flags");
	CheckU64(p->dims, c->dims, c->name, "parsed dims");
	CheckU64(p->rows, c->rows, c->name, "parsed rows");
	CheckU64(p->cols, c->cols, c->name, "parsed cols");
	CheckU64(p->bits_per_cell, c->bits_per_cell, c->name,
			 "parsed bits per cell");
	CheckU64(p->key_id, KEY_ID, c->name, "parsed key id");
	CheckI64(p->created, CREATED, c->name, "parsed created");
	CheckI64(p->expires, EXPIRES, c->name, "parsed expires");
	CheckU64(p->subject_len, strlen(c->subject), c->name,
			 "parsed subject length");
	Check((const uint8_t *) p->subject == buf + off &&
		  memcmp(p->subject, c->subject, strlen(c->subject)) == 0,
		  "%s: parsed subject points at offset 44 and matches", c->name);
	off += strlen(c->subject);
	CheckU64(p->npurposes, (uint64_t) c->npurposes, c->name,
			 "parsed purpose count");
	ok = p->npurposes == c->npurposes;
	for (int i = 0; ok && i < c->npurposes; i++)
	{
		size_t		plen = strlen(c->purposes[i]);

		ok = p->purpose_len[i] == plen &&
			(const uint8_t *) p->purpose[i] == buf + off + 1 &&
			memcmp(p->purpose[i], c->purposes[i], plen) == 0;
		off += 1 + plen;
	}
	Check(ok, "%s: parsed purposes point into the buffer and match", c->name);
	CheckU64(p->header_len, c->header_len, c->name, "parsed header_len");
	CheckU64(p->nonce_len, c->nonce_len, c->name, "parsed nonce_len");
	CheckU64(p->payload_len, c->payload_len, c->name, "parsed payload_len");
	CheckU64(p->total_len, c->total_len, c->name, "parsed total_len");
}

/*
 * Build one valid envelope, check its sizes and bytes, parse it back, then
 * try every truncation and a trailing byte.
 */
static void
TestValidCase(const ValidCase *c)
{
	EnvelopeHeader hdr;
	EnvelopeHeader parsed;
	uint8_t    *buf;
	uint8_t    *again;
	size_t		written;
	int			bad = 0;

	HeaderFromCase(&hdr, c);
	CheckStatus(EnvelopeComputeSizes(&hdr), ENVELOPE_OK, c->name,
				"compute sizes");
	CheckU64(hdr.header_len, c->header_len, c->name, "header_len");
	CheckU64(hdr.nonce_len, c->nonce_len, c->name, "nonce_len");
	CheckU64(hdr.payload_len, c->payload_len, c->name, "payload_len");
	CheckU64(hdr.total_len, c->total_len, c->name, "total_len");
	CheckU64(EnvelopeNonceSize(c->cipher), c->nonce_len, c->name,
			 "EnvelopeNonceSize");
	CheckU64(EnvelopePayloadSize(c->format, c->dims, c->flags), c->payload_len,
			 c->name, "EnvelopePayloadSize");

	/* header || nonce || payload || tag, with a distinct pattern for each */
	buf = Alloc(c->total_len + 1);
	written = EnvelopeWriteHeader(&hdr, buf);
	CheckU64(written, c->header_len, c->name, "EnvelopeWriteHeader result");
	FillPattern(buf + c->header_len, c->nonce_len, 1);
	FillPattern(buf + c->header_len + c->nonce_len, c->payload_len, 2);
	FillPattern(buf + c->total_len - 16, 16, 3);
	CheckHeaderBytes(buf, c);

	CheckStatus(EnvelopeParse(buf, c->total_len, &parsed), ENVELOPE_OK,
				c->name, "parse");
	CheckParsedHeader(&parsed, buf, c);

	/* writing the parsed header again reproduces the same bytes */
	again = Alloc(c->header_len);
	written = EnvelopeWriteHeader(&parsed, again);
	Check(written == c->header_len &&
		  memcmp(again, buf, c->header_len) == 0,
		  "%s: re-serialized header is identical", c->name);
	free(again);

	/* every proper prefix is truncated, each in an exactly sized block */
	for (size_t len = 0; len < c->total_len; len++)
	{
		EnvelopeStatus status = ParseCopy(buf, len, &parsed);

		if (status != ENVELOPE_TRUNCATED && bad++ < MAX_REPORTS)
			printf("  %s: prefix of %zu bytes gives %s\n", c->name, len,
				   StatusName(status));
	}
	Check(bad == 0, "%s: all %zu proper prefixes give ENVELOPE_TRUNCATED",
		  c->name, c->total_len);

	buf[c->total_len] = 0;
	CheckStatus(ParseCopy(buf, c->total_len + 1, &parsed), ENVELOPE_BAD_LENGTH,
				c->name, "one trailing byte");
	free(buf);
}

/* Rejections of the fixed bytes: magic, version, reserved, header length. */
static void
TestFixedBytes(void)
{
	EnvelopeHeader hdr;
	EnvelopeHeader parsed;
	const ValidCase *c = &valid_cases[0];
	uint8_t    *buf;
	uint8_t    *big;

	HeaderFromCase(&hdr, c);
	if (EnvelopeComputeSizes(&hdr) != ENVELOPE_OK)
	{
		Check(0, "fixed bytes: base header does not validate");
		return;
	}
	buf = Alloc(hdr.total_len);
	EnvelopeWriteHeader(&hdr, buf);
	FillPattern(buf + hdr.header_len, hdr.total_len - hdr.header_len, 5);
	CheckStatus(EnvelopeParse(buf, hdr.total_len, &parsed), ENVELOPE_OK,
				"fixed bytes", "unmodified base");

	CheckStatus(EnvelopeParse(NULL, hdr.total_len, &parsed),
				ENVELOPE_TRUNCATED, "fixed bytes", "NULL buffer");
	ExpectPatched(buf, hdr.total_len, 0, 'b', ENVELOPE_BAD_MAGIC, "magic[0]");
	ExpectPatched(buf, hdr.total_len, 1, 'c', ENVELOPE_BAD_MAGIC, "magic[1]");
	ExpectPatched(buf, hdr.total_len, 2, 0, ENVELOPE_BAD_MAGIC, "magic[2]");
	ExpectPatched(buf, hdr.total_len, 0, 0xff, ENVELOPE_BAD_MAGIC,
				  "magic[0] 0xff");
	ExpectPatched(buf, hdr.total_len, 3, 0, ENVELOPE_BAD_VERSION, "version 0");
	ExpectPatched(buf, hdr.total_len, 3, 2, ENVELOPE_BAD_VERSION, "version 2");
	ExpectPatched(buf, hdr.total_len, 3, 255, ENVELOPE_BAD_VERSION,
				  "version 255");
	ExpectPatched(buf, hdr.total_len, 7, 1, ENVELOPE_BAD_RESERVED,
				  "reserved byte 7 = 1");
	ExpectPatched(buf, hdr.total_len, 7, 0x80, ENVELOPE_BAD_RESERVED,
				  "reserved byte 7 = 0x80");
	ExpectPatched(buf, hdr.total_len, 43, 1, ENVELOPE_BAD_RESERVED,
				  "reserved byte 43 = 1");
	ExpectPatched(buf, hdr.total_len, 43, 0x80, ENVELOPE_BAD_RESERVED,
				  "reserved byte 43 = 0x80");

	/* header length field (offset 18, little-endian u16) */
	PutLE(buf, 18, hdr.header_len + 1, 2);
	CheckStatus(ParseCopy(buf, hdr.total_len, &parsed),
				ENVELOPE_BAD_HEADER_LENGTH, "fixed bytes", "header_len + 1");
	PutLE(buf, 18, hdr.header_len - 1, 2);
	CheckStatus(ParseCopy(buf, hdr.total_len, &parsed),
				ENVELOPE_BAD_HEADER_LENGTH, "fixed bytes", "header_len - 1");
	PutLE(buf, 18, hdr.header_len + 256, 2);
	CheckStatus(ParseCopy(buf, hdr.total_len, &parsed),
				ENVELOPE_BAD_HEADER_LENGTH, "fixed bytes",
				"header_len high byte + 1");
	PutLE(buf, 18, 0, 2);
	CheckStatus(ParseCopy(buf, hdr.total_len, &parsed),
				ENVELOPE_BAD_HEADER_LENGTH, "fixed bytes", "header_len 0");
	PutLE(buf, 18, 0xffff, 2);
	CheckStatus(ParseCopy(buf, hdr.total_len, &parsed),
				ENVELOPE_BAD_HEADER_LENGTH, "fixed bytes",
				"header_len 0xffff");
	PutLE(buf, 18, hdr.header_len, 2);
	CheckStatus(ParseCopy(buf, hdr.total_len, &parsed), ENVELOPE_OK,
				"fixed bytes", "header_len restored");

	/* several trailing bytes, and a trailing block as long again */
	big = Alloc(2 * hdr.total_len);
	memcpy(big, buf, hdr.total_len);
	memcpy(big + hdr.total_len, buf, hdr.total_len);
	CheckStatus(ParseCopy(big, hdr.total_len + 16, &parsed),
				ENVELOPE_BAD_LENGTH, "fixed bytes", "16 trailing bytes");
	CheckStatus(ParseCopy(big, 2 * hdr.total_len, &parsed),
				ENVELOPE_BAD_LENGTH, "fixed bytes", "envelope repeated twice");
	free(big);
	free(buf);
}

/* Rejections of cipher, format, flags, dims and bit layout. */
static void
TestShape(void)
{
	EnvelopeHeader vec;
	EnvelopeHeader bits;
	EnvelopeHeader h;

	HeaderFromCase(&vec, &valid_cases[0]);	/* f32, 128 dims */
	HeaderFromCase(&bits, &valid_cases[5]); /* bits 2048, 8x128x2 */

	h = vec;
	h.cipher = 0;
	ExpectHeader(&h, ENVELOPE_BAD_CIPHER, "cipher 0");
	h.cipher = 3;
	ExpectHeader(&h, ENVELOPE_BAD_CIPHER, "cipher 3");
	h.cipher = 255;
	ExpectHeader(&h, ENVELOPE_BAD_CIPHER, "cipher 255");
	CheckU64(EnvelopeNonceSize(0), 0, "nonce size", "cipher 0");
	CheckU64(EnvelopeNonceSize(3), 0, "nonce size", "cipher 3");

	h = vec;
	h.format = 0;
	ExpectHeader(&h, ENVELOPE_BAD_FORMAT, "format 0");
	h.format = 5;
	ExpectHeader(&h, ENVELOPE_BAD_FORMAT, "format 5");
	h.format = 255;
	ExpectHeader(&h, ENVELOPE_BAD_FORMAT, "format 255");

	/* the mask flag is only for bit codes */
	for (uint8_t fmt = 1; fmt <= 3; fmt++)
	{
		char		what[64];

		h = vec;
		h.format = fmt;
		h.flags = ENVELOPE_FLAG_MASK;
		snprintf(what, sizeof(what), "mask flag on format %u", fmt);
		ExpectHeader(&h, ENVELOPE_BAD_FLAGS, what);
	}
	h = bits;
	h.flags = 0x02;
	ExpectHeader(&h, ENVELOPE_BAD_FLAGS, "unknown flag 0x02 on bits");
	h.flags = 0x03;
	ExpectHeader(&h, ENVELOPE_BAD_FLAGS, "flags 0x03 on bits");
	h.flags = 0x80;
	ExpectHeader(&h, ENVELOPE_BAD_FLAGS, "unknown flag 0x80 on bits");
	h = vec;
	h.flags = 0x02;
	ExpectHeader(&h, ENVELOPE_BAD_FLAGS, "unknown flag 0x02 on f32");

	/* vector dims: 1..16000 */
	for (uint8_t fmt = 1; fmt <= 3; fmt++)
	{
		char		what[64];

		h = vec;
		h.format = fmt;
		h.dims = 0;
		snprintf(what, sizeof(what), "format %u dims 0", fmt);
		ExpectHeader(&h, ENVELOPE_BAD_DIMS, what);
		h.dims = 16001;
		snprintf(what, sizeof(what), "format %u dims 16001", fmt);
		ExpectHeader(&h, ENVELOPE_BAD_DIMS, what);
		h.dims = 1;
		snprintf(what, sizeof(what), "format %u dims 1", fmt);
		ExpectHeader(&h, ENVELOPE_OK, what);
		h.dims = 16000;
		snprintf(what, sizeof(what), "format %u dims 16000", fmt);
		ExpectHeader(&h, ENVELOPE_OK, what);
	}
	h = vec;
	h.dims = UINT32_MAX;
	CheckStatus(EnvelopeComputeSizes(&h), ENVELOPE_BAD_DIMS, "f32 dims",
				"UINT32_MAX (compute sizes)");

	/* bit dims: a multiple of 8 in 8..65536 */
	h = bits;
	h.rows = h.cols = h.bits_per_cell = 0;
	h.dims = 0;
	ExpectHeader(&h, ENVELOPE_BAD_DIMS, "bits 0");
	h.dims = 12;
	ExpectHeader(&h, ENVELOPE_BAD_DIMS, "bits 12");
	h.dims = 2047;
	ExpectHeader(&h, ENVELOPE_BAD_DIMS, "bits 2047");
	h.dims = 65544;
	ExpectHeader(&h, ENVELOPE_BAD_DIMS, "bits 65544");
	h.dims = 65537;
	ExpectHeader(&h, ENVELOPE_BAD_DIMS, "bits 65537");
	h.dims = 8;
	ExpectHeader(&h, ENVELOPE_OK, "bits 8");
	h.flags = ENVELOPE_FLAG_MASK;
	h.dims = 65536;
	ExpectHeader(&h, ENVELOPE_OK, "bits 65536 with mask");

	/* layout */
	h = vec;
	h.rows = 8;
	h.cols = 4;
	h.bits_per_cell = 4;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "layout on f32");
	h.format = ENVELOPE_FORMAT_I8;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "layout on i8");
	h = vec;
	h.cols = 1;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "one layout field on f32");

	h = bits;
	h.bits_per_cell = 3;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "layout 8x128x3 for 2048 bits");
	h = bits;
	h.rows = 16;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "layout 16x128x2 for 2048 bits");
	h = bits;
	h.dims = 4096;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "layout 8x128x2 for 4096 bits");
	h = bits;
	h.rows = 65535;
	h.cols = 65535;
	h.bits_per_cell = 65535;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "layout 65535^3 for 2048 bits");
	h = bits;
	h.rows = 0;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "layout with rows 0");
	h = bits;
	h.cols = 0;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "layout with cols 0");
	h = bits;
	h.bits_per_cell = 0;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "layout with bits_per_cell 0");
	h = bits;
	h.rows = 0;
	h.cols = 0;
	ExpectHeader(&h, ENVELOPE_BAD_LAYOUT, "layout with only bits_per_cell");
	h = bits;
	h.rows = 2048;
	h.cols = 1;
	h.bits_per_cell = 1;
	ExpectHeader(&h, ENVELOPE_OK, "layout 2048x1x1");
}

/* Rejections of key id and timestamps. */
static void
TestKeyAndTimes(void)
{
	EnvelopeHeader base;
	EnvelopeHeader h;

	HeaderFromCase(&base, &valid_cases[1]);

	h = base;
	h.key_id = 0;
	ExpectHeader(&h, ENVELOPE_BAD_KEY_ID, "key id 0");
	h.key_id = 1;
	ExpectHeader(&h, ENVELOPE_OK, "key id 1");
	h.key_id = UINT32_MAX;
	ExpectHeader(&h, ENVELOPE_OK, "key id UINT32_MAX");

	h = base;
	h.expires = h.created;
	ExpectHeader(&h, ENVELOPE_BAD_TIMES, "created == expires");
	h.expires = h.created - 1;
	ExpectHeader(&h, ENVELOPE_BAD_TIMES, "created > expires");
	h.expires = h.created + 1;
	ExpectHeader(&h, ENVELOPE_OK, "expires = created + 1");

	h = base;
	h.expires = ENVELOPE_END_TIMESTAMP;
	ExpectHeader(&h, ENVELOPE_BAD_TIMES, "expires == END_TIMESTAMP");
	h.expires = INT64_MAX;
	ExpectHeader(&h, ENVELOPE_BAD_TIMES, "expires INT64_MAX");
	h.expires = ENVELOPE_END_TIMESTAMP - 1;
	ExpectHeader(&h, ENVELOPE_OK, "expires END_TIMESTAMP - 1");

	h = base;
	h.created = ENVELOPE_MIN_TIMESTAMP - 1;
	ExpectHeader(&h, ENVELOPE_BAD_TIMES, "created MIN_TIMESTAMP - 1");
	h.created = INT64_MIN;
	ExpectHeader(&h, ENVELOPE_BAD_TIMES, "created INT64_MIN");
	h.created = ENVELOPE_MIN_TIMESTAMP;
	ExpectHeader(&h, ENVELOPE_OK, "created MIN_TIMESTAMP");
	h.expires = ENVELOPE_END_TIMESTAMP - 1;
	ExpectHeader(&h, ENVELOPE_OK, "full timestamp range");
	h.created = -1;
	h.expires = 0;
	ExpectHeader(&h, ENVELOPE_OK, "created -1, expires 0");
}

/* Assert the status for a header whose subject is the given bytes. */
static void
ExpectSubject(const char *subject, size_t len, EnvelopeStatus want,
			  const char *what)
{
	EnvelopeHeader h;

	HeaderFromCase(&h, &valid_cases[0]);
	h.subject = subject;
	h.subject_len = (uint16_t) len;
	ExpectHeader(&h, want, what);
}

/* Subject length, NUL bytes and strict UTF-8. */
static void
TestSubject(void)
{
	char		big[300];

	memset(big, 'a', sizeof(big));
	ExpectSubject("", 0, ENVELOPE_BAD_SUBJECT, "empty subject");
	ExpectSubject(big, 256, ENVELOPE_OK, "256-byte subject");
	ExpectSubject(big, 257, ENVELOPE_BAD_SUBJECT, "257-byte subject");
	ExpectSubject(big, 300, ENVELOPE_BAD_SUBJECT, "300-byte subject");
	ExpectSubject("a", 1, ENVELOPE_OK, "1-byte subject");
	ExpectSubject("a\0b", 3, ENVELOPE_BAD_SUBJECT, "NUL inside subject");
	ExpectSubject("\0", 1, ENVELOPE_BAD_SUBJECT, "subject is one NUL");
	ExpectSubject("ab\0", 3, ENVELOPE_BAD_SUBJECT, "NUL ending subject");

	/* invalid UTF-8 */
	ExpectSubject("\xc0\x80", 2, ENVELOPE_BAD_SUBJECT, "overlong C0 80");
	ExpectSubject("\xc1\xbf", 2, ENVELOPE_BAD_SUBJECT, "overlong C1 BF");
	ExpectSubject("\xe0\x80\x80", 3, ENVELOPE_BAD_SUBJECT,
				  "overlong E0 80 80");
	ExpectSubject("\xe0\x9f\xbf", 3, ENVELOPE_BAD_SUBJECT,
				  "overlong E0 9F BF");
	ExpectSubject("\xf0\x8f\xbf\xbf", 4, ENVELOPE_BAD_SUBJECT,
				  "overlong F0 8F BF BF");
	ExpectSubject("\xed\xa0\x80", 3, ENVELOPE_BAD_SUBJECT,
				  "surrogate ED A0 80");
	ExpectSubject("\xed\xbf\xbf", 3, ENVELOPE_BAD_SUBJECT,
				  "surrogate ED BF BF");
	ExpectSubject("\xf4\x90\x80\x80", 4, ENVELOPE_BAD_SUBJECT,
				  "U+110000 F4 90 80 80");
	ExpectSubject("\xf5\x80\x80\x80", 4, ENVELOPE_BAD_SUBJECT, "F5 byte");
	ExpectSubject("a\xff", 2, ENVELOPE_BAD_SUBJECT, "FF byte");
	ExpectSubject("\x80", 1, ENVELOPE_BAD_SUBJECT, "lone continuation");
	ExpectSubject("\xc3", 1, ENVELOPE_BAD_SUBJECT, "truncated C3");
	ExpectSubject("ab\xe2\x82", 4, ENVELOPE_BAD_SUBJECT,
				  "truncated E2 82 at end");
	ExpectSubject("\xf0\x9d\x84", 3, ENVELOPE_BAD_SUBJECT,
				  "truncated F0 9D 84");
	/* cut sequences whose next byte in memory is a continuation byte */
	ExpectSubject("\xc3\xa9", 1, ENVELOPE_BAD_SUBJECT,
				  "C3 cut before its continuation");
	ExpectSubject("a\xe2\x82\xac", 3, ENVELOPE_BAD_SUBJECT,
				  "E2 82 cut before its last continuation");
	ExpectSubject("\xf0\x9d\x84\x9e", 3, ENVELOPE_BAD_SUBJECT,
				  "F0 9D 84 cut before its last continuation");
	ExpectSubject("\xe2\x82x", 3, ENVELOPE_BAD_SUBJECT,
				  "E2 82 followed by ASCII");
	ExpectSubject("\xc3\xa9\xa9", 3, ENVELOPE_BAD_SUBJECT,
				  "extra continuation byte");

	/* valid multibyte UTF-8 */
	ExpectSubject("\xc3\xa9", 2, ENVELOPE_OK, "U+00E9");
	ExpectSubject("\xc2\x80", 2, ENVELOPE_OK, "U+0080");
	ExpectSubject("\xdf\xbf", 2, ENVELOPE_OK, "U+07FF");
	ExpectSubject("\xe0\xa0\x80", 3, ENVELOPE_OK, "U+0800");
	ExpectSubject("\xe2\x82\xac", 3, ENVELOPE_OK, "U+20AC");
	ExpectSubject("\xed\x9f\xbf", 3, ENVELOPE_OK, "U+D7FF");
	ExpectSubject("\xee\x80\x80", 3, ENVELOPE_OK, "U+E000");
	ExpectSubject("\xef\xbf\xbf", 3, ENVELOPE_OK, "U+FFFF");
	ExpectSubject("\xf0\x90\x80\x80", 4, ENVELOPE_OK, "U+10000");
	ExpectSubject("\xf0\x9d\x84\x9e", 4, ENVELOPE_OK, "U+1D11E");
	ExpectSubject("\xf4\x8f\xbf\xbf", 4, ENVELOPE_OK, "U+10FFFF");
	ExpectSubject("Zo\xc3\xab \xe6\x9d\x8e", 8, ENVELOPE_OK,
				  "mixed ASCII, 2- and 3-byte sequences");
}

/* Assert the status for a header with the given 0..16 purpose names. */
static void
ExpectPurposes(const char *const *names, int n, EnvelopeStatus want,
			   const char *what)
{
	EnvelopeHeader h;

	HeaderFromCase(&h, &valid_cases[0]);
	h.npurposes = (uint8_t) n;
	for (int i = 0; i < n; i++)
	{
		h.purpose[i] = names[i];
		h.purpose_len[i] = (uint8_t) strlen(names[i]);
	}
	ExpectHeader(&h, want, what);
}

/*
 * Seventeen purposes cannot be described by an EnvelopeHeader, so patch the
 * count and append a seventeenth purpose to a valid sixteen-purpose
 * envelope by hand.
 */
static void
TestSeventeenPurposes(const char *const *names)
{
	EnvelopeHeader h;
	EnvelopeHeader parsed;
	uint8_t    *buf;
	uint8_t    *big;
	size_t		len;
	size_t		hlen;
	size_t		rest;

	HeaderFromCase(&h, &valid_cases[0]);
	h.npurposes = 16;
	for (int i = 0; i < 16; i++)
	{
		h.purpose[i] = names[i];
		h.purpose_len[i] = (uint8_t) strlen(names[i]);
	}
	buf = BuildRaw(&h, &len);
	CheckStatus(ParseCopy(buf, len, &parsed), ENVELOPE_OK, "16 purposes",
				"parse before adding a 17th");
	hlen = (size_t) GetLE(buf, 18, 2);
	rest = len - hlen;
	big = Alloc(len + 3);
	memcpy(big, buf, hlen);
	big[hlen] = 2;
	memcpy(big + hlen + 1, "zz", 2);
	memcpy(big + hlen + 3, buf + hlen, rest);
	big[42] = 17;
	PutLE(big, 18, hlen + 3, 2);
	CheckStatus(ParseCopy(big, len + 3, &parsed), ENVELOPE_BAD_PURPOSES,
				"17 purposes", "parse");
	big[42] = 255;
	CheckStatus(ParseCopy(big, len + 3, &parsed), ENVELOPE_BAD_PURPOSES,
				"255 purposes", "parse");
	free(big);
	free(buf);

	h.npurposes = 17;
	CheckStatus(EnvelopeComputeSizes(&h), ENVELOPE_BAD_PURPOSES,
				"17 purposes", "compute sizes");
}

/* Purpose count, names and canonical order. */
static void
TestPurposes(void)
{
	static char many[17][4];
	const char *many_ptrs[17];
	char		n63[64];
	char		n64[65];
	const char *list[2];

	for (int i = 0; i < 17; i++)
	{
		snprintf(many[i], sizeof(many[i]), "p%02d", i);
		many_ptrs[i] = many[i];
	}
	memset(n63, 'q', 63);
	n63[63] = '\0';
	memset(n64, 'q', 64);
	n64[64] = '\0';

	ExpectPurposes(many_ptrs, 0, ENVELOPE_BAD_PURPOSES, "0 purposes");
	ExpectPurposes(many_ptrs, 1, ENVELOPE_OK, "1 purpose");
	ExpectPurposes(many_ptrs, 16, ENVELOPE_OK, "16 purposes");
	TestSeventeenPurposes(many_ptrs);

	list[0] = "login";
	list[1] = "auth";
	ExpectPurposes(list, 2, ENVELOPE_BAD_PURPOSES, "unsorted purposes");
	list[0] = "auth";
	list[1] = "auth";
	ExpectPurposes(list, 2, ENVELOPE_BAD_PURPOSES, "duplicate purposes");
	list[1] = "auth2";
	ExpectPurposes(list, 2, ENVELOPE_OK, "prefix sorts first");
	list[0] = "auth2";
	list[1] = "auth";
	ExpectPurposes(list, 2, ENVELOPE_BAD_PURPOSES, "prefix sorted last");
	list[0] = "a-b";
	list[1] = "a.b";
	ExpectPurposes(list, 2, ENVELOPE_OK, "'-' < '.' bytewise");
	list[0] = "a.b";
	list[1] = "a-b";
	ExpectPurposes(list, 2, ENVELOPE_BAD_PURPOSES, "'.' before '-'");
	ExpectPurposes((const char *const[]) {"a", "b", "c", "c"}, 4,
				   ENVELOPE_BAD_PURPOSES, "duplicate at end of 4");

	ExpectPurposes((const char *const[]) {"Auth"}, 1,
				   ENVELOPE_BAD_PURPOSES, "uppercase first char");
	ExpectPurposes((const char *const[]) {"authZ"}, 1,
				   ENVELOPE_BAD_PURPOSES, "uppercase last char");
	ExpectPurposes((const char *const[]) {""}, 1,
				   ENVELOPE_BAD_PURPOSES, "empty name");
	ExpectPurposes((const char *const[]) {"", "auth"}, 2,
				   ENVELOPE_BAD_PURPOSES, "empty name first of two");
	ExpectPurposes((const char *const[]) {"a b"}, 1,
				   ENVELOPE_BAD_PURPOSES, "space in name");
	ExpectPurposes((const char *const[]) {"a/b"}, 1,
				   ENVELOPE_BAD_PURPOSES, "slash in name");
	ExpectPurposes((const char *const[]) {"caf\xc3\xa9"}, 1,
				   ENVELOPE_BAD_PURPOSES, "non-ASCII name");
	ExpectPurposes((const char *const[]) {"a_z.0-9"}, 1,
				   ENVELOPE_OK, "all allowed character classes");
	ExpectPurposes((const char *const[]) {n64}, 1,
				   ENVELOPE_BAD_PURPOSES, "64-char name");
	ExpectPurposes((const char *const[]) {n63}, 1,
				   ENVELOPE_OK, "63-char name");

	Check(EnvelopePurposeValid("auth", 4) == 1, "EnvelopePurposeValid(auth)");
	Check(EnvelopePurposeValid("auth", 0) == 0, "EnvelopePurposeValid(len 0)");
	Check(EnvelopePurposeValid("Auth", 4) == 0, "EnvelopePurposeValid(Auth)");
	Check(EnvelopePurposeValid(n63, 63) == 1, "EnvelopePurposeValid(63)");
	Check(EnvelopePurposeValid(n64, 64) == 0, "EnvelopePurposeValid(64)");
}

/* EnvelopeStatusMessage covers every status. */
static void
TestMessages(void)
{
	int			bad = 0;

	for (int s = ENVELOPE_OK; s <= ENVELOPE_BAD_LENGTH; s++)
	{
		const char *msg = EnvelopeStatusMessage((EnvelopeStatus) s);

		if (msg == NULL || msg[0] == '\0')
		{
			printf("  no message for %s\n", StatusName((EnvelopeStatus) s));
			bad++;
		}
	}
	Check(bad == 0, "every status has a non-empty message");
	Check(strcmp(EnvelopeStatusMessage(ENVELOPE_TRUNCATED),
				 EnvelopeStatusMessage(ENVELOPE_BAD_LENGTH)) != 0,
		  "truncated and trailing bytes have distinct messages");
}

/* Deterministic 64-bit generator (splitmix64). */
static uint64_t
NextRandom(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Bit pattern of a float. */
static uint32_t
FloatBits(float f)
{
	uint32_t	x;

	memcpy(&x, &f, sizeof(x));
	return x;
}

/* Float with a given bit pattern. */
static float
BitsFloat(uint32_t x)
{
	float		f;

	memcpy(&f, &x, sizeof(f));
	return f;
}

/*
 * Reference binary16 encoding of a non-NaN float, computed in double.  The
 * spacing of half values is 2^-24 below 2^-14 and 2^(e-10) in [2^e, 2^e+1);
 * x / spacing is exact in double, so is the split into integer and fraction.
 * Round to nearest with ties to an even multiple (even mantissa), then
 * encode; a result above 65504 overflows to infinity.
 */
static uint16_t
RefHalf(float f)
{
	uint16_t	sign = signbit(f) ? 0x8000 : 0;
	double		x = fabs((double) f);
	double		spacing;
	double		q;
	double		n;
	double		frac;
	double		value;
	int			e;

	if (isinf(x))
		return sign | 0x7c00;
	if (x < ldexp(1.0, -14))
		spacing = ldexp(1.0, -24);
	else
	{
		(void) frexp(x, &e);	/* x = m * 2^e, 0.5 <= m < 1 */
		spacing = ldexp(1.0, e - 1 - 10);
	}
	q = x / spacing;
	n = floor(q);
	frac = q - n;
	if (frac > 0.5 || (frac == 0.5 && fmod(n, 2.0) == 1.0))
		n += 1.0;
	value = n * spacing;
	if (value > 65504.0)
		return sign | 0x7c00;
	if (value < ldexp(1.0, -14))
		return sign | (uint16_t) n; /* subnormal or zero: n * 2^-24 */
	(void) frexp(value, &e);
	return sign | (uint16_t) ((e - 1 + 15) << 10) |
		(uint16_t) ((ldexp(value, -(e - 1)) - 1.0) * 1024.0);
}

/* Compare HalfFromFloat with RefHalf for one float; report a mismatch. */
static void
HalfMatches(float f, int *bad, const char *what)
{
	uint16_t	got = HalfFromFloat(f);
	uint16_t	want = RefHalf(f);

	if (got != want && (*bad)++ < MAX_REPORTS)
		printf("  %s: HalfFromFloat(%.9g = 0x%08x) = 0x%04x, want 0x%04x\n",
			   what, (double) f, (unsigned) FloatBits(f), got, want);
}

/* Is this binary16 bit pattern a NaN? */
static int
HalfIsNaN(uint16_t h)
{
	return (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0;
}

/* Round trip of every non-NaN half, and decoding of NaNs. */
static void
TestHalfExhaustive(void)
{
	int			bad = 0;
	int			nan_bad = 0;

	for (uint32_t i = 0; i <= 0xffff; i++)
	{
		uint16_t	h = (uint16_t) i;
		uint16_t	back;

		if (HalfIsNaN(h))
		{
			float		f = HalfToFloat(h);

			if (!isnan(f) || !HalfIsNaN(HalfFromFloat(f)) ||
				(HalfFromFloat(f) & 0x8000) != (h & 0x8000))
				nan_bad++;
			continue;
		}
		back = HalfFromFloat(HalfToFloat(h));
		if (back != h && bad++ < MAX_REPORTS)
			printf("  half 0x%04x -> %.9g -> 0x%04x\n", h,
				   (double) HalfToFloat(h), back);
	}
	Check(bad == 0, "HalfFromFloat(HalfToFloat(h)) == h for all non-NaN h");
	Check(nan_bad == 0, "NaN halves decode to NaN and re-encode to NaN");
}

/* HalfToFloat at values known by hand. */
static void
TestHalfDecode(void)
{
	Check(HalfToFloat(0x0000) == 0.0f && !signbit(HalfToFloat(0x0000)),
		  "HalfToFloat(0x0000) == +0");
	Check(HalfToFloat(0x8000) == 0.0f && signbit(HalfToFloat(0x8000)),
		  "HalfToFloat(0x8000) == -0");
	Check(HalfToFloat(0x0001) == ldexpf(1.0f, -24), "HalfToFloat(0x0001)");
	Check(HalfToFloat(0x8001) == -ldexpf(1.0f, -24), "HalfToFloat(0x8001)");
	Check(HalfToFloat(0x03ff) == 1023.0f * ldexpf(1.0f, -24),
		  "HalfToFloat(0x03ff) largest subnormal");
	Check(HalfToFloat(0x0400) == ldexpf(1.0f, -14),
		  "HalfToFloat(0x0400) smallest normal");
	Check(HalfToFloat(0x3c00) == 1.0f, "HalfToFloat(0x3c00) == 1");
	Check(HalfToFloat(0xc000) == -2.0f, "HalfToFloat(0xc000) == -2");
	Check(HalfToFloat(0x3555) == 0x1.554p-2f, "HalfToFloat(0x3555)");
	Check(HalfToFloat(0x7bff) == 65504.0f, "HalfToFloat(0x7bff) == 65504");
	Check(isinf(HalfToFloat(0x7c00)) && HalfToFloat(0x7c00) > 0,
		  "HalfToFloat(0x7c00) == +inf");
	Check(isinf(HalfToFloat(0xfc00)) && HalfToFloat(0xfc00) < 0,
		  "HalfToFloat(0xfc00) == -inf");
	Check(isnan(HalfToFloat(0x7e00)), "HalfToFloat(0x7e00) is NaN");
}

/* HalfFromFloat at the edges of its range, checked by hand. */
static void
TestHalfEdges(void)
{
	float		tiny = ldexpf(1.0f, -25);

	Check(HalfFromFloat(0.0f) == 0x0000, "HalfFromFloat(+0)");
	Check(HalfFromFloat(-0.0f) == 0x8000, "HalfFromFloat(-0)");
	Check(HalfFromFloat(1.0f) == 0x3c00, "HalfFromFloat(1)");
	Check(HalfFromFloat(-2.0f) == 0xc000, "HalfFromFloat(-2)");
	Check(HalfFromFloat(65504.0f) == 0x7bff, "HalfFromFloat(65504)");
	Check(HalfFromFloat(65519.99f) == 0x7bff, "HalfFromFloat(65519.99f)");
	Check(HalfFromFloat(nextafterf(65520.0f, 0.0f)) == 0x7bff,
		  "HalfFromFloat(float below 65520)");
	Check(HalfFromFloat(65520.0f) == 0x7c00, "HalfFromFloat(65520) == inf");
	Check(HalfFromFloat(-65520.0f) == 0xfc00, "HalfFromFloat(-65520) == -inf");
	Check(HalfFromFloat(-65519.99f) == 0xfbff, "HalfFromFloat(-65519.99f)");
	Check(HalfFromFloat(65536.0f) == 0x7c00, "HalfFromFloat(65536) == inf");
	Check(HalfFromFloat(70000.0f) == 0x7c00, "HalfFromFloat(70000) == inf");
	Check(HalfFromFloat(FLT_MAX) == 0x7c00, "HalfFromFloat(FLT_MAX) == inf");
	Check(HalfFromFloat(-FLT_MAX) == 0xfc00, "HalfFromFloat(-FLT_MAX)");
	Check(HalfFromFloat(INFINITY) == 0x7c00, "HalfFromFloat(+inf)");
	Check(HalfFromFloat(-INFINITY) == 0xfc00, "HalfFromFloat(-inf)");
	Check(HalfIsNaN(HalfFromFloat(NAN)), "HalfFromFloat(NaN) is NaN");

	Check(HalfFromFloat(tiny) == 0x0000, "HalfFromFloat(2^-25) == 0 (tie)");
	Check(HalfFromFloat(-tiny) == 0x8000, "HalfFromFloat(-2^-25) == -0");
	Check(HalfFromFloat(nextafterf(tiny, 1.0f)) == 0x0001,
		  "HalfFromFloat(just above 2^-25) == 0x0001");
	Check(HalfFromFloat(-nextafterf(tiny, 1.0f)) == 0x8001,
		  "HalfFromFloat(just below -2^-25) == 0x8001");
	Check(HalfFromFloat(nextafterf(tiny, 0.0f)) == 0x0000,
		  "HalfFromFloat(just below 2^-25) == 0");
	Check(HalfFromFloat(ldexpf(1.0f, -24)) == 0x0001, "HalfFromFloat(2^-24)");
	Check(HalfFromFloat(3.0f * tiny) == 0x0002,
		  "HalfFromFloat(3 * 2^-25) == 0x0002 (tie to even)");
	Check(HalfFromFloat(5.0f * tiny) == 0x0002,
		  "HalfFromFloat(5 * 2^-25) == 0x0002 (tie to even)");
	Check(HalfFromFloat(FLT_TRUE_MIN) == 0x0000,
		  "HalfFromFloat(smallest float subnormal) == 0");
	Check(HalfFromFloat(2047.0f * tiny) == 0x0400,
		  "HalfFromFloat(largest subnormal + half step) rounds to 2^-14");
	Check(HalfFromFloat(1.0f + ldexpf(1.0f, -11)) == 0x3c00,
		  "HalfFromFloat(1 + 2^-11) == 1 (tie to even)");
	Check(HalfFromFloat(1.0f + 3.0f * ldexpf(1.0f, -11)) == 0x3c02,
		  "HalfFromFloat(1 + 3 * 2^-11) == 0x3c02 (tie to even)");
	Check(HalfFromFloat(2.0f - ldexpf(1.0f, -12)) == 0x4000,
		  "HalfFromFloat(2 - 2^-12) carries into the exponent");
}

/*
 * For every pair of adjacent finite halves, the float midpoint must round
 * to the one with an even mantissa, and the floats just below and above
 * it to the lower and upper half.  The step above 0x7bff is 65536 (inf).
 */
static void
TestHalfMidpoints(void)
{
	int			bad = 0;

	for (uint16_t h = 0; h < 0x7c00; h++)
	{
		double		lo = HalfToFloat(h);
		double		hi = h == 0x7bff ? 65536.0 :
			HalfToFloat((uint16_t) (h + 1));
		float		mid = (float) ((lo + hi) / 2.0);	/* exact */
		uint16_t	even = (h & 1) ? (uint16_t) (h + 1) : h;
		uint16_t	got[3];

		for (int s = 0; s < 2; s++)
		{
			float		m = s ? -mid : mid;
			uint16_t	sign = s ? 0x8000 : 0;

			got[0] = HalfFromFloat(nextafterf(m, 0.0f));
			got[1] = HalfFromFloat(m);
			got[2] = HalfFromFloat(nextafterf(m, s ? -INFINITY : INFINITY));
			if ((got[0] != (sign | h) || got[1] != (sign | even) ||
				 got[2] != (sign | (h + 1))) && bad++ < MAX_REPORTS)
				printf("  midpoint 0x%04x+ (%.9g): 0x%04x 0x%04x 0x%04x\n",
					   sign | h, (double) m, got[0], got[1], got[2]);
			HalfMatches(nextafterf(m, 0.0f), &bad, "midpoint");
			HalfMatches(m, &bad, "midpoint");
		}
	}
	Check(bad == 0, "midpoints between adjacent halves round correctly");
}

/* Random floats compared with the double-precision reference. */
static void
TestHalfRandom(void)
{
	uint64_t	state = UINT64_C(0x62696f6372797074);
	int			bad = 0;
	int			count = 0;

	/* uniform in [-70000, 70000] */
	for (int i = 0; i < RANDOM_FLOATS; i++)
	{
		double		u = (double) (NextRandom(&state) >> 11) * ldexp(1.0, -53);

		HalfMatches((float) (u * 140000.0 - 70000.0), &bad, "uniform");
	}
	Check(bad == 0, "%d uniform floats in [-70000, 70000] match reference",
		  RANDOM_FLOATS);

	/* random bit patterns of magnitude <= 70000: every exponent is hit */
	bad = 0;
	while (count < RANDOM_FLOATS)
	{
		uint64_t	r = NextRandom(&state);
		uint32_t	exp = (uint32_t) (r >> 40) % 144;	/* below 2^17 */
		uint32_t	x = ((uint32_t) r & 0x807fffff) | (exp << 23);
		float		f = BitsFloat(x);

		if (fabsf(f) > 70000.0f)
			continue;
		HalfMatches(f, &bad, "bit pattern");
		count++;
	}
	Check(bad == 0,
		  "%d random-exponent floats in [-70000, 70000] match reference",
		  RANDOM_FLOATS);

	/* the reference itself agrees with hand-checked values */
	Check(RefHalf(65519.99f) == 0x7bff && RefHalf(65520.0f) == 0x7c00 &&
		  RefHalf(ldexpf(1.0f, -25)) == 0 &&
		  RefHalf(nextafterf(ldexpf(1.0f, -25), 1.0f)) == 1 &&
		  RefHalf(1.0f) == 0x3c00 && RefHalf(-0.0f) == 0x8000 &&
		  RefHalf(1.0f + ldexpf(1.0f, -11)) == 0x3c00,
		  "reference rounding agrees with hand-checked values");
}

/* Run every test and print the summary line. */
int
main(void)
{
	for (size_t i = 0; i < NUM_VALID_CASES; i++)
		TestValidCase(&valid_cases[i]);
	TestFixedBytes();
	TestShape();
	TestKeyAndTimes();
	TestSubject();
	TestPurposes();
	TestMessages();
	TestHalfExhaustive();
	TestHalfDecode();
	TestHalfEdges();
	TestHalfMidpoints();
	TestHalfRandom();

	return UnitReport();
}
