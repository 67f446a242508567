/*-------------------------------------------------------------------------
 *
 * galscan.c
 *		Scans of a biocrypt_gallery index: ORDER BY col <op> probe, best
 *		first, with what a comparison means here (probes, purposes,
 *		expiry, the audit, score budgets); and the heap look-ups that
 *		identify() shares.
 *
 * The first amgettuple scores every entry (gallery layer: the warm form,
 * or the index's pages) and takes candidates in order; the executor checks
 * each heap row's visibility, so MVCC is the database's, not the cache's.
 * The same checks as the operators' apply: the probe's shape, the
 * session's purpose (refused where a visible row may not be used for it),
 * expiry (expired entries come last, as the operator's NULL sorts), the
 * audit event of the statement and column, and, for roles that do not
 * administer biocrypt, a charge to the score budget for each row returned.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "gallery/gallery.h"
#include "match/probe.h"
#include "template/template.h"

/*
 * The executor computes the ORDER BY expression again for each row an index
 * scan returns (it stays in the scan's target list).  The operator then
 * finds the row here, by its envelope's tag, with the scan's probe, and
 * returns the distance already computed: no second decryption, no second
 * count in the audit, no second charge to a score budget.
 */
#define RECALLS 16

struct GalleryScanState;

typedef struct Recall
{
	struct GalleryScanState *scan;	/* NULL: unused */
	uint8		tag[ENVELOPE_TAG_SIZE];
	Size		len;
	uint8		cls;
	double		distance;
} Recall;

static Recall recalls[RECALLS];
static int	recall_next = 0;

typedef struct GalleryScanState
{
	GallerySearch gs;
	bool		searched;
	MemoryContext mcxt;			/* the probe's, wiped at the end */
	VectorProbe vp;				/* strategies 1 to 3 */
	ProbeHeader code;			/* strategy 4: the bit code */
	ProbeHeader blob;			/* the probe as the gallery layer takes it */
	AuditEvent *ev;
	HeapLook	look;
	bool		look_open;
	int			strategy;
	FunctionCallInfoBaseData fcinfo;	/* no flinfo: events by relation */
} GalleryScanState;

/* The last bytes of an envelope: its AEAD tag, unique to it. */
static const uint8 *
EnvelopeTag(bytea *tpl, Size *len)
{
	*len = VARSIZE_ANY_EXHDR(tpl);
	return (const uint8 *) VARDATA_ANY(tpl) + *len - ENVELOPE_TAG_SIZE;
}

/* Note a returned row for the operator that follows. */
static void
RecallNote(struct GalleryScanState *ss, bytea *tpl, const GalleryCandidate *c)
{
	Recall	   *r = &recalls[recall_next];

	recall_next = (recall_next + 1) % RECALLS;
	memcpy(r->tag, EnvelopeTag(tpl, &r->len), ENVELOPE_TAG_SIZE);
	r->scan = ss;
	r->cls = c->cls;
	r->distance = c->distance;
}

/* Forget a scan's rows. */
static void
RecallForget(const struct GalleryScanState *ss)
{
	for (int i = 0; i < RECALLS; i++)
		if (recalls[i].scan == ss)
			recalls[i].scan = NULL;
}

/* Is the probe the scan's own? */
static bool
SameProbe(const struct GalleryScanState *ss, int strategy, const void *probe, Size len)
{
	if (ss->strategy != strategy)
		return false;
	if (strategy == GALLERY_HAMMING_STRATEGY)
		return len == ss->code.secret_len && memcmp(probe, ss->code.secret, len) == 0;
	return len == sizeof(float) * ss->vp.kp.dims && memcmp(probe, ss->vp.kp.x, len) == 0;
}

/*
 * For the operator of strategy on tpl and probe: the distance a gallery
 * scan just returned this row with (*isnull for an expired one); false if
 * no scan did.
 */
bool
GalleryRecall(bytea *tpl, int strategy, const void *probe, Size probe_len,
			  double *distance, bool *isnull)
{
	Size		len;
	const uint8 *tag = EnvelopeTag(tpl, &len);

	for (int i = 0; i < RECALLS; i++)
	{
		Recall	   *r = &recalls[i];

		if (r->scan == NULL || r->len != len ||
			memcmp(r->tag, tag, ENVELOPE_TAG_SIZE) != 0 ||
			!SameProbe(r->scan, strategy, probe, probe_len))
			continue;
		*isnull = r->cls == GALLERY_CLASS_UNSCORED;
		*distance = r->cls == GALLERY_CLASS_SCORED ? r->distance : get_float8_nan();
		return true;
	}
	return false;
}

