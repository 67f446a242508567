-- biocrypt 0.1.0 -> 0.2.0.  A new installation runs biocrypt--0.1.0.sql and
-- then this script, as PostgreSQL's contrib modules do: an upgraded database
-- and a new one are built by the same statements (docs/dba.md, "Upgrades").

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION biocrypt UPDATE TO '0.2.0'" to load this file. \quit

----------------------------------------------------------------------------
-- a column's declared shape: protected_template(dims [, format])
----------------------------------------------------------------------------

CREATE FUNCTION protected_template_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION protected_template_typmod_out(integer) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

ALTER TYPE protected_template SET (
	TYPMOD_IN = protected_template_typmod_in,
	TYPMOD_OUT = protected_template_typmod_out
);

-- the length coercion PostgreSQL applies where a template enters a column
-- that declares its shape (INSERT, UPDATE, COPY)
CREATE FUNCTION protected_template(protected_template, integer, boolean)
	RETURNS protected_template
	AS 'MODULE_PATHNAME', 'protected_template_coerce' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (protected_template AS protected_template)
	WITH FUNCTION protected_template(protected_template, integer, boolean) AS IMPLICIT;

COMMENT ON FUNCTION protected_template_typmod_in(cstring[]) IS 'protected_template(dims) or protected_template(dims, format): the shape a column takes';
COMMENT ON FUNCTION protected_template_typmod_out(integer) IS 'a protected_template column''s shape as text';
COMMENT ON FUNCTION protected_template(protected_template, integer, boolean) IS 'refuses a template whose dimensions or format differ from its column''s declared shape';

----------------------------------------------------------------------------
-- 1:N searches skip, and count, templates enrolled for other purposes or
-- of another shape than the probe
----------------------------------------------------------------------------

ALTER TABLE biocrypt.audit_log ADD COLUMN purpose_skipped bigint,
	ADD COLUMN shape_skipped bigint;
COMMENT ON COLUMN biocrypt.audit_log.purpose_skipped IS 'a search of many (identify, ORDER BY over a table): templates skipped, not decrypted, because they were not enrolled for the session''s purpose; NULL in rows written before 0.2.0';
COMMENT ON COLUMN biocrypt.audit_log.shape_skipped IS 'a search of many: templates skipped, not decrypted, because their dimensions or kind did not fit the probe; NULL in rows written before 0.2.0';

----------------------------------------------------------------------------
-- 1:1 verification that says why: match, no_match, expired, purpose, shape
----------------------------------------------------------------------------

CREATE FUNCTION biocrypt.verify_reason(tpl protected_template, probe real[],
		max_distance float8, metric text DEFAULT 'cosine') RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_verify_reason' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.verify_reason(tpl protected_template, probe real[]) RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_verify_reason_decision' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.verify_bits_reason(tpl protected_template, code bytea,
		mask bytea DEFAULT NULL, max_shift int DEFAULT 0) RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_verify_bits_reason' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION biocrypt.verify_reason_sealed(tpl protected_template, probe sealed_probe,
		max_distance float8, metric text DEFAULT 'cosine') RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_verify_reason_sealed' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION biocrypt.verify_reason_sealed(tpl protected_template, probe sealed_probe) RETURNS text
	AS 'MODULE_PATHNAME', 'biocrypt_verify_reason_decision_sealed' LANGUAGE C STABLE STRICT PARALLEL SAFE;
-- as verify(): a key lookup in the same WHERE runs first
ALTER FUNCTION biocrypt.verify_reason(protected_template, real[], float8, text) COST 100;
ALTER FUNCTION biocrypt.verify_reason(protected_template, real[]) COST 100;
ALTER FUNCTION biocrypt.verify_bits_reason(protected_template, bytea, bytea, int) COST 100;
ALTER FUNCTION biocrypt.verify_reason_sealed(protected_template, sealed_probe, float8, text) COST 100;
ALTER FUNCTION biocrypt.verify_reason_sealed(protected_template, sealed_probe) COST 100;

COMMENT ON FUNCTION biocrypt.verify_reason(protected_template, real[], float8, text) IS '1:1 verification with its reason: match, no_match, expired, purpose (not enrolled for the session''s purpose) or shape (does not fit the probe)';
COMMENT ON FUNCTION biocrypt.verify_reason(protected_template, real[]) IS '1:1 decision with its reason at biocrypt.match_threshold and biocrypt.match_metric, without a score';
COMMENT ON FUNCTION biocrypt.verify_bits_reason(protected_template, bytea, bytea, int) IS '1:1 bit-code decision with its reason at biocrypt.match_threshold_bits, without a score';
COMMENT ON FUNCTION biocrypt.verify_reason_sealed(protected_template, sealed_probe, float8, text) IS 'verify_reason() with a probe sealed to biocrypt.public_key()';
COMMENT ON FUNCTION biocrypt.verify_reason_sealed(protected_template, sealed_probe) IS 'verify_reason(tpl, probe) with a probe sealed to biocrypt.public_key()';

REVOKE ALL ON FUNCTION
	biocrypt.verify_reason(protected_template, real[], float8, text),
	biocrypt.verify_reason(protected_template, real[]),
	biocrypt.verify_bits_reason(protected_template, bytea, bytea, int),
	biocrypt.verify_reason_sealed(protected_template, sealed_probe, float8, text),
	biocrypt.verify_reason_sealed(protected_template, sealed_probe)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	biocrypt.verify_reason(protected_template, real[]),
	biocrypt.verify_bits_reason(protected_template, bytea, bytea, int),
	biocrypt.verify_reason_sealed(protected_template, sealed_probe)
	TO biocrypt_verifier;
GRANT EXECUTE ON FUNCTION
	biocrypt.verify_reason(protected_template, real[], float8, text),
	biocrypt.verify_reason_sealed(protected_template, sealed_probe, float8, text)
	TO biocrypt_matcher;

----------------------------------------------------------------------------
-- threshold calibration inside the server (administrators only)
----------------------------------------------------------------------------

-- an administrator's calibration is an access of its own in the audit log
ALTER TABLE biocrypt.audit_log DROP CONSTRAINT audit_log_operation_check,
	ADD CONSTRAINT audit_log_operation_check CHECK (operation IN ('protect', 'compare',
		'verify', 'identify', 'reveal', 'export', 'retain', 'purge', 'rotate', 'destroy',
		'hold', 'erase', 'policy', 'denied', 'review', 'calibrate'));

