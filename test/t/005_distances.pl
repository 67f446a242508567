# Copyright (c) biocrypt authors
#
# Differential test of the distance kernels (in the spirit of pgvector's
# 034_distance_functions.pl): for every kernel path the CPU supports
# (biocrypt.simd = portable, avx2, avx512), every metric computed by
# biocrypt on encrypted templates is compared with a reference computed
# here in Perl, in double precision, from the values the server stores.
#
# Embeddings: 198 random template/probe pairs, 11 for each of dims 1, 3, 17,
# 511, 512 and 1023 and formats f32, f16 and i8, with magnitudes 1e-3, 1
# and 300, signed values, zero vectors, identical and opposite pairs.  The
# f32 inputs are float32 values sent with 9 significant digits, so the
# server stores them bit for bit (checked); the reference uses what
# biocrypt.reveal() returns, so f16 and i8 are judged on their quantised
# values.  Agreement: |got - ref| <= 1e-5 |ref| plus a small absolute term
# on the metric's scale for results near 0 (float32 sums cancel):
# 1e-6 (|p| + |t|) for l2, 1e-6 for cosine, 1e-6 |p| |t| for the inner
# product.  NaN (cosine with a zero vector) must match NaN.
#
# Bit codes: 40 random 2048-bit codes with masks, layout {8,128,2}, against
# 120 probes (rotated and noisy copies, random codes, with and without
# masks, some with too few valid bits); iris_distance() at max_shift 0 and
# 8 and <~> must equal, exactly, a Perl reference that follows src/iris.c:
# bits MSB first, shift s compares template column c with probe column
# (c + s) mod cols in every row, distance = differing valid bits / bits
# valid in both masks, minimised over shifts, NULL below
# biocrypt.min_common_bits (64) valid bits.
use strict;
use warnings;
use feature 'bitwise';
no warnings 'experimental::bitwise';

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $node = BiocryptNode->new_node('distances',
	root_key => '5a5b5c5d5e5f505152535455565758595a5b5c5d5e5f50515253545556575859',
	purpose  => 'verification');

srand(20240607);

# Round a double to float32.
sub f32 { return unpack('f', pack('f', $_[0])); }

# A float32 as text that float4in reads back to the same value.
sub f32txt { return sprintf('%.9g', $_[0]); }

# Hex of float4send (big-endian) back to a number, and a number to it.
sub hex2f { return unpack('f>', pack('H8', $_[0])); }
sub f2hex { return unpack('H8', pack('f>', $_[0])); }

sub sql_array { return '{' . join(',', map { f32txt($_) } @{ $_[0] }) . '}'; }

# ---------------------------------------------------------------------
# embeddings
# ---------------------------------------------------------------------
my (%input, %fmt, %dims);
my $sql =
  "CREATE TABLE v (id int PRIMARY KEY, dims int, fmt text, probe real[], tpl protected_template);\n";
my $id = 0;
for my $d (1, 3, 17, 511, 512, 1023)
{
	for my $f (qw(f32 f16 i8))
	{
		for my $n (1 .. 11)
		{
			$id++;
			my $scale = (1e-3, 1, 300)[ $n % 3 ];
			my @t = map { f32((rand() * 2 - 1) * $scale) } 1 .. $d;
			my @p = map { f32((rand() * 2 - 1) * $scale) } 1 .. $d;
			@t = (0) x $d if $n == 1;                        # zero template
			@p = (0) x $d if $n == 2;                        # zero probe
			@p = @t if $n == 3;                              # identical input
			@p = map { f32(-2 * $_) } @t if $n == 4;         # opposite
			@p = map { f32($_ * 1000) } @p if $n == 5;       # larger probe
			$input{$id} = \@t;
			$fmt{$id} = $f;
			$dims{$id} = $d;
			$sql .=
			    "INSERT INTO v VALUES ($id, $d, '$f', '"
			  . sql_array(\@p)
			  . "', biocrypt.protect('"
			  . sql_array(\@t)
			  . "', 'v$id', NULL, NULL, '$f'));\n";
		}
	}
}
$node->safe_psql('postgres', $sql);

