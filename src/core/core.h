/*-------------------------------------------------------------------------
 *
 * core.h
 *		The core layer: server services every higher layer uses.  Calls
 *		only base/ and PostgreSQL (see docs/architecture.md).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_CORE_H
#define BIOCRYPT_CORE_H

#include "access/attnum.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

/* Locked scratch memory, zeroed on release and at abort (secmem.c) */
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
 * The identity to return to after running SQL as another role (spi.c):
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
struct _DestReceiver;
extern void SpiScanAsCaller(const char *query, struct _DestReceiver *dest);
extern void BiocryptBecomeOwner(BiocryptAsOwner *st, Oid relid);
extern void BiocryptRestoreUser(BiocryptAsOwner *st);

/* A piece of work in a subtransaction of its own (subxact.c) */
extern ErrorData *BiocryptSubxact(void (*fn) (void *arg), void *arg);

/* Background workers (worker.c) */
struct BackgroundWorker;
extern void BiocryptWorkerInit(struct BackgroundWorker *bgw, const char *type,
							   const char *function, int flags, int restart_time);
extern void BiocryptDatabaseWorkerInit(struct BackgroundWorker *bgw, const char *type,
									   const char *function, Oid dbid);

/* The primary, and a libpq connection that waits on the latch (remote.c) */
extern void RemoteInit(void);
extern const char *PrimaryConninfo(void);
struct pg_conn;
struct pg_result;
extern struct pg_conn *RemoteConnect(const char *conninfo, const char *dbname,
									 const char *appname, TimestampTz deadline,
									 char **error);
extern bool RemotePrepare(struct pg_conn *conn, const char *name, const char *sql,
						  int nparams, TimestampTz deadline, char **error);
extern struct pg_result *RemoteExecPrepared(struct pg_conn *conn, const char *name,
											int nparams, const char *const *values,
											const int *lengths, const int *formats,
											TimestampTz deadline, char **error);
extern char *RemoteError(struct pg_conn *conn);

/* The extension's objects in the catalogs (catalog.c) */
extern Oid	BiocryptExtensionOid(void);
extern Oid	BiocryptSchemaOid(void);
extern Oid	BiocryptRelid(const char *relname);
extern const char *BiocryptChainId(void);
extern bool BiocryptExtensionIsNew(void);
extern bool TypeIsProtectedTemplate(Oid typid);
extern AttrNumber TemplateColumnAttnum(Oid relid, const char *col);
extern AttrNumber CheckTemplateColumn(Oid relid, const char *col);
extern char *RelationQualifiedName(Oid relid);
extern bool CurrentRoleAdministersBiocrypt(void);
extern bool RoleAdministersBiocrypt(Oid roleid);

/* Session settings (session.c) */
extern void SessionInit(void);
extern const char *PurposeCurrent(void);
extern const char *RequestIdCurrent(void);
extern bool RevealAllowed(void);
extern void SessionWithholdActivity(void);

/* Settings and modules that can leak a plaintext biometric (checkconfig.c) */
typedef struct ConfigRisk
{
	const char *setting;		/* a setting's or a module's name */
	char	   *value;			/* as SHOW prints it, or what holds */
	const char *severity;		/* "severe", "warning" or "info" */
	const char *advice;			/* what leaks, and what to change */
} ConfigRisk;

extern List *ConfigRisks(void);
extern void ConfigWarnSevere(bool only_new);

#endif							/* BIOCRYPT_CORE_H */
