/*-------------------------------------------------------------------------
 *
 * policy.c
 *		Column retention policies (biocrypt.protect_column) and their triggers.
 *
 * A policy names a protected_template column, how long its templates may
 * live, for which purposes, whether the purge deletes the row or nulls
 * the column, and optionally the column of the row that each template's
 * subject must equal.  protect_column installs two row triggers per table.
 * biocrypt_column_policy runs BEFORE every INSERT and UPDATE:
 *
 * - protect() cannot see which column its result will land in, so when its
 *   retain_until or purposes were NULL it notes the new template's nonce in
 *   a per-transaction set.  The trigger finds such templates and re-seals
 *   them with the policy's retention and purposes.
 * - Every other template written to the column must already fit the
 *   policy: it expires within the retention from now, and its purposes are
 *   among the policy's.  A template that is written back unchanged, or
 *   re-sealed with the same expiry and purposes (reencrypt), is not checked
 *   again, so shortening a policy does not block maintenance.
 *
 * Since BEFORE row triggers fire in name order, the owner's own trigger
 * could change the row after this one; biocrypt_column_policy_check
 * (policycheck.c) therefore checks the row as stored, AFTER them all.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit/audit.h"
#include "core/core.h"
#include "crypto/keys.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/policy_internal.h"
#include "template/template.h"

#define NONCE_KEY_BYTES		24

/*
 * A template sealed in this transaction by protect() or touch(): with
 * defaults to replace, or with an audit row that already records its
 * write into table relid.
 */
typedef struct DefaultedEntry
{
	uint8		nonce[NONCE_KEY_BYTES];	/* hash key, zero-padded */
	int			flags;			/* POLICY_DEFAULT_* */
	Oid			relid;			/* the table its sealing row names */
} DefaultedEntry;

static HTAB *policy_caches = NULL;

static HTAB *defaulted = NULL;
static LocalTransactionId defaulted_lxid = InvalidLocalTransactionId;

