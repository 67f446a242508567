/*-------------------------------------------------------------------------
 *
 * iris.c
 *		Bit-code probes: validation, masks and rotations.
 *
 * Bits are numbered MSB first: bit i is (byte[i / 8] >> (7 - i % 8)) & 1.
 * A layout {rows, cols, bits_per_cell} puts cell (r, c) at bits
 * ((r * cols + c) * bits_per_cell) onwards.  A shift s compares template
 * column c with probe column (c + s) mod cols in every row (a head tilt
 * rotates an unwrapped iris along its columns).  The rotated probe codes
 * and masks for -max_shift..max_shift are built once per statement, so the
 * kernel only ever compares straight byte runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "miscadmin.h"
#include "utils/builtins.h"

#include "match/match.h"
#include "match/probe.h"
#include "template/template.h"

/* Is a template a bit code of code_len bytes? */
bool
BitsTemplateFits(const EnvelopeHeader *hdr, size_t code_len)
{
	return hdr->format == ENVELOPE_FORMAT_BITS && hdr->dims / 8 == code_len;
}

/* Refuse a template that is not a bit code of code_len bytes. */
void
CheckBitsTemplate(const EnvelopeHeader *hdr, size_t code_len)
{
	if (hdr->format != ENVELOPE_FORMAT_BITS)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("biocrypt: template is an embedding, not a bit code"),
				 errhint("Compare embeddings with <->, <=>, <#> or a real[] probe."),
				 errhidestmt(true), errhidecontext(true)));
	if (hdr->dims / 8 != code_len)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("biocrypt: template has %u bits but the probe code has %zu",
						hdr->dims, code_len * 8),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * Check bit-probe arguments on their own: a mask as long as the code, a
 * non-empty code, a non-negative max_shift.
 */
void
CheckBitsProbeArgs(bytea *code, bytea *mask, int max_shift)
{
	if (mask && VARSIZE_ANY_EXHDR(mask) != VARSIZE_ANY_EXHDR(code))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: probe mask must be as long as the probe code"),
				 errhidestmt(true), errhidecontext(true)));
	if (VARSIZE_ANY_EXHDR(code) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: probe code must not be empty"),
				 errhidestmt(true), errhidecontext(true)));
	if (max_shift < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: max_shift must not be negative"),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * Most bits a probe's rotations may hold: every comparison scans them all,
 * so this bounds the work of one comparison (and the probe's memory) to
 * what an iris matcher needs many times over: 2048-bit codes rotated by up
 * to 1023 columns, or 16384-bit codes by up to 127.
 */
#define IRIS_MAX_ROTATED_BITS	(INT64CONST(1) << 22)

/* Check a (non-negative) max_shift against the template's layout. */
static void
CheckShift(int max_shift, const EnvelopeHeader *hdr)
{
	int64		rotated = (2 * (int64) max_shift + 1) * hdr->dims;

	if (max_shift > 0 && hdr->cols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: template has no bit layout to shift along"),
				 errhint("Seal iris codes with protect_bits(..., layout => '{rows,cols,bits_per_cell}'), or use max_shift 0."),
				 errhidestmt(true), errhidecontext(true)));
	if (max_shift > 0 && max_shift >= hdr->cols)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: max_shift must be less than the layout's %u columns",
						hdr->cols),
				 errhidestmt(true), errhidecontext(true)));
	if (rotated > IRIS_MAX_ROTATED_BITS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("biocrypt: max_shift %d with %u-bit codes needs " INT64_FORMAT " rotated bits per comparison, more than the limit of " INT64_FORMAT,
						max_shift, hdr->dims, rotated, IRIS_MAX_ROTATED_BITS),
				 errhint("Iris matchers shift by a few columns; use a smaller max_shift."),
				 errhidestmt(true), errhidecontext(true)));
}

/* Bit i of src (MSB first). */
static inline int
GetBit(const uint8 *src, size_t i)
{
	return (src[i >> 3] >> (7 - (i & 7))) & 1;
}

