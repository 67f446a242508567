-- enrolment: protect() and protect_bits(), checked through reveal()
\set VERBOSITY terse
SET biocrypt.allow_reveal = on;
SET TimeZone = 'UTC';
SELECT setseed(0.42);
-- expiries relative to today, in distinct UTC months within max_retention
SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m0 \gset

-- f32 round-trips bit-exactly, including extremes, subnormals and -0
CREATE TEMP TABLE vecs AS
	SELECT d, array_agg((random() * 200 - 100)::real ORDER BY i) AS v
	FROM unnest(ARRAY[1, 3, 16, 17, 511, 512, 513, 1023]) d, generate_series(1, d) i
	GROUP BY d;
SELECT d, biocrypt.reveal(biocrypt.protect(v, 's')) = v AS f32_exact FROM vecs ORDER BY d;
SELECT biocrypt.reveal(biocrypt.protect('{3.4028235e38,-3.4028235e38,1.4e-45,-0,1.17549435e-38}'::real[], 's'))::text AS extremes;
SELECT biocrypt.reveal(biocrypt.protect(ARRAY[0.1, -0.0]::real[], 's')) = ARRAY[0.1, -0.0]::real[] AS f32_small;

-- f16 rounds to nearest: |error| <= |x| * 2^-11 (normal range) or 2^-25 (subnormal)
SELECT d, count(*) FILTER (WHERE abs(x - r) > greatest(abs(x) * 2 ^ -11, 2 ^ -25)) AS f16_out_of_bound
FROM vecs, LATERAL unnest(v, biocrypt.reveal(biocrypt.protect(v, 's', format => 'f16'))) AS u(x, r)
GROUP BY d ORDER BY d;
SELECT biocrypt.reveal(biocrypt.protect(ARRAY[1, 0.5, -2, 65504, 65519, 0.0001, 1e-8, 1e-9]::real[], 's', format => 'f16'))::text AS f16_values;

-- i8 uses one scale per template: |error| <= max|x| / 254
SELECT d, count(*) FILTER (WHERE abs(x - r) > m / 254 * (1 + 1e-6)) AS i8_out_of_bound
FROM vecs, LATERAL (SELECT max(abs(e)) AS m FROM unnest(v) e) s,
	LATERAL unnest(v, biocrypt.reveal(biocrypt.protect(v, 's', format => 'i8'))) AS u(x, r)
GROUP BY d ORDER BY d;
SELECT biocrypt.reveal(biocrypt.protect(ARRAY[127, -127, 63.5, 0]::real[], 's', format => 'i8'))::text AS i8_exact_grid;
SELECT biocrypt.reveal(biocrypt.protect(ARRAY[0, 0, 0]::real[], 's', format => 'i8'))::text AS i8_zero;

-- bit codes and masks round-trip exactly
SELECT (biocrypt.reveal_bits(biocrypt.protect_bits('\xdeadbeef'::bytea, '\xffff00ff'::bytea, 's'))).*;
SELECT (biocrypt.reveal_bits(biocrypt.protect_bits('\x00ff'::bytea, NULL, 's'))).*;
SELECT r.code = c AS code_ok, r.mask = m AS mask_ok
FROM (SELECT decode(repeat('5a3c', 1024), 'hex') AS c, decode(repeat('f0ff', 1024), 'hex') AS m) s,
	LATERAL biocrypt.reveal_bits(biocrypt.protect_bits(c, m, 's', layout => '{16,256,4}')) r;

-- retention: explicit, default (1 year), capped at biocrypt.max_retention
SELECT biocrypt.expires_at(biocrypt.protect(ARRAY[1]::real[], 's', :'m0'::timestamptz + interval '2 years 3 days 04:05:06.789')) = :'m0'::timestamptz + interval '2 years 3 days 04:05:06.789' AS explicit_expiry;
SELECT biocrypt.expires_at(t) = biocrypt.created_at(t) + interval '1 year' AS default_1_year
FROM biocrypt.protect(ARRAY[1]::real[], 's') t;
SET biocrypt.default_retention = '30 days';
SELECT biocrypt.expires_at(t) = biocrypt.created_at(t) + interval '30 days' AS default_30_days
FROM biocrypt.protect(ARRAY[1]::real[], 's') t;
SET biocrypt.default_retention = '10 years';
SELECT biocrypt.expires_at(t) = biocrypt.created_at(t) + interval '3 years' AS capped_at_max
FROM biocrypt.protect(ARRAY[1]::real[], 's') t;
RESET biocrypt.default_retention;

