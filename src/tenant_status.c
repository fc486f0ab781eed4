/*-------------------------------------------------------------------------
 *
 * tenant_status.c
 *	  The low half of the tenant registry: the status lookup the tenant
 *	  context relies on, the per-backend cache of that status, the shared
 *	  registry generation and this backend's registry invalidation count
 *	  (both also guard api_keys.c's key cache), and the statement trigger
 *	  and transaction callback that publish a change of mt.tenants or
 *	  mt.api_key_secrets.  The admin functions (create / suspend / resume /
 *	  drop) are in tenants.c, above this file.
 *
 * Status lookups (and the slug lookup of tokens naming a tenant by its
 * slug) read mt.tenants through its primary-key (slug) index directly
 * (no SPI, no RLS, no recursion into mt.current_tenant()) with the latest
 * snapshot.  Each backend caches the statuses it looked up (bounded hash
 * table); an entry is trusted only while two things stay unchanged:
 *
 *	- MtRegistryShared.tenant_generation: any transaction that changes
 *	  mt.tenants (or mt.api_key_secrets, whose rows api_keys.c caches the
 *	  same way) bumps that atomic before and after it commits (statement
 *	  trigger + xact callback), so on the primary a suspension or
 *	  revocation is seen by every backend at its next call (not the
 *	  last-use flush's UPDATE of last_used_at alone, which no cache
 *	  holds: mt_registry_last_use_only);
 *	- mt_registry_invalidations, this backend's count of relcache
 *	  invalidations of those tables (and of mt.tenant_placements, whose
 *	  level per tenant is cached here the same way, for the
 *	  check of isolation.c that keeps a tenant placed elsewhere out of the
 *	  shared tables; and of mt.secret_versions, whose rows
 *	  secret_versions.c caches the same way).  The same statement trigger queues
 *	  a relcache invalidation of its table, which is WAL-logged with the
 *	  commit and delivered by replay too, so on a hot standby (where no
 *	  trigger or commit callback runs) a change replayed from the primary
 *	  is seen at the standby backend's next transaction.  On the primary
 *	  an invalidation counts only when the table's pg_class row or its
 *	  triggers changed (dropped, truncated, altered), not for VACUUM's
 *	  and ANALYZE's in-place update of it (see registry_relcache_callback).
 *
 * In parallel mode (a parallel query's leader or workers) no new snapshot
 * may be taken: a lookup then reads with the query's active snapshot and
 * its result is used but not cached (it may be older than the generation
 * it would be tagged with).  Without shared memory the cache is bypassed
 * and the lookup runs once per transaction.
 *
 * Shared memory: this file's MtRegistryShared ("multitenant"), one atomic
 * generation counter; no lock protects it.  It is never bumped on a hot
 * standby (no trigger or commit callback runs there).  Registry changes
 * (tenants.c) take a row lock (SELECT ... FOR UPDATE) on the tenant.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "common/hashfn.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "port/atomics.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/relcache.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "catalog.h"
#include "tenant_status.h"
#include "util.h"

/*
 * The shared registry generation: bumped after any commit that changed
 * mt.tenants or mt.api_key_secrets (header comment).  An atomic; no lock.
 */
typedef struct MtRegistryShared
{
	pg_atomic_uint64 tenant_generation;
} MtRegistryShared;

static MtRegistryShared *registry_shared = NULL;

Size
mt_tenant_status_shmem_size(void)
{
	return MAXALIGN(sizeof(MtRegistryShared));
}

/* Called from mt_shmem_startup with AddinShmemInitLock held. */
void
mt_tenant_status_shmem_startup(void)
{
	bool		found;

	registry_shared = ShmemInitStruct("multitenant", sizeof(MtRegistryShared), &found);
	if (!found)
		pg_atomic_init_u64(&registry_shared->tenant_generation, 1);
}

/*
 * The shared registry generation in *gen; false (and no cache may be
 * trusted) when the library was not preloaded.
 */
bool
mt_registry_generation(uint64 *gen)
{
	if (registry_shared == NULL)
		return false;
	*gen = pg_atomic_read_u64(&registry_shared->tenant_generation);
	return true;
}

/* set by the mt.tenants statement trigger; published at commit */
static bool tenants_changed_in_xact = false;

/* per-backend status cache (see header comment), bounded */
#define MT_STATUS_CACHE_MAX 4096

