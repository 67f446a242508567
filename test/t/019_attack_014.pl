# Copyright (c) biocrypt authors
#
# An attacker's trial of release 0.2.0 (issue 14), from the seats of a
# matcher, a verifier, a table owner and an administrator:
#  - a declared shape, protected_template(4), cannot be bypassed by any
#    write path (INSERT ... SELECT, UPDATE, COPY text and binary, domains,
#    arrays, composites, ALTER TABLE ... TYPE, a BEFORE trigger, a rule,
#    ON CONFLICT, MERGE, a column default);
#  - 1:N searches skip templates of other purposes and shapes, with exact
#    counts in the audit, cold and warm, and give them no distance;
#  - verify_reason() records a purpose refusal as denied, and a verifier
#    cannot move the threshold;
#  - template_distance() and calibrate() refuse a matcher;
#  - verify_audit() notices the optional columns (purpose_skipped,
#    shape_skipped) NULLed or swapped;
#  - compliance_report() escapes role, table, column, application and
#    subject names and hold reasons.
# and the weaknesses the trial found, fixed: an administrator could rebuild
# a template from template_distance() or calibrate() without
# biocrypt.allow_reveal, unnamed in the audit and uncounted in
# biocrypt.stats.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $node = BiocryptNode->new_node('attack',
	root_key => '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
	conf     => "log_statement = none\nbiocrypt.score_budget = -1\n"
	  . "biocrypt.match_threshold = 0.5\n");

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# The first error of $sql as "SQLSTATE: message", or "ok".
sub err_of
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql_verbose('postgres', $sql);
	return $err =~ /^(?:psql:[^\n]*?)?ERROR:  ([0-9A-Z]{5}): ([^\n]*)/m ? "$1: $2" : 'ok';
}

# The audit row fields of $role's next completed $op access (a comparison's
# completion may be recorded after its statement returns: wait for it).
my %done;
sub last_row
{
	my ($role, $op) = @_;
	my $where = "effective_role = '$role' AND operation = '$op' AND outcome <> 'begun'";
	my $n = ++$done{"$role $op"};
	$node->poll_query_until('postgres',
		"SELECT count(*) >= $n FROM biocrypt.audit_log WHERE $where")
	  or die "no $op row for $role";
	return q1("SELECT outcome || ':' || templates_compared || ':' || expired_skipped "
		  . "|| ':' || purpose_skipped || ':' || shape_skipped FROM biocrypt.audit_log "
		  . "WHERE $where ORDER BY id DESC LIMIT 1");
}

q1(q{
	CREATE ROLE m LOGIN IN ROLE biocrypt_matcher;
	CREATE ROLE v LOGIN IN ROLE biocrypt_verifier;
	CREATE ROLE adm LOGIN IN ROLE biocrypt_admin, biocrypt_enroller;
	CREATE ROLE aud LOGIN IN ROLE biocrypt_auditor;
	CREATE ROLE owner LOGIN IN ROLE biocrypt_enroller;
	GRANT CREATE ON SCHEMA public TO owner, adm;
	SELECT biocrypt.grant_purpose(r::regrole, 'verification') FROM unnest(ARRAY['m', 'v', 'adm']) r;
	-- 20 templates: 1..20 of 4 dimensions, every third for login only;
	-- 100 of 8 dimensions
	CREATE TABLE people (id int PRIMARY KEY, face protected_template);
	INSERT INTO people SELECT g, biocrypt.protect(ARRAY[sin(g), cos(g), sin(2 * g), cos(3 * g)]::real[],
		'subj-' || g, now() + interval '1 year',
		CASE WHEN g % 3 = 0 THEN '{login}'::text[] ELSE '{verification}' END)
	FROM generate_series(1, 20) g;
	INSERT INTO people VALUES (100, biocrypt.protect('{1,2,3,4,5,6,7,8}'::real[], 'subj-8d',
		now() + interval '1 year', '{verification}'));
	CREATE TABLE gal (id int PRIMARY KEY, face protected_template(4));
	INSERT INTO gal SELECT * FROM people WHERE id <= 20;
	CREATE INDEX gal_g ON gal USING biocrypt_gallery (face);
	GRANT SELECT ON people, gal TO m, v, adm, owner;
});

