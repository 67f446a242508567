#!/bin/bash
# biocrypt retention benchmark (Debian 12, as root; see test/bench/README.md).
#
# Starts a throwaway cluster as the postgres user (like run.sh), and
# measures in one run, side by side with their floors:
#   (a) purge: biocrypt.purge_expired() over N expired 512-d f32 templates
#       in a registered column, on_expiry 'delete' and 'null'; floors: the
#       same rows removed by a plain DELETE (UPDATE ... SET tpl = NULL for
#       'null') on an identical table without the policy trigger, selected
#       by id (executor floor) and by biocrypt.expires_at(tpl) <= now()
#       (header-parse floor);
#   (b) reencrypt: after biocrypt.rotate_key(), biocrypt.reencrypt(t, 'tpl')
#       over N live templates (column unregistered, and registered); floors:
#       UPDATE t SET tpl = tpl on an identical table (executor floor: a new
#       version of every row with a template-sized value, no crypto) and
#       reseal_floor.c (the server's AeadOpen + AeadSeal of N templates, no
#       PostgreSQL); and, as the brief's variant, reencrypt against
#       UPDATE w SET tpl = tpl2 on a table w with a second template column.
# Every run gets a freshly built table (copied from a master table, VACUUM
# ANALYZEd, CHECKPOINTed), its statement is timed by psql's \timing in a new
# session (wall time of the statement including its commit), and figures are
# medians over the runs; methods are interleaved within each repetition.
# Prints the tables and writes summary.txt and raw.csv under
# test/bench/results/<timestamp>-retention/.
#
# Environment:
#   BENCH_RET_N=100000            templates per run
#   BENCH_RET_REPS=5              runs per figure (median)
#   BENCH_RET_WIDE_REPS=3         runs of the wide-table pair (0: skip it)
#   BENCH_RET_POLICY=1            0: skip reencrypt on a registered column
#   BENCH_RET_SHARED_BUFFERS=3GB  must hold the masters and the largest table
#   BENCH_SKIP_INSTALL=1          do not build and install (make && make install)
set -euo pipefail

START=$SECONDS
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH="$SRC/test/bench"
N=${BENCH_RET_N:-100000}
REPS=${BENCH_RET_REPS:-5}
WIDE_REPS=${BENCH_RET_WIDE_REPS:-3}
POLICY=${BENCH_RET_POLICY:-1}
SHARED_BUFFERS=${BENCH_RET_SHARED_BUFFERS:-3GB}
PG_BIN=/usr/lib/postgresql/15/bin
DIMS=512
SEED=42

if [ "$(id -u)" -ne 0 ]; then
	echo "retention.sh: run as root (the server itself runs as postgres)" >&2
	exit 2
fi
for v in N REPS; do
	case ${!v} in '' | *[!0-9]* | 0) echo "retention.sh: $v must be a positive integer, not '${!v}'" >&2; exit 2 ;; esac
done
for v in WIDE_REPS POLICY; do
	case ${!v} in '' | *[!0-9]*) echo "retention.sh: $v must be a non-negative integer, not '${!v}'" >&2; exit 2 ;; esac
done
[ "$WIDE_REPS" -le "$REPS" ] || WIDE_REPS=$REPS

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
DATE_START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
if [ "${BENCH_SKIP_INSTALL:-0}" != 1 ]; then
	make -C "$SRC" -s >/dev/null
	make -C "$SRC" -s install >/dev/null
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$BENCH/results/$STAMP-retention"
mkdir -p "$RES"
DIR=$(mktemp -d /tmp/biocrypt-bench-ret.XXXXXX)
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
log() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - START))s] $*"; }

# --- helpers: the generator and the crypto floor ------------------------------
# (the Makefile's targets: reseal_floor links the server's own base/aead.c;
# copied so that a rebuild or make clean in the tree during the run changes nothing)
make -C "$SRC" -s test/bench/gen test/bench/reseal_floor >/dev/null
mkdir "$DIR/bin"
install -m 755 "$BENCH/gen" "$BENCH/reseal_floor" "$DIR/bin/"

