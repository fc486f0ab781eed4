-- mt.invoice_preview(): October 2026 (31 days) priced for a tenant on each
-- built-in plan, for a tenant that changed plan mid-month and for one
-- created mid-month, against amounts computed by hand (below each case);
-- the plan history written by the trigger on mt.tenants; bad input.
-- Prices set for the test: starter api_calls 10 cents per 1,000 calls over
-- its 10,000 a day; pro bandwidth_bytes 5 cents per GiB over its 1 TiB a
-- month; enterprise api_calls 1,000 a day included (hard limit unlimited),
-- 0.01 cents per call over.
\set ON_ERROR_STOP 1
\set QUIET 1
UPDATE mt.plan_limits SET overage_price_cents = 10, overage_unit = 1000
 WHERE plan = 'starter' AND metric = 'api_calls';
UPDATE mt.plan_limits SET overage_price_cents = 5, overage_unit = 1::bigint << 30
 WHERE plan = 'pro' AND metric = 'bandwidth_bytes';
UPDATE mt.plan_limits SET included = 1000, overage_price_cents = 0.01, overage_unit = 1
 WHERE plan = 'enterprise' AND metric = 'api_calls';
SELECT mt.create_tenant('Free', 'free-t', 'free') AS free \gset
SELECT mt.create_tenant('Starter', 'starter-t', 'starter') AS starter \gset
SELECT mt.create_tenant('Pro', 'pro-t', 'pro') AS pro \gset
SELECT mt.create_tenant('Enterprise', 'ent-t', 'enterprise') AS ent \gset
SELECT mt.create_tenant('Mover', 'mover', 'starter') AS mover \gset
SELECT mt.create_tenant('Late', 'late', 'starter') AS late \gset
-- their plans since before October; the mover went to pro on Oct 16 00:00,
-- the late one joined on Oct 21 00:00
UPDATE mt.tenant_plan_history SET valid_from = '2026-09-15 00:00+00' WHERE tenant_id <> :'late';
UPDATE mt.tenant_plan_history SET valid_from = '2026-10-21 00:00+00' WHERE tenant_id = :'late';
INSERT INTO mt.tenant_plan_history VALUES (:'mover', 'pro', '2026-10-16 00:00+00');
CREATE FUNCTION pg_temp.used(t uuid, m text, b timestamptz, v bigint) RETURNS void
    LANGUAGE sql AS $$ INSERT INTO mt.usage_rollup VALUES (t, m, b, v) $$;
SELECT pg_temp.used(:'free', 'api_calls', '2026-10-02 09:00+00', 5000);
SELECT pg_temp.used(:'starter', 'api_calls', '2026-10-03 10:00+00', 12500);
SELECT pg_temp.used(:'starter', 'api_calls', '2026-10-04 10:00+00', 9000);
SELECT pg_temp.used(:'starter', 'api_calls', '2026-11-03 10:00+00', 99999);  -- November
SELECT pg_temp.used(:'pro', 'bandwidth_bytes', '2026-10-05 10:00+00', (1::bigint << 40) + (5::bigint << 29));
SELECT pg_temp.used(:'ent', 'api_calls', '2026-10-10 10:00+00', 1500);
SELECT pg_temp.used(:'ent', 'api_calls', '2026-10-11 10:00+00', 800);
SELECT pg_temp.used(:'mover', 'api_calls', '2026-10-03 10:00+00', 12500);
SELECT pg_temp.used(:'mover', 'bandwidth_bytes', '2026-10-20 10:00+00', 600::bigint << 30);
DROP ROLE IF EXISTS mt_invoice_app;
CREATE ROLE mt_invoice_app NOLOGIN;
CREATE FUNCTION pg_temp.inv(t uuid) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT mt.invoice_preview(t, '2026-10-01 00:00+00') $$;
\set QUIET 0

SELECT plan(19);

