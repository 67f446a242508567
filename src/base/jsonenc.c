/*-------------------------------------------------------------------------
 *
 * jsonenc.c
 *		Total JSON encoders for audit values (see jsonenc.h).
 *
 * Strings: quote, backslash and every control character are escaped;
 * other bytes are copied.  With utf8 set, a byte that does not start a
 * valid UTF-8 sequence, and NUL (which jsonb refuses even escaped), become
 * U+FFFD, so the output is valid UTF-8 whatever the input; without it, the
 * caller vouches that the bytes are text in the database encoding, and
 * NUL becomes '?'.
 *
 * Numbers: a finite double is written with the fewest of 15, 16 or 17
 * significant digits that read back as the same double; NaN and the
 * infinities, which JSON numbers cannot express, are written as the JSON
 * strings "NaN", "Infinity" and "-Infinity" (float8out's spelling).
 *
 *-------------------------------------------------------------------------
 */
#include "base/jsonenc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hexdigits[] = "0123456789abcdef";

/*
 * Length of the valid UTF-8 sequence at s (at most avail bytes): 1 to 4,
 * or 0 when s does not start one (overlong forms, surrogates, code points
 * past U+10FFFF and truncated sequences are invalid).
 */
static size_t
Utf8SequenceLength(const uint8_t *s, size_t avail)
{
	uint8_t		c = s[0];
	size_t		n;
	uint32_t	cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (avail < n)
		return 0;
	for (size_t k = 1; k < n; k++)
	{
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		(cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return n;
}

/* The escape of an ASCII byte that JSON needs escaped, or NULL. */
static const char *
ShortEscape(uint8_t c)
{
	switch (c)
	{
		case '"':
			return "\\\"";
		case '\\':
			return "\\\\";
		case '\b':
			return "\\b";
		case '\f':
			return "\\f";
		case '\n':
			return "\\n";
		case '\r':
			return "\\r";
		case '\t':
			return "\\t";
		default:
			return NULL;
	}
}

/* Write one ASCII byte as JSON string content; returns bytes written. */
static size_t
PutAscii(char *dst, uint8_t c)
{
	const char *esc = ShortEscape(c);

	if (esc != NULL)
	{
		memcpy(dst, esc, 2);
		return 2;
	}
	if (c < 0x20 || c == 0x7F)
	{
		/* \u00XX: other control characters, and DEL for legibility */
		memcpy(dst, "\\u00", 4);
		dst[4] = hexdigits[c >> 4];
		dst[5] = hexdigits[c & 0x0F];
		return 6;
	}
	dst[0] = (char) c;
	return 1;
}

/*
 * Write src[0..len) as a quoted JSON string into dst, which has room for
 * JSONENC_STRING_BOUND(len) bytes.  Returns the bytes written (no NUL is
 * appended).
 */
size_t
JsonEncString(char *dst, const uint8_t *src, size_t len, int utf8)
{
	size_t		out = 0;
	size_t		i = 0;

	dst[out++] = '"';
	while (i < len)
	{
		uint8_t		c = src[i];
		size_t		n;

		if (c == 0)
		{
			/* jsonb refuses \u0000; text never holds NUL anyway */
			const char *rep = utf8 ? "\\ufffd" : "?";

			memcpy(dst + out, rep, strlen(rep));
			out += strlen(rep);
			i++;
			continue;
		}
		if (c < 0x80)
		{
			out += PutAscii(dst + out, c);
			i++;
			continue;
		}
		n = utf8 ? Utf8SequenceLength(src + i, len - i) : 1;
		if (n == 0)
		{
			memcpy(dst + out, "\\ufffd", 6);
			out += 6;
			i++;
			continue;
		}
		memcpy(dst + out, src + i, n);
		out += n;
		i += n;
	}
	dst[out++] = '"';
	return out;
}

/*
 * Write v as JSON into dst (room for JSONENC_NUMBER_BOUND bytes): a number
 * when finite, else a string.  Returns the bytes written (no NUL).
 */
size_t
JsonEncNumber(char *dst, double v)
{
	char		buf[JSONENC_NUMBER_BOUND];
	const char *word = NULL;
	int			len = 0;

	if (isnan(v))
		word = "\"NaN\"";
	else if (isinf(v))
		word = v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
	if (word != NULL)
	{
		memcpy(dst, word, strlen(word));
		return strlen(word);
	}
	/* 17 significant digits always read back exactly; try fewer first */
	for (int digits = 15; digits <= 17; digits++)
	{
		len = snprintf(buf, sizeof(buf), "%.*g", digits, v);
		if (digits == 17 || strtod(buf, NULL) == v)
			break;
	}
	memcpy(dst, buf, (size_t) len);
	return (size_t) len;
}
