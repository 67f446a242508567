-- verify() around the threshold for each metric, its arguments, and the
-- errors of every comparison: shapes, kinds and malformed probes.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
-- comparisons need a declared purpose (purpose.sql tests the rule itself)
SET biocrypt.purpose = 'verification';

--
-- verify(): around the threshold, for each metric.  Template {3,4}:
--   l2 to {0,0} is 5; cosine to {-4,3} is 1 and to {6,8} is 0;
--   inner product with {1,1} is -7
--
CREATE TEMP TABLE vt AS
SELECT f AS fmt, biocrypt.protect('{3,4}', 'v-' || f, NULL, NULL, f) AS tpl
FROM unnest('{f32,f16}'::text[]) f;
SELECT fmt,
	biocrypt.verify(tpl, '{0,0}', 5, 'l2') AS l2_at,
	biocrypt.verify(tpl, '{0,0}', 4.999999, 'l2') AS l2_below,
	biocrypt.verify(tpl, '{-4,3}', 1, 'cosine') AS cosine_at,
	biocrypt.verify(tpl, '{-4,3}', 0.999999, 'cosine') AS cosine_below,
	biocrypt.verify(tpl, '{6,8}', 0) AS default_cosine_at_0,
	biocrypt.verify(tpl, '{6,8}', -1e-300) AS default_cosine_below_0,
	biocrypt.verify(tpl, '{1,1}', -7, 'inner_product') AS ip_at,
	biocrypt.verify(tpl, '{1,1}', -7.000001, 'inner_product') AS ip_below
FROM vt ORDER BY fmt;
-- i8 stores {127,0} exactly (scale 1): l2 to {0,5} is sqrt(16154)
SELECT biocrypt.verify(t, '{0,5}', sqrt(16154::float8), 'l2') AS i8_l2_at,
	biocrypt.verify(t, '{0,5}', sqrt(16154::float8) * (1 - 1e-12), 'l2') AS i8_l2_below,
	biocrypt.verify(t, '{1,0}', -127, 'inner_product') AS i8_ip_at,
	biocrypt.verify(t, '{1,0}', -127.000001, 'inner_product') AS i8_ip_below
FROM biocrypt.protect('{127,0}', 'v-i8', NULL, NULL, 'i8') t;
-- infinite thresholds; a zero vector never matches under cosine (NaN)
SELECT biocrypt.verify(tpl, '{1000,-1000}', 'Infinity', 'l2') AS l2_infinity,
	biocrypt.verify(tpl, '{0,0}', 'Infinity', 'l2') AS l2_zero_probe_infinity,
	biocrypt.verify(tpl, '{0,0}', 'Infinity', 'cosine') AS cosine_zero_probe_infinity,
	biocrypt.verify(tpl, '{0,0}', 'Infinity', 'inner_product') AS ip_zero_probe_infinity,
	biocrypt.verify(tpl, '{0,0}', '-Infinity', 'l2') AS l2_minus_infinity
FROM vt WHERE fmt = 'f32';
SELECT biocrypt.verify(biocrypt.protect('{0,0}', 'z'), '{3,4}', 'Infinity', 'cosine') AS cosine_zero_template_infinity;
-- STRICT: a NULL argument gives NULL
SELECT biocrypt.verify(tpl, NULL, 1) IS NULL AS null_probe,
	biocrypt.verify(tpl, '{3,4}', NULL) IS NULL AS null_max_distance,
	biocrypt.verify(tpl, '{3,4}', 1, NULL) IS NULL AS null_metric,
	biocrypt.verify(NULL, '{3,4}', 1) IS NULL AS null_template
FROM vt WHERE fmt = 'f32';
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}', 'NaN') FROM vt$$) AS max_distance_nan;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}', 1, 'euclidean') FROM vt$$) AS metric_unknown;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}', 1, 'L2') FROM vt$$) AS metric_upper_case;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4}', 1, '') FROM vt$$) AS metric_empty;
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,4,5}', 1) FROM vt$$) AS verify_dims_mismatch;

