/*-------------------------------------------------------------------------
 *
 * verifyreason.c
 *		1:1 verification that says why: match, no_match, expired, purpose
 *		or shape.
 *
 * verify() answers false for an expired template and raises an error for
 * one of another shape or purpose; an application cannot tell "expired,
 * enrol again" from "not this person" without the superuser-only
 * biocrypt.on_expired.  These forms name the reason instead.  What they
 * disclose is already readable: the expiry and purposes are in the
 * authenticated header.  Nothing is decrypted unless a comparison is due,
 * and the access is audited as verify's: a purpose refusal is a "denied"
 * row, an expired or misshapen template is counted in the verify row.  A
 * session that may not compare at all (no purpose, or one not granted) is
 * still refused with an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "match/match.h"
#include "match/probe.h"
#include "template/template.h"

/* the verify forms whose decision these explain (compare.c) */
extern Datum biocrypt_verify(PG_FUNCTION_ARGS);
extern Datum biocrypt_verify_decision(PG_FUNCTION_ARGS);
extern Datum biocrypt_verify_bits_decision(PG_FUNCTION_ARGS);

/*
 * Why this template cannot be compared with the probe, or NULL when it
 * can.  Nothing is decrypted here.
 */
static const char *
Obstacle(FunctionCallInfo fcinfo, AuditEvent *ev, const EnvelopeHeader *hdr,
		 bool fits)
{
	const char *purpose;
	PurposeVerdict verdict = PurposeJudge(hdr, &purpose);

	if (verdict == PURPOSE_UNDECLARED || verdict == PURPOSE_NOT_GRANTED)
		PurposeCheck(fcinfo, hdr, ev);	/* raises */
	if (!fits)
	{
		ev->shape_skipped++;
		return "shape";
	}
	if (verdict == PURPOSE_NOT_ENROLLED)
	{
		AuditDeny(fcinfo, ev);
		return "purpose";
	}
	if (RetentionExpiredAt(hdr, GetCurrentTimestamp()))
	{
		ev->expired_skipped++;
		return "expired";
	}
	return NULL;
}

/* The verify event, with its metric and threshold, as verify notes them. */
static AuditEvent *
VerifyEvent(FunctionCallInfo fcinfo, const char *metric, double threshold)
{
	AuditEvent *ev = AuditAccess(fcinfo, AUDIT_OP_VERIFY);

	if (ev->metric[0] == '\0')
		strlcpy(ev->metric, metric, sizeof(ev->metric));
	if (!ev->has_threshold)
	{
		ev->has_threshold = true;
		ev->threshold = threshold;
	}
	return ev;
}

/* The reason for template 0 and vector probe 1; plain() decides a match. */
static Datum
VectorReason(FunctionCallInfo fcinfo, KernelMetric metric, double threshold,
			 PGFunction plain)
{
	bytea	   *tpl = PG_GETARG_TEMPLATE_P(0);
	VectorProbe *vp = GetVectorProbe(fcinfo, 1);
	AuditEvent *ev;
	EnvelopeHeader hdr;
	const char *why;

	CheckMaxDistance(threshold);
	ev = VerifyEvent(fcinfo, MetricName(metric), threshold);
	AuditAccessProbe(ev, &vp->ph.audit_seen, vp->kp.x, sizeof(float) * vp->kp.dims, NULL, 0);
	ParseTemplateForDecrypt(tpl, &hdr);
	why = Obstacle(fcinfo, ev, &hdr, VectorTemplateFits(&hdr, vp->kp.dims));
	if (why == NULL)
		why = DatumGetBool(plain(fcinfo)) ? "match" : "no_match";
	PG_RETURN_TEXT_P(cstring_to_text(why));
}

PG_FUNCTION_INFO_V1(biocrypt_verify_reason);
/* verify_reason(tpl, probe, max_distance, metric): verify() and why. */
Datum
biocrypt_verify_reason(PG_FUNCTION_ARGS)
{
	return VectorReason(fcinfo, ParseMetric(PG_GETARG_TEXT_PP(3)), PG_GETARG_FLOAT8(2),
						biocrypt_verify);
}

PG_FUNCTION_INFO_V1(biocrypt_verify_reason_decision);
/* verify_reason(tpl, probe): at the administrator's threshold and metric. */
Datum
biocrypt_verify_reason_decision(PG_FUNCTION_ARGS)
{
	KernelMetric metric;
	double		threshold = MatchThreshold(&metric);

	return VectorReason(fcinfo, metric, threshold, biocrypt_verify_decision);
}

PG_FUNCTION_INFO_V1(biocrypt_verify_bits_reason);
/*
 * verify_bits_reason(tpl, code, mask, max_shift): verify_bits() and why,
 * at the administrator's biocrypt.match_threshold_bits.
 */
Datum
biocrypt_verify_bits_reason(PG_FUNCTION_ARGS)
{
	bytea	   *code;
	bytea	   *mask;
	AuditEvent *ev;
	EnvelopeHeader hdr;
	uint64		seen = 0;
	const char *why;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: template, code and max_shift must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	code = PG_GETARG_BYTEA_PP(1);
	mask = PG_ARGISNULL(2) ? NULL : PG_GETARG_BYTEA_PP(2);
	CheckBitsProbeArgs(code, mask, PG_GETARG_INT32(3));
	ev = VerifyEvent(fcinfo, "hamming", MatchThresholdBits());
	AuditAccessProbe(ev, &seen, VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code),
					 mask ? VARDATA_ANY(mask) : NULL, mask ? VARSIZE_ANY_EXHDR(mask) : 0);
	ParseTemplateForDecrypt(PG_GETARG_TEMPLATE_P(0), &hdr);
	why = Obstacle(fcinfo, ev, &hdr, BitsTemplateFits(&hdr, VARSIZE_ANY_EXHDR(code)));
	if (why == NULL)
		why = DatumGetBool(biocrypt_verify_bits_decision(fcinfo)) ? "match" : "no_match";
	PG_RETURN_TEXT_P(cstring_to_text(why));
}
