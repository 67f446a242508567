# Copyright (c) biocrypt authors
#
# The audit log: every identify() leaves two rows in biocrypt.audit_log,
# written by the database's audit worker: a "begun" row (outcome begun, no
# counts) committed before the first template is decrypted, and a
# completion row naming it (begun_id) with the counts and matches,
# committed before identify() returns.  Checks both rows' contents; that
# the probe never shows (only its keyed hash); that both rows survive a
# kill -9 right after identify() returned and that the completed access is
# not closed again as incomplete; that identify() fails closed (55000) when
# the worker cannot record its begun row in time, decrypting nothing and
# leaving no row until the worker runs again, then exactly one error row;
# that a stopped worker is replaced and a restarted server continues the
# chain; xid and xact_outcome of both rows for rolled back, committed and
# read-only transactions; that the table refuses INSERT, UPDATE, DELETE and
# TRUNCATE (42501) even from a superuser; and that verify_audit() finds an
# edited or a deleted row.
#
# Other operations may write audit rows too: rows are counted and inspected
# with operation = 'identify' only, but the whole chain must verify.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode qw($UNPAIRED_SQL $GAPLESS_SQL);
use Time::HiRes qw(time usleep);

# Clients commit asynchronously and the WAL writer is slow: an audit row
# survives a crash only because the worker itself commits synchronously.
my $node = BiocryptNode->new_node('audit',
	root_key => '7a6b5c4d3e2f10017a6b5c4d3e2f10017a6b5c4d3e2f10017a6b5c4d3e2f1001',
	purpose  => 'verification',
	conf     => "restart_after_crash = on\n"
	  . "synchronous_commit = off\n"
	  . "wal_writer_delay = '10s'\n");

$node->safe_psql(
	'postgres', q{
	CREATE TABLE g (id int, tpl protected_template);
	INSERT INTO g SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'subj-' || i)
	FROM generate_series(1, 50) i;
	CREATE TABLE side (id int);
	CREATE ROLE plain LOGIN;
});

# identify() over g as "subject=distance,..." in rank order.  With l2 and
# templates (i, 1, 2), a probe (x, 1, 2) is at distance |i - x| from subj-i.
sub ident
{
	my ($probe, $k, $maxd) = @_;
	$k    //= 3;
	$maxd //= 'NULL';
	return "SELECT string_agg(subject || '=' || distance, ',' ORDER BY n) "
	  . "FROM biocrypt.identify('g', 'tpl', '$probe'::real[], $k, $maxd, 'l2') "
	  . "WITH ORDINALITY r(subject, distance, n)";
}

# identify rows as "begun rows|other rows (completions, refusals)"
my $n_ident = "SELECT count(*) FILTER (WHERE outcome = 'begun') || '|' || "
  . "count(*) FILTER (WHERE outcome <> 'begun') FROM biocrypt.audit_log WHERE operation = 'identify'";
my $last_ident =
  "SELECT max(id) FROM biocrypt.audit_log WHERE operation = 'identify'";
# ok, rows_checked against the table's row count (same snapshot), first_bad_id
my $verify = "SELECT v.ok, v.rows_checked = (SELECT count(*) FROM biocrypt.audit_log), "
  . "v.rows_checked > 0, v.first_bad_id FROM biocrypt.verify_audit() v";
my $worker_pid = "SELECT pid FROM pg_stat_activity "
  . "WHERE backend_type = 'biocrypt audit worker' AND datname = 'postgres'";

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# A "begun|other" count with db begun rows and dc other rows more.
sub plus
{
	my ($pair, $db, $dc) = @_;
	my ($begun, $other) = split /\|/, $pair;
	return ($begun + $db) . '|' . ($other + $dc);
}

# Run SQL that must fail; returns psql's stderr (with the SQLSTATE), and
# in list context its stdout too.
sub psql_err
{
	my ($sql, %opts) = @_;
	my ($ret, $out, $err) = $node->psql_verbose('postgres', $sql, %opts);
	is($ret, 3, "fails: $sql");
	return wantarray ? ($err, $out) : $err;
}

