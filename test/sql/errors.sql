-- Every refusal of protect(), protect_bits(), reveal(), the settings and the
-- text input, with its SQLSTATE, message, detail and hint.  Messages never
-- carry the values they refuse.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql

--
-- protect(): arguments
--
SELECT pg_temp.err($$SELECT biocrypt.protect(NULL, 'alice')$$) AS null_embedding;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', NULL)$$) AS null_subject;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', '')$$) AS empty_subject;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', repeat('s', 257))$$) AS subject_257_bytes;
SELECT biocrypt.subject_of(biocrypt.protect('{1,2}', repeat('s', 256))) = repeat('s', 256) AS subject_256_bytes;
-- the limit is in UTF-8 bytes, not characters
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', repeat('é', 129))$$) AS subject_258_bytes;
SELECT biocrypt.subject_of(biocrypt.protect('{1,2}', repeat('é', 128))) = repeat('é', 128) AS subject_256_bytes_utf8;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', 'alice', NULL, NULL, NULL)$$) AS null_format;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', 'alice', NULL, NULL, 'f64')$$) AS format_f64;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', 'alice', NULL, NULL, 'F32')$$) AS format_upper_case;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,2}', 'alice', NULL, NULL, 'bits')$$) AS format_bits;

--
-- protect(): embeddings
--
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,NaN,2}', 'alice')$$) AS nan;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,Infinity,2}', 'alice')$$) AS infinity;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,-Infinity,2}', 'alice')$$) AS minus_infinity;
SELECT pg_temp.err($$SELECT biocrypt.protect('{NaN}', 'alice', NULL, NULL, 'i8')$$) AS nan_i8;
SELECT pg_temp.err($$SELECT biocrypt.protect('{}', 'alice')$$) AS empty_array;
SELECT pg_temp.err($$SELECT biocrypt.protect('{{1,2},{3,4}}', 'alice')$$) AS two_dimensional;
SELECT pg_temp.err($$SELECT biocrypt.protect('{{1,2}}', 'alice')$$) AS two_dimensional_one_row;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,NULL,2}', 'alice')$$) AS null_element;
SELECT pg_temp.err($$SELECT biocrypt.protect(array_fill(0.5::real, '{16001}'), 'alice')$$) AS dims_16001;
SELECT biocrypt.dims_of(biocrypt.protect(array_fill(0.5::real, '{16000}'), 'alice')) AS dims_16000;
SELECT biocrypt.dims_of(biocrypt.protect('{0.5}', 'alice')) AS dims_1;
-- f16 holds magnitudes below 65520
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,70000}', 'alice', NULL, NULL, 'f16')$$) AS f16_70000;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1,-70000}', 'alice', NULL, NULL, 'f16')$$) AS f16_minus_70000;
SELECT pg_temp.err($$SELECT biocrypt.protect('{65520}', 'alice', NULL, NULL, 'f16')$$) AS f16_65520;
SELECT biocrypt.format_of(biocrypt.protect('{65519,-65519}', 'alice', NULL, NULL, 'f16')) AS f16_65519;
-- i8 has one scale per template, so any finite value fits
SELECT biocrypt.format_of(biocrypt.protect('{70000,-3e38}', 'alice', NULL, NULL, 'i8')) AS i8_large;
-- messages do not echo refused values
SELECT position('31415' IN pg_temp.err($$SELECT biocrypt.protect('{0.31415,NaN}', 'alice')$$)) = 0 AS nan_value_not_echoed;
SELECT position('31415' IN pg_temp.err($$SELECT biocrypt.protect('{0.31415,70000}', 'alice', NULL, NULL, 'f16')$$)) = 0 AS f16_value_not_echoed;
SELECT position('secret' IN pg_temp.err($$SELECT biocrypt.protect('{1}', 'secret-' || repeat('x', 300))$$)) = 0 AS subject_not_echoed;

--
-- protect(): retention
--
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', now() - interval '1 second')$$) AS retain_past;
-- now() is the start of the transaction, so already past
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', now())$$) AS retain_now;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', clock_timestamp())$$) AS retain_clock_now;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', '-infinity')$$) AS retain_minus_infinity;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', 'infinity')$$) AS retain_infinity;
-- biocrypt.max_retention is 3 years by default
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', now() + interval '3 years 1 day')$$) AS retain_beyond_max;
SELECT biocrypt.expires_at(biocrypt.protect('{1}', 'alice', now() + interval '3 years' - interval '1 day'))
	= now() + interval '3 years' - interval '1 day' AS retain_just_within_max;
SELECT biocrypt.expires_at(biocrypt.protect('{1}', 'alice', clock_timestamp() + interval '1 minute'))
	> clock_timestamp() AS retain_one_minute;
