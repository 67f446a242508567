#!/bin/bash
# The PGXN archive: runs `make dist` on a git tree's committed HEAD, checks
# that the archive is what META.json describes (its version and the
# extension's are the control file's default_version, the files it names
# are in it) and holds exactly the committed files (no build products, no
# .git), then unpacks it, builds it with PGXS and installs it into a
# scratch DESTDIR, which must then hold biocrypt.so, biocrypt.control, every
# sql/biocrypt--*.sql and biocrypt-seal.  Writes nothing into the tree.
# Ends with "dist: N passed, N failed".
#   PG_CONFIG=... test/dist.sh [TREE]     (TREE: a clone; default this one)
set -uo pipefail

SRC=$(cd "${1:-$(dirname "$0")/..}" && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}
SCRATCH=$(mktemp -d /tmp/biocrypt-dist.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
passed=0
failed=0

# check NAME COMMAND...: one assertion, the command's success
check() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok - $name"
	else
		failed=$((failed + 1))
		echo "not ok - $name"
	fi
}

finish() {
	echo "dist: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SRC/biocrypt.control")
ZIP=$SCRATCH/dist/biocrypt-$VERSION.zip
check "the control file has a default_version ($VERSION)" test -n "$VERSION"
check "make dist" make -C "$SRC" -s dist DIST_DIR="$SCRATCH/dist" PG_CONFIG="$PG_CONFIG"
check "make dist wrote dist/biocrypt-$VERSION.zip" test -s "$ZIP"
[ -s "$ZIP" ] || finish

# the archive's entries against the committed tree (directories aside)
unzip -Z1 "$ZIP" | grep -v '/$' | sort >"$SCRATCH/entries"
git -C "$SRC" ls-tree -r --name-only HEAD | sed "s|^|biocrypt-$VERSION/|" | sort >"$SCRATCH/committed"
check "every entry is under biocrypt-$VERSION/" \
	test "$(grep -vc "^biocrypt-$VERSION/" "$SCRATCH/entries")" -eq 0
check "the archive holds exactly the committed files" \
	diff -u "$SCRATCH/committed" "$SCRATCH/entries"
check "no build products, .git or test output in the archive" \
	test "$(grep -cE '(^|/)\.git/|\.(o|so|bc|pyc|zip)$|/__pycache__/|/tmp_check|/results/|regression\.(diffs|out)$|/tools/biocrypt-seal$|/dist/' \
		"$SCRATCH/entries")" -eq 0

unzip -q "$ZIP" -d "$SCRATCH/u"
TREE=$SCRATCH/u/biocrypt-$VERSION

# META.json: its version, the extension's, and the files it names
meta() {
	python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"m": m}))' \
		"$TREE/META.json" "$1"
}
check "META.json: name biocrypt" test "$(meta 'm["name"]')" = biocrypt
check "META.json: version = default_version" test "$(meta 'm["version"]')" = "$VERSION"
check "META.json: provides.biocrypt.version = default_version" \
	test "$(meta 'm["provides"]["biocrypt"]["version"]')" = "$VERSION"
check "META.json: provides.biocrypt.file is in the archive" \
	test -f "$TREE/$(meta 'm["provides"]["biocrypt"]["file"]')"
check "META.json: provides.biocrypt.docfile is in the archive" \
	test -f "$TREE/$(meta 'm["provides"]["biocrypt"]["docfile"]')"
check "the biocrypt-seal client's source is in the archive" test -f "$TREE/tools/biocrypt-seal.c"

# built from the unpacked archive alone, with PGXS, and installed
nice make -C "$TREE" -s -j2 PG_CONFIG="$PG_CONFIG" >"$SCRATCH/build.log" 2>&1
rc=$?
check "the unpacked archive builds (make PG_CONFIG=...)" test "$rc" -eq 0 || tail -30 "$SCRATCH/build.log"
make -C "$TREE" -s install DESTDIR="$SCRATCH/dest" PG_CONFIG="$PG_CONFIG" >"$SCRATCH/install.log" 2>&1
rc=$?
check "make install DESTDIR=..." test "$rc" -eq 0 || tail -30 "$SCRATCH/install.log"
LIB=$SCRATCH/dest$("$PG_CONFIG" --pkglibdir)
EXT=$SCRATCH/dest$("$PG_CONFIG" --sharedir)/extension
BINDIR=$SCRATCH/dest$("$PG_CONFIG" --bindir)
check "installed: biocrypt.so, a PostgreSQL module" \
	sh -c "nm -D '$LIB/biocrypt.so' | grep -q ' T Pg_magic_func$'"
check "installed: biocrypt.control" cmp -s "$SRC/biocrypt.control" "$EXT/biocrypt.control"
for f in $(git -C "$SRC" ls-tree --name-only HEAD sql/ | grep '^sql/biocrypt--.*\.sql$'); do
	check "installed: ${f#sql/}" cmp -s "$TREE/$f" "$EXT/${f#sql/}"
done
check "installed: biocrypt-seal, which runs" \
	sh -c "'$BINDIR/biocrypt-seal' --help | grep -q '^Usage: biocrypt-seal'"
finish
