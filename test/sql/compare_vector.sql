-- Comparison of embeddings: the operators <->, <=>, <#> and verify()
-- against plain SQL references, on every kernel path this CPU supports;
-- settings and catalog facts of every comparison function.  Floats are
-- printed only where the inputs make the distance exact; elsewhere the
-- output is counts of disagreements, which must be 0.  compare_iris,
-- compare_verify and compare_expired test the rest.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';
-- the references below are computed on the stored (revealed) values
SET biocrypt.allow_reveal = on;

--
-- catalog facts
--
-- comparison functions are STABLE (clock and key ring), never LEAKPROOF,
-- PARALLEL SAFE; identify() runs SPI, so it is PARALLEL RESTRICTED
SELECT p.oid::regprocedure AS function, p.provolatile, p.proleakproof, p.proparallel,
	p.proisstrict, p.prosecdef
FROM pg_proc p
WHERE p.pronamespace = 'biocrypt'::regnamespace
	AND p.proname IN ('l2_distance', 'cosine_distance', 'negative_inner_product',
					  'hamming_distance', 'iris_distance', 'verify', 'identify', 'simd_path')
ORDER BY p.oid::regprocedure::text;
SELECT o.oprname, o.oprleft::regtype, o.oprright::regtype, o.oprresult::regtype, o.oprcode
FROM pg_operator o
WHERE o.oprleft = 'protected_template'::regtype OR o.oprright = 'protected_template'::regtype
ORDER BY o.oprname;
-- settings: name, context, default
SELECT name, context, boot_val, enumvals FROM pg_settings
WHERE name IN ('biocrypt.simd', 'biocrypt.on_expired', 'biocrypt.min_common_bits')
ORDER BY name;

--
-- kernel paths: this machine class supports all three; auto picks avx512
--
SHOW biocrypt.simd;
SELECT biocrypt.simd_path() AS auto_path;
SELECT pg_temp.err($$SET biocrypt.simd = 'sse2'$$) AS simd_unknown;
SELECT pg_temp.err($$SET biocrypt.simd = 'AVX9000'$$) AS simd_bogus;
SET biocrypt.simd = portable;
SELECT biocrypt.simd_path() AS set_portable;
SET biocrypt.simd = avx2;
SELECT biocrypt.simd_path() AS set_avx2;
SET biocrypt.simd = avx512;
SELECT biocrypt.simd_path() AS set_avx512;
-- a rolled-back SET restores the path
BEGIN;
SET LOCAL biocrypt.simd = portable;
SELECT biocrypt.simd_path() AS in_transaction;
ROLLBACK;
SELECT biocrypt.simd_path() AS after_rollback;
RESET biocrypt.simd;
SELECT biocrypt.simd_path() AS after_reset;

--
-- references, in float8 on real[] values (products of two float4 are exact
-- in float8, so these are accurate to ~1e-15)
--
CREATE FUNCTION pg_temp.ref(a real[], b real[], OUT l2 float8, OUT cos float8,
		OUT nip float8, OUT an float8, OUT bn float8)
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT sqrt(sum((x::float8 - y::float8) ^ 2)),
		CASE WHEN sum(x::float8 * x) = 0 OR sum(y::float8 * y) = 0 THEN 'NaN'::float8
			ELSE 1 - sum(x::float8 * y) / (sqrt(sum(x::float8 * x)) * sqrt(sum(y::float8 * y))) END,
		-sum(x::float8 * y),
		sqrt(sum(x::float8 * x)), sqrt(sum(y::float8 * y))
	FROM unnest(a, b) u(x, y) $$;
