# Copyright (c) biocrypt authors
#
# Extraction attempts by a matcher, at the default settings of score
# disclosure (biocrypt.score_digits 2, biocrypt.score_budget 64 per
# biocrypt.score_window of 1 day).  A login role that is a member of
# biocrypt_matcher, has purpose 'verification' granted and may SELECT the
# table tries to rebuild canary templates from their scores, one statement
# per query, all statements of an attack in one psql session:
#
#   1. <#> against the 128 unit basis vectors e_i: x_i = -score_i;
#   2. <-> from the zero vector (d0) and from each e_i (d_i):
#      x_i = (d0^2 + 1 - d_i^2) / 2;
#   3. <#> against 129 random dense probes, then a linear solve: least
#      squares when there are at least as many scores as dimensions, else
#      the minimum-norm solution (P^T (P P^T)^-1 y), by Gaussian elimination
#      here in Perl;
#   4. <~> against the all-zero 2048-bit code, then each code with one bit
#      set: bit j is guessed 1 when its distance is below the all-zero one.
#
# A refused query teaches nothing: its component (or bit) stays 0.  Each
# attack must fail: the rebuilt vector's cosine similarity to the canary
# below 0.9 (fewer than 90 % of the bits right); exactly score_budget
# queries answered, with scores rounded to two places, every other one
# refused with SQLSTATE 53400 and the budget's message; and one denied
# audit row per refused statement, naming the canary's subject, with
# SQLSTATE 53400 and the reason "score budget: 64 of 64 since ...".
#
# The controls prove that the attacks themselves work: run as the
# superuser (exact scores, no budget), the same code rebuilds every canary
# (cosine > 0.999, every bit right), so the matcher's failure is the
# defence's doing.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;
use Time::HiRes qw(time);

my $started = time;
my $DIMS    = 128;
my $BITS    = 2048;
my $MATCHER = 'extract_matcher';

# default settings of score disclosure: nothing about them in the config
my $node = BiocryptNode->new_node('extraction',
	root_key => '13a7c0de13a7c0de13a7c0de13a7c0de13a7c0de13a7c0de13a7c0de13a7c0de',
	purpose  => 'verification');

is( $node->safe_psql(
		'postgres',
		"SELECT current_setting('biocrypt.score_digits') || ' ' || "
		  . "current_setting('biocrypt.score_budget') || ' ' || "
		  . "current_setting('biocrypt.score_window')"),
	'2 64 1d',
	'the defaults are in force: score_digits 2, score_budget 64, score_window 1d');
my $budget = 64;

srand(20261205);

# Round a double to float32, and print it so that float4in reads it back.
sub f32    { return unpack('f', pack('f', $_[0])); }
sub f32txt { return sprintf('%.9g', $_[0]); }
sub sql_array { return "'{" . join(',', map { f32txt($_) } @{ $_[0] }) . "}'::real[]"; }

# A standard normal deviate (Box-Muller).
sub gauss
{
	my $u = 1 - rand();
	return sqrt(-2 * log($u)) * cos(2 * 3.14159265358979 * rand());
}

# A random unit vector of float32 values, as an embedding model gives.
sub canary
{
	my @v = map { gauss() } 1 .. $DIMS;
	my $n = 0;
	$n += $_ * $_ for @v;
	return [ map { f32($_ / sqrt($n)) } @v ];
}

sub dot
{
	my ($a, $b) = @_;
	my $s = 0;
	$s += $a->[$_] * $b->[$_] for 0 .. $#$a;
	return $s;
}

# cosine similarity; 0 for a zero vector (nothing rebuilt)
sub cosine
{
	my ($a, $b) = @_;
	my ($aa, $bb) = (dot($a, $a), dot($b, $b));
	return 0 if $aa == 0 || $bb == 0;
	return dot($a, $b) / sqrt($aa * $bb);
}

my %truth = (
	'canary-ip'    => canary(),
	'canary-l2'    => canary(),
	'canary-solve' => canary());
my $code = join('', map { chr(int(rand(256))) } 1 .. $BITS / 8);
my $code_bits = unpack('B*', $code);    # bit j = byte j/8, MSB first

$node->safe_psql(
	'postgres', qq{
	CREATE TABLE t (id int PRIMARY KEY, tpl protected_template);
	INSERT INTO t VALUES
		(1, biocrypt.protect(@{[ sql_array($truth{'canary-ip'}) ]}, 'canary-ip')),
		(2, biocrypt.protect(@{[ sql_array($truth{'canary-l2'}) ]}, 'canary-l2')),
		(3, biocrypt.protect(@{[ sql_array($truth{'canary-solve'}) ]}, 'canary-solve')),
		(4, biocrypt.protect_bits('\\x@{[ unpack('H*', $code) ]}'::bytea, NULL, 'canary-iris'));
	CREATE ROLE $MATCHER LOGIN IN ROLE biocrypt_matcher;
	SELECT biocrypt.grant_purpose('$MATCHER', 'verification');
	GRANT SELECT ON t TO $MATCHER;
});

