# Copyright (c) biocrypt authors
#
# The leak guard at server start: a server started with log_statement =
# 'all', auto_explain (logging every plan, verbose) and pg_stat_statements
# preloaded after biocrypt writes one WARNING per severe row of
# biocrypt.check_config() to its log, and none for the others; the rows
# are exactly the expected ones, in their order.  auto_explain named only
# in session_preload_libraries, with its setting in postgresql.conf in
# another unit, is still seen by the postmaster.  A server with none of
# these settings (and log_min_error_statement = panic) writes no WARNING
# and check_config() returns no row but the machine's core dump limit;
# started with core files allowed (pg_ctl -c), it has a 'core dumps'
# warning row, and still no WARNING at start.  A reload that makes a
# setting severe gets one WARNING for it from the audit launcher.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';

# both modules ship with PostgreSQL's contrib
my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
for my $lib ('auto_explain', 'pg_stat_statements')
{
	plan skip_all => "$lib is not installed in $libdir"
	  unless -e "$libdir/$lib.so";
}

# The biocrypt WARNINGs of a log, each "setting = 'value'".
sub startup_warnings
{
	my ($log) = @_;
	return join("\n",
		$log =~ /WARNING:  biocrypt: (\S+ = '[^']*') can put plaintext biometrics in the server log/g);
}

# Wait up to 10 s for a line matching $re in the log after $offset.
sub poll_log
{
	my ($node, $offset, $re) = @_;
	for (1 .. 100)
	{
		return 1 if slurp_file($node->logfile, $offset) =~ $re;
		usleep(100_000);
	}
	return 0;
}

# check_config()'s rows but those of the machine (core dumps, TLS) and of
# the cluster's roles.
my $ROWS_SQL = q{
	SELECT setting || '|' || value || '|' || severity FROM biocrypt.check_config()
	WHERE setting NOT IN ('core dumps', 'ssl', 'pg_read_all_stats')};

########################################################################
# a leaky server: statement logging, auto_explain, pg_stat_statements
########################################################################
my $node = BiocryptNode->new_node(
	'leaky',
	root_key => $KEY,
	conf => q{
shared_preload_libraries = 'biocrypt, auto_explain, pg_stat_statements'
log_statement = 'all'
auto_explain.log_min_duration = 0
auto_explain.log_verbose = on
});
my $log = slurp_file($node->logfile);

is( startup_warnings($log),
	join("\n",
		"log_statement = 'all'",
		"log_parameter_max_length = '-1'",
		"log_min_error_statement = 'error'",
		"auto_explain.log_min_duration = '0'"),
	'leaky server: one WARNING per severe row at start, in order');
like(
	$log,
	qr/WARNING:  biocrypt: auto_explain.log_min_duration = '0' can put plaintext biometrics in the server log\n.*HINT:  Plans are logged with the query text/,
	'leaky server: each WARNING has its advice as HINT');
my @before_ready = split /database system is ready to accept connections/, $log, 2;
is(scalar(() = $before_ready[0] =~ /WARNING:  biocrypt:/g),
	4, 'leaky server: the WARNINGs come before the server accepts connections');
is(scalar(() = $log =~ /WARNING:  biocrypt:.*pg_stat_statements/g),
	0, 'leaky server: no WARNING for a row that is not severe');

is( $node->safe_psql('postgres', $ROWS_SQL),
	join("\n",
		"log_statement|all|severe",
		"log_parameter_max_length|-1|severe",
		"log_min_error_statement|error|severe",
		"auto_explain.log_min_duration|0|severe",
		"auto_explain.log_verbose|on|warning",
		"pg_stat_statements.track_utility|on|warning"),
	'leaky server: check_config() rows');

########################################################################
# the same server with auto_explain in session_preload_libraries only:
# the postmaster reads its setting from postgresql.conf, unit and all
########################################################################
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'biocrypt, pg_stat_statements'
session_preload_libraries = 'auto_explain'
log_statement = 'none'
auto_explain.log_min_duration = '2s'
auto_explain.log_verbose = off
pg_stat_statements.track_utility = off
});
my $offset = -s $node->logfile;
$node->restart;
$log = slurp_file($node->logfile, $offset);
is( startup_warnings($log),
	join("\n",
		"log_min_error_statement = 'error'",
		"auto_explain.log_min_duration = '2s'"),
	'session_preload_libraries: the postmaster warns of auto_explain too');
