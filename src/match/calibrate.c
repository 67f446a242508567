/*-------------------------------------------------------------------------
 *
 * calibrate.c
 *		biocrypt.calibrate(): the threshold for a target false-match rate,
 *		estimated inside the server from a column's templates.
 *
 * A sample of subjects is drawn by a hash of the subject (all templates of
 * a drawn subject come in, so that subjects with several templates give
 * genuine pairs), at most "sample" templates in all.  A first pass reads
 * headers only: what may be compared (the session's purpose, not expired,
 * the column's first shape) and the subjects' hashes.  The second decrypts
 * the drawn templates into one locked buffer, as floats (or code bytes),
 * and every pair is scored: pairs of different subjects are impostor
 * pairs, pairs of one subject genuine ones.  The threshold is the largest
 * distance that keeps the impostor pairs within it at or below the target
 * rate.  Only the summary leaves; the buffer is zeroed on every path.
 * Administrators only, while biocrypt.allow_reveal is on (pairs.c says
 * why); audited as one "calibrate" event that names the sample's subjects.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sodium.h>

#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "base/kernels.h"
#include "base/quantise.h"
#include "match/match.h"
#include "match/probe.h"
#include "template/template.h"

#define CALIBRATE_MAX_SAMPLE	5000

typedef struct Calibration
{
	DestReceiver pub;			/* first: a DestReceiver for "SELECT col" */
	FunctionCallInfo fcinfo;
	MemoryContext mcxt;			/* outlives the scans' SPI memory */
	AuditEvent *ev;
	TimestampTz now;
	bool		second_pass;
	bool		has_shape;
	EnvelopeHeader shape;		/* of the first template that may be used */
	bool		bits;
	/* pass 1: the subject hash of every template that may be used */
	uint64	   *hashes;
	int64		nhashes;
	int64		hashes_cap;
	uint64		cutoff;			/* pass 2: subjects hashed at or below */
	/* pass 2: the drawn templates, decoded, and their subjects */
	int			cap;
	int			n;
	Size		slot;			/* bytes of one decoded template */
	SecBuf	   *data;
	SecBuf	   *scratch;
	char	  **subjects;
} Calibration;

typedef struct Summary
{
	double		threshold;
	double		fmr;
	double		fnmr;
	int64		impostor;
	int64		genuine;
	double		impostor_min;
	double		impostor_median;
	double		genuine_median;
	double		genuine_max;
	int			nsubjects;
} Summary;

/* May this template be used, counted if not (the first pass only counts)? */
static bool
Usable(Calibration *cal, const EnvelopeHeader *hdr)
{
	const char *purpose;

	if (cal->second_pass)
		return PurposeJudge(hdr, &purpose) == PURPOSE_ALLOWED &&
			!RetentionExpiredAt(hdr, cal->now) &&
			hdr->format == cal->shape.format && hdr->dims == cal->shape.dims;
	if (PurposeSkip(cal->fcinfo, hdr, cal->ev))
		return false;
	if (RetentionExpiredAt(hdr, cal->now))
	{
		cal->ev->expired_skipped++;
		return false;
	}
	if (!cal->has_shape)
	{
		cal->shape = *hdr;
		cal->has_shape = true;
		cal->bits = hdr->format == ENVELOPE_FORMAT_BITS;
	}
	if (hdr->format == cal->shape.format && hdr->dims == cal->shape.dims)
		return true;
	cal->ev->shape_skipped++;
	return false;
}

static uint64
SubjectHash(const EnvelopeHeader *hdr)
{
	return hash_bytes_extended((const unsigned char *) hdr->subject, hdr->subject_len, 0);
}

