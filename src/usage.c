/*-------------------------------------------------------------------------
 *
 * usage.c
 *	  Usage metering: shared-memory counters keyed by (database, tenant,
 *	  metric), mt.track / mt.consume / mt.usage, quotas (plan limits and
 *	  per-tenant overrides), soft-limit alerts, the flush of counters into
 *	  mt.usage_rollup (run by worker.c, asked for through flush_request.c;
 *	  this file never calls the worker), the dump file that keeps pending
 *	  counts across a clean restart (not loaded by a server that starts as
 *	  a standby or in archive recovery), and the usage analytics functions.
 *
 * Shared state and locks
 * ----------------------
 * - MtUsageShared->lock (LWLock) protects the *membership* of the counter
 *   hash table: it is taken SHARED to look an entry up or to walk the
 *   table, EXCLUSIVE only to insert or remove entries (first use of a
 *   (tenant, metric) pair, eviction, dropped databases).  Counting never
 *   takes it exclusively, and counting through a handle (below) not at
 *   all.
 * - MtUsageEntry->mutex (spinlock) protects every field of one entry after
 *   its key.  It is held for a handful of instructions: no palloc, no
 *   ereport, no system call.  Sessions of different tenants never touch the
 *   same spinlock (but for a moment, when a stale handle checks a row that
 *   was reused for another tenant).
 * - The per-tenant entry counts (a second hash keyed by database and
 *   tenant, MtUsageTenant) change together with the membership, under the
 *   same lock held EXCLUSIVE; they may be read under the SHARED lock.
 * - flush_generation (atomic) is bumped after every flush and discard:
 *   counters that hold counts become idle (evictable) only then; a new
 *   counter with nothing counted yet becomes evictable a second after its
 *   creation (MT_FRESH_GRACE_MS, entry_evict_locked).  A scan for idle
 *   entries that found none is not repeated before the next bump, nor
 *   before the first new entry it passed over is a second old
 *   (fruitless_gen, fruitless_until, per tenant and for the whole table;
 *   exclusive lock), so a full table or a tenant at its share costs one
 *   scan per flush and per new entry's second, not one per call.
 * - MtUsageEntry->incarnation and incarnations: an entry's incarnation is
 *   given when it is inserted and zeroed when it is removed, under the lock
 *   held EXCLUSIVE and the entry's mutex; a caller's handle on an entry
 *   (MtRowHandle, util.h: mt.authenticate keeps one per key for its
 *   api_calls counter, mt.track/mt.consume one for the last metric) is
 *   trusted under the entry's mutex alone while they match: it spares the
 *   LWLock and the hash lookup (every entry's mutex is initialized once, at
 *   startup, never when an entry is reused).  So the EXCLUSIVE lock does
 *   not keep counters out of an entry: eviction checks that an entry is
 *   idle and retires it in one hold of its mutex.
 * - quota_generation (atomic) is bumped after any transaction that changed
 *   mt.plan_limits, mt.tenant_quotas or mt.tenants; an entry's cached quota
 *   is trusted only while its stamp equals the generation.
 *
 * Exactness
 * ---------
 * An entry holds, per period kind (UTC day and UTC month), base[k]: what is
 * in mt.usage_rollup for the current period (read once per period when
 * the entry is created, "loaded"), plus what flushes have taken since; and
 * up to MT_USAGE_SLOTS pending amounts, each tagged with the hour it was
 * counted in.  The period total is base + pending of that period, computed
 * and compared with the hard limit under the entry spinlock, so
 * mt.consume() never overshoots.  A flush moves pending into base and into
 * "inflight" at once (under the spinlock), writes the rollup, and clears
 * inflight after its commit (or puts the amounts back after an abort), so
 * the total never jumps.  Entries are evicted only when nothing is pending
 * or in flight, so a re-created entry reads an exact base from the table.
 * Only the flush worker of the entry's database flushes; it loads
 * unloaded entries before taking their pending counts, and no one else
 * writes the rollup, so a base read from the table is never missing an
 * uncommitted flush.
 *
 * Bounds
 * ------
 * One tenant (of one database) holds at most multitenant.tenant_counter_share
 * percent of multitenant.max_counters entries; its own idle entries make
 * room first; past that its new metric fails at once with 53400 and a flush
 * is requested; nobody else waits.  (A share of 100 % means no per-tenant
 * bound: only the full-table rule applies.)  api_calls (mt.authenticate) is exempt
 * from the share and never fails nor waits: when the whole table holds
 * unflushed counts, the count is kept in the session (deferred_calls) and
 * added to shared memory by the session's next mt_usage_count_api_call or
 * at its exit.  The flush itself never needs a free worker slot (worker.c:
 * the reserved flush worker).
 *
 * Counting is not transactional (like nextval()): a count stays when the
 * calling transaction rolls back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "common/hashfn.h"
#include "common/int.h"

#include "catalog.h"
#include "citus_node.h"
#include "context.h"
#include "flush_request.h"
#include "security_events.h"
#include "spi_util.h"
#include "tenant_stats.h"
#include "tenant_status.h"
#include "usage.h"
#include "util.h"

/* GUC variables (defined in multitenant.c) */
int			mt_max_counters = 10000;
int			mt_flush_interval_ms = 10000;
int			mt_tenant_counter_share = 10;

#define MT_METRIC_MAXLEN	63
#define MT_USAGE_SLOTS		4
#define MT_USAGE_DUMP_FILE	PGSTAT_STAT_PERMANENT_DIRECTORY "/multitenant_usage.stat"
#define MT_USAGE_DUMP_MAGIC 0x4d545553	/* "MTUS" */
#define MT_USAGE_DUMP_VERSION 1
#define MT_FULL_WAIT_MS		5000	/* how long a full table waits for a flush */
#define MT_FRESH_GRACE_MS	1000	/* a new entry is left to its creator */

typedef enum MtPeriodKind
{
	PK_DAY = 0,
	PK_MONTH = 1
} MtPeriodKind;

static const char *const period_names[2] = {"day", "month"};

/* hash key: zeroed before filling (HASH_BLOBS compares raw bytes) */
typedef struct MtUsageKey
{
	Oid			dbid;
	pg_uuid_t	tenant;
	char		metric[MT_METRIC_MAXLEN + 1];	/* NUL padded */
} MtUsageKey;

/* an hour number (hours since 2000-01-01 UTC) and its day and month ids */
typedef struct MtPeriods
{
	int32		hour;
	int32		id[2];			/* [PK_DAY] days, [PK_MONTH] months since 2000-01 */
} MtPeriods;

typedef struct MtUsageSlot
{
	MtPeriods	at;				/* when the amount was counted */
	int64		pending;		/* 0: the slot is free */
} MtUsageSlot;

typedef struct MtQuota
{
	int8		kind;			/* MtPeriodKind of the limits */
	bool		has_hard;
	bool		has_soft;
	int64		hard;
	int64		soft;
} MtQuota;

typedef struct MtUsageEntry
{
	MtUsageKey	key;
	uint64		incarnation;	/* given at insertion, 0 once removed (lock
								 * held EXCLUSIVE, and mutex): MtRowHandle */
	slock_t		mutex;			/* initialized once (mt_row_table_init) */
	/* everything below is protected by mutex */
	bool		loaded;			/* base[] read from the rollup */
	bool		fresh;			/* nothing counted in it yet */
	int32		period[2];		/* period ids base[] belongs to */
	int64		base[2];		/* flushed (or being flushed) in period[] */
	int64		inflight;		/* taken by a flush, not yet committed */
	uint64		quota_stamp;	/* quota_generation quota was read at; 0 none */
	MtQuota		quota;
	int8		alerted_kind;	/* soft-limit alert sent for this period */
	int32		alerted_period;
	TimestampTz last_used;
	MtUsageSlot slots[MT_USAGE_SLOTS];
} MtUsageEntry;

typedef struct MtUsageShared
{
	LWLock	   *lock;			/* see header comment */
	pg_atomic_uint64 quota_generation;
	pg_atomic_uint64 flush_generation;	/* bumped when entries may turn idle */
	uint64		fruitless_gen;	/* a scan of the whole table found no idle
								 * entry at this flush_generation (lock) */
	TimestampTz fruitless_until;	/* ... before then: new entries waiting
									 * out their second (0: none; lock) */
	uint64		incarnations;	/* the last incarnation given (lock EXCLUSIVE) */
} MtUsageShared;

/* live entries of one (database, tenant); lock, see header comment */
typedef struct MtUsageTenantKey
{
	Oid			dbid;
	pg_uuid_t	tenant;
} MtUsageTenantKey;

typedef struct MtUsageTenant
{
	MtUsageTenantKey key;
	int			n;				/* entries in the counter table */
	uint64		fruitless_gen;	/* no idle entry of ours at this generation */
	TimestampTz fruitless_until;	/* ... before then (0: none new) */
} MtUsageTenant;

static MtUsageShared *us = NULL;
static HTAB *usage_htab = NULL;
static HTAB *usage_tenants = NULL;

/* api_calls counts that found no room, kept by this session */
typedef struct MtDeferredCall
{
	Oid			dbid;
	pg_uuid_t	tenant;
	int64		amount;
} MtDeferredCall;

#define MT_MAX_DEFERRED 64
static MtDeferredCall deferred_calls[MT_MAX_DEFERRED];
static int	n_deferred = 0;
static int64 deferred_lost = 0; /* no slot left in deferred_calls either */
static bool deferred_exit_registered = false;

/* transaction-local state */
static bool quota_local_dirty = false;	/* this xact changed quota tables */

typedef struct MtAlertUndo
{
	MtUsageKey	key;
	int8		kind;
	int32		period;
	SubTransactionId subid;
} MtAlertUndo;

#define MT_MAX_ALERT_UNDO 32
static MtAlertUndo alert_undo[MT_MAX_ALERT_UNDO];
static int	n_alert_undo = 0;
static bool subxact_cb_registered = false;

/* amounts taken by the running flush (worker only) */
typedef struct MtFlushItem
{
	MtUsageKey	key;
	MtPeriods	at;
	int64		amount;
	uint64		incarnation;	/* of the entry the amount was taken from */
	bool		added[2];		/* also added to base[k] of period at.id[k] */
} MtFlushItem;

/*
 * The amounts the current flush took (TopMemoryContext, grown as needed:
 * it holds one item per pending slot, which is far fewer than the table's
 * entries times MT_USAGE_SLOTS), written MT_FLUSH_BATCH rows per statement
 */
static MtFlushItem *flush_items = NULL;
static int	n_flush_items = 0;
static Size flush_items_cap = 0;

#define MT_FLUSH_BATCH	65536

static void usage_shmem_shutdown(int code, Datum arg);
static void usage_load_dump(void);
static void usage_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);

/* ---------------------------------------------------------------------
 * Periods (UTC)
 * --------------------------------------------------------------------- */

