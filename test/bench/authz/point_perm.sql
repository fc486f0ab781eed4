\set t random(1, 1000)
\set k random(1, 999)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = :t;
SELECT amount FROM orders_perm WHERE id = :k * 1000 + :t - 1;
END;
