-- Copyright (c) biocrypt authors
--
-- One shard of a gallery sharded with PL/Proxy (docs/scale-out.md,
-- "Galleries sharded with PL/Proxy"; tested by test/t/021_plproxy.pl).
-- Run by a superuser in the shard's database, on a server that preloads
-- biocrypt with its OWN root key; the server's cluster_name names the shard
-- (the coordinator reports it with each candidate).
--
--   psql -v ON_ERROR_STOP=1 -d gallery -f shard.sql
--
-- Every function takes the coordinator's request id and the caller's
-- purpose first.  It sets both for its own transaction only
-- (set_config(..., true)) before the access, so the shard's audit row
-- carries the request id (biocrypt.request_id, the column request_id).  The functions run
-- with the caller's rights (SECURITY INVOKER): biocrypt's own checks
-- (roles, purpose grants, column policy) apply on the shard to the role the
-- coordinator connects as.

CREATE EXTENSION IF NOT EXISTS biocrypt;

CREATE TABLE people (
	subject text PRIMARY KEY,
	face protected_template
);
SELECT biocrypt.protect_column('people', 'face', interval '3 years',
	ARRAY['identification', 'verification'], 'delete', 'subject');
COMMENT ON TABLE people IS 'this shard''s part of the gallery: the subjects whose hashtext() maps here';

-- the request id and the purpose, for this transaction
CREATE FUNCTION gallery_request(request_id uuid, purpose text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF request_id IS NULL THEN
		RAISE EXCEPTION 'gallery: a request id is required' USING ERRCODE = '22004';
	END IF;
	PERFORM set_config('biocrypt.request_id', request_id::text, true);
	IF purpose IS NOT NULL THEN
		PERFORM set_config('biocrypt.purpose', purpose, true);
	END IF;
END $$;
COMMENT ON FUNCTION gallery_request(uuid, text) IS 'tag this transaction with the coordinator''s request id (biocrypt.request_id) and the caller''s purpose';

CREATE FUNCTION enrol(request_id uuid, purpose text, subject text,
		embedding real[], purposes text[]) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM gallery_request(request_id, purpose);
	INSERT INTO people (subject, face)
	VALUES (enrol.subject, biocrypt.protect(embedding, enrol.subject, NULL, purposes));
	RETURN current_setting('cluster_name');
END $$;
COMMENT ON FUNCTION enrol(uuid, text, text, real[], text[]) IS 'seal an embedding with this shard''s keys and store it; returns the shard''s name';

CREATE FUNCTION verify_subject(request_id uuid, purpose text, subject text,
		probe real[], max_distance float8) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	ok boolean;
BEGIN
	PERFORM gallery_request(request_id, purpose);
	SELECT biocrypt.verify(p.face, probe, max_distance) INTO ok
	FROM people p WHERE p.subject = verify_subject.subject;
	RETURN coalesce(ok, false);
END $$;
COMMENT ON FUNCTION verify_subject(uuid, text, text, real[], float8) IS '1:1 verification of a subject enrolled on this shard (false if not enrolled here)';

CREATE FUNCTION identify_local(request_id uuid, purpose text, probe real[], k int,
		OUT subject text, OUT distance float8, OUT shard text) RETURNS SETOF record
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM gallery_request(request_id, purpose);
	RETURN QUERY SELECT i.subject, i.distance, current_setting('cluster_name')
		FROM biocrypt.identify('people', 'face', probe, k) i;
END $$;
COMMENT ON FUNCTION identify_local(uuid, text, real[], int) IS 'this shard''s k nearest subjects, with the shard''s name';

CREATE FUNCTION erase(request_id uuid, purpose text, subject text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM gallery_request(request_id, purpose);
	RETURN biocrypt.erase_subject(subject);
END $$;
COMMENT ON FUNCTION erase(uuid, text, text) IS 'erase a subject''s templates on this shard (biocrypt.erase_subject, audited)';

CREATE FUNCTION hold(request_id uuid, purpose text, subject text, reason text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM gallery_request(request_id, purpose);
	RETURN biocrypt.hold(subject, reason);
END $$;
COMMENT ON FUNCTION hold(uuid, text, text, text) IS 'place a subject under legal hold on this shard (biocrypt.hold, audited)';

CREATE FUNCTION purge(request_id uuid, purpose text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM gallery_request(request_id, purpose);
	RETURN biocrypt.purge_expired();
END $$;
COMMENT ON FUNCTION purge(uuid, text) IS 'apply the column policy on this shard (biocrypt.purge_expired)';

-- what must agree across shards: purpose grants, memberships of the
-- biocrypt_* roles and column policies, as one line each
CREATE FUNCTION policy_lines(request_id uuid, purpose text, OUT shard text, OUT line text)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM gallery_request(request_id, purpose);
	RETURN QUERY
	SELECT current_setting('cluster_name'), l FROM (
		SELECT format('grant %s %s', g.role, g.purpose) AS l FROM biocrypt.purpose_grants g
		UNION ALL
		SELECT format('member %s of %s', m.rolname, r.rolname)
		FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid
		JOIN pg_roles m ON m.oid = am.member
		WHERE r.rolname LIKE 'biocrypt\_%'
		UNION ALL
		SELECT format('policy %s.%s retention %s purposes %s on_expiry %s subject %s',
			c.relation, c.column_name, c.retention, c.purposes, c.on_expiry, c.subject_column)
		FROM biocrypt.columns c) s
	ORDER BY l;
END $$;
COMMENT ON FUNCTION policy_lines(uuid, text) IS 'this shard''s purpose grants, biocrypt_* memberships and column policies, one line each';

REVOKE ALL ON TABLE people FROM PUBLIC;
REVOKE ALL ON FUNCTION gallery_request(uuid, text), enrol(uuid, text, text, real[], text[]),
	verify_subject(uuid, text, text, real[], float8), identify_local(uuid, text, real[], int),
	erase(uuid, text, text), hold(uuid, text, text, text), purge(uuid, text),
	policy_lines(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gallery_request(uuid, text) TO biocrypt_enroller,
	biocrypt_matcher, biocrypt_admin;
GRANT INSERT, SELECT ON TABLE people TO biocrypt_enroller;
GRANT SELECT ON TABLE people TO biocrypt_matcher;
GRANT EXECUTE ON FUNCTION enrol(uuid, text, text, real[], text[]) TO biocrypt_enroller;
GRANT EXECUTE ON FUNCTION verify_subject(uuid, text, text, real[], float8) TO biocrypt_matcher;
GRANT EXECUTE ON FUNCTION identify_local(uuid, text, real[], int) TO biocrypt_matcher;
GRANT EXECUTE ON FUNCTION erase(uuid, text, text), hold(uuid, text, text, text),
	purge(uuid, text), policy_lines(uuid, text) TO biocrypt_admin;
