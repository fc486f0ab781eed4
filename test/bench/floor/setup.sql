-- The floor of the hot paths (issue "Performance", "The other hot paths"):
-- one hot tenant with a huge daily api_calls quota (so mt.consume() really
-- checks a hard limit; tokens minted in advance), and 1,000 tenants with
-- one API key each.  The keys' tenants are on the pro plan (api_calls:
-- 80,000 a day before the soft limit's alert): the free plan's soft limit
-- (800 a day) would be crossed by every tenant inside the measured runs,
-- and each first crossing writes an alert row and a NOTIFY (once per
-- tenant and day, doc/usage.md), which is not the per-call cost this line
-- measures.
CREATE EXTENSION IF NOT EXISTS multitenant;
SELECT mt.reset_api_key_throttle();
CREATE TABLE bench_hot (token text NOT NULL);
INSERT INTO bench_hot
SELECT mt.tenant_token(t, '2 hours')
FROM (SELECT mt.create_tenant('Hot', 'floor-hot', 'pro') AS t) s;
CREATE TABLE bench_keys (i int PRIMARY KEY, tid uuid NOT NULL, k text NOT NULL);
INSERT INTO bench_keys (i, tid, k)
SELECT i, t, mt.create_api_key(t, 'bench')
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 'floor-' || i, 'pro') AS t FROM generate_series(1, 1000) i) s;
-- the hot tenant's huge daily limit (no soft limit), also for the tenants
-- of keys 1-10: they serve the 10-key line too, whose calls would cross
-- the pro plan's soft limit within the run
SELECT mt.set_quota(t, 'api_calls', 1000000000000000, NULL, 'day')
FROM (SELECT id FROM mt.tenants WHERE slug = 'floor-hot'
      UNION ALL SELECT tid FROM bench_keys WHERE i <= 10) q(t);
VACUUM ANALYZE bench_hot, bench_keys, mt.api_key_secrets, mt.tenants;
