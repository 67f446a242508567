/*-------------------------------------------------------------------------
 *
 * kernels_test.c
 *		Unit tests for the distance kernels in kernels.c, on every dispatch
 *		path the CPU supports.
 *
 * Every vector operation is compared with a double-precision reference
 * written here (the code under test is never its own oracle) and, for the
 * SIMD paths, with the portable path.  Bit kernels are compared with a
 * bit-by-bit reference and must match exactly.  Further cases cover inputs
 * whose sums are exactly representable (every path must then be exact),
 * misaligned pointers, data ending just before an unmapped page (no kernel
 * may read past n), and the dispatch API.
 *
 * Every check is one assertion.  The last line of output is
 * "unit: N passed, N failed"; the exit status is non-zero when any
 * assertion failed.  A short timing section for the best path follows the
 * assertions; it prints figures only and never fails.
 *
 *-------------------------------------------------------------------------
 */
#include "base/kernels.h"
#include "base/halfutils.h"

#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_N			16000	/* longest vector tested */
#define MAX_BYTES		2048	/* longest bit code tested, in bytes */
#define PAD				64		/* slack after every buffer, in bytes */
#define MAX_REPORTS		50		/* failures printed in full */
#define SLOT_API		KERNEL_NUM_PATHS	/* counter slot for API checks */

/*
 * Tolerance for float results: |got - ref| <= REL_TOL * M + ABS_TOL, where
 * ref is the exact sum (computed in double) and M is the sum of the
 * magnitudes of its terms, also in double: Σ|p·t| for dot products, Σ t²
 * for norms and Σ (|p| + |s·t|)² for squared L2 (this also covers the
 * rounding of s·t and of the subtraction, which is relative to the
 * operands, not to their difference).  Summing terms in float into k
 * independent accumulators errs by at most about (n/k + 2)·u·M with
 * u = 2^-24 (products and the final reduction included); that worst case is
 * below 1e-5·M up to n/k of about 160, and for the longer vectors the
 * rounding errors, being unbiased and independent, grow like sqrt(n/k)·u·M
 * (about 3e-6·M at n = 16000 with 8 accumulators), still inside the bound.
 * ABS_TOL only keeps an all-zero M from demanding better than exact.
 */
#define REL_TOL			1e-5
#define ABS_TOL			1e-30

/* vector formats and the outputs of the nine vector operations */
enum
{
	FMT_F32,
	FMT_F16,
	FMT_I8,
	NUM_FMT
};
enum
{
	K_DOT,						/* dot_* */
	K_DN_DOT,					/* dot_norm_*, the dot product */
	K_DN_NORM,					/* dot_norm_*, the template norm */
	K_L2,						/* l2sq_* */
	NUM_K
};
#define NUM_OUT			(NUM_FMT * NUM_K)
#define OUT(fmt, k)		((fmt) * NUM_K + (k))
#define L2_OUTPUTS		((1u << OUT(FMT_F32, K_L2)) | \
						 (1u << OUT(FMT_F16, K_L2)) | \
						 (1u << OUT(FMT_I8, K_L2)))
#define ALL_OUTPUTS		((1u << NUM_OUT) - 1)

static const char *const out_names[NUM_OUT] = {
	"dot_f32", "dot_norm_f32.dot", "dot_norm_f32.tnorm", "l2sq_f32",
	"dot_f16", "dot_norm_f16.dot", "dot_norm_f16.tnorm", "l2sq_f16",
	"dot_i8", "dot_norm_i8.dot", "dot_norm_i8.tnorm", "l2sq_i8"
};

/* random-data distributions for the vector cases */
enum
{
	DIST_UNIFORM,				/* everything uniform in [-1, 1] */
	DIST_WIDE,					/* magnitudes 2^-20..2^8; any finite f16 */
	DIST_ZERO_TEMPLATE,			/* template all zeros (f16: +0 and -0) */
	DIST_ZERO_PROBE,			/* probe all zeros */
	DIST_SAME,					/* template equals the probe: L2 exactly 0 */
	NUM_DIST
};

static const char *const dist_names[NUM_DIST] = {
	"uniform", "wide", "zero-template", "zero-probe", "same"
};

/* One vector case: a probe and the same template in all three formats. */
typedef struct VecCase
{
	const char *label;
	const float *p;
	const float *t32;
	const uint8_t *t16;			/* binary16 values, possibly misaligned */
	const int8_t *t8;
	float		scale;			/* i8 scale for l2sq_i8 */
	size_t		n;
	unsigned	exact;			/* outputs that must equal the reference */
} VecCase;

static const size_t vec_lengths[] = {
	0, 1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 511, 512, 513,
	1023, 1024, 16000
};

static const size_t bit_lengths[] = {
	0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 256, 257, 2048
};

