/*-------------------------------------------------------------------------
 *
 * galsearch.c
 *		Searching a gallery: every entry scored, from the warm form or from
 *		the index's pages, then candidates taken best first.
 *
 * The caller's kernel scores batches of payloads; this file decides which
 * entries are scored.  An entry the session's purpose may not use is not
 * scored but listed: a refusal applies only where the heap row is visible,
 * which the caller checks.  An expired entry is never scored (and, in the
 * warm form, never decrypted); it is counted, and returned after all the
 * others when the caller asks (an ORDER BY sorts its NULL last).
 *
 * Candidates are taken in order (class, distance, place) in batches that
 * grow: the first holds 32, so an ORDER BY ... LIMIT 10 costs one pass
 * over the distances after scoring, and a scan that must skip invisible
 * rows goes on without sorting everything.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sodium.h>

#include "access/genam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "gallery/gallery_internal.h"
#include "template/template.h"

#define SCORE_BATCH			64
#define FIRST_TAKE			32
#define MOST_TAKE			8192

typedef struct ScoreBatch
{
	int			n;
	const uint8 *payloads[SCORE_BATCH];
	ItemPointerData tids[SCORE_BATCH];
	double		dist[SCORE_BATCH];
} ScoreBatch;

/*
 * The candidate arrays outlive a search: a search of a large gallery
 * writes megabytes of them, and fresh memory from the allocator would
 * fault in page by page every time.  They hold TIDs and distances only.
 */
static ItemPointerData *kept_tids = NULL;
static double *kept_dist = NULL;
static uint8 *kept_cls = NULL;
static int64 kept_cap = 0;
static bool kept_lent = false;	/* a search holds them */
static bool kept_callback = false;

/* No search outlives its transaction: an aborted one gives them back. */
static void
KeptAtXactEnd(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
		kept_lent = false;
}

/* Lend the kept arrays to gs, if free; false otherwise. */
static bool
Borrow(GallerySearch *gs)
{
	if (kept_lent || kept_tids == NULL)
		return false;
	gs->tids = kept_tids;
	gs->dist = kept_dist;
	gs->cls = kept_cls;
	gs->cap = kept_cap;
	gs->borrowed = true;
	kept_lent = true;
	return true;
}

/* Arrays of cap candidates: kept ones when free, else the caller's. */
static void
Allocate(GallerySearch *gs, int64 cap)
{
	MemoryContext mcxt = kept_lent ? CurrentMemoryContext : TopMemoryContext;

	gs->tids = MemoryContextAllocHuge(mcxt, sizeof(ItemPointerData) * cap);
	gs->dist = MemoryContextAllocHuge(mcxt, sizeof(double) * cap);
	gs->cls = MemoryContextAllocHuge(mcxt, cap);
	if (!kept_lent)
	{
		if (!kept_callback)
			RegisterXactCallback(KeptAtXactEnd, NULL);
		kept_callback = true;
		kept_tids = gs->tids;
		kept_lent = gs->borrowed = true;
	}
}

/* Room for need more candidates. */
static void
Grow(GallerySearch *gs, int64 need)
{
	int64		cap = Max(gs->cap, 1024);

	if (gs->n + need <= gs->cap)
		return;
	if (gs->tids == NULL && Borrow(gs) && gs->n + need <= gs->cap)
		return;
	while (cap < gs->n + need)
		cap *= 2;
	if (gs->tids == NULL)
		Allocate(gs, cap);
	else
	{
		gs->tids = repalloc_huge(gs->tids, sizeof(ItemPointerData) * cap);
		gs->dist = repalloc_huge(gs->dist, sizeof(double) * cap);
		gs->cls = repalloc_huge(gs->cls, cap);
	}
	gs->cap = cap;
}

static void
AddCandidate(GallerySearch *gs, const ItemPointerData *tid, GalleryClass cls, double d)
{
	Grow(gs, 1);
	gs->tids[gs->n] = *tid;
	gs->cls[gs->n] = (uint8) cls;
	gs->dist[gs->n] = d;
	gs->n++;
}

