-- mt.provision_schema: the tenant's schema cloned from a template (tables,
-- columns, defaults with sequences re-pointed, identity, indexes, CHECK /
-- NOT NULL / UNIQUE / PK, foreign keys re-pointed inside the new schema,
-- grants; no data), every table bound to the tenant (forced RLS, generated
-- policies), the placement recorded in the same transaction; the bad
-- inputs get their documented SQLSTATE and leave nothing behind; the DDL
-- guard covers tenant schemas; tables added later are bound automatically.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'pro') AS globex \gset
SELECT mt.create_tenant('Free One', 'free-one') AS free \gset
SELECT mt.create_tenant('Initech', 'initech', 'enterprise') AS initech \gset
DROP ROLE IF EXISTS mt_ps_app;
DROP ROLE IF EXISTS mt_ps_owner;
CREATE ROLE mt_ps_app;
CREATE ROLE mt_ps_owner;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO mt_ps_owner', current_database()); END $$;
CREATE SCHEMA tmpl AUTHORIZATION mt_ps_owner;
GRANT CREATE ON SCHEMA public TO mt_ps_owner;
SET ROLE mt_ps_owner;
CREATE TABLE tmpl.customers (id serial PRIMARY KEY, email text NOT NULL UNIQUE,
                             age int CHECK (age > 0), created_at timestamptz DEFAULT now());
CREATE TABLE tmpl.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                          customer_id int NOT NULL REFERENCES tmpl.customers (id) ON DELETE CASCADE,
                          total numeric(10, 2) NOT NULL DEFAULT 0);
CREATE INDEX orders_customer_idx ON tmpl.orders (customer_id);
CREATE SEQUENCE tmpl.invoice_no START 1000;
CREATE TABLE tmpl.invoices (no int PRIMARY KEY DEFAULT nextval('tmpl.invoice_no'),
                            order_id bigint REFERENCES tmpl.orders DEFERRABLE INITIALLY DEFERRED);
COMMENT ON TABLE tmpl.orders IS 'Orders of the tenant';
GRANT USAGE ON SCHEMA tmpl TO mt_ps_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA tmpl TO mt_ps_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA tmpl TO mt_ps_app;
INSERT INTO tmpl.customers (email) VALUES ('template-row@example.com');
RESET ROLE;
\set QUIET 0

SELECT plan(46);

-- the migration role provisions (it owns the template and may create schemas)
GRANT EXECUTE ON FUNCTION mt.provision_schema(uuid, name, name) TO mt_ps_owner;
SET ROLE mt_ps_owner;
SELECT is(mt.provision_schema(:'acme', 'tmpl')::text, 'tenant_acme', 'provisioned: the schema is tenant_<slug>');
RESET ROLE;
SELECT is((SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'tenant_acme'), 'mt_ps_owner',
          'the schema belongs to the role that provisioned it');
SELECT results_eq($$SELECT relname::text COLLATE "default", relkind::text FROM pg_class WHERE relnamespace = 'tenant_acme'::regnamespace
                    AND relkind IN ('r', 'S') ORDER BY 1$$,
                  $$VALUES ('customers', 'r'), ('customers_id_seq', 'S'), ('invoice_no', 'S'), ('invoices', 'r'),
                           ('orders', 'r'), ('orders_id_seq', 'S')$$,
                  'tables and sequences cloned');
SELECT is((SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'tenant_acme.customers'::regclass AND adnum = 1),
          'nextval(''tenant_acme.customers_id_seq''::regclass)', 'serial default re-pointed to the new schema''s sequence');
SELECT is((SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'tenant_acme.invoices'::regclass AND adnum = 1),
          'nextval(''tenant_acme.invoice_no''::regclass)', 'a default on a standalone template sequence re-pointed');
SELECT is((SELECT seqstart FROM pg_sequence WHERE seqrelid = 'tenant_acme.invoice_no'::regclass), 1000::bigint,
          'the sequence keeps its options');
SELECT is(pg_get_serial_sequence('tenant_acme.customers', 'id'), 'tenant_acme.customers_id_seq',
          'the serial sequence is owned by the new column');
