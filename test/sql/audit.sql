-- The audit log: one row per statement, relation and kind of access.  An
-- access that decrypts (or exports) first commits a "begun" row, before the
-- first template is decrypted, and then a completion row that names it
-- (begun_id) with the counts; failed and rolled-back accesses are recorded
-- too; rows are HMAC-chained and append-only.  Times, pids, xids and hashes
-- vary per run and are shown only as facts about them.
-- pg_temp.err() shows errors as "SQLSTATE: message" only
\set err_detail off
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';

CREATE TABLE aud_g (id int, tpl protected_template);
CREATE TABLE aud_h (id int, tpl protected_template);
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset

-- rows written after id s, numbered from 1, without the columns that vary
-- per run; "of" is the number of a completion's begun row
CREATE FUNCTION pg_temp.recent(s bigint) RETURNS TABLE (n bigint, operation text,
	relation regclass, col name, compared bigint, expired bigint, metric text,
	threshold float8, k int, probe boolean, outcome text, sqlstate text, "of" bigint,
	has_xid boolean, xact_outcome text)
LANGUAGE sql AS $$
	SELECT id - s, operation, relation, column_name, templates_compared, expired_skipped,
		metric, threshold, k, probe_hmac IS NOT NULL, outcome, sqlstate, begun_id - s,
		xid IS NOT NULL, xact_outcome
	FROM biocrypt.audit_log WHERE id > s ORDER BY id $$;

-- enrolment: one row for five templates, on the table written
INSERT INTO aud_g SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'subj-' || i)
	FROM generate_series(1, 5) i;
INSERT INTO aud_h VALUES
	(1, biocrypt.protect_bits('\xf0f0f0f0f0f0f0f0'::bytea, NULL, 'iris-1')),
	(2, biocrypt.protect_bits('\x0f0f0f0f0f0f0f0f'::bytea, NULL, 'iris-2'));

-- operators: one row per relation and column, however many rows compared,
-- also when the comparison is evaluated above the scan (an aggregate, a join)
SELECT id FROM aud_g ORDER BY tpl <=> '{3,1,2}'::real[] LIMIT 2;
SELECT count(*) FROM aud_g WHERE tpl <=> '{3,1,2}'::real[] < 0.5;
SELECT round(min(tpl <=> '{3,1,2}'::real[])::numeric, 6) FROM aud_g;
SELECT a.id, b.id FROM aud_g a JOIN aud_g b ON a.id = b.id + 1
	WHERE b.tpl <=> '{3,1,2}'::real[] = 0;
SELECT (SELECT id FROM aud_g ORDER BY tpl <-> '{3,1,2}'::real[] LIMIT 1) AS g,
	(SELECT id FROM aud_h ORDER BY tpl <~> '\xf0f0f0f0f0f0f0f1'::bytea LIMIT 1) AS h;

-- verify records its matches; identify its ranked candidates
SELECT id FROM aud_g WHERE biocrypt.verify(tpl, '{3,1,2}'::real[], 0.01) ORDER BY id;
SELECT * FROM biocrypt.identify('aud_g', 'tpl', '{3,1,2}'::real[], 2);

-- reveal, as a superuser while allowed
SET biocrypt.allow_reveal = on;
SELECT biocrypt.reveal(tpl) FROM aud_g WHERE id <= 2 ORDER BY id;
RESET biocrypt.allow_reveal;

SELECT pg_temp.settle();
SELECT * FROM pg_temp.recent(:start);
-- (enrolments list subject, purposes, expiry and data key of each template;
-- the expiry, a year after enrolment by default, is shown as such)
SELECT id - :start AS n,
	(SELECT jsonb_agg(m - 'expires_at' - 'key_id') FROM jsonb_array_elements(matches) m) AS matches,
	(SELECT bool_and((m->>'expires_at')::timestamptz BETWEEN now() + interval '1 year' - interval '1 hour'
					 AND now() + interval '1 year' AND (m->>'key_id')::int > 0)
	 FROM jsonb_array_elements(matches) m WHERE m ? 'expires_at') AS expiry_in_a_year
FROM biocrypt.audit_log WHERE id > :start AND matches IS NOT NULL ORDER BY id;
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset

-- ROLLBACK: the accesses happened and stay recorded; the outcome says so
BEGIN;
INSERT INTO aud_g VALUES (6, biocrypt.protect('{6,1,2}'::real[], 'subj-6'));
SELECT count(*) FROM aud_g WHERE tpl <=> '{3,1,2}'::real[] < 0.5;
ROLLBACK;
-- a savepoint rolled back after an error: the failed access is an error row
BEGIN;
SAVEPOINT s;
SELECT biocrypt.verify(tpl, '{1,2}', 0.5, 'l2') FROM aud_g;
ROLLBACK TO s;
SELECT count(*) FROM aud_g WHERE tpl <-> '{3,1,2}'::real[] < 10;
COMMIT;
-- an error mid-statement: rows compared before it are counted
SELECT id, tpl <=> CASE WHEN id = 3 THEN '{1,NaN,2}'::real[] ELSE '{3,1,2}'::real[] END FROM aud_g;
-- errors caught in a loop fold into one row for the statement
DO $$
BEGIN
	FOR i IN 1..3 LOOP
		BEGIN
			PERFORM biocrypt.verify(tpl, '{1,2}', 0.5, 'l2') FROM aud_g;
		EXCEPTION WHEN data_exception THEN NULL;
		END;
	END LOOP;
END $$;
SELECT pg_temp.settle();
SELECT * FROM pg_temp.recent(:start);

