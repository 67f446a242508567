/*-------------------------------------------------------------------------
 *
 * policycheck.c
 *		The column policy's second trigger: the row as stored.
 *
 * biocrypt_column_policy (policy.c) runs BEFORE INSERT and UPDATE, and
 * BEFORE row triggers fire in name order: a trigger of the table's owner
 * whose name sorts after it could put another template in NEW once the
 * policy has checked it.  biocrypt_column_policy_check runs AFTER the
 * row is stored, when no trigger can change it any more, and refuses the
 * statement unless each template written to a registered column
 *
 * - fits the policy (expiry within the retention, purposes among the
 *   policy's; a write that keeps the old expiry and purposes is not
 *   checked again, as in policy.c),
 * - names, as its subject, the row's subject column (compared as text, by
 *   the column type's output function; NULL never matches), when the
 *   policy binds one,
 * - and was sealed after the last erasure of its subject (erasure.c).
 *
 * A template written back unchanged, or sealed again with the same
 * subject, enrolment time, expiry and purposes (reencrypt), is not a new
 * template: only its binding is checked, and only if the subject column
 * changed.  Every other template written is recorded in a protect row of
 * the statement, table and column, unless it was sealed in this
 * transaction by protect() or touch() in a row that names this table
 * (policy.c's set of sealed templates).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "audit/audit.h"
#include "lifecycle/lifecycle.h"
#include "lifecycle/policy_internal.h"
#include "template/template.h"

/* The subject column's value as text, or NULL. */
static char *
SubjectValue(const ColumnPolicy *c, Relation rel, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		isnull;
	Datum		value = heap_getattr(tuple, c->subject_attnum, desc, &isnull);
	Oid			out;
	bool		varlena;

	if (isnull)
		return NULL;
	getTypeOutputInfo(TupleDescAttr(desc, c->subject_attnum - 1)->atttypid, &out, &varlena);
	return OidOutputFunctionCall(out, value);
}

/* Does the template name the row's subject (or is there no binding)? */
static bool
BindingHolds(const ColumnPolicy *c, Relation rel, HeapTuple tuple,
			 const EnvelopeHeader *hdr)
{
	char	   *value;

	if (c->subject_column == NULL)
		return true;
	if (c->subject_attnum == InvalidAttrNumber)
		return false;
	value = SubjectValue(c, rel, tuple);
	return value != NULL && strcmp(value, SubjectToServer(hdr)) == 0;
}

/* Refuse a template whose subject is not the row's subject column. */
static void pg_attribute_noreturn()
RefuseBinding(const ColumnPolicy *c, Relation rel)
{
	if (c->subject_attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("biocrypt: subject column \"%s\" of the policy of column \"%s\" of table \"%s\" does not exist",
						c->subject_column, c->column, RelationGetRelationName(rel)),
				 errhint("An administrator registers the column again with biocrypt.protect_column()."),
				 errhidestmt(true), errhidecontext(true)));
	/* neither the subject nor the column's value goes into the message */
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("biocrypt: template written to column \"%s\" of table \"%s\" does not belong to the subject in column \"%s\" of its row",
					c->column, RelationGetRelationName(rel), c->subject_column),
			 errhint("A template may be stored only in a row whose subject column equals its subject (biocrypt.subject_of)."),
			 errhidestmt(true), errhidecontext(true)));
}

/* Did an UPDATE change the subject column? */
static bool
SubjectChanged(const ColumnPolicy *c, Relation rel, HeapTuple oldtup, HeapTuple newtup)
{
	Form_pg_attribute att;
	bool		oldnull;
	bool		newnull;
	Datum		oldv;
	Datum		newv;

	if (c->subject_column == NULL)
		return false;
	if (c->subject_attnum == InvalidAttrNumber)
		return true;			/* CheckBinding refuses it */
	att = TupleDescAttr(RelationGetDescr(rel), c->subject_attnum - 1);
	oldv = heap_getattr(oldtup, c->subject_attnum, RelationGetDescr(rel), &oldnull);
	newv = heap_getattr(newtup, c->subject_attnum, RelationGetDescr(rel), &newnull);
	if (oldnull || newnull)
		return oldnull != newnull;
	return !datumIsEqual(oldv, newv, att->attbyval, att->attlen);
}

