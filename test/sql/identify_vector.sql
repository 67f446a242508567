-- identify(): 1:N search over embeddings.  Its answer must be exactly
-- what the planner gives for "ORDER BY tpl <op> probe,
-- biocrypt.subject_of(tpl) LIMIT k" (same subjects, same order,
-- bit-identical distances), for each metric and format; also ties, k,
-- empty galleries, max_distance, expiry, MVCC and argument errors.
-- identify_bits tests bit codes, identify_access privileges, row-level
-- security, partitioned galleries and quoted names.
--
-- Probe literals need a cast ('{...}'::real[] or '\x..'::bytea): identify()
-- has a real[] and a bytea overload.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
-- pg_temp.ident() and pg_temp.planned(): identify()'s answer and the planner's
\i :abs_srcdir/sql/include/identify.sql
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';

CREATE SCHEMA regress_ident;
SET search_path = regress_ident, public;
SELECT setseed(0.31);

-- templates that expire in a second (checked after the sleep below)
CREATE TABLE gal_expiring (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_expiring
SELECT i, biocrypt.protect(ARRAY[1, i * 0.01]::real[], 'soon-' || i, clock_timestamp() + interval '1 second')
FROM generate_series(1, 5) i;
INSERT INTO gal_expiring
SELECT i, biocrypt.protect(ARRAY[1, i]::real[], 'later-' || i, clock_timestamp() + interval '1 day')
FROM generate_series(6, 10) i;

--
-- galleries: 150 templates of 24 dimensions per format (several batches
-- of 64 and a partial one), all three interleaved in one table, 40
-- templates of 4100 dimensions (batches of 15)
--
CREATE TABLE gal_f32 (id int PRIMARY KEY, tpl protected_template);
CREATE TABLE gal_f16 (id int PRIMARY KEY, tpl protected_template);
CREATE TABLE gal_i8 (id int PRIMARY KEY, tpl protected_template);
CREATE TABLE gal_mixed (id int PRIMARY KEY, fmt text, tpl protected_template);
CREATE TEMP TABLE base AS SELECT i AS id, pg_temp.rvec(24, 1 + i % 3) AS v FROM generate_series(1, 150) i;
INSERT INTO gal_f32 SELECT id, biocrypt.protect(v, 'f32-' || lpad(id::text, 3, '0'), NULL, NULL, 'f32') FROM base;
INSERT INTO gal_f16 SELECT id, biocrypt.protect(v, 'f16-' || lpad(id::text, 3, '0'), NULL, NULL, 'f16') FROM base;
INSERT INTO gal_i8 SELECT id, biocrypt.protect(v, 'i8-' || lpad(id::text, 3, '0'), NULL, NULL, 'i8') FROM base;
INSERT INTO gal_mixed SELECT id * 10 + fi, f, biocrypt.protect(v, f || '-' || lpad(id::text, 3, '0'), NULL, NULL, f)
FROM base, unnest('{f32,f16,i8}'::text[]) WITH ORDINALITY u(f, fi) WHERE (id + fi) % 2 = 0;
-- a NULL template, a zero vector (NaN under cosine) and a duplicate subject
INSERT INTO gal_mixed VALUES
	(5000, 'f32', NULL),
	(5001, 'f32', biocrypt.protect(array_fill(0::real, '{24}'), 'zero')),
	(5002, 'i8', biocrypt.protect(array_fill(0::real, '{24}'), 'zero-i8', NULL, NULL, 'i8')),
	(5003, 'f16', biocrypt.protect((SELECT v FROM base WHERE id = 7), 'f32-007', NULL, NULL, 'f16'));
CREATE TABLE gal_wide (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_wide SELECT i, biocrypt.protect(pg_temp.rvec(4100), 'wide-' || lpad(i::text, 2, '0'))
FROM generate_series(1, 40) i;
SELECT 'gal_f32' AS gallery, count(*) FROM gal_f32 UNION ALL
SELECT 'gal_f16', count(*) FROM gal_f16 UNION ALL
SELECT 'gal_i8', count(*) FROM gal_i8 UNION ALL
SELECT 'gal_mixed', count(*) FROM gal_mixed UNION ALL
SELECT 'gal_wide', count(*) FROM gal_wide;

-- probes: one near a template (base 7 scaled), random ones, a zero vector
CREATE TEMP TABLE probes (name text PRIMARY KEY, dims int, v real[]);
INSERT INTO probes VALUES
	('near-7', 24, (SELECT array_agg(x * 1.5 + 0.01) FROM unnest((SELECT v FROM base WHERE id = 7)) x)),
	('random-a', 24, pg_temp.rvec(24)),
	('random-b', 24, pg_temp.rvec(24, 3)),
	('zero', 24, array_fill(0::real, '{24}')),
	('wide-a', 4100, pg_temp.rvec(4100)),
	('wide-b', 4100, pg_temp.rvec(4100, 0.01));

-- identify() = planner, for every gallery, metric, probe, k and a
-- max_distance (the 4th-best distance, so 4 rows pass unless tied)
CREATE TEMP TABLE cases AS
SELECT g.rel, m.metric, p.name AS probe, p.v, k.k, NULL::float8 AS maxd
FROM (VALUES ('gal_f32'::regclass, 24), ('gal_f16', 24), ('gal_i8', 24), ('gal_mixed', 24),
			 ('gal_wide', 4100)) g(rel, dims)
	JOIN probes p ON p.dims = g.dims,
	unnest('{l2,cosine,inner_product}'::text[]) m(metric),
	unnest('{1,5,64,65,10000}'::int[]) k(k);
INSERT INTO cases
SELECT DISTINCT ON (rel, metric, probe) rel, metric, probe, v, 10,
	split_part((pg_temp.planned(rel, v, 4, NULL, metric))[4], '=', 2)::float8
FROM cases WHERE probe <> 'zero';
SELECT rel AS gallery, metric, count(*) AS cases,
	sum(cardinality(pg_temp.ident(rel, v, k, maxd, metric))) AS rows_returned,
	count(*) FILTER (WHERE pg_temp.ident(rel, v, k, maxd, metric)
					 IS DISTINCT FROM pg_temp.planned(rel, v, k, maxd, metric)) AS differ,
	count(*) FILTER (WHERE maxd IS NOT NULL
					 AND cardinality(pg_temp.ident(rel, v, k, maxd, metric)) <> 4) AS max_distance_not_4
FROM cases GROUP BY rel, metric ORDER BY rel::text, metric;
-- what some of it looks like (distances rounded: exact above)
SELECT subject, round(distance::numeric, 6) AS distance
FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM probes WHERE name = 'near-7'), 3, NULL, 'cosine');
-- base 7 as f32 (exact), its f16 copy under the same subject, as i8
SELECT subject, round(distance::numeric, 6) AS distance
FROM biocrypt.identify('gal_mixed', 'tpl', (SELECT v FROM base WHERE id = 7), 4, NULL, 'l2');
-- the defaults: k 10, no max_distance, cosine
SELECT count(*) AS default_k, bool_and(distance < 1) AS cosine_range_ok
FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM probes WHERE name = 'near-7'));
SELECT pg_temp.ident('gal_f32', (SELECT v FROM probes WHERE name = 'near-7'), 10, NULL, 'cosine')
	= ARRAY(SELECT subject || '=' || distance FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM probes WHERE name = 'near-7'))) AS defaults_are_10_null_cosine;
