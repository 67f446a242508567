# Copyright (c) biocrypt authors
#
# identify() under concurrency: it reads the gallery with the calling
# statement's snapshot, like any query.  Another session's uncommitted
# insert, delete or update is invisible until it commits; a REPEATABLE READ
# transaction keeps seeing its snapshot; a long identify() sees the rows of
# its start even when others commit meanwhile.  Ending a backend in the
# middle of a long identify() -- pg_terminate_backend, then a real kill -9
# (which makes the postmaster restart every backend) -- leaves the server
# working: other sessions keep their results, committed data survives,
# uncommitted data does not, and templates still decrypt.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $node = BiocryptNode->new_node('identify_concurrency',
	root_key => '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
	purpose  => 'verification',
	conf     => "restart_after_crash = on\n");

$node->safe_psql(
	'postgres', q{
	SELECT setseed(0.25);
	CREATE TABLE g (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO g
	SELECT i, biocrypt.protect((SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 64) WHERE i > 0),
	                           's-' || lpad(i::text, 4, '0'))
	FROM generate_series(1, 300) i;
	-- a gallery view that sleeps 10 ms per row (about 3 s for 300 rows)
	CREATE FUNCTION slow_pass(int) RETURNS boolean LANGUAGE plpgsql VOLATILE AS
	  $$ BEGIN PERFORM pg_sleep(0.01); RETURN true; END $$;
	CREATE VIEW g_slow AS SELECT tpl FROM g WHERE slow_pass(id);
	-- a gallery view of 30 million rows: identify() runs for many seconds
	CREATE VIEW g_huge AS SELECT g.tpl FROM g CROSS JOIN generate_series(1, 100000) n;
});

my $PROBE = q{array_fill(0.25::real, '{64}')};

# identify()'s top 5 as "subject=distance,..."
sub ident
{
	my ($gallery) = @_;
	$gallery //= 'g';
	return
	  "SELECT string_agg(subject || '=' || distance, ',' ORDER BY n) "
	  . "FROM biocrypt.identify('$gallery', 'tpl', $PROBE, 5, NULL, 'l2') WITH ORDINALITY r(subject, distance, n)";
}
# the same through the planner
my $planned =
    "SELECT string_agg(s || '=' || d, ',' ORDER BY d, s COLLATE \"C\") FROM "
  . "(SELECT biocrypt.subject_of(tpl) AS s, tpl <-> $PROBE AS d FROM g "
  . "ORDER BY tpl <-> $PROBE, biocrypt.subject_of(tpl) COLLATE \"C\" LIMIT 5) x";
my $ident = ident();

my $base = $node->safe_psql('postgres', $ident);
like($base, qr/^(s-\d{4}=[0-9.e-]+,){4}s-\d{4}=[0-9.e-]+$/, 'baseline: five subjects');
is($node->safe_psql('postgres', $planned), $base, 'baseline: identify() = planner');

# Read a background session's stderr until it matches (psql may have
# exited: its connection was ended).
sub stderr_until
{
	my ($session, $re) = @_;
	pump_until($session->{run}, $session->{timeout}, \$session->{stderr}, $re);
	return $session->{stderr};
}

# a row equal to the probe ranks first, at distance 0
sub tpl_at_probe { return "biocrypt.protect($PROBE, '$_[0]')"; }

# -- another session's uncommitted insert, delete and update
my $a = $node->background_psql('postgres');
$a->query_safe("BEGIN; INSERT INTO g VALUES (1001, " . tpl_at_probe('x-inserted') . ")");
is($node->safe_psql('postgres', $ident), $base, 'uncommitted insert: invisible to other sessions');
my $own = $a->query_safe($ident);
like($own, qr/^x-inserted=0,/, 'uncommitted insert: the inserting transaction ranks it first');
is($a->query_safe($planned), $own, 'inside that transaction: identify() = planner');
$a->query_safe("COMMIT");
my $after_insert = $node->safe_psql('postgres', $ident);
like($after_insert, qr/^x-inserted=0,/, 'insert committed: visible to other sessions');

$a->query_safe("BEGIN; DELETE FROM g WHERE id = 1001");
is($node->safe_psql('postgres', $ident), $after_insert, 'uncommitted delete: the row is still found by others');
is($a->query_safe($ident), $base, 'uncommitted delete: the deleting transaction no longer finds it');
$a->query_safe("ROLLBACK");
is($node->safe_psql('postgres', $ident), $after_insert, 'delete rolled back: the row is still there');

