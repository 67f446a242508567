/*-------------------------------------------------------------------------
 *
 * rootkey.c
 *		The root key, and the keys derived from it.
 *
 * The 32-byte root key is read once, in the postmaster while preloading,
 * from biocrypt.root_key_file or biocrypt.root_key_command.  Without a valid
 * key the server refuses to start.  Only keys derived from it with
 * crypto_kdf are kept (the root itself is wiped at once): the key-wrapping
 * key for template data keys, the audit MAC key and the sealed-input key
 * pair seed.  They live in sodium_malloc memory (guard pages, no core dump),
 * read-only after derivation; backends inherit it through fork and lock it
 * again on first use, since mlock does not survive fork.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>
#include <ctype.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "crypto/keys_internal.h"

#define KDF_CTX_TEMPLATES	"bctmplkw"	/* wraps template data keys */
#define KDF_CTX_AUDIT		"bcauditm"	/* audit chain MAC */
#define KDF_CTX_SEALED		"bcsealin"	/* sealed-input key pair seed */

static char *biocrypt_root_key_file = NULL;
static char *biocrypt_root_key_command = NULL;
static char *biocrypt_new_root_key_file = NULL;
static char *biocrypt_new_root_key_command = NULL;
static int	biocrypt_root_key_command_timeout = 30;	/* seconds */

DerivedKeys *derived_keys = NULL;
DerivedKeys *new_keys = NULL;	/* the next root key, for rewrap_keys */
static pid_t derived_keys_locked_pid = 0;

/* Decode exactly 64 hex digits, allowing surrounding whitespace. */
static bool
ParseRootKeyHex(const char *text, size_t len, uint8 *root)
{
	size_t		binlen = 0;
	const char *end = NULL;

	while (len > 0 && isspace((unsigned char) text[len - 1]))
		len--;
	while (len > 0 && isspace((unsigned char) *text))
		text++, len--;
	if (len != 2 * BIOCRYPT_KEY_BYTES)
		return false;
	if (sodium_hex2bin(root, BIOCRYPT_KEY_BYTES, text, len, NULL, &binlen,
					   &end) != 0)
		return false;
	return binlen == BIOCRYPT_KEY_BYTES && end == text + len;
}

/* Read the root key from a file that only its owner may access. */
static void
ReadRootKeyFile(const char *setting, const char *path, uint8 *root)
{
	char		text[160];
	struct stat st;
	ssize_t		n;
	int			fd = BasicOpenFile(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: could not open %s \"%s\": %m", setting, path),
				 errhint("Make %s name a regular file that the server's operating-system user owns, with no group or other permissions (chmod 0600), holding 64 hexadecimal digits.", setting)));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: %s \"%s\" is not a regular file", setting, path),
				 errhint("Make %s name a regular file that the server's operating-system user owns, with no group or other permissions (chmod 0600), holding 64 hexadecimal digits.", setting)));
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: %s \"%s\" has group or world access", setting, path),
				 errhint("Make %s name a regular file that the server's operating-system user owns, with no group or other permissions (chmod 0600), holding 64 hexadecimal digits.", setting)));
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	/* a full buffer means more text than a key: refuse, never truncate */
	if (n < 0 || n == sizeof(text) || !ParseRootKeyHex(text, (size_t) n, root))
	{
		sodium_memzero(text, sizeof(text));
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: %s \"%s\" does not hold 64 hexadecimal digits", setting, path),
				 errhint("Make %s name a regular file that the server's operating-system user owns, with no group or other permissions (chmod 0600), holding 64 hexadecimal digits.", setting)));
	}
	sodium_memzero(text, sizeof(text));
}

/*
 * Start command under /bin/sh in a process group of its own, its standard
 * output into a pipe; returns the read end, and the child in *pid.
 */
static int
StartKeyCommand(const char *setting, const char *command, pid_t *pid)
{
	int			fds[2];

	fflush(NULL);
	if (pipe(fds) != 0 || (*pid = fork()) < 0)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: could not run %s: %m", setting),
				 errhint("Make %s a program that prints 64 hexadecimal digits and exits with status 0.", setting)));
	if (*pid == 0)
	{
		sigset_t	none;

		/* the child: a session of its own, so that a timeout kills it all */
		(void) setsid();
		sigemptyset(&none);
		(void) sigprocmask(SIG_SETMASK, &none, NULL);
		close(fds[0]);
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		close(fds[1]);
		execl("/bin/sh", "sh", "-c", command, (char *) NULL);
		_exit(127);
	}
	close(fds[1]);
	return fds[0];
}

/*
 * Read up to len bytes of the command's output into buf before deadline
 * (then drain the rest, so that the program is not killed by SIGPIPE).
 * Returns the bytes read, or -1 on timeout; *too_long is set when there
 * was more than len.
 */
