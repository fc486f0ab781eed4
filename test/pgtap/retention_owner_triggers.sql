-- Finding 2 (retention): mt.run_retention is SECURITY DEFINER (pg_cron runs
-- it as a superuser).  The owner of a retention-managed table (the
-- documented app_owner, not a superuser, EXECUTE on set_retention)
-- controls the table's triggers; they must run with the owner's rights.
-- An isolated table (FORCE RLS) is cleaned tenant by tenant, each inside
-- its own tenant context (a suspended tenant's too: its rows expire like
-- everyone's); a table without isolation in one pass.
\set ON_ERROR_STOP 1
\set QUIET 1
DROP ROLE IF EXISTS mt_rot_owner;
CREATE ROLE mt_rot_owner NOLOGIN NOSUPERUSER;
GRANT CREATE ON SCHEMA public TO mt_rot_owner;
GRANT EXECUTE ON FUNCTION mt.enable_isolation(regclass, name, name, boolean),
    mt.set_retention(regclass, name, interval) TO mt_rot_owner;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.create_tenant('Initech', 'initech') AS initech \gset

SET ROLE mt_rot_owner;
CREATE TABLE public.owner_log (tbl text, cur text, su boolean, tenant uuid);
CREATE FUNCTION public.spy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.owner_log
    SELECT TG_TABLE_NAME, current_user, r.rolsuper, mt.current_tenant()
    FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    BEGIN
        EXECUTE 'ALTER ROLE mt_rot_owner SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN NULL;
END $$;
-- isolated, partitioned
CREATE TABLE public.events (id int, tenant_id uuid NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (id);
CREATE TABLE public.events_1 PARTITION OF public.events FOR VALUES FROM (0) TO (100);
CREATE TABLE public.events_2 PARTITION OF public.events FOR VALUES FROM (100) TO (1000);
SELECT mt.enable_isolation('public.events');
CREATE TRIGGER events_spy AFTER DELETE ON public.events_1 FOR EACH STATEMENT EXECUTE FUNCTION public.spy();
CREATE TRIGGER events_spy AFTER DELETE ON public.events_2 FOR EACH STATEMENT EXECUTE FUNCTION public.spy();
SELECT mt.set_retention('public.events', 'at', '30 days');
-- not isolated
CREATE TABLE public.plain_logs (id int, at date NOT NULL);
CREATE TRIGGER plain_spy AFTER DELETE ON public.plain_logs FOR EACH STATEMENT EXECUTE FUNCTION public.spy();
SELECT mt.set_retention('public.plain_logs', 'at', '30 days');
RESET ROLE;

-- acme: 3 expired, 1 recent; globex: 2 expired, 1 recent; initech (suspended later): 1 expired
INSERT INTO public.events VALUES (1, :'acme', now() - interval '40 days'), (2, :'acme', now() - interval '40 days'),
    (150, :'acme', now() - interval '50 days'), (3, :'acme', now()),
    (4, :'globex', now() - interval '40 days'), (160, :'globex', now() - interval '31 days'), (5, :'globex', now()),
    (6, :'initech', now() - interval '40 days');
INSERT INTO public.plain_logs VALUES (1, current_date - 40), (2, current_date - 35), (3, current_date);
SELECT mt.suspend_tenant(:'initech');
\set QUIET 0

SELECT plan(13);

SELECT results_eq($$SELECT tbl, deleted, more, status FROM mt.run_retention(2) ORDER BY tbl::text$$,
    $$VALUES ('public.events'::regclass, 2::bigint, true, 'more'), ('public.plain_logs'::regclass, 2::bigint, false, 'done')$$,
    'a run deletes at most one batch per table; more is reported');
SELECT results_eq($$SELECT tbl, deleted, more, status FROM mt.run_retention(10) ORDER BY tbl::text$$,
    $$VALUES ('public.events'::regclass, 4::bigint, false, 'done'), ('public.plain_logs'::regclass, 0::bigint, false, 'done')$$,
    'the next run deletes the rest');
SELECT results_eq($$SELECT id FROM public.events ORDER BY id$$, $$VALUES (3), (5)$$,
    'every tenant''s expired rows are gone, the suspended tenant''s too; recent rows are kept');
SELECT results_eq($$SELECT id FROM public.plain_logs ORDER BY id$$, $$VALUES (3)$$,
    'the table without isolation is cleaned in one pass');

SELECT is((SELECT array_agg(DISTINCT cur) FROM public.owner_log WHERE tbl LIKE 'events%'), '{mt_rot_owner}'::text[],
          'isolated table: the owner''s triggers ran as the table owner');
SELECT is((SELECT array_agg(DISTINCT cur) FROM public.owner_log WHERE tbl = 'plain_logs'), '{mt_rot_owner}'::text[],
          'plain table: the owner''s trigger ran as the table owner');
SELECT is((SELECT bool_or(su) FROM public.owner_log), false, 'no owner code ran as a superuser');
SELECT is((SELECT array_agg(DISTINCT coalesce(tenant::text, 'none')) FROM public.owner_log WHERE tbl LIKE 'events%'),
          '{none}', 'isolated table: the owner''s triggers see no tenant (the maintenance context confines only retention''s own statement)');
SELECT is((SELECT count(*)::int FROM public.owner_log WHERE tbl = 'plain_logs' AND tenant IS NULL),
          (SELECT count(*)::int FROM public.owner_log WHERE tbl = 'plain_logs'),
          'plain table: cleaned without a tenant context');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'mt_rot_owner'), false, 'the table owner did not become a superuser');
SELECT is(mt.current_tenant(), NULL, 'the caller''s (absent) tenant context is restored');
SELECT is(current_setting('search_path'), '"$user", public', 'the caller''s search_path is restored');

-- a dropped tenant's rows expire too
SELECT mt.drop_tenant(:'globex');
INSERT INTO public.events VALUES (7, :'globex', now() - interval '40 days');
SELECT results_eq($$SELECT tbl, deleted FROM mt.run_retention() WHERE tbl = 'public.events'::regclass$$,
    $$VALUES ('public.events'::regclass, 1::bigint)$$, 'a dropped tenant''s expired rows go too');

SELECT * FROM finish();
ALTER ROLE mt_rot_owner NOSUPERUSER;
