/*-------------------------------------------------------------------------
 *
 * typmod.c
 *		A column's declared shape: protected_template(dims) or
 *		protected_template(dims, format), as pgvector's vector(dims).
 *
 * The shape is checked where a template enters the column (the length
 * coercion PostgreSQL applies on INSERT, UPDATE and COPY, and text and
 * binary input with a type modifier), so that a 1:N search over the column
 * never meets a template it cannot compare.  Only the authenticated header
 * is read: no key is needed.  The modifier packs the dimensions (bits for
 * a bit code) in its low bits and the format, 0 for any, above them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "template/template.h"

#define TYPMOD_DIMS_BITS	20
#define TYPMOD_DIMS_MASK	((1 << TYPMOD_DIMS_BITS) - 1)

/* The format named by a type modifier's second element, or 0. */
static uint8
FormatByName(const char *name)
{
	uint8		format = TemplateFormatByName(name);

	if (format != 0)
		return format;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("biocrypt: unknown template format in type modifier"),
			 errhint("Use f32, f16, i8 or bits, as in protected_template(512, f16)."),
			 errhidestmt(true), errhidecontext(true)));
	return 0;					/* keep compiler quiet */
}

/* The dimensions of a type modifier's first element, within the format's limit. */
static int32
DimsByName(const char *s, uint8 format)
{
	int32		max = format == ENVELOPE_FORMAT_BITS ? ENVELOPE_MAX_BITS :
		format == 0 ? Max(ENVELOPE_MAX_DIMS, ENVELOPE_MAX_BITS) : ENVELOPE_MAX_DIMS;
	char	   *end;
	long		dims = strtol(s, &end, 10);

	if (*end != '\0' || dims < 1 || dims > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: dimensions of protected_template must be between 1 and %d",
						max),
				 errhidestmt(true), errhidecontext(true)));
	if (format == ENVELOPE_FORMAT_BITS && dims % 8 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: a bit code's length must be a multiple of 8 bits"),
				 errhidestmt(true), errhidecontext(true)));
	return (int32) dims;
}

PG_FUNCTION_INFO_V1(protected_template_typmod_in);
/* protected_template(dims) or protected_template(dims, format). */
Datum
protected_template_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	int			n;
	uint8		format = 0;

	deconstruct_array(ta, CSTRINGOID, -2, false, TYPALIGN_CHAR, &elems, NULL, &n);
	if (n < 1 || n > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: protected_template takes dimensions and an optional format"),
				 errhint("Write protected_template(512) or protected_template(512, f16)."),
				 errhidestmt(true), errhidecontext(true)));
	if (n == 2)
		format = FormatByName(DatumGetCString(elems[1]));
	PG_RETURN_INT32(DimsByName(DatumGetCString(elems[0]), format) |
					(format << TYPMOD_DIMS_BITS));
}

PG_FUNCTION_INFO_V1(protected_template_typmod_out);
/* "(512)" or "(512,f16)". */
Datum
protected_template_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);
	uint8		format = (uint8) (typmod >> TYPMOD_DIMS_BITS);

	if (typmod < 0)
		PG_RETURN_CSTRING(pstrdup(""));
	if (format == 0)
		PG_RETURN_CSTRING(psprintf("(%d)", typmod & TYPMOD_DIMS_MASK));
	PG_RETURN_CSTRING(psprintf("(%d,%s)", typmod & TYPMOD_DIMS_MASK,
							   TemplateFormatName(format)));
}

/*
 * The shape a column's typmod declares: false when it declares none, else
 * its dimensions (bits of a bit code) and format (0: any).
 */
bool
TemplateTypmodShape(int32 typmod, uint32 *dims, uint8 *format)
{
	if (typmod < 0)
		return false;
	*dims = (uint32) (typmod & TYPMOD_DIMS_MASK);
	*format = (uint8) (typmod >> TYPMOD_DIMS_BITS);
	return true;
}

/*
 * Refuse a template that does not have the shape typmod declares.  The
 * DETAIL names the template's subject, the key of the row it was meant
 * for: which one of a bulk load was wrong.
 */
void
TemplateCheckTypmod(bytea *tpl, int32 typmod)
{
	EnvelopeHeader hdr;
	int32		dims = typmod & TYPMOD_DIMS_MASK;
	uint8		format = (uint8) (typmod >> TYPMOD_DIMS_BITS);

	if (typmod < 0)
		return;
	ParseTemplate(tpl, &hdr);
	if (hdr.dims != (uint32) dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("biocrypt: template has %u dimensions but the column takes %d",
						hdr.dims, dims),
				 errdetail("The template's subject is \"%s\".", SubjectToServer(&hdr)),
				 errhidestmt(true), errhidecontext(true)));
	if (format != 0 && hdr.format != format)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("biocrypt: template has format %s but the column takes %s",
						TemplateFormatName(hdr.format), TemplateFormatName(format)),
				 errdetail("The template's subject is \"%s\".", SubjectToServer(&hdr)),
				 errhidestmt(true), errhidecontext(true)));
}

PG_FUNCTION_INFO_V1(protected_template_coerce);
/* The length coercion cast protected_template(tpl, typmod, explicit). */
Datum
protected_template_coerce(PG_FUNCTION_ARGS)
{
	bytea	   *tpl = (bytea *) PG_GETARG_VARLENA_P(0);

	TemplateCheckTypmod(tpl, PG_GETARG_INT32(1));
	PG_RETURN_POINTER(tpl);
}
