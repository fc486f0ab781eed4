/*-------------------------------------------------------------------------
 *
 * insight.h
 *	  The readers of per-tenant statistics (insight.c): mt.stat_tenants,
 *	  mt.stat_tenants_reset(), mt.metrics(), mt.metrics_series(),
 *	  mt.detect_anomalies(), the security-event drain of the flush worker; SQL
 *	  functions only, plus the one check of who may read every tenant's
 *	  statistics and the GUC variable multitenant.c defines.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_INSIGHT_H
#define MT_INSIGHT_H

#include "postgres.h"

/* GUC variables */
extern int	mt_metrics_top_tenants;
extern int	mt_security_event_max_age;	/* seconds */
extern int	mt_security_event_max_rows;
extern int	mt_anomaly_burst_window;	/* seconds */
extern int	mt_anomaly_burst_threshold;
extern int	mt_anomaly_baseline_hours;
extern int	mt_anomaly_min_baseline_hours;
extern double mt_anomaly_stddevs;
extern int	mt_anomaly_min_usage;
extern double mt_anomaly_off_hours_share;	/* percent */

/* superuser or a member of pg_read_all_stats (pg_monitor) */
extern bool mt_insight_monitor(void);

/*
 * The flush worker (worker.c), in its flush transaction: writes this
 * database's security events (security_events.c) into
 * mt.security_event_log and the tenants' audit chains, in a subtransaction
 * (a failure leaves them for the next flush and fails nothing else);
 * then, after the transaction ended, mt_insight_flush_finish.
 */
extern void mt_insight_flush_security_events(void);
extern void mt_insight_flush_finish(bool committed);
/* the extension is gone from dbid: its events have nowhere to go */
extern void mt_insight_discard_security_events(Oid dbid);

#endif							/* MT_INSIGHT_H */