# what the server stores (template) and uses (probe), as float4send hex
my $stored = $node->safe_psql(
	'postgres', q{
	SET biocrypt.allow_reveal = on;
	SELECT id,
		(SELECT string_agg(encode(float4send(x), 'hex'), ',' ORDER BY o)
		 FROM unnest(biocrypt.reveal(tpl)) WITH ORDINALITY u(x, o)),
		(SELECT string_agg(encode(float4send(x), 'hex'), ',' ORDER BY o)
		 FROM unnest(probe) WITH ORDINALITY u(x, o))
	FROM v ORDER BY id});
my (%t, %p);
my ($f32_exact, $f32_rows, $quantised, $probe_exact) = (0, 0, 0, 0);
for my $line (split /\n/, $stored)
{
	my ($i, $th, $ph) = split /\|/, $line;
	my @th = split /,/, $th;
	my @ph = split /,/, $ph;
	$t{$i} = [ map { hex2f($_) } @th ];
	$p{$i} = [ map { hex2f($_) } @ph ];
	my $in = join(',', map { f2hex($_) } @{ $input{$i} });
	$probe_exact++ if @ph == $dims{$i};
	if ($fmt{$i} eq 'f32')
	{
		$f32_rows++;
		$f32_exact++ if $th eq $in;
	}
	elsif ($th ne $in)
	{
		$quantised++;
	}
}
is(scalar(keys %t), 198, '198 templates stored');
is($f32_exact, $f32_rows, 'f32 templates store their input bit for bit');
is($probe_exact, 198, 'every probe has the expected dimensions');
# f16 and i8 round (all but the zero templates and the 1-dim i8 ones,
# which are exact: +-max maps to +-127 * max/127)
cmp_ok($quantised, '>=', 100,
	"f16 and i8 templates hold quantised values ($quantised of 132 differ from their input)");

