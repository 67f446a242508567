/*-------------------------------------------------------------------------
 *
 * enrol.c
 *		Enrolment (protect, protect_bits) and the audited way back (reveal).
 *
 * protect() validates an embedding, quantises it into a locked buffer
 * (base/quantise.c: f32 as is, f16 rounded to nearest even, i8 with one
 * scale per template),
 * seals it and zeroes the buffer.  Subject, expiry and purposes go into the
 * authenticated header.  reveal() is the only path that returns plaintext:
 * superusers or members of biocrypt_admin, only while the superuser-only
 * setting biocrypt.allow_reveal is on, never for an expired template.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sodium.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "audit/audit.h"
#include "core/core.h"
#include "crypto/keys.h"
#include "lifecycle/lifecycle.h"
#include "template/template.h"
#include "base/quantise.h"

#define BIOCRYPT_ADMIN_ROLE	"biocrypt_admin"

static char *biocrypt_default_purposes = NULL;

/* Refuse a NULL argument with 22004. */
static void
RequireArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: %s must not be NULL", name),
				 errhidestmt(true), errhidecontext(true)));
}

/* Map a format name to its id. */
static uint8
ParseFormat(text *name)
{
	uint8		format = TemplateFormatByName(text_to_cstring(name));

	/* bit codes are enrolled by protect_bits() */
	if (format != 0 && format != ENVELOPE_FORMAT_BITS)
		return format;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("biocrypt: unknown template format"),
			 errhint("Use 'f32', 'f16' or 'i8'."),
			 errhidestmt(true), errhidecontext(true)));
	return 0;					/* keep compiler quiet */
}

/*
 * Split a comma-separated purpose list (biocrypt.default_purposes) in place,
 * trimming spaces.  Returns the count, or -1 for an empty entry or too many.
 */
static int
SplitPurposeList(char *list, char **names, int max)
{
	int			n = 0;
	char	   *tok = list;

	while (*tok == ' ')
		tok++;
	if (*tok == '\0')
		return 0;				/* the empty list */
	for (;;)
	{
		char	   *comma = strchr(tok, ',');
		char	   *end = comma ? comma : tok + strlen(tok);

		while (*tok == ' ')
			tok++;
		while (end > tok && end[-1] == ' ')
			end--;
		if (end == tok || n == max)
			return -1;
		names[n++] = tok;
		if (comma == NULL)
		{
			*end = '\0';
			return n;
		}
		*end = '\0';
		tok = comma + 1;
	}
}

/* Purposes from biocrypt.default_purposes. */
static void
PurposesFromDefault(EnvelopeHeader *hdr)
{
	char	  **names = palloc(sizeof(char *) * ENVELOPE_MAX_PURPOSES);
	int			n = SplitPurposeList(pstrdup(biocrypt_default_purposes), names,
									 ENVELOPE_MAX_PURPOSES);

	if (n <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: no purposes given and biocrypt.default_purposes is empty"),
				 errhint("Pass purposes, or set biocrypt.default_purposes."),
				 errhidestmt(true), errhidecontext(true)));
	SetPurposes(hdr, names, n);
}

/* Fill subject, timestamps and purposes from arguments subj..subj+2. */
static void
FillLabels(FunctionCallInfo fcinfo, int subj, EnvelopeHeader *hdr)
{
	text	   *subject;
	char	   *utf8;
	int			len;
	TimestampTz sealed_at = GetCurrentTimestamp();

	RequireArg(fcinfo, subj, "subject");
	subject = PG_GETARG_TEXT_PP(subj);
	len = VARSIZE_ANY_EXHDR(subject);
	utf8 = pg_server_to_any(VARDATA_ANY(subject), len, PG_UTF8);
	if (utf8 != VARDATA_ANY(subject))
		len = strlen(utf8);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: subject must not be empty"),
				 errhidestmt(true), errhidecontext(true)));
	if (!pg_verify_mbstr(PG_UTF8, utf8, len, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: subject must be valid UTF-8 text"),
				 errhidestmt(true), errhidecontext(true)));
	if (len > ENVELOPE_MAX_SUBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: subject cannot be longer than %d bytes", ENVELOPE_MAX_SUBJECT),
				 errhidestmt(true), errhidecontext(true)));
	hdr->subject = utf8;
	hdr->subject_len = (uint16) len;
	hdr->created = sealed_at;
	hdr->expires = RetentionResolveExpiry(PG_ARGISNULL(subj + 1),
										  PG_ARGISNULL(subj + 1) ? 0 :
										  PG_GETARG_TIMESTAMPTZ(subj + 1),
										  sealed_at);
	if (PG_ARGISNULL(subj + 2))
		PurposesFromDefault(hdr);
	else
		PurposesFromArray(hdr, PG_GETARG_ARRAYTYPE_P(subj + 2));
}