SELECT is((SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'tenant_acme.orders'::regclass AND attname = 'id'), 'a',
          'identity column cloned');
SELECT is(pg_get_serial_sequence('tenant_acme.orders', 'id'), 'tenant_acme.orders_id_seq', 'with its own identity sequence');
SELECT results_eq($$SELECT conrelid::regclass::text, contype::text, pg_get_constraintdef(oid) FROM pg_constraint
                    WHERE connamespace = 'tenant_acme'::regnamespace ORDER BY 1, 2, 3$$,
                  $$VALUES ('tenant_acme.customers', 'c', 'CHECK ((age > 0))'),
                           ('tenant_acme.customers', 'p', 'PRIMARY KEY (id)'),
                           ('tenant_acme.customers', 'u', 'UNIQUE (email)'),
                           ('tenant_acme.invoices', 'f', 'FOREIGN KEY (order_id) REFERENCES tenant_acme.orders(id) DEFERRABLE INITIALLY DEFERRED'),
                           ('tenant_acme.invoices', 'p', 'PRIMARY KEY (no)'),
                           ('tenant_acme.orders', 'f', 'FOREIGN KEY (customer_id) REFERENCES tenant_acme.customers(id) ON DELETE CASCADE'),
                           ('tenant_acme.orders', 'p', 'PRIMARY KEY (id)')$$,
                  'CHECK, PK, UNIQUE cloned; foreign keys re-pointed inside the new schema');
SELECT ok(EXISTS (SELECT 1 FROM pg_index WHERE indrelid = 'tenant_acme.orders'::regclass AND NOT indisprimary),
          'secondary index cloned');
SELECT is((SELECT attnotnull FROM pg_attribute WHERE attrelid = 'tenant_acme.customers'::regclass AND attname = 'email'), true,
          'NOT NULL cloned');
SELECT is(obj_description('tenant_acme.orders'::regclass, 'pg_class'), 'Orders of the tenant', 'table comment cloned');
SELECT ok(has_table_privilege('mt_ps_app', 'tenant_acme.orders', 'INSERT') AND has_schema_privilege('mt_ps_app', 'tenant_acme', 'USAGE')
          AND has_sequence_privilege('mt_ps_app', 'tenant_acme.customers_id_seq', 'USAGE'),
          'the template''s grants are cloned');
SELECT is((SELECT count(*)::int FROM tenant_acme.customers), 0, 'no data is cloned (counted by the superuser)');
SELECT results_eq($$SELECT relname::text COLLATE "default", relrowsecurity, relforcerowsecurity FROM pg_class
                    WHERE relnamespace = 'tenant_acme'::regnamespace AND relkind = 'r' ORDER BY 1$$,
                  $$VALUES ('customers', true, true), ('invoices', true, true), ('orders', true, true)$$,
                  'every table: row level security enabled and forced');
SELECT results_eq(format($$SELECT polname::text COLLATE "default", polpermissive, pg_get_expr(polqual, polrelid) COLLATE "default", pg_get_expr(polwithcheck, polrelid) COLLATE "default"
                           FROM pg_policy WHERE polrelid = 'tenant_acme.orders'::regclass ORDER BY 1$$),
                  format($$VALUES ('mt_schema_access', true, %1$L, %1$L), ('mt_schema_isolation', false, %1$L, %1$L)$$,
                         format('(mt.current_tenant() = %L::uuid)', :'acme')),
                  'generated policies bound to the schema''s tenant, one restrictive');
SELECT results_eq(format('SELECT level, schema_name FROM mt.tenant_placement(%L)', :'acme'),
                  $$VALUES ('schema'::text, 'tenant_acme'::name)$$, 'the placement is recorded');

