/*-------------------------------------------------------------------------
 *
 * disclosure.c
 *		How much a role that does not administer biocrypt learns from its
 *		scores: distances rounded to biocrypt.score_digits, and a budget of
 *		scores per role and subject in each biocrypt.score_window.
 *
 * A distance is a measurement of the template: d + 1 inner products or
 * Euclidean distances give a d-dimensional template back exactly, and one
 * Hamming distance per flipped bit gives a bit code back.  Random probes and
 * a linear solve do the same, so no filter on odd-looking probes can be the
 * defence; counting is.  Every score about a subject that such a role is
 * given (an operator's result, a verify() decision, a place in identify()'s
 * results) is charged, in shared memory, to the current role (the one
 * privileges are checked for) and the subject; past biocrypt.score_budget
 * within one biocrypt.score_window the call is refused (53400) and recorded
 * as denied, before the template is decrypted.  With
 * fewer scores than dimensions the best rebuild is the template's
 * projection onto the probes, far from the template itself.
 *
 * Subjects are hashed with SipHash under a key drawn when the server starts,
 * so a role cannot choose subjects that collide; a collision would only
 * merge two subjects' counts and refuse sooner.  The counts live in shared
 * memory only: a restart, which no ordinary role can cause, starts every
 * window afresh.  Administrators are neither charged nor rounded: they may
 * reveal templates anyway, and pgvector's exact operators are theirs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "core/core.h"
#include "match/match.h"
#include "match/probe.h"

#define BUDGET_PARTITIONS	16	/* a power of two, like the lock manager's */
#define BUDGET_TRANCHE		"biocrypt score budget"

/* Whose scores about whom: the current role, in one database. */
typedef struct BudgetKey
{
	Oid			dbid;
	Oid			roleid;
	uint64		subject;		/* keyed hash of the subject's UTF-8 bytes */
} BudgetKey;

typedef struct BudgetEntry
{
	BudgetKey	key;
	int64		window;			/* number of the window the counts are for */
	int64		disclosed;		/* scores given in that window */
	int64		previous;		/* scores given in the window before it */
	int64		refused;		/* scores refused in that window */
	int32		budget;			/* the budget in force at the last charge */
} BudgetEntry;

typedef struct BudgetShared
{
	uint8		hash_key[crypto_shorthash_KEYBYTES];
	LWLockPadded *locks;
} BudgetShared;

static const struct config_enum_entry match_metric_options[] = {
	{"cosine", KERNEL_METRIC_COSINE, false},
	{"l2", KERNEL_METRIC_L2, false},
	{"inner_product", KERNEL_METRIC_NEG_IP, false},
	{NULL, 0, false}
};

static char *match_threshold_text = NULL;
static double match_threshold = 0;
static bool match_threshold_set = false;
static int	match_metric = KERNEL_METRIC_COSINE;
static double match_threshold_bits = 0.32;

static int	score_digits = 2;
static double score_scale = 100.0;	/* 10^score_digits */
static int	score_budget = 64;
static int	score_window = 86400;	/* seconds */
static int	score_budget_entries = 131072;

static BudgetShared *budget_shared = NULL;
static HTAB *budget_hash = NULL;

/* whether the current role administers biocrypt, cached per role */
static Oid	exact_role = InvalidOid;
static bool exact_valid = false;
static bool exact = false;

static void
ForgetExact(Datum arg, int cacheid, uint32 hashvalue)
{
	exact_valid = false;
}

/*
 * Does the current role get exact, uncounted scores?  Superusers and
 * members of biocrypt_admin do.  Role membership is looked up once per
 * role until pg_authid or pg_auth_members change, not once per row.
 */
bool
ScoresExact(void)
{
	static bool registered = false;
	Oid			role = GetUserId();

	if (!registered)
	{
		CacheRegisterSyscacheCallback(AUTHOID, ForgetExact, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, ForgetExact, (Datum) 0);
		registered = true;
	}
	if (!exact_valid || role != exact_role)
	{
		exact = CurrentRoleAdministersBiocrypt();
		exact_role = role;
		exact_valid = true;
	}
	return exact;
}

static void
AssignScoreDigits(int newval, void *extra)
{
	score_scale = pow(10.0, newval);
}

/* A score as the current role may see it. */
double
ScoreRound(double d)
{
	if (isnan(d) || isinf(d) || ScoresExact())
		return d;
	return rint(d * score_scale) / score_scale;
}

