#!/usr/bin/python3
"""biocrypt from Python with psycopg 3 (Debian: python3-psycopg).

Enrols, verifies (with a score threshold, and decision-only), identifies and
seals a probe (python3-nacl), with parameters bound on the server, which is
psycopg 3's default: the statement text the server sees holds $1, never
the values.  A ClientCursor, which interpolates on the client as psycopg2
does, is the control that shows the check can fail.

    psycopg_test.py CONNINFO SERVER_LOG

CONNINFO reaches a superuser of a server that preloads biocrypt, has the
extension, sets biocrypt.match_threshold = 0.05 (cosine), and logs every
statement without its parameters (test/drivers/run.sh).  Prints one line
per check and "psycopg: N passed, N failed".
"""

import re
import struct
import sys

import psycopg
from psycopg import errors, sql
from nacl.public import PublicKey, SealedBox

CONNINFO, SERVER_LOG = sys.argv[1], sys.argv[2]
DIMS = 8
# probes carry a value whose decimals appear nowhere else: one sent bound
# on the server, one interpolated on the client (both exact in float32)
BOUND = 0.3173828125        # 325/1024
INLINE = 0.4169921875       # 427/1024

passed = failed = 0


def check(name, got, want):
    """One exact assertion."""
    global passed, failed
    if got == want:
        passed += 1
        print("ok - " + name)
    else:
        failed += 1
        print("not ok - %s\n#   got:  %r\n#   want: %r" % (name, got, want))


def sqlstate_of(conn, query, params):
    """The SQLSTATE of a statement that must fail (None if it did not)."""
    try:
        conn.execute(query, params)
    except psycopg.Error as e:
        return e.sqlstate
    return None


def unit(i, scale=1.0):
    """A vector along axis i (cosine distance 0 to any other multiple)."""
    v = [0.0] * DIMS
    v[i] = scale
    return v


def seal_vector(pk, v):
    """A sealed probe: the BCS1 message of docs/format.md in a SealedBox."""
    msg = struct.pack('<4sBBHI', b'BCS1', 1, 0, 0, len(v)) + struct.pack('<%df' % len(v), *v)
    return SealedBox(PublicKey(pk)).encrypt(msg)


def login(role, purpose=None):
    """A connection as a login role, with a declared purpose."""
    conn = psycopg.connect(CONNINFO, user=role, autocommit=True)
    if purpose is not None:
        conn.execute("SELECT set_config('biocrypt.purpose', %s, false)", [purpose])
    return conn


def setup(admin):
    """Roles (enroller, matcher, decision-only verifier) and a table."""
    for role, parent in (('py_enrol', 'biocrypt_enroller'), ('py_gate', 'biocrypt_matcher'),
                         ('py_kiosk', 'biocrypt_verifier')):
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
            sql.Identifier(role), sql.Identifier(parent)))
    admin.execute("CREATE TABLE py_people (id int PRIMARY KEY, face protected_template)")
    admin.execute("GRANT SELECT, INSERT ON py_people TO py_enrol")
    admin.execute("GRANT SELECT ON py_people TO py_gate, py_kiosk")
    for role in ('py_gate', 'py_kiosk'):
        admin.execute("SELECT biocrypt.grant_purpose(%s, 'verification')", [role])