# ---------------------------------------------------------------------
# running the queries
# ---------------------------------------------------------------------

# Run each statement of @$stmts, one after the other in one psql session
# as $user (the superuser when undef), each its own statement in autocommit; after each, psql echoes
# a marker with the statement's number and its SQLSTATE (00000 when it
# succeeded).  Returns a list of [output, sqlstate] per statement, and
# psql's stderr (verbose errors: each with its SQLSTATE).
sub run_queries
{
	my ($user, $stmts) = @_;
	my $script = "\\set VERBOSITY verbose\n";
	$script .= "$stmts->[$_];\n\\echo '#q' $_ :SQLSTATE\n" for 0 .. $#$stmts;
	my ($ret, $out, $err) = $node->psql(
		'postgres', $script,
		on_error_stop => 0,
		extra_params  => [ defined $user ? ('-U', $user) : () ]);
	die "psql failed ($ret): $err" if $ret != 0;
	my @res;
	my @lines;
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^#q (\d+) (\w{5})$/)
		{
			die "marker $1 out of order" if $1 != @res;
			push @res, [ join("\n", @lines), $2 ];
			@lines = ();
		}
		else
		{
			push @lines, $line;
		}
	}
	die 'output after the last marker: ' . join('|', @lines) if @lines;
	return (\@res, $err);
}

# The checks of a matcher's attack on $subject: every statement ran,
# exactly the budget was answered with rounded scores, every other one was
# refused with 53400 and the budget's message.  Returns the number refused.
sub check_refusals
{
	my ($what, $res, $err, $n) = @_;
	is(scalar(@$res), $n, "$what: all $n statements ran");
	my @answered = grep { $_->[1] eq '00000' } @$res;
	my $refused = grep { $_->[1] eq '53400' } @$res;
	is(scalar(@answered), $budget, "$what: $budget queries answered (the budget)");
	is($refused, $n - $budget, "$what: the other " . ($n - $budget) . " refused with SQLSTATE 53400");
	my @msgs = $err =~ /ERROR:  53400: biocrypt: score budget spent for a subject$/mg;
	my @errors = $err =~ /ERROR:  /g;
	is(scalar(@msgs) . '/' . scalar(@errors),
		"$refused/$refused", "$what: each refusal says the score budget is spent, and no other error");
	is(scalar(grep { $_->[0] !~ /^-?\d+(\.\d{1,2})?$/ } @answered),
		0, "$what: every answered score is rounded to two places");
	return $refused;
}

my %refused;

# Note what the answered queries could give at best, had their scores been
# exact: the canary's projection onto the probes answered.
sub note_best
{
	my ($what, $best, $truth) = @_;
	note(sprintf('%s: with exact scores, the answered queries give at best cosine %.4f',
			$what, cosine($best, $truth)));
}

