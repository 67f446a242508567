#!/bin/bash
# biocrypt audit-log benchmark (Debian 12, as root; see test/bench/README.md).
#
# Measures what the synchronous audit costs, in one run, side by side: the
# same workloads on the same throwaway cluster, first with the library built
# with -DBIOCRYPT_AUDIT_BYPASS (nothing waits for the audit; the server logs
# that it does not audit), then, after a rebuild and restart, with the
# normal build: before its first decryption every statement waits until the
# audit worker has committed its "begun" row (synchronous_commit on); its
# completion row follows (verify does not wait for it, identify does).
# Workloads:
#   verify: pgbench -M prepared, SELECT biocrypt.verify(tpl, <probe>, 0.1)
#           FROM g WHERE id = :id, 1 client and then N clients (-c 8 -j 2);
#   identify: SELECT count(*) FROM biocrypt.identify('gallery', 'tpl', $1, 10)
#           over 100,000 f16 templates, median of 5 after a warm-up.
# Prints a table with ratios and PASS/MISS per target (the targets of issue
# 10), checks that each audited statement wrote exactly one begun row and
# one completion naming it (and the bypass build none),
# and writes summary.txt, figures.csv, identify.csv, the pgbench outputs and
# the server logs under test/bench/results/<timestamp>-audit/.
#
# Both builds are made from one snapshot of this tree taken at the start
# (Makefile, control file, src/, sql/ copied to the temporary directory), so
# edits and builds in the tree during the run change neither build; the
# tree itself is not touched.  Each build is installed (make install), so
# the run replaces the installed extension.  It leaves the NORMAL build
# installed when it exits, also on failure or interrupt (the exit trap
# rebuilds it; if that fails, it puts back the library that was installed
# before the run).  If the tree changed during the run, the normal build of
# the tree as it is then is installed at the end (make -C <tree> clean all
# install; if that fails, the snapshot's normal build stays installed).
#
# Environment:
#   BENCH_AUDIT_TEMPLATES=5000        rows of g (512-d f32 templates) for verify
#   BENCH_AUDIT_GALLERY=100000        templates in the identify gallery
#   BENCH_AUDIT_GALLERY_FORMAT=f16    their format (f32, f16, i8)
#   BENCH_AUDIT_SECONDS=15            duration of each timed pgbench run
#   BENCH_AUDIT_WARMUP=3              untimed pgbench run before each timed one (s)
#   BENCH_AUDIT_CLIENTS=8             clients of the throughput run
#   BENCH_AUDIT_THREADS=2             pgbench threads of the throughput run
#   BENCH_AUDIT_REPS=5                timed identify executions (median), after 1 warm-up
#   BENCH_AUDIT_SHARED_BUFFERS=1GB    must hold both tables and the audit log
#   BENCH_AUDIT_MAKE_JOBS=$(nproc)    make -j for the two builds
#   BENCH_AUDIT_FSYNC_TEST=1          0: skip pg_test_fsync (about 10 s; the disk's
#                                     fdatasync time, for context: a durable commit's floor)
set -euo pipefail

START=$SECONDS
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$SRC/test/bench"
TEMPLATES=${BENCH_AUDIT_TEMPLATES:-5000}
GALLERY=${BENCH_AUDIT_GALLERY:-100000}
GALLERY_FORMAT=${BENCH_AUDIT_GALLERY_FORMAT:-f16}
SECS=${BENCH_AUDIT_SECONDS:-15}
WARMUP=${BENCH_AUDIT_WARMUP:-3}
CLIENTS=${BENCH_AUDIT_CLIENTS:-8}
THREADS=${BENCH_AUDIT_THREADS:-2}
REPS=${BENCH_AUDIT_REPS:-5}
SHARED_BUFFERS=${BENCH_AUDIT_SHARED_BUFFERS:-1GB}
JOBS=${BENCH_AUDIT_MAKE_JOBS:-$(nproc)}
FSYNC_TEST=${BENCH_AUDIT_FSYNC_TEST:-1}
PG_BIN=/usr/lib/postgresql/15/bin
DIMS=512
SEED=42

if [ "$(id -u)" -ne 0 ]; then
	echo "audit.sh: run as root (it installs the extension; the server runs as postgres)" >&2
	exit 2
fi
for v in TEMPLATES GALLERY SECS WARMUP CLIENTS THREADS REPS JOBS; do
	case ${!v} in '' | *[!0-9]* | 0) echo "audit.sh: $v must be a positive integer, not '${!v}'" >&2; exit 2 ;; esac
