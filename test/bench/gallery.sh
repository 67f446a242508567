#!/bin/bash
# biocrypt warm-gallery benchmark (issue 13; Debian 12, as root; see
# test/bench/README.md).
#
# Starts a throwaway cluster as the postgres user (cluster.sh) and measures,
# in one run, for each N (512-d templates from gen.c; 2048-bit masked iris
# codes):
#   cold identify (biocrypt.enable_gallery = off), f16;
#   warm identify through a biocrypt_gallery index, f16, f32, i8 (k = 10,
#     cosine); warm iris, no shift and +-8 shifts;
#   ORDER BY tpl <=> probe LIMIT 10 through the index, f16;
#   the C floor (gallery_floor.c): the server's batch kernel and a top-k
#     over a dense plaintext array of the same templates, one process;
#   the first search of a backend that never touched the gallery (a new
#     connection each time) and, in it, the second one;
#   warming f16 from cold: biocrypt.warm() after a restart;
#   shared memory per template (biocrypt.galleries bytes / templates /
#     payload bytes);
#   enrolment rate (INSERT ... SELECT biocrypt.protect()) into a table with
#     a gallery index against one without.
# Prints the targets of issue 13 met or missed, writes results.csv, raw.csv
# and gallery.png (ns/template against N) under
# test/bench/results/<UTC timestamp>-gallery/.
#
# Environment:
#   BENCH_QUICK=1               N = 10k and 100k only (default adds 1M)
#   BENCH_SIZES="..."           the sizes N (overrides BENCH_QUICK)
#   BENCH_REPS=5                timed repetitions per figure (median; >= 5), after 1 warm-up
#   BENCH_SHARED_BUFFERS=4GB    holds the 1M f32 table and its index
#   BENCH_GALLERY_MEMORY=3GB    biocrypt.gallery_memory (1M f32 warm is ~2.1 GB)
#   BENCH_GALLERY_HUGE_PAGES=try  biocrypt.gallery_huge_pages (off, try, on): run
#                               twice, off and on, to compare the first search
#   BENCH_ENROL_N=20000         rows of the enrolment-rate figure
#   BENCH_ENROL_LIMIT=600       seconds: a table whose enrolment through protect()
#                               would take longer is filled by copying the
#                               envelopes of its first 100,000 rows under other ids
#   BENCH_UNIQUE=               at most this many templates per table enrolled with
#                               protect(), the rest copies (unset: as BENCH_ENROL_LIMIT says)
#   PG_CONFIG=pg_config         the installation to build for and run
#   BENCH_SKIP_INSTALL=1        do not build and install the extension
set -euo pipefail

START=$SECONDS
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$SRC/test/bench"
PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BIN=$("$PG_CONFIG" --bindir)
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	SIZES=${BENCH_SIZES:-"10000 100000"}
else
	SIZES=${BENCH_SIZES:-"10000 100000 1000000"}
fi
REPS=${BENCH_REPS:-5}
SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-4GB}
GALLERY_MEMORY=${BENCH_GALLERY_MEMORY:-3GB}
HUGE_PAGES=${BENCH_GALLERY_HUGE_PAGES:-try}
ENROL_N=${BENCH_ENROL_N:-20000}
ENROL_LIMIT=${BENCH_ENROL_LIMIT:-600}
UNIQUE=${BENCH_UNIQUE:-}
FIRST_CHUNK=100000
DIMS=512
SEED=42

if [ "$(id -u)" -ne 0 ]; then
	echo "gallery.sh: run as root (the server itself runs as postgres)" >&2
	exit 2
fi
for v in REPS ENROL_N ENROL_LIMIT; do
	case ${!v} in '' | *[!0-9]* | 0) echo "gallery.sh: $v must be a positive integer, not '${!v}'" >&2; exit 2 ;; esac
done
[ "$REPS" -ge 5 ] || { echo "gallery.sh: BENCH_REPS must be at least 5" >&2; exit 2; }
case $UNIQUE in *[!0-9]*) echo "gallery.sh: bad BENCH_UNIQUE '$UNIQUE'" >&2; exit 2 ;; esac
for n in $SIZES; do
	case $n in '' | *[!0-9]* | 0) echo "gallery.sh: bad size '$n'" >&2; exit 2 ;; esac
