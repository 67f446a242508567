# Copyright (c) biocrypt authors
#
# Issue 15, an attacker's trial: what a forwarding login
# (biocrypt_standby), a matcher and a superuser tampering with the table
# can do to the audit of hot standbys, and what a standby's access does
# when the primary stops answering.  The trial found five breaks on
# branch scaleout (232b016); the checks now assert that each one holds.
#  A. audit_forward(): a completion naming a begun row that is not the
#     sender's (a primary-local open access, another standby's, one
#     already closed) is refused (22023).
#  B. the chain's hash groups: turning the 0.2.0 counts 0 into NULL and
#     origin and request_id into '' is named by verify_audit() (0.3.0's
#     group starts with a mark).
#  C. record_fanout() as a matcher: erase, purge, hold and protect are
#     refused (42501); the compliance report lists none of them.
#  D. a standby's access while the primary is stopped (SIGSTOP): how long
#     it waits (up to biocrypt.audit_timeout: the connection is open, the
#     primary does not answer); the audit worker terminated; pg_hba
#     rejecting the forwarding login; a parallel query and a cursor on the
#     standby, each with its begun row on the primary first.
#  E. a PL/Proxy coordinator whose shards are down, run against the advice
#     of docs/scale-out.md (log_min_error_statement = error): the probe of a
#     failed identify() in its server log (STATEMENT); a matcher cannot
#     call shards.erase.
#  F. the primary's forwarding backend terminated while a standby access
#     is open: the primary closes it incomplete and the standby's audit
#     worker survives (it crashed before: a catalog lookup outside a
#     transaction); the standby's audit worker killed mid-access.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $KEY = '5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b';
my $quiet = "log_statement = none\nlog_min_error_statement = error\n";
my $primary = BiocryptNode->new_node('primary', root_key => $KEY,
	purpose => 'verification', conf => $quiet, init => { allows_streaming => 1 });
$primary->safe_psql('postgres', q{
	CREATE ROLE fwd1 LOGIN IN ROLE biocrypt_standby;
	CREATE ROLE fwd2 LOGIN IN ROLE biocrypt_standby;
	CREATE ROLE m1 LOGIN IN ROLE biocrypt_matcher;
	CREATE TABLE people (id int PRIMARY KEY, face protected_template);
	INSERT INTO people SELECT s, biocrypt.protect(ARRAY[s, 0.25, 0.5, 0.75]::real[], 'person-' || s)
	FROM generate_series(1, 20) s;
	GRANT SELECT ON people TO m1;
});
my $probe = "'{7,0.25,0.5,0.75}'::real[]";

sub head_id
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM biocrypt.audit_log');
}

# rows to forward: the last verify completion, changed by a jsonb patch
sub forward_sql
{
	my ($patch) = @_;
	return qq{SELECT coalesce(id::text, 'refused ' || sqlstate) FROM biocrypt.audit_forward(ARRAY(
		SELECT jsonb_populate_record(a, jsonb_build_object('begun_id', NULL, 'origin', 'replicaX')
			|| '$patch'::jsonb)
		FROM biocrypt.audit_log a WHERE operation = 'verify' AND outcome = 'ok'
		ORDER BY id DESC LIMIT 1))};
}

$primary->safe_psql('postgres', "SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7");
$primary->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM biocrypt.audit_log WHERE operation = 'verify' AND outcome = 'ok'");
$primary->safe_psql('postgres', 'GRANT SELECT ON biocrypt.audit_log TO fwd1, fwd2');

###########################################################################
# A. a forwarded completion closes an access that is not the sender's
###########################################################################
# a primary-local access held open: its begun row is committed, its
# completion comes when the statement ends
my $since = head_id($primary);
my ($sout, $serr) = ('', '');
my $slow = IPC::Run::start(
	[ 'psql', '-XAt', '-d', $primary->connstr('postgres'), '-c',
		"SELECT biocrypt.verify(face, $probe, 0.01), pg_sleep(4) FROM people WHERE id = 7" ],
	'>', \$sout, '2>', \$serr);
ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE id > $since AND outcome = 'begun'"),
	'A: a primary-local access is open (its begun row committed)');
