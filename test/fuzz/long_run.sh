#!/bin/bash
# The long fuzz run of issue 12: every target for RUNS executions (default
# 10 M), one process at a time, each from its committed seed corpus.
# Usage: bash test/fuzz/long_run.sh [target ...]   (from the top of the tree)
# Environment: RUNS (executions per target), MAX_LEN (default: the
# target's FUZZ_MAX_LEN_<target> in the Makefile), OUT (where the
# work corpora, logs and crash files go; default /tmp/biocrypt-fuzz-long).
# Prints one line per target: executions, seconds, exec/s, crashes; exits
# non-zero when a target crashed (its input is in $OUT/<target>/crash-*).
set -u
RUNS=${RUNS:-10000000}
MAX_LEN=${MAX_LEN:-}
OUT=${OUT:-/tmp/biocrypt-fuzz-long}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	read -r -a targets < <(make -s --no-print-directory -f Makefile print-fuzz-targets PG_CONFIG=${PG_CONFIG:-pg_config})
fi
make -s fuzz-targets PG_CONFIG=${PG_CONFIG:-pg_config} || exit 1
mkdir -p "$OUT/bin"
status=0
for t in "${targets[@]}"; do
	# a copy, so that a rebuild during the run changes nothing
	cp "test/fuzz/fuzz_$t" "$OUT/bin/fuzz_$t"
	mkdir -p "$OUT/$t/work"
	len=${MAX_LEN:-$(make -s --no-print-directory print-fuzz-max-len-$t PG_CONFIG=${PG_CONFIG:-pg_config})}
	start=$(date +%s.%N)
	(cd "$OUT/$t" && "$OUT/bin/fuzz_$t" -runs="$RUNS" -max_len="$len" \
		-print_final_stats=1 work "$OLDPWD/test/fuzz/corpus/$t" >log 2>&1)
	rc=$?
	end=$(date +%s.%N)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t/log")
	crashes=$(find "$OUT/$t" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' \
		-o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
	awk -v t="$t" -v r="${runs:-0}" -v s="$start" -v e="$end" -v c="$crashes" -v rc="$rc" \
		'BEGIN { d = e - s; printf "fuzz_%s: %d executions in %.0f s, %.0f exec/s, %d crashes, exit %d\n", t, r, d, r / d, c, rc }'
	[ "$rc" -ne 0 ] && status=1
done
exit $status
