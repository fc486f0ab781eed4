/*-------------------------------------------------------------------------
 *
 * placement.c
 *	  Where each tenant lives: the placement registry mt.tenant_placements
 *	  (level shared / schema / database / shard and the location: schema
 *	  name, or host, port and database name; never a password),
 *	  mt.tenant_placement(tenant) and mt.route() for the verified context,
 *	  mt.provision_database (records a database-per-tenant placement; the
 *	  database itself is made and filled by bin/mt-tenant move-to-database),
 *	  and the owner-side lookups the placing modules use (placement.h).
 *	  A tenant without a row is at the shared level.
 *
 * The SQL functions read the registry as the caller, so that its row-level
 * security decides what a role sees (its own tenant's row; back-office
 * roles that see every mt.tenants row see every placement).  The lookups
 * in placement.h read it as the extension owner (mt_catalog_execute):
 * event triggers must recognize a tenant schema whatever the context of
 * the role running the DDL.  Rows are written only by the placing
 * functions (tenant_schema.c, mt.provision_database here), as the
 * extension owner, in the caller's transaction; mt.provision_database
 * locks the tenant's mt.tenants row (FOR UPDATE) so that two placements
 * of one tenant serialize.  No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "citus_node.h"
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"

#include "context.h"
#include "placement.h"
#include "spi_util.h"
#include "tenant_status.h"
#include "util.h"

#define PLACEMENT_COLUMNS \
	"level, schema_name, host, port, dbname FROM mt.tenant_placements "

/* the mt.tenant_placement / mt.route result for tenant, read as the caller */
static Datum
placement_result(FunctionCallInfo fcinfo, const pg_uuid_t *tenant)
{
	TupleDesc	tupdesc;
	Datum		values[5] = {0};
	bool		nulls[5] = {false, true, true, true, true};
	Datum		arg = UUIDPGetDatum(tenant);
	HeapTuple	tuple;
	int			nest;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	mt_spi_select("SELECT " PLACEMENT_COLUMNS "WHERE tenant_id OPERATOR(pg_catalog.=) $1",
				  1, (Oid[]) {UUIDOID}, &arg, NULL);
	if (SPI_processed > 0)
	{
		heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, values, nulls);
		tuple = heap_form_tuple(tupdesc, values, nulls);
		tuple = SPI_copytuple(tuple);	/* into the caller's context */
	}
	else
	{
		values[0] = CStringGetTextDatum("shared");
		tuple = SPI_copytuple(heap_form_tuple(tupdesc, values, nulls));
	}
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	return HeapTupleGetDatum(tuple);
}

/*
 * mt.tenant_placement(tenant DEFAULT mt.current_tenant()): where a tenant
 * lives.  The caller must see the tenant's mt.tenants row (its own tenant,
 * or every tenant for back-office roles): otherwise 42704, as for a tenant
 * that does not exist, so that the function reveals no tenant ids.
 */
PG_FUNCTION_INFO_V1(mt_tenant_placement);
Datum
mt_tenant_placement(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	Datum		arg;
	bool		visible;
	int			nest;

	mt_require_coordinator("mt.tenant_placement()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("no tenant given and no tenant context"),
				 errhint("Pass a tenant id, or enter a tenant context first (SET multitenant.token, mt.authenticate).")));
	tenant = PG_GETARG_UUID_P(0);
	arg = UUIDPGetDatum(tenant);

	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	visible = mt_spi_exists("SELECT 1 FROM mt.tenants WHERE id OPERATOR(pg_catalog.=) $1",
							1, (Oid[]) {UUIDOID}, &arg);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	if (!visible)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant %s does not exist", mt_uuid_to_cstring(tenant)),
				 errhint("A role without a back-office grant sees only the tenant of its own context.")));
	return placement_result(fcinfo, tenant);
}

