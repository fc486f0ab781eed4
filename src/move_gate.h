/*-------------------------------------------------------------------------
 *
 * move_gate.h
 *	  The gate that holds a moving tenant's transactions (move_gate.c): the
 *	  shared table of tenants being moved by mt.move_tenant, the per-tenant
 *	  heavyweight lock the move holds, the wait for the transactions that
 *	  were running when the move began, and the check every tenant context
 *	  passes once per transaction (context.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_MOVE_GATE_H
#define MT_MOVE_GATE_H

#include "postgres.h"

#include "utils/uuid.h"

/* shared memory (called from multitenant.c) */
extern Size mt_move_gate_shmem_size(void);
extern void mt_move_gate_shmem_startup(void);

/*
 * context.c, once per transaction per context: while a move of tenant
 * runs, a transaction that began after it waits until the move ends
 * (then 40001 if it holds a snapshot or writes from before the move's
 * commit).  Costs one atomic read while no move runs.
 */
extern void mt_move_gate_check(const pg_uuid_t *tenant);

/*
 * mt.move_tenant: close the gate for tenant (its lock, then the shared
 * slot), then wait for every transaction of this database that was
 * running at that moment.  The gate opens at the end of the transaction
 * (mt_move_gate_xact_end, from multitenant.c's transaction callback).
 */
extern void mt_move_gate_close(const pg_uuid_t *tenant);
extern void mt_move_gate_xact_end(int event);

#endif							/* MT_MOVE_GATE_H */