/* Begin looking up template column attnum of heap under snapshot. */
void
HeapLookBegin(HeapLook *hl, Relation heap, AttrNumber attnum, Snapshot snapshot)
{
	hl->heap = heap;
	hl->attnum = attnum;
	hl->snapshot = snapshot;
	hl->fetch = table_index_fetch_begin(heap);
	hl->slot = table_slot_create(heap, NULL);
}

/*
 * Is the row at tid visible, with a template?  Then *hdr is its parsed
 * header (valid until the next look-up).
 */
bool
HeapLookTemplate(HeapLook *hl, ItemPointer tid, EnvelopeHeader *hdr)
{
	bytea	   *tpl;

	return HeapLookEnvelope(hl, tid, hdr, &tpl);
}

/* The same, with the template itself. */
bool
HeapLookEnvelope(HeapLook *hl, const ItemPointerData *tid, EnvelopeHeader *hdr, bytea **tpl)
{
	ItemPointerData t = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	bool		isnull;
	Datum		d;

	ExecClearTuple(hl->slot);
	if (!table_index_fetch_tuple(hl->fetch, &t, hl->snapshot, hl->slot,
								 &call_again, &all_dead))
		return false;
	d = slot_getattr(hl->slot, hl->attnum, &isnull);
	if (isnull)
		return false;
	*tpl = DatumGetProtectedTemplateP(d);
	ParseTemplate(*tpl, hdr);
	return true;
}

void
HeapLookEnd(HeapLook *hl)
{
	ExecDropSingleTupleTableSlot(hl->slot);
	table_index_fetch_end(hl->fetch);
}

/*
 * The entries the search did not score for the session's purpose (or, under
 * biocrypt.on_expired = error, because they expired): where the heap row is
 * visible, the refusal is recorded and raised exactly as the operators do.
 */
void
GalleryCheckExceptions(HeapLook *hl, const GallerySearch *gs,
					   FunctionCallInfo fcinfo, AuditEvent *ev)
{
	for (int i = 0; i < gs->nexceptions; i++)
	{
		EnvelopeHeader hdr;

		if (!HeapLookTemplate(hl, &gs->exceptions[i], &hdr))
			continue;
		PurposeCheck(fcinfo, &hdr, ev);
		(void) CheckExpired(&hdr, gs->now);
	}
}

/* The operator class's strategy of a vector metric, and back. */
int
GalleryMetricStrategy(KernelMetric metric)
{
	return metric == KERNEL_METRIC_L2 ? GALLERY_L2_STRATEGY :
		metric == KERNEL_METRIC_COSINE ? GALLERY_COSINE_STRATEGY : GALLERY_NEG_IP_STRATEGY;
}

static KernelMetric
StrategyMetric(int strategy)
{
	return strategy == GALLERY_L2_STRATEGY ? KERNEL_METRIC_L2 :
		strategy == GALLERY_COSINE_STRATEGY ? KERNEL_METRIC_COSINE : KERNEL_METRIC_NEG_IP;
}

/*
 * Do templates of this shape fit the probe?  Those that do are scored:
 * on the record before that.  The others are skipped (a search of many).
 */
static bool
ScanShape(void *arg, const EnvelopeHeader *hdr)
{
	GalleryScanState *ss = arg;
	bool		fits = ss->strategy == GALLERY_HAMMING_STRATEGY ?
		BitsTemplateFits(hdr, ss->code.secret_len) :
		VectorTemplateFits(hdr, ss->vp.kp.dims);

	if (fits)
		AuditBegin(ss->ev);
	return fits;
}

/* The ORDER BY key's probe, prepared in the scan's wiped memory. */
static void
PrepareProbe(GalleryScanState *ss, ScanKey key)
{
	uint64		seen = 0;

	if (key->sk_flags & SK_ISNULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: probe must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	ss->gs.arg = ss;
	ss->gs.shape = ScanShape;
	if (key->sk_strategy == GALLERY_HAMMING_STRATEGY)
	{
		bytea	   *code = DatumGetByteaPP(key->sk_argument);

		ProbeAlloc(ss->mcxt, &ss->code, VARSIZE_ANY_EXHDR(code));
		memcpy(ss->code.secret, VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code));
		ss->gs.blob = BitsScorerBlob(ss->mcxt, &ss->blob, false, ss->code.secret, NULL,
									 ss->code.secret_len, 0, &ss->gs.blob_len);
		strlcpy(ss->ev->metric, "hamming", sizeof(ss->ev->metric));
		AuditAccessProbe(ss->ev, &seen, ss->code.secret, ss->code.secret_len, NULL, 0);
		return;
	}
	FillVectorProbe(ss->mcxt, &ss->vp, DatumGetArrayTypeP(key->sk_argument), NULL);
	ss->vp.kp.metric = StrategyMetric(key->sk_strategy);
	ss->gs.blob = VectorScorerBlob(ss->mcxt, &ss->blob, &ss->vp.kp, &ss->gs.blob_len);
	if (ss->ev->metric[0] == '\0')
		strlcpy(ss->ev->metric, MetricName(ss->vp.kp.metric), sizeof(ss->ev->metric));
	AuditAccessProbe(ss->ev, &seen, ss->vp.kp.x, sizeof(float) * ss->vp.kp.dims, NULL, 0);
}

