/*-------------------------------------------------------------------------
 *
 * sealedprobe.c
 *		The sealed_probe type, the server's public key, and the call sites
 *		of the sealed forms of protect, verify, identify and the operators.
 *
 * A sealed_probe is a varlena holding one libsodium sealed box, made by a
 * client with the server's public key (biocrypt.public_key()).  Its text
 * form is base64 and its binary form the raw box; bytea casts to it without
 * a function.  Input checks only the size bounds of a box: the box is
 * opened where it is compared or enrolled.
 *
 * A sealed form is a thin C entry point (match/sealed.c,
 * lifecycle/enrolsealed.c) that opens its box once per statement and then
 * calls the plain form's own C function with the plaintext in place of the
 * box: a real[] for a vector, a bytea code (and mask) for a bit code.  So
 * every check, the audit (whose probe hash is over the plaintext), expiry,
 * purposes and score disclosure apply to both forms alike.  The site keeps
 * its state in fn_extra: the box last opened (ciphertext, to see whether
 * the next call's box is the same), the plaintext arguments in memory that
 * is locked and zeroed when the statement's memory goes, and the plain
 * function's own fn_extra, swapped in around each call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "base/sealedmsg.h"
#include "base/tplform.h"
#include "crypto/keys.h"
#include "template/template.h"

/* Refuse a box whose size no valid message can have. */
static void
CheckBoxSize(size_t len, int sqlstate)
{
	if (len < SEALEDMSG_MIN_BOX || len > SEALEDMSG_MAX_BOX)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("biocrypt: invalid sealed_probe: %zu bytes, a sealed box has %d to %d",
						len, (int) SEALEDMSG_MIN_BOX, (int) SEALEDMSG_MAX_BOX),
				 errhint("Seal probes with biocrypt-seal or crypto_box_seal to biocrypt.public_key()."),
				 errhidestmt(true), errhidecontext(true)));
}

/* Wrap checked box bytes as a sealed_probe datum. */
static bytea *
BoxFromBytes(const void *bytes, size_t len, int sqlstate)
{
	bytea	   *result;

	CheckBoxSize(len, sqlstate);
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), bytes, len);
	return result;
}

PG_FUNCTION_INFO_V1(sealed_probe_in);
/* Text input: base64 of a sealed box; whitespace is ignored. */
Datum
sealed_probe_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len = strlen(str);
	size_t		maxbin = TplFormDecodedBound(len);
	uint8	   *bin = palloc(maxbin);
	size_t		binlen = 0;

	/* strict: libsodium alone would read bytes from 0x80 up as '/' */
	if (!TplFormBase64Decode(str, len, bin, maxbin, &binlen))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("biocrypt: invalid sealed_probe: not valid base64"),
				 errhidestmt(true), errhidecontext(true)));
	PG_RETURN_BYTEA_P(BoxFromBytes(bin, binlen, ERRCODE_INVALID_TEXT_REPRESENTATION));
}

PG_FUNCTION_INFO_V1(sealed_probe_out);
/* Text output: base64 of the box (ciphertext only). */
Datum
sealed_probe_out(PG_FUNCTION_ARGS)
{
	bytea	   *box = PG_GETARG_BYTEA_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(box);
	size_t		b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char	   *out = palloc(b64len);

	sodium_bin2base64(out, b64len, (const unsigned char *) VARDATA_ANY(box),
					  len, sodium_base64_VARIANT_ORIGINAL);
	PG_RETURN_CSTRING(out);
}

PG_FUNCTION_INFO_V1(sealed_probe_recv);
/* Binary input: the raw box, size-checked like text input. */
Datum
sealed_probe_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	const char *bytes = pq_getmsgbytes(buf, len);

	PG_RETURN_BYTEA_P(BoxFromBytes(bytes, len, ERRCODE_INVALID_BINARY_REPRESENTATION));
}

PG_FUNCTION_INFO_V1(sealed_probe_send);
/* Binary output: the raw box. */
Datum
sealed_probe_send(PG_FUNCTION_ARGS)
{
	bytea	   *box = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(box), VARSIZE_ANY_EXHDR(box));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(biocrypt_public_key);
