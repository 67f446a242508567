#!/bin/bash
# biocrypt standby benchmark (Debian 12, as root; see test/bench/README.md).
#
# An audited verify on a streaming hot standby, whose audit rows are
# committed in the primary's chain (through biocrypt.audit_forward()), side
# by side with the same verify on the primary, in one run, on one machine:
# a primary and a standby of it on Unix sockets, both on the same cores.
# Workload: pgbench -M prepared, 1 client, SELECT biocrypt.verify(tpl,
# <probe>, 0.1) FROM g WHERE id = :id over N 512-d f32 templates; each
# statement waits before its decryption until its begun row has committed
# (on the standby: on the primary, after a round trip), and its completion
# follows.  The order alternates (primary, standby, standby, primary, ...)
# so that drift of the machine's load falls on both.  Prints the medians of
# the runs' mean latencies and the ratio, against the target of issue 15
# (standby / primary <= 2.5), and checks that the primary's log holds one
# begun row and one completion from the standby per verify it ran.
#
# Environment:
#   BENCH_STANDBY_TEMPLATES=5000   rows of g
#   BENCH_STANDBY_SECONDS=10       each timed pgbench run
#   BENCH_STANDBY_RUNS=3           timed runs per server (alternating)
#   BENCH_SKIP_INSTALL=1           use the installed extension as it is
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$SRC/test/bench"
N=${BENCH_STANDBY_TEMPLATES:-5000}
SECS=${BENCH_STANDBY_SECONDS:-10}
RUNS=${BENCH_STANDBY_RUNS:-3}
PG_BIN=/usr/lib/postgresql/15/bin
TARGET=2.5

if [ "$(id -u)" -ne 0 ]; then
	echo "standby.sh: run as root (it installs the extension; the servers run as postgres)" >&2
	exit 2
fi
for v in N SECS RUNS; do
	case ${!v} in '' | *[!0-9]* | 0) echo "standby.sh: $v must be a positive integer, not '${!v}'" >&2; exit 2 ;; esac
done

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then
	make -C "$SRC" -s >/dev/null
	make -C "$SRC" -s install >/dev/null
fi
DIR=$(mktemp -d /tmp/biocrypt-bench-standby.XXXXXX)
RESULTS="$BENCH/results/$(date -u +%Y%m%dT%H%M%SZ)-standby"
mkdir -p "$RESULTS"
chmod 755 "$DIR"
chown postgres:postgres "$DIR"
as_pg() { runuser -u postgres -- "$@"; }
. "$BENCH/cluster.sh"
pg() { as_pg psql -h "$DIR" -p 5432 -d bench -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
	set +e
	cp "$DIR"/log.* "$RESULTS/" 2>/dev/null
	as_pg "$PG_BIN/pg_ctl" -D "$DIR/standby" -m immediate stop >/dev/null 2>&1
	as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT

# the primary (port 5432) and its standby (port 5433), same root key
bench_cluster 512MB
cat >>"$DIR/data/postgresql.conf" <<CONF
port = 5432
wal_level = replica
max_wal_senders = 4
CONF
as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log.primary" -w start >/dev/null
as_pg psql -h "$DIR" -p 5432 -d postgres -X -q -c 'CREATE DATABASE bench'
pg <<SQL
CREATE EXTENSION biocrypt;
CREATE ROLE standby_audit LOGIN IN ROLE biocrypt_standby;
SELECT setseed(0.5);
CREATE TABLE g (id int PRIMARY KEY, tpl protected_template);
INSERT INTO g SELECT i, biocrypt.protect(
	(SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 512) WHERE i > 0), 's' || i)
FROM generate_series(1, $N) i;
VACUUM ANALYZE g;
CREATE TABLE probe AS SELECT array_agg((random() - 0.5)::real) AS v FROM generate_series(1, 512);
-- the templates' default purpose; the superuser needs no grant
ALTER DATABASE bench SET biocrypt.purpose = 'verification';
SQL
as_pg "$PG_BIN/pg_basebackup" -h "$DIR" -p 5432 -D "$DIR/standby" -R -X stream -c fast
cat >>"$DIR/standby/postgresql.conf" <<CONF
port = 5433
cluster_name = 'bench_standby'
biocrypt.primary_conninfo = 'host=$DIR port=5432 user=standby_audit'
CONF
as_pg "$PG_BIN/pg_ctl" -D "$DIR/standby" -l "$DIR/log.standby" -w start >/dev/null
until [ "$(as_pg psql -h "$DIR" -p 5433 -d bench -XAtc 'SELECT count(*) FROM g' 2>/dev/null)" = "$N" ]; do sleep 0.2; done

