/*-------------------------------------------------------------------------
 *
 * tenant_status.h
 *	  Tenant status lookup and cache, a tenant's placement level and its
 *	  cache, the registry generation and invalidation count
 *	  (tenant_status.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_TENANT_STATUS_H
#define MT_TENANT_STATUS_H

#include "postgres.h"

#include "utils/uuid.h"

typedef enum MtTenantStatus
{
	MT_TENANT_UNKNOWN,			/* no such row (or no mt.tenants here) */
	MT_TENANT_ACTIVE,
	MT_TENANT_SUSPENDED,
	MT_TENANT_DELETED
} MtTenantStatus;

/* shared memory (called from multitenant.c) */
extern Size mt_tenant_status_shmem_size(void);
extern void mt_tenant_status_shmem_startup(void);

/* called from mt_xact_callback with the XactEvent */
extern void mt_tenants_xact_callback(int event);

/* a tenant's level in this database's placement registry (placement.c) */
typedef enum MtPlacementLevel
{
	MT_LEVEL_SHARED,			/* no row, or level shared */
	MT_LEVEL_SCHEMA,
	MT_LEVEL_DATABASE,
	MT_LEVEL_SHARD
} MtPlacementLevel;

extern MtPlacementLevel mt_tenant_level_cached(const pg_uuid_t *tenant, const char **where);

extern MtTenantStatus mt_tenant_status(const pg_uuid_t *tenant);
extern MtTenantStatus mt_tenant_status_cached(const pg_uuid_t *tenant);

/*
 * A caller that keeps a status under the registry stamp (generation and
 * invalidation count: see below) hands it back before a check it knows
 * will follow: the next mt_tenant_status_cached() of that tenant answers
 * it without a lookup while the stamp has not moved.
 */
extern void mt_tenant_status_prime(const pg_uuid_t *tenant, MtTenantStatus status,
								   uint64 generation, uint64 inval);
extern void mt_require_active_tenant(const pg_uuid_t *tenant);
extern bool mt_tenant_by_slug(const char *slug, pg_uuid_t *out);

/*
 * What a cache of mt.tenants or mt.api_key_secrets rows is valid for: the
 * shared generation (false without shared memory: trust no cache) and this
 * backend's relcache invalidation count of those tables.
 */
extern bool mt_registry_generation(uint64 *gen);
extern uint64 mt_registry_inval_count(void);
/* the last-use flush's UPDATE of last_used_at only (api_keys.c) */
extern void mt_registry_last_use_only(bool on);


#endif							/* MT_TENANT_STATUS_H */
