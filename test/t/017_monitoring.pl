# Copyright (c) biocrypt authors
#
# Monitoring (docs/dba.md, "Monitoring").  biocrypt.stats counts exactly
# under concurrent sessions: two pgbench runs at once, as two roles, four
# clients each, a fixed number of transactions of one verify() and one
# identify(); every count of each role's row must equal what the runs did.
# With biocrypt.stats_max = 2 (a restart), a third role counts into its
# database's row with role NULL, and the totals stay exact.  The progress
# views show, from a second session, an INSERT ... SELECT that enrols
# slowly and a purge held up by a slow trigger, and forget both once they
# end.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;
use IPC::Run;

my $gallery = 10;     # templates in g: what each identify() compares
my $clients = 4;      # per pgbench run
my $per_client = 50;  # transactions per client

my $node = BiocryptNode->new_node('monitoring',
	root_key => '5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d',
	purpose  => 'verification',
	conf     => "log_statement = none\nbiocrypt.score_budget = -1\n");

sub q1 { return $node->safe_psql('postgres', $_[0]); }

q1(qq{
	CREATE TABLE g (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO g SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'subj-' || i)
	FROM generate_series(1, $gallery) i;
	CREATE ROLE mon_a LOGIN IN ROLE biocrypt_matcher;
	CREATE ROLE mon_b LOGIN IN ROLE biocrypt_matcher;
	CREATE ROLE mon_c LOGIN IN ROLE biocrypt_matcher;
	GRANT SELECT ON g TO mon_a, mon_b, mon_c;
	SELECT biocrypt.grant_purpose('mon_a', 'verification');
	SELECT biocrypt.grant_purpose('mon_b', 'verification');
	SELECT biocrypt.grant_purpose('mon_c', 'verification');
	SELECT biocrypt.stats_reset();
});

# the counts of a role's row: comparisons, verifies, identifies, compared,
# expired, denials, errors, waits
my $counts = q{comparisons || ':' || verifies || ':' || identifies || ':' || templates_compared
  || ':' || expired_skipped || ':' || denials || ':' || errors || ':' || audit_waits};

# -- two pgbench runs at once, one per role (score budgets off: the same
#    subjects are scored over and over)
my $dir = PostgreSQL::Test::Utils::tempdir('pgbench');
my $script = "$dir/access.sql";
open my $fh, '>', $script or die "could not write $script: $!";
print $fh "\\set id random(1, $gallery)\n"
  . "SELECT biocrypt.verify(tpl, ARRAY[3, 1, 2]::real[], 0.1) FROM g WHERE id = :id;\n"
  . "SELECT count(*) FROM biocrypt.identify('g', 'tpl', ARRAY[3, 1, 2]::real[], 3, NULL, 'l2');\n";
close $fh;

my (%run, %out, %err);
foreach my $role ('mon_a', 'mon_b')
{
	my @cmd = (
		'pgbench', '-n', '-M', 'prepared', '-c', $clients, '-j', $clients,
		'-t', $per_client, '-f', $script, '-h', $node->host, '-p', $node->port,
		'-U', $role, 'postgres');
	($out{$role}, $err{$role}) = ('', '');
	local $ENV{PGOPTIONS} = '-c biocrypt.purpose=verification';
	$run{$role} = IPC::Run::start(\@cmd, '>', \$out{$role}, '2>', \$err{$role},
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default * 2));
}
foreach my $role ('mon_a', 'mon_b')
{
	ok($run{$role}->finish, "pgbench as $role exited with status 0");
	note("pgbench $role:\n$out{$role}$err{$role}");
	like($out{$role}, qr/^number of transactions actually processed: @{[$clients * $per_client]}\/@{[$clients * $per_client]}$/m,
		"pgbench as $role: every transaction processed");
}

# each transaction: one verify (one template, its begun row waited for)
# and one identify (every template, its begun row and completion waited for)
my $n = $clients * $per_client;
my $expected = join(':', 0, $n, $n, $n + $n * $gallery, 0, 0, 0, 3 * $n);
foreach my $role ('mon_a', 'mon_b')
{
	is(q1("SELECT $counts FROM biocrypt.stats WHERE role = '$role' AND database = 'postgres'"),
		$expected, "stats: $role\'s counts are exact under $clients concurrent sessions");
}
is(q1(q{SELECT audit_wait_max_ms > 0 AND audit_wait_max_ms <= audit_wait_total_ms
	FROM biocrypt.stats WHERE role = 'mon_a'}), 't', 'stats: audit waits timed');
is(q1(q{SELECT depth_max > 0 AND queue_depth_max >= depth_max AND queue_slots = 128
	FROM biocrypt.audit_queue WHERE database = 'postgres'}), 't',
	'audit_queue: the concurrent runs raised the high-water marks');

