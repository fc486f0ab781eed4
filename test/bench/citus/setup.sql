-- 100 tenants x 1,000 orders in a table distributed by tenant over 32
-- shards (Citus's default count) on two workers, isolated by
-- mt.enable_isolation; tokens minted in advance (2 hours).  Runs on the
-- coordinator.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mt_bench_app') THEN
        CREATE ROLE mt_bench_app LOGIN;
    END IF;
END $$;
CREATE TABLE bench_tenants (i int PRIMARY KEY, tid uuid NOT NULL, token text NOT NULL);
INSERT INTO bench_tenants
SELECT i, t, mt.tenant_token(t, '2 hours')
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 'citus-bench-' || i) AS t FROM generate_series(1, 100) i) s;
CREATE TABLE orders (id bigint NOT NULL, tenant_id uuid NOT NULL, amount numeric NOT NULL,
                     PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('orders');
SET citus.shard_count = 32;
SELECT create_distributed_table('orders', 'tenant_id');
INSERT INTO orders SELECT g, b.tid, (g % 997) / 10.0 FROM bench_tenants b, generate_series(1, 1000) g;
GRANT SELECT ON bench_tenants, orders TO mt_bench_app;
VACUUM ANALYZE bench_tenants;
VACUUM ANALYZE orders;
