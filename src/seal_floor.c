/*-------------------------------------------------------------------------
 *
 * seal_floor.c
 *	  The sealer's floor: per database, an id F such that every audit event
 *	  with an id below F that is, or will ever be, committed is sealed.  A
 *	  sealing pass reads the work list (audit_log_unsealed, audit.c) from
 *	  (tenant, F) on instead of from each tenant's first entry: a sealed
 *	  event leaves a dead entry there until VACUUM, and without the floor
 *	  every pass and every tenant walk read all of them again (a pass over
 *	  100 chains took 15-25 ms at 530,000 dead entries instead of 6).
 *
 * Why a floor holds.  Appends take their id from mt.audit_log_id_seq
 * (CACHE 1: ids are handed out in the order of the calls) after their
 * transaction has an xid (audit.c).  At its end a full pass of the worker
 * reads the sequence's last value S, then the next xid N: every id <= S was
 * taken by a transaction whose xid is below N.  That pair is the pass's
 * candidate (kept when the pass commits within the same generation).  A
 * later full pass whose tenant walk runs under a snapshot with xmin >= N
 * sees every such transaction ended: its events are committed and
 * visible, or aborted and never will be.  When that pass
 * sealed every chain completely from the floor it started from (no chain
 * skipped for its lock, none stopped at a tampered row), and its
 * transaction committed, every committed event with an id <= S is sealed:
 * F becomes S + 1.
 *
 * Ids not from the sequence.  A superuser's INSERT or COPY into
 * mt.audit_log (restoring a dump) and a verbatim chain import keep ids of
 * their own.  Such a transaction calls mt_seal_floor_explicit_ids() before
 * it inserts: the floor of every database drops to 0, and while it runs
 * (explicit_active > 0) no floor rises.  Its start and its end bump the
 * generation of every slot; a candidate is promoted only if the generation
 * did not change since it was taken, nor since the promoting pass began.
 * A sealer reads the floor again under each chain's lock, after its
 * snapshot (audit.c, seal_chain), and reads from the lower of the two: it
 * may have read the floor before such a transaction began and waited for
 * the lock until after it committed, and would otherwise link the chain's
 * later events and leave that transaction's rows to a later pass.
 * When a worker's pass finds the sequence's last value below the floor
 * (setval moved it back), the floor drops to 0.  Only then: if the
 * sequence climbs over the floor, or over the candidate about to be
 * promoted, again first (one mt.audit_many() batch can), the events below
 * the floor wait for the pass from 0 below and are linked after events
 * appended later.  A slot belongs to one sequence (OID and relfilenode),
 * so a new one (DROP and CREATE EXTENSION; ALTER SEQUENCE, which writes a
 * new relfilenode for RESTART, CACHE and the other options) starts from
 * 0.  With a sequence cache (CACHE > 1) ids are not handed out in call
 * order: audit.c then does not raise the floor.  A superuser's restore
 * with triggers disabled is not seen: a complete pass of the worker reads
 * from 0 again every MT_SEAL_FULL_PASS_MS (while the worker runs for the
 * database), so such events wait for that pass.  A candidate too old for
 * the 32-bit xid comparison is replaced by the next pass's, not promoted.
 *
 * Slots.  MT_SEAL_FLOOR_SLOTS databases have a floor; when every slot is
 * taken the least recently used one is given to the next database (the
 * evicted one scans from 0 until its next candidate is promoted).  Other
 * sealers (mt.audit_seal(), verify, digest) read the floor and never
 * raise it; with no slot they scan from 0.
 *
 * Locks: SealFloorShared->mutex (a spinlock, held for a few loads and
 * stores) protects everything in the struct.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "seal_floor.h"

#define MT_SEAL_FLOOR_SLOTS		64
#define MT_SEAL_FULL_PASS_MS	60000
/* a candidate older than this many xids is dropped (32-bit xid compare) */
#define MT_SEAL_CAND_MAX_AGE	((uint64) 1 << 30)

