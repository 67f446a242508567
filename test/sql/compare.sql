-- Comparison: the operators <->, <=>, <#>, <~>, iris_distance() and verify()
-- against plain SQL references, on every kernel path this CPU supports;
-- hand-computed bit-code cases (masks, rotation, min_common_bits); errors;
-- expired templates; settings and catalog facts.  Floats are printed only
-- where the inputs make the distance exact; elsewhere the output is counts
-- of disagreements, which must be 0.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';
-- the references below are computed on the stored (revealed) values
SET biocrypt.allow_reveal = on;

-- helpers pg_temp.err() and pg_temp.settle()
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql

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
-- bit codes: helpers.  Bits are MSB first; b() turns a '0101...' string
-- into bytea, bits() the reverse; rot() rotates each row of a layout so
-- that output column c is input column (c + s) mod cols.
--
CREATE FUNCTION pg_temp.b(s text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT decode(string_agg(lpad(to_hex(substr(s, i, 8)::bit(8)::int), 2, '0'), '' ORDER BY i), 'hex')
	FROM generate_series(1, length(s), 8) i $$;
CREATE FUNCTION pg_temp.bits(v bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT string_agg(get_byte(v, i)::bit(8)::text, '' ORDER BY i)
	FROM generate_series(0, length(v) - 1) i $$;
CREATE FUNCTION pg_temp.rot(v bytea, rows int, cols int, bpc int, s int) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT pg_temp.b(string_agg(substr(rw, k + 1) || substr(rw, 1, k), '' ORDER BY r))
	FROM (SELECT ((s % cols + cols) % cols) * bpc AS k, pg_temp.bits(v) AS all_bits) a,
		LATERAL (SELECT r, substr(all_bits, r * cols * bpc + 1, cols * bpc) AS rw
				 FROM generate_series(0, rows - 1) r) x $$;
-- n bytes of one repeated hex byte
CREATE FUNCTION pg_temp.rep(hex text, n int) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT decode(repeat(hex, n), 'hex') $$;
-- reference masked fractional Hamming distance, minimised over shifts
-- -max_shift..max_shift (shift s: template column c against probe column
-- (c + s) mod cols); NULL below biocrypt.min_common_bits valid bits
CREATE FUNCTION pg_temp.iris_ref(t bytea, tm bytea, p bytea, pm bytea, layout int[], max_shift int)
RETURNS float8 LANGUAGE sql STABLE AS $$
	SELECT min(bit_count(((tb # pb) & tmb) & pmb)::float8 / bit_count(tmb & pmb)::float8)
		FILTER (WHERE bit_count(tmb & pmb) >= greatest(1, current_setting('biocrypt.min_common_bits')::int))
	FROM generate_series(-max_shift, max_shift) s,
		LATERAL (SELECT pg_temp.bits(t)::varbit AS tb,
					coalesce(pg_temp.bits(tm), repeat('1', 8 * length(t)))::varbit AS tmb,
					pg_temp.bits(CASE WHEN s = 0 THEN p ELSE pg_temp.rot(p, layout[1], layout[2], layout[3], s) END)::varbit AS pb,
					coalesce(pg_temp.bits(CASE WHEN s = 0 THEN pm ELSE pg_temp.rot(pm, layout[1], layout[2], layout[3], s) END),
							 repeat('1', 8 * length(t)))::varbit AS pmb) x $$;
-- the helpers themselves, on a known case: layout {1,4,2}, rotate by 1
SELECT pg_temp.bits('\xa50f'::bytea) AS bits, pg_temp.b('1010010100001111') AS back,
	pg_temp.bits(pg_temp.rot('\x1b'::bytea, 1, 4, 2, 1)) AS rot_plus_1,
	pg_temp.bits(pg_temp.rot('\x1b'::bytea, 1, 4, 2, -1)) AS rot_minus_1;

-- 128-bit codes (biocrypt.min_common_bits is 64 by default)
CREATE TEMP TABLE bt (name text PRIMARY KEY, tpl protected_template);
INSERT INTO bt VALUES
	('zeros', biocrypt.protect_bits(pg_temp.rep('00', 16), NULL, 'z')),
	-- template mask: bytes 0..11 valid
	('zeros masked', biocrypt.protect_bits(pg_temp.rep('00', 16), pg_temp.rep('ff', 12) || pg_temp.rep('00', 4), 'zm')),
	-- template mask: nothing valid
	('zeros no valid bits', biocrypt.protect_bits(pg_temp.rep('00', 16), pg_temp.rep('00', 16), 'z0')),
	('a5', biocrypt.protect_bits(pg_temp.rep('a5', 16), NULL, 'a5')),
	('one byte', biocrypt.protect_bits('\x0f', NULL, 'o')),
	('one byte masked', biocrypt.protect_bits('\x0f', '\xff', 'om'));
-- 1, 3, 7, 8, 9, 63, 64, 65 and 256 bytes: word, SIMD block and tail sizes
CREATE TEMP TABLE bn AS
SELECT n, biocrypt.protect_bits(pg_temp.rep('00', n), NULL, 'n' || n) AS tpl
FROM unnest('{1,3,7,8,9,63,64,65,256}'::int[]) n;
-- random 128-bit codes and mostly-valid masks with layout {2,32,2}
SELECT setseed(0.17);
CREATE TEMP TABLE rb AS
SELECT i,
	(SELECT decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex') FROM generate_series(1, 16 + 0 * i)) AS t,
	(SELECT decode(string_agg(CASE WHEN random() < 0.7 THEN 'ff' ELSE lpad(to_hex((random() * 255)::int), 2, '0') END, ''), 'hex')
	 FROM generate_series(1, 16 + 0 * i)) AS tm,
	(SELECT decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex') FROM generate_series(1, 16 + 0 * i)) AS p,
	(SELECT decode(string_agg(CASE WHEN random() < 0.7 THEN 'ff' ELSE lpad(to_hex((random() * 255)::int), 2, '0') END, ''), 'hex')
	 FROM generate_series(1, 16 + 0 * i)) AS pm
FROM generate_series(1, 24) i;
-- half the probes are rotated templates with a few bits flipped, so the
-- best shift is not always 0
UPDATE rb SET p = pg_temp.rot(set_byte(t, i % 16, get_byte(t, i % 16) # 3), 2, 32, 2, i % 7 - 3)
WHERE i % 2 = 0;
ALTER TABLE rb ADD tpl protected_template;
UPDATE rb SET tpl = biocrypt.protect_bits(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, 'r' || i, NULL, NULL, '{2,32,2}');
ALTER TABLE rb ADD ref0 float8, ADD ref2 float8, ADD ref3 float8, ADD ref3m float8, ADD hd float8;
UPDATE rb SET
	ref0 = pg_temp.iris_ref(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, p, NULL, '{2,32,2}', 0),
	ref2 = pg_temp.iris_ref(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, p, pm, '{2,32,2}', 2),
	ref3 = pg_temp.iris_ref(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, p, NULL, '{2,32,2}', 3),
	ref3m = pg_temp.iris_ref(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, p, pm, '{2,32,2}', 3),
	hd = bit_count(pg_temp.bits(t)::varbit # pg_temp.bits(p)::varbit)::float8 / 128;
SELECT count(*) AS codes, count(*) FILTER (WHERE ref3m < ref0) AS shift_helps,
	count(*) FILTER (WHERE ref3 = 0) AS exact_rotations, count(DISTINCT ref3m) > 12 AS varied
FROM rb;

-- the bit-code checks run on every path
CREATE TEMP VIEW bits_values AS
SELECT name,
	tpl <~> pg_temp.rep('00', 16) AS same,
	tpl <~> pg_temp.rep('ff', 16) AS inverted,
	tpl <~> (pg_temp.rep('ff', 8) || pg_temp.rep('00', 8)) AS half,
	tpl <~> ('\x80'::bytea || pg_temp.rep('00', 14) || '\x01'::bytea) AS two_bits,
	biocrypt.iris_distance(tpl, pg_temp.rep('00', 16)) AS iris_same,
	biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16)) AS iris_inverted,
	biocrypt.iris_distance(tpl, pg_temp.rep('ff', 8) || pg_temp.rep('00', 8)) AS iris_half
FROM bt WHERE name LIKE 'zeros%' OR name = 'a5' ORDER BY name;
-- masks change the denominator.  Probe: 32 ones then 96 zeros.
--   no masks: 32/128; template mask bytes 0..11: 32/96;
--   probe mask bytes 4..15: 0/96; template 0..11 and probe 2..15: 16/80
CREATE TEMP VIEW mask_values AS
SELECT biocrypt.iris_distance(z.tpl, pg_temp.rep('ff', 4) || pg_temp.rep('00', 12)) AS no_masks,
	biocrypt.iris_distance(zm.tpl, pg_temp.rep('ff', 4) || pg_temp.rep('00', 12)) AS template_mask,
	biocrypt.iris_distance(z.tpl, pg_temp.rep('ff', 4) || pg_temp.rep('00', 12),
		pg_temp.rep('00', 4) || pg_temp.rep('ff', 12)) AS probe_mask,
	biocrypt.iris_distance(zm.tpl, pg_temp.rep('ff', 4) || pg_temp.rep('00', 12),
		pg_temp.rep('00', 2) || pg_temp.rep('ff', 14)) AS both_masks,
	-- <~> ignores masks
	zm.tpl <~> (pg_temp.rep('ff', 4) || pg_temp.rep('00', 12)) AS hamming_ignores_mask
FROM bt z, bt zm WHERE z.name = 'zeros' AND zm.name = 'zeros masked';
-- sizes around words and SIMD blocks: the first and last bits differ;
-- iris_distance needs 64 valid bits (8 bytes) by default
CREATE TEMP VIEW size_values AS
SELECT n, tpl <~> pg_temp.rep('00', n) AS same,
	tpl <~> pg_temp.rep('ff', n) AS inverted,
	tpl <~> set_byte(set_byte(pg_temp.rep('00', n), 0, 128), n - 1,
					 get_byte(set_byte(pg_temp.rep('00', n), 0, 128), n - 1) | 1) AS two_bits,
	biocrypt.iris_distance(tpl, pg_temp.rep('ff', n)) AS iris_inverted
FROM bn ORDER BY n;
CREATE TEMP VIEW random_bits_check AS
SELECT count(*) AS codes,
	count(*) FILTER (WHERE (tpl <~> p) IS DISTINCT FROM hd) AS hamming_off,
	count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p) IS DISTINCT FROM ref0) AS shift0_off,
	count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p, pm, 2) IS DISTINCT FROM ref2) AS shift2_masked_off,
	count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p, NULL, 3) IS DISTINCT FROM ref3) AS shift3_off,
	count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p, pm, 3) IS DISTINCT FROM ref3m) AS shift3_masked_off
FROM rb;


-- rotation, layout {2,32,2}: probes are the template with its columns
-- rotated by 3 and by -5, or by one bit (half a cell, which no shift
-- undoes); layout {8,128,2} (2048 bits), rotated by 8
SELECT setseed(0.99);
CREATE TEMP TABLE rc AS
SELECT (SELECT decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex') FROM generate_series(1, 16)) AS t,
	(SELECT decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex') FROM generate_series(1, 256)) AS t8,
	-- ones in the cells of columns 10..12, both rows
	pg_temp.b((SELECT string_agg(CASE WHEN c BETWEEN 10 AND 12 THEN '11' ELSE '00' END, '' ORDER BY r, c)
			   FROM generate_series(0, 1) r, generate_series(0, 31) c)) AS cols;
ALTER TABLE rc ADD tpl protected_template, ADD tpl_masked protected_template,
	ADD tpl8 protected_template, ADD flipped bytea, ADD keep bytea;
UPDATE rc SET
	tpl = biocrypt.protect_bits(t, NULL, 'rot', NULL, NULL, '{2,32,2}'),
	tpl8 = biocrypt.protect_bits(t8, NULL, 'rot8', NULL, NULL, '{8,128,2}'),
	-- the template with columns 10..12 inverted, and a mask hiding them
	flipped = pg_temp.b((pg_temp.bits(t)::varbit # pg_temp.bits(cols)::varbit)::text),
	keep = pg_temp.b((~pg_temp.bits(cols)::varbit)::text);
UPDATE rc SET tpl_masked = biocrypt.protect_bits(t, keep, 'rotm', NULL, NULL, '{2,32,2}');
CREATE TEMP VIEW rotation_values AS
SELECT biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 32, 2, -3), NULL, 2) > 0 AS by3_shift2_misses,
	biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 32, 2, -3), NULL, 3) AS by3_shift3,
	biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 32, 2, -3), NULL, 31) AS by3_shift31,
	biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 32, 2, 5), NULL, 4) > 0 AS by_minus5_shift4_misses,
	biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 32, 2, 5), NULL, 5) AS by_minus5_shift5,
	biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 64, 1, -1), NULL, 31) > 0 AS half_cell_misses,
	biocrypt.iris_distance(tpl8, pg_temp.rot(t8, 8, 128, 2, -8), NULL, 7) > 0 AS l8_by8_shift7_misses,
	biocrypt.iris_distance(tpl8, pg_temp.rot(t8, 8, 128, 2, -8), NULL, 8) AS l8_by8_shift8,
	biocrypt.iris_distance(tpl8, pg_temp.rot(t8, 8, 128, 2, 100), NULL, 28) AS l8_by_minus100_shift28,
	-- columns 10..12 inverted (12 of 128 bits), then rotated by 3: the probe
	-- mask must rotate with the code; a template mask stays put
	biocrypt.iris_distance(tpl, pg_temp.rot(flipped, 2, 32, 2, -3), NULL, 3) AS flipped_unmasked,
	biocrypt.iris_distance(tpl, pg_temp.rot(flipped, 2, 32, 2, -3), pg_temp.rot(keep, 2, 32, 2, -3), 3) AS flipped_probe_mask,
	biocrypt.iris_distance(tpl, pg_temp.rot(flipped, 2, 32, 2, -3), keep, 3) > 0 AS unrotated_probe_mask_misses,
	biocrypt.iris_distance(tpl_masked, pg_temp.rot(flipped, 2, 32, 2, -3), NULL, 3) AS flipped_template_mask,
	biocrypt.iris_distance(tpl_masked, pg_temp.rot(flipped, 2, 32, 2, -3), NULL, 2) > 0 AS flipped_template_mask_shift2_misses
