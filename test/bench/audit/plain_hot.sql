\set t 1
\set r random(1, 100000)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM bench_tenants WHERE i = :t;
INSERT INTO plain_log (tenant_id, actor, action, resource_type, resource_id, details)
VALUES (mt.current_tenant(), coalesce(mt.current_subject(), session_user), 'document.update', 'document', :r, '{"field": "title", "ip": "10.0.0.1"}');
END;
