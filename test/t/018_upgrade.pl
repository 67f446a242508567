# Copyright (c) biocrypt authors
#
# Upgrading from 0.1.0: a database created at version 0.1.0 (the released
# script, run with this build's library, as after a package upgrade and a
# restart), filled, searched and audited, then ALTER EXTENSION biocrypt
# UPDATE TO '0.2.0', then UPDATE to 0.3.0.  Before the first update the
# audit log lacks the columns 0.2.0 adds, and the audit worker writes
# without them; after it, every template still verifies and identifies
# with the same answers, the audit chain verifies across the update, and
# 0.2.0's features work.  The second adds the origin column (0.3.0): rows
# written at 0.2.0, with their skip counts, keep their hashes.  The
# upgraded extension's objects are those of a new installation.  A dump
# taken at 0.1.0 and one taken after the updates both restore into 0.3.0
# with the same answers.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $KEY = '0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';
my $tempdir = PostgreSQL::Test::Utils::tempdir;
my $node = BiocryptNode->new_node('upgrade', root_key => $KEY, extension => 0,
	purpose => 'verification');

# 60 subjects with an 8-d embedding each (deterministic), a gallery index,
# and bit codes
my $fill = q{
	CREATE TABLE people (id int PRIMARY KEY, face protected_template);
	INSERT INTO people SELECT s, biocrypt.protect(
		(SELECT array_agg(sin(s * 3.7 + d)::real ORDER BY d) FROM generate_series(1, 8) d),
		'person-' || s) FROM generate_series(1, 60) s;
	CREATE INDEX people_face ON people USING biocrypt_gallery (face);
	CREATE TABLE irises (id int PRIMARY KEY, code protected_template);
	INSERT INTO irises SELECT s, biocrypt.protect_bits(
		decode(lpad(to_hex(s * 7919), 16, '0'), 'hex'), NULL, 'iris-' || s)
		FROM generate_series(1, 10) s;
};
# the same questions before and after: verify, identify (through the
# gallery and without it), ORDER BY through the index, bit codes
my $answers = q{
	SET biocrypt.match_threshold = '0.01';
	SELECT string_agg(id || ':' || biocrypt.verify(face,
		(SELECT array_agg(sin(id * 3.7 + d)::real ORDER BY d) FROM generate_series(1, 8) d), 0.0001)::text,
		',' ORDER BY id) FROM people WHERE id IN (1, 2, 59);
	SELECT string_agg(subject, ',') FROM biocrypt.identify('people', 'face',
		(SELECT array_agg(sin(17 * 3.7 + d)::real ORDER BY d) FROM generate_series(1, 8) d), 3, NULL, 'l2');
	SET biocrypt.enable_gallery = off;
	SELECT string_agg(subject, ',') FROM biocrypt.identify('people', 'face',
		(SELECT array_agg(sin(17 * 3.7 + d)::real ORDER BY d) FROM generate_series(1, 8) d), 3, NULL, 'l2');
	RESET biocrypt.enable_gallery;
	SET enable_seqscan = off;
	SELECT string_agg(id::text, ',') FROM (SELECT id FROM people ORDER BY face <-> (SELECT array_agg(sin(30 * 3.7 + d)::real ORDER BY d) FROM generate_series(1, 8) d) LIMIT 3) t;
	RESET enable_seqscan;
	SELECT string_agg(subject, ',') FROM biocrypt.identify('irises', 'code', decode(lpad(to_hex(4 * 7919), 16, '0'), 'hex'), 1);
};
# wait for the audit worker to write every completion
my $settle = q{
	SELECT count(*) = 0 FROM biocrypt.audit_log b WHERE b.outcome = 'begun'
		AND NOT EXISTS (SELECT FROM biocrypt.audit_log c WHERE c.chain_id = b.chain_id AND c.begun_id = b.id)
};

# -- 1. version 0.1.0
$node->safe_psql('postgres', 'CREATE DATABASE up');
$node->safe_psql('up', "CREATE EXTENSION biocrypt VERSION '0.1.0'");
is($node->safe_psql('up', "SELECT extversion FROM pg_extension WHERE extname = 'biocrypt'"),
	'0.1.0', 'installed at 0.1.0');
is( $node->safe_psql('up',
		"SELECT count(*) FROM pg_attribute WHERE attrelid = 'biocrypt.audit_log'::regclass "
		  . "AND attname IN ('purpose_skipped', 'shape_skipped')"),
	'0',
	'0.1.0 audit log: no purpose_skipped or shape_skipped columns');
$node->safe_psql('up', $fill);
my $before = $node->safe_psql('up', $answers);
like($before, qr/^1:true,2:true,59:true\nperson-17,[^\n]+\n(person-17,[^\n]+)\n30,[^\n]+\niris-4$/,
	'0.1.0: verify, identify (warm and cold), ORDER BY and bit codes answer');
