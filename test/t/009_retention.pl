# Copyright (c) biocrypt authors
#
# Retention, end to end:
#  1. the purge worker purges expired templates on its own, every
#     biocrypt.purge_interval: in a database created after the server
#     started, and in one where the extension is created later; a database
#     without the extension is visited and left alone; audit rows come from
#     'biocrypt purge worker' as the bootstrap superuser;
#  2. a destroyed data key stays destroyed in a copy of the key ring
#     restored from a dump taken before the destruction, into another
#     database of the same cluster, and across a restart (the cluster's
#     list $PGDATA/pg_biocrypt/destroyed_keys, 16 bytes per key);
#  3. a legal hold keeps an expired template and its data key through
#     purges and a restart, even once the key's epoch is over; after the
#     release the next purge removes the template and destroys the key;
#  4. root-key rotation: new_root_key_command, rewrap_keys(), then the new
#     key as the only root key; the old root key alone no longer reads; a
#     restored copy of a ring, rewrapped like every database, still cannot
#     use a key its original destroys afterwards;
#  5. rotate_key() and reencrypt() over 10001 templates, with a progress
#     NOTICE, max_rows batches that resume, expired templates left alone;
#  6. destroying a key in one session makes another session that cached it
#     fail at its next transaction.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $K0 = '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a';
my $K1 = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
my $K2 = 'fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210';

# Run SQL that must fail; returns its stderr (verbose, with the SQLSTATE).
sub fails
{
	my ($node, $db, $sql, $what) = @_;
	my ($ret, $out, $err) = $node->psql_verbose($db, $sql);
	is($ret, 3, "$what: fails");
	is($out, '', "$what: returns no row");
	return $err;
}

# The error of a template sealed under a destroyed key, in the key ring's
# own database or in an older copy of it.
sub destroyed_re
{
	my ($key_id, $older) = @_;
	my $detail =
	  $older
	  ? 'This cluster destroyed the key; this copy of the key ring is older than that\.'
	  : 'Templates sealed under a destroyed key can never be decrypted again\.';
	return qr/ERROR:  55000: biocrypt: data key $key_id has been destroyed\nDETAIL:  $detail\n/;
}

# The bootstrap superuser's name (the session role of the purge worker).
my $BOOTSTRAP = "(SELECT rolname FROM pg_catalog.pg_roles WHERE oid = 10)";

########################################################################
# 1. the purge worker
########################################################################
# no autovacuum: only purge workers run transactions in a database nobody
# connects to; the extension goes into databases created below
my $pn = BiocryptNode->new_node('purge_worker',
	root_key  => $K0,
	purpose   => 'verification',
	conf      => "autovacuum = off\n",
	extension => 0);

is( $pn->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'biocrypt purge launcher'"),
	'1',
	'purge worker: the launcher runs');

$pn->safe_psql('postgres', 'CREATE DATABASE early');
$pn->safe_psql('postgres', 'CREATE DATABASE noext');
$pn->safe_psql('noext',
	'CREATE TABLE plain (id int PRIMARY KEY, v text); '
	  . "INSERT INTO plain SELECT i, 'row ' || i FROM generate_series(1, 5) i");
$pn->safe_psql(
	'early', q{
	CREATE EXTENSION biocrypt;
	CREATE TABLE gone (id int PRIMARY KEY, tpl protected_template);
	CREATE TABLE nulled (id int PRIMARY KEY, tpl protected_template);
	CREATE TABLE kept (id int PRIMARY KEY, tpl protected_template);
	SELECT biocrypt.protect_column('gone', 'tpl', '1 second', '{verification}');
	SELECT biocrypt.protect_column('nulled', 'tpl', '1 second', '{verification}', 'null');
	SELECT biocrypt.protect_column('kept', 'tpl', '1 day', '{verification}');
});
# all in one transaction: protect() and the policy trigger see the same now()
is( $pn->safe_psql(
		'early', q{
	BEGIN;
	INSERT INTO gone SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 'subj-' || (i % 2))
	FROM generate_series(1, 3) i;
	INSERT INTO nulled VALUES
	  (1, biocrypt.protect('{1,0,1}'::real[], 'n-a')),
	  (2, biocrypt.protect('{0,1,1}'::real[], 'n-b'));
	INSERT INTO kept VALUES
	  (1, biocrypt.protect('{1,1,0}'::real[], 'k-a')),
	  (2, biocrypt.protect('{2,1,0}'::real[], 'k-b'));
	SELECT count(*), bool_and(biocrypt.expires_at(tpl) = biocrypt.created_at(tpl) + interval '1 second')
	FROM (SELECT tpl FROM gone UNION ALL SELECT tpl FROM nulled) x;
	COMMIT}),
	'5|t',
	'purge worker: five templates sealed with the 1-second policy');
ok($pn->poll_query_until('early', 'SELECT count(*) FROM biocrypt.overdue', '5'),
	'purge worker: the five templates have expired');
# the launcher still waits out the default hour: nothing purged them
is( $pn->safe_psql(
		'early',
		"SELECT (SELECT count(*) FROM gone) || '|' || (SELECT count(*) FROM nulled WHERE tpl IS NOT NULL) "
		  . "|| '|' || (SELECT count(*) FROM biocrypt.audit_log WHERE operation = 'purge')"),
	'3|2|0',
	'purge worker: with the default interval the expired templates are still there');

