-- Roles and privileges: what each biocrypt role may do, what PUBLIC may do,
-- and the catalog facts behind them.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql

--
-- biocrypt's roles (biocrypt_standby since 0.3.0): they exist, cannot log in and hold no special attributes
--
SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication,
	rolbypassrls, rolinherit
FROM pg_roles WHERE rolname LIKE 'biocrypt\_%' ORDER BY rolname;
-- biocrypt_admin is a member of the enroller, matcher and auditor roles,
-- biocrypt_matcher of biocrypt_verifier, and nobody else is a member of
-- any of them (before the test roles below)
SELECT r.rolname AS role, m.rolname AS member
FROM pg_auth_members am
	JOIN pg_roles r ON r.oid = am.roleid
	JOIN pg_roles m ON m.oid = am.member
WHERE r.rolname LIKE 'biocrypt\_%'
ORDER BY 1, 2;
-- and none of them is a member of anything else
SELECT count(*) AS other_memberships
FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member
WHERE m.rolname LIKE 'biocrypt\_%'
	AND am.roleid NOT IN (SELECT oid FROM pg_roles WHERE rolname LIKE 'biocrypt\_%');

--
-- catalog facts
--
-- PUBLIC may execute no function in schema biocrypt ...
SELECT p.oid::regprocedure AS public_can_execute
FROM pg_proc p
WHERE p.pronamespace = 'biocrypt'::regnamespace
	AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT count(*) > 0 AS schema_has_functions FROM pg_proc WHERE pronamespace = 'biocrypt'::regnamespace;
-- ... and has no privilege on the schema or on its tables and sequences
SELECT has_schema_privilege('public', 'biocrypt', 'USAGE') AS public_usage,
	has_schema_privilege('public', 'biocrypt', 'CREATE') AS public_create;
SELECT c.oid::regclass AS public_relation_privilege
FROM pg_class c
WHERE c.relnamespace = 'biocrypt'::regnamespace
	AND (has_table_privilege('public', c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
		OR (c.relkind = 'S' AND has_sequence_privilege('public', c.oid, 'USAGE,SELECT,UPDATE')));
-- who may execute what in schema biocrypt (the four roles only)
SELECT p.proname AS function,
	has_function_privilege('biocrypt_enroller', p.oid, 'EXECUTE') AS enroller,
	has_function_privilege('biocrypt_matcher', p.oid, 'EXECUTE') AS matcher,
	has_function_privilege('biocrypt_auditor', p.oid, 'EXECUTE') AS auditor,
	has_function_privilege('biocrypt_admin', p.oid, 'EXECUTE') AS admin
FROM pg_proc p
WHERE p.pronamespace = 'biocrypt'::regnamespace
	AND p.proname IN ('protect', 'protect_bits', 'subject_of', 'expires_at', 'created_at',
					  'purposes_of', 'key_id_of', 'format_of', 'dims_of', 'reveal', 'reveal_bits')
ORDER BY p.proname;
-- the comparison functions (behind the operators): matcher (and admin, a
-- member of it) only
SELECT p.oid::regprocedure AS function,
	has_function_privilege('biocrypt_enroller', p.oid, 'EXECUTE') AS enroller,
	has_function_privilege('biocrypt_matcher', p.oid, 'EXECUTE') AS matcher,
	has_function_privilege('biocrypt_auditor', p.oid, 'EXECUTE') AS auditor,
	has_function_privilege('biocrypt_admin', p.oid, 'EXECUTE') AS admin
FROM pg_proc p
WHERE p.pronamespace = 'biocrypt'::regnamespace
	AND p.proname IN ('l2_distance', 'cosine_distance', 'negative_inner_product',
					  'hamming_distance', 'iris_distance', 'verify', 'identify', 'simd_path')
ORDER BY p.oid::regprocedure::text;
-- every SECURITY DEFINER function of the extension pins search_path
SELECT p.oid::regprocedure AS secdef_without_search_path
FROM pg_depend d
	JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
WHERE d.refclassid = 'pg_extension'::regclass
	AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'biocrypt')
	AND d.deptype = 'e'
	AND p.prosecdef
	AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%');
SELECT count(*) > 0 AS extension_has_functions
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass
	AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'biocrypt')
	AND d.deptype = 'e' AND d.classid = 'pg_proc'::regclass;
