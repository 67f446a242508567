# Copyright (c) biocrypt authors
#
# A gallery sharded with PL/Proxy (docs/scale-out.md): a coordinator and 3
# shards, each with its own root key, set up by test/scaleout/coordinator.sql
# and shard.sql; the coordinator runs biocrypt for its audit log only and
# never holds a template or a data key.  3,000 subjects enrolled through the
# coordinator land on the shard hashtext() names; verify, erase and hold are
# routed there; the merged 1:N search equals one server's identify() over
# the same templates; each call's request id is in the coordinator's
# chained audit row of the call and in the shards' audit rows; a shard down
# makes the coordinator's search fail, with no rows and no row of its own.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
my $sharedir = `$pg_config --sharedir`;
chomp $sharedir;
plan skip_all => "PL/Proxy is not installed ($sharedir/extension/plproxy.control missing; "
  . 'test/install.sh installs postgresql-15-plproxy)'
  unless -f "$sharedir/extension/plproxy.control";

my $SCRIPTS = "$FindBin::RealBin/../scaleout";
my $SMALL = "fsync = off\nshared_buffers = 16MB\nmax_connections = 20\n";
my $N = 3000;

# deterministic 16-d embeddings: subject i's, and a probe near it
my $EMB = q{
CREATE FUNCTION emb(i int, jitter float8 DEFAULT 0) RETURNS real[]
LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg((x - floor(x) - 0.5 + jitter * cos(d))::real ORDER BY d)
	FROM (SELECT d, sin(i * 12.9898 + d * 78.233) * 43758.5453 AS x
		FROM generate_series(1, 16) d) r
$$;
};

my @shards;
foreach my $i (0 .. 2)
{
	my $key = sprintf('%02x', 0x11 * ($i + 1)) x 32;
	my $node = BiocryptNode->new_node("shard$i", root_key => $key,
		purpose => 'identification', conf => "cluster_name = 'shard$i'\n$SMALL");
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr('postgres'), '-f', "$SCRIPTS/shard.sql" ], "shard$i: shard.sql");
	push @shards, $node;
}

# the coordinator: biocrypt for its audit log, with a root key of its own
my $coord = BiocryptNode->new_node('coordinator', root_key => '44' x 32, conf => $SMALL);
my @conn = map { 'host=' . $_->host . ' port=' . $_->port . ' dbname=postgres' } @shards;
$coord->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
	map({ ('-v', "shard$_=$conn[$_]") } 0 .. 2),
	'-d', $coord->connstr('postgres'), '-f', "$SCRIPTS/coordinator.sql" ], 'coordinator.sql');
# no template column and no data key on the coordinator
my $holds = q{SELECT (SELECT count(*) FROM biocrypt.keys) || '|' || (SELECT count(*) FROM pg_attribute a
	JOIN pg_class c ON c.oid = a.attrelid WHERE a.atttypid = 'protected_template'::regtype
	AND c.relnamespace <> 'biocrypt'::regnamespace AND c.relkind IN ('r', 'p', 'm'))};
is($coord->safe_psql('postgres', $holds), '0|0', 'the coordinator holds no data key and no template column');
$coord->safe_psql('postgres', $EMB);

my $SET = "SET biocrypt.purpose = 'identification';";
sub coord_sql { return $coord->safe_psql('postgres', $SET . $_[0]); }
# the coordinator's audit log, once the rows of the calls so far are in
# (record_fanout() queues them without waiting)
sub coord_log
{
	$coord->poll_query_until('postgres', 'SELECT coalesce(sum(depth), 0) = 0 FROM biocrypt.audit_queue')
	  or die 'the coordinator\'s audit queue does not drain';
	return $coord->safe_psql('postgres', $_[0]);
}

# enrol through the coordinator
is(coord_sql("SELECT count(*) FROM (SELECT enrol('subject-' || i, emb(i), ARRAY['identification']) "
	  . "FROM generate_series(1, $N) i) e"), $N, "$N subjects enrolled through the coordinator");
my ($total, @counts) = (0);
foreach my $i (0 .. 2)
{
	my ($n, $misplaced) = split /\|/, $shards[$i]->safe_psql('postgres',
		"SELECT count(*), count(*) FILTER (WHERE abs(hashtext(subject) % 3) <> $i) FROM people");
	is($misplaced, 0, "shard$i: every subject is the one hashtext() maps there");
	cmp_ok($n, '>', $N / 5, "shard$i: holds a share ($n)");
	$total += $n;
}
is($total, $N, 'every subject on exactly one shard');
is(coord_log(
		"SELECT count(*) FROM biocrypt.audit_log WHERE operation = 'protect' AND origin = 'shards'"),
	$N, 'coordinator audit log: one row per enrolment');

