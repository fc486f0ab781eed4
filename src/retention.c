/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Retention jobs: mt.set_retention / mt.drop_retention (the policies in
 *	  mt.retention_policies) and mt.run_retention, which deletes expired
 *	  rows in bounded batches.
 *
 * mt.run_retention is SECURITY DEFINER (the extension owner reads and
 * writes mt.retention_policies), but it never touches a user table with
 * those rights: every DELETE and check runs as the table's owner in a
 * security-restricted operation with a safe search_path
 * (mt_owner_execute, spi_util.c), so the owner's triggers, defaults and
 * domains run with the owner's rights.  An isolated table forces RLS on
 * its owner too, so it is cleaned tenant by tenant, each registered
 * tenant's maintenance context entered in turn (suspended and deleted
 * tenants included: their rows expire like everyone's); other tables in
 * one pass.
 * Each call deletes at most `batch` rows per table: the
 * rows are picked by ctid with FOR UPDATE SKIP LOCKED (rows another
 * transaction holds are left for the next run, so a run never waits on
 * application locks) and deleted through a TID scan, leaf relation by leaf
 * relation for partitioned tables.
 *
 * Locks: one transaction-level advisory lock (RETENTION_LOCK_KEY) taken
 * with pg_try_advisory_xact_lock: a second run that overlaps the first
 * returns a single 'skipped' row instead of waiting.  Policy rows are
 * written by their own statements; no shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "context.h"
#include "gdpr.h"
#include "spi_util.h"
#include "util.h"

/* "mtretain" as an int64: the advisory lock that serializes runs */
#define RETENTION_LOCK_KEY	INT64CONST(0x6d74726574616e)

/* extension tables a policy may cover; the others are refused */
static const char *const retainable_mt_tables[] = {
	"usage_rollup", "usage_alerts", "compliance_checks", NULL
};

static void
check_retainable(Oid relid, const char *qname)
{
	Oid			mtnsp = get_namespace_oid("mt", true);
	char		relkind = get_rel_relkind(relid);
	const char *rel = get_rel_name(relid);

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table", qname)));
	if (get_rel_namespace(relid) != mtnsp)
		return;
	if (strcmp(rel, "consents") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mt.consents has no retention: consent history is kept as evidence"),
				 errdetail("mt.gdpr_erase() pseudonymizes an erased subject's consent events.")));
	if (strncmp(rel, "audit_", 6) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s has no retention policy: use mt.audit_prune(older_than)", qname),
				 errdetail("Pruning keeps the remaining audit chain verifiable; deleting rows would break it.")));
	for (int i = 0; retainable_mt_tables[i] != NULL; i++)
		if (strcmp(rel, retainable_mt_tables[i]) == 0)
			return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s has no retention: it is a multitenant catalog or evidence table", qname)));
}

/*
 * mt.set_retention(tbl regclass, time_column name, keep interval): rows
 * whose time_column is older than now() - keep are deleted by
 * mt.run_retention.  The caller must own the table.
 */