my $noext_commits = "SELECT xact_commit FROM pg_stat_database WHERE datname = 'noext'";
my $noext_before  = $pn->safe_psql('postgres', $noext_commits);
my $log_offset    = -s $pn->logfile;
$pn->append_conf('postgresql.conf', "biocrypt.purge_interval = 1\n");
$pn->reload;

ok( $pn->poll_query_until(
		'early',
		"SELECT (SELECT count(*) FROM gone) || '|' || (SELECT count(*) FROM nulled WHERE tpl IS NOT NULL)",
		'0|0'),
	'purge worker: after the reload the worker purged without being called');
is( $pn->safe_psql(
		'early',
		"SELECT (SELECT count(*) FROM nulled WHERE tpl IS NULL) || '|' || "
		  . "(SELECT string_agg(biocrypt.subject_of(tpl), ',' ORDER BY id) FROM kept)"),
	'2|k-a,k-b',
	"purge worker: on_expiry 'null' kept the rows, unexpired templates stay");
is( $pn->safe_psql(
		'early', qq{
	SELECT relation, column_name, templates_compared, matches, application_name,
	       session_role = $BOOTSTRAP, outcome
	FROM biocrypt.audit_log WHERE operation = 'purge' AND templates_compared > 0 ORDER BY id}),
	'gone|tpl|3|[{"subject": "subj-0", "templates": 1}, {"subject": "subj-1", "templates": 2}]'
	  . "|biocrypt purge worker|t|ok\n"
	  . 'nulled|tpl|2|[{"subject": "n-a", "templates": 1}, {"subject": "n-b", "templates": 1}]'
	  . '|biocrypt purge worker|t|ok',
	'purge worker: one audit row per column with the subjects purged, by the worker as the bootstrap superuser'
);
is( $pn->safe_psql(
		'early', q{
	SELECT count(*) > 0, bool_and(matches IS NULL),
	       bool_and(application_name = 'biocrypt purge worker')
	FROM biocrypt.audit_log
	WHERE operation = 'purge' AND (templates_compared = 0 OR relation = 'kept'::regclass)}),
	't|t|t',
	'purge worker: rounds with nothing to purge leave rows with no matches');
like(
	slurp_file($pn->logfile, $log_offset),
	qr/LOG:  biocrypt: purge removed 5 expired templates\n/,
	'purge worker: logs how many templates it removed');

# a database created now, the extension installed in it later: no setup
$pn->safe_psql('postgres', 'CREATE DATABASE late');
$pn->safe_psql(
	'late', q{
	CREATE EXTENSION biocrypt;
	CREATE TABLE g (id int PRIMARY KEY, tpl protected_template);
	SELECT biocrypt.protect_column('g', 'tpl', '1 second', '{verification}');
	INSERT INTO g VALUES
	  (1, biocrypt.protect('{1,2,3}'::real[], 'late-a')),
	  (2, biocrypt.protect('{3,2,1}'::real[], 'late-b')),
	  (3, biocrypt.protect('{3,2,2}'::real[], 'late-b'));
});
ok($pn->poll_query_until('late', 'SELECT count(*) FROM g', '0'),
	'purge worker: a database created after start is purged too');
# (sealed one by one, the three may expire across two rounds: sum them)
is( $pn->safe_psql(
		'late', qq{
	SELECT string_agg(s, ' ' ORDER BY s) FROM (
	  SELECT relation || ':' || (e->>'subject') || '=' || sum((e->>'templates')::int) AS s
	  FROM biocrypt.audit_log, jsonb_array_elements(matches) e
	  WHERE operation = 'purge' GROUP BY relation, e->>'subject') x;
	SELECT sum(templates_compared), bool_and(application_name = 'biocrypt purge worker'),
	       bool_and(session_role = $BOOTSTRAP)
	FROM biocrypt.audit_log WHERE operation = 'purge'}),
	"g:late-a=1 g:late-b=2\n3|t|t",
	'purge worker: its purge is audited in that database');

# the database without the extension: visited (its transactions are
# counted), unchanged, and no complaint in the log
ok( $pn->poll_query_until(
		'postgres', "SELECT xact_commit > $noext_before FROM pg_stat_database WHERE datname = 'noext'"),
	'purge worker: a worker also ran in the database without the extension');
is( $pn->safe_psql(
		'noext',
		"SELECT count(*), string_agg(v, ',' ORDER BY id), "
		  . "(SELECT count(*) FROM pg_extension WHERE extname = 'biocrypt') FROM plain"),
	'5|row 1,row 2,row 3,row 4,row 5|0',
	'purge worker: the database without the extension is left alone');
my $log = slurp_file($pn->logfile, $log_offset);
unlike($log, qr/(ERROR|FATAL|PANIC|WARNING):/,
	'purge worker: no error or warning in the log since the reload');
my $removed = 0;
$removed += $_ for ($log =~ /biocrypt: purge removed (\d+) expired templates/g);
is($removed, 8, 'purge worker: the log accounts for the 5 + 3 templates purged');
$pn->stop;

########################################################################
# the node for parts 2, 3, 5 and 6
########################################################################
# the extension goes into databases created below
my $node = BiocryptNode->new_node('retention',
	root_key  => $K0,
	purpose   => 'verification',
	extension => 0);
my $destroyed_file = $node->data_dir . '/pg_biocrypt/destroyed_keys';
my $n_destroyed    = 0;    # keys destroyed in the cluster so far