done
case $GALLERY_FORMAT in f32 | f16 | i8) ;; *) echo "audit.sh: bad gallery format '$GALLERY_FORMAT'" >&2; exit 2 ;; esac
if [ "$THREADS" -gt "$CLIENTS" ]; then
	echo "audit.sh: BENCH_AUDIT_THREADS ($THREADS) must not exceed BENCH_AUDIT_CLIENTS ($CLIENTS)" >&2
	exit 2
fi
for f in "$PG_BIN/pgbench" "$PG_BIN/initdb" "$(command -v pg_config || true)"; do
	if [ -z "$f" ] || [ ! -x "$f" ]; then
		echo "audit.sh: PostgreSQL 15 server or dev packages missing; run test/install.sh first" >&2
		exit 2
	fi
done

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$BENCH/results/$STAMP-audit"
mkdir -p "$RES"
DIR=$(mktemp -d /tmp/biocrypt-bench-audit.XXXXXX)
chmod 755 "$DIR"
chown postgres:postgres "$DIR"
SO="$(pg_config --pkglibdir)/biocrypt.so"
TREE="$DIR/tree"
# what is installed: unchanged (not touched yet), bypass, normal, or broken
# (a build or install was started and did not finish)
INSTALLED=unchanged
as_pg() { runuser -u postgres -- "$@"; }
# shellcheck source=test/bench/cluster.sh
. "$BENCH/cluster.sh"
pg() { as_pg psql -h "$DIR" -d bench -X -q -v ON_ERROR_STOP=1 "$@"; }
log() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - START))s] $*"; }
md5() { md5sum <"$1" | cut -c1-12; }
# the bypass build's start-up warning is compiled in only with the flag
is_bypass_so() { LC_ALL=C grep -q -a 'accesses are NOT audited' "$1"; }

# the sources that make a build
fingerprint() {
	(cd "$1" && find Makefile biocrypt.control src sql -type f \( -name '*.[ch]' -o -name '*.sql' \
		-o -name Makefile -o -name '*.control' \) -print0 | sort -z | xargs -0 md5sum | md5sum | cut -c1-12)
}

# build and install: kind ("bypass" or "normal"), source tree, log name
build() {
	local kind=$1 tree=$2 logf="$DIR/build_$3.log" extra=()
	[ "$kind" = bypass ] && extra=(PG_CFLAGS_EXTRA=-DBIOCRYPT_AUDIT_BYPASS)
	INSTALLED=broken
	if ! { make -C "$tree" -s clean && make -C "$tree" -s -j"$JOBS" "${extra[@]}" &&
		make -C "$tree" -s install; } >"$logf" 2>&1; then
		echo "audit.sh: the $kind build of $tree failed:" >&2
		tail -30 "$logf" >&2
		return 1
	fi
	if [ "$kind" = bypass ] && ! is_bypass_so "$SO"; then
		echo "audit.sh: the installed library is not a BIOCRYPT_AUDIT_BYPASS build" >&2
		return 1
	fi
	if [ "$kind" = normal ] && is_bypass_so "$SO"; then
		echo "audit.sh: the installed library is still a BIOCRYPT_AUDIT_BYPASS build" >&2
		return 1
	fi
	INSTALLED=$kind
}

