-- A non-superuser application role and the usage functions: it counts for
-- its own tenant without any privilege on the usage tables, reads only its
-- own tenant's usage, cannot manage quotas or flush; internal SQL cannot
-- be redirected through search_path.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme', 'free') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'pro') AS globex \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour'), false) AS tok_acme \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour'), false) AS tok_globex \gset
DROP ROLE IF EXISTS mt_usage_app;
CREATE ROLE mt_usage_app NOLOGIN;
-- globex has flushed usage, a quota and an alert
SELECT mt.set_quota(:'globex', 'exports', 10, 1);
SELECT mt.set_quota(:'acme', 'exports', 10, 2);
SELECT mt.set_tenant(:'globex', false);
SELECT mt.track('api_calls', 5);
SELECT mt.track('exports', 2);
RESET multitenant.token;
SELECT mt.flush_usage();
-- a schema that tries to shadow what the internal SQL uses
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.unnest(text[], timestamptz[], bigint[])
    RETURNS TABLE (m text, b timestamptz, v bigint) LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'evil.unnest called'; END $$;
CREATE FUNCTION evil.sum(bigint) RETURNS bigint LANGUAGE sql AS 'SELECT 666::bigint';
\set QUIET 0

SELECT plan(29);

SET ROLE mt_usage_app;
SELECT throws_ok(format('SELECT mt.set_quota(%L, %L, 1)', :'acme', 'exports'), '42501', NULL, 'app cannot set quotas');
SELECT throws_ok(format('SELECT mt.reset_quota(%L, %L)', :'acme', 'exports'), '42501', NULL, 'app cannot reset quotas');
SELECT throws_ok('SELECT mt.flush_usage()', '42501', NULL, 'app cannot force a flush');
SELECT throws_ok($$SELECT mt.track('api_calls')$$, '42501', 'no tenant context is set', 'no context: no counting');
SELECT throws_ok('SELECT * FROM mt.usage()', '42501', NULL, 'no context: no usage');
SELECT throws_ok(format('SELECT * FROM mt.usage(%L)', :'globex'), '42501', NULL, 'no context: no other tenant''s usage');

SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT is(mt.track('api_calls', 2), 2::bigint, 'app counts for its tenant without privileges on the tables');
SELECT is(mt.consume('api_calls'), 3::bigint, 'app consumes for its tenant');
SELECT is(mt.track('exports', 2), 2::bigint, 'app crosses its soft limit');
SELECT is((SELECT used FROM mt.usage() WHERE metric = 'api_calls'), 3::bigint, 'app reads its own usage');
SELECT throws_ok(format('SELECT * FROM mt.usage(%L)', :'globex'), '42501', NULL, 'app cannot read another tenant''s usage');
SELECT throws_ok(format('SELECT * FROM mt.usage_history(%L)', :'globex'), '42501', NULL, 'nor its history');
SELECT throws_ok(format('SELECT * FROM mt.usage_cost(%L)', :'globex'), '42501', NULL, 'nor its cost');
SELECT is((SELECT count(*)::int FROM mt.usage_rollup), 0, 'rollup: no rows of other tenants');
SELECT is((SELECT array_agg(metric) FROM mt.usage_alerts), ARRAY['exports'], 'alerts: only its own (made as the table owner)');
SELECT is((SELECT array_agg(metric) FROM mt.tenant_quotas), ARRAY['exports'], 'quotas: only its own');
SELECT throws_ok($$INSERT INTO mt.usage_rollup VALUES (mt.current_tenant(), 'x', date_trunc('hour', now()), 1)$$,
                 '42501', NULL, 'app cannot write the rollup');
SELECT throws_ok('DELETE FROM mt.usage_alerts', '42501', NULL, 'app cannot delete alerts');
SELECT throws_ok($$UPDATE mt.tenant_quotas SET hard_limit = NULL$$, '42501', NULL, 'app cannot lift its quota');
SELECT ok(mt.rate_limit('api', 100, 10), 'app can rate-limit');

-- search_path cannot redirect the internal SQL
SET search_path = evil, public, pg_catalog;
SELECT lives_ok($$SELECT * FROM mt.usage_history(mt.current_tenant())$$, 'history ignores a shadowing unnest()');
SELECT is((SELECT used FROM mt.usage() WHERE metric = 'api_calls'), 3::bigint, 'usage ignores a shadowing sum()');
SELECT is(mt.track('fresh_metric'), 1::bigint, 'a new counter loads its base ignoring a shadowing sum()');
RESET search_path;

SELECT set_config('multitenant.token', current_setting('test.tok_globex'), false) IS NOT NULL AS entered \gset
SELECT is((SELECT sum(value)::int FROM mt.usage_rollup), 7, 'globex sees its flushed rows');
SELECT is((SELECT count(*)::int FROM mt.usage_alerts), 1, 'globex sees its alert');
SELECT is((SELECT used FROM mt.usage() WHERE metric = 'api_calls'), 5::bigint, 'globex reads its usage');
RESET multitenant.token;
RESET ROLE;

-- superusers read any tenant, without a context
SELECT is((SELECT used FROM mt.usage(:'acme') WHERE metric = 'api_calls'), 3::bigint, 'superuser reads acme');
SELECT is((SELECT used FROM mt.usage(:'globex') WHERE metric = 'exports'), 2::bigint, 'superuser reads globex');
SELECT is((SELECT count(*)::int FROM mt.usage_alerts), 2, 'one alert per tenant');

SELECT * FROM finish();
DROP ROLE mt_usage_app;