my ($warm, $cold) = $before =~ /\n(person-17,[^\n]+)\n(person-17,[^\n]+)\n/;
is($warm, $cold, '0.1.0: identify through the gallery equals the table scan');
ok($node->poll_query_until('up', $settle), '0.1.0: every access has its completion');
my $rows_010 = $node->safe_psql('up', 'SELECT count(*) FROM biocrypt.audit_log');
cmp_ok($rows_010, '>', 10, '0.1.0: accesses audited');
is($node->safe_psql('up', 'SELECT ok, rows_checked FROM biocrypt.verify_audit()'),
	"t|$rows_010", '0.1.0: the audit chain verifies');
# a 0.2.0 function does not exist yet
my ($ret, $out, $err) = $node->psql('up', "SELECT biocrypt.verify_reason(face, '{1}'::real[]) FROM people");
like($err, qr/function biocrypt\.verify_reason\(protected_template, real\[\]\) does not exist/,
	'0.1.0: verify_reason() is not there before the update');

# a dump taken at 0.1.0
my $dump_010 = "$tempdir/at_010.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump_010, '-d', $node->connstr('up') ],
	'pg_dump at 0.1.0');

# the dump's reads of the template columns are exports, audited at 0.1.0
ok($node->poll_query_until('up', $settle), '0.1.0: the dump\'s exports have their completions');
$rows_010 = $node->safe_psql('up', 'SELECT count(*) FROM biocrypt.audit_log');

# -- 2. the update
$node->safe_psql('up', "ALTER EXTENSION biocrypt UPDATE TO '0.2.0'");
is($node->safe_psql('up', "SELECT extversion FROM pg_extension WHERE extname = 'biocrypt'"),
	'0.2.0', 'updated to 0.2.0');
is($node->safe_psql('up', $answers), $before, '0.2.0: the same answers as before the update');
ok($node->poll_query_until('up', $settle), '0.2.0: every access has its completion');
is( $node->safe_psql('up',
		"SELECT count(*) FILTER (WHERE purpose_skipped IS NULL AND shape_skipped IS NULL AND id <= $rows_010) "
		  . "|| ':' || count(*) FILTER (WHERE purpose_skipped IS NOT NULL AND shape_skipped IS NOT NULL AND id > $rows_010) "
		  . "|| ':' || count(*) FILTER (WHERE id > $rows_010) FROM biocrypt.audit_log"),
	do { my $n = $node->safe_psql('up', "SELECT count(*) FROM biocrypt.audit_log WHERE id > $rows_010"); "$rows_010:$n:$n" },
	'rows before the update have no skip counts; every row after it has them');
my $rows_all = $node->safe_psql('up', 'SELECT count(*) FROM biocrypt.audit_log');
is($node->safe_psql('up', 'SELECT ok, rows_checked FROM biocrypt.verify_audit()'),
	"t|$rows_all", 'the audit chain verifies across the update');

# 0.2.0's features on the upgraded database
is($node->safe_psql('up', q{
	SELECT biocrypt.verify_reason(face, (SELECT array_agg(sin(5 * 3.7 + d)::real ORDER BY d)
		FROM generate_series(1, 8) d), 0.0001) FROM people WHERE id = 5}),
	'match', '0.2.0: verify_reason() on a template enrolled at 0.1.0');
$node->safe_psql('up', 'ALTER TABLE people ALTER COLUMN face TYPE protected_template(8)');
is($node->safe_psql('up', "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
		  . "WHERE attrelid = 'people'::regclass AND attname = 'face'"),
	'protected_template(8)', '0.2.0: an existing column declares its shape (every row checked)');
($ret, $out, $err) = $node->psql('up',
	"INSERT INTO people VALUES (100, biocrypt.protect('{1,2,3}', 'person-100'))");
like($err, qr/template has 3 dimensions but the column takes 8/,
	'0.2.0: the declared shape refuses another');
$node->safe_psql('up', q{
	INSERT INTO people VALUES (101, biocrypt.protect('{1,0,0,0,0,0,0,0}', 'person-101', purposes => '{payment}'))});
is($node->safe_psql('up', q{
	SELECT count(*) FROM biocrypt.identify('people', 'face', '{1,0,0,0,0,0,0,0}'::real[], 100)}),
	'60', '0.2.0: identify skips the template of another purpose');
ok($node->poll_query_until('up', $settle), 'completions written');
is($node->safe_psql('up', q{
	SELECT purpose_skipped FROM biocrypt.audit_log WHERE operation = 'identify' AND outcome = 'ok'
	ORDER BY id DESC LIMIT 1}), '1', '0.2.0: the skip is counted in the audit row');
$node->safe_psql('up', 'DELETE FROM people WHERE id = 101');

