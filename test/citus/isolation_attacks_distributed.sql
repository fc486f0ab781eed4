-- The isolation attacks of test/pgtap/isolation_attacks.sql, through the
-- Citus coordinator, on distributed tables: hash-distributed by tenant_id
-- (owned by an ordinary role, FORCE), a co-located pair, a reference
-- table.  Run by isolation_attacks_distributed.sh with :order = 'before'
-- (mt.enable_isolation, then create_distributed_table) and 'after'.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT mt.create_tenant('Acme', 'acme-' || substr(md5(random()::text), 1, 8)) AS acme \gset
SELECT mt.create_tenant('Globex', 'globex-' || substr(md5(random()::text), 1, 8)) AS globex \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour'), false) IS NOT NULL AS ok \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour'), false) IS NOT NULL AS ok \gset
SELECT set_config('test.acme', :'acme', false) IS NOT NULL AS ok \gset
SELECT set_config('test.globex', :'globex', false) IS NOT NULL AS ok \gset
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dat_app') THEN CREATE ROLE dat_app LOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dat_owner') THEN CREATE ROLE dat_owner LOGIN; END IF;
END $$;
GRANT CREATE ON SCHEMA public TO dat_owner;

SET ROLE dat_owner;
CREATE TABLE public.dat_secrets (id int, tenant_id uuid NOT NULL, secret text, PRIMARY KEY (tenant_id, id));
CREATE TABLE public.dat_orders (id int, tenant_id uuid NOT NULL, total int, PRIMARY KEY (tenant_id, id));
CREATE TABLE public.dat_items (id int, tenant_id uuid NOT NULL, order_id int, sku text, PRIMARY KEY (tenant_id, id));
CREATE TABLE public.dat_plans (tenant_id uuid NOT NULL PRIMARY KEY, plan text);
RESET ROLE;

-- helpers in pg_temp stay on the coordinator
SET citus.enable_ddl_propagation = off;
CREATE FUNCTION pg_temp.distribute() RETURNS void LANGUAGE sql AS $$
    SELECT create_distributed_table('public.dat_secrets', 'tenant_id');
    SELECT create_distributed_table('public.dat_orders', 'tenant_id', colocate_with := 'dat_secrets');
    SELECT create_distributed_table('public.dat_items', 'tenant_id', colocate_with := 'dat_orders');
    SELECT create_reference_table('public.dat_plans');
$$;
CREATE FUNCTION pg_temp.isolate() RETURNS void LANGUAGE sql AS $$
    SELECT mt.enable_isolation('public.dat_secrets');
    SELECT mt.enable_isolation('public.dat_orders');
    SELECT mt.enable_isolation('public.dat_items');
    SELECT mt.enable_isolation('public.dat_plans');
$$;
SELECT CASE WHEN :'order' = 'before' THEN pg_temp.isolate() END;
RESET citus.enable_ddl_propagation;
SELECT pg_temp.distribute();
SELECT CASE WHEN :'order' = 'after' THEN pg_temp.isolate() END;

