/*-------------------------------------------------------------------------
 *
 * export.c
 *		COPY TO of template columns, recorded as exports.
 *
 * Only ciphertext leaves the server, but who took copies of the templates,
 * and when, is part of the record: each template column COPY sends (a
 * table's, or a query's output column) is an export event, begun before
 * the first row goes out and completed with the count of rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/rel.h"

#include "audit/audit_internal.h"
#include "core/core.h"

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

/*
 * A utility statement is about to run (biocrypt.c's ProcessUtility_hook):
 * COPY table TO is recorded as begun.  Returns the table it exports, or
 * InvalidOid.
 */
Oid
AuditUtilityBegin(PlannedStmt *pstmt)
{
	if (IsA(pstmt->utilityStmt, CopyStmt) && IsTransactionState())
		return BeginCopyTo((CopyStmt *) pstmt->utilityStmt);
	return InvalidOid;
}

/* It ran: count the rows COPY exported (qc may be NULL). */
void
AuditUtilityEnd(Oid copied, const QueryCompletion *qc)
{
	if (OidIsValid(copied))
		CountExports(NULL, copied, qc != NULL ? qc->nprocessed : 0);
}

/*
 * A query is about to run: COPY (query) TO's exports are recorded as begun
 * before its first row goes out (biocrypt.c's ExecutorRun_hook).
 */
void
AuditExportQueryBegin(QueryDesc *qd)
{
	if (IsCopyOut(qd))
		BeginCopyQueryExports(qd);
}

/* After ExecutorEnd: the rows qd processed are the rows it exported. */
void
AuditExportQueryEnd(QueryDesc *qd, uint64 rows)
{
	/* during abort cleanup the abort callback records them as failed */
	if (IsTransactionState())
		CountExports(qd, InvalidOid, rows);
}
