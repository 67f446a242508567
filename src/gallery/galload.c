/*-------------------------------------------------------------------------
 *
 * galload.c
 *		Warming a gallery: its slot filled, then kept current, from the
 *		index's own pages.
 *
 * The metapage counts every change of the index; a warm form that has
 * seen the same count is current.  Otherwise pages are reloaded whose
 * version differs from the one loaded: only the last page and new ones
 * after inserts, every page after a VACUUM.  Because this reads pages,
 * not the backend's own inserts, a standby's warm form follows replay.
 *
 * What is never decrypted into the warm form: expired templates (kept as
 * entries, so that they are counted and sort as NULL), and entries whose
 * heap rows are dead to every transaction (an erased subject's template
 * waits in the index for VACUUM, but nobody can see it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/genam.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/table.h"
#include "commands/defrem.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/procarray.h"
#include "catalog/pg_class.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "core/core.h"
#include "gallery/gallery_internal.h"
#include "template/template.h"

/* What a load needs besides the slot: the heap, to skip dead rows. */
typedef struct Loader
{
	Relation	index;
	Relation	heap;
	IndexFetchTableData *fetch;
	TupleTableSlot *tslot;
	Buffer		vmbuf;			/* the visibility map page in hand */
	SnapshotData nonvacuumable;
	TimestampTz now;
	const char *refusal;		/* why the gallery cannot stay warm */
} Loader;

/* Is any version of the row at tid visible to some transaction? */
static bool
RowMayBeSeen(Loader *ld, ItemPointer tid)
{
	ItemPointerData t = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	bool		found;

	/* an all-visible heap page holds no dead row: no need to look */
	if (VM_ALL_VISIBLE(ld->heap, ItemPointerGetBlockNumber(tid), &ld->vmbuf))
		return true;
	found = table_index_fetch_tuple(ld->fetch, &t, &ld->nonvacuumable, ld->tslot,
									&call_again, &all_dead);
	ExecClearTuple(ld->tslot);
	return found;
}

/* The most entries a page can hold for templates of this shape. */
static uint32
EntriesPerPage(const EnvelopeHeader *hdr)
{
	Size		least = GALLERY_ENTRY_HEADER + ENVELOPE_FIXED_SIZE + ENVELOPE_TAG_SIZE +
		hdr->payload_len;
	Size		room = BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(GalleryPageOpaqueData));

	return (uint32) (room / (MAXALIGN(least) + sizeof(ItemIdData)));
}

/* The number of hdr's purpose list in the slot's table, added if new. */
static int
LabelSet(WarmSlot *s, const EnvelopeHeader *hdr)
{
	char		buf[GALLERY_LABELS_BYTES];
	Size		len = 1;

	memset(buf, 0, sizeof(buf));
	buf[0] = (char) hdr->npurposes;
	for (int i = 0; i < hdr->npurposes; i++)
	{
		buf[len++] = (char) hdr->purpose_len[i];
		memcpy(buf + len, hdr->purpose[i], hdr->purpose_len[i]);
		len += hdr->purpose_len[i];
	}
	for (int i = 0; i < s->nlabelsets; i++)
		if (memcmp(WarmLabels(s) + (Size) i * GALLERY_LABELS_BYTES, buf, sizeof(buf)) == 0)
			return i;
	if (s->nlabelsets == GALLERY_LABEL_SETS)
		return -1;
	memcpy(WarmLabels(s) + (Size) s->nlabelsets * GALLERY_LABELS_BYTES, buf, sizeof(buf));
	return s->nlabelsets++;
}

/* Zero and empty the entries of block blkno. */
static void
ClearBlock(WarmSlot *s, BlockNumber blkno)
{
	Size		first = (Size) (blkno - 1) * s->per_block;
	WarmEntry  *e = WarmEntries(s) + first;

	for (uint32 j = 0; j < s->per_block; j++)
		if (ItemPointerIsValid(&e[j].tid))
			s->templates--;
	sodium_memzero(WarmPayloads(s) + first * s->slot_size, (Size) s->per_block * s->slot_size);
	/* a zeroed entry is empty: its TID has no offset */
	memset(e, 0, sizeof(WarmEntry) * s->per_block);
}

