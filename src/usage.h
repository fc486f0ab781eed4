/*-------------------------------------------------------------------------
 *
 * usage.h
 *	  Usage metering (usage.c): GUC variables (multitenant.c defines the
 *	  GUCs), shared memory, the entry point other capabilities call, and
 *	  the flush that worker.c runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_USAGE_H
#define MT_USAGE_H

#include "postgres.h"

#include "utils/uuid.h"

#include "util.h"

/* GUC variables */
extern int	mt_max_counters;
extern int	mt_flush_interval_ms;
extern int	mt_tenant_counter_share;	/* percent of max_counters */

/*
 * Count one 'api_calls' for a tenant in the current database, without SQL
 * and without quota refusal (mt.authenticate calls this).  A no-op when the
 * library is not preloaded or during recovery.  h (may be NULL) is the
 * caller's handle on the tenant's counter, zeroed at first (util.h): it
 * skips the hash lookup while the counter stays in the table.
 */
extern void mt_usage_count_api_call(const pg_uuid_t *tenant, MtRowHandle *h);

/*
 * A hint that the counter handle h names will be counted soon (util.h,
 * mt_handle_prefetch): its lines are fetched while the caller does other
 * work.  Takes no lock.
 */
extern void mt_usage_prefetch(const MtRowHandle *h);

/* pending amounts of (this database, tenant) as text[], timestamptz[] (hour), bigint[] (billing.c) */
extern void mt_usage_pending_arrays(const pg_uuid_t *tenant, Datum *metrics, Datum *hours,
									Datum *amounts);

/* shared memory and transaction callback (called from multitenant.c) */
extern Size mt_usage_shmem_size(void);
extern void mt_usage_shmem_request(void);
extern void mt_usage_shmem_startup(void);
extern void mt_usage_xact_callback(int event);

/* the flush (called by worker.c) */
extern int	mt_usage_databases_with_pending(Oid *dbids, int max);
extern void mt_usage_discard_database(Oid dbid);
extern int64 mt_usage_flush_database(void);
extern void mt_usage_flush_finish(bool committed);

#endif							/* MT_USAGE_H */
