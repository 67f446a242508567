#!/bin/bash
# Sealed probes against plain probes (as root; see test/bench/README.md):
#   verify: 1 client, one statement per transaction, pgbench -M prepared,
#           BENCH_ROUNDS rounds of BENCH_VERIFY_SECONDS s per form, the two
#           forms alternating; the median of every transaction's latency;
#   identify: top 10 over BENCH_N templates (512-d f32), BENCH_IDENTIFY_REPS
#           executions per form, alternating, after one warm-up each; the
#           median of the executions' latencies.
#   cpu:    the backend's CPU time per statement (/proc/PID/schedstat), which
#           waiting for a CPU on a busy machine does not inflate; verify and
#           identify as prepared statements with the probe as a parameter;
#   open:   the cost of opening a box: one statement verifies row 1 against
#           1000 probes that alternate between two vectors (rows 1 and 2),
#           so the sealed form opens a box for every row; BENCH_IDENTIFY_REPS
#           executions per form; the difference per row is one open.
# The forms alternate, and which goes first alternates from round to round.
# The probe is row 1's vector: in SQL text for the plain form, sealed with
# biocrypt-seal to the cluster's public key for the sealed form, so both
# forms compare the same values and must return the same rows (checked).
#
# Environment:
#   PG_CONFIG=pg_config        the installation to run (its bindir has
#                              postgres, pgbench and biocrypt-seal)
#   BENCH_N=100000  BENCH_ROUNDS=5  BENCH_VERIFY_SECONDS=10  BENCH_IDENTIFY_REPS=7
#   BENCH_SHARED_BUFFERS=1GB
#   BENCH_OUT=DIR              also copy every latency (ms, one per line) there
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$SRC/test/bench"
PG_CONFIG=${PG_CONFIG:-pg_config}
PG_BIN=$("$PG_CONFIG" --bindir)
N=${BENCH_N:-100000}
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_VERIFY_SECONDS:-10}
REPS=${BENCH_IDENTIFY_REPS:-7}

if [ "$(id -u)" -ne 0 ]; then
	echo "sealed.sh: run as root (the server itself runs as postgres)" >&2
	exit 2
fi
DIR=$(mktemp -d /tmp/biocrypt-sealed-bench.XXXXXX)
chmod 755 "$DIR"
chown postgres:postgres "$DIR"
as_pg() { runuser -u postgres -- "$@"; }
# shellcheck source=test/bench/cluster.sh
. "$BENCH/cluster.sh"
pg() { as_pg "$PG_BIN/psql" -h "$DIR" -d postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
	set +e
	as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
# the smallest of the numbers on stdin (awk reads them all: no SIGPIPE
# for set -o pipefail, as "sort | head" would risk)
minimum() { awk 'NR == 1 || $1 < m { m = $1 } END { print m }'; }
# the median of the numbers on stdin, one per line
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

PATH="$PG_BIN:$PATH" bench_cluster "${BENCH_SHARED_BUFFERS:-1GB}"
echo "biocrypt.purpose = 'verification'" >>"$DIR/data/postgresql.conf"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
log "cluster up in $DIR; load average $LOAD_START"

pg <<SQL
CREATE EXTENSION biocrypt;
SELECT setseed(0.42) \g /dev/null
CREATE TABLE vec AS SELECT i AS id,
	(SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 512) WHERE i > 0) AS v
	FROM generate_series(1, $N) i;
CREATE TABLE g (id int PRIMARY KEY, tpl protected_template);
INSERT INTO g SELECT id, biocrypt.protect(v, 'subject-' || lpad(id::text, 8, '0')) FROM vec;
VACUUM ANALYZE g;
SQL
log "enrolled $N templates"

PK=$(pg -At -c "SELECT encode(biocrypt.public_key(), 'hex')")
VEC=$(pg -At -c "SELECT v::text FROM vec WHERE id = 1")
BOX=$(echo "$VEC" | tr -d '{}' | "$PG_BIN/biocrypt-seal" --key "$PK")
VEC2=$(pg -At -c "SELECT v::text FROM vec WHERE id = 2")
BOX2=$(echo "$VEC2" | tr -d '{}' | "$PG_BIN/biocrypt-seal" --key "$PK")
pg <<SQL
CREATE TABLE probes AS SELECT i, CASE WHEN i % 2 = 0 THEN '$VEC'::real[] ELSE '$VEC2'::real[] END AS v,
	CASE WHEN i % 2 = 0 THEN '$BOX'::sealed_probe ELSE '$BOX2'::sealed_probe END AS box
	FROM generate_series(1, 1000) i;