FROM rc;

-- fewest valid bits: biocrypt.min_common_bits (64 by default)
CREATE TEMP VIEW min_bits_values AS
SELECT biocrypt.iris_distance(z.tpl, pg_temp.rep('ff', 16), pg_temp.rep('ff', 8) || pg_temp.rep('00', 8)) AS valid_64,
	biocrypt.iris_distance(z.tpl, pg_temp.rep('ff', 16), pg_temp.rep('ff', 7) || '\xfe'::bytea || pg_temp.rep('00', 8)) AS valid_63,
	biocrypt.iris_distance(z.tpl, pg_temp.rep('ff', 16), pg_temp.rep('00', 16)) AS valid_0,
	biocrypt.iris_distance(z0.tpl, pg_temp.rep('ff', 16)) AS template_mask_empty,
	biocrypt.iris_distance(o.tpl, '\x0e') AS one_byte,
	biocrypt.iris_distance(om.tpl, '\x0e', '\xff') AS one_byte_masked,
	o.tpl <~> '\x0e' AS one_byte_hamming
FROM bt z, bt z0, bt o, bt om
WHERE z.name = 'zeros' AND z0.name = 'zeros no valid bits' AND o.name = 'one byte'
	AND om.name = 'one byte masked';

--
-- every path: the same checks, the same results
--
SET biocrypt.simd = portable;
SELECT biocrypt.simd_path();
SELECT * FROM vector_check;
SELECT * FROM const_probe_check;
SELECT * FROM exact_values;
SELECT * FROM bits_values;
SELECT * FROM mask_values;
SELECT * FROM size_values;
SELECT * FROM random_bits_check;
SELECT * FROM rotation_values;
SELECT * FROM min_bits_values;

