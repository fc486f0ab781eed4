\set t random(1, 1000)
\set r random(1, 100)
BEGIN;
SELECT set_config('app.tenant_id', tid::text, true) FROM bench_tenants WHERE i = :t;
SELECT payload FROM items WHERE id = (:t - 1) * 100 + :r AND tenant_id = current_setting('app.tenant_id')::uuid;
END;
