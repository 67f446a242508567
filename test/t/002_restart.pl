# Copyright (c) biocrypt authors
#
# Templates survive a server restart and a crash (immediate stop and WAL
# replay) under the same root key: f32, f16 and i8 embeddings and a bit code
# reveal to exactly the values they revealed before (f32 bit-exact, equal to
# the input), the header accessors and the key ring are unchanged, and new
# enrolments keep using the same data key.  Also checks that templates are
# stored inline (storage main): 200 templates of 512 f32 dimensions leave
# the table's TOAST relation empty.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode qw(key_file);

my $KEY = 'a0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f';
my $keyfile = key_file('root.key', "$KEY\n");

my $node = BiocryptNode->new_node('restart', root_key_file => $keyfile);

# f32 input: values whose shortest text forms need all float4 digits
my $F32 = '{0.1,-0.25,3.1415927,1e-07,-1234.5677,65504,0.33333334,-3.4028235e+38,1.1754944e-38}';

$node->safe_psql(
	'postgres', qq{
	CREATE TABLE enrolled (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO enrolled VALUES
	  (1, biocrypt.protect('$F32'::real[], 'subject-f32', NULL, '{verification}', 'f32')),
	  (2, biocrypt.protect('{0.5,-0.25,1.5,0.1,-65504}'::real[], 'subject-f16', NULL, '{verification,identification}', 'f16')),
	  (3, biocrypt.protect('{1,-0.5,0.25,0,0.003}'::real[], 'subject-i8', NULL, '{identification}', 'i8'));
	INSERT INTO enrolled VALUES
	  (4, biocrypt.protect_bits('\\xdeadbeef00ff'::bytea, '\\xffffffff0f0f'::bytea, 'subject-bits', NULL, '{verification}', '{2,3,8}'));
});

my $reveal_sql = q{
	SET biocrypt.allow_reveal = on;
	SELECT id, biocrypt.reveal(tpl)::text FROM enrolled WHERE id <= 3 ORDER BY id;
	SELECT id, r.code, r.mask FROM enrolled, biocrypt.reveal_bits(tpl) r WHERE id = 4;
};
my $header_sql = q{
	SELECT id, biocrypt.subject_of(tpl), biocrypt.format_of(tpl),
	       biocrypt.dims_of(tpl), biocrypt.purposes_of(tpl),
	       biocrypt.key_id_of(tpl), biocrypt.expires_at(tpl),
	       biocrypt.created_at(tpl), md5(tpl::text)
	FROM enrolled ORDER BY id};
my $ring_sql = q{
	SELECT id, epoch, cipher, state, encode(wrapped, 'hex'),
	       encode(kcv, 'hex'), counter_base, created_at, retired_at
	FROM biocrypt.keys ORDER BY id};

my $revealed = $node->safe_psql('postgres', $reveal_sql);
my $headers  = $node->safe_psql('postgres', $header_sql);
my $ring     = $node->safe_psql('postgres', $ring_sql);

# the values before any restart are the expected ones
is( $revealed,
	join("\n",
		"1|$F32",
		'2|{0.5,-0.25,1.5,0.099975586,-65504}',
		'3|{1,-0.503937,0.2519685,0,0}',
		'4|\xdeadbeef00ff|\xffffffff0f0f'),
	'before restart: all formats reveal to the expected values');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(biocrypt.format_of(tpl) || ':' || biocrypt.dims_of(tpl), ',' ORDER BY id) FROM enrolled"),
	'f32:9,f16:5,i8:5,bits:48',
	'before restart: formats and dimensions');
is($node->safe_psql('postgres', 'SELECT count(*) FROM biocrypt.keys'),
	'1', 'before restart: one data key');

# bit-exact f32: the stored bits of every element equal the input's
my $bits_sql = qq{
	SET biocrypt.allow_reveal = on;
	SELECT bool_and(float4send(a) = float4send(b)) AND count(*) = 9
	FROM unnest((SELECT biocrypt.reveal(tpl) FROM enrolled WHERE id = 1),
	            '$F32'::real[]) AS u(a, b)};
