/*-------------------------------------------------------------------------
 *
 * fuzz_sealedmsg.c
 *		libFuzzer target for the sealed-message parser.
 *
 * Each input is copied into a malloc'd block of exactly its size, so that
 * AddressSanitizer reports any read past the end, and parsed.  When the
 * parser accepts an input, the result must be self-consistent: the size
 * the header implies is the input's length, the payload and mask lie
 * inside it, the kind and flags are known, the count is within the
 * envelope's limits, a vector's floats are all finite, the builder writes
 * back the same 12 header bytes, and no proper prefix is also accepted.
 * Any violation calls abort().
 *
 * Build and run: make fuzz-smoke (FUZZ_RUNS=n for a longer run).
 *
 *-------------------------------------------------------------------------
 */
#include "base/sealedmsg.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a violated invariant and stop. */
static void
Fail(const char *what)
{
	fprintf(stderr, "fuzz_sealedmsg: invariant violated: %s\n", what);
	abort();
}

/* An accepted vector: no flags or mask, within the limit, all finite. */
static void
CheckVector(const SealedMsg *msg)
{
	float	   *floats;

	if (msg->flags != 0 || msg->mask != NULL || msg->count > ENVELOPE_MAX_DIMS)
		Fail("vector with flags, a mask or too many floats");
	floats = malloc(sizeof(float) * msg->count);
	if (floats == NULL)
		Fail("out of memory");
	SealedMsgFloats(msg, floats);
	for (uint32_t i = 0; i < msg->count; i++)
		if (!isfinite(floats[i]))
			Fail("accepted a non-finite float");
	free(floats);
}

/* Check every invariant of an accepted message of size bytes. */
static void
CheckAccepted(const uint8_t *buf, size_t size, const SealedMsg *msg)
{
	uint8_t		hdr[SEALEDMSG_HEADER_SIZE];
	SealedMsg	again;

	if (SealedMsgSize(msg->kind, msg->flags, msg->count) != size)
		Fail("size differs from the header's");
	if (msg->kind == SEALEDMSG_KIND_VECTOR)
		CheckVector(msg);
	else if (msg->kind == SEALEDMSG_KIND_BITS)
	{
		if (msg->count > ENVELOPE_MAX_BITS / 8 ||
			(msg->flags & ~SEALEDMSG_FLAG_MASK) != 0 ||
			((msg->flags & SEALEDMSG_FLAG_MASK) != 0) != (msg->mask != NULL))
			Fail("bit code with bad flags, mask or count");
		if (msg->mask != NULL && msg->mask != msg->payload + msg->count)
			Fail("mask does not follow the code");
	}
	else
		Fail("accepted an unknown kind");
	if (msg->count == 0 || msg->payload != buf + SEALEDMSG_HEADER_SIZE)
		Fail("count 0 or payload not after the header");
	if (SealedMsgWriteHeader(hdr, msg->kind, msg->flags, msg->count) != size ||
		memcmp(hdr, buf, SEALEDMSG_HEADER_SIZE) != 0)
		Fail("rebuilt header differs from the input");
	if (SealedMsgParse(buf, size - 1, &again) == SEALEDMSG_OK)
		Fail("a proper prefix was also accepted");
}

/* libFuzzer entry point: parse one input and check the result. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *buf = malloc(size);
	SealedMsg	msg;
	SealedMsgStatus status;
	const char *text;

	if (buf == NULL && size > 0)
		Fail("out of memory");
	if (size > 0)
		memcpy(buf, data, size);
	status = SealedMsgParse(buf, size, &msg);
	if ((int) status < (int) SEALEDMSG_OK || (int) status > (int) SEALEDMSG_NOT_FINITE)
		Fail("status out of range");
	text = SealedMsgStatusMessage(status);
	if (text == NULL || text[0] == '\0')
		Fail("empty status message");
	if (status == SEALEDMSG_OK)
		CheckAccepted(buf, size, &msg);
	free(buf);
	return 0;
}
