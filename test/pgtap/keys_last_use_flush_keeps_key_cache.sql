-- The last-use flush writes only mt.api_key_secrets.last_used_at, which no
-- backend caches: it must not empty every backend's key and tenant-status
-- caches (the flush worker runs it every multitenant.flush_interval, and a
-- reset makes every backend read each key again).  A revocation still must:
-- the next mt.authenticate of any key reads its row again.  Observed through
-- the index scans one mt.authenticate adds in its transaction (a cached key
-- reads nothing).
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_api_key(:'acme', 'one') AS key1 \gset
SELECT mt.create_api_key(:'acme', 'two') AS key2 \gset
CREATE FUNCTION pg_temp.scans() RETURNS bigint LANGUAGE sql AS
$$ SELECT pg_stat_get_xact_numscans('mt.api_key_secrets_pkey'::regclass)
        + pg_stat_get_xact_numscans('mt.tenants_pkey'::regclass) $$;
-- the rows mt.authenticate(key) reads, in a transaction of its own
CREATE FUNCTION pg_temp.key_reads(key text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE before bigint := pg_temp.scans();
BEGIN
    PERFORM mt.authenticate(key);
    RETURN pg_temp.scans() - before;
END $$;
\set QUIET 0
SELECT plan(4);

-- warm this backend's caches
BEGIN;
SELECT mt.authenticate(:'key1') IS NOT NULL AS warm \gset
COMMIT;
SELECT pg_temp.key_reads(:'key1') AS cached_reads \gset
SELECT is(:cached_reads::int, 0, 'a cached key is verified without reading its row');

-- the last-use flush (what the worker runs) writes last_used_at
SELECT mt.flush_api_key_usage() AS flushed \gset
SELECT ok((SELECT last_used_at IS NOT NULL FROM mt.api_key_secrets WHERE key_id = mt.api_key_id(:'key1')),
          'the flush wrote the last use');
SELECT pg_temp.key_reads(:'key1') AS reads_after_flush \gset
SELECT is(:reads_after_flush::int, 0, 'after a last-use flush the key is still cached');

-- a revocation (of another key) empties the caches: no cache window
SELECT mt.revoke_api_key(mt.api_key_id(:'key2')) IS NOT NULL AS revoked \gset
SELECT pg_temp.key_reads(:'key1') AS reads_after_revoke \gset
SELECT cmp_ok(:reads_after_revoke::int, '>', 0, 'after a revocation the key row is read again');

SELECT * FROM finish();
