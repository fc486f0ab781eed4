-- Usage metering: mt.track / mt.consume / mt.usage, quotas, soft-limit
-- alerts, flush, history, cost and rate limits.
CREATE EXTENSION multitenant;
\i sql/include/helpers.psql
\set QUIET on
SELECT mt.create_tenant('Acme', 'acme', 'free') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'pro') AS globex \gset
CREATE FUNCTION pg_temp.month_start() RETURNS timestamptz LANGUAGE sql
    AS $$ SELECT date_trunc('month', now(), 'UTC') $$;
\set QUIET off

-- no tenant context: counting is refused
SELECT pg_temp.err($$SELECT mt.track('api_calls')$$);
SELECT pg_temp.err($$SELECT mt.consume('api_calls')$$);
SELECT pg_temp.err($$SELECT * FROM mt.usage()$$);

SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered;

-- bad input: clear errors, nothing counted
SELECT pg_temp.err($$SELECT mt.track(NULL)$$);
SELECT pg_temp.err($$SELECT mt.track('exports', NULL)$$);
SELECT pg_temp.err($$SELECT mt.track('')$$);
SELECT pg_temp.err($$SELECT mt.track(repeat('m', 64))$$);
SELECT pg_temp.err($$SELECT mt.track('API Calls')$$);
SELECT pg_temp.err($$SELECT mt.track('exports', 0)$$);
SELECT pg_temp.err($$SELECT mt.consume('exports', -5)$$);
SELECT mt.track(repeat('m', 63)) AS longest_name_ok;
SELECT mt.track('exports', 9223372036854775000) AS near_max;
SELECT pg_temp.err($$SELECT mt.track('exports', 1000)$$);
SELECT used FROM mt.usage() WHERE metric = 'exports';

-- track returns the period total; consume within the limit counts
SELECT mt.track('api_calls') AS t1, mt.track('api_calls', 4) AS t2;
SELECT mt.consume('api_calls', 10) AS c1;
-- the free plan allows 1000 api_calls a day: 995 more is refused, nothing counted
SELECT pg_temp.err($$SELECT mt.consume('api_calls', 995)$$);
SELECT mt.consume('api_calls', 985) AS exactly_at_limit;
SELECT pg_temp.err($$SELECT mt.consume('api_calls')$$);
-- track is not refused past the hard limit
SELECT mt.track('api_calls') AS tracked_past_limit;

-- mt.usage: day limits show in the day view, month limits in the month view
SELECT metric, used, soft_limit, hard_limit, limit_period,
       period_start = date_trunc('day', now(), 'UTC') AS today
FROM mt.usage(period => 'day') WHERE metric IN ('api_calls', 'users', 'exports') ORDER BY metric;
SELECT metric, used, soft_limit, hard_limit, limit_period,
       period_start = pg_temp.month_start() AS this_month
FROM mt.usage() WHERE metric IN ('api_calls', 'users') ORDER BY metric;
SELECT pg_temp.err($$SELECT * FROM mt.usage(mt.current_tenant(), 'year')$$);
SELECT pg_temp.err($$SELECT * FROM mt.usage(mt.current_tenant(), NULL)$$);

-- quotas: per-tenant overrides
RESET multitenant.token;
SELECT pg_temp.err(format('SELECT mt.set_quota(%L, %L, -1)', :'acme', 'projects'));
SELECT pg_temp.err(format('SELECT mt.set_quota(%L, %L, 10, 20)', :'acme', 'projects'));
SELECT pg_temp.err(format('SELECT mt.set_quota(%L, %L, 10, 5, %L)', :'acme', 'projects', 'week'));
SELECT pg_temp.err(format('SELECT mt.set_quota(%L, %L, 10)', :'acme', 'Bad Name'));
SELECT pg_temp.err($$SELECT mt.set_quota('00000000-0000-0000-0000-000000000001', 'projects', 10)$$);
SELECT pg_temp.err(format('SELECT mt.set_quota(%L, NULL, 10)', :'acme'));
SELECT mt.set_quota(:'acme', 'projects', 7, 6);
SELECT mt.set_quota(:'acme', 'api_calls', 2000, 1500, 'day');
SELECT metric, period, hard_limit, soft_limit FROM mt.tenant_quotas ORDER BY metric;
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered;
-- the raised daily limit applies at once
SELECT mt.consume('api_calls', 999) AS after_raise;
SELECT pg_temp.err($$SELECT mt.consume('api_calls', 2)$$);
SELECT mt.consume('projects', 7) AS projects;
SELECT pg_temp.err($$SELECT mt.consume('projects')$$);
RESET multitenant.token;
SELECT mt.reset_quota(:'acme', 'projects') AS removed, mt.reset_quota(:'acme', 'projects') AS again;
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered;
-- back to the free plan's 5 projects a month: 7 are already used
SELECT pg_temp.err($$SELECT mt.consume('projects')$$);

