-- multitenant 0.4.0 -> 0.5.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.4.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.4.0 (and every earlier release, through the chain of
-- scripts) has exactly the objects of a fresh 0.5.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------
-- Usage export for billing (issue 19 item 4): mt.usage_export_log, the
-- rollup's bucket index, mt.usage_export(), the correction trigger.
-- Existing rollup history is exported by the first close (doc/billing.md).
-- ---------------------------------------------------------------------
CREATE TABLE mt.usage_export_log (
    cursor           bigint PRIMARY KEY CHECK (cursor > 0),
    idempotency_key  text NOT NULL UNIQUE,
    tenant_id        uuid NOT NULL,
    metric           text NOT NULL CHECK (metric ~ '^[a-z0-9_.:-]{1,63}$'),
    period_start     timestamptz NOT NULL
        CHECK (period_start = pg_catalog.date_trunc('hour', period_start, 'UTC')),
    period_end       timestamptz NOT NULL,
    quantity         bigint NOT NULL CHECK (quantity >= 0),
    version          integer NOT NULL CHECK (version > 0),
    closed_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (tenant_id, metric, period_start, version),
    CHECK (period_end = period_start + interval '1 hour')
);
CREATE INDEX usage_export_log_period ON mt.usage_export_log (period_start);

-- the closer scans the rollup by hour
CREATE INDEX usage_rollup_bucket ON mt.usage_rollup (bucket);

-- ---------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.usage_export(after_cursor bigint DEFAULT 0, max_rows integer DEFAULT 10000)
    RETURNS TABLE (cursor bigint, idempotency_key text, tenant_id uuid, metric text,
                   period_start timestamptz, period_end timestamptz, quantity bigint,
                   version integer)
    AS 'MODULE_PATHNAME', 'mt_usage_export' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- late usage for a closed hour: a new version, in the writing transaction
CREATE FUNCTION mt.usage_export_correct() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_usage_export_correct' LANGUAGE C;
CREATE TRIGGER usage_export_insert AFTER INSERT ON mt.usage_rollup
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_export_correct();
CREATE TRIGGER usage_export_update AFTER UPDATE ON mt.usage_rollup
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_export_correct();

