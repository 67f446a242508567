/*-------------------------------------------------------------------------
 *
 * fuzz_tplform.c
 *		libFuzzer target for the text and binary forms of protected_template.
 *
 * protected_template_in and _out call base/tplform.c, and _recv calls the
 * envelope parser on the message's bytes; this target links the same
 * files.  Each input is read twice, each time from a malloc'd block of
 * exactly its size so that AddressSanitizer reports any read past it:
 *
 * As text (protected_template_in).  An independent reference decides what
 * the server must do: drop spaces, tabs, CRs and LFs; the rest must be
 * padded standard base64 (length a multiple of 4, '=' only as the last one
 * or two characters, zero bits after the last byte), else the input is
 * refused as not base64; the decoded bytes must then pass EnvelopeParse,
 * else the input is refused as a bad envelope with the parser's status.
 * TplFormFromText must agree exactly, status and bytes.  A refused input
 * never partly succeeds: the length is 0 and the whole output buffer is
 * zero.  An accepted one round-trips: its text form (protected_template_out)
 * is exactly the input without whitespace, and reading that text again
 * gives the same bytes (in -> out -> in).
 *
 * As binary (protected_template_recv, _send).  When EnvelopeParse accepts
 * the bytes, their text form is canonical base64 of the documented length
 * and reads back to the same bytes; when it refuses them, so does the text
 * form, with the same status.
 *
 * Any violation prints what and calls abort().
 *
 * Build and run: make fuzz-smoke; test/fuzz/README.md for long runs.
 *
 *-------------------------------------------------------------------------
 */