/* public_key(): the X25519 key clients seal probes to (32 bytes). */
Datum
biocrypt_public_key(PG_FUNCTION_ARGS)
{
	bytea	   *result = palloc(VARHDRSZ + BIOCRYPT_SEAL_KEY_BYTES);

	SET_VARSIZE(result, VARHDRSZ + BIOCRYPT_SEAL_KEY_BYTES);
	KeysSealPublicKey((uint8 *) VARDATA(result));
	PG_RETURN_BYTEA_P(result);
}

/* Zero and unlock a site's plaintext block. */
static void
SealedSiteWipe(void *arg)
{
	SealedSite *site = (SealedSite *) arg;

	if (site->block != NULL)
		sodium_munlock(site->block, site->block_len);	/* zeroes it */
	site->block = NULL;
	site->block_len = 0;
	site->kind = 0;
}

/* A new locked, zeroed block of len bytes for the site's plaintext. */
static uint8 *
SealedSiteBlock(SealedSite *site, MemoryContext mcxt, Size len)
{
	if (site->block != NULL)
	{
		uint8	   *old = site->block;

		SealedSiteWipe(site);
		pfree(old);
	}
	site->block = MemoryContextAllocZero(mcxt, len);
	site->block_len = len;
	/* best effort, like sodium_malloc: a failed mlock leaves it unlocked */
	(void) sodium_mlock(site->block, len);
	return site->block;
}

/* Build the real[] of a vector message in the site's block. */
static void
SealedSiteVector(SealedSite *site, MemoryContext mcxt, const SealedMsg *msg)
{
	Size		size = ARR_OVERHEAD_NONULLS(1) + sizeof(float4) * msg->count;
	ArrayType  *arr = (ArrayType *) SealedSiteBlock(site, mcxt, size);

	SET_VARSIZE(arr, size);
	arr->ndim = 1;
	arr->dataoffset = 0;
	arr->elemtype = FLOAT4OID;
	ARR_DIMS(arr)[0] = (int) msg->count;
	ARR_LBOUND(arr)[0] = 1;
	/* cppcheck-suppress invalidPointerCast ; array data of a real[] */
	SealedMsgFloats(msg, (float *) ARR_DATA_PTR(arr));
	site->probe = PointerGetDatum(arr);
	site->has_mask = false;
}

/* Build the bytea code (and mask) of a bit-code message in the block. */
static void
SealedSiteBits(SealedSite *site, MemoryContext mcxt, const SealedMsg *msg)
{
	Size		one = MAXALIGN(VARHDRSZ + msg->count);
	uint8	   *block = SealedSiteBlock(site, mcxt, 2 * one);
	bytea	   *code = (bytea *) block;
	bytea	   *mask = (bytea *) (block + one);

	SET_VARSIZE(code, VARHDRSZ + msg->count);
	memcpy(VARDATA(code), msg->payload, msg->count);
	site->probe = PointerGetDatum(code);
	site->has_mask = msg->mask != NULL;
	if (site->has_mask)
	{
		SET_VARSIZE(mask, VARHDRSZ + msg->count);
		memcpy(VARDATA(mask), msg->mask, msg->count);
		site->mask = PointerGetDatum(mask);
	}
}

/* Raise the error for a message the parser refused (no byte of it shown). */
static void
SealedMsgError(SealedMsgStatus status)
{
	if (status == SEALEDMSG_NOT_FINITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("biocrypt: sealed probe must not contain NaN or infinity"),
				 errhidestmt(true), errhidecontext(true)));
	if (status == SEALEDMSG_TOO_LARGE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("biocrypt: invalid sealed probe: %s", SealedMsgStatusMessage(status)),
				 errdetail("A vector has at most %d dimensions, a bit code at most %d bits.",
						   ENVELOPE_MAX_DIMS, ENVELOPE_MAX_BITS),
				 errhidestmt(true), errhidecontext(true)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("biocrypt: invalid sealed probe: %s", SealedMsgStatusMessage(status)),
			 errhint("See the sealed message format in docs/format.md."),
			 errhidestmt(true), errhidecontext(true)));
}

