/*-------------------------------------------------------------------------
 *
 * jsonenc_test.c
 *		Unit tests for the JSON encoders of audit values (jsonenc.c).
 *
 * Strings and numbers are checked against exact expected outputs written
 * here by hand: escapes, U+FFFD for each byte that does not start a
 * well-formed UTF-8 sequence (overlong forms, surrogates, code points past
 * U+10FFFF, truncated sequences), NUL, bytes copied in non-UTF-8 mode, the
 * shortest of 15, 16 or 17 digits, and the spelling of NaN and the
 * infinities.  Worst-case inputs must fill JSONENC_STRING_BOUND exactly and
 * never write past it.  A loop over random doubles (one assertion) checks
 * that every finite double reads back to the same bits with at most 17
 * significant digits and no fewer digits than needed.
 *
 * Every check is one assertion.  The last line of output is
 * "unit: N passed, N failed"; the exit status is non-zero when any
 * assertion failed.
 *
 *-------------------------------------------------------------------------
 */
#include "base/jsonenc.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

#define WORST_LEN		1000	/* input length of the worst-case checks */
#define CANARY			0xA5	/* fills the bytes past every bound */
#define CANARY_LEN		64
#define RANDOM_DOUBLES	1000000
#define MAX_REPORTS		5		/* mismatches printed per looping assertion */


/* A string input (len bytes, NULs allowed), its mode and exact output. */
typedef struct StringCase
{
	const char *name;
	const char *in;
	size_t		len;
	int			utf8;
	const char *want;
} StringCase;

#define S(lit)	lit, sizeof(lit) - 1

