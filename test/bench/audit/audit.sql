\set t random(1, 100)
\set r random(1, 100000)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = :t;
SELECT mt.audit('document.update', 'document', :r::text, '{"field": "title", "ip": "10.0.0.1"}');
END;
