-- Tenant isolation: enable/disable, idempotence, partitions, inheritance,
-- auto-isolation, the DDL guard and the lints of mt.isolation_status().
CREATE EXTENSION multitenant;
\i sql/include/helpers.psql
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset

-- a table without a tenant column gets one
CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY, body text);
SELECT mt.enable_isolation('notes');
SELECT attname, format_type(atttypid, atttypmod), attnotnull, pg_get_expr(adbin, adrelid) AS default
FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
WHERE attrelid = 'notes'::regclass AND attname = 'tenant_id';
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'notes'::regclass;
SELECT polname, polpermissive, polcmd, pg_get_expr(polqual, polrelid) AS using_expr,
       pg_get_expr(polwithcheck, polrelid) AS check_expr
FROM pg_policy WHERE polrelid = 'notes'::regclass ORDER BY polname;
SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'notes'::regclass;

-- idempotent; repairs an altered policy
SELECT mt.enable_isolation('notes');
SET multitenant.allow_unsafe_ddl = on;
ALTER POLICY mt_tenant_access ON notes USING (true);
RESET multitenant.allow_unsafe_ddl;
SELECT tbl, policies_ok, issues FROM mt.isolation_status() WHERE tbl = 'notes'::regclass;
SELECT mt.enable_isolation('notes');
SELECT tbl, policies_ok, issues FROM mt.isolation_status() WHERE tbl = 'notes'::regclass;
SELECT count(*) AS policies FROM pg_policy WHERE polrelid = 'notes'::regclass;

-- fail closed: no context, no rows and no inserts
INSERT INTO notes (body, tenant_id) VALUES ('acme note', :'acme'), ('globex note', :'globex');
CREATE ROLE mt_iso_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO mt_iso_app;
SET ROLE mt_iso_app;
SELECT count(*) AS visible_without_context FROM notes;
SELECT pg_temp.err('INSERT INTO notes (body) VALUES (''x'')');
RESET ROLE;
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered;
SET ROLE mt_iso_app;
SELECT body FROM notes;
INSERT INTO notes (body) VALUES ('second acme note');
SELECT count(*) AS acme_notes FROM notes;
COPY notes (body) TO STDOUT;
RESET ROLE;
RESET multitenant.token;