/* The set of defaulted templates, emptied at each new transaction. */
static HTAB *
DefaultedSet(bool create)
{
	HASHCTL		ctl;

	if (defaulted != NULL && defaulted_lxid == MyProc->lxid)
		return defaulted;
	defaulted = NULL;
	if (!create)
		return NULL;
	ctl.keysize = NONCE_KEY_BYTES;
	ctl.entrysize = sizeof(DefaultedEntry);
	ctl.hcxt = TopTransactionContext;
	defaulted = hash_create("biocrypt defaulted templates", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	defaulted_lxid = MyProc->lxid;
	return defaulted;
}

/* The hash key of a sealed template: its (unique, random) nonce. */
static void
NonceKey(bytea *tpl, const EnvelopeHeader *hdr, uint8 *key)
{
	memset(key, 0, NONCE_KEY_BYTES);
	memcpy(key, (const uint8 *) VARDATA_ANY(tpl) + hdr->header_len,
		   Min(hdr->nonce_len, NONCE_KEY_BYTES));
}

static void NoteSealed(bytea *tpl, const EnvelopeHeader *hdr, int flags, Oid relid);

/* Has table relid a registered column? */
static bool
PolicyRegistered(Oid relid)
{
	return OidIsValid(relid) && TablePolicies(relid)->ncolumns > 0;
}

/*
 * protect() or touch() sealed tpl (described by hdr, as sealed), with the
 * default retention and/or purposes (flags), in an audit row naming table
 * relid: remember it, so that a column policy can take the defaults'
 * place, and so that its write into relid is not recorded twice.  Only
 * templates headed for a registered table are kept, so that a bulk load
 * elsewhere does not fill the set.
 */
void
PolicyNoteSealed(bytea *tpl, const EnvelopeHeader *hdr, int flags, Oid relid)
{
	if (flags == 0 && !PolicyRegistered(relid))
		return;
	NoteSealed(tpl, hdr, flags, relid);
}

static void
NoteSealed(bytea *tpl, const EnvelopeHeader *hdr, int flags, Oid relid)
{
	uint8		key[NONCE_KEY_BYTES];
	DefaultedEntry *e;

	NonceKey(tpl, hdr, key);
	e = hash_search(DefaultedSet(true), key, HASH_ENTER, NULL);
	e->flags = flags;
	e->relid = relid;
}

/* Which defaults tpl was sealed with in this transaction (0: none); taken. */
static int
TakeDefaulted(bytea *tpl, const EnvelopeHeader *hdr)
{
	HTAB	   *set = DefaultedSet(false);
	uint8		key[NONCE_KEY_BYTES];
	DefaultedEntry *e;
	int			flags;

	if (set == NULL)
		return 0;
	NonceKey(tpl, hdr, key);
	e = hash_search(set, key, HASH_FIND, NULL);
	if (e == NULL || e->flags == 0)
		return 0;				/* the check trigger takes it */
	flags = e->flags;
	hash_search(set, key, HASH_REMOVE, NULL);
	return flags;
}

/*
 * For the check trigger: was tpl sealed in this transaction in an audit
 * row that names relid, its table?  Then that row records the write.
 * Taken, so that a second write of it is recorded.
 */
bool
PolicyTakeSealed(bytea *tpl, const EnvelopeHeader *hdr, Oid relid)
{
	HTAB	   *set = DefaultedSet(false);
	uint8		key[NONCE_KEY_BYTES];
	DefaultedEntry *e;
	bool		same;

	if (set == NULL)
		return false;
	NonceKey(tpl, hdr, key);
	e = hash_search(set, key, HASH_FIND, NULL);
	if (e == NULL)
		return false;
	same = e->relid == relid;
	hash_search(set, key, HASH_REMOVE, NULL);
	return same;
}

/* Parse a text[] of purposes into hdr (validated, sorted, unique). */
static void
ParsePurposes(ArrayType *purposes, EnvelopeHeader *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
	PurposesFromArray(hdr, purposes);
}

/* Load the policies of relid's registered columns into pc->cxt. */
static void
LoadPolicies(Oid relid, PolicyCache *pc)
{
	BiocryptSpi spi;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	MemoryContext cxt = pc->cxt;
	MemoryContext old;

	BiocryptSpiBegin(&spi);
	if (SPI_execute_with_args("SELECT column_name::text, retention, purposes, subject_column::text "
							  "FROM biocrypt.columns WHERE relation = $1 ORDER BY 1",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read biocrypt.columns"),
				 errhidestmt(true), errhidecontext(true)));
	old = MemoryContextSwitchTo(cxt);
	pc->ncolumns = (int) SPI_processed;
	pc->columns = palloc0(sizeof(ColumnPolicy) * Max(pc->ncolumns, 1));
	for (int i = 0; i < pc->ncolumns; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		ColumnPolicy *c = &pc->columns[i];
		bool		isnull;

		c->column = SPI_getvalue(tup, td, 1);
		c->retention = *DatumGetIntervalP(SPI_getbinval(tup, td, 2, &isnull));
		c->purposes = DatumGetArrayTypePCopy(SPI_getbinval(tup, td, 3, &isnull));
		ParsePurposes(c->purposes, &c->allowed);
		/* a policy whose column changed type refuses writes (42804) */
		c->attnum = CheckTemplateColumn(relid, c->column);
		c->subject_column = SPI_getvalue(tup, td, 4);
		/* a subject column dropped some other way refuses writes (42703) */
		c->subject_attnum = c->subject_column != NULL ?
			get_attnum(relid, c->subject_column) : InvalidAttrNumber;
	}
	MemoryContextSwitchTo(old);
	BiocryptSpiEnd(&spi);
}

/* Mark a table's cached policies stale (all of them for InvalidOid). */
static void
PolicyRelcacheCallback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	PolicyCache *pc;

	if (OidIsValid(relid))
	{
		pc = hash_search(policy_caches, &relid, HASH_FIND, NULL);
		if (pc != NULL)
			pc->stale = true;
		return;
	}
	hash_seq_init(&seq, policy_caches);
	while ((pc = hash_seq_search(&seq)) != NULL)
		pc->stale = true;
}

