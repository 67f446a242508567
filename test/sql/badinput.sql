-- The bad-input catalogue: every class of malformed input to the SQL surface
-- of sql/biocrypt--0.1.0.sql, one row each, run by one query.  Each input
-- must fail with a biocrypt or PostgreSQL error whose SQLSTATE fits (never
-- XX000, never a crash, never a value of the input in the message), and
-- must leave nothing behind (see "nothing written" below).  The per-feature
-- tests (errors, tamper, compare_*, identify_*, retention_*, purpose,
-- score_disclosure) check the boundaries around each refusal; this file is
-- the one list of what is refused.
-- pg_temp.err() shows errors as "SQLSTATE: message" only
\set err_detail off
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql

-- comparisons need a declared purpose; a fixed cipher keeps envelope
-- offsets and lengths the same on every CPU; reveal and the decision-only
-- forms are enabled, so that their inputs, not their settings, are refused
SET biocrypt.purpose = 'verification';
SET biocrypt.cipher = 'xchacha20-poly1305';
SET biocrypt.allow_reveal = on;
SET biocrypt.match_threshold = '0.5';

--
-- fixtures (written before the "nothing written" snapshot)
--
-- alice's f32 embedding: header 0-61 (subject "alice", purposes
-- {verification}), nonce 62-85, ciphertext 86-97, tag 98-113; her bit code
-- with a mask and layout {4,8,2}
CREATE TABLE badinput_people (id int PRIMARY KEY, v protected_template,
	b protected_template, note text);
INSERT INTO badinput_people VALUES
	(1, biocrypt.protect('{0.5,-1.25,2}', 'alice', NULL, '{verification}'),
	 biocrypt.protect_bits('\x0123456789abcdef', '\xffffffffffffffff', 'alice',
						   NULL, '{verification}', '{4,8,2}'), 'n');
-- columns that declare their shape (a search over them refuses a probe
-- that does not fit)
CREATE TABLE badinput_shaped (id int PRIMARY KEY, v protected_template(3),
	b protected_template(64, bits), h protected_template(3, f16));
INSERT INTO badinput_shaped SELECT id, v, b, NULL FROM badinput_people;
-- a template of two dimensions, made here: an input that encrypted one
-- would advance the encryption counter
CREATE TABLE badinput_misfit (v protected_template);
INSERT INTO badinput_misfit SELECT biocrypt.protect('{1,2}', 'mallory');
CREATE VIEW badinput_view AS SELECT id, note FROM badinput_people;
CREATE SEQUENCE badinput_seq;
CREATE TYPE badinput_composite AS (v protected_template);
CREATE ROLE regress_badinput_role NOLOGIN;
-- a matcher, whose scores are rounded and counted against a budget
CREATE ROLE regress_badinput_matcher NOLOGIN IN ROLE biocrypt_matcher;
SELECT biocrypt.grant_purpose('regress_badinput_matcher', 'verification');
GRANT SELECT ON badinput_people, badinput_view, badinput_seq TO regress_badinput_matcher;

-- envelope bytes of the fixtures, and of a template under another data key
-- (another month of expiry)
CREATE TEMP TABLE env (name text PRIMARY KEY, b bytea NOT NULL);
INSERT INTO env
	SELECT 'f32', decode(v::text, 'base64') FROM badinput_people
	UNION ALL SELECT 'bits', decode(b::text, 'base64') FROM badinput_people
	UNION ALL SELECT 'other_key', decode(biocrypt.protect('{1,2,3}', 'alice',
		now() + interval '40 days', '{verification}')::text, 'base64');
SELECT name, octet_length(b) AS total_len, get_byte(b, 18) AS header_len
FROM env ORDER BY name;

-- edited envelopes, built with the helpers of tamper.sql
CREATE FUNCTION pg_temp.f32() RETURNS bytea LANGUAGE sql STABLE AS
	$$ SELECT b FROM env WHERE name = 'f32' $$;
CREATE FUNCTION pg_temp.bits() RETURNS bytea LANGUAGE sql STABLE AS
	$$ SELECT b FROM env WHERE name = 'bits' $$;
CREATE FUNCTION pg_temp.tpl(b bytea) RETURNS protected_template LANGUAGE sql STABLE AS
	$$ SELECT encode(b, 'base64')::protected_template $$;
-- envelope editing: flip, get_le, set_le, rebuild (as in tamper.sql)
\i :abs_srcdir/sql/include/envelope.sql

-- the binary input (protected_template_recv) is reached through COPY FROM
-- a file in binary format: a bytea's binary form is its raw bytes, as is a
-- protected_template's, so COPY (SELECT bytes) TO writes a file whose one
-- field the type's receive function then reads.  pg_regress runs as a
-- superuser, so the server may write and read a file in its data directory
-- (the throwaway cluster's, removed with it).
CREATE TEMP TABLE recv_target (t protected_template);
CREATE FUNCTION pg_temp.recv(b bytea) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	f text := current_setting('data_directory') || '/badinput_recv.copy';
	n bigint;
BEGIN
	EXECUTE format('COPY (SELECT %L::bytea) TO %L (FORMAT binary)', b, f);
	EXECUTE format('COPY recv_target FROM %L (FORMAT binary)', f);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;
-- control: an untouched envelope goes in through the binary input
SELECT pg_temp.recv(pg_temp.f32()) AS received;
SELECT t::text = (SELECT v::text FROM badinput_people) AS same_template FROM recv_target;
TRUNCATE recv_target;

-- templates that parse but were edited after sealing: the header is AEAD
-- associated data, so each edit is found when a comparison decrypts
CREATE TABLE badinput_tampered (name text PRIMARY KEY, v protected_template);
INSERT INTO badinput_tampered
	SELECT 'subject', pg_temp.tpl(overlay(pg_temp.f32() PLACING 'mallo'::bytea FROM 45))
	UNION ALL SELECT 'expiry', pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 32, 8,
		pg_temp.get_le(pg_temp.f32(), 32, 8) + 86400 * 1000000::bigint))
	UNION ALL SELECT 'purposes', pg_temp.tpl(pg_temp.rebuild(pg_temp.f32(), 'alice',
		'{surveillance,verification}'))
	UNION ALL SELECT 'nonce', pg_temp.tpl(pg_temp.flip(pg_temp.f32(), 62))
	UNION ALL SELECT 'ciphertext', pg_temp.tpl(pg_temp.flip(pg_temp.f32(), 90, 3))
	UNION ALL SELECT 'tag', pg_temp.tpl(pg_temp.flip(pg_temp.f32(), 113, 7))
	UNION ALL SELECT 'unknown_key', pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 20, 4, 2147483000))
	UNION ALL SELECT 'other_key', pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 20, 4,
		(SELECT pg_temp.get_le(b, 20, 4) FROM env WHERE name = 'other_key')))
	UNION ALL SELECT 'bits_ciphertext', pg_temp.tpl(pg_temp.flip(pg_temp.bits(),
		pg_temp.get_le(pg_temp.bits(), 18, 2)::int + 24))
	UNION ALL SELECT 'bits_layout', pg_temp.tpl(set_byte(set_byte(pg_temp.bits(), 12, 2), 14, 16));
