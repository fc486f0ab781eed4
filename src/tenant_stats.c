/*-------------------------------------------------------------------------
 *
 * tenant_stats.c
 *	  Per-tenant statistics in shared memory, in the spirit of
 *	  pg_stat_statements: a fixed-size hash keyed by (database, scope,
 *	  tenant) whose rows count authentications, tokens entered, metered
 *	  calls, quota and rate-limit refusals and audit events.  Nothing here
 *	  writes a table: the hot paths make one call (mt_stat_count) and the
 *	  readers (insight.c: mt.stat_tenants, mt.metrics) take a snapshot.
 *
 * Bounds and eviction
 * -------------------
 * The table holds at most multitenant.max_tenant_stats tenant rows (plus
 * one row per database for calls without a known tenant, from a small
 * reserve; and, for a moment, tenant rows more, taken from that reserve,
 * when every row an eviction picked was counted in meanwhile, see
 * stat_evict_locked).  A new tenant that finds the table full first
 * evicts the least recently active 5 % of the tenant rows (at least one; ties at the cut
 * go too): their counts are added to their database's "evicted" totals,
 * which mt.stat_tenants shows as a row of scope 'evicted', so the sums
 * over a database never shrink except by mt.stat_tenants_reset() (the
 * evicted totals of 64 databases are kept apart; further databases share
 * one slot that no database is shown).  A new
 * row that finds no room at all (the reserve used up by very many
 * databases) is not counted; lost counts the events dropped that way.
 * Statistics never feed enforcement: quotas, rate limits and the key
 * throttle keep their own state, so eviction changes no answer.
 *
 * Shared state and locks
 * ----------------------
 * - StatsShared->lock (LWLock, tranche "multitenant tenant stats")
 *   protects the membership of the hash, ntenants, the evicted totals of
 *   every database and lost: SHARED to find a row or to read, EXCLUSIVE
 *   to insert, evict, reset.
 * - MtStatEntry->mutex (spinlock) protects the counters and times of one
 *   row; held for a few instructions (no palloc, no ereport).
 * - evict_buf (shared, size max_tenant_stats) is scratch space of the
 *   eviction, used under the EXCLUSIVE lock only.
 * - MtStatEntry->incarnation and incarnations: a row's incarnation is given
 *   when it is inserted and zeroed when it is removed, under the EXCLUSIVE
 *   lock and the row's mutex; a caller's handle on a row (MtRowHandle,
 *   util.h: mt.authenticate keeps one per key) is trusted under the row's
 *   mutex alone while they match, so adding counts through a handle takes
 *   no LWLock (every row's mutex is initialized once, at startup).  The
 *   EXCLUSIVE lock thus no longer keeps adders out of a row: eviction and
 *   reset read and retire a row under its mutex.
 *
 * Counting is not transactional: an event is counted when it happens, also
 * when the transaction that saw it rolls back (a refused call usually
 * does).  A backend keeps the counts of its current row locally (no lock)
 * and adds them to shared memory when the row changes, at the end of each
 * transaction (commit or abort, mt_stat_flush from multitenant.c's
 * transaction callback), outside a transaction at once, before reading
 * (mt_stat_snapshot) and at exit; last_active is the start of the
 * statement that counted the last of them (the clock's time when counted
 * outside a transaction).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "tenant_stats.h"

/* GUC variables (defined in multitenant.c) */
bool		mt_track_stats = true;
int			mt_max_tenant_stats = 10000;

/* rows beyond max_tenant_stats for the "no tenant" rows of databases */
#define MT_STAT_RESERVE		128
/* databases whose evicted totals are kept apart (the rest share slot 0) */
#define MT_STAT_MAX_DBS		64

typedef struct MtStatKey
{
	Oid			dbid;
	uint32		scope;			/* MtStatScope */
	pg_uuid_t	tenant;			/* zero for scope none */
} MtStatKey;

