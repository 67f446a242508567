-- Copyright (c) biocrypt authors
--
-- The coordinator of a gallery sharded with PL/Proxy (docs/scale-out.md,
-- "Galleries sharded with PL/Proxy"; tested by test/t/021_plproxy.pl).
-- Run by a superuser in the coordinator's database, with the shards'
-- connection strings as psql variables:
--
--   psql -v ON_ERROR_STOP=1 -v shard0='host=... dbname=gallery' \
--        -v shard1='...' -v shard2='...' -d gallery -f coordinator.sql
--
-- The coordinator needs PL/Proxy, and biocrypt (preloaded, with a root key
-- of its own) for its audit log only: no template and no data key is ever
-- on it (embeddings and probes pass through it on their way to a shard, as
-- they pass through any application server).  Each call gets a request id,
-- set as biocrypt.request_id for the call's transaction here and on the
-- shards, and the coordinator records the call in its own chained audit
-- log (biocrypt.record_fanout: the operation, purpose, subject or probe
-- hash, and the merged candidates), so that the id leads from its row to
-- the shards' rows.  A subject lives on partition abs(hashtext(subject) %
-- 3): modular_mapping lets PL/Proxy use 3 partitions instead of a power of
-- two.

CREATE EXTENSION IF NOT EXISTS plproxy;
CREATE EXTENSION IF NOT EXISTS biocrypt;

CREATE SERVER gallery FOREIGN DATA WRAPPER plproxy OPTIONS (
	modular_mapping '1',
	p0 :'shard0',
	p1 :'shard1',
	p2 :'shard2');
-- each caller reaches the shards as itself (no password in the mapping:
-- use .pgpass, certificates or a pooler for real deployments)
CREATE USER MAPPING FOR PUBLIC SERVER gallery;

CREATE SCHEMA shards;
COMMENT ON SCHEMA shards IS 'PL/Proxy functions that run the shards'' gallery functions; call the wrappers in public instead';

CREATE FUNCTION shards.enrol(request_id uuid, purpose text, subject text,
		embedding real[], purposes text[]) RETURNS text AS $$
	CLUSTER 'gallery';
	RUN ON hashtext(subject);
	TARGET public.enrol;
$$ LANGUAGE plproxy;
CREATE FUNCTION shards.verify_subject(request_id uuid, purpose text, subject text,
		probe real[], max_distance float8) RETURNS boolean AS $$
	CLUSTER 'gallery';
	RUN ON hashtext(subject);
	TARGET public.verify_subject;
$$ LANGUAGE plproxy;
CREATE FUNCTION shards.identify_local(request_id uuid, purpose text, probe real[], k int,
		OUT subject text, OUT distance float8, OUT shard text) RETURNS SETOF record AS $$
	CLUSTER 'gallery';
	RUN ON ALL;
	TARGET public.identify_local;
$$ LANGUAGE plproxy;
CREATE FUNCTION shards.erase(request_id uuid, purpose text, subject text) RETURNS bigint AS $$
	CLUSTER 'gallery';
	RUN ON hashtext(subject);
	TARGET public.erase;
$$ LANGUAGE plproxy;
CREATE FUNCTION shards.hold(request_id uuid, purpose text, subject text, reason text)
		RETURNS boolean AS $$
	CLUSTER 'gallery';
	RUN ON hashtext(subject);
	TARGET public.hold;
$$ LANGUAGE plproxy;
CREATE FUNCTION shards.purge(request_id uuid, purpose text) RETURNS SETOF bigint AS $$
	CLUSTER 'gallery';
	RUN ON ALL;
	TARGET public.purge;
$$ LANGUAGE plproxy;
CREATE FUNCTION shards.policy_lines(request_id uuid, purpose text,
		OUT shard text, OUT line text) RETURNS SETOF record AS $$
	CLUSTER 'gallery';
	RUN ON ALL;
	TARGET public.policy_lines;
$$ LANGUAGE plproxy;
COMMENT ON FUNCTION shards.enrol(uuid, text, text, real[], text[]) IS 'enrol on the subject''s shard';
COMMENT ON FUNCTION shards.verify_subject(uuid, text, text, real[], float8) IS 'verify on the subject''s shard';
COMMENT ON FUNCTION shards.identify_local(uuid, text, real[], int) IS 'each shard''s top k, from every shard in parallel';
COMMENT ON FUNCTION shards.erase(uuid, text, text) IS 'erase on the subject''s shard';
COMMENT ON FUNCTION shards.hold(uuid, text, text, text) IS 'hold on the subject''s shard';
COMMENT ON FUNCTION shards.purge(uuid, text) IS 'purge on every shard';
COMMENT ON FUNCTION shards.policy_lines(uuid, text) IS 'every shard''s grants, memberships and policies';

-- the partition PL/Proxy picks for a subject (modular_mapping)
CREATE FUNCTION shard_of(subject text) RETURNS int
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT abs(hashtext(subject) % 3) $$;
COMMENT ON FUNCTION shard_of(text) IS 'the partition (0..2) that holds a subject';

-- a new request id, for this transaction
CREATE FUNCTION fanout_request() RETURNS uuid
LANGUAGE sql AS $$
	SELECT set_config('biocrypt.request_id', gen_random_uuid()::text, true)::uuid
$$;
COMMENT ON FUNCTION fanout_request() IS 'a new request id, set as biocrypt.request_id for this transaction';

