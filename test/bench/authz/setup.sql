-- Authorization benchmarks (doc/authorization.md, issue "Authorization"):
--   orders       1,000,000 rows over 1,000 tenants, isolated by
--                mt.enable_isolation (the tenant policy alone)
--   orders_perm  the same rows, isolated with permissions => true: every
--                read also checks (SELECT mt.has_permission('orders_perm:read'))
--                (the generated policy: once per statement, gating the
--                tenant key, so nothing is tested per row)
--   orders_hand  the same rows and tenant policy, plus a hand-written
--                restrictive policy calling mt.has_permission('orders:read')
--                directly (evaluated for every row it filters)
-- Subject u1 holds viewer in every tenant (tokens of mt.tenant_token with
-- sub u1 and no role: its assignments decide).
-- Tenant "big": 1,000 custom roles (r2..r10 inherit down a chain) and
-- 10,000 assignments (subjects u1..u1000, ten roles each); tenants
-- "small-<i>": one custom role and one assignment.
CREATE EXTENSION IF NOT EXISTS multitenant;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mt_bench_app') THEN
        CREATE ROLE mt_bench_app LOGIN;
    END IF;
END $$;
CREATE TABLE bench_tenants (i int PRIMARY KEY, tid uuid NOT NULL, token text NOT NULL);
INSERT INTO bench_tenants
SELECT i, t, mt.tenant_token(t, '2 hours', 'u1')
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 'authz-' || i) AS t FROM generate_series(1, 1000) i) s;
DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT tid FROM bench_tenants LOOP
        PERFORM mt.set_tenant(r.tid);
        PERFORM mt.grant_role('u1', 'viewer');
    END LOOP;
END $$;

CREATE TEMP TABLE orders_src AS
SELECT g AS id, b.tid AS tenant_id, (g % 997) / 10.0 AS amount
FROM generate_series(1, 1000000) g JOIN bench_tenants b ON b.i = 1 + g % 1000 ORDER BY g;
CREATE TABLE orders (id bigint NOT NULL, tenant_id uuid NOT NULL, amount numeric NOT NULL);
CREATE TABLE orders_perm (LIKE orders);
CREATE TABLE orders_hand (LIKE orders);
INSERT INTO orders SELECT * FROM orders_src ORDER BY id;
INSERT INTO orders_perm SELECT * FROM orders_src ORDER BY id;
INSERT INTO orders_hand SELECT * FROM orders_src ORDER BY id;
ALTER TABLE orders ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE orders_perm ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE orders_hand ADD PRIMARY KEY (tenant_id, id);
SELECT mt.enable_isolation('orders');
SELECT mt.enable_isolation('orders_perm', permissions => true);
SELECT mt.enable_isolation('orders_hand');
CREATE POLICY read_orders ON orders_hand AS RESTRICTIVE FOR SELECT
    USING (mt.has_permission('orders:read'));

-- the big tenant and the small ones
CREATE TABLE bench_subjects (kind text, i int, token text NOT NULL, PRIMARY KEY (kind, i));
DO $$ DECLARE big uuid; s uuid; BEGIN
    big := mt.create_tenant('Big', 'authz-big');
    PERFORM mt.set_tenant(big);
    PERFORM mt.create_role('r1', '{res1:read}');
    FOR i IN 2..1000 LOOP
        PERFORM mt.create_role('r' || i, ARRAY['res' || i || ':read', 'res' || i || ':write'],
                               CASE WHEN i <= 10 THEN 'r' || (i - 1) END);
    END LOOP;
    FOR u IN 1..1000 LOOP
        FOR k IN 0..9 LOOP
            PERFORM mt.grant_role('u' || u, 'r' || (1 + (u * 7 + k) % 1000));
        END LOOP;
    END LOOP;
    INSERT INTO bench_subjects SELECT 'big', u, mt.tenant_token(big, '2 hours', 'u' || u) FROM generate_series(1, 1000) u;
    FOR i IN 1..1000 LOOP
        s := mt.create_tenant('Small ' || i, 'authz-small-' || i);
        PERFORM mt.set_tenant(s);
        PERFORM mt.create_role('reader', '{res1:read}');
        PERFORM mt.grant_role('u1', 'reader');
        INSERT INTO bench_subjects VALUES ('small', i, mt.tenant_token(s, '2 hours', 'u1'));
    END LOOP;
END $$;

GRANT SELECT ON bench_tenants, bench_subjects, orders, orders_perm, orders_hand TO mt_bench_app;
VACUUM ANALYZE bench_tenants, bench_subjects, orders, orders_perm, orders_hand;
VACUUM ANALYZE mt.roles, mt.role_assignments;
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
SELECT pg_prewarm(c) FROM unnest(ARRAY['orders', 'orders_perm', 'orders_hand', 'orders_pkey',
                                       'orders_perm_pkey', 'orders_hand_pkey']::regclass[]) c;
