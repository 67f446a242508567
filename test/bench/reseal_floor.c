/*
 * reseal_floor.c
 *		Crypto floor of biocrypt.reencrypt() for test/bench/retention.sh:
 *		what moving N templates from one data key to another costs in
 *		the AEAD alone, with no PostgreSQL (no scan, no parse, no UPDATE).
 *
 * Links the extension's own src/base/aead.c and envelope.c and libsodium;
 * built by the Makefile (make test/bench/reseal_floor).  N envelopes
 * (header bytes as associated data, nonce, ciphertext + tag) are sealed
 * under key A, contiguous in memory.  Each timed pass re-seals all of them
 * the way seal.c's ResealTemplate does it, through the same functions:
 * AeadOpen under A into one locked scratch buffer (AES-256-GCM with the
 * key schedule expanded once, as DecryptTemplate passes KeysGetAesState;
 * XChaCha20-Poly1305 with the key), copy the header, AeadSeal under key B
 * (a fresh nonce from randombytes_buf, then encryption with the plain key,
 * as SealTemplate: crypto_aead_aes256gcm_encrypt expands the key per call)
 * into a fresh output arena, zero the scratch.  The header bytes are
 * random and of the given length (no labels are parsed or written).
 *
 * Usage: reseal_floor --n N [--cipher 1|2] [--reps R] [--header 73]
 *                     [--payload 2048]
 *   cipher 1 = AES-256-GCM (12-byte nonce), 2 = XChaCha20-Poly1305 (24)
 * Prints CSV rows "method,rep,ms" on stdout (each the time of one pass over
 * all N templates; R timed passes after one untimed warm-up), notes on
 * stderr.  Methods:
 *   reseal          decrypt + header copy + nonce + encrypt + zero (the floor)
 *   decrypt         the decrypt alone
 *   encrypt         header copy + nonce + encrypt alone
 *   reseal_afternm  reseal with the encryption key schedule precomputed too
 *                   (AES only: a what-if for a cached encryption state)
 *
 * Build: make test/bench/reseal_floor (from the top of the tree)
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/aead.h"
#include "base/envelope.h"
#include "benchclock.h"

#define TAG ENVELOPE_TAG_SIZE

static size_t n = 100000;
static int	cipher = 1;
static int	reps = 5;
static size_t header_len = 73;
static size_t payload_len = 2048;
static size_t nonce_len;
static size_t env_len;
static EnvelopeHeader hdr;		/* the sizes and cipher AeadSeal/AeadOpen use */

static uint8_t key_a[32], key_b[32];
static crypto_aead_aes256gcm_state *state_a, *state_b;
static uint8_t *in_arena, *out_arena, *scratch;

/*
 * Draw a nonce and encrypt plain into env after its header: AeadSeal, as
 * SealTemplate.  With st (the reseal_afternm what-if) AES encrypts with the
 * expanded key instead; aead.c has no such path (the server encrypts with
 * the plain key), so that what-if alone calls libsodium directly.
 */
static void
Encrypt(uint8_t *env, const uint8_t *plain, const uint8_t *key,
		const crypto_aead_aes256gcm_state *st)
{
	if (cipher == ENVELOPE_CIPHER_AES256GCM && st != NULL)
	{
		uint8_t    *nonce = env + header_len;

		randombytes_buf(nonce, nonce_len);
		crypto_aead_aes256gcm_encrypt_afternm(nonce + nonce_len, NULL, plain, payload_len,
											  env, header_len, NULL, nonce, st);
	}
	else
		AeadSeal(&hdr, env, plain, key);
}

/* Decrypt under key A as DecryptTemplate: AeadOpen, the AES state when AES. */
static void
Decrypt(const uint8_t *env, uint8_t *dst)
{
	int			rc;

	if (cipher == ENVELOPE_CIPHER_AES256GCM)
		rc = AeadOpen(&hdr, env, NULL, state_a, dst);
	else
		rc = AeadOpen(&hdr, env, key_a, NULL, dst);
	if (rc != 0)
	{
		fprintf(stderr, "reseal_floor: authentication failed\n");
		exit(1);
	}
}

