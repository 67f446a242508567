# Copyright (c) biocrypt authors
#
# A streaming hot standby without audit forwarding: every access that
# would decrypt or export fails at once (no wait for an audit worker that
# a standby never has), with an error that names the standby case; COPY TO
# of a template column sends no row; the server log holds neither the
# statement nor the probe.  Header accessors still work there.  A data key
# destroyed on the primary reaches the standby by WAL: the standby's list
# of destroyed keys gets its fingerprint, and a warm gallery of that
# database is evicted (zeroed) as replay passes the destruction.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode;

my $KEY = '5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b';
my $primary = BiocryptNode->new_node('primary', root_key => $KEY,
	purpose => 'verification', conf => "log_statement = none\nlog_min_error_statement = error\n",
	init => { allows_streaming => 1 });
$primary->safe_psql('postgres', q{
	CREATE TABLE people (id int PRIMARY KEY, face protected_template);
	INSERT INTO people SELECT s, biocrypt.protect(ARRAY[s, 0.25, 0.5, 0.75]::real[], 'person-' || s)
	FROM generate_series(1, 20) s;
});
$primary->backup('bk');
my $standby = BiocryptNode->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery(), count(*) FROM people'),
	't|20', 'standby: in recovery, with the rows');
is($standby->safe_psql('postgres', 'SELECT biocrypt.subject_of(face) FROM people WHERE id = 7'),
	'person-7', 'standby: header accessors work');

# a probe no log may hold
my $probe = "'{7.123457,0.271828,0.314159,0.577216}'::real[]";
my $log_start = -s $standby->logfile;
foreach my $case (
	[ 'verify',   "SELECT biocrypt.verify(face, $probe, 0.5) FROM people WHERE id = 7" ],
	[ 'operator', "SELECT id FROM people ORDER BY face <=> $probe LIMIT 3" ],
	[ 'identify', "SELECT * FROM biocrypt.identify('people', 'face', $probe, 3)" ])
{
	my ($name, $sql) = @$case;
	my $t0 = time;
	my ($rc, $out, $err) = $standby->psql_verbose('postgres', $sql);
	my $took = time - $t0;
	is($rc . '|' . $out, '3|', "standby $name: refused, nothing returned");
	like($err, qr/ERROR:  55000: biocrypt: access refused: this server is a standby/,
		"standby $name: the error names the standby case");
	cmp_ok($took, '<', 2, "standby $name: refused at once (${took}s), not after audit_timeout");
}

# COPY TO of the template column: refused before any row is sent
my ($rc, $out, $err) = $standby->psql_verbose('postgres', 'COPY people TO STDOUT');
is($out, '', 'standby COPY TO: no row sent');
like($err, qr/55000: biocrypt: access refused: this server is a standby/,
	'standby COPY TO: refused with the standby error');
($rc, $out, $err) = $standby->psql_verbose('postgres', 'COPY (SELECT id FROM people) TO STDOUT');
is(scalar(split /\n/, $out), 20, 'standby COPY TO without the template column works');

# the server log holds neither the statements nor the probe
my $log = slurp_file($standby->logfile, $log_start);
unlike($log, qr/7\.123457|0\.271828|0\.314159|0\.577216/, 'standby log: no probe value');
unlike($log, qr/STATEMENT:.*(verify|identify|<=>|COPY people)/, 'standby log: no statement text');
like($log, qr/access refused: this server is a standby/, 'standby log: the refusals are logged');

# -- a destroyed key, as the standby replays it
$primary->safe_psql('postgres', q{
	CREATE TABLE shredded (id int PRIMARY KEY, face protected_template);
	INSERT INTO shredded SELECT s, biocrypt.protect(ARRAY[s, 1, 2, 3]::real[], 'shred-' || s,
		now() + interval '200 days') FROM generate_series(1, 30) s;
	CREATE INDEX shredded_gal ON shredded USING biocrypt_gallery (face);
});
$primary->wait_for_catchup($standby);
my $key = $primary->safe_psql('postgres', 'SELECT DISTINCT biocrypt.key_id_of(face) FROM shredded');
is($standby->safe_psql('postgres', "SELECT biocrypt.warm('shredded_gal')"), '30',
	'standby: warm() holds the 30 templates of the key about to be destroyed');
is($standby->safe_psql('postgres',
		"SELECT state FROM biocrypt.galleries WHERE index = 'shredded_gal'::regclass"),
	'warm', 'standby: the gallery is warm');
my $list = 'pg_biocrypt/destroyed_keys';
ok(!-e $standby->data_dir . "/$list", 'standby: no destroyed keys yet');
is($primary->safe_psql('postgres', "SELECT biocrypt.destroy_key($key)"), 't',
	"primary: destroy_key($key)");
$primary->wait_for_catchup($standby);
is(-s $standby->data_dir . "/$list", 16, 'standby: its list of destroyed keys has the fingerprint');
is(slurp_file($standby->data_dir . "/$list"), slurp_file($primary->data_dir . "/$list"),
	'standby: the same fingerprint as the primary\'s');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM biocrypt.galleries WHERE index = 'shredded_gal'::regclass AND state = 'warm'"),
	'0', 'standby: the warm form was evicted as replay passed the destruction');
my ($wrc, $wout, $werr) = $standby->psql_verbose('postgres', "SELECT biocrypt.warm('shredded_gal')");
unlike($wout, qr/^30$/, 'standby: warming again does not bring the destroyed templates back');
note("standby warm() after the destruction: rc $wrc, out '$wout', err '$werr'");

# after a restart the standby still knows (the list is a file), and a
# promotion keeps it
$standby->restart;
is(-s $standby->data_dir . "/$list", 16, 'standby: the list survives a restart');

# promoted, it writes its own audit log and compares again
$primary->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'no promotion';
is($standby->safe_psql('postgres',
		"SELECT biocrypt.verify(face, '{7,0.25,0.5,0.75}'::real[], 0.01) FROM people WHERE id = 7"),
	't', 'promoted: verify works');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM biocrypt.audit_log WHERE operation = 'verify' AND outcome = 'ok'"),
	'promoted: the access is in its own audit log');
is($standby->safe_psql('postgres', 'SELECT ok FROM biocrypt.verify_audit()'), 't',
	'promoted: the chain verifies');
is(-s $standby->data_dir . "/$list", 16, 'promoted: the destroyed key stays listed');

$standby->stop;
done_testing();