# -- 1. one identify(), a begun row, then a completion with what it did
is(q1($n_ident), '0|0', 'no identify row before any identify()');
my $before = q1('SELECT coalesce(max(id), 0) FROM biocrypt.audit_log');
my $res = q1(
	ident('{10.25,1,2}', 3, 5) . q{;
	SELECT relation::text, column_name, templates_compared, expired_skipped,
	       k, metric, threshold, outcome, sqlstate IS NULL,
	       octet_length(probe_hmac), octet_length(prev_hash), octet_length(row_hash),
	       xid IS NULL, xact_outcome IS NULL, session_role = current_user,
	       client_addr IS NULL, chain_id = (SELECT system_identifier::text FROM pg_control_system())
	FROM biocrypt.audit_log
	WHERE operation = 'identify' AND backend_pid = pg_backend_pid() AND outcome <> 'begun'});
is( $res,
	"subj-10=0.25,subj-11=0.75,subj-9=1.25\n"
	  . 'g|tpl|50|0|3|l2|5|ok|t|32|32|32|t|t|t|t|t',
	'identify returns its matches; its completion row has relation, column, counts, k, metric, threshold, outcome and hashes'
);
is(q1($n_ident), '1|1', 'exactly one begun and one completion row for the identify()');
# the begun row: who, what, how and which probe, but no counts or matches
is( q1(
		"SELECT b.relation::text, b.column_name, b.templates_compared, b.expired_skipped, "
		  . "b.k, b.metric, b.threshold, b.outcome, b.sqlstate IS NULL, b.matches IS NULL, "
		  . "b.begun_id IS NULL, b.probe_hmac = c.probe_hmac, b.backend_pid = c.backend_pid, "
		  . "b.id < c.id, b.ended_at <= c.ended_at "
		  . "FROM biocrypt.audit_log c JOIN biocrypt.audit_log b "
		  . "ON b.chain_id = c.chain_id AND b.id = c.begun_id WHERE c.operation = 'identify'"),
	'g|tpl|0|0|3|l2|5|begun|t|t|t|t|t|t|t',
	'the completion names the begun row: same access and probe, no counts, written before it');
is(q1($UNPAIRED_SQL), '0|0', 'every begun row has exactly one completion');
is( q1(
		"SELECT matches::text FROM biocrypt.audit_log WHERE operation = 'identify' AND outcome <> 'begun'"),
	'[{"subject": "subj-10", "distance": 0.25}, {"subject": "subj-11", "distance": 0.75}, '
	  . '{"subject": "subj-9", "distance": 1.25}]',
	'matches: the returned subjects and distances, in rank order');
is( q1(
		"SELECT count(*), bool_and(a.id > $before), "
		  . "bool_and(a.prev_hash = coalesce(p.row_hash, '\\x" . ('00' x 32) . "'::bytea)) "
		  . "FROM biocrypt.audit_log a LEFT JOIN biocrypt.audit_log p "
		  . "ON p.chain_id = a.chain_id AND p.id = a.id - 1 WHERE a.operation = 'identify'"),
	'2|t|t', 'both rows are linked to their predecessors by prev_hash');
is(q1($verify), 't|t|t|', 'verify_audit(): ok, every row checked, no bad id');
is(q1($GAPLESS_SQL), 't', 'ids are gapless');

# equal probes give equal probe_hmac, other probes another one
q1(ident('{10.25,1,2}') . '; ' . ident('{10.5,1,2}'));
is( q1(
		"SELECT count(DISTINCT probe_hmac) FROM biocrypt.audit_log WHERE operation = 'identify'"),
	'2', 'probe_hmac: equal for equal probes, different for another probe');

# -- 2. canary: the probe's values never reach the log
my $canary_hex = q1("SELECT encode(float4send(1234.5678::real), 'hex')");
my $n = q1($n_ident);
like(q1(ident('{1234.5678,1,2}', 1)),
	qr/^subj-50=1184\.567\d*$/, 'canary probe: identify works');
is(q1($n_ident), plus($n, 1, 1), 'canary probe: its begun and completion rows were written');
is( q1(
		"SELECT count(*) FROM biocrypt.audit_log a WHERE a::text LIKE '%1234.56%' "
		  . "OR a::text LIKE '%$canary_hex%'"),
	'0',
	'canary probe: its value appears in no column, as text or as float bits');

