-- Row binding and replay: protect_column(..., subject_column), the check
-- trigger that sees the row as stored (after every BEFORE trigger), the
-- audit of every template written, and no replay after erase_subject.
-- Audit rows are shown without their times, ids and key ids.
\set err_detail off
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql
SET TimeZone = 'UTC';
SET biocrypt.purpose = 'verification';

-- audit rows of templates written since an id: subjects only
CREATE FUNCTION pg_temp.writes_since(since bigint)
	RETURNS TABLE (operation text, relation regclass, col name, written bigint,
		subjects jsonb, outcome text, sqlstate text)
	LANGUAGE sql AS $$
	SELECT operation, relation, column_name, templates_compared,
		jsonb_path_query_array(matches, '$[*].subject'), outcome, sqlstate
	FROM biocrypt.audit_log
	WHERE id > since AND operation IN ('protect', 'retain', 'erase') AND outcome <> 'begun'
	ORDER BY id
$$;

CREATE TABLE people (id int, name text, face protected_template, note text);
CREATE TABLE loose (id int, face protected_template);

--
-- 1. protect_column(..., subject_column)
--
SELECT pg_temp.err($$SELECT biocrypt.protect_column('people', 'face', '60 days', '{verification}', subject_column => 'nope')$$) AS missing_subject_column;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('people', 'face', '60 days', '{verification}', subject_column => 'face')$$) AS template_as_subject;
SELECT pg_temp.err($$SELECT biocrypt.protect_column('people', 'face', '60 days', '{verification}', subject_column => 'ctid')$$) AS system_column;
SELECT count(*) AS policies FROM biocrypt.columns;
SELECT biocrypt.protect_column('people', 'face', '60 days', '{verification}', subject_column => 'id');
SELECT relation, column_name, subject_column FROM biocrypt.columns;
-- two triggers: the policy BEFORE the row is stored, its check AFTER
SELECT tgname, tgtype, tgfoid::regproc AS function FROM pg_trigger
WHERE tgrelid = 'people'::regclass ORDER BY 1;

--
-- 2. the subject binding
--
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
INSERT INTO people VALUES (1, 'one', biocrypt.protect('{1,0,0}', '1')),
	(1000, 'thousand', biocrypt.protect('{0,1,0}', '1000'));
-- the finding: row 1 takes person 1000's template
SELECT pg_temp.err($$UPDATE people SET face = (SELECT face FROM people WHERE id = 1000) WHERE id = 1$$, true) AS cross_row_update;
SELECT id, biocrypt.subject_of(face) AS subject,
	biocrypt.verify(face, '{0,1,0}', 0.01) AS accepts_1000s_probe
FROM people ORDER BY id;
-- another subject, a NULL subject column, and text that differs as text
SELECT pg_temp.err($$INSERT INTO people VALUES (2, 'two', biocrypt.protect('{0,0,1}', '3'))$$) AS other_subject;
SELECT pg_temp.err($$INSERT INTO people VALUES (NULL, 'nobody', biocrypt.protect('{0,0,1}', 'NULL'))$$) AS null_subject_column;
SELECT pg_temp.err($$INSERT INTO people VALUES (1, 'one again', biocrypt.protect('{0,0,1}', '01'))$$) AS compared_as_text;
-- a row without a template needs no subject
INSERT INTO people VALUES (NULL, 'no face', NULL);
-- an update of another column leaves the template alone: no refusal, no
-- audit row (the same bytes are not a new template)
UPDATE people SET name = upper(name);
-- a new subject column value is a new binding
SELECT pg_temp.err($$UPDATE people SET id = 1000 WHERE id = 1$$) AS rebind_by_subject_column;
UPDATE people SET id = 5 WHERE name = 'NO FACE';
-- copies between rows of the same subject are allowed, and recorded:
-- INSERT ... SELECT, and the template's text form (a restore)
INSERT INTO people SELECT id, 'copy', face FROM people WHERE id = 1;
INSERT INTO people SELECT id, 'restored', face::text::protected_template
	FROM people WHERE id = 1000;
