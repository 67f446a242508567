/*-------------------------------------------------------------------------
 *
 * unit_check.h
 *		What the C unit tests share: counting assertions, and the line
 *		"unit: N passed, N failed" that make unit sums.  Each test program
 *		includes it once.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_UNIT_CHECK_H
#define BIOCRYPT_UNIT_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int	npassed;
static int	nfailed;

static void Check(int ok, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* Record one assertion; print a diagnostic when it fails. */
static void
Check(int ok, const char *fmt,...)
{
	va_list		ap;

	if (ok)
	{
		npassed++;
		return;
	}
	nfailed++;
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Print the counts; the program's exit status. */
static int
UnitReport(void)
{
	printf("unit: %d passed, %d failed\n", npassed, nfailed);
	return nfailed == 0 ? 0 : 1;
}

#endif							/* BIOCRYPT_UNIT_CHECK_H */