/* Open box into the site: parse it, and keep it as plain arguments. */
static void
SealedSiteFill(SealedSite *site, MemoryContext mcxt, bytea *box)
{
	size_t		len = VARSIZE_ANY_EXHDR(box);
	size_t		msglen;
	SecBuf	   *plain;
	SealedMsg	msg;
	SealedMsgStatus status;

	CheckBoxSize(len, ERRCODE_INVALID_BINARY_REPRESENTATION);
	plain = KeysOpenSealed((const uint8 *) VARDATA_ANY(box), len, &msglen);
	status = SealedMsgParse(plain->data, msglen, &msg);
	if (status != SEALEDMSG_OK)
	{
		SecmemRelease(plain);
		SealedMsgError(status);
	}
	if (msg.kind == SEALEDMSG_KIND_VECTOR)
		SealedSiteVector(site, mcxt, &msg);
	else
		SealedSiteBits(site, mcxt, &msg);
	site->kind = msg.kind;
	SecmemRelease(plain);
	/* the ciphertext, to recognise the same box on the next call */
	if (site->box != NULL)
		pfree(site->box);
	site->box = MemoryContextAlloc(mcxt, VARHDRSZ + len);
	SET_VARSIZE(site->box, VARHDRSZ + len);
	memcpy(VARDATA(site->box), VARDATA_ANY(box), len);
}

/*
 * The call site of a sealed form, with the box in argument argno opened:
 * once per statement, again only when the box differs from the last one.
 */
SealedSite *
SealedSiteOpen(FunctionCallInfo fcinfo, int argno)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	SealedSite *site = (SealedSite *) flinfo->fn_extra;
	bytea	   *box = PG_GETARG_BYTEA_PP(argno);

	if (site == NULL)
	{
		site = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(SealedSite));
		site->wipe.func = SealedSiteWipe;
		site->wipe.arg = site;
		MemoryContextRegisterResetCallback(flinfo->fn_mcxt, &site->wipe);
		flinfo->fn_extra = site;
	}
	if (site->kind != 0 && site->box != NULL &&
		VARSIZE_ANY_EXHDR(box) == VARSIZE_ANY_EXHDR(site->box) &&
		memcmp(VARDATA_ANY(box), VARDATA(site->box), VARSIZE_ANY_EXHDR(box)) == 0)
		return site;
	site->kind = 0;				/* nothing valid until the new box is in */
	SealedSiteFill(site, flinfo->fn_mcxt, box);
	return site;
}

/* Refuse a message of the other kind than the form needs. */
void
SealedSiteRequire(const SealedSite *site, int kind)
{
	if (site->kind == kind)
		return;
	if (kind == SEALEDMSG_KIND_VECTOR)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("biocrypt: sealed probe holds a bit code where an embedding is needed"),
				 errhidestmt(true), errhidecontext(true)));
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("biocrypt: sealed probe holds an embedding where a bit code is needed"),
			 errhidestmt(true), errhidecontext(true)));
}

/*
 * Call the plain form fn on nargs arguments (the opened probe among them)
 * through the sealed form's own flinfo, with the plain form's fn_extra in
 * place for the call; returns its result and null flag.
 */
Datum
SealedSiteCall(FunctionCallInfo fcinfo, SealedSite *site, PGFunction fn,
			   int nargs, const NullableDatum *args)
{
	/* cppcheck-suppress unusedStructMember ; the macro's union sizes it */
	LOCAL_FCINFO(plain, FUNC_MAX_ARGS);
	FmgrInfo   *flinfo = fcinfo->flinfo;
	volatile Datum result = (Datum) 0;

	InitFunctionCallInfoData(*plain, flinfo, nargs, fcinfo->fncollation,
							 fcinfo->context, fcinfo->resultinfo);
	memcpy(plain->args, args, sizeof(NullableDatum) * nargs);
	flinfo->fn_extra = site->inner;
	PG_TRY();
	{
		result = fn(plain);
	}
	PG_FINALLY();
	{
		site->inner = flinfo->fn_extra;
		flinfo->fn_extra = site;
	}
	PG_END_TRY();
	fcinfo->isnull = plain->isnull;
	return result;
}
