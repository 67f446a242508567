/*-------------------------------------------------------------------------
 *
 * galsearch.c
 *		Searching a gallery: every entry scored, from the warm form (with
 *		the gallery helpers, where there are some) or from the index's
 *		pages, the best kept; then taken best first.
 *
 * The probe comes as a blob that the scorer builder registered by match/
 * turns into a kernel for the gallery's shape; this file decides which
 * entries are scored.  In a search of many templates, one enrolled for
 * other purposes, or of another shape than the probe, is skipped: never
 * scored (nor decrypted), counted, and returned after all the others when
 * the caller asks (an ORDER BY sorts its NULL last), as an expired one is.
 * Entries a session may not compare at all (no purpose, or one not
 * granted) are listed instead: a refusal applies only where the heap row
 * is visible, which the caller checks.
 *
 * Each participant keeps its best "take" candidates in a bounded max-heap;
 * their union holds the best take of all, and the candidates up to the
 * best of the participants' worst ones come in exactly this order.  When
 * the caller has taken those (it skipped rows it cannot see), a new round
 * keeps eight times as many after the last one taken.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sodium.h>

#include "access/genam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "storage/bufmgr.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "gallery/gallery_internal.h"
#include "template/template.h"

#define FIRST_TAKE			64
#define PARALLEL_MIN		(4 * GALLERY_CHUNK) /* entries worth a helper */

static void
AddException(GallerySearch *gs, const ItemPointerData *tid)
{
	if (gs->nexceptions == gs->exceptions_cap)
	{
		gs->exceptions_cap = Max(16, gs->exceptions_cap * 2);
		gs->exceptions = gs->exceptions == NULL ?
			MemoryContextAlloc(gs->mcxt, sizeof(ItemPointerData) * gs->exceptions_cap) :
			repalloc(gs->exceptions, sizeof(ItemPointerData) * gs->exceptions_cap);
	}
	gs->exceptions[gs->nexceptions++] = *tid;
}

/* What the session's purpose makes of a template with hdr's purposes. */
static GalleryVerdict
Verdict(const EnvelopeHeader *hdr)
{
	const char *purpose;

	switch (PurposeJudge(hdr, &purpose))
	{
		case PURPOSE_ALLOWED:
			return GALLERY_VERDICT_SCORE;
		case PURPOSE_NOT_ENROLLED:
			return GALLERY_VERDICT_SKIP;
		default:
			return GALLERY_VERDICT_REFUSE;
	}
}

/* The verdicts on the templates of each label set of slot s. */
static void
LabelVerdicts(const WarmSlot *s, uint8 *verdict)
{
	for (int l = 0; l < s->nlabelsets; l++)
	{
		const char *buf = WarmLabels(s) + (Size) l * GALLERY_LABELS_BYTES;
		EnvelopeHeader hdr;
		Size		off = 1;

		memset(&hdr, 0, sizeof(hdr));
		hdr.npurposes = (uint8) buf[0];
		for (int i = 0; i < hdr.npurposes; i++)
		{
			hdr.purpose_len[i] = (uint8) buf[off++];
			hdr.purpose[i] = buf + off;
			off += hdr.purpose_len[i];
		}
		verdict[l] = Verdict(&hdr);
	}
}

/* The first round's refused (and, if asked, expired) entries of slot s. */
static void
WarmExceptions(GallerySearch *gs, const WarmSlot *s, const RoundSpec *spec)
{
	const WarmEntry *e = WarmEntries(s);
	Size		n = (Size) (s->nblocks - 1) * s->per_block;

	for (Size j = 0; j < n; j++, e++)
	{
		if (!ItemPointerIsValid(&e->tid))
			continue;
		if (spec->verdict[e->labels & ~GALLERY_ENTRY_EXPIRED] == GALLERY_VERDICT_REFUSE ||
			(gs->expired_exceptions &&
			 ((e->labels & GALLERY_ENTRY_EXPIRED) || spec->now >= e->expires)))
			AddException(gs, &e->tid);
	}
}