my $local_begun = $primary->safe_psql('postgres',
	"SELECT id FROM biocrypt.audit_log WHERE id > $since AND outcome = 'begun'");
my $forged = $primary->safe_psql('postgres', forward_sql(
	qq({"outcome": "ok", "begun_id": $local_begun, "templates_compared": 0})),
	extra_params => [ '-U', 'fwd1' ]);
is($forged, 'refused 22023',
	"A: fwd1's ok completion naming the primary-local begun row $local_begun is refused");
is($primary->safe_psql('postgres',
		"SELECT count(*) FROM biocrypt.audit_log WHERE begun_id = $local_begun AND origin IS NOT NULL"),
	'0', 'A: the primary-local access has no completion from the forwarding role');
$slow->finish;
ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE begun_id = $local_begun"),
	'A: when the local access ends, its begun row has its one completion');
diag('A: completions of the local begun row: ' . $primary->safe_psql('postgres',
		"SELECT string_agg(id || ' ' || outcome || ' ' || coalesce(origin, '-'), '; ' ORDER BY id) "
		  . "FROM biocrypt.audit_log WHERE begun_id = $local_begun"));

# another standby's open access, closed by fwd2 (incomplete and ok)
my $begun1 = $primary->safe_psql('postgres', forward_sql('{"outcome": "begun"}'),
	extra_params => [ '-U', 'fwd1' ]);
like($begun1, qr/^\d+$/, "A: fwd1 opens an access (begun row $begun1)");
my $closed = $primary->safe_psql('postgres', forward_sql(
	qq({"outcome": "incomplete", "begun_id": $begun1})), extra_params => [ '-U', 'fwd2' ]);
is($closed, 'refused 22023', "A: fwd2 cannot close fwd1's open access as incomplete");
my $again = $primary->safe_psql('postgres', forward_sql(
	qq({"outcome": "ok", "begun_id": $begun1})), extra_params => [ '-U', 'fwd2' ]);
is($again, 'refused 22023', "A: nor complete it");
like($primary->safe_psql('postgres', forward_sql(qq({"outcome": "ok", "begun_id": $begun1})),
		extra_params => [ '-U', 'fwd1' ]), qr/^\d+$/, 'A: fwd1 completes its own access');
is($primary->safe_psql('postgres', forward_sql(qq({"outcome": "incomplete", "begun_id": $begun1})),
		extra_params => [ '-U', 'fwd1' ]), 'refused 22023', 'A: once only');
is($primary->safe_psql('postgres', 'SELECT ok FROM biocrypt.verify_audit()'), 't',
	'A: verify_audit() finds nothing wrong');

# overflow: 129 events, and a deep jsonb in matches
my ($rc, $out, $err) = $primary->psql_verbose('postgres',
	q{SELECT count(*) FROM biocrypt.audit_forward(ARRAY(SELECT a FROM biocrypt.audit_log a,
		generate_series(1, 129) WHERE a.operation = 'verify' AND a.outcome = 'ok' LIMIT 129))},
	extra_params => [ '-v', 'VERBOSITY=verbose', '-U', 'fwd1' ]);
like($err, qr/54000/, 'A: 129 events: refused, 54000');
($rc, $out, $err) = $primary->psql_verbose('postgres', forward_sql(
	'{"matches": ' . ('[' x 5000) . (']' x 5000) . '}'), extra_params => [ '-U', 'fwd1' ]);
diag("A: matches nested 5000 deep: rc $rc, out '$out', err '" . substr($err, 0, 200) . "'");
($rc, $out, $err) = $primary->psql_verbose('postgres',
	forward_sql('{"matches": [{"subject": "' . ('x' x 2_000_000) . '"}]}'),
	extra_params => [ '-U', 'fwd1' ]);
diag("A: a 2 MB matches: rc $rc, out '$out', err '" . substr($err, 0, 200) . "'");
is($primary->safe_psql('postgres', "SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7"),
	't', 'A: the primary\'s audit worker still records accesses');

###########################################################################
# B. origin and request_id set to '' where the 0.2.0 counts were 0
###########################################################################
$primary->safe_psql('postgres', "SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 8");
$primary->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM biocrypt.audit_log WHERE operation = 'verify' AND outcome = 'ok' "
	  . "AND purpose_skipped = 0 AND shape_skipped = 0 AND origin IS NULL AND request_id IS NULL");
