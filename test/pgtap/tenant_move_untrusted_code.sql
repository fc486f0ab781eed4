-- mt.move_tenant copies and deletes rows as the caller (the back office,
-- often a superuser) with session_replication_role = replica: the
-- triggers enabled ALWAYS or REPLICA of the tables it reads and writes
-- still fire, and their defaults, CHECK constraints and index expressions
-- are evaluated with the caller's rights.  A table owner (or the owner of
-- a function those call) without the caller's privileges would run its
-- code as the back office.  Such a move is refused (42501, naming the
-- objects; partitions included) before anything is moved, in both
-- directions; a trigger that does not fire under replica (ENABLE, the
-- default) and a SECURITY DEFINER function are fine.
\set ON_ERROR_STOP 1
\set QUIET 1
\o /dev/null
SET client_min_messages = warning;
CREATE ROLE lowowner NOLOGIN;
CREATE SCHEMA low AUTHORIZATION lowowner;
CREATE TABLE low.log (who text, what text);
ALTER TABLE low.log OWNER TO lowowner;
GRANT INSERT, SELECT ON low.log TO PUBLIC;
GRANT USAGE ON SCHEMA low TO PUBLIC;
SET ROLE lowowner;
-- records whoever runs it, and tries something only the back office may
CREATE FUNCTION low.rec(what text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
    INSERT INTO low.log VALUES (current_user, what);
    BEGIN
        EXECUTE 'ALTER ROLE lowowner SUPERUSER';
        INSERT INTO low.log VALUES (current_user, 'made superuser');
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    RETURN true;
END $f$;
CREATE FUNCTION low.trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN PERFORM low.rec('trigger ' || TG_OP); RETURN COALESCE(NEW, OLD); END $f$;
CREATE FUNCTION low.def() RETURNS int LANGUAGE plpgsql VOLATILE AS $f$
BEGIN PERFORM low.rec('default'); RETURN 1; END $f$;
CREATE FUNCTION low.imm(n int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';
CREATE FUNCTION low.sd(n int) RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog AS $f$
BEGIN INSERT INTO low.log VALUES (current_user, 'definer'); RETURN true; END $f$;
-- the shared table, owned by the unprivileged role
CREATE TABLE low.docs (tenant_id uuid NOT NULL DEFAULT mt.current_tenant(), id int NOT NULL, n int);
RESET ROLE;

SELECT mt.create_tenant('Acme', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'pro') AS globex \gset
SELECT mt.enable_isolation('low.docs');
-- the template, the back office's own
CREATE SCHEMA tmpl;
CREATE TABLE tmpl.docs (id int NOT NULL, n int);
-- Globex lives in its schema already (provisioned before the table was
-- handed over), Acme in the shared table
SELECT mt.provision_schema(:'globex', 'tmpl');
INSERT INTO tenant_globex.docs VALUES (1, 10), (2, 20);
INSERT INTO low.docs (tenant_id, id, n) VALUES (:'acme', 1, 1), (:'acme', 2, 2);

-- the role plants its code: triggers that fire under replica, a CHECK
SET ROLE lowowner;
CREATE TRIGGER docs_del AFTER DELETE ON low.docs FOR EACH ROW EXECUTE FUNCTION low.trg();
ALTER TABLE low.docs ENABLE ALWAYS TRIGGER docs_del;
CREATE TRIGGER docs_ins BEFORE INSERT ON low.docs FOR EACH ROW EXECUTE FUNCTION low.trg();
ALTER TABLE low.docs ENABLE REPLICA TRIGGER docs_ins;
ALTER TABLE low.docs ADD CONSTRAINT docs_n_check CHECK (low.rec('check')) NOT VALID;
RESET ROLE;
TRUNCATE low.log;

-- 'SQLSTATE: message | detail' of a statement's error, or 'no error'
CREATE FUNCTION pg_temp.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE st text; msg text; det text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN st || ': ' || msg || ' | ' || det;
END $f$;
-- rows of a table (NULL: no such table)
CREATE FUNCTION pg_temp.rows_in(tbl text) RETURNS int LANGUAGE plpgsql AS $f$
DECLARE n int;
BEGIN
    IF to_regclass(tbl) IS NULL THEN RETURN NULL; END IF;
    EXECUTE format('SELECT count(*) FROM %s', tbl) INTO n;
    RETURN n;
END $f$;
CREATE FUNCTION pg_temp.level_of(t uuid) RETURNS text LANGUAGE sql AS
    $$ SELECT level FROM mt.tenant_placement(t) $$;
\o
\set QUIET 0

SELECT plan(24);

-- shared -> schema: the DELETE from the shared table would fire docs_del
SELECT pg_temp.error_of(format('SELECT * FROM mt.move_tenant(%L, %L, %L)', :'acme', 'schema', 'tmpl')) AS err \gset
SELECT matches(:'err'::text, '^42501: ', 'shared -> schema, hostile shared table: 42501');
SELECT matches(:'err'::text, 'table low\.docs \(owner lowowner\)', 'the message names the table and its owner');
SELECT matches(:'err'::text, 'trigger docs_del on low\.docs', 'the detail names the ALWAYS trigger');
SELECT matches(:'err'::text, 'trigger docs_ins on low\.docs', 'the detail names the REPLICA trigger');
SELECT matches(:'err'::text, 'function low\.rec\(text\)', 'the detail names the function of the CHECK');
SELECT is((SELECT count(*)::int FROM low.docs WHERE tenant_id = :'acme'), 2, 'nothing moved: Acme''s rows stay shared');
SELECT ok(to_regnamespace('tenant_acme') IS NULL, 'no schema was provisioned');
SELECT is(pg_temp.level_of(:'acme'), 'shared', 'Acme is still at the shared level');

-- schema -> shared: the INSERT into the shared table would fire docs_ins,
-- the CHECK and the DEFAULT of a column only the shared table has
SET ROLE lowowner;
ALTER TABLE low.docs ADD COLUMN extra int DEFAULT low.def();
RESET ROLE;
TRUNCATE low.log;
SELECT pg_temp.error_of(format('SELECT * FROM mt.move_tenant(%L, %L)', :'globex', 'shared')) AS err \gset
SELECT matches(:'err'::text, '^42501: .*table low\.docs \(owner lowowner\)', 'schema -> shared, hostile shared target: 42501 naming the table');
SELECT matches(:'err'::text, 'function low\.def\(\)', 'the detail names the function of the DEFAULT');
SELECT is(pg_temp.rows_in('tenant_globex.docs'), 2, 'nothing moved: Globex''s rows stay in its schema');
SELECT is((SELECT count(*)::int FROM low.docs WHERE tenant_id = :'globex'), 0, 'no row of Globex in the shared table');
SELECT is(pg_temp.level_of(:'globex'), 'schema', 'Globex is still at the schema level');

SELECT is((SELECT string_agg(who || ':' || what, ', ') FROM low.log), NULL, 'none of the role''s code ran');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'lowowner'), 'the role did not become superuser');
-- (should the code have run: undo it, so the checks below stand alone)
ALTER ROLE lowowner NOSUPERUSER;
TRUNCATE low.log;