SET biocrypt.simd = avx2;
SELECT biocrypt.simd_path();
SELECT * FROM vector_check;
SELECT * FROM const_probe_check;
SELECT * FROM exact_values;
SELECT * FROM bits_values;
SELECT * FROM mask_values;
SELECT * FROM size_values;
SELECT * FROM random_bits_check;
SELECT * FROM rotation_values;
SELECT * FROM min_bits_values;

SET biocrypt.simd = avx512;
SELECT biocrypt.simd_path();
SELECT * FROM vector_check;
SELECT * FROM const_probe_check;
SELECT * FROM exact_values;
SELECT * FROM bits_values;
SELECT * FROM mask_values;
SELECT * FROM size_values;
SELECT * FROM random_bits_check;
SELECT * FROM rotation_values;
SELECT * FROM min_bits_values;
RESET biocrypt.simd;

-- min_common_bits moves the limit both ways
SET biocrypt.min_common_bits = 63;
SELECT valid_64, valid_63, valid_0, one_byte FROM min_bits_values;
SET biocrypt.min_common_bits = 8;
SELECT valid_63, one_byte, one_byte_masked FROM min_bits_values;
-- 1 is the smallest: no valid bits is still no distance
SET biocrypt.min_common_bits = 1;
SELECT valid_0, template_mask_empty FROM min_bits_values;
SET biocrypt.min_common_bits = 65;
SELECT valid_64, (SELECT count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p) IS DISTINCT FROM
		pg_temp.iris_ref(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, p, NULL, '{2,32,2}', 0)) FROM rb) AS random_off_at_65,
	(SELECT count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p) IS NULL) FROM rb) AS random_null_at_65
