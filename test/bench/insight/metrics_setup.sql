-- 10,000 tenants, each with one event (a token entered) in the statistics.
CREATE EXTENSION IF NOT EXISTS multitenant;
SELECT count(mt.create_tenant('Tenant ' || i, 'tenant-' || i, (ARRAY['free', 'starter', 'pro', 'enterprise'])[1 + i % 4]))
FROM generate_series(1, 10000) i;
DO $$
DECLARE t uuid;
BEGIN
    FOR t IN SELECT id FROM mt.tenants LOOP
        PERFORM set_config('multitenant.token', mt.tenant_token(t), true);
    END LOOP;
END $$;
