/*-------------------------------------------------------------------------
 *
 * billing.c
 *	  Usage export for billing: closed usage periods in mt.usage_export_log,
 *	  mt.usage_export(), and the trigger of mt.usage_rollup that turns late
 *	  usage into a new version; the plan history of tenants (the row
 *	  trigger on mt.tenants writing mt.tenant_plan_history) and
 *	  mt.invoice_preview(), which prices a UTC month by seconds across plan
 *	  changes (doc/billing.md).
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
 * The plan history and the invoice preview take no lock of their own:
 * history rows are written in the transaction that changes mt.tenants (its
 * row lock orders changes of one tenant); the preview reads one snapshot
 * of the rollup taken before the pending counts (usage.c's lock).
 *
 * No shared memory, no locks of its own beyond the table lock above.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "billing.h"
#include "catalog.h"
#include "citus_node.h"
#include "flush_request.h"
#include "spi_util.h"
#include "usage.h"
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

/* ---------------------------------------------------------------------
 * Plan history and invoice preview
 * --------------------------------------------------------------------- */

/*
 * Row trigger (AFTER INSERT OR UPDATE OF plan) on mt.tenants: the tenant's
 * plan from the start of this transaction on, unless that is already its
 * latest plan.  Two changes in one transaction: the last one wins.
 */
PG_FUNCTION_INFO_V1(mt_tenant_plan_changed);
Datum
mt_tenant_plan_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		args[2];
	bool		isnull[2];

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.tenant_plan_changed() must be called as an AFTER row trigger")));
	tup = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	args[0] = heap_getattr(tup, SPI_fnumber(desc, "id"), desc, &isnull[0]);
	args[1] = heap_getattr(tup, SPI_fnumber(desc, "plan"), desc, &isnull[1]);
	if (isnull[0] || isnull[1])
		elog(ERROR, "mt.tenants row without id or plan");
	mt_spi_connect();
	(void) mt_catalog_execute("INSERT INTO mt.tenant_plan_history AS h (tenant_id, plan, valid_from)"
							  " SELECT $1, $2, now()"
							  "  WHERE $2 IS DISTINCT FROM ("
							  "        SELECT x.plan FROM mt.tenant_plan_history x"
							  "         WHERE x.tenant_id = $1 AND x.valid_from <= now()"
							  "         ORDER BY x.valid_from DESC LIMIT 1)"
							  " ON CONFLICT (tenant_id, valid_from) DO UPDATE SET plan = excluded.plan",
							  2, (Oid[]) {UUIDOID, TEXTOID}, args, NULL);
	mt_spi_finish();
	return PointerGetDatum(NULL);
}

/*
 * mt.invoice_preview(tenant, period_start): the UTC month starting at
 * period_start, priced by seconds across the tenant's plans (doc/billing.md,
 * "Invoice preview"), from the flushed rollup plus the pending counts.
 */
