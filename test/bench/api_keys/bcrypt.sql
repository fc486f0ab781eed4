\set i random(1, 100)
SELECT crypt(k, bcrypt_hash) = bcrypt_hash FROM bench_keys WHERE i = :i;
