/*-------------------------------------------------------------------------
 *
 * auditentries.c
 *		The list an audit event carries in its matches column.
 *
 * One entry per template an access names: a match (verify, identify), a
 * subject revealed, a template sealed (protect, retain) with the purposes,
 * expiry and data key sealed into its header.  The list is JSON text built
 * as the statement runs, every value through jsonenc.c, in
 * AuditPendingMemory() since the event outlives the executor that fills it.
 * Past AUDIT_MAX_MATCHES_BYTES entries are only counted, and the list ends
 * with {"omitted": n}: a statement that matches millions of rows must not
 * make a row jsonb cannot hold.
 *
 * A template that a column policy seals again (its labels were defaults)
 * replaces its enrolment's entry, found by nonce among the last
 * RECENT_ENTRIES, so that the entry says what is stored.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/datetime.h"
#include "utils/memutils.h"

#include "audit/audit_internal.h"
#include "core/core.h"
#include "crypto/keys.h"
#include "template/template.h"

void
EntriesInit(AuditEntries *e)
{
	MemoryContext old = MemoryContextSwitchTo(AuditPendingMemory());

	memset(e, 0, sizeof(AuditEntries));
	initStringInfo(&e->text);
	MemoryContextSwitchTo(old);
}

void
EntriesFree(AuditEntries *e)
{
	pfree(e->text.data);
}

/* The list as a JSON array. */
char *
EntriesJson(const AuditEntries *e)
{
	if (e->omitted > 0)
		return psprintf("[%s%s{\"omitted\": " INT64_FORMAT "}]", e->text.data,
						e->n > 0 ? ", " : "", e->omitted);
	return psprintf("[%s]", e->text.data);
}

/*
 * Append from's entries to into's (a failed subtransaction's event folded
 * into its statement's), or only count them past the limit.
 */
void
EntriesAppend(AuditEntries *into, const AuditEntries *from)
{
	MemoryContext old;

	into->omitted += from->omitted;
	if (from->n == 0)
		return;
	if (into->text.len + from->text.len + 2 > AUDIT_MAX_MATCHES_BYTES)
	{
		into->omitted += from->n;
		return;
	}
	old = MemoryContextSwitchTo(AuditPendingMemory());
	if (into->n > 0)
		appendStringInfoString(&into->text, ", ");
	appendStringInfoString(&into->text, from->text.data);
	into->n += from->n;
	MemoryContextSwitchTo(old);
}

/*
 * Start an entry: false, and the entry only counted, once the list has
 * reached its limit.  key (a template's nonce, or NULL) finds the entry
 * again.  The caller appends the members after "subject" and closes the
 * entry with EndEntry, in AuditPendingMemory().
 */
static bool
BeginEntry(AuditEntries *e, const char *subject, const uint8 *key)
{
	int			r = e->n % RECENT_ENTRIES;

	if (e->text.len >= AUDIT_MAX_MATCHES_BYTES)
	{
		e->omitted++;
		return false;
	}
	if (e->n > 0)
		appendStringInfoString(&e->text, ", ");
	memset(e->recent[r].key, 0, SEALED_KEY_BYTES);
	if (key != NULL)
		memcpy(e->recent[r].key, key, SEALED_KEY_BYTES);
	e->recent[r].off = e->text.len;
	appendStringInfoString(&e->text, "{\"subject\": ");
	AuditJsonString(&e->text, subject);
	return true;
}

static void
EndEntry(AuditEntries *e)
{
	appendStringInfoChar(&e->text, '}');
	e->n++;
}

/* Add a match: {"subject", "distance"}. */
void
EntriesAddMatch(AuditEntries *e, const char *subject, double distance)
{
	MemoryContext old = MemoryContextSwitchTo(AuditPendingMemory());

	if (BeginEntry(e, subject, NULL))
	{
		appendStringInfoString(&e->text, ", \"distance\": ");
		AuditJsonNumber(&e->text, distance);
		EndEntry(e);
	}
	MemoryContextSwitchTo(old);
}

/* Add a subject: {"subject"}. */
void
EntriesAddSubject(AuditEntries *e, const char *subject)
{
	MemoryContext old = MemoryContextSwitchTo(AuditPendingMemory());

	if (BeginEntry(e, subject, NULL))
		EndEntry(e);
	MemoryContextSwitchTo(old);
}

/* Add a refusal: {"subject", "refused"}. */
void
EntriesAddRefusal(AuditEntries *e, const char *subject, const char *reason)
{
	MemoryContext old = MemoryContextSwitchTo(AuditPendingMemory());

	if (BeginEntry(e, subject, NULL))
	{
		appendStringInfoString(&e->text, ", \"refused\": ");
		AuditJsonString(&e->text, reason);
		EndEntry(e);
	}
	MemoryContextSwitchTo(old);
}

