/*-------------------------------------------------------------------------
 *
 * auditforward.c
 *		A standby's accesses, recorded in its primary's audit log.
 *
 * A hot standby cannot write biocrypt.audit_log: its copy is the primary's,
 * replayed.  So on a standby the database's audit worker does not write its
 * batch; it sends it to the primary (biocrypt.primary_conninfo, or the
 * standby's own primary_conninfo) as one value of biocrypt.audit_log[] in
 * binary, to biocrypt.audit_forward(), which queues each event on the
 * primary and returns only once its row has committed there.  Only then
 * are the standby's backends told that their events are on record, so
 * the guarantee is the primary's: nothing is decrypted or returned on the
 * standby before its row is durable in the primary's chain.  When the
 * primary cannot be reached, every event of the batch fails at once, and
 * so does each access that waits for one.
 *
 * The primary trusts the rows as far as a standby could have made them:
 * it numbers and chains them itself, keeps the standby's times, roles,
 * client address and process id, drops any transaction id (a standby has
 * none), refuses the operations a standby cannot perform unless they
 * failed, and writes in the origin column the name the standby gave
 * (cluster_name) with the role and address of the connection that brought
 * them, which the standby cannot choose.  A begun row is owned there by
 * the forwarding connection: if it drops, the primary's worker closes the
 * standby's open accesses as incomplete.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "utils/backend_status.h"
#include "utils/array.h"
#include "commands/dbcommands.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "core/core.h"
#include "audit/audit_internal.h"

/* a primary that does not answer a connection within this is unreachable */
#define FORWARD_CONNECT_MS		2000

/* the worker's connection to its primary, kept between batches */
static PGconn *primary = NULL;
static char dbname[NAMEDATALEN];	/* this database's, read in a transaction */

/* Does this server send its events to a primary? */
bool
AuditForwarding(void)
{
	return RecoveryInProgress();
}

/* Drop the connection (promotion, a failure, the worker's exit). */
void
AuditForwardStop(void)
{
	if (primary != NULL)
		PQfinish(primary);
	primary = NULL;
}

/*
 * The batch as the primary reads it, copied into cxt; NULL (and the items
 * failed) if it cannot be built, e.g. before CREATE EXTENSION replays.
 */
static bytea *
BatchRows(AuditWriteItem *items, int n, MemoryContext cxt)
{
	bytea	   *volatile rows = NULL;

	PG_TRY();
	{
		BeginWork();
		if (!OidIsValid(BiocryptExtensionOid()))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("biocrypt: extension biocrypt is not installed in this database"),
					 errhidestmt(true), errhidecontext(true)));
		rows = AuditRowsSend(items, n);
		if (dbname[0] == '\0')
			strlcpy(dbname, get_database_name(MyDatabaseId), sizeof(dbname));
		MemoryContextSwitchTo(cxt);
		rows = (bytea *) PG_DETOAST_DATUM_COPY(PointerGetDatum(rows));
		EndWork();
	}
	PG_CATCH();
	{
		ErrorData  *edata = AbortWork(cxt);

		AuditFailItems(items, n, unpack_sql_state(edata->sqlerrcode));
		FreeErrorData(edata);
		rows = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return rows;
}

/* Connect to the primary if not connected; false (logged) if it cannot. */
static bool
ConnectPrimary(void)
{
	const char *conninfo = PrimaryConninfo();
	char	   *error = NULL;

	if (primary != NULL && PQstatus(primary) == CONNECTION_OK)
		return true;
	AuditForwardStop();
	if (conninfo == NULL)
		error = pstrdup("neither biocrypt.primary_conninfo nor primary_conninfo is set");
	else
		primary = RemoteConnect(conninfo, dbname,
								"biocrypt standby audit",
								TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															Min(FORWARD_CONNECT_MS, AuditTimeoutMs())),
								&error);
	/* one plan for every batch */
	if (primary != NULL &&
		!RemotePrepare(primary, "biocrypt_forward",
					   "SELECT id, sqlstate FROM biocrypt.audit_forward($1::biocrypt.audit_log[])",
					   1, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), AuditTimeoutMs()),
					   &error))
		AuditForwardStop();
	if (primary == NULL)
		ereport(LOG,
				(errmsg("biocrypt: this standby cannot reach its primary to record accesses: %s",
						error),
				 errhidestmt(true), errhidecontext(true)));
	return primary != NULL;
}