sub q1 { return $node->safe_psql(@_); }

########################################################################
# 2. a destroyed key and a dump taken before
########################################################################
my $verify1 = q{SELECT biocrypt.verify(tpl, ARRAY[id, 1, 2]::real[], 1e-6, 'l2') FROM t WHERE id = %d};
my $reveal1 = 'SET biocrypt.allow_reveal = on; SELECT biocrypt.reveal(tpl) FROM t WHERE id = %d';
q1('postgres', 'CREATE DATABASE a');
q1(
	'a', q{
	CREATE EXTENSION biocrypt;
	CREATE TABLE t (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO t VALUES
	  (1, biocrypt.protect('{1,1,2}'::real[], 'doomed-1')),
	  (2, biocrypt.protect('{2,1,2}'::real[], 'doomed-2'));
	INSERT INTO t VALUES
	  (3, biocrypt.protect('{3,1,2}'::real[], 'other-3', now() + interval '2 months'));
});
is(q1('a', q{SELECT string_agg(id || ':' || biocrypt.key_id_of(tpl), ',' ORDER BY id) FROM t}),
	'1:1,2:1,3:2', 'destroy: templates under keys 1 and 2');
my $reveal_all = q{SET biocrypt.allow_reveal = on;
	SELECT string_agg(id || '=' || biocrypt.reveal(tpl)::text, ' ' ORDER BY id) FROM t};
is(q1('a', $reveal_all), '1={1,1,2} 2={2,1,2} 3={3,1,2}', 'destroy: templates reveal before');

my $dump = PostgreSQL::Test::Utils::tempdir . '/a.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('a') ],
	'destroy: pg_dump of a before the destruction');

ok(!-e $destroyed_file, 'destroy: no list of destroyed keys before any destruction');
is(q1('a', 'SELECT biocrypt.destroy_key(1)'), 't', 'destroy_key(1): true, destroyed now');
$n_destroyed++;
is(q1('a', 'SELECT biocrypt.destroy_key(1)'), 'f', 'destroy_key(1) again: false');
like(fails($node, 'a', 'SELECT biocrypt.destroy_key(99)', 'destroy_key(99)'),
	qr/ERROR:  42704: biocrypt: data key 99 is not in the key ring/,
	'destroy_key of an unknown id: 42704');
is( q1(
		'a',
		"SELECT state, wrapped IS NULL, destroyed_at IS NOT NULL FROM biocrypt.keys ORDER BY id"),
	"destroyed|t|t\nactive|f|f",
	'destroy: key 1 destroyed, its wrapped form erased; key 2 untouched');
is( q1(
		'a', q{
	SELECT relation, templates_compared,
	       matches = jsonb_build_array(jsonb_build_object('key_id', 1, 'epoch',
	                   (SELECT epoch::text FROM biocrypt.keys WHERE id = 1)))
	FROM biocrypt.audit_log WHERE operation = 'destroy' AND outcome = 'ok'}),
	'biocrypt.keys|0|t',
	'destroy: one audit row with the key id and its epoch');
is( q1(
		'a', q{
	SELECT outcome, sqlstate, matches
	FROM biocrypt.audit_log WHERE operation = 'destroy' AND outcome <> 'ok'}),
	'denied|42704|[{"id": "99", "function": "destroy_key"}]',
	'destroy: the refused destroy_key(99) is recorded, with the request');
is(-s $destroyed_file, 16 * $n_destroyed, 'destroy: 16 bytes in the cluster list');

like(fails($node, 'a', sprintf($verify1, 1), 'a: verify under the destroyed key'),
	destroyed_re(1, 0), 'a: verify fails, key destroyed (55000)');
like(fails($node, 'a', sprintf($reveal1, 2), 'a: reveal under the destroyed key'),
	destroyed_re(1, 0), 'a: reveal fails, key destroyed (55000)');
is(q1('a', sprintf($verify1, 3)), 't', 'a: a template under key 2 still verifies');

q1('postgres', 'CREATE DATABASE b');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('b'), $dump ],
	'destroy: the older dump restores into b');
is(q1('b', q{SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM biocrypt.keys}),
	'1:active,2:active', 'b: its key ring is the copy from before the destruction');
is(q1('b', q{SELECT string_agg(biocrypt.subject_of(tpl), ',' ORDER BY id) FROM t}),
	'doomed-1,doomed-2,other-3', 'b: headers still readable');
like(fails($node, 'b', sprintf($verify1, 1), 'b: verify under the destroyed key'),
	destroyed_re(1, 1), 'b: verify fails: destroyed, this copy is older');
like(fails($node, 'b', sprintf($reveal1, 2), 'b: reveal under the destroyed key'),
	destroyed_re(1, 1), 'b: reveal fails: destroyed, this copy is older');
is(q1('b', sprintf($verify1, 3)), 't', 'b: a template under key 2 verifies');
is(q1('b', sprintf($reveal1, 3)), '{3,1,2}', 'b: and reveals to its value');

