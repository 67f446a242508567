#!/bin/bash
# biocrypt 1:N benchmark (Debian 12, as root; see test/bench/README.md).
#
# Starts a throwaway cluster as the postgres user, enrols N synthetic
# templates per format (f32, f16, i8 512-d; 2048-bit iris codes with masks,
# layout {8,128,2}) for each N, and measures in one run, side by side:
# identify(), ORDER BY <distance> LIMIT 10, the in-server floors (count(*),
# count(tpl)) and floor (a) from floor.c (parse + AEAD decrypt + batch
# kernel in plain C, plus kernel-only throughput).  Prints a table with
# PASS/MISS per target and writes CSV, PNG and summary.txt under
# test/bench/results/<timestamp>/.
#
# Environment:
#   BENCH_SIZES="10000 100000"   N values (add 1000000 when time allows)
#   BENCH_REPS=7                 timed repetitions per figure (median), after 1 warm-up
#   BENCH_SHARED_BUFFERS=4GB     must hold the largest table (1M f32 is ~2.7 GB)
#   BENCH_SKIP_INSTALL=1         do not run test/install.sh (extension already installed)
#   BENCH_PERF=1                 also perf-profile identify and ORDER BY at the largest N
#   BENCH_PERF_FORMATS="f16"     formats to profile (f32, f16, i8)
set -euo pipefail

START=$SECONDS
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$SRC/test/bench"
SIZES=${BENCH_SIZES:-"10000 100000"}
REPS=${BENCH_REPS:-7}
SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-4GB}
PG_BIN=/usr/lib/postgresql/15/bin
VEC_FORMATS="f32 f16 i8"
DIMS=512
SEED=42

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: run as root (the server itself runs as postgres)" >&2
	exit 2
fi
for n in $SIZES; do
	case $n in '' | *[!0-9]*) echo "run.sh: bad size '$n'" >&2; exit 2 ;; esac
done
# (word splitting of $SIZES is intended: a list of plain numbers, checked above)
# shellcheck disable=SC2086
SIZES=$(printf '%s\n' $SIZES | sort -n | uniq | xargs)
# shellcheck disable=SC2086
NMIN=$(printf '%s\n' $SIZES | head -1)
# shellcheck disable=SC2086
NMAX=$(printf '%s\n' $SIZES | tail -1)

if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then
	bash "$SRC/test/install.sh"
fi
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "run.sh: installing gnuplot-nox for the plot"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null; } ||
		echo "run.sh: could not install gnuplot-nox; no PNG will be written" >&2
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$BENCH/results/$STAMP"
mkdir -p "$RES"
DIR=$(mktemp -d /tmp/biocrypt-bench.XXXXXX)
chmod 755 "$DIR"
chown postgres:postgres "$DIR"
PERF_PSQL_PID=
as_pg() { runuser -u postgres -- "$@"; }
# shellcheck source=test/bench/cluster.sh
. "$BENCH/cluster.sh"
pg() { as_pg psql -h "$DIR" -d bench -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
	set +e
	if [ -n "$PERF_PSQL_PID" ]; then
		kill "$PERF_PSQL_PID" 2>/dev/null
	fi
	as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT
log() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - START))s] $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# --- helpers built from this tree: the generator and floor (a) -----------
# (the Makefile's targets: floor links the server's own base/ code; copied
# so that a rebuild or make clean in the tree during the run changes nothing)
make -C "$SRC" -s test/bench/floor test/bench/gen >/dev/null
mkdir "$DIR/bin"
install -m 755 "$BENCH/floor" "$BENCH/gen" "$DIR/bin/"

# --- the throwaway cluster --------------------------------------------------
bench_cluster "$SHARED_BUFFERS"
cat >>"$DIR/data/postgresql.conf" <<CONF
biocrypt.purpose = 'verification'
plan_cache_mode = force_generic_plan
CONF
bench_so_info
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
as_pg psql -h "$DIR" -d postgres -X -q -c "CREATE DATABASE bench"
pg -f "$BENCH/bench.sql"

