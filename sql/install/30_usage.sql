-- multitenant install script, part 30: usage metering, quotas, rate limits.
-- Counting happens in shared memory (src/usage.c); a background worker
-- flushes the counts into mt.usage_rollup every multitenant.flush_interval.

-- ---------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------

-- Flushed usage, one row per tenant, metric and UTC hour.
CREATE TABLE mt.usage_rollup (
    tenant_id  uuid NOT NULL,
    metric     text NOT NULL CHECK (metric ~ '^[a-z0-9_.:-]{1,63}$'),
    bucket     timestamptz NOT NULL CHECK (bucket = pg_catalog.date_trunc('hour', bucket, 'UTC')),
    value      bigint NOT NULL CHECK (value >= 0),
    PRIMARY KEY (tenant_id, metric, bucket)
);

-- Per-tenant overrides of the plan's limits (mt.plan_limits).
CREATE TABLE mt.tenant_quotas (
    tenant_id   uuid NOT NULL REFERENCES mt.tenants (id) ON DELETE CASCADE,
    metric      text NOT NULL CHECK (metric ~ '^[a-z0-9_.:-]{1,63}$'),
    period      text NOT NULL DEFAULT 'month' CHECK (period IN ('day', 'month')),
    hard_limit  bigint CHECK (hard_limit >= 0),
    soft_limit  bigint CHECK (soft_limit >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, metric),
    CHECK (soft_limit IS NULL OR hard_limit IS NULL OR soft_limit <= hard_limit)
);

-- First crossing of a soft limit, once per tenant, metric and period.
CREATE TABLE mt.usage_alerts (
    tenant_id     uuid NOT NULL,
    metric        text NOT NULL,
    period        text NOT NULL CHECK (period IN ('day', 'month')),
    period_start  timestamptz NOT NULL,
    used          bigint NOT NULL,
    soft_limit    bigint NOT NULL,
    hard_limit    bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, metric, period, period_start)
);

-- ---------------------------------------------------------------------
-- Functions.  Counting and reading run as the caller; the C code runs its
-- internal SQL as the owner of these tables with a fixed search_path.
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.track(metric text, amount bigint DEFAULT 1) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_track' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.consume(metric text, amount bigint DEFAULT 1) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_consume' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.usage(tenant uuid DEFAULT mt.current_tenant(), period text DEFAULT 'month')
    RETURNS TABLE (metric text, used bigint, soft_limit bigint, hard_limit bigint,
                   period_start timestamptz, limit_period text)
    AS 'MODULE_PATHNAME', 'mt_usage' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.usage_history(tenant uuid DEFAULT mt.current_tenant(), metric text DEFAULT NULL,
                                 from_time timestamptz DEFAULT now() - interval '30 days',
                                 to_time timestamptz DEFAULT now(),
                                 granularity text DEFAULT 'day')
    RETURNS TABLE (bucket timestamptz, metric text, value bigint)
    AS 'MODULE_PATHNAME', 'mt_usage_history' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.usage_cost(tenant uuid DEFAULT mt.current_tenant(), month timestamptz DEFAULT now())
    RETURNS TABLE (item text, metric text, period text, used bigint, included bigint,
                   billable_units bigint, amount_cents numeric, currency text)
    AS 'MODULE_PATHNAME', 'mt_usage_cost' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.rate_limit(bucket text, per_second float8, burst integer) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_rate_limit' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- privileged: quota management and flushing
CREATE FUNCTION mt.set_quota(tenant uuid, metric text, hard_limit bigint,
                             soft_limit bigint DEFAULT NULL, period text DEFAULT 'month') RETURNS void
    AS 'MODULE_PATHNAME', 'mt_set_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.reset_quota(tenant uuid, metric text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_reset_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.flush_usage() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_flush_usage' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- cached quotas are re-read after any change to where they come from
CREATE FUNCTION mt.usage_quota_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_usage_quota_changed' LANGUAGE C;
CREATE TRIGGER usage_quota_changed AFTER INSERT OR UPDATE OR DELETE ON mt.plan_limits
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();
CREATE TRIGGER usage_quota_truncated AFTER TRUNCATE ON mt.plan_limits
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();
CREATE TRIGGER usage_quota_changed AFTER INSERT OR UPDATE OR DELETE ON mt.tenant_quotas
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();
CREATE TRIGGER usage_quota_truncated AFTER TRUNCATE ON mt.tenant_quotas
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();
CREATE TRIGGER usage_quota_changed AFTER UPDATE OF plan OR DELETE ON mt.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();
CREATE TRIGGER usage_quota_truncated AFTER TRUNCATE ON mt.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();

