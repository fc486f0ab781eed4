-- 100 tenants with tokens (1 hour), and an unchained table with the same
-- columns as mt.audit_log and the indexes an audit table written by hand
-- has: a primary key and one per tenant (an append to mt.audit_log takes
-- two btree entries too, its chain index with seq NULL and the sealer's
-- work list; sealing takes one more).
CREATE EXTENSION IF NOT EXISTS multitenant;
CREATE TABLE bench_tenants (i int PRIMARY KEY, tid uuid NOT NULL, token text NOT NULL);
INSERT INTO bench_tenants
SELECT i, t, mt.tenant_token(t, '1 hour', 'user-' || i)
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 'tenant-' || i) AS t FROM generate_series(1, 100) i) s;
CREATE TABLE plain_log (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL,
    action text NOT NULL,
    resource_type text,
    resource_id text,
    details jsonb,
    client_addr inet DEFAULT inet_client_addr(),
    db_user text NOT NULL DEFAULT session_user
);
CREATE INDEX ON plain_log (tenant_id, id);
VACUUM ANALYZE bench_tenants;
