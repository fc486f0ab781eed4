/*-------------------------------------------------------------------------
 *
 * isolation.c
 *	  Tenant isolation of user tables: mt.enable_isolation /
 *	  mt.disable_isolation (generated RLS policies, FORCE, tenant index,
 *	  partitions and inheritance children), mt.auto_isolate, the event
 *	  triggers that isolate new partitions/children/auto tables and that
 *	  guard the generated protections, and mt.isolation_status() with its
 *	  lints (including the GDPR one: a registered subject column without an
 *	  index).
 *
 * On Citus the guard also protects the placements (shards) of isolated
 * distributed tables and the workers' copies of them, which no registry on
 * their node names (see "Citus placements and worker copies" below): DDL
 * weakening them goes through only under an approval of the coordinator
 * (multitenant.node_ddl_approval, made and checked in context.c, passed
 * by citus.c), which mt_isolation_sanction_begin() hands the workers
 * around each statement weakening isolation that this node sanctions.
 *
 * DDL runs through SPI as the calling role, so PostgreSQL's own ownership
 * checks apply.  The catalog tables mt.isolated_tables and
 * mt.auto_isolate_schemas are written as their owner (the extension
 * owner) through mt_catalog_execute() (spi_util.c).
 *
 * Backend-local flags (no shared state, no locks):
 *	- isolation_ddl_depth: our own DDL is running (this file's, and
 *	  tenant_schema.c's through mt_isolation_run_ddl); the event triggers of
 *	  both files let it through and do not recurse.
 *
 * mt_isolation_ensure_policy also makes the generated policies of tables
 * in tenant schemas (tenant_schema.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "catalog.h"
#include "citus.h"
#include "citus_node.h"
#include "context.h"
#include "isolation.h"
#include "spi_util.h"
#include "util.h"

#define POLICY_RESTRICTIVE	"mt_tenant_isolation"
#define POLICY_PERMISSIVE	"mt_tenant_access"

/* GUC variable (defined in multitenant.c) */
bool		mt_allow_unsafe_ddl = false;

static int	isolation_ddl_depth = 0;

static void check_parents_isolated(Oid relid);

/*
 * Every statement this file runs through SPI is parsed with search_path =
 * pg_catalog, pg_temp (mt_enter_safe_search_path), so that operators,
 * functions and types a caller created in its own schemas can neither run
 * with the extension owner's rights nor change what the guard or the
 * generated policies compute.  Names the user wrote (RangeVars in the
 * guard) are resolved with the caller's search_path before switching.
 */

/* ---------------------------------------------------------------------
 * helpers
 * --------------------------------------------------------------------- */

void
mt_isolation_run_ddl(const char *sql)
{
	isolation_ddl_depth++;
	PG_TRY();
	{
		int			rc = SPI_execute(sql, false, 0);

		if (rc < 0)
			mt_spi_failed(psprintf("\"%s\"", sql), rc);
	}
	PG_FINALLY();
	{
		isolation_ddl_depth--;
	}
	PG_END_TRY();
}

#define run_ddl(sql) mt_isolation_run_ddl(sql)

/* is DDL of the extension's own (run_ddl) running? event triggers let it through */
bool
mt_isolation_ddl_running(void)
{
	return isolation_ddl_depth > 0;
}

/* tenant column recorded for relid, or NULL when it is not isolated */
static char *
isolated_column(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	bool		isnull;
	Datum		d;

	d = mt_spi_value("SELECT tenant_column::text FROM mt.isolated_tables WHERE tbl = $1::regclass",
					 1, (Oid[]) {OIDOID}, &arg, false, &isnull);
	return isnull ? NULL : TextDatumGetCString(d);
}

static bool
has_index_led_by(Oid relid, AttrNumber attnum)
{
	Datum		args[2] = {ObjectIdGetDatum(relid), Int16GetDatum(attnum)};

	return mt_spi_exists("SELECT 1 FROM pg_catalog.pg_index "
						 "WHERE indrelid = $1 AND indkey[0] = $2 AND indpred IS NULL",
						 2, (Oid[]) {OIDOID, INT2OID}, args);
}

static bool
policy_intact(Oid relid, const char *policy, bool permissive, const char *expected)
{
	Datum		args[4] = {ObjectIdGetDatum(relid), CStringGetTextDatum(policy),
	BoolGetDatum(permissive), CStringGetTextDatum(expected)};

	return mt_spi_exists("SELECT 1 FROM pg_catalog.pg_policy "
						 "WHERE polrelid = $1 AND polname = $2 AND polpermissive = $3 "
						 "AND polcmd = '*' AND polroles = '{0}' "
						 "AND pg_catalog.pg_get_expr(polqual, polrelid) = $4 "
						 "AND pg_catalog.pg_get_expr(polwithcheck, polrelid) = $4",
						 4, (Oid[]) {OIDOID, TEXTOID, BOOLOID, TEXTOID}, args);
}

static void
drop_policy_if_present(Oid relid, const char *qname, const char *policy)
{
	Datum		args[2] = {ObjectIdGetDatum(relid), CStringGetTextDatum(policy)};
	StringInfoData sql;

	if (!mt_spi_exists("SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = $1 AND polname = $2",
					   2, (Oid[]) {OIDOID, TEXTOID}, args))
		return;
	initStringInfo(&sql);
	/* IF EXISTS: Citus sends the same text to placements that may lack it */
	appendStringInfo(&sql, "DROP POLICY IF EXISTS %s ON %s", quote_identifier(policy), qname);
	run_ddl(sql.data);
}

/*
 * (re)create one generated policy unless it is already exactly right
 * (force: recreate it anyway, see isolate_one)
 */
static void
ensure_policy(Oid relid, const char *qname, const char *policy, bool permissive,
			  const char *column, bool force)
{
	StringInfoData expected;

	initStringInfo(&expected);
	appendStringInfo(&expected, "(%s = mt.current_tenant())", quote_identifier(column));
	mt_isolation_ensure_policy(relid, qname, policy, permissive, expected.data, force);
}

/*
 * (re)create the generated policy "policy" of relid, FOR ALL TO PUBLIC
 * USING and WITH CHECK expr (as pg_get_expr prints it under search_path =
 * pg_catalog, pg_temp), unless it is already exactly that (force: anyway).
 * Also serves the schema-per-tenant tables (tenant_schema.c).  SPI must be
 * connected, with the safe search_path.
 */
void
mt_isolation_ensure_policy(Oid relid, const char *qname, const char *policy,
						   bool permissive, const char *expr, bool force)
{
	StringInfoData sql;

	if (!force && policy_intact(relid, policy, permissive, expr))
		return;

	initStringInfo(&sql);
	drop_policy_if_present(relid, qname, policy);
	appendStringInfo(&sql,
					 "CREATE POLICY %s ON %s AS %s FOR ALL TO PUBLIC USING %s WITH CHECK %s",
					 quote_identifier(policy), qname,
					 permissive ? "PERMISSIVE" : "RESTRICTIVE",
					 expr, expr);
	run_ddl(sql.data);
}

/* ---------------------------------------------------------------------
 * Citus (doc/citus.md)
 *
 * A table distributed by Citus keeps its data in placements (shards) on
 * the worker nodes, and each worker with metadata keeps a copy of the
 * table's definition.  Citus propagates our DDL on the coordinator's
 * table to all of them, but it recreates policies without AS RESTRICTIVE
 * (see mt_isolation_utility_stmt, which fixes that on arrival), and
 * refuses to change the default of the distribution column.
 * --------------------------------------------------------------------- */

/*
 * Is relid a Citus table (in pg_dist_partition)?  Then *distcol is its
 * distribution column ("" for a table without one, e.g. a reference
 * table).  False without Citus.  SPI must be connected.
 */
