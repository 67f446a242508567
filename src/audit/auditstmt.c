/*-------------------------------------------------------------------------
 *
 * auditstmt.c
 *		One audit event per statement, relation and kind of access.
 *
 * A comparison, enrolment or reveal runs once per row; its record must not.
 * Each call finds (or opens) the pending event of its executor, operation,
 * relation and column and adds to its counts.  Before an event's first
 * decryption (AuditBegin), or before COPY TO sends its first row, the
 * event's "begun" row is committed: whatever path a value derived from a
 * template then takes out of the server (a streamed row, a cursor, a
 * NOTICE, an error message, a sequence), the access is already on record.
 * The relation and column come from the call's first argument as planned
 * (auditsite.c), in the executor that is running the call
 * (ExecutorRun/ExecutorFinish keep a stack of them).  When the executor
 * ends, its events' completions are recorded: the statement waits for
 * them, except for comparisons and exports, whose begun row is already on
 * record (MayRecordLater).  A statement that fails records its events with
 * outcome "error" on the way out (abort and subtransaction-abort
 * callbacks), without waiting: the access already failed.  Calls outside any executor (PL/pgSQL simple expressions, COPY
 * FROM defaults) belong to the top-level statement and are recorded when
 * it ends.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "storage/dsm.h"

#include "audit/audit_internal.h"
#include "core/core.h"
#include "template/template.h"


static List *pending = NIL;		/* of Pending *, in AuditPendingMemory() */
static Pending *last_hit = NULL;
static QueryDesc **running = NULL;	/* executors inside Run/Finish */
static int	nrunning = 0;
static int	running_cap = 0;
static uint64 next_serial = 0;
static char last_sqlstate[6];	/* of the last ERROR, for failed events */

static void FailOne(Pending *p);


/* The executor running the current call, or NULL. */
static QueryDesc *
CurrentQuery(void)
{
	return nrunning > 0 ? running[nrunning - 1] : NULL;
}

/* The executor running the current call, or NULL (for the layers above). */
const void *
AuditCurrentQuery(void)
{
	return CurrentQuery();
}

static Pending *
FindPendingAt(const QueryDesc *qd, AuditOperation op, Oid relid, const char *col,
			  int level)
{
	ListCell   *lc;

	foreach(lc, pending)
	{
		Pending    *p = lfirst(lc);

		if (p->qd == qd && p->ev.operation == op && p->ev.relation == relid &&
			p->xact_level == level &&
			strcmp(NameStr(p->ev.column_name), col ? col : "") == 0)
			return p;
	}
	return NULL;
}

Pending *
FindPending(QueryDesc *qd, AuditOperation op, Oid relid, const char *col)
{
	return FindPendingAt(qd, op, relid, col, GetCurrentTransactionNestLevel());
}

/* Fold probe knowledge (has, mixed, hash) of one event into another's. */
void
MergeProbe(bool *has, bool *mixed, uint8 *hmac, bool from_has, bool from_mixed,
		   const uint8 *from_hmac)
{
	if (from_mixed || (from_has && *has && memcmp(hmac, from_hmac, AUDIT_HASH_BYTES) != 0))
	{
		*has = false;
		*mixed = true;
	}
	else if (from_has && !*mixed)
	{
		*has = true;
		memcpy(hmac, from_hmac, AUDIT_HASH_BYTES);
	}
}

/* Add event p's counts, matches, failure and begun row to into. */
static void
MergePending(Pending *into, Pending *p)
{
	MemoryContext old = MemoryContextSwitchTo(AuditPendingMemory());

	if (p->ev.begun && !into->ev.begun)
	{
		into->ev.begun = true;
		into->ev.begun_id = p->ev.begun_id;
	}

	into->ev.templates_compared += p->ev.templates_compared;
	into->ev.expired_skipped += p->ev.expired_skipped;
	into->ev.purpose_skipped += p->ev.purpose_skipped;
	into->ev.shape_skipped += p->ev.shape_skipped;
	EntriesAppend(&into->entries, &p->entries);
	if (p->ev.outcome != AUDIT_OUTCOME_OK)
	{
		into->ev.outcome = p->ev.outcome;
		memcpy(into->ev.sqlstate, p->ev.sqlstate, sizeof(into->ev.sqlstate));
	}
	MergeProbe(&into->ev.has_probe, &into->ev.probe_mixed, into->ev.probe_hmac,
			   p->ev.has_probe, p->ev.probe_mixed, p->ev.probe_hmac);
	MemoryContextSwitchTo(old);
}

Pending *
OpenPending(QueryDesc *qd, AuditOperation op, Oid relid, const char *col)
{
	MemoryContext old;
	Pending    *p;

	old = MemoryContextSwitchTo(AuditPendingMemory());
	p = palloc0(sizeof(Pending));

	p->qd = qd;
	p->xact_level = GetCurrentTransactionNestLevel();
	EntriesInit(&p->entries);
	AuditEventInit(&p->ev, op);
	AuditSetRelation(&p->ev, relid, col);
	p->ev.serial = ++next_serial;
	pending = lappend(pending, p);
	MemoryContextSwitchTo(old);
	return p;
}

