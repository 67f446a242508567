/*-------------------------------------------------------------------------
 *
 * galwarm.c
 *		The warm forms of gallery indexes: one region of shared memory,
 *		its slots, how it is kept out of swap, eviction, and the views.
 *
 * The region is mapped by the postmaster when shared memory is created,
 * so every backend inherits it at the same address.  It is never written
 * to a core dump (MADV_DONTDUMP), and it is kept out of swap by huge pages
 * (hugetlb pages are never swapped) or by mlock when it fits the memlock
 * limit; otherwise warming checks that the host has no swap device, and
 * refuses unless a superuser has set biocrypt.gallery_allow_swap.  An
 * evicted extent is zeroed before it is given back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sodium.h>

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "core/core.h"
#include "crypto/keys.h"
#include "gallery/gallery_internal.h"
#include "template/template.h"

#define GALLERY_TRANCHE			"biocrypt_gallery"
#define REGION_HEADER			4096	/* the high-water mark lives here */
#define HUGE_PAGE_SIZE			(2 * 1024 * 1024)

typedef enum HugeSetting
{
	HUGE_OFF,
	HUGE_TRY,
	HUGE_ON
} HugeSetting;

static const struct config_enum_entry huge_options[] = {
	{"off", HUGE_OFF, false},
	{"try", HUGE_TRY, false},
	{"on", HUGE_ON, false},
	{NULL, 0, false}
};

typedef struct GalleryShared
{
	WarmProtection region_protection;	/* SWAPGUARD_HUGE, SWAPGUARD_LOCKED or NONE */
	Size		region_size;
	LWLockPadded *locks;		/* 0: the slot table; 1 + i: slot i */
	WarmSlot	slots[GALLERY_SLOTS];
} GalleryShared;

bool		biocrypt_enable_gallery = true;
static int	gallery_memory_mb = 1024;
static bool gallery_allow_swap = false;
static int	gallery_huge_pages = HUGE_TRY;
static char *gallery_swaps_file = NULL;

static GalleryShared *gallery_shared = NULL;
static char *region = NULL;		/* mapped by the postmaster, inherited */
static Size region_size = 0;
static WarmProtection region_protection = SWAPGUARD_NONE;
static List *evict_at_commit = NIL;
static uint64 attached[GALLERY_SLOTS];	/* generation mapped in, per slot */
static bool xact_callback_set = false;

WarmSlot *
WarmSlotAt(int i)
{
	return &gallery_shared->slots[i];
}

LWLock *
WarmSlotLock(int i)
{
	return &gallery_shared->locks[1 + i].lock;
}

static LWLock *
TableLock(void)
{
	return &gallery_shared->locks[0].lock;
}

/* The high-water mark of the region: bytes that may hold plaintext. */
static Size *
RegionHighWater(void)
{
	return (Size *) region;
}

/* Bytes an extent needs for cap_blocks pages of this slot's shape. */
Size
WarmExtentSize(const WarmSlot *s, BlockNumber cap_blocks)
{
	Size		entries = (Size) cap_blocks * s->per_block;

	return TYPEALIGN(64, GALLERY_LABEL_SETS * GALLERY_LABELS_BYTES +
					 sizeof(uint64) * cap_blocks + sizeof(WarmEntry) * entries) +
		(Size) s->slot_size * entries;
}

char *
WarmLabels(const WarmSlot *s)
{
	return region + s->offset;
}

uint64 *
WarmVersions(const WarmSlot *s)
{
	return (uint64 *) (WarmLabels(s) + GALLERY_LABEL_SETS * GALLERY_LABELS_BYTES);
}

WarmEntry *
WarmEntries(const WarmSlot *s)
{
	return (WarmEntry *) (WarmVersions(s) + s->cap_blocks);
}

uint8 *
WarmPayloads(const WarmSlot *s)
{
	return (uint8 *) TYPEALIGN(64, WarmEntries(s) + (Size) s->cap_blocks * s->per_block);
}

/*
 * Zero len bytes of the region and give their pages back where the kernel
 * can (a locked region keeps its pages, zeroed).
 */
