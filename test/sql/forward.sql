-- biocrypt.audit_forward(): the primary's end of a standby's audit.  A
-- member of biocrypt_standby sends rows of biocrypt.audit_log; each is
-- recorded in this server's chain, numbered and hashed here, with the
-- origin naming what the standby said it was and the role that sent it.
-- Rows no standby could have sent are refused one by one (22023): state
-- changes that succeeded, review confirmations, unknown operations or
-- outcomes, begun rows that name a begun row, incomplete rows that close
-- nothing of a standby's.  Whoever is not a member cannot call it.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
SET biocrypt.purpose = 'verification';

CREATE ROLE fwd_standby LOGIN IN ROLE biocrypt_standby;
CREATE ROLE fwd_standby2 LOGIN IN ROLE biocrypt_standby;
CREATE ROLE fwd_other LOGIN IN ROLE biocrypt_admin;
CREATE TABLE fwd_g (id int, tpl protected_template);
INSERT INTO fwd_g VALUES (1, biocrypt.protect('{1,2,3}'::real[], 'fwd-1'));
SELECT biocrypt.verify(tpl, '{1,2,3}'::real[], 0.1) FROM fwd_g;
SELECT pg_temp.settle();
-- rows to send: the verify's completion, as a standby would have it,
-- with changes (the begun row's id is filled in below)
SELECT id AS model FROM biocrypt.audit_log
WHERE operation = 'verify' AND outcome = 'ok' ORDER BY id DESC LIMIT 1 \gset
CREATE TEMP TABLE sent (n int PRIMARY KEY, changes jsonb, r biocrypt.audit_log);
INSERT INTO sent (n, changes) VALUES
	(1, '{"backend_pid": 4242, "xid": "777"}'),
	(2, '{"operation": "compare", "origin": null}'),
	(10, '{"operation": "review"}'),
	(11, '{"operation": "review", "outcome": "error", "sqlstate": "25006"}'),
	(12, '{"operation": "erase"}'),
	(13, '{"operation": "destroy", "outcome": "denied"}'),
	(14, '{"operation": "steal"}'),
	(15, '{"outcome": "won"}'),
	(16, '{"outcome": "begun", "begun_id": 1}'),
	(17, '{"outcome": "incomplete"}'),
	(18, '{"operation": null}'),
	(19, '{"templates_compared": null}'),
	(20, '{"outcome": "begun"}'),
	(30, jsonb_build_object('outcome', 'incomplete', 'begun_id', :model)),
	(31, '{"outcome": "ok"}'),
	(32, '{"outcome": "begun"}');
UPDATE sent SET r = jsonb_populate_record(a, jsonb_build_object('begun_id', NULL, 'origin', 'replica9') || changes)
FROM biocrypt.audit_log a WHERE a.id = :model;
GRANT SELECT, UPDATE ON sent TO fwd_standby, fwd_standby2, fwd_other;
-- this server's own begun row of the verify above
SELECT begun_id AS local_begun FROM biocrypt.audit_log WHERE id = :model \gset
SELECT max(id) AS start FROM biocrypt.audit_log \gset

-- not a member: no call at all
SET SESSION AUTHORIZATION fwd_other;
SELECT * FROM biocrypt.audit_forward(ARRAY(SELECT r FROM sent WHERE n = 1));
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION fwd_standby;
-- a comparison a standby made: recorded, ids in order
SELECT id - :start AS n, sqlstate FROM biocrypt.audit_forward(ARRAY(SELECT r FROM sent WHERE n < 10 ORDER BY n));
-- refused one by one, the others recorded
SELECT id - :start AS n, sqlstate
FROM biocrypt.audit_forward(ARRAY(SELECT r FROM sent WHERE n BETWEEN 10 AND 19 ORDER BY n) || NULL::biocrypt.audit_log);
-- a begun row, then the incomplete row that closes it (once only); an
-- incomplete row for an access of this server closes nothing
SELECT id AS begun FROM biocrypt.audit_forward(ARRAY(SELECT r FROM sent WHERE n = 20)) \gset
UPDATE sent SET r.begun_id = :begun, r.outcome = 'incomplete' WHERE n = 20;
SELECT id - :start AS n, sqlstate FROM biocrypt.audit_forward(ARRAY[
	(SELECT r FROM sent WHERE n = 20), (SELECT r FROM sent WHERE n = 20),
	(SELECT r FROM sent WHERE n = 30)]);
-- a completion closes only an open access the same role forwarded: not
-- this server's own, not another sender's, not one already closed, not
-- one closed earlier in the batch
SELECT id AS begun2 FROM biocrypt.audit_forward(ARRAY(SELECT r FROM sent WHERE n = 32)) \gset
UPDATE sent SET r.begun_id = :local_begun WHERE n = 31;
SELECT id - :start AS n, sqlstate FROM biocrypt.audit_forward(ARRAY(SELECT r FROM sent WHERE n = 31));
UPDATE sent SET r.begun_id = :begun WHERE n = 31;
SELECT id - :start AS n, sqlstate FROM biocrypt.audit_forward(ARRAY(SELECT r FROM sent WHERE n = 31));
UPDATE sent SET r.begun_id = :begun2 WHERE n = 31;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION fwd_standby2;
SELECT id - :start AS n, sqlstate FROM biocrypt.audit_forward(ARRAY(SELECT r FROM sent WHERE n = 31));
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION fwd_standby;
SELECT id - :start AS n, sqlstate FROM biocrypt.audit_forward(ARRAY[
	(SELECT r FROM sent WHERE n = 31), (SELECT r FROM sent WHERE n = 31)]);
-- a two-dimensional array is not a batch
SELECT * FROM biocrypt.audit_forward(ARRAY[ARRAY(SELECT r FROM sent WHERE n = 1)]);
RESET SESSION AUTHORIZATION;

-- what was recorded: the standby's roles, pid and times, no xid, the origin
-- with the sending role; the begun row's incomplete completion
SELECT id - :start AS n, operation, outcome, sqlstate, session_role = current_user AS same_role,
	CASE WHEN backend_pid = pg_backend_pid() THEN 'this session' ELSE backend_pid::text END AS pid,
	xid, xact_outcome, origin, begun_id - :start AS begun,
	started_at = (SELECT started_at FROM biocrypt.audit_log WHERE id = :model) AS same_start
FROM biocrypt.audit_log WHERE id > :start ORDER BY id;
SELECT ok FROM biocrypt.verify_audit();
-- a standby's accesses are counted on the standby, not here
SELECT comparisons, verifies, identifies, templates_compared, denials, errors, audit_waits > 0 AS waited
FROM biocrypt.stats WHERE role = 'fwd_standby';

DROP TABLE fwd_g, sent;
DROP ROLE fwd_standby;
DROP ROLE fwd_standby2;
DROP ROLE fwd_other;