done
# (word splitting of $SIZES is intended: plain numbers, checked above)
# shellcheck disable=SC2086
SIZES=$(printf '%s\n' $SIZES | sort -n | uniq | xargs)
NMAX=${SIZES##* }

if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then
	make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
fi
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "gallery.sh: installing gnuplot-nox for the plot"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null; } ||
		echo "gallery.sh: could not install gnuplot-nox; no PNG will be written" >&2
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$BENCH/results/$STAMP-gallery"
mkdir -p "$RES"
DIR=$(mktemp -d /tmp/biocrypt-bench-gallery.XXXXXX)
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
server() { as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w "$@" >/dev/null; }

# the data generator and the C floor, built from this tree (Makefile
# targets) and copied, so a rebuild in the tree during the run changes nothing
make -C "$SRC" -s PG_CONFIG="$PG_CONFIG" test/bench/gallery_floor test/bench/gen >/dev/null
mkdir "$DIR/bin"
install -m 755 "$BENCH/gallery_floor" "$BENCH/gen" "$DIR/bin/"

PATH="$PG_BIN:$PATH" bench_cluster "$SHARED_BUFFERS"
cat >>"$DIR/data/postgresql.conf" <<CONF
biocrypt.purpose = 'verification'
biocrypt.gallery_memory = '$GALLERY_MEMORY'
biocrypt.gallery_huge_pages = '$HUGE_PAGES'
plan_cache_mode = force_generic_plan
CONF
PATH="$PG_BIN:$PATH" bench_so_info
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
server start
as_pg "$PG_BIN/psql" -h "$DIR" -d postgres -X -q -c "CREATE DATABASE bench"
pg -f "$BENCH/bench.sql"
pg -f "$BENCH/gallery.sql"
SIMD=$(pg -At -c "SELECT biocrypt.simd_path()")
log "cluster up in $DIR (shared_buffers $SHARED_BUFFERS, gallery_memory $GALLERY_MEMORY, kernel path $SIMD); sizes: $SIZES; $REPS reps"

# check FORMAT N WHAT SQL-BOOLEAN DETAIL-SQL: recorded in bench.gcheck
check() {
	pg -c "INSERT INTO bench.gcheck SELECT '$1', $2, '$3', coalesce(($4), false), ($5)::text"
}

# --- enrolment rate: indexed against unindexed -------------------------------
log "enrolment rate: $ENROL_N f16 templates, with and without a gallery index"
"$DIR/bin/gen" vec "$ENROL_N" "$SEED" "$DIMS" | pg -c "COPY bench.stage_enrol FROM STDIN (FORMAT binary)"
pg <<SQL
CREATE TABLE bench.e_plain (id int, tpl protected_template);
CREATE TABLE bench.e_indexed (id int, tpl protected_template);
CREATE INDEX e_indexed_gal ON bench.e_indexed USING biocrypt_gallery (tpl);
SQL
for r in $(seq 0 "$REPS"); do
	# which goes first alternates
	order="plain indexed"
	[ $((r % 2)) -eq 1 ] || order="indexed plain"
	for m in $order; do
		pg -c "TRUNCATE bench.e_$m"
		pg -o /dev/null -c "SELECT bench.time_stmt('f16', $ENROL_N, 'enrol_$m', $r, \$q\$
			INSERT INTO bench.e_$m SELECT id, biocrypt.protect(emb, 'subject-' || lpad(id::text, 8, '0'),
				format => 'f16') FROM bench.stage_enrol \$q\$)"
	done
done
check f16 "$ENROL_N" "enrolled rows in the index" \
	"(SELECT count(*) FROM bench.e_indexed) = $ENROL_N AND (SELECT biocrypt.warm('bench.e_indexed_gal')) = $ENROL_N" "NULL"
pg -c "DROP TABLE bench.e_plain, bench.e_indexed"

