# Copyright (c) biocrypt authors
#
# Warm galleries (issue 13) on real servers:
#
#  1. ciphertext only on disk: canary templates (f32 and f16) in a warmed,
#     refreshed and vacuumed gallery leave their plaintext bytes in none of
#     the index's files, the table's files, the WAL and pg_waldump's
#     output; the same search finds them once a control table holds them;
#  2. the warm state in biocrypt.galleries: DROP INDEX, REINDEX, TRUNCATE,
#     destroy_key (evicted at commit, not at rollback), a restart and a
#     crash leave the gallery cold, and searches give what the cold path
#     gives;
#  3. the swap rule: a host with a swap device (a stand-in for /proc/swaps)
#     and neither huge pages nor mlock: warming fails with 53000 and a HINT
#     naming the remedies, unless a superuser sets
#     biocrypt.gallery_allow_swap; a host without swap: 'no swap';
#  4. a gallery larger than biocrypt.gallery_memory stays cold with a
#     NOTICE, and the cold path serves the same results;
#  5. a streaming standby: the index's pages arrive by WAL replay; what
#     searches do there;
#  6. two searching clients, an inserting and deleting one and VACUUM in
#     a loop at once: no error, and the final results are the cold path's.
#
# Searches are compared with the cold path (SET biocrypt.enable_gallery =
# off), which scans the table and decrypts every row.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use BiocryptNode qw(key_file);
use IPC::Run;
use Time::HiRes ();

my $ROOT_KEY = '9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9';

# /proc/swaps stand-ins: a host without swap, and one with a swap device
my $SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
my $no_swap   = key_file('swaps-none', $SWAPS_HEADER, 0644);
my $with_swap = key_file('swaps-fake', $SWAPS_HEADER . "/dev/fake\t\t\t\tpartition\t1048572\t\t0\t\t-2\n", 0644);

# The memlock limit the server inherits (kB, or 'unlimited'): a region
# within it is locked, and the swap rule never applies to it.
my $memlock = `sh -c 'ulimit -l'`;
chomp $memlock;
# galleries of this many MB are beyond the limit (so not locked)
my $BEYOND_MEMLOCK_MB = 64;
my $memlock_beyond = $memlock ne 'unlimited' && $memlock < $BEYOND_MEMLOCK_MB * 1024;
note("memlock limit: $memlock kB");

# A node like BiocryptNode->new_node's, initialised with %init (for
# allows_streaming), huge pages off and the settings in $conf.
sub gallery_node
{
	my ($name, $conf, %init) = @_;
	my $node = BiocryptNode->new($name);
	$node->init(%init);
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'biocrypt'
biocrypt.root_key_command = 'echo $ROOT_KEY'
biocrypt.purpose = 'verification'
biocrypt.gallery_huge_pages = off
restart_after_crash = on
log_statement = none
$conf});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION biocrypt');
	return $node;
}

