# Copyright (c) biocrypt authors
#
# What the TAP tests in test/t share: a node with biocrypt configured, key
# files, and helpers for SQL, polling, crashes and pgbench runs.  A test
# loads it with
#
#   use FindBin;
#   use lib "$FindBin::RealBin/../perl";
#   use BiocryptNode qw(...);
#
# A BiocryptNode is a PostgreSQL::Test::Cluster with a few more methods.
package BiocryptNode;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
# nothing imported: some of its functions have the names of Cluster
# methods (command_ok, run_log, ...), which a subclass would then hide
use PostgreSQL::Test::Utils ();
use Test::More;
use Time::HiRes qw(usleep);

use parent -norequire, 'PostgreSQL::Test::Cluster';
use Exporter 'import';

our @EXPORT_OK = qw(key_dir key_file gallery_scripts pgbench_files pgbench_ok
  pgbench_log_counts $UNPAIRED_SQL $GAPLESS_SQL);

# begun rows without exactly one later completion of the same operation and
# backend | completions that name no begun row: '0|0' when all are paired
our $UNPAIRED_SQL =
    "SELECT (SELECT count(*) FROM biocrypt.audit_log b WHERE b.outcome = 'begun' "
  . "AND (SELECT count(*) FROM biocrypt.audit_log c WHERE c.chain_id = b.chain_id "
  . "AND c.begun_id = b.id AND c.id > b.id AND c.operation = b.operation "
  . "AND c.backend_pid = b.backend_pid AND c.outcome <> 'begun') <> 1) || '|' || "
  . "(SELECT count(*) FROM biocrypt.audit_log c WHERE c.begun_id IS NOT NULL AND NOT EXISTS "
  . "(SELECT FROM biocrypt.audit_log b WHERE b.chain_id = c.chain_id AND b.id = c.begun_id "
  . "AND b.outcome = 'begun'))";

# every chain of the audit log numbered 1..n without gaps
our $GAPLESS_SQL = "SELECT bool_and(lo = 1 AND hi = n) FROM (SELECT min(id) lo, "
  . "max(id) hi, count(*) n FROM biocrypt.audit_log GROUP BY chain_id) c";

my $keydir;

# This test's directory for key files (made on first use).
sub key_dir
{
	$keydir //= PostgreSQL::Test::Utils::tempdir;
	return $keydir;
}

