/*-------------------------------------------------------------------------
 *
 * insight.c
 *	  The readers of the per-tenant statistics (tenant_stats.c):
 *	  mt.stat_tenants (the view over mt.stat_tenants_rows()),
 *	  mt.stat_tenants_reset(), and the metrics: mt.metrics() (Prometheus
 *	  text exposition format) and mt.metrics_series() (the same numbers as
 *	  rows, for postgres_exporter's queries.yaml, contrib/prometheus);
 *	  the drain of security events (security_events.c) the flush worker
 *	  runs; mt.detect_anomalies() over the security events, the usage
 *	  rollup and the API keys' known networks (mt.api_key_networks)
 *	  (findings kept in mt.anomaly_findings, NOTIFY mt_anomalies).
 *
 * Metrics bound their label cardinality: per-tenant series only for the
 * multitenant.metrics_top_tenants most active tenants (by the sum of their
 * counters; ties by id), everything summed per plan.  Plans, names and
 * statuses come from mt.tenants, read as the extension owner.
 *
 * Who sees what: inside a tenant context, that tenant's own row only
 * (whatever the role); outside one, every row of the database to
 * superusers and members of pg_read_all_stats (pg_monitor is one), and
 * nothing to anyone else.  Metrics span every tenant: only those roles,
 * and outside a tenant context (42501 otherwise).
 *
 * This file has no shared state of its own: it reads tenant_stats.c's
 * and security_events.c's under those modules' locks.  Backend-local: the
 * security events a flush worker took from the ring (drained), held until
 * its transaction ends (mt_insight_flush_finish gives them back after an
 * abort).  mt.security_event_log and mt.anomaly_findings are written as
 * the extension owner (spi_util), by the flush worker and by
 * mt.detect_anomalies() respectively.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "nodes/pg_list.h"
#include "nodes/value.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "audit.h"
#include "context.h"
#include "insight.h"
#include "security_events.h"
#include "spi_util.h"
#include "tenant_stats.h"
#include "util.h"

/* GUC variable (defined in multitenant.c) */
int			mt_metrics_top_tenants = 20;

static const char *const scope_names[] = {"tenant", "none", "evicted"};

