/*
 * asan_preload.c: preloaded after libasan into a PostgreSQL server that is
 * not instrumented (test/sanitize.sh).
 *
 * Preloaded, libasan initialises on the first malloc, which in postgres
 * comes from a library's constructor inside bindtextdomain(), with glibc's
 * gettext lock held for writing.  The initialisation looks up
 * swift_demangle and, not finding it, calls dlerror(), whose message is
 * translated under the same lock: glibc's rwlock refuses the nested read
 * lock, the unlock that follows breaks the lock, and the process hangs in
 * its next bindtextdomain().  With this symbol found there is no error
 * message to translate.  Returning NULL tells ASan "not a Swift name".
 */
#include <stddef.h>

char	   *swift_demangle(const char *name, size_t len, char *out,
						   size_t *outlen, unsigned flags);

/* no Swift here: ASan keeps the name as it is */
char *
swift_demangle(const char *name, size_t len, char *out, size_t *outlen,
			   unsigned flags)
{
	return NULL;
}
