-- 1,000,000 orders over 1,000 tenants (interleaved, as orders arrive over
-- time), index on (tenant_id, id); three identical tables:
--   orders        isolated by mt.enable_isolation (signed context)
--   orders_plain  no RLS (baseline: hand-written WHERE with an unverified GUC)
--   orders_naive  the widespread naive policy: VOLATILE plpgsql wrapper
--                 around current_setting(), ENABLE only
CREATE EXTENSION IF NOT EXISTS multitenant;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mt_bench_app') THEN
        CREATE ROLE mt_bench_app LOGIN;
    END IF;
END $$;
CREATE TABLE bench_tenants (i int PRIMARY KEY, tid uuid NOT NULL, token text NOT NULL);
INSERT INTO bench_tenants
SELECT i, t, mt.tenant_token(t, '2 hours')
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 'iso-' || i) AS t FROM generate_series(1, 1000) i) s;

-- the three tables are built the same way so that they are physically alike
CREATE TEMP TABLE orders_src AS
SELECT g AS id, b.tid AS tenant_id, (g % 997) / 10.0 AS amount
FROM generate_series(1, 1000000) g JOIN bench_tenants b ON b.i = 1 + g % 1000 ORDER BY g;
CREATE TABLE orders (id bigint NOT NULL, tenant_id uuid NOT NULL, amount numeric NOT NULL);
CREATE TABLE orders_plain (LIKE orders);
CREATE TABLE orders_naive (LIKE orders);
INSERT INTO orders SELECT * FROM orders_src ORDER BY id;
INSERT INTO orders_plain SELECT * FROM orders_src ORDER BY id;
INSERT INTO orders_naive SELECT * FROM orders_src ORDER BY id;
ALTER TABLE orders ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE orders_plain ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE orders_naive ADD PRIMARY KEY (tenant_id, id);

SELECT mt.enable_isolation('orders');

CREATE FUNCTION app_current_tenant() RETURNS uuid LANGUAGE plpgsql AS
$$ BEGIN RETURN current_setting('app.tenant_id')::uuid; END $$;
ALTER TABLE orders_naive ENABLE ROW LEVEL SECURITY;
CREATE POLICY naive ON orders_naive USING (tenant_id = app_current_tenant());

GRANT SELECT ON bench_tenants, orders, orders_plain, orders_naive TO mt_bench_app;
VACUUM ANALYZE bench_tenants, orders, orders_plain, orders_naive;
-- the same pages warm in shared buffers for every variant
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
SELECT pg_prewarm(c) FROM unnest(ARRAY['orders', 'orders_plain', 'orders_naive',
                                       'orders_pkey', 'orders_plain_pkey', 'orders_naive_pkey']::regclass[]) c;
