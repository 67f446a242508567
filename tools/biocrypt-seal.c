/*-------------------------------------------------------------------------
 *
 * biocrypt-seal.c
 *		Seal an embedding or a bit code to a biocrypt server's public key.
 *
 * Reads the server's X25519 public key (biocrypt.public_key(), as hex or
 * base64, from --key or --key-file) and one probe from stdin: a vector
 * ("[0.1,0.2,...]" or floats separated by whitespace or commas), or with
 * --bits a bit code in hex (and, with --mask, its mask in hex).  Prints the
 * sealed box (crypto_box_seal of the message docs/format.md describes) in
 * base64, or in hex with --hex.  The plaintext is held in locked memory
 * and zeroed before exit.  Links libsodium and base/sealedmsg.c only.
 *
 *-------------------------------------------------------------------------
 */
#include "base/sealedmsg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define SEAL_MAX_INPUT	(1 << 20)	/* a 16000-float vector as text fits easily */

static const char *usage =
"Usage: biocrypt-seal (--key KEY | --key-file FILE) [--bits [--mask HEX]] [--hex]\n"
"\n"
"Seal a probe read from stdin to a biocrypt server's public key, for the\n"
"sealed_probe forms of protect, protect_bits, verify, identify and the\n"
"operators.  Get the key with: SELECT encode(biocrypt.public_key(), 'hex');\n"
"\n"
"  --key KEY        the server's public key, 64 hex digits or base64\n"
"  --key-file FILE  read the key from FILE instead\n"
"  --bits           stdin holds a bit code in hex (else a float vector:\n"
"                   [0.1,0.2,...] or floats separated by spaces or commas)\n"
"  --mask HEX       with --bits: the code's mask, as long as the code\n"
"  --hex            print the box in hex (default: base64)\n"
"  --raw            stdin holds a whole message in hex, sealed unchecked\n"
"                   (to test the server's checks of malformed messages)\n"
"  --help           show this help\n"
"\n"
"Prints the sealed box on stdout; exits 1 on bad input, 2 on bad usage.\n";