typedef struct FloorSlot
{
	Oid			dbid;			/* InvalidOid: free */
	Oid			seq;			/* mt.audit_log_id_seq ... */
	Oid			seq_node;		/* ... and its relfilenode */
	int64		floor;
	uint64		gen;
	bool		have_cand;
	int64		cand_ids;
	FullTransactionId cand_xid;
	uint64		cand_gen;
	TimestampTz last_full;		/* the last committed pass from 0 */
	TimestampTz last_used;
} FloorSlot;

typedef struct SealFloorShared
{
	slock_t		mutex;
	uint64		counter;		/* source of generations */
	int			explicit_active;	/* transactions inserting own ids */
	FloorSlot	slots[MT_SEAL_FLOOR_SLOTS];
} SealFloorShared;

static SealFloorShared *floor_shared = NULL;

/* this transaction registered itself in explicit_active */
static bool explicit_in_xact = false;

Size
mt_seal_floor_shmem_size(void)
{
	return MAXALIGN(sizeof(SealFloorShared));
}

/* Called from mt_shmem_startup with AddinShmemInitLock held. */
void
mt_seal_floor_shmem_startup(void)
{
	bool		found;

	floor_shared = ShmemInitStruct("multitenant audit seal floors", sizeof(SealFloorShared), &found);
	if (!found)
	{
		memset(floor_shared, 0, sizeof(SealFloorShared));
		SpinLockInit(&floor_shared->mutex);
	}
}

/*
 * The slot of dbid (mutex held); a new or recycled one if create.  A slot
 * of another sequence (the extension dropped and created again, ALTER
 * SEQUENCE ... RESTART: new relfilenode) is stale: its ids start over.
 */
static FloorSlot *
slot_for(Oid dbid, Oid seq, Oid seq_node, bool create, TimestampTz now)
{
	FloorSlot  *victim = NULL;

	for (int i = 0; i < MT_SEAL_FLOOR_SLOTS; i++)
	{
		FloorSlot  *s = &floor_shared->slots[i];

		if (s->dbid == dbid)
		{
			if (s->seq == seq && s->seq_node == seq_node)
				return s;
			victim = s;
			break;
		}
		if (victim == NULL || s->dbid == InvalidOid ||
			(victim->dbid != InvalidOid && s->last_used < victim->last_used))
			victim = s;
	}
	if (!create)
		return NULL;
	memset(victim, 0, sizeof(FloorSlot));
	victim->dbid = dbid;
	victim->seq = seq;
	victim->seq_node = seq_node;
	victim->gen = ++floor_shared->counter;
	victim->last_full = now;
	victim->last_used = now;
	return victim;
}

/* every slot: floor 0, candidates void (mutex held) */
static void
bump_all(bool reset_floor)
{
	for (int i = 0; i < MT_SEAL_FLOOR_SLOTS; i++)
	{
		FloorSlot  *s = &floor_shared->slots[i];

		if (reset_floor)
			s->floor = 0;
		s->have_cand = false;
		s->gen = ++floor_shared->counter;
	}
}

int64
mt_seal_floor_begin(Oid dbid, Oid seq, Oid seq_node, int64 seq_last, MtSealPass *pass)
{
	TimestampTz now = GetCurrentTimestamp();
	FloorSlot  *s;
	int64		floor = 0;

	memset(pass, 0, sizeof(*pass));
	pass->dbid = dbid;
	pass->seq = seq;
	pass->seq_node = seq_node;
	if (floor_shared == NULL)
		return 0;
	SpinLockAcquire(&floor_shared->mutex);
	s = slot_for(dbid, seq, seq_node, true, now);
	if (s != NULL)
	{
		if (s->floor > 0 && seq_last < s->floor - 1)
		{
			/* the sequence went back below the floor */
			s->floor = 0;
			s->have_cand = false;
			s->gen = ++floor_shared->counter;
		}
		floor = floor_shared->explicit_active > 0 ? 0 : s->floor;
		s->last_used = now;
		if (TimestampDifferenceExceeds(s->last_full, now, MT_SEAL_FULL_PASS_MS))
			floor = 0;
		pass->tracked = true;
		pass->gen = s->gen;
		pass->have_old = s->have_cand && s->cand_gen == s->gen;
		pass->old_ids = s->cand_ids;
		pass->old_xid = s->cand_xid;
	}
	SpinLockRelease(&floor_shared->mutex);
	pass->floor = floor;
	return floor;
}