# --- the throwaway cluster ---------------------------------------------------------
bench_cluster "$SHARED_BUFFERS"
# the purge launcher waits one interval before its first round: the longest
# interval keeps it from purging the benchmark's tables
cat >>"$DIR/data/postgresql.conf" <<CONF
biocrypt.purpose = 'verification'
biocrypt.purge_interval = 2147483
CONF
bench_so_info
as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
as_pg psql -h "$DIR" -d postgres -X -q -c "CREATE DATABASE bench"
pg <<'SQL'
CREATE EXTENSION biocrypt;
CREATE SCHEMA rbench;
-- one row per timed run (server) or pass (reseal_floor.c)
CREATE TABLE rbench.raw (method text, rep int, ms float8, n int);
CREATE TABLE rbench.stage (id int, emb real[]);
CREATE TABLE rbench.probe (emb real[]);
SQL
log "cluster up in $DIR (shared_buffers $SHARED_BUFFERS); N=$N, $REPS runs per figure ($WIDE_REPS for the wide table)"

# --- master tables ------------------------------------------------------------------
# mexp: templates sealed to expire 2 s after their protect() call (a template
# cannot be sealed in the past); mlive: default retention, sealed after mexp,
# which gives mexp's templates time to expire.  Subjects are distinct.
log "generating $N embeddings and sealing the master tables"
"$DIR/bin/gen" vec "$N" "$SEED" "$DIMS" | pg -c "COPY rbench.stage FROM STDIN (FORMAT binary)"
pg -c "INSERT INTO rbench.probe SELECT emb FROM rbench.stage WHERE id = 1"
t0=$SECONDS
pg -c "CREATE TABLE rbench.mexp AS SELECT id, biocrypt.protect(emb, 'subject-' || lpad(id::text, 8, '0'),
		   retain_until => clock_timestamp() + interval '2 seconds') AS tpl FROM rbench.stage"
pg -c "CREATE TABLE rbench.mlive AS SELECT id, biocrypt.protect(emb, 'subject-' || lpad(id::text, 8, '0'))
		   AS tpl FROM rbench.stage"
SEAL_S=$((SECONDS - t0))
pg -c "TRUNCATE rbench.stage"
pg -c "SELECT pg_sleep(greatest(0, extract(epoch FROM max(biocrypt.expires_at(tpl)) - clock_timestamp()) + 0.5))
	   FROM rbench.mexp" >/dev/null
[ "$(pg -At -c "SELECT count(*) FROM rbench.mexp WHERE biocrypt.expires_at(tpl) > now()")" = 0 ] ||
	{ echo "retention.sh: master templates have not expired" >&2; exit 1; }
# retire the key of mlive: every copy of it has N templates to move
ROTATED=$(pg -At -c "SELECT biocrypt.rotate_key()")
pg -c "VACUUM (ANALYZE) rbench.mexp" -c "VACUUM (ANALYZE) rbench.mlive" -c "CHECKPOINT"
PURPOSES=$(pg -At -c "SELECT biocrypt.purposes_of(tpl) FROM rbench.mlive LIMIT 1")
ENV_BYTES=$(pg -At -c "SELECT octet_length(protected_template_send(tpl)) FROM rbench.mlive LIMIT 1")
CIPHER=$(pg -At -c "SELECT get_byte(protected_template_send(tpl), 4) FROM rbench.mlive LIMIT 1")
NONCE=$([ "$CIPHER" = 1 ] && echo 12 || echo 24)
PAYLOAD=$((DIMS * 4))
HEADER=$((ENV_BYTES - NONCE - PAYLOAD - 16))
MASTERS=$(pg -At -c "SELECT 'mexp ' || pg_size_pretty(pg_table_size('rbench.mexp')) || ', mlive '
					  || pg_size_pretty(pg_table_size('rbench.mlive'))")
log "masters sealed in ${SEAL_S}s ($MASTERS; envelope $ENV_BYTES bytes, header $HEADER, cipher byte $CIPHER); rotate_key() retired $ROTATED keys"

# --- measurement ---------------------------------------------------------------------
# build TABLE MASTER SHAPE POLICY: a fresh copy of MASTER (SHAPE narrow: id,
# tpl; wide: id, tpl, tpl2 = a copy of tpl), registered with protect_column
# when POLICY is delete/null/keep, VACUUM ANALYZEd, and a CHECKPOINT
build() {
	local t=$1 src=$2 shape=$3 policy=$4 cols="id int, tpl protected_template" sel="id, tpl"
	if [ "$shape" = wide ]; then
		cols="$cols, tpl2 protected_template"
		sel="$sel, tpl"
	fi
	pg -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS $t" -c "CREATE TABLE $t ($cols)" -c "INSERT INTO $t SELECT $sel FROM $src"
	case $policy in
		delete | null) pg -o /dev/null -c "SELECT biocrypt.protect_column('$t', 'tpl', '1 day', '$PURPOSES', '$policy')" ;;
		keep) pg -o /dev/null -c "SELECT biocrypt.protect_column('$t', 'tpl', '2 years', '$PURPOSES', 'delete')" ;;
	esac
	pg -c "VACUUM (ANALYZE) $t" -c "CHECKPOINT"
}

