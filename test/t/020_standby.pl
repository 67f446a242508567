# Copyright (c) biocrypt authors
#
# A streaming hot standby whose accesses are recorded in the primary's
# audit log.  The standby's audit worker connects to the primary as a
# login role of biocrypt_standby (biocrypt.primary_conninfo) and sends
# each event to biocrypt.audit_forward() there.
#  1. verify, the operators, identify (table scan and warm gallery) and
#     COPY TO on the standby answer, and each has its row on the primary,
#     naming the standby, its backend and the forwarding role, before it
#     returns; the primary's chain verifies.
#  2. with the primary stopped, each access fails at once, returns
#     nothing, and no log holds the statement or the probe; once the
#     primary is back, accesses work again.
#  3. a forwarding role that is not (any more) a member of biocrypt_standby
#     is refused by the primary, and so is the access on the standby.
#  4. a data key destroyed on the primary reaches the standby by WAL: its
#     list of destroyed keys gets the fingerprint and its warm gallery of
#     that database is evicted.
#  5. promoted, the standby records its accesses in its own audit log.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $KEY = '5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b';
my $quiet = "log_statement = none\nlog_min_error_statement = error\n";
my $primary = BiocryptNode->new_node('primary', root_key => $KEY,
	purpose => 'verification', conf => $quiet, init => { allows_streaming => 1 });
$primary->safe_psql('postgres', q{
	CREATE ROLE forwarder LOGIN IN ROLE biocrypt_standby;
	CREATE TABLE people (id int PRIMARY KEY, face protected_template);
	INSERT INTO people SELECT s, biocrypt.protect(ARRAY[s, 0.25, 0.5, 0.75]::real[], 'person-' || s)
	FROM generate_series(1, 20) s;
	CREATE INDEX people_gal ON people USING biocrypt_gallery (face);
});
$primary->backup('bk');
# the test framework starts a node with cluster_name = its name
my $standby = BiocryptNode->new('replica1');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
my $conninfo = 'host=' . $primary->host . ' port=' . $primary->port . ' user=forwarder';
$standby->append_conf('postgresql.conf',
	"biocrypt.primary_conninfo = '$conninfo'\nrestart_after_crash = on\n");
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery(), count(*) FROM people'),
	't|20', 'standby: in recovery, with the rows');

# the primary's rows from the standby, as "operation outcome pid" lines
sub forwarded
{
	my ($since) = @_;
	return $primary->safe_psql('postgres', qq{
		SELECT string_agg(operation || ' ' || outcome || ' ' || backend_pid, ',' ORDER BY id)
		FROM biocrypt.audit_log WHERE id > $since AND origin IS NOT NULL});
}
sub head_id
{
	return $primary->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM biocrypt.audit_log');
}

###########################################################################
# 1. accesses on the standby, each on record on the primary first
###########################################################################
my $probe = "'{7,0.25,0.5,0.75}'::real[]";
my $since = head_id();
my $pid_sql = 'SELECT pg_backend_pid()';
my ($out) = $standby->safe_psql('postgres',
	"SELECT pg_backend_pid(), biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7");
my ($pid, $ok) = split /\|/, $out;
is($ok, 't', 'standby verify: answers');
like(forwarded($since), qr/^verify begun $pid\b/,
	'standby verify: its begun row is on the primary when verify returns');
ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE id > $since AND operation = 'verify' "
		  . "AND outcome = 'ok' AND backend_pid = $pid AND begun_id IS NOT NULL"),
	'standby verify: its completion follows, naming the begun row');
is($primary->safe_psql('postgres', "SELECT DISTINCT origin FROM biocrypt.audit_log WHERE id > $since"),
	'replica1 (forwarder@local)',
	'standby verify: origin names the standby, the forwarding role and its address');

