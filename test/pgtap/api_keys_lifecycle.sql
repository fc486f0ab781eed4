-- API keys end to end: authenticate enters the tenant (RLS, subject) for
-- the transaction only; scopes; revocation, rotation with grace, expiry,
-- suspension; last_used_at kept without a write per call.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT mt.reset_api_key_throttle();
SET multitenant.api_key_max_failures = 0;   -- the throttle has its own test
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.create_api_key(:'acme', 'reader', '{orders:read}') AS ka \gset
SELECT mt.create_api_key(:'acme', 'writer', '{orders:read,orders:write}') AS kw \gset
SELECT mt.create_api_key(:'globex', 'backend') AS kg \gset
SELECT mt.api_key_id(:'ka') AS ka_id \gset
SELECT mt.api_key_id(:'kw') AS kw_id \gset

DROP ROLE IF EXISTS mt_test_app;
CREATE ROLE mt_test_app NOLOGIN;
CREATE TABLE public.orders (id int, tenant_id uuid NOT NULL, item text);
INSERT INTO public.orders SELECT g, CASE WHEN g % 3 = 0 THEN :'acme'::uuid ELSE :'globex'::uuid END, 'item ' || g
FROM generate_series(1, 30) g;
ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON public.orders USING (tenant_id = mt.current_tenant());
GRANT SELECT ON public.orders TO mt_test_app;
\set QUIET 0

SELECT plan(51);

-- authenticate: the tenant's context for this transaction, as with a token
SET ROLE mt_test_app;
BEGIN;
SELECT is(mt.authenticate(:'ka'), :'acme'::uuid, 'authenticate returns the key''s tenant');
SELECT is(mt.current_tenant(), :'acme'::uuid, 'current_tenant() is the key''s tenant');
SELECT is(mt.current_subject(), 'key:' || :'ka_id', 'the context''s subject is the key id');
SELECT is((SELECT count(*)::int FROM public.orders), 10, 'RLS shows the tenant''s rows');
SELECT is((SELECT count(*)::int FROM public.orders WHERE tenant_id <> :'acme'), 0, 'and no other tenant''s');
SELECT ok(mt.has_scope('orders:read') AND NOT mt.has_scope('orders:write'), 'has_scope knows the key''s scopes');
SELECT lives_ok($$SELECT mt.require_scope('orders:read')$$, 'require_scope passes for a granted scope');
SELECT throws_ok($$SELECT mt.require_scope('orders:write')$$, '42501', 'the API key lacks the scope "orders:write"',
                 'require_scope raises for a missing scope');
-- the error quotes at most 64 bytes of the scope, cut between characters
SELECT throws_ok(format('SELECT mt.require_scope(%L)', 'x' || repeat('é', 40)), '42501',
                 'the API key lacks the scope "x' || repeat('é', 31) || '"',
                 'a long scope is quoted cut at a character boundary');
-- a second authenticate in the same transaction replaces key, tenant and scopes
SELECT is(mt.authenticate(:'kw'), :'acme'::uuid, 'a second key authenticates in the same transaction');
SELECT lives_ok($$SELECT mt.require_scope('orders:write')$$, 'its scopes apply');
SELECT is(mt.authenticate(:'kg'), :'globex'::uuid, 'a key of another tenant switches the context');
SELECT is((SELECT count(*)::int FROM public.orders), 20, 'RLS now shows the other tenant''s rows');
SELECT ok(NOT mt.has_scope('orders:read'), 'and the previous key''s scopes are gone');
COMMIT;
SELECT is(mt.current_tenant(), NULL, 'after COMMIT: no tenant');
SELECT is((SELECT count(*)::int FROM public.orders), 0, 'after COMMIT: no rows');
SELECT throws_ok($$SELECT mt.require_scope('orders:read')$$, '42501', 'no API key has been authenticated in this transaction',
                 'after COMMIT: no scopes');

-- rollback and savepoints restore the context, and the scopes go with it
BEGIN;
SELECT is(mt.authenticate(:'kw'), :'acme'::uuid, 'authenticated inside a transaction');
ROLLBACK;
SELECT is(mt.current_tenant(), NULL, 'after ROLLBACK: no tenant');
BEGIN;
SAVEPOINT s1;
SELECT is(mt.authenticate(:'kw'), :'acme'::uuid, 'authenticated inside a savepoint');
ROLLBACK TO SAVEPOINT s1;
SELECT is(mt.current_tenant(), NULL, 'after ROLLBACK TO SAVEPOINT: no tenant');
SELECT ok(NOT mt.has_scope('orders:read'), 'after ROLLBACK TO SAVEPOINT: no scopes');
SELECT is(mt.authenticate(:'ka'), :'acme'::uuid, 'authenticate again after the savepoint rollback');
SELECT ok(mt.has_scope('orders:read'), 'its scopes apply');
-- another context set in the same transaction drops the key's scopes
RESET multitenant.token;
SELECT ok(NOT mt.has_scope('orders:read'), 'RESET multitenant.token: the key''s scopes no longer apply');
COMMIT;
-- outside a transaction block the context lasts for the statement only
SELECT is(mt.authenticate(:'ka'), :'acme'::uuid, 'authenticate as a single statement');
SELECT is(mt.current_tenant(), NULL, 'the next statement has no tenant (document: use BEGIN ... COMMIT)');
RESET ROLE;

