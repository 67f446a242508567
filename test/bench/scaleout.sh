#!/bin/bash
# biocrypt scale-out benchmark (Debian 12, as root; see test/bench/README.md).
#
# The gallery sharded with PL/Proxy of docs/scale-out.md ("Galleries sharded
# with PL/Proxy"), set up from test/scaleout/shard.sql and coordinator.sql
# as test/t/021_plproxy.pl sets it up: 3 shards and a coordinator, four
# throwaway clusters on Unix sockets on one machine, each with a root key of
# its own.  Two figures, against the targets:
#   1. what the coordinator adds to a fan-out search: with 100 subjects
#      (the scans cost next to nothing), identify(probe, 10) on the
#      coordinator minus the shard function it calls, identify_local(),
#      run directly on one shard; target <= 3 ms;
#   2. identify(probe, 10) over 3 shards of about SUBJECTS / 3 subjects
#      each, divided by biocrypt.identify() over one table of all SUBJECTS
#      templates on one server (shard0); target <= 1.5.
# Workload: pgbench -M prepared, 1 client, after an untimed warm-up; the
# two sides of each figure alternate (a, b, b, a, ...) so that drift of the
# machine's load falls on both; each figure is the median of the runs' mean
# latencies.  Checks that the merged top 10 equals the single server's
# (subjects and distances) and that the coordinator's audit log holds one
# identify row with origin 'shards' per search it ran in the timed runs.
#
# Environment:
#   BENCH_SCALEOUT_SUBJECTS=30000  subjects in phase 2 (more than 100)
#   BENCH_SCALEOUT_CHUNK=5000      enrolments per statement in phase 2
#   BENCH_SCALEOUT_SECONDS=10      each timed pgbench run
#   BENCH_SCALEOUT_RUNS=3          timed runs per side of each figure
#   BENCH_SKIP_INSTALL=1           use the installed extension as it is
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$SRC/test/bench"
SUBJECTS=${BENCH_SCALEOUT_SUBJECTS:-30000}
CHUNK=${BENCH_SCALEOUT_CHUNK:-5000}
SECS=${BENCH_SCALEOUT_SECONDS:-10}
RUNS=${BENCH_SCALEOUT_RUNS:-3}
PG_BIN=/usr/lib/postgresql/15/bin
TINY=100
DIMS=128
TARGET_MS=3
TARGET_RATIO=1.5
# small servers: four of them share the machine's cores and memory
SHARED_BUFFERS=128MB

if [ "$(id -u)" -ne 0 ]; then
	echo "scaleout.sh: run as root (it installs the extension; the servers run as postgres)" >&2
	exit 2
fi
for v in SUBJECTS CHUNK SECS RUNS; do
	case ${!v} in '' | *[!0-9]* | 0) echo "scaleout.sh: $v must be a positive integer, not '${!v}'" >&2; exit 2 ;; esac
done
if [ "$SUBJECTS" -le "$TINY" ]; then
	echo "scaleout.sh: SUBJECTS must exceed the $TINY subjects of phase 1, not $SUBJECTS" >&2
	exit 2
fi
PLPROXY_CONTROL="$(pg_config --sharedir)/extension/plproxy.control"
if [ ! -f "$PLPROXY_CONTROL" ]; then
	echo "scaleout.sh: PL/Proxy is not installed ($PLPROXY_CONTROL missing; apt-get install postgresql-15-plproxy)" >&2
	exit 2
fi

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then
	make -C "$SRC" -s >/dev/null
	make -C "$SRC" -s install >/dev/null
fi
TOP=$(mktemp -d /tmp/biocrypt-bench-scaleout.XXXXXX)
RESULTS="$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)-scaleout"
mkdir -p "$RESULTS"
chmod 755 "$TOP"
chown postgres:postgres "$TOP"
as_pg() { runuser -u postgres -- "$@"; }
# shellcheck source=test/bench/cluster.sh
. "$BENCH/cluster.sh"

