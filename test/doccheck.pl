#!/usr/bin/perl
# Copyright (c) biocrypt authors
#
# Two checks.  The compliance guide's queries are the ones
# test/sql/compliance.sql runs: each ```sql block of docs/compliance.md that starts with "-- query <name>"
# must equal, line for line, the text between "-- query <name>" and
# "-- end" in test/sql/compliance.sql (the guide's final ';' aside), and
# every query the test runs must be in the guide.  And docs/security.md's
# privilege matrix is the one test/sql/privileges.sql prints.  Prints one
# line per check and "doccheck: N passed, N failed"; exits non-zero on a
# failure.
use strict;
use warnings;

my $root = shift // '.';

# Read a whole file.
sub slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "doccheck: cannot read $path: $!\n";
	local $/;
	my $text = <$fh>;
	close($fh);
	return $text;
}

# Lines without trailing blanks, and without the statement's final ';'.
sub normal
{
	my ($text) = @_;
	my @lines = map { s/\s+$//r } split /\n/, $text;
	pop @lines while @lines && $lines[-1] eq '';
	$lines[-1] =~ s/;$// if @lines;
	return join("\n", @lines);
}

my %doc;
my $guide = slurp("$root/docs/compliance.md");
while ($guide =~ /^```sql\n(-- query (\S+)\n.*?)^```/msg)
{
	$doc{$2} = normal($1);
}
my %test;
my $sql = slurp("$root/test/sql/compliance.sql");
while ($sql =~ /^(-- query (\S+)\n.*?)^-- end$/msg)
{
	$test{$2} = normal($1);
}

my ($passed, $failed) = (0, 0);
for my $name (sort keys %{ { %doc, %test } })
{
	my $why =
		!exists $test{$name} ? 'in the guide, not run by test/sql/compliance.sql'
	  : !exists $doc{$name} ? 'run by test/sql/compliance.sql, not in the guide'
	  : $doc{$name} ne $test{$name} ? 'the guide and the test differ'
	  :                               '';
	if ($why eq '')
	{
		$passed++;
		print "ok: query $name\n";
	}
	else
	{
		$failed++;
		print "FAILED: query $name: $why\n";
	}
}
# The privilege matrix: docs/security.md shows, in the text block after
# its marker line, every result table of test/expected/privileges.out
# whose header names the roles, exactly as the test prints them.
my $marker = '<!-- privilege matrix: test/expected/privileges.out -->';
my @tables;
my $expected = slurp("$root/test/expected/privileges.out");
while ($expected =~ /^([^\n]*\| en ve ma au ad st pl ow[^\n]*\n-[-+]*\n.*?^\(\d+ rows?\)\n)/msg)
{
	push @tables, $1;
}
my ($block) = slurp("$root/docs/security.md") =~ /^\Q$marker\E\n```text\n(.*?)^```$/ms;
my $matrix = join("\n", @tables);
if (@tables >= 3 && defined $block && normal($block) eq normal($matrix))
{
	$passed++;
	print "ok: privilege matrix (" . scalar(@tables) . " tables)\n";
}
else
{
	$failed++;
	print "FAILED: privilege matrix: docs/security.md and test/expected/privileges.out differ\n";
}

$failed++ if $passed + $failed == 0;
print "doccheck: $passed passed, $failed failed\n";
exit($failed ? 1 : 0);
