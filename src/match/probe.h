/*-------------------------------------------------------------------------
 *
 * probe.h
 *		Inside the match layer: probes prepared once per statement (probe.c,
 *		iris.c), shared by compare.c, iris.c and identify.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_PROBE_H
#define BIOCRYPT_PROBE_H

#include "fmgr.h"
#include "access/genam.h"
#include "access/sdir.h"
#include "access/skey.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "base/envelope.h"
#include "base/kernels.h"

/* Common part: wiped memory and the raw argument bytes it came from. */
typedef struct ProbeHeader
{
	MemoryContextCallback wipe;
	void	   *secret;			/* zeroed when the context is reset */
	Size		secret_len;
	void	   *raw;			/* copy of the argument(s); also wiped */
	Size		raw_len;
	uint64		audit_seen;		/* serial of the audit event that has it */
} ProbeHeader;

typedef struct VectorProbe
{
	ProbeHeader ph;
	KernelVectorProbe kp;
} VectorProbe;

typedef struct BitsProbe
{
	ProbeHeader ph;
	KernelBitsProbe kp;
	int			max_shift;
	uint16		rows;			/* layout the rotations were made for */
	uint16		cols;
	uint16		bits_per_cell;
	const uint8 *ones;			/* mask for templates stored without one */
} BitsProbe;

/* probe.c */
extern int	biocrypt_min_common_bits;
extern void ProbeInit(void);
extern void *ProbeAlloc(MemoryContext mcxt, ProbeHeader *ph, Size len);
extern VectorProbe *GetVectorProbe(FunctionCallInfo fcinfo, int argno);
extern void FillVectorProbe(MemoryContext mcxt, VectorProbe *vp, ArrayType *arr,
							const struct varlena *id);
extern bool ExpiredIsError(void);
extern KernelMetric ParseMetric(text *name);
extern const char *MetricName(KernelMetric metric);
extern bool VectorTemplateFits(const EnvelopeHeader *hdr, size_t dims);
extern void CheckVectorTemplate(const EnvelopeHeader *hdr, size_t dims);
extern void CheckMaxDistance(double max_distance);
extern bool CheckExpired(const EnvelopeHeader *hdr, TimestampTz now);

/* disclosure.c: what a role that does not administer biocrypt learns */
struct AuditEvent;
extern bool ScoresExact(void);
/* pairs.c: template against template */
extern void CheckPairsAllowed(FunctionCallInfo fcinfo, struct AuditEvent *ev);
extern KernelVectorProbe FloatProbe(const float *x, size_t dims, KernelMetric metric);

extern double ScoreRound(double d);
extern void ScoreCharge(FunctionCallInfo fcinfo, struct AuditEvent *ev,
						const char *subject, size_t len);
extern double MatchThreshold(KernelMetric *metric);
extern double MatchThresholdBits(void);

/* iris.c */
extern bool BitsTemplateFits(const EnvelopeHeader *hdr, size_t code_len);
extern void CheckBitsTemplate(const EnvelopeHeader *hdr, size_t code_len);
extern void CheckBitsProbeArgs(bytea *code, bytea *mask, int max_shift);
extern BitsProbe *BuildBitsProbe(MemoryContext mcxt, BitsProbe *bp,
								 const uint8 *code, const uint8 *mask,
								 size_t nbytes, int max_shift,
								 const EnvelopeHeader *hdr,
								 const void *key, Size keylen);
extern bool BitsProbeFits(const BitsProbe *bp, const EnvelopeHeader *hdr);
extern BitsProbe *GetBitsProbe(FunctionCallInfo fcinfo, int code_arg,
							   int mask_arg, int max_shift,
							   const EnvelopeHeader *hdr);
extern const uint8 *BitsTemplateMask(const BitsProbe *bp,
									 const EnvelopeHeader *hdr,
									 const uint8 *payload);

/* galscore.c: probes as blobs for the gallery layer */
extern void *VectorScorerBlob(MemoryContext mcxt, ProbeHeader *ph,
							  const KernelVectorProbe *kp, Size *len);
extern void *BitsScorerBlob(MemoryContext mcxt, ProbeHeader *ph, bool iris,
							const uint8 *code, const uint8 *mask, size_t nbytes,
							int max_shift, Size *len);

/* galscan.c: scans of a gallery index, and heap look-ups for identify.c */
struct GallerySearch;
typedef struct HeapLook
{
	Relation	heap;
	AttrNumber	attnum;
	Snapshot	snapshot;
	struct IndexFetchTableData *fetch;
	struct TupleTableSlot *slot;
} HeapLook;

extern void HeapLookBegin(HeapLook *hl, Relation heap, AttrNumber attnum,
						  Snapshot snapshot);
extern bool HeapLookTemplate(HeapLook *hl, ItemPointer tid, EnvelopeHeader *hdr);
extern bool HeapLookEnvelope(HeapLook *hl, const ItemPointerData *tid, EnvelopeHeader *hdr,
							 bytea **tpl);
extern int	GalleryMetricStrategy(KernelMetric metric);
extern bool GalleryRecall(bytea *tpl, int strategy, const void *probe, Size probe_len,
						  double *distance, bool *isnull);
extern void HeapLookEnd(HeapLook *hl);
extern void GalleryCheckExceptions(HeapLook *hl, const struct GallerySearch *gs,
								   FunctionCallInfo fcinfo, struct AuditEvent *ev);
extern IndexScanDesc GalleryBeginScan(Relation index, int nkeys, int norderbys);
extern void GalleryRescan(IndexScanDesc scan, ScanKey keys, int nkeys,
						  ScanKey orderbys, int norderbys);
extern bool GalleryGetTuple(IndexScanDesc scan, ScanDirection dir);
extern void GalleryEndScan(IndexScanDesc scan);

#endif							/* BIOCRYPT_PROBE_H */