$since = head_id();
($out) = $standby->safe_psql('postgres',
	"SET biocrypt.enable_gallery = off; SELECT pg_backend_pid(), string_agg(id::text, ',') "
	  . "FROM (SELECT id FROM people ORDER BY face <=> $probe LIMIT 3) s");
($pid, my $ids) = split /\|/, $out;
is($ids, '7,8,6', 'standby ORDER BY (table scan): the three nearest');
like(forwarded($since), qr/^compare begun $pid\b/, 'standby ORDER BY: its begun row is on the primary');

$since = head_id();
($out) = $standby->safe_psql('postgres',
	"SELECT pg_backend_pid(), string_agg(subject, ',') FROM biocrypt.identify('people', 'face', $probe, 3)");
($pid, my $subjects) = split /\|/, $out;
is($subjects, 'person-7,person-8,person-6', 'standby identify (cold gallery): the three nearest');
is(forwarded($since), "identify begun $pid,identify ok $pid",
	'standby identify: begun and completion rows on the primary before it returns');
is($primary->safe_psql('postgres', qq{
		SELECT k, templates_compared, jsonb_array_length(matches), probe_hmac IS NOT NULL
		FROM biocrypt.audit_log WHERE id > $since AND outcome = 'ok'}),
	'3|20|3|t', 'standby identify: the completion has k, counts, matches and the probe hash');

is($standby->safe_psql('postgres', "SELECT biocrypt.warm('people_gal')"), '20', 'standby: warm()');
$since = head_id();
is($standby->safe_psql('postgres',
		"SELECT string_agg(subject, ',') FROM biocrypt.identify('people', 'face', $probe, 3)"),
	'person-7,person-8,person-6', 'standby identify (warm gallery): the same three');
like(forwarded($since), qr/^identify begun \d+,identify ok \d+$/,
	'standby identify (warm): both rows on the primary');

$since = head_id();
my ($rc, $err);
($rc, $out, $err) = $standby->psql_verbose('postgres', 'COPY people (id, face) TO STDOUT');
is(scalar(split /\n/, $out), 20, 'standby COPY TO: the 20 rows');
like(forwarded($since), qr/^export begun \d+/, 'standby COPY TO: its export is on the primary');
ok($primary->poll_query_until('postgres',
		"SELECT templates_compared = 20 FROM biocrypt.audit_log WHERE id > $since AND outcome = 'ok'"),
	'standby COPY TO: its completion counts 20 rows');

is($primary->safe_psql('postgres',
		"SELECT count(*) FROM biocrypt.audit_log WHERE origin IS NOT NULL AND session_role IS NULL"),
	'0', 'primary: every forwarded row names its role');
is($primary->safe_psql('postgres', 'SELECT ok, rows_checked > 10 FROM biocrypt.verify_audit()'),
	't|t', 'primary: the chain verifies with the standby\'s rows in it');

###########################################################################
# 1b. a standby backend killed in the middle of an access: the standby
# restarts, its forwarding connection drops, and the primary closes the
# access as incomplete
###########################################################################
$since = head_id();
my ($sout, $serr) = ('', '');
my $slow = IPC::Run::start(
	[ 'psql', '-XAt', '-d', $standby->connstr('postgres'), '-c',
		"SELECT biocrypt.verify(face, $probe, 0.01), pg_sleep(60) FROM people WHERE id = 7" ],
	'>', \$sout, '2>', \$serr);
ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE id > $since AND outcome = 'begun' AND origin IS NOT NULL"),
	'killed: the access\'s begun row is on the primary');
# the row names the standby's backend
my ($begun, $victim) = split /\|/, $primary->safe_psql('postgres',
	"SELECT id, backend_pid FROM biocrypt.audit_log WHERE id > $since AND outcome = 'begun' AND origin IS NOT NULL");
is($standby->safe_psql('postgres', "SELECT backend_type FROM pg_stat_activity WHERE pid = $victim"),
	'client backend', 'killed: the row\'s backend_pid is the standby\'s backend');
