-- A non-superuser application role: what it can and cannot do; parallel
-- workers and generic plans see the right tenant.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour', 'alice'), false) AS tok_acme \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour', 'bob'), false) AS tok_globex \gset
DROP ROLE IF EXISTS mt_test_app;
CREATE ROLE mt_test_app NOLOGIN;
CREATE TABLE public.items (id bigint, tenant_id uuid NOT NULL, v int);
INSERT INTO public.items SELECT g, CASE WHEN g % 3 = 0 THEN :'acme'::uuid ELSE :'globex'::uuid END, g
FROM generate_series(1, 300000) g;
CREATE INDEX ON public.items (tenant_id);
ANALYZE public.items;
GRANT SELECT ON public.items TO mt_test_app;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q; END $$;
\set QUIET 0

SELECT plan(22);

SET ROLE mt_test_app;
SELECT throws_ok($$SELECT mt.create_tenant('Evil', 'evil')$$, '42501', NULL, 'app cannot create tenants');
SELECT throws_ok(format('SELECT mt.tenant_token(%L)', :'globex'), '42501', NULL, 'app cannot mint tokens');
SELECT throws_ok(format('SELECT mt.set_tenant(%L)', :'globex'), '42501', NULL, 'app cannot set a tenant directly');
SELECT throws_ok(format('SELECT mt.suspend_tenant(%L)', :'globex'), '42501', NULL, 'app cannot suspend tenants');
SELECT throws_ok(format('SELECT mt.drop_tenant(%L)', :'globex'), '42501', NULL, 'app cannot drop tenants');
SELECT throws_ok('SHOW multitenant.jwt_secret', '42501', NULL, 'app cannot read the signing secret');
SELECT throws_ok($$SELECT pg_read_file('multitenant.secret')$$, '42501', NULL, 'app cannot read the secret file');
SELECT throws_ok($$SET multitenant.jwt_secret = 'attacker-secret-0123456789-abcdefghij'$$, '55P02', NULL, 'app cannot change the secret');
SELECT is((SELECT count(*)::int FROM pg_settings WHERE name = 'multitenant.jwt_secret'), 0, 'the secret is not listed in pg_settings');

-- no context: the app sees no tenant rows at all
SELECT is((SELECT count(*)::int FROM mt.tenants), 0, 'no context: mt.tenants shows nothing');
SELECT lives_ok($$SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false)$$, 'app can enter a tenant with a valid token');
SELECT is((SELECT array_agg(slug) FROM mt.tenants), ARRAY['acme'], 'inside acme: only acme''s row of mt.tenants');
SELECT throws_ok($$UPDATE mt.tenants SET plan = 'enterprise'$$, '42501', NULL, 'app cannot update mt.tenants');
SELECT throws_ok($$INSERT INTO mt.tenants (name, slug, plan) VALUES ('x', 'x', 'free')$$, '42501', NULL, 'app cannot insert into mt.tenants');
SELECT is(mt.current_subject(), 'alice', 'subject claim visible');

-- generic plans across a tenant switch on one connection
SET plan_cache_mode = force_generic_plan;
PREPARE q AS SELECT count(*)::int FROM public.items WHERE tenant_id = mt.current_tenant();
SELECT results_eq('EXECUTE q', ARRAY[100000], 'generic plan counts acme rows');
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), false) IS NOT NULL AS entered \gset
SELECT results_eq('EXECUTE q', ARRAY[200000], 'same generic plan counts globex rows after the switch');
RESET multitenant.token;
SELECT results_eq('EXECUTE q', ARRAY[0], 'same generic plan counts nothing without context');
DEALLOCATE q;
RESET plan_cache_mode;

-- parallel workers see the leader's tenant
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT ok(position('Gather' IN (SELECT string_agg(p, ' ') FROM pg_temp.plan_of('SELECT count(*) FROM public.items WHERE tenant_id = mt.current_tenant()') p)) > 0,
          'the count runs as a parallel plan');
SELECT is((SELECT count(*)::int FROM public.items WHERE tenant_id = mt.current_tenant()), 100000, 'parallel count sees acme');
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), false) IS NOT NULL AS entered \gset
SELECT is((SELECT count(*)::int FROM public.items WHERE tenant_id = mt.current_tenant()), 200000, 'parallel count sees globex');
RESET multitenant.token;
SELECT is((SELECT count(*)::int FROM public.items WHERE tenant_id = mt.current_tenant()), 0, 'parallel count without context sees nothing');
RESET ROLE;

SELECT * FROM finish();
DROP TABLE public.items;
DROP ROLE mt_test_app;