# "state|templates" of a gallery index in biocrypt.galleries
# A table of $rows random templates of $dims dimensions (seeded), subjects
# $prefix0001 on, with its gallery index ${table}_gal.
sub random_gallery
{
	my ($node, $table, $seed, $dims, $rows, $prefix) = @_;
	$node->safe_psql(
		'postgres', qq{
	SELECT setseed($seed);
	CREATE TABLE $table (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO $table SELECT i, biocrypt.protect((SELECT array_agg((random() * 2 - 1)::real)
		FROM generate_series(1, $dims) WHERE i > 0), '$prefix' || lpad(i::text, 4, '0'))
	FROM generate_series(1, $rows) i;
	CREATE INDEX ${table}_gal ON $table USING biocrypt_gallery (tpl);
});
}

# A table of $rows templates (i, 1, 2), subjects $prefix1 on, with its
# gallery index ${table}_gal.
sub line_gallery
{
	my ($node, $table, $rows, $prefix) = @_;
	$node->safe_psql(
		'postgres', qq{
	CREATE TABLE $table (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO $table SELECT i, biocrypt.protect(ARRAY[i, 1, 2]::real[], '$prefix' || i)
	FROM generate_series(1, $rows) i;
	CREATE INDEX ${table}_gal ON $table USING biocrypt_gallery (tpl);
});
}

sub gal
{
	my ($node, $index) = @_;
	return $node->safe_psql('postgres',
		"SELECT state || '|' || templates FROM biocrypt.galleries WHERE index = '$index'::regclass");
}

# A probe of $dims dimensions, as SQL, from a seed.
sub probe
{
	my ($dims, $seed) = @_;
	return "'{" . join(',', map { sprintf('%.6f', sin($seed * 7.31 + $_ * 1.7)) } 1 .. $dims) . "}'::real[]";
}

# identify()'s top k and the planner's ORDER BY ... LIMIT k, each as
# "subject=distance,..."
sub ident_sql
{
	my ($table, $probe, $k) = @_;
	return "SELECT string_agg(subject || '=' || distance, ',' ORDER BY n) "
	  . "FROM biocrypt.identify('$table', 'tpl', $probe, $k, NULL, 'l2') WITH ORDINALITY r(subject, distance, n)";
}
sub order_sql
{
	my ($table, $probe, $k) = @_;
	return "SELECT string_agg(s || '=' || d, ',' ORDER BY n) FROM (SELECT biocrypt.subject_of(tpl) s, "
	  . "tpl <-> $probe d, row_number() OVER () n FROM (SELECT tpl FROM $table "
	  . "ORDER BY tpl <-> $probe LIMIT $k) o) x";
}
sub cold
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', "SET biocrypt.enable_gallery = off;\n$sql");
}

# The searches of @$probes through the gallery, and through the cold path
# (each a list of lines, identify() and ORDER BY for each probe).
sub searches
{
	my ($node, $table, $probes, $k, $cold) = @_;
	my @out;
	for my $p (@$probes)
	{
		for my $sql (ident_sql($table, $p, $k), order_sql($table, $p, $k))
		{
			push @out, $cold ? cold($node, $sql) : $node->safe_psql('postgres', $sql);
		}
	}
	return join("\n", @out);
}

# search results equal the cold path's, and are not empty
sub same_as_cold
{
	my ($node, $table, $probes, $k, $what) = @_;
	my $warm = searches($node, $table, $probes, $k, 0);
	my $cold = searches($node, $table, $probes, $k, 1);
	is($warm, $cold, "$what: identify() and ORDER BY give what the cold path gives");
	return $warm;
}

# how long each part took, in the test's log
my $t0   = Time::HiRes::time();
my $tlap = $t0;
sub lap
{
	my $now = Time::HiRes::time();
	note(sprintf('time: %s %.1f s', $_[0], $now - $tlap));
	$tlap = $now;
	return;
}

###########################################################################
# The primary: sections 1, 2, 6 and 5 (wal_level replica, for the standby)
###########################################################################
my $node = gallery_node(
	'primary', "biocrypt.gallery_memory = ${BEYOND_MEMLOCK_MB}MB\n"
	  . "biocrypt.gallery_swaps_file = '$no_swap'\nwal_keep_size = '512MB'\n",
	allows_streaming => 1);
my $pgdata = $node->data_dir;
my $expect_protection = $memlock_beyond ? 'no swap' : 'locked';

###########################################################################
# 1. ciphertext only on disk
###########################################################################
my $DIMS = 64;
my @canary = map { $_ % 2 ? -8765.4321 : 1234.5678 } 0 .. $DIMS - 1;
my $canary_sql = "'{" . join(',', @canary) . "}'::real[]";

# IEEE binary16 of a normal number, rounded to nearest even
sub half_bits
{
	my ($v) = @_;
	my $sign = $v < 0 ? 0x8000 : 0;
	$v = abs($v);
	my $e = 0;
	while ($v >= 2)  { $v /= 2; $e++; }
	while ($v < 1)   { $v *= 2; $e--; }
	my $m = ($v - 1) * 1024;
	my $r = int($m);
	my $frac = $m - $r;
	$r++ if $frac > 0.5 || ($frac == 0.5 && $r % 2);
	if ($r == 1024) { $r = 0; $e++; }
	return $sign | (($e + 15) << 10) | $r;
}
sub half_value
{
	my ($h) = @_;
	my $v = (1 + ($h & 0x3ff) / 1024) * 2**((($h >> 10) & 0x1f) - 15);
	return $h & 0x8000 ? -$v : $v;
}
my @half = map { half_bits($_) } @canary;
my $f32_raw = pack('f<*', @canary);
my $f16_raw = pack('v*', @half);
# windows of 16 bytes: four f32 values, eight f16 values
my %needle = (
	f32 => [ map { substr($f32_raw, 4 * $_, 16) } 0 .. $DIMS - 4 ],
	f16 => [ map { substr($f16_raw, 2 * $_, 16) } 0 .. $DIMS - 8 ]);
sub found
{
	my ($kind, $haystack) = @_;
	return scalar grep { index($haystack, $_) >= 0 } @{ $needle{$kind} };
}

$node->safe_psql(
	'postgres', qq{
	SELECT setseed(0.11);
	CREATE TABLE people (id int PRIMARY KEY, tpl protected_template NOT NULL);
	CREATE TABLE people16 (id int PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO people VALUES (0, biocrypt.protect($canary_sql, 'canary-f32'));
	INSERT INTO people16 VALUES (0, biocrypt.protect($canary_sql, 'canary-f16', NULL, NULL, 'f16'));
	INSERT INTO people SELECT i, biocrypt.protect((SELECT array_agg((random() * 2 - 1)::real)
		FROM generate_series(1, $DIMS) WHERE i > 0), 'p-' || lpad(i::text, 4, '0'))
	FROM generate_series(1, 200) i;
	INSERT INTO people16 SELECT i, biocrypt.protect((SELECT array_agg((random() * 2 - 1)::real)
		FROM generate_series(1, $DIMS) WHERE i > 0), 'h-' || lpad(i::text, 4, '0'), NULL, NULL, 'f16')
	FROM generate_series(1, 200) i;
	CREATE INDEX people_gal ON people USING biocrypt_gallery (tpl);
	CREATE INDEX people16_gal ON people16 USING biocrypt_gallery (tpl);
});
is( $node->safe_psql(
		'postgres', q{
		SET biocrypt.allow_reveal = on;
		SELECT biocrypt.format_of(tpl), biocrypt.reveal(tpl)::text FROM people16 WHERE id = 0}),
	'f16|{' . join(',', map { half_value($_) } @half[ 0 .. $DIMS - 1 ]) . '}',
	'canary: the f16 template holds the half-precision values the needles are made of');
is($node->safe_psql('postgres', "SELECT biocrypt.warm('people_gal'), biocrypt.warm('people16_gal')"),
	'201|201', 'canary: both galleries warm with 201 templates');
$node->safe_psql(
	'postgres', qq{
	INSERT INTO people SELECT i, biocrypt.protect((SELECT array_agg((random() * 2 - 1)::real)
		FROM generate_series(1, $DIMS) WHERE i > 0), 'p-' || lpad(i::text, 4, '0'))
	FROM generate_series(201, 300) i;
	INSERT INTO people16 SELECT i, biocrypt.protect((SELECT array_agg((random() * 2 - 1)::real)
		FROM generate_series(1, $DIMS) WHERE i > 0), 'h-' || lpad(i::text, 4, '0'), NULL, NULL, 'f16')
	FROM generate_series(201, 300) i;
	DELETE FROM people WHERE id % 10 = 5;
	DELETE FROM people16 WHERE id % 10 = 5;
});
# the canary itself is found first, through the warm form
like($node->safe_psql('postgres', ident_sql('people', $canary_sql, 2)),
	qr/^canary-f32=0,p-\d{4}=/, 'canary: identify() finds the f32 canary at distance 0');
like($node->safe_psql('postgres', ident_sql('people16', $canary_sql, 2)),
	qr/^canary-f16=[0-9.e-]+,h-\d{4}=/, 'canary: identify() finds the f16 canary first');
$node->safe_psql('postgres', 'VACUUM people; VACUUM people16');
is(gal($node, 'people_gal') . ' ' . gal($node, 'people16_gal'),
	'warm|271 warm|271', 'canary: after inserts, deletes and VACUUM both warm forms hold the 271 live rows');
$node->safe_psql('postgres', 'CHECKPOINT');

# the files of a relation (every fork and segment)
sub rel_files
{
	my ($rel) = @_;
	my $path = $node->safe_psql('postgres', "SELECT pg_relation_filepath('$rel')");
	my @files = grep { -f $_ } glob("$pgdata/$path $pgdata/$path.* $pgdata/${path}_*");
	return join('', map { slurp_file($_) } @files);
}
# the raw WAL, and pg_waldump's output over it
sub wal_places
{
	my ($wal, $dump) = ('', '');
	for my $seg (sort glob("$pgdata/pg_wal/0*"))
	{
		$wal .= slurp_file($seg);
		my ($out, $err) = ('', '');
		IPC::Run::run([ 'pg_waldump', $seg ], '>', \$out, '2>', \$err);
		$dump .= $out;
	}
	return ($wal, $dump);
}
my %place = (
	'people_gal files'   => rel_files('people_gal'),
	'people16_gal files' => rel_files('people16_gal'),
	'people files'       => rel_files('people'),
	'people16 files'     => rel_files('people16'));
($place{WAL}, $place{'pg_waldump output'}) = wal_places();
for my $p (sort keys %place)
{
	is(found('f32', $place{$p}) . '|' . found('f16', $place{$p}), '0|0',
		"canary: no f32 nor f16 plaintext bytes in the $p");
}
# what makes the absence mean something: the files hold the envelopes,
# and the index's changes went to the WAL
my ($env32, $env16) = map {
	pack('H*', $node->safe_psql('postgres',
		"SELECT encode(decode(tpl::text, 'base64'), 'hex') FROM $_ WHERE id = 0"))
} qw(people people16);
ok( index($place{'people_gal files'}, $env32) >= 0 && index($place{'people16_gal files'}, $env16) >= 0,
	'canary: each index file holds its canary\'s envelope, as stored in the table');
ok(index($place{WAL}, $env32) >= 0 && index($place{WAL}, $env16) >= 0,
	'canary: the WAL holds both envelopes');
my ($dboid, $node32, $node16) = split /\|/, $node->safe_psql('postgres',
	"SELECT (SELECT oid FROM pg_database WHERE datname = 'postgres'), "
	  . "pg_relation_filenode('people_gal'), pg_relation_filenode('people16_gal')");
my $generic = () = $place{'pg_waldump output'} =~ m{rmgr: Generic .*rel \d+/$dboid/$node32\b}g;
ok($generic > 0, "canary: pg_waldump shows $generic generic WAL records of people_gal");

# control: the same bytes written in plaintext are found by the same search
$node->safe_psql(
	'postgres', qq{
	CREATE TABLE control (b bytea);
	ALTER TABLE control ALTER b SET STORAGE plain;
	INSERT INTO control VALUES ('\\x@{[ unpack('H*', $f32_raw) ]}'), ('\\x@{[ unpack('H*', $f16_raw) ]}');
	CHECKPOINT;
});
my ($wal_after) = wal_places();
my $control = rel_files('control');
is( found('f32', $control) . '|' . found('f16', $control),
	($DIMS - 3) . '|' . ($DIMS - 7),
	'control: every needle is found in the control table\'s file');
ok(found('f32', $wal_after) == $DIMS - 3 && found('f16', $wal_after) == $DIMS - 7,
	'control: and in the WAL');

lap('1 canary');

###########################################################################
# 2. eviction and the warm state
###########################################################################
random_gallery($node, 'g', 0.22, 16, 300, 'g-');
line_gallery($node, 't2', 20, 't-');
my @probes = map { probe(16, $_) } 1 .. 3;
my $explain = $node->safe_psql('postgres',
	"EXPLAIN (COSTS OFF) SELECT tpl FROM g ORDER BY tpl <-> $probes[0] LIMIT 5");
like($explain, qr/Index Scan using g_gal on g/, 'ORDER BY ... LIMIT uses the gallery index');
is(gal($node, 'g_gal'), 'cold|0', 'a new gallery index is cold');
is($node->safe_psql('postgres', "SELECT biocrypt.warm('g_gal')"), '300', 'warm() returns 300');
is( $node->safe_psql(
		'postgres',
		"SELECT relation, \"column\", format, templates, bytes > 300 * 64, protection, state, "
		  . "warmed_at IS NOT NULL FROM biocrypt.galleries WHERE index = 'g_gal'::regclass"),
	"g|tpl|f32|300|t|$expect_protection|warm|t",
	'biocrypt.galleries describes the warm form');
my $base = same_as_cold($node, 'g', \@probes, 5, 'warm');
is(scalar(grep { /^(g-\d{4}=[0-9.e-]+,){4}g-\d{4}=[0-9.e-]+$/ } split /\n/, $base),
	6, 'warm: five candidates in each of the six searches');
is( $node->safe_psql(
		'postgres', "SELECT scans >= 6, templates_compared >= 1800 FROM biocrypt.galleries WHERE index = 'g_gal'::regclass"),
	't|t', 'the searches went through the warm form (scans, templates_compared)');

# DROP INDEX: the slot is gone
is($node->safe_psql('postgres', "SELECT biocrypt.warm('t2_gal')"), '20', 't2_gal warms');
my $t2oid = $node->safe_psql('postgres', "SELECT 't2_gal'::regclass::oid");
is($node->safe_psql('postgres', "SELECT count(*) FROM biocrypt.gallery_state() WHERE index = $t2oid"),
	'1', 't2_gal has a warm slot');
$node->safe_psql('postgres', 'DROP INDEX t2_gal');
is($node->safe_psql('postgres', "SELECT count(*) FROM biocrypt.gallery_state() WHERE index = $t2oid"),
	'0', 'DROP INDEX: the warm slot is gone');

# REINDEX: cold until the next search
$node->safe_psql('postgres', 'REINDEX INDEX g_gal');
is(gal($node, 'g_gal'), 'cold|0', 'REINDEX: the gallery is cold');
is(searches($node, 'g', \@probes, 5, 0), $base, 'REINDEX: the same results after');
is(gal($node, 'g_gal'), 'warm|300', 'REINDEX: the first search warmed it again');

# TRUNCATE: rolled back, the index is its old self but cold; committed,
# the gallery is empty and cold
$node->safe_psql('postgres', 'BEGIN; TRUNCATE g; ROLLBACK');
is(gal($node, 'g_gal'), 'cold|0', 'TRUNCATE rolled back: the gallery is cold');
is(searches($node, 'g', \@probes, 5, 0), $base, 'TRUNCATE rolled back: the same results');
is(gal($node, 'g_gal'), 'warm|300', 'TRUNCATE rolled back: warm again after the search');
$node->safe_psql('postgres', 'CREATE INDEX t2_gal ON t2 USING biocrypt_gallery (tpl)');
is($node->safe_psql('postgres', "SELECT biocrypt.warm('t2_gal')"), '20', 't2_gal rebuilt warms');
$node->safe_psql('postgres', 'TRUNCATE t2');
is(gal($node, 't2_gal'), 'cold|0', 'TRUNCATE: the gallery is cold');
$node->safe_psql('postgres',
	"INSERT INTO t2 VALUES (1, biocrypt.protect('{7,1,2}'::real[], 'after-truncate'))");
is($node->safe_psql('postgres', ident_sql('t2', "'{1,1,2}'::real[]", 5)),
	'after-truncate=6', 'TRUNCATE: a search finds only the row inserted since');
is(gal($node, 't2_gal'), 'warm|1', 'TRUNCATE: warm again with that one row');

# the warm form grows: a gallery warmed at 200 rows takes 1000 more
random_gallery($node, 'grow', 0.55, 16, 200, 'w-');
is($node->safe_psql('postgres', "SELECT biocrypt.warm('grow_gal')"), '200', 'growth: warm at 200 rows');
$node->safe_psql(
	'postgres', q{
	INSERT INTO grow SELECT i, biocrypt.protect((SELECT array_agg((random() * 2 - 1)::real)
		FROM generate_series(1, 16) WHERE i > 0), 'w-' || lpad(i::text, 4, '0'))
	FROM generate_series(201, 1200) i;
});
is($node->safe_psql('postgres', "SELECT biocrypt.warm('grow_gal')"), '1200',
	'growth: 1000 rows later, warm() holds the 1200 rows');
same_as_cold($node, 'grow', [ map { probe(16, $_) } 7 .. 8 ], 100, 'growth: top 100');

lap('2 eviction');

###########################################################################
# 6. concurrency: two searching clients, one inserting and deleting, one
#    vacuuming, at once (before destroy_key, which ends this key epoch)
###########################################################################
$node->safe_psql(
	'postgres', q{
	SELECT setseed(0.33);
	CREATE TABLE c (id serial PRIMARY KEY, tpl protected_template NOT NULL);
	INSERT INTO c (tpl) SELECT biocrypt.protect((SELECT array_agg((random() * 2 - 1)::real)
		FROM generate_series(1, 16) WHERE i > 0), 'c-' || lpad(i::text, 5, '0'))
	FROM generate_series(1, 200) i;
	CREATE INDEX c_gal ON c USING biocrypt_gallery (tpl);
	SELECT biocrypt.warm('c_gal');
});
my $cdir = PostgreSQL::Test::Utils::tempdir;
my %script = (
	search => q{\set s random(1, 1000)
SELECT count(*) FROM biocrypt.identify('c', 'tpl', ARRAY(SELECT sin(:s * 7.31 + i * 1.7)::real FROM generate_series(1, 16) i), 5, NULL, 'l2');
SELECT count(*) FROM (SELECT tpl FROM c ORDER BY tpl <-> ARRAY(SELECT sin(:s * 3.1 + i)::real FROM generate_series(1, 16) i) LIMIT 5) x;
},
	write => q{\set d random(1, 400)
INSERT INTO c (tpl) VALUES (biocrypt.protect(ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 16)), 'n-' || nextval('c_id_seq')));
DELETE FROM c WHERE id = :d;
},
	vacuum => "VACUUM c;\n");