static bool
citus_table(Oid relid, char **distcol)
{
	Datum		arg = ObjectIdGetDatum(relid);
	bool		isnull;
	Datum		d;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return false;
	d = mt_spi_value("SELECT CASE WHEN partkey IS NULL THEN '' "
					 "ELSE pg_catalog.column_to_column_name(logicalrelid, partkey) END "
					 "FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1::pg_catalog.regclass",
					 1, (Oid[]) {OIDOID}, &arg, false, &isnull);
	if (isnull)
		return false;
	if (distcol)
		*distcol = TextDatumGetCString(d);
	return true;
}

/*
 * Run DDL on this node's table only: Citus does not propagate it (used
 * for what Citus refuses to propagate, the distribution column's default;
 * the coordinator evaluates INSERT defaults).
 */
static void
run_local_ddl(const char *sql)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("citus.enable_ddl_propagation", "off",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	run_ddl(sql);
	AtEOXact_GUC(true, nest);
}

static void
check_isolatable(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	Oid			nsp = get_rel_namespace(relid);

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errdetail("Only ordinary and partitioned tables can be isolated.")));
	if (IsCatalogNamespace(nsp) || IsToastNamespace(nsp) ||
		nsp == get_namespace_oid("mt", true))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot isolate \"%s\": system and multitenant tables are managed by the extension",
						get_rel_name(relid))));
}

/*
 * Make the tenant column right: add it to an empty table, else require
 * uuid, NOT NULL and (if there is none) the current-tenant default.
 */
static AttrNumber
ensure_tenant_column(Oid relid, const char *qname, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);
	StringInfoData sql;

	initStringInfo(&sql);
	if (attnum == InvalidAttrNumber)
	{
		appendStringInfo(&sql, "SELECT 1 FROM %s LIMIT 1", qname);
		if (mt_spi_exists(sql.data, 0, NULL, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s has rows but no column \"%s\"", qname, column),
					 errhint("Add the column as uuid, fill it for existing rows, then call mt.enable_isolation again.")));
		resetStringInfo(&sql);
		appendStringInfo(&sql,
						 "ALTER TABLE %s ADD COLUMN %s uuid NOT NULL DEFAULT mt.current_tenant()",
						 qname, quote_identifier(column));
		run_ddl(sql.data);
		return get_attnum(relid, column);
	}

	{
		HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
		Form_pg_attribute att;
		bool		notnull,
					hasdef;
		Oid			typid;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for attribute %d of relation %u", attnum, relid);
		att = (Form_pg_attribute) GETSTRUCT(tup);
		notnull = att->attnotnull;
		hasdef = att->atthasdef;
		typid = att->atttypid;
		ReleaseSysCache(tup);

		if (typid != UUIDOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("tenant column \"%s\" of %s must be of type uuid, not %s",
							column, qname, format_type_be(typid))));
		if (!notnull)
		{
			appendStringInfo(&sql, "ALTER TABLE %s ALTER COLUMN %s SET NOT NULL",
							 qname, quote_identifier(column));
			run_ddl(sql.data);
			resetStringInfo(&sql);
		}
		if (!hasdef)
		{
			char	   *distcol = NULL;

			appendStringInfo(&sql, "ALTER TABLE %s ALTER COLUMN %s SET DEFAULT mt.current_tenant()",
							 qname, quote_identifier(column));
			/* Citus refuses to alter its distribution column: set it here */
			if (citus_table(relid, &distcol) && strcmp(distcol, column) == 0)
				run_local_ddl(sql.data);
			else
				run_ddl(sql.data);
		}
	}
	return attnum;
}

/*
 * Isolate one relation (not its children): RLS enabled and forced, the two
 * generated policies, an index led by the tenant column, a catalog row.
 */
static void
isolate_one(Oid relid, const char *column, Oid parent)
{
	char	   *qname = mt_relation_name(relid);
	AttrNumber	attnum;
	StringInfoData sql;
	Datum		args[3];
	char		nulls[3] = {' ', ' ', OidIsValid(parent) ? ' ' : 'n'};

	check_isolatable(relid);
	attnum = ensure_tenant_column(relid, qname, column);

	initStringInfo(&sql);
	if (!has_index_led_by(relid, attnum))
	{
		appendStringInfo(&sql, "CREATE INDEX ON %s (%s)", qname, quote_identifier(column));
		run_ddl(sql.data);
		resetStringInfo(&sql);
	}
	appendStringInfo(&sql, "ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY", qname);
	run_ddl(sql.data);

	/*
	 * On a Citus table the restrictive policy is recreated every time, so
	 * that Citus propagates it again to every placement and worker copy,
	 * where mt_isolation_utility_stmt makes it restrictive: this repairs
	 * placements that arrived permissive (before this release, or with a
	 * node missing the library) or lost the policy.
	 */
	ensure_policy(relid, qname, POLICY_RESTRICTIVE, false, column,
				  citus_table(relid, NULL));
	ensure_policy(relid, qname, POLICY_PERMISSIVE, true, column, false);

	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(column);
	args[2] = ObjectIdGetDatum(parent);
	mt_catalog_execute("INSERT INTO mt.isolated_tables (tbl, tenant_column, parent) "
					"VALUES ($1::regclass, $2, $3::regclass) "
					"ON CONFLICT (tbl) DO UPDATE SET tenant_column = EXCLUDED.tenant_column, "
					"parent = EXCLUDED.parent",
					3, (Oid[]) {OIDOID, TEXTOID, OIDOID}, args, nulls);
}

