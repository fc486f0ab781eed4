-- 1,000 tenants, each with one verified custom domain; the same (host,
-- tenant) pairs in a plain indexed table for the baseline.
CREATE EXTENSION IF NOT EXISTS multitenant;
CREATE TABLE bench_tenants (i int PRIMARY KEY, tid uuid NOT NULL);
INSERT INTO bench_tenants
SELECT i, mt.create_tenant('Tenant ' || i, 'tenant-' || i) FROM generate_series(1, 1000) i;
SELECT count(mt.add_domain(tid, 'Tenant-' || i || '.Example.COM.')) FROM bench_tenants;
SELECT count(mt.verify_domain('tenant-' || i || '.example.com')) FROM bench_tenants;
CREATE TABLE bench_domains (host text PRIMARY KEY, tenant_id uuid NOT NULL);
INSERT INTO bench_domains SELECT 'tenant-' || i || '.example.com', tid FROM bench_tenants;
VACUUM ANALYZE bench_tenants, bench_domains, mt.domains;
