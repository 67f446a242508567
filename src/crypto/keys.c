/*-------------------------------------------------------------------------
 *
 * keys.c
 *		Root key, derived purpose keys and the data-key ring.
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
 * Data keys (DEKs) are random, one per retention epoch (UTC month of expiry)
 * and cipher, stored only wrapped in biocrypt.keys with a key-check value of
 * the wrapping key, so a wrong root key is one clear error.  Unwrapped DEKs
 * are cached per backend in locked memory.  The active-key choice is cached
 * for one transaction only, and the unwrapped cache is dropped on abort, so
 * a key row that rolled back is never used again.
 *
 * Every encryption draws a number from the non-transactional sequence
 * biocrypt.encryption_counter; a DEK created at counter value b has sealed
 * at most n - b templates by the time n is drawn (an over-estimate: it counts
 * every key's encryptions).  Past biocrypt.max_encryptions_per_key the DEK is
 * retired and a fresh one takes over, long before AES-GCM's 2^32 limit for
 * random 96-bit nonces.
 *
 * Key-ring SQL runs as the bootstrap superuser with search_path pinned to
 * pg_catalog, so neither the caller's privileges nor its search_path matter.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>
#include <ctype.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "audit/audit.h"
#include "biocrypt.h"

#define KDF_CTX_TEMPLATES	"bctmplkw"	/* wraps template data keys */
#define KDF_CTX_AUDIT		"bcauditm"	/* audit chain MAC */
#define KDF_CTX_SEALED		"bcsealin"	/* sealed-input key pair seed */
#define KCV_BYTES			16
#define WRAPPED_BYTES		(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + \
							 BIOCRYPT_KEY_BYTES + \
							 crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define DEK_CACHE_SLOTS		64
#define ACTIVE_CACHE_SLOTS	8

/* Keys derived from the root key; one sodium_malloc block. */
typedef struct DerivedKeys
{
	uint8		wrap[BIOCRYPT_KEY_BYTES];
	uint8		audit[BIOCRYPT_KEY_BYTES];
	uint8		audit_probe[BIOCRYPT_KEY_BYTES];	/* keyed hashes of probes */
	uint8		sealed_seed[BIOCRYPT_KEY_BYTES];
	uint8		kcv[KCV_BYTES]; /* key-check value of wrap */
} DerivedKeys;

typedef struct DekSlot
{
	uint32		key_id;
	uint8		cipher;
	bool		valid;
} DekSlot;

typedef struct ActiveKey
{
	DateADT		epoch;
	uint8		cipher;
	uint32		key_id;
	int64		counter_base;
	bool		valid;
} ActiveKey;


enum
{
	CIPHER_CHOICE_AUTO,
	CIPHER_CHOICE_AES256GCM,
	CIPHER_CHOICE_XCHACHA20
};

static const struct config_enum_entry cipher_options[] = {
	{"auto", CIPHER_CHOICE_AUTO, false},
	{"aes-256-gcm", CIPHER_CHOICE_AES256GCM, false},
	{"xchacha20-poly1305", CIPHER_CHOICE_XCHACHA20, false},
	{NULL, 0, false}
};

static char *biocrypt_root_key_file = NULL;
static char *biocrypt_root_key_command = NULL;
static int	biocrypt_cipher = CIPHER_CHOICE_AUTO;
static int	biocrypt_max_encryptions_per_key = 1 << 30;

static char *biocrypt_new_root_key_file = NULL;
static char *biocrypt_new_root_key_command = NULL;

static DerivedKeys *derived_keys = NULL;
static DerivedKeys *new_keys = NULL;	/* the next root key, for rewrap_keys */
static uint8 *chain_key = NULL;	/* audit chain key kept across roots, locked */
static bool chain_key_resolved = false;
static pid_t derived_keys_locked_pid = 0;

static uint8 *dek_bytes = NULL;	/* DEK_CACHE_SLOTS keys, locked */
/* AES-GCM key schedules of the cached AES keys, expanded once, locked */
static crypto_aead_aes256gcm_state *aes_states = NULL;
static int	dek_last_hit = 0;
static DekSlot dek_slots[DEK_CACHE_SLOTS];
static int	dek_next_victim = 0;
static ActiveKey active_keys[ACTIVE_CACHE_SLOTS];
static bool xact_callback_registered = false;

/*
 * Another backend destroyed or rewrapped keys: drop the cache at the next
 * key lookup (never in the middle of one, which may be filling a slot).
 */
static bool dek_cache_stale = false;
static Oid	keys_relid = InvalidOid;	/* biocrypt.keys, once looked up */

/* Keys destroyed by this transaction, for the cluster's list at commit. */
#define FINGERPRINT_BYTES	16
#define DESTROYED_DIR		"pg_biocrypt"
#define DESTROYED_FILE		DESTROYED_DIR "/destroyed_keys"
typedef struct PendingDestroy
{
	SubTransactionId subid;		/* the subtransaction that destroyed it */
	uint8		fp[FINGERPRINT_BYTES];
} PendingDestroy;

static List *pending_destroyed = NIL;	/* of PendingDestroy */

static void CheckRingRootKey(void);

/* Report a root-key problem: FATAL while preloading stops the server. */
#define RootKeyFatal(...) \
	ereport(FATAL, \
			(errcode(ERRCODE_CONFIG_FILE_ERROR), \
			 errmsg(__VA_ARGS__), \
			 errhint("Set biocrypt.root_key_file to a file of mode 0600, or biocrypt.root_key_command to a program, that yields 64 hexadecimal digits.")))

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
	int			fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		RootKeyFatal("biocrypt: could not open %s \"%s\": %m",
					 setting, path);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		RootKeyFatal("biocrypt: %s \"%s\" is not a regular file",
					 setting, path);
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		RootKeyFatal("biocrypt: %s \"%s\" has group or world access",
					 setting, path);
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	/* a full buffer means more text than a key: refuse, never truncate */
	if (n < 0 || n == sizeof(text) || !ParseRootKeyHex(text, (size_t) n, root))
	{
		sodium_memzero(text, sizeof(text));
		RootKeyFatal("biocrypt: %s \"%s\" does not hold 64 hexadecimal digits",
					 setting, path);
	}
	sodium_memzero(text, sizeof(text));
}