/* the direct parent of a partition or inheritance child, or InvalidOid */
static Oid
direct_parent(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	bool		isnull;
	Datum		d = mt_spi_value("SELECT inhparent FROM pg_catalog.pg_inherits "
								 "WHERE inhrelid = $1 ORDER BY inhseqno LIMIT 1",
								 1, (Oid[]) {OIDOID}, &arg, false, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/* Isolate relid and every partition / inheritance child below it. */
static void
isolate_tree(Oid relid, const char *column)
{
	List	   *all = find_all_inheritors(relid, AccessShareLock, NULL);
	ListCell   *lc;

	foreach(lc, all)
		isolate_one(lfirst_oid(lc), column, direct_parent(lfirst_oid(lc)));
}

/* ---------------------------------------------------------------------
 * CREATE POLICY of the generated restrictive policy arriving permissive
 *
 * Citus copies a distributed table's policies to every placement (shard)
 * and to the tables it keeps on workers as CREATE POLICY text that never
 * says AS RESTRICTIVE (at distribution, on shard moves and splits, on
 * metadata sync).  The generated mt_tenant_isolation would become
 * PERMISSIVE there, and any other permissive policy would then widen
 * access beyond the tenant.  The ProcessUtility hook (multitenant.c), on
 * every node, turns a CREATE POLICY of that name with the generated shape
 * (FOR ALL TO PUBLIC, USING and WITH CHECK "<column> =
 * mt.current_tenant()") back into AS RESTRICTIVE before it runs.  Nothing
 * else is touched; our own CREATE POLICY already says RESTRICTIVE.
 * --------------------------------------------------------------------- */

/* "<column> = mt.current_tenant()" as the raw parser returns it */
static bool
is_generated_raw_qual(Node *n)
{
	A_Expr	   *e;
	FuncCall   *f;
	ColumnRef  *col;
	const char *op;

	if (n == NULL || !IsA(n, A_Expr))
		return false;
	e = (A_Expr *) n;
	if (e->kind != AEXPR_OP || list_length(e->name) > 2)
		return false;
	op = strVal(llast(e->name));
	if (strcmp(op, "=") != 0 ||
		(list_length(e->name) == 2 && strcmp(strVal(linitial(e->name)), "pg_catalog") != 0))
		return false;
	if (e->lexpr == NULL || !IsA(e->lexpr, ColumnRef) ||
		e->rexpr == NULL || !IsA(e->rexpr, FuncCall))
		return false;
	col = (ColumnRef *) e->lexpr;
	if (list_length(col->fields) != 1 || !IsA(linitial(col->fields), String))
		return false;
	f = (FuncCall *) e->rexpr;
	return f->args == NIL && list_length(f->funcname) == 2 &&
		strcmp(strVal(linitial(f->funcname)), "mt") == 0 &&
		strcmp(strVal(lsecond(f->funcname)), "current_tenant") == 0;
}

PlannedStmt *
mt_isolation_utility_stmt(PlannedStmt *pstmt, bool *readOnlyTree)
{
	CreatePolicyStmt *stmt;
	RoleSpec   *role;

	if (pstmt->utilityStmt == NULL || !IsA(pstmt->utilityStmt, CreatePolicyStmt))
		return pstmt;
	stmt = (CreatePolicyStmt *) pstmt->utilityStmt;
	if (!stmt->permissive || strcmp(stmt->policy_name, POLICY_RESTRICTIVE) != 0 ||
		stmt->cmd_name == NULL || strcmp(stmt->cmd_name, "all") != 0 ||
		list_length(stmt->roles) != 1)
		return pstmt;
	role = (RoleSpec *) linitial(stmt->roles);
	if (!IsA(role, RoleSpec) || role->roletype != ROLESPEC_PUBLIC ||
		!is_generated_raw_qual(stmt->qual) || !is_generated_raw_qual(stmt->with_check) ||
		!equal(stmt->qual, stmt->with_check))
		return pstmt;

	if (*readOnlyTree)
	{
		pstmt = copyObject(pstmt);
		*readOnlyTree = false;
	}
	((CreatePolicyStmt *) pstmt->utilityStmt)->permissive = false;
	return pstmt;
}

/* ---------------------------------------------------------------------
 * SQL functions
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_enable_isolation);
Datum
mt_enable_isolation(PG_FUNCTION_ARGS)
{
	int			nest;
	Oid			relid;
	char	   *column;

	mt_require_writable("mt.enable_isolation()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 2, "table and tenant column");
	relid = PG_GETARG_OID(0);
	column = NameStr(*PG_GETARG_NAME(1));
	if (column[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant column name must not be empty")));
	if (!OidIsValid(get_rel_relkind(relid)) && get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));

	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	isolate_tree(relid, column);
	check_parents_isolated(relid);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_disable_isolation);
Datum
mt_disable_isolation(PG_FUNCTION_ARGS)
{
	int			nest;
	Oid			relid;
	List	   *all;
	ListCell   *lc;
	StringInfoData sql;

	mt_require_writable("mt.disable_isolation()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "table");
	relid = PG_GETARG_OID(0);

	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	if (isolated_column(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s is not isolated", mt_relation_name(relid))));

	initStringInfo(&sql);
	all = find_all_inheritors(relid, AccessShareLock, NULL);
	foreach(lc, all)
	{
		Oid			child = lfirst_oid(lc);
		char	   *qname = mt_relation_name(child);
		Datum		arg = ObjectIdGetDatum(child);

		if (isolated_column(child) == NULL)
			continue;
		drop_policy_if_present(child, qname, POLICY_RESTRICTIVE);
		drop_policy_if_present(child, qname, POLICY_PERMISSIVE);
		resetStringInfo(&sql);
		appendStringInfo(&sql, "ALTER TABLE %s NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY",
						 qname);
		run_ddl(sql.data);
		mt_catalog_execute("DELETE FROM mt.isolated_tables WHERE tbl = $1::regclass",
						1, (Oid[]) {OIDOID}, &arg, NULL);
	}
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_auto_isolate);
Datum
mt_auto_isolate(PG_FUNCTION_ARGS)
{
	int			nest;
	char	   *schema;
	char	   *column;
	Datum		args[2];

	mt_require_writable("mt.auto_isolate()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 2, "schema and tenant column");
	schema = NameStr(*PG_GETARG_NAME(0));
	column = NameStr(*PG_GETARG_NAME(1));
	(void) get_namespace_oid(schema, false);	/* 3F000 when missing */
	if (strcmp(schema, "mt") == 0 || strcmp(schema, "pg_catalog") == 0 ||
		strcmp(schema, "information_schema") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("schema \"%s\" cannot be auto-isolated", schema)));

	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	args[0] = CStringGetTextDatum(schema);
	args[1] = CStringGetTextDatum(column);
	mt_catalog_execute("INSERT INTO mt.auto_isolate_schemas (schema_name, tenant_column) "
					"VALUES ($1, $2) ON CONFLICT (schema_name) "
					"DO UPDATE SET tenant_column = EXCLUDED.tenant_column",
					2, (Oid[]) {TEXTOID, TEXTOID}, args, NULL);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_stop_auto_isolate);
Datum
mt_stop_auto_isolate(PG_FUNCTION_ARGS)
{
	int			nest;
	Datum		arg;

	mt_require_writable("mt.stop_auto_isolate()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "schema");
	arg = CStringGetTextDatum(NameStr(*PG_GETARG_NAME(0)));
	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	mt_catalog_execute("DELETE FROM mt.auto_isolate_schemas WHERE schema_name = $1",
					1, (Oid[]) {TEXTOID}, &arg, NULL);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Event triggers
 * --------------------------------------------------------------------- */

static void
guard_refuse(Oid relid, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot %s on %s: the table is isolated by multitenant", what, mt_relation_name(relid)),
			 errhint("Use mt.disable_isolation('%s') to remove tenant isolation.", mt_relation_name(relid))));
}

/* the same, for a placement or worker copy of a Citus table (below) */
static void
guard_refuse_citus(Oid relid, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot %s on %s: the table is isolated by multitenant", what, mt_relation_name(relid)),
			 errdetail("It is a placement or a worker's copy of a Citus table isolated on the coordinator, and the coordinator did not sanction this change."),
			 errhint("Change tenant isolation on the Citus coordinator: mt.disable_isolation() or mt.enable_isolation() of the distributed table.")));
}

static bool
is_generated_policy(const char *name)
{
	return strcmp(name, POLICY_RESTRICTIVE) == 0 || strcmp(name, POLICY_PERMISSIVE) == 0;
}

/*
 * Citus placements and worker copies (doc/citus.md, "The DDL guard on the
 * workers").  A worker keeps no registry of isolated tables: the
 * coordinator's mt.isolated_tables names the distributed table only.  What
 * marks the shards of an isolated table (and each worker's copy of the
 * table) is what Citus copies to every one of them, also to those created
 * later by moves, splits and metadata syncs: the generated policies.  A
 * relation that carries one, and is on a Citus worker or is a shard Citus
 * knows on this node (a coordinator that holds placements), is guarded like
 * an isolated table, except that a change the coordinator sanctioned
 * (multitenant.node_ddl_approval, context.c) goes through.  The guard
 * cannot be removed without the guard's consent: dropping, altering or
 * renaming the generated policies is what it refuses.
 */

/* relid is on a Citus worker, or a shard Citus knows on this node */
static bool
citus_copy_relation(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);

	if (mt_citus_worker_node())
		return true;
	return mt_spi_exists("SELECT 1 WHERE pg_catalog.relation_is_a_known_shard($1::pg_catalog.regclass)",
						 1, (Oid[]) {OIDOID}, &arg);
}