#define LENGTHOF(a)		(sizeof(a) / sizeof((a)[0]))

static int	npassed;
static int	nfailed;
static int	slot_passed[KERNEL_NUM_PATHS + 1];
static int	slot_failed[KERNEL_NUM_PATHS + 1];
static int	cur_slot = SLOT_API;	/* the path being checked */
static bool supported[KERNEL_NUM_PATHS];	/* KernelPathSupported() */
static bool testable[KERNEL_NUM_PATHS]; /* supported, with a table */
static const KernelOps *path_ops[KERNEL_NUM_PATHS];
static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

/* guard-page fault recovery */
static sigjmp_buf guard_jmp;
static volatile sig_atomic_t guard_armed;

static void Check(bool ok, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* Record one assertion against the current slot; report a failure. */
static void
Check(bool ok, const char *fmt,...)
{
	va_list		ap;

	if (ok)
	{
		npassed++;
		slot_passed[cur_slot]++;
		return;
	}
	nfailed++;
	slot_failed[cur_slot]++;
	if (nfailed > MAX_REPORTS)
		return;
	printf("FAIL [%s]: ", cur_slot == SLOT_API ? "api" :
		   KernelPathName((KernelPath) cur_slot));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* xorshift64: the next pseudo-random 64-bit value. */
static uint64_t
Rand64(void)
{
	uint64_t	x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

/* Uniform in [-amp, amp). */
static float
RandSym(float amp)
{
	double		u = (double) (Rand64() >> 11) * 0x1.0p-53;

	return (float) ((2 * u - 1) * amp);
}

/* Uniform in [-1, 1) times a random power of two in 2^-20..2^8. */
static float
RandWide(void)
{
	return ldexpf(RandSym(1), (int) (Rand64() % 29) - 20);
}

/* A random int8 code over the full range -128..127. */
static int8_t
RandI8(void)
{
	return (int8_t) (uint8_t) Rand64();
}

/* A random integer in -8..8. */
static int
RandSmall(void)
{
	return (int) (Rand64() % 17) - 8;
}

/* A random finite binary16 bit pattern (subnormals and -0 included). */
static uint16_t
RandHalfFinite(void)
{
	uint16_t	h;

	do
		h = (uint16_t) Rand64();
	while (((h >> 10) & 0x1f) == 0x1f);
	return h;
}

/* Fill n bytes with random data. */
static void
RandBytes(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t) Rand64();
}

/* 64-byte-aligned zeroed allocation of at least size + PAD bytes. */
static void *
AlignedAlloc(size_t size)
{
	size_t		rounded = (size + PAD + 63) & ~(size_t) 63;
	void	   *p = aligned_alloc(64, rounded);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	memset(p, 0, rounded);
	return p;
}

/* Store binary16 value i of a byte buffer (any alignment). */
static void
PutHalf(uint8_t *t16, size_t i, uint16_t h)
{
	memcpy(t16 + 2 * i, &h, sizeof(h));
}

/* Template element i of a case in a format, as double (i8: the code). */
static double
TemplateValue(const VecCase *c, int fmt, size_t i)
{
	uint16_t	h;

	switch (fmt)
	{
		case FMT_F32:
			return c->t32[i];
		case FMT_F16:
			memcpy(&h, c->t16 + 2 * i, sizeof(h));
			return HalfToFloat(h);
		default:
			return c->t8[i];
	}
}

/* Exact-as-double sums of a case and the magnitudes bounding their error. */
static void
Reference(const VecCase *c, double ref[NUM_OUT], double mag[NUM_OUT])
{
	for (int fmt = 0; fmt < NUM_FMT; fmt++)
	{
		double		s = fmt == FMT_I8 ? (double) c->scale : 1.0;
		double		dot = 0,
					dotmag = 0,
					norm = 0,
					l2 = 0,
					l2mag = 0;

		for (size_t i = 0; i < c->n; i++)
		{
			double		p = c->p[i];
			double		t = TemplateValue(c, fmt, i);
			double		d = p - s * t;
			double		m = fabs(p) + fabs(s * t);

			dot += p * t;
			dotmag += fabs(p * t);
			norm += t * t;
			l2 += d * d;
			l2mag += m * m;
		}
		ref[OUT(fmt, K_DOT)] = ref[OUT(fmt, K_DN_DOT)] = dot;
		mag[OUT(fmt, K_DOT)] = mag[OUT(fmt, K_DN_DOT)] = dotmag;
		ref[OUT(fmt, K_DN_NORM)] = mag[OUT(fmt, K_DN_NORM)] = norm;
		ref[OUT(fmt, K_L2)] = l2;
		mag[OUT(fmt, K_L2)] = l2mag;
	}
}

/* Run all nine vector operations of a table on a case. */
static void
RunOps(const KernelOps *ops, const VecCase *c, float out[NUM_OUT])
{
	const uint16_t *t16 = (const uint16_t *) (const void *) c->t16;

	/* NaN marks an output the operation failed to write */
	for (int k = 0; k < NUM_OUT; k++)
		out[k] = NAN;
	out[OUT(FMT_F32, K_DOT)] = ops->dot_f32(c->p, c->t32, c->n);
	ops->dot_norm_f32(c->p, c->t32, c->n, &out[OUT(FMT_F32, K_DN_DOT)],
					  &out[OUT(FMT_F32, K_DN_NORM)]);
	out[OUT(FMT_F32, K_L2)] = ops->l2sq_f32(c->p, c->t32, c->n);
	out[OUT(FMT_F16, K_DOT)] = ops->dot_f16(c->p, t16, c->n);
	ops->dot_norm_f16(c->p, t16, c->n, &out[OUT(FMT_F16, K_DN_DOT)],
					  &out[OUT(FMT_F16, K_DN_NORM)]);
	out[OUT(FMT_F16, K_L2)] = ops->l2sq_f16(c->p, t16, c->n);
	out[OUT(FMT_I8, K_DOT)] = ops->dot_i8(c->p, c->t8, c->n);
	ops->dot_norm_i8(c->p, c->t8, c->n, &out[OUT(FMT_I8, K_DN_DOT)],
					 &out[OUT(FMT_I8, K_DN_NORM)]);
	out[OUT(FMT_I8, K_L2)] = ops->l2sq_i8(c->p, c->t8, c->scale, c->n);
}

/* Assert each output is within tolerance of want (exactly, if marked). */
static void
CheckOutputs(const VecCase *c, const char *against, const float got[NUM_OUT],
			 const double want[NUM_OUT], const double mag[NUM_OUT])
{
	for (int k = 0; k < NUM_OUT; k++)
	{
		bool		exact = (c->exact >> k) & 1;
		double		tol = exact ? 0 : REL_TOL * mag[k] + ABS_TOL;
		double		err = fabs((double) got[k] - want[k]);

		/* a NaN error compares false and fails */
		Check(err <= tol, "%s n=%zu %s vs %s: got %.9g, want %.17g "
			  "(error %.3g, tolerance %.3g%s)", c->label, c->n, out_names[k],
			  against, (double) got[k], want[k], err, tol,
			  exact ? ", exact" : "");
	}
}

/*
 * Check every supported path on a case: against the reference and, for
 * the SIMD paths, against the portable path's results.
 */
static void
CheckVecCase(const VecCase *c, bool cross)
{
	double		ref[NUM_OUT];
	double		mag[NUM_OUT];
	float		portable[NUM_OUT];
	double		portable_d[NUM_OUT];
	float		got[NUM_OUT];

	Reference(c, ref, mag);
	RunOps(path_ops[KERNEL_PATH_PORTABLE], c, portable);
	for (int k = 0; k < NUM_OUT; k++)
		portable_d[k] = portable[k];
	for (int path = 0; path < KERNEL_NUM_PATHS; path++)
	{
		if (!testable[path])
			continue;
		cur_slot = path;
		RunOps(path_ops[path], c, got);
		CheckOutputs(c, "reference", got, ref, mag);
		if (cross && path != KERNEL_PATH_PORTABLE)
			CheckOutputs(c, "portable", got, portable_d, mag);
	}
	cur_slot = SLOT_API;
}

/* Fill the buffers for one distribution and length; describe the case. */
static void
FillVecCase(VecCase *c, int dist, size_t n, float *p, float *t32,
			uint8_t *t16, int8_t *t8)
{
	c->label = dist_names[dist];
	c->p = p;
	c->t32 = t32;
	c->t16 = t16;
	c->t8 = t8;
	c->n = n;
	c->exact = 0;
	switch (dist)
	{
		case DIST_UNIFORM:
		case DIST_ZERO_PROBE:
			c->scale = 0.001f + (float) (Rand64() % 1000) * 0.0001f;
			for (size_t i = 0; i < n; i++)
			{
				p[i] = dist == DIST_ZERO_PROBE ? 0.0f : RandSym(1);
				t32[i] = RandSym(1);
				PutHalf(t16, i, HalfFromFloat(RandSym(1)));
				t8[i] = RandI8();
			}
			break;
		case DIST_WIDE:
			c->scale = 3.7f / 127;
			for (size_t i = 0; i < n; i++)
			{
				p[i] = RandWide();
				t32[i] = RandWide();
				PutHalf(t16, i, RandHalfFinite());
				t8[i] = RandI8();
			}
			break;
		case DIST_ZERO_TEMPLATE:
			c->scale = 0.02f;
			for (size_t i = 0; i < n; i++)
			{
				p[i] = RandSym(1);
				t32[i] = (i & 1) ? -0.0f : 0.0f;
				PutHalf(t16, i, (i & 1) ? 0x8000 : 0);
				t8[i] = 0;
			}
			break;
		default:
			/* 0.5·code is exact in f32 and f16, so every L2 is exactly 0 */
			c->scale = 0.5f;
			c->exact = L2_OUTPUTS;
			for (size_t i = 0; i < n; i++)
			{
				t8[i] = RandI8();
				p[i] = 0.5f * t8[i];
				t32[i] = p[i];
				PutHalf(t16, i, HalfFromFloat(p[i]));
			}
			break;
	}
}

/* Random data of every distribution and length, all paths. */
static void
TestVectorsRandom(void)
{
	float	   *p = AlignedAlloc(MAX_N * sizeof(float));
	float	   *t32 = AlignedAlloc(MAX_N * sizeof(float));
	uint8_t    *t16 = AlignedAlloc(MAX_N * 2);
	int8_t	   *t8 = AlignedAlloc(MAX_N);
	VecCase		c;

	for (size_t li = 0; li < LENGTHOF(vec_lengths); li++)
		for (int dist = 0; dist < NUM_DIST; dist++)
		{
			FillVecCase(&c, dist, vec_lengths[li], p, t32, t16, t8);
			CheckVecCase(&c, true);
		}
	free(p);
	free(t32);
	free(t16);
	free(t8);
}

/*
 * Small integers (-8..8): every partial sum is an integer (or, with i8
 * scale 0.5, a multiple of 1/4) far below 2^24, so any summation order and
 * FMA give the exact result.
 */
static void
TestVectorsExact(void)
{
	static const size_t lengths[] = {17, 513};
	static const float scales[] = {1.0f, 0.5f};
	float	   *p = AlignedAlloc(MAX_N * sizeof(float));
	float	   *t32 = AlignedAlloc(MAX_N * sizeof(float));
	uint8_t    *t16 = AlignedAlloc(MAX_N * 2);
	int8_t	   *t8 = AlignedAlloc(MAX_N);
	VecCase		c;

	for (size_t li = 0; li < LENGTHOF(lengths); li++)
		for (size_t si = 0; si < LENGTHOF(scales); si++)
		{
			c.label = si == 0 ? "integers" : "integers, i8 scale 0.5";
			c.p = p;
			c.t32 = t32;
			c.t16 = t16;
			c.t8 = t8;
			c.n = lengths[li];
			c.scale = scales[si];
			c.exact = ALL_OUTPUTS;
			for (size_t i = 0; i < c.n; i++)
			{
				p[i] = (float) RandSmall();
				t32[i] = (float) RandSmall();
				PutHalf(t16, i, HalfFromFloat((float) RandSmall()));
				t8[i] = (int8_t) RandSmall();
			}
			/* the extremes, so the largest products occur */
			p[0] = -8;
			t32[0] = 8;
			PutHalf(t16, 0, HalfFromFloat(8));
			t8[0] = 8;
			CheckVecCase(&c, false);
		}
	free(p);
	free(t32);
	free(t16);
	free(t8);
}

/*
 * Misaligned pointers: probe and f32 template one float past a 64-byte
 * boundary, f16 and i8 templates 1..3 bytes past it.
 */
static void
TestVectorsMisaligned(void)
{
	static const size_t lengths[] = {15, 33, 513};
	float	   *pbuf = AlignedAlloc((MAX_N + 1) * sizeof(float));
	float	   *t32buf = AlignedAlloc((MAX_N + 1) * sizeof(float));
	uint8_t    *t16buf = AlignedAlloc(MAX_N * 2 + 4);
	uint8_t    *t8buf = AlignedAlloc(MAX_N + 4);
	char		label[64];
	VecCase		c;

	for (size_t li = 0; li < LENGTHOF(lengths); li++)
		for (int off = 1; off <= 3; off++)
		{
			FillVecCase(&c, DIST_UNIFORM, lengths[li], pbuf + 1, t32buf + 1,
						t16buf + off, (int8_t *) (t8buf + off));
			snprintf(label, sizeof(label), "misaligned +%d", off);
			c.label = label;
			CheckVecCase(&c, false);
		}
	free(pbuf);
	free(t32buf);
	free(t16buf);
	free(t8buf);
}

/* popcount(a ^ b), one bit at a time. */
static uint64_t
RefHamming(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t	c = 0;

	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 8; k++)
			c += ((a[i] >> k) & 1) != ((b[i] >> k) & 1);
	return c;
}

/* Masked counts, one bit at a time: valid where both masks are set. */
static void
RefMaskedHamming(const uint8_t *a, const uint8_t *ma, const uint8_t *b,
				 const uint8_t *mb, size_t n, uint64_t *diff, uint64_t *valid)
{
	*diff = 0;
	*valid = 0;
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 8; k++)
			if (((ma[i] >> k) & 1) && ((mb[i] >> k) & 1))
			{
				(*valid)++;
				*diff += ((a[i] >> k) & 1) != ((b[i] >> k) & 1);
			}
}

