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
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

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

static DerivedKeys *derived_keys = NULL;
static pid_t derived_keys_locked_pid = 0;

static uint8 *dek_bytes = NULL;	/* DEK_CACHE_SLOTS keys, locked */
/* AES-GCM key schedules of the cached AES keys, expanded once, locked */
static crypto_aead_aes256gcm_state *aes_states = NULL;
static int	dek_last_hit = 0;
static DekSlot dek_slots[DEK_CACHE_SLOTS];
static int	dek_next_victim = 0;
static ActiveKey active_keys[ACTIVE_CACHE_SLOTS];
static bool xact_callback_registered = false;

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
ReadRootKeyFile(const char *path, uint8 *root)
{
	char		text[160];
	struct stat st;
	ssize_t		n;
	int			fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		RootKeyFatal("biocrypt: could not open biocrypt.root_key_file \"%s\": %m",
					 path);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		RootKeyFatal("biocrypt: biocrypt.root_key_file \"%s\" is not a regular file",
					 path);
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		RootKeyFatal("biocrypt: biocrypt.root_key_file \"%s\" has group or world access",
					 path);
	}
	n = read(fd, text, sizeof(text));
	close(fd);
	/* a full buffer means more text than a key: refuse, never truncate */
	if (n < 0 || n == sizeof(text) || !ParseRootKeyHex(text, (size_t) n, root))
	{
		sodium_memzero(text, sizeof(text));
		RootKeyFatal("biocrypt: biocrypt.root_key_file \"%s\" does not hold 64 hexadecimal digits",
					 path);
	}
	sodium_memzero(text, sizeof(text));
}

/* Run biocrypt.root_key_command and read the key from its output. */
static void
ReadRootKeyCommand(const char *command, uint8 *root)
{
	char		text[160];
	size_t		n;
	int			rc;
	bool		too_long = false;
	FILE	   *pipe;

	fflush(NULL);
	pipe = popen(command, "r");
	if (pipe == NULL)
		RootKeyFatal("biocrypt: could not run biocrypt.root_key_command: %m");
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
		RootKeyFatal("biocrypt: biocrypt.root_key_command failed: %s",
					 wait_result_to_str(rc));
	}
	if (too_long || n == sizeof(text) || !ParseRootKeyHex(text, n, root))
	{
		sodium_memzero(text, sizeof(text));
		RootKeyFatal("biocrypt: biocrypt.root_key_command did not print 64 hexadecimal digits");
	}
	sodium_memzero(text, sizeof(text));
}

/* Derive the purpose keys from the root key into locked memory. */
static void
DeriveKeys(const uint8 *root)
{
	static const char kcv_msg[] = "biocrypt key check v1";

	derived_keys = sodium_malloc(sizeof(DerivedKeys));
	if (derived_keys == NULL)
		RootKeyFatal("biocrypt: could not allocate locked memory for keys");
	crypto_kdf_derive_from_key(derived_keys->wrap, BIOCRYPT_KEY_BYTES, 1,
							   KDF_CTX_TEMPLATES, root);
	crypto_kdf_derive_from_key(derived_keys->audit, BIOCRYPT_KEY_BYTES, 1,
							   KDF_CTX_AUDIT, root);
	crypto_kdf_derive_from_key(derived_keys->audit_probe, BIOCRYPT_KEY_BYTES, 2,
							   KDF_CTX_AUDIT, root);
	crypto_kdf_derive_from_key(derived_keys->sealed_seed, BIOCRYPT_KEY_BYTES, 1,
							   KDF_CTX_SEALED, root);
	crypto_generichash(derived_keys->kcv, KCV_BYTES,
					   (const unsigned char *) kcv_msg, sizeof(kcv_msg) - 1,
					   derived_keys->wrap, BIOCRYPT_KEY_BYTES);
	sodium_mprotect_readonly(derived_keys);
	derived_keys_locked_pid = getpid();
}

/* Load the root key in the postmaster; any problem stops the server. */
static void
LoadRootKey(void)
{
	uint8		root[BIOCRYPT_KEY_BYTES];
	bool		have_file = biocrypt_root_key_file && biocrypt_root_key_file[0];
	bool		have_command = biocrypt_root_key_command &&
		biocrypt_root_key_command[0];

	if (have_file && have_command)
		RootKeyFatal("biocrypt: both biocrypt.root_key_file and biocrypt.root_key_command are set");
	if (!have_file && !have_command)
		RootKeyFatal("biocrypt: no root key configured: set biocrypt.root_key_file or biocrypt.root_key_command");
	sodium_mlock(root, sizeof(root));
	if (have_file)
		ReadRootKeyFile(biocrypt_root_key_file, root);
	else
		ReadRootKeyCommand(biocrypt_root_key_command, root);
	DeriveKeys(root);
	sodium_munlock(root, sizeof(root)); /* zeroes it too */
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
}

/* Forget every cached key: some may belong to rows that rolled back. */
static void
KeysForgetCached(void)
{
	memset(dek_slots, 0, sizeof(dek_slots));
	if (dek_bytes != NULL)
		sodium_memzero(dek_bytes, DEK_CACHE_SLOTS * BIOCRYPT_KEY_BYTES);
	if (aes_states != NULL)
		sodium_memzero(aes_states, DEK_CACHE_SLOTS * sizeof(crypto_aead_aes256gcm_state));
	memset(active_keys, 0, sizeof(active_keys));
}