-- a default retention beyond the maximum is capped at the maximum
SET biocrypt.default_retention = '5 years';
SELECT biocrypt.expires_at(t) = biocrypt.created_at(t) + interval '3 years' AS default_capped
FROM biocrypt.protect('{1}', 'alice') t;
RESET biocrypt.default_retention;
SELECT biocrypt.expires_at(t) = biocrypt.created_at(t) + interval '1 year' AS default_one_year
FROM biocrypt.protect('{1}', 'alice') t;

--
-- protect(): purposes
--
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', NULL, '{}')$$) AS purposes_empty;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', NULL, '{verification,NULL}')$$) AS purposes_null_element;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', NULL, '{{verification},{payments}}')$$) AS purposes_two_dimensional;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', NULL, '{Upper}')$$) AS purpose_upper_case;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', NULL, '{"has space"}')$$) AS purpose_with_space;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', NULL, '{""}')$$) AS purpose_empty_string;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', NULL, '{é}')$$) AS purpose_non_ascii;
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice', NULL, ARRAY[repeat('p', 64)])$$) AS purpose_64_chars;
SELECT biocrypt.purposes_of(biocrypt.protect('{1}', 'alice', NULL, ARRAY[repeat('p', 63)])) = ARRAY[repeat('p', 63)] AS purpose_63_chars;
SELECT biocrypt.purposes_of(biocrypt.protect('{1}', 'alice', NULL, '{a-z_0.9}')) AS purpose_all_classes;
SELECT pg_temp.err(format('SELECT biocrypt.protect(%L, %L, NULL, %L)', '{1}', 'alice',
	(SELECT array_agg('p' || i) FROM generate_series(1, 17) i))) AS purposes_17;
SELECT cardinality(biocrypt.purposes_of(biocrypt.protect('{1}', 'alice', NULL,
	(SELECT array_agg('p' || i) FROM generate_series(1, 16) i)))) AS purposes_16;
-- duplicates collapse before the limit is checked; the result is sorted
SELECT cardinality(biocrypt.purposes_of(biocrypt.protect('{1}', 'alice', NULL,
	(SELECT array_agg('p' || i) || ARRAY['p1'] FROM generate_series(1, 16) i)))) AS purposes_16_plus_duplicate;
SELECT biocrypt.purposes_of(biocrypt.protect('{1}', 'alice', NULL, '{verification,access,verification,access}')) AS purposes_deduplicated;
-- NULL purposes: biocrypt.default_purposes ('verification')
SELECT biocrypt.purposes_of(biocrypt.protect('{1}', 'alice')) AS purposes_default;
SET biocrypt.default_purposes = '';
SELECT pg_temp.err($$SELECT biocrypt.protect('{1}', 'alice')$$) AS purposes_default_empty;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00', NULL, 'alice')$$) AS purposes_default_empty_bits;
SELECT biocrypt.purposes_of(biocrypt.protect('{1}', 'alice', NULL, '{access}')) AS purposes_explicit;
SET biocrypt.default_purposes = 'payments, access';
SELECT biocrypt.purposes_of(biocrypt.protect('{1}', 'alice')) AS purposes_from_setting;
RESET biocrypt.default_purposes;

--
-- settings
--
SELECT pg_temp.err($$SET biocrypt.default_purposes = 'Bad Name'$$) AS default_purposes_bad_name;
SELECT pg_temp.err($$SET biocrypt.default_purposes = 'verification, '$$) AS default_purposes_trailing_comma;
SELECT pg_temp.err($$SET biocrypt.default_purposes = 'a, ,b'$$) AS default_purposes_blank_entry;
SELECT pg_temp.err(format('SET biocrypt.default_purposes = %L',
	(SELECT string_agg('p' || i, ',') FROM generate_series(1, 17) i))) AS default_purposes_17;
