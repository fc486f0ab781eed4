-- The guard of tenant schemas against moves: the role owning a tenant
-- schema's tables (the migration role) cannot take a table, or its rows,
-- out from under the schema's forced policies: ALTER TABLE ... SET SCHEMA
-- to another schema (then NO FORCE ROW LEVEL SECURITY there), INHERIT or
-- ATTACH PARTITION below a parent outside the tenant's schema (reading the
-- parent applies only the parent's policies), a new table of the schema
-- created as a child of such a parent.  Partitions and children inside the
-- tenant's own schema stay allowed.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT mt.create_tenant('Acme', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'pro') AS globex \gset
DROP ROLE IF EXISTS mt_sgm_app;
DROP ROLE IF EXISTS mt_sgm_owner;
CREATE ROLE mt_sgm_app;
CREATE ROLE mt_sgm_owner;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO mt_sgm_owner', current_database()); END $$;
GRANT CREATE ON SCHEMA public TO mt_sgm_owner;
GRANT EXECUTE ON FUNCTION mt.provision_schema(uuid, name, name) TO mt_sgm_owner;
CREATE SCHEMA tmpl AUTHORIZATION mt_sgm_owner;
SET ROLE mt_sgm_owner;
CREATE TABLE tmpl.secrets (id serial PRIMARY KEY, secret text NOT NULL);
GRANT USAGE ON SCHEMA tmpl TO mt_sgm_app;
GRANT SELECT, INSERT ON tmpl.secrets TO mt_sgm_app;
GRANT USAGE ON SEQUENCE tmpl.secrets_id_seq TO mt_sgm_app;
SELECT mt.provision_schema(:'acme', 'tmpl') IS NOT NULL AS ok \gset
SELECT mt.provision_schema(:'globex', 'tmpl') IS NOT NULL AS ok \gset
CREATE TABLE tenant_acme.extra (id int, secret text);
GRANT SELECT, INSERT ON tenant_acme.extra TO mt_sgm_app;
CREATE TABLE public.leak_parent (id int, secret text);
CREATE TABLE public.leak_part (id int, secret text) PARTITION BY RANGE (id);
RESET ROLE;
BEGIN;
SELECT mt.set_tenant(:'acme') IS NOT NULL AS ok \gset
SET LOCAL ROLE mt_sgm_app;
INSERT INTO tenant_acme.secrets (secret) VALUES ('acme-1'), ('acme-2'), ('acme-3');
INSERT INTO tenant_acme.extra VALUES (1, 'acme-x');
COMMIT;
\set QUIET 0

SELECT plan(11);
SET ROLE mt_sgm_owner;
SELECT throws_ok('ALTER TABLE tenant_acme.secrets INHERIT public.leak_parent', '42501', NULL,
                 'the owner cannot make a tenant table a child of a table outside the schema');
SELECT is((SELECT count(*)::int FROM public.leak_parent), 0, 'no tenant row is readable through a parent');
SELECT throws_ok('ALTER TABLE public.leak_part ATTACH PARTITION tenant_acme.extra FOR VALUES FROM (0) TO (1000)',
                 '42501', NULL, 'nor a partition of a table outside the schema');
SELECT is((SELECT count(*)::int FROM public.leak_part), 0, 'nor through a partitioned parent');
SELECT throws_ok('CREATE TABLE tenant_acme.sneaky () INHERITS (public.leak_parent)', '42501', NULL,
                 'nor create a table of the schema below a table outside it');
SELECT throws_ok('CREATE TABLE tenant_acme.sneaky_part PARTITION OF public.leak_part FOR VALUES FROM (1000) TO (2000)',
                 '42501', NULL, 'nor a partition of a table outside it');
SELECT throws_ok('ALTER TABLE tenant_acme.extra SET SCHEMA tenant_globex', '42501', NULL,
                 'nor move a tenant table into another tenant''s schema');
SELECT throws_ok('ALTER TABLE tenant_acme.secrets SET SCHEMA public', '42501', NULL,
                 'nor out of the tenant schema');
SELECT ok(to_regclass('tenant_acme.secrets') IS NOT NULL AND to_regclass('public.secrets') IS NULL,
          'the table stays in the tenant schema');
SELECT lives_ok('CREATE TABLE tenant_acme.parts (id int) PARTITION BY RANGE (id);
                 CREATE TABLE tenant_acme.parts_1 PARTITION OF tenant_acme.parts FOR VALUES FROM (0) TO (10)',
                'partitions inside the tenant''s schema stay allowed');
RESET ROLE;
BEGIN;
SELECT mt.set_tenant(:'acme') IS NOT NULL AS ok \gset
SET LOCAL ROLE mt_sgm_app;
SELECT is((SELECT count(*)::int FROM tenant_acme.secrets), 3, 'the tenant''s rows are where they were');
COMMIT;
SELECT * FROM finish();