NODES=(shard0 shard1 shard2 coord)
declare -A PORT=([shard0]=5440 [shard1]=5441 [shard2]=5442 [coord]=5443)
# on NODE: psql in its database gallery
on() {
	local node=$1
	shift
	as_pg psql -h "$TOP/$node" -p "${PORT[$node]}" -d gallery -X -q -v ON_ERROR_STOP=1 "$@"
}
conninfo() { echo "host=$TOP/$1 port=${PORT[$1]} dbname=gallery"; }
cleanup() {
	set +e
	for n in "${NODES[@]}"; do
		cp "$TOP/$n/log" "$RESULTS/log.$n" 2>/dev/null
		as_pg "$PG_BIN/pg_ctl" -D "$TOP/$n/data" -m immediate stop >/dev/null 2>&1
	done
	rm -rf "$TOP"
}
trap cleanup EXIT
# shellcheck disable=SC2059 # say takes printf's arguments, the format first
say() { printf "$@" | tee -a "$RESULTS/summary.txt"; }
now() { date +%s.%N; }
since() { awk -v t0="$1" -v t1="$(now)" 'BEGIN {printf "%.1f", t1 - t0}'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# deterministic embeddings, as in test/t/021_plproxy.pl but 128-d: subject
# i's, and a probe near it
EMB="CREATE FUNCTION emb(i int, jitter float8 DEFAULT 0) RETURNS real[]
LANGUAGE sql IMMUTABLE AS \$\$
	SELECT array_agg((x - floor(x) - 0.5 + jitter * cos(d))::real ORDER BY d)
	FROM (SELECT d, sin(i * 12.9898 + d * 78.233) * 43758.5453 AS x
		FROM generate_series(1, $DIMS) d) r
\$\$;"

# each server: its own root key (bench_cluster draws one per DIR), its name
# as cluster_name, which the shards report with each candidate
for n in "${NODES[@]}"; do
	DIR="$TOP/$n"
	mkdir "$DIR"
	chown postgres:postgres "$DIR"
	bench_cluster "$SHARED_BUFFERS"
	cat >>"$DIR/data/postgresql.conf" <<CONF
port = ${PORT[$n]}
cluster_name = '$n'
fsync = on
synchronous_commit = on
CONF
	as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start >/dev/null
	as_pg psql -h "$DIR" -p "${PORT[$n]}" -d postgres -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE DATABASE gallery;
-- the purpose the subjects are enrolled for; the superuser needs no grant
ALTER DATABASE gallery SET biocrypt.purpose = 'identification';
SQL
	if [ "$n" != coord ]; then
		on "$n" -f "$SRC/test/scaleout/shard.sql" >/dev/null
	fi
	on "$n" -c "$EMB"
done
on coord -v shard0="$(conninfo shard0)" -v shard1="$(conninfo shard1)" -v shard2="$(conninfo shard2)" \
	-f "$SRC/test/scaleout/coordinator.sql" >/dev/null

bench_so_info
PLPROXY_VERSION=$(on coord -At -c "SELECT extversion FROM pg_extension WHERE extname = 'plproxy'")
say '\nPL/Proxy scale-out: a coordinator and 3 shards (test/scaleout/*.sql), four clusters on one machine\n'
say '%s\n' "$SO_INFO"
say 'PL/Proxy %s; %s cores; load average at start: %s\n' "$PLPROXY_VERSION" "$(nproc)" "$LOAD_START"
say 'settings (each server): shared_buffers = %s, fsync = on, synchronous_commit = on,\n' "$SHARED_BUFFERS"
PORTS=""
for n in "${NODES[@]}"; do PORTS="$PORTS${PORTS:+, }$n ${PORT[$n]}"; done
say '  max_parallel_workers_per_gather = 0, jit = off, autovacuum = off; Unix sockets, ports %s\n' "$PORTS"
say 'embeddings: %d-d f32, emb(i) as in test/t/021_plproxy.pl; probe emb(17, 0.05); k = 10\n' "$DIMS"
say 'pgbench -n -M prepared -c 1 -T %d, %d alternating runs per side after a warm-up; medians of the mean latencies\n\n' \
	"$SECS" "$RUNS"

# The probe goes into the pgbench scripts as a literal, so that neither side
# spends anything on emb() and both send the same bytes.
PROBE=$(on coord -At -c "SELECT emb(17, 0.05)")
cat >"$TOP/coord.sql" <<SQL
SELECT * FROM identify('$PROBE'::real[], 10);
SQL
cat >"$TOP/local.sql" <<SQL
SELECT * FROM identify_local('00000000-0000-4000-8000-000000000017', 'identification', '$PROBE'::real[], 10);
SQL
cat >"$TOP/single.sql" <<SQL
SELECT * FROM biocrypt.identify('everyone', 'face', '$PROBE'::real[], 10);
SQL
chown postgres "$TOP"/*.sql

# one pgbench run of SCRIPT on NODE for SECONDS: prints "tps latency_ms transactions"
run() {
	echo "== $1 $2, $3 s" >>"$RESULTS/pgbench.txt"
	as_pg "$PG_BIN/pgbench" -h "$TOP/$1" -p "${PORT[$1]}" -n -M prepared -c 1 -T "$3" -f "$TOP/$2.sql" gallery 2>&1 |
		tee -a "$RESULTS/pgbench.txt" |
		awk '/^latency average/ {lat=$4} /^tps/ {tps=$3}
			/^number of transactions actually processed/ {split($0, a, ": "); split(a[2], b, "/"); tx=b[1]}
			END {print tps, lat, tx}'
}
head_id() { on coord -At -c 'SELECT coalesce(max(id), 0) FROM biocrypt.audit_log'; }
coord_searches() {
	on coord -At -c "SELECT count(*) FROM biocrypt.audit_log
		WHERE id > $1 AND operation = 'identify' AND origin = 'shards'"
}

# measure A_NODE A_SCRIPT B_NODE B_SCRIPT: RUNS alternating runs of each;
# sets LAT_A, LAT_B (the runs' mean latencies), TX_A (A's transactions) and
# AUDIT_A (the coordinator's identify rows written meanwhile)
measure() {
	local r pair side from lat tx
	run "$1" "$2" 2 >/dev/null
	run "$3" "$4" 2 >/dev/null
	LAT_A="" LAT_B="" TX_A=0
	from=$(head_id)
	for r in $(seq 1 "$RUNS"); do
		if [ $((r % 2)) -eq 1 ]; then pair="A B"; else pair="B A"; fi
		for side in $pair; do
			if [ "$side" = A ]; then
				read -r _ lat tx < <(run "$1" "$2" "$SECS")
				[ -n "$lat" ] || { echo "scaleout.sh: pgbench on $1 failed (see $RESULTS/pgbench.txt)" >&2; exit 1; }
				LAT_A="$LAT_A $lat"
				TX_A=$((TX_A + tx))
			else
				read -r _ lat tx < <(run "$3" "$4" "$SECS")
				[ -n "$lat" ] || { echo "scaleout.sh: pgbench on $3 failed (see $RESULTS/pgbench.txt)" >&2; exit 1; }
				LAT_B="$LAT_B $lat"
			fi
		done
	done
	AUDIT_A=$(coord_searches "$from")
}

# phase 1: tiny shards
t0=$(now)
on coord -At -c "SELECT count(enrol('subject-' || i, emb(i), ARRAY['identification'])) FROM generate_series(1, $TINY) i" >/dev/null
HOME17="shard$(on coord -At -c "SELECT shard_of('subject-17')")"
say 'phase 1: %d subjects enrolled through the coordinator in %s s; subject-17 lives on %s (the direct side)\n' \
	"$TINY" "$(since "$t0")" "$HOME17"
measure coord coord "$HOME17" local
P1_COORD=$(median <<<"$LAT_A")
P1_LOCAL=$(median <<<"$LAT_B")
P1_RUNS=$(printf 'coordinator%s ms; %s directly%s ms' "$LAT_A" "$HOME17" "$LAT_B")
P1_TX=$TX_A P1_AUDIT=$AUDIT_A

# phase 2: enrol the rest through the coordinator, a chunk per statement
t0=$(now)
for ((lo = TINY + 1; lo <= SUBJECTS; lo += CHUNK)); do
	hi=$((lo + CHUNK - 1 < SUBJECTS ? lo + CHUNK - 1 : SUBJECTS))
	on coord -At -c "SELECT count(enrol('subject-' || i, emb(i), ARRAY['identification'])) FROM generate_series($lo, $hi) i" >/dev/null
done
ENROL_S=$(since "$t0")
say 'phase 2: %d more subjects enrolled through the coordinator in %s s (%s per second, %d per statement)\n' \
	$((SUBJECTS - TINY)) "$ENROL_S" "$(awk -v n=$((SUBJECTS - TINY)) -v s="$ENROL_S" 'BEGIN {printf "%.0f", n / s}')" "$CHUNK"
TOTAL=0
for i in 0 1 2; do
	read -r cnt misplaced < <(on "shard$i" -At -F ' ' -c "SELECT count(*),
		count(*) FILTER (WHERE abs(hashtext(subject) % 3) <> $i) FROM people")
	say '  shard%d: %d subjects (%d not hashed there)\n' "$i" "$cnt" "$misplaced"
	if [ "$misplaced" -ne 0 ] || [ "$cnt" -lt $((SUBJECTS / 5)) ]; then
		echo "scaleout.sh: shard$i does not hold its share of the gallery" >&2
		exit 1
	fi
	TOTAL=$((TOTAL + cnt))
done
if [ "$TOTAL" -ne "$SUBJECTS" ]; then
	echo "scaleout.sh: the shards hold $TOTAL subjects, not $SUBJECTS" >&2
	exit 1
fi
# the same templates in one table of one server, sealed under shard0's key
t0=$(now)
on shard0 <<SQL
CREATE TABLE everyone (subject text, face protected_template);
INSERT INTO everyone SELECT 'subject-' || i, biocrypt.protect(emb(i), 'subject-' || i, NULL, ARRAY['identification'])
FROM generate_series(1, $SUBJECTS) i;
SQL
say '  shard0: everyone (%d templates, the single server) sealed in %s s\n' "$SUBJECTS" "$(since "$t0")"
for n in "${NODES[@]}"; do
	on "$n" -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
done

# the merged top 10 must be the single server's, distances included
MERGED=$(on coord -At -c "SELECT string_agg(subject || ':' || distance, ' ' ORDER BY distance, subject)
	FROM identify('$PROBE'::real[], 10)")
SINGLE=$(on shard0 -At -c "SELECT string_agg(subject || ':' || distance, ' ' ORDER BY distance, subject)
	FROM biocrypt.identify('everyone', 'face', '$PROBE'::real[], 10)")
if [ "$MERGED" != "$SINGLE" ] || [ "$(wc -w <<<"$MERGED")" -ne 10 ]; then
	say 'merged top 10: %s\nsingle top 10: %s\n' "$MERGED" "$SINGLE"
	echo "scaleout.sh: the coordinator's merged top 10 differs from the single server's" >&2
	exit 1
fi
say '  merged top 10 = single server top 10 (subjects and distances); first %s\n\n' "${MERGED%% *}"

measure coord coord shard0 single
P2_COORD=$(median <<<"$LAT_A")
P2_SINGLE=$(median <<<"$LAT_B")
P2_RUNS=$(printf 'coordinator%s ms; shard0 single table%s ms' "$LAT_A" "$LAT_B")
P2_TX=$TX_A P2_AUDIT=$AUDIT_A

OVERHEAD=$(awk -v a="$P1_COORD" -v b="$P1_LOCAL" 'BEGIN {printf "%.3f", a - b}')
RATIO=$(awk -v a="$P2_COORD" -v b="$P2_SINGLE" 'BEGIN {printf "%.2f", a / b}')
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t) ? "PASS" : "MISS"}'; }
row() { say '%-58s %10s %10s  %s\n' "$@"; }
row "figure" "ms" "target" ""
row "identify() on the coordinator, $TINY subjects" "$P1_COORD" "" ""
row "identify_local() directly on $HOME17" "$P1_LOCAL" "" ""
row "coordinator overhead per fan-out search" "$OVERHEAD" "<= $TARGET_MS" "$(verdict "$OVERHEAD" "$TARGET_MS")"
row "identify() on the coordinator, 3 shards, $SUBJECTS subjects" "$P2_COORD" "" ""
row "biocrypt.identify() on one server, $SUBJECTS templates" "$P2_SINGLE" "" ""
row "fan-out / single server (ratio)" "$RATIO" "<= $TARGET_RATIO" "$(verdict "$RATIO" "$TARGET_RATIO")"
say '\nruns, phase 1: %s\n' "$P1_RUNS"
say 'runs, phase 2: %s\n' "$P2_RUNS"
say 'coordinator searches in the timed runs: %d and %d; its identify rows (origin shards): %d and %d\n' \
	"$P1_TX" "$P2_TX" "$P1_AUDIT" "$P2_AUDIT"
say 'load average at end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
say 'results: %s\n' "$RESULTS"
if [ "$P1_AUDIT" != "$P1_TX" ] || [ "$P2_AUDIT" != "$P2_TX" ]; then
	echo "scaleout.sh: the coordinator's audit log does not hold one identify row per search" >&2
	exit 1
fi