--
-- errors: shapes, kinds and malformed probes
--
CREATE TEMP TABLE et AS
SELECT biocrypt.protect('{1,2,3}', 'e') AS v, biocrypt.protect_bits(pg_temp.rep('0f', 16), NULL, 'eb') AS b;
SELECT pg_temp.err($$SELECT v <-> '{1,2}'::real[] FROM et$$) AS l2_fewer_dims;
SELECT pg_temp.err($$SELECT v <=> '{1,2,3,4}'::real[] FROM et$$) AS cosine_more_dims;
SELECT pg_temp.err($$SELECT v <#> '{1}'::real[] FROM et$$) AS ip_fewer_dims;
SELECT pg_temp.err($$SELECT b <-> '{1,2,3}'::real[] FROM et$$) AS l2_bit_template;
SELECT pg_temp.err($$SELECT b <=> '{1,2,3}'::real[] FROM et$$) AS cosine_bit_template;
SELECT pg_temp.err($$SELECT b <#> array_fill(1::real, '{128}') FROM et$$) AS ip_bit_template_128;
SELECT pg_temp.err($$SELECT v <~> '\x0f'::bytea FROM et$$) AS hamming_vector_template;
SELECT pg_temp.err($$SELECT v <~> pg_temp.rep('00', 12) FROM et$$) AS hamming_vector_template_12_bytes;
SELECT pg_temp.err($$SELECT biocrypt.iris_distance(v, '\x0f') FROM et$$) AS iris_vector_template;
SELECT pg_temp.err($$SELECT v <-> '{1,NaN,3}'::real[] FROM et$$) AS probe_nan;
SELECT pg_temp.err($$SELECT v <=> '{1,Infinity,3}'::real[] FROM et$$) AS probe_infinity;
SELECT pg_temp.err($$SELECT v <#> '{-Infinity,2,3}'::real[] FROM et$$) AS probe_minus_infinity;
SELECT pg_temp.err($$SELECT v <-> '{1,NULL,3}'::real[] FROM et$$) AS probe_null_element;
SELECT pg_temp.err($$SELECT v <-> '{}'::real[] FROM et$$) AS probe_empty;
SELECT pg_temp.err($$SELECT v <-> '{{1,2,3}}'::real[] FROM et$$) AS probe_two_dimensional;
SELECT pg_temp.err($$SELECT v <-> array_fill(1::real, '{16001}') FROM et$$) AS probe_16001_dims;
SELECT pg_temp.err($$SELECT biocrypt.verify(v, '{1,NaN,3}', 1) FROM et$$) AS verify_probe_nan;
SELECT pg_temp.err($$SELECT biocrypt.verify(v, '{NULL,2,3}', 1) FROM et$$) AS verify_probe_null_element;
-- the probe is checked even when the template is a bit code
SELECT pg_temp.err($$SELECT b <-> '{NaN}'::real[] FROM et$$) AS nan_probe_bit_template;
-- a NULL probe is not an error: the operators are STRICT
SELECT v <-> NULL::real[] IS NULL AS l2_null_probe, v <=> NULL::real[] IS NULL AS cosine_null_probe,
	v <#> NULL::real[] IS NULL AS ip_null_probe, NULL::protected_template <-> '{1}'::real[] IS NULL AS null_template
FROM et;
-- any lower bound: only the number of elements counts
SELECT v <-> '[0:2]={1,2,3}'::real[] AS lower_bound_0, v <-> '[-5:-3]={1,2,3}'::real[] AS lower_bound_minus_5 FROM et;
-- messages do not echo the probe
SELECT position('31415' IN pg_temp.err($$SELECT v <-> '{0.31415,NaN,3}'::real[] FROM et$$)) = 0 AS nan_probe_not_echoed,
	position('31415' IN pg_temp.err($$SELECT v <-> '{0.31415,2}'::real[] FROM et$$)) = 0 AS short_probe_not_echoed;
-- the server survived all of it
SELECT 1 AS alive;

RESET TimeZone;
