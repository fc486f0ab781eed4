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
-- invalidated by the registry trigger (as mt.tenants; per row, so that the
-- empty DELETE of the sql_drop event trigger marks nothing)
CREATE TRIGGER tenant_placements_changed AFTER INSERT OR UPDATE OR DELETE ON mt.tenant_placements
    FOR EACH ROW EXECUTE FUNCTION mt.tenants_changed();
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
-- Insight: per-tenant statistics (mt.stat_tenants, mt.stat_tenants_reset)
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.stat_tenants_rows()
    RETURNS TABLE (scope text, tenant_id uuid, auth_ok bigint, auth_failed bigint,
                   tokens_entered bigint, metered_calls bigint, quota_refusals bigint,
                   rate_limited bigint, audit_events bigint,
                   since timestamptz, last_active timestamptz)
    AS 'MODULE_PATHNAME', 'mt_stat_tenants_rows' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE VIEW mt.stat_tenants AS
    SELECT scope, tenant_id, auth_ok, auth_failed, tokens_entered, metered_calls,
           quota_refusals, rate_limited, audit_events, since, last_active
    FROM mt.stat_tenants_rows();
GRANT SELECT ON mt.stat_tenants TO PUBLIC;
CREATE FUNCTION mt.stat_tenants_reset() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_stat_tenants_reset' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.stat_tenants_reset() FROM PUBLIC;
INSERT INTO mt.privileged_functions (f) VALUES ('mt.stat_tenants_reset()');

COMMENT ON FUNCTION mt.stat_tenants_rows() IS 'The rows of mt.stat_tenants: inside a tenant context that tenant''s own row, outside one every row of the database for superusers and members of pg_read_all_stats (pg_monitor), none for anyone else.';
COMMENT ON VIEW mt.stat_tenants IS 'Per-tenant statistics counted in shared memory (authentications, tokens entered, metered calls, quota and rate-limit refusals, audit events); scope none counts calls without a known tenant, scope evicted the sum of the tenants evicted from shared memory.';
COMMENT ON FUNCTION mt.stat_tenants_reset() IS 'Privileged (admins): removes every statistics row of this database from shared memory; returns how many there were.';

-- ---------------------------------------------------------------------
-- Insight: Prometheus metrics (mt.metrics, mt.metrics_series)
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.metrics() RETURNS text
    AS 'MODULE_PATHNAME', 'mt_metrics' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION mt.metrics_series()
    RETURNS TABLE (series text, tenant_id uuid, tenant text, plan text, tenants bigint,
                   last_active timestamptz, auth_ok bigint, auth_failed bigint,
                   tokens_entered bigint, metered_calls bigint, quota_refusals bigint,
                   rate_limited bigint, audit_events bigint)
    AS 'MODULE_PATHNAME', 'mt_metrics_series' LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION mt.metrics() IS 'Prometheus text exposition of the per-tenant statistics: series for the multitenant.metrics_top_tenants most active tenants, sums per plan, tenant counts; for superusers and pg_read_all_stats (pg_monitor) outside a tenant context.';
COMMENT ON FUNCTION mt.metrics_series() IS 'The numbers of mt.metrics() as rows (series tenant: the most active tenants; series plan: sums per plan), for postgres_exporter''s queries.yaml (contrib/prometheus).';

-- ---------------------------------------------------------------------
-- Insight: security events (mt.security_event_log, mt.security_events)
-- ---------------------------------------------------------------------
CREATE TABLE mt.security_event_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    tenant_id   uuid,
    kind        text NOT NULL,
    client      inet,
    subject     text,
    detail      text,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX security_event_log_at ON mt.security_event_log (at);
CREATE INDEX security_event_log_tenant ON mt.security_event_log (tenant_id, at);
REVOKE ALL ON mt.security_event_log FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('mt.security_event_log', '');
SELECT pg_catalog.pg_extension_config_dump('mt.security_event_log_id_seq', '');
CREATE VIEW mt.security_events WITH (security_barrier = true) AS
    SELECT id, at, tenant_id, kind, client, subject, detail, recorded_at
    FROM mt.security_event_log
    WHERE CASE WHEN mt.current_tenant() IS NOT NULL
               THEN tenant_id OPERATOR(pg_catalog.=) mt.current_tenant()
               ELSE pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE') END;