typedef struct StatusCacheEntry
{
	pg_uuid_t	tenant;			/* hash key */
	uint64		generation;	/* MtRegistryShared.tenant_generation */
	uint64		inval;			/* mt_registry_invalidations */
	MtTenantStatus status;
} StatusCacheEntry;

static HTAB *status_cache = NULL;
static StatusCacheEntry last_status;	/* the last one answered */
static bool last_status_valid = false;

/*
 * Relcache invalidations of the registry tables (see the header comment).
 * The watched oids are learnt at the first lookup; until then every
 * relcache invalidation counts.
 *
 * On a hot standby every invalidation of a watched table counts: it is how
 * a replayed change reaches the caches.  On the primary a row change is
 * published by the generation (the statement trigger fires under every
 * session_replication_role, and PREPARE of such a change is refused), so
 * an invalidation counts only when the table itself changed: its pg_class
 * row is gone (DROP, a dropped extension) or is another version (TRUNCATE,
 * VACUUM FULL, an ALTER TABLE that rewrites the row: a new xmin, place or
 * relfilenode) or its triggers' pg_trigger rows changed (DISABLE / ENABLE
 * TRIGGER: a change made meanwhile published nothing), or while this
 * backend's own transaction has changed the registry (its own changes are
 * published to its caches by its own invalidations; at its abort the count
 * moves once more).  VACUUM and ANALYZE (autovacuum's, once a minute on a
 * table the last-use flush updates) rewrite that row in place and send an
 * invalidation that does not count, so they do not empty every backend's
 * caches.  The callback
 * may not read catalogs: it only notes that a check is due, and
 * mt_registry_inval_count() compares the rows at the next call in a
 * transaction (outside one it counts, without checking).
 */
typedef struct WatchedRel
{
	Oid			relid;			/* InvalidOid: not learnt (or not there) */
	bool		present;		/* its pg_class row, when last checked: */
	Oid			relfilenode;
	TransactionId xmin;			/* raw: freezing keeps it */
	ItemPointerData tid;
	uint64		triggers;		/* its pg_trigger rows' oids and xmins */
} WatchedRel;

#define W_TENANTS		0
#define W_KEYS			1
#define W_SECRETS		2
#define W_PLACEMENTS	3
#define W_COUNT			4

static WatchedRel watched[W_COUNT];
static uint64 mt_registry_invalidations = 0;
static uint64 checks_due = 0;	/* bumped by the callback */
static uint64 checks_done = 0;	/* checks_due when last checked */
static bool registry_callback_registered = false;
static bool saw_recovery = false;	/* a count was asked for in recovery */

static void
registry_relcache_callback(Datum arg, Oid relid)
{
	bool		watched_one = relid == InvalidOid;

	/*
	 * This transaction changed the registry: its own invalidations (at each
	 * command end, and at a subtransaction's abort) are how this backend's
	 * caches see its uncommitted changes, which no generation publishes yet.
	 */
	if (tenants_changed_in_xact ||
		!OidIsValid(watched[W_TENANTS].relid) || !OidIsValid(watched[W_SECRETS].relid))
	{
		mt_registry_invalidations++;
		return;
	}
	for (int i = 0; i < W_COUNT && !watched_one; i++)
		watched_one = relid == watched[i].relid;
	if (watched_one)
		checks_due++;
}

/*
 * A signature of relid's triggers (their oids and row versions): ALTER
 * TABLE ... DISABLE / ENABLE TRIGGER rewrites a pg_trigger row and sends an
 * invalidation of the table, but leaves its pg_class row alone; a change
 * made between the two publishes nothing, so that invalidation must count.
 */
static uint64
triggers_signature(Oid relid)
{
	Relation	trigrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	uint64		sig = 0;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(trigrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		uint64		one = ((uint64) ((Form_pg_trigger) GETSTRUCT(tup))->oid << 32) |
			HeapTupleHeaderGetRawXmin(tup->t_data);

		sig = hash_combine64(sig, hash_bytes_uint32_extended((uint32) one, one >> 32));
	}
	systable_endscan(scan);
	table_close(trigrel, AccessShareLock);
	return sig;
}

/* reads relid's pg_class row into *w (in a transaction) */
static void
watched_rel_read(WatchedRel *w, Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

	w->relid = relid;
	w->present = HeapTupleIsValid(tup);
	if (!w->present)
		return;
	w->relfilenode = ((Form_pg_class) GETSTRUCT(tup))->relfilenode;
	w->xmin = HeapTupleHeaderGetRawXmin(tup->t_data);
	w->tid = tup->t_self;
	ReleaseSysCache(tup);
	w->triggers = triggers_signature(relid);
}

