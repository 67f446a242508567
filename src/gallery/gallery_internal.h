/*-------------------------------------------------------------------------
 *
 * gallery_internal.h
 *		Inside the gallery layer: the warm forms' slots and their memory,
 *		shared by galwarm.c (the region, slots, eviction, views), galload.c
 *		(filling a slot from the index's pages) and galsearch.c.
 *
 * One region of shared memory, biocrypt.gallery_memory bytes, is mapped
 * by the postmaster before any backend starts (huge pages where it can,
 * never in core dumps).  Each warm gallery owns one extent of it:
 *
 *		label sets		the distinct purpose lists of its templates
 *		versions		the version of each index page, as loaded
 *		entries			per entry: heap TID, label set, expiry
 *		payloads		the decrypted templates, 64-byte aligned, dense
 *
 * Entry (block b, item i) is number (b - 1) * per_block + i: a page's
 * entries can be reloaded alone.  An entry with an invalid TID is empty.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_GALLERY_INTERNAL_H
#define BIOCRYPT_GALLERY_INTERNAL_H

#include "port/atomics.h"
#include "storage/lwlock.h"

#include "gallery/gallery.h"

#define GALLERY_SLOTS			64
#define GALLERY_LABEL_SETS		32
#define GALLERY_LABELS_BYTES	MAXALIGN(1 + ENVELOPE_MAX_PURPOSES * (1 + ENVELOPE_MAX_PURPOSE_LEN))
#define GALLERY_ENTRY_EXPIRED	0x8000	/* in WarmEntry.labels: not decrypted */

typedef enum WarmState
{
	WARM_EMPTY = 0,
	WARM_WARMING,
	WARM_READY,
	WARM_REFUSED				/* cannot be warm as the index now is */
} WarmState;

typedef enum WarmProtection
{
	SWAPGUARD_NONE = 0,				/* swap present, not allowed */
	SWAPGUARD_LOCKED,				/* mlock within the memlock limit */
	SWAPGUARD_HUGE,					/* hugetlb pages, never swapped */
	SWAPGUARD_NOSWAP,				/* no swap device on the host */
	SWAPGUARD_ALLOWED				/* biocrypt.gallery_allow_swap */
} WarmProtection;

typedef struct WarmEntry
{
	ItemPointerData tid;
	uint16		labels;			/* label set, | GALLERY_ENTRY_EXPIRED */
	int64		expires;
} WarmEntry;

typedef struct WarmSlot
{
	Oid			dbid;
	Oid			indexoid;
	Oid			heapoid;
	Oid			relfilenode;	/* the index's file: REINDEX changes it */
	WarmState	state;
	WarmProtection protection;
	EnvelopeHeader shape;		/* format and layout of every entry */
	uint32		per_block;		/* most entries a page can hold */
	uint32		slot_size;		/* bytes per payload, 64-aligned */
	BlockNumber cap_blocks;		/* pages the extent has room for */
	BlockNumber nblocks;		/* pages loaded (the metapage included) */
	uint64		changes;		/* metapage counters when last refreshed */
	uint64		vacuums;
	int			nlabelsets;
	Size		offset;			/* extent in the region */
	Size		length;
	Size		used;			/* bytes of it ever written */
	uint64		generation;		/* raised whenever the extent moves */
	int64		templates;
	TimestampTz warmed_at;
	pg_atomic_uint64 scans;
	pg_atomic_uint64 compared;
	int			warming_pid;
	BlockNumber blocks_done;
	BlockNumber blocks_total;
} WarmSlot;

/* Do two templates share format and layout (one warm form, one scorer)? */
static inline bool
GallerySameShape(const EnvelopeHeader *a, const EnvelopeHeader *b)
{
	return a->format == b->format && a->dims == b->dims && a->flags == b->flags &&
		a->rows == b->rows && a->cols == b->cols &&
		a->bits_per_cell == b->bits_per_cell && a->payload_len == b->payload_len;
}