-- soft limits: one alert per tenant, metric and period
RESET multitenant.token;
SELECT mt.set_quota(:'acme', 'exports2', 100, 10);
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered;
SELECT mt.track('exports2', 9) AS below_soft;
SELECT count(*) AS alerts FROM mt.usage_alerts WHERE metric = 'exports2';
SELECT mt.track('exports2', 1) AS reaches_soft;
SELECT mt.track('exports2', 5) AS above_soft;
SELECT metric, period,
       period_start = date_trunc(period, now(), 'UTC') AS current_period,
       used, soft_limit, hard_limit, created_at > now() - interval '1 minute' AS recent
FROM mt.usage_alerts ORDER BY metric, period;
-- an alert made inside a rolled-back transaction is made again by the next call
SELECT mt.track('projects', 1) AS soft_already_crossed;
BEGIN;
SELECT mt.track('users', 3) AS users_at_soft_in_xact;
SELECT count(*) AS alert_in_xact FROM mt.usage_alerts WHERE metric = 'users';
ROLLBACK;
SELECT count(*) AS alert_after_rollback FROM mt.usage_alerts WHERE metric = 'users';
SELECT mt.track('users') AS users_next_call;
SELECT metric, used, soft_limit FROM mt.usage_alerts WHERE metric = 'users';

-- flush: counts move to mt.usage_rollup, totals do not change
CREATE TEMP TABLE before AS SELECT metric, used FROM mt.usage();
RESET multitenant.token;
SELECT mt.flush_usage() IS NOT NULL AS flushed;
SELECT mt.flush_usage() AS nothing_left;
SELECT metric, value, bucket = date_trunc('hour', now(), 'UTC') AS this_hour
FROM mt.usage_rollup WHERE tenant_id = :'acme' AND metric IN ('api_calls', 'exports2', 'projects')
ORDER BY metric;
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered;
SELECT b.metric, b.used AS before, u.used AS after
FROM before b JOIN mt.usage() u USING (metric)
WHERE b.used IS DISTINCT FROM u.used;
SELECT mt.track('exports2') AS after_flush;

-- history over the rollup plus what is pending
SELECT metric, value, bucket = date_trunc('day', now(), 'UTC') AS today
FROM mt.usage_history(:'acme', 'exports2', now() - interval '1 day', now() + interval '1 hour', 'day');
SELECT count(*) AS metrics_this_hour
FROM mt.usage_history(:'acme', NULL, now() - interval '1 hour', now() + interval '1 hour', 'hour');
SELECT pg_temp.err(format('SELECT * FROM mt.usage_history(%L, NULL, now(), now(), %L)', :'acme', 'minute'));
SELECT pg_temp.err(format('SELECT * FROM mt.usage_history(%L, NULL, now(), now() - interval ''1 day'')', :'acme'));
SELECT pg_temp.err(format('SELECT * FROM mt.usage_history(%L, NULL, NULL, now())', :'acme'));

-- cost estimate: plan price plus overage where an overage price is set
RESET multitenant.token;
UPDATE mt.plan_limits SET overage_price_cents = 2, overage_unit = 100
WHERE plan = 'free' AND metric = 'projects';
UPDATE mt.plans SET price_monthly_cents = 500 WHERE name = 'free';
SELECT item, metric, period, used, included, billable_units, amount_cents, currency
FROM mt.usage_cost(:'acme');
SELECT item, amount_cents FROM mt.usage_cost(:'globex');
SELECT pg_temp.err(format('SELECT * FROM mt.usage_cost(%L, NULL)', :'acme'));

-- rate limits (GCRA): a burst, then refusals; buckets are per tenant
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered;
SELECT array_agg(mt.rate_limit('login', 0.001, 3)) AS acme_burst FROM generate_series(1, 5);
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered;
SELECT array_agg(mt.rate_limit('login', 0.001, 2)) AS globex_burst FROM generate_series(1, 3);
RESET multitenant.token;
SELECT array_agg(mt.rate_limit('login', 0.001, 1)) AS no_tenant_bucket FROM generate_series(1, 2);
SELECT pg_temp.err($$SELECT mt.rate_limit('', 1, 1)$$);
SELECT pg_temp.err($$SELECT mt.rate_limit(repeat('b', 128), 1, 1)$$);
SELECT pg_temp.err($$SELECT mt.rate_limit('b', 0, 1)$$);
SELECT pg_temp.err($$SELECT mt.rate_limit('b', 'NaN', 1)$$);
SELECT pg_temp.err($$SELECT mt.rate_limit('b', 1, 0)$$);
SELECT pg_temp.err($$SELECT mt.rate_limit('b', NULL, 1)$$);

-- privileges
SELECT has_function_privilege('public', 'mt.set_quota(uuid, text, bigint, bigint, text)', 'EXECUTE') AS public_set_quota,
       has_function_privilege('public', 'mt.reset_quota(uuid, text)', 'EXECUTE') AS public_reset_quota,
       has_function_privilege('public', 'mt.flush_usage()', 'EXECUTE') AS public_flush,
       has_function_privilege('public', 'mt.track(text, bigint)', 'EXECUTE') AS public_track;

-- the tenants go with it: permitted (doc/operations.md, "Removing the extension")
-- (audit events: the 2 above and the 5 quota refusals, security events the
-- flush worker appended to the tenants' chains: doc/observability.md)
BEGIN;
SET LOCAL multitenant.allow_drop_extension = on;
DROP EXTENSION multitenant;
COMMIT;
