-- Attack tests: a tenant with a valid login who wants another tenant's data.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour'), false) AS tok_acme \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour'), false) AS tok_globex \gset
DROP ROLE IF EXISTS mt_att_app;
DROP ROLE IF EXISTS mt_att_owner;
CREATE ROLE mt_att_app NOLOGIN;
CREATE ROLE mt_att_owner NOLOGIN;
GRANT CREATE ON SCHEMA public TO mt_att_owner;

-- the table is owned by an ordinary role (FORCE must confine the owner too)
SET ROLE mt_att_owner;
CREATE TABLE public.secrets (id int PRIMARY KEY, tenant_id uuid NOT NULL, secret text);
CREATE TABLE public.parts (id int, tenant_id uuid NOT NULL, k int NOT NULL) PARTITION BY LIST (k);
CREATE TABLE public.parts_1 PARTITION OF public.parts FOR VALUES IN (1);
CREATE TABLE public.parts_2 PARTITION OF public.parts FOR VALUES IN (2);
CREATE VIEW public.owner_view AS SELECT * FROM public.secrets;
CREATE FUNCTION public.owner_definer() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    AS 'SELECT count(*) FROM public.secrets';
GRANT SELECT, INSERT, UPDATE, DELETE ON public.secrets, public.parts, public.parts_1, public.parts_2, public.owner_view TO mt_att_app;
RESET ROLE;
SELECT mt.enable_isolation('public.secrets');
SELECT mt.enable_isolation('public.parts');
INSERT INTO public.secrets SELECT g, CASE WHEN g <= 50 THEN :'acme'::uuid ELSE :'globex'::uuid END, 'secret-' || g
FROM generate_series(1, 100) g;
INSERT INTO public.parts SELECT g, CASE WHEN g % 2 = 0 THEN :'acme'::uuid ELSE :'globex'::uuid END, 1 + g % 2
FROM generate_series(1, 100) g;
ANALYZE public.secrets, public.parts;
CREATE TABLE public.leaks (msg text);
GRANT INSERT, SELECT ON public.leaks TO mt_att_app;
CREATE FUNCTION public.leak(x text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
$$ BEGIN INSERT INTO public.leaks VALUES (x); RETURN true; END $$;
\set QUIET 0

SELECT plan(34);

SET ROLE mt_att_app;
-- no context
SELECT is((SELECT count(*)::int FROM public.secrets), 0, 'no context: nothing visible');
SELECT is((SELECT count(*)::int FROM public.parts_1), 0, 'no context: partition read directly shows nothing');
SELECT throws_ok($$INSERT INTO public.secrets VALUES (1000, '00000000-0000-0000-0000-000000000000', 'x')$$, '42501', NULL,
                 'no context: cannot insert with an arbitrary tenant id');
-- forged context
SELECT throws_ok($$SET multitenant.token = 'eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.'$$, '28000', NULL, 'forged context refused');

SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT is((SELECT count(*)::int FROM public.secrets), 50, 'acme sees its 50 rows');
SELECT is((SELECT count(*)::int FROM public.secrets WHERE tenant_id = :'globex'), 0, 'asking for globex by id returns nothing');
-- writes into another tenant
SELECT throws_ok(format($$INSERT INTO public.secrets VALUES (1001, %L, 'planted')$$, :'globex'), '42501', NULL,
                 'INSERT with another tenant id is refused');
SELECT throws_ok(format($$UPDATE public.secrets SET tenant_id = %L WHERE id = 1$$, :'globex'), '42501', NULL,
                 'UPDATE moving a row to another tenant is refused');
SELECT throws_ok($$INSERT INTO public.secrets VALUES (51, DEFAULT, 'overwrite') ON CONFLICT (id) DO UPDATE SET secret = 'overwritten'$$,
                 '42501', NULL, 'ON CONFLICT DO UPDATE on another tenant''s row is refused');
SELECT lives_ok($$INSERT INTO public.secrets VALUES (52, DEFAULT, 'x') ON CONFLICT (id) DO NOTHING$$,
                'ON CONFLICT DO NOTHING on another tenant''s row does nothing');
-- unqualified UPDATE / DELETE touch only own rows
SELECT lives_ok($$UPDATE public.secrets SET secret = secret || '!'$$, 'unqualified UPDATE runs');
SELECT lives_ok($$DELETE FROM public.secrets WHERE id > 45$$, 'unqualified-ish DELETE runs');
-- a cheap non-leakproof function in WHERE only sees own rows
SELECT is((SELECT count(*)::int FROM public.secrets WHERE public.leak(secret)), 45, 'leaky function filter returns own rows only');
SELECT is((SELECT count(*)::int FROM public.leaks WHERE substring(msg FROM 'secret-([0-9]+)')::int > 50), 0,
          'the leaky function never saw another tenant''s value');
-- pg_stats would show most common values of other tenants
SELECT is((SELECT count(*)::int FROM pg_stats WHERE tablename = 'secrets'), 0, 'pg_stats hides the isolated table''s statistics');
-- partitions read directly, and through the parent
SELECT is((SELECT count(*)::int FROM public.parts_2), 0, 'globex rows are all in parts_2: parts_2 read directly shows none');
SELECT is((SELECT count(*)::int FROM public.parts_1), 50, 'parts_1 read directly shows acme''s rows only');
SELECT is((SELECT count(*)::int FROM public.parts), 50, 'parent shows acme''s rows only');
SELECT throws_ok(format($$INSERT INTO public.parts_1 VALUES (999, %L, 1)$$, :'globex'), '42501', NULL,
                 'insert into a partition directly with another tenant is refused');
-- the owner's view and SECURITY DEFINER function are confined (FORCE)
SELECT is((SELECT count(*)::int FROM public.owner_view), 45, 'owner''s view is confined to the tenant');
RESET ROLE;
GRANT EXECUTE ON FUNCTION public.owner_definer() TO mt_att_app;
SET ROLE mt_att_app;
SELECT is(public.owner_definer(), 45::bigint, 'owner''s SECURITY DEFINER function is confined to the tenant');
-- the other tenant's data was not touched by any of the above
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), false) IS NOT NULL AS entered \gset
SELECT is((SELECT count(*)::int FROM public.secrets), 50, 'globex still has 50 rows');
SELECT is((SELECT count(*)::int FROM public.secrets WHERE secret LIKE '%!' OR secret IN ('overwritten', 'planted')), 0,
          'no globex row was modified');