FROM min_bits_values;
SET biocrypt.min_common_bits = 128;
SELECT biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16)) AS all_128_valid FROM bt WHERE name = 'zeros';
RESET biocrypt.min_common_bits;
SELECT pg_temp.err($$SET biocrypt.min_common_bits = 0$$) AS min_common_bits_0;
SELECT pg_temp.err($$SET biocrypt.min_common_bits = 65537$$) AS min_common_bits_65537;
SHOW biocrypt.min_common_bits;

--
-- iris_distance(): arguments
--
-- NULL template, code or max_shift: NULL; NULL mask: every bit valid
SELECT biocrypt.iris_distance(NULL, pg_temp.rep('ff', 16)) IS NULL AS null_template,
	biocrypt.iris_distance(tpl, NULL) IS NULL AS null_code,
	biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16), NULL, NULL) IS NULL AS null_max_shift,
	biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16), NULL) AS null_mask
FROM bt WHERE name = 'zeros';
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16), NULL, 1) FROM bt WHERE name = 'zeros'$$) AS shift_without_layout;
SELECT biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16), NULL, 0) AS shift_0_without_layout FROM bt WHERE name = 'zeros';
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, NULL, 32) FROM rc$$) AS shift_32_of_32_cols;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, NULL, 1000000) FROM rc$$) AS shift_huge;
SELECT biocrypt.iris_distance(tpl, t, NULL, 31) AS shift_31_of_32_cols FROM rc;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, NULL, -1) FROM rc$$) AS shift_negative;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16), NULL, -1) FROM bt WHERE name = 'zeros'$$) AS shift_negative_no_layout;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t || '\x00'::bytea) FROM rc$$) AS code_longer;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, substr(t, 2)) FROM rc$$) AS code_shorter;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, substr(t, 2), NULL, 3) FROM rc$$) AS code_shorter_shifted;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, '') FROM rc$$) AS code_empty;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, substr(t, 2)) FROM rc$$) AS mask_shorter;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, t || t) FROM rc$$) AS mask_longer;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, '') FROM rc$$) AS mask_empty;
SELECT pg_temp.err($$SELECT tpl <~> (t || '\x00'::bytea) FROM rc$$) AS hamming_code_longer;
SELECT pg_temp.err($$SELECT tpl <~> ''::bytea FROM rc$$) AS hamming_code_empty;
SELECT tpl <~> NULL::bytea IS NULL AS hamming_null FROM rc;

