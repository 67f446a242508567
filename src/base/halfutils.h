/*-------------------------------------------------------------------------
 *
 * halfutils.h
 *		Portable IEEE 754 binary16 conversion (round to nearest, ties even).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_HALFUTILS_H
#define BIOCRYPT_HALFUTILS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define HALF_INF	0x7c00

/* Convert a float to binary16; finite values >= 65520 in magnitude give inf. */
static inline uint16_t
HalfFromFloat(float f)
{
	uint32_t	x;
	uint32_t	sign;
	uint32_t	absx;
	uint32_t	h;
	uint32_t	rem;

	memcpy(&x, &f, sizeof(x));
	sign = (x >> 16) & 0x8000;
	absx = x & 0x7fffffff;
	if (absx > 0x7f800000)
		return (uint16_t) (sign | 0x7e00);	/* NaN */
	if (absx >= 0x477ff000)
		return (uint16_t) (sign | HALF_INF);
	if (absx < 0x38800000)
	{
		/* subnormal result: scaling by 2^24 is exact, lrintf rounds to even */
		float		a;

		memcpy(&a, &absx, sizeof(a));
		return (uint16_t) (sign | (uint32_t) lrintf(a * 16777216.0f));
	}
	h = ((((absx >> 23) - 127 + 15) << 10) | ((absx & 0x7fffff) >> 13));
	rem = absx & 0x1fff;
	/* a carry out of the mantissa correctly bumps the exponent */
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
		h++;
	return (uint16_t) (sign | h);
}

/* Convert binary16 to float (exact). */
static inline float
HalfToFloat(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h >> 10) & 0x1f;
	uint32_t	mant = h & 0x3ff;
	uint32_t	bits;
	float		f;

	if (exp == 0)
	{
		f = (float) mant * (1.0f / 16777216.0f);
		return sign ? -f : f;
	}
	if (exp == 31)
		bits = sign | 0x7f800000 | (mant << 13);
	else
		bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
	memcpy(&f, &bits, sizeof(f));
	return f;
}

#endif							/* BIOCRYPT_HALFUTILS_H */