static inline int64
floor_div64(int64 a, int64 b)
{
	int64		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static void
periods_for_hour(int32 hour, MtPeriods *p)
{
	static int32 cached_hour = PG_INT32_MIN;
	static MtPeriods cached;

	if (hour != cached_hour)
	{
		int32		day = (int32) floor_div64(hour, 24);
		int			y,
					m,
					d;

		j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
		cached.hour = hour;
		cached.id[PK_DAY] = day;
		cached.id[PK_MONTH] = (y - 2000) * 12 + (m - 1);
		cached_hour = hour;
	}
	*p = cached;
}

static void
periods_for_time(TimestampTz ts, MtPeriods *p)
{
	periods_for_hour((int32) floor_div64(ts, USECS_PER_HOUR), p);
}

static TimestampTz
period_start(int kind, int32 id)
{
	if (kind == PK_DAY)
		return (TimestampTz) id * USECS_PER_DAY;
	else
	{
		int			y = 2000 + (int) floor_div64(id, 12);
		int			m = id - (int) floor_div64(id, 12) * 12 + 1;

		return (TimestampTz) (date2j(y, m, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
	}
}

static int
parse_period(const char *s)
{
	if (strcmp(s, "day") == 0)
		return PK_DAY;
	if (strcmp(s, "month") == 0)
		return PK_MONTH;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown usage period \"%s\"", s),
			 errhint("Use 'day' or 'month' (UTC).")));
	return PK_MONTH;			/* keep compiler quiet */
}

static inline int64
sat_add(int64 a, int64 b)
{
	int64		r;

	if (pg_add_s64_overflow(a, b, &r))
		return PG_INT64_MAX;
	return r;
}

/* ---------------------------------------------------------------------
 * Shared memory
 * --------------------------------------------------------------------- */

Size
mt_usage_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(MtUsageShared));

	size = add_size(size, hash_estimate_size(mt_max_counters, sizeof(MtUsageEntry)));
	size = add_size(size, hash_estimate_size(mt_max_counters, sizeof(MtUsageTenant)));
	return size;
}

void
mt_usage_shmem_request(void)
{
	RequestNamedLWLockTranche("multitenant usage", 1);
}

/*
 * Hash of a counter key: its bytes up to the end of the metric name (the
 * rest is NUL padding, so equal keys hash equally), about a third of the
 * 84 bytes tag_hash would read on every count.
 */
static uint32
usage_key_hash(const void *key, Size keysize)
{
	const MtUsageKey *k = key;

	return hash_bytes((const unsigned char *) k,
					  offsetof(MtUsageKey, metric) + strnlen(k->metric, sizeof(k->metric)));
}

/* Called from mt_shmem_startup with AddinShmemInitLock held. */
void
mt_usage_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	us = ShmemInitStruct("multitenant usage", sizeof(MtUsageShared), &found);
	if (!found)
	{
		us->lock = &(GetNamedLWLockTranche("multitenant usage"))->lock;
		pg_atomic_init_u64(&us->quota_generation, 1);
		pg_atomic_init_u64(&us->flush_generation, 1);
		us->fruitless_gen = 0;
		us->fruitless_until = 0;
		us->incarnations = 0;
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(MtUsageKey);
	info.entrysize = sizeof(MtUsageEntry);
	info.hash = usage_key_hash;
	usage_htab = ShmemInitHash("multitenant usage counters",
							   mt_max_counters, mt_max_counters,
							   &info, HASH_ELEM | HASH_FUNCTION | HASH_FIXED_SIZE);
	if (!found)
		mt_row_table_init(usage_htab, mt_max_counters, sizeof(MtUsageKey),
						  offsetof(MtUsageEntry, mutex), offsetof(MtUsageEntry, incarnation));
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(MtUsageTenantKey);
	info.entrysize = sizeof(MtUsageTenant);
	usage_tenants = ShmemInitHash("multitenant usage tenants",
								  mt_max_counters, mt_max_counters,
								  &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);

	if (!IsUnderPostmaster)
	{
		/* the postmaster writes the dump file at a clean shutdown */
		on_shmem_exit(usage_shmem_shutdown, (Datum) 0);
		if (!found)
			usage_load_dump();
	}
}

/* a new entry (lock held EXCLUSIVE); a stale handle may be checking it */
static void
entry_init(MtUsageEntry *e, TimestampTz now)
{
	SpinLockAcquire(&e->mutex);
	memset(&e->loaded, 0, sizeof(MtUsageEntry) - offsetof(MtUsageEntry, loaded));
	e->incarnation = ++us->incarnations;
	e->loaded = false;
	e->fresh = true;
	e->alerted_kind = -1;
	e->last_used = now;
	SpinLockRelease(&e->mutex);
}

/* the live-entry count of key's (database, tenant); NULL when it has none */
static MtUsageTenant *
tenant_find(const MtUsageKey *key)
{
	MtUsageTenantKey tk;

	memset(&tk, 0, sizeof(tk));
	tk.dbid = key->dbid;
	memcpy(&tk.tenant, &key->tenant, sizeof(pg_uuid_t));
	return hash_search(usage_tenants, &tk, HASH_FIND, NULL);
}

/*
 * An entry of key's tenant was added (+1) or removed (-1); lock held
 * EXCLUSIVE.  The tenant hash is as large as the counter table, so a
 * tenant of an existing entry always has room.
 */
static void
tenant_add(const MtUsageKey *key, int delta)
{
	MtUsageTenantKey tk;
	MtUsageTenant *t;
	bool		found;

	memset(&tk, 0, sizeof(tk));
	tk.dbid = key->dbid;
	memcpy(&tk.tenant, &key->tenant, sizeof(pg_uuid_t));
	t = hash_search(usage_tenants, &tk, delta > 0 ? HASH_ENTER_NULL : HASH_FIND, &found);
	if (t == NULL)
	{
		if (delta > 0)
			elog(LOG, "multitenant: usage tenant table out of sync");
		return;
	}
	if (delta > 0 && !found)
	{
		t->n = 0;
		t->fruitless_gen = 0;
		t->fruitless_until = 0;
	}
	t->n += delta;
	if (t->n <= 0)
		hash_search(usage_tenants, &tk, HASH_REMOVE, NULL);
}

static bool entry_idle(const MtUsageEntry *e);

/*
 * Removes an entry (lock held EXCLUSIVE), only if it is idle when
 * only_idle; handles on it no longer match.  Whether it was removed.
 */
static bool
entry_remove(MtUsageEntry *e, bool only_idle)
{
	MtUsageKey	key = e->key;

	/* a counter with a handle may have counted since the caller looked */
	SpinLockAcquire(&e->mutex);
	if (only_idle && !entry_idle(e))
	{
		SpinLockRelease(&e->mutex);
		return false;
	}
	e->incarnation = 0;
	SpinLockRelease(&e->mutex);
	hash_search(usage_htab, &key, HASH_REMOVE, NULL);
	tenant_add(&key, -1);
	return true;
}

/* the most entries one tenant may hold */
static int
tenant_share(void)
{
	return (int) Max((int64) 1, (int64) mt_max_counters * mt_tenant_counter_share / 100);
}

/*
 * Postmaster, at exit: keep every pending count in a file so that a clean
 * restart loses nothing (pg_stat_statements does the same).  All other
 * processes are gone, so no lock is taken.  Nothing is written after a
 * crash.  Amounts in flight are not written: their flush either committed
 * (they are in the table) or did not (lost, as after a crash).
 */
static void
usage_shmem_shutdown(int code, Datum arg)
{
	FILE	   *file;
	HASH_SEQ_STATUS hs;
	MtUsageEntry *e;
	uint32		header[3] = {MT_USAGE_DUMP_MAGIC, MT_USAGE_DUMP_VERSION, PG_VERSION_NUM / 100};
	int32		count = 0;

	if (code != 0 || us == NULL || usage_htab == NULL)
		return;

	hash_seq_init(&hs, usage_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
		for (int i = 0; i < MT_USAGE_SLOTS; i++)
			if (e->slots[i].pending > 0)
				count++;

	if (count == 0)
	{
		(void) unlink(MT_USAGE_DUMP_FILE);
		return;
	}

	file = AllocateFile(MT_USAGE_DUMP_FILE ".tmp", PG_BINARY_W);
	if (file == NULL)
		goto error;
	if (fwrite(header, sizeof(header), 1, file) != 1 ||
		fwrite(&count, sizeof(count), 1, file) != 1)
		goto error;
	hash_seq_init(&hs, usage_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		for (int i = 0; i < MT_USAGE_SLOTS; i++)
		{
			if (e->slots[i].pending <= 0)
				continue;
			if (fwrite(&e->key, sizeof(MtUsageKey), 1, file) != 1 ||
				fwrite(&e->slots[i].at.hour, sizeof(int32), 1, file) != 1 ||
				fwrite(&e->slots[i].pending, sizeof(int64), 1, file) != 1)
			{
				hash_seq_term(&hs);
				goto error;
			}
		}
	}
	if (FreeFile(file))
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(MT_USAGE_DUMP_FILE ".tmp", MT_USAGE_DUMP_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", MT_USAGE_DUMP_FILE ".tmp")));
	if (file)
		FreeFile(file);
	unlink(MT_USAGE_DUMP_FILE ".tmp");
}

/*
 * Postmaster, at startup: put the pending counts of the dump back.
 *
 * Not when the server starts as a standby or in archive recovery (a
 * standby.signal or recovery.signal file): its data directory is then a
 * copy, say of a cleanly stopped primary, and the counts in the file belong
 * to the server that counted them, which puts them back and flushes them
 * itself (the rows reach a standby by replay).  Loaded here too, mt.usage()
 * on the standby would show them twice and its first flush after a
 * promotion would write them again.  The file is removed and the counts
 * logged.
 */
static void
usage_load_dump(void)
{
	FILE	   *file;
	uint32		header[3];
	int32		count;
	TimestampTz now = GetCurrentTimestamp();
	bool		in_recovery = access(STANDBY_SIGNAL_FILE, F_OK) == 0 ||
		access(RECOVERY_SIGNAL_FILE, F_OK) == 0;

	file = AllocateFile(MT_USAGE_DUMP_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", MT_USAGE_DUMP_FILE)));
		return;
	}
	if (fread(header, sizeof(header), 1, file) != 1 ||
		header[0] != MT_USAGE_DUMP_MAGIC || header[1] != MT_USAGE_DUMP_VERSION ||
		header[2] != PG_VERSION_NUM / 100 ||
		fread(&count, sizeof(count), 1, file) != 1 || count < 0)
	{
		ereport(LOG,
				(errmsg("ignoring invalid usage counter file \"%s\"", MT_USAGE_DUMP_FILE)));
		goto done;
	}
	if (in_recovery)
	{
		if (count > 0)
			ereport(LOG,
					(errmsg("multitenant: discarding the usage counts kept in \"%s\" (%d counters): this server starts in recovery",
							MT_USAGE_DUMP_FILE, count),
					 errdetail("They are the pending counts of the server whose data directory this is a copy of; that server flushes them.")));
		goto done;
	}
	for (int32 n = 0; n < count; n++)
	{
		MtUsageKey	key;
		int32		hour;
		int64		amount;
		MtUsageEntry *e;
		bool		found;
		int			i;

		if (fread(&key, sizeof(key), 1, file) != 1 ||
			fread(&hour, sizeof(hour), 1, file) != 1 ||
			fread(&amount, sizeof(amount), 1, file) != 1)
		{
			ereport(LOG,
					(errmsg("usage counter file \"%s\" is truncated", MT_USAGE_DUMP_FILE)));
			break;
		}
		if (amount <= 0)
			continue;
		e = hash_search(usage_htab, &key, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			ereport(LOG,
					(errmsg("multitenant.max_counters is too small to restore every usage counter; %d counts were dropped",
							count - n)));
			break;
		}
		if (!found)
		{
			entry_init(e, now);
			tenant_add(&key, 1);
		}
		for (i = 0; i < MT_USAGE_SLOTS; i++)
			if (e->slots[i].pending == 0 || e->slots[i].at.hour == hour)
				break;
		if (i == MT_USAGE_SLOTS)
			i = MT_USAGE_SLOTS - 1; /* cannot happen: one record per slot */
		periods_for_hour(hour, &e->slots[i].at);
		e->slots[i].pending = sat_add(e->slots[i].pending, amount);
		e->fresh = false;
	}
done:
	FreeFile(file);
	unlink(MT_USAGE_DUMP_FILE);
}

/* ---------------------------------------------------------------------
 * Entries
 * --------------------------------------------------------------------- */

/* validates a metric name and copies it into key->metric */
static void
metric_into_key(MtUsageKey *key, const char *metric, int len)
{
	if (len < 1 || len > MT_METRIC_MAXLEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid metric name"),
				 errdetail("A metric name is 1 to %d bytes long.", MT_METRIC_MAXLEN)));
	for (int i = 0; i < len; i++)
	{
		char		c = metric[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '.' || c == ':' || c == '-'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid metric name"),
					 errdetail("A metric name uses lowercase letters, digits, '_', '.', ':' and '-'.")));
	}
	memcpy(key->metric, metric, len);
}