PG_FUNCTION_INFO_V1(mt_invoice_preview);
Datum
mt_invoice_preview(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	TimestampTz ps;
	MtCatalogCtx oc;
	Datum		args[5];
	Datum		result;
	bool		isnull;
	Snapshot	snap;

	mt_require_coordinator("mt.invoice_preview()");
	mt_require_args(fcinfo, 2, "tenant and period_start");
	tenant = PG_GETARG_UUID_P(0);
	ps = PG_GETARG_TIMESTAMPTZ(1);
	if (!OidIsValid(mt_catalog_relid("tenant_plan_history")))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the plan history is missing in this database"),
				 errhint("Run ALTER EXTENSION multitenant UPDATE.")));

	args[0] = UUIDPGetDatum(tenant);
	args[1] = TimestampTzGetDatum(ps);
	mt_catalog_begin(&oc);
	if (!mt_spi_exists("SELECT 1 FROM mt.tenants WHERE id = $1", 1, (Oid[]) {UUIDOID}, args))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant %s does not exist", mt_uuid_to_cstring(tenant))));
	if (!DatumGetBool(mt_spi_value("SELECT pg_catalog.date_trunc('month', $1, 'UTC') = $1",
								   1, (Oid[]) {TIMESTAMPTZOID}, &args[1], true, &isnull)) || isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period_start must be the start of a UTC month"),
				 errdetail("Invoices cover calendar months in UTC."),
				 errhint("Pass date_trunc('month', <time>, 'UTC').")));

	snap = RegisterSnapshot(GetLatestSnapshot());	/* before the pending counts */
	mt_usage_pending_arrays(tenant, &args[2], &args[3], &args[4]);
	PushActiveSnapshot(snap);
	result = mt_spi_value(
		"WITH a AS (SELECT $1::uuid AS t, $2::timestamptz AS ps,"
		"                  ($2::timestamptz AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC' AS pe),"
		/* plan changes, consecutive rows of one plan merged */
		" h0 AS (SELECT x.plan, x.valid_from,"
		"               lag(x.plan) OVER (ORDER BY x.valid_from) AS prev"
		"          FROM mt.tenant_plan_history x, a WHERE x.tenant_id = a.t),"
		" h AS (SELECT h0.plan, h0.valid_from,"
		"              lead(h0.valid_from) OVER (ORDER BY h0.valid_from) AS valid_to"
		"         FROM h0 WHERE h0.prev IS DISTINCT FROM h0.plan),"
		/* the parts of the month on each plan */
		" s AS (SELECT row_number() OVER (ORDER BY greatest(h.valid_from, a.ps)) AS n, h.plan,"
		"              greatest(h.valid_from, a.ps) AS f,"
		"              least(coalesce(h.valid_to, 'infinity'::timestamptz), a.pe) AS u,"
		"              p.price_monthly_cents, p.currency,"
		"              extract(epoch FROM least(coalesce(h.valid_to, 'infinity'::timestamptz), a.pe)"
		"                                 - greatest(h.valid_from, a.ps))"
		"              / extract(epoch FROM a.pe - a.ps) AS fraction"
		"         FROM h JOIN mt.plans p ON p.name = h.plan, a"
		"        WHERE h.valid_from < a.pe AND coalesce(h.valid_to, 'infinity'::timestamptz) > a.ps),"
		/* hourly usage of the month: flushed plus pending */
		" use AS (SELECT z.m AS metric, z.b AS bucket, sum(z.v) AS v"
		"           FROM (SELECT r.metric, r.bucket, r.value FROM mt.usage_rollup r, a"
		"                  WHERE r.tenant_id = a.t AND r.bucket >= a.ps AND r.bucket < a.pe"
		"                 UNION ALL"
		"                 SELECT x.m, x.b, x.v FROM unnest($3::text[], $4::timestamptz[], $5::bigint[]) AS x (m, b, v), a"
		"                  WHERE x.b >= a.ps AND x.b < a.pe) AS z (m, b, v)"
		"          GROUP BY 1, 2),"
		/* allowance windows: the month, or each UTC day, cut by the part */
		" w AS (SELECT s.n, l.metric, l.period, l.overage_price_cents AS price, l.overage_unit AS unit,"
		"              coalesce(l.included, l.hard_limit) AS included,"
		"              greatest(win.wf, s.f) AS f, least(win.wt, s.u) AS u,"
		"              extract(epoch FROM least(win.wt, s.u) - greatest(win.wf, s.f))"
		"              / extract(epoch FROM win.wt - win.wf) AS share"
		"         FROM s JOIN mt.plan_limits l ON l.plan = s.plan AND l.overage_price_cents IS NOT NULL, a,"
		"              LATERAL (SELECT a.ps, a.pe WHERE l.period = 'month'"
		"                       UNION ALL"
		"                       SELECT d AT TIME ZONE 'UTC', (d + interval '1 day') AT TIME ZONE 'UTC'"
		"                         FROM generate_series(date_trunc('day', s.f AT TIME ZONE 'UTC'),"
		"                                              s.u AT TIME ZONE 'UTC' - interval '1 microsecond',"
		"                                              interval '1 day') AS d"
		"                        WHERE l.period = 'day') AS win (wf, wt)),"
		" wo AS (SELECT w.*, coalesce((SELECT sum(use.v) FROM use WHERE use.metric = w.metric"
		"                                AND use.bucket >= w.f AND use.bucket < w.u), 0) AS used,"
		"               w.included * w.share AS allowance"
		"          FROM w),"
		" o AS (SELECT wo.n, wo.metric, min(wo.period) AS period, sum(wo.used) AS used,"
		"              sum(wo.allowance) AS allowance,"
		"              sum(coalesce(greatest(wo.used - wo.allowance, 0), 0)) AS over,"
		"              min(wo.unit) AS unit, min(wo.price) AS price"
		"         FROM wo GROUP BY 1, 2),"
		" ol AS (SELECT o.*, ceil(o.over / o.unit) AS units,"
		"               round(ceil(o.over / o.unit) * o.price) AS amount"
		"          FROM o),"
		" sj AS (SELECT s.n, round(s.price_monthly_cents * s.fraction) AS base,"
		"               jsonb_build_object('plan', s.plan, 'from', s.f, 'to', s.u,"
		"                 'fraction', round(s.fraction, 6), 'currency', s.currency,"
		"                 'base_cents', round(s.price_monthly_cents * s.fraction),"
		"                 'overage', coalesce((SELECT jsonb_agg(jsonb_build_object("
		"                       'metric', ol.metric, 'period', ol.period, 'used', ol.used,"
		"                       'included', round(ol.allowance, 2), 'over', round(ol.over, 2),"
		"                       'unit', ol.unit, 'units', ol.units, 'price_cents', ol.price,"
		"                       'amount_cents', ol.amount) ORDER BY ol.metric)"
		"                   FROM ol WHERE ol.n = s.n), '[]'::jsonb)) AS j,"
		"               coalesce((SELECT sum(ol.amount) FROM ol WHERE ol.n = s.n), 0) AS overage"
		"          FROM s)"
		" SELECT jsonb_build_object('tenant', a.t, 'period_start', a.ps, 'period_end', a.pe,"
		"          'proration', 'seconds',"
		"          'currency', (SELECT CASE WHEN count(DISTINCT s.currency) <= 1 THEN min(s.currency) END FROM s),"
		"          'segments', coalesce((SELECT jsonb_agg(sj.j ORDER BY sj.n) FROM sj), '[]'::jsonb),"
		"          'base_cents', coalesce((SELECT sum(sj.base) FROM sj), 0),"
		"          'overage_cents', coalesce((SELECT sum(sj.overage) FROM sj), 0),"
		"          'total_cents', coalesce((SELECT sum(sj.base + sj.overage) FROM sj), 0))"
		"   FROM a",
		5, (Oid[]) {UUIDOID, TIMESTAMPTZOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID},
		args, true, &isnull);
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	if (isnull)
		elog(ERROR, "invoice preview returned NULL");
	mt_catalog_end(&oc);		/* the value was copied out of SPI's memory */
	PG_RETURN_DATUM(result);
}
