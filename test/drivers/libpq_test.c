/*-------------------------------------------------------------------------
 *
 * libpq_test.c
 *		biocrypt from C with libpq: parameters and results in binary.
 *
 * A probe goes to the server as a float4[] in the array's binary wire
 * format, built here; a protected_template is fetched in binary from one
 * table and its bytes bound, in binary, into an INSERT into another; the
 * copy verifies and identifies, with binary results.  Malformed binary
 * values are refused with their SQLSTATEs.
 *
 *	  libpq_test CONNINFO
 *
 * CONNINFO reaches a superuser of a server that preloads biocrypt and has
 * the extension (test/drivers/run.sh).  Prints one line per check, then
 * "libpq: N passed, N failed"; exits 1 on a failure.
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define DIMS 17					/* a SIMD register of floats and a tail */
#define INT4OID 23
#define TEXTOID 25
#define FLOAT4OID 700
#define FLOAT8OID 701
#define FLOAT4ARRAYOID 1021
#define ARRAY_BYTES(n) (20 + 8 * (n))

static int	passed = 0;
static int	failed = 0;

/* One assertion: "ok - NAME" or "not ok - NAME" with what was seen. */
static void
Check(const char *name, bool ok, const char *seen)
{
	if (ok)
	{
		passed++;
		printf("ok - %s\n", name);
	}
	else
	{
		failed++;
		printf("not ok - %s\n#   got: %s\n", name, seen ? seen : "(nothing)");
	}
}

/* Store an integer big-endian, as the wire formats want it. */
static void
PutInt32(char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

/*
 * The binary wire format of a one-dimensional float4[] (array_send):
 * ndim, has-nulls flag, element type, then per dimension its length and
 * lower bound, then per element its length and its big-endian bits.
 * Returns the number of bytes written to buf (ARRAY_BYTES(n) at most).
 */
static int
Float4ArrayBinary(char *buf, const float *v, int n, uint32_t elemtype)
{
	char	   *p = buf;

	PutInt32(p, 1);
	PutInt32(p + 4, 0);
	PutInt32(p + 8, elemtype);
	PutInt32(p + 12, (uint32_t) n);
	PutInt32(p + 16, 1);
	p += 20;
	for (int i = 0; i < n; i++)
	{
		uint32_t	bits;

		memcpy(&bits, &v[i], 4);
		PutInt32(p, 4);
		PutInt32(p + 4, bits);
		p += 8;
	}
	return (int) (p - buf);
}

/* A float8 result in binary: big-endian IEEE 754. */
static double
Float8Binary(const char *p)
{
	uint32_t	hi,
				lo;
	uint64_t	bits;
	double		d;

	memcpy(&hi, p, 4);
	memcpy(&lo, p + 4, 4);
	bits = ((uint64_t) ntohl(hi) << 32) | ntohl(lo);
	memcpy(&d, &bits, 8);
	return d;
}

/* Run a statement whose parameters are all binary; results in resfmt. */
static PGresult *
ExecBinary(PGconn *conn, const char *sql, int nparams, const Oid *types,
		   const char *const *values, const int *lengths, int resfmt)
{
	int			formats[4] = {1, 1, 1, 1};

	return PQexecParams(conn, sql, nparams, types, values, lengths,
						formats, resfmt);
}

/* Run a statement without parameters; abort the program if it fails. */
static void
Must(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "libpq_test: %s: %s", sql, PQerrorMessage(conn));
		exit(2);
	}
	PQclear(res);
}

/* A check that a statement failed with the SQLSTATE expected. */
static void
CheckState(const char *name, PGresult *res, const char *want)
{
	const char *got = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	Check(name, PQresultStatus(res) == PGRES_FATAL_ERROR &&
		  got != NULL && strcmp(got, want) == 0,
		  got ? got : PQresStatus(PQresultStatus(res)));
	PQclear(res);
}

/* A check of a one-row, one-column result in text. */
static void
CheckText(const char *name, PGresult *res, const char *want)
{
	bool		ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		!PQgetisnull(res, 0, 0) && strcmp(PQgetvalue(res, 0, 0), want) == 0;

	Check(name, ok, PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ?
		  PQgetvalue(res, 0, 0) : PQresultErrorMessage(res));
	PQclear(res);
}

/* A check of a one-row boolean result in binary (one byte, 0 or 1). */
static void
CheckBoolBinary(const char *name, PGresult *res, bool want)
{
	bool		ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		PQfformat(res, 0) == 1 && PQgetlength(res, 0, 0) == 1 &&
		PQgetvalue(res, 0, 0)[0] == (want ? 1 : 0);

	Check(name, ok, PQresultErrorMessage(res));
	PQclear(res);
}

