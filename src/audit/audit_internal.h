/*-------------------------------------------------------------------------
 *
 * audit_internal.h
 *		Inside the audit layer: the queue in shared memory, the worker, the
 *		rows it writes, the HMAC chain and statements' pending events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_AUDIT_INTERNAL_H
#define BIOCRYPT_AUDIT_INTERNAL_H

#include "nodes/primnodes.h"
#include "storage/backendid.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/palloc.h"

#include "audit/audit.h"

#define AUDIT_QUEUE_SLOTS		128
#define AUDIT_GATHER_MS			2	/* events nobody waits for wait this long */
#define AUDIT_MAX_DATABASES		64

struct EnvelopeHeader;

/* audit.c: the queue */
extern void AuditProbeHash(uint8 *out, const void *a, size_t alen,
						   const void *b, size_t blen);
extern void AuditSetMatches(AuditEvent *ev, const char *json, size_t len);
extern void AuditJsonNumber(StringInfo buf, double v);
extern void AuditRecordNoWait(AuditEvent *ev);
extern void AuditRecordMany(AuditEvent **evs, int n, int64 *ids);
extern void AuditRecordLater(AuditEvent *ev);
extern const char *AuditOperationName(AuditOperation op);
extern AuditOperation AuditOperationByName(const char *name);
extern const char *AuditOutcomeName(AuditOutcome outcome);
extern AuditOutcome AuditOutcomeByName(const char *name);
extern int	AuditOperationIndex(const char *name);
extern int	AuditOutcomeIndex(const char *name);
extern int	AuditTimeoutMs(void);
extern void AuditClientAddress(char *out, size_t outlen);

/* auditentries.c: the list an event carries in its matches column */
#define RECENT_ENTRIES		16	/* entries a policy's re-seal can still replace */
#define SEALED_KEY_BYTES	16	/* a template's nonce, or its first bytes */

typedef struct AuditEntries
{
	StringInfoData text;		/* JSON array body, without brackets */
	int64		n;				/* entries listed */
	int64		omitted;		/* entries past the limit: counted only */
	struct
	{
		uint8		key[SEALED_KEY_BYTES];
		int			off;		/* where the entry starts in text */
	}			recent[RECENT_ENTRIES];
} AuditEntries;

extern MemoryContext AuditPendingMemory(void);
extern void EntriesInit(AuditEntries *e);
extern void EntriesFree(AuditEntries *e);
extern char *EntriesJson(const AuditEntries *e);
extern void EntriesAppend(AuditEntries *into, const AuditEntries *from);
extern void EntriesAddMatch(AuditEntries *e, const char *subject, double distance);
extern void EntriesAddSubject(AuditEntries *e, const char *subject);
extern void EntriesAddRefusal(AuditEntries *e, const char *subject,
							  const char *reason);
extern void EntriesAddSealed(AuditEntries *e, bytea *tpl,
							 const struct EnvelopeHeader *hdr);
extern void EntriesReplaceSealed(AuditEntries *e, bytea *old_tpl,
								 const struct EnvelopeHeader *old_hdr,
								 bytea *new_tpl,
								 const struct EnvelopeHeader *new_hdr);

/* auditsite.c: the table and column an access reads, from the plan */
struct QueryDesc;
extern void AuditResolveVar(Plan *plan, Var *var, List *rtable, Oid *relid,
							const char **col);
extern void AuditResolveSite(Node *site, struct QueryDesc *qd, Oid *relid,
							 const char **col);
extern Oid	AuditResultRelation(struct QueryDesc *qd);

/* auditstmt.c: pending events (access.c and export.c add to them) */
typedef struct Pending
{
	struct QueryDesc *qd;		/* owning executor; NULL: top-level statement */
	int			xact_level;		/* transaction nesting level when opened */
	Node	   *site;			/* last call site mapped here */
	AuditEntries entries;		/* matches, subjects or templates sealed */
	AuditEvent	ev;
} Pending;


extern Pending *FindPending(struct QueryDesc *qd, AuditOperation op, Oid relid,
							const char *col);
extern Pending *OpenPending(struct QueryDesc *qd, AuditOperation op, Oid relid,
							const char *col);
extern Pending *PendingFor(FunctionCallInfo fcinfo, AuditOperation op, Oid relid,
						   const char *col);
extern void MergeProbe(bool *has, bool *mixed, uint8 *hmac, bool from_has,
					   bool from_mixed, const uint8 *from_hmac);
extern void RecordPending(Pending *p);
extern void CountExports(const struct QueryDesc *qd, Oid relid, uint64 rows);

/*
 * auditchain.c: the canonical encoding and the HMAC chain.  Columns of
 * biocrypt.audit_log in table (and encoding) order; rows are built and
 * read by these names, never by bare positions.  The columns a release
 * adds come last and are optional: a row written without them (before the
 * extension's update) hashes as it did when it was written.
 */
typedef enum AuditColumnIndex
{
	AC_ID,
	AC_CHAIN_ID,
	AC_STARTED_AT,
	AC_ENDED_AT,
	AC_SESSION_ROLE,
	AC_EFFECTIVE_ROLE,
	AC_CLIENT_ADDR,
	AC_APPLICATION_NAME,
	AC_BACKEND_PID,
	AC_XID,
	AC_XACT_OUTCOME,
	AC_PURPOSE,
	AC_OPERATION,
	AC_RELATION,
	AC_COLUMN_NAME,
	AC_TEMPLATES_COMPARED,
	AC_EXPIRED_SKIPPED,
	AC_MATCHES,
	AC_METRIC,
	AC_THRESHOLD,
	AC_K,
	AC_PROBE_HMAC,
	AC_QUERY_ID,
	AC_OUTCOME,
	AC_SQLSTATE,
	AC_BEGUN_ID,
	AC_PREV_HASH,
	AC_ROW_HASH,
	/* added in 0.2.0: absent from a table the update has not reached */
	AC_PURPOSE_SKIPPED,
	AC_SHAPE_SKIPPED,
	/* added in 0.3.0 */
	AC_ORIGIN,
	AC_REQUEST_ID,
	AUDIT_NCOLUMNS
} AuditColumnIndex;

