/*-------------------------------------------------------------------------
 *
 * sealedmsg.h
 *		The plaintext inside a sealed probe (see docs/format.md).
 *
 * A client seals one message to the server's public key (a libsodium sealed
 * box); the server opens it and parses it here.  Like envelope.h, this
 * header and sealedmsg.c use the C library only, so the parser can be
 * fuzzed, unit-tested and linked into the biocrypt-seal client.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_SEALEDMSG_H
#define BIOCRYPT_SEALEDMSG_H

#include <stddef.h>
#include <stdint.h>

#include "base/envelope.h"

#define SEALEDMSG_MAGIC			"BCS1"
#define SEALEDMSG_HEADER_SIZE	12	/* magic, kind, flags, reserved, count */

#define SEALEDMSG_KIND_VECTOR	1	/* count float32, little-endian */
#define SEALEDMSG_KIND_BITS		2	/* count code bytes (then a mask) */

#define SEALEDMSG_FLAG_MASK		0x01	/* bit codes only: a mask follows */

/* crypto_box_SEALBYTES: the sealed box's ephemeral key and MAC */
#define SEALEDMSG_BOX_OVERHEAD	48

/* Longest message: a vector of the envelope's most dimensions. */
#define SEALEDMSG_MAX_SIZE	(SEALEDMSG_HEADER_SIZE + 4 * (size_t) ENVELOPE_MAX_DIMS)

/* Size bounds of a sealed box that can hold a valid message. */
#define SEALEDMSG_MIN_BOX	(SEALEDMSG_BOX_OVERHEAD + SEALEDMSG_HEADER_SIZE + 1)
#define SEALEDMSG_MAX_BOX	(SEALEDMSG_BOX_OVERHEAD + SEALEDMSG_MAX_SIZE)

typedef enum SealedMsgStatus
{
	SEALEDMSG_OK = 0,
	SEALEDMSG_TRUNCATED,
	SEALEDMSG_BAD_MAGIC,
	SEALEDMSG_BAD_KIND,
	SEALEDMSG_BAD_FLAGS,
	SEALEDMSG_BAD_RESERVED,
	SEALEDMSG_BAD_COUNT,
	SEALEDMSG_TOO_LARGE,
	SEALEDMSG_BAD_LENGTH,
	SEALEDMSG_NOT_FINITE
} SealedMsgStatus;

/* A parsed message; the pointers point into the parsed buffer. */
typedef struct SealedMsg
{
	uint8_t		kind;
	uint8_t		flags;
	uint32_t	count;			/* floats, or code bytes */
	const uint8_t *payload;		/* floats (little-endian) or the code */
	const uint8_t *mask;		/* bit codes with SEALEDMSG_FLAG_MASK */
} SealedMsg;

extern SealedMsgStatus SealedMsgParse(const uint8_t *buf, size_t len,
									  SealedMsg *msg);
extern size_t SealedMsgSize(uint8_t kind, uint8_t flags, uint32_t count);
extern size_t SealedMsgWriteHeader(uint8_t *buf, uint8_t kind, uint8_t flags,
								   uint32_t count);
extern void SealedMsgFloats(const SealedMsg *msg, float *dst);
extern const char *SealedMsgStatusMessage(SealedMsgStatus status);

#endif							/* BIOCRYPT_SEALEDMSG_H */