PROBE=$(pg -At -c 'SELECT v FROM probe')
cat >"$DIR/verify.sql" <<SQL
\\set id random(1, $N)
SELECT biocrypt.verify(tpl, '$PROBE'::real[], 0.1) FROM g WHERE id = :id;
SQL
chown postgres "$DIR/verify.sql"

# one pgbench run against port $1 for $2 seconds: prints "tps latency_ms transactions"
run() {
	echo "== port $1, $2 s" >>"$RESULTS/pgbench.txt"
	as_pg "$PG_BIN/pgbench" -h "$DIR" -p "$1" -n -M prepared -c 1 -T "$2" -f "$DIR/verify.sql" bench 2>&1 |
		tee -a "$RESULTS/pgbench.txt" |
		awk '/^latency average/ {lat=$4} /^tps/ {tps=$3}
			/^number of transactions actually processed/ {split($0, a, ": "); tx=a[2]}
			END {print tps, lat, tx}'
}
head_id() { pg -At -c 'SELECT coalesce(max(id), 0) FROM biocrypt.audit_log'; }

run 5432 2 >/dev/null
run 5433 2 >/dev/null
declare -A LAT TPS
FROM_ID=$(head_id)
STANDBY_TX=0
for r in $(seq 1 "$RUNS"); do
	if [ $((r % 2)) -eq 1 ]; then order="5432 5433"; else order="5433 5432"; fi
	for port in $order; do
		read -r tps lat tx < <(run "$port" "$SECS")
		LAT[$port]="${LAT[$port]:-} $lat"
		TPS[$port]="${TPS[$port]:-} $tps"
		[ "$port" = 5432 ] || STANDBY_TX=$((STANDBY_TX + tx))
	done
done
sleep 1
# every verify on the standby: one begun row and one completion on the primary
read -r BEGUN DONE < <(pg -At -F ' ' -c "SELECT count(*) FILTER (WHERE outcome = 'begun'),
	count(*) FILTER (WHERE outcome = 'ok' AND begun_id IS NOT NULL)
	FROM biocrypt.audit_log WHERE id > $FROM_ID AND origin LIKE 'bench_standby %' AND operation = 'verify'")

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
P=$(median <<<"${LAT[5432]}")
S=$(median <<<"${LAT[5433]}")
RATIO=$(awk -v s="$S" -v p="$P" 'BEGIN {printf "%.2f", s / p}')
VERDICT=$(awk -v r="$RATIO" -v t="$TARGET" 'BEGIN {print (r <= t) ? "PASS" : "MISS"}')
{
	printf '\naudited verify, standby vs primary: %d 512-d f32 templates, pgbench -M prepared, 1 client,\n' "$N"
	printf '%d alternating runs of %d s per server (medians of the runs'"'"' mean latencies)\n' "$RUNS" "$SECS"
	printf 'load average at start: %s, at end: %s; %s\n\n' "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc) cores"
	printf '%-46s %12s %10s\n' "figure" "latency ms" "tps"
	printf '%-46s %12s %10s\n' "verify on the primary (the floor)" "$P" "$(median <<<"${TPS[5432]}")"
	printf '%-46s %12s %10s\n' "verify on the standby (audited on the primary)" "$S" "$(median <<<"${TPS[5433]}")"
	printf '\n%-46s %12s %10s  %s\n' "standby / primary" "$RATIO" "<= $TARGET" "$VERDICT"
	printf 'runs: primary%s ms; standby%s ms\n' "${LAT[5432]}" "${LAT[5433]}"
	printf 'standby verifies in the timed runs: %s; their rows on the primary: %s begun, %s completions\n' \
		"$STANDBY_TX" "$BEGUN" "$DONE"
} | tee "$RESULTS/summary.txt"
if [ "$BEGUN" != "$STANDBY_TX" ] || [ "$DONE" != "$STANDBY_TX" ]; then
	echo "standby.sh: the primary's audit log does not hold one begun row and one completion per standby verify" >&2
	exit 1
fi
