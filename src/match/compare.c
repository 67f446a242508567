/*-------------------------------------------------------------------------
 *
 * compare.c
 *		Comparison of templates with probes: operators, verify, iris_distance.
 *
 * A probe is parsed, checked and converted once per statement: the result
 * is kept in fn_extra, in the function's memory context, and a reset
 * callback on that context zeroes it.  Each call compares the argument's
 * bytes (a TOAST pointer as such) with the cached copy and re-prepares only
 * when they differ: even a parameter can change between calls that share
 * fn_extra (PL/pgSQL re-evaluating a simple expression in a loop).
 *
 * Each comparison parses the template's header, refuses a shape that does
 * not fit the probe, treats an expired template per biocrypt.on_expired
 * (never decrypting it), decrypts into a locked scratch buffer, runs the
 * kernel and zeroes the buffer.  Every function here is STABLE: results
 * depend on the clock and the key ring.
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
#include "biocrypt.h"
#include "match/probe.h"
#include "base/kernels.h"

typedef enum
{
	ON_EXPIRED_SKIP,
	ON_EXPIRED_ERROR
} OnExpired;

static const struct config_enum_entry on_expired_options[] = {
	{"skip", ON_EXPIRED_SKIP, false},
	{"error", ON_EXPIRED_ERROR, false},
	{NULL, 0, false}
};

static const struct config_enum_entry simd_options[] = {
	{"auto", -1, false},
	{"portable", KERNEL_PATH_PORTABLE, false},
	{"avx2", KERNEL_PATH_AVX2, false},
	{"avx512", KERNEL_PATH_AVX512, false},
	{NULL, 0, false}
};

static int	biocrypt_on_expired = ON_EXPIRED_SKIP;
static int	biocrypt_simd = -1;
int			biocrypt_min_common_bits = 64;

/* Zero a cached probe when its statement's memory goes away. */
static void
ProbeWipeCallback(void *arg)
{
	ProbeHeader *ph = (ProbeHeader *) arg;

	if (ph->secret != NULL)
		sodium_memzero(ph->secret, ph->secret_len);
}

/*
 * (Re)allocate a probe's zeroed memory block in mcxt.  The block is wiped
 * when replaced and when mcxt is reset, so a probe that changes per row
 * (a join) reuses one callback and leaks nothing.
 */
void *
ProbeAlloc(MemoryContext mcxt, ProbeHeader *ph, Size len)
{
	if (ph->wipe.func == NULL)
	{
		ph->wipe.func = ProbeWipeCallback;
		ph->wipe.arg = ph;
		MemoryContextRegisterResetCallback(mcxt, &ph->wipe);
	}
	if (ph->secret != NULL)
	{
		sodium_memzero(ph->secret, ph->secret_len);
		pfree(ph->secret);
	}
	ph->audit_seen = 0;			/* a new probe: the audit has not seen it */
	ph->secret = MemoryContextAllocZero(mcxt, len);
	ph->secret_len = len;
	return ph->secret;
}

/*
 * Is the cached probe still the argument?  Always compared byte for byte:
 * even a "stable" Param changes between evaluations of a reused expression
 * state (PL/pgSQL simple expressions in a loop).
 */
bool
ProbeStillValid(const ProbeHeader *ph, const void *raw, Size rawlen)
{
	if (ph->raw == NULL)
		return false;
	return rawlen == ph->raw_len && memcmp(raw, ph->raw, rawlen) == 0;
}

/*
 * The bytes that identify probe argument argno within a statement: the
 * datum as passed, so a TOAST pointer is compared without fetching the
 * value (stored values never change in place).  An in-memory value
 * (expanded, as PL/pgSQL passes arrays, or indirect) may change, so it is
 * flattened and its contents compared instead.
 */
static struct varlena *
ProbeIdentity(FunctionCallInfo fcinfo, int argno)
{
	struct varlena *raw = (struct varlena *) PG_GETARG_RAW_VARLENA_P(argno);

	if (VARATT_IS_EXTERNAL(raw) && !VARATT_IS_EXTERNAL_ONDISK(raw))
		raw = (struct varlena *) PG_DETOAST_DATUM(PointerGetDatum(raw));
	return raw;
}

