/*-------------------------------------------------------------------------
 *
 * tenants.c
 *	  The tenant registry: mt.create_tenant / suspend / resume / drop, the
 *	  status lookup the tenant context relies on, and the per-backend cache
 *	  of that status.
 *
 * Status lookups read mt.tenants through its primary-key index directly
 * (no SPI, no RLS, no recursion into mt.current_tenant()) with the latest
 * snapshot.  Each backend caches the statuses it looked up (bounded hash
 * table); an entry is trusted only while two things stay unchanged:
 *
 *	- MultitenantShared.tenant_generation: any transaction that changes
 *	  mt.tenants (or mt.api_key_secrets, whose rows api_keys.c caches the
 *	  same way) bumps that atomic before and after it commits (statement
 *	  trigger + xact callback), so on the primary a suspension or
 *	  revocation is seen by every backend at its next call;
 *	- mt_registry_invalidations, this backend's count of relcache
 *	  invalidations of those two tables.  The same statement trigger queues
 *	  a relcache invalidation of its table, which is WAL-logged with the
 *	  commit and delivered by replay too, so on a hot standby (where no
 *	  trigger or commit callback runs) a change replayed from the primary
 *	  is seen at the standby backend's next transaction.
 *
 * In parallel mode (a parallel query's leader or workers) no new snapshot
 * may be taken: a lookup then reads with the query's active snapshot and
 * its result is used but not cached (it may be older than the generation
 * it would be tagged with).  Without shared memory the cache is bypassed
 * and the lookup runs once per transaction.
 *
 * Locks: only the atomic generation counter is shared.  Registry changes
 * take a row lock (SELECT ... FOR UPDATE) on the tenant.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "multitenant.h"
#include "audit.h"
#include "spi_util.h"

/* set by the mt.tenants statement trigger; published at commit */
static bool tenants_changed_in_xact = false;

/* per-backend status cache (see header comment), bounded */
#define MT_STATUS_CACHE_MAX 4096

typedef struct StatusCacheEntry
{
	pg_uuid_t	tenant;			/* hash key */
	uint64		generation;	/* MultitenantShared.tenant_generation */
	uint64		inval;			/* mt_registry_invalidations */
	MtTenantStatus status;
} StatusCacheEntry;

static HTAB *status_cache = NULL;

/*
 * Relcache invalidations of the registry tables (see the header comment).
 * The watched oids are learnt at the first lookup; until then every
 * relcache invalidation counts.
 */
static uint64 mt_registry_invalidations = 0;
static Oid	watched_tenants = InvalidOid;
static Oid	watched_keys = InvalidOid;
static bool registry_callback_registered = false;

static void
registry_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || !OidIsValid(watched_tenants) ||
		relid == watched_tenants || relid == watched_keys)
		mt_registry_invalidations++;
}

/* this backend's registry invalidation count; registers the callback once */
uint64
mt_registry_inval_count(void)
{
	if (!registry_callback_registered)
	{
		CacheRegisterRelcacheCallback(registry_relcache_callback, (Datum) 0);
		registry_callback_registered = true;
	}
	return mt_registry_invalidations;
}

/*
 * Status of a tenant, read through the primary key with the latest
 * snapshot (*fresh = true), or in parallel mode, where no new snapshot may
 * be taken, with the query's active snapshot (*fresh = false).
 * MT_TENANT_UNKNOWN when there is no such row, or no registry (the
 * extension is not installed in this database): fail closed.
 */
static MtTenantStatus
tenant_status_read(const pg_uuid_t *tenant, bool *fresh)
{
	Oid			relid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	AttrNumber	id_att,
				status_att;
	MtTenantStatus result = MT_TENANT_UNKNOWN;

	*fresh = !IsInParallelMode();
	relid = mt_catalog_relid("tenants");
	if (!OidIsValid(relid))
		return MT_TENANT_UNKNOWN;
	if (relid != watched_tenants)
	{
		watched_keys = mt_catalog_relid("api_key_secrets");
		watched_tenants = relid;
	}
	if (!*fresh && !ActiveSnapshotSet())
		return MT_TENANT_UNKNOWN;

	rel = table_open(relid, AccessShareLock);
	id_att = get_attnum(relid, "id");
	status_att = get_attnum(relid, "status");
	RelationGetIndexList(rel);	/* fills rd_pkindex */
	if (!OidIsValid(rel->rd_pkindex) || id_att == InvalidAttrNumber ||
		status_att == InvalidAttrNumber)
	{
		table_close(rel, AccessShareLock);
		return MT_TENANT_UNKNOWN;
	}

	ScanKeyInit(&key, id_att, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum((pg_uuid_t *) tenant));
	snap = RegisterSnapshot(*fresh ? GetLatestSnapshot() : GetActiveSnapshot());
	scan = systable_beginscan(rel, rel->rd_pkindex, true, snap, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, status_att, RelationGetDescr(rel), &isnull);
		char	   *s = isnull ? "" : TextDatumGetCString(d);

		if (strcmp(s, "active") == 0)
			result = MT_TENANT_ACTIVE;
		else if (strcmp(s, "suspended") == 0)
			result = MT_TENANT_SUSPENDED;
		else
			result = MT_TENANT_DELETED;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return result;
}

