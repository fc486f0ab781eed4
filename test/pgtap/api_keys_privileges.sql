-- What an application role can and cannot do with API keys: it can
-- verify and authenticate; it cannot read hashes, manage keys, or see
-- another tenant's keys (not even through a leaky function).
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.reset_api_key_throttle();
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.create_api_key(:'acme', 'acme one', '{a}') AS ka1 \gset
SELECT mt.create_api_key(:'acme', 'acme two') AS ka2 \gset
SELECT mt.create_api_key(:'globex', 'globex secret name') AS kg \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour'), false) AS tok_globex \gset
DROP ROLE IF EXISTS mt_test_app;
DROP ROLE IF EXISTS mt_test_keyadmin;
CREATE ROLE mt_test_app NOLOGIN;
CREATE ROLE mt_test_keyadmin NOLOGIN;
GRANT EXECUTE ON FUNCTION mt.create_api_key(uuid, text, text[], timestamptz, text, uuid),
                          mt.revoke_api_key(text), mt.rotate_api_key(text, interval) TO mt_test_keyadmin;
-- names a WHERE-clause function saw (security_barrier check)
CREATE TABLE public.seen (name text);
GRANT INSERT, SELECT ON public.seen TO mt_test_app;
CREATE FUNCTION public.peek(n text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
$$ BEGIN INSERT INTO public.seen VALUES (n); RETURN true; END $$;
\set QUIET 0

SELECT plan(26);

SET ROLE mt_test_app;
SELECT throws_ok('SELECT * FROM mt.api_key_secrets', '42501', NULL, 'app cannot read the key table');
SELECT throws_ok('SELECT key_hash FROM mt.api_key_secrets', '42501', NULL, 'app cannot read key hashes');
SELECT throws_ok($$UPDATE mt.api_key_secrets SET revoked_at = NULL$$, '42501', NULL, 'app cannot un-revoke keys');
SELECT throws_ok($$INSERT INTO mt.api_key_secrets (key_id, tenant_id, name, key_hash) VALUES ('AAAAAAAAAAAA', gen_random_uuid(), 'x', '\x00')$$,
                 '42501', NULL, 'app cannot plant a key');
SELECT throws_ok(format('SELECT mt.create_api_key(%L, %L)', :'acme', 'x'), '42501', NULL, 'app cannot create keys');
SELECT throws_ok(format('SELECT mt.revoke_api_key(%L)', mt.api_key_id(:'kg')), '42501', NULL, 'app cannot revoke keys');
SELECT throws_ok(format('SELECT mt.rotate_api_key(%L, %L)', mt.api_key_id(:'kg'), '1 hour'), '42501', NULL, 'app cannot rotate keys');
SELECT throws_ok('SELECT mt.flush_api_key_usage()', '42501', NULL, 'app cannot flush');
SELECT throws_ok('SELECT * FROM mt.api_key_throttle()', '42501', NULL, 'app cannot list throttled addresses');
SELECT throws_ok('SELECT mt.reset_api_key_throttle()', '42501', NULL, 'app cannot reset the throttle');
SELECT throws_ok('SET multitenant.api_key_max_failures = 0', '42501', NULL, 'app cannot switch the throttle off');

-- the listing view: own keys only, never a hash
SELECT is((SELECT count(*)::int FROM mt.api_keys), 0, 'no context: the view lists nothing');
BEGIN;
SELECT is(mt.authenticate(:'ka1'), :'acme'::uuid, 'app authenticates with a key');
SELECT is((SELECT array_agg(name ORDER BY name) FROM mt.api_keys), ARRAY['acme one', 'acme two'],
          'inside acme: only acme''s keys');
-- a sequential scan, so that only security_barrier keeps peek() from running first
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT count(*)::int FROM mt.api_keys WHERE peek(name)), 2, 'a leaky WHERE function sees two rows');
COMMIT;
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), false) IS NOT NULL AS entered \gset
SELECT is((SELECT array_agg(name) FROM mt.api_keys), ARRAY['globex secret name'], 'with a globex token: only globex''s key');
RESET multitenant.token;
SELECT is((SELECT count(*)::int FROM public.seen WHERE name LIKE 'globex%'), 0,
          'the leaky function never saw another tenant''s key (security_barrier)');
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'kg')), 1, 'app can verify a key');
SELECT is(mt.api_key_id(:'kg'), substr(:'kg', 9, 12), 'app can parse a key id');
RESET ROLE;

SELECT is((SELECT count(*)::int FROM information_schema.columns
           WHERE table_schema = 'mt' AND table_name = 'api_keys' AND (data_type = 'bytea' OR column_name LIKE '%hash%')), 0,
          'the view has no hash column');
SELECT ok(NOT has_table_privilege('mt_test_app', 'mt.api_key_secrets', 'SELECT'), 'no SELECT on the key table');
SELECT ok((SELECT relrowsecurity FROM pg_class WHERE oid = 'mt.api_key_secrets'::regclass), 'the key table has RLS enabled');
SELECT ok((SELECT bool_and(prosecdef AND proconfig @> '{"search_path=pg_catalog, pg_temp"}')
           FROM pg_proc WHERE pronamespace = 'mt'::regnamespace
           AND proname IN ('create_api_key', 'revoke_api_key', 'rotate_api_key', 'flush_api_key_usage')),
          'management functions are SECURITY DEFINER with a fixed search_path');

-- a key administrator role, granted only the management functions
SET ROLE mt_test_keyadmin;
SELECT lives_ok(format('SELECT mt.create_api_key(%L, %L)', :'acme', 'made by admin'), 'a granted role can create keys');
SELECT is(mt.revoke_api_key(mt.api_key_id(:'ka2')), true, 'and revoke them');
RESET ROLE;
SELECT is((SELECT created_by FROM mt.api_key_secrets WHERE name = 'made by admin'), 'mt_test_keyadmin',
          'created_by records the calling role, not the function owner');

SELECT * FROM finish();
DROP TABLE public.seen;
DROP FUNCTION public.peek(text);
DROP ROLE mt_test_app;
REVOKE ALL ON FUNCTION mt.create_api_key(uuid, text, text[], timestamptz, text, uuid),
                       mt.revoke_api_key(text), mt.rotate_api_key(text, interval) FROM mt_test_keyadmin;
DROP ROLE mt_test_keyadmin;
