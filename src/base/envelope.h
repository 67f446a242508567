/*-------------------------------------------------------------------------
 *
 * envelope.h
 *		On-disk format of a protected template (see docs/format.md).
 *
 * This header and envelope.c depend on the C library only, so the parser
 * can be fuzzed and unit-tested outside the server.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_ENVELOPE_H
#define BIOCRYPT_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_MAGIC0			'B'
#define ENVELOPE_MAGIC1			'C'
#define ENVELOPE_MAGIC2			'T'
#define ENVELOPE_VERSION		1

#define ENVELOPE_FIXED_SIZE		44	/* bytes before the subject */
#define ENVELOPE_TAG_SIZE		16

/* Cipher ids; the nonce length follows from the id. */
#define ENVELOPE_CIPHER_AES256GCM	1
#define ENVELOPE_CIPHER_XCHACHA20	2

/* Element formats. */
#define ENVELOPE_FORMAT_F32		1
#define ENVELOPE_FORMAT_F16		2
#define ENVELOPE_FORMAT_I8		3
#define ENVELOPE_FORMAT_BITS	4

#define ENVELOPE_FLAG_MASK		0x01	/* bit codes only: a mask follows */

/* Limits; a header outside them is malformed. */
#define ENVELOPE_MAX_DIMS		16000
#define ENVELOPE_MAX_BITS		65536
#define ENVELOPE_MAX_SUBJECT	256
#define ENVELOPE_MAX_PURPOSES	16
#define ENVELOPE_MAX_PURPOSE_LEN 63

/* PostgreSQL's TimestampTz range, microseconds since 2000-01-01 UTC. */
#define ENVELOPE_MIN_TIMESTAMP	INT64_C(-211813488000000000)
#define ENVELOPE_END_TIMESTAMP	INT64_C(9223371331200000000)

typedef enum EnvelopeStatus
{
	ENVELOPE_OK = 0,
	ENVELOPE_TRUNCATED,
	ENVELOPE_BAD_MAGIC,
	ENVELOPE_BAD_VERSION,
	ENVELOPE_BAD_CIPHER,
	ENVELOPE_BAD_FORMAT,
	ENVELOPE_BAD_FLAGS,
	ENVELOPE_BAD_RESERVED,
	ENVELOPE_BAD_DIMS,
	ENVELOPE_BAD_LAYOUT,
	ENVELOPE_BAD_HEADER_LENGTH,
	ENVELOPE_BAD_KEY_ID,
	ENVELOPE_BAD_TIMES,
	ENVELOPE_BAD_SUBJECT,
	ENVELOPE_BAD_PURPOSES,
	ENVELOPE_BAD_LENGTH
} EnvelopeStatus;

/*
 * Parsed header.  The subject and purpose pointers point into the buffer
 * the header was parsed from (or built for); they are not NUL-terminated.
 */
typedef struct EnvelopeHeader
{
	uint8_t		cipher;
	uint8_t		format;
	uint8_t		flags;
	uint32_t	dims;			/* elements, or bits for ENVELOPE_FORMAT_BITS */
	uint16_t	rows;			/* bit layout; all zero when there is none */
	uint16_t	cols;
	uint16_t	bits_per_cell;
	uint32_t	key_id;
	int64_t		created;
	int64_t		expires;
	uint16_t	subject_len;
	const char *subject;
	uint8_t		npurposes;
	uint8_t		purpose_len[ENVELOPE_MAX_PURPOSES];
	const char *purpose[ENVELOPE_MAX_PURPOSES];

	/* derived sizes, filled in by EnvelopeParse and EnvelopeComputeSizes */
	size_t		header_len;
	size_t		nonce_len;
	size_t		payload_len;
	size_t		total_len;
} EnvelopeHeader;

extern EnvelopeStatus EnvelopeParse(const uint8_t *buf, size_t len,
									EnvelopeHeader *hdr);
extern EnvelopeStatus EnvelopeParseForDecrypt(const uint8_t *buf, size_t len,
											  EnvelopeHeader *hdr);
extern EnvelopeStatus EnvelopeComputeSizes(EnvelopeHeader *hdr);
extern size_t EnvelopeWriteHeader(const EnvelopeHeader *hdr, uint8_t *buf);
extern size_t EnvelopeNonceSize(uint8_t cipher);
extern size_t EnvelopePayloadSize(uint8_t format, uint32_t dims, uint8_t flags);
extern int	EnvelopePurposeValid(const char *purpose, size_t len);
extern const char *EnvelopeStatusMessage(EnvelopeStatus status);

#endif							/* BIOCRYPT_ENVELOPE_H */
