/*-------------------------------------------------------------------------
 *
 * retention.c
 *		Retention: expiry, touch, legal holds, purge, erasure, shredding.
 *
 * Every template carries an expiry in its authenticated header.  A new
 * template gets the caller's retain_until, or biocrypt.default_retention
 * from now (a column policy may take its place, see policy.c), and never
 * more than biocrypt.max_retention from now.  touch() re-seals a template
 * with a new expiry, never past biocrypt.max_retention from enrolment.
 *
 * The purge applies each column policy to the templates whose expiry has
 * passed, except those of subjects under legal hold, and records one purge
 * event per column with the subjects purged.  Then it destroys every data
 * key whose epoch (UTC month of expiry) is over and that no template left
 * in a registered column still needs: those are held templates, which keep
 * their key until the hold is released and the next purge removes them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "storage/itemptr.h"
#include "storage/lmgr.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "core/core.h"
#include "crypto/keys.h"
#include "gallery/gallery.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/policy_internal.h"
#include "template/template.h"

PG_FUNCTION_INFO_V1(biocrypt_touch);
/* touch(tpl, until): the same template, re-sealed to expire at until */
Datum
biocrypt_touch(PG_FUNCTION_ARGS)
{
	bytea	   *tpl = PG_GETARG_TEMPLATE_P(0);
	TimestampTz until = PG_GETARG_TIMESTAMPTZ(1);
	EnvelopeHeader hdr;
	EnvelopeHeader labels;
	bytea	   *result;
	/* taken first, so that a refused touch is recorded as an error */
	AuditEvent *ev = AuditAccess(fcinfo, AUDIT_OP_RETAIN);

	ParseTemplate(tpl, &hdr);
	RetentionRefuseExpired(&hdr);
	if (until <= GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: until must be in the future"),
				 errhidestmt(true), errhidecontext(true)));
	if (RetentionCapExpiry(hdr.created, until) < until)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: until is beyond biocrypt.max_retention from enrolment"),
				 errdetail("No template may be kept longer than %s after it was sealed.",
						   RetentionMaxText()),
				 errhidestmt(true), errhidecontext(true)));
	labels = hdr;
	labels.expires = until;
	result = ResealTemplate(tpl, &labels);
	ev->templates_compared++;
	ParseTemplate(result, &labels);
	AuditAddSealed(ev, result, &labels);
	/* its retain row records the write, if it goes back to the same table */
	PolicyNoteSealed(result, &labels, 0, ev->relation);
	PG_RETURN_BYTEA_P(result);
}

/* A subject argument: not NULL, not empty. */
static text *
SubjectArg(FunctionCallInfo fcinfo, int argno)
{
	text	   *subject;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: subject must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	subject = PG_GETARG_TEXT_PP(argno);
	if (VARSIZE_ANY_EXHDR(subject) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: subject must not be empty"),
				 errhidestmt(true), errhidecontext(true)));
	return subject;
}

/* The JSON array [{"subject": s, key: value}] for a hold event. */
static char *
HoldJson(text *subject, const char *action, text *reason)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "[{\"subject\": ");
	AuditJsonString(&buf, text_to_cstring(subject));
	appendStringInfo(&buf, ", \"action\": \"%s\"", action);
	if (reason != NULL)
	{
		appendStringInfoString(&buf, ", \"reason\": ");
		AuditJsonString(&buf, text_to_cstring(reason));
	}
	appendStringInfoString(&buf, "}]");
	return buf.data;
}

/* Run one statement on biocrypt.holds; true if it changed a row. */
static bool
ChangeHold(const char *sql, int nargs, Datum *args)
{
	BiocryptSpi spi;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	int			rc;
	bool		changed;

	BiocryptSpiBegin(&spi);
	rc = SPI_execute_with_args(sql, nargs, argtypes, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT && rc != SPI_OK_DELETE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not write biocrypt.holds"),
				 errhidestmt(true), errhidecontext(true)));
	changed = SPI_processed > 0;
	BiocryptSpiEnd(&spi);
	return changed;
}

