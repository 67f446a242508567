# Copyright (c) biocrypt authors
#
# The audit log under concurrent load: pgbench runs 8 clients that mix
# verify(), identify() and protect() (prepared statements, one statement per
# pgbench transaction) for BIOCRYPT_PGBENCH_SECONDS seconds (default 60).
# Every one of those statements must leave exactly one audit row, committed
# before the statement returned: right after pgbench exits, the rows written
# during the run equal the statements run, per operation and in total, with
# the expected relation, column and counts; the chain verifies and its ids
# are gapless, however the worker batched the rows of concurrent backends.
# pgbench's own per-script counts are checked against its transaction log
# and, for protect(), against the rows inserted, so each kind is counted
# independently of the audit log.  The statements per second are reported,
# not asserted.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);

my $seconds = $ENV{BIOCRYPT_PGBENCH_SECONDS} // 60;
die "BIOCRYPT_PGBENCH_SECONDS must be a positive integer\n"
  unless $seconds =~ /^[1-9]\d*$/;
my $clients = 8;
my $gallery = 50;    # templates in g: what each identify() compares

my $node = PostgreSQL::Test::Cluster->new('audit_concurrency');
$node->init;
# log_statement = all (the test default) would log every pgbench statement
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'biocrypt'\n"
	  . "biocrypt.root_key_command = 'echo 3c4d5e6f708192a3b4c5d6e7f80910213c4d5e6f708192a3b4c5d6e7f8091021'\n"
	  . "biocrypt.purpose = 'verification'\n"
	  . "log_statement = none\n");
$node->start;

