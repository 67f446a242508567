/*-------------------------------------------------------------------------
 *
 * fuzz_jsonenc.c
 *		libFuzzer target for the JSON encoders of audit values.
 *
 * The first input byte picks a mode: 0, a string in UTF-8 mode; 1, a
 * string in non-UTF-8 mode; 2, a number from the next 8 bytes taken as a
 * double; 3, a list of matches as the audit writes it,
 * [{"subject": <string>, "distance": <number>}, ...], each entry a length
 * byte, that many subject bytes and 8 bytes of double (bit 2 of the first
 * byte picks UTF-8 mode for the subjects).
 *
 * Every input is copied into a malloc'd block of exactly its size and
 * every output buffer is exactly the documented bound, so that
 * AddressSanitizer reports any read or write past either.  Every output
 * must fit its bound, be valid JSON per the strict RFC 8259 parser below
 * (which also decodes strings), hold no \u0000 escape and no raw byte
 * below 0x20.  Strings must decode to what an independent reference
 * expects (the input itself when it is valid UTF-8 without NUL in UTF-8
 * mode, or has no NUL in non-UTF-8 mode), be valid UTF-8 in UTF-8 mode and
 * escape nothing past U+007F in non-UTF-8 mode (a non-UTF-8 database may
 * not convert it).  Finite numbers must be JSON numbers of at most 17
 * significant digits that strtod reads back to the same bits (-0 too);
 * NaN and the infinities exactly "NaN", "Infinity", "-Infinity".  Any
 * violation prints what and calls abort().
 *
 * Build and run: make fuzz-smoke (FUZZ_RUNS=n for a longer run).
 *
 *-------------------------------------------------------------------------
 */
#include "base/jsonenc.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH		16		/* nesting the parser accepts */
#define MAX_SHOWN		512		/* output bytes printed on a violation */

enum
{
	MODE_STRING_UTF8,
	MODE_STRING_RAW,
	MODE_NUMBER,
	MODE_LIST,
	NUM_MODES
};

/* A strict RFC 8259 parser over one output; errors name the rule broken. */
typedef struct Parser
{
	const uint8_t *s;
	size_t		len;
	size_t		pos;
	int			utf8;			/* raw string bytes must be UTF-8 */
	const char *err;
	uint8_t    *dec;			/* decoded string, or NULL */
	size_t		declen;
	size_t		maxcp;			/* largest code point of a \u escape */
	int			elements;		/* elements of the top-level array */
	int			sigdigits;		/* significant digits of the last number */
} Parser;

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static int	ParseValue(Parser *p, int depth);

/* Report a violated invariant, with the output concerned, and stop. */
static void
Fail(const char *what, const char *out, size_t len)
{
	fprintf(stderr, "fuzz_jsonenc: invariant violated: %s\n", what);
	if (out != NULL)
	{
		fprintf(stderr, "fuzz_jsonenc: output (%zu bytes): ", len);
		for (size_t i = 0; i < len && i < MAX_SHOWN; i++)
		{
			uint8_t		c = (uint8_t) out[i];

			if (c >= 0x20 && c < 0x7F)
				fputc(c, stderr);
			else
				fprintf(stderr, "\\x%02x", c);
		}
		fputc('\n', stderr);
	}
	abort();
}

/* malloc that never returns NULL, for len >= 1. */
static void *
Alloc(size_t len)
{
	void	   *p = malloc(len);

	if (p == NULL)
		Fail("out of memory", NULL, 0);
	return p;
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most avail bytes), or
 * 0: the byte ranges of the Unicode Standard's Table 3-7, written
 * independently of jsonenc.c's decoder.
 */
static size_t
RefUtf8Length(const uint8_t *s, size_t avail)
{
	uint8_t		c = s[0];
	uint8_t		lo = 0x80;
	uint8_t		hi = 0xBF;
	size_t		n;

	if (c <= 0x7F)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	}
	else
		return 0;
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if (s[k] < 0x80 || s[k] > 0xBF)
			return 0;
	return n;
}