# the shard a subject lives on, and the request id of the last call
sub home { return $coord->safe_psql('postgres', "SELECT shard_of('$_[0]')"); }
sub last_request
{
	return coord_log(
		"SELECT request_id FROM biocrypt.audit_log WHERE operation = '$_[0]' AND origin = 'shards' "
		  . "ORDER BY id DESC LIMIT 1");
}
# audit rows a request left on each shard: 'n0|n1|n2'
sub audit_counts
{
	my ($req) = @_;
	return join '|', map {
		$_->safe_psql('postgres',
			"SELECT count(*) FROM biocrypt.audit_log WHERE request_id = '$req'")
	} @shards;
}
sub expect_on
{
	my ($home) = @_;
	return join '|', map { $_ == $home ? 'y' : 0 } 0 .. 2;
}
sub yes_no { my ($c) = @_; return join '|', map { $_ > 0 ? 'y' : $_ } split /\|/, $c; }

# verify, routed
my $h = home('subject-42');
is(coord_sql("SELECT verify('subject-42', emb(42, 0.001), 0.01)"), 't', 'verify: the right probe');
my $req = last_request('verify');
is(yes_no(audit_counts($req)), expect_on($h), "verify: audit rows on shard$h only, with the request id");
is($shards[$h]->safe_psql('postgres', "SELECT string_agg(DISTINCT operation, ',') FROM biocrypt.audit_log "
	  . "WHERE request_id = '$req'"), 'verify', "verify: the row on shard$h is a verify");
is(coord_log("SELECT matches->0->>'subject' || ' ' || (matches->0->>'match') "
	  . "|| ' ' || (probe_hmac IS NOT NULL) FROM biocrypt.audit_log WHERE request_id = '$req'"),
	'subject-42 true true', 'verify: the coordinator\'s row names the subject, the answer and the probe\'s hash');
is(coord_sql("SELECT verify('subject-42', emb(43), 0.01)"), 'f', 'verify: another subject\'s probe');

