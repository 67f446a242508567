/*-------------------------------------------------------------------------
 *
 * tplform_test.c
 *		Unit tests for the text form of protected_template (tplform.c).
 *
 * A valid envelope is built with the envelope writer; its text form must
 * be exactly what an independent base64 encoder gives and read back with
 * whitespace anywhere.  Refusals, each with its status and with nothing
 * decoded left behind: every byte outside the alphabet, '=' and the four
 * whitespace characters (each of the 256 tried in the middle of a valid
 * text, NUL and bytes from 0x80 up included, which libsodium alone would
 * skip or read as '/'; and each byte from 0x80 up in place of a '/'),
 * missing or extra padding, non-zero bits after the
 * last byte, and base64 of a bad envelope.
 *
 * Every check is one assertion.  The last line of output is
 * "unit: N passed, N failed"; the exit status is non-zero when any
 * assertion failed.
 *
 *-------------------------------------------------------------------------
 */
#include "base/tplform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

#define MAX_TEXT	512

/* A valid f32 envelope of 4 dims into env; returns its length. */
static size_t
BuildEnvelope(uint8_t *env, size_t size)
{
	EnvelopeHeader hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.cipher = ENVELOPE_CIPHER_XCHACHA20;
	hdr.format = ENVELOPE_FORMAT_F32;
	hdr.dims = 4;
	hdr.key_id = 3;
	hdr.created = 1000;
	hdr.expires = 2000;
	hdr.subject = "alice";
	hdr.subject_len = 5;
	hdr.npurposes = 1;
	hdr.purpose[0] = "door";
	hdr.purpose_len[0] = 4;
	if (EnvelopeComputeSizes(&hdr) != ENVELOPE_OK || hdr.total_len > size)
		return 0;
	EnvelopeWriteHeader(&hdr, env);
	/* nonce, payload and tag: any bytes, all 256 values among them */
	for (size_t i = hdr.header_len; i < hdr.total_len; i++)
		env[i] = (uint8_t) (i * 37);
	return hdr.total_len;
}