/* GUC check hook: empty, or a finite number. */
static bool
CheckMatchThreshold(char **newval, void **extra, GucSource source)
{
	double	   *v;
	char	   *end;
	double		d;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	errno = 0;
	d = strtod(*newval, &end);
	while (*end == ' ')
		end++;
	if (errno != 0 || *end != '\0' || end == *newval || !isfinite(d))
	{
		GUC_check_errdetail("biocrypt.match_threshold must be a finite number, or empty.");
		return false;
	}
	/* GUC frees extra with free() */
	v = malloc(sizeof(double));
	if (v == NULL)
		return false;
	*v = d;
	*extra = v;
	return true;
}

static void
AssignMatchThreshold(const char *newval, void *extra)
{
	match_threshold_set = extra != NULL;
	match_threshold = extra ? *(double *) extra : 0;
}

/*
 * The threshold and metric of the decision-only forms for vectors, which
 * the administrator sets once a threshold has been chosen for the system.
 */
double
MatchThreshold(KernelMetric *metric)
{
	if (!match_threshold_set)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: biocrypt.match_threshold is not set"),
				 errdetail("verify() and identify_ranks() without a threshold decide at the threshold the administrator chose."),
				 errhint("A superuser sets biocrypt.match_threshold (and biocrypt.match_metric), e.g. with ALTER SYSTEM or ALTER ROLE ... SET."),
				 errhidestmt(true), errhidecontext(true)));
	*metric = (KernelMetric) match_metric;
	return match_threshold;
}

/* The threshold of the decision-only forms for bit codes. */
double
MatchThresholdBits(void)
{
	return match_threshold_bits;
}

/*
 * Where the current statement stands among the windows: its start decides,
 * so that a scan is not slowed by a clock read per row.  Counts are kept
 * per fixed window, and read as a sliding one: the previous window's count
 * weighs in by the share of it still within one window length of now, so
 * that the start of a window does not give a role a second budget at once.
 */
typedef struct WindowPos
{
	int64		window;			/* number of the current fixed window */
	double		remaining;		/* share of the previous one still counted */
} WindowPos;

static WindowPos
CurrentWindow(void)
{
	int64		span = (int64) score_window * USECS_PER_SEC;
	TimestampTz start = GetCurrentStatementStartTimestamp();
	WindowPos	pos;

	pos.window = start / span;
	pos.remaining = 1.0 - (double) (start % span) / (double) span;
	return pos;
}

static TimestampTz
WindowStart(int64 window)
{
	return (TimestampTz) (window * (int64) score_window * USECS_PER_SEC);
}

/* Scores an entry counts within one window length of now. */
static int64
Recent(const BudgetEntry *e, const WindowPos *pos)
{
	if (e->window == pos->window)
		return e->disclosed + (int64) ceil(e->previous * pos->remaining);
	if (e->window == pos->window - 1)
		return (int64) ceil(e->disclosed * pos->remaining);
	return 0;
}

/* Drop the entries that no longer count, to make room.  Takes every partition. */
static void
SweepPastWindows(const WindowPos *pos)
{
	HASH_SEQ_STATUS seq;
	BudgetEntry *e;

	for (int i = 0; i < BUDGET_PARTITIONS; i++)
		LWLockAcquire(&budget_shared->locks[i].lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, budget_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (e->window < pos->window - 1)
			hash_search(budget_hash, &e->key, HASH_REMOVE, NULL);
	for (int i = BUDGET_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&budget_shared->locks[i].lock);
}

typedef enum ChargeResult
{
	CHARGE_OK,
	CHARGE_SPENT,
	CHARGE_FULL
} ChargeResult;

/* Move an entry's counts to the current window. */
static void
RollForward(BudgetEntry *e, bool found, const WindowPos *pos)
{
	if (found && e->window == pos->window)
		return;
	e->previous = (found && e->window == pos->window - 1) ? e->disclosed : 0;
	e->window = pos->window;
	e->disclosed = 0;
	e->refused = 0;
}

/*
 * Charge one score to key; *disclosed is the count within one window
 * length before it.  Nothing is charged when the budget is spent; the
 * refusal is counted.
 */
static ChargeResult
ChargeEntry(const BudgetKey *key, const WindowPos *pos, int64 *disclosed)
{
	uint32		hashcode = get_hash_value(budget_hash, key);
	LWLock	   *lock = &budget_shared->locks[hashcode % BUDGET_PARTITIONS].lock;
	WindowPos	here = *pos;
	BudgetEntry *e;
	bool		found;
	ChargeResult r = CHARGE_OK;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	e = hash_search_with_hash_value(budget_hash, key, hashcode, HASH_ENTER_NULL, &found);
	if (e == NULL)
	{
		LWLockRelease(lock);
		return CHARGE_FULL;
	}
	/*
	 * A statement that began before another session's statement moved this
	 * entry to a later window (a long one, across the boundary) counts in
	 * that later window, with all of the window before it: moving the
	 * entry back would start its counts afresh.
	 */
	if (found && e->window > here.window)
	{
		here.window = e->window;
		here.remaining = 1.0;
	}
	RollForward(e, found, &here);
	e->budget = score_budget;
	*disclosed = Recent(e, &here);
	if (*disclosed >= score_budget)
	{
		e->refused++;
		r = CHARGE_SPENT;
	}
	else
		e->disclosed++;
	LWLockRelease(lock);
	return r;
}

/* Record the refusal of a score about subject, then raise it. */
static void
RefuseScore(FunctionCallInfo fcinfo, AuditEvent *ev, const char *subject,
			size_t len, ChargeResult r, int64 disclosed)
{
	char	   *s = pg_any_to_server(pnstrdup(subject, len), len, PG_UTF8);
	const char *span = GetConfigOptionByName("biocrypt.score_window", NULL, false);
	const char *role = GetUserNameFromId(GetUserId(), false);

	if (r == CHARGE_FULL)
	{
		AuditDenySubject(fcinfo, ev, "53400", s, "score budget table full");
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("biocrypt: no room left to count scores"),
				 errdetail("All %d entries of the score budget table are in use.",
						   score_budget_entries),
				 errhint("Raise biocrypt.score_budget_entries (server start), or search with identify(), which counts only the subjects it returns."),
				 errhidestmt(true), errhidecontext(true)));
	}
	AuditDenySubject(fcinfo, ev, "53400", s,
					 psprintf("score budget: " INT64_FORMAT " of %d within %s",
							  disclosed, score_budget, span));
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("biocrypt: score budget spent for a subject"),
			 errdetail("Role \"%s\" has been given " INT64_FORMAT " scores about this subject within the last %s (biocrypt.score_window); biocrypt.score_budget is %d.",
					   role, disclosed, span, score_budget),
			 errhint("Scores count for one biocrypt.score_window; an administrator sees spent budgets in biocrypt.score_budgets."),
			 errhidestmt(true), errhidecontext(true)));
}

