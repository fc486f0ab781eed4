\set i random(1, 1000)
SELECT mt.tenant_by_host('tenant-' || :i || '.example.com');