#define AC_FIRST_OPTIONAL	AC_PURPOSE_SKIPPED

extern void AuditRowHash(const Datum *values, const bool *nulls,
						 uint8 *out);
extern bool AuditRowHashMatches(const Datum *values, const bool *nulls);
extern char *AuditColumnList(void);
extern Oid	AuditColumnType(int i);
extern Oid	AuditCheckTable(AttrNumber *attnums);

/* auditwrite.c and auditclose.c: the worker's rows */
typedef struct AuditWriteItem
{
	const AuditEvent *ev;
	const char *matches;		/* JSON text (not terminated), or NULL */
	int32		matches_len;
	bool		matches_lost;	/* its list went away with its backend */
	/* results */
	int64		id;				/* the row written; 0: none */
	bool		degraded;		/* written as an error row, without matches */
	char		sqlstate[6];	/* why it failed or was degraded */
} AuditWriteItem;

extern bool AuditWriteBatch(AuditWriteItem *items, int n, bool resolve);
extern void AuditFailItems(AuditWriteItem *items, int n, const char *sqlstate);
extern void BeginWork(void);
extern void EndWork(void);
extern struct _SPI_plan *KeptPlan(struct _SPI_plan **plan, const char *sql, int nargs,
								   Oid *argtypes);
extern ErrorData *AbortWork(MemoryContext cxt);
extern bool WriteTransaction(AuditWriteItem *items, int n, bool resolve,
							 bool alone, bool *open, bool *setup_failed);
extern int64 AuditWriteHead(void);
extern int64 AuditWriteReconcile(void);
extern int64 AuditWriteIncomplete(const int64 *ids, int n);
extern bool AuditStandbyOpenAccess(int64 begun_id, const char *sender, AuditEvent *ev);
extern bytea *AuditRowsSend(const AuditWriteItem *items, int n);
extern void AuditEventFromRow(const Datum *values, const bool *nulls, AuditEvent *ev);
extern void AuditWriteClosedThrough(int64 id);

/* auditforward.c: a standby's events, recorded by its primary */
extern bool AuditForwarding(void);
extern void AuditForwardBatch(AuditWriteItem *items, int n);
extern bool AuditForwardIncomplete(const int64 *ids, int n);
extern void AuditForwardStop(void);

/* auditworker.c */
extern PGDLLEXPORT void biocrypt_audit_launcher_main(Datum arg);
extern PGDLLEXPORT void biocrypt_audit_worker_main(Datum arg);

/* shared state between audit.c and auditworker.c */
typedef enum AuditSlotState
{
	SLOT_FREE,
	SLOT_QUEUED,				/* filled by a backend */
	SLOT_WRITING,				/* taken by the worker */
	SLOT_DONE,					/* committed; event_id is set */
	SLOT_FAILED					/* the worker could not write it */
} AuditSlotState;

typedef struct AuditSlot
{
	AuditSlotState state;
	Oid			dbid;
	uint64		ticket;			/* unique per use of the slot */
	bool		abandoned;		/* nobody waits for it (any more) */
	TimestampTz queued_at;
	int64		event_id;
	bool		degraded;		/* written as an error row, without matches */
	char		failure[6];		/* SQLSTATE of the worker's failure */
	AuditEvent	ev;
} AuditSlot;

typedef enum AuditWorkerState
{
	WORKER_NONE,
	WORKER_REQUESTED,			/* a backend asked the launcher for one */
	WORKER_STARTING,			/* the launcher registered it */
	WORKER_RUNNING
} AuditWorkerState;

/* A begun row whose completion has not been written yet. */
typedef struct AuditOpenAccess
{
	int64		begun_id;
	int32		owner_pid;		/* the backend that will complete it */
} AuditOpenAccess;

#define AUDIT_MAX_OPEN			512	/* per database */

typedef struct AuditDatabase
{
	Oid			dbid;			/* InvalidOid: entry unused */
	AuditWorkerState state;
	TimestampTz state_since;
	int			pid;
	Latch	   *latch;
	bool		reconciled;		/* open begun rows of the last stop closed */
	int			depth_max;		/* most slots it held at once (auditqueue.c) */
	/* begun rows without their completion yet, kept by the worker */
	int			nopen;
	int64		untracked_min;	/* first begun row not kept (no room); 0: none */
	AuditOpenAccess open[AUDIT_MAX_OPEN];
} AuditDatabase;

typedef struct AuditShared
{
	LWLock	   *lock;
	ConditionVariable cv;		/* slot or worker state changed */
	Latch	   *launcher_latch;
	uint64		next_ticket;
	int			depth_max;		/* most slots in use at once (auditqueue.c) */
	AuditDatabase dbs[AUDIT_MAX_DATABASES];
	AuditSlot	slots[AUDIT_QUEUE_SLOTS];
} AuditShared;

extern AuditShared *audit_shared;
extern AuditDatabase *AuditFindDatabase(Oid dbid, bool create);
extern int	AuditQueueDepth(Oid dbid);

/* auditstats.c: what audit.c tells the counters */
extern void AuditStatsCount(const AuditEvent *ev);
extern void AuditStatsWait(int64 wait_us);
extern void AuditStatsResetCounters(void);

#endif							/* BIOCRYPT_AUDIT_INTERNAL_H */