/* Is s[0..len) entirely well-formed UTF-8? */
static int
ValidUtf8(const uint8_t *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		size_t		n = RefUtf8Length(s + i, len - i);

		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* Set the parser's error (the first one only) and return 0. */
static int
ParseError(Parser *p, const char *err)
{
	if (p->err == NULL)
		p->err = err;
	return 0;
}

/* Skip JSON whitespace: space, tab, line feed, carriage return. */
static void
SkipSpace(Parser *p)
{
	while (p->pos < p->len &&
		   (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
			p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

/* Consume the literal word at the current position, if it is there. */
static int
ParseWord(Parser *p, const char *word)
{
	size_t		n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return ParseError(p, "invalid literal");
	p->pos += n;
	return 1;
}

/* Append bytes to the decoded string, when one is kept. */
static void
DecodedAppend(Parser *p, const uint8_t *b, size_t n)
{
	if (p->dec == NULL)
		return;
	memcpy(p->dec + p->declen, b, n);
	p->declen += n;
}

/* Append code point cp as UTF-8 to the decoded string. */
static void
DecodedAppendCodePoint(Parser *p, uint32_t cp)
{
	uint8_t		b[4];
	size_t		n;

	if (cp < 0x80)
		b[0] = (uint8_t) cp, n = 1;
	else if (cp < 0x800)
	{
		b[0] = (uint8_t) (0xC0 | (cp >> 6));
		b[1] = (uint8_t) (0x80 | (cp & 0x3F));
		n = 2;
	}
	else if (cp < 0x10000)
	{
		b[0] = (uint8_t) (0xE0 | (cp >> 12));
		b[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3F));
		b[2] = (uint8_t) (0x80 | (cp & 0x3F));
		n = 3;
	}
	else
	{
		b[0] = (uint8_t) (0xF0 | (cp >> 18));
		b[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3F));
		b[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3F));
		b[3] = (uint8_t) (0x80 | (cp & 0x3F));
		n = 4;
	}
	DecodedAppend(p, b, n);
}

/* Read the 4 hex digits of a \u escape; returns 0 on a bad digit. */
static int
ParseHex4(Parser *p, uint32_t *cp)
{
	*cp = 0;
	if (p->len - p->pos < 4)
		return ParseError(p, "truncated \\u escape");
	for (int k = 0; k < 4; k++)
	{
		uint8_t		c = p->s[p->pos++];
		uint32_t	d;

		if (c >= '0' && c <= '9')
			d = (uint32_t) (c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t) (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t) (c - 'A' + 10);
		else
			return ParseError(p, "bad hex digit in \\u escape");
		*cp = (*cp << 4) | d;
	}
	return 1;
}

/*
 * A \u escape after its backslash: a BMP code point other than a
 * surrogate, or a high surrogate followed by \u and a low one.  \u0000 is
 * an error here, since jsonb refuses it.
 */
static int
ParseUnicodeEscape(Parser *p)
{
	uint32_t	cp;
	uint32_t	low;

	p->pos++;					/* the 'u' */
	if (!ParseHex4(p, &cp))
		return 0;
	if (cp == 0)
		return ParseError(p, "\\u0000 escape (jsonb refuses it)");
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return ParseError(p, "low surrogate escape without a high one");
	if (cp >= 0xD800 && cp <= 0xDBFF)
	{
		if (p->len - p->pos < 2 || p->s[p->pos] != '\\' ||
			p->s[p->pos + 1] != 'u')
			return ParseError(p, "high surrogate escape without a low one");
		p->pos += 2;
		if (!ParseHex4(p, &low))
			return 0;
		if (low < 0xDC00 || low > 0xDFFF)
			return ParseError(p, "high surrogate escape without a low one");
		cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
	}
	if (cp > p->maxcp)
		p->maxcp = cp;
	DecodedAppendCodePoint(p, cp);
	return 1;
}

/* A string, from its opening quote; decodes into p->dec when set. */
static int
ParseString(Parser *p)
{
	p->declen = 0;
	p->pos++;					/* the opening quote */
	for (;;)
	{
		uint8_t		c;

		if (p->pos >= p->len)
			return ParseError(p, "unterminated string");
		c = p->s[p->pos];
		if (c == '"')
		{
			p->pos++;
			return 1;
		}
		if (c < 0x20)
			return ParseError(p, "raw control character in a string");
		if (c == '\\')
		{
			static const char from[] = "\"\\/bfnrt";
			static const char to[] = "\"\\/\b\f\n\r\t";
			const char *e;

			if (++p->pos >= p->len)
				return ParseError(p, "unterminated escape");
			c = p->s[p->pos];
			if (c == 'u')
			{
				if (!ParseUnicodeEscape(p))
					return 0;
				continue;
			}
			e = memchr(from, c, sizeof(from) - 1);
			if (e == NULL)
				return ParseError(p, "invalid escape");
			DecodedAppend(p, (const uint8_t *) &to[e - from], 1);
			p->pos++;
			continue;
		}
		if (c >= 0x80 && p->utf8)
		{
			size_t		n = RefUtf8Length(p->s + p->pos, p->len - p->pos);

			if (n == 0)
				return ParseError(p, "invalid UTF-8 in a string");
			DecodedAppend(p, p->s + p->pos, n);
			p->pos += n;
			continue;
		}
		DecodedAppend(p, &c, 1);
		p->pos++;
	}
}

/* Skip one or more digits; returns how many. */
static size_t
SkipDigits(Parser *p)
{
	size_t		start = p->pos;

	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
		p->pos++;
	return p->pos - start;
}

/*
 * A number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?.  Counts
 * the significant digits of the mantissa (from its first non-zero digit).
 */
static int
ParseNumber(Parser *p)
{
	size_t		start;
	int			seen_nonzero = 0;

	p->sigdigits = 0;
	if (p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len)
		return ParseError(p, "sign without digits");
	start = p->pos;
	if (p->s[p->pos] == '0')
	{
		p->pos++;
		if (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
			return ParseError(p, "leading zero in a number");
	}
	else if (SkipDigits(p) == 0)
		return ParseError(p, "number without integer digits");
	if (p->pos < p->len && p->s[p->pos] == '.')
	{
		p->pos++;
		if (SkipDigits(p) == 0)
			return ParseError(p, "number without fraction digits");
	}
	for (size_t i = start; i < p->pos; i++)
	{
		if (p->s[i] == '.')
			continue;
		if (p->s[i] != '0')
			seen_nonzero = 1;
		if (seen_nonzero)
			p->sigdigits++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
	{
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (SkipDigits(p) == 0)
			return ParseError(p, "number without exponent digits");
	}
	return 1;
}

/* An array or an object, from its opening bracket or brace. */
static int
ParseContainer(Parser *p, int depth)
{
	uint8_t		close = p->s[p->pos] == '[' ? ']' : '}';
	int			count = 0;

	p->pos++;
	SkipSpace(p);
	if (p->pos < p->len && p->s[p->pos] == close)
	{
		p->pos++;
		if (depth == 0)
			p->elements = 0;
		return 1;
	}
	for (;;)
	{
		if (close == '}')
		{
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return ParseError(p, "object key is not a string");
			if (!ParseString(p))
				return 0;
			SkipSpace(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return ParseError(p, "missing ':' after an object key");
			p->pos++;
		}
		if (!ParseValue(p, depth + 1))
			return 0;
		count++;
		SkipSpace(p);
		if (p->pos >= p->len)
			return ParseError(p, "unterminated array or object");
		if (p->s[p->pos] == close)
		{
			p->pos++;
			if (depth == 0)
				p->elements = count;
			return 1;
		}
		if (p->s[p->pos] != ',')
			return ParseError(p, "missing ',' between elements");
		p->pos++;
		SkipSpace(p);
	}
}

/* Any value, surrounded by optional whitespace. */
static int
ParseValue(Parser *p, int depth)
{
	int			ok;

	if (depth > MAX_DEPTH)
		return ParseError(p, "nested too deep");
	SkipSpace(p);
	if (p->pos >= p->len)
		return ParseError(p, "missing value");
	switch (p->s[p->pos])
	{
		case '"':
			ok = ParseString(p);
			break;
		case '[':
		case '{':
			ok = ParseContainer(p, depth);
			break;
		case 't':
			ok = ParseWord(p, "true");
			break;
		case 'f':
			ok = ParseWord(p, "false");
			break;
		case 'n':
			ok = ParseWord(p, "null");
			break;
		default:
			if (p->s[p->pos] == '-' ||
				(p->s[p->pos] >= '0' && p->s[p->pos] <= '9'))
				ok = ParseNumber(p);
			else
				ok = ParseError(p, "not a JSON value");
			break;
	}
	SkipSpace(p);
	return ok;
}

/*
 * Parse out[0..len) as one JSON text, failing on any error; dec, if not
 * NULL, receives the last string decoded (room for len bytes suffices).
 */
static void
ParseDocument(Parser *p, const char *out, size_t len, int utf8,
			  uint8_t *dec)
{
	memset(p, 0, sizeof(*p));
	p->s = (const uint8_t *) out;
	p->len = len;
	p->utf8 = utf8;
	p->dec = dec;
	p->elements = -1;
	if (ParseValue(p, 0) && p->pos != p->len)
		ParseError(p, "trailing bytes after the value");
	if (p->err != NULL)
	{
		char		msg[160];

		snprintf(msg, sizeof(msg), "not valid JSON: %s at byte %zu",
				 p->err, p->pos);
		Fail(msg, out, len);
	}
}

/* Checks every output shares: no raw control byte, UTF-8 where promised. */
static void
CheckRawBytes(const char *out, size_t len, int utf8)
{
	for (size_t i = 0; i < len; i++)
		if ((uint8_t) out[i] < 0x20)
			Fail("raw byte below 0x20 in the output", out, len);
	if (utf8 && !ValidUtf8((const uint8_t *) out, len))
		Fail("UTF-8 mode output is not valid UTF-8", out, len);
}

/*
 * What decoding the encoding of src should give: in UTF-8 mode, NUL and
 * every byte that does not start a well-formed sequence become U+FFFD;
 * otherwise NUL becomes '?'.  ref has room for 3 * len bytes.
 */
static size_t
ReferenceDecoded(uint8_t *ref, const uint8_t *src, size_t len, int utf8)
{
	static const uint8_t fffd[3] = {0xEF, 0xBF, 0xBD};
	size_t		out = 0;
	size_t		i = 0;

	while (i < len)
	{
		size_t		n = utf8 ? RefUtf8Length(src + i, len - i) : 1;

		if (src[i] == 0 && !utf8)
		{
			ref[out++] = '?';
			i++;
		}
		else if (src[i] == 0 || n == 0)
		{
			memcpy(ref + out, fffd, 3);
			out += 3;
			i++;
		}
		else
		{
			memcpy(ref + out, src + i, n);
			out += n;
			i += n;
		}
	}
	return out;
}

/*
 * Encode src[0..len) (already an exact-size block) as a string into an
 * exact-size block and check it; returns the output, which the caller
 * frees, and its length in *outlen.
 */
static char *
CheckString(const uint8_t *src, size_t len, int utf8, size_t *outlen)
{
	size_t		bound = JSONENC_STRING_BOUND(len);
	char	   *out = Alloc(bound);
	uint8_t    *dec = Alloc(bound);
	uint8_t    *ref = Alloc(3 * len + 1);
	size_t		n;
	size_t		reflen;
	Parser		p;
	int			has_nul = len > 0 && memchr(src, 0, len) != NULL;

	n = JsonEncString(out, src, len, utf8);
	if (n > bound)
		Fail("string output longer than JSONENC_STRING_BOUND", out, bound);
	CheckRawBytes(out, n, utf8);
	if (n < 2 || out[0] != '"')
		Fail("string output is not a JSON string", out, n);
	ParseDocument(&p, out, n, utf8, dec);
	if (!utf8 && p.maxcp > 0x7F)
		Fail("non-UTF-8 mode escaped a code point past U+007F", out, n);

	/* the input itself comes back whenever it can */
	if (!has_nul && (!utf8 || ValidUtf8(src, len)) &&
		(p.declen != len || (len > 0 && memcmp(dec, src, len) != 0)))
		Fail("decoded string differs from a NUL-free, valid input", out, n);

	/* and always what the reference substitution gives */
	reflen = ReferenceDecoded(ref, src, len, utf8);
	if (p.declen != reflen || memcmp(dec, ref, reflen) != 0)
		Fail("decoded string differs from the reference substitution",
			 out, n);

	free(ref);
	free(dec);
	*outlen = n;
	return out;
}

/* Encode v into an exact-size block and check it; as CheckString. */
static char *
CheckNumber(double v, size_t *outlen)
{
	char	   *out = Alloc(JSONENC_NUMBER_BOUND);
	size_t		n;
	Parser		p;

	n = JsonEncNumber(out, v);
	if (n > JSONENC_NUMBER_BOUND)
		Fail("number output longer than JSONENC_NUMBER_BOUND", out,
			 JSONENC_NUMBER_BOUND);
	CheckRawBytes(out, n, 1);
	ParseDocument(&p, out, n, 1, NULL);
	if (isnan(v) || isinf(v))
	{
		const char *want = isnan(v) ? "\"NaN\"" :
			v > 0 ? "\"Infinity\"" : "\"-Infinity\"";

		if (n != strlen(want) || memcmp(out, want, n) != 0)
			Fail("non-finite number is not \"NaN\", \"Infinity\" or \"-Infinity\"",
				 out, n);
	}
	else
	{
		char		text[JSONENC_NUMBER_BOUND + 1];
		char	   *end;
		double		back;
		uint64_t	vbits;
		uint64_t	bbits;

		if (out[0] != '-' && (out[0] < '0' || out[0] > '9'))
			Fail("finite number is not a JSON number", out, n);
		if (p.sigdigits > 17)
			Fail("more than 17 significant digits", out, n);
		memcpy(text, out, n);
		text[n] = '\0';
		back = strtod(text, &end);
		if (end != text + n)
			Fail("strtod does not read the whole number", out, n);
		memcpy(&vbits, &v, sizeof(v));
		memcpy(&bbits, &back, sizeof(back));
		if (vbits != bbits)
			Fail("number does not read back to the same bits", out, n);
	}
	*outlen = n;
	return out;
}

/* Append n bytes to a list being built. */
static void
ListAppend(char *list, size_t *len, const void *b, size_t n)
{
	memcpy(list + *len, b, n);
	*len += n;
}

/*
 * Mode 3: entries of a length byte, subject bytes and 8 bytes of double
 * (zero-padded when the input ends), encoded one by one and joined as the
 * audit joins them; the whole list must parse, with one element per entry.
 */
static void
CheckList(const uint8_t *data, size_t size, int utf8)
{
	static const char head[] = "{\"subject\": ";
	static const char mid[] = ", \"distance\": ";
	size_t		cap = 2;
	size_t		len = 0;
	size_t		pos = 0;
	int			nentries = 0;
	char	   *list;
	Parser		p;

	/* the list's size from the bounds of its entries */
	while (pos < size)
	{
		size_t		slen = data[pos++];

		if (slen > size - pos)
			slen = size - pos;
		pos += slen;
		pos += size - pos < 8 ? size - pos : 8;
		cap += 2 + (sizeof(head) - 1) + JSONENC_STRING_BOUND(slen) +
			(sizeof(mid) - 1) + JSONENC_NUMBER_BOUND + 1;
	}
	list = Alloc(cap);
	ListAppend(list, &len, "[", 1);

	pos = 0;
	while (pos < size)
	{
		size_t		slen = data[pos++];
		size_t		dlen;
		uint8_t    *subject;
		uint8_t		bytes[8] = {0};
		double		v;
		char	   *enc;
		size_t		enclen;

		if (slen > size - pos)
			slen = size - pos;
		subject = Alloc(slen > 0 ? slen : 1);
		memcpy(subject, data + pos, slen);
		pos += slen;
		dlen = size - pos < 8 ? size - pos : 8;
		memcpy(bytes, data + pos, dlen);
		pos += dlen;
		memcpy(&v, bytes, sizeof(v));

		if (nentries > 0)
			ListAppend(list, &len, ", ", 2);
		ListAppend(list, &len, head, sizeof(head) - 1);
		enc = CheckString(subject, slen, utf8, &enclen);
		ListAppend(list, &len, enc, enclen);
		free(enc);
		ListAppend(list, &len, mid, sizeof(mid) - 1);
		enc = CheckNumber(v, &enclen);
		ListAppend(list, &len, enc, enclen);
		free(enc);
		ListAppend(list, &len, "}", 1);
		free(subject);
		nentries++;
	}
	ListAppend(list, &len, "]", 1);

	CheckRawBytes(list, len, utf8);
	ParseDocument(&p, list, len, utf8, NULL);
	if (p.elements != nentries)
		Fail("list has a different number of elements than entries",
			 list, len);
	free(list);
}

/* libFuzzer entry point: encode one input in the mode it picks and check. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int			mode;
	size_t		len;
	uint8_t    *buf;
	char	   *out;
	size_t		outlen;

	if (size == 0)
		return 0;
	mode = data[0] % NUM_MODES;
	len = size - 1;
	buf = Alloc(len > 0 ? len : 1);
	memcpy(buf, data + 1, len);

	switch (mode)
	{
		case MODE_STRING_UTF8:
		case MODE_STRING_RAW:
			{
				/* exactly len bytes, even when len is 0 */
				uint8_t    *src = malloc(len);

				if (src == NULL && len > 0)
					Fail("out of memory", NULL, 0);
				if (len > 0)
					memcpy(src, buf, len);
				out = CheckString(src, len, mode == MODE_STRING_UTF8, &outlen);
				free(out);
				free(src);
				break;
			}
		case MODE_NUMBER:
			{
				uint8_t		bytes[8] = {0};
				double		v;

				memcpy(bytes, buf, len < 8 ? len : 8);
				memcpy(&v, bytes, sizeof(v));
				out = CheckNumber(v, &outlen);
				free(out);
				break;
			}
		default:
			CheckList(buf, len, (data[0] >> 2) & 1);
			break;
	}
	free(buf);
	return 0;
}
