# Copyright (c) biocrypt authors
#
# Sealed inputs end to end, against a live cluster: biocrypt-seal (the
# installed client) seals probes to biocrypt.public_key(), and each sealed
# form returns exactly what the plain form returns for the same values;
# the key is the same in every backend and after a restart; the client
# refuses bad input with a message and a non-zero exit.  With Debian's
# python3-nacl and python3-psycopg (psycopg 3), a probe sealed in Python is
# bound as bytes, as an application would send it.  The server runs with
# log_statement = all: the canary values appear in its log only for the
# plain calls this test makes on purpose, never for the sealed ones.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $node = BiocryptNode->new_node('sealed',
	root_key => '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
	purpose  => 'verification',
	conf     => "log_statement = 'all'\nlog_min_messages = info\n");

my $seal = $ENV{BIOCRYPT_SEAL} // 'biocrypt-seal';
my $pk = $node->safe_psql('postgres', "SELECT encode(biocrypt.public_key(), 'hex')");
like($pk, qr/^[0-9a-f]{64}$/, 'public_key: 32 bytes');
is($node->safe_psql('postgres', "SELECT encode(biocrypt.public_key(), 'hex')"),
	$pk, 'public_key: the same in another backend');

# Seal stdin with biocrypt-seal; returns (exit code, stdout, stderr).
sub seal_run
{
	my ($input, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $seal, @args ], '<', \$input, '>', \$out, '2>', \$err);
	chomp $out;
	return ($? >> 8, $out, $err);
}

sub seal_ok
{
	my ($input, @args) = @_;
	my ($rc, $out, $err) = seal_run($input, '--key', $pk, @args);
	is($rc, 0, "biocrypt-seal @args: exit 0") or diag($err);
	return $out;
}

# canary values: decimal text that appears nowhere else
my @canary = (7.3171234, -2.8192837, 0.4455667, 1.9283746, -0.6655443, 3.1122334, 0.9988776, -4.5566778);
my $canary_text = join(',', @canary);
my $box = seal_ok("[$canary_text]");
like($box, qr/^[A-Za-z0-9+\/]+=*$/, 'biocrypt-seal prints base64');
my $boxhex = seal_ok("$canary_text", '--hex');
like($boxhex, qr/^[0-9a-f]+$/, 'biocrypt-seal --hex prints hex');
is(length($boxhex) / 2, 48 + 12 + 4 * 8, 'box: 48 + 12 + 4 x 8 bytes');

# enrol with the sealed box; a plain template of the same values to compare
$node->safe_psql('postgres', qq{
CREATE TABLE people (id int, tpl protected_template);
INSERT INTO people VALUES (1, biocrypt.protect_sealed('$box', 'canary-1'));
});
my $probe = seal_ok(join(' ', map { $_ + 0.01 } @canary));
my $probe2 = seal_ok(join(' ', map { -$_ } @canary));
is($node->safe_psql('postgres', qq{
SELECT biocrypt.verify_sealed(tpl, '$box', 1e-6) AND biocrypt.verify_sealed(tpl, '\\x$boxhex'::bytea, 1e-6)
	AND biocrypt.verify_sealed(tpl, '$probe', 0.001)
	AND NOT biocrypt.verify_sealed(tpl, '$probe2', 1.5)
FROM people WHERE id = 1}), 't', 'verify_sealed: the enrolled box matches itself, a near probe, not its opposite');

