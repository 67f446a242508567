/*-------------------------------------------------------------------------
 *
 * pairs.c
 *		Template against template: the distance between two stored
 *		templates, for administrators (threshold calibration).
 *
 * Both templates are decrypted into locked buffers, the first turned into
 * a float probe, and the kernel scores the second against it; both
 * buffers are zeroed.  As the operators with a probe do, a pair that
 * cannot be compared (another shape, an expired template, one enrolled
 * for other purposes than the session's) gives NULL, counted in the audit
 * row.  A function, not an overload of <->: with one, an untyped literal
 * probe ('{1,2}') would be taken for a template.  EXECUTE is granted to
 * biocrypt_admin only, and the call needs biocrypt.allow_reveal, as
 * reveal() does: an administrator who may also enrol could rebuild a
 * template from its distances to templates of his choosing.  The audit row
 * names both subjects.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "base/kernels.h"
#include "base/quantise.h"
#include "match/match.h"
#include "match/probe.h"
#include "template/template.h"

/*
 * Comparisons of stored templates with each other are reveal-grade: only
 * while a superuser allows reveal.  A refusal is recorded as denied.
 */
void
CheckPairsAllowed(FunctionCallInfo fcinfo, AuditEvent *ev)
{
	if (RevealAllowed())
		return;
	AuditDeny(fcinfo, ev);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("biocrypt: comparing stored templates with each other is disabled"),
			 errdetail("Distances between stored templates can rebuild one, as reveal() would show it."),
			 errhint("A superuser must set biocrypt.allow_reveal = on."),
			 errhidestmt(true), errhidecontext(true)));
}

/* Can the two templates be compared with each other? */
static bool
PairFits(const EnvelopeHeader *a, const EnvelopeHeader *b)
{
	if ((a->format == ENVELOPE_FORMAT_BITS) != (b->format == ENVELOPE_FORMAT_BITS))
		return false;
	return a->dims == b->dims;
}

/* Skip (counted in ev) a template the session may not use, or expired. */
static bool
PairSkips(FunctionCallInfo fcinfo, const EnvelopeHeader *hdr, AuditEvent *ev,
		  TimestampTz at)
{
	if (PurposeSkip(fcinfo, hdr, ev))
		return true;
	if (!CheckExpired(hdr, at))
		return false;
	ev->expired_skipped++;
	return true;
}

/* The kernel's distance between two decrypted templates of one shape. */
static double
PairKernel(const EnvelopeHeader *ha, const uint8 *pa, const EnvelopeHeader *hb,
		   const uint8 *pb, KernelMetric metric, bool bits)
{
	SecBuf	   *x;
	KernelVectorProbe kp;
	double		d;

	if (bits)
		return KernelHammingFraction(pa, pb, ha->dims / 8);
	x = SecmemAcquire(sizeof(float) * ha->dims);
	/* the first template, as floats in a locked buffer, is the probe */
	/* cppcheck-suppress invalidPointerCast ; a locked buffer of floats */
	DequantiseVector(ha, pa, (float *) x->data);
	/* cppcheck-suppress invalidPointerCast ; a locked buffer of floats */
	kp = FloatProbe((const float *) x->data, ha->dims, metric);
	d = KernelVectorDistance(&kp, hb->format, pb);
	SecmemRelease(x);
	return d;
}

/*
 * Distance between templates 0 and 1 under metric (bits: the fraction of
 * differing code bits, masks aside), or NULL through *isnull.
 */
static double
PairDistance(FunctionCallInfo fcinfo, KernelMetric metric, bool bits, bool *isnull)
{
	bytea	   *a = PG_GETARG_TEMPLATE_P(0);
	bytea	   *b = PG_GETARG_TEMPLATE_P(1);
	AuditEvent *ev = AuditAccess(fcinfo, AUDIT_OP_COMPARE);
	TimestampTz at = GetCurrentTimestamp();
	EnvelopeHeader ha;
	EnvelopeHeader hb;
	SecBuf	   *pa;
	SecBuf	   *pb;
	double		d;

	if (ev->metric[0] == '\0')
		strlcpy(ev->metric, bits ? "hamming" : MetricName(metric), sizeof(ev->metric));
	*isnull = true;
	CheckPairsAllowed(fcinfo, ev);
	ParseTemplateForDecrypt(a, &ha);
	ParseTemplateForDecrypt(b, &hb);
	if (PairSkips(fcinfo, &ha, ev, at) || PairSkips(fcinfo, &hb, ev, at))
		return 0;
	if (!PairFits(&ha, &hb) || (ha.format == ENVELOPE_FORMAT_BITS) != bits)
	{
		AuditShapeSkipped(ev, 2);
		return 0;
	}
	*isnull = false;
	AuditBegin(ev);
	pa = SecmemAcquire(ha.payload_len);
	pb = SecmemAcquire(hb.payload_len);
	DecryptTemplate(a, &ha, pa->data);
	DecryptTemplate(b, &hb, pb->data);
	ev->templates_compared += 2;
	AuditAddSubject(ev, SubjectToServer(&ha));
	AuditAddSubject(ev, SubjectToServer(&hb));
	d = PairKernel(&ha, pa->data, &hb, pb->data, metric, bits);
	SecmemRelease(pb);
	SecmemRelease(pa);
	return d;
}

PG_FUNCTION_INFO_V1(biocrypt_template_distance);
/*
 * template_distance(a, b, metric): cosine, l2 or inner_product between two
 * embeddings, hamming (the fraction of differing code bits, masks aside)
 * between two bit codes.
 */
Datum
biocrypt_template_distance(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(2);
	bool		bits = strcmp(text_to_cstring(name), "hamming") == 0;
	KernelMetric metric = bits ? KERNEL_METRIC_L2 : ParseMetric(name);
	bool		isnull;
	double		d = PairDistance(fcinfo, metric, bits, &isnull);

	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(ScoreRound(d));
}
