\set ECHO none
-- What every pg_regress test that includes it starts with: terse errors
-- without context, and helpers created in pg_temp.  A test includes it with
--   \getenv abs_srcdir PG_ABS_SRCDIR
--   \i :abs_srcdir/sql/include/setup.sql
-- (pg_regress sets PG_ABS_SRCDIR to its --inputdir, test/).  Only the line
-- above is echoed into the expected output; psql echoes again at the end
-- (pg_regress runs it with -a, ECHO all).
\set VERBOSITY terse
\set SHOW_CONTEXT never

-- 'ok', or the error as "SQLSTATE: message [DETAIL: ...] [HINT: ...]";
-- a test that sets err_detail to off before the include gets
-- "SQLSTATE: message" alone
\if :{?err_detail}
\else
\set err_detail on
\endif
CREATE FUNCTION pg_temp.err(q text, detail boolean DEFAULT :'err_detail')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	d text;
	h text;
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	RETURN SQLSTATE || ': ' || SQLERRM
		|| CASE WHEN detail AND d <> '' THEN ' DETAIL: ' || d ELSE '' END
		|| CASE WHEN detail AND h <> '' THEN ' HINT: ' || h ELSE '' END;
END $$;

-- wait (up to 10 s) until the audit worker has written every completion
-- (a comparison's is written just after its statement, which does not
-- wait for it) and filled in every transaction outcome
CREATE FUNCTION pg_temp.settle() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM biocrypt.audit_log WHERE xact_outcome = 'in progress')
			AND NOT EXISTS (SELECT FROM biocrypt.audit_log b WHERE b.outcome = 'begun'
							AND NOT EXISTS (SELECT FROM biocrypt.audit_log c
											WHERE c.chain_id = b.chain_id AND c.begun_id = b.id));
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;

-- audit rows written since an id, without the columns that vary per run
CREATE FUNCTION pg_temp.audit_since(since bigint)
	RETURNS TABLE (operation text, relation regclass, col name, compared bigint,
		expired bigint, matches jsonb, outcome text, sqlstate text)
	LANGUAGE sql AS $$
	SELECT operation, relation, column_name, templates_compared, expired_skipped,
		matches, outcome, sqlstate
	FROM biocrypt.audit_log WHERE id > since ORDER BY id
$$;

-- n bytes of one repeated hex byte
CREATE FUNCTION pg_temp.rep(hex text, n int) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT decode(repeat(hex, n), 'hex') $$;

\set ECHO all
