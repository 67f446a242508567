/*-------------------------------------------------------------------------
 *
 * envelope.c
 *		Parse and build the versioned header of a protected template.
 *
 * An envelope is header || nonce || ciphertext || tag.  The header is
 * readable without any key and is the AEAD associated data, so editing any
 * header byte makes decryption fail.  docs/format.md describes every byte.
 *
 * Parsing is strict: every field is range-checked, reserved bytes must be
 * zero, purposes must be canonical (sorted, unique) and the total length must
 * match the header exactly, so each logical template has exactly one
 * encoding.  Nothing here reads outside [buf, buf + len).
 *
 * This file uses the C library only (no backend headers), which lets the
 * fuzz target and the unit tests link it alone.
 *
 *-------------------------------------------------------------------------
 */
#include "base/envelope.h"

#include <string.h>

/* Read a little-endian unsigned integer of 2, 4 or 8 bytes. */
static uint64_t
ReadLE(const uint8_t *p, int nbytes)
{
	uint64_t	v = 0;

	for (int i = nbytes - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Write a little-endian unsigned integer of 2, 4 or 8 bytes. */
static void
WriteLE(uint8_t *p, uint64_t v, int nbytes)
{
	for (int i = 0; i < nbytes; i++)
	{
		p[i] = (uint8_t) (v & 0xff);
		v >>= 8;
	}
}

/* Strict UTF-8 check: no overlong forms, surrogates, NUL or > U+10FFFF. */
static int
Utf8Valid(const uint8_t *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		uint8_t		c = s[i];
		size_t		n;
		uint32_t	cp;

		if (c == 0)
			return 0;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		/* reject overlong encodings, surrogates and out-of-range points */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			(cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return 0;
		i += n + 1;
	}
	return 1;
}

/* Is this a valid purpose name: 1..63 bytes of [a-z0-9_.-]? */
int
EnvelopePurposeValid(const char *purpose, size_t len)
{
	if (len == 0 || len > ENVELOPE_MAX_PURPOSE_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
	{
		char		c = purpose[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

/* Byte-wise order of two purposes; shorter sorts first on a common prefix. */
static int
PurposeCompare(const char *a, size_t alen, const char *b, size_t blen)
{
	int			c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* Nonce length for a cipher id, 0 for an unknown one. */
size_t
EnvelopeNonceSize(uint8_t cipher)
{
	switch (cipher)
	{
		case ENVELOPE_CIPHER_AES256GCM:
			return 12;
		case ENVELOPE_CIPHER_XCHACHA20:
			return 24;
	}
	return 0;
}

/* Plaintext length of the payload; callers validate dims first. */
size_t
EnvelopePayloadSize(uint8_t format, uint32_t dims, uint8_t flags)
{
	switch (format)
	{
		case ENVELOPE_FORMAT_F32:
			return (size_t) dims * 4;
		case ENVELOPE_FORMAT_F16:
			return (size_t) dims * 2;
		case ENVELOPE_FORMAT_I8:
			return 4 + (size_t) dims;	/* float32 scale, then the codes */
		case ENVELOPE_FORMAT_BITS:
			return (size_t) (dims / 8) * ((flags & ENVELOPE_FLAG_MASK) ? 2 : 1);
	}
	return 0;
}

/* Check the element description: format, flags, dims and bit layout. */
static EnvelopeStatus
ValidateShape(const EnvelopeHeader *hdr)
{
	int			has_layout = hdr->rows || hdr->cols || hdr->bits_per_cell;

	if (hdr->format < ENVELOPE_FORMAT_F32 || hdr->format > ENVELOPE_FORMAT_BITS)
		return ENVELOPE_BAD_FORMAT;
	if ((hdr->flags & ~ENVELOPE_FLAG_MASK) != 0 ||
		(hdr->format != ENVELOPE_FORMAT_BITS && hdr->flags != 0))
		return ENVELOPE_BAD_FLAGS;
	if (hdr->format == ENVELOPE_FORMAT_BITS)
	{
		if (hdr->dims == 0 || hdr->dims > ENVELOPE_MAX_BITS || hdr->dims % 8 != 0)
			return ENVELOPE_BAD_DIMS;
		if (has_layout &&
			(hdr->rows == 0 || hdr->cols == 0 || hdr->bits_per_cell == 0 ||
			 (uint64_t) hdr->rows * hdr->cols * hdr->bits_per_cell != hdr->dims))
			return ENVELOPE_BAD_LAYOUT;
	}
	else
	{
		if (hdr->dims == 0 || hdr->dims > ENVELOPE_MAX_DIMS)
			return ENVELOPE_BAD_DIMS;
		if (has_layout)
			return ENVELOPE_BAD_LAYOUT;
	}
	return ENVELOPE_OK;
}

/* Check subject and purposes: valid text, canonical purpose order. */
static EnvelopeStatus
ValidateLabels(const EnvelopeHeader *hdr)
{
	if (hdr->subject_len == 0 || hdr->subject_len > ENVELOPE_MAX_SUBJECT ||
		!Utf8Valid((const uint8_t *) hdr->subject, hdr->subject_len))
		return ENVELOPE_BAD_SUBJECT;
	if (hdr->npurposes == 0 || hdr->npurposes > ENVELOPE_MAX_PURPOSES)
		return ENVELOPE_BAD_PURPOSES;
	for (int i = 0; i < hdr->npurposes; i++)
	{
		if (!EnvelopePurposeValid(hdr->purpose[i], hdr->purpose_len[i]))
			return ENVELOPE_BAD_PURPOSES;
		/* strictly ascending: sorted and free of duplicates */
		if (i > 0 && PurposeCompare(hdr->purpose[i - 1], hdr->purpose_len[i - 1],
									hdr->purpose[i], hdr->purpose_len[i]) >= 0)
			return ENVELOPE_BAD_PURPOSES;
	}
	return ENVELOPE_OK;
}

static EnvelopeStatus ComputeSizes(EnvelopeHeader *hdr, int check_labels);

/*
 * Validate every header field and fill in the derived sizes.  Used both
 * before building a header and after parsing one, so the two agree.
 */
EnvelopeStatus
EnvelopeComputeSizes(EnvelopeHeader *hdr)
{
	return ComputeSizes(hdr, 1);
}

/* EnvelopeComputeSizes, optionally without checking label contents. */
static EnvelopeStatus
ComputeSizes(EnvelopeHeader *hdr, int check_labels)
{
	EnvelopeStatus status;
	size_t		len = ENVELOPE_FIXED_SIZE;

	hdr->nonce_len = EnvelopeNonceSize(hdr->cipher);
	if (hdr->nonce_len == 0)
		return ENVELOPE_BAD_CIPHER;
	if ((status = ValidateShape(hdr)) != ENVELOPE_OK)
		return status;
	if (hdr->key_id == 0)
		return ENVELOPE_BAD_KEY_ID;
	if (hdr->created < ENVELOPE_MIN_TIMESTAMP ||
		hdr->expires >= ENVELOPE_END_TIMESTAMP ||
		hdr->created >= hdr->expires)
		return ENVELOPE_BAD_TIMES;
	if (check_labels && (status = ValidateLabels(hdr)) != ENVELOPE_OK)
		return status;

	len += hdr->subject_len;
	for (int i = 0; i < hdr->npurposes; i++)
		len += 1 + hdr->purpose_len[i];
	hdr->header_len = len;
	hdr->payload_len = EnvelopePayloadSize(hdr->format, hdr->dims, hdr->flags);
	hdr->total_len = hdr->header_len + hdr->nonce_len + hdr->payload_len +
		ENVELOPE_TAG_SIZE;
	return ENVELOPE_OK;
}

/* Decode the fixed-size part of the header; len >= ENVELOPE_FIXED_SIZE. */
static EnvelopeStatus
ParseFixed(const uint8_t *buf, EnvelopeHeader *hdr, size_t *stated_len)
{
	if (buf[0] != ENVELOPE_MAGIC0 || buf[1] != ENVELOPE_MAGIC1 ||
		buf[2] != ENVELOPE_MAGIC2)
		return ENVELOPE_BAD_MAGIC;
	if (buf[3] != ENVELOPE_VERSION)
		return ENVELOPE_BAD_VERSION;
	if (buf[7] != 0 || buf[43] != 0)
		return ENVELOPE_BAD_RESERVED;
	hdr->cipher = buf[4];
	hdr->format = buf[5];
	hdr->flags = buf[6];
	hdr->dims = (uint32_t) ReadLE(buf + 8, 4);
	hdr->rows = (uint16_t) ReadLE(buf + 12, 2);
	hdr->cols = (uint16_t) ReadLE(buf + 14, 2);
	hdr->bits_per_cell = (uint16_t) ReadLE(buf + 16, 2);
	*stated_len = (size_t) ReadLE(buf + 18, 2);
	hdr->key_id = (uint32_t) ReadLE(buf + 20, 4);
	hdr->created = (int64_t) ReadLE(buf + 24, 8);
	hdr->expires = (int64_t) ReadLE(buf + 32, 8);
	hdr->subject_len = (uint16_t) ReadLE(buf + 40, 2);
	hdr->npurposes = buf[42];
	return ENVELOPE_OK;
}

/* Locate subject and purposes in the variable part of the header. */
static EnvelopeStatus
ParseLabels(const uint8_t *buf, size_t len, EnvelopeHeader *hdr)
{
	size_t		off = ENVELOPE_FIXED_SIZE;

	if (hdr->subject_len == 0 || hdr->subject_len > ENVELOPE_MAX_SUBJECT)
		return ENVELOPE_BAD_SUBJECT;
	if (hdr->npurposes == 0 || hdr->npurposes > ENVELOPE_MAX_PURPOSES)
		return ENVELOPE_BAD_PURPOSES;
	if (len - off < hdr->subject_len)
		return ENVELOPE_TRUNCATED;
	hdr->subject = (const char *) buf + off;
	off += hdr->subject_len;
	for (int i = 0; i < hdr->npurposes; i++)
	{
		if (len - off < 1)
			return ENVELOPE_TRUNCATED;
		hdr->purpose_len[i] = buf[off++];
		if (len - off < hdr->purpose_len[i])
			return ENVELOPE_TRUNCATED;
		hdr->purpose[i] = (const char *) buf + off;
		off += hdr->purpose_len[i];
	}
	return ENVELOPE_OK;
}

/* Parse an envelope of exactly len bytes, label contents checked or not. */
static EnvelopeStatus
Parse(const uint8_t *buf, size_t len, EnvelopeHeader *hdr, int check_labels)
{
	EnvelopeStatus status;
	size_t		stated_len;

	memset(hdr, 0, sizeof(*hdr));
	if (buf == NULL || len < ENVELOPE_FIXED_SIZE)
		return ENVELOPE_TRUNCATED;
	if ((status = ParseFixed(buf, hdr, &stated_len)) != ENVELOPE_OK)
		return status;
	if ((status = ParseLabels(buf, len, hdr)) != ENVELOPE_OK)
		return status;
	if ((status = ComputeSizes(hdr, check_labels)) != ENVELOPE_OK)
		return status;
	if (stated_len != hdr->header_len)
		return ENVELOPE_BAD_HEADER_LENGTH;
	if (len != hdr->total_len)
		return len < hdr->total_len ? ENVELOPE_TRUNCATED : ENVELOPE_BAD_LENGTH;
	return ENVELOPE_OK;
}

/*
 * Parse and validate an envelope of exactly len bytes.  On success hdr
 * describes it; the nonce starts at buf + hdr->header_len.
 */
EnvelopeStatus
EnvelopeParse(const uint8_t *buf, size_t len, EnvelopeHeader *hdr)
{
	return Parse(buf, len, hdr, 1);
}

/*
 * Like EnvelopeParse, with every length and bound checked, but without
 * checking the bytes of the subject and purposes (UTF-8, name characters,
 * order).  For the decryption path only: the AEAD tag authenticates those
 * bytes, and only validated headers were ever sealed.
 */
EnvelopeStatus
EnvelopeParseForDecrypt(const uint8_t *buf, size_t len, EnvelopeHeader *hdr)
{
	return Parse(buf, len, hdr, 0);
}

/*
 * Serialize a header validated by EnvelopeComputeSizes into buf, which has
 * room for hdr->header_len bytes.  Returns the bytes written.
 */
size_t
EnvelopeWriteHeader(const EnvelopeHeader *hdr, uint8_t *buf)
{
	size_t		off = ENVELOPE_FIXED_SIZE;
	int			npurposes = hdr->npurposes;

	/* callers pass validated headers; still never index past the arrays */
	if (npurposes > ENVELOPE_MAX_PURPOSES)
		npurposes = ENVELOPE_MAX_PURPOSES;
	buf[0] = ENVELOPE_MAGIC0;
	buf[1] = ENVELOPE_MAGIC1;
	buf[2] = ENVELOPE_MAGIC2;
	buf[3] = ENVELOPE_VERSION;
	buf[4] = hdr->cipher;
	buf[5] = hdr->format;
	buf[6] = hdr->flags;
	buf[7] = 0;
	WriteLE(buf + 8, hdr->dims, 4);
	WriteLE(buf + 12, hdr->rows, 2);
	WriteLE(buf + 14, hdr->cols, 2);
	WriteLE(buf + 16, hdr->bits_per_cell, 2);
	WriteLE(buf + 18, hdr->header_len, 2);
	WriteLE(buf + 20, hdr->key_id, 4);
	WriteLE(buf + 24, (uint64_t) hdr->created, 8);
	WriteLE(buf + 32, (uint64_t) hdr->expires, 8);
	WriteLE(buf + 40, hdr->subject_len, 2);
	buf[42] = hdr->npurposes;
	buf[43] = 0;
	memcpy(buf + off, hdr->subject, hdr->subject_len);
	off += hdr->subject_len;
	for (int i = 0; i < npurposes; i++)
	{
		buf[off++] = hdr->purpose_len[i];
		memcpy(buf + off, hdr->purpose[i], hdr->purpose_len[i]);
		off += hdr->purpose_len[i];
	}
	return off;
}

/* A message for a status; never includes any input bytes. */
const char *
EnvelopeStatusMessage(EnvelopeStatus status)
{
	switch (status)
	{
		case ENVELOPE_OK:
			return "valid";
		case ENVELOPE_TRUNCATED:
			return "envelope is truncated";
		case ENVELOPE_BAD_MAGIC:
			return "envelope has no biocrypt magic";
		case ENVELOPE_BAD_VERSION:
			return "envelope version is not supported";
		case ENVELOPE_BAD_CIPHER:
			return "envelope names an unknown cipher";
		case ENVELOPE_BAD_FORMAT:
			return "envelope names an unknown element format";
		case ENVELOPE_BAD_FLAGS:
			return "envelope has invalid flags";
		case ENVELOPE_BAD_RESERVED:
			return "envelope reserved field is not zero";
		case ENVELOPE_BAD_DIMS:
			return "envelope dimensions are out of range";
		case ENVELOPE_BAD_LAYOUT:
			return "envelope bit layout does not match its dimensions";
		case ENVELOPE_BAD_HEADER_LENGTH:
			return "envelope header length is inconsistent";
		case ENVELOPE_BAD_KEY_ID:
			return "envelope key id is invalid";
		case ENVELOPE_BAD_TIMES:
			return "envelope timestamps are invalid";
		case ENVELOPE_BAD_SUBJECT:
			return "envelope subject is invalid";
		case ENVELOPE_BAD_PURPOSES:
			return "envelope purposes are invalid";
		case ENVELOPE_BAD_LENGTH:
			return "envelope has trailing bytes";
	}
	return "envelope is invalid";
}
