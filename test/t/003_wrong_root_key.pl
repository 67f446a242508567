# Copyright (c) biocrypt authors
#
# A server started with a different root key than the one that built the
# key ring: it starts (the key cannot be checked before use), header
# accessors still work since they need no key, but reveal, reveal_bits and
# protect fail with one clear error, "the root key does not match the key
# ring" (SQLSTATE F0000), never with a per-template authentication failure,
# and the key ring is left untouched.  The audit worker refuses to write
# under such a key (its refusal is in the server log): no audit row at all
# is written while it runs, neither the begun rows that every decryption
# needs first (so nothing is decrypted) nor the error rows of failed
# enrolments, and the chain's key and head stay as they were.  Going back
# to the right key restores reveal with the original values, the chain
# verifies with no bad range, and new accesses are recorded after the old
# head.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode qw(key_file);

my $KEY_A = '1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100';
my $KEY_B = '1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020101';

# Point the node at a key file.
sub use_key
{
	my ($node, $path) = @_;
	$node->set_key_conf("biocrypt.root_key_file = '$path'\n");
	return;
}

# Number of ERROR lines in psql's stderr.
sub count_errors
{
	my ($err) = @_;
	my @errors = ($err =~ /^(?:psql:<stdin>:\d+: )?ERROR:/mg);
	return scalar @errors;
}

my $key_a = key_file('a.key', "$KEY_A\n");
my $key_b = key_file('b.key', "$KEY_B\n");

my $node = BiocryptNode->new_node('wrong_key',
	key_conf => "biocrypt.root_key_file = '$key_a'\n");

# -- enrol under key A: 10 embeddings and a bit code
$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO t
	SELECT g, biocrypt.protect(ARRAY[g, -g, g / 8.0, 0.1 * g]::real[],
	                           'subject-' || g, NULL, '{verification}',
	                           (ARRAY['f32', 'f16', 'i8'])[1 + (g - 1) % 3])
	FROM generate_series(1, 10) g;
	CREATE TABLE codes (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO codes VALUES
	  (1, biocrypt.protect_bits('\xa5a5'::bytea, NULL, 'subject-code'));
});

my $reveal_sql = q{
	SET biocrypt.allow_reveal = on;
	SELECT id, biocrypt.reveal(tpl)::text FROM t ORDER BY id};
my $header_sql = q{
	SELECT id, biocrypt.subject_of(tpl), biocrypt.key_id_of(tpl),
	       biocrypt.format_of(tpl), biocrypt.dims_of(tpl),
	       biocrypt.purposes_of(tpl), biocrypt.expires_at(tpl),
	       biocrypt.created_at(tpl)
	FROM t ORDER BY id};
my $ring_sql = q{
	SELECT id, epoch, cipher, state, encode(wrapped, 'hex'),
	       encode(kcv, 'hex'), counter_base
	FROM biocrypt.keys ORDER BY id};

my $revealed = $node->safe_psql('postgres', $reveal_sql);
my $headers  = $node->safe_psql('postgres', $header_sql);
my $ring     = $node->safe_psql('postgres', $ring_sql);
like($revealed, qr/^1\|\{1,-1,0\.125,0\.1\}$/m,
	'key A: first template reveals');
my @lines = split /\n/, $revealed;
is(scalar @lines, 10, 'key A: all 10 templates reveal');
is($node->safe_psql('postgres', 'SELECT count(*) FROM biocrypt.keys'),
	'1', 'key A: one data key');

# the audit log as key A left it: rows, head, the chain's stored key
my $log_sql = q{
	SELECT count(*), max(id), (SELECT encode(row_hash, 'hex') FROM biocrypt.audit_head()),
	       (SELECT encode(kcv, 'hex') || encode(wrapped, 'hex') FROM biocrypt.audit_key)
	FROM biocrypt.audit_log};
my $log_a = $node->safe_psql('postgres', $log_sql);
like($log_a, qr/^\d+\|\d+\|[0-9a-f]{64}\|[0-9a-f]{176}$/,
	'key A: the audit log has rows, a head and a stored chain key');
