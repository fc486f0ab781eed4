/*-------------------------------------------------------------------------
 *
 * usage.h
 *	  Declarations shared by usage.c (metering counters and quotas),
 *	  ratelimit.c (GCRA buckets) and worker.c (launcher and flush workers),
 *	  plus the C entry points other capability files may call.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_USAGE_H
#define MT_USAGE_H

#include "postgres.h"

#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/uuid.h"

/* ---- GUCs (defined in multitenant.c, variables live in usage.c) ---- */
extern int	mt_max_counters;
extern int	mt_flush_interval_ms;
extern int	mt_max_rate_limits;
extern int	mt_tenant_counter_share;	/* percent of max_counters */
extern int	mt_tenant_rate_limit_share; /* percent of max_rate_limits */

/* ---- entry points for other capability files ---- */

/*
 * Count one 'api_calls' for a tenant in the current database, without SQL
 * and without quota refusal (mt.authenticate calls this).  A no-op when the
 * library is not preloaded or during recovery.
 */
extern void mt_usage_count_api_call(const pg_uuid_t *tenant);

/* ---- shared memory (called from multitenant.c) ---- */
extern Size mt_usage_shmem_size(void);
extern void mt_usage_shmem_request(void);
extern void mt_usage_shmem_startup(void);
extern void mt_usage_xact_callback(int event);

/* ---- ratelimit.c ---- */
extern Size mt_ratelimit_shmem_size(void);
extern void mt_ratelimit_shmem_startup(LWLock *lock);

/* ---- worker.c ---- */
extern void mt_worker_register_launcher(void);
extern void mt_worker_wake_launcher(void);
extern uint64 mt_worker_flush_now(Oid dbid, int64 *rows);

/* ---- usage.c, used by worker.c ---- */

/* One flush request slot per database (protected by the worker lock). */
typedef struct MtFlushRequest
{
	Oid			dbid;			/* InvalidOid: free slot */
	uint64		requested;		/* bumped by mt.flush_usage() */
	uint64		completed;		/* highest request a finished flush covered */
	uint64		failed;			/* highest request a failed flush covered */
	int64		last_rows;		/* rollup rows written by the last flush */
	int			running_pid;	/* flush worker running for this db, or 0 */
} MtFlushRequest;

#define MT_MAX_FLUSH_REQUESTS 64

typedef struct MtWorkerShared
{
	LWLock	   *lock;			/* protects everything below */
	PGPROC	   *launcher;		/* NULL while no launcher runs */
	bool		flush_all;		/* a full table wants every database flushed */
	PGPROC	   *reserved;		/* the reserved flush worker, while it waits */
	Oid			reserved_dbid;	/* database given to it, until it exits */
	MtFlushRequest requests[MT_MAX_FLUSH_REQUESTS];
} MtWorkerShared;

extern MtWorkerShared *mt_worker_shared;

extern int	mt_usage_databases_with_pending(Oid *dbids, int max);
extern void mt_usage_discard_database(Oid dbid);
extern int64 mt_usage_flush_database(void);
extern void mt_usage_flush_finish(bool committed);
extern void mt_worker_request_flush_all(void);

#endif							/* MT_USAGE_H */
