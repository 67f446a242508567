-- The audit guard keys on identity: an object of extension biocrypt (a
-- member in pg_depend, or an index, trigger, rule, policy, column, child or
-- partition of a member relation) is not changed or removed by DDL, by
-- whatever name the statement reaches it, unless a superuser allows
-- maintenance; the command is then recorded before it runs.  Ordinary
-- statements on the log (GRANT, COMMENT, VACUUM) and DDL on look-alikes
-- elsewhere still work.
-- pg_temp.err() shows errors as "SQLSTATE: message" only
\set err_detail off
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql

CREATE ROLE regress_guard_owner NOLOGIN;
CREATE SCHEMA regress_guard;
CREATE TABLE regress_guard.audit_log (id bigint);
CREATE TABLE regress_guard.parted (id bigint) PARTITION BY RANGE (id);
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset

-- finding 1: rename the schema, then reach the log by its new name
SELECT pg_temp.err('ALTER SCHEMA biocrypt RENAME TO regress_x');
SELECT pg_temp.err('ALTER SCHEMA biocrypt OWNER TO regress_guard_owner');
-- (renamed with maintenance inside a transaction that is rolled back)
BEGIN;
SET LOCAL biocrypt.allow_audit_maintenance = on;
ALTER SCHEMA biocrypt RENAME TO regress_x;
SET LOCAL biocrypt.allow_audit_maintenance = off;
SELECT count(*) > 0 AS has_rows FROM regress_x.audit_log;
SELECT pg_temp.err('ALTER TABLE regress_x.audit_log DISABLE TRIGGER USER');
SELECT pg_temp.err('DELETE FROM regress_x.audit_log');
SELECT pg_temp.err('TRUNCATE regress_x.audit_log');
SELECT pg_temp.err('ALTER TABLE regress_x.audit_log RENAME TO old_log');
SELECT pg_temp.err('ALTER SCHEMA regress_x RENAME TO biocrypt');
ROLLBACK;
SELECT nspname FROM pg_namespace WHERE nspname IN ('biocrypt', 'regress_x');