MtTenantStatus
mt_tenant_status(const pg_uuid_t *tenant)
{
	bool		fresh;

	return tenant_status_read(tenant, &fresh);
}

/*
 * Tenant status through the per-backend cache; an entry is trusted only
 * while neither the shared generation nor this backend's registry
 * invalidation count has moved since it was read.
 */
MtTenantStatus
mt_tenant_status_cached(const pg_uuid_t *tenant)
{
	uint64		gen;
	uint64		inval;
	StatusCacheEntry *entry;
	bool		found;
	bool		fresh;
	MtTenantStatus status;

	if (mt_shared == NULL)
		return mt_tenant_status(tenant);

	if (status_cache == NULL || hash_get_num_entries(status_cache) >= MT_STATUS_CACHE_MAX)
	{
		HASHCTL		ctl;

		if (status_cache != NULL)
			hash_destroy(status_cache);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(StatusCacheEntry);
		ctl.hcxt = TopMemoryContext;
		status_cache = hash_create("multitenant tenant status cache", 256, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	/* read both before looking, so a racing change re-checks */
	gen = pg_atomic_read_u64(&mt_shared->tenant_generation);
	inval = mt_registry_inval_count();
	entry = hash_search(status_cache, tenant, HASH_FIND, NULL);
	if (entry != NULL && entry->generation == gen && entry->inval == inval)
		return entry->status;

	status = tenant_status_read(tenant, &fresh);
	if (fresh)
	{
		entry = hash_search(status_cache, tenant, HASH_ENTER, &found);
		entry->generation = gen;
		entry->inval = inval;
		entry->status = status;
	}
	return status;
}

void
mt_require_active_tenant(const pg_uuid_t *tenant)
{
	MtTenantStatus status = mt_tenant_status(tenant);

	if (status == MT_TENANT_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant %s does not exist", mt_uuid_to_cstring(tenant))));
	if (status != MT_TENANT_ACTIVE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %s is not active", mt_uuid_to_cstring(tenant))));
}

void
mt_tenants_xact_callback(int event)
{
	switch ((XactEvent) event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (tenants_changed_in_xact)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed mt.tenants or mt.api_key_secrets")));
			break;
		case XACT_EVENT_PRE_COMMIT:
			/*
			 * Bump before the commit too: a cache filled between this bump
			 * and the commit becoming visible carries this generation, and
			 * the bump after the commit invalidates it.
			 */
			if (tenants_changed_in_xact && mt_shared != NULL)
				pg_atomic_fetch_add_u64(&mt_shared->tenant_generation, 1);
			break;
		case XACT_EVENT_COMMIT:
			if (tenants_changed_in_xact && mt_shared != NULL)
				pg_atomic_fetch_add_u64(&mt_shared->tenant_generation, 1);
			tenants_changed_in_xact = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			tenants_changed_in_xact = false;
			break;
		default:
			break;
	}
}

/*
 * Statement trigger on mt.tenants and mt.api_key_secrets: remember to
 * publish a new generation, and queue a relcache invalidation of the table,
 * which is sent at commit and replayed on hot standbys (header comment).
 */
PG_FUNCTION_INFO_V1(mt_tenants_changed);
Datum
mt_tenants_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.tenants_changed() must be called as a trigger")));
	tenants_changed_in_xact = true;
	CacheInvalidateRelcache(((TriggerData *) fcinfo->context)->tg_relation);
	return PointerGetDatum(NULL);
}

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
set_tenant_status(FunctionCallInfo fcinfo, const char *new_status, const char *audit_action)
{
	pg_uuid_t  *tenant;
	Datum		args[2];
	bool		isnull;
	char	   *old_status;

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
	set_tenant_status(fcinfo, "suspended", "tenant.suspend");
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_resume_tenant);
Datum
mt_resume_tenant(PG_FUNCTION_ARGS)
{
	set_tenant_status(fcinfo, "active", "tenant.resume");
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_drop_tenant);
Datum
mt_drop_tenant(PG_FUNCTION_ARGS)
{
	set_tenant_status(fcinfo, "deleted", "tenant.drop");
	PG_RETURN_VOID();
}
