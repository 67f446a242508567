#!/bin/bash
# biocrypt threshold-calibration benchmark (issue 14; Debian 12, as root;
# see test/bench/README.md and docs/thresholds.md).
#
# Starts a throwaway cluster as the postgres user (cluster.sh) and, for each
# noise level, loads gen.c's "pairs" data (BENCH_CAL_SUBJECTS subjects x 2
# templates of 512-d unit embeddings, a subject's two templates noisy copies
# of one base vector) through biocrypt.protect() as f32 and f16, then runs
# biocrypt.calibrate() for each target false-match rate and sample size.
# Prints one table (threshold, measured FMR and FNMR, pairs, medians, and the
# server-side time of each call), and checks one calibration against a brute
# force in SQL over the same sample with biocrypt.template_distance().
# Writes summary.txt and results.csv under
# test/bench/results/<UTC timestamp>-calibrate/.
#
# Environment:
#   BENCH_CAL_SUBJECTS=10000    subjects per table (2 templates each)
#   BENCH_CAL_NOISE="1.0 1.5 2.0"  noise levels (gen pairs: |disturbance| / |base|)
#   BENCH_CAL_TARGETS="1e-2 1e-3 1e-4"   target_fmr values
#   BENCH_CAL_SAMPLES="2000 5000"        sample sizes (at most 5000)
#   BENCH_CAL_FORMATS="f32 f16"          protect() formats
#   BENCH_CAL_BRUTE=2000        sample of the SQL brute force (0: skip)
#   PG_CONFIG=pg_config         the installation to build for and run
#   BENCH_SKIP_INSTALL=1        do not build and install the extension
set -euo pipefail

START=$SECONDS
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$SRC/test/bench"
PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BIN=$("$PG_CONFIG" --bindir)
SUBJECTS=${BENCH_CAL_SUBJECTS:-10000}
NOISE=${BENCH_CAL_NOISE:-"1.0 1.5 2.0"}
TARGETS=${BENCH_CAL_TARGETS:-"1e-2 1e-3 1e-4"}
SAMPLES=${BENCH_CAL_SAMPLES:-"2000 5000"}
FORMATS=${BENCH_CAL_FORMATS:-"f32 f16"}
BRUTE=${BENCH_CAL_BRUTE:-2000}
DIMS=512
SEED=42

if [ "$(id -u)" -ne 0 ]; then
	echo "calibrate.sh: run as root (the server itself runs as postgres)" >&2
	exit 2
fi
for v in SUBJECTS BRUTE; do
	case ${!v} in '' | *[!0-9]*) echo "calibrate.sh: $v must be an integer, not '${!v}'" >&2; exit 2 ;; esac
done
# (word splitting of the lists is intended: each word is checked here)
# shellcheck disable=SC2086
for x in $NOISE $TARGETS; do
	case $x in '' | *[!0-9.e-]*) echo "calibrate.sh: bad number '$x'" >&2; exit 2 ;; esac
done
# shellcheck disable=SC2086
for x in $SAMPLES; do
	case $x in '' | *[!0-9]*) echo "calibrate.sh: bad sample '$x'" >&2; exit 2 ;; esac
done
# shellcheck disable=SC2086
for x in $FORMATS; do
	case $x in f32 | f16 | i8) ;; *) echo "calibrate.sh: bad format '$x'" >&2; exit 2 ;; esac
done

if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then
	make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$BENCH/results/$STAMP-calibrate"
mkdir -p "$RES"
DIR=$(mktemp -d /tmp/biocrypt-bench-calibrate.XXXXXX)
chmod 755 "$DIR"
chown postgres:postgres "$DIR"
as_pg() { runuser -u postgres -- "$@"; }
# shellcheck source=test/bench/cluster.sh
. "$BENCH/cluster.sh"
pg() { as_pg "$PG_BIN/psql" -h "$DIR" -d bench -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
	set +e
	as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT
log() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - START))s] $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# the generator, built from this tree and copied (a rebuild during the run
# changes nothing)
make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" test/bench/gen >/dev/null
mkdir "$DIR/bin"
install -m 755 "$BENCH/gen" "$DIR/bin/"