-- a zero probe: no cosine distance at all; l2 ranks every template
SELECT count(*) AS zero_probe_cosine FROM biocrypt.identify('gal_f32', 'tpl', array_fill(0::real, '{24}'), 10000, NULL, 'cosine');
SELECT count(*) AS zero_probe_l2 FROM biocrypt.identify('gal_f32', 'tpl', array_fill(0::real, '{24}'), 10000, NULL, 'l2');
-- k larger than the gallery: every template (the NULL one skipped)
SELECT count(*) AS all_rows, count(DISTINCT subject) AS subjects
FROM biocrypt.identify('gal_mixed', 'tpl', (SELECT v FROM probes WHERE name = 'random-a'), 10000, NULL, 'l2');
-- per-row probes (LATERAL): each probe finds its own template at distance 0
SELECT b.id, r.* FROM base b,
	LATERAL biocrypt.identify('gal_f32', 'tpl', b.v, 1, NULL, 'l2') r
WHERE b.id IN (3, 50, 149) ORDER BY b.id;

--
-- ties are ordered by subject, also across the k boundary
--
CREATE TABLE gal_ties (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_ties VALUES
	(1, biocrypt.protect('{3,4}', 'tie-e')),
	(2, biocrypt.protect('{3,4}', 'tie-d')),
	(3, biocrypt.protect('{6,8}', 'tie-c', NULL, NULL, 'f16')),
	(4, biocrypt.protect('{3,4}', 'tie-b')),
	(5, biocrypt.protect('{0,5}', 'other')),
	(6, biocrypt.protect('{3,4}', 'tie-a', NULL, NULL, 'i8')),
	(7, biocrypt.protect('{3,4}', 'Tie-Z')),
	(8, biocrypt.protect('{-3,-4}', 'far'));
SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 3, NULL, 'cosine');
-- tie-a is i8 ({3,4} quantised), tie-c f16 ({6,8}: parallel)
SELECT subject, round(distance::numeric, 6) AS distance
FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 10, NULL, 'cosine');
SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 4, NULL, 'l2');
SELECT pg_temp.ident('gal_ties', '{3,4}', k, NULL, m) IS NOT DISTINCT FROM pg_temp.planned('gal_ties', '{3,4}', k, NULL, m) AS same,
	count(*)
