/*-------------------------------------------------------------------------
 *
 * ringadmin.c
 *		Changes to the key ring as a whole: destroying a data key, and
 *		moving the ring to a new root key (biocrypt.new_root_key_*).
 *
 * A destroyed key's wrapped form is erased and its fingerprint joins the
 * cluster's list (destroyed.c) at commit.  To move to a new root key, every
 * live data key, and the audit chain key, is unwrapped under the
 * root key it was wrapped with and wrapped again under the new one; keys
 * this cluster destroyed are destroyed again instead, so that a restored
 * ring cannot bring them back.  Templates are not touched.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "core/core.h"
#include "crypto/keys_internal.h"

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
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring update failed"),
				 errhidestmt(true), errhidecontext(true)));
	return true;
}

/*
 * Wrap every data key, and the chain key, under the new root key.  Keys
 * this cluster destroyed are destroyed again and appended to *destroyed
 * (DestroyedKey *) for the caller's record.  Returns the keys rewrapped.
 */
int32
KeysRewrap(List **destroyed)
{
	BiocryptSpi st;
	SPITupleTable *keys;
	uint64		nkeys;
	int32		rewrapped = 0;
	MemoryContext caller = CurrentMemoryContext;	/* SPI_finish frees the rest */

	KeysAttach();
	if (new_keys == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: no new root key is configured"),
				 errhint("Set biocrypt.new_root_key_file or biocrypt.new_root_key_command and restart the server."),
				 errhidestmt(true), errhidecontext(true)));
	BiocryptSpiBegin(&st);
	if (SPI_execute("SELECT id, cipher, kcv, wrapped FROM biocrypt.keys "
					"WHERE state <> 'destroyed' ORDER BY id FOR UPDATE",
					false, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring query failed"),
				 errhidestmt(true), errhidecontext(true)));
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
			DestroyedKey *dk = MemoryContextAlloc(caller, sizeof(DestroyedKey));
			MemoryContext old;

			if (!KeysDestroy((uint32) DatumGetInt32(SPI_getbinval(keys->vals[i],
																  keys->tupdesc, 1,
																  &isnull)), dk))
				continue;
			old = MemoryContextSwitchTo(caller);
			*destroyed = lappend(*destroyed, dk);
			dk->epoch = pstrdup(dk->epoch);
			MemoryContextSwitchTo(old);
		}
	}
	StoreChainKey(new_keys);
	BiocryptSpiEnd(&st);
	InvalidateKeyCaches();
	return rewrapped;
}

/*
 * Crypto-shred data key key_id: erase its wrapped form from the ring and
 * add its fingerprint to the cluster's list of destroyed keys at commit.
 * Returns false if it was already destroyed; else true, with the key and
 * its epoch in *out for the caller's record.
 */
bool
KeysDestroy(uint32 key_id, DestroyedKey *out)
{
	BiocryptSpi st;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum((int32) key_id)};
	HeapTuple	tup;
	bool		isnull;
	char	   *epoch;
	const DerivedKeys *wk;
	SecBuf	   *dek;
	MemoryContext caller = CurrentMemoryContext;	/* SPI_finish frees the rest */

	KeysAttach();
	BiocryptSpiBegin(&st);
	if (SPI_execute_with_args("SELECT state, wrapped, epoch::text, cipher, kcv FROM biocrypt.keys "
							  "WHERE id = $1 FOR UPDATE",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring query failed"),
				 errhidestmt(true), errhidecontext(true)));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("biocrypt: data key %u is not in the key ring", key_id),
				 errhidestmt(true), errhidecontext(true)));
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
	DestroyedAdd(dek->data);
	SecmemRelease(dek);
	epoch = SPI_getvalue(tup, SPI_tuptable->tupdesc, 3);
	if (SPI_execute_with_args("UPDATE biocrypt.keys SET state = 'destroyed', wrapped = NULL, "
							  "destroyed_at = pg_catalog.now() WHERE id = $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring update failed"),
				 errhidestmt(true), errhidecontext(true)));
	BiocryptSpiEnd(&st);
	InvalidateKeyCaches();
	out->key_id = key_id;
	out->epoch = MemoryContextStrdup(caller, epoch);
	return true;
}