/*
 * Charge one score about subject (UTF-8, len bytes) to the current role,
 * unless the current role gets exact scores or the budget is
 * off (-1).  Past the budget the refusal is recorded in ev's place (or
 * beside it) and raised.
 */
void
ScoreCharge(FunctionCallInfo fcinfo, AuditEvent *ev, const char *subject,
			size_t len)
{
	BudgetKey	key;
	WindowPos	pos;
	int64		disclosed = 0;
	ChargeResult r;

	if (score_budget < 0 || ScoresExact())
		return;
	if (budget_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: the score budget table is not available"),
				 errhint("biocrypt must be in shared_preload_libraries."),
				 errhidestmt(true), errhidecontext(true)));
	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.roleid = GetUserId();
	crypto_shorthash((uint8 *) &key.subject, (const uint8 *) subject, len,
					 budget_shared->hash_key);
	pos = CurrentWindow();
	r = ChargeEntry(&key, &pos, &disclosed);
	if (r == CHARGE_FULL)
	{
		SweepPastWindows(&pos);
		r = ChargeEntry(&key, &pos, &disclosed);
	}
	if (r != CHARGE_OK)
		RefuseScore(fcinfo, ev, subject, len, r, disclosed);
}

/* One role's line in biocrypt.score_budgets. */
typedef struct RoleUsage
{
	BudgetKey	key;			/* subject 0: per role and database */
	int64		subjects;
	int64		scores;
	int64		most;
	int64		near;
	int64		spent;
	int64		refused;
	int32		budget;
} RoleUsage;

/* Add one subject's counts to its role's line. */
static void
AddUsage(HTAB *roles, const BudgetEntry *e, const WindowPos *pos)
{
	BudgetKey	key = e->key;
	int64		recent = Recent(e, pos);
	RoleUsage  *u;
	bool		found;

	if (recent == 0 && (e->window != pos->window || e->refused == 0))
		return;
	key.subject = 0;
	u = hash_search(roles, &key, HASH_ENTER, &found);
	if (!found)
		memset((char *) u + sizeof(BudgetKey), 0, sizeof(RoleUsage) - sizeof(BudgetKey));
	u->subjects++;
	u->scores += recent;
	u->most = Max(u->most, recent);
	u->near += (recent * 5 >= (int64) e->budget * 4) ? 1 : 0;
	u->spent += (recent >= e->budget) ? 1 : 0;
	u->refused += (e->window == pos->window) ? e->refused : 0;
	u->budget = Max(u->budget, e->budget);
}