/*
 * Read the primary's answer: one row (id, sqlstate) per event, in order.
 * false if the answer is not that.
 */
static bool
ReadAnswer(PGresult *res, AuditWriteItem *items, int n)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != n || PQnfields(res) != 2)
		return false;
	for (int i = 0; i < n; i++)
	{
		items[i].degraded = false;
		items[i].id = PQgetisnull(res, i, 0) ? 0 : strtoll(PQgetvalue(res, i, 0), NULL, 10);
		strlcpy(items[i].sqlstate, PQgetisnull(res, i, 1) ? "" : PQgetvalue(res, i, 1),
				sizeof(items[i].sqlstate));
		if (items[i].id <= 0 && items[i].sqlstate[0] == '\0')
			strlcpy(items[i].sqlstate, "XX000", sizeof(items[i].sqlstate));
	}
	return true;
}

/*
 * The standby's way of writing a batch: send it to the primary and wait
 * for its ids.  Each item ends with the id of its row on the primary, or 0
 * and the SQLSTATE of the failure (08006 when the primary is unreachable).
 */
void
AuditForwardBatch(AuditWriteItem *items, int n)
{
	MemoryContext cxt = CurrentMemoryContext;
	bytea	   *rows = BatchRows(items, n, cxt);
	const char *values[1];
	int			lengths[1];
	int			formats[1] = {1};
	char	   *error = NULL;
	PGresult   *res;

	if (rows == NULL)
		return;
	if (!ConnectPrimary())
	{
		AuditFailItems(items, n, "08006");
		return;
	}
	values[0] = VARDATA_ANY(rows);
	lengths[0] = VARSIZE_ANY_EXHDR(rows);
	pgstat_report_activity(STATE_RUNNING, "biocrypt: sending audit records to the primary");
	res = RemoteExecPrepared(primary, "biocrypt_forward", 1, values, lengths, formats,
					 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), AuditTimeoutMs()),
					 &error);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (res != NULL && ReadAnswer(res, items, n))
	{
		PQclear(res);
		return;
	}
	/*
	 * No answer, or a failed call: drop the connection, so that the primary
	 * closes any begun row it did record as incomplete.
	 */
	if (res != NULL && PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL)
		AuditFailItems(items, n, PQresultErrorField(res, PG_DIAG_SQLSTATE));
	else if (res == NULL && strcmp(error, "timeout expired") == 0)
		AuditFailItems(items, n, "57014");	/* connected, but no answer in time */
	else
		AuditFailItems(items, n, "08006");
	ereport(LOG,
			(errmsg("biocrypt: the primary did not record %d audit %s of this standby: %s",
					n, n == 1 ? "event" : "events",
					res != NULL ? PQresultErrorMessage(res) : error),
			 errhidestmt(true), errhidecontext(true)));
	PQclear(res);
	AuditForwardStop();
}

/*
 * Accesses whose standby backends died before completing them: the
 * primary writes their incomplete rows from their begun rows.  false if
 * it could not be asked (they are tried again at the next sweep).
 */
bool
AuditForwardIncomplete(const int64 *ids, int n)
{
	AuditEvent *evs = palloc0(sizeof(AuditEvent) * n);
	AuditWriteItem *items = palloc0(sizeof(AuditWriteItem) * n);
	bool		ok = true;

	for (int i = 0; i < n; i++)
	{
		/*
		 * Only what names the access: the primary rebuilds the rest from
		 * its begun row.  (Not AuditEventInit: the worker is outside any
		 * transaction here, where a catalog lookup would crash it.)
		 */
		evs[i].operation = AUDIT_OP_DENIED;
		evs[i].outcome = AUDIT_OUTCOME_INCOMPLETE;
		evs[i].begun_id = ids[i];
		evs[i].started_at = evs[i].ended_at = GetCurrentTimestamp();
		evs[i].matches_len = -1;
		evs[i].matches_dsm = DSM_HANDLE_INVALID;
		strlcpy(evs[i].origin, cluster_name[0] != '\0' ? cluster_name : "standby", NAMEDATALEN);
		items[i].ev = &evs[i];
		items[i].matches_len = -1;
	}
	AuditForwardBatch(items, n);
	/* 22023: the primary has the access closed already (its own sweep) */
	for (int i = 0; i < n; i++)
		ok &= items[i].id > 0 || strcmp(items[i].sqlstate, "22023") == 0;
	return ok;
}