static const StringCase string_cases[] = {
	{"empty", S(""), 1, "\"\""},
	{"empty, non-UTF-8", S(""), 0, "\"\""},
	{"plain ASCII", S("alice@example.org"), 1, "\"alice@example.org\""},
	{"quote and backslash", S("a\"b\\"), 1, "\"a\\\"b\\\\\""},
	{"quote and backslash, non-UTF-8", S("a\"b\\"), 0, "\"a\\\"b\\\\\""},
	{"solidus not escaped", S("a/b"), 1, "\"a/b\""},
	{"short escapes", S("\b\f\n\r\t"), 1, "\"\\b\\f\\n\\r\\t\""},
	{"0x01", S("\x01"), 1, "\"\\u0001\""},
	{"0x01, non-UTF-8", S("\x01"), 0, "\"\\u0001\""},
	{"0x1F", S("\x1f"), 1, "\"\\u001f\""},
	{"0x0B and 0x1B", S("\x0b\x1b"), 1, "\"\\u000b\\u001b\""},
	{"DEL", S("\x7f"), 1, "\"\\u007f\""},
	{"DEL, non-UTF-8", S("\x7f"), 0, "\"\\u007f\""},
	{"space and tilde", S(" ~"), 1, "\" ~\""},
	/* valid UTF-8 is copied as it is */
	{"e acute", S("\xc3\xa9"), 1, "\"\xc3\xa9\""},
	{"euro sign", S("\xe2\x82\xac"), 1, "\"\xe2\x82\xac\""},
	{"U+1D11E", S("\xf0\x9d\x84\x9e"), 1, "\"\xf0\x9d\x84\x9e\""},
	{"U+0080", S("\xc2\x80"), 1, "\"\xc2\x80\""},
	{"U+07FF", S("\xdf\xbf"), 1, "\"\xdf\xbf\""},
	{"U+0800", S("\xe0\xa0\x80"), 1, "\"\xe0\xa0\x80\""},
	{"U+D7FF", S("\xed\x9f\xbf"), 1, "\"\xed\x9f\xbf\""},
	{"U+E000", S("\xee\x80\x80"), 1, "\"\xee\x80\x80\""},
	{"U+FFFD itself", S("\xef\xbf\xbd"), 1, "\"\xef\xbf\xbd\""},
	{"U+10000", S("\xf0\x90\x80\x80"), 1, "\"\xf0\x90\x80\x80\""},
	{"U+10FFFF", S("\xf4\x8f\xbf\xbf"), 1, "\"\xf4\x8f\xbf\xbf\""},
	/* each byte that does not start a valid sequence becomes U+FFFD */
	{"lone lead byte", S("\xc3"), 1, "\"\\ufffd\""},
	{"lead byte then ASCII", S("\xc3" "A"), 1, "\"\\ufffdA\""},
	{"lone continuation byte", S("\x80"), 1, "\"\\ufffd\""},
	{"overlong slash, 2 bytes", S("\xc0\xaf"), 1, "\"\\ufffd\\ufffd\""},
	{"overlong 0xC1", S("\xc1\xbf"), 1, "\"\\ufffd\\ufffd\""},
	{"overlong slash, 3 bytes", S("\xe0\x80\xaf"), 1,
	"\"\\ufffd\\ufffd\\ufffd\""},
	{"overlong U+FFFF, 4 bytes", S("\xf0\x8f\xbf\xbf"), 1,
	"\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
	{"surrogate U+D800", S("\xed\xa0\x80"), 1, "\"\\ufffd\\ufffd\\ufffd\""},
	{"surrogate U+DFFF", S("\xed\xbf\xbf"), 1, "\"\\ufffd\\ufffd\\ufffd\""},
	{"past U+10FFFF", S("\xf4\x90\x80\x80"), 1,
	"\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
	{"0xF5 lead byte", S("\xf5\x80\x80\x80"), 1,
	"\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
	{"0xFE and 0xFF", S("\xfe\xff"), 1, "\"\\ufffd\\ufffd\""},
	{"truncated 4-byte sequence", S("\xf0\x9f\x98"), 1,
	"\"\\ufffd\\ufffd\\ufffd\""},
	{"truncated 3-byte sequence then ASCII", S("\xe2\x82x"), 1,
	"\"\\ufffd\\ufffdx\""},
	{"invalid between valid", S("\xc3\xa9\xff\xc3\xa9"), 1,
	"\"\xc3\xa9\\ufffd\xc3\xa9\""},
	/* NUL: U+FFFD in UTF-8 mode, '?' otherwise, never \u0000 */
	{"NUL", S("\0"), 1, "\"\\ufffd\""},
	{"NUL, non-UTF-8", S("\0"), 0, "\"?\""},
	{"NUL inside", S("a\0b"), 1, "\"a\\ufffdb\""},
	{"NUL inside, non-UTF-8", S("a\0b"), 0, "\"a?b\""},
	/* non-UTF-8 mode copies every byte from 0x80 as it is */
	{"Latin-1 e acute, non-UTF-8", S("caf\xe9"), 0, "\"caf\xe9\""},
	{"0x80 and 0xFF, non-UTF-8", S("\x80\xff"), 0, "\"\x80\xff\""},
	{"surrogate bytes, non-UTF-8", S("\xed\xa0\x80"), 0, "\"\xed\xa0\x80\""},
	{"mixed, non-UTF-8", S("\xc3\"\x01\x7f"), 0,
	"\"\xc3\\\"\\u0001\\u007f\""},
};

#define NUM_STRING_CASES (sizeof(string_cases) / sizeof(string_cases[0]))

/* A double and its exact output. */
typedef struct NumberCase
{
	const char *name;
	double		v;
	const char *want;
} NumberCase;

static const NumberCase number_cases[] = {
	{"zero", 0.0, "0"},
	{"negative zero", -0.0, "-0"},
	{"one", 1.0, "1"},
	{"minus one and a half", -1.5, "-1.5"},
	{"hundred", 100.0, "100"},
	{"0.1", 0.1, "0.1"},
	{"0.25", 0.25, "0.25"},
	{"1e-5", 1e-5, "1e-05"},
	{"1e15", 1e15, "1e+15"},
	{"1e300", 1e300, "1e+300"},
	{"-1e-300", -1e-300, "-1e-300"},
	{"1/3 (16 digits)", 1.0 / 3.0, "0.3333333333333333"},
	{"0.1 + 0.2 (17 digits)", 0.30000000000000004, "0.30000000000000004"},
	{"2^53 (16 digits)", 9007199254740992.0, "9007199254740992"},
	{"2^53 + 2 (16 digits)", 9007199254740994.0, "9007199254740994"},
	{"smallest denormal", 4.9406564584124654e-324, "4.94065645841247e-324"},
	{"DBL_MIN", DBL_MIN, "2.2250738585072014e-308"},
	{"DBL_MAX", DBL_MAX, "1.7976931348623157e+308"},
	{"-DBL_MAX", -DBL_MAX, "-1.7976931348623157e+308"},
	{"NaN", NAN, "\"NaN\""},
	{"negative NaN", -NAN, "\"NaN\""},
	{"Infinity", INFINITY, "\"Infinity\""},
	{"-Infinity", -INFINITY, "\"-Infinity\""},
};

#define NUM_NUMBER_CASES (sizeof(number_cases) / sizeof(number_cases[0]))

/* len bytes for a diagnostic, bytes outside printable ASCII as \xNN. */
static const char *
Shown(char *out, const char *s, size_t len)
{
	size_t		o = 0;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= 0x20 && c < 0x7F)
			out[o++] = (char) c;
		else
			o += (size_t) sprintf(out + o, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

/* Are all CANARY_LEN bytes at p still the canary? */
static int
CanaryIntact(const char *p)
{
	for (int i = 0; i < CANARY_LEN; i++)
		if ((unsigned char) p[i] != CANARY)
			return 0;
	return 1;
}

/*
 * Encode in[0..len) into a buffer of the bound plus a canary; returns the
 * output (caller frees) and its length, after checking the bound.
 */
static char *
EncodeString(const char *in, size_t len, int utf8, size_t *outlen,
			 const char *name)
{
	size_t		bound = JSONENC_STRING_BOUND(len);
	char	   *out = malloc(bound + CANARY_LEN);

	if (out == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	memset(out, CANARY, bound + CANARY_LEN);
	*outlen = JsonEncString(out, (const uint8_t *) in, len, utf8);
	Check(*outlen <= bound && CanaryIntact(out + bound),
		  "%s: output of %zu bytes or writes past the bound of %zu",
		  name, *outlen, bound);
	return out;
}

/* One string case: exact output within the bound. */
static void
TestStringCase(const StringCase *c)
{
	size_t		n;
	char	   *out = EncodeString(c->in, c->len, c->utf8, &n, c->name);
	size_t		wlen = strlen(c->want);
	char		got[512];
	char		want[512];

	Check(n == wlen && memcmp(out, c->want, n) == 0,
		  "%s (utf8=%d): got %s, want %s", c->name, c->utf8,
		  Shown(got, out, n < 100 ? n : 100), Shown(want, c->want, wlen));
	free(out);
}

/*
 * Worst cases: inputs whose every byte takes 6 output bytes fill the bound
 * exactly and never write past it.
 */
static void
TestWorstCase(void)
{
	static const struct
	{
		const char *name;
		unsigned char byte;
		int			utf8;
		const char *each;
	}			worst[] = {
		{"all 0x01", 0x01, 1, "\\u0001"},
		{"all 0x01, non-UTF-8", 0x01, 0, "\\u0001"},
		{"all DEL", 0x7F, 1, "\\u007f"},
		{"all 0x80", 0x80, 1, "\\ufffd"},
		{"all NUL", 0x00, 1, "\\ufffd"},
		{"all 0xFF", 0xFF, 1, "\\ufffd"},
	};
	char	   *in = malloc(WORST_LEN);

	if (in == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	for (size_t w = 0; w < sizeof(worst) / sizeof(worst[0]); w++)
	{
		size_t		n;
		char	   *out;
		int			same = 1;

		memset(in, worst[w].byte, WORST_LEN);
		out = EncodeString(in, WORST_LEN, worst[w].utf8, &n, worst[w].name);
		Check(n == JSONENC_STRING_BOUND(WORST_LEN),
			  "%s: %zu bytes, want exactly the bound %zu", worst[w].name, n,
			  (size_t) JSONENC_STRING_BOUND(WORST_LEN));
		for (size_t i = 0; same && i < WORST_LEN && 1 + 6 * i + 6 < n; i++)
			same = memcmp(out + 1 + 6 * i, worst[w].each, 6) == 0;
		Check(same && n >= 2 && out[0] == '"' && out[n - 1] == '"',
			  "%s: output is not %d times %s, quoted", worst[w].name,
			  WORST_LEN, worst[w].each);
		free(out);
	}
	free(in);
}

/* Significant digits of a JSON number's mantissa. */
static int
SignificantDigits(const char *s, size_t len)
{
	int			count = 0;
	int			seen_nonzero = 0;

	for (size_t i = 0; i < len && s[i] != 'e' && s[i] != 'E'; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			continue;
		if (s[i] != '0')
			seen_nonzero = 1;
		if (seen_nonzero)
			count++;
	}
	return count;
}

/* Bits of a double, to compare -0.0 and 0.0 apart. */
static uint64_t
DoubleBits(double v)
{
	uint64_t	b;

	memcpy(&b, &v, sizeof(b));
	return b;
}

/*
 * Encode v into a buffer of the bound plus a canary and NUL-terminate the
 * result in text (room for JSONENC_NUMBER_BOUND + 1); returns the length,
 * or SIZE_MAX (after a diagnostic) when the bound is not kept.
 */
static size_t
EncodeNumber(double v, char *text, int *bound_ok)
{
	char		buf[JSONENC_NUMBER_BOUND + CANARY_LEN];
	size_t		n;

	memset(buf, CANARY, sizeof(buf));
	n = JsonEncNumber(buf, v);
	*bound_ok = n <= JSONENC_NUMBER_BOUND &&
		CanaryIntact(buf + JSONENC_NUMBER_BOUND);
	if (n > JSONENC_NUMBER_BOUND)
		n = JSONENC_NUMBER_BOUND;
	memcpy(text, buf, n);
	text[n] = '\0';
	return n;
}

/* One number case: exact output; finite ones read back to the same bits. */
static void
TestNumberCase(const NumberCase *c)
{
	char		text[JSONENC_NUMBER_BOUND + 1];
	int			bound_ok;
	size_t		n = EncodeNumber(c->v, text, &bound_ok);

	Check(bound_ok, "%s: writes past JSONENC_NUMBER_BOUND", c->name);
	Check(strcmp(text, c->want) == 0, "%s: got %s, want %s", c->name, text,
		  c->want);
	if (isfinite(c->v))
	{
		char	   *end;
		double		back = strtod(text, &end);

		Check(end == text + n && DoubleBits(back) == DoubleBits(c->v),
			  "%s: %s does not read back to the same bits", c->name, text);
		Check(SignificantDigits(text, n) <= 17,
			  "%s: %s has more than 17 significant digits", c->name, text);
	}
}

/* Next value of a xorshift64* generator. */
static uint64_t
NextRandom(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * UINT64_C(2685821657736338717);
}

/*
 * Random bit patterns (every exponent, denormals included): a finite
 * double reads back to the same bits, with at most 17 significant digits,
 * and with 16 or 17 only when %.15g or %.16g would not read back.
 */
static void
TestNumberRandom(void)
{
	uint64_t	state = UINT64_C(0x9E3779B97F4A7C15);
	int			bad = 0;

	for (int i = 0; i < RANDOM_DOUBLES; i++)
	{
		uint64_t	bits = NextRandom(&state);
		double		v;
		char		text[JSONENC_NUMBER_BOUND + 1];
		char	   *end;
		int			bound_ok;
		int			digits;
		size_t		n;
		double		back;
		int			ok;

		memcpy(&v, &bits, sizeof(v));
		if (!isfinite(v))
			continue;
		n = EncodeNumber(v, text, &bound_ok);
		back = strtod(text, &end);
		digits = SignificantDigits(text, n);
		ok = bound_ok && end == text + n && DoubleBits(back) == bits &&
			digits <= 17;
		if (ok && digits > 15)
		{
			char		shorter[64];

			snprintf(shorter, sizeof(shorter), "%.*g", digits - 1, v);
			ok = strtod(shorter, NULL) != v;
		}
		if (!ok && ++bad <= MAX_REPORTS)
			printf("  mismatch: bits %016" PRIx64 " -> %s\n", bits, text);
	}
	Check(bad == 0, "%d random doubles read back exactly, shortest first",
		  RANDOM_DOUBLES);
}

/* Run every test and print the summary line. */
int
main(void)
{
	for (size_t i = 0; i < NUM_STRING_CASES; i++)
		TestStringCase(&string_cases[i]);
	TestWorstCase();
	for (size_t i = 0; i < NUM_NUMBER_CASES; i++)
		TestNumberCase(&number_cases[i]);
	TestNumberRandom();

	return UnitReport();
}
