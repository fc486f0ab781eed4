-- mt.rate_limit(): GCRA semantics (burst, then one call per interval),
-- buckets per tenant and for callers without a tenant, bounded table.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
\set QUIET 0

SELECT plan(12);

-- at 1/s the check 1.2 s after the burst has until 2 s to run: 0.8 s of
-- margin for a slow machine (at 2/s and 0.6 s it had 0.4 s)
SELECT is((SELECT array_agg(mt.rate_limit('search', 1, 3)) FROM generate_series(1, 5)),
          ARRAY[true, true, true, false, false], 'no tenant: a burst of 3, then refused');
SELECT pg_sleep(1.2);
SELECT is((SELECT array_agg(mt.rate_limit('search', 1, 3)) FROM generate_series(1, 3)),
          ARRAY[true, false, false], 'after 1.2 s at 1/s: one more (the refused calls did not count)');
SELECT pg_sleep(2.1);
SELECT ok((SELECT count(*) FROM generate_series(1, 10) WHERE mt.rate_limit('search', 1, 3)) BETWEEN 2 AND 3,
          'after 2.1 s more: two more (three on a slow machine)');

SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT is((SELECT array_agg(mt.rate_limit('search', 10, 2)) FROM generate_series(1, 3)),
          ARRAY[true, true, false], 'acme has its own bucket');
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered \gset
SELECT is((SELECT array_agg(mt.rate_limit('search', 10, 2)) FROM generate_series(1, 3)),
          ARRAY[true, true, false], 'globex has its own bucket');
SELECT ok(mt.rate_limit('other', 10, 2), 'another bucket name is another bucket');

-- a slow rate: one call per 100 s
SELECT is((SELECT array_agg(mt.rate_limit('slow', 0.01, 1)) FROM generate_series(1, 2)),
          ARRAY[true, false], 'burst 1 at 0.01/s');
-- changing the parameters of a bucket takes effect at once
SELECT ok(mt.rate_limit('slow', 0.01, 100), 'a larger burst admits more at once');

-- bounded table: far more buckets than multitenant.max_rate_limits
RESET multitenant.token;
SELECT is((SELECT count(*)::int FROM generate_series(1, 12000) g WHERE mt.rate_limit('ip:' || g, 1000000, 1)),
          12000, 'idle buckets are evicted: 12000 distinct buckets all admitted');
-- busy buckets are never evicted: the callers without a tenant hold at most
-- their share (multitenant.tenant_rate_limit_share, 10 % = 1000 buckets)
SELECT is((SELECT count(*)::int FROM generate_series(1, 990) g WHERE mt.rate_limit('busy:' || g, 0.001, 1)),
          990, 'busy buckets within the share are admitted');
SELECT throws_ok($$SELECT count(mt.rate_limit('busy:' || g, 0.001, 1)) FROM generate_series(991, 1100) g$$,
                 '53400', 'too many rate-limit buckets for this tenant',
                 'past the share a new bucket is refused (53400), nothing is evicted');
SELECT throws_ok($$SELECT mt.rate_limit('x', 1e7, 1)$$, '22023', NULL, 'per_second above 1e6 refused');

SELECT * FROM finish();