FROM unnest('{l2,cosine,inner_product}'::text[]) m, generate_series(1, 9) k GROUP BY 1;

--
-- max_distance: inclusive; nothing passes a threshold below every distance
--
SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{0,5}'::real[], 10, 0, 'l2');
SELECT subject, round(distance::numeric, 6) AS distance
FROM biocrypt.identify('gal_ties', 'tpl', '{0,0}'::real[], 10, 5, 'l2');
SELECT count(*) AS below_5 FROM biocrypt.identify('gal_ties', 'tpl', '{0,0}'::real[], 10, 4.999999, 'l2');
SELECT count(*) AS negative_threshold FROM biocrypt.identify('gal_ties', 'tpl', '{0,0}'::real[], 10, -1, 'l2');
SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{1,1}'::real[], 10, -7, 'inner_product');
SELECT count(*) AS infinite_threshold FROM biocrypt.identify('gal_ties', 'tpl', '{1,1}'::real[], 10, 'Infinity', 'inner_product');

--
-- empty galleries
--
CREATE TABLE gal_empty (id int, tpl protected_template);
SELECT count(*) AS empty_vector FROM biocrypt.identify('gal_empty', 'tpl', '{1,2}'::real[], 5, NULL, 'l2');
SELECT count(*) AS empty_bits FROM biocrypt.identify('gal_empty', 'tpl', '\x00ff'::bytea, 5, NULL, NULL, 3);
INSERT INTO gal_empty VALUES (1, NULL), (2, NULL);
SELECT count(*) AS only_nulls FROM biocrypt.identify('gal_empty', 'tpl', '{1,2}'::real[], 5, NULL, 'l2');

--
-- expired templates are skipped (never decrypted); on_expired = error
-- refuses the whole search
--
SELECT pg_sleep(1.2);
SELECT count(*) FILTER (WHERE biocrypt.expires_at(tpl) < clock_timestamp()) AS expired, count(*) AS total FROM gal_expiring;
SELECT * FROM biocrypt.identify('gal_expiring', 'tpl', '{1,0}'::real[], 3, NULL, 'l2');
SELECT pg_temp.ident('gal_expiring', '{1,0}', 10, NULL, m) = pg_temp.planned('gal_expiring', '{1,0}', 10, NULL, m) AS same_as_planner,
	cardinality(pg_temp.ident('gal_expiring', '{1,0}', 10, NULL, m)) AS returned
FROM unnest('{l2,cosine,inner_product}'::text[]) m;
SET biocrypt.on_expired = error;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_expiring', 'tpl', '{1,0}'::real[], 3, NULL, 'l2')$$) AS on_expired_error;
SELECT count(*) AS fresh_gallery_unaffected FROM biocrypt.identify('gal_ties', 'tpl', '{1,0}'::real[], 3, NULL, 'l2');
RESET biocrypt.on_expired;

--
-- MVCC: identify() sees what the statement's snapshot sees
--
CREATE TEMP TABLE nearest AS
SELECT * FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM base WHERE id = 20), 2, NULL, 'l2');
SELECT subject, round(distance::numeric, 6) AS distance FROM nearest;
BEGIN;
DELETE FROM gal_f32 WHERE id = 20;
UPDATE gal_f32 SET tpl = biocrypt.protect((SELECT v FROM base WHERE id = 20), 'moved-021') WHERE id = 21;
INSERT INTO gal_f32 VALUES (500, biocrypt.protect((SELECT array_agg((x + 0.5)::real) FROM unnest((SELECT v FROM base WHERE id = 20)) x), 'new-500'));
SELECT subject, round(distance::numeric, 6) AS distance
FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM base WHERE id = 20), 3, NULL, 'l2');
SELECT pg_temp.ident('gal_f32', (SELECT v FROM base WHERE id = 20), 200, NULL, m)
	= pg_temp.planned('gal_f32', (SELECT v FROM base WHERE id = 20), 200, NULL, m) AS same_in_transaction