/* Score the gallery for the scan's ORDER BY key, on the record first. */
static void
Search(IndexScanDesc scan, GalleryScanState *ss)
{
	Relation	heap = scan->heapRelation;
	AttrNumber	attnum = scan->indexRelation->rd_index->indkey.values[0];
	MemoryContext old = MemoryContextSwitchTo(ss->mcxt);

	if (scan->numberOfOrderBys != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("biocrypt: a gallery index orders by one distance operator"),
				 errhidestmt(true), errhidecontext(true)));
	ss->ev = AuditAccessRelation(&ss->fcinfo, AUDIT_OP_COMPARE, RelationGetRelid(heap),
								 get_attname(RelationGetRelid(heap), attnum, false));
	ss->strategy = scan->orderByData[0].sk_strategy;
	PrepareProbe(ss, &scan->orderByData[0]);
	ss->gs.now = GetCurrentTimestamp();
	ss->gs.want_expired = true;
	ss->gs.expired_exceptions = ExpiredIsError();
	GallerySearchRun(scan->indexRelation, &ss->gs);
	ss->ev->templates_compared += ss->gs.compared;
	ss->ev->expired_skipped += ss->gs.expired;
	ss->ev->purpose_skipped += ss->gs.purpose_skipped;
	AuditShapeSkipped(ss->ev, ss->gs.shape_skipped);
	HeapLookBegin(&ss->look, heap, attnum, scan->xs_snapshot);
	ss->look_open = true;
	GalleryCheckExceptions(&ss->look, &ss->gs, &ss->fcinfo, ss->ev);
	ss->searched = true;
	MemoryContextSwitchTo(old);
}

/*
 * A row about to be returned: false for one the scan's snapshot cannot
 * see.  Else it is noted for the operator that follows, and a role whose
 * scores are budgeted is charged for it, as the operator charges each row
 * it scores.
 */
static bool
Returning(GalleryScanState *ss, const GalleryCandidate *c)
{
	EnvelopeHeader hdr;
	bytea	   *tpl;

	if (!HeapLookEnvelope(&ss->look, (ItemPointer) &c->tid, &hdr, &tpl))
		return false;
	RecallNote(ss, tpl, c);
	if (c->cls != GALLERY_CLASS_UNSCORED && !ScoresExact())
		ScoreCharge(&ss->fcinfo, ss->ev, hdr.subject, hdr.subject_len);
	return true;
}

IndexScanDesc
GalleryBeginScan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	GalleryScanState *ss = palloc0(sizeof(GalleryScanState));

	ss->mcxt = AllocSetContextCreate(CurrentMemoryContext, "biocrypt gallery scan",
									 ALLOCSET_DEFAULT_SIZES);
	ss->gs.metabuf = InvalidBuffer;
	scan->opaque = ss;
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc0(sizeof(bool) * Max(norderbys, 1));
	return scan;
}

/* Forget the last search: its candidates, its heap look-ups. */
static void
ResetSearch(GalleryScanState *ss)
{
	RecallForget(ss);
	if (ss->look_open)
		HeapLookEnd(&ss->look);
	ss->look_open = false;
	GallerySearchEnd(&ss->gs);
	ss->searched = false;
	ss->gs.compared = ss->gs.expired = 0;
	ss->gs.warm = false;
}

void
GalleryRescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
			  int norderbys)
{
	GalleryScanState *ss = scan->opaque;

	ResetSearch(ss);
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
}

bool
GalleryGetTuple(IndexScanDesc scan, ScanDirection dir)
{
	GalleryScanState *ss = scan->opaque;
	GalleryCandidate c;

	if (!ss->searched)
		Search(scan, ss);
	while (GallerySearchNext(&ss->gs, &c))
	{
		if (!Returning(ss, &c))
			continue;
		scan->xs_heaptid = c.tid;
		scan->xs_recheck = false;
		scan->xs_recheckorderby = false;
		scan->xs_orderbynulls[0] = c.cls == GALLERY_CLASS_UNSCORED;
		scan->xs_orderbyvals[0] = c.cls == GALLERY_CLASS_SCORED ?
			Float8GetDatum(ScoreRound(c.distance)) : Float8GetDatum(get_float8_nan());
		return true;
	}
	return false;
}

void
GalleryEndScan(IndexScanDesc scan)
{
	GalleryScanState *ss = scan->opaque;

	ResetSearch(ss);
	MemoryContextDelete(ss->mcxt);
	pfree(ss);
	scan->opaque = NULL;
}