# The canary's components whose basis query was answered ($skip leading
# statements that are not basis queries; they must be answered too).
sub answered_part
{
	my ($res, $truth, $skip) = @_;
	my @s = scores($res);
	return [ map { 0 } @$truth ] if grep { !defined } @s[ 0 .. $skip - 1 ];
	return [ map { defined $s[ $_ + $skip ] ? $truth->[$_] : 0 } 0 .. $#$truth ];
}

# scores of statements, undef where refused
sub scores { return map { $_->[1] eq '00000' ? $_->[0] : undef } @{ $_[0] }; }

sub basis
{
	my ($i) = @_;
	my @e = (0) x $DIMS;
	$e[$i] = 1;
	return \@e;
}

# ---------------------------------------------------------------------
# 1. basis vectors against <#>
# ---------------------------------------------------------------------
my @ip_stmts =
  map { 'SELECT tpl <#> ' . sql_array(basis($_)) . ' FROM t WHERE id = 1' } 0 .. $DIMS - 1;

sub rebuild_ip { return [ map { defined $_ ? -$_ : 0 } scores($_[0]) ]; }

my ($res, $err) = run_queries($MATCHER, \@ip_stmts);
$refused{'canary-ip'} = check_refusals('<#> basis', $res, $err, $DIMS);
my %cos;
$cos{ip} = cosine(rebuild_ip($res), $truth{'canary-ip'});
cmp_ok($cos{ip}, '<', 0.9, sprintf('<#> basis: the rebuilt vector is far from the canary (cosine %.4f)', $cos{ip}));
note_best('<#> basis', answered_part($res, $truth{'canary-ip'}, 0), $truth{'canary-ip'});

($res, $err) = run_queries(undef, \@ip_stmts);
my $c = cosine(rebuild_ip($res), $truth{'canary-ip'});
cmp_ok($c, '>', 0.999,
	sprintf('control: as the superuser, the same <#> basis attack rebuilds the canary (cosine %.6f)', $c));

# ---------------------------------------------------------------------
# 2. zero and basis vectors against <->
# ---------------------------------------------------------------------
my @l2_stmts = (
	'SELECT tpl <-> ' . sql_array([ (0) x $DIMS ]) . ' FROM t WHERE id = 2',
	map { 'SELECT tpl <-> ' . sql_array(basis($_)) . ' FROM t WHERE id = 2' } 0 .. $DIMS - 1);

sub rebuild_l2
{
	my ($d0, @d) = scores($_[0]);
	return [ map { defined $d0 && defined $_ ? ($d0 * $d0 + 1 - $_ * $_) / 2 : 0 } @d ];
}

($res, $err) = run_queries($MATCHER, \@l2_stmts);
$refused{'canary-l2'} = check_refusals('<-> basis', $res, $err, $DIMS + 1);
$cos{l2} = cosine(rebuild_l2($res), $truth{'canary-l2'});
cmp_ok($cos{l2}, '<', 0.9, sprintf('<-> basis: the rebuilt vector is far from the canary (cosine %.4f)', $cos{l2}));
note_best('<-> basis', answered_part($res, $truth{'canary-l2'}, 1), $truth{'canary-l2'});

($res, $err) = run_queries(undef, \@l2_stmts);
$c = cosine(rebuild_l2($res), $truth{'canary-l2'});
cmp_ok($c, '>', 0.999,
	sprintf('control: as the superuser, the <-> basis attack rebuilds the canary (cosine %.6f)', $c));

# ---------------------------------------------------------------------
# 3. random dense probes against <#>, and a linear solve
# ---------------------------------------------------------------------

# Solve A z = b (A square, n x n) by Gaussian elimination with partial
# pivoting; A and b are copied.
sub solve
{
	my ($A, $b) = @_;
	my $n = @$b;
	my @M = map { [ @{ $A->[$_] }, $b->[$_] ] } 0 .. $n - 1;
	for my $k (0 .. $n - 1)
	{
		my $p = $k;
		for my $r ($k + 1 .. $n - 1) { $p = $r if abs($M[$r][$k]) > abs($M[$p][$k]); }
		die 'singular system' if abs($M[$p][$k]) < 1e-12;
		@M[ $k, $p ] = @M[ $p, $k ];
		for my $r ($k + 1 .. $n - 1)
		{
			my $f = $M[$r][$k] / $M[$k][$k];
			next if $f == 0;
			$M[$r][$_] -= $f * $M[$k][$_] for $k .. $n;
		}
	}
	my @z = (0) x $n;
	for my $k (reverse 0 .. $n - 1)
	{
		my $s = $M[$k][$n];
		$s -= $M[$k][$_] * $z[$_] for $k + 1 .. $n - 1;
		$z[$k] = $s / $M[$k][$k];
	}
	return \@z;
}

# The template from the scores y = P x obtained (rows of P whose query was
# answered): least squares (P^T P) x = P^T y with at least as many
# equations as dimensions, else the minimum-norm x = P^T z, (P P^T) z = y.
sub linear_rebuild
{
	my ($P, $y) = @_;
	my ($m, $n) = (scalar(@$P), $DIMS);
	return [ (0) x $n ] if $m == 0;
	if ($m >= $n)
	{
		my @A = map {
			my $i = $_;
			[ map { my $j = $_; my $s = 0; $s += $_->[$i] * $_->[$j] for @$P; $s } 0 .. $n - 1 ]
		} 0 .. $n - 1;
		my @b = map { my $i = $_; my $s = 0; $s += $P->[$_][$i] * $y->[$_] for 0 .. $m - 1; $s }
		  0 .. $n - 1;
		return solve(\@A, \@b);
	}
	my @G = map { my $r = $P->[$_]; [ map { dot($r, $_) } @$P ] } 0 .. $m - 1;
	my $z = solve(\@G, $y);
	return [ map { my $i = $_; my $s = 0; $s += $P->[$_][$i] * $z->[$_] for 0 .. $m - 1; $s }
		  0 .. $n - 1 ];
}

my @probes = map { [ map { f32(gauss()) } 1 .. $DIMS ] } 1 .. $DIMS + 1;
my @solve_stmts = map { 'SELECT tpl <#> ' . sql_array($_) . ' FROM t WHERE id = 3' } @probes;

# x from the answered queries: score = -(p . x)
sub rebuild_solve
{
	my @s = scores($_[0]);
	my @rows = grep { defined $s[$_] } 0 .. $#s;
	return linear_rebuild([ @probes[@rows] ], [ map { -$s[$_] } @rows ]);
}

($res, $err) = run_queries($MATCHER, \@solve_stmts);
$refused{'canary-solve'} = check_refusals('random probes', $res, $err, $DIMS + 1);
$cos{solve} = cosine(rebuild_solve($res), $truth{'canary-solve'});
cmp_ok($cos{solve}, '<', 0.9,
	sprintf('random probes: the minimum-norm solution is far from the canary (cosine %.4f)', $cos{solve}));
{
	my @s = scores($res);
	my @P = @probes[ grep { defined $s[$_] } 0 .. $#s ];
	note_best('random probes',
		linear_rebuild(\@P, [ map { dot($_, $truth{'canary-solve'}) } @P ]),
		$truth{'canary-solve'});
}

($res, $err) = run_queries(undef, \@solve_stmts);
$c = cosine(rebuild_solve($res), $truth{'canary-solve'});
cmp_ok($c, '>', 0.999,
	sprintf('control: as the superuser, the least-squares solve rebuilds the canary (cosine %.6f)', $c));

# ---------------------------------------------------------------------
# 4. single bits against <~>
# ---------------------------------------------------------------------
my @bit_stmts = ("SELECT tpl <~> '\\x" . ('00' x ($BITS / 8)) . "'::bytea FROM t WHERE id = 4");
for my $j (0 .. $BITS - 1)
{
	my $probe = ('0' x $j) . '1' . ('0' x ($BITS - 1 - $j));
	push @bit_stmts, "SELECT tpl <~> '\\x" . unpack('H*', pack('B*', $probe)) . "'::bytea FROM t WHERE id = 4";
}

# the fraction of the canary's bits that the guesses get right
sub bits_right
{
	my ($d0, @d) = scores($_[0]);
	my $right = 0;
	for my $j (0 .. $BITS - 1)
	{
		my $guess = (defined $d0 && defined $d[$j] && $d[$j] < $d0) ? '1' : '0';
		$right++ if $guess eq substr($code_bits, $j, 1);
	}
	return $right / $BITS;
}

($res, $err) = run_queries($MATCHER, \@bit_stmts);
$refused{'canary-iris'} = check_refusals('<~> single bits', $res, $err, $BITS + 1);
$cos{bits} = bits_right($res);
cmp_ok($cos{bits}, '<', 0.9,
	sprintf('<~> single bits: fewer than 90%% of the bits recovered (%.2f%%)', 100 * $cos{bits}));

($res, $err) = run_queries(undef, \@bit_stmts);
$c = bits_right($res);
is($c, 1, sprintf('control: as the superuser, the single-bit attack recovers the code (%.2f%%)', 100 * $c));

# ---------------------------------------------------------------------
# the audit: one denied row per refused statement
# ---------------------------------------------------------------------
# denied rows of the matcher that name $subject: all | with 53400 and a
# score-budget reason
my $denied = q{SELECT count(*) || '|' || count(*) FILTER (WHERE a.sqlstate = '53400'
		AND jsonb_array_length(a.matches) = 1
		AND a.matches->0->>'refused' ~ '^score budget: 64 of 64 since ')
	FROM biocrypt.audit_log a
	WHERE a.operation = 'denied' AND a.session_role = '%s'
	AND EXISTS (SELECT FROM jsonb_array_elements(a.matches) m WHERE m->>'subject' = '%s')};

# wait for the audit worker to write all of them (the most there are)
my $all = 0;
$all += $_ for values %refused;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) >= $all FROM biocrypt.audit_log WHERE operation = 'denied'"),
	"the audit worker wrote the $all denied rows");

for my $subject (sort keys %refused)
{
	my $n = $refused{$subject};
	is($node->safe_psql('postgres', sprintf($denied, $MATCHER, $subject)),
		"$n|$n",
		"$subject: $n denied rows for $n refused statements, each with 53400 and the budget's reason");
}
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM biocrypt.audit_log WHERE operation = 'denied' AND session_role <> '$MATCHER'"),
	'0',
	'no denied row for the superuser (exact, uncounted scores)');

note(sprintf('measured: <#> basis cosine %.4f, <-> basis cosine %.4f, random probes cosine %.4f, '
	  . 'bits right %.2f%%; %.1f s', $cos{ip}, $cos{l2}, $cos{solve}, 100 * $cos{bits}, time - $started));

$node->stop;

done_testing();