SELECT pg_temp.err($$SET biocrypt.default_retention = '0 days'$$) AS default_retention_zero;
SELECT pg_temp.err($$SET biocrypt.default_retention = '-1 day'$$) AS default_retention_negative;
SELECT pg_temp.err($$SET biocrypt.default_retention = '1 year -1 day'$$) AS default_retention_mixed_sign;
SELECT pg_temp.err($$SET biocrypt.default_retention = '1 day ago'$$) AS default_retention_ago;
SELECT pg_temp.err($$SET biocrypt.default_retention = 'garbage'$$) AS default_retention_garbage;
SELECT pg_temp.err($$SET biocrypt.default_retention = ''$$) AS default_retention_empty;
SELECT pg_temp.err($$SET biocrypt.max_retention = '0'$$) AS max_retention_zero;
SELECT pg_temp.err($$SET biocrypt.max_retention = 'forever'$$) AS max_retention_garbage;
SELECT pg_temp.err($$SET biocrypt.max_retention = '300000 years'$$) AS max_retention_huge;
SELECT pg_temp.err($$SET biocrypt.default_retention = '101 years'$$) AS default_retention_over_100_years;
SELECT pg_temp.err($$SET biocrypt.max_retention = '100 years'$$) AS max_retention_100_years;
RESET biocrypt.max_retention;
SELECT pg_temp.err($$SET biocrypt.default_purposes = 'a,,b'$$) AS default_purposes_empty_entry;
SELECT pg_temp.err($$SET biocrypt.default_purposes = ',a'$$) AS default_purposes_leading_comma;
SELECT pg_temp.err($$SET biocrypt.cipher = 'des'$$) AS cipher_unknown;
SELECT pg_temp.err($$SET biocrypt.root_key_command = 'echo 00'$$) AS root_key_command_runtime;
SELECT pg_temp.err($$SET biocrypt.no_such_setting = 'on'$$) AS unknown_biocrypt_setting;
-- the refused values left the settings unchanged
SELECT current_setting('biocrypt.default_purposes') AS default_purposes,
	current_setting('biocrypt.default_retention') AS default_retention,
	current_setting('biocrypt.max_retention') AS max_retention;

--
-- protect_bits()
--
SELECT pg_temp.err($$SELECT biocrypt.protect_bits(NULL, NULL, 'bob')$$) AS null_code;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('', NULL, 'bob')$$) AS empty_code;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', '\xff', 'bob')$$) AS mask_shorter;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', '\xffffff', 'bob')$$) AS mask_longer;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', '', 'bob')$$) AS mask_empty;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, NULL)$$) AS bits_null_subject;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, '')$$) AS bits_empty_subject;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', now() - interval '1 day')$$) AS bits_retain_past;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, '{Bad}')$$) AS bits_bad_purpose;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, NULL, '{2,4,4}')$$) AS layout_wrong_product;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, NULL, '{2,8}')$$) AS layout_two_entries;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, NULL, '{1,2,8,1}')$$) AS layout_four_entries;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, NULL, '{}')$$) AS layout_empty;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, NULL, '{{2,8,1}}')$$) AS layout_two_dimensional;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, NULL, '{0,16,1}')$$) AS layout_zero;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, NULL, '{-2,-8,1}')$$) AS layout_negative;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, NULL, '{65536,1,1}')$$) AS layout_65536;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, NULL, '{2,NULL,8}')$$) AS layout_null_entry;
SELECT pg_temp.err($$SELECT biocrypt.protect_bits(decode(repeat('a5', 8193), 'hex'), NULL, 'bob')$$) AS code_65544_bits;
SELECT biocrypt.dims_of(biocrypt.protect_bits(decode(repeat('a5', 8192), 'hex'),
	decode(repeat('ff', 8192), 'hex'), 'bob', NULL, NULL, '{256,256,1}')) AS code_65536_bits;
SELECT biocrypt.dims_of(biocrypt.protect_bits('\x00ff', NULL, 'bob', NULL, NULL, '{2,8,1}')) AS layout_ok;

--
-- reveal()
--
CREATE TEMP TABLE tpl (name text PRIMARY KEY, t protected_template);
INSERT INTO tpl VALUES
	('embedding', biocrypt.protect('{0.25,-0.5}', 'alice')),
	('code', biocrypt.protect_bits('\x0f', '\xff', 'bob')),
	-- expires one second from now
	('short', biocrypt.protect('{0.25,-0.5}', 'carol', clock_timestamp() + interval '1 second'));
-- biocrypt.allow_reveal is off by default, even for superusers
SHOW biocrypt.allow_reveal;
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding'$$) AS reveal_disabled;
SELECT pg_temp.err($$SELECT biocrypt.reveal_bits(t) FROM tpl WHERE name = 'code'$$) AS reveal_bits_disabled;
SET biocrypt.allow_reveal = on;
SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding';
SELECT (biocrypt.reveal_bits(t)).* FROM tpl WHERE name = 'code';
SELECT biocrypt.reveal(NULL) IS NULL AS reveal_null;
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'code'$$) AS reveal_of_code;
SELECT pg_temp.err($$SELECT biocrypt.reveal_bits(t) FROM tpl WHERE name = 'embedding'$$) AS reveal_bits_of_embedding;
-- expiry: wait until the short template has expired (its header says so,
-- and the header is authenticated, so this cannot be faked)
SELECT pg_sleep(1.2);
SELECT biocrypt.expires_at(t) < clock_timestamp() AS expired FROM tpl WHERE name = 'short';
SELECT pg_temp.err($$SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'short'$$) AS reveal_expired;
-- an expired template is still a valid value with a readable header
SELECT biocrypt.subject_of(t), biocrypt.format_of(t), biocrypt.dims_of(t) FROM tpl WHERE name = 'short';
SELECT biocrypt.reveal(t) FROM tpl WHERE name = 'embedding';
RESET biocrypt.allow_reveal;