/* The body of hold(). */
static Datum
HoldRequest(PG_FUNCTION_ARGS)
{
	text	   *subject = SubjectArg(fcinfo, 0);
	text	   *reason;
	Datum		args[2];
	bool		changed;

	/* a NULL reason is a NULL argument (22004), an empty one a bad value */
	if (PG_ARGISNULL(1) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(1)) == 0)
		ereport(ERROR,
				(errcode(PG_ARGISNULL(1) ? ERRCODE_NULL_VALUE_NOT_ALLOWED :
						 ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: a legal hold needs a reason"),
				 errhidestmt(true), errhidecontext(true)));
	reason = PG_GETARG_TEXT_PP(1);
	args[0] = PointerGetDatum(subject);
	args[1] = PointerGetDatum(reason);
	changed = ChangeHold("INSERT INTO biocrypt.holds (subject, reason, held_by) "
						 "VALUES ($1, $2, session_user) ON CONFLICT (subject) DO NOTHING",
						 2, args);
	AuditRecordEventJson(AUDIT_OP_HOLD, InvalidOid, NULL, 0,
					   HoldJson(subject, "hold", reason));
	PG_RETURN_BOOL(changed);
}

PG_FUNCTION_INFO_V1(biocrypt_hold);
/* hold(subject, reason): true if the subject was not held yet */
Datum
biocrypt_hold(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_HOLD, HoldRequest);
}

/* The body of release_hold(). */
static Datum
ReleaseHoldRequest(PG_FUNCTION_ARGS)
{
	text	   *subject = SubjectArg(fcinfo, 0);
	Datum		args[1] = {PointerGetDatum(subject)};
	bool		changed;

	changed = ChangeHold("DELETE FROM biocrypt.holds WHERE subject = $1", 1, args);
	AuditRecordEventJson(AUDIT_OP_HOLD, InvalidOid, NULL, 0,
					   HoldJson(subject, "release", NULL));
	PG_RETURN_BOOL(changed);
}

PG_FUNCTION_INFO_V1(biocrypt_release_hold);
/* release_hold(subject): true if the subject was held */
Datum
biocrypt_release_hold(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_HOLD, ReleaseHoldRequest);
}

/* A registered column, as the purge and erasure walk them. */
typedef struct PolicyColumn
{
	Oid			relid;
	char	   *column;
	bool		delete_row;
} PolicyColumn;

/* Every registered column whose table still exists (in SPI). */
static List *
PolicyColumns(void)
{
	List	   *cols = NIL;

	if (SPI_execute("SELECT c.relation::oid, c.column_name::text, c.on_expiry = 'delete' "
					"FROM biocrypt.columns c JOIN pg_catalog.pg_class r ON r.oid = c.relation "
					"ORDER BY r.relname, c.column_name", false, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read biocrypt.columns"),
				 errhidestmt(true), errhidecontext(true)));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		PolicyColumn *c = palloc(sizeof(PolicyColumn));
		bool		isnull;

		c->relid = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
		c->column = SPI_getvalue(tup, td, 2);
		c->delete_row = DatumGetBool(SPI_getbinval(tup, td, 3, &isnull));
		cols = lappend(cols, c);
	}
	return cols;
}

/* Templates found for removal: where they are and whose they are. */
typedef struct Found
{
	ItemPointerData tid;
	char	   *subject;
	bool		removed;
} Found;

static int
FoundByTid(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) &((const Found *) a)->tid,
							  (ItemPointer) &((const Found *) b)->tid);
}

static int
FoundBySubject(const void *a, const void *b)
{
	return strcmp(((const Found *) a)->subject, ((const Found *) b)->subject);
}

/*
 * Lock a registered column's table and check, under the lock, that it is
 * still a plain table with a protected_template column: the queries below
 * read it as the extension, and only then does no code of the table's
 * owner run with the extension's privileges (a SELECT runs no trigger,
 * superusers bypass row security, and our functions are the only ones on
 * that column).  The lock holds until the end of the transaction.
 */
static void
LockPolicyColumn(const PolicyColumn *c, LOCKMODE mode)
{
	LockRelationOid(c->relid, mode);
	(void) CheckTemplateColumn(c->relid, c->column);
}

/*
 * Find the templates of column c that match cond (SQL over alias t, with
 * parameters $1 and $2), as the extension; see LockPolicyColumn.
 */
static Found *
FindTemplates(const PolicyColumn *c, const char *cond, Oid *argtypes,
			  Datum *args, int *n)
{
	const char *col = quote_identifier(c->column);
	char	   *sql = psprintf("SELECT t.ctid, biocrypt.subject_of(t.%s) FROM ONLY %s t "
							   "WHERE t.%s IS NOT NULL AND %s ORDER BY t.ctid",
							   col, RelationQualifiedName(c->relid), col, cond);
	Found	   *found;

	if (SPI_execute_with_args(sql, 2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not scan a protected column"),
				 errhidestmt(true), errhidecontext(true)));
	*n = (int) SPI_processed;
	found = palloc0(sizeof(Found) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		bool		isnull;

		found[i].tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1,
														  &isnull));
		found[i].subject = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	return found;
}