static void
make_key(MtUsageKey *key, Oid dbid, const pg_uuid_t *tenant, text *metric)
{
	memset(key, 0, sizeof(MtUsageKey));
	key->dbid = dbid;
	memcpy(&key->tenant, tenant, sizeof(pg_uuid_t));
	metric_into_key(key, VARDATA_ANY(metric), VARSIZE_ANY_EXHDR(metric));
}

static inline void
entry_rollover(MtUsageEntry *e, const MtPeriods *p)
{
	for (int k = 0; k < 2; k++)
		if (p->id[k] > e->period[k])
		{
			e->period[k] = p->id[k];
			e->base[k] = 0;
		}
}

/* period total of kind k for period id; false on overflow */
static inline bool
entry_total(const MtUsageEntry *e, int k, int32 id, int64 *total)
{
	int64		t = (e->loaded && e->period[k] == id) ? e->base[k] : 0;

	for (int i = 0; i < MT_USAGE_SLOTS; i++)
		if (e->slots[i].pending > 0 && e->slots[i].at.id[k] == id &&
			pg_add_s64_overflow(t, e->slots[i].pending, &t))
			return false;
	*total = t;
	return true;
}

static inline bool
entry_idle(const MtUsageEntry *e)
{
	if (e->inflight != 0)
		return false;
	for (int i = 0; i < MT_USAGE_SLOTS; i++)
		if (e->slots[i].pending != 0)
			return false;
	return true;
}

/*
 * Category of a pending slot relative to now: merging two slots of the same
 * category never changes the current day's or month's total.
 */
static inline int
slot_category(const MtUsageSlot *s, const MtPeriods *now)
{
	if (s->at.id[PK_DAY] == now->id[PK_DAY])
		return 0;				/* today */
	if (s->at.id[PK_MONTH] == now->id[PK_MONTH] && s->at.id[PK_DAY] < now->id[PK_DAY])
		return 1;				/* earlier this month */
	if (s->at.id[PK_MONTH] < now->id[PK_MONTH])
		return 2;				/* earlier months */
	return 3;					/* in the future (clock moved back) */
}

/*
 * Slot for an amount counted at 'at'.  When every slot holds another hour
 * (no flush for several hours), the older of two slots of one category is
 * folded into the newer one.  Spinlock held: no ereport, no palloc.
 */
static int
entry_slot(MtUsageEntry *e, const MtPeriods *at, const MtPeriods *now)
{
	int			free_slot = -1;
	int			order[MT_USAGE_SLOTS];

	for (int i = 0; i < MT_USAGE_SLOTS; i++)
	{
		if (e->slots[i].pending != 0 && e->slots[i].at.hour == at->hour)
			return i;
		if (e->slots[i].pending == 0 && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0)
	{
		/* sort slot numbers by hour (insertion sort of four) */
		for (int i = 0; i < MT_USAGE_SLOTS; i++)
		{
			int			j = i;

			while (j > 0 && e->slots[order[j - 1]].at.hour > e->slots[i].at.hour)
			{
				order[j] = order[j - 1];
				j--;
			}
			order[j] = i;
		}
		/* four slots, three safe categories: a pair always exists */
		free_slot = order[0];
		for (int i = 0; i + 1 < MT_USAGE_SLOTS; i++)
		{
			int			c = slot_category(&e->slots[order[i]], now);

			if (c != 3 && c == slot_category(&e->slots[order[i + 1]], now))
			{
				free_slot = order[i];
				break;
			}
		}
		/* free_slot is order[i] with i < MT_USAGE_SLOTS - 1: fold into order[i + 1] */
		for (int i = 0; i + 1 < MT_USAGE_SLOTS; i++)
			if (order[i] == free_slot)
			{
				MtUsageSlot *into = &e->slots[order[i + 1]];

				into->pending = sat_add(into->pending, e->slots[free_slot].pending);
				e->slots[free_slot].pending = 0;
				break;
			}
	}
	e->slots[free_slot].at = *at;
	return free_slot;
}

/* an idle entry and when it was last used, as an eviction scan saw it */
typedef struct IdleEntry
{
	MtUsageEntry *e;
	TimestampTz last_used;
} IdleEntry;

static int
entry_age_cmp(const void *a, const void *b)
{
	TimestampTz ta = ((const IdleEntry *) a)->last_used;
	TimestampTz tb = ((const IdleEntry *) b)->last_used;

	return (ta > tb) - (ta < tb);
}

/*
 * Remove idle entries (nothing pending or in flight), oldest first, up to
 * want; only those of tenant's (database, tenant) when tenant is not NULL.
 * Exclusive lock held: no entry is entered or removed meanwhile, but
 * counters with a handle may count in one (each entry is read under its
 * mutex, and removed only if still idle).  An entry created less than
 * MT_FRESH_GRACE_MS ago with nothing counted in it yet is not taken: its
 * creator is reading its base and quota (entry_load, entry_resolve) before
 * its first count, and taking it then made a busy full table evict new
 * entries over and over until their creators gave up (55006).  Returns how
 * many were removed; *young_until gets when the first entry left for that
 * reason may be taken (0: none), since a scan that found only such entries
 * is fruitless only until then, not until the next flush.
 */
static int
entry_evict_locked(const MtUsageKey *tenant, int want, TimestampTz *young_until)
{
	HASH_SEQ_STATUS hs;
	MtUsageEntry *e;
	IdleEntry  *idle;
	int			nidle = 0;
	int			removed = 0;
	long		n = hash_get_num_entries(usage_htab);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz grace = MT_FRESH_GRACE_MS * (TimestampTz) 1000;

	*young_until = 0;
	idle = palloc(sizeof(IdleEntry) * Max(n, 1));
	hash_seq_init(&hs, usage_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		if (tenant != NULL &&
			(e->key.dbid != tenant->dbid ||
			 memcmp(&e->key.tenant, &tenant->tenant, sizeof(pg_uuid_t)) != 0))
			continue;
		SpinLockAcquire(&e->mutex);
		if (entry_idle(e))
		{
			/* (a creation time ahead of the clock, stepped back: not young) */
			if (e->fresh && e->last_used > now - grace && e->last_used <= now)
			{
				if (*young_until == 0 || e->last_used + grace < *young_until)
					*young_until = e->last_used + grace;
			}
			else
			{
				idle[nidle].e = e;
				idle[nidle++].last_used = e->last_used;
			}
		}
		SpinLockRelease(&e->mutex);
	}
	if (nidle > want)
	{
		qsort(idle, nidle, sizeof(IdleEntry), entry_age_cmp);
		nidle = want;
	}
	for (int i = 0; i < nidle; i++)
		removed += entry_remove(idle[i].e, true) ? 1 : 0;
	pfree(idle);
	return removed;
}

/*
 * Whether an eviction scan may find something: not when one found nothing
 * at this flush generation, unless new entries it passed over may be taken
 * by now.
 */
static inline bool
scan_due(uint64 fruitless_gen, TimestampTz fruitless_until, uint64 gen, TimestampTz now)
{
	return fruitless_gen != gen || (fruitless_until != 0 && now >= fruitless_until);
}

/*
 * Create the entry for key if it is missing; returns with no lock held.
 *
 * A tenant at its share (share_applies: every metric but mt.authenticate's
 * api_calls) first loses its own oldest idle entries; if it has none, the
 * call fails at once with 53400 (a flush is requested) and nobody else is
 * affected.  A full table loses idle entries of anyone; if there are none,
 * the caller waits up to MT_FULL_WAIT_MS for a flush and then fails with
 * 53400, or, without wait, returns false at once.  Each kind of scan runs
 * at most once per flush generation (see the header comment).
 */
static bool
entry_create(const MtUsageKey *key, bool share_applies, bool wait)
{
	TimestampTz start = GetCurrentTimestamp();
	bool		asked = false;

	for (;;)
	{
		MtUsageEntry *e;
		MtUsageTenant *t;
		bool		found;
		uint64		gen = pg_atomic_read_u64(&us->flush_generation);
		int			share = tenant_share();
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz young_until = 0;

		LWLockAcquire(us->lock, LW_EXCLUSIVE);
		if (hash_search(usage_htab, key, HASH_FIND, NULL) != NULL)
		{
			LWLockRelease(us->lock);
			return true;
		}
		t = tenant_find(key);
		if (share_applies && share < mt_max_counters && t != NULL && t->n >= share)
		{
			bool		scanned = false;

			if (scan_due(t->fruitless_gen, t->fruitless_until, gen, now))
			{
				(void) entry_evict_locked(key, Max(1, share / 10), &young_until);
				scanned = true;
				t = tenant_find(key);
			}
			if (t != NULL && t->n >= share)
			{
				if (scanned)
				{
					t->fruitless_gen = gen;
					t->fruitless_until = young_until;
				}
				LWLockRelease(us->lock);
				if (scanned)
					mt_flush_request_all();
				ereport(ERROR,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("too many usage counters for this tenant"),
						 errdetail("A tenant holds at most %d counters (multitenant.tenant_counter_share = %d%% of multitenant.max_counters = %d), and all of them hold counts that are not flushed yet or are new (created less than a second ago, nothing counted yet).",
								   share, mt_tenant_counter_share, mt_max_counters),
						 errhint("Use fewer distinct metric names; a flush was requested, after which idle counters make room.")));
			}
		}
		if (hash_get_num_entries(usage_htab) >= mt_max_counters &&
			scan_due(us->fruitless_gen, us->fruitless_until, gen, now))
		{
			if (entry_evict_locked(NULL, Max(1, mt_max_counters / 10), &young_until) == 0)
			{
				us->fruitless_gen = gen;
				us->fruitless_until = young_until;
			}
		}
		if (hash_get_num_entries(usage_htab) < mt_max_counters)
		{
			e = hash_search(usage_htab, key, HASH_ENTER_NULL, &found);
			if (e != NULL)
			{
				if (!found)
				{
					entry_init(e, GetCurrentTimestamp());
					tenant_add(key, 1);
				}
				LWLockRelease(us->lock);
				return true;
			}
		}
		LWLockRelease(us->lock);

		/* full of counts that are not flushed yet: have them flushed */
		if (!asked)
		{
			mt_flush_request_all();
			asked = true;
		}
		if (!wait)
			return false;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), MT_FULL_WAIT_MS))
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many usage counters"),
					 errdetail("All %d counters hold counts that are not flushed yet or are new (created less than a second ago, nothing counted yet).", mt_max_counters),
					 errhint("Raise multitenant.max_counters (needs a restart) or lower multitenant.flush_interval.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 20, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* ---------------------------------------------------------------------
 * Internal SQL runs as the owner of the extension's tables, with a fixed
 * search_path, so that callers need no privileges on them and cannot
 * redirect names or operators.
 * --------------------------------------------------------------------- */

/* 55000 when this database has no usage tables (no extension) */
static void
require_usage_tables(void)
{
	if (!OidIsValid(mt_catalog_relid("usage_rollup")))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("multitenant usage tables are missing in this database"),
				 errhint("Run CREATE EXTENSION multitenant.")));
}