-- ---------------------------------------------------------------------
-- Privileges: the log is read through mt.usage_export only (billing role)
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION mt.usage_export(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.usage_export_correct() FROM PUBLIC;
REVOKE ALL ON mt.usage_export_log FROM PUBLIC;
ALTER TABLE mt.usage_export_log ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('mt.usage_export_log', '');

-- ---------------------------------------------------------------------
-- Comments (wording from doc/billing.md)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.usage_export_log IS 'Closed usage periods (UTC hours) per tenant and metric, append-only, one row per version, in cursor (commit) order; read through mt.usage_export().';
COMMENT ON FUNCTION mt.usage_export(bigint, integer) IS 'Privileged (billing role, back office): closed usage periods after a cursor, each with a deterministic idempotency key (tenant, metric, period start, version), at most max_rows, in cursor order.';
COMMENT ON FUNCTION mt.usage_export_correct() IS 'Internal: statement trigger on mt.usage_rollup that appends a new version to mt.usage_export_log when usage arrives for an hour already exported.';
COMMENT ON INDEX mt.usage_export_log_period IS 'The latest closed hour (where the next close of usage periods starts).';
COMMENT ON INDEX mt.usage_rollup_bucket IS 'Rollup rows of an hour range (the close of usage periods for billing).';
INSERT INTO mt.privileged_functions (f) VALUES ('mt.usage_export(bigint,integer)'), ('mt.usage_export_correct()');

-- ---------------------------------------------------------------------
-- Invoice preview (issue 19 item 4): mt.plan_limits.included, the plan
-- history of tenants (seeded with each tenant's plan since its creation),
-- mt.invoice_preview(), the trigger that records plan changes.
-- ---------------------------------------------------------------------
ALTER TABLE mt.plan_limits ADD COLUMN included bigint CHECK (included >= 0);
CREATE TABLE mt.tenant_plan_history (
    tenant_id   uuid NOT NULL REFERENCES mt.tenants (id) ON DELETE CASCADE,
    plan        text NOT NULL REFERENCES mt.plans (name) ON UPDATE CASCADE,
    valid_from  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, valid_from)
);
-- every tenant's current plan since its creation (no earlier history is known)
INSERT INTO mt.tenant_plan_history (tenant_id, plan, valid_from)
SELECT id, plan, created_at FROM mt.tenants;
CREATE FUNCTION mt.invoice_preview(tenant uuid, period_start timestamptz) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_invoice_preview' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- a tenant's plan from now on (creation and every change of plan)
CREATE FUNCTION mt.tenant_plan_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_tenant_plan_changed' LANGUAGE C;
CREATE TRIGGER tenant_plan_changed AFTER INSERT OR UPDATE OF plan ON mt.tenants
    FOR EACH ROW EXECUTE FUNCTION mt.tenant_plan_changed();

REVOKE ALL ON FUNCTION mt.invoice_preview(uuid, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.tenant_plan_changed() FROM PUBLIC;
GRANT SELECT ON mt.tenant_plan_history TO PUBLIC;
ALTER TABLE mt.tenant_plan_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON mt.tenant_plan_history FOR SELECT USING (tenant_id = mt.current_tenant());
SELECT pg_catalog.pg_extension_config_dump('mt.tenant_plan_history', '');
COMMENT ON COLUMN mt.plan_limits.included IS 'Amount included in the plan''s price per period before overage is charged; NULL = the hard limit.';
COMMENT ON TABLE mt.tenant_plan_history IS 'Which plan each tenant was on since when (written when a tenant is created or its plan changes); mt.invoice_preview prorates by it; tenants read their own rows.';
COMMENT ON FUNCTION mt.invoice_preview(uuid, timestamptz) IS 'Privileged (billing role, back office): prices a tenant''s UTC month from its plans'' base prices, included amounts and overage prices, prorated by seconds across plan changes, as jsonb.';
COMMENT ON FUNCTION mt.tenant_plan_changed() IS 'Internal: row trigger on mt.tenants that records a tenant''s plan from now on in mt.tenant_plan_history.';
INSERT INTO mt.privileged_functions (f) VALUES ('mt.invoice_preview(uuid,timestamp with time zone)'), ('mt.tenant_plan_changed()');
-- tenant-rest: a tenant placed at the schema or database level is refused by
-- the shared isolated tables; its level is cached per backend and
-- invalidated by the registry trigger (as mt.tenants)
CREATE TRIGGER tenant_placements_changed AFTER INSERT OR UPDATE OR DELETE ON mt.tenant_placements
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER tenant_placements_truncated AFTER TRUNCATE ON mt.tenant_placements
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
ALTER TABLE mt.tenant_placements ENABLE ALWAYS TRIGGER tenant_placements_changed;
ALTER TABLE mt.tenant_placements ENABLE ALWAYS TRIGGER tenant_placements_truncated;
COMMENT ON FUNCTION mt.tenants_changed() IS 'Internal: statement trigger on mt.tenants, mt.api_key_secrets, mt.roles, mt.role_assignments, mt.workspaces and mt.tenant_placements that invalidates every backend''s tenant-status, placement-level, key and permission caches at commit.';
-- moving a tenant between the shared and the schema level: mt.move_tenant
CREATE FUNCTION mt.move_tenant(tenant uuid, to_level text, target text DEFAULT NULL,
    OUT item text, OUT rows bigint, OUT detail text) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mt_move_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.move_tenant(uuid, text, text) FROM PUBLIC;
COMMENT ON FUNCTION mt.move_tenant(uuid, text, text) IS 'Privileged (the migration role): moves a tenant between the shared level and its own schema (to_level schema, target = the template schema; to_level shared) in the caller''s READ COMMITTED transaction: rows of every isolated table moved with their ids, sequences advanced, placement switched, tenant.moved audited; the tenant''s transactions that start meanwhile wait for the move''s end. On Citus, to_level shard (target = an optional node host:port) gives a shared tenant its own shard group. One row per table (or co-location group) and one for the placement.';
INSERT INTO mt.privileged_functions VALUES ('mt.move_tenant(uuid,text,text)');
