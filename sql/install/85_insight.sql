-- ---------------------------------------------------------------------
-- Insight: per-tenant statistics from shared memory (doc/observability.md)
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

COMMENT ON FUNCTION mt.stat_tenants_rows() IS 'The rows of mt.stat_tenants: inside a tenant context that tenant''s own row, outside one every row of the database for superusers and members of pg_read_all_stats (pg_monitor), none for anyone else.';
COMMENT ON VIEW mt.stat_tenants IS 'Per-tenant statistics counted in shared memory (authentications, tokens entered, metered calls, quota and rate-limit refusals, audit events); scope none counts calls without a known tenant, scope evicted the sum of the tenants evicted from shared memory.';
COMMENT ON FUNCTION mt.stat_tenants_reset() IS 'Privileged (admins): removes every statistics row of this database from shared memory; returns how many there were.';
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
-- Known client networks per API key (src/api_keys.c flush; rule new_network of mt.detect_anomalies)
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
