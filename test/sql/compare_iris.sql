-- Comparison of bit codes: <~> and iris_distance() against plain SQL
-- references, on every kernel path this CPU supports; hand-computed cases
-- (masks, rotation, min_common_bits); iris_distance()'s arguments.  Floats
-- are printed only where the inputs make the distance exact; elsewhere the
-- output is counts of disagreements, which must be 0.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';

--
-- bit codes: helpers.  Bits are MSB first; b() turns a '0101...' string
-- into bytea, bits() the reverse; rot() rotates each row of a layout so
-- that output column c is input column (c + s) mod cols.
--
CREATE FUNCTION pg_temp.b(s text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT decode(string_agg(lpad(to_hex(substr(s, i, 8)::bit(8)::int), 2, '0'), '' ORDER BY i), 'hex')
	FROM generate_series(1, length(s), 8) i $$;
CREATE FUNCTION pg_temp.bits(v bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT string_agg(get_byte(v, i)::bit(8)::text, '' ORDER BY i)
	FROM generate_series(0, length(v) - 1) i $$;
CREATE FUNCTION pg_temp.rot(v bytea, rows int, cols int, bpc int, s int) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT pg_temp.b(string_agg(substr(rw, k + 1) || substr(rw, 1, k), '' ORDER BY r))
	FROM (SELECT ((s % cols + cols) % cols) * bpc AS k, pg_temp.bits(v) AS all_bits) a,
		LATERAL (SELECT r, substr(all_bits, r * cols * bpc + 1, cols * bpc) AS rw
				 FROM generate_series(0, rows - 1) r) x $$;
-- reference masked fractional Hamming distance, minimised over shifts
-- -max_shift..max_shift (shift s: template column c against probe column
-- (c + s) mod cols); NULL below biocrypt.min_common_bits valid bits
CREATE FUNCTION pg_temp.iris_ref(t bytea, tm bytea, p bytea, pm bytea, layout int[], max_shift int)
RETURNS float8 LANGUAGE sql STABLE AS $$
	SELECT min(bit_count(((tb # pb) & tmb) & pmb)::float8 / bit_count(tmb & pmb)::float8)
		FILTER (WHERE bit_count(tmb & pmb) >= greatest(1, current_setting('biocrypt.min_common_bits')::int))
	FROM generate_series(-max_shift, max_shift) s,
		LATERAL (SELECT pg_temp.bits(t)::varbit AS tb,
					coalesce(pg_temp.bits(tm), repeat('1', 8 * length(t)))::varbit AS tmb,
					pg_temp.bits(CASE WHEN s = 0 THEN p ELSE pg_temp.rot(p, layout[1], layout[2], layout[3], s) END)::varbit AS pb,
					coalesce(pg_temp.bits(CASE WHEN s = 0 THEN pm ELSE pg_temp.rot(pm, layout[1], layout[2], layout[3], s) END),
							 repeat('1', 8 * length(t)))::varbit AS pmb) x $$;
-- the helpers themselves, on a known case: layout {1,4,2}, rotate by 1
SELECT pg_temp.bits('\xa50f'::bytea) AS bits, pg_temp.b('1010010100001111') AS back,
	pg_temp.bits(pg_temp.rot('\x1b'::bytea, 1, 4, 2, 1)) AS rot_plus_1,
	pg_temp.bits(pg_temp.rot('\x1b'::bytea, 1, 4, 2, -1)) AS rot_minus_1;

-- 128-bit codes (biocrypt.min_common_bits is 64 by default)
CREATE TEMP TABLE bt (name text PRIMARY KEY, tpl protected_template);
INSERT INTO bt VALUES
	('zeros', biocrypt.protect_bits(pg_temp.rep('00', 16), NULL, 'z')),
	-- template mask: bytes 0..11 valid
	('zeros masked', biocrypt.protect_bits(pg_temp.rep('00', 16), pg_temp.rep('ff', 12) || pg_temp.rep('00', 4), 'zm')),
	-- template mask: nothing valid
	('zeros no valid bits', biocrypt.protect_bits(pg_temp.rep('00', 16), pg_temp.rep('00', 16), 'z0')),
	('a5', biocrypt.protect_bits(pg_temp.rep('a5', 16), NULL, 'a5')),
	('one byte', biocrypt.protect_bits('\x0f', NULL, 'o')),
	('one byte masked', biocrypt.protect_bits('\x0f', '\xff', 'om'));
-- 1, 3, 7, 8, 9, 63, 64, 65 and 256 bytes: word, SIMD block and tail sizes
CREATE TEMP TABLE bn AS
SELECT n, biocrypt.protect_bits(pg_temp.rep('00', n), NULL, 'n' || n) AS tpl
FROM unnest('{1,3,7,8,9,63,64,65,256}'::int[]) n;
-- random 128-bit codes and mostly-valid masks with layout {2,32,2}
SELECT setseed(0.17);
CREATE TEMP TABLE rb AS
SELECT i,
	(SELECT decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex') FROM generate_series(1, 16 + 0 * i)) AS t,
	(SELECT decode(string_agg(CASE WHEN random() < 0.7 THEN 'ff' ELSE lpad(to_hex((random() * 255)::int), 2, '0') END, ''), 'hex')
	 FROM generate_series(1, 16 + 0 * i)) AS tm,
	(SELECT decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex') FROM generate_series(1, 16 + 0 * i)) AS p,
	(SELECT decode(string_agg(CASE WHEN random() < 0.7 THEN 'ff' ELSE lpad(to_hex((random() * 255)::int), 2, '0') END, ''), 'hex')
	 FROM generate_series(1, 16 + 0 * i)) AS pm
FROM generate_series(1, 24) i;
-- half the probes are rotated templates with a few bits flipped, so the
-- best shift is not always 0
UPDATE rb SET p = pg_temp.rot(set_byte(t, i % 16, get_byte(t, i % 16) # 3), 2, 32, 2, i % 7 - 3)
WHERE i % 2 = 0;
ALTER TABLE rb ADD tpl protected_template;
UPDATE rb SET tpl = biocrypt.protect_bits(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, 'r' || i, NULL, NULL, '{2,32,2}');
ALTER TABLE rb ADD ref0 float8, ADD ref2 float8, ADD ref3 float8, ADD ref3m float8, ADD hd float8;
UPDATE rb SET
	ref0 = pg_temp.iris_ref(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, p, NULL, '{2,32,2}', 0),
	ref2 = pg_temp.iris_ref(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, p, pm, '{2,32,2}', 2),
	ref3 = pg_temp.iris_ref(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, p, NULL, '{2,32,2}', 3),
	ref3m = pg_temp.iris_ref(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, p, pm, '{2,32,2}', 3),
	hd = bit_count(pg_temp.bits(t)::varbit # pg_temp.bits(p)::varbit)::float8 / 128;
SELECT count(*) AS codes, count(*) FILTER (WHERE ref3m < ref0) AS shift_helps,
	count(*) FILTER (WHERE ref3 = 0) AS exact_rotations, count(DISTINCT ref3m) > 12 AS varied
FROM rb;

-- the bit-code checks run on every path
CREATE TEMP VIEW bits_values AS
SELECT name,
	tpl <~> pg_temp.rep('00', 16) AS same,
	tpl <~> pg_temp.rep('ff', 16) AS inverted,
	tpl <~> (pg_temp.rep('ff', 8) || pg_temp.rep('00', 8)) AS half,
	tpl <~> ('\x80'::bytea || pg_temp.rep('00', 14) || '\x01'::bytea) AS two_bits,
	biocrypt.iris_distance(tpl, pg_temp.rep('00', 16)) AS iris_same,
	biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16)) AS iris_inverted,
	biocrypt.iris_distance(tpl, pg_temp.rep('ff', 8) || pg_temp.rep('00', 8)) AS iris_half
FROM bt WHERE name LIKE 'zeros%' OR name = 'a5' ORDER BY name;
-- masks change the denominator.  Probe: 32 ones then 96 zeros.
--   no masks: 32/128; template mask bytes 0..11: 32/96;
--   probe mask bytes 4..15: 0/96; template 0..11 and probe 2..15: 16/80
CREATE TEMP VIEW mask_values AS
SELECT biocrypt.iris_distance(z.tpl, pg_temp.rep('ff', 4) || pg_temp.rep('00', 12)) AS no_masks,
	biocrypt.iris_distance(zm.tpl, pg_temp.rep('ff', 4) || pg_temp.rep('00', 12)) AS template_mask,
	biocrypt.iris_distance(z.tpl, pg_temp.rep('ff', 4) || pg_temp.rep('00', 12),
		pg_temp.rep('00', 4) || pg_temp.rep('ff', 12)) AS probe_mask,
	biocrypt.iris_distance(zm.tpl, pg_temp.rep('ff', 4) || pg_temp.rep('00', 12),
		pg_temp.rep('00', 2) || pg_temp.rep('ff', 14)) AS both_masks,
	-- <~> ignores masks
	zm.tpl <~> (pg_temp.rep('ff', 4) || pg_temp.rep('00', 12)) AS hamming_ignores_mask
FROM bt z, bt zm WHERE z.name = 'zeros' AND zm.name = 'zeros masked';
-- sizes around words and SIMD blocks: the first and last bits differ;
-- iris_distance needs 64 valid bits (8 bytes) by default
CREATE TEMP VIEW size_values AS
SELECT n, tpl <~> pg_temp.rep('00', n) AS same,
	tpl <~> pg_temp.rep('ff', n) AS inverted,
	tpl <~> set_byte(set_byte(pg_temp.rep('00', n), 0, 128), n - 1,
					 get_byte(set_byte(pg_temp.rep('00', n), 0, 128), n - 1) | 1) AS two_bits,
	biocrypt.iris_distance(tpl, pg_temp.rep('ff', n)) AS iris_inverted
FROM bn ORDER BY n;
CREATE TEMP VIEW random_bits_check AS
SELECT count(*) AS codes,
	count(*) FILTER (WHERE (tpl <~> p) IS DISTINCT FROM hd) AS hamming_off,
	count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p) IS DISTINCT FROM ref0) AS shift0_off,
	count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p, pm, 2) IS DISTINCT FROM ref2) AS shift2_masked_off,
	count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p, NULL, 3) IS DISTINCT FROM ref3) AS shift3_off,
	count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p, pm, 3) IS DISTINCT FROM ref3m) AS shift3_masked_off
FROM rb;

-- rotation, layout {2,32,2}: probes are the template with its columns
-- rotated by 3 and by -5, or by one bit (half a cell, which no shift
-- undoes); layout {8,128,2} (2048 bits), rotated by 8
SELECT setseed(0.99);
CREATE TEMP TABLE rc AS
SELECT (SELECT decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex') FROM generate_series(1, 16)) AS t,
	(SELECT decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex') FROM generate_series(1, 256)) AS t8,
	-- ones in the cells of columns 10..12, both rows
	pg_temp.b((SELECT string_agg(CASE WHEN c BETWEEN 10 AND 12 THEN '11' ELSE '00' END, '' ORDER BY r, c)
			   FROM generate_series(0, 1) r, generate_series(0, 31) c)) AS cols;
ALTER TABLE rc ADD tpl protected_template, ADD tpl_masked protected_template,
	ADD tpl8 protected_template, ADD flipped bytea, ADD keep bytea;
UPDATE rc SET
	tpl = biocrypt.protect_bits(t, NULL, 'rot', NULL, NULL, '{2,32,2}'),
	tpl8 = biocrypt.protect_bits(t8, NULL, 'rot8', NULL, NULL, '{8,128,2}'),
	-- the template with columns 10..12 inverted, and a mask hiding them
	flipped = pg_temp.b((pg_temp.bits(t)::varbit # pg_temp.bits(cols)::varbit)::text),
	keep = pg_temp.b((~pg_temp.bits(cols)::varbit)::text);
UPDATE rc SET tpl_masked = biocrypt.protect_bits(t, keep, 'rotm', NULL, NULL, '{2,32,2}');
CREATE TEMP VIEW rotation_values AS
SELECT biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 32, 2, -3), NULL, 2) > 0 AS by3_shift2_misses,
	biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 32, 2, -3), NULL, 3) AS by3_shift3,
	biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 32, 2, -3), NULL, 31) AS by3_shift31,
	biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 32, 2, 5), NULL, 4) > 0 AS by_minus5_shift4_misses,
	biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 32, 2, 5), NULL, 5) AS by_minus5_shift5,
	biocrypt.iris_distance(tpl, pg_temp.rot(t, 2, 64, 1, -1), NULL, 31) > 0 AS half_cell_misses,
	biocrypt.iris_distance(tpl8, pg_temp.rot(t8, 8, 128, 2, -8), NULL, 7) > 0 AS l8_by8_shift7_misses,
	biocrypt.iris_distance(tpl8, pg_temp.rot(t8, 8, 128, 2, -8), NULL, 8) AS l8_by8_shift8,
	biocrypt.iris_distance(tpl8, pg_temp.rot(t8, 8, 128, 2, 100), NULL, 28) AS l8_by_minus100_shift28,
	-- columns 10..12 inverted (12 of 128 bits), then rotated by 3: the probe
	-- mask must rotate with the code; a template mask stays put
	biocrypt.iris_distance(tpl, pg_temp.rot(flipped, 2, 32, 2, -3), NULL, 3) AS flipped_unmasked,
	biocrypt.iris_distance(tpl, pg_temp.rot(flipped, 2, 32, 2, -3), pg_temp.rot(keep, 2, 32, 2, -3), 3) AS flipped_probe_mask,
	biocrypt.iris_distance(tpl, pg_temp.rot(flipped, 2, 32, 2, -3), keep, 3) > 0 AS unrotated_probe_mask_misses,
	biocrypt.iris_distance(tpl_masked, pg_temp.rot(flipped, 2, 32, 2, -3), NULL, 3) AS flipped_template_mask,
	biocrypt.iris_distance(tpl_masked, pg_temp.rot(flipped, 2, 32, 2, -3), NULL, 2) > 0 AS flipped_template_mask_shift2_misses