static void
AddException(GallerySearch *gs, const ItemPointerData *tid)
{
	if (gs->nexceptions == gs->exceptions_cap)
	{
		gs->exceptions_cap = Max(16, gs->exceptions_cap * 2);
		gs->exceptions = gs->exceptions == NULL ?
			palloc(sizeof(ItemPointerData) * gs->exceptions_cap) :
			repalloc(gs->exceptions, sizeof(ItemPointerData) * gs->exceptions_cap);
	}
	gs->exceptions[gs->nexceptions++] = *tid;
}

/* An expired entry: counted, listed or returned last as the caller asked. */
static void
AddExpired(GallerySearch *gs, const ItemPointerData *tid)
{
	gs->expired++;
	if (gs->expired_exceptions)
		AddException(gs, tid);
	if (gs->want_expired)
		AddCandidate(gs, tid, GALLERY_CLASS_EXPIRED, 0);
}

/* Score the batch; NaN distances become their own class. */
static void
FlushBatch(GallerySearch *gs, ScoreBatch *b)
{
	int64		at;

	if (b->n == 0)
		return;
	Grow(gs, b->n);
	at = gs->n;
	gs->score(gs->arg, b->payloads, b->n, gs->dist + at);
	memcpy(gs->tids + at, b->tids, sizeof(ItemPointerData) * b->n);
	for (int i = 0; i < b->n; i++)
		gs->cls[at + i] = isnan(gs->dist[at + i]) ? GALLERY_CLASS_NAN : GALLERY_CLASS_SCORED;
	gs->n += b->n;
	gs->compared += b->n;
	b->n = 0;
}

/* May the session use templates of label set l of slot s? */
static void
LabelVerdicts(const WarmSlot *s, bool *allowed)
{
	for (int l = 0; l < s->nlabelsets; l++)
	{
		const char *buf = WarmLabels(s) + (Size) l * GALLERY_LABELS_BYTES;
		EnvelopeHeader hdr;
		const char *purpose;
		Size		off = 1;

		memset(&hdr, 0, sizeof(hdr));
		hdr.npurposes = (uint8) buf[0];
		for (int i = 0; i < hdr.npurposes; i++)
		{
			hdr.purpose_len[i] = (uint8) buf[off++];
			hdr.purpose[i] = buf + off;
			off += hdr.purpose_len[i];
		}
		allowed[l] = PurposeJudge(&hdr, &purpose) == PURPOSE_ALLOWED;
	}
}

/* Score the warm form of slot i (its lock held shared). */
static void
ScoreWarm(GallerySearch *gs, int i)
{
	WarmSlot   *s = WarmSlotAt(i);
	const WarmEntry *e = WarmEntries(s);
	const uint8 *payloads = WarmPayloads(s);
	bool		allowed[GALLERY_LABEL_SETS];
	Size		n;
	ScoreBatch	b;
	int64		before = gs->compared;

	pg_atomic_fetch_add_u64(&s->scans, 1);
	if (s->nblocks <= 1 || s->shape.format == 0)
		return;
	gs->shape(gs->arg, &s->shape);
	LabelVerdicts(s, allowed);
	n = (Size) (s->nblocks - 1) * s->per_block;
	Grow(gs, s->templates);
	b.n = 0;
	for (Size j = 0; j < n; j++, e++)
	{
		if (!ItemPointerIsValid(&e->tid))
			continue;
		if (!allowed[e->labels & ~GALLERY_ENTRY_EXPIRED])
			AddException(gs, &e->tid);
		else if ((e->labels & GALLERY_ENTRY_EXPIRED) || gs->now >= e->expires)
			AddExpired(gs, &e->tid);
		else
		{
			b.payloads[b.n] = payloads + j * s->slot_size;
			b.tids[b.n++] = e->tid;
			if (b.n == SCORE_BATCH)
				FlushBatch(gs, &b);
		}
	}
	FlushBatch(gs, &b);
	pg_atomic_fetch_add_u64(&s->compared, gs->compared - before);
}

static bool
SameShape(const EnvelopeHeader *a, const EnvelopeHeader *b)
{
	return a->format == b->format && a->dims == b->dims && a->flags == b->flags &&
		a->rows == b->rows && a->cols == b->cols && a->bits_per_cell == b->bits_per_cell;
}

/*
 * Score one page's entries, decrypted into the locked batch memory; the
 * batch is scored and zeroed whenever the shape changes or it fills.
 */