/*
 * Watches relid as the table `which`.  Another table than the one watched
 * (the extension was dropped and created again) counts at once: a check
 * still due would compare the new table with itself.  The same table is
 * left to the due check.
 */
static void
watch_rel(int which, Oid relid)
{
	if (relid == watched[which].relid && OidIsValid(relid))
		return;
	if (OidIsValid(watched[which].relid))
		mt_registry_invalidations++;
	if (!OidIsValid(relid))
		memset(&watched[which], 0, sizeof(WatchedRel));
	else
		watched_rel_read(&watched[which], relid);
}

/*
 * Learns the oids of the watched tables (tenants: mt.tenants' oid, or
 * InvalidOid when the extension is not here); again when mt.tenants is
 * another table than the one learnt (the extension was recreated) or
 * mt.secret_versions was missing (it appears with the update to 0.3.0).
 */
static void
watch_registry_tables(Oid tenants)
{
	if (!OidIsValid(tenants) ||
		(tenants == watched[W_TENANTS].relid && OidIsValid(watched[W_SECRETS].relid)))
		return;
	watch_rel(W_KEYS, mt_catalog_relid("api_key_secrets"));
	watch_rel(W_SECRETS, mt_catalog_relid("secret_versions"));
	watch_rel(W_PLACEMENTS, mt_catalog_relid("tenant_placements"));
	watch_rel(W_TENANTS, tenants);
}

/*
 * The due check (see above): counts one invalidation if a watched table
 * changed (or on a standby, or outside a transaction, where it cannot
 * tell).  What it remembers and checks_done move only once every row was
 * read, so an error while reading (a cancel while waiting for pg_class's
 * lock), or an invalidation that arrives during the reads, leaves the
 * whole check due.
 */
static void
check_watched_rels(void)
{
	uint64		due = checks_due;
	bool		changed = false;

	if (!IsTransactionState() || RecoveryInProgress())
		changed = true;
	else
	{
		WatchedRel	now[W_COUNT];

		for (int i = 0; i < W_COUNT; i++)
		{
			now[i] = watched[i];
			if (OidIsValid(watched[i].relid))
				watched_rel_read(&now[i], watched[i].relid);
		}
		for (int i = 0; i < W_COUNT; i++)
			if (now[i].present != watched[i].present ||
				(now[i].present &&
				 (now[i].relfilenode != watched[i].relfilenode ||
				  now[i].triggers != watched[i].triggers ||
				  !TransactionIdEquals(now[i].xmin, watched[i].xmin) ||
				  !ItemPointerEquals(&now[i].tid, &watched[i].tid))))
				changed = true;
		memcpy(watched, now, sizeof(watched));

		/*
		 * mt.tenants is gone (the extension was dropped, perhaps created
		 * again): learn the new tables now, within this one count, so that
		 * the first lookup after it does not count again.
		 */
		if (changed && OidIsValid(watched[W_TENANTS].relid) && !watched[W_TENANTS].present)
		{
			memset(watched, 0, sizeof(watched));
			watch_registry_tables(mt_catalog_relid("tenants"));
		}
	}
	if (changed)
		mt_registry_invalidations++;
	checks_done = due;
}

/*
 * This backend's registry invalidation count; registers the callback once
 * and learns the watched oids then (in a transaction), so that the first
 * count a cache is stamped with is not moved by invalidations of other
 * relations (another session's temporary tables, autovacuum's statistics
 * of the catalogs) that arrive before the first lookup.
 */
