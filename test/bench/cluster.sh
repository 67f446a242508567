# Shared by the benchmark scripts (sourced; they define DIR, PG_BIN and
# as_pg): the throwaway cluster and the identity of the library under test.

# bench_cluster SHARED_BUFFERS: a random root key and a fresh data directory
# in $DIR, with the settings every benchmark uses; the caller appends its own
# to $DIR/data/postgresql.conf, then starts the server.
bench_cluster() {
	as_pg sh -c "umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > '$DIR/root.key'"
	as_pg "$PG_BIN/initdb" -D "$DIR/data" -A trust -E UTF8 --locale=C --no-instructions >/dev/null
	cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$DIR'
shared_preload_libraries = 'biocrypt'
biocrypt.root_key_file = '$DIR/root.key'
shared_buffers = '$1'
max_parallel_workers_per_gather = 0
jit = off
autovacuum = off
max_wal_size = '16GB'
checkpoint_timeout = '1h'
CONF
}

# bench_so_info: sets SO (the installed library), SO_MD5 and SO_INFO, the
# report line saying whether it is this tree's build.
bench_so_info() {
	SO=$(pg_config --pkglibdir)/biocrypt.so
	SO_MD5=$(md5sum <"$SO" | cut -c1-12)
	SO_INFO="extension: $SO (md5 $SO_MD5, installed $(date -u -r "$SO" +%Y-%m-%dT%H:%M:%SZ))$(
		if [ -f "$SRC/biocrypt.so" ] && cmp -s "$SO" "$SRC/biocrypt.so"; then echo ", same as this tree's build"
		else echo ", NOT identical to this tree's biocrypt.so"; fi)"
}

# bench_stage N: gen's N vectors ($DIMS dimensions) and N iris codes (2048
# bits) into bench.stage_vec and bench.stage_iris, each load timed in
# bench.enrol; row 1 becomes the probe.  Uses the caller's pg, now, since,
# $DIR and $SEED.
bench_stage() {
	local n=$1 t0
	pg -c "TRUNCATE bench.stage_vec, bench.stage_iris"
	t0=$(now)
	"$DIR/bin/gen" vec "$n" "$SEED" "$DIMS" | pg -c "COPY bench.stage_vec FROM STDIN (FORMAT binary)"
	pg -c "INSERT INTO bench.enrol VALUES ('stage (gen + COPY)', 'vec', $n, $n, $(since "$t0"))"
	t0=$(now)
	"$DIR/bin/gen" iris "$n" "$SEED" 2048 | pg -c "COPY bench.stage_iris FROM STDIN (FORMAT binary)"
	pg -c "INSERT INTO bench.enrol VALUES ('stage (gen + COPY)', 'iris', $n, $n, $(since "$t0"))"
	pg -c "INSERT INTO bench.probe SELECT v.emb, i.code, i.mask FROM bench.stage_vec v, bench.stage_iris i
		   WHERE v.id = 1 AND i.id = 1 AND NOT EXISTS (SELECT FROM bench.probe)"
}
