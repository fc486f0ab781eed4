-- Finding 2 (GDPR): mt.gdpr_export, mt.gdpr_erase and mt.gdpr_process are
-- SECURITY DEFINER, but the owner of a registered table (the documented
-- app_owner: not a superuser, with EXECUTE on register_subject) controls
-- its triggers and the casts of its own types.  They must run with the
-- table owner's rights, not the extension owner's (a superuser), and
-- still see only the caller's tenant.
\set ON_ERROR_STOP 1
\set QUIET 1
DROP ROLE IF EXISTS mt_goo_owner;
CREATE ROLE mt_goo_owner NOLOGIN NOSUPERUSER;
GRANT CREATE ON SCHEMA public TO mt_goo_owner;
GRANT EXECUTE ON FUNCTION mt.enable_isolation(regclass, name, name, boolean),
    mt.register_subject(regclass, name, text, name[]) TO mt_goo_owner;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset

SET ROLE mt_goo_owner;
-- what the owner's code records: who it ran as, and whether that is a superuser
CREATE TABLE public.owner_log (fn text, cur text, sess text, su boolean, tenant uuid);
CREATE FUNCTION public.spy(fn text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.owner_log
    SELECT fn, current_user, session_user, r.rolsuper, mt.current_tenant()
    FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    BEGIN
        EXECUTE 'ALTER ROLE mt_goo_owner SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
END $$;
CREATE TYPE public.mood AS ENUM ('happy', 'sad');
CREATE FUNCTION public.mood_json(m public.mood) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.spy('cast');
    RETURN pg_catalog.to_json(m::text);
END $$;
CREATE CAST (public.mood AS json) WITH FUNCTION public.mood_json(public.mood);
CREATE TABLE public.people (id int PRIMARY KEY, tenant_id uuid NOT NULL, email text NOT NULL, mood public.mood);
SELECT mt.enable_isolation('public.people');
SELECT mt.register_subject('public.people', 'email');
CREATE FUNCTION public.people_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.spy(TG_OP);
    RETURN NULL;
END $$;
CREATE TRIGGER people_spy AFTER DELETE OR UPDATE ON public.people
    FOR EACH STATEMENT EXECUTE FUNCTION public.people_changed();
-- anonymized table with a domain whose check the owner wrote
CREATE FUNCTION public.nick_ok(t text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.spy('domain check');
    RETURN true;
END $$;
CREATE DOMAIN public.nick AS text CHECK (public.nick_ok(VALUE));
CREATE TABLE public.profiles (id int PRIMARY KEY, tenant_id uuid NOT NULL, email text NOT NULL, nick public.nick);
SELECT mt.enable_isolation('public.profiles');
SELECT mt.register_subject('public.profiles', 'email', 'anonymize', '{nick}');
RESET ROLE;

-- the owner fills its tables (its domain check runs as itself)
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SET ROLE mt_goo_owner;
INSERT INTO public.people VALUES (1, :'acme', 'alice@example.com', 'happy'), (2, :'acme', 'bob@example.com', 'sad');
INSERT INTO public.profiles VALUES (1, :'acme', 'alice@example.com', 'al');
RESET ROLE;
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered \gset
SET ROLE mt_goo_owner;
INSERT INTO public.people VALUES (11, :'globex', 'alice@example.com', 'happy');
INSERT INTO public.profiles VALUES (11, :'globex', 'alice@example.com', 'al');
RESET ROLE;
RESET multitenant.token;
TRUNCATE public.owner_log;
\set QUIET 0

SELECT plan(16);

-- export: the owner's json cast runs as the owner
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT is((SELECT jsonb_path_query_array(mt.gdpr_export('alice@example.com'), '$.tables[*].rows[*].mood')),
          '["happy"]'::jsonb, 'export: the row goes through the owner''s cast');
SELECT is((SELECT array_agg(DISTINCT cur) FROM public.owner_log WHERE fn = 'cast'), '{mt_goo_owner}'::text[],
          'export: the owner''s cast ran as the table owner');
SELECT is((SELECT bool_or(su) FROM public.owner_log WHERE fn = 'cast'), false,
          'export: the owner''s cast did not run as a superuser');

-- erase of a subject with no rows: the statement trigger still fires
TRUNCATE public.owner_log;
SELECT ok(mt.gdpr_erase('nobody') ? 'digest', 'erase of an unknown subject returns a receipt');
SELECT is((SELECT array_agg(DISTINCT cur) FROM public.owner_log WHERE fn = 'DELETE'), '{mt_goo_owner}'::text[],
          'erase: the owner''s trigger ran as the table owner');
SELECT is((SELECT bool_or(su) FROM public.owner_log), false, 'erase: no owner code ran as a superuser');
SELECT is((SELECT array_agg(DISTINCT tenant) FROM public.owner_log), ARRAY[:'acme'::uuid],
          'erase: the owner''s code ran inside the caller''s tenant context');

-- processing an erasure request: the same, and only the caller's tenant is touched
TRUNCATE public.owner_log;
SELECT mt.gdpr_request('alice@example.com', 'erasure') AS req \gset
SELECT is((mt.gdpr_process(:req)->'tables'->0->>'rows')::int, 1, 'process: the subject''s row is erased');
SELECT is((SELECT array_agg(DISTINCT cur ORDER BY cur) FROM public.owner_log), '{mt_goo_owner}'::text[],
          'process: trigger and domain check ran as the table owner');
SELECT is((SELECT count(*)::int FROM public.owner_log WHERE fn = 'domain check'), 1,
          'process: the anonymization went through the owner''s domain check');
SELECT is((SELECT bool_or(su) FROM public.owner_log), false, 'process: no owner code ran as a superuser');
SELECT is((SELECT nick::text FROM public.profiles WHERE id = 1) LIKE 'erased-%', true, 'process: the profile is anonymized');

-- access request: the export path of gdpr_process
SELECT mt.gdpr_request('bob@example.com', 'access') AS req2 \gset
TRUNCATE public.owner_log;
SELECT is((mt.gdpr_process(:req2)->'tables'->0->'rows'->0->>'mood'), 'sad', 'process (access): the export runs');
SELECT is((SELECT array_agg(DISTINCT cur) FROM public.owner_log WHERE fn = 'cast'), '{mt_goo_owner}'::text[],
          'process (access): the cast ran as the table owner');
RESET multitenant.token;

SELECT is((SELECT count(*)::int FROM public.people WHERE tenant_id = :'globex'), 1, 'the other tenant''s row is untouched');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'mt_goo_owner'), false, 'the table owner did not become a superuser');

SELECT * FROM finish();
ALTER ROLE mt_goo_owner NOSUPERUSER;
