-- Retention over time: crypto-shredding, templates that expire, legal
-- holds, expiry at every access path, key rotation and re-encryption, the
-- purge, erasure, and who may do each.  Short retentions are one second
-- (1.4 s of sleep in all); times, key ids and audit ids vary per run and
-- are shown only as facts about them (differences, comparisons, counts).
-- pg_temp.err() shows errors as "SQLSTATE: message" only
\set err_detail off
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
-- the policy arithmetic is done in the session time zone: UTC keeps
-- "60 days" exactly 60 * 24 hours whatever the date
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';

-- the same, with numbers (key ids) in the message and detail shown as N
CREATE FUNCTION pg_temp.err_n(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	d text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM
		|| CASE WHEN d <> '' THEN ' DETAIL: ' || d ELSE '' END, '[0-9]+', 'N', 'g');
END $$;

CREATE ROLE regress_ret_matcher NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_ret_enroller NOLOGIN IN ROLE biocrypt_enroller;
CREATE ROLE regress_ret_auditor NOLOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_ret_admin NOLOGIN IN ROLE biocrypt_admin;

-- the tables and templates retention_policy leaves behind: ret_a:
-- embeddings, rows deleted on expiry; ret_iris: bit codes, column nulled
-- on expiry; ret_b: a copy target; ret_free: not registered
CREATE TABLE ret_a (id int, tpl protected_template);
CREATE TABLE ret_iris (id int, code protected_template);
CREATE TABLE ret_b (id int, tpl protected_template);
CREATE TABLE ret_free (id int, tpl protected_template);
SELECT biocrypt.protect_column('ret_a', 'tpl', '60 days', '{access_control,verification}');
SELECT biocrypt.protect_column('ret_iris', 'code', '60 days', '{verification}', 'null');
SELECT biocrypt.protect_column('ret_b', 'tpl', '60 days', '{verification}', 'delete');
INSERT INTO ret_a VALUES (1, biocrypt.protect('{0,1,0}', 'live-1'));
SELECT clock_timestamp() + interval '10 days' AS until \gset
INSERT INTO ret_a VALUES (2, biocrypt.protect('{0,1,1}', 'live-2', :'until', '{verification}'));
INSERT INTO ret_a VALUES (3, biocrypt.protect('{1,0,1}', 'live-3', NULL, '{verification}'));
INSERT INTO ret_a SELECT 100 + i, biocrypt.protect('{0,0,1}', 'bulk-' || i)
	FROM generate_series(1, 50) i;
INSERT INTO ret_iris VALUES (1, biocrypt.protect_bits('\xf0f0f0f0f0f0f0f0'::bytea, NULL, 'live-2'));
INSERT INTO ret_free VALUES
	(1, biocrypt.protect('{0,1,1}', 'live-2', now() + interval '10 days', '{verification}')),
	(2, biocrypt.protect('{0,1,1}', 'live-2')),
	(3, biocrypt.protect('{0,1,1}', 'live-2', now() + interval '10 days', '{payment,verification}'));
INSERT INTO ret_b SELECT id, tpl FROM ret_free WHERE id = 1;

