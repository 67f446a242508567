-- One request across servers: biocrypt.request_id is recorded in the
-- audit row of each access (request_id), and a coordinator records a call
-- it sent to its shards with biocrypt.record_fanout(): one row of the
-- call's operation, origin 'shards', the purpose, the probe's keyed hash,
-- k, and the merged candidates or the subject.  Bad calls are refused
-- before anything is recorded.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET biocrypt.purpose = 'verification';
CREATE TABLE fan_g (id int, tpl protected_template);
INSERT INTO fan_g VALUES (1, biocrypt.protect('{1,2,3}'::real[], 'fan-1'));
SELECT pg_temp.settle();
SELECT max(id) AS start FROM biocrypt.audit_log \gset

-- the setting: printable ASCII, shorter than a name
SET biocrypt.request_id = 'req-0001';
SET biocrypt.request_id = 'req with a tab	here';
SET biocrypt.request_id = 'Łódź';
SET biocrypt.request_id = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
SHOW biocrypt.request_id;
-- an access carries it
SELECT biocrypt.verify(tpl, '{1,2,3}'::real[], 0.1) FROM fan_g;

-- a coordinator's records
SELECT biocrypt.record_fanout('identify', NULL, '{1,2,3}'::real[], 2,
	'[{"subject": "fan-1", "distance": 0.01, "shard": "shard0"}, {"subject": "x", "distance": 0.2, "shard": "shard2"}]');
SELECT biocrypt.record_fanout('erase', 'fan-9');
-- a list of candidates longer than a queue slot holds (4 kB)
SELECT biocrypt.record_fanout('identify', NULL, '{1,2,3}'::real[], 200,
	(SELECT jsonb_agg(jsonb_build_object('subject', 'subject-' || i, 'distance', i / 1000.0, 'shard', 'shard1') ORDER BY i)
	 FROM generate_series(1, 200) i));
-- refused: no such operation, not one a coordinator sends, k, the candidates, the probe
SELECT biocrypt.record_fanout('steal');
SELECT biocrypt.record_fanout('reveal', 'fan-1');
SELECT biocrypt.record_fanout(NULL);
SELECT biocrypt.record_fanout('identify', NULL, '{1,2,3}'::real[], 0, '[]');
SELECT biocrypt.record_fanout('identify', NULL, '{1,2,3}'::real[], 2, '{"subject": "x"}');
SELECT biocrypt.record_fanout('identify', NULL, '{1,2,3}'::real[], 2, '7');
SELECT biocrypt.record_fanout('verify', 'fan-1', '{1,NaN,3}'::real[]);
SELECT biocrypt.record_fanout('verify', 'fan-1', '{}'::real[]);
-- without a request id there is nothing to link to
RESET biocrypt.request_id;
SELECT biocrypt.record_fanout('verify', 'fan-1');
-- a matcher records its searches, not erasures or holds
CREATE ROLE fan_matcher IN ROLE biocrypt_matcher;
SET ROLE fan_matcher;
SET biocrypt.request_id = 'req-0003';
SELECT biocrypt.record_fanout('identify', NULL, '{1,2,3}'::real[], 1, '[]');
SELECT biocrypt.record_fanout('erase', 'fan-1');
SELECT biocrypt.record_fanout('hold', 'fan-1');
SELECT biocrypt.record_fanout('purge');
SELECT biocrypt.record_fanout('protect', 'fan-2');
RESET ROLE;
RESET biocrypt.request_id;
-- only the roles that make such calls
CREATE ROLE fan_plain;
SET ROLE fan_plain;
SET biocrypt.request_id = 'req-0002';
SELECT biocrypt.record_fanout('verify', 'fan-1');
RESET ROLE;
RESET biocrypt.request_id;

SELECT pg_temp.settle();
SELECT id - :start AS n, operation, outcome, purpose, request_id, origin, k, templates_compared AS compared,
	probe_hmac IS NOT NULL AS probe_hashed,
	CASE WHEN jsonb_array_length(matches) > 2 THEN jsonb_array_length(matches) || ' candidates, the last '
		|| (matches->-1->>'subject') ELSE matches::text END AS matches
FROM biocrypt.audit_log WHERE id > :start ORDER BY id;
-- the same probe, the same keyed hash: the coordinator's row and the verify's
SELECT count(DISTINCT probe_hmac) FROM biocrypt.audit_log
WHERE id > :start AND operation IN ('identify', 'verify') AND outcome IN ('ok', 'begun');
SELECT ok FROM biocrypt.verify_audit();

DROP TABLE fan_g;
DROP ROLE fan_plain, fan_matcher;