/* ---------------------------------------------------------------------
 * On the primary: biocrypt.audit_forward(biocrypt.audit_log[])
 * --------------------------------------------------------------------- */

/* What a standby can do, and so send: anything, but a change only failed. */
static bool
StandbyCouldHave(AuditOperation op, AuditOutcome outcome)
{
	switch (op)
	{
		case AUDIT_OP_PROTECT:
		case AUDIT_OP_COMPARE:
		case AUDIT_OP_VERIFY:
		case AUDIT_OP_IDENTIFY:
		case AUDIT_OP_REVEAL:
		case AUDIT_OP_EXPORT:
		case AUDIT_OP_DENIED:
		case AUDIT_OP_CALIBRATE:
			return true;
		default:
			/* retention, keys, erasure, policies, reviews write: not there */
			return outcome == AUDIT_OUTCOME_ERROR || outcome == AUDIT_OUTCOME_DENIED;
	}
}

/* A row of the array in column order (attnums map it); false if malformed. */
static bool
RowColumns(Datum row, TupleDesc desc, const AttrNumber *attnums,
		   Datum *values, bool *nulls)
{
	HeapTupleHeader th = DatumGetHeapTupleHeader(row);
	HeapTupleData tuple;
	Datum	   *tvalues = palloc(sizeof(Datum) * desc->natts);
	bool	   *tnulls = palloc(sizeof(bool) * desc->natts);
	const AuditColumnIndex required[] = {AC_STARTED_AT, AC_ENDED_AT, AC_OPERATION,
		AC_TEMPLATES_COMPARED, AC_EXPIRED_SKIPPED, AC_OUTCOME};

	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	heap_deform_tuple(&tuple, desc, tvalues, tnulls);
	for (int c = 0; c < AUDIT_NCOLUMNS; c++)
	{
		nulls[c] = attnums[c] == InvalidAttrNumber || tnulls[attnums[c] - 1];
		values[c] = nulls[c] ? (Datum) 0 : tvalues[attnums[c] - 1];
	}
	for (int i = 0; i < (int) lengthof(required); i++)
		if (nulls[required[i]])
			return false;
	return true;
}

/*
 * The event of one row a standby sent, checked; false if no standby could
 * have sent it.  Its matches, as JSON text, in *matches (NULL: none).
 */
static bool
ForwardedEvent(const Datum *values, const bool *nulls, AuditEvent *ev, char **matches)
{
	int			op = AuditOperationIndex(TextDatumGetCString(values[AC_OPERATION]));
	int			outcome = AuditOutcomeIndex(TextDatumGetCString(values[AC_OUTCOME]));
	char		addr[64];
	char		reported[NAMEDATALEN];
	char	   *role = GetUserNameFromId(GetSessionUserId(), false);

	if (op < 0 || outcome < 0 || !StandbyCouldHave(op, outcome))
		return false;
	/* a begun row opens an access; an incomplete one closes one */
	if ((outcome == AUDIT_OUTCOME_BEGUN && !nulls[AC_BEGUN_ID]) ||
		(outcome == AUDIT_OUTCOME_INCOMPLETE && nulls[AC_BEGUN_ID]))
		return false;
	AuditEventFromRow(values, nulls, ev);
	*matches = nulls[AC_MATCHES] ? NULL :
		DatumGetCString(DirectFunctionCall1(jsonb_out, values[AC_MATCHES]));
	strlcpy(reported, ev->origin[0] != '\0' ? ev->origin : "standby", sizeof(reported));
	AuditClientAddress(addr, sizeof(addr));
	snprintf(ev->origin, sizeof(ev->origin), "%s (%s@%s)", reported, role,
			 addr[0] != '\0' ? addr : "local");
	ev->xid = InvalidFullTransactionId;
	ev->owner_pid = MyProcPid;
	ev->forwarded = true;
	return true;
}

/* AuditStandbyOpenAccess, reading the log as its owner. */
static bool
OpenAccessOf(int64 begun_id, const char *sender, AuditEvent *ev)
{
	BiocryptAsOwner st;
	bool		open;

	BiocryptBecomeOwner(&st, BiocryptRelid("audit_log"));
	open = AuditStandbyOpenAccess(begun_id, sender, ev);
	BiocryptRestoreUser(&st);
	return open;
}

