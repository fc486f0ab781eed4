/*-------------------------------------------------------------------------
 *
 * move_gate.c
 *	  The gate that holds a moving tenant's transactions while
 *	  mt.move_tenant (tenant_move.c) moves its rows, so that no write of
 *	  the tenant lands behind the move: the shared table of moves running
 *	  (MoveGate), the per-tenant heavyweight lock each move holds until its
 *	  transaction ends, the move's wait for the transactions that were
 *	  running when it began, and the check every tenant context passes once
 *	  per transaction (mt_move_gate_check, called by context.c).
 *
 * Protocol (doc/isolation-levels.md, "Moving a tenant"):
 *
 *	1. The move takes the tenant's gate lock (an advisory-class lock tag:
 *	   database, 64-bit hash of the tenant, class MT_MOVE_LOCK_CLASS) in
 *	   ExclusiveLock mode for the rest of its transaction, publishes a slot
 *	   (tenant, database, its backend id and top-level xid; state
 *	   PUBLISHING) and increments the atomic count of moves.
 *	2. It lists the virtual xids of every transaction of this database
 *	   (GetCurrentVirtualXIDs), records them in its slot's row of old[]
 *	   (indexed by backend id), sets the slot READY, and waits for each of
 *	   them to end (VirtualXactLock: an ordinary lock wait, seen by the
 *	   deadlock detector and pg_locks).
 *	3. Every transaction's first use of a tenant context reads the count
 *	   (one atomic read, after a full barrier: the count is written before
 *	   the virtual xids are read, a backend's virtual xid before the
 *	   count).  When moves run and one is of its tenant: a transaction the
 *	   move listed goes on (the move waits for it); any other waits for the
 *	   gate lock in ShareLock mode, i.e. until the move's transaction ends.
 *	   Then, if the move committed and the waiter holds a snapshot that
 *	   does not see it, or has written anything, it fails with 40001: its
 *	   statements would otherwise read and write the tenant's rows where
 *	   they were before the move.
 *	4. At the end of the move's transaction (commit, abort; a move cannot
 *	   be prepared), or the abort of the subtransaction that moved, the
 *	   slot is freed, before the lock is released.
 *
 * Shared state: MoveGate, its slots and old[] protected by the spinlock
 * mutex (old[] of a slot is written by its mover while the slot is
 * PUBLISHING and read by others only once it is READY); active is an
 * atomic read without the lock.  my_slot is per backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/snapmgr.h"

#include "move_gate.h"
#include "util.h"

#define MT_MAX_MOVES		8
#define MT_MOVE_LOCK_CLASS	0x4D54	/* "MT": no advisory lock of users or Citus */

typedef enum MoveSlotState
{
	SLOT_FREE = 0,
	SLOT_PUBLISHING,			/* gate closed, old transactions not listed yet */
	SLOT_READY					/* old[] of the slot is complete */
} MoveSlotState;

typedef struct MoveSlot
{
	MoveSlotState state;
	pg_uuid_t	tenant;
	Oid			dbid;
	BackendId	mover;
	TransactionId xid;			/* the xid of the (sub)transaction moving */
} MoveSlot;

typedef struct MoveGate
{
	slock_t		mutex;
	pg_atomic_uint32 active;	/* slots not FREE */
	int			nbackends;		/* MaxBackends + 1: old[] row length */
	MoveSlot	slots[MT_MAX_MOVES];
	/* per slot, per backend id: the lxid the move waits for, or 0 */
	LocalTransactionId old[FLEXIBLE_ARRAY_MEMBER];
} MoveGate;

static MoveGate *gate = NULL;
static int	my_slot = -1;		/* the slot of this backend's move, or -1 */
static SubTransactionId my_subid = InvalidSubTransactionId;	/* that closed it */
static bool subxact_callback_registered = false;

Size
mt_move_gate_shmem_size(void)
{
	return add_size(offsetof(MoveGate, old),
					mul_size(sizeof(LocalTransactionId),
							 mul_size(MT_MAX_MOVES, MaxBackends + 1)));
}

/* Called from mt_shmem_startup with AddinShmemInitLock held. */
void
mt_move_gate_shmem_startup(void)
{
	bool		found;

	gate = ShmemInitStruct("multitenant tenant moves", mt_move_gate_shmem_size(), &found);
	if (!found)
	{
		memset(gate, 0, mt_move_gate_shmem_size());
		SpinLockInit(&gate->mutex);
		pg_atomic_init_u32(&gate->active, 0);
		gate->nbackends = MaxBackends + 1;
	}
}

static void gate_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								  SubTransactionId parentSubid, void *arg);

static void
gate_locktag(LOCKTAG *tag, const pg_uuid_t *tenant)
{
	uint64		h = hash_bytes_extended(tenant->data, UUID_LEN, 0);

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h,
						 MT_MOVE_LOCK_CLASS);
}