/* Run biocrypt.root_key_command and read the key from its output. */
static void
ReadRootKeyCommand(const char *setting, const char *command, uint8 *root)
{
	char		text[160];
	size_t		n;
	int			rc;
	bool		too_long = false;
	FILE	   *pipe;

	fflush(NULL);
	pipe = popen(command, "r");
	if (pipe == NULL)
		RootKeyFatal("biocrypt: could not run %s: %m", setting);
	/* unbuffered, so that no stdio buffer keeps a copy of the key */
	setvbuf(pipe, NULL, _IONBF, 0);
	n = fread(text, 1, sizeof(text), pipe);
	/* drain anything longer so the program is not killed by SIGPIPE */
	if (n == sizeof(text) && fgetc(pipe) != EOF)
	{
		too_long = true;
		while (fgetc(pipe) != EOF)
			;
	}
	rc = pclose(pipe);
	if (rc != 0)
	{
		sodium_memzero(text, sizeof(text));
		RootKeyFatal("biocrypt: %s failed: %s",
					 setting, wait_result_to_str(rc));
	}
	if (too_long || n == sizeof(text) || !ParseRootKeyHex(text, n, root))
	{
		sodium_memzero(text, sizeof(text));
		RootKeyFatal("biocrypt: %s did not print 64 hexadecimal digits", setting);
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
		RootKeyFatal("biocrypt: could not allocate locked memory for keys");
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
		RootKeyFatal("biocrypt: both biocrypt.%s_file and biocrypt.%s_command are set",
					 prefix, prefix);
	if (!have_file && !have_command)
	{
		if (required)
			RootKeyFatal("biocrypt: no root key configured: set biocrypt.root_key_file or biocrypt.root_key_command");
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
		RootKeyFatal("biocrypt: the new root key is the current root key");
	derived_keys_locked_pid = getpid();
}

/* Zero all key material of this process when it exits. */
static void
KeysAtExit(int code, Datum arg)
{
	if (dek_bytes != NULL)
		sodium_free(dek_bytes);
	dek_bytes = NULL;
	if (aes_states != NULL)
		sodium_free(aes_states);
	aes_states = NULL;
	if (derived_keys != NULL)
		sodium_free(derived_keys);
	derived_keys = NULL;
	if (new_keys != NULL)
		sodium_free(new_keys);
	new_keys = NULL;
	if (chain_key != NULL)
		sodium_free(chain_key);
	chain_key = NULL;
}

/* Forget every cached key: some may belong to rows that rolled back. */
static void
KeysForgetCached(void)
{
	dek_cache_stale = false;
	memset(dek_slots, 0, sizeof(dek_slots));
	if (dek_bytes != NULL)
		sodium_memzero(dek_bytes, DEK_CACHE_SLOTS * BIOCRYPT_KEY_BYTES);
	if (aes_states != NULL)
		sodium_memzero(aes_states, DEK_CACHE_SLOTS * sizeof(crypto_aead_aes256gcm_state));
	memset(active_keys, 0, sizeof(active_keys));
}

/*
 * A data key's fingerprint for the cluster's list of destroyed keys: a
 * keyed hash of the key itself, so that it names the key however it is
 * wrapped (a rewrap changes the wrapped bytes) and reveals nothing of it.
 */
static void
DekFingerprint(const uint8 *dek, uint8 *out)
{
	static const char label[] = "biocrypt destroyed data key v1";

	crypto_generichash(out, FINGERPRINT_BYTES, dek, BIOCRYPT_KEY_BYTES,
					   (const uint8 *) label, sizeof(label) - 1);
}

/*
 * Did this cluster destroy the data key dek?  The list outlives the
 * database, so a copy of the ring restored from an older dump into another
 * database of the cluster cannot bring the key back.
 */
static bool
DestroyedInCluster(const uint8 *dek)
{
	uint8		fp[FINGERPRINT_BYTES];
	uint8		rec[FINGERPRINT_BYTES * 64];
	bool		found = false;
	ssize_t		n;
	int			fd = OpenTransientFile(DESTROYED_FILE, O_RDONLY | PG_BINARY);

	if (fd < 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("biocrypt: could not open \"%s\": %m", DESTROYED_FILE)));
	}
	DekFingerprint(dek, fp);
	while (!found && (n = read(fd, rec, sizeof(rec))) > 0)
		for (ssize_t i = 0; i + FINGERPRINT_BYTES <= n && !found; i += FINGERPRINT_BYTES)
			found = memcmp(rec + i, fp, FINGERPRINT_BYTES) == 0;
	CloseTransientFile(fd);
	sodium_memzero(fp, sizeof(fp));
	return found;
}

/* Append this transaction's destroyed keys to the cluster's list, durably. */
static void
WriteDestroyed(void)
{
	ListCell   *lc;
	int			fd;

	if (mkdir(DESTROYED_DIR, S_IRWXU) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("biocrypt: could not create directory \"%s\": %m", DESTROYED_DIR)));
	fd = OpenTransientFile(DESTROYED_FILE, O_WRONLY | O_APPEND | O_CREAT | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("biocrypt: could not open \"%s\": %m", DESTROYED_FILE)));
	foreach(lc, pending_destroyed)
		if (write(fd, ((PendingDestroy *) lfirst(lc))->fp, FINGERPRINT_BYTES) != FINGERPRINT_BYTES)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("biocrypt: could not write \"%s\": %m", DESTROYED_FILE)));
	if (pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("biocrypt: could not fsync \"%s\": %m", DESTROYED_FILE)));
	CloseTransientFile(fd);
	fsync_fname(DESTROYED_DIR, true);
}

