-- 10 tenants at the schema level (mt.provision_schema from template
-- bench_tmpl), 100,000 items each in tenant_s<i>.items; the same tables,
-- built the same way, in 10 plain schemas plain_<i> without row-level
-- security (the baseline).  Point reads by primary key.
CREATE EXTENSION IF NOT EXISTS multitenant;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mt_bench_app') THEN
        CREATE ROLE mt_bench_app LOGIN;
    END IF;
END $$;
CREATE SCHEMA bench_tmpl;
CREATE TABLE bench_tmpl.items (id bigint PRIMARY KEY, amount numeric NOT NULL, payload text NOT NULL);
GRANT USAGE ON SCHEMA bench_tmpl TO mt_bench_app;
GRANT SELECT ON bench_tmpl.items TO mt_bench_app;
CREATE TABLE bench_tenants (i int PRIMARY KEY, tid uuid NOT NULL, token text NOT NULL);
INSERT INTO bench_tenants
SELECT i, t, mt.tenant_token(t, '2 hours')
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 's' || i, 'pro') AS t FROM generate_series(1, 10) i) s;
SELECT mt.provision_schema(tid, 'bench_tmpl') FROM bench_tenants ORDER BY i;
DO $$
DECLARE i int;
BEGIN
    FOR i IN 1 .. 10 LOOP
        EXECUTE format('CREATE SCHEMA plain_%s', i);
        EXECUTE format('CREATE TABLE plain_%s.items (LIKE bench_tmpl.items INCLUDING ALL)', i);
        EXECUTE format('GRANT USAGE ON SCHEMA plain_%s TO mt_bench_app', i);
        EXECUTE format('GRANT SELECT ON plain_%s.items TO mt_bench_app', i);
        -- the superuser bypasses row-level security: both loaded alike
        EXECUTE format('INSERT INTO tenant_s%s.items SELECT g, g %% 997 / 10.0, md5(g::text) FROM generate_series(1, 100000) g', i);
        EXECUTE format('INSERT INTO plain_%s.items SELECT g, g %% 997 / 10.0, md5(g::text) FROM generate_series(1, 100000) g', i);
    END LOOP;
END $$;
GRANT SELECT ON bench_tenants TO mt_bench_app;
VACUUM ANALYZE;
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
SELECT pg_prewarm(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname LIKE 'tenant_s%' OR n.nspname LIKE 'plain_%') AND c.relkind IN ('r', 'i');
