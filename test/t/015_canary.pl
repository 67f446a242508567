# Copyright (c) biocrypt authors
#
# Canary leakage: where a plaintext biometric ends up on a server that logs
# and keeps everything it can.  Two canary embeddings and two canary bit
# codes are enrolled and searched, one of each through the plain forms
# (values in the SQL text) and one through the sealed forms (only a sealed
# box in the SQL text), with log_statement = all,
# log_min_duration_statement = 0, auto_explain (every plan, analyze,
# verbose), pg_stat_statements, work_mem = 64kB, utility statements that
# pg_stat_statements keeps verbatim (COPY, DECLARE, EXPLAIN, DO) and an
# error in the same statement.  Then the server log, pg_stat_statements and
# its query-text file, the temporary files of a held cursor, pg_waldump's
# output and the WAL itself, and the data files are searched for each
# canary, as the decimal (or hex) text the client wrote and as its raw
# float (or code) bytes.  The sealed canaries must be nowhere; the plain
# ones only where biocrypt.check_config() warns.
use strict;
use warnings;

use File::Find;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $node = BiocryptNode->new_node('canary',
	root_key => '5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed',
	purpose  => 'verification',
	conf     => <<'CONF');
shared_preload_libraries = 'biocrypt, auto_explain, pg_stat_statements'
log_statement = 'all'
log_min_duration_statement = 0
auto_explain.log_min_duration = 0
auto_explain.log_analyze = on
auto_explain.log_verbose = on
pg_stat_statements.track_utility = on
work_mem = '64kB'
CONF
$node->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements');
my $pgdata = $node->data_dir;

my $DIMS = 16;
# canary values: decimal text that appears nowhere else
my @plain  = map { sprintf('%.7f', 0.3141592 + 0.0271828 * $_) } 0 .. $DIMS - 1;
my @sealed = map { sprintf('%.7f', -0.6180339 + 0.0141421 * $_) } 0 .. $DIMS - 1;
my @control = map { sprintf('%.7f', 0.7777777 - 0.0123457 * $_) } 0 .. $DIMS - 1;
my $plain_code  = 'c0ffee15' x 32;    # 256 bits
my $sealed_code = 'b16b00b5' x 32;

# the needles: the text a client writes, and the raw bytes in memory
# (little-endian float32; windows of two floats or eight code bytes, long
# enough never to occur by chance)
sub float_windows
{
	my @v   = @_;
	my $raw = pack('f<*', @v);
	return map { substr($raw, 4 * $_, 8) } 0 .. $#v - 1;
}
sub code_windows
{
	my $raw = pack('H*', $_[0]);
	return map { substr($raw, 8 * $_, 8) } 0 .. length($raw) / 8 - 1;
}
my %needles = (
	plain_text   => [ @plain[ 0 .. 3 ] ],
	plain_code   => [ substr($plain_code, 0, 16) ],
	plain_raw    => [ float_windows(@plain), code_windows($plain_code) ],
	sealed_text  => [ @sealed[ 0 .. 3 ] ],
	sealed_code  => [ substr($sealed_code, 0, 16) ],
	sealed_raw   => [ float_windows(@sealed), code_windows($sealed_code) ],
	control_raw  => [ float_windows(@control) ]);

# what of the needles of $kind occur in $haystack
sub found
{
	my ($kind, $haystack) = @_;
	return scalar grep { index($haystack, $_) >= 0 } @{ $needles{$kind} };
}

# seal with biocrypt-seal to the node's public key
my $pk = $node->safe_psql('postgres', "SELECT encode(biocrypt.public_key(), 'hex')");
sub seal
{
	my ($input, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'biocrypt-seal', '--key', $pk, @args ], '<', \$input, '>', \$out, '2>', \$err)
	  or die "biocrypt-seal failed: $err";
	chomp $out;
	return $out;
}
my $box_vec  = seal('[' . join(',', @sealed) . ']');
my $box_bits = seal($sealed_code, '--bits');
my $plain_vec = "'{" . join(',', @plain) . "}'::real[]";
my $plain_bits = "'\\x$plain_code'::bytea";

