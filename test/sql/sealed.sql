-- Sealed inputs: biocrypt.public_key(), the sealed_probe type, and the
-- sealed forms of protect, protect_bits, verify, identify, iris_distance
-- and the operators' functions, against the plain forms; malformed boxes.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
SET biocrypt.purpose = 'verification';

-- the public key of test/regress.conf's root key: 32 bytes, the same on
-- every call (test/t/014_sealed.pl seals to it live, from other backends)
SELECT octet_length(biocrypt.public_key()) AS pk_bytes,
	encode(biocrypt.public_key(), 'hex') AS pk,
	biocrypt.public_key() = biocrypt.public_key() AS stable;

-- Boxes sealed offline to that key by test/sealed_boxes.sh (biocrypt-seal):
-- v3 = [3,1,2.5]; v3b = [1,2,3]; v17 = 17 floats; v2 = [1,2]; code = 16 bytes f0.. 0f..;
-- codemask = the code with mask ff.. ..0000; wrongkey = [1,2] sealed to
-- another key; the rest are messages sealed as they are (see the script)
\set ECHO none
\set v3 'EczenGVZ71CQLAqaErmqvsfnee9hGmNeMvMBAYgoHRJbPOE9iWO2YdAv7aWD8m70wE9XRN3VLauVL0lNMq2y7vgla2R5OVRY'
\set v3b 'YlqIepyFL/zci2/MGenZFkUsOgeieD2bQWW0uHHaFmYMosV4bUTsZN/uG6RLzYRlhswmpvxH0Ltycm1woJtpwoFP8NIONEJA'
\set v17 'QCKP8Uk5M6bGl6JPgFBw0pD73oxl00oty42681rp/R1dMGbpFxYB3OB8mVIdh/u0O6vWaEWK9afu9S+YkuROscVMenkTKsJiZWR0ump/uEB5/AwR4eW4nx8Tt8hyZvrphoxAya3nmyuTI5zccWF06FT6BFLJobf+8no7dE+oHtk='
\set v2 'h9M+wYyaIDqaLgd/5GbQqixs6Vv+f2pdZdpn6cOIt2tuk5ITjF38AixgIir6PLDqrpQNBmsAzZ84gZRG6ljaPflbKI4='
\set code 'z/bRK9MA647hkNgvaTdki9CtCJ2954E9GYEiaIMnr1hQ3GO8q9xfWPzaWJRva9noia4eTYs5l48JO1J2EJPGvvejoDvMX4j4llRt/g=='
\set codemask 'aemXFfjjMHQg8gClkhg+xt2zbd7JRJvw29reKadyxXEtsaAZGoWTguvLcbq0iA65vuUYkKyOJJJ/tI785geZLBye06BajdOM4zTI5O4oSOmMPImT78NyB8Y1AHk='
\set wrongkey 'ZqRce2gO1IozrbklK11FZNI+aUcE2pAzuE4xSVfwxweeOugFT3szTwJCaXMKEuyOxjlKFQ0t6+gR/G2Wly1SrcNUteI='
\set good2 'Q9LNeBS6QIzJrum+6jtZNrEh3v4eqh9eqDxeYMbM2R5WpJP0ja1W+HDILIARAit7dbHLsw6NrOjvIlKcvTSEcWgk8Ik='
\set badmagic 'JKimYshaAw+2iaHyDzSIQkwTEPTtprX0c9oJrmc4FD6w6DGz4TtI3M+OJDNLULTVMEjESqmdqo4e+YlV01Kb4Q6dg1U='
\set badkind '2TiW7LQcTDCEYVawq85ItblU8DTRUyAVZm5kR/g3OhrtkDyK2cL14aeqVBjkoAYycgpofgHztm65kykAhBwCbBjAn0U='
\set vecflag 'CBLt+HPMd3w374RiPO/33wyb9Ft5BQBxPp0snTq0QwpTOcmtaCsYtyEgHsVWWJ8ciOttY+TRSs9ZDhfcMo3i9gKtEo8='
\set bitsflag 'qrViQr+s6n0Eow5BbAkOkwamt/Q6sFxGo9rwO3z7DCaI/957pC9cyR2+lsp/EWnxKHioxaz+tY2JliX/8w=='
\set reserved 'ZEYtGZUVfpu8UgdSAN8It6frB9jRrw+pgs400qgW5HhTtFJK3cAN2tJNusiYBQkFTKLU9dZd3STpbPnielNQm0SkDHY='
\set badlength 'LXTH2IHmzKWwfqAfOf8QV4axsVTYmkxoE/l2+JT/zEj7Y0zImW0Po2IJaedoUr6g8bD5SCG8A7Yg0YMXutJAi0GzlbI='
\set count0 'a8zUCzZPu1YfNnaSmmd1sLGmDKoV8UOTHRUeW4KCAwV8bsRCUzQGyrhGVH4/Xj9GJCzG3ZJMGytAr1gUTYMIG3gTXXE='
\set toolarge 'Psp/gmPbmeB2XmYK2CJJ4X59aqI80QiwCDvn95HuoijsFgsROEAJUAhJqZ0D4qKVYzQc86/GBBbD6M6MlxYZJ11E91U='
\set nan 'FDYIzDQJI8wZWgQxGWGUBeij+x6PqINiQWC3HwkHc3MccFHtnPwjP4c/V3nPSlbqAu7krXii9dxhkZczuLlyEdBY1BI='
\set bitslength 'AbksqRsR234hI5bxOdXQlS5yfI+gC7IGMBIhDFUUXXb7WU+kgvBTHQn6BSQ+di1qJ8axn5HHoBNLAARFp9YP'
\set ECHO all