-- not relocatable
SELECT extrelocatable FROM pg_extension WHERE extname = 'biocrypt';
CREATE SCHEMA regress_biocrypt_elsewhere;
SELECT pg_temp.err($$ALTER EXTENSION biocrypt SET SCHEMA regress_biocrypt_elsewhere$$) AS set_schema;
DROP SCHEMA regress_biocrypt_elsewhere;
-- no cast turns anything into a protected_template (or back): plaintext
-- only gets in through protect(), and text only through the base64 input
SELECT castsource::regtype, casttarget::regtype FROM pg_cast
WHERE castsource = 'protected_template'::regtype OR casttarget = 'protected_template'::regtype;
SELECT pg_temp.err($$SELECT '{1,2}'::real[]::protected_template$$) AS from_real_array;
SELECT pg_temp.err($$SELECT '\x424354'::bytea::protected_template$$) AS from_bytea;
SELECT pg_temp.err($$SELECT 'alice'::text::protected_template$$) AS from_text;
SELECT pg_temp.err($$SELECT '{1,2}'::text::protected_template$$) AS from_text_array_literal;
SELECT pg_temp.err($$SELECT '{1,2}'::real[]::text::protected_template$$) AS from_real_array_via_text;
-- nor to a readable value other than the base64 text
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice')::real[]$$) AS to_real_array;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice')::bytea$$) AS to_bytea;

--
-- test roles, one per biocrypt role, plus one with no biocrypt role
--
CREATE ROLE regress_bc_enroller NOLOGIN IN ROLE biocrypt_enroller;
CREATE ROLE regress_bc_matcher NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_bc_auditor NOLOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_bc_admin NOLOGIN IN ROLE biocrypt_admin;
CREATE ROLE regress_bc_plain NOLOGIN;

CREATE TEMP TABLE tpl (name text PRIMARY KEY, t protected_template);
INSERT INTO tpl VALUES
	('embedding', biocrypt.protect('{0.25,-0.5}', 'alice', NULL, '{verification}')),
	('code', biocrypt.protect_bits('\x0f', '\xff', 'bob', NULL, '{verification}'));
GRANT SELECT ON tpl TO PUBLIC;
-- a gallery of embeddings for identify()
CREATE TEMP TABLE gallery AS SELECT t FROM tpl WHERE name = 'embedding';
GRANT SELECT ON gallery TO PUBLIC;
SELECT t AS tpl FROM tpl WHERE name = 'embedding' \gset
SELECT t AS code FROM tpl WHERE name = 'code' \gset

-- enroller: protects, reads headers, cannot reveal or read the key ring
SET ROLE regress_bc_enroller;
SELECT biocrypt.subject_of(biocrypt.protect('{1,2}', 'erin')) AS enroller_protects;
SELECT biocrypt.dims_of(biocrypt.protect_bits('\x00ff', NULL, 'erin')) AS enroller_protects_bits;
SELECT biocrypt.subject_of(:'tpl'), biocrypt.purposes_of(:'tpl'), biocrypt.format_of(:'tpl'),
	biocrypt.dims_of(:'tpl'), biocrypt.key_id_of(:'tpl') > 0 AS has_key_id,
	biocrypt.expires_at(:'tpl') > biocrypt.created_at(:'tpl') AS expires_after_creation;
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding'$$) AS enroller_reveal;
SELECT pg_temp.err($$SELECT biocrypt.reveal_bits(t) FROM tpl WHERE name = 'code'$$) AS enroller_reveal_bits;
SELECT pg_temp.err($$SELECT count(*) FROM biocrypt.keys$$) AS enroller_keys;
SELECT pg_temp.err($$SELECT nextval('biocrypt.encryption_counter')$$) AS enroller_counter;
SELECT pg_temp.err($$SELECT t <-> '{0,0}'::real[] FROM tpl WHERE name = 'embedding'$$) AS enroller_l2;
SELECT pg_temp.err($$SELECT biocrypt.verify(t, '{0.25,-0.5}', 0) FROM tpl WHERE name = 'embedding'$$) AS enroller_verify;
SELECT pg_temp.err($$SELECT t <~> '\x0f'::bytea FROM tpl WHERE name = 'code'$$) AS enroller_hamming;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('gallery', 't', '{0.25,-0.5}'::real[])$$) AS enroller_identify;
SELECT pg_temp.err($$SET biocrypt.allow_reveal = on$$) AS enroller_allow_reveal;
SELECT pg_temp.err($$SET biocrypt.max_retention = '100 years'$$) AS enroller_max_retention;
SELECT pg_temp.err($$SET biocrypt.cipher = 'xchacha20-poly1305'$$) AS enroller_cipher;
SELECT pg_temp.err($$CREATE FUNCTION biocrypt.trojan() RETURNS int LANGUAGE sql AS 'SELECT 1'$$) AS enroller_create_in_schema;
RESET ROLE;