/* as the extension owner, SPI connected (spi_util.c) */
static void
owner_begin(MtCatalogCtx *c)
{
	require_usage_tables();
	mt_catalog_begin(c);
}

static int64
spi_int8(int row, int col, bool *isnull)
{
	bool		null;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &null);

	if (isnull)
		*isnull = null;
	return null ? 0 : DatumGetInt64(d);
}

static char *
spi_cstring(int row, int col, MemoryContext cxt)
{
	char	   *s = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return s ? MemoryContextStrdup(cxt, s) : NULL;
}

/* ---------------------------------------------------------------------
 * Loading the flushed base and resolving quotas (slow paths)
 * --------------------------------------------------------------------- */

/*
 * The two statements run once per new counter, planned once per backend
 * (mt_spi_select_kept): parsed and planned at each use they made a new
 * counter cost about 220 us, against about 20 us with kept plans.
 */
static SPIPlanPtr load_plan = NULL;
static SPIPlanPtr quota_plan = NULL;

/*
 * Reads the flushed base of key's entry of the given incarnation and
 * stores it there if that entry is still unloaded.  An entry evicted and
 * entered again meanwhile is left alone: this read's snapshot may predate
 * a flush of the old entry that the new one must count, so the new entry
 * is loaded by its own read.
 */
static void
entry_load(const MtUsageKey *key, uint64 incarnation)
{
	MtCatalogCtx oc;
	MtPeriods	p;
	Datum		args[4];
	int64		base_day,
				base_month;
	MtUsageEntry *e;

	periods_for_time(GetCurrentTimestamp(), &p);
	args[0] = UUIDPGetDatum((pg_uuid_t *) &key->tenant);
	args[1] = CStringGetTextDatum(key->metric);
	args[2] = TimestampTzGetDatum(period_start(PK_MONTH, p.id[PK_MONTH]));
	args[3] = TimestampTzGetDatum(period_start(PK_DAY, p.id[PK_DAY]));

	owner_begin(&oc);
	mt_spi_select_kept(&load_plan,
					   "SELECT coalesce(sum(value) FILTER (WHERE bucket >= $4), 0)::bigint,"
					   "       coalesce(sum(value), 0)::bigint"
					   "  FROM mt.usage_rollup"
					   " WHERE tenant_id = $1 AND metric = $2 AND bucket >= $3",
					   4, (Oid[]) {UUIDOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}, args, NULL);
	base_day = spi_int8(0, 1, NULL);
	base_month = spi_int8(0, 2, NULL);
	mt_catalog_end(&oc);

	LWLockAcquire(us->lock, LW_SHARED);
	e = hash_search(usage_htab, key, HASH_FIND, NULL);
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		if (!e->loaded && e->incarnation == incarnation)
		{
			e->loaded = true;
			e->period[PK_DAY] = p.id[PK_DAY];
			e->period[PK_MONTH] = p.id[PK_MONTH];
			e->base[PK_DAY] = base_day;
			e->base[PK_MONTH] = base_month;
		}
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(us->lock);
}

/* the quota that applies to (tenant, metric): override, else plan limit */
static void
quota_lookup(const pg_uuid_t *tenant, const char *metric, MtQuota *q)
{
	MtCatalogCtx oc;
	Datum		args[2];

	memset(q, 0, sizeof(MtQuota));
	q->kind = PK_MONTH;
	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = CStringGetTextDatum(metric);
	owner_begin(&oc);
	mt_spi_select_kept(&quota_plan,
					   "SELECT period, hard_limit, soft_limit FROM ("
					   "  SELECT q.period, q.hard_limit, q.soft_limit, 1 AS pri"
					   "    FROM mt.tenant_quotas q WHERE q.tenant_id = $1 AND q.metric = $2"
					   "  UNION ALL"
					   "  SELECT l.period, l.hard_limit, l.soft_limit, 2"
					   "    FROM mt.tenants t JOIN mt.plan_limits l ON l.plan = t.plan"
					   "   WHERE t.id = $1 AND l.metric = $2) s"
					   " ORDER BY pri LIMIT 1",
					   2, (Oid[]) {UUIDOID, TEXTOID}, args, NULL);
	if (SPI_processed > 0)
	{
		bool		null;
		char	   *period = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		q->kind = (period && strcmp(period, "day") == 0) ? PK_DAY : PK_MONTH;
		q->hard = spi_int8(0, 2, &null);
		q->has_hard = !null;
		q->soft = spi_int8(0, 3, &null);
		q->has_soft = !null;
	}
	mt_catalog_end(&oc);
}

static void
entry_resolve(const MtUsageKey *key, uint64 stamp)
{
	MtQuota		q;
	MtUsageEntry *e;

	quota_lookup(&key->tenant, key->metric, &q);
	LWLockAcquire(us->lock, LW_SHARED);
	e = hash_search(usage_htab, key, HASH_FIND, NULL);
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		e->quota = q;
		e->quota_stamp = stamp;
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(us->lock);
}

/* ---------------------------------------------------------------------
 * Soft-limit alerts
 * --------------------------------------------------------------------- */

static void
alert_flag_reset(const MtUsageKey *key, int kind, int32 period)
{
	MtUsageEntry *e;

	if (us == NULL)
		return;
	LWLockAcquire(us->lock, LW_SHARED);
	e = hash_search(usage_htab, key, HASH_FIND, NULL);
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		if (e->alerted_kind == kind && e->alerted_period == period)
			e->alerted_kind = -1;
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(us->lock);
}

typedef struct MtAlert
{
	const MtUsageKey *key;
	int			kind;
	int64		used;
	const MtQuota *q;
	TimestampTz pstart;
} MtAlert;

/* the row and the NOTIFY of one alert; runs in a subtransaction */
static void
usage_alert_record(void *arg)
{
	MtAlert    *a = (MtAlert *) arg;
	const MtUsageKey *key = a->key;
	const MtQuota *q = a->q;
	MtCatalogCtx	oc;
	Datum		args[7];
	char		nulls[7] = "       ";
	int			rc;

	args[0] = UUIDPGetDatum((pg_uuid_t *) &key->tenant);
	args[1] = CStringGetTextDatum(key->metric);
	args[2] = CStringGetTextDatum(period_names[a->kind]);
	args[3] = TimestampTzGetDatum(a->pstart);
	args[4] = Int64GetDatum(a->used);
	args[5] = Int64GetDatum(q->soft);
	args[6] = Int64GetDatum(q->hard);
	if (!q->has_hard)
		nulls[6] = 'n';
	owner_begin(&oc);
	rc = SPI_execute_with_args("INSERT INTO mt.usage_alerts"
							   " (tenant_id, metric, period, period_start, used, soft_limit, hard_limit)"
							   " VALUES ($1, $2, $3, $4, $5, $6, $7)"
							   " ON CONFLICT DO NOTHING",
							   7, (Oid[]) {UUIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID},
							   args, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		mt_spi_failed("alert insert", rc);

	/*
	 * A wake-up without payload: any role may LISTEN (and NOTIFY) on any
	 * channel, so the alert itself is read from mt.usage_alerts, whose
	 * row-level security shows a tenant only its own rows and which only
	 * the extension writes.
	 */
	if (SPI_processed > 0)
		Async_Notify("multitenant_usage", NULL);
	mt_catalog_end(&oc);
}

/*
 * First crossing of the soft limit in a period: one row in mt.usage_alerts
 * (its primary key makes it once per period even across restarts) and a
 * NOTIFY multitenant_usage without payload, both part of the calling
 * transaction.  Runs in
 * a subtransaction so that a failure (say, a read-only transaction) never
 * turns a counted call into an error; the alert is then retried by the
 * next call that counts.  A cancel or statement timeout is not such a
 * failure: it ends the statement (57014).
 */
static void
usage_alert(const MtUsageKey *key, int kind, int32 period, int64 used, const MtQuota *q)
{
	MtAlert		a = {key, kind, used, q, period_start(kind, period)};
	ErrorData  *edata;

	if (XactReadOnly || IsInParallelMode())
	{
		alert_flag_reset(key, kind, period);
		return;
	}

	/*
	 * Undo the flag if this transaction (or subtransaction) rolls back,
	 * also when a cancel inside the alert ends the statement.
	 */
	if (!subxact_cb_registered)
	{
		RegisterSubXactCallback(usage_subxact_callback, NULL);
		subxact_cb_registered = true;
	}
	if (n_alert_undo < MT_MAX_ALERT_UNDO)
	{
		MtAlertUndo *u = &alert_undo[n_alert_undo++];

		u->key = *key;
		u->kind = kind;
		u->period = period;
		u->subid = GetCurrentSubTransactionId();
	}

	edata = mt_try_in_subxact(usage_alert_record, &a);
	if (edata != NULL)
	{
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not record the usage alert for metric \"%s\": %s",
						key->metric, edata->message)));
		FreeErrorData(edata);
		alert_flag_reset(key, kind, period);
	}
}

/* ---------------------------------------------------------------------
 * Counting
 * --------------------------------------------------------------------- */

typedef enum MtCountMode
{
	MT_COUNT_TRACK,
	MT_COUNT_CONSUME,
	MT_COUNT_API
} MtCountMode;

typedef enum MtCountStatus
{
	MT_OK,
	MT_REFUSED,
	MT_OVERFLOW
} MtCountStatus;