/*
 * The policies of table relid.  Cached per backend: protect_column() and
 * any DDL on the table invalidate the table's relcache entry, and with it
 * this copy.  Stale copies are freed here, never while in use.
 */
PolicyCache *
TablePolicies(Oid relid)
{
	PolicyCache *pc;
	bool		found;

	if (policy_caches == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(PolicyCache);
		policy_caches = hash_create("biocrypt column policies", 16, &ctl,
									HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(PolicyRelcacheCallback, (Datum) 0);
	}
	pc = hash_search(policy_caches, &relid, HASH_ENTER, &found);
	if (found && !pc->stale)
		return pc;
	if (found)
		MemoryContextDelete(pc->cxt);
	pc->cxt = AllocSetContextCreate(CacheMemoryContext, "biocrypt column policy",
									ALLOCSET_SMALL_SIZES);
	pc->stale = true;			/* until loaded */
	pc->ncolumns = 0;
	LoadPolicies(relid, pc);
	pc->stale = false;
	return pc;
}

/* Is every purpose of hdr among the policy's? */
static bool
PurposesAllowed(const EnvelopeHeader *hdr, const EnvelopeHeader *allowed)
{
	for (int i = 0; i < hdr->npurposes; i++)
	{
		bool		ok = false;

		for (int j = 0; j < allowed->npurposes && !ok; j++)
			ok = hdr->purpose_len[i] == allowed->purpose_len[j] &&
				memcmp(hdr->purpose[i], allowed->purpose[j],
					   hdr->purpose_len[i]) == 0;
		if (!ok)
			return false;
	}
	return true;
}

/* Refuse a template that does not fit column c's policy. */
void
CheckAgainstPolicy(const EnvelopeHeader *hdr, const ColumnPolicy *c, Oid relid)
{
	TimestampTz limit = RetentionAdd(GetCurrentTimestamp(), &c->retention);

	if (hdr->expires > limit)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("biocrypt: template expires later than the retention policy of column \"%s\" of table \"%s\" allows",
						c->column, get_rel_name(relid)),
				 errhint("Pass a retain_until within the column's retention, or NULL to use it."),
				 errhidestmt(true), errhidecontext(true)));
	if (!PurposesAllowed(hdr, &c->allowed))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("biocrypt: template has a purpose that the policy of column \"%s\" of table \"%s\" does not allow",
						c->column, get_rel_name(relid)),
				 errhint("See biocrypt.retention_schedule for the column's purposes."),
				 errhidestmt(true), errhidecontext(true)));
}

/* Same expiry and purposes: a re-seal or an unrelated update. */
bool
SameLabels(const EnvelopeHeader *a, const EnvelopeHeader *b)
{
	if (a->expires != b->expires || a->npurposes != b->npurposes)
		return false;
	for (int i = 0; i < a->npurposes; i++)
		if (a->purpose_len[i] != b->purpose_len[i] ||
			memcmp(a->purpose[i], b->purpose[i], a->purpose_len[i]) != 0)
			return false;
	return true;
}

/*
 * Apply column c's policy to one new value: re-seal a defaulted template,
 * check any other.  Returns the value to store.
 */
