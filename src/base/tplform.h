/*-------------------------------------------------------------------------
 *
 * tplform.h
 *		The text form of a protected_template: base64 of its envelope.
 *
 * protected_template_in and _out (template/template.c) call these, and so
 * does the fuzz target test/fuzz/fuzz_tplform.c: C library and libsodium
 * only.  The binary form is the envelope itself, checked by EnvelopeParse.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_TPLFORM_H
#define BIOCRYPT_TPLFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/envelope.h"

typedef enum TplFormStatus
{
	TPLFORM_OK = 0,
	TPLFORM_BAD_BASE64,			/* not padded standard base64 */
	TPLFORM_BAD_ENVELOPE		/* base64, but not of a valid envelope */
} TplFormStatus;

extern size_t TplFormDecodedBound(size_t textlen);
extern bool TplFormBase64Decode(const char *text, size_t textlen, uint8_t *bin,
								size_t binsize, size_t *binlen);
extern TplFormStatus TplFormFromText(const char *text, size_t textlen,
									 uint8_t *bin, size_t binsize,
									 size_t *binlen, EnvelopeStatus *envstatus);
extern size_t TplFormTextSize(size_t envlen);
extern size_t TplFormToText(char *out, size_t outsize, const uint8_t *env,
							size_t envlen);

#endif							/* BIOCRYPT_TPLFORM_H */