static int64
usage_count(const MtUsageKey *key, int64 amount, MtCountMode mode, MtRowHandle *h)
{
	TimestampTz now = GetCurrentTimestamp();
	MtPeriods	p;
	MtQuota		localq;
	MtQuota		q;
	MtCountStatus status = MT_OK;
	int64		total = 0;
	int64		newtotal = 0;
	bool		need_alert = false;
	int			k = PK_MONTH;

	periods_for_time(now, &p);
	memset(&q, 0, sizeof(q));

	/* this transaction changed quotas: do not trust or fill the shared cache */
	if (quota_local_dirty)
		quota_lookup(&key->tenant, key->metric, &localq);

	for (int attempt = 0;; attempt++)
	{
		uint64		stamp = pg_atomic_read_u64(&us->quota_generation);
		MtUsageEntry *e;
		bool		need_load = false;
		bool		need_resolve = false;
		bool		lw_held;
		uint64		incarnation;

		if (attempt > 20)
		{
			if (mode == MT_COUNT_API)
				return -1;		/* the caller keeps the count */
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("usage counter for metric \"%s\" keeps being evicted", key->metric),
					 errhint("Raise multitenant.max_counters.")));
		}

		/* through the caller's handle: the entry's mutex, no LWLock */
		e = MT_HANDLE_LOCK(h, MtUsageEntry);
		lw_held = e == NULL;
		if (e == NULL)
		{
			LWLockAcquire(us->lock, LW_SHARED);
			e = hash_search(usage_htab, key, HASH_FIND, NULL);
			if (e == NULL)
			{
				LWLockRelease(us->lock);
				if (!entry_create(key, mode != MT_COUNT_API, mode != MT_COUNT_API))
					return -1;	/* api_calls without room: the caller keeps it */
				continue;
			}
			if (h != NULL)
				MT_HANDLE_SET(h, e);
			SpinLockAcquire(&e->mutex);
		}
		Assert(memcmp(&e->key, key, sizeof(MtUsageKey)) == 0);

		incarnation = e->incarnation;
		if (!e->loaded)
			need_load = true;
		else if (!quota_local_dirty && e->quota_stamp != stamp)
			need_resolve = true;
		else
		{
			int64		other;

			q = quota_local_dirty ? localq : e->quota;
			k = q.kind;

			/*
			 * Another session already moved this counter to a later day (it
			 * read the clock after us): count in the counter's current day,
			 * so that the check below sees the whole period total.
			 */
			if (p.id[PK_DAY] < e->period[PK_DAY] || p.id[PK_MONTH] < e->period[PK_MONTH])
			{
				p.hour = e->period[PK_DAY] * 24;
				p.id[PK_DAY] = e->period[PK_DAY];
				p.id[PK_MONTH] = e->period[PK_MONTH];
			}
			entry_rollover(e, &p);
			if (!entry_total(e, k, p.id[k], &total) ||
				pg_add_s64_overflow(total, amount, &newtotal) ||
				!entry_total(e, 1 - k, p.id[1 - k], &other) ||
				pg_add_s64_overflow(other, amount, &other))
				status = MT_OVERFLOW;
			else if (mode == MT_COUNT_CONSUME && q.has_hard && newtotal > q.hard)
				status = MT_REFUSED;
			else
			{
				int			i = entry_slot(e, &p, &p);

				e->slots[i].pending += amount;
				e->last_used = now;
				e->fresh = false;
				if (q.has_soft && newtotal >= q.soft &&
					!(e->alerted_kind == k && e->alerted_period == p.id[k]))
				{
					e->alerted_kind = k;
					e->alerted_period = p.id[k];
					need_alert = true;
				}
			}
		}
		SpinLockRelease(&e->mutex);
		if (lw_held)
			LWLockRelease(us->lock);

		if (need_load)
			entry_load(key, incarnation);
		else if (need_resolve)
			entry_resolve(key, stamp);
		else
			break;
	}

	if (status == MT_OVERFLOW)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("usage of metric \"%s\" would exceed the bigint range", key->metric),
				 errdetail("Nothing was counted.")));
	if (status == MT_REFUSED)
	{
		mt_stat_count(&key->tenant, MT_STAT_QUOTA_REFUSED);
		mt_security_event(&key->tenant, MT_SEC_QUOTA_BREACH, NULL, key->metric);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("usage quota exceeded for metric \"%s\"", key->metric),
				 errdetail("Used " INT64_FORMAT " of " INT64_FORMAT " this %s; " INT64_FORMAT " more was requested. Nothing was counted.",
						   total, q.hard, period_names[k], amount),
				 errhint("Raise the limit with mt.set_quota() or upgrade the tenant's plan.")));
	}

	if (need_alert)
		usage_alert(key, k, p.id[k], newtotal, &q);

	return newtotal;
}


/*
 * The key mt.track()/mt.consume() counted last in this backend, with the
 * handles on its counter and on its tenant's statistics row: a session
 * counting the same metric for the same tenant again (the common case)
 * neither builds nor checks the key again, and skips both hash lookups and
 * the tables' locks (the handles are checked under the rows' spinlocks,
 * util.h).  Callers
 * work on copies and store them back when the count is done, so a count
 * nested inside one (an alert's NOTIFY, a load's query) cannot change
 * what an outer call uses.  dbid InvalidOid: none yet.
 */
static MtUsageKey sql_last_key;
static MtRowHandle sql_last_usage;
static MtRowHandle sql_last_stats;

static inline bool
same_as_sql_last(const pg_uuid_t *tenant, const text *metric)
{
	int			len = VARSIZE_ANY_EXHDR(metric);

	return sql_last_key.dbid == MyDatabaseId && OidIsValid(MyDatabaseId) &&
		len <= MT_METRIC_MAXLEN && sql_last_key.metric[len] == '\0' &&
		memcmp(&sql_last_key.tenant, tenant, sizeof(pg_uuid_t)) == 0 &&
		memcmp(sql_last_key.metric, VARDATA_ANY(metric), len) == 0;
}

static Datum
count_from_sql(FunctionCallInfo fcinfo, MtCountMode mode, const char *what)
{
	const pg_uuid_t *tenant;
	MtUsageKey	key;
	MtRowHandle usage_h;
	MtRowHandle stats_h;
	text	   *metric;
	int64		amount;

	/* counts live in shared memory: a read-only transaction may count */
	mt_require_writable(what, MT_WRITES_SHARED_MEMORY);
	mt_require_coordinator(what);
	mt_require_shared_memory(what);
	mt_require_args(fcinfo, 2, "metric and amount");
	amount = PG_GETARG_INT64(1);
	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("usage amount must be positive"),
				 errdetail("Got " INT64_FORMAT ".", amount)));
	tenant = mt_require_context_tenant();
	metric = PG_GETARG_TEXT_PP(0);
	if (same_as_sql_last(tenant, metric))
	{
		key = sql_last_key;
		usage_h = sql_last_usage;
		stats_h = sql_last_stats;
	}
	else
	{
		make_key(&key, MyDatabaseId, tenant, metric);
		memset(&usage_h, 0, sizeof(usage_h));
		memset(&stats_h, 0, sizeof(stats_h));
	}
	amount = usage_count(&key, amount, mode, &usage_h);
	mt_stat_count_at(tenant, MT_STAT_METERED, &stats_h);
	sql_last_key = key;
	sql_last_usage = usage_h;
	sql_last_stats = stats_h;
	PG_RETURN_INT64(amount);
}

PG_FUNCTION_INFO_V1(mt_track);
Datum
mt_track(PG_FUNCTION_ARGS)
{
	return count_from_sql(fcinfo, MT_COUNT_TRACK, "mt.track()");
}

PG_FUNCTION_INFO_V1(mt_consume);
Datum
mt_consume(PG_FUNCTION_ARGS)
{
	return count_from_sql(fcinfo, MT_COUNT_CONSUME, "mt.consume()");
}

/*
 * Adds amount to the pending counts of key's entry without SQL (no load,
 * no quota, no alert: the flush loads the entry, the next counted call
 * checks the soft limit).  False when the entry is missing and there is
 * no room for it now.  No ereport: also called at process exit.
 */
static bool
deferred_add(const MtUsageKey *key, int64 amount)
{
	MtUsageEntry *e;
	MtPeriods	p;
	TimestampTz now = GetCurrentTimestamp();

	if (!entry_create(key, false, false))
		return false;
	periods_for_time(now, &p);
	LWLockAcquire(us->lock, LW_SHARED);
	e = hash_search(usage_htab, key, HASH_FIND, NULL);
	if (e != NULL)
	{
		int			i;

		SpinLockAcquire(&e->mutex);
		if (e->loaded)
		{
			if (p.id[PK_DAY] < e->period[PK_DAY] || p.id[PK_MONTH] < e->period[PK_MONTH])
			{
				p.hour = e->period[PK_DAY] * 24;
				p.id[PK_DAY] = e->period[PK_DAY];
				p.id[PK_MONTH] = e->period[PK_MONTH];
			}
			entry_rollover(e, &p);
		}
		i = entry_slot(e, &p, &p);
		e->slots[i].pending = sat_add(e->slots[i].pending, amount);
		e->last_used = now;
		e->fresh = false;
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(us->lock);
	return e != NULL;
}

static void
api_calls_key(MtUsageKey *key, Oid dbid, const pg_uuid_t *tenant)
{
	memset(key, 0, sizeof(*key));
	key->dbid = dbid;
	memcpy(&key->tenant, tenant, sizeof(pg_uuid_t));
	memcpy(key->metric, "api_calls", sizeof("api_calls"));	/* NUL padded above */
}

/* moves this session's kept api_calls counts into shared memory if there is room */
static void
deferred_drain(void)
{
	int			kept = 0;

	for (int i = 0; i < n_deferred; i++)
	{
		MtUsageKey	key;

		api_calls_key(&key, deferred_calls[i].dbid, &deferred_calls[i].tenant);
		if (!deferred_add(&key, deferred_calls[i].amount))
			deferred_calls[kept++] = deferred_calls[i];
	}
	n_deferred = kept;
}

/* at exit: a last try, then say what is lost */
static void
deferred_at_exit(int code, Datum arg)
{
	int64		lost = deferred_lost;

	if (us == NULL)
		return;
	if (n_deferred > 0)
		deferred_drain();
	for (int i = 0; i < n_deferred; i++)
		lost += deferred_calls[i].amount;
	if (lost > 0)
		ereport(LOG,
				(errmsg("multitenant: " INT64_FORMAT " api_calls counts of this session were lost: the usage counter table stayed full",
						lost)));
	n_deferred = 0;
	deferred_lost = 0;
}

/* a count usage_count() could not place: kept in this session */
static void
deferred_keep(const MtUsageKey *key, int64 amount)
{
	int			i;

	if (!deferred_exit_registered)
	{
		before_shmem_exit(deferred_at_exit, (Datum) 0);
		deferred_exit_registered = true;
	}
	for (i = 0; i < n_deferred; i++)
		if (deferred_calls[i].dbid == key->dbid &&
			memcmp(&deferred_calls[i].tenant, &key->tenant, sizeof(pg_uuid_t)) == 0)
			break;
	if (i == n_deferred)
	{
		if (n_deferred == MT_MAX_DEFERRED)
		{
			deferred_lost = sat_add(deferred_lost, amount);
			return;
		}
		deferred_calls[i].dbid = key->dbid;
		memcpy(&deferred_calls[i].tenant, &key->tenant, sizeof(pg_uuid_t));
		deferred_calls[i].amount = 0;
		n_deferred++;
	}
	deferred_calls[i].amount = sat_add(deferred_calls[i].amount, amount);
}

/*
 * mt.authenticate's count: never refused, never waits, never fails because
 * the counter table is full (the count is then kept in the session).
 */
void
mt_usage_count_api_call(const pg_uuid_t *tenant, MtRowHandle *h)
{
	MtUsageKey	key;

	if (us == NULL || RecoveryInProgress())
		return;
	if (unlikely(n_deferred > 0))
		deferred_drain();
	api_calls_key(&key, MyDatabaseId, tenant);
	if (usage_count(&key, 1, MT_COUNT_API, h) < 0)
		deferred_keep(&key, 1);
}

void
mt_usage_prefetch(const MtRowHandle *h)
{
	/* usage_count reads and writes from the incarnation to the slots */
	mt_handle_prefetch(h, offsetof(MtUsageEntry, incarnation), sizeof(MtUsageEntry));
}

/* ---------------------------------------------------------------------
 * Reading usage
 * --------------------------------------------------------------------- */

/*
 * A caller may read the usage of its current tenant, and of any tenant
 * whose row of mt.tenants it can see (checked as the caller, so RLS
 * decides: superusers, the table owner, BYPASSRLS roles, or roles given a
 * policy).
 */
static void
check_tenant_access(const pg_uuid_t *tenant)
{
	const pg_uuid_t *cur = mt_context_tenant();
	Datum		arg = UUIDPGetDatum((pg_uuid_t *) tenant);
	bool		visible;

	if (cur != NULL && memcmp(cur, tenant, sizeof(pg_uuid_t)) == 0)
		return;
	mt_spi_connect();
	visible = mt_spi_exists("SELECT 1 FROM mt.tenants WHERE id OPERATOR(pg_catalog.=) $1",
							1, (Oid[]) {UUIDOID}, &arg);
	mt_spi_finish();
	if (!visible)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for the usage of tenant %s", mt_uuid_to_cstring(tenant)),
				 errdetail("The tenant does not exist or its row of mt.tenants is not visible to the current role."),
				 errhint("Inside a tenant's context only that tenant's usage can be read.")));
}

