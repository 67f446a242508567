-- verify_reason() and verify_bits_reason(): the 1:1 decision with its
-- reason (match, no_match, expired, purpose, shape), so that an
-- application can tell "expired, enrol again" from "not this person".
-- Nothing is decrypted unless a comparison is due; each call is audited as
-- verify's (a purpose refusal as a denied row).
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET biocrypt.purpose = 'verification';

CREATE TABLE vr (id int PRIMARY KEY, tpl protected_template);
INSERT INTO vr VALUES
	(1, biocrypt.protect('{1,0,0}', 'vr-1')),
	(2, biocrypt.protect('{1,0,0}', 'vr-2', now() + interval '1 second')),
	(3, biocrypt.protect('{1,0,0}', 'vr-3', purposes => '{border_control}')),
	(4, biocrypt.protect('{1,0}', 'vr-4')),
	(5, biocrypt.protect_bits('\x0123456789abcdef', NULL, 'vr-5')),
	(6, biocrypt.protect('{0,1,0}', 'vr-6'));
SELECT pg_sleep(1.2);
CREATE ROLE regress_vr_verifier NOLOGIN IN ROLE biocrypt_verifier;
CREATE ROLE regress_vr_matcher NOLOGIN IN ROLE biocrypt_matcher;
SELECT biocrypt.grant_purpose('regress_vr_verifier', 'verification'),
	biocrypt.grant_purpose('regress_vr_matcher', 'verification');
GRANT SELECT ON vr TO regress_vr_verifier, regress_vr_matcher;
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset

-- a matcher chooses the threshold; verify() gives false for both 2 and 6,
-- and refuses 3 and 4 with an error
SET ROLE regress_vr_matcher;
SELECT id, biocrypt.verify_reason(tpl, '{1,0,0}', 0.1) AS reason
FROM vr WHERE id <> 5 ORDER BY id;
SELECT id, biocrypt.verify_reason(tpl, '{1,0,0}', 0.5, 'l2') AS reason FROM vr WHERE id IN (1, 6) ORDER BY id;
SELECT id, biocrypt.verify_reason(tpl, '{0,1}', 0.1) AS reason FROM vr WHERE id IN (4, 5) ORDER BY id;
-- the reasons agree with verify() where it answers
SELECT id, biocrypt.verify(tpl, '{1,0,0}', 0.1) AS verify FROM vr WHERE id IN (1, 2, 6) ORDER BY id;
RESET ROLE;

-- a verifier gets the decision at the administrator's threshold
SET biocrypt.match_threshold = '0.1';
SET ROLE regress_vr_verifier;
SELECT id, biocrypt.verify_reason(tpl, '{1,0,0}') AS reason FROM vr WHERE id <> 5 ORDER BY id;
SELECT id, biocrypt.verify_bits_reason(tpl, '\x0123456789abcdef') AS reason FROM vr WHERE id IN (1, 5) ORDER BY id;
SELECT biocrypt.verify_bits_reason(tpl, '\xfedcba9876543210') AS reason FROM vr WHERE id = 5;
-- ... and may not choose a threshold
SELECT pg_temp.err($$SELECT biocrypt.verify_reason(tpl, '{1,0,0}', 0.9) FROM vr WHERE id = 1$$) AS verifier_threshold;
RESET ROLE;
RESET biocrypt.match_threshold;

-- audited as verify: denials for the purpose refusals, counts for the rest
SELECT pg_temp.settle();
SELECT operation, outcome, sqlstate, count(*) AS events, sum(templates_compared) AS compared,
	sum(expired_skipped) AS expired, sum(shape_skipped) AS shape
FROM biocrypt.audit_log WHERE id > :start AND outcome <> 'begun'
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- a session that may not compare at all is refused, as by verify()
RESET biocrypt.purpose;
SELECT pg_temp.err($$SELECT biocrypt.verify_reason(tpl, '{1,0,0}', 0.1) FROM vr WHERE id = 1$$) AS no_purpose;
SET biocrypt.purpose = 'payment';
SET ROLE regress_vr_matcher;
SELECT pg_temp.err($$SELECT biocrypt.verify_reason(tpl, '{1,0,0}', 0.1) FROM vr WHERE id = 1$$) AS not_granted;
RESET ROLE;
SET biocrypt.purpose = 'verification';

-- bad input, as verify() refuses it
SELECT pg_temp.err($$SELECT biocrypt.verify_reason(tpl, '{1,0,0}', 'NaN') FROM vr WHERE id = 1$$) AS nan_threshold;
SELECT pg_temp.err($$SELECT biocrypt.verify_reason(tpl, '{1,0,0}', 0.1, 'manhattan') FROM vr WHERE id = 1$$) AS bad_metric;
SELECT pg_temp.err($$SELECT biocrypt.verify_reason(tpl, '{1,NaN,0}', 0.1) FROM vr WHERE id = 1$$) AS nan_probe;
SELECT pg_temp.err($$SELECT biocrypt.verify_bits_reason(tpl, NULL) FROM vr WHERE id = 5$$) AS null_code;
SELECT pg_temp.err($$SELECT biocrypt.verify_bits_reason(tpl, '\x01', '\x0102') FROM vr WHERE id = 5$$) AS mask_length;
SELECT pg_temp.err($$SELECT biocrypt.verify_bits_reason(tpl, '\x0123456789abcdef', NULL, -1) FROM vr WHERE id = 5$$) AS negative_shift;
SELECT biocrypt.verify_reason(NULL, '{1,0,0}', 0.1) IS NULL AS null_template;

DROP TABLE vr;
SELECT biocrypt.revoke_purpose('regress_vr_verifier', 'verification'),
	biocrypt.revoke_purpose('regress_vr_matcher', 'verification');
DROP ROLE regress_vr_verifier, regress_vr_matcher;
