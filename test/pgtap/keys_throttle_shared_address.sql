-- The API-key throttle behind one shared address (an application server,
-- a pooler, or here the Unix socket every local client shares): bad keys
-- of one tenant's clients must not lock out the valid keys of any other
-- key id from that address.  Failures count per (address, key id) for
-- well-formed keys with a known key id, and in one separate bucket per
-- address for malformed keys and unknown key ids; brute force against one
-- key id still locks that key id out from that address only.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT mt.reset_api_key_throttle();
\i sql/include/crc32.psql
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.create_api_key(:'acme', 'ci') AS ka \gset
SELECT mt.create_api_key(:'globex', 'ci') AS kb \gset
SELECT substr(:'ka', 9, 12) AS ka_id \gset
-- well-formed (right checksum): Acme's key id with a wrong secret, and an unknown key id
SELECT pg_temp.with_crc(left(:'ka', 21) || repeat('x', 22)) AS ka_wrong \gset
SELECT pg_temp.with_crc('mt_live_ZZZZZZZZZZZZ_' || repeat('y', 22)) AS unknown_id \gset
SELECT format('host=127.0.0.1 port=%s dbname=%s user=%s', current_setting('port'), current_database(), current_user) AS tcp \gset
SELECT dblink_connect('tcp', :'tcp');
CREATE FUNCTION pg_temp.tcp_auth(k text) RETURNS uuid LANGUAGE sql AS
$$ SELECT t FROM dblink('tcp', format('SELECT mt.authenticate(%L)', k)) AS r (t uuid) $$;
SET multitenant.api_key_max_failures = 3;
SET multitenant.api_key_failure_window = 60;
SET multitenant.api_key_lockout = 600;
\set QUIET 0

SELECT plan(14);

SELECT is(length(:'ka_wrong'), 49, 'a well-formed key with Acme''s key id and a wrong secret');

-- the attack: three malformed keys through the shared address
SELECT throws_ok($$SELECT mt.authenticate('garbage')$$, '28000', 'invalid API key', 'malformed 1');
SELECT throws_ok($$SELECT mt.authenticate('garbage')$$, '28000', 'invalid API key', 'malformed 2');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', left(:'kb', 48) || CASE WHEN right(:'kb', 1) = 'x' THEN 'y' ELSE 'x' END), '28000', 'invalid API key', 'malformed 3 (bad checksum)');
SELECT is(mt.authenticate(:'kb'), :'globex'::uuid, 'malformed keys from the shared address do not lock out Globex''s valid key');
SELECT is(mt.authenticate(:'ka'), :'acme'::uuid, 'nor Acme''s');

-- unknown key ids count in that same bucket of the address (now refused)
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'unknown_id'), '53400', NULL,
                 'unknown key ids share the address''s bucket of malformed keys');
SELECT is(mt.authenticate(:'kb'), :'globex'::uuid, 'and valid keys are still not refused');

-- brute force against one key id: that key id is locked out from this address
SELECT is((SELECT count(*)::int FROM generate_series(1, 3) g, mt.verify_api_key(:'ka_wrong' || left(g::text, 0))), 0,
          'three wrong secrets for Acme''s key id');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'ka'), '53400',
                 'too many failed API key attempts from this client address',
                 'brute-force protection: Acme''s key id is refused from this address');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'ka_wrong'), '53400', NULL,
                 'further guesses for that key id are refused before any check');
SELECT is(mt.authenticate(:'kb'), :'globex'::uuid, 'Globex''s key from the same address is unaffected');
SELECT is((SELECT key_id FROM mt.api_key_throttle() WHERE blocked_until > now() AND key_id IS NOT NULL), :'ka_id',
          'mt.api_key_throttle() names the blocked key id');
-- the attacker's failures do not lock the key out from other addresses
SELECT is(pg_temp.tcp_auth(:'ka'), :'acme'::uuid, 'Acme''s key from another address (TCP) still works');

SELECT * FROM finish();
SELECT dblink_disconnect('tcp');
SELECT mt.reset_api_key_throttle();
