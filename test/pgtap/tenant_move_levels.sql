-- mt.move_tenant shared -> schema -> shared: same rows and ids at each
-- level (checksums), sequences advanced past the moved ids, the placement
-- switched and the tenant schema dropped on the way back, tenant.moved in
-- a chain that still verifies, the tenant's API key and token still work,
-- another tenant untouched; every bad input refused with its SQLSTATE and
-- nothing moved.  (Concurrency: test/isolation/specs/tenant_move_writes.spec.)
\set ON_ERROR_STOP 1
\set QUIET 1
\o /dev/null
SELECT mt.create_tenant('Acme', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'pro') AS globex \gset
SELECT mt.create_tenant('Free One', 'free-one') AS free \gset
DROP ROLE IF EXISTS mt_mv_app;
DROP ROLE IF EXISTS mt_mv_owner;
CREATE ROLE mt_mv_app;
CREATE ROLE mt_mv_owner;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO mt_mv_owner', current_database()); END $$;
GRANT CREATE ON SCHEMA public TO mt_mv_owner;
GRANT EXECUTE ON FUNCTION mt.provision_schema(uuid, name, name), mt.move_tenant(uuid, text, text) TO mt_mv_owner;
SET ROLE mt_mv_owner;
CREATE TABLE public.customers (tenant_id uuid NOT NULL DEFAULT mt.current_tenant(), id serial,
                               email text NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE TABLE public.orders (tenant_id uuid NOT NULL DEFAULT mt.current_tenant(),
                            id bigint GENERATED ALWAYS AS IDENTITY, customer_id int NOT NULL,
                            total numeric NOT NULL DEFAULT 0, PRIMARY KEY (tenant_id, id),
                            FOREIGN KEY (tenant_id, customer_id) REFERENCES public.customers);
CREATE TABLE public.notes (tenant_id uuid NOT NULL DEFAULT mt.current_tenant(), body text);
CREATE TABLE public.flags (tenant_id uuid NOT NULL DEFAULT mt.current_tenant());
CREATE SCHEMA tmpl;
CREATE TABLE tmpl.customers (id serial PRIMARY KEY, email text NOT NULL);
CREATE TABLE tmpl.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                          customer_id int NOT NULL REFERENCES tmpl.customers, total numeric NOT NULL DEFAULT 0);
CREATE TABLE tmpl.flags ();
-- a template that lacks a column of customers, one that lacks orders
CREATE SCHEMA tmpl_nocol;
CREATE TABLE tmpl_nocol.customers (id serial PRIMARY KEY);
CREATE TABLE tmpl_nocol.orders (LIKE tmpl.orders INCLUDING ALL);
CREATE SCHEMA tmpl_noorders;
CREATE TABLE tmpl_noorders.customers (LIKE tmpl.customers INCLUDING ALL);
CREATE TABLE tmpl_nocol.flags ();
CREATE TABLE tmpl_noorders.flags ();
GRANT USAGE ON SCHEMA tmpl TO mt_mv_app;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA tmpl TO mt_mv_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA tmpl TO mt_mv_app;
GRANT SELECT, INSERT ON public.customers, public.orders, public.notes, public.flags TO mt_mv_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO mt_mv_app;
RESET ROLE;
SELECT mt.enable_isolation('public.customers'), mt.enable_isolation('public.orders'),
       mt.enable_isolation('public.notes'), mt.enable_isolation('public.flags');