my $log_start = -s $node->logfile;

# -- the plain forms: values in the SQL text
$node->safe_psql(
	'postgres', qq{
	CREATE TABLE people (id int PRIMARY KEY, face protected_template);
	CREATE TABLE eyes (id int PRIMARY KEY, iris protected_template);
	INSERT INTO people VALUES (1, biocrypt.protect($plain_vec, 'canary-plain'));
	INSERT INTO eyes VALUES (1, biocrypt.protect_bits($plain_bits, NULL, 'canary-plain-iris'));
	INSERT INTO people VALUES (2, biocrypt.protect_sealed('$box_vec', 'canary-sealed'));
	INSERT INTO eyes VALUES (2, biocrypt.protect_bits_sealed('$box_bits', 'canary-sealed-iris'));
	-- a control: a vector stored as plain real[], whose bytes the search
	-- must find in the WAL and the data files
	CREATE TABLE control (v real[]);
	INSERT INTO control VALUES ('{@{[ join(',', @control) ]}}');
	-- a gallery large enough to spill a sort and a held cursor to disk
	INSERT INTO people SELECT i, biocrypt.protect(
		(SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, $DIMS) WHERE i > 0), 'filler-' || i)
	FROM generate_series(3, 1500) i;
});

my @plain_sql = (
	"SELECT face <=> $plain_vec FROM people WHERE id = 1",
	"SELECT biocrypt.verify(face, $plain_vec, 0.1) FROM people WHERE id = 1",
	"SELECT * FROM biocrypt.identify('people', 'face', $plain_vec, 3)",
	"SELECT id FROM people ORDER BY face <-> $plain_vec LIMIT 3",
	"SELECT iris <~> $plain_bits FROM eyes WHERE id = 1",
	"COPY (SELECT face <=> $plain_vec FROM people WHERE id = 1) TO STDOUT",
	"EXPLAIN (ANALYZE, VERBOSE) SELECT face <=> $plain_vec FROM people WHERE id = 1",
	"DO \$\$ BEGIN PERFORM face <=> $plain_vec FROM people WHERE id = 1; END \$\$",
	"BEGIN; DECLARE c CURSOR FOR SELECT face <=> $plain_vec FROM people; FETCH 1 FROM c; COMMIT");
my @sealed_sql = (
	"SELECT biocrypt.cosine_distance_sealed(face, '$box_vec') FROM people WHERE id = 2",
	"SELECT biocrypt.verify_sealed(face, '$box_vec', 0.1) FROM people WHERE id = 2",
	"SELECT * FROM biocrypt.identify_sealed('people', 'face', '$box_vec', 3)",
	"SELECT id FROM people ORDER BY biocrypt.l2_distance_sealed(face, '$box_vec') LIMIT 3",
	"SELECT biocrypt.hamming_distance_sealed(iris, '$box_bits') FROM eyes WHERE id = 2",
	"COPY (SELECT biocrypt.cosine_distance_sealed(face, '$box_vec') FROM people WHERE id = 2) TO STDOUT",
	"EXPLAIN (ANALYZE, VERBOSE) SELECT biocrypt.cosine_distance_sealed(face, '$box_vec') FROM people WHERE id = 2",
	"DO \$\$ BEGIN PERFORM biocrypt.cosine_distance_sealed(face, '$box_vec') FROM people WHERE id = 2; END \$\$",
	"BEGIN; DECLARE c CURSOR FOR SELECT biocrypt.cosine_distance_sealed(face, '$box_vec') FROM people; FETCH 1 FROM c; COMMIT");
$node->safe_psql('postgres', $_) for @plain_sql, @sealed_sql;

# an error in the same statement logs the statement (log_min_error_statement)
my ($rc) = $node->psql('postgres', "SELECT face <=> $plain_vec, 1 / 0 FROM people WHERE id = 1");
isnt($rc, 0, 'plain: the statement with a division by zero failed');
($rc) = $node->psql('postgres',
	"SELECT biocrypt.cosine_distance_sealed(face, '$box_vec'), 1 / 0 FROM people WHERE id = 2");