my %file;
for my $k (keys %script)
{
	$file{$k} = "$cdir/$k.sql";
	open my $fh, '>', $file{$k} or die "could not write $file{$k}: $!";
	print $fh $script{$k};
	close $fh;
}
my $SECONDS = 6;
my %run;
for my $k (qw(search write vacuum))
{
	# the writer is held to 40 transactions a second: its rows stay within
	# the room the warm form keeps for growth (the growth check above tests
	# beyond it)
	my @cmd = ('pgbench', '-n', '-T', $SECONDS, '-c', $k eq 'search' ? 2 : 1, '-j', 1,
		$k eq 'write' ? ('-R', 40) : (),
		'-f', $file{$k}, '-h', $node->host, '-p', $node->port, 'postgres');
	$run{$k} = { out => '', err => '' };
	$run{$k}{h} = IPC::Run::start(\@cmd, '>', \$run{$k}{out}, '2>', \$run{$k}{err});
}
for my $k (qw(search write vacuum))
{
	my $ok = $run{$k}{h}->finish;
	note("pgbench $k:\n$run{$k}{out}$run{$k}{err}");
	ok($ok, "concurrency: pgbench $k exited with status 0");
	like($run{$k}{out}, qr/^number of failed transactions: 0 \(0\.000%\)$/m,
		"concurrency: pgbench $k: no failed transaction");
	my ($n) = $run{$k}{out} =~ /^number of transactions actually processed: (\d+)$/m;
	ok(($n // 0) > 0, "concurrency: pgbench $k ran " . ($n // 0) . ' transactions');
	unlike($run{$k}{err}, qr/error|abort/i, "concurrency: pgbench $k: no error");
}
$node->safe_psql('postgres', 'VACUUM c');
same_as_cold($node, 'c', [ map { probe(16, $_) } 4 .. 6 ], 10, 'concurrency: afterwards');
is( $node->safe_psql(
		'postgres',
		"SELECT state, templates - (SELECT count(*) FROM c), scans > 10 FROM biocrypt.galleries WHERE index = 'c_gal'::regclass"),
	'warm|0|t', 'concurrency: the warm form holds exactly the live rows, and served the searches');

lap('6 concurrency');

###########################################################################
# 2 (continued). destroy_key: evicted at commit, not at rollback
###########################################################################
is(gal($node, 'g_gal'), 'warm|300', 'g_gal is warm');
# a key of its own for a template outside every gallery
$node->safe_psql('postgres', 'SELECT biocrypt.rotate_key()');
my $key = $node->safe_psql(
	'postgres', q{
	CREATE TABLE scratch (id int, tpl protected_template);
	INSERT INTO scratch VALUES (1, biocrypt.protect('{1,2,3}'::real[], 'scratch'));
	SELECT biocrypt.key_id_of(tpl) FROM scratch});
isnt($key, $node->safe_psql('postgres', "SELECT biocrypt.key_id_of(tpl) FROM g WHERE id = 1"),
	'destroy_key: the scratch template has a key no gallery template uses');
my $s = $node->background_psql('postgres');
$s->query_safe("BEGIN; SELECT biocrypt.destroy_key($key)");
is(gal($node, 'g_gal'), 'warm|300', 'destroy_key, not yet committed: still warm');
$s->query_safe('ROLLBACK');
is(gal($node, 'g_gal'), 'warm|300', 'destroy_key rolled back: still warm');
$s->query_safe("BEGIN; SELECT biocrypt.destroy_key($key)");
$s->query_safe('COMMIT');
is(gal($node, 'g_gal') . ' ' . gal($node, 'c_gal'), 'cold|0 cold|0',
	'destroy_key committed: every gallery of the database is cold');
is($node->safe_psql('postgres', "SELECT state FROM biocrypt.keys WHERE id = $key"),
	'destroyed', 'destroy_key committed: the key is destroyed');
is(searches($node, 'g', \@probes, 5, 0), $base, 'destroy_key: the same results after');
is(gal($node, 'g_gal'), 'warm|300', 'destroy_key: warm again after the search');

###########################################################################
# 2 (continued). restart and crash
###########################################################################
$node->restart;
is(gal($node, 'g_gal'), 'cold|0', 'restart: the gallery is cold');
is(searches($node, 'g', \@probes, 5, 0), $base, 'restart: the same results');
is(gal($node, 'g_gal'), 'warm|300', 'restart: warm again after the search');

my $victim = $node->background_psql('postgres');
my $vpid = $victim->query_safe('SELECT pg_backend_pid()');
$victim->query_safe("SELECT biocrypt.warm('g_gal')");
$node->kill_backend($vpid, 'crash');
eval { $victim->quit; };
is(gal($node, 'g_gal'), 'cold|0', 'crash: the gallery is cold after the reinitialisation');
is(searches($node, 'g', \@probes, 5, 0), $base, 'crash: the same results');
is(gal($node, 'g_gal'), 'warm|300', 'crash: warm again after the search');

###########################################################################
# 2 (continued). a backend that warms while the table is locked
###########################################################################
# Warming locks the table before it takes the gallery's slot: behind a
# LOCK TABLE it waits as any query does, holding no slot (the gallery stays
# cold), and lock_timeout ends that wait.
$node->safe_psql('postgres', 'REINDEX INDEX g_gal');
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE g IN ACCESS EXCLUSIVE MODE');
my ($wout, $werr) = ('', '');
my $waiter = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', "SET lock_timeout = '1s'",
	  '-c', "SELECT biocrypt.warm('g_gal')" ],
	'>', \$wout, '2>', \$werr);
