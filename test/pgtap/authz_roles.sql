-- Authorization inside a tenant (doc/authorization.md): built-in roles,
-- inheritance, wildcards, expiry at the next transaction, the trust rule
-- for a token's role claim, workspaces, a tenant admin confined to its own
-- tenant, bad input with documented SQLSTATEs and nothing half-applied, and
-- mt.has_permission in policies under generic plans and parallel query.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS pgcrypto;
ALTER SYSTEM SET multitenant.jwt_secret = 'test-secret-0123456789-abcdefghijklmnop';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
CREATE FUNCTION pg_temp.b64url(b bytea) RETURNS text LANGUAGE sql AS
$$ SELECT translate(rtrim(encode(b, 'base64'), '='), E'+/\n', '-_') $$;
-- a bearer token signed by the application (not minted by the back office)
CREATE FUNCTION pg_temp.app_token(tid uuid, sub text, role text DEFAULT NULL, wid uuid DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
    SELECT s || '.' || pg_temp.b64url(hmac(convert_to(s, 'UTF8'),
              convert_to('test-secret-0123456789-abcdefghijklmnop', 'UTF8'), 'sha256'))
    FROM (SELECT pg_temp.b64url(convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8')) || '.' ||
                 pg_temp.b64url(convert_to(json_build_object('tid', tid, 'sub', sub, 'role', role, 'wid', wid,
                     'exp', extract(epoch FROM now())::bigint + 3600)::text, 'UTF8')) AS s) q
$$;
CREATE FUNCTION pg_temp.enter(t text) RETURNS void LANGUAGE sql AS
$$ SELECT set_config('multitenant.token', t, false) $$;

SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
DROP ROLE IF EXISTS mt_az_app;
CREATE ROLE mt_az_app;

-- back office (mt.set_tenant) sets up Acme
SELECT mt.set_tenant(:'acme', false);
SELECT mt.create_workspace('alpha') AS ws_alpha \gset
SELECT mt.create_workspace('beta') AS ws_beta \gset
SELECT mt.create_role('billing', '{invoices:*}');
SELECT mt.create_role('accountant', '{ledger:read}', 'billing');
SELECT mt.grant_role('alice', 'admin');
SELECT mt.grant_role('bob', 'accountant');
SELECT mt.grant_role('carol', 'viewer', :'ws_alpha');
SELECT clock_timestamp() + interval '10 seconds' AS dave_until \gset
SELECT mt.grant_role('dave', 'member', valid_until => :'dave_until');
SELECT mt.set_tenant(:'globex', false);
SELECT mt.create_role('billing', '{payments:*}');
SELECT mt.grant_role('gina', 'admin');
RESET multitenant.token;
\set QUIET 0

SELECT plan(55);

-- built-ins and the back office
SELECT is((SELECT array_agg(name ORDER BY name) FROM mt.roles WHERE builtin),
          '{admin,auditor,member,owner,viewer}', 'five built-in roles');
SELECT is(mt.has_permission('invoices:read'), false, 'no context: no permission');
SELECT mt.set_tenant(:'acme', false);
SELECT ok(mt.has_permission('anything:at.all') AND mt.has_permission('*'), 'the back office (mt.set_tenant) holds everything');

-- inheritance and wildcards
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'bob'));
SELECT ok(mt.has_permission('invoices:read') AND mt.has_permission('invoices:delete'),
          'invoices:* of the parent role grants every invoices action');
SELECT ok(mt.has_permission('ledger:read'), 'the role''s own permission');
SELECT ok(NOT mt.has_permission('ledger:write'), 'but not another action');
SELECT ok(mt.has_permission('invoices:*'), 'a wildcard grants the wildcard itself');
SELECT ok(NOT mt.has_permission('*') AND NOT mt.has_permission('*:read'), 'but not a wider one');
SELECT lives_ok($$SELECT mt.require_permission('invoices:pay')$$, 'require_permission passes');
SELECT throws_ok($$SELECT mt.require_permission('projects:read')$$, '42501',
                 'permission "projects:read" denied', 'require_permission raises 42501 naming the permission');
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'alice'));
SELECT ok(mt.has_permission('projects:read') AND mt.has_permission('projects:write')
          AND mt.has_permission('roles:manage') AND NOT mt.has_permission('tenant:delete'),
          'admin: *:read, *:write, roles:manage, not the owner''s *');