########################################################################
# 6. another backend's key cache
########################################################################
q1('postgres', 'CREATE DATABASE cache');
q1(
	'cache', q{
	CREATE EXTENSION biocrypt;
	CREATE TABLE t (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO t VALUES (1, biocrypt.protect('{1,1,2}'::real[], 'c-1'));
	INSERT INTO t VALUES (2, biocrypt.protect('{2,1,2}'::real[], 'c-2', now() + interval '2 months'));
});
my $s1 = $node->background_psql('cache', on_error_stop => 0);
is($s1->query_safe(sprintf($verify1, 1) . '; ' . sprintf($verify1, 2)),
	"t\nt", 'cache: session 1 verifies under keys 1 and 2 (keys cached)');
is($s1->query_safe(sprintf($verify1, 1)), 't', 'cache: session 1 verifies again');
is(q1('cache', 'SELECT biocrypt.destroy_key(1)'), 't', 'cache: session 2 destroys key 1');
$n_destroyed++;
$s1->{stderr} = '';
my ($out, $failed) = $s1->query(sprintf($verify1, 1));
ok($failed, 'cache: session 1 next transaction fails');
is($out, '', 'cache: and returns nothing');
like($s1->{stderr}, qr/ERROR:  biocrypt: data key 1 has been destroyed\n/,
	'cache: session 1 sees the destroyed key, not its cached copy');
$s1->{stderr} = '';
is($s1->query_safe(sprintf($verify1, 2)), 't', 'cache: session 1 still verifies under key 2');
$s1->quit;

# a key the session created itself (never read back from the ring) is
# dropped from its cache all the same
my $s3 = $node->background_psql('cache', on_error_stop => 0);
$s3->query_safe(
	q{INSERT INTO t VALUES (3, biocrypt.protect('{3,1,2}'::real[], 'c-3', now() + interval '5 months'))});
is(q1('cache', 'SELECT biocrypt.key_id_of(tpl) FROM t WHERE id = 3'),
	'3', 'cache: session 3 sealed under a key it created (3)');
is($s3->query_safe(sprintf($verify1, 3)), 't', 'cache: session 3 verifies with its own new key');
is(q1('cache', 'SELECT biocrypt.destroy_key(3)'), 't', 'cache: session 2 destroys key 3');
$n_destroyed++;
$s3->{stderr} = '';
($out, $failed) = $s3->query(sprintf($verify1, 3));
ok($failed, 'cache: session 3 next transaction fails');
like($s3->{stderr}, qr/ERROR:  biocrypt: data key 3 has been destroyed\n/,
	'cache: session 3 sees the destroyed key, not the one it created');
$s3->quit;
is(-s $destroyed_file, 16 * $n_destroyed, 'cache: the cluster list grew by 16 bytes');

########################################################################
# 3. legal hold (set up now, checked across the restart below)
########################################################################
q1('postgres', 'CREATE DATABASE hold');
q1(
	'hold', q{
	CREATE EXTENSION biocrypt;
	CREATE TABLE h (id int PRIMARY KEY, tpl protected_template);
	SELECT biocrypt.protect_column('h', 'tpl', '1 second', '{verification}');
	INSERT INTO h VALUES
	  (1, biocrypt.protect('{1,1,2}'::real[], 'held-1')),
	  (2, biocrypt.protect('{2,1,2}'::real[], 'free-2')),
	  (3, biocrypt.protect('{3,1,2}'::real[], 'free-3'));
});
is(q1('hold', "SELECT biocrypt.hold('held-1', 'litigation 17')"), 't', 'hold: new hold');
is(q1('hold', "SELECT biocrypt.hold('held-1', 'litigation 17')"), 'f', 'hold: already held');
is(q1('hold', q{SELECT count(DISTINCT biocrypt.key_id_of(tpl)) || '|' || count(*) FROM h}),
	'1|3', 'hold: three templates under one key');
my $hold_key = q1('hold', 'SELECT biocrypt.key_id_of(tpl) FROM h WHERE id = 1');
# protect() sealed under the default retention's key 1, the policy trigger
# re-sealed under this month's key 2
is($hold_key, '2', 'hold: the templates are under key 2');
ok($node->poll_query_until('hold', 'SELECT count(*) FROM biocrypt.overdue', '3'),
	'hold: all three templates have expired');
is(q1('hold', 'SELECT biocrypt.purge_expired()'), '2', 'hold: the purge removes the two free templates');
is( q1(
		'hold',
		q{SELECT string_agg(biocrypt.subject_of(tpl), ',') FROM h; }
		  . 'SELECT relation, column_name, subject, held FROM biocrypt.overdue'),
	"held-1\nh|tpl|held-1|t",
	'hold: the held template stays, overdue and held');
is( q1(
		'hold',
		"SELECT templates_compared, matches FROM biocrypt.audit_log WHERE operation = 'purge' ORDER BY id"),
	'2|[{"subject": "free-2", "templates": 1}, {"subject": "free-3", "templates": 1}]',
	'hold: the purge audit names the purged subjects only');
# Simulate the passage of time: move every key's epoch (the UTC month in
# which its templates expire) back, as if those months were over.  The
# held template's key (this month) goes two months back; the key protect()
# made for the default retention (a year ahead; the policy trigger re-sealed
# its template under this month's key) two years back.  Both are due for
# shredding; only the unused one may be destroyed.
is( q1(
		'hold', qq{
	UPDATE biocrypt.keys SET epoch = epoch - CASE WHEN id = $hold_key
	    THEN interval '2 months' ELSE interval '2 years' END;
	SELECT string_agg(id || ':' || (epoch + interval '1 month' <= now() AT TIME ZONE 'UTC'), ',' ORDER BY id)
	FROM biocrypt.keys}),
	'1:true,2:true',
	'hold: both keys\' epochs are over (simulated)');
is(q1('hold', 'SELECT biocrypt.purge_expired()'), '0', 'hold: epoch over: the purge removes nothing');
$n_destroyed++;
my $unused_epoch = q1('hold', 'SELECT epoch FROM biocrypt.keys WHERE id = 1');
is( q1('hold', "SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM biocrypt.keys"),
	'1:destroyed,2:active',
	'hold: epoch over: the unused key is shredded, the held template keeps its key');

########################################################################
# 5. rotate_key and reencrypt over 10001 templates
########################################################################
q1('postgres', 'CREATE DATABASE rot');
q1(
	'rot', q{
	CREATE EXTENSION biocrypt;
	CREATE TABLE big (id int PRIMARY KEY, tpl protected_template NOT NULL);
	SELECT biocrypt.protect_column('big', 'tpl', '1 year', '{verification}');
	-- expires in a second: never re-encrypted once expired
	INSERT INTO big VALUES (0, biocrypt.protect('{0,1,2}'::real[], 'short', now() + interval '1 second'));
	INSERT INTO big SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], 's-' || i)
	FROM generate_series(1, 10001) i;
});
my $headers =
  "SELECT md5(string_agg(id || biocrypt.subject_of(tpl) || biocrypt.expires_at(tpl) || "
  . "biocrypt.purposes_of(tpl)::text, ',' ORDER BY id)) FROM big";