/* Standard base64 with padding, written independently of libsodium. */
static size_t
RefEncode(char *out, const uint8_t *in, size_t len)
{
	static const char abc[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t		o = 0;

	for (size_t i = 0; i < len; i += 3)
	{
		uint32_t	v = (uint32_t) in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t) in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? abc[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* Read text; returns the status, and whether a refusal left bin clean. */
static TplFormStatus
Read(const char *text, size_t len, uint8_t *bin, size_t *binlen,
	 EnvelopeStatus *envstatus, int *clean)
{
	size_t		bound = TplFormDecodedBound(len);
	TplFormStatus status;

	memset(bin, 0xA5, bound);
	status = TplFormFromText(text, len, bin, bound, binlen, envstatus);
	*clean = 1;
	if (status != TPLFORM_OK)
	{
		*clean = *binlen == 0;
		for (size_t i = 0; i < bound; i++)
			if (bin[i] != 0)
				*clean = 0;
	}
	return status;
}

/* The text form of a valid envelope, and reading it back. */
static void
TestRoundTrip(const uint8_t *env, size_t len, const char *ref, size_t reflen)
{
	char		text[MAX_TEXT];
	char		spaced[2 * MAX_TEXT];
	uint8_t		bin[MAX_TEXT];
	size_t		binlen;
	size_t		n = 0;
	EnvelopeStatus es;
	int			clean;

	Check(TplFormTextSize(len) == reflen + 1, "text size is not length + NUL");
	Check(TplFormToText(text, TplFormTextSize(len), env, len) == reflen &&
		  strcmp(text, ref) == 0, "text form differs from reference base64");
	Check(TplFormToText(text, reflen, env, len) == 0,
		  "wrote into a buffer one byte short");
	Check(Read(ref, reflen, bin, &binlen, &es, &clean) == TPLFORM_OK &&
		  binlen == len && memcmp(bin, env, len) == 0 && es == ENVELOPE_OK,
		  "valid text does not read back to the envelope");

	/* whitespace before, after, and between characters and padding */
	spaced[n++] = ' ';
	for (size_t i = 0; i < reflen; i++)
	{
		spaced[n++] = ref[i];
		spaced[n++] = " \t\r\n"[i % 4];
	}
	Check(Read(spaced, n, bin, &binlen, &es, &clean) == TPLFORM_OK &&
		  binlen == len && memcmp(bin, env, len) == 0,
		  "whitespace everywhere is not ignored");
}

/* Every byte value in the middle of a valid text. */
static void
TestEveryByte(const char *ref, size_t reflen)
{
	char		text[MAX_TEXT + 1];
	uint8_t		bin[MAX_TEXT];
	size_t		binlen;
	EnvelopeStatus es;
	int			clean;
	int			wrong = 0;
	int			dirty = 0;

	for (int c = 0; c < 256; c++)
	{
		int			space = c == ' ' || c == '\t' || c == '\r' || c == '\n';
		TplFormStatus status;

		/* inserted after the 8th character: one sextet too many */
		memcpy(text, ref, 8);
		text[8] = (char) c;
		memcpy(text + 9, ref + 8, reflen - 8);
		status = Read(text, reflen + 1, bin, &binlen, &es, &clean);
		if (space ? status != TPLFORM_OK : status != TPLFORM_BAD_BASE64)
		{
			if (wrong++ < 5)
				printf("byte 0x%02x inserted: status %d\n", c, (int) status);
		}
		if (!clean)
			dirty++;
	}
	Check(wrong == 0, "%d byte values inserted into a text were misread", wrong);
	Check(dirty == 0, "%d refusals left decoded bytes behind", dirty);

	/* each byte from 0x80 up in place of a '/' (libsodium reads it as one) */
	wrong = 0;
	Check(strchr(ref, '/') != NULL, "the test text has no '/'");
	for (int c = 0x80; c < 256 && strchr(ref, '/') != NULL; c++)
	{
		memcpy(text, ref, reflen);
		text[strchr(ref, '/') - ref] = (char) c;
		if (Read(text, reflen, bin, &binlen, &es, &clean) != TPLFORM_BAD_BASE64 ||
			!clean)
			wrong++;
	}
	Check(wrong == 0, "%d bytes from 0x80 up were read as '/'", wrong);
}

/* Malformed base64 and base64 of malformed envelopes. */
static void
TestRefusals(void)
{
	static const struct
	{
		const char *text;
		TplFormStatus status;
		EnvelopeStatus envstatus;
	}			cases[] = {
		{"QUJ", TPLFORM_BAD_BASE64, ENVELOPE_OK},	/* padding missing */
		{"QUJD=", TPLFORM_BAD_BASE64, ENVELOPE_OK},	/* padding extra */
		{"QQ=", TPLFORM_BAD_BASE64, ENVELOPE_OK},
		{"QR==", TPLFORM_BAD_BASE64, ENVELOPE_OK},	/* bits after the byte */
		{"QUI=QUI=", TPLFORM_BAD_BASE64, ENVELOPE_OK},	/* padding inside */
		{"QUJD-_", TPLFORM_BAD_BASE64, ENVELOPE_OK},	/* URL-safe alphabet */
		{"", TPLFORM_BAD_ENVELOPE, ENVELOPE_TRUNCATED},
		{"QUJD", TPLFORM_BAD_ENVELOPE, ENVELOPE_TRUNCATED},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		uint8_t		bin[64];
		size_t		binlen;
		EnvelopeStatus es;
		int			clean;
		TplFormStatus status = Read(cases[i].text, strlen(cases[i].text),
									bin, &binlen, &es, &clean);

		Check(status == cases[i].status && es == cases[i].envstatus && clean,
			  "\"%s\": status %d, envelope status %d, clean %d", cases[i].text,
			  (int) status, (int) es, clean);
	}
}

int
main(void)
{
	uint8_t		env[MAX_TEXT / 2];
	char		ref[MAX_TEXT];
	size_t		len = BuildEnvelope(env, sizeof(env));
	size_t		reflen = RefEncode(ref, env, len);

	Check(len > 0 && reflen > 8, "could not build a valid envelope");
	TestRoundTrip(env, len, ref, reflen);
	TestEveryByte(ref, reflen);
	TestRefusals();

	return UnitReport();
}
