/*-------------------------------------------------------------------------
 *
 * auditguard.c
 *		Keeps DDL off the audit log and the objects that guard it.
 *
 * Row changes to biocrypt.audit_log are refused by its triggers
 * (auditworker.c), which fire under every session_replication_role.  Here
 * the utility hook refuses the commands that would get around them: any
 * command that would change or remove an object of extension biocrypt.
 *
 * Objects are identified by OID through extension membership, never by
 * name.  The statement's target is resolved the way the command itself will
 * resolve it (RangeVarGetRelid, LookupFuncWithArgs, get_object_address, the
 * creation namespace for CREATE OR REPLACE), and it is protected when
 *	- it is a member of extension biocrypt (pg_depend deptype 'e'), which
 *	  covers the schema biocrypt, its tables, views, sequences, functions,
 *	  the type, the operators and the event trigger; or
 *	- it is such a relation's index, trigger, rule, policy, constraint or
 *	  column, a new one of those, or a new child or partition (messages and
 *	  audit rows then name the relation); or
 *	- it is the extension itself; or, for DROP and DROP OWNED, something the
 *	  extension depends on (its schema), which a CASCADE would take with it.
 * So renaming the schema or a table changes nothing: the OIDs stay members.
 * DROP OWNED and REASSIGN OWNED are refused when a role named owns the
 * extension or a member: DROP OWNED drops an extension its role owns, with
 * every member, without needing CASCADE.
 *
 * A superuser may set biocrypt.allow_audit_maintenance to run one anyway;
 * the command is then recorded (operation "policy", the command and the
 * objects in matches) before it runs.  GRANT, REVOKE, COMMENT, SECURITY
 * LABEL, VACUUM, ANALYZE, CLUSTER, REINDEX and LOCK are left alone, and so
 * is everything an extension script does and anything outside a
 * transaction.  Only the statement kinds listed in CollectTargets() do any
 * catalog lookup, and the extension's OID is looked up at most once per
 * statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_event_trigger.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_shdepend.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "parser/parse_oper.h"
#include "parser/parse_type.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/catcache.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "audit/audit_internal.h"
#include "core/core.h"

static bool allow_audit_maintenance = false;

/* One protected object that a statement would change or remove. */
typedef struct GuardTarget
{
	ObjectAddress addr;			/* what the messages name */
	Oid			relid;			/* its relation (audit row), or InvalidOid */
	char	   *desc;			/* getObjectDescription, schema-qualified */
	const char *why;			/* errdetail */
} GuardTarget;

/* One statement's check. */
typedef struct Guard
{
	bool		looked_up;
	Oid			extoid;			/* InvalidOid: biocrypt is not installed */
	bool		dropping;		/* what the extension depends on counts too */
	List	   *targets;		/* GuardTarget * */
} Guard;

static void CheckRelation(Guard *g, Oid relid);

/* The extension's OID, looked up once per statement. */
static Oid
GuardExtension(Guard *g)
{
	if (!g->looked_up)
	{
		g->extoid = BiocryptExtensionOid();
		g->looked_up = true;
	}
	return g->extoid;
}

/* Is the object the extension itself or one of its members? */
static bool
IsMember(Guard *g, Oid classId, Oid objectId)
{
	Oid			ext = GuardExtension(g);

	if (!OidIsValid(ext) || !OidIsValid(objectId))
		return false;
	if (classId == ExtensionRelationId)
		return objectId == ext;
	return getExtensionOfObject(classId, objectId) == ext;
}

/* Copies of a catalog's rows whose first two index columns are a and b. */
static List *
CatalogRows(Oid catalog, Oid index, AttrNumber col1, Oid a, AttrNumber col2, Oid b)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *rows = NIL;

	ScanKeyInit(&key[0], col1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(a));
	ScanKeyInit(&key[1], col2, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(b));
	scan = systable_beginscan(rel, index, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		rows = lappend(rows, heap_copytuple(tup));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return rows;
}