/* Prepare a real[] probe into vp; id is its ProbeIdentity. */
static void
PrepareVectorProbe(FunctionCallInfo fcinfo, int argno, VectorProbe *vp,
				   const struct varlena *id)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(argno);
	int			dims;
	const float4 *x = CheckFloatArray(arr, "probe", &dims);
	double		norm = 0;
	float	   *values;
	uint8	   *mem;

	/* one wiped block: the converted probe, then its identity bytes */
	mem = ProbeAlloc(fcinfo->flinfo->fn_mcxt, &vp->ph,
					 sizeof(float) * dims + VARSIZE_ANY(id));
	memcpy(mem, x, sizeof(float) * dims);
	for (int i = 0; i < dims; i++)
		norm += (double) x[i] * x[i];
	vp->ph.raw = mem + sizeof(float) * dims;
	vp->ph.raw_len = VARSIZE_ANY(id);
	memcpy(vp->ph.raw, id, VARSIZE_ANY(id));
	values = (void *) mem;
	vp->kp.x = values;
	vp->kp.dims = dims;
	vp->kp.norm = sqrt(norm);
}

/* The statement's vector probe from argument argno, prepared once. */
VectorProbe *
GetVectorProbe(FunctionCallInfo fcinfo, int argno)
{
	VectorProbe *vp = (VectorProbe *) fcinfo->flinfo->fn_extra;
	struct varlena *id = ProbeIdentity(fcinfo, argno);

	if (vp != NULL && ProbeStillValid(&vp->ph, id, VARSIZE_ANY(id)))
		return vp;
	if (vp == NULL)
	{
		vp = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(VectorProbe));
		fcinfo->flinfo->fn_extra = vp;
	}
	PrepareVectorProbe(fcinfo, argno, vp, id);
	return vp;
}

/* Parse a metric name. */
KernelMetric
ParseMetric(text *name)
{
	char	   *s = text_to_cstring(name);

	if (strcmp(s, "cosine") == 0)
		return KERNEL_METRIC_COSINE;
	if (strcmp(s, "l2") == 0)
		return KERNEL_METRIC_L2;
	if (strcmp(s, "inner_product") == 0)
		return KERNEL_METRIC_NEG_IP;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("biocrypt: unknown metric"),
			 errhint("Use 'cosine', 'l2' or 'inner_product'."),
			 errhidestmt(true)));
	return KERNEL_METRIC_COSINE;	/* keep compiler quiet */
}

/* Refuse a template whose kind or size does not fit a vector probe. */
void
CheckVectorTemplate(const EnvelopeHeader *hdr, size_t dims)
{
	if (hdr->format == ENVELOPE_FORMAT_BITS)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("biocrypt: template is a bit code, not an embedding"),
				 errhint("Compare bit codes with <~>, biocrypt.iris_distance() or a bytea probe."),
				 errhidestmt(true)));
	if (hdr->dims != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("biocrypt: template has %u dimensions but the probe has %zu",
						hdr->dims, dims),
				 errhidestmt(true)));
}

/* A distance threshold must be a number. */
void
CheckMaxDistance(double max_distance)
{
	if (isnan(max_distance))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: max_distance must not be NaN"),
				 errhidestmt(true)));
}

/*
 * Decide about an expired template: false if it may be used; true to skip
 * it (biocrypt.on_expired = skip); ERROR under on_expired = error.
 */
bool
CheckExpired(const EnvelopeHeader *hdr, TimestampTz now)
{
	if (!RetentionExpiredAt(hdr, now))
		return false;
	if (biocrypt_on_expired == ON_EXPIRED_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: template has expired"),
				 errdetail("Expired templates are never decrypted."),
				 errhint("Purge expired templates, or set biocrypt.on_expired = skip."),
				 errhidestmt(true)));
	return true;
}

/*
 * Decrypt a parsed template for one comparison, or return NULL for an
 * expired one (never decrypted).  The caller releases the buffer.
 */
static SecBuf *
OpenUnlessExpired(bytea *tpl, const EnvelopeHeader *hdr, AuditEvent *ev)
{
	SecBuf	   *plain;

	if (CheckExpired(hdr, GetCurrentTimestamp()))
		return NULL;
	/* the access is on record before anything is decrypted */
	AuditBegin(ev);
	plain = SecmemAcquire(hdr->payload_len);
	DecryptTemplate(tpl, hdr, plain->data);
	return plain;
}

