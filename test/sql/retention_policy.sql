-- Retention policies: protect_column, the policy trigger, epochs (the
-- UTC month of the expiry), rewrap_keys without a new root key, and touch
-- within a policy.  Times, key ids and audit ids vary per run and are
-- shown only as facts about them (differences, comparisons, counts).
-- retention_expiry and retention_owner test the rest.
-- pg_temp.err() shows errors as "SQLSTATE: message" only
\set err_detail off
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
-- the policy arithmetic is done in the session time zone: UTC keeps
-- "60 days" exactly 60 * 24 hours whatever the date
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';

-- ret_a: embeddings, rows deleted on expiry; ret_iris: bit codes, column
-- nulled on expiry; ret_b: a copy target; ret_free: not registered
CREATE TABLE ret_a (id int, tpl protected_template);
CREATE TABLE ret_iris (id int, code protected_template);
CREATE TABLE ret_b (id int, tpl protected_template);
CREATE TABLE ret_free (id int, tpl protected_template);
CREATE TABLE ret_notnull (id int, tpl protected_template NOT NULL);
CREATE TABLE ret_part (id int, tpl protected_template) PARTITION BY LIST (id);
CREATE VIEW ret_view AS SELECT * FROM ret_a;

--
-- 1. protect_column
--
SELECT pg_temp.err($$SELECT biocrypt.protect_column(NULL, 'tpl', '1 day', '{verification}')$$) AS null_table;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', NULL, '1 day', '{verification}')$$) AS null_column;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', NULL, '{verification}')$$) AS null_retention;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '1 day', NULL)$$) AS null_purposes;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '1 day', '{verification}', NULL)$$) AS null_on_expiry;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_part', 'tpl', '1 day', '{verification}')$$) AS partitioned;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_view', 'tpl', '1 day', '{verification}')$$) AS view;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'nope', '1 day', '{verification}')$$) AS missing_column;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'id', '1 day', '{verification}')$$) AS not_a_template;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '0 seconds', '{verification}')$$) AS zero_retention;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '-1 day', '{verification}')$$) AS negative_retention;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '1 day -1 hour', '{verification}')$$) AS negative_field;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '3 years 1 day', '{verification}')$$) AS beyond_max_retention;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '1 day', '{Border Control}')$$) AS bad_purpose;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '1 day', '{}')$$) AS no_purpose;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '1 day', '{verification,NULL}')$$) AS null_purpose;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '1 day', '{verification}', 'keep')$$) AS bad_on_expiry;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '1 day', '{verification}', 'NULL')$$) AS upper_case_null;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_notnull', 'tpl', '1 day', '{verification}', 'null')$$) AS null_on_not_null;
-- nothing was registered by the refusals
SELECT count(*) AS policies FROM biocrypt.columns;

-- the maximum itself is allowed; a dropped column or table takes its policy
-- with it
CREATE TABLE ret_scratch (id int, t1 protected_template, t2 protected_template);
SELECT biocrypt.protect_column('ret_scratch', 't1', '3 years', '{verification}');
SELECT biocrypt.protect_column('ret_scratch', 't2', '1 day', '{verification}', 'null');
SELECT relation, column_name, retention FROM biocrypt.columns ORDER BY 2;
ALTER TABLE ret_scratch DROP COLUMN t2;
SELECT relation, column_name, retention FROM biocrypt.columns ORDER BY 2;
DROP TABLE ret_scratch;
SELECT count(*) AS policies FROM biocrypt.columns;

-- register, then register again: the policy is replaced, the trigger stays one
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.protect_column('ret_a', 'tpl', '1 day', '{verification}', 'null');
SELECT relation, column_name, purposes, retention, on_expiry, max_retention
FROM biocrypt.retention_schedule;
SELECT registered_at AS registered1 FROM biocrypt.columns \gset
SELECT biocrypt.protect_column('ret_a', 'tpl', '60 days', '{access_control,verification}');
SELECT biocrypt.protect_column('ret_iris', 'code', '60 days', '{verification}', 'null');
SELECT biocrypt.protect_column('ret_b', 'tpl', '60 days', '{verification}', 'delete');
SELECT relation, column_name, purposes, retention, on_expiry, max_retention,
	registered_at > :'registered1' AS registered_later