ok($node->poll10("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%biocrypt.warm%'", '1'),
	'locked table: the warming backend waits for the table lock');
is(gal($node, 'g_gal'), 'cold|0', 'locked table: the gallery stays cold while it waits');
my $waited = time;
for (1 .. 60)
{
	$waiter->pump_nb;
	last if $werr =~ /lock timeout/;
	Time::HiRes::usleep(100_000);
}
ok($werr =~ /ERROR:  canceling statement due to lock timeout/,
	'locked table: lock_timeout (1s) ends the wait of the warming backend while the lock is held');
note(sprintf('locked table: the warming backend waited %d s while the lock was held', time - $waited));
$locker->query_safe('ROLLBACK');
$waiter->finish;
note("locked table: the warming psql ended: '$wout' '$werr'");

# kill -9 of a backend while it warms: the postmaster reinitialises, and
# the gallery is cold and serves
$node->safe_psql('postgres', 'REINDEX INDEX g_gal');
$locker->query_safe('BEGIN; LOCK TABLE g IN ACCESS EXCLUSIVE MODE');
my $warmer = $node->background_psql('postgres', on_error_stop => 0);
my $wpid = $warmer->query_safe('SELECT pg_backend_pid()');
$warmer->query_until(qr/warming started/, "\\echo warming started\nSELECT biocrypt.warm('g_gal');\n");
ok($node->poll10("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%biocrypt.warm%'", '1'),
	'kill while warming: the warming backend waits for the table lock');