/* Assert hamming on every supported path equals the reference exactly. */
static void
CheckHamming(const char *label, const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t	want = RefHamming(a, b, n);

	for (int path = 0; path < KERNEL_NUM_PATHS; path++)
	{
		uint64_t	got;

		if (!testable[path])
			continue;
		cur_slot = path;
		got = path_ops[path]->hamming(a, b, n);
		Check(got == want, "hamming %s n=%zu bytes: got %" PRIu64
			  ", want %" PRIu64, label, n, got, want);
	}
	cur_slot = SLOT_API;
}

/* Assert masked_hamming on every supported path equals the reference. */
static void
CheckMasked(const char *label, const uint8_t *a, const uint8_t *ma,
			const uint8_t *b, const uint8_t *mb, size_t n)
{
	uint64_t	wdiff,
				wvalid;

	RefMaskedHamming(a, ma, b, mb, n, &wdiff, &wvalid);
	for (int path = 0; path < KERNEL_NUM_PATHS; path++)
	{
		uint64_t	diff = UINT64_MAX,
					valid = UINT64_MAX;

		if (!testable[path])
			continue;
		cur_slot = path;
		path_ops[path]->masked_hamming(a, ma, b, mb, n, &diff, &valid);
		Check(diff == wdiff, "masked_hamming %s n=%zu bytes: diff %" PRIu64
			  ", want %" PRIu64, label, n, diff, wdiff);
		Check(valid == wvalid, "masked_hamming %s n=%zu bytes: valid %" PRIu64
			  ", want %" PRIu64, label, n, valid, wvalid);
	}
	cur_slot = SLOT_API;
}

