/*-------------------------------------------------------------------------
 *
 * policy_internal.h
 *		Column policies as their two triggers share them (policy.c,
 *		policycheck.c) and the record of erased subjects (erasure.c).
 *		For src/lifecycle/ only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_POLICY_INTERNAL_H
#define BIOCRYPT_POLICY_INTERNAL_H

#include "fmgr.h"
#include "datatype/timestamp.h"

#include "base/envelope.h"

#define POLICY_TRIGGER			"biocrypt_column_policy"
#define POLICY_CHECK_TRIGGER	"biocrypt_column_policy_check"

/* One registered column of the table the trigger fires on. */
typedef struct ColumnPolicy
{
	AttrNumber	attnum;
	char	   *column;
	Interval	retention;
	ArrayType  *purposes;
	EnvelopeHeader allowed;		/* purposes, parsed as in a header */
	char	   *subject_column; /* NULL: no row binding */
	AttrNumber	subject_attnum; /* InvalidAttrNumber: the column is gone */
} ColumnPolicy;

/* The policies of one table, cached per backend until its relcache entry is invalidated. */
typedef struct PolicyCache
{
	Oid			relid;			/* hash key */
	bool		stale;			/* reload before the next use */
	MemoryContext cxt;			/* holds everything below */
	int			ncolumns;
	ColumnPolicy *columns;
} PolicyCache;

/* policy.c */
extern PolicyCache *TablePolicies(Oid relid);
extern bool PolicyTakeSealed(bytea *tpl, const EnvelopeHeader *hdr, Oid relid);
extern void CheckAgainstPolicy(const EnvelopeHeader *hdr, const ColumnPolicy *c,
							   Oid relid);
extern bool SameLabels(const EnvelopeHeader *a, const EnvelopeHeader *b);

/* erasure.c */
extern void ErasureRecord(text *subject, TimestampTz erased_at);
extern TimestampTz ErasureLastErased(const EnvelopeHeader *hdr);
extern void ErasureCheck(const EnvelopeHeader *hdr, TimestampTz erased_at,
						 const ColumnPolicy *c, Oid relid);

#endif							/* BIOCRYPT_POLICY_INTERNAL_H */
