#!/bin/bash
# The driver tests (docs/developer.md, "Drivers"): psycopg 3 and libpq
# against a throwaway cluster with biocrypt preloaded.  Builds libpq_test.c
# against the libpq of PG_CONFIG, starts a server on a socket directory of
# its own (no TCP port, so it meets no other server), runs
# psycopg_test.py and libpq_test, stops the server and deletes everything.
# As root it runs the server and the tests as the postgres user.  Ends with
# one line "drivers: N passed, N failed"; exits non-zero on a failure.
#   PG_CONFIG=... test/drivers/run.sh      (KEEP=1 keeps the directory)
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
BIN=$("$PG_CONFIG" --bindir)
PYTHON=${PYTHON:-/usr/bin/python3}
DIR=$(mktemp -d /tmp/biocrypt-drivers.XXXXXX)
PORT=5432
passed=0
failed=0

# the server refuses to run as root: as root, its files belong to postgres
if [ "$(id -u)" -eq 0 ]; then
	chown postgres:postgres "$DIR"
	as_pg() { runuser -u postgres -- "$@"; }
else
	as_pg() { "$@"; }
fi
cleanup() {
	[ -f "$DIR/data/postmaster.pid" ] &&
		as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
	if [ -n "${KEEP:-}" ]; then echo "drivers: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

# count: add one program's figures to the totals
count() {
	passed=$((passed + $1))
	failed=$((failed + $2))
	echo "== $3: $1 passed, $2 failed"
}

# run one test program as the server's user: its "NAME: N passed, N failed"
# line counts; without one, or exiting non-zero with no failure counted
# (a crash, an exception outside a check), it counts as one failure
run_test() {
	local name=$1 out rc line p f
	shift
	out=$(as_pg "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | sed -n "s/^$name: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p" | tail -1)
	p=${line% *}
	f=${line#* }
	[ -z "$line" ] && p=0 && f=0
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	count "$p" "$f" "$name"
}

finish() {
	echo "drivers: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

cp "$HERE/psycopg_test.py" "$DIR/"
if ! cc -std=gnu11 -O2 -g -Wall -Wextra -Werror -I"$("$PG_CONFIG" --includedir)" \
	-o "$DIR/libpq_test" "$HERE/libpq_test.c" -L"$("$PG_CONFIG" --libdir)" -lpq; then
	count 0 1 "libpq_test build"
fi
chown -R --reference="$DIR" "$DIR"

# a fresh random root key, readable by the server's owner only; every
# statement logged (log_statement = all) without its parameters, so that
# psycopg_test.py can show which values the statement text carried
as_pg sh -c "umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > '$DIR/root.key'"
if ! as_pg "$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-instructions >"$DIR/initdb.log" 2>&1; then
	cat "$DIR/initdb.log"
	count 0 1 initdb
	finish
fi
as_pg tee -a "$DIR/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = ''
unix_socket_directories = '$DIR'
port = $PORT
shared_preload_libraries = 'biocrypt'
biocrypt.root_key_file = '$DIR/root.key'
biocrypt.match_threshold = '0.05'
log_statement = 'all'
log_parameter_max_length = 0
log_line_prefix = '%m [%p] '
CONF
if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null; then
	cat "$DIR/server.log"
	count 0 1 "server start"
	finish
fi
# CREATE EXTENSION commits before any access (the audit worker must see it)
if ! as_pg "$BIN/psql" -X -q -h "$DIR" -p "$PORT" -U postgres -d postgres \
	-v ON_ERROR_STOP=1 -c 'CREATE EXTENSION biocrypt'; then
	count 0 1 "CREATE EXTENSION"
	finish
fi

CONNSTR="host=$DIR port=$PORT dbname=postgres user=postgres"
run_test psycopg "$PYTHON" "$DIR/psycopg_test.py" "$CONNSTR" "$DIR/server.log"
[ -x "$DIR/libpq_test" ] && run_test libpq "$DIR/libpq_test" "$CONNSTR"
finish