# the script's own stdout and stderr: a trap that fires during a command
# with redirections (pgbench >file) would otherwise write into that file
exec 3>&1 4>&2
cleanup() {
	local rc=$?
	set +e
	exec 1>&3 2>&4
	if [ -f "$DIR/data/postmaster.pid" ]; then
		as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
	fi
	if [ "$INSTALLED" != normal ] && [ "$INSTALLED" != unchanged ]; then
		echo "audit.sh: reinstalling the normal build (installed: $INSTALLED)" >&2
		if ! build normal "$([ -d "$TREE/src" ] && echo "$TREE" || echo "$SRC")" normal_trap; then
			if [ -f "$DIR/orig.so" ]; then
				install -m 755 "$DIR/orig.so" "$SO" &&
					echo "audit.sh: put back the library installed before the run (md5 $(md5 "$SO"))" >&2
			else
				echo "audit.sh: WARNING: $SO may be a BIOCRYPT_AUDIT_BYPASS build; rebuild normally" >&2
			fi
			rc=1
		fi
	fi
	if is_bypass_so "$SO" 2>/dev/null; then
		echo "audit.sh: WARNING: the installed $SO is a BIOCRYPT_AUDIT_BYPASS build" >&2
		rc=1
	fi
	rm -rf "$DIR"
	rmdir "$RES" 2>/dev/null	# nothing measured
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a normal library installed before the run, to put back if the final build fails
if [ -f "$SO" ] && ! is_bypass_so "$SO"; then
	cp -p "$SO" "$DIR/orig.so"
fi

# --- the snapshot both builds are made from; the generator ----------------------
mkdir "$TREE"
cp -a "$SRC/Makefile" "$SRC/biocrypt.control" "$SRC/src" "$SRC/sql" "$TREE/"
find "$TREE/src" \( -name '*.o' -o -name '*.bc' -o -name '*.so' \) -delete
TREE_FP=$(fingerprint "$TREE")
# the generator: the Makefile's target, built in the snapshot (the tree is
# not touched) and copied out (the builds below make clean the snapshot)
mkdir -p "$TREE/test/bench" "$DIR/bin"
cp "$BENCH/gen.c" "$TREE/test/bench/"
make -C "$TREE" -s test/bench/gen >/dev/null
install -m 755 "$TREE/test/bench/gen" "$DIR/bin/"

# --- server control -------------------------------------------------------------
start_server() {
	if ! as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server_$1.log" -w start >/dev/null; then
		tail -20 "$DIR/server_$1.log" >&2
		exit 1
	fi
}
stop_server() {
	as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
}
# the server of phase $1 must have loaded the library of that phase
check_loaded() {
	local ph=$1 want=$2 warned=0
	grep -q 'accesses are NOT audited' "$DIR/server_$ph.log" && warned=1
	if { [ "$ph" = bypass ] && [ $warned = 0 ]; } || { [ "$ph" = audited ] && [ $warned = 1 ]; }; then
		echo "audit.sh: the server of the $ph phase loaded the wrong build (its log" \
			"$([ $warned = 1 ] && echo has || echo lacks) the 'NOT audited' warning);" \
			"was the extension reinstalled meanwhile? rerun" >&2
		exit 1
	fi
	if [ "$(md5 "$SO")" != "$want" ]; then
		echo "audit.sh: $SO changed between the $ph build and the server start; rerun" >&2
		exit 1
	fi
}

# --- measurement ----------------------------------------------------------------
fig() { pg -c "INSERT INTO abench.fig VALUES ('$1', '$2', $3)"; }
audit_head() { pg -At -c "SELECT coalesce(max(id), 0) FROM biocrypt.audit_log"; }

# pgbench verify run: phase, key (v1 / vc), clients, threads
run_verify() {
	local ph=$1 key=$2 c=$3 j=$4 out="$RES/pgbench_${1}_$2.txt" from lat tps n failed all_rows commits
	local cmd=("$PG_BIN/pgbench" -h "$DIR" -n -M prepared -f "$DIR/verify.pgbench" -D "ntpl=$TEMPLATES" -c "$c" -j "$j")
	if ! as_pg "${cmd[@]}" -T "$WARMUP" bench >"$DIR/warmup_${ph}_$key.txt" 2>&1; then
		echo "audit.sh: pgbench warm-up failed:" >&2
		cat "$DIR/warmup_${ph}_$key.txt" >&2
		exit 1
	fi
	pg -c "CHECKPOINT"
	from=$(audit_head)
	if ! as_pg "${cmd[@]}" -T "$SECS" bench >"$out" 2>&1; then
		echo "audit.sh: pgbench failed:" >&2
		cat "$out" >&2
		exit 1
	fi
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' "$out")
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$out")
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*$/\1/p' "$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*$/\1/p' "$out")
	if [ -z "$lat" ] || [ -z "$tps" ] || [ -z "$n" ]; then
		echo "audit.sh: could not read pgbench's output:" >&2
		cat "$out" >&2
		exit 1
	fi
	if [ "${failed:-0}" != 0 ]; then
		log "$ph $key: pgbench reports $failed failed transactions (see $out)"
	fi
	read -r all_rows _ commits begun completions < <(pg -At -F' ' -c "SELECT * FROM abench.audit_since($from, 'verify')")
	fig "$ph" "${key}_lat_ms" "$lat"
	fig "$ph" "${key}_tps" "$tps"
	fig "$ph" "${key}_statements" "$n"
	fig "$ph" "${key}_audit_rows" "$all_rows"
	fig "$ph" "${key}_begun" "$begun"
	fig "$ph" "${key}_completions" "$completions"
	[ "$ph" = audited ] && fig "$ph" "${key}_commits" "$commits"
	log "$ph: verify, $c client(s): latency average $lat ms, tps $tps ($n statements, $all_rows audit rows)"
}

