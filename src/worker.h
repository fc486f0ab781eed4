/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Background workers (worker.c): what _PG_init calls.  Capabilities
 *	  reach the workers only through flush_request.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_WORKER_H
#define MT_WORKER_H

#include "postgres.h"

#include "nodes/nodes.h"

extern void mt_worker_register_launcher(void);

/*
 * ProcessUtility, before the statement: the database owner's DROP DATABASE
 * ... WITH (FORCE) makes the workers connected there leave first
 * (toplevel: context is PROCESS_UTILITY_TOPLEVEL).
 */
extern void mt_worker_utility(Node *parsetree, bool toplevel);

/* GUC multitenant.audit_seal_interval (ms): how often the sealer runs */
extern int	mt_audit_seal_interval_ms;

#endif							/* MT_WORKER_H */
