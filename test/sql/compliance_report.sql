-- biocrypt.compliance_report(): the HTML page an auditor hands over.  A
-- small history (enrolment, a policy, searches, a verify, denials, two
-- reviewers, a reveal, an export, holds, an erasure, a purge; a login role,
-- an application name, a subject and a hold reason that hold HTML) is
-- reported on, and the page's tables are read back with regular
-- expressions and compared with the same questions asked directly.  Other
-- tests' rows lie outside the period, or are compared, not printed.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql

CREATE ROLE regress_rep_gate LOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_rep_clerk LOGIN IN ROLE biocrypt_matcher;
CREATE ROLE "regress_rep_<script>&""'" LOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_rep_ann LOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_rep_bob LOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_rep_dpo LOGIN IN ROLE biocrypt_admin;
CREATE ROLE regress_rep_plain LOGIN;
CREATE TABLE rep_watch (id int PRIMARY KEY, face protected_template);
GRANT SELECT ON rep_watch TO regress_rep_gate, regress_rep_clerk, "regress_rep_<script>&""'",
	regress_rep_dpo;
SELECT pg_temp.settle();
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT clock_timestamp() AS t0 \gset

-- the history
SELECT biocrypt.protect_column('rep_watch', 'face', interval '2 years', '{border_control}');
INSERT INTO rep_watch SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'rep-000' || i)
	FROM generate_series(1, 5) i;
INSERT INTO rep_watch VALUES (6, biocrypt.protect('{6,1,2}'::real[], '<u>rep&"''6</u>'));
SELECT biocrypt.grant_purpose('regress_rep_gate', 'border_control');
SELECT biocrypt.grant_purpose('"regress_rep_<script>&""''"', 'border_control');
SET SESSION AUTHORIZATION regress_rep_gate;
SET biocrypt.purpose = 'border_control';
SELECT subject FROM biocrypt.identify('rep_watch', 'face', '{3,1,2}'::real[], 3);
SELECT biocrypt.verify(face, '{3,1,2}'::real[], 0.001) FROM rep_watch WHERE id = 3;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "regress_rep_<script>&""'";
SET application_name = '<script>alert(1)</script>&"''';
SET biocrypt.purpose = 'border_control';
SELECT subject FROM biocrypt.identify('rep_watch', 'face', '{5.9,1,2}'::real[], 2, 0.5);
SET biocrypt.purpose = 'surveillance';
SELECT pg_temp.err($$SELECT count(*) FROM rep_watch WHERE face <=> '{3,1,2}'::real[] < 0.1$$) AS refused;
RESET application_name;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rep_clerk;
SET biocrypt.purpose = 'border_control';
SELECT pg_temp.err($$SELECT id FROM rep_watch WHERE biocrypt.verify(face, '{3,1,2}'::real[], 0.001)$$) AS refused;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.settle();
SELECT min(id) AS search FROM biocrypt.audit_log
WHERE id > :start AND operation = 'identify' AND outcome = 'ok' \gset
SET SESSION AUTHORIZATION regress_rep_ann;
SELECT biocrypt.confirm_match(:search, 'rep-0003');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rep_bob;
SELECT biocrypt.confirm_match(:search, 'rep-0003');
SELECT biocrypt.confirm_match(:search, 'rep-0004', 'reject');
RESET SESSION AUTHORIZATION;
-- two templates that expire at once, for the purge and the hold
INSERT INTO rep_watch VALUES
	(7, biocrypt.protect('{7,1,2}'::real[], 'rep-0007', retain_until => now() + interval '1 second')),
	(8, biocrypt.protect('{8,1,2}'::real[], 'rep-0008', retain_until => now() + interval '1 second'));
SET biocrypt.allow_reveal = on;
SET SESSION AUTHORIZATION regress_rep_dpo;
SELECT cardinality(biocrypt.reveal(face)) AS dims FROM rep_watch WHERE id = 3;
\copy rep_watch TO '/dev/null'
SELECT biocrypt.hold('rep-0004', 'case <17> & "appeal"');
SELECT biocrypt.hold('rep-0008', 'case 18');
SELECT biocrypt.erase_subject('rep-0002');
SELECT pg_sleep(1.1);
SELECT biocrypt.purge_expired() >= 1 AS purged;
RESET SESSION AUTHORIZATION;
RESET biocrypt.allow_reveal;
SELECT pg_temp.settle();
SELECT clock_timestamp() AS t1 \gset

-- the report of the period, as an auditor would produce it
SET SESSION AUTHORIZATION regress_rep_ann;
CREATE TEMP TABLE rep AS
	SELECT biocrypt.compliance_report(:'t0', :'t1') AS html, clock_timestamp() AS made_at;