/* A tid[] of the templates found. */
static Datum
FoundTids(const Found *found, int n)
{
	Datum	   *tids = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		tids[i] = PointerGetDatum(&found[i].tid);
	return PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData),
										   false, TYPALIGN_SHORT));
}

/*
 * Delete the rows of the templates found, or null their column, as the
 * table's owner (the way VACUUM and REFRESH MATERIALIZED VIEW run): the
 * table's triggers and foreign keys act as they would for its owner.  A
 * row changed since it was found no longer has the same ctid and is left
 * for the next run.  Marks what was removed.
 */
static int64
RemoveFound(const PolicyColumn *c, Found *found, int n)
{
	const char *col = quote_identifier(c->column);
	char	   *rel = RelationQualifiedName(c->relid);
	char	   *sql;
	Oid			argtypes[1] = {TIDARRAYOID};
	Datum		args[1] = {FoundTids(found, n)};
	BiocryptAsOwner as;

	/* return the tid found: an UPDATE's own RETURNING ctid is the new one */
	if (c->delete_row)
		sql = psprintf("DELETE FROM ONLY %s t USING pg_catalog.unnest($1) x(tid) "
					   "WHERE t.ctid = x.tid RETURNING x.tid", rel);
	else
		sql = psprintf("UPDATE ONLY %s t SET %s = NULL FROM pg_catalog.unnest($1) x(tid) "
					   "WHERE t.ctid = x.tid RETURNING x.tid", rel, col);
	BiocryptBecomeOwner(&as, c->relid);
	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, false, 0) !=
		(c->delete_row ? SPI_OK_DELETE_RETURNING : SPI_OK_UPDATE_RETURNING))
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not remove templates from %s", rel),
				 errhidestmt(true), errhidecontext(true)));
	BiocryptRestoreUser(&as);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Found		key = {0};
		Found	   *hit;

		key.tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		hit = bsearch(&key, found, n, sizeof(Found), FoundByTid);
		if (hit != NULL)
			hit->removed = true;
	}
	return (int64) SPI_processed;
}

/* [{"subject": s, "templates": k}, ...] of the removed templates, or NULL. */
static char *
RemovedJson(Found *found, int n)
{
	StringInfoData buf;
	int			i = 0;
	bool		first = true;

	qsort(found, n, sizeof(Found), FoundBySubject);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	while (i < n)
	{
		int			j = i;
		int64		count = 0;

		for (; j < n && strcmp(found[j].subject, found[i].subject) == 0; j++)
			count += found[j].removed ? 1 : 0;
		if (count > 0)
		{
			appendStringInfoString(&buf, first ? "{\"subject\": " : ", {\"subject\": ");
			AuditJsonString(&buf, found[i].subject);
			appendStringInfo(&buf, ", \"templates\": " INT64_FORMAT "}", count);
			first = false;
		}
		i = j;
	}
	appendStringInfoChar(&buf, ']');
	return first ? NULL : buf.data;
}

/*
 * Remove the templates of one column that match cond: delete their rows or
 * null the column, per policy.  Records one event op for the column with
 * the subjects removed, and returns the count.
 */
static int64
RemoveTemplates(const PolicyColumn *c, AuditOperation op, const char *cond,
				Oid *argtypes, Datum *args)
{
	int			n;
	Found	   *found;
	int64		removed;
	char	   *json;

	LockPolicyColumn(c, RowExclusiveLock);
	found = FindTemplates(c, cond, argtypes, args, &n);
	if (op == AUDIT_OP_PURGE)
	{
		PurgeProgressAdd(n, 0, false);
		PurgeProgressPhase("removing", c->relid, c->column);
	}
	removed = n > 0 ? RemoveFound(c, found, n) : 0;
	json = RemovedJson(found, n);
	/* their plaintext leaves the warm galleries when this commits */
	if (removed > 0)
		GalleryEvictAtCommit(c->relid);

	/* an erasure names its subject even where there was nothing to erase */
	if (json == NULL && op == AUDIT_OP_ERASE)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "[{\"subject\": ");
		AuditJsonString(&buf, TextDatumGetCString(args[1]));
		appendStringInfoString(&buf, ", \"templates\": 0}]");
		json = buf.data;
	}
	AuditRecordEventJson(op, c->relid, c->column, removed, json);
	return removed;
}