-- prepared statements with generic plans across a tenant switch
SET plan_cache_mode = force_generic_plan;
PREPARE q AS SELECT count(*)::int FROM public.secrets;
SELECT results_eq('EXECUTE q', ARRAY[50], 'generic plan: globex');
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT results_eq('EXECUTE q', ARRAY[45], 'same generic plan after switching to acme');
RESET multitenant.token;
SELECT results_eq('EXECUTE q', ARRAY[0], 'same generic plan without context');
DEALLOCATE q;
RESET plan_cache_mode;
-- parallel query
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT is((SELECT count(*)::int FROM public.secrets), 45, 'parallel scan sees acme only');
SELECT is((SELECT count(*)::int FROM public.parts), 50, 'parallel append over partitions sees acme only');
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET enable_indexscan; RESET enable_bitmapscan;
-- a suspended tenant
RESET ROLE;
SELECT mt.suspend_tenant(:'acme');
SET ROLE mt_att_app;
SELECT is((SELECT count(*)::int FROM public.secrets), 0, 'suspended tenant: nothing visible');
SELECT throws_ok($$INSERT INTO public.secrets VALUES (2000, DEFAULT, 'x')$$, '42501', NULL,
                 'suspended tenant: cannot insert (no tenant)');
RESET ROLE;
SELECT mt.resume_tenant(:'acme');
-- the table owner cannot switch the protection off
SET ROLE mt_att_owner;
SELECT throws_ok('ALTER TABLE public.secrets NO FORCE ROW LEVEL SECURITY', '42501', NULL, 'owner cannot stop FORCE');
SELECT throws_ok('DROP POLICY mt_tenant_isolation ON public.secrets', '42501', NULL, 'owner cannot drop the tenant policy');
SELECT lives_ok('CREATE POLICY wide_open ON public.secrets FOR SELECT USING (true)', 'owner can add a permissive policy');
SELECT is((SELECT count(*)::int FROM public.secrets), 45, '... but it does not widen access beyond the tenant (restrictive policy)');
RESET ROLE;

SELECT * FROM finish();
DROP TABLE public.leaks;
