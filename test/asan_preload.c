/*
 * asan_preload.c: preloaded after libasan into a PostgreSQL server that is
 * not instrumented (test/sanitize.sh), for two things the sanitizers'
 * runtimes would otherwise get wrong there.
 *
 * 1. Preloaded, libasan initialises on the first malloc, which in postgres
 *    comes from a library's constructor inside bindtextdomain(), with
 *    glibc's gettext lock held for writing.  The initialisation looks up
 *    swift_demangle and, not finding it, calls dlerror(), whose message is
 *    translated under the same lock: glibc's rwlock refuses the nested read
 *    lock, the unlock that follows breaks the lock, and the process hangs in
 *    its next bindtextdomain().  With the symbol found there is no message
 *    to translate.
 *
 * 2. UBSan starts at its first report, in a backend, and reads
 *    UBSAN_OPTIONS from /proc/self/environ, which a backend has overwritten
 *    with its process title: the options (log file, stack traces) would be
 *    lost.  They are copied here when the postmaster loads this file, and
 *    handed to UBSan as its defaults.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

char	   *swift_demangle(const char *name, size_t len, char *out,
						   size_t *outlen, unsigned flags);
const char *__ubsan_default_options(void);

static char ubsan_options[1024];

/* no Swift here: NULL tells ASan to keep the name as it is */
char *
swift_demangle(const char *name, size_t len, char *out, size_t *outlen,
			   unsigned flags)
{
	return NULL;
}

/* runs in the postmaster, before any process title is set */
__attribute__((constructor))
static void
save_ubsan_options(void)
{
	const char *options = getenv("UBSAN_OPTIONS");

	if (options != NULL)
		snprintf(ubsan_options, sizeof(ubsan_options), "%s", options);
}

/* UBSan asks for its defaults when it starts, in whichever process */
const char *
__ubsan_default_options(void)
{
	return ubsan_options;
}
