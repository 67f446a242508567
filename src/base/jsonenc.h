/*-------------------------------------------------------------------------
 *
 * jsonenc.h
 *		JSON text for the values an audit event carries.
 *
 * Audit rows hold subjects, reasons and distances as jsonb, which the audit
 * worker parses.  A value that does not encode to valid JSON would fail
 * the worker's insert, and with it every event of the same batch.  These
 * encoders are total: any bytes and any double give valid JSON text that
 * PostgreSQL's jsonb accepts (no \u0000, no bare NaN or Infinity).
 *
 * This header and jsonenc.c depend on the C library only, so that the
 * encoding can be fuzzed and unit-tested outside the server.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_JSONENC_H
#define BIOCRYPT_JSONENC_H

#include <stddef.h>
#include <stdint.h>

/* Most bytes JsonEncString writes for len input bytes, quotes included. */
#define JSONENC_STRING_BOUND(len)	((len) * 6 + 2)

/* Most bytes JsonEncNumber writes. */
#define JSONENC_NUMBER_BOUND	32

extern size_t JsonEncString(char *dst, const uint8_t *src, size_t len,
							int utf8);
extern size_t JsonEncNumber(char *dst, double v);

#endif							/* BIOCRYPT_JSONENC_H */