-- purposes: given ones are sorted and de-duplicated, else biocrypt.default_purposes
SELECT biocrypt.purposes_of(biocrypt.protect(ARRAY[1]::real[], 's', NULL, '{payments,border,payments,a.b-c_d}'));
SELECT biocrypt.purposes_of(biocrypt.protect(ARRAY[1]::real[], 's'));
SET biocrypt.default_purposes = 'login, border';
SELECT biocrypt.purposes_of(biocrypt.protect(ARRAY[1]::real[], 's'));
RESET biocrypt.default_purposes;

-- both ciphers seal and open; each cipher has its own data key per epoch
SET biocrypt.cipher = 'xchacha20-poly1305';
CREATE TEMP TABLE xc AS SELECT biocrypt.protect(ARRAY[1, 2, 3]::real[], 's', :'m0'::timestamptz + interval '20 months 9 days') AS t;
SELECT biocrypt.reveal(t) AS xchacha_reveal, get_byte(decode(t::text, 'base64'), 4) AS cipher_id FROM xc;
SET biocrypt.cipher = 'aes-256-gcm';
CREATE TEMP TABLE ae AS SELECT biocrypt.protect(ARRAY[1, 2, 3]::real[], 's', :'m0'::timestamptz + interval '20 months 19 days') AS t;
SELECT biocrypt.reveal(t) AS aes_reveal, get_byte(decode(t::text, 'base64'), 4) AS cipher_id FROM ae;
SELECT k.cipher, k.epoch = (:'m0'::timestamptz + interval '20 months') AT TIME ZONE 'UTC' AS epoch_is_expiry_month FROM biocrypt.keys k WHERE k.id IN (SELECT biocrypt.key_id_of(t) FROM xc UNION ALL SELECT biocrypt.key_id_of(t) FROM ae) ORDER BY 1;
RESET biocrypt.cipher;

-- a data key is retired after biocrypt.max_encryptions_per_key encryptions
SET biocrypt.max_encryptions_per_key = 2;
CREATE TEMP TABLE roll AS
	SELECT g, biocrypt.protect(ARRAY[g]::real[], 's', :'m0'::timestamptz + interval '21 months 4 days') AS t FROM generate_series(1, 5) g;
-- counter values n..n+2 use the first key, n+3 retires it for a second
SELECT count(DISTINCT biocrypt.key_id_of(t)) AS keys_used FROM roll;
SELECT count(*) FILTER (WHERE state = 'active') AS active, count(*) FILTER (WHERE state = 'retired') AS retired
FROM biocrypt.keys WHERE epoch = (:'m0'::timestamptz + interval '21 months') AT TIME ZONE 'UTC';
SELECT bool_and(biocrypt.reveal(t) = ARRAY[g]::real[]) AS all_readable FROM roll;
RESET biocrypt.max_encryptions_per_key;

-- a key created in a rolled-back transaction is never used afterwards
BEGIN;
SELECT biocrypt.key_id_of(biocrypt.protect(ARRAY[1]::real[], 's', :'m0'::timestamptz + interval '22 months 7 days')) IS NOT NULL AS sealed;
ROLLBACK;
CREATE TEMP TABLE after_rb AS SELECT biocrypt.protect(ARRAY[7]::real[], 's', :'m0'::timestamptz + interval '22 months 8 days') AS t;
SELECT biocrypt.reveal(t) AS after_rollback,
	EXISTS (SELECT 1 FROM biocrypt.keys k WHERE k.id = biocrypt.key_id_of(t)) AS key_in_ring FROM after_rb;
SELECT count(*) AS keys_for_that_month FROM biocrypt.keys WHERE epoch = (:'m0'::timestamptz + interval '22 months') AT TIME ZONE 'UTC';

-- the same inside a transaction that rolls back to a savepoint
BEGIN;
SAVEPOINT sp;
SELECT biocrypt.key_id_of(biocrypt.protect(ARRAY[1]::real[], 's', :'m0'::timestamptz + interval '23 months 7 days')) IS NOT NULL AS sealed;
ROLLBACK TO SAVEPOINT sp;
CREATE TEMP TABLE after_sp AS SELECT biocrypt.protect(ARRAY[8]::real[], 's', :'m0'::timestamptz + interval '23 months 8 days') AS t;
COMMIT;
SELECT biocrypt.reveal(t) AS after_savepoint_rollback,
	EXISTS (SELECT 1 FROM biocrypt.keys k WHERE k.id = biocrypt.key_id_of(t)) AS key_in_ring FROM after_sp;

-- protect is volatile: two seals of one input differ (fresh nonce)
SELECT a::text <> b::text AS fresh_nonce
FROM (SELECT biocrypt.protect(ARRAY[1]::real[], 's', now() + interval '1 day', '{p}') a,
	biocrypt.protect(ARRAY[1]::real[], 's', now() + interval '1 day', '{p}') b) s;
SELECT provolatile FROM pg_proc WHERE oid = 'biocrypt.protect'::regproc;

RESET biocrypt.allow_reveal;
RESET TimeZone;