-- finding 2: replacing or altering the guard's functions and views
SELECT pg_temp.err($q$CREATE OR REPLACE FUNCTION biocrypt.audit_guard() RETURNS trigger
	LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'$q$);
SELECT pg_temp.err($q$CREATE OR REPLACE FUNCTION biocrypt.verify_audit(OUT ok boolean,
	OUT rows_checked bigint, OUT first_bad_id bigint)
	LANGUAGE sql AS 'SELECT true, 0::bigint, NULL::bigint'$q$);
SELECT pg_temp.err($q$CREATE OR REPLACE VIEW biocrypt.match_reviews AS SELECT 1 AS x$q$);
-- an unqualified name is resolved in the namespace the command creates in
SET search_path = biocrypt, public;
SELECT pg_temp.err($q$CREATE OR REPLACE FUNCTION audit_guard() RETURNS trigger
	LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'$q$);
RESET search_path;
SELECT pg_temp.err('ALTER FUNCTION biocrypt.verify_audit() OWNER TO regress_guard_owner');
SELECT pg_temp.err('ALTER FUNCTION biocrypt.verify_audit() RENAME TO verify_audit_old');
SELECT pg_temp.err('ALTER FUNCTION biocrypt.verify_audit() SECURITY DEFINER');
SELECT pg_temp.err('ALTER FUNCTION biocrypt.audit_guard() SET search_path = public');
SELECT pg_temp.err('ALTER FUNCTION biocrypt.audit_guard() SET SCHEMA public');
SELECT pg_temp.err('ALTER FUNCTION biocrypt.audit_guard() DEPENDS ON EXTENSION biocrypt');
SELECT pg_temp.err('ALTER ROUTINE biocrypt.verify_audit() OWNER TO regress_guard_owner');
SELECT pg_temp.err('DROP FUNCTION biocrypt.verify_audit()');
SELECT pg_temp.err('ALTER VIEW biocrypt.match_reviews OWNER TO regress_guard_owner');
SELECT pg_temp.err('CREATE RULE r AS ON INSERT TO biocrypt.match_reviews DO INSTEAD NOTHING');

-- finding 3: session_replication_role = replica no longer skips the triggers
SET session_replication_role = replica;
SELECT count(*) > 0 AS has_rows FROM biocrypt.audit_log;
SELECT pg_temp.err('DELETE FROM biocrypt.audit_log');
SELECT pg_temp.err('UPDATE biocrypt.audit_log SET k = 1');
SELECT pg_temp.err('TRUNCATE biocrypt.audit_log');
RESET session_replication_role;
SELECT tgname, tgenabled FROM pg_trigger
	WHERE tgrelid = 'biocrypt.audit_log'::regclass AND NOT tgisinternal ORDER BY tgname;

-- every ALTER of the log, its parts, and new kin
SELECT pg_temp.err('ALTER TABLE biocrypt.audit_log DISABLE TRIGGER USER');
SELECT pg_temp.err('ALTER TABLE biocrypt.audit_log OWNER TO regress_guard_owner');
SELECT pg_temp.err('ALTER TABLE biocrypt.audit_log SET SCHEMA regress_guard');
SELECT pg_temp.err('ALTER TABLE biocrypt.audit_log RENAME COLUMN k TO kk');
SELECT pg_temp.err('ALTER TABLE biocrypt.audit_log RENAME CONSTRAINT audit_log_pkey TO pk');
SELECT pg_temp.err('ALTER TRIGGER audit_log_append_only ON biocrypt.audit_log RENAME TO t');
SELECT pg_temp.err('CREATE TRIGGER t BEFORE INSERT ON biocrypt.audit_log FOR EACH ROW EXECUTE FUNCTION biocrypt.audit_guard()');
SELECT pg_temp.err('ALTER POLICY p ON biocrypt.audit_log USING (true)');
SELECT pg_temp.err('DROP POLICY IF EXISTS p ON biocrypt.audit_log');
SELECT pg_temp.err('CREATE INDEX ON biocrypt.audit_log (k)');
SELECT pg_temp.err('ALTER INDEX biocrypt.audit_log_open_xact RENAME TO regress_idx');
SELECT pg_temp.err('DROP INDEX biocrypt.audit_log_open_xact');
SELECT pg_temp.err('ALTER SEQUENCE biocrypt.encryption_counter RESTART');
SELECT pg_temp.err('CREATE TABLE regress_guard.child () INHERITS (biocrypt.audit_log)');
SELECT pg_temp.err('ALTER TABLE regress_guard.audit_log INHERIT biocrypt.audit_log');
SELECT pg_temp.err('ALTER TABLE regress_guard.parted ATTACH PARTITION biocrypt.audit_log FOR VALUES FROM (0) TO (10)');
SELECT pg_temp.err('TRUNCATE regress_guard.audit_log, biocrypt.audit_log');

-- other members: the type, an operator, the event trigger, the schema
SELECT pg_temp.err('ALTER TYPE protected_template OWNER TO regress_guard_owner');
SELECT pg_temp.err('ALTER TYPE protected_template RENAME TO regress_tpl');
SELECT pg_temp.err('ALTER OPERATOR <-> (protected_template, real[]) OWNER TO regress_guard_owner');
SELECT pg_temp.err('ALTER EVENT TRIGGER biocrypt_forget_dropped_columns DISABLE');
SELECT pg_temp.err('DROP SCHEMA biocrypt CASCADE');
-- the extension, and the schema it lives in (CASCADE would take it along)
SELECT pg_temp.err('ALTER EXTENSION biocrypt DROP TABLE biocrypt.audit_log');
SELECT pg_temp.err('ALTER EXTENSION biocrypt DROP FUNCTION biocrypt.audit_guard()');
SELECT pg_temp.err('DROP EXTENSION biocrypt');
SELECT pg_temp.err('DROP SCHEMA public CASCADE');

-- a superuser may allow maintenance: the command runs, recorded first
SET biocrypt.allow_audit_maintenance = on;
ALTER FUNCTION biocrypt.verify_audit() OWNER TO regress_guard_owner;
ALTER TABLE biocrypt.audit_log ALTER COLUMN k SET STATISTICS -1;
RESET biocrypt.allow_audit_maintenance;
-- DROP OWNED would drop what the role owns, REASSIGN OWNED give it away
SELECT pg_temp.err('DROP OWNED BY regress_guard_owner');
SELECT pg_temp.err('REASSIGN OWNED BY regress_guard_owner TO CURRENT_USER');
SET biocrypt.allow_audit_maintenance = on;
REASSIGN OWNED BY regress_guard_owner TO CURRENT_USER;
RESET biocrypt.allow_audit_maintenance;
SELECT proowner::regrole = current_user::regrole AS owner_back FROM pg_proc
	WHERE oid = 'biocrypt.verify_audit()'::regprocedure;
SELECT operation, relation, matches FROM biocrypt.audit_log WHERE id > :start ORDER BY id;
SELECT ok FROM biocrypt.verify_audit();

-- ordinary statements on the log still work
CREATE ROLE regress_guard_reader NOLOGIN;
GRANT SELECT ON biocrypt.audit_log TO regress_guard_reader;
SELECT has_table_privilege('regress_guard_reader', 'biocrypt.audit_log', 'SELECT') AS can_read;
COMMENT ON COLUMN biocrypt.audit_log.k IS 'regress';
COMMENT ON COLUMN biocrypt.audit_log.k IS NULL;
VACUUM biocrypt.audit_log;
ANALYZE biocrypt.audit_log;
-- DROP OWNED of a role holding only privileges revokes them
DROP OWNED BY regress_guard_reader;
DROP ROLE regress_guard_reader;

-- a user table named audit_log, first in the search path, is just a table
SET search_path = regress_guard, biocrypt, public;
ALTER TABLE audit_log DISABLE TRIGGER USER;
TRUNCATE audit_log;
CREATE INDEX ON audit_log (id);
CREATE OR REPLACE FUNCTION verify_audit() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE OR REPLACE VIEW match_reviews AS SELECT 1 AS x;
ALTER TABLE audit_log RENAME TO audit_log_old;
RESET search_path;
SELECT p.oid::regprocedure AS func FROM pg_proc p
	WHERE proname = 'verify_audit' ORDER BY p.oid::regprocedure::text;
-- so is a new overload in schema biocrypt: only the member is protected
CREATE OR REPLACE FUNCTION biocrypt.verify_audit(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION biocrypt.verify_audit(int);
DROP SCHEMA regress_guard CASCADE;
DROP ROLE regress_guard_owner;