FROM biocrypt.retention_schedule;
SELECT relation, column_name, registered_by = session_user AS by_session_user FROM biocrypt.columns ORDER BY relation::text;
SELECT tgrelid::regclass AS tbl, tgname, tgfoid::regproc AS function, tgtype
FROM pg_trigger WHERE tgname = 'biocrypt_column_policy' ORDER BY tgrelid::regclass::text;
SELECT operation, relation, col, compared, outcome FROM pg_temp.audit_since(:start)
WHERE operation = 'policy';

--
-- 2. the policy trigger
--
-- retain_until and purposes left NULL take the policy's
INSERT INTO ret_a VALUES (1, biocrypt.protect('{0,1,0}', 'live-1'));
SELECT biocrypt.expires_at(tpl) - biocrypt.created_at(tpl) AS kept_for,
	biocrypt.purposes_of(tpl) AS purposes
FROM ret_a WHERE id = 1;
-- explicit values inside the policy are kept; a NULL one still defaults
SELECT clock_timestamp() + interval '10 days' AS until \gset
INSERT INTO ret_a VALUES (2, biocrypt.protect('{0,1,1}', 'live-2', :'until', '{verification}'));
INSERT INTO ret_a VALUES (3, biocrypt.protect('{1,0,1}', 'live-3', NULL, '{verification}'));
INSERT INTO ret_a VALUES (4, biocrypt.protect('{1,1,1}', 'live-4', :'until', NULL));
SELECT id, biocrypt.expires_at(tpl) = :'until' AS expires_as_asked,
	biocrypt.expires_at(tpl) - biocrypt.created_at(tpl) = interval '60 days' AS policy_retention,
	biocrypt.purposes_of(tpl) AS purposes
FROM ret_a WHERE id IN (2, 3, 4) ORDER BY id;
DELETE FROM ret_a WHERE id = 4;
-- outside the policy: too long, or a purpose the policy does not allow;
-- explicit labels are checked whether or not the other one defaulted
SELECT pg_temp.err($$INSERT INTO ret_a VALUES (9, biocrypt.protect('{1,0,0}', 'x', now() + interval '61 days', '{verification}'))$$) AS too_long;
SELECT pg_temp.err($$INSERT INTO ret_a VALUES (9, biocrypt.protect('{1,0,0}', 'x', now() + interval '61 days'))$$) AS too_long_default_purposes;
SELECT pg_temp.err($$INSERT INTO ret_a VALUES (9, biocrypt.protect('{1,0,0}', 'x', NULL, '{payment}'))$$) AS bad_purpose;
SELECT pg_temp.err($$INSERT INTO ret_a VALUES (9, biocrypt.protect('{1,0,0}', 'x', NULL, '{verification,payment}'))$$) AS one_bad_purpose;
SELECT pg_temp.err($$INSERT INTO ret_iris VALUES (9, biocrypt.protect_bits('\x00ff'::bytea, NULL, 'x', now() + interval '61 days'))$$) AS bits_too_long;
-- many rows in one statement, each sealed and re-sealed
INSERT INTO ret_a SELECT 100 + i, biocrypt.protect('{0,0,1}', 'bulk-' || i)
	FROM generate_series(1, 50) i;
SELECT count(*) AS bulk,
	count(*) FILTER (WHERE biocrypt.expires_at(tpl) - biocrypt.created_at(tpl) = interval '60 days') AS policy_retention,
	count(*) FILTER (WHERE biocrypt.purposes_of(tpl) = '{access_control,verification}') AS policy_purposes,
	count(DISTINCT tpl::text) AS distinct_templates
FROM ret_a WHERE id > 100;
-- protect_bits too
INSERT INTO ret_iris VALUES (1, biocrypt.protect_bits('\xf0f0f0f0f0f0f0f0'::bytea, NULL, 'live-2'));
SELECT biocrypt.expires_at(code) - biocrypt.created_at(code) AS kept_for,
	biocrypt.purposes_of(code) AS purposes, biocrypt.format_of(code) AS format