static void
ZeroRange(char *p, Size len)
{
	char	   *start;
	char	   *end;

	if (len == 0)
		return;
	sodium_memzero(p, len);
	if (region_protection == SWAPGUARD_LOCKED)
		return;
	start = (char *) TYPEALIGN(HUGE_PAGE_SIZE, p);
	end = (char *) TYPEALIGN_DOWN(HUGE_PAGE_SIZE, p + len);
	if (end > start)
		(void) madvise(start, end - start, MADV_REMOVE);
}

/* Does the host have a swap device?  Unknown counts as yes. */
static bool
HostHasSwap(void)
{
	FILE	   *f = fopen(gallery_swaps_file, "r");
	char		line[512];
	int			lines = 0;

	if (f == NULL)
		return true;
	while (fgets(line, sizeof(line), f) != NULL)
		lines++;
	fclose(f);
	return lines > 1;			/* the first line is the header */
}

/*
 * How the warm form stays out of swap, checked when a gallery warms; an
 * ERROR naming the remedies when nothing keeps it out.
 */
WarmProtection
WarmProtect(void)
{
	if (region_protection != SWAPGUARD_NONE)
		return region_protection;
	if (!HostHasSwap())
		return SWAPGUARD_NOSWAP;
	if (gallery_allow_swap)
		return SWAPGUARD_ALLOWED;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("biocrypt: a warm gallery could be swapped out: this host has a swap device, and the gallery memory is neither locked nor in huge pages"),
			 errhint("Reserve huge pages (vm.nr_hugepages) for biocrypt.gallery_memory, raise the memlock limit above it, or remove the swap device; or let a superuser SET biocrypt.gallery_allow_swap = on."),
			 errhidestmt(true), errhidecontext(true)));
	return SWAPGUARD_NONE;			/* not reached */
}

/* Huge pages first (where allowed), else ordinary shared pages. */
static char *
MapPages(Size size)
{
	void	   *p = MAP_FAILED;

	if (gallery_huge_pages != HUGE_OFF)
	{
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p != MAP_FAILED)
			region_protection = SWAPGUARD_HUGE;
		else if (gallery_huge_pages == HUGE_ON)
			ereport(FATAL,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("biocrypt: could not map %zu MB of huge pages for biocrypt.gallery_memory: %m",
							size / (1024 * 1024)),
					 errhint("Raise vm.nr_hugepages, or set biocrypt.gallery_huge_pages = try."),
					 errhidestmt(true), errhidecontext(true)));
	}
	if (p == MAP_FAILED)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		ereport(FATAL,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("biocrypt: could not map %zu MB for biocrypt.gallery_memory: %m",
						size / (1024 * 1024)),
				 errhint("Lower biocrypt.gallery_memory."),
				 errhidestmt(true), errhidecontext(true)));
	return p;
}

/* Map the region (postmaster), or zero it after a crash's reinitialisation. */
static void
MapRegion(void)
{
	struct rlimit rl;

	if (region != NULL)
	{
		ZeroRange(region, *RegionHighWater());
		*RegionHighWater() = REGION_HEADER;
		return;
	}
	region_size = TYPEALIGN(HUGE_PAGE_SIZE, (Size) gallery_memory_mb * 1024 * 1024);
	if (region_size == 0)
		return;
	region = MapPages(region_size);
	(void) madvise(region, region_size, MADV_DONTDUMP);
	if (region_protection == SWAPGUARD_NONE && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
		(rl.rlim_cur == RLIM_INFINITY || region_size <= rl.rlim_cur) &&
		mlock(region, region_size) == 0)
		region_protection = SWAPGUARD_LOCKED;
	*RegionHighWater() = REGION_HEADER;
}

/* At the postmaster's exit: no plaintext outlives the server. */
static void
ZeroRegionAtExit(int code, Datum arg)
{
	if (region != NULL)
		ZeroRange(region, *RegionHighWater());
}

void
GalleryShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(GalleryShared)));
	RequestNamedLWLockTranche(GALLERY_TRANCHE, GALLERY_SLOTS + 1);
}

