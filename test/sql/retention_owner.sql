-- Retention and a table owner's changes: renames, a key destroyed in a
-- savepoint, a column turned into another type whose cast runs the
-- owner's code.
\set VERBOSITY terse
\set SHOW_CONTEXT never
-- the policy arithmetic is done in the session time zone: UTC keeps
-- "60 days" exactly 60 * 24 hours whatever the date
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';

--
-- a table owner's changes: renames, a column turned into another type
--
CREATE ROLE regress_ret_owner;
CREATE TABLE ret_own (id int, tpl protected_template);
ALTER TABLE ret_own OWNER TO regress_ret_owner;
SELECT biocrypt.protect_column('ret_own', 'tpl', '1 second', '{verification}');
INSERT INTO ret_own VALUES (1, biocrypt.protect('{1,2,3}', 'own-1'));
-- the policy follows a renamed column, and still applies
ALTER TABLE ret_own RENAME tpl TO face;
SELECT relation, column_name FROM biocrypt.columns WHERE relation = 'ret_own'::regclass;
INSERT INTO ret_own VALUES (2, biocrypt.protect('{1,2,3}', 'own-2'));
SELECT id, biocrypt.expires_at(face) - biocrypt.created_at(face) AS kept_for FROM ret_own ORDER BY id;
-- a key destroyed in a savepoint that rolls back stays usable, and does not
-- join the cluster's list of destroyed keys
SELECT biocrypt.key_id_of(face) AS own_key FROM ret_own WHERE id = 1 \gset
BEGIN;
SAVEPOINT s;
SELECT biocrypt.destroy_key(:own_key) AS destroyed_in_savepoint;
ROLLBACK TO s;
COMMIT;
SELECT state FROM biocrypt.keys WHERE id = :own_key;
SELECT biocrypt.verify(face, '{1,2,3}', 0.01) AS still_verifies FROM ret_own ORDER BY id;
-- the owner turns the column into a type whose cast runs its own code: the
-- purge and the overdue view, which read the table with the extension's
-- privileges, refuse the column instead of running that code
CREATE TYPE ret_evt AS (x int);
CREATE FUNCTION ret_evil(ret_evt) RETURNS protected_template LANGUAGE plpgsql
	AS $$ BEGIN EXECUTE 'ALTER ROLE regress_ret_owner SUPERUSER'; RETURN NULL; END $$;
CREATE CAST (ret_evt AS protected_template) WITH FUNCTION ret_evil(ret_evt) AS IMPLICIT;
ALTER FUNCTION ret_evil(ret_evt) OWNER TO regress_ret_owner;
ALTER TABLE ret_own DISABLE TRIGGER biocrypt_column_policy;
ALTER TABLE ret_own DISABLE TRIGGER biocrypt_column_policy_check;
ALTER TABLE ret_own ALTER face TYPE ret_evt USING NULL;
INSERT INTO ret_own VALUES (3, row(1));
SELECT pg_sleep(1.1);
SELECT biocrypt.purge_expired() AS purged;
SELECT count(*) AS listed FROM biocrypt.overdue WHERE relation = 'ret_own'::regclass;
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_ret_owner';
SELECT operation, relation, column_name, outcome, sqlstate FROM biocrypt.audit_log
WHERE operation = 'purge' AND relation = 'ret_own'::regclass ORDER BY id DESC LIMIT 1;
DROP TABLE ret_own;
DROP CAST (ret_evt AS protected_template);
DROP FUNCTION ret_evil(ret_evt);
DROP TYPE ret_evt;
DROP ROLE regress_ret_owner;

RESET biocrypt.purpose;
