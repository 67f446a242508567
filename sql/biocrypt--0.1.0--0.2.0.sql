-- biocrypt 0.1.0 -> 0.2.0.  A new installation runs biocrypt--0.1.0.sql and
-- then this script, as PostgreSQL's contrib modules do: an upgraded database
-- and a new one are built by the same statements (docs/dba.md, "Upgrades").

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION biocrypt UPDATE TO '0.2.0'" to load this file. \quit

----------------------------------------------------------------------------
-- a column's declared shape: protected_template(dims [, format])
----------------------------------------------------------------------------

CREATE FUNCTION protected_template_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION protected_template_typmod_out(integer) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

ALTER TYPE protected_template SET (
	TYPMOD_IN = protected_template_typmod_in,
	TYPMOD_OUT = protected_template_typmod_out
);

-- the length coercion PostgreSQL applies where a template enters a column
-- that declares its shape (INSERT, UPDATE, COPY)
CREATE FUNCTION protected_template(protected_template, integer, boolean)
	RETURNS protected_template
	AS 'MODULE_PATHNAME', 'protected_template_coerce' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (protected_template AS protected_template)
	WITH FUNCTION protected_template(protected_template, integer, boolean) AS IMPLICIT;

COMMENT ON FUNCTION protected_template_typmod_in(cstring[]) IS 'protected_template(dims) or protected_template(dims, format): the shape a column takes';
COMMENT ON FUNCTION protected_template_typmod_out(integer) IS 'a protected_template column''s shape as text';
COMMENT ON FUNCTION protected_template(protected_template, integer, boolean) IS 'refuses a template whose dimensions or format differ from its column''s declared shape';

----------------------------------------------------------------------------
-- 1:N searches skip, and count, templates enrolled for other purposes or
-- of another shape than the probe
----------------------------------------------------------------------------

ALTER TABLE biocrypt.audit_log ADD COLUMN purpose_skipped bigint,
	ADD COLUMN shape_skipped bigint;
COMMENT ON COLUMN biocrypt.audit_log.purpose_skipped IS 'a search of many (identify, ORDER BY over a table): templates skipped, not decrypted, because they were not enrolled for the session''s purpose; NULL in rows written before 0.2.0';
COMMENT ON COLUMN biocrypt.audit_log.shape_skipped IS 'a search of many: templates skipped, not decrypted, because their dimensions or kind did not fit the probe; NULL in rows written before 0.2.0';

----------------------------------------------------------------------------
-- 1:1 verification that says why: match, no_match, expired, purpose, shape
----------------------------------------------------------------------------

CREATE FUNCTION biocrypt.verify_reason(tpl protected_template, probe real[],
		max_distance float8, metric text DEFAULT 'cosine') RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_verify_reason' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.verify_reason(tpl protected_template, probe real[]) RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_verify_reason_decision' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.verify_bits_reason(tpl protected_template, code bytea,
		mask bytea DEFAULT NULL, max_shift int DEFAULT 0) RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_verify_bits_reason' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION biocrypt.verify_reason_sealed(tpl protected_template, probe sealed_probe,
		max_distance float8, metric text DEFAULT 'cosine') RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_verify_reason_sealed' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.verify_reason_sealed(tpl protected_template, probe sealed_probe) RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_verify_reason_decision_sealed' LANGUAGE C STABLE STRICT PARALLEL SAFE;
-- as verify(): a key lookup in the same WHERE runs first
ALTER FUNCTION biocrypt.verify_reason(protected_template, real[], float8, text) COST 100;
ALTER FUNCTION biocrypt.verify_reason(protected_template, real[]) COST 100;
ALTER FUNCTION biocrypt.verify_bits_reason(protected_template, bytea, bytea, int) COST 100;
ALTER FUNCTION biocrypt.verify_reason_sealed(protected_template, sealed_probe, float8, text) COST 100;
ALTER FUNCTION biocrypt.verify_reason_sealed(protected_template, sealed_probe) COST 100;