SELECT throws_ok($$SELECT mt.has_permission('no colon')$$, '22023', NULL, 'a malformed permission is 22023');
SELECT throws_ok($$SELECT mt.has_permission(NULL)$$, '22004', NULL, 'NULL is 22004');

-- the trust rule: a token's role claim is capped by the assignments
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'bob', 'owner'));
SELECT throws_ok($$SELECT mt.has_permission('invoices:read')$$, '42501', NULL,
                 'an application token claiming a role the subject does not hold is refused');
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'alice', 'viewer'));
SELECT throws_ok($$SELECT mt.has_permission('projects:read')$$, '42501', NULL,
                 'also a narrower role that is not assigned');
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'bob', 'accountant'));
SELECT ok(mt.has_permission('ledger:read'), 'a role claim naming an assigned role selects it');
SELECT set_config('multitenant.token', mt.tenant_token(:'acme', '1 hour', 'zed', 'viewer'), false) IS NOT NULL AS set;
SELECT ok(mt.has_permission('projects:read') AND NOT mt.has_permission('projects:write'),
          'a token minted by mt.tenant_token (back office) is trusted with its role');
SELECT mt.set_tenant_subject(:'acme', 'zed', 'member', is_local => false);
SELECT ok(mt.has_permission('projects:write'), 'mt.set_tenant_subject(tenant, sub, role): the back office''s role is trusted');
SELECT throws_ok($$SELECT mt.set_tenant_subject(current_setting('x.acme')::uuid, 'key:abc')$$, '22023', NULL,
                 'mt.set_tenant_subject cannot pose as an API key subject') FROM set_config('x.acme', :'acme', false);

-- workspaces
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'carol'));
SELECT ok(NOT mt.has_permission('projects:read'), 'a workspace assignment does not count outside its workspace');
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'carol', NULL, :'ws_alpha'));
SELECT ok(mt.has_permission('projects:read'), 'it counts inside it (token claim wid)');
SELECT is(mt.current_workspace(), :'ws_alpha'::uuid, 'mt.current_workspace() is the wid claim');
SELECT ok(mt.workspace_visible(:'ws_alpha') AND NOT mt.workspace_visible(:'ws_beta'),
          'rows of another workspace are invisible to a workspace role');
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'carol', NULL, :'ws_beta'));
SELECT ok(NOT mt.has_permission('projects:read'), 'nor in another workspace');
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'alice', NULL, :'ws_beta'));
SELECT ok(mt.workspace_visible(:'ws_alpha'), 'a tenant-wide role spans workspaces');
SELECT mt.set_tenant(:'globex', false);
SELECT mt.create_workspace('gamma') AS ws_gamma \gset
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'carol', NULL, :'ws_gamma'));
SELECT throws_ok($$SELECT mt.has_permission('projects:read')$$, '42704', NULL,
                 'a token naming a workspace of another tenant is refused');

-- expiry: valid_until in the past takes effect at the next transaction
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'dave'));
SELECT ok(mt.has_permission('projects:write'), 'dave''s assignment is valid');
SELECT pg_sleep(greatest(extract(epoch FROM :'dave_until'::timestamptz - clock_timestamp()), 0) + 0.2);
SELECT ok(NOT mt.has_permission('projects:write'), 'expired at the next transaction');
BEGIN;
SELECT ok(NOT mt.has_permission('projects:write'), 'and stays expired');
COMMIT;

-- a tenant admin manages only its own tenant
SET ROLE mt_az_app;
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'alice'));
SELECT lives_ok($$SELECT mt.create_role('support', '{tickets:read,tickets:write}', 'viewer')$$, 'alice (admin) creates a role in Acme');
SELECT lives_ok($$SELECT mt.grant_role('erin', 'support')$$, 'and grants it');
SELECT is((SELECT count(*)::int FROM mt.roles WHERE name = 'billing'), 1, 'alice sees only Acme''s billing role');
SELECT is((SELECT count(*)::int FROM mt.role_assignments WHERE subject = 'gina'), 0, 'and none of Globex''s assignments');
SELECT throws_ok($$SELECT mt.grant_role('gina', 'owner')$$, '42501', NULL,
                 'an admin cannot grant owner (permissions it does not hold)');
