/*-------------------------------------------------------------------------
 *
 * tenant_move.c
 *	  mt.move_tenant(tenant, to_level, target): moves a tenant between the
 *	  shared level (rows of the shared, isolated tables) and the schema
 *	  level (its own schema cloned from a template) inside one database, in
 *	  the caller's transaction: the rows of every isolated table go into
 *	  the table of the same name of the other level (columns mapped by
 *	  name, ids kept, sequences advanced past them) and are deleted where
 *	  they were, the placement switches (mt.provision_schema; back to
 *	  shared: the tenant schema's tables, sequences and schema dropped as
 *	  the extension's own DDL), and tenant.moved is appended to the
 *	  tenant's audit chain.  Tokens and API keys name the tenant, not its
 *	  level: they keep working.  On Citus, to_level shard gives a shared
 *	  tenant its own shard group (isolate_tenant_to_new_shard per
 *	  co-location group, citus_move_shard_placement to a target node) and
 *	  records the level and node; the rows stay in their tables and Citus'
 *	  own locks block writes to the shards it copies.
 *
 * Concurrency (move_gate.c): after every check and, to shared -> schema,
 * after provisioning the schema, the move closes the tenant's gate and
 * waits for every transaction that was running; the tenant's later
 * transactions wait for the move's transaction to end.  The rows are then
 * copied and deleted by statements that each take a new snapshot (READ
 * COMMITTED is required: a transaction snapshot would predate the writes
 * the move waited for).  Other tenants are never held.
 *
 * Who runs what: EXECUTE is revoked from PUBLIC (the migration role).
 * The data statements run as the caller (it needs SELECT and DELETE on
 * the tables it moves from, INSERT on those it moves to) in a
 * security-restricted operation inside the tenant's maintenance context
 * (spi_util.c mt_role_execute), with session_replication_role = replica
 * (no foreign-key triggers and no user triggers enabled the default way
 * fire, as in mt.import_tenant); the registry and the audit chain are
 * written as the extension owner.  What those statements still run with
 * the caller's rights (the defaults, CHECK constraints, index expressions
 * and policies of the tables, their triggers enabled ALWAYS or REPLICA,
 * the functions and domains these use) must belong to roles that have
 * the caller's privileges (SECURITY DEFINER functions excepted): before
 * any row is read, every isolated table and every table of the template
 * or tenant schema is checked by tenant_schema.c's mt_require_trusted_code
 * (42501 naming the objects), so a table owner cannot run code as the
 * back office.
 *
 * Locks: the tenant's mt.tenants row (FOR NO KEY UPDATE: moves and
 * placements of one tenant serialize, foreign keys to mt.tenants do not
 * wait), the gate lock (move_gate.c), the locks of the statements run.
 * No shared state of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "citus_node.h"
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "audit.h"
#include "isolation.h"
#include "move_gate.h"
#include "placement.h"
#include "spi_util.h"
#include "tenant_schema.h"
#include "tenant_status.h"
#include "util.h"

/* one table's move: from -> to, the columns both have */
typedef struct MovePair
{
	Oid			from;
	Oid			to;
	char	   *from_name;		/* qualified, quoted */
	char	   *to_name;
	char	   *tenant_column;	/* of the shared table */
	bool		to_shared;		/* the shared table is the target */
	List	   *columns;		/* quoted names, the tenant column not among them */
} MovePair;

/* a shared, isolated table (roots only: partitions are read through them) */
typedef struct SharedTable
{
	Oid			relid;
	char	   *relname;
	char	   *tenant_column;
} SharedTable;

static List *
shared_tables(void)
{
	List	   *out = NIL;

	mt_spi_execute("SELECT i.tbl::pg_catalog.oid, c.relname::pg_catalog.text, i.tenant_column::pg_catalog.text "
				   "FROM mt.isolated_tables i JOIN pg_catalog.pg_class c "
				   "  ON c.oid OPERATOR(pg_catalog.=) i.tbl::pg_catalog.oid "
				   "WHERE i.parent IS NULL AND c.relkind IN ('r', 'p') "
				   "ORDER BY c.relname, i.tbl::pg_catalog.text",
				   0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		SharedTable *t = palloc(sizeof(SharedTable));
		bool		isnull;

		t->relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		t->relname = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		t->tenant_column = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		out = lappend(out, t);
	}
	return out;
}

