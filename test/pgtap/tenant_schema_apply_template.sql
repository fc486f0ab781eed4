-- mt.apply_template: template changes (new tables, sequences, columns,
-- constraints, indexes, foreign keys) reach every tenant schema made from
-- the template, each tenant in its own subtransaction, one report row per
-- tenant; a change that fails for one tenant (a NOT NULL column on a table
-- with rows) is rolled back for that tenant only; differences it does not
-- apply (a changed type, a dropped column) are reported and nothing is
-- applied there; the new tables are bound to their tenant at once.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT mt.create_tenant('Acme', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'pro') AS globex \gset
SELECT mt.create_tenant('Initech', 'initech', 'pro') AS initech \gset
SELECT mt.create_tenant('Other', 'other', 'pro') AS other \gset
CREATE SCHEMA tmpl;
CREATE TABLE tmpl.customers (id serial PRIMARY KEY, email text NOT NULL);
CREATE INDEX customers_email_idx ON tmpl.customers (email);
CREATE SCHEMA tmpl2;
CREATE TABLE tmpl2.things (id int PRIMARY KEY);
SELECT mt.provision_schema(:'acme', 'tmpl') IS NOT NULL AS ok \gset
SELECT mt.provision_schema(:'globex', 'tmpl') IS NOT NULL AS ok \gset
SELECT mt.provision_schema(:'initech', 'tmpl') IS NOT NULL AS ok \gset
SELECT mt.provision_schema(:'other', 'tmpl2') IS NOT NULL AS ok \gset
-- Globex has a row (a later NOT NULL column without default fails there)
SELECT mt.set_tenant(:'globex') IS NOT NULL AS ok \gset
INSERT INTO tenant_globex.customers (email) VALUES ('g@example.com');
RESET multitenant.token;
\set QUIET 0

SELECT plan(18);

SELECT results_eq($$SELECT schema_name::text COLLATE "default", status, detail FROM mt.apply_template('tmpl') ORDER BY 1$$,
                  $$VALUES ('tenant_acme', 'unchanged', NULL::text), ('tenant_globex', 'unchanged', NULL),
                           ('tenant_initech', 'unchanged', NULL)$$,
                  'a fresh provisioning is up to date (index names included); other templates'' tenants are not listed');

-- additive changes
CREATE SEQUENCE tmpl.invoice_no START 500;
CREATE TABLE tmpl.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                          customer_id int NOT NULL REFERENCES tmpl.customers (id),
                          invoice int DEFAULT nextval('tmpl.invoice_no'), CHECK (invoice > 0));
ALTER TABLE tmpl.customers ADD COLUMN name text DEFAULT 'unknown', ADD COLUMN visits int NOT NULL DEFAULT 0,
    ADD CONSTRAINT customers_email_key UNIQUE (email), ADD CONSTRAINT visits_positive CHECK (visits >= 0);
CREATE INDEX customers_name_idx ON tmpl.customers (lower(name));
SELECT results_eq($$SELECT schema_name::text COLLATE "default", status FROM mt.apply_template('tmpl') ORDER BY 1$$,
                  $$VALUES ('tenant_acme', 'applied'), ('tenant_globex', 'applied'), ('tenant_initech', 'applied')$$,
                  'new table, sequence, columns, constraints and index applied to every tenant schema');
