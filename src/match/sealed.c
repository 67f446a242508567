/*-------------------------------------------------------------------------
 *
 * sealed.c
 *		The sealed forms of the operators' functions, verify, iris_distance
 *		and identify: a sealed_probe in place of the plain probe.
 *
 * Each entry point opens its box once per statement (template/sealedprobe.c)
 * and calls the plain form's C function with the plaintext as its probe
 * argument(s): a real[] for an embedding, a bytea code and mask for a bit
 * code.  Nothing here compares, audits or checks a template itself, so the
 * sealed and the plain form of a call behave alike, audit row included
 * (the probe hash is over the plaintext).  They have names of their own
 * (verify_sealed, ...), not overloads, and no operators: an overload would
 * make every untyped literal probe of the plain forms ambiguous.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "base/sealedmsg.h"
#include "match/match.h"
#include "template/template.h"

/* the plain forms (compare.c, identify.c) */
extern Datum biocrypt_l2_distance(PG_FUNCTION_ARGS);
extern Datum biocrypt_cosine_distance(PG_FUNCTION_ARGS);
extern Datum biocrypt_negative_inner_product(PG_FUNCTION_ARGS);
extern Datum biocrypt_hamming_distance(PG_FUNCTION_ARGS);
extern Datum biocrypt_iris_distance(PG_FUNCTION_ARGS);
extern Datum biocrypt_verify(PG_FUNCTION_ARGS);
extern Datum biocrypt_identify(PG_FUNCTION_ARGS);
extern Datum biocrypt_identify_bits(PG_FUNCTION_ARGS);
extern Datum biocrypt_verify_decision(PG_FUNCTION_ARGS);
extern Datum biocrypt_verify_bits_decision(PG_FUNCTION_ARGS);
extern Datum biocrypt_verify_reason(PG_FUNCTION_ARGS);
extern Datum biocrypt_verify_reason_decision(PG_FUNCTION_ARGS);
extern Datum biocrypt_identify_ranks(PG_FUNCTION_ARGS);
extern Datum biocrypt_identify_ranks_bits(PG_FUNCTION_ARGS);

/* A copy of the call's arguments, with the probe in argno opened in place. */
static SealedSite *
OpenProbeArg(FunctionCallInfo fcinfo, int argno, int kind, NullableDatum *args)
{
	SealedSite *site = SealedSiteOpen(fcinfo, argno);

	SealedSiteRequire(site, kind);
	memcpy(args, fcinfo->args, sizeof(NullableDatum) * PG_NARGS());
	args[argno].value = site->probe;
	return site;
}

/* A vector operator or verify: template, probe (argument 1), the rest. */
static Datum
SealedVectorForm(FunctionCallInfo fcinfo, PGFunction plain)
{
	NullableDatum args[4];
	SealedSite *site;

	Assert(PG_NARGS() <= 4);
	site = OpenProbeArg(fcinfo, 1, SEALEDMSG_KIND_VECTOR, args);
	return SealedSiteCall(fcinfo, site, plain, PG_NARGS(), args);
}

PG_FUNCTION_INFO_V1(biocrypt_l2_distance_sealed);
/* l2_distance_sealed(tpl, sealed_probe): as tpl <-> probe */
Datum
biocrypt_l2_distance_sealed(PG_FUNCTION_ARGS)
{
	return SealedVectorForm(fcinfo, biocrypt_l2_distance);
}

PG_FUNCTION_INFO_V1(biocrypt_cosine_distance_sealed);
/* cosine_distance_sealed(tpl, sealed_probe): as tpl <=> probe */
Datum
biocrypt_cosine_distance_sealed(PG_FUNCTION_ARGS)
{
	return SealedVectorForm(fcinfo, biocrypt_cosine_distance);
}

PG_FUNCTION_INFO_V1(biocrypt_negative_inner_product_sealed);
/* negative_inner_product_sealed(tpl, sealed_probe): as tpl <#> probe */
Datum
biocrypt_negative_inner_product_sealed(PG_FUNCTION_ARGS)
{
	return SealedVectorForm(fcinfo, biocrypt_negative_inner_product);
}

PG_FUNCTION_INFO_V1(biocrypt_verify_sealed);
/* verify_sealed(tpl, sealed_probe, max_distance, metric) */
Datum
biocrypt_verify_sealed(PG_FUNCTION_ARGS)
{
	return SealedVectorForm(fcinfo, biocrypt_verify);
}

PG_FUNCTION_INFO_V1(biocrypt_verify_decision_sealed);
/* verify_sealed(tpl, sealed_probe): the decision alone, as verify(tpl, probe) */
Datum
biocrypt_verify_decision_sealed(PG_FUNCTION_ARGS)
{
	return SealedVectorForm(fcinfo, biocrypt_verify_decision);
}

PG_FUNCTION_INFO_V1(biocrypt_verify_reason_sealed);
/* verify_reason_sealed(tpl, sealed_probe, max_distance, metric) */
Datum
biocrypt_verify_reason_sealed(PG_FUNCTION_ARGS)
{
	return SealedVectorForm(fcinfo, biocrypt_verify_reason);
}

PG_FUNCTION_INFO_V1(biocrypt_verify_reason_decision_sealed);
/* verify_reason_sealed(tpl, sealed_probe): as verify_reason(tpl, probe) */
Datum
biocrypt_verify_reason_decision_sealed(PG_FUNCTION_ARGS)
{
	return SealedVectorForm(fcinfo, biocrypt_verify_reason_decision);
}

/*
 * Start a bit-code form's plain arguments: those before the probe, then
 * the code and the mask (NULL without one) from the box; returns the count.
 */
