/*
 * gallery_floor.c
 *		The C floor of a warm-gallery search for test/bench/gallery.sh: the
 *		server's batch kernel and a top-k over one dense plaintext array of N
 *		templates, in one process, no PostgreSQL and no decryption.
 *
 * Reads the rows gen.c writes (binary COPY on stdin: "gen vec N seed dims"
 * or "gen iris N seed bits"), so it scores the same templates as the
 * server's tables, quantised by the server's own QuantiseVector.  The array
 * is laid out as the warm form lays out its payloads: one slot per template,
 * the payload rounded up to 64 bytes, 64-byte aligned.  The probe is row 1,
 * as in the benchmark's SQL.  The loop scores batches of 64 payloads with
 * KernelVectorDistances / KernelBitsDistances (the calls identify() makes
 * for a warm gallery) and keeps the k best in a bounded max-heap.
 *
 * Iris: the probe's rotations are the probe code and mask rotated by whole
 * bytes; the kernel's cost does not depend on the bits, so the rate is the
 * same as with the server's cell rotations.  min_valid is the default of
 * biocrypt.min_common_bits (64).
 *
 * Usage: gen vec N 42 512 | gallery_floor --format f32|f16|i8 [--reps R] [--k K]
 *        gen iris N 42 2048 | gallery_floor --format iris [--reps R] [--k K]
 * Prints CSV rows "format,n,method,rep,ms" (method "floor"; iris prints
 * iris_s0 and iris_s8, 1 and 17 rotations), R timed repetitions after one
 * untimed warm-up; notes on stderr.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/envelope.h"
#include "base/kernels.h"
#include "base/quantise.h"
#include "benchclock.h"

#define BATCH		64
#define MAX_K		1000
#define MAX_REPS	64
#define MAX_SHIFTS	17

typedef struct Dense
{
	const char *name;			/* f32, f16, i8, iris */
	uint8_t		format;
	size_t		n;
	size_t		cap;
	size_t		payload_len;
	size_t		slot;			/* payload_len rounded up to 64 */
	size_t		nbytes;			/* bits: bytes of a code */
	uint8_t    *data;
	float	   *probe;			/* vectors: row 1 */
	uint8_t    *probe_code;		/* bits: row 1, code then mask */
} Dense;

/* the k best: a max-heap on distance */
typedef struct TopK
{
	int			k;
	int			n;
	double		dist[MAX_K];
	size_t		idx[MAX_K];
} TopK;

static volatile double sink;

static void
ReadExact(void *p, size_t n)
{
	if (fread(p, 1, n, stdin) != n)
	{
		fprintf(stderr, "gallery_floor: short input\n");
		exit(1);
	}
}

static int32_t
ReadI32(void)
{
	uint32_t	v;

	ReadExact(&v, 4);
	return (int32_t) ntohl(v);
}

static int16_t
ReadI16(void)
{
	uint16_t	v;

	ReadExact(&v, 2);
	return (int16_t) ntohs(v);
}

/* Room for one more template. */
static uint8_t *
NextSlot(Dense *d)
{
	if (d->n == d->cap)
	{
		size_t		cap = d->cap ? d->cap * 2 : 4096;
		uint8_t    *p = aligned_alloc(64, cap * d->slot);

		if (p == NULL)
		{
			fprintf(stderr, "gallery_floor: out of memory\n");
			exit(1);
		}
		if (d->data != NULL)
			memcpy(p, d->data, d->n * d->slot);
		free(d->data);
		d->data = p;
		d->cap = cap;
	}
	memset(d->data + d->n * d->slot, 0, d->slot);
	return d->data + d->n++ * d->slot;
}

/* One vector row of gen's output: id, real[] (binary array format). */
static void
ReadVector(Dense *d, const EnvelopeHeader *hdr, float *x)
{
	int			dims;

	if (ReadI32() != 4)
		exit(1);
	(void) ReadI32();			/* id */
	(void) ReadI32();			/* array length */
	if (ReadI32() != 1)			/* ndim */
		exit(1);
	(void) ReadI32();			/* has nulls */
	(void) ReadI32();			/* element type */
	dims = ReadI32();
	(void) ReadI32();			/* lower bound */
	if (dims != (int) hdr->dims)
	{
		fprintf(stderr, "gallery_floor: rows of %d dims, expected %u\n", dims, hdr->dims);
		exit(1);
	}
	for (int k = 0; k < dims; k++)
	{
		uint32_t	bits;

		(void) ReadI32();		/* element length */
		bits = (uint32_t) ReadI32();
		memcpy(&x[k], &bits, 4);
	}
	if (!QuantiseVector(hdr, x, NextSlot(d)))
	{
		fprintf(stderr, "gallery_floor: QuantiseVector refused a row\n");
		exit(1);
	}
	if (d->n == 1)
		memcpy(d->probe, x, sizeof(float) * dims);
}

