/*
 * gen.c
 *		Deterministic synthetic templates for test/bench/run.sh, written as
 *		PostgreSQL binary COPY data on stdout (no text float parsing on the
 *		server, so 1M x 512-d rows load in seconds).
 *
 * Row i depends only on (seed, i), never on N, so the first 10,000 rows of
 * every size are the same templates.
 *
 *   gen vec  N [seed] [dims]   rows (id int4, emb real[dims]): unit-length
 *                              Gaussian embeddings (like face embeddings)
 *   gen iris N [seed] [bits]   rows (id int4, code bytea, mask bytea):
 *                              random code bits, mask bits valid with p=7/8
 *   gen pairs N [seed] [dims] [noise] [per_subject]
 *                              rows (id int4, subject int4, emb real[dims]):
 *                              N subjects of per_subject (default 2)
 *                              templates each, for threshold calibration
 *                              (test/bench/calibrate.sh)
 *
 * In "pairs", subject s's base is the unit vector "vec" writes as row s;
 * its template j is base + noise * u, renormalised, where u is a unit
 * Gaussian direction drawn from (seed, s, j).  noise is the length of the
 * disturbance relative to the base (default 0.5): two templates of one
 * subject have a cosine similarity of about 1 / (1 + noise^2), different
 * subjects about 0 (+- 1/sqrt(dims)).  Row ids run 1.. N * per_subject,
 * subject by subject; template j of subject s depends only on (seed, s, j),
 * so smaller N or per_subject give a prefix of the same data.
 *
 * Build: make test/bench/gen (from the top of the tree)
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOAT4OID 700

enum
{
	MODE_VEC,
	MODE_IRIS,
	MODE_PAIRS
};

static uint8_t outbuf[1 << 16];
static size_t outlen;

static void
Flush(void)
{
	if (outlen > 0 && fwrite(outbuf, 1, outlen, stdout) != outlen)
	{
		perror("gen: write");
		exit(1);
	}
	outlen = 0;
}

static void
Put(const void *p, size_t n)
{
	if (outlen + n > sizeof(outbuf))
		Flush();
	if (n > sizeof(outbuf))
	{
		if (fwrite(p, 1, n, stdout) != n)
			exit(1);
		return;
	}
	memcpy(outbuf + outlen, p, n);
	outlen += n;
}

static void
PutI16(int16_t v)
{
	uint16_t	be = htons((uint16_t) v);

	Put(&be, 2);
}

static void
PutI32(int32_t v)
{
	uint32_t	be = htonl((uint32_t) v);

	Put(&be, 4);
}

/* splitmix64: a tiny, well-mixed generator; one stream per (seed, row). */
static uint64_t
Mix(uint64_t *s)
{
	uint64_t	z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static double
Uniform(uint64_t *s)
{
	return ((Mix(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/*
 * dims Gaussians (Box-Muller, two per pair of uniforms) from the stream of
 * (seed, row); "vec" row i is these, normalised.
 */
static void
Gaussian(uint64_t seed, uint64_t row, float *x, int dims)
{
	uint64_t	s = seed * UINT64_C(0x100000001B3) ^ row * UINT64_C(0xD6E8FEB86659FD93);

	for (int k = 0; k < dims; k += 2)
	{
		double		r = sqrt(-2.0 * log(Uniform(&s)));
		double		t = 2.0 * M_PI * Uniform(&s);

		x[k] = (float) (r * cos(t));
		if (k + 1 < dims)
			x[k + 1] = (float) (r * sin(t));
	}
}

static double
Norm(const float *x, int dims)
{
	double		norm = 0;

	for (int k = 0; k < dims; k++)
		norm += (double) x[k] * x[k];
	return sqrt(norm);
}

/* One real[dims] field: x / norm, as binary COPY writes a float4 array. */
static void
PutUnitArray(const float *x, double norm, int dims)
{
	PutI32(20 + 8 * dims);
	PutI32(1);					/* ndim */
	PutI32(0);					/* has nulls */
	PutI32(FLOAT4OID);
	PutI32(dims);
	PutI32(1);					/* lower bound */
	for (int k = 0; k < dims; k++)
	{
		float		f = (float) (x[k] / norm);
		uint32_t	bits;

		memcpy(&bits, &f, 4);
		PutI32(4);
		PutI32((int32_t) bits);
	}
}

/* "gen pairs": per_subject noisy copies of each of n subjects' base vectors. */
static void
Pairs(int argc, char **argv, long n, uint64_t seed)
{
	int			dims = argc > 4 ? atoi(argv[4]) : 512;
	double		noise = argc > 5 ? atof(argv[5]) : 0.5;
	int			per = argc > 6 ? atoi(argv[6]) : 2;
	float	   *base = malloc(sizeof(float) * dims);
	float	   *u = malloc(sizeof(float) * dims);
	float	   *t = malloc(sizeof(float) * dims);

	if (dims < 1 || per < 1 || !(noise >= 0))
	{
		fprintf(stderr, "gen: pairs needs dims >= 1, noise >= 0, per_subject >= 1\n");
		exit(2);
	}
	for (long s = 1; s <= n; s++)
	{
		double		bnorm;

		Gaussian(seed, (uint64_t) s, base, dims);
		bnorm = Norm(base, dims);
		for (int j = 0; j < per; j++)
		{
			/* a stream of its own per (subject, j), apart from vec's rows */
			uint64_t	row = (uint64_t) s * UINT64_C(0xE7037ED1A0B428DB) ^
				(uint64_t) (j + 1) * UINT64_C(0x8EBC6AF09C88C6E3);
			double		unorm;

			Gaussian(seed ^ UINT64_C(0x589965CC75374CC3), row, u, dims);
			unorm = Norm(u, dims);
			for (int k = 0; k < dims; k++)
				t[k] = (float) (base[k] / bnorm + noise * u[k] / unorm);
			PutI16(3);
			PutI32(4);
			PutI32((int32_t) ((s - 1) * per + j + 1));
			PutI32(4);
			PutI32((int32_t) s);
			PutUnitArray(t, Norm(t, dims), dims);
		}
	}
	free(base);
	free(u);
	free(t);
}

static void
Header(void)
{
	static const uint8_t sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};

	Put(sig, sizeof(sig));
	PutI32(0);					/* flags */
	PutI32(0);					/* header extension length */
}

int
main(int argc, char **argv)
{
	long		n;
	uint64_t	seed;
	int			mode;

	mode = argc < 3 ? -1 : strcmp(argv[1], "vec") == 0 ? MODE_VEC :
		strcmp(argv[1], "iris") == 0 ? MODE_IRIS :
		strcmp(argv[1], "pairs") == 0 ? MODE_PAIRS : -1;
	if (mode < 0)
	{
		fprintf(stderr, "usage: gen vec|iris N [seed] [dims|bits]\n"
				"       gen pairs N [seed] [dims] [noise] [per_subject]\n");
		return 2;
	}
	n = atol(argv[2]);
	seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 42;

	Header();
	if (mode == MODE_VEC)
	{
		int			dims = argc > 4 ? atoi(argv[4]) : 512;
		float	   *x = malloc(sizeof(float) * dims);

		for (long i = 1; i <= n; i++)
		{
			Gaussian(seed, (uint64_t) i, x, dims);
			PutI16(2);
			PutI32(4);
			PutI32((int32_t) i);
			PutUnitArray(x, Norm(x, dims), dims);
		}
		free(x);
	}
	else if (mode == MODE_PAIRS)
		Pairs(argc, argv, n, seed);
	else
	{
		int			bits = argc > 4 ? atoi(argv[4]) : 2048;
		int			nbytes = bits / 8;
		uint8_t    *code = malloc(nbytes + 8);
		uint8_t    *mask = malloc(nbytes + 8);

		for (long i = 1; i <= n; i++)
		{
			uint64_t	s = seed * UINT64_C(0x100000001B3) ^ (uint64_t) i * UINT64_C(0xA0761D6478BD642F);

			for (int k = 0; k < nbytes; k += 8)
			{
				uint64_t	c = Mix(&s);
				uint64_t	m = ~(Mix(&s) & Mix(&s) & Mix(&s));

				memcpy(code + k, &c, 8);
				memcpy(mask + k, &m, 8);
			}
			PutI16(3);
			PutI32(4);
			PutI32((int32_t) i);
			PutI32(nbytes);
			Put(code, nbytes);
			PutI32(nbytes);
			Put(mask, nbytes);
		}
		free(code);
		free(mask);
	}
	PutI16(-1);
	Flush();
	return 0;
}