# --- a table per format ------------------------------------------------------
# fill FORMAT N STAGE EXPR: bench.t_FORMAT_N (id, tpl) with N rows, EXPR the
# enrolment of a staging row; through protect() for the first rows, the
# rest too unless that would take longer than ENROL_LIMIT s (or BENCH_UNIQUE
# says otherwise): then copies of the first rows' envelopes under other ids.
fill() {
	local f=$1 n=$2 stage=$3 expr=$4 t="bench.t_$1_$2" first secs u
	first=$n
	[ "$first" -le "$FIRST_CHUNK" ] || first=$FIRST_CHUNK
	[ -z "$UNIQUE" ] || [ "$first" -le "$UNIQUE" ] || first=$UNIQUE
	pg -c "CREATE TABLE $t (id int, tpl protected_template)"
	t0=$(now)
	pg -c "INSERT INTO $t SELECT id, $expr FROM $stage WHERE id <= $first"
	secs=$(since "$t0")
	pg -c "INSERT INTO bench.enrol VALUES ('protect', '$f', $n, $first, $secs)"
	u=$first
	if [ "$n" -gt "$first" ]; then
		if [ -z "$UNIQUE" ] && awk -v s="$secs" -v a="$first" -v n="$n" -v l="$ENROL_LIMIT" 'BEGIN { exit !(s * n / a <= l) }'; then
			t0=$(now)
			pg -c "INSERT INTO $t SELECT id, $expr FROM $stage WHERE id > $first"
			pg -c "INSERT INTO bench.enrol VALUES ('protect', '$f', $n, $((n - first)), $(since "$t0"))"
			u=$n
		else
			log "N=$n $f: protect() of $first rows took ${secs}s; the other $((n - first)) rows are copies of their envelopes"
			t0=$(now)
			pg -c "INSERT INTO $t SELECT k * $first + id, tpl FROM $t, generate_series(1, ($n - 1) / $first) k
				   WHERE k * $first + id <= $n"
			pg -c "INSERT INTO bench.enrol VALUES ('copy envelopes', '$f', $n, $((n - first)), $(since "$t0"))"
		fi
	fi
	pg -c "INSERT INTO bench.gfill VALUES ('$f', $n, $u)"
	t0=$(now)
	pg -c "CREATE INDEX t_$1_$2_gal ON $t USING biocrypt_gallery (tpl)"
	pg -c "INSERT INTO bench.enrol VALUES ('CREATE INDEX', '$f', $n, $n, $(since "$t0"))"
	pg -c "VACUUM ANALYZE $t"
	pg -c "CHECKPOINT"
}

# warm FORMAT N: prewarm table and index, warm the gallery, note its memory
warm() {
	local f=$1 n=$2 t="bench.t_$1_$2"
	pg -o /dev/null -c "SELECT pg_prewarm('$t'), pg_prewarm('${t}_gal')"
	check "$f" "$n" "biocrypt.warm() holds every template" "(SELECT biocrypt.warm('${t}_gal')) = $n" "NULL"
	pg -c "INSERT INTO bench.gmem SELECT '$f', $n, templates, bytes, bench.payload_bytes('$f'), protection, state
		   FROM biocrypt.galleries WHERE index = '${t}_gal'::regclass"
}

# warm_identify LABEL N TABLE STMT: the prepared search, then checks that
# the warm form served every execution (scans and templates compared)
warm_identify() {
	local label=$1 n=$2 t=$3 stmt=$4
	pg -o /dev/null <<SQL
SELECT scans AS s0, compared AS c0 FROM bench.gal('${t}_gal') \gset
SELECT bench.run_prepared('$label', $n, 'warm_identify', \$q\$$stmt\$q\$, $REPS);
INSERT INTO bench.gcheck SELECT '$label', $n, 'warm form served identify()',
	scans = :s0 + $REPS + 1 AND compared = :c0 + ($REPS + 1)::bigint * $n AND state = 'warm',
	format('scans +%s, compared +%s, %s', scans - :s0, compared - :c0, state) FROM bench.gal('${t}_gal');
SQL
}

