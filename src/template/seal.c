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

#include "biocrypt.h"

#ifdef WORDS_BIGENDIAN
#error "biocrypt stores little-endian payloads and does not support big-endian hosts"
#endif

/* AEAD-encrypt plain into out (payload_len + tag) under dek. */
static void
Encrypt(const EnvelopeHeader *hdr, const uint8 *ad, const uint8 *nonce,
		const uint8 *plain, const uint8 *dek, uint8 *out)
{
	if (hdr->cipher == ENVELOPE_CIPHER_AES256GCM)
		crypto_aead_aes256gcm_encrypt(out, NULL, plain, hdr->payload_len,
									  ad, hdr->header_len, NULL, nonce, dek);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, plain,
												   hdr->payload_len, ad,
												   hdr->header_len, NULL,
												   nonce, dek);
}

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
		elog(ERROR, "biocrypt: cannot build envelope: %s",
			 EnvelopeStatusMessage(status));

	result = palloc(VARHDRSZ + hdr->total_len);
	SET_VARSIZE(result, VARHDRSZ + hdr->total_len);
	env = (uint8 *) VARDATA(result);
	EnvelopeWriteHeader(hdr, env);
	randombytes_buf(env + hdr->header_len, hdr->nonce_len);
	Encrypt(hdr, env, env + hdr->header_len, plain, dek,
			env + hdr->header_len + hdr->nonce_len);
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
			 errhidestmt(true)));
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
				 errhidestmt(true)));
}

/*
 * Decrypt a parsed template into dst (hdr->payload_len bytes of locked
 * memory).  On a failed tag check dst is zeroed before the ERROR.
 */
void
DecryptTemplate(bytea *tpl, const EnvelopeHeader *hdr, uint8 *dst)
{
	const uint8 *env = (const uint8 *) VARDATA_ANY(tpl);
	const uint8 *nonce = env + hdr->header_len;
	int			rc;

	CheckCipherAvailable(hdr->cipher);
	if (hdr->cipher == ENVELOPE_CIPHER_AES256GCM)
		rc = crypto_aead_aes256gcm_decrypt_afternm(dst, NULL, NULL,
												   nonce + hdr->nonce_len,
												   hdr->payload_len + ENVELOPE_TAG_SIZE,
												   env, hdr->header_len, nonce,
												   KeysGetAesState(hdr->key_id));
	else
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt(dst, NULL, NULL,
														nonce + hdr->nonce_len,
														hdr->payload_len + ENVELOPE_TAG_SIZE,
														env, hdr->header_len,
														nonce,
														KeysGetDek(hdr->key_id, hdr->cipher));
	if (rc != 0)
	{
		sodium_memzero(dst, hdr->payload_len);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("biocrypt: protected template failed authentication"),
				 errdetail("Its header, nonce, ciphertext or tag was altered, or it was sealed under another key."),
				 errhidestmt(true)));
	}
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
