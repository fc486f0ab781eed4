/*-------------------------------------------------------------------------
 *
 * tenant_stats.h
 *	  Per-tenant statistics in shared memory (tenant_stats.c): the one
 *	  counting call the hot paths make (mt_stat_count), a snapshot for the
 *	  readers (insight.c), the reset, GUC variables (multitenant.c defines
 *	  the GUCs) and shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_TENANT_STATS_H
#define MT_TENANT_STATS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/uuid.h"

#include "util.h"

/* what is counted; the order is the order of mt.stat_tenants' columns */
typedef enum MtStatKind
{
	MT_STAT_AUTH_OK = 0,		/* mt.authenticate succeeded */
	MT_STAT_AUTH_FAILED,		/* an API key was refused (or throttled) */
	MT_STAT_TOKENS,				/* a signed token was entered */
	MT_STAT_METERED,			/* mt.track / mt.consume counted */
	MT_STAT_QUOTA_REFUSED,		/* mt.consume refused by a hard limit */
	MT_STAT_RATE_LIMITED,		/* mt.rate_limit answered false */
	MT_STAT_AUDIT,				/* an audit event was appended */
	MT_STAT_NKINDS
} MtStatKind;

/* what a row stands for */
typedef enum MtStatScope
{
	MT_STAT_SCOPE_TENANT = 0,	/* one tenant */
	MT_STAT_SCOPE_NONE = 1,		/* calls without a known tenant */
	MT_STAT_SCOPE_EVICTED = 2	/* the sum of the tenants evicted so far */
} MtStatScope;

typedef struct MtStatRow
{
	pg_uuid_t	tenant;			/* zero unless scope is a tenant */
	MtStatScope scope;
	int64		counts[MT_STAT_NKINDS];
	TimestampTz since;			/* when this row started counting */
	TimestampTz last_active;	/* last count */
} MtStatRow;

/* GUC variables */
extern bool mt_track_stats;
extern int	mt_max_tenant_stats;

/* shared memory (called from multitenant.c) */
extern Size mt_tenant_stats_shmem_size(void);
extern void mt_tenant_stats_shmem_request(void);
extern void mt_tenant_stats_shmem_startup(void);

/*
 * Counts one event of kind for tenant (NULL: no tenant known) in this
 * database, in the backend until mt_stat_flush (no lock).  Never raises an
 * error, never allocates, never waits for anything but the table's lock;
 * does nothing when statistics are off or the library was not preloaded.
 */
extern void mt_stat_count(const pg_uuid_t *tenant, MtStatKind kind);

/*
 * The same for a tenant, through the caller's handle on its row (zeroed at
 * first; filled here once the row exists), which spares the flush its hash
 * lookup while the row stays.
 */
extern void mt_stat_count_at(const pg_uuid_t *tenant, MtStatKind kind, MtRowHandle *h);

/*
 * A hint that the row handle h names will be counted soon (util.h,
 * mt_handle_prefetch): mt.authenticate fetches it while it hashes the key,
 * so that the flush at transaction end finds it in the cache.
 */
extern void mt_stat_prefetch(const MtRowHandle *h);

/*
 * Adds this backend's pending counts to shared memory: called at the end
 * of every transaction (multitenant.c's callback); never raises an error.
 */
extern void mt_stat_flush(void);

/*
 * A palloc'd copy of the rows of database dbid: every row, or with only
 * != NULL that tenant's row alone; *n rows.
 */
extern MtStatRow *mt_stat_snapshot(Oid dbid, const pg_uuid_t *only, int *n);

/* removes every row of database dbid; returns how many there were */
extern int64 mt_stat_reset(Oid dbid);

/* whether shared memory for statistics exists (library preloaded) */
extern bool mt_stat_available(void);

#endif							/* MT_TENANT_STATS_H */