measure_f16() {
	local n=$1 t="bench.t_f16_$1"
	log "N=$n f16: ORDER BY through the index, cold identify"
	pg -o /dev/null <<SQL
SELECT bench.run_prepared('f16', $n, 'warm_orderby',
	\$q\$SELECT biocrypt.subject_of(tpl) FROM $t ORDER BY tpl <=> \$1 LIMIT 10\$q\$, $REPS);
SELECT scans AS s0 FROM bench.gal('${t}_gal') \gset
SET biocrypt.enable_gallery = off;
SELECT bench.run_prepared('f16', $n, 'cold_identify',
	\$q\$SELECT * FROM biocrypt.identify('$t', 'tpl', \$1, 10)\$q\$, $REPS);
SELECT bench.top('$t', 10) AS cold_top \gset
RESET biocrypt.enable_gallery;
INSERT INTO bench.gcheck SELECT 'f16', $n, 'enable_gallery = off left the gallery alone', scans = :s0,
	format('scans +%s', scans - :s0) FROM bench.gal('${t}_gal');
INSERT INTO bench.gcheck SELECT 'f16', $n, 'warm and cold identify: the same top 10',
	bench.top('$t', 10) = :'cold_top'::text[], :'cold_top';
INSERT INTO bench.gcheck SELECT 'f16', $n, 'top 1 is the probe row',
	(bench.top('$t', 10))[1] = 'subject-00000001', (bench.top('$t', 10))[1];
SQL
	# 2 cores: the backend and one gallery helper (biocrypt.gallery_workers =
	# 1); the untimed warm-up starts the helper, the pause lets it come up
	log "N=$n f16: warm identify and ORDER BY on 2 cores"
	pg -o /dev/null <<SQL
SET biocrypt.enable_gallery = off;
SELECT bench.top('$t', 10) AS cold_top \gset
RESET biocrypt.enable_gallery;
SET max_parallel_workers_per_gather = 1;
SELECT count(*) FROM biocrypt.identify('$t', 'tpl', (SELECT vec FROM bench.probe), 10);
SELECT pg_sleep(1);
SELECT bench.run_prepared('f16', $n, 'warm_identify_2cores',
	\$q\$SELECT * FROM biocrypt.identify('$t', 'tpl', \$1, 10)\$q\$, $REPS);
SELECT bench.run_prepared('f16', $n, 'warm_orderby_2cores',
	\$q\$SELECT biocrypt.subject_of(tpl) FROM $t ORDER BY tpl <=> \$1 LIMIT 10\$q\$, $REPS);
INSERT INTO bench.gcheck SELECT 'f16', $n, 'warm identify on 2 cores: the same top 10',
	bench.top('$t', 10) = :'cold_top'::text[], NULL;
RESET max_parallel_workers_per_gather;
SQL
	ex=$(pg <<SQL
SELECT vec AS probe_vec FROM bench.probe \gset
PREPARE ob(real[]) AS SELECT biocrypt.subject_of(tpl) FROM $t ORDER BY tpl <=> \$1 LIMIT 10;
EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) EXECUTE ob(:'probe_vec');
SQL
)
	printf -- '-- N=%s (a new connection: its first search)\n%s\n' "$n" "$ex" >>"$RES/explain.txt"
	check f16 "$n" "ORDER BY used the gallery index" \
		"$(grep -q "Index Scan using t_f16_${n}_gal" <<<"$ex" && echo true || echo false)" "NULL"

	log "N=$n f16: first search of new backends"
	for r in $(seq 0 "$REPS"); do
		pg -o /dev/null -c "SELECT bench.first_scan('f16', $n, '$t', $r)"
	done

	# after a restart: as the server finds the files (warm_from_cold), and
	# with the table and the index read into shared buffers first
	log "N=$n f16: warming after a restart"
	for r in $(seq 0 "$REPS"); do
		for m in warm_from_cold warm_prewarmed; do
			server restart -m fast
			check f16 "$n" "cold after restart ($m, rep $r)" \
				"(SELECT state FROM biocrypt.galleries WHERE index = '${t}_gal'::regclass) = 'cold'" "NULL"
			[ $m = warm_from_cold ] || pg -o /dev/null -c "SELECT pg_prewarm('$t'), pg_prewarm('${t}_gal')"
			pg -o /dev/null -c "SELECT bench.time_stmt('f16', $n, '$m', $r, \$q\$SELECT biocrypt.warm('${t}_gal')\$q\$)"
		done
	done
	check f16 "$n" "warm after the last restart" \
		"(SELECT templates FROM biocrypt.galleries WHERE index = '${t}_gal'::regclass) = $n" "NULL"
}

