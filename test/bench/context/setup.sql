-- 1,000 tenants, 100 rows each; tokens minted in advance (1 hour).
CREATE EXTENSION IF NOT EXISTS multitenant;
CREATE TABLE bench_tenants (i int PRIMARY KEY, tid uuid NOT NULL, token text NOT NULL);
INSERT INTO bench_tenants
SELECT i, t, mt.tenant_token(t, '1 hour')
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 'tenant-' || i) AS t FROM generate_series(1, 1000) i) s;
CREATE TABLE items (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, payload text);
INSERT INTO items SELECT (b.i - 1) * 100 + g, b.tid, md5(g::text)
FROM bench_tenants b, generate_series(1, 100) g;
VACUUM ANALYZE bench_tenants, items;
