/*-------------------------------------------------------------------------
 *
 * placement.c
 *	  Where each tenant lives: the placement registry mt.tenant_placements
 *	  (level shared / schema / database / shard and the location: schema
 *	  name, or host, port and database name; never a password),
 *	  mt.tenant_placement(tenant) and mt.route() for the verified context,
 *	  and the owner-side lookups the placing modules use (placement.h).
 *	  A tenant without a row is at the shared level.
 *
 * The SQL functions read the registry as the caller, so that its row-level
 * security decides what a role sees (its own tenant's row; back-office
 * roles that see every mt.tenants row see every placement).  The lookups
 * in placement.h read it as the extension owner (mt_catalog_execute):
 * event triggers must recognize a tenant schema whatever the context of
 * the role running the DDL.  Rows are written only by the placing
 * functions (tenant_schema.c), as the extension owner, in the caller's
 * transaction; no shared state, no locks of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

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