SQL
echo "SELECT count(*) FILTER (WHERE biocrypt.verify(g.tpl, p.v, 0.5)) FROM probes p, g WHERE g.id = 1;" >"$DIR/plain_open.sql"
echo "SELECT count(*) FILTER (WHERE biocrypt.verify_sealed(g.tpl, p.box, 0.5)) FROM probes p, g WHERE g.id = 1;" >"$DIR/sealed_open.sql"
echo "SELECT biocrypt.verify(tpl, '$VEC'::real[], 0.5) FROM g WHERE id = 1;" >"$DIR/plain_verify.sql"
echo "SELECT biocrypt.verify_sealed(tpl, '$BOX'::sealed_probe, 0.5) FROM g WHERE id = 1;" >"$DIR/sealed_verify.sql"
echo "SELECT * FROM biocrypt.identify('g', 'tpl', '$VEC'::real[], 10);" >"$DIR/plain_identify.sql"
echo "SELECT * FROM biocrypt.identify_sealed('g', 'tpl', '$BOX'::sealed_probe, 10);" >"$DIR/sealed_identify.sql"
chown postgres "$DIR"/*.sql

# the two forms give the same answers
same=$(pg -At -c "SELECT (SELECT string_agg(subject || ':' || distance, ',') FROM biocrypt.identify('g', 'tpl', '$VEC'::real[], 10))
	= (SELECT string_agg(subject || ':' || distance, ',') FROM biocrypt.identify_sealed('g', 'tpl', '$BOX'::sealed_probe, 10))
	AND (SELECT biocrypt.verify(tpl, '$VEC'::real[], 0.5) AND biocrypt.verify_sealed(tpl, '$BOX'::sealed_probe, 0.5) FROM g WHERE id = 1)")
[ "$same" = t ] || { echo "sealed.sh: sealed and plain answers differ" >&2; exit 1; }

# run_pgbench NAME ARGS...: appends every transaction's latency (ms) to $DIR/NAME.lat
run_pgbench() {
	local name=$1
	shift
	(cd "$DIR" && as_pg "$PG_BIN/pgbench" -h "$DIR" -n -c 1 -M prepared -l --log-prefix="$DIR/log_$name" \
		-f "$DIR/$name.sql" "$@" postgres >/dev/null 2>&1)
	# pgbench log: client, transaction, latency (us), ...
	cat "$DIR"/log_"$name".* | awk '{ printf "%.6f\n", $3 / 1000 }' >>"$DIR/$name.lat"
	rm -f "$DIR"/log_"$name".*
}

log "verify: $ROUNDS rounds of $SECS s per form, after a 2 s warm-up of each"
run_pgbench plain_verify -T 2 && : >"$DIR/plain_verify.lat"
run_pgbench sealed_verify -T 2 && : >"$DIR/sealed_verify.lat"
# pair FORM ARGS...: one run of each form, plain first in odd rounds
pair() {
	local what=$1 r=$2
	shift 2
	if [ $((r % 2)) -eq 1 ]; then
		run_pgbench "plain_$what" "$@"
		run_pgbench "sealed_$what" "$@"
	else
		run_pgbench "sealed_$what" "$@"
		run_pgbench "plain_$what" "$@"
	fi
}
for r in $(seq "$ROUNDS"); do
	pair verify "$r" -T "$SECS"
done
log "identify over $N: $REPS executions per form, after a warm-up"
run_pgbench plain_identify -t 1 && : >"$DIR/plain_identify.lat"
run_pgbench sealed_identify -t 1 && : >"$DIR/sealed_identify.lat"
for r in $(seq "$REPS"); do
	pair identify "$r" -t 1
done
log "open: 1000 probes per statement, $REPS executions per form, after a warm-up"
run_pgbench plain_open -t 1 && : >"$DIR/plain_open.lat"
run_pgbench sealed_open -t 1 && : >"$DIR/sealed_open.lat"
for r in $(seq "$REPS"); do
	pair open "$r" -t 1
done

# Backend CPU time per statement, immune to waiting for a CPU on a busy
# machine: one psql session runs prepared statements with the probe as a
# parameter (text: real[] input, or the box's base64), and reads the
# backend's /proc/PID/schedstat (ns on a CPU) around each execution.
# cpu_run NAME REPS: appends each execution's CPU time (ms) to $DIR/NAME.cpu
cpu_script() {
	local reps=$1 first=$2
	echo "SELECT pg_backend_pid() AS pid \\gset"
	echo "\\setenv PID :pid"
	echo "PREPARE plain_verify(real[]) AS SELECT biocrypt.verify(tpl, \$1, 0.5) FROM g WHERE id = 1;"
	echo "PREPARE sealed_verify(sealed_probe) AS SELECT biocrypt.verify_sealed(tpl, \$1, 0.5) FROM g WHERE id = 1;"
	echo "PREPARE plain_identify(real[]) AS SELECT * FROM biocrypt.identify('g', 'tpl', \$1, 10);"
	echo "PREPARE sealed_identify(sealed_probe) AS SELECT * FROM biocrypt.identify_sealed('g', 'tpl', \$1, 10);"
	for r in $(seq 0 "$reps"); do
		for form in $first; do
			local arg="'$VEC'"
			[ "${form%%_*}" = sealed ] && arg="'$BOX'"
			echo "\\! cut -d' ' -f1 /proc/\$PID/schedstat >> $DIR/$form.cpu.raw"
			echo "EXECUTE $form($arg) \\g /dev/null"
			echo "\\! cut -d' ' -f1 /proc/\$PID/schedstat >> $DIR/$form.cpu.raw"
		done
	done
}
cpu_run() {
	local what=$1 reps=$2
	: >"$DIR/plain_$what.cpu.raw"
	: >"$DIR/sealed_$what.cpu.raw"
	chown postgres "$DIR"/*.cpu.raw
	{
		cpu_script "$reps" "plain_$what sealed_$what"
	} >"$DIR/cpu_$what.sql"
	pg -f "$DIR/cpu_$what.sql" >/dev/null
	for form in "plain_$what" "sealed_$what"; do
		# pairs of readings; the first pair (r = 0) is the warm-up
		awk 'NR % 2 == 1 { a = $1 } NR % 2 == 0 && NR > 2 { printf "%.6f\n", ($1 - a) / 1e6 }' \
			"$DIR/$form.cpu.raw" >"$DIR/$form.cpu"
	done
}
log "backend CPU time: verify x $((ROUNDS * 40)), identify x $REPS per form, alternating"
cpu_run verify $((ROUNDS * 40))
cpu_run identify "$REPS"

report() {
	local what=$1 target=$2 p s pmin smin
	[ -z "${BENCH_OUT:-}" ] || cp "$DIR/plain_$what.lat" "$DIR/sealed_$what.lat" "$BENCH_OUT/"
	p=$(median <"$DIR/plain_$what.lat")
	s=$(median <"$DIR/sealed_$what.lat")
	pmin=$(minimum <"$DIR/plain_$what.lat")
	smin=$(minimum <"$DIR/sealed_$what.lat")
	awk -v w="$what" -v p="$p" -v s="$s" -v np="$(wc -l <"$DIR/plain_$what.lat")" \
		-v ns="$(wc -l <"$DIR/sealed_$what.lat")" -v t="$target" -v pm="$pmin" -v sm="$smin" 'BEGIN {
		r = s / p
		printf "%-9s plain %9.3f ms (min %9.3f, n %d)   sealed %9.3f ms (min %9.3f, n %d)   sealed/plain %.3f (min %.3f)",
			w, p, pm, np, s, sm, ns, r, sm / pm
		if (t != "") printf "   target <= %s: %s", t, (r <= t ? "PASS" : "MISS")
		printf "\n" }'
}
echo
echo "median latency per statement (transactions measured), 1 client:"
report verify 1.3
report identify 1.02
report open ""
for what in verify identify; do
	for form in plain sealed; do cp "$DIR/${form}_$what.cpu" "$DIR/${form}_cpu_$what.lat"; done
done
echo "backend CPU time per statement (probe as a parameter, text input):"
report cpu_verify 1.3
report cpu_identify 1.02
awk -v p="$(median <"$DIR/plain_open.lat")" -v s="$(median <"$DIR/sealed_open.lat")" \
	'BEGIN { printf "opening one box: %.1f us (difference of the medians / 1000 rows)\n", (s - p) }'
echo "load average: start $LOAD_START, end $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