/* Which labels FillLabels took from defaults (POLICY_DEFAULT_*). */
static int
DefaultedLabels(FunctionCallInfo fcinfo, int subj)
{
	return (PG_ARGISNULL(subj + 1) ? POLICY_DEFAULT_RETENTION : 0) |
		(PG_ARGISNULL(subj + 2) ? POLICY_DEFAULT_PURPOSES : 0);
}

/* Zero a plaintext argument if detoasting made a private copy of it. */
static void
WipeDetoasted(void *value, Datum original)
{
	if (value != DatumGetPointer(original))
		sodium_memzero(value, VARSIZE_ANY(value));
}

/* Seal an embedding or a bit code, zeroing the plaintext buffer on every path. */
static bytea *
SealPayload(EnvelopeHeader *hdr, const float4 *x, const uint8 *code,
			const uint8 *mask)
{
	SecBuf	   *plain;
	bytea	   *volatile result = NULL;
	size_t		codelen = hdr->dims / 8;

	plain = SecmemAcquire(EnvelopePayloadSize(hdr->format, hdr->dims, hdr->flags));
	PG_TRY();
	{
		if (hdr->format == ENVELOPE_FORMAT_BITS)
		{
			memcpy(plain->data, code, codelen);
			if (mask != NULL)
				memcpy(plain->data + codelen, mask, codelen);
		}
		else if (!QuantiseVector(hdr, x, plain->data))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("biocrypt: embedding value out of range for f16"),
					 errdetail("f16 holds magnitudes below 65520."),
					 errhidestmt(true), errhidecontext(true)));
		result = SealTemplate(hdr, plain->data);
	}
	PG_FINALLY();
	{
		SecmemRelease(plain);
	}
	PG_END_TRY();
	return result;
}

/*
 * Count an enrolment in the statement's protect event, with the subject,
 * purposes and expiry it was sealed with, and tell the column policies
 * (defaults to replace; the table whose write it already records).
 */
static void
AuditSealed(FunctionCallInfo fcinfo, bytea *tpl, const EnvelopeHeader *hdr,
			int defaulted)
{
	AuditEvent *ev = AuditAccess(fcinfo, AUDIT_OP_PROTECT);

	ev->templates_compared++;
	EnrolProgressCount(ev->relation);
	AuditAddSealed(ev, tpl, hdr);
	PolicyNoteSealed(tpl, hdr, defaulted, ev->relation);
}

PG_FUNCTION_INFO_V1(biocrypt_protect);
/* protect(embedding, subject, retain_until, purposes, format) */
Datum
biocrypt_protect(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;
	const float4 *x;
	int			dims;

	ArrayType  *arr;
	bytea	   *result;

	memset(&hdr, 0, sizeof(hdr));
	RequireArg(fcinfo, 0, "embedding");
	RequireArg(fcinfo, 4, "format");
	arr = PG_GETARG_ARRAYTYPE_P(0);
	x = CheckFloatArray(arr, "embedding", &dims);
	hdr.format = ParseFormat(PG_GETARG_TEXT_PP(4));
	hdr.dims = (uint32) dims;
	FillLabels(fcinfo, 1, &hdr);
	result = SealPayload(&hdr, x, NULL, NULL);
	WipeDetoasted(arr, PG_GETARG_DATUM(0));
	AuditSealed(fcinfo, result, &hdr, DefaultedLabels(fcinfo, 1));
	PG_RETURN_BYTEA_P(result);
}

