-- header accessors: read the authenticated header without any key
\set VERBOSITY terse
SET TimeZone = 'UTC';

-- expiries relative to today: m1 and m2 are the starts of two later UTC months
SELECT date_trunc('month', now() AT TIME ZONE 'UTC' + interval '2 years') AT TIME ZONE 'UTC' AS m1,
	date_trunc('month', now() AT TIME ZONE 'UTC' + interval '2 years 1 month') AT TIME ZONE 'UTC' AS m2 \gset
CREATE TABLE header_t (id int, tpl protected_template);
INSERT INTO header_t VALUES
	(1, biocrypt.protect(ARRAY[1, 2, 3]::real[], 'alice', :'m1'::timestamptz + interval '14 days 12 hours', '{verification,border}')),
	(2, biocrypt.protect(ARRAY[1, 2, 3, 4]::real[], 'Zoë 张', :'m1'::timestamptz + interval '14 days 12 hours', '{b,a,b}', 'f16')),
	(3, biocrypt.protect(array_fill(1::real, ARRAY[17]), 'carol', :'m2', '{x}', 'i8')),
	(4, biocrypt.protect_bits(decode(repeat('a5', 256), 'hex'), decode(repeat('ff', 256), 'hex'), 'dave',
		:'m1'::timestamptz + interval '14 days 12 hours', '{access}', '{8,128,2}')),
	(5, biocrypt.protect_bits('\x01'::bytea, NULL, 'eve', :'m1'::timestamptz + interval '14 days 12 hours', '{access}'));

SELECT id, biocrypt.subject_of(tpl), biocrypt.format_of(tpl), biocrypt.dims_of(tpl),
	biocrypt.purposes_of(tpl),
	biocrypt.expires_at(tpl) - (CASE id WHEN 3 THEN :'m2' ELSE :'m1' END)::timestamptz AS after_month_start
FROM header_t ORDER BY id;

-- created_at is the sealing time; key ids point into the key ring
SELECT id, biocrypt.created_at(tpl) BETWEEN now() - interval '1 minute' AND clock_timestamp() AS created_now,
	EXISTS (SELECT 1 FROM biocrypt.keys k WHERE k.id = biocrypt.key_id_of(tpl)) AS key_in_ring
FROM header_t ORDER BY id;

-- templates expiring in the same UTC month share a data key; its epoch is that month
SELECT count(DISTINCT biocrypt.key_id_of(tpl)) AS keys_for_m1 FROM header_t WHERE id IN (1, 2, 4, 5);
SELECT biocrypt.key_id_of(a.tpl) <> biocrypt.key_id_of(b.tpl) AS m2_has_own_key
FROM header_t a, header_t b WHERE a.id = 1 AND b.id = 3;
SELECT DISTINCT k.epoch = :'m1'::timestamptz AT TIME ZONE 'UTC' AS m1_epoch, k.epoch = :'m2'::timestamptz AT TIME ZONE 'UTC' AS m2_epoch, k.state FROM header_t h JOIN biocrypt.keys k ON k.id = biocrypt.key_id_of(h.tpl) ORDER BY 1;

-- a template from elsewhere (key 4242 is not in this ring; it expires in 2199): header still readable
SELECT biocrypt.subject_of(t), biocrypt.key_id_of(t), biocrypt.format_of(t), biocrypt.dims_of(t),
	biocrypt.purposes_of(t), biocrypt.created_at(t), biocrypt.expires_at(t)
FROM (SELECT 'QkNUAQICAAAEAAAAAAAAAAAATwCSEAAAAGDoCkfqAgAAgKyZiE8WAA8AAgBmaXh0dXJlLXN1YmplY3QGYm9yZGVyDHZlcmlmaWNhdGlvbgABAgMEBQYHCAkKCwwNDg8QERITFBUWF2RlZmdoaWpryMnKy8zNzs/Q0dLT1NXW1w=='::protected_template AS t) s;
-- ... but it cannot be decrypted here
SET biocrypt.allow_reveal = on;
SELECT biocrypt.reveal('QkNUAQICAAAEAAAAAAAAAAAATwCSEAAAAGDoCkfqAgAAgKyZiE8WAA8AAgBmaXh0dXJlLXN1YmplY3QGYm9yZGVyDHZlcmlmaWNhdGlvbgABAgMEBQYHCAkKCwwNDg8QERITFBUWF2RlZmdoaWpryMnKy8zNzs/Q0dLT1NXW1w=='::protected_template);
RESET biocrypt.allow_reveal;

-- accessors are strict, and immutable so they can be indexed
SELECT biocrypt.subject_of(NULL) IS NULL AS strict;
CREATE INDEX header_t_subject ON header_t (biocrypt.subject_of(tpl));
SET enable_seqscan = off;
SELECT id FROM header_t WHERE biocrypt.subject_of(tpl) = 'carol';
RESET enable_seqscan;
RESET TimeZone;

DROP TABLE header_t;