FROM ret_iris;
-- biocrypt.max_retention caps the policy's retention of a new template
SET biocrypt.max_retention = '10 days';
INSERT INTO ret_b VALUES (99, biocrypt.protect('{1,2,3}', 'capped'));
RESET biocrypt.max_retention;
SELECT biocrypt.expires_at(tpl) - biocrypt.created_at(tpl) AS kept_for FROM ret_b WHERE id = 99;
DELETE FROM ret_b WHERE id = 99;

-- an existing template copied into a policy column must fit it as it is:
-- only templates sealed with defaults in the same transaction are re-sealed
INSERT INTO ret_free VALUES
	(1, biocrypt.protect('{0,1,1}', 'live-2', now() + interval '10 days', '{verification}')),
	(2, biocrypt.protect('{0,1,1}', 'live-2')),
	(3, biocrypt.protect('{0,1,1}', 'live-2', now() + interval '10 days', '{payment,verification}'));
SELECT id, biocrypt.expires_at(tpl) - biocrypt.created_at(tpl) > interval '60 days' AS beyond_policy,
	biocrypt.purposes_of(tpl) AS purposes
FROM ret_free ORDER BY id;
SELECT pg_temp.err($$INSERT INTO ret_b SELECT id, tpl FROM ret_free WHERE id = 2$$) AS copy_default_year;
SELECT pg_temp.err($$INSERT INTO ret_b SELECT id, tpl FROM ret_free WHERE id = 3$$) AS copy_bad_purpose;
INSERT INTO ret_b SELECT id, tpl FROM ret_free WHERE id = 1;
SELECT b.tpl::text = f.tpl::text AS copied_unchanged FROM ret_b b JOIN ret_free f USING (id);

-- updates: a shorter policy does not block updates of other columns, nor a
-- template written back unchanged; a new expiry must fit it
SELECT biocrypt.protect_column('ret_a', 'tpl', '7 days', '{access_control,verification}');
UPDATE ret_a SET id = id WHERE id = 1;
UPDATE ret_a SET tpl = tpl WHERE id = 1;
SELECT pg_temp.err($$UPDATE ret_a SET tpl = biocrypt.touch(tpl, now() + interval '8 days') WHERE id = 1$$) AS touch_beyond_shorter_policy;
SELECT biocrypt.protect_column('ret_a', 'tpl', '60 days', '{access_control,verification}');
SELECT pg_temp.err($$UPDATE ret_a SET tpl = (SELECT tpl FROM ret_free WHERE id = 3) WHERE id = 1$$) AS replace_bad_purpose;

--
-- 3. epochs: the UTC month of the expiry, whatever the session time zone
--
-- boundary: the start of a UTC month a year ahead.  In New York that instant
-- is still the previous month; in Tokyo the microsecond before it is already
-- the month of the boundary.  Neither matters.
SELECT date_trunc('month', now()) + interval '1 year' AS boundary \gset
CREATE TEMP TABLE ret_tz (zone text, label text, tpl protected_template);
SET TimeZone = 'America/New_York';
INSERT INTO ret_tz SELECT current_setting('TimeZone'), l, biocrypt.protect('{1,2}', 'tz', u, '{verification}')
	FROM (VALUES ('last microsecond', :'boundary'::timestamptz - interval '1 microsecond'),
		('boundary', :'boundary'::timestamptz)) v(l, u);
-- (on the local calendar, neither expiry is on the first of a month)
SELECT label, extract(day FROM biocrypt.expires_at(tpl)) = 1 AS local_first_of_month
FROM ret_tz WHERE zone = current_setting('TimeZone') ORDER BY label DESC;
SET TimeZone = 'Asia/Tokyo';
INSERT INTO ret_tz SELECT current_setting('TimeZone'), l, biocrypt.protect('{1,2}', 'tz', u, '{verification}')
	FROM (VALUES ('last microsecond', :'boundary'::timestamptz - interval '1 microsecond'),
		('boundary', :'boundary'::timestamptz)) v(l, u);
