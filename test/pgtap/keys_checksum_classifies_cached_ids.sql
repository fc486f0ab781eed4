-- mt.authenticate checks a key's checksum before reading a key id it has
-- not seen, and, for a key id already in the backend's key cache, only when
-- the key fails (a key whose hash matches is an issued key) or a throttle
-- bucket may be cooling down.  Whichever way, a failure is classified as if
-- the checksum had been checked first: a bad checksum on a cached key id is
-- a malformed key (the address's bucket of malformed keys, never the key
-- id's), a wrong secret with a good checksum counts against the key id.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.reset_api_key_throttle();
SELECT mt.create_tenant('Acme', 'acme-crc') AS acme \gset
SELECT mt.create_api_key(:'acme', 'ci') AS key \gset
SELECT substr(:'key', 9, 12) AS kid \gset
SELECT left(:'key', 48) || CASE WHEN right(:'key', 1) = '0' THEN '1' ELSE '0' END AS bad \gset
\i sql/include/crc32.psql
SELECT pg_temp.with_crc(left(:'key', 21) || repeat('x', 22)) AS wrong \gset
SET multitenant.api_key_max_failures = 2;
SET multitenant.api_key_failure_window = 600;
SET multitenant.api_key_lockout = 600;
\set QUIET 0

SELECT plan(11);

SELECT is(mt.authenticate(:'key'), :'acme'::uuid, 'the key authenticates: its id is now in this backend''s cache');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'bad'), '28000', 'invalid API key',
                 'the same key id with a bad checksum is refused');
SELECT is((SELECT failures FROM mt.api_key_throttle() WHERE key_id IS NULL AND kind = 'local'), 1,
          'counted in the address''s bucket of malformed keys');
SELECT is((SELECT count(*)::int FROM mt.api_key_throttle() WHERE key_id IS NOT NULL), 0,
          'not against the key id');
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', :'bad'),
                'verify refuses it too (second failure: the malformed bucket cools down)');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'bad'), '53400', NULL,
                 'while the malformed bucket cools down, the bad checksum is refused by the throttle');
SELECT is(mt.authenticate(:'key'), :'acme'::uuid,
          'the valid key of that key id is not refused: its own bucket is not cooling down');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'wrong'), '28000', 'invalid API key',
                 'a good checksum with a wrong secret is refused');
SELECT is((SELECT failures FROM mt.api_key_throttle() WHERE key_id = :'kid'), 1,
          'and counts against the key id');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'wrong'), '28000', 'invalid API key',
                 'second wrong secret');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'key'), '53400', NULL,
                 'the key id''s bucket now cools down: the valid key is refused from this address');

SELECT * FROM finish();