--
-- 1. crypto-shredding by hand
--
SELECT count(*) AS active FROM biocrypt.keys WHERE state = 'active' \gset
SELECT biocrypt.rotate_key() = :active AS every_active_key_retired;
-- the only template sealed before the next rotation: its key is its own
INSERT INTO ret_free VALUES (5, biocrypt.protect('{1,2,3}', 'shred-1', now() + interval '2 years', '{verification}'));
SELECT biocrypt.key_id_of(tpl) AS k0 FROM ret_free WHERE id = 5 \gset
SELECT biocrypt.rotate_key() AS retired_just_k0;
SELECT state FROM biocrypt.keys WHERE id = :k0;
-- (the key is in this backend's cache now)
SELECT biocrypt.verify(tpl, '{1,2,3}', 0.01) AS verified FROM ret_free WHERE id = 5;
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.destroy_key(:k0) AS destroyed;
SELECT biocrypt.destroy_key(:k0) AS destroyed_again;
SELECT pg_temp.err('SELECT biocrypt.destroy_key(0)') AS key_0;
SELECT pg_temp.err('SELECT biocrypt.destroy_key(2147483647)') AS unknown_key;
SELECT biocrypt.destroy_key(NULL) AS null_key;
SELECT state, wrapped IS NULL AS wrapped_erased, destroyed_at IS NOT NULL AS has_destroyed_at
FROM biocrypt.keys WHERE id = :k0;
SELECT pg_temp.err_n($$SELECT biocrypt.verify(tpl, '{1,2,3}', 0.01) FROM ret_free WHERE id = 5$$) AS verify;
SELECT pg_temp.err_n($$SELECT tpl <-> '{1,2,3}' FROM ret_free WHERE id = 5$$) AS l2;
SELECT pg_temp.err_n($$SELECT biocrypt.touch(tpl, now() + interval '1 day') FROM ret_free WHERE id = 5$$) AS touch;
SET biocrypt.allow_reveal = on;
SELECT pg_temp.err_n($$SELECT biocrypt.reveal(tpl) FROM ret_free WHERE id = 5$$) AS reveal;
RESET biocrypt.allow_reveal;
-- the message names the key
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{1,2,3}', 0.01) FROM ret_free WHERE id = 5$$)
	= '55000: biocrypt: data key ' || :k0 || ' has been destroyed' AS names_the_key;
-- one destroy event for the call that destroyed it
SELECT operation, relation, col, compared, outcome,
	(matches->0->>'key_id')::int = :k0 AS key_id,
	matches->0->>'epoch' = (SELECT epoch::text FROM biocrypt.keys WHERE id = :k0) AS epoch
FROM pg_temp.audit_since(:start) WHERE operation = 'destroy';

--
-- 2. templates that expire: one second, sealed under keys of their own
--
SELECT count(*) AS active FROM biocrypt.keys WHERE state = 'active' \gset
SELECT biocrypt.rotate_key() = :active AS every_active_key_retired;
INSERT INTO ret_a VALUES
	(11, biocrypt.protect('{1,0,0}', 'exp-1', clock_timestamp() + interval '1 second', '{verification}')),
	(12, biocrypt.protect('{0,1,0}', 'exp-2', clock_timestamp() + interval '1 second', '{verification}'));
INSERT INTO ret_iris VALUES
	(11, biocrypt.protect_bits('\x0f0f0f0f0f0f0f0f'::bytea, NULL, 'exp-i', clock_timestamp() + interval '1 second', '{verification}'));
INSERT INTO ret_free VALUES
	(4, biocrypt.protect('{1,0,0}', 'exp-f', clock_timestamp() + interval '1 second', '{verification}'));
SELECT biocrypt.rotate_key() AS retired;
INSERT INTO ret_a VALUES
	(13, biocrypt.protect('{1,1,0}', 'held-1', clock_timestamp() + interval '1 second', '{verification}'));
INSERT INTO ret_iris VALUES
	(13, biocrypt.protect_bits('\xffffffff00000000'::bytea, NULL, 'held-1', clock_timestamp() + interval '1 second', '{verification}'));
SELECT biocrypt.key_id_of(tpl) AS k1 FROM ret_a WHERE id = 11 \gset
SELECT biocrypt.key_id_of(tpl) AS k2 FROM ret_a WHERE id = 13 \gset
SELECT :k1 <> :k2 AS two_keys,
	(SELECT bool_and(biocrypt.key_id_of(tpl) = :k1) FROM ret_a WHERE id IN (11, 12)) AND
	(SELECT bool_and(biocrypt.key_id_of(code) = :k1) FROM ret_iris WHERE id = 11) AND
	(SELECT bool_and(biocrypt.key_id_of(tpl) = :k1) FROM ret_free WHERE id = 4) AS expiring_under_k1,
	(SELECT bool_and(biocrypt.key_id_of(tpl) = :k2) FROM ret_a WHERE id = 13) AND
	(SELECT bool_and(biocrypt.key_id_of(code) = :k2) FROM ret_iris WHERE id = 13) AS held_under_k2;

-- legal holds
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.hold('held-1', 'litigation 42') AS held;
SELECT biocrypt.hold('held-1', 'another reason') AS held_again;
SELECT biocrypt.hold('nobody', 'audit') AS held_nobody;
SELECT biocrypt.release_hold('nobody') AS released;
SELECT biocrypt.release_hold('nobody') AS released_again;
SELECT pg_temp.err($$SELECT biocrypt.hold(NULL, 'r')$$) AS null_subject;
SELECT pg_temp.err($$SELECT biocrypt.hold('', 'r')$$) AS empty_subject;
SELECT pg_temp.err($$SELECT biocrypt.hold('s', NULL)$$) AS null_reason;
SELECT pg_temp.err($$SELECT biocrypt.hold('s', '')$$) AS empty_reason;
SELECT pg_temp.err($$SELECT biocrypt.release_hold(NULL)$$) AS release_null;
SELECT pg_temp.err($$SELECT biocrypt.release_hold('')$$) AS release_empty;
SELECT subject, reason, held_by = session_user AS by_session_user FROM biocrypt.holds;
SELECT operation, relation, col, compared, matches, outcome FROM pg_temp.audit_since(:start)
WHERE operation = 'hold';

-- wait until all of them have expired
SELECT pg_sleep(1.1);

--
-- 3. expired templates are never decrypted
--
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT id, biocrypt.subject_of(tpl) AS subject,
	tpl <-> '{1,0,0}' IS NULL AS l2_null,
	tpl <=> '{1,0,0}' IS NULL AS cosine_null,
	tpl <#> '{1,0,0}' IS NULL AS ip_null,
	biocrypt.verify(tpl, '{1,0,0}', 2.0, 'l2') AS verified
FROM ret_a WHERE id IN (1, 11, 12, 13) ORDER BY id;
-- identify skips them, even exact matches
SELECT subject, round(distance::numeric, 6) AS distance
FROM biocrypt.identify('ret_a', 'tpl', '{0,1,0}'::real[], 10, 0.5);
SELECT subject, round(distance::numeric, 6) AS distance
FROM biocrypt.identify('ret_a', 'tpl', '{1,0,0}'::real[], 10, 0.5);
-- bit codes
SELECT id, biocrypt.subject_of(code) AS subject,
	biocrypt.iris_distance(code, '\x0f0f0f0f0f0f0f0f'::bytea) AS iris,
	code <~> '\x0f0f0f0f0f0f0f0f'::bytea AS hamming
FROM ret_iris ORDER BY id;
SELECT * FROM biocrypt.identify('ret_iris', 'code', '\x0f0f0f0f0f0f0f0f'::bytea);
SELECT operation, relation, col, compared, expired, outcome FROM pg_temp.audit_since(:start);
-- reveal and touch refuse them
SET biocrypt.allow_reveal = on;
SELECT biocrypt.reveal(tpl) FROM ret_a WHERE id = 1;
SELECT pg_temp.err($$SELECT biocrypt.reveal(tpl) FROM ret_a WHERE id = 11$$) AS reveal;
SELECT pg_temp.err($$SELECT biocrypt.reveal_bits(code) FROM ret_iris WHERE id = 11$$) AS reveal_bits;
RESET biocrypt.allow_reveal;
SELECT pg_temp.err($$SELECT biocrypt.touch(tpl, now() + interval '1 day') FROM ret_a WHERE id = 11$$) AS touch;
-- with biocrypt.on_expired = error, comparisons refuse them
SET biocrypt.on_expired = error;
SELECT pg_temp.err($$SELECT tpl <-> '{1,0,0}' FROM ret_a WHERE id = 11$$) AS l2;
SELECT pg_temp.err($$SELECT tpl <=> '{1,0,0}' FROM ret_a WHERE id = 11$$) AS cosine;
SELECT pg_temp.err($$SELECT tpl <#> '{1,0,0}' FROM ret_a WHERE id = 11$$) AS ip;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{1,0,0}', 0.1) FROM ret_a WHERE id = 11$$) AS verify;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('ret_a', 'tpl', '{1,0,0}'::real[])$$) AS identify;
SELECT pg_temp.err($$SELECT code <~> '\x0f0f0f0f0f0f0f0f'::bytea FROM ret_iris WHERE id = 11$$) AS hamming;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(code, '\x0f0f0f0f0f0f0f0f'::bytea) FROM ret_iris WHERE id = 11$$) AS iris;
-- live templates still compare
SELECT round((tpl <-> '{1,0,0}')::numeric, 6) AS live_l2 FROM ret_a WHERE id = 1;
RESET biocrypt.on_expired;

--
-- 4. rotation and re-encryption
--
-- distances and keys before
CREATE TEMP TABLE ret_before AS
	SELECT id, biocrypt.key_id_of(tpl) AS key_id, tpl <-> '{1,2,3}' AS l2,
		tpl <=> '{1,2,3}' AS cosine, tpl <#> '{1,2,3}' AS ip
	FROM ret_a;
SELECT count(*) AS active FROM biocrypt.keys WHERE state = 'active' \gset
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.rotate_key() = :active AS every_active_key_retired;
SELECT count(*) AS active_keys FROM biocrypt.keys WHERE state = 'active';
SELECT pg_temp.err($$SELECT biocrypt.reencrypt('ret_a', 'tpl', 0)$$) AS max_rows_0;
SELECT pg_temp.err($$SELECT biocrypt.reencrypt('ret_a', 'tpl', -1)$$) AS max_rows_negative;
SELECT pg_temp.err($$SELECT biocrypt.reencrypt('ret_a', 'id')$$) AS not_a_template;
SELECT pg_temp.err($$SELECT biocrypt.reencrypt('ret_a', NULL)$$) AS null_column;
-- in batches: each call resumes where the last stopped; a policy shortened
-- meanwhile does not block re-sealing with the same expiry and purposes
SELECT biocrypt.protect_column('ret_a', 'tpl', '7 days', '{access_control,verification}');
SELECT biocrypt.reencrypt('ret_a', 'tpl', 2) AS moved;
SELECT biocrypt.reencrypt('ret_a', 'tpl', 2) AS moved;
SELECT biocrypt.reencrypt('ret_a', 'tpl') AS moved;
SELECT biocrypt.reencrypt('ret_a', 'tpl') AS moved;
SELECT biocrypt.protect_column('ret_a', 'tpl', '60 days', '{access_control,verification}');
-- every live template moved to an active key; expired ones stayed
SELECT biocrypt.expires_at(a.tpl) > now() AS live, count(*) AS templates,
	count(*) FILTER (WHERE biocrypt.key_id_of(a.tpl) <> b.key_id) AS moved,
	count(*) FILTER (WHERE k.state = 'active') AS under_active_key,
	count(*) FILTER (WHERE k.epoch = date_trunc('month', biocrypt.expires_at(a.tpl) AT TIME ZONE 'UTC')) AS epoch_of_expiry
FROM ret_a a JOIN ret_before b USING (id) JOIN biocrypt.keys k ON k.id = biocrypt.key_id_of(a.tpl)
GROUP BY 1 ORDER BY 1;
SELECT (SELECT biocrypt.key_id_of(tpl) FROM ret_a WHERE id = 11) = :k1 AS exp_still_k1,
	(SELECT biocrypt.key_id_of(tpl) FROM ret_a WHERE id = 13) = :k2 AS held_still_k2;
-- the same templates: the same distances, and they still verify
SELECT count(*) AS compared,
	count(*) FILTER (WHERE a.tpl <-> '{1,2,3}' IS DISTINCT FROM b.l2
		OR a.tpl <=> '{1,2,3}' IS DISTINCT FROM b.cosine
		OR a.tpl <#> '{1,2,3}' IS DISTINCT FROM b.ip) AS different
FROM ret_a a JOIN ret_before b USING (id);
SELECT count(*) AS verified FROM ret_a WHERE biocrypt.verify(tpl, '{0,0,7}', 0.0001);
-- the other tables: the expired and the destroyed-key templates stay put
SELECT biocrypt.reencrypt('ret_iris', 'code') AS moved_iris;
SELECT biocrypt.reencrypt('ret_free', 'tpl') AS moved_free;
SELECT f.id, k.state FROM ret_free f JOIN biocrypt.keys k ON k.id = biocrypt.key_id_of(f.tpl) ORDER BY id;
SELECT operation, relation, col, compared, matches->0->>'action' AS action, outcome
FROM pg_temp.audit_since(:start) WHERE operation = 'rotate';

--
-- 5. the purge, holds and automatic crypto-shredding
--
-- overdue lists what has expired, in registered tables and others alike;
-- the held subject is marked
SELECT relation, column_name, subject, expired_at <= now() AS expired, held
FROM biocrypt.overdue ORDER BY relation::text, subject;
-- a held subject cannot be erased
SELECT pg_temp.err($$SELECT biocrypt.erase_subject('held-1')$$) AS erase_held;
-- Simulate the passage of time: the months of k1 and k2 end only after
-- their templates expired, so move their epochs back two months (the key
-- ring is writable by superusers).
UPDATE biocrypt.keys SET epoch = epoch - interval '2 months' WHERE id IN (:k1, :k2);
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.purge_expired() AS purged;
-- delete removed the rows, null emptied the column; live and held stay
SELECT id, biocrypt.subject_of(tpl) AS subject FROM ret_a WHERE id < 100 ORDER BY id;
SELECT count(*) AS bulk FROM ret_a WHERE id > 100;
SELECT id, biocrypt.subject_of(code) AS subject FROM ret_iris ORDER BY id;
SELECT id, biocrypt.subject_of(tpl) AS subject FROM ret_b ORDER BY id;
-- an unregistered table is not purged
SELECT id, biocrypt.subject_of(tpl) AS subject FROM ret_free ORDER BY id;
-- only held templates, and the unregistered table's (which no purge
-- removes), are overdue now
SELECT relation, column_name, subject, held FROM biocrypt.overdue ORDER BY relation::text;
-- k1 is destroyed: no registered template uses it; k2 is kept for the held ones
SELECT id = :k1 AS is_k1, state, wrapped IS NULL AS wrapped_erased
FROM biocrypt.keys WHERE id IN (:k1, :k2) ORDER BY id;
SELECT operation, relation, col, compared, matches, outcome FROM pg_temp.audit_since(:start)
WHERE operation = 'purge';
SELECT operation, relation, (matches->0->>'key_id')::int = :k1 AS k1
FROM pg_temp.audit_since(:start) WHERE operation = 'destroy';
-- releasing the hold: the next purge removes the templates and the key
SELECT biocrypt.release_hold('held-1') AS released;
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.purge_expired() AS purged;
SELECT count(*) AS held_rows FROM ret_a WHERE biocrypt.subject_of(tpl) = 'held-1';
SELECT id, biocrypt.subject_of(code) AS subject FROM ret_iris ORDER BY id;
-- only the unregistered table's expired template is left
SELECT relation, subject FROM biocrypt.overdue;
SELECT id = :k1 AS is_k1, state FROM biocrypt.keys WHERE id IN (:k1, :k2) ORDER BY id;
SELECT operation, relation, col, compared, matches, outcome FROM pg_temp.audit_since(:start)
WHERE operation = 'purge';
SELECT operation, relation, (matches->0->>'key_id')::int = :k2 AS k2
FROM pg_temp.audit_since(:start) WHERE operation = 'destroy';
-- nothing left to do
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.purge_expired() AS purged_again;
SELECT operation, count(*) AS events, sum(compared) AS templates FROM pg_temp.audit_since(:start)
GROUP BY operation ORDER BY operation;

--
-- 6. erasure
--
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.erase_subject('live-2') AS erased;
SELECT count(*) AS left_in_a FROM ret_a WHERE biocrypt.subject_of(tpl) = 'live-2';
SELECT id, biocrypt.subject_of(code) AS subject FROM ret_iris ORDER BY id;
SELECT count(*) AS rows_b FROM ret_b;
-- not registered: untouched
SELECT count(*) AS left_in_free FROM ret_free WHERE biocrypt.subject_of(tpl) = 'live-2';
SELECT biocrypt.erase_subject('nobody') AS erased_nobody;
SELECT pg_temp.err($$SELECT biocrypt.erase_subject(NULL)$$) AS null_subject;
SELECT pg_temp.err($$SELECT biocrypt.erase_subject('')$$) AS empty_subject;
SELECT operation, relation, col, compared, matches, outcome FROM pg_temp.audit_since(:start)
WHERE operation = 'erase';

--
-- 7. privileges
--
GRANT SELECT, INSERT, UPDATE ON ret_a TO regress_ret_enroller;
GRANT SELECT ON ret_a TO regress_ret_matcher;
SET ROLE regress_ret_matcher;
SELECT pg_temp.err($$SELECT biocrypt.purge_expired()$$) AS purge;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('ret_a', 'tpl', '1 day', '{verification}')$$) AS protect_column;
SELECT pg_temp.err($$SELECT biocrypt.hold('live-1', 'r')$$) AS hold;
SELECT pg_temp.err($$SELECT biocrypt.release_hold('live-1')$$) AS release_hold;
SELECT pg_temp.err($$SELECT biocrypt.erase_subject('live-1')$$) AS erase_subject;
SELECT pg_temp.err($$SELECT biocrypt.destroy_key(1)$$) AS destroy_key;
SELECT pg_temp.err($$SELECT biocrypt.rotate_key()$$) AS rotate_key;
SELECT pg_temp.err($$SELECT biocrypt.reencrypt('ret_a', 'tpl')$$) AS reencrypt;
SELECT pg_temp.err($$SELECT biocrypt.touch(tpl, now() + interval '1 day') FROM ret_a WHERE id = 1$$) AS touch;
SELECT pg_temp.err($$SELECT count(*) FROM biocrypt.overdue$$) AS overdue;
SELECT relation, column_name, retention FROM biocrypt.retention_schedule;
RESET ROLE;
-- the enroller extends retention and enrols under the policy
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SET ROLE regress_ret_enroller;
UPDATE ret_a SET tpl = biocrypt.touch(tpl, now() + interval '30 days') WHERE id = 1;
INSERT INTO ret_a VALUES (20, biocrypt.protect('{3,2,1}', 'enrolled'));
SELECT biocrypt.expires_at(tpl) - biocrypt.created_at(tpl) AS kept_for,
	biocrypt.purposes_of(tpl) AS purposes FROM ret_a WHERE id = 20;
