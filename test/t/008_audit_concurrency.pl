# Copyright (c) biocrypt authors
#
# The audit log under concurrent load: pgbench runs 8 clients that mix
# verify(), identify() and protect() (prepared statements, one statement per
# pgbench transaction) for BIOCRYPT_PGBENCH_SECONDS seconds (default 60).
# Every verify() and identify() must leave exactly one begun row, committed
# before its statement decrypted anything, and exactly one completion row
# naming it (identify's committed before the statement returned, verify's
# just after: only a session's last one may still be on its way when
# pgbench exits); every protect() exactly one row, committed before it
# returned.  So right after pgbench exits the begun rows, identify
# completions and protect rows equal the statements run, and once the
# completions have settled the rows written during the run are, per
# operation and in total, exactly those of the statements run, with the
# expected relation, column and counts, each completion paired with its
# begun row; the chain verifies and its ids are gapless, however the worker
# batched the rows of concurrent backends.
# pgbench's own per-script counts are checked against its transaction log
# and, for protect(), against the rows inserted, so each kind is counted
# independently of the audit log.  The statements per second are reported,
# not asserted.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode qw(gallery_scripts pgbench_files pgbench_ok pgbench_log_counts);
use IPC::Run;
use Time::HiRes qw(time);

my $seconds = $ENV{BIOCRYPT_PGBENCH_SECONDS} // 60;
die "BIOCRYPT_PGBENCH_SECONDS must be a positive integer\n"
  unless $seconds =~ /^[1-9]\d*$/;
my $clients = 8;
my $gallery = 50;    # templates in g: what each identify() compares

# log_statement = all (the test default) would log every pgbench statement
my $node = BiocryptNode->new_node('audit_concurrency',
	root_key => '3c4d5e6f708192a3b4c5d6e7f80910213c4d5e6f708192a3b4c5d6e7f8091021',
	purpose  => 'verification',
	conf     => "log_statement = none\n");