uint64
mt_registry_inval_count(void)
{
	if (!registry_callback_registered)
	{
		mt_register_relcache_callback(registry_relcache_callback);
		registry_callback_registered = true;
		if (IsTransactionState())
			watch_registry_tables(mt_catalog_relid("tenants"));
	}
	if (checks_due != checks_done)
		check_watched_rels();

	/*
	 * A promoted standby: invalidations replayed before the promotion may
	 * be checked after it, where a row change no longer counts (and no
	 * generation published it), so the end of recovery counts once.
	 */
	if (RecoveryInProgress())
		saw_recovery = true;
	else if (saw_recovery)
	{
		saw_recovery = false;
		mt_registry_invalidations++;
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
	MtPkProbe	probe;
	HeapTuple	tup;
	AttrNumber	status_att;
	MtTenantStatus result = MT_TENANT_UNKNOWN;

	*fresh = !IsInParallelMode();
	relid = mt_catalog_relid("tenants");
	if (!OidIsValid(relid))
		return MT_TENANT_UNKNOWN;
	watch_registry_tables(relid);
	if (!*fresh && !ActiveSnapshotSet())
		return MT_TENANT_UNKNOWN;

	rel = table_open(relid, AccessShareLock);
	status_att = get_attnum(relid, "status");
	tup = status_att == InvalidAttrNumber ? NULL :
		mt_pk_probe_begin(&probe, rel, get_attnum(relid, "id"), F_UUID_EQ,
						  UUIDPGetDatum((pg_uuid_t *) tenant), *fresh);
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
	if (status_att != InvalidAttrNumber)
		mt_pk_probe_end(&probe);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * The tenant whose slug is slug (the external tenant key a token's tenant
 * claim may hold, context.c), read like the status: the unique index on
 * mt.tenants.slug, the latest snapshot (the query's in parallel mode), no
 * SPI.  False when there is none (or no registry here).
 */
bool
mt_tenant_by_slug(const char *slug, pg_uuid_t *out)
{
	Oid			relid = mt_catalog_relid("tenants");
	Relation	rel;
	AttrNumber	slug_att;
	AttrNumber	id_att;
	List	   *indexes;
	ListCell   *lc;
	bool		found = false;
	bool		fresh = !IsInParallelMode();

	if (!OidIsValid(relid) || (!fresh && !ActiveSnapshotSet()))
		return false;
	rel = table_open(relid, AccessShareLock);
	slug_att = get_attnum(relid, "slug");
	id_att = get_attnum(relid, "id");
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index ind = idx->rd_index;

		if (slug_att != InvalidAttrNumber && id_att != InvalidAttrNumber &&
			ind->indisunique && ind->indnkeyatts == 1 && ind->indkey.values[0] == slug_att &&
			RelationGetIndexPredicate(idx) == NIL)
		{
			ScanKeyData skey;
			Snapshot	snap = fresh ? mt_fresh_snapshot(relid) :
				RegisterSnapshot(GetActiveSnapshot());
			SysScanDesc scan;
			HeapTuple	tup;

			ScanKeyEntryInitialize(&skey, 0, slug_att, BTEqualStrategyNumber, InvalidOid,
								   idx->rd_indcollation[0], F_TEXTEQ,
								   CStringGetTextDatum(slug));
			scan = systable_beginscan(rel, RelationGetRelid(idx), true, snap, 1, &skey);
			tup = systable_getnext(scan);
			if (HeapTupleIsValid(tup))
			{
				bool		isnull;
				Datum		d = heap_getattr(tup, id_att, RelationGetDescr(rel), &isnull);

				if (!isnull)
				{
					memcpy(out, DatumGetUUIDP(d), sizeof(pg_uuid_t));
					found = true;
				}
			}
			systable_endscan(scan);
			UnregisterSnapshot(snap);
			index_close(idx, AccessShareLock);
			break;
		}
		index_close(idx, AccessShareLock);
	}
	list_free(indexes);
	table_close(rel, AccessShareLock);
	return found;
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

	if (registry_shared == NULL)
		return mt_tenant_status(tenant);

	/* read both before looking, so a racing change re-checks */
	gen = pg_atomic_read_u64(&registry_shared->tenant_generation);
	inval = mt_registry_inval_count();

	/* the tenant asked last (a session mostly asks about one), same rules */
	if (last_status_valid && last_status.generation == gen && last_status.inval == inval &&
		memcmp(&last_status.tenant, tenant, sizeof(pg_uuid_t)) == 0)
		return last_status.status;

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

	entry = hash_search(status_cache, tenant, HASH_FIND, NULL);
	if (entry != NULL && entry->generation == gen && entry->inval == inval)
	{
		last_status = *entry;
		last_status_valid = true;
		return entry->status;
	}

	status = tenant_status_read(tenant, &fresh);
	if (fresh)
	{
		entry = hash_search(status_cache, tenant, HASH_ENTER, &found);
		entry->generation = gen;
		entry->inval = inval;
		entry->status = status;
		last_status = *entry;
		last_status_valid = true;
	}
	return status;
}

void
mt_tenant_status_prime(const pg_uuid_t *tenant, MtTenantStatus status,
					   uint64 generation, uint64 inval)
{
	memcpy(&last_status.tenant, tenant, sizeof(pg_uuid_t));
	last_status.generation = generation;
	last_status.inval = inval;
	last_status.status = status;
	last_status_valid = true;
}

/*
 * Placement levels per tenant, cached like the statuses (bounded hash
 * table; an entry is trusted while neither the shared generation nor this
 * backend's registry invalidation count has moved: mt.tenant_placements
 * has the same statement trigger as mt.tenants).  where: the schema or
 * database name, for messages.
 */
typedef struct LevelCacheEntry
{
	pg_uuid_t	tenant;			/* hash key */
	uint64		generation;
	uint64		inval;
	MtPlacementLevel level;
	NameData	where;
} LevelCacheEntry;

static HTAB *level_cache = NULL;

/*
 * Whether any tenant is placed at the schema or database level at all,
 * cached per backend like the levels (generation, invalidation count): a
 * database without such a tenant (the usual case) never reads the
 * registry per tenant.  One scan of mt.tenant_placements, stopped at the
 * first such row; fresh as in tenant_status_read.
 */
static bool placed_known = false;
static uint64 placed_generation;
static uint64 placed_inval;
static bool any_placed;

static bool
placements_exist(bool *fresh)
{
	Oid			relid;
	Relation	rel;
	AttrNumber	level_att;
	SysScanDesc scan;
	Snapshot	snap;
	HeapTuple	tup;
	bool		found = false;

	*fresh = !IsInParallelMode();
	relid = mt_catalog_relid("tenant_placements");
	if (!OidIsValid(relid))
		return false;
	if (!*fresh && !ActiveSnapshotSet())
		return false;
	rel = table_open(relid, AccessShareLock);
	level_att = get_attnum(relid, "level");
	if (level_att != InvalidAttrNumber)
	{
		snap = *fresh ? mt_fresh_snapshot(relid) : RegisterSnapshot(GetActiveSnapshot());
		scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
		while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, level_att, RelationGetDescr(rel), &isnull);
			char	   *s = isnull ? "" : TextDatumGetCString(d);

			found = strcmp(s, "schema") == 0 || strcmp(s, "database") == 0;
		}
		systable_endscan(scan);
		UnregisterSnapshot(snap);
	}
	table_close(rel, AccessShareLock);
	return found;
}

