# Copyright (c) biocrypt authors
#
# A streaming hot standby without audit forwarding: every access that
# would decrypt or export fails at once (no wait for an audit worker that
# a standby never has), with an error that names the standby case; COPY TO
# of a template column sends no row; the server log holds neither the
# statement nor the probe.  Header accessors still work there.
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

$standby->stop;
$primary->stop;
done_testing();