/* Read layout {rows, cols, bits_per_cell} and check it covers bits. */
static void
SetLayout(EnvelopeHeader *hdr, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int64		v[3];

	deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	if (ARR_NDIM(arr) != 1 || n != 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: layout must be {rows, cols, bits_per_cell}"),
				 errhidestmt(true), errhidecontext(true)));
	for (int i = 0; i < 3; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("biocrypt: layout must not contain NULLs"),
					 errhidestmt(true), errhidecontext(true)));
		v[i] = DatumGetInt32(elems[i]);
		if (v[i] < 1 || v[i] > PG_UINT16_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("biocrypt: layout entries must be between 1 and %d", PG_UINT16_MAX),
					 errhidestmt(true), errhidecontext(true)));
	}
	if (v[0] * v[1] * v[2] != hdr->dims)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: layout does not match the code length"),
				 errdetail("rows * cols * bits_per_cell must equal the %u bits of the code.",
						   hdr->dims),
				 errhidestmt(true), errhidecontext(true)));
	hdr->rows = (uint16) v[0];
	hdr->cols = (uint16) v[1];
	hdr->bits_per_cell = (uint16) v[2];
}

PG_FUNCTION_INFO_V1(biocrypt_protect_bits);
/* protect_bits(code, mask, subject, retain_until, purposes, layout) */
Datum
biocrypt_protect_bits(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;
	bytea	   *code;
	bytea	   *mask = NULL;
	bytea	   *result;
	size_t		len;

	memset(&hdr, 0, sizeof(hdr));
	RequireArg(fcinfo, 0, "code");
	code = PG_GETARG_BYTEA_PP(0);
	len = VARSIZE_ANY_EXHDR(code);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: code must not be empty"),
				 errhidestmt(true), errhidecontext(true)));
	if (len > ENVELOPE_MAX_BITS / 8)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("biocrypt: code cannot be longer than %d bits",
						ENVELOPE_MAX_BITS),
				 errhidestmt(true), errhidecontext(true)));
	if (!PG_ARGISNULL(1))
	{
		mask = PG_GETARG_BYTEA_PP(1);
		if (VARSIZE_ANY_EXHDR(mask) != len)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("biocrypt: mask must be as long as the code"),
					 errhidestmt(true), errhidecontext(true)));
		hdr.flags = ENVELOPE_FLAG_MASK;
	}
	hdr.format = ENVELOPE_FORMAT_BITS;
	hdr.dims = (uint32) (len * 8);
	if (!PG_ARGISNULL(5))
		SetLayout(&hdr, PG_GETARG_ARRAYTYPE_P(5));
	FillLabels(fcinfo, 2, &hdr);
	result = SealPayload(&hdr, NULL, (const uint8 *) VARDATA_ANY(code),
						 mask ? (const uint8 *) VARDATA_ANY(mask) : NULL);
	WipeDetoasted(code, PG_GETARG_DATUM(0));
	if (mask != NULL)
		WipeDetoasted(mask, PG_GETARG_DATUM(1));
	AuditSealed(fcinfo, result, &hdr, DefaultedLabels(fcinfo, 2));
	PG_RETURN_BYTEA_P(result);
}

/*
 * Allow reveal only to admins, only while biocrypt.allow_reveal is on; a
 * refusal is recorded as denied in place of the reveal event ev.
 */
static void
CheckRevealAllowed(FunctionCallInfo fcinfo, AuditEvent *ev)
{
	bool		is_admin = CurrentRoleAdministersBiocrypt();

	if (!is_admin || !RevealAllowed())
		AuditDeny(fcinfo, ev);
	if (!is_admin)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("biocrypt: permission denied to reveal templates"),
				 errhint("Only superusers and members of %s may reveal templates.",
						 BIOCRYPT_ADMIN_ROLE),
				 errhidestmt(true), errhidecontext(true)));
	if (!RevealAllowed())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("biocrypt: reveal is disabled"),
				 errhint("A superuser must set biocrypt.allow_reveal = on."),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * Decrypt a template for reveal: checks rights, kind and expiry first, and
 * counts it in the statement's reveal event.
 */
