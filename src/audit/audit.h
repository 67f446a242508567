/*-------------------------------------------------------------------------
 *
 * audit.h
 *		The audit layer, as the layers above see it: access events, what
 *		an access tells the audit, and the hooks' entry points.  Calls
 *		template/ and below (see docs/architecture.md); the worker, the
 *		queue and the chain are in audit_internal.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_AUDIT_H
#define BIOCRYPT_AUDIT_H

#include "access/transam.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/plannodes.h"
#include "storage/dsm.h"

#define AUDIT_HASH_BYTES		32
#define AUDIT_INLINE_MATCHES	4096	/* longer match lists go through DSM */
#define AUDIT_MAX_MATCHES_BYTES	(64 * 1024 * 1024)	/* past it, matches are counted */

typedef enum AuditOperation
{
	AUDIT_OP_PROTECT,
	AUDIT_OP_COMPARE,
	AUDIT_OP_VERIFY,
	AUDIT_OP_IDENTIFY,
	AUDIT_OP_REVEAL,
	AUDIT_OP_EXPORT,
	AUDIT_OP_RETAIN,
	AUDIT_OP_PURGE,
	AUDIT_OP_ROTATE,
	AUDIT_OP_DESTROY,
	AUDIT_OP_HOLD,
	AUDIT_OP_ERASE,
	AUDIT_OP_POLICY,
	AUDIT_OP_DENIED,
	AUDIT_OP_REVIEW,
	AUDIT_OP_CALIBRATE
} AuditOperation;

/*
 * An access that decrypts is recorded twice: a "begun" row, committed
 * before its first decryption, and a completion row (ok, error, denied)
 * that names the begun row.  A completion the accessing backend never
 * sent (it died) is written "incomplete" by the worker after a restart.
 */
typedef enum AuditOutcome
{
	AUDIT_OUTCOME_OK,
	AUDIT_OUTCOME_ERROR,
	AUDIT_OUTCOME_DENIED,
	AUDIT_OUTCOME_BEGUN,
	AUDIT_OUTCOME_INCOMPLETE
} AuditOutcome;


/*
 * One access event as a backend hands it over.  Fixed size, so it lives in
 * a queue slot; an empty string or a has_ flag stands for SQL NULL.
 */
typedef struct AuditEvent
{
	TimestampTz started_at;
	TimestampTz ended_at;
	NameData	session_role;
	NameData	effective_role;
	char		client_addr[64];
	char		application_name[NAMEDATALEN];
	int32		backend_pid;
	FullTransactionId xid;		/* invalid: the transaction had none */
	char		purpose[NAMEDATALEN];
	AuditOperation operation;
	Oid			relation;
	NameData	column_name;
	int64		templates_compared;
	int64		expired_skipped;
	int64		purpose_skipped;	/* 1:N: not enrolled for the purpose */
	int64		shape_skipped;	/* 1:N: other dimensions or kind */
	char		metric[16];
	bool		has_threshold;
	double		threshold;
	int32		k;				/* 0: none */
	bool		has_probe;
	uint8		probe_hmac[AUDIT_HASH_BYTES];
	int64		query_id;		/* 0: none */
	AuditOutcome outcome;
	char		sqlstate[6];
	int64		begun_id;		/* completion: the begun row; 0: none */
	int32		owner_pid;		/* the backend (a parallel worker's leader) */
	char		origin[NAMEDATALEN * 2 + 72];	/* a standby's, as its primary records it */
	char		request_id[NAMEDATALEN];	/* biocrypt.request_id */
	/* matches as JSON text: inline, or in a DSM segment when longer */
	int32		matches_len;	/* -1: NULL */
	dsm_handle	matches_dsm;	/* DSM_HANDLE_INVALID: inline */
	char		matches[AUDIT_INLINE_MATCHES];
	/* backend-local bookkeeping, not recorded */
	uint64		serial;			/* identifies the event within the backend */
	bool		probe_mixed;	/* several probes: probe_hmac is NULL */
	bool		begun;			/* its begun row is committed */
	bool		shape_warned;	/* the WARNING on skipped shapes was given */
	bool		forwarded;		/* from a standby: its times stay, no stats */
} AuditEvent;