static const char *
MetricName(KernelMetric metric)
{
	switch (metric)
	{
		case KERNEL_METRIC_L2:
			return "l2";
		case KERNEL_METRIC_NEG_IP:
			return "inner_product";
		default:
			return "cosine";
	}
}

/*
 * The audit event this call counts in, with its metric noted: comparisons
 * are audited per statement and column (auditstmt.c).
 */
static AuditEvent *
AuditComparison(FunctionCallInfo fcinfo, AuditOperation op, const char *metric)
{
	AuditEvent *ev = AuditAccess(fcinfo, op);

	if (ev->metric[0] == '\0')
		strlcpy(ev->metric, metric, sizeof(ev->metric));
	return ev;
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
	CheckVectorTemplate(&hdr, kp.dims);
	PurposeCheck(fcinfo, &hdr, *ev);
	plain = OpenUnlessExpired(tpl, &hdr, *ev);
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
	PG_RETURN_FLOAT8(d);
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

PG_FUNCTION_INFO_V1(biocrypt_verify);
/* verify(tpl, probe, max_distance, metric): 1:1, false when expired. */
Datum
biocrypt_verify(PG_FUNCTION_ARGS)
{
	double		max_distance = PG_GETARG_FLOAT8(2);
	KernelMetric metric = ParseMetric(PG_GETARG_TEXT_PP(3));
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
	PG_RETURN_BOOL(match);
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

	/* the code is not prepared once per statement: hash it per call */
	AuditAccessProbe(ev, &seen, VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code), NULL, 0);
	ParseTemplateForDecrypt(tpl, &hdr);
	CheckBitsTemplate(&hdr, VARSIZE_ANY_EXHDR(code));
	PurposeCheck(fcinfo, &hdr, ev);
	plain = OpenUnlessExpired(tpl, &hdr, ev);
	AuditCount(ev, plain == NULL);
	if (plain == NULL)
		PG_RETURN_NULL();
	d = KernelHammingFraction((const uint8 *) VARDATA_ANY(code), plain->data,
							  hdr.dims / 8);
	SecmemRelease(plain);
	PG_RETURN_FLOAT8(d);
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

PG_FUNCTION_INFO_V1(biocrypt_iris_distance);
/*
 * iris_distance(tpl, code, mask, max_shift): masked fractional Hamming
 * distance, minimised over column shifts; NULL when too few bits are valid.
 */
Datum
biocrypt_iris_distance(PG_FUNCTION_ARGS)
{
	bytea	   *tpl;
	AuditEvent *ev;
	EnvelopeHeader hdr;
	BitsProbe  *bp;
	SecBuf	   *plain;
	double		d;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	tpl = PG_GETARG_TEMPLATE_P(0);
	ev = AuditComparison(fcinfo, AUDIT_OP_COMPARE, "hamming");
	ParseTemplateForDecrypt(tpl, &hdr);
	bp = GetBitsProbe(fcinfo, 1, 2, PG_GETARG_INT32(3), &hdr);
	AuditBitsProbe(fcinfo, ev, &bp->ph.audit_seen);
	PurposeCheck(fcinfo, &hdr, ev);
	plain = OpenUnlessExpired(tpl, &hdr, ev);
	AuditCount(ev, plain == NULL);
	if (plain == NULL)
		PG_RETURN_NULL();
	d = KernelBitsDistance(&bp->kp, plain->data, BitsTemplateMask(bp, &hdr, plain->data));
	SecmemRelease(plain);
	if (isnan(d))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(d);
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
	DefineCustomEnumVariable("biocrypt.on_expired",
							 "What comparisons do with an expired template.",
							 "skip: operators return NULL, verify returns false, identify skips it; error: raise an error.",
							 &biocrypt_on_expired, ON_EXPIRED_SKIP,
							 on_expired_options, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("biocrypt.min_common_bits",
							"Fewest bits valid in both masks for an iris distance.",
							NULL, &biocrypt_min_common_bits, 64, 1,
							ENVELOPE_MAX_BITS, PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("biocrypt.simd",
							 "Distance kernel path: auto, avx512, avx2 or portable.",
							 NULL, &biocrypt_simd, -1, simd_options,
							 PGC_SUSET, 0, CheckSimd, AssignSimd, NULL);
}
