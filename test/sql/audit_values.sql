-- Values that could break an audit row, and the events around them: a
-- distance that overflows to infinity, a non-finite threshold, NaN, and
-- subjects and reasons with quotes, backslashes, control characters and
-- non-ASCII text.  Every one of them is recorded exactly, as valid jsonb,
-- and no event fails another.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
SET biocrypt.purpose = 'verification';

CREATE TABLE val_g (id int, tpl protected_template);
INSERT INTO val_g VALUES
	(1, biocrypt.protect('{1,1,1}'::real[], 'quote " and backslash \ here')),
	(2, biocrypt.protect('{1,1,-1}'::real[], E'tab\there, newline\nthere, bell\u0007, del\u007f')),
	(3, biocrypt.protect('{1,-1,1}'::real[], 'Łódź — 指紋 🙂')),
	(4, biocrypt.protect('{-1,1,1}'::real[], '{"subject": "forged"}, {"x":'));
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset

-- l2 distances that overflow float8: every row matches 'Infinity', and
-- the distances are recorded as "Infinity" (JSON has no such number)
SELECT id, biocrypt.verify(tpl, '{3e38,3e38,3e38}'::real[], 'Infinity', 'l2') AS match
FROM val_g ORDER BY id;
SELECT id, tpl <-> '{3e38,3e38,3e38}'::real[] AS l2 FROM val_g ORDER BY id;
-- the same through COPY TO STDOUT: the statement succeeds and is recorded
COPY (SELECT id, biocrypt.verify(tpl, '{3e38,3e38,3e38}'::real[], 'Infinity', 'l2')
	  FROM val_g ORDER BY id) TO STDOUT;
-- NaN and -Infinity: cosine against a zero probe is NaN (never a match),
-- a NaN threshold is refused before anything is decrypted
SELECT id, tpl <=> '{0,0,0}'::real[] AS cosine FROM val_g ORDER BY id;
SELECT biocrypt.verify(tpl, '{1,1,1}'::real[], 'NaN') FROM val_g;
SELECT biocrypt.verify(tpl, '{1,1,1}'::real[], '-Infinity') FROM val_g;
SELECT * FROM biocrypt.identify('val_g', 'tpl', '{3e38,3e38,3e38}'::real[], 4, NULL, 'l2');

SELECT pg_temp.settle();
-- every statement above has its rows; the odd subjects come back exactly
SELECT id - :start AS n, operation, outcome, sqlstate, threshold, templates_compared AS n_tpl,
	(SELECT jsonb_agg(m ORDER BY m->>'subject') FROM jsonb_array_elements(matches) m) AS matches
FROM biocrypt.audit_log WHERE id > :start ORDER BY id;
SELECT count(*) = 4 AS exact_subjects
FROM biocrypt.audit_log a, jsonb_array_elements(a.matches) m
WHERE a.id > :start AND a.operation = 'identify' AND a.outcome = 'ok'
	AND m->>'subject' IN (SELECT biocrypt.subject_of(tpl) FROM val_g);

-- a legal hold's reason is free text; it is recorded exactly too
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.hold('Łódź — 指紋 🙂', E'court order "7"\\ \u0001 line\nnext');
SELECT biocrypt.release_hold('Łódź — 指紋 🙂');
SELECT operation, matches->0->>'reason' = E'court order "7"\\ \u0001 line\nnext' AS reason_exact,
	matches->0->>'subject' = 'Łódź — 指紋 🙂' AS subject_exact, outcome
FROM biocrypt.audit_log WHERE id > :start ORDER BY id;

-- the chain still verifies
SELECT ok FROM biocrypt.verify_audit();
DROP TABLE val_g;