int64
mt_seal_floor_read(Oid dbid, Oid seq, Oid seq_node)
{
	FloorSlot  *s;
	int64		floor = 0;

	if (floor_shared == NULL)
		return 0;
	SpinLockAcquire(&floor_shared->mutex);
	s = slot_for(dbid, seq, seq_node, false, 0);
	if (s != NULL && floor_shared->explicit_active == 0)
		floor = s->floor;
	SpinLockRelease(&floor_shared->mutex);
	return floor;
}

void
mt_seal_floor_passed(MtSealPass *pass, TransactionId walk_xmin, int64 seq_last)
{
	FullTransactionId next;

	if (!pass->tracked)
		return;
	/*
	 * The next candidate, taken at the end of the pass (the next pass can
	 * promote it): the sequence first (the caller), the next xid after it.
	 */
	pass->new_ids = seq_last;
	pass->new_xid = next = ReadNextFullTransactionId();
	pass->have_new = true;
	pass->ended = GetCurrentTimestamp();
	if (!pass->have_old)
		return;
	if (U64FromFullTransactionId(next) - U64FromFullTransactionId(pass->old_xid) > MT_SEAL_CAND_MAX_AGE)
	{
		pass->old_stale = true; /* replaced by this pass's at commit */
		return;
	}
	pass->promote = TransactionIdFollowsOrEquals(walk_xmin, XidFromFullTransactionId(pass->old_xid));
}

void
mt_seal_floor_commit(const MtSealPass *pass)
{
	FloorSlot  *s;

	if (floor_shared == NULL || !pass->tracked)
		return;
	SpinLockAcquire(&floor_shared->mutex);
	s = slot_for(pass->dbid, pass->seq, pass->seq_node, false, 0);
	if (s != NULL && s->gen == pass->gen)
	{
		bool		cand_same = s->have_cand && s->cand_gen == s->gen &&
			s->cand_ids == pass->old_ids &&
			FullTransactionIdEquals(s->cand_xid, pass->old_xid);

		if (pass->floor == 0 && pass->have_new)
			s->last_full = pass->ended;	/* a complete pass from 0 */
		if (pass->promote && cand_same && floor_shared->explicit_active == 0)
			s->floor = Max(s->floor, pass->old_ids + 1);
		if (pass->have_new && (!cand_same || pass->promote || pass->old_stale))
		{
			s->have_cand = true;
			s->cand_ids = pass->new_ids;
			s->cand_xid = pass->new_xid;
			s->cand_gen = s->gen;
		}
	}
	SpinLockRelease(&floor_shared->mutex);
}

void
mt_seal_floor_explicit_ids(void)
{
	if (explicit_in_xact || floor_shared == NULL)
		return;
	SpinLockAcquire(&floor_shared->mutex);
	floor_shared->explicit_active++;
	bump_all(true);
	SpinLockRelease(&floor_shared->mutex);
	explicit_in_xact = true;
}

void
mt_seal_floor_xact_callback(int event)
{
	if (!explicit_in_xact)
		return;
	switch ((XactEvent) event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			SpinLockAcquire(&floor_shared->mutex);
			floor_shared->explicit_active--;
			bump_all(false);
			SpinLockRelease(&floor_shared->mutex);
			explicit_in_xact = false;
			break;
		default:
			break;
	}
}