-- (on the local calendar, both are)
SELECT label, extract(day FROM biocrypt.expires_at(tpl)) = 1 AS local_first_of_month
FROM ret_tz WHERE zone = current_setting('TimeZone') ORDER BY label DESC;
SET TimeZone = 'UTC';
SELECT t.zone, t.label,
	biocrypt.expires_at(t.tpl) - :'boundary'::timestamptz AS from_boundary,
	k.epoch = (:'boundary'::timestamptz AT TIME ZONE 'UTC')::date
		- CASE t.label WHEN 'boundary' THEN interval '0' ELSE interval '1 month' END AS expected_epoch,
	to_char(k.epoch, 'DD') AS epoch_day
FROM ret_tz t JOIN biocrypt.keys k ON k.id = biocrypt.key_id_of(t.tpl)
ORDER BY t.zone, t.label DESC;
-- the same instant from both zones: equal expiries, the same key
SELECT label, count(DISTINCT biocrypt.expires_at(tpl)) AS expiries,
	count(DISTINCT biocrypt.key_id_of(tpl)) AS keys
FROM ret_tz GROUP BY label ORDER BY label;

--
-- 4. rewrap_keys needs a new root key
--
SELECT pg_temp.err('SELECT biocrypt.rewrap_keys()') AS rewrap;

--
-- 5. touch
--
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.created_at(tpl) AS created1 FROM ret_a WHERE id = 1 \gset
SELECT now() + interval '50 days' AS until \gset
UPDATE ret_a SET tpl = biocrypt.touch(tpl, :'until') WHERE id = 1;
SELECT biocrypt.expires_at(tpl) = :'until' AS extended, biocrypt.created_at(tpl) = :'created1' AS same_created,
	biocrypt.subject_of(tpl) AS subject, biocrypt.purposes_of(tpl) AS purposes,
	round((tpl <-> '{0,1,0}')::numeric, 6) AS l2
FROM ret_a WHERE id = 1;
-- several rows in one statement: one retain event
UPDATE ret_a SET tpl = biocrypt.touch(tpl, :'until') WHERE id BETWEEN 101 AND 105;
-- the BIPA pattern: extend retention on a successful verification only
UPDATE ret_a SET tpl = biocrypt.touch(tpl, :'until')
	WHERE id = 2 AND biocrypt.verify(tpl, '{0,2,2}', 0.01);
UPDATE ret_a SET tpl = biocrypt.touch(tpl, :'until')
	WHERE id = 3 AND biocrypt.verify(tpl, '{0,2,2}', 0.01);
SELECT id, biocrypt.expires_at(tpl) = :'until' AS extended FROM ret_a WHERE id IN (2, 3) ORDER BY id;
SELECT pg_temp.err($$SELECT biocrypt.touch(tpl, now()) FROM ret_a WHERE id = 1$$) AS until_now;
SELECT pg_temp.err($$SELECT biocrypt.touch(tpl, now() - interval '1 day') FROM ret_a WHERE id = 1$$) AS until_past;
SET biocrypt.max_retention = '1 day';
SELECT pg_temp.err($$SELECT biocrypt.touch(tpl, now() + interval '2 days') FROM ret_a WHERE id = 1$$) AS beyond_max_from_enrolment;
RESET biocrypt.max_retention;
SELECT pg_temp.err($$SELECT biocrypt.touch(tpl, now() + interval '4 years') FROM ret_a WHERE id = 1$$) AS beyond_default_max;
-- within max_retention, but beyond the column's policy
SELECT pg_temp.err($$UPDATE ret_a SET tpl = biocrypt.touch(tpl, now() + interval '61 days') WHERE id = 1$$) AS beyond_policy;
SELECT biocrypt.expires_at(tpl) = :'until' AS unchanged FROM ret_a WHERE id = 1;
SELECT operation, relation, col, compared, outcome FROM pg_temp.audit_since(:start)
WHERE operation = 'retain';
-- verify() costs more than a key lookup: each BIPA statement decrypted one template
SELECT operation, relation, col, compared, outcome FROM pg_temp.audit_since(:start)
WHERE operation = 'verify';

RESET biocrypt.purpose;
DROP TABLE ret_a, ret_iris, ret_b, ret_free, ret_notnull, ret_part CASCADE;
SELECT count(*) AS policies_left FROM biocrypt.columns;