static Datum
ApplyToValue(FunctionCallInfo fcinfo, Datum value, Datum old, bool has_old,
			 const ColumnPolicy *c, Oid relid)
{
	bytea	   *tpl = DatumGetProtectedTemplateP(value);
	EnvelopeHeader hdr;
	int			flags;

	ParseTemplate(tpl, &hdr);
	flags = TakeDefaulted(tpl, &hdr);
	if (flags != 0)
	{
		EnvelopeHeader labels = hdr;
		EnvelopeHeader stored;
		bytea	   *sealed;

		if (flags & POLICY_DEFAULT_RETENTION)
			labels.expires = RetentionCapExpiry(hdr.created,
												RetentionAdd(hdr.created, &c->retention));
		if (flags & POLICY_DEFAULT_PURPOSES)
		{
			labels.npurposes = c->allowed.npurposes;
			memcpy(labels.purpose, c->allowed.purpose, sizeof(labels.purpose));
			memcpy(labels.purpose_len, c->allowed.purpose_len,
				   sizeof(labels.purpose_len));
		}
		/* what the caller did pass must fit the policy too */
		CheckAgainstPolicy(&labels, c, relid);
		sealed = ResealTemplate(tpl, &labels);
		/* the enrolment's audit entry says what is stored, not the defaults */
		ParseTemplate(sealed, &stored);
		AuditReplaceSealed(AuditAccessRelation(fcinfo, AUDIT_OP_PROTECT, relid, NULL),
						   tpl, &hdr, sealed, &stored);
		/* that row records the write: the check trigger need not */
		NoteSealed(sealed, &stored, 0, relid);
		return PointerGetDatum(sealed);
	}
	if (has_old)
	{
		EnvelopeHeader oldhdr;

		ParseTemplate(DatumGetProtectedTemplateP(old), &oldhdr);
		if (SameLabels(&hdr, &oldhdr))
			return value;
	}
	CheckAgainstPolicy(&hdr, c, relid);
	return value;
}

PG_FUNCTION_INFO_V1(biocrypt_apply_column_policy);
/* BEFORE INSERT OR UPDATE row trigger installed by protect_column. */
Datum
biocrypt_apply_column_policy(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	tuple;
	PolicyCache *pc;
	bool		update;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(td->tg_event) ||
		TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("biocrypt: apply_column_policy() must run as a BEFORE INSERT OR UPDATE row trigger"),
				 errhidestmt(true), errhidecontext(true)));
	rel = td->tg_relation;
	update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	tuple = update ? td->tg_newtuple : td->tg_trigtuple;

	pc = TablePolicies(RelationGetRelid(rel));
	for (int i = 0; i < pc->ncolumns; i++)
	{
		const ColumnPolicy *c = &pc->columns[i];
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		bool		oldnull = true;
		Datum		value = heap_getattr(tuple, c->attnum, desc, &isnull);
		Datum		old = (Datum) 0;
		Datum		result;

		if (isnull)
			continue;
		if (update)
			old = heap_getattr(td->tg_trigtuple, c->attnum, desc, &oldnull);
		if (!oldnull && datumIsEqual(value, old, false, -1))
			continue;
		result = ApplyToValue(fcinfo, value, old, !oldnull, c, RelationGetRelid(rel));
		if (result != value)
		{
			int			cols[1] = {c->attnum};
			bool		nulls[1] = {false};

			tuple = heap_modify_tuple_by_cols(tuple, desc, 1, cols, &result, nulls);
		}
	}
	return PointerGetDatum(tuple);
}

/* Is the column declared NOT NULL? */
static bool
ColumnNotNull(Oid relid, AttrNumber attnum)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
									  Int16GetDatum(attnum));
	bool		notnull;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errmsg_internal("biocrypt: cache lookup failed for column %d of relation %u",
			 attnum, relid),
				 errhidestmt(true), errhidecontext(true)));
	notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
	ReleaseSysCache(tup);
	return notnull;
}

/* A retention must be positive and within biocrypt.max_retention. */
static void
CheckPolicyRetention(Interval *retention)
{
	TimestampTz at = GetCurrentTimestamp();

	if (retention->month < 0 || retention->day < 0 || retention->time < 0 ||
		RetentionAdd(at, retention) <= at)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: retention must be a positive interval"),
				 errhidestmt(true), errhidecontext(true)));
	if (RetentionCapExpiry(at, RetentionAdd(at, retention)) < RetentionAdd(at, retention))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: retention is longer than biocrypt.max_retention"),
				 errhidestmt(true), errhidecontext(true)));
}

