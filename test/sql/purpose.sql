-- Purpose limitation: a comparison needs a declared purpose (biocrypt.purpose)
-- that the template was enrolled for and that is granted to the role.
-- Refusals are errors (42501) and are recorded as "denied" audit events;
-- a search of many (the operators, identify) skips a template enrolled
-- for other purposes instead, counted in its audit row (purpose_skipped).
-- pg_temp.err() shows errors as "SQLSTATE: message" only
\set err_detail off
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql

CREATE TABLE pur_g (id int, tpl protected_template);
INSERT INTO pur_g VALUES
	(1, biocrypt.protect('{1,0}', 'alice', purposes => '{border_control}')),
	(2, biocrypt.protect('{0,1}', 'bob', purposes => '{border_control,payment}'));
GRANT SELECT ON pur_g TO PUBLIC;
CREATE ROLE regress_pur_officer NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_pur_team NOLOGIN;
CREATE ROLE regress_pur_member NOLOGIN IN ROLE biocrypt_matcher, regress_pur_team;
CREATE ROLE regress_pur_admin NOLOGIN IN ROLE biocrypt_admin;
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset

-- the setting takes only valid purpose names
SELECT pg_temp.err($$SET biocrypt.purpose = 'Border Control'$$) AS bad_name;
SELECT pg_temp.err($$SET biocrypt.purpose = 'border_control'$$) AS good_name;
RESET biocrypt.purpose;

-- a superuser needs no grant, but still a purpose the template allows
SELECT pg_temp.err($$SELECT tpl <-> '{1,0}'::real[] FROM pur_g$$) AS no_purpose;
SET biocrypt.purpose = 'payment';
SELECT pg_temp.err($$SELECT tpl <-> '{1,0}'::real[] FROM pur_g$$) AS alice_not_for_payment;
SELECT id, tpl <-> '{1,0}'::real[] IS NULL AS skipped FROM pur_g ORDER BY id;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{1,0}', 0.5, 'l2') FROM pur_g WHERE id = 1$$) AS verify_alice_for_payment;
SELECT id, round((tpl <-> '{1,0}'::real[])::numeric, 4) AS l2 FROM pur_g WHERE id = 2;
SET biocrypt.purpose = 'border_control';
SELECT id, round((tpl <-> '{1,0}'::real[])::numeric, 4) AS l2 FROM pur_g ORDER BY id;

-- a matcher needs a grant; identify, verify and bit operators are checked too
SET ROLE regress_pur_officer;
SELECT pg_temp.err($$SELECT tpl <-> '{1,0}'::real[] FROM pur_g$$) AS officer_not_granted;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{1,0}', 0.1) FROM pur_g$$) AS officer_verify;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('pur_g', 'tpl', '{1,0}'::real[])$$) AS officer_identify;
-- only admins grant
SELECT pg_temp.err($$SELECT biocrypt.grant_purpose('regress_pur_officer', 'border_control')$$) AS officer_grants_itself;
RESET ROLE;

SET ROLE regress_pur_admin;
SELECT biocrypt.grant_purpose('regress_pur_officer', 'border_control') AS granted,
	biocrypt.grant_purpose('regress_pur_officer', 'border_control') AS granted_again,
	biocrypt.grant_purpose('regress_pur_team', 'border_control') AS team_granted;
SELECT pg_temp.err($$SELECT biocrypt.grant_purpose('regress_pur_team', 'No Such')$$) AS bad_grant;
SELECT pg_temp.err($$SELECT biocrypt.grant_purpose(NULL, 'payment')$$) AS null_grant;
SELECT role, purpose, granted_by FROM biocrypt.purpose_grants
	WHERE role::text LIKE 'regress_pur%' ORDER BY role::text, purpose;
RESET ROLE;

-- granted directly, or through a role the user has the privileges of
SET ROLE regress_pur_officer;
SELECT * FROM biocrypt.identify('pur_g', 'tpl', '{1,0}'::real[], 1, NULL, 'l2');
SET ROLE regress_pur_member;
SELECT id FROM pur_g WHERE biocrypt.verify(tpl, '{0,1}', 0.01) ORDER BY id;
-- a grant does not widen a template's purposes
SET biocrypt.purpose = 'payment';
SELECT pg_temp.err($$SELECT tpl <-> '{1,0}'::real[] FROM pur_g WHERE id = 2$$) AS member_payment;
SET biocrypt.purpose = 'border_control';
RESET ROLE;

-- revoking takes effect in the next transaction
SET ROLE regress_pur_admin;
SELECT biocrypt.revoke_purpose('regress_pur_officer', 'border_control') AS revoked,
	biocrypt.revoke_purpose('regress_pur_officer', 'border_control') AS revoked_again;
SET ROLE regress_pur_officer;
SELECT pg_temp.err($$SELECT tpl <-> '{1,0}'::real[] FROM pur_g$$) AS officer_revoked;
RESET ROLE;

-- what the audit saw: refusals as denied, grants as policy events
SELECT operation, relation, column_name, purpose, effective_role, outcome, sqlstate,
	templates_compared AS n
FROM biocrypt.audit_log WHERE id > :start ORDER BY id;

RESET biocrypt.purpose;
DROP TABLE pur_g;
-- dropping a role drops its grants (a later role could reuse its OID)
DROP ROLE regress_pur_officer, regress_pur_member, regress_pur_team, regress_pur_admin;
SELECT count(*) AS grants_of_dropped_roles FROM biocrypt.purpose_grants g
	WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = g.role);
