-- Warm galleries (biocrypt_gallery indexes): every search through a
-- gallery, warm or not, must answer exactly as the cold path does
-- (biocrypt.enable_gallery = off: a table scan decrypting every row).
-- For each format: ORDER BY col <op> probe LIMIT k and identify() against
-- the cold path; EXPLAIN; biocrypt.galleries and biocrypt.warm(); MVCC in
-- one session; expiry; purposes; erasure; refusals, the audit and score
-- budgets.  Distances are compared, not printed.
--
-- Probe literals need a cast ('{...}'::real[] or '\x..'::bytea): identify()
-- has a real[] and a bytea overload.
\getenv abs_srcdir PG_ABS_SRCDIR
\set err_detail off
\i :abs_srcdir/sql/include/setup.sql
-- pg_temp.ident(), pg_temp.rvec()
\i :abs_srcdir/sql/include/identify.sql
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';

CREATE SCHEMA regress_gal;
SET search_path = regress_gal, public;
SELECT setseed(0.13);

-- templates that expire in a second (searched after the rest below)
CREATE TABLE gal_exp (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_exp
SELECT i, biocrypt.protect(ARRAY[1, i * 0.01, 0]::real[], 'soon-' || lpad(i::text, 2, '0'), clock_timestamp() + interval '1 second')
FROM generate_series(1, 5) i;
INSERT INTO gal_exp
SELECT i, biocrypt.protect(ARRAY[1 + i * 0.01, i * 0.1, 0.5]::real[], 'later-' || lpad(i::text, 2, '0'), clock_timestamp() + interval '1 day')
FROM generate_series(6, 20) i;
CREATE INDEX gal_exp_gal ON gal_exp USING biocrypt_gallery (tpl);
-- warmed while every template is still valid
SELECT biocrypt.warm('gal_exp_gal') AS warmed_before_expiry;

-- helpers: the answer of "SELECT id, tpl <op> probe FROM rel ORDER BY
-- tpl <op> probe LIMIT k" as 'id=distance' in the order returned (the
-- distance is the operator's, NULL for an expired template); the same on
-- the cold path; whether its plan uses the gallery index
CREATE FUNCTION pg_temp.ob(rel regclass, op text, probe anyelement, k int) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
	r text[] := '{}';
	x record;
BEGIN
	FOR x IN EXECUTE format('SELECT id, tpl %1$s $1 AS d FROM %2$s ORDER BY tpl %1$s $1 LIMIT $2', op, rel)
		USING probe, k LOOP
		r := r || (x.id || '=' || coalesce(x.d::text, 'NULL'));
	END LOOP;
	RETURN r;
END $$;
CREATE FUNCTION pg_temp.ob_cold(rel regclass, op text, probe anyelement, k int) RETURNS text[]
LANGUAGE sql SET biocrypt.enable_gallery = off SET enable_seqscan = on
AS $$ SELECT pg_temp.ob(rel, op, probe, k) $$;
CREATE FUNCTION pg_temp.ob_plan(rel regclass, op text, probe anyelement) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM %2$s ORDER BY tpl %1$s %3$L::%4$s LIMIT 10',
							   op, rel, probe, pg_typeof(probe)) LOOP
		IF line LIKE '%Index Scan using%' THEN
			RETURN 'index';
		END IF;
	END LOOP;
	RETURN 'no index';
END $$;
-- distances alone ('=distance'), for bit codes whose distances tie
CREATE FUNCTION pg_temp.dists(a text[]) RETURNS text[] LANGUAGE sql AS $$
	SELECT array_agg(substr(x, strpos(x, '=')) ORDER BY n) FROM unnest(a) WITH ORDINALITY u(x, n) $$;
