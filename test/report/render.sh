#!/bin/bash
# Render biocrypt.compliance_report() in headless Chromium (Debian 12, as
# root): start a throwaway cluster as postgres, fill it with a small history
# (enrolment, verify, identify, a denial, a reveal, an export, two reviews,
# a hold, an erasure, a purge, names with HTML in them), write the report
# of the last day to a file as an auditor, render it to a PNG screenshot and
# a PDF, and check the three files; then edit an audit row and check that
# the next report shows the chain broken, and where.
# Usage: render.sh [OUTDIR] (default a new directory under /tmp); PG_CONFIG
# picks the PostgreSQL installation (default /usr/lib/postgresql/15).
# Prints the paths and a last line "report: N passed, N failed".
set -uo pipefail

OUT=${1:-$(mktemp -d /tmp/biocrypt-report.XXXXXX)}
BIN=$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir)
passed=0
failed=0
# check NAME COMMAND...: one line per check, counted; fails as the check does
check() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok: $name"
	else
		failed=$((failed + 1))
		echo "FAILED: $name"
		return 1
	fi
}
finish() {
	echo "report: $passed passed, $failed failed"
	exit $((failed > 0))
}

if [ "$(id -u)" -ne 0 ]; then
	echo "render.sh: run as root (it runs the server and Chromium as postgres)" >&2
	failed=1
	finish
fi
if ! command -v chromium >/dev/null; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
check "chromium installed" bash -c "command -v chromium >/dev/null"

DIR=$(mktemp -d /tmp/biocrypt-render.XXXXXX)
mkdir -p "$OUT" "$DIR/home"
chown postgres:postgres "$DIR" "$DIR/home" "$OUT"
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
	as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap cleanup EXIT

# a random root key, readable by the server's owner only
as_pg sh -c "umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > '$DIR/root.key'"
as_pg "$BIN/initdb" -D "$DIR/data" -A trust --no-instructions >/dev/null
cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$DIR'
cluster_name = 'report-render'
shared_preload_libraries = 'biocrypt'
biocrypt.root_key_file = '$DIR/root.key'
CONF
if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null; then
	cat "$DIR/server.log"
	failed=$((failed + 1))
	finish
fi

# the history: a gate that verifies and searches a watchlist, a clerk
# without a grant, two reviewers, a data protection officer; a login role
# and a subject whose names hold HTML, which the report must escape
history() {
	as_pg "$BIN/psql" -h "$DIR" -d postgres -X -q -v ON_ERROR_STOP=1 >"$OUT/history.log" 2>&1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION biocrypt;
CREATE ROLE gate LOGIN IN ROLE biocrypt_matcher;
CREATE ROLE clerk LOGIN IN ROLE biocrypt_matcher;
CREATE ROLE "o'brien <script>&""x" LOGIN IN ROLE biocrypt_matcher;
CREATE ROLE ann LOGIN IN ROLE biocrypt_auditor;
CREATE ROLE bob LOGIN IN ROLE biocrypt_auditor;
CREATE ROLE dpo LOGIN IN ROLE biocrypt_admin;
CREATE TABLE watchlist (id int PRIMARY KEY, face protected_template);
GRANT SELECT ON watchlist TO gate, clerk, "o'brien <script>&""x", dpo;
SELECT biocrypt.protect_column('watchlist', 'face', interval '2 years', '{border_control}');
INSERT INTO watchlist SELECT i, biocrypt.protect(ARRAY[i, 1, 2, 0.5]::real[], 'subject-000' || i)
	FROM generate_series(1, 5) i;
INSERT INTO watchlist VALUES
	(6, biocrypt.protect('{6,1,2,0.5}'::real[], '<b>subject&"6''</b>')),
	(7, biocrypt.protect('{7,1,2,0.5}'::real[], 'subject-0007', retain_until => now() + interval '1 second')),
	(8, biocrypt.protect('{8,1,2,0.5}'::real[], 'subject-0008', retain_until => now() + interval '1 second'));
SELECT biocrypt.grant_purpose('gate', 'border_control');
SELECT biocrypt.grant_purpose('"o''brien <script>&""x"', 'border_control');

SET SESSION AUTHORIZATION gate;
SET biocrypt.purpose = 'border_control';
SELECT subject FROM biocrypt.identify('watchlist', 'face', '{3,1,2,0.5}'::real[], 3);
SELECT biocrypt.verify(face, '{3,1,2,0.5}'::real[], 0.001) FROM watchlist WHERE id = 3;
SELECT subject FROM biocrypt.identify('watchlist', 'face', '{5.9,1,2,0.5}'::real[], 2);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION "o'brien <script>&""x";
SET application_name = '<script>alert(1)</script>&"''';
SET biocrypt.purpose = 'border_control';
SELECT id FROM watchlist ORDER BY face <=> '{2,1,2,0.5}'::real[] LIMIT 1;
RESET SESSION AUTHORIZATION;
RESET application_name;
\set ON_ERROR_STOP 0
SET SESSION AUTHORIZATION clerk;
SET biocrypt.purpose = 'border_control';
SELECT id FROM watchlist WHERE biocrypt.verify(face, '{3,1,2,0.5}'::real[], 0.001);
RESET SESSION AUTHORIZATION;
\set ON_ERROR_STOP 1
SELECT pg_sleep(0.5);
SELECT min(id) AS search FROM biocrypt.audit_log WHERE operation = 'identify' AND outcome = 'ok' \gset
SET SESSION AUTHORIZATION ann;
SELECT biocrypt.confirm_match(:search, 'subject-0003');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION bob;
SELECT biocrypt.confirm_match(:search, 'subject-0003');
SELECT biocrypt.confirm_match(:search, 'subject-0004', 'reject');
RESET SESSION AUTHORIZATION;

SET biocrypt.allow_reveal = on;
SET SESSION AUTHORIZATION dpo;
SELECT cardinality(biocrypt.reveal(face)) FROM watchlist WHERE id = 3;
\copy watchlist TO '/dev/null'
SELECT biocrypt.hold('subject-0004', 'case 17: <appeal> & "review"');
SELECT biocrypt.hold('subject-0008', 'case 18');
SELECT biocrypt.erase_subject('subject-0002');
SELECT pg_sleep(1.2);
SELECT biocrypt.purge_expired();
RESET SESSION AUTHORIZATION;
-- until the audit worker has written every completion and outcome
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM biocrypt.audit_log WHERE xact_outcome = 'in progress');
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SQL
}
check "history written" history || cat "$OUT/history.log"

