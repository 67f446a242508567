/*-------------------------------------------------------------------------
 *
 * purposes.c
 *		A template's purpose labels, and whether the session may use it.
 *
 * Purposes are header labels, sorted and de-duplicated when sealed, so the
 * AEAD tag covers them.  A role may compare a template for the session's
 * purpose (biocrypt.purpose) only if the template was enrolled for it and
 * the role holds a grant of it (biocrypt.purpose_grants).  This file gives
 * the verdict; the access that asked records and raises a refusal.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "template/template.h"

/* The last grant lookup, valid within one transaction. */
static LocalTransactionId cached_lxid = InvalidLocalTransactionId;
static Oid	cached_user = InvalidOid;
static char cached_purpose[ENVELOPE_MAX_PURPOSE_LEN + 1];
static bool cached_granted = false;

/* qsort comparator for purpose names (C strings). */
static int
PurposeCmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Validate, sort and de-duplicate purposes into the header. */
void
SetPurposes(EnvelopeHeader *hdr, char **names, int n)
{
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: at least one purpose is required"),
				 errhidestmt(true), errhidecontext(true)));
	for (int i = 0; i < n; i++)
		if (!EnvelopePurposeValid(names[i], strlen(names[i])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("biocrypt: invalid purpose name"),
					 errdetail("A purpose is 1 to %d characters of a-z, 0-9, \"_\", \".\" or \"-\".",
							   ENVELOPE_MAX_PURPOSE_LEN),
					 errhidestmt(true), errhidecontext(true)));
	qsort(names, n, sizeof(char *), PurposeCmp);
	hdr->npurposes = 0;
	for (int i = 0; i < n; i++)
	{
		if (i > 0 && strcmp(names[i - 1], names[i]) == 0)
			continue;
		if (hdr->npurposes == ENVELOPE_MAX_PURPOSES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("biocrypt: a template cannot have more than %d purposes", ENVELOPE_MAX_PURPOSES),
					 errhidestmt(true), errhidecontext(true)));
		hdr->purpose[hdr->npurposes] = names[i];
		hdr->purpose_len[hdr->npurposes] = (uint8) strlen(names[i]);
		hdr->npurposes++;
	}
}

/* Purposes from a text[] argument. */
void
PurposesFromArray(EnvelopeHeader *hdr, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	  **names;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: purposes must be a one-dimensional array"),
				 errhidestmt(true), errhidecontext(true)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	names = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("biocrypt: purposes must not contain NULLs"),
					 errhidestmt(true), errhidecontext(true)));
		names[i] = TextDatumGetCString(elems[i]);
	}
	SetPurposes(hdr, names, n);
}

/* Does a role with the current user's privileges hold a grant of purpose? */
static bool
LookUpGrant(Oid userid, const char *purpose)
{
	BiocryptSpi spi;
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {CStringGetTextDatum(purpose), ObjectIdGetDatum(userid)};
	bool		isnull;
	bool		granted;

	BiocryptSpiBegin(&spi);
	if (SPI_execute_with_args("SELECT EXISTS (SELECT FROM biocrypt.purpose_grants g "
							  "WHERE g.purpose = $1 "
							  "AND pg_catalog.pg_has_role($2, g.role, 'USAGE'))",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		ereport(ERROR,
				(errmsg_internal("biocrypt: could not read biocrypt.purpose_grants"),
				 errhidestmt(true), errhidecontext(true)));
	granted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 1, &isnull));
	BiocryptSpiEnd(&spi);
	return granted;
}

/* Does userid hold purpose?  Cached for the transaction. */
static bool
PurposeGranted(Oid userid, const char *purpose)
{
	if (superuser_arg(userid))
		return true;
	if (cached_lxid != MyProc->lxid || cached_user != userid ||
		strcmp(cached_purpose, purpose) != 0)
	{
		cached_granted = LookUpGrant(userid, purpose);
		cached_lxid = MyProc->lxid;
		cached_user = userid;
		strlcpy(cached_purpose, purpose, sizeof(cached_purpose));
	}
	return cached_granted;
}

/* Was the template enrolled for purpose? */
static bool
HeaderAllows(const EnvelopeHeader *hdr, const char *purpose)
{
	size_t		len = strlen(purpose);

	for (int i = 0; i < hdr->npurposes; i++)
		if (hdr->purpose_len[i] == len && memcmp(hdr->purpose[i], purpose, len) == 0)
			return true;
	return false;
}

/* Grants changed in this transaction: look them up again. */
void
PurposeGrantsChanged(void)
{
	cached_lxid = InvalidLocalTransactionId;
}

/*
 * May the current role use this template for the session's purpose now?
 * The purpose judged is returned in *purpose.  What concerns the session
 * (a purpose declared and granted) is judged before what concerns the
 * template: a search of many skips only templates of other purposes.
 */
PurposeVerdict
PurposeJudge(const EnvelopeHeader *hdr, const char **purpose)
{
	*purpose = PurposeCurrent();
	if ((*purpose)[0] == '\0')
		return PURPOSE_UNDECLARED;
	if (!PurposeGranted(GetUserId(), *purpose))
		return PURPOSE_NOT_GRANTED;
	if (!HeaderAllows(hdr, *purpose))
		return PURPOSE_NOT_ENROLLED;
	return PURPOSE_ALLOWED;
}
