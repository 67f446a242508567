#!/usr/bin/perl
# Copyright (c) biocrypt authors
#
# Runs the SQL examples of the docs.  Every ```sql block of README.md and
# docs/*.md (or of the files named on the command line) runs in psql
# against a throwaway cluster with biocrypt preloaded: each document in a
# database of its own, its blocks top to bottom in one psql session
# (psql -X -q, as the superuser), as a reader would paste them.  A block followed by a plain ``` block (psql's
# output as the doc shows it) must print exactly that; a block without one
# must run without an error.  HTML comments before a block's fence, which
# the rendered page does not show, say what a reader needn't see
# (docs/developer.md, "Examples in the docs"):
#
#   <!-- docrun as ROLE -->          the block runs as ROLE
#   <!-- docrun setup: SQL -->       SQL (may span lines) runs before it,
#                                    its output unchecked
#   <!-- docrun params: $1 = V, ... --> each $n of the block is V
#   <!-- docrun skip: REASON -->     not run (counted and printed)
#   <!-- docrun output varies: REASON --> its output is compared with
#                                    timestamps masked and column widths
#                                    ignored
#
# Prints one line per block (--verbose: and what psql printed for it),
# the skipped blocks, and "docrun: N passed, N failed"; exits
# non-zero on a failure.  Must run as a user that may start a server (not
# root), after biocrypt is installed into the PostgreSQL that PG_CONFIG
# (or pg_config on PATH, or --pg-config) names; --keep keeps the cluster's
# directory (its server log, each document's psql input).
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Temp qw(tempdir);
use Getopt::Long;

my $root = abs_path(dirname(abs_path($0)) . '/..');
my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
my ($keep, $verbose) = (0, 0);
GetOptions('pg-config=s' => \$pg_config, 'keep' => \$keep, 'verbose' => \$verbose)
  or die "usage: docrun.pl [--pg-config PATH] [--keep] [--verbose] [FILE.md ...]\n";
my @docs = @ARGV ? @ARGV : ("$root/README.md", sort glob("$root/docs/*.md"));

chomp(my $bindir = `$pg_config --bindir`);
die "docrun: $pg_config --bindir failed\n" if $? != 0 || !-d $bindir;

# Read a whole file.
sub slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "docrun: cannot read $path: $!\n";
	local $/;
	my $text = <$fh>;
	close($fh);
	return $text;
}

