-- API keys: format, create/verify/authenticate, scopes, revoke, rotate,
-- listing, bad input.  Keys are random, so only their properties are shown.
CREATE EXTENSION multitenant;
\i sql/include/helpers.psql
-- start from an empty throttle (earlier tests may have left buckets)
SELECT mt.reset_api_key_throttle() AS buckets_before \gset
SELECT count(*) AS buckets_after_reset FROM mt.api_key_throttle();
SET multitenant.api_key_max_failures = 1000;   -- the throttle has its own pgTAP test
SET multitenant.api_key_failure_window = 3600;
\i sql/include/crc32.psql
SELECT to_hex(pg_temp.crc32('123456789')) AS crc32_check_value;   -- cbf43926
-- as pg_temp.err, with key ids (random) masked
CREATE FUNCTION pg_temp.kerr(q text) RETURNS text LANGUAGE sql AS
$$ SELECT regexp_replace(pg_temp.err(q), '"[0-9A-Za-z]{12}"', '"<key id>"', 'g') $$;

SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.create_api_key(:'acme', 'ci', '{orders:write,orders:read,orders:read}') AS k1 \gset
SELECT mt.create_api_key(:'acme', 'sandbox', mode => 'test') AS k2 \gset
SELECT mt.create_api_key(:'globex', 'backend', '{billing:read}', now() + interval '1 day') AS k3 \gset

-- format: prefix, 12-character key id, 22-character secret, 6-character checksum
SELECT k ~ '^mt_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{28}$' AS well_formed,
       left(k, 8) AS prefix, length(k) AS length
FROM (VALUES (:'k1'), (:'k2'), (:'k3')) v (k);
SELECT count(DISTINCT k) AS distinct_keys, count(DISTINCT substr(k, 9, 12)) AS distinct_ids
FROM (VALUES (:'k1'), (:'k2'), (:'k3')) v (k);
SELECT mt.api_key_id(:'k1') = substr(:'k1', 9, 12) AS id_parsed;
SELECT bool_and(pg_temp.with_crc(left(k, 43)) = k) AS checksums_match
FROM (VALUES (:'k1'), (:'k2'), (:'k3')) v (k);

-- storage: metadata, normalized scopes, a 32-byte hash, never the key
SELECT name, mode, scopes, expires_at IS NOT NULL AS expires, length(key_hash) AS hash_bytes,
       created_by, revoked_at, last_used_at, rotated_from, rotated_to
FROM mt.api_key_secrets ORDER BY name;
SELECT count(*) AS rows_holding_a_key FROM mt.api_key_secrets s
WHERE s::text LIKE '%' || substr(:'k1', 22) || '%' OR s::text LIKE '%' || substr(:'k3', 22) || '%';

-- verify: tenant, key id, scopes; no row when invalid
SELECT tenant_id = :'acme' AS acme, key_id = mt.api_key_id(:'k1') AS same_id, scopes
FROM mt.verify_api_key(:'k1');
SELECT tenant_id = :'globex' AS globex, scopes FROM mt.verify_api_key(:'k3');
SELECT count(*) AS rows FROM mt.verify_api_key(NULL);
SELECT count(*) AS rows FROM mt.verify_api_key(:'k1' || 'x');

-- authenticate: enters the key's tenant for the transaction, subject = key id
BEGIN;
SELECT mt.authenticate(:'k1') = :'acme' AS returned_tenant;
SELECT mt.current_tenant() = :'acme' AS in_acme,
       mt.current_subject() = 'key:' || mt.api_key_id(:'k1') AS subject_is_key,
       mt.current_tenant_role() AS role;
