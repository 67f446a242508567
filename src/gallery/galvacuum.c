/*-------------------------------------------------------------------------
 *
 * galvacuum.c
 *		VACUUM of a gallery index: entries whose heap rows are dead are
 *		removed from their pages in place, under generic WAL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"

#include "gallery/gallery.h"

/* Remove the dead entries of one data page; returns how many. */
static int
VacuumPage(Relation index, BlockNumber blkno, IndexBulkDeleteCallback callback,
		   void *callback_state, BufferAccessStrategy strategy, double *live)
{
	Buffer		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
	OffsetNumber dead[MaxOffsetNumber];
	int			ndead = 0;
	Page		page;
	OffsetNumber max;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	max = PageGetMaxOffsetNumber(page);
	for (OffsetNumber off = FirstOffsetNumber; off <= max; off = OffsetNumberNext(off))
	{
		GalleryEntry *e = (GalleryEntry *) PageGetItem(page, PageGetItemId(page, off));

		if (callback(&e->heaptid, callback_state))
			dead[ndead++] = off;
		else
			*live += 1;
	}
	if (ndead > 0)
	{
		GenericXLogState *state = GenericXLogStart(index);

		Page		wpage = GenericXLogRegisterBuffer(state, buf, 0);

		PageIndexMultiDelete(wpage, dead, ndead);
		GalleryPageGetOpaque(wpage)->version++;
		GenericXLogFinish(state);
	}
	UnlockReleaseBuffer(buf);
	return ndead;
}

/*
 * Keep the metapage's count of entries in step with what VACUUM found, and
 * tell warm forms that pages changed.  The cleanup lock waits for every
 * scan of the index to end (each pins the metapage): a scan's candidates
 * are heap TIDs, which must not be reused by new rows while it runs.
 */
static void
SetEntries(Relation index, uint64 entries, bool removed)
{
	Buffer		metabuf = ReadBuffer(index, GALLERY_METAPAGE_BLKNO);
	GenericXLogState *state;
	GalleryMetaPageData *meta;

	if (removed)
		LockBufferForCleanup(metabuf);
	else
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	meta = GalleryPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	meta->entries = entries;
	if (removed)
	{
		meta->changes++;
		meta->vacuums++;
	}
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);
}

IndexBulkDeleteResult *
GalleryBulkDelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				  IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	double		live = 0;
	double		removed = 0;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	for (BlockNumber blkno = GALLERY_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		vacuum_delay_point();
		removed += VacuumPage(index, blkno, callback, callback_state,
							  info->strategy, &live);
	}
	/* the plaintext of dead rows leaves memory now, not at the next scan */
	if (removed > 0)
		GalleryForgetDead(index, callback, callback_state);
	/* approximate while inserts run: it is shown, never relied on */
	SetEntries(index, (uint64) live, removed > 0);
	stats->tuples_removed += removed;
	stats->num_pages = nblocks;
	stats->num_index_tuples = live;
	return stats;
}

IndexBulkDeleteResult *
GalleryVacuumCleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	if (stats == NULL)
	{
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		stats->num_pages = RelationGetNumberOfBlocks(info->index);
		stats->num_index_tuples = info->num_heap_tuples;
		stats->estimated_count = true;
	}
	return stats;
}