/* Copy src rotated by shift columns into dst (zeroed by the caller). */
static void
RotateColumns(const uint8 *src, uint8 *dst, const EnvelopeHeader *hdr, int shift)
{
	size_t		rows = hdr->rows,
				cols = hdr->cols,
				bpc = hdr->bits_per_cell;

	for (size_t r = 0; r < rows; r++)
		for (size_t c = 0; c < cols; c++)
		{
			size_t		from = (c + cols + (size_t) (shift % (int) cols)) % cols;
			size_t		d = (r * cols + c) * bpc;
			size_t		s = (r * cols + from) * bpc;

			for (size_t k = 0; k < bpc; k++)
				if (GetBit(src, s + k))
					dst[(d + k) >> 3] |= (uint8) (0x80 >> ((d + k) & 7));
		}
}

/*
 * Build (or rebuild, reusing bp) a probe for templates shaped like hdr:
 * rotations of code and mask (mask NULL = all bits valid) and a copy of
 * key, all in one block wiped at mcxt reset.
 */
BitsProbe *
BuildBitsProbe(MemoryContext mcxt, BitsProbe *bp, const uint8 *code,
			   const uint8 *mask, size_t nbytes, int max_shift,
			   const EnvelopeHeader *hdr, const void *key, Size keylen)
{
	int			nshifts = 2 * max_shift + 1;
	Size		ptrs = MAXALIGN(sizeof(uint8 *) * 2 * nshifts);
	uint8	   *mem;
	uint8	   *bits;
	const uint8 **codes;
	const uint8 **masks;

	CheckBitsTemplate(hdr, nbytes);
	CheckShift(max_shift, hdr);
	if (bp == NULL)
		bp = MemoryContextAllocZero(mcxt, sizeof(BitsProbe));
	/* pointers, rotated codes, rotated masks, the all-ones mask, the key */
	mem = ProbeAlloc(mcxt, &bp->ph, ptrs + nbytes * (2 * nshifts + 1) + keylen);
	codes = (const uint8 **) mem;
	masks = codes + nshifts;
	bits = mem + ptrs;
	bp->ones = bits + 2 * nshifts * nbytes;
	memset(bits + 2 * nshifts * nbytes, 0xff, nbytes);
	for (int s = 0; s < nshifts; s++)
	{
		uint8	   *c = bits + s * nbytes;
		uint8	   *m = bits + (nshifts + s) * nbytes;

		/* a large layout takes a while to rotate: stay cancellable */
		CHECK_FOR_INTERRUPTS();
		if (max_shift == 0)
		{
			memcpy(c, code, nbytes);
			memcpy(m, mask ? mask : bp->ones, nbytes);
		}
		else
		{
			RotateColumns(code, c, hdr, s - max_shift);
			RotateColumns(mask ? mask : bp->ones, m, hdr, s - max_shift);
		}
		codes[s] = c;
		masks[s] = m;
	}
	bp->ph.raw = keylen ? bits + (2 * nshifts + 1) * nbytes : NULL;
	bp->ph.raw_len = keylen;
	if (keylen)
		memcpy(bp->ph.raw, key, keylen);
	bp->kp.codes = codes;
	bp->kp.masks = masks;
	bp->kp.nshifts = nshifts;
	bp->kp.nbytes = nbytes;
	bp->kp.min_valid = (uint64_t) biocrypt_min_common_bits;
	bp->max_shift = max_shift;
	bp->rows = hdr->rows;
	bp->cols = hdr->cols;
	bp->bits_per_cell = hdr->bits_per_cell;
	return bp;
}

/* Can bp compare a template shaped like hdr (size, and layout if shifting)? */
bool
BitsProbeFits(const BitsProbe *bp, const EnvelopeHeader *hdr)
{
	if (hdr->format != ENVELOPE_FORMAT_BITS || hdr->dims / 8 != bp->kp.nbytes)
		return false;
	return bp->max_shift == 0 ||
		(hdr->rows == bp->rows && hdr->cols == bp->cols &&
		 hdr->bits_per_cell == bp->bits_per_cell);
}

