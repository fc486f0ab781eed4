\set t random(1, 100)
BEGIN;
SELECT set_config('multitenant.token', token, true) AS ctx, tid FROM bench_tenants WHERE i = :t \gset
SELECT count(*), sum(amount) FROM orders;
END;
