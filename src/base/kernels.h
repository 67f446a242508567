/*-------------------------------------------------------------------------
 *
 * kernels.h
 *		Distance kernels over decrypted template payloads.
 *
 * Vector kernels take the probe as float32 and the template in its stored
 * format (f32, f16 or i8 codes; the i8 scale is applied by the caller) and
 * return partial sums.  Bit kernels count differing bits, optionally only
 * where two masks are both set.  Each operation has a portable C version
 * (any CPU, including ARM) and, on x86-64, AVX2 and AVX-512 versions chosen
 * at run time after checking CPUID and the OS's register support.
 *
 * Backend-free, like envelope.c, so unit tests and benchmarks link it alone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_KERNELS_H
#define BIOCRYPT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum KernelPath
{
	KERNEL_PATH_PORTABLE = 0,
	KERNEL_PATH_AVX2,
	KERNEL_PATH_AVX512,
	KERNEL_NUM_PATHS
} KernelPath;

/* Sums over n elements: dot = Σ p·t, tnorm = Σ t², l2 = Σ (p - t)². */
typedef struct KernelOps
{
	float		(*dot_f32) (const float *p, const float *t, size_t n);
	void		(*dot_norm_f32) (const float *p, const float *t, size_t n,
								 float *dot, float *tnorm);
	float		(*l2sq_f32) (const float *p, const float *t, size_t n);
	float		(*dot_f16) (const float *p, const uint16_t *t, size_t n);
	void		(*dot_norm_f16) (const float *p, const uint16_t *t, size_t n,
								 float *dot, float *tnorm);
	float		(*l2sq_f16) (const float *p, const uint16_t *t, size_t n);
	/* i8: t holds codes; l2sq_i8 compares p with scale * t */
	float		(*dot_i8) (const float *p, const int8_t *t, size_t n);
	void		(*dot_norm_i8) (const float *p, const int8_t *t, size_t n,
								float *dot, float *tnorm);
	float		(*l2sq_i8) (const float *p, const int8_t *t, float scale,
							size_t n);
	/* popcount(a ^ b) over n bytes */
	uint64_t	(*hamming) (const uint8_t *a, const uint8_t *b, size_t n);
	/* diff = popcount((a ^ b) & ma & mb), valid = popcount(ma & mb) */
	void		(*masked_hamming) (const uint8_t *a, const uint8_t *ma,
								   const uint8_t *b, const uint8_t *mb,
								   size_t n, uint64_t *diff, uint64_t *valid);
} KernelOps;

/* Metrics over vectors: distances, smaller is closer. */
typedef enum KernelMetric
{
	KERNEL_METRIC_L2 = 0,		/* Euclidean distance */
	KERNEL_METRIC_COSINE,		/* 1 - cosine similarity */
	KERNEL_METRIC_NEG_IP		/* negative inner product */
} KernelMetric;

/* Stored vector element formats (same numbers as the envelope's). */
#define KERNEL_ELEM_F32		1
#define KERNEL_ELEM_F16		2
#define KERNEL_ELEM_I8		3

/* A float32 probe prepared once per statement. */
typedef struct KernelVectorProbe
{
	const float *x;
	size_t		dims;
	double		norm;			/* sqrt(Σ x²), for cosine */
	KernelMetric metric;
} KernelVectorProbe;

/*
 * A bit-code probe prepared once per statement: one code and mask per
 * rotation (masks all ones where the caller gave none).
 */
typedef struct KernelBitsProbe
{
	const uint8_t *const *codes;
	const uint8_t *const *masks;
	int			nshifts;
	size_t		nbytes;
	uint64_t	min_valid;		/* fewer valid bits than this: no distance */
} KernelBitsProbe;

extern double KernelVectorDistance(const KernelVectorProbe *probe, int elem,
								   const uint8_t *payload);
extern void KernelVectorDistances(const KernelVectorProbe *probe, int elem,
								  const uint8_t *const *payloads, size_t count,
								  double *out);
extern double KernelBitsDistance(const KernelBitsProbe *probe,
								 const uint8_t *code, const uint8_t *mask);
extern void KernelBitsDistances(const KernelBitsProbe *probe,
								const uint8_t *const *codes,
								const uint8_t *const *masks, size_t count,
								double *out);
extern double KernelHammingFraction(const uint8_t *a, const uint8_t *b,
									size_t nbytes);

/* The operations in use; starts on the portable path. */
extern const KernelOps *kernel_ops;

extern int	KernelPathSupported(KernelPath path);
extern KernelPath KernelBestPath(void);
extern int	KernelUsePath(KernelPath path);
extern KernelPath KernelCurrentPath(void);
extern const char *KernelPathName(KernelPath path);
extern const KernelOps *KernelOpsFor(KernelPath path);

#endif							/* BIOCRYPT_KERNELS_H */