-- matcher: reads headers, cannot protect or reveal; compares for the
-- purpose it was granted
SET biocrypt.purpose = 'verification';
SELECT biocrypt.grant_purpose('regress_bc_matcher', 'verification') AS granted;
SET ROLE regress_bc_matcher;
SELECT biocrypt.subject_of(:'tpl'), biocrypt.purposes_of(:'tpl'), biocrypt.format_of(:'tpl'),
	biocrypt.dims_of(:'tpl'), biocrypt.key_id_of(:'tpl') > 0 AS has_key_id,
	biocrypt.expires_at(:'tpl') > biocrypt.created_at(:'tpl') AS expires_after_creation;
SELECT biocrypt.format_of(:'code') AS matcher_reads_code_header;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', 'mallory')$$) AS matcher_protect;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'mallory')$$) AS matcher_protect_bits;
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding'$$) AS matcher_reveal;
SELECT pg_temp.err($$SELECT biocrypt.reveal_bits(t) FROM tpl WHERE name = 'code'$$) AS matcher_reveal_bits;
SELECT pg_temp.err($$SELECT count(*) FROM biocrypt.keys$$) AS matcher_keys;
-- matcher: compares (template {0.25,-0.5}, code \x0f with mask \xff)
SELECT t <-> '{0.25,0.5}'::real[] AS l2, t <=> '{2,1}'::real[] AS cosine,
	t <#> '{4,-2}'::real[] AS ip, biocrypt.verify(t, '{0.25,-0.5}', 0, 'l2') AS verified,
	biocrypt.verify(t, '{0.5,-1}', 1e-9) AS verified_cosine,
	biocrypt.l2_distance(t, '{0.25,0.5}') AS l2_function
FROM tpl WHERE name = 'embedding';
SELECT t <~> '\xff'::bytea AS hamming, biocrypt.iris_distance(t, '\xff') AS iris_too_few_bits
FROM tpl WHERE name = 'code';
SELECT * FROM biocrypt.identify('gallery', 't', '{0.25,-0.5}'::real[], 5, NULL, 'l2');
SELECT biocrypt.simd_path() IS NOT NULL AS matcher_simd_path;
RESET ROLE;

-- auditor: neither protects nor reads headers (nor reveals)
SET ROLE regress_bc_auditor;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', 'mallory')$$) AS auditor_protect;
SELECT pg_temp.err($$SELECT biocrypt.subject_of(t) FROM tpl WHERE name = 'embedding'$$) AS auditor_subject_of;
SELECT pg_temp.err($$SELECT biocrypt.expires_at(t) FROM tpl WHERE name = 'embedding'$$) AS auditor_expires_at;
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding'$$) AS auditor_reveal;
SELECT pg_temp.err($$SELECT count(*) FROM biocrypt.keys$$) AS auditor_keys;
SELECT pg_temp.err($$SELECT t <=> '{0,1}'::real[] FROM tpl WHERE name = 'embedding'$$) AS auditor_cosine;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(t, '\x0f') FROM tpl WHERE name = 'code'$$) AS auditor_iris;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('tpl', 't', '\x0f'::bytea)$$) AS auditor_identify_bits;
SELECT pg_temp.err($$SELECT biocrypt.simd_path()$$) AS auditor_simd_path;
RESET ROLE;

