-- A key cache entry keeps the status of the key's tenant under the
-- registry stamp; that status must be one read with the latest snapshot.  In
-- parallel mode (here the leader of a query planned with
-- force_parallel_mode) the status is read with the query's snapshot: the
-- answer may be used for that call (as documented) but never kept, or a
-- suspension older than that snapshot's transaction stays invisible to every
-- later call of this backend until the next registry change.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT mt.reset_api_key_throttle();
SELECT mt.create_tenant('Acme', 'acme-parsnap') AS acme \gset
SELECT mt.create_api_key(:'acme', 'ci') AS key \gset
\i sql/include/crc32.psql
-- the same key id, another secret, a good checksum: read from the table, refused
SELECT pg_temp.with_crc(left(:'key', 21) || repeat('x', 22)) AS wrong \gset
SELECT format('host=127.0.0.1 port=%s dbname=%s user=%s', current_setting('port'), current_database(), current_user) AS tcp \gset
SELECT dblink_connect('b', :'tcp');
\set QUIET 0

SELECT plan(5);

BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT is((SELECT status FROM mt.tenants WHERE id = :'acme'), 'active',
          'this transaction''s snapshot sees the tenant active');
SELECT is((SELECT x FROM dblink('b', format('SELECT mt.suspend_tenant(%L)::text', :'acme')) AS r (x text)), '',
          'another session suspends the tenant and commits');
-- read the key id with the latest snapshot into the cache (twice: the first
-- call takes the relcache invalidation of the suspension, which moves the stamp)
SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', :'wrong'), 'a wrong secret is refused');
SELECT count(*) FROM mt.verify_api_key(:'wrong') AS v;
SET LOCAL force_parallel_mode = on;
-- in parallel mode: the status comes from this transaction's snapshot
SELECT count(*) FROM mt.verify_api_key(:'key') AS v;
COMMIT;

SELECT is_empty(format('SELECT * FROM mt.verify_api_key(%L)', :'key'),
                'a new transaction: the suspended tenant''s key is refused');
SELECT throws_ok(format('SELECT mt.authenticate(%L)', :'key'), '28000', 'invalid API key',
                 'mt.authenticate refuses it too');

SELECT * FROM finish();