/* a placement or worker copy of an isolated Citus table (above)? */
static bool
citus_isolated_copy(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);

	if (!mt_citus_loaded() || !OidIsValid(get_extension_oid("citus", true)))
		return false;
	if (!mt_spi_exists("SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = $1 "
					   "AND polname IN ('" POLICY_RESTRICTIVE "', '" POLICY_PERMISSIVE "')",
					   1, (Oid[]) {OIDOID}, &arg))
		return false;
	return citus_copy_relation(relid);
}

/*
 * Refuse "what" on the relation rv names when it is isolated (registry) or
 * a placement or worker copy of an isolated Citus table that no approval
 * of the coordinator covers.
 */
static void
guard_relation(RangeVar *rv, const char *what)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);	/* caller's path */
	int			nest;
	bool		isolated;
	bool		copy = false;

	if (!OidIsValid(relid))
		return;
	nest = mt_enter_safe_search_path();
	isolated = isolated_column(relid) != NULL;
	if (!isolated)
		copy = citus_isolated_copy(relid);
	mt_leave_safe_search_path(nest);
	if (isolated)
		guard_refuse(relid, what);
	if (copy && !mt_node_ddl_approved())
		guard_refuse_citus(relid, what);
}

/*
 * ddl_command_start: refuse DISABLE / NO FORCE ROW LEVEL SECURITY and
 * DROP / ALTER / RENAME of the generated policies on isolated tables, for
 * every role, unless our own functions are running or a superuser turned
 * on multitenant.allow_unsafe_ddl; and on the placements and worker copies
 * of isolated Citus tables, unless the coordinator sanctioned it.
 */
PG_FUNCTION_INFO_V1(mt_ddl_guard);
Datum
mt_ddl_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *parsetree;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.ddl_guard() must be called as an event trigger")));
	if (isolation_ddl_depth > 0 || mt_allow_unsafe_ddl)
		PG_RETURN_VOID();

	trigdata = (EventTriggerData *) fcinfo->context;
	parsetree = trigdata->parsetree;

	mt_spi_connect();
	if (IsA(parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
		ListCell   *lc;

		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst(lc);

			if (cmd->subtype == AT_DisableRowSecurity)
				guard_relation(stmt->relation, "disable row level security");
			else if (cmd->subtype == AT_NoForceRowSecurity)
				guard_relation(stmt->relation, "stop forcing row level security");
		}
	}
	else if (IsA(parsetree, DropStmt) && ((DropStmt *) parsetree)->removeType == OBJECT_POLICY)
	{
		ListCell   *lc;

		foreach(lc, ((DropStmt *) parsetree)->objects)
		{
			List	   *names = lfirst(lc);
			char	   *policy = strVal(llast(names));

			if (!is_generated_policy(policy))
				continue;
			guard_relation(makeRangeVarFromNameList(list_truncate(list_copy(names),
																  list_length(names) - 1)),
						   "drop a generated tenant policy");
		}
	}
	else if (IsA(parsetree, AlterPolicyStmt))
	{
		AlterPolicyStmt *stmt = (AlterPolicyStmt *) parsetree;

		if (is_generated_policy(stmt->policy_name))
			guard_relation(stmt->table, "alter a generated tenant policy");
	}
	else if (IsA(parsetree, RenameStmt) && ((RenameStmt *) parsetree)->renameType == OBJECT_POLICY)
	{
		RenameStmt *stmt = (RenameStmt *) parsetree;

		if (is_generated_policy(stmt->subname))
			guard_relation(stmt->relation, "rename a generated tenant policy");
	}
	mt_spi_finish();
	PG_RETURN_VOID();
}

/*
 * Would the guard check this statement (above, and the drop of a generated
 * policy with the column it uses in mt_ddl_forget_dropped)?
 */
static bool
weakening_stmt(Node *n)
{
	ListCell   *lc;

	if (IsA(n, AlterTableStmt))
	{
		foreach(lc, ((AlterTableStmt *) n)->cmds)
		{
			AlterTableCmd *cmd = lfirst(lc);

			if (cmd->subtype == AT_DisableRowSecurity || cmd->subtype == AT_NoForceRowSecurity ||
				(cmd->subtype == AT_DropColumn && cmd->behavior == DROP_CASCADE))
				return true;
		}
		return false;
	}
	if (IsA(n, DropStmt) && ((DropStmt *) n)->removeType == OBJECT_POLICY)
	{
		foreach(lc, ((DropStmt *) n)->objects)
			if (is_generated_policy(strVal(llast((List *) lfirst(lc)))))
				return true;
		return false;
	}
	if (IsA(n, AlterPolicyStmt))
		return is_generated_policy(((AlterPolicyStmt *) n)->policy_name);
	if (IsA(n, RenameStmt) && ((RenameStmt *) n)->renameType == OBJECT_POLICY)
		return is_generated_policy(((RenameStmt *) n)->subname);
	return false;
}

/*
 * ProcessUtility (multitenant.c), before a utility statement: when this
 * node sanctions a statement that weakens isolation (our own functions are
 * running it, or a superuser turned on multitenant.allow_unsafe_ddl) and
 * it is a Citus coordinator, hand the workers of the transaction an
 * approval before Citus propagates the statement to the placements.
 * Returns what to pass to mt_isolation_sanction_end() after it.  One test
 * of two backend-local variables for every other statement.
 */
bool
mt_isolation_sanction_begin(Node *stmt)
{
	if (isolation_ddl_depth == 0 && !mt_allow_unsafe_ddl)
		return false;
	if (stmt == NULL || !mt_citus_loaded() || !weakening_stmt(stmt) || mt_citus_worker_node())
		return false;
	return mt_citus_pass_ddl_approval(true);
}

/* after the statement: the approval ends with it (citus.c) */
void
mt_isolation_sanction_end(bool passed)
{
	if (passed)
		(void) mt_citus_pass_ddl_approval(false);
}

/* tenant column of the nearest isolated ancestor of relid, or NULL */
static char *
isolated_ancestor_column(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	bool		isnull;
	Datum		d;

	d = mt_spi_value("WITH RECURSIVE up(rel) AS ("
					 "  SELECT inhparent FROM pg_catalog.pg_inherits WHERE inhrelid = $1"
					 "  UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid = up.rel)"
					 "SELECT t.tenant_column::text FROM up JOIN mt.isolated_tables t ON t.tbl = up.rel LIMIT 1",
					 1, (Oid[]) {OIDOID}, &arg, false, &isnull);
	return isnull ? NULL : TextDatumGetCString(d);
}

/* tenant column when relid's schema is auto-isolated and relid has it */
static char *
auto_isolate_column(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	bool		isnull;
	Datum		d;

	/* by exact name: a ::regnamespace cast would fold "Billing" to billing */
	d = mt_spi_value("SELECT a.tenant_column::text FROM mt.auto_isolate_schemas a "
					 "JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) a.schema_name "
					 "JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid "
					 "JOIN pg_catalog.pg_attribute att ON att.attrelid = c.oid "
					 "  AND att.attname = a.tenant_column AND NOT att.attisdropped "
					 "WHERE c.oid = $1",
					 1, (Oid[]) {OIDOID}, &arg, false, &isnull);
	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * An isolated table must not sit below a parent that is not isolated:
 * reading the parent would return every tenant's rows of the child
 * (ALTER TABLE ... INHERIT, ATTACH PARTITION to a non-isolated table).
 */
static void
check_parents_isolated(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	bool		isnull;
	Datum		d;

	d = mt_spi_value("SELECT pg_catalog.format('%s under %s', h.inhrelid::regclass, h.inhparent::regclass) "
					 "FROM pg_catalog.pg_inherits h "
					 "WHERE (h.inhrelid = $1 OR h.inhparent = $1) "
					 "AND EXISTS (SELECT 1 FROM mt.isolated_tables c WHERE c.tbl = h.inhrelid) "
					 "AND NOT EXISTS (SELECT 1 FROM mt.isolated_tables p WHERE p.tbl = h.inhparent) LIMIT 1",
					 1, (Oid[]) {OIDOID}, &arg, false, &isnull);
	if (!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot place an isolated table below a table that is not isolated (%s)",
						TextDatumGetCString(d)),
				 errdetail("Reading the parent would return every tenant's rows of the isolated table."),
				 errhint("Isolate the parent with mt.enable_isolation() first.")));
}