/* Decrypt a drawn template and keep it decoded (floats, or code bytes). */
static void
Draw(Calibration *cal, bytea *tpl, const EnvelopeHeader *hdr)
{
	uint8	   *dst = cal->data->data + cal->slot * cal->n;

	AuditBegin(cal->ev);
	DecryptTemplate(tpl, hdr, cal->scratch->data);
	if (cal->bits)
		memcpy(dst, cal->scratch->data, hdr->dims / 8);
	else
	{
		/* cppcheck-suppress invalidPointerCast ; slots of floats, aligned */
		DequantiseVector(hdr, cal->scratch->data, (float *) dst);
	}
	sodium_memzero(cal->scratch->data, hdr->payload_len);
	cal->subjects[cal->n] = MemoryContextStrdup(cal->mcxt, SubjectToServer(hdr));
	/* the audit row names every template in the sample */
	AuditAddSubject(cal->ev, cal->subjects[cal->n++]);
	cal->ev->templates_compared++;
}

/* DestReceiver: one row of "SELECT col FROM rel", in either pass. */
static bool
CalibrationReceive(TupleTableSlot *slot, DestReceiver *self)
{
	Calibration *cal = (Calibration *) self;
	EnvelopeHeader hdr;
	bytea	   *tpl;
	bool		isnull;
	Datum		d = slot_getattr(slot, 1, &isnull);

	if (isnull)
		return true;
	tpl = DatumGetProtectedTemplateP(d);
	ParseTemplateForDecrypt(tpl, &hdr);
	if (!Usable(cal, &hdr))
		return true;
	if (!cal->second_pass)
	{
		if (cal->nhashes == cal->hashes_cap)
		{
			cal->hashes_cap *= 2;
			cal->hashes = repalloc_huge(cal->hashes, sizeof(uint64) * cal->hashes_cap);
		}
		cal->hashes[cal->nhashes++] = SubjectHash(&hdr);
	}
	else if (cal->n < cal->cap && SubjectHash(&hdr) <= cal->cutoff)
		Draw(cal, tpl, &hdr);
	return true;
}

static void
CalibrationStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
CalibrationShutdown(DestReceiver *self)
{
}

static void
CalibrationDestroy(DestReceiver *self)
{
}

static int
CompareUint64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static int
CompareDouble(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * The hash cutoff that draws at most sample templates, by whole subjects:
 * a subject the sample's edge would cut is left out (unless that leaves
 * fewer than two templates).
 */
static void
ChooseCutoff(Calibration *cal, int sample)
{
	int64		n = Min(cal->nhashes, sample);
	int64		whole = n;

	if (n == 0)
		return;
	qsort(cal->hashes, cal->nhashes, sizeof(uint64), CompareUint64);
	if (n < cal->nhashes)
		while (whole > 0 && cal->hashes[whole - 1] == cal->hashes[n])
			whole--;
	if (whole < 2)
		whole = n;
	cal->cutoff = cal->hashes[whole - 1];
	cal->cap = (int) whole;
}

/*
 * Score every drawn pair into impostor (different subjects) and genuine
 * pairs; *gen grows as genuine pairs come (they are few).
 */
static void
ScorePairs(Calibration *cal, KernelMetric metric, double *imp, int64 *nimp,
		   double **gen, int64 *ngen)
{
	int64		gen_cap = 1024;

	const uint8 **rows = palloc(sizeof(uint8 *) * Max(cal->n, 1));
	double	   *out = palloc(sizeof(double) * Max(cal->n, 1));

	*nimp = *ngen = 0;
	*gen = palloc(sizeof(double) * gen_cap);
	for (int j = 0; j < cal->n; j++)
		rows[j] = cal->data->data + cal->slot * j;
	for (int i = 0; i + 1 < cal->n; i++)
	{
		int			count = cal->n - i - 1;

		CHECK_FOR_INTERRUPTS();
		if (cal->bits)
			for (int j = 0; j < count; j++)
				out[j] = KernelHammingFraction(rows[i], rows[i + 1 + j], cal->shape.dims / 8);
		else
		{
			/* cppcheck-suppress invalidPointerCast ; slots of floats, aligned */
			KernelVectorProbe kp = FloatProbe((const float *) rows[i], cal->shape.dims, metric);

			KernelVectorDistances(&kp, KERNEL_ELEM_F32, rows + i + 1, count, out);
		}
		for (int j = 0; j < count; j++)
		{
			if (isnan(out[j]))
				continue;
			if (strcmp(cal->subjects[i], cal->subjects[i + 1 + j]) != 0)
				imp[(*nimp)++] = out[j];
			else
			{
				if (*ngen == gen_cap)
				{
					gen_cap *= 2;
					*gen = repalloc_huge(*gen, sizeof(double) * gen_cap);
				}
				(*gen)[(*ngen)++] = out[j];
			}
		}
	}
	pfree(out);
	pfree(rows);
}