my $victim = $primary->safe_psql('postgres',
	"SELECT max(id) FROM biocrypt.audit_log WHERE purpose_skipped = 0 AND shape_skipped = 0 "
	  . "AND origin IS NULL AND request_id IS NULL");
is($primary->safe_psql('postgres', 'SELECT ok FROM biocrypt.verify_audit()'), 't', 'B: chain ok before');
$primary->safe_psql('postgres', qq{
	SET biocrypt.allow_audit_maintenance = on;
	ALTER TABLE biocrypt.audit_log DISABLE TRIGGER audit_log_append_only;
	UPDATE biocrypt.audit_log SET purpose_skipped = NULL, shape_skipped = NULL,
		origin = '', request_id = '' WHERE id = $victim;
	ALTER TABLE biocrypt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
});
is($primary->safe_psql('postgres', "SELECT origin IS NOT NULL AND request_id IS NOT NULL "
		  . "FROM biocrypt.audit_log WHERE id = $victim"),
	't', "B: row $victim now has an origin and a request id (both '')");
is($primary->safe_psql('postgres', 'SELECT ok, first_bad_id FROM biocrypt.verify_audit()'), "f|$victim",
	"B: verify_audit() names row $victim (0.3.0's group starts with its mark)");
# the control: a visible origin is caught
$primary->safe_psql('postgres', qq{
	SET biocrypt.allow_audit_maintenance = on;
	ALTER TABLE biocrypt.audit_log DISABLE TRIGGER audit_log_append_only;
	UPDATE biocrypt.audit_log SET origin = 'replica1' WHERE id = $victim;
	ALTER TABLE biocrypt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
});
is($primary->safe_psql('postgres', 'SELECT ok, first_bad_id FROM biocrypt.verify_audit()'), "f|$victim",
	"B: control: origin = 'replica1' is named");
$primary->safe_psql('postgres', qq{
	SET biocrypt.allow_audit_maintenance = on;
	ALTER TABLE biocrypt.audit_log DISABLE TRIGGER audit_log_append_only;
	UPDATE biocrypt.audit_log SET purpose_skipped = 0, shape_skipped = 0,
		origin = NULL, request_id = NULL WHERE id = $victim;
	ALTER TABLE biocrypt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
});
is($primary->safe_psql('postgres', 'SELECT ok, first_bad_id FROM biocrypt.verify_audit()'), 't|',
	"B: row $victim put back as it was: the chain verifies again");

###########################################################################
# C. a matcher's record_fanout() on a server with templates
###########################################################################
$since = head_id($primary);
($rc, $out, $err) = $primary->psql_verbose('postgres', q{
	SET biocrypt.request_id = '<b>x</b>';
	SELECT biocrypt.record_fanout('erase', 'person-3');
	SELECT biocrypt.record_fanout('purge');
	SELECT biocrypt.record_fanout('protect', 'person-99');
	SELECT biocrypt.record_fanout('hold', NULL, NULL, NULL,
		'[{"action": "release", "subject": "person-5", "reason": "court order 42"}]');},
	extra_params => [ '-v', 'VERBOSITY=verbose', '-U', 'm1' ]);
isnt($rc, 0, 'C: a matcher cannot record an erase fan-out');
like($err, qr/42501: biocrypt: only members of biocrypt_admin record a fan-out's erase/,
	'C: 42501, naming the role that may');
foreach my $op ("'purge'", "'protect', 'person-99'",
	"'hold', NULL, NULL, NULL, '[{\"action\": \"release\", \"subject\": \"person-5\", \"reason\": \"court order 42\"}]'")
{
	($rc, $out, $err) = $primary->psql_verbose('postgres',
		"SET biocrypt.request_id = 'r'; SELECT biocrypt.record_fanout($op)",
		extra_params => [ '-v', 'VERBOSITY=verbose', '-U', 'm1' ]);
	like($err, qr/42501/, "C: a matcher cannot record record_fanout($op)");
}
is($primary->safe_psql('postgres', "SELECT count(*) FROM biocrypt.audit_log WHERE id > $since"), '0',
	'C: no row');
