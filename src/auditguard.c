/*-------------------------------------------------------------------------
 *
 * auditguard.c
 *		Keeps DDL off the audit log.
 *
 * Row changes are refused by the table's triggers (auditworker.c).  Here
 * the utility hook refuses the commands that would get around them or
 * destroy the log: TRUNCATE, ALTER TABLE (which also disables triggers and
 * enables row-level security), DROP of the table, its triggers, the schema
 * or the extension, new rules, policies or triggers on it, and renames.
 * A superuser may set biocrypt.allow_audit_maintenance to run one anyway;
 * the command is then recorded (operation "policy") before it runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "audit.h"

static bool allow_audit_maintenance = false;

/*
 * The audit log's OID (InvalidOid where biocrypt is not installed), looked
 * up only for a statement that could concern it: every utility statement
 * passes through here.
 */
typedef struct LogRef
{
	bool		looked_up;
	Oid			oid;
} LogRef;

static Oid
LogOid(LogRef *log)
{
	if (!log->looked_up)
	{
		Oid			nsp = get_namespace_oid("biocrypt", true);

		log->oid = OidIsValid(nsp) ? get_relname_relid("audit_log", nsp) : InvalidOid;
		log->looked_up = true;
	}
	return log->oid;
}

static bool
IsAuditLog(const RangeVar *rv, LogRef *log)
{
	return rv != NULL && OidIsValid(LogOid(log)) &&
		RangeVarGetRelid(rv, NoLock, true) == LogOid(log);
}

/* Does a name list (schema.table[.object]) start with the audit log? */
static bool
NamesAuditLog(List *names, int trailing, LogRef *log)
{
	if (list_length(names) <= trailing)
		return false;
	return IsAuditLog(makeRangeVarFromNameList(list_truncate(list_copy(names),
															list_length(names) - trailing)),
					  log);
}

static bool
NameIs(Node *n, const char *name)
{
	return n != NULL && IsA(n, String) && strcmp(strVal(n), name) == 0;
}

/* A DROP that would remove the log (or its triggers, rules, policies). */
static bool
DropHitsLog(const DropStmt *stmt, LogRef *log)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Node	   *obj = lfirst(lc);

		switch (stmt->removeType)
		{
			case OBJECT_TABLE:
				if (NamesAuditLog(castNode(List, obj), 0, log))
					return true;
				break;
			case OBJECT_TRIGGER:
			case OBJECT_RULE:
			case OBJECT_POLICY:
				if (NamesAuditLog(castNode(List, obj), 1, log))
					return true;
				break;
			case OBJECT_SCHEMA:
			case OBJECT_EXTENSION:
				/* the schema and the extension are both named biocrypt */
				if (NameIs(obj, "biocrypt") && OidIsValid(LogOid(log)))
					return true;
				break;
			default:
				break;
		}
	}
	return false;
}

/* Would this utility statement change or remove the audit log? */
static bool
TouchesAuditLog(Node *parsetree, LogRef *log)
{
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_TruncateStmt:
			foreach(lc, ((TruncateStmt *) parsetree)->relations)
				if (IsAuditLog(lfirst(lc), log))
					return true;
			return false;
		case T_AlterTableStmt:
			return IsAuditLog(((AlterTableStmt *) parsetree)->relation, log);
		case T_RenameStmt:
			return IsAuditLog(((RenameStmt *) parsetree)->relation, log);
		case T_AlterObjectSchemaStmt:
			return IsAuditLog(((AlterObjectSchemaStmt *) parsetree)->relation, log);
		case T_CreateTrigStmt:
			return IsAuditLog(((CreateTrigStmt *) parsetree)->relation, log);
		case T_RuleStmt:
			return IsAuditLog(((RuleStmt *) parsetree)->relation, log);
		case T_CreatePolicyStmt:
			return IsAuditLog(((CreatePolicyStmt *) parsetree)->table, log);
		case T_AlterPolicyStmt:
			return IsAuditLog(((AlterPolicyStmt *) parsetree)->table, log);
		case T_DropStmt:
			return DropHitsLog((DropStmt *) parsetree, log);
		default:
			return false;
	}
}

/*
 * Called before every utility statement: refuse one that would change the
 * audit log, unless maintenance is allowed, in which case record it first.
 */
void
AuditGuardUtility(PlannedStmt *pstmt)
{
	LogRef		log = {false, InvalidOid};

	/* extension scripts (CREATE EXTENSION, updates) build the log */
	if (!IsTransactionState() || creating_extension)
		return;
	if (!TouchesAuditLog(pstmt->utilityStmt, &log))
		return;
	if (!allow_audit_maintenance)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("biocrypt: %s would change or remove the audit log",
						GetCommandTagName(CreateCommandTag(pstmt->utilityStmt))),
				 errhint("A superuser may SET biocrypt.allow_audit_maintenance = on; the command is then recorded.")));
	/* the server log keeps it even if the command drops the table */
	ereport(LOG,
			(errmsg("biocrypt: audit log maintenance by role \"%s\": %s",
					GetUserNameFromId(GetUserId(), false),
					GetCommandTagName(CreateCommandTag(pstmt->utilityStmt)))));
	AuditRecordEvent(AUDIT_OP_POLICY, LogOid(&log), NULL, 0);
}

void
AuditGuardInit(void)
{
	DefineCustomBoolVariable("biocrypt.allow_audit_maintenance",
							 "Allows commands that change or remove biocrypt.audit_log.",
							 "Each such command is recorded in the audit log before it runs.",
							 &allow_audit_maintenance, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
}