/* A timestamp as JSON: ISO 8601 in UTC, whatever the session's settings. */
static void
AppendJsonTimestamp(StringInfo buf, TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
	{
		AuditJsonString(buf, TIMESTAMP_IS_NOBEGIN(t) ? "-infinity" : "infinity");
		return;
	}
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
					 tm.tm_sec, (int) fsec);
}

/* The key of a sealed template's entry: the start of its nonce. */
static void
SealedKey(bytea *tpl, const EnvelopeHeader *hdr, uint8 *key)
{
	memset(key, 0, SEALED_KEY_BYTES);
	memcpy(key, (const uint8 *) VARDATA_ANY(tpl) + hdr->header_len,
		   Min(hdr->nonce_len, SEALED_KEY_BYTES));
}

/*
 * The members after "subject" of a sealed template's entry: purposes,
 * expiry and data key, so that the key's destruction (a destroy row) can
 * be traced to the templates it made unreadable.
 */
static void
AppendSealedLabels(StringInfo buf, const EnvelopeHeader *hdr)
{
	appendStringInfoString(buf, ", \"purposes\": [");
	for (int i = 0; i < hdr->npurposes; i++)
	{
		char	   *purpose = pnstrdup(hdr->purpose[i], hdr->purpose_len[i]);

		if (i > 0)
			appendStringInfoString(buf, ", ");
		AuditJsonString(buf, purpose);
		pfree(purpose);
	}
	appendStringInfoString(buf, "], \"expires_at\": ");
	AppendJsonTimestamp(buf, (TimestampTz) hdr->expires);
	appendStringInfo(buf, ", \"key_id\": %u", hdr->key_id);
}

/* Add a template sealed (protect) or sealed again (retain). */
void
EntriesAddSealed(AuditEntries *e, bytea *tpl, const EnvelopeHeader *hdr)
{
	uint8		key[SEALED_KEY_BYTES];
	char	   *subject = SubjectToServer(hdr);
	MemoryContext old = MemoryContextSwitchTo(AuditPendingMemory());

	SealedKey(tpl, hdr, key);
	if (BeginEntry(e, subject, key))
	{
		AppendSealedLabels(&e->text, hdr);
		EndEntry(e);
	}
	MemoryContextSwitchTo(old);
}

/* Put text in place of bytes [start, end) of the list; later entries move. */
static void
Splice(AuditEntries *e, int64 entry, int start, int end, const StringInfo text)
{
	int			delta = text->len - (end - start);

	enlargeStringInfo(&e->text, Max(delta, 0));
	memmove(e->text.data + start + text->len, e->text.data + end, e->text.len - end + 1);
	memcpy(e->text.data + start, text->data, text->len);
	e->text.len += delta;
	for (int64 m = entry + 1; m < e->n; m++)
		e->recent[m % RECENT_ENTRIES].off += delta;
}

/*
 * A column policy sealed old_tpl again with its own defaults as new_tpl:
 * the enrolment's entry, if still among the last ones, now says what is
 * stored.  Otherwise the new labels are added as an entry of their own.
 */
void
EntriesReplaceSealed(AuditEntries *e, bytea *old_tpl, const EnvelopeHeader *old_hdr,
					 bytea *new_tpl, const EnvelopeHeader *new_hdr)
{
	uint8		key[SEALED_KEY_BYTES];
	char	   *subject = SubjectToServer(new_hdr);

	SealedKey(old_tpl, old_hdr, key);
	for (int64 n = e->n - 1; n >= 0 && n >= e->n - RECENT_ENTRIES; n--)
	{
		int			r = n % RECENT_ENTRIES;
		int			end = n == e->n - 1 ? e->text.len :
			e->recent[(n + 1) % RECENT_ENTRIES].off - 2;
		StringInfoData entry;
		MemoryContext old;

		if (memcmp(e->recent[r].key, key, SEALED_KEY_BYTES) != 0)
			continue;
		old = MemoryContextSwitchTo(AuditPendingMemory());
		initStringInfo(&entry);
		appendStringInfoString(&entry, "{\"subject\": ");
		AuditJsonString(&entry, subject);
		AppendSealedLabels(&entry, new_hdr);
		appendStringInfoChar(&entry, '}');
		Splice(e, n, e->recent[r].off, end, &entry);
		SealedKey(new_tpl, new_hdr, e->recent[r].key);
		pfree(entry.data);
		MemoryContextSwitchTo(old);
		return;
	}
	EntriesAddSealed(e, new_tpl, new_hdr);
}

/*
 * The memory of pending events: they outlive the executor that fills them
 * (a cursor's, a statement's loose ones), so they live in a context of
 * their own under TopMemoryContext, where MemoryContextStats shows them.
 */
MemoryContext
AuditPendingMemory(void)
{
	static MemoryContext cxt = NULL;

	if (cxt == NULL)
		cxt = AllocSetContextCreate(TopMemoryContext, "biocrypt audit events",
									ALLOCSET_DEFAULT_SIZES);
	return cxt;
}