/*
 * The active-key choice lasts one transaction; an abort drops all keys.
 * Keys destroyed by a committing transaction join the cluster's list just
 * before the commit record.
 */
static void
KeysXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (pending_destroyed != NIL)
				WriteDestroyed();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (pending_destroyed != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("biocrypt: cannot prepare a transaction that destroyed a data key")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			pending_destroyed = NIL;
			KeysForgetCached();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			pending_destroyed = NIL;
			memset(active_keys, 0, sizeof(active_keys));
			break;
		default:
			break;
	}
}

/* biocrypt.keys changed in another backend (destroy, rewrap): see it. */
static void
KeysRelcacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == keys_relid)
		dek_cache_stale = true;
}

/* The OID of biocrypt.keys, to invalidate other backends' key caches. */
static Oid
KeysRelid(void)
{
	keys_relid = get_relname_relid("keys", get_namespace_oid("biocrypt", false));
	return keys_relid;
}

/*
 * A subtransaction abort (savepoint, exception block) may undo a key row
 * created inside it while the transaction goes on: never seal with it.
 */
static void
KeysSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	/* a destruction rolled back with its savepoint must not reach the list */
	foreach(lc, pending_destroyed)
	{
		PendingDestroy *pd = lfirst(lc);

		if (pd->subid != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			pd->subid = parentSubid;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
			pending_destroyed = foreach_delete_current(pending_destroyed, lc);
	}
	if (event == SUBXACT_EVENT_ABORT_SUB)
		KeysForgetCached();
}

/*
 * Make key memory usable in this process: fail if the server has no key,
 * lock it (mlock is not inherited across fork) and set up the DEK cache.
 */
static void
KeysAttach(void)
{
	if (derived_keys == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: no root key is loaded"),
				 errhint("Add biocrypt to shared_preload_libraries and configure a root key, then restart the server."),
				 errhidestmt(true)));
	if (derived_keys_locked_pid == MyProcPid && dek_bytes != NULL)
		return;
	if (derived_keys_locked_pid != MyProcPid)
	{
		sodium_mlock(derived_keys, sizeof(DerivedKeys));
		if (new_keys != NULL)
			sodium_mlock(new_keys, sizeof(DerivedKeys));
		derived_keys_locked_pid = MyProcPid;
	}
	dek_bytes = sodium_malloc(DEK_CACHE_SLOTS * BIOCRYPT_KEY_BYTES);
	aes_states = sodium_malloc(DEK_CACHE_SLOTS * sizeof(crypto_aead_aes256gcm_state));
	if (dek_bytes == NULL || aes_states == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("biocrypt: could not allocate locked memory for keys"),
				 errhidestmt(true)));
	memset(dek_slots, 0, sizeof(dek_slots));
	on_proc_exit(KeysAtExit, (Datum) 0);
	if (!xact_callback_registered)
	{
		RegisterXactCallback(KeysXactCallback, NULL);
		RegisterSubXactCallback(KeysSubXactCallback, NULL);
		CacheRegisterRelcacheCallback(KeysRelcacheCallback, (Datum) 0);
		xact_callback_registered = true;
	}
}

/*
 * Become role user in a security-restricted operation with search_path
 * pinned to pg_catalog, saving what BiocryptRestoreUser restores.
 */
static void
SwitchUser(BiocryptSpi *st, Oid user)
{
	GetUserIdAndSecContext(&st->save_userid, &st->save_sec_context);
	SetUserIdAndSecContext(user, st->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	st->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/* Back to the identity and settings SwitchUser saved. */
void
BiocryptRestoreUser(BiocryptSpi *st)
{
	AtEOXact_GUC(true, st->save_nestlevel);
	SetUserIdAndSecContext(st->save_userid, st->save_sec_context);
}

/*
 * Enter the extension's own SQL (key ring, purpose grants): SPI as the
 * bootstrap superuser with a pinned search_path, whoever the caller is.
 */
void
BiocryptSpiBegin(BiocryptSpi *st)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "biocrypt: SPI_connect failed");
	SwitchUser(st, BOOTSTRAP_SUPERUSERID);
}

/* Leave the extension's SQL, restoring the caller's identity and settings. */
void
BiocryptSpiEnd(BiocryptSpi *st)
{
	BiocryptRestoreUser(st);
	SPI_finish();
}

/*
 * Run a table's maintenance (purge, erasure, re-encryption) as its owner,
 * the way VACUUM and REFRESH MATERIALIZED VIEW do: the table's triggers
 * then never run with the extension's privileges.
 */
void
BiocryptBecomeOwner(BiocryptAsOwner *st, Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "biocrypt: cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	SwitchUser(st, owner);
}

/* SQL name of a cipher id, as stored in biocrypt.keys.cipher. */
static const char *
CipherName(uint8 cipher)
{
	return cipher == ENVELOPE_CIPHER_AES256GCM ? "aes-256-gcm" :
		"xchacha20-poly1305";
}

/* Associated data binding a wrapped DEK to its id, cipher and epoch. */
static size_t
WrapAd(uint8 *ad, uint32 key_id, uint8 cipher)
{
	static const char label[] = "biocrypt dek v1";

	memcpy(ad, label, sizeof(label) - 1);
	for (int i = 0; i < 4; i++)
		ad[sizeof(label) - 1 + i] = (uint8) (key_id >> (8 * i));
	ad[sizeof(label) + 3] = cipher;
	return sizeof(label) + 4;
}

/* Find a cached DEK, or NULL. */
static const uint8 *
DekCacheLookup(uint32 key_id, uint8 cipher)
{
	/* scans read runs of one epoch: try the last hit first */
	if (dek_slots[dek_last_hit].valid && dek_slots[dek_last_hit].key_id == key_id &&
		dek_slots[dek_last_hit].cipher == cipher)
		return dek_bytes + dek_last_hit * BIOCRYPT_KEY_BYTES;
	for (int i = 0; i < DEK_CACHE_SLOTS; i++)
		if (dek_slots[i].valid && dek_slots[i].key_id == key_id &&
			dek_slots[i].cipher == cipher)
		{
			dek_last_hit = i;
			return dek_bytes + i * BIOCRYPT_KEY_BYTES;
		}
	return NULL;
}