/* Load entry off of page into place j; false (with ld->refusal) if it cannot be. */
static bool
LoadEntry(Loader *ld, WarmSlot *s, Page page, OffsetNumber off, Size j)
{
	EnvelopeHeader hdr;
	GalleryEntry *ge = GalleryPageEntry(ld->index, page, off, &hdr);
	WarmEntry  *e = WarmEntries(s) + j;
	int			labels;

	if (!GallerySameShape(&hdr, &s->shape))
	{
		ld->refusal = "its templates differ in format, dimensions or bit layout (masked and unmasked codes included)";
		return false;
	}
	if ((labels = LabelSet(s, &hdr)) < 0)
	{
		ld->refusal = "its templates carry more than 32 different purpose lists";
		return false;
	}
	if (!RowMayBeSeen(ld, (ItemPointer) &ge->heaptid))
		return true;
	e->expires = hdr.expires;
	e->labels = (uint16) labels;
	if (RetentionExpiredAt(&hdr, ld->now))
		e->labels |= GALLERY_ENTRY_EXPIRED;
	else
		DecryptEnvelope(ge->envelope, &hdr, WarmPayloads(s) + j * s->slot_size);
	e->tid = ge->heaptid;
	s->templates++;
	return true;
}

/* Reload block blkno if its version changed; false on a refusal. */
static bool
LoadBlock(Loader *ld, WarmSlot *s, BlockNumber blkno)
{
	Buffer		buf = ReadBuffer(ld->index, blkno);
	Page		page;
	OffsetNumber max;
	bool		ok = true;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (blkno < s->nblocks && WarmVersions(s)[blkno] == GalleryPageGetOpaque(page)->version)
	{
		UnlockReleaseBuffer(buf);
		return true;
	}
	/* a page never loaded has zeroed (empty) entries already */
	if (blkno < s->nblocks)
		ClearBlock(s, blkno);
	max = PageGetMaxOffsetNumber(page);
	if (max > s->per_block)
		ereport(ERROR,
				(errmsg_internal("biocrypt: gallery page holds more entries than it can"),
				 errhidestmt(true), errhidecontext(true)));
	for (OffsetNumber off = FirstOffsetNumber; ok && off <= max; off++)
		ok = LoadEntry(ld, s, page, off, (Size) (blkno - 1) * s->per_block + (off - 1));
	WarmVersions(s)[blkno] = GalleryPageGetOpaque(page)->version;
	UnlockReleaseBuffer(buf);
	return ok;
}

/* The shape of the index's first entry, or false when it has none. */
static bool
FirstShape(Relation index, BlockNumber nblocks, EnvelopeHeader *shape)
{
	bool		found = false;

	for (BlockNumber blkno = 1; blkno < nblocks && !found; blkno++)
	{
		Buffer		buf = ReadBuffer(index, blkno);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (PageGetMaxOffsetNumber(page) >= FirstOffsetNumber)
		{
			(void) GalleryPageEntry(index, page, FirstOffsetNumber, shape);
			found = true;
		}
		UnlockReleaseBuffer(buf);
	}
	if (!found)
	{
		memset(shape, 0, sizeof(EnvelopeHeader));
		return false;
	}
	/* the shape alone is kept: the pointers lead into a page */
	shape->subject = NULL;
	shape->subject_len = 0;
	shape->npurposes = 0;
	return true;
}

