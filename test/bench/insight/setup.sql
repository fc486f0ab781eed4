-- 1,000 tenants, each with one API key and a token minted in advance.
CREATE EXTENSION IF NOT EXISTS multitenant;
SELECT mt.reset_api_key_throttle();
CREATE TABLE bench_tenants (i int PRIMARY KEY, tid uuid NOT NULL, k text NOT NULL, token text NOT NULL);
INSERT INTO bench_tenants
SELECT i, t, mt.create_api_key(t, 'bench'), mt.tenant_token(t, '2 hours')
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 'tenant-' || i) AS t FROM generate_series(1, 1000) i) s;
VACUUM ANALYZE bench_tenants, mt.api_key_secrets, mt.tenants;
