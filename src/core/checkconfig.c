/*-------------------------------------------------------------------------
 *
 * checkconfig.c
 *		The leak guard: which settings and modules of this server can put a
 *		plaintext biometric (an enrolment vector or a probe in SQL text or in
 *		a bound parameter) into the server log, a file or another role's
 *		view; biocrypt.check_config() lists them, and the postmaster warns
 *		at start of every severe one (docs/security.md).
 *
 * Settings are read by name with GetConfigOption, so that the same code
 * runs in the postmaster (before any backend) and in a backend, and sees
 * the settings of modules that are preloaded after biocrypt, or only named
 * in postgresql.conf (placeholders, parsed here with their units).  The
 * checks run in one fixed order, which is the order of the rows.  Only the
 * check of role memberships needs the catalogs; it runs inside a
 * transaction only.  The WARNINGs at start come from the postmaster; at a
 * reload, the audit launcher warns of what became severe since.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "access/xact.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "core/core.h"

#define RISK_SEVERE	"severe"
#define RISK_WARNING "warning"
#define RISK_INFO	"info"

/* pgaudit's statement classes, as bits of a set */
#define PGAUDIT_READ		0x01
#define PGAUDIT_WRITE		0x02
#define PGAUDIT_FUNCTION	0x04
#define PGAUDIT_ROLE		0x08
#define PGAUDIT_DDL			0x10
#define PGAUDIT_MISC		0x20
#define PGAUDIT_MISC_SET	0x40
#define PGAUDIT_ALL			0x7f
/* the classes whose statements can carry a vector */
#define PGAUDIT_LEAKY (PGAUDIT_READ | PGAUDIT_WRITE | PGAUDIT_FUNCTION | \
					   PGAUDIT_DDL | PGAUDIT_MISC)

PG_FUNCTION_INFO_V1(biocrypt_check_config);

/* ---------------------------------------------------------------------
 * Reading settings
 * --------------------------------------------------------------------- */

/* A setting's text, NULL when neither defined nor named in the config. */
static const char *
Setting(const char *name)
{
	/* not restricted: the SQL function is granted to two roles only */
	return GetConfigOption(name, true, false);
}

/* An integer setting in its base unit (a placeholder may carry a unit). */
static int
SettingInt(const char *name, int unit, int dflt)
{
	const char *s = Setting(name);
	int			v;

	return s != NULL && parse_int(s, &v, unit, NULL) ? v : dflt;
}

/* A real setting, dflt when unset or unreadable. */
static double
SettingReal(const char *name, double dflt)
{
	const char *s = Setting(name);
	double		v;

	return s != NULL && parse_real(s, &v, 0, NULL) ? v : dflt;
}

/* A boolean setting, dflt when unset or unreadable. */
static bool
SettingBool(const char *name, bool dflt)
{
	const char *s = Setting(name);
	bool		v;

	return s != NULL && parse_bool(s, &v) ? v : dflt;
}

/* A setting as SHOW prints it, units included. */
static char *
SettingShow(const char *name)
{
	int			flags = GetConfigOptionFlags(name, true);
	const char *s;

	/* SHOW refuses some settings to roles without pg_read_all_settings */
	if ((flags & GUC_SUPERUSER_ONLY) == 0)
	{
		char	   *shown = GetConfigOptionByName(name, NULL, true);

		if (shown != NULL)
			return shown;
	}
	s = Setting(name);
	return pstrdup(s != NULL ? s : "");
}

/*
 * How much of a statement reaches the log with a message of its level, as
 * the enum log_min_error_statement: 0 for ERROR and below (every failing
 * statement), 1 for LOG, 2 for FATAL, 3 for PANIC.
 */
static int
ErrorStatementRank(const char *level)
{
	if (level == NULL)
		return 0;
	if (pg_strcasecmp(level, "log") == 0)
		return 1;
	if (pg_strcasecmp(level, "fatal") == 0)
		return 2;
	if (pg_strcasecmp(level, "panic") == 0)
		return 3;
	return 0;
}

/*
 * Which preload list names the library, or "LOAD" when it is loaded in
 * this process although no list names it; NULL when it is not loaded.
 */
