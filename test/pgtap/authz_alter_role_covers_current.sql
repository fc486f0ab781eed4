-- mt.alter_role needs the role's current permissions (and its current
-- parents') besides the new ones, as mt.drop_role and mt.revoke_role do:
-- a tenant admin cannot strip (or re-parent) a role above it, such as a
-- custom role with "*" the back office gave the tenant's owners.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS pgcrypto;
ALTER SYSTEM SET multitenant.jwt_secret = 'test-secret-0123456789-abcdefghijklmnop';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
CREATE FUNCTION pg_temp.b64url(b bytea) RETURNS text LANGUAGE sql AS
$$ SELECT translate(rtrim(encode(b, 'base64'), '='), E'+/\n', '-_') $$;
-- a bearer token signed by the application (not minted by the back office)
CREATE FUNCTION pg_temp.app_token(tid uuid, sub text) RETURNS text LANGUAGE sql AS $$
    SELECT s || '.' || pg_temp.b64url(hmac(convert_to(s, 'UTF8'),
              convert_to('test-secret-0123456789-abcdefghijklmnop', 'UTF8'), 'sha256'))
    FROM (SELECT pg_temp.b64url(convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8')) || '.' ||
                 pg_temp.b64url(convert_to(json_build_object('tid', tid, 'sub', sub,
                     'exp', extract(epoch FROM now())::bigint + 3600)::text, 'UTF8')) AS s) q
$$;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.set_tenant(:'acme', false);
SELECT mt.create_role('boss', '{*}');
SELECT mt.create_role('sub-boss', '{reports:read}', 'boss');
SELECT mt.create_role('clerk', '{invoices:read}');
SELECT mt.grant_role('olga', 'boss');
SELECT mt.grant_role('alice', 'admin');
RESET multitenant.token;
\set QUIET 0

SELECT plan(6);
SELECT set_config('multitenant.token', pg_temp.app_token(:'acme', 'alice'), false) IS NOT NULL AS entered \gset
SELECT throws_ok($$SELECT mt.alter_role('boss', '{notes:read}')$$, '42501', NULL,
                 'an admin cannot strip a role holding more than it does');
SELECT throws_ok($$SELECT mt.alter_role('sub-boss', '{reports:read}')$$, '42501', NULL,
                 'nor re-parent a role whose current parent holds more than it does');
SELECT throws_ok($$SELECT mt.drop_role('boss')$$, '42501', NULL,
                 'as it cannot drop it');
SELECT lives_ok($$SELECT mt.alter_role('clerk', '{invoices:write}')$$,
                'it changes a role it covers, before and after');
RESET multitenant.token;
SELECT is((SELECT permissions FROM mt.roles WHERE tenant_id = :'acme' AND name = 'boss'), '{*}',
          'the role above the admin is unchanged');
SELECT is((SELECT parent FROM mt.roles WHERE tenant_id = :'acme' AND name = 'sub-boss'), 'boss',
          'its child keeps its parent');
SELECT * FROM finish();
ALTER SYSTEM RESET multitenant.jwt_secret;
SELECT pg_reload_conf();