typedef struct MtStatEntry
{
	MtStatKey	key;
	uint64		incarnation;	/* given at insertion, 0 once removed
								 * (EXCLUSIVE lock and mutex): MtRowHandle */
	slock_t		mutex;			/* protects incarnation's changes and
								 * everything below; initialized once */
	int64		counts[MT_STAT_NKINDS];
	TimestampTz since;
	TimestampTz last_active;
} MtStatEntry;

typedef struct MtStatEvicted
{
	Oid			dbid;			/* InvalidOid: free, or slot 0: the rest */
	int64		counts[MT_STAT_NKINDS];
	TimestampTz since;
	TimestampTz last_active;
} MtStatEvicted;

typedef struct StatsShared
{
	LWLock	   *lock;
	int			ntenants;		/* rows of scope tenant */
	int64		lost;			/* events not counted: no room for a row */
	uint64		incarnations;	/* the last incarnation given */
	MtStatEvicted evicted[MT_STAT_MAX_DBS];
	TimestampTz evict_buf[FLEXIBLE_ARRAY_MEMBER];	/* max_tenant_stats */
} StatsShared;

static StatsShared *ss = NULL;
static HTAB *stats_htab = NULL;

/* backend-local: counts of one row not yet added to shared memory */
static struct
{
	bool		used;
	MtStatKey	key;
	int64		counts[MT_STAT_NKINDS];
	MtRowHandle handle;			/* the caller's handle on the row, if any */
	TimestampTz at;				/* when the last of them was counted */
} pending;
static bool exit_hook = false;

/*
 * the row a flush found for a key whose handle no longer matched (evicted
 * and entered again): handed to the next mt_stat_count_at of that key
 */
static MtStatKey refreshed_key;
static MtRowHandle refreshed;

Size
mt_tenant_stats_shmem_size(void)
{
	Size		size = hash_estimate_size(mt_max_tenant_stats + MT_STAT_RESERVE,
										  sizeof(MtStatEntry));

	size = add_size(size, offsetof(StatsShared, evict_buf));
	size = add_size(size, mul_size(mt_max_tenant_stats, sizeof(TimestampTz)));
	return MAXALIGN(size);
}

void
mt_tenant_stats_shmem_request(void)
{
	RequestNamedLWLockTranche("multitenant tenant stats", 1);
}

