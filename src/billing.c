/*-------------------------------------------------------------------------
 *
 * billing.c
 *	  Usage export for billing: closed usage periods in mt.usage_export_log,
 *	  mt.usage_export(), and the trigger of mt.usage_rollup that turns late
 *	  usage into a new version (doc/billing.md).
 *
 * Periods and versions
 * --------------------
 * A period is a UTC hour of one tenant and metric (a row of
 * mt.usage_rollup).  Hour H is closed by the first flush transaction that
 * started at or after H's end (worker.c calls mt_billing_close() after the
 * flush, in the same transaction): the total of H in the rollup at that
 * commit becomes version 1 in the log.  Usage of H written to the rollup
 * after that (counts that were still pending in a session or in the dump
 * file, a flush that failed and was retried, an import) makes the trigger
 * append version n+1 with the corrected total, in the transaction that
 * wrote it.  A log row is never updated or deleted.
 *
 * Which hours are closed is derived from the log itself: every hour below
 * "lo" = the latest period_start in the log + 1 hour is closed, and every
 * rollup row below lo has its current value as the latest version in the
 * log (the trigger keeps that true).  A close appends the rows of
 * [lo, end of the last ended hour) whose value differs from their latest
 * version; rows at or above lo that were already exported compare equal
 * and are skipped, so a close is idempotent.
 *
 * Cursor order = commit order
 * ---------------------------
 * Every writer of the log (the close and the trigger) first takes
 * mt.usage_export_log in SHARE ROW EXCLUSIVE mode (conflicts with itself,
 * not with readers) and holds it to its commit, then computes lo and the
 * next cursor (max + 1) with a snapshot taken after the lock was granted.
 * So one writer appends at a time, and it appends only after the previous
 * writer's rows are visible to every new snapshot: rows become visible in
 * cursor order, and a reader after cursor c never misses a row below a
 * row it saw.  This needs READ COMMITTED (a fresh snapshot per statement);
 * the flush worker forces it, other writers of the rollup get 0A000 under
 * REPEATABLE READ or SERIALIZABLE.  A rollup writer holds the lock to its
 * commit too, so a close never passes over an hour that an uncommitted
 * writer is adding to.
 *
 * No shared memory, no locks of its own beyond the table lock above.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "billing.h"
#include "catalog.h"
#include "citus_node.h"
#include "flush_request.h"
#include "spi_util.h"
#include "util.h"

/*
 * Appends a version for every candidate row c (tenant_id, metric, bucket,
 * value) whose value differs from its latest version; lo is available to
 * the candidate query.  The idempotency key is a hash of (tenant, metric,
 * period start in UTC, version): the same record gets the same key in
 * every database that writes it, before and after a restore.
 */
#define APPEND_SQL(candidates) \
	"WITH lo AS (SELECT coalesce(max(x.period_start) + interval '1 hour'," \
	"                            '-infinity'::timestamptz) AS lo" \
	"              FROM mt.usage_export_log x)," \
	" c AS (" candidates ")," \
	" n AS (SELECT c.tenant_id, c.metric, c.bucket, c.value," \
	"              coalesce(l.version, 0) + 1 AS version" \
	"         FROM c LEFT JOIN LATERAL (" \
	"              SELECT x.version, x.quantity FROM mt.usage_export_log x" \
	"               WHERE x.tenant_id = c.tenant_id AND x.metric = c.metric" \
	"                 AND x.period_start = c.bucket" \
	"               ORDER BY x.version DESC LIMIT 1) l ON true" \
	"        WHERE l.quantity IS DISTINCT FROM c.value)," \
	" b AS (SELECT coalesce(max(x.cursor), 0) AS base FROM mt.usage_export_log x)" \
	" INSERT INTO mt.usage_export_log" \
	"   (cursor, idempotency_key, tenant_id, metric, period_start, period_end, quantity, version)" \
	" SELECT b.base + row_number() OVER (ORDER BY n.bucket, n.tenant_id, n.metric)," \
	"        'mtu1_' || encode(sha256(convert_to(n.tenant_id::text || '/' || n.metric || '/'" \
	"            || to_char(n.bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')" \
	"            || '/' || n.version::text, 'UTF8')), 'hex')," \
	"        n.tenant_id, n.metric, n.bucket, n.bucket + interval '1 hour', n.value, n.version" \
	"   FROM n, b"

/*
 * The writers' lock (see the header comment).  SPI connected, as the
 * extension owner.
 */
