/*-------------------------------------------------------------------------
 *
 * flush_request.h
 *	  Flush requests between usage.c and the background workers
 *	  (flush_request.c): the shared struct worker.c serves and the requests
 *	  usage.c makes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_FLUSH_REQUEST_H
#define MT_FLUSH_REQUEST_H

#include "postgres.h"

#include "storage/lwlock.h"
#include "storage/proc.h"

/* One flush request slot per database (protected by the worker lock). */
typedef struct MtFlushRequest
{
	Oid			dbid;			/* InvalidOid: free slot */
	uint64		requested;		/* bumped by mt.flush_usage() */
	uint64		completed;		/* highest request a finished flush covered */
	uint64		failed;			/* highest request a failed flush covered */
	int64		last_rows;		/* rollup rows written by the last flush */
	int			running_pid;	/* flush worker running for this db, or 0 */
	bool		audit_unsealed; /* committed audit events wait for the sealer */
	bool		flush_waiting;	/* a flush could not start: the worker that
								 * stays there for sealing leaves */
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

/* shared memory (called from multitenant.c) */
extern Size mt_flush_request_shmem_size(void);
extern void mt_flush_request_shmem_request(void);
extern void mt_flush_request_shmem_startup(void);

/* the counter table is full: flush every database now */
extern void mt_flush_request_all(void);

/*
 * mt.flush_usage(): flush database dbid and wait for it; returns the
 * request number, *rows the rollup rows that flush wrote.
 */
extern uint64 mt_flush_request_wait(Oid dbid, int64 *rows);

/*
 * A transaction that appended audit events committed in database dbid: the
 * launcher starts a worker there within multitenant.audit_seal_interval.
 * Cheap when the flag is already up (one unlocked read).
 */
extern void mt_flush_request_audit(Oid dbid);

/*
 * A sealing pass of database dbid is about to take its snapshot: the flag
 * is taken down, so that only commits after this call (which the pass may
 * not see) raise it again for the next worker.
 */
extern void mt_flush_request_audit_taken(Oid dbid);

/* set the launcher's latch (if one runs) */
extern void mt_flush_wake_launcher(void);

/* the request slot of dbid (a new one if create); caller holds the lock */
extern MtFlushRequest *mt_flush_request_slot(Oid dbid, bool create);

#endif							/* MT_FLUSH_REQUEST_H */
