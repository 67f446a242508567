/*
 * reseal_floor.c
 *		Crypto floor of biocrypt.reencrypt() for test/bench/retention.sh:
 *		what moving N templates from one data key to another costs in
 *		libsodium alone, with no PostgreSQL (no scan, no parse, no UPDATE).
 *
 * N envelopes (header bytes as associated data, nonce, ciphertext + tag)
 * are sealed under key A, contiguous in memory.  Each timed pass re-seals
 * all of them the way seal.c's ResealTemplate does it: decrypt under A
 * into one locked scratch buffer (AES-256-GCM with the key schedule
 * precomputed, crypto_aead_aes256gcm_decrypt_afternm, as DecryptTemplate;
 * XChaCha20-Poly1305 with the plain key), copy the header, draw a fresh
 * nonce with randombytes_buf, encrypt under key B with the plain key (as
 * SealTemplate: crypto_aead_aes256gcm_encrypt expands the key per call)
 * into a fresh output arena, zero the scratch.
 *
 * Usage: reseal_floor --n N [--cipher 1|2] [--reps R] [--header 73]
 *                     [--payload 2048]
 *   cipher 1 = AES-256-GCM (12-byte nonce), 2 = XChaCha20-Poly1305 (24)
 * Prints CSV rows "method,rep,ms" on stdout (each the time of one pass over
 * all N templates; R timed passes after one untimed warm-up), notes on
 * stderr.  Methods:
 *   reseal          decrypt + header copy + nonce + encrypt + zero (the floor)
 *   decrypt         the decrypt alone
 *   encrypt         nonce + encrypt alone
 *   reseal_afternm  reseal with the encryption key schedule precomputed too
 *                   (AES only: a what-if for a cached encryption state)
 *
 * Build: cc -O2 -o reseal_floor reseal_floor.c -lsodium
 */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAG 16

static size_t n = 100000;
static int	cipher = 1;
static int	reps = 5;
static size_t header_len = 73;
static size_t payload_len = 2048;
static size_t nonce_len;
static size_t env_len;

static uint8_t key_a[32], key_b[32];
static crypto_aead_aes256gcm_state *state_a, *state_b;
static uint8_t *in_arena, *out_arena, *scratch;

static double
NowMs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
Encrypt(uint8_t *env, const uint8_t *plain, const uint8_t *key,
		const crypto_aead_aes256gcm_state *st)
{
	uint8_t    *nonce = env + header_len;

	if (cipher == 1 && st != NULL)
		crypto_aead_aes256gcm_encrypt_afternm(nonce + nonce_len, NULL, plain, payload_len,
											  env, header_len, NULL, nonce, st);
	else if (cipher == 1)
		crypto_aead_aes256gcm_encrypt(nonce + nonce_len, NULL, plain, payload_len,
									  env, header_len, NULL, nonce, key);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + nonce_len, NULL, plain,
												   payload_len, env, header_len,
												   NULL, nonce, key);
}

static void
Decrypt(const uint8_t *env, uint8_t *dst)
{
	const uint8_t *nonce = env + header_len;
	int			rc;

	if (cipher == 1)
		rc = crypto_aead_aes256gcm_decrypt_afternm(dst, NULL, NULL, nonce + nonce_len,
												   payload_len + TAG, env, header_len,
												   nonce, state_a);
	else
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt(dst, NULL, NULL, nonce + nonce_len,
														payload_len + TAG, env,
														header_len, nonce, key_a);
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
	double		t0 = NowMs();

	for (size_t i = 0; i < n; i++)
	{
		const uint8_t *src = in_arena + i * env_len;
		uint8_t    *dst = out_arena + i * env_len;

		if (dec)
			Decrypt(src, scratch);
		if (enc)
		{
			memcpy(dst, src, header_len);
			randombytes_buf(dst + header_len, nonce_len);
			Encrypt(dst, scratch, key_b, st);
		}
		if (dec)
			sodium_memzero(scratch, payload_len);
	}
	return NowMs() - t0;
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
	if (n == 0 || reps < 1 || (cipher != 1 && cipher != 2) || header_len == 0 || payload_len == 0)
	{
		fprintf(stderr, "reseal_floor: bad arguments\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	if (cipher == 1 && !crypto_aead_aes256gcm_is_available())
	{
		fprintf(stderr, "reseal_floor: AES-256-GCM is not available on this CPU\n");
		return 1;
	}
	nonce_len = cipher == 1 ? crypto_aead_aes256gcm_NPUBBYTES
		: crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	env_len = header_len + nonce_len + payload_len + TAG;

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

		randombytes_buf(env, header_len + nonce_len);
		randombytes_buf(scratch, payload_len);
		Encrypt(env, scratch, key_a, NULL);
	}
	memset(out_arena, 0, env_len * n);	/* fault the output pages in */
	fprintf(stderr, "reseal_floor: libsodium %s, %s, %zu templates of %zu bytes "
			"(header %zu, nonce %zu, payload %zu, tag %d), %d reps\n",
			sodium_version_string(), cipher == 1 ? "AES-256-GCM" : "XChaCha20-Poly1305",
			n, env_len, header_len, nonce_len, payload_len, TAG, reps);

	for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
	{
		if (cipher != 1 && strcmp(methods[m], "reseal_afternm") == 0)
			continue;
		(void) Pass(methods[m]);	/* warm-up */
		for (int r = 1; r <= reps; r++)
			printf("%s,%d,%.3f\n", methods[m], r, Pass(methods[m]));
	}
	sodium_munlock(scratch, payload_len);
	return 0;
}