/* the ordinary tables of schema nsp: list of relids (same order as names) */
static List *
schema_tables(Oid nsp, List **names)
{
	Datum		arg = ObjectIdGetDatum(nsp);
	List	   *out = NIL;

	*names = NIL;
	mt_spi_execute("SELECT c.oid, c.relname::pg_catalog.text FROM pg_catalog.pg_class c "
				   "WHERE c.relnamespace OPERATOR(pg_catalog.=) $1 AND c.relkind OPERATOR(pg_catalog.=) 'r' "
				   "ORDER BY c.relname", 1, (Oid[]) {OIDOID}, &arg, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		out = lappend_oid(out, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															  SPI_tuptable->tupdesc, 1, &isnull)));
		*names = lappend(*names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	}
	return out;
}

/* the columns of relid that take values (not dropped, not generated) */
static List *
value_columns(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	List	   *out = NIL;

	mt_spi_execute("SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a "
				   "WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.>) 0 "
				   "AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) '' ORDER BY a.attnum",
				   1, (Oid[]) {OIDOID}, &arg, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		out = lappend(out, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	return out;
}

static bool
has_string(List *l, const char *s)
{
	ListCell   *lc;

	foreach(lc, l)
		if (strcmp((char *) lfirst(lc), s) == 0)
		return true;
	return false;
}

/*
 * The pair moving the rows of table from (columns from_cols) into to: every
 * column of from but the tenant column must exist in to (42703 naming the
 * ones that do not; the others of to take their defaults).
 */
static MovePair *
make_pair(Oid from, Oid to, const char *tenant_column, bool to_shared)
{
	MovePair   *p = palloc0(sizeof(MovePair));
	List	   *from_cols = value_columns(from);
	List	   *to_cols = value_columns(to);
	StringInfoData missing;
	ListCell   *lc;

	p->from = from;
	p->to = to;
	p->from_name = mt_relation_name(from);
	p->to_name = mt_relation_name(to);
	p->tenant_column = pstrdup(tenant_column);
	p->to_shared = to_shared;
	initStringInfo(&missing);
	foreach(lc, from_cols)
	{
		char	   *col = (char *) lfirst(lc);

		if (strcmp(col, tenant_column) == 0)
			continue;
		if (!has_string(to_cols, col))
			appendStringInfo(&missing, "%s%s", missing.len ? ", " : "", quote_identifier(col));
		else
			p->columns = lappend(p->columns, pstrdup(quote_identifier(col)));
	}
	if (missing.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("columns of %s cannot be mapped to %s: %s", p->from_name, p->to_name, missing.data),
				 errdetail("mt.move_tenant maps columns by name; %s has no column of these names.", p->to_name),
				 errhint("Add the columns to %s (or, for a template, to the template) first; nothing was moved.",
						 to_shared ? "the shared table" : "the template")));
	return p;
}

/* does the tenant have rows in table relid (the shared one: tenant column)? */
static bool
has_rows(Oid relid, const char *tenant_column, const pg_uuid_t *tenant)
{
	Datum		arg = UUIDPGetDatum(tenant);
	char	   *sql;

	if (tenant_column)
		sql = psprintf("SELECT 1 FROM %s WHERE %s OPERATOR(pg_catalog.=) $1 LIMIT 1",
					   mt_relation_name(relid), quote_identifier(tenant_column));
	else
		sql = psprintf("SELECT 1 FROM %s LIMIT 1", mt_relation_name(relid));
	/* not read-only: a new snapshot, after the gate's wait too */
	mt_role_execute(GetUserId(), tenant, sql, tenant_column ? 1 : 0, (Oid[]) {UUIDOID}, &arg,
					NULL, false, 1);
	return SPI_processed > 0;
}

static void
no_counterpart(const char *from, const char *schema, const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("%s holds rows of the tenant, and %s has no table \"%s\"", from,
					quote_identifier(schema), relname),
			 errdetail("mt.move_tenant maps tables by name."),
			 errhint("Create the table there (for a template: then mt.apply_template) first; nothing was moved.")));
}