--
-- verify(): around the threshold, for each metric.  Template {3,4}:
--   l2 to {0,0} is 5; cosine to {-4,3} is 1 and to {6,8} is 0;
--   inner product with {1,1} is -7
--
CREATE TEMP TABLE vt AS
SELECT f AS fmt, biocrypt.protect('{3,4}', 'v-' || f, NULL, NULL, f) AS tpl
FROM unnest('{f32,f16}'::text[]) f;
SELECT fmt,
	biocrypt.verify(tpl, '{0,0}', 5, 'l2') AS l2_at,
	biocrypt.verify(tpl, '{0,0}', 4.999999, 'l2') AS l2_below,
	biocrypt.verify(tpl, '{-4,3}', 1, 'cosine') AS cosine_at,
	biocrypt.verify(tpl, '{-4,3}', 0.999999, 'cosine') AS cosine_below,
	biocrypt.verify(tpl, '{6,8}', 0) AS default_cosine_at_0,
	biocrypt.verify(tpl, '{6,8}', -1e-300) AS default_cosine_below_0,
	biocrypt.verify(tpl, '{1,1}', -7, 'inner_product') AS ip_at,
	biocrypt.verify(tpl, '{1,1}', -7.000001, 'inner_product') AS ip_below
FROM vt ORDER BY fmt;
-- i8 stores {127,0} exactly (scale 1): l2 to {0,5} is sqrt(16154)
SELECT biocrypt.verify(t, '{0,5}', sqrt(16154::float8), 'l2') AS i8_l2_at,
	biocrypt.verify(t, '{0,5}', sqrt(16154::float8) * (1 - 1e-12), 'l2') AS i8_l2_below,
	biocrypt.verify(t, '{1,0}', -127, 'inner_product') AS i8_ip_at,
	biocrypt.verify(t, '{1,0}', -127.000001, 'inner_product') AS i8_ip_below
