-- A tenant placed at the schema or the database level no longer lives in
-- this database's shared isolated tables: its verified context still enters
-- (mt.route() answers where to go, its own schema works), but any statement
-- that reads or writes a shared isolated table (the generated policies of
-- mt.enable_isolation) in its context is refused with 55000, whatever the
-- path (direct, view, SQL function, COPY), whatever the role:
-- no split brain after a move.  Shared and shard tenants are unaffected;
-- the refusal follows the registry at once (cached, invalidated on change).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT mt.create_tenant('Acme', 'acme', 'enterprise') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'enterprise') AS globex \gset
SELECT mt.create_tenant('Initech', 'initech', 'enterprise') AS initech \gset
SELECT mt.create_tenant('Hooli', 'hooli', 'enterprise') AS hooli \gset
DROP ROLE IF EXISTS mt_pf_app;
CREATE ROLE mt_pf_app;
CREATE TABLE notes (id serial PRIMARY KEY, body text);
SELECT mt.enable_isolation('notes') IS NULL AS ok \gset
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO mt_pf_app;
GRANT USAGE ON SEQUENCE notes_id_seq TO mt_pf_app;
CREATE VIEW notes_v WITH (security_barrier) AS SELECT * FROM notes;
GRANT SELECT ON notes_v TO mt_pf_app;
CREATE FUNCTION count_notes() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM public.notes';
CREATE TABLE plain (id int);
GRANT SELECT ON plain TO mt_pf_app;
CREATE SCHEMA pf_tmpl;
CREATE TABLE pf_tmpl.items (id int PRIMARY KEY);
GRANT USAGE ON SCHEMA pf_tmpl TO mt_pf_app;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA pf_tmpl TO mt_pf_app;
-- every tenant has a row while shared
DO $$ DECLARE t uuid; BEGIN
  FOR t IN SELECT id FROM mt.tenants LOOP
    PERFORM mt.set_tenant(t);
    INSERT INTO notes (body) VALUES ('before');
  END LOOP;
END $$;
RESET multitenant.token;
-- a lookup while no tenant is placed anywhere (cached), then the first placements
SELECT mt.set_tenant(:'globex') IS NOT NULL AS ok \gset
SELECT count(*) = 1 AS ok FROM notes \gset
RESET multitenant.token;
SELECT mt.provision_schema(:'globex', 'pf_tmpl') IS NOT NULL AS ok \gset
SELECT mt.provision_database(:'initech', 'db2.internal', 5432, 'initech') IS NULL AS ok \gset
INSERT INTO mt.tenant_placements (tenant_id, level) VALUES (:'hooli', 'shard');
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour'), false) IS NOT NULL AS ok \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour'), false) IS NOT NULL AS ok \gset
SELECT set_config('test.tok_initech', mt.tenant_token(:'initech', '1 hour'), false) IS NOT NULL AS ok \gset
SELECT set_config('test.tok_hooli', mt.tenant_token(:'hooli', '1 hour'), false) IS NOT NULL AS ok \gset
\set QUIET 0

SELECT plan(20);
SET ROLE mt_pf_app;

-- shared and shard tenants: as before
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS ok \gset
SELECT is((SELECT count(*)::int FROM notes), 1, 'a shared tenant reads its rows');
SELECT lives_ok($$INSERT INTO notes (body) VALUES ('x')$$, 'a shared tenant writes');
SELECT set_config('multitenant.token', current_setting('test.tok_hooli'), false) IS NOT NULL AS ok \gset
SELECT is((SELECT count(*)::int FROM notes), 1, 'a shard tenant reads its rows (its shard is the shared table)');

-- database level: the context enters, mt.route answers, shared tables refuse
SELECT set_config('multitenant.token', current_setting('test.tok_initech'), false) IS NOT NULL AS ok \gset
SELECT results_eq($$SELECT level, host, port, dbname FROM mt.route()$$,
                  $$VALUES ('database'::text, 'db2.internal'::text, 5432, 'initech'::name)$$,
                  'database tenant: mt.route() still answers where to connect');
SELECT throws_ok($$SELECT count(*) FROM notes$$, '55000', NULL, 'database tenant: reading a shared table is refused');
SELECT throws_like($$SELECT count(*) FROM notes$$, '%lives in database initech%', 'the message says where it lives');
SELECT throws_ok($$INSERT INTO notes (body) VALUES ('split brain')$$, '55000', NULL, 'database tenant: a write is refused');
SELECT throws_ok($$UPDATE notes SET body = 'y'$$, '55000', NULL, 'database tenant: an update is refused');
SELECT throws_ok($$SELECT count(*) FROM notes_v$$, '55000', NULL, 'database tenant: through a view');
SELECT throws_ok($$SELECT count_notes()$$, '55000', NULL, 'database tenant: through a SQL function');
RESET ROLE;
SELECT throws_ok($$COPY notes (body) FROM PROGRAM 'true'$$, '55000', NULL, 'database tenant: COPY FROM (a superuser too)');
SET ROLE mt_pf_app;
SELECT lives_ok($$SELECT count(*) FROM plain$$, 'database tenant: a table that is not isolated is not affected');

-- schema level: its schema works, shared tables refuse
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), false) IS NOT NULL AS ok \gset
SELECT lives_ok($$INSERT INTO tenant_globex.items VALUES (1)$$, 'schema tenant: its own schema works');
SELECT throws_ok($$SELECT count(*) FROM notes$$, '55000', NULL, 'schema tenant: reading a shared table is refused');
SELECT throws_ok($$DELETE FROM notes$$, '55000', NULL, 'schema tenant: deleting from a shared table is refused');
RESET multitenant.token;

-- no context: unchanged
SELECT is((SELECT count(*)::int FROM notes), 0, 'no context: no row, as before');
RESET ROLE;

-- the registry decides at once: back to shared, then placed again
BEGIN;
DELETE FROM mt.tenant_placements WHERE tenant_id = :'initech';
SELECT set_config('multitenant.token', current_setting('test.tok_initech'), true) IS NOT NULL AS ok \gset
SET LOCAL ROLE mt_pf_app;
SELECT is((SELECT count(*)::int FROM notes), 1, 'placement removed: the tenant reads its shared rows again (same transaction)');
ROLLBACK;
SELECT set_config('multitenant.token', current_setting('test.tok_initech'), false) IS NOT NULL AS ok \gset
SELECT throws_ok($$SELECT count(*) FROM notes$$, '55000', NULL, 'rolled back: refused again');
RESET multitenant.token;
DELETE FROM mt.tenant_placements WHERE tenant_id = :'hooli';
SELECT mt.provision_database(:'hooli', 'db3.internal', 5432, 'hooli') IS NULL AS ok \gset
SELECT set_config('multitenant.token', current_setting('test.tok_hooli'), false) IS NOT NULL AS ok \gset
SELECT throws_ok($$SELECT count(*) FROM notes$$, '55000', NULL, 'a tenant placed in its database after a cached lookup is refused at once');
SELECT throws_ok($$SELECT * FROM notes WHERE id = 1 FOR UPDATE$$, '55000', NULL, 'and for a locking read');
RESET multitenant.token;

SELECT * FROM finish();