FROM rc;

-- fewest valid bits: biocrypt.min_common_bits (64 by default)
CREATE TEMP VIEW min_bits_values AS
SELECT biocrypt.iris_distance(z.tpl, pg_temp.rep('ff', 16), pg_temp.rep('ff', 8) || pg_temp.rep('00', 8)) AS valid_64,
	biocrypt.iris_distance(z.tpl, pg_temp.rep('ff', 16), pg_temp.rep('ff', 7) || '\xfe'::bytea || pg_temp.rep('00', 8)) AS valid_63,
	biocrypt.iris_distance(z.tpl, pg_temp.rep('ff', 16), pg_temp.rep('00', 16)) AS valid_0,
	biocrypt.iris_distance(z0.tpl, pg_temp.rep('ff', 16)) AS template_mask_empty,
	biocrypt.iris_distance(o.tpl, '\x0e') AS one_byte,
	biocrypt.iris_distance(om.tpl, '\x0e', '\xff') AS one_byte_masked,
	o.tpl <~> '\x0e' AS one_byte_hamming
FROM bt z, bt z0, bt o, bt om
WHERE z.name = 'zeros' AND z0.name = 'zeros no valid bits' AND o.name = 'one byte'
	AND om.name = 'one byte masked';

--
-- every path: the same checks, the same results
--
SET biocrypt.simd = portable;
SELECT biocrypt.simd_path();
SELECT * FROM bits_values;
SELECT * FROM mask_values;
SELECT * FROM size_values;
SELECT * FROM random_bits_check;
SELECT * FROM rotation_values;
SELECT * FROM min_bits_values;

