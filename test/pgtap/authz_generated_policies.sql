-- mt.enable_isolation(tbl, workspace_column => ..., permissions => true):
-- generated restrictive policies hide rows of other workspaces (unless the
-- subject's role spans workspaces; never for a key bound to a workspace)
-- and require <table>:read to read and <table>:write to write; they are
-- guarded like the tenant policies, new partitions inherit them, and
-- mt.isolation_status() lists policies checking permissions that no role
-- or key names.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.set_tenant(:'acme', false);
SELECT mt.create_workspace('alpha') AS ws_alpha \gset
SELECT mt.create_workspace('beta') AS ws_beta \gset
SELECT mt.grant_role('vic', 'viewer', :'ws_alpha');
SELECT mt.grant_role('meg', 'member');
RESET multitenant.token;
SELECT mt.create_api_key(:'acme', 'beta reader', '{azg_projects:read}', workspace => :'ws_beta') AS key_beta \gset
DROP ROLE IF EXISTS mt_azg_app;
CREATE ROLE mt_azg_app;
GRANT EXECUTE ON FUNCTION mt.set_tenant_subject(uuid, text, text, uuid, boolean) TO mt_azg_app;
CREATE TABLE public.azg_projects (id int, tenant_id uuid NOT NULL, workspace_id uuid, name text)
    PARTITION BY LIST (workspace_id);
CREATE TABLE public.azg_projects_default PARTITION OF public.azg_projects DEFAULT;
SELECT mt.enable_isolation('public.azg_projects', workspace_column => 'workspace_id', permissions => true);
INSERT INTO public.azg_projects VALUES
    (1, :'acme', :'ws_alpha', 'a1'), (2, :'acme', :'ws_beta', 'b1'), (3, :'acme', NULL, 'shared'),
    (4, :'globex', NULL, 'g1');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.azg_projects TO mt_azg_app;
CREATE TABLE public.azg_plain (id int, tenant_id uuid NOT NULL, kind text);
SELECT mt.enable_isolation('public.azg_plain');
\set QUIET 0

SELECT plan(18);
SELECT is((SELECT array_agg(polname::text ORDER BY polname) FROM pg_policy WHERE polrelid = 'public.azg_projects'::regclass),
          '{mt_permission_delete,mt_permission_insert,mt_permission_read,mt_permission_update,mt_tenant_access,mt_tenant_isolation,mt_workspace_isolation}',
          'the generated policies');
SELECT is((SELECT workspace_column::text || '/' || permissions FROM mt.isolated_tables WHERE tbl = 'public.azg_projects'::regclass),
          'workspace_id/true', 'the options are recorded');

SET ROLE mt_azg_app;
SELECT mt.set_tenant_subject(:'acme', 'vic', workspace => :'ws_alpha', is_local => false);
SELECT is((SELECT array_agg(name ORDER BY id) FROM public.azg_projects), '{a1,shared}',
          'a viewer of alpha reads alpha''s rows and rows of no workspace');
SELECT throws_ok(format($$INSERT INTO public.azg_projects VALUES (9, %L, %L, 'x')$$, :'acme', :'ws_alpha'),
                 '42501', NULL, 'but cannot write without azg_projects:write');
SELECT mt.set_tenant_subject(:'acme', 'meg', is_local => false);
SELECT is((SELECT array_agg(name ORDER BY id) FROM public.azg_projects), '{a1,b1,shared}',
          'a tenant-wide member reads every workspace');
SELECT lives_ok(format($$INSERT INTO public.azg_projects VALUES (5, %L, %L, 'b2')$$, :'acme', :'ws_beta'),
                'and writes');
SELECT mt.set_tenant_subject(:'acme', 'meg', workspace => :'ws_alpha', is_local => false);
SELECT is((SELECT count(*)::int FROM public.azg_projects), 4, 'a tenant-wide role spans workspaces also with a current one');
SELECT mt.set_tenant_subject(:'acme', 'nobody', is_local => false);
SELECT is((SELECT count(*)::int FROM public.azg_projects), 0, 'a subject with no role reads nothing');
RESET multitenant.token;
BEGIN;
SELECT mt.authenticate(:'key_beta') IS NOT NULL AS authenticated \gset
SELECT is((SELECT array_agg(name ORDER BY id) FROM public.azg_projects), '{b1,shared,b2}',
          'a key bound to beta with azg_projects:read reads only beta (and no workspace)');
COMMIT;
RESET ROLE;

-- the guard protects the generated authorization policies
SELECT throws_ok($$DROP POLICY mt_permission_read ON public.azg_projects$$, '42501', NULL,
                 'the generated read policy cannot be dropped');
-- new partitions inherit the options
CREATE TABLE public.azg_projects_alpha PARTITION OF public.azg_projects FOR VALUES IN ('00000000-0000-0000-0000-000000000001');
SELECT is((SELECT count(*)::int FROM pg_policy WHERE polrelid = 'public.azg_projects_alpha'::regclass), 7,
          'a new partition gets the authorization policies too');
-- bad options
SELECT throws_ok($$SELECT mt.enable_isolation('public.azg_plain', workspace_column => 'nope')$$, '42703', NULL,
                 'an unknown workspace column: 42703');
SELECT throws_ok($$SELECT mt.enable_isolation('public.azg_plain', workspace_column => 'kind')$$, '42804', NULL,
                 'a workspace column that is not uuid: 42804');
-- the lint
CREATE POLICY typo ON public.azg_plain AS RESTRICTIVE FOR SELECT USING (mt.has_permission('projcts:read'));
SELECT ok((SELECT issues FROM mt.isolation_status() WHERE tbl = 'public.azg_plain'::regclass)::text LIKE '%policy typo checks permission ''projcts:read''%',
          'isolation_status lists a policy checking a permission no role names');
SELECT is((SELECT cardinality(issues) FROM mt.isolation_status() WHERE tbl = 'public.azg_projects'::regclass), 0,
          'but not the generated <table>:read / <table>:write');
SELECT mt.set_tenant(:'globex', false);
SELECT mt.create_role('pm', '{projcts:*}');
RESET multitenant.token;
SELECT is((SELECT cardinality(issues) FROM mt.isolation_status() WHERE tbl = 'public.azg_plain'::regclass), 0,
          'once a role names it (as resource:*), the issue is gone');
SELECT lives_ok($$SELECT mt.disable_isolation('public.azg_projects')$$, 'disable_isolation');
SELECT is((SELECT count(*)::int FROM pg_policy WHERE polrelid = 'public.azg_projects'::regclass), 0,
          'removes the authorization policies too');
SELECT * FROM finish();