INSERT INTO public.flags SELECT t FROM unnest(ARRAY[:'acme', :'acme', :'globex']::uuid[]) t;
INSERT INTO public.customers (tenant_id, email) SELECT t, t || '-' || g FROM unnest(ARRAY[:'acme', :'globex']::uuid[]) t, generate_series(1, 5) g;
INSERT INTO public.orders (tenant_id, customer_id, total) SELECT tenant_id, id, id * 10 FROM public.customers;
SELECT mt.create_api_key(:'acme', 'app') AS key \gset
CREATE TEMP TABLE tok AS SELECT mt.tenant_token(:'acme', '1 hour') AS t;
GRANT SELECT ON tok TO mt_mv_app;
CREATE FUNCTION pg_temp.rows_of(tenant uuid, via text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE c text; o text;
BEGIN
    IF via = 'shared' THEN
        SELECT string_agg(format('%s:%s', id, email), ',' ORDER BY id) INTO c FROM public.customers WHERE tenant_id = tenant;
        SELECT string_agg(format('%s:%s:%s', id, customer_id, total), ',' ORDER BY id) INTO o FROM public.orders WHERE tenant_id = tenant;
    ELSE
        EXECUTE format('SELECT string_agg(format(''%%s:%%s'', id, email), '','' ORDER BY id) FROM %I.customers', via) INTO c;
        EXECUTE format('SELECT string_agg(format(''%%s:%%s:%%s'', id, customer_id, total), '','' ORDER BY id) FROM %I.orders', via) INTO o;
    END IF;
    RETURN md5(coalesce(c, '') || '|' || coalesce(o, ''));
END $f$;
SELECT pg_temp.rows_of(:'acme', 'shared') AS acme_before, pg_temp.rows_of(:'globex', 'shared') AS globex_before \gset
SELECT rows_checked AS chain_before FROM mt.audit_verify(:'acme') \gset
\o
\set QUIET 0

SELECT plan(37);

-- bad input: each with its SQLSTATE, nothing moved
SET ROLE mt_mv_owner;
SELECT throws_ok($$SELECT * FROM mt.move_tenant('00000000-0000-0000-0000-000000000001', 'schema', 'tmpl')$$,
                 '42704', NULL, 'unknown tenant: 42704');
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L)', :'acme', 'database'), '0A000', NULL,
                 'to the database level: 0A000 (bin/mt-tenant move-to-database)');
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L)', :'acme', 'bogus'), '22023', NULL, 'unknown level: 22023');
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L)', :'acme', 'schema'), '22004', NULL,
                 'to the schema level without a template: 22004');
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L)', :'acme', 'shared'), '55000',
                 format('tenant %s is already at level shared', :'acme'), 'already at the target level: 55000');
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L, %L)', :'free', 'schema', 'tmpl'), '55000',
                 format('plan "free" of tenant %s does not allow the schema level', :'free'), 'the plan does not allow the level: 55000');
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L, %L)', :'acme', 'schema', 'no_such_template'), '3F000', NULL,
                 'missing template: 3F000');
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L, %L)', :'acme', 'schema', 'tmpl_nocol'), '42703',
                 'columns of public.customers cannot be mapped to tmpl_nocol.customers: email',
                 'a column without a counterpart: 42703 naming it');
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L, %L)', :'acme', 'schema', 'tmpl_noorders'), '42P01',
                 'public.orders holds rows of the tenant, and tmpl_noorders has no table "orders"',
                 'a table with rows and no counterpart: 42P01');
CREATE SCHEMA tenant_acme;
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L, %L)', :'acme', 'schema', 'tmpl'), '42P06', NULL,
                 'the tenant schema''s name is taken: 42P06');
DROP SCHEMA tenant_acme;
SET default_transaction_isolation = 'repeatable read';
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L, %L)', :'acme', 'schema', 'tmpl'), '0A000',
                 'mt.move_tenant must run at the READ COMMITTED isolation level', 'REPEATABLE READ: 0A000');
RESET default_transaction_isolation;
RESET ROLE;
SELECT is((SELECT level FROM mt.tenant_placement(:'acme')), 'shared', 'after the refused moves: still shared');
SELECT is(pg_temp.rows_of(:'acme', 'shared'), :'acme_before', 'and every row where it was');
SELECT ok(to_regnamespace('tenant_acme') IS NULL, 'and no schema left behind');

-- shared -> schema
SET ROLE mt_mv_owner;
SELECT results_eq(format('SELECT item, rows FROM mt.move_tenant(%L, %L, %L)', :'acme', 'schema', 'tmpl'),
                  $$VALUES ('public.customers -> tenant_acme.customers', 5::bigint),
                           ('public.flags -> tenant_acme.flags', 2),
                           ('public.orders -> tenant_acme.orders', 5), ('public.notes', 0), ('placement', 12)$$,
                  'moved to the schema level: one row per table') ;