# 1:N: the merged search equals one server's identify over the same 3,000
# (all of them sealed again, under shard0's key, in one table of shard0)
$shards[0]->safe_psql('postgres', $EMB . q{
	CREATE TABLE everyone (subject text, face protected_template);
	INSERT INTO everyone SELECT 'subject-' || i, biocrypt.protect(emb(i), 'subject-' || i, NULL, ARRAY['identification'])
	FROM generate_series(1, } . $N . ')i;');
foreach my $p ([ 17, 0.05 ], [ 2500, 0.3 ], [ 999, 1.0 ])
{
	my ($i, $jit) = @$p;
	my $merged = coord_sql("SELECT string_agg(subject || ':' || distance, ' ' ORDER BY distance, subject) "
		  . "FROM identify(emb($i, $jit), 10)");
	my $single = $shards[0]->safe_psql('postgres', "SELECT string_agg(subject || ':' || distance, ' ' "
		  . "ORDER BY distance, subject) FROM biocrypt.identify('everyone', 'face', emb($i, $jit), 10)");
	is($merged, $single, "identify(emb($i, $jit)): merged top 10 = one server's top 10");
	is(scalar(split / /, $merged), 10, "identify(emb($i, $jit)): 10 candidates");
	like($merged, qr/^subject-$i:/, "identify(emb($i, $jit)): subject-$i first") if $jit < 0.1;
}
$req = last_request('identify');
is(yes_no(audit_counts($req)), 'y|y|y', 'identify: an audit row on every shard with the request id');
# the compliance query of docs/scale-out.md, on each shard
is(join(' ', map { $_->safe_psql('postgres', 'SELECT string_agg(DISTINCT operation || \'/\' || purpose '
	  . "|| '/' || session_role, ',') FROM (SELECT id, started_at, operation, outcome, session_role, purpose, "
	  . "templates_compared FROM biocrypt.audit_log WHERE request_id = '$req') a") } @shards),
	join(' ', ('identify/identification/postgres') x 3), 'identify: the shards\' rows name the search and its purpose');
is(coord_log("SELECT operation || '|' || purpose || '|' || k || '|' "
	  . "|| jsonb_array_length(matches) || '|' || (probe_hmac IS NOT NULL) || '|' || templates_compared "
	  . "FROM biocrypt.audit_log WHERE request_id = '$req'"),
	'identify|identification|10|10|true|0',
	'coordinator: one identify row with the purpose, k, the 10 merged candidates and the probe\'s hash');
is(coord_log("SELECT string_agg(m->>'shard', ',' ORDER BY ord) FROM biocrypt.audit_log, "
	  . "jsonb_array_elements(matches) WITH ORDINALITY e(m, ord) WHERE request_id = '$req'") =~ /^shard[0-2](,shard[0-2]){9}$/ ? 1 : 0,
	1, 'coordinator: each merged candidate names its shard');

# the caller's purpose reaches the shards: templates enrolled for
# identification are skipped under another purpose
is(coord_sql("SET biocrypt.purpose = 'verification'; SELECT count(*) FROM identify(emb(17, 0.05), 10)"),
	'0', 'identify under purpose verification: nothing found');
$req = last_request('identify');
is(join(' ', map { $_->safe_psql('postgres', 'SELECT string_agg(DISTINCT purpose, \',\') '
	  . "FROM biocrypt.audit_log WHERE request_id = '$req'") } @shards),
	'verification verification verification', 'identify: the shards audited the caller\'s purpose');

# a login role in biocrypt_matcher, on every server, reaches the shards as itself
foreach my $node ($coord, @shards)
{
	$node->safe_psql('postgres', 'CREATE ROLE alice LOGIN IN ROLE biocrypt_matcher');
}
$_->safe_psql('postgres', "SELECT biocrypt.grant_purpose('alice', 'identification')") foreach @shards;
is($coord->safe_psql('postgres', $SET . 'SELECT count(*) FROM identify(emb(17, 0.05), 10)',
	extra_params => [ '-U', 'alice' ]), '10', 'alice (biocrypt_matcher): identify through the coordinator');
$req = last_request('identify');
is(join(' ', map { $_->safe_psql('postgres', 'SELECT string_agg(DISTINCT session_role::text, \',\') '
	  . "FROM biocrypt.audit_log WHERE request_id = '$req'") } @shards),
	'alice alice alice', 'alice: the shards audited her as the caller');
my ($arc, $aout, $aerr) = $coord->psql('postgres', $SET . "SELECT erase('subject-9')",
	extra_params => [ '-U', 'alice' ]);
like($aerr, qr/permission denied for function erase/, 'alice: erase refused on the coordinator');

# erase and hold, routed
$h = home('subject-5');
is(coord_sql("SELECT erase('subject-5')"), '1', 'erase: one template erased');
is(join('|', map { $_->safe_psql('postgres', "SELECT count(*) FROM people WHERE subject = 'subject-5'") } @shards),
	'0|0|0', 'erase: the subject is gone');
is(yes_no(audit_counts(last_request('erase'))), expect_on($h), "erase: audited on shard$h only");
$h = home('subject-6');
is(coord_sql("SELECT hold('subject-6', 'case 17')"), 't', 'hold: placed');
is(join('|', map { $_->safe_psql('postgres', "SELECT count(*) FROM biocrypt.holds WHERE subject = 'subject-6'") } @shards),
	expect_on($h) =~ s/y/1/r, "hold: on shard$h only");
is(coord_sql('SELECT purge()'), '0', 'purge on every shard: nothing expired');
is(coord_log("SELECT string_agg(operation || ':' || coalesce(matches->0->>'subject', '-'), ',' "
	  . "ORDER BY id) FROM biocrypt.audit_log WHERE origin = 'shards' AND operation IN ('erase', 'hold', 'purge')"),
	'erase:subject-5,hold:subject-6,purge:-', 'coordinator: erase, hold and purge recorded with their subjects');

# purpose grants compared across shards
is(coord_sql('SELECT count(*) FROM check_shards()'), '0', 'check_shards: all shards agree');
$shards[1]->safe_psql('postgres', "SELECT biocrypt.grant_purpose('biocrypt_matcher', 'border')");
is(coord_sql("SELECT line || ' ' || present_on::text || ' ' || missing_on::text FROM check_shards()"),
	'grant biocrypt_matcher border {shard1} {shard0,shard2}', 'check_shards: names the shard that differs');

# a shard down: the coordinator's search fails, no partial result
$shards[2]->stop;
my $before = coord_log('SELECT max(id) FROM biocrypt.audit_log');
my ($rc, $out, $err) = $coord->psql('postgres', $SET . 'SELECT * FROM identify(emb(17), 10)');
isnt($rc, 0, 'shard down: identify fails');
is($out, '', 'shard down: no rows');
like($err, qr/ERROR:  PL\/Proxy function shards\.identify_local\(4\): \[postgres\] PQconnectStart: connection to server .* failed/,
	'shard down: the PL/Proxy error names the function and the connection');
note("shard down: $err");
is(coord_log('SELECT max(id) FROM biocrypt.audit_log'), $before,
	'shard down: the coordinator records no search that did not happen');
is($coord->safe_psql('postgres', 'SELECT ok FROM biocrypt.verify_audit()'), 't',
	'coordinator: its audit chain verifies');
is($coord->safe_psql('postgres', $holds), '0|0', 'the coordinator still holds no data key and no template column');

$coord->stop;
$_->stop foreach @shards[0, 1];
done_testing();
