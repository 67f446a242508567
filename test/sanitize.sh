#!/bin/bash
# sanitize.sh sanitize|valgrind [BUILD_DIR]: run the pg_regress and isolation
# suites against a server that checks biocrypt's memory accesses.
#
#   sanitize  the extension built with -fsanitize=address,undefined; the
#             server (not instrumented) runs with libasan preloaded
#   valgrind  the ordinary build; the server runs under valgrind's memcheck
#             with test/valgrind.supp
#
# Neither touches the system installation: the script makes its own copy of
# PostgreSQL (bindir/.. and sharedir, as found by $PG_CONFIG) under BUILD_DIR
# (default tmp_sanitize or tmp_valgrind in the tree), builds the extension
# from a copy of the tree and installs it there, and replaces the copy's
# `postgres` with a wrapper that starts the real binary under the checker.  Reports go to
# BUILD_DIR/log.  A report counts against biocrypt when its stack has a
# frame in biocrypt.so or in biocrypt's sources.
#
# Run as the user the server may run as (not root).  REGRESS and ISOLATION
# (space-separated) choose the tests; `make sanitize` and `make valgrind`
# pass the Makefile's lists.  Prints "<mode>: N passed, N failed": the tests
# that passed, and the tests that failed plus the reports against biocrypt.
set -uo pipefail

MODE=${1:?usage: sanitize.sh sanitize|valgrind [BUILD_DIR]}
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${2:-$SRC/tmp_$MODE}
PG_CONFIG=${PG_CONFIG:-pg_config}
REGRESS=${REGRESS-}
ISOLATION=${ISOLATION-}
# -O1: the instrumented build is quicker to compile than at -O2
SAN_FLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

case "$MODE" in
sanitize | valgrind) ;;
*) echo "sanitize.sh: unknown mode $MODE" >&2; exit 2 ;;
esac
if [ -z "$REGRESS$ISOLATION" ]; then
	echo "sanitize.sh: no tests in REGRESS or ISOLATION" >&2
	exit 2
fi
if [ "$(id -u)" -eq 0 ]; then
	echo "sanitize.sh: the server refuses to run as root; run as postgres" >&2
	exit 2
fi

# a private PostgreSQL: the installation's tree copied with the same layout
# under $B/pg, so its pg_config (which finds its paths relative to itself)
# points there; headers stay where they are
make_pg_copy() {
	local bindir sharedir incdir root
	bindir=$("$PG_CONFIG" --bindir) || return 1
	sharedir=$("$PG_CONFIG" --sharedir)
	incdir=$("$PG_CONFIG" --includedir)
	root=$(dirname "$bindir")
	mkdir -p "$B/pg$(dirname "$root")" "$B/pg$(dirname "$sharedir")" "$B/pg$(dirname "$incdir")"
	cp -a "$root" "$B/pg$root" &&
		cp -a "$sharedir" "$B/pg$sharedir" &&
		ln -s "$incdir" "$B/pg$incdir" || return 1
	PGC=$B/pg$bindir/pg_config
	[ "$("$PGC" --pkglibdir)" = "$B/pg$("$PG_CONFIG" --pkglibdir)" ] || {
		echo "sanitize.sh: the copy's pg_config does not point into $B/pg" >&2
		return 1
	}
}

# the extension from a clean copy of the tree (no JIT bitcode: the server
# under test does not need it), installed into the private PostgreSQL
build_extension() {
	local cflags="" ldflags=""
	if [ "$MODE" = sanitize ]; then
		cflags=$SAN_FLAGS
		ldflags="-fsanitize=address,undefined"
	fi
	rsync -a --exclude .git --exclude 'tmp_*' --exclude '*.o' --exclude '*.so' \
		--exclude '*.bc' --exclude results --exclude output_iso "$SRC/" "$B/src/" &&
		make -C "$B/src" -s -j"$(nproc)" with_llvm=no PG_CONFIG="$PGC" \
			PG_CFLAGS_EXTRA="$cflags" ${ldflags:+PG_LDFLAGS="$ldflags"} &&
		make -C "$B/src" -s with_llvm=no PG_CONFIG="$PGC" install
}