SELECT results_eq($$SELECT attname::text COLLATE "default", format_type(atttypid, atttypmod), attnotnull,
                           pg_get_expr(adbin, adrelid) COLLATE "default"
                    FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
                    WHERE attrelid = 'tenant_acme.customers'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum$$,
                  $$VALUES ('id', 'integer', true, 'nextval(''tenant_acme.customers_id_seq''::regclass)'),
                           ('email', 'text', true, NULL), ('name', 'text', false, '''unknown''::text'),
                           ('visits', 'integer', true, '0')$$,
                  'new columns with their types, defaults and NOT NULL');
SELECT results_eq($$SELECT conname::text COLLATE "default", pg_get_constraintdef(oid) COLLATE "default" FROM pg_constraint
                    WHERE conrelid = 'tenant_globex.customers'::regclass ORDER BY 1$$,
                  $$VALUES ('customers_email_key', 'UNIQUE (email)'), ('customers_pkey', 'PRIMARY KEY (id)'),
                           ('visits_positive', 'CHECK ((visits >= 0))')$$,
                  'new constraints under the template''s names');
SELECT ok(to_regclass('tenant_initech.customers_name_idx') IS NOT NULL, 'new expression index under the template''s name');
SELECT is((SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'tenant_acme.orders'::regclass AND contype = 'f'),
          'FOREIGN KEY (customer_id) REFERENCES tenant_acme.customers(id)', 'the new table''s foreign key points inside the schema');
SELECT is((SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'tenant_acme.orders'::regclass AND adnum = 3),
          'nextval(''tenant_acme.invoice_no''::regclass)', 'the new table''s default uses the schema''s own new sequence');
SELECT results_eq($$SELECT c.relrowsecurity AND c.relforcerowsecurity, (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid)
                    FROM pg_class c WHERE c.oid = 'tenant_acme.orders'::regclass$$,
                  $$VALUES (true, 2)$$, 'the new table is bound to the tenant');
SELECT is((SELECT count(*)::int FROM mt.isolation_status() WHERE kind = 'tenant schema table' AND cardinality(issues) > 0), 0,
          'no lint after the rollout');
SELECT results_eq($$SELECT schema_name::text COLLATE "default", status FROM mt.apply_template('tmpl') ORDER BY 1$$,
                  $$VALUES ('tenant_acme', 'unchanged'), ('tenant_globex', 'unchanged'), ('tenant_initech', 'unchanged')$$,
                  'applying again changes nothing');

-- a change that fails for one tenant is rolled back there only
ALTER TABLE tmpl.customers ADD COLUMN country text NOT NULL;
CREATE TABLE tmpl.notes (id int PRIMARY KEY);
SELECT results_eq($$SELECT schema_name::text COLLATE "default", status FROM mt.apply_template('tmpl') ORDER BY 1$$,
                  $$VALUES ('tenant_acme', 'applied'), ('tenant_globex', 'failed'), ('tenant_initech', 'applied')$$,
                  'a NOT NULL column without default fails where the table has rows, and only there');
SELECT alike((SELECT detail FROM mt.apply_template('tmpl') WHERE schema_name = 'tenant_globex'),
            '%column "country" of relation "customers" contains null values (SQLSTATE 23502; nothing applied)',
            'the report says why');
SELECT ok(to_regclass('tenant_globex.notes') IS NULL
          AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'tenant_globex.customers'::regclass AND attname = 'country'),
          'nothing of the failed rollout is left in that schema (the new table neither)');
SELECT ok(to_regclass('tenant_acme.notes') IS NOT NULL, 'the other tenants got it');
ALTER TABLE tmpl.customers DROP COLUMN country;
SELECT results_eq($$SELECT schema_name::text COLLATE "default", status FROM mt.apply_template('tmpl') ORDER BY 1$$,
                  $$VALUES ('tenant_acme', 'skipped'), ('tenant_globex', 'applied'), ('tenant_initech', 'skipped')$$,
                  'a column dropped from the template is not dropped from tenant schemas: reported, nothing applied');

-- differences it does not apply
ALTER TABLE tenant_acme.customers DROP COLUMN country;
ALTER TABLE tenant_initech.customers DROP COLUMN country;
ALTER TABLE tmpl.customers ALTER COLUMN email TYPE varchar(200);
CREATE TABLE tmpl.more (id int);
SELECT is((SELECT detail FROM mt.apply_template('tmpl') WHERE schema_name = 'tenant_acme'),
          'column email of tenant_acme.customers is character varying(200) in the template, text here (nothing applied)',
          'a changed column type is reported');
SELECT ok(to_regclass('tenant_acme.more') IS NULL, 'and nothing else was applied to that schema');

-- a template that cannot be cloned any more: nothing applied anywhere
ALTER TABLE tmpl.customers ALTER COLUMN email TYPE text;
CREATE VIEW tmpl.v AS SELECT 1 AS x;
SELECT throws_ok($$SELECT * FROM mt.apply_template('tmpl')$$, '0A000', NULL,
                 'a template with a view: 0A000, nothing applied');

SELECT * FROM finish();
