/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		The extension's objects found in the catalogs, in one place: the
 *		extension and its schema, its tables, the protected_template type
 *		and template columns.
 *
 * The extension may be dropped and created again while a backend lives,
 * so OIDs are looked up each time (syscache or index lookups), never kept.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "core/core.h"

/* The extension's OID, or InvalidOid when it is not installed here. */
Oid
BiocryptExtensionOid(void)
{
	return get_extension_oid("biocrypt", true);
}

/* The OID of schema biocrypt; an ERROR when it does not exist. */
Oid
BiocryptSchemaOid(void)
{
	return get_namespace_oid("biocrypt", false);
}

/* The OID of biocrypt.<relname>, or InvalidOid. */
Oid
BiocryptRelid(const char *relname)
{
	return get_relname_relid(relname, BiocryptSchemaOid());
}

/*
 * Was the extension created by the current transaction?  (Its own
 * triggers and workers must not act on a half-built extension.)
 */
bool
BiocryptExtensionIsNew(void)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	bool		isnew = false;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("biocrypt"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		isnew = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return isnew;
}

/*
 * Is typid biocrypt's protected_template?  Its name is checked first (a
 * cache lookup): COPY TO asks this of every column it copies; only a type
 * of that name is looked up as a member of the extension.
 */
bool
TypeIsProtectedTemplate(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	Form_pg_type type;
	bool		named;
	Oid			ext;

	if (!HeapTupleIsValid(tup))
		return false;
	type = (Form_pg_type) GETSTRUCT(tup);
	named = type->typtype == TYPTYPE_BASE &&
		strcmp(NameStr(type->typname), "protected_template") == 0;
	ReleaseSysCache(tup);
	if (!named)
		return false;
	ext = BiocryptExtensionOid();
	return OidIsValid(ext) && getExtensionOfObject(TypeRelationId, typid) == ext;
}

/*
 * Check that col is a protected_template column of relation relid (any
 * relation a query can read); returns its attnum.  System columns are not
 * template columns.
 */
AttrNumber
TemplateColumnAttnum(Oid relid, const char *col)
{
	char	   *relname = get_rel_name(relid);
	AttrNumber	attnum;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("biocrypt: relation with OID %u does not exist", relid),
				 errhidestmt(true), errhidecontext(true)));
	attnum = get_attnum(relid, col);
	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("biocrypt: column \"%s\" of relation \"%s\" does not exist",
						col, relname),
				 errhidestmt(true), errhidecontext(true)));
	if (!TypeIsProtectedTemplate(get_atttype(relid, attnum)))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("biocrypt: column \"%s\" of relation \"%s\" is not a protected_template",
						col, relname),
				 errhidestmt(true), errhidecontext(true)));
	return attnum;
}

/*
 * As TemplateColumnAttnum, for a plain table: policies, retention and
 * re-encryption keep state per table column and rewrite rows in place.
 */
AttrNumber
CheckTemplateColumn(Oid relid, const char *col)
{
	char		relkind = get_rel_relkind(relid);

	if (relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("biocrypt: \"%s\" is a partitioned table", get_rel_name(relid)),
				 errhint("Register the column of each partition."),
				 errhidestmt(true), errhidecontext(true)));
	if (relkind != RELKIND_RELATION && relkind != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("biocrypt: \"%s\" is not a table", get_rel_name(relid)),
				 errhidestmt(true), errhidecontext(true)));
	return TemplateColumnAttnum(relid, col);
}

/* schema.table, quoted, for SQL the extension builds. */
char *
RelationQualifiedName(Oid relid)
{
	char	   *rel = get_rel_name(relid);
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));

	if (rel == NULL || nsp == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("biocrypt: relation %u does not exist", relid),
				 errhidestmt(true), errhidecontext(true)));
	return quote_qualified_identifier(nsp, rel);
}

/*
 * This server's audit chain id: its system identifier, as text.  Keys,
 * rows and reviews of one chain all name it, so it is computed here once.
 */
const char *
BiocryptChainId(void)
{
	static char chain[32];

	if (chain[0] == '\0')
		snprintf(chain, sizeof(chain), UINT64_FORMAT, GetSystemIdentifier());
	return chain;
}

/*
 * Does the current role administer biocrypt: superuser, or with the
 * privileges of biocrypt_admin?  Reveal, the policy guard and exact
 * scores all ask this one question.
 */
bool
CurrentRoleAdministersBiocrypt(void)
{
	return RoleAdministersBiocrypt(GetUserId());
}

/* Is roleid a superuser or a member of biocrypt_admin? */
bool
RoleAdministersBiocrypt(Oid roleid)
{
	Oid			admin = get_role_oid("biocrypt_admin", true);

	return superuser_arg(roleid) ||
		(OidIsValid(admin) && has_privs_of_role(roleid, admin));
}