/* sequences of relid's columns advanced past their values (of the tenant) */
static void
advance_sequences(Oid relid, const char *tenant_column, const pg_uuid_t *tenant)
{
	Datum		v[2];
	char	   *name = mt_relation_name(relid);
	List	   *cols = NIL;
	List	   *seqs = NIL;
	ListCell   *c,
			   *s;

	v[0] = CStringGetTextDatum(name);
	mt_spi_execute("SELECT a.attname::pg_catalog.text, pg_catalog.pg_get_serial_sequence($1, a.attname::pg_catalog.text) "
				   "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
				   "AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
				   "AND pg_catalog.pg_get_serial_sequence($1, a.attname::pg_catalog.text) IS NOT NULL",
				   1, (Oid[]) {TEXTOID}, v, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		cols = lappend(cols, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		seqs = lappend(seqs, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	}
	forboth(c, cols, s, seqs)
	{
		char	   *sql = psprintf("SELECT pg_catalog.setval($1::pg_catalog.regclass, m.v) FROM "
								   "(SELECT pg_catalog.max(%s)::pg_catalog.int8 AS v FROM %s%s%s%s) m "
								   "WHERE m.v OPERATOR(pg_catalog.>) COALESCE("
								   "pg_catalog.pg_sequence_last_value($1::pg_catalog.regclass), 0)",
								   quote_identifier((char *) lfirst(c)), name,
								   tenant_column ? " WHERE " : "",
								   tenant_column ? quote_identifier(tenant_column) : "",
								   tenant_column ? " OPERATOR(pg_catalog.=) $2" : "");

		v[0] = CStringGetTextDatum((char *) lfirst(s));
		v[1] = UUIDPGetDatum(tenant);
		mt_role_execute(GetUserId(), tenant, sql, 2, (Oid[]) {TEXTOID, UUIDOID}, v, NULL, false, 0);
	}
}

/* copy then delete one table's rows of the tenant; returns the rows moved */
static int64
move_rows(MovePair *p, const pg_uuid_t *tenant)
{
	Datum		arg = UUIDPGetDatum(tenant);
	StringInfoData cols;
	ListCell   *lc;
	char	   *sql;
	uint64		copied;
	uint64		deleted;

	initStringInfo(&cols);
	foreach(lc, p->columns)
		appendStringInfo(&cols, "%s%s", cols.len ? ", " : "", (char *) lfirst(lc));

	if (p->to_shared)
		sql = psprintf("INSERT INTO %s (%s%s%s) OVERRIDING SYSTEM VALUE SELECT $1%s%s FROM %s",
					   p->to_name, quote_identifier(p->tenant_column), cols.len ? ", " : "", cols.data,
					   cols.len ? ", " : "", cols.data, p->from_name);
	else						/* no column but the tenant's: one row of defaults each */
		sql = psprintf("INSERT INTO %s %s%s%s OVERRIDING SYSTEM VALUE SELECT %s FROM %s "
					   "WHERE %s OPERATOR(pg_catalog.=) $1",
					   p->to_name, cols.len ? "(" : "", cols.data, cols.len ? ")" : "",
					   cols.data, p->from_name, quote_identifier(p->tenant_column));
	mt_role_execute(GetUserId(), tenant, sql, 1, (Oid[]) {UUIDOID}, &arg, NULL, false, 0);
	copied = SPI_processed;

	if (p->to_shared)
		sql = psprintf("DELETE FROM %s", p->from_name);
	else
		sql = psprintf("DELETE FROM %s WHERE %s OPERATOR(pg_catalog.=) $1", p->from_name,
					   quote_identifier(p->tenant_column));
	mt_role_execute(GetUserId(), tenant, sql, p->to_shared ? 0 : 1, (Oid[]) {UUIDOID}, &arg,
					NULL, false, 0);
	deleted = SPI_processed;
	if (copied != deleted)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("the rows of %s changed during the move: " UINT64_FORMAT " copied, " UINT64_FORMAT " deleted",
						p->from_name, copied, deleted),
				 errhint("Retry; nothing was moved.")));
	advance_sequences(p->to, p->to_shared ? p->tenant_column : NULL, tenant);
	return (int64) copied;
}