# reference distances in double precision: l2, cosine (NaN for a zero
# vector), negative inner product, and the norms for the tolerances
my %ref;
for my $i (keys %t)
{
	my ($tt, $pp, $tp, $l2) = (0, 0, 0, 0);
	my $tv = $t{$i};
	my $pv = $p{$i};
	for my $k (0 .. $#$tv)
	{
		my ($a, $b) = ($tv->[$k], $pv->[$k]);
		$tt += $a * $a;
		$pp += $b * $b;
		$tp += $a * $b;
		$l2 += ($b - $a) * ($b - $a);
	}
	$ref{$i} = {
		l2 => sqrt($l2),
		cos => ($tt == 0 || $pp == 0) ? 'NaN' : 1 - $tp / (sqrt($pp) * sqrt($tt)),
		ip => -$tp,
		tn => sqrt($tt),
		pn => sqrt($pp),
	};
}
is(scalar(grep { $ref{$_}{cos} eq 'NaN' } keys %ref),
	36, 'reference: 36 pairs with a zero vector (cosine NaN)');

# Does a server result agree with the reference?
sub agrees
{
	my ($got, $ref, $abstol) = @_;
	return 0 if !defined $got || $got eq '';
	return $got eq 'NaN' if $ref eq 'NaN';
	return 0 if $got !~ /^-?[0-9.e+-]+$/;
	return abs($got - $ref) <= 1e-5 * abs($ref) + $abstol;
}

# the kernel paths this CPU supports
my @paths;
for my $path (qw(portable avx2 avx512))
{
	my ($ret) = $node->psql('postgres', "SET biocrypt.simd = $path");
	push @paths, $path if $ret == 0;
}
ok((grep { $_ eq 'portable' } @paths), 'the portable path is always available');
note 'kernel paths: ' . join(', ', @paths);

for my $path (@paths)
{
	my $out = $node->safe_psql(
		'postgres', qq{
		SET biocrypt.simd = $path;
		SELECT biocrypt.simd_path();
		SELECT id, tpl <-> probe, tpl <=> probe, tpl <#> probe FROM v ORDER BY id});
	my @lines = split /\n/, $out;
	is(shift(@lines), $path, "$path: biocrypt.simd_path() reports it");
	my %bad = (f32 => 0, f16 => 0, i8 => 0);
	my $seen = 0;
	my $shown = 0;
	for my $line (@lines)
	{
		my ($i, $l2, $cos, $ip) = split /\|/, $line;
		my $r = $ref{$i};
		$seen++;
		my $ok = agrees($l2, $r->{l2}, 1e-6 * ($r->{pn} + $r->{tn}))
		  && agrees($cos, $r->{cos}, 1e-6)
		  && agrees($ip, $r->{ip}, 1e-6 * $r->{pn} * $r->{tn});
		next if $ok;
		$bad{ $fmt{$i} }++;
		diag(sprintf('%s: id %d (%s, %d dims): got l2 %s cos %s ip %s, want %.17g %s %.17g',
				$path, $i, $fmt{$i}, $dims{$i}, $l2, $cos, $ip,
				$r->{l2}, $r->{cos}, $r->{ip}))
		  if $shown++ < 5;
	}
	is($seen, 198, "$path: 198 pairs compared");
	is($bad{$_}, 0, "$path: $_ l2, cosine and inner product agree with the reference")
	  for qw(f32 f16 i8);
}

# ---------------------------------------------------------------------
# bit codes, layout {8,128,2}
# ---------------------------------------------------------------------
my ($ROWS, $COLS, $BPC) = (8, 128, 2);
my $NBYTES = $ROWS * $COLS * $BPC / 8;
my $MIN_COMMON_BITS = 64;

sub rand_bytes { return join('', map { chr(int(rand(256))) } 1 .. $_[0]); }

# mostly-valid mask: each byte all ones with probability $p, else random
sub rand_mask
{
	my ($p) = @_;
	return join('', map { rand() < $p ? "\xff" : chr(int(rand(256))) } 1 .. $NBYTES);
}

# output column c = input column (c + s) mod cols, in every row
sub rotate
{
	my ($bytes, $s) = @_;
	my $bits = unpack('B*', $bytes);    # MSB first
	my $k = ((($s % $COLS) + $COLS) % $COLS) * $BPC;
	my $w = $COLS * $BPC;
	my $out = '';
	for my $r (0 .. $ROWS - 1)
	{
		my $row = substr($bits, $r * $w, $w);
		$out .= substr($row, $k) . substr($row, 0, $k);
	}
	return pack('B*', $out);
}

# flip each bit with probability $p
sub noisy
{
	my ($bytes, $p) = @_;
	my $bits = unpack('B*', $bytes);
	$bits =~ s/([01])/rand() < $p ? 1 - $1 : $1/ge;
	return pack('B*', $bits);
}

sub popcount { return unpack('%32b*', $_[0]); }

# the reference: minimum over shifts -max..max; undef if no shift has
# enough valid bits
sub iris_ref
{
	my ($t, $tm, $p, $pm, $max) = @_;
	my $ones = "\xff" x length($t);
	$tm //= $ones;
	$pm //= $ones;
	my $best;
	for my $s (-$max .. $max)
	{
		my $pr = rotate($p, $s);
		my $pmr = rotate($pm, $s);
		my $valid = $tm &. $pmr;
		my $v = popcount($valid);
		next if $v == 0 || $v < $MIN_COMMON_BITS;
		my $d = popcount(($t ^. $pr) &. $valid) / $v;
		$best = $d if !defined $best || $d < $best;
	}
	return $best;
}

sub hexq { return defined $_[0] ? "'\\x" . unpack('H*', $_[0]) . "'::bytea" : 'NULL'; }

my (%bt, %btm, %bp, %bpm, %btid);
$sql = "CREATE TABLE bt (id int PRIMARY KEY, tpl protected_template);\n"
  . "CREATE TABLE bp (id int PRIMARY KEY, tid int, probe bytea, pmask bytea);\n";
my $pid = 0;
for my $i (1 .. 40)
{
	my $code = rand_bytes($NBYTES);
	my $mask =
	    $i % 4 == 0 ? undef
	  : $i % 10 == 7 ? ("\xff" x 5) . ("\x00" x ($NBYTES - 5))    # 40 valid bits
	  :                rand_mask(0.8);
	$bt{$i} = $code;
	$btm{$i} = $mask;
	$sql .=
	    "INSERT INTO bt VALUES ($i, biocrypt.protect_bits("
	  . hexq($code) . ', '
	  . hexq($mask)
	  . ", 'b$i', NULL, NULL, '{$ROWS,$COLS,$BPC}'));\n";
	my $s1 = int(rand(17)) - 8;
	my $s2 = int(rand(25)) - 12;
	my @probes = (
		# a rotated, noisy copy with a rotated mask
		[ rotate(noisy($code, 0.05), -$s1), rotate(rand_mask(0.8), -$s1) ],
		# a random code, no mask
		[ rand_bytes($NBYTES), undef ],
		# rotated by up to 12 columns (beyond max_shift 8), noisy, no mask
		[ rotate(noisy($code, 0.1), -$s2), undef ]);
	# a sparse probe mask: too few valid bits
	$probes[1][1] = ("\x00" x ($NBYTES - 7)) . ("\xff" x 7) if $i % 10 == 3;
	for my $pr (@probes)
	{
		$pid++;
		($bp{$pid}, $bpm{$pid}) = @$pr;
		$btid{$pid} = $i;
		$sql .= "INSERT INTO bp VALUES ($pid, $i, " . hexq($pr->[0]) . ', ' . hexq($pr->[1]) . ");\n";
	}
}
$node->safe_psql('postgres', $sql);

my (%ref0, %ref8, %ham);
for my $j (keys %bp)
{
	my $i = $btid{$j};
	$ref0{$j} = iris_ref($bt{$i}, $btm{$i}, $bp{$j}, $bpm{$j}, 0);
	$ref8{$j} = iris_ref($bt{$i}, $btm{$i}, $bp{$j}, $bpm{$j}, 8);
	$ham{$j} = popcount($bt{$i} ^. $bp{$j}) / (8 * $NBYTES);
}
my $null8 = grep { !defined $ref8{$_} } keys %ref8;
my $better = grep { defined $ref8{$_} && $ref8{$_} < $ref0{$_} } keys %ref8;
my $close = grep { defined $ref8{$_} && $ref8{$_} < 0.2 } keys %ref8;
is(scalar(keys %bp), 120, 'bits: 120 probes');
cmp_ok($null8, '>=', 4, "bits: reference has pairs with too few valid bits ($null8)");
cmp_ok($better, '>=', 30, "bits: reference finds better shifts than 0 ($better)");
cmp_ok($close, '>=', 30, "bits: reference finds the rotated copies ($close below 0.2)");

for my $path (@paths)
{
	my $out = $node->safe_psql(
		'postgres', qq{
		SET biocrypt.simd = $path;
		SELECT p.id, biocrypt.iris_distance(t.tpl, p.probe, p.pmask, 0),
			biocrypt.iris_distance(t.tpl, p.probe, p.pmask, 8), t.tpl <~> p.probe
		FROM bp p JOIN bt t ON t.id = p.tid ORDER BY p.id});
	my ($bad0, $bad8, $badh, $seen) = (0, 0, 0, 0);
	my $shown = 0;
	for my $line (split /\n/, $out)
	{
		my ($j, $d0, $d8, $h) = split /\|/, $line, -1;
		$seen++;
		my $ok0 = defined $ref0{$j} ? ($d0 ne '' && $d0 == $ref0{$j}) : $d0 eq '';
		my $ok8 = defined $ref8{$j} ? ($d8 ne '' && $d8 == $ref8{$j}) : $d8 eq '';
		my $okh = $h ne '' && $h == $ham{$j};
		$bad0++ unless $ok0;
		$bad8++ unless $ok8;
		$badh++ unless $okh;
		diag(sprintf('%s: probe %d: got %s %s %s, want %s %s %s', $path, $j, $d0, $d8, $h,
				$ref0{$j} // 'NULL', $ref8{$j} // 'NULL', $ham{$j}))
		  if !($ok0 && $ok8 && $okh) && $shown++ < 5;
	}
	is($seen, 120, "$path: 120 bit-code pairs compared");
	is($bad0, 0, "$path: iris_distance at max_shift 0 equals the reference exactly");
	is($bad8, 0, "$path: iris_distance at max_shift 8 equals the reference exactly");
	is($badh, 0, "$path: <~> equals the reference exactly");
}

$node->stop;

done_testing();
