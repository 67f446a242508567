/*-------------------------------------------------------------------------
 *
 * sealedmsg_test.c
 *		Unit tests for the sealed-message parser and builder (sealedmsg.c).
 *
 * Messages are written byte by byte here, independently of sealedmsg.c's
 * builder, and each malformed one must be refused with its own status:
 * magic, kind, flags, reserved bytes, count 0, counts past the envelope's
 * limits, every length but the right one, NaN and infinities.  Accepted
 * messages must point inside the buffer, and decoded floats must equal the
 * little-endian bits written.  Every truncation of a valid message is
 * refused (one assertion).
 *
 * Every check is one assertion.  The last line of output is
 * "unit: N passed, N failed"; the exit status is non-zero when any
 * assertion failed.
 *
 *-------------------------------------------------------------------------
 */
#include "base/sealedmsg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

/* Write a 12-byte header by hand. */
static size_t
Header(uint8_t *b, const char *magic, uint8_t kind, uint8_t flags,
	   uint8_t r0, uint8_t r1, uint32_t count)
{
	memcpy(b, magic, 4);
	b[4] = kind;
	b[5] = flags;
	b[6] = r0;
	b[7] = r1;
	b[8] = (uint8_t) count;
	b[9] = (uint8_t) (count >> 8);
	b[10] = (uint8_t) (count >> 16);
	b[11] = (uint8_t) (count >> 24);
	return 12;
}

/* Append a float's IEEE bits, little-endian. */
static size_t
PutFloat(uint8_t *b, uint32_t bits)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t) (bits >> (8 * i));
	return 4;
}

/* A vector message of n floats with the given bit patterns. */
static size_t
Vector(uint8_t *b, const uint32_t *bits, uint32_t n)
{
	size_t		len = Header(b, "BCS1", 1, 0, 0, 0, n);

	for (uint32_t i = 0; i < n; i++)
		len += PutFloat(b + len, bits[i]);
	return len;
}

/* Parse and compare the status. */
static void
Expect(const uint8_t *b, size_t len, SealedMsgStatus want, const char *what)
{
	SealedMsg	msg;
	SealedMsgStatus got = SealedMsgParse(b, len, &msg);

	if (got != want)
		printf("  %s: got %d (%s), want %d\n", what, (int) got,
			   SealedMsgStatusMessage(got), (int) want);
	Check(got == want, "%s", what);
}

/* Valid vectors and bit codes, and what the parser makes of them. */
static void
TestValid(uint8_t *b)
{
	static const uint32_t bits[] = {0x3f800000, 0xc0000000, 0x00000001,
	0x7f7fffff, 0x80000000};	/* 1, -2, min subnormal, FLT_MAX, -0 */
	float		out[5];
	SealedMsg	msg;
	size_t		len = Vector(b, bits, 5);
	int			same = 1;

	Check(len == 32, "vector of 5 is 32 bytes");
	Check(SealedMsgSize(1, 0, 5) == 32, "SealedMsgSize of a vector of 5");
	Check(SealedMsgParse(b, len, &msg) == SEALEDMSG_OK, "vector of 5 accepted");
	Check(msg.kind == 1 && msg.flags == 0 && msg.count == 5, "vector fields");
	Check(msg.payload == b + 12 && msg.mask == NULL, "vector payload at 12, no mask");
	SealedMsgFloats(&msg, out);
	for (int i = 0; i < 5; i++)
	{
		uint32_t	got;

		memcpy(&got, &out[i], 4);
		same &= got == bits[i];
	}
	Check(same, "decoded floats have the bits written");

	/* decoding in place, onto the message itself */
	SealedMsgFloats(&msg, (float *) (void *) b);
	Check(memcmp(b, out, sizeof(out)) == 0, "in-place decoding gives the same floats");

	len = Header(b, "BCS1", 2, 0, 0, 0, 3);
	memcpy(b + len, "\x01\x02\x03", 3);
	Check(SealedMsgParse(b, len + 3, &msg) == SEALEDMSG_OK && msg.mask == NULL &&
		  msg.payload == b + 12 && msg.count == 3, "bit code of 3 bytes, no mask");
	len = Header(b, "BCS1", 2, 1, 0, 0, 3);
	memcpy(b + len, "\x01\x02\x03\xff\xfe\xfd", 6);
	Check(SealedMsgParse(b, len + 6, &msg) == SEALEDMSG_OK && msg.mask == b + 15,
		  "bit code with mask: mask after the code");
	Check(SealedMsgSize(2, 1, 8192) == 12 + 16384, "largest bit code with mask");
	Check(SealedMsgSize(1, 0, 16000) == SEALEDMSG_MAX_SIZE, "largest vector is the maximum size");
}

