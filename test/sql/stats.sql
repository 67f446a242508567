-- biocrypt.stats: exact counts of known accesses per database and role,
-- who may read and reset them; biocrypt.audit_queue.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
SET biocrypt.purpose = 'verification';

CREATE ROLE regress_stats_matcher NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_stats_auditor NOLOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_stats_admin NOLOGIN IN ROLE biocrypt_admin;
SELECT biocrypt.grant_purpose('regress_stats_matcher', 'verification') AS granted;

-- a gallery of five templates, one of which expires in a second
CREATE TABLE stats_g (id int PRIMARY KEY, tpl protected_template);
INSERT INTO stats_g SELECT i, biocrypt.protect(ARRAY[3, i]::real[], 'st-' || i)
FROM generate_series(1, 4) i;
INSERT INTO stats_g VALUES
	(5, biocrypt.protect('{3,5}', 'st-5', clock_timestamp() + interval '1 second'));
GRANT SELECT ON stats_g TO regress_stats_matcher, regress_stats_admin;
SELECT pg_sleep(1.2);

-- what the matcher's row says (every count, and whether waits were timed)
CREATE FUNCTION pg_temp.stats_of(r name)
	RETURNS TABLE (comparisons bigint, verifies bigint, identifies bigint,
		compared bigint, expired bigint, purpose_sk bigint, shape_sk bigint,
		denials bigint, errors bigint, reveals bigint, exports bigint, waits bigint,
		timed boolean)
	LANGUAGE sql AS $$
	SELECT comparisons, verifies, identifies, templates_compared, expired_skipped,
		purpose_skipped, shape_skipped, denials, errors, reveals, exports, audit_waits,
		audit_wait_total_ms >= 0 AND audit_wait_max_ms >= 0
			AND audit_wait_max_ms <= audit_wait_total_ms
	FROM biocrypt.stats WHERE role = r AND database = pg_catalog.current_database()
$$;

-- a role with no access has no row yet
SELECT count(*) AS rows_before FROM biocrypt.stats WHERE role = 'regress_stats_matcher';

SET ROLE regress_stats_matcher;
-- three verifies, one template each
SELECT biocrypt.verify(tpl, '{3,1}', 0.01) AS verify_1 FROM stats_g WHERE id = 1;
SELECT biocrypt.verify(tpl, '{3,1}', 0.01) AS verify_2 FROM stats_g WHERE id = 2;
SELECT biocrypt.verify(tpl, '{3,1}', 0.01) AS verify_3 FROM stats_g WHERE id = 3;
-- one identify over five templates, one of them expired
SELECT subject FROM biocrypt.identify('stats_g', 'tpl', '{3,1}'::real[], 1, NULL, 'l2');
-- one comparison statement over two templates
SELECT count(tpl <-> '{3,1}'::real[]) AS compared FROM stats_g WHERE id IN (1, 2);
-- one denial: a purpose the templates were not enrolled for
SET biocrypt.purpose = 'marketing';
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,1}', 0.01) FROM stats_g WHERE id = 1$$) AS denied;
SET biocrypt.purpose = 'verification';
-- one verify that fails after its template was compared: counted, and
-- counted as an error
SELECT pg_temp.err($$SELECT biocrypt.verify(tpl, '{3,1}', 0.01) AND 1 / (id - 1) = 1 FROM stats_g WHERE id = 1$$) AS failed;
-- the matcher reads none of it
SELECT pg_temp.err($$SELECT * FROM biocrypt.stats$$) AS matcher_stats;
SELECT pg_temp.err($$SELECT * FROM biocrypt.audit_queue$$) AS matcher_queue;
SELECT pg_temp.err($$SELECT biocrypt.stats_reset()$$) AS matcher_reset;
RESET ROLE;

-- one reveal, by an administrator while reveals are allowed
SET biocrypt.allow_reveal = on;
SET ROLE regress_stats_admin;
SELECT biocrypt.reveal(tpl) AS revealed FROM stats_g WHERE id = 4;
RESET ROLE;
RESET biocrypt.allow_reveal;

-- an auditor reads the counts: 4 verifies (1 failed), 1 identify, 1
-- comparison; 4 + 4 + 2 templates compared, 1 expired skipped; 1 denial;
-- waits: the begun row of each verify and of the comparison, the
-- identify's begun row and completion, the denial (a reveal: its begun
-- row and completion)
SET ROLE regress_stats_auditor;
SELECT * FROM pg_temp.stats_of('regress_stats_matcher');
SELECT * FROM pg_temp.stats_of('regress_stats_admin');
SELECT pg_temp.err($$SELECT biocrypt.stats_reset()$$) AS auditor_reset;
-- the queue: this database's row, the shared queue's size
SELECT worker_state, worker_pid IS NOT NULL AS has_pid, depth >= 0 AS depth_ok,
	depth_max >= 1 AS used, queue_depth_max >= depth_max AS shared_max_ok, queue_slots
FROM biocrypt.audit_queue WHERE database = current_database();
SELECT stats_reset <= now() AS reset_in_past
FROM biocrypt.stats WHERE role = 'regress_stats_matcher';
RESET ROLE;

-- reset, by an administrator: every row goes, stats_reset moves
CREATE TEMP TABLE before_reset AS SELECT clock_timestamp() AS at;
SET ROLE regress_stats_admin;
SELECT biocrypt.stats_reset();
SELECT count(*) AS matcher_rows_after_reset FROM biocrypt.stats
WHERE role IN ('regress_stats_matcher', 'regress_stats_admin');
RESET ROLE;
SET ROLE regress_stats_matcher;
SELECT biocrypt.verify(tpl, '{3,1}', 0.01) AS verify_after_reset FROM stats_g WHERE id = 1;
RESET ROLE;
SELECT * FROM pg_temp.stats_of('regress_stats_matcher');
SELECT s.stats_reset > b.at AS reset_moved
FROM biocrypt.stats s, before_reset b WHERE s.role = 'regress_stats_matcher';

-- the size of the table is fixed at start
SHOW biocrypt.stats_max;
SELECT pg_temp.err($$SET biocrypt.stats_max = 10$$) AS set_stats_max;

DROP TABLE stats_g;
SELECT biocrypt.revoke_purpose('regress_stats_matcher', 'verification') AS revoked;
DROP ROLE regress_stats_matcher, regress_stats_auditor, regress_stats_admin;