/* Print a message and exit with status. */
static void
Die(int status, const char *fmt, const char *arg)
{
	fprintf(stderr, "biocrypt-seal: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(status);
}

/* Trim surrounding whitespace in place; returns the start. */
static char *
Trim(char *s)
{
	size_t		n = strlen(s);

	while (n > 0 && isspace((unsigned char) s[n - 1]))
		s[--n] = '\0';
	while (isspace((unsigned char) *s))
		s++;
	return s;
}

/* Decode the public key from 64 hex digits or base64 of 32 bytes. */
static void
ParseKey(char *text, uint8_t *pk)
{
	size_t		len = 0;
	const char *end = NULL;
	char	   *s = Trim(text);

	if (strlen(s) == 2 * crypto_box_PUBLICKEYBYTES &&
		sodium_hex2bin(pk, crypto_box_PUBLICKEYBYTES, s, strlen(s), NULL,
					   &len, &end) == 0 && len == crypto_box_PUBLICKEYBYTES &&
		*end == '\0')
		return;
	if (sodium_base642bin(pk, crypto_box_PUBLICKEYBYTES, s, strlen(s), NULL,
						  &len, &end, sodium_base64_VARIANT_ORIGINAL) == 0 &&
		len == crypto_box_PUBLICKEYBYTES && *end == '\0')
		return;
	Die(2, "%s", "the key must be 32 bytes as 64 hex digits or base64 (biocrypt.public_key())");
}

/* Read a whole stream into a NUL-terminated locked buffer. */
static char *
ReadAll(FILE *f, size_t *lenp)
{
	char	   *buf = sodium_malloc(SEAL_MAX_INPUT + 1);
	size_t		len;

	if (buf == NULL)
		Die(1, "%s", "out of memory");
	len = fread(buf, 1, SEAL_MAX_INPUT + 1, f);
	if (ferror(f))
		Die(1, "%s", "could not read the input");
	if (len > SEAL_MAX_INPUT)
		Die(1, "%s", "input is longer than 1 MiB");
	buf[len] = '\0';
	if (strlen(buf) != len)
		Die(1, "%s", "input contains a NUL byte");
	*lenp = len;
	return buf;
}

/* Read the key file given with --key-file. */
static void
ReadKeyFile(const char *path, uint8_t *pk)
{
	FILE	   *f = fopen(path, "r");
	char		text[256];
	size_t		n;

	if (f == NULL)
		Die(2, "could not open the key file \"%s\"", path);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	ParseKey(text, pk);
}

/* Store a float as 4 little-endian bytes. */
static void
PutFloatLE(uint8_t *p, float f)
{
	uint32_t	bits;

	memcpy(&bits, &f, sizeof(bits));
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (bits >> (8 * i));
}

/* Parse a vector: optional [ ], floats separated by commas or whitespace. */
static size_t
ParseVector(char *text, uint8_t *msg)
{
	char	   *s = Trim(text);
	size_t		n = 0;
	size_t		len = strlen(s);

	if (len > 0 && s[0] == '[')
	{
		if (s[len - 1] != ']')
			Die(1, "%s", "a vector that starts with [ must end with ]");
		s[len - 1] = '\0';
		s++;
	}
	for (;;)
	{
		char	   *end;
		float		f;

		while (isspace((unsigned char) *s))
			s++;
		if (*s == '\0')
			break;
		if (n == ENVELOPE_MAX_DIMS)
			Die(1, "a vector has at most %s dimensions", "16000");
		errno = 0;
		f = strtof(s, &end);
		if (end == s || errno == ERANGE || !isfinite(f))
			Die(1, "%s", "the vector must hold finite floats separated by commas or whitespace");
		PutFloatLE(msg + SEALEDMSG_HEADER_SIZE + 4 * n, f);
		n++;
		s = end;
		while (isspace((unsigned char) *s))
			s++;
		if (*s == ',')
		{
			s++;
			while (isspace((unsigned char) *s))
				s++;
			if (*s == '\0' || *s == ',')
				Die(1, "%s", "empty element in the vector");
		}
		else if (*s != '\0' && !isdigit((unsigned char) *s) &&
				 *s != '-' && *s != '+' && *s != '.')
			Die(1, "%s", "the vector must hold finite floats separated by commas or whitespace");
	}
	if (n == 0)
		Die(1, "%s", "the vector is empty");
	return SealedMsgWriteHeader(msg, SEALEDMSG_KIND_VECTOR, 0, (uint32_t) n);
}

/* Decode hex (whitespace allowed, optional \x) into dst; returns bytes. */
static size_t
ParseHex(char *text, uint8_t *dst, size_t max, const char *what)
{
	char	   *s = Trim(text);
	size_t		len = 0;
	const char *end = NULL;

	if (s[0] == '\\' && s[1] == 'x')
		s += 2;
	if (sodium_hex2bin(dst, max, s, strlen(s), " \t\r\n", &len, &end) != 0 ||
		*end != '\0')
		Die(1, "the %s must be hexadecimal digits, within the server's limits", what);
	if (len == 0)
		Die(1, "the %s is empty", what);
	return len;
}

/* Parse a bit code and optional mask into msg. */
static size_t
ParseBits(char *text, char *mask, uint8_t *msg)
{
	uint8_t    *code = msg + SEALEDMSG_HEADER_SIZE;
	size_t		n = ParseHex(text, code, ENVELOPE_MAX_BITS / 8, "code");

	if (mask != NULL)
	{
		size_t		m = ParseHex(mask, code + n, ENVELOPE_MAX_BITS / 8, "mask");

		if (m != n)
			Die(1, "%s", "the mask must be as long as the code");
	}
	return SealedMsgWriteHeader(msg, SEALEDMSG_KIND_BITS,
								mask ? SEALEDMSG_FLAG_MASK : 0, (uint32_t) n);
}

/* Print the box in base64 or hex, with a newline. */
static void
PrintBox(const uint8_t *box, size_t len, int hex)
{
	size_t		outlen = hex ? 2 * len + 1 :
		sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char	   *out = malloc(outlen);

	if (out == NULL)
		Die(1, "%s", "out of memory");
	if (hex)
		sodium_bin2hex(out, outlen, box, len);
	else
		sodium_bin2base64(out, outlen, box, len, sodium_base64_VARIANT_ORIGINAL);
	if (printf("%s\n", out) < 0 || fflush(stdout) != 0)
		Die(1, "%s", "could not write the output");
	free(out);
}

int
main(int argc, char **argv)
{
	uint8_t		pk[crypto_box_PUBLICKEYBYTES];
	int			have_key = 0,
				bits = 0,
				raw = 0,
				hex = 0;
	char	   *mask = NULL;
	char	   *input;
	size_t		inlen;
	uint8_t    *msg;
	uint8_t    *box;
	size_t		msglen;

	if (sodium_init() < 0)
		Die(1, "%s", "libsodium could not be initialised");
	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
		{
			fputs(usage, stdout);
			return 0;
		}
		else if (strcmp(a, "--key") == 0 && i + 1 < argc)
			ParseKey(argv[++i], pk), have_key = 1;
		else if (strcmp(a, "--key-file") == 0 && i + 1 < argc)
			ReadKeyFile(argv[++i], pk), have_key = 1;
		else if (strcmp(a, "--mask") == 0 && i + 1 < argc)
			mask = argv[++i];
		else if (strcmp(a, "--bits") == 0)
			bits = 1;
		else if (strcmp(a, "--hex") == 0)
			hex = 1;
		else if (strcmp(a, "--raw") == 0)
			raw = 1;
		else
			Die(2, "unknown or incomplete option \"%s\" (see --help)", a);
	}
	if (!have_key)
		Die(2, "%s", "give the server's public key with --key or --key-file (see --help)");
	if (mask != NULL && !bits)
		Die(2, "%s", "--mask goes with --bits");
	input = ReadAll(stdin, &inlen);
	msg = sodium_malloc(SEALEDMSG_MAX_SIZE);
	if (msg == NULL)
		Die(1, "%s", "out of memory");
	if (raw && (bits || mask != NULL))
		Die(2, "%s", "--raw takes neither --bits nor --mask");
	if (raw)
		msglen = ParseHex(input, msg, SEALEDMSG_MAX_SIZE, "message");
	else if (bits)
		msglen = ParseBits(input, mask, msg);
	else
		msglen = ParseVector(input, msg);
	if (msglen == 0)
		Die(1, "%s", "the probe is outside the server's limits");
	box = malloc(msglen + crypto_box_SEALBYTES);
	if (box == NULL)
		Die(1, "%s", "out of memory");
	if (crypto_box_seal(box, msg, msglen, pk) != 0)
		Die(1, "%s", "sealing failed");
	sodium_free(msg);			/* zeroes the plaintext */
	sodium_free(input);
	if (mask != NULL)
		sodium_memzero(mask, strlen(mask));
	PrintBox(box, msglen + crypto_box_SEALBYTES, hex);
	free(box);
	return 0;
}
