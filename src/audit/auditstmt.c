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

#include "audit/audit.h"
#include "biocrypt.h"

typedef struct Pending
{
	QueryDesc  *qd;				/* owning executor; NULL: top-level statement */
	int			xact_level;		/* transaction nesting level when opened */
	Node	   *site;			/* last call site mapped here */
	AuditEntries entries;		/* matches, subjects or templates sealed */
	AuditEvent	ev;
} Pending;

static List *pending = NIL;		/* of Pending *, in TopMemoryContext */
static Pending *last_hit = NULL;
static QueryDesc **running = NULL;	/* executors inside Run/Finish */
static int	nrunning = 0;
static int	running_cap = 0;
static uint64 next_serial = 0;
static char last_sqlstate[6];	/* of the last ERROR, for failed events */

static bool IsCopyOut(const QueryDesc *qd);
static void FailOne(Pending *p);
static void BeginCopyQueryExports(QueryDesc *qd);
static void CountExports(const QueryDesc *qd, Oid relid, uint64 rows);

static ExecutorRun_hook_type prev_run = NULL;
static ExecutorFinish_hook_type prev_finish = NULL;
static ExecutorEnd_hook_type prev_end = NULL;
static ProcessUtility_hook_type prev_utility = NULL;
static emit_log_hook_type prev_emit_log = NULL;

