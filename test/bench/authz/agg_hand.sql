\set t random(1, 1000)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = :t;
SELECT count(*), sum(amount) FROM orders_hand;
END;
