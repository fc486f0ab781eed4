\set i random(1, 10)
SELECT mt.authenticate(k) FROM bench_keys WHERE i = :i;
