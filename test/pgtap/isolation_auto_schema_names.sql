-- mt.auto_isolate finds its schemas by exact name, follows renames and
-- forgets dropped schemas:
--  * a mixed-case schema ("Billing") is auto-isolated even when a schema
--    billing exists (a ::regnamespace cast folded the name to billing);
--  * renaming an auto-isolated schema keeps its new tables isolated, and
--    CREATE TABLE anywhere keeps working;
--  * dropping an auto-isolated schema removes its registration, and
--    CREATE TABLE anywhere keeps working.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE SCHEMA billing;
CREATE SCHEMA "Billing";
CREATE SCHEMA ren;
CREATE SCHEMA gone;
SELECT mt.auto_isolate('Billing');
SELECT mt.auto_isolate('ren');
SELECT mt.auto_isolate('gone');
\set QUIET 0

SELECT plan(10);

CREATE TABLE "Billing".invoices (id int, tenant_id uuid NOT NULL);
CREATE TABLE billing.notes (id int, tenant_id uuid NOT NULL);
SELECT ok(EXISTS (SELECT 1 FROM mt.isolated_tables WHERE tbl = '"Billing".invoices'::regclass),
          'a table in the mixed-case schema "Billing" is isolated');
SELECT ok(NOT EXISTS (SELECT 1 FROM mt.isolated_tables WHERE tbl = 'billing.notes'::regclass),
          'a table in the different schema billing is not');

ALTER SCHEMA ren RENAME TO renamed;
SELECT lives_ok($$CREATE TABLE public.after_rename (id int)$$,
                'CREATE TABLE works after an auto-isolated schema was renamed');
SELECT lives_ok($$CREATE TABLE renamed.t (id int, tenant_id uuid NOT NULL)$$,
                'CREATE TABLE in the renamed schema works');
SELECT ok(EXISTS (SELECT 1 FROM mt.isolated_tables WHERE tbl = 'renamed.t'::regclass),
          'the renamed schema stays auto-isolated');
SELECT is((SELECT array_agg(schema_name::text ORDER BY schema_name) FROM mt.auto_isolate_schemas),
          ARRAY['Billing', 'gone', 'renamed'], 'the registration follows the rename');

DROP SCHEMA gone CASCADE;
SELECT lives_ok($$CREATE TABLE public.after_drop (id int)$$,
                'CREATE TABLE works after an auto-isolated schema was dropped');
SELECT ok(NOT EXISTS (SELECT 1 FROM mt.auto_isolate_schemas WHERE schema_name = 'gone'),
          'the dropped schema is no longer registered');
CREATE SCHEMA gone;
SELECT lives_ok($$CREATE TABLE gone.t (id int, tenant_id uuid NOT NULL)$$,
                'a new schema with the old name can be used');
SELECT ok(NOT EXISTS (SELECT 1 FROM mt.isolated_tables WHERE tbl = 'gone.t'::regclass),
          'and is not silently auto-isolated');

SELECT * FROM finish();
