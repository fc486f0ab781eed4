-- 100 tenants with tokens (1 hour), and an unchained table with the same
-- columns as mt.audit_log and the indexes an audit table written by hand
-- has: a primary key and one per tenant (an append to mt.audit_log takes
-- one btree entry, the sealer's work list; sealing takes one more, the
-- chain index).
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
-- one sealing pass over 100 chains, one event each, appended in the same
-- transaction (the worker cannot take them first): milliseconds
CREATE FUNCTION bench_seal_ms() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    r record;
    t0 timestamptz;
BEGIN
    FOR r IN SELECT token FROM bench_tenants ORDER BY i LOOP
        PERFORM set_config('multitenant.token', r.token, true);
        PERFORM mt.audit('seal.probe');
    END LOOP;
    t0 := clock_timestamp();
    PERFORM mt.audit_seal();
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END $$;