-- a gallery whose only template had its purposes widened
CREATE TABLE badinput_widened (id int, v protected_template);
INSERT INTO badinput_widened SELECT 1, v FROM badinput_tampered WHERE name = 'purposes';
GRANT SELECT ON badinput_tampered, badinput_widened TO regress_badinput_matcher;

--
-- "nothing written": what a refused input must leave as it was.  Each input
-- runs in a subtransaction (pg_temp.err), so its writes to tables roll back
-- with it; what could outlive it is checked here: the fixtures, the key
-- ring and its sequences (a data key or an encryption counted by an input
-- that then failed), policies, holds, grants, reviews, and the session's
-- biocrypt settings.
--
CREATE FUNCTION pg_temp.state() RETURNS TABLE (item text, value text)
	LANGUAGE sql VOLATILE AS $$
	SELECT 'badinput_people', (SELECT string_agg(id || ':' || md5(v::text || b::text || note), ',' ORDER BY id) FROM badinput_people)
	UNION ALL SELECT 'badinput_tampered', (SELECT count(*)::text FROM badinput_tampered)
	UNION ALL SELECT 'badinput_widened', (SELECT count(*)::text FROM badinput_widened)
	UNION ALL SELECT 'badinput_shaped', (SELECT string_agg(id || ':' || md5(v::text || b::text), ',' ORDER BY id) FROM badinput_shaped)
	UNION ALL SELECT 'recv_target', (SELECT count(*)::text FROM recv_target)
	UNION ALL SELECT 'biocrypt.keys', (SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM biocrypt.keys)
	UNION ALL SELECT 'biocrypt.keys_id_seq', (SELECT last_value::text FROM biocrypt.keys_id_seq)
	UNION ALL SELECT 'biocrypt.encryption_counter', (SELECT last_value::text FROM biocrypt.encryption_counter)
	UNION ALL SELECT 'biocrypt.columns', (SELECT count(*)::text FROM biocrypt.columns)
	UNION ALL SELECT 'biocrypt.holds', (SELECT count(*)::text FROM biocrypt.holds)
	UNION ALL SELECT 'biocrypt.purpose_grants', (SELECT count(*)::text FROM biocrypt.purpose_grants)
	UNION ALL SELECT 'biocrypt.match_decisions', (SELECT count(*)::text FROM biocrypt.match_decisions)
	UNION ALL SELECT name, setting FROM pg_settings WHERE name LIKE 'biocrypt.%'
$$;
SELECT pg_temp.settle();
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.state();
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset

--
-- the catalogue
--
CREATE TEMP TABLE catalogue (
	id int PRIMARY KEY,
	class text NOT NULL,
	input text NOT NULL,
	stmt text NOT NULL UNIQUE,
	UNIQUE (class, input)
);
INSERT INTO catalogue (class, input, stmt, id) SELECT *, row_number() OVER () FROM (VALUES
	-- text input: base64
	('text input', 'empty string', $$SELECT ''::protected_template$$),
	('text input', 'whitespace only', $$SELECT E' \n\t'::protected_template$$),
	('text input', 'not base64', $$SELECT 'not base64!'::protected_template$$),
	('text input', 'padding in the middle', $$SELECT 'QQ==QQ=='::protected_template$$),
	('text input', 'padding missing', $$SELECT 'QkNUAQI'::protected_template$$),
	('text input', 'padding too long', $$SELECT 'QkNU===='::protected_template$$),
	('text input', 'non-ASCII character', $$SELECT 'QkNUAQ==é'::protected_template$$),
	('text input', 'URL-safe alphabet', $$SELECT 'QkNUAQ-_'::protected_template$$),
	('text input', 'valid envelope and junk', $$SELECT (encode(pg_temp.f32(), 'base64') || '#')::protected_template$$),
	-- text input: envelopes cut short or overlong
	('envelope', 'base64 of garbage', $$SELECT pg_temp.tpl(pg_temp.rep('41', 200))$$),
	('envelope', 'truncated to 1 byte', $$SELECT pg_temp.tpl(substr(pg_temp.f32(), 1, 1))$$),
	('envelope', 'truncated to 43 bytes (fixed header)', $$SELECT pg_temp.tpl(substr(pg_temp.f32(), 1, 43))$$),
	('envelope', 'truncated to 44 bytes (no subject)', $$SELECT pg_temp.tpl(substr(pg_temp.f32(), 1, 44))$$),
	('envelope', 'truncated in the purposes', $$SELECT pg_temp.tpl(substr(pg_temp.f32(), 1, 55))$$),
	('envelope', 'header only', $$SELECT pg_temp.tpl(substr(pg_temp.f32(), 1, 62))$$),
	('envelope', 'header and nonce only', $$SELECT pg_temp.tpl(substr(pg_temp.f32(), 1, 86))$$),
	('envelope', 'ciphertext truncated', $$SELECT pg_temp.tpl(substr(pg_temp.f32(), 1, 92))$$),
	('envelope', 'tag truncated', $$SELECT pg_temp.tpl(substr(pg_temp.f32(), 1, 113))$$),
	('envelope', 'trailing byte', $$SELECT pg_temp.tpl(pg_temp.f32() || '\x00'::bytea)$$),
	-- text input: header fields out of range
	('envelope', 'wrong magic', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 2, ascii('X')))$$),
	('envelope', 'version 2', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 3, 2))$$),
	('envelope', 'unknown cipher 3', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 4, 3))$$),
	('envelope', 'unknown format 5', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 5, 5))$$),
	('envelope', 'mask flag on an embedding', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 6, 1))$$),
	('envelope', 'reserved byte set', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 43, 1))$$),
	('envelope', 'dims 0', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 8, 4, 0))$$),
	('envelope', 'dims 16001', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 8, 4, 16001))$$),
	('envelope', 'dims 2^32-1', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 8, 4, 4294967295))$$),
	('envelope', 'bit code of 65544 bits', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.bits(), 8, 4, 65544))$$),
	('envelope', 'bit code of 60 bits', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.bits(), 8, 4, 60))$$),
	('envelope', 'layout on an embedding', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 12, 1))$$),
	('envelope', 'layout not matching the bits', $$SELECT pg_temp.tpl(set_byte(pg_temp.bits(), 16, 3))$$),
	('envelope', 'header length overstated', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 18, 2, 63))$$),
	('envelope', 'key id 0', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 20, 4, 0))$$),
	('envelope', 'expires before created', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 32, 8, pg_temp.get_le(pg_temp.f32(), 24, 8) - 1))$$),
	('envelope', 'expires at the end of time', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 32, 8, 9223371331200000000))$$),
	('envelope', 'subject length 0', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 40, 2, 0))$$),
	('envelope', 'subject length 257', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 40, 2, 257))$$),
	('envelope', 'subject length 65535', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 40, 2, 65535))$$),
	('envelope', 'subject beyond the buffer', $$SELECT pg_temp.tpl(pg_temp.set_le(pg_temp.f32(), 40, 2, 200))$$),
	('envelope', 'subject not UTF-8', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 44, 255))$$),
	('envelope', 'subject with a NUL byte', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 46, 0))$$),
	('envelope', 'no purposes', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 42, 0))$$),
	('envelope', '17 purposes', $$SELECT pg_temp.tpl(set_byte(pg_temp.f32(), 42, 17))$$),
	-- (the byte after the header, where a second purpose's length would be
	-- read, is set: it is the nonce's first, random otherwise)
	('envelope', 'one purpose more than present', $$SELECT pg_temp.tpl(set_byte(set_byte(pg_temp.f32(), 42, 2), pg_temp.get_le(pg_temp.f32(), 18, 2)::int, 255))$$),
	('envelope', 'purpose length 0', $$SELECT pg_temp.tpl(pg_temp.rebuild(pg_temp.f32(), 'alice', '{""}'))$$),
	('envelope', 'purpose length 64', $$SELECT pg_temp.tpl(pg_temp.rebuild(pg_temp.f32(), 'alice', ARRAY[repeat('p', 64)]))$$),
	('envelope', 'purpose in upper case', $$SELECT pg_temp.tpl(pg_temp.rebuild(pg_temp.f32(), 'alice', '{Verification}'))$$),
	('envelope', 'purposes unsorted', $$SELECT pg_temp.tpl(pg_temp.rebuild(pg_temp.f32(), 'alice', '{verification,access}'))$$),
	('envelope', 'purposes duplicated', $$SELECT pg_temp.tpl(pg_temp.rebuild(pg_temp.f32(), 'alice', '{verification,verification}'))$$),
	-- binary input (COPY FROM ... FORMAT binary)
	('binary input', 'empty value', $$SELECT pg_temp.recv(''::bytea)$$),
	('binary input', 'garbage', $$SELECT pg_temp.recv('\x414243'::bytea)$$),
	('binary input', 'text form sent as binary', $$SELECT pg_temp.recv(convert_to(encode(pg_temp.f32(), 'base64'), 'UTF8'))$$),
	('binary input', 'truncated', $$SELECT pg_temp.recv(substr(pg_temp.f32(), 1, 100))$$),
	('binary input', 'trailing byte', $$SELECT pg_temp.recv(pg_temp.f32() || '\x00'::bytea)$$),
	('binary input', 'dims 16001', $$SELECT pg_temp.recv(pg_temp.set_le(pg_temp.f32(), 8, 4, 16001))$$),
	('binary input', 'subject length 65535', $$SELECT pg_temp.recv(pg_temp.set_le(pg_temp.f32(), 40, 2, 65535))$$),
	-- edited after sealing: parses, refused when decrypted
	('tampered', 'subject (<->)', $$SELECT v <-> '{0.5,-1.25,2}'::real[] FROM badinput_tampered WHERE name = 'subject'$$),
	('tampered', 'expiry extended (verify)', $$SELECT biocrypt.verify(v, '{0.5,-1.25,2}', 0.5) FROM badinput_tampered WHERE name = 'expiry'$$),
	('tampered', 'purposes widened (identify)', $$SELECT * FROM biocrypt.identify('badinput_widened', 'v', '{0.5,-1.25,2}'::real[])$$),
	('tampered', 'nonce (<=>)', $$SELECT v <=> '{0.5,-1.25,2}'::real[] FROM badinput_tampered WHERE name = 'nonce'$$),
	('tampered', 'ciphertext (<#>)', $$SELECT v <#> '{0.5,-1.25,2}'::real[] FROM badinput_tampered WHERE name = 'ciphertext'$$),
	('tampered', 'tag (touch)', $$SELECT biocrypt.touch(v, now() + interval '1 day') FROM badinput_tampered WHERE name = 'tag'$$),
	('tampered', 'key id of no key (<->)', $$SELECT v <-> '{0.5,-1.25,2}'::real[] FROM badinput_tampered WHERE name = 'unknown_key'$$),
	('tampered', 'key id of another key (<->)', $$SELECT v <-> '{0.5,-1.25,2}'::real[] FROM badinput_tampered WHERE name = 'other_key'$$),
	('tampered', 'bit code ciphertext (<~>)', $$SELECT v <~> '\x0123456789abcdef'::bytea FROM badinput_tampered WHERE name = 'bits_ciphertext'$$),
	('tampered', 'bit layout (iris_distance)', $$SELECT biocrypt.iris_distance(v, '\x0123456789abcdef', NULL, 1) FROM badinput_tampered WHERE name = 'bits_layout'$$),
	-- protect()
	('protect', 'NULL embedding', $$SELECT biocrypt.protect(NULL, 'alice')$$),
	('protect', 'NULL element', $$SELECT biocrypt.protect('{1,NULL,2}', 'alice')$$),
	('protect', 'NaN', $$SELECT biocrypt.protect('{1,NaN,2}', 'alice')$$),
	('protect', 'Infinity', $$SELECT biocrypt.protect('{1,Infinity,2}', 'alice')$$),
	('protect', '-Infinity (i8)', $$SELECT biocrypt.protect('{1,-Infinity,2}', 'alice', NULL, NULL, 'i8')$$),
	('protect', 'empty array', $$SELECT biocrypt.protect('{}', 'alice')$$),
	('protect', 'two-dimensional', $$SELECT biocrypt.protect('{{1,2},{3,4}}', 'alice')$$),
	('protect', 'three-dimensional', $$SELECT biocrypt.protect('{{{1}}}', 'alice')$$),
	('protect', '16001 dimensions', $$SELECT biocrypt.protect(array_fill(0.5::real, '{16001}'), 'alice')$$),
	('protect', 'out of range for f16', $$SELECT biocrypt.protect('{1,70000}', 'alice', NULL, NULL, 'f16')$$),
	('protect', 'unknown format', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, NULL, 'f64')$$),
	('protect', 'format in upper case', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, NULL, 'F16')$$),
	('protect', 'format bits for an embedding', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, NULL, 'bits')$$),
	('protect', 'NULL format', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, NULL, NULL)$$),
	('protect', 'NULL subject', $$SELECT biocrypt.protect('{1,2}', NULL)$$),
	('protect', 'empty subject', $$SELECT biocrypt.protect('{1,2}', '')$$),
	('protect', 'subject of 257 bytes', $$SELECT biocrypt.protect('{1,2}', repeat('é', 128) || 's')$$),
	('protect', 'retain_until in the past', $$SELECT biocrypt.protect('{1,2}', 'alice', now() - interval '1 second')$$),
	('protect', 'retain_until infinity', $$SELECT biocrypt.protect('{1,2}', 'alice', 'infinity')$$),
	('protect', 'retain_until -infinity', $$SELECT biocrypt.protect('{1,2}', 'alice', '-infinity')$$),
	('protect', 'retain_until beyond max_retention', $$SELECT biocrypt.protect('{1,2}', 'alice', now() + interval '3 years 1 day')$$),
	('protect', 'no purposes', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, '{}')$$),
	('protect', 'empty purpose', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, '{""}')$$),
	('protect', 'purpose in upper case', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, '{Verification}')$$),
	('protect', 'purpose with a newline', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, ARRAY[E'a\nb'])$$),
	('protect', 'purpose of 64 characters', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, ARRAY[repeat('p', 64)])$$),
	('protect', '17 purposes', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, (SELECT array_agg('p' || i) FROM generate_series(1, 17) i))$$),
	('protect', 'NULL purpose', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, '{verification,NULL}')$$),
	('protect', 'two-dimensional purposes', $$SELECT biocrypt.protect('{1,2}', 'alice', NULL, '{{verification},{access}}')$$),
	-- protect_bits()
	('protect_bits', 'NULL code', $$SELECT biocrypt.protect_bits(NULL, NULL, 'alice')$$),
	('protect_bits', 'empty code', $$SELECT biocrypt.protect_bits('', NULL, 'alice')$$),
	('protect_bits', 'code of 65544 bits', $$SELECT biocrypt.protect_bits(pg_temp.rep('a5', 8193), NULL, 'alice')$$),
	('protect_bits', 'mask shorter than the code', $$SELECT biocrypt.protect_bits('\x00ff', '\xff', 'alice')$$),
	('protect_bits', 'mask longer than the code', $$SELECT biocrypt.protect_bits('\x00ff', '\xffffff', 'alice')$$),
	('protect_bits', 'empty subject', $$SELECT biocrypt.protect_bits('\x00ff', NULL, '')$$),
	('protect_bits', 'layout of two entries', $$SELECT biocrypt.protect_bits('\x00ff', NULL, 'alice', NULL, NULL, '{2,8}')$$),
	('protect_bits', 'layout of four entries', $$SELECT biocrypt.protect_bits('\x00ff', NULL, 'alice', NULL, NULL, '{1,2,8,1}')$$),
	('protect_bits', 'layout with a zero', $$SELECT biocrypt.protect_bits('\x00ff', NULL, 'alice', NULL, NULL, '{2,8,0}')$$),
	('protect_bits', 'layout with negative entries', $$SELECT biocrypt.protect_bits('\x00ff', NULL, 'alice', NULL, NULL, '{-2,-8,1}')$$),
	('protect_bits', 'layout entry over 65535', $$SELECT biocrypt.protect_bits('\x00ff', NULL, 'alice', NULL, NULL, '{65536,1,1}')$$),
	('protect_bits', 'layout product not the code length', $$SELECT biocrypt.protect_bits('\x00ff', NULL, 'alice', NULL, NULL, '{2,4,4}')$$),
	('protect_bits', 'layout with a NULL', $$SELECT biocrypt.protect_bits('\x00ff', NULL, 'alice', NULL, NULL, '{2,NULL,1}')$$),
	('protect_bits', 'two-dimensional layout', $$SELECT biocrypt.protect_bits('\x00ff', NULL, 'alice', NULL, NULL, '{{2,8,1}}')$$),
	-- probes of the operators
	('probe', 'NULL element (<->)', $$SELECT v <-> '{0.5,NULL,2}'::real[] FROM badinput_people$$),
	('probe', 'NaN (<=>)', $$SELECT v <=> '{0.5,NaN,2}'::real[] FROM badinput_people$$),
	('probe', 'Infinity (<#>)', $$SELECT v <#> '{0.5,Infinity,2}'::real[] FROM badinput_people$$),
	('probe', '-Infinity (verify)', $$SELECT biocrypt.verify(v, '{0.5,-Infinity,2}', 0.5) FROM badinput_people$$),
	('probe', 'empty (<->)', $$SELECT v <-> '{}'::real[] FROM badinput_people$$),
	('probe', 'two-dimensional (<->)', $$SELECT v <-> '{{0.5,-1.25,2}}'::real[] FROM badinput_people$$),
	('probe', '16001 dimensions (<=>)', $$SELECT v <=> array_fill(1::real, '{16001}') FROM badinput_people$$),
	-- (a search of many, the operators' and identify()'s, skips a template
	-- of another shape: verify, the 1:1 decision, refuses it)
	('probe', 'fewer dimensions (verify)', $$SELECT biocrypt.verify(v, '{0.5,-1.25}', 0.5, 'l2') FROM badinput_people$$),
	('probe', 'more dimensions (verify)', $$SELECT biocrypt.verify(v, '{0.5,-1.25,2,1}', 0.5, 'inner_product') FROM badinput_people$$),
	('probe', 'real[] probe on a bit code (verify)', $$SELECT biocrypt.verify(b, '{0.5,-1.25,2}', 0.5, 'l2') FROM badinput_people$$),
	('probe', 'bytea probe on an embedding (verify_bits)', $$SELECT biocrypt.verify_bits(v, '\x0123456789abcdef', NULL, 0) FROM badinput_people$$),
	('probe', 'code of another length (verify_bits)', $$SELECT biocrypt.verify_bits(b, '\x0123') FROM badinput_people$$),
	('probe', 'empty code (verify_bits)', $$SELECT biocrypt.verify_bits(b, ''::bytea) FROM badinput_people$$),
	-- verify()
	('verify', 'max_distance NaN', $$SELECT biocrypt.verify(v, '{0.5,-1.25,2}', 'NaN') FROM badinput_people$$),
	('verify', 'unknown metric', $$SELECT biocrypt.verify(v, '{0.5,-1.25,2}', 0.5, 'euclidean') FROM badinput_people$$),
	('verify', 'metric in upper case', $$SELECT biocrypt.verify(v, '{0.5,-1.25,2}', 0.5, 'L2') FROM badinput_people$$),
	('verify', 'bit code template', $$SELECT biocrypt.verify(b, '{0.5,-1.25,2}', 0.5) FROM badinput_people$$),
	('verify_bits', 'embedding template', $$SELECT biocrypt.verify_bits(v, '\x0123456789abcdef') FROM badinput_people$$),
	('verify_bits', 'NULL max_shift', $$SELECT biocrypt.verify_bits(b, '\x0123456789abcdef', NULL, NULL) FROM badinput_people$$),
	-- iris_distance()
	('iris_distance', 'code of another length (verify_bits)', $$SELECT biocrypt.verify_bits(b, '\x0123456789abcdef00', NULL, 0) FROM badinput_people$$),
	('iris_distance', 'mask of another length', $$SELECT biocrypt.iris_distance(b, '\x0123456789abcdef', '\xff') FROM badinput_people$$),
	('iris_distance', 'negative max_shift', $$SELECT biocrypt.iris_distance(b, '\x0123456789abcdef', NULL, -1) FROM badinput_people$$),
	('iris_distance', 'max_shift of all columns', $$SELECT biocrypt.iris_distance(b, '\x0123456789abcdef', NULL, 8) FROM badinput_people$$),
	('iris_distance', 'max_shift 2^31-1', $$SELECT biocrypt.iris_distance(b, '\x0123456789abcdef', NULL, 2147483647) FROM badinput_people$$),
	-- identify()
	('identify', 'k 0', $$SELECT * FROM biocrypt.identify('badinput_people', 'v', '{0.5,-1.25,2}'::real[], 0)$$),
	('identify', 'k -1', $$SELECT * FROM biocrypt.identify('badinput_people', 'v', '{0.5,-1.25,2}'::real[], -1)$$),
	('identify', 'k 10001', $$SELECT * FROM biocrypt.identify('badinput_people', 'v', '{0.5,-1.25,2}'::real[], 10001)$$),
	('identify', 'max_distance NaN', $$SELECT * FROM biocrypt.identify('badinput_people', 'v', '{0.5,-1.25,2}'::real[], 1, 'NaN')$$),
	('identify', 'metric in upper case', $$SELECT * FROM biocrypt.identify('badinput_people', 'v', '{0.5,-1.25,2}'::real[], 1, NULL, 'COSINE')$$),
	('identify', 'NULL metric', $$SELECT * FROM biocrypt.identify('badinput_people', 'v', '{0.5,-1.25,2}'::real[], 1, NULL, NULL)$$),
	('identify', 'NULL gallery', $$SELECT * FROM biocrypt.identify(NULL, 'v', '{0.5,-1.25,2}'::real[])$$),
	('identify', 'NULL probe', $$SELECT * FROM biocrypt.identify('badinput_people', 'v', NULL::real[])$$),
	('identify', 'gallery that does not exist', $$SELECT * FROM biocrypt.identify('badinput_nowhere', 'v', '{0.5,-1.25,2}'::real[])$$),
	('identify', 'gallery OID 0', $$SELECT * FROM biocrypt.identify(0, 'v', '{0.5,-1.25,2}'::real[])$$),
	('identify', 'gallery a sequence', $$SELECT * FROM biocrypt.identify('badinput_seq', 'last_value', '{0.5,-1.25,2}'::real[])$$),
	('identify', 'gallery a view without templates', $$SELECT * FROM biocrypt.identify('badinput_view', 'note', '{0.5,-1.25,2}'::real[])$$),
	('identify', 'gallery a composite type', $$SELECT * FROM biocrypt.identify('badinput_composite', 'v', '{0.5,-1.25,2}'::real[])$$),
	('identify', 'column that does not exist', $$SELECT * FROM biocrypt.identify('badinput_people', 'w', '{0.5,-1.25,2}'::real[])$$),
	('identify', 'column not a protected_template', $$SELECT * FROM biocrypt.identify('badinput_people', 'note', '{0.5,-1.25,2}'::real[])$$),
	('identify', 'system column', $$SELECT * FROM biocrypt.identify('badinput_people', 'xmin', '{0.5,-1.25,2}'::real[])$$),
	('identify', 'probe dimensions mismatch, column of 3', $$SELECT * FROM biocrypt.identify('badinput_shaped', 'v', '{0.5,-1.25}'::real[])$$),
	('identify', 'real[] probe on a column of bit codes', $$SELECT * FROM biocrypt.identify('badinput_shaped', 'b', '{0.5,-1.25,2}'::real[])$$),
	('identify', 'bytea probe on a column of 3', $$SELECT * FROM biocrypt.identify('badinput_shaped', 'v', '\x0123456789abcdef'::bytea)$$),
	('identify', 'bit code negative max_shift', $$SELECT * FROM biocrypt.identify('badinput_people', 'b', '\x0123456789abcdef'::bytea, 1, NULL, NULL, -1)$$),
	('identify', 'bit code mask of another length', $$SELECT * FROM biocrypt.identify('badinput_people', 'b', '\x0123456789abcdef'::bytea, 1, NULL, '\x00'::bytea)$$),
	('identify_ranks', 'k 0', $$SELECT * FROM biocrypt.identify_ranks('badinput_people', 'v', '{0.5,-1.25,2}'::real[], 0)$$),
	-- verify with its reason, template against template, calibration
	('verify_reason', 'max_distance NaN', $$SELECT biocrypt.verify_reason(v, '{0.5,-1.25,2}', 'NaN') FROM badinput_people$$),
	('verify_reason', 'unknown metric', $$SELECT biocrypt.verify_reason(v, '{0.5,-1.25,2}', 0.5, 'euclidean') FROM badinput_people$$),
	('verify_reason', 'NaN probe', $$SELECT biocrypt.verify_reason(v, '{0.5,NaN,2}', 0.5) FROM badinput_people$$),
	('verify_bits_reason', 'NULL code', $$SELECT biocrypt.verify_bits_reason(b, NULL) FROM badinput_people$$),
	('verify_bits_reason', 'negative max_shift', $$SELECT biocrypt.verify_bits_reason(b, '\x0123456789abcdef', NULL, -1) FROM badinput_people$$),
	('template_distance', 'unknown metric', $$SELECT biocrypt.template_distance(v, v, 'euclidean') FROM badinput_people$$),
	('calibrate', 'target_fmr 0', $$SELECT * FROM biocrypt.calibrate('badinput_people', 'v', 0)$$),
	('calibrate', 'target_fmr NaN', $$SELECT * FROM biocrypt.calibrate('badinput_people', 'v', 'NaN')$$),
	('calibrate', 'sample 1', $$SELECT * FROM biocrypt.calibrate('badinput_people', 'v', 0.01, 'cosine', 1)$$),
	('calibrate', 'unknown metric', $$SELECT * FROM biocrypt.calibrate('badinput_people', 'v', 0.01, 'euclidean')$$),
	('calibrate', 'one template', $$SELECT * FROM biocrypt.calibrate('badinput_people', 'v')$$),
	('calibrate', 'not a template column', $$SELECT * FROM biocrypt.calibrate('badinput_people', 'note')$$),
	-- a column's declared shape: protected_template(dims [, format])
	('typmod', 'zero dimensions', $$CREATE TEMP TABLE badinput_t (v protected_template(0))$$),
	('typmod', 'negative dimensions', $$CREATE TEMP TABLE badinput_t (v protected_template(-3))$$),
	('typmod', 'more bits than a code holds', $$CREATE TEMP TABLE badinput_t (v protected_template(65537))$$),
	('typmod', 'embedding of 16001 dimensions', $$CREATE TEMP TABLE badinput_t (v protected_template(16001, f32))$$),
	('typmod', 'dimensions not a number', $$CREATE TEMP TABLE badinput_t (v protected_template(abc))$$),
	('typmod', 'unknown format', $$CREATE TEMP TABLE badinput_t (v protected_template(3, f64))$$),
	('typmod', 'bits not a multiple of 8', $$CREATE TEMP TABLE badinput_t (v protected_template(12, bits))$$),
	('typmod', 'three modifiers', $$CREATE TEMP TABLE badinput_t (v protected_template(3, f32, 1))$$),
	('typmod', 'insert of other dimensions', $$INSERT INTO badinput_shaped (id, v) SELECT 2, v FROM badinput_misfit$$),
	('typmod', 'insert of another format', $$INSERT INTO badinput_shaped (id, h) SELECT 2, v FROM badinput_people$$),
	('typmod', 'insert of a bit code into embeddings', $$INSERT INTO badinput_shaped (id, v) SELECT 2, b FROM badinput_people$$),
	('typmod', 'update to other dimensions', $$UPDATE badinput_shaped SET v = (SELECT v FROM badinput_misfit)$$),
	('typmod', 'text input of other dimensions', $$SELECT (SELECT v::text FROM badinput_people)::protected_template(2)$$),
	-- administration
	('grant_purpose', 'role that does not exist', $$SELECT biocrypt.grant_purpose('regress_badinput_nobody', 'verification')$$),
	('grant_purpose', 'PUBLIC as the role', $$SELECT biocrypt.grant_purpose('public', 'verification')$$),
	('grant_purpose', 'purpose in upper case', $$SELECT biocrypt.grant_purpose('regress_badinput_role', 'Verification')$$),
	('grant_purpose', 'empty purpose', $$SELECT biocrypt.grant_purpose('regress_badinput_role', '')$$),
	('grant_purpose', 'purpose of 64 characters', $$SELECT biocrypt.grant_purpose('regress_badinput_role', repeat('p', 64))$$),
	('grant_purpose', 'NULL purpose', $$SELECT biocrypt.grant_purpose('regress_badinput_role', NULL)$$),
	('revoke_purpose', 'purpose with a space', $$SELECT biocrypt.revoke_purpose('regress_badinput_role', 'border control')$$),
	('protect_column', 'negative retention', $$SELECT biocrypt.protect_column('badinput_people', 'v', '-1 day', '{verification}')$$),
	('protect_column', 'zero retention', $$SELECT biocrypt.protect_column('badinput_people', 'v', '0 seconds', '{verification}')$$),
	('protect_column', 'NULL retention', $$SELECT biocrypt.protect_column('badinput_people', 'v', NULL, '{verification}')$$),
	('protect_column', 'retention beyond max_retention', $$SELECT biocrypt.protect_column('badinput_people', 'v', '4 years', '{verification}')$$),
	('protect_column', 'unknown on_expiry', $$SELECT biocrypt.protect_column('badinput_people', 'v', '1 day', '{verification}', 'archive')$$),
	('protect_column', 'no purposes', $$SELECT biocrypt.protect_column('badinput_people', 'v', '1 day', '{}')$$),
	('protect_column', 'column not a protected_template', $$SELECT biocrypt.protect_column('badinput_people', 'note', '1 day', '{verification}')$$),
	('protect_column', 'a view', $$SELECT biocrypt.protect_column('badinput_view', 'note', '1 day', '{verification}')$$),
	('hold', 'NULL subject', $$SELECT biocrypt.hold(NULL, 'litigation')$$),
	('hold', 'empty reason', $$SELECT biocrypt.hold('alice', '')$$),
	('release_hold', 'empty subject', $$SELECT biocrypt.release_hold('')$$),
	('erase_subject', 'NULL subject', $$SELECT biocrypt.erase_subject(NULL)$$),
	('erase_subject', 'empty subject', $$SELECT biocrypt.erase_subject('')$$),
	('destroy_key', 'key id 0', $$SELECT biocrypt.destroy_key(0)$$),
	('destroy_key', 'negative key id', $$SELECT biocrypt.destroy_key(-1)$$),
	('destroy_key', 'key id not in the ring', $$SELECT biocrypt.destroy_key(2147483647)$$),
	('reencrypt', 'negative max_rows', $$SELECT biocrypt.reencrypt('badinput_people', 'v', -1)$$),
	('reencrypt', 'a sequence', $$SELECT biocrypt.reencrypt('badinput_seq', 'last_value')$$),
	('reencrypt', 'column not a protected_template', $$SELECT biocrypt.reencrypt('badinput_people', 'id')$$),
	('touch', 'until in the past', $$SELECT biocrypt.touch(v, now() - interval '1 day') FROM badinput_people$$),
	('touch', 'until infinity', $$SELECT biocrypt.touch(v, 'infinity') FROM badinput_people$$),
	('confirm_match', 'unknown decision', $$SELECT biocrypt.confirm_match(1, 'alice', 'maybe')$$),
	('confirm_match', 'NULL event', $$SELECT biocrypt.confirm_match(NULL, 'alice')$$),
	('confirm_match', 'event that is no identification', $$SELECT biocrypt.confirm_match(-1, 'alice')$$),
	('reveal_bits', 'an embedding', $$SELECT biocrypt.reveal_bits(v) FROM badinput_people$$),
	-- the compliance report and its helpers
	('compliance_report', 'NULL from_ts', $$SELECT biocrypt.compliance_report(NULL, now())$$),
	('compliance_report', 'NULL to_ts', $$SELECT biocrypt.compliance_report(now(), NULL)$$),
	('compliance_report', 'NULL max_rows', $$SELECT biocrypt.compliance_report(now() - interval '1 day', now(), NULL)$$),
	('compliance_report', 'from_ts after to_ts', $$SELECT biocrypt.compliance_report(now(), now() - interval '1 day')$$),
	('compliance_report', 'from_ts -infinity', $$SELECT biocrypt.compliance_report('-infinity', now())$$),
	('compliance_report', 'to_ts infinity', $$SELECT biocrypt.compliance_report(now(), 'infinity')$$),
	('compliance_report', 'max_rows 0', $$SELECT biocrypt.compliance_report(now() - interval '1 day', now(), 0)$$),
	('report_retention', 'NULL from_ts', $$SELECT biocrypt.report_retention(NULL, now(), 10)$$),
	('report_retention', 'from_ts after to_ts', $$SELECT biocrypt.report_retention(now(), now() - interval '1 day', 10)$$),
	('report_retention', 'max_rows -1', $$SELECT biocrypt.report_retention(now() - interval '1 day', now(), -1)$$),
	('report_table', 'rows not objects', $$SELECT biocrypt.report_table('t', '[1, 2]', 2, 'none')$$),
	('report_chart', 'bars not an array', $$SELECT biocrypt.report_chart('c', 't', 'day', '{d1}', '{"b": 1}')$$),
	('report_chart', 'a count not a number', $$SELECT biocrypt.report_chart('c', 't', 'day', '{d1}', '[{"b": 1, "s": "p", "n": "many"}]')$$),
	-- settings
	('setting', 'purpose with a space', $$SET biocrypt.purpose = 'border control'$$),
	('setting', 'purpose of 64 characters', $$SELECT set_config('biocrypt.purpose', repeat('p', 64), true)$$),
	('setting', 'default_purposes with an empty entry', $$SET biocrypt.default_purposes = 'a,,b'$$),
	('setting', 'default_retention negative', $$SET biocrypt.default_retention = '-1 day'$$),
	('setting', 'max_retention not an interval', $$SET biocrypt.max_retention = 'forever'$$),
	('setting', 'match_threshold not a number', $$SET biocrypt.match_threshold = 'near'$$),
	('setting', 'match_threshold NaN', $$SET biocrypt.match_threshold = 'NaN'$$),
	('setting', 'match_metric unknown', $$SET biocrypt.match_metric = 'manhattan'$$),
	('setting', 'match_threshold_bits above 1', $$SET biocrypt.match_threshold_bits = 1.5$$),
	('setting', 'score_digits 16', $$SET biocrypt.score_digits = 16$$),
	('setting', 'score_budget -2', $$SET biocrypt.score_budget = -2$$),
	('setting', 'score_budget not a number', $$SET biocrypt.score_budget = 'lots'$$),
	('setting', 'score_window in a session', $$SET biocrypt.score_window = 3600$$),
	('setting', 'on_expired unknown', $$SET biocrypt.on_expired = 'ignore'$$),
	('setting', 'min_common_bits 0', $$SET biocrypt.min_common_bits = 0$$),
	('setting', 'required_confirmations 0', $$SET biocrypt.required_confirmations = 0$$),
	('setting', 'cipher unknown', $$SET biocrypt.cipher = 'aes-128-cbc'$$),
	('setting', 'simd unknown', $$SET biocrypt.simd = 'sse2'$$),
	('setting', 'allow_reveal not a boolean', $$SET biocrypt.allow_reveal = 'sometimes'$$),
	('setting', 'audit_timeout negative', $$SET biocrypt.audit_timeout = -1$$),
	('setting', 'root_key_command at run time', $$SET biocrypt.root_key_command = 'echo 00'$$),
	('setting', 'unknown biocrypt setting', $$SET biocrypt.no_such_setting = 'on'$$)
) AS c(class, input, stmt);