$node->kill_backend($wpid, 'kill while warming');
eval { $warmer->quit; };
eval { $locker->quit; };
is(gal($node, 'g_gal'), 'cold|0', 'kill while warming: the gallery is cold after the reinitialisation');
is(searches($node, 'g', \@probes, 5, 0), $base, 'kill while warming: the same results');
is(gal($node, 'g_gal'), 'warm|300', 'kill while warming: warm again after the search');

# kill -9 while the backend loads pages into the warm form (not waiting for
# a lock): a gallery that takes a moment to warm (20,000 templates of 512
# f32), a poller that sees its progress, then SIGKILL; after the
# reinitialisation the gallery is cold and searches are still right
$node->safe_psql(
	'postgres', q{
	CREATE TABLE kw (id int, tpl protected_template);
	INSERT INTO kw SELECT i, biocrypt.protect((SELECT array_agg((random() * 2 - 1)::real)
		FROM generate_series(1, 512) WHERE i > 0), 'kw-' || i, NULL, NULL, 'f32')
	FROM generate_series(1, 20000) i;
	CREATE INDEX kw_gal ON kw USING biocrypt_gallery (tpl);
});
my $kwarmer = $node->background_psql('postgres', on_error_stop => 0);
my $kpid = $kwarmer->query_safe('SELECT pg_backend_pid()');
$kwarmer->query_until(qr/warming started/, "\\echo warming started\nSELECT biocrypt.warm('kw_gal');\n");
is( $node->safe_psql(
		'postgres', q{
	DO $$BEGIN
		FOR i IN 1 .. 20000 LOOP
			EXIT WHEN EXISTS (SELECT 1 FROM biocrypt.gallery_warm_progress WHERE blocks_done > 0);
			PERFORM pg_sleep(0.001);
		END LOOP;
	END$$;
	SELECT count(*) FROM biocrypt.gallery_warm_progress WHERE blocks_done > 0}), '1',
	'kill while loading: the warming backend is loading pages');
