-- biocrypt 0.1.0: encrypted biometric templates.
-- The type and its I/O go to the schema CREATE EXTENSION chooses; everything
-- else lives in the fixed schema biocrypt.

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION biocrypt" to load this file. \quit

CREATE SCHEMA biocrypt;
COMMENT ON SCHEMA biocrypt IS 'biocrypt: key ring, enrolment, comparison, retention and audit';
REVOKE ALL ON SCHEMA biocrypt FROM PUBLIC;

----------------------------------------------------------------------------
-- roles (cluster-wide, so created only when missing)
----------------------------------------------------------------------------

DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['biocrypt_enroller', 'biocrypt_verifier',
							 'biocrypt_matcher', 'biocrypt_auditor', 'biocrypt_admin']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$roles$;

-- a matcher may do all a verifier may, and gets scores besides
GRANT biocrypt_verifier TO biocrypt_matcher;
GRANT biocrypt_enroller, biocrypt_matcher, biocrypt_auditor TO biocrypt_admin;
GRANT USAGE ON SCHEMA biocrypt
	TO biocrypt_enroller, biocrypt_verifier, biocrypt_matcher, biocrypt_auditor,
	biocrypt_admin;

----------------------------------------------------------------------------
-- type
----------------------------------------------------------------------------

CREATE TYPE protected_template;

CREATE FUNCTION protected_template_in(cstring) RETURNS protected_template
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION protected_template_out(protected_template) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION protected_template_recv(internal) RETURNS protected_template
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION protected_template_send(protected_template) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- storage main keeps a template inline (out of line only as a last resort)
CREATE TYPE protected_template (
	INPUT = protected_template_in,
	OUTPUT = protected_template_out,
	RECEIVE = protected_template_recv,
	SEND = protected_template_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = main
);

COMMENT ON TYPE protected_template IS 'an AEAD-encrypted biometric template with an authenticated, readable header';
COMMENT ON FUNCTION protected_template_in(cstring) IS 'protected_template text input: base64 of an envelope';
COMMENT ON FUNCTION protected_template_out(protected_template) IS 'protected_template text output: base64 of the envelope (ciphertext only)';
COMMENT ON FUNCTION protected_template_recv(internal) IS 'protected_template binary input: envelope bytes';
COMMENT ON FUNCTION protected_template_send(protected_template) IS 'protected_template binary output: envelope bytes';

-- a probe sealed to the server's public key (biocrypt.public_key()): a
-- libsodium sealed box, opened only where it is compared or enrolled
CREATE TYPE sealed_probe;

CREATE FUNCTION sealed_probe_in(cstring) RETURNS sealed_probe
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION sealed_probe_out(sealed_probe) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION sealed_probe_recv(internal) RETURNS sealed_probe
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION sealed_probe_send(sealed_probe) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE sealed_probe (
	INPUT = sealed_probe_in,
	OUTPUT = sealed_probe_out,
	RECEIVE = sealed_probe_recv,
	SEND = sealed_probe_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);

-- same bytes: a driver binds a bytea, or bytes as $1::sealed_probe
CREATE CAST (bytea AS sealed_probe) WITHOUT FUNCTION AS IMPLICIT;

COMMENT ON TYPE sealed_probe IS 'an embedding or bit code sealed to biocrypt.public_key() (libsodium sealed box); see docs/format.md';
COMMENT ON FUNCTION sealed_probe_in(cstring) IS 'sealed_probe text input: base64 of a sealed box (size-checked only)';
COMMENT ON FUNCTION sealed_probe_out(sealed_probe) IS 'sealed_probe text output: base64 of the sealed box';
COMMENT ON FUNCTION sealed_probe_recv(internal) IS 'sealed_probe binary input: the sealed box''s bytes (size-checked only)';
COMMENT ON FUNCTION sealed_probe_send(sealed_probe) IS 'sealed_probe binary output: the sealed box''s bytes';
COMMENT ON CAST (bytea AS sealed_probe) IS 'a bytea holding a sealed box is a sealed_probe (no conversion)';

----------------------------------------------------------------------------
-- key ring
----------------------------------------------------------------------------

CREATE TABLE biocrypt.keys (
	id integer PRIMARY KEY,
	epoch date NOT NULL,
	cipher text NOT NULL CHECK (cipher IN ('aes-256-gcm', 'xchacha20-poly1305')),
	state text NOT NULL DEFAULT 'active'
		CHECK (state IN ('active', 'retired', 'destroyed')),
	wrapped bytea CHECK (octet_length(wrapped) = 72),
	kcv bytea NOT NULL CHECK (octet_length(kcv) = 16),
	counter_base bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	retired_at timestamptz,
	destroyed_at timestamptz,
	CHECK ((state = 'destroyed') = (wrapped IS NULL))
);
CREATE UNIQUE INDEX keys_active_epoch ON biocrypt.keys (epoch, cipher)
	WHERE state = 'active';
CREATE SEQUENCE biocrypt.keys_id_seq AS integer OWNED BY biocrypt.keys.id;
CREATE SEQUENCE biocrypt.encryption_counter;

COMMENT ON TABLE biocrypt.keys IS 'data keys, one per retention epoch, stored only wrapped by a key derived from the root key';
COMMENT ON COLUMN biocrypt.keys.epoch IS 'first day of the UTC month in which the templates sealed under this key expire';
COMMENT ON COLUMN biocrypt.keys.wrapped IS 'XChaCha20-Poly1305(nonce || data key || tag) under the root-derived wrapping key; NULL once destroyed';
COMMENT ON COLUMN biocrypt.keys.kcv IS 'key-check value of the wrapping key, to detect a wrong root key';
COMMENT ON COLUMN biocrypt.keys.counter_base IS 'biocrypt.encryption_counter when the key was created; bounds its encryptions';
COMMENT ON SEQUENCE biocrypt.keys_id_seq IS 'data key ids (never reused)';
COMMENT ON SEQUENCE biocrypt.encryption_counter IS 'counts every template encryption, to retire data keys long before nonce limits';