/* galwarm.c */
extern WarmSlot *WarmSlotAt(int i);
extern LWLock *WarmSlotLock(int i);
extern int	WarmFind(Oid indexoid);
extern int	WarmClaim(Relation index);
extern bool WarmReserve(int i, BlockNumber cap_blocks);
extern void WarmEvictSlot(int i);
extern void WarmRefuseSlot(int i, uint64 changes);
extern WarmProtection WarmProtect(void);
extern Size WarmExtentSize(const WarmSlot *s, BlockNumber cap_blocks);
extern char *WarmLabels(const WarmSlot *s);
extern uint64 *WarmVersions(const WarmSlot *s);
extern WarmEntry *WarmEntries(const WarmSlot *s);
extern uint8 *WarmPayloads(const WarmSlot *s);
extern bool WarmCanServe(Relation index);
extern void WarmAttach(int i);

/* galload.c */
extern int	WarmAcquire(Relation index);

/* what the session's purpose makes of the templates of one label set */
typedef enum GalleryVerdict
{
	GALLERY_VERDICT_SCORE = 0,
	GALLERY_VERDICT_SKIP,		/* enrolled for other purposes: counted */
	GALLERY_VERDICT_REFUSE		/* the session may not compare: an exception */
} GalleryVerdict;

/* one round of scoring, as the searching backend and the helpers do it */
typedef struct RoundSpec
{
	TimestampTz now;
	uint8		verdict[GALLERY_LABEL_SETS];	/* GalleryVerdict per label set */
	bool		shape_fits;		/* the warm slot's shape fits the probe */
	bool		want_expired;
	bool		has_after;		/* keep only candidates after this one */
	GalleryCandidate after;
	int			take;			/* candidates to keep */
} RoundSpec;

typedef struct TopTake
{
	GalleryCandidate *c;		/* a max-heap of the best, at most cap */
	int			n;
	int			cap;
	int64		compared;
	int64		expired;
	int64		denied;
	int64		purpose_skipped;
	int64		shape_skipped;
} TopTake;

#define SCORE_BATCH			64

typedef struct ScoreBatch
{
	int			n;
	const uint8 *payloads[SCORE_BATCH];
	ItemPointerData tids[SCORE_BATCH];
	double		dist[SCORE_BATCH];
} ScoreBatch;

/* galrank.c */
extern GalleryScorerBuilder gallery_scorer_builder;
extern int	GalleryCandCmp(const GalleryCandidate *a, const GalleryCandidate *b);
extern int	GalleryCandQsort(const void *a, const void *b);
extern void GalleryFlushBatch(ScoreBatch *b, GalleryScoreFn score, void *arg,
							  const RoundSpec *spec, TopTake *top);
extern void GalleryOfferExpired(TopTake *top, const RoundSpec *spec,
								const ItemPointerData *tid);
extern void GalleryOfferUnscored(TopTake *top, const RoundSpec *spec,
								 const ItemPointerData *tid);
extern void GalleryScoreEntries(const WarmSlot *s, Size first, Size last,
								const RoundSpec *spec, GalleryScoreFn score,
								void *arg, TopTake *top);

/* galhelper.c: background helpers that score chunks of a warm gallery */
#define GALLERY_HELPERS_MAX		16
#define GALLERY_CHUNK			16384	/* entries per chunk */

typedef struct HelperTeam
{
	int			n;
	int			ids[GALLERY_HELPERS_MAX];
	pg_atomic_uint64 *next;		/* the next chunk to score */
	pg_atomic_uint64 local;		/* the counter when alone */
	Size		nchunks;
} HelperTeam;

extern int	HelpersStart(HelperTeam *team, int want, int slot, const RoundSpec *spec,
						 const void *blob, Size blob_len, Size nentries);
extern bool HelpersNextChunk(HelperTeam *team, Size *chunk);
extern void HelpersFinish(HelperTeam *team, TopTake *tops);
extern void HelpersCancel(HelperTeam *team);

#endif							/* BIOCRYPT_GALLERY_INTERNAL_H */