-- Agreement: |got - ref| <= 1e-5 |ref| + a small absolute term on the
-- metric's own scale, for results near 0 (float32 sums cancel):
--   l2: 1e-6 (|p| + |t|); cosine: 1e-6 (it lies in [0, 2]);
--   inner product: 1e-6 |p| |t| (the bound of |p.t|).
-- NaN must match NaN, and NULL never agrees.
CREATE FUNCTION pg_temp.close(got float8, ref float8, abstol float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT got IS NOT NULL AND ref IS NOT NULL
		AND (got = ref OR abs(got - ref) <= 1e-5 * abs(ref) + abstol) $$;

--
-- random vectors: dims 1, 3, 17 (tails), 511, 512, 1023 (odd sizes around
-- the SIMD block sizes); magnitudes 1e-3, 1 and 300; signed values; f32,
-- f16 and i8.  f16 and i8 templates store quantised values, so their
-- reference is computed on what biocrypt.reveal() returns (the stored
-- values), with the same tolerance as f32.
--
SELECT setseed(0.4242);
CREATE TEMP TABLE vec AS
SELECT row_number() OVER (ORDER BY f, d, m, n) AS id, d AS dims, f AS fmt, t, p
FROM unnest('{1,3,17,511,512,1023}'::int[]) d,
	unnest('{f32,f16,i8}'::text[]) f,
	unnest('{0.001,1,300}'::float8[]) m,
	generate_series(1, 3) n,
	LATERAL (SELECT array_agg(((random() * 2 - 1) * m)::real ORDER BY i) AS t,
				array_agg(((random() * 2 - 1) * m)::real ORDER BY i) AS p
			 FROM generate_series(1, d + 0 * n) i) x;
-- zero vectors (cosine: NaN), identical vectors, all-negative against
-- all-positive, probe much larger than template
INSERT INTO vec (id, dims, fmt, t, p)
SELECT 1000 + row_number() OVER (ORDER BY f, d, k), d, f, t, p
FROM unnest('{1,3,17,1023}'::int[]) d,
	unnest('{f32,f16,i8}'::text[]) f,
	LATERAL (VALUES
		(1, array_fill(0::real, ARRAY[d]), (SELECT array_agg((i % 5 - 2.5)::real) FROM generate_series(1, d) i)),
		(2, (SELECT array_agg((i % 5 - 2.5)::real) FROM generate_series(1, d) i), array_fill(0::real, ARRAY[d])),
		(3, array_fill(0::real, ARRAY[d]), array_fill(0::real, ARRAY[d])),
		(4, (SELECT array_agg((sin(i) * 2)::real) FROM generate_series(1, d) i),
			(SELECT array_agg((sin(i) * 2)::real) FROM generate_series(1, d) i)),
		(5, (SELECT array_agg((-1 - i % 3)::real) FROM generate_series(1, d) i),
			(SELECT array_agg((0.5 + i % 4)::real) FROM generate_series(1, d) i)),
		(6, (SELECT array_agg((cos(i) / 100)::real) FROM generate_series(1, d) i),
			(SELECT array_agg((cos(i * 3) * 1000)::real) FROM generate_series(1, d) i))) v(k, t, p);
ALTER TABLE vec ADD tpl protected_template, ADD rev real[],
	ADD l2 float8, ADD cos float8, ADD nip float8, ADD tn float8, ADD pn float8;
UPDATE vec SET tpl = biocrypt.protect(t, 'v' || id, NULL, NULL, fmt);
UPDATE vec SET rev = biocrypt.reveal(tpl);
UPDATE vec SET (l2, cos, nip, tn, pn) = (SELECT r.l2, r.cos, r.nip, r.an, r.bn FROM pg_temp.ref(rev, p) r);
SELECT fmt, count(*) AS pairs, count(DISTINCT dims) AS dims,
	count(*) FILTER (WHERE cos = 'NaN') AS zero_vector_pairs,
	count(*) FILTER (WHERE EXISTS (SELECT 1 FROM unnest(t) x WHERE x < 0)) AS with_negatives
FROM vec GROUP BY fmt ORDER BY fmt;
-- f32 stores the input bit for bit; f16 and i8 quantise (so their reference
-- really is on other values than the input), within their documented bounds
SELECT fmt,
	bool_and(rev = t) AS revealed_equals_input,
	bool_and((SELECT bool_and(abs(a - b) <= CASE fmt
				WHEN 'f32' THEN 0
				WHEN 'f16' THEN greatest(abs(b) * 2 ^ -11, 2 ^ -25)
				ELSE (SELECT max(abs(z)) FROM unnest(t) z) / 254 * (1 + 1e-6) END)
			  FROM unnest(rev, t) u(a, b))) AS within_quantisation_bound
FROM vec GROUP BY fmt ORDER BY fmt;
-- a constant probe (cached once for the statement) for each dimension
SELECT p AS probe1 FROM vec WHERE dims = 1 AND fmt = 'f32' ORDER BY id LIMIT 1 \gset
SELECT p AS probe17 FROM vec WHERE dims = 17 AND fmt = 'f16' ORDER BY id LIMIT 1 \gset
SELECT p AS probe1023 FROM vec WHERE dims = 1023 AND fmt = 'i8' ORDER BY id LIMIT 1 \gset
CREATE TEMP TABLE const_ref AS
SELECT v.id, v.dims, v.fmt, v.tpl, c.p, (pg_temp.ref(v.rev, c.p)).*
FROM vec v JOIN (VALUES (1, :'probe1'::real[]), (17, :'probe17'::real[]),
						(1023, :'probe1023'::real[])) c(dims, p) USING (dims);

-- disagreements with the reference: every count must be 0
CREATE TEMP VIEW vector_check AS
SELECT fmt, count(*) AS pairs,
	count(*) FILTER (WHERE NOT pg_temp.close(tpl <-> p, l2, 1e-6 * (pn + tn))) AS l2_off,
	count(*) FILTER (WHERE NOT pg_temp.close(tpl <=> p, cos, 1e-6)) AS cosine_off,
	count(*) FILTER (WHERE NOT pg_temp.close(tpl <#> p, nip, 1e-6 * pn * tn)) AS ip_off,
	count(*) FILTER (WHERE (tpl <=> p) = 'NaN') AS cosine_nan,
	-- the functions behind the operators, and verify() at the reference
	-- distance (+ tolerance) and clearly below it
	count(*) FILTER (WHERE biocrypt.l2_distance(tpl, p) IS DISTINCT FROM (tpl <-> p)
		OR biocrypt.cosine_distance(tpl, p) IS DISTINCT FROM (tpl <=> p)
		OR biocrypt.negative_inner_product(tpl, p) IS DISTINCT FROM (tpl <#> p)) AS function_off,
	count(*) FILTER (WHERE NOT biocrypt.verify(tpl, p, l2 * (1 + 1e-5) + 1e-6 * (pn + tn), 'l2')
		OR biocrypt.verify(tpl, p, l2 * 0.99 - 1e-6 * (pn + tn) - 1e-9, 'l2')) AS verify_l2_off,
	count(*) FILTER (WHERE biocrypt.verify(tpl, p, CASE WHEN cos = 'NaN' THEN 'Infinity' ELSE cos + 1e-5 * cos + 1e-6 END, 'cosine')
		IS DISTINCT FROM (cos <> 'NaN')) AS verify_cosine_off,
	count(*) FILTER (WHERE NOT biocrypt.verify(tpl, p, nip + 1e-5 * abs(nip) + 1e-6 * pn * tn, 'inner_product')
		OR biocrypt.verify(tpl, p, nip - 0.01 * abs(nip) - 1e-3 * pn * tn - 1e-9, 'inner_product')) AS verify_ip_off
FROM vec GROUP BY fmt ORDER BY fmt;
CREATE TEMP VIEW const_probe_check AS
SELECT dims, count(*) AS pairs,
	count(*) FILTER (WHERE NOT pg_temp.close(l2_got, l2, 1e-6 * (an + bn))) AS l2_off,
	count(*) FILTER (WHERE NOT pg_temp.close(cos_got, cos, 1e-6)) AS cosine_off,
	count(*) FILTER (WHERE NOT pg_temp.close(ip_got, nip, 1e-6 * an * bn)) AS ip_off
FROM (SELECT dims, l2, cos, nip, an, bn,
		CASE dims WHEN 1 THEN tpl <-> :'probe1'::real[] WHEN 17 THEN tpl <-> :'probe17'::real[]
			ELSE tpl <-> :'probe1023'::real[] END AS l2_got,
		CASE dims WHEN 1 THEN tpl <=> :'probe1'::real[] WHEN 17 THEN tpl <=> :'probe17'::real[]
			ELSE tpl <=> :'probe1023'::real[] END AS cos_got,
		CASE dims WHEN 1 THEN tpl <#> :'probe1'::real[] WHEN 17 THEN tpl <#> :'probe17'::real[]
			ELSE tpl <#> :'probe1023'::real[] END AS ip_got
	  FROM const_ref) s
GROUP BY dims ORDER BY dims;

--
-- exactly representable inputs: small integers (max |x| = 127, so the i8
-- scale is 1 and f16 holds them exactly); every partial sum is an integer
-- below 2^24, so each path gives the same, exact distance in any format
--
CREATE TEMP TABLE exact (ord serial, name text, t real[], p real[]);
INSERT INTO exact (name, t, p) VALUES
	('d1', '{127}', '{-4}'),
	-- ip -0: the negated zero inner product
	('d3 orthogonal', '{127,0,0}', '{0,-3,0}'),
	('d3 parallel', '{0,127,0}', '{0,3,0}'),
	('d3 opposite', '{-127,0,0}', '{5,0,0}'),
	('d4', '{127,-1,2,0}', '{3,4,0,-12}'),
	-- zero vectors: cosine NaN
	('d2 zero probe', '{127,0}', '{0,0}'),
	('d2 zero template', '{0,0}', '{3,4}');
INSERT INTO exact (name, t, p)
SELECT 'd' || d,
	(SELECT array_agg(CASE WHEN i = 1 THEN 127 ELSE (i * 7) % 11 - 5 END::real ORDER BY i) FROM generate_series(1, d) i),
	(SELECT array_agg(((i * 3) % 7 - 3)::real ORDER BY i) FROM generate_series(1, d) i)
FROM unnest('{17,33,512,1023}'::int[]) d ORDER BY d;
CREATE TEMP TABLE exact_tpl AS
SELECT e.ord, e.name, f AS fmt, biocrypt.protect(e.t, e.name, NULL, NULL, f) AS tpl, e.p,
	-- the exact values, computed the way an exact kernel would: integer
	-- sums, then sqrt and the division in float8
	sqrt((SELECT sum((x::float8 - y) ^ 2) FROM unnest(e.t, e.p) u(x, y))) AS l2,
	CASE WHEN 0 IN ((SELECT sum(y::float8 * y) FROM unnest(e.p) y), (SELECT sum(x::float8 * x) FROM unnest(e.t) x))
		THEN 'NaN'
		ELSE 1 - (SELECT sum(x::float8 * y) FROM unnest(e.t, e.p) u(x, y))
			/ (sqrt((SELECT sum(y::float8 * y) FROM unnest(e.p) y))
			   * sqrt((SELECT sum(x::float8 * x) FROM unnest(e.t) x))) END AS cos,
	-(SELECT sum(x::float8 * y) FROM unnest(e.t, e.p) u(x, y)) AS nip
FROM exact e, unnest('{f32,f16,i8}'::text[]) f;
SELECT bool_and(biocrypt.reveal(tpl) = (SELECT t FROM exact WHERE exact.name = exact_tpl.name)) AS stored_exactly
FROM exact_tpl;
CREATE TEMP VIEW exact_values AS
SELECT name,
	max(d_l2) FILTER (WHERE fmt = 'f32') AS l2,
	max(d_cos) FILTER (WHERE fmt = 'f32') AS cosine,
	max(d_ip) FILTER (WHERE fmt = 'f32') AS ip,
	bool_and(d_l2 = l2 AND d_cos = cos AND d_ip = nip) AS exact_in_f32_f16_i8
FROM (SELECT ord, name, fmt, l2, cos, nip, tpl <-> p AS d_l2, tpl <=> p AS d_cos, tpl <#> p AS d_ip
	  FROM exact_tpl) s
GROUP BY ord, name ORDER BY ord;

--
-- every path: the same checks, the same results
--
SET biocrypt.simd = portable;
SELECT biocrypt.simd_path();
SELECT * FROM vector_check;
SELECT * FROM const_probe_check;
SELECT * FROM exact_values;

SET biocrypt.simd = avx2;
SELECT biocrypt.simd_path();
SELECT * FROM vector_check;
SELECT * FROM const_probe_check;
SELECT * FROM exact_values;

SET biocrypt.simd = avx512;
SELECT biocrypt.simd_path();
SELECT * FROM vector_check;
SELECT * FROM const_probe_check;
SELECT * FROM exact_values;
RESET biocrypt.simd;

RESET biocrypt.allow_reveal;
RESET TimeZone;