my $report = $primary->safe_psql('postgres',
	"SELECT biocrypt.compliance_report(now() - interval '1 day', now() + interval '1 day')");
my ($removal) = $report =~ m{(<table id="removal-list">.*?</table>)}s;
my ($holds) = $report =~ m{(<table id="hold-events">.*?</table>)}s;
unlike($removal // '', qr/person-3/, 'C: the compliance report lists no erasure of person-3');
unlike($holds // '', qr/court order 42/, 'C: the compliance report lists no hold release of the matcher\'s making');
diag('C: removal-list: ' . ($removal // 'none'));
diag('C: hold-events: ' . ($holds // 'none'));
diag('C: rows: ' . $primary->safe_psql('postgres',
		"SELECT string_agg(concat_ws(' ', operation, outcome, session_role, origin, request_id, matches::text), '; ' ORDER BY id) "
		  . "FROM biocrypt.audit_log WHERE id > $since"));
is($primary->safe_psql('postgres', "SELECT count(*) FROM people"), '20',
	'C: nothing was erased');

###########################################################################
# D. a standby, and its primary stopped (SIGSTOP) with the forwarding
# connection open
###########################################################################
$primary->safe_psql('postgres', 'CREATE ROLE forwarder LOGIN IN ROLE biocrypt_standby');
$primary->backup('bk');
my $standby = BiocryptNode->new('replica1');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
my $conninfo = 'host=' . $primary->host . ' port=' . $primary->port . ' user=forwarder';
$standby->append_conf('postgresql.conf',
	"biocrypt.primary_conninfo = '$conninfo'\nrestart_after_crash = on\n");
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7"),
	't', 'D: standby verify answers');

# a non-superuser on the standby: the forwarding connection string
foreach my $ask (q{SELECT current_setting('biocrypt.primary_conninfo', true)},
	q{SELECT coalesce(setting, 'NULL') FROM pg_settings WHERE name = 'biocrypt.primary_conninfo'},
	q{SHOW biocrypt.primary_conninfo}, q{SELECT count(*) FROM pg_file_settings},
	q{SELECT string_agg(name || '=' || setting, ',') FROM pg_show_all_settings() WHERE name ~ 'conninfo'})
{
	($rc, $out, $err) = $standby->psql_verbose('postgres', $ask,
		extra_params => [ '-v', 'VERBOSITY=terse', '-U', 'm1' ]);
	diag("D: m1: $ask: rc $rc, out '$out', err '$err'");
	unlike($out, qr/forwarder/, "D: m1 does not read the conninfo ($ask)");
}

my $pm = $primary->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $ppid = $primary->{_pid};
my @stopped = ($ppid);
foreach my $p (split /\n/, $primary->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()"))
{
	push @stopped, $p;
}
kill 'STOP', @stopped;
my $t0 = time;
($rc, $out, $err) = $standby->psql_verbose('postgres',
	"SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7");
my $took = time - $t0;
diag(sprintf("D: primary SIGSTOPped: verify on the standby: rc %d, out '%s', %.1f s, err '%s'",
		$rc, $out, $took, $err));
is($out, '', 'D: nothing returned while the primary is stopped');
# the standby's audit worker terminated while an access waits
my $w = IPC::Run::start(
	[ 'psql', '-XAt', '-d', $standby->connstr('postgres'), '-c',
		"SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7" ],
	'>', \$sout, '2>', \$serr);
usleep(500_000);
my $wpid = $standby->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'biocrypt audit worker'");
$t0 = time;
$standby->safe_psql('postgres', "SELECT pg_terminate_backend($wpid)") if $wpid ne '';
$w->finish;
diag(sprintf("D: audit worker %s terminated during a waiting access: answered after %.1f s, out '%s', err '%s'",
		$wpid, time - $t0, $sout, $serr));
is($sout, '', 'D: the waiting access returned nothing');
kill 'CONT', @stopped;
ok($standby->poll_query_until('postgres',
		"SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7"),
	'D: primary resumed: the standby\'s accesses work again');

# parallel query and a cursor on the standby, each with its rows on the primary
$since = head_id($primary);
($rc, $out, $err) = $standby->psql_verbose('postgres', qq{
	SET force_parallel_mode = on; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
	SET min_parallel_table_scan_size = 0;
	SELECT count(*) FILTER (WHERE biocrypt.verify(face, $probe, 0.5)) FROM people;});
diag("D: parallel verify on the standby: rc $rc, out '$out', err '$err'");
($rc, $out, $err) = $standby->psql_verbose('postgres', qq{
	BEGIN; DECLARE c CURSOR FOR SELECT id FROM people ORDER BY face <=> $probe;
	FETCH 2 FROM c; FETCH 2 FROM c; COMMIT;});
diag("D: cursor on the standby: rc $rc, out '$out', err '$err'");
ok($primary->poll_query_until('postgres',
		"SELECT count(*) FILTER (WHERE outcome = 'begun') = count(*) FILTER (WHERE begun_id IS NOT NULL) "
		  . "FROM biocrypt.audit_log WHERE id > $since"), 'D: every begun row has its completion');
diag('D: rows on the primary: ' . $primary->safe_psql('postgres',
		"SELECT string_agg(operation || ' ' || outcome || ' ' || templates_compared, '; ' ORDER BY id) "
		  . "FROM biocrypt.audit_log WHERE id > $since"));

# pg_hba: the primary rejects the forwarding login
my $hba = $primary->data_dir . '/pg_hba.conf';
my $orig = slurp_file($hba);
open(my $fh, '>', $hba) or die;
print $fh "local all forwarder reject\nhost all forwarder 127.0.0.1/32 reject\n$orig";
close $fh;
$primary->reload;
# the kept connection still works: only a new one is rejected
$standby->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE backend_type = 'biocrypt audit worker'});
$t0 = time;
($rc, $out, $err) = $standby->psql_verbose('postgres',
	"SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7");
diag(sprintf("D: forwarding login rejected by pg_hba: rc %d, out '%s', %.1f s, err '%s'",
		$rc, $out, time - $t0, $err));
is($out, '', 'D: pg_hba reject: nothing returned');
my $slog = slurp_file($standby->logfile);
diag('D: standby log lines naming the primary: '
	  . join(' | ', grep { /cannot reach its primary|did not record/ } split /\n/, $slog));

# the forwarding login allowed again
open($fh, '>', $hba) or die;
print $fh $orig;
close $fh;
$primary->reload;
ok($standby->poll_query_until('postgres',
		"SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7"),
	'D: pg_hba restored: the standby\'s accesses work again');

# F1. the primary's forwarding backend terminated while a standby access is
# open: the primary closes it as incomplete, and the standby then sends
# its completion too
$since = head_id($primary);
$slow = IPC::Run::start(
	[ 'psql', '-XAt', '-d', $standby->connstr('postgres'), '-c',
		"SELECT biocrypt.verify(face, $probe, 0.01), pg_sleep(4) FROM people WHERE id = 7" ],
	'>', \$sout, '2>', \$serr);
ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE id > $since AND outcome = 'begun'"),
	'F1: the standby access is open on the primary');
my $fbegun = $primary->safe_psql('postgres',
	"SELECT id FROM biocrypt.audit_log WHERE id > $since AND outcome = 'begun'");
$primary->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE application_name = 'biocrypt standby audit'});
$slow->finish;
diag("F1: the standby access answered '$sout' err '$serr'");
sleep 2;
unlike(slurp_file($standby->logfile), qr/was terminated by signal 11/,
	'F1: the standby\'s audit worker does not crash closing the access whose completion was lost');
is($primary->safe_psql('postgres', "SELECT count(*) FROM biocrypt.audit_log WHERE begun_id = $fbegun"),
	'1', 'F1: the access has one closing row on the primary');
diag('F1: completions of begun row ' . $fbegun . ': ' . $primary->safe_psql('postgres',
		"SELECT string_agg(id || ' ' || outcome, '; ' ORDER BY id) FROM biocrypt.audit_log WHERE begun_id = $fbegun"));

# F2. the standby's audit worker killed (SIGKILL) while an access is open
$since = head_id($primary);
($sout, $serr) = ('', '');
$slow = IPC::Run::start(
	[ 'psql', '-XAt', '-d', $standby->connstr('postgres'), '-c',
		"SELECT biocrypt.verify(face, $probe, 0.01), pg_sleep(4) FROM people WHERE id = 7" ],
	'>', \$sout, '2>', \$serr);
ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE id > $since AND outcome = 'begun'"),
	'F2: the standby access is open on the primary');
