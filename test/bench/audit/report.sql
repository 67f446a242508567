-- test/bench/audit/report.sql: the side-by-side table of test/bench/audit.sh
-- (psql variables: clients, threads, gallery_n, gallery_fmt, templates).

CREATE TEMP VIEW f AS
SELECT name, max(value) FILTER (WHERE phase = 'bypass') AS b,
	   max(value) FILTER (WHERE phase = 'audited') AS a
FROM abench.fig GROUP BY name;

CREATE FUNCTION pg_temp.v(x float8, digits int) RETURNS text
	LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(round(x::numeric, digits)::text, '-') $$;
CREATE FUNCTION pg_temp.r(a float8, b float8) RETURNS text
	LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(round((a / nullif(b, 0))::numeric, 3)::text || 'x', '-') $$;
CREATE FUNCTION pg_temp.ok(c boolean) RETURNS text
	LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN c THEN 'PASS' WHEN NOT c THEN 'MISS' ELSE '-' END $$;

\echo 'Targets (bypass = BIOCRYPT_AUDIT_BYPASS build, no audit wait; audited = normal build):'
SELECT t."#", t.figure, t.bypass, t.audited, t."audited/bypass", t.target, t.result
FROM (
	SELECT 1 AS o, '1' AS "#", 'verify, 1 client: latency average (ms)' AS figure,
		   pg_temp.v(b, 3) AS bypass, pg_temp.v(a, 3) AS audited, pg_temp.r(a, b) AS "audited/bypass",
		   'audited <= 6x bypass' AS target, pg_temp.ok(a <= 6 * b) AS result
	FROM f WHERE name = 'v1_lat_ms'
	UNION ALL
	SELECT 2, '', 'verify, 1 client: tps', pg_temp.v(b, 0), pg_temp.v(a, 0), pg_temp.r(a, b), '', ''
	FROM f WHERE name = 'v1_tps'
	UNION ALL
	SELECT 3, '2', format('verify, %s clients, %s threads: tps', :'clients', :'threads'),
		   pg_temp.v(b, 0), pg_temp.v(a, 0), pg_temp.r(a, b),
		   'audited >= 6000/s', pg_temp.ok(a >= 6000)
	FROM f WHERE name = 'vc_tps'
	UNION ALL
	SELECT 4, '', format('verify, %s clients: latency average (ms)', :'clients'),
		   pg_temp.v(b, 3), pg_temp.v(a, 3), pg_temp.r(a, b), '', ''
	FROM f WHERE name = 'vc_lat_ms'
	UNION ALL
	SELECT 5, '3', format('identify, %s %s templates: median ms', :'gallery_n', :'gallery_fmt'),
		   pg_temp.v(b, 2), pg_temp.v(a, 2), pg_temp.r(a, b),
		   'audited <= 1.05x bypass', pg_temp.ok(a <= 1.05 * b)
	FROM f WHERE name = 'id_med_ms'
	UNION ALL
	SELECT 6, '', 'identify: min - max ms',
		   pg_temp.v(b1.b, 2) || ' - ' || pg_temp.v(b2.b, 2),
		   pg_temp.v(b1.a, 2) || ' - ' || pg_temp.v(b2.a, 2), '', '', ''
	FROM f b1, f b2 WHERE b1.name = 'id_min_ms' AND b2.name = 'id_max_ms'
	UNION ALL
	SELECT 6.5, '', 'identify: fastest run (ms)', pg_temp.v(b, 2), pg_temp.v(a, 2), pg_temp.r(a, b),
		   'less sensitive to other load', ''
	FROM f WHERE name = 'id_min_ms'
	UNION ALL
	SELECT 7, '', 'audit wait per statement, 1 client (ms)', '', pg_temp.v(a - b, 3), '',
		   'audited - bypass latency', ''
	FROM f WHERE name = 'v1_lat_ms'
	UNION ALL
	SELECT 8, '', '  target 1 allows a wait of at most (ms)', '', pg_temp.v(5 * b, 3), '',
		   '5 x bypass latency', ''
	FROM f WHERE name = 'v1_lat_ms'
	UNION ALL
	SELECT 9, '', '  one fdatasync on this disk (ms)', '', pg_temp.v(nullif(:'fsync_ms', 'NaN')::float8, 3), '',
		   'pg_test_fsync', ''
) t ORDER BY t.o;

\echo 'Audit rows (each audited statement writes a begun row and a completion that names it; the bypass build writes none):'
SELECT r.run, p.phase, s.value::bigint AS statements, ar.value::bigint AS audit_rows,
	   bg.value::bigint AS begun, cp.value::bigint AS completions,
	   c.value::bigint AS worker_commits,
	   pg_temp.v(ar.value / nullif(c.value, 0), 2) AS "rows/commit",
	   CASE WHEN p.phase = 'bypass' AND ar.value = 0 THEN 'ok'
			WHEN p.phase = 'audited' AND ar.value = 2 * s.value AND bg.value = s.value
				 AND cp.value = s.value THEN 'ok'
			ELSE 'WRONG' END AS "check"
FROM (VALUES ('bypass', 1), ('audited', 2)) p(phase, po)
CROSS JOIN (VALUES ('verify, 1 client', 'v1', 1), (format('verify, %s clients', :'clients'), 'vc', 2),
				   ('identify (warm-up + timed)', 'id', 3)) r(run, key, ord)
JOIN abench.fig s ON s.phase = p.phase AND s.name = r.key || '_statements'
JOIN abench.fig ar ON ar.phase = p.phase AND ar.name = r.key || '_audit_rows'
LEFT JOIN abench.fig bg ON bg.phase = p.phase AND bg.name = r.key || '_begun'
LEFT JOIN abench.fig cp ON cp.phase = p.phase AND cp.name = r.key || '_completions'
LEFT JOIN abench.fig c ON c.phase = p.phase AND c.name = r.key || '_commits'
ORDER BY r.ord, p.po;
