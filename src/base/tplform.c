/*-------------------------------------------------------------------------
 *
 * tplform.c
 *		The text form of a protected_template: base64 of its envelope.
 *
 * Text input is standard base64 (RFC 4648, with padding) of one envelope;
 * spaces, tabs and line breaks anywhere are ignored, nothing else is.  Any
 * other byte is refused before libsodium's decoder runs, which itself
 * refuses non-zero bits after the last byte and missing or extra padding,
 * so once whitespace is dropped each envelope has exactly one text form,
 * the one TplFormToText writes.  The decoded
 * bytes must then pass the strict envelope parser.
 *
 * Nothing here echoes its input: the server's messages come from the
 * status alone.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "base/tplform.h"

#define TPLFORM_WHITESPACE	" \t\r\n"

/* Room TplFormFromText needs to decode a text of textlen bytes. */
size_t
TplFormDecodedBound(size_t textlen)
{
	return textlen / 4 * 3 + 3;
}

/*
 * Is every byte a base64 character, '=' or whitespace?  libsodium 1.0.18
 * decodes every byte from 0x80 up as if it were '/' (it compares them as
 * negative chars), and finds NUL in the ignore list (strchr): both would
 * give one envelope many text forms, so they are refused here first.
 */
static bool
TextCharsValid(const char *text, size_t textlen)
{
	for (size_t i = 0; i < textlen; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=' ||
			  c == ' ' || c == '\t' || c == '\r' || c == '\n'))
			return false;
	}
	return true;
}

/*
 * Strict standard base64 of text[0..textlen), whitespace ignored, into bin
 * (binsize >= TplFormDecodedBound): false, with bin zeroed, unless all of
 * it decodes.  The sealed_probe type's text form uses it too.
 */
bool
TplFormBase64Decode(const char *text, size_t textlen, uint8_t *bin,
					size_t binsize, size_t *binlen)
{
	const char *end = NULL;

	*binlen = 0;
	/* a bin smaller than the bound makes libsodium refuse, not overrun */
	if (!TextCharsValid(text, textlen) ||
		sodium_base642bin(bin, binsize, text, textlen, TPLFORM_WHITESPACE,
						  binlen, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
		end != text + textlen)
	{
		memset(bin, 0, binsize);
		*binlen = 0;
		return false;
	}
	return true;
}

/*
 * Decode text[0..textlen) into bin (binsize >= TplFormDecodedBound) and
 * check that it is one valid envelope.  On TPLFORM_OK *binlen is its
 * length.  On any other status *binlen is 0 and bin is zeroed, so a
 * refused input leaves nothing decoded behind; *envstatus says what the
 * envelope parser refused (ENVELOPE_OK unless TPLFORM_BAD_ENVELOPE).
 */
TplFormStatus
TplFormFromText(const char *text, size_t textlen, uint8_t *bin,
				size_t binsize, size_t *binlen, EnvelopeStatus *envstatus)
{
	EnvelopeHeader hdr;
	size_t		len = 0;

	*binlen = 0;
	*envstatus = ENVELOPE_OK;
	if (!TplFormBase64Decode(text, textlen, bin, binsize, &len))
		return TPLFORM_BAD_BASE64;
	*envstatus = EnvelopeParse(bin, len, &hdr);
	if (*envstatus != ENVELOPE_OK)
	{
		memset(bin, 0, binsize);
		return TPLFORM_BAD_ENVELOPE;
	}
	*binlen = len;
	return TPLFORM_OK;
}

/* Bytes TplFormToText writes for an envelope of envlen bytes, NUL included. */
size_t
TplFormTextSize(size_t envlen)
{
	return sodium_base64_ENCODED_LEN(envlen, sodium_base64_VARIANT_ORIGINAL);
}

/*
 * Write the text form of env[0..envlen) into out (outsize >=
 * TplFormTextSize(envlen)), NUL-terminated.  Returns its length without
 * the NUL, or 0 when out is too small.
 */
size_t
TplFormToText(char *out, size_t outsize, const uint8_t *env, size_t envlen)
{
	if (outsize < TplFormTextSize(envlen))
		return 0;
	sodium_bin2base64(out, outsize, env, envlen,
					  sodium_base64_VARIANT_ORIGINAL);
	return TplFormTextSize(envlen) - 1;
}
