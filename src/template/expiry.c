/*-------------------------------------------------------------------------
 *
 * expiry.c
 *		When a template expires: the retention settings, the expiry a new
 *		template gets, and the test every access makes before decrypting.
 *
 * A template is expired when now >= its expiry (a header label, so the
 * AEAD tag covers it).  Purging, holds and erasure are lifecycle/'s work;
 * this file only computes and tests instants.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "template/template.h"

#define RETENTION_MAX_YEARS 100

static char *biocrypt_default_retention = NULL;
static char *biocrypt_max_retention = NULL;
static Interval *default_retention = NULL;
static Interval *max_retention = NULL;

/* GUC check hook: a positive interval, kept parsed in *extra. */
static bool
CheckRetentionInterval(char **newval, void **extra, GucSource source)
{
	char		workbuf[256];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_itm_in itm;
	Interval	span;
	Interval   *parsed;

	if (*newval == NULL ||
		ParseDateTime(*newval, workbuf, sizeof(workbuf), field, ftype,
					  MAXDATEFIELDS, &nf) != 0 ||
		DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE, &dtype, &itm) != 0 ||
		dtype != DTK_DELTA || itmin2interval(&itm, &span) != 0)
	{
		GUC_check_errdetail("The value must be an interval such as \"1 year\".");
		return false;
	}
	if (span.month < 0 || span.day < 0 || span.time < 0 ||
		(span.month == 0 && span.day == 0 && span.time == 0))
	{
		GUC_check_errdetail("The interval must be positive in every field.");
		return false;
	}
	/* a bound keeps now + span far from the end of the timestamp range */
	if (span.month > 12 * RETENTION_MAX_YEARS ||
		span.day > 366 * RETENTION_MAX_YEARS ||
		span.time > INT64CONST(366) * RETENTION_MAX_YEARS * USECS_PER_DAY)
	{
		GUC_check_errdetail("The interval must be at most %d years in every field.",
							RETENTION_MAX_YEARS);
		return false;
	}
	parsed = malloc(sizeof(Interval));
	if (parsed == NULL)
		return false;
	*parsed = span;
	*extra = parsed;
	return true;
}

/* Assign hooks: point at the interval the check hook parsed. */
static void
AssignDefaultRetention(const char *newval, void *extra)
{
	default_retention = (Interval *) extra;
}

static void
AssignMaxRetention(const char *newval, void *extra)
{
	max_retention = (Interval *) extra;
}

/* t + span, as timestamptz arithmetic in the session time zone. */
TimestampTz
RetentionAdd(TimestampTz t, const Interval *span)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
												   TimestampTzGetDatum(t),
												   IntervalPGetDatum(span)));
}

/* biocrypt.max_retention as set, for messages. */
const char *
RetentionMaxText(void)
{
	return biocrypt_max_retention;
}

/* An expiry for a template created at created, capped at max_retention. */
TimestampTz
RetentionCapExpiry(TimestampTz created, TimestampTz expires)
{
	return Min(expires, RetentionAdd(created, max_retention));
}

/*
 * The expiry for a template sealed at now: requested if given (in the
 * future, within biocrypt.max_retention), else the default retention,
 * capped at the maximum.
 */
TimestampTz
RetentionResolveExpiry(bool isnull, TimestampTz requested, TimestampTz now)
{
	TimestampTz limit = RetentionAdd(now, max_retention);

	if (isnull)
	{
		TimestampTz expires = RetentionAdd(now, default_retention);

		return Min(expires, limit);
	}
	if (requested <= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: retain_until must be in the future"),
				 errhidestmt(true), errhidecontext(true)));
	if (requested > limit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: retain_until is beyond biocrypt.max_retention"),
				 errdetail("No template may be kept longer than %s from now.",
						   biocrypt_max_retention),
				 errhidestmt(true), errhidecontext(true)));
	return requested;
}

/* Has this template's retention run out?  Uses the current clock. */
bool
RetentionIsExpired(const EnvelopeHeader *hdr)
{
	return RetentionExpiredAt(hdr, GetCurrentTimestamp());
}

/* Had this template's retention run out at time now? */
bool
RetentionExpiredAt(const EnvelopeHeader *hdr, TimestampTz now)
{
	return now >= hdr->expires;
}

/* Refuse to touch, re-seal or reveal an expired template. */
void
RetentionRefuseExpired(const EnvelopeHeader *hdr)
{
	if (RetentionIsExpired(hdr))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("biocrypt: template has expired"),
				 errdetail("Expired templates are never decrypted."),
				 errhidestmt(true), errhidecontext(true)));
}

/* Define the retention settings. */
void
ExpiryInit(void)
{
	DefineCustomStringVariable("biocrypt.default_retention",
							   "Retention of a template sealed without retain_until.",
							   NULL, &biocrypt_default_retention, "1 year",
							   PGC_SUSET, 0,
							   CheckRetentionInterval, AssignDefaultRetention, NULL);
	DefineCustomStringVariable("biocrypt.max_retention",
							   "Longest retention any template may have.",
							   NULL, &biocrypt_max_retention, "3 years",
							   PGC_SUSET, 0,
							   CheckRetentionInterval, AssignMaxRetention, NULL);
}