/*
 * The largest threshold whose matches (distance <= threshold) among the
 * impostor pairs are at most target of them: midway below the first
 * impostor distance it must exclude.
 */
static void
Summarise(const double *imp, int64 nimp, const double *gen, int64 ngen,
		  double target, Summary *sum)
{
	int64		k = (int64) floor(target * (double) nimp);
	int64		matched = 0;
	int64		missed = 0;

	sum->impostor = nimp;
	sum->genuine = ngen;
	while (k > 0 && k < nimp && imp[k - 1] == imp[k])
		k--;
	if (k == 0)
		sum->threshold = nextafter(imp[0], -INFINITY);
	else if (k >= nimp)
		sum->threshold = imp[nimp - 1];
	else
		sum->threshold = imp[k - 1] + (imp[k] - imp[k - 1]) / 2;
	for (int64 i = 0; i < nimp && imp[i] <= sum->threshold; i++)
		matched++;
	for (int64 i = 0; i < ngen; i++)
		missed += gen[i] > sum->threshold;
	sum->fmr = (double) matched / (double) nimp;
	sum->fnmr = ngen > 0 ? (double) missed / (double) ngen : NAN;
	sum->impostor_min = imp[0];
	sum->impostor_median = imp[nimp / 2];
	sum->genuine_median = ngen > 0 ? gen[ngen / 2] : NAN;
	sum->genuine_max = ngen > 0 ? gen[ngen - 1] : NAN;
}

/* Check calibrate()'s arguments before anything is read. */
static void
CheckArguments(double target, int sample)
{
	if (!(target > 0 && target < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: target_fmr must be between 0 and 1, exclusive"),
				 errhidestmt(true), errhidecontext(true)));
	if (sample < 2 || sample > CALIBRATE_MAX_SAMPLE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: sample must be between 2 and %d templates",
						CALIBRATE_MAX_SAMPLE),
				 errhidestmt(true), errhidecontext(true)));
}

/* The two passes over the column; cal->n templates drawn. */
static void
DrawSample(Calibration *cal, Oid relid, const char *col, int sample,
		   const char *metric_name, bool hamming)
{
	char	   *query;

	(void) TemplateColumnAttnum(relid, col);
	query = psprintf("SELECT %s FROM %s", quote_identifier(col), RelationQualifiedName(relid));
	cal->hashes_cap = 1024;
	cal->hashes = palloc_extended(sizeof(uint64) * cal->hashes_cap, MCXT_ALLOC_HUGE);
	SpiScanAsCaller(query, (DestReceiver *) cal);
	ChooseCutoff(cal, sample);
	/* the metric must fit the column's templates before any is decrypted */
	if (cal->has_shape && cal->bits != hamming)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("biocrypt: metric \"%s\" does not compare %s", metric_name,
						cal->bits ? "bit codes" : "embeddings"),
				 errhint("Use 'hamming' for bit codes, and 'cosine', 'l2' or 'inner_product' for embeddings."),
				 errhidestmt(true), errhidecontext(true)));
	if (cal->cap < 2)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: calibration needs at least two templates that may be compared"),
				 errhint("Templates of other purposes, of another shape than the first, and expired ones are not used."),
				 errhidestmt(true), errhidecontext(true)));
	cal->slot = cal->bits ? cal->shape.dims / 8 : sizeof(float) * cal->shape.dims;
	cal->slot = MAXALIGN(cal->slot);
	cal->data = SecmemAcquire(cal->slot * cal->cap);
	cal->scratch = SecmemAcquire(cal->shape.payload_len);
	cal->subjects = palloc(sizeof(char *) * cal->cap);
	cal->second_pass = true;
	SpiScanAsCaller(query, (DestReceiver *) cal);
	SecmemRelease(cal->scratch);
}

