/*-------------------------------------------------------------------------
 *
 * aead.c
 *		Sealing and opening one envelope's payload with libsodium's AEAD.
 *
 *-------------------------------------------------------------------------
 */
#include <sodium.h>

#include "base/aead.h"

/*
 * Draw a fresh nonce and encrypt plain (hdr->payload_len bytes) into env,
 * whose first hdr->header_len bytes already hold the written header.
 */
void
AeadSeal(const EnvelopeHeader *hdr, uint8_t *env, const uint8_t *plain,
		 const uint8_t *key)
{
	uint8_t    *nonce = env + hdr->header_len;
	uint8_t    *out = nonce + hdr->nonce_len;

	randombytes_buf(nonce, hdr->nonce_len);
	if (hdr->cipher == ENVELOPE_CIPHER_AES256GCM)
		crypto_aead_aes256gcm_encrypt(out, NULL, plain, hdr->payload_len,
									  env, hdr->header_len, NULL, nonce, key);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, plain,
												   hdr->payload_len, env,
												   hdr->header_len, NULL,
												   nonce, key);
}

/*
 * Decrypt env's payload into dst (hdr->payload_len bytes).  AES-GCM uses
 * aes_state, the key schedule expanded once, when the caller has one.
 * Returns 0, or -1 when the tag does not verify (dst is then zeroed).
 */
int
AeadOpen(const EnvelopeHeader *hdr, const uint8_t *env, const uint8_t *key,
		 const void *aes_state, uint8_t *dst)
{
	const uint8_t *nonce = env + hdr->header_len;
	const uint8_t *ct = nonce + hdr->nonce_len;
	unsigned long long ctlen = hdr->payload_len + ENVELOPE_TAG_SIZE;
	int			rc;

	if (hdr->cipher == ENVELOPE_CIPHER_AES256GCM && aes_state != NULL)
		rc = crypto_aead_aes256gcm_decrypt_afternm(dst, NULL, NULL, ct, ctlen,
												   env, hdr->header_len, nonce,
												   (const crypto_aead_aes256gcm_state *) aes_state);
	else if (hdr->cipher == ENVELOPE_CIPHER_AES256GCM)
		rc = crypto_aead_aes256gcm_decrypt(dst, NULL, NULL, ct, ctlen,
										   env, hdr->header_len, nonce, key);
	else
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt(dst, NULL, NULL, ct, ctlen,
														env, hdr->header_len,
														nonce, key);
	if (rc != 0)
		sodium_memzero(dst, hdr->payload_len);
	return rc == 0 ? 0 : -1;
}