/* Roles, purpose and the two tables, as the superuser. */
static void
Setup(PGconn *admin)
{
	Must(admin, "CREATE ROLE c_app LOGIN IN ROLE biocrypt_enroller, biocrypt_matcher");
	Must(admin, "CREATE TABLE c_people (id int PRIMARY KEY, face protected_template)");
	Must(admin, "CREATE TABLE c_copy (id int PRIMARY KEY, face protected_template)");
	Must(admin, "GRANT SELECT, INSERT ON c_people, c_copy TO c_app");
	Must(admin, "SELECT biocrypt.grant_purpose('c_app', 'verification')");
}

/* A connection as c_app, comparing for 'verification'. */
static PGconn *
ConnectApp(const char *conninfo)
{
	const char *keys[] = {"dbname", "user", NULL};
	const char *vals[] = {conninfo, "c_app", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 1);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "libpq_test: %s", PQerrorMessage(conn));
		exit(2);
	}
	Must(conn, "SET biocrypt.purpose = 'verification'");
	return conn;
}

/* Enrol a vector sent as a binary float4[], the id as a binary int4. */
static PGresult *
Enrol(PGconn *conn, int id, const float *v, const char *subject)
{
	static const Oid types[] = {INT4OID, FLOAT4ARRAYOID, TEXTOID};
	char		idbuf[4];
	char		arr[ARRAY_BYTES(DIMS)];
	const char *values[] = {idbuf, arr, subject};
	int			lengths[] = {4, 0, (int) strlen(subject)};

	PutInt32(idbuf, (uint32_t) id);
	lengths[1] = Float4ArrayBinary(arr, v, DIMS, FLOAT4OID);
	/* text is binary as its bytes */
	return ExecBinary(conn, "INSERT INTO c_people VALUES ($1, biocrypt.protect($2, $3))",
					  3, types, values, lengths, 0);
}

/* One statement with a binary float4[] probe as $1. */
static PGresult *
WithProbe(PGconn *conn, const char *sql, const float *v, int n, uint32_t elemtype,
		  int resfmt)
{
	static const Oid types[] = {FLOAT4ARRAYOID};
	char		arr[ARRAY_BYTES(DIMS)];
	const char *values[] = {arr};
	int			lengths[1];

	lengths[0] = Float4ArrayBinary(arr, v, n, elemtype);
	return ExecBinary(conn, sql, 1, types, values, lengths, resfmt);
}

/* The template of c_people row 1, fetched in binary (malloc'd copy). */
static char *
FetchTemplate(PGconn *conn, Oid tpl_oid, int *len)
{
	PGresult   *res = PQexecParams(conn, "SELECT face FROM c_people WHERE id = 1",
								   0, NULL, NULL, NULL, NULL, 1);
	char	   *copy = NULL;
	bool		ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		PQftype(res, 0) == tpl_oid && PQfformat(res, 0) == 1;

	/* the binary form is the envelope itself: magic "BCT", version 1 */
	ok = ok && PQgetlength(res, 0, 0) > 44 &&
		memcmp(PQgetvalue(res, 0, 0), "BCT\001", 4) == 0;
	Check("a template fetched in binary: its type, format and envelope magic", ok,
		  PQresultErrorMessage(res));
	if (ok)
	{
		*len = PQgetlength(res, 0, 0);
		copy = malloc(*len);
		memcpy(copy, PQgetvalue(res, 0, 0), *len);
	}
	PQclear(res);
	return copy;
}

/* Bind template bytes, in binary, as $1 of a statement. */
static PGresult *
WithTemplate(PGconn *conn, const char *sql, Oid tpl_oid, const char *tpl, int len)
{
	Oid			types[] = {tpl_oid};
	const char *values[] = {tpl};
	int			lengths[] = {len};

	return ExecBinary(conn, sql, 1, types, values, lengths, 0);
}

/* The enrolled vectors, a probe at L2 distance exactly 5 from a. */
static void
Vectors(float *a, float *b, float *near)
{
	for (int i = 0; i < DIMS; i++)
	{
		a[i] = (float) (i + 1);
		b[i] = (float) (DIMS - i);
		near[i] = a[i];
	}
	near[0] += 3.0f;
	near[DIMS - 1] += 4.0f;		/* in the tail after the SIMD register */
}

