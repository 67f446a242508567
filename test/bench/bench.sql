-- test/bench/bench.sql: schema and helpers for test/bench/run.sh (loaded
-- once into the throwaway cluster's "bench" database; the server runs with
-- plan_cache_mode = force_generic_plan).

CREATE EXTENSION biocrypt;
CREATE EXTENSION pg_prewarm;
CREATE SCHEMA bench;

-- one row per timed repetition: server methods and floor.c's methods alike
CREATE TABLE bench.raw (format text, n int, method text, rep int, ms float8);
-- enrolment: wall seconds of each loading step
CREATE TABLE bench.enrol (step text, format text, n int, rows bigint, seconds float8);
-- top-1 of each search for the exact probe (must be subject-00000001)
CREATE TABLE bench.sanity (format text, n int, method text, top1 text, distance float8);
-- staging rows written by gen.c (binary COPY)
CREATE TABLE bench.stage_vec (id int, emb real[]);
CREATE TABLE bench.stage_iris (id int, code bytea, mask bytea);
-- the probe: row 1 of the generated data (identical for every N)
CREATE TABLE bench.probe (vec real[], code bytea, mask bytea);
CREATE SEQUENCE bench.qseq;

-- Time a probe statement the way an application runs it: a prepared
-- statement (PREPARE name(real[], bytea, bytea) AS <stmt>, stmt using $1 for
-- the vector probe, $2 and $3 for the iris code and mask) executed with the
-- probe as parameter values.  Each execution runs under
-- EXPLAIN (ANALYZE, TIMING OFF) and its "Execution Time" is recorded: the
-- server's own executor time, without planning (the generic plan is made
-- once, in the warm-up), parameter parsing, client round trip or result
-- transfer; TIMING OFF leaves only per-node row counting.
--
-- (Not PL/pgSQL variables: PL/pgSQL hands array variables to a query as
-- expanded objects, which the extension's per-statement probe cache does not
-- recognise, so the probe would be prepared again for every row.)
CREATE FUNCTION bench.run_prepared(fmt text, nn int, meth text, stmt text, reps int)
	RETURNS void LANGUAGE plpgsql AS $run$
DECLARE
	name text := 'bq' || nextval('bench.qseq');
	args text;
	j json;
BEGIN
	EXECUTE format('PREPARE %I(real[], bytea, bytea) AS %s', name, stmt);
	SELECT format('%L::real[], %L::bytea, %L::bytea', vec, code, mask) INTO args FROM bench.probe;
	FOR i IN 0..reps LOOP	-- 0 is the untimed warm-up
		EXECUTE format('EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF, FORMAT JSON) EXECUTE %I(%s)',
					   name, args) INTO j;
		IF i > 0 THEN
			INSERT INTO bench.raw VALUES (fmt, nn, meth, i, (j -> 0 ->> 'Execution Time')::float8);
		END IF;
	END LOOP;
	EXECUTE format('DEALLOCATE %I', name);
END
$run$;

-- Time a statement without parameters ("SELECT <body>", the floors (b)):
-- compiled into a PL/pgSQL function whose PERFORM is a prepared SPI plan,
-- one untimed warm-up, then reps executions each timed with
-- clock_timestamp() inside the server (no EXPLAIN instrumentation, which
-- would add ~15 ns per row to a bare scan).
CREATE FUNCTION bench.run_plain(fmt text, nn int, meth text, body text, reps int)
	RETURNS void LANGUAGE plpgsql AS $run$
DECLARE
	fn text := 'bench.q' || nextval('bench.qseq');
	times float8[];
BEGIN
	EXECUTE format($f$
CREATE FUNCTION %s(reps int) RETURNS float8[] LANGUAGE plpgsql AS $b$
DECLARE
	t0 timestamptz;
	r float8[] := '{}';
BEGIN
	PERFORM %s;
	FOR i IN 1..reps LOOP
		t0 := clock_timestamp();
		PERFORM %s;
		r := r || (extract(epoch FROM clock_timestamp() - t0) * 1000)::float8;
	END LOOP;
	RETURN r;
END
$b$$f$, fn, body, body);
	EXECUTE format('SELECT %s($1)', fn) INTO times USING reps;
	INSERT INTO bench.raw
		SELECT fmt, nn, meth, o::int, t FROM unnest(times) WITH ORDINALITY AS u(t, o);
END
$run$;