static const char *
LoadedBy(const char *lib, const char *probe_setting)
{
	static const char *const lists[] = {
		"shared_preload_libraries", "session_preload_libraries",
		"local_preload_libraries"
	};
	int			flags;

	for (size_t i = 0; i < lengthof(lists); i++)
	{
		char	   *raw = pstrdup(GetConfigOption(lists[i], false, false));
		List	   *elems;
		ListCell   *lc;

		if (!SplitDirectoriesString(raw, ',', &elems))
			continue;
		foreach(lc, elems)
		{
			const char *path = lfirst(lc);
			const char *base = strrchr(path, '/');
			size_t		len;

			base = base != NULL ? base + 1 : path;
			len = strcspn(base, ".");
			if (strlen(lib) == len && strncmp(base, lib, len) == 0)
				return lists[i];
		}
	}
	flags = GetConfigOptionFlags(probe_setting, true);
	if (Setting(probe_setting) != NULL && (flags & GUC_CUSTOM_PLACEHOLDER) == 0)
		return "LOAD";
	return NULL;
}

/* ---------------------------------------------------------------------
 * The checks, in the order of the rows
 * --------------------------------------------------------------------- */

/* Append a row; value is the caller's palloc'd text. */
static void
Add(List **risks, const char *setting, char *value, const char *severity,
	const char *advice)
{
	ConfigRisk *r = palloc(sizeof(ConfigRisk));

	r->setting = setting;
	r->value = value;
	r->severity = severity;
	r->advice = advice;
	*risks = lappend(*risks, r);
}

/* Settings that log the text of statements that succeed. */
static void
CheckStatementLogging(List **risks)
{
	const char *ls = Setting("log_statement");
	bool		logged = false;

	if (ls != NULL && (pg_strcasecmp(ls, "all") == 0 || pg_strcasecmp(ls, "mod") == 0))
	{
		logged = true;
		Add(risks, "log_statement", SettingShow("log_statement"), RISK_SEVERE,
			"Every statement (mod: every INSERT, UPDATE and COPY FROM) is logged with its text, and an enrolment vector or probe in that text with it. Set log_statement = 'none' or 'ddl'.");
	}
	if (SettingInt("log_min_duration_statement", GUC_UNIT_MS, -1) >= 0)
	{
		logged = true;
		Add(risks, "log_min_duration_statement", SettingShow("log_min_duration_statement"), RISK_SEVERE,
			"Statements that run at least this long are logged with their text, vectors included. Set log_min_duration_statement = -1 (log_duration = on logs durations without text).");
	}
	if (SettingInt("log_min_duration_sample", GUC_UNIT_MS, -1) >= 0 &&
		SettingReal("log_statement_sample_rate", 1.0) > 0)
	{
		logged = true;
		Add(risks, "log_min_duration_sample", SettingShow("log_min_duration_sample"), RISK_SEVERE,
			"A sample of the statements that run this long is logged with their text, vectors included. Set log_min_duration_sample = -1 or log_statement_sample_rate = 0.");
	}
	if (SettingReal("log_transaction_sample_rate", 0) > 0)
	{
		logged = true;
		Add(risks, "log_transaction_sample_rate", SettingShow("log_transaction_sample_rate"), RISK_SEVERE,
			"Every statement of a sample of transactions is logged with its text, vectors included. Set log_transaction_sample_rate = 0.");
	}
	if (logged && SettingInt("log_parameter_max_length", GUC_UNIT_BYTE, -1) != 0)
		Add(risks, "log_parameter_max_length", SettingShow("log_parameter_max_length"), RISK_SEVERE,
			"The statements logged above are logged with their bound parameters, so even a vector sent as a parameter reaches the log. Set log_parameter_max_length = 0, and turn off the statement logging above.");
}

/* Settings that log the text of statements that fail. */
static void
CheckErrorLogging(List **risks)
{
	int			rank = ErrorStatementRank(Setting("log_min_error_statement"));

	if (rank == 0)
		Add(risks, "log_min_error_statement", SettingShow("log_min_error_statement"), RISK_SEVERE,
			"Any failing statement (a duplicate key, a division by zero next to a comparison) is logged on a STATEMENT: line with its text, vectors included. Set log_min_error_statement = panic, or have every client send sealed inputs (docs/security.md, \"Sealed inputs\"), whose text carries no plaintext.");
	else if (rank < 3)
		Add(risks, "log_min_error_statement", SettingShow("log_min_error_statement"), RISK_WARNING,
			"The text of a statement is still logged with a LOG (log_temp_files, log_lock_waits) or FATAL (a terminated backend) message raised while it runs. Set log_min_error_statement = panic, or have clients send sealed inputs.");
	if (rank == 0 &&
		SettingInt("log_parameter_max_length_on_error", GUC_UNIT_BYTE, 0) != 0)
		Add(risks, "log_parameter_max_length_on_error",
			SettingShow("log_parameter_max_length_on_error"), RISK_SEVERE,
			"A failing statement is logged with its bound parameters, so even a vector sent as a parameter reaches the log. Set log_parameter_max_length_on_error = 0 (any user may set it for a session: ALTER ROLE ... SET it to 0 as well).");
}