void
GalleryShmemStartup(void)
{
	bool		found;

	gallery_shared = ShmemInitStruct("biocrypt galleries", sizeof(GalleryShared), &found);
	if (found)
		return;
	memset(gallery_shared, 0, sizeof(GalleryShared));
	gallery_shared->locks = GetNamedLWLockTranche(GALLERY_TRANCHE);
	for (int i = 0; i < GALLERY_SLOTS; i++)
	{
		pg_atomic_init_u64(&gallery_shared->slots[i].scans, 0);
		pg_atomic_init_u64(&gallery_shared->slots[i].compared, 0);
	}
	if (IsUnderPostmaster)
		return;
	if (region == NULL)
		on_shmem_exit(ZeroRegionAtExit, (Datum) 0);
	MapRegion();
	gallery_shared->region_protection = region_protection;
	gallery_shared->region_size = region_size;
}

/* Can this index have a warm form at all? */
bool
WarmCanServe(Relation index)
{
	return region != NULL && gallery_shared != NULL &&
		index->rd_rel->relpersistence != RELPERSISTENCE_TEMP;
}

/* The slot of this database's index, or -1 (the slot table locked). */
static int
FindLocked(Oid indexoid)
{
	for (int i = 0; i < GALLERY_SLOTS; i++)
	{
		WarmSlot   *s = &gallery_shared->slots[i];

		if (s->state != WARM_EMPTY && s->dbid == MyDatabaseId && s->indexoid == indexoid)
			return i;
	}
	return -1;
}

/* The slot of this database's index, or -1. */
int
WarmFind(Oid indexoid)
{
	int			found;

	LWLockAcquire(TableLock(), LW_SHARED);
	found = FindLocked(indexoid);
	LWLockRelease(TableLock());
	return found;
}

/* A slot for this index: its own, or a free one made its own; -1 if none. */
int
WarmClaim(Relation index)
{
	int			found;

	LWLockAcquire(TableLock(), LW_EXCLUSIVE);
	found = FindLocked(RelationGetRelid(index));
	for (int i = 0; i < GALLERY_SLOTS && found < 0; i++)
	{
		WarmSlot   *s = &gallery_shared->slots[i];

		/* an empty slot holds nothing: ClearSlot (or start-up) saw to it */
		if (s->state != WARM_EMPTY)
			continue;
		s->dbid = MyDatabaseId;
		s->indexoid = RelationGetRelid(index);
		s->heapoid = index->rd_index->indrelid;
		s->relfilenode = index->rd_node.relNode;
		s->state = WARM_WARMING;
		s->warmed_at = 0;
		pg_atomic_write_u64(&s->scans, 0);
		pg_atomic_write_u64(&s->compared, 0);
		found = i;
	}
	LWLockRelease(TableLock());
	return found;
}

/*
 * First fit: the lowest offset where len bytes are free, or 0.  Slot self's
 * own extent counts as taken when its contents are to be copied over.
 */
static Size
FindGap(int self, Size len, bool keep_own)
{
	Size		at = REGION_HEADER;
	bool		moved = true;

	while (moved)
	{
		moved = false;
		for (int i = 0; i < GALLERY_SLOTS; i++)
		{
			WarmSlot   *s = &gallery_shared->slots[i];

			if ((i == self && !keep_own) || s->state == WARM_EMPTY || s->length == 0)
				continue;
			if (at < s->offset + s->length && s->offset < at + len)
			{
				at = TYPEALIGN(64, s->offset + s->length);
				moved = true;
			}
		}
	}
	return at + len <= region_size ? at : 0;
}

/*
 * Fill in the page tables for len bytes at p in one call, rather than one
 * fault per page as they are first touched (a warm gallery of 1 GB is
 * 262,144 pages of 4 kB); ignored where the kernel cannot (before 5.14).
 */