/*
 * mt.route(): where the tenant of the verified context (token or API key)
 * lives.  No context: 42501 (a suspended tenant's context ends at once,
 * also inside the transaction that suspends it); the status is checked
 * again, read fresh, in case a context outlives it: 55000.
 */
PG_FUNCTION_INFO_V1(mt_route);
Datum
mt_route(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant = mt_context_tenant();

	mt_require_coordinator("mt.route()");
	if (tenant == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("mt.route() needs a verified tenant context"),
				 errhint("SET multitenant.token to the tenant's token, or call mt.authenticate(key), first.")));
	if (mt_tenant_status(tenant) != MT_TENANT_ACTIVE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %s is not active", mt_uuid_to_cstring(tenant)),
				 errdetail("A suspended or dropped tenant is routed nowhere.")));
	return placement_result(fcinfo, tenant);
}

/*
 * The placement row of tenant, read as the extension owner; level
 * "shared" and no schema when there is none.  SPI must be connected.
 */
void
mt_placement_of(const pg_uuid_t *tenant, MtPlacement *out)
{
	Datum		arg = UUIDPGetDatum(tenant);

	out->level = "shared";
	out->schema_name = NULL;
	mt_catalog_execute("SELECT level, schema_name::text FROM mt.tenant_placements "
					   "WHERE tenant_id OPERATOR(pg_catalog.=) $1",
					   1, (Oid[]) {UUIDOID}, &arg, NULL);
	if (SPI_processed > 0)
	{
		out->level = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		out->schema_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}
}

/*
 * Is namespace nspid the schema of a schema-level tenant?  Then *tenant is
 * that tenant.  Read as the extension owner (every row, whatever the
 * caller's context).  SPI must be connected.
 */