FROM unnest('{l2,cosine,inner_product}'::text[]) m;
-- a savepoint rolled back: its delete is undone
SAVEPOINT s;
DELETE FROM gal_f32 WHERE id = 21;
SELECT subject FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM base WHERE id = 20), 1, NULL, 'l2');
ROLLBACK TO SAVEPOINT s;
SELECT subject FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM base WHERE id = 20), 1, NULL, 'l2');
ROLLBACK;
SELECT array_agg(subject || '=' || distance) = (SELECT array_agg(subject || '=' || distance) FROM nearest) AS rolled_back
FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM base WHERE id = 20), 2, NULL, 'l2');
BEGIN;
DELETE FROM gal_f32 WHERE id = 20;
UPDATE gal_f32 SET tpl = biocrypt.protect((SELECT v FROM base WHERE id = 20), 'moved-021') WHERE id = 21;
COMMIT;
SELECT subject, round(distance::numeric, 6) AS distance
FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM base WHERE id = 20), 2, NULL, 'l2');
SELECT count(*) FILTER (WHERE subject = 'f32-020') AS deleted_row, count(*) FILTER (WHERE subject = 'f32-021') AS old_version,
	count(*) AS total
FROM biocrypt.identify('gal_f32', 'tpl', (SELECT v FROM base WHERE id = 20), 10000, NULL, 'l2');
SELECT pg_temp.ident('gal_f32', (SELECT v FROM base WHERE id = 20), 200, NULL, m)
	= pg_temp.planned('gal_f32', (SELECT v FROM base WHERE id = 20), 200, NULL, m) AS same_after_commit
FROM unnest('{l2,cosine,inner_product}'::text[]) m;

--
-- arguments
--
ALTER TABLE gal_ties ADD tpls protected_template[], ADD note text;
ALTER TABLE gal_ties ADD gone protected_template;
ALTER TABLE gal_ties DROP COLUMN gone;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'note', '{3,4}'::real[])$$) AS text_column;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'id', '{3,4}'::real[])$$) AS int_column;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpls', '{3,4}'::real[])$$) AS template_array_column;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'missing', '{3,4}'::real[])$$) AS missing_column;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'gone', '{3,4}'::real[])$$) AS dropped_column;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'ctid', '{3,4}'::real[])$$) AS system_column;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('no_such_gallery', 'tpl', '{3,4}'::real[])$$) AS missing_table;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify(0::regclass, 'tpl', '{3,4}'::real[])$$) AS oid_0;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify(NULL, 'tpl', '{3,4}'::real[])$$) AS null_gallery;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', NULL, '{3,4}'::real[])$$) AS null_column;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', NULL::real[])$$) AS null_probe;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', NULL::bytea)$$) AS null_probe_bits;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 1, NULL, NULL)$$) AS null_metric;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 1, NULL, 'manhattan')$$) AS unknown_metric;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 0)$$) AS k_0;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], -1)$$) AS k_minus_1;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 10001)$$) AS k_10001;
SELECT count(*) AS k_10000 FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 10000);
-- a NULL k means the default, 10
SELECT count(*) AS k_null FROM biocrypt.identify('gal_mixed', 'tpl', (SELECT v FROM probes WHERE name = 'random-a'), NULL);
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 1, 'NaN')$$) AS max_distance_nan;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4,5}'::real[])$$) AS dims_mismatch;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,NaN}'::real[])$$) AS probe_nan;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,NULL}'::real[])$$) AS probe_null_element;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{}'::real[])$$) AS probe_empty;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '\x0f'::bytea)$$) AS bytea_probe_vector_gallery;
-- without a cast the literal matches both overloads
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}')$$) AS uncast_literal;
-- a gallery with templates of two sizes: an error, not a partial answer
INSERT INTO gal_empty VALUES (3, biocrypt.protect('{1,2}', 'two')), (4, biocrypt.protect('{1,2,3}', 'three'));
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_empty', 'tpl', '{1,2}'::real[])$$) AS mixed_dims;
-- still alive
SELECT 1 AS alive;

-- clean up
SET client_min_messages = warning;
DROP SCHEMA regress_ident CASCADE;
RESET client_min_messages;
RESET search_path;
RESET TimeZone;