static const pg_uuid_t *
tenant_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("no tenant context is set"),
				 errhint("Pass a tenant, or enter one first with set_config('multitenant.token', $1, true).")));
	return PG_GETARG_UUID_P(argno);
}

/* one metric's live usage from shared memory */
typedef struct MtLive
{
	char		metric[MT_METRIC_MAXLEN + 1];
	bool		loaded;			/* value is exact on its own */
	int64		value[2];		/* [k]: current period total (loaded) or pending */
} MtLive;

/*
 * Room for need elements of elemsize in *arr, which holds *cap of them:
 * the capacity doubles (from 64) until it fits.  *arr is NULL at first,
 * then allocated in cxt; repalloc keeps it in its context.  Huge
 * allocations: the counts are bounded only by multitenant.max_counters.
 * The one grow step of every array below (the flush's items, a tenant's
 * live counters and pending amounts).
 */
static void
array_reserve(void **arr, Size *cap, Size need, Size elemsize, MemoryContext cxt)
{
	Size		newcap = Max(*cap, 64);

	if (*arr != NULL && need <= *cap)
		return;
	while (newcap < need)
		newcap *= 2;
	if (*arr == NULL)
		*arr = MemoryContextAllocHuge(cxt, newcap * elemsize);
	else
		*arr = repalloc_huge(*arr, newcap * elemsize);
	*cap = newcap;
}

