-- Tampering with protected templates.
--
-- Every byte of an envelope is either checked by the strict parser (the
-- type's input refuses the value with 22P02) or covered by the AEAD: the
-- whole header is associated data, and the nonce, ciphertext and tag feed
-- the decryption.  So an edited template is refused when it is read, or it
-- parses and then biocrypt.reveal() fails with XX001 (or with a key error
-- when the key id was edited).  It must never reveal.
--
-- Byte layout (src/envelope.h): 0-2 magic "BCT", 3 version, 4 cipher,
-- 5 format, 6 flags, 7 reserved, 8-11 dims, 12/14/16 layout rows/cols/bits,
-- 18 header_len, 20-23 key id, 24-31 created, 32-39 expires, 40 subject_len,
-- 42 npurposes, 43 reserved, 44.. subject, then purposes (length byte +
-- name); then nonce, ciphertext and a 16-byte tag.
--
-- Nothing printed here depends on ciphertext, timestamps or key ids.
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET biocrypt.allow_reveal = on;
-- a fixed cipher, so that offsets and lengths are the same on every CPU
SET biocrypt.cipher = 'xchacha20-poly1305';

-- envelope bytes of a template
CREATE FUNCTION pg_temp.env(t protected_template) RETURNS bytea
	LANGUAGE sql IMMUTABLE AS $$ SELECT decode(t::text, 'base64') $$;
-- envelope editing: flip, get_le, set_le, rebuild
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/envelope.sql
-- feed edited bytes through the text input, then try to reveal them; key
-- ids in messages are replaced by N
CREATE FUNCTION pg_temp.attack(b bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t protected_template;
BEGIN
	BEGIN
		t := encode(b, 'base64')::protected_template;
	EXCEPTION WHEN OTHERS THEN
		RETURN 'input ' || SQLSTATE || ': ' || SQLERRM;
	END;
	BEGIN
		IF biocrypt.format_of(t) = 'bits' THEN
			PERFORM biocrypt.reveal_bits(t);
		ELSE
			PERFORM biocrypt.reveal(t);
		END IF;
	EXCEPTION WHEN OTHERS THEN
		RETURN 'reveal ' || SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]+', 'N', 'g');
	END;
	RETURN 'REVEALED';
END $$;

CREATE TEMP TABLE tpl (name text PRIMARY KEY, t protected_template, b bytea);
INSERT INTO tpl (name, t) VALUES
	('f32', biocrypt.protect('{0.5,-1.25,2,0.125,-3.5,4,0.0625,-8}', 'alice', NULL,
							 '{verification,identification}')),
	('carol', biocrypt.protect('{1,2,3,4,5,6,7,8}', 'carol', NULL,
							   '{verification,identification}')),
	('bits', biocrypt.protect_bits('\x0123456789abcdef', '\xffffffffffff0f00', 'bob',
								   NULL, '{verification}', '{4,8,2}')),
	-- expires in another month than the others, so sealed under another key
	('other_key', biocrypt.protect('{1}', 'alice', now() + interval '40 days',
								   '{verification}'));
UPDATE tpl SET b = pg_temp.env(t);

-- the shapes the offsets below rely on
SELECT name, get_byte(b, 4) AS cipher, biocrypt.format_of(t) AS format,
	biocrypt.dims_of(t) AS dims, pg_temp.get_le(b, 18, 2) AS header_len,
	octet_length(b) AS total_len
FROM tpl ORDER BY name;
SELECT count(DISTINCT biocrypt.key_id_of(t)) AS keys FROM tpl;
SELECT biocrypt.key_id_of(t) <> (SELECT biocrypt.key_id_of(t) FROM tpl WHERE name = 'f32')
	AS other_key_differs FROM tpl WHERE name = 'other_key';

-- controls: unedited templates reveal, and the helpers change nothing by
-- themselves (flipping a bit twice, rebuilding with the same labels)
SELECT biocrypt.reveal(t) = '{0.5,-1.25,2,0.125,-3.5,4,0.0625,-8}' AS f32_reveals FROM tpl WHERE name = 'f32';
SELECT (biocrypt.reveal_bits(t)).* FROM tpl WHERE name = 'bits';
SELECT pg_temp.attack(b) AS untouched FROM tpl WHERE name = 'f32';
SELECT pg_temp.attack(pg_temp.flip(pg_temp.flip(b, 100, 3), 100, 3)) AS flipped_twice FROM tpl WHERE name = 'f32';
SELECT pg_temp.rebuild(b, 'alice', '{identification,verification}') = b AS rebuild_is_identity FROM tpl WHERE name = 'f32';
SELECT pg_temp.attack(pg_temp.set_le(b, 18, 2, pg_temp.get_le(b, 18, 2))) AS set_le_is_identity FROM tpl WHERE name = 'f32';
-- encode() breaks base64 into lines; the input accepts that
SELECT position(E'\n' IN encode(b, 'base64')) > 0 AS has_newlines,
	encode(b, 'base64')::protected_template::text = t::text AS same FROM tpl WHERE name = 'f32';

-- f32 template: alice, 8 dims, purposes {identification,verification};
-- header 0-76, nonce 77-100, ciphertext 101-132, tag 133-148
SELECT c.n, c.field, c.pos, pg_temp.attack(c.edited) AS outcome
FROM tpl, LATERAL (VALUES
	(1, 'magic B', 0, pg_temp.flip(b, 0)),
	(2, 'magic T', 2, pg_temp.flip(b, 2, 6)),
	(3, 'version 1 -> 0', 3, pg_temp.flip(b, 3)),
	(4, 'version 1 -> 3', 3, pg_temp.flip(b, 3, 1)),
	(5, 'cipher 2 -> 3', 4, pg_temp.flip(b, 4)),
	(6, 'cipher 2 -> 0', 4, pg_temp.flip(b, 4, 1)),
	(7, 'cipher 2 -> 1 (12-byte nonce)', 4, set_byte(b, 4, 1)),
	(8, 'format f32 -> 0', 5, pg_temp.flip(b, 5)),
	(9, 'format f32 -> i8', 5, pg_temp.flip(b, 5, 1)),
	(10, 'format f32 -> bits', 5, set_byte(b, 5, 4)),
	(11, 'flags 0 -> mask', 6, pg_temp.flip(b, 6)),
	(12, 'flags 0 -> 0x80', 6, pg_temp.flip(b, 6, 7)),
	(13, 'reserved byte 7', 7, pg_temp.flip(b, 7)),
	(14, 'dims 8 -> 9', 8, pg_temp.flip(b, 8)),
	(15, 'dims 8 -> 0', 8, pg_temp.flip(b, 8, 3)),
	(16, 'dims high byte', 11, pg_temp.flip(b, 11, 7)),
	(17, 'layout rows', 12, pg_temp.flip(b, 12)),
	(18, 'layout cols', 14, pg_temp.flip(b, 14)),
	(19, 'layout bits_per_cell', 16, pg_temp.flip(b, 16)),
	(20, 'header_len low byte', 18, pg_temp.flip(b, 18)),
	(21, 'header_len high byte', 19, pg_temp.flip(b, 19)),
	(22, 'key id high bit', 23, pg_temp.flip(b, 23, 7)),
	(23, 'key id zero', 20, pg_temp.set_le(b, 20, 4, 0)),
	(24, 'created low bit', 24, pg_temp.flip(b, 24)),
	(25, 'created sign bit', 31, pg_temp.flip(b, 31, 7)),
	(26, 'expires low bit', 32, pg_temp.flip(b, 32)),
	(27, 'expires sign bit', 39, pg_temp.flip(b, 39, 7)),
	(28, 'expires = created', 32, pg_temp.set_le(b, 32, 8, pg_temp.get_le(b, 24, 8))),
	(29, 'subject_len 5 -> 4', 40, pg_temp.flip(b, 40)),
	(30, 'subject_len 0', 40, pg_temp.set_le(b, 40, 2, 0)),
	(31, 'npurposes 2 -> 0', 42, pg_temp.flip(b, 42, 1)),
	(32, 'reserved byte 43', 43, pg_temp.flip(b, 43)),
	(33, 'subject a -> `', 44, pg_temp.flip(b, 44)),
	(34, 'subject e -> 0xe5 (bad UTF-8)', 48, pg_temp.flip(b, 48, 7)),
	(35, 'subject a -> NUL', 44, set_byte(b, 44, 0)),
	(36, 'purpose length 14 -> 15', 49, pg_temp.flip(b, 49)),
	(37, 'purpose i -> h', 50, pg_temp.flip(b, 50)),
	(38, 'purpose i -> I', 50, pg_temp.flip(b, 50, 5)),
	(39, 'purpose v -> a (unsorted)', 65, set_byte(b, 65, ascii('a'))),
	(40, 'purpose v -> w', 65, pg_temp.flip(b, 65)),
	(41, 'nonce first byte', 77, pg_temp.flip(b, 77)),
	(42, 'nonce last byte', 100, pg_temp.flip(b, 100, 7)),
	(43, 'ciphertext first byte', 101, pg_temp.flip(b, 101)),
	(44, 'ciphertext middle byte', 116, pg_temp.flip(b, 116, 4)),
	(45, 'ciphertext last byte', 132, pg_temp.flip(b, 132, 7)),
	(46, 'tag first byte', 133, pg_temp.flip(b, 133)),
	(47, 'tag last byte', 148, pg_temp.flip(b, 148, 7)),
	(48, 'last byte dropped', 148, substr(b, 1, 148)),
	(49, 'byte appended', 149, b || '\x00'::bytea),
	(50, 'tag dropped', 133, substr(b, 1, 133)),
	(51, 'header only', 77, substr(b, 1, 77)),
	(52, 'empty', 0, ''::bytea)
) c(n, field, pos, edited)
WHERE name = 'f32'
ORDER BY c.n;

-- bit code with mask and layout {4,8,2}: bob, 64 bits, {verification};
-- header 0-59, nonce 60-83, ciphertext 84-99 (code, then mask), tag 100-115
SELECT c.n, c.field, c.pos, pg_temp.attack(c.edited) AS outcome
FROM tpl, LATERAL (VALUES
	(1, 'format bits -> 5', 5, pg_temp.flip(b, 5)),
	(2, 'format bits -> f32', 5, set_byte(b, 5, 1)),
	(3, 'flags mask -> none', 6, pg_temp.flip(b, 6)),
	(4, 'flags mask -> 3', 6, pg_temp.flip(b, 6, 1)),
	(5, 'dims 64 -> 65', 8, pg_temp.flip(b, 8)),
	(6, 'dims 64 -> 72', 8, pg_temp.flip(b, 8, 3)),
	(7, 'layout rows 4 -> 5', 12, pg_temp.flip(b, 12)),
	(8, 'layout cols 8 -> 9', 14, pg_temp.flip(b, 14)),
	(9, 'layout bits 2 -> 3', 16, pg_temp.flip(b, 16)),
	(10, 'layout rows 0', 12, set_byte(b, 12, 0)),
	(11, 'layout removed', 12, overlay(b PLACING '\x000000000000'::bytea FROM 13)),
	(12, 'layout rows <-> cols', 12, set_byte(set_byte(b, 12, 8), 14, 4)),
	(13, 'layout {2,16,2}', 12, set_byte(set_byte(b, 12, 2), 14, 16)),
	(14, 'mask dropped', 6, set_byte(substr(b, 1, 92) || substr(b, 101), 6, 0)),
	(15, 'nonce first byte', 60, pg_temp.flip(b, 60)),
	(16, 'nonce last byte', 83, pg_temp.flip(b, 83, 7)),
	(17, 'code first byte', 84, pg_temp.flip(b, 84)),
	(18, 'code last byte', 91, pg_temp.flip(b, 91, 7)),
	(19, 'mask first byte', 92, pg_temp.flip(b, 92)),
	(20, 'mask last byte', 99, pg_temp.flip(b, 99, 7)),
	(21, 'tag first byte', 100, pg_temp.flip(b, 100)),
	(22, 'tag last byte', 115, pg_temp.flip(b, 115, 7))
) c(n, field, pos, edited)
WHERE name = 'bits'
ORDER BY c.n;

-- every single-bit edit of every byte: nothing reveals; every edit of the
-- nonce, ciphertext or tag fails authentication
SELECT name, count(*) AS edits,
	count(*) FILTER (WHERE outcome = 'REVEALED') AS revealed,
	count(*) FILTER (WHERE outcome LIKE 'input 22P02:%') > 0 AS some_refused_at_input,
	count(*) FILTER (WHERE outcome LIKE 'reveal XX001:%') > 0 AS some_failed_authentication,
	count(*) FILTER (WHERE outcome !~ '^(input 22P02|reveal (XX001|42704|55000)):') AS unexpected,
	count(*) FILTER (WHERE pos >= pg_temp.get_le(b, 18, 2)
		AND outcome IS DISTINCT FROM 'reveal XX001: biocrypt: protected template failed authentication') AS body_not_xx001
FROM tpl, generate_series(0, octet_length(b) - 1) pos, generate_series(0, 7) bit,
	LATERAL pg_temp.attack(pg_temp.flip(b, pos, bit)) outcome
WHERE name IN ('f32', 'bits')
GROUP BY name ORDER BY name;

-- every proper prefix is refused at input
SELECT name, count(*) AS prefixes,
	count(*) FILTER (WHERE pg_temp.attack(substr(b, 1, len)) NOT LIKE 'input 22P02:%') AS not_refused
FROM tpl, generate_series(0, octet_length(b) - 1) len
WHERE name IN ('f32', 'bits')
GROUP BY name ORDER BY name;

-- moving a template to another subject: same length, in place
SELECT biocrypt.subject_of(encode(overlay(b PLACING 'mallo'::bytea FROM 45), 'base64')::protected_template) AS subject,
	pg_temp.attack(overlay(b PLACING 'mallo'::bytea FROM 45)) AS outcome
FROM tpl WHERE name = 'f32';
-- ... and with another length (subject_len and header_len rewritten)
SELECT biocrypt.subject_of(encode(pg_temp.rebuild(b, 'mallory', '{identification,verification}'), 'base64')::protected_template) AS subject,
	pg_temp.attack(pg_temp.rebuild(b, 'mallory', '{identification,verification}')) AS outcome
FROM tpl WHERE name = 'f32';
SELECT pg_temp.attack(pg_temp.rebuild(b, 'al', '{identification,verification}')) AS shorter_subject FROM tpl WHERE name = 'f32';
SELECT pg_temp.attack(pg_temp.rebuild(b, 'alicé', '{identification,verification}')) AS non_ascii_subject FROM tpl WHERE name = 'f32';
-- Carol's header on Alice's sealed body and the other way round (the two
-- templates have the same shape)
SELECT pg_temp.attack(substr(a.b, 1, 77) || substr(c.b, 78)) AS carol_body_as_alice,
	pg_temp.attack(substr(c.b, 1, 77) || substr(a.b, 78)) AS alice_body_as_carol
FROM tpl a, tpl c WHERE a.name = 'f32' AND c.name = 'carol';
-- ciphertext and tag of Carol under Alice's header and nonce
SELECT pg_temp.attack(substr(a.b, 1, 101) || substr(c.b, 102)) AS swapped_ciphertext_and_tag
FROM tpl a, tpl c WHERE a.name = 'f32' AND c.name = 'carol';
-- only the tag swapped
SELECT pg_temp.attack(substr(a.b, 1, 133) || substr(c.b, 134)) AS swapped_tag
FROM tpl a, tpl c WHERE a.name = 'f32' AND c.name = 'carol';

-- extending the retention by a year (header accessor shows it, reveal fails)
SELECT biocrypt.expires_at(encode(e, 'base64')::protected_template) - biocrypt.expires_at(t) AS extended_by,
	pg_temp.attack(e) AS outcome
FROM tpl, LATERAL pg_temp.set_le(b, 32, 8, pg_temp.get_le(b, 32, 8) + 365 * 86400 * 1000000::bigint) e
WHERE name = 'f32';
-- backdating the creation
SELECT pg_temp.attack(pg_temp.set_le(b, 24, 8, pg_temp.get_le(b, 24, 8) - 86400 * 1000000::bigint)) AS backdated
FROM tpl WHERE name = 'f32';

-- widening the purposes: one replaced by another of the same length ...
SELECT biocrypt.purposes_of(encode(overlay(b PLACING 'surveillance'::bytea FROM 66), 'base64')::protected_template) AS purposes,
	pg_temp.attack(overlay(b PLACING 'surveillance'::bytea FROM 66)) AS outcome
FROM tpl WHERE name = 'f32';
-- ... one added (header rebuilt) ...
SELECT biocrypt.purposes_of(encode(pg_temp.rebuild(b, 'alice', '{identification,law-enforcement,verification}'), 'base64')::protected_template) AS purposes,
	pg_temp.attack(pg_temp.rebuild(b, 'alice', '{identification,law-enforcement,verification}')) AS outcome
FROM tpl WHERE name = 'f32';
-- ... one removed, or the list left unsorted
SELECT pg_temp.attack(pg_temp.rebuild(b, 'alice', '{verification}')) AS purpose_removed,
	pg_temp.attack(pg_temp.rebuild(b, 'alice', '{verification,identification}')) AS unsorted
FROM tpl WHERE name = 'f32';

-- reinterpreting the payload: 8 f32 values as 16 f16 values (same length)
SELECT biocrypt.format_of(encode(e, 'base64')::protected_template) AS format,
	biocrypt.dims_of(encode(e, 'base64')::protected_template) AS dims,
	pg_temp.attack(e) AS outcome
FROM tpl, LATERAL pg_temp.set_le(set_byte(b, 5, 2), 8, 4, 16) e
WHERE name = 'f32';
-- ... or as 28 i8 codes and their scale (4 + 28 = 32 bytes)
SELECT pg_temp.attack(pg_temp.set_le(set_byte(b, 5, 3), 8, 4, 28)) AS as_i8 FROM tpl WHERE name = 'f32';
-- ... or as a 256-bit code
SELECT pg_temp.attack(pg_temp.set_le(set_byte(b, 5, 4), 8, 4, 256)) AS as_bits FROM tpl WHERE name = 'f32';

-- pointing the key id at another existing data key
SELECT pg_temp.attack(pg_temp.set_le(a.b, 20, 4, biocrypt.key_id_of(o.t))) AS other_key
FROM tpl a, tpl o WHERE a.name = 'f32' AND o.name = 'other_key';

-- none of the above damaged anything: the originals still reveal
SELECT name, pg_temp.attack(b) AS outcome FROM tpl ORDER BY name;

-- AES-256-GCM (cipher 1, 12-byte nonce).  Libsodium offers it only where the
-- CPU accelerates it; elsewhere sealing fails with 0A000 and there is nothing
-- to check, so this section lists only cases whose outcome is not the
-- expected one (none).
CREATE FUNCTION pg_temp.seal_aes() RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('biocrypt.cipher', 'aes-256-gcm', true);
	RETURN pg_temp.env(biocrypt.protect('{0.5,-1.25,2,0.125}', 'dave', NULL, '{verification}'));
EXCEPTION WHEN feature_not_supported THEN
	RETURN NULL;
END $$;
INSERT INTO tpl (name, b) SELECT 'aes', pg_temp.seal_aes();
-- header 0-60, nonce 61-72, ciphertext 73-88, tag 89-104
WITH cases (field, edited, expected) AS (
	SELECT c.* FROM tpl a, tpl x, LATERAL (VALUES
		('untouched', a.b, 'REVEALED'),
		('cipher 1 -> 0', pg_temp.flip(a.b, 4), 'input 22P02: biocrypt: invalid protected_template: envelope names an unknown cipher'),
		('cipher 1 -> 2 (24-byte nonce)', set_byte(a.b, 4, 2), 'input 22P02: biocrypt: invalid protected_template: envelope is truncated'),
		('nonce first byte', pg_temp.flip(a.b, 61), 'reveal XX001: biocrypt: protected template failed authentication'),
		('nonce last byte', pg_temp.flip(a.b, 72, 7), 'reveal XX001: biocrypt: protected template failed authentication'),
		('ciphertext first byte', pg_temp.flip(a.b, 73), 'reveal XX001: biocrypt: protected template failed authentication'),
		('ciphertext last byte', pg_temp.flip(a.b, 88, 7), 'reveal XX001: biocrypt: protected template failed authentication'),
		('tag first byte', pg_temp.flip(a.b, 89), 'reveal XX001: biocrypt: protected template failed authentication'),
		('tag last byte', pg_temp.flip(a.b, 104, 7), 'reveal XX001: biocrypt: protected template failed authentication'),
		('subject d -> e', pg_temp.flip(a.b, 44), 'reveal XX001: biocrypt: protected template failed authentication'),
		('expires low bit', pg_temp.flip(a.b, 32), 'reveal XX001: biocrypt: protected template failed authentication'),
		-- cross-cipher: the nonce padded or cut to the other cipher's length
		('AES as XChaCha20', set_byte(substr(a.b, 1, 61) || '\x000000000000000000000000'::bytea || substr(a.b, 62), 4, 2),
			'reveal XX001: biocrypt: template cipher does not match data key N'),
		('XChaCha20 as AES', set_byte(substr(x.b, 1, 77) || substr(x.b, 90), 4, 1),
			'reveal XX001: biocrypt: template cipher does not match data key N')
	) c WHERE a.name = 'aes' AND a.b IS NOT NULL AND x.name = 'f32'
)
SELECT * FROM (SELECT field, pg_temp.attack(edited) AS outcome, expected FROM cases) s
WHERE outcome IS DISTINCT FROM expected;
SELECT count(*) FILTER (WHERE outcome = 'REVEALED') AS revealed,
	count(*) FILTER (WHERE pos >= 61
		AND outcome IS DISTINCT FROM 'reveal XX001: biocrypt: protected template failed authentication') AS body_not_xx001
FROM tpl, generate_series(0, octet_length(b) - 1) pos, generate_series(0, 7) bit,
	LATERAL pg_temp.attack(pg_temp.flip(b, pos, bit)) outcome
WHERE name = 'aes' AND b IS NOT NULL;