/* Record a column's purge that failed, with its SQLSTATE. */
static void
RecordPurgeError(const PolicyColumn *c, const ErrorData *edata)
{
	AuditEvent *ev = palloc(sizeof(AuditEvent));

	AuditEventInit(ev, AUDIT_OP_PURGE);
	AuditSetRelation(ev, c->relid, c->column);
	ev->outcome = AUDIT_OUTCOME_ERROR;
	strlcpy(ev->sqlstate, unpack_sql_state(edata->sqlerrcode), sizeof(ev->sqlstate));
	(void) AuditRecord(ev);
	pfree(ev);
}

/* One column's purge, for BiocryptSubxact. */
typedef struct PurgeWork
{
	const PolicyColumn *c;
	Oid		   *argtypes;
	Datum	   *args;
	int64		removed;
} PurgeWork;

/* Remove the column's expired templates, but for held subjects'. */
static void
RunPurge(void *arg)
{
	PurgeWork  *w = arg;
	char	   *cond = psprintf("biocrypt.expires_at(t.%1$s) <= $1 AND NOT EXISTS "
								"(SELECT FROM biocrypt.holds h "
								"WHERE h.subject = biocrypt.subject_of(t.%1$s))",
								quote_identifier(w->c->column));

	w->removed = RemoveTemplates(w->c, AUDIT_OP_PURGE, cond, w->argtypes, w->args);
}

/*
 * Purge one column in a subtransaction: a table whose change fails (its own
 * trigger, a foreign key, a lock timeout, a policy that no longer fits the
 * table) is recorded as a failed purge and keeps its templates for the
 * next run; the other columns go on.  *failed is set for such a column.
 * A cancel request still cancels the whole purge.
 */
static int64
PurgeColumn(const PolicyColumn *c, Oid *argtypes, Datum *args, bool *failed)
{
	PurgeWork	w = {c, argtypes, args, 0};
	ErrorData  *edata;

	PurgeProgressPhase("scanning", c->relid, c->column);
	edata = BiocryptSubxact(RunPurge, &w);
	PurgeProgressAdd(0, edata == NULL ? w.removed : 0, true);
	if (edata == NULL)
		return w.removed;
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	*failed = true;
	RecordPurgeError(c, edata);
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("biocrypt: could not purge column \"%s\" of table %s: %s",
					c->column, RelationQualifiedName(c->relid), edata->message),
			 errhint("Its expired templates stay, and are tried again by the next purge."),
			 errhidestmt(true), errhidecontext(true)));
	FreeErrorData(edata);
	return 0;
}

/*
 * Keep the holds as they are until this purge or erasure commits: a hold
 * placed meanwhile waits for it, instead of being missed by it.
 */
static void
LockHolds(void)
{
	if (SPI_execute("LOCK TABLE biocrypt.holds IN SHARE MODE", false, 0) != SPI_OK_UTILITY)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not lock biocrypt.holds"),
				 errhidestmt(true), errhidecontext(true)));
}

/* Ids of keys whose epoch is over: each of their templates has expired. */
static List *
KeysPastEpoch(TimestampTz now)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(now)};
	List	   *ids = NIL;

	if (SPI_execute_with_args("SELECT id FROM biocrypt.keys WHERE state <> 'destroyed' "
							  "AND epoch + interval '1 month' <= ($1 AT TIME ZONE 'UTC') "
							  "ORDER BY id", 1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: key ring query failed"),
				 errhidestmt(true), errhidecontext(true)));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		ids = lappend_int(ids, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1,
														   &isnull)));
	}
	return ids;
}

/* Drop from ids every key a template in column c still uses. */
static List *
DropKeysInUse(List *ids, const PolicyColumn *c)
{
	const char *col = quote_identifier(c->column);
	char	   *sql = psprintf("SELECT DISTINCT biocrypt.key_id_of(t.%s) FROM ONLY %s t "
							   "WHERE t.%s IS NOT NULL", col,
							   RelationQualifiedName(c->relid), col);

	LockPolicyColumn(c, AccessShareLock);
	if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: key use query failed"),
				 errhidestmt(true), errhidecontext(true)));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		ids = list_delete_int(ids, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
															   SPI_tuptable->tupdesc,
															   1, &isnull)));
	}
	return ids;
}

