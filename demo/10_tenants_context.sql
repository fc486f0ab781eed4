\pset footer off
\set QUIET on
\echo
\echo '=============================================================='
\echo ' multitenant: SaaS security plumbing inside PostgreSQL'
\echo '=============================================================='
\echo
\echo '--- 1. Install and register two tenants ---------------------------'
CREATE EXTENSION multitenant;
SELECT mt.create_tenant('Acme Corp', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'free') AS globex \gset
SELECT slug, name, plan, status FROM mt.tenants ORDER BY slug;
\echo 'Plans come seeded with prices and limits:'
SELECT p.name AS plan, p.price_monthly_cents / 100 AS usd_month,
       max(l.hard_limit) FILTER (WHERE metric = 'api_calls') AS api_calls_per_day,
       max(l.hard_limit) FILTER (WHERE metric = 'users') AS users
FROM mt.plans p JOIN mt.plan_limits l ON l.plan = p.name
GROUP BY p.name, p.price_monthly_cents ORDER BY p.price_monthly_cents;

\echo
\echo '--- 2. The signed tenant context ----------------------------------'
\echo 'An admin mints a short-lived signed token (a JWT) for Acme:'
SELECT set_config('demo.acme_token', mt.tenant_token(:'acme', '10 minutes', 'alice@acme.test', 'admin'), false)
       AS acme_token \gset
SELECT left(:'acme_token', 60) || '...' AS token;
\echo 'The application role enters the tenant per transaction (pooler-safe), passing'
\echo 'the token as a bound parameter:  SELECT set_config(''multitenant.token'', $1, true)'
\echo '(psql cannot bind parameters; this demo keeps the token in a session setting,'
\echo 'which keeps it out of the statement text just the same):'
CREATE ROLE demo_app;
GRANT USAGE ON SCHEMA public TO demo_app;
SET ROLE demo_app;
BEGIN;
SELECT set_config('multitenant.token', current_setting('demo.acme_token'), true) IS NOT NULL AS entered;
SELECT mt.current_tenant() = :'acme' AS in_acme, mt.current_subject() AS subject,
       mt.current_tenant_role() AS role;
SELECT slug FROM mt.tenants;  -- a tenant sees only its own registry row
COMMIT;
SELECT mt.current_tenant() IS NULL AS context_ended_with_transaction;
\echo 'A token written into the statement text (SET LOCAL multitenant.token = ''<jwt>'') is'
\echo 'refused: other sessions of the role can read statement text in pg_stat_activity.'
\echo 'The refused token is burned for the rest of its lifetime:'
RESET ROLE;
SELECT mt.tenant_token(:'acme', '10 minutes') AS pasted_token \gset
SET ROLE demo_app;
\set QUIET off
\set ON_ERROR_STOP off
BEGIN;
SET LOCAL multitenant.token = :'pasted_token';
ROLLBACK;
\set ON_ERROR_STOP on
\set QUIET on
\echo 'A forged token (payload changed to Globex, signature kept) is refused:'
\set QUIET off
\set ON_ERROR_STOP off
SELECT split_part(:'acme_token', '.', 1) || '.' ||
       translate(rtrim(encode(convert_to(format('{"tid":"%s","exp":4102444800}', :'globex'), 'UTF8'), 'base64'), '='), '+/', '-_')
       || '.' || split_part(:'acme_token', '.', 3) AS forged \gset
SET multitenant.token = :'forged';
\set ON_ERROR_STOP on
\set QUIET on
RESET ROLE;