GRANT SELECT ON mt.security_events TO PUBLIC;

COMMENT ON TABLE mt.security_event_log IS 'Security events (failed authentications, throttled clients, forged and expired tokens, quota breaches, audit chains found tampered, policy violations) written by the flush worker from shared memory; bounded by multitenant.security_event_max_age and security_event_max_rows; readable through mt.security_events.';
COMMENT ON VIEW mt.security_events IS 'Security events: inside a tenant context that tenant''s own, outside one every event for superusers and members of pg_read_all_stats (pg_monitor), none for anyone else.';
COMMENT ON INDEX mt.security_event_log_at IS 'Pruning by age (multitenant.security_event_max_age) and reading by time.';
COMMENT ON INDEX mt.security_event_log_tenant IS 'A tenant''s security events by time.';

-- ---------------------------------------------------------------------
-- Insight: anomaly detection (mt.detect_anomalies, mt.anomaly_findings)
-- ---------------------------------------------------------------------
CREATE TABLE mt.anomaly_findings (
    id          bigserial PRIMARY KEY,
    rule        text NOT NULL,
    score       float8 NOT NULL,
    tenant_id   uuid,
    subject     text,
    client      inet,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    evidence    jsonb NOT NULL,
    fingerprint text NOT NULL UNIQUE,
    detected_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON mt.anomaly_findings FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('mt.anomaly_findings', '');
SELECT pg_catalog.pg_extension_config_dump('mt.anomaly_findings_id_seq', '');
CREATE FUNCTION mt.detect_anomalies(since timestamptz DEFAULT pg_catalog.now() - interval '1 hour')
    RETURNS TABLE (rule text, score float8, tenant_id uuid, subject text, client inet,
                   first_seen timestamptz, last_seen timestamptz, evidence jsonb, new boolean)
    AS 'MODULE_PATHNAME', 'mt_detect_anomalies' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.detect_anomalies(timestamptz) FROM PUBLIC;

COMMENT ON TABLE mt.anomaly_findings IS 'Findings of mt.detect_anomalies(), one row per finding (by fingerprint), for a job to page on; readable by the extension owner and whom it grants.';
COMMENT ON FUNCTION mt.detect_anomalies(timestamptz) IS 'Privileged (security operators): scored anomalies since a time (failure bursts per client, key and tenant; usage spikes over the tenant''s hourly baseline; usage outside its usual hours) with evidence; records new ones in mt.anomaly_findings and NOTIFYs mt_anomalies with counts only.';
INSERT INTO mt.privileged_functions (f) VALUES ('mt.detect_anomalies(timestamp with time zone)');
COMMENT ON FUNCTION mt.tenants_changed() IS 'Internal: statement trigger on mt.tenants, mt.api_key_secrets, mt.roles, mt.role_assignments and mt.workspaces (row trigger on mt.tenant_placements) that invalidates every backend''s tenant-status, placement-level, key and permission caches at commit.';
-- audit sealing (issue 18): appends go in unsealed, without the chain lock;
-- the sealer (background worker, mt.audit_seal(), verify, digest, prune)
-- links committed events into their chains.  Rows of 0.4.0 are all sealed
-- already and keep verifying unchanged.
ALTER TABLE mt.audit_log ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE mt.audit_log ALTER COLUMN prev_hash DROP NOT NULL;
CREATE INDEX audit_log_unsealed ON mt.audit_log (tenant_id, id) WHERE seq IS NULL;
COMMENT ON INDEX mt.audit_log_unsealed IS 'The audit events not yet linked into their chain, per tenant in id order (the sealer''s work list).';
CREATE FUNCTION mt.audit_seal() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_seal' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.audit_seal() FROM PUBLIC;
COMMENT ON FUNCTION mt.audit_seal() IS 'Privileged (auditors, admins): links every committed, not yet sealed audit event into its chain now (the background worker does it every multitenant.audit_seal_interval).';
INSERT INTO mt.privileged_functions (f) VALUES ('mt.audit_seal()');
-- mt.audit_verify gains unsealed and oldest_unsealed.  DROP FUNCTION loses
-- the EXECUTE grants a DBA gave (auditors): note them, give them back below
SELECT pg_catalog.set_config('mt.upgrade_grantees_audit_verify',
    coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ')
              FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a, pg_catalog.pg_roles r
              WHERE p.oid = 'mt.audit_verify(uuid,jsonb)'::pg_catalog.regprocedure
                AND a.privilege_type = 'EXECUTE' AND r.oid = a.grantee AND a.grantee <> p.proowner), ''),
    true);