-- revocation: effective at once for this session (no cache of good results)
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'ka')), 1, 'key valid before revocation');
SELECT is(mt.revoke_api_key(:'ka_id'), true, 'revoke returns true');
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'ka')), 0, 'key invalid right after revocation');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'ka'), '28000', 'invalid API key', 'authenticate refuses the revoked key');
-- an unknown key id: 42704, its first 16 bytes quoted, cut between characters
SELECT throws_ok(format('SELECT mt.revoke_api_key(%L)', 'ü日本🎉' || U&'\200B\202E'), '42704',
                 'API key "ü日本🎉' || U&'\200B' || '" does not exist', 'revoking an unknown key id');
SELECT throws_ok(format('SELECT mt.rotate_api_key(%L, %L)', 'ü日本🎉' || U&'\200B\202E', '1 hour'), '42704',
                 'API key "ü日本🎉' || U&'\200B' || '" does not exist', 'rotating an unknown key id');
-- a revocation that rolls back changes nothing
BEGIN;
SELECT is(mt.revoke_api_key(:'kw_id'), true, 'revoke in a transaction');
ROLLBACK;
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'kw')), 1, 'rolled back revocation: key still valid');

-- rotation: new key at once, old key for the grace period only
SELECT mt.rotate_api_key(:'kw_id', '2 seconds') AS kw2 \gset
SELECT is((SELECT scopes FROM mt.verify_api_key(:'kw2')), '{orders:read,orders:write}'::text[], 'the new key has the old scopes');
SELECT is((SELECT tenant_id FROM mt.verify_api_key(:'kw2')), :'acme'::uuid, 'and the old tenant');
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'kw')), 1, 'the old key works during the grace period');
SELECT pg_sleep(2.2);
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'kw')), 0, 'the old key fails after the grace period');
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'kw2')), 1, 'the new key still works');

-- expiry and suspension
SELECT mt.create_api_key(:'globex', 'short', expires_at => clock_timestamp() + interval '3 seconds') AS ke \gset
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'ke')), 1, 'a key works before it expires');
SELECT pg_sleep(3.1);
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'ke')), 0, 'and fails after');
SELECT mt.suspend_tenant(:'globex');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'kg'), '28000', 'invalid API key', 'a suspended tenant''s key fails');
SELECT mt.resume_tenant(:'globex');
SELECT is(mt.authenticate(:'kg'), :'globex'::uuid, 'resumed: the key works again');

-- last_used_at: no write per call; one batched write per flush.  The
-- background flush (every multitenant.flush_interval) writes last-use times
-- too: landing between two statements below, it would write the key's row
-- or leave nothing for the next flush to write.  So mt.flush_usage() has one
-- run now (nothing of this database is pending after it), and a second
-- session's SHARE lock on mt.usage_rollup stops the next one at its write of
-- the api_calls that the calls below count, before it reads the last-use
-- times; the lock is released after the last check.
SELECT mt.flush_usage() AS flushed \gset
SELECT format('host=127.0.0.1 port=%s dbname=%s user=%s', current_setting('port'), current_database(), current_user) AS tcp \gset
SELECT dblink_connect('hold', :'tcp') AS connected \gset
SELECT dblink_exec('hold', 'BEGIN; LOCK TABLE mt.usage_rollup IN SHARE MODE') AS locked \gset
SELECT mt.flush_api_key_usage();
SELECT xmin::text AS xmin_before, last_used_at AS used_before FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'kw2') \gset
SELECT pg_sleep(0.01);
SELECT mt.authenticate(:'kw2') FROM generate_series(1, 5);
SELECT is((SELECT xmin::text FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'kw2')), :'xmin_before',
          'authenticate does not write the key''s row');
SELECT is((SELECT last_used_at FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'kw2')), :'used_before'::timestamptz,
          'last_used_at is not written by the calls');
BEGIN;
SELECT is(mt.flush_api_key_usage(), 1::bigint, 'a flush writes the one used key');
ROLLBACK;
SELECT is(mt.flush_api_key_usage(), 1::bigint, 'a rolled-back flush is written again by the next');
SELECT ok((SELECT last_used_at > :'used_before'::timestamptz AND last_used_at BETWEEN now() - interval '1 minute' AND now()
           FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'kw2')),
          'after the flush last_used_at is the time of the last call');
SELECT is(mt.flush_api_key_usage(), 0::bigint, 'nothing new: the next flush writes nothing');
SELECT count(*) FROM mt.verify_api_key(:'kw2');
BEGIN;
SAVEPOINT s;
SELECT mt.flush_api_key_usage();
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT is(mt.flush_api_key_usage(), 1::bigint, 'verify counts as use; a flush rolled back to a savepoint is redone');
SELECT dblink_disconnect('hold') AS disconnected \gset

SELECT * FROM finish();
DROP TABLE public.orders;
DROP ROLE mt_test_app;
