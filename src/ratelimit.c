/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *	  mt.rate_limit(bucket, per_second, burst): the generic cell rate
 *	  algorithm (GCRA) over a bounded shared hash table of buckets.
 *
 * A bucket is keyed by (database, current tenant or the nil uuid without
 * a tenant context, bucket name) and holds one timestamp, the theoretical
 * arrival time (TAT).  A call at time t with emission interval
 * T = 1/per_second is allowed when max(TAT, t) + T - t <= T * burst, and
 * then moves TAT to max(TAT, t) + T.  No refill thread is needed.
 *
 * Bounds: the table holds multitenant.max_rate_limits buckets, and one
 * tenant (the callers without a tenant context of a database count as one
 * more tenant) at most multitenant.tenant_rate_limit_share percent of
 * them.  A bucket whose TAT is in the past is idle: a fresh bucket would
 * answer exactly the same, so it can be evicted without changing any
 * answer.  Busy buckets are never evicted: when a new bucket finds no room
 * (table full, or its tenant at its share) after the idle ones are gone,
 * the call that wanted the new bucket fails with 53400 and every existing
 * bucket keeps its state.
 *
 * Shared memory and locks: this file's own (sized, requested and created
 * by the functions multitenant.c calls).  The table's LWLock (the
 * "multitenant rate limits" tranche) is taken SHARED to find a bucket and EXCLUSIVE only to add or
 * evict one; each bucket's TAT is read and moved under its spinlock.  The
 * per-tenant bucket counts (a second hash keyed by database and tenant)
 * and next_scan are protected by the exclusive lock.  next_scan is a lower
 * bound of every busy bucket's TAT (TATs only grow), so a full table is
 * scanned for idle buckets at most once per time one can have become idle,
 * never on every call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "citus_node.h"
#include "context.h"
#include "ratelimit.h"
#include "tenant_stats.h"
#include "util.h"

/* GUC variables (defined in multitenant.c) */
int			mt_max_rate_limits = 10000;
int			mt_tenant_rate_limit_share = 10;

#define MT_BUCKET_MAXLEN 127

typedef struct MtRateKey
{
	Oid			dbid;
	pg_uuid_t	tenant;			/* all zero without a tenant context */
	char		name[MT_BUCKET_MAXLEN + 1]; /* NUL padded */
} MtRateKey;

typedef struct MtRateEntry
{
	MtRateKey	key;
	slock_t		mutex;
	TimestampTz tat;			/* theoretical arrival time, protected by mutex */
} MtRateEntry;

/* buckets of one (database, tenant); exclusive lock */
typedef struct MtRateTenantKey
{
	Oid			dbid;
	pg_uuid_t	tenant;
} MtRateTenantKey;

typedef struct MtRateTenant
{
	MtRateTenantKey key;
	int			n;
} MtRateTenant;

typedef struct MtRateShared
{
	TimestampTz next_scan;		/* no bucket can be idle before this */
} MtRateShared;

static LWLock *rate_lock = NULL;
static HTAB *rate_htab = NULL;
static HTAB *rate_tenants = NULL;
static MtRateShared *rate_shared = NULL;

Size
mt_ratelimit_shmem_size(void)
{
	Size		size = hash_estimate_size(mt_max_rate_limits, sizeof(MtRateEntry));

	size = add_size(size, hash_estimate_size(mt_max_rate_limits, sizeof(MtRateTenant)));
	return add_size(size, MAXALIGN(sizeof(MtRateShared)));
}

void
mt_ratelimit_shmem_request(void)
{
	RequestNamedLWLockTranche("multitenant rate limits", 1);
}