# timed METHOD REP SQL: run SQL alone in a new session under \timing, check
# that it reports N rows (the last number it prints), record its time
timed() {
	local method=$1 rep=$2 sql=$3 out ms got
	out=$(as_pg psql -h "$DIR" -d bench -X -At -v ON_ERROR_STOP=1 \
		-c "SET client_min_messages = warning" -c '\timing on' -c "$sql" 2>&1) ||
		{ echo "retention.sh: $method failed: $out" >&2; exit 1; }
	ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*$/\1/p' <<<"$out" | tail -1)
	got=$(grep -v -e '^Time:' -e '^Timing' -e '^SET$' <<<"$out" | grep -o '[0-9]*$' | tail -1)
	if [ -z "$ms" ] || [ "$got" != "$N" ]; then
		echo "retention.sh: $method run $rep: expected $N rows, got '$got':" >&2
		echo "$out" >&2
		exit 1
	fi
	pg -c "INSERT INTO rbench.raw VALUES ('$method', $rep, $ms, $N)"
	printf '%s' " $method $(awk -v m="$ms" 'BEGIN { printf "%.0f", m }')ms"
}

check() {
	local what=$1 sql=$2 want=$3 got
	got=$(pg -At -c "$sql")
	if [ "$got" != "$want" ]; then
		echo "retention.sh: check failed ($what): got '$got', expected '$want'" >&2
		exit 1
	fi
	SANITY_OK=$((SANITY_OK + 1))
}
SANITY_OK=0
WIDE_SIZE=
ONE_POLICY="SELECT count(*) FROM biocrypt.columns"
# after a reencrypt: no template left under a retired key, row 1 still verifies
moved_ok() {
	local t=$1
	check "$t moved" "SELECT count(*) FILTER (WHERE biocrypt.key_id_of(tpl) IN
					   (SELECT id FROM biocrypt.keys WHERE state <> 'active'))
					   || ' ' || count(DISTINCT biocrypt.key_id_of(tpl)) FROM $t" "0 1"
	check "$t row 1 verifies" "SELECT biocrypt.verify(tpl, emb, 0.001) FROM $t, rbench.probe WHERE id = 1" t
}

