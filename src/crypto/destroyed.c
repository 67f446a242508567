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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "access/xact.h"
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
bool
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
				 errmsg("biocrypt: could not open \"%s\": %m", DESTROYED_FILE),
				 errhidestmt(true), errhidecontext(true)));
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
				 errmsg("biocrypt: could not create directory \"%s\": %m", DESTROYED_DIR),
				 errhidestmt(true), errhidecontext(true)));
	fd = OpenTransientFile(DESTROYED_FILE, O_WRONLY | O_APPEND | O_CREAT | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("biocrypt: could not open \"%s\": %m", DESTROYED_FILE),
				 errhidestmt(true), errhidecontext(true)));
	foreach(lc, pending_destroyed)
		if (write(fd, ((PendingDestroy *) lfirst(lc))->fp, FINGERPRINT_BYTES) != FINGERPRINT_BYTES)
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

/* Just before the commit record: the destroyed keys join the list. */
void
DestroyedPreCommit(void)
{
	if (pending_destroyed != NIL)
		WriteDestroyed();
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