-- a failed access's SQLSTATE is caught on the error's way out, not read
-- from the server log: the same with nothing but FATAL logged
SELECT coalesce(max(id), 0) AS quiet_start FROM biocrypt.audit_log \gset
SET log_min_messages = fatal;
SELECT id, tpl <=> CASE WHEN id = 3 THEN '{1,NaN,2}'::real[] ELSE '{3,1,2}'::real[] END FROM aud_g;
RESET log_min_messages;
SELECT pg_temp.settle();
SELECT * FROM pg_temp.recent(:quiet_start);

-- the same probe gives the same keyed hash, another probe another one
SELECT count(DISTINCT probe_hmac) AS probes FROM biocrypt.audit_log
	WHERE id > :start AND operation = 'compare';

-- no probe or template value appears in any audit column
SELECT count(*) AS leaks FROM biocrypt.audit_log a
	WHERE a::text ~ '\{3,1,2\}|\{6,1,2\}|f0f0f0f0';

-- COPY TO (pg_dump's way of reading a table) is an export of the template
-- column, even though only ciphertext leaves
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
COPY aud_g TO '/dev/null';
COPY aud_g (id) TO '/dev/null';
COPY (SELECT id, tpl FROM aud_g WHERE id < 3) TO '/dev/null';
COPY (SELECT id FROM aud_g) TO '/dev/null';
SELECT pg_temp.settle();
SELECT operation, relation, column_name, templates_compared AS rows, outcome, begun_id - :start AS "of"
FROM biocrypt.audit_log WHERE id > :start ORDER BY id;

-- parallel query: each process that decrypts records its own access, begun
-- and completed; together they count every template once
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET force_parallel_mode = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM aud_g WHERE biocrypt.verify(tpl, '{3,1,2}'::real[], 0.01);
SELECT count(*) FROM aud_g WHERE biocrypt.verify(tpl, '{3,1,2}'::real[], 0.01);
RESET force_parallel_mode;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;
-- (which process found which match varies: summed and sorted here)
SELECT pg_temp.settle();
SELECT operation, relation, sum(templates_compared) AS compared,
	(SELECT jsonb_agg(m ORDER BY m->>'subject') FROM biocrypt.audit_log a,
		jsonb_array_elements(a.matches) m WHERE a.id > :start AND a.outcome = 'ok') AS matches,
	min(threshold) AS threshold,
	bool_and(EXISTS (SELECT FROM biocrypt.audit_log b WHERE b.id = l.begun_id
					 AND b.outcome = 'begun' AND b.backend_pid = l.backend_pid)) AS each_completes_its_begun
FROM biocrypt.audit_log l WHERE id > :start AND outcome = 'ok'
GROUP BY operation, relation;

-- the chain verifies; the log refuses every change, even a superuser's
SELECT ok, rows_checked = (SELECT count(*) FROM biocrypt.audit_log) AS all_checked, first_bad_id
	FROM biocrypt.verify_audit();
SELECT pg_temp.err('UPDATE biocrypt.audit_log SET k = 1');
SELECT pg_temp.err('DELETE FROM biocrypt.audit_log');
SELECT pg_temp.err('TRUNCATE biocrypt.audit_log');
SELECT pg_temp.err($q$INSERT INTO biocrypt.audit_log SELECT * FROM biocrypt.audit_log LIMIT 1$q$);

-- DDL that would get around the triggers or destroy the log is refused
SELECT pg_temp.err('ALTER TABLE biocrypt.audit_log DISABLE TRIGGER audit_log_append_only');
SELECT pg_temp.err('ALTER TABLE biocrypt.audit_log ENABLE ROW LEVEL SECURITY');
SELECT pg_temp.err('DROP TRIGGER audit_log_append_only ON biocrypt.audit_log');
SELECT pg_temp.err('CREATE RULE r AS ON INSERT TO biocrypt.audit_log DO INSTEAD NOTHING');
SELECT pg_temp.err('CREATE POLICY p ON biocrypt.audit_log USING (false)');
SELECT pg_temp.err('ALTER TABLE biocrypt.audit_log RENAME TO old_log');
SELECT pg_temp.err('DROP TABLE biocrypt.audit_log');
SELECT pg_temp.err('DROP SCHEMA biocrypt CASCADE');
SELECT pg_temp.err('DROP EXTENSION biocrypt CASCADE');
-- a superuser may allow maintenance; the command is then recorded first
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SET biocrypt.allow_audit_maintenance = on;
ALTER TABLE biocrypt.audit_log ALTER COLUMN sqlstate SET STATISTICS 100;
RESET biocrypt.allow_audit_maintenance;
SELECT operation, relation, outcome FROM biocrypt.audit_log WHERE id > :start;

-- auditors read the log and verify it; matchers do not see it
CREATE ROLE regress_aud_auditor NOLOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_aud_matcher NOLOGIN IN ROLE biocrypt_matcher;
SET ROLE regress_aud_auditor;
SELECT ok FROM biocrypt.verify_audit();
SELECT count(*) > 0 AS readable FROM biocrypt.audit_log;
SELECT pg_temp.err('SET biocrypt.allow_audit_maintenance = on');
SET ROLE regress_aud_matcher;
SELECT pg_temp.err('SELECT count(*) FROM biocrypt.audit_log');
SELECT pg_temp.err('SELECT * FROM biocrypt.verify_audit()');
RESET ROLE;
DROP ROLE regress_aud_auditor, regress_aud_matcher;