static SecBuf *
OpenForReveal(FunctionCallInfo fcinfo, EnvelopeHeader *hdr, bool want_bits)
{
	bytea	   *tpl = PG_GETARG_TEMPLATE_P(0);
	AuditEvent *ev = AuditAccess(fcinfo, AUDIT_OP_REVEAL);

	CheckRevealAllowed(fcinfo, ev);
	ParseTemplate(tpl, hdr);
	if ((hdr->format == ENVELOPE_FORMAT_BITS) != want_bits)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("biocrypt: template is %s", want_bits ?
						"an embedding, not a bit code" :
						"a bit code, not an embedding"),
				 errhint("Use biocrypt.%s for this template.",
						 want_bits ? "reveal" : "reveal_bits"),
				 errhidestmt(true), errhidecontext(true)));
	RetentionRefuseExpired(hdr);
	AuditBegin(ev);
	ev->templates_compared++;
	AuditAddSubject(ev, SubjectToServer(hdr));
	return OpenTemplate(tpl, hdr);
}

PG_FUNCTION_INFO_V1(biocrypt_reveal);
/* reveal(tpl) RETURNS real[]: the embedding, for admins, audited. */
Datum
biocrypt_reveal(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;
	SecBuf	   *plain = OpenForReveal(fcinfo, &hdr, false);
	int			dims = (int) hdr.dims;
	size_t		size = ARR_OVERHEAD_NONULLS(1) + sizeof(float4) * dims;
	ArrayType  *result = (ArrayType *) palloc0(size);

	/* build the array in place: no intermediate copy of the plaintext */
	SET_VARSIZE(result, size);
	result->ndim = 1;
	result->dataoffset = 0;
	result->elemtype = FLOAT4OID;
	ARR_DIMS(result)[0] = dims;
	ARR_LBOUND(result)[0] = 1;
	/* cppcheck-suppress invalidPointerCast ; array data of a real[] */
	DequantiseVector(&hdr, plain->data, (float4 *) ARR_DATA_PTR(result));
	SecmemRelease(plain);
	PG_RETURN_ARRAYTYPE_P(result);
}

PG_FUNCTION_INFO_V1(biocrypt_reveal_bits);
/* reveal_bits(tpl, OUT code bytea, OUT mask bytea): a bit code and mask. */
Datum
biocrypt_reveal_bits(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	SecBuf	   *plain;
	size_t		len;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: reveal_bits must return a record"),
				 errhidestmt(true), errhidecontext(true)));
	plain = OpenForReveal(fcinfo, &hdr, true);
	len = hdr.dims / 8;
	values[0] = PointerGetDatum(cstring_to_text_with_len((char *) plain->data, len));
	if (hdr.flags & ENVELOPE_FLAG_MASK)
		values[1] = PointerGetDatum(cstring_to_text_with_len((char *) plain->data + len, len));
	else
		nulls[1] = true;
	SecmemRelease(plain);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/* GUC check hook: a comma-separated list of valid purpose names. */
static bool
CheckDefaultPurposes(char **newval, void **extra, GucSource source)
{
	char	   *copy = strdup(*newval ? *newval : "");
	char	   *names[ENVELOPE_MAX_PURPOSES];
	int			n;
	bool		ok = true;

	if (copy == NULL)
		return false;
	n = SplitPurposeList(copy, names, ENVELOPE_MAX_PURPOSES);
	if (n < 0)
		ok = false;
	for (int i = 0; ok && i < n; i++)
		ok = EnvelopePurposeValid(names[i], strlen(names[i]));
	free(copy);
	if (!ok)
		GUC_check_errdetail("List at most %d purposes of a-z, 0-9, \"_\", \".\" or \"-\", separated by commas.",
							ENVELOPE_MAX_PURPOSES);
	return ok;
}

/* Define the enrolment and reveal settings. */
void
EnrolInit(void)
{
	DefineCustomStringVariable("biocrypt.default_purposes",
							   "Purposes of a template sealed without purposes (comma-separated).",
							   NULL, &biocrypt_default_purposes, "verification",
							   PGC_SUSET, GUC_LIST_INPUT,
							   CheckDefaultPurposes, NULL, NULL);
}