/* Enrolment with binary parameters, and what the server made of them. */
static void
TestEnrol(PGconn *conn, const float *a, const float *b)
{
	PGresult   *res = Enrol(conn, 1, a, "c-subject-1");

	Check("enrol: a binary float4[] and int4", PQresultStatus(res) == PGRES_COMMAND_OK &&
		  strcmp(PQcmdTuples(res), "1") == 0, PQresultErrorMessage(res));
	PQclear(res);
	res = Enrol(conn, 2, b, "c-subject-2");
	Check("enrol: a second subject", PQresultStatus(res) == PGRES_COMMAND_OK,
		  PQresultErrorMessage(res));
	PQclear(res);
	CheckText("the binary float4[] as the server read it",
			  WithProbe(conn, "SELECT $1::text", a, DIMS, FLOAT4OID, 0),
			  "{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17}");
	CheckText("the header: subject, format, dims",
			  PQexec(conn, "SELECT biocrypt.subject_of(face) || ' ' || biocrypt.format_of(face) "
					 "|| ' ' || biocrypt.dims_of(face) FROM c_people WHERE id = 1"),
			  "c-subject-1 f32 17");
}

/*
 * Binary templates that were edited: the header is checked on input, the
 * ciphertext when it is decrypted (the tag covers the header too).
 */
static void
TestTampered(PGconn *conn, Oid tpl_oid, const char *tpl, int len, const float *a)
{
	char	   *bad = malloc(len);
	PGresult   *res;

	memcpy(bad, tpl, len);
	bad[0] = 'X';
	CheckState("a binary template with a bad magic: 22P03",
			   WithTemplate(conn, "INSERT INTO c_copy VALUES (2, $1)", tpl_oid, bad, len), "22P03");
	CheckState("a binary template one byte short: 22P03",
			   WithTemplate(conn, "INSERT INTO c_copy VALUES (2, $1)", tpl_oid, tpl, len - 1), "22P03");
	memcpy(bad, tpl, len);
	bad[len - 1] ^= 0x01;
	res = WithTemplate(conn, "INSERT INTO c_copy VALUES (2, $1)", tpl_oid, bad, len);
	Check("a binary template with a flipped tag bit is stored (header intact)",
		  PQresultStatus(res) == PGRES_COMMAND_OK, PQresultErrorMessage(res));
	PQclear(res);
	CheckState("and fails to decrypt when compared: XX001",
			   WithProbe(conn, "SELECT biocrypt.verify(face, $1, 0.01, 'l2') FROM c_copy "
						 "WHERE id = 2", a, DIMS, FLOAT4OID, 1), "XX001");
	free(bad);
}

/* The copy of a template, bound in binary, then compared. */
static void
TestCopy(PGconn *conn, Oid tpl_oid, const float *a, const float *b, const float *near)
{
	int			len = 0;
	char	   *tpl = FetchTemplate(conn, tpl_oid, &len);
	PGresult   *res;

	if (tpl == NULL)
		return;
	res = WithTemplate(conn, "INSERT INTO c_copy VALUES (1, $1)", tpl_oid, tpl, len);
	Check("the template's bytes bound in binary into INSERT",
		  PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(res), "1") == 0,
		  PQresultErrorMessage(res));
	PQclear(res);
	CheckText("the copy is the same envelope",
			  PQexec(conn, "SELECT (SELECT face::text FROM c_copy WHERE id = 1) = "
					 "(SELECT face::text FROM c_people WHERE id = 1)"), "t");
	CheckBoolBinary("verify the copy: the enrolled vector (binary bool)",
					WithProbe(conn, "SELECT biocrypt.verify(face, $1, 0.01, 'l2') FROM c_copy "
							  "WHERE id = 1", a, DIMS, FLOAT4OID, 1), true);
	CheckBoolBinary("verify the copy: the other subject's vector",
					WithProbe(conn, "SELECT biocrypt.verify(face, $1, 0.01, 'l2') FROM c_copy "
							  "WHERE id = 1", b, DIMS, FLOAT4OID, 1), false);
	res = WithProbe(conn, "SELECT face <-> $1 FROM c_copy WHERE id = 1", near, DIMS,
					FLOAT4OID, 1);
	Check("L2 distance of the copy in binary float8: exactly 5",
		  PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		  PQftype(res, 0) == FLOAT8OID && PQgetlength(res, 0, 0) == 8 &&
		  Float8Binary(PQgetvalue(res, 0, 0)) == 5.0, PQresultErrorMessage(res));
	PQclear(res);
	TestTampered(conn, tpl_oid, tpl, len, a);
	free(tpl);
}

