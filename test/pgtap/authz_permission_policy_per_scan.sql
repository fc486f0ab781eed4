-- The generated permission policies (mt.enable_isolation(tbl, permissions
-- => true)) cost no work per row: the check gates the tenant key
-- ("<tenant column> = CASE WHEN (SELECT mt.has_permission(...)) THEN
-- mt.current_tenant() END"), which the planner turns into a one-time
-- filter (equal to the tenant policy's key) or an index condition, once per
-- scan, not a filter tested on every row (issue 16 benchmark, test/bench/authz);
-- and they still deny reads, updates and deletes without the permission.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.set_tenant(:'acme', false);
SELECT mt.grant_role('vic', 'viewer');
SELECT mt.grant_role('meg', 'member');
RESET multitenant.token;
DROP ROLE IF EXISTS mt_azps_app;
CREATE ROLE mt_azps_app;
GRANT EXECUTE ON FUNCTION mt.set_tenant_subject(uuid, text, text, uuid, boolean) TO mt_azps_app;
CREATE TABLE public.azp_orders (id int NOT NULL, tenant_id uuid NOT NULL, amount numeric NOT NULL,
                                PRIMARY KEY (tenant_id, id));
INSERT INTO public.azp_orders
SELECT g, CASE WHEN g % 2 = 0 THEN :'acme'::uuid ELSE :'globex'::uuid END, g FROM generate_series(1, 4000) g;
SELECT mt.enable_isolation('public.azp_orders', permissions => true);
ANALYZE public.azp_orders;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.azp_orders TO mt_azps_app;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE l text; r text := '';
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP r := r || l || E'\n'; END LOOP;
    RETURN r;
END $$;
\set QUIET 0

SELECT plan(12);
SELECT is((SELECT regexp_replace(pg_get_expr(polqual, polrelid), '\s+', ' ', 'g') FROM pg_policy
           WHERE polrelid = 'public.azp_orders'::regclass AND polname = 'mt_permission_read'),
          '(tenant_id = CASE WHEN ( SELECT mt.has_permission(''azp_orders:read''::text) AS has_permission) THEN mt.current_tenant() ELSE NULL::uuid END)',
          'the read policy gates the tenant key with the permission');

SET ROLE mt_azps_app;
SET enable_seqscan = off;
SELECT mt.set_tenant_subject(:'acme', 'vic', is_local => false);
SELECT pg_temp.plan_of('SELECT count(*), sum(amount) FROM public.azp_orders') AS agg_plan \gset
SELECT ok(:'agg_plan' !~ '(^|\n)\s*Filter:', 'the aggregate tests nothing per row: ' || :'agg_plan');
SELECT ok(:'agg_plan' ~ '(One-Time Filter|Index Cond): .*CASE WHEN \$\d+ THEN mt\.current_tenant\(\)',
          'the permission gate is a one-time filter or an index condition (once per scan)');
SELECT pg_temp.plan_of('SELECT amount FROM public.azp_orders WHERE id = 42') AS point_plan \gset
SELECT ok(:'point_plan' !~ '(^|\n)\s*Filter:', 'the point read tests nothing per row: ' || :'point_plan');
SELECT pg_temp.plan_of('DELETE FROM public.azp_orders') AS delete_plan \gset
SELECT ok(:'delete_plan' !~ '(^|\n)\s*Filter:', 'the delete tests nothing per row: ' || :'delete_plan');

SELECT is((SELECT count(*)::int FROM public.azp_orders), 2000, 'a viewer reads the tenant''s rows');
SELECT is((SELECT count(*)::int FROM public.azp_orders WHERE id = 42), 1, 'and one by key');
WITH d AS (DELETE FROM public.azp_orders RETURNING 1) SELECT is((SELECT count(*)::int FROM d), 0,
          'but deletes nothing without azp_orders:write');
WITH u AS (UPDATE public.azp_orders SET amount = 0 RETURNING 1) SELECT is((SELECT count(*)::int FROM u), 0,
          'and updates nothing');
SELECT mt.set_tenant_subject(:'acme', 'nobody', is_local => false);
SELECT is((SELECT count(*)::int FROM public.azp_orders), 0, 'a subject without azp_orders:read reads nothing');
SELECT mt.set_tenant_subject(:'acme', 'meg', is_local => false);
WITH u AS (UPDATE public.azp_orders SET amount = 0 WHERE id = 42 RETURNING 1) SELECT is((SELECT count(*)::int FROM u), 1,
          'a member updates');
RESET enable_seqscan;
RESET ROLE;
RESET multitenant.token;
SELECT is((SELECT cardinality(issues) FROM mt.isolation_status() WHERE tbl = 'public.azp_orders'::regclass), 0,
          'isolation_status finds nothing to report on the generated policies');
SELECT * FROM finish();