SELECT pg_temp.err($$UPDATE ret_a SET tpl = biocrypt.touch(tpl, now() + interval '90 days') WHERE id = 1$$) AS beyond_policy;
SELECT pg_temp.err($$SELECT biocrypt.purge_expired()$$) AS purge;
RESET ROLE;
SELECT operation, relation, effective_role, templates_compared AS compared, outcome
FROM biocrypt.audit_log WHERE id > :start AND operation IN ('retain', 'protect') ORDER BY id;
-- the auditor reads the schedule and what is overdue
INSERT INTO ret_a VALUES (21, biocrypt.protect('{1,0,0}', 'exp-3', clock_timestamp() + interval '0.2 seconds', '{verification}'));
SELECT pg_sleep(0.3);
SET ROLE regress_ret_auditor;
SELECT relation, column_name, subject, held FROM biocrypt.overdue;
SELECT relation, column_name, purposes, retention, on_expiry FROM biocrypt.retention_schedule;
SELECT pg_temp.err($$SELECT biocrypt.purge_expired()$$) AS purge;
RESET ROLE;
-- an admin that is not a superuser runs the retention functions
SET ROLE regress_ret_admin;
SELECT biocrypt.hold('live-1', 'admin test') AS held, biocrypt.release_hold('live-1') AS released;
SELECT biocrypt.purge_expired() AS purged;
RESET ROLE;

RESET biocrypt.purpose;
DROP TABLE ret_a, ret_iris, ret_b, ret_free CASCADE;
SELECT count(*) AS policies_left FROM biocrypt.columns;
DROP ROLE regress_ret_matcher, regress_ret_enroller, regress_ret_auditor, regress_ret_admin;
