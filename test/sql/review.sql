-- Two-person review: identify() returns candidates; biocrypt.confirm_match
-- records each login role's decision, and biocrypt.match_reviews shows a
-- candidate as confirmed once biocrypt.required_confirmations distinct login
-- roles confirmed it (rejected as soon as one rejects).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET biocrypt.purpose = 'verification';

-- confirm_match's answer, or its error as "SQLSTATE: message" (event ids,
-- which depend on earlier tests, shown as N)
CREATE FUNCTION pg_temp.try_confirm(ev bigint, subj text, decision text DEFAULT 'confirm')
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN biocrypt.confirm_match(ev, subj, decision);
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '(event|identification) [0-9]+', '\1 N');
END $$;

CREATE TABLE rev_g (id int, tpl protected_template);
INSERT INTO rev_g SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'subj-' || i)
	FROM generate_series(1, 5) i;
CREATE ROLE regress_rev_ann LOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_rev_bob LOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_rev_matcher LOGIN IN ROLE biocrypt_matcher;

SELECT * FROM biocrypt.identify('rev_g', 'tpl', '{3,1,2}'::real[], 2);
SELECT max(id) AS ev FROM biocrypt.audit_log WHERE operation = 'identify' \gset
SELECT max(id) AS other FROM biocrypt.audit_log WHERE operation = 'protect' \gset

-- a new identification: every candidate awaits review
SELECT rank, subject, round(distance::numeric, 6) AS distance, confirmations, state
FROM biocrypt.match_reviews WHERE event_id = :ev ORDER BY rank;

-- first reviewer: still a candidate; she cannot count twice
SET SESSION AUTHORIZATION regress_rev_ann;
SELECT biocrypt.confirm_match(:ev, 'subj-3') AS after_ann;
SELECT pg_temp.try_confirm(:ev, 'subj-3') AS ann_again;
-- a role switch does not make another reviewer: the login role counts
SET ROLE biocrypt_auditor;
SELECT pg_temp.try_confirm(:ev, 'subj-3') AS ann_as_group;
RESET ROLE;
RESET SESSION AUTHORIZATION;

-- second login role: confirmed
SET SESSION AUTHORIZATION regress_rev_bob;
SELECT biocrypt.confirm_match(:ev, 'subj-3') AS after_bob;
-- one rejection is enough to reject
SELECT biocrypt.confirm_match(:ev, 'subj-4', 'reject') AS subj4;
RESET SESSION AUTHORIZATION;

SELECT rank, subject, confirmations, rejections, reviewers, state
FROM biocrypt.match_reviews WHERE event_id = :ev ORDER BY rank;

-- a stricter rule applies to every review
SET biocrypt.required_confirmations = 3;
SELECT subject, state FROM biocrypt.match_reviews WHERE event_id = :ev ORDER BY rank;
RESET biocrypt.required_confirmations;

-- bad input
SELECT pg_temp.try_confirm(:ev, 'subj-5') AS not_a_candidate;
SELECT pg_temp.try_confirm(:other, 'subj-3') AS not_an_identify;
SELECT pg_temp.try_confirm(-1, 'subj-3') AS no_event;
SELECT pg_temp.try_confirm(:ev, 'subj-5', 'maybe') AS bad_decision;
SELECT pg_temp.try_confirm(:ev, 'subj-5', NULL) AS null_decision;

-- only auditors review; matchers neither review nor read reviews
SET SESSION AUTHORIZATION regress_rev_matcher;
SELECT pg_temp.try_confirm(:ev, 'subj-3') AS matcher_confirms;
SELECT pg_temp.err($$SELECT count(*) FROM biocrypt.match_reviews$$) AS matcher_reads;
RESET SESSION AUTHORIZATION;

-- every decision is a review row of the audit log, committed before
-- confirm_match returned: who decided what on which candidate, and when;
-- refused attempts are there too
SELECT session_role, operation, relation, column_name AS col, outcome, sqlstate,
	(SELECT jsonb_agg(m - 'event_id') FROM jsonb_array_elements(matches) m) AS decision,
	(SELECT bool_and((m->>'event_id')::bigint = :ev) FROM jsonb_array_elements(matches) m) AS this_search
FROM biocrypt.audit_log WHERE operation = 'review' AND id > :ev ORDER BY id;
-- match_reviews shows each decision with its time and its audit row, and
-- when a candidate became confirmed
SELECT subject, state, confirmed_at IS NOT NULL AS has_confirmed_at,
	jsonb_path_query_array(decisions, '$[*].reviewer') AS reviewers,
	(SELECT bool_and(EXISTS (SELECT FROM biocrypt.audit_log a
							 WHERE a.id = (d->>'audit_id')::bigint AND a.operation = 'review'
								 AND a.session_role = d->>'reviewer'
								 AND a.matches @> jsonb_build_array(jsonb_build_object('subject', r.subject,
									'decision', d->>'decision'))))
	 FROM jsonb_array_elements(decisions) d) AS each_in_the_chain,
	confirmed_at = (SELECT max((d->>'decided_at')::timestamptz) FROM jsonb_array_elements(decisions) d) AS confirmed_by_second
FROM biocrypt.match_reviews r WHERE event_id = :ev ORDER BY rank;

DROP TABLE rev_g;
DROP ROLE regress_rev_ann, regress_rev_bob, regress_rev_matcher;
