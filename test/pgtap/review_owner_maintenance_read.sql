-- Review: FORCE ROW LEVEL SECURITY confines the owner's queries, but not
-- the table scans PostgreSQL runs for the owner's DDL.  An owner (no
-- superuser, no token at all) reads every tenant's rows by passing them to
-- its own function from a CHECK constraint, an expression index or an
-- ALTER COLUMN ... TYPE ... USING rewrite.  doc/security.md promises that
-- the owner is confined ("FORCE must confine the owner too").
-- Each attempt swallows errors (a fix may refuse the DDL); the assertions
-- check that no other tenant's value reached the owner.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
DROP ROLE IF EXISTS mt_rm_owner;
CREATE ROLE mt_rm_owner NOLOGIN;
CREATE SCHEMA rm AUTHORIZATION mt_rm_owner;
SET ROLE mt_rm_owner;
CREATE TABLE rm.t (id int, tenant_id uuid NOT NULL, s text);
CREATE TABLE rm.loot (via text, v text);
CREATE FUNCTION rm.grab(via text, v text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO rm.loot VALUES (via, v); RETURN true; END $$;
-- index expressions must be immutable: leak through the error message
CREATE FUNCTION rm.grab_imm(v text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN RAISE EXCEPTION 'leak:%', v; END $$;
RESET ROLE;
SELECT mt.enable_isolation('rm.t');
INSERT INTO rm.t VALUES (1, :'acme', 'acme-secret'), (2, :'globex', 'globex-secret');
\set QUIET 0

SELECT plan(4);

SET ROLE mt_rm_owner;
SELECT is((SELECT count(*)::int FROM rm.t), 0, 'the owner without a context sees no rows (FORCE)');
DO $$ BEGIN ALTER TABLE rm.t ADD CONSTRAINT grab CHECK (rm.grab('check', s));
EXCEPTION WHEN others THEN RAISE NOTICE 'refused: %', SQLERRM; END $$;
SELECT is((SELECT count(*)::int FROM rm.loot WHERE via = 'check'), 0,
          'a CHECK constraint does not hand the owner the tenants'' rows');
DO $$ BEGIN CREATE INDEX grab_idx ON rm.t (rm.grab_imm(s));
EXCEPTION WHEN others THEN INSERT INTO rm.loot VALUES ('index', SQLERRM); END $$;
SELECT is((SELECT count(*)::int FROM rm.loot WHERE via = 'index' AND v LIKE 'leak:%'), 0,
          'an expression index does not hand the owner the tenants'' rows');
DO $$ BEGIN ALTER TABLE rm.t ALTER COLUMN s TYPE text USING (CASE WHEN rm.grab('using', s) THEN s END);
EXCEPTION WHEN others THEN RAISE NOTICE 'refused: %', SQLERRM; END $$;
SELECT is((SELECT count(*)::int FROM rm.loot WHERE via = 'using'), 0,
          'an ALTER COLUMN TYPE USING rewrite does not hand the owner the tenants'' rows');
RESET ROLE;

SELECT * FROM finish();