/* Bit kernels: random data and masks, degenerate masks, every length. */
static void
TestBits(void)
{
	uint8_t    *a = AlignedAlloc(MAX_BYTES);
	uint8_t    *b = AlignedAlloc(MAX_BYTES);
	uint8_t    *nota = AlignedAlloc(MAX_BYTES);
	uint8_t    *ma = AlignedAlloc(MAX_BYTES);
	uint8_t    *mb = AlignedAlloc(MAX_BYTES);
	uint8_t    *zeros = AlignedAlloc(MAX_BYTES);
	uint8_t    *ones = AlignedAlloc(MAX_BYTES);

	memset(ones, 0xff, MAX_BYTES);
	for (size_t li = 0; li < LENGTHOF(bit_lengths); li++)
	{
		size_t		n = bit_lengths[li];

		RandBytes(a, n);
		RandBytes(b, n);
		RandBytes(ma, n);
		RandBytes(mb, n);
		for (size_t i = 0; i < n; i++)
			nota[i] = (uint8_t) ~a[i];
		CheckHamming("random", a, b, n);
		CheckHamming("equal", a, a, n);
		CheckHamming("complement", a, nota, n);
		CheckMasked("random masks", a, ma, b, mb, n);
		CheckMasked("zero masks", a, zeros, b, zeros, n);
		CheckMasked("one masks", a, ones, b, ones, n);
		CheckMasked("ones and random mask", a, ones, b, mb, n);
		CheckMasked("random and zero mask", a, ma, b, zeros, n);
		CheckMasked("complement, one masks", a, ones, nota, ones, n);
	}
	free(a);
	free(b);
	free(nota);
	free(ma);
	free(mb);
	free(zeros);
	free(ones);
}

