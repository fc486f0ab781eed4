-- Quotas come from the plan (mt.plan_limits) unless a per-tenant override
-- (mt.set_quota) exists; any committed change applies to the next call;
-- an uncommitted change applies only inside its transaction; alerts made
-- in rolled-back (sub)transactions or read-only transactions are made by
-- the next call.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme', 'free') AS acme \gset
SELECT mt.create_tenant('Bigco', 'bigco', 'enterprise') AS bigco \gset
\set QUIET 0

SELECT plan(30);

SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT is(mt.consume('projects', 5), 5::bigint, 'free plan: 5 projects fit');
SELECT throws_ok($$SELECT mt.consume('projects')$$, '54000', 'usage quota exceeded for metric "projects"', 'the 6th is refused');
SELECT is((SELECT used FROM mt.usage() WHERE metric = 'projects'), 5::bigint, 'the refused call counted nothing');

-- a plan change applies to the next call
UPDATE mt.tenants SET plan = 'starter' WHERE id = :'acme';
SELECT is(mt.consume('projects'), 6::bigint, 'starter plan (25 projects): the 6th fits');
SELECT is((SELECT hard_limit FROM mt.usage() WHERE metric = 'projects'), 25::bigint, 'usage shows the starter limit');
-- a plan limit change applies to the next call
UPDATE mt.plan_limits SET hard_limit = 6, soft_limit = 6 WHERE plan = 'starter' AND metric = 'projects';
SELECT throws_ok($$SELECT mt.consume('projects')$$, '54000', NULL, 'lowered plan limit applies at once');

-- an override applies inside its transaction only until it commits
BEGIN;
SELECT mt.set_quota(:'acme', 'projects', 8, NULL, 'month');
SELECT is(mt.consume('projects', 2), 8::bigint, 'uncommitted override applies inside its transaction');
ROLLBACK;
SELECT throws_ok($$SELECT mt.consume('projects')$$, '54000', NULL, 'rolled-back override is gone (counts stay: 8 of 6)');
SELECT is((SELECT used FROM mt.usage() WHERE metric = 'projects'), 8::bigint, 'counts are not transactional');
SELECT mt.set_quota(:'acme', 'projects', NULL);
SELECT is(mt.consume('projects', 100), 108::bigint, 'a NULL hard limit override means unlimited');
SELECT ok((SELECT hard_limit IS NULL FROM mt.usage() WHERE metric = 'projects'), 'usage shows no hard limit');
SELECT ok(mt.reset_quota(:'acme', 'projects'), 'reset_quota removes the override');
SELECT throws_ok($$SELECT mt.consume('projects')$$, '54000', NULL, 'back to the plan limit');

-- enterprise: no limit at all
SELECT mt.set_tenant(:'bigco', false) IS NOT NULL AS entered \gset
SELECT is(mt.consume('api_calls', 1000000), 1000000::bigint, 'enterprise api_calls are unlimited');

-- the quota's period decides what track() and consume() return
SELECT mt.set_quota(:'bigco', 'reports', 100, NULL, 'day');
SELECT is(mt.consume('reports', 3), 3::bigint, 'daily quota: today''s total');
SELECT is((SELECT hard_limit FROM mt.usage(mt.current_tenant(), 'day') WHERE metric = 'reports'), 100::bigint,
          'the day view shows the daily limit');
SELECT ok((SELECT hard_limit IS NULL FROM mt.usage(mt.current_tenant(), 'month') WHERE metric = 'reports'),
          'the month view does not show a daily limit as monthly');
SELECT is((SELECT used FROM mt.usage(mt.current_tenant(), 'month') WHERE metric = 'reports'), 3::bigint,
          'the month view counts the same calls');

-- alerts: read-only transactions and rolled-back subtransactions
SELECT mt.set_quota(:'bigco', 'exports', 100, 5);
BEGIN READ ONLY;
SELECT is(mt.track('exports', 5), 5::bigint, 'counting works in a read-only transaction');
COMMIT;
SELECT is((SELECT count(*)::int FROM mt.usage_alerts WHERE metric = 'exports'), 0, 'no alert from a read-only transaction');
SELECT is(mt.track('exports'), 6::bigint, 'next call');
SELECT is((SELECT used FROM mt.usage_alerts WHERE metric = 'exports'), 6::bigint, 'the next call made the alert');
SELECT is(mt.track('exports'), 7::bigint, 'another call');
SELECT is((SELECT count(*)::int FROM mt.usage_alerts WHERE metric = 'exports'), 1, 'still one alert this period');

SELECT mt.set_quota(:'bigco', 'imports', 100, 1);
BEGIN;
SAVEPOINT a;
SELECT is(mt.track('imports'), 1::bigint, 'crossing inside a savepoint');
ROLLBACK TO a;
COMMIT;
SELECT is((SELECT count(*)::int FROM mt.usage_alerts WHERE metric = 'imports'), 0, 'alert rolled back with its savepoint');
SELECT is(mt.track('imports'), 2::bigint, 'next call');
SELECT is((SELECT count(*)::int FROM mt.usage_alerts WHERE metric = 'imports'), 1, 'the next call made the alert');

-- bad calls leave the counters unchanged
SELECT throws_ok($$SELECT mt.consume('imports', 9223372036854775807)$$, '22003', NULL, 'overflow refused');
SELECT is((SELECT used FROM mt.usage() WHERE metric = 'imports'), 2::bigint, 'nothing counted by the bad calls');

SELECT * FROM finish();