$node->kill_backend($kpid, 'kill while loading');
eval { $kwarmer->quit; };
is(gal($node, 'kw_gal'), 'cold|0', 'kill while loading: the gallery is cold after the reinitialisation');
my $kw_sql = "SELECT string_agg(subject || ':' || distance, ',' ORDER BY distance, subject) "
  . "FROM biocrypt.identify('kw', 'tpl', " . probe(512, 7) . ", 5)";
is($node->safe_psql('postgres', $kw_sql), cold($node, $kw_sql),
	'kill while loading: identify() gives what the cold path gives');
is(gal($node, 'kw_gal'), 'warm|20000', 'kill while loading: warm again after the search');
$node->safe_psql('postgres', 'DROP TABLE kw');

lap('2 destroy_key, restart, crash, locked table');

###########################################################################
# 5. a streaming standby
###########################################################################
$node->backup('bk');
my $standby = BiocryptNode->new('standby');
$standby->init_from_backup($node, 'bk', has_streaming => 1);
$standby->start;
my $size_sql = "SELECT pg_relation_size('g_gal') / current_setting('block_size')::int";
my $blocks_before = $standby->safe_psql('postgres', $size_sql);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery(), count(*) FROM g'),
	't|300', 'standby: in recovery, with the 300 rows');