-- INSERT ... SELECT of many rows: one row per statement and column
INSERT INTO people SELECT id, 'copy 2', face FROM people WHERE id IN (1, 1000) AND name <> 'copy';
UPDATE people SET face = (SELECT face FROM people WHERE id = 1 AND name = 'ONE')
	WHERE id = 1 AND name = 'copy';
-- touch() back into the same row is recorded once, as retain
UPDATE people SET face = biocrypt.touch(face, now() + interval '30 days') WHERE name = 'ONE';
SELECT pg_temp.settle();
SELECT * FROM pg_temp.writes_since(:start);
SELECT id, name, biocrypt.subject_of(face) AS subject FROM people ORDER BY id, name;

-- COPY FROM is checked and recorded too
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT '/tmp/biocrypt_row_binding_' || pg_backend_pid() AS copyfile \gset
COPY (SELECT id, 'copied', face FROM people WHERE id IN (1, 1000) AND name IN ('ONE', 'THOUSAND')
	ORDER BY id) TO :'copyfile';
COPY people (id, name, face) FROM :'copyfile';
COPY (SELECT 1, 'copied', face FROM people WHERE name = 'THOUSAND') TO :'copyfile';
SELECT pg_temp.err(format('COPY people (id, name, face) FROM %L', :'copyfile')) AS copy_other_subject;
CREATE TEMP TABLE nothing (x int);
SELECT pg_temp.err(format('COPY nothing FROM PROGRAM %L', 'rm -f ' || :'copyfile')) AS cleanup;
SELECT pg_temp.settle();
SELECT * FROM pg_temp.writes_since(:start);

-- through a partitioned table: the partition's policy binds, and the
-- partition's own row lists what it stored
CREATE TABLE parted (id text, face protected_template) PARTITION BY LIST (id);
CREATE TABLE parted_a PARTITION OF parted FOR VALUES IN ('p-1', 'p-2');
SELECT biocrypt.protect_column('parted_a', 'face', '60 days', '{verification}', subject_column => 'id');
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
INSERT INTO parted VALUES ('p-1', biocrypt.protect('{1,0,1}', 'p-1', now() + interval '1 day', '{verification}'));
INSERT INTO parted VALUES ('p-2', biocrypt.protect('{1,0,1}', 'p-2'));
SELECT pg_temp.err($$INSERT INTO parted VALUES ('p-2', biocrypt.protect('{1,0,1}', 'p-1'))$$) AS partition_other_subject;
SELECT pg_temp.settle();
SELECT * FROM pg_temp.writes_since(:start);
SELECT id, biocrypt.expires_at(face) - biocrypt.created_at(face) = interval '60 days' AS policy_retention
FROM parted ORDER BY id;
DROP TABLE parted;

-- the subject column follows a rename
ALTER TABLE people RENAME id TO person_id;
SELECT subject_column FROM biocrypt.columns WHERE relation = 'people'::regclass;
SELECT pg_temp.err($$UPDATE people SET face = (SELECT face FROM people WHERE person_id = 1000 LIMIT 1) WHERE person_id = 1$$) AS cross_row_after_rename;
INSERT INTO people VALUES (7, 'seven', biocrypt.protect('{1,1,0}', '7'));
-- it cannot be dropped while the policy names it, by anyone
SELECT pg_temp.err($$ALTER TABLE people DROP COLUMN person_id$$, true) AS drop_subject_column;
SELECT pg_temp.err($$ALTER TABLE people DROP COLUMN note$$) AS drop_other_column;
-- registering the column again changes the binding, or lifts it
SELECT biocrypt.protect_column('people', 'face', '60 days', '{verification}', subject_column => 'name');
SELECT pg_temp.err($$INSERT INTO people VALUES (7, 'seven', biocrypt.protect('{1,1,0}', '7'))$$) AS bound_to_name;
INSERT INTO people VALUES (7, '7', biocrypt.protect('{1,1,0}', '7'));
SELECT biocrypt.protect_column('people', 'face', '60 days', '{verification}');
SELECT subject_column FROM biocrypt.columns WHERE relation = 'people'::regclass;
UPDATE people SET face = (SELECT face FROM people WHERE person_id = 1000 LIMIT 1) WHERE person_id = 7;
ALTER TABLE people DROP COLUMN person_id;