# The lines of a text without trailing blanks, and without blank lines at
# either end: how outputs are compared.
sub normal
{
	my ($text) = @_;
	my @lines = map { s/\s+$//r } split /\n/, $text;
	shift @lines while @lines && $lines[0] eq '';
	pop @lines while @lines && $lines[-1] eq '';
	return join("\n", @lines);
}

# The blocks of one document: each ```sql block with its line, the
# docrun comments before its fence, and the plain ``` block after it.
sub blocks
{
	my ($path) = @_;
	my @lines = split /\n/, slurp($path), -1;
	my (@blocks, @notes);
	for (my $i = 0; $i < @lines; $i++)
	{
		my $line = $lines[$i];
		if ($line =~ /^\s*<!-- docrun\b/)
		{
			my $note = $line;
			$note .= "\n" . $lines[++$i] while $note !~ /-->\s*$/ && $i + 1 < @lines;
			push @notes, $note;
			next;
		}
		next if $line =~ /^\s*$/;
		# a fence may be indented (in a list item): so are its lines
		my ($indent) = $line =~ /^(\s*)```sql\s*$/;
		if (!defined $indent)
		{
			# a note belongs to the fence right after it (blank lines aside)
			die "docrun: $path:" . ($i + 1) . ": a docrun comment not followed by a ```sql block\n"
			  if @notes;
			next;
		}
		my %b = (file => $path, line => $i + 1, body => '');
		$i++;
		$b{body} .= ($lines[$i++] =~ s/^\Q$indent\E//r) . "\n"
		  while $i < @lines && $lines[$i] !~ /^\s*```\s*$/;
		for my $note (@notes)
		{
			my ($kind, $arg) = $note =~ /^\s*<!-- docrun (as|setup:|params:|skip:|output varies:)\s*(.*?)\s*-->\s*$/s
			  or die "docrun: $path:$b{line}: cannot read the comment $note\n";
			$kind =~ s/:$//;
			if ($kind eq 'setup') { $b{setup} .= "$arg\n"; }
			else                  { $b{$kind} = $arg; }
		}
		@notes = ();
		# the output block: the next non-blank line opens a plain fence
		my $j = $i + 1;
		$j++ while $j < @lines && $lines[$j] =~ /^\s*$/;
		if ($j < @lines && $lines[$j] =~ /^\s*```\s*$/)
		{
			my $out = '';
			$j++;
			$out .= ($lines[$j++] =~ s/^\Q$indent\E//r) . "\n"
			  while $j < @lines && $lines[$j] !~ /^\s*```\s*$/;
			$b{output} = $out;
			$i = $j;
		}
		push @blocks, \%b;
	}
	die "docrun: $path: a docrun comment at the end\n" if @notes;
	return @blocks;
}

# An output whose times vary from run to run, as compared: each result
# row's cells trimmed (so column widths do not count), and each timestamp
# written <time>.
sub masked
{
	my ($text) = @_;
	my @lines;
	for my $line (split /\n/, normal($text))
	{
		$line =~ s/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d(?::\d\d)?)?/<time>/g;
		$line = join('|', map { s/^\s+|\s+$//gr } split /\|/, $line, -1) if $line =~ /\|/;
		$line =~ s/^-+(?:\+-+)*$/---/;
		push @lines, $line;
	}
	return join("\n", @lines);
}

# A block's SQL with each $n replaced by the value its params comment
# gives ('$1 = V1, $2 = V2'; a value ends before ", $n =" or the end).
sub bind_params
{
	my ($b) = @_;
	my $sql = $b->{body};
	return $sql unless defined $b->{params};
	my %value = $b->{params} =~ /\$(\d+)\s*=\s*(.*?)\s*(?=,\s*\$\d+\s*=|$)/sg;
	$sql =~ s/\$(\d+)\b/exists $value{$1} ? $value{$1} : "\$$1"/ge;
	return $sql;
}

# The psql input for a document's blocks: before each, a marker and (its
# results discarded) its setup as the superuser, a second marker and the
# switch to its role, then a third marker and the block itself.
sub script
{
	my @blocks = @_;
	my $in = '';
	for my $n (0 .. $#blocks)
	{
		my $b = $blocks[$n];
		next if defined $b->{skip};
		$in .= "\\echo '\@\@docrun setup $n'\n\\o /dev/null\n";
		$in .= "RESET ROLE;\nRESET SESSION AUTHORIZATION;\n";
		$in .= ($b->{setup} // '') . "\n\\o\n\\echo '\@\@docrun role $n'\n";
		$in .= "SET SESSION AUTHORIZATION \"$b->{as}\";\n" if defined $b->{as};
		$in .= "\\echo '\@\@docrun block $n'\n";
		$in .= bind_params($b);
	}
	return $in;
}

my $dir = tempdir('docrun.XXXXXX', TMPDIR => 1, CLEANUP => !$keep);
my $data = "$dir/data";
# Run a command; die with its output if it fails.
sub run
{
	my $out = `@_ 2>&1`;
	die "docrun: @_ failed:\n$out" if $? != 0;
	return $out;
}
run("'$bindir/initdb' -D '$data' -U postgres -A trust --no-instructions >/dev/null");
open(my $conf, '>>', "$data/postgresql.conf") or die "docrun: $data/postgresql.conf: $!\n";
print $conf <<"CONF";
listen_addresses = ''
unix_socket_directories = '$dir'
fsync = off
shared_preload_libraries = 'biocrypt'
# the test key of test/regress.conf, never for use
biocrypt.root_key_command = 'echo 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
# as in test/regress.conf: warm galleries must not depend on the host's swap
biocrypt.gallery_swaps_file = '/dev/null'
biocrypt.gallery_memory = '64MB'
CONF
close($conf);
run("'$bindir/pg_ctl' -D '$data' -l '$dir/server.log' -w start >/dev/null");
my $started = 1;
END
{
	system("'$bindir/pg_ctl' -D '$data' -m fast stop >/dev/null 2>&1") if $started;
	print "docrun: kept $dir\n" if $keep && $started;
}
my $psql = "'$bindir/psql' -X -h '$dir' -U postgres";

my ($passed, $failed, @skipped) = (0, 0);
for my $path (@docs)
{
	my @blocks = blocks($path);
	next unless @blocks;
	my $name = $path =~ s/^\Q$root\E\///r;
	my $db = 'docrun_' . lc(basename($path, '.md') =~ s/\W/_/gr);
	my $roles = run("$psql -d postgres -Atc 'SELECT string_agg(quote_ident(rolname), chr(32)) FROM pg_roles'");
	my $dbs = run("$psql -d postgres -Atc 'SELECT string_agg(quote_ident(datname), chr(32)) FROM pg_database'");
	run("$psql -d postgres -qc 'CREATE DATABASE $db'");
	open(my $fh, '>', "$dir/$db.sql") or die "docrun: $dir/$db.sql: $!\n";
	print $fh script(@blocks);
	close($fh);
	my $out = `$psql -q -d $db <'$dir/$db.sql' 2>&1`;
	# "setup N", "role N" and "block N": what psql printed after each marker
	my %part = $out =~ /^\@\@docrun (\w+ \d+)\n(.*?)(?=^\@\@docrun |\z)/msg;
	for my $n (0 .. $#blocks)
	{
		my $b = $blocks[$n];
		my $where = "$name:$b->{line}";
		if (defined $b->{skip})
		{
			push @skipped, "$where: $b->{skip}";
			print "skipped: $where: $b->{skip}\n";
			next;
		}
		my $setup = $part{"setup $n"} // '';
		my $got = normal($part{"block $n"} // '');
		my $why = '';
		if (!exists $part{"block $n"})
		{
			$why = "it never ran (psql stopped before it)";
		}
		elsif (($part{"role $n"} // '') =~ /\S/)
		{
			$why = "it could not run as $b->{as}:\n" . $part{"role $n"};
		}
		elsif ((normal($b->{body}) =~ s/(\n\s*--[^\n]*)+\z//r) !~ /(;|\\\w[^\n]*)\s*(--[^\n]*)?\z/)
		{
			$why = "its last statement has no ';'";
		}
		elsif (defined $b->{output})
		{
			my $varies = defined $b->{'output varies'};
			my $want = normal($b->{output});
			$why = "its output differs:\n--- the doc\n$want\n--- psql\n$got"
			  if $varies ? masked($got) ne masked($want) : $got ne $want;
		}
		elsif ($got =~ /^(ERROR|FATAL|PANIC):/m)
		{
			$why = "it failed:\n$got";
		}
		if ($why eq '')
		{
			$passed++;
			my $note = defined $b->{'output varies'} ? " (times masked: $b->{'output varies'})" : '';
			print "ok: $where$note\n";
			print map { "    $_\n" } split /\n/, $got if $verbose;
		}
		else
		{
			# a setup may fail on purpose (a refusal on record), so its
			# errors only explain a failure
			$failed++;
			print "FAILED: $where: $why\n";
			print "--- its setup printed\n$setup" if $setup =~ /\S/;
		}
	}
	# the next document starts from a clean cluster: the databases and the
	# roles this one created go
	my %old = map { $_ => 1 } split ' ', $dbs;
	for my $d (split ' ', run("$psql -d postgres -Atc 'SELECT string_agg(quote_ident(datname), chr(32)) FROM pg_database'"))
	{
		run("$psql -d postgres -qc 'DROP DATABASE $d WITH (FORCE)'") unless $old{$d};
	}
	%old = map { $_ => 1 } split ' ', $roles;
	for my $role (split ' ', run("$psql -d postgres -Atc 'SELECT string_agg(quote_ident(rolname), chr(32)) FROM pg_roles'"))
	{
		run("$psql -d postgres -qc 'DROP ROLE $role'") unless $old{$role};
	}
}

print "docrun: " . scalar(@skipped) . " skipped:\n" . join('', map { "  $_\n" } @skipped) if @skipped;
$failed++ if $passed + $failed == 0;
print "docrun: $passed passed, $failed failed\n";
exit($failed ? 1 : 0);