static void
Prefault(char *p, Size len, bool write)
{
	char	   *start = (char *) TYPEALIGN_DOWN(HUGE_PAGE_SIZE, p);

	if (len > 0)
		(void) madvise(start, (p + len) - start, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

/* Map slot i's extent into this backend's page tables, once per extent. */
void
WarmAttach(int i)
{
	WarmSlot   *s = &gallery_shared->slots[i];

	if (attached[i] == s->generation || region_protection == SWAPGUARD_LOCKED)
		return;
	Prefault(region + s->offset, s->used, false);
	attached[i] = s->generation;
}

/* Copy a slot's contents into an extent laid out for more pages. */
static void
MoveExtent(WarmSlot *s, Size new_offset, BlockNumber cap_blocks)
{
	WarmSlot	old = *s;
	Size		nentries = (Size) (s->nblocks > 0 ? s->nblocks - 1 : 0) * s->per_block;

	s->offset = new_offset;
	s->cap_blocks = cap_blocks;
	if (old.length > 0)
	{
		memcpy(WarmLabels(s), WarmLabels(&old), GALLERY_LABEL_SETS * GALLERY_LABELS_BYTES);
		memcpy(WarmVersions(s), WarmVersions(&old), sizeof(uint64) * old.cap_blocks);
		memcpy(WarmEntries(s), WarmEntries(&old), sizeof(WarmEntry) * nentries);
		memcpy(WarmPayloads(s), WarmPayloads(&old), (Size) s->slot_size * nentries);
	}
	/* what the old extent never held is zero already: the region starts so */
	memset(WarmVersions(s) + old.cap_blocks, 0,
		   sizeof(uint64) * (cap_blocks - old.cap_blocks));
	memset(WarmEntries(s) + nentries, 0,
		   sizeof(WarmEntry) * ((Size) cap_blocks * s->per_block - nentries));
}

/*
 * Make slot i's extent hold cap_blocks pages (the caller holds its lock
 * exclusively): its contents are copied to a larger extent, or, where only
 * its own place can grow, dropped (the slot then loads everything again:
 * nblocks is 0).  False when the region has no room: the gallery stays
 * cold.
 */
bool
WarmReserve(int i, BlockNumber cap_blocks)
{
	WarmSlot   *s = &gallery_shared->slots[i];
	Size		need = WarmExtentSize(s, cap_blocks);
	Size		old_offset = s->offset;
	Size		old_used = s->used;
	Size		at;
	bool		keep;

	if (s->length >= need && s->cap_blocks >= cap_blocks)
		return true;
	LWLockAcquire(TableLock(), LW_EXCLUSIVE);
	at = FindGap(i, need, true);
	keep = at != 0;
	if (!keep)
		at = FindGap(i, need, false);
	if (at != 0 && keep)
	{
		Prefault(region + at, need, true);
		MoveExtent(s, at, cap_blocks);
	}
	else if (at != 0)
	{
		/* the new extent overlaps the old one: start afresh */
		ZeroRange(region + old_offset, old_used);
		old_used = 0;
		s->offset = at;
		s->cap_blocks = cap_blocks;
		s->nblocks = 0;
		s->nlabelsets = 0;
		s->templates = 0;
		Prefault(region + at, need, true);
	}
	if (at != 0)
	{
		s->generation++;
		s->length = need;
		s->used = need;
		if (at + need > *RegionHighWater())
			*RegionHighWater() = at + need;
	}
	LWLockRelease(TableLock());
	if (at == 0)
		return false;
	if (old_used > 0)
		ZeroRange(region + old_offset, old_used);
	return true;
}

/* Zero slot i's extent and leave the slot empty, or refused at changes. */
static void
ClearSlot(int i, WarmState state, uint64 changes)
{
	WarmSlot   *s = &gallery_shared->slots[i];

	LWLockAcquire(WarmSlotLock(i), LW_EXCLUSIVE);
	if (s->used > 0)
		ZeroRange(region + s->offset, s->used);
	LWLockAcquire(TableLock(), LW_EXCLUSIVE);
	s->state = state;
	s->offset = s->length = s->used = 0;
	s->cap_blocks = s->nblocks = 0;
	s->templates = 0;
	s->nlabelsets = 0;
	s->per_block = 0;
	memset(&s->shape, 0, sizeof(s->shape));
	s->warming_pid = 0;
	s->changes = changes;
	LWLockRelease(TableLock());
	LWLockRelease(WarmSlotLock(i));
}

/* Zero slot i's extent and free the slot. */
void
WarmEvictSlot(int i)
{
	ClearSlot(i, WARM_EMPTY, 0);
}

/*
 * Zero slot i's extent and keep only the refusal: the gallery is searched
 * from its pages, and not warmed again until the index changes (the NOTICE
 * that said why is not repeated) or biocrypt.warm() asks.
 */
void
WarmRefuseSlot(int i, uint64 changes)
{
	ClearSlot(i, WARM_REFUSED, changes);
}

/* Evict every slot of database dbid (InvalidOid: all) that matches. */
static void
EvictMatching(Oid dbid, Oid indexoid, Oid heapoid)
{
	if (gallery_shared == NULL || region == NULL)
		return;
	for (int i = 0; i < GALLERY_SLOTS; i++)
	{
		WarmSlot   *s = &gallery_shared->slots[i];

		/* unlocked read: a slot claimed meanwhile is not ours to evict */
		if (s->state == WARM_EMPTY || s->dbid != dbid ||
			(OidIsValid(indexoid) && s->indexoid != indexoid) ||
			(OidIsValid(heapoid) && s->heapoid != heapoid))
			continue;
		WarmEvictSlot(i);
	}
}

/* DROP INDEX, REINDEX, TRUNCATE: the index's warm form goes at once. */
void
GalleryEvictIndex(Oid indexoid)
{
	EvictMatching(MyDatabaseId, indexoid, InvalidOid);
}

/* DROP DATABASE. */
void
GalleryEvictDatabase(Oid dbid)
{
	EvictMatching(dbid, InvalidOid, InvalidOid);
}

static void
EvictAtCommitCallback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		ListCell   *lc;

		foreach(lc, evict_at_commit)
			EvictMatching(MyDatabaseId, InvalidOid, lfirst_oid(lc));
	}
	list_free(evict_at_commit);
	evict_at_commit = NIL;
}

