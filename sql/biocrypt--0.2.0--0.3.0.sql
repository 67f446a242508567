-- biocrypt 0.2.0 -> 0.3.0: accesses on hot standbys, recorded in the
-- primary's audit log.  A new installation runs biocrypt--0.1.0.sql and the
-- update scripts after it (docs/dba.md, "Upgrades").

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION biocrypt UPDATE TO '0.3.0'" to load this file. \quit

----------------------------------------------------------------------------
-- a standby's accesses: its audit worker sends them to the primary's
-- biocrypt.audit_forward(), as the login role it connects with, a member
-- of biocrypt_standby (docs/dba.md, "Standbys")
----------------------------------------------------------------------------

DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'biocrypt_standby') THEN
		CREATE ROLE biocrypt_standby NOLOGIN;
	END IF;
END
$roles$;

GRANT USAGE ON SCHEMA biocrypt TO biocrypt_standby;

-- where an access came from, if not from this server: the standby's name,
-- and the role and address of the connection that brought it.  Hashed
-- in the chain as 0.3.0's group: NULL in the rows of this server, and in
-- rows written before 0.3.0, which keep their hashes.
ALTER TABLE biocrypt.audit_log ADD COLUMN origin text;

COMMENT ON COLUMN biocrypt.audit_log.origin IS 'an access made on a hot standby: the standby''s cluster_name, then the role and address its audit events came from; NULL for accesses made on this server, and in rows written before 0.3.0';

CREATE FUNCTION biocrypt.audit_forward(events biocrypt.audit_log[],
	OUT id bigint, OUT sqlstate text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_audit_forward'
	LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION biocrypt.audit_forward(biocrypt.audit_log[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION biocrypt.audit_forward(biocrypt.audit_log[]) TO biocrypt_standby;

COMMENT ON FUNCTION biocrypt.audit_forward(biocrypt.audit_log[]) IS 'records the audit events a hot standby sends, each committed in this server''s chain before the next; for biocrypt_standby';

----------------------------------------------------------------------------
-- one request, several servers: biocrypt.request_id is recorded in every
-- audit row of the session (a coordinator and its shards set the same);
-- a coordinator records the call it sent to its shards
----------------------------------------------------------------------------

ALTER TABLE biocrypt.audit_log ADD COLUMN request_id text;

COMMENT ON COLUMN biocrypt.audit_log.request_id IS 'biocrypt.request_id of the session that made the access: links the rows one request leaves on several servers; NULL when not set, and in rows written before 0.3.0';

CREATE FUNCTION biocrypt.record_fanout(operation text, subject text DEFAULT NULL,
	probe real[] DEFAULT NULL, k integer DEFAULT NULL, candidates jsonb DEFAULT NULL)
	RETURNS void
	AS 'MODULE_PATHNAME', 'biocrypt_record_fanout'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION biocrypt.record_fanout(text, text, real[], integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION biocrypt.record_fanout(text, text, real[], integer, jsonb)
	TO biocrypt_enroller, biocrypt_matcher, biocrypt_admin;

COMMENT ON FUNCTION biocrypt.record_fanout(text, text, real[], integer, jsonb) IS 'a coordinator''s record of a call to its shards (operation, subject or probe hash, merged candidates), with the session''s request id, queued for the audit log';