SIMD=$(pg -At -c "SELECT biocrypt.simd_path()")
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
log "cluster up in $DIR (shared_buffers $SHARED_BUFFERS, kernel path $SIMD); sizes: $SIZES; $REPS reps"

# --- measurement ------------------------------------------------------------
# bench.run_plain(format, n, method, body, reps): "SELECT body", no parameters
# bench.run_prepared(format, n, method, stmt, reps): PREPARE stmt($1 real[],
#   $2 bytea, $3 bytea) and EXPLAIN ANALYZE EXECUTE it with the probe; see bench.sql
floors_b() {
	local f=$1 n=$2 t=$3
	cat <<SQL
SELECT bench.run_plain('$f', $n, 'floor_b_count', \$q\$count(*) FROM $t\$q\$, $REPS);
SELECT bench.run_plain('$f', $n, 'floor_b_count_tpl', \$q\$count(tpl) FROM $t\$q\$, $REPS);
SELECT bench.run_plain('$f', $n, 'floor_b_header', \$q\$count(biocrypt.dims_of(tpl)) FROM $t\$q\$, $REPS);
SQL
}

measure_vec() {
	local f=$1 n=$2 t="bench.t_$1_$2"
	{
		echo "SELECT pg_prewarm('$t');"
		floors_b "$f" "$n" "$t"
		cat <<SQL
SELECT bench.run_prepared('$f', $n, 'identify',
	\$q\$SELECT * FROM biocrypt.identify('$t', 'tpl', \$1, 10)\$q\$, $REPS);
SELECT bench.run_prepared('$f', $n, 'orderby',
	\$q\$SELECT biocrypt.subject_of(tpl) FROM $t ORDER BY tpl <=> \$1 LIMIT 10\$q\$, $REPS);
INSERT INTO bench.sanity SELECT '$f', $n, 'identify', subject, distance
	FROM bench.probe, biocrypt.identify('$t', 'tpl', vec, 1);
INSERT INTO bench.sanity SELECT '$f', $n, 'orderby', biocrypt.subject_of(tpl), tpl <=> vec
	FROM $t, bench.probe ORDER BY tpl <=> vec LIMIT 1;
SQL
	} | pg -o /dev/null
}

measure_iris() {
	local n=$1 t="bench.t_iris_$1" s
	{
		echo "SELECT pg_prewarm('$t');"
		floors_b iris_s0 "$n" "$t"
		# one table serves both shift settings: its scan floors count for both
		echo "INSERT INTO bench.raw SELECT 'iris_s8', n, method, rep, ms FROM bench.raw
			  WHERE format = 'iris_s0' AND n = $n AND method LIKE 'floor_b%';"
		for s in 0 8; do
			cat <<SQL
SELECT bench.run_prepared('iris_s$s', $n, 'identify',
	\$q\$SELECT * FROM biocrypt.identify('$t', 'tpl', \$2, 10, NULL, \$3, $s)\$q\$, $REPS);
SELECT bench.run_prepared('iris_s$s', $n, 'orderby',
	\$q\$SELECT biocrypt.subject_of(tpl) FROM $t ORDER BY biocrypt.iris_distance(tpl, \$2, \$3, $s) LIMIT 10\$q\$, $REPS);
INSERT INTO bench.sanity SELECT 'iris_s$s', $n, 'identify', subject, distance
	FROM bench.probe, biocrypt.identify('$t', 'tpl', code, 1, NULL, mask, $s);
INSERT INTO bench.sanity SELECT 'iris_s$s', $n, 'orderby', biocrypt.subject_of(tpl),
	biocrypt.iris_distance(tpl, code, mask, $s)
	FROM $t, bench.probe ORDER BY biocrypt.iris_distance(tpl, code, mask, $s) LIMIT 1;
SQL
		done
	} | pg -o /dev/null
}

