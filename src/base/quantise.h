/*-------------------------------------------------------------------------
 *
 * quantise.h
 *		Embeddings to and from a template's payload format (f32, f16, i8).
 *
 * C library only, like envelope.h: the benchmark programs and unit tests
 * link the same code the server runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_QUANTISE_H
#define BIOCRYPT_QUANTISE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/envelope.h"

extern bool QuantiseVector(const EnvelopeHeader *hdr, const float *x,
						   uint8_t *out);
extern void DequantiseVector(const EnvelopeHeader *hdr, const uint8_t *p,
							 float *out);

#endif							/* BIOCRYPT_QUANTISE_H */
