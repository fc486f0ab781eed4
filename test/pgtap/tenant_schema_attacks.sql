-- Attacks on schema-per-tenant tables: a role with a valid login (the
-- application role, or the migration role that owns the tables) wants
-- another tenant's rows.  No context, a forged context, another tenant's
-- context, direct table access, a view and a SECURITY DEFINER function of
-- the owner, prepared statements with generic plans across a tenant
-- switch, parallel query, a table added later, search_path games; and
-- mt.use_tenant_schema() puts only the context's own schema on the path.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT mt.create_tenant('Acme', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'pro') AS globex \gset
SELECT mt.create_tenant('Shared Co', 'shared-co') AS shared \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour'), false) IS NOT NULL AS ok \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour'), false) IS NOT NULL AS ok \gset
SELECT set_config('test.tok_shared', mt.tenant_token(:'shared', '1 hour'), false) IS NOT NULL AS ok \gset
DROP ROLE IF EXISTS mt_sa_app;
DROP ROLE IF EXISTS mt_sa_owner;
CREATE ROLE mt_sa_app;
CREATE ROLE mt_sa_owner;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO mt_sa_owner', current_database()); END $$;
GRANT CREATE ON SCHEMA public TO mt_sa_owner;
GRANT EXECUTE ON FUNCTION mt.provision_schema(uuid, name, name) TO mt_sa_owner;
CREATE SCHEMA tmpl AUTHORIZATION mt_sa_owner;
SET ROLE mt_sa_owner;
CREATE TABLE tmpl.secrets (id serial PRIMARY KEY, secret text NOT NULL);
GRANT USAGE ON SCHEMA tmpl TO mt_sa_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tmpl.secrets TO mt_sa_app;
GRANT USAGE ON SEQUENCE tmpl.secrets_id_seq TO mt_sa_app;
SELECT mt.provision_schema(:'acme', 'tmpl') IS NOT NULL AS ok \gset
SELECT mt.provision_schema(:'globex', 'tmpl') IS NOT NULL AS ok \gset
-- the owner's view and SECURITY DEFINER function over Acme's table
CREATE VIEW public.sa_owner_view AS SELECT * FROM tenant_acme.secrets;
CREATE FUNCTION public.sa_owner_definer() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    AS 'SELECT count(*) FROM tenant_acme.secrets';
GRANT SELECT ON public.sa_owner_view TO mt_sa_app;
RESET ROLE;
-- rows written in each tenant's context (the superuser bypasses RLS: use the app role)
BEGIN;
SELECT mt.set_tenant(:'acme') IS NOT NULL AS ok \gset
SET LOCAL ROLE mt_sa_app;
INSERT INTO tenant_acme.secrets (secret) SELECT 'acme-' || g FROM generate_series(1, 3000) g;
COMMIT;
BEGIN;
SELECT mt.set_tenant(:'globex') IS NOT NULL AS ok \gset
SET LOCAL ROLE mt_sa_app;
INSERT INTO tenant_globex.secrets (secret) SELECT 'globex-' || g FROM generate_series(1, 1000) g;
COMMIT;
ANALYZE tenant_acme.secrets, tenant_globex.secrets;
\i sql/include/workers_launched.psql
CREATE FUNCTION pg_temp.enter(tok text) RETURNS void LANGUAGE sql AS
$$ SELECT set_config('multitenant.token', current_setting(tok), false) $$;
\set QUIET 0

SELECT plan(43);

-- 1. no context
SET ROLE mt_sa_app;
SELECT is((SELECT count(*)::int FROM tenant_acme.secrets), 0, 'no context: nothing visible');
SELECT throws_ok($$INSERT INTO tenant_acme.secrets (secret) VALUES ('planted')$$, '42501', NULL,
                 'no context: cannot insert');
SELECT is_empty($$UPDATE tenant_acme.secrets SET secret = 'x' RETURNING 1$$,
                'no context: UPDATE changes nothing');
SELECT is_empty($$DELETE FROM tenant_acme.secrets RETURNING 1$$,
                'no context: DELETE removes nothing');