$fbegun = $primary->safe_psql('postgres',
	"SELECT id FROM biocrypt.audit_log WHERE id > $since AND outcome = 'begun'");
$wpid = $standby->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'biocrypt audit worker'");
kill 'KILL', $wpid;
$slow->finish;
diag("F2: audit worker $wpid killed: the access answered '$sout' err '" . substr($serr, 0, 200) . "'");
ok($primary->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM biocrypt.audit_log WHERE begun_id = $fbegun"),
	'F2: the begun row is closed on the primary');
diag('F2: completions of begun row ' . $fbegun . ': ' . $primary->safe_psql('postgres',
		"SELECT string_agg(id || ' ' || outcome, '; ' ORDER BY id) FROM biocrypt.audit_log WHERE begun_id = $fbegun"));
ok($standby->poll_query_until('postgres',
		"SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7"),
	'F2: the standby is back and its accesses work');
is($primary->safe_psql('postgres', 'SELECT ok, first_bad_id FROM biocrypt.verify_audit()'), 't|',
	'F: verify_audit() on the primary');

###########################################################################
# E. a PL/Proxy coordinator (test/scaleout/coordinator.sql) whose shards
# cannot be reached: what its server log keeps of a probe
###########################################################################
my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
my $sharedir = `$pg_config --sharedir`;
chomp $sharedir;
SKIP:
{
	skip 'E: PL/Proxy is not installed (test/install.sh installs postgresql-15-plproxy)', 2
	  unless -f "$sharedir/extension/plproxy.control";
	my $coord = BiocryptNode->new_node('coord', root_key => $KEY, purpose => 'verification',
		conf => "log_statement = none\nlog_min_error_statement = error\n");
	$coord->safe_psql('postgres', 'CREATE ROLE m2 LOGIN IN ROLE biocrypt_matcher');
	my $down = 'host=127.0.0.1 port=1 dbname=postgres connect_timeout=1';
	IPC::Run::run([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', "shard0=$down", '-v', "shard1=$down",
			'-v', "shard2=$down", '-d', $coord->connstr('postgres'), '-f',
			"$FindBin::RealBin/../scaleout/coordinator.sql" ], '>', \$sout, '2>', \$serr)
	  or diag("E: coordinator.sql: $serr");
	my $clog = -s $coord->logfile;
	($rc, $out, $err) = $coord->psql_verbose('postgres',
		q{SELECT * FROM identify('{1.234567,2.345678,3.456789}'::real[], 3)},
		extra_params => [ '-v', 'VERBOSITY=verbose', '-U', 'm2' ]);
	diag("E: identify with the shards down: rc $rc, err '" . substr($err, 0, 300) . "'");
	($rc, $out, $err) = $coord->psql_verbose('postgres',
		q{SELECT shards.erase(gen_random_uuid(), 'verification', 'person-1')},
		extra_params => [ '-v', 'VERBOSITY=verbose', '-U', 'm2' ]);
	like($err, qr/42501/, 'E: a matcher cannot call shards.erase');
	($rc, $out, $err) = $coord->psql_verbose('postgres',
		q{SELECT count(*) FROM shards.identify_local('00000000-0000-0000-0000-000000000001',
			'verification', '{1,2,3}'::real[], 3)},
		extra_params => [ '-v', 'VERBOSITY=verbose', '-U', 'm2' ]);
	diag("E: a matcher calls shards.identify_local directly (no record_fanout): rc $rc, err '"
		  . substr($err, 0, 200) . "'");
	my $ctext = slurp_file($coord->logfile, $clog);
	like($ctext, qr/STATEMENT:  SELECT \* FROM identify\('\{1\.234567,2\.345678,3\.456789\}'/,
		'E: the probe is in the coordinator\'s server log (STATEMENT of the failed call)');
	diag('E: coordinator log: ' . join(' | ', grep { /STATEMENT|1\.2345/ } split /\n/, $ctext));
	$coord->stop;
}

$standby->stop;
$primary->stop;
done_testing();