# perf profile of a prepared statement executed in a loop by one backend
# (BENCH_PERF=1): 8 s of samples, then the backend's query is cancelled
profile() {
	local name=$1 stmt=$2 pid out="$RES/perf_$1.txt"
	as_pg psql -h "$DIR" -d bench -X -q -c "SET application_name = 'bench_perf'" \
		-c "PREPARE p(real[], bytea, bytea) AS $stmt" \
		-c "DO \$d\$ DECLARE a text; BEGIN
				SELECT format('%L::real[], %L::bytea, %L::bytea', vec, code, mask) INTO a FROM bench.probe;
				FOR i IN 1..100000 LOOP EXECUTE 'EXECUTE p(' || a || ')'; END LOOP; END \$d\$" \
		>/dev/null 2>&1 &
	PERF_PSQL_PID=$!
	pid=
	for _ in $(seq 50); do
		pid=$(pg -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_perf' AND state = 'active'")
		[ -n "$pid" ] && break
		sleep 0.1
	done
	if [ -z "$pid" ]; then
		log "profile $name: backend not found; skipped"
	else
		perf record -q -e cpu-clock -F 2000 -g -p "$pid" -o "$DIR/perf.data" -- sleep 8 >/dev/null 2>&1 ||
			log "profile $name: perf record failed"
		pg -c "SELECT pg_cancel_backend($pid)" >/dev/null
		cp "$DIR/perf.data" "$RES/perf_$name.data"
		{
			echo "perf profile of: $stmt"
			echo "(prepared, executed in a loop by backend $pid; 8 s sampled at 2 kHz, cpu-clock)"
			echo "-- self time by symbol --"
			perf report -i "$DIR/perf.data" --no-children --stdio --sort dso,symbol -g none 2>/dev/null |
				grep -E '^ +[0-9]' | head -40 || true
			echo "-- inclusive time (children) by symbol (libsodium has no frame pointers: its callers are lost) --"
			perf report -i "$DIR/perf.data" --children --stdio --sort symbol -g none 2>/dev/null |
				grep -E '^ +[0-9]' | head -40 || true
		} >"$out"
	fi
	wait "$PERF_PSQL_PID" 2>/dev/null || true
	PERF_PSQL_PID=
}

for N in $SIZES; do
	log "N=$N: generating and loading staging rows"
	bench_stage "$N"

	for f in $VEC_FORMATS; do
		log "N=$N: enrolling $f"
		pg -c "CREATE TABLE bench.t_${f}_$N (id int, tpl protected_template)"
		t0=$(now)
		pg -c "INSERT INTO bench.t_${f}_$N SELECT id, biocrypt.protect(emb,
				 'subject-' || lpad(id::text, 8, '0'), format => '$f') FROM bench.stage_vec"
		pg -c "INSERT INTO bench.enrol VALUES ('protect()', '$f', $N, $N, $(since "$t0"))"
	done
	log "N=$N: enrolling iris"
	pg -c "CREATE TABLE bench.t_iris_$N (id int, tpl protected_template)"
	t0=$(now)
	pg -c "INSERT INTO bench.t_iris_$N SELECT id, biocrypt.protect_bits(code, mask,
			 'subject-' || lpad(id::text, 8, '0'), layout => '{8,128,2}') FROM bench.stage_iris"
	pg -c "INSERT INTO bench.enrol VALUES ('protect_bits()', 'iris', $N, $N, $(since "$t0"))"
	pg -c "TRUNCATE bench.stage_vec, bench.stage_iris"

	log "N=$N: VACUUM ANALYZE, CHECKPOINT"
	for f in $VEC_FORMATS iris; do
		pg -c "VACUUM ANALYZE bench.t_${f}_$N"
	done
	pg -c "CHECKPOINT"
	for f in $VEC_FORMATS iris; do
		pg -At -c "SELECT 'N=$N $f: ' || pg_size_pretty(pg_table_size('bench.t_${f}_$N')) || ' table, envelope '
				   || octet_length(protected_template_send(tpl)) || ' bytes, cipher byte '
				   || get_byte(protected_template_send(tpl), 4) FROM bench.t_${f}_$N LIMIT 1" >>"$DIR/tables.txt"
	done
	CIPHER=$(pg -At -c "SELECT get_byte(protected_template_send(tpl), 4) FROM bench.t_f32_$N LIMIT 1")
	for f in f16 i8 iris; do
		c=$(pg -At -c "SELECT get_byte(protected_template_send(tpl), 4) FROM bench.t_${f}_$N LIMIT 1")
		[ "$c" = "$CIPHER" ] || { echo "run.sh: tables use different ciphers" >&2; exit 1; }
	done

	for f in $VEC_FORMATS; do
		log "N=$N: measuring $f"
		measure_vec "$f" "$N"
	done
	log "N=$N: measuring iris"
	measure_iris "$N"

	if [ "$N" = "$NMIN" ]; then
		# what the planner does with the ORDER BY (is subject_of() computed per row?)
		pg >"$RES/explain.txt" <<SQL
