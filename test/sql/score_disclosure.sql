-- What a role that does not administer biocrypt learns from its scores:
-- distances rounded to biocrypt.score_digits, a budget of scores per role
-- and subject (refused past it, 53400, and recorded as denied), the
-- decision-only forms at the administrator's threshold, and the view of
-- spent budgets.
\getenv abs_srcdir PG_ABS_SRCDIR
\set err_detail off
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
SET biocrypt.purpose = 'verification';

CREATE SCHEMA regress_score;
SET search_path = regress_score, public;
CREATE TABLE people (id int PRIMARY KEY, tpl protected_template);
INSERT INTO people VALUES
	(1, biocrypt.protect('{3,4}', 'score-a')),
	(2, biocrypt.protect('{4,3}', 'score-b')),
	(3, biocrypt.protect('{-3,4}', 'score-c'));
CREATE TABLE irises (id int PRIMARY KEY, tpl protected_template);
INSERT INTO irises VALUES
	(1, biocrypt.protect_bits(pg_temp.rep('0f', 32), NULL, 'iris-a')),
	(2, biocrypt.protect_bits(pg_temp.rep('f0', 32), NULL, 'iris-b'));
CREATE ROLE regress_score_m1 NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_score_m2 NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_score_m3 NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_score_v NOLOGIN IN ROLE biocrypt_verifier;
CREATE ROLE regress_score_admin NOLOGIN IN ROLE biocrypt_admin;
SELECT biocrypt.grant_purpose(r, 'verification') AS granted
FROM unnest('{regress_score_m1,regress_score_m2,regress_score_m3,regress_score_v,regress_score_admin}'::regrole[]) r;
GRANT USAGE ON SCHEMA regress_score TO regress_score_m1, regress_score_m2, regress_score_m3, regress_score_v, regress_score_admin;
GRANT SELECT ON people, irises TO regress_score_m1, regress_score_m2, regress_score_m3, regress_score_v, regress_score_admin;

-- the settings, their defaults, and who may change them
SELECT name, setting, unit, context FROM pg_settings
WHERE name IN ('biocrypt.score_digits', 'biocrypt.score_budget', 'biocrypt.score_window',
	'biocrypt.score_budget_entries', 'biocrypt.match_threshold', 'biocrypt.match_metric',
	'biocrypt.match_threshold_bits')
ORDER BY name;
SET ROLE regress_score_m1;
SELECT pg_temp.err($$SET biocrypt.score_digits = 15$$) AS matcher_sets_digits;
SELECT pg_temp.err($$SET biocrypt.score_budget = -1$$) AS matcher_sets_budget;
SELECT pg_temp.err($$SET biocrypt.match_threshold = '2'$$) AS matcher_sets_threshold;
RESET ROLE;
SELECT pg_temp.err($$SET biocrypt.match_threshold = 'near'$$) AS threshold_not_a_number;
SELECT pg_temp.err($$SET biocrypt.match_threshold = 'NaN'$$) AS threshold_nan;
SELECT pg_temp.err($$SET biocrypt.match_threshold = 'Infinity'$$) AS threshold_infinite;
SELECT pg_temp.err($$SET biocrypt.score_digits = 16$$) AS digits_too_many;
SELECT pg_temp.err($$SET biocrypt.score_budget = -2$$) AS budget_below_off;
SELECT pg_temp.err($$SET biocrypt.score_window = 0$$) AS window_zero;

--
-- rounding: exact for administrators, score_digits places for the others
--
SELECT tpl <=> '{1,1}'::real[] AS superuser_cosine, tpl <-> '{1,1}'::real[] AS superuser_l2
FROM people WHERE id = 1;
SET ROLE regress_score_admin;
SELECT tpl <=> '{1,1}'::real[] AS admin_cosine FROM people WHERE id = 1;
RESET ROLE;
SET ROLE regress_score_m1;
SELECT tpl <=> '{1,1}'::real[] AS cosine, tpl <-> '{1,1}'::real[] AS l2,
	tpl <#> '{1,1}'::real[] AS neg_ip
FROM people WHERE id = 1;
SELECT tpl <~> pg_temp.rep('0e', 32) AS hamming,
	biocrypt.iris_distance(tpl, pg_temp.rep('0e', 32)) AS iris