/*
 * Destroy every data key whose epoch is over unless a template in a
 * registered column still uses it (after the purge, only held templates
 * can).  Returns the keys destroyed.
 */
static int
ShredKeys(List *cols, TimestampTz now)
{
	List	   *ids = KeysPastEpoch(now);
	ListCell   *lc;

	foreach(lc, cols)
	{
		if (ids == NIL)
			break;
		ids = DropKeysInUse(ids, lfirst(lc));
	}
	foreach(lc, ids)
	{
		DestroyedKey dk;

		if (KeysDestroy((uint32) lfirst_int(lc), &dk))
			RecordKeyDestroyed(&dk);
	}
	return list_length(ids);
}

/*
 * Purge expired templates of every registered column and shred the keys
 * no one needs any more.  Runs as the extension (bootstrap superuser).
 */
int64
RetentionPurge(void)
{
	BiocryptSpi spi;
	TimestampTz purge_at = GetCurrentTimestamp();
	Oid			argtypes[2] = {TIMESTAMPTZOID, TEXTOID};
	Datum		args[2] = {TimestampTzGetDatum(purge_at), CStringGetTextDatum("")};
	int64		total = 0;
	bool		failed = false;
	List	   *cols;
	ListCell   *lc;

	AuditRequireWorker();
	BiocryptSpiBegin(&spi);
	LockHolds();
	cols = PolicyColumns();
	PurgeProgressBegin(list_length(cols));
	foreach(lc, cols)
		total += PurgeColumn(lfirst(lc), argtypes, args, &failed);
	PurgeProgressPhase("destroying keys", InvalidOid, NULL);
	/* a column left unpurged may hold expired templates: shred nothing */
	if (failed)
		ereport(WARNING,
				(errmsg("biocrypt: no data key was destroyed, since a column could not be purged"),
				 errhidestmt(true), errhidecontext(true)));
	else
		(void) ShredKeys(cols, purge_at);
	BiocryptSpiEnd(&spi);
	PurgeProgressEnd();
	return total;
}

/* The body of purge_expired(). */
static Datum
PurgeExpiredRequest(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(RetentionPurge());
}

PG_FUNCTION_INFO_V1(biocrypt_purge_expired);
/* purge_expired(): templates purged */
Datum
biocrypt_purge_expired(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_PURGE, PurgeExpiredRequest);
}

/* Is the subject under legal hold? (in SPI) */
static bool
SubjectHeld(text *subject)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {PointerGetDatum(subject)};

	if (SPI_execute_with_args("SELECT 1 FROM biocrypt.holds WHERE subject = $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read biocrypt.holds"),
				 errhidestmt(true), errhidecontext(true)));
	return SPI_processed > 0;
}

/* The body of erase_subject(). */
static Datum
EraseSubjectRequest(PG_FUNCTION_ARGS)
{
	text	   *subject = SubjectArg(fcinfo, 0);
	BiocryptSpi spi;
	Oid			argtypes[2] = {TIMESTAMPTZOID, TEXTOID};
	Datum		args[2] = {TimestampTzGetDatum(GetCurrentTimestamp()),
	PointerGetDatum(subject)};
	int64		total = 0;
	List	   *cols;
	ListCell   *lc;

	AuditRequireWorker();
	BiocryptSpiBegin(&spi);
	LockHolds();
	if (SubjectHeld(subject))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: subject is under legal hold"),
				 errdetail("A held subject's templates are kept until the hold is released."),
				 errhint("Release the hold with biocrypt.release_hold() first."),
				 errhidestmt(true), errhidecontext(true)));
	/* before the search: no copy of a template written meanwhile is missed */
	ErasureRecord(subject, DatumGetTimestampTz(args[0]));
	cols = PolicyColumns();
	foreach(lc, cols)
	{
		PolicyColumn *c = lfirst(lc);
		char	   *cond = psprintf("biocrypt.subject_of(t.%s) = $2",
									quote_identifier(c->column));

		total += RemoveTemplates(c, AUDIT_OP_ERASE, cond, argtypes, args);
	}
	BiocryptSpiEnd(&spi);
	PG_RETURN_INT64(total);
}

PG_FUNCTION_INFO_V1(biocrypt_erase_subject);
/* erase_subject(subject): templates removed from every registered column */
Datum
biocrypt_erase_subject(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_ERASE, EraseSubjectRequest);
}