/* The executor running the current call, or NULL. */
static QueryDesc *
CurrentQuery(void)
{
	return nrunning > 0 ? running[nrunning - 1] : NULL;
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

static Pending *
FindPending(QueryDesc *qd, AuditOperation op, Oid relid, const char *col)
{
	return FindPendingAt(qd, op, relid, col, GetCurrentTransactionNestLevel());
}

/* Fold probe knowledge (has, mixed, hash) of one event into another's. */
static void
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
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	if (p->ev.begun && !into->ev.begun)
	{
		into->ev.begun = true;
		into->ev.begun_id = p->ev.begun_id;
	}

	into->ev.templates_compared += p->ev.templates_compared;
	into->ev.expired_skipped += p->ev.expired_skipped;
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

static Pending *
OpenPending(QueryDesc *qd, AuditOperation op, Oid relid, const char *col)
{
	MemoryContext old;
	Pending    *p;

	old = MemoryContextSwitchTo(TopMemoryContext);
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
static Pending *
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
		p = OpenPending(qd, op, relid, col);
	p->site = site;
	last_hit = p;
	return p;
}

AuditEvent *
AuditAccess(FunctionCallInfo fcinfo, AuditOperation op)
{
	return &PendingFor(fcinfo, op, InvalidOid, NULL)->ev;
}

AuditEvent *
AuditAccessRelation(FunctionCallInfo fcinfo, AuditOperation op, Oid relid,
					const char *col)
{
	return &PendingFor(fcinfo, op, relid, col)->ev;
}

/*
 * Note the probe of a call.  *seen (kept with the caller's prepared probe)
 * holds the serial of the event that already has it, so the keyed hash is
 * computed once per probe and event, not per row.  Different probes in one
 * event leave probe_hmac NULL.
 */
void
AuditAccessProbe(AuditEvent *ev, uint64 *seen, const void *a, size_t alen,
				 const void *b, size_t blen)
{
	uint8		hmac[AUDIT_HASH_BYTES];

	if (*seen == ev->serial || ev->probe_mixed)
		return;
	*seen = ev->serial;
	AuditProbeHash(hmac, a, alen, b, blen);
	MergeProbe(&ev->has_probe, &ev->probe_mixed, ev->probe_hmac, true, false, hmac);
}

static Pending *
PendingOf(AuditEvent *ev)
{
	return (Pending *) ((char *) ev - offsetof(Pending, ev));
}

/* Add a match (verify, identify) to the event's list. */
void
AuditAddMatch(AuditEvent *ev, const char *subject, double distance)
{
	EntriesAddMatch(&PendingOf(ev)->entries, subject, distance);
}

/* Add a subject (reveal) to the event's list. */
void
AuditAddSubject(AuditEvent *ev, const char *subject)
{
	EntriesAddSubject(&PendingOf(ev)->entries, subject);
}

/* Add a template sealed (protect) or sealed again (retain). */
void
AuditAddSealed(AuditEvent *ev, bytea *tpl, const EnvelopeHeader *hdr)
{
	EntriesAddSealed(&PendingOf(ev)->entries, tpl, hdr);
}

/* A column policy sealed old_tpl again with its own labels as new_tpl. */
void
AuditReplaceSealed(AuditEvent *ev, bytea *old_tpl, const EnvelopeHeader *old_hdr,
				   bytea *new_tpl, const EnvelopeHeader *new_hdr)
{
	EntriesReplaceSealed(&PendingOf(ev)->entries, old_tpl, old_hdr, new_tpl, new_hdr);
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

/* The match list as a JSON array; NULL for operations that have none. */
static char *
MatchesJson(Pending *p)
{
	switch (p->ev.operation)
	{
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
static void
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

/* Record an event at once (identify, before it returns its rows). */
void
AuditRecordNow(AuditEvent *ev)
{
	RecordPending(PendingOf(ev));
}

/*
 * Before the first decryption counted in ev: commit the event's begun row,
 * who is accessing what, for which purpose, with which probe.  Its
 * completion, with the counts and matches, follows when the statement
 * ends.  Later calls return at once.
 */
void
AuditBegin(AuditEvent *ev)
{
	AuditEvent *b;
	int64		id;

	if (ev->begun)
		return;
	b = palloc0(sizeof(AuditEvent));
	memcpy(b, ev, offsetof(AuditEvent, matches));
	b->outcome = AUDIT_OUTCOME_BEGUN;
	b->sqlstate[0] = '\0';
	b->templates_compared = 0;
	b->expired_skipped = 0;
	b->begun_id = 0;
	b->matches_len = -1;
	b->matches_dsm = DSM_HANDLE_INVALID;
	id = AuditRecord(b);
	pfree(b);
	ev->begun = true;
	ev->begun_id = id;
}

/*
 * A refusal (purpose limitation) of an access counted in ev, recorded
 * before the caller raises its error: the attempt is on record whatever
 * becomes of the statement.  ev itself becomes the "denied" event if
 * nothing was accessed through it yet; otherwise a denied event of its
 * own is recorded, with ev's relation, metric, threshold, k and probe.
 */
void
AuditDeny(FunctionCallInfo fcinfo, AuditEvent *ev)
{
	Pending    *p = PendingOf(ev);

	if (ev->begun || ev->templates_compared != 0 || ev->expired_skipped != 0 ||
		p->entries.n != 0)
	{
		p = PendingFor(fcinfo, AUDIT_OP_DENIED, ev->relation,
					   NameStr(ev->column_name)[0] ? NameStr(ev->column_name) : NULL);
		memcpy(p->ev.metric, ev->metric, sizeof(p->ev.metric));
		p->ev.has_threshold = ev->has_threshold;
		p->ev.threshold = ev->threshold;
		p->ev.k = ev->k;
		MergeProbe(&p->ev.has_probe, &p->ev.probe_mixed, p->ev.probe_hmac,
				   ev->has_probe, ev->probe_mixed, ev->probe_hmac);
	}
	p->ev.operation = AUDIT_OP_DENIED;
	p->ev.outcome = AUDIT_OUTCOME_DENIED;
	strlcpy(p->ev.sqlstate, "42501", sizeof(p->ev.sqlstate));
	RecordPending(p);
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

static void
AuditExecutorRun(QueryDesc *qd, ScanDirection dir, uint64 count, bool execute_once)
{
	int			depth = nrunning;

	if (IsCopyOut(qd))
		BeginCopyQueryExports(qd);
	PushRunning(qd);
	PG_TRY();
	{
		if (prev_run)
			prev_run(qd, dir, count, execute_once);
		else
			standard_ExecutorRun(qd, dir, count, execute_once);
	}
	PG_FINALLY();
	{
		nrunning = depth;
	}
	PG_END_TRY();
}

static void
AuditExecutorFinish(QueryDesc *qd)
{
	int			depth = nrunning;

	PushRunning(qd);
	PG_TRY();
	{
		if (prev_finish)
			prev_finish(qd);
		else
			standard_ExecutorFinish(qd);
	}
	PG_FINALLY();
	{
		nrunning = depth;
	}
	PG_END_TRY();
}

static void
AuditExecutorEnd(QueryDesc *qd)
{
	uint64		rows = qd->estate != NULL ? qd->estate->es_processed : 0;

	/* this waits for the query's parallel workers to finish */
	if (prev_end)
		prev_end(qd);
	else
		standard_ExecutorEnd(qd);
	/* during abort cleanup the abort callback records them as failed */
	if (!IsTransactionState())
		return;
	if (pending == NIL)
		return;
	CountExports(qd, InvalidOid, rows);
	RecordFor(qd);
	if (nrunning == 0)
		RecordFor(NULL);
}

/* Does this executor write COPY (query) TO's output? */
static bool
IsCopyOut(const QueryDesc *qd)
{
	return qd->dest != NULL && qd->dest->mydest == DestCopyOut &&
		qd->plannedstmt != NULL && qd->plannedstmt->planTree != NULL &&
		qd->tupDesc != NULL && !IsParallelWorker();
}

/*
 * The begun export event of relid.col, opened for qd (NULL: a COPY table
 * TO statement) before the first row is copied.
 */
static void
BeginExport(QueryDesc *qd, Oid relid, const char *col)
{
	Pending    *p = FindPending(qd, AUDIT_OP_EXPORT, relid, col);

	if (p == NULL)
		p = OpenPending(qd, AUDIT_OP_EXPORT, relid, col);
	AuditBegin(&p->ev);
}

/* The rows copied, into qd's export events (of relid, if valid). */
static void
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

/*
 * May the current role read column attnum of relid?  Only then does a
 * COPY TO that names it get as far as copying, and only then is an export
 * begun for it.
 */
static bool
MayCopyColumn(Oid relid, AttrNumber attnum)
{
	return pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK ||
		pg_attribute_aclcheck(relid, attnum, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
}

/*
 * COPY table TO (pg_dump's way of reading a table): an export of each
 * protected_template column copied, begun before the first row leaves.
 * Only ciphertext leaves, but who took copies of the templates, and when,
 * is part of the record.  Returns the table, locked as COPY will lock it.
 */
static Oid
BeginCopyTo(const CopyStmt *stmt)
{
	Oid			relid;
	Relation	rel;
	TupleDesc	desc;

	if (stmt->is_from || stmt->relation == NULL)
		return InvalidOid;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return InvalidOid;
	rel = table_open(relid, AccessShareLock);
	desc = CreateTupleDescCopy(RelationGetDescr(rel));
	table_close(rel, NoLock);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);
		ListCell   *lc;
		bool		listed = stmt->attlist == NIL;

		if (a->attisdropped || !TypeIsProtectedTemplate(a->atttypid))
			continue;
		foreach(lc, stmt->attlist)
			listed |= strcmp(strVal(lfirst(lc)), NameStr(a->attname)) == 0;
		if (listed && MayCopyColumn(relid, a->attnum))
			BeginExport(NULL, relid, NameStr(a->attname));
	}
	return relid;
}

/*
 * COPY (query) TO: an export of each template column of the output,
 * begun before the executor runs.
 */
static void
BeginCopyQueryExports(QueryDesc *qd)
{
	List	   *tlist = qd->plannedstmt->planTree->targetlist;

	for (int i = 0; i < qd->tupDesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(qd->tupDesc, i);
		TargetEntry *te = i < list_length(tlist) ? list_nth(tlist, i) : NULL;
		Oid			relid = InvalidOid;
		const char *col = NULL;

		if (a->attisdropped || !TypeIsProtectedTemplate(a->atttypid))
			continue;
		if (te != NULL && te->expr != NULL && IsA(te->expr, Var))
			AuditResolveVar(qd->plannedstmt->planTree, (Var *) te->expr,
					   qd->plannedstmt->rtable, &relid, &col);
		BeginExport(qd, relid, col);
	}
}

static void
AuditProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					ProcessUtilityContext context, ParamListInfo params,
					QueryEnvironment *queryEnv, DestReceiver *dest,
					QueryCompletion *qc)
{
	Oid			copied = InvalidOid;

	AuditGuardUtility(pstmt);
	if (IsA(pstmt->utilityStmt, CopyStmt) && IsTransactionState())
		copied = BeginCopyTo((CopyStmt *) pstmt->utilityStmt);
	if (prev_utility)
		prev_utility(pstmt, queryString, readOnlyTree, context, params,
					 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
	if (OidIsValid(copied))
		CountExports(NULL, copied, qc != NULL ? qc->nprocessed : 0);
	if (IsA(pstmt->utilityStmt, DropRoleStmt) && IsTransactionState())
		PurposeForgetDroppedRoles();
	if (IsA(pstmt->utilityStmt, RenameStmt) && IsTransactionState())
		PolicyFollowRename((RenameStmt *) pstmt->utilityStmt);
	if (pending != NIL && nrunning == 0 && IsTransactionState())
		RecordFor(NULL);
}

/* Remember the SQLSTATE of each ERROR for the events it fails. */
static void
AuditEmitLog(ErrorData *edata)
{
	if (edata->elevel >= ERROR)
		strlcpy(last_sqlstate, unpack_sql_state(edata->sqlerrcode), sizeof(last_sqlstate));
	if (prev_emit_log)
		prev_emit_log(edata);
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

void
AuditStmtInit(void)
{
	prev_run = ExecutorRun_hook;
	ExecutorRun_hook = AuditExecutorRun;
	prev_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = AuditExecutorFinish;
	prev_end = ExecutorEnd_hook;
	ExecutorEnd_hook = AuditExecutorEnd;
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = AuditProcessUtility;
	prev_emit_log = emit_log_hook;
	emit_log_hook = AuditEmitLog;
	RegisterXactCallback(AuditXactCallback, NULL);
	RegisterSubXactCallback(AuditSubXactCallback, NULL);
}
