/*
 * floor.c
 *		Floor (a) for test/bench/run.sh: what 1:N identification costs per
 *		template with no PostgreSQL at all -- envelope parse, AEAD decrypt
 *		into a scratch batch and the kernels' batch entry point, in a plain
 *		C loop -- plus its parts and kernel-only throughput.
 *
 * Links the extension's own src/base/ code (envelope.c, aead.c,
 * quantise.c, kernels.c, kernels_x86.c) and libsodium; built by the
 * Makefile (make test/bench/floor), with the server's optimisation flags
 * and no -march (the kernels pick their SIMD path at run time).  Envelopes
 * are built the way the extension builds them: QuantiseVector,
 * EnvelopeComputeSizes + EnvelopeWriteHeader, AeadSeal (header as
 * associated data, random nonce), the same subject and purpose shape,
 * under one random data key, with the cipher and kernel path the server
 * reported.  They are opened as seal.c's DecryptTemplate opens them:
 * EnvelopeParseForDecrypt, then AeadOpen with the AES key schedule
 * expanded once (crypto_aead_aes256gcm_beforenm, as KeysGetAesState keeps
 * it) for AES-256-GCM and with the key for XChaCha20-Poly1305.  The loop
 * mirrors identify.c: batches of min(64, 256 KiB / slot) payload slots
 * 64-byte aligned, one batch kernel call per full batch, best distance
 * kept.
 *
 * Usage: floor --n N [--cipher 1|2] [--path avx512|avx2|portable]
 *              [--reps R] [--formats f32,f16,i8,iris_s0,iris_s8]
 *              [--dims 512] [--bits 2048]
 * Prints CSV rows "format,n,method,rep,ms" on stdout (R timed repetitions
 * after one untimed warm-up each); notes on stderr.  Methods:
 *   floor_a         parse + expiry check + decrypt + batch kernel (the floor)
 *   floor_a_keycall the same with the AES key schedule expanded on every
 *                   call (AeadOpen given the key and no expanded state:
 *                   crypto_aead_aes256gcm_decrypt), what the server did
 *                   before it kept expanded keys; AES only, a what-if
 *   floor_a_heap    floor_a over a copy laid out like heap pages (tuples
 *                   packed downwards from each 8 KiB page's end, read in
 *                   line-pointer order), to see what the layout costs
 *   floor_a_heap_pf floor_a_heap with a software prefetch of each envelope
 *                   and of the bytes just below it (where the page's next
 *                   tuple usually is) before parsing it: a what-if
 *   parse           the parse alone (EnvelopeParseForDecrypt)
 *   decrypt         AEAD decrypt only (as the extension calls it)
 *   kernel_hot      batch kernel over 64 cache-resident payloads, N calls
 *   kernel_stream   batch kernel over all N payloads (memory-bound)
 *   zero            sodium_memzero of each full batch (identify does this)
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/aead.h"
#include "base/envelope.h"
#include "base/kernels.h"
#include "base/quantise.h"
#include "benchclock.h"

#define BATCH_BYTES		(256 * 1024)
#define MAX_BATCH		64
#define PG_EPOCH_UNIX_US INT64_C(946684800000000)
#define MAX_REPS		64

typedef struct Format
{
	const char *name;
	uint8_t		format;
	int			nshifts;		/* bits only */
} Format;

typedef struct Set
{
	const Format *f;
	size_t		n;
	uint8_t    *arena;			/* envelopes, 8-byte aligned like heap data */
	size_t	   *off;
	uint8_t    *heap;			/* the same envelopes laid out like heap pages */
	size_t	   *hoff;
	size_t	   *len;
	EnvelopeHeader sizes;		/* cipher, format and lengths, the same for
								 * every template (fixed subject length);
								 * labels cleared */
	size_t		header_len;
	size_t		nonce_len;
	size_t		payload_len;
	uint8_t    *plain;			/* all N payloads, for kernel_stream */
	size_t		slot;			/* 64-aligned payload slot */
	int			batch_cap;
	uint8_t    *scratch;
	const uint8_t *payloads[MAX_BATCH];
	const uint8_t *masks[MAX_BATCH];
	double		dist[MAX_BATCH];
} Set;

static uint8_t key[32];
static crypto_aead_aes256gcm_state aes_state;
/* what DecryptTemplate passes to AeadOpen: the state for AES, else the key */
static const uint8_t *open_key;
static const void *open_state;
static int	cipher = 0;
static int	dims = 512;
static int	bits = 2048;
static int64_t now_pg;
static volatile double sink;