-- the table handed back to the back office: its triggers, CHECK, DEFAULT
-- and index expressions still call the role's functions
ALTER TABLE low.docs OWNER TO CURRENT_USER;
SELECT matches(pg_temp.error_of(format('SELECT * FROM mt.move_tenant(%L, %L, %L)', :'acme', 'schema', 'tmpl')),
               '^42501: .*Not trusted: .*function low\.rec\(text\)', 'a table of the caller calling the role''s functions: refused, function named');
ALTER TABLE low.docs DROP CONSTRAINT docs_n_check, DROP COLUMN extra;
SELECT throws_like(format('SELECT * FROM mt.move_tenant(%L, %L, %L)', :'acme', 'schema', 'tmpl'),
                   '%function low.trg()%', 'an ALWAYS / REPLICA trigger calling the role''s function: refused, function named');
-- ENABLE (fires on the origin only): does not fire under replica
ALTER TABLE low.docs ENABLE TRIGGER docs_del, ENABLE TRIGGER docs_ins;
CREATE INDEX docs_imm ON low.docs (low.imm(n));
SELECT throws_like(format('SELECT * FROM mt.move_tenant(%L, %L)', :'globex', 'shared'),
                   '%function low.imm(integer)%', 'an index expression calling the role''s function: refused, function named');
SELECT is(pg_temp.rows_in('tenant_globex.docs'), 2, 'nothing moved');
DROP INDEX low.docs_imm;
-- a partition of an isolated shared table, owned by the role
CREATE TABLE public.parts (tenant_id uuid NOT NULL DEFAULT mt.current_tenant(), id int NOT NULL) PARTITION BY HASH (id);
CREATE TABLE public.parts_0 PARTITION OF public.parts FOR VALUES WITH (MODULUS 1, REMAINDER 0);
SELECT mt.enable_isolation('public.parts') IS NULL AS isolated \gset
ALTER TABLE public.parts_0 OWNER TO lowowner;
SELECT throws_like(format('SELECT * FROM mt.move_tenant(%L, %L)', :'globex', 'shared'),
                   '%table public.parts_0 (owner lowowner)%', 'a partition owned by the role: refused, partition named');
ALTER TABLE public.parts_0 OWNER TO CURRENT_USER;

-- trusted: a SECURITY DEFINER function runs as its owner; origin triggers do not fire
ALTER TABLE low.docs ADD CONSTRAINT docs_sd CHECK (low.sd(n));
SELECT is((SELECT rows FROM mt.move_tenant(:'globex', 'shared') WHERE item = 'placement'), 2::bigint,
          'schema -> shared with only trusted code: moved');
SELECT is((SELECT rows FROM mt.move_tenant(:'acme', 'schema', 'tmpl') WHERE item = 'placement'), 2::bigint,
          'shared -> schema with only trusted code: moved');
SELECT results_eq($$SELECT DISTINCT who || ':' || what FROM low.log$$, $$VALUES ('lowowner:definer')$$,
                  'only the SECURITY DEFINER function ran, as its owner; the origin triggers did not fire');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'lowowner'), 'the role is still not superuser');

SELECT * FROM finish();