is( $node->safe_psql(
		'postgres', q{
		SELECT string_agg(operation || ':' || outcome, ',' ORDER BY id) FROM biocrypt.audit_log
		WHERE operation = 'reveal'}),
	'reveal:begun,reveal:ok',
	'key A: the reveal was recorded, begun and completed');

# -- restart with key B
$node->stop;
use_key($node, $key_b);
my $log_offset = -s $node->logfile;
$node->start;

is($node->safe_psql('postgres', $header_sql),
	$headers, 'key B: header accessors still work and are unchanged');
is( $node->safe_psql(
		'postgres', 'SELECT biocrypt.subject_of(tpl) FROM codes'),
	'subject-code',
	'key B: accessors work on a bit code');

my ($ret, $out, $err) = $node->psql_verbose(
	'postgres', q{
	SET biocrypt.allow_reveal = on;
	SELECT biocrypt.reveal(tpl) FROM t WHERE id = 1});
is($ret, 3, 'key B: reveal of one template fails');
like(
	$err,
	qr/ERROR:  F0000: biocrypt: the root key does not match the key ring/,
	'key B: reveal fails with SQLSTATE F0000 and a clear message');
like(
	$err,
	qr/DETAIL:  The audit worker writes no row under a root key that did not create the key ring\./,
	'key B: DETAIL says the audit worker writes nothing (no begun row, so nothing decrypted)');
like($err, qr/HINT:  Start the server with the root key that created biocrypt\.keys\./,
	'key B: HINT says which key to use');

($ret, $out, $err) = $node->psql_verbose('postgres', $reveal_sql);
is($ret, 3, 'key B: reveal over 10 rows fails');
is($out, '', 'key B: reveal over 10 rows returns no row');
is(count_errors($err), 1, 'key B: reveal over 10 rows gives exactly one error');
like(
	$err,
	qr/ERROR:  F0000: biocrypt: the root key does not match the key ring/,
	'key B: the one error is the root key mismatch');
unlike($err, qr/failed authentication/,
	'key B: no authentication failure is reported');

# without verbose errors, the message as users see it
($ret, $out, $err) = $node->psql('postgres', $reveal_sql);
like(
	$err,
	qr/^psql:<stdin>:\d+: ERROR:  biocrypt: the root key does not match the key ring$/m,
	'key B: default verbosity shows the same message');

# every attempt in a session fails the same way (nothing cached)
($ret, $out, $err) = $node->psql_verbose(
	'postgres', q{
	SET biocrypt.allow_reveal = on;
	SELECT biocrypt.reveal(tpl) FROM t WHERE id = 2;
	SELECT biocrypt.reveal(tpl) FROM t WHERE id = 3;
	SELECT 'still alive'},
	on_error_stop => 0);
is(count_errors($err), 2, 'key B: two reveals in one session give two errors');
is(scalar(() = $err =~ /ERROR:  F0000: biocrypt: the root key does not match/g),
	2, 'key B: both errors are the root key mismatch');
is($out, 'still alive', 'key B: the session survives the errors');

($ret, $out, $err) = $node->psql_verbose(
	'postgres', q{
	SET biocrypt.allow_reveal = on;
	SELECT * FROM codes, biocrypt.reveal_bits(tpl)});
like(
	$err,
	qr/ERROR:  F0000: biocrypt: the root key does not match the key ring/,
	'key B: reveal_bits fails with SQLSTATE F0000');

# a comparison fails the same way, before decrypting anything
($ret, $out, $err) = $node->psql_verbose('postgres',
	q{SET biocrypt.purpose = 'verification';
	SELECT tpl <-> '{1,-1,0.125,0.1}'::real[] FROM t});
is($ret, 3, 'key B: a comparison fails');
is($out, '', 'key B: the comparison returns no row');
is(count_errors($err), 1, 'key B: the comparison gives exactly one error');
like(
	$err,
	qr/ERROR:  F0000: biocrypt: the root key does not match the key ring/,
	'key B: the comparison fails with SQLSTATE F0000');

