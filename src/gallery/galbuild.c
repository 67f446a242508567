/*-------------------------------------------------------------------------
 *
 * galbuild.c
 *		CREATE INDEX ... USING biocrypt_gallery, its insert, and the empty
 *		index of an unlogged table.
 *
 * The index copies each row's envelope as it is stored: nothing is
 * decrypted to build it, so building needs no key and writes no plaintext.
 * Only administrators may create one, because its warm form puts the
 * decrypted templates into server memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tableam.h"
#include "catalog/index.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "gallery/gallery.h"
#include "template/template.h"

typedef struct BuildState
{
	double		indtuples;
} BuildState;

/* Superuser or member of biocrypt_admin, else refused. */
static void
RequireAdmin(Relation index)
{
	Oid			admin = get_role_oid("biocrypt_admin", true);

	if (superuser() || (OidIsValid(admin) && has_privs_of_role(GetUserId(), admin)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("biocrypt: permission denied to build gallery index \"%s\"",
					RelationGetRelationName(index)),
			 errdetail("A gallery's warm form holds decrypted templates in server memory."),
			 errhint("Only a superuser or a member of biocrypt_admin may create or rebuild one."),
			 errhidestmt(true), errhidecontext(true)));
}

/* One row of the heap: append its envelope, as stored. */
static void
AddRow(Relation index, ItemPointer tid, Datum value, bool isnull)
{
	bytea	   *tpl;
	EnvelopeHeader hdr;

	if (isnull)
		return;
	tpl = DatumGetProtectedTemplateP(value);
	/* a template the heap holds is checked again: the index trusts nothing */
	ParseTemplate(tpl, &hdr);
	GalleryAppend(index, tid, (const uint8 *) VARDATA_ANY(tpl), VARSIZE_ANY_EXHDR(tpl));
}

static void
BuildCallback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			  bool tupleIsAlive, void *state)
{
	AddRow(index, tid, values[0], isnull[0]);
	((BuildState *) state)->indtuples += isnull[0] ? 0 : 1;
}

IndexBuildResult *
GalleryBuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result = palloc(sizeof(IndexBuildResult));
	BuildState	state = {0};
	double		reltuples;

	RequireAdmin(index);
	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	GalleryInitMetapage(index, MAIN_FORKNUM);
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   BuildCallback, &state, NULL);
	result->heap_tuples = reltuples;
	result->index_tuples = state.indtuples;
	return result;
}

void
GalleryBuildEmpty(Relation index)
{
	GalleryInitMetapage(index, INIT_FORKNUM);
}

bool
GalleryInsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			  Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
			  IndexInfo *indexInfo)
{
	AddRow(index, heap_tid, values[0], isnull[0]);
	return false;
}
