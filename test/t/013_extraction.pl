# Copyright (c) biocrypt authors
#
# Extraction attempts by a matcher, at the default settings of score
# disclosure (biocrypt.score_digits 2, biocrypt.score_budget 64 per
# biocrypt.score_window of 1 day).  A login role that is a member of
# biocrypt_matcher, has purpose 'verification' granted and may SELECT the
# table tries to rebuild canary templates (128 dimensions, unit norm, and
# 2048-bit codes) from their scores, one statement per query, the
# statements of an attack fed to one psql session:
#
#   1. <#> against the 128 unit basis vectors e_i: x_i = -score_i;
#   2. <-> from the zero vector (d0) and from each e_i (d_i):
#      x_i = (d0^2 + 1 - d_i^2) / 2;
#   3. <#> against 129 random dense probes, then a linear solve: least
#      squares when there are at least as many scores as dimensions, else
#      the minimum-norm solution P^T (P P^T)^-1 y, by Gaussian elimination
#      here in Perl;
#   4. <~> against the all-zero code, then each code with one bit set:
#      bit j is guessed 1 when its distance is below the all-zero one;
#
# A refused query teaches nothing: its component (or bit) stays 0.  Each
# attack must fail: the rebuilt vector's cosine similarity to the canary
# below 0.9 (fewer than 90 % of the bits right); exactly score_budget
# queries answered, with scores rounded to two places, every other one
# refused with SQLSTATE 53400 and the budget's message; and one denied
# audit row per refused statement, naming the canary's subject, with
# SQLSTATE 53400 and the reason "score budget: 64 of 64 within 1d".
#
# Two controls show that the attacks work, so that their failure is the
# budget's doing: as the superuser (exact scores, no budget) every attack
# rebuilds its canary (cosine > 0.999, every bit right); and as the
# matcher in a session where the superuser switched the budget off
# (biocrypt.score_budget = -1, rounding still on), attacks 1, 2 and 3
# still do (cosine > 0.99).  Attack 4 is not run there: one bit moves the
# distance by 1/2048, which two places hide, so the rounding alone defeats
# it.  In its place runs an attack that gets past the rounding, and that
# needs far more scores than the budget gives:
#
#   5. <~> along codes with bits 0..m-1 set, m = 0..128, until the
#      rounded distance changes between m-1 and m; the code with m-1 bits
#      then lies next to a rounding boundary, and flipping any one bit of
#      it crosses the boundary or not as that bit of the template says
#      (2048 more queries).  It must recover every bit, from more than
#      score_budget scores.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;
use Time::HiRes qw(time sleep);

my $started = time;
my $DIMS    = 128;
my $BITS    = 2048;
my $WALK    = 128;
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

# canaries: vectors by subject, codes as bit strings (bit j = byte j/8,
# most significant bit first)
my %truth = map { $_ => canary() } qw(canary-ip canary-l2 canary-solve);
my %code =
  map { $_ => unpack('B*', join('', map { chr(int(rand(256))) } 1 .. $BITS / 8)) }
  qw(canary-iris canary-iris-walk);

sub bytea { return "'\\x" . unpack('H*', pack('B*', $_[0])) . "'::bytea"; }

$node->safe_psql(
	'postgres', qq{
	CREATE TABLE t (id int PRIMARY KEY, tpl protected_template);
	INSERT INTO t VALUES
		(1, biocrypt.protect(@{[ sql_array($truth{'canary-ip'}) ]}, 'canary-ip')),
		(2, biocrypt.protect(@{[ sql_array($truth{'canary-l2'}) ]}, 'canary-l2')),
		(3, biocrypt.protect(@{[ sql_array($truth{'canary-solve'}) ]}, 'canary-solve')),
		(4, biocrypt.protect_bits(@{[ bytea($code{'canary-iris'}) ]}, NULL, 'canary-iris')),
		(5, biocrypt.protect_bits(@{[ bytea($code{'canary-iris-walk'}) ]}, NULL, 'canary-iris-walk'));
	CREATE ROLE $MATCHER LOGIN IN ROLE biocrypt_matcher;
	SELECT biocrypt.grant_purpose('$MATCHER', 'verification');
	GRANT SELECT ON t TO $MATCHER;
});

# ---------------------------------------------------------------------
# running the queries
# ---------------------------------------------------------------------

# Who asks: the matcher at the defaults; the matcher with the budget
# switched off for its session by the superuser (scores still rounded);
# the superuser (exact scores, no budget).
my %mode = (
	matcher  => { user => $MATCHER, prefix => '' },
	rounding => {
		user   => undef,
		prefix => "SET biocrypt.score_budget = -1;\nSET ROLE $MATCHER;\n"
	},
	superuser => { user => undef, prefix => '' });