/* The counts within one window length of now, summed per role and database. */
static HTAB *
UsageByRole(const WindowPos *pos)
{
	HASHCTL		ctl;
	HTAB	   *roles;
	HASH_SEQ_STATUS seq;
	BudgetEntry *e;

	ctl.keysize = sizeof(BudgetKey);
	ctl.entrysize = sizeof(RoleUsage);
	ctl.hcxt = CurrentMemoryContext;
	roles = hash_create("biocrypt score budgets", 64, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < BUDGET_PARTITIONS; i++)
		LWLockAcquire(&budget_shared->locks[i].lock, LW_SHARED);
	hash_seq_init(&seq, budget_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
		AddUsage(roles, e, pos);
	for (int i = BUDGET_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&budget_shared->locks[i].lock);
	return roles;
}

PG_FUNCTION_INFO_V1(biocrypt_score_budgets);
/*
 * The current window's score counts per role and database: how many
 * subjects each role was given scores about, the most about one, how many
 * subjects are near (80 %) or at the budget, and the scores refused.
 */
Datum
biocrypt_score_budgets(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WindowPos	pos = CurrentWindow();
	HASH_SEQ_STATUS seq;
	RoleUsage  *u;
	HTAB	   *roles;

	InitMaterializedSRF(fcinfo, 0);
	if (budget_hash == NULL)
		return (Datum) 0;
	roles = UsageByRole(&pos);
	hash_seq_init(&seq, roles);
	while ((u = hash_seq_search(&seq)) != NULL)
	{
		Datum		values[10];
		bool		nulls[10] = {0};
		char	   *db = get_database_name(u->key.dbid);
		char	   *role = GetUserNameFromId(u->key.roleid, true);

		nulls[0] = db == NULL;
		values[0] = db ? CStringGetTextDatum(db) : (Datum) 0;
		nulls[1] = role == NULL;
		values[1] = role ? CStringGetTextDatum(role) : (Datum) 0;
		values[2] = TimestampTzGetDatum(WindowStart(pos.window));
		values[3] = Int64GetDatum(u->subjects);
		values[4] = Int64GetDatum(u->scores);
		values[5] = Int64GetDatum(u->most);
		values[6] = Int32GetDatum(u->budget);
		values[7] = Int64GetDatum(u->near);
		values[8] = Int64GetDatum(u->spent);
		values[9] = Int64GetDatum(u->refused);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

void
DisclosureShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(BudgetShared)) +
						   hash_estimate_size(score_budget_entries, sizeof(BudgetEntry)));
	RequestNamedLWLockTranche(BUDGET_TRANCHE, BUDGET_PARTITIONS);
}

/* Called with AddinShmemInitLock held. */
void
DisclosureShmemStartup(void)
{
	HASHCTL		info;
	bool		found;

	budget_shared = ShmemInitStruct("biocrypt score budget", sizeof(BudgetShared), &found);
	if (!found)
	{
		crypto_shorthash_keygen(budget_shared->hash_key);
		budget_shared->locks = GetNamedLWLockTranche(BUDGET_TRANCHE);
	}
	info.keysize = sizeof(BudgetKey);
	info.entrysize = sizeof(BudgetEntry);
	info.num_partitions = BUDGET_PARTITIONS;
	budget_hash = ShmemInitHash("biocrypt score budgets", score_budget_entries,
								score_budget_entries, &info,
								HASH_ELEM | HASH_BLOBS | HASH_PARTITION);
}

/* Define the score settings. */
void
DisclosureInit(void)
{
	DefineCustomStringVariable("biocrypt.match_threshold",
							   "Distance at or below which the decision-only verify() and identify_ranks() match vectors; empty: not set.",
							   NULL, &match_threshold_text, "",
							   PGC_SUSET, 0, CheckMatchThreshold,
							   AssignMatchThreshold, NULL);
	DefineCustomEnumVariable("biocrypt.match_metric",
							 "Metric of the decision-only verify() and identify_ranks() for vectors.",
							 NULL, &match_metric, KERNEL_METRIC_COSINE,
							 match_metric_options, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("biocrypt.match_threshold_bits",
							 "Fractional Hamming distance at or below which the decision-only forms match bit codes.",
							 NULL, &match_threshold_bits, 0.32, 0.0, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("biocrypt.score_digits",
							"Decimal places of the distances returned to roles that do not administer biocrypt.",
							NULL, &score_digits, 2, 0, 15,
							PGC_SUSET, 0, NULL, AssignScoreDigits, NULL);
	DefineCustomIntVariable("biocrypt.score_budget",
							"Scores about one subject a role may be given in one window; -1 counts none.",
							"Administrators are not counted.",
							&score_budget, 64, -1, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("biocrypt.score_window",
							"Length of the window in which score budgets are counted.",
							NULL, &score_window, 86400, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("biocrypt.score_budget_entries",
							"Role and subject pairs the score budget table can count in one window.",
							NULL, &score_budget_entries, 131072, 1024, INT_MAX / 2,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}
