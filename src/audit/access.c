/*-------------------------------------------------------------------------
 *
 * access.c
 *		What the layers above tell the audit of an access: which relation,
 *		which probe, what matched or was sealed, when the first template
 *		is about to be opened, and refusals.
 *
 * Each call adds to the pending event of its statement (auditstmt.c), so a
 * comparison that runs once per row makes one record.  A refusal of the
 * session's purpose is recorded here before its error is raised, so that
 * the attempt is on record whatever becomes of the statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/dsm.h"

#include "audit/audit_internal.h"
#include "template/template.h"

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
	b->purpose_skipped = 0;
	b->shape_skipped = 0;
	b->begun_id = 0;
	b->matches_len = -1;
	b->matches_dsm = DSM_HANDLE_INVALID;
	id = AuditRecord(b);
	pfree(b);
	ev->begun = true;
	ev->begun_id = id;
}

/*
 * A refusal of an access counted in ev, recorded before the caller raises
 * its error: the attempt is on record whatever becomes of the statement.
 * ev itself becomes the "denied" event if nothing was accessed through it
 * yet; otherwise a denied event of its own is recorded, with ev's
 * relation, metric, threshold, k and probe.  With a subject, the event's
 * matches say why: [{"subject": ..., "refused": reason}].
 */
static void
Deny(FunctionCallInfo fcinfo, AuditEvent *ev, const char *sqlstate,
	 const char *subject, const char *reason)
{
	Pending    *p = PendingOf(ev);

	if (ev->begun || ev->templates_compared != 0 || ev->expired_skipped != 0 ||
		ev->purpose_skipped != 0 || ev->shape_skipped != 0 || p->entries.n != 0)
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
	strlcpy(p->ev.sqlstate, sqlstate, sizeof(p->ev.sqlstate));
	if (subject != NULL)
		EntriesAddRefusal(&p->entries, subject, reason);
	RecordPending(p);
}

/* A refusal for want of privilege or purpose (42501). */
void
AuditDeny(FunctionCallInfo fcinfo, AuditEvent *ev)
{
	Deny(fcinfo, ev, "42501", NULL, NULL);
}

/*
 * A refusal that concerns one subject, with its SQLSTATE and the reason
 * the denied row gives.
 */
void
AuditDenySubject(FunctionCallInfo fcinfo, AuditEvent *ev, const char *sqlstate,
				 const char *subject, const char *reason)
{
	Deny(fcinfo, ev, sqlstate, subject, reason);
}

/*
 * May the current role compare this template now, for the session's
 * purpose?  If not, the refusal is recorded as denied in place of (or
 * beside) the access's event ev, and raised.
 */
void
PurposeCheck(FunctionCallInfo fcinfo, const EnvelopeHeader *hdr, AuditEvent *ev)
{
	const char *purpose;

	switch (PurposeJudge(hdr, &purpose))
	{
		case PURPOSE_ALLOWED:
			return;
		case PURPOSE_UNDECLARED:
			AuditDeny(fcinfo, ev);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("biocrypt: no purpose declared for comparing templates"),
					 errhint("SET biocrypt.purpose to the purpose of this access."),
					 errhidestmt(true), errhidecontext(true)));
			break;
		case PURPOSE_NOT_ENROLLED:
			AuditDeny(fcinfo, ev);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("biocrypt: a template may not be used for purpose \"%s\"",
							purpose),
					 errhint("Templates are compared only for the purposes they were enrolled for (biocrypt.purposes_of)."),
					 errhidestmt(true), errhidecontext(true)));
			break;
		case PURPOSE_NOT_GRANTED:
			AuditDeny(fcinfo, ev);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("biocrypt: purpose \"%s\" is not granted to role \"%s\"",
							purpose, GetUserNameFromId(GetUserId(), false)),
					 errhint("An administrator grants purposes with biocrypt.grant_purpose(role, purpose)."),
					 errhidestmt(true), errhidecontext(true)));
			break;
	}
}

/*
 * 1:N search: is this template to be skipped, being enrolled for other
 * purposes?  Then it is counted in ev and never decrypted.  A session that
 * may not compare at all (no purpose declared, or one not granted) is
 * refused as PurposeCheck refuses it: that is no property of one template.
 */
bool
PurposeSkip(FunctionCallInfo fcinfo, const EnvelopeHeader *hdr, AuditEvent *ev)
{
	const char *purpose;

	if (PurposeJudge(hdr, &purpose) != PURPOSE_NOT_ENROLLED)
	{
		PurposeCheck(fcinfo, hdr, ev);
		return false;
	}
	ev->purpose_skipped++;
	return true;
}

/*
 * 1:N search: skip, counted, a template enrolled for other purposes, or
 * one whose shape does not fit the probe (fits); true to skip.
 */
bool
AuditSearchSkips(FunctionCallInfo fcinfo, const EnvelopeHeader *hdr, bool fits,
				 AuditEvent *ev)
{
	if (PurposeSkip(fcinfo, hdr, ev))
		return true;
	if (!fits)
		AuditShapeSkipped(ev, 1);
	return !fits;
}

/*
 * 1:N search: n templates of another shape than the probe's were skipped.
 * One WARNING per event (a statement's access to one column) says so; the
 * count goes to the audit row.
 */
void
AuditShapeSkipped(AuditEvent *ev, int64 n)
{
	if (n <= 0)
		return;
	ev->shape_skipped += n;
	if (ev->shape_warned)
		return;
	ev->shape_warned = true;
	ereport(WARNING,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("biocrypt: templates of another shape than the probe's were skipped"),
			 errhint("Declare the column's shape, as in protected_template(512), so that such templates are refused when they are written."),
			 errhidestmt(true), errhidecontext(true)));
}
