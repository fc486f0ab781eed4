-- The SPI statements that run with the caller's rights resolve their
-- operators in pg_catalog only: a role that controls a schema on a
-- privileged caller's search_path (a database owner's ALTER DATABASE ...
-- SET search_path, here a plain SET) plants !~(text, text), =(oid, oid) and
-- =(bigint, bigint), and none of them runs (with the caller's, here a
-- superuser's, rights) inside mt.isolation_status(), mt.register_subject(),
-- mt.add_breach_subjects() or mt.record_breach_notification().
\set ON_ERROR_STOP 1
\set QUIET 1
DROP ROLE IF EXISTS mt_csp_planter;
CREATE ROLE mt_csp_planter NOLOGIN NOSUPERUSER;
CREATE SCHEMA trap AUTHORIZATION mt_csp_planter;
CREATE SCHEMA trap_txt AUTHORIZATION mt_csp_planter;
SET ROLE mt_csp_planter;
CREATE TABLE trap.loot (op text, cur text, su boolean);
GRANT INSERT ON trap.loot TO PUBLIC;
CREATE FUNCTION trap.record(op text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trap.loot SELECT op, current_user, r.rolsuper FROM pg_catalog.pg_roles r
    WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    BEGIN
        EXECUTE 'ALTER ROLE mt_csp_planter SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
END $$;
CREATE FUNCTION trap.oideq(a oid, b oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM trap.record('oid ='); RETURN pg_catalog.oideq(a, b); END $$;
CREATE FUNCTION trap.int8eq(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM trap.record('bigint ='); RETURN pg_catalog.int8eq(a, b); END $$;
CREATE FUNCTION trap.textnregex(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM trap.record('text !~'); RETURN pg_catalog.textregexne(a, b); END $$;
CREATE OPERATOR trap_txt.!~ (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.textnregex);
CREATE OPERATOR trap.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = trap.oideq);
CREATE OPERATOR trap.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = trap.int8eq);
RESET ROLE;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
CREATE TABLE public.people (id int, tenant_id uuid NOT NULL, email text);
CREATE TABLE public.people_old () INHERITS (public.people);    -- a pg_inherits row to compare
SELECT mt.enable_isolation('public.people');
CREATE TABLE public.contacts (id int, tenant_id uuid NOT NULL, email text);   -- registered already
SELECT mt.enable_isolation('public.contacts');
SELECT mt.register_subject('public.contacts', 'email');
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT mt.report_breach('laptop lost', now()) AS breach \gset
\set QUIET 0

SELECT plan(6);

SET search_path = trap_txt, pg_catalog, public;
SELECT count(*) AS status_rows FROM mt.isolation_status();
SET search_path = trap, pg_catalog, public;
SELECT mt.register_subject('public.people', 'email');
SELECT mt.add_breach_subjects(:breach, ARRAY['alice']);
SELECT mt.record_breach_notification(:breach, 'CNIL');
RESET search_path;

SELECT is((SELECT count(*)::int FROM trap.loot WHERE op = 'text !~'), 0, 'isolation_status ran no planted text !~');
SELECT is((SELECT count(*)::int FROM trap.loot WHERE op = 'oid ='), 0, 'register_subject ran no planted oid =');
SELECT is((SELECT count(*)::int FROM trap.loot WHERE op = 'bigint ='), 0, 'the breach functions ran no planted bigint =');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'mt_csp_planter'), false, 'the planter did not become a superuser');
SELECT is((SELECT count(*)::int FROM mt.subject_tables WHERE tbl = 'public.people'::regclass), 1, 'the registration was made');
SELECT is((SELECT authority FROM mt.breaches WHERE id = :breach), 'CNIL', 'the notification was recorded');

SELECT * FROM finish();
ALTER ROLE mt_csp_planter NOSUPERUSER;