SELECT vec AS probe_vec FROM bench.probe \gset
PREPARE ob(real[]) AS SELECT biocrypt.subject_of(tpl) FROM bench.t_f16_$N ORDER BY tpl <=> \$1 LIMIT 10;
EXPLAIN (ANALYZE, VERBOSE, TIMING OFF, COSTS OFF) EXECUTE ob(:'probe_vec');
PREPARE idf(real[]) AS SELECT * FROM biocrypt.identify('bench.t_f16_$N', 'tpl', \$1, 10);
EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) EXECUTE idf(:'probe_vec');
SQL
	fi
	if [ "$N" = "$NMAX" ] && [ "${BENCH_PERF:-0}" = 1 ]; then
		if command -v perf >/dev/null 2>&1; then
			log "N=$N: perf profiles (identify, ORDER BY: ${BENCH_PERF_FORMATS:-f16})"
			for f in ${BENCH_PERF_FORMATS:-f16}; do
				profile "identify_$f" "SELECT * FROM biocrypt.identify('bench.t_${f}_$N', 'tpl', \$1, 10)"
				profile "orderby_$f" "SELECT biocrypt.subject_of(tpl) FROM bench.t_${f}_$N ORDER BY tpl <=> \$1 LIMIT 10"
			done
		else
			log "perf not installed (apt-get install linux-perf); no profiles"
		fi
	fi

	pg -c "DROP TABLE bench.t_f32_$N, bench.t_f16_$N, bench.t_i8_$N, bench.t_iris_$N"
	log "N=$N: floor (a) in C (cipher $CIPHER, kernel path $SIMD)"
	"$DIR/bin/floor" --n "$N" --cipher "$CIPHER" --path "$SIMD" --reps "$REPS" \
		--dims "$DIMS" --bits 2048 2>>"$DIR/floor.txt" |
		pg -c "COPY bench.raw (format, n, method, rep, ms) FROM STDIN (FORMAT csv)"
done