/* One iris row: id, code, mask; stored as the payload is: code then mask. */
static void
ReadIris(Dense *d)
{
	uint8_t    *slot = NULL;

	if (ReadI32() != 4)
		exit(1);
	(void) ReadI32();
	for (int part = 0; part < 2; part++)
	{
		int32_t		len = ReadI32();

		if (d->nbytes == 0)
		{
			d->nbytes = (size_t) len;
			d->payload_len = 2 * d->nbytes;
			d->slot = (d->payload_len + 63) & ~(size_t) 63;
		}
		if ((size_t) len != d->nbytes)
			exit(1);
		if (part == 0)
			slot = NextSlot(d);
		ReadExact(slot + part * d->nbytes, d->nbytes);
	}
	if (d->n == 1)
	{
		d->probe_code = malloc(d->payload_len);
		memcpy(d->probe_code, slot, d->payload_len);
	}
}

static void
ReadAll(Dense *d, int dims)
{
	uint8_t		head[19];
	EnvelopeHeader hdr;
	float	   *x = malloc(sizeof(float) * ENVELOPE_MAX_DIMS);

	ReadExact(head, sizeof(head));
	memset(&hdr, 0, sizeof(hdr));
	hdr.format = d->format;
	hdr.dims = (uint32_t) dims;
	if (d->format != ENVELOPE_FORMAT_BITS)
	{
		d->payload_len = EnvelopePayloadSize(d->format, hdr.dims, 0);
		d->slot = (d->payload_len + 63) & ~(size_t) 63;
		d->probe = aligned_alloc(64, sizeof(float) * ((dims + 15) & ~15));
	}
	for (;;)
	{
		int16_t		nf = ReadI16();

		if (nf == -1)
			break;
		if (d->format == ENVELOPE_FORMAT_BITS)
			ReadIris(d);
		else
			ReadVector(d, &hdr, x);
	}
	free(x);
}

