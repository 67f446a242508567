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