/* Parse and plan trees, with every constant, in the log. */
static void
CheckDebugPrint(List **risks)
{
	static const char *const names[] = {
		"debug_print_parse", "debug_print_rewritten", "debug_print_plan"
	};

	for (size_t i = 0; i < lengthof(names); i++)
		if (SettingBool(names[i], false))
			Add(risks, names[i], SettingShow(names[i]), RISK_SEVERE,
				"Every query tree is logged with its constants, vectors included. Set it to off (a user may set it for a session: ALTER ROLE ... SET it to off as well).");
}

/* auto_explain logs query text, constants in plans and bound parameters. */
static void
CheckAutoExplain(List **risks)
{
	const char *by = LoadedBy("auto_explain", "auto_explain.log_min_duration");

	if (by == NULL)
		return;
	if (SettingInt("auto_explain.log_min_duration", GUC_UNIT_MS, -1) < 0)
	{
		Add(risks, "auto_explain", psprintf("loaded (%s)", by), RISK_INFO,
			"auto_explain is loaded but logs nothing; a superuser can turn it on for a session with SET auto_explain.log_min_duration. Remove it from the preload list if it is not needed.");
		return;
	}
	Add(risks, "auto_explain.log_min_duration", SettingShow("auto_explain.log_min_duration"), RISK_SEVERE,
		"Plans are logged with the query text and with constants in Filter:, Sort Key: and Function Call: lines, including bound parameters that a custom plan folds in. Set auto_explain.log_min_duration = -1, or remove auto_explain from the preload list.");
	/* PostgreSQL 16 on: before, auto_explain logs no parameters */
	if (Setting("auto_explain.log_parameter_max_length") != NULL &&
		SettingInt("auto_explain.log_parameter_max_length", GUC_UNIT_BYTE, -1) != 0)
		Add(risks, "auto_explain.log_parameter_max_length",
			SettingShow("auto_explain.log_parameter_max_length"), RISK_SEVERE,
			"Logged plans carry the statement's bound parameters. Set auto_explain.log_parameter_max_length = 0.");
	if (SettingBool("auto_explain.log_verbose", false))
		Add(risks, "auto_explain.log_verbose", SettingShow("auto_explain.log_verbose"), RISK_WARNING,
			"Logged plans list every Output: expression, constants included. Set auto_explain.log_verbose = off.");
}

/* pg_stat_statements keeps utility statements' text as it was sent. */
static void
CheckStatStatements(List **risks)
{
	const char *track;

	if (LoadedBy("pg_stat_statements", "pg_stat_statements.max") == NULL)
		return;
	track = Setting("pg_stat_statements.track");
	if (track != NULL && pg_strcasecmp(track, "none") == 0)
		return;
	if (SettingBool("pg_stat_statements.track_utility", true))
		Add(risks, "pg_stat_statements.track_utility",
			/* its default, where the module is listed but not loaded here */
			Setting("pg_stat_statements.track_utility") != NULL ?
			SettingShow("pg_stat_statements.track_utility") : pstrdup("on"),
			RISK_WARNING,
			"pg_stat_statements replaces constants by $n in plain queries only: the text of COPY (...) TO, DECLARE CURSOR, EXPLAIN, CREATE TABLE AS and DO is kept verbatim, vectors included, in its query-text file on disk and in its view. Set pg_stat_statements.track_utility = off, or remove pg_stat_statements from shared_preload_libraries.");
}