/*
 * Make ready one event a standby sent, for AuditRecordMany; false if it
 * cannot be recorded.  A row that closes an access (it names a begun row)
 * must close one that the same login role forwarded from a standby, still
 * open, and not closed by an earlier row of the batch: a forwarding role
 * can close no access of this server's, nor another standby's, nor one
 * twice.  An incomplete row is rebuilt from the begun row as the primary
 * has it.
 */
static bool
PrepareForwarded(AuditEvent *ev, const char *matches, AuditEvent **batch, int nbatch)
{
	char	   *sender = GetUserNameFromId(GetSessionUserId(), false);

	if (ev->begun_id != 0)
	{
		char		origin[sizeof(ev->origin)];

		for (int i = 0; i < nbatch; i++)
			if (batch[i]->begun_id == ev->begun_id)
				return false;
		strlcpy(origin, ev->origin, sizeof(origin));
		if (!OpenAccessOf(ev->begun_id, sender,
						  ev->outcome == AUDIT_OUTCOME_INCOMPLETE ? ev : NULL))
			return false;
		/* an incomplete row was rebuilt: it keeps this sender's origin */
		strlcpy(ev->origin, origin, sizeof(ev->origin));
		ev->owner_pid = MyProcPid;
		ev->forwarded = true;
	}
	if (matches != NULL && ev->outcome != AUDIT_OUTCOME_INCOMPLETE)
		AuditSetMatches(ev, matches, strlen(matches));
	return true;
}

PG_FUNCTION_INFO_V1(biocrypt_audit_forward);
/*
 * biocrypt.audit_forward(events biocrypt.audit_log[]) RETURNS TABLE (id,
 * sqlstate): record each event a standby sent, in order, each committed
 * before the next; an event no standby could have sent gets no row and
 * SQLSTATE 22023.  For biocrypt_standby.
 */
Datum
biocrypt_audit_forward(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	AttrNumber	attnums[AUDIT_NCOLUMNS];
	Oid			rowtype = AuditCheckTable(attnums);
	TupleDesc	desc;
	Datum	   *elems;
	bool	   *enulls;
	int			n;
	AuditEvent *evs;
	AuditEvent **batch;
	bool	   *recorded;
	int			nbatch = 0;
	int64		ids[AUDIT_QUEUE_SLOTS];

	if (ARR_ELEMTYPE(arr) != rowtype || ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("biocrypt: audit_forward takes a one-dimensional array of biocrypt.audit_log rows"),
				 errhidestmt(true), errhidecontext(true)));
	deconstruct_array(arr, rowtype, -1, false, TYPALIGN_DOUBLE, &elems, &enulls, &n);
	if (n > AUDIT_QUEUE_SLOTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("biocrypt: audit_forward takes at most %d events at a time", AUDIT_QUEUE_SLOTS),
				 errhidestmt(true), errhidecontext(true)));
	desc = lookup_rowtype_tupdesc_copy(rowtype, -1);
	evs = palloc0(sizeof(AuditEvent) * Max(n, 1));
	batch = palloc(sizeof(AuditEvent *) * Max(n, 1));
	recorded = palloc0(sizeof(bool) * Max(n, 1));
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	/* every event checked and made ready, then all queued for one commit */
	for (int i = 0; i < n; i++)
	{
		Datum		values[AUDIT_NCOLUMNS];
		bool		nulls[AUDIT_NCOLUMNS];
		char	   *matches = NULL;

		if (!enulls[i] && RowColumns(elems[i], desc, attnums, values, nulls) &&
			ForwardedEvent(values, nulls, &evs[i], &matches) &&
			PrepareForwarded(&evs[i], matches, batch, nbatch))
		{
			batch[nbatch++] = &evs[i];
			recorded[i] = true;
		}
		else
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("biocrypt: audit event %d of %d sent by role \"%s\" was not recorded: no standby could have sent it",
							i + 1, n, GetUserNameFromId(GetSessionUserId(), false)),
					 errhidestmt(true), errhidecontext(true)));
	}
	SPI_finish();
	AuditRecordMany(batch, nbatch, ids);
	for (int i = 0, b = 0; i < n; i++)
	{
		Datum		out[2] = {Int64GetDatum(recorded[i] ? ids[b++] : 0), CStringGetTextDatum("22023")};
		bool		outnulls[2] = {!recorded[i], recorded[i]};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnulls);
	}
	return (Datum) 0;
}
