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

/* galscore.c: how the gallery layer turns a probe blob into a kernel */
extern void GalleryScoreInit(void);

/* disclosure.c: score rounding and budgets, their shared memory */
extern void DisclosureInit(void);
extern void DisclosureShmemRequest(void);
extern void DisclosureShmemStartup(void);

#endif							/* BIOCRYPT_MATCH_H */