is( $node->safe_psql('postgres', $ROWS_SQL),
	join("\n",
		"log_min_error_statement|error|severe",
		"auto_explain.log_min_duration|2s|severe"),
	'session_preload_libraries: check_config() rows');

# at log_min_error_statement = error, a LOG message raised in a statement
# would be followed by the query string: biocrypt's own hide it (here the
# audit maintenance line, with a canary in a comment of the same string)
$offset = -s $node->logfile;
$node->safe_psql('postgres',
	"SET biocrypt.allow_audit_maintenance = on;\n"
	  . "/* 0.8125,-0.40625 */ ALTER TABLE biocrypt.audit_log ALTER COLUMN k SET STATISTICS -1");
$log = slurp_file($node->logfile, $offset);
like($log, qr/LOG:  biocrypt: audit log maintenance by role/,
	'LOG in a statement: the maintenance line is logged');
unlike($log, qr/0\.8125/, 'LOG in a statement: its query string is not');
$node->stop;

########################################################################
# a quiet server (PostgreSQL::Test::Cluster's init sets log_statement =
# 'all'; this one undoes it)
########################################################################
my $quiet = BiocryptNode->new_node(
	'quiet',
	root_key => $KEY,
	conf => "log_statement = 'none'\nlog_min_error_statement = panic\n");
$log = slurp_file($quiet->logfile);
unlike($log, qr/WARNING:/, 'quiet server: no WARNING at start');
is($quiet->safe_psql('postgres', $ROWS_SQL), '', 'quiet server: no check_config() row');
is( $quiet->safe_psql(
		'postgres',
		"SELECT count(*) FROM biocrypt.check_config() WHERE setting <> 'core dumps'"),
	'0',
	'quiet server: no row at all but the machine\'s core dump limit');

# a reload: the audit launcher warns of what became severe since the last
# start or reload, once (the second reload adds only debug_print_plan)
$offset = -s $quiet->logfile;
$quiet->append_conf('postgresql.conf', "log_statement = 'all'\n");
$quiet->reload;
ok(poll_log($quiet, $offset, qr/WARNING:  biocrypt: log_statement = 'all'/),
	'reload: a WARNING for the newly severe log_statement');
$quiet->append_conf('postgresql.conf', "debug_print_plan = on\n");
$quiet->reload;
ok(poll_log($quiet, $offset, qr/WARNING:  biocrypt: debug_print_plan = 'on'/),
	'reload: a WARNING for the newly severe debug_print_plan');
is( startup_warnings(slurp_file($quiet->logfile, $offset)),
	join("\n",
		"log_statement = 'all'",
		"log_parameter_max_length = '-1'",
		"debug_print_plan = 'on'"),
	'reload: each newly severe row is warned of once');
$quiet->append_conf('postgresql.conf', "log_statement = 'none'\ndebug_print_plan = off\n");

# core dumps: pg_ctl -c raises the server's soft limit to the hard one
$quiet->stop;
my $hard = `bash -c 'ulimit -H -c'`;    # in KiB
chomp $hard;
SKIP:
{
	skip "the hard core file limit is $hard", 3 if $hard eq '0';
	my $offset = -s $quiet->logfile;
	PostgreSQL::Test::Utils::system_or_bail('pg_ctl', '-c', '-w', '-D', $quiet->data_dir,
		'-l', $quiet->logfile, 'start');
	$quiet->_update_pid(1);
	my $want = $hard eq 'unlimited' ? 'unlimited' : ($hard * 1024) . ' bytes';
	like(
		$quiet->safe_psql(
			'postgres',
			"SELECT value || '|' || severity FROM biocrypt.check_config() WHERE setting = 'core dumps'"),
		qr/^RLIMIT_CORE \Q$want\E(, core_pattern .+)?\|warning$/,
		'core dumps allowed: a warning row with the limit and core_pattern');
	like(
		$quiet->safe_psql(
			'postgres', "SELECT advice FROM biocrypt.check_config() WHERE setting = 'core dumps'"),
		qr/ulimit -c 0/,
		'core dumps allowed: the advice says how to forbid them');
	unlike(slurp_file($quiet->logfile, $offset),
		qr/WARNING:/, 'core dumps allowed: a warning row, no WARNING at start');
	$quiet->stop;
}

done_testing();