/*
 * The same for the placements and worker copies of isolated Citus tables
 * (see "Citus placements and worker copies"): a relation carrying a
 * generated policy on a Citus worker must not sit below a parent that does
 * not confine its rows the same way (row level security enabled and
 * forced, the restrictive generated policy with the child's expression),
 * unless the coordinator sanctioned it.  Citus attaches the placements of
 * a partition to those of its isolated parent: those do.  SPI connected,
 * safe search_path.
 */
static void
check_parents_of_citus_copy(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	List	   *children = NIL;
	List	   *parents = NIL;
	List	   *quals = NIL;
	ListCell   *lc1,
			   *lc2,
			   *lc3;

	if (!mt_citus_loaded() || !OidIsValid(get_extension_oid("citus", true)) ||
		mt_node_ddl_approved())
		return;
	mt_spi_execute("SELECT h.inhrelid, h.inhparent, "
				   "  (SELECT pg_catalog.pg_get_expr(p.polqual, p.polrelid) FROM pg_catalog.pg_policy p "
				   "   WHERE p.polrelid = h.inhrelid AND p.polname IN ('" POLICY_RESTRICTIVE "', '"
				   POLICY_PERMISSIVE "') ORDER BY p.polname DESC LIMIT 1) "
				   "FROM pg_catalog.pg_inherits h "
				   "WHERE (h.inhrelid = $1 OR h.inhparent = $1) "
				   "AND EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = h.inhrelid "
				   "  AND p.polname IN ('" POLICY_RESTRICTIVE "', '" POLICY_PERMISSIVE "')) "
				   "AND NOT EXISTS (SELECT 1 FROM mt.isolated_tables i WHERE i.tbl = h.inhparent)",
				   1, (Oid[]) {OIDOID}, &arg, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		q;

		children = lappend_oid(children, DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull)));
		parents = lappend_oid(parents, DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull)));
		q = SPI_getbinval(tup, desc, 3, &isnull);
		quals = lappend(quals, isnull ? NULL : TextDatumGetCString(q));
	}
	forthree(lc1, children, lc2, parents, lc3, quals)
	{
		Oid			child = lfirst_oid(lc1);
		Oid			parent = lfirst_oid(lc2);
		const char *qual = lfirst(lc3);
		HeapTuple	tup;
		bool		confines = false;

		if (!citus_copy_relation(child))
			continue;
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(parent));
		if (HeapTupleIsValid(tup))
		{
			Form_pg_class rel = (Form_pg_class) GETSTRUCT(tup);

			confines = rel->relrowsecurity && rel->relforcerowsecurity;
			ReleaseSysCache(tup);
		}
		if (confines && qual != NULL &&
			policy_intact(parent, POLICY_RESTRICTIVE, false, qual))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot place an isolated table below a table that is not isolated (%s under %s)",
						mt_relation_name(child), mt_relation_name(parent)),
				 errdetail("%s is a placement or a worker's copy of a Citus table isolated on the coordinator; reading the parent would return every tenant's rows of it.",
						   mt_relation_name(child)),
				 errhint("Change tenant isolation on the Citus coordinator.")));
	}
}

/* the registration of an auto-isolated schema follows ALTER SCHEMA RENAME */
static void
follow_schema_rename(const char *oldname, const char *newname)
{
	int			nest;
	Datum		args[2] = {CStringGetTextDatum(oldname), CStringGetTextDatum(newname)};

	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	mt_catalog_execute("UPDATE mt.auto_isolate_schemas SET schema_name = $2 "
					   "WHERE schema_name OPERATOR(pg_catalog.=) $1",
					   2, (Oid[]) {TEXTOID, TEXTOID}, args, NULL);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
}

/*
 * ddl_command_end: new partitions/children of isolated tables (CREATE
 * TABLE ... PARTITION OF / INHERITS, ATTACH PARTITION, ALTER ... INHERIT)
 * and new tables in auto-isolated schemas become isolated.
 */
PG_FUNCTION_INFO_V1(mt_ddl_isolate_new);
Datum
mt_ddl_isolate_new(PG_FUNCTION_ARGS)
{
	int			nest;
	List	   *relids = NIL;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.ddl_isolate_new() must be called as an event trigger")));
	/* ALTER SCHEMA ... RENAME: an auto-isolated schema keeps its registration */
	if (IsA(((EventTriggerData *) fcinfo->context)->parsetree, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) ((EventTriggerData *) fcinfo->context)->parsetree;

		if (stmt->renameType == OBJECT_SCHEMA)
			follow_schema_rename(stmt->subname, stmt->newname);
		PG_RETURN_VOID();
	}

	/* our own DDL, or a superuser deliberately working around isolation */
	if (isolation_ddl_depth > 0 || mt_allow_unsafe_ddl)
		PG_RETURN_VOID();

	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	mt_spi_execute("SELECT DISTINCT objid FROM pg_catalog.pg_event_trigger_ddl_commands() "
				   "WHERE classid = 'pg_catalog.pg_class'::regclass AND object_type = 'table'",
				   0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			relids = lappend_oid(relids, DatumGetObjectId(d));
	}

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		char	   *column;
		char		relkind = get_rel_relkind(relid);

		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
			continue;			/* dropped again, or not a table */
		check_parents_isolated(relid);
		check_parents_of_citus_copy(relid);
		if ((column = isolated_column(relid)) != NULL)
		{
			/* an isolated table: only children it gained are new */
			List	   *all = find_all_inheritors(relid, AccessShareLock, NULL);
			ListCell   *lc2;

			foreach(lc2, all)
			{
				Oid			child = lfirst_oid(lc2);

				if (isolated_column(child) == NULL)
					isolate_tree(child, column);
			}
		}
		else if ((column = isolated_ancestor_column(relid)) != NULL ||
				 (column = auto_isolate_column(relid)) != NULL)
			isolate_tree(relid, column);
	}
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_VOID();
}

