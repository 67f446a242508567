# Copyright (c) biocrypt authors
#
# Root key loading at server start: biocrypt must be preloaded, and the
# postmaster refuses to start unless exactly one of biocrypt.root_key_file
# (64 hex digits, no group or world access) and biocrypt.root_key_command
# (a successful program printing 64 hex digits) yields a valid key.  A
# server with a valid key from either source can enrol and reveal, and both
# sources derive the same keys from the same root key.  Without
# shared_preload_libraries, CREATE EXTENSION fails and installs nothing.
# The HINTs name the setting in use (biocrypt.new_root_key_file too) and
# the rule a key file must meet.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode qw(key_dir key_file);

my $KEY = '00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210';
my $keydir = key_dir();

# Try to start the node with the given key settings; it must refuse.
# Returns the server log written by this attempt.
sub start_fails
{
	my ($node, $conf, $name) = @_;
	$node->set_key_conf($conf);
	my $offset = -s $node->logfile;
	my $started = $node->start(fail_ok => 1);
	ok(!$started, "$name: server refuses to start");
	$node->stop if $started;
	return slurp_file($node->logfile, $offset);
}

# preloads biocrypt; its key settings, in biocrypt_key.conf, change below
my $node = BiocryptNode->new_node('root_key', key_conf => '', start => 0);

# -- no key at all
my $log = start_fails($node, '', 'no key');
like(
	$log,
	qr/FATAL:  biocrypt: no root key configured: set biocrypt\.root_key_file or biocrypt\.root_key_command/,
	'no key: FATAL names both settings');
like(
	$log,
	qr/HINT:  Set biocrypt\.root_key_file to a file of mode 0600/,
	'no key: HINT explains the settings');

# -- key file readable by the group
my $f = key_file('group.key', "$KEY\n", 0640);
$log = start_fails($node, "biocrypt.root_key_file = '$f'\n",
	'key file mode 0640');
like(
	$log,
	qr/FATAL:  biocrypt: biocrypt\.root_key_file "\Q$f\E" has group or world access/,
	'key file mode 0640: FATAL mentions group or world access');
like(
	$log,
	qr/ HINT:  Make biocrypt\.root_key_file name a regular file that the server's operating-system user owns, with no group or other permissions \(chmod 0600\), holding 64 hexadecimal digits\.$/m,
	'key file mode 0640: HINT names root_key_file, its owner and its mode');

# -- the next root key's file readable by the group: the messages name
# the setting in use, never root_key_file
my $good_new = key_file('good-new.key', "$KEY\n", 0600);
$f = key_file('group-new.key', "$KEY\n", 0640);
$log = start_fails($node,
	"biocrypt.root_key_file = '$good_new'\nbiocrypt.new_root_key_file = '$f'\n",
	'new key file mode 0640');
like(
	$log,
	qr/FATAL:  biocrypt: biocrypt\.new_root_key_file "\Q$f\E" has group or world access\n/,
	'new key file mode 0640: FATAL names new_root_key_file');
like(
	$log,
	qr/ HINT:  Make biocrypt\.new_root_key_file name a regular file that the server's operating-system user owns, with no group or other permissions \(chmod 0600\), holding 64 hexadecimal digits\.$/m,
	'new key file mode 0640: HINT names new_root_key_file, its owner and its mode');
unlike($log, qr/HINT:  .*biocrypt\.root_key_file/,
	'new key file mode 0640: HINT does not name root_key_file');

# -- key file readable by others only
$f = key_file('world.key', "$KEY\n", 0604);
$log = start_fails($node, "biocrypt.root_key_file = '$f'\n",
	'key file mode 0604');
like($log, qr/FATAL:  biocrypt: .* has group or world access/,
	'key file mode 0604: FATAL mentions group or world access');

# -- key file that does not exist
$f = "$keydir/missing.key";
$log = start_fails($node, "biocrypt.root_key_file = '$f'\n",
	'missing key file');
like(
	$log,
	qr/FATAL:  biocrypt: could not open biocrypt\.root_key_file "\Q$f\E": No such file or directory/,
	'missing key file: FATAL says it cannot be opened');

# -- key file that is a directory
$log = start_fails($node, "biocrypt.root_key_file = '$keydir'\n",
	'key file is a directory');
like($log, qr/FATAL:  biocrypt: biocrypt\.root_key_file "\Q$keydir\E" is not a regular file/,
	'key file is a directory: FATAL says not a regular file');

# -- key files of mode 0600 with bad content
my $short = substr($KEY, 0, 63);
$f = key_file('short.key', "$short\n", 0600);
$log = start_fails($node, "biocrypt.root_key_file = '$f'\n",
	'key file with 63 hex digits');
like(
	$log,
	qr/FATAL:  biocrypt: biocrypt\.root_key_file "\Q$f\E" does not hold 64 hexadecimal digits/,
	'key file with 63 hex digits: FATAL says 64 hex digits are needed');
