/*-------------------------------------------------------------------------
 *
 * billing.h
 *	  Usage export for billing (billing.c): closing usage periods into
 *	  mt.usage_export_log (called by worker.c in the flush transaction),
 *	  mt.usage_export(), the correction trigger of mt.usage_rollup; the
 *	  plan history trigger and mt.invoice_preview() (SQL entry points only).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_BILLING_H
#define MT_BILLING_H

#include "postgres.h"

/*
 * Close every UTC hour that ended before the current transaction started:
 * append a version to mt.usage_export_log for each rollup row of such an
 * hour not exported with its current value.  Called by the flush worker
 * after the flush, in its transaction.  Returns the rows appended (0 when
 * the database has no export log: an extension older than 0.5.0).
 */
extern int64 mt_billing_close(void);

#endif							/* MT_BILLING_H */