SELECT name, mode, scopes, status FROM mt.api_keys ORDER BY name;   -- acme's keys only
SELECT mt.has_scope('orders:read') AS orders_read, mt.has_scope('billing:read') AS billing_read;
SELECT mt.require_scope('orders:write');
SELECT pg_temp.err('SELECT mt.require_scope(''billing:read'')');
SELECT pg_temp.err('SELECT mt.require_scope(NULL)');
-- another context in the same transaction: the key's scopes no longer apply
SELECT mt.set_tenant(:'acme') IS NOT NULL AS switched;
SELECT mt.has_scope('orders:read') AS orders_read_after_switch;
SELECT pg_temp.err('SELECT mt.require_scope(''orders:read'')');
COMMIT;
-- a new transaction: no context, no scopes
SELECT mt.current_tenant() AS tenant, mt.has_scope('orders:read') AS orders_read;
SELECT pg_temp.err('SELECT mt.require_scope(''orders:read'')');
SELECT count(*) AS visible_keys FROM mt.api_keys;
-- outside a transaction block, authenticate lasts for its own statement only
SELECT mt.authenticate(:'k3') = :'globex' AS authenticated;
SELECT mt.current_tenant() AS tenant_after_statement;

-- management: bad input
SELECT pg_temp.err('SELECT mt.create_api_key(NULL, ''x'')');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', NULL)');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', ''x'', NULL)');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', ''x'', mode => NULL)');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', ''x'', mode => ''prod'')');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', '''')');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', repeat(''n'', 201))');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', ''x'', ''{"has space"}'')');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', ''x'', ''{NULL}'')');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', ''x'', ''{{a,b},{c,d}}'')');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', ''x'', (SELECT array_agg(''s'' || g) FROM generate_series(1, 65) g))');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'acme') || ', ''x'', ''{}'', now() - interval ''1 second'')');
SELECT pg_temp.err('SELECT mt.create_api_key(''00000000-0000-0000-0000-000000000000'', ''x'')');
SELECT mt.suspend_tenant(:'globex');
SELECT pg_temp.err('SELECT mt.create_api_key(' || quote_literal(:'globex') || ', ''x'')');
SELECT mt.resume_tenant(:'globex');
SELECT count(*) AS keys FROM mt.api_key_secrets;

-- revoke
SELECT mt.revoke_api_key(mt.api_key_id(:'k2')) AS revoked;
SELECT mt.revoke_api_key(:'k2') AS revoked_again;   -- a whole key is accepted too
SELECT pg_temp.kerr('SELECT mt.revoke_api_key(''AAAAAAAAAAAA'')');
SELECT pg_temp.kerr('SELECT mt.revoke_api_key(NULL)');
SELECT count(*) AS rows FROM mt.verify_api_key(:'k2');

-- rotate: the new key works at once, the old one for the grace period only
SELECT mt.rotate_api_key(mt.api_key_id(:'k1'), '1 hour') AS k1b \gset
SELECT :'k1b' <> :'k1' AS new_key, mt.api_key_id(:'k1b') IS NOT NULL AS well_formed;
SELECT (SELECT scopes FROM mt.verify_api_key(:'k1b')) AS new_scopes,
       (SELECT count(*) FROM mt.verify_api_key(:'k1')) AS old_still_valid;
SELECT name, rotated_from = mt.api_key_id(:'k1') AS from_old, rotated_to IS NULL AS no_successor,
       expires_at IS NULL AS no_expiry
FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'k1b');
SELECT rotated_to = mt.api_key_id(:'k1b') AS to_new,
       expires_at BETWEEN now() + interval '59 minutes' AND now() + interval '61 minutes' AS grace_hour
FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'k1');
SELECT pg_temp.kerr('SELECT mt.rotate_api_key(' || quote_literal(mt.api_key_id(:'k1')) || ', ''1 hour'')');
SELECT pg_temp.kerr('SELECT mt.rotate_api_key(' || quote_literal(mt.api_key_id(:'k2')) || ', ''1 hour'')');
SELECT pg_temp.kerr('SELECT mt.rotate_api_key(' || quote_literal(mt.api_key_id(:'k3')) || ', ''-1 second'')');
SELECT pg_temp.kerr('SELECT mt.rotate_api_key(' || quote_literal(mt.api_key_id(:'k3')) || ', NULL)');
SELECT pg_temp.kerr('SELECT mt.rotate_api_key(''AAAAAAAAAAAA'', ''1 hour'')');
-- grace 0: the old key stops at once; the expiry carries over to the successor
SELECT mt.rotate_api_key(mt.api_key_id(:'k3'), '0') AS k3b \gset
SELECT (SELECT count(*) FROM mt.verify_api_key(:'k3')) AS old_valid,
       (SELECT count(*) FROM mt.verify_api_key(:'k3b')) AS new_valid;
SELECT key_id = mt.api_key_id(:'k3b') AS is_new,
       expires_at BETWEEN now() + interval '23 hours' AND now() + interval '25 hours' AS expires_in_a_day,
       expires_at <= now() AS expired
FROM mt.api_key_secrets WHERE key_id IN (mt.api_key_id(:'k3'), mt.api_key_id(:'k3b'))
ORDER BY 1;
SELECT pg_temp.kerr('SELECT mt.rotate_api_key(' || quote_literal(mt.api_key_id(:'k3')) || ', ''1 hour'')');

BEGIN;
SELECT mt.authenticate(:'k1b') IS NOT NULL AS ok;
SELECT name, status FROM mt.api_keys ORDER BY name, status;
COMMIT;

-- bad input to authenticate: one message, whatever was wrong
SELECT mt.create_api_key(:'acme', 'short-lived', expires_at => now() + interval '1 second') AS kexp \gset
SELECT pg_sleep(1.1);
-- a well-formed key whose row is gone: good checksum, unknown id
SELECT mt.create_api_key(:'acme', 'deleted') AS kdel \gset
DELETE FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'kdel');
SELECT label, pg_temp.err(format('SELECT mt.authenticate(%L)', k)) AS result,
       (SELECT count(*) FROM mt.verify_api_key(k)) AS verify_rows,
       mt.api_key_id(k) IS NOT NULL AS well_formed
FROM (VALUES
    ('empty',                  ''),
    ('1 MB',                   repeat('a', 1048576)),
    ('wrong prefix',           'mt_prod_' || substr(:'k1b', 9)),
    ('wrong prefix, good crc', pg_temp.with_crc('mt_prod_' || substr(:'k1b', 9, 35))),
    ('test prefix on live key', pg_temp.with_crc('mt_test_' || substr(:'k1b', 9, 35))),
    ('bad checksum',           left(:'k1b', 48) || CASE WHEN right(:'k1b', 1) = 'A' THEN 'B' ELSE 'A' END),
    ('non-ASCII',              overlay(:'k1b' PLACING 'é' FROM 30 FOR 1)),
    ('non-ASCII, same bytes',  left(:'k1b', 47) || 'é'),
    ('truncated',              left(:'k1b', 48)),
    ('extended',               :'k1b' || '0'),
    ('lowercased',             lower(:'k1b')),
    ('wrong secret, good crc', pg_temp.with_crc(left(:'k1b', 42) || CASE WHEN substr(:'k1b', 43, 1) = 'x' THEN 'y' ELSE 'x' END)),
    ('unknown id, good crc',   :'kdel'),
    ('revoked',                :'k2'),
    ('expired',                :'kexp'),
    ('rotated, grace 0',       :'k3')
) AS v (label, k);
SELECT pg_temp.err('SELECT mt.authenticate(NULL)');
SELECT mt.current_tenant() AS tenant;

-- a key of a suspended tenant fails; resumed, it works again
SELECT mt.suspend_tenant(:'acme');
SELECT pg_temp.err(format('SELECT mt.authenticate(%L)', :'k1b'));
SELECT count(*) AS rows FROM mt.verify_api_key(:'k1b');
SELECT mt.resume_tenant(:'acme');
SELECT count(*) AS rows FROM mt.verify_api_key(:'k1b');

-- the failures above were counted against this (Unix-socket) client
-- one bucket per key id that failed, one for malformed keys and unknown key ids
SELECT kind, client, sum(failures) AS failures, count(*) > 1 AS several_buckets, max(blocked_until) AS blocked_until
  FROM mt.api_key_throttle() GROUP BY kind, client;
SELECT mt.reset_api_key_throttle() > 1 AS buckets_cleared;
SELECT count(*) AS buckets FROM mt.api_key_throttle();
\i sql/include/cleanup.psql