/* The purposes as the header holds them (sorted, unique), as a text[]. */
static ArrayType *
NormalPurposes(const EnvelopeHeader *parsed)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(parsed->npurposes, 1));

	for (int i = 0; i < parsed->npurposes; i++)
		elems[i] = PointerGetDatum(cstring_to_text_with_len(parsed->purpose[i],
															 parsed->purpose_len[i]));
	return construct_array(elems, parsed->npurposes, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * Make sure the table has the trigger name running function func.  A
 * trigger of that name running anything else (the owner's, made before
 * the table was registered) would stand in for the policy: refuse it.
 */
static void
EnsureTrigger(Oid relid, const char *name, const char *func, const char *timing)
{
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		args[3];
	bool		isnull;

	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(name);
	args[2] = CStringGetTextDatum(func);
	if (SPI_execute_with_args("SELECT t.tgfoid = $3::regprocedure FROM pg_catalog.pg_trigger t "
							  "WHERE t.tgrelid = $1 AND t.tgname = $2",
							  3, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read pg_trigger"),
				 errhidestmt(true), errhidecontext(true)));
	if (SPI_processed > 0)
	{
		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									   1, &isnull)))
			return;
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("biocrypt: table \"%s\" already has a trigger named \"%s\"",
						get_rel_name(relid), name),
				 errdetail("That name is reserved for the trigger that enforces the column policy."),
				 errhint("Drop or rename that trigger first."),
				 errhidestmt(true), errhidecontext(true)));
	}
	if (SPI_execute(psprintf("CREATE TRIGGER %s %s INSERT OR UPDATE ON %s FOR EACH ROW "
							 "EXECUTE FUNCTION %s",
							 name, timing, RelationQualifiedName(relid), func),
					false, 0) != SPI_OK_UTILITY)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not create the column policy trigger"),
				 errhidestmt(true), errhidecontext(true)));
}

/* Store the policy row and make sure the table has both policy triggers. */
static void
StorePolicy(Oid relid, const char *col, Interval *retention, ArrayType *purposes,
			const char *on_expiry, const char *subject_col)
{
	BiocryptSpi spi;
	Oid			argtypes[6] = {OIDOID, NAMEOID, INTERVALOID, TEXTARRAYOID, TEXTOID, NAMEOID};
	Datum		args[6];
	char		nulls[6] = "     ";

	args[0] = ObjectIdGetDatum(relid);
	args[1] = DirectFunctionCall1(namein, CStringGetDatum(col));
	args[2] = IntervalPGetDatum(retention);
	args[3] = PointerGetDatum(purposes);
	args[4] = CStringGetTextDatum(on_expiry);
	args[5] = subject_col != NULL ?
		DirectFunctionCall1(namein, CStringGetDatum(subject_col)) : (Datum) 0;
	nulls[5] = subject_col != NULL ? ' ' : 'n';
	BiocryptSpiBegin(&spi);
	if (SPI_execute_with_args("INSERT INTO biocrypt.columns AS c "
							  "(relation, column_name, retention, purposes, on_expiry, registered_by, "
							  "subject_column) "
							  "VALUES ($1, $2, $3, $4, $5, session_user, $6) "
							  "ON CONFLICT (relation, column_name) DO UPDATE SET "
							  "retention = excluded.retention, purposes = excluded.purposes, "
							  "on_expiry = excluded.on_expiry, registered_by = excluded.registered_by, "
							  "registered_at = excluded.registered_at, "
							  "subject_column = excluded.subject_column",
							  6, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not write biocrypt.columns"),
				 errhidestmt(true), errhidecontext(true)));
	EnsureTrigger(relid, POLICY_TRIGGER, "biocrypt.apply_column_policy()", "BEFORE");
	EnsureTrigger(relid, POLICY_CHECK_TRIGGER, "biocrypt.check_column_policy()", "AFTER");
	BiocryptSpiEnd(&spi);
}

