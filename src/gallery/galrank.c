/*-------------------------------------------------------------------------
 *
 * galrank.c
 *		Ranking candidates of a gallery search: their order, the bounded
 *		heap each participant keeps of the best, and the scoring of warm
 *		entries in batches, as the searching backend and the gallery
 *		helpers both do it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "gallery/gallery_internal.h"

GalleryScorerBuilder gallery_scorer_builder = NULL;

/* match/ says how a probe blob becomes a kernel (also in the helpers). */
void
GallerySetScorerBuilder(GalleryScorerBuilder builder)
{
	gallery_scorer_builder = builder;
}

/* Order of candidates: class, distance, heap TID. */
int
GalleryCandCmp(const GalleryCandidate *a, const GalleryCandidate *b)
{
	if (a->cls != b->cls)
		return a->cls < b->cls ? -1 : 1;
	if (a->cls == GALLERY_CLASS_SCORED && a->distance != b->distance)
		return a->distance < b->distance ? -1 : 1;
	return ItemPointerCompare((ItemPointer) &a->tid, (ItemPointer) &b->tid);
}

int
GalleryCandQsort(const void *a, const void *b)
{
	return GalleryCandCmp(a, b);
}

/* Restore the max-heap downwards from i. */
static void
SiftDown(GalleryCandidate *h, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					w = i;
		GalleryCandidate tmp;

		if (l < n && GalleryCandCmp(&h[l], &h[w]) > 0)
			w = l;
		if (r < n && GalleryCandCmp(&h[r], &h[w]) > 0)
			w = r;
		if (w == i)
			return;
		tmp = h[i];
		h[i] = h[w];
		h[w] = tmp;
		i = w;
	}
}

/* Offer a candidate to the participant's best: kept if among them. */
static void
Offer(TopTake *top, const RoundSpec *spec, const GalleryCandidate *c)
{
	if (spec->has_after && GalleryCandCmp(c, &spec->after) <= 0)
		return;
	if (top->n < top->cap)
	{
		int			i = top->n++;

		top->c[i] = *c;
		while (i > 0 && GalleryCandCmp(&top->c[i], &top->c[(i - 1) / 2]) > 0)
		{
			GalleryCandidate tmp = top->c[i];

			top->c[i] = top->c[(i - 1) / 2];
			top->c[(i - 1) / 2] = tmp;
			i = (i - 1) / 2;
		}
	}
	else if (top->cap > 0 && GalleryCandCmp(c, &top->c[0]) < 0)
	{
		top->c[0] = *c;
		SiftDown(top->c, top->n, 0);
	}
}

/* Score the batch and offer its candidates; NaN is a class of its own. */
void
GalleryFlushBatch(ScoreBatch *b, GalleryScoreFn score, void *arg, const RoundSpec *spec,
		   TopTake *top)
{
	if (b->n == 0)
		return;
	score(arg, b->payloads, b->n, b->dist);
	for (int i = 0; i < b->n; i++)
	{
		GalleryCandidate c;

		c.tid = b->tids[i];
		c.cls = isnan(b->dist[i]) ? GALLERY_CLASS_NAN : GALLERY_CLASS_SCORED;
		c.distance = b->dist[i];
		Offer(top, spec, &c);
	}
	top->compared += b->n;
	b->n = 0;
}

/* An expired entry: counted, and a candidate after all others if wanted. */
void
GalleryOfferExpired(TopTake *top, const RoundSpec *spec, const ItemPointerData *tid)
{
	top->expired++;
	GalleryOfferUnscored(top, spec, tid);
}

/* An entry not scored: a candidate after all others, if wanted. */
void
GalleryOfferUnscored(TopTake *top, const RoundSpec *spec, const ItemPointerData *tid)
{
	GalleryCandidate c;

	if (!spec->want_expired)
		return;
	c.tid = *tid;
	c.cls = GALLERY_CLASS_UNSCORED;
	c.distance = 0;
	Offer(top, spec, &c);
}

/*
 * Score warm entries [first, last) of slot s into top: by this backend
 * or by a gallery helper (the leader holds the slot's lock meanwhile).
 */
void
GalleryScoreEntries(const WarmSlot *s, Size first, Size last, const RoundSpec *spec,
					GalleryScoreFn score, void *arg, TopTake *top)
{
	const WarmEntry *e = WarmEntries(s) + first;
	const uint8 *payloads = WarmPayloads(s);
	ScoreBatch	b;

	b.n = 0;
	for (Size j = first; j < last; j++, e++)
	{
		GalleryVerdict v;

		if (!ItemPointerIsValid(&e->tid))
			continue;
		v = spec->verdict[e->labels & ~GALLERY_ENTRY_EXPIRED];
		if (v == GALLERY_VERDICT_REFUSE)
			top->denied++;
		else if (v == GALLERY_VERDICT_SKIP)
		{
			top->purpose_skipped++;
			GalleryOfferUnscored(top, spec, &e->tid);
		}
		else if (!spec->shape_fits)
		{
			top->shape_skipped++;
			GalleryOfferUnscored(top, spec, &e->tid);
		}
		else if ((e->labels & GALLERY_ENTRY_EXPIRED) || spec->now >= e->expires)
			GalleryOfferExpired(top, spec, &e->tid);
		else
		{
			b.payloads[b.n] = payloads + j * s->slot_size;
			b.tids[b.n++] = e->tid;
			if (b.n == SCORE_BATCH)
				GalleryFlushBatch(&b, score, arg, spec, top);
		}
	}
	GalleryFlushBatch(&b, score, arg, spec, top);
}