FROM biocrypt.protect('{127,0}', 'v-i8', NULL, NULL, 'i8') t;
-- infinite thresholds; a zero vector never matches under cosine (NaN)
SELECT biocrypt.verify(tpl, '{1000,-1000}', 'Infinity', 'l2') AS l2_infinity,
	biocrypt.verify(tpl, '{0,0}', 'Infinity', 'l2') AS l2_zero_probe_infinity,
	biocrypt.verify(tpl, '{0,0}', 'Infinity', 'cosine') AS cosine_zero_probe_infinity,
	biocrypt.verify(tpl, '{0,0}', 'Infinity', 'inner_product') AS ip_zero_probe_infinity,
	biocrypt.verify(tpl, '{0,0}', '-Infinity', 'l2') AS l2_minus_infinity
FROM vt WHERE fmt = 'f32';
SELECT biocrypt.verify(biocrypt.protect('{0,0}', 'z'), '{3,4}', 'Infinity', 'cosine') AS cosine_zero_template_infinity;
-- STRICT: a NULL argument gives NULL
SELECT biocrypt.verify(tpl, NULL, 1) IS NULL AS null_probe,
	biocrypt.verify(tpl, '{3,4}', NULL) IS NULL AS null_max_distance,
	biocrypt.verify(tpl, '{3,4}', 1, NULL) IS NULL AS null_metric,
	biocrypt.verify(NULL, '{3,4}', 1) IS NULL AS null_template
FROM vt WHERE fmt = 'f32';
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}', 'NaN') FROM vt$$) AS max_distance_nan;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}', 1, 'euclidean') FROM vt$$) AS metric_unknown;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}', 1, 'L2') FROM vt$$) AS metric_upper_case;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}', 1, '') FROM vt$$) AS metric_empty;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4,5}', 1) FROM vt$$) AS verify_dims_mismatch;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}', 1) FROM bt$$) AS verify_bit_template;

