-- biocrypt 0.1.0 -> 0.2.0.  A new installation runs biocrypt--0.1.0.sql and
-- then this script, as PostgreSQL's contrib modules do: an upgraded database
-- and a new one are built by the same statements (docs/dba.md, "Upgrades").

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION biocrypt UPDATE TO '0.2.0'" to load this file. \quit

----------------------------------------------------------------------------
-- monitoring: access statistics, the audit queue, enrolment and purge
-- progress (docs/dba.md, "Monitoring")
----------------------------------------------------------------------------

CREATE FUNCTION biocrypt.stats_state(OUT dbid oid, OUT userid oid,
		OUT comparisons bigint, OUT verifies bigint, OUT identifies bigint,
		OUT templates_compared bigint, OUT expired_skipped bigint,
		OUT purpose_skipped bigint, OUT shape_skipped bigint, OUT denials bigint,
		OUT errors bigint, OUT reveals bigint, OUT exports bigint,
		OUT audit_waits bigint, OUT audit_wait_total_ms double precision,
		OUT audit_wait_max_ms double precision, OUT stats_reset timestamptz)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_stats_state' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.stats_state() IS 'access counters per database and role, from shared memory';

CREATE VIEW biocrypt.stats AS
SELECT s.dbid, d.datname AS database, s.userid, r.rolname AS role,
	s.comparisons, s.verifies, s.identifies, s.templates_compared,
	s.expired_skipped, s.purpose_skipped, s.shape_skipped, s.denials, s.errors,
	s.reveals, s.exports, s.audit_waits, s.audit_wait_total_ms,
	s.audit_wait_max_ms, s.stats_reset
FROM biocrypt.stats_state() s
LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid
LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid;
COMMENT ON VIEW biocrypt.stats IS 'one row per database and role: completed accesses, templates compared and skipped, denials, errors, reveals, exports and waits for the audit since stats_reset (role NULL: roles past biocrypt.stats_max)';

CREATE FUNCTION biocrypt.audit_queue_state(OUT dbid oid, OUT worker_state text,
		OUT worker_pid integer, OUT depth integer, OUT depth_max integer,
		OUT queue_depth integer, OUT queue_depth_max integer, OUT queue_slots integer)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_audit_queue_state' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.audit_queue_state() IS 'the shared audit queue, per database that uses it';

CREATE VIEW biocrypt.audit_queue AS
SELECT q.dbid, d.datname AS database, q.worker_state, q.worker_pid, q.depth,
	q.depth_max, q.queue_depth, q.queue_depth_max, q.queue_slots
FROM biocrypt.audit_queue_state() q
LEFT JOIN pg_catalog.pg_database d ON d.oid = q.dbid;
COMMENT ON VIEW biocrypt.audit_queue IS 'one row per database with an audit worker entry: its events in the shared queue now and at most since the last reset, and the whole queue''s (shared by every database)';

CREATE FUNCTION biocrypt.stats_reset() RETURNS void
	AS 'MODULE_PATHNAME', 'biocrypt_stats_reset' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.stats_reset() IS 'reset biocrypt.stats (every database and role) and the audit queue''s high-water marks';

CREATE FUNCTION biocrypt.enrol_progress(OUT pid integer, OUT datid oid,
		OUT relid oid, OUT started_at timestamptz, OUT templates_enrolled bigint,
		OUT templates_per_second double precision)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_enrol_progress' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.enrol_progress() IS 'progress of the statements enrolling templates in the cluster';

CREATE VIEW biocrypt.enrol_progress AS
SELECT p.pid, p.datid, d.datname, p.relid, p.started_at, p.templates_enrolled,
	p.templates_per_second
FROM biocrypt.enrol_progress() p
LEFT JOIN pg_catalog.pg_database d ON d.oid = p.datid;
COMMENT ON VIEW biocrypt.enrol_progress IS 'one row per running statement that has enrolled templates: how many so far, since when, how fast';

CREATE FUNCTION biocrypt.purge_progress(OUT pid integer, OUT datid oid,
		OUT phase text, OUT relid oid, OUT column_name name, OUT started_at timestamptz,
		OUT columns_total bigint, OUT columns_done bigint, OUT templates_found bigint,
		OUT templates_purged bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_purge_progress' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.purge_progress() IS 'progress of the purges (purge_expired() and the purge worker) running in the cluster';

CREATE VIEW biocrypt.purge_progress AS
SELECT p.pid, p.datid, d.datname, p.phase, p.relid, p.column_name, p.started_at,
	p.columns_total, p.columns_done, p.templates_found, p.templates_purged
FROM biocrypt.purge_progress() p
LEFT JOIN pg_catalog.pg_database d ON d.oid = p.datid;
COMMENT ON VIEW biocrypt.purge_progress IS 'one row per running purge: phase, column at work, columns done, expired templates found and purged so far';

REVOKE ALL ON biocrypt.stats, biocrypt.audit_queue, biocrypt.enrol_progress,
	biocrypt.purge_progress FROM PUBLIC;
REVOKE ALL ON FUNCTION biocrypt.stats_state(), biocrypt.audit_queue_state(),
	biocrypt.stats_reset(), biocrypt.enrol_progress(), biocrypt.purge_progress()
	FROM PUBLIC;
GRANT SELECT ON biocrypt.stats, biocrypt.audit_queue TO biocrypt_admin, biocrypt_auditor;
GRANT EXECUTE ON FUNCTION biocrypt.stats_state(), biocrypt.audit_queue_state()
	TO biocrypt_admin, biocrypt_auditor;
GRANT SELECT ON biocrypt.enrol_progress, biocrypt.purge_progress TO biocrypt_admin;
GRANT EXECUTE ON FUNCTION biocrypt.stats_reset(), biocrypt.enrol_progress(),
	biocrypt.purge_progress() TO biocrypt_admin;