/* sql_drop: forget dropped tables */
PG_FUNCTION_INFO_V1(mt_ddl_forget_dropped);
Datum
mt_ddl_forget_dropped(PG_FUNCTION_ARGS)
{
	int			nest;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.ddl_forget_dropped() must be called as an event trigger")));
	/* DROP EXTENSION removes the catalog itself */
	if (!OidIsValid(get_namespace_oid("mt", true)) ||
		!OidIsValid(get_relname_relid("isolated_tables", get_namespace_oid("mt", true))))
		PG_RETURN_VOID();
	mt_spi_connect();
	nest = mt_enter_safe_search_path();

	/*
	 * A generated policy may only disappear with its table (or through our
	 * own functions): this catches DROP POLICY after a name swap, DROP
	 * COLUMN ... CASCADE, and anything else that cascades to a policy.
	 */
	if (isolation_ddl_depth == 0 && !mt_allow_unsafe_ddl)
	{
		bool		isnull;
		Datum		d;

		d = mt_spi_value("SELECT i.tbl::oid FROM pg_catalog.pg_event_trigger_dropped_objects() p "
						 "JOIN mt.isolated_tables i ON i.tbl::oid = "
						 "  pg_catalog.to_regclass(pg_catalog.quote_ident(p.address_names[1]) || '.' "
						 "                         || pg_catalog.quote_ident(p.address_names[2]))::oid "
						 "WHERE p.object_type = 'policy' AND p.address_names[3] IN ('"
						 POLICY_RESTRICTIVE "', '" POLICY_PERMISSIVE "') "
						 "AND i.tbl::oid NOT IN (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() "
						 "  WHERE classid = 'pg_catalog.pg_class'::regclass AND objsubid = 0) LIMIT 1",
						 0, NULL, NULL, false, &isnull);
		if (!isnull)
			guard_refuse(DatumGetObjectId(d), "drop a generated tenant policy");
		/* the same on a placement or worker copy of an isolated Citus table */
		if (mt_citus_loaded() && OidIsValid(get_extension_oid("citus", true)) &&
			!mt_node_ddl_approved())
		{
			List	   *rels = NIL;
			ListCell   *lc;

			mt_spi_execute("SELECT d.r FROM (SELECT pg_catalog.to_regclass("
						   "  pg_catalog.quote_ident(p.address_names[1]) || '.' "
						   "  || pg_catalog.quote_ident(p.address_names[2]))::oid AS r "
						   "  FROM pg_catalog.pg_event_trigger_dropped_objects() p "
						   "  WHERE p.object_type = 'policy' AND p.address_names[3] IN ('"
						   POLICY_RESTRICTIVE "', '" POLICY_PERMISSIVE "')) d "
						   "WHERE d.r IS NOT NULL "
						   "AND d.r NOT IN (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() "
						   "  WHERE classid = 'pg_catalog.pg_class'::regclass AND objsubid = 0) "
						   "AND d.r NOT IN (SELECT tbl::oid FROM mt.isolated_tables)",
						   0, NULL, NULL, SPI_OK_SELECT);
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				bool		rnull;
				Datum		r = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &rnull);

				if (!rnull)
					rels = lappend_oid(rels, DatumGetObjectId(r));
			}
			foreach(lc, rels)
			{
				if (citus_copy_relation(lfirst_oid(lc)))
					guard_refuse_citus(lfirst_oid(lc), "drop a generated tenant policy");
			}
		}
	}

	mt_catalog_execute("DELETE FROM mt.isolated_tables WHERE tbl::oid IN ("
					"SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() "
					"WHERE classid = 'pg_catalog.pg_class'::regclass AND objsubid = 0)",
					0, NULL, NULL, NULL);
	/* a dropped schema is no longer auto-isolated (a new one of that name is not) */
	mt_catalog_execute("DELETE FROM mt.auto_isolate_schemas WHERE schema_name IN ("
					   "SELECT object_name FROM pg_catalog.pg_event_trigger_dropped_objects() "
					   "WHERE classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass)",
					   0, NULL, NULL, NULL);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * mt.isolation_status(): one row per table with a tenant column and per
 * view / materialized view over an isolated table, with lints.
 * --------------------------------------------------------------------- */
static const char *const isolation_status_sql =
"WITH ext AS ("
"  SELECT d.objid FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid"
"  WHERE e.extname = 'multitenant' AND d.refclassid = 'pg_catalog.pg_extension'::regclass"
"    AND d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'e'),"
" iso AS (SELECT tbl::oid AS relid, tenant_column FROM mt.isolated_tables),"
" tabs AS ("
"  SELECT c.oid, c.relkind, c.relrowsecurity, c.relforcerowsecurity,"
"         coalesce(i.tenant_column, 'tenant_id'::name) AS col, i.relid IS NOT NULL AS isolated"
"  FROM pg_catalog.pg_class c LEFT JOIN iso i ON i.relid = c.oid"
"  WHERE c.relkind IN ('r', 'p')"
"    AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)"
"    AND c.relnamespace::regnamespace::text !~ '^pg_(toast|temp_)'"
"    AND c.oid NOT IN (SELECT objid FROM ext)"
"    AND (i.relid IS NOT NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
"         WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))),"
" tabs2 AS ("
"  SELECT t.*, a.attnum,"
"    (SELECT count(*) = 2 FROM pg_catalog.pg_policy p WHERE p.polrelid = t.oid AND p.polcmd = '*'"
"       AND p.polroles = '{0}'"
"       AND ((p.polname = '" POLICY_RESTRICTIVE "' AND NOT p.polpermissive)"
"         OR (p.polname = '" POLICY_PERMISSIVE "' AND p.polpermissive))"
"       AND pg_catalog.pg_get_expr(p.polqual, p.polrelid) = pg_catalog.format('(%I = mt.current_tenant())', t.col)"
"       AND pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) = pg_catalog.format('(%I = mt.current_tenant())', t.col)"
"    ) AS policies_ok,"
"    EXISTS (SELECT 1 FROM pg_catalog.pg_index x WHERE x.indrelid = t.oid AND x.indkey[0] = a.attnum"
"            AND x.indpred IS NULL) AS tenant_index"
"  FROM tabs t LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attname = t.col"
"    AND NOT a.attisdropped)"
"SELECT t.oid::regclass, CASE t.relkind WHEN 'p' THEN 'partitioned table' ELSE 'table' END,"
"  t.col, t.isolated, t.relrowsecurity, t.relforcerowsecurity, t.policies_ok, t.tenant_index,"
"  pg_catalog.array_remove(ARRAY["
"    CASE WHEN NOT t.isolated THEN 'has a tenant column but is not isolated' END,"
"    CASE WHEN t.isolated AND NOT t.relrowsecurity THEN 'row level security is disabled' END,"
"    CASE WHEN t.isolated AND NOT t.relforcerowsecurity THEN 'row level security is not forced (the owner bypasses it)' END,"
"    CASE WHEN t.isolated AND NOT t.policies_ok THEN 'generated tenant policies are missing or altered' END,"
"    CASE WHEN NOT t.tenant_index THEN 'no index is led by the tenant column' END]"
"    || ARRAY(SELECT pg_catalog.format('unique index %s does not include the tenant column (reveals values across tenants)',"
"                    x.indexrelid::regclass)"
"             FROM pg_catalog.pg_index x WHERE x.indrelid = t.oid AND x.indisunique"
"               AND t.isolated AND NOT (t.attnum = ANY (x.indkey::int2[])) ORDER BY 1)"
"    || ARRAY(SELECT pg_catalog.format('subject column %I (mt.register_subject) has no index led by it or by (%I, %I): export and erasure scan the table',"
"                    s.subject_column, t.col, s.subject_column)"
"             FROM mt.subject_tables s JOIN pg_catalog.pg_attribute sa ON sa.attrelid = t.oid"
"               AND sa.attname = s.subject_column AND NOT sa.attisdropped"
"             WHERE s.tbl::oid = t.oid AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index x"
"               WHERE x.indrelid = t.oid AND x.indpred IS NULL AND (x.indkey[0] = sa.attnum"
"                 OR (x.indkey[0] = t.attnum AND x.indkey[1] = sa.attnum))) ORDER BY 1)"
"    , NULL)"
" FROM tabs2 t "
"UNION ALL "
"SELECT v.oid::regclass, CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,"
"  NULL::name, NULL::bool, NULL::bool, NULL::bool, NULL::bool, NULL::bool,"
"  pg_catalog.array_remove(ARRAY["
"    CASE WHEN v.relkind = 'm' THEN pg_catalog.format("
"      'materialized view over isolated table %s stores every tenant''s rows without row level security', u.tbls) END,"
"    CASE WHEN v.relkind = 'v' AND (r.rolsuper OR r.rolbypassrls)"
"      AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(v.reloptions) o"
"                      WHERE lower(o) IN ('security_invoker=true', 'security_invoker=on', 'security_invoker=1', 'security_invoker=yes'))"
"      THEN pg_catalog.format('view over isolated table %s runs as its owner %I, who bypasses row level security (set security_invoker = true)',"
"                             u.tbls, r.rolname) END], NULL)"
" FROM (SELECT rw.ev_class, pg_catalog.string_agg(DISTINCT d.refobjid::regclass::text, ', ') AS tbls"
"       FROM pg_catalog.pg_rewrite rw"
"       JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = rw.oid"
"         AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> rw.ev_class"
"       JOIN iso ON iso.relid = d.refobjid"
"       GROUP BY rw.ev_class) u"
" JOIN pg_catalog.pg_class v ON v.oid = u.ev_class AND v.relkind IN ('v', 'm')"
" JOIN pg_catalog.pg_roles r ON r.oid = v.relowner "
"ORDER BY 1";

