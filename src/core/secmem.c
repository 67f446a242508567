/*-------------------------------------------------------------------------
 *
 * secmem.c
 *		Locked scratch buffers for decrypted templates and derived plaintext.
 *
 * Every plaintext biocrypt handles lives in one of a few per-backend buffers
 * from sodium_malloc: guard pages, mlock (so it is never swapped) and
 * excluded from core dumps.  A buffer is zeroed when released, and a
 * transaction callback zeroes any buffer still held when a transaction or
 * subtransaction aborts, so an ERROR thrown between acquire and release
 * still leaves no plaintext behind (a subtransaction abort zeroes only the
 * buffers taken inside it).  proc_exit frees (and so zeroes) them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "storage/ipc.h"

#include "core/core.h"

#define SECMEM_SLOTS	4

static SecBuf secmem_slots[SECMEM_SLOTS];
static bool secmem_registered = false;

/* Zero and mark free one slot. */
static void
SecmemWipe(SecBuf *buf)
{
	if (buf->data != NULL && buf->len > 0)
		sodium_memzero(buf->data, buf->len);
	buf->len = 0;
	buf->in_use = false;
}

/* On abort, zero every buffer still held: the holder will never release. */
static void
SecmemXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		for (int i = 0; i < SECMEM_SLOTS; i++)
			SecmemWipe(&secmem_slots[i]);
}

/*
 * On a subtransaction abort (exception block, savepoint), zero the buffers
 * taken inside it.  Buffers of outer levels stay: an identify() scan still
 * fills its batch after a caught error in a function its query calls.
 */
static void
SecmemSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (event == SUBXACT_EVENT_ABORT_SUB)
		for (int i = 0; i < SECMEM_SLOTS; i++)
			if (secmem_slots[i].in_use && secmem_slots[i].nest_level >= level)
				SecmemWipe(&secmem_slots[i]);
}

/* Free (sodium_free zeroes) every buffer when the backend exits. */
static void
SecmemAtExit(int code, Datum arg)
{
	for (int i = 0; i < SECMEM_SLOTS; i++)
	{
		if (secmem_slots[i].data != NULL)
			sodium_free(secmem_slots[i].data);
		secmem_slots[i].data = NULL;
		secmem_slots[i].cap = 0;
		secmem_slots[i].len = 0;
		secmem_slots[i].in_use = false;
	}
}

/*
 * Hand out a locked buffer of at least len bytes; the caller must
 * SecmemRelease it (or let an abort do so).
 */
SecBuf *
SecmemAcquire(size_t len)
{
	if (!secmem_registered)
	{
		RegisterXactCallback(SecmemXactCallback, NULL);
		RegisterSubXactCallback(SecmemSubXactCallback, NULL);
		on_proc_exit(SecmemAtExit, (Datum) 0);
		secmem_registered = true;
	}
	for (int i = 0; i < SECMEM_SLOTS; i++)
	{
		SecBuf	   *buf = &secmem_slots[i];

		if (buf->in_use)
			continue;
		if (buf->cap < len)
		{
			/* round up so a few sizes settle on one allocation */
			size_t		cap = Max(len, 65536);

			if (buf->data != NULL)
				sodium_free(buf->data);
			buf->cap = 0;
			buf->data = sodium_malloc(cap);
			if (buf->data == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("biocrypt: could not allocate locked memory"),
						 errhint("Raise the memlock limit (ulimit -l) of the server."),
						 errhidestmt(true), errhidecontext(true)));
			buf->cap = cap;
		}
		buf->len = len;
		buf->in_use = true;
		buf->nest_level = GetCurrentTransactionNestLevel();
		return buf;
	}
	ereport(ERROR,
			(errmsg_internal("biocrypt: all locked scratch buffers are in use"),
			 errhidestmt(true), errhidecontext(true)));
	return NULL;				/* keep compiler quiet */
}

/* Zero a buffer and return it to the pool. */
void
SecmemRelease(SecBuf *buf)
{
	if (buf != NULL)
		SecmemWipe(buf);
}