# -- 3. durability: the row survives a kill -9 right after identify() returned
q1('CHECKPOINT');    # the setup above committed asynchronously
my $bg = $node->background_psql('postgres', on_error_stop => 0);
my $bgpid = $bg->query_safe('SELECT pg_backend_pid()');
is($bg->query_safe(ident('{20.25,1,2}', 1)), 'subj-20=0.25', 'durability: identify returned');
$node->kill_backend($bgpid, 'durability');
eval { $bg->quit; };
is( q1(
		"SELECT count(*) FILTER (WHERE outcome = 'begun'), "
		  . "count(*) FILTER (WHERE outcome = 'ok' AND begun_id IS NOT NULL), "
		  . "min(matches::text) FILTER (WHERE outcome = 'ok') FROM biocrypt.audit_log "
		  . "WHERE operation = 'identify' AND backend_pid = $bgpid"),
	'1|1|[{"subject": "subj-20", "distance": 0.25}]',
	'durability: the begun and completion rows of the killed session survived the crash');
is(q1($verify), 't|t|t|', 'durability: verify_audit() ok after crash recovery');
is(q1($GAPLESS_SQL), 't', 'durability: ids gapless after crash recovery');

# -- 4. fail closed: a stopped worker means no access
q1(ident('{1,1,2}'));    # the worker runs (again, after the crash)
# its first act after the crash was to close the begun rows left open: the
# killed session's access had completed, so there were none
is( q1("SELECT count(*) FROM biocrypt.audit_log WHERE outcome = 'incomplete'"),
	'0', 'durability: the completed access was not closed again as incomplete');
is(q1($UNPAIRED_SQL), '0|0', 'durability: every begun row has exactly one completion');
my $wpid = q1($worker_pid);
like($wpid, qr/^\d+$/, 'one audit worker runs');
# stop it only while it naps, never while it holds the queue's lock
my $stopped = 0;
for (1 .. 50)
{
	if (q1("SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid") eq 'Extension')
	{
		kill('STOP', $wpid);
		last
		  if ($stopped =
			q1("SELECT wait_event FROM pg_stat_activity WHERE pid = $wpid") eq
			'Extension');
		kill('CONT', $wpid);
	}
	usleep(50_000);
}
ok($stopped, 'audit worker stopped (SIGSTOP) while idle');
$n = q1($n_ident);
my $all_rows = q1('SELECT count(*) FROM biocrypt.audit_log');
my $t0  = time;
my ($err, $out) = psql_err("SET biocrypt.audit_timeout = '1s'; " . ident('{30.25,1,2}'));
my $elapsed = time - $t0;
like(
	$err,
	qr/ERROR:  55000: biocrypt: access refused: the audit worker did not record the access in time/,
	'stopped worker: identify() fails with 55000, access refused');
is($out, '', 'stopped worker: no match is returned');
ok($elapsed >= 0.9 && $elapsed < 8,
	"stopped worker: refused after biocrypt.audit_timeout (took ${elapsed}s)");
is(q1($n_ident), $n, 'stopped worker: no identify row while it is stopped');
is(q1('SELECT count(*) FROM biocrypt.audit_log'),
	$all_rows, 'stopped worker: no row at all, not even a begun row: nothing was decrypted');
# only superusers may shorten (or lengthen) the wait
like(
	psql_err("SET biocrypt.audit_timeout = '1s'", extra_params => [ '-U', 'plain' ]),
	qr/permission denied to set parameter "biocrypt.audit_timeout"/,
	'biocrypt.audit_timeout cannot be set by a non-superuser');
kill('CONT', $wpid);
is(q1(ident('{40.25,1,2}', 1)), 'subj-40=0.25', 'worker continued: identify() works again');
# the refused call is recorded too, once the worker runs again: as one
# error row (it never began: no begun row); the new call as a pair
is(q1($n_ident), plus($n, 1, 2),
	'worker continued: one row for the refused call, a begun and a completion row for the new call');
is( q1(
		"SELECT outcome || '|' || sqlstate || '|' || templates_compared || '|' || (begun_id IS NULL) "
		  . "FROM biocrypt.audit_log WHERE operation = 'identify' AND outcome <> 'begun' "
		  . "ORDER BY id DESC OFFSET 1 LIMIT 1"),
	'error|55000|0|true',
	'refused call: recorded late, as error 55000, nothing compared, no begun row');
is(q1($UNPAIRED_SQL), '0|0', 'worker continued: every begun row has exactly one completion');
q1(ident('{30.25,1,2}'));
is( q1(
		"SELECT string_agg(outcome, ',' ORDER BY id) FROM biocrypt.audit_log WHERE probe_hmac = "
		  . "(SELECT probe_hmac FROM biocrypt.audit_log WHERE operation = 'identify' "
		  . "ORDER BY id DESC LIMIT 1)"),
	'error,begun,ok',
	'refused probe: its refused call, then the begun and completion rows of the later one');
