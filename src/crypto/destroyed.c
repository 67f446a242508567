/*-------------------------------------------------------------------------
 *
 * destroyed.c
 *		The cluster's list of destroyed data keys.
 *
 * Destroying a data key erases its wrapped form from biocrypt.keys; a copy
 * of the ring restored from an older dump would bring it back.  So each
 * destroyed key's fingerprint is also appended, durably and just before
 * the destroying transaction commits, to a file in the data directory,
 * which outlives every database: a key on the list is never unwrapped.
 *
 * The list is a file, which streaming replication does not carry: so each
 * addition is also written to the WAL, in a record of biocrypt's own
 * resource manager, before the commit record.  A standby's replay appends
 * the fingerprints to its own list, and tells the layers above (the warm
 * galleries) that keys of that database are gone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "access/xlogreader.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "crypto/keys_internal.h"

#define FINGERPRINT_BYTES	16
#define DESTROYED_DIR		"pg_biocrypt"
#define DESTROYED_FILE		DESTROYED_DIR "/destroyed_keys"

/* Keys destroyed by this transaction, for the cluster's list at commit. */
typedef struct PendingDestroy
{
	SubTransactionId subid;		/* the subtransaction that destroyed it */
	uint8		fp[FINGERPRINT_BYTES];
} PendingDestroy;

static List *pending_destroyed = NIL;	/* of PendingDestroy */

/*
 * biocrypt's WAL resource manager.  PostgreSQL's experimental id, until one
 * is reserved; another extension using that id cannot be loaded beside it.
 */
#define RM_BIOCRYPT_ID			RM_EXPERIMENTAL_ID
#define XLOG_BIOCRYPT_DESTROYED	0x00

/* The record: a database, then n fingerprints. */
typedef struct DestroyedRecord
{
	Oid			dbid;
	uint32		n;
} DestroyedRecord;

static DestroyedRedoHook destroyed_redo_hook = NULL;

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

/* Is fingerprint fp on the cluster's list? */
static bool
FingerprintListed(const uint8 *fp)
{
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
				 errmsg("biocrypt: could not open \"%s\": %m", DESTROYED_FILE),
				 errhidestmt(true), errhidecontext(true)));
	}
	while (!found && (n = read(fd, rec, sizeof(rec))) > 0)
		for (ssize_t i = 0; i + FINGERPRINT_BYTES <= n && !found; i += FINGERPRINT_BYTES)
			found = memcmp(rec + i, fp, FINGERPRINT_BYTES) == 0;
	CloseTransientFile(fd);
	return found;
}

/*
 * Did this cluster destroy the data key dek?  The list outlives the
 * database, so a copy of the ring restored from an older dump into another
 * database of the cluster cannot bring the key back.
 */
bool
DestroyedInCluster(const uint8 *dek)
{
	uint8		fp[FINGERPRINT_BYTES];
	bool		found;

	DekFingerprint(dek, fp);
	found = FingerprintListed(fp);
	sodium_memzero(fp, sizeof(fp));
	return found;
}

/* Append n fingerprints to the cluster's list, durably. */
static void
AppendFingerprints(const uint8 *fps, uint32 n)
{
	int			fd;

	if (mkdir(DESTROYED_DIR, S_IRWXU) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("biocrypt: could not create directory \"%s\": %m", DESTROYED_DIR),
				 errhidestmt(true), errhidecontext(true)));
	fd = OpenTransientFile(DESTROYED_FILE, O_WRONLY | O_APPEND | O_CREAT | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("biocrypt: could not open \"%s\": %m", DESTROYED_FILE),
				 errhidestmt(true), errhidecontext(true)));
	if (write(fd, fps, (size_t) n * FINGERPRINT_BYTES) != (ssize_t) n * FINGERPRINT_BYTES)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("biocrypt: could not write \"%s\": %m", DESTROYED_FILE),
				 errhidestmt(true), errhidecontext(true)));
	if (pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("biocrypt: could not fsync \"%s\": %m", DESTROYED_FILE),
				 errhidestmt(true), errhidecontext(true)));
	CloseTransientFile(fd);
	fsync_fname(DESTROYED_DIR, true);
}