INSERT INTO public.dat_secrets SELECT g, CASE WHEN g <= 50 THEN :'acme'::uuid ELSE :'globex'::uuid END, 'secret-' || g
FROM generate_series(1, 100) g;
INSERT INTO public.dat_orders SELECT g, t, g * 10 FROM (VALUES (:'acme'::uuid), (:'globex'::uuid)) v(t), generate_series(1, 10) g;
INSERT INTO public.dat_items SELECT g, t, 1 + g % 10, 'sku-' || g FROM (VALUES (:'acme'::uuid), (:'globex'::uuid)) v(t), generate_series(1, 30) g;
INSERT INTO public.dat_plans VALUES (:'acme', 'gold'), (:'globex', 'silver');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.dat_secrets, public.dat_orders, public.dat_items, public.dat_plans TO dat_app;
ANALYZE public.dat_secrets;
-- a cheap, leaky function (not LEAKPROOF): it fails the query if it ever
-- sees a row of globex (ids above 50); Citus runs it on the workers
CREATE FUNCTION public.dat_leak(s text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
$$ BEGIN IF substring(s FROM 'secret-([0-9]+)')::int > 50 THEN RAISE EXCEPTION 'leaked %', s; END IF; RETURN true; END $$;
SET ROLE dat_owner;
CREATE VIEW public.dat_owner_view AS SELECT * FROM public.dat_secrets;
CREATE FUNCTION public.dat_owner_definer() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    AS 'SELECT count(*) FROM public.dat_secrets';
GRANT SELECT ON public.dat_owner_view TO dat_app;
GRANT EXECUTE ON FUNCTION public.dat_owner_definer() TO dat_app;
RESET ROLE;
SET citus.enable_ddl_propagation = off;
CREATE FUNCTION pg_temp.cursor_rows(OUT n int, OUT foreign_rows int) LANGUAGE plpgsql AS $$
DECLARE c refcursor; t uuid;
BEGIN
    n := 0; foreign_rows := 0;
    OPEN c FOR SELECT tenant_id FROM public.dat_secrets;
    LOOP
        FETCH c INTO t;
        EXIT WHEN NOT FOUND;
        n := n + 1;
        IF t IS DISTINCT FROM mt.current_tenant() THEN foreign_rows := foreign_rows + 1; END IF;
    END LOOP;
    CLOSE c;
END $$;
CREATE FUNCTION pg_temp.fetch_all(c refcursor) RETURNS SETOF uuid LANGUAGE plpgsql AS $$
DECLARE t uuid;
BEGIN
    LOOP
        FETCH c INTO t;
        EXIT WHEN NOT FOUND;
        RETURN NEXT t;
    END LOOP;
END $$;
-- a query run on its own: pgTAP's functions must not be pushed down with it
CREATE FUNCTION pg_temp.cnt(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE r int; BEGIN EXECUTE q INTO r; RETURN r; END $$;
CREATE FUNCTION pg_temp.val(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; BEGIN EXECUTE q INTO r; RETURN r; END $$;
-- the SQLSTATE a statement fails with, or 'none'
CREATE FUNCTION pg_temp.sqlstate(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'none'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;
CREATE FUNCTION pg_temp.enter(t text) RETURNS void LANGUAGE sql AS
$$ SELECT set_config('multitenant.token', current_setting('test.tok_' || t), false) $$;
RESET citus.enable_ddl_propagation;
\set QUIET 0

SELECT * FROM no_plan();
SET citus.enable_repartition_joins = on;

SET ROLE dat_app;
-- no context
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 0, 'no context: nothing visible');
SELECT is(pg_temp.cnt(format($q$SELECT count(*)::int FROM public.dat_secrets WHERE tenant_id = %L$q$, :'acme')), 0, 'no context: a tenant''s shard asked by id shows nothing');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_plans$q$), 0, 'no context: reference table shows nothing');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_orders o JOIN public.dat_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id$q$), 0,
          'no context: co-located join shows nothing');
SELECT throws_ok($$INSERT INTO public.dat_secrets VALUES (1000, '00000000-0000-0000-0000-000000000000', 'x')$$, '42501', NULL,
                 'no context: cannot insert with an arbitrary tenant id');
SELECT throws_ok(format($$INSERT INTO public.dat_secrets VALUES (1000, %L, 'x')$$, :'globex'), '42501', NULL,
                 'no context: cannot insert with an existing tenant''s id');
SELECT throws_ok($$INSERT INTO public.dat_plans VALUES ('00000000-0000-0000-0000-000000000001', 'x')$$, '42501', NULL,
                 'no context: cannot insert into the reference table');
