-- Per-tenant statistics (mt.stat_tenants): every counted event lands in
-- the right tenant's row (authentications ok / failed, tokens entered,
-- metered calls, quota refusals, rate-limit refusals, audit events), a
-- refused call is counted although its transaction rolls back, a tenant
-- sees only its own row inside its context, a role without pg_monitor sees
-- nothing outside one, pg_monitor sees every row, multitenant.track_stats
-- = off counts nothing, and only privileged roles reset.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme', 'free') AS acme \gset
SELECT mt.create_tenant('Bigco', 'bigco') AS bigco \gset
SELECT mt.create_api_key(:'acme', 'stats') AS key \gset
SELECT mt.create_api_key(:'acme', 'revoked') AS revoked \gset
SELECT mt.revoke_api_key(:'revoked') AS r \gset
DROP ROLE IF EXISTS stats_app;
DROP ROLE IF EXISTS stats_mon;
CREATE ROLE stats_app;
CREATE ROLE stats_mon IN ROLE pg_monitor;
GRANT USAGE ON SCHEMA mt TO stats_app, stats_mon;
SELECT mt.stat_tenants_reset() >= 0 AS reset \gset
\set QUIET 0

SELECT plan(17);

-- three good authentications, two bad keys (one revoked, one malformed)
SELECT mt.authenticate(:'key') = :'acme' FROM generate_series(1, 3);
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'revoked'), '28000', NULL, 'a revoked key is refused');
SELECT throws_ok($$SELECT mt.authenticate('mt_live_not-a-key')$$, '28000', NULL, 'a malformed key is refused');

-- a token entered for Bigco
BEGIN;
SELECT set_config('multitenant.token', mt.tenant_token(:'bigco'), true) IS NOT NULL AS entered;
COMMIT;

-- Acme: two metered calls, a quota refusal, a rate-limit refusal, an audit event
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered;
SELECT mt.track('stats_calls') FROM generate_series(1, 2);
SELECT mt.set_quota(:'acme', 'stats_quota', 1);
SELECT throws_ok($$SELECT mt.consume('stats_quota', 2)$$, '54000', NULL, 'the quota refuses');
SELECT is(array_agg(mt.rate_limit('stats_bucket', 0.001, 1)), ARRAY[true, false], 'the second call is rate limited')
FROM generate_series(1, 2);
SELECT mt.audit('stats.test') > 0 AS audited;
RESET multitenant.token;
-- the refused key and the quota refusal are security events, which a flush
-- writes into Acme's audit chain: written now, not at the worker's next round
SELECT mt.flush_usage() >= 0 AS flushed;

SELECT is((SELECT row(auth_ok, auth_failed, tokens_entered, metered_calls, quota_refusals, rate_limited, audit_events)::text
           FROM mt.stat_tenants WHERE tenant_id = :'acme'),
          '(3,1,0,2,1,1,3)', 'Acme: 3 ok, 1 failed (its key id), 2 metered, 1 quota refusal, 1 rate limited, 3 audit events (its own, and the security events of the refused key and the refused quota)');
SELECT is((SELECT row(auth_ok, tokens_entered, metered_calls)::text FROM mt.stat_tenants WHERE tenant_id = :'bigco'),
          '(0,1,0)', 'Bigco: one token entered');
SELECT is((SELECT auth_failed FROM mt.stat_tenants WHERE scope = 'none'), 1::bigint,
          'the malformed key counts in the row without a tenant');
SELECT ok((SELECT last_active >= since AND since <= now() FROM mt.stat_tenants WHERE tenant_id = :'acme'),
          'since and last_active are set');

-- visibility
SET ROLE stats_app;
SELECT is((SELECT count(*)::int FROM mt.stat_tenants), 0, 'a role without pg_monitor sees no row outside a tenant context');
RESET ROLE;
BEGIN;
SELECT set_config('multitenant.token', mt.tenant_token(:'acme'), true) IS NOT NULL AS entered;
SET LOCAL ROLE stats_app;
SELECT is((SELECT array_agg(tenant_id)::text FROM mt.stat_tenants), '{' || :'acme' || '}', 'inside Acme''s context: Acme''s row only');
SET LOCAL ROLE stats_mon;
SELECT is((SELECT array_agg(tenant_id)::text FROM mt.stat_tenants), '{' || :'acme' || '}', 'also for pg_monitor inside a context');
COMMIT;
SET ROLE stats_mon;
SELECT is((SELECT count(*)::int FROM mt.stat_tenants WHERE scope = 'tenant'), 2, 'pg_monitor sees every tenant outside a context');
SELECT throws_ok($$SELECT mt.stat_tenants_reset()$$, '42501', NULL, 'pg_monitor cannot reset');
RESET ROLE;

-- track_stats off: nothing counted
SET multitenant.track_stats = off;
SELECT mt.authenticate(:'key') = :'acme' AS ok;
SET multitenant.track_stats = on;
SELECT is((SELECT auth_ok FROM mt.stat_tenants WHERE tenant_id = :'acme'), 3::bigint, 'track_stats = off counts nothing');
SET ROLE stats_app;
SELECT throws_ok($$SET multitenant.track_stats = off$$, '42501', NULL, 'an ordinary role cannot turn statistics off');
RESET ROLE;

SELECT is(mt.stat_tenants_reset(), 3::bigint, 'reset removes the three rows of this database');
SELECT is((SELECT count(*)::int FROM mt.stat_tenants), 0, 'and they are gone');

SELECT * FROM finish();