/* Data key dek was destroyed in this (sub)transaction: list it at commit. */
void
DestroyedAdd(const uint8 *dek)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	PendingDestroy *pd = palloc(sizeof(PendingDestroy));

	pd->subid = GetCurrentSubTransactionId();
	DekFingerprint(dek, pd->fp);
	pending_destroyed = lappend(pending_destroyed, pd);
	MemoryContextSwitchTo(old);
}

/*
 * Just before the commit record: the destroyed keys join the list, and the
 * WAL, so that standbys' lists follow.
 */
void
DestroyedPreCommit(void)
{
	DestroyedRecord rec;
	uint8	   *fps;
	uint32		n = 0;
	ListCell   *lc;

	if (pending_destroyed == NIL)
		return;
	fps = palloc(FINGERPRINT_BYTES * list_length(pending_destroyed));
	foreach(lc, pending_destroyed)
		memcpy(fps + FINGERPRINT_BYTES * n++, ((PendingDestroy *) lfirst(lc))->fp,
			   FINGERPRINT_BYTES);
	AppendFingerprints(fps, n);
	rec.dbid = MyDatabaseId;
	rec.n = n;
	XLogBeginInsert();
	XLogRegisterData((char *) &rec, sizeof(rec));
	XLogRegisterData((char *) fps, FINGERPRINT_BYTES * n);
	(void) XLogInsert(RM_BIOCRYPT_ID, XLOG_BIOCRYPT_DESTROYED);
	pfree(fps);
}

/* Replay: the standby's list gets the keys, the layers above are told. */
static void
DestroyedRedo(XLogReaderState *record)
{
	DestroyedRecord rec;
	const char *data = XLogRecGetData(record);

	if ((XLogRecGetInfo(record) & ~XLR_INFO_MASK) != XLOG_BIOCRYPT_DESTROYED ||
		XLogRecGetDataLen(record) < sizeof(rec))
		elog(PANIC, "biocrypt: unknown WAL record");
	memcpy(&rec, data, sizeof(rec));
	if (XLogRecGetDataLen(record) != sizeof(rec) + (Size) rec.n * FINGERPRINT_BYTES)
		elog(PANIC, "biocrypt: malformed destroyed-keys WAL record");
	/* replayed again after a restart: each fingerprint is listed once */
	for (uint32 i = 0; i < rec.n; i++)
	{
		const uint8 *fp = (const uint8 *) data + sizeof(rec) + (Size) i * FINGERPRINT_BYTES;

		if (!FingerprintListed(fp))
			AppendFingerprints(fp, 1);
	}
	if (destroyed_redo_hook != NULL)
		destroyed_redo_hook(rec.dbid);
}

static void
DestroyedDesc(StringInfo buf, XLogReaderState *record)
{
	DestroyedRecord rec;

	memcpy(&rec, XLogRecGetData(record), sizeof(rec));
	appendStringInfo(buf, "database %u, %u destroyed data keys", rec.dbid, rec.n);
}

static const char *
DestroyedIdentify(uint8 info)
{
	return (info & ~XLR_INFO_MASK) == XLOG_BIOCRYPT_DESTROYED ? "DESTROYED_KEYS" : NULL;
}

static RmgrData destroyed_rmgr = {
	.rm_name = "biocrypt",
	.rm_redo = DestroyedRedo,
	.rm_desc = DestroyedDesc,
	.rm_identify = DestroyedIdentify,
};

/* At load (shared_preload_libraries): biocrypt's WAL resource manager. */
void
DestroyedRegisterRmgr(void)
{
	RegisterCustomRmgr(RM_BIOCRYPT_ID, &destroyed_rmgr);
}

/* What replay of destroyed keys should also do (a callback from above). */
void
DestroyedSetRedoHook(DestroyedRedoHook hook)
{
	destroyed_redo_hook = hook;
}

/* Two-phase commit cannot promise the list's write at COMMIT PREPARED. */
void
DestroyedPrePrepare(void)
{
	if (pending_destroyed != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("biocrypt: cannot prepare a transaction that destroyed a data key"),
				 errhidestmt(true), errhidecontext(true)));
}

/* The transaction ended: nothing is pending any more. */
void
DestroyedForget(void)
{
	pending_destroyed = NIL;
}

/* A destruction rolled back with its savepoint must not reach the list. */
void
DestroyedSubXact(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid)
{
	ListCell   *lc;

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
}
