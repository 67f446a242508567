/*-------------------------------------------------------------------------
 *
 * kernels.c
 *		Distance kernels with run-time CPU dispatch.
 *
 * kernel_ops starts on the portable C path, which any compiler and CPU
 * (ARM included) builds.  On x86-64, kernels_x86.c holds AVX2+FMA+F16C and
 * AVX-512 versions, switched in only after CPUID and XGETBV checks.  This
 * file holds the portable operations, the dispatch, and the distances and
 * batch entry points built on whichever operation table is in use.
 *
 * Summation order differs between paths: results agree to float rounding,
 * which the unit tests bound.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "base/kernelbody.h"

/* Portable wrappers, one per operation. */
static float
DotF32Portable(const float *p, const float *t, size_t n)
{
	float		s1, s2;

	SumsPortable(p, t, n, ELEM_F32, SUM_DOT, 1, &s1, &s2);
	return s1;
}

static void
DotNormF32Portable(const float *p, const float *t, size_t n, float *dot, float *tnorm)
{
	SumsPortable(p, t, n, ELEM_F32, SUM_DOT_NORM, 1, dot, tnorm);
}

static float
L2SqF32Portable(const float *p, const float *t, size_t n)
{
	float		s1, s2;

	SumsPortable(p, t, n, ELEM_F32, SUM_L2, 1, &s1, &s2);
	return s1;
}

static float
DotF16Portable(const float *p, const uint16_t *t, size_t n)
{
	float		s1, s2;

	SumsPortable(p, t, n, ELEM_F16, SUM_DOT, 1, &s1, &s2);
	return s1;
}

static void
DotNormF16Portable(const float *p, const uint16_t *t, size_t n, float *dot, float *tnorm)
{
	SumsPortable(p, t, n, ELEM_F16, SUM_DOT_NORM, 1, dot, tnorm);
}

static float
L2SqF16Portable(const float *p, const uint16_t *t, size_t n)
{
	float		s1, s2;

	SumsPortable(p, t, n, ELEM_F16, SUM_L2, 1, &s1, &s2);
	return s1;
}

static float
DotI8Portable(const float *p, const int8_t *t, size_t n)
{
	float		s1, s2;

	SumsPortable(p, t, n, ELEM_I8, SUM_DOT, 1, &s1, &s2);
	return s1;
}

static void
DotNormI8Portable(const float *p, const int8_t *t, size_t n, float *dot, float *tnorm)
{
	SumsPortable(p, t, n, ELEM_I8, SUM_DOT_NORM, 1, dot, tnorm);
}

static float
L2SqI8Portable(const float *p, const int8_t *t, float scale, size_t n)
{
	float		s1, s2;

	SumsPortable(p, t, n, ELEM_I8, SUM_L2, scale, &s1, &s2);
	return s1;
}

static uint64_t
HammingPortable(const uint8_t *a, const uint8_t *b, size_t n)
{
	return HammingBody(a, b, n);
}

static void
MaskedHammingPortable(const uint8_t *a, const uint8_t *ma, const uint8_t *b,
					  const uint8_t *mb, size_t n, uint64_t *diff, uint64_t *valid)
{
	MaskedHammingBody(a, ma, b, mb, n, diff, valid);
}

KernelOps	kernel_ops_portable = {
	DotF32Portable, DotNormF32Portable, L2SqF32Portable,
	DotF16Portable, DotNormF16Portable, L2SqF16Portable,
	DotI8Portable, DotNormI8Portable, L2SqI8Portable,
	HammingPortable, MaskedHammingPortable
};



const KernelOps *kernel_ops = &kernel_ops_portable;
static KernelPath kernel_path = KERNEL_PATH_PORTABLE;

/* Can this CPU run a path? */
int
KernelPathSupported(KernelPath path)
{
#ifdef KERNELS_X86
	int			vpop;
	int			level = KernelX86Level(&vpop);

	return path == KERNEL_PATH_PORTABLE ||
		(path == KERNEL_PATH_AVX2 && level >= 1) ||
		(path == KERNEL_PATH_AVX512 && level >= 2);
#else
	return path == KERNEL_PATH_PORTABLE;
#endif
}

/* The fastest path this CPU supports. */
KernelPath
KernelBestPath(void)
{
	/* cppcheck-suppress knownConditionTrueFalse ; false only off x86 */
	if (KernelPathSupported(KERNEL_PATH_AVX512))
		return KERNEL_PATH_AVX512;
	/* cppcheck-suppress knownConditionTrueFalse ; false only off x86 */
	if (KernelPathSupported(KERNEL_PATH_AVX2))
		return KERNEL_PATH_AVX2;
	return KERNEL_PATH_PORTABLE;
}

/* The operation table of a supported path (NULL if unsupported). */
const KernelOps *
KernelOpsFor(KernelPath path)
{
	if (!KernelPathSupported(path))
		return NULL;
#ifdef KERNELS_X86
	if (path != KERNEL_PATH_PORTABLE)
		return KernelX86Ops(path);
#endif
	return &kernel_ops_portable;
}

