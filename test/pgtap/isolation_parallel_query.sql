-- Parallel query over isolated tables: the policy's mt.current_tenant() runs
-- in parallel workers (empty status cache) and in the leader while it is in
-- parallel mode, where no new snapshot may be taken.  Both must return the
-- tenant's rows, for a table big enough that the default planner settings
-- start workers and for forced parallel plans.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.create_api_key(:'acme', 'pq') AS key \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour'), false) IS NOT NULL AS ok \gset
DROP ROLE IF EXISTS mt_pq_app;
CREATE ROLE mt_pq_app;
CREATE TABLE public.pq_items (id int, tenant_id uuid NOT NULL, payload text);
SELECT mt.enable_isolation('public.pq_items');
INSERT INTO public.pq_items
SELECT g, CASE WHEN g % 4 = 0 THEN :'globex'::uuid ELSE :'acme'::uuid END, 'row ' || g
FROM generate_series(1, 200000) g;
ANALYZE public.pq_items;
GRANT SELECT ON public.pq_items TO mt_pq_app;
-- what the tenant must see, counted by the superuser (who bypasses RLS)
SELECT count(*) FILTER (WHERE payload LIKE 'row 1%') AS want_like
FROM public.pq_items WHERE tenant_id = :'acme' \gset
-- workers launched by the last EXPLAIN ANALYZE of q (0 when the plan has no Gather)
\i sql/include/workers_launched.psql
CREATE FUNCTION pg_temp.enter_acme() RETURNS void LANGUAGE sql AS
$$ SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) $$;
\set QUIET 0

SELECT plan(11);
-- every query under test runs at top level (\gset): a parallel-unsafe
-- function such as pgTAP's is() around it would rule out a parallel plan

-- 1. default planner settings, 200,000 rows: the planner starts workers by itself
SET ROLE mt_pq_app;
SELECT pg_temp.enter_acme();
SELECT cmp_ok(pg_temp.workers_launched('SELECT count(*) FROM public.pq_items'), '>', 0,
              'default settings: the count over 200,000 rows runs with parallel workers');
SELECT count(*)::int AS got1 FROM public.pq_items \gset
SELECT is(:got1, 150000,
          'default settings: the parallel count sees exactly the tenant''s rows');
SELECT count(*)::int AS got2 FROM public.pq_items WHERE payload LIKE 'row 1%' \gset
SELECT is(:got2, :want_like,
          'default settings: a parallel filtered scan sees exactly the tenant''s rows');
RESET ROLE;

-- 2. the leader's cache is stale (a registry change moved the generation):
-- its first check of this transaction happens inside the parallel query
SELECT mt.create_tenant('Initech', 'initech') IS NOT NULL AS moved_generation \gset
SET ROLE mt_pq_app;
SELECT count(*)::int AS got3 FROM public.pq_items \gset
SELECT is(:got3, 150000,
          'stale leader cache: the parallel count still sees exactly the tenant''s rows');
RESET ROLE;

-- 3. forced parallel plans on a small table, every node parallel
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET force_parallel_mode = regress;
CREATE TABLE public.pq_small AS SELECT * FROM public.pq_items WHERE id <= 1000;
SELECT mt.enable_isolation('public.pq_small');
GRANT SELECT ON public.pq_small TO mt_pq_app;
ANALYZE public.pq_small;
SELECT mt.create_tenant('Umbrella', 'umbrella') IS NOT NULL AS moved_generation \gset
-- a parallel-restricted key lookup runs in the leader, in parallel mode
-- (key cache miss: the key was never looked up in this backend)
SELECT cmp_ok(pg_temp.workers_launched($$SELECT count(*) FROM public.pq_items
           WHERE id > (SELECT count(*) FROM mt.verify_api_key('mt_live_000000000000_0000000000000000000000000000'))$$), '>', 0,
              'forced: a scan with a key lookup in an initplan runs with parallel workers');
SELECT count(*)::int AS got4 FROM public.pq_items
           WHERE id > (SELECT count(*) FROM mt.verify_api_key(:'key')) \gset
SELECT is(:got4, 199999,
          'forced: mt.verify_api_key() inside a parallel query finds the key');
SET ROLE mt_pq_app;
SELECT cmp_ok(pg_temp.workers_launched('SELECT count(*) FROM public.pq_small'), '>', 0,
              'forced: the count over the small table runs with parallel workers');
SELECT count(*)::int AS got5 FROM public.pq_small \gset
SELECT is(:got5, 750,
          'forced: the parallel count sees exactly the tenant''s rows');
SELECT mt.current_tenant() AS got6 \gset
SELECT is(:'got6'::uuid, :'acme'::uuid,
          'forced: mt.current_tenant() evaluated in a worker is the tenant');
RESET multitenant.token;
SELECT count(*)::int AS got7 FROM public.pq_small \gset
SELECT is(:got7, 0,
          'forced: without a context a parallel scan sees nothing (fail closed)');
RESET ROLE;

-- 4. a suspended tenant's context yields nothing in workers either
SET ROLE mt_pq_app;
SELECT pg_temp.enter_acme();
RESET ROLE;
SELECT mt.suspend_tenant(:'acme');
SET ROLE mt_pq_app;
SELECT count(*)::int AS got8 FROM public.pq_small \gset
SELECT is(:got8, 0,
          'forced: a suspended tenant''s context sees nothing in a parallel scan');
RESET ROLE;
SELECT mt.resume_tenant(:'acme');
RESET multitenant.token;

SELECT * FROM finish();
DROP TABLE public.pq_items, public.pq_small;
DROP OWNED BY mt_pq_app;
DROP ROLE mt_pq_app;