/* Claim a cache slot for a DEK about to be unwrapped or created. */
static uint8 *
DekCacheSlot(uint32 key_id, uint8 cipher)
{
	int			slot = dek_next_victim;

	dek_next_victim = (dek_next_victim + 1) % DEK_CACHE_SLOTS;
	dek_slots[slot].key_id = key_id;
	dek_slots[slot].cipher = cipher;
	dek_slots[slot].valid = false;
	return dek_bytes + slot * BIOCRYPT_KEY_BYTES;
}

/* Mark the slot holding dek as valid. */
static void
DekCacheCommit(const uint8 *dek)
{
	int			slot = (dek - dek_bytes) / BIOCRYPT_KEY_BYTES;

	/* whatever enters the cache must leave it when another backend destroys it */
	if (!OidIsValid(keys_relid))
		(void) KeysRelid();
	/* expand an AES key once, not on every decryption */
	if (dek_slots[slot].cipher == ENVELOPE_CIPHER_AES256GCM &&
		crypto_aead_aes256gcm_is_available())
		crypto_aead_aes256gcm_beforenm(&aes_states[slot], dek);
	dek_slots[slot].valid = true;
}

/* The one error for a key ring wrapped under another root key. */
static void
RootKeyMismatch(uint32 key_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("biocrypt: the root key does not match the key ring"),
			 errdetail("Data key %u was wrapped under a different root key than the one this server loaded.", key_id),
			 errhint("Start the server with the root key that created biocrypt.keys."),
			 errhidestmt(true)));
}

/* The derived keys whose key-check value is kcv: current or next root. */
static const DerivedKeys *
WrappingKeysFor(bytea *kcv)
{
	if (VARSIZE_ANY_EXHDR(kcv) != KCV_BYTES)
		return NULL;
	if (sodium_memcmp(VARDATA_ANY(kcv), derived_keys->kcv, KCV_BYTES) == 0)
		return derived_keys;
	if (new_keys != NULL &&
		sodium_memcmp(VARDATA_ANY(kcv), new_keys->kcv, KCV_BYTES) == 0)
		return new_keys;
	return NULL;
}

/* The one error for a destroyed key, wherever the ring says otherwise. */
static void
KeyDestroyed(uint32 key_id, bool restored)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("biocrypt: data key %u has been destroyed", key_id),
			 restored ?
			 errdetail("This cluster destroyed the key; this copy of the key ring is older than that.") :
			 errdetail("Templates sealed under a destroyed key can never be decrypted again."),
			 errhidestmt(true)));
}

/*
 * Check a key row's state, cipher and key-check value before unwrapping;
 * returns the derived keys that wrapped it.
 */
static const DerivedKeys *
CheckKeyRow(uint32 key_id, uint8 cipher, const char *row_cipher,
			const char *state, bytea *kcv)
{
	const DerivedKeys *wk;

	if (strcmp(state, "destroyed") == 0)
		KeyDestroyed(key_id, false);
	if (strcmp(row_cipher, CipherName(cipher)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("biocrypt: template cipher does not match data key %u", key_id),
				 errhidestmt(true)));
	wk = WrappingKeysFor(kcv);
	if (wk == NULL)
		RootKeyMismatch(key_id);
	return wk;
}

/* Decrypt a wrapped DEK into slot (locked memory); ERROR if it is damaged. */
static void
UnwrapRaw(uint8 *slot, uint32 key_id, uint8 cipher, bytea *wrapped,
		  const DerivedKeys *wk)
{
	uint8		ad[32];
	size_t		adlen = WrapAd(ad, key_id, cipher);
	const uint8 *w = (const uint8 *) VARDATA_ANY(wrapped);

	if (VARSIZE_ANY_EXHDR(wrapped) != WRAPPED_BYTES ||
		crypto_aead_xchacha20poly1305_ietf_decrypt(slot, NULL, NULL,
												   w + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
												   WRAPPED_BYTES - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
												   ad, adlen, w, wk->wrap) != 0)
	{
		sodium_memzero(slot, BIOCRYPT_KEY_BYTES);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("biocrypt: wrapped data key %u failed authentication", key_id),
				 errdetail("The row of biocrypt.keys was altered or damaged."),
				 errhidestmt(true)));
	}
}

/* Unwrap a DEK into slot, unless this cluster has destroyed it. */
static void
UnwrapInto(uint8 *slot, uint32 key_id, uint8 cipher, bytea *wrapped,
		   const DerivedKeys *wk)
{
	UnwrapRaw(slot, key_id, cipher, wrapped, wk);
	if (DestroyedInCluster(slot))
	{
		sodium_memzero(slot, BIOCRYPT_KEY_BYTES);
		KeyDestroyed(key_id, true);
	}
}