--
-- the type: base64 in text, the raw box in binary, a cast from bytea
--
SELECT (:'v3'::sealed_probe)::text = :'v3' AS text_roundtrip,
	sealed_probe_send(:'v3') = decode(:'v3', 'base64') AS send_is_the_box,
	(decode(:'v3', 'base64')::sealed_probe)::text = :'v3' AS cast_from_bytea;
-- only size bounds are checked on input: 61 to 64060 bytes
SELECT pg_temp.err($$SELECT 'not base64!'::sealed_probe$$) AS bad_base64;
-- bytes from 0x80 up are not base64 (libsodium alone reads each as '/')
SELECT pg_temp.err($$SELECT (repeat('A', 80) || U&'\00E9' || repeat('A', 6))::sealed_probe$$) AS non_ascii;
SELECT pg_temp.err($$SELECT 'AAAA'::sealed_probe$$) AS too_short_text;
SELECT pg_temp.err($$SELECT biocrypt.verify_sealed(biocrypt.protect('{1,2}', 's'), '\x00'::bytea, 1)$$) AS too_short_bytea;
SELECT pg_temp.err(format('SELECT %L::sealed_probe', encode(repeat('x', 64061)::bytea, 'base64'))) AS too_long_text;

--
-- every sealed form gives exactly what the plain form gives
--
CREATE TEMP TABLE sg (id int, tpl protected_template);
INSERT INTO sg VALUES
	(1, biocrypt.protect('{3,1,2}', 'sg-1')),
	(2, biocrypt.protect('{1,2,3}', 'sg-2')),
	(3, biocrypt.protect('{-1,0,2}', 'sg-3', NULL, NULL, 'f16')),
	(4, biocrypt.protect('{3,1,2.5}', 'sg-4', NULL, NULL, 'i8'));