FROM irises WHERE id = 1;
SELECT * FROM biocrypt.identify('people', 'tpl', '{1,1}'::real[], 2, NULL, 'l2');
RESET ROLE;
SET biocrypt.score_digits = 4;
SET ROLE regress_score_m1;
SELECT tpl <=> '{1,1}'::real[] AS cosine_4_places FROM people WHERE id = 1;
RESET ROLE;
SET biocrypt.score_digits = 0;
SET ROLE regress_score_m1;
SELECT tpl <-> '{1,1}'::real[] AS l2_0_places FROM people WHERE id = 1;
RESET ROLE;
RESET biocrypt.score_digits;
-- verify() decides on the exact distance: 0.01005 rounds to 0.01, yet is
-- not within 0.01
SET ROLE regress_score_m1;
SELECT tpl <=> '{1,1}'::real[] AS rounded,
	biocrypt.verify(tpl, '{1,1}'::real[], 0.01) AS within_0_01,
	biocrypt.verify(tpl, '{1,1}'::real[], 0.0101) AS within_0_0101
FROM people WHERE id = 1;
RESET ROLE;

--
-- the budget: per role and subject, refused past it and recorded
--
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SET biocrypt.score_budget = 5;
SET ROLE regress_score_m2;
-- five scores about score-a: the operator three times, verify() twice
SELECT tpl <#> '{1,0}'::real[] AS e1, tpl <#> '{0,1}'::real[] AS e2 FROM people WHERE id = 1;
SELECT tpl <-> '{0,0}'::real[] AS zero FROM people WHERE id = 1;
SELECT biocrypt.verify(tpl, '{3,4}'::real[], 0.1) AS v1, biocrypt.verify(tpl, '{0,1}'::real[], 0.1) AS v2
FROM people WHERE id = 1;
-- the sixth is refused, and so is every later one in the window
SELECT pg_temp.err($$SELECT tpl <#> '{1,1}'::real[] FROM people WHERE id = 1$$) AS sixth;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}'::real[], 0.1) FROM people WHERE id = 1$$) AS seventh;
-- the detail says how many and within how long; no value of the template
SELECT pg_temp.err($$SELECT tpl <=> '{1,1}'::real[] FROM people WHERE id = 1$$, true) AS refusal;
-- other subjects keep their budget; a scan stops at the spent one
SELECT tpl <=> '{1,1}'::real[] AS other_subject FROM people WHERE id = 2;
SELECT pg_temp.err($$SELECT id, tpl <=> '{1,1}'::real[] FROM people ORDER BY id$$) AS scan_reaches_spent;
-- identify() is refused when a spent subject would be among its results
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('people', 'tpl', '{3,4}'::real[], 1, NULL, 'l2')$$) AS identify_top_spent;
-- expired templates yield no score and cost nothing: not tested here
-- (compare_expired), but a spent budget does not hide the shape checks
SELECT pg_temp.err($$SELECT tpl <=> '{1,1,1}'::real[] FROM people WHERE id = 1$$) AS shape_first;
RESET ROLE;
-- another role has its own budget; administrators have none
SET ROLE regress_score_m3;
SELECT tpl <=> '{1,1}'::real[] AS other_role FROM people WHERE id = 1;
RESET ROLE;
SET ROLE regress_score_admin;
SELECT count(*) AS admin_scores FROM people, generate_series(1, 20) WHERE tpl <=> '{1,1}'::real[] >= 0;
RESET ROLE;
SELECT pg_temp.settle();
-- each refusal is a denied row with SQLSTATE 53400 that names the subject
-- and says why
SELECT operation, relation, outcome, sqlstate,
	jsonb_array_length(matches) AS entries,
	matches->0->>'subject' AS subject,
	matches->0->>'refused' AS refused
FROM biocrypt.audit_log
WHERE id > :start AND operation = 'denied' ORDER BY id;
-- the view: regress_score_m2 spent one subject's budget and was refused 5 times
SELECT role_name, subjects, scores, most_for_one_subject, budget,
	subjects_near_budget, subjects_at_budget, scores_refused,
	window_start <= now() AND window_start > now() - interval '1 day' AS window_now
