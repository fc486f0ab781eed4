/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  The tenant context on a Citus cluster (citus.c): passing it (and the
 *	  coordinator's approval of DDL that weakens isolation) to the workers
 *	  of each distributed transaction, and keeping multitenant.token out of
 *	  Citus' SET propagation.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_CITUS_H
#define MT_CITUS_H

#include "postgres.h"

#include "nodes/nodes.h"

extern void mt_citus_init(void);
extern void mt_citus_pass_context(void);
extern void mt_citus_pass_context_utility(Node *stmt);
extern bool mt_citus_pass_ddl_approval(bool approve);
extern int	mt_citus_suppress_set_propagation(Node *stmt);
extern void mt_citus_end_suppress(int nest);

#endif							/* MT_CITUS_H */