$node->safe_psql(
	'postgres', q{
	INSERT INTO g SELECT i, biocrypt.protect((SELECT array_agg((random() * 2 - 1)::real)
		FROM generate_series(1, 16) WHERE i > 0), 'late-' || i)
	FROM generate_series(301, 600) i;
});
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT count(*) FROM g'), '600', 'standby: the new rows replayed');
is( $standby->safe_psql('postgres', $size_sql),
	$node->safe_psql('postgres', $size_sql),
	'standby: the index has as many pages as the primary\'s');
cmp_ok($standby->safe_psql('postgres', $size_sql), '>', $blocks_before,
	"standby: the index grew from $blocks_before pages by replay");
# searches: on the standby they answer as on the primary (its audit
# events go to the primary: test/t/020_standby.pl covers that)
for my $q (
	[ 'identify()', ident_sql('g', $probes[0], 5) ],
	[ 'ORDER BY',   order_sql('g', $probes[0], 5) ],
	[ 'identify() with enable_gallery off',
		"SET biocrypt.enable_gallery = off;\n" . ident_sql('g', $probes[0], 5) ])
{
	my ($rc, $out, $err) = $standby->psql_verbose('postgres', $q->[1]);
	is($rc . '|' . $out, '0|' . $node->safe_psql('postgres', $q->[1]),
		"standby: $q->[0] answers as the primary does");
}
# warm() records nothing: it warms the standby's gallery from the
# replayed pages, and follows replay
is($standby->safe_psql('postgres', "SELECT biocrypt.warm('g_gal')"), '600', 'standby: warm() holds the 600 rows');
$node->safe_psql(
	'postgres', q{
	INSERT INTO g SELECT i, biocrypt.protect(ARRAY(SELECT 0.5::real FROM generate_series(1, 16)), 'late-' || i)
	FROM generate_series(601, 610) i;
});
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT biocrypt.warm('g_gal')"), '610',
	'standby: after 10 more rows replayed, warm() holds 610');
is( $standby->safe_psql(
		'postgres', "SELECT state, templates, protection FROM biocrypt.galleries WHERE index = 'g_gal'::regclass"),
	"warm|610|$expect_protection", 'standby: biocrypt.galleries shows the warm form');
# and the standby's files hold no canary plaintext either
$standby->safe_psql('postgres', 'CHECKPOINT');
{
	my $sdata = $standby->data_dir;
	my %sfiles;
	for my $rel (qw(people_gal people16_gal people people16 control))
	{
		my $path = $standby->safe_psql('postgres', "SELECT pg_relation_filepath('$rel')");
		$sfiles{$rel} = join('', map { slurp_file($_) } grep { -f $_ } glob("$sdata/$path $sdata/$path.* $sdata/${path}_*"));
	}
	my $files = join('', @sfiles{qw(people_gal people16_gal people people16)});
	my $wal = join('', map { slurp_file($_) } sort glob("$sdata/pg_wal/0*"));
	ok(index($sfiles{people_gal}, $env32) >= 0 && index($sfiles{people16_gal}, $env16) >= 0,
		'standby: its index files hold the canary envelopes');
	is(found('f32', $files) . '|' . found('f16', $files) . '|' . found('f32', $wal) . '|' . found('f16', $wal),
		'0|0|0|0', 'standby: no canary plaintext in its index and table files, nor in its WAL');
	is(found('f32', $sfiles{control}) . '|' . found('f16', $sfiles{control}),
		($DIMS - 3) . '|' . ($DIMS - 7), 'standby: control: the needles are found in its control table\'s file');
}

lap('5 standby');