/* Wrap dek under wk into a new wrapped value and key-check value. */
static void
WrapDek(const uint8 *dek, uint32 key_id, uint8 cipher, const DerivedKeys *wk,
		bytea **wrapped, bytea **kcv)
{
	uint8		ad[32];
	uint8	   *w;

	*wrapped = palloc(VARHDRSZ + WRAPPED_BYTES);
	*kcv = palloc(VARHDRSZ + KCV_BYTES);
	w = (uint8 *) VARDATA(*wrapped);
	randombytes_buf(w, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(w + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
											   NULL, dek, BIOCRYPT_KEY_BYTES,
											   ad, WrapAd(ad, key_id, cipher),
											   NULL, w, wk->wrap);
	SET_VARSIZE(*wrapped, VARHDRSZ + WRAPPED_BYTES);
	memcpy(VARDATA(*kcv), wk->kcv, KCV_BYTES);
	SET_VARSIZE(*kcv, VARHDRSZ + KCV_BYTES);
}

/* Read key row key_id and unwrap it into the cache. */
static const uint8 *
FetchDek(uint32 key_id, uint8 cipher)
{
	BiocryptSpi	st;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum((int32) key_id)};
	const DerivedKeys *wk;
	uint8	   *slot;
	bool		isnull;

	BiocryptSpiBegin(&st);
	(void) KeysRelid();
	if (SPI_execute_with_args("SELECT cipher, state, kcv, wrapped FROM biocrypt.keys WHERE id = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: key ring query failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("biocrypt: data key %u is not in the key ring", key_id),
				 errhint("The template was sealed in another database or cluster; copy biocrypt.keys with it (pg_dump includes it)."),
				 errhidestmt(true)));
	wk = CheckKeyRow(key_id, cipher,
					 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
					 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
					 DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 3, &isnull)));
	slot = DekCacheSlot(key_id, cipher);
	UnwrapInto(slot, key_id, cipher,
			   DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 4, &isnull)),
			   wk);
	BiocryptSpiEnd(&st);
	DekCacheCommit(slot);
	return slot;
}

/*
 * The DEK for key_id, unwrapped; errors clearly if it is missing, destroyed,
 * wrapped under another root key or damaged.
 */
const uint8 *
KeysGetDek(uint32 key_id, uint8 cipher)
{
	const uint8 *dek;

	KeysAttach();
	if (dek_cache_stale)
		KeysForgetCached();
	dek = DekCacheLookup(key_id, cipher);
	return dek != NULL ? dek : FetchDek(key_id, cipher);
}

/*
 * The expanded AES-256-GCM key (crypto_aead_aes256gcm_state) of data key
 * key_id, for crypto_aead_aes256gcm_decrypt_afternm.  The CPU must have
 * AES-NI (callers check crypto_aead_aes256gcm_is_available()).
 */
const void *
KeysGetAesState(uint32 key_id)
{
	const uint8 *dek = KeysGetDek(key_id, ENVELOPE_CIPHER_AES256GCM);

	return &aes_states[(dek - dek_bytes) / BIOCRYPT_KEY_BYTES];
}

/*
 * The audit chain's MAC key outlives root-key changes: rewrap_keys() keeps
 * the key in use, wrapped under the new root, in biocrypt.audit_key, so
 * that the rows written before the change still verify after it.  Without
 * such a row the key is the one derived from the root key.
 */
/* This server's chain id (its system identifier) as text. */
static text *
ChainIdText(void)
{
	return cstring_to_text(psprintf(UINT64_FORMAT, GetSystemIdentifier()));
}

/* Read and unwrap the stored chain key, if there is one (in SPI). */
static void
ResolveChainKey(void)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {PointerGetDatum(ChainIdText())};
	bool		isnull;
	const DerivedKeys *wk;
	uint8	   *slot;

	if (SPI_execute_with_args("SELECT kcv, wrapped FROM biocrypt.audit_key WHERE chain_id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: could not read biocrypt.audit_key");
	if (SPI_processed == 0)
		return;
	wk = WrappingKeysFor(DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull)));
	if (wk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("biocrypt: the root key does not match the key ring"),
				 errdetail("The audit chain key in biocrypt.audit_key was wrapped under a different root key than the one this server loaded."),
				 errhint("Start the server with the root key that created biocrypt.keys."),
				 errhidestmt(true)));
	slot = sodium_malloc(BIOCRYPT_KEY_BYTES);
	if (slot == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("biocrypt: could not allocate locked memory for keys")));
	UnwrapRaw(slot, 0, 0,
			  DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 2, &isnull)),
			  wk);
	chain_key = slot;
}

/* The key of the audit chain's HMAC (never leaves locked memory). */
const uint8 *
KeysAuditKey(void)
{
	KeysAttach();
	if (!chain_key_resolved)
	{
		BiocryptSpi st;

		BiocryptSpiBegin(&st);
		ResolveChainKey();
		BiocryptSpiEnd(&st);
		chain_key_resolved = true;
	}
	return chain_key != NULL ? chain_key : derived_keys->audit;
}

/* Keep the chain key in use, wrapped under root keys wk (in SPI). */
static void
StoreChainKey(const DerivedKeys *wk)
{
	Oid			argtypes[3] = {TEXTOID, BYTEAOID, BYTEAOID};
	Datum		args[3];
	bytea	   *wrapped;
	bytea	   *kcv;

	WrapDek(KeysAuditKey(), 0, 0, wk, &wrapped, &kcv);
	args[0] = PointerGetDatum(ChainIdText());
	args[1] = PointerGetDatum(wrapped);
	args[2] = PointerGetDatum(kcv);
	if (SPI_execute_with_args("INSERT INTO biocrypt.audit_key (chain_id, wrapped, kcv) "
							  "VALUES ($1, $2, $3) ON CONFLICT (chain_id) DO UPDATE "
							  "SET wrapped = excluded.wrapped, kcv = excluded.kcv, "
							  "stored_at = excluded.stored_at",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "biocrypt: could not write biocrypt.audit_key");
}

/*
 * For the audit worker, before it writes (in SPI): ERROR unless the root
 * key matches the key ring, i.e. the stored chain key and every live data
 * key were wrapped under it (or under the next root key).  Returns whether
 * the chain key is stored; if not, the caller must check the chain's head
 * with KeysAuditKey() before KeysStoreChainKey() records it.
 */
bool
KeysCheckRing(void)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {PointerGetDatum(ChainIdText())};

	(void) KeysAuditKey();		/* checks a stored chain key's kcv */
	CheckRingRootKey();
	if (SPI_execute_with_args("SELECT 1 FROM biocrypt.audit_key WHERE chain_id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: could not read biocrypt.audit_key");
	return SPI_processed > 0;
}

/*
 * Store the chain key wrapped under the current root key (in SPI), so
 * that a server started with another root key is refused by key-check
 * value before it writes a row.
 */
void
KeysStoreChainKey(void)
{
	KeysAttach();
	StoreChainKey(derived_keys);
}

/* The key of the probe hashes recorded in the audit. */
const uint8 *
KeysAuditProbeKey(void)
{
	KeysAttach();
	return derived_keys->audit_probe;
}

/* The retention epoch of an expiry: the first day of its UTC month. */
static DateADT
EpochOf(TimestampTz expires)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(expires, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("biocrypt: expiry is out of range"),
				 errhidestmt(true)));
	return date2j(tm.tm_year, tm.tm_mon, 1) - POSTGRES_EPOCH_JDATE;
}

