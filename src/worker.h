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

extern void mt_worker_register_launcher(void);

#endif							/* MT_WORKER_H */