PG_FUNCTION_INFO_V1(mt_set_retention);
Datum
mt_set_retention(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *qname;
	char	   *column;
	Interval   *keep;
	AttrNumber	attnum;
	Oid			typid;
	Datum		args[4];

	mt_require_writable("mt.set_retention()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 3, "table, time column and keep");
	relid = PG_GETARG_OID(0);
	column = NameStr(*PG_GETARG_NAME(1));
	keep = PG_GETARG_INTERVAL_P(2);
	qname = mt_relation_name(relid);
	check_retainable(relid, qname);
	mt_gdpr_require_owner(relid);

	attnum = get_attnum(relid, column);
	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of %s does not exist", column, qname)));
	typid = getBaseType(get_atttype(relid, attnum));
	if (typid != TIMESTAMPTZOID && typid != TIMESTAMPOID && typid != DATEOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("time column \"%s\" of %s must be timestamptz, timestamp or date, not %s",
						column, qname, format_type_be(get_atttype(relid, attnum)))));
	if (keep->month < 0 || keep->day < 0 || keep->time < 0 ||
		(keep->month == 0 && keep->day == 0 && keep->time == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keep must be a positive interval")));

	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(column);
	args[2] = IntervalPGetDatum(keep);
	args[3] = CStringGetTextDatum(mt_gdpr_actor_role());
	mt_spi_connect();
	mt_catalog_execute("INSERT INTO mt.retention_policies (tbl, time_column, keep, created_by)"
					   " VALUES ($1::pg_catalog.regclass, $2, $3, $4)"
					   " ON CONFLICT (tbl) DO UPDATE SET time_column = EXCLUDED.time_column,"
					   " keep = EXCLUDED.keep, created_at = EXCLUDED.created_at, created_by = EXCLUDED.created_by",
					   4, (Oid[]) {OIDOID, TEXTOID, INTERVALOID, TEXTOID}, args, NULL);
	mt_spi_finish();
	PG_RETURN_VOID();
}

/* mt.drop_retention(tbl regclass) → boolean */
PG_FUNCTION_INFO_V1(mt_drop_retention);
Datum
mt_drop_retention(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Datum		arg;
	bool		dropped;

	mt_require_writable("mt.drop_retention()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "table");
	relid = PG_GETARG_OID(0);
	(void) mt_relation_name(relid);
	mt_gdpr_require_owner(relid);
	arg = ObjectIdGetDatum(relid);
	mt_spi_connect();
	mt_catalog_execute("DELETE FROM mt.retention_policies WHERE tbl = $1::pg_catalog.regclass",
					   1, (Oid[]) {OIDOID}, &arg, NULL);
	dropped = SPI_processed > 0;
	mt_spi_finish();
	PG_RETURN_BOOL(dropped);
}

typedef struct RetentionPolicy
{
	Oid			relid;
	char	   *column;
	Datum		cutoff;			/* timestamptz: now() - keep */
} RetentionPolicy;

/* true when the extension isolates the table (mt.isolated_tables) */
static bool
is_isolated(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);

	return mt_spi_exists("SELECT 1 FROM mt.isolated_tables "
						 "WHERE tbl OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
						 1, (Oid[]) {OIDOID}, &arg);
}

/* every registered tenant, whatever its status, in id order (palloc'd copies) */
static List *
registered_tenants(void)
{
	List	   *tenants = NIL;

	mt_spi_execute("SELECT id FROM mt.tenants ORDER BY id",
				   0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		pg_uuid_t  *t = palloc(sizeof(pg_uuid_t));

		memcpy(t, DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)),
			   sizeof(pg_uuid_t));
		tenants = lappend(tenants, t);
	}
	return tenants;
}

/*
 * Delete up to budget expired rows of one policy's leaf relations, each as
 * its owner (mt_owner_execute) in tenant's context (NULL: none); returns
 * the rows deleted.
 */
static int64
retain_leaves(RetentionPolicy *p, List *leaves, const pg_uuid_t *tenant, int64 budget)
{
	ListCell   *lc;
	int64		deleted = 0;
	const char *col = quote_identifier(p->column);

	foreach(lc, leaves)
	{
		Oid			leaf = lfirst_oid(lc);
		char	   *qname;
		char	   *sql;
		Datum		args[2];

		if (deleted >= budget)
			break;
		qname = mt_relation_name(leaf);
		sql = psprintf("DELETE FROM ONLY %s WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
					   "SELECT ctid FROM ONLY %s WHERE %s OPERATOR(pg_catalog.<) $1 LIMIT $2 FOR UPDATE SKIP LOCKED))"
					   " AND %s OPERATOR(pg_catalog.<) $1",
					   qname, qname, col, col);
		args[0] = p->cutoff;
		args[1] = Int64GetDatum(budget - deleted);
		mt_owner_execute(leaf, tenant, sql, 2, (Oid[]) {TIMESTAMPTZOID, INT8OID}, args, NULL, false, 0);
		deleted += SPI_processed;
	}
	return deleted;
}

/* whether expired rows are left (as the table's owner, in tenant's context) */
static bool
expired_left(RetentionPolicy *p, const pg_uuid_t *tenant)
{
	char	   *sql = psprintf("SELECT 1 FROM %s WHERE %s OPERATOR(pg_catalog.<) $1 LIMIT 1",
							   mt_relation_name(p->relid), quote_identifier(p->column));

	mt_owner_execute(p->relid, tenant, sql, 1, (Oid[]) {TIMESTAMPTZOID}, &p->cutoff, NULL, false, 1);
	return SPI_processed > 0;
}

/*
 * Apply one policy: at most budget rows.  A table the extension isolates
 * (FORCE ROW LEVEL SECURITY: its owner sees no row without a tenant
 * context) is cleaned tenant by tenant, inside each tenant's maintenance
 * context in turn; any other table in one pass as its owner.
 */
static int64
retain_one(RetentionPolicy *p, int64 budget, List **tenants, bool *more)
{
	List	   *all = find_all_inheritors(p->relid, AccessShareLock, NULL);
	List	   *leaves = NIL;
	ListCell   *lc;
	int64		deleted = 0;

	foreach(lc, all)
	{
		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION)
			leaves = lappend_oid(leaves, lfirst_oid(lc));	/* parents hold no rows */
	}

	*more = false;
	if (!is_isolated(p->relid))
	{
		deleted = retain_leaves(p, leaves, NULL, budget);
		*more = expired_left(p, NULL);
		return deleted;
	}

	if (*tenants == NIL)
		*tenants = registered_tenants();
	foreach(lc, *tenants)
	{
		const pg_uuid_t *t = lfirst(lc);

		if (deleted < budget)
			deleted += retain_leaves(p, leaves, t, budget - deleted);
		if (!*more)
			*more = expired_left(p, t);
		if (deleted >= budget && *more)
			break;
	}
	return deleted;
}

