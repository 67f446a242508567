/*-------------------------------------------------------------------------
 *
 * auditsite.c
 *		Which table and column an access reads, from the plan.
 *
 * An operator or verify() call names no table: its template argument is a
 * Var somewhere in the plan of the executor that runs it.  Followed down
 * through joins, sorts and aggregates (OUTER_VAR / INNER_VAR refer to the
 * child's target list), it ends at a column of a scanned table, or at
 * something that is not a plain column (an expression, a function result),
 * for which the access's relation stays unknown.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/execdesc.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"

#include "audit/audit_internal.h"

/* Is site (a call's expression node) inside node? */
static bool
ContainsSite(Node *node, Node *site)
{
	if (node == NULL)
		return false;
	if (node == site)
		return true;
	return expression_tree_walker(node, ContainsSite, site);
}

/* The plan node whose expressions hold the call site (depth first). */
static Plan *
FindSitePlan(Plan *plan, Node *site)
{
	Plan	   *p;

	if (plan == NULL)
		return NULL;
	if (ContainsSite((Node *) plan->targetlist, site) ||
		ContainsSite((Node *) plan->qual, site))
		return plan;
	if ((p = FindSitePlan(plan->lefttree, site)) != NULL ||
		(p = FindSitePlan(plan->righttree, site)) != NULL)
		return p;
	if (IsA(plan, Append))
	{
		ListCell   *lc;

		foreach(lc, ((Append *) plan)->appendplans)
			if ((p = FindSitePlan(lfirst(lc), site)) != NULL)
				return p;
	}
	return NULL;
}

/* The node holding the site, in the main plan or a subplan. */
static Plan *
StatementSitePlan(PlannedStmt *ps, Node *site)
{
	Plan	   *p = FindSitePlan(ps->planTree, site);
	ListCell   *lc;

	foreach(lc, ps->subplans)
		if (p == NULL)
			p = FindSitePlan(lfirst(lc), site);
	return p;
}

/*
 * Follow a Var down the plan to a column of a scanned table: a join's or
 * an upper node's reference (OUTER_VAR, INNER_VAR) names an entry of its
 * child's target list.
 */
void
AuditResolveVar(Plan *plan, Var *var, List *rtable, Oid *relid, const char **col)
{
	for (int depth = 0; depth < 64 && var->varattno > 0; depth++)
	{
		Plan	   *child;
		TargetEntry *te;
		Node	   *expr;

		if (!IS_SPECIAL_VARNO(var->varno))
		{
			RangeTblEntry *rte = rt_fetch(var->varno, rtable);

			if (rte->rtekind == RTE_RELATION)
			{
				*relid = rte->relid;
				*col = get_attname(rte->relid, var->varattno, true);
			}
			return;
		}
		child = var->varno == OUTER_VAR ? (plan ? plan->lefttree : NULL) :
			var->varno == INNER_VAR ? (plan ? plan->righttree : NULL) : NULL;
		if (child == NULL || var->varattno > list_length(child->targetlist))
			return;
		te = list_nth(child->targetlist, var->varattno - 1);
		expr = (Node *) te->expr;
		while (expr != NULL && IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		if (expr == NULL || !IsA(expr, Var))
			return;
		var = (Var *) expr;
		plan = child;
	}
}

/*
 * The relation and column of the call's template argument: a plain column
 * of a table the running executor scans, followed through joins and upper
 * nodes; otherwise unknown (an expression, a function's argument).
 */
void
AuditResolveSite(Node *site, QueryDesc *qd, Oid *relid, const char **col)
{
	List	   *args = NIL;
	Node	   *arg;
	PlannedStmt *ps = qd != NULL ? qd->plannedstmt : NULL;

	*relid = InvalidOid;
	*col = NULL;
	if (site != NULL && IsA(site, FuncExpr))
		args = ((FuncExpr *) site)->args;
	else if (site != NULL && IsA(site, OpExpr))
		args = ((OpExpr *) site)->args;
	if (args == NIL || ps == NULL)
		return;
	arg = linitial(args);
	while (arg != NULL && IsA(arg, RelabelType))
		arg = (Node *) ((RelabelType *) arg)->arg;
	if (arg == NULL || !IsA(arg, Var))
		return;
	AuditResolveVar(IS_SPECIAL_VARNO(((Var *) arg)->varno) ? StatementSitePlan(ps, site) : NULL,
			   (Var *) arg, ps->rtable, relid, col);
}

/* The single table an INSERT or UPDATE writes, for enrolment events. */
Oid
AuditResultRelation(QueryDesc *qd)
{
	PlannedStmt *ps = qd != NULL ? qd->plannedstmt : NULL;

	if (ps == NULL || (ps->commandType != CMD_INSERT && ps->commandType != CMD_UPDATE) ||
		list_length(ps->resultRelations) != 1)
		return InvalidOid;
	return rt_fetch(linitial_int(ps->resultRelations), ps->rtable)->relid;
}