# replace the copy's postgres by a script that runs the real one under the
# checker; pg_regress and initdb find it in the bindir as usual
wrap_server() {
	local bin real libasan
	bin=$("$PGC" --bindir)
	real=$bin/postgres.real
	mv "$bin/postgres" "$real" || return 1
	if [ "$MODE" = sanitize ]; then
		libasan=$(gcc -print-file-name=libasan.so)
		[ -f "$libasan" ] || { echo "sanitize.sh: no libasan.so" >&2; return 1; }
		# without it the server hangs at start, and UBSan loses its
		# options (see the file)
		gcc -shared -fPIC -O2 -o "$B/asan_preload.so" "$SRC/test/asan_preload.c" || return 1
		# leaks: the server frees by memory context, so a non-instrumented
		# postgres gives only noise; an error aborts the process
		cat >"$bin/postgres" <<-EOF
			#!/bin/sh
			export LD_PRELOAD="$libasan $B/asan_preload.so"
			export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$B/log/asan
			export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
			exec "$real" "\$@"
		EOF
	else
		# initdb's bootstrap and single-user runs and version checks need no
		# checking (the extension is not loaded there) and would take minutes
		cat >"$bin/postgres" <<-EOF
			#!/bin/sh
			case "\$1" in
			--boot | --single | -V | --version | -C | --describe-config)
				exec "$real" "\$@" ;;
			esac
			exec valgrind --quiet --tool=memcheck --trace-children=yes \\
				--leak-check=no --num-callers=40 --error-exitcode=99 --fullpath-after= \\
				--suppressions=$SRC/test/valgrind.supp \\
				--log-file=$B/log/valgrind.%p "$real" "\$@"
		EOF
	fi
	chmod +x "$bin/postgres"
}

# pg_regress, then isolation (even if pg_regress failed), on temporary
# instances that use the wrapper; under valgrind a server takes longer to
# start
run_tests() {
	cd "$B/src" || return 1
	: >"$B/log/installcheck.log"
	[ -n "$REGRESS" ] && suite REGRESS="$REGRESS" ISOLATION=
	[ -n "$ISOLATION" ] && suite REGRESS= ISOLATION="$ISOLATION"
	cat "$B/log/installcheck.log"
	[ -f regression.diffs ] && cat regression.diffs
	[ -f output_iso/regression.diffs ] && cat output_iso/regression.diffs
	return 0
}

# one suite: make installcheck with the given REGRESS and ISOLATION
suite() {
	PGCTLTIMEOUT=${PGCTLTIMEOUT:-600} make with_llvm=no PG_CONFIG="$PGC" \
		TAP_TESTS= "$@" installcheck >>"$B/log/installcheck.log" 2>&1
}

# one line per report (its file and first line), saying whether its stack
# has a frame of biocrypt's.  ASan writes to its own files, UBSan (started
# in a backend, it ignores log_path there) to the server's log, valgrind to
# its own files.  A sanitizer's report ends at its SUMMARY line or, in the
# server's log, at the first line that is not a stack frame; valgrind's at
# the next empty "==pid==" line; valgrind's warnings (large shared-memory
# ranges, say) and summaries (with VALGRIND_OPTS=-s) are not errors
list_reports() {
	local f
	for f in "$B"/log/asan.* "$B"/log/valgrind.* "$B"/src/log/postmaster.log \
		"$B"/src/output_iso/log/postmaster.log; do
		[ -s "$f" ] || continue
		awk -v file="$f" '
			function flush() {
				if (first != "")
					printf "%s %s: %s\n", (mine ? "biocrypt" : "other"), file, first
				first = ""
				mine = 0
			}
			/ERROR: AddressSanitizer|runtime error:/ { flush(); first = $0; frames = 1 }
			/^==[0-9]+== [^ ]/ && !/Warning:|ERROR SUMMARY|For (lists|counts) of/ && first == "" { first = $0; frames = 0 }
			first != "" && /biocrypt\.so|src\/(base|core|crypto|template|audit|match|lifecycle)\/[a-z_0-9]+\.[ch]:|src\/biocrypt\.c:/ { mine = 1 }
			/^SUMMARY:/ || /^==[0-9]+== *$/ { flush() }
			frames && file ~ /postmaster.log$/ && !/runtime error:/ && !/^ +#[0-9]/ { flush() }
			END { flush() }
		' "$f"
	done
}

rm -rf "$B"
mkdir -p "$B/log"
start=$(date +%s)
if ! make_pg_copy || ! build_extension || ! wrap_server; then
	echo "$MODE: 0 passed, 1 failed"
	exit 1
fi
run_tests
end=$(date +%s)

passed=$(grep -cE '^(test| ) +[a-z_0-9]+ +\.\.\. ok' "$B/log/installcheck.log")
failed=$(grep -cE '\.\.\. FAILED' "$B/log/installcheck.log")
want=$(echo $REGRESS $ISOLATION | wc -w)
# a suite that stopped early (a server that did not start) leaves tests unrun
[ $((passed + failed)) -lt "$want" ] && failed=$((want - passed))
list_reports >"$B/log/reports"
ours=$(grep -c '^biocrypt ' "$B/log/reports")
others=$(grep -c '^other ' "$B/log/reports")
echo "$MODE: $ours reports against biocrypt, $others elsewhere (listed in $B/log/reports); $((end - start)) s"
# each report against biocrypt in full (a server log: the report's lines)
grep '^biocrypt ' "$B/log/reports" | while read -r _ file first; do
	case "${file%:}" in
	*postmaster.log) grep -F -A40 -- "$first" "${file%:}" | head -42 ;;
	*) cat "${file%:}" ;;
	esac
done
echo "$MODE: $passed passed, $((failed + ours)) failed"
[ $((failed + ours)) -eq 0 ]
