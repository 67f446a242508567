#!/usr/bin/perl
# Check that calls in src/ go one way, from higher layers to lower ones
# (docs/architecture.md).  Two views of the same rule:
#  - links: for every object file, each symbol it takes from another of
#    biocrypt's object files (nm), the defining file's layer must be one the
#    user's layer may call;
#  - includes: every #include "layer/..." in src/ names such a layer.
# Also refuses a circle of calls between files, inside a layer too.
# Usage: perl test/layers.pl [TREE]   (after make; prints "layers: N passed, N failed")
#        perl test/layers.pl --self-test   (shows that the check fails a bad tree)
use strict;
use warnings;

my $tree = shift // '.';

# --self-test: the check must fail on a tree that breaks the rule
if ($tree eq '--self-test')
{
	require File::Temp;
	my $dir = File::Temp::tempdir(CLEANUP => 1);
	mkdir "$dir/src";
	mkdir "$dir/src/$_" for qw(core audit);
	my %files = (
		'src/core/low.c'   => "#include \"audit/high.h\"\nint low(void) { return high(); }\n",
		'src/audit/high.h' => "int high(void);\n",
		'src/audit/high.c' => "int low(void);\nint high(void) { return low(); }\n",
	);
	for my $f (keys %files)
	{
		open my $fh, '>', "$dir/$f" or die "layers: $dir/$f: $!\n";
		print $fh $files{$f};
		close $fh;
	}
	for my $c ('src/core/low.c', 'src/audit/high.c')
	{
		(my $o = $c) =~ s/\.c$/.o/;
		system("cc -c -I$dir/src -o $dir/$o $dir/$c") == 0
		  or die "layers: cannot compile the self-test\n";
	}
	my $out = `perl $0 $dir`;
	# a call up, an include up, and the circle they make
	my $ok = $? != 0 && $out =~ /calls high/ && $out =~ /includes audit/
	  && $out =~ /circle of calls/;
	print $out unless $ok;
	print "layers self-test: ", ($ok ? "1 passed, 0 failed" : "0 passed, 1 failed"), "\n";
	exit($ok ? 0 : 1);
}

chdir $tree or die "layers: cannot enter $tree: $!\n";

# Each layer and the layers it may call (itself included); src/biocrypt.c,
# the module's entry point and hook dispatcher, may call all of them.
my %may = (
	base      => [qw(base)],
	core      => [qw(core base)],
	crypto    => [qw(crypto core base)],
	template  => [qw(template crypto core base)],
	audit     => [qw(audit template crypto core base)],
	gallery   => [qw(gallery audit template crypto core base)],
	match     => [qw(match gallery audit template crypto core base)],
	lifecycle => [qw(lifecycle gallery audit template crypto core base)],
	root      => [qw(root lifecycle match gallery audit template crypto core base)],
);

my ($passed, $failed) = (0, 0);
sub verdict
{
	my ($ok, $what) = @_;
	if ($ok) { $passed++ } else { $failed++; print "FAIL: $what\n" }
}

sub layer_of
{
	my ($path) = @_;
	return 'root' if $path =~ m{^src/[^/]+$};
	return $1 if $path =~ m{^src/([^/]+)/};
	return undef;
}

# objects of the sources there are now (a renamed file leaves a stale one)
my @objs = grep { (my $c = $_) =~ s/\.o$/.c/; -e $c } sort(glob('src/*.o'), glob('src/*/*.o'));
die "layers: no object files under src/: run make first\n" unless @objs;
for my $o (@objs)
{
	(my $c = $o) =~ s/\.o$/.c/;
	die "layers: $o is older than $c: run make first\n" if -M $o > -M $c;
}

# links
my (%def, %edges);
for my $o (@objs)
{
	for (`nm --defined-only -g $o`)
	{
		my @f = split;
		$def{ $f[2] } = $o if @f == 3;
	}
}
for my $o (@objs)
{
	for (`nm -u $o`)
	{
		my ($sym) = (split)[-1];
		my $d = $def{$sym} or next;
		next if $d eq $o;
		my ($from, $to) = (layer_of($o), layer_of($d));
		my $ok = grep { $_ eq $to } @{ $may{$from} };
		verdict($ok, "$o ($from) calls $sym in $d ($to)");
		$edges{$o}{$d} = 1;
	}
}

# includes
for my $f (sort(glob('src/*.[ch]'), glob('src/*/*.[ch]')))
{
	my $from = layer_of($f);
	open my $fh, '<', $f or die "layers: $f: $!\n";
	while (<$fh>)
	{
		next unless /^\s*#\s*include\s+"([a-z]+)\/[^"]+"/;
		my $to = $1;
		next unless $may{$to};	# a PostgreSQL header
		my $ok = grep { $_ eq $to } @{ $may{$from} };
		verdict($ok, "$f ($from) includes $to/ (line $.)");
	}
	close $fh;
}

# circles between files: depth-first search for a back edge
my (%state, @stack);
sub visit
{
	my ($n) = @_;
	$state{$n} = 1;
	push @stack, $n;
	for my $m (sort keys %{ $edges{$n} // {} })
	{
		if (($state{$m} // 0) == 1)
		{
			my @ring = @stack[(grep { $stack[$_] eq $m } 0 .. $#stack)[0] .. $#stack];
			verdict(0, "circle of calls: " . join(' -> ', @ring, $m));
		}
		elsif (!$state{$m})
		{
			visit($m);
		}
	}
	pop @stack;
	$state{$n} = 2;
}
for my $o (@objs)
{
	visit($o) unless $state{$o};
}
verdict(1, 'circles');

print "layers: $passed passed, $failed failed\n";
exit($failed ? 1 : 0);