/* Does the extension itself depend on the object (its schema, say)? */
static bool
ExtensionNeeds(Guard *g, const ObjectAddress *addr)
{
	ListCell   *lc;

	if (!OidIsValid(GuardExtension(g)))
		return false;
	foreach(lc, CatalogRows(DependRelationId, DependDependerIndexId,
							Anum_pg_depend_classid, ExtensionRelationId,
							Anum_pg_depend_objid, g->extoid))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT((HeapTuple) lfirst(lc));

		if (dep->refclassid == addr->classId && dep->refobjid == addr->objectId)
			return true;
	}
	return false;
}

/*
 * The object's description with every schema spelled out: with only
 * pg_catalog in the search path nothing else is "visible", so an audit row
 * never says "table audit_log" for a table some search path shadows.
 */
static char *
Describe(const ObjectAddress *addr)
{
	OverrideSearchPath *path = GetOverrideSearchPath(CurrentMemoryContext);
	char	   *desc;

	path->schemas = NIL;
	path->addCatalog = true;
	path->addTemp = false;
	PushOverrideSearchPath(path);
	desc = getObjectDescription(addr, true);
	PopOverrideSearchPath();
	return desc != NULL ? desc : pstrdup("an object of extension biocrypt");
}

/* Remember a protected object. */
static void
AddTarget(Guard *g, ObjectAddress addr, Oid relid, const char *why)
{
	GuardTarget *t = palloc(sizeof(GuardTarget));

	t->addr = addr;
	t->relid = relid;
	t->desc = Describe(&addr);
	t->why = why;
	g->targets = lappend(g->targets, t);
}

/* A non-relation object: protected if a member (or, for DROP, needed). */
static void
CheckObject(Guard *g, Oid classId, Oid objectId)
{
	ObjectAddress addr;

	if (!OidIsValid(objectId))
		return;
	if (classId == RelationRelationId)
	{
		CheckRelation(g, objectId);
		return;
	}
	ObjectAddressSet(addr, classId, objectId);
	if (IsMember(g, classId, objectId))
		AddTarget(g, addr, InvalidOid, classId == ExtensionRelationId ?
				  "Extension biocrypt keeps the audit log." :
				  "It belongs to extension biocrypt, which keeps the audit log.");
	else if (g->dropping && ExtensionNeeds(g, &addr))
		AddTarget(g, addr, InvalidOid, "Extension biocrypt depends on it.");
}

/* A member relation, or an index of one, or a member composite type? */
static bool
ProtectedRelation(Guard *g, Oid relid)
{
	if (!OidIsValid(relid))
		return false;
	switch (get_rel_relkind(relid))
	{
		case RELKIND_INDEX:
		case RELKIND_PARTITIONED_INDEX:
			/* indexes are never members themselves: their table is */
			return IsMember(g, RelationRelationId, IndexGetRelation(relid, true));
		case RELKIND_COMPOSITE_TYPE:
			/* a composite type's membership is recorded on its pg_type row */
			return IsMember(g, TypeRelationId, get_rel_type_id(relid));
		default:
			return IsMember(g, RelationRelationId, relid);
	}
}

/* A relation: protected if a member, an index of one, a member type's. */
static void
CheckRelation(Guard *g, Oid relid)
{
	ObjectAddress addr;

	if (!ProtectedRelation(g, relid))
		return;
	ObjectAddressSet(addr, RelationRelationId, relid);
	AddTarget(g, addr, relid, "It belongs to extension biocrypt, which keeps the audit log.");
}

/* A relation named by the statement, resolved as the command will. */
static void
CheckRangeVar(Guard *g, RangeVar *rv)
{
	if (rv != NULL)
		CheckRelation(g, RangeVarGetRelid(rv, NoLock, true));
}

/*
 * A relation the statement may replace (CREATE OR REPLACE VIEW): the one of
 * that name in the namespace the command creates in, not the search path's.
 */
static void
CheckReplacedRelation(Guard *g, RangeVar *rv)
{
	/* members are never temporary; this also spares creating pg_temp */
	if (rv->relpersistence == RELPERSISTENCE_TEMP)
		return;
	CheckRelation(g, get_relname_relid(rv->relname, RangeVarGetCreationNamespace(rv)));
}