/* Helpers for this many entries: as many as the session allows parallel workers. */
static int
HelpersWanted(Size nentries)
{
	if (nentries < PARALLEL_MIN)
		return 0;
	return Min(max_parallel_workers_per_gather, (int) (nentries / PARALLEL_MIN));
}

/* A fresh TopTake of cap candidates in mcxt. */
static void
InitTop(TopTake *top, int cap, MemoryContext mcxt)
{
	memset(top, 0, sizeof(*top));
	top->cap = cap;
	top->c = MemoryContextAllocHuge(mcxt, sizeof(GalleryCandidate) * Max(cap, 1));
}

/*
 * Join the participants' best into the search's candidates, sorted; those
 * up to the best of the full participants' worst come in exact order.
 */
static void
Merge(GallerySearch *gs, TopTake *tops, int ntops)
{
	int			total = 0;
	GalleryCandidate *bound = NULL;

	for (int t = 0; t < ntops; t++)
		total += tops[t].n;
	gs->cands = MemoryContextAllocHuge(gs->mcxt, sizeof(GalleryCandidate) * Max(total, 1));
	gs->ncands = 0;
	for (int t = 0; t < ntops; t++)
	{
		memcpy(gs->cands + gs->ncands, tops[t].c, sizeof(GalleryCandidate) * tops[t].n);
		gs->ncands += tops[t].n;
		/* a full participant may have left out candidates after its worst */
		if (tops[t].n == tops[t].cap && (bound == NULL || GalleryCandCmp(&tops[t].c[0], bound) < 0))
			bound = &tops[t].c[0];
	}
	qsort(gs->cands, gs->ncands, sizeof(GalleryCandidate), GalleryCandQsort);
	gs->complete = bound == NULL;
	gs->nsafe = gs->ncands;
	if (bound != NULL)
		while (gs->nsafe > 0 && GalleryCandCmp(&gs->cands[gs->nsafe - 1], bound) > 0)
			gs->nsafe--;
	gs->pos = 0;
}

/* Note a round's counts: only the first round's are the search's. */
static void
Count(GallerySearch *gs, const TopTake *tops, int ntops, int64 *denied)
{
	*denied = 0;
	for (int t = 0; t < ntops; t++)
	{
		*denied += tops[t].denied;
		if (gs->rounds == 1)
		{
			gs->compared += tops[t].compared;
			gs->expired += tops[t].expired;
			gs->purpose_skipped += tops[t].purpose_skipped;
			gs->shape_skipped += tops[t].shape_skipped;
		}
	}
}

/* One round over warm slot i (its lock held shared), helpers joining. */
static void
RoundWarm(GallerySearch *gs, int i, RoundSpec *spec)
{
	WarmSlot   *s = WarmSlotAt(i);
	Size		n = (Size) (s->nblocks > 1 ? s->nblocks - 1 : 0) * s->per_block;
	GalleryScoreFn score;
	void	   *arg;
	HelperTeam	team;
	TopTake		tops[GALLERY_HELPERS_MAX + 1];
	Size		chunk;
	int64		denied;
	int			ntops;

	if (gs->rounds == 1)
		pg_atomic_fetch_add_u64(&s->scans, 1);
	if (n == 0 || s->shape.format == 0)
	{
		Merge(gs, tops, 0);
		return;
	}
	spec->shape_fits = gs->shape(gs->arg, &s->shape);
	LabelVerdicts(s, spec->verdict);
	/* a probe of another shape scores nothing here: every entry is skipped */
	arg = spec->shape_fits ?
		gallery_scorer_builder(gs->blob, gs->blob_len, &s->shape, gs->mcxt, &score) : NULL;
	InitTop(&tops[0], spec->take, gs->mcxt);
	ntops = 1 + HelpersStart(&team, spec->shape_fits ? HelpersWanted(n) : 0, i, spec,
							 gs->blob, gs->blob_len, n);
	PG_TRY();
	{
		while (HelpersNextChunk(&team, &chunk))
		{
			CHECK_FOR_INTERRUPTS();
			GalleryScoreEntries(s, chunk * GALLERY_CHUNK,
								Min(n, (chunk + 1) * GALLERY_CHUNK), spec, score, arg, &tops[0]);
		}
		for (int t = 1; t < ntops; t++)
			InitTop(&tops[t], spec->take, gs->mcxt);
		HelpersFinish(&team, tops + 1);
	}
	PG_CATCH();
	{
		HelpersCancel(&team);
		PG_RE_THROW();
	}
	PG_END_TRY();
	gs->participants = Max(gs->participants, ntops);
	Count(gs, tops, ntops, &denied);
	if (gs->rounds == 1)
		pg_atomic_fetch_add_u64(&s->compared, gs->compared);
	if (gs->rounds == 1 && (denied > 0 || (gs->expired_exceptions && gs->expired > 0)))
		WarmExceptions(gs, s, spec);
	Merge(gs, tops, ntops);
}