$a->query_safe("BEGIN; UPDATE g SET tpl = " . tpl_at_probe('x-updated') . " WHERE id = 1001");
is($node->safe_psql('postgres', $ident), $after_insert, 'uncommitted update: others see the old version');
like($a->query_safe($ident), qr/^x-updated=0,(s-\d{4}=[^,]+,){3}s-\d{4}=[^,]+$/,
	'uncommitted update: the updating transaction sees only the new version');
$a->query_safe("COMMIT");
my $after_update = $node->safe_psql('postgres', $ident);
like($after_update, qr/^x-updated=0,/, 'update committed: others see the new version');
unlike($after_update, qr/x-inserted/, 'update committed: the old version is gone');

# -- REPEATABLE READ keeps the transaction's snapshot; READ COMMITTED takes
#    a new one per statement
my $b = $node->background_psql('postgres');
$b->query_safe("BEGIN ISOLATION LEVEL REPEATABLE READ");
my $rr = $b->query_safe($ident);
is($rr, $after_update, 'repeatable read: first identify()');
$node->safe_psql('postgres',
	"DELETE FROM g WHERE id = 1001; INSERT INTO g VALUES (1002, " . tpl_at_probe('x-late') . ")");
my $now = $node->safe_psql('postgres', $ident);
like($now, qr/^x-late=0,/, 'a new row committed meanwhile');
is($b->query_safe($ident), $rr, 'repeatable read: identify() still sees the transaction snapshot');
is($b->query_safe($planned), $rr, 'repeatable read: so does the planner');
$b->query_safe("COMMIT");
is($b->query_safe($ident), $now, 'after commit: the latest rows');

$b->query_safe("BEGIN ISOLATION LEVEL READ COMMITTED");
is($b->query_safe($ident), $now, 'read committed: first identify()');
$node->safe_psql('postgres', "UPDATE g SET tpl = " . tpl_at_probe('x-later') . " WHERE id = 1002");
my $now2 = $b->query_safe($ident);
like($now2, qr/^x-later=0,/, 'read committed: the next statement sees the commit');
$b->query_safe("COMMIT");

$a->quit;
$b->quit;

# -- one long identify() keeps the snapshot of its start
my $c = $node->background_psql('postgres');
# (its text is withheld from pg_stat_activity: it is found by its
# application_name)
$c->query_safe("SET application_name = 'slow_scan'");
$c->query_until(qr/slow scan started/,
	"\\echo slow scan started\n" . ident('g_slow') . ";\n\\echo slow scan done\n");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'slow_scan' "
		  . "AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()"),
	'slow identify() is scanning');
is( $node->safe_psql(
		'postgres', "SELECT query FROM pg_stat_activity WHERE application_name = 'slow_scan'"),
	'<biocrypt: statement text withheld>',
	'pg_stat_activity: the running identify() shows no probe');
$node->safe_psql('postgres',
	"DELETE FROM g WHERE id = 1002; INSERT INTO g VALUES (1003, " . tpl_at_probe('x-during') . ")");
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'slow_scan' "
		  . "AND state = 'active' AND pid <> pg_backend_pid()"),
	'1',
	'slow identify() still running after the delete and insert committed');
my $slow = $c->query_until(qr/slow scan done/, '');
$slow =~ s/\n?slow scan done\n?//;
is($slow, $now2, 'slow identify(): the rows as of its start, not those committed meanwhile');
my $after_slow = $node->safe_psql('postgres', $ident);
like($after_slow, qr/^x-during=0,/, 'the next identify() sees the new row');
is( $node->safe_psql(
		'postgres', "SELECT state || ': ' || query FROM pg_stat_activity WHERE application_name = 'slow_scan'"),
	'idle: <biocrypt: statement text withheld>',
	'pg_stat_activity: nor does the idle session after it');
$c->query_safe("SELECT 'next statement'");
like( $node->safe_psql(
		'postgres', "SELECT query FROM pg_stat_activity WHERE application_name = 'slow_scan'"),
	qr/^SELECT 'next statement'\s*;?$/,
	'pg_stat_activity: the next statement shows its own text');
unlike($after_slow, qr/x-later/, 'and not the deleted one');
$c->quit;

# -- pg_terminate_backend() in the middle of a long identify()
my $d = $node->background_psql('postgres');
$d->query_safe("BEGIN");
my $d_before = $d->query_safe($ident);
is($d_before, $after_slow, 'bystander session: identify() before the termination');