static bool
IsRelationType(ObjectType type)
{
	return type == OBJECT_TABLE || type == OBJECT_SEQUENCE || type == OBJECT_VIEW ||
		type == OBJECT_MATVIEW || type == OBJECT_INDEX || type == OBJECT_FOREIGN_TABLE;
}

/*
 * A non-relation object named by the statement, by the object node that
 * the command hands to get_object_address.  Kinds that can never be an
 * extension's member (databases, roles, tablespaces, ...) are not looked
 * up: locking them here could block connections.
 */
static ObjectAddress
ResolveObject(ObjectType type, Node *object)
{
	ObjectAddress addr = InvalidObjectAddress;
	Relation	rel = NULL;

	switch (type)
	{
		case OBJECT_SCHEMA:
			ObjectAddressSet(addr, NamespaceRelationId, get_namespace_oid(strVal(object), true));
			break;
		case OBJECT_EXTENSION:
			ObjectAddressSet(addr, ExtensionRelationId, get_extension_oid(strVal(object), true));
			break;
		case OBJECT_TYPE:
		case OBJECT_DOMAIN:
			/* ALTER TYPE ... OWNER/RENAME/SET SCHEMA pass a name list */
			if (IsA(object, List))
				object = (Node *) makeTypeNameFromNameList((List *) object);
			ObjectAddressSet(addr, TypeRelationId,
							 LookupTypeNameOid(NULL, (TypeName *) object, true));
			break;
		case OBJECT_FUNCTION:
		case OBJECT_PROCEDURE:
		case OBJECT_ROUTINE:
		case OBJECT_AGGREGATE:
			ObjectAddressSet(addr, ProcedureRelationId,
							 LookupFuncWithArgs(type, castNode(ObjectWithArgs, object), true));
			break;
		case OBJECT_ACCESS_METHOD:
		case OBJECT_CAST:
		case OBJECT_COLLATION:
		case OBJECT_CONVERSION:
		case OBJECT_EVENT_TRIGGER:
		case OBJECT_FDW:
		case OBJECT_FOREIGN_SERVER:
		case OBJECT_LANGUAGE:
		case OBJECT_OPCLASS:
		case OBJECT_OPERATOR:
		case OBJECT_OPFAMILY:
		case OBJECT_STATISTIC_EXT:
		case OBJECT_TRANSFORM:
		case OBJECT_TSCONFIGURATION:
		case OBJECT_TSDICTIONARY:
		case OBJECT_TSPARSER:
		case OBJECT_TSTEMPLATE:
			/* the lock the command takes next anyway (it needs one to look) */
			addr = get_object_address(type, object, &rel, AccessExclusiveLock, true);
			if (rel != NULL)
				relation_close(rel, NoLock);
			break;
		default:
			break;
	}
	return addr;
}

/* An object named as in DROP, RENAME, SET SCHEMA, OWNER TO. */
static void
CheckNamed(Guard *g, ObjectType type, Node *object)
{
	if (type == OBJECT_TRIGGER || type == OBJECT_RULE || type == OBJECT_POLICY)
	{
		/* schema.table.name: the relation the trigger, rule or policy is on */
		List	   *names = list_copy(castNode(List, object));

		if (list_length(names) >= 2)
			CheckRangeVar(g, makeRangeVarFromNameList(list_truncate(names, list_length(names) - 1)));
	}
	else if (IsRelationType(type))
		CheckRangeVar(g, makeRangeVarFromNameList(castNode(List, object)));
	else
	{
		ObjectAddress addr = ResolveObject(type, object);

		CheckObject(g, addr.classId, addr.objectId);
	}
}

/* A statement that names either a relation or another kind of object. */
static void
CheckRelationOrNamed(Guard *g, RangeVar *rv, ObjectType type, Node *object)
{
	if (rv != NULL)
		CheckRangeVar(g, rv);
	else
		CheckNamed(g, type, object);
}