# enrolling into the existing epoch must not wrap anything under key B
($ret, $out, $err) = $node->psql_verbose('postgres',
	q{INSERT INTO t VALUES (11, biocrypt.protect('{1,2}'::real[], 'subject-11'))});
like(
	$err,
	qr/ERROR:  F0000: biocrypt: the root key does not match the key ring/,
	'key B: protect fails with SQLSTATE F0000');
like(
	$err,
	qr/DETAIL:  Data key 1 was wrapped under a different root key than the one this server loaded\./,
	'key B: protect\'s DETAIL names the data key');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'),
	'10', 'key B: nothing was enrolled');
is($node->safe_psql('postgres', $ring_sql),
	$ring, 'key B: key ring unchanged');

# a new epoch must not get a data key wrapped under key B either: that
# would split the ring between two root keys
($ret, $out, $err) = $node->psql_verbose('postgres',
	q{INSERT INTO t VALUES (12, biocrypt.protect('{3,4}'::real[], 'subject-12',
		now() + interval '2 months'))});
like(
	$err,
	qr/ERROR:  F0000: biocrypt: the root key does not match the key ring/,
	'key B: protect into a new epoch fails with SQLSTATE F0000');
is($node->safe_psql('postgres', $ring_sql),
	$ring, 'key B: no key was added for the new epoch');

# the failed enrolments' error rows were handed to the worker without
# waiting; a last access that waits for the worker is answered only after
# it has dealt with them (it takes the queue in order)
($ret, $out, $err) = $node->psql_verbose('postgres', $reveal_sql);
like(
	$err,
	qr/ERROR:  F0000: biocrypt: the root key does not match the key ring/,
	'key B: a last reveal still fails with SQLSTATE F0000');
my $wpid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'biocrypt audit worker'});
like($wpid, qr/^\d+$/, 'key B: the audit worker runs');
is($node->safe_psql('postgres', $log_sql),
	$log_a, 'key B: no audit row was written, the head and the chain key are unchanged');
# the worker says why, each time it is asked to write
my $log_b = slurp_file($node->logfile, $log_offset);
ok( $log_b =~
	  /\[$wpid\] LOG:  biocrypt: the root key does not match the key ring\n[^\n]*\[$wpid\] DETAIL:  /,
	'key B: the server log has the audit worker\'s refusal');

# -- back to key A
$node->stop;
use_key($node, $key_a);
$node->start;
# before any new access: the log as key A left it, and whole
is($node->safe_psql('postgres', $log_sql),
	$log_a, 'key A again: the audit log is as key A left it');
is( $node->safe_psql(
		'postgres', 'SELECT ok, bad_ranges::text, first_bad_id IS NULL FROM biocrypt.verify_audit()'),
	't|[]|t',
	'key A again: verify_audit() ok, no bad range');
is($node->safe_psql('postgres', $reveal_sql),
	$revealed, 'key A again: all templates reveal to the original values');
is( $node->safe_psql(
		'postgres', q{
		SET biocrypt.allow_reveal = on;
		SELECT code FROM codes, biocrypt.reveal_bits(tpl)}),
	'\xa5a5',
	'key A again: bit code reveals');
is($node->safe_psql('postgres', $ring_sql),
	$ring, 'key A again: key ring unchanged');

# the new accesses follow the old head, and the chain still verifies
my (undef, $head_a) = split /\|/, $log_a;
is( $node->safe_psql(
		'postgres', qq{
		SELECT string_agg((id - $head_a) || ':' || operation || ':' || outcome || ':'
		                  || coalesce(begun_id - $head_a, 0), ',' ORDER BY id)
		FROM biocrypt.audit_log WHERE id > $head_a}),
	'1:reveal:begun:0,2:reveal:ok:1,3:reveal:begun:0,4:reveal:ok:3',
	'key A again: the two reveals are recorded, begun and completed, right after the old head');
is( $node->safe_psql(
		'postgres', 'SELECT ok, bad_ranges::text FROM biocrypt.verify_audit()'),
	't|[]',
	'key A again: verify_audit() ok with the new rows');
$node->stop;

done_testing();