/* retain_one() for mt_try_in_subxact() */
typedef struct RetainRun
{
	RetentionPolicy *policy;
	int64		budget;
	List	  **tenants;
	int64		deleted;
	bool		more;
} RetainRun;

static void
retain_one_cb(void *arg)
{
	RetainRun  *run = (RetainRun *) arg;

	run->deleted = retain_one(run->policy, run->budget, run->tenants, &run->more);
}

/*
 * mt.run_retention(batch integer DEFAULT 10000)
 *	 → TABLE (tbl regclass, deleted bigint, more boolean, status text)
 * SECURITY DEFINER.  One row per policy ('done', 'more', or 'error' when
 * that table's retention failed: a WARNING says why, the other tables are
 * still cleaned), or a single 'skipped' row when another run holds the
 * retention lock.
 */
PG_FUNCTION_INFO_V1(mt_run_retention);
Datum
mt_run_retention(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		batch;
	Datum		key = Int64GetDatum(RETENTION_LOCK_KEY);
	List	   *policies = NIL;
	List	   *tenants = NIL;
	ListCell   *lc;
	bool		isnull;
	MemoryContext oldcxt;

	mt_require_writable("mt.run_retention()", MT_WRITES_TABLES);
	batch = mt_batch_arg(fcinfo);

	InitMaterializedSRF(fcinfo, 0);
	mt_spi_connect();
	if (!DatumGetBool(mt_spi_value("SELECT pg_catalog.pg_try_advisory_xact_lock($1)",
								   1, (Oid[]) {INT8OID}, &key, false, NULL)))
	{
		Datum		values[4] = {0};
		bool		nulls[4] = {true, false, true, false};

		mt_spi_finish();
		oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		values[1] = Int64GetDatum(0);
		values[3] = CStringGetTextDatum("skipped");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(oldcxt);
		return (Datum) 0;
	}

	mt_spi_execute("SELECT p.tbl::pg_catalog.oid, p.time_column::pg_catalog.text, pg_catalog.now() - p.keep"
				   " FROM mt.retention_policies p JOIN pg_catalog.pg_class c ON c.oid = p.tbl::pg_catalog.oid"
				   " ORDER BY p.tbl::pg_catalog.text",
				   0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		RetentionPolicy *p = palloc(sizeof(RetentionPolicy));
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		p->relid = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
		p->column = SPI_getvalue(row, desc, 2);
		p->cutoff = SPI_getbinval(row, desc, 3, &isnull);
		policies = lappend(policies, p);
	}

	foreach(lc, policies)
	{
		RetentionPolicy *p = lfirst(lc);
		RetainRun	run = {p, batch, &tenants, 0, false};
		bool		more;
		int64		deleted;
		const char *status;
		ErrorData  *edata;
		Datum		args[3];
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		/*
		 * One table's failure (its owner's trigger raising, say) is that
		 * table's 'error' row, never the end of every other table's
		 * retention; a cancel still ends the run.
		 */
		edata = mt_try_in_subxact(retain_one_cb, &run);
		if (edata == NULL)
		{
			deleted = run.deleted;
			more = run.more;
			status = more ? "more" : "done";
		}
		else
		{
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("retention of %s failed: %s",
							quote_qualified_identifier(get_namespace_name(get_rel_namespace(p->relid)),
													   get_rel_name(p->relid)),
							edata->message)));
			FreeErrorData(edata);
			deleted = 0;
			more = true;
			status = "error";
		}

		args[0] = ObjectIdGetDatum(p->relid);
		args[1] = Int64GetDatum(deleted);
		args[2] = BoolGetDatum(more);
		mt_spi_execute("UPDATE mt.retention_policies SET last_run_at = pg_catalog.now(), last_deleted = $2,"
					   " last_more = $3, total_deleted = total_deleted + $2"
					   " WHERE tbl OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					   3, (Oid[]) {OIDOID, INT8OID, BOOLOID}, args, SPI_OK_UPDATE);

		values[0] = ObjectIdGetDatum(p->relid);
		values[1] = Int64GetDatum(deleted);
		values[2] = BoolGetDatum(more);
		oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		values[3] = CStringGetTextDatum(status);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(oldcxt);
	}
	mt_spi_finish();
	return (Datum) 0;
}