# Write a key file in key_dir() with the given content and permission bits
# (0600 if not given); returns its path.
sub key_file
{
	my ($name, $content, $mode) = @_;
	my $path = key_dir() . "/$name";
	open(my $fh, '>', $path) or die "could not write $path: $!";
	binmode $fh;
	print $fh $content;
	close($fh) or die "could not close $path: $!";
	chmod($mode // 0600, $path) or die "could not chmod $path: $!";
	return $path;
}

# BiocryptNode->new_node($name, %opts): an initialized node whose
# postgresql.conf preloads biocrypt and, as %opts say, sets
#   root_key => HEX         biocrypt.root_key_command = 'echo HEX'
#   root_key_file => PATH   biocrypt.root_key_file = 'PATH'
#   key_conf => TEXT        includes biocrypt_key.conf, which holds TEXT
#                           (rewritten later by set_key_conf)
#   purpose => NAME         biocrypt.purpose = 'NAME'
#   conf => TEXT            further settings
#   init => {OPTS}          options of PostgreSQL::Test::Cluster's init
#                           (allows_streaming => 1 for a primary)
# Then it is started and CREATE EXTENSION biocrypt runs in database
# postgres, unless start => 0 (neither) or extension => 0 (no extension).
sub new_node
{
	my ($class, $name, %opts) = @_;
	my $node = $class->new($name);
	$node->init(%{ $opts{init} // {} });
	my $conf = "shared_preload_libraries = 'biocrypt'\n";
	$conf .= "biocrypt.root_key_command = 'echo $opts{root_key}'\n"
	  if defined $opts{root_key};
	$conf .= "biocrypt.root_key_file = '$opts{root_key_file}'\n"
	  if defined $opts{root_key_file};
	$conf .= "include_if_exists = 'biocrypt_key.conf'\n"
	  if defined $opts{key_conf};
	$conf .= "biocrypt.purpose = '$opts{purpose}'\n" if defined $opts{purpose};
	$conf .= $opts{conf} // '';
	$node->append_conf('postgresql.conf', $conf);
	$node->set_key_conf($opts{key_conf})
	  if defined $opts{key_conf} && $opts{key_conf} ne '';
	return $node if defined $opts{start} && !$opts{start};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION biocrypt')
	  unless defined $opts{extension} && !$opts{extension};
	return $node;
}

# Replace the node's key settings (biocrypt_key.conf, which new_node's
# key_conf includes).
sub set_key_conf
{
	my ($self, $text) = @_;
	my $path = $self->data_dir . '/biocrypt_key.conf';
	open(my $fh, '>', $path) or die "could not write $path: $!";
	print $fh $text;
	close($fh) or die "could not close $path: $!";
	return;
}

# Run SQL with verbose errors (each message with its SQLSTATE); returns
# (exit code, stdout, stderr).
sub psql_verbose
{
	my ($self, $db, $sql, %params) = @_;
	my ($ret, $out, $err) = $self->psql(
		$db, $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ],
		%params);
	return ($ret, $out, $err);
}

# Poll a query in database postgres until it returns the expected value,
# for at most 10 s; true if it did.
sub poll10
{
	my ($self, $sql, $expected) = @_;
	my $got;
	for (1 .. 100)
	{
		$got = $self->safe_psql('postgres', $sql);
		return 1 if $got eq $expected;
		usleep(100_000);
	}
	diag("poll: $sql returned '$got', expected '$expected'");
	return 0;
}

# kill -9 of a backend (the node runs with restart_after_crash = on), then
# wait until the postmaster has gone through crash recovery and accepts
# connections again: three checks, named "$what: ...".  Returns the offset
# of the server log before the kill.
sub kill_backend
{
	my ($self, $pid, $what) = @_;
	my $log_offset = -s $self->logfile;
	is(kill('KILL', $pid), 1, "$what: kill -9 of that backend");
	# wait for the postmaster to notice, or the next query may still reach the
	# old server processes
	my $reinit = 0;
	for (1 .. 100)
	{
		last
		  if $reinit =
		  PostgreSQL::Test::Utils::slurp_file($self->logfile, $log_offset) =~
		  /all server processes terminated; reinitializing/;
		usleep(100_000);
	}
	ok($reinit, "$what: the postmaster went through crash recovery");
	ok($self->poll_query_until('postgres', 'SELECT 1', '1'),
		"$what: server accepts connections again");
	return $log_offset;
}

# pgbench scripts of one accessing statement each (so a pgbench transaction
# is one statement) over table g of $gallery templates (i, 1, 2): verify
# of one random row, and identify()'s top 5.
sub gallery_scripts
{
	my ($gallery) = @_;
	return (
		verify => qq{\\set id random(1, $gallery)
\\set r random(1, 60)
SELECT biocrypt.verify(tpl, ARRAY[:r, 1, 2]::real[], 0.1) FROM g WHERE id = :id;
},
		identify => q{\set r random(1, 60)
SELECT count(*) FROM biocrypt.identify('g', 'tpl', ARRAY[:r, 1, 2]::real[], 5, NULL, 'l2');
});
}

# Write each pgbench script of %$scripts to $dir/<kind>.sql; returns
# pgbench's -f arguments with the weights of %$weight, in @$order (pgbench
# numbers the scripts in that order, from 0 in its log).
sub pgbench_files
{
	my ($dir, $scripts, $order, $weight) = @_;
	my @fileargs;
	foreach my $kind (@$order)
	{
		my $file = "$dir/$kind.sql";
		open my $fh, '>', $file or die "could not write $file: $!";
		print $fh $scripts->{$kind};
		close $fh;
		push @fileargs, '-f', "$file\@$weight->{$kind}";
	}
	return @fileargs;
}

# pgbench on database postgres of the node: -M prepared (:vars become
# parameters and, after five executions, the cached generic plan runs),
# -n (no vacuum of pgbench's own tables, which do not exist), a log line
# per transaction in $o{dir}/txlog.*, for $o{clients}, $o{jobs} threads,
# $o{seconds} and the -f arguments $o{files}.
sub pgbench_command
{
	my ($self, %o) = @_;
	return (
		'pgbench', '-n', '-M', 'prepared',
		'-c', $o{clients}, '-j', $o{jobs}, '-T', $o{seconds},
		'--log', "--log-prefix=$o{dir}/txlog",
		@{ $o{files} },
		'-h', $self->host, '-p', $self->port, 'postgres');
}

# The output of a pgbench run that must succeed, noted, and four checks
# of it; returns the number of transactions processed.
sub pgbench_ok
{
	my ($ran, $stdout, $stderr) = @_;
	note("pgbench stdout:\n$stdout");
	note("pgbench stderr:\n$stderr") if $stderr ne '';
	ok($ran, 'pgbench exited with status 0');
	unlike($stderr, qr/aborted|error/i, 'pgbench: no client aborted, no error');
	like($stdout, qr/^number of failed transactions: 0 \(0\.000%\)$/m,
		'pgbench: 0 failed transactions');
	my ($total) = $stdout =~ /^number of transactions actually processed: (\d+)$/m;
	ok(defined $total && $total > 0, 'pgbench: transactions processed');
	return $total // 0;
}

# Transactions per script from pgbench's per-transaction logs in $dir
# (exact with any number of threads): "client tx time script_no ...", a
# failed transaction showing "failed" (or the kind) for its time.
# Returns a count for each script of @$order, and the failed count.
sub pgbench_log_counts
{
	my ($dir, $order) = @_;
	my %n = map { $_ => 0 } @$order;
	my $failed = 0;
	foreach my $file (glob("$dir/txlog.*"))
	{
		open my $fh, '<', $file or die "could not read $file: $!";
		while (my $line = <$fh>)
		{
			my @f = split ' ', $line;
			if ($f[2] !~ /^\d+$/)
			{
				$failed++;
				next;
			}
			$n{ $order->[ $f[3] ] }++;
		}
		close $fh;
	}
	return (\%n, $failed);
}

1;
