-- Rate-limit buckets are never evicted while busy: one tenant filling
-- multitenant.max_rate_limits with buckets that stay busy must not reset
-- another tenant's limit (the docs promise: eviction never admits a call a
-- kept bucket would refuse).  A tenant gets at most its share of the table
-- (multitenant.tenant_rate_limit_share); past it, its own new buckets are
-- refused with 53400 and everyone else is unaffected.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Victim', 'victim') AS victim \gset
SELECT mt.create_tenant('Attacker', 'attacker') AS attacker \gset
SELECT mt.create_tenant('Bystander', 'bystander') AS bystander \gset
-- new busy buckets (one call per 1000 s); returns how many were refused with 53400
CREATE FUNCTION pg_temp.fill(prefix text, n int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE refused int := 0;
BEGIN
    FOR g IN 1 .. n LOOP
        BEGIN
            PERFORM mt.rate_limit(prefix || g, 0.001, 1);
        EXCEPTION WHEN configuration_limit_exceeded THEN
            refused := refused + 1;
        END;
    END LOOP;
    RETURN refused;
END $$;
\set QUIET 0

SELECT plan(7);

-- the victim uses its burst of 3 (one call per 100 s afterwards)
SELECT mt.set_tenant(:'victim', false) IS NOT NULL AS entered \gset
SELECT is((SELECT array_agg(mt.rate_limit('api', 0.01, 3)) FROM generate_series(1, 4)),
          ARRAY[true, true, true, false], 'victim: a burst of 3, then refused');

-- the attacker fills the table with buckets that stay busy
SELECT mt.set_tenant(:'attacker', false) IS NOT NULL AS entered \gset
SELECT cmp_ok(pg_temp.fill('fill:', current_setting('multitenant.max_rate_limits')::int), '>', 0,
              'the attacker is refused (53400) past its share of the table');

-- every further new bucket of the attacker would evict the bucket closest
-- to idle (the victim's) if busy buckets could be evicted: five rounds
CREATE TEMP TABLE rounds (allowed bool);
SELECT mt.set_tenant(:'attacker', false) IS NOT NULL AS entered \gset
SELECT pg_temp.fill('more1:', 1);
SELECT mt.set_tenant(:'victim', false) IS NOT NULL AS entered \gset
INSERT INTO rounds SELECT mt.rate_limit('api', 0.01, 3);
SELECT mt.set_tenant(:'attacker', false) IS NOT NULL AS entered \gset
SELECT pg_temp.fill('more2:', 1);
SELECT mt.set_tenant(:'victim', false) IS NOT NULL AS entered \gset
INSERT INTO rounds SELECT mt.rate_limit('api', 0.01, 3);
SELECT mt.set_tenant(:'attacker', false) IS NOT NULL AS entered \gset
SELECT pg_temp.fill('more3:', 1);
SELECT mt.set_tenant(:'victim', false) IS NOT NULL AS entered \gset
INSERT INTO rounds SELECT mt.rate_limit('api', 0.01, 3);
SELECT mt.set_tenant(:'attacker', false) IS NOT NULL AS entered \gset
SELECT pg_temp.fill('more4:', 1);
SELECT mt.set_tenant(:'victim', false) IS NOT NULL AS entered \gset
INSERT INTO rounds SELECT mt.rate_limit('api', 0.01, 3);
SELECT is((SELECT count(*)::int FROM rounds WHERE allowed), 0,
          'the victim''s busy bucket is never reset by the attacker''s new buckets (0 extra calls, at most burst promised)');
SELECT is(mt.rate_limit('api', 0.01, 3), false, 'the victim is still refused');

-- others are unaffected: a third tenant creates new buckets
SELECT mt.set_tenant(:'bystander', false) IS NOT NULL AS entered \gset
SELECT is(pg_temp.fill('b:', 50), 0, 'another tenant still creates new buckets');
SELECT is(mt.rate_limit('b:1', 0.001, 1), false, 'and they keep their state');

-- the attacker's own refusals name the share
SELECT mt.set_tenant(:'attacker', false) IS NOT NULL AS entered \gset
SELECT throws_ok($$SELECT mt.rate_limit('one-more', 0.001, 1)$$, '53400', NULL,
                 'the attacker''s new bucket is refused with 53400');

SELECT * FROM finish();