run_identify() {
	local ph=$1 from all_rows
	from=$(audit_head)
	pg -o /dev/null -c "SELECT abench.time_identify('$ph', $REPS)"
	read -r all_rows _ _ begun completions < <(pg -At -F' ' -c "SELECT * FROM abench.audit_since($from, 'identify')")
	fig "$ph" id_statements "$((REPS + 1))"
	fig "$ph" id_audit_rows "$all_rows"
	fig "$ph" id_begun "$begun"
	fig "$ph" id_completions "$completions"
	pg -c "INSERT INTO abench.fig SELECT '$ph', m.name, m.v FROM (
			   SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS med, min(ms) AS lo, max(ms) AS hi
			   FROM abench.identify_ms WHERE phase = '$ph') s,
			   LATERAL (VALUES ('id_med_ms', s.med), ('id_min_ms', s.lo), ('id_max_ms', s.hi)) m(name, v)"
	log "$ph: identify median $(pg -At -c "SELECT round(value::numeric, 2) FROM abench.fig
		WHERE phase = '$ph' AND name = 'id_med_ms'") ms ($all_rows audit rows)"
}

# both workloads on the running server of phase $1
measure() {
	local ph=$1
	pg -o /dev/null -c "SELECT pg_prewarm('g'), pg_prewarm('g_pkey'), pg_prewarm('gallery')"
	run_verify "$ph" v1 1 1
	run_verify "$ph" vc "$CLIENTS" "$THREADS"
	pg -c "CHECKPOINT"
	run_identify "$ph"
	# sanity, after the counted runs (these statements are audited too)
	pg -At >>"$DIR/sanity.txt" <<SQL
SELECT '$ph: identify top-1 for the probe (row 1): ' || subject || ' (expected subject-1)'
	FROM abench.probe, biocrypt.identify('public.gallery', 'tpl', vec, 1);
SELECT '$ph: verify(row 1, probe) = ' || biocrypt.verify(tpl, vec, 0.1) || ' (expected true), '
	|| 'verify(row 2, probe) = ' || (SELECT biocrypt.verify(tpl, vec, 0.1) FROM g WHERE id = 2) || ' (expected false)'
	FROM g, abench.probe WHERE id = 1;
SQL
}

# --- context: how long one fdatasync of an 8 kB write takes on the cluster's disk ------
FSYNC="not measured (BENCH_AUDIT_FSYNC_TEST=0)"
if [ "$FSYNC_TEST" = 1 ]; then
	log "pg_test_fsync -s 1 in $DIR (about 10 s)"
	as_pg "$PG_BIN/pg_test_fsync" -s 1 -f "$DIR/fsync.test" >"$DIR/fsync.txt" 2>&1 || true
	rm -f "$DIR/fsync.test"
	FSYNC=$(awk '$1 == "fdatasync" && $3 == "ops/sec" { printf "%.3f ms (%d/s)", $4 / 1000, $2; exit }' "$DIR/fsync.txt")
	[ -n "$FSYNC" ] || FSYNC="pg_test_fsync failed (see fsync.txt)"
	cp "$DIR/fsync.txt" "$RES/"
	pg_fsync_ms=$(awk '$1 == "fdatasync" && $3 == "ops/sec" { print $4 / 1000; exit }' "$DIR/fsync.txt")
fi

# --- phase 1: the bypass build ------------------------------------------------------
log "building with -DBIOCRYPT_AUDIT_BYPASS (snapshot of $SRC, sources $TREE_FP) and installing"
build bypass "$TREE" bypass
SO_BYPASS=$(md5 "$SO")
# synchronous_commit is left at its default (on); the audit worker forces it on
bench_cluster "$SHARED_BUFFERS"
echo "plan_cache_mode = force_generic_plan" >>"$DIR/data/postgresql.conf"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
start_server bypass
check_loaded bypass "$SO_BYPASS"
as_pg psql -h "$DIR" -d postgres -X -q -c "CREATE DATABASE bench"
pg -f "$BENCH/audit/setup.sql"
log "cluster up in $DIR (bypass build, md5 $SO_BYPASS); loading data"

