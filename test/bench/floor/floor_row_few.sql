\set i random(1, 10)
SELECT left(k, 1) FROM bench_keys WHERE i = :i;
