-- The privilege matrix: what each of biocrypt's roles, a plain role and
-- the owner of a table of templates may do with every function, operator,
-- table, view and sequence of the extension.  docs/security.md ("Roles and
-- privileges") shows the same matrix; test/doccheck.pl checks that the two
-- agree.  Columns: enroller, verifier, matcher, auditor, admin, standby
-- (the role a standby's audit events arrive as), plain, owner; "x" may execute (functions, operators), letters are table
-- privileges (r select, a insert, w update, d delete, D truncate), "-" none.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql

CREATE ROLE regress_priv_plain NOLOGIN;
CREATE ROLE regress_priv_owner NOLOGIN;
CREATE TABLE regress_priv_people (id int PRIMARY KEY, tpl protected_template);
ALTER TABLE regress_priv_people OWNER TO regress_priv_owner;

CREATE TEMP TABLE roles (ord int, name text);
INSERT INTO roles VALUES (1, 'biocrypt_enroller'), (2, 'biocrypt_verifier'),
	(3, 'biocrypt_matcher'), (4, 'biocrypt_auditor'), (5, 'biocrypt_admin'),
	(6, 'biocrypt_standby'), (7, 'regress_priv_plain'), (8, 'regress_priv_owner');

-- the extension's own objects
CREATE TEMP VIEW ext_objects AS
SELECT d.classid, d.objid
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'biocrypt');

-- functions (the type's I/O functions are PUBLIC's; trigger and event
-- trigger functions are listed too: nobody may call them directly)
SELECT p.oid::regprocedure AS function,
	string_agg(CASE WHEN has_function_privilege(r.name, p.oid, 'EXECUTE') THEN 'x' ELSE '-' END,
			   ' ' ORDER BY r.ord) AS "en ve ma au ad st pl ow"
FROM pg_proc p JOIN ext_objects e ON e.classid = 'pg_proc'::regclass AND e.objid = p.oid
CROSS JOIN roles r
GROUP BY p.oid ORDER BY p.oid::regprocedure::text COLLATE "C";

-- operators: their functions decide
SELECT o.oprname AS operator, o.oprleft::regtype AS left_type, o.oprright::regtype AS right_type,
	string_agg(CASE WHEN has_function_privilege(r.name, o.oprcode, 'EXECUTE') THEN 'x' ELSE '-' END,
			   ' ' ORDER BY r.ord) AS "en ve ma au ad st pl ow"
FROM pg_operator o JOIN ext_objects e ON e.classid = 'pg_operator'::regclass AND e.objid = o.oid
CROSS JOIN roles r
GROUP BY o.oid, o.oprname, o.oprleft, o.oprright
ORDER BY o.oprname COLLATE "C", o.oprright::regtype::text COLLATE "C";

-- tables, views and sequences
SELECT c.oid::regclass AS relation, c.relkind,
	string_agg(coalesce(nullif(concat(
		CASE WHEN c.relkind = 'S' THEN
			CASE WHEN has_sequence_privilege(r.name, c.oid, 'SELECT') THEN 'r' END
		ELSE CASE WHEN has_table_privilege(r.name, c.oid, 'SELECT') THEN 'r' END END,
		CASE WHEN c.relkind IN ('r', 'v') AND has_table_privilege(r.name, c.oid, 'INSERT') THEN 'a' END,
		CASE WHEN c.relkind = 'S' AND has_sequence_privilege(r.name, c.oid, 'UPDATE') THEN 'w'
			WHEN c.relkind IN ('r', 'v') AND has_table_privilege(r.name, c.oid, 'UPDATE') THEN 'w' END,
		CASE WHEN c.relkind IN ('r', 'v') AND has_table_privilege(r.name, c.oid, 'DELETE') THEN 'd' END,
		CASE WHEN c.relkind IN ('r', 'v') AND has_table_privilege(r.name, c.oid, 'TRUNCATE') THEN 'D' END,
		CASE WHEN c.relkind NOT IN ('r', 'v', 'S') THEN '?' END), ''), '-'), ' ' ORDER BY r.ord) AS "en ve ma au ad st pl ow"
FROM pg_class c JOIN ext_objects e ON e.classid = 'pg_class'::regclass AND e.objid = c.oid
CROSS JOIN roles r
WHERE c.relkind IN ('r', 'v', 'S', 'm', 'p', 'f')
GROUP BY c.oid, c.relkind ORDER BY c.oid::regclass::text COLLATE "C";

-- the schema: usage for biocrypt's roles, nothing for the others
SELECT string_agg(CASE WHEN has_schema_privilege(r.name, 'biocrypt', 'USAGE') THEN 'x' ELSE '-' END,
				  ' ' ORDER BY r.ord) AS "schema usage: en ve ma au ad st pl ow"
FROM roles r;

-- what the matrix cannot show: refusals inside functions.  A plain role,
-- the table owner and an auditor are refused by PostgreSQL before any of
-- biocrypt's code runs (42501), for the calls that disclose or change
-- something; the owner may read its own table, where only ciphertext is.
SET biocrypt.purpose = 'verification';
INSERT INTO regress_priv_people VALUES (1, biocrypt.protect('{3,4}', 'priv-a'));
SET ROLE regress_priv_owner;
SELECT length(tpl::text) > 0 AS owner_reads_ciphertext FROM regress_priv_people;
SELECT pg_temp.err($$SELECT tpl <=> '{3,4}'::real[] FROM regress_priv_people$$, false) AS owner_compares;
SELECT pg_temp.err($$SELECT biocrypt.reveal(tpl) FROM regress_priv_people$$, false) AS owner_reveals;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', 'x')$$, false) AS owner_protects;
SELECT pg_temp.err($$SELECT * FROM biocrypt.audit_log$$, false) AS owner_reads_audit;
SELECT pg_temp.err($$SELECT biocrypt.subject_of(tpl) FROM regress_priv_people$$, false) AS owner_reads_subject;
RESET ROLE;
GRANT SELECT ON regress_priv_people TO biocrypt_auditor, regress_priv_plain;
SET ROLE regress_priv_plain;
SELECT pg_temp.err($$SELECT tpl <=> '{3,4}'::real[] FROM regress_priv_people$$, false) AS plain_compares;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}'::real[]) FROM regress_priv_people$$, false) AS plain_decides;
RESET ROLE;
SET ROLE biocrypt_auditor;
SELECT pg_temp.err($$SELECT tpl <=> '{3,4}'::real[] FROM regress_priv_people$$, false) AS auditor_compares;
SELECT pg_temp.err($$SELECT biocrypt.reveal(tpl) FROM regress_priv_people$$, false) AS auditor_reveals;
SELECT count(*) >= 0 AS auditor_reads_audit FROM biocrypt.audit_log;
RESET ROLE;

DROP TABLE regress_priv_people;
DROP ROLE regress_priv_plain, regress_priv_owner;