/* One pass over all N templates; returns ms. */
static double
Pass(const char *method)
{
	int			dec = strcmp(method, "encrypt") != 0;
	int			enc = strcmp(method, "decrypt") != 0;
	const crypto_aead_aes256gcm_state *st = strcmp(method, "reseal_afternm") == 0 ? state_b : NULL;
	double		t0 = NowNs();

	for (size_t i = 0; i < n; i++)
	{
		const uint8_t *src = in_arena + i * env_len;
		uint8_t    *dst = out_arena + i * env_len;

		if (dec)
			Decrypt(src, scratch);
		if (enc)
		{
			memcpy(dst, src, header_len);
			Encrypt(dst, scratch, key_b, st);
		}
		if (dec)
			sodium_memzero(scratch, payload_len);
	}
	return (NowNs() - t0) / 1e6;
}

int
main(int argc, char **argv)
{
	const char *methods[] = {"reseal", "decrypt", "encrypt", "reseal_afternm"};

	for (int i = 1; i + 1 < argc; i += 2)
	{
		if (strcmp(argv[i], "--n") == 0)
			n = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--cipher") == 0)
			cipher = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--reps") == 0)
			reps = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--header") == 0)
			header_len = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--payload") == 0)
			payload_len = strtoul(argv[i + 1], NULL, 10);
		else
		{
			fprintf(stderr, "reseal_floor: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (n == 0 || reps < 1 ||
		(cipher != ENVELOPE_CIPHER_AES256GCM && cipher != ENVELOPE_CIPHER_XCHACHA20) ||
		header_len == 0 || payload_len == 0)
	{
		fprintf(stderr, "reseal_floor: bad arguments\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	if (cipher == ENVELOPE_CIPHER_AES256GCM && !crypto_aead_aes256gcm_is_available())
	{
		fprintf(stderr, "reseal_floor: AES-256-GCM is not available on this CPU\n");
		return 1;
	}
	nonce_len = EnvelopeNonceSize((uint8_t) cipher);
	env_len = header_len + nonce_len + payload_len + TAG;
	hdr.cipher = (uint8_t) cipher;
	hdr.header_len = header_len;
	hdr.nonce_len = nonce_len;
	hdr.payload_len = payload_len;
	hdr.total_len = env_len;

	randombytes_buf(key_a, sizeof(key_a));
	randombytes_buf(key_b, sizeof(key_b));
	state_a = sodium_malloc(sizeof(*state_a));
	state_b = sodium_malloc(sizeof(*state_b));
	if (cipher == 1)
	{
		crypto_aead_aes256gcm_beforenm(state_a, key_a);
		crypto_aead_aes256gcm_beforenm(state_b, key_b);
	}
	in_arena = malloc(env_len * n);
	out_arena = malloc(env_len * n);
	scratch = malloc(payload_len);
	if (in_arena == NULL || out_arena == NULL || scratch == NULL)
	{
		fprintf(stderr, "reseal_floor: out of memory\n");
		return 1;
	}
	if (sodium_mlock(scratch, payload_len) != 0)
		fprintf(stderr, "reseal_floor: could not lock the scratch buffer (continuing)\n");
	/* the N envelopes under key A: random header bytes and plaintexts */
	for (size_t i = 0; i < n; i++)
	{
		uint8_t    *env = in_arena + i * env_len;

		randombytes_buf(env, header_len);
		randombytes_buf(scratch, payload_len);
		Encrypt(env, scratch, key_a, NULL);
	}
	memset(out_arena, 0, env_len * n);	/* fault the output pages in */
	fprintf(stderr, "reseal_floor: libsodium %s, %s, %zu templates of %zu bytes "
			"(header %zu, nonce %zu, payload %zu, tag %d), %d reps\n",
			sodium_version_string(),
			cipher == ENVELOPE_CIPHER_AES256GCM ? "AES-256-GCM" : "XChaCha20-Poly1305",
			n, env_len, header_len, nonce_len, payload_len, TAG, reps);

	for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
	{
		if (cipher != ENVELOPE_CIPHER_AES256GCM && strcmp(methods[m], "reseal_afternm") == 0)
			continue;
		(void) Pass(methods[m]);	/* warm-up */
		for (int r = 1; r <= reps; r++)
			printf("%s,%d,%.3f\n", methods[m], r, Pass(methods[m]));
	}
	sodium_munlock(scratch, payload_len);
	return 0;
}