/* The same template sealed again: subject, enrolment and labels kept. */
static bool
SameTemplate(const EnvelopeHeader *a, const EnvelopeHeader *b)
{
	return a->created == b->created && a->subject_len == b->subject_len &&
		memcmp(a->subject, b->subject, a->subject_len) == 0 && SameLabels(a, b);
}

/* Check (and record) the template row tuple holds in column c. */
static void
CheckColumn(FunctionCallInfo fcinfo, const ColumnPolicy *c, Relation rel,
			HeapTuple tuple, HeapTuple oldtup)
{
	Oid			relid = RelationGetRelid(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	bool		isnull;
	bool		oldnull = true;
	Datum		value = heap_getattr(tuple, c->attnum, desc, &isnull);
	Datum		old = (Datum) 0;
	bytea	   *tpl;
	EnvelopeHeader hdr;
	EnvelopeHeader oldhdr;
	AuditEvent *ev = NULL;
	TimestampTz erased_at;

	if (isnull)
		return;
	tpl = DatumGetProtectedTemplateP(value);
	ParseTemplate(tpl, &hdr);
	if (oldtup != NULL)
		old = heap_getattr(oldtup, c->attnum, desc, &oldnull);
	if (!oldnull)
		ParseTemplate(DatumGetProtectedTemplateP(old), &oldhdr);
	if (!oldnull && (datumIsEqual(value, old, false, -1) || SameTemplate(&hdr, &oldhdr)))
	{
		/* not a new template; but a new subject column is a new binding */
		if (SubjectChanged(c, rel, oldtup, tuple) && !BindingHolds(c, rel, tuple, &hdr))
		{
			/* the refusal is on record as a failed write */
			(void) AuditAccessRelation(fcinfo, AUDIT_OP_PROTECT, relid, c->column);
			RefuseBinding(c, rel);
		}
		return;
	}
	/*
	 * Look up the erasure first: its query ends an executor, which records
	 * the loose events of a statement run by none (COPY FROM), and the
	 * write's event must stay open until its template is counted.
	 */
	erased_at = ErasureLastErased(&hdr);
	/* opened before the checks, so that a refused write is recorded too */
	if (!PolicyTakeSealed(tpl, &hdr, relid))
		ev = AuditAccessRelation(fcinfo, AUDIT_OP_PROTECT, relid, c->column);
	if (oldnull || !SameLabels(&hdr, &oldhdr))
		CheckAgainstPolicy(&hdr, c, relid);
	if (!BindingHolds(c, rel, tuple, &hdr))
		RefuseBinding(c, rel);
	ErasureCheck(&hdr, erased_at, c, relid);
	if (ev != NULL)
	{
		ev->templates_compared++;
		AuditAddSealed(ev, tpl, &hdr);
	}
}

PG_FUNCTION_INFO_V1(biocrypt_check_column_policy);
/* AFTER INSERT OR UPDATE row trigger installed by protect_column. */
Datum
biocrypt_check_column_policy(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	PolicyCache *pc;
	bool		update;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(td->tg_event) ||
		TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("biocrypt: check_column_policy() must run as an AFTER INSERT OR UPDATE row trigger"),
				 errhidestmt(true), errhidecontext(true)));
	rel = td->tg_relation;
	update = TRIGGER_FIRED_BY_UPDATE(td->tg_event);
	pc = TablePolicies(RelationGetRelid(rel));
	for (int i = 0; i < pc->ncolumns; i++)
		CheckColumn(fcinfo, &pc->columns[i], rel,
					update ? td->tg_newtuple : td->tg_trigtuple,
					update ? td->tg_trigtuple : NULL);
	return PointerGetDatum(NULL);
}