/*
 * When this transaction commits, evict the warm forms of heapoid's
 * galleries (InvalidOid: every gallery of the database): purge, erasure,
 * destroyed and rewrapped keys.  A rollback leaves them.
 */
void
GalleryEvictAtCommit(Oid heapoid)
{
	MemoryContext old;

	if (!xact_callback_set)
	{
		RegisterXactCallback(EvictAtCommitCallback, NULL);
		xact_callback_set = true;
	}
	if (!OidIsValid(heapoid))
		heapoid = InvalidOid;
	old = MemoryContextSwitchTo(TopMemoryContext);
	evict_at_commit = list_append_unique_oid(evict_at_commit, heapoid);
	MemoryContextSwitchTo(old);
}

/*
 * VACUUM removed entries from the index's pages: zero their plaintext now.
 * The pages changed, so the next scan reloads them too.
 */
void
GalleryForgetDead(Relation index, IndexBulkDeleteCallback callback,
				  void *callback_state)
{
	int			i;
	WarmSlot   *s;

	if (!WarmCanServe(index) || (i = WarmFind(RelationGetRelid(index))) < 0)
		return;
	s = &gallery_shared->slots[i];
	LWLockAcquire(WarmSlotLock(i), LW_EXCLUSIVE);
	if (s->state != WARM_EMPTY && s->indexoid == RelationGetRelid(index) && s->nblocks > 1)
	{
		WarmEntry  *e = WarmEntries(s);
		uint8	   *pl = WarmPayloads(s);
		Size		n = (Size) (s->nblocks - 1) * s->per_block;

		for (Size j = 0; j < n; j++)
		{
			if (!ItemPointerIsValid(&e[j].tid) || !callback(&e[j].tid, callback_state))
				continue;
			sodium_memzero(pl + j * s->slot_size, s->slot_size);
			ItemPointerSetInvalid(&e[j].tid);
			s->templates--;
		}
	}
	LWLockRelease(WarmSlotLock(i));
}

static const char *
ProtectionName(WarmProtection p)
{
	switch (p)
	{
		case SWAPGUARD_LOCKED:
			return "locked";
		case SWAPGUARD_HUGE:
			return "huge pages";
		case SWAPGUARD_NOSWAP:
			return "no swap";
		case SWAPGUARD_ALLOWED:
			return "allowed";
		default:
			return "none";
	}
}

typedef bool (*SlotRowFn) (WarmSlot *s, Datum *values, bool *nulls);