PATH="$PG_BIN:$PATH" bench_cluster 1GB
echo "biocrypt.purpose = 'verification'" >>"$DIR/data/postgresql.conf"
PATH="$PG_BIN:$PATH" bench_so_info
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
as_pg "$PG_BIN/psql" -h "$DIR" -d postgres -X -q -c "CREATE DATABASE bench"
pg <<'SQL'
CREATE EXTENSION biocrypt;
CREATE SCHEMA bench;
CREATE TABLE bench.stage (id int, subject int, emb real[]);
CREATE TABLE bench.enrol (noise text, format text, rows bigint, seconds float8);
CREATE TABLE bench.cal (noise text, format text, target float8, sample int,
	threshold float8, fmr float8, fnmr float8, templates int, subjects int,
	impostor_pairs bigint, genuine_pairs bigint, impostor_median float8,
	genuine_median float8, genuine_max float8, ms float8);
CREATE TABLE bench.brute (noise text, format text, sample int, pairs bigint,
	ms float8, impostor_pairs bigint, genuine_pairs bigint, fmr float8,
	fnmr float8, impostor_median float8, threshold float8, cal_fmr float8,
	cal_fnmr float8, cal_impostor_median float8);
-- one calibrate() call timed by the server's clock (clock_timestamp), its
-- summary kept
CREATE FUNCTION bench.calibrate(noise text, fmt text, tbl regclass, target float8, n int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
	r record;
BEGIN
	SELECT * INTO r FROM biocrypt.calibrate(tbl, 'tpl', target, 'cosine', n);
	INSERT INTO bench.cal VALUES (noise, fmt, target, n, r.threshold, r.fmr,
		r.fnmr, r.templates, r.subjects, r.impostor_pairs, r.genuine_pairs,
		r.impostor_median, r.genuine_median, r.genuine_max,
		extract(epoch FROM clock_timestamp() - t0) * 1000);
END $$;
-- the same sample as calibrate(): whole subjects in the order of the hash
-- calibrate.c draws by (hash_bytes_extended of the subject, seed 0, as
-- unsigned: hashtextextended hashes the same bytes), every pair scored by
-- template_distance() in SQL; FMR and FNMR at calibrate()'s threshold
CREATE FUNCTION bench.brute(noise text, fmt text, tbl regclass, n int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	ms float8;
	cr record;
	br record;
BEGIN
	SELECT * INTO cr FROM biocrypt.calibrate(tbl, 'tpl', 1e-3, 'cosine', n);
	EXECUTE format('CREATE TEMP TABLE s AS SELECT row_number() OVER () AS i, tpl,
		biocrypt.subject_of(tpl) AS subject FROM (SELECT tpl FROM %s
		ORDER BY hashtextextended(biocrypt.subject_of(tpl), 0) < 0,
			hashtextextended(biocrypt.subject_of(tpl), 0) LIMIT %s) x', tbl, n);
	t0 := clock_timestamp();
	CREATE TEMP TABLE d AS SELECT a.subject = b.subject AS genuine,
		biocrypt.template_distance(a.tpl, b.tpl, 'cosine') AS dist
		FROM s a JOIN s b ON a.i < b.i;
	ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
	SELECT count(*) FILTER (WHERE NOT genuine) AS imp,
		count(*) FILTER (WHERE genuine) AS gen,
		avg((dist <= cr.threshold)::int) FILTER (WHERE NOT genuine) AS fmr,
		avg((dist > cr.threshold)::int) FILTER (WHERE genuine) AS fnmr,
		count(*) AS pairs
		INTO br FROM d;
	INSERT INTO bench.brute VALUES (noise, fmt, n, br.pairs, ms, br.imp, br.gen,
		br.fmr, br.fnmr,
		(SELECT dist FROM d WHERE NOT genuine ORDER BY dist OFFSET br.imp / 2 LIMIT 1),
		cr.threshold, cr.fmr, cr.fnmr, cr.impostor_median);
	DROP TABLE s, d;
END $$;
SQL
SIMD=$(pg -At -c "SELECT biocrypt.simd_path()")
log "cluster up in $DIR (kernel path $SIMD); $SUBJECTS subjects x 2, noise: $NOISE; formats: $FORMATS"

for noise in $NOISE; do
	pg -c "TRUNCATE bench.stage"
	"$DIR/bin/gen" pairs "$SUBJECTS" "$SEED" "$DIMS" "$noise" 2 | pg -c "COPY bench.stage FROM STDIN (FORMAT binary)"
	for fmt in $FORMATS; do
		tbl="bench.t_${fmt}_n${noise//./_}"
		t0=$(now)
		pg -c "CREATE TABLE $tbl (id int PRIMARY KEY, tpl protected_template)" \
			-c "INSERT INTO $tbl SELECT id, biocrypt.protect(emb, 'subject-' || lpad(subject::text, 8, '0'),
				format => '$fmt') FROM bench.stage" \
			-c "VACUUM ANALYZE $tbl"
		pg -c "INSERT INTO bench.enrol VALUES ('$noise', '$fmt', $((SUBJECTS * 2)), $(since "$t0"))"
		log "noise $noise, $fmt: $((SUBJECTS * 2)) templates enrolled"
		for n in $SAMPLES; do
			for target in $TARGETS; do
				pg -c "SELECT bench.calibrate('$noise', '$fmt', '$tbl', $target, $n)" >/dev/null
			done
		done
		log "noise $noise, $fmt: calibrated"
		if [ "$BRUTE" -gt 0 ] && [ "$fmt" = "${FORMATS%% *}" ]; then
			pg -c "SELECT bench.brute('$noise', '$fmt', '$tbl', $BRUTE)" >/dev/null
			log "noise $noise, $fmt: brute force done"
		fi
	done
	# the plaintext leaves with its noise level; only protected templates stay
	pg -c "TRUNCATE bench.stage"
done
pg -c "DROP TABLE bench.stage"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

pg -A -F, -P footer=off -c "SELECT * FROM bench.cal ORDER BY noise, format, sample, target DESC" >"$RES/results.csv"
pg -A -F, -P footer=off -c "SELECT * FROM bench.brute ORDER BY noise, format" >"$RES/brute.csv"
{
	echo "biocrypt threshold calibration, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); kernel path $SIMD"
	echo "$SO_INFO"
	echo "server: $("$PG_BIN/postgres" --version); load average at start $LOAD_START, at end $LOAD_END"
	echo "data: gen pairs $SUBJECTS $SEED $DIMS <noise> 2 (seed $SEED), protect() per format, metric cosine"
	echo
	echo "Enrolment (INSERT ... SELECT biocrypt.protect(), VACUUM ANALYZE; wall time):"
	pg -P footer=off -c "SELECT noise, format, rows, round(seconds::numeric, 1) AS seconds FROM bench.enrol ORDER BY noise, format"
	echo "calibrate(): one call per row; ms = server time of the call (clock_timestamp around it in PL/pgSQL)"
	pg -P footer=off -c "SELECT noise, format AS fmt, target, sample,
		round(threshold::numeric, 4) AS threshold, fmr::numeric(10,6) AS fmr,
		fnmr::numeric(10,6) AS fnmr, impostor_pairs, genuine_pairs,
		round(impostor_median::numeric, 4) AS imp_median,
		round(genuine_median::numeric, 4) AS gen_median,
		round(genuine_max::numeric, 4) AS gen_max, round(ms::numeric) AS ms
		FROM bench.cal ORDER BY noise, format, sample, target DESC"
	if [ "$BRUTE" -gt 0 ]; then
		echo "Brute force in SQL: template_distance() over every pair of calibrate()'s sample,"
		echo "FMR and FNMR at calibrate()'s threshold for target 1e-3 (cal_ columns: calibrate's own):"
		pg -P footer=off -c "SELECT noise, format AS fmt, sample, pairs, round(ms::numeric) AS ms,
			impostor_pairs, genuine_pairs, fmr::numeric(10,6) AS fmr, cal_fmr::numeric(10,6) AS cal_fmr,
			fnmr::numeric(10,6) AS fnmr, cal_fnmr::numeric(10,6) AS cal_fnmr,
			round(impostor_median::numeric, 6) AS imp_median,
			round(cal_impostor_median::numeric, 6) AS cal_imp_median
			FROM bench.brute ORDER BY noise, format"
	fi
	echo "total run: $((SECONDS - START)) s"
} | tee "$RES/summary.txt"
log "results in $RES"
