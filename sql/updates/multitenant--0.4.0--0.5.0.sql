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
