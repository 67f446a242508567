-- identify() reads the gallery as the calling role: privileges, views,
-- row-level security; partitioned galleries; quoted names; an error caught
-- inside the scan.
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
-- the galleries these tests search, built as in identify_vector: the base
-- vectors, probes near and far from them, the ties; gal_bits stays empty
-- (no role here may read it)
SELECT setseed(0.31);
CREATE TEMP TABLE base AS SELECT i AS id, pg_temp.rvec(24, 1 + i % 3) AS v FROM generate_series(1, 150) i;
CREATE TEMP TABLE probes (name text PRIMARY KEY, dims int, v real[]);
INSERT INTO probes VALUES
	('near-7', 24, (SELECT array_agg(x * 1.5 + 0.01) FROM unnest((SELECT v FROM base WHERE id = 7)) x)),
	('random-a', 24, pg_temp.rvec(24)),
	('random-b', 24, pg_temp.rvec(24, 3));
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
CREATE TABLE gal_bits (id int PRIMARY KEY, tpl protected_template);

--
-- privileges: identify() reads the table as the calling role
--
CREATE ROLE regress_ident_matcher NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_ident_plain NOLOGIN;
SELECT biocrypt.grant_purpose('regress_ident_matcher', 'verification') AS granted;
SELECT biocrypt.grant_purpose('regress_ident_plain', 'verification') AS granted;
GRANT USAGE ON SCHEMA regress_ident TO regress_ident_matcher, regress_ident_plain;
GRANT SELECT ON base, probes TO regress_ident_matcher;
SET ROLE regress_ident_matcher;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 1, NULL, 'l2')$$) AS no_select;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_bits', 'tpl', '\x00'::bytea, 1, NULL, NULL, 0)$$) AS no_select_bits;
RESET ROLE;
-- column privilege on another column is not enough; on the template column it is
GRANT SELECT (id) ON gal_ties TO regress_ident_matcher;
SET ROLE regress_ident_matcher;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 1, NULL, 'l2')$$) AS other_column_only;
RESET ROLE;
GRANT SELECT (tpl) ON gal_ties TO regress_ident_matcher;
SET ROLE regress_ident_matcher;
SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 2, NULL, 'l2');
SELECT pg_temp.ident('gal_ties', '{1,2}', 10, NULL, 'l2') = pg_temp.planned('gal_ties', '{1,2}', 10, NULL, 'l2') AS column_privilege_same;
RESET ROLE;
-- EXECUTE on identify() is the matcher's
SET ROLE regress_ident_plain;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 1, NULL, 'l2')$$) AS plain_role;
RESET ROLE;
-- a view: the caller needs SELECT on the view only
CREATE VIEW gal_ties_view AS SELECT tpl FROM gal_ties WHERE id <= 4;
GRANT SELECT ON gal_ties_view TO regress_ident_matcher;
REVOKE SELECT (tpl) ON gal_ties FROM regress_ident_matcher;
SET ROLE regress_ident_matcher;
SELECT * FROM biocrypt.identify('gal_ties_view', 'tpl', '{3,4}'::real[], 10, NULL, 'cosine');
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gal_ties', 'tpl', '{3,4}'::real[], 1, NULL, 'l2')$$) AS table_revoked;
RESET ROLE;

--
-- row-level security: rows a policy hides are not searched
--
CREATE TABLE gal_rls (id int PRIMARY KEY, tpl protected_template);
INSERT INTO gal_rls SELECT id, biocrypt.protect(v, 'rls-' || lpad(id::text, 3, '0')) FROM base WHERE id <= 40;
ALTER TABLE gal_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY even_only ON gal_rls FOR SELECT TO regress_ident_matcher USING (id % 2 = 0);
GRANT SELECT ON gal_rls TO regress_ident_matcher;
-- the superuser sees every row; base 7 (odd) is its own nearest
SELECT * FROM biocrypt.identify('gal_rls', 'tpl', (SELECT v FROM base WHERE id = 7), 1, NULL, 'l2');
SET ROLE regress_ident_matcher;
SELECT count(*) AS visible, count(*) FILTER (WHERE right(subject, 1)::int % 2 = 1) AS odd
FROM biocrypt.identify('gal_rls', 'tpl', (SELECT v FROM base WHERE id = 7), 10000, NULL, 'l2');
SELECT subject <> 'rls-007' AS hidden_row_not_found
FROM biocrypt.identify('gal_rls', 'tpl', (SELECT v FROM base WHERE id = 7), 1, NULL, 'l2');
SELECT m AS metric, pg_temp.ident('gal_rls', (SELECT v FROM base WHERE id = 7), 10, NULL, m)
	= pg_temp.planned('gal_rls', (SELECT v FROM base WHERE id = 7), 10, NULL, m) AS same_under_rls
