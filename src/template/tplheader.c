/*-------------------------------------------------------------------------
 *
 * tplheader.c
 *		A template header's fields as the server shows them: the subject
 *		in the database encoding, the element format by name.
 *
 * Below template.c (the type's I/O and accessors) and typmod.c (the
 * column's declared shape), which both name them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "template/template.h"

/* A header's subject as a C string in the database encoding. */
char *
SubjectToServer(const EnvelopeHeader *hdr)
{
	char	   *subject = pnstrdup(hdr->subject, hdr->subject_len);

	return pg_any_to_server(subject, hdr->subject_len, PG_UTF8);
}

/* The name of an element format: f32, f16, i8 or bits ("?" for another). */
const char *
TemplateFormatName(uint8 format)
{
	static const char *const names[] = {"?", "f32", "f16", "i8", "bits"};

	return format < lengthof(names) ? names[format] : "?";
}

/* The element format of a name (f32, f16, i8, bits), or 0 for none. */
uint8
TemplateFormatByName(const char *name)
{
	for (uint8 f = ENVELOPE_FORMAT_F32; f <= ENVELOPE_FORMAT_BITS; f++)
		if (strcmp(name, TemplateFormatName(f)) == 0)
			return f;
	return 0;
}
