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
 * Locks: the table's LWLock (the second lock of the "multitenant usage"
 * tranche) is taken SHARED to find a bucket and EXCLUSIVE only to add or
 * evict one; each bucket's TAT is read and moved under its spinlock.  A
 * bucket whose TAT is in the past is idle (a fresh bucket would behave the
 * same), so it can be evicted without changing any answer; when the table
 * is full of busy buckets the one closest to idle is evicted.
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

#include "multitenant.h"
#include "spi_util.h"
#include "usage.h"

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

static LWLock *rate_lock = NULL;
static HTAB *rate_htab = NULL;

Size
mt_ratelimit_shmem_size(void)
{
	return hash_estimate_size(mt_max_rate_limits, sizeof(MtRateEntry));
}

/* Called with AddinShmemInitLock held. */
void
mt_ratelimit_shmem_startup(LWLock *lock)
{
	HASHCTL		info;

	rate_lock = lock;
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(MtRateKey);
	info.entrysize = sizeof(MtRateEntry);
	rate_htab = ShmemInitHash("multitenant rate limits",
							  mt_max_rate_limits, mt_max_rate_limits,
							  &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
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
 * Make room: drop every idle bucket; if none is idle, the one closest to
 * idle.  Exclusive lock held, so no one is inside a bucket.
 */
static void
rate_evict_locked(TimestampTz now)
{
	HASH_SEQ_STATUS hs;
	MtRateEntry *e;
	MtRateKey	oldest;
	TimestampTz oldest_tat = PG_INT64_MAX;
	int			removed = 0;

	hash_seq_init(&hs, rate_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		if (e->tat <= now)
		{
			MtRateKey	key = e->key;

			hash_search(rate_htab, &key, HASH_REMOVE, NULL);
			removed++;
		}
		else if (e->tat < oldest_tat)
		{
			oldest_tat = e->tat;
			oldest = e->key;
		}
	}
	if (removed == 0 && oldest_tat != PG_INT64_MAX)
		hash_search(rate_htab, &oldest, HASH_REMOVE, NULL);
}

PG_FUNCTION_INFO_V1(mt_rate_limit);
Datum
mt_rate_limit(PG_FUNCTION_ARGS)
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
		PG_RETURN_BOOL(allowed);
	}
	LWLockRelease(rate_lock);

	LWLockAcquire(rate_lock, LW_EXCLUSIVE);
	e = hash_search(rate_htab, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		bool		found;

		if (hash_get_num_entries(rate_htab) >= mt_max_rate_limits)
			rate_evict_locked(now);
		e = hash_search(rate_htab, &key, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			LWLockRelease(rate_lock);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many rate-limit buckets"),
					 errhint("Raise multitenant.max_rate_limits (needs a restart).")));
		}
		if (!found)
		{
			SpinLockInit(&e->mutex);
			e->tat = now;
		}
	}
	allowed = gcra(e, now, interval, tolerance);
	LWLockRelease(rate_lock);
	PG_RETURN_BOOL(allowed);
}