-- a subject column dropped some other way (its type, CASCADE) refuses
-- every write until the column is registered again
CREATE DOMAIN rb_id AS text;
CREATE TABLE badges (id rb_id, face protected_template);
SELECT biocrypt.protect_column('badges', 'face', '60 days', '{verification}', subject_column => 'id');
INSERT INTO badges VALUES ('b-1', biocrypt.protect('{1,2,3}', 'b-1'));
DROP DOMAIN rb_id CASCADE;
SELECT pg_temp.err($$INSERT INTO badges VALUES (biocrypt.protect('{1,2,3}', 'b-1'))$$) AS subject_column_gone;
UPDATE badges SET face = NULL;
SELECT biocrypt.protect_column('badges', 'face', '60 days', '{verification}');
INSERT INTO badges VALUES (biocrypt.protect('{1,2,3}', 'b-1'));

--
-- 3. no replay after erase_subject
--
CREATE TABLE members (id text, face protected_template);
SELECT biocrypt.protect_column('members', 'face', '60 days', '{verification}', subject_column => 'id');
INSERT INTO members VALUES ('m-1', biocrypt.protect('{1,2,3}', 'm-1')),
	('m-2', biocrypt.protect('{3,2,1}', 'm-2'));
-- copies kept: the text form (a dump, a client's cache), and a column
-- without a policy
CREATE TEMP TABLE kept AS SELECT id, face::text AS b64 FROM members;
INSERT INTO loose SELECT 1, face FROM members WHERE id = 'm-1';
SELECT coalesce(max(id), 0) AS start FROM biocrypt.audit_log \gset
SELECT count(*) AS erasures0, clock_timestamp() AS t0 FROM biocrypt.erasures \gset
SELECT biocrypt.erase_subject('m-1') AS erased;
-- the record holds a keyed hash, not the subject
SELECT length(subject_hash) AS hash_bytes, erased_at <= now() AS erased_before_now,
	position(convert_to('m-1', 'UTF8') IN subject_hash) AS subject_in_clear
FROM biocrypt.erasures WHERE erased_at >= :'t0';
SELECT pg_temp.err($$INSERT INTO members SELECT id, b64::protected_template FROM kept WHERE id = 'm-1'$$, true) AS replay_text;
SELECT pg_temp.err($$INSERT INTO members SELECT 'm-1', face FROM loose$$) AS replay_from_loose;
-- into any registered column, bound or not
SELECT pg_temp.err($$INSERT INTO badges SELECT b64::protected_template FROM kept WHERE id = 'm-1'$$) AS replay_elsewhere;
-- another subject's copy is still allowed
INSERT INTO members SELECT id, b64::protected_template FROM kept WHERE id = 'm-2';
-- a new enrolment after the erasure is allowed, and can be copied
INSERT INTO members VALUES ('m-1', biocrypt.protect('{1,2,4}', 'm-1'));
INSERT INTO members SELECT id, face FROM members WHERE id = 'm-1';
-- a second erasure covers it too
CREATE TEMP TABLE kept2 AS SELECT face::text AS b64 FROM members WHERE id = 'm-1' LIMIT 1;
SELECT biocrypt.erase_subject('m-1') AS erased_again;
SELECT count(*) - :erasures0 AS new_erasures FROM biocrypt.erasures;
SELECT pg_temp.err($$INSERT INTO members SELECT 'm-1', b64::protected_template FROM kept2$$) AS replay_second;
SELECT pg_temp.settle();
SELECT * FROM pg_temp.writes_since(:start);
SELECT id, count(*) FROM members GROUP BY id ORDER BY id;

--
-- 4. the owner's BEFORE trigger that runs after the policy's
--
CREATE ROLE regress_rb_owner IN ROLE biocrypt_enroller;
CREATE TABLE bypass (id text, face protected_template);
ALTER TABLE bypass OWNER TO regress_rb_owner;
SELECT biocrypt.protect_column('bypass', 'face', '60 days', '{verification}', subject_column => 'id');
-- templates the owner would rather store
CREATE TABLE stash (kind text, face protected_template);
INSERT INTO stash VALUES
	('long', biocrypt.protect('{1,1,1}', 'b-1', now() + interval '1 year', '{verification}')),
	('payment', biocrypt.protect('{1,1,1}', 'b-1', now() + interval '1 day', '{payment}')),
	('other', biocrypt.protect('{1,1,1}', 'b-2', now() + interval '1 day', '{verification}')),
	('erased', (SELECT b64::protected_template FROM kept WHERE id = 'm-1'));
GRANT SELECT ON stash TO regress_rb_owner;
CREATE FUNCTION rb_swap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.face := (SELECT face FROM stash WHERE kind = TG_ARGV[0]);
	IF TG_ARGV[0] = 'erased' THEN
		NEW.id := 'm-1';
	END IF;
	RETURN NEW;
END $$;
SET ROLE regress_rb_owner;
CREATE TRIGGER zzz_after_policy BEFORE INSERT OR UPDATE ON bypass
	FOR EACH ROW EXECUTE FUNCTION rb_swap('long');
SELECT pg_temp.err($$INSERT INTO bypass VALUES ('b-1', biocrypt.protect('{1,1,1}', 'b-1'))$$) AS swap_retention;
CREATE OR REPLACE TRIGGER zzz_after_policy BEFORE INSERT OR UPDATE ON bypass
	FOR EACH ROW EXECUTE FUNCTION rb_swap('payment');
SELECT pg_temp.err($$INSERT INTO bypass VALUES ('b-1', biocrypt.protect('{1,1,1}', 'b-1'))$$) AS swap_purposes;
CREATE OR REPLACE TRIGGER zzz_after_policy BEFORE INSERT OR UPDATE ON bypass
	FOR EACH ROW EXECUTE FUNCTION rb_swap('other');
SELECT pg_temp.err($$INSERT INTO bypass VALUES ('b-1', biocrypt.protect('{1,1,1}', 'b-1'))$$) AS swap_subject;
CREATE OR REPLACE TRIGGER zzz_after_policy BEFORE INSERT OR UPDATE ON bypass
	FOR EACH ROW EXECUTE FUNCTION rb_swap('erased');
SELECT pg_temp.err($$INSERT INTO bypass VALUES ('b-1', biocrypt.protect('{1,1,1}', 'b-1'))$$) AS swap_erased;
DROP TRIGGER zzz_after_policy ON bypass;
-- without it, the defaulted template is re-sealed by the policy and passes
INSERT INTO bypass VALUES ('b-1', biocrypt.protect('{1,1,1}', 'b-1'));
RESET ROLE;
SELECT id, biocrypt.expires_at(face) - biocrypt.created_at(face) AS kept_for,
	biocrypt.purposes_of(face) AS purposes FROM bypass;

-- a trigger of the owner's that took a policy trigger's name beforehand
-- is not taken for it
CREATE TABLE squat (id int, face protected_template);
CREATE TRIGGER biocrypt_column_policy_check AFTER INSERT ON squat
	FOR EACH ROW EXECUTE FUNCTION rb_swap('long');
SELECT pg_temp.err($$SELECT biocrypt.protect_column('squat', 'face', '7 days', '{verification}')$$, true) AS squatted_name;
SELECT count(*) AS policies FROM biocrypt.columns WHERE relation = 'squat'::regclass;

RESET biocrypt.purpose;
DROP TABLE people, loose, badges, members, bypass, stash, squat;
DROP FUNCTION rb_swap();
DROP ROLE regress_rb_owner;
SELECT count(*) AS policies_left FROM biocrypt.columns;