/*
 * The pending event this call adds to.  relid may name the relation
 * (identify); else it is resolved from the call's template argument.
 */
Pending *
PendingFor(FunctionCallInfo fcinfo, AuditOperation op, Oid relid, const char *col)
{
	QueryDesc  *qd = CurrentQuery();
	Node	   *site = fcinfo->flinfo != NULL ? fcinfo->flinfo->fn_expr : NULL;
	Pending    *p;

	if (last_hit != NULL && last_hit->qd == qd && site != NULL && last_hit->site == site &&
		last_hit->ev.operation == op && !OidIsValid(relid) &&
		last_hit->xact_level == GetCurrentTransactionNestLevel())
		return last_hit;
	if (!OidIsValid(relid))
	{
		if (op == AUDIT_OP_PROTECT)
			relid = AuditResultRelation(qd);
		else
			AuditResolveSite(site, qd, &relid, &col);
	}
	p = FindPending(qd, op, relid, col);
	if (p == NULL)
	{
		p = OpenPending(qd, op, relid, col);
		/* enrolments and comparisons take plaintext in the statement */
		if (op == AUDIT_OP_PROTECT || op == AUDIT_OP_COMPARE ||
			op == AUDIT_OP_VERIFY || op == AUDIT_OP_IDENTIFY)
			SessionWithholdActivity();
	}
	p->site = site;
	last_hit = p;
	return p;
}

static void
RemovePending(Pending *p)
{
	pending = list_delete_ptr(pending, p);
	if (last_hit == p)
		last_hit = NULL;
	EntriesFree(&p->entries);
	pfree(p);
}

/*
 * The match list as a JSON array; NULL for operations that have none, for
 * comparisons with a probe, and for refusals that gave no reason of their
 * own (purpose: the SQLSTATE says it).
 */
static char *
MatchesJson(Pending *p)
{
	switch (p->ev.operation)
	{
		case AUDIT_OP_DENIED:
		case AUDIT_OP_COMPARE:	/* of stored templates with each other */
			if (p->entries.n == 0)
				return NULL;
			break;
		case AUDIT_OP_CALIBRATE:
		case AUDIT_OP_VERIFY:
		case AUDIT_OP_IDENTIFY:
		case AUDIT_OP_PROTECT:
		case AUDIT_OP_REVEAL:
		case AUDIT_OP_RETAIN:
			break;
		default:
			return NULL;
	}
	return EntriesJson(&p->entries);
}

/*
 * May the statement go on without waiting for ev's row?  Only the
 * completion of a comparison or export, whose begun row is on record, and
 * whose matches fit in a queue slot.  Identify and reveal wait: their
 * candidates and subjects are on record before they are returned.
 * Enrolments, refusals and retention events have no begun row.
 */
static bool
MayRecordLater(const AuditEvent *ev)
{
	return ev->begun_id != 0 && ev->matches_dsm == DSM_HANDLE_INVALID &&
		(ev->operation == AUDIT_OP_COMPARE || ev->operation == AUDIT_OP_VERIFY ||
		 ev->operation == AUDIT_OP_EXPORT);
}

/*
 * Record p, waiting for its row unless it may go later; it leaves the
 * pending list first.
 */
void
RecordPending(Pending *p)
{
	AuditEvent *ev = palloc(sizeof(AuditEvent));
	char	   *json = MatchesJson(p);

	memcpy(ev, &p->ev, sizeof(AuditEvent));
	RemovePending(p);
	if (json != NULL)
		AuditSetMatches(ev, json, strlen(json));
	if (MayRecordLater(ev))
		AuditRecordLater(ev);
	else
		(void) AuditRecord(ev);
	pfree(ev);
}

/* An event of a failed statement: error, with the SQLSTATE if known. */
static void
MarkFailed(Pending *p)
{
	if (p->ev.outcome == AUDIT_OUTCOME_OK)
	{
		p->ev.outcome = AUDIT_OUTCOME_ERROR;
		memcpy(p->ev.sqlstate, last_sqlstate, sizeof(p->ev.sqlstate));
	}
}

/* Record the events of qd (NULL: the top-level statement's loose ones). */
static void
RecordFor(const QueryDesc *qd)
{
	/* a copy to walk: recording removes events from the list */
	List	   *all = list_copy(pending);
	ListCell   *lc;

	foreach(lc, all)
		if (((Pending *) lfirst(lc))->qd == qd)
			RecordPending(lfirst(lc));
	list_free(all);
}

/*
 * A failed statement: hand its events (of nesting level >= level) to the
 * worker as errors, without waiting.
 */
