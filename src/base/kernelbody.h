/*-------------------------------------------------------------------------
 *
 * kernels_internal.h
 *		Kernel bodies shared by kernels.c (portable) and kernels_x86.c.
 *
 * Always-inline bodies take the element format and the sums wanted as
 * constants, so each small wrapper compiles to a specialised loop.  The
 * SIMD paths hand their tails to SumsPortable.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_KERNELS_INTERNAL_H
#define BIOCRYPT_KERNELS_INTERNAL_H

#include <string.h>

#include "base/halfutils.h"
#include "base/kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KERNELS_X86 1
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* element formats and wanted sums, as compile-time constants */
enum
{
	ELEM_F32,
	ELEM_F16,
	ELEM_I8
};
enum
{
	SUM_DOT,
	SUM_DOT_NORM,
	SUM_L2
};

/* Element i of a template as float (i8: the code, unscaled). */
ALWAYS_INLINE float
LoadElem(const void *t, size_t i, int elem)
{
	uint16_t	h;

	switch (elem)
	{
		case ELEM_F32:
			return ((const float *) t)[i];
		case ELEM_F16:
			memcpy(&h, (const char *) t + 2 * i, sizeof(h));
			return HalfToFloat(h);
		default:
			return (float) ((const int8_t *) t)[i];
	}
}

/*
 * Sums over [0, n) with 8 independent accumulators, which gives the
 * compiler room to vectorise without reassociating a single chain.
 */
ALWAYS_INLINE void
SumsPortable(const float *p, const void *t, size_t n, int elem, int what,
			 float scale, float *s1, float *s2)
{
	float		a[8] = {0};
	float		b[8] = {0};
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
		{
			float		x = LoadElem(t, i + k, elem);

			if (what == SUM_L2)
			{
				float		d = p[i + k] - scale * x;

				a[k] += d * d;
			}
			else
			{
				a[k] += p[i + k] * x;
				if (what == SUM_DOT_NORM)
					b[k] += x * x;
			}
		}
	for (; i < n; i++)
	{
		float		x = LoadElem(t, i, elem);

		if (what == SUM_L2)
			a[0] += (p[i] - scale * x) * (p[i] - scale * x);
		else
		{
			a[0] += p[i] * x;
			b[0] += x * x;
		}
	}
	*s1 = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
	*s2 = ((b[0] + b[4]) + (b[1] + b[5])) + ((b[2] + b[6]) + (b[3] + b[7]));
}

/* Read 8 bytes as a word (any alignment). */
ALWAYS_INLINE uint64_t
Word(const uint8_t *p)
{
	uint64_t	w;

	memcpy(&w, p, sizeof(w));
	return w;
}

/* popcount(a ^ b), word at a time, then the tail bytes. */
ALWAYS_INLINE uint64_t
HammingBody(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint64_t	c = 0;
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
		c += (uint64_t) __builtin_popcountll(Word(a + i) ^ Word(b + i));
	for (; i < n; i++)
		c += (uint64_t) __builtin_popcount((unsigned) (a[i] ^ b[i]));
	return c;
}

/* Masked difference and valid counts, word at a time. */
ALWAYS_INLINE void
MaskedHammingBody(const uint8_t *a, const uint8_t *ma, const uint8_t *b,
				  const uint8_t *mb, size_t n, uint64_t *diff, uint64_t *valid)
{
	uint64_t	d = 0;
	uint64_t	v = 0;
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
	{
		uint64_t	m = Word(ma + i) & Word(mb + i);

		d += (uint64_t) __builtin_popcountll((Word(a + i) ^ Word(b + i)) & m);
		v += (uint64_t) __builtin_popcountll(m);
	}
	for (; i < n; i++)
	{
		unsigned	m = ma[i] & mb[i];

		d += (uint64_t) __builtin_popcount((a[i] ^ b[i]) & m);
		v += (uint64_t) __builtin_popcount(m);
	}
	*diff = d;
	*valid = v;
}

extern KernelOps kernel_ops_portable;

#ifdef KERNELS_X86
extern int	KernelX86Level(int *vpopcntdq);
extern const KernelOps *KernelX86Ops(KernelPath path);
#endif

#endif							/* BIOCRYPT_KERNELS_INTERNAL_H */
