-- The subject namespace key:<id> belongs to API keys: only mt.authenticate()
-- enters it.  A token whose subject claim is key:<id> (an application's
-- own HS256 token whose sub a user chose, e.g. a user name) must not act
-- with the roles assigned to that API key; mt.tenant_token() refuses to
-- mint one, as mt.set_tenant_subject() refuses to enter one.
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
SELECT mt.create_api_key(:'acme', 'ops', '{read}') AS key_ops \gset
SELECT mt.api_key_id(:'key_ops') AS key_id \gset
SELECT mt.set_tenant(:'acme', false);
SELECT mt.grant_role('key:' || :'key_id', 'admin');
SELECT mt.grant_role('mallory', 'viewer');
RESET multitenant.token;
\set QUIET 0

SELECT plan(5);
-- the key itself holds its admin role
BEGIN;
SELECT mt.authenticate(:'key_ops') IS NOT NULL AS authenticated \gset
SELECT ok(mt.has_permission('roles:manage'), 'the API key holds the role assigned to key:<id>');
COMMIT;
-- a user named "key:<id>" by the application
SELECT throws_ok(format($$SELECT set_config('multitenant.token', %L, false)$$,
                        pg_temp.app_token(:'acme', 'key:' || :'key_id')),
                 '28000', NULL, 'a token whose subject is key:<id> is refused');
SELECT ok(NOT mt.has_permission('roles:manage'), 'and nothing of the key''s role is held');
SELECT throws_ok(format($$SELECT mt.tenant_token(%L, interval '1 hour', 'key:%s')$$, :'acme', :'key_id'),
                 '22023', NULL, 'mt.tenant_token() does not mint a token for an API key''s subject');
-- other subjects are unaffected
SELECT set_config('multitenant.token', pg_temp.app_token(:'acme', 'mallory'), false) IS NOT NULL AS entered \gset
SELECT ok(mt.has_permission('projects:read') AND NOT mt.has_permission('roles:manage'),
          'a token of an ordinary subject keeps its own assignments');
RESET multitenant.token;
SELECT * FROM finish();
ALTER SYSTEM RESET multitenant.jwt_secret;
SELECT pg_reload_conf();