# the C floor over the same templates: gen's rows, quantised by the server's code
floor_c() {
	local kind=$1 f=$2 n=$3 width=$4
	"$DIR/bin/gen" "$kind" "$n" "$SEED" "$width" |
		"$DIR/bin/gallery_floor" --format "$f" --reps "$REPS" --dims "$DIMS" 2>>"$DIR/floor.txt" |
		pg -c "COPY bench.raw (format, n, method, rep, ms) FROM STDIN (FORMAT csv)"
}

for N in $SIZES; do
	log "N=$N: generating and loading staging rows"
	bench_stage "$N"

	for f in f16 f32 i8; do
		log "N=$N $f: enrolling, building the index"
		fill "$f" "$N" bench.stage_vec "biocrypt.protect(emb, 'subject-' || lpad(id::text, 8, '0'), format => '$f')"
		warm "$f" "$N"
		log "N=$N $f: warm identify"
		warm_identify "$f" "$N" "bench.t_${f}_$N" "SELECT * FROM biocrypt.identify('bench.t_${f}_$N', 'tpl', \$1, 10)"
		[ "$f" != f16 ] || measure_f16 "$N"
		pg -c "DROP TABLE bench.t_${f}_$N"
		pg -c "CHECKPOINT"
	done

	log "N=$N iris: enrolling, building the index"
	fill iris "$N" bench.stage_iris \
		"biocrypt.protect_bits(code, mask, 'subject-' || lpad(id::text, 8, '0'), layout => '{8,128,2}')"
	warm iris "$N"
	for s in 0 8; do
		log "N=$N iris: warm identify, max_shift $s"
		warm_identify "iris_s$s" "$N" "bench.t_iris_$N" \
			"SELECT * FROM biocrypt.identify('bench.t_iris_$N', 'tpl', \$2, 10, NULL, \$3, $s)"
		check "iris_s$s" "$N" "top 1 is the probe row" \
			"(bench.top_bits('bench.t_iris_$N', 10, $s))[1] = 'subject-00000001'" "(bench.top_bits('bench.t_iris_$N', 10, $s))[1]"
	done
	pg -c "DROP TABLE bench.t_iris_$N"
	pg -c "TRUNCATE bench.stage_vec, bench.stage_iris"
	pg -c "CHECKPOINT"

	log "N=$N: the C floor (f16, f32, i8, iris)"
	for f in f16 f32 i8; do floor_c vec "$f" "$N" "$DIMS"; done
	floor_c iris iris "$N" 2048

done