typedef struct ColdRound
{
	GallerySearch *gs;
	const RoundSpec *spec;
	TopTake    *top;
	SecBuf	   *scratch;
	ScoreBatch	b;
	bool		has_last;
	EnvelopeHeader last;		/* the shape of the entries that came last */
	bool		fits;			/* does it fit the probe? */
	GalleryScoreFn score;
	void	   *arg;
} ColdRound;

/* Score the batch decrypted so far, and zero it. */
static void
ColdFlush(ColdRound *cr)
{
	GalleryFlushBatch(&cr->b, cr->score, cr->arg, cr->spec, cr->top);
	if (cr->scratch != NULL)
		sodium_memzero(cr->scratch->data, cr->scratch->cap);
}

/* Entry off of a page: checked, then decrypted into the batch. */
static void
ColdEntry(ColdRound *cr, Page page, OffsetNumber off)
{
	GallerySearch *gs = cr->gs;
	EnvelopeHeader hdr;
	GalleryEntry *ge = GalleryPageEntry(gs->index, page, off, &hdr);
	Size		slot;

	switch (Verdict(&hdr))
	{
		case GALLERY_VERDICT_SCORE:
			break;
		case GALLERY_VERDICT_SKIP:
			cr->top->purpose_skipped++;
			GalleryOfferUnscored(cr->top, cr->spec, &ge->heaptid);
			return;
		case GALLERY_VERDICT_REFUSE:
			if (gs->rounds == 1)
				AddException(gs, &ge->heaptid);
			return;
	}
	if (!cr->has_last || !GallerySameShape(&hdr, &cr->last))
	{
		/* what is batched was decrypted for the previous scorer */
		ColdFlush(cr);
		cr->has_last = true;
		cr->last = hdr;
		cr->fits = gs->shape(gs->arg, &hdr);
		cr->arg = cr->fits ?
			gallery_scorer_builder(gs->blob, gs->blob_len, &hdr, gs->mcxt, &cr->score) : NULL;
	}
	if (!cr->fits)
	{
		cr->top->shape_skipped++;
		GalleryOfferUnscored(cr->top, cr->spec, &ge->heaptid);
		return;
	}
	if (RetentionExpiredAt(&hdr, cr->spec->now))
	{
		if (gs->rounds == 1 && gs->expired_exceptions)
			AddException(gs, &ge->heaptid);
		GalleryOfferExpired(cr->top, cr->spec, &ge->heaptid);
		return;
	}
	slot = TYPEALIGN(64, hdr.payload_len);
	if (cr->scratch == NULL || cr->scratch->cap < slot * SCORE_BATCH)
	{
		ColdFlush(cr);
		if (cr->scratch != NULL)
			SecmemRelease(cr->scratch);
		cr->scratch = SecmemAcquire(slot * SCORE_BATCH);
	}
	DecryptEnvelope(ge->envelope, &hdr, cr->scratch->data + slot * cr->b.n);
	cr->b.payloads[cr->b.n] = cr->scratch->data + slot * cr->b.n;
	cr->b.tids[cr->b.n++] = ge->heaptid;
	if (cr->b.n == SCORE_BATCH)
		ColdFlush(cr);
}

