# Copyright (c) biocrypt authors
#
# No audit event can poison another.  pgbench runs 8 innocent clients
# (verify() and identify() on an innocent gallery, prepared statements, two
# threads) for BIOCRYPT_POISON_SECONDS seconds (default 30) while a ninth
# session loops over two kinds of poison:
#
#  - the old poison, an infinite distance (verify() of a probe of 3e38s
#    with threshold Infinity, as a query and inside COPY (...) TO STDOUT),
#    which once made the worker's whole batch fail: its completions must
#    now be written as they are, outcome ok, "distance": "Infinity";
#  - a poison the encoder cannot prevent: a CHECK constraint added to
#    biocrypt.audit_log (by a superuser, with audit maintenance allowed,
#    itself recorded) that every completion naming the subject
#    "poison-subject" violates.  Such a completion must be written
#    "degraded" (outcome error, sqlstate 23514, matches holding only an
#    audit_error note), with the worker's WARNING in the server log, and an
#    identify() whose completion is degraded fails closed.
#
# pgbench must see no failed transaction; every innocent statement has
# exactly one begun row and one completion naming it, none degraded; every
# poison statement exactly its pair too; the chain verifies and its ids are
# gapless once the constraint is dropped again.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode qw(gallery_scripts pgbench_files pgbench_ok pgbench_log_counts);
use IPC::Run;
use Time::HiRes qw(time);

my $seconds = $ENV{BIOCRYPT_POISON_SECONDS} // 30;
die "BIOCRYPT_POISON_SECONDS must be a positive integer\n"
  unless $seconds =~ /^[1-9]\d*$/;
my $clients = 8;
my $gallery = 50;

# log_statement = all (the test default) would log every pgbench statement
my $node = BiocryptNode->new_node('audit_poison',
	root_key => '6b7c8d9eafb0c1d26b7c8d9eafb0c1d26b7c8d9eafb0c1d26b7c8d9eafb0c1d2',
	purpose  => 'verification',
	conf     => "log_statement = none\n");

