-- The auditor's questions of docs/compliance.md, each answered by the query
-- printed there: every query below between the marker comments "-- query"
-- and "-- end" is copied from the guide, word for word (test/doccheck.pl
-- checks that), and runs here on a small history with known answers.
-- Times, ids and hashes vary per run: each query's result is shown through
-- an outer SELECT of its stable columns, ids counted from :start.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';

-- the history: a watchlist with a retention policy, an officer who may
-- search it for border control, two reviewers, a data protection officer
CREATE ROLE regress_officer LOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_clerk LOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_ann LOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_bob LOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_dpo LOGIN IN ROLE biocrypt_admin;
CREATE TABLE watchlist (id int PRIMARY KEY, face protected_template);
GRANT SELECT ON watchlist TO regress_officer, regress_clerk, regress_dpo;
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT biocrypt.protect_column('watchlist', 'face', interval '2 years', '{border_control}');
INSERT INTO watchlist SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'subject-000' || i)
	FROM generate_series(1, 5) i;
-- one template enrolled to expire at once, for the overdue question
INSERT INTO watchlist VALUES
	(6, biocrypt.protect('{6,1,2}'::real[], 'subject-0006', retain_until => now() + interval '1 second'));
SELECT biocrypt.grant_purpose('regress_officer', 'border_control');

SET SESSION AUTHORIZATION regress_officer;
SET biocrypt.purpose = 'border_control';
SELECT subject FROM biocrypt.identify('watchlist', 'face', '{3,1,2}'::real[], 3);
SELECT biocrypt.verify(face, '{3,1,2}'::real[], 0.001) FROM watchlist WHERE id = 3;
SELECT id FROM watchlist ORDER BY face <=> '{3,1,2}'::real[] LIMIT 1;
RESET SESSION AUTHORIZATION;
-- a clerk without the grant is refused
SET SESSION AUTHORIZATION regress_clerk;
SET biocrypt.purpose = 'border_control';
SELECT id FROM watchlist WHERE biocrypt.verify(face, '{3,1,2}'::real[], 0.001);
RESET SESSION AUTHORIZATION;
SELECT pg_temp.settle();
SELECT max(id) AS search FROM biocrypt.audit_log WHERE operation = 'identify' AND outcome = 'ok' \gset

-- two reviewers confirm the first candidate, one rejects the second
SET SESSION AUTHORIZATION regress_ann;
SELECT biocrypt.confirm_match(:search, 'subject-0003');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_bob;
SELECT biocrypt.confirm_match(:search, 'subject-0003');
SELECT biocrypt.confirm_match(:search, 'subject-0004', 'reject');
RESET SESSION AUTHORIZATION;

-- the data protection officer reveals one template (allowed by a
-- superuser), exports the table, and handles an erasure request that a
-- legal hold first refuses
SET biocrypt.allow_reveal = on;
SET SESSION AUTHORIZATION regress_dpo;
SELECT cardinality(biocrypt.reveal(face)) AS dims FROM watchlist WHERE id = 3;
\copy watchlist TO '/dev/null'
SELECT biocrypt.hold('subject-0004', 'case 17');
SELECT biocrypt.erase_subject('subject-0004');
SELECT biocrypt.release_hold('subject-0004');
SELECT biocrypt.erase_subject('subject-0004');
-- and re-keys the watchlist
SELECT biocrypt.rotate_key() > 0 AS rotated;
SELECT biocrypt.reencrypt('watchlist', 'face') AS moved;
RESET SESSION AUTHORIZATION;
RESET biocrypt.allow_reveal;
SELECT pg_sleep(1.1);
SELECT pg_temp.settle();

-- The questions, as an auditor asks them
SET SESSION AUTHORIZATION regress_ann;

-- 1. Who accessed subject X's template, when, how, for what purpose?
SELECT id - :start AS id, session_role, operation, relation, purpose, outcome, distance, decision
FROM (
-- query 1a
SELECT a.id, a.started_at, a.session_role, a.effective_role, a.client_addr,
       a.operation, a.relation, a.purpose, a.outcome,
       m.item->>'distance' AS distance, m.item->>'decision' AS decision,
       a.xact_outcome
FROM biocrypt.audit_log a
CROSS JOIN LATERAL jsonb_array_elements(a.matches) AS m(item)
WHERE m.item->>'subject' = 'subject-0003'
ORDER BY a.id
-- end
) q WHERE id > :start ORDER BY 1;

