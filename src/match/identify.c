/*-------------------------------------------------------------------------
 *
 * identify.c
 *		1:N search: biocrypt.identify() over a relation's template column.
 *
 * identify() runs "SELECT col FROM rel" through SPI as the calling role, so
 * table and column privileges, row-level security and MVCC apply exactly
 * as for the caller's own query.  A DestReceiver takes each row straight
 * from the executor's slot (no copy of the tuple): the header is checked,
 * expired templates are skipped without decryption, and the rest are
 * decrypted into a batch of locked slots.  Each full batch goes through the
 * kernels' batch entry point, its distances feed a bounded max-heap of the
 * k best, and the batch memory is zeroed before it is reused.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sodium.h>

#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "gallery/gallery.h"
#include "match/match.h"
#include "match/probe.h"
#include "template/template.h"

#define IDENTIFY_MAX_K			10000
#define IDENTIFY_BATCH_BYTES	(256 * 1024)
#define IDENTIFY_MAX_BATCH		64

typedef struct TopEntry
{
	double		distance;
	char	   *subject;		/* UTF-8, NUL-terminated */
} TopEntry;

typedef struct IdentifyState
{
	DestReceiver pub;			/* must be first */
	bool		bits;			/* bytea probe (else real[]) */
	KernelVectorProbe vprobe;
	BitsProbe  *bprobe;
	const uint8 *bcode;			/* bit probe arguments, to rebuild bprobe */
	const uint8 *bmask;
	size_t		bnbytes;
	int			max_shift;
	bool		has_max;
	double		max_distance;
	TimestampTz now;
	MemoryContext rowcxt;
	MemoryContext mcxt;
	/* the batch being filled */
	SecBuf	   *scratch;
	size_t		slot_size;
	int			nbatch;
	int			batch_cap;
	uint8		format;
	ProbeHeader blob;			/* the probe as the gallery layer takes it */
	const uint8 *payloads[IDENTIFY_MAX_BATCH];
	const uint8 *masks[IDENTIFY_MAX_BATCH];
	char		subjects[IDENTIFY_MAX_BATCH][ENVELOPE_MAX_SUBJECT + 1];
	double		dist[IDENTIFY_MAX_BATCH];
	/* the k best so far: a max-heap on (distance, subject) */
	int			k;
	int			ntop;
	TopEntry   *top;
	uint64		compared;
	uint64		expired_skipped;
	const char *metric_name;	/* for the audit */
	AuditEvent *audit;
	FunctionCallInfo fcinfo;	/* for purpose refusals */
	bool		ranks_only;		/* identify_ranks(): no distances returned */
} IdentifyState;

/* Does a rank worse than b (larger distance, ties by subject)? */
static bool
Worse(const TopEntry *a, const TopEntry *b)
{
	if (a->distance != b->distance)
		return a->distance > b->distance;
	return strcmp(a->subject, b->subject) > 0;
}

/* Restore the heap property downwards from i. */
static void
SiftDown(IdentifyState *st, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					w = i;
		TopEntry	tmp;

		if (l < st->ntop && Worse(&st->top[l], &st->top[w]))
			w = l;
		if (r < st->ntop && Worse(&st->top[r], &st->top[w]))
			w = r;
		if (w == i)
			return;
		tmp = st->top[i];
		st->top[i] = st->top[w];
		st->top[w] = tmp;
		i = w;
	}
}

/* Offer one candidate to the top-k heap. */
static void
TopOffer(IdentifyState *st, double distance, const char *subject)
{
	TopEntry	cand = {distance, (char *) subject};

	if (isnan(distance) || (st->has_max && distance > st->max_distance))
		return;
	if (st->ntop == st->k && !Worse(&st->top[0], &cand))
		return;
	cand.subject = MemoryContextStrdup(st->mcxt, subject);
	if (st->ntop < st->k)
	{
		/* sift the new entry up */
		int			i = st->ntop++;

		st->top[i] = cand;
		while (i > 0 && Worse(&st->top[i], &st->top[(i - 1) / 2]))
		{
			TopEntry	tmp = st->top[i];

			st->top[i] = st->top[(i - 1) / 2];
			st->top[(i - 1) / 2] = tmp;
			i = (i - 1) / 2;
		}
		return;
	}
	pfree(st->top[0].subject);
	st->top[0] = cand;
	SiftDown(st, 0);
}