/* Switch to a path; returns 0 (and changes nothing) if unsupported. */
int
KernelUsePath(KernelPath path)
{
	const KernelOps *ops = KernelOpsFor(path);

	if (ops == NULL)
		return 0;
	kernel_ops = ops;
	kernel_path = path;
	return 1;
}

/* The path in use. */
KernelPath
KernelCurrentPath(void)
{
	return kernel_path;
}

/* Name of a path, as biocrypt.simd spells it. */
const char *
KernelPathName(KernelPath path)
{
	switch (path)
	{
		case KERNEL_PATH_AVX512:
			return "avx512";
		case KERNEL_PATH_AVX2:
			return "avx2";
		default:
			return "portable";
	}
}

/* ---------------------------------------------------------------------
 * Distances and batch entry points
 * --------------------------------------------------------------------- */

/* Cosine distance from partial sums; NaN when either vector is zero. */
static double
CosineDistance(double dot, double pnorm, double tnorm_sq)
{
	double		sim;

	if (pnorm == 0 || tnorm_sq == 0)
		return NAN;
	sim = dot / (pnorm * sqrt(tnorm_sq));
	/* rounding can push the similarity just outside [-1, 1] */
	if (sim > 1)
		sim = 1;
	else if (sim < -1)
		sim = -1;
	return 1 - sim;
}

/* Distance between a probe and one decrypted vector payload. */
double
KernelVectorDistance(const KernelVectorProbe *probe, int elem,
					 const uint8_t *bytes)
{
	const KernelOps *ops = kernel_ops;
	size_t		n = probe->dims;
	float		dot = 0,
				tnorm = 0,
				scale = 1;
	const void *payload = bytes;

	if (elem == KERNEL_ELEM_I8)
	{
		/* a float32 scale, then the codes */
		memcpy(&scale, bytes, sizeof(scale));
		payload = bytes + sizeof(scale);
	}
	switch (probe->metric)
	{
		case KERNEL_METRIC_L2:
			if (elem == KERNEL_ELEM_F32)
				return sqrt(ops->l2sq_f32(probe->x, (const float *) payload, n));
			if (elem == KERNEL_ELEM_F16)
				return sqrt(ops->l2sq_f16(probe->x, (const uint16_t *) payload, n));
			return sqrt(ops->l2sq_i8(probe->x, (const int8_t *) payload, scale, n));
		case KERNEL_METRIC_NEG_IP:
			if (elem == KERNEL_ELEM_F32)
				return -(double) ops->dot_f32(probe->x, (const float *) payload, n);
			if (elem == KERNEL_ELEM_F16)
				return -(double) ops->dot_f16(probe->x, (const uint16_t *) payload, n);
			return -(double) scale * ops->dot_i8(probe->x, (const int8_t *) payload, n);
		default:
			/* the i8 scale cancels out of the cosine */
			if (elem == KERNEL_ELEM_F32)
				ops->dot_norm_f32(probe->x, (const float *) payload, n, &dot, &tnorm);
			else if (elem == KERNEL_ELEM_F16)
				ops->dot_norm_f16(probe->x, (const uint16_t *) payload, n, &dot, &tnorm);
			else
			{
				ops->dot_norm_i8(probe->x, (const int8_t *) payload, n, &dot, &tnorm);
				if (scale == 0)
					tnorm = 0;
			}
			return CosineDistance(dot, probe->norm, tnorm);
	}
}

/* One probe against count payloads of one format (identify's batches). */
void
KernelVectorDistances(const KernelVectorProbe *probe, int elem,
					  const uint8_t *const *payloads, size_t count, double *out)
{
	for (size_t i = 0; i < count; i++)
		out[i] = KernelVectorDistance(probe, elem, payloads[i]);
}

/*
 * Masked fractional Hamming distance minimised over the probe's rotations;
 * NaN when no rotation has probe->min_valid bits valid in both masks.
 */
double
KernelBitsDistance(const KernelBitsProbe *probe, const uint8_t *code,
				   const uint8_t *mask)
{
	double		best = NAN;

	for (int s = 0; s < probe->nshifts; s++)
	{
		uint64_t	diff,
					valid;
		double		d;

		kernel_ops->masked_hamming(probe->codes[s], probe->masks[s], code, mask,
								   probe->nbytes, &diff, &valid);
		if (valid == 0 || valid < probe->min_valid)
			continue;
		d = (double) diff / (double) valid;
		if (isnan(best) || d < best)
			best = d;
	}
	return best;
}

/* One bit probe against count templates (codes and masks). */
void
KernelBitsDistances(const KernelBitsProbe *probe, const uint8_t *const *codes,
					const uint8_t *const *masks, size_t count, double *out)
{
	for (size_t i = 0; i < count; i++)
		out[i] = KernelBitsDistance(probe, codes[i], masks[i]);
}

/* Unmasked fractional Hamming distance of two codes of nbytes (> 0). */
double
KernelHammingFraction(const uint8_t *a, const uint8_t *b, size_t nbytes)
{
	return (double) kernel_ops->hamming(a, b, nbytes) / (double) (nbytes * 8);
}