/* Look up the active key of an epoch in the ring; false if none. */
static bool
FindActiveKey(ActiveKey *ak)
{
	Oid			argtypes[2] = {DATEOID, TEXTOID};
	Datum		args[2] = {DateADTGetDatum(ak->epoch),
	CStringGetTextDatum(CipherName(ak->cipher))};
	bool		isnull;

	if (SPI_execute_with_args("SELECT id, counter_base FROM biocrypt.keys "
							  "WHERE epoch = $1 AND cipher = $2 AND state = 'active'",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: key ring query failed");
	if (SPI_processed == 0)
		return false;
	ak->key_id = (uint32) DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1, &isnull));
	ak->counter_base = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2, &isnull));
	return true;
}

/* Retire an exhausted key so that a fresh one can become active. */
static void
RetireKey(uint32 key_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum((int32) key_id)};

	if (SPI_execute_with_args("UPDATE biocrypt.keys SET state = 'retired', retired_at = now() "
							  "WHERE id = $1 AND state = 'active'",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "biocrypt: key ring update failed");
}

/* Create, wrap and insert a new active DEK; false if another won the race. */
static bool
CreateKey(ActiveKey *ak, int64 counter)
{
	Oid			argtypes[6] = {INT4OID, DATEOID, TEXTOID, BYTEAOID, BYTEAOID, INT8OID};
	Datum		args[6];
	bytea	   *wrapped;
	bytea	   *kcv;
	uint32		key_id;
	uint8	   *dek;
	bool		isnull;

	if (SPI_execute("SELECT nextval('biocrypt.keys_id_seq')::int4", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: key id allocation failed");
	key_id = (uint32) DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	dek = DekCacheSlot(key_id, ak->cipher);
	randombytes_buf(dek, BIOCRYPT_KEY_BYTES);
	/* while a new root key is configured, new keys go straight under it */
	WrapDek(dek, key_id, ak->cipher, new_keys != NULL ? new_keys : derived_keys,
			&wrapped, &kcv);

	args[0] = Int32GetDatum((int32) key_id);
	args[1] = DateADTGetDatum(ak->epoch);
	args[2] = CStringGetTextDatum(CipherName(ak->cipher));
	args[3] = PointerGetDatum(wrapped);
	args[4] = PointerGetDatum(kcv);
	args[5] = Int64GetDatum(counter);
	if (SPI_execute_with_args("INSERT INTO biocrypt.keys (id, epoch, cipher, wrapped, kcv, counter_base) "
							  "VALUES ($1, $2, $3, $4, $5, $6) "
							  "ON CONFLICT (epoch, cipher) WHERE state = 'active' DO NOTHING",
							  6, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "biocrypt: key ring insert failed");
	if (SPI_processed == 0)
		return false;
	DekCacheCommit(dek);
	ak->key_id = key_id;
	ak->counter_base = counter;
	return true;
}

/*
 * Refuse to add a key to a ring wrapped under another root key: a server
 * started with the wrong key must not split the ring between two roots.
 */
static void
CheckRingRootKey(void)
{
	Oid			argtypes[2] = {BYTEAOID, BYTEAOID};
	Datum		args[2];
	bytea	   *kcv = palloc(VARHDRSZ + KCV_BYTES);
	bytea	   *next_kcv = palloc(VARHDRSZ + KCV_BYTES);

	memcpy(VARDATA(kcv), derived_keys->kcv, KCV_BYTES);
	SET_VARSIZE(kcv, VARHDRSZ + KCV_BYTES);
	memcpy(VARDATA(next_kcv), new_keys != NULL ? new_keys->kcv : derived_keys->kcv,
		   KCV_BYTES);
	SET_VARSIZE(next_kcv, VARHDRSZ + KCV_BYTES);
	args[0] = PointerGetDatum(kcv);
	args[1] = PointerGetDatum(next_kcv);
	if (SPI_execute_with_args("SELECT id FROM biocrypt.keys WHERE state <> 'destroyed' "
							  "AND kcv <> $1 AND kcv <> $2 LIMIT 1",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: key ring query failed");
	if (SPI_processed > 0)
	{
		bool		isnull;
		int32		key_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull));

		RootKeyMismatch((uint32) key_id);
	}
}

/* Find or create the active key of ak's epoch and cipher. */
static void
ResolveActiveKey(ActiveKey *ak, int64 counter)
{
	BiocryptSpi	st;

	BiocryptSpiBegin(&st);
	for (int attempt = 0; attempt < 3; attempt++)
	{
		if (FindActiveKey(ak))
		{
			if (counter - ak->counter_base <= biocrypt_max_encryptions_per_key)
				break;
			RetireKey(ak->key_id);
		}
		CheckRingRootKey();
		if (CreateKey(ak, counter))
			break;
		/* a concurrent transaction created the key: read it on the next try */
		CommandCounterIncrement();
		if (attempt == 2)
			elog(ERROR, "biocrypt: could not settle the active data key");
	}
	BiocryptSpiEnd(&st);
	ak->valid = true;
}

/* Draw the next value of the encryption counter (never rolled back). */
static int64
NextEncryptionCount(void)
{
	Oid			nsp = get_namespace_oid("biocrypt", false);
	Oid			seq = get_relname_relid("encryption_counter", nsp);

	if (!OidIsValid(seq))
		elog(ERROR, "biocrypt: sequence biocrypt.encryption_counter is missing");
	return nextval_internal(seq, false);
}

/*
 * The DEK to seal a new template expiring at expires, with its key id.
 * Creates the epoch's key, or rolls it over once it has sealed
 * biocrypt.max_encryptions_per_key templates.
 */
const uint8 *
KeysActiveDek(TimestampTz expires, uint8 cipher, uint32 *key_id)
{
	DateADT		epoch = EpochOf(expires);
	int64		counter;
	ActiveKey  *ak = NULL;
	const uint8 *dek;

	uint32		id;

	KeysAttach();
	if (dek_cache_stale)
		KeysForgetCached();
	counter = NextEncryptionCount();
	for (int i = 0; i < ACTIVE_CACHE_SLOTS; i++)
		if (active_keys[i].valid && active_keys[i].epoch == epoch &&
			active_keys[i].cipher == cipher)
			ak = &active_keys[i];
	if (ak == NULL || counter - ak->counter_base > biocrypt_max_encryptions_per_key)
	{
		if (ak == NULL)
		{
			ak = &active_keys[epoch % ACTIVE_CACHE_SLOTS];
			ak->epoch = epoch;
			ak->cipher = cipher;
		}
		ak->valid = false;
		ResolveActiveKey(ak, counter);
	}
	/* KeysGetDek may drop the caches, ak included: keep the id first */
	id = ak->key_id;
	dek = KeysGetDek(id, cipher);
	*key_id = id;
	return dek;
}

/* Cipher id of a cipher name from biocrypt.keys. */
static uint8
CipherId(const char *name)
{
	return strcmp(name, "aes-256-gcm") == 0 ? ENVELOPE_CIPHER_AES256GCM :
		ENVELOPE_CIPHER_XCHACHA20;
}

/* Every backend drops its cached keys at its next key lookup. */
static void
InvalidateKeyCaches(void)
{
	CacheInvalidateRelcacheByRelid(KeysRelid());
	dek_cache_stale = true;
}

/* Record a key-ring event: [{"action": ..., "key_id": ..., ...}]. */
static void
RecordKeyEvent(AuditOperation op, int64 count, const char *json)
{
	AuditRecordEventJson(op, KeysRelid(), NULL, count, json);
}

/*
 * Crypto-shred data key key_id: erase its wrapped form from the ring and
 * add its fingerprint to the cluster's list of destroyed keys at commit.
 * Returns false if it was already destroyed.
 */
bool
KeysDestroy(uint32 key_id)
{
	BiocryptSpi st;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum((int32) key_id)};
	HeapTuple	tup;
	bool		isnull;
	char	   *epoch;
	MemoryContext old;
	PendingDestroy *pd;
	const DerivedKeys *wk;
	SecBuf	   *dek;

	KeysAttach();
	BiocryptSpiBegin(&st);
	if (SPI_execute_with_args("SELECT state, wrapped, epoch::text, cipher, kcv FROM biocrypt.keys "
							  "WHERE id = $1 FOR UPDATE",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: key ring query failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("biocrypt: data key %u is not in the key ring", key_id)));
	tup = SPI_tuptable->vals[0];
	if (strcmp(SPI_getvalue(tup, SPI_tuptable->tupdesc, 1), "destroyed") == 0)
	{
		BiocryptSpiEnd(&st);
		return false;
	}
	wk = WrappingKeysFor(DatumGetByteaPP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 5, &isnull)));
	if (wk == NULL)
		RootKeyMismatch(key_id);
	dek = SecmemAcquire(BIOCRYPT_KEY_BYTES);
	UnwrapRaw(dek->data, key_id, CipherId(SPI_getvalue(tup, SPI_tuptable->tupdesc, 4)),
			  DatumGetByteaPP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull)), wk);
	old = MemoryContextSwitchTo(TopTransactionContext);
	pd = palloc(sizeof(PendingDestroy));
	pd->subid = GetCurrentSubTransactionId();
	DekFingerprint(dek->data, pd->fp);
	pending_destroyed = lappend(pending_destroyed, pd);
	MemoryContextSwitchTo(old);
	SecmemRelease(dek);
	epoch = SPI_getvalue(tup, SPI_tuptable->tupdesc, 3);
	if (SPI_execute_with_args("UPDATE biocrypt.keys SET state = 'destroyed', wrapped = NULL, "
							  "destroyed_at = pg_catalog.now() WHERE id = $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "biocrypt: key ring update failed");
	BiocryptSpiEnd(&st);
	InvalidateKeyCaches();
	RecordKeyEvent(AUDIT_OP_DESTROY, 0,
				   psprintf("[{\"key_id\": %u, \"epoch\": \"%s\"}]", key_id, epoch));
	return true;
}

/* The body of destroy_key(). */
static Datum
DestroyKeyRequest(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);

	if (id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("biocrypt: data key %d is not in the key ring", id)));
	PG_RETURN_BOOL(KeysDestroy((uint32) id));
}