/* Compare the batch with the probe, feed the heap, zero the batch. */
static void
FlushBatch(IdentifyState *st)
{
	if (st->nbatch == 0)
		return;
	if (st->bits)
		KernelBitsDistances(&st->bprobe->kp, st->payloads, st->masks,
							st->nbatch, st->dist);
	else
		KernelVectorDistances(&st->vprobe, st->format, st->payloads,
							  st->nbatch, st->dist);
	for (int i = 0; i < st->nbatch; i++)
		TopOffer(st, st->dist[i], st->subjects[i]);
	sodium_memzero(st->scratch->data, st->slot_size * st->nbatch);
	st->nbatch = 0;
}

/* Make the batch fit templates of this format and payload size. */
static void
PrepareBatch(IdentifyState *st, const EnvelopeHeader *hdr)
{
	size_t		slot = TYPEALIGN(64, hdr->payload_len);

	if (st->nbatch > 0 && st->slot_size == slot && st->format == hdr->format &&
		st->nbatch < st->batch_cap)
		return;
	FlushBatch(st);
	st->format = hdr->format;
	if (st->slot_size != slot)
	{
		st->slot_size = slot;
		st->batch_cap = Max(1, Min(IDENTIFY_MAX_BATCH,
								   (int) (IDENTIFY_BATCH_BYTES / slot)));
		if (st->scratch != NULL)
			SecmemRelease(st->scratch);
		st->scratch = SecmemAcquire(slot * st->batch_cap);
	}
}

/* Does a template's kind and size fit the probe? */
static bool
ShapeFits(const IdentifyState *st, const EnvelopeHeader *hdr)
{
	return st->bits ? BitsTemplateFits(hdr, st->bnbytes) :
		VectorTemplateFits(hdr, st->vprobe.dims);
}

/* Ready the probe for a template that fits; rebuilds a bit probe if needed. */
static void
PrepareShape(IdentifyState *st, const EnvelopeHeader *hdr)
{
	if (!st->bits)
		return;
	if (st->bprobe == NULL || !BitsProbeFits(st->bprobe, hdr))
	{
		/* rotations depend on the layout: flush before replacing them */
		FlushBatch(st);
		st->bprobe = BuildBitsProbe(st->mcxt, st->bprobe, st->bcode, st->bmask,
									st->bnbytes, st->max_shift, hdr, NULL, 0);
	}
}

/*
 * A sequential scan returns a page's tuples at falling addresses, which
 * the CPU's prefetcher does not follow: ask for the bytes just below this
 * tuple, where the next one usually lies, while this one is decrypted.
 * (A prefetch never faults, so reaching below the page is harmless.)
 */
static inline void
PrefetchNextTuple(bytea *tpl)
{
	const char *p = (const char *) tpl;
	Size		len = VARSIZE_ANY(tpl) + 128;

	for (Size off = 64; off <= len; off += 64)
		__builtin_prefetch(p - off, 0, 0);
}

/* Into the batch with a template that may be compared, unless it expired. */
static void
Take(IdentifyState *st, bytea *tpl, const EnvelopeHeader *hdr)
{
	uint8	   *dst;

	if (CheckExpired(hdr, st->now))
	{
		st->expired_skipped++;
		st->audit->expired_skipped++;
		return;
	}
	PrepareShape(st, hdr);
	AuditBegin(st->audit);
	PrepareBatch(st, hdr);
	dst = st->scratch->data + st->slot_size * st->nbatch;
	DecryptTemplate(tpl, hdr, dst);
	st->payloads[st->nbatch] = dst;
	st->masks[st->nbatch] = st->bits ? BitsTemplateMask(st->bprobe, hdr, dst) : NULL;
	memcpy(st->subjects[st->nbatch], hdr->subject, hdr->subject_len);
	st->subjects[st->nbatch][hdr->subject_len] = '\0';
	st->nbatch++;
	st->compared++;
	st->audit->templates_compared++;
}