$node->safe_psql(
	'postgres', qq{
	CREATE TABLE g (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO g SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'subj-' || i)
	FROM generate_series(1, $gallery) i;
	CREATE TABLE g2 (id int, tpl protected_template NOT NULL);
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# begun rows (of the rows in rel) without a completion yet
sub open_begun
{
	my ($rel) = @_;
	return "SELECT count(*) FROM $rel WHERE r.outcome = 'begun' AND NOT EXISTS "
	  . "(SELECT FROM biocrypt.audit_log c WHERE c.chain_id = r.chain_id AND c.begun_id = r.id)";
}

# -- warm-up: one statement of each kind: a begun row and a completion for
#    verify and identify, one row for protect.  The worker starts on the
#    database's first access; whatever that or the setup above wrote is
#    before the window measured below.  Each statement's first row is
#    queued after the last one's completion: rows in statement order.
my $start = q1('SELECT coalesce(max(id), 0) FROM biocrypt.audit_log');
q1("SELECT biocrypt.verify(tpl, ARRAY[3, 1, 2]::real[], 0.1) FROM g WHERE id = 3");
q1("SELECT count(*) FROM biocrypt.identify('g', 'tpl', ARRAY[3, 1, 2]::real[], 5, NULL, 'l2')");
q1("INSERT INTO g2 VALUES (0, biocrypt.protect(ARRAY[0, 1, 2]::real[], 'c-0'))");
is( q1(
		"SELECT string_agg(operation || ':' || relation::text || ':' || templates_compared || ':' "
		  . "|| outcome || ':' || coalesce(begun_id - $start, 0), ',' ORDER BY id) "
		  . "FROM biocrypt.audit_log WHERE id > $start"),
	"verify:g:0:begun:0,verify:g:1:ok:1,identify:g:0:begun:0,identify:g:$gallery:ok:3,protect:g2:1:ok:0",
	'warm-up: begun and completion rows for verify and identify, one row for protect, in order');

# -- the window: the head of each chain, and g2's size, before the run
q1( 'CREATE TABLE window_start AS SELECT chain_id, max(id) AS last_id '
	  . 'FROM biocrypt.audit_log GROUP BY chain_id');
my $g2_before = q1('SELECT count(*) FROM g2');
# the rows written since, in every chain (a new chain starts at 0)
my $run_sql = "(SELECT a.* FROM biocrypt.audit_log a LEFT JOIN window_start w "
  . "USING (chain_id) WHERE a.id > coalesce(w.last_id, 0))";
my $run_rows = "$run_sql r";

# -- pgbench scripts: one accessing statement each, so a pgbench
#    transaction is one statement; -M prepared passes :vars as parameters
#    and, after five executions, runs the cached generic plan
my $dir = PostgreSQL::Test::Utils::tempdir('pgbench');
my %scripts = (
	gallery_scripts($gallery),
	protect => q{\set id random(1, 1000000000)
\set r random(1, 60)
INSERT INTO g2 VALUES (:id, biocrypt.protect(ARRAY[:r, 1, 2]::real[], 'c-' || :id));
});
my @order   = qw(verify identify protect);
my %weight  = (verify => 5, identify => 2, protect => 3);
my @fileargs = pgbench_files($dir, \%scripts, \@order, \%weight);

# One thread (-j 1) for the 8 clients: pgbench adds up its per-script
# counts without a lock ("XXX could use a mutex here, but we choose not
# to"), so with several threads the summary may lose a few; its log (one
# line per transaction) is exact either way.  -n: no vacuum of pgbench's
# own tables, which do not exist.
my @cmd = $node->pgbench_command(
	clients => $clients,
	jobs    => 1,
	seconds => $seconds,
	dir     => $dir,
	files   => \@fileargs);
note('running: ' . join(' ', @cmd));
my ($stdout, $stderr, $ran, $wall) = ('', '');
{
	# a name of its own, to tell pgbench's sessions from the test's
	local $ENV{PGAPPNAME} = 'biocrypt-pgbench';
	my $t0 = time;
	$ran = IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout($seconds + $PostgreSQL::Test::Utils::timeout_default));
	$wall = time - $t0;
}
# count the rows at once: every begun row, identify completion and
# protect row must have committed before its statement returned; verify
# completions may still be on their way, but only each session's last
# one: a session's next begun row is queued after them and written in the
# same batch or a later one
# (one statement: one snapshot for all the counts)
my $at_exit = q1(
	"SELECT (SELECT count(*) FILTER (WHERE outcome = 'begun' AND operation = 'verify') || ',' || "
	  . "count(*) FILTER (WHERE outcome = 'begun' AND operation = 'identify') || ',' || "
	  . "count(*) FILTER (WHERE outcome <> 'begun' AND operation = 'identify') || ',' || "
	  . "count(*) FILTER (WHERE operation = 'protect') || ',' || "
	  . "count(*) FILTER (WHERE outcome <> 'begun' AND operation = 'verify') FROM $run_rows) "
	  . "|| ',' || (" . open_begun($run_rows)
	  . " AND EXISTS (SELECT FROM biocrypt.audit_log l WHERE l.chain_id = r.chain_id "
	  . "AND l.backend_pid = r.backend_pid AND l.id > r.id)) "
	  . "|| ',' || (" . open_begun($run_rows) . ")");
my $total = pgbench_ok($ran, $stdout, $stderr);

# per-script counts from the summary: "SQL script N: file" is followed by
# its weight and " - M transactions (...)"
my %summary;
while ($stdout =~ m{^SQL script \d+: \S+/(\w+)\.sql\n - weight: \d+ [^\n]*\n - (\d+) transactions}mg)
{
	$summary{$1} = $2;
}
is(join(',', map { exists $summary{$_} ? 'ok' : 'missing' } @order),
	'ok,ok,ok', 'pgbench: a transaction count for each script');

# the same from the per-transaction log
my ($logged, $log_failed) = pgbench_log_counts($dir, \@order);
is($log_failed, 0, 'pgbench log: no failed transaction');
is( join(',', map { $logged->{$_} } @order),
	join(',', map { $summary{$_} // 0 } @order),
	'pgbench log: per-script counts agree with the summary');
my %n = %$logged;
is($n{verify} + $n{identify} + $n{protect}, $total, 'pgbench log: the scripts add up to the total');
ok($n{$_} > 0, "pgbench ran $_") foreach @order;
# each protect() transaction inserted one row
is(q1('SELECT count(*) FROM g2') - $g2_before, $n{protect}, 'protect: one g2 row per transaction');

my ($tps) = $stdout =~ /^tps = ([\d.]+) \(without initial connection time\)$/m;
diag(sprintf(
		"pgbench %d s, %d clients: %d statements (verify %d, identify %d, protect %d), "
		  . "%s statements/s (pgbench), %.0f/s over %.1f s wall clock",
		$seconds, $clients, $total, $n{verify}, $n{identify}, $n{protect},
		$tps // '?', $total / $wall, $wall));

# -- the audit rows of the window at pgbench's exit
my ($vb, $ib, $ic, $pr, $vc, $open_not_last, $open_at_exit) = split /,/, $at_exit;
is( "$vb,$ib,$ic,$pr",
	"$n{verify},$n{identify},$n{identify},$n{protect}",
	'at pgbench exit: a begun row for each verify and identify, a completion for each identify, '
	  . 'a row for each protect');
ok($vc <= $n{verify} && $vc >= $n{verify} - $clients,
	"at pgbench exit: verify completions $vc of $n{verify}, at most one per session missing");
is($open_not_last, '0',
	'at pgbench exit: every begun row but a session\'s last already has its completion');
is($open_at_exit, $n{verify} - $vc, 'at pgbench exit: the open begun rows are those verify completions');

# -- the completions that were on their way arrive; then nothing more
ok($node->poll10(open_begun($run_rows), '0'), 'every begun row gets its completion within 10 s');
my $n_settled = q1("SELECT count(*) FROM $run_rows");
is($n_settled, 2 * $n{verify} + 2 * $n{identify} + $n{protect},
	'audit rows written during the run = 2 per verify and identify, 1 per protect');
is( q1(
		"SELECT string_agg(operation || ':' || outcome || '=' || n, ',' ORDER BY operation, outcome) FROM "
		  . "(SELECT operation, outcome, count(*) n FROM $run_rows GROUP BY 1, 2) c"),
	"identify:begun=$n{identify},identify:ok=$n{identify},protect:ok=$n{protect},"
	  . "verify:begun=$n{verify},verify:ok=$n{verify}",
	'per operation and outcome: as many rows as statements of that kind, and nothing else');
# each completion names a begun row of the window, of its own access: same
# session, operation, relation, column, probe, metric, threshold and k
my $n_cmp = $n{verify} + $n{identify};
is( q1(
		"SELECT count(*), count(DISTINCT c.begun_id), count(b.id), "
		  . "count(*) FILTER (WHERE b.outcome = 'begun' AND b.id < c.id "
		  . "AND b.backend_pid = c.backend_pid AND b.operation = c.operation "
		  . "AND b.relation = c.relation AND b.column_name = c.column_name "
		  . "AND b.probe_hmac = c.probe_hmac AND b.metric = c.metric "
		  . "AND b.threshold IS NOT DISTINCT FROM c.threshold AND b.k IS NOT DISTINCT FROM c.k) "
		  . "FROM $run_sql c LEFT JOIN $run_sql b ON b.chain_id = c.chain_id AND b.id = c.begun_id "
		  . "WHERE c.begun_id IS NOT NULL"),
	"$n_cmp|$n_cmp|$n_cmp|$n_cmp",
	'each completion names a distinct begun row of the run, of the same session, operation, '
	  . 'relation, column, probe, metric, threshold and k, written before it');
# what each row says: verify compares the one row of g it selects,
# identify all of g, protect seals one template into g2; begun rows
# compare nothing yet
is( q1(
		"SELECT string_agg(operation || ':' || rel || ':' || col || ':' || compared || ':' || outcome "
		  . "|| ':' || metric || ':' || k || ':' || completes || ':' || n, ',' ORDER BY operation, outcome) FROM ("
		  . "SELECT operation, coalesce(relation::text, '-') rel, coalesce(column_name::text, '-') col, "
		  . "templates_compared compared, outcome, coalesce(metric, '-') metric, coalesce(k, 0) k, "
		  . "begun_id IS NOT NULL completes, count(*) n "
		  . "FROM $run_rows GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) c"),
	"identify:g:tpl:0:begun:l2:5:false:$n{identify},"
	  . "identify:g:tpl:$gallery:ok:l2:5:true:$n{identify},"
	  . "protect:g2:-:1:ok:-:0:false:$n{protect},"
	  . "verify:g:tpl:0:begun:cosine:0:false:$n{verify},"
	  . "verify:g:tpl:1:ok:cosine:0:true:$n{verify}",
	'rows: relation, column, templates compared, outcome, metric, k and begun_id as expected');
is( q1(
		"SELECT count(DISTINCT backend_pid), bool_and(application_name = 'biocrypt-pgbench'), "
		  . "bool_and(probe_hmac IS NOT NULL) FILTER (WHERE operation <> 'protect') FROM $run_rows"),
	"$clients|t|t",
	"rows come from the $clients pgbench sessions, with a probe hash for each comparison");

# -- the chain: consecutive ids over the window, every chain gapless and
#    verifying
is( q1(
		"SELECT count(*) = max(r.id) - min(r.id) + 1 AND min(r.id) = w.last_id + 1 FROM $run_rows "
		  . "JOIN window_start w USING (chain_id) GROUP BY w.last_id"),
	't',
	'window: ids continue the chain, consecutive');
is( q1(
		"SELECT count(*), bool_and(lo = 1 AND hi - lo + 1 = n) FROM (SELECT min(id) lo, "
		  . "max(id) hi, count(*) n FROM biocrypt.audit_log GROUP BY chain_id) c"),
	'1|t',
	'one chain, its ids gapless from 1 (max - min + 1 = count)');
is( q1(
		"SELECT v.ok, v.rows_checked = (SELECT count(*) FROM biocrypt.audit_log), "
		  . "v.first_bad_id IS NULL FROM biocrypt.verify_audit() v"),
	't|t|t',
	'verify_audit(): ok, every row checked, no bad id');

# -- protect's transactions committed: the worker fills in their outcome;
#    verify and identify ran read-only, without an xid
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 0 FROM $run_rows WHERE xact_outcome = 'in progress'"),
	'every transaction outcome filled in');
is( q1(
		"SELECT string_agg(operation || ':' || coalesce(xact_outcome, 'null') || ':' || n, ',' "
		  . "ORDER BY operation) FROM (SELECT operation, xact_outcome, count(*) n "
		  . "FROM $run_rows GROUP BY 1, 2) c"),
	"identify:null:" . 2 * $n{identify} . ",protect:committed:$n{protect},verify:null:" . 2 * $n{verify},
	'protect rows committed; verify and identify rows, begun and completion, without a transaction');

# nothing more was recorded (no incomplete or error completion, no second
# one), and filling in outcomes kept the chain valid
sleep(2);
is(q1("SELECT count(*) FROM $run_rows"), $n_settled, 'no audit row arrived after the completions settled');
is(q1('SELECT ok FROM biocrypt.verify_audit()'), 't', 'verify_audit() still ok at the end');

$node->stop;

done_testing();