FROM unnest('{l2,cosine,inner_product}'::text[]) m;
RESET ROLE;
-- FORCE applies the policy to the owner too (a non-superuser owner)
ALTER TABLE gal_rls OWNER TO regress_ident_matcher;
ALTER TABLE gal_rls FORCE ROW LEVEL SECURITY;
SET ROLE regress_ident_matcher;
SELECT count(*) AS owner_forced FROM biocrypt.identify('gal_rls', 'tpl', (SELECT v FROM base WHERE id = 7), 10000, NULL, 'l2');
ALTER TABLE gal_rls NO FORCE ROW LEVEL SECURITY;
SELECT count(*) AS owner_not_forced FROM biocrypt.identify('gal_rls', 'tpl', (SELECT v FROM base WHERE id = 7), 10000, NULL, 'l2');
RESET ROLE;

--
-- partitioned gallery: every partition is searched (one is empty)
--
CREATE TABLE gal_part (id int, tpl protected_template) PARTITION BY RANGE (id);
CREATE TABLE gal_part_1 PARTITION OF gal_part FOR VALUES FROM (1) TO (60);
CREATE TABLE gal_part_2 PARTITION OF gal_part FOR VALUES FROM (60) TO (200);
CREATE TABLE gal_part_3 PARTITION OF gal_part FOR VALUES FROM (200) TO (300);
INSERT INTO gal_part SELECT id, biocrypt.protect(v, 'part-' || lpad(id::text, 3, '0'), NULL, NULL,
	(ARRAY['f32', 'f16', 'i8'])[id % 3 + 1]) FROM base;
SELECT m AS metric, p.name AS probe,
	pg_temp.ident('gal_part', p.v, 20, NULL, m) = pg_temp.planned('gal_part', p.v, 20, NULL, m) AS same,
	cardinality(pg_temp.ident('gal_part', p.v, 20, NULL, m)) AS returned
FROM unnest('{l2,cosine,inner_product}'::text[]) m, probes p WHERE p.dims = 24 AND p.name <> 'zero'
ORDER BY 1, 2;
SELECT count(*) AS all_partitions, count(*) FILTER (WHERE subject < 'part-060') AS first_partition
FROM biocrypt.identify('gal_part', 'tpl', (SELECT v FROM probes WHERE name = 'random-a'), 10000, NULL, 'l2');
SELECT count(*) AS one_partition FROM biocrypt.identify('gal_part_2', 'tpl', (SELECT v FROM probes WHERE name = 'random-a'), 10000, NULL, 'l2');
SELECT subject, round(distance::numeric, 6) AS distance
FROM biocrypt.identify('gal_part', 'tpl', (SELECT v FROM base WHERE id = 100), 1, NULL, 'cosine');

--
-- names are quoted: odd schema, table and column names
--
CREATE SCHEMA "Regress Ident ""Odd""";
CREATE TABLE "Regress Ident ""Odd"""."Gallery; DROP TABLE x" ("the tpl" protected_template, "TPL" int);
INSERT INTO "Regress Ident ""Odd"""."Gallery; DROP TABLE x" SELECT tpl, 1 FROM gal_ties;
SELECT * FROM biocrypt.identify('"Regress Ident ""Odd"""."Gallery; DROP TABLE x"', 'the tpl', '{3,4}'::real[], 2, NULL, 'l2');
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('"Regress Ident ""Odd"""."Gallery; DROP TABLE x"', 'TPL', '{3,4}'::real[])$$) AS int_column;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('"Regress Ident ""Odd"""."Gallery; DROP TABLE x"', 'tpl', '{3,4}'::real[])$$) AS lower_case_column;
DROP TABLE "Regress Ident ""Odd"""."Gallery; DROP TABLE x";
DROP SCHEMA "Regress Ident ""Odd""";

-- clean up
REVOKE SELECT ON base, probes FROM regress_ident_matcher;
SET client_min_messages = warning;
DROP SCHEMA regress_ident CASCADE;
RESET client_min_messages;
DROP ROLE regress_ident_matcher, regress_ident_plain;
RESET search_path;
RESET TimeZone;

-- an error caught inside the scan (a subtransaction abort in a function the
-- gallery's query calls) must not disturb identify's batch
CREATE TABLE sub_g (id int, tpl protected_template);
INSERT INTO sub_g SELECT i, biocrypt.protect(ARRAY[i, 1]::real[], 's' || lpad(i::text, 2, '0')) FROM generate_series(1, 10) i;
CREATE FUNCTION sub_f(id int) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
	IF id = 5 THEN
		BEGIN
			PERFORM 1 / 0;
		EXCEPTION WHEN division_by_zero THEN NULL;
		END;
	END IF;
	RETURN true;
END $$;
CREATE VIEW sub_gv AS SELECT id, tpl FROM sub_g WHERE sub_f(id);
SELECT * FROM biocrypt.identify('sub_gv', 'tpl', '{1,1}'::real[], 5, NULL, 'l2');
DROP VIEW sub_gv;
DROP FUNCTION sub_f(int);
DROP TABLE sub_g;