-- free: $0, usage over the limit has no price
SELECT is((pg_temp.inv(:'free')->>'total_cents')::numeric, 0::numeric, 'free: 0');
-- starter: 2900 + Oct 3 12,500 - 10,000 = 2,500 over -> 3 units of 1,000 -> 30; Oct 4 under
SELECT is((pg_temp.inv(:'starter')->>'total_cents')::numeric, 2930::numeric, 'starter: 2900 + 30 = 2930');
SELECT is(pg_temp.inv(:'starter')->'segments'->0->'overage'->0->>'units', '3', 'starter: 3 units of overage');
-- pro: 9900 + (1 TiB + 2.5 GiB) - 1 TiB = 2.5 GiB -> 3 GiB units -> 15
SELECT is((pg_temp.inv(:'pro')->>'total_cents')::numeric, 9915::numeric, 'pro: 9900 + 15 = 9915');
-- enterprise: 49900 + Oct 10 1,500 - 1,000 = 500 calls x 0.01 = 5; Oct 11 under
SELECT is((pg_temp.inv(:'ent')->>'total_cents')::numeric, 49905::numeric, 'enterprise: 49900 + 5 = 49905');
SELECT is(pg_temp.inv(:'ent')->'segments'->0->'overage'->0->>'included', '31000.00',
          'enterprise: included = 1,000 a day x 31 days (hard limit unlimited)');
-- mover: starter Oct 1-15 (15/31), pro Oct 16-31 (16/31)
--   base: round(2900 x 15/31 = 1403.23) = 1403, round(9900 x 16/31 = 5109.68) = 5110
--   starter api_calls Oct 3: 2,500 over -> 30
--   pro bandwidth: allowance 1024 GiB x 16/31 = 528.52 GiB, used 600 GiB -> 71.48 over -> 72 units -> 360
SELECT is(jsonb_array_length(pg_temp.inv(:'mover')->'segments'), 2, 'mover: two segments');
SELECT is((SELECT array_agg(s->>'plan' || ':' || (s->>'base_cents'))
             FROM jsonb_array_elements(pg_temp.inv(:'mover')->'segments') s),
          '{starter:1403,pro:5110}'::text[], 'mover: base prorated by seconds');
SELECT is(pg_temp.inv(:'mover')->'segments'->1->'overage'->0->>'units', '72', 'mover: 72 GiB over the prorated allowance');
SELECT is((pg_temp.inv(:'mover')->>'total_cents')::numeric, 6903::numeric, 'mover: 1403 + 5110 + 30 + 360 = 6903');
-- late: starter from Oct 21: round(2900 x 11/31 = 1029.03) = 1029
SELECT is((pg_temp.inv(:'late')->>'total_cents')::numeric, 1029::numeric, 'late: 1029 (11 of 31 days)');
-- November for starter: only the base (its Oct usage stays in October), 99,999 - 10,000 over -> 90 units
SELECT is((mt.invoice_preview(:'starter', '2026-11-01 00:00+00')->>'total_cents')::numeric, 2900 + 900::numeric,
          'starter November: 2900 + 90 units x 10 = 3800');

-- the history written by the trigger
UPDATE mt.tenants SET plan = 'pro' WHERE id = :'free';
SELECT is((SELECT plan FROM mt.tenant_plan_history WHERE tenant_id = :'free' ORDER BY valid_from DESC LIMIT 1),
          'pro', 'a plan change is recorded');
UPDATE mt.tenants SET plan = 'pro', name = 'Free2' WHERE id = :'free';
SELECT is((SELECT count(*) FROM mt.tenant_plan_history WHERE tenant_id = :'free'), 2::bigint,
          'the same plan again adds nothing');

-- bad input
SELECT throws_ok($$SELECT mt.invoice_preview(NULL, '2026-10-01 00:00+00')$$, '22004', NULL, 'NULL tenant refused');
SELECT throws_ok(format('SELECT mt.invoice_preview(%L, NULL)', :'pro'), '22004', NULL, 'NULL period refused');
SELECT throws_ok(format('SELECT mt.invoice_preview(%L, %L)', :'pro', '2026-10-02 00:00+00'), '22023', NULL,
                 'a period that is not the start of a UTC month is refused');
SELECT throws_ok($$SELECT mt.invoice_preview('00000000-0000-4000-8000-00000000dead', '2026-10-01 00:00+00')$$,
                 '42704', NULL, 'an unknown tenant is refused');
SET ROLE mt_invoice_app;
SELECT throws_ok(format('SELECT mt.invoice_preview(%L, %L)', :'pro', '2026-10-01 00:00+00'), '42501', NULL,
                 'an application role cannot preview invoices');
RESET ROLE;

SELECT * FROM finish();
DROP ROLE mt_invoice_app;
