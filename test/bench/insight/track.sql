\set i random(1, 1000)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = :i;
SELECT mt.track('api_calls');
SELECT mt.track('api_calls');
SELECT mt.track('api_calls');
SELECT mt.track('api_calls');
END;