# --- report ----------------------------------------------------------------------
WALL=$((SECONDS - START))
log "measurements done; writing the report to $RES"
{
	echo "biocrypt warm-gallery benchmark (issue 13), $STAMP"
	echo "machine: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), swap devices: $(($(wc -l </proc/swaps) - 1)), HugePages_Total: $(awk '/HugePages_Total/ { print $2 }' /proc/meminfo), memlock limit of the server: $(runuser -u postgres -- sh -c 'ulimit -l') kB"
	echo "server: PostgreSQL $(pg -At -c 'SHOW server_version'), 1 backend, max_parallel_workers_per_gather = 0, jit = off, shared_buffers = $SHARED_BUFFERS, biocrypt.gallery_memory = $GALLERY_MEMORY, gallery_huge_pages = $HUGE_PAGES, kernel path $SIMD"
	echo "$SO_INFO"
	echo "load average at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg) (the run keeps 1 core busy; more means other work shared the machine)"
	echo "sizes: $SIZES; 512-d vectors (gen.c: unit Gaussian), 2048-bit iris codes with masks, layout {8,128,2}; probe = row 1"
	pg -At -c "SELECT format('N=%s %s: %s templates enrolled with protect(); %s', n, format, unique_templates,
				 CASE WHEN unique_templates < n THEN format('the other %s are copies of their envelopes under other ids (templates repeat; timing only)', n - unique_templates)
				 ELSE 'all distinct' END) FROM bench.gfill ORDER BY n, format"
	echo
	echo "method: every figure is the median of $REPS timed runs after 1 untimed warm-up, on 1 core."
	echo "  identify / ORDER BY: prepared statements (generic plan) executed with the probe as parameter under"
	echo "    EXPLAIN (ANALYZE, TIMING OFF); the figure is the server's Execution Time (bench.run_prepared)."
	echo "    warm identify = SELECT * FROM biocrypt.identify(t, 'tpl', \$1, 10) (cosine), after biocrypt.warm(index);"
	echo "    iris: identify(t, 'tpl', \$code, 10, NULL, \$mask, max_shift) with max_shift 0 and 8 (17 rotations);"
	echo "    cold identify = the same with SET biocrypt.enable_gallery = off (table scan, every template decrypted);"
	echo "    ORDER BY = SELECT biocrypt.subject_of(tpl) FROM t ORDER BY tpl <=> \$1 LIMIT 10 (index scan: explain.txt)."
	echo "  C floor: gallery_floor.c, one process: KernelVectorDistances / KernelBitsDistances in batches of 64 and"
	echo "    a top-10 heap over a dense, 64-byte-aligned plaintext array of the same templates (gen.c's rows"
	echo "    quantised by the server's QuantiseVector); CLOCK_MONOTONIC around each search."
	echo "  first search: a new connection each run, identify() under EXPLAIN (ANALYZE, TIMING OFF), Execution"
	echo "    Time of its first and of its second execution in that backend."
	echo "  warming: the server restarted (fast), then biocrypt.warm(index) in a new session, timed with"
	echo "    clock_timestamp() around it inside the server; warm_from_cold: the table's and the index's pages"
	echo "    come from the OS page cache; warm_prewarmed: pg_prewarm() of both first (not timed)."
	echo "  enrolment: INSERT INTO t SELECT id, biocrypt.protect(emb, ..., format => 'f16') FROM $ENROL_N staged rows,"
	echo "    into a table with a gallery index and one without (each TRUNCATEd before), timed with"
	echo "    clock_timestamp() around the statement inside the server; rate ratio = unindexed time / indexed time."
	echo "  shared memory: bytes / templates of biocrypt.galleries after warming, over the payload bytes"
	echo "    (f32 2048, f16 1024, i8 516, iris code + mask 512)."
	echo
	as_pg "$PG_BIN/psql" -h "$DIR" -d bench -X -q -v ON_ERROR_STOP=1 -P pager=off -P footer=off -P null=- <<SQL
\echo == targets of issue 13 (at the largest N of this run) ==
SELECT * FROM bench.targets($NMAX, $ENROL_N);
\echo == per format and N (ns per template; iris_s8: per person, 17 rotations) ==
SELECT * FROM bench.gdetail ORDER BY array_position(ARRAY['f16','f32','i8','iris_s0','iris_s8'], format), n;
\echo == shared memory of the warm forms ==
SELECT format, n, templates, bytes, protection, round(bytes::numeric / templates, 1) AS bytes_per_template,
	   payload, round(bytes::numeric / templates / payload, 3) AS per_payload
FROM bench.gmem ORDER BY n, format;
\echo == enrolment rate ($ENROL_N f16 templates; median ms) ==
SELECT method, reps, round(ms::numeric, 1) AS ms, round((n / ms * 1e3)::numeric, 0) AS templates_per_s
FROM bench.gmed WHERE method LIKE 'enrol%' ORDER BY method;
\echo == loading steps (wall seconds) ==
SELECT step, format, n, rows, round(seconds::numeric, 1) AS seconds FROM bench.enrol ORDER BY n, format, step;
\echo == spread of the repetitions (min and max, % of the median) ==
SELECT format, n, method, reps, round((100 * min_ms / ms)::numeric, 0) AS min_pct,
	   round((100 * max_ms / ms)::numeric, 0) AS max_pct FROM bench.gmed ORDER BY format, n, method;
\echo == checks ==
SELECT format, n, what, ok, detail FROM bench.gcheck ORDER BY n, format, what;
SQL
	echo
	echo "parallel: warm_identify_2cores and warm_orderby_2cores: the same searches with max_parallel_workers_per_gather = 1"
	echo "  (the backend and one gallery helper; galleries of 64k templates or more only, so at 10k both run on 1 core)."
	echo "wall time of the run: ${WALL}s"
} >"$RES/summary.txt"

