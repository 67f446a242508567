-- biocrypt 0.1.0 -> 0.2.0.  A new installation runs biocrypt--0.1.0.sql and
-- then this script, as PostgreSQL's contrib modules do: an upgraded database
-- and a new one are built by the same statements (docs/dba.md, "Upgrades").

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION biocrypt UPDATE TO '0.2.0'" to load this file. \quit