/* read through the primary key, as tenant_status_read; fresh as there */
static MtPlacementLevel
tenant_level_read(const pg_uuid_t *tenant, NameData *where, bool *fresh)
{
	Oid			relid;
	Relation	rel;
	MtPkProbe	probe;
	HeapTuple	tup;
	AttrNumber	level_att,
				schema_att,
				db_att;
	MtPlacementLevel result = MT_LEVEL_SHARED;

	*fresh = !IsInParallelMode();
	memset(where, 0, sizeof(NameData));
	relid = mt_catalog_relid("tenant_placements");
	if (!OidIsValid(relid))
		return MT_LEVEL_SHARED; /* before 0.4.0: every tenant is shared */
	(void) mt_registry_inval_count();	/* the callback is registered */
	watch_rel(W_PLACEMENTS, relid); /* also when it appeared after the others */
	if (!*fresh && !ActiveSnapshotSet())
		return MT_LEVEL_SHARED;

	rel = table_open(relid, AccessShareLock);
	level_att = get_attnum(relid, "level");
	schema_att = get_attnum(relid, "schema_name");
	db_att = get_attnum(relid, "dbname");
	tup = level_att == InvalidAttrNumber ? NULL :
		mt_pk_probe_begin(&probe, rel, get_attnum(relid, "tenant_id"), F_UUID_EQ,
						  UUIDPGetDatum((pg_uuid_t *) tenant), *fresh);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, level_att, RelationGetDescr(rel), &isnull);
		char	   *s = isnull ? "shared" : TextDatumGetCString(d);

		if (strcmp(s, "schema") == 0)
		{
			result = MT_LEVEL_SCHEMA;
			d = heap_getattr(tup, schema_att, RelationGetDescr(rel), &isnull);
		}
		else if (strcmp(s, "database") == 0)
		{
			result = MT_LEVEL_DATABASE;
			d = heap_getattr(tup, db_att, RelationGetDescr(rel), &isnull);
		}
		else
		{
			result = strcmp(s, "shard") == 0 ? MT_LEVEL_SHARD : MT_LEVEL_SHARED;
			isnull = true;
		}
		if (!isnull)
			namestrcpy(where, NameStr(*DatumGetName(d)));
	}
	if (level_att != InvalidAttrNumber)
		mt_pk_probe_end(&probe);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * The tenant's level in this database's placement registry (shared when it
 * has no row), through the cache above; *where (may be NULL) the
 * schema or database name, or "" (valid until the next call).  Per
 * statement: two counters, and a hash lookup when some tenant is placed at
 * the schema or database level here; no catalog read.
 */
