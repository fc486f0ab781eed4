-- mt.detect_anomalies(since): planted patterns fire, with evidence, and
-- near misses do not.  Planted (as the owner, straight into the tables the
-- rules read) relative to S, an hour 30 hours ago:
--   * 30 failed authentications from 203.0.113.7 with key k_burst of Acme
--     within one minute -> failure bursts per client, key and tenant;
--     5 failures from 198.51.100.1 -> nothing;
--   * Spiky: 168 hours of about 100 calls an hour, then 5000 in hour S ->
--     usage_spike; Steady: the same baseline, then 104 -> nothing;
--   * Nightowl: active at every hour of the day but hod(S)-1 .. hod(S)+1,
--     then 150 calls in hour S -> off_hours only (150 is no spike).
-- A second run finds the same, none of it new; refused for PUBLIC.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Spiky', 'spiky') AS spiky \gset
SELECT mt.create_tenant('Steady', 'steady') AS steady \gset
SELECT mt.create_tenant('Nightowl', 'nightowl') AS nightowl \gset
SELECT pg_catalog.date_trunc('hour', now(), 'UTC') - interval '30 hours' AS s \gset
INSERT INTO mt.security_event_log (at, tenant_id, kind, client, subject, detail)
SELECT :'s'::timestamptz + interval '10 minutes' + g * interval '1 second', :'acme', 'auth_failed',
       '203.0.113.7', 'k_burst', 'API key refused'
FROM generate_series(1, 30) g;
INSERT INTO mt.security_event_log (at, tenant_id, kind, client, subject, detail)
SELECT :'s'::timestamptz + g * interval '20 minutes', NULL, 'auth_failed', '198.51.100.1', NULL, 'malformed API key'
FROM generate_series(1, 5) g;
INSERT INTO mt.usage_rollup (tenant_id, metric, bucket, value)
SELECT t, 'api_calls', :'s'::timestamptz - h * interval '1 hour', 100 + (h % 7) - 3
FROM unnest(ARRAY[:'spiky', :'steady']::uuid[]) t, generate_series(1, 168) h;
INSERT INTO mt.usage_rollup (tenant_id, metric, bucket, value) VALUES
    (:'spiky', 'api_calls', :'s', 5000), (:'steady', 'api_calls', :'s', 104);
INSERT INTO mt.usage_rollup (tenant_id, metric, bucket, value)
SELECT :'nightowl', 'api_calls', b, 100
FROM (SELECT :'s'::timestamptz - h * interval '1 hour' AS b FROM generate_series(1, 168) h) x
WHERE abs(((extract(hour FROM b AT TIME ZONE 'UTC') - extract(hour FROM :'s'::timestamptz AT TIME ZONE 'UTC'))::int + 36) % 24 - 12) > 1;
INSERT INTO mt.usage_rollup (tenant_id, metric, bucket, value) VALUES (:'nightowl', 'api_calls', :'s', 150);
CREATE TEMP TABLE run1 AS SELECT * FROM mt.detect_anomalies(:'s'::timestamptz);
CREATE TEMP TABLE run2 AS SELECT * FROM mt.detect_anomalies(:'s'::timestamptz);
DROP ROLE IF EXISTS anomaly_app;
CREATE ROLE anomaly_app;
\set QUIET 0

SELECT plan(12);

SELECT is((SELECT count(*)::int FROM run1 WHERE rule = 'failure_burst_client' AND client = '203.0.113.7'), 1,
          'a burst of 30 failures from one address fires');
SELECT is((SELECT (evidence->>'failures')::int FROM run1 WHERE rule = 'failure_burst_client'), 30,
          'with the failure count as evidence');
SELECT is((SELECT count(*)::int FROM run1 WHERE rule = 'failure_burst_key' AND subject = 'k_burst' AND tenant_id = :'acme'), 1,
          'the burst fires per key');
SELECT is((SELECT count(*)::int FROM run1 WHERE rule = 'failure_burst_tenant' AND tenant_id = :'acme'), 1,
          'and per tenant');
SELECT is((SELECT count(*)::int FROM run1 WHERE client = '198.51.100.1'), 0, 'five scattered failures do not fire');
SELECT ok((SELECT score > 10 AND (evidence->>'value')::int = 5000 AND (evidence->>'baseline_mean')::numeric BETWEEN 99 AND 101
           FROM run1 WHERE rule = 'usage_spike' AND tenant_id = :'spiky'),
          'Spiky''s 5000 calls over a mean of 100 is a usage spike, scored in standard deviations');
SELECT is((SELECT count(*)::int FROM run1 WHERE tenant_id = :'steady'), 0, 'Steady''s 104 calls fire nothing');
SELECT is((SELECT array_agg(rule)::text FROM run1 WHERE tenant_id = :'nightowl'), '{off_hours}',
          'Nightowl''s 150 calls at an hour it never used are off-hours (and no spike)');
SELECT ok((SELECT bool_and(new) FROM run1) AND (SELECT count(*) FROM run1) = 5, 'the first run: 5 findings (3 bursts, a spike, off-hours), all new');
SELECT ok((SELECT NOT bool_or(new) FROM run2) AND (SELECT count(*) FROM run2) = 5, 'the second run: the same 5, none new');
SELECT is((SELECT count(*)::int FROM mt.anomaly_findings), 5, 'mt.anomaly_findings holds each finding once');
SET ROLE anomaly_app;
SELECT throws_ok($$SELECT * FROM mt.detect_anomalies()$$, '42501', NULL, 'PUBLIC cannot run the detection');
RESET ROLE;

SELECT * FROM finish();