struct EnvelopeHeader;
struct QueryDesc;
struct QueryCompletion;

/* audit.c: the queue, as backends use it */
extern void AuditInit(void);
extern void AuditShmemRequest(void);
extern void AuditShmemStartup(void);
extern void AuditEventInit(AuditEvent *ev, AuditOperation op);
extern void AuditSetRelation(AuditEvent *ev, Oid relid, const char *column);
extern void AuditJsonString(StringInfo buf, const char *s);
extern void AuditRequireWorker(void);
extern int64 AuditRecord(AuditEvent *ev);
extern void AuditRecordEventJson(AuditOperation op, Oid relid, const char *col,
								 int64 rows, const char *json);

/* auditstats.c: biocrypt.stats and biocrypt.audit_queue */
extern void AuditStatsInit(void);
extern void AuditStatsShmemRequest(void);
extern void AuditStatsShmemStartup(void);

/* access.c: what an access tells the audit */
extern AuditEvent *AuditAccess(FunctionCallInfo fcinfo, AuditOperation op);
extern AuditEvent *AuditAccessRelation(FunctionCallInfo fcinfo, AuditOperation op,
									   Oid relid, const char *col);
extern void AuditAccessProbe(AuditEvent *ev, uint64 *seen, const void *a,
							 size_t alen, const void *b, size_t blen);
extern void AuditAddMatch(AuditEvent *ev, const char *subject, double distance);
extern void AuditAddSubject(AuditEvent *ev, const char *subject);
extern void AuditAddSealed(AuditEvent *ev, bytea *tpl,
						   const struct EnvelopeHeader *hdr);
extern void AuditReplaceSealed(AuditEvent *ev, bytea *old_tpl,
							   const struct EnvelopeHeader *old_hdr,
							   bytea *new_tpl,
							   const struct EnvelopeHeader *new_hdr);
extern void AuditBegin(AuditEvent *ev);
extern void AuditDeny(FunctionCallInfo fcinfo, AuditEvent *ev);
extern void AuditDenySubject(FunctionCallInfo fcinfo, AuditEvent *ev,
							 const char *sqlstate, const char *subject,
							 const char *reason);
extern void AuditRecordNow(AuditEvent *ev);
extern void PurposeCheck(FunctionCallInfo fcinfo, const struct EnvelopeHeader *hdr,
						 AuditEvent *ev);
extern bool PurposeSkip(FunctionCallInfo fcinfo, const struct EnvelopeHeader *hdr,
						AuditEvent *ev);
extern void AuditShapeSkipped(AuditEvent *ev, int64 n);
extern bool AuditSearchSkips(FunctionCallInfo fcinfo, const struct EnvelopeHeader *hdr,
							 bool fits, AuditEvent *ev);

/* auditstmt.c: statements, for biocrypt.c's executor and utility hooks */
extern void AuditStmtInit(void);
extern int	AuditExecBegin(struct QueryDesc *qd);
extern void AuditExecEnd(int depth, int sqlerrcode);
extern void AuditExecDone(struct QueryDesc *qd);
extern void AuditNoteError(int sqlerrcode);
extern void AuditStatementDone(void);
extern const void *AuditCurrentQuery(void);

/* export.c: COPY TO of template columns */
extern void AuditExportQueryBegin(struct QueryDesc *qd);
extern void AuditExportQueryEnd(struct QueryDesc *qd, uint64 rows);
extern Oid	AuditUtilityBegin(PlannedStmt *pstmt);
extern void AuditUtilityEnd(Oid copied, const struct QueryCompletion *qc);

/* auditrequest.c: administrative requests, refused ones included */
extern char *AuditRequestJson(FunctionCallInfo fcinfo);
extern Datum AuditAttempt(FunctionCallInfo fcinfo, AuditOperation op,
						  PGFunction body);

/* auditguard.c: no DDL on the audit log */
extern void AuditGuardInit(void);
extern void AuditGuardUtility(PlannedStmt *pstmt);

/* auditworker.c */
extern void AuditRegisterLauncher(void);

#endif							/* BIOCRYPT_AUDIT_H */
