/*-------------------------------------------------------------------------
 *
 * galhelper.c
 *		Gallery helpers: background workers that score chunks of a warm
 *		gallery beside the backend that searches it.
 *
 * Why not PostgreSQL's parallel workers: a parallel worker is a new
 * process for every search, and a new process touches every page of the
 * warm form for the first time (a gallery of 1 GB is 262,144 pages of
 * 4 kB, or 512 huge pages), which costs more than the search.  A helper
 * lives as long as the server, so its page tables stay filled.  How many
 * help one search follows max_parallel_workers_per_gather, like a
 * Gather node; biocrypt.gallery_workers sets how many exist.
 *
 * A search claims idle helpers, gives each the probe (as the blob the
 * scorer builder reads; wiped after) and the round's rules, and scores
 * chunks itself; all take chunks from one counter.  The searching backend
 * holds the warm slot's lock meanwhile, so the entries cannot change.
 * Each helper keeps its best candidates, which the backend merges.  A
 * helper needs no database: the purpose verdicts come with the job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>
#include <sodium.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "core/core.h"
#include "gallery/gallery_internal.h"

#define HELPER_MAX_TAKE		4096
#define HELPER_IDLE_MS		60000	/* a helper left idle this long exits */
#define HELPER_BLOB_MAX		(ENVELOPE_MAX_DIMS * sizeof(float) + 2 * ENVELOPE_MAX_BITS / 8 + 256)

typedef enum HelperState
{
	HELPER_ABSENT = 0,
	HELPER_STARTING,			/* registered, not yet running */
	HELPER_IDLE,
	HELPER_CLAIMED,
	HELPER_ASSIGNED,
	HELPER_DONE,
	HELPER_FAILED
} HelperState;

typedef struct HelperJob
{
	slock_t		mutex;
	HelperState state;
	bool		cancel;			/* the search gave up: drop the job */
	int			pid;
	Latch	   *latch;
	Latch	   *leader_latch;
	int			leader_pid;
	int			slot;
	uint64		generation;		/* the warm slot as the search saw it */
	uint64		changes;
	RoundSpec	spec;
	Size		nentries;
	Size		nchunks;
	pg_atomic_uint64 next;		/* the team's counter, in its first job */
	pg_atomic_uint64 *team_next;
	int64		compared;
	int64		expired;
	int64		denied;
	char		error[256];
	int			ntop;
	GalleryCandidate top[HELPER_MAX_TAKE];
	Size		blob_len;
	char		blob[HELPER_BLOB_MAX];
} HelperJob;

static int	gallery_workers = 1;
static HelperJob *jobs = NULL;

static HelperJob *
Job(int h)
{
	return &jobs[h];
}

static Size
JobsSize(void)
{
	return MAXALIGN(sizeof(HelperJob)) * gallery_workers;
}

void
GalleryHelpersShmemRequest(void)
{
	RequestAddinShmemSpace(JobsSize());
}

void
GalleryHelpersShmemStartup(void)
{
	bool		found;

	if (gallery_workers == 0)
		return;
	jobs = ShmemInitStruct("biocrypt gallery helpers", JobsSize(), &found);
	if (found)
		return;
	for (int h = 0; h < gallery_workers; h++)
	{
		memset(Job(h), 0, offsetof(HelperJob, top));
		SpinLockInit(&Job(h)->mutex);
		pg_atomic_init_u64(&Job(h)->next, 0);
	}
}

static HelperState
StateOf(HelperJob *job)
{
	HelperState st;

	SpinLockAcquire(&job->mutex);
	st = job->state;
	SpinLockRelease(&job->mutex);
	return st;
}

/* The probe leaves shared memory with the job. */
static void
Release(HelperJob *job)
{
	sodium_memzero(job->blob, job->blob_len);
	job->blob_len = 0;
	SpinLockAcquire(&job->mutex);
	job->state = HELPER_IDLE;
	SpinLockRelease(&job->mutex);
}

/* Claim helper h if it is idle, or left done by a search that died. */
static bool
Claim(int h)
{
	HelperJob  *job = Job(h);
	bool		ok;

	SpinLockAcquire(&job->mutex);
	ok = job->state == HELPER_IDLE ||
		((job->state == HELPER_DONE || job->state == HELPER_FAILED) &&
		 kill(job->leader_pid, 0) != 0);
	if (ok)
		job->state = HELPER_CLAIMED;
	SpinLockRelease(&job->mutex);
	if (ok && job->blob_len > 0)
		sodium_memzero(job->blob, job->blob_len);
	return ok;
}

