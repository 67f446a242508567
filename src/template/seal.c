/*-------------------------------------------------------------------------
 *
 * seal.c
 *		AEAD sealing and opening of template envelopes.
 *
 * Sealing picks the cipher (biocrypt.cipher), the epoch's data key and a
 * random nonce, and authenticates the whole header as associated data.
 * Opening parses the header strictly, fetches the data key named in it and
 * decrypts into a locked scratch buffer that the caller must release; a
 * failed tag check is an ERROR and the buffer is zeroed first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "utils/timestamp.h"

#include "base/aead.h"
#include "crypto/keys.h"
#include "template/template.h"

#ifdef WORDS_BIGENDIAN
#error "biocrypt stores little-endian payloads and does not support big-endian hosts"
#endif

/*
 * Seal plain (hdr->payload_len bytes, described by hdr) into a new
 * protected_template.  Fills in hdr's cipher and key id.
 */
bytea *
SealTemplate(EnvelopeHeader *hdr, const uint8 *plain)
{
	const uint8 *dek;
	EnvelopeStatus status;
	bytea	   *result;
	uint8	   *env;

	hdr->cipher = KeysNewTemplateCipher();
	dek = KeysActiveDek(hdr->expires, hdr->cipher, &hdr->key_id);
	status = EnvelopeComputeSizes(hdr);
	if (status != ENVELOPE_OK)
		ereport(ERROR,
				(errmsg_internal("biocrypt: cannot build envelope: %s",
			 EnvelopeStatusMessage(status)),
				 errhidestmt(true), errhidecontext(true)));

	result = palloc(VARHDRSZ + hdr->total_len);
	SET_VARSIZE(result, VARHDRSZ + hdr->total_len);
	env = (uint8 *) VARDATA(result);
	EnvelopeWriteHeader(hdr, env);
	AeadSeal(hdr, env, plain, dek);
	return result;
}

/* Report a stored envelope that does not parse: the datum was damaged. */
static void
DamagedTemplate(EnvelopeStatus status)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("biocrypt: protected template is damaged: %s",
					EnvelopeStatusMessage(status)),
			 errhidestmt(true), errhidecontext(true)));
}

/*
 * Parse a stored template's header for decryption: bounds and sizes are
 * checked, label bytes are left to the AEAD tag (see envelope.c).
 */
void
ParseTemplateForDecrypt(bytea *tpl, EnvelopeHeader *hdr)
{
	EnvelopeStatus status = EnvelopeParseForDecrypt((const uint8 *) VARDATA_ANY(tpl),
													VARSIZE_ANY_EXHDR(tpl), hdr);

	if (status != ENVELOPE_OK)
		DamagedTemplate(status);
}

/*
 * Parse a stored template's header fully, for use without decryption (the
 * accessors).  Input functions already refuse malformed envelopes, so
 * failure here means the datum was damaged.
 */
void
ParseTemplate(bytea *tpl, EnvelopeHeader *hdr)
{
	EnvelopeStatus status = EnvelopeParse((const uint8 *) VARDATA_ANY(tpl),
										  VARSIZE_ANY_EXHDR(tpl), hdr);

	if (status != ENVELOPE_OK)
		DamagedTemplate(status);
}

/* Refuse to open a template whose cipher this CPU cannot run. */
static void
CheckCipherAvailable(uint8 cipher)
{
	if (cipher == ENVELOPE_CIPHER_AES256GCM &&
		!crypto_aead_aes256gcm_is_available())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("biocrypt: template is sealed with AES-256-GCM, which this CPU does not accelerate"),
				 errhint("Re-seal such templates with biocrypt.cipher = 'xchacha20-poly1305' on a server that can read them."),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * Decrypt a parsed template into dst (hdr->payload_len bytes of locked
 * memory).  On a failed tag check dst is zeroed before the ERROR.
 */
void
DecryptTemplate(bytea *tpl, const EnvelopeHeader *hdr, uint8 *dst)
{
	DecryptEnvelope((const uint8 *) VARDATA_ANY(tpl), hdr, dst);
}

/*
 * The same for an envelope outside a datum (a gallery index's entry): env
 * holds hdr->total_len bytes, already parsed into hdr.
 */
void
DecryptEnvelope(const uint8 *env, const EnvelopeHeader *hdr, uint8 *dst)
{
	const uint8 *key = NULL;
	const void *aes_state = NULL;
	int			rc;

	CheckCipherAvailable(hdr->cipher);
	if (hdr->cipher == ENVELOPE_CIPHER_AES256GCM)
		aes_state = KeysGetAesState(hdr->key_id);
	else
		key = KeysGetDek(hdr->key_id, hdr->cipher);
	rc = AeadOpen(hdr, env, key, aes_state, dst);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("biocrypt: protected template failed authentication"),
				 errdetail("Its header, nonce, ciphertext or tag was altered, or it was sealed under another key."),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * Parse and decrypt a template into a locked buffer (hdr describes it).
 * The caller must SecmemRelease the buffer; an abort also zeroes it.
 */
SecBuf *
OpenTemplate(bytea *tpl, EnvelopeHeader *hdr)
{
	SecBuf	   *buf;

	ParseTemplate(tpl, hdr);
	buf = SecmemAcquire(hdr->payload_len);
	DecryptTemplate(tpl, hdr, buf->data);
	return buf;
}

/*
 * Decrypt tpl and seal its payload again under labels (tpl's header with
 * a new expiry or purposes), with a fresh nonce and the active key of the
 * new expiry's epoch.  The plaintext is zeroed on every path.
 */
bytea *
ResealTemplate(bytea *tpl, const EnvelopeHeader *labels)
{
	EnvelopeHeader hdr;
	SecBuf	   *plain = OpenTemplate(tpl, &hdr);
	bytea	   *volatile result = NULL;

	PG_TRY();
	{
		EnvelopeHeader out = *labels;

		result = SealTemplate(&out, plain->data);
	}
	PG_FINALLY();
	{
		SecmemRelease(plain);
	}
	PG_END_TRY();
	return result;
}