-- bad input
SELECT pg_temp.err('SELECT mt.enable_isolation(NULL)');
SELECT pg_temp.err('SELECT mt.enable_isolation(''no_such_table'')');
SELECT pg_temp.err('SELECT mt.enable_isolation(''notes'', '''')');
CREATE TABLE wrong_type (id int, tenant_id text);
SELECT pg_temp.err('SELECT mt.enable_isolation(''wrong_type'')');
CREATE TABLE filled (id int);
INSERT INTO filled VALUES (1);
SELECT pg_temp.err('SELECT mt.enable_isolation(''filled'')');
CREATE VIEW a_view AS SELECT 1 AS x;
SELECT pg_temp.err('SELECT mt.enable_isolation(''a_view'')');
SELECT pg_temp.err('SELECT mt.enable_isolation(''mt.tenants'')');
SELECT pg_temp.err('SELECT mt.enable_isolation(''pg_class'')');
SELECT pg_temp.err('SELECT mt.disable_isolation(''filled'')');
-- a nullable uuid column is made NOT NULL, an existing default is kept
CREATE TABLE custom (id int, org uuid DEFAULT '00000000-0000-0000-0000-000000000000');
SELECT mt.enable_isolation('custom', 'org');
SELECT attnotnull, pg_get_expr(adbin, adrelid) AS default FROM pg_attribute
JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
WHERE attrelid = 'custom'::regclass AND attname = 'org';

-- partitions: existing and later ones are isolated, directly readable ones too
CREATE TABLE events (id bigint, tenant_id uuid NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT mt.enable_isolation('events');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE events_2027 (id bigint, tenant_id uuid NOT NULL, at date NOT NULL);
ALTER TABLE events ATTACH PARTITION events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT tbl, parent, tenant_column FROM mt.isolated_tables WHERE tbl::text LIKE 'events%' ORDER BY tbl::text;
SELECT tbl, kind, isolated, rls_enabled, rls_forced, policies_ok, tenant_index
FROM mt.isolation_status() WHERE tbl::text LIKE 'events%' ORDER BY tbl::text;

-- inheritance children
CREATE TABLE base_items (id int, tenant_id uuid NOT NULL);
CREATE TABLE child_items (extra text) INHERITS (base_items);
SELECT mt.enable_isolation('base_items');
CREATE TABLE late_child () INHERITS (base_items);
SELECT tbl, parent FROM mt.isolated_tables WHERE tbl::text LIKE '%items' OR tbl::text = 'late_child' ORDER BY tbl::text;

-- auto-isolation of a schema
CREATE SCHEMA app;
SELECT mt.auto_isolate('app');
CREATE TABLE app.invoices (id int, tenant_id uuid NOT NULL);
CREATE TABLE app.lookup (code text);            -- no tenant column: left alone
SELECT tbl FROM mt.isolated_tables WHERE tbl::text LIKE 'app.%';
SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
WHERE relnamespace = 'app'::regnamespace AND relkind = 'r' ORDER BY relname;
SELECT mt.stop_auto_isolate('app');
CREATE TABLE app.later (id int, tenant_id uuid NOT NULL);
SELECT count(*) AS later_isolated FROM mt.isolated_tables WHERE tbl = 'app.later'::regclass;
SELECT pg_temp.err('SELECT mt.auto_isolate(''no_such_schema'')');
SELECT pg_temp.err('SELECT mt.auto_isolate(''mt'')');

-- DDL guard: refused for the owner and for superusers
SELECT pg_temp.err('ALTER TABLE notes DISABLE ROW LEVEL SECURITY');
SELECT pg_temp.err('ALTER TABLE notes NO FORCE ROW LEVEL SECURITY');
SELECT pg_temp.err('DROP POLICY mt_tenant_isolation ON notes');
SELECT pg_temp.err('ALTER POLICY mt_tenant_access ON notes USING (true)');
SELECT pg_temp.err('ALTER POLICY mt_tenant_isolation ON notes RENAME TO gone');
SELECT pg_temp.err('ALTER TABLE events_2026 DISABLE ROW LEVEL SECURITY');
-- other DDL still works
ALTER TABLE notes ADD COLUMN title text;
CREATE POLICY extra_read ON notes FOR SELECT USING (true);
DROP POLICY extra_read ON notes;
ALTER TABLE wrong_type DISABLE ROW LEVEL SECURITY;
-- the escape hatch is superuser-only
CREATE ROLE mt_iso_owner;
ALTER TABLE custom OWNER TO mt_iso_owner;
SET ROLE mt_iso_owner;
SELECT pg_temp.err('SET multitenant.allow_unsafe_ddl = on');
SELECT pg_temp.err('ALTER TABLE custom NO FORCE ROW LEVEL SECURITY');
RESET ROLE;

-- lints
CREATE TABLE leaky (id int PRIMARY KEY, tenant_id uuid NOT NULL, email text UNIQUE, UNIQUE (tenant_id, id));
SELECT mt.enable_isolation('leaky');
CREATE TABLE forgotten (id int, tenant_id uuid);
CREATE VIEW owner_view AS SELECT * FROM leaky;
CREATE VIEW invoker_view WITH (security_invoker = true) AS SELECT * FROM leaky;
CREATE MATERIALIZED VIEW leaky_mv AS SELECT * FROM leaky;
SELECT tbl, kind, isolated, tenant_index, issues FROM mt.isolation_status()
WHERE tbl::text IN ('leaky', 'forgotten', 'owner_view', 'invoker_view', 'leaky_mv') ORDER BY tbl::text;

-- disable removes everything enable added (except the column and index)
SELECT mt.disable_isolation('events');
SELECT count(*) AS events_rows_left FROM mt.isolated_tables WHERE tbl::text LIKE 'events%';
SELECT relname, relrowsecurity, relforcerowsecurity,
       (SELECT count(*) FROM pg_policy WHERE polrelid = c.oid) AS policies
FROM pg_class c WHERE relname LIKE 'events%' AND relkind IN ('r', 'p') ORDER BY relname;
-- dropped tables leave the catalog
DROP TABLE leaky CASCADE;
SELECT count(*) AS leaky_rows FROM mt.isolated_tables WHERE tbl::text = 'leaky';
-- privileges
SET ROLE mt_iso_app;
SELECT pg_temp.err('SELECT mt.enable_isolation(''notes'')');
SELECT pg_temp.err('SELECT mt.disable_isolation(''notes'')');
SELECT pg_temp.err('SELECT * FROM mt.isolation_status()');
RESET ROLE;
DROP TABLE notes, custom;
DROP ROLE mt_iso_app, mt_iso_owner;
\i sql/include/cleanup.psql
