\set ECHO none
-- Helpers that edit a template's envelope bytes, created in pg_temp
-- (tamper.sql, badinput.sql; included after setup.sql, the same way: only
-- the \i line is echoed).  Offsets are docs/format.md's.

-- flip one bit of one byte
CREATE FUNCTION pg_temp.flip(b bytea, pos int, k int DEFAULT 0) RETURNS bytea
	LANGUAGE sql IMMUTABLE AS $$ SELECT set_byte(b, pos, get_byte(b, pos) # (1 << k)) $$;
-- little-endian unsigned integers of n bytes at offset off
CREATE FUNCTION pg_temp.get_le(b bytea, off int, n int) RETURNS bigint
	LANGUAGE sql IMMUTABLE AS $$
	SELECT sum(get_byte(b, off + i)::numeric * 256::numeric ^ i)::bigint
	FROM generate_series(0, n - 1) i $$;
CREATE FUNCTION pg_temp.set_le(b bytea, off int, n int, v bigint) RETURNS bytea
	LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	FOR i IN 0 .. n - 1 LOOP
		b := set_byte(b, off + i, ((v >> (8 * i)) & 255)::int);
	END LOOP;
	RETURN b;
END $$;
-- a well-formed header with another subject and purposes (lengths fixed up),
-- followed by the original nonce, ciphertext and tag
CREATE FUNCTION pg_temp.rebuild(b bytea, subject text, purposes text[]) RETURNS bytea
	LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	labels bytea := convert_to(subject, 'UTF8');
	hdr bytea := substr(b, 1, 44);
	p text;
BEGIN
	FOREACH p IN ARRAY purposes LOOP
		labels := labels || set_byte('\x00'::bytea, 0, octet_length(p)) || convert_to(p, 'UTF8');
	END LOOP;
	hdr := pg_temp.set_le(hdr, 18, 2, 44 + octet_length(labels));
	hdr := pg_temp.set_le(hdr, 40, 2, octet_length(convert_to(subject, 'UTF8')));
	hdr := set_byte(hdr, 42, cardinality(purposes));
	RETURN hdr || labels || substr(b, pg_temp.get_le(b, 18, 2)::int + 1);
END $$;

\set ECHO all
