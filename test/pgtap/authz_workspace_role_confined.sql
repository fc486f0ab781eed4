-- What a subject holds only through an assignment in one workspace applies
-- to that workspace only: a subject with a tenant-wide viewer and a
-- member in workspace alpha, acting in alpha, writes alpha's rows but
-- cannot insert, update or delete rows of workspace beta through the
-- generated policies (its tenant-wide role would make every workspace
-- visible, and its alpha permission would then apply to all of them).
-- Without a current workspace it still reads every workspace.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.set_tenant(:'acme', false);
SELECT mt.create_workspace('alpha') AS ws_alpha \gset
SELECT mt.create_workspace('beta') AS ws_beta \gset
SELECT mt.grant_role('wes', 'viewer');
SELECT mt.grant_role('wes', 'member', :'ws_alpha');
SELECT mt.grant_role('meg', 'member');
RESET multitenant.token;
DROP ROLE IF EXISTS mt_awc_app;
CREATE ROLE mt_awc_app;
GRANT EXECUTE ON FUNCTION mt.set_tenant_subject(uuid, text, text, uuid, boolean) TO mt_awc_app;
CREATE TABLE public.awc_docs (id int, tenant_id uuid NOT NULL, workspace_id uuid, body text);
SELECT mt.enable_isolation('public.awc_docs', workspace_column => 'workspace_id', permissions => true);
INSERT INTO public.awc_docs VALUES
    (1, :'acme', :'ws_alpha', 'a1'), (2, :'acme', :'ws_beta', 'b1'), (3, :'acme', NULL, 'shared');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.awc_docs TO mt_awc_app;
\set QUIET 0

SELECT plan(9);
SET ROLE mt_awc_app;
SELECT mt.set_tenant_subject(:'acme', 'wes', workspace => :'ws_alpha', is_local => false);
SELECT lives_ok($$UPDATE public.awc_docs SET body = 'a1 by wes' WHERE id = 1$$,
                'a member of alpha writes alpha''s rows');
SELECT throws_ok(format($$INSERT INTO public.awc_docs VALUES (9, %L, %L, 'planted')$$, :'acme', :'ws_beta'),
                 '42501', NULL, 'but cannot insert a row into beta');
UPDATE public.awc_docs SET body = 'defaced' WHERE id = 2;
DELETE FROM public.awc_docs WHERE id = 2;
SELECT is((SELECT array_agg(body ORDER BY id) FROM public.awc_docs), '{"a1 by wes",shared}',
          'nor see beta''s rows while acting in alpha');
SELECT mt.set_tenant_subject(:'acme', 'wes', is_local => false);
SELECT is((SELECT array_agg(body ORDER BY id) FROM public.awc_docs), '{"a1 by wes",b1,shared}',
          'beta''s row was neither updated nor deleted; without a workspace wes reads every workspace');
UPDATE public.awc_docs SET body = 'x' WHERE id = 1;
SELECT is((SELECT body FROM public.awc_docs WHERE id = 1), 'a1 by wes',
          'and, a viewer tenant-wide, writes nothing there');
SELECT mt.set_tenant_subject(:'acme', 'meg', workspace => :'ws_alpha', is_local => false);
SELECT is((SELECT count(*)::int FROM public.awc_docs), 3, 'a tenant-wide member still spans workspaces with a current one');
SELECT lives_ok($$UPDATE public.awc_docs SET body = 'b1 by meg' WHERE id = 2$$,
                'and writes every workspace');
SELECT is((SELECT body FROM public.awc_docs WHERE id = 2), 'b1 by meg', 'the write landed');
RESET multitenant.token;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM public.awc_docs WHERE id = 9), 0, 'nothing was planted in beta');
SELECT * FROM finish();