unlike($log, qr/\Q$short\E/, 'key file with 63 hex digits: log does not echo the file');

my $nonhex = 'g' . substr($KEY, 1);
$f = key_file('nonhex.key', "$nonhex\n", 0600);
$log = start_fails($node, "biocrypt.root_key_file = '$f'\n",
	'key file with a non-hex digit');
like($log, qr/FATAL:  biocrypt: .* does not hold 64 hexadecimal digits/,
	'key file with a non-hex digit: FATAL says 64 hex digits are needed');
unlike($log, qr/\Q$nonhex\E/, 'key file with a non-hex digit: log does not echo the file');

$f = key_file('long.key', "${KEY}00\n", 0600);
$log = start_fails($node, "biocrypt.root_key_file = '$f'\n",
	'key file with 66 hex digits');
like($log, qr/FATAL:  biocrypt: .* does not hold 64 hexadecimal digits/,
	'key file with 66 hex digits: FATAL says 64 hex digits are needed');

# text past the first 160 bytes is still checked, never ignored
$f = key_file('padded.key', $KEY . (' ' x 150) . "JUNKJUNK\n", 0600);
$log = start_fails($node, "biocrypt.root_key_file = '$f'\n",
	'key file with junk after padding');
like($log, qr/FATAL:  biocrypt: .* does not hold 64 hexadecimal digits/,
	'key file with junk after padding: FATAL says 64 hex digits are needed');

$f = key_file('empty.key', '', 0600);
$log = start_fails($node, "biocrypt.root_key_file = '$f'\n", 'empty key file');
like($log, qr/FATAL:  biocrypt: .* does not hold 64 hexadecimal digits/,
	'empty key file: FATAL says 64 hex digits are needed');

# -- both sources set
my $good = key_file('good.key', "$KEY\n", 0600);
$log = start_fails($node,
	"biocrypt.root_key_file = '$good'\nbiocrypt.root_key_command = 'cat $good'\n",
	'file and command both set');
like(
	$log,
	qr/FATAL:  biocrypt: both biocrypt\.root_key_file and biocrypt\.root_key_command are set/,
	'file and command both set: FATAL says so');
like(
	$log,
	qr/ HINT:  Set only one of biocrypt\.root_key_file and biocrypt\.root_key_command\.$/m,
	'file and command both set: HINT says to set one');

# -- the next root key equal to the current one
$log = start_fails($node,
	"biocrypt.root_key_file = '$good'\nbiocrypt.new_root_key_command = 'cat $good'\n",
	'new root key equal to the current one');
like(
	$log,
	qr/FATAL:  biocrypt: the new root key is the current root key\n.* HINT:  Point biocrypt\.new_root_key_file or biocrypt\.new_root_key_command at a key other than the current one, or remove it\.$/m,
	'new root key equal to the current one: FATAL, and a HINT naming the new_root_key settings');

# -- commands that fail or print something else than a key
$log = start_fails($node,
	"biocrypt.root_key_command = 'echo $KEY; exit 3'\n",
	'command exiting with code 3');
like(
	$log,
	qr/FATAL:  biocrypt: biocrypt\.root_key_command failed: child process exited with exit code 3/,
	'command exiting with code 3: FATAL gives the exit code');
unlike($log, qr/\Q$KEY\E/, 'command exiting with code 3: log does not echo its output');

$log = start_fails($node, "biocrypt.root_key_command = 'echo $short'\n",
	'command printing 63 hex digits');
like(
	$log,
	qr/FATAL:  biocrypt: biocrypt\.root_key_command did not print 64 hexadecimal digits/,
	'command printing 63 hex digits: FATAL says 64 hex digits are needed');

$log = start_fails($node,
	"biocrypt.root_key_command = 'printf \"%s%150s%s\" $KEY \"\" JUNK'\n",
	'command printing junk after padding');
like($log, qr/FATAL:  biocrypt: biocrypt\.root_key_command did not print 64 hexadecimal digits/,
	'command printing junk after padding: FATAL says 64 hex digits are needed');

$log = start_fails($node, "biocrypt.root_key_command = 'echo ${KEY}00'\n",
	'command printing 66 hex digits');
like($log, qr/FATAL:  biocrypt: biocrypt\.root_key_command did not print 64 hexadecimal digits/,
	'command printing 66 hex digits: FATAL says 64 hex digits are needed');

$log = start_fails($node, "biocrypt.root_key_command = 'true'\n",
	'command printing nothing');
like($log, qr/FATAL:  biocrypt: biocrypt\.root_key_command did not print 64 hexadecimal digits/,
	'command printing nothing: FATAL says 64 hex digits are needed');

