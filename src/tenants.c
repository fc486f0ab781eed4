/*-------------------------------------------------------------------------
 *
 * tenants.c
 *	  The tenant registry's admin functions: mt.create_tenant / suspend /
 *	  resume / drop (SECURITY DEFINER, EXECUTE revoked from PUBLIC), each
 *	  recorded in the audit chain.  The status lookup and cache are below,
 *	  in tenant_status.c.
 *
 * Locks: a status change takes a row lock (SELECT ... FOR UPDATE) on the
 * tenant; no shared state here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "audit.h"
#include "spi_util.h"
#include "util.h"

/* ---------------------------------------------------------------------
 * Registry functions (SECURITY DEFINER, EXECUTE revoked from PUBLIC)
 * --------------------------------------------------------------------- */

static bool
valid_slug(const char *s)
{
	size_t		len = strlen(s);

	if (len < 1 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

PG_FUNCTION_INFO_V1(mt_create_tenant);
Datum
mt_create_tenant(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *slug;
	char	   *plan;
	Datum		args[3];
	pg_uuid_t  *id;

	mt_require_writable("mt.create_tenant()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 3, "name, slug and plan");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	slug = text_to_cstring(PG_GETARG_TEXT_PP(1));
	plan = text_to_cstring(PG_GETARG_TEXT_PP(2));

	if (strlen(name) == 0 || strlen(name) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant name must be 1 to 200 characters")));
	if (!valid_slug(slug))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tenant slug"),
				 errdetail("A slug is 1 to 63 lowercase letters, digits and inner hyphens.")));
	mt_refuse_uuid_slug(slug);

	mt_spi_connect();
	args[0] = CStringGetTextDatum(plan);
	if (!mt_spi_exists("SELECT 1 FROM mt.plans WHERE name = $1", 1,
					   (Oid[]) {TEXTOID}, args))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("plan \"%s\" does not exist", plan),
				 errhint("See mt.plans for the available plans.")));
	args[0] = CStringGetTextDatum(slug);
	if (mt_spi_exists("SELECT 1 FROM mt.tenants WHERE slug = $1", 1,
					  (Oid[]) {TEXTOID}, args))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("tenant slug \"%s\" is already taken", slug)));

	args[0] = CStringGetTextDatum(name);
	args[1] = CStringGetTextDatum(slug);
	args[2] = CStringGetTextDatum(plan);
	id = DatumGetUUIDP(mt_spi_value("INSERT INTO mt.tenants (name, slug, plan) "
									"VALUES ($1, $2, $3) RETURNING id",
									3, (Oid[]) {TEXTOID, TEXTOID, TEXTOID}, args,
									false, NULL));
	mt_spi_finish();
	mt_audit_record(id, "tenant.create", "tenant", mt_uuid_to_cstring(id), 3,
					(const char *[]) {"name", name, "slug", slug, "plan", plan});
	PG_RETURN_UUID_P(id);
}

/*
 * Moves a tenant to new_status.  Transitions out of 'deleted' are refused;
 * repeating the current status is a no-op.
 */
static void
set_tenant_status(FunctionCallInfo fcinfo, const char *what, const char *new_status,
				  const char *audit_action)
{
	pg_uuid_t  *tenant;
	Datum		args[2];
	bool		isnull;
	char	   *old_status;

	mt_require_writable(what, MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "tenant");
	tenant = PG_GETARG_UUID_P(0);

	mt_spi_connect();
	args[0] = UUIDPGetDatum(tenant);
	old_status = mt_spi_text("SELECT status FROM mt.tenants WHERE id = $1 FOR UPDATE",
							 1, (Oid[]) {UUIDOID}, args, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant %s does not exist", mt_uuid_to_cstring(tenant))));
	if (strcmp(old_status, "deleted") == 0 && strcmp(new_status, "deleted") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %s has been dropped", mt_uuid_to_cstring(tenant))));
	if (strcmp(old_status, new_status) != 0)
	{
		args[1] = CStringGetTextDatum(new_status);
		mt_spi_execute("UPDATE mt.tenants SET status = $2, status_changed_at = now() "
					   "WHERE id = $1",
					   2, (Oid[]) {UUIDOID, TEXTOID}, args, SPI_OK_UPDATE);
		mt_audit_record(tenant, audit_action, "tenant", mt_uuid_to_cstring(tenant), 2,
						(const char *[]) {"from", old_status, "to", new_status});
	}
	mt_spi_finish();
}

PG_FUNCTION_INFO_V1(mt_suspend_tenant);
Datum
mt_suspend_tenant(PG_FUNCTION_ARGS)
{
	set_tenant_status(fcinfo, "mt.suspend_tenant()", "suspended", "tenant.suspend");
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_resume_tenant);
Datum
mt_resume_tenant(PG_FUNCTION_ARGS)
{
	set_tenant_status(fcinfo, "mt.resume_tenant()", "active", "tenant.resume");
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_drop_tenant);
Datum
mt_drop_tenant(PG_FUNCTION_ARGS)
{
	set_tenant_status(fcinfo, "mt.drop_tenant()", "deleted", "tenant.drop");
	PG_RETURN_VOID();
}
