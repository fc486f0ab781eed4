-- The context mt.authenticate() / mt.set_tenant() enter for the transaction
-- is kept in backend memory (context.c, "the transaction context") instead
-- of a SET LOCAL of multitenant.token.  It must still behave as that SET
-- LOCAL: parallel workers see the tenant (the setting is written before a
-- parallel query starts), SHOW / current_setting() show it, a change of the
-- setting (set_config, RESET, RESET ALL) replaces it, a rollback to a
-- savepoint taken before the call removes it, one taken after brings it
-- back, and the key's scopes follow it.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.create_api_key(:'acme', 'pw', '{read}') AS key \gset
SELECT mt.create_api_key(:'globex', 'pw') AS gkey \gset
DROP ROLE IF EXISTS mt_cpw_app;
CREATE ROLE mt_cpw_app;
CREATE TABLE public.cpw_items (id int, tenant_id uuid NOT NULL);
SELECT mt.enable_isolation('public.cpw_items');
INSERT INTO public.cpw_items
SELECT g, CASE WHEN g % 4 = 0 THEN :'globex'::uuid ELSE :'acme'::uuid END
FROM generate_series(1, 4000) g;
ANALYZE public.cpw_items;
GRANT SELECT ON public.cpw_items TO mt_cpw_app;
-- workers launched by EXPLAIN ANALYZE of q (0 when the plan has no Gather)
\i sql/include/workers_launched.psql
GRANT EXECUTE ON FUNCTION pg_temp.workers_launched(text) TO mt_cpw_app;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET force_parallel_mode = on;
\set QUIET 0

SELECT plan(16);
-- every query under test runs at top level (\gset): pgTAP's functions are
-- parallel unsafe and would rule out a parallel plan around them

-- 1. mt.authenticate, then a parallel scan in the same transaction
SET ROLE mt_cpw_app;
BEGIN;
SELECT mt.authenticate(:'key') IS NOT NULL AS entered \gset
SELECT pg_temp.workers_launched('SELECT count(*) FROM public.cpw_items') AS launched \gset
SELECT count(*)::int AS got1 FROM public.cpw_items \gset
-- the tenant as a worker sees it (a Gather over a parallel-safe Result)
SELECT coalesce(mt.current_tenant()::text, 'none') AS worker_tenant \gset
SELECT current_setting('multitenant.token') AS shown \gset
COMMIT;
RESET ROLE;
SELECT cmp_ok(:launched, '>', 0, 'the scan runs with parallel workers');
SELECT is(:got1, 3000, 'parallel workers see exactly the authenticated tenant''s rows');
SELECT is(:'worker_tenant'::text, :'acme'::text, 'mt.current_tenant() in a parallel worker is the key''s tenant');
SELECT ok(:'shown' LIKE 'mt-internal|' || :'acme' || '|%',
          'current_setting() shows the internal value of the authenticated context');

-- 2. the same after mt.set_tenant (transaction-local)
BEGIN;
SELECT mt.set_tenant(:'globex') IS NOT NULL AS entered \gset
SET LOCAL ROLE mt_cpw_app;
SELECT count(*)::int AS got2 FROM public.cpw_items \gset
COMMIT;
SELECT is(:got2, 1000, 'after mt.set_tenant parallel workers see exactly that tenant''s rows');
SET ROLE mt_cpw_app;
SELECT count(*)::int AS got3 FROM public.cpw_items \gset
RESET ROLE;
SELECT is(:got3, 0, 'nothing once the transaction ended');
RESET force_parallel_mode;

-- 3. savepoints, changes of the setting, scopes
BEGIN;
SELECT mt.authenticate(:'key') IS NOT NULL AS entered \gset
SAVEPOINT before_change;
SELECT set_config('multitenant.token', '', true) IS NOT NULL AS cleared \gset
SELECT is(mt.current_tenant(), NULL, 'set_config of the setting replaces the authenticated context');
SELECT is(mt.has_scope('read'), false, 'and its scopes');
ROLLBACK TO SAVEPOINT before_change;
SELECT is(mt.current_tenant(), :'acme'::uuid, 'a rollback to a savepoint taken after the call brings it back');
SELECT is(mt.has_scope('read'), true, 'with its scopes');
SAVEPOINT before_other;
SELECT is(mt.authenticate(:'gkey'), :'globex'::uuid, 'another key inside a savepoint');
ROLLBACK TO SAVEPOINT before_other;
SELECT is(mt.current_tenant(), :'acme'::uuid, 'rolled back: the first key''s context again');
RESET multitenant.token;
SELECT is(mt.current_tenant(), NULL, 'RESET multitenant.token ends it');
ROLLBACK;

BEGIN;
SELECT mt.authenticate(:'key') IS NOT NULL AS entered \gset
RESET ALL;
SELECT is(mt.current_tenant(), NULL, 'RESET ALL ends it');
SELECT is(current_setting('multitenant.token'), '', 'and the setting reads empty');
ROLLBACK;

BEGIN;
SAVEPOINT s;
SELECT mt.authenticate(:'key') IS NOT NULL AS entered \gset
RELEASE SAVEPOINT s;
SAVEPOINT t;
ROLLBACK TO SAVEPOINT t;
SELECT is(mt.current_tenant(), :'acme'::uuid, 'a context entered in a released savepoint stays with the transaction');
ROLLBACK;

SELECT * FROM finish();
DROP TABLE public.cpw_items;
DROP OWNED BY mt_cpw_app;
DROP ROLE mt_cpw_app;