-- a role with no biocrypt role: the type's I/O works, the schema does not
SET ROLE regress_bc_plain;
SELECT (:'tpl'::protected_template)::text = :'tpl' AS plain_round_trip;
SELECT pg_temp.err($$SELECT 'QUJD'::protected_template$$) AS plain_input_checked;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', 'mallory')$$) AS plain_protect;
SELECT pg_temp.err($$SELECT biocrypt.subject_of(t) FROM tpl WHERE name = 'embedding'$$) AS plain_subject_of;
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding'$$) AS plain_reveal;
SELECT pg_temp.err($$SELECT count(*) FROM biocrypt.keys$$) AS plain_keys;
-- the operators live with the type, but their functions are not PUBLIC's
SELECT pg_temp.err($$SELECT t <#> '{1,1}'::real[] FROM tpl WHERE name = 'embedding'$$) AS plain_ip;
SELECT pg_temp.err($$SELECT t <~> '\x0f'::bytea FROM tpl WHERE name = 'code'$$) AS plain_hamming;
SELECT pg_temp.err($$SELECT biocrypt.verify(t, '{1,1}', 1) FROM tpl WHERE name = 'embedding'$$) AS plain_verify;
RESET ROLE;

-- admin: everything the others may do; reveals only while a superuser has
-- set biocrypt.allow_reveal; reads the key ring but not its key material
SET ROLE regress_bc_admin;
SELECT biocrypt.subject_of(biocrypt.protect('{1,2}', 'adam')) AS admin_protects;
SELECT biocrypt.subject_of(:'tpl') AS admin_reads_headers;
SHOW biocrypt.allow_reveal;
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding'$$) AS admin_reveal_disabled;
SELECT pg_temp.err($$SET biocrypt.allow_reveal = on$$) AS admin_allow_reveal;
SELECT pg_temp.err($$SELECT set_config('biocrypt.allow_reveal', 'on', false)$$) AS admin_set_config;
SELECT pg_temp.err($$ALTER ROLE regress_bc_admin SET biocrypt.allow_reveal = on$$) AS admin_alter_role;
SELECT count(*) > 0 AS admin_reads_keys, bool_and(state IN ('active', 'retired', 'destroyed')) AS states_valid
FROM (SELECT id, epoch, cipher, state, created_at, retired_at, destroyed_at FROM biocrypt.keys) k;
SELECT pg_temp.err($$SELECT wrapped FROM biocrypt.keys$$) AS admin_wrapped;
SELECT pg_temp.err($$SELECT kcv FROM biocrypt.keys$$) AS admin_kcv;
SELECT pg_temp.err($$SELECT * FROM biocrypt.keys$$) AS admin_star;
SELECT pg_temp.err($$SELECT count(*) FROM biocrypt.keys WHERE wrapped IS NOT NULL$$) AS admin_wrapped_in_where;
SELECT pg_temp.err($$UPDATE biocrypt.keys SET state = 'retired'$$) AS admin_update_keys;
SELECT pg_temp.err($$DELETE FROM biocrypt.keys$$) AS admin_delete_keys;
SELECT pg_temp.err($$INSERT INTO biocrypt.keys (id, epoch, cipher, kcv, counter_base) VALUES (0, now(), 'aes-256-gcm', '\x00', 0)$$) AS admin_insert_keys;
SELECT pg_temp.err($$SELECT nextval('biocrypt.keys_id_seq')$$) AS admin_key_id_seq;
RESET ROLE;
SET biocrypt.allow_reveal = on;
SET ROLE regress_bc_admin;
SELECT biocrypt.reveal(t) AS admin_reveal FROM tpl WHERE name = 'embedding';
SELECT (biocrypt.reveal_bits(t)).* FROM tpl WHERE name = 'code';
-- allow_reveal on does not open reveal to the other roles
SET ROLE regress_bc_enroller;
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding'$$) AS enroller_reveal_allowed;
SET ROLE regress_bc_plain;
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding'$$) AS plain_reveal_allowed;
RESET ROLE;

-- defence in depth: EXECUTE on reveal granted by mistake is not enough, the
-- caller must be a superuser or a member of biocrypt_admin
GRANT USAGE ON SCHEMA biocrypt TO regress_bc_plain;
GRANT EXECUTE ON FUNCTION biocrypt.reveal(protected_template), biocrypt.reveal_bits(protected_template) TO regress_bc_plain;
SET ROLE regress_bc_plain;
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding'$$) AS granted_reveal;
SELECT pg_temp.err($$SELECT biocrypt.reveal_bits(t) FROM tpl WHERE name = 'code'$$) AS granted_reveal_bits;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION biocrypt.reveal(protected_template), biocrypt.reveal_bits(protected_template) FROM regress_bc_plain;
REVOKE USAGE ON SCHEMA biocrypt FROM regress_bc_plain;
RESET biocrypt.allow_reveal;

-- clean up
DROP TABLE tpl, gallery;
DROP ROLE regress_bc_enroller, regress_bc_matcher, regress_bc_auditor, regress_bc_admin, regress_bc_plain;
SELECT count(*) AS test_roles_left FROM pg_roles WHERE rolname LIKE 'regress\_bc\_%';