-- the tenant works in its schema
BEGIN;
SELECT mt.set_tenant(:'acme') IS NOT NULL AS entered \gset
SET LOCAL ROLE mt_ps_app;
INSERT INTO tenant_acme.customers (email) VALUES ('a@example.com');
INSERT INTO tenant_acme.orders (customer_id, total) SELECT id, 10 FROM tenant_acme.customers;
INSERT INTO tenant_acme.invoices (order_id) SELECT id FROM tenant_acme.orders;
SELECT results_eq($$SELECT c.email, o.total, i.no FROM tenant_acme.customers c JOIN tenant_acme.orders o ON o.customer_id = c.id
                    JOIN tenant_acme.invoices i ON i.order_id = o.id$$,
                  $$VALUES ('a@example.com', 10.00::numeric(10,2), 1000)$$,
                  'in its context the tenant writes and reads its schema (defaults from its own sequences)');
COMMIT;
SELECT is((SELECT last_value FROM tmpl.invoice_no), 1000::bigint, 'the template''s sequence was not used');

-- bad input: a clear error, nothing created
SELECT throws_ok(format($$SELECT mt.provision_schema(%L, 'tmpl')$$, :'acme'), '55000',
                 format('tenant %s is already placed at level schema in schema tenant_acme', :'acme'),
                 'a tenant already at the schema level: 55000');
SELECT throws_ok($$SELECT mt.provision_schema('00000000-0000-0000-0000-000000000001', 'tmpl')$$, '42704', NULL,
                 'unknown tenant: 42704');
SELECT throws_ok(format($$SELECT mt.provision_schema(%L, 'tmpl')$$, :'free'), '55000',
                 format('plan "free" of tenant %s does not allow the schema level', :'free'),
                 'a plan without the schema level: 55000');
SELECT throws_ok(format($$SELECT mt.provision_schema(%L, 'tmpl', 'tmpl')$$, :'globex'), '42P06', NULL,
                 'name collision with an existing schema: 42P06');
SELECT throws_ok(format($$SELECT mt.provision_schema(%L, 'no_such_schema')$$, :'globex'), '3F000', NULL,
                 'unknown template: 3F000');
SELECT throws_ok(format($$SELECT mt.provision_schema(%L, 'mt')$$, :'globex'), '42501', NULL,
                 'the extension''s schema is no template: 42501');
SELECT throws_ok(format($$SELECT mt.provision_schema(%L, 'tenant_acme')$$, :'globex'), '22023', NULL,
                 'another tenant''s schema is no template: 22023');
SELECT throws_ok(format($$SELECT mt.provision_schema(%L, 'tmpl', 'pg_mine')$$, :'globex'), '22023', NULL,
                 'a reserved schema name: 22023');
SELECT throws_ok($$SELECT mt.provision_schema(NULL, 'tmpl')$$, '22004', NULL, 'NULL tenant: 22004');
SET ROLE mt_ps_owner;
CREATE VIEW tmpl.big_orders AS SELECT * FROM tmpl.orders WHERE total > 100;
CREATE FUNCTION tmpl.order_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM tmpl.orders';
CREATE TYPE tmpl.mood AS ENUM ('ok', 'sad');
CREATE FUNCTION tmpl.touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER touch BEFORE UPDATE ON tmpl.customers FOR EACH ROW EXECUTE FUNCTION tmpl.touch();
RESET ROLE;
SELECT throws_like(format($$SELECT mt.provision_schema(%L, 'tmpl')$$, :'globex'),
                   'template schema "tmpl" holds view tmpl.big_orders, which mt.provision_schema cannot clone',
                   'a template with a view: the error names the view');
SELECT throws_ok(format($$SELECT mt.provision_schema(%L, 'tmpl')$$, :'globex'), '0A000', NULL,
                 'objects that cannot be cloned: 0A000');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenant_globex')
          AND NOT EXISTS (SELECT 1 FROM mt.tenant_placements WHERE tenant_id = :'globex'),
          'nothing was created, the tenant stays shared');