SET biocrypt.simd = avx2;
SELECT biocrypt.simd_path();
SELECT * FROM bits_values;
SELECT * FROM mask_values;
SELECT * FROM size_values;
SELECT * FROM random_bits_check;
SELECT * FROM rotation_values;
SELECT * FROM min_bits_values;

SET biocrypt.simd = avx512;
SELECT biocrypt.simd_path();
SELECT * FROM bits_values;
SELECT * FROM mask_values;
SELECT * FROM size_values;
SELECT * FROM random_bits_check;
SELECT * FROM rotation_values;
SELECT * FROM min_bits_values;
RESET biocrypt.simd;

-- min_common_bits moves the limit both ways
SET biocrypt.min_common_bits = 63;
SELECT valid_64, valid_63, valid_0, one_byte FROM min_bits_values;
SET biocrypt.min_common_bits = 8;
SELECT valid_63, one_byte, one_byte_masked FROM min_bits_values;
-- 1 is the smallest: no valid bits is still no distance
SET biocrypt.min_common_bits = 1;
SELECT valid_0, template_mask_empty FROM min_bits_values;
SET biocrypt.min_common_bits = 65;
SELECT valid_64, (SELECT count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p) IS DISTINCT FROM
		pg_temp.iris_ref(t, CASE WHEN i % 3 = 0 THEN NULL ELSE tm END, p, NULL, '{2,32,2}', 0)) FROM rb) AS random_off_at_65,
	(SELECT count(*) FILTER (WHERE biocrypt.iris_distance(tpl, p) IS NULL) FROM rb) AS random_null_at_65