PG_FUNCTION_INFO_V1(biocrypt_destroy_key);
/* destroy_key(id): true if destroyed now, false if it already was */
Datum
biocrypt_destroy_key(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_DESTROY, DestroyKeyRequest);
}

/* The body of rotate_key(). */
static Datum
RotateKeyRequest(PG_FUNCTION_ARGS)
{
	BiocryptSpi st;
	int32		retired;

	KeysAttach();
	BiocryptSpiBegin(&st);
	if (SPI_execute("UPDATE biocrypt.keys SET state = 'retired', retired_at = pg_catalog.now() "
					"WHERE state = 'active'", false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "biocrypt: key ring update failed");
	retired = (int32) SPI_processed;
	BiocryptSpiEnd(&st);
	memset(active_keys, 0, sizeof(active_keys));
	RecordKeyEvent(AUDIT_OP_ROTATE, retired,
				   psprintf("[{\"action\": \"rotate_key\", \"keys\": %d}]", retired));
	PG_RETURN_INT32(retired);
}

PG_FUNCTION_INFO_V1(biocrypt_rotate_key);
/* rotate_key(): retire every active key; new templates get fresh keys */
Datum
biocrypt_rotate_key(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_ROTATE, RotateKeyRequest);
}

/*
 * Rewrap one key row under the new root key (in SPI); false, changing
 * nothing, if this cluster has destroyed that key.
 */