#include "base/tplform.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Report a violated invariant and stop. */
static void
Fail(const char *what)
{
	fprintf(stderr, "fuzz_tplform: invariant violated: %s\n", what);
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

/* The 6-bit value of a base64 character, or -1. */
static int
Sextet(uint8_t c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = memchr(alphabet, c, sizeof(alphabet) - 1);
	return p == NULL ? -1 : (int) (p - alphabet);
}

/* Is c one of the characters the text form ignores? */
static int
IsSpace(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The reference: strip whitespace from text into stripped (returns its
 * length in *slen), then decode it strictly into out.  Returns 1 and the
 * decoded length in *outlen for padded standard base64, else 0.
 */
static int
RefDecode(const uint8_t *text, size_t len, char *stripped, size_t *slen,
		  uint8_t *out, size_t *outlen)
{
	size_t		n = 0;
	size_t		pad = 0;
	size_t		o = 0;

	for (size_t i = 0; i < len; i++)
		if (!IsSpace(text[i]))
			stripped[n++] = (char) text[i];
	*slen = n;
	*outlen = 0;
	if (n % 4 != 0)
		return 0;
	while (pad < 2 && pad < n && stripped[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n; i += 4)
	{
		uint32_t	acc = 0;
		size_t		data = (i + 4 == n) ? 4 - pad : 4;

		/* "xx==" or "xxx=": at least two data characters in the group */
		if (data < 2)
			return 0;
		for (size_t k = 0; k < data; k++)
		{
			int			s = Sextet((uint8_t) stripped[i + k]);

			if (s < 0)
				return 0;
			acc = (acc << 6) | (uint32_t) s;
		}
		acc <<= 6 * (4 - data);
		/* bits below the last whole byte must be zero */
		if (data == 2 && (acc & 0xFFFF) != 0)
			return 0;
		if (data == 3 && (acc & 0xFF) != 0)
			return 0;
		out[o++] = (uint8_t) (acc >> 16);
		if (data >= 3)
			out[o++] = (uint8_t) (acc >> 8);
		if (data == 4)
			out[o++] = (uint8_t) acc;
	}
	*outlen = o;
	return 1;
}

/* Is every byte of p[0..len) zero? */
static int
AllZero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/*
 * Read text[0..len) with TplFormFromText into an exact-size block; check
 * the refusal rules; returns the status, the bytes (caller frees) and
 * their length.
 */
static TplFormStatus
ReadText(const char *text, size_t len, uint8_t **bin, size_t *binlen,
		 EnvelopeStatus *envstatus)
{
	size_t		bound = TplFormDecodedBound(len);
	TplFormStatus status;

	*bin = Alloc(bound);
	memset(*bin, 0xA5, bound);
	*binlen = 12345;
	status = TplFormFromText(text, len, *bin, bound, binlen, envstatus);
	if (status != TPLFORM_OK && status != TPLFORM_BAD_BASE64 &&
		status != TPLFORM_BAD_ENVELOPE)
		Fail("status out of range");
	if (status != TPLFORM_OK && (*binlen != 0 || !AllZero(*bin, bound)))
		Fail("a refused text left a length or decoded bytes behind");
	if (status == TPLFORM_BAD_ENVELOPE && *envstatus == ENVELOPE_OK)
		Fail("bad envelope with an OK envelope status");
	if (status != TPLFORM_BAD_ENVELOPE && *envstatus != ENVELOPE_OK)
		Fail("envelope status set without a bad envelope");
	if (status == TPLFORM_OK && *binlen > bound)
		Fail("decoded length past the bound");
	return status;
}

/*
 * Write env[0..len) as text into an exact-size block and check its shape;
 * returns it (caller frees), NUL-terminated, and its length in *tlen.
 */
static char *
WriteText(const uint8_t *env, size_t len, size_t *tlen)
{
	size_t		size = TplFormTextSize(len);
	char	   *text = Alloc(size);

	if (size != (len + 2) / 3 * 4 + 1)
		Fail("text size is not 4 * ceil(len / 3) + 1");
	if (TplFormToText(text, size - 1, env, len) != 0)
		Fail("wrote into a buffer that is too small");
	*tlen = TplFormToText(text, size, env, len);
	if (*tlen != size - 1 || text[*tlen] != '\0' || strlen(text) != *tlen)
		Fail("text form has the wrong length or no NUL");
	for (size_t i = 0; i < *tlen; i++)
		if (Sextet((uint8_t) text[i]) < 0 &&
			!(text[i] == '=' && i + 2 >= *tlen))
			Fail("text form is not canonical base64");
	return text;
}

/* The input as protected_template_in's argument. */
static void
CheckAsText(const uint8_t *data, size_t size)
{
	char	   *text = Alloc(size);
	char	   *stripped = Alloc(size);
	uint8_t    *ref = Alloc(size);
	size_t		slen;
	size_t		reflen;
	int			refok;
	EnvelopeHeader hdr;
	EnvelopeStatus refenv = ENVELOPE_OK;
	uint8_t    *bin;
	size_t		binlen;
	EnvelopeStatus envstatus;
	TplFormStatus status;

	memcpy(text, data, size);
	refok = RefDecode(data, size, stripped, &slen, ref, &reflen);
	if (refok)
		refenv = EnvelopeParse(ref, reflen, &hdr);

	status = ReadText(text, size, &bin, &binlen, &envstatus);
	if (!refok && status != TPLFORM_BAD_BASE64)
		Fail("accepted text that the reference refuses as base64");
	if (refok && status == TPLFORM_BAD_BASE64)
		Fail("refused base64 that the reference accepts");
	if (refok && refenv != ENVELOPE_OK &&
		(status != TPLFORM_BAD_ENVELOPE || envstatus != refenv))
		Fail("envelope refusal differs from the parser's");
	if (refok && refenv == ENVELOPE_OK &&
		(status != TPLFORM_OK || binlen != reflen ||
		 memcmp(bin, ref, reflen) != 0))
		Fail("accepted text decodes to other bytes than the reference");

	if (status == TPLFORM_OK)
	{
		size_t		tlen;
		char	   *out = WriteText(bin, binlen, &tlen);
		uint8_t    *again;
		size_t		againlen;

		/* one text form per envelope, whitespace aside */
		if (tlen != slen || memcmp(out, stripped, slen) != 0)
			Fail("text output differs from the input without whitespace");
		if (ReadText(out, tlen, &again, &againlen, &envstatus) != TPLFORM_OK ||
			againlen != binlen || memcmp(again, bin, binlen) != 0)
			Fail("in -> out -> in does not give the same bytes");
		free(again);
		free(out);
	}
	free(bin);
	free(ref);
	free(stripped);
	free(text);
}

/* The input as protected_template_recv's message bytes. */
static void
CheckAsBinary(const uint8_t *data, size_t size)
{
	uint8_t    *env = Alloc(size);
	EnvelopeHeader hdr;
	EnvelopeStatus parsed;
	char	   *text;
	size_t		tlen;
	uint8_t    *bin;
	size_t		binlen;
	EnvelopeStatus envstatus;
	TplFormStatus status;

	memcpy(env, data, size);
	parsed = EnvelopeParse(env, size, &hdr);
	text = WriteText(env, size, &tlen);
	status = ReadText(text, tlen, &bin, &binlen, &envstatus);
	if (parsed == ENVELOPE_OK &&
		(status != TPLFORM_OK || binlen != size || memcmp(bin, env, size) != 0))
		Fail("recv -> out -> in does not give the same bytes");
	if (parsed != ENVELOPE_OK &&
		(status != TPLFORM_BAD_ENVELOPE || envstatus != parsed))
		Fail("text form of refused bytes is not refused the same way");
	free(bin);
	free(text);
	free(env);
}

/* libFuzzer entry point: the input as text, then as binary. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CheckAsText(data, size);
	CheckAsBinary(data, size);
	return 0;
}