/* Give a claimed helper the round over warm slot's entries. */
static void
Assign(HelperTeam *team, HelperJob *job, int slot, const RoundSpec *spec,
	   const void *blob, Size blob_len, Size nentries)
{
	WarmSlot   *s = WarmSlotAt(slot);

	job->cancel = false;
	job->leader_latch = MyLatch;
	job->leader_pid = MyProcPid;
	job->slot = slot;
	job->generation = s->generation;
	job->changes = s->changes;
	job->spec = *spec;
	job->nentries = nentries;
	job->nchunks = team->nchunks;
	job->team_next = team->next;
	job->compared = job->expired = job->denied = 0;
	job->ntop = 0;
	job->error[0] = '\0';
	memcpy(job->blob, blob, blob_len);
	job->blob_len = blob_len;
	SpinLockAcquire(&job->mutex);
	job->state = HELPER_ASSIGNED;
	SpinLockRelease(&job->mutex);
	SetLatch(job->latch);
}

/*
 * Helpers start when searches want them, not with the server: a server
 * whose galleries are never searched in parallel keeps its worker slots.
 * The search that starts them goes on without them; later ones find them.
 */
static void
StartAbsent(int want)
{
	for (int h = 0; h < gallery_workers && want > 0; h++)
	{
		HelperJob  *job = Job(h);
		BackgroundWorker bgw;
		bool		start;

		SpinLockAcquire(&job->mutex);
		start = job->state == HELPER_ABSENT;
		if (start)
			job->state = HELPER_STARTING;
		SpinLockRelease(&job->mutex);
		if (!start)
			continue;
		want--;
		BiocryptWorkerInit(&bgw, "biocrypt gallery helper", "GalleryHelperMain",
						   BGWORKER_SHMEM_ACCESS, BGW_NEVER_RESTART);
		bgw.bgw_start_time = BgWorkerStart_PostmasterStart;
		bgw.bgw_main_arg = Int32GetDatum(h);
		if (!RegisterDynamicBackgroundWorker(&bgw, NULL))
		{
			SpinLockAcquire(&job->mutex);
			job->state = HELPER_ABSENT;
			SpinLockRelease(&job->mutex);
			return;				/* no free worker slot: no more tries now */
		}
	}
}

/*
 * Start up to want helpers on this round; returns how many.  The chunk
 * counter is shared with them, or the team's own when it is alone.
 */
int
HelpersStart(HelperTeam *team, int want, int slot, const RoundSpec *spec,
			 const void *blob, Size blob_len, Size nentries)
{
	team->n = 0;
	pg_atomic_init_u64(&team->local, 0);
	team->next = &team->local;
	team->nchunks = (nentries + GALLERY_CHUNK - 1) / GALLERY_CHUNK;
	if (want <= 0 || jobs == NULL || spec->take > HELPER_MAX_TAKE ||
		blob_len > HELPER_BLOB_MAX)
		return 0;
	for (int h = 0; h < gallery_workers && team->n < want; h++)
		if (Claim(h))
			team->ids[team->n++] = h;
	if (team->n < want)
		StartAbsent(want - team->n);
	if (team->n == 0)
		return 0;
	team->next = &Job(team->ids[0])->next;
	pg_atomic_write_u64(team->next, 0);
	for (int t = 0; t < team->n; t++)
		Assign(team, Job(team->ids[t]), slot, spec, blob, blob_len, nentries);
	return team->n;
}

/* The next chunk for whoever asks; false when all are taken. */
bool
HelpersNextChunk(HelperTeam *team, Size *chunk)
{
	uint64		c = pg_atomic_fetch_add_u64(team->next, 1);

	if (c >= team->nchunks)
		return false;
	*chunk = (Size) c;
	return true;
}

/* Wait for the team; each helper's best into tops[t] (cap: the take). */
void
HelpersFinish(HelperTeam *team, TopTake *tops)
{
	for (int t = 0; t < team->n; t++)
	{
		HelperJob  *job = Job(team->ids[t]);
		HelperState st;

		while ((st = StateOf(job)) != HELPER_DONE && st != HELPER_FAILED)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 10L, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (st == HELPER_FAILED)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("biocrypt: a gallery helper failed: %s", job->error),
					 errhidestmt(true), errhidecontext(true)));
		memcpy(tops[t].c, job->top, sizeof(GalleryCandidate) * job->ntop);
		tops[t].n = job->ntop;
		tops[t].cap = job->spec.take;
		tops[t].compared = job->compared;
		tops[t].expired = job->expired;
		tops[t].denied = job->denied;
		Release(job);
	}
	team->n = 0;
}