for rep in $(seq "$REPS"); do
	line="run $rep/$REPS:"
	# (a) purge, on_expiry 'delete', and its floors
	build p rbench.mexp narrow delete
	check "one registered column" "$ONE_POLICY" 1
	line="$line$(timed purge_delete "$rep" "SELECT biocrypt.purge_expired()")"
	check "purge deleted every row" "SELECT count(*) FROM p" 0
	pg -c "DROP TABLE p"
	build f rbench.mexp narrow none
	line="$line$(timed floor_delete_id "$rep" "DELETE FROM f WHERE id <= $N")"
	build f rbench.mexp narrow none
	line="$line$(timed floor_delete_hdr "$rep" "DELETE FROM f WHERE biocrypt.expires_at(tpl) <= now()")"
	# on_expiry 'null'
	build p rbench.mexp narrow null
	check "one registered column" "$ONE_POLICY" 1
	line="$line$(timed purge_null "$rep" "SELECT biocrypt.purge_expired()")"
	check "purge nulled every template" "SELECT count(*) || ' ' || count(tpl) FROM p" "$N 0"
	pg -c "DROP TABLE p"
	build f rbench.mexp narrow none
	line="$line$(timed floor_null_id "$rep" "UPDATE f SET tpl = NULL WHERE id <= $N")"
	build f rbench.mexp narrow none
	line="$line$(timed floor_null_hdr "$rep" "UPDATE f SET tpl = NULL WHERE biocrypt.expires_at(tpl) <= now()")"
	pg -c "DROP TABLE f"
	# (b) reencrypt and its executor floor
	build r rbench.mlive narrow none
	line="$line$(timed reencrypt "$rep" "SELECT biocrypt.reencrypt('r', 'tpl')")"
	moved_ok r
	build r rbench.mlive narrow none
	line="$line$(timed floor_update_same "$rep" "UPDATE r SET tpl = tpl")"
	if [ "$POLICY" != 0 ]; then
		build r rbench.mlive narrow keep
		line="$line$(timed reencrypt_policy "$rep" "SELECT biocrypt.reencrypt('r', 'tpl')")"
		moved_ok r
	fi
	pg -c "DROP TABLE r"
	if [ "$rep" -le "$WIDE_REPS" ]; then
		build w rbench.mlive wide none
		[ -n "$WIDE_SIZE" ] || WIDE_SIZE=$(pg -At -c "SELECT pg_size_pretty(pg_table_size('w'))")
		line="$line$(timed reencrypt_wide "$rep" "SELECT biocrypt.reencrypt('w', 'tpl')")"
		moved_ok w
		build w rbench.mlive wide none
		line="$line$(timed floor_update_tpl2 "$rep" "UPDATE w SET tpl = tpl2")"
		pg -c "DROP TABLE w"
	fi
	log "$line"
done

TABLES="fresh narrow table (id int, tpl): $(pg -At -c "SELECT pg_size_pretty(pg_table_size('rbench.mlive'))")"
[ -z "$WIDE_SIZE" ] || TABLES="$TABLES, wide (id int, tpl, tpl2): $WIDE_SIZE"
log "crypto floor: reseal_floor.c, $N templates, cipher byte $CIPHER, header $HEADER bytes"
"$DIR/bin/reseal_floor" --n "$N" --cipher "$CIPHER" --reps "$REPS" --header "$HEADER" \
	--payload "$PAYLOAD" 2>"$DIR/reseal_floor.txt" |
	sed 's/^/c_/' | sed "s/\$/,$N/" | pg -c "COPY rbench.raw (method, rep, ms, n) FROM STDIN (FORMAT csv)"

# audit: one purge row per purge call, each with N templates; one rotate row per reencrypt
check "purge audit rows" "SELECT count(*) FROM biocrypt.audit_log WHERE operation = 'purge'
						  AND templates_compared = $N" "$((2 * REPS))"
check "reencrypt audit rows" "SELECT count(*) FROM biocrypt.audit_log WHERE operation = 'rotate'
							  AND column_name IS NOT NULL AND templates_compared = $N" \
	"$((REPS + (POLICY != 0 ? REPS : 0) + WIDE_REPS))"
check "no purge by the launcher" "SELECT count(*) FROM biocrypt.audit_log
								  WHERE application_name = 'biocrypt purge worker'" 0

