#!/bin/bash
# biocrypt demo on a throwaway local cluster (Debian 12, as root): installs
# and builds biocrypt, starts a private server on a Unix socket with a fresh
# random root key, enrols templates, inspects them, compares probes inside
# the server (operator, verify, identify), reveals as an admin, applies a
# retention policy (hold, erasure, purge), then stops the server and deletes
# everything.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
"$SRC/test/install.sh"
BIN=/usr/lib/postgresql/15/bin
DIR=$(mktemp -d /tmp/biocrypt-demo.XXXXXX)
chown postgres:postgres "$DIR"
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
	as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap cleanup EXIT

# a random root key, readable by the server's owner only
as_pg sh -c "umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > '$DIR/root.key'"
as_pg "$BIN/initdb" -D "$DIR/data" -A trust --no-instructions >/dev/null
cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$DIR'
shared_preload_libraries = 'biocrypt'
biocrypt.root_key_file = '$DIR/root.key'
CONF
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null

as_pg psql -h "$DIR" -d postgres -X -q -v ON_ERROR_STOP=1 -e <<'SQL'
CREATE EXTENSION biocrypt;

-- an enrolment application and a matching service, as separate login roles
CREATE ROLE enrol_app LOGIN IN ROLE biocrypt_enroller;
CREATE ROLE security_officer LOGIN IN ROLE biocrypt_admin;
CREATE TABLE people (id int PRIMARY KEY, name text, face protected_template);
GRANT SELECT, INSERT ON people TO enrol_app, security_officer;

SET ROLE enrol_app;
INSERT INTO people VALUES
  (1, 'Alice', biocrypt.protect(ARRAY[0.12, -0.53, 0.91, 0.04]::real[], 'subject-0001',
                                now() + interval '2 years', '{border,verification}')),
  (2, 'Bob',   biocrypt.protect(ARRAY[0.77, 0.10, -0.32, 0.55]::real[], 'subject-0002',
                                purposes => '{verification}', format => 'f16'));

-- what is stored (and what any dump or replica carries): ciphertext only
SELECT id, left(face::text, 48) || '...' AS stored, length(face::text) AS chars FROM people;

-- the authenticated header can be read without any key
SELECT id, biocrypt.subject_of(face), biocrypt.format_of(face), biocrypt.dims_of(face),
       biocrypt.purposes_of(face), biocrypt.expires_at(face)::date AS expires
FROM people ORDER BY id;

-- a matching service compares inside the server: only distances leave it,
-- only for a declared purpose it was granted
RESET ROLE;
CREATE ROLE gate LOGIN IN ROLE biocrypt_matcher;
GRANT SELECT ON people TO gate;
SELECT biocrypt.grant_purpose('gate', 'verification');
SET ROLE gate;
SET biocrypt.purpose = 'verification';
SELECT id, face <=> '{0.12,-0.53,0.91,0.05}'::real[] AS cosine_distance FROM people ORDER BY 2;
SELECT biocrypt.verify(face, '{0.12,-0.53,0.91,0.05}', max_distance => 0.01) AS alice_verified
FROM people WHERE id = 1;
SELECT * FROM biocrypt.identify('people', 'face', '{0.75,0.1,-0.3,0.55}'::real[], k => 2);
RESET ROLE;
SET ROLE enrol_app;

-- the enroller cannot decrypt
\set ON_ERROR_STOP 0
SELECT biocrypt.reveal(face) FROM people WHERE id = 1;
RESET ROLE;

-- an admin may reveal only while a superuser allows it (audited)
SET ROLE security_officer;
SELECT biocrypt.reveal(face) FROM people WHERE id = 1;
RESET ROLE;
\set ON_ERROR_STOP 1
SET biocrypt.allow_reveal = on;
SET ROLE security_officer;
SELECT id, biocrypt.reveal(face) AS revealed FROM people ORDER BY id;
RESET ROLE;

-- retention: a policy for a visitors' column (kept 2 seconds here, to watch
-- it expire), a legal hold, an erasure request, and the purge
CREATE TABLE visitors (id int PRIMARY KEY, face protected_template);
SELECT biocrypt.protect_column('visitors', 'face', '2 seconds', '{verification}');
SELECT * FROM biocrypt.retention_schedule;
INSERT INTO visitors VALUES
  (1, biocrypt.protect('{0.1,0.2,0.3,0.4}', 'visitor-1')),
  (2, biocrypt.protect('{0.4,0.3,0.2,0.1}', 'visitor-2')),
  (3, biocrypt.protect('{0.2,0.2,0.2,0.2}', 'visitor-3'));
SELECT id, biocrypt.subject_of(face), biocrypt.expires_at(face) - biocrypt.created_at(face) AS kept_for
FROM visitors ORDER BY id;
SELECT biocrypt.hold('visitor-2', 'incident 42');
SELECT biocrypt.erase_subject('visitor-3');
SELECT pg_sleep(2.1);
SELECT relation, column_name, subject, held FROM biocrypt.overdue;
SELECT biocrypt.purge_expired();
SELECT id, biocrypt.subject_of(face) FROM visitors ORDER BY id;

-- the key ring: one wrapped data key per retention month, never plaintext
SELECT id, epoch, cipher, state, octet_length(wrapped) AS wrapped_bytes FROM biocrypt.keys ORDER BY id;

-- every access above is in the audit log, HMAC-chained: an access that
-- decrypts has a begun row, committed before its first decryption, and a
-- completion naming it (begun_id)
SELECT pg_sleep(0.1);
SELECT id, operation, relation, column_name, templates_compared AS n, effective_role, purpose,
       outcome, begun_id
FROM biocrypt.audit_log ORDER BY id;
SELECT * FROM biocrypt.verify_audit();
-- the head to publish outside the database, so that removing the tail shows
SELECT chain_id, id, encode(row_hash, 'hex') AS row_hash FROM biocrypt.audit_head();
-- every stored template, from its header alone (what auditors see)
SELECT relation, column_name, subject, expires_at, purposes, key_state, held
FROM biocrypt.template_inventory;
SQL
echo
echo "server log lines from biocrypt:"
grep "biocrypt" "$DIR/server.log" | sed 's/^[^]]*] //' || true
