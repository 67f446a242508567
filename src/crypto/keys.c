/*-------------------------------------------------------------------------
 *
 * keys.c
 *		The data-key ring: data keys wrapped under the root key, unwrapped
 *		into a per-backend cache of locked memory.
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

#include "core/core.h"
#include "crypto/keys_internal.h"

#define WRAPPED_BYTES		(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + \
							 BIOCRYPT_KEY_BYTES + \
							 crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define DEK_CACHE_SLOTS		64
#define ACTIVE_CACHE_SLOTS	8

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

static int	biocrypt_cipher = CIPHER_CHOICE_AUTO;
static int	biocrypt_max_encryptions_per_key = 1 << 30;



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
			DestroyedPreCommit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			DestroyedPrePrepare();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			DestroyedForget();
			KeysForgetCached();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			DestroyedForget();
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
	keys_relid = BiocryptRelid("keys");
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
	DestroyedSubXact(event, mySubid, parentSubid);
	if (event == SUBXACT_EVENT_ABORT_SUB)
		KeysForgetCached();
}

/*
 * Make key memory usable in this process: fail if the server has no key,
 * lock it (mlock is not inherited across fork) and set up the DEK cache.
 */
void
KeysAttach(void)
{
	RootKeyAttach();
	if (dek_bytes != NULL)
		return;
	dek_bytes = sodium_malloc(DEK_CACHE_SLOTS * BIOCRYPT_KEY_BYTES);
	aes_states = sodium_malloc(DEK_CACHE_SLOTS * sizeof(crypto_aead_aes256gcm_state));
	if (dek_bytes == NULL || aes_states == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("biocrypt: could not allocate locked memory for keys"),
				 errhidestmt(true), errhidecontext(true)));
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
void
RootKeyMismatch(uint32 key_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIG_FILE_ERROR),
			 errmsg("biocrypt: the root key does not match the key ring"),
			 errdetail("Data key %u was wrapped under a different root key than the one this server loaded.", key_id),
			 errhint("Start the server with the root key that created biocrypt.keys."),
			 errhidestmt(true), errhidecontext(true)));
}

/* The derived keys whose key-check value is kcv: current or next root. */
const DerivedKeys *
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
			 errhidestmt(true), errhidecontext(true)));
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
				 errhidestmt(true), errhidecontext(true)));
	wk = WrappingKeysFor(kcv);
	if (wk == NULL)
		RootKeyMismatch(key_id);
	return wk;
}

/* Decrypt a wrapped DEK into slot (locked memory); ERROR if it is damaged. */
void
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
				 errhidestmt(true), errhidecontext(true)));
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
void
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
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring query failed"),
				 errhidestmt(true), errhidecontext(true)));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("biocrypt: data key %u is not in the key ring", key_id),
				 errhint("The template was sealed in another database or cluster; copy biocrypt.keys with it (pg_dump includes it)."),
				 errhidestmt(true), errhidecontext(true)));
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
				 errhidestmt(true), errhidecontext(true)));
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
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring query failed"),
				 errhidestmt(true), errhidecontext(true)));
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
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring update failed"),
				 errhidestmt(true), errhidecontext(true)));
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
		ereport(ERROR,
				(errmsg_internal("biocrypt: key id allocation failed"),
				 errhidestmt(true), errhidecontext(true)));
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
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring insert failed"),
				 errhidestmt(true), errhidecontext(true)));
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
void
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
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring query failed"),
				 errhidestmt(true), errhidecontext(true)));
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
			ereport(ERROR,
					(errmsg_internal("biocrypt: could not settle the active data key"),
					 errhidestmt(true), errhidecontext(true)));
	}
	BiocryptSpiEnd(&st);
	ak->valid = true;
}

/* Draw the next value of the encryption counter (never rolled back). */
static int64
NextEncryptionCount(void)
{
	Oid			nsp = BiocryptSchemaOid();
	Oid			seq = get_relname_relid("encryption_counter", nsp);

	if (!OidIsValid(seq))
		ereport(ERROR,
				(errmsg_internal("biocrypt: sequence biocrypt.encryption_counter is missing"),
				 errhidestmt(true), errhidecontext(true)));
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
uint8
CipherId(const char *name)
{
	return strcmp(name, "aes-256-gcm") == 0 ? ENVELOPE_CIPHER_AES256GCM :
		ENVELOPE_CIPHER_XCHACHA20;
}

/* Every backend drops its cached keys at its next key lookup. */
void
InvalidateKeyCaches(void)
{
	CacheInvalidateRelcacheByRelid(KeysRelid());
	dek_cache_stale = true;
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
						 errhidestmt(true), errhidecontext(true)));
			return ENVELOPE_CIPHER_AES256GCM;
		case CIPHER_CHOICE_XCHACHA20:
			return ENVELOPE_CIPHER_XCHACHA20;
		default:
			return aes ? ENVELOPE_CIPHER_AES256GCM : ENVELOPE_CIPHER_XCHACHA20;
	}
}

/* Define the key GUCs and, while preloading, load the root key. */
void
KeysInit(void)
{
	RootKeyInit();
	DestroyedRegisterRmgr();
	DefineCustomEnumVariable("biocrypt.cipher",
							 "AEAD cipher for new templates.",
							 "auto uses AES-256-GCM where the CPU accelerates it, else XChaCha20-Poly1305.",
							 &biocrypt_cipher, CIPHER_CHOICE_AUTO, cipher_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("biocrypt.max_encryptions_per_key",
							"Encryptions after which a data key is retired for a fresh one.",
							NULL, &biocrypt_max_encryptions_per_key, 1 << 30,
							1, INT_MAX, PGC_SUSET, 0, NULL, NULL, NULL);

}

/*
 * Retire every active data key: templates sealed from now on get fresh
 * keys.  Returns how many were retired.
 */
int32
KeysRetireActive(void)
{
	BiocryptSpi st;
	int32		retired;

	KeysAttach();
	BiocryptSpiBegin(&st);
	if (SPI_execute("UPDATE biocrypt.keys SET state = 'retired', retired_at = pg_catalog.now() "
					"WHERE state = 'active'", false, 0) != SPI_OK_UPDATE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring update failed"),
				 errhidestmt(true), errhidecontext(true)));
	retired = (int32) SPI_processed;
	BiocryptSpiEnd(&st);
	memset(active_keys, 0, sizeof(active_keys));
	return retired;
}