NSTAGE=$((TEMPLATES > GALLERY ? TEMPLATES : GALLERY))
"$DIR/bin/gen" vec "$NSTAGE" "$SEED" "$DIMS" | pg -c "COPY abench.stage FROM STDIN (FORMAT binary)"
pg -c "INSERT INTO abench.probe SELECT emb FROM abench.stage WHERE id = 1"
pg -c "INSERT INTO g SELECT id, biocrypt.protect(emb, 'subject-' || id)
	   FROM abench.stage WHERE id <= $TEMPLATES"
pg -c "INSERT INTO gallery SELECT id, biocrypt.protect(emb, 'subject-' || id, format => '$GALLERY_FORMAT')
	   FROM abench.stage WHERE id <= $GALLERY"
pg -c "TRUNCATE abench.stage"
pg -c "VACUUM (FREEZE, ANALYZE) g" -c "VACUUM (FREEZE, ANALYZE) gallery" -c "CHECKPOINT"
TABLES=$(pg -At -c "SELECT 'g: ' || count(*) || ' f32 templates, ' || pg_size_pretty(pg_table_size('g'))
						|| '; gallery: ' || (SELECT count(*) FROM gallery) || ' $GALLERY_FORMAT templates, '
						|| pg_size_pretty(pg_table_size('gallery')) FROM g")
# purpose limitation (builds with biocrypt.purpose): sessions declare one of
# the templates' (default) purposes; the superuser needs no grant
PURPOSE=none
if [ -n "$(pg -At -c "SELECT 1 FROM pg_settings WHERE name = 'biocrypt.purpose'")" ]; then
	PURPOSE=$(pg -At -c "SELECT (biocrypt.purposes_of(tpl))[1] FROM g LIMIT 1")
	pg -c "ALTER DATABASE bench SET biocrypt.purpose = '$PURPOSE'"
fi
PROBE=$(pg -At -c "SELECT vec FROM abench.probe")
sed "s|@PROBE@|$PROBE|" "$BENCH/audit/verify.pgbench" >"$DIR/verify.pgbench"
log "$TABLES; biocrypt.purpose: $PURPOSE"

measure bypass
SO_BYPASS_END=$(md5 "$SO")
stop_server

# --- phase 2: the normal build ---------------------------------------------------------
log "building normally (same snapshot) and installing"
build normal "$TREE" normal
SO_NORMAL=$(md5 "$SO")
start_server audited
check_loaded audited "$SO_NORMAL"
log "server restarted with the normal build (md5 $SO_NORMAL)"
LOAD_MID=$(cut -d' ' -f1-3 /proc/loadavg)
measure audited
CHAIN=$(pg -At -F' ' -c "SELECT 'verify_audit(): ok = ' || ok || ', rows checked ' || rows_checked
						 || ', first bad id ' || coalesce(first_bad_id::text, 'none')
						 || ' (audit_log has ' || (SELECT count(*) FROM biocrypt.audit_log) || ' rows)'
						 FROM biocrypt.verify_audit()")
SETTINGS=$(pg -At -c "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings
					  WHERE name IN ('synchronous_commit', 'fsync', 'wal_sync_method', 'commit_delay', 'full_page_writes')")
PGVERSION=$(pg -At -c 'SHOW server_version')
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
SO_NORMAL_END=$(md5 "$SO")
REPLACED=
[ "$SO_BYPASS_END" = "$SO_BYPASS" ] || REPLACED="$REPLACED bypass"
[ "$SO_NORMAL_END" = "$SO_NORMAL" ] || REPLACED="$REPLACED audited"
TREE_FP_END=$(fingerprint "$SRC")
if [ "$TREE_FP_END" = "$TREE_FP" ]; then
	TREE_STATE="the tree did not change during the run"
else
	TREE_STATE="the tree CHANGED during the run (now $TREE_FP_END): these figures are for the snapshot"
fi
WALL=$((SECONDS - START))

# --- report ---------------------------------------------------------------------------------
log "measurements done; writing report to $RES"
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
FS=$(df -PT "$DIR" | awk 'NR == 2 { print $2 " on " $1 }')
{
	echo "biocrypt audit benchmark, $STAMP"
	echo "machine: $CPU, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); PostgreSQL $PGVERSION; cluster on $FS"
	echo "server: $SETTINGS (the audit worker sets synchronous_commit=on itself); shared_buffers=$SHARED_BUFFERS, jit=off, max_parallel_workers_per_gather=0"
	echo "sources: snapshot of $SRC taken at the start (fingerprint $TREE_FP); $TREE_STATE"
	echo "builds (from that snapshot): bypass = make PG_CFLAGS_EXTRA=-DBIOCRYPT_AUDIT_BYPASS (md5 $SO_BYPASS; its server logged"
	echo "  the 'NOT audited' warning), audited = normal build (md5 $SO_NORMAL; no warning); same cluster, restarted between"
	if [ -n "$REPLACED" ]; then
		echo "NOTE: $SO was replaced by someone else during the phase(s):$REPLACED (each server kept the library it"
		echo "  loaded at its start, which was checked; the figures stand, but the machine was busy with that build)"
	fi
	echo "disk: one fdatasync of an 8 kB write (pg_test_fsync -s 1, wal_sync_method's call) takes $FSYNC: the floor of a durable commit"
	echo "load average at start: $LOAD_START; before the audited phase: $LOAD_MID; at end: $LOAD_END (1 client keeps ~1-2 processes busy, $CLIENTS clients both cores;"
	echo "  more than that means other work shared the machine: rerun before trusting the figures)"
	echo "data: $TABLES; 512-d unit-length embeddings from gen.c (seed $SEED), probe = row 1;"
	echo "  default purposes; sessions run with biocrypt.purpose = $PURPOSE (ALTER DATABASE; 'none': this build has no such setting)"
	echo
	echo "method: verify = pgbench -M prepared -n, one statement per transaction (autocommit):"
	echo "    \\set id random(1, $TEMPLATES)"
	echo "    SELECT biocrypt.verify(tpl, '<probe>'::real[], 0.1) FROM g WHERE id = :id   (g has a primary key on id)"
	echo "  ${SECS} s per run after an untimed ${WARMUP} s warm-up with the same clients and a CHECKPOINT; 1 client (-c 1 -j 1),"
	echo "  then $CLIENTS clients (-c $CLIENTS -j $THREADS); figures are pgbench's 'latency average' and 'tps (without initial"
	echo "  connection time)'. identify = PREPARE idf(real[]) AS SELECT count(*) FROM biocrypt.identify('gallery', 'tpl', \$1, 10),"
	echo "  EXPLAIN (ANALYZE, TIMING OFF) EXECUTE idf(<probe>): the server's Execution Time (which includes the audit wait),"
	echo "  median of $REPS after 1 untimed warm-up. Worker commits = distinct xmin of the run's audit rows."
	echo
	as_pg psql -h "$DIR" -d bench -X -q -v ON_ERROR_STOP=1 -P pager=off \
		-v clients="$CLIENTS" -v threads="$THREADS" -v gallery_n="$GALLERY" -v gallery_fmt="$GALLERY_FORMAT" -v fsync_ms="${pg_fsync_ms:-NaN}" \
		-f "$BENCH/audit/report.sql"
	echo "Sanity:"
	sed 's/^/  /' "$DIR/sanity.txt"
	echo "  $CHAIN"
	echo
	echo "wall time: ${WALL}s (builds, load and measurements)"
} >"$RES/summary.txt"
pg -c "COPY (SELECT * FROM abench.fig ORDER BY phase DESC, name) TO STDOUT WITH (FORMAT csv, HEADER)" >"$RES/figures.csv"
pg -c "COPY (SELECT * FROM abench.identify_ms ORDER BY phase DESC, rep) TO STDOUT WITH (FORMAT csv, HEADER)" >"$RES/identify.csv"
stop_server
if [ "$TREE_FP_END" != "$TREE_FP" ]; then
	log "$SRC changed during the run: installing the normal build of the tree as it is now"
	if ! build normal "$SRC" normal_tree; then
		log "that build failed; reinstalling the snapshot's normal build"
		build normal "$TREE" normal_again
	fi
fi
cp "$DIR"/server_*.log "$DIR"/build_*.log "$RES/"

cat "$RES/summary.txt"
echo
echo "results: $RES (summary.txt, figures.csv, identify.csv, pgbench_*.txt, server_*.log)"
echo "installed: $SO, normal build (md5 $(md5 "$SO"))"
echo "total wall time: $((SECONDS - START))s"