# -- a full table: stats_max = 2 entries for roles
$node->append_conf('postgresql.conf', "biocrypt.stats_max = 2\n");
$node->restart;
is(q1('SHOW biocrypt.stats_max'), '2', 'stats_max: set at restart');
is(q1('SELECT count(*) FROM biocrypt.stats'), '0', 'stats: empty after a restart');
my $verify = q{SELECT biocrypt.verify(tpl, ARRAY[3, 1, 2]::real[], 0.1) FROM g WHERE id = 1};
foreach my $role ('mon_a', 'mon_b', 'mon_c', 'mon_c')
{
	$node->safe_psql('postgres', "SET ROLE $role; $verify");
}
is( q1(q{SELECT string_agg(coalesce(role::text, '(other)') || '=' || verifies, ',' ORDER BY role NULLS LAST)
	FROM biocrypt.stats WHERE database = 'postgres'}),
	'mon_a=1,mon_b=1,(other)=2',
	'stats_max: a third role counts into the database\'s row with role NULL');
is(q1('SELECT sum(verifies) FROM biocrypt.stats'), '4', 'stats_max: no access lost');
q1('SELECT biocrypt.stats_reset()');
$node->safe_psql('postgres', "SET ROLE mon_c; $verify");
is(q1(q{SELECT string_agg(coalesce(role::text, '(other)') || '=' || verifies, ',') FROM biocrypt.stats}),
	'mon_c=1', 'stats_max: after a reset the table has room again');

# -- enrol_progress: an INSERT ... SELECT that enrols a template every 0.1 s
q1('CREATE TABLE enrolled (id int, tpl protected_template)');
is(q1('SELECT count(*) FROM biocrypt.enrol_progress'), '0', 'enrol_progress: nothing running');
my $enroller = $node->background_psql('postgres');
$enroller->query_until(qr/enrolling/, q{\echo enrolling
INSERT INTO enrolled SELECT i, biocrypt.protect(ARRAY[i, 1]::real[], 'e-' || i)
FROM generate_series(1, 40) i WHERE pg_sleep(0.1) IS NOT NULL;
\echo enrolled
});
ok($node->poll_query_until('postgres',
		q{SELECT templates_enrolled >= 3 FROM biocrypt.enrol_progress}),
	'enrol_progress: the statement shows, templates counted');
is( q1(q{SELECT datname || ':' || relid::regclass || ':' || (templates_enrolled < 40) || ':'
	       || (templates_per_second > 0) || ':' || (started_at <= clock_timestamp())
	FROM biocrypt.enrol_progress}),
	'postgres:enrolled:true:true:true',
	'enrol_progress: database, table, count so far, rate, start');
$enroller->query_until(qr/enrolled/, '');
$enroller->quit;
is(q1('SELECT count(*) FROM enrolled'), '40', 'enrol_progress: the statement enrolled 40');
is(q1('SELECT count(*) FROM biocrypt.enrol_progress'), '0', 'enrol_progress: the statement has left the view');

# -- purge_progress: 10 expired templates, a trigger that sleeps 0.2 s per row
q1(q{
	CREATE TABLE expiring (id int PRIMARY KEY, tpl protected_template);
	SELECT biocrypt.protect_column('expiring', 'tpl', '1 second', '{verification}');
	INSERT INTO expiring SELECT i, biocrypt.protect(ARRAY[i, 1]::real[], 'x-' || i)
	FROM generate_series(1, 10) i;
	CREATE FUNCTION slow_delete() RETURNS trigger LANGUAGE plpgsql AS
	  $$ BEGIN PERFORM pg_sleep(0.2); RETURN OLD; END $$;
	CREATE TRIGGER slow BEFORE DELETE ON expiring FOR EACH ROW EXECUTE FUNCTION slow_delete();
});
sleep(2);
is(q1('SELECT count(*) FROM biocrypt.purge_progress'), '0', 'purge_progress: nothing running');
my $purger = $node->background_psql('postgres');
$purger->query_until(qr/purging/, "\\echo purging\nSELECT biocrypt.purge_expired();\n\\echo purged\n");
ok($node->poll_query_until('postgres',
		q{SELECT phase = 'removing' FROM biocrypt.purge_progress}),
	'purge_progress: the purge shows, removing');
is( q1(q{SELECT datname || ':' || relid::regclass || ':' || column_name || ':' || columns_total
	       || ':' || columns_done || ':' || templates_found || ':' || templates_purged
	FROM biocrypt.purge_progress}),
	'postgres:expiring:tpl:1:0:10:0',
	'purge_progress: table, column, columns, templates found and purged so far');
like($purger->query_until(qr/purged/, ''), qr/^10$/m, 'purge_progress: the purge removed 10');
$purger->quit;
is(q1('SELECT count(*) FROM biocrypt.purge_progress'), '0', 'purge_progress: the purge has left the view');

# -- readers: an auditor reads stats, only an administrator the progress
q1('CREATE ROLE mon_auditor LOGIN IN ROLE biocrypt_auditor');
my ($rc, $stdout, $stderr) = $node->psql('postgres',
	'SELECT count(*) FROM biocrypt.enrol_progress', extra_params => [ '-U', 'mon_auditor' ]);
like($stderr, qr/permission denied for view enrol_progress/, 'enrol_progress: not for auditors');
($rc, $stdout, $stderr) = $node->psql('postgres',
	'SELECT count(*) >= 0 FROM biocrypt.stats', extra_params => [ '-U', 'mon_auditor' ]);
is($stdout, 't', 'stats: an auditor reads it');

$node->stop;
done_testing();