# --- report -------------------------------------------------------------------
log "measurements done; writing report to $RES"
WALL=$((SECONDS - START))
{
	echo "biocrypt 1:N benchmark, $STAMP"
	echo "machine: $CPU, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); PostgreSQL $(pg -At -c 'SHOW server_version'); libsodium $(pkg-config --modversion libsodium)"
	echo "server: 1 backend, max_parallel_workers_per_gather=0, jit=off, shared_buffers=$SHARED_BUFFERS, tables VACUUM ANALYZEd and pg_prewarm'ed"
	echo "cipher byte $CIPHER ($([ "$CIPHER" = 1 ] && echo AES-256-GCM || echo XChaCha20-Poly1305)), kernel path $SIMD, sizes: $SIZES, $DIMS-d vectors, 2048-bit iris codes with masks, layout {8,128,2}"
	echo "$SO_INFO"
	[ "$(md5sum <"$SO" | cut -c1-12)" = "$SO_MD5" ] ||
		echo "WARNING: $SO was replaced during the run (the server kept the one it loaded at start)"
	echo "load average at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg) (this run keeps 1 core busy; more means other work shared the machine)"
	cat "$DIR/tables.txt"
	sed 's/^/  /' "$DIR/floor.txt" | grep 'envelope' | sort -u
	echo
	echo "method: each figure is the median of $REPS timed executions after 1 untimed warm-up, per template"
	echo "  (ns = median ms * 1e6 / N; Mtpl/s = million templates per second on one core)."
	echo "  identify, ORDER BY: prepared statements (PREPARE, generic plan) executed with the probe as"
	echo "    parameter values under EXPLAIN (ANALYZE, TIMING OFF); the figure is the server's Execution"
	echo "    Time (no planning, parameter parsing, client round trip or result transfer; row counting only)."
	echo "    identify = SELECT * FROM biocrypt.identify(t, 'tpl', \$1, 10)"
	echo "               [iris: identify(t, 'tpl', \$code, 10, NULL, \$mask, max_shift) with max_shift 0 / 8]"
	echo "    ORDER BY = SELECT biocrypt.subject_of(tpl) FROM t ORDER BY tpl <=> \$1 LIMIT 10"
	echo "               [iris: ORDER BY biocrypt.iris_distance(tpl, \$code, \$mask, max_shift) LIMIT 10]"
	echo "  floor (b): SELECT count(*) FROM t (executor scan), SELECT count(tpl) FROM t (+ attribute access),"
	echo "    header = SELECT count(biocrypt.dims_of(tpl)) FROM t (+ a call and a header parse per row);"
	echo "    timed with clock_timestamp() around a PL/pgSQL PERFORM (prepared plan, no instrumentation)."
	echo "  floor (a): floor.c, no PostgreSQL, linking the server's base/ code: envelope parse as identify()"
	echo "    parses + expiry check + AeadOpen as DecryptTemplate calls it (AES key schedule expanded once)"
	echo "    into a batch of 64 slots + KernelVectorDistances/KernelBitsDistances per batch; same"
	echo "    cipher, kernel path and envelope sizes as the server; envelopes contiguous in memory."
	echo "    What-ifs in table 2:"
	echo "    heap layout = the same loop over envelopes laid out like heap pages (tuples packed downwards"
	echo "    from each 8 KiB page's end, read in line-pointer order, as a seq scan reads them);"
	echo "    heap + prefetch = that plus a software prefetch of each envelope and of the bytes below it;"
	echo "    AES key per call = AeadOpen given the key, not the expanded state: the AES key schedule is"
	echo "    expanded for every template (crypto_aead_aes256gcm_decrypt), as before the server cached it."
	as_pg psql -h "$DIR" -d bench -X -q -v ON_ERROR_STOP=1 -P pager=off -f "$BENCH/report.sql"
	for p in "$RES"/perf_*.txt; do
		[ -f "$p" ] || continue
		echo
		echo "== perf: $(basename "$p" .txt) (top 25 self-time symbols; full list in $(basename "$p")) =="
		head -27 "$p"
	done
	echo
	echo "wall time: ${WALL}s (cluster start to end of measurements)"
} >"$RES/summary.txt"

pg -c "COPY (
	SELECT m.format, m.n, m.method, m.nshifts, m.reps,
		   round(m.ms::numeric, 4) AS median_ms, round(m.min_ms::numeric, 4) AS min_ms,
		   round(m.max_ms::numeric, 4) AS max_ms,
		   round(m.ns::numeric, 2) AS ns_per_template,
		   round((1e9 / m.ns)::numeric, 0) AS templates_per_s,
		   round(w.floor_a::numeric, 2) AS floor_a_ns,
		   round(w.count_star::numeric, 2) AS floor_b_count_ns,
		   round(w.count_tpl::numeric, 2) AS floor_b_count_tpl_ns,
		   round((m.ns / w.floor_a)::numeric, 3) AS ratio_to_floor_a,
		   round((m.ns / w.count_star)::numeric, 3) AS ratio_to_floor_b_count,
		   round((m.ns / w.count_tpl)::numeric, 3) AS ratio_to_floor_b_count_tpl,
		   CASE WHEN m.method = 'orderby' THEN round((m.ns / w.identify)::numeric, 3) END
			   AS ratio_orderby_to_identify
	FROM bench.med m JOIN bench.wide w USING (format, n)
	ORDER BY m.ford, m.n, m.method) TO STDOUT WITH (FORMAT csv, HEADER)" >"$RES/results.csv"
