#!/bin/bash
# Run every biocrypt test suite from a clean clone on Debian 12, as root:
# install build and test packages, build with -Werror, install, then run the
# C unit tests, a fuzz smoke run, the guide check, pg_regress and TAP, the
# docs' SQL examples, the driver tests (psycopg 3, libpq), the PGXN archive,
# the compliance report in headless Chromium, then pg_regress under
# ASan+UBSan and valgrind (the server runs as the
# postgres user, in a scratch copy it owns).  Ends with "N passed, N failed".
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
LOG=${BIOCRYPT_TEST_LOG:-/tmp/biocrypt-test-logs}
export PATH=/usr/lib/postgresql/15/bin:$PATH
# the pg_regress tests run under valgrind (see "checked" below): the type's
# I/O, sealing, the error paths, verify, identify and the audit worker, in
# about a minute and a half (README.md)
VALGRIND_TESTS=${VALGRIND_TESTS:-type protect errors compare_verify identify_bits}

rm -rf "$LOG"
mkdir -p "$LOG"
passed=0
failed=0

# count: add a suite's "N passed, N failed"-style figures to the totals
count() {
	passed=$((passed + $1))
	failed=$((failed + $2))
	echo "== $3: $1 passed, $2 failed"
}

# packages, then build (warnings are errors) and install, as root
if ! BIOCRYPT_WERROR=1 "$SRC/test/install.sh" >"$LOG/build.log" 2>&1; then
	cat "$LOG/build.log"
	count 0 1 build
	echo "$passed passed, $failed failed"
	exit 1
fi
count 1 0 build

# scratch copy owned by postgres: the server refuses to run as root
WORK=$(mktemp -d /tmp/biocrypt-test.XXXXXX)
rsync -a --exclude .git "$SRC/" "$WORK/"
chown -R postgres:postgres "$WORK" "$LOG"

# static analysis
if make -C "$WORK" -s cppcheck >"$LOG/cppcheck.log" 2>&1; then
	count 1 0 cppcheck
else
	cat "$LOG/cppcheck.log"
	count 0 1 cppcheck
fi

# one direction of calls between the layers of src/ (links and includes)
make -C "$WORK" -s layers >"$LOG/layers.log" 2>&1
cat "$LOG/layers.log"
read -r lp lf < <(sed -n 's/^layers\( self-test\)\{0,1\}: \([0-9]*\) passed, \([0-9]*\) failed$/\2 \3/p' "$LOG/layers.log" |
	awk '{p += $1; f += $2; n++} END {if (n == 2) print p, f}')
count "${lp:-0}" "${lf:-1}" layers

