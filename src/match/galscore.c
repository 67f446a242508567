/*-------------------------------------------------------------------------
 *
 * galscore.c
 *		Probes as the gallery layer carries them: a blob (the probe's
 *		bytes and what kind of distance), and the builder that turns a
 *		blob into a kernel for one shape of template, in the searching
 *		backend or in a gallery helper.
 *
 * The gallery layer cannot call up into match/, so the builder is given
 * to it once, at load; helpers are forked from the postmaster and have it
 * too.  Blobs and the probes built from them hold biometric data: both
 * live in memory that is wiped with its context (ProbeAlloc), and the
 * gallery layer wipes its shared copies.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "gallery/gallery.h"
#include "match/match.h"
#include "match/probe.h"

typedef enum ScorerKind
{
	SCORER_VECTOR = 1,			/* floats under a metric */
	SCORER_HAMMING,				/* a bit code, no mask, no rotation (<~>) */
	SCORER_IRIS					/* masked, minimised over shifts */
} ScorerKind;

typedef struct ScorerBlob
{
	uint8		kind;
	uint8		metric;
	uint8		has_mask;
	uint8		pad;
	int32		max_shift;
	uint32		n;				/* floats, or bytes of code */
	/* then n floats, or n bytes of code (and n of mask) */
} ScorerBlob;

typedef struct Scorer
{
	ProbeHeader ph;				/* the vector or code, wiped with the context */
	KernelVectorProbe vp;
	uint8		format;
	const uint8 *code;
	size_t		nbytes;
	BitsProbe  *bp;
	EnvelopeHeader shape;
} Scorer;

static void
ScoreVector(void *arg, const uint8 *const *payloads, int n, double *dist)
{
	Scorer	   *sc = arg;

	KernelVectorDistances(&sc->vp, sc->format, payloads, n, dist);
}

static void
ScoreHamming(void *arg, const uint8 *const *payloads, int n, double *dist)
{
	Scorer	   *sc = arg;

	for (int i = 0; i < n; i++)
		dist[i] = KernelHammingFraction(sc->code, payloads[i], sc->nbytes);
}

static void
ScoreIris(void *arg, const uint8 *const *payloads, int n, double *dist)
{
	Scorer	   *sc = arg;
	const uint8 *masks[64];

	for (int done = 0; done < n; done += lengthof(masks))
	{
		int			m = Min(n - done, (int) lengthof(masks));

		for (int i = 0; i < m; i++)
			masks[i] = BitsTemplateMask(sc->bp, &sc->shape, payloads[done + i]);
		KernelBitsDistances(&sc->bp->kp, payloads + done, masks, m, dist + done);
	}
}

/* The gallery layer's builder: a kernel for templates of this shape. */
static void *
BuildScorer(const void *blob, Size len, const EnvelopeHeader *shape,
			MemoryContext mcxt, GalleryScoreFn *score)
{
	const ScorerBlob *b = blob;
	const uint8 *data = (const uint8 *) blob + sizeof(ScorerBlob);
	Scorer	   *sc = MemoryContextAllocZero(mcxt, sizeof(Scorer));
	Size		body;

	if (len < sizeof(ScorerBlob))
		ereport(ERROR,
				(errmsg_internal("biocrypt: gallery probe blob is truncated"),
				 errhidestmt(true), errhidecontext(true)));
	body = b->kind == SCORER_VECTOR ? sizeof(float) * b->n :
		(Size) b->n * (b->has_mask ? 2 : 1);
	if (len != sizeof(ScorerBlob) + body)
		ereport(ERROR,
				(errmsg_internal("biocrypt: gallery probe blob has the wrong length"),
				 errhidestmt(true), errhidecontext(true)));
	sc->shape = *shape;
	sc->format = shape->format;
	if (b->kind == SCORER_VECTOR)
	{
		float	   *x = ProbeAlloc(mcxt, &sc->ph, body);
		double		norm = 0;

		memcpy(x, data, body);
		for (uint32 i = 0; i < b->n; i++)
			norm += (double) x[i] * x[i];
		sc->vp.x = x;
		sc->vp.dims = b->n;
		sc->vp.norm = sqrt(norm);
		sc->vp.metric = (KernelMetric) b->metric;
		*score = ScoreVector;
	}
	else if (b->kind == SCORER_HAMMING)
	{
		uint8	   *code = ProbeAlloc(mcxt, &sc->ph, body);

		memcpy(code, data, body);
		sc->code = code;
		sc->nbytes = b->n;
		*score = ScoreHamming;
	}
	else
	{
		sc->bp = BuildBitsProbe(mcxt, NULL, data, b->has_mask ? data + b->n : NULL,
								b->n, b->max_shift, shape, NULL, 0);
		*score = ScoreIris;
	}
	return sc;
}

/* A blob in wiped memory of mcxt (its ProbeHeader ph) with room for body. */
static ScorerBlob *
NewBlob(MemoryContext mcxt, ProbeHeader *ph, Size body, Size *len)
{
	*len = sizeof(ScorerBlob) + body;
	return ProbeAlloc(mcxt, ph, *len);
}

/* The blob of a vector probe under its metric. */
void *
VectorScorerBlob(MemoryContext mcxt, ProbeHeader *ph, const KernelVectorProbe *kp,
				 Size *len)
{
	ScorerBlob *b = NewBlob(mcxt, ph, sizeof(float) * kp->dims, len);

	b->kind = SCORER_VECTOR;
	b->metric = (uint8) kp->metric;
	b->n = (uint32) kp->dims;
	memcpy(b + 1, kp->x, sizeof(float) * kp->dims);
	return b;
}

/*
 * The blob of a bit-code probe: masked and minimised over max_shift
 * column shifts (iris), or, with iris false, the plain fraction of
 * differing bits of <~>.
 */
void *
BitsScorerBlob(MemoryContext mcxt, ProbeHeader *ph, bool iris, const uint8 *code,
			   const uint8 *mask, size_t nbytes, int max_shift, Size *len)
{
	bool		has_mask = iris && mask != NULL;
	ScorerBlob *b = NewBlob(mcxt, ph, nbytes * (has_mask ? 2 : 1), len);

	b->kind = iris ? SCORER_IRIS : SCORER_HAMMING;
	b->has_mask = has_mask;
	b->max_shift = max_shift;
	b->n = (uint32) nbytes;
	memcpy(b + 1, code, nbytes);
	if (has_mask)
		memcpy((uint8 *) (b + 1) + nbytes, mask, nbytes);
	return b;
}

/* Give the gallery layer the builder, at load. */
void
GalleryScoreInit(void)
{
	GallerySetScorerBuilder(BuildScorer);
}