/* Each malformed header field is refused with its status. */
static void
TestMalformed(uint8_t *b)
{
	static const uint32_t two[] = {0x3f800000, 0x40000000};
	size_t		len = Vector(b, two, 2);

	Expect(b, len, SEALEDMSG_OK, "the base message is valid");
	b[3] = '2';
	Expect(b, len, SEALEDMSG_BAD_MAGIC, "magic BCS2");
	b[3] = '1';
	b[0] = 'b';
	Expect(b, len, SEALEDMSG_BAD_MAGIC, "magic bCS1");
	b[0] = 'B';
	{
		int			all = 1;
		SealedMsg	msg;

		for (int kind = 0; kind < 256; kind++)
			if (kind != 1 && kind != 2)
			{
				b[4] = (uint8_t) kind;
				all &= SealedMsgParse(b, len, &msg) == SEALEDMSG_BAD_KIND;
			}
		Check(all, "every other kind refused");
	}
	b[4] = 1;
	b[5] = 1;
	Expect(b, len, SEALEDMSG_BAD_FLAGS, "a vector with the mask flag");
	b[5] = 0x80;
	Expect(b, len, SEALEDMSG_BAD_FLAGS, "a vector with flag 0x80");
	b[5] = 0;
	b[6] = 1;
	Expect(b, len, SEALEDMSG_BAD_RESERVED, "reserved byte 6");
	b[6] = 0;
	b[7] = 0x80;
	Expect(b, len, SEALEDMSG_BAD_RESERVED, "reserved byte 7");
	b[7] = 0;
	Expect(b, len - 1, SEALEDMSG_BAD_LENGTH, "one byte short");
	b[len] = 0;
	Expect(b, len + 1, SEALEDMSG_BAD_LENGTH, "one byte long");
	Expect(b, 11, SEALEDMSG_TRUNCATED, "11 bytes");
	Expect(b, 0, SEALEDMSG_TRUNCATED, "empty");

	Header(b, "BCS1", 1, 0, 0, 0, 0);
	Expect(b, 12, SEALEDMSG_BAD_COUNT, "vector count 0");
	Header(b, "BCS1", 2, 0, 0, 0, 0);
	Expect(b, 12, SEALEDMSG_BAD_COUNT, "bit code count 0");
	Header(b, "BCS1", 1, 0, 0, 0, 16001);
	Expect(b, 12, SEALEDMSG_TOO_LARGE, "vector of 16001");
	Header(b, "BCS1", 1, 0, 0, 0, 0x40000001);
	Expect(b, 12, SEALEDMSG_TOO_LARGE, "count overflowing 4 * count in 32 bits");
	Header(b, "BCS1", 1, 0, 0, 0, UINT32_MAX);
	Expect(b, 12, SEALEDMSG_TOO_LARGE, "count 2^32-1");
	Header(b, "BCS1", 2, 0, 0, 0, 8193);
	Expect(b, 12, SEALEDMSG_TOO_LARGE, "bit code of 8193 bytes");
	Header(b, "BCS1", 2, 2, 0, 0, 1);
	b[12] = 0;
	Expect(b, 13, SEALEDMSG_BAD_FLAGS, "bit code with flag 2");
	Header(b, "BCS1", 2, 1, 0, 0, 2);
	Expect(b, 12 + 2, SEALEDMSG_BAD_LENGTH, "mask flag without the mask");
	Expect(b, 12 + 3, SEALEDMSG_BAD_LENGTH, "half a mask");
}

/* NaN and infinities are refused wherever they sit. */
static void
TestNotFinite(uint8_t *b)
{
	static const uint32_t bad[] = {0x7fc00000, 0xffc00001, 0x7f800000, 0xff800000, 0x7f800001};
	for (int i = 0; i < 5; i++)
		for (int at = 0; at < 3; at++)
		{
			uint32_t	v[3] = {0x3f800000, 0x3f800000, 0x3f800000};
			char		what[64];

			v[at] = bad[i];
			snprintf(what, sizeof(what), "non-finite %08x at %d", (unsigned) bad[i], at);
			Expect(b, Vector(b, v, 3), SEALEDMSG_NOT_FINITE, what);
		}
}

/* Every proper prefix of a valid message is refused. */
static void
TestTruncations(uint8_t *b)
{
	static const uint32_t v[] = {0x3f800000, 0x40000000, 0x40400000};
	size_t		len = Vector(b, v, 3);
	int			ok = 1;
	SealedMsg	msg;

	for (size_t n = 0; n < len; n++)
		ok &= SealedMsgParse(b, n, &msg) != SEALEDMSG_OK;
	Check(ok, "no proper prefix accepted");
}

/* The builder's header agrees with the hand-written one. */
static void
TestBuilder(uint8_t *b)
{
	uint8_t		h[12];

	Header(h, "BCS1", 2, 1, 0, 0, 300);
	Check(SealedMsgWriteHeader(b, 2, 1, 300) == 612 && memcmp(b, h, 12) == 0,
		  "SealedMsgWriteHeader writes the header and returns the size");
	Check(SealedMsgWriteHeader(b, 1, 1, 3) == 0, "no header for a vector with a mask");
	Check(SealedMsgWriteHeader(b, 3, 0, 3) == 0, "no header for kind 3");
	Check(SealedMsgWriteHeader(b, 1, 0, 0) == 0, "no header for count 0");
	for (int s = 0; s <= SEALEDMSG_NOT_FINITE; s++)
		Check(SealedMsgStatusMessage((SealedMsgStatus) s)[0] != '\0', "status has a message");
}

int
main(void)
{
	uint8_t    *b = malloc(SEALEDMSG_MAX_SIZE + 16);

	if (b == NULL)
		return 2;
	TestValid(b);
	TestMalformed(b);
	TestNotFinite(b);
	TestTruncations(b);
	TestBuilder(b);
	free(b);
	return UnitReport();
}
