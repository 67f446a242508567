/*
 * aead_bench.c
 *		Time libsodium AES-256-GCM against XChaCha20-Poly1305 on template-sized
 *		messages, to choose the envelope cipher (see docs/format.md).
 *
 * Build: make test/bench/aead_bench (from the top of the tree; it defines
 *        WITH_OPENSSL and links -lcrypto, timing OpenSSL's AES-256-GCM too,
 *        when pkg-config finds libcrypto)
 * Usage: aead_bench [bytes] [iterations]
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef WITH_OPENSSL
#include <openssl/evp.h>
#include "benchclock.h"
#endif

typedef int (*EncryptFn) (unsigned char *, unsigned long long *,
						  const unsigned char *, unsigned long long,
						  const unsigned char *, unsigned long long,
						  const unsigned char *, const unsigned char *,
						  const unsigned char *);
typedef int (*DecryptFn) (unsigned char *, unsigned long long *,
						  unsigned char *,
						  const unsigned char *, unsigned long long,
						  const unsigned char *, unsigned long long,
						  const unsigned char *, const unsigned char *);

/* Median of five timed passes of encrypt or decrypt, in ns per message. */
static void
TimeCipher(const char *name, EncryptFn enc, DecryptFn dec, size_t len,
		   long iters)
{
	unsigned char key[32], nonce[24], ad[96];
	unsigned char *msg = malloc(len), *ct = malloc(len + 16), *out = malloc(len);
	unsigned long long ctlen, outlen;
	double encns[5], decns[5];

	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(ad, sizeof(ad));
	randombytes_buf(msg, len);
	for (int pass = 0; pass < 5; pass++)
	{
		double		t0 = NowNs();

		for (long i = 0; i < iters; i++)
			enc(ct, &ctlen, msg, len, ad, sizeof(ad), NULL, nonce, key);
		encns[pass] = (NowNs() - t0) / iters;
		t0 = NowNs();
		for (long i = 0; i < iters; i++)
			if (dec(out, &outlen, NULL, ct, ctlen, ad, sizeof(ad), nonce, key) != 0)
				abort();
		decns[pass] = (NowNs() - t0) / iters;
	}
	/* insertion sort, then take the middle pass */
	for (int i = 1; i < 5; i++)
		for (int j = i; j > 0 && encns[j] < encns[j - 1]; j--)
		{
			double		t = encns[j];

			encns[j] = encns[j - 1];
			encns[j - 1] = t;
		}
	for (int i = 1; i < 5; i++)
		for (int j = i; j > 0 && decns[j] < decns[j - 1]; j--)
		{
			double		t = decns[j];

			decns[j] = decns[j - 1];
			decns[j - 1] = t;
		}
	printf("%-22s %6zu B  encrypt %8.1f ns (%5.2f GB/s)  decrypt %8.1f ns (%5.2f GB/s)\n",
		   name, len, encns[2], len / encns[2], decns[2], len / decns[2]);
	free(msg);
	free(ct);
	free(out);
}

/*
 * libsodium AES-256-GCM with the expanded key precomputed once
 * (crypto_aead_aes256gcm_beforenm), as a per-key cache would hold it.
 */
static int
SodiumAfternmDecrypt(unsigned char *out, unsigned long long *outlen,
					 unsigned char *nsec, const unsigned char *ct,
					 unsigned long long ctlen, const unsigned char *ad,
					 unsigned long long adlen, const unsigned char *nonce,
					 const unsigned char *key)
{
	static crypto_aead_aes256gcm_state *state;

	if (state == NULL)
	{
		state = sodium_malloc(sizeof(*state));
		crypto_aead_aes256gcm_beforenm(state, key);
	}
	return crypto_aead_aes256gcm_decrypt_afternm(out, outlen, nsec, ct, ctlen,
												 ad, adlen, nonce, state);
}

#ifdef WITH_OPENSSL
/*
 * OpenSSL EVP AES-256-GCM decrypt with the same message shape.  The key
 * schedule is set up once (as a per-key context cache would) and only the
 * nonce changes per message.
 */
static int
OpensslDecrypt(unsigned char *out, unsigned long long *outlen,
			   unsigned char *nsec, const unsigned char *ct,
			   unsigned long long ctlen, const unsigned char *ad,
			   unsigned long long adlen, const unsigned char *nonce,
			   const unsigned char *key)
{
	static EVP_CIPHER_CTX *ctx;
	int			len,
				ok;

	(void) nsec;
	if (ctx == NULL)
	{
		ctx = EVP_CIPHER_CTX_new();
		EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL);
	}
	EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce);
	EVP_DecryptUpdate(ctx, NULL, &len, ad, (int) adlen);
	EVP_DecryptUpdate(ctx, out, &len, ct, (int) ctlen - 16);
	EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *) (ct + ctlen - 16));
	ok = EVP_DecryptFinal_ex(ctx, out + len, &len);
	*outlen = ctlen - 16;
	return ok > 0 ? 0 : -1;
}
#endif

int
main(int argc, char **argv)
{
	size_t		len = argc > 1 ? (size_t) atol(argv[1]) : 2048;
	long		iters = argc > 2 ? atol(argv[2]) : 200000;

	if (sodium_init() < 0)
		return 1;
	printf("libsodium %s, AES-256-GCM hardware support: %s\n",
		   sodium_version_string(),
		   crypto_aead_aes256gcm_is_available() ? "yes" : "no");
	if (crypto_aead_aes256gcm_is_available())
		TimeCipher("AES-256-GCM", crypto_aead_aes256gcm_encrypt,
				   crypto_aead_aes256gcm_decrypt, len, iters);
	if (crypto_aead_aes256gcm_is_available())
		TimeCipher("AES-256-GCM (afternm)", crypto_aead_aes256gcm_encrypt,
				   SodiumAfternmDecrypt, len, iters);
#ifdef WITH_OPENSSL
	if (crypto_aead_aes256gcm_is_available())
		TimeCipher("AES-256-GCM (OpenSSL)", crypto_aead_aes256gcm_encrypt,
				   OpensslDecrypt, len, iters);
#endif
	TimeCipher("XChaCha20-Poly1305", crypto_aead_xchacha20poly1305_ietf_encrypt,
			   crypto_aead_xchacha20poly1305_ietf_decrypt, len, iters);
	return 0;
}