def enrol():
    """Three subjects: axes 0 and 1, and 0.6/0.8 between them."""
    with login('py_enrol') as conn:
        people = [(1, unit(0), 'py-subject-1'), (2, unit(1), 'py-subject-2'),
                  (3, [0.6, 0.8] + [0.0] * (DIMS - 2), 'py-subject-3')]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO py_people VALUES (%s, biocrypt.protect(%s::real[], %s, "
                            "purposes => %s))",
                            [(i, v, s, ['verification']) for i, v, s in people])
        rows = conn.execute("SELECT id, biocrypt.subject_of(face), biocrypt.dims_of(face), "
                            "biocrypt.purposes_of(face) FROM py_people ORDER BY id").fetchall()
        check("enrol: three templates, their headers",
              rows, [(i, s, DIMS, ['verification']) for i, _, s in people])


def logged(pid):
    """The statements the server logged for one backend, as it received
    them: "execute <name>: TEXT" for the extended protocol (parameters
    apart), "statement: TEXT" for a simple query."""
    with open(SERVER_LOG, encoding='utf-8', errors='replace') as f:
        return re.findall(r'^\S+ \S+ \S+ \[%d\] LOG:  ((?:execute [^:]+|statement): .*)$' % pid,
                          f.read(), re.M)


def test_matcher(admin):
    """verify with max_distance, identify; what the server received."""
    q_verify = ("SELECT biocrypt.verify(face, %s::real[], max_distance => %s) "
                "FROM py_people WHERE id = %s")
    with login('py_gate', 'verification') as conn:
        pid = conn.info.backend_pid
        check("verify: probe along subject 1's axis matches",
              conn.execute(q_verify, [unit(0, BOUND), 0.05, 1]).fetchone()[0], True)
        check("the server received $1, $2, $3 in the statement, not the values",
              logged(pid)[-1],
              "execute <unnamed>: SELECT biocrypt.verify(face, $1::real[], max_distance => $2) "
              "FROM py_people WHERE id = $3")
        # what pg_stat_activity keeps of it (docs/security.md)
        check("pg_stat_activity: the text withheld",
              admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s",
                            [pid]).fetchone()[0], '<biocrypt: statement text withheld>')
        check("verify: probe along subject 2's axis does not match subject 1",
              conn.execute(q_verify, [unit(1, BOUND), 0.05, 1]).fetchone()[0], False)
        # binary format (%b): float8[] in binary, cast to real[] by the server
        check("verify: the probe bound in binary",
              conn.execute("SELECT biocrypt.verify(face, %b::real[], %b) FROM py_people "
                           "WHERE id = %b", [unit(0, BOUND), 0.05, 1]).fetchone()[0], True)
        rows = conn.execute("SELECT subject, distance FROM biocrypt.identify('py_people', 'face', "
                            "%s::real[], k => %s)", [unit(0, BOUND), 3]).fetchall()
        # distances come rounded to 2 places for a matcher (score disclosure)
        check("identify: all three, nearest first, rounded distances",
              rows, [('py-subject-1', 0.0), ('py-subject-3', 0.4), ('py-subject-2', 1.0)])
        rows = conn.execute("SELECT subject FROM biocrypt.identify('py_people', 'face', "
                            "%s::real[], k => 5, max_distance => %s)",
                            [unit(1, BOUND), 0.1]).fetchall()
        check("identify: within max_distance only", rows, [('py-subject-2',)])
        check("the server received identify's $1, $2",
              logged(pid)[-1],
              "execute <unnamed>: SELECT subject FROM biocrypt.identify('py_people', 'face', "
              "$1::real[], k => 5, max_distance => $2)")

        check("verify: 3 dimensions against 8 is 22000",
              sqlstate_of(conn, q_verify, [[1.0, 0.0, 0.0], 0.05, 1]), '22000')
        check("server-side binding: no statement of the session held the bound probe",
              [t for t in logged(pid) if str(BOUND) in t], [])

    # the control: a ClientCursor writes the values into the SQL text
    with login('py_gate', 'verification') as conn, psycopg.ClientCursor(conn) as cur:
        cur.execute(q_verify, [unit(0, INLINE), 0.05, 1])
        check("client-side binding: verify still matches", cur.fetchone()[0], True)
        seen = logged(conn.info.backend_pid)[-1]
        check("client-side binding: the server received the probe's values in the text",
              (seen.startswith('statement: SELECT biocrypt.verify(face, '), str(INLINE) in seen,
               '$1' in seen), (True, True, False))


