/*-------------------------------------------------------------------------
 *
 * template.h
 *		The template layer: the protected_template type, sealing and
 *		opening envelopes, purpose labels and expiry.  Calls crypto/,
 *		core/ and base/ only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_TEMPLATE_H
#define BIOCRYPT_TEMPLATE_H

#include "fmgr.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/palloc.h"

#include "base/envelope.h"
#include "core/core.h"

/* A protected_template datum: a varlena whose payload is one envelope. */
#define DatumGetProtectedTemplateP(X)	((bytea *) PG_DETOAST_DATUM(X))
#define PG_GETARG_TEMPLATE_P(n)	DatumGetProtectedTemplateP(PG_GETARG_DATUM(n))

/* tplheader.c: header fields as the server shows them */
extern char *SubjectToServer(const EnvelopeHeader *hdr);
extern const char *TemplateFormatName(uint8 format);
extern uint8 TemplateFormatByName(const char *name);

/* template.c: the type and its inputs */
extern const float4 *CheckFloatArray(ArrayType *arr, const char *what, int *dims);

/* typmod.c: a column's declared shape */
extern void TemplateCheckTypmod(bytea *tpl, int32 typmod);
extern bool TemplateTypmodShape(int32 typmod, uint32 *dims, uint8 *format);

/* seal.c: sealing and opening envelopes */
extern bytea *SealTemplate(EnvelopeHeader *hdr, const uint8 *plain);
extern void ParseTemplate(bytea *tpl, EnvelopeHeader *hdr);
extern void ParseTemplateForDecrypt(bytea *tpl, EnvelopeHeader *hdr);
extern void DecryptTemplate(bytea *tpl, const EnvelopeHeader *hdr, uint8 *dst);
extern void DecryptEnvelope(const uint8 *env, const EnvelopeHeader *hdr, uint8 *dst);
extern SecBuf *OpenTemplate(bytea *tpl, EnvelopeHeader *hdr);
extern bytea *ResealTemplate(bytea *tpl, const EnvelopeHeader *labels);

/* sealedprobe.c: the sealed_probe type and the call sites of sealed forms */
typedef struct SealedSite
{
	MemoryContextCallback wipe; /* zeroes block when the statement ends */
	void	   *inner;			/* the plain form's own fn_extra */
	bytea	   *box;			/* the box last opened (ciphertext) */
	uint8	   *block;			/* locked: the probe as plain arguments */
	Size		block_len;
	int			kind;			/* SEALEDMSG_KIND_*, 0 while not opened */
	Datum		probe;			/* real[] of a vector, bytea of a bit code */
	Datum		mask;			/* bytea mask, when has_mask */
	bool		has_mask;
} SealedSite;

extern SealedSite *SealedSiteOpen(FunctionCallInfo fcinfo, int argno);
extern void SealedSiteRequire(const SealedSite *site, int kind);
extern Datum SealedSiteCall(FunctionCallInfo fcinfo, SealedSite *site,
							PGFunction fn, int nargs, const NullableDatum *args);

/* purposes.c: purpose labels, and whether the session may use a template */
typedef enum PurposeVerdict
{
	PURPOSE_ALLOWED,
	PURPOSE_UNDECLARED,			/* biocrypt.purpose is not set */
	PURPOSE_NOT_ENROLLED,		/* the template was not enrolled for it */
	PURPOSE_NOT_GRANTED			/* the role holds no grant of it */
} PurposeVerdict;

extern void SetPurposes(EnvelopeHeader *hdr, char **names, int n);
extern void PurposesFromArray(EnvelopeHeader *hdr, ArrayType *arr);
extern PurposeVerdict PurposeJudge(const EnvelopeHeader *hdr, const char **purpose);
extern void PurposeGrantsChanged(void);

/* expiry.c: retention settings and expiry */
extern void ExpiryInit(void);
extern TimestampTz RetentionResolveExpiry(bool isnull, TimestampTz requested,
										  TimestampTz now);
extern bool RetentionIsExpired(const EnvelopeHeader *hdr);
extern bool RetentionExpiredAt(const EnvelopeHeader *hdr, TimestampTz now);
extern TimestampTz RetentionAdd(TimestampTz t, const Interval *span);
extern TimestampTz RetentionCapExpiry(TimestampTz created, TimestampTz expires);
extern void RetentionRefuseExpired(const EnvelopeHeader *hdr);
extern const char *RetentionMaxText(void);

#endif							/* BIOCRYPT_TEMPLATE_H */