/* One row for each slot that fill takes, read under the slot table's lock. */
static Datum
SlotRows(FunctionCallInfo fcinfo, SlotRowFn fill)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (gallery_shared == NULL)
		return (Datum) 0;
	for (int i = 0; i < GALLERY_SLOTS; i++)
	{
		Datum		values[9];
		bool		nulls[9] = {0};
		bool		take;

		LWLockAcquire(TableLock(), LW_SHARED);
		take = fill(&gallery_shared->slots[i], values, nulls);
		LWLockRelease(TableLock());
		if (take)
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* A warm form of this database, as biocrypt.galleries shows it. */
static bool
StateRow(WarmSlot *s, Datum *values, bool *nulls)
{
	if (s->state == WARM_EMPTY || s->state == WARM_REFUSED || s->dbid != MyDatabaseId)
		return false;
	values[0] = ObjectIdGetDatum(s->indexoid);
	values[1] = CStringGetTextDatum(TemplateFormatName(s->shape.format));
	nulls[1] = s->shape.format == 0;
	values[2] = Int64GetDatum(s->templates);
	values[3] = Int64GetDatum((int64) s->length);
	values[4] = CStringGetTextDatum(ProtectionName(s->protection));
	values[5] = CStringGetTextDatum(s->state == WARM_READY ? "warm" : "warming");
	values[6] = TimestampTzGetDatum(s->warmed_at);
	nulls[6] = s->warmed_at == 0;
	values[7] = Int64GetDatum((int64) pg_atomic_read_u64(&s->scans));
	values[8] = Int64GetDatum((int64) pg_atomic_read_u64(&s->compared));
	return true;
}

/* A gallery warming now, as biocrypt.gallery_warm_progress shows it. */
static bool
ProgressRow(WarmSlot *s, Datum *values, bool *nulls)
{
	if (s->warming_pid == 0 || s->state == WARM_EMPTY)
		return false;
	values[0] = Int32GetDatum(s->warming_pid);
	values[1] = ObjectIdGetDatum(s->dbid);
	values[2] = ObjectIdGetDatum(s->indexoid);
	values[3] = Int64GetDatum((int64) s->blocks_total);
	values[4] = Int64GetDatum((int64) s->blocks_done);
	values[5] = Int64GetDatum(s->templates);
	return true;
}

PG_FUNCTION_INFO_V1(biocrypt_gallery_state);
/*
 * The warm forms of this database, for biocrypt.galleries: index, format,
 * templates, bytes, protection, state, warmed_at, scans, templates_compared.
 */
Datum
biocrypt_gallery_state(PG_FUNCTION_ARGS)
{
	return SlotRows(fcinfo, StateRow);
}

PG_FUNCTION_INFO_V1(biocrypt_gallery_warm_progress);
/* Galleries warming now, as pg_stat_progress_* shows its commands. */
Datum
biocrypt_gallery_warm_progress(PG_FUNCTION_ARGS)
{
	return SlotRows(fcinfo, ProgressRow);
}

/* Define the gallery settings. */
void
GalleryInit(void)
{
	/* a standby replaying a key's destruction evicts that database's galleries */
	DestroyedSetRedoHook(GalleryEvictDatabase);
	/* where the host lists its swap devices; tests point it at a file */
	DefineCustomStringVariable("biocrypt.gallery_swaps_file",
							   "File listing the host's swap devices, in the format of /proc/swaps.",
							   NULL, &gallery_swaps_file, "/proc/swaps",
							   PGC_POSTMASTER, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("biocrypt.enable_gallery",
							 "Lets searches use gallery indexes and their warm forms.",
							 "Off: identify() and ORDER BY scan the table, decrypting every template.",
							 &biocrypt_enable_gallery, true, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("biocrypt.gallery_memory",
							"Shared memory for the warm forms of gallery indexes.",
							"0 disables warm forms.",
							&gallery_memory_mb, 1024, 0, INT_MAX / 2,
							PGC_POSTMASTER, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomEnumVariable("biocrypt.gallery_huge_pages",
							 "Whether the gallery memory is mapped in huge pages (never swapped).",
							 NULL, &gallery_huge_pages, HUGE_TRY, huge_options,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("biocrypt.gallery_allow_swap",
							 "Lets galleries warm where their memory could be swapped out.",
							 NULL, &gallery_allow_swap, false, PGC_SUSET, 0,
							 NULL, NULL, NULL);
}