--
-- errors: shapes, kinds and malformed probes
--
CREATE TEMP TABLE et AS
SELECT biocrypt.protect('{1,2,3}', 'e') AS v, biocrypt.protect_bits(pg_temp.rep('0f', 16), NULL, 'eb') AS b;
SELECT pg_temp.err($$SELECT v <-> '{1,2}'::real[] FROM et$$) AS l2_fewer_dims;
SELECT pg_temp.err($$SELECT v <=> '{1,2,3,4}'::real[] FROM et$$) AS cosine_more_dims;
SELECT pg_temp.err($$SELECT v <#> '{1}'::real[] FROM et$$) AS ip_fewer_dims;
SELECT pg_temp.err($$SELECT b <-> '{1,2,3}'::real[] FROM et$$) AS l2_bit_template;
SELECT pg_temp.err($$SELECT b <=> '{1,2,3}'::real[] FROM et$$) AS cosine_bit_template;
SELECT pg_temp.err($$SELECT b <#> array_fill(1::real, '{128}') FROM et$$) AS ip_bit_template_128;
SELECT pg_temp.err($$SELECT v <~> '\x0f'::bytea FROM et$$) AS hamming_vector_template;
SELECT pg_temp.err($$SELECT v <~> pg_temp.rep('00', 12) FROM et$$) AS hamming_vector_template_12_bytes;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(v, '\x0f') FROM et$$) AS iris_vector_template;
SELECT pg_temp.err($$SELECT v <-> '{1,NaN,3}'::real[] FROM et$$) AS probe_nan;
SELECT pg_temp.err($$SELECT v <=> '{1,Infinity,3}'::real[] FROM et$$) AS probe_infinity;
SELECT pg_temp.err($$SELECT v <#> '{-Infinity,2,3}'::real[] FROM et$$) AS probe_minus_infinity;
SELECT pg_temp.err($$SELECT v <-> '{1,NULL,3}'::real[] FROM et$$) AS probe_null_element;
SELECT pg_temp.err($$SELECT v <-> '{}'::real[] FROM et$$) AS probe_empty;
SELECT pg_temp.err($$SELECT v <-> '{{1,2,3}}'::real[] FROM et$$) AS probe_two_dimensional;
SELECT pg_temp.err($$SELECT v <-> array_fill(1::real, '{16001}') FROM et$$) AS probe_16001_dims;
SELECT pg_temp.err($$SELECT biocrypt.verify(v, '{1,NaN,3}', 1) FROM et$$) AS verify_probe_nan;
SELECT pg_temp.err($$SELECT biocrypt.verify(v, '{NULL,2,3}', 1) FROM et$$) AS verify_probe_null_element;
-- the probe is checked even when the template is a bit code
SELECT pg_temp.err($$SELECT b <-> '{NaN}'::real[] FROM et$$) AS nan_probe_bit_template;
-- a NULL probe is not an error: the operators are STRICT
SELECT v <-> NULL::real[] IS NULL AS l2_null_probe, v <=> NULL::real[] IS NULL AS cosine_null_probe,
	v <#> NULL::real[] IS NULL AS ip_null_probe, NULL::protected_template <-> '{1}'::real[] IS NULL AS null_template
FROM et;
-- any lower bound: only the number of elements counts
SELECT v <-> '[0:2]={1,2,3}'::real[] AS lower_bound_0, v <-> '[-5:-3]={1,2,3}'::real[] AS lower_bound_minus_5 FROM et;
-- messages do not echo the probe
SELECT position('31415' IN pg_temp.err($$SELECT v <-> '{0.31415,NaN,3}'::real[] FROM et$$)) = 0 AS nan_probe_not_echoed,
	position('31415' IN pg_temp.err($$SELECT v <-> '{0.31415,2}'::real[] FROM et$$)) = 0 AS short_probe_not_echoed;
-- the server survived all of it
SELECT 1 AS alive;

--
-- expired templates: never decrypted; NULL from the operators, false from
-- verify(), or 55000 under biocrypt.on_expired = error
--
CREATE TEMP TABLE xt AS
SELECT biocrypt.protect('{3,4}', 'x', clock_timestamp() + interval '1 second') AS v,
	biocrypt.protect_bits(pg_temp.rep('00', 16), NULL, 'xb', clock_timestamp() + interval '1 second',
						  NULL, '{2,32,2}') AS b;
SELECT v <-> '{0,0}'::real[] AS l2_before, biocrypt.verify(v, '{6,8}', 0) AS verify_before,
	b <~> pg_temp.rep('ff', 16) AS hamming_before
FROM xt;
SELECT pg_sleep(1.2);
SELECT biocrypt.expires_at(v) < clock_timestamp() AND biocrypt.expires_at(b) < clock_timestamp() AS expired FROM xt;
SHOW biocrypt.on_expired;
SELECT v <-> '{0,0}'::real[] IS NULL AS l2_null, v <=> '{0,0}'::real[] IS NULL AS cosine_null,
	v <#> '{0,0}'::real[] IS NULL AS ip_null,
	b <~> pg_temp.rep('ff', 16) IS NULL AS hamming_null,
	biocrypt.iris_distance(b, pg_temp.rep('ff', 16)) IS NULL AS iris_null,
	biocrypt.iris_distance(b, pg_temp.rep('ff', 16), NULL, 3) IS NULL AS iris_shifted_null
FROM xt;
SELECT biocrypt.verify(v, '{6,8}', 'Infinity') AS verify_cosine, biocrypt.verify(v, '{0,0}', 'Infinity', 'l2') AS verify_l2,
	biocrypt.verify(v, '{1,1}', 'Infinity', 'inner_product') AS verify_ip
FROM xt;
-- shape and kind are still checked (from the header) before expiry
SELECT pg_temp.err($$SELECT v <-> '{0,0,0}'::real[] FROM xt$$) AS expired_dims_mismatch;
SELECT pg_temp.err($$SELECT b <-> '{0,0}'::real[] FROM xt$$) AS expired_bit_template;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(b, pg_temp.rep('ff', 16), NULL, 32) FROM xt$$) AS expired_shift_too_large;
SET biocrypt.on_expired = error;
SELECT pg_temp.err($$SELECT v <-> '{0,0}'::real[] FROM xt$$) AS l2_error;
SELECT pg_temp.err($$SELECT v <=> '{0,0}'::real[] FROM xt$$) AS cosine_error;
SELECT pg_temp.err($$SELECT v <#> '{0,0}'::real[] FROM xt$$) AS ip_error;
SELECT pg_temp.err($$SELECT b <~> pg_temp.rep('ff', 16) FROM xt$$) AS hamming_error;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(b, pg_temp.rep('ff', 16), NULL, 3) FROM xt$$) AS iris_error;
SELECT pg_temp.err($$SELECT biocrypt.verify(v, '{6,8}', 1) FROM xt$$) AS verify_error;
-- templates still in retention are unaffected
SELECT tpl <-> '{0,0}'::real[] AS fresh_l2 FROM vt WHERE fmt = 'f32';
RESET biocrypt.on_expired;

--
-- the comparison settings are for superusers; a matcher compares but
-- cannot change them
--
CREATE ROLE regress_cmp_matcher NOLOGIN IN ROLE biocrypt_matcher;
SELECT biocrypt.grant_purpose('regress_cmp_matcher', 'verification') AS granted;
GRANT SELECT ON vt, xt TO regress_cmp_matcher;
SET ROLE regress_cmp_matcher;
SELECT tpl <-> '{0,0}'::real[] AS matcher_l2, biocrypt.verify(tpl, '{6,8}', 0) AS matcher_verify
FROM vt WHERE fmt = 'f32';
SELECT pg_temp.err($$SET biocrypt.on_expired = error$$) AS set_on_expired;
SELECT pg_temp.err($$SET biocrypt.simd = portable$$) AS set_simd;
SELECT pg_temp.err($$SET biocrypt.min_common_bits = 1$$) AS set_min_common_bits;
SELECT pg_temp.err($$SELECT set_config('biocrypt.on_expired', 'error', false)$$) AS set_config_on_expired;
SELECT pg_temp.err($$SELECT set_config('biocrypt.simd', 'portable', true)$$) AS set_config_simd;
SELECT pg_temp.err($$ALTER ROLE regress_cmp_matcher SET biocrypt.on_expired = error$$) AS alter_role_on_expired;
SHOW biocrypt.on_expired;
SELECT biocrypt.simd_path() AS matcher_path;
-- expired: skipped for the matcher too
SELECT v <-> '{0,0}'::real[] IS NULL AS matcher_expired_null FROM xt;
RESET ROLE;
REVOKE SELECT ON vt, xt FROM regress_cmp_matcher;
DROP ROLE regress_cmp_matcher;

--
-- a probe that changes between evaluations of one expression: PL/pgSQL
-- keeps a simple expression's state across loop iterations, with the
-- probe as a parameter, so the probe cache must notice the new value.
-- Per iteration g: l2 = 8g, verify within 8.5 only for g = 1,
-- iris distance g/16.
--
CREATE FUNCTION pg_temp.loop_distances() RETURNS TABLE (g int, l2 float8, verified boolean, iris float8)
LANGUAGE plpgsql AS $$
DECLARE
	t protected_template := biocrypt.protect(array_fill(0::real, '{64}'), 'loop');
	b protected_template := biocrypt.protect_bits(pg_temp.rep('00', 16), NULL, 'loop-bits');
	r record;
	code bytea;
BEGIN
	FOR r IN SELECT i, array_fill(i::real, '{64}') AS p FROM generate_series(1, 3) i LOOP
		g := r.i;
		l2 := t <-> r.p;
		verified := biocrypt.verify(t, r.p, 8.5, 'l2');
		code := pg_temp.rep('ff', r.i) || pg_temp.rep('00', 16 - r.i);
		iris := biocrypt.iris_distance(b, code);
		RETURN NEXT;
	END LOOP;
END $$;
SELECT * FROM pg_temp.loop_distances();
-- the same probe per row of a join, alternating
SELECT g, tpl <-> p AS l2
FROM (VALUES (1, '{0,0}'::real[]), (2, '{9,12}'), (3, '{0,0}'), (4, '{3,0}')) v(g, p), vt
WHERE fmt = 'f32' ORDER BY g;

RESET biocrypt.allow_reveal;
RESET TimeZone;
