# Copyright (c) biocrypt authors
#
# Evidence before disclosure: an access that decrypts (or exports) has its
# "begun" row committed before the first value derived from a template can
# leave the server, whatever way it leaves, and the access ends with
# exactly one completion row naming it, however the session ends:
#
#  - a NOTICE carrying a distance: the begun row is committed by the time
#    the NOTICE reaches the client; a scalar subquery's access is complete
#    (ok) before the NOTICE is raised; a cursor's access is still open,
#    and terminating the backend then completes it as error 57P01;
#  - a backend terminated while idle in a transaction with an open cursor
#    that already fetched: its completion is written (error 57P01, the
#    rows fetched counted), with no incomplete row after it;
#  - COPY (query) TO STDOUT, both a comparison and an export of the
#    template column, whose client is killed (kill -9) while the backend
#    is blocked sending: the begun row was there before the first row
#    reached the client, and the completion is error 08006 (connection
#    lost), with the rows decrypted so far (a failed export counts 0
#    rows, as docs/compliance.md says);
#  - a backend killed with SIGKILL while it holds an open cursor that
#    already fetched, so that the postmaster restarts everything: the begun
#    row, committed before FETCH returned, survives the crash (clients
#    commit asynchronously, the audit worker synchronously), and the first
#    audit worker after the restart closes it as incomplete.
#
# Each begun row has exactly one completion at the end, the chain verifies
# with no bad range and its ids are gapless.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode qw($UNPAIRED_SQL $GAPLESS_SQL);
use IPC::Run;

# Clients commit asynchronously and the WAL writer is slow: a begun row
# survives a crash only because the worker itself commits synchronously.
my $node = BiocryptNode->new_node('evidence',
	root_key => '5e4d3c2b1a09f8e75e4d3c2b1a09f8e75e4d3c2b1a09f8e75e4d3c2b1a09f8e7',
	purpose  => 'verification',
	conf     => "restart_after_crash = on\n"
	  . "synchronous_commit = off\n"
	  . "wal_writer_delay = '10s'\n");

my $big_rows = 20000;
$node->safe_psql(
	'postgres', qq{
	CREATE TABLE t (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO t SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 't-' || i)
	FROM generate_series(1, 100) i;
	CREATE TABLE big (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO big SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'b-' || i)
	FROM generate_series(1, $big_rows) i;
	CHECKPOINT;
});

my $PROBE = q{'{3,1,2}'::real[]};

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# The rows after id since of backend pid, in order, as
# "operation:relation:outcome:templates_compared:sqlstate:of", where "of"
# is "begun" for a completion naming that backend's begun row, "-" for none.
sub access_rows
{
	my ($pid, $since) = @_;
	return q1(
		"SELECT string_agg(a.operation || ':' || coalesce(a.relation::text, '-') || ':' "
		  . "|| a.outcome || ':' || a.templates_compared || ':' || coalesce(a.sqlstate, '-') || ':' "
		  . "|| CASE WHEN a.begun_id IS NULL THEN '-' WHEN b.id IS NOT NULL THEN 'begun' ELSE 'other' END, "
		  . "',' ORDER BY a.id) FROM biocrypt.audit_log a LEFT JOIN biocrypt.audit_log b "
		  . "ON b.chain_id = a.chain_id AND b.id = a.begun_id AND b.outcome = 'begun' "
		  . "AND b.backend_pid = $pid AND b.id > $since "
		  . "WHERE a.backend_pid = $pid AND a.id > $since");
}

# The last id of the log (0 when empty).
sub last_id { return q1('SELECT coalesce(max(id), 0) FROM biocrypt.audit_log'); }

# Wait until backend pid has gone, then past the worker's check for
# accesses whose backend died (each second): an incomplete row would be
# there by then.
sub wait_gone
{
	my ($pid) = @_;
	my $gone = $node->poll10("SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", '0');
	sleep(3);
	return $gone;
}

# ok, every row checked, no bad id, no bad range
my $verify = "SELECT v.ok, v.rows_checked = (SELECT count(*) FROM biocrypt.audit_log), "
  . "v.first_bad_id IS NULL, v.bad_ranges::text FROM biocrypt.verify_audit() v";

# Send SQL to a background session without waiting for its end, and read
# its stderr until it matches.
sub send_until_stderr
{
	my ($session, $sql, $re) = @_;
	$session->{stdin} .= "$sql\n";
	pump_until($session->{run}, $session->{timeout}, \$session->{stderr}, $re);
	return $session->{stderr};
}

# A background session, and its backend's pid.
sub session
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	return ($s, $s->query_safe('SELECT pg_backend_pid()'));
}

# The worker is running before the first measured access.
q1("SELECT count(*) FROM t WHERE tpl <-> $PROBE < 0");

