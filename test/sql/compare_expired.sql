-- Expired templates in comparisons; the comparison settings, which only
-- superusers change; a probe that changes between evaluations of one
-- expression.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';

-- templates of two formats, still in retention (as in compare_verify)
CREATE TEMP TABLE vt AS
SELECT f AS fmt, biocrypt.protect('{3,4}', 'v-' || f, NULL, NULL, f) AS tpl
FROM unnest('{f32,f16}'::text[]) f;

--
-- expired templates: never decrypted; NULL from the operators, false from
-- verify(), or 55000 under biocrypt.on_expired = error
--
CREATE TEMP TABLE xt AS
SELECT biocrypt.protect('{3,4}', 'x', clock_timestamp() + interval '1 second') AS v,
	biocrypt.protect_bits(pg_temp.rep('00', 16), NULL, 'xb', clock_timestamp() + interval '1 second',
						  NULL, '{2,32,2}') AS b;
SELECT v <-> '{0,0}'::real[] AS l2_before, biocrypt.verify(v, '{6,8}', 0) AS verify_before,
	b <~> pg_temp.rep('ff', 16) AS hamming_before
FROM xt;
SELECT pg_sleep(1.2);
SELECT biocrypt.expires_at(v) < clock_timestamp() AND biocrypt.expires_at(b) < clock_timestamp() AS expired FROM xt;
SHOW biocrypt.on_expired;
SELECT v <-> '{0,0}'::real[] IS NULL AS l2_null, v <=> '{0,0}'::real[] IS NULL AS cosine_null,
	v <#> '{0,0}'::real[] IS NULL AS ip_null,
	b <~> pg_temp.rep('ff', 16) IS NULL AS hamming_null,
	biocrypt.iris_distance(b, pg_temp.rep('ff', 16)) IS NULL AS iris_null,
	biocrypt.iris_distance(b, pg_temp.rep('ff', 16), NULL, 3) IS NULL AS iris_shifted_null
FROM xt;
SELECT biocrypt.verify(v, '{6,8}', 'Infinity') AS verify_cosine, biocrypt.verify(v, '{0,0}', 'Infinity', 'l2') AS verify_l2,
	biocrypt.verify(v, '{1,1}', 'Infinity', 'inner_product') AS verify_ip
FROM xt;
-- shape and kind are still checked (from the header) before expiry
SELECT pg_temp.err($$SELECT v <-> '{0,0,0}'::real[] FROM xt$$) AS expired_dims_mismatch;
SELECT pg_temp.err($$SELECT b <-> '{0,0}'::real[] FROM xt$$) AS expired_bit_template;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(b, pg_temp.rep('ff', 16), NULL, 32) FROM xt$$) AS expired_shift_too_large;
SET biocrypt.on_expired = error;
SELECT pg_temp.err($$SELECT v <-> '{0,0}'::real[] FROM xt$$) AS l2_error;
SELECT pg_temp.err($$SELECT v <=> '{0,0}'::real[] FROM xt$$) AS cosine_error;
SELECT pg_temp.err($$SELECT v <#> '{0,0}'::real[] FROM xt$$) AS ip_error;
SELECT pg_temp.err($$SELECT b <~> pg_temp.rep('ff', 16) FROM xt$$) AS hamming_error;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(b, pg_temp.rep('ff', 16), NULL, 3) FROM xt$$) AS iris_error;
SELECT pg_temp.err($$SELECT biocrypt.verify(v, '{6,8}', 1) FROM xt$$) AS verify_error;
-- templates still in retention are unaffected
SELECT tpl <-> '{0,0}'::real[] AS fresh_l2 FROM vt WHERE fmt = 'f32';
RESET biocrypt.on_expired;

--
-- the comparison settings are for superusers; a matcher compares but
-- cannot change them
--
CREATE ROLE regress_cmp_matcher NOLOGIN IN ROLE biocrypt_matcher;
SELECT biocrypt.grant_purpose('regress_cmp_matcher', 'verification') AS granted;
GRANT SELECT ON vt, xt TO regress_cmp_matcher;
SET ROLE regress_cmp_matcher;
SELECT tpl <-> '{0,0}'::real[] AS matcher_l2, biocrypt.verify(tpl, '{6,8}', 0) AS matcher_verify
FROM vt WHERE fmt = 'f32';
SELECT pg_temp.err($$SET biocrypt.on_expired = error$$) AS set_on_expired;
SELECT pg_temp.err($$SET biocrypt.simd = portable$$) AS set_simd;
SELECT pg_temp.err($$SET biocrypt.min_common_bits = 1$$) AS set_min_common_bits;
SELECT pg_temp.err($$SELECT set_config('biocrypt.on_expired', 'error', false)$$) AS set_config_on_expired;
SELECT pg_temp.err($$SELECT set_config('biocrypt.simd', 'portable', true)$$) AS set_config_simd;
SELECT pg_temp.err($$ALTER ROLE regress_cmp_matcher SET biocrypt.on_expired = error$$) AS alter_role_on_expired;
SHOW biocrypt.on_expired;
SELECT biocrypt.simd_path() AS matcher_path;
-- expired: skipped for the matcher too
SELECT v <-> '{0,0}'::real[] IS NULL AS matcher_expired_null FROM xt;
RESET ROLE;
REVOKE SELECT ON vt, xt FROM regress_cmp_matcher;
DROP ROLE regress_cmp_matcher;

--
-- a probe that changes between evaluations of one expression: PL/pgSQL
-- keeps a simple expression's state across loop iterations, with the
-- probe as a parameter, so the probe cache must notice the new value.
-- Per iteration g: l2 = 8g, verify within 8.5 only for g = 1,
-- iris distance g/16.
--
CREATE FUNCTION pg_temp.loop_distances() RETURNS TABLE (g int, l2 float8, verified boolean, iris float8)
LANGUAGE plpgsql AS $$
DECLARE
	t protected_template := biocrypt.protect(array_fill(0::real, '{64}'), 'loop');
	b protected_template := biocrypt.protect_bits(pg_temp.rep('00', 16), NULL, 'loop-bits');
	r record;
	code bytea;
BEGIN
	FOR r IN SELECT i, array_fill(i::real, '{64}') AS p FROM generate_series(1, 3) i LOOP
		g := r.i;
		l2 := t <-> r.p;
		verified := biocrypt.verify(t, r.p, 8.5, 'l2');
		code := pg_temp.rep('ff', r.i) || pg_temp.rep('00', 16 - r.i);
		iris := biocrypt.iris_distance(b, code);
		RETURN NEXT;
	END LOOP;
END $$;
SELECT * FROM pg_temp.loop_distances();
-- the same probe per row of a join, alternating
SELECT g, tpl <-> p AS l2
FROM (VALUES (1, '{0,0}'::real[]), (2, '{9,12}'), (3, '{0,0}'), (4, '{3,0}')) v(g, p), vt
WHERE fmt = 'f32' ORDER BY g;

RESET TimeZone;