static void
ScoreColdPage(GallerySearch *gs, Page page, SecBuf **scratch, ScoreBatch *b,
			  EnvelopeHeader *last)
{
	OffsetNumber max = PageGetMaxOffsetNumber(page);

	for (OffsetNumber off = FirstOffsetNumber; off <= max; off++)
	{
		ItemId		iid = PageGetItemId(page, off);
		GalleryEntry *ge = (GalleryEntry *) PageGetItem(page, iid);
		EnvelopeHeader hdr;
		const char *purpose;
		Size		slot;

		if (EnvelopeParse(ge->envelope, ItemIdGetLength(iid) - GALLERY_ENTRY_HEADER,
						  &hdr) != ENVELOPE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("biocrypt: a gallery index holds a damaged template"),
					 errhint("REINDEX it."),
					 errhidestmt(true), errhidecontext(true)));
		if (b->n > 0 && !SameShape(&hdr, last))
			FlushBatch(gs, b);
		gs->shape(gs->arg, &hdr);
		*last = hdr;
		if (PurposeJudge(&hdr, &purpose) != PURPOSE_ALLOWED)
		{
			AddException(gs, &ge->heaptid);
			continue;
		}
		if (RetentionExpiredAt(&hdr, gs->now))
		{
			AddExpired(gs, &ge->heaptid);
			continue;
		}
		slot = TYPEALIGN(64, hdr.payload_len);
		if (*scratch == NULL || (*scratch)->cap < slot * SCORE_BATCH)
		{
			FlushBatch(gs, b);
			if (*scratch != NULL)
				SecmemRelease(*scratch);
			*scratch = SecmemAcquire(slot * SCORE_BATCH);
		}
		DecryptEnvelope(ge->envelope, &hdr, (*scratch)->data + slot * b->n);
		b->payloads[b->n] = (*scratch)->data + slot * b->n;
		b->tids[b->n++] = ge->heaptid;
		if (b->n == SCORE_BATCH)
		{
			FlushBatch(gs, b);
			sodium_memzero((*scratch)->data, (*scratch)->cap);
		}
	}
}

/* Score every entry of the index's pages: the gallery has no warm form. */
static void
ScoreCold(Relation index, GallerySearch *gs)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	SecBuf	   *scratch = NULL;
	ScoreBatch	b;
	EnvelopeHeader last;

	b.n = 0;
	memset(&last, 0, sizeof(last));
	for (BlockNumber blkno = GALLERY_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = ReadBuffer(index, blkno);

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		ScoreColdPage(gs, BufferGetPage(buf), &scratch, &b, &last);
		UnlockReleaseBuffer(buf);
	}
	FlushBatch(gs, &b);
	if (scratch != NULL)
		SecmemRelease(scratch);
}

/*
 * Score the gallery.  The metapage stays pinned until GallerySearchEnd:
 * VACUUM waits for that pin before heap TIDs can be reused.
 */
void
GallerySearchRun(Relation index, GallerySearch *gs)
{
	int			i = -1;

	gs->metabuf = ReadBuffer(index, GALLERY_METAPAGE_BLKNO);
	if (biocrypt_enable_gallery)
		i = WarmAcquire(index);
	if (i < 0)
	{
		ScoreCold(index, gs);
		return;
	}
	gs->warm = true;
	PG_TRY();
	{
		ScoreWarm(gs, i);
	}
	PG_FINALLY();
	{
		LWLockRelease(WarmSlotLock(i));
	}
	PG_END_TRY();
}

/* Order of candidates a and b: class, distance, place. */
static int
Cmp(const GallerySearch *gs, int64 a, int64 b)
{
	if (gs->cls[a] != gs->cls[b])
		return gs->cls[a] < gs->cls[b] ? -1 : 1;
	if (gs->cls[a] == GALLERY_CLASS_SCORED && gs->dist[a] != gs->dist[b])
		return gs->dist[a] < gs->dist[b] ? -1 : 1;
	return a < b ? -1 : (a > b ? 1 : 0);
}

static int
CmpArg(const void *a, const void *b, void *arg)
{
	return Cmp((const GallerySearch *) arg, *(const int64 *) a, *(const int64 *) b);
}

