-- API keys: the documented format and checksum, what is stored, and every
-- kind of bad input (one generic error, no row, nothing echoed).
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SELECT mt.reset_api_key_throttle();
SET multitenant.api_key_max_failures = 0;   -- the throttle has its own test (api_keys_throttle)

\i sql/include/crc32.psql
-- every text field of the error a statement raises, or '' when it succeeds
CREATE FUNCTION pg_temp.error_text(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m text; d text; h text; c text;
BEGIN
    EXECUTE q;
    RETURN '';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN concat_ws(' | ', m, nullif(d, ''), nullif(h, ''));
END $$;

SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_api_key(:'acme', 'ci', '{orders:read}') AS key \gset
SELECT mt.create_api_key(:'acme', 'sandbox', mode => 'test') AS tkey \gset
SELECT mt.create_api_key(:'acme', 'to revoke') AS rkey \gset
SELECT mt.create_api_key(:'acme', 'short', expires_at => clock_timestamp() + interval '1 second') AS ekey \gset
SELECT mt.create_api_key(:'acme', 'to delete') AS dkey \gset
SELECT mt.revoke_api_key(mt.api_key_id(:'rkey'));
DELETE FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'dkey');
CREATE TEMP TABLE many AS SELECT mt.create_api_key(:'acme', 'bulk ' || g) AS k FROM generate_series(1, 200) g;
SELECT substr(:'key', 22, 22) AS secret \gset
SELECT pg_sleep(1.1);   -- ekey expires
\set QUIET 0

SELECT plan(43);

-- the format (doc/api-keys.md)
SELECT matches(:'key'::text, '^mt_live_[0-9A-Za-z]{12}_[0-9A-Za-z]{28}$', 'a live key matches the documented pattern');
SELECT matches(:'tkey'::text, '^mt_test_[0-9A-Za-z]{12}_[0-9A-Za-z]{28}$', 'a test key matches the documented pattern');
SELECT is(to_hex(pg_temp.crc32('123456789')), 'cbf43926', 'the reference CRC-32 yields the standard check value');
SELECT is((SELECT count(*)::int FROM many WHERE pg_temp.with_crc(left(k, 43)) = k), 200,
          'the last 6 characters are the zlib CRC-32 of the first 43, in base62');
SELECT is(mt.api_key_id(:'key'), substr(:'key', 9, 12), 'the key id is characters 9-20');
SELECT is((SELECT count(DISTINCT substr(k, 9, 12))::int FROM many), 200, '200 keys: 200 distinct key ids');
SELECT is((SELECT count(DISTINCT substr(k, 22, 22))::int FROM many), 200, '200 keys: 200 distinct secrets');
SELECT is((SELECT count(DISTINCT c)::int FROM many, regexp_split_to_table(substr(k, 22, 22), '') c), 62,
          'secrets use the whole base62 alphabet');

-- what is stored: a keyed hash, not the key, not an unkeyed digest
SELECT is((SELECT length(key_hash) FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'key')), 32,
          'a 32-byte hash is stored');
SELECT isnt((SELECT key_hash FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'key')), digest(:'key', 'sha256'),
            'the hash is not an unkeyed SHA-256 of the key');
SELECT isnt((SELECT key_hash FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'key')), hmac(:'key', '', 'sha256'),
            'the hash is not an HMAC under an empty key');
SELECT is((SELECT count(*)::int FROM mt.api_key_secrets s
           WHERE position(:'secret' IN s::text) > 0
              OR position(convert_to(:'secret', 'UTF8') IN s.key_hash) > 0), 0,
          'no row holds the secret');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE prosrc LIKE '%' || :'secret' || '%'), 0,
          'no function holds the secret');

-- a valid key
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'key')), 1, 'the valid key verifies');
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'tkey')), 1, 'the valid test-mode key verifies');

-- bad input: authenticate raises 28000 "invalid API key", verify returns no row
SELECT throws_ok('SELECT mt.authenticate(NULL)', '28000', 'invalid API key', 'NULL: 28000');
SELECT is_empty('SELECT * FROM mt.verify_api_key(NULL)', 'NULL: no row');
SELECT throws_ok($$SELECT mt.authenticate('')$$, '28000', 'invalid API key', 'empty: 28000');
SELECT is_empty($$SELECT * FROM mt.verify_api_key('')$$, 'empty: no row');
SELECT throws_ok($$SELECT mt.authenticate(repeat('x', 1048576))$$, '28000', 'invalid API key', '1 MB: 28000');
SELECT is_empty($$SELECT * FROM mt.verify_api_key(repeat('x', 1048576))$$, '1 MB: no row');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', pg_temp.with_crc('mt_prod_' || substr(:'key', 9, 35))),
                 '28000', 'invalid API key', 'wrong prefix (with a matching checksum): 28000');
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', 'sk_live_' || substr(:'key', 9)), 'wrong prefix: no row');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', left(:'key', 48) || CASE WHEN right(:'key', 1) = '0' THEN '1' ELSE '0' END),
                 '28000', 'invalid API key', 'bad checksum: 28000');
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', left(:'key', 43) || '000000'), 'bad checksum: no row');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', overlay(:'key' PLACING 'ß' FROM 25 FOR 1)),
                 '28000', 'invalid API key', 'non-ASCII: 28000');
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', left(:'key', 47) || 'é'), 'non-ASCII of the right byte length: no row');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', left(:'key', 40)), '28000', 'invalid API key', 'truncated: 28000');
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', left(:'key', 48)), 'truncated by one: no row');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'dkey'), '28000', 'invalid API key',
                 'good checksum, unknown key id: 28000 with the same message');
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', :'dkey'), 'good checksum, unknown key id: no row');
SELECT throws_ok(format('SELECT mt.authenticate(%L)',
                        pg_temp.with_crc(left(:'key', 42) || CASE WHEN substr(:'key', 43, 1) = 'a' THEN 'b' ELSE 'a' END)),
                 '28000', 'invalid API key', 'known key id, wrong secret, good checksum: 28000 with the same message');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'rkey'), '28000', 'invalid API key', 'revoked: 28000');
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', :'rkey'), 'revoked: no row');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'ekey'), '28000', 'invalid API key', 'expired: 28000');
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', :'ekey'), 'expired: no row');

-- nothing but the generic message: no detail, no hint, no echo
SELECT is(pg_temp.error_text(format('SELECT mt.authenticate(%L)', :'rkey')), 'invalid API key',
          'revoked key: message only, no detail or hint');
SELECT is(pg_temp.error_text(format('SELECT mt.authenticate(%L)', left(:'key', 48) || '!')), 'invalid API key',
          'malformed key: message only, no detail or hint');
SELECT is(pg_temp.error_text(format('SELECT mt.authenticate(%L)', :'dkey')),
          pg_temp.error_text(format('SELECT mt.authenticate(%L)', :'rkey')),
          'unknown and revoked keys fail identically');

-- api_key_id() checks the format only
SELECT is(mt.api_key_id(:'dkey'), substr(:'dkey', 9, 12), 'api_key_id parses a well-formed key without a row');
SELECT ok(mt.api_key_id(left(:'key', 48) || CASE WHEN right(:'key', 1) = '0' THEN '1' ELSE '0' END) IS NULL,
          'api_key_id rejects a bad checksum');
SELECT ok(mt.api_key_id(repeat('x', 1048576)) IS NULL, 'api_key_id rejects 1 MB');
SELECT is((SELECT count(*)::int FROM mt.verify_api_key(:'key')), 1, 'the session survived all of it; the valid key still verifies');

SELECT * FROM finish();
