-- identify() over bit codes: its answer must be exactly what the planner
-- gives for "ORDER BY biocrypt.iris_distance(...), biocrypt.subject_of(tpl)
-- LIMIT k", with masks, rotation and min_common_bits; its bit-code
-- arguments.
--
-- Probe literals need a cast ('{...}'::real[] or '\x..'::bytea): identify()
-- has a real[] and a bytea overload.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';

-- bit codes: identify() against ORDER BY iris_distance(), subject LIMIT k
CREATE FUNCTION pg_temp.ident_bits(rel regclass, probe bytea, k int, maxd float8, mask bytea,
		max_shift int) RETURNS text[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg(subject || '=' || distance ORDER BY n), '{}')
	FROM biocrypt.identify(rel, 'tpl', probe, k, maxd, mask, max_shift) WITH ORDINALITY r(subject, distance, n) $$;
CREATE FUNCTION pg_temp.planned_bits(rel regclass, probe bytea, k int, maxd float8, mask bytea,
		max_shift int) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	r text[];
BEGIN
	EXECUTE format($q$
		SELECT coalesce(array_agg(s || '=' || d ORDER BY d, s COLLATE "C"), '{}') FROM (
			SELECT biocrypt.subject_of(tpl) AS s, biocrypt.iris_distance(tpl, $1, $4, $5) AS d
			FROM %s
			WHERE biocrypt.iris_distance(tpl, $1, $4, $5) IS NOT NULL
				AND ($3 IS NULL OR biocrypt.iris_distance(tpl, $1, $4, $5) <= $3)
			ORDER BY biocrypt.iris_distance(tpl, $1, $4, $5), biocrypt.subject_of(tpl) COLLATE "C"
			LIMIT $2) x $q$, rel)
	INTO r USING probe, k, maxd, mask, max_shift;
	RETURN r;
END $$;
-- random codes
CREATE FUNCTION pg_temp.rbytes(n int, ones float8 DEFAULT 0) RETURNS bytea LANGUAGE sql VOLATILE AS $$
	SELECT decode(string_agg(CASE WHEN random() < ones THEN 'ff'
		ELSE lpad(to_hex((random() * 255)::int), 2, '0') END, ''), 'hex')
	FROM generate_series(1, n) $$;

CREATE SCHEMA regress_ident;
SET search_path = regress_ident, public;

--
-- bit codes: 128-bit codes with layout {2,32,2}, two thirds with a mask;
-- max_shift 0 and 2, with and without a probe mask; a gallery mixing two
-- layouts of 128 bits (the rotations are rebuilt per layout)
--
SELECT setseed(0.57);
CREATE TEMP TABLE bits_src AS
SELECT i, pg_temp.rbytes(16) AS code, CASE WHEN i % 3 = 0 THEN NULL ELSE pg_temp.rbytes(16, 0.75) END AS mask
FROM generate_series(1, 130) i;
CREATE TABLE gal_bits (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_bits
SELECT i, biocrypt.protect_bits(code, mask, 'bits-' || lpad(i::text, 3, '0'), NULL, NULL, '{2,32,2}')
FROM bits_src;
CREATE TABLE gal_layouts (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_layouts
SELECT i, biocrypt.protect_bits(pg_temp.rbytes(16), CASE WHEN i % 2 = 0 THEN pg_temp.rbytes(16, 0.75) END,
	'lay-' || lpad(i::text, 3, '0'), NULL, NULL, CASE WHEN i % 3 = 0 THEN '{4,16,2}'::int[] ELSE '{2,32,2}' END)
FROM generate_series(1, 70) i;
CREATE TEMP TABLE bit_probes AS
SELECT i, pg_temp.rbytes(16) AS code, CASE WHEN i % 2 = 0 THEN pg_temp.rbytes(16, 0.75) END AS mask
FROM generate_series(1, 4) i;
SELECT g.rel AS gallery, count(*) AS cases,
	sum(cardinality(pg_temp.ident_bits(g.rel, code, k, NULL, mask, s))) AS rows_returned,
	count(*) FILTER (WHERE pg_temp.ident_bits(g.rel, code, k, NULL, mask, s)
					 IS DISTINCT FROM pg_temp.planned_bits(g.rel, code, k, NULL, mask, s)) AS differ,
	count(*) FILTER (WHERE pg_temp.ident_bits(g.rel, code, k, 0.45, mask, s)
					 IS DISTINCT FROM pg_temp.planned_bits(g.rel, code, k, 0.45, mask, s)) AS differ_max_045
FROM (VALUES ('gal_bits'::regclass), ('gal_layouts')) g(rel), bit_probes,
	unnest('{1,7,64,65,1000}'::int[]) k, unnest('{0,2}'::int[]) s
GROUP BY g.rel ORDER BY g.rel::text;
-- a template's own code: found at distance 0
SELECT r.subject, round(r.distance::numeric, 6) AS distance FROM bits_src b, LATERAL biocrypt.identify('gal_bits', 'tpl', b.code, 2, NULL, NULL, 5) r
WHERE b.i = 42;
-- min_common_bits also applies: with 129 no template has enough valid bits
SET biocrypt.min_common_bits = 129;
SELECT count(*) AS too_few_valid_bits FROM biocrypt.identify('gal_bits', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 1000, NULL, NULL, 0);
SET biocrypt.min_common_bits = 128;
SELECT count(*) AS unmasked_only FROM biocrypt.identify('gal_bits', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 1000, NULL, NULL, 0);
RESET biocrypt.min_common_bits;

--
-- arguments
--
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_bits', 'tpl', '{3,4}'::real[])$$) AS real_probe_bit_gallery;
-- bit-code arguments
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_bits', 'tpl', '\x00'::bytea, 1, NULL, NULL, NULL)$$) AS null_max_shift;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_bits', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 1, NULL, NULL, -1)$$) AS negative_max_shift;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_bits', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 1, NULL, NULL, 32)$$) AS max_shift_32_cols;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_layouts', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 1, NULL, NULL, 16)$$) AS max_shift_16_of_16_cols;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_bits', 'tpl', ''::bytea)$$) AS empty_code;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_bits', 'tpl', '\x00ff'::bytea)$$) AS code_length_mismatch;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_bits', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 1, NULL, '\xff'::bytea)$$) AS mask_length_mismatch;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_bits', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 1, 'NaN', NULL, 0)$$) AS bits_max_distance_nan;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_bits', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 0)$$) AS bits_k_0;
CREATE TABLE gal_nolayout (tpl protected_template);
INSERT INTO gal_nolayout VALUES (biocrypt.protect_bits(pg_temp.rbytes(16), NULL, 'nl'));
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_nolayout', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 1, NULL, NULL, 1)$$) AS shift_without_layout;
SELECT count(*) AS no_layout_shift_0 FROM biocrypt.identify('gal_nolayout', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 1, NULL, NULL, 0);
-- still alive
SELECT 1 AS alive;

-- clean up
SET client_min_messages = warning;
DROP SCHEMA regress_ident CASCADE;
RESET client_min_messages;
RESET search_path;
RESET TimeZone;