-- forged and other tenants' contexts
SELECT throws_ok($$SET multitenant.token = 'eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.'$$, '28000', NULL, 'forged token refused');
SELECT throws_ok($$SELECT set_config('multitenant.node_context', 'mt-node|1|10000000001|' || current_setting('test.globex') || '|9999999999|||0|' || repeat('0', 64), false)$$,
                 '28000', NULL, 'forged node context refused on the coordinator');

SELECT pg_temp.enter('acme');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 50, 'acme sees its 50 rows');
SELECT is(pg_temp.cnt(format($q$SELECT count(*)::int FROM public.dat_secrets WHERE tenant_id = %L$q$, :'globex')), 0, 'asking for globex by id returns nothing');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets WHERE tenant_id = mt.current_tenant()$q$), 50, 'tenant_id = mt.current_tenant()');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets WHERE mt.current_tenant() = tenant_id$q$), 50, 'mt.current_tenant() = tenant_id');
SELECT is(pg_temp.cnt(format($q$SELECT count(*)::int FROM public.dat_secrets WHERE tenant_id IN (%L, %L)$q$, :'acme', :'globex')), 50, 'IN (both tenants) shows acme only');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets WHERE public.dat_leak(secret)$q$), 50,
          'a leaky function in WHERE only ever sees acme''s rows (on the workers)');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM pg_stats WHERE tablename LIKE 'dat_secrets%'$q$), 0,
          'pg_stats shows no statistics of the isolated table');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_plans$q$), 1, 'reference table: acme sees its row only');
SELECT is(pg_temp.val(format($q$SELECT plan FROM public.dat_plans WHERE tenant_id = %L$q$, :'globex')), NULL, 'reference table: globex''s row by id is not visible');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_orders o JOIN public.dat_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id$q$), 30,
          'co-located join: acme''s rows only');
SELECT is(pg_temp.cnt(format($q$SELECT count(*)::int FROM public.dat_orders o JOIN public.dat_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id
           WHERE o.tenant_id = %L$q$, :'globex')), 0, 'co-located join on globex''s id: nothing');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_orders o JOIN public.dat_plans p ON p.tenant_id = o.tenant_id$q$), 10,
          'join with the reference table: acme''s rows only');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_orders o JOIN public.dat_items i ON i.order_id = o.id$q$), 30,
          'non co-located join (repartition): acme''s rows only');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets s WHERE s.id IN (SELECT id FROM public.dat_orders)$q$), 10,
          'subquery over another distributed table: acme''s rows only');
-- writes into another tenant
SELECT throws_ok(format($$INSERT INTO public.dat_secrets VALUES (1001, %L, 'planted')$$, :'globex'), '42501', NULL,
                 'INSERT with another tenant id is refused');
-- Citus inserts the rows of an INSERT ... SELECT it evaluates on the
-- coordinator with COPY, which PostgreSQL refuses on a table with row
-- security (0A000): refused either way
SELECT ok(pg_temp.sqlstate(format($$INSERT INTO public.dat_secrets SELECT 1002 + g, %L::uuid, 'planted' FROM generate_series(1, 3) g$$, :'globex'))
          IN ('42501', '0A000'), 'INSERT ... SELECT with another tenant id is refused');
SELECT ok(pg_temp.sqlstate(format($$INSERT INTO public.dat_secrets SELECT id + 5000, %L::uuid, secret FROM public.dat_secrets$$, :'globex'))
          IN ('42501', '0A000'), 'INSERT ... SELECT from the table with another tenant id is refused');
SELECT throws_ok(format($$INSERT INTO public.dat_plans VALUES (%L, 'planted') ON CONFLICT (tenant_id) DO UPDATE SET plan = 'overwritten'$$, :'globex'),
                 '42501', NULL, 'reference table: ON CONFLICT DO UPDATE on globex''s row is refused');
SELECT throws_ok(format($$UPDATE public.dat_secrets SET tenant_id = %L WHERE id = 1$$, :'globex'), NULL, NULL,
                 'UPDATE moving a row to another tenant is refused');
