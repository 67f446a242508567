-- A column policy its table's owner cannot switch off: dropping, disabling,
-- replacing or renaming the triggers biocrypt_column_policy and
-- biocrypt_column_policy_check, or changing a registered column's type, is
-- refused to a role that does not administer biocrypt (42501), and
-- recorded when an administrator does it.
\set err_detail off
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET biocrypt.purpose = 'verification';

CREATE ROLE regress_pg_owner IN ROLE biocrypt_enroller;
CREATE TABLE pg_own (id int, tpl protected_template, note text);
ALTER TABLE pg_own OWNER TO regress_pg_owner;
SELECT biocrypt.protect_column('pg_own', 'tpl', '1 day', '{verification}');
CREATE FUNCTION pg_own_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER pg_own_other BEFORE INSERT ON pg_own FOR EACH ROW EXECUTE FUNCTION pg_own_note();
ALTER TABLE pg_own OWNER TO regress_pg_owner;
-- a table without a policy, for contrast
CREATE TABLE pg_free (id int, tpl protected_template);
ALTER TABLE pg_free OWNER TO regress_pg_owner;

SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SET ROLE regress_pg_owner;
SELECT pg_temp.err($$DROP TRIGGER biocrypt_column_policy ON pg_own$$) AS drop_trigger;
SELECT pg_temp.err($$DROP TRIGGER IF EXISTS biocrypt_column_policy ON public.pg_own$$) AS drop_trigger_qualified;
SELECT pg_temp.err($$ALTER TABLE pg_own DISABLE TRIGGER biocrypt_column_policy$$) AS disable_trigger;
SELECT pg_temp.err($$ALTER TABLE pg_own DISABLE TRIGGER ALL$$) AS disable_all;
SELECT pg_temp.err($$ALTER TABLE pg_own DISABLE TRIGGER USER$$) AS disable_user;
SELECT pg_temp.err($$ALTER TABLE pg_own ENABLE REPLICA TRIGGER biocrypt_column_policy$$) AS replica_only;
SELECT pg_temp.err($$CREATE OR REPLACE TRIGGER biocrypt_column_policy BEFORE INSERT ON pg_own FOR EACH ROW EXECUTE FUNCTION pg_own_note()$$) AS replace_trigger;
SELECT pg_temp.err($$ALTER TRIGGER biocrypt_column_policy ON pg_own RENAME TO gone$$) AS rename_trigger;
SELECT pg_temp.err($$ALTER TABLE pg_own ALTER tpl TYPE bytea USING NULL$$) AS column_type;
SELECT pg_temp.err($$ALTER TABLE pg_own ADD COLUMN x int, DISABLE TRIGGER ALL$$) AS hidden_in_a_list;
-- the check trigger, which sees the row after every BEFORE trigger, alike
SELECT pg_temp.err($$DROP TRIGGER biocrypt_column_policy_check ON pg_own$$) AS drop_check;
SELECT pg_temp.err($$ALTER TABLE pg_own DISABLE TRIGGER biocrypt_column_policy_check$$) AS disable_check;
SELECT pg_temp.err($$ALTER TABLE pg_own ENABLE REPLICA TRIGGER biocrypt_column_policy_check$$) AS replica_only_check;
SELECT pg_temp.err($$CREATE OR REPLACE TRIGGER biocrypt_column_policy_check AFTER INSERT ON pg_own FOR EACH ROW EXECUTE FUNCTION pg_own_note()$$) AS replace_check;
SELECT pg_temp.err($$ALTER TRIGGER biocrypt_column_policy_check ON pg_own RENAME TO gone$$) AS rename_check;
-- nor through a parent: without ONLY, ALTER TABLE reaches the partitions
RESET ROLE;
CREATE TABLE pg_parted (id int, tpl protected_template) PARTITION BY RANGE (id);
CREATE TABLE pg_part1 PARTITION OF pg_parted FOR VALUES FROM (0) TO (100);
ALTER TABLE pg_parted OWNER TO regress_pg_owner;
ALTER TABLE pg_part1 OWNER TO regress_pg_owner;
SELECT biocrypt.protect_column('pg_part1', 'tpl', '1 day', '{verification}');
SET ROLE regress_pg_owner;
SELECT pg_temp.err($$ALTER TABLE pg_parted DISABLE TRIGGER ALL$$) AS disable_through_parent;
SELECT pg_temp.err($$ALTER TABLE pg_parted ALTER tpl TYPE bytea USING NULL$$) AS type_through_parent;
SELECT pg_temp.err($$ALTER TABLE ONLY pg_parted DISABLE TRIGGER USER$$) AS parent_only;
-- what does not touch the policy still works
SELECT pg_temp.err($$ALTER TABLE pg_own DISABLE TRIGGER pg_own_other$$) AS other_trigger;
SELECT pg_temp.err($$CREATE TRIGGER zzz_after_policy BEFORE INSERT ON pg_own FOR EACH ROW EXECUTE FUNCTION pg_own_note()$$) AS own_trigger_after_policy;
SELECT pg_temp.err($$DROP TRIGGER zzz_after_policy ON pg_own$$) AS drop_own_trigger;
SELECT pg_temp.err($$ALTER TABLE pg_own ALTER note TYPE varchar(20)$$) AS other_column;
SELECT pg_temp.err($$ALTER TABLE pg_free DISABLE TRIGGER ALL$$) AS table_without_policy;
SELECT pg_temp.err($$DROP TRIGGER biocrypt_column_policy ON pg_free$$) AS no_such_trigger;
-- the policy still applies: retention beyond it is refused
SELECT pg_temp.err($$INSERT INTO pg_own VALUES (1, biocrypt.protect('{1,2,3}', 'o-1', now() + interval '1 year'))$$) AS over_retention;
RESET ROLE;
SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger
WHERE tgrelid IN ('pg_own'::regclass, 'pg_part1'::regclass) AND NOT tgisinternal ORDER BY 1, 2;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'pg_own'::regclass AND attname = 'tpl';

-- an administrator may, and is recorded
CREATE ROLE regress_pg_admin IN ROLE biocrypt_admin;
GRANT regress_pg_owner TO regress_pg_admin;
SET ROLE regress_pg_admin;
ALTER TABLE pg_own DISABLE TRIGGER biocrypt_column_policy;
ALTER TABLE pg_own ENABLE TRIGGER biocrypt_column_policy;
ALTER TABLE pg_own DISABLE TRIGGER biocrypt_column_policy_check;
ALTER TABLE pg_own ENABLE TRIGGER biocrypt_column_policy_check;
RESET ROLE;
DROP TRIGGER biocrypt_column_policy ON pg_own;
DROP TRIGGER biocrypt_column_policy_check ON pg_own;
SELECT pg_temp.settle();
SELECT operation, relation, outcome, matches FROM biocrypt.audit_log
WHERE id > :start AND operation = 'policy' ORDER BY id;

DROP TABLE pg_own, pg_free, pg_parted;
DROP FUNCTION pg_own_note();
DROP ROLE regress_pg_admin;
DROP ROLE regress_pg_owner;
RESET biocrypt.purpose;