SELECT id - :start AS id, session_role, operation, relation, templates_compared, outcome
FROM (
-- query 1b
SELECT a.id, a.started_at, a.session_role, a.effective_role, a.operation,
       a.relation, a.purpose, a.templates_compared, a.outcome
FROM biocrypt.audit_log a
WHERE a.operation IN ('compare', 'verify', 'identify', 'reveal', 'export')
  AND a.outcome <> 'begun'
  AND (a.matches IS NULL OR NOT a.matches @> '[{"subject": "subject-0003"}]')
  AND a.relation IN (SELECT t.relation FROM biocrypt.template_inventory t
                     WHERE t.subject = 'subject-0003')
ORDER BY a.id
-- end
) q WHERE id > :start ORDER BY 1;

-- 2. Every 1:N search, its gallery, candidates and reviewers
SELECT event_id - :start AS event_id, gallery, purpose, session_role, k, threshold,
	templates_compared, outcome, rank, subject, state, reviewers
FROM (
-- query 2
SELECT a.id AS event_id, a.started_at, a.relation AS gallery, a.purpose,
       a.session_role, a.k, a.threshold, a.metric, a.templates_compared,
       a.outcome, r.rank, r.subject, r.distance, r.state, r.reviewers
FROM biocrypt.audit_log a
LEFT JOIN biocrypt.match_reviews r ON r.chain_id = a.chain_id AND r.event_id = a.id
WHERE a.operation = 'identify' AND a.outcome NOT IN ('begun', 'incomplete')
  AND a.started_at >= now() - interval '30 days'
ORDER BY a.id, r.rank
-- end
) q WHERE event_id > :start ORDER BY 1, rank;

-- 3. Was each identification confirmed by two people before anyone acted?
SELECT event_id - :start AS event_id, subject, state, reviewer, decision,
	review_row - :start AS review_row, decided_at <= confirmed_at AS before_confirmed, xact_outcome
FROM (
-- query 3a
SELECT r.event_id, r.subject, r.state, r.confirmed_at,
       d->>'reviewer' AS reviewer, d->>'decision' AS decision,
       (d->>'decided_at')::timestamptz AS decided_at,
       a.id AS review_row, a.ended_at AS recorded_at, a.xact_outcome
FROM biocrypt.match_reviews r
CROSS JOIN LATERAL jsonb_array_elements(r.decisions) AS d
JOIN biocrypt.audit_log a ON a.chain_id = r.chain_id AND a.id = (d->>'audit_id')::bigint
WHERE r.state = 'confirmed'
ORDER BY r.event_id, r.rank, decided_at
-- end
) q WHERE event_id > :start ORDER BY 1, decided_at;

SELECT event_id - :start AS event_id, subject, confirmed_by, rejected_by
FROM (
-- query 3b
SELECT (m->>'event_id')::bigint AS event_id, m->>'subject' AS subject,
       array_agg(DISTINCT a.session_role) FILTER (WHERE m->>'decision' = 'confirm') AS confirmed_by,
       array_agg(DISTINCT a.session_role) FILTER (WHERE m->>'decision' = 'reject') AS rejected_by,
       max(a.ended_at) AS last_decision_at
FROM biocrypt.audit_log a
CROSS JOIN LATERAL jsonb_array_elements(a.matches) AS m
WHERE a.operation = 'review' AND a.outcome = 'ok'
  AND a.xact_outcome = 'committed'
GROUP BY 1, 2
ORDER BY 1, 2
-- end
) q WHERE event_id > :start ORDER BY 1, 2;

-- 4. For what purpose was each access made, and which were refused?
SELECT id - :start AS id, session_role, operation, relation, purpose, outcome, sqlstate, metric, k
FROM (
-- query 4
SELECT a.id, a.started_at, a.session_role, a.effective_role, a.operation,
       a.relation, a.purpose, a.outcome, a.sqlstate, a.metric, a.k
FROM biocrypt.audit_log a
WHERE a.operation IN ('compare', 'verify', 'identify', 'reveal', 'denied')
  AND a.outcome <> 'begun'
ORDER BY a.id
-- end
) q WHERE id > :start ORDER BY 1;