-- run every input, in id order, keeping its outcome for the checks below
CREATE TEMP TABLE results (id int PRIMARY KEY, error text NOT NULL);
WITH run AS MATERIALIZED (
	SELECT id, class, input, pg_temp.err(stmt) AS error FROM catalogue ORDER BY id
), saved AS (
	INSERT INTO results SELECT id, error FROM run
)
SELECT id, class, input, error FROM run ORDER BY id;

-- the server is alive: a crash would have ended the session above
SELECT 1 AS alive;

-- every input is distinct and was refused with an SQLSTATE: none
-- succeeded, none is an internal error (XX000), none echoes a value it was
-- given (the fixtures' embedding, code or subjects)
SELECT count(*) AS inputs, count(DISTINCT c.stmt) AS distinct_inputs,
	count(DISTINCT c.class) AS classes,
	count(*) FILTER (WHERE r.error !~ '^[0-9A-Z]{5}: ') AS not_refused,
	count(*) FILTER (WHERE r.error LIKE 'XX000:%') AS internal_errors,
	count(*) FILTER (WHERE r.error ~ '1\.25|0\.5|0123456789abcdef|alice|mallo') AS echoing_values
FROM catalogue c JOIN results r USING (id);
-- the SQLSTATEs, by class
SELECT left(error, 2) AS sqlstate_class, left(error, 5) AS sqlstate, count(*) AS inputs
FROM results GROUP BY 1, 2 ORDER BY 1, 2;

-- The refusals of probes, comparisons and searches are the same for a
-- matcher, whose scores are rounded and counted against a budget.  Bad
-- arguments are refused before any score is counted.  A comparison is
-- charged just before its template is decrypted (match/disclosure.c, so
-- that a spent budget refuses before decrypting), so a template that then
-- fails to decrypt has cost one score; identify() charges only the
-- subjects it returns, so its failed search costs none.
GRANT SELECT ON catalogue, results TO regress_badinput_matcher;
CREATE FUNCTION pg_temp.scores() RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(sum(scores), 0)::bigint FROM biocrypt.score_budget_usage()
	WHERE role_name = 'regress_badinput_matcher' $$;
CREATE TEMP TABLE as_matcher (id int PRIMARY KEY, class text, input text,
	as_superuser text, as_matcher text);
GRANT INSERT ON as_matcher TO regress_badinput_matcher;
SET ROLE regress_badinput_matcher;
INSERT INTO as_matcher
	SELECT c.id, c.class, c.input, r.error, pg_temp.err(c.stmt)
	FROM catalogue c JOIN results r USING (id)
	WHERE c.class IN ('probe', 'verify', 'iris_distance', 'identify')
	ORDER BY c.id;
RESET ROLE;
SELECT pg_temp.scores() AS scores_after_bad_arguments;
SET ROLE regress_badinput_matcher;
INSERT INTO as_matcher
	SELECT c.id, c.class, c.input, r.error, pg_temp.err(c.stmt)
	FROM catalogue c JOIN results r USING (id)
	WHERE c.class = 'tampered' AND c.stmt NOT LIKE '%touch%'
	ORDER BY c.id;
RESET ROLE;
SELECT pg_temp.scores() AS scores_after_tampered,
	(SELECT count(*) FROM as_matcher WHERE class = 'tampered' AND input NOT LIKE '%identify%')
	AS tampered_comparisons;
SELECT count(*) AS inputs_as_matcher,
	count(*) FILTER (WHERE as_matcher IS DISTINCT FROM as_superuser) AS different
FROM as_matcher;
SELECT * FROM as_matcher WHERE as_matcher IS DISTINCT FROM as_superuser ORDER BY id;

--
-- nothing written
--
SELECT pg_temp.settle();
-- the fixtures, key ring, sequences, policies and settings are as they were
SELECT item, b.value AS before, a.value AS after
FROM before b FULL JOIN pg_temp.state() a USING (item)
WHERE b.value IS DISTINCT FROM a.value;
SELECT count(*) AS items_compared FROM before;
-- The audit log: a refused call may be recorded, and must be when an
-- access began (a "begun" row is written before the first decryption):
-- that is evidence of the attempt, not data.  So every row written since
-- the snapshot is a refusal ("denied" for an administrative function,
-- with the refused arguments; "error" with the SQLSTATE for an access), or
-- the "begun" row of an access whose completion is an "error"; and none
-- counts a template compared or skipped.  (Each run of the catalogue is one
-- statement, and an access is audited per statement, relation, column and
-- kind, so the refusals of one such access share one row.)
SELECT operation, relation, column_name, outcome, sqlstate, count(*) AS n,
	sum(templates_compared) AS compared
FROM biocrypt.audit_log WHERE id > :start
GROUP BY 1, 2, 3, 4, 5 ORDER BY operation, relation::text, column_name, outcome, sqlstate;
SELECT count(*) FILTER (WHERE NOT (a.outcome IN ('denied', 'error')
		OR (a.outcome = 'begun' AND EXISTS (SELECT FROM biocrypt.audit_log c
			WHERE c.chain_id = a.chain_id AND c.begun_id = a.id AND c.outcome = 'error'))))
		AS not_evidence,
	count(*) FILTER (WHERE a.templates_compared > 0 OR a.expired_skipped > 0) AS with_templates
FROM biocrypt.audit_log a WHERE a.id > :start;

RESET biocrypt.allow_reveal;
RESET biocrypt.match_threshold;
RESET biocrypt.cipher;
RESET biocrypt.purpose;
DROP VIEW badinput_view;
DROP TABLE badinput_people, badinput_tampered, badinput_widened, badinput_shaped, badinput_misfit;
DROP SEQUENCE badinput_seq;
DROP TYPE badinput_composite;
DROP TABLE catalogue, results, as_matcher;
SELECT biocrypt.revoke_purpose('regress_badinput_matcher', 'verification');
DROP ROLE regress_badinput_role, regress_badinput_matcher;
