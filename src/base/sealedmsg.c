/*-------------------------------------------------------------------------
 *
 * sealedmsg.c
 *		Parse and build the plaintext of a sealed probe.
 *
 * A message is magic "BCS1" | kind | flags | 2 reserved bytes | count
 * (uint32 little-endian) | payload: count float32 (little-endian) for a
 * vector, or count code bytes and, with the mask flag, count mask bytes.
 * Parsing is strict: unknown kinds and flags, non-zero reserved bytes, a
 * count of 0 or beyond the envelope's limits, any length but the exact one
 * and (for a vector) a NaN or infinity are refused, so each probe has one
 * encoding.  Nothing here reads outside [buf, buf + len).
 *
 * C library only (no backend headers): the fuzz target, the unit test and
 * the biocrypt-seal client link this file alone.
 *
 *-------------------------------------------------------------------------
 */
#include "base/sealedmsg.h"

#include <math.h>
#include <string.h>

/* Read a little-endian uint32. */
static uint32_t
ReadLE32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

/* One little-endian float32 of a vector's payload. */
static float
ReadFloatLE(const uint8_t *p)
{
	uint32_t	bits = ReadLE32(p);
	float		f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

/*
 * Bytes of a message of this kind, flags and count, or 0 when the
 * combination is not valid (count out of range, a mask on a vector).
 */
size_t
SealedMsgSize(uint8_t kind, uint8_t flags, uint32_t count)
{
	if (count == 0)
		return 0;
	if (kind == SEALEDMSG_KIND_VECTOR)
	{
		if (flags != 0 || count > ENVELOPE_MAX_DIMS)
			return 0;
		return SEALEDMSG_HEADER_SIZE + 4 * (size_t) count;
	}
	if (kind == SEALEDMSG_KIND_BITS)
	{
		if ((flags & ~SEALEDMSG_FLAG_MASK) != 0 ||
			count > ENVELOPE_MAX_BITS / 8)
			return 0;
		return SEALEDMSG_HEADER_SIZE +
			(size_t) count * ((flags & SEALEDMSG_FLAG_MASK) ? 2 : 1);
	}
	return 0;
}

/* Check the 12 fixed bytes; fills kind, flags and count. */
static SealedMsgStatus
ParseHeader(const uint8_t *buf, size_t len, SealedMsg *msg)
{
	if (len < SEALEDMSG_HEADER_SIZE)
		return SEALEDMSG_TRUNCATED;
	if (memcmp(buf, SEALEDMSG_MAGIC, 4) != 0)
		return SEALEDMSG_BAD_MAGIC;
	msg->kind = buf[4];
	msg->flags = buf[5];
	msg->count = ReadLE32(buf + 8);
	if (msg->kind != SEALEDMSG_KIND_VECTOR && msg->kind != SEALEDMSG_KIND_BITS)
		return SEALEDMSG_BAD_KIND;
	/* a vector has no flags; a bit code only the mask flag */
	if ((msg->flags & ~SEALEDMSG_FLAG_MASK) != 0 ||
		(msg->kind == SEALEDMSG_KIND_VECTOR && msg->flags != 0))
		return SEALEDMSG_BAD_FLAGS;
	if (buf[6] != 0 || buf[7] != 0)
		return SEALEDMSG_BAD_RESERVED;
	if (msg->count == 0)
		return SEALEDMSG_BAD_COUNT;
	if (SealedMsgSize(msg->kind, msg->flags, msg->count) == 0)
		return SEALEDMSG_TOO_LARGE;
	return SEALEDMSG_OK;
}

/* Parse a message of exactly len bytes into msg. */
SealedMsgStatus
SealedMsgParse(const uint8_t *buf, size_t len, SealedMsg *msg)
{
	SealedMsgStatus status;

	memset(msg, 0, sizeof(*msg));
	status = ParseHeader(buf, len, msg);
	if (status != SEALEDMSG_OK)
		return status;
	if (len != SealedMsgSize(msg->kind, msg->flags, msg->count))
		return SEALEDMSG_BAD_LENGTH;
	msg->payload = buf + SEALEDMSG_HEADER_SIZE;
	if (msg->flags & SEALEDMSG_FLAG_MASK)
		msg->mask = msg->payload + msg->count;
	if (msg->kind == SEALEDMSG_KIND_VECTOR)
		for (uint32_t i = 0; i < msg->count; i++)
			if (!isfinite(ReadFloatLE(msg->payload + 4 * (size_t) i)))
				return SEALEDMSG_NOT_FINITE;
	return SEALEDMSG_OK;
}

/*
 * Write the 12 fixed bytes of a message; returns the whole message's size
 * (the caller writes the payload after them), or 0 if invalid.
 */
size_t
SealedMsgWriteHeader(uint8_t *buf, uint8_t kind, uint8_t flags, uint32_t count)
{
	size_t		size = SealedMsgSize(kind, flags, count);

	if (size == 0)
		return 0;
	memcpy(buf, SEALEDMSG_MAGIC, 4);
	buf[4] = kind;
	buf[5] = flags;
	buf[6] = 0;
	buf[7] = 0;
	for (int i = 0; i < 4; i++)
		buf[8 + i] = (uint8_t) (count >> (8 * i));
	return size;
}

/*
 * Decode a parsed vector's floats into dst (count floats).  dst may be the
 * message buffer itself: each float is written at or below where it was read.
 */
void
SealedMsgFloats(const SealedMsg *msg, float *dst)
{
	for (uint32_t i = 0; i < msg->count; i++)
	{
		float		f = ReadFloatLE(msg->payload + 4 * (size_t) i);

		memcpy(dst + i, &f, sizeof(f));
	}
}

/* A message for each status, for error reports (no input value in it). */
const char *
SealedMsgStatusMessage(SealedMsgStatus status)
{
	switch (status)
	{
		case SEALEDMSG_OK:
			return "ok";
		case SEALEDMSG_TRUNCATED:
			return "message shorter than its 12-byte header";
		case SEALEDMSG_BAD_MAGIC:
			return "message does not start with \"BCS1\"";
		case SEALEDMSG_BAD_KIND:
			return "unknown message kind";
		case SEALEDMSG_BAD_FLAGS:
			return "unknown message flags";
		case SEALEDMSG_BAD_RESERVED:
			return "reserved bytes are not zero";
		case SEALEDMSG_BAD_COUNT:
			return "count is zero";
		case SEALEDMSG_TOO_LARGE:
			return "count exceeds the limit";
		case SEALEDMSG_BAD_LENGTH:
			return "message length does not match its count";
		case SEALEDMSG_NOT_FINITE:
			return "vector contains NaN or infinity";
	}
	return "unknown status";
}