/*
 * The issues of every placement and worker copy of Citus table $1 with
 * tenant column $2, appended to $3 (the coordinator's own issues), NULL
 * when there are none; and whether a placement's policies are not right
 * (or a node could not be asked).  Each node checks its own relations with
 * mt.placement_isolation_issues(), called through Citus'
 * master_run_on_worker (its own connections: committed state).  A node
 * that cannot be asked is an issue too.
 */
static const char *const placement_issues_sql =
"SELECT CASE WHEN pg_catalog.count(*) > 0 THEN"
"  $3 || pg_catalog.array_agg(pg_catalog.format('%s %s on %s:%s: %s',"
"         a.kinds[r.ord], a.rels[r.ord], r.node_name, r.node_port, i.issue) ORDER BY r.ord, i.issue) END,"
"  pg_catalog.bool_or(NOT r.success OR i.issue = 'generated tenant policies are missing or altered')"
" FROM (SELECT pg_catalog.array_agg(t.nodename ORDER BY t.kind, t.rel, t.nodeport) AS names,"
"              pg_catalog.array_agg(t.nodeport ORDER BY t.kind, t.rel, t.nodeport) AS ports,"
"              pg_catalog.array_agg(t.rel ORDER BY t.kind, t.rel, t.nodeport) AS rels,"
"              pg_catalog.array_agg(t.kind ORDER BY t.kind, t.rel, t.nodeport) AS kinds,"
"              pg_catalog.array_agg(pg_catalog.format("
"                'SELECT pg_catalog.array_to_string(mt.placement_isolation_issues(%L, %L), %L)',"
"                t.rel, $2, E'\n') ORDER BY t.kind, t.rel, t.nodeport) AS cmds"
"       FROM (SELECT 'placement' AS kind, n.nodename, n.nodeport,"
"                    pg_catalog.shard_name(s.logicalrelid, s.shardid, false) AS rel"
"             FROM pg_catalog.pg_dist_shard s"
"             JOIN pg_catalog.pg_dist_placement p ON p.shardid = s.shardid"
"             JOIN pg_catalog.pg_dist_node n ON n.groupid = p.groupid"
"             WHERE s.logicalrelid = $1::pg_catalog.regclass AND n.isactive AND n.noderole = 'primary'"
"             UNION ALL"
"             SELECT 'worker copy', n.nodename, n.nodeport, $1::pg_catalog.regclass::text"
"             FROM pg_catalog.pg_dist_node n"
"             WHERE n.hasmetadata AND n.groupid <> 0 AND n.isactive AND n.noderole = 'primary') t"
"       HAVING pg_catalog.count(*) > 0) a"
" CROSS JOIN LATERAL pg_catalog.master_run_on_worker(a.names, a.ports, a.cmds, true)"
"   WITH ORDINALITY r(node_name, node_port, success, result, ord)"
" CROSS JOIN LATERAL pg_catalog.unnest(CASE WHEN r.success"
"   THEN pg_catalog.string_to_array(NULLIF(r.result, ''), E'\n')"
"   ELSE ARRAY['cannot be checked: ' || r.result] END) i(issue)";

/*
 * The lints of tenant schemas ($1 their oids, $2 their tenants, in the same
 * order): one row per table of a tenant schema (isolated: true, the
 * schema's tenant binds it; forced row-level security,
 * both generated policies bound to the schema's tenant, no grant to
 * PUBLIC, no CREATE for PUBLIC on the schema), and per view with an issue:
 * a view in a tenant schema that reads relations of another schema, a
 * materialized view over a tenant-schema table, a view over one that runs
 * as an owner who bypasses row-level security.
 */
static const char *const tenant_schema_status_sql =
"WITH ts AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.oid[]), pg_catalog.unnest($2::pg_catalog.uuid[])) AS u(nsp, tenant)),"
" t AS ("
"  SELECT c.oid, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.relacl, c.relnamespace, ts.tenant,"
"    (SELECT count(*) = 2 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid AND p.polcmd = '*'"
"       AND p.polroles = '{0}'"
"       AND ((p.polname = 'mt_schema_isolation' AND NOT p.polpermissive)"
"         OR (p.polname = 'mt_schema_access' AND p.polpermissive))"
"       AND pg_catalog.pg_get_expr(p.polqual, p.polrelid) = pg_catalog.format('(mt.current_tenant() = %L::uuid)', ts.tenant)"
"       AND pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) = pg_catalog.format('(mt.current_tenant() = %L::uuid)', ts.tenant)"
"    ) AS policies_ok"
"  FROM pg_catalog.pg_class c JOIN ts ON ts.nsp = c.relnamespace WHERE c.relkind IN ('r', 'p')),"
" refs AS ("
"  SELECT DISTINCT rw.ev_class AS view, d.refobjid AS rel, r.relnamespace AS nsp"
"  FROM pg_catalog.pg_rewrite rw"
"  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = rw.oid"
"    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> rw.ev_class"
"  JOIN pg_catalog.pg_class r ON r.oid = d.refobjid)"
"SELECT t.oid::pg_catalog.regclass, 'tenant schema table', NULL::name,"
"  true, t.relrowsecurity, t.relforcerowsecurity,"
"  t.policies_ok, NULL::bool,"
"  pg_catalog.array_remove(ARRAY["
"    CASE WHEN NOT t.relrowsecurity THEN 'row level security is disabled' END,"
"    CASE WHEN NOT t.relforcerowsecurity THEN 'row level security is not forced (the owner bypasses it)' END,"
"    CASE WHEN NOT t.policies_ok THEN pg_catalog.format("
"      'generated policies binding the table to tenant %s are missing or altered', t.tenant) END,"
"    CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.aclexplode(t.relacl) g WHERE g.grantee = 0)"
"      THEN 'privileges granted to PUBLIC (every role may try it: only the policies stand between)' END,"
"    CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) g"
"                      WHERE n.oid = t.relnamespace AND g.grantee = 0 AND g.privilege_type = 'CREATE')"
"      THEN 'its tenant schema grants CREATE to PUBLIC (any role can add functions or views that mt.use_tenant_schema() puts on the tenant''s path)' END],"
"    NULL)"
" FROM t "
"UNION ALL "
"SELECT * FROM ("
" SELECT v.oid::pg_catalog.regclass, CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,"
"  NULL::name, NULL::bool, NULL::bool, NULL::bool, NULL::bool, NULL::bool,"
"  pg_catalog.array_remove(ARRAY["
"    (SELECT pg_catalog.format('view in a tenant schema reads across schemas: %s',"
"            pg_catalog.string_agg(f.rel::pg_catalog.regclass::text, ', ' ORDER BY f.rel::pg_catalog.regclass::text))"
"     FROM refs f WHERE f.view = v.oid AND f.nsp <> v.relnamespace"
"       AND f.nsp <> 'pg_catalog'::pg_catalog.regnamespace"
"       AND v.relnamespace IN (SELECT nsp FROM ts) HAVING pg_catalog.count(*) > 0),"
"    (SELECT pg_catalog.format('materialized view over tenant schema table %s stores the tenant''s rows without row level security',"
"            pg_catalog.string_agg(f.rel::pg_catalog.regclass::text, ', ' ORDER BY f.rel::pg_catalog.regclass::text))"
"     FROM refs f WHERE f.view = v.oid AND v.relkind = 'm' AND f.nsp IN (SELECT nsp FROM ts) HAVING pg_catalog.count(*) > 0),"
"    (SELECT pg_catalog.format('view over tenant schema table %s runs as its owner %I, who bypasses row level security (set security_invoker = true)',"
"            pg_catalog.string_agg(f.rel::pg_catalog.regclass::text, ', ' ORDER BY f.rel::pg_catalog.regclass::text), o.rolname)"
"     FROM refs f WHERE f.view = v.oid AND v.relkind = 'v' AND f.nsp IN (SELECT nsp FROM ts)"
"       AND (o.rolsuper OR o.rolbypassrls)"
"       AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(v.reloptions) x"
"                       WHERE lower(x) IN ('security_invoker=true', 'security_invoker=on', 'security_invoker=1', 'security_invoker=yes'))"
"     HAVING pg_catalog.count(*) > 0)], NULL) AS issues"
" FROM pg_catalog.pg_class v JOIN pg_catalog.pg_roles o ON o.oid = v.relowner"
" WHERE v.relkind IN ('v', 'm') AND v.oid IN (SELECT view FROM refs)"
") views WHERE pg_catalog.cardinality(views.issues) > 0 "
"ORDER BY 1";