###########################################################################
# 3. the swap rule
###########################################################################
SKIP:
{
	skip "memlock limit $memlock kB: a ${BEYOND_MEMLOCK_MB}MB region would be locked", 15
	  unless $memlock_beyond;
	my $sw = gallery_node('swap',
		"biocrypt.gallery_memory = ${BEYOND_MEMLOCK_MB}MB\nbiocrypt.gallery_swaps_file = '$with_swap'\n");
	line_gallery($sw, 's', 50, 's-');
	$sw->safe_psql(
		'postgres', q{
		CREATE ROLE plain_admin LOGIN IN ROLE biocrypt_admin;
		GRANT SELECT ON s TO plain_admin;
	});
	my $refusal = qr/ERROR:  53000: biocrypt: a warm gallery could be swapped out: this host has a swap device, and the gallery memory is neither locked nor in huge pages\n.*HINT:  Reserve huge pages \(vm\.nr_hugepages\) for biocrypt\.gallery_memory, raise the memlock limit above it, or remove the swap device; or let a superuser SET biocrypt\.gallery_allow_swap = on\./s;
	my ($rc, $out, $err) = $sw->psql_verbose('postgres', "SELECT biocrypt.warm('s_gal')");
	is($rc, 3, 'swap: warm() fails');
	like($err, $refusal, 'swap: warm(): 53000, and a HINT naming huge pages, memlock and gallery_allow_swap');
	is(gal($sw, 's_gal'), 'cold|0', 'swap: the gallery stays cold');
	my $probe = "'{3,1,2}'::real[]";
	($rc, $out, $err) = $sw->psql_verbose('postgres', ident_sql('s', $probe, 3));
	is($rc, 3, 'swap: identify() fails');
	like($err, $refusal, 'swap: identify(): the same error');
	($rc, $out, $err) = $sw->psql_verbose('postgres', order_sql('s', $probe, 3));
	is($rc, 3, 'swap: ORDER BY fails');
	like($err, $refusal, 'swap: ORDER BY: the same error');
	is(cold($sw, ident_sql('s', $probe, 3)), 's-3=0,s-2=1,s-4=1',
		'swap: with enable_gallery off identify() serves from the table');
	is(gal($sw, 's_gal'), 'cold|0', 'swap: still cold');

	($rc, $out, $err) = $sw->psql_verbose('postgres',
		'SET ROLE plain_admin; SET biocrypt.gallery_allow_swap = on');
	like($err, qr/ERROR:  42501: permission denied to set parameter "biocrypt\.gallery_allow_swap"/,
		'swap: a biocrypt_admin who is not superuser cannot SET gallery_allow_swap (42501)');
	($rc, $out, $err) = $sw->psql_verbose('postgres',
		"SET biocrypt.gallery_allow_swap = on; SET ROLE plain_admin; SELECT biocrypt.warm('s_gal')");
	note("swap: warm() by plain_admin after a superuser's SET: rc $rc, out '$out', err '$err'");
	is($out, '50', 'swap: in a session where a superuser set it, an administrator warms');
	is( $sw->safe_psql(
			'postgres', "SELECT protection, state, templates FROM biocrypt.galleries WHERE index = 's_gal'::regclass"),
		'allowed|warm|50', 'swap: protection \'allowed\'');
	is($sw->safe_psql('postgres', ident_sql('s', $probe, 3)), 's-3=0,s-2=1,s-4=1',
		'swap: a warm allowed gallery serves other sessions (protection is checked at warming)');

	# the host without swap: the header alone
	$sw->safe_psql('postgres', 'REINDEX INDEX s_gal');
	open my $fh, '>', $with_swap or die;
	print $fh $SWAPS_HEADER;
	close $fh;
	is($sw->safe_psql('postgres', "SELECT biocrypt.warm('s_gal')"), '50', 'no swap: warm() succeeds');
	is( $sw->safe_psql(
			'postgres', "SELECT protection, state FROM biocrypt.galleries WHERE index = 's_gal'::regclass"),
		'no swap|warm', 'no swap: protection \'no swap\'');
	$sw->stop;
}

lap('3 swap');

###########################################################################
# 4. the memory budget
###########################################################################
my $bud = gallery_node('budget', "biocrypt.gallery_memory = 2MB\nbiocrypt.gallery_swaps_file = '$no_swap'\n");
random_gallery($bud, 'big', 0.44, 512, 3000, 'b-');
line_gallery($bud, 'small', 10, 'm-');
my ($rc, $out, $err) = $bud->psql_verbose('postgres', "SELECT biocrypt.warm('big_gal') IS NULL");
is($out, 't', 'budget: warm() of 3000 x 512 f32 in 2MB returns NULL');
like($err,
	qr/NOTICE:  00000: biocrypt: gallery "big_gal" is searched without its warm form: it does not fit in biocrypt\.gallery_memory/,
	'budget: the NOTICE says it does not fit in biocrypt.gallery_memory');
is(gal($bud, 'big_gal'), 'cold|0', 'budget: the gallery is cold');
# the refusal is remembered until the index changes: searches do not try
# to warm it again, nor repeat the NOTICE; an insert makes them try once
($rc, $out, $err) = $bud->psql_verbose('postgres', ident_sql('big', probe(512, 1), 5));
unlike($err, qr/NOTICE/, 'budget: identify() does not try again, and says nothing more');
$bud->safe_psql('postgres',
	"INSERT INTO big SELECT 3001, biocrypt.protect(" . probe(512, 3) . ", 'b-3001')");
($rc, $out, $err) = $bud->psql_verbose('postgres', ident_sql('big', probe(512, 1), 5));
like($err, qr/does not fit in biocrypt\.gallery_memory/, 'budget: after an insert, identify() tries again and gives the NOTICE');
same_as_cold($bud, 'big', [ map { probe(512, $_) } 1 .. 2 ], 5, 'budget');
like( $bud->safe_psql('postgres', "EXPLAIN (COSTS OFF) SELECT tpl FROM big ORDER BY tpl <-> " . probe(512, 1) . " LIMIT 5"),
	qr/Index Scan using big_gal on big/, 'budget: ORDER BY still plans the index');
is(gal($bud, 'big_gal'), 'cold|0', 'budget: still cold after the searches');
# the region works: a small gallery fits
is($bud->safe_psql('postgres', "SELECT biocrypt.warm('small_gal')"), '10', 'budget: a small gallery warms');
is( $bud->safe_psql('postgres', "SELECT protection FROM biocrypt.galleries WHERE index = 'small_gal'::regclass"),
	$memlock ne 'unlimited' && $memlock < 2048 ? 'no swap' : 'locked',
	'budget: a 2MB region within the memlock limit is locked');
$bud->stop;
lap('4 budget');

$standby->stop;
$node->stop;
note(sprintf('time: 016_gallery %.1f s', Time::HiRes::time() - $t0));
done_testing();
