/*-------------------------------------------------------------------------
 *
 * kernels_x86.c
 *		AVX2 and AVX-512 distance kernels and the x86 feature checks.
 *
 * Compiled with target attributes, never with -march, so the module loads
 * on any x86-64 CPU; kernels.c switches these in only after KernelX86Level
 * has seen the instructions in CPUID and their register state in XGETBV.
 * AVX-512 bit kernels use VPOPCNTDQ where present, else POPCNT.  Off x86
 * this file compiles to nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "base/kernelbody.h"

#ifdef KERNELS_X86

#include <cpuid.h>
#include <immintrin.h>

/* ---------------------------------------------------------------------
 * AVX2 + FMA + F16C (8 lanes); POPCNT for bits
 * --------------------------------------------------------------------- */
#define TARGET_AVX2 __attribute__((target("avx2,fma,f16c,popcnt")))

/* Eight template elements from index i, as floats. */
TARGET_AVX2 ALWAYS_INLINE __m256
Load8Avx2(const void *t, size_t i, int elem)
{
	switch (elem)
	{
		case ELEM_F32:
			return _mm256_loadu_ps((const float *) t + i);
		case ELEM_F16:
			return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) ((const uint16_t *) t + i)));
		default:
			return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
									  _mm_loadl_epi64((const __m128i *) ((const int8_t *) t + i))));
	}
}

/* Horizontal sum of 8 floats. */
TARGET_AVX2 ALWAYS_INLINE float
HsumAvx2(__m256 v)
{
	__m128		s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Accumulate eight lanes at i into a (and b). */
TARGET_AVX2 ALWAYS_INLINE void
Step8Avx2(const float *p, const void *t, size_t i, int elem, int what,
		  __m256 vs, __m256 *a, __m256 *b)
{
	__m256		x = Load8Avx2(t, i, elem);
	__m256		q = _mm256_loadu_ps(p + i);

	if (what == SUM_L2)
	{
		__m256		d = _mm256_fnmadd_ps(vs, x, q);

		*a = _mm256_fmadd_ps(d, d, *a);
	}
	else
	{
		*a = _mm256_fmadd_ps(q, x, *a);
		if (what == SUM_DOT_NORM)
			*b = _mm256_fmadd_ps(x, x, *b);
	}
}

/* Sums over blocks of 8 with four accumulators; the rest goes portable. */
TARGET_AVX2 ALWAYS_INLINE void
SumsAvx2(const float *p, const void *t, size_t n, int elem, int what,
		 float scale, float *s1, float *s2)
{
	__m256		a[4], b[4];
	__m256		vs = _mm256_set1_ps(scale);
	size_t		i = 0;
	float		t1, t2;

	for (int k = 0; k < 4; k++)
		a[k] = b[k] = _mm256_setzero_ps();
	for (; i + 32 <= n; i += 32)
		for (int k = 0; k < 4; k++)
			Step8Avx2(p, t, i + 8 * k, elem, what, vs, &a[k], &b[k]);
	for (; i + 8 <= n; i += 8)
		Step8Avx2(p, t, i, elem, what, vs, &a[0], &b[0]);
	SumsPortable(p + i, (const char *) t + i * (elem == ELEM_F32 ? 4 : elem == ELEM_F16 ? 2 : 1),
				 n - i, elem, what, scale, &t1, &t2);
	*s1 = HsumAvx2(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]))) + t1;
	*s2 = HsumAvx2(_mm256_add_ps(_mm256_add_ps(b[0], b[1]), _mm256_add_ps(b[2], b[3]))) + t2;
}

TARGET_AVX2 static float
DotF32Avx2(const float *p, const float *t, size_t n)
{
	float		s1, s2;

	SumsAvx2(p, t, n, ELEM_F32, SUM_DOT, 1, &s1, &s2);
	return s1;
}

TARGET_AVX2 static void
DotNormF32Avx2(const float *p, const float *t, size_t n, float *dot, float *tnorm)
{
	SumsAvx2(p, t, n, ELEM_F32, SUM_DOT_NORM, 1, dot, tnorm);
}

TARGET_AVX2 static float
L2SqF32Avx2(const float *p, const float *t, size_t n)
{
	float		s1, s2;

	SumsAvx2(p, t, n, ELEM_F32, SUM_L2, 1, &s1, &s2);
	return s1;
}

