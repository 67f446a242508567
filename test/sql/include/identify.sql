\set ECHO none
-- Helpers of the identify_* tests, created in pg_temp (included after
-- setup.sql, the same way; only the \i line is echoed).

-- identify()'s answer as 'subject=distance' in rank order ('{}' if none)
CREATE FUNCTION pg_temp.ident(rel regclass, probe real[], k int, maxd float8, metric text,
		col name DEFAULT 'tpl') RETURNS text[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg(subject || '=' || distance ORDER BY n), '{}')
	FROM biocrypt.identify(rel, col, probe, k, maxd, metric) WITH ORDINALITY r(subject, distance, n) $$;
-- the same through the planner: ORDER BY distance, subject LIMIT k.
-- Expired templates give NULL and zero vectors NaN under cosine: neither
-- ranks.  identify() orders ties by the subject's bytes, hence COLLATE "C".
CREATE FUNCTION pg_temp.planned(rel regclass, probe real[], k int, maxd float8, metric text,
		col name DEFAULT 'tpl') RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	op text := CASE metric WHEN 'l2' THEN '<->' WHEN 'cosine' THEN '<=>' WHEN 'inner_product' THEN '<#>' END;
	r text[];
BEGIN
	EXECUTE format($q$
		SELECT coalesce(array_agg(s || '=' || d ORDER BY d, s COLLATE "C"), '{}') FROM (
			SELECT biocrypt.subject_of(%1$I) AS s, %1$I %2$s $1 AS d
			FROM %3$s
			WHERE (%1$I %2$s $1) IS NOT NULL AND (%1$I %2$s $1) <> 'NaN'
				AND ($3 IS NULL OR (%1$I %2$s $1) <= $3)
			ORDER BY %1$I %2$s $1, biocrypt.subject_of(%1$I) COLLATE "C"
			LIMIT $2) x $q$, col, op, rel)
	INTO r USING probe, k, maxd;
	RETURN r;
END $$;
-- random vectors
CREATE FUNCTION pg_temp.rvec(d int, scale float8 DEFAULT 1) RETURNS real[] LANGUAGE sql VOLATILE AS $$
	SELECT array_agg(((random() * 2 - 1) * scale)::real) FROM generate_series(1, d) $$;

\set ECHO all