is(q1($verify), 't|t|t|', 'after the stopped worker: verify_audit() ok');

# -- 5. worker stopped with SIGTERM: another one takes over
$n = q1($n_ident);
is(kill('TERM', $wpid), 1, 'SIGTERM to the audit worker');
is(q1(ident('{12.25,1,2}', 1)), 'subj-12=0.25', 'after SIGTERM: identify() still works');
ok($node->poll10("SELECT count(*) = 1 AND bool_and(pid <> $wpid) FROM ($worker_pid) w", 't'),
	'after SIGTERM: one new audit worker');
is(q1($n_ident), plus($n, 1, 1), 'after SIGTERM: the call was recorded, begun and completed');
is(q1($GAPLESS_SQL), 't', 'after SIGTERM: ids gapless');
is(q1($verify), 't|t|t|', 'after SIGTERM: verify_audit() ok');

# -- 6. server restart: the chain continues
my ($max_before, $hash_before) = split /\|/,
  q1("SELECT id, row_hash FROM biocrypt.audit_log ORDER BY id DESC LIMIT 1");
$node->restart;
is(q1($verify), 't|t|t|', 'after restart: verify_audit() ok');
q1(ident('{13.25,1,2}'));
is( q1(
		"SELECT id - $max_before, prev_hash = '$hash_before'::bytea, outcome FROM biocrypt.audit_log "
		  . "WHERE id > $max_before ORDER BY id LIMIT 1"),
	'1|t|begun',
	'after restart: the next row (the begun row) takes the next id and links to the last one');
is( q1(
		"SELECT string_agg(operation || ':' || outcome || ':' || coalesce(begun_id - $max_before, 0), ',' "
		  . "ORDER BY id) FROM biocrypt.audit_log WHERE id > $max_before"),
	'identify:begun:0,identify:ok:1',
	'after restart: then its completion, naming it');
is(q1($GAPLESS_SQL), 't', 'after restart: ids gapless');
is(q1($verify), 't|t|t|', 'after restart: verify_audit() ok with the new row');

# -- 7. xid and xact_outcome
# the identify rows of a session (begun and completion): how many, whether
# all have the xid, their outcomes
my $row_of = "SELECT count(*), bool_and(xid = %s), string_agg(DISTINCT xact_outcome, ',') "
  . "FROM biocrypt.audit_log WHERE operation = 'identify' AND backend_pid = %d";
foreach my $end ('ROLLBACK', 'COMMIT')
{
	my $s   = $node->background_psql('postgres');
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_safe('BEGIN');
	$s->query_safe($end eq 'ROLLBACK' ? 'INSERT INTO g VALUES (0, NULL)' : 'INSERT INTO side VALUES (1)');
	my $xid = $s->query_safe('SELECT pg_current_xact_id()');
	$s->query_safe(ident('{14.25,1,2}'));
	is(q1(sprintf($row_of, "'$xid'::xid8", $pid)),
		'2|t|in progress', "$end: both rows have the xid, 'in progress' while the transaction is open");
	$s->query_safe($end);
	my $want = $end eq 'ROLLBACK' ? 'aborted' : 'committed';
	ok($node->poll10(sprintf($row_of, "'$xid'::xid8", $pid), "2|t|$want"),
		"$end: xact_outcome of both rows becomes '$want'");
	$s->quit;
}
is(q1('SELECT count(*) FROM g WHERE id = 0'), '0', 'the rolled back insert is gone');
my $s   = $node->background_psql('postgres');
my $pid = $s->query_safe('SELECT pg_backend_pid()');
$s->query_safe('BEGIN READ ONLY');
$s->query_safe(ident('{15.25,1,2}'));
my $ro_row = "SELECT count(*), bool_and(xid IS NULL), bool_and(xact_outcome IS NULL) "
  . "FROM biocrypt.audit_log WHERE operation = 'identify' AND backend_pid = $pid";
is(q1($ro_row), '2|t|t', 'read-only transaction: xid and xact_outcome are NULL in both rows');
$s->query_safe('COMMIT');
$s->quit;
# the worker never fills in an outcome without an xid
sleep(2);
is(q1($ro_row), '2|t|t', 'read-only transaction: xact_outcome stays NULL after commit');
is(q1($verify), 't|t|t|', 'xact_outcome filled in: verify_audit() still ok (outside the hash)');