TARGET_AVX2 static float
DotF16Avx2(const float *p, const uint16_t *t, size_t n)
{
	float		s1, s2;

	SumsAvx2(p, t, n, ELEM_F16, SUM_DOT, 1, &s1, &s2);
	return s1;
}

TARGET_AVX2 static void
DotNormF16Avx2(const float *p, const uint16_t *t, size_t n, float *dot, float *tnorm)
{
	SumsAvx2(p, t, n, ELEM_F16, SUM_DOT_NORM, 1, dot, tnorm);
}

TARGET_AVX2 static float
L2SqF16Avx2(const float *p, const uint16_t *t, size_t n)
{
	float		s1, s2;

	SumsAvx2(p, t, n, ELEM_F16, SUM_L2, 1, &s1, &s2);
	return s1;
}

TARGET_AVX2 static float
DotI8Avx2(const float *p, const int8_t *t, size_t n)
{
	float		s1, s2;

	SumsAvx2(p, t, n, ELEM_I8, SUM_DOT, 1, &s1, &s2);
	return s1;
}

TARGET_AVX2 static void
DotNormI8Avx2(const float *p, const int8_t *t, size_t n, float *dot, float *tnorm)
{
	SumsAvx2(p, t, n, ELEM_I8, SUM_DOT_NORM, 1, dot, tnorm);
}

TARGET_AVX2 static float
L2SqI8Avx2(const float *p, const int8_t *t, float scale, size_t n)
{
	float		s1, s2;

	SumsAvx2(p, t, n, ELEM_I8, SUM_L2, scale, &s1, &s2);
	return s1;
}

/* Bit kernels with the POPCNT instruction. */
TARGET_AVX2 static uint64_t
HammingPopcnt(const uint8_t *a, const uint8_t *b, size_t n)
{
	return HammingBody(a, b, n);
}

TARGET_AVX2 static void
MaskedHammingPopcnt(const uint8_t *a, const uint8_t *ma, const uint8_t *b,
					const uint8_t *mb, size_t n, uint64_t *diff, uint64_t *valid)
{
	MaskedHammingBody(a, ma, b, mb, n, diff, valid);
}

static KernelOps ops_avx2 = {
	DotF32Avx2, DotNormF32Avx2, L2SqF32Avx2,
	DotF16Avx2, DotNormF16Avx2, L2SqF16Avx2,
	DotI8Avx2, DotNormI8Avx2, L2SqI8Avx2,
	HammingPopcnt, MaskedHammingPopcnt
};

/* ---------------------------------------------------------------------
 * AVX-512 (F, BW, VL; 16 lanes, masked tails); VPOPCNTDQ for bits
 * --------------------------------------------------------------------- */
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define TARGET_AVX512POP __attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq")))

/* Up to 16 template elements from index i (lanes outside m read as 0). */
TARGET_AVX512 ALWAYS_INLINE __m512
Load16Avx512(const void *t, size_t i, __mmask16 m, int elem)
{
	switch (elem)
	{
		case ELEM_F32:
			return _mm512_maskz_loadu_ps(m, (const float *) t + i);
		case ELEM_F16:
			return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *) t + i));
		default:
			return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
									  _mm_maskz_loadu_epi8(m, (const int8_t *) t + i)));
	}
}

/* Accumulate one block of up to 16 lanes into a (and b). */
TARGET_AVX512 ALWAYS_INLINE void
Step16Avx512(const float *p, const void *t, size_t i, __mmask16 m, int elem,
			 int what, __m512 vs, __m512 *a, __m512 *b)
{
	__m512		x = Load16Avx512(t, i, m, elem);
	__m512		q = _mm512_maskz_loadu_ps(m, p + i);

	if (what == SUM_L2)
	{
		__m512		d = _mm512_fnmadd_ps(vs, x, q);

		*a = _mm512_fmadd_ps(d, d, *a);
	}
	else
	{
		*a = _mm512_fmadd_ps(q, x, *a);
		if (what == SUM_DOT_NORM)
			*b = _mm512_fmadd_ps(x, x, *b);
	}
}

/*
 * Sums over [0, n): four accumulators (an FMA's latency would otherwise
 * bound a 512-d sum), then whole blocks, then one masked tail block.
 */