pg -c "COPY (
	SELECT CASE WHEN method LIKE 'warm_identify' AND format LIKE 'iris%' THEN 'warm iris'
				ELSE replace(method, '_', ' ') END AS figure,
		   n AS \"N\", format, round(ns::numeric, 2) AS ns_per_template,
		   round(ms::numeric, 4) AS median_ms, round(min_ms::numeric, 4) AS min_ms,
		   round(max_ms::numeric, 4) AS max_ms, reps,
		   CASE WHEN method IN ('warm_identify', 'cold_identify', 'warm_orderby', 'warm_identify_2cores', 'warm_orderby_2cores') THEN 'EXPLAIN ANALYZE Execution Time, prepared'
				WHEN method IN ('first_scan', 'second_scan') THEN 'EXPLAIN ANALYZE Execution Time, new connection'
				WHEN method = 'floor' THEN 'gallery_floor.c CLOCK_MONOTONIC'
				ELSE 'clock_timestamp() in the server' END AS timing
	FROM bench.gmed
	ORDER BY 1, 3, 2) TO STDOUT WITH (FORMAT csv, HEADER)" >"$RES/results.csv"
pg -c "COPY (SELECT * FROM bench.raw ORDER BY format, n, method, rep) TO STDOUT WITH (FORMAT csv, HEADER)" >"$RES/raw.csv"
pg -c "COPY (SELECT * FROM bench.gcheck ORDER BY n, format, what) TO STDOUT WITH (FORMAT csv, HEADER)" >"$RES/checks.csv"
cp "$DIR/floor.txt" "$RES/floor.txt"

# --- plot: ns per template against N, f16 (and the other formats warm) -----------
if command -v gnuplot >/dev/null 2>&1; then
	for fm in f16:cold_identify f16:warm_identify f16:warm_orderby f16:floor f32:warm_identify i8:warm_identify f16:warm_identify_2cores; do
		pg -At -F ' ' -c "SELECT n, ns FROM bench.gmed WHERE format = '${fm%%:*}' AND method = '${fm#*:}' ORDER BY n" \
			>"$DIR/plot_${fm%%:*}_${fm#*:}.dat"
	done
	cat >"$DIR/plot.gp" <<GP
set terminal pngcairo size 1000,650 font ",11"
set output '$RES/gallery.png'
set logscale xy
set termoption noenhanced
set grid xtics ytics mytics lc rgb "#dddddd"
set xlabel "N templates (512-d)"
set ylabel "ns per template (1 core, median)"
set key outside right top
set title "biocrypt warm galleries: top-10 search, ns per template against N"
plot "$DIR/plot_f16_cold_identify.dat" using 1:2 with linespoints lw 2 pt 7 lc rgb "#d62728" title "cold identify f16", \
	 "$DIR/plot_f16_warm_identify.dat" using 1:2 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "warm identify f16", \
	 "$DIR/plot_f16_warm_orderby.dat" using 1:2 with linespoints lw 2 pt 7 lc rgb "#2ca02c" title "ORDER BY <=> LIMIT 10 f16", \
	 "$DIR/plot_f16_floor.dat" using 1:2 with linespoints lw 2 pt 6 dt 2 lc rgb "#000000" title "C floor f16", \
	 "$DIR/plot_f32_warm_identify.dat" using 1:2 with linespoints lw 1 pt 4 lc rgb "#9467bd" title "warm identify f32", \
	 "$DIR/plot_i8_warm_identify.dat" using 1:2 with linespoints lw 1 pt 4 lc rgb "#ff7f0e" title "warm identify i8", \
	 "$DIR/plot_f16_warm_identify_2cores.dat" using 1:2 with linespoints lw 2 pt 5 lc rgb "#17becf" title "warm identify f16, 2 cores"
GP
	gnuplot "$DIR/plot.gp" || echo "gallery.sh: gnuplot failed; no PNG" >&2
fi

cat "$RES/summary.txt"
echo
echo "results: $RES (summary.txt, results.csv, raw.csv, checks.csv, explain.txt, floor.txt, gallery.png)"
echo "total wall time: $((SECONDS - START))s"
if [ "$(pg -At -c "SELECT count(*) FROM bench.gcheck WHERE NOT ok")" != 0 ]; then
	echo "gallery.sh: some checks failed (see the checks table): the figures are not trustworthy" >&2
	exit 1
fi
