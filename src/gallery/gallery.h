/*-------------------------------------------------------------------------
 *
 * gallery.h
 *		The gallery layer: the index access method biocrypt_gallery, whose
 *		pages hold only ciphertext (each entry a heap TID and the template's
 *		envelope, as stored in the heap) and are WAL-logged with generic
 *		WAL, so index files, backups and replicas never hold plaintext.
 *		Calls match/ and below; lifecycle/ may call it (eviction).
 *
 * Page layout.  Block 0 is the metapage; every other block is a data page
 * of entries, appended in order, each a GalleryEntry (a line pointer's
 * item).  There is no ordering and no free-space map: VACUUM removes dead
 * entries from a page in place, and inserts go to the last page.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_GALLERY_H
#define BIOCRYPT_GALLERY_H

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "storage/bufpage.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"

#define GALLERY_MAGIC			0x42474c59	/* "BGLY" */
#define GALLERY_VERSION			1
#define GALLERY_METAPAGE_BLKNO	0

/* strategies of the operator class: the distance operators */
#define GALLERY_L2_STRATEGY			1
#define GALLERY_COSINE_STRATEGY		2
#define GALLERY_NEG_IP_STRATEGY		3
#define GALLERY_HAMMING_STRATEGY	4
#define GALLERY_NSTRATEGIES			4

typedef struct GalleryMetaPageData
{
	uint32		magic;
	uint32		version;
	BlockNumber last_block;		/* the page inserts go to */
	uint64		entries;		/* entries ever appended, less those vacuumed */
} GalleryMetaPageData;

#define GalleryPageGetMeta(page) \
	((GalleryMetaPageData *) PageGetContents(page))

/* One index entry: the heap row and its template's envelope (ciphertext). */
typedef struct GalleryEntry
{
	ItemPointerData heaptid;
	uint16		pad;
	uint8		envelope[FLEXIBLE_ARRAY_MEMBER];
} GalleryEntry;

#define GALLERY_ENTRY_HEADER	offsetof(GalleryEntry, envelope)

/* galhandler.c */
extern void GalleryInit(void);

/* galpage.c: pages, under generic WAL */
extern void GalleryInitMetapage(Relation index, ForkNumber fork);
extern void GalleryAppend(Relation index, ItemPointer heaptid,
						  const uint8 *envelope, Size len);
extern Size GalleryMaxEnvelope(void);

/* galbuild.c, galinsert.c, galvacuum.c */
extern IndexBuildResult *GalleryBuild(Relation heap, Relation index,
									  struct IndexInfo *indexInfo);
extern void GalleryBuildEmpty(Relation index);
extern bool GalleryInsert(Relation index, Datum *values, bool *isnull,
						  ItemPointer heap_tid, Relation heap,
						  IndexUniqueCheck checkUnique, bool indexUnchanged,
						  struct IndexInfo *indexInfo);
extern IndexBulkDeleteResult *GalleryBulkDelete(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats,
												IndexBulkDeleteCallback callback,
												void *callback_state);
extern IndexBulkDeleteResult *GalleryVacuumCleanup(IndexVacuumInfo *info,
												   IndexBulkDeleteResult *stats);

#endif							/* BIOCRYPT_GALLERY_H */
