/*-------------------------------------------------------------------------
 *
 * biocrypt.h
 *		Declarations shared by the biocrypt modules.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_H
#define BIOCRYPT_H

#include "fmgr.h"
#include "datatype/timestamp.h"
#include "access/attnum.h"
#include "utils/array.h"

#include "base/envelope.h"

#define BIOCRYPT_KEY_BYTES		32

/* A protected_template datum: a varlena whose payload is one envelope. */
#define DatumGetProtectedTemplateP(X)	((bytea *) PG_DETOAST_DATUM(X))
#define PG_GETARG_TEMPLATE_P(n)	DatumGetProtectedTemplateP(PG_GETARG_DATUM(n))

/* Locked scratch memory (secmem.c) */
typedef struct SecBuf
{
	uint8	   *data;
	size_t		len;			/* bytes in use, zeroed on release */
	size_t		cap;
	bool		in_use;
	int			nest_level;		/* transaction nesting level at acquire */
} SecBuf;

extern SecBuf *SecmemAcquire(size_t len);
extern void SecmemRelease(SecBuf *buf);

/*
 * The identity to return to after running SQL as another role (keys.c):
 * the extension's own SQL as the bootstrap superuser, or a table's
 * maintenance as its owner.
 */
typedef struct BiocryptSpi
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} BiocryptSpi;

typedef BiocryptSpi BiocryptAsOwner;

extern void BiocryptSpiBegin(BiocryptSpi *st);
extern void BiocryptSpiEnd(BiocryptSpi *st);
extern void BiocryptBecomeOwner(BiocryptAsOwner *st, Oid relid);
extern void BiocryptRestoreUser(BiocryptAsOwner *st);

/* A piece of work in a subtransaction of its own (subxact.c) */
extern ErrorData *BiocryptSubxact(void (*fn) (void *arg), void *arg);

/* Background workers (biocrypt.c) */
struct BackgroundWorker;
extern void BiocryptWorkerInit(struct BackgroundWorker *bgw, const char *type,
							   const char *function, int flags, int restart_time);
extern void BiocryptDatabaseWorkerInit(struct BackgroundWorker *bgw, const char *type,
									   const char *function, Oid dbid);

/* Key hierarchy (keys.c) */
extern void KeysInit(void);
extern bool KeysRootKeyLoaded(void);
extern const uint8 *KeysGetDek(uint32 key_id, uint8 cipher);
extern const void *KeysGetAesState(uint32 key_id);
extern const uint8 *KeysActiveDek(TimestampTz expires, uint8 cipher,
								  uint32 *key_id);
extern uint8 KeysNewTemplateCipher(void);
extern bool KeysDestroy(uint32 key_id);
extern const uint8 *KeysAuditKey(void);
extern bool KeysCheckRing(void);
extern void KeysStoreChainKey(void);
extern const uint8 *KeysAuditProbeKey(void);

/* The type (template.c) */
extern bool TypeIsProtectedTemplate(Oid typid);

/* Sealing and opening envelopes (seal.c) */
extern bytea *SealTemplate(EnvelopeHeader *hdr, const uint8 *plain);
extern void ParseTemplate(bytea *tpl, EnvelopeHeader *hdr);
extern void ParseTemplateForDecrypt(bytea *tpl, EnvelopeHeader *hdr);
extern void DecryptTemplate(bytea *tpl, const EnvelopeHeader *hdr, uint8 *dst);
extern SecBuf *OpenTemplate(bytea *tpl, EnvelopeHeader *hdr);
extern bytea *ResealTemplate(bytea *tpl, const EnvelopeHeader *labels);

/* Enrolment and reveal (enrol.c) */
extern void EnrolInit(void);
extern const float4 *CheckFloatArray(ArrayType *arr, const char *what, int *dims);
extern char *SubjectToServer(const EnvelopeHeader *hdr);
extern void PurposesFromArray(EnvelopeHeader *hdr, ArrayType *arr);

/* Retention (retention.c) */
extern void RetentionInit(void);
extern TimestampTz RetentionResolveExpiry(bool isnull, TimestampTz requested,
										  TimestampTz now);
extern bool RetentionIsExpired(const EnvelopeHeader *hdr);
extern bool RetentionExpiredAt(const EnvelopeHeader *hdr, TimestampTz now);
extern TimestampTz RetentionAdd(TimestampTz t, const Interval *span);
extern TimestampTz RetentionCapExpiry(TimestampTz created, TimestampTz expires);
extern void RetentionRefuseExpired(const EnvelopeHeader *hdr);
extern int64 RetentionPurge(void);

/* Re-encryption and its progress view (rotate.c) */
extern void RotateInit(void);

/* The purge launcher and workers (purgeworker.c) */
extern void PurgeWorkerInit(void);
extern PGDLLEXPORT void biocrypt_purge_launcher_main(Datum arg);
extern PGDLLEXPORT void biocrypt_purge_worker_main(Datum arg);

/* Column retention policies (policy.c) */
#define POLICY_DEFAULT_RETENTION	0x01	/* retain_until was NULL */
#define POLICY_DEFAULT_PURPOSES		0x02	/* purposes was NULL */
extern void PolicyNoteDefaulted(bytea *tpl, const EnvelopeHeader *hdr, int flags);
extern char *RelationQualifiedName(Oid relid);
extern AttrNumber CheckTemplateColumn(Oid relid, const char *col);
struct RenameStmt;
extern void PolicyFollowRename(const struct RenameStmt *stmt);

/* Purpose limitation (purpose.c) */
extern void PurposeInit(void);
extern const char *PurposeCurrent(void);
extern void PurposeForgetDroppedRoles(void);
struct AuditEvent;
extern void PurposeCheck(FunctionCallInfo fcinfo, const EnvelopeHeader *hdr,
						 struct AuditEvent *ev);

/* Comparison (compare.c) */
extern void CompareInit(void);
extern bool CheckExpired(const EnvelopeHeader *hdr, TimestampTz now);

#endif							/* BIOCRYPT_H */
