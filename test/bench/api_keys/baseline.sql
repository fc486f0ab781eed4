\set i random(1, 1000)
SELECT 1 FROM bench_keys WHERE i = :i;