/* Bring slot i up to date with the index (its lock held exclusively). */
static bool
Refresh(Loader *ld, int i, const GalleryMetaPageData *meta)
{
	WarmSlot   *s = WarmSlotAt(i);
	BlockNumber nblocks = RelationGetNumberOfBlocks(ld->index);
	bool		full = s->nblocks == 0 || meta->vacuums != s->vacuums;
	bool		ok = true;

	if (s->nblocks == 0)
		s->protection = WarmProtect();
	if (s->shape.format == 0)
	{
		/* the first entries: their shape lays out the extent */
		full = true;
		if (!FirstShape(ld->index, nblocks, &s->shape))
			nblocks = 1;		/* nothing to hold yet */
		else
		{
			/* (a slot without a shape has no extent yet) */
			s->per_block = EntriesPerPage(&s->shape);
			s->slot_size = TYPEALIGN(64, s->shape.payload_len);
		}
	}
	if (nblocks > 1 && nblocks > s->cap_blocks &&
		!WarmReserve(i, nblocks + nblocks / 8 + 16))
	{
		ld->refusal = "it does not fit in biocrypt.gallery_memory";
		return false;
	}
	/* an extent that could not be copied starts empty */
	full = full || s->nblocks == 0;
	s->warming_pid = MyProcPid;
	s->blocks_total = nblocks;
	s->blocks_done = 0;
	for (BlockNumber blkno = 1; ok && blkno < nblocks; blkno++)
	{
		CHECK_FOR_INTERRUPTS();
		if (full || blkno + 1 >= s->nblocks)
			ok = LoadBlock(ld, s, blkno);
		s->blocks_done = blkno;
	}
	s->warming_pid = 0;
	if (!ok)
		return false;
	if (s->state != WARM_READY)
		s->warmed_at = GetCurrentTimestamp();
	s->nblocks = Max(nblocks, 1);
	s->changes = meta->changes;
	s->vacuums = meta->vacuums;
	s->state = WARM_READY;
	return true;
}

/* Is slot i (still) the warm form of this very index file? */
static bool
SlotIsOf(int i, Relation index)
{
	WarmSlot   *s = WarmSlotAt(i);

	return s->state != WARM_EMPTY && s->dbid == MyDatabaseId &&
		s->indexoid == RelationGetRelid(index) &&
		s->relfilenode == index->rd_node.relNode;
}

