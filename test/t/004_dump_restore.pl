# Copyright (c) biocrypt authors
#
# pg_dump and restore: a dump carries the key ring (biocrypt.keys and its
# sequences, as extension configuration) and templates only as ciphertext,
# so the plaintext of a canary embedding appears nowhere in it, neither as
# decimal text nor as IEEE-754 bytes, not even inside the decoded templates.
# Restoring a plain dump with psql, or a custom-format dump with pg_restore,
# into a new database gives templates that reveal to exactly the original
# values, with headers, key ring and sequences intact, so enrolment in the
# restored database continues without key id collisions.
use strict;
use warnings;

use MIME::Base64 qw(decode_base64);
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode qw(key_file);

my $KEY = 'c0ffee00c0ffee00c0ffee00c0ffee00deadbeefdeadbeefdeadbeefdeadbeef';
my $tempdir = PostgreSQL::Test::Utils::tempdir;
my $keyfile = key_file('root.key', "$KEY\n");

# Whole file as bytes.
sub slurp_bytes
{
	my ($path) = @_;
	open(my $in, '<:raw', $path) or die "could not read $path: $!";
	local $/;
	my $bytes = <$in>;
	close($in);
	return $bytes;
}

# The data lines of "COPY <table> (...) FROM stdin;" in a plain dump.
sub copy_rows
{
	my ($dump, $table) = @_;
	my ($block) = $dump =~ /^COPY \Q$table\E \([^)]*\) FROM stdin;\n(.*?)^\\\.$/ms;
	return undef unless defined $block;
	return [ split /\n/, $block ];
}

# the extension goes into database src, below
my $node = BiocryptNode->new_node('dump', root_key_file => $keyfile, extension => 0);