/* Raw identity of the probe arguments: code || mask || max_shift. */
static bytea *
BitsProbeKey(bytea *code, bytea *mask, int max_shift)
{
	size_t		clen = VARSIZE_ANY_EXHDR(code);
	size_t		mlen = mask ? VARSIZE_ANY_EXHDR(mask) : 0;
	bytea	   *key = palloc(VARHDRSZ + clen + mlen + sizeof(int) + 1);
	char	   *p = VARDATA(key);

	memcpy(p, VARDATA_ANY(code), clen);
	if (mask)
		memcpy(p + clen, VARDATA_ANY(mask), mlen);
	memcpy(p + clen + mlen, &max_shift, sizeof(int));
	p[clen + mlen + sizeof(int)] = mask != NULL;
	SET_VARSIZE(key, VARHDRSZ + clen + mlen + sizeof(int) + 1);
	return key;
}

/* Does the cached key equal BitsProbeKey(code, mask, max_shift)?  No copy. */
static bool
BitsProbeKeyMatches(const ProbeHeader *ph, bytea *code, bytea *mask,
					int max_shift)
{
	size_t		clen = VARSIZE_ANY_EXHDR(code);
	size_t		mlen = mask ? VARSIZE_ANY_EXHDR(mask) : 0;
	const char *raw = (const char *) ph->raw;

	if (raw == NULL ||
		ph->raw_len != VARHDRSZ + clen + mlen + sizeof(int) + 1)
		return false;
	raw += VARHDRSZ;
	return memcmp(raw, VARDATA_ANY(code), clen) == 0 &&
		(mask == NULL || memcmp(raw + clen, VARDATA_ANY(mask), mlen) == 0) &&
		memcmp(raw + clen + mlen, &max_shift, sizeof(int)) == 0 &&
		raw[clen + mlen + sizeof(int)] == (mask != NULL);
}

/*
 * The statement's bit probe from arguments code_arg and mask_arg (may be
 * NULL) with max_shift, for templates shaped like hdr; prepared once.
 */
BitsProbe *
GetBitsProbe(FunctionCallInfo fcinfo, int code_arg, int mask_arg,
			 int max_shift, const EnvelopeHeader *hdr)
{
	BitsProbe  *bp = (BitsProbe *) fcinfo->flinfo->fn_extra;
	bytea	   *code = PG_GETARG_BYTEA_PP(code_arg);
	bytea	   *mask = PG_ARGISNULL(mask_arg) ? NULL : PG_GETARG_BYTEA_PP(mask_arg);
	bytea	   *key;
	MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;

	CheckBitsTemplate(hdr, VARSIZE_ANY_EXHDR(code));
	CheckBitsProbeArgs(code, mask, max_shift);
	if (bp != NULL && BitsProbeFits(bp, hdr) &&
		BitsProbeKeyMatches(&bp->ph, code, mask, max_shift))
		return bp;
	key = BitsProbeKey(code, mask, max_shift);
	bp = BuildBitsProbe(mcxt, bp, (const uint8 *) VARDATA_ANY(code),
						mask ? (const uint8 *) VARDATA_ANY(mask) : NULL,
						VARSIZE_ANY_EXHDR(code), max_shift, hdr,
						key, VARSIZE(key));
	fcinfo->flinfo->fn_extra = bp;
	sodium_memzero(key, VARSIZE(key));
	pfree(key);
	return bp;
}

/* The template's mask inside its payload, or all ones if it has none. */
const uint8 *
BitsTemplateMask(const BitsProbe *bp, const EnvelopeHeader *hdr,
				 const uint8 *payload)
{
	if (hdr->flags & ENVELOPE_FLAG_MASK)
		return payload + hdr->dims / 8;
	return bp->ones;
}
