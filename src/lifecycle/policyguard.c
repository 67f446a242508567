/*-------------------------------------------------------------------------
 *
 * policyguard.c
 *		A column policy the table's owner cannot switch off.
 *
 * A registered column's policy is enforced by the triggers
 * biocrypt_column_policy and biocrypt_column_policy_check.  Its owner
 * could otherwise drop one, disable it, replace it, rename it out of the
 * way or change the column's type, and then store templates with any
 * retention and purposes, or in any row.  Called from biocrypt.c's
 * utility dispatcher before such a command runs: a role that is neither
 * superuser nor biocrypt_admin is refused (42501); an administrator's
 * command is recorded as a policy event first.
 *
 * A policy's subject column cannot be dropped by anyone (2BP01) while the
 * policy names it: an administrator first registers the column again
 * without it (or with another), which is recorded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "audit/audit.h"
#include "core/core.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/policy_internal.h"

/* Is name one of the policy's triggers? */
static bool
IsPolicyTrigger(const char *name)
{
	return name != NULL && (strcmp(name, POLICY_TRIGGER) == 0 ||
							strcmp(name, POLICY_CHECK_TRIGGER) == 0);
}

/*
 * Does biocrypt.columns have a row of relid matching query, whose $2 (if
 * it has one) is col?
 */
static bool
ColumnsRowExists(const char *query, Oid relid, const char *col)
{
	BiocryptSpi spi;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		args[2];
	bool		found;

	args[0] = ObjectIdGetDatum(relid);
	args[1] = col != NULL ? CStringGetTextDatum(col) : (Datum) 0;
	BiocryptSpiBegin(&spi);
	if (SPI_execute_with_args(query, col != NULL ? 2 : 1, argtypes, args, NULL,
							  true, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read biocrypt.columns"),
				 errhidestmt(true), errhidecontext(true)));
	found = SPI_processed > 0;
	BiocryptSpiEnd(&spi);
	return found;
}

/* Has relid a registered column (col NULL: any)? */
static bool
Registered(Oid relid, const char *col)
{
	if (!OidIsValid(relid))
		return false;
	return ColumnsRowExists(col != NULL ?
							"SELECT 1 FROM biocrypt.columns WHERE relation = $1 AND column_name = $2" :
							"SELECT 1 FROM biocrypt.columns WHERE relation = $1",
							relid, col);
}

/* The relation of a statement's RangeVar, as the command will find it. */
static Oid
RelidOf(RangeVar *rv)
{
	return rv != NULL ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;
}

/* Is the trigger named in "name ON table" (a DROP list item) the policy's? */
static Oid
DroppedPolicyTrigger(List *object)
{
	List	   *relname;
	char	   *trigname;

	if (list_length(object) < 2)
		return InvalidOid;
	trigname = strVal(llast(object));
	if (!IsPolicyTrigger(trigname))
		return InvalidOid;
	relname = list_truncate(list_copy(object), list_length(object) - 1);
	return RangeVarGetRelid(makeRangeVarFromNameList(relname), NoLock, true);
}

/*
 * Could an ALTER TABLE subcommand switch a policy off?  Only then is the
 * table (and its children) looked up in biocrypt.columns.
 */
static bool
MayAlterPolicy(AlterTableCmd *cmd)
{
	switch (cmd->subtype)
	{
		case AT_DisableTrig:
		case AT_EnableReplicaTrig:
			return IsPolicyTrigger(cmd->name);
		case AT_DisableTrigAll:
		case AT_DisableTrigUser:
		case AT_AlterColumnType:
			return true;
		default:
			return false;
	}
}

/* Does the subcommand switch off a policy of relid (whose column it names)? */
static bool
AltersPolicy(Oid relid, AlterTableCmd *cmd)
{
	return Registered(relid, cmd->subtype == AT_AlterColumnType ? cmd->name : NULL);
}