/* DestReceiver: one row of "SELECT col FROM rel". */
static bool
IdentifyReceive(TupleTableSlot *slot, DestReceiver *self)
{
	IdentifyState *st = (IdentifyState *) self;
	MemoryContext old;
	EnvelopeHeader hdr;
	bytea	   *tpl;
	bool		isnull;
	Datum		d = slot_getattr(slot, 1, &isnull);

	if (isnull)
		return true;
	old = MemoryContextSwitchTo(st->rowcxt);
	tpl = DatumGetProtectedTemplateP(d);
	PrefetchNextTuple(tpl);
	ParseTemplateForDecrypt(tpl, &hdr);
	/* a search of many skips what it may not or cannot compare, counted */
	if (!AuditSearchSkips(st->fcinfo, &hdr, ShapeFits(st, &hdr), st->audit))
		Take(st, tpl, &hdr);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rowcxt);
	return true;
}

/* DestReceiver callbacks with nothing to do. */
static void
IdentifyStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
IdentifyShutdown(DestReceiver *self)
{
}

static void
IdentifyDestroy(DestReceiver *self)
{
}

/*
 * A column that declares its shape (protected_template(512)) holds no
 * template of another: a probe that does not fit it would skip them all,
 * so it is refused.
 */
static void
CheckProbeFitsColumn(const IdentifyState *st, Oid relid, AttrNumber attnum)
{
	uint32		dims;
	uint8		format;
	size_t		probe_dims = st->bits ? st->bnbytes * 8 : (size_t) st->vprobe.dims;
	Oid			type;
	int32		typmod;
	Oid			collation;

	get_atttypetypmodcoll(relid, attnum, &type, &typmod, &collation);
	if (!TemplateTypmodShape(typmod, &dims, &format))
		return;
	if (format != 0 && (format == ENVELOPE_FORMAT_BITS) != st->bits)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("biocrypt: column \"%s\" holds %s, and the probe is %s",
						get_attname(relid, attnum, false),
						st->bits ? "embeddings" : "bit codes",
						st->bits ? "a bit code" : "an embedding"),
				 errhidestmt(true), errhidecontext(true)));
	if (probe_dims != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("biocrypt: the probe has %zu dimensions but column \"%s\" takes %u",
						probe_dims, get_attname(relid, attnum, false), dims),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * "SELECT col FROM schema.rel", after checking col is a template column
 * that the probe fits.
 */
static char *
GalleryQuery(const IdentifyState *st, Oid relid, Name col)
{
	CheckProbeFitsColumn(st, relid, TemplateColumnAttnum(relid, NameStr(*col)));
	return psprintf("SELECT %s FROM %s", quote_identifier(NameStr(*col)),
					RelationQualifiedName(relid));
}

/*
 * Set up the receiver state shared by every identify() variant: the k best
 * (argument 3, default 10), within max_distance if has_max.
 */
static IdentifyState *
IdentifyBegin(FunctionCallInfo fcinfo, bool has_max, double max_distance)
{
	IdentifyState *st = palloc0(sizeof(IdentifyState));
	int			k = PG_ARGISNULL(3) ? 10 : PG_GETARG_INT32(3);

	if (k < 1 || k > IDENTIFY_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: k must be between 1 and %d", IDENTIFY_MAX_K),
				 errhidestmt(true), errhidecontext(true)));
	st->has_max = has_max;
	st->max_distance = max_distance;
	if (st->has_max)
		CheckMaxDistance(st->max_distance);
	st->pub.receiveSlot = IdentifyReceive;
	st->pub.rStartup = IdentifyStartup;
	st->pub.rShutdown = IdentifyShutdown;
	st->pub.rDestroy = IdentifyDestroy;
	st->pub.mydest = DestNone;
	st->k = k;
	st->top = palloc(sizeof(TopEntry) * k);
	st->now = GetCurrentTimestamp();
	st->mcxt = CurrentMemoryContext;
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "biocrypt identify row",
									   ALLOCSET_DEFAULT_SIZES);
	return st;
}