FROM min_bits_values;
SET biocrypt.min_common_bits = 128;
SELECT biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16)) AS all_128_valid FROM bt WHERE name = 'zeros';
RESET biocrypt.min_common_bits;
SELECT pg_temp.err($$SET biocrypt.min_common_bits = 0$$) AS min_common_bits_0;
SELECT pg_temp.err($$SET biocrypt.min_common_bits = 65537$$) AS min_common_bits_65537;
SHOW biocrypt.min_common_bits;

--
-- iris_distance(): arguments
--
-- NULL template, code or max_shift: NULL; NULL mask: every bit valid
SELECT biocrypt.iris_distance(NULL, pg_temp.rep('ff', 16)) IS NULL AS null_template,
	biocrypt.iris_distance(tpl, NULL) IS NULL AS null_code,
	biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16), NULL, NULL) IS NULL AS null_max_shift,
	biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16), NULL) AS null_mask
FROM bt WHERE name = 'zeros';
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16), NULL, 1) FROM bt WHERE name = 'zeros'$$) AS shift_without_layout;
SELECT biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16), NULL, 0) AS shift_0_without_layout FROM bt WHERE name = 'zeros';
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, NULL, 32) FROM rc$$) AS shift_32_of_32_cols;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, NULL, 1000000) FROM rc$$) AS shift_huge;
SELECT biocrypt.iris_distance(tpl, t, NULL, 31) AS shift_31_of_32_cols FROM rc;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, NULL, -1) FROM rc$$) AS shift_negative;
-- the rotations of one probe are bounded (2^22 bits): a 16384-column
-- layout shifted by 16383 is refused at once, not ground through
CREATE TEMP TABLE wide AS SELECT biocrypt.protect_bits(pg_temp.rep('5a', 2048), NULL, 'wide', layout => '{1,16384,1}') AS tpl;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, pg_temp.rep('5a', 2048), NULL, 16383) FROM wide$$) AS shift_work_over_limit;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, pg_temp.rep('5a', 2048), NULL, 128) FROM wide$$) AS shift_work_just_over;
SELECT biocrypt.iris_distance(tpl, pg_temp.rep('5a', 2048), NULL, 127) AS shift_work_at_limit FROM wide;
SELECT pg_temp.err($$SELECT * FROM biocrypt.identify('wide', 'tpl', pg_temp.rep('5a', 2048), 1, NULL, NULL, 16383)$$) AS identify_shift_work_over_limit;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, pg_temp.rep('ff', 16), NULL, -1) FROM bt WHERE name = 'zeros'$$) AS shift_negative_no_layout;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t || '\x00'::bytea) FROM rc$$) AS code_longer;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, substr(t, 2)) FROM rc$$) AS code_shorter;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, substr(t, 2), NULL, 3) FROM rc$$) AS code_shorter_shifted;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, '') FROM rc$$) AS code_empty;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, substr(t, 2)) FROM rc$$) AS mask_shorter;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, t || t) FROM rc$$) AS mask_longer;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(tpl, t, '') FROM rc$$) AS mask_empty;
SELECT pg_temp.err($$SELECT tpl <~> (t || '\x00'::bytea) FROM rc$$) AS hamming_code_longer;
SELECT pg_temp.err($$SELECT tpl <~> ''::bytea FROM rc$$) AS hamming_code_empty;
SELECT tpl <~> NULL::bytea IS NULL AS hamming_null FROM rc;
-- verify() takes embeddings only
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}', 1) FROM bt$$) AS verify_bit_template;

RESET TimeZone;