# -- 3. the declared shape, from a table owner's seat
my $refused = '22000: biocrypt: template has 8 dimensions but the column takes 4';
my $p8 = '(SELECT face FROM people WHERE id = 100)';
my $copy_bin = $node->basedir . '/t8.bin';
q1("COPY (SELECT 9, face FROM people WHERE id = 100) TO '$copy_bin' WITH (FORMAT binary)");
my $t8 = q1('SELECT face FROM people WHERE id = 100');
q1(q{
	SET ROLE owner;
	CREATE TABLE t4 (id int PRIMARY KEY, face protected_template(4));
	INSERT INTO t4 SELECT id, face FROM people WHERE id = 1;
	CREATE DOMAIN d4 AS protected_template(4);
	CREATE TABLE td (face d4);
	CREATE TABLE ta (faces protected_template(4)[]);
	CREATE TYPE c4 AS (f protected_template(4));
	CREATE TABLE tc (c c4);
	CREATE TABLE tx (face protected_template);
	INSERT INTO tx SELECT face FROM people WHERE id IN (1, 100);
	CREATE VIEW v4 AS SELECT id, face::protected_template AS face FROM t4;
	CREATE RULE r4 AS ON INSERT TO v4 DO INSTEAD INSERT INTO t4 VALUES (NEW.id, NEW.face);
	CREATE FUNCTION swap() RETURNS trigger LANGUAGE plpgsql
		AS $$ BEGIN NEW.face := (SELECT face FROM people WHERE id = 100); RETURN NEW; END $$;
	CREATE TABLE tt (id int, face protected_template(4));
	CREATE TRIGGER swap BEFORE INSERT ON tt FOR EACH ROW EXECUTE FUNCTION swap();
});
my %writes = (
	'INSERT ... SELECT' => "INSERT INTO t4 SELECT 2, $p8",
	'UPDATE' => "UPDATE t4 SET face = $p8",
	'COPY text' => "COPY t4 FROM STDIN;\n3\t$t8\n\\.\n",
	'domain' => "INSERT INTO td SELECT $p8",
	'array' => "INSERT INTO ta SELECT ARRAY[$p8]",
	'array text' => "INSERT INTO ta SELECT ('{' || ${p8}::text || '}')::protected_template(4)[]",
	'composite' => "INSERT INTO tc SELECT ROW($p8)::c4",
	'composite text' => "INSERT INTO tc SELECT ('(' || ${p8}::text || ')')::c4",
	'ALTER TABLE ... TYPE' => 'ALTER TABLE tx ALTER COLUMN face TYPE protected_template(4)',
	'rule' => "INSERT INTO v4 SELECT 4, $p8",
	'BEFORE trigger' => "INSERT INTO tt SELECT 5, face FROM people WHERE id = 1",
	'ON CONFLICT' => "INSERT INTO t4 SELECT 1, face FROM people WHERE id = 2 "
	  . "ON CONFLICT (id) DO UPDATE SET face = $p8",
	'MERGE' => "MERGE INTO t4 USING (SELECT 6 AS id, $p8 AS face) s ON t4.id = s.id "
	  . "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.face)");
foreach my $path (sort keys %writes)
{
	is(err_of("SET ROLE owner;\n$writes{$path}"), $refused, "shape: $path refused");
}
is(err_of("COPY t4 FROM '$copy_bin' WITH (FORMAT binary)"), $refused, 'shape: COPY binary refused');
is(err_of("SET ROLE owner;\nALTER TABLE t4 ADD COLUMN f2 protected_template(4) "
		  . "DEFAULT biocrypt.protect('{1,2,3,4,5}'::real[], 'dflt')"),
	'22000: biocrypt: template has 5 dimensions but the column takes 4',
	'shape: a column default refused');
is(q1(q{SELECT string_agg(id || ':' || biocrypt.dims_of(face), ',') FROM t4}), '1:4',
	'shape: t4 holds its one 4-dimensional template');

