#!/bin/bash
# biocrypt score-disclosure benchmark (Debian 12, as root; see
# test/bench/README.md).
#
# What counting and rounding scores (src/match/disclosure.c) costs a role
# that does not administer biocrypt.  Starts a throwaway cluster as the
# postgres user, loads N 512-d f16 templates of N distinct subjects, and
# times, as a matcher and as an administrator (the floor: exact scores,
# nothing counted), interleaved within each repetition:
#   (a) SELECT ... ORDER BY tpl <=> probe LIMIT 10: one score charged per row;
#   (b) identify(..., k => 10): ten scores charged per search;
#   (c) the matcher with biocrypt.score_budget = -1 (rounding only).
# Each figure is the median of the repetitions' wall times (psql \timing,
# new session each).  Prints the table with the ratios to the floor.
#
# Environment:
#   BENCH_DISC_N=100000   templates
#   BENCH_DISC_REPS=7     repetitions (the budget, 64, must exceed them)
#   BENCH_SKIP_INSTALL=1  do not build and install (make && make install)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$SRC/test/bench"
N=${BENCH_DISC_N:-100000}
REPS=${BENCH_DISC_REPS:-7}
PG_BIN=/usr/lib/postgresql/15/bin

if [ "$(id -u)" -ne 0 ]; then
	echo "disclosure.sh: run as root (the server itself runs as postgres)" >&2
	exit 2
fi
for v in N REPS; do
	case ${!v} in '' | *[!0-9]* | 0) echo "disclosure.sh: $v must be a positive integer, not '${!v}'" >&2; exit 2 ;; esac
done
[ "$REPS" -lt 64 ] || { echo "disclosure.sh: REPS must stay below the default budget (64)" >&2; exit 2; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then
	make -C "$SRC" -s >/dev/null
	make -C "$SRC" -s install >/dev/null
fi
DIR=$(mktemp -d /tmp/biocrypt-bench-disc.XXXXXX)
chmod 755 "$DIR"
chown postgres:postgres "$DIR"
as_pg() { runuser -u postgres -- "$@"; }
# shellcheck source=test/bench/cluster.sh
. "$BENCH/cluster.sh"
pg() { as_pg psql -h "$DIR" -d bench -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
	set +e
	as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$DIR"
}
trap cleanup EXIT

bench_cluster 2GB
as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start >/dev/null
as_pg psql -h "$DIR" -d postgres -X -q -c 'CREATE DATABASE bench'
pg <<SQL
CREATE EXTENSION biocrypt;
SELECT setseed(0.5);
CREATE TABLE g (id int PRIMARY KEY, tpl protected_template);
INSERT INTO g SELECT i, biocrypt.protect(
	(SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 512) WHERE i > 0),
	's' || i, NULL, '{verification}', 'f16')
FROM generate_series(1, $N) i;
VACUUM ANALYZE g;
CREATE TABLE probe AS SELECT array_agg((random() - 0.5)::real) AS v FROM generate_series(1, 512);
CREATE ROLE m LOGIN IN ROLE biocrypt_matcher;
CREATE ROLE a LOGIN IN ROLE biocrypt_admin;
SELECT biocrypt.grant_purpose('m', 'verification'), biocrypt.grant_purpose('a', 'verification');
GRANT SELECT ON g, probe TO m, a;
SQL

# time_sql ROLE SETTINGS QUERY: wall milliseconds of QUERY in a new session
time_sql() {
	as_pg psql -h "$DIR" -d bench -U "$1" -X -q -v ON_ERROR_STOP=1 <<SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
SET biocrypt.purpose = 'verification';
$2
\\o /dev/null
\\timing on
$3
SQL
}

ORDER_Q="SELECT id, tpl <=> (SELECT v FROM probe) FROM g ORDER BY tpl <=> (SELECT v FROM probe) LIMIT 10;"
IDENT_Q="SELECT * FROM biocrypt.identify('g', 'tpl', (SELECT v FROM probe), 10);"
declare -A T
for rep in $(seq 0 "$REPS"); do
	for m in order_admin order_matcher order_unbudgeted ident_admin ident_matcher; do
		case $m in
			order_admin) t=$(time_sql a "" "$ORDER_Q") ;;
			order_matcher) t=$(time_sql m "" "$ORDER_Q") ;;
			order_unbudgeted) t=$(pg -c "ALTER ROLE m SET biocrypt.score_budget = -1" && time_sql m "" "$ORDER_Q"; pg -c "ALTER ROLE m RESET biocrypt.score_budget") ;;
			ident_admin) t=$(time_sql a "" "$IDENT_Q") ;;
			ident_matcher) t=$(time_sql m "" "$IDENT_Q") ;;
		esac
		# repetition 0 warms the caches and is not counted
		[ "$rep" -eq 0 ] || T[$m]="${T[$m]:-} $t"
	done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf '\nscore disclosure, N = %d 512-d f16 templates, %d repetitions (median wall ms)\n' "$N" "$REPS"
printf 'load average at start: %s, at end: %s\n\n' "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %10s %8s\n' "figure" "ms" "ratio"
oa=$(median <<<"${T[order_admin]}")
ia=$(median <<<"${T[ident_admin]}")
for m in order_admin order_unbudgeted order_matcher ident_admin ident_matcher; do
	v=$(median <<<"${T[$m]}")
	case $m in order_*) f=$oa ;; *) f=$ia ;; esac
	case $m in
		order_admin) label="ORDER BY <=> LIMIT 10, admin (floor)" ;;
		order_unbudgeted) label="ORDER BY, matcher, rounding only" ;;
		order_matcher) label="ORDER BY, matcher, rounded and counted" ;;
		ident_admin) label="identify() k=10, admin (floor)" ;;
		ident_matcher) label="identify() k=10, matcher" ;;
	esac
	printf '%-44s %10.1f %8.3f\n' "$label" "$v" "$(awk -v a="$v" -v b="$f" 'BEGIN {print a / b}')"
done
pg -c "SELECT role_name, subjects, scores, most_for_one_subject, scores_refused FROM biocrypt.score_budgets"
