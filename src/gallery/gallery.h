/*-------------------------------------------------------------------------
 *
 * gallery.h
 *		The gallery layer: the pages of the biocrypt_gallery index access
 *		method (ciphertext only, under generic WAL), their warm form (the
 *		decrypted templates in shared memory), and the search of either.
 *		Calls audit/ and below; match/ (the access method's scans,
 *		identify) and lifecycle/ (eviction) call it.
 *
 * Page layout.  Block 0 is the metapage; every other block is a data page
 * of entries, appended in order, each a GalleryEntry (a line pointer's
 * item).  There is no ordering and no free-space map: VACUUM removes dead
 * entries from a page in place, and inserts go to the last page.  Each
 * data page carries a version in its special space, raised by every change,
 * and the metapage counts the changes of the whole index, so a warm form
 * finds what changed by reading the pages themselves: on a standby too.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_GALLERY_H
#define BIOCRYPT_GALLERY_H

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "datatype/timestamp.h"
#include "storage/buf.h"
#include "storage/bufpage.h"
#include "storage/itemptr.h"
#include "utils/memutils.h"
#include "utils/relcache.h"

#include "base/envelope.h"

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
	uint64		changes;		/* raised by every append and every VACUUM */
	uint64		vacuums;		/* raised by every VACUUM that removed entries */
} GalleryMetaPageData;

#define GalleryPageGetMeta(page) \
	((GalleryMetaPageData *) PageGetContents(page))

/* Special space of a data page. */
typedef struct GalleryPageOpaqueData
{
	uint64		version;		/* raised by every change of the page */
} GalleryPageOpaqueData;

#define GalleryPageGetOpaque(page) \
	((GalleryPageOpaqueData *) PageGetSpecialPointer(page))

/* One index entry: the heap row and its template's envelope (ciphertext). */
typedef struct GalleryEntry
{
	ItemPointerData heaptid;
	uint16		pad;
	uint8		envelope[FLEXIBLE_ARRAY_MEMBER];
} GalleryEntry;

#define GALLERY_ENTRY_HEADER	offsetof(GalleryEntry, envelope)

/*
 * A search of one gallery: every entry is scored (from the warm form, or
 * decrypted from the index's pages where there is none), and the best are
 * kept; the caller takes them best first.  The caller gives the probe as
 * a blob that the registered scorer builder (match/galscore.c) turns into
 * a kernel for a given shape, in this backend or in a gallery helper, and
 * a shape check (false for templates that do not fit the probe).
 * Entries enrolled for other purposes than the session's, of another shape,
 * or expired are never scored, but counted (and returned after all others
 * when the caller wants them).  Entries the session may not use at all (no
 * purpose declared, or one not granted) are listed, for the caller to
 * check against the heap: a refusal applies only to rows it can see.
 *
 * Candidates are kept in rounds: the first keeps the best first_take; a
 * caller that needs more (rows it cannot see) gets the next ones by a new
 * round over everything, keeping eight times as many after the last one
 * taken.  Order: class, distance, heap TID.
 */
typedef void (*GalleryScoreFn) (void *arg, const uint8 *const *payloads,
								int n, double *dist);
typedef bool (*GalleryShapeFn) (void *arg, const EnvelopeHeader *hdr);
typedef void *(*GalleryScorerBuilder) (const void *blob, Size len,
									   const EnvelopeHeader *shape,
									   MemoryContext mcxt, GalleryScoreFn *score);

typedef enum GalleryClass
{
	GALLERY_CLASS_SCORED = 0,	/* a distance */
	GALLERY_CLASS_NAN,			/* no distance (cosine of a zero vector) */
	GALLERY_CLASS_UNSCORED		/* skipped or expired: NULL to an ORDER BY */
} GalleryClass;

typedef struct GalleryCandidate
{
	ItemPointerData tid;
	uint8		cls;			/* GalleryClass */
	double		distance;
} GalleryCandidate;

typedef struct GallerySearch
{
	/* set by the caller */
	TimestampTz now;
	GalleryShapeFn shape;
	void	   *arg;
	const void *blob;			/* the probe, for the scorer builder */
	Size		blob_len;
	int			first_take;		/* candidates kept by the first round */
	bool		want_expired;	/* return unscored entries, after the rest */
	bool		expired_exceptions; /* also list expired entries */
	/* results of the first round */
	bool		warm;			/* served by the warm form */
	int			participants;	/* processes that scored (1: this one) */
	int64		compared;
	int64		expired;
	int64		purpose_skipped;	/* enrolled for other purposes */
	int64		shape_skipped;	/* of another shape than the probe */
	int			nexceptions;
	ItemPointerData *exceptions;
	/* private (galsearch.c) */
	Relation	index;
	Buffer		metabuf;		/* pinned while the search lives */
	MemoryContext mcxt;
	GalleryCandidate *cands;
	int			ncands;
	int			nsafe;			/* candidates certain to come in this order */
	int			pos;
	bool		complete;		/* nothing beyond the candidates */
	int			take;
	int			rounds;
	bool		has_last;
	GalleryCandidate last;
	int			exceptions_cap;
} GallerySearch;

/* galpage.c: pages, under generic WAL */
extern void GalleryInitMetapage(Relation index, ForkNumber fork);
extern void GalleryInitDataPage(Page page);
extern void GalleryAppend(Relation index, const ItemPointerData *heaptid,
						  const uint8 *envelope, Size len);
extern Size GalleryMaxEnvelope(void);
extern void GalleryCheckMeta(Relation index, const GalleryMetaPageData *meta);
extern void GalleryReadMeta(Relation index, GalleryMetaPageData *meta);
extern GalleryEntry *GalleryPageEntry(Relation index, Page page, OffsetNumber off,
									  EnvelopeHeader *hdr);

/* galbuild.c, galvacuum.c */
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

/* galwarm.c: the warm forms in shared memory */
extern bool biocrypt_enable_gallery;
extern void GalleryInit(void);
extern void GalleryShmemRequest(void);
extern void GalleryShmemStartup(void);
extern void GalleryEvictIndex(Oid indexoid);
extern void GalleryEvictDatabase(Oid dbid);
extern void GalleryEvictAtCommit(Oid heapoid);
extern void GalleryForgetDead(Relation index, IndexBulkDeleteCallback callback,
							  void *callback_state);

/* galhelper.c: the gallery helpers (background workers) */
extern void GalleryHelpersInit(void);
extern void GalleryHelpersShmemRequest(void);
extern void GalleryHelpersShmemStartup(void);

/* galsearch.c: scoring a gallery, taking its candidates best first */
extern void GallerySetScorerBuilder(GalleryScorerBuilder builder);
extern void GallerySearchRun(Relation index, GallerySearch *gs);
extern bool GallerySearchNext(GallerySearch *gs, GalleryCandidate *out);
extern void GallerySearchEnd(GallerySearch *gs);
extern Oid	GalleryIndexOf(Relation heap, AttrNumber attnum);

#endif							/* BIOCRYPT_GALLERY_H */
