/*-------------------------------------------------------------------------
 *
 * galhandler.c
 *		The biocrypt_gallery index access method: its handler, storage
 *		parameters, operator-class validation and cost estimate.  Pages,
 *		builds and VACUUM are the gallery layer's; scans are galscan.c's.
 *
 * One operator class, protected_template_ops, orders by the four distance
 * operators.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_opclass.h"
#include "commands/vacuum.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/rls.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"

#include "gallery/gallery.h"
#include "match/probe.h"

/* No storage parameters. */
static bytea *
GalleryOptions(Datum reloptions, bool validate)
{
	if (validate && DatumGetPointer(reloptions) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("biocrypt: biocrypt_gallery has no storage parameters"),
				 errhidestmt(true), errhidecontext(true)));
	return NULL;
}

/* Only ORDER BY operators, strategies 1..4, and no support functions. */
static bool
GalleryValidate(Oid opclassoid)
{
	HeapTuple	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	Form_pg_opclass classform;
	CatCList   *oprlist;
	bool		ok = true;

	if (!HeapTupleIsValid(classtup))
		ereport(ERROR,
				(errmsg_internal("biocrypt: cache lookup failed for operator class %u", opclassoid),
				 errhidestmt(true), errhidecontext(true)));
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(classform->opcfamily));
	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop op = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);

		if (op->amopstrategy < 1 || op->amopstrategy > GALLERY_NSTRATEGIES ||
			op->amoppurpose != AMOP_ORDER)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("biocrypt: operator family of biocrypt_gallery has operator %u with strategy %d, not an ordering operator of strategy 1 to %d",
							op->amopopr, op->amopstrategy, GALLERY_NSTRATEGIES),
					 errhidestmt(true), errhidecontext(true)));
			ok = false;
		}
	}
	ReleaseCatCacheList(oprlist);
	ReleaseSysCache(classtup);
	return ok;
}

/*
 * Every entry is scored before the first is returned, at about the cost of
 * an operator call each, so the index is the planner's choice for ORDER BY
 * ... LIMIT, and not once biocrypt.enable_gallery is off.
 */
static void
GalleryCostEstimate(PlannerInfo *root, IndexPath *path, double loop_count,
					Cost *indexStartupCost, Cost *indexTotalCost,
					Selectivity *indexSelectivity, double *indexCorrelation,
					double *indexPages)
{
	GenericCosts costs;

	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);
	*indexStartupCost = path->indexinfo->tuples * cpu_operator_cost;
	*indexTotalCost = *indexStartupCost + costs.indexTotalCost;
	/*
	 * Under row-level security for this role, the table is scanned: a
	 * refusal must come only from rows its policies let through, which the
	 * gallery's check of refused rows cannot apply.
	 */
	if (!biocrypt_enable_gallery || path->indexorderbys == NIL ||
		check_enable_rls(path->indexinfo->rel->relid > 0 ?
						 root->simple_rte_array[path->indexinfo->rel->relid]->relid : InvalidOid,
						 InvalidOid, true) == RLS_ENABLED)
	{
		*indexStartupCost += disable_cost;
		*indexTotalCost += disable_cost;
	}
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = 0;
	*indexPages = costs.numIndexPages;
}

PG_FUNCTION_INFO_V1(biocrypt_gallery_handler);
/* The access method's routine table. */
Datum
biocrypt_gallery_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);

	am->amstrategies = GALLERY_NSTRATEGIES;
	am->amsupport = 0;
	am->amoptsprocnum = 0;
	am->amcanorder = false;
	am->amcanorderbyop = true;
	am->amcanbackward = false;
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = false;
	am->amstorage = false;
	am->amclusterable = false;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = false;
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;
	am->ambuild = GalleryBuild;
	am->ambuildempty = GalleryBuildEmpty;
	am->aminsert = GalleryInsert;
	am->ambulkdelete = GalleryBulkDelete;
	am->amvacuumcleanup = GalleryVacuumCleanup;
	am->amcanreturn = NULL;
	am->amcostestimate = GalleryCostEstimate;
	am->amoptions = GalleryOptions;
	am->amproperty = NULL;
	am->ambuildphasename = NULL;
	am->amvalidate = GalleryValidate;
	am->amadjustmembers = NULL;
	am->ambeginscan = GalleryBeginScan;
	am->amrescan = GalleryRescan;
	am->amgettuple = GalleryGetTuple;
	am->amgetbitmap = NULL;
	am->amendscan = GalleryEndScan;
	am->ammarkpos = NULL;
	am->amrestrpos = NULL;
	am->amestimateparallelscan = NULL;
	am->aminitparallelscan = NULL;
	am->amparallelrescan = NULL;
	PG_RETURN_POINTER(am);
}