/* The search failed: its helpers drop their jobs. */
void
HelpersCancel(HelperTeam *team)
{
	for (int t = 0; t < team->n; t++)
	{
		HelperJob  *job = Job(team->ids[t]);
		HelperState st;

		job->cancel = true;
		st = StateOf(job);
		if (st != HELPER_ASSIGNED)
			Release(job);
		/* an assigned helper releases itself when it sees the cancel */
	}
	team->n = 0;
}

/* Score the job's chunks; its slot's lock is held by the searching backend. */
static void
Work(HelperJob *job, MemoryContext cxt)
{
	WarmSlot   *s = WarmSlotAt(job->slot);
	GalleryScoreFn score;
	void	   *arg;
	TopTake		top;
	uint64		c;

	if (s->generation != job->generation || s->changes != job->changes)
		ereport(ERROR,
				(errmsg_internal("biocrypt: the gallery changed under its search"),
				 errhidestmt(true), errhidecontext(true)));
	WarmAttach(job->slot);
	arg = gallery_scorer_builder(job->blob, job->blob_len, &s->shape, cxt, &score);
	memset(&top, 0, sizeof(top));
	top.c = job->top;
	top.cap = job->spec.take;
	while (!job->cancel && (c = pg_atomic_fetch_add_u64(job->team_next, 1)) < job->nchunks)
		GalleryScoreEntries(s, c * GALLERY_CHUNK,
							Min(job->nentries, (c + 1) * GALLERY_CHUNK),
							&job->spec, score, arg, &top);
	job->ntop = top.n;
	job->compared = top.compared;
	job->expired = top.expired;
	job->denied = top.denied;
}

/* Run one job; an error is handed to the searching backend. */
static void
RunJob(HelperJob *job, MemoryContext cxt)
{
	volatile HelperState done = HELPER_DONE;

	PG_TRY();
	{
		Work(job, cxt);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		strlcpy(job->error, ed->message ? ed->message : "error", sizeof(job->error));
		done = HELPER_FAILED;
	}
	PG_END_TRY();
	/* the probe's copies in cxt are wiped with it */
	MemoryContextReset(cxt);
	if (job->cancel)
		Release(job);
	else
	{
		SpinLockAcquire(&job->mutex);
		job->state = done;
		SpinLockRelease(&job->mutex);
		SetLatch(job->leader_latch);
	}
}

static void
HelperExit(int code, Datum arg)
{
	HelperJob  *job = Job(DatumGetInt32(arg));

	sodium_memzero(job->blob, job->blob_len);
	SpinLockAcquire(&job->mutex);
	job->state = HELPER_ABSENT;
	job->latch = NULL;
	SpinLockRelease(&job->mutex);
}

/* Idle too long: leave, unless claimed meanwhile. */
static bool
Retire(HelperJob *job)
{
	bool		idle;

	SpinLockAcquire(&job->mutex);
	idle = job->state == HELPER_IDLE;
	if (idle)
		job->state = HELPER_ABSENT;
	SpinLockRelease(&job->mutex);
	return idle;
}

PGDLLEXPORT void GalleryHelperMain(Datum main_arg);

/* A gallery helper: wait for a job, score, hand back, again. */
void
GalleryHelperMain(Datum main_arg)
{
	int			h = DatumGetInt32(main_arg);
	HelperJob  *job = Job(h);
	MemoryContext cxt;

	BackgroundWorkerUnblockSignals();
	cxt = AllocSetContextCreate(TopMemoryContext, "biocrypt gallery helper",
								ALLOCSET_DEFAULT_SIZES);
	before_shmem_exit(HelperExit, Int32GetDatum(h));
	SpinLockAcquire(&job->mutex);
	job->pid = MyProcPid;
	job->latch = MyLatch;
	job->state = HELPER_IDLE;
	SpinLockRelease(&job->mutex);
	for (;;)
	{
		int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								   HELPER_IDLE_MS, PG_WAIT_EXTENSION);

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (StateOf(job) == HELPER_ASSIGNED)
			RunJob(job, cxt);
		else if ((rc & WL_TIMEOUT) && Retire(job))
			proc_exit(0);
	}
}

/* biocrypt.gallery_workers: how many helpers may run. */
void
GalleryHelpersInit(void)
{
	DefineCustomIntVariable("biocrypt.gallery_workers",
							"Background workers that help searches of warm galleries.",
							"They start when searches want them and leave after a minute idle; a search uses up to max_parallel_workers_per_gather of them.",
							&gallery_workers, 1, 0, GALLERY_HELPERS_MAX,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}
