/*-------------------------------------------------------------------------
 *
 * fuzz_envelope.c
 *		libFuzzer target for the envelope parser.
 *
 * Each input is copied into a malloc'd block of exactly its size, so that
 * AddressSanitizer reports any read past the end, and parsed.  When the
 * parser accepts an input, the result must be self-consistent: the sizes
 * add up to the input length, every pointer lies inside the header, the
 * header validates again as a struct, re-serializing it reproduces the
 * input's header bytes exactly, and no proper prefix is also accepted.
 *
 * The same input is also read as the fields of a header the server would
 * build (the other direction, as SealTemplate goes): whenever
 * EnvelopeComputeSizes accepts it, the header EnvelopeWriteHeader writes,
 * followed by a nonce, payload and tag of the computed sizes, must parse
 * back to the very same fields and sizes.
 *
 * Any violation calls abort().
 *
 * Build and run: make fuzz-smoke (FUZZ_RUNS=n for a longer run).
 *
 *-------------------------------------------------------------------------
 */
#include "base/envelope.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a violated invariant and stop. */
static void
Fail(const char *what)
{
	fprintf(stderr, "fuzz_envelope: invariant violated: %s\n", what);
	abort();
}

/* Is [p, p + len) inside [lo, hi)?  Compared as addresses. */
static int
InRange(const void *p, size_t len, const uint8_t *lo, const uint8_t *hi)
{
	uintptr_t	a = (uintptr_t) p;

	return a >= (uintptr_t) lo && a <= (uintptr_t) hi &&
		len <= (uintptr_t) hi - a;
}

/* Check every invariant of an accepted envelope of size bytes. */
static void
CheckAccepted(const uint8_t *buf, size_t size, const EnvelopeHeader *hdr)
{
	const uint8_t *hend;
	uintptr_t	next;
	EnvelopeHeader copy;
	EnvelopeHeader again;
	uint8_t    *out;

	if (hdr->total_len != size)
		Fail("total_len != input size");
	if (hdr->header_len < ENVELOPE_FIXED_SIZE || hdr->header_len > size)
		Fail("header_len outside [44, size]");
	if (hdr->header_len + hdr->nonce_len + hdr->payload_len +
		ENVELOPE_TAG_SIZE != hdr->total_len)
		Fail("sizes do not add up to total_len");
	if (hdr->nonce_len != EnvelopeNonceSize(hdr->cipher) ||
		hdr->payload_len != EnvelopePayloadSize(hdr->format, hdr->dims,
												hdr->flags))
		Fail("nonce or payload size differs from the helpers");
	if ((size_t) buf[18] + ((size_t) buf[19] << 8) != hdr->header_len)
		Fail("header_len differs from the stored field");

	/* subject then purposes, contiguous, all inside the header */
	hend = buf + hdr->header_len;
	if ((uintptr_t) hdr->subject != (uintptr_t) (buf + ENVELOPE_FIXED_SIZE) ||
		!InRange(hdr->subject, hdr->subject_len, buf, hend))
		Fail("subject outside the header");
	if (hdr->npurposes == 0 || hdr->npurposes > ENVELOPE_MAX_PURPOSES)
		Fail("purpose count out of range");
	next = (uintptr_t) hdr->subject + hdr->subject_len;
	for (int i = 0; i < hdr->npurposes; i++)
	{
		if ((uintptr_t) hdr->purpose[i] != next + 1 ||
			!InRange(hdr->purpose[i], hdr->purpose_len[i], buf, hend))
			Fail("purpose outside the header");
		if (!EnvelopePurposeValid(hdr->purpose[i], hdr->purpose_len[i]))
			Fail("accepted an invalid purpose name");
		next = (uintptr_t) hdr->purpose[i] + hdr->purpose_len[i];
	}
	if (next != (uintptr_t) hend)
		Fail("labels do not end at header_len");

	/* the parsed header validates again as a struct, to the same sizes */
	copy = *hdr;
	if (EnvelopeComputeSizes(&copy) != ENVELOPE_OK ||
		copy.header_len != hdr->header_len ||
		copy.nonce_len != hdr->nonce_len ||
		copy.payload_len != hdr->payload_len ||
		copy.total_len != hdr->total_len)
		Fail("EnvelopeComputeSizes disagrees with EnvelopeParse");

	/* re-serializing gives back exactly the input's header bytes */
	out = malloc(hdr->header_len);
	if (out == NULL)
		Fail("out of memory");
	if (EnvelopeWriteHeader(hdr, out) != hdr->header_len)
		Fail("EnvelopeWriteHeader wrote a different length");
	if (memcmp(out, buf, hdr->header_len) != 0)
		Fail("re-serialized header differs from the input");
	free(out);

	/* the encoding is unique in length: a proper prefix is never valid */
	if (EnvelopeParse(buf, size - 1, &again) == ENVELOPE_OK)
		Fail("a proper prefix was also accepted");
}

/* The next byte of the input, or 0 past its end. */
static uint8_t
NextByte(const uint8_t *data, size_t size, size_t *pos)
{
	return *pos < size ? data[(*pos)++] : 0;
}

/* The next n bytes as a little-endian number. */
static uint64_t
NextNumber(const uint8_t *data, size_t size, size_t *pos, int n)
{
	uint64_t	v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t) NextByte(data, size, pos) << (8 * i);
	return v;
}

