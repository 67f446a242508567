/*-------------------------------------------------------------------------
 *
 * keyadmin.c
 *		Key administration in SQL: destroy_key, rotate_key, rewrap_keys,
 *		each recorded in the audit.
 *
 * The key ring itself (crypto/) reports what it destroyed, retired or
 * rewrapped; the audit rows are written here, one layer up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/pg_list.h"

#include "audit/audit.h"
#include "core/core.h"
#include "crypto/keys.h"
#include "gallery/gallery.h"
#include "lifecycle/lifecycle.h"

/* Record a key-ring event: [{"action": ..., "key_id": ..., ...}]. */
static void
RecordKeyEvent(AuditOperation op, int64 count, const char *json)
{
	AuditRecordEventJson(op, BiocryptRelid("keys"), NULL, count, json);
}

/* Record a data key's destruction (here, or by the purge's shredding). */
void
RecordKeyDestroyed(const DestroyedKey *dk)
{
	RecordKeyEvent(AUDIT_OP_DESTROY, 0,
				   psprintf("[{\"key_id\": %u, \"epoch\": \"%s\"}]",
							dk->key_id, dk->epoch));
}

/* The body of destroy_key(). */
static Datum
DestroyKeyRequest(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	DestroyedKey dk;

	if (id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("biocrypt: data key %d is not in the key ring", id),
				 errhidestmt(true), errhidecontext(true)));
	if (!KeysDestroy((uint32) id, &dk))
		PG_RETURN_BOOL(false);
	RecordKeyDestroyed(&dk);
	/* templates under the key leave the warm galleries when this commits */
	GalleryEvictAtCommit(InvalidOid);
	PG_RETURN_BOOL(true);
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
	int32		retired = KeysRetireActive();

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

/* The body of rewrap_keys(). */
static Datum
RewrapKeysRequest(PG_FUNCTION_ARGS)
{
	List	   *destroyed = NIL;
	int32		rewrapped = KeysRewrap(&destroyed);
	ListCell   *lc;

	GalleryEvictAtCommit(InvalidOid);
	foreach(lc, destroyed)
		RecordKeyDestroyed(lfirst(lc));
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
