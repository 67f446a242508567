/*-------------------------------------------------------------------------
 *
 * subxact.c
 *		Run a piece of work in a subtransaction of its own.
 *
 * Where one failure must not take the rest with it (one audit row of a
 * batch, one column of a purge) or must be recorded before it goes on (a
 * refused request), the work runs in an internal subtransaction: on error
 * the subtransaction is rolled back, the error state flushed, and the error
 * handed to the caller, who records, rethrows or drops it.  The caller's
 * memory context and resource owner are the same afterwards either way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "core/core.h"

/*
 * Run fn(arg) in a subtransaction; NULL if it succeeded, else its error
 * (allocated in the caller's memory context), with its work rolled back.
 */
ErrorData *
BiocryptSubxact(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	/* fn's results must outlive the subtransaction */
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}