/* ALTER TABLE/VIEW/SEQUENCE/INDEX/TYPE: every subcommand, and new kin. */
static void
CheckAlterTable(Guard *g, AlterTableStmt *stmt)
{
	ListCell   *lc;

	CheckRangeVar(g, stmt->relation);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_AddInherit:
			case AT_DropInherit:
				CheckRangeVar(g, (RangeVar *) cmd->def);
				break;
			case AT_AttachPartition:
			case AT_DetachPartition:
			case AT_DetachPartitionFinalize:
				CheckRangeVar(g, ((PartitionCmd *) cmd->def)->name);
				break;
			default:
				break;
		}
	}
}

/* ALTER ... RENAME: relations and their parts, schemas, other objects. */
static void
CheckRename(Guard *g, RenameStmt *stmt)
{
	switch (stmt->renameType)
	{
		case OBJECT_SCHEMA:
			CheckObject(g, NamespaceRelationId, get_namespace_oid(stmt->subname, true));
			break;
		case OBJECT_DOMCONSTRAINT:
			CheckNamed(g, OBJECT_DOMAIN, stmt->object);
			break;
		default:
			/* relations and their columns, triggers, rules, policies and
			 * constraints come with a RangeVar, other objects as a name */
			CheckRelationOrNamed(g, stmt->relation, stmt->renameType, stmt->object);
			break;
	}
}

/* Do the parameters' input types equal the function's argument types? */
static bool
SameInputTypes(Form_pg_proc proc, List *params)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, params)
	{
		FunctionParameter *fp = lfirst_node(FunctionParameter, lc);

		/* OUT and TABLE parameters are not part of the signature */
		if (fp->mode == FUNC_PARAM_OUT || fp->mode == FUNC_PARAM_TABLE)
			continue;
		if (n >= proc->pronargs ||
			LookupTypeNameOid(NULL, fp->argType, true) != proc->proargtypes.values[n])
			return false;
		n++;
	}
	return n == proc->pronargs;
}

/*
 * CREATE OR REPLACE FUNCTION/PROCEDURE/AGGREGATE: the member function of
 * that name and input types in the namespace the command creates in.
 * Argument types are looked up only for same-named members there
 * (any_args: an old-style aggregate, whose types are not worth parsing).
 */
static void
CheckReplacedFunction(Guard *g, List *funcname, List *params, bool any_args)
{
	char	   *name;
	Oid			nsp = QualifiedNameGetCreationNamespace(funcname, &name);
	CatCList   *procs = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum(name));

	for (int i = 0; i < procs->n_members; i++)
	{
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(&procs->members[i]->tuple);

		if (proc->pronamespace == nsp && IsMember(g, ProcedureRelationId, proc->oid) &&
			(any_args || SameInputTypes(proc, params)))
			CheckObject(g, ProcedureRelationId, proc->oid);
	}
	ReleaseSysCacheList(procs);
}

/*
 * DROP OWNED / REASSIGN OWNED: the objects the roles own in this database
 * (pg_shdepend 'o'; the bootstrap superuser's are not recorded, and both
 * commands refuse that role anyway).
 */
static void
CheckOwned(Guard *g, List *roles)
{
	ListCell   *lc;
	ListCell   *row;

	if (!OidIsValid(GuardExtension(g)))
		return;
	foreach(lc, roles)
	{
		Oid			roleid = get_rolespec_oid(lfirst(lc), true);

		if (!OidIsValid(roleid))
			continue;
		foreach(row, CatalogRows(SharedDependRelationId, SharedDependReferenceIndexId,
								 Anum_pg_shdepend_refclassid, AuthIdRelationId,
								 Anum_pg_shdepend_refobjid, roleid))
		{
			Form_pg_shdepend dep = (Form_pg_shdepend) GETSTRUCT((HeapTuple) lfirst(row));

			if (dep->dbid == MyDatabaseId && dep->deptype == SHARED_DEPENDENCY_OWNER)
				CheckObject(g, dep->classid, dep->objid);
		}
	}
	/* the extension's owner owns its members too: name just the extension */
	foreach(lc, g->targets)
	{
		if (((GuardTarget *) lfirst(lc))->addr.classId == ExtensionRelationId)
		{
			g->targets = list_make1(lfirst(lc));
			break;
		}
	}
}

