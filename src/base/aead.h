/*-------------------------------------------------------------------------
 *
 * aead.h
 *		Sealing and opening one envelope's payload with libsodium's AEAD.
 *
 * The whole header is the associated data, so any change to a label fails
 * the tag.  C library and libsodium only: the benchmark floors link this
 * same code.  Keys come from the caller (crypto/ in the server).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_AEAD_H
#define BIOCRYPT_AEAD_H

#include <stdint.h>

#include "base/envelope.h"

extern void AeadSeal(const EnvelopeHeader *hdr, uint8_t *env,
					 const uint8_t *plain, const uint8_t *key);
extern int	AeadOpen(const EnvelopeHeader *hdr, const uint8_t *env,
					 const uint8_t *key, const void *aes_state, uint8_t *dst);

#endif							/* BIOCRYPT_AEAD_H */