my $plain_probe = '{' . join(',', map { $_ + 0.01 } @canary) . '}';
$node->safe_psql('postgres', qq{
INSERT INTO people SELECT i, biocrypt.protect(ARRAY[i, -i, 1, 2, 3, 4, 5, i * 0.5]::real[], 'p-' || i)
	FROM generate_series(2, 40) i;
});
is($node->safe_psql('postgres', qq{
SELECT count(*) FILTER (WHERE biocrypt.l2_distance_sealed(tpl, '$probe') = (tpl <-> '$plain_probe'::real[])
	AND biocrypt.cosine_distance_sealed(tpl, '$probe') = (tpl <=> '$plain_probe'::real[])
	AND biocrypt.negative_inner_product_sealed(tpl, '$probe') = (tpl <#> '$plain_probe'::real[]))
FROM people}), '40', 'distances: sealed = plain on 40 templates');
is($node->safe_psql('postgres', qq{
SELECT (SELECT string_agg(subject || ':' || distance, ',') FROM biocrypt.identify_sealed('people', 'tpl', '$probe', 5, NULL, 'l2'))
	= (SELECT string_agg(subject || ':' || distance, ',') FROM biocrypt.identify('people', 'tpl', '$plain_probe'::real[], 5, NULL, 'l2'))}),
	't', 'identify: sealed = plain');

# bit codes with a mask, and rotation
my $code = '0123456789abcdef' x 32;
my $mask = ('ff' x 240) . ('00' x 16);
my $bits = seal_ok($code, '--bits', '--mask', $mask);
$node->safe_psql('postgres', qq{
CREATE TABLE irises (id int, tpl protected_template);
INSERT INTO irises VALUES (1, biocrypt.protect_bits_sealed('$bits', 'iris-1', NULL, NULL, '{8,128,2}'));
INSERT INTO irises SELECT i, biocrypt.protect_bits(set_byte('\\x$code'::bytea, i, i), NULL, 'iris-' || i, NULL, NULL, '{8,128,2}')
	FROM generate_series(2, 20) i;
});
is($node->safe_psql('postgres', qq{
SELECT count(*) FILTER (WHERE biocrypt.iris_distance_sealed(tpl, '$bits', 4)
	IS NOT DISTINCT FROM biocrypt.iris_distance(tpl, '\\x$code', '\\x$mask', 4)) FROM irises}),
	'20', 'iris_distance: sealed = plain, max_shift 4');
is($node->safe_psql('postgres', qq{SET biocrypt.allow_reveal = on;
SELECT encode(code, 'hex') = '$code' AND encode(mask, 'hex') = '$mask'
	FROM irises, biocrypt.reveal_bits(tpl) WHERE id = 1}),
	't', 'protect_bits_sealed: reveals the code and mask sealed');

# the key is derived from the root key: the same after a restart
$node->restart;
is($node->safe_psql('postgres', "SELECT encode(biocrypt.public_key(), 'hex')"), $pk,
	'public_key: the same after a restart');
is($node->safe_psql('postgres', "SELECT biocrypt.verify_sealed(tpl, '$box', 1e-6) FROM people WHERE id = 1"),
	't', 'a box sealed before the restart still opens');

# the client's checks
my @bad = (
	[ 'no key',          '[1,2]', [],                           2, qr/--key/ ],
	[ 'short key',       '[1,2]', [ '--key', 'abcd' ],          2, qr/32 bytes/ ],
	[ 'empty vector',    '[]',    [ '--key', $pk ],             1, qr/empty/ ],
	[ 'not a number',    '1,x',   [ '--key', $pk ],             1, qr/finite floats/ ],
	[ 'NaN',             'nan',   [ '--key', $pk ],             1, qr/finite floats/ ],
	[ 'empty element',   '1,,2',  [ '--key', $pk ],             1, qr/empty element/ ],
	[ 'unclosed [',      '[1,2',  [ '--key', $pk ],             1, qr/must end with \]/ ],
	[ 'bad hex code',    'xyz',   [ '--key', $pk, '--bits' ],   1, qr/hexadecimal/ ],
	[ 'mask length',     'ff00',  [ '--key', $pk, '--bits', '--mask', 'ff' ], 1, qr/as long as the code/ ],
	[ 'mask w/o bits',   '1',     [ '--key', $pk, '--mask', 'ff' ], 2, qr/--mask goes with --bits/ ],
	[ 'unknown option',  '1',     [ '--key', $pk, '--frobnicate' ], 2, qr/unknown/ ],
	[ 'too many dims',   join(' ', (1) x 16001), [ '--key', $pk ], 1, qr/at most 16000/ ]);
foreach my $b (@bad)
{
	my ($name, $in, $args, $want_rc, $want_err) = @$b;
	# a usage error exits before reading stdin: send it nothing
	my ($rc, $out, $err) = seal_run($want_rc == 2 ? '' : $in, @$args);
	ok($rc == $want_rc && $out eq '' && $err =~ $want_err, "biocrypt-seal refuses: $name")
	  or diag("rc $rc, stdout '$out', stderr '$err'");
}
my ($rc, $out) = seal_run('', '--help');
ok($rc == 0 && $out =~ /^Usage: biocrypt-seal/, 'biocrypt-seal --help');

# Python: python3-nacl seals, psycopg 3 binds the bytes on the server
my $py = '/usr/bin/python3';
SKIP:
{
	skip 'python3-nacl and python3-psycopg are not installed', 3
	  unless system($py, '-c', 'import nacl.public, psycopg') == 0;
	my $script = <<'PY';
import struct, sys
import psycopg
from nacl.public import PublicKey, SealedBox

connstr, canary = sys.argv[1], [float(x) for x in sys.argv[2].split(',')]
with psycopg.connect(connstr) as conn:
    pk = conn.execute("SELECT biocrypt.public_key()").fetchone()[0]
    msg = struct.pack('<4sBBHI', b'BCS1', 1, 0, 0, len(canary)) + \
        struct.pack('<%df' % len(canary), *canary)
    box = SealedBox(PublicKey(bytes(pk))).encrypt(msg)
    conn.execute("SET biocrypt.purpose = 'verification'")
    # bound as bytea (no cast), as sealed_probe, and in binary format
    a = conn.execute("SELECT biocrypt.verify_sealed(tpl, %s, 1e-6) FROM people WHERE id = 1", [box]).fetchone()[0]
    b = conn.execute("SELECT biocrypt.verify_sealed(tpl, %s::sealed_probe, 1e-6) FROM people WHERE id = 1", [box]).fetchone()[0]
    c = conn.execute("SELECT biocrypt.verify_sealed(tpl, %b, 1e-6) FROM people WHERE id = 1", [box]).fetchone()[0]
    top = conn.execute("SELECT subject FROM biocrypt.identify_sealed('people', 'tpl', %s::sealed_probe, 1)", [box]).fetchone()[0]
    print(a, b, c, top)
PY
	my ($pyout, $pyerr) = ('', '');
	IPC::Run::run([ $py, '-c', $script, $node->connstr('postgres'), $canary_text ],
		'>', \$pyout, '2>', \$pyerr);
	is($? >> 8, 0, 'python: nacl + psycopg 3 ran') or diag($pyerr);
	is($pyout, "True True True canary-1\n", 'python: a box bound as bytea, as sealed_probe and in binary verifies and identifies');
	my $log = slurp_file($node->logfile);
	like($log, qr/verify_sealed\(tpl, \$1, 1e-6\)/, 'python: the statement reached the log with a parameter');
}

# the log holds the canary's decimals only where this test sent them plain
my $log = slurp_file($node->logfile);
my $plain_hits = () = $log =~ /\Q$canary[0]\E/g;
is($plain_hits, 0, 'the log never shows the canary enrolled and compared sealed');
my $near = $canary[0] + 0.01;
like($log, qr/\Q$near\E/, 'the log does show the plain probe sent in SQL text');

$node->stop;
done_testing();
