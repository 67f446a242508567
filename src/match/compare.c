/*-------------------------------------------------------------------------
 *
 * compare.c
 *		Comparison of templates with probes: operators, verify, iris_distance.
 *
 * Probes are prepared once per statement (probe.c).  Each comparison
 * parses the template's header and decides whether it may be compared:
 * the operators and iris_distance, the tools of a search of many (ORDER BY
 * over a table), skip a template enrolled for other purposes or of another
 * shape than the probe (NULL, counted in the audit row); verify, the 1:1
 * decision about one claimed identity, refuses it with an error.  An
 * expired template is treated per biocrypt.on_expired (never decrypted).
 * The rest is decrypted into a locked scratch buffer, the kernel runs and
 * the buffer is zeroed.  Every function here is STABLE: results depend on
 * the clock and the key ring.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sodium.h>

#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "base/kernels.h"
#include "gallery/gallery.h"
#include "match/match.h"
#include "match/probe.h"
#include "template/template.h"

static const struct config_enum_entry simd_options[] = {
	{"auto", -1, false},
	{"portable", KERNEL_PATH_PORTABLE, false},
	{"avx2", KERNEL_PATH_AVX2, false},
	{"avx512", KERNEL_PATH_AVX512, false},
	{NULL, 0, false}
};

static int	biocrypt_simd = -1;

/*
 * Decrypt a parsed template for one comparison, or return NULL for an
 * expired one (never decrypted).  The score it yields is charged to the
 * role's budget first (disclosure.c).  The caller releases the buffer.
 */
static SecBuf *
OpenUnlessExpired(FunctionCallInfo fcinfo, bytea *tpl, const EnvelopeHeader *hdr,
				  AuditEvent *ev)
{
	SecBuf	   *plain;

	if (CheckExpired(hdr, GetCurrentTimestamp()))
		return NULL;
	ScoreCharge(fcinfo, ev, hdr->subject, hdr->subject_len);
	/* the access is on record before anything is decrypted */
	AuditBegin(ev);
	plain = SecmemAcquire(hdr->payload_len);
	DecryptTemplate(tpl, hdr, plain->data);
	return plain;
}

/*
 * The audit event this call counts in, with its metric noted: comparisons
 * are audited per statement and column (audit/access.c).
 */
static AuditEvent *
AuditComparison(FunctionCallInfo fcinfo, AuditOperation op, const char *metric)
{
	AuditEvent *ev = AuditAccess(fcinfo, op);

	if (ev->metric[0] == '\0')
		strlcpy(ev->metric, metric, sizeof(ev->metric));
	return ev;
}

/*
 * May this template be compared?  A search (op compare) skips, counted,
 * what verify (1:1) refuses: one enrolled for other purposes, or whose
 * shape does not fit the probe.  True to skip.
 */
static bool
SkipTemplate(FunctionCallInfo fcinfo, const EnvelopeHeader *hdr, bool fits,
			 AuditEvent *ev)
{
	if (ev->operation == AUDIT_OP_COMPARE)
		return AuditSearchSkips(fcinfo, hdr, fits, ev);
	PurposeCheck(fcinfo, hdr, ev);
	return false;
}

/* Count a comparison (or a skipped expired template) in its event. */
static void
AuditCount(AuditEvent *ev, bool expired)
{
	if (expired)
		ev->expired_skipped++;
	else
		ev->templates_compared++;
}

/*
 * Distance of template argument 0 to the probe in argument 1, or NULL-ness
 * through *isnull for an expired template.  *ev is the call's audit event.
 */
static double
VectorDistanceOfArgs(FunctionCallInfo fcinfo, KernelMetric metric,
					 AuditOperation op, AuditEvent **ev, bool *isnull)
{
	bytea	   *tpl = PG_GETARG_TEMPLATE_P(0);
	VectorProbe *vp = GetVectorProbe(fcinfo, 1);
	KernelVectorProbe kp = vp->kp;
	EnvelopeHeader hdr;
	SecBuf	   *plain;
	double		d;

	*ev = AuditComparison(fcinfo, op, MetricName(metric));
	AuditAccessProbe(*ev, &vp->ph.audit_seen, kp.x, sizeof(float) * kp.dims, NULL, 0);
	ParseTemplateForDecrypt(tpl, &hdr);
	/* a row a gallery scan returned: scored (or skipped), counted and charged there */
	if (GalleryRecall(tpl, GalleryMetricStrategy(metric), kp.x, sizeof(float) * kp.dims, &d, isnull))
		return d;
	if (op == AUDIT_OP_VERIFY)
		CheckVectorTemplate(&hdr, kp.dims);
	*isnull = SkipTemplate(fcinfo, &hdr, VectorTemplateFits(&hdr, kp.dims), *ev);
	if (*isnull)
		return 0;
	plain = OpenUnlessExpired(fcinfo, tpl, &hdr, *ev);
	*isnull = plain == NULL;
	AuditCount(*ev, *isnull);
	if (*isnull)
		return 0;
	kp.metric = metric;
	d = KernelVectorDistance(&kp, hdr.format, plain->data);
	SecmemRelease(plain);
	return d;
}

