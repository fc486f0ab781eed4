-- Policies that call mt.has_permission(): under generic plans (a prepared
-- statement planned once, executed for subjects with and without the
-- permission) and under parallel query, where the policy runs in parallel
-- workers (which resolve the permissions themselves) and in the leader in
-- parallel mode.  Every execution must see exactly what the subject's
-- permissions allow.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.set_tenant(:'acme', false);
SELECT mt.grant_role('vera', 'viewer');
SELECT mt.create_role('outsider', '{other:read}');
SELECT mt.grant_role('otto', 'outsider');
RESET multitenant.token;
DROP ROLE IF EXISTS mt_azp_app;
CREATE ROLE mt_azp_app;
CREATE TABLE public.azp_invoices (id int, tenant_id uuid NOT NULL, amount int);
ALTER TABLE public.azp_invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.azp_invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY read_invoices ON public.azp_invoices FOR SELECT
    USING (tenant_id = mt.current_tenant() AND mt.has_permission('invoices:read'));
CREATE INDEX ON public.azp_invoices (tenant_id);
INSERT INTO public.azp_invoices
SELECT g, CASE WHEN g % 4 = 0 THEN :'globex'::uuid ELSE :'acme'::uuid END, g % 100
FROM generate_series(1, 200000) g;
ANALYZE public.azp_invoices;
GRANT SELECT ON public.azp_invoices TO mt_azp_app;
GRANT EXECUTE ON FUNCTION mt.tenant_token(uuid, interval, text, text) TO mt_azp_app;
\i sql/include/workers_launched.psql
CREATE FUNCTION pg_temp.enter(sub text) RETURNS void LANGUAGE sql AS
$$ SELECT set_config('multitenant.token', mt.tenant_token(current_setting('test.acme')::uuid, '1 hour', sub), false) $$;
SELECT set_config('test.acme', :'acme', false) IS NOT NULL AS ok \gset
\set QUIET 0

SELECT plan(9);
SET ROLE mt_azp_app;

-- 1. generic plans: one plan, subjects with and without the permission
SET plan_cache_mode = force_generic_plan;
PREPARE q AS SELECT count(*)::int FROM public.azp_invoices WHERE amount < $1;
SELECT pg_temp.enter('vera');
EXECUTE q(1000) \gset g1_
SELECT pg_temp.enter('otto');
EXECUTE q(1000) \gset g2_
SELECT pg_temp.enter('vera');
EXECUTE q(1000) \gset g3_
SELECT is(:g1_count, 150000, 'generic plan: the viewer sees the tenant''s invoices');
SELECT is(:g2_count, 0, 'generic plan: the same plan shows nothing to a subject without invoices:read');
SELECT is(:g3_count, 150000, 'generic plan: and everything to the viewer again');
RESET plan_cache_mode;

-- 2. parallel query (forced): the policy runs in the workers and the leader
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT pg_temp.enter('vera');
SELECT cmp_ok(pg_temp.workers_launched('SELECT count(*) FROM public.azp_invoices'), '>', 0,
              'parallel: the count runs with workers');
SELECT count(*)::int AS p1 FROM public.azp_invoices \gset
SELECT is(:p1, 150000, 'parallel: workers and leader agree the viewer holds invoices:read');
SELECT pg_temp.enter('otto');
SELECT count(*)::int AS p2 FROM public.azp_invoices \gset
SELECT is(:p2, 0, 'parallel: and that the outsider does not');
-- a fresh session's leader resolves for the first time inside the parallel query
RESET ROLE;
SELECT pg_temp.enter('vera');
SELECT mt.create_tenant('Initech', 'initech') IS NOT NULL AS moved_generation \gset
SET ROLE mt_azp_app;
SELECT count(*)::int AS p3 FROM public.azp_invoices \gset
SELECT is(:p3, 150000, 'parallel: first resolution of the transaction inside the parallel query');
SET force_parallel_mode = regress;
SELECT count(*)::int AS p4 FROM public.azp_invoices WHERE amount = 7 \gset
SELECT is(:p4, 2000, 'force_parallel_mode: every node in a worker, same answer');
SELECT pg_temp.enter('otto');
SELECT count(*)::int AS p5 FROM public.azp_invoices WHERE amount = 7 \gset
SELECT is(:p5, 0, 'force_parallel_mode: nothing for the outsider');
RESET force_parallel_mode;
RESET ROLE;
RESET multitenant.token;
SELECT * FROM finish();
