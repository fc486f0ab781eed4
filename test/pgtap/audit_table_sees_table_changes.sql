-- The row-change trigger keeps what does not change from row to row
-- (columns, their kinds, the primary key, the tenant and subject columns,
-- the table's name) for the transaction; every change of the audited
-- table shows in the very next event, in the same transaction: a column
-- added, dropped, renamed or retyped, a new primary key, a renamed table
-- or schema, mt.audit_table() run again with other columns, and DDL rolled
-- back to a savepoint.  Two audited tables written alternately keep their
-- own columns.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
CREATE SCHEMA app;
CREATE TABLE app.doc (id int, n int, body text);
SELECT mt.audit_table('app.doc', NULL);
CREATE TABLE public.other (id int PRIMARY KEY, other_col text);
SELECT mt.audit_table('public.other', NULL);
CREATE TABLE public.iso (id int PRIMARY KEY, tenant_id uuid, who text);
SELECT mt.enable_isolation('public.iso');
SELECT mt.audit_table('public.iso');
-- the newest row-trigger event
CREATE FUNCTION pg_temp.last_event() RETURNS TABLE (tenant_id uuid, action text, resource_type text,
                                                    resource_id text, details text, encrypted boolean)
LANGUAGE sql AS $$
    SELECT tenant_id, action, resource_type, resource_id, details::text, details_enc IS NOT NULL
    FROM mt.audit_log WHERE action IN ('INSERT', 'UPDATE', 'DELETE') ORDER BY id DESC LIMIT 1 $$;
\set QUIET 0

SELECT plan(15);

BEGIN;
INSERT INTO app.doc VALUES (1, 5, 'a');
SELECT is((SELECT details FROM pg_temp.last_event()), '{"new": {"n": 5, "id": 1, "body": "a"}}',
          'first row: the table''s columns');
ALTER TABLE app.doc ADD COLUMN extra int DEFAULT 7;
INSERT INTO app.doc (id, n, body) VALUES (2, 6, 'b');
SELECT is((SELECT details FROM pg_temp.last_event()), '{"new": {"n": 6, "id": 2, "body": "b", "extra": 7}}',
          'a column added in the same transaction is in the next event');
ALTER TABLE app.doc DROP COLUMN body;
INSERT INTO app.doc (id, n) VALUES (3, 7);
SELECT is((SELECT details FROM pg_temp.last_event()), '{"new": {"n": 7, "id": 3, "extra": 7}}',
          'a dropped column is gone from the next event');
ALTER TABLE app.doc RENAME COLUMN extra TO renamed;
ALTER TABLE app.doc ALTER COLUMN n TYPE text;
INSERT INTO app.doc (id, n, renamed) VALUES (4, '8', 9);
SELECT is((SELECT details FROM pg_temp.last_event()), '{"new": {"n": "8", "id": 4, "renamed": 9}}',
          'a renamed column has its new name, a retyped column its new kind (text: a string)');
SELECT is((SELECT resource_id FROM pg_temp.last_event()), NULL, 'no primary key: no resource_id');
ALTER TABLE app.doc ADD PRIMARY KEY (id);
INSERT INTO app.doc (id) VALUES (5);
SELECT is((SELECT resource_id FROM pg_temp.last_event()), '5', 'a primary key added: the next event has its resource_id');
ALTER TABLE app.doc RENAME TO document;
INSERT INTO app.document (id) VALUES (6);
SELECT is((SELECT resource_type FROM pg_temp.last_event()), 'app.document', 'a renamed table: the new name');
ALTER SCHEMA app RENAME TO application;
INSERT INTO application.document (id) VALUES (7);
SELECT is((SELECT resource_type FROM pg_temp.last_event()), 'application.document', 'a renamed schema: the new name');

-- a savepoint rolled back takes its DDL with it
SAVEPOINT s;
ALTER TABLE application.document ADD COLUMN z int DEFAULT 1;
INSERT INTO application.document (id) VALUES (8);
SELECT is((SELECT details FROM pg_temp.last_event()), '{"new": {"n": null, "z": 1, "id": 8, "renamed": 7}}',
          'a column added after a savepoint is in the event');
ROLLBACK TO SAVEPOINT s;
INSERT INTO application.document (id) VALUES (9);
SELECT is((SELECT details FROM pg_temp.last_event()), '{"new": {"n": null, "id": 9, "renamed": 7}}',
          'after ROLLBACK TO SAVEPOINT the column is gone again');

-- two audited tables written alternately
INSERT INTO public.other VALUES (1, 'x');
INSERT INTO application.document (id) VALUES (10);
SELECT is((SELECT details FROM pg_temp.last_event()), '{"new": {"n": null, "id": 10, "renamed": 7}}',
          'alternating tables: each event has its own table''s columns');
UPDATE public.other SET other_col = 'y';
SELECT is((SELECT details FROM pg_temp.last_event()), '{"new": {"other_col": "y"}, "old": {"other_col": "x"}}',
          'alternating tables: the other table''s columns');

-- mt.audit_table() again with other columns, in the same transaction
INSERT INTO public.iso VALUES (1, :'acme', 'carol');
SELECT ok((SELECT tenant_id = :'acme' AND NOT encrypted FROM pg_temp.last_event()),
          'tenant column: the row''s tenant chain, details in clear');
SELECT mt.audit_table('public.iso', NULL, 'who');
INSERT INTO public.iso VALUES (2, :'acme', 'dave');
SELECT ok((SELECT tenant_id = '00000000-0000-0000-0000-000000000000' AND encrypted FROM pg_temp.last_event()),
          're-audited without a tenant column and with a subject column: the context''s chain, details encrypted');
COMMIT;

SELECT is((SELECT bool_and(ok) FROM mt.audit_verify()), true, 'every chain verifies');

SELECT * FROM finish();