--
-- text input
--
SELECT pg_temp.err($$SELECT 'not base64!'::protected_template$$) AS not_base64;
SELECT pg_temp.err($$SELECT 'QUJD'::protected_template$$) AS base64_of_garbage;
SELECT pg_temp.err($$SELECT ''::protected_template$$) AS empty_string;
SELECT pg_temp.err($$SELECT '   '::protected_template$$) AS only_whitespace;
SELECT pg_temp.err($$SELECT 'QkNUAQ=='::protected_template$$) AS magic_only;
SELECT pg_temp.err($$SELECT 'QUJD='::protected_template$$) AS bad_padding;
SELECT pg_temp.err($$SELECT 'QUJ'::protected_template$$) AS missing_padding;
SELECT pg_temp.err($$SELECT 'QUJD-_'::protected_template$$) AS url_safe_alphabet;
-- only the base64 alphabet, '=' and whitespace: libsodium alone would read
-- each byte from 0x80 up as '/', so 'é' (two bytes) would stand for '//'.
-- Expiry bits 8-15 and 20-23 set put '//' at characters 45-46 of the text.
CREATE TEMP TABLE slashes AS
	SELECT biocrypt.protect('{1,2}', 'alice', timestamptz '2000-01-01 00:00:00+00' +
		((((extract(epoch FROM date_trunc('month', now()) + interval '13 months')
			- 946684800)::bigint * 1000000) | x'F0FF00'::bigint) || ' microseconds')::interval) AS t;
SELECT substr(t::text, 45, 2) AS slashes_in_text FROM slashes;
SELECT pg_temp.err(format('SELECT %L::protected_template', overlay(t::text PLACING 'é' FROM 45 FOR 2)))
	AS non_ascii_for_slashes FROM slashes;
SELECT pg_temp.err(format('SELECT %L::protected_template', (SELECT t::text || '!' FROM tpl WHERE name = 'embedding'))) AS valid_plus_junk;
SELECT pg_temp.err(format('SELECT %L::protected_template',
	(SELECT encode(decode(t::text, 'base64') || '\x414243'::bytea, 'base64') FROM tpl WHERE name = 'embedding'))) AS valid_plus_three_bytes;
SELECT (SELECT t::text FROM tpl WHERE name = 'embedding')::protected_template IS NOT NULL AS valid_round_trip;
SELECT (SELECT E' \t' || encode(decode(t::text, 'base64'), 'base64') || E'\r\n' FROM tpl WHERE name = 'embedding')::protected_template::text
	= (SELECT t::text FROM tpl WHERE name = 'embedding') AS whitespace_ignored;
-- input errors do not echo the input
SELECT position('c2VjcmV0' IN pg_temp.err($$SELECT 'c2VjcmV0LWVtYmVkZGluZw=='::protected_template$$)) = 0 AS input_not_echoed;
SELECT position('secret' IN pg_temp.err($$SELECT 'secret embedding'::protected_template$$)) = 0 AS garbage_not_echoed;

--
-- a data key created in a subtransaction that rolled back must never be
-- used: every template names a key that is in the key ring
--
-- a month of expiry (retention epoch) that has no data key yet
SELECT min(m) AS fresh_expiry
FROM generate_series(now() + interval '1 month', now() + interval '35 months', interval '1 month') m
WHERE NOT EXISTS (SELECT 1 FROM biocrypt.keys k
	WHERE k.epoch = date_trunc('month', m AT TIME ZONE 'UTC')::date) \gset
BEGIN;
SAVEPOINT s;
SELECT biocrypt.key_id_of(biocrypt.protect('{1}', 'alice', :'fresh_expiry')) > 0 AS sealed_in_savepoint;
ROLLBACK TO SAVEPOINT s;
INSERT INTO tpl VALUES ('after_rollback', biocrypt.protect('{0.75}', 'alice', :'fresh_expiry'));
COMMIT;
SELECT EXISTS (SELECT 1 FROM biocrypt.keys k
	WHERE k.id = biocrypt.key_id_of(t)) AS key_in_ring FROM tpl WHERE name = 'after_rollback';
SELECT t AS after_rollback FROM tpl WHERE name = 'after_rollback' \gset
-- a new session has no cached keys
\c
SET biocrypt.allow_reveal = on;
SELECT biocrypt.reveal(:'after_rollback') AS revealed_in_new_session;

-- the server survived all of the above
SELECT 1;