-- pg_dump carries the key ring, so restored templates stay readable
SELECT pg_catalog.pg_extension_config_dump('biocrypt.keys', '');
SELECT pg_catalog.pg_extension_config_dump('biocrypt.keys_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('biocrypt.encryption_counter', '');

REVOKE ALL ON biocrypt.keys, biocrypt.keys_id_seq, biocrypt.encryption_counter FROM PUBLIC;
GRANT SELECT (id, epoch, cipher, state, created_at, retired_at, destroyed_at)
	ON biocrypt.keys TO biocrypt_admin;

----------------------------------------------------------------------------
-- audit log (written only by the audit worker; see docs/compliance.md)
----------------------------------------------------------------------------

CREATE TABLE biocrypt.audit_log (
	id bigint NOT NULL,
	chain_id text NOT NULL,
	started_at timestamptz NOT NULL,
	ended_at timestamptz NOT NULL,
	session_role name,
	effective_role name,
	client_addr inet,
	application_name text,
	backend_pid integer,
	xid xid8,
	xact_outcome text CHECK (xact_outcome IN ('committed', 'aborted', 'in progress')),
	purpose text,
	operation text NOT NULL CHECK (operation IN ('protect', 'compare', 'verify',
		'identify', 'reveal', 'export', 'retain', 'purge', 'rotate', 'destroy',
		'hold', 'erase', 'policy', 'denied', 'review')),
	relation regclass,
	column_name name,
	templates_compared bigint NOT NULL,
	expired_skipped bigint NOT NULL,
	matches jsonb,
	metric text,
	threshold float8,
	k integer,
	probe_hmac bytea,
	query_id bigint,
	outcome text NOT NULL CHECK (outcome IN ('ok', 'error', 'denied', 'begun', 'incomplete')),
	sqlstate text,
	begun_id bigint,
	prev_hash bytea NOT NULL,
	row_hash bytea NOT NULL,
	PRIMARY KEY (chain_id, id)
);
-- the worker looks for rows whose transaction outcome is still open
CREATE INDEX audit_log_open_xact ON biocrypt.audit_log (id)
	WHERE xact_outcome = 'in progress';
-- from a begun row to its completion
CREATE INDEX audit_log_completion ON biocrypt.audit_log (chain_id, begun_id)
	WHERE begun_id IS NOT NULL;

COMMENT ON TABLE biocrypt.audit_log IS 'one row per access to protected templates (per statement and relation); append-only, HMAC-chained';
COMMENT ON COLUMN biocrypt.audit_log.id IS 'gapless event number within the chain';
COMMENT ON COLUMN biocrypt.audit_log.chain_id IS 'system identifier of the server that wrote the row';
COMMENT ON COLUMN biocrypt.audit_log.xid IS 'the accessing transaction (NULL if it had none: a read-only transaction)';
COMMENT ON COLUMN biocrypt.audit_log.xact_outcome IS 'committed, aborted or in progress, filled in by the audit worker (outside the hash); NULL when the transaction had no xid';
COMMENT ON COLUMN biocrypt.audit_log.matches IS 'identify/verify: the candidates returned, [{"subject": ..., "distance": ...}]';
COMMENT ON COLUMN biocrypt.audit_log.probe_hmac IS 'keyed hash of the probe: equal probes give equal values, the probe itself is never stored';
COMMENT ON COLUMN biocrypt.audit_log.outcome IS 'ok, error or denied; begun: the row committed before the access''s first decryption or export, whose completion names it in begun_id; incomplete: the completion of an access that a server stop interrupted';
COMMENT ON COLUMN biocrypt.audit_log.begun_id IS 'a completion row: the id of the begun row of the same access';
COMMENT ON COLUMN biocrypt.audit_log.prev_hash IS 'row_hash of the previous row of the chain (zeros for the first)';
COMMENT ON COLUMN biocrypt.audit_log.row_hash IS 'HMAC-SHA-256 over the row and prev_hash, keyed from the root key; see biocrypt.verify_audit()';

-- the chain's MAC key after a root-key change (biocrypt.rewrap_keys): the key
-- the chain was started with, wrapped under the current root key
CREATE TABLE biocrypt.audit_key (
	chain_id text PRIMARY KEY,
	wrapped bytea NOT NULL CHECK (octet_length(wrapped) = 72),
	kcv bytea NOT NULL CHECK (octet_length(kcv) = 16),
	stored_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE biocrypt.audit_key IS 'the audit chain''s MAC key, kept across root-key changes, wrapped under the root key';
REVOKE ALL ON biocrypt.audit_key FROM PUBLIC;

-- the audit worker's mark: every begun row up to closed_through has its
-- completion, so after a crash only the rows after it are looked at
CREATE TABLE biocrypt.audit_state (
	chain_id text PRIMARY KEY,
	closed_through bigint NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE biocrypt.audit_state IS 'per chain: every begun row up to closed_through has its completion (kept by the audit worker)';
REVOKE ALL ON biocrypt.audit_state FROM PUBLIC;

CREATE FUNCTION biocrypt.audit_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'biocrypt_audit_guard' LANGUAGE C;
CREATE TRIGGER audit_log_append_only
	BEFORE INSERT OR UPDATE OR DELETE ON biocrypt.audit_log
	FOR EACH ROW EXECUTE FUNCTION biocrypt.audit_guard();
CREATE TRIGGER audit_log_no_truncate
	BEFORE TRUNCATE ON biocrypt.audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION biocrypt.audit_guard();
-- fire under every session_replication_role: "replica" skips ordinary triggers
ALTER TABLE biocrypt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE biocrypt.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;

CREATE FUNCTION biocrypt.verify_audit(OUT ok boolean, OUT rows_checked bigint,
		OUT first_bad_id bigint, OUT bad_ranges jsonb)
	RETURNS record
	AS 'MODULE_PATHNAME', 'biocrypt_verify_audit' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.verify_audit() IS 'recompute the audit chain: ok, rows checked, the first id that does not verify, and every range of ids that does not ([{chain_id, first_id, last_id, problem}], problem altered, unlinked or missing)';

-- the newest row of this server's chain: publish it outside the database,
-- so that removing the tail of the log shows (docs/compliance.md)
CREATE FUNCTION biocrypt.audit_head(OUT chain_id text, OUT id bigint,
		OUT row_hash bytea, OUT ended_at timestamptz)
	RETURNS record
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT l.chain_id, l.id, l.row_hash, l.ended_at
	FROM biocrypt.audit_log l
	WHERE l.chain_id = (SELECT c.system_identifier::text FROM pg_catalog.pg_control_system() c)
	ORDER BY l.id DESC
	LIMIT 1
$$;
COMMENT ON FUNCTION biocrypt.audit_head() IS 'the newest row of this server''s audit chain (chain_id, id, row_hash, ended_at), to publish outside the database';

-- not in pg_dump: rows belong to the chain of the database that wrote them
-- (archive them with COPY); a restored database starts an empty log

REVOKE ALL ON biocrypt.audit_log FROM PUBLIC;
GRANT SELECT ON biocrypt.audit_log TO biocrypt_auditor;
REVOKE ALL ON FUNCTION biocrypt.audit_guard(), biocrypt.verify_audit(),
	biocrypt.audit_head() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION biocrypt.verify_audit(), biocrypt.audit_head() TO biocrypt_auditor;

----------------------------------------------------------------------------
-- purpose limitation (see biocrypt.purpose)
----------------------------------------------------------------------------

CREATE TABLE biocrypt.purpose_grants (
	role regrole NOT NULL,
	purpose text NOT NULL,
	granted_by name NOT NULL,
	granted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (role, purpose)
);
COMMENT ON TABLE biocrypt.purpose_grants IS 'purposes each role may compare templates for (biocrypt.grant_purpose)';
-- grants are policy: pg_dump carries them
SELECT pg_catalog.pg_extension_config_dump('biocrypt.purpose_grants', '');

CREATE FUNCTION biocrypt.grant_purpose(role regrole, purpose text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_grant_purpose' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.revoke_purpose(role regrole, purpose text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_revoke_purpose' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION biocrypt.grant_purpose(regrole, text) IS 'let a role (and its members) compare templates for a purpose; true if new; audited';
COMMENT ON FUNCTION biocrypt.revoke_purpose(regrole, text) IS 'withdraw a purpose grant; true if there was one; audited';

REVOKE ALL ON biocrypt.purpose_grants FROM PUBLIC;
GRANT SELECT ON biocrypt.purpose_grants TO biocrypt_admin, biocrypt_auditor;
REVOKE ALL ON FUNCTION biocrypt.grant_purpose(regrole, text),
	biocrypt.revoke_purpose(regrole, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION biocrypt.grant_purpose(regrole, text),
	biocrypt.revoke_purpose(regrole, text) TO biocrypt_admin;

----------------------------------------------------------------------------
-- retention: column policies, legal holds, purge, erasure, key rotation
-- (see docs/retention.md)
----------------------------------------------------------------------------

CREATE TABLE biocrypt.columns (
	relation regclass NOT NULL,
	column_name name NOT NULL,
	retention interval NOT NULL,
	purposes text[] NOT NULL,
	on_expiry text NOT NULL CHECK (on_expiry IN ('delete', 'null')),
	registered_by name NOT NULL,
	registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	subject_column name,
	PRIMARY KEY (relation, column_name)
);
COMMENT ON TABLE biocrypt.columns IS 'retention policy of each protected_template column (biocrypt.protect_column)';
COMMENT ON COLUMN biocrypt.columns.retention IS 'how long a template may be kept after it is sealed or last retained (biocrypt.touch)';
COMMENT ON COLUMN biocrypt.columns.on_expiry IS 'what the purge does to an expired template: delete its row, or set the column to NULL';
COMMENT ON COLUMN biocrypt.columns.subject_column IS 'column of the same row whose value (as text) every template written must name as its subject; NULL: no row binding';
SELECT pg_catalog.pg_extension_config_dump('biocrypt.columns', '');

CREATE TABLE biocrypt.erasures (
	subject_hash bytea PRIMARY KEY CHECK (pg_catalog.length(subject_hash) = 32),
	erased_at timestamptz NOT NULL
);
COMMENT ON TABLE biocrypt.erasures IS 'subjects erased by biocrypt.erase_subject, as keyed hashes: a template sealed before its subject''s erasure is never written to a registered column again';
COMMENT ON COLUMN biocrypt.erasures.subject_hash IS 'BLAKE2b of the subject under a key derived from the audit chain key; the subject itself is not kept';
COMMENT ON COLUMN biocrypt.erasures.erased_at IS 'the latest erasure of the subject';
SELECT pg_catalog.pg_extension_config_dump('biocrypt.erasures', '');

CREATE TABLE biocrypt.holds (
	subject text PRIMARY KEY,
	reason text NOT NULL,
	held_by name NOT NULL,
	held_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE biocrypt.holds IS 'legal holds: the purge keeps these subjects'' templates and their data keys (biocrypt.hold)';
SELECT pg_catalog.pg_extension_config_dump('biocrypt.holds', '');

CREATE FUNCTION biocrypt.protect_column(tbl regclass, col name, retention interval,
		purposes text[], on_expiry text DEFAULT 'delete', subject_column name DEFAULT NULL)
	RETURNS void
	AS 'MODULE_PATHNAME', 'biocrypt_protect_column' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.apply_column_policy() RETURNS trigger
	AS 'MODULE_PATHNAME', 'biocrypt_apply_column_policy' LANGUAGE C;
CREATE FUNCTION biocrypt.check_column_policy() RETURNS trigger
	AS 'MODULE_PATHNAME', 'biocrypt_check_column_policy' LANGUAGE C;
CREATE FUNCTION biocrypt.touch(tpl protected_template, until timestamptz)
	RETURNS protected_template
	AS 'MODULE_PATHNAME', 'biocrypt_touch' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.purge_expired() RETURNS bigint
	AS 'MODULE_PATHNAME', 'biocrypt_purge_expired' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.destroy_key(id int) RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_destroy_key' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.hold(subject text, reason text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_hold' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.release_hold(subject text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_release_hold' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.erase_subject(subject text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'biocrypt_erase_subject' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.rotate_key() RETURNS int
	AS 'MODULE_PATHNAME', 'biocrypt_rotate_key' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.reencrypt(tbl regclass, col name, max_rows bigint DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'biocrypt_reencrypt' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.rewrap_keys() RETURNS int
	AS 'MODULE_PATHNAME', 'biocrypt_rewrap_keys' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION biocrypt.protect_column(regclass, name, interval, text[], text, name) IS 'set a column''s retention policy: retention, purposes, what the purge does (delete the row or null the column) and the column of the row each template''s subject must equal; audited';
COMMENT ON FUNCTION biocrypt.apply_column_policy() IS 'trigger installed by protect_column: fills in defaulted retention and purposes, refuses templates outside the policy';
COMMENT ON FUNCTION biocrypt.check_column_policy() IS 'AFTER trigger installed by protect_column: checks the row as stored (policy, subject binding, erasure) after every BEFORE trigger, and audits each template written';
COMMENT ON FUNCTION biocrypt.touch(protected_template, timestamptz) IS 're-seal a template with a new expiry (an interaction extends its retention); audited as retain';
COMMENT ON FUNCTION biocrypt.purge_expired() IS 'apply every column policy to expired templates (except held subjects) and destroy the data keys no template needs; returns templates purged';
COMMENT ON FUNCTION biocrypt.destroy_key(int) IS 'crypto-shred a data key: its templates can never be decrypted again; true if it was destroyed now';
COMMENT ON FUNCTION biocrypt.hold(text, text) IS 'place a subject under legal hold: the purge keeps its templates and their keys; true if new; audited';
COMMENT ON FUNCTION biocrypt.release_hold(text) IS 'release a legal hold; true if there was one; audited';
COMMENT ON FUNCTION biocrypt.erase_subject(text) IS 'remove every template of a subject from every registered column now (erasure request); returns the count; audited';
COMMENT ON FUNCTION biocrypt.rotate_key() IS 'retire every active data key, so that new templates get fresh keys; returns keys retired';
COMMENT ON FUNCTION biocrypt.reencrypt(regclass, name, bigint) IS 'move a column''s templates from retired keys to the active keys of their epochs (at most max_rows per call; rerun to resume); returns templates moved';
COMMENT ON FUNCTION biocrypt.rewrap_keys() IS 'wrap every data key under biocrypt.new_root_key_file/command instead of the current root key; returns keys rewrapped';

-- reencrypt() calls running in the cluster, like pg_stat_progress_*
CREATE FUNCTION biocrypt.reencrypt_progress(OUT pid integer, OUT datid oid,
		OUT relid oid, OUT column_name name, OUT started_at timestamptz,
		OUT blocks_total bigint, OUT blocks_done bigint, OUT templates_moved bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_reencrypt_progress' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.reencrypt_progress() IS 'progress of the reencrypt() calls running in the cluster';
CREATE VIEW biocrypt.reencrypt_progress AS
SELECT p.pid, p.datid, d.datname, p.relid, p.column_name, p.started_at,
	p.blocks_total, p.blocks_done, p.templates_moved
FROM biocrypt.reencrypt_progress() p
LEFT JOIN pg_catalog.pg_database d ON d.oid = p.datid;
COMMENT ON VIEW biocrypt.reencrypt_progress IS 'one row per running biocrypt.reencrypt(): blocks scanned and templates moved so far';

-- the published retention policy (what BIPA calls the written policy)
CREATE VIEW biocrypt.retention_schedule AS
SELECT c.relation, c.column_name, c.purposes, c.retention, c.on_expiry,
	pg_catalog.current_setting('biocrypt.max_retention') AS max_retention,
	c.registered_at
FROM biocrypt.columns c
ORDER BY c.relation::text, c.column_name;
COMMENT ON VIEW biocrypt.retention_schedule IS 'per protected column: purposes, retention and what happens on expiry';

-- every stored template, described by its header alone, for auditors
CREATE FUNCTION biocrypt.list_templates(OUT relation regclass, OUT column_name name,
		OUT subject text, OUT created_at timestamptz, OUT expires_at timestamptz,
		OUT purposes text[], OUT key_id integer, OUT key_state text, OUT held boolean,
		OUT registered boolean)
	RETURNS SETOF record
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tpl oid := (SELECT t.oid FROM pg_type t
				JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid
					AND d.deptype = 'e'
				JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'biocrypt'
				WHERE t.typname = 'protected_template');
	c record;
BEGIN
	FOR c IN SELECT a.attrelid::regclass AS rel, a.attname AS col
			 FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
			 WHERE a.atttypid = tpl AND a.attnum > 0 AND NOT a.attisdropped
				 AND r.relkind = 'r'
			 ORDER BY r.relname, a.attname
	LOOP
		-- read with the extension's privileges: lock the table, then make sure
		-- it still is a plain table with that column, so no owner code runs
		EXECUTE format('LOCK TABLE ONLY %s IN ACCESS SHARE MODE', c.rel);
		IF NOT EXISTS (SELECT FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
					   WHERE a.attrelid = c.rel AND a.attname = c.col AND a.atttypid = tpl
						   AND NOT a.attisdropped AND r.relkind = 'r') THEN
			CONTINUE;
		END IF;
		RETURN QUERY EXECUTE format(
			'SELECT $1, $2, biocrypt.subject_of(t.%1$I), biocrypt.created_at(t.%1$I), '
			'biocrypt.expires_at(t.%1$I), biocrypt.purposes_of(t.%1$I), biocrypt.key_id_of(t.%1$I), '
			'k.state, EXISTS (SELECT FROM biocrypt.holds h WHERE h.subject = biocrypt.subject_of(t.%1$I)), '
			'EXISTS (SELECT FROM biocrypt.columns p WHERE p.relation = $1 AND p.column_name = $2) '
			'FROM ONLY %2$s t LEFT JOIN biocrypt.keys k ON k.id = biocrypt.key_id_of(t.%1$I) '
			'WHERE t.%1$I IS NOT NULL',
			c.col, c.rel)
		USING c.rel, c.col;
	END LOOP;
	-- a registered column whose table's owner made it something else is not
	-- read (that could run the owner's code with these privileges): say so
	FOR c IN SELECT p.relation AS rel, p.column_name AS col FROM biocrypt.columns p
			 WHERE NOT EXISTS (SELECT FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
							   WHERE a.attrelid = p.relation AND a.attname = p.column_name
								   AND a.atttypid = tpl AND NOT a.attisdropped AND r.relkind = 'r')
			 ORDER BY 1, 2
	LOOP
		RAISE WARNING 'biocrypt: column "%" of table % no longer fits its retention policy; not listed',
			c.col, c.rel;
	END LOOP;
END
$$;
COMMENT ON FUNCTION biocrypt.list_templates() IS 'every template stored in a table, from its authenticated header (no decryption, no ciphertext)';

-- expired templates still stored: the purge's work to come (registered
-- columns), held subjects', and those of columns no policy covers
CREATE FUNCTION biocrypt.overdue_templates(OUT relation regclass, OUT column_name name,
		OUT subject text, OUT expired_at timestamptz, OUT held boolean)
	RETURNS SETOF record
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT l.relation, l.column_name, l.subject, l.expires_at, l.held
	FROM biocrypt.list_templates() l
	WHERE l.expires_at <= pg_catalog.now()
$$;
COMMENT ON FUNCTION biocrypt.overdue_templates() IS 'templates past their expiry that are still stored';

CREATE VIEW biocrypt.template_inventory AS
SELECT l.relation, l.column_name, l.subject, l.created_at, l.expires_at,
	l.expires_at <= pg_catalog.now() AS expired, l.purposes, l.key_id, l.key_state,
	l.held, l.registered
FROM biocrypt.list_templates() l;
COMMENT ON VIEW biocrypt.template_inventory IS 'one row per stored template: table, column, subject, created, expires, purposes, data key and its state, legal hold, whether the column has a retention policy; no ciphertext';

CREATE VIEW biocrypt.overdue AS
SELECT o.relation, o.column_name, o.subject, o.expired_at, o.held
FROM biocrypt.overdue_templates() o;
COMMENT ON VIEW biocrypt.overdue IS 'templates past expiry not yet purged (held subjects stay here until released)';

REVOKE ALL ON biocrypt.columns, biocrypt.holds, biocrypt.erasures, biocrypt.retention_schedule,
	biocrypt.overdue, biocrypt.template_inventory, biocrypt.reencrypt_progress FROM PUBLIC;
GRANT SELECT ON biocrypt.template_inventory TO biocrypt_admin, biocrypt_auditor;
GRANT SELECT ON biocrypt.reencrypt_progress TO biocrypt_admin;
GRANT SELECT ON biocrypt.columns, biocrypt.holds, biocrypt.erasures, biocrypt.overdue
	TO biocrypt_admin, biocrypt_auditor;
GRANT SELECT ON biocrypt.retention_schedule
	TO biocrypt_enroller, biocrypt_matcher, biocrypt_auditor, biocrypt_admin;
REVOKE ALL ON FUNCTION
	biocrypt.protect_column(regclass, name, interval, text[], text, name),
	biocrypt.apply_column_policy(),
	biocrypt.check_column_policy(),
	biocrypt.touch(protected_template, timestamptz),
	biocrypt.purge_expired(),
	biocrypt.destroy_key(int),
	biocrypt.hold(text, text),
	biocrypt.release_hold(text),
	biocrypt.erase_subject(text),
	biocrypt.rotate_key(),
	biocrypt.reencrypt(regclass, name, bigint),
	biocrypt.rewrap_keys(),
	biocrypt.overdue_templates(),
	biocrypt.list_templates(),
	biocrypt.reencrypt_progress()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION biocrypt.touch(protected_template, timestamptz)
	TO biocrypt_enroller;
GRANT EXECUTE ON FUNCTION biocrypt.overdue_templates(), biocrypt.list_templates()
	TO biocrypt_admin, biocrypt_auditor;
GRANT EXECUTE ON FUNCTION biocrypt.reencrypt_progress() TO biocrypt_admin;
GRANT EXECUTE ON FUNCTION
	biocrypt.protect_column(regclass, name, interval, text[], text, name),
	biocrypt.purge_expired(),
	biocrypt.destroy_key(int),
	biocrypt.hold(text, text),
	biocrypt.release_hold(text),
	biocrypt.erase_subject(text),
	biocrypt.rotate_key(),
	biocrypt.reencrypt(regclass, name, bigint),
	biocrypt.rewrap_keys()
	TO biocrypt_admin;

-- a dropped table or column takes its policy with it
CREATE FUNCTION biocrypt.forget_dropped_columns() RETURNS event_trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM biocrypt.columns c
	USING pg_event_trigger_dropped_objects() d
	WHERE d.classid = 'pg_class'::regclass AND d.objid = c.relation::oid
		AND (d.objsubid = 0 OR d.address_names[3] = c.column_name);
END
$$;
REVOKE ALL ON FUNCTION biocrypt.forget_dropped_columns() FROM PUBLIC;
CREATE EVENT TRIGGER biocrypt_forget_dropped_columns ON sql_drop
	EXECUTE FUNCTION biocrypt.forget_dropped_columns();

----------------------------------------------------------------------------
-- two-person review of identifications
----------------------------------------------------------------------------

CREATE TABLE biocrypt.match_decisions (
	chain_id text NOT NULL,
	event_id bigint NOT NULL,
	subject text NOT NULL,
	reviewer name NOT NULL,
	decision text NOT NULL CHECK (decision IN ('confirm', 'reject')),
	decided_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	audit_id bigint,
	PRIMARY KEY (chain_id, event_id, subject, reviewer)
);
COMMENT ON TABLE biocrypt.match_decisions IS 'reviewers'' decisions on identify() candidates (biocrypt.confirm_match); each is also a review row of the audit log (audit_id)';
COMMENT ON COLUMN biocrypt.match_decisions.audit_id IS 'id of the decision''s review row in biocrypt.audit_log (same chain)';

-- each candidate of each identify(): confirmed once biocrypt.required_confirmations
-- distinct login roles confirmed it, rejected once any reviewer rejected it;
-- only decisions that are in the audit chain count
CREATE VIEW biocrypt.match_reviews AS
SELECT a.chain_id, a.id AS event_id, a.started_at AS searched_at,
	a.session_role AS searched_by, a.relation AS gallery, a.purpose,
	m.rank, m.item->>'subject' AS subject, (m.item->>'distance')::float8 AS distance,
	coalesce(d.confirmations, 0) AS confirmations, coalesce(d.rejections, 0) AS rejections,
	d.reviewers, d.decisions,
	CASE WHEN coalesce(d.rejections, 0) > 0 THEN 'rejected'
		WHEN coalesce(d.confirmations, 0) >=
			pg_catalog.current_setting('biocrypt.required_confirmations')::int THEN 'confirmed'
		ELSE 'candidate' END AS state,
	CASE WHEN coalesce(d.rejections, 0) = 0 THEN
		d.confirmed_at[pg_catalog.current_setting('biocrypt.required_confirmations')::int]
	END AS confirmed_at
FROM biocrypt.audit_log a
CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(a.matches) WITH ORDINALITY m(item, rank)
LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE x.decision = 'confirm') AS confirmations,
		count(*) FILTER (WHERE x.decision = 'reject') AS rejections,
		pg_catalog.array_agg(x.reviewer ORDER BY x.decided_at, x.reviewer) AS reviewers,
		pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('reviewer', x.reviewer,
			'decision', x.decision, 'decided_at', x.decided_at, 'audit_id', x.audit_id)
			ORDER BY x.decided_at, x.reviewer) AS decisions,
		pg_catalog.array_agg(x.decided_at ORDER BY x.decided_at, x.reviewer)
			FILTER (WHERE x.decision = 'confirm') AS confirmed_at
	FROM biocrypt.match_decisions x
	WHERE x.chain_id = a.chain_id AND x.event_id = a.id AND x.subject = m.item->>'subject'
		AND x.audit_id IS NOT NULL
) d ON true
WHERE a.operation = 'identify' AND a.outcome = 'ok' AND m.item ? 'subject';
COMMENT ON VIEW biocrypt.match_reviews IS 'each identify() candidate with its reviews (who, what, when, audit row) and state: candidate, confirmed (confirmed_at: when the deciding confirmation was made) or rejected';

CREATE FUNCTION biocrypt.confirm_match(event_id bigint, subject text, decision text DEFAULT 'confirm')
	RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_confirm_match' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION biocrypt.confirm_match(bigint, text, text) IS 'record a reviewer''s decision (confirm or reject) on an identify() candidate, in match_decisions and as a review row of the audit log; returns its state';

REVOKE ALL ON biocrypt.match_decisions, biocrypt.match_reviews FROM PUBLIC;
GRANT SELECT ON biocrypt.match_decisions, biocrypt.match_reviews TO biocrypt_auditor;
REVOKE ALL ON FUNCTION biocrypt.confirm_match(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION biocrypt.confirm_match(bigint, text, text) TO biocrypt_auditor;

----------------------------------------------------------------------------
-- enrolment
----------------------------------------------------------------------------

CREATE FUNCTION biocrypt.protect(embedding real[], subject text,
		retain_until timestamptz DEFAULT NULL, purposes text[] DEFAULT NULL,
		format text DEFAULT 'f32')
	RETURNS protected_template
	AS 'MODULE_PATHNAME', 'biocrypt_protect' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION biocrypt.protect_bits(code bytea, mask bytea, subject text,
		retain_until timestamptz DEFAULT NULL, purposes text[] DEFAULT NULL,
		layout int[] DEFAULT NULL)
	RETURNS protected_template
	AS 'MODULE_PATHNAME', 'biocrypt_protect_bits' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION biocrypt.protect(real[], text, timestamptz, text[], text) IS 'encrypt an embedding (f32, f16 or i8) for a subject, with retention and purposes';
COMMENT ON FUNCTION biocrypt.protect_bits(bytea, bytea, text, timestamptz, text[], int[]) IS 'encrypt an iris-style bit code and optional mask, with layout {rows, cols, bits_per_cell}';

-- the same, with the embedding or code sealed to biocrypt.public_key()
CREATE FUNCTION biocrypt.protect_sealed(sealed sealed_probe, subject text,
		retain_until timestamptz DEFAULT NULL, purposes text[] DEFAULT NULL,
		format text DEFAULT 'f32')
	RETURNS protected_template
	AS 'MODULE_PATHNAME', 'biocrypt_protect_sealed' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION biocrypt.protect_bits_sealed(sealed sealed_probe, subject text,
		retain_until timestamptz DEFAULT NULL, purposes text[] DEFAULT NULL,
		layout int[] DEFAULT NULL)
	RETURNS protected_template
	AS 'MODULE_PATHNAME', 'biocrypt_protect_bits_sealed' LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION biocrypt.protect_sealed(sealed_probe, text, timestamptz, text[], text) IS 'encrypt an embedding sealed to biocrypt.public_key() (f32, f16 or i8), as protect(real[], ...)';
COMMENT ON FUNCTION biocrypt.protect_bits_sealed(sealed_probe, text, timestamptz, text[], int[]) IS 'encrypt a bit code (and mask) sealed to biocrypt.public_key(), as protect_bits(bytea, bytea, ...)';

----------------------------------------------------------------------------
-- header accessors (no key needed)
----------------------------------------------------------------------------

CREATE FUNCTION biocrypt.subject_of(protected_template) RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_subject_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.expires_at(protected_template) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'biocrypt_expires_at' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.created_at(protected_template) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'biocrypt_created_at' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.purposes_of(protected_template) RETURNS text[]
	AS 'MODULE_PATHNAME', 'biocrypt_purposes_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.key_id_of(protected_template) RETURNS integer
	AS 'MODULE_PATHNAME', 'biocrypt_key_id_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.format_of(protected_template) RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_format_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.dims_of(protected_template) RETURNS integer
	AS 'MODULE_PATHNAME', 'biocrypt_dims_of' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- a cost above the operators' keeps ORDER BY ... LIMIT from calling the
-- accessors below the sort, on every row, instead of on the rows returned
ALTER FUNCTION biocrypt.subject_of(protected_template) COST 100;

COMMENT ON FUNCTION biocrypt.subject_of(protected_template) IS 'subject of a template (authenticated header, no decryption)';
COMMENT ON FUNCTION biocrypt.expires_at(protected_template) IS 'end of a template''s retention';
COMMENT ON FUNCTION biocrypt.created_at(protected_template) IS 'when a template was sealed';
COMMENT ON FUNCTION biocrypt.purposes_of(protected_template) IS 'purposes a template may be used for';
COMMENT ON FUNCTION biocrypt.key_id_of(protected_template) IS 'id of the data key in biocrypt.keys that sealed a template';
COMMENT ON FUNCTION biocrypt.format_of(protected_template) IS 'element format: f32, f16, i8 or bits';
COMMENT ON FUNCTION biocrypt.dims_of(protected_template) IS 'number of elements, or of bits for a bit code';

----------------------------------------------------------------------------
-- reveal (admins only, while biocrypt.allow_reveal is on)
----------------------------------------------------------------------------

CREATE FUNCTION biocrypt.reveal(tpl protected_template) RETURNS real[]
	AS 'MODULE_PATHNAME', 'biocrypt_reveal' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
CREATE FUNCTION biocrypt.reveal_bits(tpl protected_template, OUT code bytea, OUT mask bytea)
	RETURNS record
	AS 'MODULE_PATHNAME', 'biocrypt_reveal_bits' LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION biocrypt.reveal(protected_template) IS 'decrypt an embedding (admins, while biocrypt.allow_reveal is on; logged)';
COMMENT ON FUNCTION biocrypt.reveal_bits(protected_template) IS 'decrypt a bit code and its mask (admins, while biocrypt.allow_reveal is on; logged)';

----------------------------------------------------------------------------
-- comparison (STABLE: results depend on the clock and the key ring; never
-- LEAKPROOF)
----------------------------------------------------------------------------

CREATE FUNCTION biocrypt.l2_distance(protected_template, real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_l2_distance' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.cosine_distance(protected_template, real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_cosine_distance' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.negative_inner_product(protected_template, real[]) RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_negative_inner_product' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.hamming_distance(protected_template, bytea) RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_hamming_distance' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <-> (LEFTARG = protected_template, RIGHTARG = real[],
	FUNCTION = biocrypt.l2_distance);
CREATE OPERATOR <=> (LEFTARG = protected_template, RIGHTARG = real[],
	FUNCTION = biocrypt.cosine_distance);
CREATE OPERATOR <#> (LEFTARG = protected_template, RIGHTARG = real[],
	FUNCTION = biocrypt.negative_inner_product);
CREATE OPERATOR <~> (LEFTARG = protected_template, RIGHTARG = bytea,
	FUNCTION = biocrypt.hamming_distance);

CREATE FUNCTION biocrypt.iris_distance(tpl protected_template, code bytea,
		mask bytea DEFAULT NULL, max_shift int DEFAULT 0)
	RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_iris_distance' LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION biocrypt.verify(tpl protected_template, probe real[],
		max_distance float8, metric text DEFAULT 'cosine')
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_verify' LANGUAGE C STABLE STRICT PARALLEL SAFE;
-- a decryption costs far more than a key lookup: in WHERE id = $1 AND
-- verify(...), the lookup runs first and only that row is decrypted
ALTER FUNCTION biocrypt.verify(protected_template, real[], float8, text) COST 100;

CREATE FUNCTION biocrypt.identify(gallery regclass, col name, probe real[],
		k int DEFAULT 10, max_distance float8 DEFAULT NULL, metric text DEFAULT 'cosine')
	RETURNS TABLE (subject text, distance float8)
	AS 'MODULE_PATHNAME', 'biocrypt_identify' LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

CREATE FUNCTION biocrypt.identify(gallery regclass, col name, probe bytea,
		k int DEFAULT 10, max_distance float8 DEFAULT NULL, mask bytea DEFAULT NULL,
		max_shift int DEFAULT 0)
	RETURNS TABLE (subject text, distance float8)
	AS 'MODULE_PATHNAME', 'biocrypt_identify_bits' LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

-- decisions and ranks without scores, at the administrator's threshold
-- (biocrypt.match_threshold, biocrypt.match_metric, biocrypt.match_threshold_bits)
CREATE FUNCTION biocrypt.verify(tpl protected_template, probe real[])
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_verify_decision' LANGUAGE C STABLE STRICT PARALLEL SAFE;
ALTER FUNCTION biocrypt.verify(protected_template, real[]) COST 100;
CREATE FUNCTION biocrypt.verify_bits(tpl protected_template, code bytea,
		mask bytea DEFAULT NULL, max_shift int DEFAULT 0)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_verify_bits_decision' LANGUAGE C STABLE PARALLEL SAFE;
ALTER FUNCTION biocrypt.verify_bits(protected_template, bytea, bytea, int) COST 100;

CREATE FUNCTION biocrypt.identify_ranks(gallery regclass, col name, probe real[],
		k int DEFAULT 10)
	RETURNS TABLE (rank int, subject text)
	AS 'MODULE_PATHNAME', 'biocrypt_identify_ranks' LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;
CREATE FUNCTION biocrypt.identify_ranks(gallery regclass, col name, probe bytea,
		k int DEFAULT 10, mask bytea DEFAULT NULL, max_shift int DEFAULT 0)
	RETURNS TABLE (rank int, subject text)
	AS 'MODULE_PATHNAME', 'biocrypt_identify_ranks_bits' LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

-- how many scores each role was given in the current window
CREATE FUNCTION biocrypt.score_budget_usage(OUT database_name text, OUT role_name text,
		OUT window_start timestamptz, OUT subjects bigint, OUT scores bigint,
		OUT most_for_one_subject bigint, OUT budget integer,
		OUT subjects_near_budget bigint, OUT subjects_at_budget bigint,
		OUT scores_refused bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_score_budgets' LANGUAGE C VOLATILE;
CREATE VIEW biocrypt.score_budgets AS
	SELECT * FROM biocrypt.score_budget_usage()
	ORDER BY scores_refused DESC, most_for_one_subject DESC, database_name, role_name;

CREATE FUNCTION biocrypt.simd_path() RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_simd_path' LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION biocrypt.l2_distance(protected_template, real[]) IS 'Euclidean distance between a template and a probe (operator <->)';
COMMENT ON FUNCTION biocrypt.cosine_distance(protected_template, real[]) IS 'cosine distance between a template and a probe (operator <=>)';
COMMENT ON FUNCTION biocrypt.negative_inner_product(protected_template, real[]) IS 'negative inner product of a template and a probe (operator <#>)';
COMMENT ON FUNCTION biocrypt.hamming_distance(protected_template, bytea) IS 'fraction of differing bits between a bit-code template and a probe code (operator <~>)';
COMMENT ON OPERATOR <->(protected_template, real[]) IS 'Euclidean distance';
COMMENT ON OPERATOR <=>(protected_template, real[]) IS 'cosine distance';
COMMENT ON OPERATOR <#>(protected_template, real[]) IS 'negative inner product';
COMMENT ON OPERATOR <~>(protected_template, bytea) IS 'fractional Hamming distance (no mask, no rotation)';
COMMENT ON FUNCTION biocrypt.iris_distance(protected_template, bytea, bytea, int) IS 'masked fractional Hamming distance, minimised over column shifts; NULL when too few bits are valid in both masks';
COMMENT ON FUNCTION biocrypt.verify(protected_template, real[], float8, text) IS '1:1 verification: is the probe within max_distance of the template (false when expired)';
COMMENT ON FUNCTION biocrypt.identify(regclass, name, real[], int, float8, text) IS '1:N identification: the k nearest subjects in a template column';
COMMENT ON FUNCTION biocrypt.identify(regclass, name, bytea, int, float8, bytea, int) IS '1:N identification over bit codes (masked fractional Hamming distance)';
COMMENT ON FUNCTION biocrypt.verify(protected_template, real[]) IS '1:1 decision at the administrator''s biocrypt.match_threshold and biocrypt.match_metric, without a score (false when expired)';
COMMENT ON FUNCTION biocrypt.verify_bits(protected_template, bytea, bytea, int) IS '1:1 decision for a bit code at biocrypt.match_threshold_bits (masked Hamming, minimised over shifts), without a score';
COMMENT ON FUNCTION biocrypt.identify_ranks(regclass, name, real[], int) IS '1:N: up to k subjects within biocrypt.match_threshold, ranked best first, without distances';
COMMENT ON FUNCTION biocrypt.identify_ranks(regclass, name, bytea, int, bytea, int) IS '1:N over bit codes: up to k subjects within biocrypt.match_threshold_bits, ranked, without distances';
COMMENT ON FUNCTION biocrypt.score_budget_usage() IS 'scores given to each role in the current biocrypt.score_window (see the view biocrypt.score_budgets)';
COMMENT ON VIEW biocrypt.score_budgets IS 'roles nearing or over biocrypt.score_budget in the current window: subjects they were given scores about, the most about one subject, subjects at 80 % or more of the budget, scores refused';
COMMENT ON FUNCTION biocrypt.simd_path() IS 'distance kernel path in use: avx512, avx2 or portable';

-- the sealed forms: the probe sealed to biocrypt.public_key(), opened once
-- per statement, then compared exactly as the plain forms compare.  Their
-- own names, not overloads: an overload would make every untyped literal
-- probe ('{1,2}') ambiguous between real[] and sealed_probe
CREATE FUNCTION biocrypt.public_key() RETURNS bytea
	AS 'MODULE_PATHNAME', 'biocrypt_public_key' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION biocrypt.l2_distance_sealed(protected_template, sealed_probe) RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_l2_distance_sealed' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.cosine_distance_sealed(protected_template, sealed_probe) RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_cosine_distance_sealed' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.negative_inner_product_sealed(protected_template, sealed_probe) RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_negative_inner_product_sealed' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.hamming_distance_sealed(protected_template, sealed_probe) RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_hamming_distance_sealed' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION biocrypt.iris_distance_sealed(tpl protected_template, probe sealed_probe,
		max_shift int DEFAULT 0)
	RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_iris_distance_sealed' LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION biocrypt.verify_sealed(tpl protected_template, probe sealed_probe,
		max_distance float8, metric text DEFAULT 'cosine')
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_verify_sealed' LANGUAGE C STABLE STRICT PARALLEL SAFE;
ALTER FUNCTION biocrypt.verify_sealed(protected_template, sealed_probe, float8, text) COST 100;

CREATE FUNCTION biocrypt.identify_sealed(gallery regclass, col name, probe sealed_probe,
		k int DEFAULT 10, max_distance float8 DEFAULT NULL, metric text DEFAULT 'cosine',
		max_shift int DEFAULT 0)
	RETURNS TABLE (subject text, distance float8)
	AS 'MODULE_PATHNAME', 'biocrypt_identify_sealed' LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

-- the decision-only forms (biocrypt_verifier), sealed
CREATE FUNCTION biocrypt.verify_sealed(tpl protected_template, probe sealed_probe)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_verify_decision_sealed' LANGUAGE C STABLE STRICT PARALLEL SAFE;
ALTER FUNCTION biocrypt.verify_sealed(protected_template, sealed_probe) COST 100;
CREATE FUNCTION biocrypt.verify_bits_sealed(tpl protected_template, probe sealed_probe,
		max_shift int DEFAULT 0)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'biocrypt_verify_bits_decision_sealed' LANGUAGE C STABLE PARALLEL SAFE;
ALTER FUNCTION biocrypt.verify_bits_sealed(protected_template, sealed_probe, int) COST 100;
CREATE FUNCTION biocrypt.identify_ranks_sealed(gallery regclass, col name, probe sealed_probe,
		k int DEFAULT 10, max_shift int DEFAULT 0)
	RETURNS TABLE (rank int, subject text)
	AS 'MODULE_PATHNAME', 'biocrypt_identify_ranks_sealed' LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 10;

COMMENT ON FUNCTION biocrypt.verify_sealed(protected_template, sealed_probe) IS '1:1 decision with a sealed probe at biocrypt.match_threshold and biocrypt.match_metric, without a score, as verify(tpl, probe)';
COMMENT ON FUNCTION biocrypt.verify_bits_sealed(protected_template, sealed_probe, int) IS '1:1 decision for a sealed bit code (and mask) at biocrypt.match_threshold_bits, without a score, as verify_bits()';
COMMENT ON FUNCTION biocrypt.identify_ranks_sealed(regclass, name, sealed_probe, int, int) IS '1:N with a sealed embedding or bit code: ranked subjects within the administrator''s threshold, without distances, as identify_ranks()';
COMMENT ON FUNCTION biocrypt.public_key() IS 'the server''s X25519 public key (32 bytes) to seal probes to; derived from the root key';
COMMENT ON FUNCTION biocrypt.l2_distance_sealed(protected_template, sealed_probe) IS 'Euclidean distance between a template and a sealed probe (as the operator <->)';
COMMENT ON FUNCTION biocrypt.cosine_distance_sealed(protected_template, sealed_probe) IS 'cosine distance between a template and a sealed probe (as the operator <=>)';
COMMENT ON FUNCTION biocrypt.negative_inner_product_sealed(protected_template, sealed_probe) IS 'negative inner product of a template and a sealed probe (as the operator <#>)';
COMMENT ON FUNCTION biocrypt.hamming_distance_sealed(protected_template, sealed_probe) IS 'fraction of differing bits between a bit-code template and a sealed code without a mask (as the operator <~>)';
COMMENT ON FUNCTION biocrypt.iris_distance_sealed(protected_template, sealed_probe, int) IS 'masked fractional Hamming distance to a sealed code and its mask, minimised over column shifts';
COMMENT ON FUNCTION biocrypt.verify_sealed(protected_template, sealed_probe, float8, text) IS '1:1 verification with a sealed probe';
COMMENT ON FUNCTION biocrypt.identify_sealed(regclass, name, sealed_probe, int, float8, text, int) IS '1:N identification with a sealed embedding (metric) or bit code (masked Hamming, metric ''hamming'' or left at its default, max_shift)';

----------------------------------------------------------------------------
-- warm galleries: the index access method biocrypt_gallery (pages of
-- ciphertext and heap TIDs; see docs/security.md); created only by
-- administrators
----------------------------------------------------------------------------

CREATE FUNCTION biocrypt.gallery_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME', 'biocrypt_gallery_handler' LANGUAGE C;
CREATE ACCESS METHOD biocrypt_gallery TYPE INDEX HANDLER biocrypt.gallery_handler;
COMMENT ON ACCESS METHOD biocrypt_gallery IS 'gallery of protected templates for exact 1:N search (index pages hold ciphertext only)';

CREATE OPERATOR CLASS protected_template_ops
	DEFAULT FOR TYPE protected_template USING biocrypt_gallery AS
	OPERATOR 1 <-> (protected_template, real[]) FOR ORDER BY float_ops,
	OPERATOR 2 <=> (protected_template, real[]) FOR ORDER BY float_ops,
	OPERATOR 3 <#> (protected_template, real[]) FOR ORDER BY float_ops,
	OPERATOR 4 <~> (protected_template, bytea) FOR ORDER BY float_ops;

REVOKE ALL ON FUNCTION biocrypt.gallery_handler(internal) FROM PUBLIC;

CREATE FUNCTION biocrypt.warm(index regclass) RETURNS bigint
	AS 'MODULE_PATHNAME', 'biocrypt_warm' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION biocrypt.warm(regclass) IS 'warm a gallery index now: its templates decrypted into shared memory (administrators only); NULL where it stays cold';

CREATE FUNCTION biocrypt.gallery_state(OUT index oid, OUT format text, OUT templates bigint,
	OUT bytes bigint, OUT protection text, OUT state text, OUT warmed_at timestamptz,
	OUT scans bigint, OUT templates_compared bigint) RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_gallery_state' LANGUAGE C VOLATILE;

CREATE VIEW biocrypt.galleries AS
	SELECT i.indexrelid::regclass AS index, i.indrelid::regclass AS relation,
		a.attname AS "column", s.format, coalesce(s.templates, 0) AS templates,
		coalesce(s.bytes, 0) AS bytes, s.protection, coalesce(s.state, 'cold') AS state,
		s.warmed_at, coalesce(s.scans, 0) AS scans,
		coalesce(s.templates_compared, 0) AS templates_compared
	FROM pg_index i
	JOIN pg_class c ON c.oid = i.indexrelid AND c.relkind = 'i'
	JOIN pg_am am ON am.oid = c.relam AND am.amname = 'biocrypt_gallery'
	JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
	LEFT JOIN biocrypt.gallery_state() s ON s.index = i.indexrelid;
COMMENT ON VIEW biocrypt.galleries IS 'gallery indexes of this database and their warm forms: templates, bytes, how they are kept from swap, state, use';

CREATE FUNCTION biocrypt.gallery_warm_progress_state(OUT pid int, OUT datid oid, OUT index oid,
	OUT blocks_total bigint, OUT blocks_done bigint, OUT templates_loaded bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_gallery_warm_progress' LANGUAGE C VOLATILE;

CREATE VIEW biocrypt.gallery_warm_progress AS
	SELECT p.pid, p.datid, d.datname, p.index::regclass AS index, 'loading pages'::text AS phase,
		p.blocks_total, p.blocks_done, p.templates_loaded
	FROM biocrypt.gallery_warm_progress_state() p
	LEFT JOIN pg_database d ON d.oid = p.datid;
COMMENT ON VIEW biocrypt.gallery_warm_progress IS 'galleries warming now, one row per warming backend, as pg_stat_progress_create_index';

----------------------------------------------------------------------------
-- privileges: PUBLIC keeps only the type's I/O
----------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
	biocrypt.protect(real[], text, timestamptz, text[], text),
	biocrypt.protect_bits(bytea, bytea, text, timestamptz, text[], int[]),
	biocrypt.subject_of(protected_template),
	biocrypt.expires_at(protected_template),
	biocrypt.created_at(protected_template),
	biocrypt.purposes_of(protected_template),
	biocrypt.key_id_of(protected_template),
	biocrypt.format_of(protected_template),
	biocrypt.dims_of(protected_template),
	biocrypt.reveal(protected_template),
	biocrypt.reveal_bits(protected_template),
	biocrypt.l2_distance(protected_template, real[]),
	biocrypt.cosine_distance(protected_template, real[]),
	biocrypt.negative_inner_product(protected_template, real[]),
	biocrypt.hamming_distance(protected_template, bytea),
	biocrypt.iris_distance(protected_template, bytea, bytea, int),
	biocrypt.verify(protected_template, real[], float8, text),
	biocrypt.identify(regclass, name, real[], int, float8, text),
	biocrypt.identify(regclass, name, bytea, int, float8, bytea, int),
	biocrypt.verify(protected_template, real[]),
	biocrypt.verify_bits(protected_template, bytea, bytea, int),
	biocrypt.identify_ranks(regclass, name, real[], int),
	biocrypt.identify_ranks(regclass, name, bytea, int, bytea, int),
	biocrypt.score_budget_usage(),
	biocrypt.simd_path(),
	biocrypt.protect_sealed(sealed_probe, text, timestamptz, text[], text),
	biocrypt.protect_bits_sealed(sealed_probe, text, timestamptz, text[], int[]),
	biocrypt.l2_distance_sealed(protected_template, sealed_probe),
	biocrypt.cosine_distance_sealed(protected_template, sealed_probe),
	biocrypt.negative_inner_product_sealed(protected_template, sealed_probe),
	biocrypt.hamming_distance_sealed(protected_template, sealed_probe),
	biocrypt.iris_distance_sealed(protected_template, sealed_probe, int),
	biocrypt.verify_sealed(protected_template, sealed_probe, float8, text),
	biocrypt.identify_sealed(regclass, name, sealed_probe, int, float8, text, int),
	biocrypt.verify_sealed(protected_template, sealed_probe),
	biocrypt.verify_bits_sealed(protected_template, sealed_probe, int),
	biocrypt.identify_ranks_sealed(regclass, name, sealed_probe, int, int),
	biocrypt.warm(regclass),
	biocrypt.gallery_state(),
	biocrypt.gallery_warm_progress_state()
	FROM PUBLIC;
REVOKE ALL ON biocrypt.score_budgets, biocrypt.galleries, biocrypt.gallery_warm_progress FROM PUBLIC;

GRANT EXECUTE ON FUNCTION biocrypt.warm(regclass) TO biocrypt_admin;
GRANT EXECUTE ON FUNCTION biocrypt.gallery_state(), biocrypt.gallery_warm_progress_state()
	TO biocrypt_admin, biocrypt_auditor;
GRANT SELECT ON biocrypt.galleries, biocrypt.gallery_warm_progress TO biocrypt_admin, biocrypt_auditor;

GRANT EXECUTE ON FUNCTION
	biocrypt.verify(protected_template, real[]),
	biocrypt.verify_bits(protected_template, bytea, bytea, int),
	biocrypt.identify_ranks(regclass, name, real[], int),
	biocrypt.identify_ranks(regclass, name, bytea, int, bytea, int),
	biocrypt.verify_sealed(protected_template, sealed_probe),
	biocrypt.verify_bits_sealed(protected_template, sealed_probe, int),
	biocrypt.identify_ranks_sealed(regclass, name, sealed_probe, int, int)
	TO biocrypt_verifier;

GRANT EXECUTE ON FUNCTION biocrypt.score_budget_usage() TO biocrypt_admin, biocrypt_auditor;
GRANT SELECT ON biocrypt.score_budgets TO biocrypt_admin, biocrypt_auditor;

GRANT EXECUTE ON FUNCTION
	biocrypt.l2_distance(protected_template, real[]),
	biocrypt.cosine_distance(protected_template, real[]),
	biocrypt.negative_inner_product(protected_template, real[]),
	biocrypt.hamming_distance(protected_template, bytea),
	biocrypt.iris_distance(protected_template, bytea, bytea, int),
	biocrypt.verify(protected_template, real[], float8, text),
	biocrypt.identify(regclass, name, real[], int, float8, text),
	biocrypt.identify(regclass, name, bytea, int, float8, bytea, int),
	biocrypt.simd_path(),
	biocrypt.l2_distance_sealed(protected_template, sealed_probe),
	biocrypt.cosine_distance_sealed(protected_template, sealed_probe),
	biocrypt.negative_inner_product_sealed(protected_template, sealed_probe),
	biocrypt.hamming_distance_sealed(protected_template, sealed_probe),
	biocrypt.iris_distance_sealed(protected_template, sealed_probe, int),
	biocrypt.verify_sealed(protected_template, sealed_probe, float8, text),
	biocrypt.identify_sealed(regclass, name, sealed_probe, int, float8, text, int)
	TO biocrypt_matcher;

GRANT EXECUTE ON FUNCTION
	biocrypt.protect(real[], text, timestamptz, text[], text),
	biocrypt.protect_bits(bytea, bytea, text, timestamptz, text[], int[]),
	biocrypt.protect_sealed(sealed_probe, text, timestamptz, text[], text),
	biocrypt.protect_bits_sealed(sealed_probe, text, timestamptz, text[], int[])
	TO biocrypt_enroller;

-- the public key is no secret, but PUBLIC keeps only the type's I/O (and has
-- no USAGE on the schema): every biocrypt role may read it
REVOKE ALL ON FUNCTION biocrypt.public_key() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION biocrypt.public_key()
	TO biocrypt_enroller, biocrypt_verifier, biocrypt_matcher, biocrypt_auditor, biocrypt_admin;

GRANT EXECUTE ON FUNCTION
	biocrypt.subject_of(protected_template),
	biocrypt.expires_at(protected_template),
	biocrypt.created_at(protected_template),
	biocrypt.purposes_of(protected_template),
	biocrypt.key_id_of(protected_template),
	biocrypt.format_of(protected_template),
	biocrypt.dims_of(protected_template)
	TO biocrypt_enroller, biocrypt_verifier, biocrypt_matcher;

GRANT EXECUTE ON FUNCTION
	biocrypt.reveal(protected_template),
	biocrypt.reveal_bits(protected_template)
	TO biocrypt_admin;

----------------------------------------------------------------------------
-- the leak guard: settings and modules that can leak a plaintext biometric
----------------------------------------------------------------------------

CREATE FUNCTION biocrypt.check_config()
	RETURNS TABLE (setting text, value text, severity text, advice text)
	AS 'MODULE_PATHNAME', 'biocrypt_check_config' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION biocrypt.check_config() IS 'one row per setting or module of this server that can put a plaintext biometric in a log, a file or another role''s view: its value, severity (severe, warning, info) and what to change';
REVOKE ALL ON FUNCTION biocrypt.check_config() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION biocrypt.check_config() TO biocrypt_admin, biocrypt_auditor;