/* The result row. */
static Datum
SummaryRow(FunctionCallInfo fcinfo, const Calibration *cal, const Summary *sum)
{
	TupleDesc	tupdesc;
	Datum		v[10];
	bool		nulls[10] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: calibrate must return a row"),
				 errhidestmt(true), errhidecontext(true)));
	v[0] = Float8GetDatum(sum->threshold);
	v[1] = Float8GetDatum(sum->fmr);
	v[2] = Float8GetDatum(sum->fnmr);
	nulls[2] = isnan(sum->fnmr);
	v[3] = Int32GetDatum(cal->n);
	v[4] = Int32GetDatum(sum->nsubjects);
	v[5] = Int64GetDatum(sum->impostor);
	v[6] = Int64GetDatum(sum->genuine);
	v[7] = Float8GetDatum(sum->impostor_median);
	v[8] = Float8GetDatum(sum->genuine_median);
	nulls[8] = isnan(sum->genuine_median);
	v[9] = Float8GetDatum(sum->genuine_max);
	nulls[9] = isnan(sum->genuine_max);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), v, nulls));
}

static int
CompareString(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Distinct subjects among the drawn templates. */
static int
CountSubjects(const Calibration *cal)
{
	char	  **s = palloc(sizeof(char *) * cal->n);
	int			distinct = 0;

	memcpy(s, cal->subjects, sizeof(char *) * cal->n);
	qsort(s, cal->n, sizeof(char *), CompareString);
	for (int i = 0; i < cal->n; i++)
		distinct += i == 0 || strcmp(s[i - 1], s[i]) != 0;
	pfree(s);
	return distinct;
}

PG_FUNCTION_INFO_V1(biocrypt_calibrate);
/* calibrate(gallery, col, target_fmr, metric, sample): one summary row */
Datum
biocrypt_calibrate(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *col = NameStr(*PG_GETARG_NAME(1));
	double		target = PG_GETARG_FLOAT8(2);
	char	   *metric_name = text_to_cstring(PG_GETARG_TEXT_PP(3));
	int			sample = PG_GETARG_INT32(4);
	bool		hamming = strcmp(metric_name, "hamming") == 0;
	KernelMetric metric = hamming ? KERNEL_METRIC_L2 : ParseMetric(PG_GETARG_TEXT_PP(3));
	Calibration cal;
	Summary		sum;
	double	   *imp;
	double	   *gen;
	int64		npairs;

	CheckArguments(target, sample);
	memset(&cal, 0, sizeof(cal));
	cal.pub.receiveSlot = CalibrationReceive;
	cal.pub.rStartup = CalibrationStartup;
	cal.pub.rShutdown = CalibrationShutdown;
	cal.pub.rDestroy = CalibrationDestroy;
	cal.pub.mydest = DestNone;
	cal.fcinfo = fcinfo;
	cal.mcxt = CurrentMemoryContext;
	cal.now = GetCurrentTimestamp();
	cal.ev = AuditAccessRelation(fcinfo, AUDIT_OP_CALIBRATE, relid, col);
	strlcpy(cal.ev->metric, metric_name, sizeof(cal.ev->metric));
	CheckPairsAllowed(fcinfo, cal.ev);
	DrawSample(&cal, relid, col, sample, metric_name, hamming);
	npairs = (int64) cal.n * (cal.n - 1) / 2;
	imp = palloc_extended(sizeof(double) * npairs, MCXT_ALLOC_HUGE);
	ScorePairs(&cal, metric, imp, &sum.impostor, &gen, &sum.genuine);
	SecmemRelease(cal.data);
	if (sum.impostor == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: calibration needs templates of at least two subjects"),
				 errhidestmt(true), errhidecontext(true)));
	qsort(imp, sum.impostor, sizeof(double), CompareDouble);
	qsort(gen, sum.genuine, sizeof(double), CompareDouble);
	Summarise(imp, sum.impostor, gen, sum.genuine, target, &sum);
	sum.nsubjects = CountSubjects(&cal);
	cal.ev->has_threshold = true;
	cal.ev->threshold = sum.threshold;
	PG_RETURN_DATUM(SummaryRow(fcinfo, &cal, &sum));
}
