\set t random(1, 1000)
\set r random(1, 100)
BEGIN;
SELECT set_config('multitenant.token', rs, true) FROM idp_tokens WHERE i = :t;
SELECT payload FROM items WHERE id = (:t - 1) * 100 + :r AND tenant_id = mt.current_tenant();
END;
