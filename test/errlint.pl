#!/usr/bin/perl
# Every error, warning and notice biocrypt raises hides the statement and
# its context (PL/pgSQL's "SQL statement" line quotes the statement) from
# the server log, since a statement may carry a biometric: each
# ereport(ERROR|WARNING|NOTICE) in src/ names errhidestmt and
# errhidecontext, none uses elog() at those levels, and no errmsg is a bare
# "%s" filled elsewhere.
# Usage: perl test/errlint.pl [TREE]   (prints "errlint: N passed, N failed")
use strict;
use warnings;

my $tree = shift // '.';
chdir $tree or die "errlint: cannot enter $tree: $!\n";
my ($passed, $failed) = (0, 0);

for my $f (sort(glob('src/*.c'), glob('src/*/*.c')))
{
	open my $fh, '<', $f or die "errlint: $f: $!\n";
	my $text = do { local $/; <$fh> };
	close $fh;
	my $line = sub { 1 + (substr($text, 0, $_[0]) =~ tr/\n//) };

	while ($text =~ /\bereport\((ERROR|WARNING|NOTICE),/g)
	{
		my ($start, $depth, $i) = ($-[0], 1, pos($text));
		my $instr = 0;
		while ($depth > 0 && $i < length $text)
		{
			my $c = substr($text, $i++, 1);
			if ($instr) { $i++ if $c eq '\\'; $instr = 0 if $c eq '"'; }
			elsif ($c eq '"') { $instr = 1 }
			elsif ($c eq '(') { $depth++ }
			elsif ($c eq ')') { $depth-- }
		}
		my $call = substr($text, $start, $i - $start);
		next if $call =~ /must be loaded via shared_preload_libraries/;	# no statement yet
		if ($call =~ /errhidestmt\(true\)/ && $call =~ /errhidecontext\(true\)/) { $passed++ }
		else { $failed++; printf "FAIL: %s:%d: %s without errhidestmt and errhidecontext\n", $f, $line->($start), $1 }
	}
	while ($text =~ /\belog\((ERROR|WARNING|NOTICE),/g)
	{
		$failed++;
		printf "FAIL: %s:%d: elog(%s) cannot hide the statement\n", $f, $line->($-[0]), $1;
	}
	while ($text =~ /\berrmsg\("biocrypt: %s"/g)
	{
		$failed++;
		printf "FAIL: %s:%d: errmsg's format is filled elsewhere\n", $f, $line->($-[0]);
	}
}
print "errlint: $passed passed, $failed failed\n";
exit($failed ? 1 : 0);
