/*-------------------------------------------------------------------------
 *
 * galpage.c
 *		The gallery index's pages: the metapage, and appending an entry
 *		(a heap TID and its template's envelope) under generic WAL.
 *
 * Every change is WAL-logged with generic WAL, so a crash, a backup or a
 * replica sees exactly the pages the primary wrote, and those hold only
 * envelopes, which are ciphertext.  Inserts serialize on the metapage's
 * lock: it names the page that takes the next entry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"

#include "gallery/gallery.h"

/* Largest envelope one entry can hold: an entry never spans pages. */
Size
GalleryMaxEnvelope(void)
{
	return MAXALIGN_DOWN(BLCKSZ - SizeOfPageHeaderData - sizeof(ItemIdData) -
						 MAXALIGN(sizeof(GalleryPageOpaqueData))) -
		GALLERY_ENTRY_HEADER;
}

static void
InitMetaPageData(Page page)
{
	GalleryMetaPageData *meta;

	PageInit(page, BLCKSZ, 0);
	meta = GalleryPageGetMeta(page);
	meta->magic = GALLERY_MAGIC;
	meta->version = GALLERY_VERSION;
	meta->last_block = InvalidBlockNumber;
	meta->entries = 0;
	meta->changes = 0;
	meta->vacuums = 0;
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(GalleryMetaPageData)) - (char *) page;
}

/*
 * Write the metapage of a new index: in the main fork under generic WAL,
 * or in the init fork of an unlogged index, which is always logged.
 */
void
GalleryInitMetapage(Relation index, ForkNumber fork)
{
	Buffer		buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (fork == INIT_FORKNUM)
	{
		START_CRIT_SECTION();
		InitMetaPageData(BufferGetPage(buf));
		MarkBufferDirty(buf);
		log_newpage_buffer(buf, true);
		END_CRIT_SECTION();
	}
	else
	{
		GenericXLogState *state = GenericXLogStart(index);

		InitMetaPageData(GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE));
		GenericXLogFinish(state);
	}
	UnlockReleaseBuffer(buf);
}

/* A new data page: empty, version 0. */
void
GalleryInitDataPage(Page page)
{
	PageInit(page, BLCKSZ, MAXALIGN(sizeof(GalleryPageOpaqueData)));
	GalleryPageGetOpaque(page)->version = 0;
}

void
GalleryCheckMeta(Relation index, const GalleryMetaPageData *meta)
{
	if (meta->magic != GALLERY_MAGIC || meta->version != GALLERY_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("biocrypt: index \"%s\" is not a biocrypt_gallery index of version %d",
						RelationGetRelationName(index), GALLERY_VERSION),
				 errhint("REINDEX it."),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * Entry off of a data page, its envelope's header parsed into hdr (the
 * pointers lead into the page).  An envelope that does not parse is a
 * damaged index: the pages were written from checked templates.
 */
GalleryEntry *
GalleryPageEntry(Relation index, Page page, OffsetNumber off, EnvelopeHeader *hdr)
{
	ItemId		iid = PageGetItemId(page, off);
	GalleryEntry *ge = (GalleryEntry *) PageGetItem(page, iid);

	if (EnvelopeParse(ge->envelope, ItemIdGetLength(iid) - GALLERY_ENTRY_HEADER,
					  hdr) != ENVELOPE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("biocrypt: gallery index \"%s\" holds a damaged template",
						RelationGetRelationName(index)),
				 errhint("REINDEX it."),
				 errhidestmt(true), errhidecontext(true)));
	return ge;
}

/* A copy of the metapage's contents, checked. */
void
GalleryReadMeta(Relation index, GalleryMetaPageData *meta)
{
	Buffer		metabuf = ReadBuffer(index, GALLERY_METAPAGE_BLKNO);

	LockBuffer(metabuf, BUFFER_LOCK_SHARE);
	*meta = *GalleryPageGetMeta(BufferGetPage(metabuf));
	UnlockReleaseBuffer(metabuf);
	GalleryCheckMeta(index, meta);
}

/* The last data page locked, if the entry fits there; else InvalidBuffer. */
static Buffer
LastPageWithRoom(Relation index, BlockNumber last, Size itemsz)
{
	Buffer		buf;

	if (last == InvalidBlockNumber)
		return InvalidBuffer;
	buf = ReadBuffer(index, last);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (PageGetFreeSpace(BufferGetPage(buf)) >= MAXALIGN(itemsz))
		return buf;
	UnlockReleaseBuffer(buf);
	return InvalidBuffer;
}

/* A new data page at the end of the index, locked. */
static Buffer
NewPage(Relation index)
{
	Buffer		buf;

	LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBuffer(index, P_NEW);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

/*
 * Append one entry: heaptid and the envelope's len bytes.  One generic WAL
 * record covers the metapage and the data page (and a new page's image).
 */
void
GalleryAppend(Relation index, const ItemPointerData *heaptid, const uint8 *envelope, Size len)
{
	Size		itemsz = GALLERY_ENTRY_HEADER + len;
	GalleryEntry *entry;
	Buffer		metabuf;
	Buffer		buf;
	GenericXLogState *state;
	GalleryMetaPageData *meta;
	Page		page;
	bool		fresh;

	Assert(len <= GalleryMaxEnvelope());
	entry = palloc0(itemsz);
	entry->heaptid = *heaptid;
	memcpy(entry->envelope, envelope, len);

	metabuf = ReadBuffer(index, GALLERY_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	GalleryCheckMeta(index, GalleryPageGetMeta(BufferGetPage(metabuf)));
	buf = LastPageWithRoom(index, GalleryPageGetMeta(BufferGetPage(metabuf))->last_block, itemsz);
	fresh = !BufferIsValid(buf);
	if (fresh)
		buf = NewPage(index);

	state = GenericXLogStart(index);
	meta = GalleryPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	page = GenericXLogRegisterBuffer(state, buf, fresh ? GENERIC_XLOG_FULL_IMAGE : 0);
	if (fresh)
	{
		GalleryInitDataPage(page);
		meta->last_block = BufferGetBlockNumber(buf);
	}
	if (PageAddItem(page, (Item) entry, itemsz, InvalidOffsetNumber, false, false) == InvalidOffsetNumber)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg_internal("biocrypt: could not add an entry to gallery \"%s\"",
								 RelationGetRelationName(index)),
				 errhidestmt(true), errhidecontext(true)));
	meta->entries++;
	meta->changes++;
	GalleryPageGetOpaque(page)->version++;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(metabuf);
	pfree(entry);
}