/*
 * The subject column of a policy: a column of the table (not the
 * template column itself); NULL if none is asked for.
 */
static char *
SubjectColumnArg(FunctionCallInfo fcinfo, Oid relid, const char *col)
{
	char	   *name;
	AttrNumber	attnum;

	if (PG_ARGISNULL(5))
		return NULL;
	name = NameStr(*PG_GETARG_NAME(5));
	attnum = get_attnum(relid, name);
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("biocrypt: subject column \"%s\" of table \"%s\" does not exist",
						name, get_rel_name(relid)),
				 errhidestmt(true), errhidecontext(true)));
	if (strcmp(name, col) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: the subject column must not be the template column"),
				 errhidestmt(true), errhidecontext(true)));
	return name;
}

/* The body of protect_column(). */
static Datum
ProtectColumnRequest(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *col;
	char	   *on_expiry;
	ArrayType  *purposes;
	EnvelopeHeader parsed;
	AttrNumber	attnum;

	/* the subject column (argument 6) may be NULL: no row binding */
	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("biocrypt: protect_column() arguments must not be NULL"),
					 errhidestmt(true), errhidecontext(true)));
	relid = PG_GETARG_OID(0);
	col = NameStr(*PG_GETARG_NAME(1));
	purposes = PG_GETARG_ARRAYTYPE_P(3);
	on_expiry = text_to_cstring(PG_GETARG_TEXT_PP(4));
	attnum = CheckTemplateColumn(relid, col);
	CheckPolicyRetention(PG_GETARG_INTERVAL_P(2));
	ParsePurposes(purposes, &parsed);
	if (strcmp(on_expiry, "delete") != 0 && strcmp(on_expiry, "null") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: on_expiry must be 'delete' or 'null'"),
				 errhidestmt(true), errhidecontext(true)));
	if (strcmp(on_expiry, "null") == 0 && ColumnNotNull(relid, attnum))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: on_expiry 'null' needs a nullable column, and \"%s\" is NOT NULL",
						col),
				 errhidestmt(true), errhidecontext(true)));
	StorePolicy(relid, col, PG_GETARG_INTERVAL_P(2), NormalPurposes(&parsed), on_expiry,
				SubjectColumnArg(fcinfo, relid, col));
	/* every backend reloads the table's policies (see TablePolicies) */
	CacheInvalidateRelcacheByRelid(relid);
	AuditRecordEventJson(AUDIT_OP_POLICY, relid, col, 0, AuditRequestJson(fcinfo));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(biocrypt_protect_column);
/* protect_column(tbl, col, retention, purposes, on_expiry, subject_column) */
Datum
biocrypt_protect_column(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_POLICY, ProtectColumnRequest);
}

/*
 * After ALTER TABLE ... RENAME COLUMN: a policy names its column and its
 * subject column, so it follows the new name (else the table's triggers
 * would refuse every write).
 */
void
PolicyFollowRename(const RenameStmt *stmt)
{
	BiocryptSpi spi;
	Oid			relid;
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		args[3];

	if (stmt->renameType != OBJECT_COLUMN || stmt->relation == NULL ||
		!OidIsValid(BiocryptExtensionOid()))
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid))
		return;
	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(stmt->subname);
	args[2] = CStringGetTextDatum(stmt->newname);
	BiocryptSpiBegin(&spi);
	if (SPI_execute_with_args("UPDATE biocrypt.columns SET column_name = $3 "
							  "WHERE relation = $1 AND column_name = $2",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE ||
		SPI_execute_with_args("UPDATE biocrypt.columns SET subject_column = $3 "
							  "WHERE relation = $1 AND subject_column = $2",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not update biocrypt.columns"),
				 errhidestmt(true), errhidecontext(true)));
	BiocryptSpiEnd(&spi);
}