/* identify() with a binary probe, its rows in binary. */
static void
TestIdentify(PGconn *conn, const float *near)
{
	PGresult   *res = WithProbe(conn, "SELECT subject, distance FROM biocrypt.identify("
								"'c_people', 'face', $1, 2, NULL, 'l2')", near, DIMS,
								FLOAT4OID, 1);
	char		seen[200];
	bool		ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 2 &&
		PQfformat(res, 0) == 1 && PQfformat(res, 1) == 1 &&
		PQgetlength(res, 0, 1) == 8 && PQgetlength(res, 1, 1) == 8;

	if (!ok)
	{
		snprintf(seen, sizeof(seen), "%d rows %s", PQntuples(res), PQresultErrorMessage(res));
		Check("identify: binary probe, binary rows", false, seen);
		PQclear(res);
		return;
	}
	snprintf(seen, sizeof(seen), "%.*s %g, %.*s %g",
			 PQgetlength(res, 0, 0), PQgetvalue(res, 0, 0), Float8Binary(PQgetvalue(res, 0, 1)),
			 PQgetlength(res, 1, 0), PQgetvalue(res, 1, 0), Float8Binary(PQgetvalue(res, 1, 1)));
	/* a text in binary is its bytes; distances rounded to 2 places */
	Check("identify: binary probe, binary rows", true, NULL);
	Check("identify: c-subject-1 at 5, c-subject-2 at 41.1",
		  strcmp(seen, "c-subject-1 5, c-subject-2 41.1") == 0 &&
		  Float8Binary(PQgetvalue(res, 0, 1)) == 5.0 &&
		  Float8Binary(PQgetvalue(res, 1, 1)) == 41.1, seen);
	PQclear(res);
}

/* Malformed binary probes: refused by PostgreSQL's array input or biocrypt. */
static void
TestBadProbes(PGconn *conn, const float *a)
{
	static const Oid types[] = {FLOAT4ARRAYOID};
	static const char *verify = "SELECT biocrypt.verify(face, $1, 0.01, 'l2') FROM c_people "
		"WHERE id = 1";
	float		nan_probe[DIMS];
	char		arr[ARRAY_BYTES(3)];
	const char *values[] = {arr};
	int			lengths[1];

	CheckState("element type float8 in a float4[]: 42804",
			   WithProbe(conn, verify, a, DIMS, FLOAT8OID, 1), "42804");
	memcpy(nan_probe, a, sizeof(nan_probe));
	nan_probe[DIMS - 1] = NAN;
	CheckState("a NaN element: 22000", WithProbe(conn, verify, nan_probe, DIMS, FLOAT4OID, 1),
			   "22000");
	CheckState("3 dimensions against 17: 22000",
			   WithProbe(conn, verify, a, 3, FLOAT4OID, 1), "22000");
	/* {1, NULL, 3}: the has-nulls flag, and length -1 for the NULL */
	lengths[0] = Float4ArrayBinary(arr, a, 3, FLOAT4OID);
	PutInt32(arr + 4, 1);
	PutInt32(arr + 28, UINT32_MAX);
	memmove(arr + 32, arr + 36, 8);
	lengths[0] -= 4;
	CheckState("a NULL element: 22004",
			   ExecBinary(conn, verify, 1, types, values, lengths, 1), "22004");
}

int
main(int argc, char **argv)
{
	PGconn	   *admin;
	PGconn	   *app;
	PGresult   *res;
	Oid			tpl_oid;
	float		a[DIMS],
				b[DIMS],
				near[DIMS];

	if (argc != 2)
	{
		fprintf(stderr, "usage: libpq_test CONNINFO\n");
		return 2;
	}
	admin = PQconnectdb(argv[1]);
	if (PQstatus(admin) != CONNECTION_OK)
	{
		fprintf(stderr, "libpq_test: %s", PQerrorMessage(admin));
		return 2;
	}
	Setup(admin);
	res = PQexec(admin, "SELECT 'protected_template'::regtype::oid");
	tpl_oid = (Oid) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);

	app = ConnectApp(argv[1]);
	Vectors(a, b, near);
	TestEnrol(app, a, b);
	TestCopy(app, tpl_oid, a, b, near);
	TestIdentify(app, near);
	TestBadProbes(app, a);
	PQfinish(app);
	PQfinish(admin);
	printf("libpq: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