#define STMT(type)	((type *) parsetree)

/* Utility statements that could change or remove a member: collect those. */
static void
CollectTargets(Guard *g, Node *parsetree)
{
	ListCell   *lc;
	RangeVar   *rv = NULL;		/* a statement naming just one relation */

	switch (nodeTag(parsetree))
	{
		case T_AlterTableStmt:
			CheckAlterTable(g, STMT(AlterTableStmt));
			break;
		case T_RenameStmt:
			CheckRename(g, STMT(RenameStmt));
			break;
		case T_AlterObjectSchemaStmt:
			/* ALTER EXTENSION SET SCHEMA: biocrypt is not relocatable */
			if (STMT(AlterObjectSchemaStmt)->objectType != OBJECT_EXTENSION)
				CheckRelationOrNamed(g, STMT(AlterObjectSchemaStmt)->relation,
									 STMT(AlterObjectSchemaStmt)->objectType,
									 STMT(AlterObjectSchemaStmt)->object);
			break;
		case T_AlterObjectDependsStmt:
			CheckRelationOrNamed(g, STMT(AlterObjectDependsStmt)->relation,
								 STMT(AlterObjectDependsStmt)->objectType,
								 STMT(AlterObjectDependsStmt)->object);
			break;
		case T_AlterOwnerStmt:
			CheckNamed(g, STMT(AlterOwnerStmt)->objectType, STMT(AlterOwnerStmt)->object);
			break;
		case T_DropStmt:
			g->dropping = true;
			foreach(lc, STMT(DropStmt)->objects)
				CheckNamed(g, STMT(DropStmt)->removeType, lfirst(lc));
			break;
		case T_TruncateStmt:
			foreach(lc, STMT(TruncateStmt)->relations)
				CheckRangeVar(g, lfirst(lc));
			break;
		case T_CreateStmt:
		case T_CreateForeignTableStmt:
			/* a child or partition of a member (a foreign table's base is first) */
			foreach(lc, STMT(CreateStmt)->inhRelations)
				CheckRangeVar(g, lfirst(lc));
			break;
		case T_CreateTrigStmt:
			rv = STMT(CreateTrigStmt)->relation;
			break;
		case T_RuleStmt:
			rv = STMT(RuleStmt)->relation;
			break;
		case T_CreatePolicyStmt:
			rv = STMT(CreatePolicyStmt)->table;
			break;
		case T_AlterPolicyStmt:
			rv = STMT(AlterPolicyStmt)->table;
			break;
		case T_IndexStmt:
			rv = STMT(IndexStmt)->relation;
			break;
		case T_AlterSeqStmt:
			rv = STMT(AlterSeqStmt)->sequence;
			break;
		case T_ViewStmt:
			if (STMT(ViewStmt)->replace)
				CheckReplacedRelation(g, STMT(ViewStmt)->view);
			break;
		case T_CreateFunctionStmt:
			if (STMT(CreateFunctionStmt)->replace)
				CheckReplacedFunction(g, STMT(CreateFunctionStmt)->funcname,
									  STMT(CreateFunctionStmt)->parameters, false);
			break;
		case T_DefineStmt:
			/* only aggregates have OR REPLACE; args: (parameters, ndirect) */
			if (STMT(DefineStmt)->replace && STMT(DefineStmt)->kind == OBJECT_AGGREGATE)
				CheckReplacedFunction(g, STMT(DefineStmt)->defnames,
									  STMT(DefineStmt)->args ? linitial(STMT(DefineStmt)->args) : NIL,
									  STMT(DefineStmt)->args == NIL);
			break;
		case T_AlterFunctionStmt:
			CheckNamed(g, STMT(AlterFunctionStmt)->objtype, (Node *) STMT(AlterFunctionStmt)->func);
			break;
		case T_AlterOperatorStmt:
			CheckObject(g, OperatorRelationId,
						LookupOperWithArgs(STMT(AlterOperatorStmt)->opername, true));
			break;
		case T_AlterOpFamilyStmt:
			CheckNamed(g, OBJECT_OPFAMILY,
					   (Node *) lcons(makeString(STMT(AlterOpFamilyStmt)->amname),
									  STMT(AlterOpFamilyStmt)->opfamilyname));
			break;
		case T_AlterTypeStmt:
			CheckNamed(g, OBJECT_TYPE, (Node *) STMT(AlterTypeStmt)->typeName);
			break;
		case T_AlterEventTrigStmt:
			CheckObject(g, EventTriggerRelationId,
						get_event_trigger_oid(STMT(AlterEventTrigStmt)->trigname, true));
			break;
		case T_AlterExtensionContentsStmt:
			/* ADD or DROP of anything: the extension's membership changes */
			CheckObject(g, ExtensionRelationId,
						get_extension_oid(STMT(AlterExtensionContentsStmt)->extname, true));
			break;
		case T_DropOwnedStmt:
			g->dropping = true;
			CheckOwned(g, STMT(DropOwnedStmt)->roles);
			break;
		case T_ReassignOwnedStmt:
			CheckOwned(g, STMT(ReassignOwnedStmt)->roles);
			break;
		default:
			break;
	}
	CheckRangeVar(g, rv);
}