/* qsort comparator: best first. */
static int
TopCmp(const void *a, const void *b)
{
	const TopEntry *x = a;
	const TopEntry *y = b;

	return Worse(x, y) ? 1 : Worse(y, x) ? -1 : 0;
}

/*
 * Record the search (matches in rank order); returns only after its audit
 * row has committed.  An error before this records it as failed.
 */
static void
RecordIdentify(IdentifyState *st, char **subjects)
{
	AuditEvent *ev = st->audit;

	for (int i = 0; i < st->ntop; i++)
		AuditAddMatch(ev, subjects[i], st->top[i].distance);
	AuditRecordNow(ev);
}

/* Open the search's audit event: gallery, column, k, threshold, probe. */
static void
AuditIdentify(FunctionCallInfo fcinfo, IdentifyState *st)
{
	AuditEvent *ev = AuditAccessRelation(fcinfo, AUDIT_OP_IDENTIFY, PG_GETARG_OID(0),
										 NameStr(*PG_GETARG_NAME(1)));
	uint64		seen = 0;

	ev->k = st->k;
	ev->has_threshold = st->has_max;
	ev->threshold = st->max_distance;
	if (st->bits)
	{
		strlcpy(ev->metric, "hamming", sizeof(ev->metric));
		AuditAccessProbe(ev, &seen, st->bcode, st->bnbytes, st->bmask,
						 st->bmask ? st->bnbytes : 0);
	}
	else
	{
		strlcpy(ev->metric, st->metric_name, sizeof(ev->metric));
		AuditAccessProbe(ev, &seen, st->vprobe.x, sizeof(float) * st->vprobe.dims,
						 NULL, 0);
	}
	st->audit = ev;
}

/* Scan the table itself: "SELECT col FROM rel" through SPI, as the caller. */
static void
ScanTable(IdentifyState *st, const char *query)
{
	SpiScanAsCaller(query, (DestReceiver *) st);
	FlushBatch(st);
	if (st->scratch != NULL)
		SecmemRelease(st->scratch);
}

/*
 * Do a gallery's templates of this shape fit the probe?  Those that do
 * are scored: on the record before that.  The others are skipped.
 */
static bool
GalleryShape(void *arg, const EnvelopeHeader *hdr)
{
	IdentifyState *st = arg;

	if (!ShapeFits(st, hdr))
		return false;
	AuditBegin(st->audit);
	return true;
}

/*
 * The gallery index that can answer for relid's column: a plain table
 * without children or row-level security for this role (those go through
 * the executor), with a biocrypt_gallery index on the column.  The table
 * comes back open and the caller's SELECT privilege checked.
 */
static Oid
ServingGallery(Oid relid, AttrNumber attnum, Relation *heap)
{
	Oid			indexoid;

	*heap = table_open(relid, AccessShareLock);
	if ((*heap)->rd_rel->relkind != RELKIND_RELATION || (*heap)->rd_rel->relhassubclass ||
		check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED ||
		!OidIsValid(indexoid = GalleryIndexOf(*heap, attnum)))
	{
		table_close(*heap, AccessShareLock);
		return InvalidOid;
	}
	if (pg_attribute_aclcheck(relid, attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("biocrypt: permission denied for table %s",
						RelationGetRelationName(*heap)),
				 errhidestmt(true), errhidecontext(true)));
	return indexoid;
}

