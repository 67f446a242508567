-- biocrypt.calibrate() and biocrypt.template_distance(): the threshold for
-- a target false-match rate, from pairs of stored templates, inside the
-- server; administrators only, audited as one "calibrate" event, only the
-- summary leaves.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET biocrypt.purpose = 'verification';

-- 40 subjects with two templates each: a subject's base vector and a
-- slightly moved copy (deterministic, no random())
CREATE TABLE cal (id int PRIMARY KEY, face protected_template(8));
INSERT INTO cal
SELECT s * 2 + t, biocrypt.protect(
	(SELECT array_agg((sin(s * 7.3 + d * 1.9) + t * 0.05 * cos(s + d))::real ORDER BY d)
	 FROM generate_series(1, 8) d), 'cal-' || s)
FROM generate_series(1, 40) s, generate_series(0, 1) t;

-- comparing stored templates with each other is reveal-grade (distances
-- to templates of one's choosing rebuild one): refused, and recorded, until
-- a superuser allows reveal
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT pg_temp.err($$SELECT biocrypt.template_distance(a.face, b.face) FROM cal a, cal b WHERE a.id = 2 AND b.id = 3$$) AS pairs_without_reveal;
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal', 'face')$$) AS calibrate_without_reveal;
SELECT pg_temp.settle();
SELECT operation, outcome, sqlstate, templates_compared FROM biocrypt.audit_log
WHERE id > :start AND outcome <> 'begun' ORDER BY id;
SET biocrypt.allow_reveal = on;

-- the audit row of a pair names both subjects
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.template_distance(a.face, b.face) > 0 AS apart FROM cal a, cal b WHERE a.id = 2 AND b.id = 4;
SELECT pg_temp.settle();
SELECT operation, templates_compared, matches FROM biocrypt.audit_log
WHERE id > :start AND outcome = 'ok' ORDER BY id;

-- every pair, through template_distance(); the threshold by the rule
-- calibrate() documents (midway below the first impostor distance the
-- target rate must exclude)
CREATE TEMP TABLE pairs AS
SELECT biocrypt.subject_of(a.face) = biocrypt.subject_of(b.face) AS genuine,
	biocrypt.template_distance(a.face, b.face) AS d
FROM cal a JOIN cal b ON a.id < b.id;
SELECT count(*) FILTER (WHERE NOT genuine) AS impostor, count(*) FILTER (WHERE genuine) AS genuine,
	count(*) FILTER (WHERE d IS NULL) AS null_distances
FROM pairs;
CREATE TEMP TABLE expected AS
WITH imp AS (SELECT d, row_number() OVER (ORDER BY d) - 1 AS i FROM pairs WHERE NOT genuine),
	k AS (SELECT floor(0.01 * count(*))::int AS k FROM imp)
SELECT (SELECT d FROM imp, k WHERE i = k.k - 1) + ((SELECT d FROM imp, k WHERE i = k.k)
	- (SELECT d FROM imp, k WHERE i = k.k - 1)) / 2 AS threshold FROM k;

-- calibrate() finds the same threshold, and its rates on the sample
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT c.threshold = e.threshold AS same_threshold,
	c.fmr = (SELECT count(*) FILTER (WHERE d <= c.threshold)::float8 / count(*) FROM pairs WHERE NOT genuine) AS same_fmr,
	c.fmr <= 0.01 AS fmr_within_target,
	c.fnmr = (SELECT count(*) FILTER (WHERE d > c.threshold)::float8 / count(*) FROM pairs WHERE genuine) AS same_fnmr,
	c.templates, c.subjects, c.impostor_pairs, c.genuine_pairs,
	c.genuine_max < c.impostor_median AS separated
FROM biocrypt.calibrate('cal', 'face', 0.01, 'cosine', 1000) c, expected e;
-- a sample smaller than the column draws whole subjects
SELECT templates, subjects, templates = 2 * subjects AS whole_subjects, genuine_pairs = subjects AS genuine
FROM biocrypt.calibrate('cal', 'face', 0.01, 'l2', 20);
-- the same data give the same answer (the sample is drawn by subject hash)
SELECT (SELECT threshold FROM biocrypt.calibrate('cal', 'face', 0.05, 'l2', 20))
	= (SELECT threshold FROM biocrypt.calibrate('cal', 'face', 0.05, 'l2', 20)) AS repeatable;
-- a target below what the sample can measure: below every impostor pair
SELECT fmr, threshold < (SELECT min(d) FROM pairs WHERE NOT genuine) AS below_all
FROM biocrypt.calibrate('cal', 'face', 1e-9);

-- one audit event per call, with the threshold found and the sample's
-- subjects; no template in it
SELECT pg_temp.settle();
SELECT operation, relation, column_name, metric, templates_compared, threshold IS NOT NULL AS has_threshold,
	jsonb_array_length(matches) AS subjects_named, outcome
FROM biocrypt.audit_log WHERE id > :start AND operation = 'calibrate' AND outcome <> 'begun' ORDER BY id;

-- bit codes, with hamming
CREATE TABLE cal_bits (id int, code protected_template);
INSERT INTO cal_bits SELECT s * 2 + t, biocrypt.protect_bits(
	decode(lpad(to_hex((s * 2654435761)::bigint % 4294967296 # t), 8, '0') ||
		lpad(to_hex((s * 40503)::bigint % 4294967296), 8, '0'), 'hex'), NULL, 'bits-' || s)
FROM generate_series(1, 20) s, generate_series(0, 1) t;
SELECT templates, subjects, impostor_pairs, genuine_pairs, genuine_max <= 1.0 / 64 AS one_bit_apart
FROM biocrypt.calibrate('cal_bits', 'code', 0.01, 'hamming');
SELECT biocrypt.template_distance(a.code, b.code, 'hamming') AS one_bit FROM cal_bits a, cal_bits b WHERE a.id = 2 AND b.id = 3;

-- templates calibrate() cannot use are skipped: other purposes, expired,
-- another shape than the first
CREATE TABLE cal_mixed (id int, face protected_template);
INSERT INTO cal_mixed SELECT id, face FROM cal WHERE id < 10;
INSERT INTO cal_mixed VALUES
	(100, biocrypt.protect('{1,2,3}', 'other-shape')),
	(101, biocrypt.protect('{1,2,3,4,5,6,7,8}', 'other-purpose', purposes => '{border_control}')),
	(102, biocrypt.protect('{1,2,3,4,5,6,7,8}', 'expiring', now() + interval '1 second'));
SELECT pg_sleep(1.2);
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT templates, subjects FROM biocrypt.calibrate('cal_mixed', 'face', 0.1);
SELECT pg_temp.settle();
SELECT templates_compared, expired_skipped, purpose_skipped, shape_skipped
FROM biocrypt.audit_log WHERE id > :start AND operation = 'calibrate' AND outcome = 'ok';
SELECT biocrypt.template_distance(a.face, b.face) IS NULL AS skipped_pair
FROM cal_mixed a, cal_mixed b WHERE a.id = 2 AND b.id = 100;

-- bad input
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal', 'face', 0)$$) AS zero_target;
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal', 'face', 1)$$) AS target_one;
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal', 'face', 'NaN')$$) AS nan_target;
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal', 'face', 0.01, 'cosine', 1)$$) AS sample_one;
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal', 'face', 0.01, 'cosine', 5001)$$) AS sample_too_big;
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal', 'face', 0.01, 'manhattan')$$) AS unknown_metric;
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal', 'face', 0.01, 'hamming')$$) AS hamming_on_embeddings;
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal_bits', 'code', 0.01, 'cosine')$$) AS cosine_on_codes;
-- refused before anything was decrypted
SELECT pg_temp.settle();
SELECT templates_compared, sqlstate FROM biocrypt.audit_log
WHERE operation = 'calibrate' AND outcome = 'error' ORDER BY id DESC LIMIT 2;
-- a sample whose edge would cut a subject leaves that subject out
SELECT templates, subjects, genuine_pairs FROM biocrypt.calibrate('cal', 'face', 0.01, 'l2', 21);
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal', 'id', 0.01)$$) AS not_a_template_column;
CREATE TABLE cal_one (face protected_template);
INSERT INTO cal_one SELECT face FROM cal WHERE id IN (2, 3);
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal_one', 'face', 0.01)$$) AS one_subject;
DELETE FROM cal_one WHERE biocrypt.subject_of(face) = 'cal-1' AND ctid = (SELECT min(ctid) FROM cal_one);
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal_one', 'face', 0.01)$$) AS one_template;
SELECT pg_temp.err($$SELECT biocrypt.template_distance(a.face, b.face, 'manhattan') FROM cal a, cal b WHERE a.id = 2 AND b.id = 3$$) AS pair_unknown_metric;

-- administrators only: a matcher may not calibrate nor compare templates
CREATE ROLE regress_cal_matcher NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_cal_admin NOLOGIN IN ROLE biocrypt_admin;
GRANT SELECT ON cal TO regress_cal_matcher, regress_cal_admin;
SELECT biocrypt.grant_purpose('regress_cal_matcher', 'verification'),
	biocrypt.grant_purpose('regress_cal_admin', 'verification');
SET ROLE regress_cal_matcher;
SELECT pg_temp.err($$SELECT * FROM biocrypt.calibrate('cal', 'face')$$) AS matcher_calibrates;
SELECT pg_temp.err($$SELECT biocrypt.template_distance(a.face, b.face) FROM cal a, cal b WHERE a.id = 2 AND b.id = 3$$) AS matcher_pairs;
SET ROLE regress_cal_admin;
SELECT templates FROM biocrypt.calibrate('cal', 'face');
RESET ROLE;

DROP TABLE cal, cal_bits, cal_mixed, cal_one;
SELECT biocrypt.revoke_purpose('regress_cal_matcher', 'verification'),
	biocrypt.revoke_purpose('regress_cal_admin', 'verification');
DROP ROLE regress_cal_matcher, regress_cal_admin;