SELECT throws_ok(format($$UPDATE public.dat_plans SET tenant_id = %L$$, '00000000-0000-0000-0000-000000000002'), '42501', NULL,
                 'reference table: UPDATE moving acme''s row to another tenant is refused');
SELECT throws_ok(format($$INSERT INTO public.dat_secrets VALUES (51, %L, 'overwrite') ON CONFLICT (tenant_id, id) DO UPDATE SET secret = 'overwritten'$$, :'globex'),
                 '42501', NULL, 'ON CONFLICT DO UPDATE on another tenant''s row is refused');
SELECT lives_ok($$INSERT INTO public.dat_secrets VALUES (1, DEFAULT, 'x') ON CONFLICT (tenant_id, id) DO NOTHING$$,
                'ON CONFLICT DO NOTHING on an own row does nothing');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 50, '... still 50 rows');
-- RETURNING, CTEs, unqualified writes
SELECT results_eq($$WITH u AS (UPDATE public.dat_secrets SET secret = secret || '!' RETURNING tenant_id) SELECT count(*)::int, bool_and(tenant_id = mt.current_tenant()) FROM u$$,
                  $$VALUES (50, true)$$, 'unqualified UPDATE ... RETURNING touches acme''s 50 rows only');
SELECT results_eq(format($$WITH d AS (DELETE FROM public.dat_secrets WHERE tenant_id = %L RETURNING id) SELECT count(*)::int FROM d$$, :'globex'),
                  ARRAY[0], 'DELETE of globex''s rows by id in a CTE deletes nothing');
SELECT results_eq($$WITH d AS (DELETE FROM public.dat_secrets WHERE id > 45 RETURNING id) SELECT count(*)::int FROM d$$,
                  ARRAY[5], 'DELETE in a CTE deletes acme''s rows only');
SELECT results_eq($$WITH s AS MATERIALIZED (SELECT * FROM public.dat_secrets) SELECT count(*)::int FROM s$$,
                  ARRAY[45], 'materialized CTE: acme''s rows only');
SELECT results_eq($$WITH a AS (SELECT tenant_id FROM public.dat_secrets), b AS (SELECT tenant_id FROM a WHERE tenant_id IS NOT NULL) SELECT count(*)::int FROM b$$,
                  ARRAY[45], 'nested CTEs: acme''s rows only');
SELECT results_eq($$SELECT count(*)::int FROM public.dat_secrets UNION ALL SELECT count(*)::int FROM public.dat_orders$$,
                  ARRAY[45, 10], 'UNION ALL: acme''s rows only');
-- views and SECURITY DEFINER functions of the owner are confined (FORCE)
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_owner_view$q$), 45, 'owner''s view is confined to the tenant');
SELECT is(pg_temp.cnt($q$SELECT public.dat_owner_definer()::int$q$), 45, 'owner''s SECURITY DEFINER function is confined to the tenant');
-- a tenant switch inside a transaction, subtransactions, cursors
BEGIN;
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 45, 'transaction: acme');
SAVEPOINT s1;
SELECT pg_temp.enter('globex');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 50, 'subtransaction: globex');
ROLLBACK TO SAVEPOINT s1;
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 45, 'after ROLLBACK TO SAVEPOINT: acme again');
SAVEPOINT s2;
RESET multitenant.token;
RELEASE SAVEPOINT s2;
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 0, 'context reset in a released subtransaction: nothing');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_orders$q$), 0, '... also on a table no connection read yet');
COMMIT;
SELECT pg_temp.enter('acme');
SELECT results_eq('SELECT * FROM pg_temp.cursor_rows()', $$VALUES (45, 0)$$, 'a cursor reads acme''s rows only');
BEGIN;
DECLARE c CURSOR WITH HOLD FOR SELECT tenant_id FROM public.dat_secrets;
COMMIT;
SELECT pg_temp.enter('globex');
SELECT results_eq($$SELECT count(*)::int, count(*) FILTER (WHERE tenant_id <> current_setting('test.acme')::uuid)::int FROM pg_temp.fetch_all('c') AS f(tenant_id)$$,
                  $$VALUES (45, 0)$$, 'a WITH HOLD cursor declared as acme holds acme''s rows only');