# the auditor writes the report of the last day, as the guide says
report() {
	as_pg "$BIN/psql" -h "$DIR" -d postgres -U ann -XAtq -v ON_ERROR_STOP=1 \
		-c "SELECT biocrypt.compliance_report(now() - interval '1 day', now() + interval '1 hour')" \
		>"$OUT/report.html" && [ -s "$OUT/report.html" ] && head -c 15 "$OUT/report.html" | grep -q '^<!DOCTYPE html>'
}
check "report written" report
# no script, no external resource: the page is one file (grep finds
# nothing: status 1, not 2 for an error)
self_contained() {
	grep -Eiq '<script|src *=|href *=|url\(|@import|https?:' "$OUT/report.html"
	[ $? -eq 1 ]
}
check "self-contained" self_contained
check "names escaped" grep -q "o&#39;brien &lt;script&gt;&amp;&quot;x" "$OUT/report.html"

# Chromium as postgres (not root), with a writable HOME; no sandbox, as in
# a container
chrome() {
	as_pg env HOME="$DIR/home" timeout 180 chromium --headless --no-sandbox --disable-gpu \
		--hide-scrollbars --no-first-run --disable-dev-shm-usage "$@" \
		"file://$OUT/report.html" >>"$OUT/chromium.log" 2>&1
}
chrome --screenshot="$OUT/report.png" --window-size=1280,2000
chrome --print-to-pdf="$OUT/report.pdf" --no-pdf-header-footer
png_ok() {
	[ -f "$OUT/report.png" ] &&
		[ "$(head -c 8 "$OUT/report.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
		[ "$(stat -c %s "$OUT/report.png")" -gt 50000 ]
}
# page objects (/Type /Page), not the page tree (/Type /Pages)
pdf_pages() { grep -aoE '/Type ?/Pages?' "$OUT/report.pdf" 2>/dev/null | grep -cv Pages; }
pdf_ok() {
	[ -f "$OUT/report.pdf" ] && [ "$(head -c 5 "$OUT/report.pdf")" = "%PDF-" ] &&
		[ "$(stat -c %s "$OUT/report.pdf")" -gt 10000 ] && [ "$(pdf_pages)" -gt 0 ]
}
check "screenshot (PNG signature, over 50 kB)" png_ok
check "PDF (header, over 10 kB, at least one page)" pdf_ok
[ -f "$OUT/report.png" ] || cat "$OUT/chromium.log"

# an edited row: the next report says the chain is broken, and where
broken() {
	as_pg "$BIN/psql" -h "$DIR" -d postgres -XAtq -v ON_ERROR_STOP=1 >/dev/null <<'SQL' &&
SET biocrypt.allow_audit_maintenance = on;
ALTER TABLE biocrypt.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE biocrypt.audit_log SET templates_compared = 0 WHERE id = 3;
ALTER TABLE biocrypt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
SQL
	as_pg "$BIN/psql" -h "$DIR" -d postgres -U ann -XAtq -v ON_ERROR_STOP=1 \
		-c "SELECT biocrypt.compliance_report(now() - interval '1 day', now() + interval '1 hour')" \
		>"$OUT/report-broken.html" &&
		grep -q '<div class="status broken" id="chain-status">Audit chain BROKEN' "$OUT/report-broken.html" &&
		grep -q '<table id="bad-ranges">.*<td class="n">3</td><td class="n">3</td><td>altered</td>' \
			"$OUT/report-broken.html"
}
check "a broken chain is shown broken" broken
echo "report:     $OUT/report.html ($(stat -c %s "$OUT/report.html" 2>/dev/null) bytes)"
echo "screenshot: $OUT/report.png ($(stat -c %s "$OUT/report.png" 2>/dev/null) bytes)"
echo "pdf:        $OUT/report.pdf ($(stat -c %s "$OUT/report.pdf" 2>/dev/null) bytes, $(pdf_pages) pages)"
finish
