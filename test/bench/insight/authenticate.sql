\set i random(1, 1000)
SELECT mt.authenticate(k) FROM bench_tenants WHERE i = :i;