/* Called from mt_shmem_startup with AddinShmemInitLock held. */
void
mt_tenant_stats_shmem_startup(void)
{
	HASHCTL		info;
	bool		found;
	long		n = mt_max_tenant_stats + MT_STAT_RESERVE;

	ss = ShmemInitStruct("multitenant tenant stats",
						 add_size(offsetof(StatsShared, evict_buf),
								  mul_size(mt_max_tenant_stats, sizeof(TimestampTz))),
						 &found);
	if (!found)
	{
		memset(ss, 0, offsetof(StatsShared, evict_buf));
		ss->lock = &(GetNamedLWLockTranche("multitenant tenant stats"))->lock;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(MtStatKey);
	info.entrysize = sizeof(MtStatEntry);
	stats_htab = ShmemInitHash("multitenant tenant stats hash", n, n,
							   &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	if (!found)
		mt_row_table_init(stats_htab, n, sizeof(MtStatKey),
						  offsetof(MtStatEntry, mutex), offsetof(MtStatEntry, incarnation));
}

bool
mt_stat_available(void)
{
	return ss != NULL;
}

static inline void
make_key(MtStatKey *key, Oid dbid, const pg_uuid_t *tenant)
{
	memset(key, 0, sizeof(*key));
	key->dbid = dbid;
	if (tenant != NULL)
	{
		key->scope = MT_STAT_SCOPE_TENANT;
		memcpy(&key->tenant, tenant, sizeof(pg_uuid_t));
	}
	else
		key->scope = MT_STAT_SCOPE_NONE;
}

/* the evicted totals of dbid (slot 0 when every slot is taken); exclusive lock */
static MtStatEvicted *
evicted_slot(Oid dbid, bool create)
{
	MtStatEvicted *free_slot = NULL;

	for (int i = 1; i < MT_STAT_MAX_DBS; i++)
	{
		if (ss->evicted[i].dbid == dbid)
			return &ss->evicted[i];
		if (free_slot == NULL && ss->evicted[i].dbid == InvalidOid)
			free_slot = &ss->evicted[i];
	}
	if (!create)
		return NULL;
	if (free_slot == NULL)
		return &ss->evicted[0];
	free_slot->dbid = dbid;
	return free_slot;
}

static int
ts_cmp(const void *a, const void *b)
{
	TimestampTz x = *(const TimestampTz *) a;
	TimestampTz y = *(const TimestampTz *) b;

	return (x > y) - (x < y);
}

/*
 * Evicts the least recently active 5 % of the tenant rows (at least one)
 * into their databases' evicted totals.  Exclusive lock held.
 */
static void
stat_evict_locked(TimestampTz now)
{
	HASH_SEQ_STATUS hs;
	MtStatEntry *e;
	int			n = 0;
	int			victims;
	TimestampTz cutoff;

	hash_seq_init(&hs, stats_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
		if (e->key.scope == MT_STAT_SCOPE_TENANT && n < mt_max_tenant_stats)
		{
			SpinLockAcquire(&e->mutex);
			ss->evict_buf[n++] = e->last_active;
			SpinLockRelease(&e->mutex);
		}
	if (n == 0)
		return;
	qsort(ss->evict_buf, n, sizeof(TimestampTz), ts_cmp);
	victims = Max(1, n / 20);
	cutoff = ss->evict_buf[victims - 1];

	hash_seq_init(&hs, stats_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		MtStatEvicted *ev;

		if (e->key.scope != MT_STAT_SCOPE_TENANT)
			continue;
		ev = evicted_slot(e->key.dbid, true);
		/*
		 * A row whose last activity moved past the cut since the first pass
		 * (counted in through a handle, which takes no LWLock) stays; if
		 * every row picked did, nothing is evicted this time and the new
		 * row takes one of the reserve rows until the next eviction.
		 * Counts move under the row's mutex, so none is lost either way.
		 */
		SpinLockAcquire(&e->mutex);
		if (e->last_active > cutoff)
		{
			SpinLockRelease(&e->mutex);
			continue;
		}
		if (ev->since == 0 || e->since < ev->since)
			ev->since = e->since;
		ev->last_active = Max(ev->last_active, e->last_active);
		for (int k = 0; k < MT_STAT_NKINDS; k++)
			ev->counts[k] += e->counts[k];
		e->incarnation = 0;
		SpinLockRelease(&e->mutex);
		/* removing the element just returned is allowed during a scan */
		hash_search(stats_htab, &e->key, HASH_REMOVE, NULL);
		ss->ntenants--;
	}
}

/* the row of key, created (evicting if full) when missing; exclusive lock */
static MtStatEntry *
stat_enter_locked(const MtStatKey *key, TimestampTz now)
{
	MtStatEntry *e;
	bool		found;

	e = hash_search(stats_htab, key, HASH_FIND, NULL);
	if (e != NULL)
		return e;
	if (key->scope == MT_STAT_SCOPE_TENANT && ss->ntenants >= mt_max_tenant_stats)
		stat_evict_locked(now);
	e = hash_search(stats_htab, key, HASH_ENTER_NULL, &found);
	if (e == NULL)
		return NULL;
	if (!found)
	{
		/* a stale handle may be checking this reused row: under its mutex */
		SpinLockAcquire(&e->mutex);
		e->incarnation = ++ss->incarnations;
		memset(e->counts, 0, sizeof(e->counts));
		e->since = now;
		e->last_active = now;
		SpinLockRelease(&e->mutex);
		if (key->scope == MT_STAT_SCOPE_TENANT)
			ss->ntenants++;
	}
	return e;
}

/* adds counts to row e, whose mutex the caller holds; releases it */
static inline void
stat_add_release(MtStatEntry *e, const int64 *counts, TimestampTz now)
{
	for (int k = 0; k < MT_STAT_NKINDS; k++)
		e->counts[k] += counts[k];
	if (now > e->last_active)
		e->last_active = now;
	SpinLockRelease(&e->mutex);
}

static inline void
stat_add(MtStatEntry *e, const int64 *counts, TimestampTz now)
{
	SpinLockAcquire(&e->mutex);
	stat_add_release(e, counts, now);
}

/* a flush found row e for a pending handle that no longer matched (lock held) */
static void
remember_refreshed(MtStatEntry *e)
{
	if (pending.handle.row == NULL)
		return;
	refreshed_key = pending.key;
	MT_HANDLE_SET(&refreshed, e);
}

/* adds the pending counts to shared memory */
void
mt_stat_flush(void)
{
	MtStatEntry *e;
	TimestampTz now;

	if (!pending.used || ss == NULL)
		return;
	pending.used = false;
	now = pending.at;

	/* through the caller's handle: the row's mutex, no LWLock */
	e = MT_HANDLE_LOCK(&pending.handle, MtStatEntry);
	if (likely(e != NULL))
	{
		stat_add_release(e, pending.counts, now);
		return;
	}
	LWLockAcquire(ss->lock, LW_SHARED);
	e = hash_search(stats_htab, &pending.key, HASH_FIND, NULL);
	if (e != NULL)
	{
		stat_add(e, pending.counts, now);
		remember_refreshed(e);
		LWLockRelease(ss->lock);
		return;
	}
	LWLockRelease(ss->lock);

	LWLockAcquire(ss->lock, LW_EXCLUSIVE);
	e = stat_enter_locked(&pending.key, now);
	if (e != NULL)
	{
		stat_add(e, pending.counts, now);
		remember_refreshed(e);
	}
	else
	{
		for (int k = 0; k < MT_STAT_NKINDS; k++)
			ss->lost += pending.counts[k];
	}
	LWLockRelease(ss->lock);
}

static void
stat_at_exit(int code, Datum arg)
{
	mt_stat_flush();
}

static void
count_key(const MtStatKey *key, MtStatKind kind, const MtRowHandle *h)
{
	if (pending.used && memcmp(&pending.key, key, sizeof(*key)) != 0)
		mt_stat_flush();
	if (!pending.used)
	{
		memcpy(&pending.key, key, sizeof(*key));
		memset(pending.counts, 0, sizeof(pending.counts));
		memset(&pending.handle, 0, sizeof(pending.handle));
		pending.used = true;
	}
	if (h != NULL && h->row != NULL)
		pending.handle = *h;
	pending.counts[kind]++;
	if (!IsTransactionState())
	{
		pending.at = GetCurrentTimestamp();
		mt_stat_flush();		/* no transaction end will come soon */
		return;
	}
	/* in a statement: its start, without reading the clock */
	pending.at = GetCurrentStatementStartTimestamp();
	if (unlikely(!exit_hook))
	{
		before_shmem_exit(stat_at_exit, (Datum) 0);
		exit_hook = true;
	}
}

void
mt_stat_count(const pg_uuid_t *tenant, MtStatKind kind)
{
	MtStatKey	key;

	if (!mt_track_stats || ss == NULL || !OidIsValid(MyDatabaseId))
		return;
	make_key(&key, MyDatabaseId, tenant);
	count_key(&key, kind, NULL);
}

void
mt_stat_count_at(const pg_uuid_t *tenant, MtStatKind kind, MtRowHandle *h)
{
	MtStatKey	key;

	if (!mt_track_stats || ss == NULL || !OidIsValid(MyDatabaseId))
		return;
	make_key(&key, MyDatabaseId, tenant);
	if (unlikely(refreshed.row != NULL) && memcmp(&refreshed_key, &key, sizeof(key)) == 0)
	{
		/* its row was evicted and entered again: the new one */
		*h = refreshed;
		refreshed.row = NULL;
	}
	if (h->row == NULL)
	{
		/* once per handle: the row exists after this tenant's first flush */
		MtStatEntry *e;

		LWLockAcquire(ss->lock, LW_SHARED);
		e = hash_search(stats_htab, &key, HASH_FIND, NULL);
		if (e != NULL)
			MT_HANDLE_SET(h, e);
		LWLockRelease(ss->lock);
	}
	count_key(&key, kind, h);
}

void
mt_stat_prefetch(const MtRowHandle *h)
{
	/* the flush locks the mutex and adds to the counts and last_active */
	mt_handle_prefetch(h, offsetof(MtStatEntry, incarnation), sizeof(MtStatEntry));
}

static void
entry_to_row(MtStatEntry *e, MtStatRow *r)
{
	memset(r, 0, sizeof(*r));
	r->scope = (MtStatScope) e->key.scope;
	memcpy(&r->tenant, &e->key.tenant, sizeof(pg_uuid_t));
	SpinLockAcquire(&e->mutex);
	memcpy(r->counts, e->counts, sizeof(r->counts));
	r->since = e->since;
	r->last_active = e->last_active;
	SpinLockRelease(&e->mutex);
}

MtStatRow *
mt_stat_snapshot(Oid dbid, const pg_uuid_t *only, int *n)
{
	MtStatRow  *rows;
	int			cap;

	*n = 0;
	if (ss == NULL)
		return NULL;
	mt_stat_flush();			/* this backend's own counts too */
	if (only != NULL)
	{
		MtStatKey	key;
		MtStatEntry *e;

		rows = palloc(sizeof(MtStatRow));
		make_key(&key, dbid, only);
		LWLockAcquire(ss->lock, LW_SHARED);
		e = hash_search(stats_htab, &key, HASH_FIND, NULL);
		if (e != NULL)
		{
			entry_to_row(e, &rows[0]);
			*n = 1;
		}
		LWLockRelease(ss->lock);
		return rows;
	}

	/* the table cannot grow past its fixed size: allocate that much */
	cap = mt_max_tenant_stats + MT_STAT_RESERVE + 1;
	rows = palloc_extended(sizeof(MtStatRow) * cap, MCXT_ALLOC_HUGE);
	LWLockAcquire(ss->lock, LW_SHARED);
	{
		HASH_SEQ_STATUS hs;
		MtStatEntry *e;
		MtStatEvicted *ev;

		hash_seq_init(&hs, stats_htab);
		while ((e = hash_seq_search(&hs)) != NULL)
		{
			if (e->key.dbid != dbid || *n >= cap - 1)
				continue;
			entry_to_row(e, &rows[(*n)++]);
		}
		/* (databases past MT_STAT_MAX_DBS share slot 0, shown to none) */
		ev = evicted_slot(dbid, false);
		if (ev != NULL && ev->since != 0)
		{
			MtStatRow  *r = &rows[(*n)++];

			memset(r, 0, sizeof(*r));
			r->scope = MT_STAT_SCOPE_EVICTED;
			memcpy(r->counts, ev->counts, sizeof(r->counts));
			r->since = ev->since;
			r->last_active = ev->last_active;
		}
	}
	LWLockRelease(ss->lock);
	return rows;
}

int64
mt_stat_reset(Oid dbid)
{
	HASH_SEQ_STATUS hs;
	MtStatEntry *e;
	MtStatEvicted *ev;
	int64		removed = 0;

	if (ss == NULL)
		return 0;
	LWLockAcquire(ss->lock, LW_EXCLUSIVE);
	hash_seq_init(&hs, stats_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		if (e->key.dbid != dbid)
			continue;
		if (e->key.scope == MT_STAT_SCOPE_TENANT)
			ss->ntenants--;
		SpinLockAcquire(&e->mutex);
		e->incarnation = 0;
		SpinLockRelease(&e->mutex);
		hash_search(stats_htab, &e->key, HASH_REMOVE, NULL);
		removed++;
	}
	ev = evicted_slot(dbid, false);
	if (ev != NULL)
	{
		memset(ev, 0, sizeof(*ev));
		removed++;
	}
	LWLockRelease(ss->lock);
	return removed;
}
