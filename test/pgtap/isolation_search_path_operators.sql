-- Operators a caller defines in its own schema never run inside the
-- extension's internal statements, whatever the caller's search_path.
--  1. The sql_drop event trigger (mt_ddl_forget_dropped) runs as the
--     extension owner: an attacker's =(oid, regclass) on the search_path of
--     a session that drops a table never runs, so it cannot run as
--     superuser.
--  2. The DDL guard's lookup of isolated tables is not fooled by a table
--     owner's =(regclass, regclass) returning false: NO FORCE / DISABLE ROW
--     LEVEL SECURITY stay refused (42501).
--  3. enable_isolation builds its policies with pg_catalog's =(uuid, uuid)
--     even when an owner's operator comes first on the search_path: the
--     policy confines to the tenant.
--  4. mt.disable_isolation() of a missing relation raises 42P01.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour'), false) AS tok_acme \gset
DROP ROLE IF EXISTS mt_rv_owner;
DROP ROLE IF EXISTS mt_rv_evil;
CREATE ROLE mt_rv_owner NOLOGIN;
CREATE ROLE mt_rv_evil NOLOGIN;
CREATE SCHEMA rv_owner AUTHORIZATION mt_rv_owner;
CREATE SCHEMA rv_evil AUTHORIZATION mt_rv_evil;
GRANT EXECUTE ON FUNCTION mt.enable_isolation(regclass, name, name, boolean) TO mt_rv_owner;

-- (2) guard spoofing
SET ROLE mt_rv_owner;
CREATE TABLE rv_owner.g (id int, tenant_id uuid NOT NULL, s text);
RESET ROLE;
SELECT mt.enable_isolation('rv_owner.g');
INSERT INTO rv_owner.g VALUES (1, :'acme', 'a'), (2, :'globex', 'g');
SET ROLE mt_rv_owner;
CREATE FUNCTION rv_owner.never(regclass, regclass) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR rv_owner.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = rv_owner.never);
-- (3) policy operator
CREATE FUNCTION rv_owner.always(uuid, uuid) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR rv_owner.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = rv_owner.always);
CREATE TABLE rv_owner.p (id int, tenant_id uuid NOT NULL, s text);
RESET ROLE;
INSERT INTO rv_owner.p VALUES (1, :'acme', 'a'), (2, :'globex', 'g');

-- (1) escalation payload: records who ran it, and tries to make the
-- attacker superuser when it runs as one
SET ROLE mt_rv_evil;
CREATE TABLE rv_evil.ran_as (who name);
CREATE FUNCTION rv_evil.pwn(oid, regclass) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rv_evil.ran_as VALUES (current_user);
    IF current_user <> 'mt_rv_evil' THEN
        EXECUTE 'ALTER ROLE mt_rv_evil SUPERUSER';
    END IF;
    RETURN $1 OPERATOR(pg_catalog.=) $2::oid;
END $$;
CREATE OPERATOR rv_evil.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = rv_evil.pwn);
RESET ROLE;
\set QUIET 0

SELECT plan(6);

-- (2)
SET ROLE mt_rv_owner;
SET search_path = rv_owner, public;
SELECT throws_ok('ALTER TABLE rv_owner.g NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY', '42501', NULL,
                 'an owner''s =(regclass, regclass) operator does not blind the DDL guard');
RESET search_path;
RESET ROLE;
SELECT is((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'rv_owner.g'::regclass), true,
          'row level security is still enabled and forced');

-- (3)
SET ROLE mt_rv_owner;
SET search_path = rv_owner, pg_catalog;
SELECT mt.enable_isolation('rv_owner.p');
RESET search_path;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT is((SELECT count(*)::int FROM rv_owner.p), 1,
          'policies generated under an owner''s search_path still confine to the tenant');
RESET multitenant.token;
RESET ROLE;

-- (1)
SET ROLE mt_rv_evil;
SET search_path = rv_evil, public;
CREATE TABLE rv_evil.victim (x int);
DROP TABLE rv_evil.victim;
RESET search_path;
RESET ROLE;
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'mt_rv_evil'), false,
          'dropping a table with an attacker operator on the search_path does not grant superuser');
SELECT is((SELECT count(*)::int FROM rv_evil.ran_as WHERE who <> 'mt_rv_evil'), 0,
          'the attacker''s operator never ran as another role');

-- (4)
SELECT throws_ok('SELECT mt.disable_isolation(987654::regclass)', '42P01', NULL,
                 'disable_isolation of a missing relation is an error, not a crash');

SELECT * FROM finish();
ALTER ROLE mt_rv_evil NOSUPERUSER;