kill 'KILL', $victim;
$slow->finish;
ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE begun_id = $begun AND outcome = 'incomplete'"),
	'killed: the primary closed the access as incomplete');
ok($standby->poll_query_until('postgres', "SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7"),
	'killed: the standby is back and its accesses work');

###########################################################################
# 1c. the primary's end of the forwarding connection terminated while a
# standby access is open: the primary closes the access as incomplete, the
# access's late completion is refused (one closing row), and the standby
# stays up (its sweep asks the primary, which has the access closed)
###########################################################################
$since = head_id();
my $started = $standby->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
($sout, $serr) = ('', '');
$slow = IPC::Run::start(
	[ 'psql', '-XAt', '-d', $standby->connstr('postgres'), '-c',
		"SELECT biocrypt.verify(face, $probe, 0.01), pg_sleep(2) FROM people WHERE id = 7" ],
	'>', \$sout, '2>', \$serr);
ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE id > $since AND outcome = 'begun' AND origin IS NOT NULL"),
	'forwarder cut: the access\'s begun row is on the primary');
$begun = $primary->safe_psql('postgres',
	"SELECT id FROM biocrypt.audit_log WHERE id > $since AND outcome = 'begun' AND origin IS NOT NULL");
$primary->safe_psql('postgres', "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	  . "WHERE application_name = 'biocrypt standby audit'");
ok($primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE begun_id = $begun AND outcome = 'incomplete'"),
	'forwarder cut: the primary closed the open access as incomplete');
$slow->finish;
is($sout =~ s/\n\z//r, 't|', 'forwarder cut: the access, on record since its begun row, answered');
sleep 3;	# the standby's sweep runs every second
is($standby->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $started,
	'forwarder cut: the standby did not restart');
is($primary->safe_psql('postgres', "SELECT count(*) FROM biocrypt.audit_log WHERE begun_id = $begun"),
	'1', 'forwarder cut: one closing row (the late completion was refused)');
is($standby->safe_psql('postgres', "SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7"),
	't', 'forwarder cut: the next access reconnects and works');

###########################################################################
# 2. the primary stopped: each access fails at once
###########################################################################
$primary->stop;
my $secret = "'{7.123457,0.271828,0.314159,0.577216}'::real[]";
my $log_start = -s $standby->logfile;
foreach my $case (
	[ 'verify',   "SELECT biocrypt.verify(face, $secret, 0.5) FROM people WHERE id = 7" ],
	[ 'operator', "SELECT id FROM people ORDER BY face <=> $secret LIMIT 3" ],
	[ 'identify', "SELECT * FROM biocrypt.identify('people', 'face', $secret, 3)" ],
	[ 'COPY TO',  'COPY people TO STDOUT' ])
{
	my ($name, $sql) = @$case;
	my $t0 = time;
	($rc, $out, $err) = $standby->psql_verbose('postgres', $sql);
	my $took = time - $t0;
	is($rc . '|' . $out, '3|', "primary down, $name: refused, nothing returned");
	like($err,
		qr/ERROR:  55000: biocrypt: access refused: this server is a standby, and the primary did not record the access\nDETAIL:  A standby's accesses are recorded in the primary's biocrypt.audit_log; delivering this one failed with SQLSTATE 08006\./,
		"primary down, $name: 55000, naming the standby case");
	cmp_ok($took, '<', 2, "primary down, $name: at once (${took}s)");
}
my $log = slurp_file($standby->logfile, $log_start);
unlike($log, qr/7\.123457|0\.271828|0\.314159|0\.577216/, 'primary down: no probe value in the standby\'s log');
unlike($log, qr/STATEMENT:/, 'primary down: no statement in the standby\'s log');
like($log, qr/biocrypt: this standby cannot reach its primary to record accesses: /,
	'primary down: the standby\'s log says why');

$primary->start;
ok($standby->poll_query_until('postgres',
		"SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7"),
	'primary back: the standby\'s accesses work again');

###########################################################################
# 3. a forwarding role that is no member of biocrypt_standby
###########################################################################
$primary->safe_psql('postgres', 'REVOKE biocrypt_standby FROM forwarder');
# the kept connection checks the privilege at each call
($rc, $out, $err) = $standby->psql_verbose('postgres',
	"SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7");
is($rc . '|' . $out, '3|', 'not a member: the standby\'s access is refused');
like($err, qr/primary did not record the access\nDETAIL:  [^\n]*SQLSTATE 42501\./,
	'not a member: the primary\'s 42501 is named');
$primary->safe_psql('postgres', 'GRANT biocrypt_standby TO forwarder');
is($standby->safe_psql('postgres', "SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7"),
	't', 'member again: the access works');
is($primary->safe_psql('postgres', 'SELECT ok FROM biocrypt.verify_audit()'), 't',
	'primary: the chain verifies');

###########################################################################
# 4. a destroyed key, as the standby replays it
###########################################################################
$primary->safe_psql('postgres', q{
	CREATE TABLE shredded (id int PRIMARY KEY, face protected_template);
	INSERT INTO shredded SELECT s, biocrypt.protect(ARRAY[s, 1, 2, 3]::real[], 'shred-' || s,
		now() + interval '200 days') FROM generate_series(1, 30) s;
	CREATE INDEX shredded_gal ON shredded USING biocrypt_gallery (face);
});
$primary->wait_for_catchup($standby);
my $key = $primary->safe_psql('postgres', 'SELECT DISTINCT biocrypt.key_id_of(face) FROM shredded');
is($standby->safe_psql('postgres', "SELECT biocrypt.warm('shredded_gal')"), '30',
	'standby: warm() holds the 30 templates of the key about to be destroyed');
my $list = 'pg_biocrypt/destroyed_keys';
ok(!-e $standby->data_dir . "/$list", 'standby: no destroyed keys yet');
is($primary->safe_psql('postgres', "SELECT biocrypt.destroy_key($key)"), 't',
	"primary: destroy_key($key)");
$primary->wait_for_catchup($standby);
is(-s $standby->data_dir . "/$list", 16, 'standby: its list of destroyed keys has the fingerprint');
is(slurp_file($standby->data_dir . "/$list"), slurp_file($primary->data_dir . "/$list"),
	'standby: the same fingerprint as the primary\'s');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM biocrypt.galleries WHERE index = 'shredded_gal'::regclass AND state = 'warm'"),
	'0', 'standby: the warm form was evicted as replay passed the destruction');
($rc, $out, $err) = $standby->psql_verbose('postgres',
	"SELECT id FROM shredded ORDER BY face <=> '{1,1,2,3}'::real[] LIMIT 1");
like($err, qr/ERROR:  [0-9A-Z]{5}: biocrypt: .*destroyed/, 'standby: a template of the destroyed key is not compared');
$standby->restart;
is(-s $standby->data_dir . "/$list", 16, 'standby: the list survives a restart');

###########################################################################
# 5. promoted, it writes its own audit log
###########################################################################
$primary->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'no promotion';
my $before = $standby->safe_psql('postgres', 'SELECT max(id) FROM biocrypt.audit_log');
is($standby->safe_psql('postgres', "SELECT biocrypt.verify(face, $probe, 0.01) FROM people WHERE id = 7"),
	't', 'promoted: verify works');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE id > $before AND operation = 'verify' "
		  . "AND outcome = 'ok' AND origin IS NULL"),
	'promoted: the access is in its own audit log, with no origin');
is($standby->safe_psql('postgres', 'SELECT ok FROM biocrypt.verify_audit()'), 't',
	'promoted: the chain verifies');
is(-s $standby->data_dir . "/$list", 16, 'promoted: the destroyed key stays listed');

$standby->stop;
done_testing();