/* may the current role read every tenant's statistics? */
bool
mt_insight_monitor(void)
{
	return superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

/*
 * The rows the caller may see (see the header comment); *n rows, NULL
 * when none.
 */
static MtStatRow *
visible_rows(int *n)
{
	const pg_uuid_t *cur = mt_context_tenant();

	*n = 0;
	if (cur != NULL)
		return mt_stat_snapshot(MyDatabaseId, cur, n);
	if (mt_insight_monitor())
		return mt_stat_snapshot(MyDatabaseId, NULL, n);
	return NULL;
}

/* mt.stat_tenants_rows(): the rows of the view mt.stat_tenants */
PG_FUNCTION_INFO_V1(mt_stat_tenants_rows);
Datum
mt_stat_tenants_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MtStatRow  *rows;
	int			n;

	mt_require_shared_memory("mt.stat_tenants");
	InitMaterializedSRF(fcinfo, 0);
	rows = visible_rows(&n);
	for (int i = 0; i < n; i++)
	{
		Datum		values[MT_STAT_NKINDS + 4];
		bool		nulls[MT_STAT_NKINDS + 4];
		int			c = 0;

		memset(nulls, 0, sizeof(nulls));
		values[c++] = CStringGetTextDatum(scope_names[rows[i].scope]);
		if (rows[i].scope == MT_STAT_SCOPE_TENANT)
		{
			pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

			memcpy(u, &rows[i].tenant, sizeof(pg_uuid_t));
			values[c++] = UUIDPGetDatum(u);
		}
		else
		{
			nulls[c] = true;
			values[c++] = (Datum) 0;
		}
		for (int k = 0; k < MT_STAT_NKINDS; k++)
			values[c++] = Int64GetDatum(rows[i].counts[k]);
		values[c++] = TimestampTzGetDatum(rows[i].since);
		values[c++] = TimestampTzGetDatum(rows[i].last_active);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* mt.stat_tenants_reset(): privileged (EXECUTE revoked from PUBLIC) */
PG_FUNCTION_INFO_V1(mt_stat_tenants_reset);
Datum
mt_stat_tenants_reset(PG_FUNCTION_ARGS)
{
	mt_require_shared_memory("mt.stat_tenants_reset()");
	PG_RETURN_INT64(mt_stat_reset(MyDatabaseId));
}

/* ---------------------------------------------------------------------
 * Metrics: mt.metrics() (Prometheus text) and mt.metrics_series() (the
 * same numbers as rows, for postgres_exporter's queries.yaml)
 * --------------------------------------------------------------------- */

/* column names of mt.stat_tenants, in MtStatKind order */
static const char *const kind_names[MT_STAT_NKINDS] = {
	"auth_ok", "auth_failed", "tokens_entered", "metered_calls",
	"quota_refusals", "rate_limited", "audit_events"
};
static const char *const kind_help[MT_STAT_NKINDS] = {
	"Successful mt.authenticate() calls.",
	"API keys refused by mt.authenticate() or mt.verify_api_key().",
	"Signed tenant tokens accepted in multitenant.token.",
	"mt.track() and mt.consume() calls that counted.",
	"mt.consume() calls refused by a hard limit.",
	"mt.rate_limit() calls that answered false.",
	"Audit events appended."
};

/* pseudo-plans of the rows not attributed to a registered tenant */
#define MT_PLAN_NONE	"(no tenant)"
#define MT_PLAN_EVICTED "(evicted)"
#define MT_PLAN_DROPPED "(unregistered)"
#define MT_LABEL_MAXLEN 200

typedef struct MtTenantInfo
{
	pg_uuid_t	id;				/* hash key */
	char	   *name;
	char	   *plan;
	char	   *status;
} MtTenantInfo;

typedef struct MtPlanAgg
{
	char	   *plan;
	int64		tenants;		/* registered tenants on the plan (not deleted) */
	int64		counts[MT_STAT_NKINDS];
} MtPlanAgg;

typedef struct MtStatusAgg
{
	const char *status;
	int64		tenants;
} MtStatusAgg;

typedef struct MtMetrics
{
	MtStatRow  *rows;			/* the database's statistics rows */
	int			nrows;
	MtStatRow **top;			/* the top-N tenant rows, most active first */
	MtTenantInfo **top_info;	/* their registry rows (NULL: unregistered) */
	int			ntop;
	MtPlanAgg  *plans;
	int			nplans;
	MtStatusAgg statuses[3];	/* active, suspended, deleted */
	int64		tenant_rows;	/* rows of scope tenant */
} MtMetrics;

static int
plan_find(MtMetrics *m, const char *plan, int *cap)
{
	for (int i = 0; i < m->nplans; i++)
		if (strcmp(m->plans[i].plan, plan) == 0)
			return i;
	if (m->nplans == *cap)
	{
		*cap *= 2;
		m->plans = repalloc(m->plans, sizeof(MtPlanAgg) * *cap);
	}
	memset(&m->plans[m->nplans], 0, sizeof(MtPlanAgg));
	m->plans[m->nplans].plan = pstrdup(plan);
	return m->nplans++;
}

static int64
row_activity(const MtStatRow *r)
{
	int64		sum = 0;

	for (int k = 0; k < MT_STAT_NKINDS; k++)
		sum += r->counts[k];
	return sum;
}

static int
top_cmp(const void *a, const void *b)
{
	const MtStatRow *x = *(const MtStatRow *const *) a;
	const MtStatRow *y = *(const MtStatRow *const *) b;
	int64		ax = row_activity(x);
	int64		ay = row_activity(y);

	if (ax != ay)
		return ax > ay ? -1 : 1;
	return memcmp(&x->tenant, &y->tenant, sizeof(pg_uuid_t));
}

/* the registry (mt.tenants, read as the extension owner) into a hash */
static HTAB *
tenant_registry(void)
{
	HASHCTL		info;
	HTAB	   *h;
	MtCatalogCtx c;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(pg_uuid_t);
	info.entrysize = sizeof(MtTenantInfo);
	info.hcxt = CurrentMemoryContext;
	h = hash_create("multitenant metrics tenants", 1024, &info,
					HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	mt_catalog_begin(&c);
	mt_catalog_execute("SELECT id, name, plan, status FROM mt.tenants", 0, NULL, NULL, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		id = SPI_getbinval(tup, desc, 1, &isnull);
		MtTenantInfo *t;
		MemoryContext old;

		if (isnull)
			continue;
		t = hash_search(h, DatumGetUUIDP(id), HASH_ENTER, NULL);
		old = MemoryContextSwitchTo(c.outer);
		t->name = SPI_getvalue(tup, desc, 2);
		t->plan = SPI_getvalue(tup, desc, 3);
		t->status = SPI_getvalue(tup, desc, 4);
		MemoryContextSwitchTo(old);
	}
	mt_catalog_end(&c);
	return h;
}

/* who may read metrics: a monitoring role outside any tenant context */
static void
require_metrics_reader(const char *what)
{
	mt_require_shared_memory(what);
	if (mt_context_tenant() != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s cannot run inside a tenant context", what),
				 errdetail("Metrics cover every tenant of the database."),
				 errhint("Call it from a monitoring session without multitenant.token.")));
	if (!mt_insight_monitor())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s", what),
				 errhint("Grant pg_monitor (or pg_read_all_stats) to the monitoring role.")));
}

