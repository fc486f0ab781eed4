/*-------------------------------------------------------------------------
 *
 * flush_request.c
 *	  The meeting point of the usage capability and the background
 *	  workers: the shared MtWorkerShared struct (the launcher's and the
 *	  reserved flush worker's PGPROCs, flush_all and the per-database flush
 *	  request slots), its shared memory and its lock, and the requests
 *	  usage.c makes (flush every database; flush this database and wait)
 *	  and audit.c makes (seal this database's committed audit events).
 *	  worker.c, above, serves the requests; usage.c asks through this file
 *	  and never calls the worker.
 *
 * Locks: MtWorkerShared->lock (the "multitenant workers" tranche) protects
 * every field of MtWorkerShared.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "flush_request.h"

#define MT_FLUSH_WAIT_MS 30000	/* how long mt.flush_usage() waits */

MtWorkerShared *mt_worker_shared = NULL;

Size
mt_flush_request_shmem_size(void)
{
	return MAXALIGN(sizeof(MtWorkerShared));
}

void
mt_flush_request_shmem_request(void)
{
	RequestNamedLWLockTranche("multitenant workers", 1);
}

/* Called from mt_shmem_startup with AddinShmemInitLock held. */
void
mt_flush_request_shmem_startup(void)
{
	bool		found;

	mt_worker_shared = ShmemInitStruct("multitenant workers", sizeof(MtWorkerShared), &found);
	if (!found)
	{
		memset(mt_worker_shared, 0, sizeof(MtWorkerShared));
		mt_worker_shared->lock = &(GetNamedLWLockTranche("multitenant workers"))->lock;
	}
}

void
mt_flush_wake_launcher(void)
{
	PGPROC	   *launcher;

	if (mt_worker_shared == NULL)
		return;
	LWLockAcquire(mt_worker_shared->lock, LW_SHARED);
	launcher = mt_worker_shared->launcher;
	if (launcher != NULL)
		SetLatch(&launcher->procLatch);
	LWLockRelease(mt_worker_shared->lock);
}

/* the counter table is full: flush every database now */
void
mt_flush_request_all(void)
{
	if (mt_worker_shared == NULL)
		return;
	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	mt_worker_shared->flush_all = true;
	LWLockRelease(mt_worker_shared->lock);
	mt_flush_wake_launcher();
}

/*
 * See flush_request.h.  The slot index is remembered per backend; the
 * unlocked read can only see a stale "set" while the launcher clears the
 * flag, and the launcher clears it before it starts the worker, whose
 * snapshot therefore includes every commit that saw the flag set.
 */
void
mt_flush_request_audit(Oid dbid)
{
	static int	slot = -1;
	MtFlushRequest *r;
	bool		wake = false;

	if (mt_worker_shared == NULL)
		return;
	pg_memory_barrier();		/* our commit before the read below */
	if (slot >= 0)
	{
		volatile MtFlushRequest *v = &mt_worker_shared->requests[slot];

		if (v->dbid == dbid && v->audit_unsealed)
			return;
	}
	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	r = mt_flush_request_slot(dbid, true);
	if (r != NULL)
	{
		slot = r - mt_worker_shared->requests;
		wake = !r->audit_unsealed;
		r->audit_unsealed = true;
	}
	LWLockRelease(mt_worker_shared->lock);
	if (wake)
		mt_flush_wake_launcher();
}

/*
 * See flush_request.h.  The same ordering as the launcher's clearing before
 * a worker's start: a commit that read the flag still up (and so did not
 * raise it) read it before this store, and the pass's snapshot, taken
 * after it, includes that commit.
 */
void
mt_flush_request_audit_taken(Oid dbid)
{
	MtFlushRequest *r;

	if (mt_worker_shared == NULL)
		return;
	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	r = mt_flush_request_slot(dbid, false);
	if (r != NULL)
		r->audit_unsealed = false;
	LWLockRelease(mt_worker_shared->lock);
}

/* request slot of a database; worker lock held exclusively */
MtFlushRequest *
mt_flush_request_slot(Oid dbid, bool create)
{
	MtFlushRequest *free_slot = NULL;

	for (int i = 0; i < MT_MAX_FLUSH_REQUESTS; i++)
	{
		MtFlushRequest *r = &mt_worker_shared->requests[i];

		if (r->dbid == dbid)
			return r;
		if (free_slot == NULL &&
			(r->dbid == InvalidOid ||
			 (r->requested <= r->completed && r->running_pid == 0 &&
			  !r->audit_unsealed)))
			free_slot = r;
	}
	if (create && free_slot != NULL)
	{
		memset(free_slot, 0, sizeof(MtFlushRequest));
		free_slot->dbid = dbid;
		return free_slot;
	}
	return NULL;
}

/*
 * mt.flush_usage(): ask for a flush of a database and wait until a flush
 * that started after the request has finished.  Returns the request number;
 * *rows gets the number of rollup rows that flush wrote.
 */
uint64
mt_flush_request_wait(Oid dbid, int64 *rows)
{
	MtFlushRequest *r;
	uint64		mine;
	TimestampTz start = GetCurrentTimestamp();

	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	r = mt_flush_request_slot(dbid, true);
	if (r == NULL)
	{
		LWLockRelease(mt_worker_shared->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many databases are waiting for a usage flush"),
				 errhint("Try again in a moment.")));
	}
	mine = ++r->requested;
	LWLockRelease(mt_worker_shared->lock);
	mt_flush_wake_launcher();

	for (;;)
	{
		uint64		completed = 0,
					failed = 0;

		LWLockAcquire(mt_worker_shared->lock, LW_SHARED);
		r = mt_flush_request_slot(dbid, false);
		if (r != NULL)
		{
			completed = r->completed;
			failed = r->failed;
			*rows = r->last_rows;
		}
		LWLockRelease(mt_worker_shared->lock);

		if (completed >= mine)
			return mine;
		if (failed >= mine)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the usage flush failed"),
					 errhint("See the server log; the counts stay pending and are flushed later.")));
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), MT_FLUSH_WAIT_MS))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the usage flush did not finish within %d seconds", MT_FLUSH_WAIT_MS / 1000),
					 errhint("Check that the multitenant launcher runs and that max_worker_processes leaves room for its flush workers.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