/* Bit kernels on codes and masks 1..3 bytes past a 64-byte boundary. */
static void
TestBitsMisaligned(void)
{
	static const size_t lengths[] = {9, 65, 257};
	uint8_t    *abuf = AlignedAlloc(MAX_BYTES + 4);
	uint8_t    *bbuf = AlignedAlloc(MAX_BYTES + 4);
	uint8_t    *mabuf = AlignedAlloc(MAX_BYTES + 4);
	uint8_t    *mbbuf = AlignedAlloc(MAX_BYTES + 4);

	for (size_t li = 0; li < LENGTHOF(lengths); li++)
		for (int off = 1; off <= 3; off++)
		{
			size_t		n = lengths[li];
			uint8_t    *a = abuf + off;
			uint8_t    *b = bbuf + (off % 3) + 1;
			uint8_t    *ma = mabuf + off;
			uint8_t    *mb = mbbuf + ((off + 1) % 3) + 1;
			char		label[64];

			RandBytes(a, n);
			RandBytes(b, n);
			RandBytes(ma, n);
			RandBytes(mb, n);
			snprintf(label, sizeof(label), "misaligned +%d", off);
			CheckHamming(label, a, b, n);
			CheckMasked(label, a, ma, b, mb, n);
		}
	free(abuf);
	free(bbuf);
	free(mabuf);
	free(mbbuf);
}