CLOSE c;
-- prepared statements with generic plans across a tenant switch
SELECT pg_temp.enter('globex');
SET plan_cache_mode = force_generic_plan;
PREPARE q AS SELECT count(*)::int FROM public.dat_secrets;
PREPARE q2(uuid) AS SELECT count(*)::int FROM public.dat_secrets WHERE tenant_id = $1;
PREPARE q3 AS SELECT count(*)::int FROM public.dat_orders o JOIN public.dat_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id;
SELECT results_eq('EXECUTE q', ARRAY[50], 'generic plan: globex');
SELECT results_eq(format('EXECUTE q2(%L)', :'globex'), ARRAY[50], 'generic plan with the tenant parameter: globex');
SELECT results_eq('EXECUTE q3', ARRAY[30], 'generic plan of a co-located join: globex');
SELECT pg_temp.enter('acme');
SELECT results_eq('EXECUTE q', ARRAY[45], 'same generic plan after switching to acme');
SELECT results_eq(format('EXECUTE q2(%L)', :'globex'), ARRAY[0], 'same generic plan, globex''s id, as acme: nothing');
SELECT results_eq('EXECUTE q3', ARRAY[30], 'same generic plan of the join as acme');
RESET multitenant.token;
SELECT results_eq('EXECUTE q', ARRAY[0], 'same generic plan without context');
SELECT results_eq('EXECUTE q3', ARRAY[0], 'same generic join plan without context');
DEALLOCATE q; DEALLOCATE q2; DEALLOCATE q3;
RESET plan_cache_mode;
-- parallel query (on the workers' shards and on the coordinator)
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT pg_temp.enter('acme');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 45, 'parallel settings: acme only');
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;
-- a suspended tenant
RESET ROLE;
SELECT mt.suspend_tenant(:'acme');
SET ROLE dat_app;
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 0, 'suspended tenant: nothing visible');
SELECT throws_ok($$INSERT INTO public.dat_secrets VALUES (2000, DEFAULT, 'x')$$, '42501', NULL,
                 'suspended tenant: cannot insert (no tenant)');
RESET ROLE;
SELECT mt.resume_tenant(:'acme');
-- the other tenant's data was not touched by any of the above
SET ROLE dat_app;
SELECT pg_temp.enter('globex');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 50, 'globex still has 50 rows');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets WHERE secret LIKE '%!' OR secret IN ('overwritten', 'planted')$q$), 0,
          'no globex row was modified');
SELECT is(pg_temp.val($q$SELECT plan FROM public.dat_plans$q$), 'silver', 'globex''s reference row unchanged');
RESET ROLE;
SELECT is(pg_temp.cnt(format($q$SELECT count(*)::int FROM public.dat_secrets WHERE tenant_id NOT IN (%L, %L)$q$, :'acme', :'globex')), 0, 'no row of a third tenant was planted');
-- the table owner cannot switch the protection off
SET ROLE dat_owner;
SELECT throws_ok('ALTER TABLE public.dat_secrets NO FORCE ROW LEVEL SECURITY', '42501', NULL, 'owner cannot stop FORCE');
SELECT throws_ok('DROP POLICY mt_tenant_isolation ON public.dat_secrets', '42501', NULL, 'owner cannot drop the tenant policy');
SELECT lives_ok('CREATE POLICY wide_open ON public.dat_secrets FOR SELECT USING (true)', 'owner can add a permissive policy');
SELECT pg_temp.enter('acme');
SELECT is(pg_temp.cnt($q$SELECT count(*)::int FROM public.dat_secrets$q$), 45, '... but it does not widen access beyond the tenant (restrictive policy)');
RESET multitenant.token;
RESET ROLE;

SELECT * FROM finish();
