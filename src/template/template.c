/*-------------------------------------------------------------------------
 *
 * template.c
 *		The protected_template type: text and binary I/O, header accessors.
 *
 * A protected_template is a varlena holding one envelope (envelope.c).  Its
 * text form is the envelope in base64 (tplform.c) and its binary form the
 * raw envelope bytes, so COPY, pg_dump and replication only ever carry
 * ciphertext.  Input and receive parse as strictly as each other and never
 * echo the input in an error.  The accessors read the authenticated header
 * without any key.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "base/tplform.h"
#include "crypto/keys.h"
#include "template/template.h"

static void RefuseEnvelope(EnvelopeStatus status, int sqlstate) pg_attribute_noreturn();

/* Refuse an input that is not one valid envelope; never shows its bytes. */
static void
RefuseEnvelope(EnvelopeStatus status, int sqlstate)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("biocrypt: invalid protected_template: %s",
					EnvelopeStatusMessage(status)),
			 errhidestmt(true), errhidecontext(true)));
}

/* Validate envelope bytes and wrap them as a protected_template datum. */
static bytea *
TemplateFromBytes(const uint8 *bytes, size_t len, int sqlstate)
{
	EnvelopeHeader hdr;
	EnvelopeStatus status = EnvelopeParse(bytes, len, &hdr);
	bytea	   *result;

	if (status != ENVELOPE_OK)
		RefuseEnvelope(status, sqlstate);
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), bytes, len);
	return result;
}

PG_FUNCTION_INFO_V1(protected_template_in);
/*
 * Text input: base64 of an envelope, whitespace ignored (base/tplform.c),
 * decoded straight into the datum.
 */
Datum
protected_template_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len = strlen(str);
	size_t		maxbin = TplFormDecodedBound(len);
	bytea	   *result = palloc(VARHDRSZ + maxbin);
	size_t		binlen = 0;
	EnvelopeStatus envstatus = ENVELOPE_OK;

	switch (TplFormFromText(str, len, (uint8 *) VARDATA(result), maxbin,
							&binlen, &envstatus))
	{
		case TPLFORM_OK:
			break;
		case TPLFORM_BAD_BASE64:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("biocrypt: invalid protected_template: not valid base64"),
					 errhidestmt(true), errhidecontext(true)));
			break;
		case TPLFORM_BAD_ENVELOPE:
			RefuseEnvelope(envstatus, ERRCODE_INVALID_TEXT_REPRESENTATION);
			break;
	}
	SET_VARSIZE(result, VARHDRSZ + binlen);
	TemplateCheckTypmod(result, PG_NARGS() > 2 ? PG_GETARG_INT32(2) : -1);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(protected_template_out);
/* Text output: base64 of the envelope (ciphertext only). */
Datum
protected_template_out(PG_FUNCTION_ARGS)
{
	bytea	   *tpl = PG_GETARG_TEMPLATE_P(0);
	size_t		len = VARSIZE_ANY_EXHDR(tpl);
	size_t		outsize = TplFormTextSize(len);
	char	   *out = palloc(outsize);

	TplFormToText(out, outsize, (const uint8 *) VARDATA_ANY(tpl), len);
	PG_RETURN_CSTRING(out);
}

PG_FUNCTION_INFO_V1(protected_template_recv);
/* Binary input: the raw envelope, validated like text input. */
Datum
protected_template_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	const char *bytes = pq_getmsgbytes(buf, len);
	bytea	   *result = TemplateFromBytes((const uint8 *) bytes, len,
										   ERRCODE_INVALID_BINARY_REPRESENTATION);

	TemplateCheckTypmod(result, PG_NARGS() > 2 ? PG_GETARG_INT32(2) : -1);
	PG_RETURN_BYTEA_P(result);
}

PG_FUNCTION_INFO_V1(protected_template_send);
/* Binary output: the raw envelope. */
Datum
protected_template_send(PG_FUNCTION_ARGS)
{
	bytea	   *tpl = PG_GETARG_TEMPLATE_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(tpl), VARSIZE_ANY_EXHDR(tpl));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Parse the header of argument 0 of an accessor. */