# -- a command that hangs: killed at biocrypt.root_key_command_timeout,
#    with its whole process group, and the server does not start
my $t0 = time;
$log = start_fails($node,
	"biocrypt.root_key_command = 'sleep 601 | cat'\n"
	  . "biocrypt.root_key_command_timeout = '2s'\n",
	'hanging command');
cmp_ok(time - $t0, '<', 60, 'hanging command: start gives up within a minute');
like($log, qr/LOG:  biocrypt: running biocrypt\.root_key_command \(at most 2 s\)/,
	'hanging command: the log says the command is running, and for how long at most');
like($log, qr/FATAL:  biocrypt: biocrypt\.root_key_command did not finish within 2 s/,
	'hanging command: FATAL names the setting and the timeout');
like($log, qr/HINT:  .*biocrypt\.root_key_command_timeout/,
	'hanging command: HINT names the timeout setting');
# (read from /proc: a fresh machine may have no pgrep)
sub cmdline_is
{
	my ($file, $want) = @_;
	open(my $fh, '<', $file) or return 0;
	local $/;
	return (<$fh> // '') eq $want;
}
my @left = grep { cmdline_is($_, "sleep\x00601\x00") } glob('/proc/[0-9]*/cmdline');
is(scalar @left, 0, 'hanging command: no process of it is left');

# -- a valid key file of mode 0600 (trailing newline allowed)
$node->set_key_conf("biocrypt.root_key_file = '$good'\n");
my $offset = -s $node->logfile;
ok($node->start(fail_ok => 1), 'valid key file: server starts');
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'biocrypt', 'valid key file: biocrypt is preloaded');
$node->safe_psql('postgres', 'CREATE EXTENSION biocrypt');
$node->safe_psql('postgres',
	"CREATE TABLE t (id int PRIMARY KEY, tpl protected_template);
	 INSERT INTO t VALUES
	   (1, biocrypt.protect('{1.5,-2.25,3,0.1,1e-07}'::real[], 'alice'))");
is( $node->safe_psql(
		'postgres', "SET biocrypt.allow_reveal = on;
		SELECT biocrypt.reveal(tpl)::text, biocrypt.subject_of(tpl)
		FROM t WHERE id = 1"),
	'{1.5,-2.25,3,0.1,1e-07}|alice',
	'valid key file: protect and reveal round trip');
is($node->safe_psql('postgres', 'SELECT count(*) FROM biocrypt.keys'),
	'1', 'valid key file: one data key in the ring');
unlike(slurp_file($node->logfile, $offset),
	qr/\Q$KEY\E/i, 'valid key file: log does not contain the key');
$node->stop;

# -- a valid command, printing the same key in upper case: same derived keys
my $upper = uc $KEY;
$node->set_key_conf("biocrypt.root_key_command = 'echo \"  $upper  \"'\n");
ok($node->start(fail_ok => 1), 'valid command: server starts');
is( $node->safe_psql(
		'postgres', "SET biocrypt.allow_reveal = on;
		SELECT biocrypt.reveal(tpl)::text FROM t WHERE id = 1"),
	'{1.5,-2.25,3,0.1,1e-07}',
	'valid command: a template sealed under the key file reveals');
$node->safe_psql('postgres',
	"INSERT INTO t VALUES (2, biocrypt.protect('{-7,0.5}'::real[], 'bob'))");
is( $node->safe_psql(
		'postgres', "SET biocrypt.allow_reveal = on;
		SELECT biocrypt.reveal(tpl)::text FROM t WHERE id = 2"),
	'{-7,0.5}',
	'valid command: protect and reveal round trip');
$node->stop;

# -- without shared_preload_libraries, CREATE EXTENSION fails cleanly
my $plain = BiocryptNode->new('no_preload');
$plain->init;
$plain->start;
my ($ret, $out, $err) =
  $plain->psql_verbose('postgres', 'CREATE EXTENSION biocrypt');
is($ret, 3, 'no preload: CREATE EXTENSION fails');
like(
	$err,
	qr/ERROR:  55000: biocrypt must be loaded via shared_preload_libraries/,
	'no preload: ERROR with SQLSTATE 55000');
like($err, qr/HINT:  Add biocrypt to shared_preload_libraries/,
	'no preload: HINT mentions shared_preload_libraries');
is( $plain->safe_psql(
		'postgres',
		"SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'biocrypt'),
		        (SELECT count(*) FROM pg_namespace WHERE nspname = 'biocrypt'),
		        (SELECT count(*) FROM pg_type WHERE typname = 'protected_template'),
		        (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'biocrypt%')"),
	'0|0|0|0',
	'no preload: nothing is left installed');
($ret, $out, $err) = $plain->psql_verbose('postgres', "LOAD 'biocrypt'");
like($err, qr/ERROR:  55000: biocrypt must be loaded via shared_preload_libraries/,
	'no preload: LOAD fails with SQLSTATE 55000');
$plain->stop;

done_testing();