/* One round over the index's pages: the gallery has no warm form. */
static void
RoundCold(GallerySearch *gs, const RoundSpec *spec)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(gs->index);
	ColdRound	cr;
	TopTake		top;
	int64		denied;

	memset(&cr, 0, sizeof(cr));
	cr.gs = gs;
	cr.spec = spec;
	cr.top = &top;
	InitTop(&top, spec->take, gs->mcxt);
	for (BlockNumber blkno = GALLERY_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = ReadBuffer(gs->index, blkno);
		Page		page;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
			ColdEntry(&cr, page, off);
		UnlockReleaseBuffer(buf);
	}
	ColdFlush(&cr);
	if (cr.scratch != NULL)
		SecmemRelease(cr.scratch);
	gs->participants = 1;
	Count(gs, &top, 1, &denied);
	Merge(gs, &top, 1);
}

/* One round: the best gs->take candidates after the last one taken. */
static void
Round(GallerySearch *gs)
{
	RoundSpec	spec;
	int			i = -1;

	memset(&spec, 0, sizeof(spec));
	spec.now = gs->now;
	spec.want_expired = gs->want_expired;
	spec.has_after = gs->has_last;
	spec.after = gs->last;
	spec.take = gs->take;
	gs->rounds++;
	gs->cands = NULL;
	if (biocrypt_enable_gallery)
		i = WarmAcquire(gs->index);
	if (i < 0)
	{
		RoundCold(gs, &spec);
		return;
	}
	gs->warm = true;
	PG_TRY();
	{
		RoundWarm(gs, i, &spec);
	}
	PG_FINALLY();
	{
		LWLockRelease(WarmSlotLock(i));
	}
	PG_END_TRY();
}

/*
 * Score the gallery.  The metapage stays pinned until GallerySearchEnd:
 * VACUUM waits for that pin before heap TIDs can be reused.
 */
void
GallerySearchRun(Relation index, GallerySearch *gs)
{
	if (gallery_scorer_builder == NULL)
		ereport(ERROR,
				(errmsg_internal("biocrypt: no gallery scorer is registered"),
				 errhidestmt(true), errhidecontext(true)));
	gs->index = index;
	gs->metabuf = ReadBuffer(index, GALLERY_METAPAGE_BLKNO);
	gs->mcxt = AllocSetContextCreate(CurrentMemoryContext, "biocrypt gallery search",
									 ALLOCSET_DEFAULT_SIZES);
	gs->take = gs->first_take > 0 ? gs->first_take : FIRST_TAKE;
	Round(gs);
}

/* The next candidate, best first; false when there are no more. */
bool
GallerySearchNext(GallerySearch *gs, GalleryCandidate *out)
{
	while (gs->pos >= gs->nsafe)
	{
		if (gs->complete)
			return false;
		gs->take = (int) Min((int64) gs->take * 8, (int64) (MaxAllocHugeSize / sizeof(GalleryCandidate) / 2));
		Round(gs);
	}
	*out = gs->cands[gs->pos++];
	gs->last = *out;
	gs->has_last = true;
	return true;
}

/* Release what the search holds: candidates, scorers, the metapage's pin. */
void
GallerySearchEnd(GallerySearch *gs)
{
	if (BufferIsValid(gs->metabuf))
		ReleaseBuffer(gs->metabuf);
	gs->metabuf = InvalidBuffer;
	/* the scorers' probe copies are wiped with their context */
	if (gs->mcxt != NULL)
		MemoryContextDelete(gs->mcxt);
	gs->mcxt = NULL;
	gs->cands = NULL;
	gs->exceptions = NULL;
	gs->ncands = gs->nsafe = gs->pos = 0;
	gs->nexceptions = gs->exceptions_cap = 0;
	gs->rounds = 0;
	gs->has_last = false;
	gs->complete = false;
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
