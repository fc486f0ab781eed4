-- A transaction sees its own registry changes at once, and not after it
-- (or a savepoint) rolls them back: a revocation refuses the key in the
-- same transaction, a rolled-back revocation leaves the key working and a
-- rolled-back creation leaves no key, although the key was cached in
-- between.  Before they commit no generation publishes these changes:
-- this backend's own invalidations at each command end and at the abort of
-- a savepoint, and the abort of the transaction, are what empty its caches
-- (doc/api-keys.md, "Key cache").
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.reset_api_key_throttle();
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_api_key(:'acme', 'one') AS key1 \gset
\set QUIET 0
SELECT plan(10);

-- cached before the changes
SELECT mt.authenticate(:'key1') IS NOT NULL AS warm \gset

BEGIN;
SELECT lives_ok(format('SELECT mt.authenticate(%L)', :'key1'), 'cached key works in the transaction');
SAVEPOINT s;
SELECT mt.revoke_api_key(mt.api_key_id(:'key1')) IS NOT NULL AS revoked \gset
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'key1'), '28000', NULL,
                 'revoked in this transaction: refused at once');
ROLLBACK TO SAVEPOINT s;
SELECT lives_ok(format('SELECT mt.authenticate(%L)', :'key1'), 'revocation rolled back to a savepoint: the key works again');
SELECT mt.revoke_api_key(mt.api_key_id(:'key1')) IS NOT NULL AS revoked \gset
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'key1'), '28000', NULL,
                 'revoked again: refused');
ROLLBACK;

SELECT lives_ok(format('SELECT mt.authenticate(%L)', :'key1'), 'revocation rolled back: the key works');

-- a tenant suspended in a transaction that rolls back stays active for the key
BEGIN;
SELECT mt.suspend_tenant(:'acme');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'key1'), NULL, NULL,
                 'tenant suspended in this transaction: the key is refused');
ROLLBACK;
SELECT is(mt.authenticate(:'key1'), :'acme'::uuid, 'suspension rolled back: the key enters its tenant');
SELECT is((SELECT revoked_at FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'key1')), NULL,
          'the key was never revoked');

-- a key created, used and rolled back: it never existed
BEGIN;
SELECT mt.create_api_key(:'acme', 'rolled back') AS key2 \gset
SELECT is(mt.authenticate(:'key2'), :'acme'::uuid, 'a key created in this transaction works in it');
ROLLBACK;
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'key2'), '28000', NULL,
                 'creation rolled back: the key is refused although it was cached');

SELECT * FROM finish();
