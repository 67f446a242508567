-- test/bench/report.sql: medians, ratios and targets from bench.raw
-- (run by test/bench/run.sh after all measurements).

CREATE VIEW bench.med AS
SELECT format, n, method,
	   percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms,
	   min(ms) AS min_ms, max(ms) AS max_ms, count(*) AS reps,
	   percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) * 1e6 / n AS ns,
	   CASE format WHEN 'iris_s8' THEN 17 ELSE 1 END AS nshifts,
	   array_position(ARRAY['f32', 'f16', 'i8', 'iris_s0', 'iris_s8'], format) AS ford
FROM bench.raw GROUP BY format, n, method;

CREATE VIEW bench.wide AS
SELECT format, n, min(ford) AS ford, min(nshifts) AS nshifts,
	   max(ns) FILTER (WHERE method = 'identify') AS identify,
	   max(ns) FILTER (WHERE method = 'orderby') AS orderby,
	   max(ns) FILTER (WHERE method = 'floor_a') AS floor_a,
	   max(ns) FILTER (WHERE method = 'floor_a_keycall') AS floor_a_keycall,
	   max(ns) FILTER (WHERE method = 'floor_a_heap') AS floor_a_heap,
	   max(ns) FILTER (WHERE method = 'floor_a_heap_pf') AS floor_a_heap_pf,
	   max(ns) FILTER (WHERE method = 'parse') AS parse,
	   max(ns) FILTER (WHERE method = 'decrypt') AS decrypt,
	   max(ns) FILTER (WHERE method = 'kernel_hot') AS kernel_hot,
	   max(ns) FILTER (WHERE method = 'kernel_stream') AS kernel_stream,
	   max(ns) FILTER (WHERE method = 'zero') AS zero,
	   max(ns) FILTER (WHERE method = 'floor_b_count') AS count_star,
	   max(ns) FILTER (WHERE method = 'floor_b_count_tpl') AS count_tpl,
	   max(ns) FILTER (WHERE method = 'floor_b_header') AS header
FROM bench.med GROUP BY format, n;

\pset footer off
\pset null '-'

\echo
\echo '== 1. identify() and ORDER BY ... LIMIT 10 against the floors (median ns per template, 1 core) =='
SELECT format, n AS "N",
	   round(identify::numeric, 0) AS "identify ns",
	   round((1e3 / identify)::numeric, 3) AS "identify Mtpl/s",
	   round(orderby::numeric, 0) AS "ORDER BY ns",
	   round((1e3 / orderby)::numeric, 3) AS "ORDER BY Mtpl/s",
	   round(floor_a::numeric, 0) AS "floor(a) ns",
	   round(count_star::numeric, 1) AS "count(*) ns",
	   round(count_tpl::numeric, 1) AS "count(tpl) ns",
	   round((identify / floor_a)::numeric, 2) AS "id/floor(a)",
	   round((identify / count_star)::numeric, 1) AS "id/count(*)",
	   round((identify / count_tpl)::numeric, 1) AS "id/count(tpl)",
	   round((orderby / identify)::numeric, 2) AS "ORDER BY/id"
FROM bench.wide ORDER BY ford, n;

\echo
\echo '== 2. Where the time goes (median ns per template) =='
\echo 'parse, decrypt, kernel, zero: the parts of floor(a); AES key/call: floor(a) with the key schedule expanded per template;'
\echo 'heap: floor(a) over envelopes laid out like heap pages; heap+pf: that with a software prefetch (what-ifs);'
\echo 'count(tpl), header: in-server scan floors; excess = measured - floor(a) - count(tpl)'
SELECT format, n AS "N",
	   round(parse::numeric, 0) AS parse,
	   round(decrypt::numeric, 0) AS decrypt,
	   round(kernel_hot::numeric, 0) AS kernel,
	   round(zero::numeric, 0) AS zero,
	   round(floor_a::numeric, 0) AS "floor(a)",
	   round(floor_a_keycall::numeric, 0) AS "AES key/call",
	   round(floor_a_heap::numeric, 0) AS heap,
	   round(floor_a_heap_pf::numeric, 0) AS "heap+pf",
	   round(count_tpl::numeric, 0) AS "count(tpl)",
	   round(header::numeric, 0) AS header,
	   round(identify::numeric, 0) AS identify,
	   round((identify - floor_a - count_tpl)::numeric, 0) AS "id excess",
	   round(orderby::numeric, 0) AS "ORDER BY",
	   round((orderby - floor_a - count_tpl)::numeric, 0) AS "ORDER BY excess"
FROM bench.wide ORDER BY ford, n;

\echo '== 3. Kernel only (floor.c, batch entry point, no decryption) =='
\echo 'hot: 64 cache-resident payloads reused (as identify reads its freshly decrypted batch); stream: all N payloads from memory'
SELECT format, n AS "N", nshifts AS shifts,
	   round(kernel_hot::numeric, 1) AS "ns/template",
	   round((kernel_hot / nshifts)::numeric, 1) AS "ns/compare",
	   round((1e3 * nshifts / kernel_hot)::numeric, 1) AS "M compares/s hot",
	   round((1e3 * nshifts / kernel_stream)::numeric, 1) AS "M compares/s stream"