/* The statement classes a pgaudit.log list selects. */
static int
PgauditClasses(const char *list)
{
	static const struct
	{
		const char *name;
		int			bits;
	}			classes[] = {
		{"read", PGAUDIT_READ}, {"write", PGAUDIT_WRITE},
		{"function", PGAUDIT_FUNCTION}, {"role", PGAUDIT_ROLE},
		{"ddl", PGAUDIT_DDL}, {"misc", PGAUDIT_MISC},
		{"misc_set", PGAUDIT_MISC_SET}, {"all", PGAUDIT_ALL}
	};
	char	   *raw = pstrdup(list != NULL ? list : "");
	List	   *elems;
	ListCell   *lc;
	int			set = 0;

	if (!SplitIdentifierString(raw, ',', &elems))
		return 0;
	foreach(lc, elems)
	{
		const char *item = lfirst(lc);
		bool		minus = item[0] == '-';

		for (size_t i = 0; i < lengthof(classes); i++)
			if (pg_strcasecmp(item + (minus ? 1 : 0), classes[i].name) == 0)
				set = minus ? (set & ~classes[i].bits) : (set | classes[i].bits);
	}
	return set;
}

/* pgaudit logs statements' text and, if asked, their parameters. */
static void
CheckPgaudit(List **risks)
{
	int			classes;
	const char *role;
	bool		audited;

	if (LoadedBy("pgaudit", "pgaudit.log") == NULL)
		return;
	classes = PgauditClasses(Setting("pgaudit.log"));
	role = Setting("pgaudit.role");
	audited = classes != 0 || (role != NULL && role[0] != '\0');
	if ((classes & PGAUDIT_LEAKY) != 0 && SettingBool("pgaudit.log_statement", true))
		Add(risks, "pgaudit.log", SettingShow("pgaudit.log"), RISK_SEVERE,
			"pgaudit logs the text of every statement of these classes (read, write, function, ddl, misc), vectors included. Keep pgaudit.log to role and misc_set on servers that compare templates, or set pgaudit.log_statement = off; biocrypt.audit_log records every access to templates.");
	if (role != NULL && role[0] != '\0' && SettingBool("pgaudit.log_statement", true))
		Add(risks, "pgaudit.role", SettingShow("pgaudit.role"), RISK_WARNING,
			"Object auditing logs the text of statements on the objects this role is granted, vectors included. Grant it nothing on tables that hold templates, or set pgaudit.log_statement = off.");
	if (audited && SettingBool("pgaudit.log_parameter", false))
		Add(risks, "pgaudit.log_parameter", SettingShow("pgaudit.log_parameter"), RISK_SEVERE,
			"Audited statements are logged with their bound parameters, so even a vector sent as a parameter reaches the log. Set pgaudit.log_parameter = off.");
}

/* The first line of the kernel's core_pattern, or NULL if unreadable. */
static char *
CorePattern(void)
{
	char		buf[256];
	int			fd = open("/proc/sys/kernel/core_pattern", O_RDONLY);
	ssize_t		n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return pstrdup(buf);
}

/*
 * Core dumps: libsodium's memory (keys, and decrypted templates in
 * secmem.c's buffers) is excluded (MADV_DONTDUMP), but probes, enrolment
 * vectors, revealed values and statement text in palloc'd memory are not.
 */
static void
CheckCoreDumps(List **risks)
{
	struct rlimit rl;
	char	   *limit;
	char	   *pattern;

	if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur == 0)
		return;
	limit = rl.rlim_cur == RLIM_INFINITY ? pstrdup("unlimited") :
		psprintf("%llu bytes", (unsigned long long) rl.rlim_cur);
	pattern = CorePattern();
	Add(risks, "core dumps",
		pattern != NULL ? psprintf("RLIMIT_CORE %s, core_pattern %s", limit, pattern) :
		psprintf("RLIMIT_CORE %s", limit),
		RISK_WARNING,
		"A crashing backend writes its memory to disk: probes, enrolment vectors and statement text in ordinary server memory (keys and decrypted templates live in libsodium's memory, which core files exclude). Start the server with a core size limit of 0 (ulimit -c 0; LimitCORE=0 in its systemd unit).");
}

/* Is every address in listen_addresses a loopback one? */
static bool
ListensOnLoopbackOnly(void)
{
	char	   *raw = pstrdup(GetConfigOption("listen_addresses", false, false));
	List	   *elems;
	ListCell   *lc;

	if (!SplitGUCList(raw, ',', &elems))
		return false;
	foreach(lc, elems)
	{
		const char *a = lfirst(lc);

		if (strcmp(a, "localhost") != 0 && strcmp(a, "::1") != 0 &&
			strncmp(a, "127.", 4) != 0)
			return false;
	}
	return true;
}