-- template against template: a function, not an overload of <-> and its
-- kin, which would make an untyped literal probe ('{1,2}') a template
CREATE FUNCTION biocrypt.template_distance(a protected_template, b protected_template,
		metric text DEFAULT 'cosine') RETURNS float8
	AS 'MODULE_PATHNAME', 'biocrypt_template_distance' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION biocrypt.calibrate(gallery regclass, col name, target_fmr float8 DEFAULT 1e-4,
		metric text DEFAULT 'cosine', sample int DEFAULT 2000,
		OUT threshold float8, OUT fmr float8, OUT fnmr float8, OUT templates integer,
		OUT subjects integer, OUT impostor_pairs bigint, OUT genuine_pairs bigint,
		OUT impostor_median float8, OUT genuine_median float8, OUT genuine_max float8)
	RETURNS record
	AS 'MODULE_PATHNAME', 'biocrypt_calibrate' LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION biocrypt.template_distance(protected_template, protected_template, text) IS 'distance between two stored templates (cosine, l2, inner_product; hamming for bit codes), for administrators; NULL for a pair that may not or cannot be compared';
COMMENT ON FUNCTION biocrypt.calibrate(regclass, name, float8, text, int) IS 'the threshold for a target false-match rate, from the impostor and genuine pair distances of a sample of the column''s templates; only the summary leaves the server';

REVOKE ALL ON FUNCTION
	biocrypt.template_distance(protected_template, protected_template, text),
	biocrypt.calibrate(regclass, name, float8, text, int)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	biocrypt.template_distance(protected_template, protected_template, text),
	biocrypt.calibrate(regclass, name, float8, text, int)
	TO biocrypt_admin;

----------------------------------------------------------------------------
-- monitoring: access statistics, the audit queue, enrolment and purge
-- progress (docs/dba.md, "Monitoring")
----------------------------------------------------------------------------

CREATE FUNCTION biocrypt.stats_state(OUT dbid oid, OUT userid oid,
		OUT comparisons bigint, OUT verifies bigint, OUT identifies bigint,
		OUT templates_compared bigint, OUT expired_skipped bigint,
		OUT purpose_skipped bigint, OUT shape_skipped bigint, OUT denials bigint,
		OUT errors bigint, OUT reveals bigint, OUT exports bigint,
		OUT audit_waits bigint, OUT audit_wait_total_ms double precision,
		OUT audit_wait_max_ms double precision, OUT stats_reset timestamptz)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_stats_state' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.stats_state() IS 'access counters per database and role, from shared memory';

CREATE VIEW biocrypt.stats AS
SELECT s.dbid, d.datname AS database, s.userid, r.rolname AS role,
	s.comparisons, s.verifies, s.identifies, s.templates_compared,
	s.expired_skipped, s.purpose_skipped, s.shape_skipped, s.denials, s.errors,
	s.reveals, s.exports, s.audit_waits, s.audit_wait_total_ms,
	s.audit_wait_max_ms, s.stats_reset
FROM biocrypt.stats_state() s
LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid
LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid;
COMMENT ON VIEW biocrypt.stats IS 'one row per database and role: completed accesses, templates compared and skipped, denials, errors, reveals, exports and waits for the audit since stats_reset (role NULL: roles past biocrypt.stats_max)';

CREATE FUNCTION biocrypt.audit_queue_state(OUT dbid oid, OUT worker_state text,
		OUT worker_pid integer, OUT depth integer, OUT depth_max integer,
		OUT queue_depth integer, OUT queue_depth_max integer, OUT queue_slots integer)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_audit_queue_state' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.audit_queue_state() IS 'the shared audit queue, per database that uses it';

CREATE VIEW biocrypt.audit_queue AS
SELECT q.dbid, d.datname AS database, q.worker_state, q.worker_pid, q.depth,
	q.depth_max, q.queue_depth, q.queue_depth_max, q.queue_slots
FROM biocrypt.audit_queue_state() q
LEFT JOIN pg_catalog.pg_database d ON d.oid = q.dbid;
COMMENT ON VIEW biocrypt.audit_queue IS 'one row per database with an audit worker entry: its events in the shared queue now and at most since the last reset, and the whole queue''s (shared by every database)';

CREATE FUNCTION biocrypt.stats_reset() RETURNS void
	AS 'MODULE_PATHNAME', 'biocrypt_stats_reset' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.stats_reset() IS 'reset biocrypt.stats (every database and role) and the audit queue''s high-water marks';

CREATE FUNCTION biocrypt.enrol_progress(OUT pid integer, OUT datid oid,
		OUT relid oid, OUT started_at timestamptz, OUT templates_enrolled bigint,
		OUT templates_per_second double precision)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_enrol_progress' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.enrol_progress() IS 'progress of the statements enrolling templates in the cluster';

CREATE VIEW biocrypt.enrol_progress AS
SELECT p.pid, p.datid, d.datname, p.relid, p.started_at, p.templates_enrolled,
	p.templates_per_second
FROM biocrypt.enrol_progress() p
LEFT JOIN pg_catalog.pg_database d ON d.oid = p.datid;
COMMENT ON VIEW biocrypt.enrol_progress IS 'one row per running statement that has enrolled templates: how many so far, since when, how fast';

