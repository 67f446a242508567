-- test/bench/retention_report.sql: medians and ratios for test/bench/retention.sh,
-- from rbench.raw (method, rep, ms, n).  psql variable: n (templates per run).

CREATE VIEW rbench.med AS
SELECT method,
	   percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms,
	   min(ms) AS min_ms, max(ms) AS max_ms, count(*) AS reps
FROM rbench.raw GROUP BY method;

-- what each measured figure is compared with
CREATE TABLE rbench.line (ord int, part text, method text, label text,
						  exec_floor text, second_floor text);
INSERT INTO rbench.line VALUES
	(1, 'a', 'purge_delete', 'purge_expired(), on_expiry ''delete''', 'floor_delete_id', 'floor_delete_hdr'),
	(2, 'a', 'floor_delete_id', '  executor floor: DELETE FROM f WHERE id <= N', NULL, NULL),
	(3, 'a', 'floor_delete_hdr', '  header-parse floor: DELETE ... WHERE expires_at(tpl) <= now()', NULL, NULL),
	(4, 'a', 'purge_null', 'purge_expired(), on_expiry ''null''', 'floor_null_id', 'floor_null_hdr'),
	(5, 'a', 'floor_null_id', '  executor floor: UPDATE f SET tpl = NULL WHERE id <= N', NULL, NULL),
	(6, 'a', 'floor_null_hdr', '  header-parse floor: UPDATE ... WHERE expires_at(tpl) <= now()', NULL, NULL),
	(7, 'a', 'purge_null', 'purge_expired(), on_expiry ''null'', against the DELETE floors', 'floor_delete_id', 'floor_delete_hdr'),
	(11, 'b', 'reencrypt', 'reencrypt(r, ''tpl''), unregistered column', 'floor_update_same', 'c_reseal'),
	(12, 'b', 'reencrypt_policy', 'reencrypt(r, ''tpl''), registered column (policy trigger)', 'floor_update_same', 'c_reseal'),
	(13, 'b', 'floor_update_same', '  executor floor: UPDATE r SET tpl = tpl (same table shape)', NULL, NULL),
	(14, 'b', 'c_reseal', '  crypto floor: reseal_floor.c decrypt + encrypt, x N', NULL, NULL),
	(15, 'b', 'reencrypt_wide', 'reencrypt(w, ''tpl''), w has a 2nd template column', 'floor_update_tpl2', 'c_reseal'),
	(16, 'b', 'floor_update_tpl2', '  executor floor: UPDATE w SET tpl = tpl2 (same table w)', NULL, NULL),
	(21, 'c', 'c_decrypt', '  decrypt alone (AES key schedule cached, as the server)', NULL, NULL),
	(22, 'c', 'c_encrypt', '  fresh nonce + encrypt alone (key expanded per call, as the server)', NULL, NULL),
	(23, 'c', 'c_reseal_afternm', '  what-if: reseal with the encryption key schedule cached too', NULL, NULL);

CREATE VIEW rbench.rep AS
SELECT l.ord, l.part, l.label, m.reps, m.ms, m.min_ms, m.max_ms,
	   :n * 1000.0 / m.ms AS per_s,
	   m.ms / e.ms AS r_exec, m.ms / s.ms AS r_second, m.ms / (e.ms + s.ms) AS r_sum
FROM rbench.line l JOIN rbench.med m USING (method)
	 LEFT JOIN rbench.med e ON e.method = l.exec_floor
	 LEFT JOIN rbench.med s ON s.method = l.second_floor;

\pset footer off
\pset null ''

\echo
\echo '== (a) purge throughput: N expired templates removed by one call (median ms, wall time of the statement incl. commit) =='
SELECT label AS "what", reps AS runs,
	   round(ms::numeric, 1) AS "median ms",
	   round(min_ms::numeric, 0) || '-' || round(max_ms::numeric, 0) AS "min-max ms",
	   round(per_s::numeric, 0) AS "rows/s",
	   round(r_exec::numeric, 2) AS "x executor floor",
	   round(r_second::numeric, 2) AS "x header floor"
FROM rbench.rep WHERE part = 'a' ORDER BY ord;

\echo
\echo '== (b) reencrypt throughput: N live templates moved to the new key by one call (median ms) =='
\echo 'x sum = against executor floor + crypto floor (the two costs reencrypt cannot avoid, added)'
SELECT label AS "what", reps AS runs,
	   round(ms::numeric, 1) AS "median ms",
	   round(min_ms::numeric, 0) || '-' || round(max_ms::numeric, 0) AS "min-max ms",
	   round(per_s::numeric, 0) AS "templates/s",
	   round(r_exec::numeric, 2) AS "x executor floor",
	   round(r_second::numeric, 2) AS "x crypto floor",
	   round(r_sum::numeric, 2) AS "x sum"
FROM rbench.rep WHERE part = 'b' ORDER BY ord;

\echo
\echo '== (c) the crypto floor''s parts (reseal_floor.c, median ms for N templates) =='
SELECT label AS "what", reps AS runs,
	   round(ms::numeric, 1) AS "median ms",
	   round((ms * 1e6 / :n)::numeric, 0) AS "ns/template",
	   round(per_s::numeric, 0) AS "templates/s"
FROM rbench.rep WHERE part = 'c' OR label LIKE '%crypto floor%' ORDER BY ord;

\echo
\echo '== where the time goes, per template (median ns; measured minus its floors) =='
SELECT 'purge ''delete''' AS "what",
	   round((d.ms * 1e6 / :n)::numeric, 0) AS "measured ns",
	   round((fi.ms * 1e6 / :n)::numeric, 0) AS "executor floor ns",
	   round(((fh.ms - fi.ms) * 1e6 / :n)::numeric, 0) AS "header-parse cost ns",
	   round(((d.ms - fh.ms) * 1e6 / :n)::numeric, 0) AS "excess over header floor ns"
FROM rbench.med d, rbench.med fi, rbench.med fh
WHERE d.method = 'purge_delete' AND fi.method = 'floor_delete_id' AND fh.method = 'floor_delete_hdr'
UNION ALL
SELECT 'purge ''null''',
	   round((d.ms * 1e6 / :n)::numeric, 0),
	   round((fi.ms * 1e6 / :n)::numeric, 0),
	   round(((fh.ms - fi.ms) * 1e6 / :n)::numeric, 0),
	   round(((d.ms - fh.ms) * 1e6 / :n)::numeric, 0)
FROM rbench.med d, rbench.med fi, rbench.med fh
WHERE d.method = 'purge_null' AND fi.method = 'floor_null_id' AND fh.method = 'floor_null_hdr';

SELECT w.what AS "what",
	   round((d.ms * 1e6 / :n)::numeric, 0) AS "measured ns",
	   round((fe.ms * 1e6 / :n)::numeric, 0) AS "executor floor ns",
	   round((fc.ms * 1e6 / :n)::numeric, 0) AS "crypto floor ns",
	   round(((d.ms - fe.ms - fc.ms) * 1e6 / :n)::numeric, 0) AS "excess ns"
FROM (VALUES (1, 'reencrypt, unregistered', 'reencrypt', 'floor_update_same'),
			 (2, 'reencrypt, registered', 'reencrypt_policy', 'floor_update_same'),
			 (3, 'reencrypt, wide table', 'reencrypt_wide', 'floor_update_tpl2')) w(ord, what, m, f)
	 JOIN rbench.med d ON d.method = w.m
	 JOIN rbench.med fe ON fe.method = w.f
	 JOIN rbench.med fc ON fc.method = 'c_reseal'
ORDER BY w.ord;