SELECT is((SELECT count(*)::int FROM public.sa_owner_view), 0, 'no context: the owner''s view shows nothing');

-- 2. forged context
SELECT throws_ok($$SET multitenant.token = 'eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ4In0.'$$, '28000', NULL, 'alg none token refused');
SELECT throws_ok(format('SELECT set_config(%L, %L, false)', 'multitenant.token',
                        regexp_replace(current_setting('test.tok_globex'), '\.[^.]*$', '.AAAA')),
                 '28000', NULL, 'a token with a forged signature is refused');

-- 3. another tenant's context
SELECT pg_temp.enter('test.tok_globex');
SELECT is((SELECT count(*)::int FROM tenant_acme.secrets), 0, 'Globex context: Acme''s schema shows nothing');
SELECT is((SELECT count(*)::int FROM tenant_globex.secrets), 1000, 'Globex context: its own rows');
SELECT throws_ok($$INSERT INTO tenant_acme.secrets (secret) VALUES ('planted')$$, '42501', NULL,
                 'Globex context: cannot insert into Acme''s schema');
SELECT is_empty($$UPDATE tenant_acme.secrets SET secret = 'x' RETURNING 1$$,
                'Globex context: cannot update Acme''s rows');
SELECT is_empty($$DELETE FROM tenant_acme.secrets RETURNING 1$$,
                'Globex context: cannot delete Acme''s rows');
SELECT is((SELECT count(*)::int FROM public.sa_owner_view), 0, 'Globex context: the owner''s view shows nothing of Acme');
SELECT is((SELECT count(*)::int FROM tenant_acme.secrets WHERE id = 1 OR secret LIKE 'acme%'), 0,
          'Globex context: asking by key or value finds nothing');
SELECT is(public.sa_owner_definer(), 0::bigint, 'Globex context: the owner''s SECURITY DEFINER function counts nothing of Acme (FORCE binds the owner)');
-- search_path games: Acme's schema first on the path changes nothing
SET search_path = tenant_acme, public;
SELECT is((SELECT count(*)::int FROM secrets), 0, 'Globex context with Acme''s schema on search_path: nothing visible');
RESET search_path;
RESET multitenant.token;
SELECT throws_ok($$SELECT mt.use_tenant_schema()$$, '42501', NULL, 'mt.use_tenant_schema() without a context: 42501');

-- 4. the owner, bound by FORCE
RESET ROLE;
SET ROLE mt_sa_owner;
SELECT is((SELECT count(*)::int FROM tenant_acme.secrets), 0, 'the owner without a context sees nothing');
SELECT throws_ok($$INSERT INTO tenant_acme.secrets (secret) VALUES ('owner')$$, '42501', NULL,
                 'the owner without a context cannot insert');
SELECT throws_ok($$ALTER TABLE tenant_acme.secrets NO FORCE ROW LEVEL SECURITY$$, '42501', NULL,
                 'the owner cannot stop forcing RLS');
-- a permissive policy the owner adds cannot widen access: the generated one is restrictive
CREATE POLICY wide_open ON tenant_acme.secrets USING (true) WITH CHECK (true);
SELECT pg_temp.enter('test.tok_globex');
SELECT is((SELECT count(*)::int FROM tenant_acme.secrets), 0,
          'an added permissive USING (true) policy: Globex still sees nothing of Acme');
SELECT throws_ok($$INSERT INTO tenant_acme.secrets (secret) VALUES ('owner')$$, '42501', NULL,
                 'an added permissive policy: Globex still cannot write Acme''s schema');
RESET multitenant.token;
DROP POLICY wide_open ON tenant_acme.secrets;
RESET ROLE;