pg -c "COPY (SELECT * FROM bench.raw ORDER BY format, n, method, rep) TO STDOUT WITH (FORMAT csv, HEADER)" >"$RES/raw.csv"
pg -c "COPY (SELECT * FROM bench.enrol ORDER BY n, step, format) TO STDOUT WITH (FORMAT csv, HEADER)" >"$RES/enrol.csv"

# --- plot: templates/s vs N, per format; server solid, floor (a) dashed ------
if command -v gnuplot >/dev/null 2>&1; then
	for f in f32 f16 i8 iris_s0 iris_s8; do
		for m in identify orderby floor_a; do
			awk -F, -v f="$f" -v m="$m" 'NR > 1 && $1 == f && $3 == m { print $2, $10 }' \
				"$RES/results.csv" >"$DIR/plot_${f}_$m.dat"
		done
	done
	CIPHER_NAME=$([ "$CIPHER" = 1 ] && echo AES-256-GCM || echo XChaCha20-Poly1305)
	# shellcheck disable=SC2086
	XTICS=$(printf '%s\n' $SIZES | awk '{ l = $1 >= 1000000 ? ($1 / 1000000) "M" : $1 >= 1000 ? ($1 / 1000) "k" : $1;
		printf "%s\"%s\" %s", (NR > 1 ? ", " : ""), l, $1 }')
	cat >"$DIR/plot.gp" <<GP
set terminal pngcairo size 1500,650 font ",11"
set output '$RES/throughput.png'
set logscale xy
set xrange [$NMIN / 2.0 : $NMAX * 2.0]
set xtics ($XTICS)
set format y "%.1s%c"
set termoption noenhanced
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set xlabel "N templates in the table"
set ylabel "templates / s / core"
set key bottom left box opaque font ",10"
set style line 1 lc rgb "#1f77b4" lw 2 pt 7
set style line 2 lc rgb "#ff7f0e" lw 2 pt 7
set style line 3 lc rgb "#2ca02c" lw 2 pt 7
set style line 4 lc rgb "#d62728" lw 2 pt 7
set style line 5 lc rgb "#9467bd" lw 2 pt 7
set multiplot layout 1,2 title "biocrypt 1:N scan throughput ($CPU, 1 core, $CIPHER_NAME, $SIMD) -- solid: server, dashed: floor (a) = parse + decrypt + kernel in C"
set title "identify()"
plot for [i=1:5] sprintf("$DIR/plot_%s_identify.dat", word("f32 f16 i8 iris_s0 iris_s8", i)) \
		using 1:2 with linespoints ls i title word("f32 f16 i8 iris-shift0 iris-shift8", i), \
	 for [i=1:5] sprintf("$DIR/plot_%s_floor_a.dat", word("f32 f16 i8 iris_s0 iris_s8", i)) \
		using 1:2 with linespoints ls i dt 2 pt 6 notitle, \
	 NaN with linespoints lc rgb "#555555" dt 2 pt 6 title "floor (a)"
set title "SELECT subject_of(tpl) ... ORDER BY distance LIMIT 10"
plot for [i=1:5] sprintf("$DIR/plot_%s_orderby.dat", word("f32 f16 i8 iris_s0 iris_s8", i)) \
		using 1:2 with linespoints ls i title word("f32 f16 i8 iris-shift0 iris-shift8", i), \
	 for [i=1:5] sprintf("$DIR/plot_%s_floor_a.dat", word("f32 f16 i8 iris_s0 iris_s8", i)) \
		using 1:2 with linespoints ls i dt 2 pt 6 notitle, \
	 NaN with linespoints lc rgb "#555555" dt 2 pt 6 title "floor (a)"
unset multiplot
GP
	gnuplot "$DIR/plot.gp" || echo "run.sh: gnuplot failed; no PNG" >&2
fi

cat "$RES/summary.txt"
echo
echo "results: $RES (summary.txt, results.csv, raw.csv, enrol.csv, throughput.png, explain.txt)"
echo "total wall time: $((SECONDS - START))s"
