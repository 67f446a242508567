/*-------------------------------------------------------------------------
 *
 * lifecycle.h
 *		The lifecycle layer: enrolment and reveal, purpose grants, column
 *		policies, retention and purge, re-encryption, key administration.
 *		Calls audit/ and below; never match/.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_LIFECYCLE_H
#define BIOCRYPT_LIFECYCLE_H

#include "fmgr.h"

#include "base/envelope.h"
#include "crypto/keys.h"

/* enrol.c */
extern void EnrolInit(void);

/* policy.c: column retention policies */
#define POLICY_DEFAULT_RETENTION	0x01	/* retain_until was NULL */
#define POLICY_DEFAULT_PURPOSES		0x02	/* purposes was NULL */
extern void PolicyNoteSealed(bytea *tpl, const EnvelopeHeader *hdr, int flags,
							 Oid relid);
struct RenameStmt;
extern void PolicyFollowRename(const struct RenameStmt *stmt);

/* policyguard.c: the owner cannot switch a column policy off */
struct PlannedStmt;
extern void PolicyGuardUtility(struct PlannedStmt *pstmt);

/* purpose.c: purpose grants */
extern void PurposeForgetDroppedRoles(void);

/* retention.c */
extern int64 RetentionPurge(void);

/* purgeworker.c */
extern void PurgeWorkerInit(void);
extern PGDLLEXPORT void biocrypt_purge_launcher_main(Datum arg);
extern PGDLLEXPORT void biocrypt_purge_worker_main(Datum arg);

/* rotate.c: re-encryption and its progress view */
extern void RotateShmemRequest(void);
extern void RotateShmemStartup(void);

/* progress.c: biocrypt.enrol_progress and biocrypt.purge_progress */
extern void ProgressShmemRequest(void);
extern void ProgressShmemStartup(void);
extern void EnrolProgressCount(Oid relid);
extern void EnrolProgressEnd(const void *qd);
extern void PurgeProgressBegin(int ncolumns);
extern void PurgeProgressPhase(const char *phase, Oid relid, const char *column);
extern void PurgeProgressAdd(int64 found, int64 purged, bool column_done);
extern void PurgeProgressEnd(void);

/* keyadmin.c */
extern void RecordKeyDestroyed(const DestroyedKey *dk);

#endif							/* BIOCRYPT_LIFECYCLE_H */