# -- 8. append-only, even for a superuser
my $snapshot = "SELECT md5(string_agg(a::text, ',' ORDER BY chain_id, id)) FROM biocrypt.audit_log a";
my $snap = q1($snapshot);
foreach my $sql (
	"UPDATE biocrypt.audit_log SET k = k WHERE operation = 'identify'",
	"DELETE FROM biocrypt.audit_log WHERE operation = 'identify'",
	"INSERT INTO biocrypt.audit_log SELECT (jsonb_populate_record(NULL::biocrypt.audit_log, "
	  . "to_jsonb(a) || jsonb_build_object('id', a.id + 1000000))).* "
	  . "FROM biocrypt.audit_log a WHERE operation = 'identify' LIMIT 1",
	'TRUNCATE biocrypt.audit_log')
{
	# rows: the triggers; TRUNCATE: already the utility hook
	like(psql_err($sql),
		qr/ERROR:  42501: biocrypt: (biocrypt\.audit_log is append-only|TRUNCATE TABLE would change or remove table biocrypt\.audit_log)/,
		'superuser ' . (split / /, $sql)[0] . ': 42501 refused');
}
is(q1($snapshot), $snap, 'append-only: the log is unchanged');

# -- 9. tampering (last: it breaks the chain)
# completion rows: each has a k to edit and a match list
my @ids = split /\n/,
  q1("SELECT id FROM biocrypt.audit_log WHERE operation = 'identify' AND outcome = 'ok' ORDER BY id");
my $edit = $ids[2];
my $gap  = $ids[5];
ok($gap > $edit + 1 && $gap < $ids[-1], 'tamper: rows chosen in the middle of the chain');
# The row trigger fires under every session_replication_role: tampering
# needs it disabled, which is audit maintenance and recorded.  Each step
# commits on its own: a maintenance record waits for the worker, which
# could not insert while this session held the table's lock.
sub tamper
{
	my ($sql) = @_;
	my $allow = 'SET biocrypt.allow_audit_maintenance = on; ';
	q1($allow . 'ALTER TABLE biocrypt.audit_log DISABLE TRIGGER audit_log_append_only');
	q1($sql);
	q1($allow . 'ALTER TABLE biocrypt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only');
	return;
}
# verify_audit()'s bad ranges as [first_id, last_id, problem]
my $ranges = "SELECT (SELECT jsonb_agg(jsonb_build_array(r->'first_id', r->'last_id', r->>'problem') "
  . "ORDER BY (r->>'first_id')::bigint) FROM jsonb_array_elements(v.bad_ranges) r)::text "
  . "FROM biocrypt.verify_audit() v";
tamper("UPDATE biocrypt.audit_log SET k = k + 1 WHERE id = $edit");
is(q1($verify), "f|t|t|$edit", 'edited k: verify_audit() reports that row');
# undoing the edit restores the chain: the hash covers the value, nothing else
tamper("UPDATE biocrypt.audit_log SET k = k - 1 WHERE id = $edit");
is(q1($verify), 't|t|t|', 'edit undone: verify_audit() ok again');
my $matches = q1("SELECT matches::text FROM biocrypt.audit_log WHERE id = $edit");
tamper("UPDATE biocrypt.audit_log SET matches = '[]' WHERE id = $edit");
is(q1($verify), "f|t|t|$edit", 'edited matches: verify_audit() reports that row');
tamper("UPDATE biocrypt.audit_log SET matches = '$matches' WHERE id = $edit");
is(q1($verify), 't|t|t|', 'matches restored: verify_audit() ok again');

# a deleted middle row: its id is the first bad one, a missing range
tamper("DELETE FROM biocrypt.audit_log WHERE id = $gap");
is(q1("SELECT count(*) FROM biocrypt.audit_log WHERE id IN ($gap, $gap + 1)"),
	'1', 'tamper: a middle row deleted, its successor kept');
is(q1($verify), "f|t|t|$gap", 'deleted row: verify_audit() reports the missing id');
is(q1($ranges), "[[$gap, $gap, \"missing\"]]", 'deleted row: bad_ranges has it as missing');
# an edit before the gap comes first
tamper("UPDATE biocrypt.audit_log SET k = k + 1 WHERE id = $edit");
is(q1($verify), "f|t|t|$edit", 'edit before the gap: verify_audit() reports the edited id');
is( q1($ranges),
	"[[$edit, $edit, \"altered\"], [$gap, $gap, \"missing\"]]",
	'edit before the gap: bad_ranges lists the altered row, then the missing one');

$node->stop;

done_testing();
