/*-------------------------------------------------------------------------
 *
 * galbuild.c
 *		CREATE INDEX ... USING biocrypt_gallery, its insert, and the empty
 *		index of an unlogged table.
 *
 * The index copies each row's envelope as it is stored: nothing is
 * decrypted to build it, so building needs no key and writes no plaintext.
 * Only administrators may create one, because its warm form puts the
 * decrypted templates into server memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "catalog/index.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "core/core.h"
#include "gallery/gallery.h"
#include "template/template.h"

typedef struct BuildState
{
	Relation	index;
	double		indtuples;
	BlockNumber last;			/* the last page written */
	bool		dirty;			/* page holds entries not yet written */
	PGAlignedBlock page;		/* the page being filled */
} BuildState;

/*
 * Only administrators build galleries: their warm form is plaintext.  The
 * role that runs the command counts, not the table's owner, as whom
 * PostgreSQL builds indexes.
 */
static void
RequireAdmin(Relation index)
{
	if (RoleAdministersBiocrypt(GetOuterUserId()))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("biocrypt: permission denied to build gallery index \"%s\"",
					RelationGetRelationName(index)),
			 errdetail("A gallery's warm form holds decrypted templates in server memory."),
			 errhint("Only a superuser or a member of biocrypt_admin may create or rebuild one."),
			 errhidestmt(true), errhidecontext(true)));
}

/* The envelope of a row's template, checked: the index trusts nothing. */
static bytea *
RowEnvelope(Datum value)
{
	bytea	   *tpl = DatumGetProtectedTemplateP(value);
	EnvelopeHeader hdr;

	ParseTemplate(tpl, &hdr);
	if (VARSIZE_ANY_EXHDR(tpl) > GalleryMaxEnvelope())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("biocrypt: a template of %zu bytes does not fit a biocrypt_gallery page (at most %zu)",
						(Size) VARSIZE_ANY_EXHDR(tpl), GalleryMaxEnvelope()),
				 errhint("A gallery holds templates up to about 2,000 f32 dimensions, 4,000 f16 or 8,000 i8."),
				 errhidestmt(true), errhidecontext(true)));
	return tpl;
}

/* Write the page being built at the end of the index, under generic WAL. */
static void
FlushPage(BuildState *bs)
{
	Buffer		buf;
	GenericXLogState *state;
	Page		page;

	if (!bs->dirty)
		return;
	LockRelationForExtension(bs->index, ExclusiveLock);
	buf = ReadBuffer(bs->index, P_NEW);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	UnlockRelationForExtension(bs->index, ExclusiveLock);
	state = GenericXLogStart(bs->index);
	page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	memcpy(page, bs->page.data, BLCKSZ);
	GalleryPageGetOpaque(page)->version = 1;
	GenericXLogFinish(state);
	bs->last = BufferGetBlockNumber(buf);
	UnlockReleaseBuffer(buf);
	GalleryInitDataPage(bs->page.data);
	bs->dirty = false;
}

/* Add one entry to the page being built, writing it out when full. */
static void
BuildAdd(BuildState *bs, const ItemPointerData *tid, bytea *tpl)
{
	Size		len = VARSIZE_ANY_EXHDR(tpl);
	Size		itemsz = GALLERY_ENTRY_HEADER + len;
	GalleryEntry *entry = palloc0(itemsz);

	entry->heaptid = *tid;
	memcpy(entry->envelope, VARDATA_ANY(tpl), len);
	if (PageGetFreeSpace(bs->page.data) < MAXALIGN(itemsz))
		FlushPage(bs);
	if (PageAddItem(bs->page.data, (Item) entry, itemsz, InvalidOffsetNumber,
					false, false) == InvalidOffsetNumber)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not add an entry to a gallery page"),
				 errhidestmt(true), errhidecontext(true)));
	bs->dirty = true;
	bs->indtuples += 1;
	pfree(entry);
}

static void
/* cppcheck-suppress constParameter ; the signature of IndexBuildCallback */
BuildCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			  bool tupleIsAlive, void *state)
{
	if (!isnull[0])
		BuildAdd((BuildState *) state, tid, RowEnvelope(values[0]));
}

/* The metapage after a build: where inserts go, and how many entries. */
static void
FinishMeta(BuildState *bs)
{
	Buffer		metabuf = ReadBuffer(bs->index, GALLERY_METAPAGE_BLKNO);
	GenericXLogState *state;
	GalleryMetaPageData *meta;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(bs->index);
	meta = GalleryPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	meta->last_block = bs->last;
	meta->entries = (uint64) bs->indtuples;
	meta->changes++;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);
}

/*
 * CREATE INDEX and REINDEX: pages filled in memory and written whole.  A
 * warm form of the index's previous contents (REINDEX, TRUNCATE) is
 * evicted first.
 */
IndexBuildResult *
GalleryBuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result = palloc(sizeof(IndexBuildResult));
	BuildState *bs = palloc0(sizeof(BuildState));
	double		reltuples;

	RequireAdmin(index);
	if (RelationGetNumberOfBlocks(index) != 0)
		ereport(ERROR,
				(errmsg_internal("biocrypt: index \"%s\" already contains data", RelationGetRelationName(index)),
				 errhidestmt(true), errhidecontext(true)));
	GalleryEvictIndex(RelationGetRelid(index));
	GalleryInitMetapage(index, MAIN_FORKNUM);
	bs->index = index;
	bs->last = InvalidBlockNumber;
	GalleryInitDataPage(bs->page.data);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   BuildCallback, bs, NULL);
	FlushPage(bs);
	FinishMeta(bs);
	result->heap_tuples = reltuples;
	result->index_tuples = bs->indtuples;
	pfree(bs);
	return result;
}

void
GalleryBuildEmpty(Relation index)
{
	GalleryInitMetapage(index, INIT_FORKNUM);
}

bool
GalleryInsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			  Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
			  IndexInfo *indexInfo)
{
	bytea	   *tpl;

	if (isnull[0])
		return false;
	tpl = RowEnvelope(values[0]);
	GalleryAppend(index, heap_tid, (const uint8 *) VARDATA_ANY(tpl), VARSIZE_ANY_EXHDR(tpl));
	return false;
}
