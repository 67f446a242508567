/*-------------------------------------------------------------------------
 *
 * auditenc.c
 *		The canonical encoding of an audit row, which the HMAC chain hashes.
 *
 * encoding = "biocrypt-audit-v2" || for each column, in table order:
 * a marker byte (0 for NULL, 1 otherwise), then, unless NULL, the value:
 * integers and OIDs as 64-bit big-endian, a float8 as its IEEE bits
 * (64-bit big-endian), bytes as a 64-bit big-endian length and the bytes.
 *
 * The columns a release added (0.3.0 on) are preceded, where present, by
 * a group mark: the marker byte 2, which no value starts with, and the
 * group's number as 64-bit big-endian.  Without it, 0.2.0's two counts
 * at 0 (present) and 0.3.0's two texts empty (present) would write the
 * same bytes.  0.2.0's own group has no mark: its rows keep their hashes.
 *
 * Every value is either of fixed width or length-prefixed, and a group
 * starts with a byte no value starts with, so for a given list of column
 * kinds the encoding can be read back field by field: two different rows
 * never encode to the same bytes, and no row's encoding is a prefix of
 * another's.  It depends on the values only, never on server
 * settings (DateStyle, extra_float_digits).
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "base/auditenc.h"

/* Write v as 8 bytes, most significant first. */
static void
PutU64(AuditEncSink sink, void *arg, uint64_t v)
{
	uint8_t		b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t) (v >> (56 - 8 * i));
	sink(arg, b, 8);
}

/* Write one value (not NULL) of its kind. */
static void
PutValue(const AuditEncValue *val, AuditEncSink sink, void *arg)
{
	switch (val->kind)
	{
		case AUDITENC_INT64:
			PutU64(sink, arg, (uint64_t) val->v.i64);
			break;
		case AUDITENC_INT32:
			PutU64(sink, arg, (uint64_t) (int64_t) val->v.i32);
			break;
		case AUDITENC_OID:
			PutU64(sink, arg, val->v.oid);
			break;
		case AUDITENC_FLOAT8:
			{
				uint64_t	bits;

				/* the bits, so -0, NaN payloads and all compare as stored */
				memcpy(&bits, &val->v.f8, sizeof(bits));
				PutU64(sink, arg, bits);
				break;
			}
		case AUDITENC_BYTES:
			PutU64(sink, arg, val->v.bytes.len);
			if (val->v.bytes.len > 0)
				sink(arg, val->v.bytes.data, val->v.bytes.len);
			break;
		case AUDITENC_GROUP:
			PutU64(sink, arg, (uint64_t) val->v.i64);
			break;
	}
}

/* Write the encoding of a row of n values to sink, version first. */
void
AuditEncRow(const AuditEncValue *values, int n, AuditEncSink sink, void *arg)
{
	sink(arg, (const uint8_t *) AUDITENC_VERSION, strlen(AUDITENC_VERSION));
	for (int i = 0; i < n; i++)
	{
		uint8_t		marker = values[i].kind == AUDITENC_GROUP ? 2 :
			values[i].isnull ? 0 : 1;

		sink(arg, &marker, 1);
		if (marker != 0)
			PutValue(&values[i], sink, arg);
	}
}