SELECT id,
	biocrypt.l2_distance_sealed(tpl, :'v3') = (tpl <-> '{3,1,2.5}'::real[]) AS l2,
	biocrypt.cosine_distance_sealed(tpl, :'v3') = (tpl <=> '{3,1,2.5}'::real[]) AS cosine,
	biocrypt.negative_inner_product_sealed(tpl, :'v3') = (tpl <#> '{3,1,2.5}'::real[]) AS ip,
	round(biocrypt.l2_distance_sealed(tpl, :'v3')::numeric, 6) AS l2_value
FROM sg ORDER BY id;
SELECT id, biocrypt.verify_sealed(tpl, :'v3', 0.01) AS sealed,
	biocrypt.verify(tpl, '{3,1,2.5}'::real[], 0.01) AS plain,
	biocrypt.verify_sealed(tpl, :'v3', 1.2, 'l2') AS sealed_l2,
	biocrypt.verify(tpl, '{3,1,2.5}'::real[], 1.2, 'l2') AS plain_l2
FROM sg ORDER BY id;
SELECT * FROM biocrypt.identify_sealed('sg', 'tpl', :'v3', 3);
SELECT id, biocrypt.verify_reason_sealed(tpl, :'v3', 0.01) AS sealed_reason,
	biocrypt.verify_reason(tpl, '{3,1,2.5}'::real[], 0.01) AS plain_reason
FROM sg ORDER BY id;
SELECT (SELECT array_agg(row(subject, distance)::text) FROM biocrypt.identify_sealed('sg', 'tpl', :'v3', 3, 2.0, 'l2'))
	= (SELECT array_agg(row(subject, distance)::text) FROM biocrypt.identify('sg', 'tpl', '{3,1,2.5}'::real[], 3, 2.0, 'l2'))
	AS identify_same;
-- the decision-only forms, at the administrator's threshold
SET biocrypt.match_threshold = '0.01';
SELECT id, biocrypt.verify_sealed(tpl, :'v3') AS sealed,
	biocrypt.verify(tpl, '{3,1,2.5}'::real[]) AS plain
FROM sg ORDER BY id;
SELECT id, biocrypt.verify_reason_sealed(tpl, :'v3') AS sealed_reason,
	biocrypt.verify_reason(tpl, '{3,1,2.5}'::real[]) AS plain_reason
FROM sg ORDER BY id;
SELECT * FROM biocrypt.identify_ranks_sealed('sg', 'tpl', :'v3', 3);
SELECT (SELECT array_agg(row(rank, subject)::text) FROM biocrypt.identify_ranks_sealed('sg', 'tpl', :'v3', 3))
	= (SELECT array_agg(row(rank, subject)::text) FROM biocrypt.identify_ranks('sg', 'tpl', '{3,1,2.5}'::real[], 3))
	AS identify_ranks_same;
RESET biocrypt.match_threshold;
-- a sealed probe passed as bytea, as a driver binds bytes
SELECT biocrypt.verify_sealed(tpl, decode(:'v3', 'base64'), 0.01) AS bytea_probe FROM sg WHERE id = 4;
-- a box that changes from row to row is opened again each time it changes
SELECT p.n, s.id, biocrypt.l2_distance_sealed(s.tpl, p.box::sealed_probe) = (s.tpl <-> p.v) AS equal
FROM (VALUES (1, :'v3', '{3,1,2.5}'::real[]), (2, :'v3b', '{1,2,3}'), (3, :'v3', '{3,1,2.5}')) p(n, box, v),
	LATERAL (SELECT * FROM sg ORDER BY id) s
ORDER BY p.n, s.id;

-- enrolment: the template a sealed embedding makes reveals as the plain one
SET biocrypt.allow_reveal = on;
SELECT biocrypt.reveal(biocrypt.protect_sealed(:'v17', 's17')) =
	'{0.1,-0.5,1e-3,3.4028235e38,-0,1.5,2,3,4,5,6,7,8,9,10,11,-12.25}'::real[] AS f32_17_exact,
	biocrypt.reveal(biocrypt.protect_sealed(:'v3', 's3', NULL, NULL, 'f16')) =
	biocrypt.reveal(biocrypt.protect('{3,1,2.5}', 's3', NULL, NULL, 'f16')) AS f16_same,
	biocrypt.subject_of(biocrypt.protect_sealed(:'v3', 'alice', NULL, '{verification,access}')) AS subject,
	biocrypt.purposes_of(biocrypt.protect_sealed(:'v3', 'alice', NULL, '{verification,access}')) AS purposes;

--
-- bit codes: protect_bits, <~>, iris_distance and identify
--
CREATE TEMP TABLE sb (id int, tpl protected_template);
INSERT INTO sb VALUES
	(1, biocrypt.protect_bits('\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f', NULL, 'sb-1', NULL, NULL, '{2,16,4}')),
	(2, biocrypt.protect_bits('\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0fff', '\xffffffffffffffffffffffffffffff00', 'sb-2', NULL, NULL, '{2,16,4}')),
	(3, biocrypt.protect_bits('\x123456789abcdef00fedcba987654321', NULL, 'sb-3', NULL, NULL, '{2,16,4}')),
	(4, biocrypt.protect_bits_sealed(:'codemask', 'sb-4', NULL, NULL, '{2,16,4}'));
SELECT (biocrypt.reveal_bits(tpl)).* FROM sb WHERE id = 4;
SELECT id,
	biocrypt.hamming_distance_sealed(tpl, :'code') = (tpl <~> '\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f'::bytea) AS hamming,
	biocrypt.iris_distance_sealed(tpl, :'codemask') IS NOT DISTINCT FROM
		biocrypt.iris_distance(tpl, '\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f', '\xffffffffffffffffffffffffffff0000') AS iris,
	biocrypt.iris_distance_sealed(tpl, :'codemask', 2) IS NOT DISTINCT FROM
		biocrypt.iris_distance(tpl, '\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f', '\xffffffffffffffffffffffffffff0000', 2) AS iris_shift2,
	biocrypt.iris_distance_sealed(tpl, :'code', 1) = biocrypt.iris_distance(tpl, '\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f', NULL, 1) AS iris_no_mask,
	round(biocrypt.iris_distance_sealed(tpl, :'codemask')::numeric, 6) AS iris_value
FROM sb ORDER BY id;
SELECT * FROM biocrypt.identify_sealed('sb', 'tpl', :'codemask', 3, NULL, 'hamming', 1);
SELECT (SELECT array_agg(row(subject, distance)::text) FROM biocrypt.identify_sealed('sb', 'tpl', :'codemask', 3, max_shift => 1))
	= (SELECT array_agg(row(subject, distance)::text) FROM biocrypt.identify('sb', 'tpl',
		'\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f'::bytea, 3, NULL, '\xffffffffffffffffffffffffffff0000', 1))
	AS identify_bits_same;
SELECT pg_temp.err(format('SELECT * FROM biocrypt.identify_sealed(''sb'', ''tpl'', %L, 3, NULL, ''l2'')', :'code')) AS bits_metric_l2;
-- the decision-only forms (biocrypt.match_threshold_bits, 0.32 by default)
SELECT id, biocrypt.verify_bits_sealed(tpl, :'codemask', 1) AS sealed,
	biocrypt.verify_bits(tpl, '\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f', '\xffffffffffffffffffffffffffff0000', 1) AS plain,
	biocrypt.verify_bits_sealed(tpl, :'code') AS sealed_no_mask,
	biocrypt.verify_bits(tpl, '\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f') AS plain_no_mask
FROM sb ORDER BY id;
SELECT (SELECT array_agg(row(rank, subject)::text) FROM biocrypt.identify_ranks_sealed('sb', 'tpl', :'codemask', 4, 1))
	= (SELECT array_agg(row(rank, subject)::text) FROM biocrypt.identify_ranks('sb', 'tpl',
		'\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f'::bytea, 4, '\xffffffffffffffffffffffffffff0000', 1))
	AS identify_ranks_bits_same,
	(SELECT count(*) FROM biocrypt.identify_ranks_sealed('sb', 'tpl', :'codemask', 4, 1)) AS ranked;
SELECT count(*) AS bits_metric_default FROM biocrypt.identify_sealed('sb', 'tpl', :'code', 3, NULL, 'cosine');
RESET biocrypt.allow_reveal;

--
-- the audit: a sealed comparison's row has the plain one's probe hash
--
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.verify(tpl, '{3,1,2.5}'::real[], 0.01) FROM sg WHERE id = 4;
SELECT biocrypt.verify_sealed(tpl, :'v3', 0.01) FROM sg WHERE id = 4;
SELECT count(*) FROM biocrypt.identify('sb', 'tpl', '\xf0f0f0f0f0f0f0f00f0f0f0f0f0f0f0f'::bytea, 3, NULL, '\xffffffffffffffffffffffffffff0000', 1);
SELECT count(*) FROM biocrypt.identify_sealed('sb', 'tpl', :'codemask', 3, max_shift => 1);
SELECT pg_temp.settle();
SELECT operation, metric, threshold, k, templates_compared, matches, outcome,
	count(*) AS rows, count(DISTINCT probe_hmac) AS probe_hashes
FROM biocrypt.audit_log WHERE id > :start AND outcome <> 'begun'
GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1;

--
-- malformed boxes and messages: each a clear error with its SQLSTATE
--
SELECT pg_temp.err(format('SELECT biocrypt.verify_sealed(tpl, %L, 1) FROM sg WHERE id = 1', :'wrongkey')) AS wrong_key;
SELECT pg_temp.err(format('SELECT biocrypt.verify_sealed(tpl, substr(decode(%L, ''base64''), 1, 60), 1) FROM sg WHERE id = 1', :'good2')) AS truncated_box;
SELECT pg_temp.err(format('SELECT biocrypt.verify_sealed(tpl, substr(decode(%L, ''base64''), 1, 63), 1) FROM sg WHERE id = 1', :'good2')) AS truncated_by_one;
SELECT pg_temp.err(format('SELECT biocrypt.verify_sealed(tpl, set_byte(decode(%L, ''base64''), 50, get_byte(decode(%L, ''base64''), 50) # 1), 1) FROM sg WHERE id = 1', :'good2', :'good2')) AS tampered;
SELECT pg_temp.err(format('SELECT biocrypt.verify_sealed(tpl, set_byte(decode(%L, ''base64''), 3, get_byte(decode(%L, ''base64''), 3) # 128), 1) FROM sg WHERE id = 1', :'good2', :'good2')) AS tampered_ephemeral_key;
SELECT pg_temp.err(format('SELECT biocrypt.l2_distance_sealed(tpl, %L) FROM sg WHERE id = 1', :'good2')) AS good_message_wrong_dims;
SELECT pg_temp.err(format('SELECT biocrypt.l2_distance_sealed(tpl, %L) FROM sg WHERE id = 1', :'badmagic')) AS bad_magic;
SELECT pg_temp.err(format('SELECT biocrypt.l2_distance_sealed(tpl, %L) FROM sg WHERE id = 1', :'badkind')) AS bad_kind;
SELECT pg_temp.err(format('SELECT biocrypt.l2_distance_sealed(tpl, %L) FROM sg WHERE id = 1', :'vecflag')) AS vector_with_mask_flag;
SELECT pg_temp.err(format('SELECT biocrypt.hamming_distance_sealed(tpl, %L) FROM sb WHERE id = 1', :'bitsflag')) AS bits_unknown_flag;
SELECT pg_temp.err(format('SELECT biocrypt.l2_distance_sealed(tpl, %L) FROM sg WHERE id = 1', :'reserved')) AS reserved_not_zero;
SELECT pg_temp.err(format('SELECT biocrypt.l2_distance_sealed(tpl, %L) FROM sg WHERE id = 1', :'badlength')) AS wrong_length;
SELECT pg_temp.err(format('SELECT biocrypt.hamming_distance_sealed(tpl, %L) FROM sb WHERE id = 1', :'bitslength')) AS bits_wrong_length;
SELECT pg_temp.err(format('SELECT biocrypt.l2_distance_sealed(tpl, %L) FROM sg WHERE id = 1', :'count0')) AS count_zero;
SELECT pg_temp.err(format('SELECT biocrypt.l2_distance_sealed(tpl, %L) FROM sg WHERE id = 1', :'toolarge')) AS count_too_large;
SELECT pg_temp.err(format('SELECT biocrypt.l2_distance_sealed(tpl, %L) FROM sg WHERE id = 1', :'nan')) AS nan_in_vector;
SELECT pg_temp.err(format('SELECT biocrypt.protect_sealed(%L, ''s'')', :'nan')) AS nan_enrolled;
SELECT pg_temp.err(format('SELECT biocrypt.hamming_distance_sealed(tpl, %L) FROM sb WHERE id = 1', :'v3')) AS vector_for_bits;
SELECT pg_temp.err(format('SELECT biocrypt.protect_bits_sealed(%L, ''s'')', :'v3')) AS vector_for_protect_bits;
SELECT pg_temp.err(format('SELECT biocrypt.verify_sealed(tpl, %L, 1) FROM sg WHERE id = 1', :'code')) AS bits_for_vector;
SELECT pg_temp.err(format('SELECT biocrypt.protect_sealed(%L, ''s'')', :'code')) AS bits_for_protect;
SELECT pg_temp.err(format('SELECT * FROM biocrypt.identify_sealed(''sg'', ''tpl'', %L)', :'code')) AS bits_searching_vectors;
SELECT pg_temp.err(format('SELECT biocrypt.hamming_distance_sealed(tpl, %L) FROM sb WHERE id = 1', :'codemask')) AS mask_for_hamming_operator;
SELECT pg_temp.err($$SELECT biocrypt.protect_sealed(NULL, 's')$$) AS null_sealed;
SELECT biocrypt.iris_distance_sealed(tpl, NULL) IS NULL AS null_probe_is_null FROM sb WHERE id = 1;
-- a comparison that fails once its access is open is recorded as failed
-- (a box that does not open fails before any access, as a malformed plain
-- probe does); the server lives on
SELECT pg_temp.settle();
SELECT operation, outcome, sqlstate, count(*) FROM biocrypt.audit_log
WHERE id > :start AND outcome = 'error' GROUP BY 1, 2, 3 ORDER BY 1, 3;
SELECT biocrypt.verify_sealed(tpl, :'v3', 0.01) AS still_alive FROM sg WHERE id = 4;

--
-- privileges: the sealed forms as the plain ones (a matcher has all a
-- verifier has); public_key for every
-- biocrypt role (PUBLIC keeps only the types' I/O)
--
SELECT p.oid::regprocedure AS function,
	has_function_privilege('biocrypt_verifier', p.oid, 'EXECUTE') AS verifier,
	has_function_privilege('biocrypt_matcher', p.oid, 'EXECUTE') AS matcher,
	has_function_privilege('biocrypt_enroller', p.oid, 'EXECUTE') AS enroller,
	has_function_privilege('biocrypt_auditor', p.oid, 'EXECUTE') AS auditor,
	has_function_privilege('public', p.oid, 'EXECUTE') AS public,
	p.provolatile, p.proisstrict, p.proparallel
FROM pg_proc p
WHERE p.pronamespace = 'biocrypt'::regnamespace
	AND (p.proname LIKE '%\_sealed' OR p.proname = 'public_key')
ORDER BY p.proname, p.oid::regprocedure::text COLLATE "C";