CREATE FUNCTION biocrypt.purge_progress(OUT pid integer, OUT datid oid,
		OUT phase text, OUT relid oid, OUT column_name name, OUT started_at timestamptz,
		OUT columns_total bigint, OUT columns_done bigint, OUT templates_found bigint,
		OUT templates_purged bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'biocrypt_purge_progress' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION biocrypt.purge_progress() IS 'progress of the purges (purge_expired() and the purge worker) running in the cluster';

CREATE VIEW biocrypt.purge_progress AS
SELECT p.pid, p.datid, d.datname, p.phase, p.relid, p.column_name, p.started_at,
	p.columns_total, p.columns_done, p.templates_found, p.templates_purged
FROM biocrypt.purge_progress() p
LEFT JOIN pg_catalog.pg_database d ON d.oid = p.datid;
COMMENT ON VIEW biocrypt.purge_progress IS 'one row per running purge: phase, column at work, columns done, expired templates found and purged so far';

REVOKE ALL ON biocrypt.stats, biocrypt.audit_queue, biocrypt.enrol_progress,
	biocrypt.purge_progress FROM PUBLIC;
REVOKE ALL ON FUNCTION biocrypt.stats_state(), biocrypt.audit_queue_state(),
	biocrypt.stats_reset(), biocrypt.enrol_progress(), biocrypt.purge_progress()
	FROM PUBLIC;
GRANT SELECT ON biocrypt.stats, biocrypt.audit_queue TO biocrypt_admin, biocrypt_auditor;
GRANT EXECUTE ON FUNCTION biocrypt.stats_state(), biocrypt.audit_queue_state()
	TO biocrypt_admin, biocrypt_auditor;
GRANT SELECT ON biocrypt.enrol_progress, biocrypt.purge_progress TO biocrypt_admin;
GRANT EXECUTE ON FUNCTION biocrypt.stats_reset(), biocrypt.enrol_progress(),
	biocrypt.purge_progress() TO biocrypt_admin;

----------------------------------------------------------------------------
-- compliance report: one self-contained HTML page of a period's audit,
-- reviews and retention, for auditors (docs/compliance.md, "The
-- compliance report")
----------------------------------------------------------------------------

-- text made safe for an HTML (or inline SVG) element or quoted attribute:
-- role names, application names, subjects and reasons are chosen by users
CREATE FUNCTION biocrypt.html_escape(t text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
		pg_catalog.replace(t, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'),
		'''', '&#39;')
$$;
COMMENT ON FUNCTION biocrypt.html_escape(text) IS 'text escaped for HTML: & < > " and '' as character references';

-- an HTML table from a JSON array of objects: the first object's keys, in
-- order, are the headings; every value is escaped, numbers align right,
-- times do not wrap, a JSON null is an empty cell.  At most max_rows rows
-- are shown (all when NULL); "total" (the array's length when NULL) above
-- the rows shown says how many were left out.
CREATE FUNCTION biocrypt.report_table(id text, rows json, total bigint, empty text,
		max_rows integer DEFAULT NULL)
	RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN coalesce(json_array_length(rows), 0) = 0 THEN
		'<p class="none" id="' || biocrypt.html_escape(id) || '">'
			|| biocrypt.html_escape(empty) || '</p>'
	ELSE
		'<table id="' || biocrypt.html_escape(id) || '"><thead><tr>'
		|| (SELECT string_agg('<th>' || biocrypt.html_escape(h.k) || '</th>', '' ORDER BY h.n)
			FROM json_object_keys(rows -> 0) WITH ORDINALITY AS h(k, n))
		|| '</tr></thead><tbody>'
		|| coalesce((SELECT string_agg('<tr>'
				|| (SELECT string_agg(CASE WHEN json_typeof(c.v) = 'number' THEN '<td class="n">'
										WHEN c.v #>> '{}' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}'
											THEN '<td class="t">'
										ELSE '<td>' END
									  || coalesce(biocrypt.html_escape(c.v #>> '{}'), '') || '</td>',
									  '' ORDER BY c.n)
					FROM json_each(x.r) WITH ORDINALITY AS c(k, v, n))
				|| '</tr>', E'\n' ORDER BY x.n)
			FROM json_array_elements(rows) WITH ORDINALITY AS x(r, n)
			WHERE max_rows IS NULL OR x.n <= max_rows), '')
		|| '</tbody></table>'
		|| CASE WHEN coalesce(total, json_array_length(rows))
				> least(json_array_length(rows), coalesce(max_rows, json_array_length(rows))) THEN
			'<p class="more">The first '
			|| least(json_array_length(rows), coalesce(max_rows, json_array_length(rows)))
			|| ' of ' || coalesce(total, json_array_length(rows))
			|| ' rows (max_rows); the query in docs/compliance.md lists them all.</p>'
			ELSE '' END
	END
$$;
COMMENT ON FUNCTION biocrypt.report_table(text, json, bigint, text, integer) IS 'compliance_report''s HTML table of a JSON array of objects (keys in order are the headings), every value escaped';

-- an inline SVG chart of stacked bars: one bar per bucket (labels), one
-- colour per series, bars a JSON array of {"b": bucket number from 1,
-- "s": series, "n": count}; the eight largest series are named in the
-- legend, the rest stacked as "other"
CREATE FUNCTION biocrypt.report_chart(id text, title text, axis text, labels text[], bars json)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $chart$
DECLARE
	-- the plot area, and the legend to its right
	x0 constant int := 100;
	y0 constant int := 36;
	pw constant int := 680;
	ph constant int := 220;
	lx constant int := 100 + 680 + 28;
	colours constant text[] := ARRAY['#1f5fa8', '#e0731b', '#2e8b3a', '#c62f2f', '#7b4fb0',
		'#8c564b', '#d64fa0', '#138a9e', '#7f7f7f'];
	nb int := coalesce(cardinality(labels), 0);
	names text[];
	peak numeric;
	raw numeric;
	mag numeric;
	step numeric;
	ymax numeric;
	bw numeric;
	every int;
	svg text;
	r record;
	cum numeric := 0;
	last_b int := 0;
	h numeric;
BEGIN
	SELECT array_agg(s.s ORDER BY s.t DESC, s.s COLLATE "C") INTO names
	FROM (SELECT e ->> 's' AS s, sum((e ->> 'n')::bigint) AS t
		  FROM json_array_elements(coalesce(bars, '[]')) e GROUP BY 1) s;
	names := coalesce(names, '{}');
	IF cardinality(names) > 9 THEN
		names := names[1:8] || ('other (' || (cardinality(names) - 8) || ')');
	END IF;
	SELECT coalesce(max(t), 0) INTO peak
	FROM (SELECT sum((e ->> 'n')::bigint) AS t FROM json_array_elements(coalesce(bars, '[]')) e
		  GROUP BY e ->> 'b') s;
	-- a round step (1, 2 or 5 times a power of ten), at most five grid lines
	raw := greatest(peak / 4.0, 1);
	mag := power(10::numeric, floor(log(raw)));
	step := CASE WHEN raw <= mag THEN mag WHEN raw <= 2 * mag THEN 2 * mag
		WHEN raw <= 5 * mag THEN 5 * mag ELSE 10 * mag END;
	ymax := greatest(step * ceil(peak / step), step);
	bw := pw::numeric / greatest(nb, 1);
	svg := format('<svg id="%s" class="chart" data-buckets="%s" viewBox="0 0 1000 356" '
				  'role="img" aria-labelledby="%s-title"><title id="%s-title">%s</title>'
				  '<text class="chart-title" x="%s" y="16">%s</text>',
				  biocrypt.html_escape(id), nb, biocrypt.html_escape(id), biocrypt.html_escape(id),
				  biocrypt.html_escape(title), x0, biocrypt.html_escape(title));
	-- grid lines and the y axis's figures
	FOR r IN SELECT v FROM generate_series(0::numeric, ymax, step) v LOOP
		svg := svg || format('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>'
							 '<text class="tick" x="%s" y="%s" text-anchor="end">%s</text>',
							 x0, round(y0 + ph - r.v / ymax * ph, 2), x0 + pw,
							 round(y0 + ph - r.v / ymax * ph, 2), x0 - 6,
							 round(y0 + ph - r.v / ymax * ph + 4, 2), trim_scale(r.v));
	END LOOP;
	-- the bars: each bucket's series stacked in legend order
	FOR r IN SELECT (e ->> 'b')::int AS b,
				 least(coalesce(array_position(names, e ->> 's'), 9), 9) AS si,
				 sum((e ->> 'n')::bigint) AS n
			 FROM json_array_elements(coalesce(bars, '[]')) e
			 GROUP BY 1, 2 ORDER BY 1, 2 LOOP
		IF r.b <> last_b THEN
			cum := 0;
			last_b := r.b;
		END IF;
		h := r.n / ymax * ph;
		svg := svg || format('<rect class="bar" data-n="%s" x="%s" y="%s" width="%s" height="%s" '
							 'fill="%s"><title>%s: %s, %s</title></rect>',
							 r.n, round(x0 + (r.b - 1) * bw + bw * 0.12, 2),
							 round(y0 + ph - (cum / ymax * ph) - h, 2),
							 round(greatest(bw * 0.76, 0.5), 2), round(h, 2), colours[r.si],
							 biocrypt.html_escape(labels[r.b]), biocrypt.html_escape(names[r.si]), r.n);
		cum := cum + r.n;
	END LOOP;
	IF peak = 0 THEN
		svg := svg || format('<text class="empty" x="%s" y="%s" text-anchor="middle">'
							 'no accesses in the period</text>',
							 x0 + pw / 2, y0 + ph / 2);
	END IF;
	-- the axes, at most twelve bucket labels, the axis titles
	svg := svg || format('<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>', x0, y0, x0, y0 + ph)
		|| format('<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>', x0, y0 + ph, x0 + pw, y0 + ph);
	every := ceil(greatest(nb, 1) / 12.0);
	FOR r IN SELECT i FROM generate_series(1, nb, every) i LOOP
		svg := svg || format('<text class="label" text-anchor="end" '
							 'transform="translate(%s %s) rotate(-30)">%s</text>',
							 round(x0 + (r.i - 0.5) * bw, 2), y0 + ph + 14,
							 biocrypt.html_escape(labels[r.i]));
	END LOOP;
	svg := svg || format('<text class="axis-title" transform="translate(16 %s) rotate(-90)" '
						 'text-anchor="middle">accesses</text>',
						 y0 + ph / 2)
		|| format('<text class="axis-title" x="%s" y="%s" text-anchor="middle">%s</text>',
				  x0 + pw / 2, y0 + ph + 92, biocrypt.html_escape(axis));
	-- the legend
	FOR r IN SELECT n, s FROM unnest(names) WITH ORDINALITY AS l(s, n) LOOP
		svg := svg || format('<rect class="key" x="%s" y="%s" width="12" height="12" fill="%s"/>'
							 '<text class="legend" x="%s" y="%s">%s</text>',
							 lx, y0 + (r.n - 1) * 20, colours[r.n], lx + 18, y0 + (r.n - 1) * 20 + 10,
							 biocrypt.html_escape(CASE WHEN length(r.s) > 26 THEN left(r.s, 25) || '…'
												  ELSE r.s END));
	END LOOP;
	RETURN svg || '</svg>';
END
$chart$;
COMMENT ON FUNCTION biocrypt.report_chart(text, text, text, text[], json) IS 'compliance_report''s inline SVG chart: stacked bars per bucket and series, with axes, labels and a legend, every text escaped';

-- compliance_report's retention sections: the schedule, templates due in
-- the period and after (from template_inventory, which gives auditors each
-- template's due date from its header), purges done, overdue templates,
-- holds and erasures.  SECURITY INVOKER, as compliance_report.
CREATE FUNCTION biocrypt.report_retention(from_ts timestamptz, to_ts timestamptz, max_rows integer)
	RETURNS text
	LANGUAGE plpgsql VOLATILE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
	SET IntervalStyle = 'postgres'
AS $retention$
DECLARE
	ts constant text := 'YYYY-MM-DD HH24:MI:SS';
	per_column json;
	due json;
	due_total bigint;
	overdue json;
	overdue_total bigint;
	rows json;
	total bigint;
	html text;
BEGIN
	-- callable alone by the same roles: the same checks as compliance_report
	IF from_ts IS NULL OR to_ts IS NULL OR max_rows IS NULL THEN
		RAISE EXCEPTION 'biocrypt: a compliance report needs a period and max_rows'
			USING ERRCODE = 'null_value_not_allowed',
			HINT = 'Give both bounds of the period [from_ts, to_ts); leave max_rows out for its default of 1000.';
	END IF;
	IF from_ts > to_ts OR max_rows < 1 THEN
		RAISE EXCEPTION 'biocrypt: a compliance report needs a period that does not end before it '
			'starts, and max_rows of at least 1'
			USING ERRCODE = 'invalid_parameter_value',
			HINT = 'The period is [from_ts, to_ts); max_rows bounds each list.';
	END IF;

	-- one read of every stored template's header
	WITH inv AS MATERIALIZED (SELECT * FROM biocrypt.template_inventory)
	SELECT (SELECT json_agg(json_build_object('table', c.relation, 'column', c.column_name,
				'registered', c.registered, 'stored', c.stored,
				'due before the period', c.before, 'due in the period', c.within,
				'due after the period', c.after, 'expired, still stored', c.expired,
				'held', c.held) ORDER BY c.relation COLLATE "C", c.column_name COLLATE "C")
			FROM (SELECT i.relation::text AS relation, i.column_name::text AS column_name,
						 bool_and(i.registered) AS registered, count(*) AS stored,
						 count(*) FILTER (WHERE i.expires_at < from_ts) AS before,
						 count(*) FILTER (WHERE i.expires_at >= from_ts AND i.expires_at < to_ts) AS within,
						 count(*) FILTER (WHERE i.expires_at >= to_ts) AS after,
						 count(*) FILTER (WHERE i.expired) AS expired,
						 count(*) FILTER (WHERE i.held) AS held
				  FROM inv i GROUP BY 1, 2) c),
		(SELECT json_agg(d.j ORDER BY d.rn) FILTER (WHERE d.rn <= max_rows)
		 FROM (SELECT row_number() OVER (ORDER BY i.expires_at, i.relation::text COLLATE "C",
										 i.column_name COLLATE "C", i.subject COLLATE "C") AS rn,
					  json_build_object('table', i.relation::text, 'column', i.column_name,
						'subject', i.subject, 'enrolled', to_char(i.created_at, ts),
						'expires', to_char(i.expires_at, ts), 'purposes', array_to_string(i.purposes, ', '),
						'key state', i.key_state, 'held', i.held, 'registered', i.registered) AS j
			   FROM inv i WHERE i.expires_at >= from_ts AND i.expires_at < to_ts) d),
		(SELECT count(*) FROM inv i WHERE i.expires_at >= from_ts AND i.expires_at < to_ts),
		(SELECT json_agg(d.j ORDER BY d.rn) FILTER (WHERE d.rn <= max_rows)
		 FROM (SELECT row_number() OVER (ORDER BY i.expires_at, i.relation::text COLLATE "C",
										 i.column_name COLLATE "C", i.subject COLLATE "C") AS rn,
					  json_build_object('table', i.relation::text, 'column', i.column_name,
						'subject', i.subject, 'expired', to_char(i.expires_at, ts), 'held', i.held,
						'registered', i.registered) AS j
			   FROM inv i WHERE i.expired) d),
		(SELECT count(*) FROM inv i WHERE i.expired)
	INTO per_column, due, due_total, overdue, overdue_total;

	html := '<section id="retention"><h2>Retention</h2>'
		|| '<h3>Schedule (biocrypt.retention_schedule)</h3>'
		|| biocrypt.report_table('schedule',
			(SELECT json_agg(json_build_object('table', r.relation::text, 'column', r.column_name,
						'purposes', array_to_string(r.purposes, ', '), 'retention', r.retention::text,
						'on expiry', r.on_expiry, 'max retention', r.max_retention,
						'registered', to_char(r.registered_at, ts))
					ORDER BY r.relation::text COLLATE "C", r.column_name COLLATE "C")
			 FROM biocrypt.retention_schedule r), NULL, 'No column has a retention policy.', max_rows)
		|| '<h3>Templates stored now, by due date</h3>'
		|| '<p>From biocrypt.template_inventory, which gives auditors every stored template''s '
		|| 'expiry from its authenticated header (no decryption, no ciphertext). A template due '
		|| 'before now and still stored is overdue.</p>'
		|| biocrypt.report_table('due-by-column', per_column, NULL, 'No template is stored.', max_rows)
		|| '<h3>Templates due in the period</h3>'
		|| biocrypt.report_table('due-list', due, due_total, 'No stored template is due in the period.')
		|| '<h3>Overdue templates (biocrypt.overdue, now)</h3>'
		|| '<p>Past their expiry and still stored: the purge removes them at its next run '
		|| '(biocrypt.purge_interval), except those of subjects on legal hold.</p>'
		|| biocrypt.report_table('overdue-list', overdue, overdue_total, 'No overdue template.');

	-- purges and erasures done in the period: their audit rows
	SELECT json_agg(q.j ORDER BY q.id) FILTER (WHERE q.rn <= max_rows), count(*) INTO rows, total
	FROM (SELECT a.id, row_number() OVER (ORDER BY a.id) AS rn,
				 json_build_object('event', a.id, 'started', to_char(a.started_at, ts),
					'operation', a.operation, 'login role', a.session_role,
					'application', a.application_name, 'table', a.relation::text,
					'column', a.column_name, 'removed', a.templates_compared,
					'subjects (templates)',
					(SELECT string_agg((m ->> 'subject') || ' (' || coalesce(m ->> 'templates', '?') || ')', ', ')
					 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(a.matches) = 'array'
													THEN a.matches END) m
					 WHERE m ? 'subject'),
					'outcome', a.outcome || coalesce(' ' || a.sqlstate, ''),
					'transaction', a.xact_outcome) AS j
		  FROM biocrypt.audit_log a
		  WHERE a.operation IN ('purge', 'erase') AND a.outcome <> 'begun'
			  AND a.started_at >= from_ts AND a.started_at < to_ts) q;
	html := html || '<h3>Purges and erasures in the period</h3>'
		|| '<p>One row per registered column and run. A purge that removed nothing has no '
		|| 'subjects. <i>aborted</i> means the removal rolled back: the templates are still '
		|| 'there. A refused erasure (a legal hold) is <i>denied</i>. '
		|| (SELECT count(*) FROM biocrypt.erasures e WHERE e.erased_at >= from_ts AND e.erased_at < to_ts)
		|| ' subject(s) of biocrypt.erasures (kept as keyed hashes only) have their latest '
		|| 'erasure in the period.</p>'
		|| biocrypt.report_table('removal-list', rows, total, 'No purge or erasure in the period.');

	-- legal holds in force, and the holds placed or released in the period
	SELECT json_agg(q.j ORDER BY q.id) FILTER (WHERE q.rn <= max_rows), count(*) INTO rows, total
	FROM (SELECT a.id, row_number() OVER (ORDER BY a.id) AS rn,
				 json_build_object('event', a.id, 'started', to_char(a.started_at, ts),
					'login role', a.session_role, 'action', coalesce(a.matches -> 0, a.matches) ->> 'action',
					'subject', coalesce(a.matches -> 0, a.matches) ->> 'subject',
					'reason', coalesce(a.matches -> 0, a.matches) ->> 'reason',
					'outcome', a.outcome || coalesce(' ' || a.sqlstate, ''),
					'transaction', a.xact_outcome) AS j
		  FROM biocrypt.audit_log a
		  WHERE a.operation = 'hold' AND a.started_at >= from_ts AND a.started_at < to_ts) q;
	html := html || '<h3>Legal holds in force (biocrypt.holds)</h3>'
		|| biocrypt.report_table('hold-list',
			(SELECT json_agg(json_build_object('subject', h.subject, 'reason', h.reason,
						'held by', h.held_by, 'held since', to_char(h.held_at, ts))
					ORDER BY h.held_at, h.subject COLLATE "C")
			 FROM biocrypt.holds h), NULL, 'No legal hold is in force.', max_rows)
		|| '<h3>Holds placed and released in the period</h3>'
		|| biocrypt.report_table('hold-events', rows, total, 'No hold placed or released in the period.')
		|| '</section>';
	RETURN html;
END
$retention$;
COMMENT ON FUNCTION biocrypt.report_retention(timestamptz, timestamptz, integer) IS 'compliance_report''s retention sections: schedule, templates due, overdue, purges, erasures, holds';

-- The report.  SECURITY INVOKER: it reads only what its caller may read
-- (the audit log, verify_audit(), audit_head(), match_reviews,
-- template_inventory, holds, erasures, retention_schedule: a member of
-- biocrypt_auditor may read them all), so it can show nothing the caller
-- could not query, and a role without those privileges gets 42501 from
-- PostgreSQL.  It shows no ciphertext, no probe_hmac and no key material:
-- only audit columns, headers and the chain's verdict and head.  Times are
-- in UTC, whatever the session's TimeZone.
CREATE FUNCTION biocrypt.compliance_report(from_ts timestamptz, to_ts timestamptz,
		max_rows integer DEFAULT 1000)
	RETURNS text
	LANGUAGE plpgsql VOLATILE SECURITY INVOKER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
	SET IntervalStyle = 'postgres'
AS $report$
DECLARE
	ts constant text := 'YYYY-MM-DD HH24:MI:SS';
	unit text;
	step interval;
	fmt text;
	axis text;
	buckets timestamptz[];
	labels text[];
	chain record;
	head record;
	s record;
	rows json;
	total bigint;
	rows2 json;
	total2 bigint;
	page text;
BEGIN
	IF from_ts IS NULL OR to_ts IS NULL OR max_rows IS NULL THEN
		RAISE EXCEPTION 'biocrypt: a compliance report needs a period and max_rows'
			USING ERRCODE = 'null_value_not_allowed',
			HINT = 'Give both bounds of the period [from_ts, to_ts); leave max_rows out for its default of 1000.';
	END IF;
	IF NOT (isfinite(from_ts) AND isfinite(to_ts)) THEN
		RAISE EXCEPTION 'biocrypt: the period of a compliance report must have finite bounds'
			USING ERRCODE = 'invalid_parameter_value',
			HINT = 'For the whole log, start at the first row''s started_at.';
	END IF;
	IF from_ts > to_ts THEN
		RAISE EXCEPTION 'biocrypt: the period of a compliance report ends before it starts'
			USING ERRCODE = 'invalid_parameter_value',
			HINT = 'The period is [from_ts, to_ts): give from_ts no later than to_ts.';
	END IF;
	IF max_rows < 1 THEN
		RAISE EXCEPTION 'biocrypt: max_rows must be at least 1'
			USING ERRCODE = 'invalid_parameter_value',
			HINT = 'max_rows bounds each list of the report (default 1000).';
	END IF;

	-- the chart's bucket: the finest that gives at most about a hundred bars
	-- (at most 300 for the longest period a timestamptz can hold); seconds,
	-- since the interval between the type's extremes overflows
	SELECT v.u, v.s, v.f INTO unit, step, fmt
	FROM (VALUES (1, 'hour', interval '1 hour', 'YYYY-MM-DD HH24:00', 2),
				 (2, 'day', interval '1 day', 'YYYY-MM-DD', 92),
				 (3, 'week', interval '1 week', 'YYYY-MM-DD', 731),
				 (4, 'month', interval '1 month', 'YYYY-MM', 3653),
				 (5, 'year', interval '1 year', 'YYYY', 36525),
				 (6, 'decade', interval '10 years', 'YYYY', 365250),
				 (7, 'century', interval '100 years', 'YYYY', 3652500),
				 (8, 'millennium', interval '1000 years', 'YYYY', NULL)) v(o, u, s, f, days)
	WHERE v.days IS NULL
		OR extract(epoch FROM to_ts) - extract(epoch FROM from_ts) <= v.days::numeric * 86400
	ORDER BY v.o LIMIT 1;
	axis := unit || CASE WHEN unit = 'week' THEN ' (UTC, from Monday)' ELSE ' (UTC)' END;
	-- (the type's range ends in 294276 AD: a millennium before 4000 BC would
	-- begin before it, a step past 293000 AD could end after it)
	buckets := ARRAY(SELECT generate_series(date_trunc(unit, greatest(from_ts, '4000-01-01 00:00+00 BC')),
											least(to_ts - interval '1 microsecond', '293000-01-01 00:00+00'),
											step));
	labels := ARRAY(SELECT to_char(b, fmt) || CASE WHEN b < '0001-01-01 00:00+00' THEN ' BC' ELSE '' END
					FROM unnest(buckets) WITH ORDINALITY u(b, n) ORDER BY n);

	SELECT * INTO chain FROM biocrypt.verify_audit();
	SELECT * INTO head FROM biocrypt.audit_head();

	-- the period's figures, for the summary
	SELECT count(*) FILTER (WHERE a.outcome <> 'begun') AS accesses,
		count(*) FILTER (WHERE a.operation = 'identify' AND a.outcome <> 'begun') AS searches,
		count(*) FILTER (WHERE a.outcome = 'denied') AS denials,
		count(*) FILTER (WHERE a.operation = 'reveal' AND a.outcome <> 'begun') AS reveals,
		count(*) FILTER (WHERE a.operation = 'export' AND a.outcome <> 'begun') AS exports,
		-- removals not rolled back (committed, or still in progress)
		coalesce(sum(a.templates_compared) FILTER (WHERE a.operation = 'purge' AND a.outcome = 'ok'
			AND a.xact_outcome IS DISTINCT FROM 'aborted'), 0) AS purged,
		count(*) FILTER (WHERE a.operation = 'erase' AND a.outcome = 'ok'
			AND a.xact_outcome IS DISTINCT FROM 'aborted') AS erased,
		(SELECT count(*) FROM biocrypt.match_reviews r
		 WHERE r.searched_at >= from_ts AND r.searched_at < to_ts AND r.state = 'candidate') AS pending
	INTO s
	FROM biocrypt.audit_log a
	WHERE a.started_at >= from_ts AND a.started_at < to_ts;

	page := '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
		|| '<meta name="viewport" content="width=device-width, initial-scale=1">'
		|| '<title>biocrypt compliance report: ' || biocrypt.html_escape(current_database())
		|| ', ' || biocrypt.html_escape(from_ts::text) || ' to ' || biocrypt.html_escape(to_ts::text)
		|| '</title><style>' || $css$
body { font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1d2430;
  margin: 24px 32px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 6px; padding-bottom: 3px; border-bottom: 2px solid #1f5fa8; }
h3 { font-size: 15px; margin: 18px 0 4px; }
p { margin: 4px 0 8px; max-width: 70em; }
.meta { color: #4a5565; margin-bottom: 14px; }
.summary { display: flex; flex-wrap: wrap; gap: 12px; border: 1px solid #b8c2d0; border-radius: 6px;
  padding: 14px; background: #f5f7fa; }
.status { font-size: 20px; font-weight: bold; padding: 10px 16px; border-radius: 6px; color: #fff;
  min-width: 14em; }
.status.ok { background: #2e7d32; }
.status.broken { background: #c62828; }
.status small { display: block; font-size: 12px; font-weight: normal; }
.figure { background: #fff; border: 1px solid #cfd6e0; border-radius: 6px; padding: 6px 12px;
  min-width: 8em; }
.figure b { display: block; font-size: 20px; }
.figure.alert b { color: #c62828; }
.anchor { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
.hash { word-break: break-all; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 12.5px; }
th, td { border: 1px solid #9aa5b4; padding: 3px 7px; text-align: left; vertical-align: top;
  white-space: pre-line; }
th { background: #e3e9f1; }
tbody tr:nth-child(even) { background: #f6f8fb; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.t { white-space: nowrap; }
.none { color: #4a5565; font-style: italic; }
.more { color: #8a4b00; }
svg.chart { width: 100%; max-width: 1000px; height: auto; display: block; margin: 6px 0; }
svg .grid { stroke: #dde3ea; stroke-width: 1; }
svg .axis { stroke: #1d2430; stroke-width: 1.2; }
svg text { font-size: 11px; fill: #1d2430; }
svg .axis-title { font-size: 12px; font-weight: bold; }
svg .chart-title { font-size: 14px; font-weight: bold; }
svg .empty { font-size: 14px; fill: #4a5565; }
footer { margin-top: 30px; color: #4a5565; font-size: 12px; }
@page { size: A4; margin: 14mm; }
@media print { body { margin: 0; font-size: 11px; } table { font-size: 9.5px; }
  th, td { padding: 2px 4px; }
  h2, h3 { break-after: avoid; } tr, svg { break-inside: avoid; } }
$css$ || '</style></head><body>'
		|| '<h1>biocrypt compliance report</h1>'
		|| '<p class="meta">Database <b>' || biocrypt.html_escape(current_database()) || '</b>'
		|| coalesce(' on server <b>' || biocrypt.html_escape(nullif(current_setting('cluster_name'), ''))
					|| '</b>', '')
		|| coalesce(' (' || biocrypt.html_escape(host(inet_server_addr())) || ' port '
					|| inet_server_port() || ')', '')
		|| ', ' || biocrypt.html_escape(split_part(version(), ',', 1))
		|| '.<br>Period <b>' || biocrypt.html_escape(from_ts::text) || '</b> (included) to <b>'
		|| biocrypt.html_escape(to_ts::text) || '</b> (excluded). Generated <b>'
		|| to_char(clock_timestamp(), ts) || ' UTC</b> by role <b>'
		|| biocrypt.html_escape(session_user::text) || '</b>'
		|| CASE WHEN current_user <> session_user
			THEN ' (as <b>' || biocrypt.html_escape(current_user::text) || '</b>)' ELSE '' END
		|| '. All times are UTC.</p>';

	-- the summary: the chain's verdict, the head to compare with a
	-- published one, and the period's figures
	page := page || '<section id="summary"><div class="summary">'
		|| CASE WHEN chain.ok THEN '<div class="status ok" id="chain-status">Audit chain OK'
			ELSE '<div class="status broken" id="chain-status">Audit chain BROKEN' END
		|| '<small>biocrypt.verify_audit(): ' || chain.rows_checked || ' rows checked'
		|| coalesce(', first bad id ' || chain.first_bad_id, '') || '</small></div>'
		|| (SELECT string_agg(format('<div class="figure%s" id="fig-%s"><b>%s</b>%s</div>',
									 CASE WHEN f.alert AND f.v > 0 THEN ' alert' ELSE '' END, f.id, f.v, f.t),
							  '' ORDER BY f.o)
			FROM (VALUES (1, 'accesses', s.accesses, 'accesses', false),
						 (2, 'searches', s.searches, '1:N searches', false),
						 (3, 'pending', s.pending, 'candidates not yet decided', true),
						 (4, 'denials', s.denials, 'denials', true),
						 (5, 'reveals', s.reveals, 'reveals', true),
						 (6, 'exports', s.exports, 'exports', false),
						 (7, 'purged', s.purged, 'templates purged', false),
						 (8, 'erased', s.erased, 'erasures', false)) f(o, id, v, t, alert))
		|| '</div>';
	IF NOT chain.ok THEN
		page := page || '<p><b>The chain does not verify.</b> The ranges of ids that do not verify '
			|| '(altered: a row changed; unlinked: the link to the row before changed; missing: rows '
			|| 'removed) are below; docs/compliance.md, query 7a, says what to do.</p>'
			|| biocrypt.report_table('bad-ranges',
				(SELECT json_agg(json_build_object('chain', r ->> 'chain_id',
							'first id', (r ->> 'first_id')::bigint, 'last id', (r ->> 'last_id')::bigint,
							'problem', r ->> 'problem') ORDER BY (r ->> 'first_id')::bigint)
				 FROM jsonb_array_elements(chain.bad_ranges) r), NULL, 'No range listed.', max_rows);
	END IF;
	page := page || '<h3>Anchor (biocrypt.audit_head())</h3>'
		|| CASE WHEN head.id IS NULL
			THEN '<p class="none" id="anchor">This server''s chain has no rows yet.</p>'
		ELSE '<p id="anchor" class="anchor">chain ' || biocrypt.html_escape(head.chain_id)
			|| ' &#183; id <b>' || head.id || '</b> &#183; row_hash <span class="hash">'
			|| encode(head.row_hash, 'hex') || '</span> &#183; written ' || to_char(head.ended_at, ts)
			|| ' UTC</p><p>Compare it with the heads published earlier (query 7b): a published row '
			|| 'that is no longer in the log means its tail was removed. The chain is checked '
			|| 'whole, not only the period.</p>' END
		|| '</section>';

	-- accesses by purpose and by role over time: both charts and the table
	-- count the same rows (one per access: completions, not begun rows)
	page := page || '<section id="accesses"><h2>Accesses by purpose and by role</h2>'
		|| '<p>Every row of the audit log started in the period, begun rows left out (an access '
		|| 'that decrypts has a begun row and a completion; it counts once), per ' || unit
		|| '. A NULL purpose means none was declared.</p>'
		|| biocrypt.report_chart('chart-purpose', 'Accesses per ' || unit || ' by purpose', axis, labels,
			(SELECT json_agg(json_build_object('b', array_position(buckets, g.b), 's', g.s, 'n', g.n))
			 FROM (SELECT date_trunc(unit, a.started_at) AS b,
						  coalesce(a.purpose, '(no purpose)') AS s, count(*) AS n
				   FROM biocrypt.audit_log a
				   WHERE a.started_at >= from_ts AND a.started_at < to_ts AND a.outcome <> 'begun'
				   GROUP BY 1, 2) g))
		|| biocrypt.report_chart('chart-role', 'Accesses per ' || unit || ' by login role', axis, labels,
			(SELECT json_agg(json_build_object('b', array_position(buckets, g.b), 's', g.s, 'n', g.n))
			 FROM (SELECT date_trunc(unit, a.started_at) AS b,
						  coalesce(a.session_role::text, '(unknown)') AS s, count(*) AS n
				   FROM biocrypt.audit_log a
				   WHERE a.started_at >= from_ts AND a.started_at < to_ts AND a.outcome <> 'begun'
				   GROUP BY 1, 2) g));
	SELECT json_agg(q.j ORDER BY q.rn) FILTER (WHERE q.rn <= max_rows), count(*) INTO rows, total
	FROM (SELECT row_number() OVER (ORDER BY g.b, g.sr COLLATE "C", g.er COLLATE "C",
										g.p COLLATE "C", g.op COLLATE "C") AS rn,
				 json_build_object(axis, to_char(g.b, fmt), 'login role', g.sr, 'effective role', g.er,
								   'purpose', g.p, 'operation', g.op, 'accesses', g.n,
								   'templates', g.t, 'failed', g.f) AS j
		  FROM (SELECT date_trunc(unit, a.started_at) AS b, a.session_role::text AS sr,
					   a.effective_role::text AS er, a.purpose AS p, a.operation AS op, count(*) AS n,
					   sum(a.templates_compared) AS t,
					   count(*) FILTER (WHERE a.outcome NOT IN ('ok', 'begun')) AS f
				FROM biocrypt.audit_log a
				WHERE a.started_at >= from_ts AND a.started_at < to_ts AND a.outcome <> 'begun'
				GROUP BY 1, 2, 3, 4, 5) g) q;
	page := page || biocrypt.report_table('access-counts', rows, total, 'No accesses in the period.')
		|| '</section>';

	-- every 1:N search with its candidates and their review state
	SELECT json_agg(q.j ORDER BY q.id) FILTER (WHERE q.rn <= max_rows), count(*) INTO rows, total
	FROM (SELECT a.id, row_number() OVER (ORDER BY a.id) AS rn,
				 json_build_object('event', a.id, 'started', to_char(a.started_at, ts),
					'login role', a.session_role, 'application', a.application_name,
					'purpose', a.purpose, 'gallery', a.relation::text,
					'search', concat_ws(', ', 'k ' || a.k, a.metric, 'max ' || a.threshold),
					'compared', a.templates_compared,
					'outcome', a.outcome || coalesce(' ' || a.sqlstate, ''),
					'candidates: rank, subject, distance, state (reviewers)',
					(SELECT string_agg(r.rank || '. ' || r.subject || '  '
						|| CASE WHEN r.distance IS NULL THEN ''
							WHEN r.distance::text IN ('NaN', 'Infinity', '-Infinity') THEN r.distance::text
							ELSE round(r.distance::numeric, 6)::text END
						|| '  ' || r.state
						|| coalesce(' (' || array_to_string(r.reviewers, ', ') || ')', ''),
						E'\n' ORDER BY r.rank)
					 FROM biocrypt.match_reviews r
					 WHERE r.chain_id = a.chain_id AND r.event_id = a.id)) AS j
		  FROM biocrypt.audit_log a
		  WHERE a.operation = 'identify' AND a.outcome <> 'begun'
			  AND a.started_at >= from_ts AND a.started_at < to_ts) q;
	page := page || '<section id="searches"><h2>1:N searches and their review</h2>'
		|| '<p>Every identify() in the period (its completion row), with each candidate it '
		|| 'returned and the candidate''s state in biocrypt.match_reviews: <i>candidate</i> (not '
		|| 'yet decided), <i>confirmed</i> (by biocrypt.required_confirmations reviewers) or '
		|| '<i>rejected</i>. Refused searches are denials, below.</p>'
		|| biocrypt.report_table('search-list', rows, total, 'No 1:N search in the period.')
		|| '</section>';

	-- denials, then reveals and exports
	SELECT json_agg(q.j ORDER BY q.id) FILTER (WHERE q.rn <= max_rows), count(*) INTO rows, total
	FROM (SELECT a.id, row_number() OVER (ORDER BY a.id) AS rn,
				 json_build_object('event', a.id, 'started', to_char(a.started_at, ts),
					'login role', a.session_role, 'effective role', a.effective_role,
					'application', a.application_name, 'client', host(a.client_addr),
					'operation', a.operation, 'relation', a.relation::text, 'purpose', a.purpose,
					'sqlstate', a.sqlstate, 'request', a.matches::text) AS j
		  FROM biocrypt.audit_log a
		  WHERE a.outcome = 'denied' AND a.started_at >= from_ts AND a.started_at < to_ts) q;
	SELECT json_agg(q.j ORDER BY q.id) FILTER (WHERE q.rn <= max_rows), count(*) INTO rows2, total2
	FROM (SELECT a.id, row_number() OVER (ORDER BY a.id) AS rn,
				 json_build_object('event', a.id, 'started', to_char(a.started_at, ts),
					'login role', a.session_role, 'effective role', a.effective_role,
					'application', a.application_name, 'operation', a.operation,
					'relation', a.relation::text, 'column', a.column_name,
					'templates', a.templates_compared,
					'subjects', (SELECT string_agg(m ->> 'subject', ', ')
								 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(a.matches) = 'array'
															   THEN a.matches END) m),
					'outcome', a.outcome || coalesce(' ' || a.sqlstate, ''),
					'transaction', a.xact_outcome) AS j
		  FROM biocrypt.audit_log a
		  WHERE a.operation IN ('reveal', 'export') AND a.outcome <> 'begun'
			  AND a.started_at >= from_ts AND a.started_at < to_ts) q;
	page := page || '<section id="denials"><h2>Denials</h2>'
		|| '<p>Accesses and requests biocrypt refused (outcome <i>denied</i>): a purpose not '
		|| 'declared, not enrolled or not granted (42501), a spent score budget (53400), a reveal '
		|| 'not allowed, an administrative request refused (its request in the last column). '
		|| 'Calls PostgreSQL refused for want of a privilege are only in the server log.</p>'
		|| biocrypt.report_table('denial-list', rows, total, 'No denial in the period.')
		|| '<h2>Reveals and exports</h2>'
		|| '<p>A reveal returned plaintext templates to an administrator (their subjects are '
		|| 'listed); an export (COPY ... TO, pg_dump) copied ciphertext out.</p>'
		|| biocrypt.report_table('reveal-export-list', rows2, total2, 'No reveal or export in the period.')
		|| '</section>';

	page := page || biocrypt.report_retention(from_ts, to_ts, max_rows)
		|| '<footer>Produced by biocrypt.compliance_report() with the privileges of role '
		|| biocrypt.html_escape(current_user::text) || ': it shows what that role may query, '
		|| 'and no ciphertext, probe or key. docs/compliance.md explains every section and gives '
		|| 'the query behind it.</footer></body></html>';
	RETURN page;
END
$report$;
COMMENT ON FUNCTION biocrypt.compliance_report(timestamptz, timestamptz, integer) IS 'one self-contained HTML page for auditors on the period [from_ts, to_ts): chain status and head, accesses by purpose and role (charts and table), 1:N searches and their review, denials, reveals, exports, retention due and done, overdue templates, holds, erasures';

REVOKE ALL ON FUNCTION biocrypt.html_escape(text),
	biocrypt.report_table(text, json, bigint, text, integer),
	biocrypt.report_chart(text, text, text, text[], json),
	biocrypt.report_retention(timestamptz, timestamptz, integer),
	biocrypt.compliance_report(timestamptz, timestamptz, integer)
	FROM PUBLIC;
-- the helpers run with the caller's privileges inside compliance_report,
-- so its callers need them too
GRANT EXECUTE ON FUNCTION biocrypt.html_escape(text),
	biocrypt.report_table(text, json, bigint, text, integer),
	biocrypt.report_chart(text, text, text, text[], json),
	biocrypt.report_retention(timestamptz, timestamptz, integer),
	biocrypt.compliance_report(timestamptz, timestamptz, integer)
	TO biocrypt_auditor, biocrypt_admin;