# -- c1. a NOTICE with a distance from a scalar subquery: the access is
#    complete (its executor ended) before the NOTICE is raised
my $since = last_id();
my ($s, $pid) = session();
like(
	send_until_stderr(
		$s,
		"DO \$\$ BEGIN RAISE NOTICE 'distance %', (SELECT tpl <-> $PROBE FROM t WHERE id = 1); "
		  . "PERFORM pg_sleep(60); END \$\$;",
		qr/NOTICE:  distance [0-9.e+-]+\n/),
	qr/NOTICE:  distance 2\n/,
	'notice (subquery): the distance reached the client');
like(
	access_rows($pid, $since),
	qr/^compare:t:begun:0:-:-(,compare:t:ok:1:-:begun)?$/,
	'notice (subquery): its begun row was committed by the time the NOTICE arrived');
ok( $node->poll10(
		"SELECT count(*) FROM biocrypt.audit_log WHERE backend_pid = $pid AND id > $since "
		  . "AND outcome = 'ok'", '1'),
	'notice (subquery): the completion follows while the statement still runs');
is(q1("SELECT pg_terminate_backend($pid)"), 't', 'notice (subquery): backend terminated');
ok(wait_gone($pid), 'notice (subquery): backend gone');
is( access_rows($pid, $since),
	'compare:t:begun:0:-:-,compare:t:ok:1:-:begun',
	'notice (subquery): exactly one completion, ok: terminating the statement later adds nothing');
eval { $s->quit; };

# -- c2. a NOTICE with a distance fetched from a cursor: the access is
#    still open when the distance reaches the client; terminating the
#    backend then completes it as an error
$since = last_id();
($s, $pid) = session();
like(
	send_until_stderr(
		$s,
		"DO \$\$ DECLARE c refcursor; d float8; BEGIN "
		  . "OPEN c FOR SELECT tpl <-> $PROBE FROM t ORDER BY id; FETCH c INTO d; "
		  . "RAISE NOTICE 'distance %', d; PERFORM pg_sleep(60); END \$\$;",
		qr/NOTICE:  distance [0-9.e+-]+\n/),
	qr/NOTICE:  distance 2\n/,
	'notice (cursor): the distance reached the client');
is(access_rows($pid, $since), 'compare:t:begun:0:-:-',
	'notice (cursor): its begun row was committed by the time the NOTICE arrived; the access is open');
is(q1("SELECT pg_terminate_backend($pid)"), 't', 'notice (cursor): backend terminated');
ok(wait_gone($pid), 'notice (cursor): backend gone');
is( access_rows($pid, $since),
	'compare:t:begun:0:-:-,compare:t:error:1:57P01:begun',
	'notice (cursor): exactly one completion, error 57P01, the one template decrypted counted');
eval { $s->quit; };

# -- d. terminated while idle in a transaction with an open cursor that
#    already fetched: the abort records the completion before the backend
#    leaves, so the worker never needs to close it as incomplete
$since = last_id();
($s, $pid) = session();
$s->query_safe('BEGIN');
$s->query_safe("DECLARE c CURSOR FOR SELECT tpl <-> $PROBE FROM t ORDER BY id");
is($s->query_safe('FETCH 5 FROM c'), "2\n1\n0\n1\n2", 'idle cursor: FETCH 5 returned five distances');
is(access_rows($pid, $since), 'compare:t:begun:0:-:-',
	'idle cursor: the begun row was committed before FETCH returned; the access is open');
is( q1("SELECT state FROM pg_stat_activity WHERE pid = $pid"),
	'idle in transaction', 'idle cursor: the session is idle in transaction');
is(q1("SELECT pg_terminate_backend($pid)"), 't', 'idle cursor: backend terminated');
ok(wait_gone($pid), 'idle cursor: backend gone');
is( access_rows($pid, $since),
	'compare:t:begun:0:-:-,compare:t:error:5:57P01:begun',
	'idle cursor: exactly one completion, error 57P01, the five templates fetched counted');
eval { $s->quit; };
is(q1($UNPAIRED_SQL), '0|0', 'so far every begun row has exactly one completion');