# -- the canary: distinctive values, as a 16-dimensional f32 embedding
my @canary = map { $_ % 2 ? -8765.4321 : 1234.5678 } 0 .. 15;
my $canary_sql = '{' . join(',', @canary) . '}';

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql(
	'src', qq{
	CREATE EXTENSION biocrypt;
	CREATE TABLE enrolled (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO enrolled VALUES
	  (1, biocrypt.protect('$canary_sql'::real[], 'canary-subject')),
	  (2, biocrypt.protect('{1234.5678,-8765.4321}'::real[], 'canary-f16', NULL, '{verification}', 'f16')),
	  (3, biocrypt.protect('{1234.5678,-8765.4321,0.5}'::real[], 'canary-i8', NULL, '{identification}', 'i8'));
	-- a second retention epoch, so that the ring holds two data keys
	INSERT INTO enrolled VALUES
	  (4, biocrypt.protect('{0.25,-0.75}'::real[], 'short-lived',
	                       now() + interval '2 months', '{verification}'));
	INSERT INTO enrolled VALUES
	  (5, biocrypt.protect_bits('\\x0123456789abcdef'::bytea, NULL, 'iris-subject'));
});

my $reveal_sql = q{
	SET biocrypt.allow_reveal = on;
	SELECT id, biocrypt.reveal(tpl)::text FROM enrolled WHERE id <> 5 ORDER BY id;
	SELECT r.code FROM enrolled, biocrypt.reveal_bits(tpl) r WHERE id = 5};
my $header_sql = q{
	SELECT id, biocrypt.subject_of(tpl), biocrypt.key_id_of(tpl),
	       biocrypt.format_of(tpl), biocrypt.dims_of(tpl),
	       biocrypt.purposes_of(tpl), biocrypt.expires_at(tpl),
	       biocrypt.created_at(tpl), md5(tpl::text)
	FROM enrolled ORDER BY id};
my $ring_sql = q{
	SELECT id, epoch, cipher, state, encode(wrapped, 'hex'),
	       encode(kcv, 'hex'), counter_base
	FROM biocrypt.keys ORDER BY id};
my $seq_sql = q{
	SELECT (SELECT last_value || '/' || is_called FROM biocrypt.keys_id_seq),
	       (SELECT last_value || '/' || is_called FROM biocrypt.encryption_counter)};

my $revealed = $node->safe_psql('src', $reveal_sql);
my $headers  = $node->safe_psql('src', $header_sql);
my $ring     = $node->safe_psql('src', $ring_sql);
my $seqs     = $node->safe_psql('src', $seq_sql);

my $canary_text = $node->safe_psql('src', "SELECT '$canary_sql'::real[]::text");
like($revealed, qr/^1\|\Q$canary_text\E$/m,
	'source: canary reveals to its input');
is($seqs, '2/true|5/true', 'source: two data keys, five encryptions');

# What must not appear in a dump: the canary as decimal text (input and
# float4 output forms, plain or scientific) and as float4/float8 bytes.
my @text_leaks = (
	qr/1234\.56/,      qr/8765\.43/,
	qr/1\.23456\d*e\+?0*3/i, qr/8\.76543\d*e\+?0*3/i);
my %byte_leaks = (
	'float4 LE 1234.5678'  => pack('f<', 1234.5678),
	'float4 LE -8765.4321' => pack('f<', -8765.4321),
	'float4 BE 1234.5678'  => pack('f>', 1234.5678),
	'float8 LE 1234.5678'  => pack('d<', 1234.5678),
	'float4 LE pair'       => pack('f<f<', 1234.5678, -8765.4321),
	'float4 LE pair as hex' => unpack('H*', pack('f<f<', 1234.5678, -8765.4321)));

# Check a dump (or decoded template bytes) for every form of the canary.
sub no_canary
{
	my ($bytes, $what) = @_;
	my @found;
	for my $re (@text_leaks)
	{
		push @found, "$re" if $bytes =~ $re;
	}
	for my $name (sort keys %byte_leaks)
	{
		push @found, $name if index($bytes, $byte_leaks{$name}) >= 0;
	}
	is(join(', ', @found), '', "$what: no trace of the canary plaintext");
	return;
}

# Compare restored database $db with the source.
sub check_restored
{
	my ($db, $what) = @_;
	is($node->safe_psql($db, $reveal_sql),
		$revealed, "$what: every template reveals to the original values");
	is($node->safe_psql($db, $header_sql),
		$headers, "$what: subjects, key ids and all headers intact");
	is($node->safe_psql($db, $ring_sql),
		$ring, "$what: key ring restored row for row");
	is($node->safe_psql($db, $seq_sql),
		$seqs, "$what: key id and encryption counter sequences restored");

	# enrolling in both epochs goes on with the restored keys, without
	# reusing a key id
	is( $node->safe_psql(
			$db, q{
			SET biocrypt.allow_reveal = on;
			INSERT INTO enrolled VALUES
			  (6, biocrypt.protect('{6,-6}'::real[], 'after-restore')),
			  (7, biocrypt.protect('{7,-7}'::real[], 'after-restore',
			                       now() + interval '2 months', '{verification}')),
			  (8, biocrypt.protect('{8,-8}'::real[], 'after-restore',
			                       now() + interval '5 months', '{verification}'));
			SELECT string_agg(id || ':' || biocrypt.key_id_of(tpl) || ':' ||
			                  biocrypt.reveal(tpl)::text, ' ' ORDER BY id)
			FROM enrolled WHERE id >= 6}),
		'6:1:{6,-6} 7:2:{7,-7} 8:3:{8,-8}',
		"$what: enrolment continues with restored keys and a fresh key id");
	return;
}

# -- plain dump
my $plain = "$tempdir/src.sql";
$node->command_ok([ 'pg_dump', '-f', $plain, '-d', $node->connstr('src') ],
	'plain pg_dump succeeds');
my $dump = slurp_bytes($plain);

my $keyrows = copy_rows($dump, 'biocrypt.keys');
ok(defined $keyrows, 'plain dump holds the COPY data of biocrypt.keys');
$keyrows ||= [];
my $dumped_ring = join("\n",
	map {
		my @f = split /\t/;
		$f[4] =~ s/^\\\\x//;
		$f[5] =~ s/^\\\\x//;
		join('|', @f[ 0 .. 6 ]);
	} @$keyrows);
is($dumped_ring, $ring, 'plain dump: key ring rows equal the source rows');
like($dump,
	qr/^SELECT pg_catalog\.setval\('biocrypt\.keys_id_seq', 2, true\);$/m,
	'plain dump: key id sequence is dumped');
like($dump,
	qr/^SELECT pg_catalog\.setval\('biocrypt\.encryption_counter', 5, true\);$/m,
	'plain dump: encryption counter is dumped');

my $tplrows = copy_rows($dump, 'public.enrolled');
ok(defined $tplrows, 'plain dump holds the COPY data of the templates');
$tplrows ||= [];
is(scalar @$tplrows, 5, 'plain dump: five templates');
no_canary($dump, 'plain dump');

# the templates themselves, decoded from base64, are ciphertext only
my $decoded = join('', map { decode_base64((split /\t/)[1]) } @$tplrows);
is( length($decoded),
	$node->safe_psql(
		'src', "SELECT sum(octet_length(decode(tpl::text, 'base64'))) FROM enrolled"),
	'plain dump: templates decode to the stored envelope sizes');
no_canary($decoded, 'decoded templates');
like($decoded, qr/canary-subject/, 'decoded templates: the subject header is readable');

# restore with psql into a new database
$node->safe_psql('postgres', 'CREATE DATABASE restored_plain');
$node->command_ok(
	[
		'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('restored_plain'), '-f', $plain
	],
	'plain dump restores with psql');
check_restored('restored_plain', 'plain restore');

# -- custom-format dump (uncompressed, so that its bytes can be searched)
my $custom = "$tempdir/src.dump";
$node->command_ok(
	[ 'pg_dump', '-Fc', '-Z0', '-f', $custom, '-d', $node->connstr('src') ],
	'custom-format pg_dump succeeds');
my $cdump = slurp_bytes($custom);
no_canary($cdump, 'custom-format dump');
my $wrapped_hex = $node->safe_psql('src',
	"SELECT encode(wrapped, 'hex') FROM biocrypt.keys ORDER BY id LIMIT 1");
like($cdump, qr/\\\\x\Q$wrapped_hex\E/,
	'custom-format dump holds the wrapped data keys');

$node->safe_psql('postgres', 'CREATE DATABASE restored_custom');
$node->command_ok(
	[
		'pg_restore', '--exit-on-error',
		'-d', $node->connstr('restored_custom'), $custom
	],
	'custom-format dump restores with pg_restore');
check_restored('restored_custom', 'custom restore');

# the source is untouched by all this
is($node->safe_psql('src', $ring_sql), $ring, 'source: key ring unchanged');

$node->stop;

done_testing();
