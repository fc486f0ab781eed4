/*-------------------------------------------------------------------------
 *
 * seal_floor.h
 *	  The sealer's floor (seal_floor.c): per database, an audit event id
 *	  below which every event that is or will ever be committed is sealed,
 *	  so that a sealing pass reads the work list from there on.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_SEAL_FLOOR_H
#define MT_SEAL_FLOOR_H

#include "postgres.h"

#include "access/transam.h"
#include "datatype/timestamp.h"

/* shared memory (called from multitenant.c) */
extern Size mt_seal_floor_shmem_size(void);
extern void mt_seal_floor_shmem_startup(void);

/* One sealing pass over every chain of a database, as the worker runs it. */
typedef struct MtSealPass
{
	Oid			dbid;
	Oid			seq;			/* mt.audit_log_id_seq, its relfilenode */
	Oid			seq_node;
	int64		floor;			/* scan the work list from this id */
	uint64		gen;			/* the database's generation at the start */
	bool		tracked;		/* the database has a slot */
	bool		have_old;		/* an earlier pass's candidate to promote */
	int64		old_ids;		/* ... every id <= this was taken ... */
	FullTransactionId old_xid;	/* ... by a transaction below this xid */
	bool		have_new;		/* this pass's candidate (taken at its end) */
	int64		new_ids;
	FullTransactionId new_xid;
	bool		old_stale;		/* old_* too old to compare xids: replace it */
	bool		promote;		/* the pass sealed what old_* covers */
	TimestampTz ended;			/* when mt_seal_floor_passed ran */
} MtSealPass;

/*
 * A worker's full pass begins: the floor it may scan from (0: from the
 * start) in database dbid, whose mt.audit_log_id_seq is seq (relfilenode
 * seq_node), and in *pass the earlier candidate it may promote.  seq_last:
 * the last id the sequence handed out (0 if none).
 */
extern int64 mt_seal_floor_begin(Oid dbid, Oid seq, Oid seq_node, int64 seq_last,
								 MtSealPass *pass);

/* the floor only, for a sealer that never raises it */
extern int64 mt_seal_floor_read(Oid dbid, Oid seq, Oid seq_node);

/*
 * The full pass sealed every committed event of every chain from its floor
 * (none skipped or stopped), its tenant walk under a snapshot whose xmin is
 * walk_xmin: the earlier candidate holds if every transaction below its xid
 * had ended then.  seq_last: the sequence's last value, read now (the
 * next candidate).
 */
extern void mt_seal_floor_passed(MtSealPass *pass, TransactionId walk_xmin, int64 seq_last);

/* after the pass's transaction committed: raise the floor, keep a candidate */
extern void mt_seal_floor_commit(const MtSealPass *pass);

/*
 * This transaction inserts audit events with ids it did not take from
 * mt.audit_log_id_seq (a superuser's INSERT or COPY, a verbatim chain
 * import): the floor of every database drops to 0 and stays until the
 * transaction ends (mt_seal_floor_xact_callback).
 */
extern void mt_seal_floor_explicit_ids(void);
extern void mt_seal_floor_xact_callback(int event);

#endif							/* MT_SEAL_FLOOR_H */