-- the ids ranked strictly before the last distance returned (no tie at the cut)
CREATE FUNCTION pg_temp.before_cut(a text[]) RETURNS text[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM unnest(a) x
	WHERE split_part(x, '=', 2) <> split_part(a[cardinality(a)], '=', 2) $$;
CREATE FUNCTION pg_temp.ident_cold(rel regclass, probe real[], k int, maxd float8, metric text) RETURNS text[]
LANGUAGE sql SET biocrypt.enable_gallery = off AS $$ SELECT pg_temp.ident(rel, probe, k, maxd, metric) $$;
CREATE FUNCTION pg_temp.ident_bits(rel regclass, probe bytea, k int, maxd float8, mask bytea,
		max_shift int) RETURNS text[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg(subject || '=' || distance ORDER BY n), '{}')
	FROM biocrypt.identify(rel, 'tpl', probe, k, maxd, mask, max_shift) WITH ORDINALITY r(subject, distance, n) $$;
CREATE FUNCTION pg_temp.ident_bits_cold(rel regclass, probe bytea, k int, maxd float8, mask bytea,
		max_shift int) RETURNS text[]
LANGUAGE sql SET biocrypt.enable_gallery = off AS $$ SELECT pg_temp.ident_bits(rel, probe, k, maxd, mask, max_shift) $$;
-- random bytes (ones: the share of 0xff bytes, for masks)
CREATE FUNCTION pg_temp.rbytes(n int, ones float8 DEFAULT 0) RETURNS bytea LANGUAGE sql VOLATILE AS $$
	SELECT decode(string_agg(CASE WHEN random() < ones THEN 'ff'
		ELSE lpad(to_hex((random() * 255)::int), 2, '0') END, ''), 'hex')
	FROM generate_series(1, n) $$;
-- code with its first n bits flipped
CREATE FUNCTION pg_temp.flip(code bytea, n int) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	FOR b IN 0 .. n - 1 LOOP
		code := set_bit(code, b, 1 - get_bit(code, b));
	END LOOP;
	RETURN code;
END $$;
-- a gallery index's row of biocrypt.galleries, without what varies per run
CREATE FUNCTION pg_temp.gal(idx regclass)
	RETURNS TABLE (relation regclass, col name, format text, templates bigint, state text,
		protected boolean, warmed boolean, scans bigint, compared bigint)
LANGUAGE sql AS $$
	SELECT relation, "column", format, templates, state,
		protection IN ('no swap', 'huge pages', 'locked'), warmed_at IS NOT NULL,
		scans, templates_compared
	FROM biocrypt.galleries WHERE index = idx $$;

--
-- 1. the formats: 300 templates of 24 dimensions each in f32, f16 and i8
-- (five pages of entries or more), and 300 bit codes of 256 bits with a
-- layout and a mask, ten of them planted near one probe
--
CREATE TEMP TABLE base AS SELECT i AS id, pg_temp.rvec(24, 1 + i % 3) AS v FROM generate_series(1, 300) i;
CREATE TABLE gal_f32 (id int PRIMARY KEY, tpl protected_template);
CREATE TABLE gal_f16 (id int PRIMARY KEY, tpl protected_template);
CREATE TABLE gal_i8 (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_f32 SELECT id, biocrypt.protect(v, 'f32-' || lpad(id::text, 3, '0'), NULL, NULL, 'f32') FROM base;
INSERT INTO gal_f16 SELECT id, biocrypt.protect(v, 'f16-' || lpad(id::text, 3, '0'), NULL, NULL, 'f16') FROM base;
-- the i8 gallery's index exists before its rows: built empty, filled by inserts
CREATE INDEX gal_i8_gal ON gal_i8 USING biocrypt_gallery (tpl);
INSERT INTO gal_i8 SELECT id, biocrypt.protect(v, 'i8-' || lpad(id::text, 3, '0'), NULL, NULL, 'i8') FROM base;
CREATE INDEX gal_f32_gal ON gal_f32 USING biocrypt_gallery (tpl);
CREATE INDEX gal_f16_gal ON gal_f16 USING biocrypt_gallery (tpl);
CREATE TEMP TABLE bit_probes AS
SELECT i, pg_temp.rbytes(32) AS code, CASE WHEN i % 2 = 0 THEN pg_temp.rbytes(32, 0.75) END AS mask
FROM generate_series(1, 4) i;
CREATE TABLE gal_bits (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_bits
SELECT i, biocrypt.protect_bits(CASE WHEN i <= 10 THEN pg_temp.flip((SELECT code FROM bit_probes WHERE i = 1), 3 * i)
		ELSE pg_temp.rbytes(32) END,
	pg_temp.rbytes(32, 0.75), 'bits-' || lpad(i::text, 3, '0'), NULL, NULL, '{4,32,2}')
FROM generate_series(1, 300) i;
CREATE INDEX gal_bits_gal ON gal_bits USING biocrypt_gallery (tpl);

-- every gallery is cold before its first search
SELECT index, relation, "column", format, templates, bytes > 0 AS has_bytes,
	protection IN ('no swap', 'huge pages', 'locked') AS protected, state,
	warmed_at IS NOT NULL AS warmed, scans, templates_compared
FROM biocrypt.galleries WHERE relation::text LIKE 'gal\_%' ORDER BY index::text;

-- probes: one near template 7, random ones
CREATE TEMP TABLE probes AS
SELECT 'near-7' AS name, (SELECT array_agg((x * 1.5 + 0.01)::real) FROM unnest((SELECT v FROM base WHERE id = 7)) x) AS v
UNION ALL SELECT 'random-' || i, pg_temp.rvec(24, i) FROM generate_series(1, 3) i;

-- ORDER BY ... LIMIT 10 through the gallery = the cold path, for every
-- format, operator and probe (same ids, same order, same distances)
SELECT g.rel AS gallery, o.op, count(*) AS cases,
	count(*) FILTER (WHERE pg_temp.ob_plan(g.rel, o.op, p.v) = 'index') AS through_index,
	count(*) FILTER (WHERE pg_temp.ob(g.rel, o.op, p.v, 10) = pg_temp.ob_cold(g.rel, o.op, p.v, 10)) AS same,
	sum(cardinality(pg_temp.ob(g.rel, o.op, p.v, 10))) AS rows_returned
FROM (VALUES ('gal_f32'::regclass), ('gal_f16'), ('gal_i8')) g(rel),
	(VALUES ('<->'), ('<=>'), ('<#>')) o(op), probes p
GROUP BY g.rel, o.op ORDER BY g.rel::text, o.op;
-- the cold path served by the table: its plan has no index
SET biocrypt.enable_gallery = off;
SELECT g.rel AS gallery, pg_temp.ob_plan(g.rel, '<=>', (SELECT v FROM probes WHERE name = 'near-7')) AS cold_plan
FROM (VALUES ('gal_f32'::regclass), ('gal_f16'), ('gal_i8')) g(rel);
RESET biocrypt.enable_gallery;
-- all 300, not only the first 10
SELECT g.rel AS gallery, pg_temp.ob(g.rel, '<->', p.v, 1000) = pg_temp.ob_cold(g.rel, '<->', p.v, 1000) AS all_300_same
FROM (VALUES ('gal_f32'::regclass), ('gal_f16'), ('gal_i8')) g(rel), probes p
WHERE p.name = 'random-1' ORDER BY 1;
-- a WHERE clause filters the rows the index returns, in the same order
CREATE FUNCTION pg_temp.ob_filtered(probe real[]) RETURNS int[] LANGUAGE sql AS $$
	SELECT ARRAY(SELECT id FROM gal_f32 WHERE id % 7 = 0 ORDER BY tpl <=> probe LIMIT 5) $$;
CREATE FUNCTION pg_temp.ob_filtered_cold(probe real[]) RETURNS int[] LANGUAGE sql
	SET biocrypt.enable_gallery = off AS $$ SELECT pg_temp.ob_filtered(probe) $$;
SELECT p.name AS probe, pg_temp.ob_filtered(p.v) = pg_temp.ob_filtered_cold(p.v) AS filtered_same,
	cardinality(pg_temp.ob_filtered(p.v)) AS returned
FROM probes p ORDER BY 1;
-- what one of them looks like: template 7 first
SELECT split_part(x, '=', 1) AS id FROM unnest(pg_temp.ob('gal_f32', '<=>', (SELECT v FROM probes WHERE name = 'near-7'), 3)) x;

-- identify() through the gallery = the cold path (subject=distance in
-- rank order), every metric, k 1, 10 and beyond the gallery
SELECT g.rel AS gallery, m AS metric, count(*) AS cases,
	count(*) FILTER (WHERE pg_temp.ident(g.rel, p.v, k, NULL, m) = pg_temp.ident_cold(g.rel, p.v, k, NULL, m)) AS same,
	sum(cardinality(pg_temp.ident(g.rel, p.v, k, NULL, m))) AS rows_returned
FROM (VALUES ('gal_f32'::regclass), ('gal_f16'), ('gal_i8')) g(rel),
	unnest('{l2,cosine,inner_product}'::text[]) m, probes p, unnest('{1,10,1000}'::int[]) k
GROUP BY g.rel, m ORDER BY g.rel::text, m;
-- and with max_distance (the 4th-best distance: 4 rows)
SELECT g.rel AS gallery,
	pg_temp.ident(g.rel, p.v, 10, d4, 'l2') = pg_temp.ident_cold(g.rel, p.v, 10, d4, 'l2') AS same,
	cardinality(pg_temp.ident(g.rel, p.v, 10, d4, 'l2')) AS returned
FROM (VALUES ('gal_f32'::regclass), ('gal_f16'), ('gal_i8')) g(rel), probes p,
	LATERAL (SELECT distance AS d4 FROM biocrypt.identify(g.rel, 'tpl', p.v, 4, NULL, 'l2') OFFSET 3) x
WHERE p.name = 'near-7' ORDER BY 1;

-- bit codes: <~> through the gallery; the planted neighbours have
-- distinct distances (3, 6, ... 30 bits of 256), so their ids must match
SELECT pg_temp.ob_plan('gal_bits', '<~>', (SELECT code FROM bit_probes WHERE i = 1)) AS bits_plan;
SELECT pg_temp.ob('gal_bits', '<~>', code, 10) = pg_temp.ob_cold('gal_bits', '<~>', code, 10) AS planted_same,
	array_to_string(ARRAY(SELECT split_part(x, '=', 1) FROM unnest(pg_temp.ob('gal_bits', '<~>', code, 10)) x), ',') AS ids
FROM bit_probes WHERE i = 1;
-- random probes: distances of 256-bit codes tie; the distances must
-- match, and the ids ranked before the last distance
SELECT i AS probe, pg_temp.dists(pg_temp.ob('gal_bits', '<~>', code, k)) = pg_temp.dists(pg_temp.ob_cold('gal_bits', '<~>', code, k)) AS same_distances,
	pg_temp.before_cut(pg_temp.ob('gal_bits', '<~>', code, k)) = pg_temp.before_cut(pg_temp.ob_cold('gal_bits', '<~>', code, k)) AS same_ids,
	cardinality(pg_temp.ob('gal_bits', '<~>', code, k)) AS returned
FROM bit_probes, (VALUES (10), (1000)) k(k) WHERE i > 1 ORDER BY i, k;
-- identify() over bit codes (ties ordered by subject on both paths), with
-- and without the probe's mask, with and without shifts, with max_distance
SELECT s AS max_shift, count(*) AS cases,
	count(*) FILTER (WHERE pg_temp.ident_bits('gal_bits', code, k, NULL, mask, s)
		= pg_temp.ident_bits_cold('gal_bits', code, k, NULL, mask, s)) AS same,
	count(*) FILTER (WHERE pg_temp.ident_bits('gal_bits', code, k, 0.45, mask, s)
		= pg_temp.ident_bits_cold('gal_bits', code, k, 0.45, mask, s)) AS same_max_045,
	sum(cardinality(pg_temp.ident_bits('gal_bits', code, k, NULL, mask, s))) AS rows_returned
FROM bit_probes, unnest('{1,10,1000}'::int[]) k, unnest('{0,2}'::int[]) s
GROUP BY s ORDER BY s;
SELECT subject FROM biocrypt.identify('gal_bits', 'tpl', (SELECT code FROM bit_probes WHERE i = 1), 3, NULL, NULL, 2);
-- a gallery of one layout mixing masked and unmasked codes has no warm
-- form (a NOTICE each search): its index pages serve, with the same answers
CREATE TABLE gal_bits_mixed (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_bits_mixed
SELECT i, biocrypt.protect_bits(pg_temp.rbytes(32), CASE WHEN i % 2 = 0 THEN pg_temp.rbytes(32, 0.75) END,
	'mixed-' || lpad(i::text, 2, '0'), NULL, NULL, '{4,32,2}')
FROM generate_series(1, 40) i;
CREATE INDEX gal_bits_mixed_gal ON gal_bits_mixed USING biocrypt_gallery (tpl);
SELECT i AS probe, pg_temp.ident_bits('gal_bits_mixed', code, 10, NULL, mask, 1)
	= pg_temp.ident_bits_cold('gal_bits_mixed', code, 10, NULL, mask, 1) AS same
FROM bit_probes WHERE i <= 2 ORDER BY i;
SELECT templates, state FROM pg_temp.gal('gal_bits_mixed_gal');

-- a partitioned table with a gallery index: each partition's gallery
-- serves (a Merge Append of index scans); identify() reads the partitions
-- through the executor
CREATE TABLE gal_part (id int, tpl protected_template) PARTITION BY RANGE (id);
CREATE TABLE gal_part_1 PARTITION OF gal_part FOR VALUES FROM (1) TO (150);
CREATE TABLE gal_part_2 PARTITION OF gal_part FOR VALUES FROM (150) TO (400);
INSERT INTO gal_part SELECT id, biocrypt.protect(v, 'part-' || lpad(id::text, 3, '0')) FROM base;
CREATE INDEX gal_part_gal ON gal_part USING biocrypt_gallery (tpl);
EXPLAIN (COSTS OFF) SELECT id FROM gal_part ORDER BY tpl <=> (SELECT v FROM probes WHERE name = 'near-7') LIMIT 10;
SELECT o.op, count(*) AS cases,
	count(*) FILTER (WHERE pg_temp.ob('gal_part', o.op, p.v, 10) = pg_temp.ob_cold('gal_part', o.op, p.v, 10)) AS same,
	count(*) FILTER (WHERE pg_temp.ident('gal_part', p.v, 10, NULL, m) = pg_temp.ident_cold('gal_part', p.v, 10, NULL, m)) AS ident_same
FROM (VALUES ('<->', 'l2'), ('<=>', 'cosine'), ('<#>', 'inner_product')) o(op, m), probes p
GROUP BY o.op ORDER BY o.op;
SELECT index, templates, state FROM biocrypt.galleries WHERE relation::text LIKE 'gal\_part%' ORDER BY index::text;

--
-- 2. EXPLAIN: the gallery index for ORDER BY ... LIMIT, a sort of the
-- whole table with enable_gallery off
--
EXPLAIN (COSTS OFF) SELECT id FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM probes WHERE name = 'near-7') LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM gal_f16 ORDER BY tpl <=> (SELECT v FROM probes WHERE name = 'near-7') LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM gal_i8 ORDER BY tpl <#> (SELECT v FROM probes WHERE name = 'near-7') LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM gal_bits ORDER BY tpl <~> (SELECT code FROM bit_probes WHERE i = 1) LIMIT 10;
SET biocrypt.enable_gallery = off;
EXPLAIN (COSTS OFF) SELECT id FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM probes WHERE name = 'near-7') LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM gal_bits ORDER BY tpl <~> (SELECT code FROM bit_probes WHERE i = 1) LIMIT 10;
RESET biocrypt.enable_gallery;

--
-- 3. biocrypt.galleries and biocrypt.warm()
--
-- the galleries searched above are warm, gal_exp was warmed by warm()
-- (no search: no scans)
SELECT index, relation, "column", format, templates, bytes > 0 AS has_bytes,
	protection IN ('no swap', 'huge pages', 'locked') AS protected, state,
	warmed_at IS NOT NULL AS warmed, scans > 0 AS scanned, templates_compared > 0 AS compared
FROM biocrypt.galleries WHERE relation::text LIKE 'gal\_%' ORDER BY index::text;
-- one search more: one scan more, 300 templates more
CREATE TEMP TABLE before AS SELECT scans, templates_compared FROM biocrypt.galleries WHERE index = 'gal_f16_gal'::regclass;
SELECT count(*) AS returned FROM (SELECT id FROM gal_f16 ORDER BY tpl <-> (SELECT v FROM probes WHERE name = 'random-1') LIMIT 10) x;
SELECT g.scans - b.scans AS scans_added, g.templates_compared - b.templates_compared AS compared_added
FROM biocrypt.galleries g, before b WHERE g.index = 'gal_f16_gal'::regclass;
SELECT count(*) AS identified FROM biocrypt.identify('gal_f16', 'tpl', (SELECT v FROM probes WHERE name = 'random-1'), 5, NULL, 'l2');
SELECT g.scans - b.scans AS scans_added, g.templates_compared - b.templates_compared AS compared_added
FROM biocrypt.galleries g, before b WHERE g.index = 'gal_f16_gal'::regclass;
-- the cold path does not touch the warm form
SET biocrypt.enable_gallery = off;
SELECT count(*) AS identified_cold FROM biocrypt.identify('gal_f16', 'tpl', (SELECT v FROM probes WHERE name = 'random-1'), 5, NULL, 'l2');
RESET biocrypt.enable_gallery;
SELECT g.scans - b.scans AS scans_added, g.templates_compared - b.templates_compared AS compared_added
FROM biocrypt.galleries g, before b WHERE g.index = 'gal_f16_gal'::regclass;
-- warm() returns the templates held; a second call finds it warm
SELECT biocrypt.warm('gal_f32_gal') AS warm_f32, biocrypt.warm('gal_bits_gal') AS warm_bits;
-- warm() on a cold gallery: warm, not yet searched
CREATE TABLE gal_cold (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_cold SELECT id, biocrypt.protect(v, 'cold-' || id) FROM base WHERE id <= 50;
CREATE INDEX gal_cold_gal ON gal_cold USING biocrypt_gallery (tpl);
SELECT * FROM pg_temp.gal('gal_cold_gal');
SELECT biocrypt.warm('gal_cold_gal') AS warmed;
SELECT * FROM pg_temp.gal('gal_cold_gal');
-- REINDEX and TRUNCATE build the index again: its warm form is evicted
REINDEX INDEX gal_cold_gal;
SELECT templates, state FROM pg_temp.gal('gal_cold_gal');
SELECT count(*) AS returned FROM (SELECT id FROM gal_cold ORDER BY tpl <-> (SELECT v FROM base WHERE id = 1) LIMIT 5) x;
SELECT templates, state, scans FROM pg_temp.gal('gal_cold_gal');
TRUNCATE gal_cold;
SELECT templates, state FROM pg_temp.gal('gal_cold_gal');
SELECT count(*) AS returned_after_truncate FROM (SELECT id FROM gal_cold ORDER BY tpl <-> (SELECT v FROM base WHERE id = 1) LIMIT 5) x;
-- an empty gallery warms with no templates
CREATE TABLE gal_none (id int, tpl protected_template);
CREATE INDEX gal_none_gal ON gal_none USING biocrypt_gallery (tpl);
SELECT biocrypt.warm('gal_none_gal') AS warmed_empty;
SELECT count(*) AS empty_order_by FROM (SELECT id FROM gal_none ORDER BY tpl <-> '{1,2}'::real[] LIMIT 3) x;
-- DROP INDEX takes the warm form and the row
DROP INDEX gal_none_gal;
SELECT count(*) AS dropped FROM biocrypt.galleries WHERE relation = 'gal_none'::regclass;
-- warm() refusals: not a gallery index, not an index, not an administrator
SELECT pg_temp.err($$SELECT biocrypt.warm('gal_f32_pkey')$$) AS warm_btree;
SELECT pg_temp.err($$SELECT biocrypt.warm('gal_f32')$$) AS warm_table;
SELECT biocrypt.warm(NULL) AS warm_null;
CREATE ROLE regress_gal_matcher NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_gal_admin NOLOGIN IN ROLE biocrypt_admin;
GRANT USAGE ON SCHEMA regress_gal TO regress_gal_matcher, regress_gal_admin;
SET ROLE regress_gal_matcher;
SELECT pg_temp.err($$SELECT biocrypt.warm('gal_f32_gal')$$) AS warm_by_matcher;
SELECT pg_temp.err($$SELECT * FROM biocrypt.galleries$$) AS view_by_matcher;
RESET ROLE;
SET ROLE regress_gal_admin;
SELECT biocrypt.warm('gal_f32_gal') AS warm_by_admin;
RESET ROLE;

--
-- 4. MVCC inside one session: what the transaction sees, through the
-- gallery as on the cold path
--
CREATE TEMP TABLE mv AS SELECT pg_temp.rvec(24) AS p, pg_temp.rvec(24) AS q, pg_temp.rvec(24) AS r;
CREATE TEMP TABLE before_mvcc AS
SELECT pg_temp.ob('gal_f32', '<->', p, 10) AS ob, pg_temp.ident('gal_f32', p, 10, NULL, 'l2') AS ident FROM mv;
-- the row nearest p before anything changes
SELECT split_part(ob[1], '=', 1)::int AS nearest_p FROM before_mvcc \gset
BEGIN;
-- an insert at p itself, a delete of p's old nearest, an update of row 5
-- to the template q
INSERT INTO gal_f32 SELECT 1001, biocrypt.protect(p, 'new-1001') FROM mv;
DELETE FROM gal_f32 WHERE id = :nearest_p;
UPDATE gal_f32 SET tpl = biocrypt.protect(q, 'moved-005') FROM mv WHERE id = 5;
SELECT (SELECT array_agg(split_part(x, '=', 1)) FROM unnest(pg_temp.ob('gal_f32', '<->', p, 2)) x) AS ob_p,
	(SELECT array_agg(subject) FROM biocrypt.identify('gal_f32', 'tpl', p, 2, NULL, 'l2')) AS ident_p,
	(SELECT count(*) FROM unnest(pg_temp.ob('gal_f32', '<->', p, 1000)) x WHERE split_part(x, '=', 1) = :'nearest_p') AS deleted_in_ob,
	(SELECT count(*) FROM biocrypt.identify('gal_f32', 'tpl', p, 1000, NULL, 'l2') WHERE subject = 'f32-' || lpad(:'nearest_p', 3, '0')) AS deleted_in_ident
FROM mv;
-- the updated row: found by its new template, under its new subject; the
-- old template of row 5 is gone
SELECT split_part((pg_temp.ob('gal_f32', '<->', q, 1))[1], '=', 1) AS ob_q,
	(SELECT subject FROM biocrypt.identify('gal_f32', 'tpl', q, 1, NULL, 'l2')) AS ident_q,
	(SELECT count(*) FROM biocrypt.identify('gal_f32', 'tpl', q, 1000, NULL, 'l2') WHERE subject = 'f32-005') AS old_version,
	(SELECT split_part((pg_temp.ob('gal_f32', '<->', v, 1))[1], '=', 1) <> '5' FROM base WHERE id = 5) AS old_5_gone
FROM mv;
SELECT pg_temp.ob('gal_f32', m.op, mv.p, 10) = pg_temp.ob_cold('gal_f32', m.op, mv.p, 10) AS ob_same,
	pg_temp.ident('gal_f32', mv.q, 20, NULL, m.metric) = pg_temp.ident_cold('gal_f32', mv.q, 20, NULL, m.metric) AS ident_same
FROM mv, (VALUES ('<->', 'l2'), ('<=>', 'cosine'), ('<#>', 'inner_product')) m(op, metric);
-- a savepoint rolled back takes its insert with it
SAVEPOINT s;
INSERT INTO gal_f32 SELECT 1002, biocrypt.protect(r, 'new-1002') FROM mv;
SELECT split_part((pg_temp.ob('gal_f32', '<->', r, 1))[1], '=', 1) AS ob_r,
	(SELECT subject FROM biocrypt.identify('gal_f32', 'tpl', r, 1, NULL, 'l2')) AS ident_r
FROM mv;
ROLLBACK TO SAVEPOINT s;
SELECT split_part((pg_temp.ob('gal_f32', '<->', r, 1))[1], '=', 1) <> '1002' AS ob_r_gone,
	(SELECT subject FROM biocrypt.identify('gal_f32', 'tpl', r, 1, NULL, 'l2')) <> 'new-1002' AS ident_r_gone,
	pg_temp.ob('gal_f32', '<->', r, 10) = pg_temp.ob_cold('gal_f32', '<->', r, 10) AS ob_same,
	pg_temp.ident('gal_f32', r, 10, NULL, 'l2') = pg_temp.ident_cold('gal_f32', r, 10, NULL, 'l2') AS ident_same
FROM mv;
ROLLBACK;
-- after the rollback: the state before it
SELECT pg_temp.ob('gal_f32', '<->', p, 10) = b.ob AS ob_restored,
	pg_temp.ident('gal_f32', p, 10, NULL, 'l2') = b.ident AS ident_restored,
	(SELECT split_part((pg_temp.ob('gal_f32', '<->', v, 1))[1], '=', 1) FROM base WHERE id = 5) AS nearest_5
FROM mv, before_mvcc b;
SELECT count(*) AS rows_after_rollback FROM gal_f32;

--
-- 5. expiry: gal_exp's first five templates have expired since it warmed;
-- identify() skips them (counted in the audit), ORDER BY returns them last
-- with a NULL distance
--
SELECT pg_sleep_until((SELECT max(biocrypt.expires_at(tpl)) FROM gal_exp WHERE id <= 5) + interval '20 milliseconds');
SELECT count(*) FILTER (WHERE biocrypt.expires_at(tpl) < clock_timestamp()) AS expired, count(*) AS total FROM gal_exp;
SELECT pg_temp.settle();
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT string_agg(subject, ' ' ORDER BY distance, subject) AS identified
FROM biocrypt.identify('gal_exp', 'tpl', '{1,0,0}'::real[], 20, NULL, 'l2');
SET biocrypt.enable_gallery = off;
SELECT string_agg(subject, ' ' ORDER BY distance, subject) AS identified_cold
FROM biocrypt.identify('gal_exp', 'tpl', '{1,0,0}'::real[], 20, NULL, 'l2');
RESET biocrypt.enable_gallery;
SELECT m AS metric, pg_temp.ident('gal_exp', '{1,0,0}', 20, NULL, m) = pg_temp.ident_cold('gal_exp', '{1,0,0}', 20, NULL, m) AS same,
	cardinality(pg_temp.ident('gal_exp', '{1,0,0}', 20, NULL, m)) AS returned
FROM unnest('{l2,cosine,inner_product}'::text[]) m;
SELECT pg_temp.settle();
-- the warm and the cold identify: 15 compared, 5 skipped as expired
SELECT operation, relation, col, compared, expired, outcome
FROM pg_temp.audit_since(:start) WHERE operation = 'identify' AND outcome <> 'begun' LIMIT 2;
-- ORDER BY: the 15 valid ones in order, then the 5 expired with NULL
-- (of 20 rows the planner would rather sort: the gallery is made to serve)
SET enable_seqscan = off;
SELECT pg_temp.ob_plan('gal_exp', '<=>', '{1,0,0}'::real[]) AS plan;
SELECT o.op, cardinality(w) AS returned,
	(SELECT count(*) FROM unnest(w[16:20]) x WHERE x LIKE '%=NULL') AS null_last,
	w[1:15] = c[1:15] AS valid_same,
	(SELECT array_agg(x ORDER BY x) FROM unnest(w[16:20]) x) = (SELECT array_agg(x ORDER BY x) FROM unnest(c[16:20]) x) AS expired_same
FROM (VALUES ('<->'), ('<=>'), ('<#>')) o(op),
	LATERAL (SELECT pg_temp.ob('gal_exp', o.op, '{1,0,0}'::real[], 100) AS w,
		pg_temp.ob_cold('gal_exp', o.op, '{1,0,0}'::real[], 100) AS c) x
ORDER BY o.op;
SELECT split_part(x, '=', 1) AS id, split_part(x, '=', 2) = 'NULL' AS null_distance
FROM unnest(pg_temp.ob('gal_exp', '<->', '{1,0,0}'::real[], 7)) x;
-- on_expired = error refuses the whole search on both paths
SET biocrypt.on_expired = error;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_exp', 'tpl', '{1,0,0}'::real[], 3, NULL, 'l2')$$) AS identify_error,
	pg_temp.err($$SELECT pg_temp.ident_cold('gal_exp', '{1,0,0}', 3, NULL, 'l2')$$) AS identify_error_cold;
SELECT pg_temp.err($$SELECT id FROM gal_exp ORDER BY tpl <-> '{1,0,0}'::real[] LIMIT 3$$) AS order_by_error,
	pg_temp.err($$SELECT pg_temp.ob_cold('gal_exp', '<->', '{1,0,0}'::real[], 3)$$) AS order_by_error_cold;
RESET biocrypt.on_expired;
RESET enable_seqscan;

--
-- 6. purposes: a row enrolled for another purpose is skipped by every
-- search (never decrypted, counted in the audit row's purpose_skipped),
-- through the gallery as on the cold path; ORDER BY returns it last, with
-- a NULL distance, as it returns an expired one
--
CREATE TABLE gal_pur (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_pur SELECT id, biocrypt.protect(v, 'pur-' || id, NULL, '{verification}') FROM base WHERE id <= 60;
CREATE INDEX gal_pur_gal ON gal_pur USING biocrypt_gallery (tpl);
SELECT biocrypt.warm('gal_pur_gal') AS warmed;
-- a row inserted and rolled back: never visible, never counted
BEGIN;
INSERT INTO gal_pur SELECT 100, biocrypt.protect(v, 'pur-border', NULL, '{border_control}') FROM base WHERE id = 100;
ROLLBACK;
SELECT pg_temp.ob('gal_pur', '<->', v, 5) = pg_temp.ob_cold('gal_pur', '<->', v, 5) AS ob_same,
	pg_temp.ident('gal_pur', v, 5, NULL, 'l2') = pg_temp.ident_cold('gal_pur', v, 5, NULL, 'l2') AS ident_same,
	(SELECT subject FROM biocrypt.identify('gal_pur', 'tpl', v, 1, NULL, 'l2')) AS nearest
FROM base WHERE id = 100;
-- committed: skipped by every search, on both paths, though it is the
-- nearest; the same answers as without it
INSERT INTO gal_pur SELECT 101, biocrypt.protect(v, 'pur-border', NULL, '{border_control}') FROM base WHERE id = 100;
SELECT (SELECT subject FROM biocrypt.identify('gal_pur', 'tpl', v, 1, NULL, 'l2')) AS nearest_skipping,
	pg_temp.ident('gal_pur', v, 5, NULL, 'l2') = pg_temp.ident_cold('gal_pur', v, 5, NULL, 'l2') AS ident_same,
	pg_temp.ob('gal_pur', '<->', v, 100) = pg_temp.ob_cold('gal_pur', '<->', v, 100) AS ob_same,
	(pg_temp.ob('gal_pur', '<->', v, 100))[61] AS ob_last
FROM base WHERE id = 100;
SELECT (SELECT tpl <-> v FROM gal_pur WHERE id = 101) IS NULL AS operator_null FROM base WHERE id = 100;
-- each search's audit row counts the skipped row; nothing refused
SELECT a.operation, a.templates_compared, a.purpose_skipped, a.outcome, count(*)
FROM biocrypt.audit_log a
WHERE a.relation = 'gal_pur'::regclass AND a.outcome <> 'begun' AND a.id > (
	SELECT max(b.id) FROM biocrypt.audit_log b WHERE b.relation = 'gal_pur'::regclass AND b.operation = 'protect')
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
-- verify() is 1:1: it still refuses the row, 42501
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, (SELECT v FROM base WHERE id = 100), 0.5, 'l2') FROM gal_pur WHERE id = 101$$) AS verify_refused;
-- deleted and committed: nothing skipped any more
DELETE FROM gal_pur WHERE id = 101;
SELECT pg_temp.ob('gal_pur', '<->', v, 5) = pg_temp.ob_cold('gal_pur', '<->', v, 5) AS ob_same,
	pg_temp.ident('gal_pur', v, 5, NULL, 'l2') = pg_temp.ident_cold('gal_pur', v, 5, NULL, 'l2') AS ident_same,
	cardinality(pg_temp.ob('gal_pur', '<->', v, 100)) AS ob_rows
FROM base WHERE id = 100;
-- row-level security: a row of another purpose the policy hides from the
-- caller is not even counted (identify() then reads the table itself)
-- under row-level security for the role the planner keeps off the index
-- (a refusal must come only from rows the policy lets through), so the
-- answer is the cold path's
CREATE TABLE gal_rls (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_rls SELECT id, biocrypt.protect(v, 'rls-' || id, NULL, '{verification}') FROM base;
INSERT INTO gal_rls SELECT 1000, biocrypt.protect(v, 'rls-border', NULL, '{border_control}') FROM base WHERE id = 7;
CREATE INDEX gal_rls_gal ON gal_rls USING biocrypt_gallery (tpl);
ALTER TABLE gal_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY below_1000 ON gal_rls FOR SELECT TO regress_gal_matcher USING (id < 1000);
SELECT biocrypt.grant_purpose('regress_gal_matcher', 'verification') AS granted;
GRANT SELECT ON gal_rls, base TO regress_gal_matcher;
SET ROLE regress_gal_matcher;
SELECT pg_temp.ob_plan('gal_rls', '<->', v) AS rls_plan FROM base WHERE id = 7;
SELECT pg_temp.ob('gal_rls', '<->', v, 3) = pg_temp.ob_cold('gal_rls', '<->', v, 3) AS rls_order_by_same FROM base WHERE id = 7;
SELECT pg_temp.ob_cold('gal_rls', '<->', v, 1) AS rls_order_by_cold FROM base WHERE id = 7;
SELECT subject FROM biocrypt.identify('gal_rls', 'tpl', (SELECT v FROM base WHERE id = 7), 1, NULL, 'l2');
RESET ROLE;
-- the session's purpose decides: border_control may use only that row
-- (gone now), none of the others; a purpose not granted refuses the search
SET biocrypt.purpose = 'border_control';
SELECT pg_temp.ob('gal_pur', '<->', v, 100) = pg_temp.ob_cold('gal_pur', '<->', v, 100) AS other_purpose_same,
	(SELECT count(*) FROM gal_pur WHERE (tpl <-> v) IS NULL) AS other_purpose_nulls
FROM base WHERE id = 1;
SET biocrypt.purpose = 'verification';
SET ROLE regress_gal_matcher;
SET biocrypt.purpose = 'border_control';
SELECT pg_temp.err($$SELECT id FROM gal_rls ORDER BY tpl <-> (SELECT v FROM base WHERE id = 1) LIMIT 1$$) AS purpose_not_granted;
RESET ROLE;
SET biocrypt.purpose = 'verification';

--
-- 7. erasure: erase_subject takes the warm form of a registered column's
-- gallery out of memory when it commits, not when it rolls back
--
CREATE TABLE gal_reg (id int PRIMARY KEY, tpl protected_template);
SELECT biocrypt.protect_column('gal_reg', 'tpl', '1 day', '{verification}');
INSERT INTO gal_reg SELECT id, biocrypt.protect(v, 'reg-' || lpad(id::text, 2, '0')) FROM base WHERE id <= 40;
CREATE INDEX gal_reg_gal ON gal_reg USING biocrypt_gallery (tpl);
SELECT biocrypt.warm('gal_reg_gal') AS warmed;
BEGIN;
SELECT biocrypt.erase_subject('reg-05') AS erased;
-- erased in this transaction: not found by it
SELECT count(*) AS found_in_erasing_xact FROM biocrypt.identify('gal_reg', 'tpl', (SELECT v FROM base WHERE id = 5), 40, NULL, 'l2') WHERE subject = 'reg-05';
ROLLBACK;
SELECT templates, state FROM pg_temp.gal('gal_reg_gal');
SELECT subject AS found_after_rollback FROM biocrypt.identify('gal_reg', 'tpl', (SELECT v FROM base WHERE id = 5), 1, NULL, 'l2');
SELECT biocrypt.erase_subject('reg-05') AS erased;
-- evicted at commit: cold, nothing held
SELECT templates, state, scans FROM pg_temp.gal('gal_reg_gal');
SELECT count(*) AS identified, count(*) FILTER (WHERE subject = 'reg-05') AS erased_found
FROM biocrypt.identify('gal_reg', 'tpl', (SELECT v FROM base WHERE id = 5), 100, NULL, 'l2');
SELECT count(*) FILTER (WHERE split_part(x, '=', 1) = '5') AS erased_in_order_by
FROM unnest(pg_temp.ob('gal_reg', '<->', (SELECT v FROM base WHERE id = 5), 100)) x;
SELECT pg_temp.ident('gal_reg', v, 10, NULL, 'l2') = pg_temp.ident_cold('gal_reg', v, 10, NULL, 'l2') AS ident_same,
	pg_temp.ob('gal_reg', '<->', v, 10) = pg_temp.ob_cold('gal_reg', '<->', v, 10) AS ob_same
FROM base WHERE id = 5;
-- warm again, from the pages, by the search above
SELECT state FROM pg_temp.gal('gal_reg_gal');

--
-- 8. refusals; a matcher searches through the gallery; the audit
--
-- only administrators create gallery indexes, even on their own tables
CREATE TABLE gal_own (id int, tpl protected_template, note text);
INSERT INTO gal_own SELECT id, biocrypt.protect(v, 'own-' || id), 'n' FROM base WHERE id <= 10;
ALTER TABLE gal_own OWNER TO regress_gal_matcher;
GRANT CREATE ON SCHEMA regress_gal TO regress_gal_matcher;
SET ROLE regress_gal_matcher;
SELECT pg_temp.err($$CREATE INDEX ON gal_own USING biocrypt_gallery (tpl)$$) AS matcher_creates;
RESET ROLE;
-- a superuser may create one on a table another role owns (PostgreSQL
-- builds an index as the table's owner: the check must be of the role
-- that runs the command); REINDEX likewise
SELECT pg_temp.err($$CREATE INDEX gal_own_gal ON gal_own USING biocrypt_gallery (tpl)$$) AS superuser_creates;
SELECT pg_temp.err($$REINDEX INDEX gal_own_gal$$) AS superuser_reindexes;
-- the owner may not rebuild it
SET ROLE regress_gal_matcher;
SELECT pg_temp.err($$REINDEX INDEX gal_own_gal$$) AS matcher_reindexes;
RESET ROLE;
-- not a template column; no template column at all; storage parameters;
-- two columns; an expression
SELECT pg_temp.err($$CREATE INDEX ON gal_own USING biocrypt_gallery (note)$$) AS text_column;
CREATE TABLE gal_plain (id int, note text);
SELECT pg_temp.err($$CREATE INDEX ON gal_plain USING biocrypt_gallery (id)$$) AS no_template_column;
SELECT pg_temp.err($$CREATE INDEX ON gal_own USING biocrypt_gallery (tpl) WITH (fillfactor = 50)$$) AS fillfactor;
SELECT pg_temp.err($$CREATE INDEX ON gal_own USING biocrypt_gallery (tpl, tpl)$$) AS two_columns;
SELECT pg_temp.err($$CREATE UNIQUE INDEX ON gal_own USING biocrypt_gallery (tpl)$$) AS unique_index;
SELECT count(*) AS gallery_indexes_on_gal_own FROM biocrypt.galleries WHERE relation = 'gal_own'::regclass;
REVOKE CREATE ON SCHEMA regress_gal FROM regress_gal_matcher;

-- a probe of another shape than the gallery's skips every template (one
-- WARNING per statement), through the gallery as on the cold path; a NaN
-- probe is refused as the operator refuses it
CREATE FUNCTION pg_temp.err_cold(q text) RETURNS text LANGUAGE sql
	SET biocrypt.enable_gallery = off AS $$ SELECT pg_temp.err(q) $$;
SELECT e.name, pg_temp.err(e.q) AS through_gallery, pg_temp.err(e.q) = pg_temp.err_cold(e.q) AS same_as_cold
FROM (VALUES
	('dims', $$SELECT id FROM gal_f32 ORDER BY tpl <-> '{1,2}'::real[] LIMIT 2$$),
	('nan', $$SELECT id FROM gal_f32 ORDER BY tpl <=> array_fill('NaN'::real, '{24}') LIMIT 2$$),
	('bits_probe_vectors', $$SELECT id FROM gal_f32 ORDER BY tpl <~> '\x00ff'::bytea LIMIT 2$$),
	('vector_probe_bits', $$SELECT id FROM gal_bits ORDER BY tpl <-> '{1,2}'::real[] LIMIT 2$$),
	('code_length', $$SELECT id FROM gal_bits ORDER BY tpl <~> '\x00ff'::bytea LIMIT 2$$)) e(name, q);
SELECT pg_temp.ob('gal_f32', '<->', '{1,2}'::real[], 3) AS skipped_all,
	cardinality(array_positions(pg_temp.ob_cold('gal_f32', '<->', '{1,2}'::real[], 100), NULL)) AS cold_nulls,
	(SELECT count(*) FROM gal_f32 WHERE tpl <-> '{1,2}'::real[] IS NULL) AS operator_nulls;
SELECT a.templates_compared, a.shape_skipped = (SELECT count(*) FROM gal_f32) AS all_counted
FROM biocrypt.audit_log a WHERE a.relation = 'gal_f32'::regclass AND a.outcome = 'ok'
ORDER BY a.id DESC LIMIT 1;
-- a matcher searches through the gallery (the owner's privileges aside)
SELECT biocrypt.grant_purpose('regress_gal_matcher', 'verification') AS granted;
GRANT SELECT ON gal_f32, base, probes TO regress_gal_matcher;
CREATE TEMP TABLE admin_view AS
SELECT pg_temp.ob('gal_f32', '<->', v, 10) AS ob, pg_temp.ident('gal_f32', v, 10, NULL, 'l2') AS ident
FROM probes WHERE name = 'random-2';
GRANT SELECT ON admin_view TO regress_gal_matcher;
SET ROLE regress_gal_matcher;
SELECT pg_temp.ob_plan('gal_f32', '<->', v) AS matcher_plan FROM probes WHERE name = 'random-2';
-- the same rows in the same order (the matcher's distances are rounded)
SELECT ARRAY(SELECT split_part(x, '=', 1) FROM unnest(pg_temp.ob('gal_f32', '<->', v, 10)) x)
		= ARRAY(SELECT split_part(x, '=', 1) FROM unnest(a.ob) x) AS ob_same_rows,
	ARRAY(SELECT split_part(x, '=', 1) FROM unnest(pg_temp.ident('gal_f32', v, 10, NULL, 'l2')) x)
		= ARRAY(SELECT split_part(x, '=', 1) FROM unnest(a.ident) x) AS ident_same_subjects,
	pg_temp.ident('gal_f32', v, 10, NULL, 'l2') = pg_temp.ident_cold('gal_f32', v, 10, NULL, 'l2') AS ident_same_as_cold
FROM probes p, admin_view a WHERE name = 'random-2';
RESET ROLE;

-- the audit: a search through the gallery is recorded as on the cold path
-- (the executor computes the ORDER BY expression again for each of the
-- 10 rows returned: the operator takes the scan's distance, so 300 are
-- counted, not 310)
SELECT pg_temp.settle();
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT count(*) AS warm_order_by FROM (SELECT id FROM gal_i8 ORDER BY tpl <=> (SELECT v FROM probes WHERE name = 'random-3') LIMIT 10) x;
SET biocrypt.enable_gallery = off;
SELECT count(*) AS cold_order_by FROM (SELECT id FROM gal_i8 ORDER BY tpl <=> (SELECT v FROM probes WHERE name = 'random-3') LIMIT 10) x;
RESET biocrypt.enable_gallery;
SELECT count(*) AS warm_identify FROM biocrypt.identify('gal_bits', 'tpl', (SELECT code FROM bit_probes WHERE i = 2), 3, NULL, (SELECT mask FROM bit_probes WHERE i = 2), 1);
SET biocrypt.enable_gallery = off;
SELECT count(*) AS cold_identify FROM biocrypt.identify('gal_bits', 'tpl', (SELECT code FROM bit_probes WHERE i = 2), 3, NULL, (SELECT mask FROM bit_probes WHERE i = 2), 1);
RESET biocrypt.enable_gallery;
SELECT pg_temp.settle();
SELECT operation, relation, col, compared, expired, jsonb_array_length(matches) AS matches, outcome
FROM pg_temp.audit_since(:start) WHERE outcome <> 'begun';
-- identify()'s matches are the same subjects in the same order
SELECT count(DISTINCT matches) AS distinct_match_lists
FROM pg_temp.audit_since(:start) WHERE operation = 'identify' AND outcome <> 'begun';

--
-- 9. score budgets: a matcher's ORDER BY through the gallery is charged
-- for each row returned, per subject (a role of its own: nothing spent)
--
CREATE ROLE regress_gal_budget NOLOGIN IN ROLE biocrypt_matcher;
SELECT biocrypt.grant_purpose('regress_gal_budget', 'verification') AS granted;
GRANT USAGE ON SCHEMA regress_gal TO regress_gal_budget;
GRANT SELECT ON gal_f32, base TO regress_gal_budget;
SET biocrypt.score_budget = 3;
SET ROLE regress_gal_budget;
-- each row returned is charged once (the operator the executor computes
-- again takes the scan's distance and charge)
-- three searches whose best row is template 7's: allowed
SELECT id AS search_1 FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 7) LIMIT 1;
SELECT id AS search_2 FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 7) LIMIT 1;
SELECT id AS search_3 FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 7) LIMIT 1;
-- the fourth is refused, and so is identify() with template 7 first
SELECT pg_temp.err($$SELECT id FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 7) LIMIT 1$$) AS search_4;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM base WHERE id = 7), 1, NULL, 'l2')$$) AS identify_5;
-- the rows scored but not returned were not charged: template 8 has its
-- three (on the cold path every row scored is charged)
SELECT id AS search_1 FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 8) LIMIT 1;
SELECT id AS search_2 FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 8) LIMIT 1;
SELECT id AS search_3 FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 8) LIMIT 1;
SELECT pg_temp.err($$SELECT id FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 8) LIMIT 1$$) AS search_4;
-- template 9: two searches, then one of two rows (its third, the
-- runner-up's first), then the next is refused
SELECT id AS search_1 FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 9) LIMIT 1;
SELECT id AS search_2 FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 9) LIMIT 1;
SELECT count(*) AS two_rows FROM (SELECT id FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 9) LIMIT 2) x;
SELECT pg_temp.err($$SELECT id FROM gal_f32 ORDER BY tpl <-> (SELECT v FROM base WHERE id = 9) LIMIT 1$$) AS search_4;
RESET ROLE;
RESET biocrypt.score_budget;

-- clean up
SET client_min_messages = warning;
DROP SCHEMA regress_gal CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_gal_matcher, regress_gal_admin, regress_gal_budget;
DROP ROLE regress_gal_matcher, regress_gal_admin, regress_gal_budget;
RESET search_path;
RESET TimeZone;