/*
 * 42501 unless the code the move's statements run with the caller's
 * rights belongs to roles that have the caller's privileges: the isolated
 * tables shared (all of them: each is at least read) and the tables of the
 * other level, rels (tenant_schema.c mt_require_trusted_code).  Before any
 * row is read.
 */
static void
require_trusted_tables(const pg_uuid_t *tenant, List *shared, List *rels)
{
	List	   *relids = list_copy(rels);
	ListCell   *lc;

	foreach(lc, shared)
		relids = lappend_oid(relids, ((SharedTable *) lfirst(lc))->relid);
	mt_require_trusted_code(InvalidOid, relids,
							psprintf("mt.move_tenant of tenant %s", mt_uuid_to_cstring(tenant)),
							"Moving rows runs, with the caller's rights and session_replication_role = replica, the defaults, CHECK constraints, index expressions and row-level security policies of the tables it reads and writes, and their triggers enabled ALWAYS or REPLICA.",
							"Let the tables, and the functions and domains they use, be owned by the calling role (or a role that is a member of it), or make such functions SECURITY DEFINER, or move the tenant as the tables' owner; nothing was moved.");
}

static void
report_row(ReturnSetInfo *rsinfo, const char *item, int64 rows, bool rows_null, const char *detail)
{
	Datum		v[3];
	bool		n[3] = {false, rows_null, detail == NULL};

	v[0] = CStringGetTextDatum(item);
	v[1] = Int64GetDatum(rows);
	v[2] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
}

/* the tenant's plan allows level, or 55000 (as mt.provision_schema says it) */
static void
require_plan_level(const pg_uuid_t *tenant, const char *level)
{
	Datum		args[2];
	bool		isnull;

	args[0] = UUIDPGetDatum(tenant);
	args[1] = CStringGetTextDatum(level);
	mt_catalog_execute("SELECT p.name, $2 OPERATOR(pg_catalog.=) ANY (p.isolation_levels), "
					   "  pg_catalog.array_to_string(p.isolation_levels, ', ') "
					   "FROM mt.tenants t JOIN mt.plans p ON p.name OPERATOR(pg_catalog.=) t.plan "
					   "WHERE t.id OPERATOR(pg_catalog.=) $1",
					   2, (Oid[]) {UUIDOID, TEXTOID}, args, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "plan of tenant %s not found", mt_uuid_to_cstring(tenant));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("plan \"%s\" of tenant %s does not allow the %s level",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						mt_uuid_to_cstring(tenant), level),
				 errdetail("The plan allows: %s.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3)),
				 errhint("Move the tenant to a plan whose isolation_levels include %s (mt.plans).", level)));
}

/*
 * The shard level (Citus, doc/citus.md "Giving a tenant its own shard"):
 * isolate_tenant_to_new_shard(..., 'CASCADE') once per co-location group
 * of the isolated tables hash-distributed by their tenant column, then,
 * with a target node "host:port", citus_move_shard_placement of each new
 * shard group there; both block writes to the shards they copy (Citus'
 * locks) for their duration.  Records level shard and the node.  SPI
 * connected, safe search_path, the tenant's row locked.
 */
