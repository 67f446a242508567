/*-------------------------------------------------------------------------
 *
 * quantise.c
 *		Embeddings to and from a template's payload format (f32, f16, i8).
 *
 * f16 is IEEE half precision; i8 is symmetric with one scale per template
 * (stored first, as a float), so that the largest magnitude maps to 127.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "base/halfutils.h"
#include "base/quantise.h"

/*
 * Write hdr->dims values of x into out in hdr's format.  Returns false when
 * a value does not fit f16 (out is then partly written: the caller's buffer
 * is secret memory and zeroed by its owner).
 */
bool
QuantiseVector(const EnvelopeHeader *hdr, const float *x, uint8_t *out)
{
	int			n = (int) hdr->dims;

	if (hdr->format == ENVELOPE_FORMAT_F32)
		memcpy(out, x, sizeof(float) * n);
	else if (hdr->format == ENVELOPE_FORMAT_F16)
	{
		for (int i = 0; i < n; i++)
		{
			uint16_t	h = HalfFromFloat(x[i]);

			if ((h & 0x7fff) == HALF_INF)
				return false;
			memcpy(out + 2 * i, &h, 2);
		}
	}
	else
	{
		float		maxabs = 0;
		float		scale;

		for (int i = 0; i < n; i++)
			maxabs = fmaxf(maxabs, fabsf(x[i]));
		scale = maxabs / 127.0f;
		memcpy(out, &scale, sizeof(scale));
		for (int i = 0; i < n; i++)
		{
			long		q = scale > 0 ? lrintf(x[i] / scale) : 0;

			q = q < -127 ? -127 : (q > 127 ? 127 : q);
			out[4 + i] = (uint8_t) (int8_t) q;
		}
	}
	return true;
}

/* Expand a payload of hdr's format to hdr->dims floats. */
void
DequantiseVector(const EnvelopeHeader *hdr, const uint8_t *p, float *out)
{
	int			n = (int) hdr->dims;

	if (hdr->format == ENVELOPE_FORMAT_F32)
		memcpy(out, p, sizeof(float) * n);
	else if (hdr->format == ENVELOPE_FORMAT_F16)
	{
		for (int i = 0; i < n; i++)
		{
			uint16_t	h;

			memcpy(&h, p + 2 * i, 2);
			out[i] = HalfToFloat(h);
		}
	}
	else
	{
		float		scale;

		memcpy(&scale, p, sizeof(scale));
		for (int i = 0; i < n; i++)
			out[i] = (float) (int8_t) p[4 + i] * scale;
	}
}
