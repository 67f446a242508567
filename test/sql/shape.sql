-- A column's declared shape (protected_template(dims [, format])), and
-- searches of many over columns that declare none: a template enrolled
-- for other purposes, or of another shape than the probe, is skipped by
-- the operators and identify() (never decrypted, counted in the audit row,
-- one WARNING per statement for shapes), and refused by verify (1:1).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET biocrypt.purpose = 'verification';

-- the declared shape, as psql and pg_dump show it
CREATE TABLE shp (id int PRIMARY KEY, face protected_template(4), half protected_template(4, f16),
	iris protected_template(64, bits), any_shape protected_template);
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'shp'::regclass AND attnum > 0 ORDER BY attnum;

-- templates of the declared shape go in; others are refused where they
-- enter the column, with the template's subject in the DETAIL
INSERT INTO shp (id, face, half, iris) VALUES
	(1, biocrypt.protect('{1,0,0,0}', 'ana'),
	 biocrypt.protect('{1,0,0,0}', 'ana', format => 'f16'),
	 biocrypt.protect_bits('\x0123456789abcdef', NULL, 'ana'));
SELECT pg_temp.err($$INSERT INTO shp (id, face) VALUES (2, biocrypt.protect('{1,0,0}', 'ben'))$$) AS three_dims;
SELECT pg_temp.err($$INSERT INTO shp (id, half) VALUES (2, biocrypt.protect('{1,0,0,0}', 'ben'))$$) AS f32_into_f16;
SELECT pg_temp.err($$INSERT INTO shp (id, face) VALUES (2, biocrypt.protect_bits('\x01234567', NULL, 'ben'))$$) AS bits_into_face;
SELECT pg_temp.err($$INSERT INTO shp (id, iris) VALUES (2, biocrypt.protect_bits('\x01234567', NULL, 'ben'))$$) AS short_code;
SELECT pg_temp.err($$UPDATE shp SET face = biocrypt.protect('{1,0,0,0,0}', 'ana') WHERE id = 1$$) AS update_five;
-- text input with a type modifier, and COPY, check as well
SELECT pg_temp.err(format('SELECT %L::protected_template(3)', (SELECT face::text FROM shp))) AS text_cast;
CREATE TEMP TABLE shp_copy (t text);
INSERT INTO shp_copy SELECT biocrypt.protect('{1,0,0}', 'cid')::text;
COPY shp_copy TO '/tmp/biocrypt_shape_copy.txt';
SELECT pg_temp.err($$COPY shp (face) FROM '/tmp/biocrypt_shape_copy.txt'$$) AS copy_three_dims;
-- a column that declares nothing takes any shape
UPDATE shp SET any_shape = biocrypt.protect('{1,0,0}', 'ana') WHERE id = 1;
SELECT count(*) AS rows, count(any_shape) AS any_shape_set FROM shp;
-- bad modifiers are refused when the column is declared
SELECT pg_temp.err($$CREATE TEMP TABLE shp_bad (v protected_template(0))$$) AS zero;
SELECT pg_temp.err($$CREATE TEMP TABLE shp_bad (v protected_template(16001, f16))$$) AS too_many_dims;
SELECT pg_temp.err($$CREATE TEMP TABLE shp_bad (v protected_template(4, f8))$$) AS unknown_format;
SELECT pg_temp.err($$CREATE TEMP TABLE shp_bad (v protected_template(12, bits))$$) AS bits_not_bytes;
SELECT pg_temp.err($$CREATE TEMP TABLE shp_bad (v protected_template(4, f16, 1))$$) AS three_modifiers;
-- identify() refuses a probe that does not fit a declared column (it
-- would skip every template)
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('shp', 'face', '{1,0,0}'::real[])$$) AS probe_three_dims;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('shp', 'iris', '{1,0,0,0}'::real[])$$) AS vector_probe_on_iris;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('shp', 'face', '\x0123456789abcdef'::bytea)$$) AS bits_probe_on_face;
SELECT subject FROM biocrypt.identify('shp', 'face', '{1,0,0,0}'::real[], 1, NULL, 'l2');

-- a gallery that declares no shape: six 4-d templates for verification,
-- one 3-d, one bit code, one enrolled for border control only, one
-- expired
CREATE TABLE mix (id int PRIMARY KEY, tpl protected_template);
INSERT INTO mix SELECT i, biocrypt.protect(ARRAY[i, 1, 0, 0]::real[], 'm' || i) FROM generate_series(1, 6) i;
INSERT INTO mix VALUES
	(7, biocrypt.protect('{7,1,0}', 'm7')),
	(8, biocrypt.protect_bits('\x0123456789abcdef', NULL, 'm8')),
	(9, biocrypt.protect('{2,1,0,0}', 'm9', purposes => '{border_control}')),
	(10, biocrypt.protect('{2,1,0,0}', 'm10', now() + interval '1 second'));
SELECT pg_sleep(1.2);
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
-- the nearest of the 4-d templates; m9 (nearer) and the misfits skipped,
-- with one WARNING for the statement
SELECT * FROM biocrypt.identify('mix', 'tpl', '{2,1,0,0}'::real[], 3, NULL, 'l2');
-- ORDER BY returns the skipped and expired rows last, with NULL
SELECT id, round((tpl <-> '{2,1,0,0}'::real[])::numeric, 4) AS d FROM mix ORDER BY tpl <-> '{2,1,0,0}'::real[], id;
-- counted in each search's audit row
SELECT pg_temp.settle();
SELECT operation, templates_compared AS compared, expired_skipped AS expired,
	purpose_skipped, shape_skipped, outcome
FROM biocrypt.audit_log WHERE id > :start AND outcome <> 'begun' ORDER BY id;
-- the same through a gallery index, warm and cold
CREATE INDEX mix_gal ON mix USING biocrypt_gallery (tpl);
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT * FROM biocrypt.identify('mix', 'tpl', '{2,1,0,0}'::real[], 3, NULL, 'l2');
SET enable_seqscan = off;
SELECT id, round((tpl <-> '{2,1,0,0}'::real[])::numeric, 4) AS d FROM mix ORDER BY tpl <-> '{2,1,0,0}'::real[] LIMIT 10;
RESET enable_seqscan;
SELECT pg_temp.settle();
SELECT operation, templates_compared AS compared, expired_skipped AS expired,
	purpose_skipped, shape_skipped, outcome
FROM biocrypt.audit_log WHERE id > :start AND outcome <> 'begun' ORDER BY id;
-- a probe that fits nothing skips everything
SELECT count(*) AS matches FROM biocrypt.identify('mix', 'tpl', '{1,1}'::real[]);

-- verify (1:1) refuses what a search skips: another shape (22000), another
-- purpose (42501), each with its audit row
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{7,1,0,0}', 0.5, 'l2') FROM mix WHERE id = 7$$) AS verify_shape;
SELECT pg_temp.err($$SELECT biocrypt.verify_bits(tpl, '\x0123456789abcdef') FROM mix WHERE id = 1$$) AS verify_bits_shape;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{2,1,0,0}', 0.5, 'l2') FROM mix WHERE id = 9$$) AS verify_purpose;
SELECT biocrypt.verify(tpl, '{2,1,0,0}', 0.5, 'l2') AS verify_ok FROM mix WHERE id = 2;

-- a session that may not compare at all is still refused by a search
RESET biocrypt.purpose;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('mix', 'tpl', '{2,1,0,0}'::real[])$$) AS no_purpose;
SET biocrypt.purpose = 'verification';

DROP TABLE shp, mix;