isnt($rc, 0, 'sealed: the statement with a division by zero failed');

# -- temporary files: a held cursor over a sort that does not fit work_mem
my $held = $node->background_psql('postgres');
$held->query_safe(
	"BEGIN; DECLARE h CURSOR WITH HOLD FOR SELECT id, face, face <=> $plain_vec AS d FROM people ORDER BY d; COMMIT");
$held->query_safe(
	"BEGIN; DECLARE s CURSOR WITH HOLD FOR SELECT id, face, biocrypt.cosine_distance_sealed(face, '$box_vec') AS d FROM people ORDER BY d; COMMIT");
my $tmp = '';
my $tmpfiles = 0;
find(sub { return unless -f $_; $tmpfiles++; $tmp .= slurp_file($File::Find::name); },
	"$pgdata/base/pgsql_tmp") if -d "$pgdata/base/pgsql_tmp";
ok($tmpfiles > 0, "held cursors left $tmpfiles temporary files to search");

# -- what each place holds
$node->safe_psql('postgres', 'CHECKPOINT');
my %place;
$place{'server log'} = slurp_file($node->logfile, $log_start);
$place{'pg_stat_statements'} =
  $node->safe_psql('postgres', 'SELECT string_agg(query, E\'\n\') FROM pg_stat_statements');
$place{'pg_stat_statements query file'} = slurp_file("$pgdata/pg_stat_tmp/pgss_query_texts.stat");
$place{'temporary files'} = $tmp;
my ($waldump, $wal) = ('', '');
for my $seg (sort glob("$pgdata/pg_wal/0*"))
{
	$wal .= slurp_file($seg);
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'pg_waldump', $seg ], '>', \$out, '2>', \$err);
	$waldump .= $out;
}
ok(length($waldump) > 0, 'pg_waldump read the WAL');
$place{'pg_waldump output'} = $waldump;
$place{'WAL'} = $wal;
my $data = '';
find(sub { $data .= slurp_file($File::Find::name) if -f $_ }, "$pgdata/base", "$pgdata/global");
$place{'data files'} = $data;
$held->quit;

# -- the sealed canaries are nowhere
for my $p (sort keys %place)
{
	for my $kind (qw(sealed_text sealed_code sealed_raw))
	{
		is(found($kind, $place{$p}), 0, "sealed: no $kind in the $p");
	}
}

# -- the plain canaries: never as raw bytes, never in WAL, data or temporary
#    files; as text only where check_config() warns
for my $p (sort keys %place)
{
	is(found('plain_raw', $place{$p}), 0, "plain: no raw bytes in the $p");
}
for my $p ('temporary files', 'pg_waldump output', 'WAL', 'data files')
{
	is(found('plain_text', $place{$p}) + found('plain_code', $place{$p}), 0,
		"plain: no text in the $p");
}
my %warned = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres', 'SELECT setting FROM biocrypt.check_config()');
ok(found('control_raw', $place{'WAL'}) > 0 && found('control_raw', $place{'data files'}) > 0,
	'control: a plain real[] column\'s bytes are found in the WAL and the data files (so the search works)');
ok(found('plain_text', $place{'server log'}) > 0 && found('plain_code', $place{'server log'}) > 0,
	'plain: the values are in the server log (so the search works)');
ok($warned{log_statement} && $warned{log_min_duration_statement} && $warned{log_min_error_statement},
	'plain: and check_config() warns of log_statement, log_min_duration_statement and log_min_error_statement');
ok(found('plain_text', $place{'pg_stat_statements'}) > 0,
	'plain: pg_stat_statements keeps the values of its utility statements');
ok($warned{'pg_stat_statements.track_utility'},
	'plain: and check_config() warns of pg_stat_statements.track_utility');

$node->stop;
done_testing();