static void
metrics_collect(MtMetrics *m)
{
	HTAB	   *reg = tenant_registry();
	HASH_SEQ_STATUS hs;
	MtTenantInfo *t;
	int			cap = 8;
	int			ntenant = 0;
	MtStatRow **cand;

	memset(m, 0, sizeof(*m));
	m->statuses[0].status = "active";
	m->statuses[1].status = "suspended";
	m->statuses[2].status = "deleted";
	m->plans = palloc(sizeof(MtPlanAgg) * cap);

	/* tenants per plan and per status, from the registry */
	hash_seq_init(&hs, reg);
	while ((t = hash_seq_search(&hs)) != NULL)
	{
		for (int s = 0; s < 3; s++)
			if (strcmp(t->status, m->statuses[s].status) == 0)
				m->statuses[s].tenants++;
		if (strcmp(t->status, "deleted") != 0)
			m->plans[plan_find(m, t->plan, &cap)].tenants++;
	}

	m->rows = mt_stat_snapshot(MyDatabaseId, NULL, &m->nrows);
	cand = palloc(sizeof(MtStatRow *) * Max(m->nrows, 1));
	for (int i = 0; i < m->nrows; i++)
	{
		MtStatRow  *r = &m->rows[i];
		const char *plan;
		int			p;

		if (r->scope == MT_STAT_SCOPE_NONE)
			plan = MT_PLAN_NONE;
		else if (r->scope == MT_STAT_SCOPE_EVICTED)
			plan = MT_PLAN_EVICTED;
		else
		{
			t = hash_search(reg, &r->tenant, HASH_FIND, NULL);
			plan = t ? t->plan : MT_PLAN_DROPPED;
			cand[ntenant++] = r;
		}
		p = plan_find(m, plan, &cap);
		for (int k = 0; k < MT_STAT_NKINDS; k++)
			m->plans[p].counts[k] += r->counts[k];
	}
	m->tenant_rows = ntenant;

	/* the most active tenants (ties: by id, so the set is stable) */
	qsort(cand, ntenant, sizeof(MtStatRow *), top_cmp);
	m->ntop = Min(ntenant, mt_metrics_top_tenants);
	m->top = cand;
	m->top_info = palloc(sizeof(MtTenantInfo *) * Max(m->ntop, 1));
	for (int i = 0; i < m->ntop; i++)
		m->top_info[i] = hash_search(reg, &cand[i]->tenant, HASH_FIND, NULL);
}

/*
 * A label value in the exposition format: UTF-8 (converted from the server
 * encoding), at most MT_LABEL_MAXLEN bytes cut at a character boundary,
 * backslash, double quote and newline escaped.
 */