/* Restore the max-heap of the batch downwards from i. */
static void
SiftDown(GallerySearch *gs, int n, int i)
{
	int64	   *h = gs->batch;

	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					w = i;
		int64		tmp;

		if (l < n && Cmp(gs, h[l], h[w]) > 0)
			w = l;
		if (r < n && Cmp(gs, h[r], h[w]) > 0)
			w = r;
		if (w == i)
			return;
		tmp = h[i];
		h[i] = h[w];
		h[w] = tmp;
		i = w;
	}
}

/* The next batch: the best candidates after the last one taken. */
static void
Refill(GallerySearch *gs)
{
	int			cap = gs->started ? Min(gs->batch_size * 2, MOST_TAKE) : FIRST_TAKE;
	int64	   *h;
	int			n = 0;

	if (gs->batch == NULL || gs->batch_size < cap)
		gs->batch = gs->batch == NULL ? palloc(sizeof(int64) * cap) :
			repalloc(gs->batch, sizeof(int64) * cap);
	h = gs->batch;
	for (int64 p = 0; p < gs->n; p++)
	{
		if (gs->started && Cmp(gs, p, gs->last) <= 0)
			continue;
		if (n < cap)
		{
			int			i = n++;

			h[i] = p;
			while (i > 0 && Cmp(gs, h[i], h[(i - 1) / 2]) > 0)
			{
				int64		tmp = h[i];

				h[i] = h[(i - 1) / 2];
				h[(i - 1) / 2] = tmp;
				i = (i - 1) / 2;
			}
		}
		else if (Cmp(gs, p, h[0]) < 0)
		{
			h[0] = p;
			SiftDown(gs, n, 0);
		}
	}
	qsort_arg(h, n, sizeof(int64), CmpArg, gs);
	gs->nbatch = n;
	gs->batch_pos = 0;
	gs->batch_size = cap;
	gs->started = true;
}

/* The next candidate, best first; false when there are no more. */
bool
GallerySearchNext(GallerySearch *gs, GalleryCandidate *out)
{
	int64		p;

	if (gs->batch_pos >= gs->nbatch)
	{
		if (gs->started && gs->nbatch < gs->batch_size)
			return false;
		Refill(gs);
		if (gs->nbatch == 0)
			return false;
	}
	p = gs->batch[gs->batch_pos++];
	gs->last = p;
	gs->taken++;
	out->tid = gs->tids[p];
	out->cls = (GalleryClass) gs->cls[p];
	out->distance = gs->dist[p];
	return true;
}

/* Release what the search holds: candidates, and the metapage's pin. */
void
GallerySearchEnd(GallerySearch *gs)
{
	if (BufferIsValid(gs->metabuf))
		ReleaseBuffer(gs->metabuf);
	gs->metabuf = InvalidBuffer;
	if (gs->borrowed)
	{
		/* give them back, grown perhaps */
		kept_tids = gs->tids;
		kept_dist = gs->dist;
		kept_cls = gs->cls;
		kept_cap = gs->cap;
		kept_lent = false;
		gs->borrowed = false;
	}
	else if (gs->tids != NULL)
	{
		pfree(gs->tids);
		pfree(gs->dist);
		pfree(gs->cls);
	}
	if (gs->batch != NULL)
		pfree(gs->batch);
	if (gs->exceptions != NULL)
		pfree(gs->exceptions);
	gs->tids = NULL;
	gs->dist = NULL;
	gs->cls = NULL;
	gs->batch = NULL;
	gs->exceptions = NULL;
	gs->n = gs->cap = 0;
	gs->nexceptions = gs->exceptions_cap = 0;
	gs->nbatch = gs->batch_pos = 0;
	gs->started = false;
}

/*
 * A valid, complete gallery index on the single column attnum of heap,
 * or InvalidOid.
 */
Oid
GalleryIndexOf(Relation heap, AttrNumber attnum)
{
	Oid			am = get_index_am_oid("biocrypt_gallery", true);
	List	   *indexes = RelationGetIndexList(heap);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);

		if (!OidIsValid(found) && index->rd_rel->relam == am &&
			index->rd_index->indisvalid && index->rd_index->indnatts == 1 &&
			index->rd_index->indkey.values[0] == attnum &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
			found = RelationGetRelid(index);
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	return found;
}