DROP FUNCTION mt.audit_verify(uuid, jsonb);
CREATE FUNCTION mt.audit_verify(tenant uuid DEFAULT NULL, digest jsonb DEFAULT NULL)
    RETURNS TABLE (tenant_id uuid, ok boolean, rows_checked bigint, first_bad_id bigint,
                   head_seq bigint, problem text, unsealed bigint, oldest_unsealed timestamptz)
    AS 'MODULE_PATHNAME', 'mt_audit_verify' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.audit_verify(uuid, jsonb) FROM PUBLIC;
DO $$
DECLARE
    grantees text := pg_catalog.current_setting('mt.upgrade_grantees_audit_verify', true);
BEGIN
    IF grantees <> '' THEN
        EXECUTE 'GRANT EXECUTE ON FUNCTION mt.audit_verify(uuid, jsonb) TO ' || grantees;
    END IF;
END $$;
COMMENT ON FUNCTION mt.audit_verify(uuid, jsonb) IS 'Privileged (auditors): seals, then recomputes one or every audit chain, optionally against an earlier digest, and reports the first bad row and the unsealed tail.';
-- audit sealing (issue 18), bulk appends: mt.audit_many
CREATE FUNCTION mt.audit_many(actions text[], resource_types text[] DEFAULT NULL,
                              resource_ids text[] DEFAULT NULL, details jsonb[] DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_many' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION mt.audit_many(text[], text[], text[], jsonb[]) IS 'Appends one event per element of actions (with the resource types, ids and details at the same positions) to the current tenant''s audit chain and returns how many; for applications.';
-- PostgREST db-pre-request: mt.enter_from_request() (issue 17 item 2; src/request.c)
CREATE FUNCTION mt.enter_from_request() RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_enter_from_request' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mt.enter_from_request() IS 'PostgREST db-pre-request: the bearer token of the Authorization header in request.headers enters the verified context for the transaction (as SET LOCAL multitenant.token); no header: no context; a malformed header or a token that does not verify: 28000. Never reads request.jwt.claims. Returns the tenant or NULL.';

-- Per-tenant branding: mt.branding, mt.set_branding, mt.branding_for_host (issue 17 item 4; src/branding.c)
CREATE TABLE mt.branding (
    tenant_id  uuid PRIMARY KEY REFERENCES mt.tenants (id) ON DELETE CASCADE,
    doc        jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE FUNCTION mt.set_branding(tenant uuid, doc jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_set_branding' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.branding_for_host(host text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_branding_for_host' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.set_branding(uuid, jsonb) FROM PUBLIC;
GRANT SELECT ON mt.branding TO PUBLIC;
ALTER TABLE mt.branding ENABLE ROW LEVEL SECURITY;
CREATE POLICY branding_tenant_self ON mt.branding FOR SELECT USING (tenant_id = mt.current_tenant());
SELECT pg_catalog.pg_extension_config_dump('mt.branding', '');
COMMENT ON TABLE mt.branding IS 'Per-tenant branding for a login page (a validated jsonb document: name, logo and links as https URLs, #rrggbb colours, support email); a role sees only its current tenant''s row, only the extension owner writes it.';
COMMENT ON FUNCTION mt.set_branding(uuid, jsonb) IS 'Privileged (back office): validates and stores an active tenant''s branding document (unknown keys, wrong types and bad formats refused with 22023 naming the path); returns it. Audited (branding.set).';
COMMENT ON FUNCTION mt.branding_for_host(text) IS 'For a login page, every role: the branding document of the active tenant whose verified custom domain the host is (normalized as mt.tenant_by_host), or NULL.';
INSERT INTO mt.privileged_functions (f) VALUES ('mt.set_branding(uuid,jsonb)');

-- Per-tenant security policies: mt.security_policies, mt.set_security_policy, mt.security_policy (issue 17 item 6; src/security_policy.c)
CREATE TABLE mt.security_policies (
    tenant_id  uuid PRIMARY KEY REFERENCES mt.tenants (id) ON DELETE CASCADE,
    policy     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_by text
);
-- cached per backend (src/security_policy.c): every change bumps the registry generation
CREATE TRIGGER security_policies_changed AFTER INSERT OR UPDATE OR DELETE ON mt.security_policies
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER security_policies_truncated AFTER TRUNCATE ON mt.security_policies
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE FUNCTION mt.set_security_policy(tenant uuid, policy jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_set_security_policy' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.security_policy(tenant uuid DEFAULT mt.current_tenant()) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_security_policy' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT SELECT ON mt.security_policies TO PUBLIC;
ALTER TABLE mt.security_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY security_policies_tenant_self ON mt.security_policies FOR SELECT USING (tenant_id = mt.current_tenant());
SELECT pg_catalog.pg_extension_config_dump('mt.security_policies', '');
COMMENT ON TABLE mt.security_policies IS 'Per-tenant security policies (a validated jsonb document: token lifetime and issuers, API-key lifetime and scopes, client address allowlist, session idle limit), enforced at context entry, mt.authenticate, mt.create_api_key and per transaction; a role sees only its current tenant''s row, only the extension owner writes it.';
COMMENT ON TRIGGER security_policies_changed ON mt.security_policies IS 'Publishes a policy change to every backend''s policy cache (registry generation; relcache invalidation on standbys).';
COMMENT ON TRIGGER security_policies_truncated ON mt.security_policies IS 'As security_policies_changed, for TRUNCATE.';
COMMENT ON FUNCTION mt.set_security_policy(uuid, jsonb) IS 'In the tenant''s own context, with security:manage (the back office after mt.set_tenant, the tenant''s owner or admin): validates and replaces the tenant''s security policy (22023 naming the path, nothing half-applied); ''{}'' removes every rule. Audited (security.policy_set).';
COMMENT ON FUNCTION mt.security_policy(uuid) IS 'The security policy of the current context''s tenant (''{}'' when it has none).';
-- the built-in admin role manages its tenant's security policy
UPDATE mt.roles SET permissions = permissions || '{security:manage}'::text[]
 WHERE tenant_id IS NULL AND name = 'admin' AND builtin AND NOT 'security:manage' = ANY (permissions);
-- Permission policies gate the tenant key (issue 16 benchmark; src/isolation.c ensure_authz_policies):
-- mt_permission_read/update/delete become "<tenant column> = CASE WHEN (SELECT
-- mt.has_permission(...)) THEN mt.current_tenant() END", an index condition
-- evaluated once per scan instead of a filter on every row; regenerate them
-- on the tables isolated with permissions => true (roots: partitions follow).
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT t.tbl, t.tenant_column, t.workspace_column FROM mt.isolated_tables t
             WHERE t.permissions AND t.parent IS NULL ORDER BY t.tbl::oid LOOP
        PERFORM mt.enable_isolation(r.tbl, r.tenant_column, r.workspace_column, true);
    END LOOP;
END $$;

-- Anomaly rule new_network: known client networks per API key (mt.api_key_networks), issue 19 item 3
CREATE TABLE mt.api_key_networks (
    key_id     text COLLATE "C" NOT NULL REFERENCES mt.api_key_secrets (key_id) ON DELETE CASCADE,
    network    cidr NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (key_id, network)
);
CREATE INDEX api_key_networks_first_seen ON mt.api_key_networks (first_seen);
REVOKE ALL ON mt.api_key_networks FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('mt.api_key_networks', '');
COMMENT ON TABLE mt.api_key_networks IS 'Client networks (IPv4 /24, IPv6 /48) each API key was used from, with first and last use, written by the last-use flush from shared memory; the 32 most recently used per key; readable by the extension owner only; read by the new_network rule of mt.detect_anomalies().';
COMMENT ON INDEX mt.api_key_networks_first_seen IS 'The networks first seen since a time (rule new_network of mt.detect_anomalies()).';
COMMENT ON FUNCTION mt.detect_anomalies(timestamptz) IS 'Privileged (security operators): scored anomalies since a time (failure bursts per client, key and tenant; usage spikes over the tenant''s hourly baseline; usage outside its usual hours; an API key used from a network it was not used from before) with evidence; records new ones in mt.anomaly_findings and NOTIFYs mt_anomalies with counts only.';