/* The active-key choice lasts one transaction; an abort drops all keys. */
static void
KeysXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			KeysForgetCached();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			memset(active_keys, 0, sizeof(active_keys));
			break;
		default:
			break;
	}
}

/*
 * A subtransaction abort (savepoint, exception block) may undo a key row
 * created inside it while the transaction goes on: never seal with it.
 */
static void
KeysSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
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
		xact_callback_registered = true;
	}
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
	GetUserIdAndSecContext(&st->save_userid, &st->save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   st->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	st->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/* Leave the extension's SQL, restoring the caller's identity and settings. */
void
BiocryptSpiEnd(BiocryptSpi *st)
{
	AtEOXact_GUC(true, st->save_nestlevel);
	SetUserIdAndSecContext(st->save_userid, st->save_sec_context);
	SPI_finish();
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

/* Check a key row's state, cipher and key-check value before unwrapping. */
static void
CheckKeyRow(uint32 key_id, uint8 cipher, const char *row_cipher,
			const char *state, bytea *kcv)
{
	if (strcmp(state, "destroyed") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: data key %u has been destroyed", key_id),
				 errdetail("Templates sealed under a destroyed key can never be decrypted again."),
				 errhidestmt(true)));
	if (strcmp(row_cipher, CipherName(cipher)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("biocrypt: template cipher does not match data key %u", key_id),
				 errhidestmt(true)));
	if (VARSIZE_ANY_EXHDR(kcv) != KCV_BYTES ||
		sodium_memcmp(VARDATA_ANY(kcv), derived_keys->kcv, KCV_BYTES) != 0)
		RootKeyMismatch(key_id);
}

/* Unwrap a DEK fetched from the ring into a cache slot. */
static void
UnwrapInto(uint8 *slot, uint32 key_id, uint8 cipher, bytea *wrapped)
{
	uint8		ad[32];
	size_t		adlen = WrapAd(ad, key_id, cipher);
	const uint8 *w = (const uint8 *) VARDATA_ANY(wrapped);

	if (VARSIZE_ANY_EXHDR(wrapped) != WRAPPED_BYTES ||
		crypto_aead_xchacha20poly1305_ietf_decrypt(slot, NULL, NULL,
												   w + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
												   WRAPPED_BYTES - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
												   ad, adlen, w,
												   derived_keys->wrap) != 0)
	{
		sodium_memzero(slot, BIOCRYPT_KEY_BYTES);
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("biocrypt: wrapped data key %u failed authentication", key_id),
				 errdetail("The row of biocrypt.keys was altered or damaged."),
				 errhidestmt(true)));
	}
}

/* Read key row key_id and unwrap it into the cache. */
static const uint8 *
FetchDek(uint32 key_id, uint8 cipher)
{
	BiocryptSpi	st;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum((int32) key_id)};
	uint8	   *slot;
	bool		isnull;

	BiocryptSpiBegin(&st);
	if (SPI_execute_with_args("SELECT cipher, state, kcv, wrapped FROM biocrypt.keys WHERE id = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: key ring query failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("biocrypt: data key %u is not in the key ring", key_id),
				 errhint("The template was sealed in another database or cluster; copy biocrypt.keys with it (pg_dump includes it)."),
				 errhidestmt(true)));
	CheckKeyRow(key_id, cipher,
				SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
				SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
				DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 3, &isnull)));
	slot = DekCacheSlot(key_id, cipher);
	UnwrapInto(slot, key_id, cipher,
			   DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 4, &isnull)));
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

/* The key of the audit chain's HMAC (never leaves locked memory). */
const uint8 *
KeysAuditKey(void)
{
	KeysAttach();
	return derived_keys->audit;
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
	bytea	   *wrapped = palloc(VARHDRSZ + WRAPPED_BYTES);
	bytea	   *kcv = palloc(VARHDRSZ + KCV_BYTES);
	uint8	   *w = (uint8 *) VARDATA(wrapped);
	uint8		ad[32];
	uint32		key_id;
	uint8	   *dek;
	bool		isnull;

	if (SPI_execute("SELECT nextval('biocrypt.keys_id_seq')::int4", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "biocrypt: key id allocation failed");
	key_id = (uint32) DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	dek = DekCacheSlot(key_id, ak->cipher);
	randombytes_buf(dek, BIOCRYPT_KEY_BYTES);
	randombytes_buf(w, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(w + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
											   NULL, dek, BIOCRYPT_KEY_BYTES,
											   ad, WrapAd(ad, key_id, ak->cipher),
											   NULL, w, derived_keys->wrap);
	SET_VARSIZE(wrapped, VARHDRSZ + WRAPPED_BYTES);
	memcpy(VARDATA(kcv), derived_keys->kcv, KCV_BYTES);
	SET_VARSIZE(kcv, VARHDRSZ + KCV_BYTES);

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
	Oid			argtypes[1] = {BYTEAOID};
	Datum		args[1];
	bytea	   *kcv = palloc(VARHDRSZ + KCV_BYTES);

	memcpy(VARDATA(kcv), derived_keys->kcv, KCV_BYTES);
	SET_VARSIZE(kcv, VARHDRSZ + KCV_BYTES);
	args[0] = PointerGetDatum(kcv);
	if (SPI_execute_with_args("SELECT id FROM biocrypt.keys WHERE kcv <> $1 LIMIT 1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
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

	KeysAttach();
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
	dek = KeysGetDek(ak->key_id, cipher);
	*key_id = ak->key_id;
	return dek;
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