# forced_t's template is enrolled before the constraint exists: its
# protect row names poison-subject too
$node->safe_psql(
	'postgres', qq{
	CREATE TABLE g (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO g SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'subj-' || i)
	FROM generate_series(1, $gallery) i;
	CREATE TABLE poison_t (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO poison_t VALUES (1, biocrypt.protect('{1,2,3}'::real[], 'inf-1')),
		(2, biocrypt.protect('{-1,-2,-3}'::real[], 'inf-2'));
	CREATE TABLE forced_t (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO forced_t VALUES (1, biocrypt.protect('{5,5,5}'::real[], 'poison-subject'));
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# Rows of the sessions named app (application_name) on relation rel.
sub rows_of
{
	my ($app, $rel) = @_;
	return "(SELECT * FROM biocrypt.audit_log WHERE application_name = '$app' "
	  . "AND relation = '$rel'::regclass)";
}

# "begun rows|completions|completions naming a distinct begun row of the
# same session, operation, relation and probe, written before them" of
# the rows in set (a parenthesized query)
sub pairs
{
	my ($set) = @_;
	return q1(
		"SELECT (SELECT count(*) FROM $set b WHERE b.outcome = 'begun') || '|' || "
		  . "(SELECT count(*) FROM $set c WHERE c.begun_id IS NOT NULL) || '|' || "
		  . "(SELECT count(DISTINCT c.begun_id) FROM $set c JOIN $set b "
		  . "ON b.chain_id = c.chain_id AND b.id = c.begun_id WHERE b.outcome = 'begun' "
		  . "AND b.id < c.id AND b.backend_pid = c.backend_pid AND b.operation = c.operation "
		  . "AND b.probe_hmac = c.probe_hmac AND b.relation = c.relation)");
}

# A psql session of our own for the poison loop (BackgroundPsql notes
# every query in the test's log): returns the session.
sub quiet_session
{
	my %sess = (stdin => '', stdout => '', stderr => '', n => 0);
	$sess{timeout} = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	$sess{run} = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-h', $node->host,
			'-p', $node->port, '-d', 'postgres', '-f', '-'
		],
		'<', \$sess{stdin}, '>', \$sess{stdout}, '2>', \$sess{stderr}, $sess{timeout});
	return \%sess;
}

# Run SQL in a quiet session: its output, once psql has echoed a mark
# after it; dies on any error.
sub quiet_query
{
	my ($sess, $sql) = @_;
	my $mark = 'quiet-mark-' . ++$sess->{n};
	$sess->{timeout}->start($PostgreSQL::Test::Utils::timeout_default);
	$sess->{stdin} .= "$sql\n\\echo $mark\n";
	pump_until($sess->{run}, $sess->{timeout}, \$sess->{stdout}, qr/(^|\n)$mark\n/)
	  or die "quiet session: no answer to $sql";
	die "quiet session: $sess->{stderr}" if $sess->{stderr} ne '';
	(my $out = $sess->{stdout}) =~ s/\n?$mark\n$//;
	$sess->{stdout} = '';
	return $out;
}

my $open_begun = "SELECT count(*) FROM biocrypt.audit_log b WHERE b.outcome = 'begun' "
  . "AND NOT EXISTS (SELECT FROM biocrypt.audit_log c WHERE c.chain_id = b.chain_id "
  . "AND c.begun_id = b.id)";
my $degraded_matches =
  '[{"outcome": "ok", "sqlstate": "23514", "audit_error": "the row could not be stored as sent"}]';

# -- the forced poison: a constraint that completions of poison-subject
#    violate (NOT VALID: forced_t's protect row already names it).  DDL on
#    the log needs allow_audit_maintenance and is recorded as a policy row.
my $alter = q{ALTER TABLE biocrypt.audit_log ADD CONSTRAINT poison
	CHECK (matches IS NULL OR NOT matches @> '[{"subject": "poison-subject"}]') NOT VALID};
my ($ret, $out, $err) = $node->psql('postgres', $alter);
like($err, qr/ERROR:  biocrypt: ALTER TABLE would change or remove table biocrypt\.audit_log/,
	'the constraint is refused without audit maintenance');
my $before_alter = q1('SELECT max(id) FROM biocrypt.audit_log');
q1("SET biocrypt.allow_audit_maintenance = on; $alter");
is( q1(
		"SELECT string_agg(operation || ':' || relation::text || ':' || outcome, ',') "
		  . "FROM biocrypt.audit_log WHERE id > $before_alter"),
	'policy:biocrypt.audit_log:ok',
	'the constraint was added with audit maintenance, recorded as a policy row');

my $INF_VERIFY =
  q{biocrypt.verify(tpl, '{3e38,3e38,3e38}'::real[], 'Infinity', 'l2') FROM poison_t};
my $FORCED_VERIFY = q{SELECT biocrypt.verify(tpl, '{5,5,5}'::real[], 0.1, 'l2') FROM forced_t};

# -- a waiting access whose completion is poisoned fails closed: identify()
#    returns its candidates only once they are on record
my $s = $node->background_psql('postgres', on_error_stop => 0);
$s->query_safe("SET application_name = 'poison-identify'");
my $res = $s->query(
	q{SELECT * FROM biocrypt.identify('forced_t', 'tpl', '{5,5,5}'::real[], 1, NULL, 'l2')});
is($res, '', 'poisoned identify(): no candidate returned');
like(
	$s->{stderr},
	qr/ERROR:  biocrypt: access refused: the audit record could not be stored as sent/,
	'poisoned identify(): fails, its record could not be stored as sent');
$s->quit;
is( q1(
		"SELECT string_agg(outcome || ':' || coalesce(sqlstate, '-') || ':' || templates_compared "
		  . "|| ':' || coalesce(matches::text, '-') || ':' || (begun_id IS NOT NULL), ',' ORDER BY id) "
		  . "FROM biocrypt.audit_log WHERE application_name = 'poison-identify'"),
	"begun:-:0:-:false,error:23514:1:$degraded_matches:true",
	'poisoned identify(): its begun row, then its completion written degraded');

# -- pgbench: the innocent clients
my $dir = PostgreSQL::Test::Utils::tempdir('pgbench');
my %scripts = gallery_scripts($gallery);
my @order  = qw(verify identify);
my %weight = (verify => 2, identify => 1);
my @fileargs = pgbench_files($dir, \%scripts, \@order, \%weight);
my @cmd = $node->pgbench_command(
	clients => $clients,
	jobs    => 2,
	seconds => $seconds,
	dir     => $dir,
	files   => \@fileargs);
note('running: ' . join(' ', @cmd));
my ($stdout, $stderr) = ('', '');
my $bench;
{
	local $ENV{PGAPPNAME} = 'innocent-pgbench';
	$bench = IPC::Run::start(\@cmd, '>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout($seconds + $PostgreSQL::Test::Utils::timeout_default));
}
my $t_end = time + $seconds;

# -- the poison session, while pgbench runs: each statement must succeed
my $p = quiet_session();
quiet_query($p, "SET application_name = 'poison';");
my $poison_pid = quiet_query($p, 'SELECT pg_backend_pid();');
my %n_poison = (select => 0, copy => 0, forced => 0);
my $poison_ok = 1;
while (time < $t_end)
{
	$poison_ok = 0
	  unless quiet_query($p, "SELECT $INF_VERIFY ORDER BY id;") eq "t\nt";
	$n_poison{select}++;
	$poison_ok = 0
	  unless quiet_query($p, "COPY (SELECT id, $INF_VERIFY ORDER BY id) TO STDOUT;") eq "1\tt\n2\tt";
	$n_poison{copy}++;
	$poison_ok = 0 unless quiet_query($p, "$FORCED_VERIFY;") eq 't';
	$n_poison{forced}++;
	$bench->pump_nb;
}
$p->{stdin} .= "\\q\n";
$p->{run}->finish;
ok($poison_ok, "poison session: every statement returned its rows ("
	  . join(', ', map { "$_ $n_poison{$_}" } sort keys %n_poison) . ')');
ok($n_poison{forced} >= 10, 'poison session: at least 10 rounds while pgbench ran');

my $ran = $bench->finish;
my $total = pgbench_ok($ran, $stdout, $stderr);

# per-script counts from the transaction log (exact with several threads)
my ($n, $log_failed) = pgbench_log_counts($dir, \@order);
my %n = %$n;
is($log_failed, 0, 'pgbench log: no failed transaction');
is($n{verify} + $n{identify}, $total, 'pgbench log: the scripts add up to the total');
diag(sprintf(
		"pgbench %d s, %d clients: %d statements (verify %d, identify %d); poison rounds %d",
		$seconds, $clients, $total, $n{verify}, $n{identify}, $n_poison{forced}));

# -- every completion arrives (verify's are written just after their
#    statement)
ok($node->poll10($open_begun, '0'), 'every begun row gets its completion within 10 s');

# -- the innocent rows: a begun row and an ok completion per statement
my $inn = "(SELECT * FROM biocrypt.audit_log WHERE application_name = 'innocent-pgbench')";
is( q1(
		"SELECT string_agg(operation || ':' || coalesce(relation::text, '-') || ':' || outcome "
		  . "|| ':' || templates_compared || '=' || n, ',' ORDER BY operation, outcome) FROM "
		  . "(SELECT operation, relation, outcome, templates_compared, count(*) n FROM $inn x "
		  . "GROUP BY 1, 2, 3, 4) c"),
	"identify:g:begun:0=$n{identify},identify:g:ok:$gallery=$n{identify},"
	  . "verify:g:begun:0=$n{verify},verify:g:ok:1=$n{verify}",
	'innocent rows: per statement one begun row and one ok completion, nothing else');
my $n_inn = $n{verify} + $n{identify};
is(pairs($inn), "$n_inn|$n_inn|$n_inn",
	'innocent rows: each completion names a distinct begun row of its own access');
is( q1(
		"SELECT count(*) FROM $inn x WHERE x.sqlstate IS NOT NULL "
		  . "OR x.matches::text LIKE '%audit_error%'"),
	'0', 'innocent rows: none degraded, none with an error');
is(q1("SELECT count(DISTINCT backend_pid) FROM $inn x"),
	$clients, "innocent rows: from the $clients pgbench sessions");

# -- the old poison: infinite distances, written as they are
my $inf = rows_of('poison', 'poison_t');
my $n_inf = $n_poison{select} + $n_poison{copy};
is( q1(
		"SELECT string_agg(operation || ':' || outcome || ':' || templates_compared || ':' "
		  . "|| threshold || ':' || coalesce(matches::text, '-') || '=' || n, ',' ORDER BY outcome) FROM "
		  . "(SELECT operation, outcome, templates_compared, threshold, matches, count(*) n "
		  . "FROM $inf x GROUP BY 1, 2, 3, 4, 5) c"),
	"verify:begun:0:Infinity:-=$n_inf,"
	  . 'verify:ok:2:Infinity:[{"subject": "inf-1", "distance": "Infinity"}, '
	  . "{\"subject\": \"inf-2\", \"distance\": \"Infinity\"}]=$n_inf",
	'infinite distances: every statement begun and completed ok, "distance": "Infinity"');
is(pairs($inf), "$n_inf|$n_inf|$n_inf",
	'infinite distances: each completion names a distinct begun row of its own access');

# -- the forced poison: written degraded, its neighbours untouched
my $forced = rows_of('poison', 'forced_t');
is( q1(
		"SELECT string_agg(operation || ':' || outcome || ':' || coalesce(sqlstate, '-') || ':' "
		  . "|| templates_compared || ':' || coalesce(matches::text, '-') || '=' || n, ',' "
		  . "ORDER BY outcome) FROM (SELECT operation, outcome, sqlstate, templates_compared, "
		  . "matches, count(*) n FROM $forced x GROUP BY 1, 2, 3, 4, 5) c"),
	"verify:begun:-:0:-=$n_poison{forced},"
	  . "verify:error:23514:1:$degraded_matches=$n_poison{forced}",
	'forced poison: every completion written degraded (error 23514, an audit_error note)');
is(pairs($forced), "$n_poison{forced}|$n_poison{forced}|$n_poison{forced}",
	'forced poison: each completion names a distinct begun row of its own access');

# -- the worker said so, once per degraded row, naming the poison sessions
my $log = slurp_file($node->logfile);
my @warnings =
  $log =~ /WARNING:  biocrypt: the audit event of process (\d+) could not be stored as sent \(SQLSTATE 23514\)/g;
my $identify_pid = q1(
	"SELECT DISTINCT backend_pid FROM biocrypt.audit_log WHERE application_name = 'poison-identify'");
is(scalar(@warnings), $n_poison{forced} + 1,
	'server log: a WARNING for each degraded row (the verifies and the identify)');
is( scalar(grep { $_ != $poison_pid && $_ != $identify_pid } @warnings),
	0, 'server log: each WARNING names a poison session');
unlike($log, qr/could not be stored \(SQLSTATE/, 'server log: no row failed even degraded');
# a failed batch is logged without its DETAIL, which would show the row
# (not unlike(): that would copy the whole server log into the test's)
my $shown = () = $log =~ /Failing row contains/g;
is($shown, 0, 'server log: never what the poisoned row held');

# -- maintenance again: the constraint goes, recorded
$before_alter = q1('SELECT max(id) FROM biocrypt.audit_log');
q1('SET biocrypt.allow_audit_maintenance = on; '
	  . 'ALTER TABLE biocrypt.audit_log DROP CONSTRAINT poison');
is( q1(
		"SELECT string_agg(operation || ':' || relation::text || ':' || outcome, ',') "
		  . "FROM biocrypt.audit_log WHERE id > $before_alter"),
	'policy:biocrypt.audit_log:ok',
	'the constraint was dropped with audit maintenance, recorded as a policy row');
is(q1("SET application_name = 'after-poison'; $FORCED_VERIFY"), 't', 'after: the verify works');
# its completion is written just after it
ok( $node->poll10(
		"SELECT string_agg(outcome || ':' || coalesce(matches::text, '-'), ',' ORDER BY id) "
		  . "FROM biocrypt.audit_log WHERE application_name = 'after-poison'",
		'begun:-,ok:[{"subject": "poison-subject", "distance": 0}]'),
	'without the constraint the same verify is recorded as sent');

# -- the chain
is( q1(
		"SELECT v.ok, v.rows_checked = (SELECT count(*) FROM biocrypt.audit_log), "
		  . "v.first_bad_id IS NULL, v.bad_ranges::text FROM biocrypt.verify_audit() v"),
	't|t|t|[]',
	'verify_audit(): ok, every row checked, no bad range');
is( q1(
		"SELECT count(*), bool_and(lo = 1 AND hi - lo + 1 = n) FROM (SELECT min(id) lo, "
		  . "max(id) hi, count(*) n FROM biocrypt.audit_log GROUP BY chain_id) c"),
	'1|t',
	'one chain, its ids gapless from 1');

$node->stop;

done_testing();