/* Refresh slot i under its exclusive lock; an error evicts it. */
static bool
RefreshLocked(Relation index, Relation heap, int i, const GalleryMetaPageData *meta)
{
	Loader		ld;
	bool		ok;

	memset(&ld, 0, sizeof(ld));
	ld.index = index;
	ld.now = GetCurrentTimestamp();
	ld.heap = heap;
	ld.vmbuf = InvalidBuffer;
	ld.fetch = table_index_fetch_begin(ld.heap);
	ld.tslot = table_slot_create(ld.heap, NULL);
	InitNonVacuumableSnapshot(ld.nonvacuumable, GlobalVisTestFor(ld.heap));
	PG_TRY();
	{
		ok = Refresh(&ld, i, meta);
	}
	PG_CATCH();
	{
		LWLockRelease(WarmSlotLock(i));
		WarmEvictSlot(i);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (BufferIsValid(ld.vmbuf))
		ReleaseBuffer(ld.vmbuf);
	ExecDropSingleTupleTableSlot(ld.tslot);
	table_index_fetch_end(ld.fetch);
	if (!ok)
		ereport(NOTICE,
				(errmsg("biocrypt: gallery \"%s\" is searched without its warm form: %s",
						RelationGetRelationName(index), ld.refusal),
				 errhidestmt(true), errhidecontext(true)));
	return ok;
}

static int	Acquire(Relation index, Relation heap);

/*
 * The slot of index's warm form, current, with its lock held shared; or
 * -1 where the gallery cannot be warm (the caller reads the pages).
 */
int
WarmAcquire(Relation index)
{
	Relation	heap;
	int			found = -1;

	if (!WarmCanServe(index))
		return -1;
	/* no wait for a table lock while holding a slot's lock: lock it first */
	heap = table_open(index->rd_index->indrelid, AccessShareLock);
	found = Acquire(index, heap);
	table_close(heap, NoLock);
	return found;
}

/* WarmAcquire, the table locked. */
static int
Acquire(Relation index, Relation heap)
{
	GalleryMetaPageData meta;

	for (int attempt = 0; attempt < 8; attempt++)
	{
		int			i = WarmFind(RelationGetRelid(index));

		if (i < 0 && (i = WarmClaim(index)) < 0)
		{
			ereport(NOTICE,
					(errmsg("biocrypt: gallery \"%s\" is searched without its warm form: every warm slot is in use",
							RelationGetRelationName(index)),
					 errhidestmt(true), errhidecontext(true)));
			return -1;
		}
		GalleryReadMeta(index, &meta);
		LWLockAcquire(WarmSlotLock(i), LW_SHARED);
		if (SlotIsOf(i, index) && WarmSlotAt(i)->changes == meta.changes)
		{
			if (WarmSlotAt(i)->state == WARM_READY)
			{
				WarmAttach(i);
				return i;
			}
			if (WarmSlotAt(i)->state == WARM_REFUSED)
			{
				LWLockRelease(WarmSlotLock(i));
				return -1;
			}
		}
		LWLockRelease(WarmSlotLock(i));
		LWLockAcquire(WarmSlotLock(i), LW_EXCLUSIVE);
		if (!SlotIsOf(i, index))
		{
			LWLockRelease(WarmSlotLock(i));
			if (WarmSlotAt(i)->indexoid == RelationGetRelid(index))
				WarmEvictSlot(i);	/* an older file of this index */
			continue;
		}
		if (WarmSlotAt(i)->changes != meta.changes || WarmSlotAt(i)->state != WARM_READY)
		{
			if (!RefreshLocked(index, heap, i, &meta))
			{
				LWLockRelease(WarmSlotLock(i));
				WarmRefuseSlot(i, meta.changes);
				return -1;
			}
		}
		LWLockRelease(WarmSlotLock(i));
	}
	return -1;
}

PG_FUNCTION_INFO_V1(biocrypt_warm);
/*
 * warm(index): warm a gallery now rather than at its first search; the
 * number of templates its warm form holds, or NULL where it stays cold
 * (a NOTICE says why).  Administrators only: it decrypts every template.
 */
Datum
biocrypt_warm(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Relation	index;
	int			i;
	int64		templates = 0;

	if (!CurrentRoleAdministersBiocrypt())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("biocrypt: permission denied to warm a gallery"),
				 errhint("Only a superuser or a member of biocrypt_admin may warm one."),
				 errhidestmt(true), errhidecontext(true)));
	index = index_open(indexoid, AccessShareLock);
	if (index->rd_rel->relam != get_index_am_oid("biocrypt_gallery", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("biocrypt: \"%s\" is not a biocrypt_gallery index",
						RelationGetRelationName(index)),
				 errhidestmt(true), errhidecontext(true)));
	if (!WarmCanServe(index))
		ereport(NOTICE,
				(errmsg("biocrypt: gallery \"%s\" has no warm form: %s",
						RelationGetRelationName(index),
						index->rd_rel->relpersistence == RELPERSISTENCE_TEMP ?
						"its table is temporary" : "biocrypt.gallery_memory is 0"),
				 errhidestmt(true), errhidecontext(true)));
	/* asked for: try again even where warming was refused before */
	if ((i = WarmFind(indexoid)) >= 0 && WarmSlotAt(i)->state == WARM_REFUSED)
		WarmRefuseSlot(i, PG_UINT64_MAX);
	i = WarmAcquire(index);
	if (i >= 0)
	{
		templates = WarmSlotAt(i)->templates;
		LWLockRelease(WarmSlotLock(i));
	}
	index_close(index, AccessShareLock);
	if (i < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(templates);
}