my $e = $node->background_psql('postgres', on_error_stop => 0);
$e->query_safe("SET application_name = 'huge_scan'");
$e->query_until(qr/long scan started/,
	"\\echo long scan started\n"
	  . "SELECT count(*) FROM biocrypt.identify('g_huge', 'tpl', $PROBE, 5, NULL, 'l2');\n");
my $active_huge =
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'huge_scan' "
  . "AND state = 'active' AND pid <> pg_backend_pid()";
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($active_huge) a"),
	'long identify() is running');
my $epid = $node->safe_psql('postgres', $active_huge);
# let it get well into the scan
sleep(1);
is($node->safe_psql('postgres', "SELECT count(*) FROM ($active_huge) a"),
	'1', 'long identify() still running after a second');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($epid)"),
	't', 'pg_terminate_backend() of the long identify()');
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $epid"),
	'terminated backend is gone');
like(stderr_until($e, qr/terminating connection due to administrator command/),
	qr/FATAL:  terminating connection due to administrator command/,
	'the terminated session was told why');
# psql exits when its connection is ended: \q may meet a closed pipe
eval { $e->quit; };
is($d->query_safe($ident), $d_before, 'bystander session: same identify() in its transaction');
is($d->query_safe($planned), $d_before, 'bystander session: planner agrees');
$d->query_safe("COMMIT");
$d->quit;
is($node->safe_psql('postgres', $ident), $after_slow, 'new session after the termination: same results');
is($node->safe_psql('postgres', $planned), $after_slow, 'new session after the termination: planner agrees');

# -- kill -9 of a backend in the middle of a long identify(): the postmaster
#    restarts all backends; committed rows survive, uncommitted ones do not
my $h = $node->background_psql('postgres', on_error_stop => 0);
$h->query_safe("BEGIN; INSERT INTO g VALUES (1004, " . tpl_at_probe('x-uncommitted') . ")");
like($h->query_safe($ident), qr/^x-during=0,x-uncommitted=0,/,
	'uncommitted insert before the crash: seen by its own transaction');

my $f = $node->background_psql('postgres', on_error_stop => 0);
$f->query_safe("SET application_name = 'huge_scan'");
$f->query_until(qr/long scan started/,
	"\\echo long scan started\n"
	  . "SELECT count(*) FROM biocrypt.identify('g_huge', 'tpl', $PROBE, 5, NULL, 'l2');\n");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($active_huge) a"),
	'second long identify() is running');
my $fpid = $node->safe_psql('postgres', $active_huge);
sleep(1);
my $log_offset = -s $node->logfile;
is(kill('KILL', $fpid), 1, 'kill -9 of the backend running identify()');
ok($node->poll_query_until('postgres', 'SELECT 1', '1'), 'server accepts connections again');
my $log = slurp_file($node->logfile, $log_offset);
like($log, qr/server process \(PID $fpid\) was terminated by signal 9/,
	'postmaster saw the killed backend');
like($log, qr/all server processes terminated; reinitializing/, 'postmaster reinitialized');
like(stderr_until($f, qr/server closed the connection unexpectedly/),
	qr/server closed the connection unexpectedly/,
	'the killed session lost its connection');
eval { $f->quit; };
eval { $h->quit; };

is($node->safe_psql('postgres', $ident), $after_slow,
	'after the crash: identify() finds the committed rows, not the uncommitted one');
is($node->safe_psql('postgres', $planned), $after_slow, 'after the crash: planner agrees');
is($node->safe_psql('postgres', 'SELECT count(*) FROM g'), '301', 'after the crash: 301 templates');
# still decrypting and sealing: a new template under the probe, then reveal
is( $node->safe_psql(
		'postgres', qq{
		INSERT INTO g VALUES (1005, biocrypt.protect(array_fill(0.5::real, '{64}'), 'x-after'));
		SET biocrypt.allow_reveal = on;
		SELECT biocrypt.reveal(tpl) = array_fill(0.5::real, '{64}') FROM g WHERE id = 1005}),
	't',
	'after the crash: templates seal and reveal');
like(
	$node->safe_psql(
		'postgres',
		"SELECT string_agg(subject || '=' || distance, ',' ORDER BY n) FROM biocrypt.identify('g', 'tpl', "
		  . "array_fill(0.5::real, '{64}'), 2, NULL, 'cosine') WITH ORDINALITY r(subject, distance, n)"),
	qr/^(x-after=0,x-during=0|x-during=0,x-after=0)$/,
	'after the crash: identify() ranks the parallel templates first');

$node->stop;

done_testing();
