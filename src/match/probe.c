/*-------------------------------------------------------------------------
 *
 * probe.c
 *		Probes prepared once per statement, for compare.c, iris.c and
 *		identify.c, and the checks every comparison makes.
 *
 * A probe is parsed, checked and converted once per statement: the result
 * is kept in fn_extra, in the function's memory context, and a reset
 * callback on that context zeroes it.  Each call compares the argument's
 * bytes (a TOAST pointer as such) with the cached copy and re-prepares only
 * when they differ: even a parameter can change between calls that share
 * fn_extra (PL/pgSQL re-evaluating a simple expression in a loop).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sodium.h>

#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "match/probe.h"
#include "template/template.h"

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

static int	biocrypt_on_expired = ON_EXPIRED_SKIP;
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
static bool
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

/*
 * Prepare the real[] arr as a probe into vp, in memory of mcxt that is
 * wiped with it; id (may be NULL) is kept to recognise the argument.
 */
void
FillVectorProbe(MemoryContext mcxt, VectorProbe *vp, ArrayType *arr,
				const struct varlena *id)
{
	int			dims;
	const float4 *x = CheckFloatArray(arr, "probe", &dims);
	Size		idlen = id != NULL ? VARSIZE_ANY(id) : 0;
	uint8	   *mem;

	/* one wiped block: the converted probe, then its identity bytes */
	mem = ProbeAlloc(mcxt, &vp->ph, sizeof(float) * dims + idlen);
	memcpy(mem, x, sizeof(float) * dims);
	vp->ph.raw = id != NULL ? mem + sizeof(float) * dims : NULL;
	vp->ph.raw_len = idlen;
	if (id != NULL)
		memcpy(vp->ph.raw, id, idlen);
	vp->kp = FloatProbe((const void *) mem, dims, vp->kp.metric);
}

/* A kernel probe of dims floats at x (kept by the caller), norm computed. */
KernelVectorProbe
FloatProbe(const float *x, size_t dims, KernelMetric metric)
{
	KernelVectorProbe kp;
	double		norm = 0;

	for (size_t i = 0; i < dims; i++)
		norm += (double) x[i] * x[i];
	kp.x = x;
	kp.dims = dims;
	kp.norm = sqrt(norm);
	kp.metric = metric;
	return kp;
}

/* Prepare a real[] probe into vp; id is its ProbeIdentity. */
static void
PrepareVectorProbe(FunctionCallInfo fcinfo, int argno, VectorProbe *vp,
				   const struct varlena *id)
{
	FillVectorProbe(fcinfo->flinfo->fn_mcxt, vp, PG_GETARG_ARRAYTYPE_P(argno), id);
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
			 errhidestmt(true), errhidecontext(true)));
	return KERNEL_METRIC_COSINE;	/* keep compiler quiet */
}

/* Does a template fit a vector probe of dims elements? */
bool
VectorTemplateFits(const EnvelopeHeader *hdr, size_t dims)
{
	return hdr->format != ENVELOPE_FORMAT_BITS && hdr->dims == dims;
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
				 errhidestmt(true), errhidecontext(true)));
	if (hdr->dims != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("biocrypt: template has %u dimensions but the probe has %zu",
						hdr->dims, dims),
				 errhidestmt(true), errhidecontext(true)));
}

/* A distance threshold must be a number. */
void
CheckMaxDistance(double max_distance)
{
	if (isnan(max_distance))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: max_distance must not be NaN"),
				 errhidestmt(true), errhidecontext(true)));
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
				 errhidestmt(true), errhidecontext(true)));
	return true;
}

/* Does an expired template raise an error (biocrypt.on_expired = error)? */
bool
ExpiredIsError(void)
{
	return biocrypt_on_expired == ON_EXPIRED_ERROR;
}

/* Define the settings every comparison reads. */
void
ProbeInit(void)
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
}

/* A metric's name in the audit log. */
const char *
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
