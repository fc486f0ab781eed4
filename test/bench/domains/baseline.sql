\set i random(1, 1000)
SELECT tenant_id FROM bench_domains WHERE host = 'tenant-' || :i || '.example.com';