MtPlacementLevel
mt_tenant_level_cached(const pg_uuid_t *tenant, const char **where)
{
	uint64		gen;
	uint64		inval;
	bool		fresh;
	bool		found;
	NameData	name;
	MtPlacementLevel level;
	LevelCacheEntry *entry;

	if (registry_shared == NULL)
	{
		level = tenant_level_read(tenant, &name, &fresh);
		if (where)
			*where = pstrdup(NameStr(name));
		return level;
	}
	if (level_cache == NULL || hash_get_num_entries(level_cache) >= MT_STATUS_CACHE_MAX)
	{
		HASHCTL		ctl;

		if (level_cache != NULL)
			hash_destroy(level_cache);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(LevelCacheEntry);
		ctl.hcxt = TopMemoryContext;
		level_cache = hash_create("multitenant placement level cache", 256, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	/* read both before looking, so a racing change re-checks */
	gen = pg_atomic_read_u64(&registry_shared->tenant_generation);
	inval = mt_registry_inval_count();
	if (!placed_known || placed_generation != gen || placed_inval != inval)
	{
		bool		exist = placements_exist(&fresh);

		if (fresh)
		{
			placed_known = true;
			placed_generation = gen;
			placed_inval = inval;
			any_placed = exist;
		}
		else if (!exist)
		{
			if (where)
				*where = "";
			return MT_LEVEL_SHARED;
		}
	}
	if (placed_known && placed_generation == gen && placed_inval == inval && !any_placed)
	{
		if (where)
			*where = "";
		return MT_LEVEL_SHARED;
	}
	entry = hash_search(level_cache, tenant, HASH_FIND, NULL);
	if (entry == NULL || entry->generation != gen || entry->inval != inval)
	{
		level = tenant_level_read(tenant, &name, &fresh);
		if (!fresh)
		{
			if (where)
				*where = pstrdup(NameStr(name));
			return level;
		}
		entry = hash_search(level_cache, tenant, HASH_ENTER, &found);
		entry->generation = gen;
		entry->inval = inval;
		entry->level = level;
		entry->where = name;
	}
	if (where)
		*where = NameStr(entry->where);
	return entry->level;
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
			if (tenants_changed_in_xact && registry_shared != NULL)
				pg_atomic_fetch_add_u64(&registry_shared->tenant_generation, 1);
			break;
		case XACT_EVENT_COMMIT:
			if (tenants_changed_in_xact && registry_shared != NULL)
				pg_atomic_fetch_add_u64(&registry_shared->tenant_generation, 1);
			tenants_changed_in_xact = false;
			break;
		case XACT_EVENT_ABORT:

			/*
			 * What this backend's caches read of its own changes is gone
			 * (its invalidations at abort come after this callback, and no
			 * longer count unconditionally).
			 */
			if (tenants_changed_in_xact)
				mt_registry_invalidations++;
			tenants_changed_in_xact = false;
			break;
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
/*
 * Set by api_keys.c around the one statement of the last-use flush that
 * writes only mt.api_key_secrets.last_used_at, which no cache holds: that
 * UPDATE does not empty every backend's caches (the flush runs every
 * multitenant.flush_interval).  Any other statement, and that one's
 * re-hash companion, invalidates as always.
 */
static bool last_use_only = false;

void
mt_registry_last_use_only(bool on)
{
	last_use_only = on;
}

PG_FUNCTION_INFO_V1(mt_tenants_changed);
Datum
mt_tenants_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.tenants_changed() must be called as a trigger")));
	td = (TriggerData *) fcinfo->context;
	if (last_use_only && TRIGGER_FIRED_BY_UPDATE(td->tg_event) &&
		RelationGetRelid(td->tg_relation) == mt_catalog_relid("api_key_secrets"))
		return PointerGetDatum(NULL);
	tenants_changed_in_xact = true;
	CacheInvalidateRelcache(((TriggerData *) fcinfo->context)->tg_relation);
	return PointerGetDatum(NULL);
}

