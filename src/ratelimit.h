/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *	  GCRA rate limits (ratelimit.c): GUC variables (multitenant.c defines
 *	  the GUCs) and shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_RATELIMIT_H
#define MT_RATELIMIT_H

#include "postgres.h"

/* GUC variables */
extern int	mt_max_rate_limits;
extern int	mt_tenant_rate_limit_share; /* percent of max_rate_limits */

/* shared memory (called from multitenant.c) */
extern Size mt_ratelimit_shmem_size(void);
extern void mt_ratelimit_shmem_request(void);
extern void mt_ratelimit_shmem_startup(void);

#endif							/* MT_RATELIMIT_H */