TARGET_AVX512 ALWAYS_INLINE void
SumsAvx512(const float *p, const void *t, size_t n, int elem, int what,
		   float scale, float *s1, float *s2)
{
	__m512		a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
	__m512		a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
	__m512		b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
	__m512		b2 = _mm512_setzero_ps(), b3 = _mm512_setzero_ps();
	__m512		vs = _mm512_set1_ps(scale);
	size_t		i = 0;

	for (; i + 64 <= n; i += 64)
	{
		Step16Avx512(p, t, i, 0xFFFF, elem, what, vs, &a0, &b0);
		Step16Avx512(p, t, i + 16, 0xFFFF, elem, what, vs, &a1, &b1);
		Step16Avx512(p, t, i + 32, 0xFFFF, elem, what, vs, &a2, &b2);
		Step16Avx512(p, t, i + 48, 0xFFFF, elem, what, vs, &a3, &b3);
	}
	for (; i < n; i += 16)
	{
		__mmask16	m = n - i >= 16 ? 0xFFFF : (__mmask16) ((1u << (n - i)) - 1);

		Step16Avx512(p, t, i, m, elem, what, vs, &a0, &b0);
	}
	*s1 = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
	*s2 = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(b0, b1), _mm512_add_ps(b2, b3)));
}

TARGET_AVX512 static float
DotF32Avx512(const float *p, const float *t, size_t n)
{
	float		s1, s2;

	SumsAvx512(p, t, n, ELEM_F32, SUM_DOT, 1, &s1, &s2);
	return s1;
}

TARGET_AVX512 static void
DotNormF32Avx512(const float *p, const float *t, size_t n, float *dot, float *tnorm)
{
	SumsAvx512(p, t, n, ELEM_F32, SUM_DOT_NORM, 1, dot, tnorm);
}

TARGET_AVX512 static float
L2SqF32Avx512(const float *p, const float *t, size_t n)
{
	float		s1, s2;

	SumsAvx512(p, t, n, ELEM_F32, SUM_L2, 1, &s1, &s2);
	return s1;
}

TARGET_AVX512 static float
DotF16Avx512(const float *p, const uint16_t *t, size_t n)
{
	float		s1, s2;

	SumsAvx512(p, t, n, ELEM_F16, SUM_DOT, 1, &s1, &s2);
	return s1;
}

TARGET_AVX512 static void
DotNormF16Avx512(const float *p, const uint16_t *t, size_t n, float *dot, float *tnorm)
{
	SumsAvx512(p, t, n, ELEM_F16, SUM_DOT_NORM, 1, dot, tnorm);
}

TARGET_AVX512 static float
L2SqF16Avx512(const float *p, const uint16_t *t, size_t n)
{
	float		s1, s2;

	SumsAvx512(p, t, n, ELEM_F16, SUM_L2, 1, &s1, &s2);
	return s1;
}

TARGET_AVX512 static float
DotI8Avx512(const float *p, const int8_t *t, size_t n)
{
	float		s1, s2;

	SumsAvx512(p, t, n, ELEM_I8, SUM_DOT, 1, &s1, &s2);
	return s1;
}

TARGET_AVX512 static void
DotNormI8Avx512(const float *p, const int8_t *t, size_t n, float *dot, float *tnorm)
{
	SumsAvx512(p, t, n, ELEM_I8, SUM_DOT_NORM, 1, dot, tnorm);
}

TARGET_AVX512 static float
L2SqI8Avx512(const float *p, const int8_t *t, float scale, size_t n)
{
	float		s1, s2;

	SumsAvx512(p, t, n, ELEM_I8, SUM_L2, scale, &s1, &s2);
	return s1;
}

/* popcount(a ^ b), 64 bytes per step with a masked tail. */
TARGET_AVX512POP static uint64_t
HammingAvx512(const uint8_t *a, const uint8_t *b, size_t n)
{
	__m512i		c = _mm512_setzero_si512();

	for (size_t i = 0; i < n; i += 64)
	{
		__mmask64	m = n - i >= 64 ? ~(__mmask64) 0 : (((__mmask64) 1 << (n - i)) - 1);
		__m512i		x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i),
										 _mm512_maskz_loadu_epi8(m, b + i));

		c = _mm512_add_epi64(c, _mm512_popcnt_epi64(x));
	}
	return (uint64_t) _mm512_reduce_add_epi64(c);
}

