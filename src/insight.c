/*-------------------------------------------------------------------------
 *
 * insight.c
 *	  The readers of the per-tenant statistics (tenant_stats.c):
 *	  mt.stat_tenants (the view over mt.stat_tenants_rows()) and
 *	  mt.stat_tenants_reset().
 *
 * Who sees what: inside a tenant context, that tenant's own row only
 * (whatever the role); outside one, every row of the database to
 * superusers and members of pg_read_all_stats (pg_monitor is one), and
 * nothing to anyone else.
 *
 * This file has no shared state of its own: it reads tenant_stats.c's
 * under that module's locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "context.h"
#include "insight.h"
#include "tenant_stats.h"
#include "util.h"

static const char *const scope_names[] = {"tenant", "none", "evicted"};

/* may the current role read every tenant's statistics? */
bool
mt_insight_monitor(void)
{
	return superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

/*
 * The rows the caller may see (see the header comment); *n rows, NULL
 * when none.
 */
static MtStatRow *
visible_rows(int *n)
{
	const pg_uuid_t *cur = mt_context_tenant();

	*n = 0;
	if (cur != NULL)
		return mt_stat_snapshot(MyDatabaseId, cur, n);
	if (mt_insight_monitor())
		return mt_stat_snapshot(MyDatabaseId, NULL, n);
	return NULL;
}

/* mt.stat_tenants_rows(): the rows of the view mt.stat_tenants */
PG_FUNCTION_INFO_V1(mt_stat_tenants_rows);
Datum
mt_stat_tenants_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MtStatRow  *rows;
	int			n;

	mt_require_shared_memory("mt.stat_tenants");
	InitMaterializedSRF(fcinfo, 0);
	rows = visible_rows(&n);
	for (int i = 0; i < n; i++)
	{
		Datum		values[MT_STAT_NKINDS + 4];
		bool		nulls[MT_STAT_NKINDS + 4];
		int			c = 0;

		memset(nulls, 0, sizeof(nulls));
		values[c++] = CStringGetTextDatum(scope_names[rows[i].scope]);
		if (rows[i].scope == MT_STAT_SCOPE_TENANT)
		{
			pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

			memcpy(u, &rows[i].tenant, sizeof(pg_uuid_t));
			values[c++] = UUIDPGetDatum(u);
		}
		else
		{
			nulls[c] = true;
			values[c++] = (Datum) 0;
		}
		for (int k = 0; k < MT_STAT_NKINDS; k++)
			values[c++] = Int64GetDatum(rows[i].counts[k]);
		values[c++] = TimestampTzGetDatum(rows[i].since);
		values[c++] = TimestampTzGetDatum(rows[i].last_active);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* mt.stat_tenants_reset(): privileged (EXECUTE revoked from PUBLIC) */
PG_FUNCTION_INFO_V1(mt_stat_tenants_reset);
Datum
mt_stat_tenants_reset(PG_FUNCTION_ARGS)
{
	mt_require_shared_memory("mt.stat_tenants_reset()");
	PG_RETURN_INT64(mt_stat_reset(MyDatabaseId));
}