# every error, warning and notice hides its statement from the server log
make -C "$WORK" -s errlint >"$LOG/errlint.log" 2>&1
cat "$LOG/errlint.log"
read -r ep ef < <(sed -n 's/^errlint: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG/errlint.log")
count "${ep:-0}" "${ef:-1}" errlint

# C unit tests (kernels, envelope parser)
make -C "$WORK" -s unit >"$LOG/unit.log" 2>&1
cat "$LOG/unit.log"
read -r up uf < <(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$LOG/unit.log" | tail -1)
count "${up:-0}" "${uf:-1}" unit

# the portable kernels and the parser on aarch64 (cross-built, run in qemu)
missing=$(for p in gcc-aarch64-linux-gnu qemu-user; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
[ -n "$missing" ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
make -C "$WORK" -s unit-arm64 >"$LOG/unit-arm64.log" 2>&1
arm_rc=$?
tail -3 "$LOG/unit-arm64.log"
ap=$(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$LOG/unit-arm64.log" | awk '{s += $1} END {print s + 0}')
af=$(sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$LOG/unit-arm64.log" | awk '{s += $1} END {print s + 0}')
[ "$arm_rc" -ne 0 ] && [ "$af" -eq 0 ] && af=1
count "$ap" "$af" unit-arm64

# fuzz smoke: each target runs a bounded number of inputs from its corpus
if make -C "$WORK" -s fuzz-smoke >"$LOG/fuzz.log" 2>&1; then
	count 1 0 fuzz
else
	tail -40 "$LOG/fuzz.log"
	count 0 1 fuzz
fi

# the compliance guide's queries are the ones test/sql/compliance.sql runs
perl "$WORK/test/doccheck.pl" "$WORK" >"$LOG/doccheck.log" 2>&1
cat "$LOG/doccheck.log"
read -r dp df < <(sed -n 's/^doccheck: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG/doccheck.log")
count "${dp:-0}" "${df:-1}" doccheck

# pg_regress and TAP, as postgres
runuser -u postgres -- make -C "$WORK" installcheck >"$LOG/installcheck.log" 2>&1
rc=$?
cat "$LOG/installcheck.log"
rp=$(grep -cE '^(test| ) +[a-z_0-9]+ +\.\.\. ok' "$LOG/installcheck.log")
rf=$(grep -cE '\.\.\. FAILED' "$LOG/installcheck.log")
[ -f "$WORK/regression.diffs" ] && cat "$WORK/regression.diffs"
[ -f "$WORK/output_iso/regression.diffs" ] && cat "$WORK/output_iso/regression.diffs"
count "$rp" "$rf" pg_regress

tests=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$LOG/installcheck.log" | tail -1)
tf=$(sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' "$LOG/installcheck.log" |
	awk '{s += $1} END {print s + 0}')
if [ -z "$tests" ]; then
	# TAP never ran (pg_regress failed first, or prove could not start)
	count 0 1 tap
elif [ "$rc" -ne 0 ] && [ "$tf" -eq 0 ] && [ "$rf" -eq 0 ]; then
	# a test script died outside an assertion
	count "$tests" 1 tap
else
	count $((tests - tf)) "$tf" tap
fi
for f in "$WORK"/tmp_check/log/regress_log_*; do
	[ "$rc" -ne 0 ] && [ -f "$f" ] && grep -q "not ok" "$f" && tail -60 "$f"
done

# every SQL example of README.md and docs/*.md, in a throwaway cluster of
# the installed server, as postgres (test/docrun.pl)
runuser -u postgres -- make -C "$WORK" -s docrun >"$LOG/docrun.log" 2>&1
grep -v '^ok: ' "$LOG/docrun.log"
read -r xp xf < <(sed -n 's/^docrun: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG/docrun.log")
count "${xp:-0}" "${xf:-1}" docrun

# real drivers (test/drivers/run.sh): psycopg 3 and libpq with parameters
# bound on the server, binary where it matters, against a throwaway cluster
bash "$WORK/test/drivers/run.sh" >"$LOG/drivers.log" 2>&1
read -r dvp dvf < <(sed -n 's/^drivers: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG/drivers.log")
[ "${dvf:-1}" -ne 0 ] && cat "$LOG/drivers.log"
count "${dvp:-0}" "${dvf:-1}" drivers

# the PGXN archive (test/dist.sh): make dist on the clone's committed tree
# ($SRC: git archive needs the repository, which $WORK lacks), unpacked and
# built with PGXS
bash "$SRC/test/dist.sh" "$SRC" >"$LOG/dist.log" 2>&1
read -r dsp dsf < <(sed -n 's/^dist: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG/dist.log")
[ "${dsf:-1}" -ne 0 ] && cat "$LOG/dist.log"
count "${dsp:-0}" "${dsf:-1}" dist

# the compliance report rendered by headless Chromium (installed when
# missing) to a screenshot and a PDF, kept in the log directory
bash "$WORK/test/report/render.sh" "$LOG/report" >"$LOG/report.log" 2>&1
cat "$LOG/report.log"
read -r op of < <(sed -n 's/^report: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG/report.log")
count "${op:-0}" "${of:-1}" report

# pg_regress and isolation again against a checked server, in a private
# PostgreSQL copy (test/sanitize.sh, README.md): biocrypt built with ASan and
# UBSan, the whole suite; then the server under valgrind, on the tests in
# VALGRIND_TESTS only (the whole suite takes too long for CI there).  A
# report against biocrypt is a failure.
checked() {
	local name=$1 cp cf
	shift
	runuser -u postgres -- make -C "$WORK" -s "$name" "$@" >"$LOG/$name.log" 2>&1
	read -r cp cf < <(sed -n "s/^$name: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p" "$LOG/$name.log")
	if [ "${cf:-1}" -ne 0 ]; then
		cat "$LOG/$name.log"
	else
		grep "^$name: .* reports against biocrypt" "$LOG/$name.log"
	fi
	count "${cp:-0}" "${cf:-1}" "$name"
}
checked sanitize
checked valgrind REGRESS="$VALGRIND_TESTS" ISOLATION=

echo "logs in $LOG, scratch tree in $WORK"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