/* SIGSEGV/SIGBUS handler: escape from a guarded call, else die as usual. */
static void
GuardHandler(int sig)
{
	if (guard_armed)
	{
		guard_armed = 0;
		siglongjmp(guard_jmp, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Map a readable page followed by an unmapped-to-us (PROT_NONE) one. */
static uint8_t *
GuardPage(size_t page)
{
	uint8_t    *base = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
							MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED || mprotect(base + page, page, PROT_NONE) != 0)
	{
		perror("mmap");
		exit(2);
	}
	return base;
}

/* Run a case's vector operations; false if one touched the guard page. */
static bool
VecStaysInBounds(const KernelOps *ops, const VecCase *c)
{
	float		out[NUM_OUT];

	guard_armed = 1;
	if (sigsetjmp(guard_jmp, 1) != 0)
		return false;
	RunOps(ops, c, out);
	guard_armed = 0;
	return true;
}

/* Run both bit operations; false if one touched the guard page. */
static bool
BitsStayInBounds(const KernelOps *ops, const uint8_t *a, const uint8_t *ma,
				 const uint8_t *b, const uint8_t *mb, size_t n)
{
	uint64_t	diff,
				valid;

	guard_armed = 1;
	if (sigsetjmp(guard_jmp, 1) != 0)
		return false;
	(void) ops->hamming(a, b, n);
	ops->masked_hamming(a, ma, b, mb, n, &diff, &valid);
	guard_armed = 0;
	return true;
}

/*
 * No kernel may read past element n: put every input so that it ends at
 * the last byte before a PROT_NONE page (as sodium_malloc's guard pages
 * do) and run the SIMD tails.
 */
static void
TestGuardPages(void)
{
	static const size_t vlens[] = {1, 3, 7, 15, 17, 31, 33, 63, 65, 127};
	static const size_t blens[] = {1, 7, 8, 9, 63, 64, 65, 127, 257};
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	uint8_t    *g[4];
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = GuardHandler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	for (int i = 0; i < 4; i++)
	{
		g[i] = GuardPage(page);
		RandBytes(g[i], page);
	}
	for (size_t li = 0; li < LENGTHOF(vlens); li++)
	{
		size_t		n = vlens[li];
		VecCase		c;

		/* probe and f32 template in their own pages, f16 and i8 in theirs */
		c.label = "guard page";
		c.n = n;
		c.scale = 0.01f;
		c.exact = 0;
		c.p = (const float *) (const void *) (g[0] + page - 4 * n);
		c.t32 = (const float *) (const void *) (g[1] + page - 4 * n);
		c.t16 = g[2] + page - n * 2;
		c.t8 = (const int8_t *) (g[3] + page - n);
		for (int path = 0; path < KERNEL_NUM_PATHS; path++)
		{
			if (!testable[path])
				continue;
			cur_slot = path;
			Check(VecStaysInBounds(path_ops[path], &c),
				  "vector kernels read past the end (n=%zu)", n);
		}
	}
	/* (the vector values are random bytes, maybe NaN: only faults count) */
	for (size_t li = 0; li < LENGTHOF(blens); li++)
	{
		size_t		n = blens[li];
		const uint8_t *a = g[0] + page - n;
		const uint8_t *b = g[1] + page - n;
		const uint8_t *ma = g[2] + page - n;
		const uint8_t *mb = g[3] + page - n;

		for (int path = 0; path < KERNEL_NUM_PATHS; path++)
		{
			if (!testable[path])
				continue;
			cur_slot = path;
			Check(BitsStayInBounds(path_ops[path], a, ma, b, mb, n),
				  "bit kernels read past the end (n=%zu bytes)", n);
		}
	}
	cur_slot = SLOT_API;
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	for (int i = 0; i < 4; i++)
		munmap(g[i], 2 * page);
}

/* Assert every entry of an operation table is set. */
static bool
OpsComplete(const KernelOps *ops)
{
	return ops->dot_f32 && ops->dot_norm_f32 && ops->l2sq_f32 &&
		ops->dot_f16 && ops->dot_norm_f16 && ops->l2sq_f16 &&
		ops->dot_i8 && ops->dot_norm_i8 && ops->l2sq_i8 &&
		ops->hamming && ops->masked_hamming;
}

/* The dispatch API: initial state, names, best path, switching. */
static void
TestApi(void)
{
	static const char *const names[KERNEL_NUM_PATHS] = {
		"portable", "avx2", "avx512"
	};
	const KernelPath bogus[] = {KERNEL_NUM_PATHS, (KernelPath) 99};
	KernelPath	best = KernelBestPath();
	const KernelOps *before_ops;
	KernelPath	before_path;

	cur_slot = SLOT_API;
	Check(KernelCurrentPath() == KERNEL_PATH_PORTABLE,
		  "initial path is %d, want portable", (int) KernelCurrentPath());
	Check(kernel_ops == KernelOpsFor(KERNEL_PATH_PORTABLE),
		  "initial kernel_ops is not the portable table");
	Check(KernelPathSupported(KERNEL_PATH_PORTABLE) == 1,
		  "portable path not supported");
	for (int path = 0; path < KERNEL_NUM_PATHS; path++)
		Check(strcmp(KernelPathName((KernelPath) path), names[path]) == 0,
			  "KernelPathName(%d) = \"%s\", want \"%s\"", path,
			  KernelPathName((KernelPath) path), names[path]);

	/* the best path is the highest supported one */
	Check(supported[best], "best path %s is not supported",
		  KernelPathName(best));
	for (int path = best + 1; path < KERNEL_NUM_PATHS; path++)
		Check(!supported[path], "%s supported but best path is %s",
			  KernelPathName((KernelPath) path), KernelPathName(best));
	Check(!supported[KERNEL_PATH_AVX512] || supported[KERNEL_PATH_AVX2],
		  "avx512 supported without avx2");

	for (int path = 0; path < KERNEL_NUM_PATHS; path++)
	{
		const KernelOps *ops = KernelOpsFor((KernelPath) path);

		if (!supported[path])
		{
			Check(ops == NULL, "KernelOpsFor(unsupported %s) is not NULL",
				  names[path]);
			continue;
		}
		Check(ops != NULL && OpsComplete(ops),
			  "KernelOpsFor(%s) is NULL or incomplete", names[path]);
		Check(path == KERNEL_PATH_PORTABLE ||
			  ops != KernelOpsFor(KERNEL_PATH_PORTABLE),
			  "KernelOpsFor(%s) is the portable table", names[path]);
		Check(KernelUsePath((KernelPath) path) == 1,
			  "KernelUsePath(%s) did not return 1", names[path]);
		Check(KernelCurrentPath() == (KernelPath) path && kernel_ops == ops,
			  "after KernelUsePath(%s): current %s, table %s", names[path],
			  KernelPathName(KernelCurrentPath()),
			  kernel_ops == ops ? "switched" : "not switched");
	}

	/* unsupported: out-of-range values, plus any path this CPU lacks */
	KernelUsePath(best);
	before_ops = kernel_ops;
	before_path = KernelCurrentPath();
	for (size_t i = 0; i < LENGTHOF(bogus) + KERNEL_NUM_PATHS; i++)
	{
		KernelPath	path = i < LENGTHOF(bogus) ? bogus[i] :
			(KernelPath) (i - LENGTHOF(bogus));

		if (i >= LENGTHOF(bogus) && supported[path])
			continue;
		Check(KernelPathSupported(path) == 0,
			  "KernelPathSupported(%d) is not 0", (int) path);
		Check(KernelOpsFor(path) == NULL, "KernelOpsFor(%d) is not NULL",
			  (int) path);
		Check(KernelUsePath(path) == 0, "KernelUsePath(%d) is not 0",
			  (int) path);
		Check(kernel_ops == before_ops && KernelCurrentPath() == before_path,
			  "KernelUsePath(%d) changed the path in use", (int) path);
	}
	KernelUsePath(KERNEL_PATH_PORTABLE);
}

/* Monotonic clock in nanoseconds. */
static double
NowNs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Operands shared by the timing loops. */
typedef struct BenchData
{
	const KernelOps *ops;
	float	   *p;
	float	   *t32;
	uint16_t   *t16;
	int8_t	   *t8;
	uint8_t    *a;
	uint8_t    *b;
	uint8_t    *ma;
	uint8_t    *mb;
} BenchData;

typedef void (*BenchFn) (const BenchData *d, long iters);

static volatile float bench_sink;
static volatile uint64_t bench_sink_u;

/* iters calls of dot_norm_f32 on 512 dimensions. */
static void
BenchF32(const BenchData *d, long iters)
{
	float		dot,
				norm,
				s = 0;

	for (long i = 0; i < iters; i++)
	{
		d->ops->dot_norm_f32(d->p, d->t32, 512, &dot, &norm);
		s += dot + norm;
	}
	bench_sink = s;
}

/* iters calls of dot_norm_f16 on 512 dimensions. */
static void
BenchF16(const BenchData *d, long iters)
{
	float		dot,
				norm,
				s = 0;

	for (long i = 0; i < iters; i++)
	{
		d->ops->dot_norm_f16(d->p, d->t16, 512, &dot, &norm);
		s += dot + norm;
	}
	bench_sink = s;
}

/* iters calls of dot_norm_i8 on 512 dimensions. */
static void
BenchI8(const BenchData *d, long iters)
{
	float		dot,
				norm,
				s = 0;

	for (long i = 0; i < iters; i++)
	{
		d->ops->dot_norm_i8(d->p, d->t8, 512, &dot, &norm);
		s += dot + norm;
	}
	bench_sink = s;
}

/* iters calls of masked_hamming on 2048 bits. */
static void
BenchBits(const BenchData *d, long iters)
{
	uint64_t	diff,
				valid,
				s = 0;

	for (long i = 0; i < iters; i++)
	{
		d->ops->masked_hamming(d->a, d->ma, d->b, d->mb, 256, &diff, &valid);
		s += diff + valid;
	}
	bench_sink_u = s;
}

/* ns per call: warm up, then up to 1e6 calls or about 0.3 s. */
static double
TimeNs(BenchFn fn, const BenchData *d)
{
	long		iters = 1000000;
	double		t0,
				ns;

	t0 = NowNs();
	fn(d, 10000);
	ns = (NowNs() - t0) / 10000;
	if (ns * iters > 3e8)
		iters = (long) (3e8 / (ns > 1 ? ns : 1));
	t0 = NowNs();
	fn(d, iters);
	return (NowNs() - t0) / iters;
}

/* Print (not assert) per-call times of the best path, hot in cache. */
static void
Timing(void)
{
	KernelPath	best = KernelBestPath();
	BenchData	d;

	d.ops = KernelOpsFor(best);
	d.p = AlignedAlloc(512 * sizeof(float));
	d.t32 = AlignedAlloc(512 * sizeof(float));
	d.t16 = AlignedAlloc(512 * sizeof(uint16_t));
	d.t8 = AlignedAlloc(512);
	d.a = AlignedAlloc(256);
	d.b = AlignedAlloc(256);
	d.ma = AlignedAlloc(256);
	d.mb = AlignedAlloc(256);
	for (int i = 0; i < 512; i++)
	{
		d.p[i] = RandSym(1);
		d.t32[i] = RandSym(1);
		d.t16[i] = HalfFromFloat(RandSym(1));
		d.t8[i] = RandI8();
	}
	RandBytes(d.a, 256);
	RandBytes(d.b, 256);
	RandBytes(d.ma, 256);
	RandBytes(d.mb, 256);
	printf("timing (%s, not an assertion): 512-d dot_norm f32 %.1f ns, "
		   "f16 %.1f ns, i8 %.1f ns; 2048-bit masked_hamming %.1f ns\n",
		   KernelPathName(best), TimeNs(BenchF32, &d), TimeNs(BenchF16, &d),
		   TimeNs(BenchI8, &d), TimeNs(BenchBits, &d));
	free(d.p);
	free(d.t32);
	free(d.t16);
	free(d.t8);
	free(d.a);
	free(d.b);
	free(d.ma);
	free(d.mb);
}

/* Run every test, the timing section and print the summary lines. */
int
main(void)
{
	char		tested[64] = "",
				skipped[64] = "";

	for (int path = 0; path < KERNEL_NUM_PATHS; path++)
	{
		char	   *list;

		supported[path] = KernelPathSupported((KernelPath) path) != 0;
		path_ops[path] = KernelOpsFor((KernelPath) path);
		/* a supported path without a table fails in TestApi */
		testable[path] = supported[path] && path_ops[path] != NULL;
		list = testable[path] ? tested : skipped;
		if (list[0] != '\0')
			strcat(list, ", ");
		strcat(list, KernelPathName((KernelPath) path));
	}
	printf("kernels: testing %s; skipped as unsupported: %s\n", tested,
		   skipped[0] != '\0' ? skipped : "none");

	TestApi();
	TestVectorsRandom();
	TestVectorsExact();
	TestVectorsMisaligned();
	TestBits();
	TestBitsMisaligned();
	TestGuardPages();

	for (int slot = 0; slot <= KERNEL_NUM_PATHS; slot++)
	{
		if (slot < KERNEL_NUM_PATHS && !testable[slot])
			printf("  %-8s skipped (unsupported)\n",
				   KernelPathName((KernelPath) slot));
		else
			printf("  %-8s %d passed, %d failed\n", slot == SLOT_API ? "api" :
				   KernelPathName((KernelPath) slot), slot_passed[slot],
				   slot_failed[slot]);
	}
	if (nfailed > MAX_REPORTS)
		printf("(%d further failures not shown)\n", nfailed - MAX_REPORTS);
	Timing();
	printf("unit: %d passed, %d failed\n", npassed, nfailed);
	return nfailed == 0 ? 0 : 1;
}