/* Shared body of the three vector operators. */
static Datum
VectorOperator(FunctionCallInfo fcinfo, KernelMetric metric)
{
	bool		isnull;
	AuditEvent *ev;
	double		d = VectorDistanceOfArgs(fcinfo, metric, AUDIT_OP_COMPARE, &ev, &isnull);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(ScoreRound(d));
}

PG_FUNCTION_INFO_V1(biocrypt_l2_distance);
/* tpl <-> real[]: Euclidean distance. */
Datum
biocrypt_l2_distance(PG_FUNCTION_ARGS)
{
	return VectorOperator(fcinfo, KERNEL_METRIC_L2);
}

PG_FUNCTION_INFO_V1(biocrypt_cosine_distance);
/* tpl <=> real[]: cosine distance (NaN for a zero vector). */
Datum
biocrypt_cosine_distance(PG_FUNCTION_ARGS)
{
	return VectorOperator(fcinfo, KERNEL_METRIC_COSINE);
}

PG_FUNCTION_INFO_V1(biocrypt_negative_inner_product);
/* tpl <#> real[]: negative inner product. */
Datum
biocrypt_negative_inner_product(PG_FUNCTION_ARGS)
{
	return VectorOperator(fcinfo, KERNEL_METRIC_NEG_IP);
}

/*
 * 1:1 verification of the template in argument 0 against the probe in
 * argument 1: within max_distance under metric?  False when expired.
 */
static bool
VerifyVector(FunctionCallInfo fcinfo, KernelMetric metric, double max_distance)
{
	bool		expired;
	bool		match;
	AuditEvent *ev;
	double		d;

	CheckMaxDistance(max_distance);
	/* the threshold goes into the begun row, before the first decryption */
	ev = AuditComparison(fcinfo, AUDIT_OP_VERIFY, MetricName(metric));
	if (!ev->has_threshold)
	{
		ev->has_threshold = true;
		ev->threshold = max_distance;
	}
	d = VectorDistanceOfArgs(fcinfo, metric, AUDIT_OP_VERIFY, &ev, &expired);
	/* NaN (a zero vector under cosine) never matches */
	match = !expired && !isnan(d) && d <= max_distance;
	if (match)
	{
		EnvelopeHeader hdr;

		ParseTemplateForDecrypt(PG_GETARG_TEMPLATE_P(0), &hdr);
		AuditAddMatch(ev, SubjectToServer(&hdr), d);
	}
	return match;
}

PG_FUNCTION_INFO_V1(biocrypt_verify);
/* verify(tpl, probe, max_distance, metric): 1:1, false when expired. */
Datum
biocrypt_verify(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(VerifyVector(fcinfo, ParseMetric(PG_GETARG_TEXT_PP(3)),
								PG_GETARG_FLOAT8(2)));
}

PG_FUNCTION_INFO_V1(biocrypt_verify_decision);
/*
 * verify(tpl, probe): the decision alone, at the threshold and metric the
 * administrator set (biocrypt.match_threshold, biocrypt.match_metric), so
 * that the caller cannot move the threshold to learn the distance.
 */
Datum
biocrypt_verify_decision(PG_FUNCTION_ARGS)
{
	KernelMetric metric;
	double		threshold = MatchThreshold(&metric);

	PG_RETURN_BOOL(VerifyVector(fcinfo, metric, threshold));
}

PG_FUNCTION_INFO_V1(biocrypt_hamming_distance);
/* tpl <~> bytea: fraction of differing bits, no mask, no rotation. */
Datum
biocrypt_hamming_distance(PG_FUNCTION_ARGS)
{
	bytea	   *tpl = PG_GETARG_TEMPLATE_P(0);
	bytea	   *code = PG_GETARG_BYTEA_PP(1);
	AuditEvent *ev = AuditComparison(fcinfo, AUDIT_OP_COMPARE, "hamming");
	uint64		seen = 0;
	EnvelopeHeader hdr;
	SecBuf	   *plain;
	double		d;
	bool		expired;

	/* the code is not prepared once per statement: hash it per call */
	AuditAccessProbe(ev, &seen, VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code), NULL, 0);
	ParseTemplateForDecrypt(tpl, &hdr);
	if (GalleryRecall(tpl, GALLERY_HAMMING_STRATEGY, VARDATA_ANY(code),
					  VARSIZE_ANY_EXHDR(code), &d, &expired))
	{
		if (expired)
			PG_RETURN_NULL();
		PG_RETURN_FLOAT8(ScoreRound(d));
	}
	if (SkipTemplate(fcinfo, &hdr, BitsTemplateFits(&hdr, VARSIZE_ANY_EXHDR(code)), ev))
		PG_RETURN_NULL();
	plain = OpenUnlessExpired(fcinfo, tpl, &hdr, ev);
	AuditCount(ev, plain == NULL);
	if (plain == NULL)
		PG_RETURN_NULL();
	d = KernelHammingFraction((const uint8 *) VARDATA_ANY(code), plain->data,
							  hdr.dims / 8);
	SecmemRelease(plain);
	PG_RETURN_FLOAT8(ScoreRound(d));
}

