/*-------------------------------------------------------------------------
 *
 * remote.c
 *		Where a standby's primary is (biocrypt.primary_conninfo), and a
 *		libpq connection from inside the server that waits on the process
 *		latch: a standby's audit worker talks to its primary.
 *
 * libpq's blocking calls would hold the process deaf to SIGTERM and to the
 * postmaster's death for as long as the network decides, so both the
 * connection and each statement are driven asynchronously and every wait is
 * WaitLatchOrSocket, bounded by a deadline the caller gives.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq-fe.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "core/core.h"

static char *biocrypt_primary_conninfo = NULL;

/* Preload: the setting. */
void
RemoteInit(void)
{
	DefineCustomStringVariable("biocrypt.primary_conninfo",
							   "Where a standby sends its accesses' audit events (a libpq connection string).",
							   "Empty: primary_conninfo, with this database's name.",
							   &biocrypt_primary_conninfo,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
}

/*
 * The connection string to this standby's primary, or NULL if there is
 * none: biocrypt.primary_conninfo, else the walreceiver's own.
 */
const char *
PrimaryConninfo(void)
{
	const char *walreceiver;

	if (biocrypt_primary_conninfo != NULL && biocrypt_primary_conninfo[0] != '\0')
		return biocrypt_primary_conninfo;
	walreceiver = GetConfigOption("primary_conninfo", true, false);
	return walreceiver != NULL && walreceiver[0] != '\0' ? walreceiver : NULL;
}

/* How long until deadline, in ms (0 once it has passed). */
static long
MsLeft(TimestampTz deadline)
{
	long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

	return Max(ms, 0);
}

/* Wait until the socket is ready (or the latch is set); false past deadline. */
static bool
WaitSocket(PGconn *conn, int events, TimestampTz deadline)
{
	int			rc;

	if (MsLeft(deadline) == 0)
		return false;
	rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | events,
						   PQsocket(conn), MsLeft(deadline), PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/* Notices from the other side (its WARNINGs) go to this server's log. */
static void
RemoteNotice(void *arg, const PGresult *res)
{
	ereport(LOG,
			(errmsg("biocrypt: the remote server says: %s",
					PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)),
			 errhidestmt(true), errhidecontext(true)));
}

/* libpq's message, one line, for a log line or an error detail. */
char *
RemoteError(PGconn *conn)
{
	char	   *msg = pstrdup(conn != NULL ? PQerrorMessage(conn) : "out of memory");
	size_t		len = strlen(msg);

	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return msg;
}

/*
 * Connect with conninfo (a connection string or URI, as primary_conninfo),
 * to database dbname, as application appname.  NULL past deadline or on
 * failure, with libpq's message in *error (the connection is closed).
 */
PGconn *
RemoteConnect(const char *conninfo, const char *dbname, const char *appname,
			  TimestampTz deadline, char **error)
{
	const char *keys[] = {"dbname", "dbname", "application_name", NULL};
	const char *vals[] = {conninfo, dbname, appname, NULL};
	PGconn	   *conn = PQconnectStartParams(keys, vals, 1);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	while (conn != NULL && PQstatus(conn) != CONNECTION_BAD &&
		   st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
	{
		if (!WaitSocket(conn, st == PGRES_POLLING_READING ? WL_SOCKET_READABLE :
						WL_SOCKET_WRITEABLE, deadline))
		{
			*error = pstrdup("timeout expired");
			PQfinish(conn);
			return NULL;
		}
		st = PQconnectPoll(conn);
	}
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		*error = RemoteError(conn);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeReceiver(conn, RemoteNotice, NULL);
	return conn;
}

/*
 * The last result of what was sent, once it is complete.  NULL past
 * deadline or when the connection fails, with the reason in *error; the
 * caller then drops the connection, since a statement may still be
 * running on the other side.
 */
static PGresult *
LastResult(PGconn *conn, TimestampTz deadline, char **error)
{
	PGresult   *last = NULL;
	PGresult   *res;

	for (;;)
	{
		while (PQisBusy(conn))
		{
			if (!WaitSocket(conn, WL_SOCKET_READABLE, deadline))
			{
				*error = pstrdup("timeout expired");
				PQclear(last);
				return NULL;
			}
			if (!PQconsumeInput(conn))
			{
				*error = RemoteError(conn);
				PQclear(last);
				return NULL;
			}
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		PQclear(last);
		last = res;
	}
	if (last == NULL)
		*error = RemoteError(conn);
	return last;
}

/*
 * Prepare sql as statement name on the connection; false (and *error) if
 * it could not be.
 */
bool
RemotePrepare(PGconn *conn, const char *name, const char *sql, int nparams,
			  TimestampTz deadline, char **error)
{
	PGresult   *res;
	bool		ok;

	if (!PQsendPrepare(conn, name, sql, nparams, NULL))
	{
		*error = RemoteError(conn);
		return false;
	}
	res = LastResult(conn, deadline, error);
	ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
	if (res != NULL && !ok)
		*error = pstrdup(PQresultErrorMessage(res));
	PQclear(res);
	return ok;
}

/*
 * Run the prepared statement name with parameters (text or binary, as
 * formats says) and return its last result, text columns; NULL as
 * LastResult says.
 */
PGresult *
RemoteExecPrepared(PGconn *conn, const char *name, int nparams, const char *const *values,
				   const int *lengths, const int *formats, TimestampTz deadline, char **error)
{
	if (!PQsendQueryPrepared(conn, name, nparams, values, lengths, formats, 0))
	{
		*error = RemoteError(conn);
		return NULL;
	}
	return LastResult(conn, deadline, error);
}