static void
append_label(StringInfo buf, const char *name, const char *value, bool first)
{
	int			len = strlen(value);
	char	   *utf8;

	len = pg_mbcliplen(value, len, MT_LABEL_MAXLEN);
	utf8 = pg_server_to_any(value, len, PG_UTF8);
	if (utf8 == value)
		utf8 = pnstrdup(value, len);
	appendStringInfo(buf, "%s%s=\"", first ? "" : ",", name);
	for (const char *p = utf8; *p; p++)
	{
		if (*p == '\\')
			appendStringInfoString(buf, "\\\\");
		else if (*p == '"')
			appendStringInfoString(buf, "\\\"");
		else if (*p == '\n')
			appendStringInfoString(buf, "\\n");
		else
			appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

static void
append_tenant_labels(StringInfo buf, MtMetrics *m, int i)
{
	MtTenantInfo *t = m->top_info[i];

	appendStringInfoChar(buf, '{');
	append_label(buf, "tenant_id", mt_uuid_to_cstring(&m->top[i]->tenant), true);
	append_label(buf, "tenant", t ? t->name : "", false);
	append_label(buf, "plan", t ? t->plan : MT_PLAN_DROPPED, false);
	appendStringInfoChar(buf, '}');
}

static void
family_header(StringInfo buf, const char *name, const char *type, const char *help)
{
	appendStringInfo(buf, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* mt.metrics(): the Prometheus text exposition format (version 0.0.4) */
PG_FUNCTION_INFO_V1(mt_metrics);
Datum
mt_metrics(PG_FUNCTION_ARGS)
{
	MtMetrics	m;
	StringInfoData buf;
	char		name[NAMEDATALEN];
	char		help[256];

	require_metrics_reader("mt.metrics()");
	metrics_collect(&m);
	initStringInfo(&buf);

	for (int k = 0; k < MT_STAT_NKINDS; k++)
	{
		snprintf(name, sizeof(name), "mt_tenant_%s_total", kind_names[k]);
		snprintf(help, sizeof(help), "%s Per tenant, for the multitenant.metrics_top_tenants most active tenants.", kind_help[k]);
		family_header(&buf, name, "counter", help);
		for (int i = 0; i < m.ntop; i++)
		{
			appendStringInfoString(&buf, name);
			append_tenant_labels(&buf, &m, i);
			appendStringInfo(&buf, " " INT64_FORMAT "\n", m.top[i]->counts[k]);
		}
	}
	for (int k = 0; k < MT_STAT_NKINDS; k++)
	{
		snprintf(name, sizeof(name), "mt_plan_%s_total", kind_names[k]);
		snprintf(help, sizeof(help), "%s Summed per plan over every tenant; plan \"" MT_PLAN_NONE "\", \"" MT_PLAN_EVICTED "\" and \"" MT_PLAN_DROPPED "\" for the rest.", kind_help[k]);
		family_header(&buf, name, "counter", help);
		for (int p = 0; p < m.nplans; p++)
		{
			appendStringInfoString(&buf, name);
			appendStringInfoChar(&buf, '{');
			append_label(&buf, "plan", m.plans[p].plan, true);
			appendStringInfo(&buf, "} " INT64_FORMAT "\n", m.plans[p].counts[k]);
		}
	}
	family_header(&buf, "mt_tenant_last_active_timestamp_seconds", "gauge",
				  "Time of the tenant's last counted event (Unix seconds), for the most active tenants.");
	for (int i = 0; i < m.ntop; i++)
	{
		appendStringInfoString(&buf, "mt_tenant_last_active_timestamp_seconds");
		append_tenant_labels(&buf, &m, i);
		appendStringInfo(&buf, " %.3f\n",
						 (double) (m.top[i]->last_active - SetEpochTimestamp()) / USECS_PER_SEC);
	}
	family_header(&buf, "mt_plan_tenants", "gauge", "Registered tenants per plan (not deleted).");
	for (int p = 0; p < m.nplans; p++)
	{
		if (m.plans[p].plan[0] == '(')
			continue;			/* pseudo-plans hold no registered tenant */
		appendStringInfoString(&buf, "mt_plan_tenants{");
		append_label(&buf, "plan", m.plans[p].plan, true);
		appendStringInfo(&buf, "} " INT64_FORMAT "\n", m.plans[p].tenants);
	}
	family_header(&buf, "mt_tenants", "gauge", "Registered tenants per status.");
	for (int s = 0; s < 3; s++)
		appendStringInfo(&buf, "mt_tenants{status=\"%s\"} " INT64_FORMAT "\n",
						 m.statuses[s].status, m.statuses[s].tenants);
	family_header(&buf, "mt_stat_tenant_rows", "gauge",
				  "Tenant rows of this database in the statistics' shared memory.");
	appendStringInfo(&buf, "mt_stat_tenant_rows " INT64_FORMAT "\n", m.tenant_rows);
	family_header(&buf, "mt_stat_max_tenant_rows", "gauge",
				  "multitenant.max_tenant_stats: tenant rows shared memory holds (all databases).");
	appendStringInfo(&buf, "mt_stat_max_tenant_rows %d\n", mt_max_tenant_stats);
	{
		uint64		counts[MT_SEC_NKINDS];
		uint64		lost;

		mt_security_counts(counts, &lost);
		family_header(&buf, "mt_security_events_total", "counter",
					  "Security events this server recorded since it started (every database), per kind.");
		for (int k = 0; k < MT_SEC_NKINDS; k++)
			appendStringInfo(&buf, "mt_security_events_total{kind=\"%s\"} " UINT64_FORMAT "\n",
							 mt_security_kind_name(k), counts[k]);
		family_header(&buf, "mt_security_events_lost_total", "counter",
					  "Security events overwritten in shared memory before the flush worker wrote them.");
		appendStringInfo(&buf, "mt_security_events_lost_total " UINT64_FORMAT "\n", lost);
	}
	{
		int64		unsealed;
		TimestampTz oldest;
		double		lag = 0;
		bool		read = mt_audit_backlog(&unsealed, &oldest);

		if (oldest != 0)
			lag = Max(0, (double) (GetCurrentTimestamp() - oldest) / USECS_PER_SEC);
		/* no sample while DDL holds the audit log (the series goes stale) */
		family_header(&buf, "mt_audit_unsealed_events", "gauge",
					  "Committed audit events of this database not yet linked into their tenant's chain (the sealer's backlog; counted up to 100000, then one per further tenant).");
		if (read)
			appendStringInfo(&buf, "mt_audit_unsealed_events " INT64_FORMAT "\n", unsealed);
		family_header(&buf, "mt_audit_seal_lag_seconds", "gauge",
					  "Age of the oldest of them (0 when every committed event is sealed).");
		if (read)
			appendStringInfo(&buf, "mt_audit_seal_lag_seconds %.3f\n", lag);
	}

	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}

/*
 * mt.metrics_series(): the numbers of mt.metrics() as rows: series
 * 'tenant' (the most active tenants) and 'plan' (per plan and pseudo-plan)
 */
PG_FUNCTION_INFO_V1(mt_metrics_series);
Datum
mt_metrics_series(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MtMetrics	m;

	require_metrics_reader("mt.metrics_series()");
	InitMaterializedSRF(fcinfo, 0);
	metrics_collect(&m);
	for (int i = 0; i < m.ntop + m.nplans; i++)
	{
		Datum		values[MT_STAT_NKINDS + 6];
		bool		nulls[MT_STAT_NKINDS + 6];
		const int64 *counts;
		int			c = 0;

		memset(nulls, 0, sizeof(nulls));
		if (i < m.ntop)
		{
			MtTenantInfo *t = m.top_info[i];
			pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

			memcpy(u, &m.top[i]->tenant, sizeof(pg_uuid_t));
			values[c++] = CStringGetTextDatum("tenant");
			values[c++] = UUIDPGetDatum(u);
			values[c++] = CStringGetTextDatum(t ? t->name : "");
			values[c++] = CStringGetTextDatum(t ? t->plan : MT_PLAN_DROPPED);
			nulls[c++] = true;
			values[c++] = TimestampTzGetDatum(m.top[i]->last_active);
			counts = m.top[i]->counts;
		}
		else
		{
			MtPlanAgg  *p = &m.plans[i - m.ntop];

			values[c++] = CStringGetTextDatum("plan");
			nulls[c++] = true;
			nulls[c++] = true;
			values[c++] = CStringGetTextDatum(p->plan);
			values[c++] = Int64GetDatum(p->tenants);
			nulls[c++] = true;
			counts = p->counts;
		}
		for (int k = 0; k < MT_STAT_NKINDS; k++)
			values[c++] = Int64GetDatum(counts[k]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Security events: the drain the flush worker runs (worker.c), writing
 * the ring of security_events.c into mt.security_event_log and each
 * event with a known tenant into that tenant's audit chain
 * --------------------------------------------------------------------- */

/* GUC variables (defined in multitenant.c) */
int			mt_security_event_max_age = 30 * 86400;
int			mt_security_event_max_rows = 100000;

/* events taken by this worker's flush, until its transaction ends */
static MtSecEvent *drained = NULL;
static int	n_drained = 0;

static void
json_field(StringInfo buf, const char *key, const char *value, bool first)
{
	if (!first)
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	if (value == NULL || value[0] == '\0')
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

static void
write_security_events(void *arg)
{
	MtCatalogCtx c;
	int64	   *ids = palloc(sizeof(int64) * Max(n_drained, 1));

	mt_catalog_begin(&c);
	for (int i = 0; i < n_drained; i++)
	{
		MtSecEvent *e = &drained[i];
		Oid			types[6] = {TIMESTAMPTZOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		values[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
		bool		isnull;

		values[0] = TimestampTzGetDatum(e->at);
		values[1] = UUIDPGetDatum(&e->tenant);
		if (!e->has_tenant)
			nulls[1] = 'n';
		values[2] = CStringGetTextDatum(mt_security_kind_name(e->kind));
		values[3] = CStringGetTextDatum(e->client);
		if (e->client[0] == '\0')
			nulls[3] = 'n';
		values[4] = CStringGetTextDatum(e->subject);
		if (e->subject[0] == '\0')
			nulls[4] = 'n';
		values[5] = CStringGetTextDatum(e->detail);
		if (e->detail[0] == '\0')
			nulls[5] = 'n';
		mt_catalog_execute("INSERT INTO mt.security_event_log (at, tenant_id, kind, client, subject, detail) "
						   "VALUES ($1, $2, $3, $4::pg_catalog.inet, $5, $6) RETURNING id",
						   6, types, values, nulls);
		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	/* bounded: by age, then by count (multitenant.security_event_max_*) */
	{
		Oid			t[1] = {INT4OID};
		Datum		v[1] = {Int32GetDatum(mt_security_event_max_age)};

		mt_catalog_execute("DELETE FROM mt.security_event_log WHERE at OPERATOR(pg_catalog.<) "
						   "(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))",
						   1, t, v, NULL);
		v[0] = Int32GetDatum(mt_security_event_max_rows);
		mt_catalog_execute("DELETE FROM mt.security_event_log WHERE id OPERATOR(pg_catalog.<=) "
						   "((SELECT pg_catalog.max(id) FROM mt.security_event_log) OPERATOR(pg_catalog.-) $1)",
						   1, t, v, NULL);
	}
	mt_catalog_end(&c);

	/* the tenant's audit chain, where the tenant is known */
	for (int i = 0; i < n_drained; i++)
	{
		MtSecEvent *e = &drained[i];
		StringInfoData js;
		char		id[32];
		char	   *at;

		if (!e->has_tenant)
			continue;
		snprintf(id, sizeof(id), INT64_FORMAT, ids[i]);
		at = DatumGetCString(DirectFunctionCall1(timestamptz_out, TimestampTzGetDatum(e->at)));
		initStringInfo(&js);
		appendStringInfoChar(&js, '{');
		json_field(&js, "kind", mt_security_kind_name(e->kind), true);
		json_field(&js, "at", at, false);
		json_field(&js, "client", e->client, false);
		json_field(&js, "subject", e->subject, false);
		json_field(&js, "detail", e->detail, false);
		appendStringInfoChar(&js, '}');
		mt_audit_append(&e->tenant, psprintf("security.%s", mt_security_kind_name(e->kind)),
						"security_event", id,
						DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(js.data))),
						NULL);
	}
}

void
mt_insight_flush_security_events(void)
{
	MtSecEvent *ev;
	ErrorData  *err;
	int			n;

	ev = mt_security_drain_take(MyDatabaseId, mt_security_event_buffer, &n);
	if (n == 0)
		return;
	drained = MemoryContextAlloc(TopMemoryContext, sizeof(MtSecEvent) * n);
	memcpy(drained, ev, sizeof(MtSecEvent) * n);
	n_drained = n;
	err = mt_try_in_subxact(write_security_events, NULL);
	if (err != NULL)
	{
		/* the usage flush goes on; the events wait for the next flush */
		ereport(WARNING,
				(errmsg("could not write %d security events: %s", n, err->message)));
		FreeErrorData(err);
		mt_insight_flush_finish(false);
	}
}

void
mt_insight_flush_finish(bool committed)
{
	if (drained == NULL)
		return;
	mt_security_drain_done(drained, n_drained, committed);
	pfree(drained);
	drained = NULL;
	n_drained = 0;
}

void
mt_insight_discard_security_events(Oid dbid)
{
	int			n;
	MtSecEvent *ev = mt_security_drain_take(dbid, mt_security_event_buffer, &n);

	mt_security_drain_done(ev, n, true);
}

/* ---------------------------------------------------------------------
 * Anomalies: mt.detect_anomalies(since)
 * --------------------------------------------------------------------- */

/* GUC variables (defined in multitenant.c) */
int			mt_anomaly_burst_window = 300;
int			mt_anomaly_burst_threshold = 20;
int			mt_anomaly_baseline_hours = 168;
int			mt_anomaly_min_baseline_hours = 24;
double		mt_anomaly_stddevs = 4.0;
int			mt_anomaly_min_usage = 100;
double		mt_anomaly_off_hours_share = 1.0;

/*
 * Every rule in one statement, run as the extension owner with
 * search_path = pg_catalog, pg_temp (operands of built-in types only):
 * failure bursts per client address, key (or token subject) and tenant
 * in fixed windows of mt.security_event_log; usage of an hour far above
 * the tenant's trailing hourly mean (k standard deviations); usage in an
 * hour of the day (UTC) that held less than a share of the tenant's
 * baseline; an API key used from a client network (mt.api_key_networks,
 * written by the last-use flush of api_keys.c) first seen in the window
 * while the key had networks known before it (a key's first networks are
 * never a finding).  New findings (by fingerprint) are inserted into
 * mt.anomaly_findings; every finding is returned with new = true/false.
 */
static const char *const anomaly_sql =
"WITH params AS (\n"
"    SELECT $1::timestamptz AS since, $2::int AS burst_window, $3::int AS burst_threshold,\n"
"           $4::int AS baseline_hours, $5::int AS min_baseline_hours, $6::float8 AS k,\n"
"           $7::bigint AS min_usage, $8::float8 AS off_share,\n"
"           pg_catalog.date_trunc('hour', $1::timestamptz, 'UTC') AS since_hour),\n"
"ev AS (\n"
"    SELECT e.at, e.tenant_id, e.client, e.subject,\n"
"           pg_catalog.floor(pg_catalog.date_part('epoch', e.at) / p.burst_window)::bigint AS w\n"
"    FROM mt.security_event_log e, params p\n"
"    WHERE e.at >= p.since\n"
"      AND e.kind = ANY (ARRAY['auth_failed', 'token_forged', 'token_expired', 'throttled'])),\n"
"dims AS (\n"
"    SELECT 'client'::text AS dim, pg_catalog.host(client) AS val, NULL::uuid AS tenant_id, client, NULL::text AS subject, w, at\n"
"    FROM ev WHERE client IS NOT NULL\n"
"    UNION ALL\n"
"    SELECT 'key', subject, tenant_id, NULL::inet, subject, w, at FROM ev WHERE subject IS NOT NULL\n"
"    UNION ALL\n"
"    SELECT 'tenant', tenant_id::text, tenant_id, NULL::inet, NULL::text, w, at FROM ev WHERE tenant_id IS NOT NULL),\n"
"per_window AS (\n"
"    SELECT dim, val, tenant_id, client, subject, w, pg_catalog.count(*) AS n,\n"
"           pg_catalog.min(at) AS f, pg_catalog.max(at) AS l\n"
"    FROM dims GROUP BY dim, val, tenant_id, client, subject, w),\n"
"bursts AS (\n"
"    SELECT 'failure_burst_' || b.dim AS rule,\n"
"           b.n::float8 / p.burst_threshold AS score,\n"
"           b.tenant_id, b.subject, b.client, b.f AS first_seen, b.l AS last_seen,\n"
"           pg_catalog.jsonb_build_object('dimension', b.dim, 'failures', b.n,\n"
"               'window_seconds', p.burst_window, 'threshold', p.burst_threshold) AS evidence,\n"
"           pg_catalog.concat_ws('|', 'burst', b.dim, b.val, b.tenant_id, b.w) AS fingerprint\n"
"    FROM per_window b, params p\n"
"    WHERE b.n >= p.burst_threshold),\n"
"base AS (\n"
"    SELECT r.tenant_id, r.metric,\n"
"           pg_catalog.sum(r.value)::float8 AS s,\n"
"           pg_catalog.sum(r.value::float8 * r.value::float8) AS ss,\n"
"           pg_catalog.count(*) AS hours_with_data\n"
"    FROM mt.usage_rollup r, params p\n"
"    WHERE r.bucket >= p.since_hour - pg_catalog.make_interval(hours => p.baseline_hours)\n"
"      AND r.bucket < p.since_hour\n"
"    GROUP BY r.tenant_id, r.metric),\n"
"stats AS (\n"
"    SELECT b.tenant_id, b.metric, b.hours_with_data, b.s,\n"
"           b.s / p.baseline_hours AS mean,\n"
"           pg_catalog.sqrt(greatest(b.ss / p.baseline_hours - (b.s / p.baseline_hours) ^ 2, 0)) AS sd\n"
"    FROM base b, params p\n"
"    WHERE b.hours_with_data >= p.min_baseline_hours),\n"
"cur AS (\n"
"    SELECT r.tenant_id, r.metric, r.bucket, r.value\n"
"    FROM mt.usage_rollup r, params p\n"
"    WHERE r.bucket >= p.since_hour AND r.value >= p.min_usage),\n"
"spikes AS (\n"
"    SELECT 'usage_spike'::text AS rule,\n"
"           (c.value - s.mean) / greatest(s.sd, 1) AS score,\n"
"           c.tenant_id, c.metric AS subject, NULL::inet AS client,\n"
"           c.bucket AS first_seen, c.bucket + interval '1 hour' AS last_seen,\n"
"           pg_catalog.jsonb_build_object('metric', c.metric, 'hour', c.bucket, 'value', c.value,\n"
"               'baseline_mean', pg_catalog.round(s.mean::numeric, 2),\n"
"               'baseline_stddev', pg_catalog.round(s.sd::numeric, 2),\n"
"               'stddevs', p.k, 'baseline_hours', p.baseline_hours) AS evidence,\n"
"           pg_catalog.concat_ws('|', 'spike', c.tenant_id, c.metric, c.bucket) AS fingerprint\n"
"    FROM cur c JOIN stats s ON s.tenant_id = c.tenant_id AND s.metric = c.metric, params p\n"
"    WHERE c.value > s.mean + p.k * greatest(s.sd, 1)),\n"
"profile AS (\n"
"    SELECT r.tenant_id, r.metric,\n"
"           pg_catalog.date_part('hour', pg_catalog.timezone('UTC', r.bucket))::int AS hod,\n"
"           pg_catalog.sum(r.value)::float8 AS v\n"
"    FROM mt.usage_rollup r JOIN stats s ON s.tenant_id = r.tenant_id AND s.metric = r.metric, params p\n"
"    WHERE r.bucket >= p.since_hour - pg_catalog.make_interval(hours => p.baseline_hours)\n"
"      AND r.bucket < p.since_hour\n"
"    GROUP BY 1, 2, 3),\n"
"off_hours AS (\n"
"    SELECT 'off_hours'::text AS rule,\n"
"           least(100, c.value / greatest(\n"
"               coalesce(pr.v, 0) / greatest(p.baseline_hours / 24.0, 1), 1)) AS score,\n"
"           c.tenant_id, c.metric AS subject, NULL::inet AS client,\n"
"           c.bucket AS first_seen, c.bucket + interval '1 hour' AS last_seen,\n"
"           pg_catalog.jsonb_build_object('metric', c.metric, 'hour', c.bucket, 'value', c.value,\n"
"               'hour_of_day_utc', pg_catalog.date_part('hour', pg_catalog.timezone('UTC', c.bucket)),\n"
"               'share_of_baseline_percent', pg_catalog.round((100 * coalesce(pr.v, 0) / s.s)::numeric, 3),\n"
"               'threshold_percent', p.off_share) AS evidence,\n"
"           pg_catalog.concat_ws('|', 'off_hours', c.tenant_id, c.metric, c.bucket) AS fingerprint\n"
"    FROM cur c JOIN stats s ON s.tenant_id = c.tenant_id AND s.metric = c.metric\n"
"         CROSS JOIN params p\n"
"         LEFT JOIN profile pr ON pr.tenant_id = c.tenant_id AND pr.metric = c.metric\n"
"              AND pr.hod = pg_catalog.date_part('hour', pg_catalog.timezone('UTC', c.bucket))::int\n"
"    WHERE s.s > 0 AND 100 * coalesce(pr.v, 0) / s.s < p.off_share),\n"
"new_networks AS (\n"
"    SELECT 'new_network'::text AS rule, 1::float8 AS score,\n"
"           s.tenant_id, n.key_id AS subject, n.network::inet AS client,\n"
"           n.first_seen, n.last_seen,\n"
"           pg_catalog.jsonb_build_object('key_id', n.key_id, 'network', n.network::text,\n"
"               'first_seen', n.first_seen, 'known_networks', k.known,\n"
"               'known_since', k.earliest) AS evidence,\n"
"           pg_catalog.concat_ws('|', 'new_network', n.key_id, n.network) AS fingerprint\n"
"    FROM mt.api_key_networks n JOIN mt.api_key_secrets s ON s.key_id = n.key_id\n"
"         CROSS JOIN params p\n"
"         CROSS JOIN LATERAL (SELECT pg_catalog.count(*) AS known, pg_catalog.min(o.first_seen) AS earliest\n"
"                             FROM mt.api_key_networks o\n"
"                             WHERE o.key_id = n.key_id AND o.first_seen < p.since) k\n"
"    WHERE n.first_seen >= p.since AND k.known > 0),\n"
"found AS (\n"
"    SELECT * FROM bursts UNION ALL SELECT * FROM spikes UNION ALL SELECT * FROM off_hours\n"
"    UNION ALL SELECT * FROM new_networks),\n"
"ins AS (\n"
"    INSERT INTO mt.anomaly_findings (rule, score, tenant_id, subject, client, first_seen, last_seen, evidence, fingerprint)\n"
"    SELECT rule, score, tenant_id, subject, client, first_seen, last_seen, evidence, fingerprint FROM found\n"
"    ON CONFLICT (fingerprint) DO NOTHING\n"
"    RETURNING fingerprint)\n"
"SELECT f.rule, pg_catalog.round(f.score::numeric, 2)::float8 AS score, f.tenant_id, f.subject, f.client,\n"
"       f.first_seen, f.last_seen, f.evidence, (i.fingerprint IS NOT NULL) AS new\n"
"FROM found f LEFT JOIN ins i ON i.fingerprint = f.fingerprint\n"
"ORDER BY 2 DESC, 1, 6\n";

PG_FUNCTION_INFO_V1(mt_detect_anomalies);
Datum
mt_detect_anomalies(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MtCatalogCtx c;
	Oid			types[8] = {TIMESTAMPTZOID, INT4OID, INT4OID, INT4OID, INT4OID,
	FLOAT8OID, INT8OID, FLOAT8OID};
	Datum		values[8];
	StringInfoData payload;
	int			nnew = 0;
	List	   *rules = NIL;

	mt_require_writable("mt.detect_anomalies()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "since");
	InitMaterializedSRF(fcinfo, 0);
	values[0] = PG_GETARG_DATUM(0);
	values[1] = Int32GetDatum(mt_anomaly_burst_window);
	values[2] = Int32GetDatum(mt_anomaly_burst_threshold);
	values[3] = Int32GetDatum(mt_anomaly_baseline_hours);
	values[4] = Int32GetDatum(mt_anomaly_min_baseline_hours);
	values[5] = Float8GetDatum(mt_anomaly_stddevs);
	values[6] = Int64GetDatum((int64) mt_anomaly_min_usage);
	values[7] = Float8GetDatum(mt_anomaly_off_hours_share);

	mt_catalog_begin(&c);
	mt_catalog_execute(anomaly_sql, 8, types, values, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		isnew = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 9, &isnull);

		if (!isnull && DatumGetBool(isnew))
		{
			char	   *rule = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			MemoryContext old = MemoryContextSwitchTo(c.outer);

			nnew++;
			rules = list_append_unique(rules, makeString(pstrdup(rule)));
			MemoryContextSwitchTo(old);
		}
	}
	mt_spi_rows_to_tuplestore(rsinfo);

	/* new findings: a NOTIFY with counts only (no tenant, key or address) */
	if (nnew > 0)
	{
		Oid			t[1] = {TEXTOID};
		Datum		v[1];
		ListCell   *lc;
		bool		first = true;

		initStringInfo(&payload);
		appendStringInfo(&payload, "{\"new_findings\":%d,\"rules\":[", nnew);
		foreach(lc, rules)
		{
			if (!first)
				appendStringInfoChar(&payload, ',');
			escape_json(&payload, strVal(lfirst(lc)));
			first = false;
		}
		appendStringInfoString(&payload, "]}");
		v[0] = CStringGetTextDatum(payload.data);
		mt_catalog_execute("SELECT pg_catalog.pg_notify('mt_anomalies', $1)", 1, t, v, NULL);
	}
	mt_catalog_end(&c);
	return (Datum) 0;
}