$node->safe_psql(
	'postgres', qq{
	CREATE EXTENSION biocrypt;
	CREATE TABLE g (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO g SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'subj-' || i)
	FROM generate_series(1, $gallery) i;
	CREATE TABLE g2 (id int, tpl protected_template NOT NULL);
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# -- warm-up: one statement of each kind, one row each.  The worker starts
#    on the database's first access; whatever that or the setup above
#    wrote is before the window measured below.
my $start = q1('SELECT coalesce(max(id), 0) FROM biocrypt.audit_log');
q1("SELECT biocrypt.verify(tpl, ARRAY[3, 1, 2]::real[], 0.1) FROM g WHERE id = 3");
q1("SELECT count(*) FROM biocrypt.identify('g', 'tpl', ARRAY[3, 1, 2]::real[], 5, NULL, 'l2')");
q1("INSERT INTO g2 VALUES (0, biocrypt.protect(ARRAY[0, 1, 2]::real[], 'c-0'))");
is( q1(
		"SELECT string_agg(operation || ':' || relation::text || ':' || templates_compared, ',' ORDER BY id) "
		  . "FROM biocrypt.audit_log WHERE id > $start"),
	"verify:g:1,identify:g:$gallery,protect:g2:1",
	'warm-up: one row per statement, in order');

# -- the window: the head of each chain, and g2's size, before the run
q1( 'CREATE TABLE window_start AS SELECT chain_id, max(id) AS last_id '
	  . 'FROM biocrypt.audit_log GROUP BY chain_id');
my $g2_before = q1('SELECT count(*) FROM g2');
# the rows written since, in every chain (a new chain starts at 0)
my $run_rows = "(SELECT a.* FROM biocrypt.audit_log a LEFT JOIN window_start w "
  . "USING (chain_id) WHERE a.id > coalesce(w.last_id, 0)) r";

# -- pgbench scripts: one accessing statement each, so a pgbench
#    transaction is one statement; -M prepared passes :vars as parameters
#    and, after five executions, runs the cached generic plan
my $dir = PostgreSQL::Test::Utils::tempdir('pgbench');
my %scripts = (
	verify => qq{\\set id random(1, $gallery)
\\set r random(1, 60)
SELECT biocrypt.verify(tpl, ARRAY[:r, 1, 2]::real[], 0.1) FROM g WHERE id = :id;
},
	identify => q{\set r random(1, 60)
SELECT count(*) FROM biocrypt.identify('g', 'tpl', ARRAY[:r, 1, 2]::real[], 5, NULL, 'l2');
},
	protect => q{\set id random(1, 1000000000)
\set r random(1, 60)
INSERT INTO g2 VALUES (:id, biocrypt.protect(ARRAY[:r, 1, 2]::real[], 'c-' || :id));
});
# pgbench numbers the scripts in the order given, from 0 in its log
my @order   = qw(verify identify protect);
my %weight  = (verify => 5, identify => 2, protect => 3);
my @fileargs;
foreach my $kind (@order)
{
	my $file = "$dir/$kind.sql";
	open my $fh, '>', $file or die "could not write $file: $!";
	print $fh $scripts{$kind};
	close $fh;
	push @fileargs, '-f', "$file\@$weight{$kind}";
}

# One thread (-j 1) for the 8 clients: pgbench adds up its per-script
# counts without a lock ("XXX could use a mutex here, but we choose not
# to"), so with several threads the summary may lose a few; its log (one
# line per transaction) is exact either way.  -n: no vacuum of pgbench's
# own tables, which do not exist.
my @cmd = (
	'pgbench', '-n', '-M', 'prepared',
	'-c', $clients, '-j', 1, '-T', $seconds,
	'--log', "--log-prefix=$dir/txlog",
	@fileargs,
	'-h', $node->host, '-p', $node->port, 'postgres');
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
# count the rows at once: each must have committed before its statement
# returned, so none may arrive after pgbench is done
my $n_rows_at_exit = q1("SELECT count(*) FROM $run_rows");
note("pgbench stdout:\n$stdout");
note("pgbench stderr:\n$stderr") if $stderr ne '';

ok($ran, 'pgbench exited with status 0');
unlike($stderr, qr/aborted|error/i, 'pgbench: no client aborted, no error');
like($stdout, qr/^number of failed transactions: 0 \(0\.000%\)$/m,
	'pgbench: 0 failed transactions');
my ($total) = $stdout =~ /^number of transactions actually processed: (\d+)$/m;
ok(defined $total && $total > 0, 'pgbench: transactions processed');
$total //= 0;

# per-script counts from the summary: "SQL script N: file" is followed by
# its weight and " - M transactions (...)"
my %summary;
while ($stdout =~ m{^SQL script \d+: \S+/(\w+)\.sql\n - weight: \d+ [^\n]*\n - (\d+) transactions}mg)
{
	$summary{$1} = $2;
}
is(join(',', map { exists $summary{$_} ? 'ok' : 'missing' } @order),
	'ok,ok,ok', 'pgbench: a transaction count for each script');

# the same from the per-transaction log: "client tx time script_no ...";
# a failed transaction would show "failed" (or the kind) for its time
my (%logged, $log_failed);
$log_failed = 0;
foreach my $file (glob("$dir/txlog.*"))
{
	open my $fh, '<', $file or die "could not read $file: $!";
	while (my $line = <$fh>)
	{
		my @f = split ' ', $line;
		if ($f[2] !~ /^\d+$/)
		{
			$log_failed++;
			next;
		}
		$logged{ $order[ $f[3] ] }++;
	}
	close $fh;
}
is($log_failed, 0, 'pgbench log: no failed transaction');
is( join(',', map { $logged{$_} // 0 } @order),
	join(',', map { $summary{$_} // 0 } @order),
	'pgbench log: per-script counts agree with the summary');
my %n = map { $_ => $logged{$_} // 0 } @order;
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

# -- the audit rows of the window: one per statement
is($n_rows_at_exit, $total, 'audit rows written during the run = statements run (at pgbench exit)');
is( q1(
		"SELECT string_agg(operation || '=' || n, ',' ORDER BY operation) FROM "
		  . "(SELECT operation, count(*) n FROM $run_rows GROUP BY operation) c"),
	"identify=$n{identify},protect=$n{protect},verify=$n{verify}",
	'per operation: as many rows as statements of that kind, and no other operation');
# what each row says: verify compares the one row of g it selects,
# identify all of g, protect seals one template into g2
is( q1(
		"SELECT string_agg(operation || ':' || rel || ':' || col || ':' || compared || ':' || outcome "
		  . "|| ':' || metric || ':' || k || ':' || n, ',' ORDER BY operation) FROM ("
		  . "SELECT operation, coalesce(relation::text, '-') rel, coalesce(column_name::text, '-') col, "
		  . "templates_compared compared, outcome, coalesce(metric, '-') metric, coalesce(k, 0) k, count(*) n "
		  . "FROM $run_rows GROUP BY 1, 2, 3, 4, 5, 6, 7) c"),
	"identify:g:tpl:$gallery:ok:l2:5:$n{identify},"
	  . "protect:g2:-:1:ok:-:0:$n{protect},"
	  . "verify:g:tpl:1:ok:cosine:0:$n{verify}",
	'rows: relation, column, templates compared, outcome, metric and k as expected');
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
	"identify:null:$n{identify},protect:committed:$n{protect},verify:null:$n{verify}",
	'protect rows committed; verify and identify rows without a transaction');

# nothing was recorded late, and filling in outcomes kept the chain valid
is(q1("SELECT count(*) FROM $run_rows"), $n_rows_at_exit, 'no audit row arrived after pgbench exited');
is(q1('SELECT ok FROM biocrypt.verify_audit()'), 't', 'verify_audit() still ok at the end');

$node->stop;

done_testing();
