-- test/bench/audit/setup.sql: schema and helpers for test/bench/audit.sh
-- (loaded once into the throwaway cluster's "bench" database; the same
-- tables serve both builds: the server is restarted with the other library).

CREATE EXTENSION biocrypt;
CREATE EXTENSION pg_prewarm;
CREATE SCHEMA abench;

-- staging rows written by gen.c (binary COPY): unit-length 512-d embeddings
CREATE TABLE abench.stage (id int, emb real[]);
-- the probe: row 1 of the generated data
CREATE TABLE abench.probe (vec real[]);
-- every measured figure, per build ("bypass" or "audited")
CREATE TABLE abench.fig (phase text, name text, value float8, PRIMARY KEY (phase, name));
-- every timed identify() execution
CREATE TABLE abench.identify_ms (phase text, rep int, ms float8);

-- verify workload (pgbench): a few thousand f32 templates, looked up by id
CREATE TABLE g (id int PRIMARY KEY, tpl protected_template);
-- identify workload: the large gallery
CREATE TABLE gallery (id int, tpl protected_template);

-- Time identify() the way run.sh times it: a prepared statement (generic
-- plan, made in the untimed warm-up) executed with the probe as parameter
-- value under EXPLAIN (ANALYZE, TIMING OFF); the figure is the server's
-- Execution Time, which includes the audit waits (identify() commits its
-- begun row before the first decryption, and its completion, with the
-- candidates, before it returns its rows).
CREATE FUNCTION abench.time_identify(ph text, reps int) RETURNS void
	LANGUAGE plpgsql AS $run$
DECLARE
	arg text;
	j json;
BEGIN
	SELECT format('%L::real[]', vec) INTO arg FROM abench.probe;
	EXECUTE $q$PREPARE idf(real[]) AS
		SELECT count(*) FROM biocrypt.identify('public.gallery', 'tpl', $1, 10)$q$;
	FOR i IN 0..reps LOOP	-- 0 is the untimed warm-up
		EXECUTE format('EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF, FORMAT JSON) EXECUTE idf(%s)', arg)
			INTO j;
		IF i > 0 THEN
			INSERT INTO abench.identify_ms VALUES (ph, i, (j -> 0 ->> 'Execution Time')::float8);
		END IF;
	END LOOP;
	DEALLOCATE idf;
END
$run$;

-- Audit rows after id "from" (the chain's last id before a run): how many,
-- how many of the given operation, how many of those are begun rows and
-- how many completions name a begun row of the run, and in how many worker
-- transactions (distinct xmin; rows of read-only statements are never
-- updated, so their xmin is the inserting transaction: rows / commits =
-- the group-commit size).  Waits first (up to 10 s) for the completions
-- that statements do not wait for.
CREATE FUNCTION abench.audit_since(from_id bigint, op text,
		OUT all_rows bigint, OUT op_rows bigint, OUT commits bigint,
		OUT begun bigint, OUT completions bigint)
	LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM biocrypt.audit_log b WHERE b.id > from_id
							  AND b.outcome = 'begun'
							  AND NOT EXISTS (SELECT FROM biocrypt.audit_log c
											  WHERE c.chain_id = b.chain_id AND c.begun_id = b.id));
		PERFORM pg_sleep(0.1);
	END LOOP;
	SELECT count(*), count(*) FILTER (WHERE operation = op),
		   count(DISTINCT xmin::text) FILTER (WHERE operation = op),
		   count(*) FILTER (WHERE operation = op AND outcome = 'begun'),
		   count(*) FILTER (WHERE operation = op AND begun_id > from_id)
	INTO all_rows, op_rows, commits, begun, completions
	FROM biocrypt.audit_log WHERE id > from_id;
END
$$;