-- 5. the tenant itself
SET ROLE mt_sa_app;
SELECT pg_temp.enter('test.tok_acme');
SELECT is((SELECT count(*)::int FROM tenant_acme.secrets), 3000, 'Acme context: its 3000 rows');
SELECT is((SELECT count(*)::int FROM tenant_globex.secrets), 0, 'Acme context: nothing of Globex');
SELECT is((SELECT count(*)::int FROM public.sa_owner_view), 3000, 'Acme context: the owner''s view shows Acme''s rows');
SELECT lives_ok($$INSERT INTO tenant_acme.secrets (secret) VALUES ('new')$$, 'Acme context: writes its schema');

-- 6. prepared statements with generic plans across a tenant switch
SET plan_cache_mode = force_generic_plan;
PREPARE q AS SELECT count(*)::int FROM tenant_acme.secrets;
SELECT results_eq('EXECUTE q', ARRAY[3001], 'generic plan: Acme');
SELECT pg_temp.enter('test.tok_globex');
SELECT results_eq('EXECUTE q', ARRAY[0], 'same generic plan after switching to Globex: nothing');
RESET multitenant.token;
SELECT results_eq('EXECUTE q', ARRAY[0], 'same generic plan without context: nothing');
DEALLOCATE q;
RESET plan_cache_mode;

-- 7. parallel query
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT pg_temp.enter('test.tok_acme');
SELECT cmp_ok(pg_temp.workers_launched('SELECT count(*) FROM tenant_acme.secrets'), '>', 0,
              'the count runs with parallel workers');
SELECT count(*)::int AS got_acme FROM tenant_acme.secrets \gset
SELECT is(:got_acme, 3001, 'parallel: Acme sees exactly its rows');
SELECT pg_temp.enter('test.tok_globex');
SELECT count(*)::int AS got_globex FROM tenant_acme.secrets \gset
SELECT is(:got_globex, 0, 'parallel: Globex sees nothing of Acme');
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET multitenant.token;
RESET ROLE;

-- 8. a table added later
SET ROLE mt_sa_owner;
CREATE TABLE tenant_acme.later (id int PRIMARY KEY, note text);
GRANT SELECT, INSERT ON tenant_acme.later TO mt_sa_app;
RESET ROLE;
SET ROLE mt_sa_app;
SELECT pg_temp.enter('test.tok_globex');
SELECT throws_ok($$INSERT INTO tenant_acme.later VALUES (1, 'planted')$$, '42501', NULL,
                 'a table added later: Globex cannot write it');
SELECT pg_temp.enter('test.tok_acme');
SELECT lives_ok($$INSERT INTO tenant_acme.later VALUES (1, 'mine')$$, 'a table added later: Acme writes it');
SELECT pg_temp.enter('test.tok_globex');
SELECT is((SELECT count(*)::int FROM tenant_acme.later), 0, 'a table added later: Globex sees nothing');
RESET multitenant.token;
RESET ROLE;

-- 9. the context's schema on search_path, nobody else's
SET ROLE mt_sa_app;
SELECT is(mt.tenant_schema(), NULL, 'mt.tenant_schema() without a context: NULL');
SELECT pg_temp.enter('test.tok_acme');
SELECT is(mt.tenant_schema()::text, 'tenant_acme', 'mt.tenant_schema() in Acme''s context');
SET search_path = tenant_globex, public;
BEGIN;
SELECT is(mt.use_tenant_schema()::text, 'tenant_acme', 'mt.use_tenant_schema() returns the schema');
SELECT is(current_schemas(false)::text, '{tenant_acme,public}',
          'the path: the own schema first, another tenant''s schema taken out');
SELECT is((SELECT count(*)::int FROM secrets), 3001, 'unqualified names resolve in the own schema');
COMMIT;
SELECT is(current_schemas(false)::text, '{tenant_globex,public}', 'at the end of the transaction the path is back');
SELECT is((SELECT count(*)::int FROM secrets), 0, 'and another tenant''s schema on the path shows nothing');
RESET search_path;
SELECT pg_temp.enter('test.tok_shared');
SELECT throws_ok($$SELECT mt.use_tenant_schema()$$, '55000', NULL, 'a shared-level tenant has no schema: 55000');
RESET multitenant.token;
RESET ROLE;

SELECT * FROM finish();