# Run each statement of @$stmts, one after the other in one psql session
# of $mode, each its own statement in autocommit; after each, psql echoes
# a marker with the statement's number and its SQLSTATE (00000 when it
# succeeded).  Returns a list of [output, sqlstate] per statement, and
# psql's stderr (verbose errors: each with its SQLSTATE).
sub run_queries
{
	my ($mode, $stmts) = @_;
	my $script = "\\set VERBOSITY verbose\n" . $mode{$mode}{prefix};
	$script .= "$stmts->[$_];\n\\echo '#q' $_ :SQLSTATE\n" for 0 .. $#$stmts;
	my $user = $mode{$mode}{user};
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
	die 'statements missing: ' . scalar(@res) . ' of ' . scalar(@$stmts) if @res != @$stmts;
	return (\@res, $err);
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
# the attacks: each runs its statements in a mode and returns the
# results of all its statements, their stderr, and what it rebuilt
# (a cosine, or the fraction of bits right); a vector attack also the
# best it could have rebuilt from the same queries had their scores been
# exact: the canary's projection onto the probes answered
# ---------------------------------------------------------------------
my %attack;

# 1. <#> against the basis vectors
$attack{'<#> basis'} = {
	subject => 'canary-ip',
	run     => sub {
		my ($res, $err) = run_queries(
			$_[0],
			[ map { 'SELECT tpl <#> ' . sql_array(basis($_)) . ' FROM t WHERE id = 1' } 0 .. $DIMS - 1 ]);
		my @s = scores($res);
		my $x = [ map { defined $_ ? -$_ : 0 } @s ];
		my $t = $truth{'canary-ip'};
		my $best = [ map { defined $s[$_] ? $t->[$_] : 0 } 0 .. $DIMS - 1 ];
		return ($res, $err, cosine($x, $t), cosine($best, $t));
	}
};

# 2. <-> from zero and from the basis vectors
$attack{'<-> basis'} = {
	subject => 'canary-l2',
	run     => sub {
		my ($res, $err) = run_queries(
			$_[0],
			[
				'SELECT tpl <-> ' . sql_array([ (0) x $DIMS ]) . ' FROM t WHERE id = 2',
				map { 'SELECT tpl <-> ' . sql_array(basis($_)) . ' FROM t WHERE id = 2' } 0 .. $DIMS - 1
			]);
		my ($d0, @d) = scores($res);
		my $x = [ map { defined $d0 && defined $_ ? ($d0 * $d0 + 1 - $_ * $_) / 2 : 0 } @d ];
		my $t = $truth{'canary-l2'};
		my $best = [ map { defined $d0 && defined $d[$_] ? $t->[$_] : 0 } 0 .. $DIMS - 1 ];
		return ($res, $err, cosine($x, $t), cosine($best, $t));
	}
};

# Solve A z = b (A square) by Gaussian elimination with partial pivoting.
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

# P^T v for the m rows of P
sub transposed_times
{
	my ($P, $v) = @_;
	return [ map { my $i = $_; my $s = 0; $s += $P->[$_][$i] * $v->[$_] for 0 .. $#$P; $s }
		  0 .. $DIMS - 1 ];
}

# The template from the scores y = P x obtained (the rows of P whose query
# was answered): least squares, (P^T P) x = P^T y, with at least as many
# equations as dimensions; else the minimum-norm x = P^T z, (P P^T) z = y,
# which is the template's projection onto the rows of P.
sub linear_rebuild
{
	my ($P, $y) = @_;
	return [ (0) x $DIMS ] if !@$P;
	if (@$P >= $DIMS)
	{
		my @cols = map { my $i = $_; [ map { $_->[$i] } @$P ] } 0 .. $DIMS - 1;
		my @A = map { my $c = $_; [ map { dot($c, $_) } @cols ] } @cols;
		return solve(\@A, transposed_times($P, $y));
	}
	my @G = map { my $r = $_; [ map { dot($r, $_) } @$P ] } @$P;
	return transposed_times($P, solve(\@G, $y));
}

# 3. random dense probes against <#>, and a linear solve
my @probes = map { [ map { f32(gauss()) } 1 .. $DIMS ] } 1 .. $DIMS + 1;
$attack{'random probes'} = {
	subject => 'canary-solve',
	run     => sub {
		my ($res, $err) = run_queries($_[0],
			[ map { 'SELECT tpl <#> ' . sql_array($_) . ' FROM t WHERE id = 3' } @probes ]);
		my @s = scores($res);
		my @rows = grep { defined $s[$_] } 0 .. $#s;
		# score = -(p . x)
		my @P = @probes[@rows];
		my $x = linear_rebuild(\@P, [ map { -$s[$_] } @rows ]);
		my $t = $truth{'canary-solve'};
		my $best = linear_rebuild(\@P, [ map { dot($_, $t) } @P ]);
		return ($res, $err, cosine($x, $t), cosine($best, $t));
	}
};

# the fraction of $subject's bits that @$guess gets right
sub bits_right
{
	my ($subject, $guess) = @_;
	my $right = grep { $guess->[$_] eq substr($code{$subject}, $_, 1) } 0 .. $BITS - 1;
	return $right / $BITS;
}

# a code of $BITS bits: $base with bit $j flipped
sub flip
{
	my ($base, $j) = @_;
	substr($base, $j, 1) = 1 - substr($base, $j, 1);
	return $base;
}

my $zero = '0' x $BITS;

# 4. single bits against <~>
$attack{'<~> single bits'} = {
	subject => 'canary-iris',
	run     => sub {
		my @codes = ($zero, map { flip($zero, $_) } 0 .. $BITS - 1);
		my ($res, $err) =
		  run_queries($_[0], [ map { 'SELECT tpl <~> ' . bytea($_) . ' FROM t WHERE id = 4' } @codes ]);
		my ($d0, @d) = scores($res);
		my @guess = map { defined $d0 && defined $_ && $_ < $d0 ? 1 : 0 } @d;
		return ($res, $err, bits_right('canary-iris', \@guess));
	}
};

# 5. single bits next to a rounding boundary.  Walk: codes with bits
# 0..m-1 set; where the rounded distance first changes between m-1 and m,
# the code B with m-1 bits is one bit from a boundary, on the side "up"
# says.  Flipping bit j of B moves the distance one bit up when bit j of
# the template differs from B's after the flip: it crosses exactly when
# that move goes toward the boundary.  Without such a B (a walk cut short
# by refusals) nothing is learnt.
$attack{'<~> boundary walk'} = {
	subject => 'canary-iris-walk',
	run     => sub {
		my ($mode) = @_;
		my @walk = map { ('1' x $_) . ('0' x ($BITS - $_)) } 0 .. $WALK;
		my ($res, $err) =
		  run_queries($mode, [ map { 'SELECT tpl <~> ' . bytea($_) . ' FROM t WHERE id = 5' } @walk ]);
		my @w = scores($res);
		my ($m) =
		  grep { defined $w[ $_ - 1 ] && defined $w[$_] && $w[$_] != $w[ $_ - 1 ] } 1 .. $WALK;
		my $base = defined $m ? $walk[ $m - 1 ] : $zero;
		my ($res2, $err2) = run_queries($mode,
			[ map { 'SELECT tpl <~> ' . bytea(flip($base, $_)) . ' FROM t WHERE id = 5' } 0 .. $BITS - 1 ]);
		my @d = scores($res2);
		my @guess = (0) x $BITS;
		if (defined $m)
		{
			my $up = $w[$m] > $w[ $m - 1 ];
			for my $j (0 .. $BITS - 1)
			{
				next unless defined $d[$j];
				# did the flip move the distance up (the flipped bit then
				# differs from the template's)?  A change says which way;
				# no change means away from the boundary.
				my $went_up = $d[$j] != $w[ $m - 1 ] ? $d[$j] > $w[ $m - 1 ] : !$up;
				my $flipped = 1 - substr($base, $j, 1);
				$guess[$j] = $went_up ? 1 - $flipped : $flipped;
			}
		}
		note("$mode: boundary walk found a boundary after " . ($m // 'no') . ' steps');
		# the scores the guesses rest on: the walk up to m, and the flips
		my $used = defined $m ? $m + 1 + grep { defined } @d : 0;
		return ([ @$res, @$res2 ], $err . $err2, bits_right('canary-iris-walk', \@guess), undef,
			$used);
	}
};

my @order = ('<#> basis', '<-> basis', 'random probes', '<~> single bits');
sub is_bits { return $_[0] =~ /^<~>/; }

sub show
{
	my ($name, $v) = @_;
	return is_bits($name) ? sprintf('%.2f%% of bits right', 100 * $v) : sprintf('cosine %.4f', $v);
}

# ---------------------------------------------------------------------
# the matcher at the defaults
# ---------------------------------------------------------------------
# A window of 1 day starts at midnight UTC: an attack that straddled it
# would get a second budget.  The attacks take seconds.
my $left = 86400 - time % 86400;
if ($left < 120)
{
	note("waiting ${left} s for the next score window");
	sleep($left + 1);
}

my (%refused, %got);
for my $name (@order)
{
	my ($res, $err, $v, $best) = $attack{$name}{run}->('matcher');
	$got{matcher}{$name} = $v;
	note(sprintf('%s: the answered queries, with exact scores, could give at best cosine %.4f',
			$name, $best))
	  if defined $best;
	my $n = @$res;
	my @answered = grep { $_->[1] eq '00000' } @$res;
	my $refused = grep { $_->[1] eq '53400' } @$res;
	$refused{ $attack{$name}{subject} } = $refused;
	is(scalar(@answered), $budget, "$name: $budget of $n queries answered (the budget)");
	is($refused, $n - $budget, "$name: the other " . ($n - $budget) . " refused with SQLSTATE 53400");
	my @msgs = $err =~ /ERROR:  53400: biocrypt: score budget spent for a subject$/mg;
	my @errors = $err =~ /ERROR:  /g;
	is(scalar(@msgs) . '/' . scalar(@errors),
		"$refused/$refused", "$name: each refusal says the score budget is spent, and no other error");
	is(scalar(grep { $_->[0] !~ /^-?\d+(\.\d{1,2})?$/ } @answered),
		0, "$name: every answered score is rounded to two places");
	cmp_ok($v, '<', 0.9, "$name: the matcher does not rebuild the canary (" . show($name, $v) . ')');
}

# ---------------------------------------------------------------------
# the controls: the attacks work where the budget does not hold
# ---------------------------------------------------------------------
for my $name (@order)
{
	my ($res, $err, $v) = $attack{$name}{run}->('superuser');
	$got{superuser}{$name} = $v;
	my $bad = grep { $_->[1] ne '00000' } @$res;
	if (is_bits($name))
	{
		is("$bad|$v", '0|1', "superuser: $name recovers every bit, every query answered");
	}
	else
	{
		ok($bad == 0 && $v > 0.999,
			"superuser: $name rebuilds the canary (" . show($name, $v) . "), every query answered");
	}
}
# as the matcher without a budget, attacks 1, 2, 3 and 5
for my $name ('<#> basis', '<-> basis', 'random probes', '<~> boundary walk')
{
	my ($res, $err, $v, $best, $used) = $attack{$name}{run}->('rounding');
	$got{rounding}{$name} = $v;
	my $bad = grep { $_->[1] ne '00000' } @$res;
	if (is_bits($name))
	{
		is("$bad|$v", '0|1',
			"matcher without budget: $name recovers every bit despite the rounding (" . show($name, $v) . ')');
		cmp_ok($used, '>', $budget, "$name: it needs $used scores, more than the budget of $budget");
	}
	else
	{
		ok($bad == 0 && $v > 0.99,
			"matcher without budget: $name rebuilds the canary despite the rounding ("
			  . show($name, $v) . ')');
	}
}

# ---------------------------------------------------------------------
# the audit: one denied row per refused statement
# ---------------------------------------------------------------------
# the matcher's denied rows that name $subject: all | those with 53400, one
# entry, and the budget's reason
my $denied = qq{SELECT count(*) || '|' || count(*) FILTER (WHERE a.sqlstate = '53400'
		AND jsonb_array_length(a.matches) = 1
		AND a.matches->0->>'refused' ~ '^score budget: $budget of $budget within 1d\$')
	FROM biocrypt.audit_log a
	WHERE a.operation = 'denied' AND a.session_role = '$MATCHER'
	AND EXISTS (SELECT FROM jsonb_array_elements(a.matches) m WHERE m->>'subject' = '%s')};

# wait for the audit worker to write all of them (the most there are)
my $all = 0;
$all += $_ for values %refused;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) >= $all FROM biocrypt.audit_log WHERE operation = 'denied'"),
	"the audit worker wrote the $all denied rows");

for my $name (@order)
{
	my $subject = $attack{$name}{subject};
	my $n = $refused{$subject};
	is($node->safe_psql('postgres', sprintf($denied, $subject)),
		"$n|$n", "$name: $n denied rows about $subject for $n refused statements, "
		  . "each with 53400 and the budget's reason");
}
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM biocrypt.audit_log WHERE operation = 'denied' AND session_role <> '$MATCHER'"),
	'0',
	'no denied row for the controls (no budget)');

for my $mode (qw(matcher rounding superuser))
{
	note("measured, $mode: "
		  . join(', ', map { "$_ " . show($_, $got{$mode}{$_}) } sort keys %{ $got{$mode} }));
}
note(sprintf('%.1f s', time - $started));

# -- the window slides: the start of a new window gives no second budget.
# With a 2-second window and a budget of 1, a role that spent its budget in
# one window is still refused anywhere in the next one (its score counts by
# the share of the previous window still within 2 s, rounded up: 1), and is
# answered once a whole window without scores has passed.  Fixed windows
# would answer at once in the next one.
$node->safe_psql(
	'postgres', q{
	ALTER SYSTEM SET biocrypt.score_window = '2s';
	ALTER SYSTEM SET biocrypt.score_budget = 1;
	SELECT pg_reload_conf();
	INSERT INTO t VALUES (100, biocrypt.protect('{3,4}', 'slide'));
});
ok($node->poll_query_until('postgres', "SELECT current_setting('biocrypt.score_window') = '2s'"),
	'sliding window: 2 s windows in force');

# wait until $lo..$hi seconds into a 2-second window numbered $min or
# later (windows start at even seconds since 2000-01-01, and so at even
# Unix seconds); returns the window's number
sub into_window
{
	my ($min, $lo, $hi) = @_;
	while (1)
	{
		my $now = time;
		my $w   = int($now / 2);
		my $pos = $now - 2 * $w;
		return $w if $w >= $min && $pos >= $lo && $pos < $hi;
		sleep(0.02);
	}
}
my $slide = "SELECT tpl <=> '{3,4}'::real[] FROM t WHERE id = 100";
my $w = into_window(0, 0.1, 0.4);
my ($early) = run_queries('matcher', [ ($slide) x 2 ]);
is(join(',', map { $_->[1] } @$early), '00000,53400',
	'sliding window: one score answered, the second refused');
into_window($w + 1, 0.0, 0.5);
my ($next) = run_queries('matcher', [$slide]);
is($next->[0][1], '53400', 'sliding window: refused just after the next window starts');
into_window($w + 2, 0.0, 0.5);
my ($later) = run_queries('matcher', [$slide]);
is($later->[0][1], '00000', 'sliding window: answered once a window without scores has passed');

# -- a statement that runs across a window boundary cannot move the counts
# back: with a budget of 2, session A scores once, sleeps into the next
# window and scores again within the same statement, while session B
# scores in the new window before and after it.  Had A's second score
# moved the counts back to its statement's window, they would start
# afresh and all four would be answered.
$node->safe_psql('postgres',
	"ALTER SYSTEM SET biocrypt.score_budget = 2; SELECT pg_reload_conf();");
ok($node->poll_query_until('postgres', "SELECT current_setting('biocrypt.score_budget') = '2'"),
	'across windows: budget 2 in force');
$node->safe_psql('postgres', "INSERT INTO t VALUES (101, biocrypt.protect('{3,4}', 'slide-2'))");
my $score2 = "SELECT tpl <=> '{3,4}'::real[] FROM t WHERE id = 101";
my $a = $node->background_psql('postgres', on_error_stop => 0, extra_params => [ '-U', $MATCHER ]);
$w = into_window(0, 0.1, 0.3);
$a->query_until(qr/a started/, qq{\\echo a started
DO \$\$
DECLARE
	got text := '';
BEGIN
	PERFORM tpl <=> '{3,4}'::real[] FROM t WHERE id = 101;
	got := 'ok';
	-- into the next window, 0.6 s after its start
	PERFORM pg_sleep(2 - extract(epoch FROM clock_timestamp())::numeric % 2 + 0.6);
	BEGIN
		PERFORM tpl <=> '{3,4}'::real[] FROM t WHERE id = 101;
		got := got || ',ok';
	EXCEPTION WHEN OTHERS THEN
		got := got || ',' || SQLSTATE;
	END;
	RAISE NOTICE 'a: %', got;
END
\$\$;
\\echo a done
});
into_window($w + 1, 0.2, 0.4);
my ($b1) = run_queries('matcher', [$score2]);
into_window($w + 1, 0.9, 1.2);
my ($b2) = run_queries('matcher', [$score2]);
$a->query_until(qr/a done/, '');
like($a->{stderr}, qr/a: ok,53400/, 'across windows: the long statement\'s second score is refused');
is($b1->[0][1] . ',' . $b2->[0][1], '00000,53400',
	'across windows: the other session is answered once, then refused');
$a->quit;

$node->stop;

done_testing();
