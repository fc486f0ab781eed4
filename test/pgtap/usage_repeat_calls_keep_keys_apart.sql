-- mt.track() and mt.consume() remember the key they counted last in the
-- session, with their handles on its counter and on the tenant's
-- statistics row (src/usage.c, sql_last_key): a repeated call skips the
-- lookups.  Any other key (another tenant, another metric, a metric that
-- is a prefix or an extension of the last one) is counted apart, a bad
-- metric name is still refused, and a counter discarded under the handle
-- (the extension dropped and created again, the tenant's id the same) is
-- counted anew.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme', 'enterprise') AS acme \gset
SELECT mt.create_tenant('Bigco', 'bigco', 'enterprise') AS bigco \gset
\set QUIET 0

SELECT plan(14);
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT is(mt.track('calls'), 1::bigint, 'first count');
SELECT is(mt.track('calls'), 2::bigint, 'the same key again');
SELECT is(mt.track('call'), 1::bigint, 'a prefix of the last metric is its own counter');
SELECT is(mt.track('callsx'), 1::bigint, 'an extension of the last metric is its own counter');
SELECT is(mt.track('calls'), 3::bigint, 'back to the first counter');
SELECT is(mt.consume('calls', 2), 5::bigint, 'mt.consume() counts on the same counter');
SELECT throws_ok($$SELECT mt.track('Calls')$$, '22023', 'invalid metric name', 'a bad name after a good one is refused');
SELECT is(mt.track('calls'), 6::bigint, 'and counts nothing');
SELECT mt.set_tenant(:'bigco', false) IS NOT NULL AS entered \gset
SELECT is(mt.track('calls'), 1::bigint, 'the same metric of another tenant is its own counter');
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT is(mt.track('calls'), 7::bigint, 'the first tenant''s counter again');
RESET multitenant.token;
SELECT is((SELECT metered_calls FROM mt.stat_tenants WHERE tenant_id = :'acme'), 8::bigint,
          'every counted call of the first tenant is in its statistics');
SELECT is((SELECT metered_calls FROM mt.stat_tenants WHERE tenant_id = :'bigco'), 1::bigint,
          'and the other tenant''s one in its own');

-- the counters are discarded with the extension; the tenant comes back
-- under the same id, and the session's handle no longer names a counter
BEGIN;
SET LOCAL multitenant.allow_drop_extension = on;
SET LOCAL client_min_messages = error;
DROP EXTENSION multitenant;
COMMIT;
CREATE EXTENSION multitenant;
INSERT INTO mt.tenants (id, name, slug, plan) VALUES (:'acme', 'Acme', 'acme', 'enterprise');
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT is(mt.track('calls'), 1::bigint, 'after the counters were discarded, the same key counts anew');
SELECT is(mt.track('calls'), 2::bigint, 'and keeps counting');
RESET multitenant.token;
SELECT * FROM finish();