# -- 1. skipping in 1:N, as a matcher: no distance, exact counts
my $probe = q{'{0.1,0.2,0.3,0.4}'::real[]};
my $as_m = "SET ROLE m; SET biocrypt.purpose = 'verification';\n";
is(q1("${as_m}SELECT string_agg(id::text, ',' ORDER BY id) FROM people "
		  . "WHERE id IN (3, 6, 100) AND (face <=> $probe) IS NULL"),
	'3,6,100', 'skip: login-only and 8-d templates have no distance (operator)');
is(last_row('m', 'compare'), 'ok:0:0:2:1', 'skip: the operator counts 2 purpose, 1 shape');
is(q1("${as_m}SELECT count(*) FROM biocrypt.identify('people', 'face', $probe, 50)"),
	'14', 'skip: identify returns only the 14 usable templates');
is(last_row('m', 'identify'), 'ok:14:0:6:1', 'skip: identify counts 14 compared, 6 purpose, 1 shape');
foreach my $state ('cold', 'warm')
{
	q1("SET ROLE adm; SELECT biocrypt.warm('gal_g')") if $state eq 'warm';
	is(q1("${as_m}SET enable_seqscan = off;\nSELECT count(*) FILTER (WHERE d IS NULL) || '/' || count(*) "
			  . "FROM (SELECT face <=> $probe AS d FROM gal ORDER BY face <=> $probe) s"),
		'6/20', "skip: ORDER BY through the $state gallery: 6 rows without distance");
	is(last_row('m', 'compare'), 'ok:14:0:6:0', "skip: the $state gallery scan counts 6 purpose skipped");
}

# -- 2. verify_reason, as a verifier
my $as_v = "SET ROLE v; SET biocrypt.purpose = 'verification';\n";
is(err_of("${as_v}SET biocrypt.match_threshold = 2"),
	'42501: permission denied to set parameter "biocrypt.match_threshold"',
	'verify_reason: a verifier cannot move the threshold');
is(err_of("${as_v}SELECT biocrypt.verify_reason(face, $probe, 2.0) FROM people WHERE id = 1"),
	'42501: permission denied for function verify_reason',
	'verify_reason: a verifier cannot give a threshold');
is(q1("${as_v}SELECT string_agg(id || ':' || biocrypt.verify_reason(face, $probe), ',' ORDER BY id) "
		  . "FROM people WHERE id IN (3, 19, 100)"),
	'3:purpose,19:match,100:shape', 'verify_reason: purpose, match and shape');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE effective_role = 'v' "
		  . "AND operation = 'denied' AND sqlstate = '42501'"),
	'verify_reason: the purpose refusal is a denied row');

# -- 5. administrators' comparisons, from a matcher's seat
is(err_of("${as_m}SELECT biocrypt.template_distance(a.face, b.face) FROM people a, people b "
		  . "WHERE a.id = 1 AND b.id = 2"),
	'42501: permission denied for function template_distance', 'template_distance: matcher refused');
is(err_of("${as_m}SELECT * FROM biocrypt.calibrate('people', 'face')"),
	'42501: permission denied for function calibrate', 'calibrate: matcher refused');

# -- 4. the optional columns of the audit chain
is(q1('SELECT ok FROM biocrypt.verify_audit()'), 't', 'chain: intact');
my $row = q1("SELECT id FROM biocrypt.audit_log WHERE effective_role = 'm' "
	  . "AND operation = 'identify' AND outcome = 'ok' LIMIT 1");
foreach my $change ('purpose_skipped = NULL, shape_skipped = NULL',
	'purpose_skipped = shape_skipped, shape_skipped = purpose_skipped')
{
	is( q1( "SET biocrypt.allow_audit_maintenance = on;\nBEGIN;\n"
			  . "ALTER TABLE biocrypt.audit_log DISABLE TRIGGER audit_log_append_only;\n"
			  . "UPDATE biocrypt.audit_log SET $change WHERE id = $row;\n"
			  . "SELECT first_bad_id FROM biocrypt.verify_audit();\nROLLBACK;"),
		$row, "chain: SET $change is noticed");
}

