-- biocrypt.check_config(): the rows test/regress.conf gives, rows that
-- appear and disappear with settings a superuser may SET, and who may call it.
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/setup.sql

-- the rows of this cluster, but for those that depend on the machine or
-- on roles (tested below); pg_regress's cluster runs at the default
-- log_min_error_statement = error
CREATE FUNCTION pg_temp.risks() RETURNS TABLE (setting text, value text, severity text)
LANGUAGE sql AS $$
	SELECT setting, value, severity
	FROM biocrypt.check_config() WHERE setting NOT IN ('core dumps', 'ssl', 'pg_read_all_stats')
$$;
SELECT * FROM pg_temp.risks();
-- every row has advice that names what to set
SELECT setting, length(advice) > 40 AS has_advice FROM biocrypt.check_config()
WHERE setting NOT IN ('core dumps', 'ssl', 'pg_read_all_stats');

--
-- failing statements: the STATEMENT: line
--
SET log_min_error_statement = panic;
SELECT * FROM pg_temp.risks();
SET log_min_error_statement = log;
SELECT * FROM pg_temp.risks();
SET log_min_error_statement = fatal;
SELECT * FROM pg_temp.risks();
SET log_min_error_statement = warning;
SELECT * FROM pg_temp.risks();
-- parameters of failing statements: only while their text is logged
SET log_parameter_max_length_on_error = 64;
SELECT * FROM pg_temp.risks();
SET log_min_error_statement = panic;
SELECT * FROM pg_temp.risks();
RESET log_parameter_max_length_on_error;
-- the statement settings below, on their own
SET log_min_error_statement = panic;

--
-- statements that succeed
--
SET log_statement = 'ddl';
SELECT * FROM pg_temp.risks();
SET log_statement = 'mod';
SELECT * FROM pg_temp.risks();
SET log_statement = 'all';
SELECT * FROM pg_temp.risks();
-- with their parameters (the default, -1, logs them in full)
SET log_parameter_max_length = 0;
SELECT * FROM pg_temp.risks();
RESET log_parameter_max_length;
RESET log_statement;
SET log_min_duration_statement = '250ms';
SELECT * FROM pg_temp.risks();
SET log_min_duration_statement = 0;
SELECT * FROM pg_temp.risks();
RESET log_min_duration_statement;
SET log_min_duration_sample = 100;
SELECT * FROM pg_temp.risks();
SET log_statement_sample_rate = 0;
SELECT * FROM pg_temp.risks();
RESET log_min_duration_sample;
RESET log_statement_sample_rate;
SET log_transaction_sample_rate = 0.01;
SELECT * FROM pg_temp.risks();
RESET log_transaction_sample_rate;

--
-- parse and plan trees
--
SET debug_print_parse = on;
SET debug_print_plan = on;
SELECT * FROM pg_temp.risks();
RESET debug_print_parse;
RESET debug_print_plan;
SELECT * FROM pg_temp.risks();
RESET log_min_error_statement;

--
-- modules: a library in a preload list counts as loaded (the next session
-- loads it), and its settings are read as the session has them, here as
-- placeholders, since none of these is loaded in this session
--
SET session_preload_libraries = 'auto_explain';
SELECT * FROM pg_temp.risks();
SET auto_explain.log_min_duration = '1s';
SELECT * FROM pg_temp.risks();
SET auto_explain.log_verbose = on;
SELECT * FROM pg_temp.risks();
RESET auto_explain.log_min_duration;
RESET auto_explain.log_verbose;
-- a path and a suffix, in another list
RESET session_preload_libraries;
SET local_preload_libraries = '$libdir/auto_explain.so';
SELECT * FROM pg_temp.risks();
RESET local_preload_libraries;
SET session_preload_libraries = 'pg_stat_statements';
SELECT * FROM pg_temp.risks();
SET pg_stat_statements.track_utility = off;
SELECT * FROM pg_temp.risks();
SET pg_stat_statements.track_utility = on;
SET pg_stat_statements.track = 'none';
SELECT * FROM pg_temp.risks();
RESET pg_stat_statements.track;
RESET pg_stat_statements.track_utility;
-- pgaudit: the classes that log statement text, with pgaudit.log's "-"
SET session_preload_libraries = 'pgaudit';
SELECT * FROM pg_temp.risks();
SET pgaudit.log = 'read, write';
SELECT * FROM pg_temp.risks();
SET pgaudit.log = 'all, -read, -write, -function, -ddl, -misc';
SELECT * FROM pg_temp.risks();
SET pgaudit.log = 'misc';
SELECT * FROM pg_temp.risks();
SET pgaudit.log_statement = off;
SELECT * FROM pg_temp.risks();
RESET pgaudit.log_statement;
SET pgaudit.log = 'role';
SET pgaudit.log_parameter = on;
SELECT * FROM pg_temp.risks();
SET pgaudit.role = 'regress_cc_nobody';
SELECT * FROM pg_temp.risks();
RESET pgaudit.role;
RESET pgaudit.log_parameter;
RESET pgaudit.log;
RESET session_preload_libraries;
SELECT * FROM pg_temp.risks();

