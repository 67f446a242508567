/*-------------------------------------------------------------------------
 *
 * review.c
 *		Two-person review of identifications: biocrypt.confirm_match.
 *
 * identify() returns candidates, not identifications.  A reviewer (a login
 * role, session_user, whatever role it has switched to) records one
 * decision per candidate in biocrypt.match_decisions, and the decision is
 * also an audit row of its own (operation "review", chained like every
 * other), committed before confirm_match returns: the log shows who
 * confirmed or rejected which candidate of which search, and when.  The
 * decision row points at that audit row (audit_id), so a decision that
 * is not in the chain can be told apart.  A refused decision (not a
 * candidate, already decided, a bad decision) is recorded as a denied
 * review (auditrequest.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "audit/audit_internal.h"
#include "core/core.h"
#include "crypto/keys.h"
#include "template/template.h"

/* The identify row reviewed: its gallery and column (in SPI). */
static void
ReviewedSearch(int64 event_id, text *subject, Oid *gallery, char **column)
{
	Oid			argtypes[3] = {TEXTOID, INT8OID, TEXTOID};
	Datum		args[3] = {CStringGetTextDatum(BiocryptChainId()), Int64GetDatum(event_id),
	PointerGetDatum(subject)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT a.relation, a.column_name::text, "
							  "EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(a.matches) m "
							  "WHERE m->>'subject' = $3) "
							  "FROM biocrypt.audit_log a WHERE a.chain_id = $1 AND a.id = $2 "
							  "AND a.operation = 'identify' AND a.outcome = 'ok'",
							  3, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read biocrypt.audit_log"),
				 errhidestmt(true), errhidecontext(true)));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("biocrypt: audit event " INT64_FORMAT " is not a completed identification",
						event_id),
				 errhidestmt(true), errhidecontext(true)));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("biocrypt: that subject is not a candidate of identification " INT64_FORMAT,
						event_id),
				 errhidestmt(true), errhidecontext(true)));
	*gallery = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											  &isnull));
	*column = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
}

/* Store the login role's decision; ERROR if it already decided (in SPI). */
static void
StoreDecision(int64 event_id, text *subject, const char *decision)
{
	Oid			argtypes[4] = {TEXTOID, INT8OID, TEXTOID, TEXTOID};
	Datum		args[4] = {CStringGetTextDatum(BiocryptChainId()), Int64GetDatum(event_id),
		PointerGetDatum(subject), CStringGetTextDatum(decision)};
	char	   *reviewer = GetUserNameFromId(GetSessionUserId(), false);

	if (SPI_execute_with_args("INSERT INTO biocrypt.match_decisions "
							  "(chain_id, event_id, subject, reviewer, decision) "
							  "VALUES ($1, $2, $3, session_user, $4) ON CONFLICT DO NOTHING",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not write biocrypt.match_decisions"),
				 errhidestmt(true), errhidecontext(true)));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("biocrypt: role \"%s\" has already reviewed this candidate", reviewer),
				 errhidestmt(true), errhidecontext(true)));
}

/* The decision row now names its audit row (in SPI). */
static void
LinkDecision(int64 event_id, text *subject, int64 audit_id)
{
	Oid			argtypes[4] = {TEXTOID, INT8OID, TEXTOID, INT8OID};
	Datum		args[4] = {CStringGetTextDatum(BiocryptChainId()), Int64GetDatum(event_id),
	PointerGetDatum(subject), Int64GetDatum(audit_id)};

	if (SPI_execute_with_args("UPDATE biocrypt.match_decisions SET audit_id = $4 "
							  "WHERE chain_id = $1 AND event_id = $2 AND subject = $3 "
							  "AND reviewer = session_user",
							  4, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not write biocrypt.match_decisions"),
				 errhidestmt(true), errhidecontext(true)));
}

/*
 * The candidate's state after the decision, as match_reviews shows it,
 * allocated outside SPI (in SPI).
 */
static char *
CandidateState(int64 event_id, text *subject)
{
	Oid			argtypes[3] = {TEXTOID, INT8OID, TEXTOID};
	Datum		args[3] = {CStringGetTextDatum(BiocryptChainId()), Int64GetDatum(event_id),
	PointerGetDatum(subject)};
	char	   *state;

	/* not read-only: the query must see the decision just linked */
	if (SPI_execute_with_args("SELECT r.state FROM biocrypt.match_reviews r "
							  "WHERE r.chain_id = $1 AND r.event_id = $2 AND r.subject = $3 LIMIT 1",
							  3, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read biocrypt.match_reviews"),
				 errhidestmt(true), errhidecontext(true)));
	state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return strcpy(SPI_palloc(strlen(state) + 1), state);
}

/*
 * The review's audit row: [{"event_id": n, "subject": s, "decision": d}].
 * ev was started before the extension's SQL switched roles, so that it
 * names the reviewer's roles.
 */
static int64
RecordDecision(AuditEvent *ev, int64 event_id, const char *subject,
			   const char *decision, Oid gallery, const char *column)
{
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfo(&json, "[{\"event_id\": " INT64_FORMAT ", \"subject\": ", event_id);
	AuditJsonString(&json, subject);
	appendStringInfoString(&json, ", \"decision\": ");
	AuditJsonString(&json, decision);
	appendStringInfoString(&json, "}]");
	AuditSetRelation(ev, gallery, column);
	AuditSetMatches(ev, json.data, json.len);
	return AuditRecord(ev);
}

/* The body of confirm_match(event_id, subject, decision). */
static Datum
ConfirmMatchRequest(PG_FUNCTION_ARGS)
{
	int64		event_id;
	text	   *subject;
	char	   *decision;
	BiocryptSpi spi;
	Oid			gallery;
	char	   *column;
	int64		audit_id;
	char	   *state;
	AuditEvent *ev = palloc(sizeof(AuditEvent));

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("biocrypt: event_id and subject must not be NULL"),
				 errhidestmt(true), errhidecontext(true)));
	event_id = PG_GETARG_INT64(0);
	subject = PG_GETARG_TEXT_PP(1);
	decision = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (decision == NULL || (strcmp(decision, "confirm") != 0 && strcmp(decision, "reject") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: decision must be 'confirm' or 'reject'"),
				 errhidestmt(true), errhidecontext(true)));
	AuditEventInit(ev, AUDIT_OP_REVIEW);
	BiocryptSpiBegin(&spi);
	ReviewedSearch(event_id, subject, &gallery, &column);
	StoreDecision(event_id, subject, decision);
	audit_id = RecordDecision(ev, event_id, text_to_cstring(subject), decision, gallery, column);
	LinkDecision(event_id, subject, audit_id);
	state = CandidateState(event_id, subject);
	BiocryptSpiEnd(&spi);
	PG_RETURN_TEXT_P(cstring_to_text(state));
}

PG_FUNCTION_INFO_V1(biocrypt_confirm_match);
/* confirm_match(event_id, subject, decision): the candidate's new state */
Datum
biocrypt_confirm_match(PG_FUNCTION_ARGS)
{
	return AuditAttempt(fcinfo, AUDIT_OP_REVIEW, ConfirmMatchRequest);
}