RESET ROLE;
SELECT is((SELECT level || ' ' || schema_name FROM mt.tenant_placement(:'acme')), 'schema tenant_acme', 'placement switched');
SELECT is(pg_temp.rows_of(:'acme', 'tenant_acme'), :'acme_before', 'same rows and ids in the tenant schema');
SELECT is((SELECT count(*) FROM public.customers WHERE tenant_id = :'acme') + (SELECT count(*) FROM public.orders WHERE tenant_id = :'acme'),
          0::bigint, 'none left in the shared tables');
SELECT is(pg_temp.rows_of(:'globex', 'shared'), :'globex_before', 'another tenant untouched');
SELECT is((SELECT action FROM mt.audit_log WHERE tenant_id = :'acme' ORDER BY seq DESC LIMIT 1), 'tenant.moved', 'tenant.moved audited');
SELECT ok((SELECT ok AND rows_checked = :chain_before + 1 FROM mt.audit_verify(:'acme')), 'the chain continues and verifies');

-- the tenant's key and token still work, and it writes into its schema
SET ROLE mt_mv_app;
SELECT is(mt.authenticate(:'key'), :'acme'::uuid, 'the API key authenticates after the move');
BEGIN;
SELECT set_config('multitenant.token', (SELECT t FROM tok), true) IS NOT NULL AS entered \gset
SELECT is(mt.current_tenant(), :'acme'::uuid, 'the token enters the tenant after the move');
SELECT is((SELECT level FROM mt.route()), 'schema', 'mt.route() sends it to its schema');
SELECT is(mt.use_tenant_schema()::text, 'tenant_acme', 'its schema resolves');
INSERT INTO customers (email) VALUES ('acme-new') RETURNING id AS new_id \gset
SELECT is(:new_id, 6, 'the schema''s sequence continues past the moved ids');
INSERT INTO orders (customer_id, total) VALUES (6, 60);
COMMIT;
RESET ROLE;

-- schema -> shared; first a move that fails after it held the tenant
-- (an id of the tenant taken in the shared table: 23505): rolled back to
-- the savepoint, nothing moved, and the transaction moves again
SELECT pg_temp.rows_of(:'acme', 'tenant_acme') AS acme_schema \gset
INSERT INTO public.customers (tenant_id, id, email) VALUES (:'acme', 3, 'squatter');
BEGIN;
SET LOCAL ROLE mt_mv_owner;
SELECT throws_ok(format('SELECT * FROM mt.move_tenant(%L, %L)', :'acme', 'shared'), '23505', NULL,
                 'an id taken in the shared table: 23505');
RESET ROLE;
SELECT is((SELECT level FROM mt.tenant_placement(:'acme')), 'schema', 'still at the schema level after the failed move');
DELETE FROM public.customers WHERE email = 'squatter';
SET LOCAL ROLE mt_mv_owner;
SELECT results_eq(format('SELECT item, rows FROM mt.move_tenant(%L, %L)', :'acme', 'shared'),
                  $$VALUES ('tenant_acme.customers -> public.customers', 6::bigint),
                           ('tenant_acme.flags -> public.flags', 2),
                           ('tenant_acme.orders -> public.orders', 6), ('placement', 14)$$,
                  'moved back to the shared level (in the transaction of the failed attempt)');
COMMIT;
SELECT is((SELECT level FROM mt.tenant_placement(:'acme')), 'shared', 'placement back to shared (no row)');
SELECT ok(to_regnamespace('tenant_acme') IS NULL, 'the tenant schema is dropped');
SELECT is(pg_temp.rows_of(:'acme', 'shared'), :'acme_schema', 'same rows and ids in the shared tables');
SELECT ok((SELECT ok AND rows_checked = :chain_before + 2 FROM mt.audit_verify(:'acme')), 'the chain verifies with both moves');
SET ROLE mt_mv_app;
SELECT is(mt.authenticate(:'key'), :'acme'::uuid, 'the API key authenticates after the move back');
RESET ROLE;
SELECT ok(nextval('public.customers_id_seq') > 6, 'the shared sequence is past the moved ids');
SELECT is(pg_temp.rows_of(:'globex', 'shared'), :'globex_before', 'another tenant still untouched');
SELECT is((SELECT count(*) FROM public.flags WHERE tenant_id = :'acme'), 2::bigint,
          'a table with no column but the tenant''s: every row moved there and back');

SELECT * FROM finish();