static void
move_to_shard(ReturnSetInfo *rsinfo, const pg_uuid_t *tenant, const char *target)
{
	char	   *host = NULL;
	int			port = 0;
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	List	   *groups = NIL;
	List	   *shards = NIL;
	ListCell   *lc;
	ListCell   *sc;
	StringInfoData ids;
	bool		isnull;

	if (!mt_citus_loaded())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the shard level needs Citus"),
				 errhint("Preload citus and distribute the isolated tables by their tenant column (doc/citus.md).")));
	if (target != NULL)
	{
		const char *colon = strrchr(target, ':');
		char	   *end;
		long		p;

		if (colon == NULL || colon == target)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("target node \"%s\" is not host:port", target)));
		p = strtol(colon + 1, &end, 10);
		if (*end != '\0' || p < 1 || p > 65535)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("target node \"%s\" is not host:port", target)));
		host = pnstrdup(target, colon - target);
		port = (int) p;
		args[0] = CStringGetTextDatum(host);
		args[1] = Int32GetDatum(port);
		if (!mt_spi_exists("SELECT 1 FROM pg_catalog.pg_dist_node WHERE nodename OPERATOR(pg_catalog.=) $1 "
						   "AND nodeport OPERATOR(pg_catalog.=) $2 AND isactive AND shouldhaveshards",
						   2, (Oid[]) {TEXTOID, INT4OID}, args))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("node %s is not an active Citus node that may have shards", target)));
	}

	/* one table per co-location group: isolated, hash-distributed by the tenant column */
	mt_spi_execute("SELECT pg_catalog.min(i.tbl::pg_catalog.text) FROM mt.isolated_tables i "
				   "JOIN pg_catalog.pg_dist_partition d ON d.logicalrelid OPERATOR(pg_catalog.=) i.tbl "
				   "JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.tbl::pg_catalog.oid "
				   "  AND a.attname OPERATOR(pg_catalog.=) i.tenant_column "
				   "WHERE i.parent IS NULL AND d.partmethod OPERATOR(pg_catalog.=) 'h' "
				   "AND pg_catalog.column_to_column_name(d.logicalrelid, d.partkey) OPERATOR(pg_catalog.=) i.tenant_column::pg_catalog.text "
				   "GROUP BY d.colocationid ORDER BY 1", 0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		groups = lappend(groups, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	if (groups == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no isolated table is distributed by its tenant column"),
				 errhint("create_distributed_table(<table>, <tenant column>) first (doc/citus.md).")));

	initStringInfo(&ids);
	foreach(lc, groups)
	{
		int64		shard;

		args[0] = CStringGetTextDatum((char *) lfirst(lc));
		args[1] = CStringGetTextDatum(mt_uuid_to_cstring(tenant));
		shard = DatumGetInt64(mt_spi_value("SELECT pg_catalog.isolate_tenant_to_new_shard($1::pg_catalog.regclass, $2, 'CASCADE', "
										   "shard_transfer_mode => 'block_writes')",
										   2, (Oid[]) {TEXTOID, TEXTOID}, args, false, &isnull));
		shards = lappend(shards, psprintf(INT64_FORMAT, shard));
		appendStringInfo(&ids, "%s" INT64_FORMAT, ids.len ? "," : "", shard);
	}
	forboth(lc, groups, sc, shards)
	{
		char	   *node;

		args[0] = Int64GetDatum(pg_strtoint64((char *) lfirst(sc)));
		if (host != NULL)
		{
			args[1] = CStringGetTextDatum(host);
			args[2] = Int32GetDatum(port);
			mt_spi_execute("SELECT pg_catalog.citus_move_shard_placement($1, s.nodename, s.nodeport, $2, $3, "
						   "shard_transfer_mode => 'block_writes') "
						   "FROM (SELECT DISTINCT nodename, nodeport FROM pg_catalog.citus_shards "
						   "      WHERE shardid OPERATOR(pg_catalog.=) $1) s "
						   "WHERE (s.nodename, s.nodeport) IS DISTINCT FROM ($2, $3)",
						   3, (Oid[]) {INT8OID, TEXTOID, INT4OID}, args, SPI_OK_SELECT);
		}
		node = mt_spi_text("SELECT pg_catalog.string_agg(DISTINCT nodename || ':' || nodeport, ', ') "
						   "FROM pg_catalog.citus_shards WHERE shardid OPERATOR(pg_catalog.=) $1",
						   1, (Oid[]) {INT8OID}, args, &isnull);
		report_row(rsinfo, psprintf("%s (co-located tables)", (char *) lfirst(lc)), 0, true,
				   psprintf("shard %s on %s", (char *) lfirst(sc), node ? node : "?"));
		if (host == NULL && node != NULL && strchr(node, ',') == NULL)
		{
			char	   *colon = strrchr(node, ':');

			host = pnstrdup(node, colon - node);
			port = atoi(colon + 1);
		}
	}

	args[0] = UUIDPGetDatum(tenant);
	args[1] = host ? CStringGetTextDatum(host) : (Datum) 0;
	nulls[1] = host ? ' ' : 'n';
	args[2] = Int32GetDatum(port);
	nulls[2] = host ? ' ' : 'n';
	mt_catalog_execute("INSERT INTO mt.tenant_placements (tenant_id, level, host, port) "
					   "VALUES ($1, 'shard', $2, $3) "
					   "ON CONFLICT (tenant_id) DO UPDATE SET level = EXCLUDED.level, "
					   "schema_name = NULL, template_schema = NULL, host = EXCLUDED.host, "
					   "port = EXCLUDED.port, dbname = NULL, placed_at = pg_catalog.now()",
					   3, (Oid[]) {UUIDOID, TEXTOID, INT4OID}, args, nulls);
	{
		MtCatalogCtx c;

		mt_catalog_begin(&c);
		mt_audit_record(tenant, "tenant.moved", "tenant", mt_uuid_to_cstring(tenant), 4,
						(const char *[]) {"from", "shared", "to", "shard",
							"shards", ids.data, "node", host ? psprintf("%s:%d", host, port) : NULL});
		mt_catalog_end(&c);
	}
	report_row(rsinfo, "placement", 0, true,
			   psprintf("shared -> shard (shards %s%s%s)", ids.data, host ? " on " : "",
						host ? psprintf("%s:%d", host, port) : ""));
}