-- counters left in shared memory by an earlier installation in this
-- database belong to tables that no longer exist
CREATE FUNCTION mt.usage_reset_database() RETURNS void
    AS 'MODULE_PATHNAME', 'mt_usage_reset_database' LANGUAGE C;
SELECT mt.usage_reset_database();
DROP FUNCTION mt.usage_reset_database();

-- ---------------------------------------------------------------------
-- Privileges and confinement
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION mt.set_quota(uuid, text, bigint, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.reset_quota(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.flush_usage() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.usage_quota_changed() FROM PUBLIC;

GRANT SELECT ON mt.usage_rollup, mt.usage_alerts, mt.tenant_quotas TO PUBLIC;
ALTER TABLE mt.usage_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.usage_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.tenant_quotas ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON mt.usage_rollup FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_rows ON mt.usage_alerts FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_rows ON mt.tenant_quotas FOR SELECT USING (tenant_id = mt.current_tenant());

SELECT pg_catalog.pg_extension_config_dump('mt.usage_rollup', '');
SELECT pg_catalog.pg_extension_config_dump('mt.usage_alerts', '');
SELECT pg_catalog.pg_extension_config_dump('mt.tenant_quotas', '');

-- quota caches must hear about changes made under
-- session_replication_role = replica too (apply workers, restores)
ALTER TABLE mt.plan_limits ENABLE ALWAYS TRIGGER usage_quota_changed;
ALTER TABLE mt.plan_limits ENABLE ALWAYS TRIGGER usage_quota_truncated;
ALTER TABLE mt.tenant_quotas ENABLE ALWAYS TRIGGER usage_quota_changed;
ALTER TABLE mt.tenant_quotas ENABLE ALWAYS TRIGGER usage_quota_truncated;
ALTER TABLE mt.tenants ENABLE ALWAYS TRIGGER usage_quota_changed;
ALTER TABLE mt.tenants ENABLE ALWAYS TRIGGER usage_quota_truncated;

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/usage.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.usage_rollup IS 'Flushed usage, one row per tenant, metric and UTC hour, written only by the flush workers; tenants read their own rows.';
COMMENT ON TABLE mt.tenant_quotas IS 'Per-tenant overrides of the plan''s limits (mt.set_quota); tenants read their own rows.';
COMMENT ON TABLE mt.usage_alerts IS 'First crossing of a soft limit, once per tenant, metric and period (NOTIFY multitenant_usage); tenants read their own rows.';
COMMENT ON FUNCTION mt.track(text, bigint) IS 'Counts an amount of a metric for the current tenant and returns the total of its quota period; never refused by a quota.';
COMMENT ON FUNCTION mt.consume(text, bigint) IS 'As mt.track(), but refused with 54000 (nothing counted) when the total would exceed the hard limit.';
COMMENT ON FUNCTION mt.usage(uuid, text) IS 'Usage per metric in the current UTC day or month with its limits, for the current tenant or a tenant the caller can see.';
COMMENT ON FUNCTION mt.usage_history(uuid, text, timestamptz, timestamptz, text) IS 'Usage summed per hour, day, week or month over a time range, for the current tenant or a tenant the caller can see.';
COMMENT ON FUNCTION mt.usage_cost(uuid, timestamptz) IS 'Cost estimate for a UTC month: the plan price, the overage of each plan limit, and the total.';
COMMENT ON FUNCTION mt.rate_limit(text, double precision, integer) IS 'GCRA rate limit in shared memory per bucket of the current tenant (or database): true when the call is allowed.';
COMMENT ON FUNCTION mt.set_quota(uuid, text, bigint, bigint, text) IS 'Privileged (billing administrators): creates or replaces a tenant''s override of its plan''s limits for a metric.';
COMMENT ON FUNCTION mt.reset_quota(uuid, text) IS 'Privileged (billing administrators): removes a tenant''s override, so the plan''s limit applies again.';
COMMENT ON FUNCTION mt.flush_usage() IS 'Privileged (admins): flushes this database''s pending counts to mt.usage_rollup now and returns the rows written.';
COMMENT ON FUNCTION mt.usage_quota_changed() IS 'Internal: statement trigger on mt.plan_limits, mt.tenant_quotas and mt.tenants that makes every session re-read its cached quotas.';