# -- 2b. 0.2.0 -> 0.3.0: the origin column
my $rows_020 = $node->safe_psql('up', 'SELECT max(id) FROM biocrypt.audit_log');
$node->safe_psql('up', 'ALTER EXTENSION biocrypt UPDATE');
is($node->safe_psql('up', "SELECT extversion FROM pg_extension WHERE extname = 'biocrypt'"),
	'0.3.0', 'updated to 0.3.0');
is($node->safe_psql('up', $answers), $before, '0.3.0: the same answers');
ok($node->poll_query_until('up', $settle), '0.3.0: every access has its completion');
is( $node->safe_psql('up',
		"SELECT count(*) FILTER (WHERE origin IS NOT NULL) || ':' || count(*) FILTER (WHERE id <= $rows_020 "
		  . "AND purpose_skipped IS NOT NULL) || ':' || count(*) FILTER (WHERE id > $rows_020) "
		  . "FROM biocrypt.audit_log WHERE id > $rows_010"),
	do {
		my ($a, $b) = split /\|/, $node->safe_psql('up',
			"SELECT count(*) FILTER (WHERE id <= $rows_020), count(*) FILTER (WHERE id > $rows_020) "
			  . "FROM biocrypt.audit_log WHERE id > $rows_010");
		cmp_ok($a, '>', 0, '0.2.0 wrote rows with skip counts');
		cmp_ok($b, '>', 0, '0.3.0 wrote rows');
		"0:$a:$b" },
	'0.3.0: no row has an origin (all were made here); the 0.2.0 rows keep their skip counts');
$rows_all = $node->safe_psql('up', 'SELECT count(*) FROM biocrypt.audit_log');
is($node->safe_psql('up', 'SELECT ok, rows_checked FROM biocrypt.verify_audit()'),
	"t|$rows_all", 'the audit chain verifies across both updates');
is($node->safe_psql('up', "SELECT has_function_privilege('biocrypt_standby', "
		  . "'biocrypt.audit_forward(biocrypt.audit_log[])', 'EXECUTE')"),
	't', '0.3.0: biocrypt_standby may call audit_forward()');

# -- 3. the upgraded extension is the extension a new installation creates
my $objects = q{
	SELECT string_agg(d, E'\n' ORDER BY d) FROM (
		SELECT pg_describe_object(classid, objid, 0) || coalesce(
			(SELECT ' ' || md5(p.prosrc || p.provolatile::text || p.proparallel::text || p.prosecdef::text
				|| coalesce(p.proacl::text, '') || p.procost::text || coalesce(p.proconfig::text, ''))
			 FROM pg_proc p WHERE classid = 'pg_proc'::regclass AND p.oid = objid), '')
			|| coalesce((SELECT ' ' || md5(pg_get_viewdef(objid)) FROM pg_class c
				WHERE classid = 'pg_class'::regclass AND c.oid = objid AND c.relkind = 'v'), '')
			|| coalesce((SELECT ' ' || md5(string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod),
				',' ORDER BY a.attnum)) FROM pg_attribute a
				WHERE classid = 'pg_class'::regclass AND a.attrelid = objid AND a.attnum > 0 AND NOT a.attisdropped), '')
			AS d
		FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
			AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'biocrypt')) o
};
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION biocrypt');
my $fresh = $node->safe_psql('fresh', $objects);
cmp_ok(scalar(split /\n/, $fresh), '>', 100, 'a new installation has its objects');
is($node->safe_psql('up', $objects), $fresh,
	'the upgraded extension has the objects, definitions, columns and privileges of a new installation');
is( $node->safe_psql('up',
		"SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'audit_log_operation_check'"),
	$node->safe_psql('fresh',
		"SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'audit_log_operation_check'"),
	'the audit log takes the same operations');

# -- 4. dumps restore into 0.3.0: the one taken at 0.1.0, and one after
my $dump_030 = "$tempdir/at_030.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump_030, '-d', $node->connstr('up') ],
	'pg_dump at 0.3.0');
foreach my $case ([ 'from_010', $dump_010 ], [ 'from_030', $dump_030 ])
{
	my ($db, $file) = @$case;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr($db), $file ],
		"pg_restore of the dump $db");
	is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'biocrypt'"),
		'0.3.0', "$db: restored at 0.3.0");
	is($node->safe_psql($db, $answers), $before, "$db: the same answers");
	ok($node->poll_query_until($db, $settle), "$db: completions written");
	is($node->safe_psql($db, 'SELECT ok FROM biocrypt.verify_audit()'), 't',
		"$db: the restored database's own audit chain verifies");
}
is($node->safe_psql('from_030', "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
		  . "WHERE attrelid = 'people'::regclass AND attname = 'face'"),
	'protected_template(8)', 'from_030: the declared shape survives the dump');

$node->stop;
done_testing();
