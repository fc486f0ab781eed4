-- mt.usage_export(): closed hours only, in cursor order, each record once
-- with a deterministic idempotency key; a replayed cursor returns the same
-- records; late usage for an exported hour is a new version with the
-- corrected total (the earlier version is never changed); bad input and
-- callers without the privilege are refused.  Past hours are written into
-- mt.usage_rollup the way a late flush writes them (INSERT ... ON CONFLICT
-- DO UPDATE SET value = value + n).
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme', 'starter') AS acme \gset
DROP ROLE IF EXISTS mt_billing_app;
CREATE ROLE mt_billing_app NOLOGIN;
CREATE FUNCTION pg_temp.late(t uuid, m text, b timestamptz, v bigint) RETURNS void
    LANGUAGE sql AS $$
    INSERT INTO mt.usage_rollup AS r (tenant_id, metric, bucket, value) VALUES (t, m, b, v)
    ON CONFLICT (tenant_id, metric, bucket) DO UPDATE SET value = r.value + excluded.value $$;
-- the records a biller has received, in the order received
CREATE TABLE pg_temp.got AS SELECT * FROM mt.usage_export(0) LIMIT 0;
CREATE FUNCTION pg_temp.pull() RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO got SELECT * FROM mt.usage_export(coalesce((SELECT max(cursor) FROM got), 0))
    RETURNING 1 $$;
\set QUIET 0

SELECT plan(22);

-- usage of the current hour is not closed yet
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT mt.track('api_calls', 7);
RESET multitenant.token;
SELECT is((SELECT count(*) FROM mt.usage_export(0) WHERE period_end > clock_timestamp()), 0::bigint,
          'an hour that has not ended is not exported');

-- three ended hours of two tenants
SELECT pg_temp.late('00000000-0000-4000-8000-000000000001', 'api_calls', '2026-01-05 10:00+00', 40);
SELECT pg_temp.late('00000000-0000-4000-8000-000000000001', 'api_calls', '2026-01-05 11:00+00', 5);
SELECT pg_temp.late(:'acme', 'exports', '2026-01-05 10:00+00', 3);
SELECT pg_temp.pull();
SELECT is((SELECT count(*) FROM got), 3::bigint, 'three closed periods exported');
SELECT is((SELECT array_agg(quantity ORDER BY cursor) FROM got), '{40,3,5}'::bigint[],
          'in cursor order: by hour, then tenant');
SELECT ok((SELECT bool_and(version = 1 AND period_end = period_start + interval '1 hour') FROM got),
          'version 1, one-hour periods');
SELECT is((SELECT idempotency_key FROM got WHERE tenant_id = '00000000-0000-4000-8000-000000000001'
                                              AND period_start = '2026-01-05 10:00+00'),
          'mtu1_d93d880f2302773425c74d1ea7f521d3cf41b4582e9790a342f3b3a4e5f89321',
          'idempotency key = sha256 of tenant/metric/period start UTC/version (computed outside the database)');
SELECT is((SELECT count(DISTINCT cursor) FROM got), 3::bigint, 'cursors are distinct');

-- nothing new: nothing returned, however often asked
SELECT is(pg_temp.pull(), NULL::bigint, 'an export after the last cursor is empty when nothing changed');
SELECT is(pg_temp.pull(), NULL::bigint, 'and again');

-- a replay returns the same records
SELECT set_eq('SELECT * FROM mt.usage_export(0)', 'SELECT * FROM got', 'a replay from 0 returns the same records');
SELECT results_eq(format('SELECT * FROM mt.usage_export(%s)', (SELECT min(cursor) FROM got)),
                  format('SELECT * FROM got WHERE cursor > %s ORDER BY cursor', (SELECT min(cursor) FROM got)),
                  'a replay from a cursor returns the same records after it, in order');
SELECT results_eq(format('SELECT * FROM mt.usage_export(0, 2)'),
                  'SELECT * FROM got ORDER BY cursor LIMIT 2', 'max_rows pages');

-- late usage for an exported hour: version 2 with the corrected total
SELECT pg_temp.late('00000000-0000-4000-8000-000000000001', 'api_calls', '2026-01-05 10:00+00', 2);
SELECT pg_temp.pull();
SELECT is((SELECT count(*) FROM got), 4::bigint, 'a late correction is one new record');
SELECT is((SELECT quantity || ' v' || version FROM got ORDER BY cursor DESC LIMIT 1), '42 v2',
          'it carries the corrected total as version 2');
SELECT isnt((SELECT idempotency_key FROM got WHERE version = 2),
            (SELECT idempotency_key FROM got WHERE version = 1 AND quantity = 40),
            'with its own idempotency key');
SELECT is((SELECT quantity FROM mt.usage_export(0) WHERE version = 1 AND tenant_id = '00000000-0000-4000-8000-000000000001'
                                                   AND period_start = '2026-01-05 10:00+00'), 40::bigint,
          'version 1 is unchanged');
-- writing the same total again is no correction
UPDATE mt.usage_rollup SET value = value WHERE bucket = '2026-01-05 10:00+00';
SELECT is(pg_temp.pull(), NULL::bigint, 'rewriting an unchanged total adds no version');

-- only READ COMMITTED writers of the rollup (commit order of cursors)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT throws_ok($$SELECT pg_temp.late('00000000-0000-4000-8000-000000000001', 'api_calls', '2026-01-05 10:00+00', 1)$$,
                 '0A000', NULL, 'a REPEATABLE READ write of the rollup is refused');
ROLLBACK;

-- bad input
SELECT throws_ok('SELECT * FROM mt.usage_export(NULL)', '22004', NULL, 'NULL cursor refused');
SELECT throws_ok('SELECT * FROM mt.usage_export(-1)', '22023', NULL, 'negative cursor refused');
SELECT throws_ok('SELECT * FROM mt.usage_export(0, 0)', '22023', NULL, 'max_rows 0 refused');

-- privileges: the billing role only
SET ROLE mt_billing_app;
SELECT throws_ok('SELECT * FROM mt.usage_export(0)', '42501', NULL, 'an application role cannot export');
SELECT throws_ok('SELECT * FROM mt.usage_export_log', '42501', NULL, 'nor read the export log');
RESET ROLE;

SELECT * FROM finish();
DROP ROLE mt_billing_app;