--
-- pg_read_all_stats: members that are not superusers see running statements
--
CREATE ROLE regress_cc_monitor NOLOGIN;
CREATE ROLE regress_cc_nested NOLOGIN;
SELECT setting, value, severity FROM biocrypt.check_config() WHERE setting = 'pg_read_all_stats';
GRANT pg_monitor TO regress_cc_monitor;
GRANT regress_cc_monitor TO regress_cc_nested;
SELECT setting, value, severity FROM biocrypt.check_config() WHERE setting = 'pg_read_all_stats';
SET track_activities = off;
SELECT setting, value, severity FROM biocrypt.check_config() WHERE setting = 'pg_read_all_stats';
RESET track_activities;
REVOKE pg_monitor FROM regress_cc_monitor;
SELECT setting, value, severity FROM biocrypt.check_config() WHERE setting = 'pg_read_all_stats';

--
-- core dumps and TLS: a row exactly when the server's limit and
-- listen_addresses say so (these depend on the machine)
--
SELECT count(*) FILTER (WHERE setting = 'core dumps') AS core_rows,
	count(*) FILTER (WHERE setting = 'core dumps' AND severity = 'warning'
		AND value LIKE 'RLIMIT\_CORE %') AS core_rows_well_formed
FROM biocrypt.check_config() \gset
SELECT :core_rows IN (0, 1) AS at_most_one_core_row, :core_rows = :core_rows_well_formed AS well_formed;
SELECT count(*) AS ssl_rows FROM biocrypt.check_config() WHERE setting = 'ssl';

--
-- who may call it: biocrypt_admin and biocrypt_auditor
--
SELECT has_function_privilege('public', 'biocrypt.check_config()', 'EXECUTE') AS public,
	has_function_privilege('biocrypt_enroller', 'biocrypt.check_config()', 'EXECUTE') AS enroller,
	has_function_privilege('biocrypt_matcher', 'biocrypt.check_config()', 'EXECUTE') AS matcher,
	has_function_privilege('biocrypt_auditor', 'biocrypt.check_config()', 'EXECUTE') AS auditor,
	has_function_privilege('biocrypt_admin', 'biocrypt.check_config()', 'EXECUTE') AS admin;
CREATE ROLE regress_cc_plain NOLOGIN;
CREATE ROLE regress_cc_matcher NOLOGIN IN ROLE biocrypt_matcher;
CREATE ROLE regress_cc_auditor NOLOGIN IN ROLE biocrypt_auditor;
SET ROLE regress_cc_plain;
SELECT pg_temp.err('SELECT * FROM biocrypt.check_config()') AS plain_role;
RESET ROLE;
-- a role with the schema but not the function
SET ROLE regress_cc_matcher;
SELECT pg_temp.err('SELECT * FROM biocrypt.check_config()') AS matcher;
RESET ROLE;
-- an auditor sees the same rows as a superuser
SET ROLE regress_cc_auditor;
SELECT setting, severity FROM biocrypt.check_config()
WHERE setting NOT IN ('core dumps', 'ssl', 'pg_read_all_stats');
RESET ROLE;
DROP ROLE regress_cc_plain, regress_cc_matcher, regress_cc_auditor, regress_cc_monitor, regress_cc_nested;