-- 5. Each template's retention clock, and what destroyed it
SELECT relation, column_name, subject,
	CASE WHEN expires_at = created_at + interval '2 years' THEN '2 years'
		 WHEN expires_at - created_at < interval '1 minute' THEN 'seconds' END AS retention,
	purposes, key_state, held, registered
FROM (
-- query 5a
SELECT relation, column_name, subject, created_at, expires_at, purposes,
       key_id, key_state, held, registered
FROM biocrypt.template_inventory
ORDER BY expires_at
-- end
) q WHERE relation = 'watchlist'::regclass ORDER BY subject;

SELECT id - :start AS id, operation, relation, removed,
	expires_at BETWEEN started_at + interval '2 years' AND started_at + interval '2 years 1 minute' AS two_years,
	key_id::int > 0 AS has_key, outcome, xact_outcome
FROM (
-- query 5b
SELECT a.id, a.started_at, a.session_role, a.operation, a.relation,
       m.item->>'templates' AS removed,
       (m.item->>'expires_at')::timestamptz AS expires_at,
       m.item->>'key_id' AS key_id, a.outcome, a.xact_outcome
FROM biocrypt.audit_log a
CROSS JOIN LATERAL jsonb_array_elements(a.matches) AS m(item)
WHERE m.item->>'subject' = 'subject-0004'
  AND a.operation IN ('protect', 'retain', 'purge', 'erase', 'hold')
ORDER BY a.id
-- end
) q WHERE id > :start ORDER BY 1;

-- 6. Which templates are past their expiry and still stored?
SELECT relation, column_name, subject, held
FROM (
-- query 6
SELECT relation, column_name, subject, expired_at, held
FROM biocrypt.overdue
ORDER BY expired_at
-- end
) q WHERE relation = 'watchlist'::regclass ORDER BY subject;

-- 7. Is the log intact, and still as long as it was?
SELECT ok, rows_checked > 0 AS checked, first_bad_id, bad_ranges
FROM (
-- query 7a
SELECT ok, rows_checked, first_bad_id, bad_ranges
FROM biocrypt.verify_audit()
-- end
) q;
-- the head an auditor publishes, and the check of a published head
SELECT chain_id AS anchor_chain, id AS anchor_id, encode(row_hash, 'hex') AS anchor_hash
FROM biocrypt.audit_head() \gset
SELECT still_there
FROM (
-- query 7b
SELECT count(*) = 1 AS still_there
FROM biocrypt.audit_log
WHERE chain_id = :'anchor_chain' AND id = :anchor_id
  AND row_hash = decode(:'anchor_hash', 'hex')
-- end
) q;

-- 8. Exports, reveals and re-keys
SELECT id - :start AS id, session_role, operation, relation,
	CASE WHEN action = 'rotate_key' THEN templates_compared > 0 END AS keys_retired,
	CASE WHEN action IS DISTINCT FROM 'rotate_key' THEN templates_compared END AS templates,
	subjects, action, outcome
FROM (
-- query 8
SELECT a.id, a.started_at, a.session_role, a.effective_role, a.operation,
       a.relation, a.column_name, a.templates_compared,
       (SELECT string_agg(m->>'subject', ', ') FROM jsonb_array_elements(a.matches) m
        WHERE a.operation = 'reveal') AS subjects,
       (SELECT string_agg(coalesce(m->>'action', m->>'function'), ', ')
        FROM jsonb_array_elements(a.matches) m
        WHERE a.operation IN ('rotate', 'destroy')) AS action,
       a.outcome, a.xact_outcome
FROM biocrypt.audit_log a
WHERE a.operation IN ('export', 'reveal', 'rotate', 'destroy')
  AND a.outcome <> 'begun'
ORDER BY a.id
-- end
) q WHERE id > :start ORDER BY 1;

RESET SESSION AUTHORIZATION;
DROP TABLE watchlist;
SELECT biocrypt.revoke_purpose('regress_officer', 'border_control');
DROP ROLE regress_officer, regress_clerk, regress_ann, regress_bob, regress_dpo;
