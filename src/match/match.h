/*-------------------------------------------------------------------------
 *
 * match.h
 *		The match layer: probes, the distance operators, verify, iris
 *		codes and identify.  Calls audit/ and below; never lifecycle/.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_MATCH_H
#define BIOCRYPT_MATCH_H

/* compare.c: its settings (biocrypt.on_expired, min_common_bits, simd) */
extern void CompareInit(void);

#endif							/* BIOCRYPT_MATCH_H */
