-- The chain stays checkable: verify_audit() lists every range of ids that
-- does not verify (altered, unlinked, missing), not only the first, and
-- the head can be anchored outside the database (audit_head()), so that
-- removing the tail shows too.  The tampering here is a superuser's, with
-- audit maintenance allowed (and recorded); this file runs last, since it
-- leaves the chain broken on purpose.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET biocrypt.purpose = 'verification';

-- verify_audit()'s ranges, ids counted from :start
CREATE FUNCTION pg_temp.breaks(s bigint) RETURNS TABLE (first_id bigint, last_id bigint, problem text)
LANGUAGE sql AS $$
	SELECT r.first_id - s, r.last_id - s, r.problem
	FROM biocrypt.verify_audit() v,
		jsonb_to_recordset(v.bad_ranges) r(chain_id text, first_id bigint, last_id bigint, problem text)
	WHERE r.chain_id = (SELECT system_identifier::text FROM pg_control_system())
	ORDER BY 1 $$;

CREATE TABLE chain_g (id int, tpl protected_template);
INSERT INTO chain_g SELECT i, biocrypt.protect(ARRAY[i, 1, 1]::real[], 's-' || i)
	FROM generate_series(1, 3) i;
SELECT pg_temp.settle();
SELECT max(id) AS start FROM biocrypt.audit_log \gset
SELECT ok, bad_ranges FROM biocrypt.verify_audit();

-- rows 1 to 6: three comparisons, each begun and completed
SELECT count(*) FROM chain_g WHERE tpl <-> '{1,1,1}'::real[] < 10;
SELECT count(*) FROM chain_g WHERE tpl <-> '{1,1,1}'::real[] < 10;
SELECT count(*) FROM chain_g WHERE tpl <-> '{1,1,1}'::real[] < 10;
SELECT pg_temp.settle();

-- row 7: audit maintenance, recorded before the trigger goes
SET biocrypt.allow_audit_maintenance = on;
ALTER TABLE biocrypt.audit_log DISABLE TRIGGER audit_log_append_only;

-- the head, as an auditor publishes it (docs/compliance.md): this server's
-- chain, its newest id and row_hash
SELECT pg_temp.settle();
SELECT chain_id = (SELECT system_identifier::text FROM pg_control_system()) AS this_chain,
	id - :start AS id, row_hash = (SELECT row_hash FROM biocrypt.audit_log l
								   WHERE l.chain_id = h.chain_id AND l.id = h.id) AS row_hash_matches,
	octet_length(row_hash) AS hash_bytes
FROM biocrypt.audit_head() h;
SELECT chain_id AS anchor_chain, id AS anchor_id, encode(row_hash, 'hex') AS anchor_hash
FROM biocrypt.audit_head() \gset

-- rows 8 and 9: one more comparison
SELECT count(*) FROM chain_g WHERE tpl <-> '{1,1,1}'::real[] < 10;
SELECT pg_temp.settle();

-- tampering: row 2 edited, row 4 removed, row 5's stored hash replaced
UPDATE biocrypt.audit_log SET templates_compared = 0 WHERE id = :start + 2;
DELETE FROM biocrypt.audit_log WHERE id = :start + 4;
UPDATE biocrypt.audit_log SET row_hash = '\x00000000000000000000000000000000000000000000000000000000000000ff'
	WHERE id = :start + 5;
-- every bad range is reported: row 2 altered, row 4 missing, row 5
-- altered, and row 6, whose own hash is fine, no longer links to row 5
SELECT ok, first_bad_id - :start AS first_bad FROM biocrypt.verify_audit();
SELECT * FROM pg_temp.breaks(:start);

-- the anchor still holds
SELECT count(*) = 1 AS still_there FROM biocrypt.audit_log
WHERE chain_id = :'anchor_chain' AND id = :anchor_id AND row_hash = decode(:'anchor_hash', 'hex');

-- removing the tail (rows 7 to 9) leaves a chain that verify_audit() alone
-- cannot fault past what it already found ...
DELETE FROM biocrypt.audit_log WHERE id > :start + 6;
SELECT * FROM pg_temp.breaks(:start);
-- ... but the published anchor is gone
SELECT count(*) = 1 AS still_there FROM biocrypt.audit_log
WHERE chain_id = :'anchor_chain' AND id = :anchor_id AND row_hash = decode(:'anchor_hash', 'hex');

-- the worker continues after the ids it wrote, so the next row also shows
-- the hole the tail left
ALTER TABLE biocrypt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
RESET biocrypt.allow_audit_maintenance;
SELECT pg_temp.settle();
SELECT id - :start AS id, operation, outcome FROM biocrypt.audit_log WHERE id > :start + 6;
SELECT * FROM pg_temp.breaks(:start);

-- only auditors see the head
CREATE ROLE regress_chain_auditor NOLOGIN IN ROLE biocrypt_auditor;
CREATE ROLE regress_chain_matcher NOLOGIN IN ROLE biocrypt_matcher;
SET ROLE regress_chain_auditor;
SELECT id IS NOT NULL AS has_head FROM biocrypt.audit_head();
SET ROLE regress_chain_matcher;
SELECT id FROM biocrypt.audit_head();
RESET ROLE;
DROP ROLE regress_chain_auditor, regress_chain_matcher;
DROP TABLE chain_g;