/* The registered table whose policy the statement would switch off. */
static Oid
PolicyTarget(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;
				ListCell   *lc;

				if (stmt->removeType != OBJECT_TRIGGER)
					return InvalidOid;
				foreach(lc, stmt->objects)
				{
					Oid			relid = DroppedPolicyTrigger(lfirst(lc));

					if (Registered(relid, NULL))
						return relid;
				}
				return InvalidOid;
			}
		case T_CreateTrigStmt:
			{
				CreateTrigStmt *stmt = (CreateTrigStmt *) parsetree;
				Oid			relid;

				if (!stmt->replace || !IsPolicyTrigger(stmt->trigname))
					return InvalidOid;
				relid = RelidOf(stmt->relation);
				return Registered(relid, NULL) ? relid : InvalidOid;
			}
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;
				Oid			relid;

				if (stmt->renameType != OBJECT_TRIGGER ||
					!IsPolicyTrigger(stmt->subname))
					return InvalidOid;
				relid = RelidOf(stmt->relation);
				return Registered(relid, NULL) ? relid : InvalidOid;
			}
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
				Oid			relid = RelidOf(stmt->relation);
				List	   *rels;
				ListCell   *lc;
				ListCell   *rc;

				if (stmt->objtype != OBJECT_TABLE || !OidIsValid(relid))
					return InvalidOid;
				foreach(lc, stmt->cmds)
				{
					if (!MayAlterPolicy(lfirst(lc)))
						continue;
					/* without ONLY, the command reaches partitions and children */
					rels = stmt->relation->inh ?
						find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
					foreach(rc, rels)
						if (AltersPolicy(lfirst_oid(rc), lfirst(lc)))
							return lfirst_oid(rc);
				}
				return InvalidOid;
			}
		default:
			return InvalidOid;
	}
}

/* Is col of relid the subject column of a policy? */
static bool
SubjectColumn(Oid relid, const char *col)
{
	if (!OidIsValid(relid) || col == NULL)
		return false;
	return ColumnsRowExists("SELECT 1 FROM biocrypt.columns WHERE relation = $1 "
							"AND subject_column = $2", relid, col);
}

/*
 * Refuse ALTER TABLE ... DROP COLUMN of a policy's subject column (on the
 * table or, without ONLY, a child), whoever runs it.
 */
static void
GuardSubjectColumns(AlterTableStmt *stmt)
{
	Oid			relid = RelidOf(stmt->relation);
	ListCell   *lc;
	ListCell   *rc;

	if (stmt->objtype != OBJECT_TABLE || !OidIsValid(relid))
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);
		List	   *rels;

		if (cmd->subtype != AT_DropColumn)
			continue;
		rels = stmt->relation->inh ?
			find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
		foreach(rc, rels)
			if (SubjectColumn(lfirst_oid(rc), cmd->name))
				ereport(ERROR,
						(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
						 errmsg("biocrypt: column \"%s\" of table \"%s\" is the subject column of a column policy",
								cmd->name, get_rel_name(lfirst_oid(rc))),
						 errhint("An administrator first registers the template column again without subject_column, with biocrypt.protect_column()."),
						 errhidestmt(true), errhidecontext(true)));
	}
}

/*
 * Before a utility statement: refuse one that would switch off a column
 * policy unless the role administers biocrypt; record it if it does.
 */
void
PolicyGuardUtility(PlannedStmt *pstmt)
{
	Node	   *stmt = pstmt->utilityStmt;
	const char *tag;
	Oid			relid;
	StringInfoData json;

	/* only these statements can reach the trigger: test that first */
	if (!IsA(stmt, DropStmt) && !IsA(stmt, CreateTrigStmt) &&
		!IsA(stmt, RenameStmt) && !IsA(stmt, AlterTableStmt))
		return;
	if (!IsTransactionState() || creating_extension ||
		!OidIsValid(BiocryptExtensionOid()))
		return;
	if (IsA(stmt, AlterTableStmt))
		GuardSubjectColumns((AlterTableStmt *) stmt);
	relid = PolicyTarget(stmt);
	if (!OidIsValid(relid))
		return;
	tag = GetCommandTagName(CreateCommandTag(stmt));
	if (!CurrentRoleAdministersBiocrypt())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("biocrypt: %s would switch off the column policy of table \"%s\"",
						tag, get_rel_name(relid)),
				 errdetail("The triggers %s and %s enforce the policy registered with biocrypt.protect_column.",
						   POLICY_TRIGGER, POLICY_CHECK_TRIGGER),
				 errhint("Only a superuser or a member of biocrypt_admin may do this, and it is recorded."),
				 errhidestmt(true), errhidecontext(true)));
	initStringInfo(&json);
	appendStringInfoString(&json, "[{\"action\": \"policy override\", \"command\": ");
	AuditJsonString(&json, tag);
	appendStringInfoString(&json, "}]");
	AuditRecordEventJson(AUDIT_OP_POLICY, relid, NULL, 0, json.data);
}