/*
 * Maintenance allowed: the server log first (it keeps the line even if the
 * command drops the log), then a "policy" row naming the command and each
 * object, committed before the command runs.
 */
static void
RecordMaintenance(Guard *g, const char *tag)
{
	StringInfoData json;
	ListCell   *lc;

	initStringInfo(&json);
	appendStringInfoChar(&json, '[');
	foreach(lc, g->targets)
	{
		GuardTarget *t = lfirst(lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&json, ", ");
		appendStringInfoString(&json, "{\"action\": \"audit maintenance\", \"command\": ");
		AuditJsonString(&json, tag);
		appendStringInfoString(&json, ", \"object\": ");
		AuditJsonString(&json, t->desc);
		appendStringInfoChar(&json, '}');
	}
	appendStringInfoChar(&json, ']');
	/*
	 * LOG ranks above log_min_error_statement's default (error): without
	 * errhidestmt the query string would follow, with any vectors in it.
	 */
	ereport(LOG,
			(errmsg("biocrypt: audit log maintenance by role \"%s\": %s",
					GetUserNameFromId(GetUserId(), false), tag),
			 errdetail("%s", json.data),
			 errhidestmt(true), errhidecontext(true)));
	AuditRecordEventJson(AUDIT_OP_POLICY,
						 ((GuardTarget *) linitial(g->targets))->relid,
						 NULL, 0, json.data);
	pfree(json.data);
}

/*
 * Called before every utility statement: refuse one that would change or
 * remove an object of extension biocrypt, unless maintenance is allowed, in
 * which case record it first.
 */
void
AuditGuardUtility(PlannedStmt *pstmt)
{
	Guard		g = {false, InvalidOid, false, NIL};
	const char *tag;
	GuardTarget *first;

	/* extension scripts (CREATE EXTENSION, updates) build these objects */
	if (!IsTransactionState() || creating_extension)
		return;
	CollectTargets(&g, pstmt->utilityStmt);
	if (g.targets == NIL)
		return;
	tag = GetCommandTagName(CreateCommandTag(pstmt->utilityStmt));
	first = linitial(g.targets);
	if (!allow_audit_maintenance)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("biocrypt: %s would change or remove %s", tag, first->desc),
				 errdetail("%s", first->why),
				 errhint("A superuser may SET biocrypt.allow_audit_maintenance = on; the command is then recorded."),
				 errhidestmt(true), errhidecontext(true)));
	RecordMaintenance(&g, tag);
}

/* The superuser-only switch that lets one maintenance command through. */
void
AuditGuardInit(void)
{
	DefineCustomBoolVariable("biocrypt.allow_audit_maintenance",
							 "Allows commands that change or remove objects of extension biocrypt.",
							 "Each such command is recorded in the audit log before it runs.",
							 &allow_audit_maintenance, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
}
