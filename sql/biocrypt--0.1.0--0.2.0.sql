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