static void
log_lock(const char *what)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s must run in a READ COMMITTED transaction", what),
				 errdetail("Usage export records are appended in commit order, which needs a new snapshot per statement."),
				 errhint("Write mt.usage_rollup under READ COMMITTED.")));
	(void) mt_catalog_execute("LOCK TABLE mt.usage_export_log IN SHARE ROW EXCLUSIVE MODE",
							  0, NULL, NULL, NULL);
}

int64
mt_billing_close(void)
{
	TimestampTz start = GetCurrentTransactionStartTimestamp();
	Datum		arg;
	int64		n;

	if (!OidIsValid(mt_catalog_relid("usage_export_log")))
		return 0;				/* the extension is older than 0.5.0 */

	/* the end of the last hour that ended before this transaction began */
	arg = TimestampTzGetDatum(start - start % USECS_PER_HOUR
							  - (start % USECS_PER_HOUR < 0 ? USECS_PER_HOUR : 0));
	mt_spi_connect();
	log_lock("the usage period close");
	if (mt_catalog_execute(APPEND_SQL("SELECT r.tenant_id, r.metric, r.bucket, r.value"
									  "  FROM mt.usage_rollup r, lo"
									  " WHERE r.bucket >= lo.lo AND r.bucket < $1"),
						   1, (Oid[]) {TIMESTAMPTZOID}, &arg, NULL) != SPI_OK_INSERT)
		mt_spi_failed("usage period close", SPI_ERROR_ARGUMENT);
	n = (int64) SPI_processed;
	mt_spi_finish();
	return n;
}

/*
 * Statement trigger (AFTER INSERT / AFTER UPDATE, transition table
 * "changed") on mt.usage_rollup: rows of hours already closed get a new
 * version with their new total.
 */
PG_FUNCTION_INFO_V1(mt_usage_export_correct);
Datum
mt_usage_export_correct(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || trigdata->tg_newtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.usage_export_correct() must be called as a statement trigger with a transition table")));
	mt_spi_connect();
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		mt_spi_failed("SPI_register_trigger_data", SPI_ERROR_ARGUMENT);
	log_lock("a write of mt.usage_rollup");
	if (mt_catalog_execute(APPEND_SQL("SELECT t.tenant_id, t.metric, t.bucket, t.value"
									  "  FROM changed t, lo WHERE t.bucket < lo.lo"),
						   0, NULL, NULL, NULL) != SPI_OK_INSERT)
		mt_spi_failed("usage export correction", SPI_ERROR_ARGUMENT);
	mt_spi_finish();
	return PointerGetDatum(NULL);
}

/*
 * mt.usage_export(after_cursor, max_rows): the log after a cursor, in
 * cursor order.  On a primary it first asks the flush worker for a flush
 * (which closes every ended hour) and waits for it; on a standby it reads
 * what was replayed.  Read with a snapshot taken after that flush, so
 * under any isolation level the rows are a prefix of the log in cursor
 * order.
 */
PG_FUNCTION_INFO_V1(mt_usage_export);
Datum
mt_usage_export(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MtCatalogCtx oc;
	Datum		args[2];

	mt_require_coordinator("mt.usage_export()");
	mt_require_args(fcinfo, 2, "after_cursor and max_rows");
	if (PG_GETARG_INT64(0) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after_cursor must not be negative"),
				 errhint("Pass 0 to read from the beginning, or the last cursor you stored.")));
	if (PG_GETARG_INT32(1) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be at least 1")));
	if (!OidIsValid(mt_catalog_relid("usage_export_log")))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the usage export log is missing in this database"),
				 errhint("Run ALTER EXTENSION multitenant UPDATE.")));
	if (!RecoveryInProgress())
	{
		int64		rows;

		mt_require_shared_memory("mt.usage_export()");
		(void) mt_flush_request_wait(MyDatabaseId, &rows);
	}

	InitMaterializedSRF(fcinfo, 0);
	args[0] = PG_GETARG_DATUM(0);
	args[1] = Int64GetDatum((int64) PG_GETARG_INT32(1));
	mt_catalog_begin(&oc);
	mt_spi_select_snapshot(NULL,
						   "SELECT x.cursor, x.idempotency_key, x.tenant_id, x.metric,"
						   "       x.period_start, x.period_end, x.quantity, x.version"
						   "  FROM mt.usage_export_log x WHERE x.cursor > $1"
						   " ORDER BY x.cursor LIMIT $2",
						   2, (Oid[]) {INT8OID, INT8OID}, args, NULL);
	mt_spi_rows_to_tuplestore(rsinfo);
	mt_catalog_end(&oc);
	return (Datum) 0;
}
