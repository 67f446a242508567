/*-------------------------------------------------------------------------
 *
 * chainkey.c
 *		The keys of the audit: the chain's HMAC key and the probe-hash key.
 *
 * The chain key is derived from the first root key and then kept, wrapped
 * under the current root key in biocrypt.audit_key, so that the chain's
 * MACs stay verifiable across root-key changes, and so that a server
 * started with another root key is refused (by key-check value) before it
 * writes a row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/ipc.h"
#include "utils/builtins.h"

#include "core/core.h"
#include "crypto/keys_internal.h"

#define KDF_CTX_ERASED		"bcerased"	/* hashes of erased subjects */

static uint8 *chain_key = NULL;	/* audit chain key kept across roots, locked */
static bool chain_key_resolved = false;

/* Zero the chain key when the process exits. */
static void
ChainKeyAtExit(int code, Datum arg)
{
	if (chain_key != NULL)
		sodium_free(chain_key);
	chain_key = NULL;
}

/* Read and unwrap the stored chain key, if there is one (in SPI). */
static void
ResolveChainKey(void)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(BiocryptChainId())};
	bool		isnull;
	const DerivedKeys *wk;
	uint8	   *slot;

	if (SPI_execute_with_args("SELECT kcv, wrapped FROM biocrypt.audit_key WHERE chain_id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read biocrypt.audit_key"),
				 errhidestmt(true), errhidecontext(true)));
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
				 errhidestmt(true), errhidecontext(true)));
	slot = sodium_malloc(BIOCRYPT_KEY_BYTES);
	if (slot == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("biocrypt: could not allocate locked memory for keys"),
				 errhidestmt(true), errhidecontext(true)));
	UnwrapRaw(slot, 0, 0,
			  DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 2, &isnull)),
			  wk);
	chain_key = slot;
	on_proc_exit(ChainKeyAtExit, (Datum) 0);
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
void
StoreChainKey(const DerivedKeys *wk)
{
	Oid			argtypes[3] = {TEXTOID, BYTEAOID, BYTEAOID};
	Datum		args[3];
	bytea	   *wrapped;
	bytea	   *kcv;

	WrapDek(KeysAuditKey(), 0, 0, wk, &wrapped, &kcv);
	args[0] = CStringGetTextDatum(BiocryptChainId());
	args[1] = PointerGetDatum(wrapped);
	args[2] = PointerGetDatum(kcv);
	if (SPI_execute_with_args("INSERT INTO biocrypt.audit_key (chain_id, wrapped, kcv) "
							  "VALUES ($1, $2, $3) ON CONFLICT (chain_id) DO UPDATE "
							  "SET wrapped = excluded.wrapped, kcv = excluded.kcv, "
							  "stored_at = excluded.stored_at",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not write biocrypt.audit_key"),
				 errhidestmt(true), errhidecontext(true)));
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
	Datum		args[1] = {CStringGetTextDatum(BiocryptChainId())};

	(void) KeysAuditKey();		/* checks a stored chain key's kcv */
	CheckRingRootKey();
	if (SPI_execute_with_args("SELECT 1 FROM biocrypt.audit_key WHERE chain_id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read biocrypt.audit_key"),
				 errhidestmt(true), errhidecontext(true)));
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

/*
 * A keyed hash of a subject (its UTF-8 bytes), for the record of erased
 * subjects: BLAKE2b under a key derived from the chain key, which
 * outlives root-key changes, so that the record does too.
 */
void
KeysSubjectHash(uint8 *out, const char *subject, size_t len)
{
	uint8		key[BIOCRYPT_KEY_BYTES];

	crypto_kdf_derive_from_key(key, sizeof(key), 1, KDF_CTX_ERASED, KeysAuditKey());
	crypto_generichash(out, BIOCRYPT_KEY_BYTES, (const unsigned char *) subject, len,
					   key, sizeof(key));
	sodium_memzero(key, sizeof(key));
}
