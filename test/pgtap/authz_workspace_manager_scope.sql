-- A manager whose roles:manage comes from an assignment in one workspace
-- manages assignments only in that workspace: it cannot grant or revoke
-- tenant-wide assignments (giving itself a tenant-wide admin that spans
-- every workspace), nor assignments in another workspace, nor define the
-- tenant's roles (which tenant-wide assignments use); a key bound to a
-- workspace with roles:manage likewise.  A tenant-wide admin still can.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.set_tenant(:'acme', false);
SELECT mt.create_workspace('alpha') AS ws_alpha \gset
SELECT mt.create_workspace('beta') AS ws_beta \gset
SELECT mt.create_role('ops', '{*:read}');
SELECT mt.create_role('rep', '{reports:read}');
SELECT mt.grant_role('wadm', 'admin', :'ws_alpha');
SELECT mt.grant_role('tadm', 'admin');
SELECT mt.grant_role('bob', 'ops');
SELECT mt.grant_role('carl', 'viewer');
RESET multitenant.token;
SELECT mt.create_api_key(:'acme', 'alpha manager', '{roles:manage,reports:read}', workspace => :'ws_alpha') AS key_alpha \gset
DROP ROLE IF EXISTS mt_wms_app;
CREATE ROLE mt_wms_app;
GRANT EXECUTE ON FUNCTION mt.set_tenant_subject(uuid, text, text, uuid, boolean) TO mt_wms_app;
\set QUIET 0

SELECT plan(14);
SET ROLE mt_wms_app;
SELECT mt.set_tenant_subject(:'acme', 'wadm', workspace => :'ws_alpha', is_local => false);
SELECT ok(mt.has_permission('roles:manage'), 'the workspace admin manages roles in alpha');
SELECT lives_ok(format($$SELECT mt.grant_role('eve', 'member', %L)$$, :'ws_alpha'),
                'and grants roles in alpha');
SELECT throws_ok($$SELECT mt.grant_role('wadm', 'admin')$$, '42501', NULL,
                 'but cannot give itself a tenant-wide admin');
SELECT throws_ok($$SELECT mt.grant_role('eve', 'member')$$, '42501', NULL,
                 'nor anyone a tenant-wide role');
SELECT throws_ok(format($$SELECT mt.grant_role('wadm', 'admin', %L)$$, :'ws_beta'), '42501', NULL,
                 'nor a role in another workspace');
SELECT throws_ok($$SELECT mt.revoke_role('carl', 'viewer')$$, '42501', NULL,
                 'nor revoke a tenant-wide assignment');
SELECT throws_ok($$SELECT mt.alter_role('ops', '{*:read,*:write}')$$, '42501', NULL,
                 'nor widen a role assigned tenant-wide');
SELECT throws_ok($$SELECT mt.create_role('wide', '{*:write}')$$, '42501', NULL,
                 'nor define the tenant''s roles');
RESET multitenant.token;
RESET ROLE;
SELECT is((SELECT array_agg(subject || '/' || role || '/' || coalesce(workspace_id::text, 'tenant') ORDER BY subject, role)
           FROM mt.role_assignments WHERE tenant_id = :'acme'),
          ARRAY['bob/ops/tenant', 'carl/viewer/tenant', 'eve/member/' || :'ws_alpha',
                'tadm/admin/tenant', 'wadm/admin/' || :'ws_alpha'],
          'only the assignment in alpha was made');
BEGIN;
SELECT mt.authenticate(:'key_alpha') IS NOT NULL AS authenticated \gset
SELECT throws_ok($$SELECT mt.grant_role('eve', 'rep')$$, '42501', NULL,
                 'a key bound to alpha with roles:manage cannot grant tenant-wide');
SELECT lives_ok(format($$SELECT mt.grant_role('fay', 'rep', %L)$$, :'ws_alpha'),
                'but grants in alpha');
ROLLBACK;
SET ROLE mt_wms_app;
SELECT mt.set_tenant_subject(:'acme', 'tadm', workspace => :'ws_alpha', is_local => false);
SELECT lives_ok($$SELECT mt.grant_role('eve', 'member')$$,
                'a tenant-wide admin grants tenant-wide, also with a current workspace');
SELECT lives_ok(format($$SELECT mt.grant_role('eve', 'viewer', %L)$$, :'ws_beta'),
                'and in another workspace');
SELECT lives_ok($$SELECT mt.alter_role('ops', '{*:read,reports:read}')$$,
                'and defines roles');
RESET multitenant.token;
RESET ROLE;
SELECT * FROM finish();
