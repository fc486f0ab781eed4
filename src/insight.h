/*-------------------------------------------------------------------------
 *
 * insight.h
 *	  The readers of per-tenant statistics (insight.c): mt.stat_tenants,
 *	  mt.stat_tenants_reset(), mt.metrics(), mt.metrics_series(); SQL
 *	  functions only, plus the one check of who may read every tenant's
 *	  statistics and the GUC variable multitenant.c defines.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_INSIGHT_H
#define MT_INSIGHT_H

#include "postgres.h"

/* GUC variable */
extern int	mt_metrics_top_tenants;

/* superuser or a member of pg_read_all_stats (pg_monitor) */
extern bool mt_insight_monitor(void);

#endif							/* MT_INSIGHT_H */