is($node->safe_psql('postgres', $bits_sql),
	't', 'before restart: f32 reveal is bit-exact');

# -- clean restart
$node->restart;
is($node->safe_psql('postgres', $reveal_sql),
	$revealed, 'after restart: every template reveals to the same values');
is($node->safe_psql('postgres', $bits_sql),
	't', 'after restart: f32 reveal is bit-exact');
is($node->safe_psql('postgres', $header_sql),
	$headers, 'after restart: headers unchanged');
is($node->safe_psql('postgres', $ring_sql),
	$ring, 'after restart: key ring unchanged');

# a new enrolment after the restart reuses the same active data key
$node->safe_psql('postgres',
	"INSERT INTO enrolled VALUES (5, biocrypt.protect('{42,-42}'::real[], 'subject-new'))");
is( $node->safe_psql(
		'postgres', q{
		SET biocrypt.allow_reveal = on;
		SELECT biocrypt.reveal(tpl)::text,
		       biocrypt.key_id_of(tpl) = (SELECT biocrypt.key_id_of(tpl) FROM enrolled WHERE id = 1)
		FROM enrolled WHERE id = 5}),
	'{42,-42}|t',
	'after restart: new template sealed under the same data key');
is($node->safe_psql('postgres', $ring_sql),
	$ring, 'after restart: enrolling did not add or change keys');

# -- crash: immediate stop, recovery replays the enrolments from WAL
$node->safe_psql('postgres',
	"INSERT INTO enrolled VALUES (6, biocrypt.protect('{-0.125,8}'::real[], 'subject-wal', NULL, NULL, 'f16'))");
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $reveal_sql),
	$revealed, 'after crash recovery: templates reveal to the same values');
is( $node->safe_psql(
		'postgres', q{
		SET biocrypt.allow_reveal = on;
		SELECT string_agg(biocrypt.reveal(tpl)::text, ' ' ORDER BY id)
		FROM enrolled WHERE id IN (5, 6)}),
	'{42,-42} {-0.125,8}',
	'after crash recovery: templates sealed since the restart reveal');
is($node->safe_psql('postgres', $ring_sql),
	$ring, 'after crash recovery: key ring unchanged');

# -- templates stay inline: 200 x 512-dim f32, nothing in TOAST
$node->safe_psql(
	'postgres', q{
	CREATE TABLE big (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO big
	SELECT g, biocrypt.protect(
	         (SELECT array_agg((sin(i * g) * g)::real ORDER BY i)
	          FROM generate_series(1, 512) i),
	         'big-' || g)
	FROM generate_series(1, 200) g;
	CHECKPOINT;
});
is( $node->safe_psql(
		'postgres', q{
		SELECT count(*), min(pg_column_size(tpl)) > 2048,
		       count(DISTINCT md5(tpl::text)), min(biocrypt.dims_of(tpl))
		FROM big}),
	'200|t|200|512',
	'200 distinct templates of 512 dimensions, each over 2 kB');
is( $node->safe_psql(
		'postgres', q{
		SELECT reltoastrelid <> 0, pg_relation_size(reltoastrelid)
		FROM pg_class WHERE relname = 'big'}),
	't|0',
	'TOAST relation exists and is empty after CHECKPOINT');
is( $node->safe_psql(
		'postgres', q{
		SELECT count(*) FILTER (WHERE pg_column_size(tpl) =
		                        4 + octet_length(decode(tpl::text, 'base64')))
		FROM big}),
	'200',
	'stored templates are neither compressed nor moved out of line');

$node->restart;
is( $node->safe_psql(
		'postgres', q{
		SET biocrypt.allow_reveal = on;
		SELECT count(*), min(array_length(biocrypt.reveal(tpl), 1)) FROM big}),
	'200|512',
	'after restart: all 200 large templates reveal');

$node->stop;

done_testing();