/* live values of every counter of (this database, tenant) */
static MtLive *
collect_live(const pg_uuid_t *tenant, int *n)
{
	HASH_SEQ_STATUS hs;
	MtUsageEntry *e;
	MtLive	   *out = NULL;
	int			cnt = 0;
	Size		cap = 0;		/* grown as needed: the tenant's counters only */
	MtPeriods	p;

	periods_for_time(GetCurrentTimestamp(), &p);
	array_reserve((void **) &out, &cap, 1, sizeof(MtLive), CurrentMemoryContext);
	LWLockAcquire(us->lock, LW_SHARED);
	hash_seq_init(&hs, usage_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		MtLive	   *l;

		if (e->key.dbid != MyDatabaseId ||
			memcmp(&e->key.tenant, tenant, sizeof(pg_uuid_t)) != 0)
			continue;
		array_reserve((void **) &out, &cap, cnt + 1, sizeof(MtLive), CurrentMemoryContext);
		l = &out[cnt++];
		memcpy(l->metric, e->key.metric, sizeof(l->metric));
		SpinLockAcquire(&e->mutex);
		if (e->loaded)
			entry_rollover(e, &p);
		l->loaded = e->loaded;
		for (int k = 0; k < 2; k++)
			if (!entry_total(e, k, p.id[k], &l->value[k]))
				l->value[k] = PG_INT64_MAX;
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(us->lock);
	*n = cnt;
	return out;
}

/* pending amounts of (this database, tenant) as arrays for SQL */
static void
collect_pending_arrays(const pg_uuid_t *tenant, Datum *metrics, Datum *hours, Datum *amounts)
{
	HASH_SEQ_STATUS hs;
	MtUsageEntry *e;
	Size		mcap = 0,		/* grown as needed: the tenant's slots only */
				hcap = 0,
				acap = 0;
	int			n = 0;
	Datum	   *m = NULL,
			   *h = NULL,
			   *a = NULL;

	LWLockAcquire(us->lock, LW_SHARED);
	hash_seq_init(&hs, usage_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		MtUsageSlot slots[MT_USAGE_SLOTS];

		if (e->key.dbid != MyDatabaseId ||
			memcmp(&e->key.tenant, tenant, sizeof(pg_uuid_t)) != 0)
			continue;
		array_reserve((void **) &m, &mcap, n + MT_USAGE_SLOTS, sizeof(Datum), CurrentMemoryContext);
		array_reserve((void **) &h, &hcap, n + MT_USAGE_SLOTS, sizeof(Datum), CurrentMemoryContext);
		array_reserve((void **) &a, &acap, n + MT_USAGE_SLOTS, sizeof(Datum), CurrentMemoryContext);
		SpinLockAcquire(&e->mutex);
		memcpy(slots, e->slots, sizeof(slots));
		SpinLockRelease(&e->mutex);
		for (int i = 0; i < MT_USAGE_SLOTS; i++)
		{
			if (slots[i].pending <= 0)
				continue;
			m[n] = CStringGetTextDatum(e->key.metric);
			h[n] = TimestampTzGetDatum((TimestampTz) slots[i].at.hour * USECS_PER_HOUR);
			a[n] = Int64GetDatum(slots[i].pending);
			n++;
		}
	}
	LWLockRelease(us->lock);
	*metrics = PointerGetDatum(construct_array(m, n, TEXTOID, -1, false, TYPALIGN_INT));
	*hours = PointerGetDatum(construct_array(h, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	*amounts = PointerGetDatum(construct_array(a, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * The same for billing.c (mt.invoice_preview): empty arrays when the
 * library is not preloaded (nothing can be pending then).  Take the
 * snapshot of the rollup before calling this, so that an amount flushed
 * meanwhile is in neither (rather than in both).
 */
void
mt_usage_pending_arrays(const pg_uuid_t *tenant, Datum *metrics, Datum *hours, Datum *amounts)
{
	if (us == NULL)
	{
		*metrics = PointerGetDatum(construct_empty_array(TEXTOID));
		*hours = PointerGetDatum(construct_empty_array(TIMESTAMPTZOID));
		*amounts = PointerGetDatum(construct_empty_array(INT8OID));
		return;
	}
	collect_pending_arrays(tenant, metrics, hours, amounts);
}

typedef struct MtUsageRow
{
	char	   *metric;
	int64		used;
	bool		has_soft,
				has_hard;
	int64		soft,
				hard;
	char	   *limit_period;
} MtUsageRow;

static int
usage_row_cmp(const void *a, const void *b)
{
	return strcmp(((const MtUsageRow *) a)->metric, ((const MtUsageRow *) b)->metric);
}

/*
 * mt.usage(tenant, period): one row per metric that has a limit or usage in
 * the current period: used (flushed + pending: exact), and the soft and
 * hard limits when they are limits of this period kind.
 */
PG_FUNCTION_INFO_V1(mt_usage);
Datum
mt_usage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const pg_uuid_t *tenant;
	int			k;
	MtPeriods	p;
	TimestampTz pstart,
				pend;
	MtCatalogCtx	oc;
	Datum		args[3];
	MtUsageRow *rows;
	int			nrows = 0;
	int			ntable;
	MtLive	   *live;
	int			nlive;

	mt_require_coordinator("mt.usage()");
	mt_require_shared_memory("mt.usage()");
	tenant = tenant_arg(fcinfo, 0);
	mt_require_arg_set(fcinfo, MT_ARG(1), "period");
	k = parse_period(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	check_tenant_access(tenant);
	InitMaterializedSRF(fcinfo, 0);

	periods_for_time(GetCurrentTimestamp(), &p);
	pstart = period_start(k, p.id[k]);
	pend = period_start(k, p.id[k] + 1);

	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = TimestampTzGetDatum(pstart);
	args[2] = TimestampTzGetDatum(pend);
	owner_begin(&oc);
	mt_spi_select_snapshot(NULL, "WITH lim AS ("
						   "  SELECT DISTINCT ON (metric) metric, period, hard_limit, soft_limit FROM ("
						   "    SELECT q.metric, q.period, q.hard_limit, q.soft_limit, 1 AS pri"
						   "      FROM mt.tenant_quotas q WHERE q.tenant_id = $1"
						   "    UNION ALL"
						   "    SELECT l.metric, l.period, l.hard_limit, l.soft_limit, 2"
						   "      FROM mt.tenants t JOIN mt.plan_limits l ON l.plan = t.plan"
						   "     WHERE t.id = $1) s"
						   "  ORDER BY metric, pri),"
						   " used AS ("
						   "  SELECT metric, sum(value)::bigint AS used FROM mt.usage_rollup"
						   "   WHERE tenant_id = $1 AND bucket >= $2 AND bucket < $3 GROUP BY metric)"
						   " SELECT coalesce(l.metric, u.metric), coalesce(u.used, 0),"
						   "        l.soft_limit, l.hard_limit, l.period"
						   "   FROM lim l FULL JOIN used u ON u.metric = l.metric",
						   3, (Oid[]) {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID}, args, NULL);

	rows = MemoryContextAllocZero(oc.outer, sizeof(MtUsageRow) * (SPI_processed + 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		MtUsageRow *row = &rows[nrows++];
		bool		null;

		row->metric = spi_cstring(r, 1, oc.outer);
		row->used = spi_int8(r, 2, NULL);
		row->soft = spi_int8(r, 3, &null);
		row->has_soft = !null;
		row->hard = spi_int8(r, 4, &null);
		row->has_hard = !null;
		row->limit_period = spi_cstring(r, 5, oc.outer);
	}
	mt_catalog_end(&oc);

	/*
	 * Counters are read after the table: a flush in between has loaded the
	 * entry first, so its base (flushed + in flight) is used, never the
	 * table plus the same amount still pending.
	 */
	live = collect_live(tenant, &nlive);
	rows = repalloc_huge(rows, sizeof(MtUsageRow) * (nrows + nlive + 1));

	/*
	 * live counters override (loaded) or add to (pending only) the table;
	 * the table's rows, one per metric, are looked up in metric order
	 */
	qsort(rows, nrows, sizeof(MtUsageRow), usage_row_cmp);
	ntable = nrows;
	for (int i = 0; i < nlive; i++)
	{
		MtUsageRow	probe = {.metric = live[i].metric};
		MtUsageRow *row = bsearch(&probe, rows, ntable, sizeof(MtUsageRow), usage_row_cmp);

		if (row == NULL)
		{
			row = &rows[nrows++];
			memset(row, 0, sizeof(MtUsageRow));
			row->metric = pstrdup(live[i].metric);
		}
		if (live[i].loaded)
			row->used = live[i].value[k];
		else
			row->used = sat_add(row->used, live[i].value[k]);
	}

	qsort(rows, nrows, sizeof(MtUsageRow), usage_row_cmp);
	for (int r = 0; r < nrows; r++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		bool		same = rows[r].limit_period != NULL &&
			strcmp(rows[r].limit_period, period_names[k]) == 0;

		values[0] = CStringGetTextDatum(rows[r].metric);
		values[1] = Int64GetDatum(rows[r].used);
		values[2] = Int64GetDatum(rows[r].soft);
		nulls[2] = !(same && rows[r].has_soft);
		values[3] = Int64GetDatum(rows[r].hard);
		nulls[3] = !(same && rows[r].has_hard);
		values[4] = TimestampTzGetDatum(pstart);
		if (rows[r].limit_period)
			values[5] = CStringGetTextDatum(rows[r].limit_period);
		nulls[5] = rows[r].limit_period == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * mt.usage_history(tenant, metric, from, to, granularity): the rollup
 * (plus counts not flushed yet) summed per hour/day/week/month (UTC).
 */
PG_FUNCTION_INFO_V1(mt_usage_history);
Datum
mt_usage_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const pg_uuid_t *tenant;
	char	   *gran;
	MtCatalogCtx	oc;
	Datum		args[8];
	char		nulls[8] = "        ";
	MtUsageKey	mkey;
	Snapshot	snap;

	mt_require_coordinator("mt.usage_history()");
	mt_require_shared_memory("mt.usage_history()");
	tenant = tenant_arg(fcinfo, 0);
	mt_require_arg_set(fcinfo, MT_ARG(2) | MT_ARG(3) | MT_ARG(4), "from, to and granularity");
	if (!PG_ARGISNULL(1))
		make_key(&mkey, MyDatabaseId, tenant, PG_GETARG_TEXT_PP(1));
	gran = text_to_cstring(PG_GETARG_TEXT_PP(4));
	if (strcmp(gran, "hour") != 0 && strcmp(gran, "day") != 0 &&
		strcmp(gran, "week") != 0 && strcmp(gran, "month") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown granularity \"%s\"", gran),
				 errhint("Use 'hour', 'day', 'week' or 'month' (UTC).")));
	if (PG_GETARG_TIMESTAMPTZ(2) > PG_GETARG_TIMESTAMPTZ(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from must not be later than to")));
	check_tenant_access(tenant);
	InitMaterializedSRF(fcinfo, 0);

	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = PG_ARGISNULL(1) ? (Datum) 0 : CStringGetTextDatum(mkey.metric);
	if (PG_ARGISNULL(1))
		nulls[1] = 'n';
	args[2] = PG_GETARG_DATUM(2);
	args[3] = PG_GETARG_DATUM(3);
	args[4] = CStringGetTextDatum(gran);

	/*
	 * The snapshot is taken before the pending counts are read, so that an
	 * amount flushed in between is not counted twice.
	 */
	snap = RegisterSnapshot(GetLatestSnapshot());
	collect_pending_arrays(tenant, &args[5], &args[6], &args[7]);

	owner_begin(&oc);
	mt_spi_select_snapshot(snap, "SELECT date_trunc($5, b AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket,"
						   "       m AS metric, sum(v)::bigint AS value"
						   "  FROM (SELECT metric, bucket, value FROM mt.usage_rollup"
						   "         WHERE tenant_id = $1 AND ($2::text IS NULL OR metric = $2)"
						   "           AND bucket >= date_trunc('hour', $3, 'UTC') AND bucket < $4"
						   "        UNION ALL"
						   "        SELECT x.m, x.b, x.v FROM unnest($6::text[], $7::timestamptz[], $8::bigint[]) AS x (m, b, v)"
						   "         WHERE ($2::text IS NULL OR x.m = $2)"
						   "           AND x.b >= date_trunc('hour', $3, 'UTC') AND x.b < $4) AS s (m, b, v)"
						   " GROUP BY 1, 2 ORDER BY 1, 2",
						   8, (Oid[]) {UUIDOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID,
						     TEXTARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID},
						   args, nulls);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		values[3];
		bool		rnulls[3] = {false, false, false};
		bool		null;

		values[0] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &null);
		values[1] = CStringGetTextDatum(spi_cstring(r, 2, oc.outer));
		values[2] = Int64GetDatum(spi_int8(r, 3, NULL));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, rnulls);
	}
	mt_catalog_end(&oc);
	UnregisterSnapshot(snap);
	return (Datum) 0;
}

/*
 * mt.usage_cost(tenant, month): the plan's monthly price plus, for every
 * plan limit with an overage price, the usage above the plan's allowance
 * (per day for daily limits) in overage units, for the UTC month holding
 * 'month'; then a total.
 */
PG_FUNCTION_INFO_V1(mt_usage_cost);
Datum
mt_usage_cost(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const pg_uuid_t *tenant;
	MtPeriods	p;
	MtCatalogCtx	oc;
	Datum		args[6];
	Snapshot	snap;

	mt_require_coordinator("mt.usage_cost()");
	mt_require_shared_memory("mt.usage_cost()");
	tenant = tenant_arg(fcinfo, 0);
	mt_require_arg_set(fcinfo, MT_ARG(1), "month");
	check_tenant_access(tenant);
	InitMaterializedSRF(fcinfo, 0);

	periods_for_time(PG_GETARG_TIMESTAMPTZ(1), &p);
	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = TimestampTzGetDatum(period_start(PK_MONTH, p.id[PK_MONTH]));
	args[2] = TimestampTzGetDatum(period_start(PK_MONTH, p.id[PK_MONTH] + 1));
	snap = RegisterSnapshot(GetLatestSnapshot());	/* before the pending counts */
	collect_pending_arrays(tenant, &args[3], &args[4], &args[5]);

	owner_begin(&oc);
	mt_spi_select_snapshot(snap, "WITH t AS ("
						   "  SELECT t.plan, p.price_monthly_cents, p.currency"
						   "    FROM mt.tenants t JOIN mt.plans p ON p.name = t.plan WHERE t.id = $1),"
						   " u AS ("
						   "  SELECT m AS metric, date_trunc('day', b AT TIME ZONE 'UTC') AS day, sum(v) AS v"
						   "    FROM (SELECT metric, bucket, value FROM mt.usage_rollup"
						   "           WHERE tenant_id = $1 AND bucket >= $2 AND bucket < $3"
						   "          UNION ALL"
						   "          SELECT x.m, x.b, x.v FROM unnest($4::text[], $5::timestamptz[], $6::bigint[]) AS x (m, b, v)"
						   "           WHERE x.b >= $2 AND x.b < $3) AS s (m, b, v)"
						   "   GROUP BY 1, 2),"
						   " o AS ("
						   "  SELECT l.metric, l.period, l.hard_limit, l.overage_price_cents AS price,"
						   "         l.overage_unit AS unit,"
						   "         coalesce((SELECT sum(u.v) FROM u WHERE u.metric = l.metric), 0) AS used,"
						   "         CASE WHEN l.hard_limit IS NULL THEN 0"
						   "              WHEN l.period = 'day' THEN coalesce((SELECT sum(greatest(u.v - l.hard_limit, 0))"
						   "                                                     FROM u WHERE u.metric = l.metric), 0)"
						   "              ELSE greatest(coalesce((SELECT sum(u.v) FROM u WHERE u.metric = l.metric), 0)"
						   "                            - l.hard_limit, 0) END AS over"
						   "    FROM t JOIN mt.plan_limits l ON l.plan = t.plan"
						   "   WHERE l.overage_price_cents IS NOT NULL),"
						   " lines AS ("
						   "  SELECT 0 AS ord, 'plan'::text AS item, NULL::text AS metric, 'month'::text AS period,"
						   "         NULL::bigint AS used, NULL::bigint AS included, NULL::bigint AS units,"
						   "         t.price_monthly_cents::numeric AS cents, t.currency FROM t"
						   "  UNION ALL"
						   "  SELECT 1, 'overage', o.metric, o.period, o.used::bigint, o.hard_limit,"
						   "         ceil(o.over / o.unit)::bigint, ceil(o.over / o.unit) * o.price,"
						   "         (SELECT currency FROM t) FROM o)"
						   " SELECT item, metric, period, used, included, units, cents, currency FROM ("
						   "  SELECT * FROM lines"
						   "  UNION ALL"
						   "  SELECT 2, 'total', NULL, 'month', NULL, NULL, NULL, sum(cents), max(currency)"
						   "    FROM lines HAVING count(*) > 0) z"
						   " ORDER BY ord, metric",
						   6, (Oid[]) {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
						     TEXTARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID},
						   args, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		values[8];
		bool		nulls[8];

		for (int c = 0; c < 8; c++)
		{
			Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, c);

			values[c] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, c + 1, &nulls[c]);
			if (!nulls[c])
			{
				MemoryContext old = MemoryContextSwitchTo(oc.outer);

				values[c] = datumCopy(values[c], att->attbyval, att->attlen);
				MemoryContextSwitchTo(old);
			}
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	mt_catalog_end(&oc);
	UnregisterSnapshot(snap);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Quotas (SECURITY DEFINER, EXECUTE revoked from PUBLIC)
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_set_quota);
Datum
mt_set_quota(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	MtUsageKey	key;
	char	   *period;
	Datum		args[5];
	char		nulls[5] = "     ";

	mt_require_writable("mt.set_quota()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.set_quota()");
	mt_require_arg_set(fcinfo, MT_ARG(0) | MT_ARG(1) | MT_ARG(4), "tenant, metric and period");
	tenant = PG_GETARG_UUID_P(0);
	make_key(&key, MyDatabaseId, tenant, PG_GETARG_TEXT_PP(1));
	period = text_to_cstring(PG_GETARG_TEXT_PP(4));
	(void) parse_period(period);
	if ((!PG_ARGISNULL(2) && PG_GETARG_INT64(2) < 0) ||
		(!PG_ARGISNULL(3) && PG_GETARG_INT64(3) < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("usage limits must not be negative")));
	if (!PG_ARGISNULL(2) && !PG_ARGISNULL(3) && PG_GETARG_INT64(3) > PG_GETARG_INT64(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("soft limit must not be above the hard limit")));
	if (mt_tenant_status(tenant) == MT_TENANT_UNKNOWN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant %s does not exist", mt_uuid_to_cstring(tenant))));

	args[0] = UUIDPGetDatum(tenant);
	args[1] = CStringGetTextDatum(key.metric);
	args[2] = PG_GETARG_DATUM(2);
	args[3] = PG_GETARG_DATUM(3);
	args[4] = CStringGetTextDatum(period);
	if (PG_ARGISNULL(2))
		nulls[2] = 'n';
	if (PG_ARGISNULL(3))
		nulls[3] = 'n';
	mt_spi_connect();
	mt_spi_execute_nulls("INSERT INTO mt.tenant_quotas AS q"
						 " (tenant_id, metric, hard_limit, soft_limit, period)"
						 " VALUES ($1, $2, $3, $4, $5)"
						 " ON CONFLICT (tenant_id, metric) DO UPDATE"
						 " SET hard_limit = excluded.hard_limit, soft_limit = excluded.soft_limit,"
						 "     period = excluded.period, updated_at = now()",
						 5, (Oid[]) {UUIDOID, TEXTOID, INT8OID, INT8OID, TEXTOID},
						 args, nulls, SPI_OK_INSERT);
	mt_spi_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_reset_quota);
Datum
mt_reset_quota(PG_FUNCTION_ARGS)
{
	MtUsageKey	key;
	Datum		args[2];
	int			rc;
	bool		removed;

	mt_require_writable("mt.reset_quota()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.reset_quota()");
	mt_require_args(fcinfo, 2, "tenant and metric");
	make_key(&key, MyDatabaseId, PG_GETARG_UUID_P(0), PG_GETARG_TEXT_PP(1));
	args[0] = PG_GETARG_DATUM(0);
	args[1] = CStringGetTextDatum(key.metric);
	mt_spi_connect();
	rc = mt_spi_execute("DELETE FROM mt.tenant_quotas WHERE tenant_id = $1 AND metric = $2",
						2, (Oid[]) {UUIDOID, TEXTOID}, args, SPI_OK_DELETE);
	(void) rc;
	removed = SPI_processed > 0;
	mt_spi_finish();
	PG_RETURN_BOOL(removed);
}

/* statement trigger on the tables quotas come from */
PG_FUNCTION_INFO_V1(mt_usage_quota_changed);
Datum
mt_usage_quota_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.usage_quota_changed() must be called as a trigger")));
	quota_local_dirty = true;
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * Flushing (mt.flush_usage asks the worker; the worker calls the rest)
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_flush_usage);
Datum
mt_flush_usage(PG_FUNCTION_ARGS)
{
	int64		rows = 0;

	/* the flush worker writes, in its own transaction */
	mt_require_writable("mt.flush_usage()", MT_WRITES_SHARED_MEMORY);
	mt_require_shared_memory("mt.flush_usage()");
	(void) mt_flush_request_wait(MyDatabaseId, &rows);
	PG_RETURN_INT64(rows);
}

/* Run once by the install script: counters of an earlier installation go. */
PG_FUNCTION_INFO_V1(mt_usage_reset_database);
Datum
mt_usage_reset_database(PG_FUNCTION_ARGS)
{
	if (us != NULL)
		mt_usage_discard_database(MyDatabaseId);
	PG_RETURN_VOID();
}

/* databases that have counts to flush (worker.c); at most max */
int
mt_usage_databases_with_pending(Oid *dbids, int max)
{
	HASH_SEQ_STATUS hs;
	MtUsageEntry *e;
	int			n = 0;

	if (us == NULL)
		return 0;
	LWLockAcquire(us->lock, LW_SHARED);
	hash_seq_init(&hs, usage_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		bool		pending = false;
		int			j;

		for (int i = 0; i < MT_USAGE_SLOTS; i++)
			pending |= (e->slots[i].pending > 0);	/* unlocked read: a hint */
		if (!pending)
			continue;
		for (j = 0; j < n; j++)
			if (dbids[j] == e->key.dbid)
				break;
		if (j == n && n < max)
			dbids[n++] = e->key.dbid;
	}
	LWLockRelease(us->lock);
	return n;
}

/* forget every counter of a database (dropped database or extension) */
void
mt_usage_discard_database(Oid dbid)
{
	HASH_SEQ_STATUS hs;
	MtUsageEntry *e;

	LWLockAcquire(us->lock, LW_EXCLUSIVE);
	hash_seq_init(&hs, usage_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
		if (e->key.dbid == dbid)
			(void) entry_remove(e, false);
	LWLockRelease(us->lock);
	pg_atomic_fetch_add_u64(&us->flush_generation, 1);
}

/* the order of mt.usage_rollup's key: tenant, metric (bytewise), hour */
static int
flush_item_cmp(const void *a, const void *b)
{
	const MtFlushItem *x = a;
	const MtFlushItem *y = b;
	int			c = memcmp(&x->key.tenant, &y->key.tenant, sizeof(pg_uuid_t));

	if (c == 0)
		c = strcmp(x->key.metric, y->key.metric);
	if (c == 0)
		c = (x->at.hour > y->at.hour) - (x->at.hour < y->at.hour);
	return c;
}

/* upsert flush_items[from .. from + n - 1] into mt.usage_rollup */
static void
flush_write_batch(int from, int n)
{
	Datum	   *t = palloc(sizeof(Datum) * n);
	Datum	   *m = palloc(sizeof(Datum) * n);
	Datum	   *b = palloc(sizeof(Datum) * n);
	Datum	   *v = palloc(sizeof(Datum) * n);
	Datum		args[4];
	MtCatalogCtx oc;

	for (int i = 0; i < n; i++)
	{
		MtFlushItem *it = &flush_items[from + i];

		t[i] = UUIDPGetDatum(&it->key.tenant);
		m[i] = CStringGetTextDatum(it->key.metric);
		b[i] = TimestampTzGetDatum((TimestampTz) it->at.hour * USECS_PER_HOUR);
		v[i] = Int64GetDatum(it->amount);
	}
	args[0] = PointerGetDatum(construct_array(t, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	args[1] = PointerGetDatum(construct_array(m, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(b, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = PointerGetDatum(construct_array(v, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	owner_begin(&oc);
	mt_spi_execute("INSERT INTO mt.usage_rollup AS r (tenant_id, metric, bucket, value)"
				   " SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::bigint[])"
				   "   AS u (tenant_id, metric, bucket, value)"
				   "  ORDER BY u.tenant_id, u.metric COLLATE \"C\", u.bucket"
				   " ON CONFLICT (tenant_id, metric, bucket)"
				   " DO UPDATE SET value = r.value + excluded.value",
				   4, (Oid[]) {UUIDARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID},
				   args, SPI_OK_INSERT);
	mt_catalog_end(&oc);
	pfree(t);
	for (int i = 0; i < n; i++)
		pfree(DatumGetPointer(m[i]));
	pfree(m);
	pfree(b);
	pfree(v);
	for (int i = 0; i < 4; i++)
		pfree(DatumGetPointer(args[i]));
}

/*
 * The flush of the current database, inside the caller's transaction
 * (the flush worker's).  Loads unloaded entries, moves every pending amount
 * into base and inflight, and upserts the amounts into mt.usage_rollup.
 * The caller must call mt_usage_flush_finish() after the commit or abort.
 * Returns the number of rollup rows written.
 */
int64
mt_usage_flush_database(void)
{
	HASH_SEQ_STATUS hs;
	MtUsageEntry *e;
	MtUsageKey *unloaded = NULL;
	uint64	   *unloaded_inc = NULL;
	Size		unloaded_cap = 0,
				unloaded_inc_cap = 0;
	int			n_unloaded = 0;
	MemoryContext oldcxt;

	Assert(n_flush_items == 0);

	/*
	 * 1. entries restored from the dump (or never loaded) get their base
	 * (the arrays grow with the unloaded entries, not with the table)
	 */
	LWLockAcquire(us->lock, LW_SHARED);
	hash_seq_init(&hs, usage_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		bool		loaded;

		if (e->key.dbid != MyDatabaseId)
			continue;
		array_reserve((void **) &unloaded, &unloaded_cap, n_unloaded + 1,
					  sizeof(MtUsageKey), CurrentMemoryContext);
		array_reserve((void **) &unloaded_inc, &unloaded_inc_cap, n_unloaded + 1,
					  sizeof(uint64), CurrentMemoryContext);
		SpinLockAcquire(&e->mutex);
		loaded = e->loaded;
		unloaded_inc[n_unloaded] = e->incarnation;
		SpinLockRelease(&e->mutex);
		if (!loaded)
			unloaded[n_unloaded++] = e->key;
	}
	LWLockRelease(us->lock);
	for (int i = 0; i < n_unloaded; i++)
		entry_load(&unloaded[i], unloaded_inc[i]);

	/*
	 * 2. take the pending amounts (room for an entry's slots is made before
	 * its spinlock is taken: no palloc under it)
	 */
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	LWLockAcquire(us->lock, LW_SHARED);
	hash_seq_init(&hs, usage_htab);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		int			first = n_flush_items;

		if (e->key.dbid != MyDatabaseId)
			continue;
		array_reserve((void **) &flush_items, &flush_items_cap, n_flush_items + MT_USAGE_SLOTS,
					  sizeof(MtFlushItem), TopMemoryContext);
		SpinLockAcquire(&e->mutex);
		if (e->loaded)
		{
			for (int i = 0; i < MT_USAGE_SLOTS; i++)
			{
				MtUsageSlot *s = &e->slots[i];
				MtFlushItem *it;

				if (s->pending <= 0)
					continue;
				it = &flush_items[n_flush_items++];
				entry_rollover(e, &s->at);
				it->incarnation = e->incarnation;
				it->at = s->at;
				it->amount = s->pending;
				for (int k = 0; k < 2; k++)
				{
					it->added[k] = (s->at.id[k] == e->period[k]);
					if (it->added[k])
						e->base[k] = sat_add(e->base[k], s->pending);
				}
				e->inflight = sat_add(e->inflight, s->pending);
				s->pending = 0;
			}
		}
		SpinLockRelease(&e->mutex);
		/* the key never changes while we hold the table lock */
		for (int i = first; i < n_flush_items; i++)
			flush_items[i].key = e->key;
	}
	LWLockRelease(us->lock);
	MemoryContextSwitchTo(oldcxt);

	/*
	 * 3. write them, MT_FLUSH_BATCH rows per statement (each statement's
	 * arrays stay far below MaxAllocSize, however many counters the table
	 * holds), in the rollup key's order across and within the statements,
	 * as the single statement did
	 */
	if (n_flush_items > 1)
		qsort(flush_items, n_flush_items, sizeof(MtFlushItem), flush_item_cmp);
	for (int from = 0; from < n_flush_items; from += MT_FLUSH_BATCH)
		flush_write_batch(from, Min(n_flush_items - from, MT_FLUSH_BATCH));
	return n_flush_items;
}

/*
 * After the flush transaction: committed, the amounts are in the table and
 * leave inflight; aborted, they go back to pending (and out of base).
 */
void
mt_usage_flush_finish(bool committed)
{
	MtPeriods	now;

	if (n_flush_items == 0 || us == NULL)
	{
		n_flush_items = 0;
		return;
	}
	periods_for_time(GetCurrentTimestamp(), &now);
	LWLockAcquire(us->lock, LW_SHARED);
	for (int i = 0; i < n_flush_items; i++)
	{
		MtFlushItem *it = &flush_items[i];
		MtUsageEntry *e = hash_search(usage_htab, &it->key, HASH_FIND, NULL);

		if (e == NULL)
			continue;			/* discarded meanwhile */
		SpinLockAcquire(&e->mutex);
		if (e->incarnation != it->incarnation)
		{
			/* discarded and entered again: its base is read anew */
			SpinLockRelease(&e->mutex);
			continue;
		}
		e->inflight -= it->amount;
		if (!committed)
		{
			int			s;

			for (int k = 0; k < 2; k++)
				if (it->added[k] && e->period[k] == it->at.id[k])
					e->base[k] -= it->amount;
			s = entry_slot(e, &it->at, &now);
			e->slots[s].pending = sat_add(e->slots[s].pending, it->amount);
		}
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(us->lock);
	n_flush_items = 0;
	/* the flushed entries are idle now: room for full tables and shares */
	pg_atomic_fetch_add_u64(&us->flush_generation, 1);
}

/* ---------------------------------------------------------------------
 * Transaction end
 * --------------------------------------------------------------------- */

void
mt_usage_xact_callback(int event)
{
	switch ((XactEvent) event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (quota_local_dirty)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed usage quotas")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			if (quota_local_dirty && us != NULL)
				pg_atomic_fetch_add_u64(&us->quota_generation, 1);
			quota_local_dirty = false;
			n_alert_undo = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* conservative: cached quotas may have been read from our rows */
			if (quota_local_dirty && us != NULL)
				pg_atomic_fetch_add_u64(&us->quota_generation, 1);
			quota_local_dirty = false;
			for (int i = 0; i < n_alert_undo; i++)
				alert_flag_reset(&alert_undo[i].key, alert_undo[i].kind, alert_undo[i].period);
			n_alert_undo = 0;
			break;
		default:
			break;
	}
}

static void
usage_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < n_alert_undo; i++)
			if (alert_undo[i].subid == mySubid)
				alert_undo[i].subid = parentSubid;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		int			kept = 0;

		for (int i = 0; i < n_alert_undo; i++)
		{
			if (alert_undo[i].subid == mySubid)
				alert_flag_reset(&alert_undo[i].key, alert_undo[i].kind, alert_undo[i].period);
			else
				alert_undo[kept++] = alert_undo[i];
		}
		n_alert_undo = kept;
	}
}