RESET SESSION AUTHORIZATION;
-- it wrote nothing to the audit log
SELECT pg_temp.settle();
SELECT count(*) AS rows_by_the_report FROM biocrypt.audit_log
WHERE started_at >= :'t1' AND session_role = 'regress_rep_ann';

-- the rows of one of the page's tables, each as its cells' text (escaped,
-- as on the page: a cell never holds a '<')
CREATE FUNCTION pg_temp.cells(id text) RETURNS TABLE (n bigint, c text[]) LANGUAGE sql AS $$
	SELECT r.n, ARRAY(SELECT m.v[1] FROM regexp_matches(r.tr[1], '<td[^>]*>([^<]*)</td>', 'g')
					  WITH ORDINALITY AS m(v, i) ORDER BY m.i)
	FROM rep, regexp_matches(substring(rep.html FROM '<table id="' || id || '">.*?</table>'),
							 '<tr>(.*?)</tr>', 'g') WITH ORDINALITY AS r(tr, n)
	WHERE r.tr[1] LIKE '<td%'
$$;
-- a table's headings
CREATE FUNCTION pg_temp.headings(id text) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(m.v[1], ' | ' ORDER BY m.i)
	FROM rep, regexp_matches(substring(rep.html FROM '<table id="' || id || '">.*?</thead>'),
							 '<th>([^<]*)</th>', 'g') WITH ORDINALITY AS m(v, i)
$$;
CREATE FUNCTION pg_temp.e(t anyelement) RETURNS text LANGUAGE sql AS
	$$ SELECT coalesce(biocrypt.html_escape(t::text), '') $$;
-- the audit rows of the period
CREATE TEMP VIEW period AS
	SELECT * FROM biocrypt.audit_log WHERE started_at >= :'t0' AND started_at < :'t1';

-- one page, nothing to load: no script, no link, no external resource
SELECT html LIKE '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">%' AS html5,
	html LIKE '%</footer></body></html>' AS whole,
	html !~* '<script|<link|<img|<iframe|<object|src\s*=|href\s*=|url\(|@import|https?:' AS self_contained,
	(SELECT count(*) FROM regexp_matches(html, '<svg ', 'g')) AS charts
FROM rep;

-- every value escaped: the role, the application and the subject holding
-- markup appear only escaped
SELECT position('<script' IN html) AS raw_script, position('<u>' IN html) AS raw_subject,
	position('"appeal"' IN html) AS raw_reason,
	(SELECT count(*) FROM regexp_matches(html, 'regress_rep_&lt;script&gt;&amp;&quot;&#39;', 'g')) > 0 AS role_escaped,
	position('&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;' IN html) > 0 AS application_escaped,
	position('&lt;u&gt;rep&amp;&quot;&#39;6&lt;/u&gt;' IN html) > 0 AS subject_escaped,
	position('case &lt;17&gt; &amp; &quot;appeal&quot;' IN html) > 0 AS reason_escaped
FROM rep;
SELECT biocrypt.html_escape('<a href="x">Tom & Jerry''s</a>') AS escaped;

-- no ciphertext, probe hash or key: neither a template's text nor the
-- probe_hmac of any row of the period is on the page
SELECT count(*) AS templates_on_page FROM rep_watch, rep WHERE position(left(face::text, 40) IN rep.html) > 0;
SELECT count(*) AS probe_hashes_on_page FROM biocrypt.audit_log a, rep
WHERE a.id > :start AND a.probe_hmac IS NOT NULL AND position(encode(a.probe_hmac, 'hex') IN rep.html) > 0;

-- the summary: the chain's verdict and the head, as the functions give them
SELECT (html ~ '<div class="status ok" id="chain-status">Audit chain OK') = v.ok AS status_agrees,
	substring(html FROM 'verify_audit\(\): (\d+) rows checked')::bigint = v.rows_checked AS rows_checked_agree,
	substring(html FROM 'id <b>(\d+)</b> &#183; row_hash')::bigint = h.id AS head_id_agrees,
	position(encode(h.row_hash, 'hex') IN html) > 0 AS head_hash_shown
FROM rep, biocrypt.verify_audit() v, biocrypt.audit_head() h;
-- the period's figures, each as asked directly (the purge may have removed
-- other tests' expired templates too: that figure is compared, not shown)
SELECT f.id, CASE WHEN f.id <> 'purged' THEN f.on_page END AS on_page, f.on_page = d.v AS agrees
FROM (SELECT x.id, substring(rep.html FROM '<div class="figure[^"]*" id="fig-' || x.id || '"><b>(\d+)</b>')::bigint
	  FROM rep, unnest(ARRAY['accesses', 'searches', 'pending', 'denials', 'reveals', 'exports', 'purged',
							 'erased']) x(id)) f(id, on_page)
