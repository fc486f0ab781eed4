\set t random(1, 100)
\set r random(1, 1000)
BEGIN;
SELECT set_config('multitenant.token', token, true) AS ctx, tid FROM bench_tenants WHERE i = :t \gset
SELECT amount FROM orders WHERE tenant_id = :tid AND id = :r;
END;
