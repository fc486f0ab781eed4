-- The placement registry: plans say which isolation levels they allow, every
-- tenant starts at the shared level, mt.tenant_placement shows a tenant's
-- placement to the tenant itself and to back-office roles only, mt.route
-- answers for the verified context (token or API key) and refuses without
-- one or for a tenant that is not active, the registry is confined like
-- mt.tenants and holds no password.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'enterprise') AS globex \gset
SELECT mt.create_tenant('Small', 'small') AS small \gset
SELECT mt.create_api_key(:'acme', 'router') AS key \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour'), false) IS NOT NULL AS ok \gset
DROP ROLE IF EXISTS mt_pr_app;
CREATE ROLE mt_pr_app;
GRANT EXECUTE ON FUNCTION mt.authenticate(text) TO mt_pr_app;
CREATE SCHEMA pr_tmpl;
CREATE TABLE pr_tmpl.notes (id int PRIMARY KEY, body text);
SELECT mt.provision_schema(:'acme', 'pr_tmpl') AS acme_schema \gset
SELECT mt.provision_schema(:'globex', 'pr_tmpl', 'globex_data') AS globex_schema \gset
\set QUIET 0

SELECT plan(22);

-- plans
SELECT results_eq($$SELECT name, isolation_levels FROM mt.plans WHERE builtin ORDER BY price_monthly_cents$$,
                  $$VALUES ('free', '{shared}'::text[]), ('starter', '{shared}'::text[]),
                           ('pro', '{shared,schema}'::text[]), ('enterprise', '{shared,schema,database,shard}'::text[])$$,
                  'built-in plans: free and starter shared only, pro adds schema, enterprise every level');
SELECT throws_ok($$INSERT INTO mt.plans (name, display_name, isolation_levels) VALUES ('odd', 'Odd', '{island}')$$,
                 '23514', NULL, 'a plan cannot allow an unknown level');
SELECT is((SELECT isolation_levels FROM mt.plans WHERE name = 'free'), '{shared}', 'a plan allows shared by default');

-- mt.tenant_placement for back office (the superuser sees every tenant)
SELECT results_eq(format('SELECT level, schema_name, host, port, dbname FROM mt.tenant_placement(%L)', :'small'),
                  $$VALUES ('shared'::text, NULL::name, NULL::text, NULL::int, NULL::name)$$,
                  'a new tenant is at the shared level');
SELECT results_eq(format('SELECT level, schema_name FROM mt.tenant_placement(%L)', :'acme'),
                  $$VALUES ('schema'::text, 'tenant_acme'::name)$$,
                  'a provisioned tenant: schema level, its schema');
SELECT is(:'acme_schema'::text, 'tenant_acme', 'the default schema name is tenant_<slug>');
SELECT results_eq(format('SELECT level, schema_name FROM mt.tenant_placement(%L)', :'globex'),
                  $$VALUES ('schema'::text, 'globex_data'::name)$$, 'an explicit schema name is recorded');
SELECT throws_ok($$SELECT * FROM mt.tenant_placement('00000000-0000-0000-0000-000000000001')$$,
                 '42704', NULL, 'unknown tenant: 42704');

-- an application role
SET ROLE mt_pr_app;
SELECT throws_ok($$SELECT * FROM mt.tenant_placement()$$, '42501', 'no tenant given and no tenant context',
                 'no context and no tenant: 42501');
SELECT throws_ok(format('SELECT * FROM mt.tenant_placement(%L)', :'acme'), '42704', NULL,
                 'no context: another tenant''s placement is not revealed');
SELECT throws_ok($$SELECT * FROM mt.route()$$, '42501', 'mt.route() needs a verified tenant context',
                 'mt.route without a context: 42501');
SELECT is((SELECT count(*)::int FROM mt.tenant_placements), 0, 'no context: the registry shows no row');
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT results_eq($$SELECT level, schema_name FROM mt.tenant_placement()$$,
                  $$VALUES ('schema'::text, 'tenant_acme'::name)$$, 'own placement by default');
SELECT results_eq($$SELECT level, schema_name, host, port, dbname FROM mt.route()$$,
                  $$VALUES ('schema'::text, 'tenant_acme'::name, NULL::text, NULL::int, NULL::name)$$,
                  'mt.route with a token: where the tenant lives');
SELECT throws_ok(format('SELECT * FROM mt.tenant_placement(%L)', :'globex'), '42704', NULL,
                 'in Acme''s context, Globex''s placement is not revealed');
SELECT results_eq($$SELECT tenant_id FROM mt.tenant_placements$$, format('VALUES (%L::uuid)', :'acme'),
                  'the registry shows only the own tenant''s row');
SELECT throws_ok(format($$INSERT INTO mt.tenant_placements (tenant_id, level, schema_name) VALUES (%L, 'schema', 'x')$$, :'small'),
                 '42501', NULL, 'the registry is not writable by applications');
RESET multitenant.token;
-- an API key enters the context for the transaction
BEGIN;
SELECT mt.authenticate(:'key') IS NOT NULL AS authenticated \gset
SELECT results_eq($$SELECT level, schema_name FROM mt.route()$$,
                  $$VALUES ('schema'::text, 'tenant_acme'::name)$$, 'mt.route after mt.authenticate');
COMMIT;
RESET ROLE;

-- a tenant suspended in the transaction that routes: its context ends at once
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT mt.suspend_tenant(:'acme');
SELECT throws_ok($$SELECT * FROM mt.route()$$, '42501', NULL, 'a tenant suspended meanwhile is routed nowhere (its context ended): 42501');
ROLLBACK;
SELECT mt.suspend_tenant(:'acme');
SELECT throws_ok($$SET multitenant.token = 'x'$$, '28000', NULL, 'a malformed token does not enter a context');
SELECT throws_ok($$SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false)$$, '28000', NULL,
                 'a suspended tenant''s token no longer enters a context (mt.route has none to answer for)');

-- no passwords: the location is host, port and database name only
SELECT throws_ok(format($$INSERT INTO mt.tenant_placements (tenant_id, level, host, port, dbname) VALUES (%L, 'database', 'db1 password=secret', 5432, 'acme')$$, :'small'),
                 '23514', NULL, 'a host with a connection-string option (a password) is refused');

SELECT * FROM finish();