JOIN (SELECT 'accesses', count(*) FILTER (WHERE outcome <> 'begun') FROM period
	  UNION ALL SELECT 'searches', count(*) FILTER (WHERE operation = 'identify' AND outcome <> 'begun') FROM period
	  UNION ALL SELECT 'pending', (SELECT count(*) FROM biocrypt.match_reviews
								   WHERE searched_at >= :'t0' AND searched_at < :'t1' AND state = 'candidate')
	  UNION ALL SELECT 'denials', count(*) FILTER (WHERE outcome = 'denied') FROM period
	  UNION ALL SELECT 'reveals', count(*) FILTER (WHERE operation = 'reveal' AND outcome <> 'begun') FROM period
	  UNION ALL SELECT 'exports', count(*) FILTER (WHERE operation = 'export' AND outcome <> 'begun') FROM period
	  UNION ALL SELECT 'purged', sum(templates_compared) FILTER (WHERE operation = 'purge' AND outcome = 'ok') FROM period
	  UNION ALL SELECT 'erased', count(*) FILTER (WHERE operation = 'erase' AND outcome = 'ok') FROM period
	 ) d(id, v) USING (id)
ORDER BY f.id;

-- accesses by purpose and role: the table is the guide's "activity per
-- role and purpose" query for the period, bucket by bucket (an hour here)
SELECT pg_temp.headings('access-counts') AS headings;
CREATE TEMP TABLE direct_counts AS
SELECT ARRAY[to_char(date_trunc('hour', started_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:00'),
		pg_temp.e(session_role), pg_temp.e(effective_role), pg_temp.e(purpose), pg_temp.e(operation),
		count(*)::text, sum(templates_compared)::text,
		(count(*) FILTER (WHERE outcome NOT IN ('ok', 'begun')))::text] AS c
FROM biocrypt.audit_log
WHERE started_at >= :'t0' AND started_at < :'t1' AND outcome <> 'begun'
GROUP BY date_trunc('hour', started_at AT TIME ZONE 'UTC'), session_role, effective_role, purpose, operation;
SELECT (SELECT count(*) FROM pg_temp.cells('access-counts')) AS page_rows,
	(SELECT count(*) FROM direct_counts) AS direct_rows,
	(SELECT count(*) FROM (SELECT c FROM pg_temp.cells('access-counts')
						   EXCEPT SELECT c FROM direct_counts) x) AS only_on_page,
	(SELECT count(*) FROM (SELECT c FROM direct_counts
						   EXCEPT SELECT c FROM pg_temp.cells('access-counts')) x) AS only_direct;
-- this test's own roles, as the page shows them
SELECT c[2] AS login_role, c[4] AS purpose, c[5] AS operation, sum(c[6]::int) AS accesses,
	sum(c[7]::int) AS templates, sum(c[8]::int) AS failed
FROM pg_temp.cells('access-counts') WHERE c[2] LIKE 'regress_rep%' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- the charts count the same accesses: bars per purpose and per role, each
-- with its count
SELECT x.id, sum(m.v[1]::int) AS bars_total,
	(SELECT sum(c[6]::int) FROM pg_temp.cells('access-counts')) AS table_total,
	(SELECT count(*) FROM biocrypt.audit_log
	 WHERE started_at >= :'t0' AND started_at < :'t1' AND outcome <> 'begun') AS direct_total
FROM rep, (VALUES ('chart-purpose'), ('chart-role')) x(id),
	regexp_matches(substring(rep.html FROM '<svg id="' || x.id || '".*?</svg>'),
				   '<rect class="bar" data-n="(\d+)"', 'g') m(v)
GROUP BY x.id ORDER BY 1;
-- the purpose chart's legend and axes
SELECT array_agg(m.v[1] ORDER BY m.i) AS legend,
	substring(substring(rep.html FROM '<svg id="chart-purpose".*?</svg>')
			  FROM '<text class="axis-title" x="[0-9.]+" y="[0-9.]+" text-anchor="middle">([^<]*)</text>') AS x_axis,
	position('rotate(-90)" text-anchor="middle">accesses</text>'
			 IN substring(rep.html FROM '<svg id="chart-purpose".*?</svg>')) > 0 AS y_axis
FROM rep, regexp_matches(substring(rep.html FROM '<svg id="chart-purpose".*?</svg>'),
						 '<text class="legend"[^>]*>([^<]*)</text>', 'g') WITH ORDINALITY m(v, i)
GROUP BY rep.html;

-- every 1:N search with its candidates and their review state
SELECT pg_temp.headings('search-list') AS headings;
SELECT c[1]::bigint - :start AS event, c[3] AS login_role, c[4] AS application, c[5] AS purpose,
	c[6] AS gallery, c[7] AS search, c[8] AS compared, c[9] AS outcome, c[10] AS candidates
FROM pg_temp.cells('search-list') ORDER BY 1;
SELECT (SELECT count(*) FROM pg_temp.cells('search-list')) =
	(SELECT count(*) FROM biocrypt.audit_log WHERE operation = 'identify' AND outcome <> 'begun'
	 AND started_at >= :'t0' AND started_at < :'t1') AS every_search;

-- denials, with their SQLSTATE and role
SELECT c[1]::bigint - :start AS event, c[3] AS login_role, c[5] AS application,
	c[7] AS operation, c[8] AS relation, c[9] AS purpose, c[10] AS sqlstate
FROM pg_temp.cells('denial-list') ORDER BY 1;
SELECT (SELECT array_agg(c[1]::bigint ORDER BY c[1]::bigint) FROM pg_temp.cells('denial-list')) =
	(SELECT array_agg(id ORDER BY id) FROM biocrypt.audit_log WHERE outcome = 'denied'
	 AND started_at >= :'t0' AND started_at < :'t1') AS every_denial;

-- reveals and exports
SELECT c[1]::bigint - :start AS event, c[3] AS login_role, c[6] AS operation, c[7] AS relation,
	c[9] AS templates, c[10] AS subjects, c[11] AS outcome
FROM pg_temp.cells('reveal-export-list') ORDER BY 1;

-- retention: the schedule, templates due by column, the list of those due
-- in the period, overdue ones, purges and erasures, holds
SELECT c[1:6] AS schedule FROM pg_temp.cells('schedule') WHERE c[1] = 'public.rep_watch';
SELECT pg_temp.headings('due-by-column') AS headings;
SELECT c FROM pg_temp.cells('due-by-column') WHERE c[1] = 'public.rep_watch';
SELECT ARRAY['public.rep_watch', 'face', 'true', count(*)::text,
		(count(*) FILTER (WHERE expires_at < :'t0'))::text,
		(count(*) FILTER (WHERE expires_at >= :'t0' AND expires_at < :'t1'))::text,
		(count(*) FILTER (WHERE expires_at >= :'t1'))::text,
		(count(*) FILTER (WHERE expired))::text, (count(*) FILTER (WHERE held))::text] AS direct
FROM biocrypt.template_inventory WHERE relation = 'rep_watch'::regclass;
SELECT c[3] AS subject, c[6] AS purposes, c[8] AS held FROM pg_temp.cells('due-list')
WHERE c[1] = 'public.rep_watch' ORDER BY 1;
SELECT (SELECT array_agg(c[3] ORDER BY c[3]) FROM pg_temp.cells('overdue-list') WHERE c[1] = 'public.rep_watch') =
	(SELECT array_agg(pg_temp.e(subject) ORDER BY subject) FROM biocrypt.overdue
	 WHERE relation = 'rep_watch'::regclass) AS overdue_agrees;
SELECT c[1]::bigint - :start AS event, c[3] AS operation, c[4] AS login_role, c[6] AS tbl,
	c[8] AS removed, c[9] AS subjects, c[10] AS outcome, c[11] AS xact
FROM pg_temp.cells('removal-list') WHERE c[6] = 'public.rep_watch' ORDER BY 1;
SELECT (SELECT count(*) FROM pg_temp.cells('removal-list')) =
	(SELECT count(*) FROM biocrypt.audit_log WHERE operation IN ('purge', 'erase') AND outcome <> 'begun'
	 AND started_at >= :'t0' AND started_at < :'t1') AS every_removal;
SELECT substring(html FROM '(\d+) subject\(s\) of biocrypt.erasures')::int =
	(SELECT count(*) FROM biocrypt.erasures WHERE erased_at >= :'t0' AND erased_at < :'t1') AS erasures_agree
FROM rep;
SELECT (SELECT array_agg(c[1] || ' / ' || c[2] ORDER BY c[1]) FROM pg_temp.cells('hold-list')) =
	(SELECT array_agg(pg_temp.e(subject) || ' / ' || pg_temp.e(reason) ORDER BY subject)
	 FROM biocrypt.holds) AS holds_agree;
SELECT c[1]::bigint - :start AS event, c[3] AS login_role, c[4] AS action, c[5] AS subject,
	c[6] AS reason, c[7] AS outcome
FROM pg_temp.cells('hold-events') ORDER BY 1;

-- the chart's bucket follows the period's length, so that the bars stay
-- few however long it is (both charts have one bar place per bucket)
CREATE TEMP TABLE periods AS
SELECT p.o, p.name, biocrypt.compliance_report(p.f, p.t) AS html
FROM (VALUES (1, '1 day', '2020-03-01 00:30+00'::timestamptz, '2020-03-02 00:30+00'::timestamptz),
			 (2, '30 days', '2020-03-01 12:00+00', '2020-03-31 12:00+00'),
			 (3, '2 years', '2018-01-03 00:00+00', '2020-01-03 00:00+00'),
			 (4, '5 years', '2015-01-15 00:00+00', '2020-01-15 00:00+00'),
			 (5, '200 years', '1900-01-01 00:00+00', '2100-01-01 00:00+00'),
			 (6, '10000 years', '0001-01-01 00:00+00', '9999-12-31 00:00+00'),
			 (7, 'the whole type', '4713-01-01 00:00+00 BC', '294276-12-31 00:00+00')) p(o, name, f, t);
SELECT name, substring(html FROM 'text-anchor="middle">([a-z]+) \(UTC') AS bucket,
	(SELECT array_agg(m.v[1]::int) FROM regexp_matches(html, '<svg id="chart-[a-z]+" class="chart" data-buckets="(\d+)"', 'g') m(v)) AS buckets,
	(SELECT count(*) FROM regexp_matches(html, '<text class="label"', 'g')) / 2 <= 12 AS few_labels
FROM periods ORDER BY o;

-- max_rows bounds each list, and says so
SELECT (SELECT count(*) FROM regexp_matches(html, '<tr><td', 'g')) AS rows,
	substring(html FROM '<table id="access-counts">.*?</table><p class="more">([^<]*)</p>') AS note
FROM (SELECT biocrypt.compliance_report(:'t0', :'t1', 1) AS html) r \gset
SELECT :rows <= 12 AS bounded, :'note' ~ '^The first 1 of \d+ rows \(max_rows\); ' AS note;
-- an empty period is a report with nothing in it
SELECT html ~ '<p class="none" id="access-counts">No accesses in the period.</p>' AS no_accesses,
	html ~ 'no accesses in the period</text>' AS empty_chart,
	html ~ '<p class="none" id="search-list">No 1:N search in the period.</p>' AS no_searches
FROM (SELECT biocrypt.compliance_report(:'t0', :'t0') AS html) r;

-- bad input
SELECT pg_temp.err($$SELECT biocrypt.compliance_report(NULL, now())$$) AS null_from;
SELECT pg_temp.err($$SELECT biocrypt.compliance_report(now(), NULL)$$) AS null_to;
SELECT pg_temp.err($$SELECT biocrypt.compliance_report(now(), now(), NULL)$$) AS null_max_rows;
SELECT pg_temp.err($$SELECT biocrypt.compliance_report(now(), now() - interval '1 second')$$) AS reversed;
SELECT pg_temp.err($$SELECT biocrypt.compliance_report('-infinity', now())$$) AS infinite;
SELECT pg_temp.err($$SELECT biocrypt.compliance_report(now() - interval '1 day', now(), 0)$$) AS no_rows;

-- who may call it: auditors and administrators; a matcher or a plain role
-- is refused by PostgreSQL before the function runs
SELECT p.prosecdef AS security_definer FROM pg_proc p
WHERE p.oid = 'biocrypt.compliance_report(timestamptz, timestamptz, integer)'::regprocedure;
SET SESSION AUTHORIZATION regress_rep_dpo;
SELECT length(biocrypt.compliance_report(:'t0', :'t1')) > 1000 AS admin_may;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rep_gate;
SELECT pg_temp.err($$SELECT biocrypt.compliance_report(now() - interval '1 day', now())$$) AS matcher;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_rep_plain;
SELECT pg_temp.err($$SELECT biocrypt.compliance_report(now() - interval '1 day', now())$$) AS plain;
RESET SESSION AUTHORIZATION;

SELECT biocrypt.release_hold('rep-0004'), biocrypt.release_hold('rep-0008');
DROP VIEW period;
DROP TABLE rep, rep_watch;
SELECT biocrypt.revoke_purpose('regress_rep_gate', 'border_control');
SELECT biocrypt.revoke_purpose('"regress_rep_<script>&""''"', 'border_control');
DROP ROLE regress_rep_gate, regress_rep_clerk, "regress_rep_<script>&""'", regress_rep_ann,
	regress_rep_bob, regress_rep_dpo, regress_rep_plain;