/* Vectors cross the network in clear text. */
static void
CheckTls(List **risks)
{
	if (SettingBool("ssl", false) || ListensOnLoopbackOnly())
		return;
	Add(risks, "ssl", psprintf("off (listen_addresses '%s')",
							   GetConfigOption("listen_addresses", false, false)),
		RISK_WARNING,
		"Clients reach this server over the network without TLS, so every vector and probe crosses it in clear text. Set ssl = on and require hostssl in pg_hba.conf, or listen on loopback and Unix sockets only.");
}

/*
 * Roles other than superusers that may read every session's running query
 * (pg_stat_activity) and pg_stat_statements' texts.
 */
static void
CheckStatsReaders(List **risks)
{
	MemoryContext caller = CurrentMemoryContext;
	int			ret;
	char	   *roles = NULL;

	if (!IsTransactionState() || !SettingBool("track_activities", true))
		return;
	SPI_connect();
	ret = SPI_execute("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(rolname), ', '"
					  " ORDER BY rolname) FROM pg_catalog.pg_roles"
					  " WHERE NOT rolsuper AND oid >= 16384"
					  " AND pg_catalog.pg_has_role(oid, 'pg_read_all_stats', 'MEMBER')",
					  true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			roles = MemoryContextStrdup(caller, v);
	}
	SPI_finish();
	if (roles != NULL)
		Add(risks, "pg_read_all_stats", roles, RISK_WARNING,
			"These roles (members of pg_monitor or pg_read_all_stats) see the text of every statement in pg_stat_activity, up to track_activity_query_size bytes (one that calls biocrypt withholds it from its first call on, not while it is parsed and planned), and every query text pg_stat_statements keeps, vectors included. Revoke the membership from roles that need not read them, or have clients send sealed inputs.");
}

/*
 * Every risk that holds on this server, in a fixed order; catalog checks
 * only inside a transaction.
 */
List *
ConfigRisks(void)
{
	List	   *risks = NIL;

	CheckStatementLogging(&risks);
	CheckErrorLogging(&risks);
	CheckDebugPrint(&risks);
	CheckAutoExplain(&risks);
	CheckStatStatements(&risks);
	CheckPgaudit(&risks);
	CheckCoreDumps(&risks);
	CheckTls(&risks);
	CheckStatsReaders(&risks);
	return risks;
}

/*
 * The severe risks warned of last, as "setting=value" strings in
 * TopMemoryContext: set by the postmaster at start and inherited by the
 * audit launcher, which warns at a reload only of what is new since.
 */
static List *warned = NIL;

/* Is this "setting=value" in the list? */
static bool
WarnedOf(List *list, const char *key)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp(lfirst(lc), key) == 0)
			return true;
	return false;
}

/*
 * A WARNING in the server log for every severe risk; with only_new, for
 * those not warned of at the last call (a reload that changes nothing of
 * the kind stays quiet).
 */
void
ConfigWarnSevere(bool only_new)
{
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext,
											  "biocrypt check_config",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(tmp);
	List	   *severe = NIL;
	ListCell   *lc;

	foreach(lc, ConfigRisks())
	{
		ConfigRisk *r = lfirst(lc);
		char	   *key;

		if (strcmp(r->severity, RISK_SEVERE) != 0)
			continue;
		key = psprintf("%s=%s", r->setting, r->value);
		severe = lappend(severe, key);
		if (only_new && WarnedOf(warned, key))
			continue;
		ereport(WARNING,
				(errmsg("biocrypt: %s = '%s' can put plaintext biometrics in the server log",
						r->setting, r->value),
				 errhint("%s", r->advice),
				 errhidestmt(true), errhidecontext(true)));
	}
	MemoryContextSwitchTo(TopMemoryContext);
	list_free_deep(warned);
	warned = NIL;
	foreach(lc, severe)
		warned = lappend(warned, pstrdup(lfirst(lc)));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
}

/* biocrypt.check_config(): one row per risk. */
Datum
biocrypt_check_config(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, ConfigRisks())
	{
		ConfigRisk *r = lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(r->setting);
		values[1] = CStringGetTextDatum(r->value);
		values[2] = CStringGetTextDatum(r->severity);
		values[3] = CStringGetTextDatum(r->advice);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