/* Note the code and mask (arguments 1 and 2) of an iris probe, once. */
static void
AuditBitsProbe(FunctionCallInfo fcinfo, AuditEvent *ev, uint64 *seen)
{
	bytea	   *code = PG_GETARG_BYTEA_PP(1);
	bytea	   *mask = PG_ARGISNULL(2) ? NULL : PG_GETARG_BYTEA_PP(2);

	if (*seen == ev->serial)
		return;
	AuditAccessProbe(ev, seen, VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code),
					 mask ? VARDATA_ANY(mask) : NULL, mask ? VARSIZE_ANY_EXHDR(mask) : 0);
}

/*
 * Masked fractional Hamming distance of template argument 0 to the code in
 * argument 1 (mask 2, shifts 3), minimised over column shifts; NaN when too
 * few bits are valid; *isnull for an expired template.  *hdr is the
 * template's header.
 */
static double
IrisDistanceOfArgs(FunctionCallInfo fcinfo, AuditEvent *ev, EnvelopeHeader *hdr,
				   bool *isnull)
{
	bytea	   *tpl = PG_GETARG_TEMPLATE_P(0);
	BitsProbe  *bp;
	SecBuf	   *plain;
	double		d;

	ParseTemplateForDecrypt(tpl, hdr);
	*isnull = SkipTemplate(fcinfo, hdr,
						   BitsTemplateFits(hdr, VARSIZE_ANY_EXHDR(PG_GETARG_BYTEA_PP(1))), ev);
	if (*isnull)
		return 0;
	bp = GetBitsProbe(fcinfo, 1, 2, PG_GETARG_INT32(3), hdr);
	AuditBitsProbe(fcinfo, ev, &bp->ph.audit_seen);
	plain = OpenUnlessExpired(fcinfo, tpl, hdr, ev);
	*isnull = plain == NULL;
	AuditCount(ev, *isnull);
	if (*isnull)
		return 0;
	d = KernelBitsDistance(&bp->kp, plain->data, BitsTemplateMask(bp, hdr, plain->data));
	SecmemRelease(plain);
	return d;
}

PG_FUNCTION_INFO_V1(biocrypt_iris_distance);
/*
 * iris_distance(tpl, code, mask, max_shift): masked fractional Hamming
 * distance, minimised over column shifts; NULL when too few bits are valid.
 */
Datum
biocrypt_iris_distance(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;
	bool		isnull;
	double		d;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	d = IrisDistanceOfArgs(fcinfo, AuditComparison(fcinfo, AUDIT_OP_COMPARE, "hamming"),
						   &hdr, &isnull);
	if (isnull || isnan(d))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(ScoreRound(d));
}

PG_FUNCTION_INFO_V1(biocrypt_verify_bits_decision);
/*
 * verify_bits(tpl, code, mask, max_shift): the decision alone, at the
 * administrator's biocrypt.match_threshold_bits.  False when expired or
 * when too few bits are valid.
 */
Datum
biocrypt_verify_bits_decision(PG_FUNCTION_ARGS)
{
	double		threshold = MatchThresholdBits();
	EnvelopeHeader hdr;
	AuditEvent *ev;
	bool		expired;
	double		d;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: template, code and max_shift must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	ev = AuditComparison(fcinfo, AUDIT_OP_VERIFY, "hamming");
	if (!ev->has_threshold)
	{
		ev->has_threshold = true;
		ev->threshold = threshold;
	}
	d = IrisDistanceOfArgs(fcinfo, ev, &hdr, &expired);
	if (expired || isnan(d) || d > threshold)
		PG_RETURN_BOOL(false);
	AuditAddMatch(ev, SubjectToServer(&hdr), d);
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(biocrypt_simd_path);
/* The kernel path in use: avx512, avx2 or portable. */
Datum
biocrypt_simd_path(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(KernelPathName(KernelCurrentPath())));
}

/* GUC check hook: only paths this CPU supports. */
static bool
CheckSimd(int *newval, void **extra, GucSource source)
{
	if (*newval >= 0 && !KernelPathSupported((KernelPath) *newval))
	{
		GUC_check_errdetail("This CPU does not support that kernel path.");
		return false;
	}
	return true;
}

/* GUC assign hook: switch the kernel path (auto = the best one). */
static void
AssignSimd(int newval, void *extra)
{
	KernelUsePath(newval < 0 ? KernelBestPath() : (KernelPath) newval);
}

/* Define the comparison settings and pick the kernel path. */
void
CompareInit(void)
{
	ProbeInit();
	DefineCustomEnumVariable("biocrypt.simd",
							 "Distance kernel path: auto, avx512, avx2 or portable.",
							 NULL, &biocrypt_simd, -1, simd_options,
							 PGC_SUSET, 0, CheckSimd, AssignSimd, NULL);
}