bool
mt_placement_schema_tenant(Oid nspid, pg_uuid_t *tenant)
{
	Datum		arg = ObjectIdGetDatum(nspid);
	bool		isnull;
	Datum		d;

	/* by exact name: a ::regnamespace cast would fold "Acme" to acme */
	mt_catalog_execute("SELECT p.tenant_id FROM mt.tenant_placements p "
					   "JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) p.schema_name "
					   "WHERE p.level OPERATOR(pg_catalog.=) 'schema' AND n.oid OPERATOR(pg_catalog.=) $1",
					   1, (Oid[]) {OIDOID}, &arg, NULL);
	if (SPI_processed == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return false;
	memcpy(tenant, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	return true;
}

/*
 * mt.provision_database(tenant, host, port, dbname): records that the
 * tenant lives in its own database.  Creating that database (CREATEDB,
 * outside a transaction), installing the extension and the application's
 * tables there and moving the rows is the client's part (bin/mt-tenant
 * move-to-database, doc/isolation-levels.md).  host and port may be NULL
 * (the router's defaults); host is validated as the registry's CHECK does
 * (letters, digits, . _ : / -: a host name, an address or a socket
 * directory, never a connection string or a password).
 */
/*
 * The tenant exists and is not dropped (42704, 55000); its placement into
 * *placement.  SPI connected.
 */
void
mt_placement_require_live(const pg_uuid_t *tenant, MtPlacement *placement)
{
	MtTenantStatus status = mt_tenant_status(tenant);

	if (status == MT_TENANT_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant %s does not exist", mt_uuid_to_cstring(tenant))));
	if (status == MT_TENANT_DELETED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %s is dropped", mt_uuid_to_cstring(tenant))));
	mt_placement_of(tenant, placement);
}

/*
 * The tenant exists, is not dropped and lives at the shared level (where
 * every placement function starts from), or an error naming fn: 42704,
 * 55000.  SPI connected.
 */
void
mt_placement_require_shared(const pg_uuid_t *tenant, const char *fn)
{
	MtPlacement placement;

	mt_placement_require_live(tenant, &placement);
	if (strcmp(placement.level, "shared") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %s is already placed at level %s%s%s",
						mt_uuid_to_cstring(tenant), placement.level,
						placement.schema_name ? " in schema " : "",
						placement.schema_name ? quote_identifier(placement.schema_name) : ""),
				 errhint("%s places a tenant of the shared level.", fn)));
}

PG_FUNCTION_INFO_V1(mt_provision_database);
Datum
mt_provision_database(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	char	   *host = NULL;
	char	   *dbname;
	int			nest;
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;

	mt_require_coordinator("mt.provision_database()");
	mt_require_writable("mt.provision_database()", MT_WRITES_TABLES);
	mt_require_arg_set(fcinfo, MT_ARG(0) | MT_ARG(3), "tenant and dbname");
	tenant = PG_GETARG_UUID_P(0);
	dbname = pstrdup(NameStr(*PG_GETARG_NAME(3)));
	if (!PG_ARGISNULL(1))
	{
		const char *p;

		host = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (host[0] == '\0' || strlen(host) > 255)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("host of a tenant database must be 1 to 255 characters long")));
		for (p = host; *p; p++)
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
				  (*p >= '0' && *p <= '9') || strchr("._:/-", *p) != NULL))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("host of a tenant database may hold only letters, digits and . _ : / -"),
						 errdetail("A host name, an IP address or a socket directory; never a connection string or a password."),
						 errhint("Credentials stay with the connection router (for example in its .pgpass).")));
	}
	if (!PG_ARGISNULL(2) && (PG_GETARG_INT32(2) < 1 || PG_GETARG_INT32(2) > 65535))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("port %d of a tenant database is out of range 1..65535", PG_GETARG_INT32(2))));
	if (dbname[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the name of a tenant database cannot be empty")));
	if (host == NULL && strcmp(dbname, get_database_name(MyDatabaseId)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("database \"%s\" is this database", dbname),
				 errhint("A tenant database is another database; pass its host when it is in another cluster.")));

	mt_spi_connect();
	nest = mt_enter_safe_search_path();

	/* the tenant's row locked: two placements of one tenant serialize */
	args[0] = UUIDPGetDatum(tenant);
	mt_catalog_execute("SELECT 1 FROM mt.tenants WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
					   1, (Oid[]) {UUIDOID}, args, NULL);
	mt_placement_require_shared(tenant, "mt.provision_database");

	/* the tenant's plan allows the database level */
	mt_catalog_execute("SELECT p.name, 'database' OPERATOR(pg_catalog.=) ANY (p.isolation_levels), "
					   "  pg_catalog.array_to_string(p.isolation_levels, ', ') "
					   "FROM mt.tenants t JOIN mt.plans p ON p.name OPERATOR(pg_catalog.=) t.plan "
					   "WHERE t.id OPERATOR(pg_catalog.=) $1",
					   1, (Oid[]) {UUIDOID}, args, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "plan of tenant %s not found", mt_uuid_to_cstring(tenant));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("plan \"%s\" of tenant %s does not allow the database level",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						mt_uuid_to_cstring(tenant)),
				 errdetail("The plan allows: %s.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3)),
				 errhint("Move the tenant to a plan whose isolation_levels include database (mt.plans).")));

	args[1] = host ? CStringGetTextDatum(host) : (Datum) 0;
	nulls[1] = host ? ' ' : 'n';
	args[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	args[3] = CStringGetTextDatum(dbname);
	mt_catalog_execute("INSERT INTO mt.tenant_placements (tenant_id, level, host, port, dbname) "
					   "VALUES ($1, 'database', $2, $3, $4) "
					   "ON CONFLICT (tenant_id) DO UPDATE SET level = EXCLUDED.level, "
					   "schema_name = NULL, template_schema = NULL, host = EXCLUDED.host, "
					   "port = EXCLUDED.port, dbname = EXCLUDED.dbname, placed_at = pg_catalog.now()",
					   4, (Oid[]) {UUIDOID, TEXTOID, INT4OID, TEXTOID}, args, nulls);

	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_VOID();
}
