/*-------------------------------------------------------------------------
 *
 * security_policy_sql.c
 *	  The SQL functions of per-tenant security policies:
 *	  mt.set_security_policy (validated by security_policy.c, stored in
 *	  mt.security_policies, audited) and mt.security_policy.  Both act on
 *	  the tenant of the caller's context: the back office enters it with
 *	  mt.set_tenant, a tenant's admin works in its own context and needs
 *	  security:manage (tenant-wide) to set a policy.
 *
 * Locks: the tenant row (FOR SHARE, an active tenant) and the policy's
 * one row (primary key tenant_id); no shared state here.  Backends see a
 * new policy at their next lookup (security_policy.c, its cache).
 *
 *-------------------------------------------------------------------------
 */
#include "citus_node.h"
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "audit.h"
#include "authz.h"
#include "context.h"
#include "domains.h"
#include "security_policy.h"
#include "spi_util.h"
#include "util.h"

/* the tenant argument must be the context's (42501) */
static void
require_own_tenant(const pg_uuid_t *tenant, const char *what)
{
	const pg_uuid_t *ctx = mt_require_context_tenant();

	if (memcmp(ctx, tenant, sizeof(pg_uuid_t)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s acts on the tenant of the current context only", what),
				 errhint("The back office enters the tenant first with mt.set_tenant(tenant).")));
}

/*
 * mt.set_security_policy(tenant uuid, policy jsonb) RETURNS jsonb: replaces
 * the tenant's policy ('{}' removes every rule); returns it.
 */
PG_FUNCTION_INFO_V1(mt_set_security_policy);
Datum
mt_set_security_policy(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	Jsonb	   *policy;
	Datum		args[2];
	const char *pairs[2];

	mt_require_coordinator("mt.set_security_policy()");
	mt_require_writable("mt.set_security_policy()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 2, "tenant and policy");
	tenant = PG_GETARG_UUID_P(0);
	policy = mt_security_policy_validate(PG_GETARG_JSONB_P(1));
	mt_require_context_permission("mt.set_security_policy()", "security:manage");
	require_own_tenant(tenant, "mt.set_security_policy()");

	mt_spi_connect();
	mt_lock_active_tenant(tenant);
	args[0] = UUIDPGetDatum(tenant);
	args[1] = JsonbPGetDatum(policy);
	if (JB_ROOT_COUNT(policy) == 0)
		mt_spi_execute("DELETE FROM mt.security_policies WHERE tenant_id = $1",
					   1, (Oid[]) {UUIDOID}, args, SPI_OK_DELETE);
	else
		mt_spi_execute("INSERT INTO mt.security_policies (tenant_id, policy, updated_by) "
					   "VALUES ($1, $2, SESSION_USER) "
					   "ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy, "
					   "updated_at = pg_catalog.now(), updated_by = excluded.updated_by",
					   2, (Oid[]) {UUIDOID, JSONBOID}, args, SPI_OK_INSERT);
	mt_spi_finish();
	pairs[0] = "policy";
	pairs[1] = JsonbToCString(NULL, &policy->root, VARSIZE(policy));
	mt_audit_record(tenant, "security.policy_set", "tenant", mt_uuid_to_cstring(tenant), 1, pairs);
	PG_RETURN_JSONB_P(policy);
}

/*
 * mt.security_policy(tenant uuid DEFAULT mt.current_tenant()) RETURNS
 * jsonb: the tenant's policy ('{}' when it has none); the context's
 * tenant only.
 */
PG_FUNCTION_INFO_V1(mt_security_policy);
Datum
mt_security_policy(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	Datum		args[1];
	bool		isnull;
	Datum		result;

	mt_require_coordinator("mt.security_policy()");
	if (PG_ARGISNULL(0))
		(void) mt_require_context_tenant();
	mt_require_args(fcinfo, 1, "tenant");
	tenant = PG_GETARG_UUID_P(0);
	require_own_tenant(tenant, "mt.security_policy()");

	mt_spi_connect();
	args[0] = UUIDPGetDatum(tenant);
	result = mt_spi_value("SELECT policy FROM mt.security_policies WHERE tenant_id = $1",
						  1, (Oid[]) {UUIDOID}, args, true, &isnull);
	mt_spi_finish();
	if (isnull)
		PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	PG_RETURN_DATUM(result);
}