static void
HeaderOfArg(FunctionCallInfo fcinfo, EnvelopeHeader *hdr)
{
	ParseTemplate(PG_GETARG_TEMPLATE_P(0), hdr);
}

PG_FUNCTION_INFO_V1(biocrypt_subject_of);
/* The subject, converted from UTF-8 to the database encoding. */
Datum
biocrypt_subject_of(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;

	HeaderOfArg(fcinfo, &hdr);
	PG_RETURN_TEXT_P(cstring_to_text(SubjectToServer(&hdr)));
}

PG_FUNCTION_INFO_V1(biocrypt_expires_at);
/* When the template's retention runs out. */
Datum
biocrypt_expires_at(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;

	HeaderOfArg(fcinfo, &hdr);
	PG_RETURN_TIMESTAMPTZ(hdr.expires);
}

PG_FUNCTION_INFO_V1(biocrypt_created_at);
/* When the template was sealed. */
Datum
biocrypt_created_at(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;

	HeaderOfArg(fcinfo, &hdr);
	PG_RETURN_TIMESTAMPTZ(hdr.created);
}

PG_FUNCTION_INFO_V1(biocrypt_purposes_of);
/* The purposes the template may be used for, sorted. */
Datum
biocrypt_purposes_of(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;
	Datum		elems[ENVELOPE_MAX_PURPOSES];

	HeaderOfArg(fcinfo, &hdr);
	for (int i = 0; i < hdr.npurposes; i++)
		elems[i] = PointerGetDatum(cstring_to_text_with_len(hdr.purpose[i],
															hdr.purpose_len[i]));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, hdr.npurposes, TEXTOID,
										  -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(biocrypt_key_id_of);
/* The id of the data key in biocrypt.keys that sealed the template. */
Datum
biocrypt_key_id_of(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;

	HeaderOfArg(fcinfo, &hdr);
	PG_RETURN_INT32((int32) hdr.key_id);
}

PG_FUNCTION_INFO_V1(biocrypt_format_of);
/* The element format: f32, f16, i8 or bits. */
Datum
biocrypt_format_of(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;

	HeaderOfArg(fcinfo, &hdr);
	PG_RETURN_TEXT_P(cstring_to_text(TemplateFormatName(hdr.format)));
}

PG_FUNCTION_INFO_V1(biocrypt_dims_of);
/* Number of elements (bits for bit codes). */
Datum
biocrypt_dims_of(PG_FUNCTION_ARGS)
{
	EnvelopeHeader hdr;

	HeaderOfArg(fcinfo, &hdr);
	PG_RETURN_INT32((int32) hdr.dims);
}

/*
 * Check a real[] embedding or probe ("what" names it in errors): 1-D,
 * 1..16000 finite values, no NULLs.  Returns its values.
 */
const float4 *
CheckFloatArray(ArrayType *arr, const char *what, int *dims)
{
	/* cppcheck-suppress invalidPointerCast ; array data of a real[] */
	const float4 *x = (const float4 *) ARR_DATA_PTR(arr);
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("biocrypt: %s must be a one-dimensional array", what),
				 errhidestmt(true), errhidecontext(true)));
	if (array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: %s must not contain NULLs", what),
				 errhidestmt(true), errhidecontext(true)));
	n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("biocrypt: %s must have at least 1 dimension", what),
				 errhidestmt(true), errhidecontext(true)));
	if (n > ENVELOPE_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("biocrypt: %s cannot have more than %d dimensions",
						what, ENVELOPE_MAX_DIMS),
				 errhidestmt(true), errhidecontext(true)));
	for (int i = 0; i < n; i++)
		if (!isfinite(x[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("biocrypt: %s must not contain NaN or infinity", what),
					 errhidestmt(true), errhidecontext(true)));
	*dims = n;
	return x;
}