SELECT throws_ok($$SELECT mt.create_role('superuser', '{*}')$$, '42501', NULL,
                 'nor create a role with them');
SELECT throws_ok($$SELECT mt.create_role('sneaky', '{tickets:read}', 'owner')$$, '42501', NULL,
                 'nor inherit them from a parent');
SELECT throws_ok($$DELETE FROM mt.roles$$, '42501', NULL, 'the tables are not writable directly');
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'bob'));
SELECT throws_ok($$SELECT mt.create_role('x', '{a:b}')$$, '42501', 'permission "roles:manage" denied',
                 'a subject without roles:manage manages nothing');
SELECT pg_temp.enter(pg_temp.app_token(:'globex', 'alice'));
SELECT throws_ok($$SELECT mt.revoke_role('gina', 'admin')$$, '42501', NULL,
                 'alice holds nothing in Globex: she cannot touch its roles');
RESET ROLE;

-- the backend keeps one resolution per context: switching contexts back
-- and forth stays exact, and a change is seen when switching back
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'bob'));
SELECT ok(mt.has_permission('ledger:read'), 'bob in Acme: ledger:read');
SELECT pg_temp.enter(pg_temp.app_token(:'globex', 'bob'));
SELECT ok(NOT mt.has_permission('ledger:read'), 'bob in Globex: nothing');
SELECT mt.set_tenant(:'acme', false);
SELECT mt.revoke_role('bob', 'accountant');
SELECT pg_temp.enter(pg_temp.app_token(:'acme', 'bob'));
SELECT ok(NOT mt.has_permission('ledger:read'),
          'back in Acme: the revocation made meanwhile is seen (no stale resolution)');

-- bad input: documented SQLSTATEs, nothing half-applied
SELECT mt.set_tenant(:'acme', false);
SELECT throws_ok($$SELECT mt.create_role(NULL, '{a:b}')$$, '22004', NULL, 'NULL name: 22004');
SELECT throws_ok($$SELECT mt.create_role(repeat('a', 64), '{a:b}')$$, '22023', NULL, 'oversized name: 22023');
SELECT throws_ok($$SELECT mt.create_role('ok', '{a:b,"bad perm"}')$$, '22023', NULL, 'a malformed permission: 22023');
SELECT throws_ok($$SELECT mt.create_role('admin', '{a:b}')$$, '42710', NULL, 'a built-in name: 42710');
SELECT throws_ok($$SELECT mt.create_role('billing', '{a:b}')$$, '42710', NULL, 'an existing role: 42710');
SELECT throws_ok($$SELECT mt.create_role('orphan', '{a:b}', 'nope')$$, '42704', NULL, 'an unknown parent: 42704');
SELECT throws_ok($$SELECT mt.grant_role('x', 'nope')$$, '42704', NULL, 'an unknown role: 42704');
SELECT throws_ok(format($$SELECT mt.grant_role('x', 'viewer', %L)$$, :'ws_gamma'), '42704', NULL,
                 'a workspace of another tenant: 42704');
SELECT throws_ok($$SELECT mt.grant_role('x', 'viewer', valid_until => now() - interval '1 day')$$, '22023', NULL,
                 'an assignment already expired: 22023');
SELECT throws_ok($$SELECT mt.alter_role('billing', '{invoices:*}', 'accountant')$$, '42P19', NULL,
                 'a cycle of parents: 42P19');
SELECT throws_ok($$SELECT mt.drop_role('billing')$$, '2BP01', NULL, 'a role still a parent: 2BP01');
SELECT is((SELECT count(*)::int FROM mt.roles WHERE tenant_id = current_setting('x.acme')::uuid),
          3, 'nothing half-applied: Acme has its three roles')
  FROM set_config('x.acme', :'acme', false);
SELECT is((SELECT parent FROM mt.roles WHERE tenant_id = :'acme' AND name = 'billing'), NULL,
          'and billing still has no parent');
RESET multitenant.token;

SELECT * FROM finish();
ALTER SYSTEM RESET multitenant.jwt_secret;
SELECT pg_reload_conf();