PG_FUNCTION_INFO_V1(mt_isolation_status);
Datum
mt_isolation_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcxt;
	int			nest;
	SPITupleTable *tuptable;
	uint64		nrows;
	bool		citus = OidIsValid(get_extension_oid("citus", true));
	Datum		ts_args[2];
	bool		no_tenant_schemas = true;
	Datum	   *ts_nsps = NULL;
	int			n_ts = 0;

	InitMaterializedSRF(fcinfo, 0);
	mt_spi_connect();
	/* the caller's search_path must not choose the query's operators */
	nest = mt_enter_safe_search_path();

	/*
	 * Tenant schemas (placement registry, read as the extension owner: its
	 * row-level security would hide them from a caller without a context);
	 * none before the registry exists (a library newer than the SQL).
	 */
	if (OidIsValid(mt_catalog_relid("tenant_placements")))
	{
		mt_catalog_execute("SELECT pg_catalog.array_agg(n.oid ORDER BY n.oid), "
						   "  pg_catalog.array_agg(p.tenant_id ORDER BY n.oid) "
						   "FROM mt.tenant_placements p JOIN pg_catalog.pg_namespace n "
						   "  ON n.nspname OPERATOR(pg_catalog.=) p.schema_name "
						   "WHERE p.level OPERATOR(pg_catalog.=) 'schema'",
						   0, NULL, NULL, NULL);
		ts_args[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &no_tenant_schemas);
		ts_args[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &no_tenant_schemas);
		if (!no_tenant_schemas)
		{
			ArrayType  *a = DatumGetArrayTypeP(ts_args[0]);

			deconstruct_array(a, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &ts_nsps, NULL, &n_ts);
		}
	}

	/* read-only: the function is declared STABLE */
	mt_spi_select(isolation_status_sql, 0, NULL, NULL, NULL);
	/* the rows stay valid until SPI_finish, through the queries below */
	tuptable = SPI_tuptable;
	nrows = SPI_processed;
	for (uint64 i = 0; i < nrows; i++)
	{
		Datum		values[9];
		bool		nulls[9];

		heap_deform_tuple(tuptable->vals[i], tuptable->tupdesc, values, nulls);

		/* a table of a tenant schema is linted below, not for a tenant column */
		if (n_ts > 0 && !DatumGetBool(values[3]))
		{
			Oid			nsp = get_rel_namespace(DatumGetObjectId(values[0]));
			bool		in_ts = false;

			for (int j = 0; j < n_ts && !in_ts; j++)
				in_ts = DatumGetObjectId(ts_nsps[j]) == nsp;
			if (in_ts)
				continue;
		}

		/* an isolated Citus table: its placements and worker copies too */
		if (citus && !nulls[3] && DatumGetBool(values[3]) &&
			citus_table(DatumGetObjectId(values[0]), NULL))
		{
			Datum		args[3] = {values[0], values[2], values[8]};
			bool		isnull;
			Datum		d;

			mt_spi_select(placement_issues_sql, 3,
						  (Oid[]) {OIDOID, NAMEOID, TEXTARRAYOID}, args, NULL);
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
				values[8] = d;
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			if (!isnull && DatumGetBool(d))
				values[6] = BoolGetDatum(false);
		}
		oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(oldcxt);
	}
	if (!no_tenant_schemas)
	{
		mt_spi_select(tenant_schema_status_sql, 2, (Oid[]) {OIDARRAYOID, UUIDARRAYOID}, ts_args, NULL);
		tuptable = SPI_tuptable;
		nrows = SPI_processed;
		for (uint64 i = 0; i < nrows; i++)
		{
			Datum		values[9];
			bool		nulls[9];

			heap_deform_tuple(tuptable->vals[i], tuptable->tupdesc, values, nulls);
			oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			MemoryContextSwitchTo(oldcxt);
		}
	}
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	return (Datum) 0;
}

/*
 * mt.placement_isolation_issues(tbl, tenant_column): this node's relation
 * tbl (a placement of an isolated Citus table, or a worker's copy of it)
 * has row level security enabled and forced and both generated policies
 * exactly as mt.enable_isolation makes them; the lints of what is not, as
 * mt.isolation_status() words them (an empty array when all is well).
 * Reads only catalogs every role can read.
 */
PG_FUNCTION_INFO_V1(mt_placement_isolation_issues);
Datum
mt_placement_isolation_issues(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *column;
	HeapTuple	tup;
	bool		rls,
				forced;
	int			nest;
	bool		intact;
	StringInfoData expected;
	Datum		issues[3];
	int			n = 0;

	mt_require_args(fcinfo, 2, "table and tenant column");
	relid = PG_GETARG_OID(0);
	column = NameStr(*PG_GETARG_NAME(1));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	rls = ((Form_pg_class) GETSTRUCT(tup))->relrowsecurity;
	forced = ((Form_pg_class) GETSTRUCT(tup))->relforcerowsecurity;
	ReleaseSysCache(tup);

	initStringInfo(&expected);
	appendStringInfo(&expected, "(%s = mt.current_tenant())", quote_identifier(column));
	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	intact = policy_intact(relid, POLICY_RESTRICTIVE, false, expected.data) &&
		policy_intact(relid, POLICY_PERMISSIVE, true, expected.data);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();

	if (!rls)
		issues[n++] = CStringGetTextDatum("row level security is disabled");
	if (!forced)
		issues[n++] = CStringGetTextDatum("row level security is not forced (the owner bypasses it)");
	if (!intact)
		issues[n++] = CStringGetTextDatum("generated tenant policies are missing or altered");
	PG_RETURN_ARRAYTYPE_P(construct_array(issues, n, TEXTOID, -1, false, TYPALIGN_INT));
}