def test_sealed():
    """A probe sealed with PyNaCl to biocrypt.public_key(), bound as bytea."""
    with login('py_gate', 'verification') as conn:
        pk = bytes(conn.execute("SELECT biocrypt.public_key()").fetchone()[0])
        check("public_key: 32 bytes", len(pk), 32)
        box = seal_vector(pk, unit(0, BOUND))
        check("verify_sealed: a box bound as bytea",
              conn.execute("SELECT biocrypt.verify_sealed(face, %s, 0.05) FROM py_people "
                           "WHERE id = 1", [box]).fetchone()[0], True)
        check("identify_sealed: the nearest subject",
              conn.execute("SELECT subject FROM biocrypt.identify_sealed('py_people', 'face', "
                           "%s::sealed_probe, 1)", [box]).fetchone()[0], 'py-subject-1')
        check("verify_sealed: a box sealed to another key is 22P03",
              sqlstate_of(conn, "SELECT biocrypt.verify_sealed(face, %s, 0.05) FROM py_people "
                          "WHERE id = 1", [seal_vector(bytes(32 * [7]), unit(0))]), '22P03')


def test_verifier():
    """The decision-only forms, at the administrator's threshold (0.05, cosine)."""
    with login('py_kiosk', 'verification') as conn:
        q = "SELECT biocrypt.verify(face, %s::real[]) FROM py_people WHERE id = %s"
        check("decision-only verify: subject 1 (distance 0)",
              conn.execute(q, [unit(0, BOUND), 1]).fetchone()[0], True)
        check("decision-only verify: subject 3 (distance 0.4)",
              conn.execute(q, [unit(0, BOUND), 3]).fetchone()[0], False)
        check("decision-only identify_ranks: one subject within the threshold",
              conn.execute("SELECT rank, subject FROM biocrypt.identify_ranks('py_people', 'face', "
                           "%s::real[], k => 3)", [unit(0, BOUND)]).fetchall(),
              [(1, 'py-subject-1')])
        check("a verifier gets no score: 42501",
              sqlstate_of(conn, "SELECT biocrypt.verify(face, %s::real[], 0.05) FROM py_people "
                          "WHERE id = 1", [unit(0, BOUND)]), '42501')
        # the server logs a failing statement's text (log_min_error_statement)
        with open(SERVER_LOG, encoding='utf-8', errors='replace') as f:
            failing = re.findall(r'^\S+ \S+ \S+ \[%d\] STATEMENT:  (.*)$' % conn.info.backend_pid,
                                 f.read(), re.M)
        check("the failing statement's logged text holds $1",
              failing, ["SELECT biocrypt.verify(face, $1::real[], 0.05) FROM py_people WHERE id = 1"])


def test_refusals(admin):
    """A missing or ungranted purpose: 42501, recorded as denied."""
    q = "SELECT biocrypt.verify(face, %s::real[], max_distance => %s) FROM py_people WHERE id = %s"
    with login('py_gate') as conn:
        try:
            conn.execute(q, [unit(0, BOUND), 0.05, 1])
            got = None
        except psycopg.Error as e:
            got = (isinstance(e, errors.InsufficientPrivilege), e.sqlstate)
        check("no purpose declared: InsufficientPrivilege, 42501", got, (True, '42501'))
    with login('py_gate', 'marketing') as conn:
        check("a purpose not granted: 42501",
              sqlstate_of(conn, q, [unit(0, BOUND), 0.05, 1]), '42501')
    rows = admin.execute("SELECT purpose, outcome, sqlstate FROM biocrypt.audit_log "
                         "WHERE session_role = 'py_gate' AND outcome = 'denied' "
                         "ORDER BY id").fetchall()
    check("both refusals are in the audit log",
          rows, [(None, 'denied', '42501'), ('marketing', 'denied', '42501')])


def test_log():
    """The server log has the statements with $1, and the bound probe nowhere."""
    with open(SERVER_LOG, encoding='utf-8', errors='replace') as f:
        log = f.read()
    check("log: verify's statement text with $1",
          "biocrypt.verify(face, $1::real[], max_distance => $2)" in log, True)
    check("log: the bound probe's value never", str(BOUND) in log, False)
    check("log: the interpolated probe's value (the control)", str(INLINE) in log, True)


def main():
    with psycopg.connect(CONNINFO, autocommit=True) as admin:
        setup(admin)
        enrol()
        test_matcher(admin)
        test_sealed()
        test_verifier()
        test_refusals(admin)
    test_log()
    print("psycopg: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