COMMENT ON FUNCTION biocrypt.verify_reason(protected_template, real[], float8, text) IS '1:1 verification with its reason: match, no_match, expired, purpose (not enrolled for the session''s purpose) or shape (does not fit the probe)';
COMMENT ON FUNCTION biocrypt.verify_reason(protected_template, real[]) IS '1:1 decision with its reason at biocrypt.match_threshold and biocrypt.match_metric, without a score';
COMMENT ON FUNCTION biocrypt.verify_bits_reason(protected_template, bytea, bytea, int) IS '1:1 bit-code decision with its reason at biocrypt.match_threshold_bits, without a score';
COMMENT ON FUNCTION biocrypt.verify_reason_sealed(protected_template, sealed_probe, float8, text) IS 'verify_reason() with a probe sealed to biocrypt.public_key()';
COMMENT ON FUNCTION biocrypt.verify_reason_sealed(protected_template, sealed_probe) IS 'verify_reason(tpl, probe) with a probe sealed to biocrypt.public_key()';

REVOKE ALL ON FUNCTION
	biocrypt.verify_reason(protected_template, real[], float8, text),
	biocrypt.verify_reason(protected_template, real[]),
	biocrypt.verify_bits_reason(protected_template, bytea, bytea, int),
	biocrypt.verify_reason_sealed(protected_template, sealed_probe, float8, text),
	biocrypt.verify_reason_sealed(protected_template, sealed_probe)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	biocrypt.verify_reason(protected_template, real[]),
	biocrypt.verify_bits_reason(protected_template, bytea, bytea, int),
	biocrypt.verify_reason_sealed(protected_template, sealed_probe)
	TO biocrypt_verifier;
GRANT EXECUTE ON FUNCTION
	biocrypt.verify_reason(protected_template, real[], float8, text),
	biocrypt.verify_reason_sealed(protected_template, sealed_probe, float8, text)
	TO biocrypt_matcher;

----------------------------------------------------------------------------
-- threshold calibration inside the server (administrators only)
----------------------------------------------------------------------------

-- an administrator's calibration is an access of its own in the audit log
ALTER TABLE biocrypt.audit_log DROP CONSTRAINT audit_log_operation_check,
	ADD CONSTRAINT audit_log_operation_check CHECK (operation IN ('protect', 'compare',
		'verify', 'identify', 'reveal', 'export', 'retain', 'purge', 'rotate', 'destroy',
		'hold', 'erase', 'policy', 'denied', 'review', 'calibrate'));

-- template against template: a function, not an overload of <-> and its
-- kin, which would make an untyped literal probe ('{1,2}') a template
CREATE FUNCTION biocrypt.template_distance(a protected_template, b protected_template,
		metric text DEFAULT 'cosine') RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_template_distance' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION biocrypt.calibrate(gallery regclass, col name, target_fmr float8 DEFAULT 1e-4,
		metric text DEFAULT 'cosine', sample int DEFAULT 2000,
		OUT threshold float8, OUT fmr float8, OUT fnmr float8, OUT templates integer,
		OUT subjects integer, OUT impostor_pairs bigint, OUT genuine_pairs bigint,
		OUT impostor_median float8, OUT genuine_median float8, OUT genuine_max float8)
	RETURNS record
	AS 'MODULE_PATHNAME', 'biocrypt_calibrate' LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION biocrypt.template_distance(protected_template, protected_template, text) IS 'distance between two stored templates (cosine, l2, inner_product; hamming for bit codes), for administrators; NULL for a pair that may not or cannot be compared';
COMMENT ON FUNCTION biocrypt.calibrate(regclass, name, float8, text, int) IS 'the threshold for a target false-match rate, from the impostor and genuine pair distances of a sample of the column''s templates; only the summary leaves the server';

REVOKE ALL ON FUNCTION
	biocrypt.template_distance(protected_template, protected_template, text),
	biocrypt.calibrate(regclass, name, float8, text, int)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	biocrypt.template_distance(protected_template, protected_template, text),
	biocrypt.calibrate(regclass, name, float8, text, int)
	TO biocrypt_admin;

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