/* Called from mt_shmem_startup with AddinShmemInitLock held. */
void
mt_ratelimit_shmem_startup(void)
{
	HASHCTL		info;
	bool		found;

	rate_lock = &(GetNamedLWLockTranche("multitenant rate limits"))->lock;
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(MtRateKey);
	info.entrysize = sizeof(MtRateEntry);
	rate_htab = ShmemInitHash("multitenant rate limits",
							  mt_max_rate_limits, mt_max_rate_limits,
							  &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(MtRateTenantKey);
	info.entrysize = sizeof(MtRateTenant);
	rate_tenants = ShmemInitHash("multitenant rate limit tenants",
								 mt_max_rate_limits, mt_max_rate_limits,
								 &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	rate_shared = ShmemInitStruct("multitenant rate limit state", sizeof(MtRateShared), &found);
	if (!found)
		rate_shared->next_scan = 0;
}

/* the most buckets one tenant may hold */
static int
rate_tenant_share(void)
{
	return (int) Max((int64) 1, (int64) mt_max_rate_limits * mt_tenant_rate_limit_share / 100);
}

static void
rate_tenant_key(MtRateTenantKey *tk, const MtRateKey *key)
{
	memset(tk, 0, sizeof(*tk));
	tk->dbid = key->dbid;
	memcpy(&tk->tenant, &key->tenant, sizeof(pg_uuid_t));
}

/* buckets the tenant of key holds; exclusive lock held */
static int
rate_tenant_count(const MtRateKey *key)
{
	MtRateTenantKey tk;
	MtRateTenant *t;

	rate_tenant_key(&tk, key);
	t = hash_search(rate_tenants, &tk, HASH_FIND, NULL);
	return t ? t->n : 0;
}

/*
 * Adds delta to the bucket count of key's tenant; exclusive lock held.
 * The tenant hash has as many entries as the bucket table, so there is
 * always room for the tenant of a bucket that exists.
 */
static void
rate_tenant_add(const MtRateKey *key, int delta)
{
	MtRateTenantKey tk;
	MtRateTenant *t;
	bool		found;

	rate_tenant_key(&tk, key);
	t = hash_search(rate_tenants, &tk, delta > 0 ? HASH_ENTER_NULL : HASH_FIND, &found);
	if (t == NULL)
		elog(ERROR, "multitenant: rate-limit tenant table out of sync");
	if (delta > 0 && !found)
		t->n = 0;
	t->n += delta;
	if (t->n <= 0)
		hash_search(rate_tenants, &tk, HASH_REMOVE, NULL);
}

/* GCRA step under the bucket's spinlock */
static inline bool
gcra(MtRateEntry *e, TimestampTz now, int64 interval, int64 tolerance)
{
	bool		allowed;
	TimestampTz tat;

	SpinLockAcquire(&e->mutex);
	tat = Max(e->tat, now);
	allowed = (tat + interval - now <= tolerance);
	if (allowed)
		e->tat = tat + interval;
	SpinLockRelease(&e->mutex);
	return allowed;
}

/*
 * Make room: drop every idle bucket (TAT not after now), never a busy one,
 * and remember when the earliest busy bucket can become idle.  Exclusive
 * lock held, so no one is inside a bucket.
 */
static void
rate_evict_locked(TimestampTz now)
{
	HASH_SEQ_STATUS hs;
	MtRateEntry *e;
	TimestampTz next = PG_INT64_MAX;

	hash_seq_init(&hs, rate_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		if (e->tat <= now)
		{
			MtRateKey	key = e->key;

			rate_tenant_add(&key, -1);
			hash_search(rate_htab, &key, HASH_REMOVE, NULL);
		}
		else if (e->tat < next)
			next = e->tat;
	}
	rate_shared->next_scan = next;
}

static bool rate_limit_call(FunctionCallInfo fcinfo);

/* every refusal is counted in the tenant's statistics (tenant_stats.c) */
PG_FUNCTION_INFO_V1(mt_rate_limit);
Datum
mt_rate_limit(PG_FUNCTION_ARGS)
{
	bool		allowed = rate_limit_call(fcinfo);

	if (!allowed)
		mt_stat_count(mt_context_tenant(), MT_STAT_RATE_LIMITED);
	PG_RETURN_BOOL(allowed);
}

static bool
rate_limit_call(FunctionCallInfo fcinfo)
{
	text	   *bucket;
	int			len;
	float8		per_second;
	int32		burst;
	MtRateKey	key;
	const pg_uuid_t *tenant;
	TimestampTz now;
	int64		interval;
	int64		tolerance;
	MtRateEntry *e;
	bool		allowed;

	mt_require_coordinator("mt.rate_limit()");
	mt_require_shared_memory("mt.rate_limit()");
	mt_require_args(fcinfo, 3, "bucket, per_second and burst");
	bucket = PG_GETARG_TEXT_PP(0);
	per_second = PG_GETARG_FLOAT8(1);
	burst = PG_GETARG_INT32(2);

	len = VARSIZE_ANY_EXHDR(bucket);
	if (len < 1 || len > MT_BUCKET_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid rate-limit bucket name"),
				 errdetail("A bucket name is 1 to %d bytes long.", MT_BUCKET_MAXLEN)));
	if (isnan(per_second) || per_second < 1e-6 || per_second > 1e6)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("per_second must be between 0.000001 and 1000000")));
	if (burst < 1 || burst > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("burst must be between 1 and 1000000")));

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	tenant = mt_context_tenant();
	if (tenant != NULL)
		memcpy(&key.tenant, tenant, sizeof(pg_uuid_t));
	memcpy(key.name, VARDATA_ANY(bucket), len);

	/* T in microseconds (at least 1); tolerance T * burst fits in int64 */
	interval = Max((int64) 1, (int64) llround(1e6 / per_second));
	tolerance = interval * burst;
	now = GetCurrentTimestamp();

	LWLockAcquire(rate_lock, LW_SHARED);
	e = hash_search(rate_htab, &key, HASH_FIND, NULL);
	if (e != NULL)
	{
		allowed = gcra(e, now, interval, tolerance);
		LWLockRelease(rate_lock);
		return allowed;
	}
	LWLockRelease(rate_lock);

	LWLockAcquire(rate_lock, LW_EXCLUSIVE);
	e = hash_search(rate_htab, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		bool		found = false;
		int			share = rate_tenant_share();
		bool		full = hash_get_num_entries(rate_htab) >= mt_max_rate_limits;
		bool		over = rate_tenant_count(&key) >= share;

		/* room is made only from idle buckets, at most once per time one can be */
		if ((full || over) && now >= rate_shared->next_scan)
		{
			rate_evict_locked(now);
			full = hash_get_num_entries(rate_htab) >= mt_max_rate_limits;
			over = rate_tenant_count(&key) >= share;
		}
		if (over)
		{
			LWLockRelease(rate_lock);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many rate-limit buckets for this tenant"),
					 errdetail("A tenant holds at most %d buckets (multitenant.tenant_rate_limit_share = %d%% of multitenant.max_rate_limits = %d), and none of them is idle yet.",
							   share, mt_tenant_rate_limit_share, mt_max_rate_limits),
					 errhint("Use fewer distinct bucket names, or raise multitenant.tenant_rate_limit_share or multitenant.max_rate_limits.")));
		}
		e = full ? NULL : hash_search(rate_htab, &key, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			LWLockRelease(rate_lock);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many rate-limit buckets"),
					 errdetail("All %d buckets are busy; busy buckets are never evicted.", mt_max_rate_limits),
					 errhint("Raise multitenant.max_rate_limits (needs a restart).")));
		}
		if (!found)
		{
			SpinLockInit(&e->mutex);
			e->tat = now;
			rate_tenant_add(&key, 1);
		}
		/* the new bucket may become idle before the known busy ones */
		allowed = gcra(e, now, interval, tolerance);
		rate_shared->next_scan = Min(rate_shared->next_scan, e->tat);
		LWLockRelease(rate_lock);
		return allowed;
	}
	allowed = gcra(e, now, interval, tolerance);
	LWLockRelease(rate_lock);
	return allowed;
}