/* Masked difference and valid counts, 64 bytes per step. */
TARGET_AVX512POP static void
MaskedHammingAvx512(const uint8_t *a, const uint8_t *ma, const uint8_t *b,
					const uint8_t *mb, size_t n, uint64_t *diff, uint64_t *valid)
{
	__m512i		d = _mm512_setzero_si512();
	__m512i		v = _mm512_setzero_si512();

	for (size_t i = 0; i < n; i += 64)
	{
		__mmask64	m = n - i >= 64 ? ~(__mmask64) 0 : (((__mmask64) 1 << (n - i)) - 1);
		__m512i		mm = _mm512_and_si512(_mm512_maskz_loadu_epi8(m, ma + i),
										  _mm512_maskz_loadu_epi8(m, mb + i));
		__m512i		x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i),
										 _mm512_maskz_loadu_epi8(m, b + i));

		d = _mm512_add_epi64(d, _mm512_popcnt_epi64(_mm512_and_si512(x, mm)));
		v = _mm512_add_epi64(v, _mm512_popcnt_epi64(mm));
	}
	*diff = (uint64_t) _mm512_reduce_add_epi64(d);
	*valid = (uint64_t) _mm512_reduce_add_epi64(v);
}

static KernelOps ops_avx512 = {
	DotF32Avx512, DotNormF32Avx512, L2SqF32Avx512,
	DotF16Avx512, DotNormF16Avx512, L2SqF16Avx512,
	DotI8Avx512, DotNormI8Avx512, L2SqI8Avx512,
	HammingPopcnt, MaskedHammingPopcnt	/* VPOPCNTDQ ones if present */
};

/* ---------------------------------------------------------------------
 * CPU feature detection
 * --------------------------------------------------------------------- */

/* XCR0: which register states the OS saves on context switch. */
static uint64_t
ReadXcr0(void)
{
	uint32_t	eax, edx;

	__asm__ volatile ("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
	return ((uint64_t) edx << 32) | eax;
}

/* CPU and OS support: 1 = AVX2+FMA+F16C, 2 = AVX-512 F/BW/VL too. */
int
KernelX86Level(int *vpopcntdq)
{
	unsigned	eax, ebx, ecx, edx;
	unsigned	ebx7 = 0, ecx7 = 0, edx7;
	uint64_t	xcr0;
	int			level = 0;

	*vpopcntdq = 0;
	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		return 0;
	/* OSXSAVE, AVX, FMA, F16C, POPCNT */
	if (!(ecx & (1u << 27)) || !(ecx & (1u << 28)) || !(ecx & (1u << 12)) ||
		!(ecx & (1u << 29)) || !(ecx & (1u << 23)))
		return 0;
	xcr0 = ReadXcr0();
	if ((xcr0 & 0x6) != 0x6)	/* XMM and YMM state */
		return 0;
	if (!__get_cpuid_count(7, 0, &eax, &ebx7, &ecx7, &edx7))
		return 0;
	if (ebx7 & (1u << 5))		/* AVX2 */
		level = 1;
	/* AVX512F, BW, VL and the opmask/ZMM states */
	if (level == 1 && (ebx7 & (1u << 16)) && (ebx7 & (1u << 30)) &&
		(ebx7 & (1u << 31)) && (xcr0 & 0xe6) == 0xe6)
	{
		level = 2;
		*vpopcntdq = (ecx7 & (1u << 14)) != 0;
	}
	return level;
}

/* The operation table of an x86 path the CPU supports. */
const KernelOps *
KernelX86Ops(KernelPath path)
{
	static int	bits_chosen = 0;

	if (path == KERNEL_PATH_AVX2)
		return &ops_avx2;
	if (!bits_chosen)
	{
		int			vpop;

		(void) KernelX86Level(&vpop);
		if (vpop)
		{
			ops_avx512.hamming = HammingAvx512;
			ops_avx512.masked_hamming = MaskedHammingAvx512;
		}
		bits_chosen = 1;
	}
	return &ops_avx512;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int KernelsX86Unused;

#endif							/* KERNELS_X86 */
