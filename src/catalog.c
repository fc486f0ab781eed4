/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The extension's own tables: mt_catalog_relid() (a relation mt.<name>
 *	  is trusted only when it belongs to the extension), the extension
 *	  owner (and the owner and schema of its pg_extension row), the
 *	  primary-key probe of such a table without SPI, and the snapshot of a
 *	  read of them that must see the latest commits (mt_fresh_snapshot).
 *	  Uses nothing of the extension but util.  Per-backend state only (the
 *	  verified oids); no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "catalog.h"

/*
 * The oid of the extension's own table mt.<name>, or InvalidOid when there
 * is none in this database.  A relation of that name is trusted only when
 * it belongs to the multitenant extension (pg_depend): in a database
 * without the extension, any role with CREATE on the database could plant
 * a schema "mt" and tables in it.  Verified oids are remembered for the
 * life of the backend (a dropped and recreated table gets a new oid).
 */
#define MT_VERIFIED_RELS 16
static Oid	verified_rels[MT_VERIFIED_RELS];
static int	n_verified_rels = 0;

Oid
mt_catalog_relid(const char *name)
{
	Oid			nsp = get_namespace_oid("mt", true);
	Oid			relid;
	Oid			ext;
	char	   *extname;
	bool		ours;

	if (!OidIsValid(nsp))
		return InvalidOid;
	relid = get_relname_relid(name, nsp);
	if (!OidIsValid(relid))
		return InvalidOid;
	for (int i = 0; i < n_verified_rels; i++)
		if (verified_rels[i] == relid)
			return relid;

	ext = getExtensionOfObject(RelationRelationId, relid);
	extname = OidIsValid(ext) ? get_extension_name(ext) : NULL;
	ours = extname != NULL && strcmp(extname, "multitenant") == 0;
	if (!ours)
		return InvalidOid;
	if (n_verified_rels < MT_VERIFIED_RELS)
		verified_rels[n_verified_rels++] = relid;
	return relid;
}

/*
 * The extension owner: the owner of mt.isolated_tables, a table the
 * extension script creates (a pre-existing schema "mt" could belong to
 * someone else, the extension's own tables cannot).
 */
Oid
mt_extension_owner(void)
{
	Oid			catalog = mt_catalog_relid("isolated_tables");
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(catalog))
		elog(ERROR, "multitenant: mt.isolated_tables is missing");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(catalog));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for mt.isolated_tables");
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * The extension's owner and schema from pg_extension (no SPI, no cache);
 * false when the extension is not installed in this database.  The owner
 * here is the one DROP OWNED acts on, which mt_extension_owner() (the
 * owner of the extension's tables) normally equals.
 */
bool
mt_extension_identity(Oid *owner, Oid *nsp)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("multitenant"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	found = HeapTupleIsValid(tup);
	if (found)
	{
		*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
		*nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Primary-key probe of one of the extension's tables without SPI (no RLS,
 * no recursion into the tenant context): the row of rel (opened by the
 * caller) whose one-column primary key keyatt equals key (eqproc: the key
 * type's equality function), read with the latest snapshot when fresh,
 * else with the active snapshot.  NULL when there is no such row or rel
 * has no primary key.  The tuple stays valid until mt_pk_probe_end(),
 * which the caller always calls.
 */
HeapTuple
mt_pk_probe_begin(MtPkProbe *probe, Relation rel, AttrNumber keyatt,
				  RegProcedure eqproc, Datum key, bool fresh)
{
	ScanKeyData skey;

	probe->scan = NULL;
	probe->snap = NULL;
	if (!rel->rd_indexvalid)
		list_free(RelationGetIndexList(rel));	/* fills rd_pkindex */
	if (!OidIsValid(rel->rd_pkindex) || keyatt == InvalidAttrNumber)
		return NULL;
	ScanKeyInit(&skey, keyatt, BTEqualStrategyNumber, eqproc, key);
	probe->snap = fresh ? mt_fresh_snapshot(RelationGetRelid(rel)) :
		RegisterSnapshot(GetActiveSnapshot());
	probe->scan = systable_beginscan(rel, rel->rd_pkindex, true, probe->snap, 1, &skey);
	return systable_getnext(probe->scan);
}

/*
 * A registered snapshot that sees every commit so far, for a read of the
 * extension's table relid outside parallel mode: the latest snapshot, or
 * while a parallel worker restores its leader's settings
 * (InitializingParallelWorker: the check hook of multitenant.token reads
 * key versions and tenant slugs there) a catalog snapshot, as fresh but not
 * the transaction's first snapshot.  Taking that one would make PostgreSQL
 * refuse the leader's transaction_deferrable, restored after it (25001
 * "SET TRANSACTION [NOT] DEFERRABLE must be called before any query"),
 * and the worker, hence the parallel query, would fail.
 */
Snapshot
mt_fresh_snapshot(Oid relid)
{
	if (InitializingParallelWorker)
		return RegisterSnapshot(GetCatalogSnapshot(relid));
	return RegisterSnapshot(GetLatestSnapshot());
}

void
mt_pk_probe_end(MtPkProbe *probe)
{
	if (probe->scan != NULL)
		systable_endscan(probe->scan);
	if (probe->snap != NULL)
		UnregisterSnapshot(probe->snap);
}

/*
 * The attribute number of column `column` of the extension's table
 * mt.<table> (relid); 42703 when the table was altered and lacks it.
 */
AttrNumber
mt_catalog_attnum(Oid relid, const char *table, const char *column)
{
	AttrNumber	a = get_attnum(relid, column);

	if (a == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("mt.%s has no column \"%s\"", table, column),
				 errhint("The multitenant extension's tables were altered; reinstall the extension.")));
	return a;
}
