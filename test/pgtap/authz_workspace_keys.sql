-- Workspaces and API keys: a key bound to a workspace acts only there and
-- never reads rows of another workspace of its tenant (not even with a
-- tenant-wide role assigned to it); an unbound key's scopes are its
-- permissions across the tenant; a rotated key keeps its workspace; a
-- workspace of another tenant is refused.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.set_tenant(:'globex', false);
SELECT mt.create_workspace('globex ws') AS ws_globex \gset
SELECT mt.set_tenant(:'acme', false);
SELECT mt.create_workspace('alpha') AS ws_alpha \gset
SELECT mt.create_workspace('beta') AS ws_beta \gset
RESET multitenant.token;
SELECT mt.create_api_key(:'acme', 'alpha ci', '{projects:read}', workspace => :'ws_alpha') AS key_alpha \gset
SELECT mt.create_api_key(:'acme', 'tenant ci', '{projects:read}') AS key_all \gset
SELECT mt.create_api_key(:'acme', 'plain', '{read}') AS key_plain \gset
DROP ROLE IF EXISTS mt_azk_app;
CREATE ROLE mt_azk_app;
CREATE TABLE public.azk_projects (id int, tenant_id uuid NOT NULL, workspace_id uuid, name text);
ALTER TABLE public.azk_projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.azk_projects FORCE ROW LEVEL SECURITY;
CREATE POLICY read_projects ON public.azk_projects FOR SELECT
    USING (tenant_id = mt.current_tenant() AND mt.workspace_visible(workspace_id)
           AND mt.has_permission('projects:read'));
INSERT INTO public.azk_projects VALUES
    (1, :'acme', :'ws_alpha', 'a1'), (2, :'acme', :'ws_alpha', 'a2'),
    (3, :'acme', :'ws_beta', 'b1'), (4, :'acme', NULL, 'shared'),
    (5, :'globex', :'ws_globex', 'g1');
GRANT SELECT ON public.azk_projects TO mt_azk_app;
\set QUIET 0

SELECT plan(12);
SET ROLE mt_azk_app;
BEGIN;
SELECT mt.authenticate(:'key_alpha') IS NOT NULL AS authenticated \gset
SELECT is(mt.current_workspace(), :'ws_alpha'::uuid, 'a key bound to alpha: the current workspace is alpha');
SELECT is((SELECT array_agg(name ORDER BY id) FROM public.azk_projects), '{a1,a2,shared}',
          'it reads alpha''s rows and rows of no workspace, not beta''s');
COMMIT;
BEGIN;
SELECT mt.authenticate(:'key_all') IS NOT NULL AS authenticated \gset
SELECT is(mt.current_workspace(), NULL, 'an unbound key has no current workspace');
SELECT is((SELECT array_agg(name ORDER BY id) FROM public.azk_projects), '{a1,a2,b1,shared}',
          'its scopes are permissions across the tenant''s workspaces');
COMMIT;
BEGIN;
SELECT mt.authenticate(:'key_plain') IS NOT NULL AS authenticated \gset
SELECT ok(NOT mt.has_permission('projects:read') AND NOT mt.has_permission('read:x'),
          'a scope outside the permission grammar grants no permission');
SELECT is((SELECT count(*)::int FROM public.azk_projects), 0, 'and reads nothing');
COMMIT;
RESET ROLE;

-- a tenant-wide role assigned to the bound key does not let it out of alpha
SELECT mt.set_tenant(:'acme', false);
SELECT mt.grant_role('key:' || mt.api_key_id(:'key_alpha'), 'admin');
SELECT mt.api_key_id(mt.create_api_key(:'globex', 'g')) AS kg_id \gset
SELECT throws_ok(format($$SELECT mt.grant_role('key:%s', 'viewer')$$, :'kg_id'), '42704', NULL,
                 'a key of another tenant cannot be given a role');
RESET multitenant.token;
SET ROLE mt_azk_app;
BEGIN;
SELECT mt.authenticate(:'key_alpha') IS NOT NULL AS authenticated \gset
SELECT ok(mt.has_permission('anything:write'), 'the bound key holds its admin role''s permissions');
SELECT is((SELECT array_agg(name ORDER BY id) FROM public.azk_projects), '{a1,a2,shared}',
          'but still reads only alpha (a bound key never spans workspaces)');
COMMIT;
RESET ROLE;

SELECT throws_ok(format($$SELECT mt.create_api_key(%L, 'x', workspace => %L)$$, :'acme', :'ws_globex'),
                 '42704', NULL, 'a key cannot be bound to a workspace of another tenant');
SELECT mt.rotate_api_key(mt.api_key_id(:'key_alpha'), '1 hour') AS key_next \gset
SELECT is((SELECT workspace_id FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'key_next')),
          :'ws_alpha'::uuid, 'a rotated key''s successor keeps its workspace');
SELECT mt.set_tenant(:'acme', false);
SELECT is((SELECT workspace_id FROM mt.api_keys WHERE key_id = mt.api_key_id(:'key_alpha')),
          :'ws_alpha'::uuid, 'mt.api_keys shows the workspace');
RESET multitenant.token;
SELECT * FROM finish();
