\pset footer off
\set QUIET on
SELECT id AS acme FROM mt.tenants WHERE slug = 'acme' \gset
SELECT id AS globex FROM mt.tenants WHERE slug = 'globex' \gset
SELECT set_config('demo.tok_acme', mt.tenant_token(:'acme', '10 min', 'alice'), false) IS NOT NULL AS minted \gset
SELECT set_config('demo.tok_globex', mt.tenant_token(:'globex'), false) IS NOT NULL AS minted \gset
\echo
\echo '--- 10. Isolation levels: a schema of its own for a bigger tenant ------'
\echo 'Plans say which levels a tenant may have (doc/isolation-levels.md):'
SELECT name AS plan, isolation_levels FROM mt.plans ORDER BY price_monthly_cents, name;
CREATE SCHEMA app_template;
CREATE TABLE app_template.invoices (id serial PRIMARY KEY, amount numeric NOT NULL CHECK (amount >= 0));
GRANT USAGE ON SCHEMA app_template TO demo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app_template TO demo_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA app_template TO demo_app;
\echo 'Acme (plan pro) gets its own schema, cloned from a template and bound to it:'
SELECT mt.provision_schema(:'acme', 'app_template') AS acme_schema;
SELECT level, schema_name FROM mt.tenant_placement(:'acme');
\echo 'Globex (plan free) may not:'
\set ON_ERROR_STOP off
\set QUIET off
SELECT mt.provision_schema(:'globex', 'app_template');
\set QUIET on
\set ON_ERROR_STOP on
SET ROLE demo_app;
BEGIN; SELECT set_config('multitenant.token', current_setting('demo.tok_acme'), true) IS NOT NULL AS entered \gset
\echo 'Inside Acme, mt.use_tenant_schema() puts its schema on the path for the transaction:'
SELECT mt.use_tenant_schema() AS search_path_starts_with;
INSERT INTO invoices (amount) VALUES (120), (80);
SELECT count(*) AS acme_invoices, sum(amount) AS total FROM invoices;
COMMIT;
BEGIN; SELECT set_config('multitenant.token', current_setting('demo.tok_globex'), true) IS NOT NULL AS entered \gset
\echo 'Globex naming Acme''s schema directly sees nothing (policies bound to Acme):'
SELECT count(*) AS visible FROM tenant_acme.invoices;
COMMIT;
RESET ROLE;
\echo
\echo '--- 11. Authorization inside a tenant -------------------------------'
\echo 'Acme''s back office gives alice a custom role; policies and code ask mt.has_permission():'
BEGIN;
SELECT mt.set_tenant(:'acme') IS NOT NULL AS entered \gset
DO $$ BEGIN
    PERFORM mt.create_role('billing', '{invoices:read,invoices:write}', 'viewer');
    PERFORM mt.grant_role('alice', 'billing');
END $$;
SELECT role, subject, workspace_id IS NULL AS tenant_wide FROM mt.role_assignments;
COMMIT;
SET ROLE demo_app;
BEGIN; SELECT set_config('multitenant.token', current_setting('demo.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT mt.current_subject() AS subject, mt.has_permission('invoices:write') AS can_write_invoices,
       mt.has_permission('roles:manage') AS can_manage_roles;
\set ON_ERROR_STOP off
\set QUIET off
SELECT mt.require_permission('roles:manage');
\set QUIET on
\set ON_ERROR_STOP on
COMMIT;
RESET ROLE;