# -- 7. the compliance report escapes what users name
q1(q{
	CREATE ROLE "<u>r</u>" LOGIN IN ROLE biocrypt_matcher, biocrypt_enroller;
	SELECT biocrypt.grant_purpose('<u>r</u>', 'verification');
	CREATE TABLE "<script>t</script>" (id int, "<img src=x onerror=c>" protected_template);
	GRANT ALL ON "<script>t</script>" TO "<u>r</u>";
});
q1(q{SET ROLE "<u>r</u>"; SET application_name = '<iframe src=a>';
	SET biocrypt.purpose = 'verification';
	INSERT INTO "<script>t</script>" VALUES (1, biocrypt.protect('{1,2,3,4}'::real[],
		'<svg onload=s>', now() + interval '1 day', '{verification}'));
	SELECT count(*) FROM biocrypt.identify('"<script>t</script>"', '<img src=x onerror=c>',
		'{1,2,3,4}'::real[], 3);});
q1(q{SET ROLE adm; SELECT biocrypt.hold('<svg onload=s>', '</title><script>h</script>')});
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM biocrypt.audit_log WHERE operation = 'identify' AND relation = '"<script>t</script>"'::regclass AND outcome = 'ok'})
  or die 'no identify row';
my $html = q1("SET ROLE aud; SELECT biocrypt.compliance_report(now() - interval '1 hour', now() + interval '1 minute')");
my @raw = $html =~ /(<(?:script|img|iframe|u>|svg onload)[^>]*>)/g;
is(join(' ', @raw), '', 'report: no user-named markup unescaped');
like($html, qr/&lt;script&gt;t&lt;\/script&gt;/, 'report: the table name is shown escaped');
like($html, qr/&lt;svg onload=s&gt;/, 'report: the subject is shown escaped');

# -- the weaknesses the trial found, fixed
like(err_of("SET ROLE adm; SET biocrypt.purpose = 'verification';\n"
		  . "SELECT biocrypt.template_distance(a.face, b.face) FROM people a, people b WHERE a.id = 1 AND b.id = 2"),
	qr/^42501: biocrypt: comparing stored templates with each other is disabled/,
	'template_distance: an administrator needs biocrypt.allow_reveal');
like(err_of("SET ROLE adm; SET biocrypt.purpose = 'verification';\n"
		  . "SELECT * FROM biocrypt.calibrate('people', 'face')"),
	qr/^42501: biocrypt: comparing stored templates with each other is disabled/,
	'calibrate: an administrator needs biocrypt.allow_reveal');
{
	my $a = q1('SELECT face FROM people WHERE id = 1');
	my $b = q1('SELECT face FROM people WHERE id = 2');
	q1("SET biocrypt.allow_reveal = on; SET ROLE adm; SET biocrypt.purpose = 'verification';\n"
		  . "SELECT biocrypt.template_distance('$a'::protected_template, '$b'::protected_template)");
	$node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM biocrypt.audit_log WHERE effective_role = 'adm' "
		  . "AND operation = 'compare' AND outcome = 'ok' AND relation IS NULL")
	  or die 'no compare row for adm';
	is( q1( "SELECT coalesce(matches::text, 'NULL') FROM biocrypt.audit_log "
			  . "WHERE effective_role = 'adm' AND operation = 'compare' AND outcome = 'ok' "
			  . "AND relation IS NULL ORDER BY id DESC LIMIT 1") =~ /subj-1.*subj-2|subj-2.*subj-1/
		? 'named' : 'unnamed',
		'named', 'template_distance: the audit names both subjects');
}
{
	q1('SELECT biocrypt.stats_reset()');
	q1("SET biocrypt.allow_reveal = on; SET ROLE adm; SET biocrypt.purpose = 'verification';\n"
		  . "SELECT templates FROM biocrypt.calibrate('people', 'face')");
	is(q1("SELECT coalesce(sum(templates_compared), 0) FROM biocrypt.stats WHERE role = 'adm'"),
		'14', 'calibrate: its 14 decrypted templates are in biocrypt.stats');
}

$node->stop;
done_testing();