/* Take the gallery's candidates best first; keep the k best visible ones. */
static void
TakeVisible(IdentifyState *st, GallerySearch *gs, HeapLook *hl)
{
	GalleryCandidate c;
	EnvelopeHeader hdr;
	char		subject[ENVELOPE_MAX_SUBJECT + 1];

	while (GallerySearchNext(gs, &c))
	{
		if (c.cls != GALLERY_CLASS_SCORED ||
			(st->has_max && c.distance > st->max_distance) ||
			(st->ntop == st->k && c.distance > st->top[0].distance))
			break;
		if (!HeapLookTemplate(hl, &c.tid, &hdr))
			continue;
		memcpy(subject, hdr.subject, hdr.subject_len);
		subject[hdr.subject_len] = '\0';
		TopOffer(st, c.distance, subject);
	}
}

/*
 * Search through the column's gallery index (its warm form where there is
 * one): every entry scored, then candidates taken best first and kept if
 * the caller's snapshot sees their rows.  False where no gallery serves.
 */
static bool
SearchGallery(FunctionCallInfo fcinfo, IdentifyState *st)
{
	Oid			relid = PG_GETARG_OID(0);
	AttrNumber	attnum = TemplateColumnAttnum(relid, NameStr(*PG_GETARG_NAME(1)));
	Relation	heap;
	Relation	index;
	Oid			indexoid;
	GallerySearch gs;
	HeapLook	hl;

	if (!biocrypt_enable_gallery ||
		!OidIsValid(indexoid = ServingGallery(relid, attnum, &heap)))
		return false;
	index = index_open(indexoid, AccessShareLock);
	memset(&gs, 0, sizeof(gs));
	gs.metabuf = InvalidBuffer;
	gs.now = st->now;
	gs.shape = GalleryShape;
	gs.arg = st;
	gs.first_take = Max(64, st->k + st->k / 4);
	gs.blob = st->bits ?
		BitsScorerBlob(st->mcxt, &st->blob, true, st->bcode, st->bmask, st->bnbytes,
					   st->max_shift, &gs.blob_len) :
		VectorScorerBlob(st->mcxt, &st->blob, &st->vprobe, &gs.blob_len);
	gs.expired_exceptions = ExpiredIsError();
	GallerySearchRun(index, &gs);
	st->compared = gs.compared;
	st->expired_skipped = gs.expired;
	st->audit->templates_compared += gs.compared;
	st->audit->expired_skipped += gs.expired;
	st->audit->purpose_skipped += gs.purpose_skipped;
	AuditShapeSkipped(st->audit, gs.shape_skipped);
	HeapLookBegin(&hl, heap, attnum, GetActiveSnapshot());
	GalleryCheckExceptions(&hl, &gs, fcinfo, st->audit);
	TakeVisible(st, &gs, &hl);
	HeapLookEnd(&hl);
	GallerySearchEnd(&gs);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return true;
}