-- Each wrapper calls its shard(s) with a new request id, then records the
-- call in the coordinator's audit log.  A call that fails (a shard down, a
-- refusal on a shard) records nothing here; the shards record their own
-- refusals.
CREATE FUNCTION enrol(subject text, embedding real[], purposes text[] DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	shard text := shards.enrol(fanout_request(), current_setting('biocrypt.purpose', true),
		subject, embedding, purposes);
BEGIN
	PERFORM biocrypt.record_fanout('protect', subject);
	RETURN shard;
END $$;
CREATE FUNCTION verify(subject text, probe real[], max_distance float8)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	matched boolean := shards.verify_subject(fanout_request(), current_setting('biocrypt.purpose', true),
		subject, probe, max_distance);
BEGIN
	PERFORM biocrypt.record_fanout('verify', subject, probe,
		candidates => jsonb_build_array(jsonb_build_object('subject', subject, 'match', matched)));
	RETURN matched;
END $$;
CREATE FUNCTION erase(subject text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint := shards.erase(fanout_request(), current_setting('biocrypt.purpose', true), subject);
BEGIN
	PERFORM biocrypt.record_fanout('erase', subject);
	RETURN n;
END $$;
CREATE FUNCTION hold(subject text, reason text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	placed boolean := shards.hold(fanout_request(), current_setting('biocrypt.purpose', true),
		subject, reason);
BEGIN
	PERFORM biocrypt.record_fanout('hold', subject);
	RETURN placed;
END $$;
CREATE FUNCTION purge() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint := (SELECT sum(p)::bigint FROM shards.purge(fanout_request(),
		current_setting('biocrypt.purpose', true)) p);
BEGIN
	PERFORM biocrypt.record_fanout('purge');
	RETURN n;
END $$;

-- 1:N: every shard's top k, merged.  A shard that cannot be reached makes
-- the whole call fail (no partial result).
CREATE TYPE candidate AS (subject text, distance float8, shard text);
COMMENT ON TYPE candidate IS 'a subject found by identify(), its distance and its shard';

CREATE FUNCTION identify(probe real[], k int DEFAULT 10) RETURNS SETOF candidate
LANGUAGE plpgsql AS $$
DECLARE
	req uuid := fanout_request();
	merged candidate[];
BEGIN
	SELECT coalesce(array_agg(c ORDER BY c.distance, c.subject), '{}') INTO merged
	FROM (SELECT l.subject, l.distance, l.shard
		FROM shards.identify_local(req, current_setting('biocrypt.purpose', true), probe, k) l
		ORDER BY l.distance, l.subject LIMIT k) c;
	PERFORM biocrypt.record_fanout('identify', NULL, probe, k, to_jsonb(merged));
	RETURN QUERY SELECT * FROM unnest(merged);
END $$;

-- Purpose grants, memberships and policies must be the same on every shard:
-- each line with the shards that lack it (no row: all agree).
CREATE FUNCTION check_shards(OUT line text, OUT present_on text[], OUT missing_on text[])
RETURNS SETOF record LANGUAGE sql AS $$
	WITH l AS (SELECT * FROM shards.policy_lines(fanout_request(),
			current_setting('biocrypt.purpose', true))),
	s AS (SELECT DISTINCT l.shard FROM l)
	SELECT l.line, array_agg(DISTINCT l.shard ORDER BY l.shard),
		ARRAY(SELECT s.shard FROM s WHERE s.shard <> ALL (array_agg(l.shard)) ORDER BY 1)
	FROM l GROUP BY l.line
	HAVING count(DISTINCT l.shard) < (SELECT count(*) FROM s)
	ORDER BY l.line
$$;

COMMENT ON FUNCTION enrol(text, real[], text[]) IS 'enrol a subject on its shard (sealed there); returns the shard''s name';
COMMENT ON FUNCTION verify(text, real[], float8) IS '1:1 verification on the subject''s shard';
COMMENT ON FUNCTION erase(text) IS 'erase a subject on its shard; returns templates erased';
COMMENT ON FUNCTION hold(text, text) IS 'place a subject under legal hold on its shard';
COMMENT ON FUNCTION purge() IS 'run the purge on every shard; returns templates purged';
COMMENT ON FUNCTION identify(real[], int) IS '1:N over every shard: the k nearest subjects, with their shard';
COMMENT ON FUNCTION check_shards() IS 'grants, memberships and policies that some shard lacks, with the shards that have and lack each';

-- the coordinator's roles are biocrypt's own (CREATE EXTENSION made them),
-- as on the shards, where biocrypt checks the caller again
REVOKE ALL ON SCHEMA shards FROM PUBLIC;
REVOKE ALL ON FOREIGN SERVER gallery FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA shards FROM PUBLIC;
REVOKE ALL ON FUNCTION shard_of(text), fanout_request(),
	enrol(text, real[], text[]), verify(text, real[], float8), erase(text),
	hold(text, text), purge(), identify(real[], int), check_shards() FROM PUBLIC;
GRANT USAGE ON SCHEMA shards TO biocrypt_enroller, biocrypt_matcher, biocrypt_admin;
GRANT USAGE ON FOREIGN SERVER gallery TO biocrypt_enroller, biocrypt_matcher, biocrypt_admin;
GRANT EXECUTE ON FUNCTION shard_of(text), fanout_request()
	TO biocrypt_enroller, biocrypt_matcher, biocrypt_admin;
GRANT EXECUTE ON FUNCTION shards.enrol(uuid, text, text, real[], text[]),
	enrol(text, real[], text[]) TO biocrypt_enroller;
GRANT EXECUTE ON FUNCTION shards.verify_subject(uuid, text, text, real[], float8),
	shards.identify_local(uuid, text, real[], int),
	verify(text, real[], float8), identify(real[], int) TO biocrypt_matcher;
GRANT EXECUTE ON FUNCTION shards.erase(uuid, text, text), shards.hold(uuid, text, text, text),
	shards.purge(uuid, text), shards.policy_lines(uuid, text),
	erase(text), hold(text, text), purge(), check_shards() TO biocrypt_admin;