FROM biocrypt.score_budgets WHERE role_name LIKE 'regress_score_%' ORDER BY role_name;
SET ROLE regress_score_m1;
SELECT pg_temp.err($$SELECT * FROM biocrypt.score_budgets$$) AS matcher_reads_view;
RESET ROLE;
-- -1 counts nothing
SET biocrypt.score_budget = -1;
SET ROLE regress_score_m2;
SELECT tpl <=> '{1,1}'::real[] AS budget_off FROM people WHERE id = 1;
RESET ROLE;
RESET biocrypt.score_budget;

--
-- decisions without scores
--
SET ROLE regress_score_v;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}'::real[]) FROM people WHERE id = 1$$) AS no_threshold_set;
RESET ROLE;
SET biocrypt.match_threshold = '0.01';
SET ROLE regress_score_v;
SELECT biocrypt.verify(tpl, '{3,4}'::real[]) AS same, biocrypt.verify(tpl, '{4,3}'::real[]) AS other
FROM people WHERE id = 1;
SELECT * FROM biocrypt.identify_ranks('people', 'tpl', '{3,4.01}'::real[]);
SELECT * FROM biocrypt.identify_ranks('people', 'tpl', '{1,0}'::real[], 3);
SELECT biocrypt.verify_bits(tpl, pg_temp.rep('0f', 32)) AS iris_same,
	biocrypt.verify_bits(tpl, pg_temp.rep('ff', 32)) AS iris_half
FROM irises WHERE id = 1;
SELECT * FROM biocrypt.identify_ranks('irises', 'tpl', pg_temp.rep('0f', 32));
-- a verifier gets no score and no threshold of its own
SELECT pg_temp.err($$SELECT tpl <=> '{1,1}'::real[] FROM people WHERE id = 1$$) AS verifier_operator;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}'::real[], 0.5) FROM people WHERE id = 1$$) AS verifier_threshold;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('people', 'tpl', '{1,1}'::real[])$$) AS verifier_identify;
RESET ROLE;
-- the metric is the administrator's too
SET biocrypt.match_metric = 'l2';
SET biocrypt.match_threshold = '1.5';
SET ROLE regress_score_v;
SELECT * FROM biocrypt.identify_ranks('people', 'tpl', '{3.5,3.5}'::real[]);
RESET ROLE;
-- decisions count in the budget as well
SET biocrypt.score_budget = 2;
SET ROLE regress_score_v;
SELECT biocrypt.verify(tpl, '{3,4}'::real[]) AS d1, biocrypt.verify(tpl, '{3,4}'::real[]) AS d2
FROM people WHERE id = 3;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}'::real[]) FROM people WHERE id = 3$$) AS d3;
RESET ROLE;
RESET biocrypt.score_budget;
RESET biocrypt.match_metric;
RESET biocrypt.match_threshold;
-- bad arguments of the new forms
SET biocrypt.match_threshold = '0.5';
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify_ranks('people', 'tpl', '{1,1}'::real[], 0)$$) AS k_zero;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify_ranks('people', 'tpl', NULL::real[])$$) AS null_probe;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify_ranks('people', 'tpl', '{1,1,1}'::real[])$$) AS wrong_dims;
SELECT pg_temp.err($$SELECT biocrypt.verify_bits(tpl, pg_temp.rep('0f', 31)) FROM irises WHERE id = 1$$) AS code_length;
SELECT pg_temp.err($$SELECT biocrypt.verify_bits(tpl, pg_temp.rep('0f', 32), NULL, NULL) FROM irises WHERE id = 1$$) AS null_shift;
SELECT pg_temp.err($$SELECT biocrypt.verify_bits(tpl, pg_temp.rep('0f', 32)) FROM people WHERE id = 1$$) AS vector_template;
RESET biocrypt.match_threshold;

RESET ROLE;
DROP SCHEMA regress_score CASCADE;
DROP OWNED BY regress_score_m1, regress_score_m2, regress_score_m3, regress_score_v, regress_score_admin;
DROP ROLE regress_score_m1, regress_score_m2, regress_score_m3, regress_score_v, regress_score_admin;