/*
 * mt.move_tenant(tenant uuid, to_level text, target text DEFAULT NULL)
 *   -> (item text, rows bigint, detail text): one row per table moved, one
 *   for the placement and the time the tenant's transactions were held.
 */
PG_FUNCTION_INFO_V1(mt_move_tenant);
Datum
mt_move_tenant(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	pg_uuid_t  *tenant;
	char	   *to_level;
	char	   *target = NULL;
	char	   *schema;
	MtPlacement placement;
	Datum		args[3];
	int			nest;
	int			rnest;
	List	   *pairs = NIL;
	List	   *skipped = NIL;	/* tables without counterpart: no rows then */
	List	   *shared;
	ListCell   *lc;
	int64		total = 0;
	instr_time	closed,
				done;
	bool		to_schema;

	mt_require_coordinator("mt.move_tenant()");
	mt_require_writable("mt.move_tenant()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 2, "tenant and to_level");
	mt_require_shared_memory("mt.move_tenant()");
	tenant = PG_GETARG_UUID_P(0);
	to_level = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2))
		target = text_to_cstring(PG_GETARG_TEXT_PP(2));

	if (strcmp(to_level, "database") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mt.move_tenant does not move a tenant to the database level"),
				 errhint("Move a tenant of the shared level to its own database with bin/mt-tenant move-to-database.")));
	if (strcmp(to_level, "shared") != 0 && strcmp(to_level, "schema") != 0 &&
		strcmp(to_level, "shard") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown isolation level \"%s\"", to_level),
				 errhint("Levels: shared, schema, database, shard.")));
	to_schema = strcmp(to_level, "schema") == 0;
	if (to_schema && target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a move to the schema level needs the template schema as target")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mt.move_tenant must run at the READ COMMITTED isolation level"),
				 errdetail("It copies the rows with snapshots taken after the tenant's earlier transactions ended; a transaction snapshot would miss their writes."),
				 errhint("Run it in its own READ COMMITTED transaction.")));

	InitMaterializedSRF(fcinfo, 0);
	mt_spi_connect();
	nest = mt_enter_safe_search_path();

	/* the tenant's row: moves and placements of one tenant serialize */
	args[0] = UUIDPGetDatum(tenant);
	mt_catalog_execute("SELECT 1 FROM mt.tenants WHERE id OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE",
					   1, (Oid[]) {UUIDOID}, args, NULL);
	mt_placement_require_live(tenant, &placement);
	if (strcmp(placement.level, to_level) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %s is already at level %s%s%s", mt_uuid_to_cstring(tenant), to_level,
						placement.schema_name ? " in schema " : "",
						placement.schema_name ? quote_identifier(placement.schema_name) : "")));
	if (strcmp(to_level, "shard") == 0)
	{
		if (strcmp(placement.level, "shared") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("tenant %s is at level %s", mt_uuid_to_cstring(tenant), placement.level),
					 errhint("A tenant moves to the shard level from the shared level.")));
		require_plan_level(tenant, "shard");
		move_to_shard(rsinfo, tenant, target);
		mt_leave_safe_search_path(nest);
		mt_spi_finish();
		return (Datum) 0;
	}
	if (strcmp(placement.level, to_schema ? "shared" : "schema") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %s is at level %s", mt_uuid_to_cstring(tenant), placement.level),
				 errhint("mt.move_tenant moves between the shared and the schema level, and from shared to shard.")));

	shared = shared_tables();
	if (to_schema)
	{
		Oid			template_oid = get_namespace_oid(target, false);	/* 3F000 */
		List	   *names;
		List	   *rels = schema_tables(template_oid, &names);
		bool		isnull;

		require_trusted_tables(tenant, shared, rels);

		/* every shared table maps to the template table of its name */
		foreach(lc, shared)
		{
			SharedTable *t = (SharedTable *) lfirst(lc);
			int			idx = -1;
			ListCell   *nc;

			foreach(nc, names)
				if (strcmp((char *) lfirst(nc), t->relname) == 0)
					idx = foreach_current_index(nc);
			if (idx < 0)
			{
				if (has_rows(t->relid, t->tenant_column, tenant))
					no_counterpart(mt_relation_name(t->relid), target, t->relname);
				skipped = lappend(skipped, t);
				continue;
			}
			foreach(nc, shared)
			{
				SharedTable *u = (SharedTable *) lfirst(nc);

				if (u != t && strcmp(u->relname, t->relname) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_DUPLICATE_OBJECT),
							 errmsg("isolated tables %s and %s both map to table \"%s\" of %s",
									mt_relation_name(t->relid), mt_relation_name(u->relid),
									t->relname, quote_identifier(target)),
							 errdetail("mt.move_tenant maps tables by name.")));
			}
			pairs = lappend(pairs, make_pair(t->relid, list_nth_oid(rels, idx), t->tenant_column, false));
		}

		/* the schema (plan, name collision, cloneable template: its errors) */
		args[0] = UUIDPGetDatum(tenant);
		args[1] = DirectFunctionCall1(namein, CStringGetDatum(target));
		schema = TextDatumGetCString(mt_spi_value("SELECT mt.provision_schema($1, $2)::pg_catalog.text",
												  2, (Oid[]) {UUIDOID, NAMEOID}, args, false, &isnull));
		CommandCounterIncrement();
		/* the pairs now point at the schema's tables, by name */
		foreach(lc, pairs)
		{
			MovePair   *p = (MovePair *) lfirst(lc);
			Oid			to = get_relname_relid(get_rel_name(p->to), get_namespace_oid(schema, false));

			if (!OidIsValid(to))
				elog(ERROR, "table %s was not cloned into %s", p->to_name, schema);
			p->to = to;
			p->to_name = mt_relation_name(to);
		}
	}
	else
	{
		Oid			nsp;
		List	   *names;
		List	   *rels;
		ListCell   *nc;

		schema = placement.schema_name;
		nsp = get_namespace_oid(schema, false);
		rels = schema_tables(nsp, &names);
		require_trusted_tables(tenant, shared, rels);
		forboth(lc, rels, nc, names)
		{
			SharedTable *match = NULL;
			ListCell   *sc;

			foreach(sc, shared)
			{
				SharedTable *t = (SharedTable *) lfirst(sc);

				if (strcmp(t->relname, (char *) lfirst(nc)) != 0)
					continue;
				if (match != NULL)
					ereport(ERROR,
							(errcode(ERRCODE_DUPLICATE_OBJECT),
							 errmsg("isolated tables %s and %s both match table %s",
									mt_relation_name(match->relid), mt_relation_name(t->relid),
									mt_relation_name(lfirst_oid(lc))),
							 errdetail("mt.move_tenant maps tables by name.")));
				match = t;
			}
			if (match == NULL)
			{
				if (has_rows(lfirst_oid(lc), NULL, tenant))
					no_counterpart(mt_relation_name(lfirst_oid(lc)), "the shared tables", (char *) lfirst(nc));
				continue;
			}
			pairs = lappend(pairs, make_pair(lfirst_oid(lc), match->relid, match->tenant_column, true));
		}
	}

	/* the gate: from here until commit the tenant's transactions wait */
	mt_move_gate_close(tenant);
	INSTR_TIME_SET_CURRENT(closed);

	/* shared tables of no counterpart: still no rows of the tenant? */
	foreach(lc, skipped)
	{
		SharedTable *t = (SharedTable *) lfirst(lc);

		if (has_rows(t->relid, t->tenant_column, tenant))
			no_counterpart(mt_relation_name(t->relid), target, t->relname);
	}

	rnest = NewGUCNestLevel();
	(void) set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	foreach(lc, pairs)
	{
		MovePair   *p = (MovePair *) lfirst(lc);
		int64		n = move_rows(p, tenant);

		total += n;
		report_row(rsinfo, psprintf("%s -> %s", p->from_name, p->to_name), n, false, NULL);
		CHECK_FOR_INTERRUPTS();
	}
	AtEOXact_GUC(true, rnest);
	foreach(lc, skipped)
		report_row(rsinfo, mt_relation_name(((SharedTable *) lfirst(lc))->relid), 0, false,
				   "no table of this name at the other level and no rows of the tenant: nothing to move");

	if (!to_schema)
	{
		/* the schema's tables (foreign keys between them: one statement) */
		Oid			nsp = get_namespace_oid(schema, false);
		Datum		arg = ObjectIdGetDatum(nsp);
		char	   *drop;
		bool		isnull;

		drop = mt_spi_text("SELECT pg_catalog.string_agg(c.oid::pg_catalog.regclass::pg_catalog.text, ', ') "
						   "FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) $1 "
						   "AND c.relkind OPERATOR(pg_catalog.=) 'r'",
						   1, (Oid[]) {OIDOID}, &arg, &isnull);
		if (!isnull)
			mt_isolation_run_ddl(psprintf("DROP TABLE %s", drop));
		drop = mt_spi_text("SELECT pg_catalog.string_agg(c.oid::pg_catalog.regclass::pg_catalog.text, ', ') "
						   "FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) $1 "
						   "AND c.relkind OPERATOR(pg_catalog.=) 'S'",
						   1, (Oid[]) {OIDOID}, &arg, &isnull);
		if (!isnull)
			mt_isolation_run_ddl(psprintf("DROP SEQUENCE %s", drop));
		/* RESTRICT: anything else there (a view, a function) is named (2BP01) */
		mt_isolation_run_ddl(psprintf("DROP SCHEMA %s", quote_identifier(schema)));
		/* the schema's placement went with it (tenant_schema.c); shared = no row */
		args[0] = UUIDPGetDatum(tenant);
		mt_catalog_execute("DELETE FROM mt.tenant_placements WHERE tenant_id OPERATOR(pg_catalog.=) $1",
						   1, (Oid[]) {UUIDOID}, args, NULL);
	}

	{
		MtCatalogCtx c;
		char	   *rows = psprintf(INT64_FORMAT, total);

		mt_catalog_begin(&c);
		mt_audit_record(tenant, "tenant.moved", "tenant", mt_uuid_to_cstring(tenant), 4,
						(const char *[]) {"from", placement.level, "to", to_level,
							"schema", schema, "rows", rows});
		mt_catalog_end(&c);
	}
	INSTR_TIME_SET_CURRENT(done);
	INSTR_TIME_SUBTRACT(done, closed);
	report_row(rsinfo, "placement", total, false,
			   psprintf("%s -> %s (schema %s); the tenant's new transactions held for %.1f ms so far, until this transaction ends",
						placement.level, to_level, quote_identifier(schema),
						INSTR_TIME_GET_MILLISEC(done)));

	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	return (Datum) 0;
}