static void
FailPending(int level)
{
	List	   *all = list_copy(pending);
	ListCell   *lc;

	foreach(lc, all)
		if (((Pending *) lfirst(lc))->xact_level >= level)
			FailOne(lfirst(lc));
	list_free(all);
}

/* Hand one event of a failed statement to the worker as an error, now. */
static void
FailOne(Pending *p)
{
	char	   *json = MatchesJson(p);

	MarkFailed(p);
	if (json != NULL && strlen(json) <= AUDIT_INLINE_MATCHES)
		AuditSetMatches(&p->ev, json, strlen(json));
	AuditRecordNoWait(&p->ev);
	RemovePending(p);
}

static void
PushRunning(QueryDesc *qd)
{
	if (nrunning == running_cap)
	{
		running_cap = Max(8, running_cap * 2);
		running = running == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(QueryDesc *) * running_cap) :
			repalloc(running, sizeof(QueryDesc *) * running_cap);
	}
	running[nrunning++] = qd;
}

/*
 * A query is about to run or finish, in biocrypt.c's executor hooks: the
 * events of calls made meanwhile belong to it until it ends.  Returns the
 * depth AuditExecEnd restores.
 */
int
AuditExecBegin(QueryDesc *qd)
{
	int			depth = nrunning;

	PushRunning(qd);
	return depth;
}

/* The query ran, or failed with sqlerrcode (0: it did not fail). */
void
AuditExecEnd(int depth, int sqlerrcode)
{
	nrunning = depth;
	if (sqlerrcode != 0)
		AuditNoteError(sqlerrcode);
}

/*
 * Remember the SQLSTATE of an ERROR for the events it fails.  biocrypt.c's
 * executor and utility dispatchers catch it on its way out, whatever
 * log_min_messages says; its emit_log_hook adds FATALs and errors raised
 * elsewhere, when they are logged.
 */
void
AuditNoteError(int sqlerrcode)
{
	strlcpy(last_sqlstate, unpack_sql_state(sqlerrcode), sizeof(last_sqlstate));
}

/*
 * After ExecutorEnd: record the query's events, and the statement's loose
 * ones when it was the outermost.
 */
void
AuditExecDone(QueryDesc *qd)
{
	/* during abort cleanup the abort callback records them as failed */
	if (!IsTransactionState())
		return;
	if (pending == NIL)
		return;
	RecordFor(qd);
	if (nrunning == 0)
		RecordFor(NULL);
}

/* The rows copied, into qd's export events (of relid, if valid). */
void
CountExports(const QueryDesc *qd, Oid relid, uint64 rows)
{
	ListCell   *lc;

	foreach(lc, pending)
	{
		Pending    *p = lfirst(lc);

		if (p->qd == qd && p->ev.operation == AUDIT_OP_EXPORT &&
			(!OidIsValid(relid) || p->ev.relation == relid))
			p->ev.templates_compared = (int64) rows;
	}
}

/* The end of a top-level utility statement: record its loose events. */
void
AuditStatementDone(void)
{
	if (pending != NIL && nrunning == 0 && IsTransactionState())
		RecordFor(NULL);
}

static void
AuditXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PARALLEL_PRE_COMMIT)
	{
		/* whatever no executor end recorded (an open cursor's, say) */
		while (pending != NIL)
			RecordPending(linitial(pending));
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		FailPending(0);
		nrunning = 0;
		last_sqlstate[0] = '\0';
	}
}

/*
 * A subtransaction failed, but the statement around it may go on (a
 * PL/pgSQL exception block): its events become failed parts of the
 * enclosing top-level statement's events, recorded when that ends.  So a
 * loop of caught errors gives one row per relation, not one per error.
 */
static void
RaisePending(int level)
{
	List	   *all = list_copy(pending);
	ListCell   *lc;

	foreach(lc, all)
	{
		Pending    *p = lfirst(lc);
		Pending    *into;

		if (p->xact_level < level)
			continue;
		MarkFailed(p);
		into = FindPendingAt(NULL, p->ev.operation, p->ev.relation,
							 NameStr(p->ev.column_name), level - 1);
		if (into != NULL && into->ev.begun && p->ev.begun)
		{
			/* two begun rows make two accesses: this one ends here */
			FailOne(p);
			continue;
		}
		if (into == NULL)
		{
			p->qd = NULL;
			p->xact_level = level - 1;
			p->site = NULL;
			continue;
		}
		MergePending(into, p);
		RemovePending(p);
	}
	list_free(all);
	last_sqlstate[0] = '\0';
}

static void
AuditSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		RaisePending(GetCurrentTransactionNestLevel());
}

/* Preload: follow transactions and subtransactions to their end. */
void
AuditStmtInit(void)
{
	RegisterXactCallback(AuditXactCallback, NULL);
	RegisterSubXactCallback(AuditSubXactCallback, NULL);
}
