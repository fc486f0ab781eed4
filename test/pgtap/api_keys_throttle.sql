-- Brute-force throttle: invalid keys for one key id from one client address
-- within the window start a cool-down (53400) for that key id from that
-- address only; malformed keys and unknown key ids count in a separate
-- bucket of the address that never refuses a valid key; a TCP client
-- (through dblink from 127.0.0.1) is a different address from this
-- Unix-socket session.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT mt.reset_api_key_throttle();
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_api_key(:'acme', 'ci') AS key \gset
SELECT left(:'key', 48) || CASE WHEN right(:'key', 1) = '0' THEN '1' ELSE '0' END AS bad \gset
\i sql/include/crc32.psql
-- well-formed, the key's id, a wrong secret
SELECT pg_temp.with_crc(left(:'key', 21) || repeat('x', 22)) AS wrong \gset
SELECT format('host=127.0.0.1 port=%s dbname=%s user=%s', current_setting('port'), current_database(), current_user) AS tcp \gset
SELECT dblink_connect('tcp', :'tcp');
SELECT dblink_exec('tcp', 'SET multitenant.api_key_max_failures = 3');
SELECT dblink_exec('tcp', 'SET multitenant.api_key_lockout = 600');
CREATE FUNCTION pg_temp.tcp_auth(k text) RETURNS uuid LANGUAGE sql AS
$$ SELECT t FROM dblink('tcp', format('SELECT mt.authenticate(%L)', k)) AS r (t uuid) $$;
SET multitenant.api_key_max_failures = 3;
SET multitenant.api_key_failure_window = 60;
SET multitenant.api_key_lockout = 5;   -- the checks of the cool-down below fit in it on a slow machine
\set QUIET 0

SELECT plan(29);

SELECT is(pg_temp.tcp_auth(:'key'), :'acme'::uuid, 'dblink reaches the server over TCP and authenticates');
-- malformed keys count in the address's own bucket: they never refuse a valid key
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'bad'), '28000', 'invalid API key', 'malformed 1 (bad checksum)');
SELECT throws_ok($$SELECT mt.authenticate('garbage')$$, '28000', 'invalid API key', 'malformed 2');
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', :'bad'), 'malformed 3: verify counts too');
SELECT throws_ok($$SELECT mt.authenticate('garbage')$$, '53400', NULL, 'malformed keys from this address are now refused');
SELECT is(mt.authenticate(:'key'), :'acme'::uuid, 'a valid key is not refused because of malformed keys');
-- this session (Unix socket): three wrong secrets for the key id start its cool-down
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'wrong'), '28000', 'invalid API key', 'failure 1: wrong secret');
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', :'wrong'), 'failure 2: verify counts too');
SELECT lives_ok('SELECT mt.verify_api_key(NULL)', 'a NULL key is not counted');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'wrong'), '28000', 'invalid API key', 'failure 3');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'key'), '53400',
                 'too many failed API key attempts from this client address',
                 'cool-down: even the valid key of that key id is refused from this address');
SELECT throws_ok(format('SELECT * FROM mt.verify_api_key(%L)', :'key'), '53400', NULL, 'verify is refused too');
SELECT is((SELECT kind || ' blocked ' || key_id FROM mt.api_key_throttle() WHERE blocked_until > now() AND key_id IS NOT NULL),
          'local blocked ' || substr(:'key', 9, 12), 'the local (Unix-socket) bucket of the key id is blocked');
SELECT is(pg_temp.tcp_auth(:'key'), :'acme'::uuid, 'a valid key from another address (TCP) is unaffected');

-- the TCP client fails three times: its own bucket cools down
SELECT throws_ok(format('SELECT pg_temp.tcp_auth(%L)', :'wrong'), '28000', NULL, 'TCP failure 1');
SELECT throws_ok(format('SELECT pg_temp.tcp_auth(%L)', :'wrong'), '28000', NULL, 'TCP failure 2');
SELECT throws_ok(format('SELECT pg_temp.tcp_auth(%L)', :'wrong'), '28000', NULL, 'TCP failure 3');
SELECT throws_ok(format('SELECT pg_temp.tcp_auth(%L)', :'key'), '53400', NULL, 'TCP cool-down refuses a valid key');
SELECT is((SELECT host(client) FROM mt.api_key_throttle() WHERE kind = 'tcp' AND blocked_until > now()), '127.0.0.1',
          'mt.api_key_throttle() lists the blocked TCP address');

-- the local cool-down (5 s) ends
SELECT pg_sleep(5.1);
SELECT is(mt.authenticate(:'key'), :'acme'::uuid, 'after the cool-down the local client authenticates again');
SELECT throws_ok(format('SELECT pg_temp.tcp_auth(%L)', :'key'), '53400', NULL, 'while the TCP client is still refused');

-- failures spread beyond the window do not add up
SET multitenant.api_key_failure_window = 1;
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'wrong'), '28000', 'invalid API key', 'window 1: failure 1');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'wrong'), '28000', 'invalid API key', 'window 1: failure 2');
SELECT pg_sleep(1.1);
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'wrong'), '28000', 'invalid API key', 'window 2: failure 1');
SELECT is(mt.authenticate(:'key'), :'acme'::uuid, 'three failures in two windows: not blocked');

-- an administrator clears a lockout
SELECT ok(mt.reset_api_key_throttle() >= 1, 'reset clears the buckets');
SELECT is(pg_temp.tcp_auth(:'key'), :'acme'::uuid, 'the TCP client authenticates again');

-- 0 switches the throttle off
SET multitenant.api_key_max_failures = 0;
SELECT is((SELECT count(*)::int FROM generate_series(1, 5) g, mt.verify_api_key(:'bad' || g)), 0, 'five failures with the throttle off');
SELECT is(mt.authenticate(:'key'), :'acme'::uuid, 'nothing is blocked');

SELECT * FROM finish();
SELECT dblink_disconnect('tcp');
SELECT mt.reset_api_key_throttle();