/* the slow part of mt_move_gate_check: some move runs */
pg_noinline static void
gate_wait(const pg_uuid_t *tenant)
{
	MoveSlotState state;
	TransactionId xid = InvalidTransactionId;
	BackendId	mover = InvalidBackendId;
	LocalTransactionId old = InvalidLocalTransactionId;
	LOCKTAG		tag;

	for (;;)
	{
		state = SLOT_FREE;
		SpinLockAcquire(&gate->mutex);
		for (int i = 0; i < MT_MAX_MOVES; i++)
		{
			MoveSlot   *s = &gate->slots[i];

			if (s->state != SLOT_FREE && s->dbid == MyDatabaseId &&
				memcmp(&s->tenant, tenant, sizeof(pg_uuid_t)) == 0)
			{
				state = s->state;
				xid = s->xid;
				mover = s->mover;
				if (MyBackendId > 0 && MyBackendId < gate->nbackends)
					old = gate->old[i * gate->nbackends + MyBackendId];
				break;
			}
		}
		SpinLockRelease(&gate->mutex);
		if (state != SLOT_PUBLISHING)
			break;
		/* the move is listing the running transactions: microseconds */
		CHECK_FOR_INTERRUPTS();
		pg_usleep(100L);
	}
	if (state == SLOT_FREE || mover == MyBackendId)
		return;
	/* a transaction the move waits for: it must go on */
	if (old != InvalidLocalTransactionId && old == MyProc->lxid)
		return;

	gate_locktag(&tag, tenant);
	(void) LockAcquire(&tag, ShareLock, false, false);
	LockRelease(&tag, ShareLock, false);

	/* rolled back (or its subtransaction was): nothing moved */
	if (!TransactionIdDidCommit(xid))
		return;
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()) ||
		(ActiveSnapshotSet() && XidInMVCCSnapshot(xid, GetActiveSnapshot())) ||
		(IsolationUsesXactSnapshot() && FirstSnapshotSet))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("the tenant of this transaction was moved while it waited"),
				 errdetail("Tenant %s was moved (mt.move_tenant); the transaction holds a snapshot or changes from before the move, which would read or write the tenant's rows where they were.",
						   mt_uuid_to_cstring(tenant)),
				 errhint("Retry the transaction; mt.route() tells where the tenant lives now.")));
}

void
mt_move_gate_check(const pg_uuid_t *tenant)
{
	if (gate == NULL)
		return;
	/* our virtual xid is visible before we read the count (header) */
	pg_memory_barrier();
	if (likely(pg_atomic_read_u32(&gate->active) == 0))
		return;
	gate_wait(tenant);
}

void
mt_move_gate_close(const pg_uuid_t *tenant)
{
	LOCKTAG		tag;
	TransactionId xid;
	VirtualTransactionId *vxids;
	int			nvxids;
	int			slot = -1;
	LocalTransactionId *row;

	mt_require_shared_memory("mt.move_tenant()");
	if (my_slot >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("only one tenant can be moved per transaction"),
				 errhint("Commit, then move the next tenant.")));
	/*
	 * The xid of the (sub)transaction moving: if only a subtransaction
	 * rolls back, the rows were not moved, and waiters see it did not
	 * commit (its slot is freed then too: gate_subxact_callback).
	 */
	xid = GetCurrentTransactionId();
	if (!subxact_callback_registered)
	{
		RegisterSubXactCallback(gate_subxact_callback, NULL);
		subxact_callback_registered = true;
	}

	/* 1: the gate lock, then the slot */
	gate_locktag(&tag, tenant);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	SpinLockAcquire(&gate->mutex);
	for (int i = 0; i < MT_MAX_MOVES; i++)
		if (gate->slots[i].state == SLOT_FREE)
		{
			MoveSlot   *s = &gate->slots[i];

			s->state = SLOT_PUBLISHING;
			s->tenant = *tenant;
			s->dbid = MyDatabaseId;
			s->mover = MyBackendId;
			s->xid = xid;
			slot = i;
			break;
		}
	SpinLockRelease(&gate->mutex);
	if (slot < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("%d tenant moves are running already", MT_MAX_MOVES),
				 errhint("Retry when one of them has ended.")));
	my_slot = slot;
	my_subid = GetCurrentSubTransactionId();
	pg_atomic_fetch_add_u32(&gate->active, 1);	/* a full barrier */

	/* 2: the transactions running now, recorded, then waited for */
	vxids = GetCurrentVirtualXIDs(InvalidTransactionId, false, false,
								  PROC_IS_AUTOVACUUM | PROC_IN_VACUUM, &nvxids);
	row = &gate->old[slot * gate->nbackends];
	memset(row, 0, sizeof(LocalTransactionId) * gate->nbackends);
	for (int i = 0; i < nvxids; i++)
		if (vxids[i].backendId > 0 && vxids[i].backendId < gate->nbackends)
			row[vxids[i].backendId] = vxids[i].localTransactionId;
	pg_write_barrier();
	SpinLockAcquire(&gate->mutex);
	gate->slots[slot].state = SLOT_READY;
	SpinLockRelease(&gate->mutex);

	for (int i = 0; i < nvxids; i++)
	{
		bool		is_mover = false;

		/*
		 * Another move (of another tenant) may be waiting for us: its
		 * backend acts for no tenant, so it is not waited for.
		 */
		SpinLockAcquire(&gate->mutex);
		for (int j = 0; j < MT_MAX_MOVES; j++)
			if (gate->slots[j].state != SLOT_FREE &&
				gate->slots[j].mover == vxids[i].backendId &&
				vxids[i].backendId != InvalidBackendId)
				is_mover = true;
		SpinLockRelease(&gate->mutex);
		if (!is_mover)
			(void) VirtualXactLock(vxids[i], true);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(vxids);
}

/* free this backend's slot (the gate lock goes with its resource owner) */
static void
gate_open(void)
{
	SpinLockAcquire(&gate->mutex);
	gate->slots[my_slot].state = SLOT_FREE;
	SpinLockRelease(&gate->mutex);
	pg_atomic_fetch_sub_u32(&gate->active, 1);
	my_slot = -1;
	my_subid = InvalidSubTransactionId;
}

/* a move in a subtransaction: its abort opens the gate, its commit hands it up */
static void
gate_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (my_slot < 0 || mySubid != my_subid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		gate_open();
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		my_subid = parentSubid;
}

void
mt_move_gate_xact_end(int event)
{
	if (my_slot < 0)
		return;
	switch ((XactEvent) event)
	{
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot prepare a transaction that moved a tenant"),
					 errdetail("The tenant's transactions wait for the move's transaction to end.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			gate_open();
			break;
		default:
			break;
	}
}