FROM bench.wide ORDER BY ford, n;

\echo
\echo '== 4. Targets =='
CREATE TEMP VIEW targets AS
WITH w AS (SELECT * FROM bench.wide),
	 base AS (SELECT m.format, m.method, m.ns FROM bench.med m
			  WHERE m.n = (SELECT min(n) FROM bench.raw)),
	 t AS (
	SELECT 1 AS ord, 'kernel 512-d f32 cosine' AS target, format, n,
		   1e3 / kernel_hot AS measured, '>= 15 M/s' AS goal, 1e3 / kernel_hot >= 15 AS ok
	FROM w WHERE format = 'f32'
	UNION ALL
	SELECT 2, 'kernel 512-d f16 cosine (no target)', format, n, 1e3 / kernel_hot, 'info', NULL
	FROM w WHERE format = 'f16'
	UNION ALL
	SELECT 3, 'kernel 512-d i8 cosine', format, n, 1e3 / kernel_hot, '>= 40 M/s', 1e3 / kernel_hot >= 40
	FROM w WHERE format = 'i8'
	UNION ALL
	SELECT 4, 'kernel 2048-bit masked Hamming per shift (1 shift)', format, n,
		   1e3 / kernel_hot, '>= 60 M/s', 1e3 / kernel_hot >= 60
	FROM w WHERE format = 'iris_s0'
	UNION ALL
	SELECT 5, 'kernel 2048-bit masked Hamming per shift (17 shifts)', format, n,
		   1e3 * 17 / kernel_hot, '>= 60 M/s', 1e3 * 17 / kernel_hot >= 60
	FROM w WHERE format = 'iris_s8'
	UNION ALL
	SELECT 6, 'identify f16 / floor(a)', format, n, identify / floor_a, '<= 1.3x',
		   identify / floor_a <= 1.3
	FROM w WHERE format = 'f16'
	UNION ALL
	SELECT 7, 'identify f16', format, n, 1e3 / identify, '>= 1.0 M/s', 1e3 / identify >= 1.0
	FROM w WHERE format = 'f16'
	UNION ALL
	SELECT 8, 'identify f32', format, n, 1e3 / identify, '>= 0.6 M/s', 1e3 / identify >= 0.6
	FROM w WHERE format = 'f32'
	UNION ALL
	SELECT 9, 'identify i8', format, n, 1e3 / identify, '>= 1.5 M/s', 1e3 / identify >= 1.5
	FROM w WHERE format = 'i8'
	UNION ALL
	SELECT 10, 'identify iris no shift', format, n, 1e3 / identify, '>= 1.5 M/s', 1e3 / identify >= 1.5
	FROM w WHERE format = 'iris_s0'
	UNION ALL
	SELECT 11, 'linearity ' || m.method || ' (ns/tpl vs N=' || (SELECT min(n) FROM bench.raw) || ')',
		   m.format, m.n, m.ns / b.ns, '0.8-1.2x', m.ns / b.ns BETWEEN 0.8 AND 1.2
	FROM bench.med m JOIN base b USING (format, method)
	WHERE m.method IN ('identify', 'orderby') AND m.n > (SELECT min(n) FROM bench.raw)
)
SELECT target, format, n AS "N", round(measured::numeric, 2) AS measured, goal,
	   CASE WHEN ok IS NULL THEN '' WHEN ok THEN 'PASS' ELSE 'MISS' END AS result
FROM t ORDER BY ord, target, array_position(ARRAY['f32', 'f16', 'i8', 'iris_s0', 'iris_s8'], format), n;
SELECT * FROM targets;
SELECT count(*) FILTER (WHERE result = 'PASS') AS "PASS",
	   count(*) FILTER (WHERE result = 'MISS') AS "MISS"
FROM targets;

\echo
\echo '== 5. Enrolment (wall time of each step, including commit) =='
SELECT step, format, n AS "N", rows, round(seconds::numeric, 2) AS seconds,
	   round((rows / nullif(seconds, 0))::numeric, 0) AS "rows/s"
FROM bench.enrol ORDER BY n, step, format;

\echo
\echo '== 6. Sanity: top-1 for the probe (row 1 of the data) must be subject-00000001 =='
SELECT format, n AS "N", method, top1, round(distance::numeric, 6) AS distance,
	   CASE WHEN top1 = 'subject-00000001' THEN 'ok' ELSE 'WRONG' END AS check
FROM bench.sanity
ORDER BY array_position(ARRAY['f32', 'f16', 'i8', 'iris_s0', 'iris_s8'], format), n, method;

\echo
\echo '== 7. Spread of the repetitions (min and max as % of the median) =='
SELECT format, n AS "N", method, reps,
	   round(ms::numeric, 3) AS "median ms",
	   round((100 * min_ms / ms)::numeric, 0) AS "min %",
	   round((100 * max_ms / ms)::numeric, 0) AS "max %"
FROM bench.med
WHERE method IN ('identify', 'orderby', 'floor_a', 'floor_b_count', 'floor_b_count_tpl')
ORDER BY ford, n, method;