static int
BitsArgs(FunctionCallInfo fcinfo, const SealedSite *site, int probe_arg,
		 NullableDatum *args)
{
	int			n = 0;

	for (int i = 0; i < probe_arg; i++)
		args[n++] = fcinfo->args[i];
	args[n].value = site->probe;
	args[n++].isnull = false;
	args[n].value = site->has_mask ? site->mask : (Datum) 0;
	args[n++].isnull = !site->has_mask;
	return n;
}

PG_FUNCTION_INFO_V1(biocrypt_verify_bits_decision_sealed);
/* verify_bits_sealed(tpl, sealed_probe, max_shift): as verify_bits() */
Datum
biocrypt_verify_bits_decision_sealed(PG_FUNCTION_ARGS)
{
	NullableDatum args[4];
	SealedSite *site;
	int			n;

	/* a NULL probe: the plain form's own error, without a box to open */
	if (PG_ARGISNULL(1))
		return biocrypt_verify_bits_decision(fcinfo);
	site = SealedSiteOpen(fcinfo, 1);
	SealedSiteRequire(site, SEALEDMSG_KIND_BITS);
	n = BitsArgs(fcinfo, site, 1, args);
	args[n++] = fcinfo->args[2];
	return SealedSiteCall(fcinfo, site, biocrypt_verify_bits_decision, n, args);
}

PG_FUNCTION_INFO_V1(biocrypt_hamming_distance_sealed);
/* hamming_distance_sealed(tpl, sealed_probe): as tpl <~> code, no mask. */
Datum
biocrypt_hamming_distance_sealed(PG_FUNCTION_ARGS)
{
	NullableDatum args[2];
	SealedSite *site = OpenProbeArg(fcinfo, 1, SEALEDMSG_KIND_BITS, args);

	if (site->has_mask)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: hamming_distance_sealed compares a code without a mask, as <~> does"),
				 errhint("Compare a sealed code with a mask by biocrypt.iris_distance_sealed()."),
				 errhidestmt(true), errhidecontext(true)));
	return SealedSiteCall(fcinfo, site, biocrypt_hamming_distance, 2, args);
}

PG_FUNCTION_INFO_V1(biocrypt_iris_distance_sealed);
/* iris_distance_sealed(tpl, sealed_probe, max_shift): code and mask from the box */
Datum
biocrypt_iris_distance_sealed(PG_FUNCTION_ARGS)
{
	NullableDatum args[4];
	SealedSite *site;
	int			n;

	/* as the plain form: NULL for a NULL template, probe or max_shift */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	site = SealedSiteOpen(fcinfo, 1);
	SealedSiteRequire(site, SEALEDMSG_KIND_BITS);
	n = BitsArgs(fcinfo, site, 1, args);
	args[n++] = fcinfo->args[2];
	return SealedSiteCall(fcinfo, site, biocrypt_iris_distance, n, args);
}

/*
 * A sealed bit code searches by masked fractional Hamming distance: the
 * metric must be 'hamming', or 'cosine', the default, left as it is.
 */
static void
CheckBitsMetric(text *metric)
{
	char	   *s = text_to_cstring(metric);

	if (strcmp(s, "hamming") != 0 && strcmp(s, "cosine") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: a sealed bit code is searched by Hamming distance"),
				 errhint("Use metric 'hamming' or leave the metric at its default."),
				 errhidestmt(true), errhidecontext(true)));
}

PG_FUNCTION_INFO_V1(biocrypt_identify_sealed);
/*
 * identify_sealed(gallery, col, sealed_probe, k, max_distance, metric, max_shift):
 * the embedding or the bit code (with its mask) the box holds.
 */
Datum
biocrypt_identify_sealed(PG_FUNCTION_ARGS)
{
	NullableDatum args[7];
	SealedSite *site;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(5) || PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: probe, metric and max_shift must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	site = SealedSiteOpen(fcinfo, 2);
	memcpy(args, fcinfo->args, sizeof(NullableDatum) * 7);
	args[2].value = site->probe;
	if (site->kind == SEALEDMSG_KIND_VECTOR)
		return SealedSiteCall(fcinfo, site, biocrypt_identify, 6, args);
	CheckBitsMetric(PG_GETARG_TEXT_PP(5));
	args[5].value = site->has_mask ? site->mask : (Datum) 0;
	args[5].isnull = !site->has_mask;
	return SealedSiteCall(fcinfo, site, biocrypt_identify_bits, 7, args);
}

PG_FUNCTION_INFO_V1(biocrypt_identify_ranks_sealed);
/*
 * identify_ranks_sealed(gallery, col, sealed_probe, k, max_shift): ranks
 * without distances, as identify_ranks() for the embedding or bit code
 * (with its mask) the box holds.
 */
Datum
biocrypt_identify_ranks_sealed(PG_FUNCTION_ARGS)
{
	NullableDatum args[6];
	SealedSite *site;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: probe and max_shift must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	site = SealedSiteOpen(fcinfo, 2);
	if (site->kind == SEALEDMSG_KIND_VECTOR)
	{
		memcpy(args, fcinfo->args, sizeof(NullableDatum) * 4);
		args[2].value = site->probe;
		return SealedSiteCall(fcinfo, site, biocrypt_identify_ranks, 4, args);
	}
	/* identify_ranks(gallery, col, code, k, mask, max_shift) */
	memcpy(args, fcinfo->args, sizeof(NullableDatum) * 4);
	args[2].value = site->probe;
	args[4].value = site->has_mask ? site->mask : (Datum) 0;
	args[4].isnull = !site->has_mask;
	args[5] = fcinfo->args[4];
	return SealedSiteCall(fcinfo, site, biocrypt_identify_ranks_bits, 6, args);
}