# --- report --------------------------------------------------------------------------------
WALL=$((SECONDS - START))
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
SETTINGS=$(pg -At -c "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings
					  WHERE name IN ('shared_buffers', 'wal_level', 'synchronous_commit', 'fsync', 'full_page_writes',
									 'max_wal_size', 'checkpoint_timeout', 'autovacuum', 'jit', 'wal_buffers',
									 'biocrypt.cipher', 'biocrypt.default_retention', 'biocrypt.max_retention')")
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
FS=$(df -PT "$DIR" | awk 'NR == 2 { print $2 " on " $1 }')
{
	echo "biocrypt retention benchmark, $DATE_START (results $STAMP)"
	echo "machine: $CPU, $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); PostgreSQL $(pg -At -c 'SHOW server_version'); libsodium $(pkg-config --modversion libsodium); cluster on $FS"
	echo "load average at start: $LOAD_START; at end: $LOAD_END (this run keeps about 1 core busy; more means other work shared the machine)"
	echo "settings: $SETTINGS"
	echo "$SO_INFO"
	[ "$(md5sum <"$SO" | cut -c1-12)" = "$SO_MD5" ] ||
		echo "NOTE: $SO was replaced during the run (the server kept the one it loaded at start)"
	echo "data: N=$N templates per run, 512-d f32 unit vectors from gen.c (seed $SEED), one subject each,"
	echo "  envelope $ENV_BYTES bytes (header $HEADER, cipher byte $CIPHER = $([ "$CIPHER" = 1 ] && echo AES-256-GCM || echo XChaCha20-Poly1305)), purposes $PURPOSES; $TABLES"
	echo "  expired templates: protect(..., retain_until => clock_timestamp() + 2 s), then a sleep until all expired"
	echo
	echo "method: every run gets a fresh table: CREATE TABLE + INSERT ... SELECT from a master table"
	echo "  (expired or live templates), protect_column() where the run needs a registered column"
	echo "  (purge: retention '1 day', on_expiry as stated; reencrypt 'registered': '2 years', 'delete'),"
	echo "  VACUUM (ANALYZE), CHECKPOINT (so every run pays the same full-page writes). The measured"
	printf '%s\n' '  statement then runs alone in a new session, timed by psql'"'"'s \timing: the wall time of the'
	echo "  statement including its commit (and, for purge and reencrypt, the wait for their audit row)."
	echo "  Figures are medians of the runs; all methods run once per repetition, interleaved."
	echo "  purge = SELECT biocrypt.purge_expired() with p the only registered column (it also shreds"
	echo "    keys: none is past its epoch here). Its floors run on table f, the same copy without"
	echo "    protect_column (no trigger), removing the same N rows: 'delete' against DELETE FROM f"
	echo "    WHERE id <= N / WHERE biocrypt.expires_at(tpl) <= now(); 'null' against UPDATE f SET tpl ="
	echo "    NULL with the same two predicates."
	echo "  reencrypt = SELECT biocrypt.reencrypt('r', 'tpl') after rotate_key() retired the masters' key"
	echo "    (every copy starts with N templates under a retired key). Executor floor: UPDATE r SET"
	echo "    tpl = tpl on the same fresh copy: a new version of every row carrying a template-sized"
	echo "    value, no crypto (PostgreSQL writes it exactly like a new value: no indexes, rows do not"
	echo "    fit their page twice, so every update is a non-HOT full-tuple write). Crypto floor:"
	echo "    reseal_floor.c, the server's base/aead.c over libsodium only: AeadOpen (AES key schedule"
	echo "    expanded once, as DecryptTemplate) + AeadSeal (fresh nonce, encrypt with the plain key, as"
	echo "    SealTemplate) + zero of N envelopes of the same sizes and cipher, one core, median of $REPS"
	echo "    passes after a warm-up."
	echo "    Wide variant (the brief's UPDATE ... SET tpl = tpl2): table w (id, tpl, tpl2), both"
	echo "    columns copies of the live templates; reencrypt(w, 'tpl') against UPDATE w SET tpl = tpl2."
	echo "  $(sed 's/^reseal_floor: //' "$DIR/reseal_floor.txt" | head -3 | tr '\n' ' ')"
	as_pg psql -h "$DIR" -d bench -X -q -v ON_ERROR_STOP=1 -P pager=off -v n="$N" \
		-f "$BENCH/retention_report.sql"
	echo "sanity: $SANITY_OK checks passed (every timed statement reported N rows; purged tables empty or"
	echo "  all-NULL; after each reencrypt no template under a non-active key and row 1 verifies against its"
	echo "  embedding; one purge audit row per purge with N templates, one rotate row per reencrypt;"
	echo "  the purge worker never ran)"
	echo
	echo "wall time: ${WALL}s (build check, cluster, sealing, $REPS repetitions, crypto floor)"
} >"$RES/summary.txt"
pg -c "COPY (SELECT * FROM rbench.raw ORDER BY method, rep) TO STDOUT WITH (FORMAT csv, HEADER)" >"$RES/raw.csv"
cp "$DIR/server.log" "$RES/"

cat "$RES/summary.txt"
echo
echo "results: $RES (summary.txt, raw.csv, server.log)"
echo "total wall time: $((SECONDS - START))s"