static ssize_t
ReadKeyCommandOutput(int fd, char *buf, size_t len, TimestampTz deadline,
					 bool *too_long)
{
	size_t		n = 0;
	ssize_t		result = -1;	/* until EOF: the deadline passed */
	char		drain[64];

	*too_long = false;
	for (;;)
	{
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long		left_ms = (long) ((deadline - GetCurrentTimestamp()) / 1000);
		int			ready;
		ssize_t		got;

		if (left_ms <= 0)
			break;
		ready = poll(&pfd, 1, (int) Min(left_ms, INT_MAX));
		if (ready < 0 && errno == EINTR)
			continue;
		/* nothing to read in time (or poll failed): never block in read() */
		if (ready <= 0)
			break;
		if (n < len)
			got = read(fd, buf + n, len - n);
		else
			got = read(fd, drain, sizeof(drain));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
		{
			result = (ssize_t) n;
			break;
		}
		if (n < len)
			n += got;
		else
			*too_long = true;
	}
	sodium_memzero(drain, sizeof(drain));
	return result;
}

/*
 * Run root_key_command and read the key it prints.  A program that does
 * not finish within biocrypt.root_key_command_timeout is killed, with its
 * whole process group, and the server refuses to start: a key service
 * that hangs must not hang the server silently.
 */
static void
ReadRootKeyCommand(const char *setting, const char *command, uint8 *root)
{
	char		text[160];
	ssize_t		n;
	int			rc;
	bool		too_long;
	pid_t		pid;
	int			fd;
	TimestampTz deadline;

	ereport(LOG,
			(errmsg("biocrypt: running %s (at most %d s)", setting,
					biocrypt_root_key_command_timeout)));
	fd = StartKeyCommand(setting, command, &pid);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   biocrypt_root_key_command_timeout * 1000);
	n = ReadKeyCommandOutput(fd, text, sizeof(text), deadline, &too_long);
	close(fd);
	if (n < 0)
	{
		sodium_memzero(text, sizeof(text));
		(void) kill(-pid, SIGKILL);
		(void) waitpid(pid, NULL, 0);
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: %s did not finish within %d s", setting,
						biocrypt_root_key_command_timeout),
				 errhint("Check the program and the key service it reaches, or raise biocrypt.root_key_command_timeout.")));
	}
	while (waitpid(pid, &rc, 0) < 0)
	{
		if (errno != EINTR)
		{
			rc = -1;
			break;
		}
	}
	if (rc != 0)
	{
		sodium_memzero(text, sizeof(text));
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: %s failed: %s", setting, wait_result_to_str(rc)),
				 errhint("Make %s a program that prints 64 hexadecimal digits and exits with status 0.", setting)));
	}
	if (too_long || n == sizeof(text) || !ParseRootKeyHex(text, (size_t) n, root))
	{
		sodium_memzero(text, sizeof(text));
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: %s did not print 64 hexadecimal digits", setting),
				 errhint("Make %s a program that prints 64 hexadecimal digits and exits with status 0.", setting)));
	}
	sodium_memzero(text, sizeof(text));
}

/* Derive the purpose keys from a root key into locked memory. */
static DerivedKeys *
DeriveKeys(const uint8 *root)
{
	static const char kcv_msg[] = "biocrypt key check v1";
	DerivedKeys *dk = sodium_malloc(sizeof(DerivedKeys));

	if (dk == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: could not allocate locked memory for keys"),
				 errhint("Set biocrypt.root_key_file to a file of mode 0600, or biocrypt.root_key_command to a program, that yields 64 hexadecimal digits.")));
	crypto_kdf_derive_from_key(dk->wrap, BIOCRYPT_KEY_BYTES, 1,
							   KDF_CTX_TEMPLATES, root);
	crypto_kdf_derive_from_key(dk->audit, BIOCRYPT_KEY_BYTES, 1,
							   KDF_CTX_AUDIT, root);
	crypto_kdf_derive_from_key(dk->audit_probe, BIOCRYPT_KEY_BYTES, 2,
							   KDF_CTX_AUDIT, root);
	crypto_kdf_derive_from_key(dk->sealed_seed, BIOCRYPT_KEY_BYTES, 1,
							   KDF_CTX_SEALED, root);
	crypto_generichash(dk->kcv, KCV_BYTES,
					   (const unsigned char *) kcv_msg, sizeof(kcv_msg) - 1,
					   dk->wrap, BIOCRYPT_KEY_BYTES);
	sodium_mprotect_readonly(dk);
	return dk;
}

/*
 * Read one root key from file or command (prefix names their settings)
 * and derive its keys; NULL if neither is set and the key is optional.
 */