# -- b. COPY (query) TO STDOUT to a client killed mid-stream
foreach my $case (
	[ 'compare', "COPY (SELECT id, tpl <=> $PROBE, repeat('x', 200) FROM big) TO STDOUT" ],
	[ 'export',  "COPY (SELECT id, tpl, repeat('x', 200) FROM big) TO STDOUT" ])
{
	my ($op, $copy) = @$case;
	my $app = "evidence-copy-$op";
	$since = last_id();
	my ($out, $err) = ('', '');
	my $timer = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	my $h;
	{
		local $ENV{PGAPPNAME} = $app;
		$h = IPC::Run::start(
			[
				'psql', '-X', '-h', $node->host, '-p', $node->port,
				'-d', 'postgres', '-c', $copy
			],
			'>', \$out, '2>', \$err, $timer);
	}
	# read until the first rows arrive, then read no more: psql blocks on
	# its stdout, and the backend on sending
	$h->pump until length($out) > 0 || $timer->is_expired;
	like($out, qr/^1\t/, "copy ($op): the first rows reached the client");
	my $cpid = q1("SELECT pid FROM pg_stat_activity WHERE application_name = '$app'");
	like($cpid, qr/^\d+$/, "copy ($op): its backend");
	is(access_rows($cpid, $since), "$op:big:begun:0:-:-",
		"copy ($op): the begun row was committed before the first row left; no completion yet");
	ok( $node->poll10(
			"SELECT state || ':' || wait_event FROM pg_stat_activity WHERE pid = $cpid",
			'active:ClientWrite'),
		"copy ($op): the backend is blocked sending rows");
	$h->signal('KILL');
	eval { $h->finish; };
	ok(wait_gone($cpid), "copy ($op): the client killed, its backend gone");
	my $rows = access_rows($cpid, $since);
	like(
		$rows,
		qr/^$op:big:begun:0:-:-,$op:big:error:\d+:08006:begun$/,
		"copy ($op): exactly one completion, error 08006 (connection lost)");
	# the completion counts the rows decrypted (compare) or copied
	# (export) before the client went away: at least those it received,
	# not all
	my ($n) = $rows =~ /error:(\d+):/;
	$n //= -1;
	my $received = () = $out =~ /^\d+\t[^\n]*\n/mg;
	# a failed export counts 0 rows, however many it had sent (docs/compliance.md:
	# only the executor's end counts the rows copied); its begun row shows it started
	if ($op eq 'export')
	{
		is($n, 0, "copy ($op): a failed export counts 0 rows (the client received $received)");
	}
	else
	{
		ok($n >= $received && $n < $big_rows,
			"copy ($op): the completion counts $n rows, the client received $received of $big_rows");
	}
}
is(q1($UNPAIRED_SQL), '0|0', 'before the crash every begun row has exactly one completion');
is(q1($verify), 't|t|t|[]', 'before the crash: verify_audit() ok, no bad range');

# -- a. kill -9 of a backend holding an open cursor that already fetched
$since = last_id();
($s, $pid) = session();
$s->query_safe('BEGIN');
$s->query_safe("DECLARE c CURSOR FOR SELECT tpl <-> $PROBE FROM t ORDER BY id");
is($s->query_safe('FETCH 5 FROM c'), "2\n1\n0\n1\n2", 'crash: FETCH 5 returned five distances');
is(access_rows($pid, $since), 'compare:t:begun:0:-:-',
	'crash: the begun row was committed before FETCH returned');
my $begun = q1("SELECT id FROM biocrypt.audit_log WHERE backend_pid = $pid AND id > $since");
my $log_offset = $node->kill_backend($pid, 'crash');
eval { $s->quit; };
is(access_rows($pid, $since), 'compare:t:begun:0:-:-',
	'crash: the begun row survived the crash, still without a completion');
# the first access after the restart starts the database's audit worker,
# which first closes what the crash left open
is(q1("SELECT count(*) FROM t WHERE tpl <-> $PROBE < 0.5"),
	'1', 'crash: a new access works after the restart');
ok( $node->poll10(
		"SELECT count(*) FROM biocrypt.audit_log WHERE begun_id = $begun", '1'),
	'crash: a completion names the begun row');
is( access_rows($pid, $since),
	'compare:t:begun:0:-:-,compare:t:incomplete:0:-:begun',
	'crash: exactly one completion, incomplete, with no counts');
is( q1(
		"SELECT i.started_at = b.started_at, i.ended_at > b.ended_at, "
		  . "i.session_role = b.session_role, i.application_name = b.application_name, "
		  . "i.relation = b.relation, i.column_name = b.column_name, i.metric = b.metric, "
		  . "i.probe_hmac = b.probe_hmac, i.matches IS NULL "
		  . "FROM biocrypt.audit_log i JOIN biocrypt.audit_log b ON b.id = i.begun_id "
		  . "WHERE i.begun_id = $begun"),
	't|t|t|t|t|t|t|t|t',
	'crash: the incomplete row repeats the begun row\'s who and what, ended after it');
like(
	slurp_file($node->logfile, $log_offset),
	qr/LOG:  biocrypt: recorded 1 access interrupted by a server stop as incomplete/,
	'crash: the worker logged the one access it closed');
ok($node->poll10($UNPAIRED_SQL, '0|0'), 'at the end every begun row has exactly one completion');
is(q1($verify), 't|t|t|[]', 'at the end: verify_audit() ok, every row checked, no bad range');
is(q1($GAPLESS_SQL), 't', 'at the end: ids gapless');

$node->stop;

done_testing();