/*
 * Read header fields from the input, mostly within their ranges so that
 * many pass validation; labels point into the input.  Returns 0 when the
 * input runs out before the labels do.
 */
static int
FieldsFromInput(const uint8_t *data, size_t size, EnvelopeHeader *hdr)
{
	size_t		pos = 0;

	memset(hdr, 0, sizeof(*hdr));
	hdr->cipher = NextByte(data, size, &pos) % 3;
	hdr->format = NextByte(data, size, &pos) % 5;
	hdr->flags = NextByte(data, size, &pos) % 3;
	hdr->dims = (uint32_t) NextNumber(data, size, &pos, 4) % 70000;
	hdr->rows = (uint16_t) NextNumber(data, size, &pos, 2);
	hdr->cols = (uint16_t) NextNumber(data, size, &pos, 2);
	hdr->bits_per_cell = (uint16_t) NextNumber(data, size, &pos, 2);
	hdr->key_id = (uint32_t) NextNumber(data, size, &pos, 4);
	hdr->created = (int64_t) NextNumber(data, size, &pos, 8);
	hdr->expires = (int64_t) NextNumber(data, size, &pos, 8);
	hdr->subject_len = NextByte(data, size, &pos);
	hdr->npurposes = NextByte(data, size, &pos) % (ENVELOPE_MAX_PURPOSES + 2);
	if (size - pos < hdr->subject_len)
		return 0;
	hdr->subject = (const char *) data + pos;
	pos += hdr->subject_len;
	for (int i = 0; i < hdr->npurposes && i < ENVELOPE_MAX_PURPOSES; i++)
	{
		hdr->purpose_len[i] = NextByte(data, size, &pos) % 70;
		if (size - pos < hdr->purpose_len[i])
			return 0;
		hdr->purpose[i] = (const char *) data + pos;
		pos += hdr->purpose_len[i];
	}
	return 1;
}

/* Build an envelope from fields the validator accepts; it must parse back. */
static void
CheckWriteThenParse(const uint8_t *data, size_t size)
{
	EnvelopeHeader hdr;
	EnvelopeHeader back;
	uint8_t    *env;

	if (!FieldsFromInput(data, size, &hdr) ||
		EnvelopeComputeSizes(&hdr) != ENVELOPE_OK)
		return;
	env = malloc(hdr.total_len);
	if (env == NULL)
		Fail("out of memory");
	if (EnvelopeWriteHeader(&hdr, env) != hdr.header_len)
		Fail("EnvelopeWriteHeader wrote other than header_len bytes");
	memset(env + hdr.header_len, 0x5A, hdr.total_len - hdr.header_len);
	if (EnvelopeParse(env, hdr.total_len, &back) != ENVELOPE_OK)
		Fail("a header that EnvelopeComputeSizes accepts does not parse");
	if (back.cipher != hdr.cipher || back.format != hdr.format ||
		back.flags != hdr.flags || back.dims != hdr.dims ||
		back.rows != hdr.rows || back.cols != hdr.cols ||
		back.bits_per_cell != hdr.bits_per_cell ||
		back.key_id != hdr.key_id || back.created != hdr.created ||
		back.expires != hdr.expires || back.subject_len != hdr.subject_len ||
		memcmp(back.subject, hdr.subject, hdr.subject_len) != 0 ||
		back.npurposes != hdr.npurposes ||
		back.header_len != hdr.header_len || back.nonce_len != hdr.nonce_len ||
		back.payload_len != hdr.payload_len ||
		back.total_len != hdr.total_len)
		Fail("written header parses back to other fields");
	for (int i = 0; i < hdr.npurposes; i++)
		if (back.purpose_len[i] != hdr.purpose_len[i] ||
			memcmp(back.purpose[i], hdr.purpose[i], hdr.purpose_len[i]) != 0)
			Fail("written purposes parse back differently");
	free(env);
}

/* libFuzzer entry point: parse one input and check the result. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *buf = malloc(size);
	EnvelopeHeader hdr;
	EnvelopeStatus status;
	const char *msg;

	if (buf == NULL && size > 0)
		Fail("out of memory");
	if (size > 0)
		memcpy(buf, data, size);

	status = EnvelopeParse(buf, size, &hdr);
	if ((int) status < (int) ENVELOPE_OK ||
		(int) status > (int) ENVELOPE_BAD_LENGTH)
		Fail("status out of range");
	msg = EnvelopeStatusMessage(status);
	if (msg == NULL || msg[0] == '\0')
		Fail("empty status message");
	if (status == ENVELOPE_OK)
		CheckAccepted(buf, size, &hdr);

	/*
	 * The decryption-path parser skips only label contents: it must accept
	 * whatever the strict one accepts, with the same sizes, and stay in
	 * bounds on everything else.
	 */
	{
		EnvelopeHeader fast;
		EnvelopeStatus fstatus = EnvelopeParseForDecrypt(buf, size, &fast);

		if (status == ENVELOPE_OK &&
			(fstatus != ENVELOPE_OK || fast.total_len != hdr.total_len ||
			 fast.header_len != hdr.header_len))
			Fail("decryption-path parse disagrees with the strict parse");
		if (fstatus == ENVELOPE_OK && fast.total_len != size)
			Fail("decryption-path parse accepted a wrong length");
	}

	CheckWriteThenParse(buf, size);
	free(buf);
	return 0;
}
