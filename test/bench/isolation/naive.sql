\set t random(1, 1000)
BEGIN;
SELECT set_config('app.tenant_id', tid::text, true) FROM bench_tenants WHERE i = :t;
SELECT count(*), sum(amount) FROM orders_naive;
END;