my $all_verify =
  "SELECT count(*) FILTER (WHERE biocrypt.verify(tpl, ARRAY[id, 1, 2]::real[], 1e-6, 'l2')) FROM big WHERE id > 0";
my $by_key =
  "SELECT string_agg(k || ':' || n, ',' ORDER BY k) FROM "
  . "(SELECT biocrypt.key_id_of(tpl) k, count(*) n FROM big GROUP BY 1) x";
my $before = q1('rot', $headers);
is(q1('rot', $by_key), '1:1,2:10001', 'rotate: the short-lived template under key 1, the others under key 2');
ok($node->poll_query_until('rot', 'SELECT count(*) FROM biocrypt.overdue', '1'),
	'rotate: the short-lived template has expired');
my $nblocks = q1('rot', "SELECT pg_relation_size('big') / 8192");
is(q1('rot', 'SELECT biocrypt.rotate_key()'), '2', 'rotate_key(): both active keys retired');
is(q1('rot', 'SELECT biocrypt.rotate_key()'), '0', 'rotate_key() again: no active key left');
my ($ret, $moved, $err) = $node->psql_verbose('rot', "SELECT biocrypt.reencrypt('big', 'tpl')");
is($moved, '10001', 'reencrypt(): 10001 templates moved (not the expired one)');
my @notices = $err =~ /^(?:psql:<stdin>:\d+: )?NOTICE:  00000: (biocrypt: reencrypt .*)$/mg;
is(scalar @notices, 1, 'reencrypt(): one progress NOTICE for 10001 templates');
# the NOTICE comes after the batch (a range of blocks) that passes 10000
ok( ($notices[0] // '') =~
	  /^biocrypt: reencrypt public\.big\.tpl: (\d+) templates moved, block (\d+) of $nblocks$/
	  && $1 >= 10000 && $1 <= 10001 && $2 <= $nblocks,
	'reencrypt(): the NOTICE counts templates and blocks');
is(q1('rot', $by_key), '1:1,3:10001', 'reencrypt(): all live templates under the new key 3');
is( q1('rot', "SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM biocrypt.keys"),
	'1:retired,2:retired,3:active', 'rotate: keys 1 and 2 retired, key 3 active');
is(q1('rot', $all_verify), '10001', 'reencrypt(): every template still verifies');
is(q1('rot', $headers), $before, 'reencrypt(): subjects, expiries and purposes unchanged');
is(q1('rot', "SELECT biocrypt.reencrypt('big', 'tpl')"), '0', 'reencrypt() again: nothing to move');

# again, in batches
is(q1('rot', 'SELECT biocrypt.rotate_key()'), '1', 'rotate_key(): key 3 retired');
($ret, $moved, $err) = $node->psql_verbose('rot', "SELECT biocrypt.reencrypt('big', 'tpl', 4000)");
is($moved, '4000', 'reencrypt(max_rows 4000): 4000 moved');
unlike($err, qr/NOTICE/, 'reencrypt(max_rows 4000): no progress NOTICE');
is(q1('rot', $by_key), '1:1,3:6001,4:4000', 'reencrypt(max_rows 4000): 4000 under key 4');
is(q1('rot', "SELECT biocrypt.reencrypt('big', 'tpl', 100000)"), '6001', 'reencrypt resumes: 6001 moved');
is(q1('rot', "SELECT biocrypt.reencrypt('big', 'tpl', 5)"), '0', 'reencrypt done: 0 moved');
is(q1('rot', $by_key), '1:1,4:10001', 'rotate: all live templates under key 4');
is(q1('rot', $all_verify), '10001', 'rotate: every template still verifies');
is(q1('rot', $headers), $before, 'rotate: headers still unchanged');
like(
	fails($node, 'rot', "SELECT biocrypt.reencrypt('big', 'tpl', 0)", 'reencrypt(max_rows 0)'),
	qr/ERROR:  22023: biocrypt: max_rows must be positive/,
	'reencrypt(max_rows 0): 22023');
is( q1(
		'rot', q{
	SELECT string_agg(coalesce(relation::text, '-') || ':' || coalesce(column_name, '-') || ':'
	                  || templates_compared || ':' || matches::text, E'\n' ORDER BY id)
	FROM biocrypt.audit_log WHERE operation = 'rotate'}),
	join("\n",
		'biocrypt.keys:-:2:[{"keys": 2, "action": "rotate_key"}]',
		'biocrypt.keys:-:0:[{"keys": 0, "action": "rotate_key"}]',
		'big:tpl:10001:[{"action": "reencrypt"}]',
		'big:tpl:0:[{"action": "reencrypt"}]',
		'biocrypt.keys:-:1:[{"keys": 1, "action": "rotate_key"}]',
		'big:tpl:4000:[{"action": "reencrypt"}]',
		'big:tpl:6001:[{"action": "reencrypt"}]',
		'big:tpl:0:[{"action": "reencrypt"}]',
		'-:-:0:[{"col": "tpl", "tbl": "big", "function": "reencrypt", "max_rows": "0"}]'),
	'rotate: every rotate_key() and reencrypt() audited, the refused one too');

# progress of a running reencrypt(): hold a lock on the table's last row so
# that the call waits in its last batch, and watch it from another session
is(q1('rot', 'SELECT count(*) FROM biocrypt.reencrypt_progress'), '0', 'progress: nothing running');
is(q1('rot', 'SELECT biocrypt.rotate_key()'), '1', 'progress: key 4 retired');
my $nblocks_now = q1('rot', "SELECT pg_relation_size('big') / 8192");
my $locker = $node->background_psql('rot');
$locker->query_safe('BEGIN; SELECT 1 FROM big WHERE id = (SELECT max(id) FROM big) FOR UPDATE');
my $mover = $node->background_psql('rot');
$mover->query_until(qr/moving/, "\\echo moving\nSELECT biocrypt.reencrypt('big', 'tpl');\n\\echo moved\n");
ok( $node->poll_query_until(
		'rot', q{SELECT count(*) > 0 FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'}),
	'progress: reencrypt() waits for the locked row');
is( q1(
		'rot', qq{
	SELECT p.datname || ':' || p.relid::regclass || ':' || p.column_name || ':'
	       || p.blocks_total || ':' || (p.blocks_done < p.blocks_total) || ':' || (p.started_at <= now())
	FROM biocrypt.reencrypt_progress p}),
	"rot:big:tpl:$nblocks_now:true:true",
	'progress: the view shows the call, its table, column and blocks');
$locker->query_safe('COMMIT');
$locker->quit;
my $moved_all = $mover->query_until(qr/moved/, '');
like($moved_all, qr/^10001$/m, 'progress: the call then moves every template');
$mover->quit;
is(q1('rot', 'SELECT count(*) FROM biocrypt.reencrypt_progress'), '0', 'progress: the call has left the view');

########################################################################
# restart: destroyed keys and holds persist
########################################################################
$node->restart;
is(-s $destroyed_file, 16 * $n_destroyed, 'restart: the cluster list is still there');
like(fails($node, 'a', sprintf($verify1, 1), 'restart, a: verify under the destroyed key'),
	destroyed_re(1, 0), 'restart, a: still destroyed');
like(fails($node, 'b', sprintf($reveal1, 1), 'restart, b: reveal under the destroyed key'),
	destroyed_re(1, 1), 'restart, b: still destroyed, this copy is older');
is(q1('b', sprintf($verify1, 3)), 't', 'restart, b: key 2 still works');
like(fails($node, 'cache', sprintf($verify1, 1), 'restart, cache: verify under the destroyed key'),
	destroyed_re(1, 0), 'restart, cache: still destroyed');

is(q1('hold', 'SELECT biocrypt.purge_expired()'), '0', 'restart, hold: the purge removes nothing');
is( q1(
		'hold',
		"SELECT (SELECT string_agg(biocrypt.subject_of(tpl), ',') FROM h) || '|' || "
		  . "(SELECT state FROM biocrypt.keys WHERE id = $hold_key) || '|' || "
		  . "(SELECT string_agg(subject || ':' || reason, ',') FROM biocrypt.holds)"),
	'held-1|active|held-1:litigation 17',
	'restart, hold: template, key and hold still there');
is(q1('hold', "SELECT biocrypt.release_hold('held-1')"), 't', 'release_hold: was held');
is(q1('hold', "SELECT biocrypt.release_hold('held-1')"), 'f', 'release_hold again: no longer held');
my $hold_epoch = q1('hold', "SELECT epoch FROM biocrypt.keys WHERE id = $hold_key");
is(q1('hold', 'SELECT biocrypt.purge_expired()'), '1', 'released: the next purge removes the template');
$n_destroyed++;
is( q1(
		'hold',
		"SELECT (SELECT count(*) FROM h) || '|' || "
		  . "(SELECT state || ':' || (wrapped IS NULL) FROM biocrypt.keys WHERE id = $hold_key) || '|' || "
		  . "(SELECT count(*) FROM biocrypt.overdue)"),
	'0|destroyed:true|0',
	'released: table empty, key destroyed, nothing overdue');
is(-s $destroyed_file, 16 * $n_destroyed, 'released: the cluster list grew by 16 bytes');
is( q1(
		'hold', q{
	SELECT string_agg(operation || ' ' || coalesce(templates_compared::text, '') || ' '
	                  || coalesce(matches::text, ''), E'\n' ORDER BY id)
	FROM biocrypt.audit_log WHERE operation IN ('hold', 'purge', 'destroy')}),
	join("\n",
		'hold 0 [{"action": "hold", "reason": "litigation 17", "subject": "held-1"}]',
		'hold 0 [{"action": "hold", "reason": "litigation 17", "subject": "held-1"}]',
		'purge 2 [{"subject": "free-2", "templates": 1}, {"subject": "free-3", "templates": 1}]',
		'purge 0 ',
		'destroy 0 [{"epoch": "' . $unused_epoch . '", "key_id": 1}]',
		'purge 0 ',
		'hold 0 [{"action": "release", "subject": "held-1"}]',
		'hold 0 [{"action": "release", "subject": "held-1"}]',
		'purge 1 [{"subject": "held-1", "templates": 1}]',
		qq(destroy 0 [{"epoch": "$hold_epoch", "key_id": $hold_key}])),
	'hold: holds, releases, purges and the destruction audited in order');

$node->stop;

########################################################################
# 4. root-key rotation
########################################################################
my $rk = BiocryptNode->new_node('root_rotation',
	purpose  => 'verification',
	key_conf => '',
	start    => 0);

# The root key settings: root_key_command, and new_root_key_command if given.
sub use_keys
{
	my ($root, $new) = @_;
	$rk->set_key_conf("biocrypt.root_key_command = 'echo $root'\n"
		  . (defined $new ? "biocrypt.new_root_key_command = 'echo $new'\n" : ''));
	return;
}

my $r_verify =
  "SELECT count(*) || '/' || count(*) FILTER (WHERE biocrypt.verify(tpl, ARRAY[id, 1, 2]::real[], 1e-6, 'l2')) "
  . "FROM r WHERE id <> 9";
my $r_reveal = q{SET biocrypt.allow_reveal = on;
	SELECT string_agg(id || '=' || biocrypt.reveal(tpl)::text, ' ' ORDER BY id) FROM r WHERE id <> 9};
my $r_kcv = "SELECT count(DISTINCT kcv) || ':' || min(encode(kcv, 'hex')) FROM biocrypt.keys WHERE state <> 'destroyed'";

use_keys($K1);
$rk->start;
$rk->safe_psql(
	'postgres', q{
	CREATE EXTENSION biocrypt;
	CREATE TABLE r (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO r VALUES
	  (1, biocrypt.protect('{1,1,2}'::real[], 'r-1')),
	  (2, biocrypt.protect('{2,1,2}'::real[], 'r-2', now() + interval '2 months')),
	  (3, biocrypt.protect('{3,1,2}'::real[], 'r-3', now() + interval '5 months')),
	  (4, biocrypt.protect('{4,1,2}'::real[], 'r-4', now() + interval '5 months')),
	  (9, biocrypt.protect('{9,1,2}'::real[], 'r-9', now() + interval '8 months'));
	SELECT biocrypt.destroy_key(biocrypt.key_id_of(tpl)) FROM r WHERE id = 9;
});
is( $rk->safe_psql('postgres',
		"SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM biocrypt.keys"),
	'1:active,2:active,3:active,4:destroyed',
	'root key K1: three live keys and a destroyed one');
is($rk->safe_psql('postgres', $r_verify), '4/4', 'root key K1: templates verify');
my $r_revealed = $rk->safe_psql('postgres', $r_reveal);
is($r_revealed, '1={1,1,2} 2={2,1,2} 3={3,1,2} 4={4,1,2}', 'root key K1: templates reveal');
my $kcv1 = $rk->safe_psql('postgres', $r_kcv);
like($kcv1, qr/^1:[0-9a-f]{32}$/, 'root key K1: one key-check value');
like(fails($rk, 'postgres', 'SELECT biocrypt.rewrap_keys()', 'rewrap_keys() without a new root key'),
	qr/ERROR:  55000: biocrypt: no new root key is configured/,
	'rewrap_keys() without a new root key: 55000');

# a copy of another database's ring, restored from a dump (as in part 2),
# taken before the rotation and before the destruction below
my $orig_verify = q{SELECT biocrypt.verify(tpl, '{1,2,3}'::real[], 1e-6, 'l2') FROM o};
$rk->safe_psql('postgres', 'CREATE DATABASE orig');
$rk->safe_psql(
	'orig', q{
	CREATE EXTENSION biocrypt;
	CREATE TABLE o (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO o VALUES (1, biocrypt.protect('{1,2,3}'::real[], 'o-1'));
});
my $orig_dump = PostgreSQL::Test::Utils::tempdir . '/orig.dump';
$rk->command_ok([ 'pg_dump', '-Fc', '-f', $orig_dump, '-d', $rk->connstr('orig') ],
	'root key K1: pg_dump of orig');
$rk->safe_psql('postgres', 'CREATE DATABASE copy');
$rk->command_ok([ 'pg_restore', '--exit-on-error', '-d', $rk->connstr('copy'), $orig_dump ],
	'root key K1: restored into copy');
is($rk->safe_psql('copy', $orig_verify), 't', 'root key K1: the copy verifies');

# both keys configured
$rk->stop;
use_keys($K1, $K2);
$rk->start;
is($rk->safe_psql('postgres', $r_verify), '4/4', 'K1 + new K2: templates wrapped under K1 verify');
my $live_keys = $rk->safe_psql('postgres', "SELECT count(*) FROM biocrypt.keys WHERE state <> 'destroyed'");
is($live_keys, '3', 'K1 + new K2: three live keys');
is($rk->safe_psql('postgres', 'SELECT biocrypt.rewrap_keys()'), $live_keys,
	'rewrap_keys(): every live key rewrapped');
is($rk->safe_psql('postgres', 'SELECT biocrypt.rewrap_keys()'), '0', 'rewrap_keys() again: 0');
my $kcv2 = $rk->safe_psql('postgres', $r_kcv);
like($kcv2, qr/^1:[0-9a-f]{32}$/, 'rewrapped: one key-check value');
isnt($kcv2, $kcv1, 'rewrapped: a different key-check value (the new root)');
is( $rk->safe_psql('postgres',
		"SELECT state, wrapped IS NULL FROM biocrypt.keys WHERE id = 4"),
	'destroyed|t', 'rewrapped: the destroyed key stays destroyed');
is($rk->safe_psql('postgres', $r_verify), '4/4', 'rewrapped: templates still verify');
$rk->safe_psql(
	'postgres', q{
	INSERT INTO r VALUES
	  (5, biocrypt.protect('{5,1,2}'::real[], 'r-5')),
	  (6, biocrypt.protect('{6,1,2}'::real[], 'r-6', now() + interval '11 months'));
});
is( $rk->safe_psql('postgres',
		"SELECT string_agg(id || ':' || biocrypt.key_id_of(tpl), ',' ORDER BY id) FROM r WHERE id IN (5, 6)"),
	'5:1,6:5', 'rewrapped: new templates under an existing key and a new one');
is($rk->safe_psql('postgres', $r_kcv), $kcv2, 'rewrapped: the new key is wrapped under the new root');
is($rk->safe_psql('postgres', $r_verify), '6/6', 'rewrapped: old and new templates verify');
is( $rk->safe_psql(
		'postgres',
		"SELECT templates_compared, outcome, matches FROM biocrypt.audit_log WHERE operation = 'rotate' ORDER BY id"),
	"0|denied|[{\"function\": \"rewrap_keys\"}]\n3|ok|[{\"keys\": 3, \"action\": \"rewrap_keys\"}]\n0|ok|[{\"keys\": 0, \"action\": \"rewrap_keys\"}]",
	'rewrap_keys(): audited as rotate, the refused call (no new root key) too');

# the procedure: rewrap_keys() in every database, orig and copy too; then
# orig destroys its key: the copy, older than the destruction, must not
# decrypt with it any more
is($rk->safe_psql('orig', 'SELECT biocrypt.rewrap_keys()'), '1', 'orig: rewrapped');
is($rk->safe_psql('copy', 'SELECT biocrypt.rewrap_keys()'), '1', 'copy: rewrapped');
is($rk->safe_psql('orig', 'SELECT biocrypt.destroy_key(1)'), 't', 'orig: key 1 destroyed');
like(fails($rk, 'orig', $orig_verify, 'orig: verify under the destroyed key'),
	destroyed_re(1, 0), 'orig: destroyed');
like(fails($rk, 'copy', $orig_verify, 'copy, rewrapped before the destruction: verify'),
	destroyed_re(1, 1), 'copy, rewrapped before the destruction: destroyed, this copy is older');

# K2 becomes the root key
$rk->stop;
use_keys($K2);
$rk->start;
is($rk->safe_psql('postgres', $r_verify), '6/6', 'root key K2: every template verifies');
is( $rk->safe_psql('postgres', $r_reveal),
	"$r_revealed 5={5,1,2} 6={6,1,2}",
	'root key K2: every template reveals to its original values');
like(
	fails($rk, 'postgres', 'SET biocrypt.allow_reveal = on; SELECT biocrypt.reveal(tpl) FROM r WHERE id = 9',
		'root key K2: reveal under the destroyed key'),
	destroyed_re(4, 0),
	'root key K2: the destroyed key is still destroyed');
like(fails($rk, 'postgres', 'SELECT biocrypt.rewrap_keys()', 'root key K2: rewrap_keys()'),
	qr/ERROR:  55000: biocrypt: no new root key is configured/,
	'root key K2: rewrap_keys() needs a new root key again');
$rk->safe_psql('postgres',
	"INSERT INTO r VALUES (7, biocrypt.protect('{7,1,2}'::real[], 'r-7', now() + interval '2 months'))");
is($rk->safe_psql('postgres', $r_verify), '7/7', 'root key K2: enrolment goes on');
like(fails($rk, 'copy', $orig_verify, 'root key K2, copy: verify'),
	destroyed_re(1, 1), 'root key K2, copy: destroyed, this copy is older');

# the old root key alone no longer reads the ring
$rk->stop;
use_keys($K1);
$rk->start;
my $mismatch = qr/ERROR:  F0000: biocrypt: the root key does not match the key ring\n/;
like(fails($rk, 'postgres', $r_verify, 'root key K1 again: verify'),
	$mismatch, 'root key K1 again: verify fails, root key does not match (F0000)');
like(fails($rk, 'postgres', $r_reveal, 'root key K1 again: reveal'),
	$mismatch, 'root key K1 again: reveal fails, root key does not match (F0000)');
$rk->stop;

done_testing();
