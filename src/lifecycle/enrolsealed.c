/*-------------------------------------------------------------------------
 *
 * enrolsealed.c
 *		The sealed forms of protect and protect_bits: the embedding or bit
 *		code arrives in a sealed_probe, never in SQL text.
 *
 * Each opens its box (template/sealedprobe.c) and calls the plain form's
 * C function (enrol.c) with the plaintext as its argument, so validation,
 * labels, column policies and the audit are the plain form's own.  The
 * plaintext stays in locked memory that is zeroed when the statement's
 * memory goes, or when the next row brings another box.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "base/sealedmsg.h"
#include "lifecycle/lifecycle.h"
#include "template/template.h"

/* the plain forms (enrol.c) */
extern Datum biocrypt_protect(PG_FUNCTION_ARGS);
extern Datum biocrypt_protect_bits(PG_FUNCTION_ARGS);

/* Refuse a NULL sealed probe as the plain forms refuse a NULL probe. */
static void
RequireSealed(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: sealed must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
}

PG_FUNCTION_INFO_V1(biocrypt_protect_sealed);
/* protect_sealed(sealed, subject, retain_until, purposes, format) */
Datum
biocrypt_protect_sealed(PG_FUNCTION_ARGS)
{
	NullableDatum args[5];
	SealedSite *site;

	RequireSealed(fcinfo);
	site = SealedSiteOpen(fcinfo, 0);
	SealedSiteRequire(site, SEALEDMSG_KIND_VECTOR);
	memcpy(args, fcinfo->args, sizeof(args));
	args[0].value = site->probe;
	return SealedSiteCall(fcinfo, site, biocrypt_protect, 5, args);
}

PG_FUNCTION_INFO_V1(biocrypt_protect_bits_sealed);
/* protect_bits_sealed(sealed, subject, retain_until, purposes, layout) */
Datum
biocrypt_protect_bits_sealed(PG_FUNCTION_ARGS)
{
	NullableDatum args[6];
	SealedSite *site;

	RequireSealed(fcinfo);
	site = SealedSiteOpen(fcinfo, 0);
	SealedSiteRequire(site, SEALEDMSG_KIND_BITS);
	args[0].value = site->probe;
	args[0].isnull = false;
	args[1].value = site->has_mask ? site->mask : (Datum) 0;
	args[1].isnull = !site->has_mask;
	memcpy(args + 2, fcinfo->args + 1, sizeof(NullableDatum) * 4);
	return SealedSiteCall(fcinfo, site, biocrypt_protect_bits, 6, args);
}
