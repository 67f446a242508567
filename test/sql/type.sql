-- protected_template: storage, text and binary I/O, inline storage
\set VERBOSITY terse

-- the type keeps templates inline (storage main) and has no plaintext cast
SELECT typname, typstorage, typalign, typlen FROM pg_type WHERE typname = 'protected_template';
SELECT count(*) AS casts_to_template FROM pg_cast WHERE casttarget = 'protected_template'::regtype
	AND castsource <> casttarget;

CREATE TABLE type_t (id int PRIMARY KEY, tpl protected_template);
INSERT INTO type_t VALUES
	(1, biocrypt.protect(ARRAY[1.5, -2.25, 3]::real[], 'type-a')),
	(2, biocrypt.protect(ARRAY[0.5, 0.25]::real[], 'type-b', format => 'f16')),
	(3, biocrypt.protect_bits('\x0f0f'::bytea, '\xffff'::bytea, 'type-c'));

-- text output is base64 of the envelope and round-trips exactly
SELECT id, tpl::text ~ '^[A-Za-z0-9+/]+={0,2}$' AS base64,
	tpl::text::protected_template::text = tpl::text AS text_roundtrip,
	decode(tpl::text, 'base64') = protected_template_send(tpl) AS send_is_envelope,
	substr(decode(tpl::text, 'base64'), 1, 4) = '\x42435401'::bytea AS magic
FROM type_t ORDER BY id;

-- whitespace and line breaks (as encode() emits) are accepted
SELECT id, encode(decode(tpl::text, 'base64'), 'base64')::protected_template::text = tpl::text AS wrapped_ok
FROM type_t ORDER BY id;
SELECT (' ' || tpl::text || E'\n')::protected_template::text = tpl::text AS padded_ok FROM type_t WHERE id = 1;

-- envelope size: 44 fixed + subject + purposes, nonce, payload, 16-byte tag
SET biocrypt.cipher = 'xchacha20-poly1305';
SELECT octet_length(protected_template_send(biocrypt.protect(array_fill(0.5::real, ARRAY[512]), 'sz', purposes => '{p}'))) AS xchacha_512_f32;
SET biocrypt.cipher = 'aes-256-gcm';
SELECT octet_length(protected_template_send(biocrypt.protect(array_fill(0.5::real, ARRAY[512]), 'sz', purposes => '{p}'))) AS aes_512_f32;
RESET biocrypt.cipher;

-- binary COPY round trip goes through send/recv
\getenv abs_builddir PG_ABS_BUILDDIR
\set bin_file :abs_builddir '/results/type_t.bin'
COPY type_t TO :'bin_file' WITH (FORMAT binary);
CREATE TABLE type_t2 (LIKE type_t);
COPY type_t2 FROM :'bin_file' WITH (FORMAT binary);
SELECT count(*) AS same FROM type_t a JOIN type_t2 b USING (id) WHERE a.tpl::text = b.tpl::text;

-- text COPY round trip goes through out/in
\set txt_file :abs_builddir '/results/type_t.txt'
COPY type_t TO :'txt_file';
TRUNCATE type_t2;
COPY type_t2 FROM :'txt_file';
SELECT count(*) AS same FROM type_t a JOIN type_t2 b USING (id) WHERE a.tpl::text = b.tpl::text;

-- 512-d f32 templates stay inline: the TOAST relation stays empty
CREATE TABLE type_inline (id int, tpl protected_template);
INSERT INTO type_inline
	SELECT g, biocrypt.protect(array_fill((g % 7)::real, ARRAY[512]), 'inline-' || g)
	FROM generate_series(1, 200) g;
CHECKPOINT;
SELECT pg_relation_size(reltoastrelid) AS toast_bytes FROM pg_class WHERE relname = 'type_inline';
SELECT min(pg_column_size(tpl)) > 2048 AS full_size, bool_and(NOT pg_column_compression(tpl) IS NOT NULL) AS uncompressed
FROM type_inline;

-- no operators: templates are compared only through biocrypt's functions
SELECT tpl = tpl FROM type_t;

-- NULLs pass through the strict I/O
SELECT NULL::protected_template IS NULL AS null_ok;

DROP TABLE type_t, type_t2, type_inline;