static bool
RewrapRow(HeapTuple tup, TupleDesc td, const DerivedKeys *wk)
{
	bool		isnull;
	uint32		key_id = (uint32) DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
	uint8		cipher = CipherId(SPI_getvalue(tup, td, 2));
	bytea	   *wrapped = DatumGetByteaPP(SPI_getbinval(tup, td, 4, &isnull));
	SecBuf	   *dek = SecmemAcquire(BIOCRYPT_KEY_BYTES);
	Oid			argtypes[3] = {INT4OID, BYTEAOID, BYTEAOID};
	Datum		args[3];
	bytea	   *new_wrapped;
	bytea	   *new_kcv;

	UnwrapRaw(dek->data, key_id, cipher, wrapped, wk);
	if (DestroyedInCluster(dek->data))
	{
		SecmemRelease(dek);
		return false;
	}
	WrapDek(dek->data, key_id, cipher, new_keys, &new_wrapped, &new_kcv);
	SecmemRelease(dek);
	args[0] = Int32GetDatum((int32) key_id);
	args[1] = PointerGetDatum(new_wrapped);
	args[2] = PointerGetDatum(new_kcv);
	if (SPI_execute_with_args("UPDATE biocrypt.keys SET wrapped = $2, kcv = $3 WHERE id = $1",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "biocrypt: key ring update failed");
	return true;
}

/* The body of rewrap_keys(). */
static Datum
RewrapKeysRequest(PG_FUNCTION_ARGS)
{
	BiocryptSpi st;
	SPITupleTable *keys;
	uint64		nkeys;
	int32		rewrapped = 0;

	KeysAttach();
	if (new_keys == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: no new root key is configured"),
				 errhint("Set biocrypt.new_root_key_file or biocrypt.new_root_key_command and restart the server.")));
	BiocryptSpiBegin(&st);
	if (SPI_execute("SELECT id, cipher, kcv, wrapped FROM biocrypt.keys "
					"WHERE state <> 'destroyed' ORDER BY id FOR UPDATE",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: key ring query failed");
	keys = SPI_tuptable;
	nkeys = SPI_processed;
	for (uint64 i = 0; i < nkeys; i++)
	{
		bool		isnull;
		bytea	   *kcv = DatumGetByteaPP(SPI_getbinval(keys->vals[i], keys->tupdesc, 3, &isnull));
		const DerivedKeys *wk = WrappingKeysFor(kcv);

		if (wk == new_keys)
			continue;			/* done by an earlier run */
		if (wk == NULL)
			RootKeyMismatch((uint32) DatumGetInt32(SPI_getbinval(keys->vals[i],
																 keys->tupdesc, 1,
																 &isnull)));
		if (RewrapRow(keys->vals[i], keys->tupdesc, wk))
			rewrapped++;
		else
		{
			/* restored from before this cluster destroyed it: finish the job */
			(void) KeysDestroy((uint32) DatumGetInt32(SPI_getbinval(keys->vals[i],
																	keys->tupdesc, 1,
																	&isnull)));
		}
	}
	StoreChainKey(new_keys);
	BiocryptSpiEnd(&st);
	InvalidateKeyCaches();
	RecordKeyEvent(AUDIT_OP_ROTATE, rewrapped,
				   psprintf("[{\"action\": \"rewrap_keys\", \"keys\": %d}]", rewrapped));
	PG_RETURN_INT32(rewrapped);
}

PG_FUNCTION_INFO_V1(biocrypt_rewrap_keys);
/* rewrap_keys(): wrap every data key under the new root key */
Datum
biocrypt_rewrap_keys(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_ROTATE, RewrapKeysRequest);
}

/* The cipher for new templates: biocrypt.cipher, auto = fastest here. */
uint8
KeysNewTemplateCipher(void)
{
	bool		aes = crypto_aead_aes256gcm_is_available() != 0;

	switch (biocrypt_cipher)
	{
		case CIPHER_CHOICE_AES256GCM:
			if (!aes)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("biocrypt: AES-256-GCM is not available on this CPU"),
						 errhint("Set biocrypt.cipher to xchacha20-poly1305 or auto."),
						 errhidestmt(true)));
			return ENVELOPE_CIPHER_AES256GCM;
		case CIPHER_CHOICE_XCHACHA20:
			return ENVELOPE_CIPHER_XCHACHA20;
		default:
			return aes ? ENVELOPE_CIPHER_AES256GCM : ENVELOPE_CIPHER_XCHACHA20;
	}
}

/* True when this process holds key material (preloaded with a key). */
bool
KeysRootKeyLoaded(void)
{
	return derived_keys != NULL;
}

/* Define the key GUCs and, while preloading, load the root key. */
void
KeysInit(void)
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
	DefineCustomEnumVariable("biocrypt.cipher",
							 "AEAD cipher for new templates.",
							 "auto uses AES-256-GCM where the CPU accelerates it, else XChaCha20-Poly1305.",
							 &biocrypt_cipher, CIPHER_CHOICE_AUTO, cipher_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("biocrypt.max_encryptions_per_key",
							"Encryptions after which a data key is retired for a fresh one.",
							NULL, &biocrypt_max_encryptions_per_key, 1 << 30,
							1, INT_MAX, PGC_SUSET, 0, NULL, NULL, NULL);

	if (process_shared_preload_libraries_in_progress)
	{
		LoadRootKey();
		on_proc_exit(KeysAtExit, (Datum) 0);
	}
}
