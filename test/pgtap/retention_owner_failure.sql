-- One table owner cannot stop retention for everyone: an error raised by
-- the owner's code on its table (a trigger that raises, a deferred
-- constraint trigger, which PostgreSQL refuses inside the security-
-- restricted operation) makes that table's row 'error' (with a WARNING),
-- and every other table is still cleaned in the same run.
\set ON_ERROR_STOP 1
\set QUIET 1
DROP ROLE IF EXISTS mt_rof_owner;
CREATE ROLE mt_rof_owner NOLOGIN NOSUPERUSER;
GRANT CREATE ON SCHEMA public TO mt_rof_owner;
GRANT EXECUTE ON FUNCTION mt.enable_isolation(regclass, name, name, boolean),
    mt.set_retention(regclass, name, interval) TO mt_rof_owner;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset

SET ROLE mt_rof_owner;
CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the owner refuses deletes'; END $$;
CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TABLE public.a_raising (id int, tenant_id uuid NOT NULL, at timestamptz NOT NULL);
SELECT mt.enable_isolation('public.a_raising');
CREATE TRIGGER refuse AFTER DELETE ON public.a_raising FOR EACH STATEMENT EXECUTE FUNCTION public.refuse();
SELECT mt.set_retention('public.a_raising', 'at', '30 days');
CREATE TABLE public.b_deferred (id int, at timestamptz NOT NULL);
CREATE CONSTRAINT TRIGGER deferred AFTER DELETE ON public.b_deferred DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION public.noop();
SELECT mt.set_retention('public.b_deferred', 'at', '30 days');
CREATE TABLE public.c_plain (id int, at timestamptz NOT NULL);
SELECT mt.set_retention('public.c_plain', 'at', '30 days');
RESET ROLE;
INSERT INTO public.a_raising VALUES (1, :'acme', now() - interval '40 days');
INSERT INTO public.b_deferred VALUES (1, now() - interval '40 days');
INSERT INTO public.c_plain VALUES (1, now() - interval '40 days'), (2, now());
\set QUIET 0

SELECT plan(4);
SELECT results_eq($$SELECT tbl::text, deleted, status FROM mt.run_retention() ORDER BY 1$$,
    $$VALUES ('a_raising', 0::bigint, 'error'), ('b_deferred', 0::bigint, 'error'), ('c_plain', 1::bigint, 'done')$$,
    'a failing table reports error; the others are cleaned in the same run');
SELECT results_eq($$SELECT id FROM public.c_plain$$, $$VALUES (2)$$, 'the healthy table lost its expired row');
SELECT is((SELECT count(*)::int FROM public.a_raising), 1, 'the failing table''s deletes were rolled back');
SELECT is((SELECT last_more FROM mt.retention_policies WHERE tbl = 'public.a_raising'::regclass), true,
          'the failing table is marked as having more to do');
SELECT * FROM finish();