static DerivedKeys *
LoadOneRootKey(const char *file, const char *command, const char *prefix,
			   bool required)
{
	uint8		root[BIOCRYPT_KEY_BYTES];
	bool		have_file = file && file[0];
	bool		have_command = command && command[0];
	DerivedKeys *dk;

	if (have_file && have_command)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: both biocrypt.%s_file and biocrypt.%s_command are set", prefix, prefix),
				 errhint("Set only one of biocrypt.%s_file and biocrypt.%s_command.", prefix, prefix)));
	if (!have_file && !have_command)
	{
		if (required)
			ereport(FATAL,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("biocrypt: no root key configured: set biocrypt.root_key_file or biocrypt.root_key_command"),
					 errhint("Set biocrypt.root_key_file to a file of mode 0600, or biocrypt.root_key_command to a program, that yields 64 hexadecimal digits.")));
		return NULL;
	}
	sodium_mlock(root, sizeof(root));
	if (have_file)
		ReadRootKeyFile(psprintf("biocrypt.%s_file", prefix), file, root);
	else
		ReadRootKeyCommand(psprintf("biocrypt.%s_command", prefix), command, root);
	dk = DeriveKeys(root);
	sodium_munlock(root, sizeof(root)); /* zeroes it too */
	return dk;
}

/*
 * Load the root key in the postmaster, and the next one while the ring is
 * being rewrapped; any problem stops the server.
 */
static void
LoadRootKey(void)
{
	derived_keys = LoadOneRootKey(biocrypt_root_key_file, biocrypt_root_key_command,
								  "root_key", true);
	new_keys = LoadOneRootKey(biocrypt_new_root_key_file, biocrypt_new_root_key_command,
							  "new_root_key", false);
	if (new_keys != NULL &&
		sodium_memcmp(new_keys->kcv, derived_keys->kcv, KCV_BYTES) == 0)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: the new root key is the current root key"),
				 errhint("Point biocrypt.new_root_key_file or biocrypt.new_root_key_command at a key other than the current one, or remove it.")));
	derived_keys_locked_pid = getpid();
}

static void RootKeyAtExit(int code, Datum arg);

/*
 * Make the derived keys usable in this process: fail if the server has no
 * key, and lock them (mlock is not inherited across fork).
 */
void
RootKeyAttach(void)
{
	if (derived_keys == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: no root key is loaded"),
				 errhint("Add biocrypt to shared_preload_libraries and configure a root key, then restart the server."),
				 errhidestmt(true), errhidecontext(true)));
	if (derived_keys_locked_pid != MyProcPid)
	{
		sodium_mlock(derived_keys, sizeof(DerivedKeys));
		if (new_keys != NULL)
			sodium_mlock(new_keys, sizeof(DerivedKeys));
		derived_keys_locked_pid = MyProcPid;
		on_proc_exit(RootKeyAtExit, (Datum) 0);
	}
}

/* Zero the derived keys of this process when it exits. */
static void
RootKeyAtExit(int code, Datum arg)
{
	if (derived_keys != NULL)
		sodium_free(derived_keys);
	derived_keys = NULL;
	if (new_keys != NULL)
		sodium_free(new_keys);
	new_keys = NULL;
}

/* Define the root-key settings and, while preloading, load the key. */
void
RootKeyInit(void)
{
	if (sodium_init() < 0)
		ereport(FATAL,
				(errmsg("biocrypt: libsodium could not be initialised")));

	DefineCustomStringVariable("biocrypt.root_key_file",
							   "File holding the root key as 64 hexadecimal digits (mode 0600).",
							   NULL, &biocrypt_root_key_file, NULL,
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("biocrypt.root_key_command",
							   "Program that prints the root key as 64 hexadecimal digits.",
							   NULL, &biocrypt_root_key_command, NULL,
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("biocrypt.root_key_command_timeout",
							"How long the root-key programs may run at server start.",
							"Past it the program is killed and the server does not start.",
							&biocrypt_root_key_command_timeout, 30, 1, 3600,
							PGC_POSTMASTER, GUC_UNIT_S | GUC_SUPERUSER_ONLY,
							NULL, NULL, NULL);
	DefineCustomStringVariable("biocrypt.new_root_key_file",
							   "File holding the next root key, while biocrypt.rewrap_keys() moves the key ring to it.",
							   NULL, &biocrypt_new_root_key_file, NULL,
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("biocrypt.new_root_key_command",
							   "Program that prints the next root key, while biocrypt.rewrap_keys() moves the key ring to it.",
							   NULL, &biocrypt_new_root_key_command, NULL,
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	if (process_shared_preload_libraries_in_progress)
	{
		LoadRootKey();
		on_proc_exit(RootKeyAtExit, (Datum) 0);
	}
}