CREATE FUNCTION pg_temp.detail(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN EXECUTE q; RETURN NULL;
EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL; RETURN d;
END $$;
SELECT is(pg_temp.detail(format($$SELECT mt.provision_schema(%L, 'tmpl')$$, :'globex')),
          'Objects that cannot be cloned: view tmpl.big_orders; function tmpl.order_count(); function tmpl.touch(); type tmpl.mood; trigger touch on tmpl.customers.',
          'the detail names every object that cannot be cloned');
DROP VIEW tmpl.big_orders;
DROP FUNCTION tmpl.order_count();
DROP TRIGGER touch ON tmpl.customers;
DROP FUNCTION tmpl.touch();
DROP TYPE tmpl.mood;
-- as the template's owner (the superuser would refuse to run mt_ps_owner's template: tenant_schema_untrusted_template)
SET ROLE mt_ps_owner;
SELECT is(mt.provision_schema(:'globex', 'tmpl', 'Globex Data')::text, 'Globex Data', 'an explicit schema name (quoted)');
RESET ROLE;
SELECT ok(EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = '"Globex Data".orders'::regclass AND polname = 'mt_schema_isolation'),
          'its tables are bound too');

-- a table created later in a tenant schema, or moved into one, is bound automatically
SET ROLE mt_ps_owner;
CREATE TABLE tenant_acme.later (id int PRIMARY KEY, note text);
CREATE TABLE public.moved (id int);
ALTER TABLE public.moved SET SCHEMA tenant_acme;
CREATE TABLE tenant_acme.made_as AS SELECT 1 AS x;
RESET ROLE;
SELECT results_eq($$SELECT c.relname::text COLLATE "default", c.relrowsecurity AND c.relforcerowsecurity,
                           (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid)
                    FROM pg_class c WHERE c.relnamespace = 'tenant_acme'::regnamespace AND c.relname IN ('later', 'moved', 'made_as') ORDER BY 1$$,
                  $$VALUES ('later', true, 2), ('made_as', true, 2), ('moved', true, 2)$$,
                  'CREATE TABLE, CREATE TABLE AS and SET SCHEMA into a tenant schema: forced RLS and both policies');

-- the guard, for every role (the superuser too)
SELECT throws_ok($$ALTER TABLE tenant_acme.orders DISABLE ROW LEVEL SECURITY$$, '42501', NULL, 'guard: DISABLE RLS refused');
SELECT throws_ok($$ALTER TABLE tenant_acme.orders NO FORCE ROW LEVEL SECURITY$$, '42501', NULL, 'guard: NO FORCE refused');
SELECT throws_ok($$DROP POLICY mt_schema_isolation ON tenant_acme.orders$$, '42501', NULL, 'guard: DROP POLICY refused');
SELECT throws_ok($$ALTER POLICY mt_schema_access ON tenant_acme.orders USING (true)$$, '42501', NULL, 'guard: ALTER POLICY refused');
SELECT throws_ok($$ALTER POLICY mt_schema_access ON tenant_acme.orders RENAME TO other$$, '42501', NULL, 'guard: renaming a generated policy refused');
SELECT throws_ok($$DROP SCHEMA tenant_acme CASCADE$$, '42501', NULL, 'guard: dropping a tenant schema refused');
SELECT lives_ok($$DROP TABLE tenant_acme.made_as$$, 'dropping a table of a tenant schema is a normal migration');
ALTER SCHEMA tenant_acme RENAME TO acme_renamed;
SELECT results_eq(format('SELECT schema_name FROM mt.tenant_placement(%L)', :'acme'),
                  $$VALUES ('acme_renamed'::name)$$, 'a renamed tenant schema keeps its placement');
ALTER SCHEMA acme_renamed RENAME TO tenant_acme;
SELECT throws_ok(format($$SELECT mt.provision_schema(%L, 'tmpl', 'tenant_acme')$$, :'initech'), '42P06', NULL,
                 'another tenant cannot take an existing tenant schema');
-- a superuser's escape hatch, then the placement is forgotten
SET multitenant.allow_unsafe_ddl = on;
DROP SCHEMA "Globex Data" CASCADE;
RESET multitenant.allow_unsafe_ddl;
SELECT results_eq(format('SELECT level FROM mt.tenant_placement(%L)', :'globex'),
                  $$VALUES ('shared'::text)$$, 'with multitenant.allow_unsafe_ddl a dropped tenant schema is forgotten');

SELECT * FROM finish();
