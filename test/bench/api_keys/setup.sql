-- 1,000 tenants with one API key each; bcrypt (cost 10) hashes of the first
-- 100 keys for the reference measurement (pgcrypto crypt(), as many stacks
-- store API keys).
CREATE EXTENSION IF NOT EXISTS multitenant;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
SELECT mt.reset_api_key_throttle();
CREATE TABLE bench_keys (i int PRIMARY KEY, tid uuid NOT NULL, k text NOT NULL, bcrypt_hash text);
INSERT INTO bench_keys (i, tid, k)
SELECT i, t, mt.create_api_key(t, 'bench')
FROM (SELECT i, mt.create_tenant('Tenant ' || i, 'tenant-' || i) AS t FROM generate_series(1, 1000) i) s;
UPDATE bench_keys SET bcrypt_hash = crypt(k, gen_salt('bf', 10)) WHERE i <= 100;
VACUUM ANALYZE bench_keys, mt.api_key_secrets, mt.tenants;
