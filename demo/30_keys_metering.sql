\pset footer off
\set QUIET on
SELECT id AS acme FROM mt.tenants WHERE slug = 'acme' \gset
SELECT id AS globex FROM mt.tenants WHERE slug = 'globex' \gset
\echo
\echo '--- 4. API keys: verified in the database, stored only as a keyed hash ---'
SELECT mt.create_api_key(:'acme', 'billing service', '{invoices:read}', now() + interval '90 days') AS acme_key \gset
SELECT left(:'acme_key', 21) || '...' AS key_returned_once;
\echo 'What the table holds (no key, no usable secret):'
SELECT key_id, name, scopes, length(key_hash) AS hmac_bytes FROM mt.api_key_secrets;
\echo 'The application role authenticates the key inside its transaction:'
SET ROLE demo_app;
BEGIN;
SELECT mt.authenticate(:'acme_key') = :'acme' AS entered_acme, mt.current_subject() AS subject;
SELECT mt.has_scope('invoices:read') AS may_read_invoices, mt.has_scope('invoices:write') AS may_write;
SELECT name FROM projects;
SELECT key_id, name, scopes, expires_at::date AS expires FROM mt.api_keys;
COMMIT;
\echo 'A mistyped key is rejected by its checksum, with one generic error:'
\set ON_ERROR_STOP off
\set QUIET off
SELECT mt.authenticate(left(:'acme_key', -1) || 'x');
\set QUIET on
\set ON_ERROR_STOP on
RESET ROLE;

\echo
\echo '--- 5. Metering and quotas in shared memory --------------------------'
\echo 'Globex (free plan) gets a quota of 5 exports a day, soft limit 3:'
SELECT mt.set_quota(:'globex', 'exports', 5, 3, 'day') \gset
LISTEN multitenant_usage;
BEGIN;
SELECT mt.set_tenant(:'globex') IS NOT NULL AS entered \gset
SELECT mt.consume('exports') AS used FROM generate_series(1, 5);
\echo 'The 6th export is refused (SQLSTATE 54000) and counts nothing:'
\set ON_ERROR_STOP off
\set QUIET off
SAVEPOINT s;
SELECT mt.consume('exports');
ROLLBACK TO SAVEPOINT s;
\set QUIET on
\set ON_ERROR_STOP on
SELECT metric, used, soft_limit, hard_limit FROM mt.usage(:'globex', 'day') WHERE metric = 'exports';
COMMIT;
\echo 'Crossing the soft limit left one alert (and a NOTIFY multitenant_usage):'
SELECT s.slug, a.metric, a.used, a.soft_limit FROM mt.usage_alerts a JOIN mt.tenants s ON s.id = a.tenant_id;
\echo 'Rate limiting (GCRA, 5 per second, burst 3): ten calls in a row'
BEGIN;
SELECT mt.set_tenant(:'acme') IS NOT NULL AS entered \gset
SELECT string_agg(CASE WHEN mt.rate_limit('search', 5, 3) THEN 'allow' ELSE 'deny' END, ' ' ORDER BY g) AS decisions
FROM generate_series(1, 10) g;
COMMIT;