/* Scan the gallery, then return the k best as (subject, distance) rows. */
static void
IdentifyRun(FunctionCallInfo fcinfo, IdentifyState *st)
{
	char	   *query;
	char	  **subjects;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: gallery and col must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	query = GalleryQuery(st, PG_GETARG_OID(0), PG_GETARG_NAME(1));
	st->fcinfo = fcinfo;
	AuditIdentify(fcinfo, st);
	InitMaterializedSRF(fcinfo, 0);
	if (!SearchGallery(fcinfo, st))
		ScanTable(st, query);
	qsort(st->top, st->ntop, sizeof(TopEntry), TopCmp);
	/* each place in the results discloses something about its subject */
	for (int i = 0; i < st->ntop; i++)
		ScoreCharge(fcinfo, st->audit, st->top[i].subject, strlen(st->top[i].subject));
	subjects = palloc(sizeof(char *) * Max(st->ntop, 1));
	for (int i = 0; i < st->ntop; i++)
		subjects[i] = pg_any_to_server(st->top[i].subject,
									   strlen(st->top[i].subject), PG_UTF8);
	RecordIdentify(st, subjects);
	for (int i = 0; i < st->ntop; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (st->ranks_only)
		{
			values[0] = Int32GetDatum(i + 1);
			values[1] = CStringGetTextDatum(subjects[i]);
		}
		else
		{
			values[0] = CStringGetTextDatum(subjects[i]);
			values[1] = Float8GetDatum(ScoreRound(st->top[i].distance));
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* The vector probe in argument 2, under metric (named metric_name). */
static void
IdentifyVectorProbe(FunctionCallInfo fcinfo, IdentifyState *st,
					KernelMetric metric, const char *metric_name)
{
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: probe must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	st->vprobe = GetVectorProbe(fcinfo, 2)->kp;
	st->vprobe.metric = metric;
	st->metric_name = metric_name;
}

/* The bit-code probe in argument 2, with its mask and shifts. */
static void
IdentifyBitsProbe(FunctionCallInfo fcinfo, IdentifyState *st, int mask_arg,
				  int shift_arg)
{
	bytea	   *code;
	bytea	   *mask = NULL;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(shift_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: probe and max_shift must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	code = PG_GETARG_BYTEA_PP(2);
	if (!PG_ARGISNULL(mask_arg))
		mask = PG_GETARG_BYTEA_PP(mask_arg);
	CheckBitsProbeArgs(code, mask, PG_GETARG_INT32(shift_arg));
	st->bits = true;
	st->bcode = (const uint8 *) VARDATA_ANY(code);
	st->bmask = mask ? (const uint8 *) VARDATA_ANY(mask) : NULL;
	st->bnbytes = VARSIZE_ANY_EXHDR(code);
	st->max_shift = PG_GETARG_INT32(shift_arg);
}

PG_FUNCTION_INFO_V1(biocrypt_identify);
/* identify(gallery, col, probe real[], k, max_distance, metric) */
Datum
biocrypt_identify(PG_FUNCTION_ARGS)
{
	IdentifyState *st;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: probe and metric must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	st = IdentifyBegin(fcinfo, !PG_ARGISNULL(4), PG_ARGISNULL(4) ? 0 : PG_GETARG_FLOAT8(4));
	IdentifyVectorProbe(fcinfo, st, ParseMetric(PG_GETARG_TEXT_PP(5)),
						text_to_cstring(PG_GETARG_TEXT_PP(5)));
	IdentifyRun(fcinfo, st);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(biocrypt_identify_bits);
/* identify(gallery, col, probe bytea, k, max_distance, mask, max_shift) */
Datum
biocrypt_identify_bits(PG_FUNCTION_ARGS)
{
	IdentifyState *st;

	st = IdentifyBegin(fcinfo, !PG_ARGISNULL(4), PG_ARGISNULL(4) ? 0 : PG_GETARG_FLOAT8(4));
	IdentifyBitsProbe(fcinfo, st, 5, 6);
	IdentifyRun(fcinfo, st);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(biocrypt_identify_ranks);
/*
 * identify_ranks(gallery, col, probe real[], k): the subjects within the
 * administrator's biocrypt.match_threshold, best first, with their ranks
 * and no distances.
 */
Datum
biocrypt_identify_ranks(PG_FUNCTION_ARGS)
{
	KernelMetric metric;
	double		threshold = MatchThreshold(&metric);
	IdentifyState *st = IdentifyBegin(fcinfo, true, threshold);

	st->ranks_only = true;
	IdentifyVectorProbe(fcinfo, st, metric, MetricName(metric));
	IdentifyRun(fcinfo, st);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(biocrypt_identify_ranks_bits);
/*
 * identify_ranks(gallery, col, probe bytea, k, mask, max_shift): the same
 * for bit codes, within biocrypt.match_threshold_bits.
 */
Datum
biocrypt_identify_ranks_bits(PG_FUNCTION_ARGS)
{
	IdentifyState *st = IdentifyBegin(fcinfo, true, MatchThresholdBits());

	st->ranks_only = true;
	IdentifyBitsProbe(fcinfo, st, 4, 5);
	IdentifyRun(fcinfo, st);
	return (Datum) 0;
}
