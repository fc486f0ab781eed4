\pset footer off
\set QUIET on
SELECT id AS acme FROM mt.tenants WHERE slug = 'acme' \gset
SELECT id AS globex FROM mt.tenants WHERE slug = 'globex' \gset
\echo
\echo '--- 3. Isolation: one call per table ------------------------------'
CREATE TABLE projects (id int GENERATED ALWAYS AS IDENTITY, name text NOT NULL);
SELECT mt.enable_isolation('projects') \gset
\echo 'mt.enable_isolation added tenant_id (DEFAULT mt.current_tenant()), an index,'
\echo 'FORCE ROW LEVEL SECURITY and two generated policies:'
SELECT polname, CASE WHEN polpermissive THEN 'permissive' ELSE 'restrictive' END AS kind,
       pg_get_expr(polqual, polrelid) AS condition
FROM pg_policy WHERE polrelid = 'projects'::regclass ORDER BY polname;
GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO demo_app;
\echo 'The application role cannot mint tokens itself:'
SET ROLE demo_app;
\set ON_ERROR_STOP off
\set QUIET off
SELECT mt.tenant_token(:'acme');
\set QUIET on
\set ON_ERROR_STOP on
RESET ROLE;
-- the application binds each token: set_config('multitenant.token', $1, true);
-- psql cannot bind, so the tokens wait in session settings
SELECT set_config('demo.tok_acme', mt.tenant_token(:'acme'), false) IS NOT NULL AS minted \gset
SELECT set_config('demo.tok_globex', mt.tenant_token(:'globex'), false) IS NOT NULL AS minted \gset
SET ROLE demo_app;
BEGIN; SELECT set_config('multitenant.token', current_setting('demo.tok_acme'), true) IS NOT NULL AS entered \gset
INSERT INTO projects (name) VALUES ('Rocket'), ('Anvil');
COMMIT;
BEGIN; SELECT set_config('multitenant.token', current_setting('demo.tok_globex'), true) IS NOT NULL AS entered \gset
INSERT INTO projects (name) VALUES ('Secret plan');
\echo 'Inside Globex, SELECT * FROM projects shows only Globex rows:'
SELECT name FROM projects;
COMMIT;
\echo 'Without a context nothing is visible (fail closed):'
SELECT count(*) AS visible FROM projects;
RESET ROLE;
\echo 'Even the table owner cannot switch it off:'
\set ON_ERROR_STOP off
\set QUIET off
ALTER TABLE projects DISABLE ROW LEVEL SECURITY;
\set QUIET on
\set ON_ERROR_STOP on
\echo 'And mt.isolation_status() lints the schema:'
CREATE TABLE forgotten (id int, tenant_id uuid, email text UNIQUE);
SELECT tbl, isolated, issues FROM mt.isolation_status() ORDER BY tbl::text;