static void
HeapPush(TopK *t, double dist, size_t idx)
{
	int			i;

	if (isnan(dist))
		return;
	if (t->n < t->k)
		i = t->n++;
	else if (dist < t->dist[0])
	{
		/* replace the worst, sift down */
		i = 0;
		for (;;)
		{
			int			l = 2 * i + 1,
						r = l + 1,
						w = l;

			if (l >= t->n)
				break;
			if (r < t->n && t->dist[r] > t->dist[l])
				w = r;
			if (t->dist[w] <= dist)
				break;
			t->dist[i] = t->dist[w];
			t->idx[i] = t->idx[w];
			i = w;
		}
		t->dist[i] = dist;
		t->idx[i] = idx;
		return;
	}
	else
		return;
	/* a new element at i: sift up */
	while (i > 0 && t->dist[(i - 1) / 2] < dist)
	{
		t->dist[i] = t->dist[(i - 1) / 2];
		t->idx[i] = t->idx[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	t->dist[i] = dist;
	t->idx[i] = idx;
}

/* One search: every template scored in batches, the k best kept. */
static void
Search(const Dense *d, const KernelVectorProbe *vp, const KernelBitsProbe *bp, TopK *t)
{
	const uint8_t *payloads[BATCH];
	const uint8_t *masks[BATCH];
	double		dist[BATCH];

	t->n = 0;
	for (size_t start = 0; start < d->n; start += BATCH)
	{
		int			nb = d->n - start < BATCH ? (int) (d->n - start) : BATCH;

		for (int i = 0; i < nb; i++)
		{
			payloads[i] = d->data + (start + i) * d->slot;
			masks[i] = payloads[i] + d->nbytes;
		}
		if (bp != NULL)
			KernelBitsDistances(bp, payloads, masks, (size_t) nb, dist);
		else
			KernelVectorDistances(vp, d->format, payloads, (size_t) nb, dist);
		for (int i = 0; i < nb; i++)
			HeapPush(t, dist[i], start + i);
	}
	sink += t->n ? t->dist[0] : 0;
}

static void
Time(const Dense *d, const char *label, const KernelVectorProbe *vp,
	 const KernelBitsProbe *bp, int k, int reps)
{
	static TopK t;

	t.k = k;
	Search(d, vp, bp, &t);		/* warm-up */
	for (int r = 1; r <= reps; r++)
	{
		double		t0 = NowNs();

		Search(d, vp, bp, &t);
		printf("%s,%zu,floor,%d,%.6f\n", label, d->n, r, (NowNs() - t0) / 1e6);
	}
	fflush(stdout);
	/* the probe is row 1: it must be among the best */
	for (int i = 0; i < t.n; i++)
		if (t.idx[i] == 0)
			return;
	fprintf(stderr, "gallery_floor: %s: row 1 is not in the top %d of its own probe\n", label, k);
	exit(1);
}

/* Rotations of the probe by whole bytes: 0, +1, -1, +2, -2, ... */
static void
BitsProbe(const Dense *d, int nshifts, KernelBitsProbe *bp, const uint8_t **codes,
		  const uint8_t **masks)
{
	for (int s = 0; s < nshifts; s++)
	{
		int			by = (s + 1) / 2 * (s % 2 ? 1 : -1);
		uint8_t    *c = aligned_alloc(64, (d->nbytes + 63) & ~(size_t) 63);
		uint8_t    *m = aligned_alloc(64, (d->nbytes + 63) & ~(size_t) 63);

		for (size_t b = 0; b < d->nbytes; b++)
		{
			size_t		from = (b + d->nbytes + by) % d->nbytes;

			c[b] = d->probe_code[from];
			m[b] = d->probe_code[d->nbytes + from];
		}
		codes[s] = c;
		masks[s] = m;
	}
	bp->codes = codes;
	bp->masks = masks;
	bp->nshifts = nshifts;
	bp->nbytes = d->nbytes;
	bp->min_valid = 64;
}

int
main(int argc, char **argv)
{
	Dense		d;
	int			reps = 5,
				k = 10,
				dims = 512;
	const char *format = NULL;

	memset(&d, 0, sizeof(d));
	for (int i = 1; i + 1 < argc; i += 2)
	{
		if (strcmp(argv[i], "--format") == 0)
			format = argv[i + 1];
		else if (strcmp(argv[i], "--reps") == 0)
			reps = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--k") == 0)
			k = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--dims") == 0)
			dims = atoi(argv[i + 1]);
		else
		{
			fprintf(stderr, "gallery_floor: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (format == NULL || reps < 1 || reps > MAX_REPS || k < 1 || k > MAX_K ||
		dims < 1 || dims > ENVELOPE_MAX_DIMS)
	{
		fprintf(stderr, "usage: gen ... | gallery_floor --format f32|f16|i8|iris [--reps R] [--k K] [--dims D]\n");
		return 2;
	}
	d.name = format;
	d.format = strcmp(format, "f32") == 0 ? ENVELOPE_FORMAT_F32 :
		strcmp(format, "f16") == 0 ? ENVELOPE_FORMAT_F16 :
		strcmp(format, "i8") == 0 ? ENVELOPE_FORMAT_I8 :
		strcmp(format, "iris") == 0 ? ENVELOPE_FORMAT_BITS : 0;
	if (d.format == 0)
	{
		fprintf(stderr, "gallery_floor: unknown format %s\n", format);
		return 2;
	}
	if (!KernelUsePath(KernelBestPath()))
		return 1;
	ReadAll(&d, dims);
	if (d.n == 0)
	{
		fprintf(stderr, "gallery_floor: no rows\n");
		return 1;
	}
	fprintf(stderr, "gallery_floor: %s, n=%zu, payload %zu bytes in %zu-byte slots, kernel path %s, k=%d\n",
			format, d.n, d.payload_len, d.slot, KernelPathName(KernelCurrentPath()), k);
	if (d.format == ENVELOPE_FORMAT_BITS)
	{
		static const uint8_t *codes[MAX_SHIFTS];
		static const uint8_t *masks[MAX_SHIFTS];
		KernelBitsProbe bp;

		BitsProbe(&d, 1, &bp, codes, masks);
		Time(&d, "iris_s0", NULL, &bp, k, reps);
		BitsProbe(&d, MAX_SHIFTS, &bp, codes, masks);
		Time(&d, "iris_s8", NULL, &bp, k, reps);
	}
	else
	{
		KernelVectorProbe vp;
		double		norm = 0;

		for (int i = 0; i < dims; i++)
			norm += (double) d.probe[i] * d.probe[i];
		vp.x = d.probe;
		vp.dims = (size_t) dims;
		vp.norm = sqrt(norm);
		vp.metric = KERNEL_METRIC_COSINE;
		Time(&d, format, &vp, NULL, k, reps);
	}
	fprintf(stderr, "gallery_floor: done (sink %g)\n", (double) sink);
	return 0;
}