/* probes */
static float *vprobe_x;
static KernelVectorProbe vprobe;
static KernelBitsProbe bprobe;
static const uint8_t *bcodes[64];
static const uint8_t *bmasks[64];

static uint64_t rng_state = 12345;

static uint64_t
Rand64(void)
{
	uint64_t	z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static float
RandF(void)
{
	return (float) ((Rand64() >> 40) * (1.0 / 16777216.0) * 2.0 - 1.0);
}

/* One random payload: a unit vector quantised by the server's QuantiseVector. */
static void
MakePayload(const Format *f, const EnvelopeHeader *hdr, uint8_t *out)
{
	if (f->format == ENVELOPE_FORMAT_BITS)
	{
		size_t		nb = bits / 8;

		for (size_t k = 0; k < nb; k++)
		{
			out[k] = (uint8_t) Rand64();
			out[nb + k] = (uint8_t) ~(Rand64() & Rand64() & Rand64());
		}
		return;
	}
	{
		float		x[ENVELOPE_MAX_DIMS];
		double		norm = 0;

		for (int i = 0; i < dims; i++)
		{
			x[i] = RandF();
			norm += (double) x[i] * x[i];
		}
		norm = sqrt(norm);
		for (int i = 0; i < dims; i++)
			x[i] = (float) (x[i] / norm);
		if (!QuantiseVector(hdr, x, out))
			abort();			/* a unit vector always fits f16 */
	}
}

static void
BuildSet(Set *s, const Format *f, size_t n)
{
	EnvelopeHeader hdr;
	char		subject[64];
	static const char purpose[] = "verification";
	uint8_t    *plain;
	size_t		pos = 0;

	memset(s, 0, sizeof(*s));
	s->f = f;
	s->n = n;
	memset(&hdr, 0, sizeof(hdr));
	hdr.cipher = (uint8_t) cipher;
	hdr.format = f->format;
	if (f->format == ENVELOPE_FORMAT_BITS)
	{
		hdr.dims = (uint32_t) bits;
		hdr.flags = ENVELOPE_FLAG_MASK;
		if (bits == 2048)
		{
			hdr.rows = 8;
			hdr.cols = 128;
			hdr.bits_per_cell = 2;
		}
	}
	else
		hdr.dims = (uint32_t) dims;
	hdr.key_id = 1;
	hdr.created = now_pg;
	hdr.expires = now_pg + INT64_C(365) * 86400 * 1000000;
	snprintf(subject, sizeof(subject), "subject-%08d", 0);
	hdr.subject = subject;
	hdr.subject_len = (uint16_t) strlen(subject);
	hdr.npurposes = 1;
	hdr.purpose[0] = purpose;
	hdr.purpose_len[0] = (uint8_t) strlen(purpose);
	if (EnvelopeComputeSizes(&hdr) != ENVELOPE_OK)
	{
		fprintf(stderr, "floor: bad header\n");
		exit(1);
	}
	s->sizes = hdr;
	s->sizes.subject = NULL;
	s->sizes.purpose[0] = NULL;
	s->header_len = hdr.header_len;
	s->nonce_len = hdr.nonce_len;
	s->payload_len = hdr.payload_len;
	s->off = malloc(sizeof(size_t) * n);
	s->len = malloc(sizeof(size_t) * n);
	s->arena = malloc(((hdr.total_len + 7) & ~(size_t) 7) * n);
	s->plain = aligned_alloc(64, ((hdr.payload_len + 63) & ~(size_t) 63) * n + 64);
	plain = malloc(hdr.payload_len);
	for (size_t i = 0; i < n; i++)
	{
		uint8_t    *env = s->arena + pos;

		snprintf(subject, sizeof(subject), "subject-%08zu", i + 1);
		EnvelopeWriteHeader(&hdr, env);
		MakePayload(f, &hdr, plain);
		memcpy(s->plain + ((hdr.payload_len + 63) & ~(size_t) 63) * i, plain, hdr.payload_len);
		AeadSeal(&hdr, env, plain, key);
		s->off[i] = pos;
		s->len[i] = hdr.total_len;
		pos += (hdr.total_len + 7) & ~(size_t) 7;
	}
	free(plain);

	/*
	 * Heap-page layout: 8 KiB pages, page header 24 bytes, a 4-byte line
	 * pointer per tuple, tuples (23-byte header + null bitmap padding to 24,
	 * an int4 id, the 4-byte varlena header, the envelope; MAXALIGNed) placed
	 * from the end of the page downwards, read in line-pointer order.
	 */
	{
		size_t		tup = (24 + 4 + 4 + hdr.total_len + 7) & ~(size_t) 7;
		size_t		per_page = (8192 - 24) / (tup + 4);
		size_t		pages = (n + per_page - 1) / per_page;

		s->heap = aligned_alloc(8192, pages * 8192);
		s->hoff = malloc(sizeof(size_t) * n);
		for (size_t i = 0; i < n; i++)
		{
			size_t		page = i / per_page,
						k = i % per_page;
			size_t		start = page * 8192 + 8192 - (k + 1) * tup;

			s->hoff[i] = start + 24 + 4 + 4;
			memcpy(s->heap + s->hoff[i], s->arena + s->off[i], s->len[i]);
		}
	}
	s->slot = (hdr.payload_len + 63) & ~(size_t) 63;
	s->batch_cap = (int) (BATCH_BYTES / s->slot);
	if (s->batch_cap > MAX_BATCH)
		s->batch_cap = MAX_BATCH;
	if (s->batch_cap < 1)
		s->batch_cap = 1;
	s->scratch = aligned_alloc(64, s->slot * s->batch_cap);
	memset(s->scratch, 0, s->slot * s->batch_cap);
}

static void
FreeSet(Set *s)
{
	free(s->arena);
	free(s->off);
	free(s->heap);
	free(s->hoff);
	free(s->len);
	free(s->plain);
	free(s->scratch);
}

static void
RunBatch(Set *s, int nb)
{
	double		best = INFINITY;

	if (nb == 0)
		return;
	if (s->f->format == ENVELOPE_FORMAT_BITS)
		KernelBitsDistances(&bprobe, s->payloads, s->masks, (size_t) nb, s->dist);
	else
		KernelVectorDistances(&vprobe, s->f->format, s->payloads, (size_t) nb, s->dist);
	for (int i = 0; i < nb; i++)
		if (s->dist[i] < best)
			best = s->dist[i];
	sink += best;
}

/*
 * Decrypt as DecryptTemplate does; keycall (the what-if) gives AeadOpen the
 * key and no expanded state, so AES expands the key schedule every call.
 */
static int
Decrypt(const EnvelopeHeader *hdr, const uint8_t *env, uint8_t *dst, int keycall)
{
	if (keycall)
		return AeadOpen(hdr, env, key, NULL, dst);
	return AeadOpen(hdr, env, open_key, open_state, dst);
}

/* floor (a): what identify() does per template, minus PostgreSQL. */
static void
FloorA(Set *s, int keycall, const uint8_t *arena, const size_t *off, int prefetch)
{
	int			nb = 0;
	size_t		nbytes = bits / 8;

	for (size_t i = 0; i < s->n; i++)
	{
		const uint8_t *env = arena + off[i];
		EnvelopeHeader hdr;
		uint8_t    *dst;

		if (prefetch)
		{
			/* this envelope, and the bytes below it: the page's next tuple */
			for (size_t o = 0; o < s->len[i]; o += 64)
				__builtin_prefetch(env + o);
			for (size_t o = 64; o < s->len[i] + 128; o += 64)
				__builtin_prefetch(env - o);
		}

		if (EnvelopeParseForDecrypt(env, s->len[i], &hdr) != ENVELOPE_OK)
			abort();
		if (hdr.format != s->f->format ||
			(hdr.format == ENVELOPE_FORMAT_BITS ? hdr.dims / 8 != nbytes : hdr.dims != (uint32_t) dims))
			abort();
		if (now_pg >= hdr.expires)
			continue;
		dst = s->scratch + s->slot * nb;
		if (Decrypt(&hdr, env, dst, keycall) != 0)
			abort();
		s->payloads[nb] = dst;
		s->masks[nb] = dst + nbytes;
		if (++nb == s->batch_cap)
		{
			RunBatch(s, nb);
			nb = 0;
		}
	}
	RunBatch(s, nb);
}

static void
ParseOnly(Set *s)
{
	uint64_t	acc = 0;

	for (size_t i = 0; i < s->n; i++)
	{
		EnvelopeHeader hdr;

		if (EnvelopeParseForDecrypt(s->arena + s->off[i], s->len[i], &hdr) != ENVELOPE_OK)
			abort();
		acc += hdr.payload_len + (uint64_t) hdr.expires;
	}
	sink += (double) acc;
}

static void
DecryptOnly(Set *s)
{
	int			nb = 0;

	for (size_t i = 0; i < s->n; i++)
	{
		if (Decrypt(&s->sizes, s->arena + s->off[i], s->scratch + s->slot * nb, 0) != 0)
			abort();
		if (++nb == s->batch_cap)
			nb = 0;
	}
	sink += s->scratch[0];
}

static void
KernelHot(Set *s)
{
	int			cap = s->batch_cap;
	size_t		nbytes = bits / 8;
	size_t		done = 0;

	for (int k = 0; k < cap; k++)
	{
		s->payloads[k] = s->plain + s->slot * (size_t) (k % (s->n < (size_t) cap ? (int) s->n : cap));
		s->masks[k] = s->payloads[k] + nbytes;
	}
	while (done < s->n)
	{
		int			nb = s->n - done < (size_t) cap ? (int) (s->n - done) : cap;

		RunBatch(s, nb);
		done += nb;
	}
}

static void
KernelStream(Set *s)
{
	int			nb = 0;
	size_t		nbytes = bits / 8;

	for (size_t i = 0; i < s->n; i++)
	{
		s->payloads[nb] = s->plain + s->slot * i;
		s->masks[nb] = s->payloads[nb] + nbytes;
		if (++nb == s->batch_cap)
		{
			RunBatch(s, nb);
			nb = 0;
		}
	}
	RunBatch(s, nb);
}

static void
Zero(Set *s)
{
	size_t		full = s->n / s->batch_cap;

	for (size_t b = 0; b < full; b++)
		sodium_memzero(s->scratch, s->slot * s->batch_cap);
	if (s->n % s->batch_cap)
		sodium_memzero(s->scratch, s->slot * (s->n % s->batch_cap));
	sink += s->scratch[1];
}

static void
Time(Set *s, const char *method, void (*fn) (Set *), int reps)
{
	fn(s);						/* warm-up */
	for (int r = 1; r <= reps; r++)
	{
		double		t0 = NowNs();

		fn(s);
		printf("%s,%zu,%s,%d,%.6f\n", s->f->name, s->n, method, r, (NowNs() - t0) / 1e6);
	}
	fflush(stdout);
}

static void
FloorAPlain(Set *s)
{
	FloorA(s, 0, s->arena, s->off, 0);
}

static void
FloorAKeycall(Set *s)
{
	FloorA(s, 1, s->arena, s->off, 0);
}

static void
FloorAHeap(Set *s)
{
	FloorA(s, 0, s->heap, s->hoff, 0);
}

static void
FloorAHeapPrefetch(Set *s)
{
	FloorA(s, 0, s->heap, s->hoff, 1);
}

int
main(int argc, char **argv)
{
	static const Format formats[] = {
		{"f32", ENVELOPE_FORMAT_F32, 0},
		{"f16", ENVELOPE_FORMAT_F16, 0},
		{"i8", ENVELOPE_FORMAT_I8, 0},
		{"iris_s0", ENVELOPE_FORMAT_BITS, 1},
		{"iris_s8", ENVELOPE_FORMAT_BITS, 17},
	};
	size_t		n = 10000;
	int			reps = 5;
	const char *path = NULL;
	const char *want = "f32,f16,i8,iris_s0,iris_s8";
	KernelPath kp;
	struct timespec ts;

	for (int i = 1; i + 1 < argc; i += 2)
	{
		if (strcmp(argv[i], "--n") == 0)
			n = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--cipher") == 0)
			cipher = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--path") == 0)
			path = argv[i + 1];
		else if (strcmp(argv[i], "--reps") == 0)
			reps = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--formats") == 0)
			want = argv[i + 1];
		else if (strcmp(argv[i], "--dims") == 0)
			dims = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--bits") == 0)
			bits = atoi(argv[i + 1]);
		else
		{
			fprintf(stderr, "floor: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (reps < 1 || reps > MAX_REPS || n < 1 || dims < 1 || dims > ENVELOPE_MAX_DIMS ||
		bits < 8 || bits % 8 != 0)
	{
		fprintf(stderr, "floor: bad arguments\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	if (cipher == 0)
		cipher = crypto_aead_aes256gcm_is_available() ? ENVELOPE_CIPHER_AES256GCM
			: ENVELOPE_CIPHER_XCHACHA20;
	if (cipher == ENVELOPE_CIPHER_AES256GCM && !crypto_aead_aes256gcm_is_available())
	{
		fprintf(stderr, "floor: AES-256-GCM not available on this CPU\n");
		return 1;
	}
	kp = KernelBestPath();
	if (path != NULL)
		kp = strcmp(path, "avx512") == 0 ? KERNEL_PATH_AVX512 :
			strcmp(path, "avx2") == 0 ? KERNEL_PATH_AVX2 : KERNEL_PATH_PORTABLE;
	if (!KernelUsePath(kp))
	{
		fprintf(stderr, "floor: kernel path %s not supported\n", KernelPathName(kp));
		return 1;
	}
	randombytes_buf(key, sizeof(key));
	if (cipher == ENVELOPE_CIPHER_AES256GCM)
	{
		crypto_aead_aes256gcm_beforenm(&aes_state, key);
		open_state = &aes_state;
	}
	else
		open_key = key;
	clock_gettime(CLOCK_REALTIME, &ts);
	now_pg = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - PG_EPOCH_UNIX_US;

	/* probes: a unit float vector; random rotated codes and masks */
	vprobe_x = aligned_alloc(64, sizeof(float) * ((dims + 15) & ~15));
	{
		double		norm = 0;

		for (int i = 0; i < dims; i++)
		{
			vprobe_x[i] = RandF();
			norm += (double) vprobe_x[i] * vprobe_x[i];
		}
		vprobe.x = vprobe_x;
		vprobe.dims = (size_t) dims;
		vprobe.norm = sqrt(norm);
		vprobe.metric = KERNEL_METRIC_COSINE;
	}
	for (int sh = 0; sh < 17; sh++)
	{
		uint8_t    *c = aligned_alloc(64, (bits / 8 + 63) & ~63);
		uint8_t    *m = aligned_alloc(64, (bits / 8 + 63) & ~63);

		for (int k = 0; k < bits / 8; k++)
		{
			c[k] = (uint8_t) Rand64();
			m[k] = (uint8_t) ~(Rand64() & Rand64() & Rand64());
		}
		bcodes[sh] = c;
		bmasks[sh] = m;
	}
	bprobe.codes = bcodes;
	bprobe.masks = bmasks;
	bprobe.nbytes = (size_t) bits / 8;
	bprobe.min_valid = 64;		/* biocrypt.min_common_bits default */

	fprintf(stderr, "floor: n=%zu cipher=%s kernel path=%s reps=%d\n", n,
			cipher == ENVELOPE_CIPHER_AES256GCM ? "aes-256-gcm" : "xchacha20-poly1305",
			KernelPathName(KernelCurrentPath()), reps);
	for (size_t fi = 0; fi < sizeof(formats) / sizeof(formats[0]); fi++)
	{
		const Format *f = &formats[fi];
		Set			s;
		const char *p = strstr(want, f->name);
		size_t		l = strlen(f->name);

		if (p == NULL || (p != want && p[-1] != ',') || (p[l] != ',' && p[l] != '\0'))
			continue;
		bprobe.nshifts = f->nshifts ? f->nshifts : 1;
		BuildSet(&s, f, n);
		fprintf(stderr, "floor: %s: envelope %zu bytes (header %zu, payload %zu), batch %d\n",
				f->name, s.len[0], s.header_len, s.payload_len, s.batch_cap);
		Time(&s, "floor_a", FloorAPlain, reps);
		if (cipher == ENVELOPE_CIPHER_AES256GCM)
			Time(&s, "floor_a_keycall", FloorAKeycall, reps);
		Time(&s, "floor_a_heap", FloorAHeap, reps);
		Time(&s, "floor_a_heap_pf", FloorAHeapPrefetch, reps);
		Time(&s, "parse", ParseOnly, reps);
		Time(&s, "decrypt", DecryptOnly, reps);
		Time(&s, "kernel_hot", KernelHot, reps);
		Time(&s, "kernel_stream", KernelStream, reps);
		Time(&s, "zero", Zero, reps);
		FreeSet(&s);
	}
	fprintf(stderr, "floor: done (sink %g)\n", (double) sink);
	return 0;
}
