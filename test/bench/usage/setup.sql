-- One hot tenant and 1,000 tenants, each with a huge daily api_calls quota
-- (so mt.consume() really checks a limit); tokens minted in advance.
CREATE EXTENSION IF NOT EXISTS multitenant;
CREATE TABLE bench_tenants (i int PRIMARY KEY, tid uuid NOT NULL, token text NOT NULL);
INSERT INTO bench_tenants
SELECT i, t, mt.tenant_token(t, '2 hours')
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 'tenant-' || i, 'pro') AS t
      FROM generate_series(0, 1000) i) s;
SELECT mt.set_quota(tid, 'api_calls', 1000000000000000, NULL, 'day') FROM bench_tenants;
-- the pattern people ship: one row per call, COUNT(*) over the month
CREATE TABLE api_usage (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    metric text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON api_usage (tenant_id, metric, at);
INSERT INTO api_usage (tenant_id, metric, at)
SELECT (SELECT tid FROM bench_tenants WHERE i = 0), 'api_calls',
       date_trunc('month', now()) + (now() - date_trunc('month', now())) * g / 50000.0
FROM generate_series(1, 50000) g;
VACUUM ANALYZE bench_tenants, api_usage;
