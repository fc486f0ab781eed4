-- A backend notes a key's use in shared memory at most once per
-- multitenant.api_key_last_use_interval for one client network: a later
-- use within that time waits in the backend, and is written by the
-- backend's own flush, or when the backend exits; a use from another
-- network is noted at once (its network too); 0 notes every use.  The
-- setting is a superuser's (42501 for others) within 0 .. 1 h (22023).  Uses
-- come from a second backend (dblink over TCP, network 127.0.0.0/24); the
-- flushes that read shared memory run here.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT mt.create_tenant('Acme', 'acme-lastuse') AS acme \gset
SELECT mt.create_api_key(:'acme', 'pool') AS key \gset
SELECT substr(:'key', 9, 12) AS kid \gset
SELECT format('host=127.0.0.1 port=%s dbname=%s user=%s', current_setting('port'), current_database(), current_user) AS tcp \gset
SELECT dblink_connect('a', :'tcp');
SELECT dblink_exec('a', 'SET multitenant.api_key_last_use_interval = ''1h''');
CREATE FUNCTION pg_temp.use_key(conn text, k text) RETURNS timestamptz LANGUAGE sql AS
$$ SELECT ts FROM dblink(conn, format('SELECT statement_timestamp() FROM (SELECT mt.authenticate(%L)) s', k)) AS r (ts timestamptz) $$;
CREATE FUNCTION pg_temp.last_used(id text) RETURNS timestamptz LANGUAGE sql AS
$$ SELECT last_used_at FROM mt.api_key_secrets WHERE key_id = id $$;
CREATE FUNCTION pg_temp.wait_gone(p int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 400 LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = p) THEN RETURN true; END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END $$;
SELECT pid AS apid FROM dblink('a', 'SELECT pg_backend_pid()') AS r (pid int) \gset
SELECT pg_temp.use_key('a', :'key') AS t1 \gset
SELECT pg_temp.use_key('a', :'key') AS t2 \gset
SELECT mt.flush_api_key_usage() AS n \gset
\set QUIET 0

SELECT plan(14);

SELECT ok(:'t2'::timestamptz > :'t1'::timestamptz, 'two uses of the key from one backend');
SELECT is(pg_temp.last_used(:'kid'), :'t1'::timestamptz,
          'within the interval the second use waits in its backend: the flush writes the first');
SELECT is((SELECT n FROM dblink('a', 'SELECT mt.flush_api_key_usage()') AS r (n bigint)), 1::bigint,
          'the backend''s own flush writes the use that waited in it');
SELECT is(pg_temp.last_used(:'kid'), :'t2'::timestamptz, 'last_used_at is now the second use');

SELECT dblink_exec('a', 'SET multitenant.client_addr = ''198.51.100.7''') AS ok \gset
SELECT pg_temp.use_key('a', :'key') AS t3 \gset
SELECT mt.flush_api_key_usage() AS n \gset
SELECT is(pg_temp.last_used(:'kid'), :'t3'::timestamptz, 'a use from another network is noted at once');
SELECT ok(EXISTS (SELECT 1 FROM mt.api_key_networks WHERE key_id = :'kid' AND network = '198.51.100.0/24'),
          'with its network');

SELECT pg_temp.use_key('a', :'key') AS t4 \gset
SELECT mt.flush_api_key_usage() AS n \gset
SELECT is(pg_temp.last_used(:'kid'), :'t3'::timestamptz, 'the next use from that network waits again');
SELECT dblink_disconnect('a') AS ok \gset
SELECT ok(pg_temp.wait_gone(:apid), 'the backend exits');
SELECT mt.flush_api_key_usage() AS n \gset
SELECT is(pg_temp.last_used(:'kid'), :'t4'::timestamptz, 'a backend that exits notes the use that waited in it');

SELECT dblink_connect('b', :'tcp') AS ok \gset
SELECT dblink_exec('b', 'SET multitenant.api_key_last_use_interval = 0') AS ok \gset
SELECT pg_temp.use_key('b', :'key') AS t5 \gset
SELECT pg_temp.use_key('b', :'key') AS t6 \gset
SELECT mt.flush_api_key_usage() AS n \gset
SELECT is(pg_temp.last_used(:'kid'), :'t6'::timestamptz, 'with an interval of 0 every use is noted');
SELECT dblink_disconnect('b') AS ok \gset

SELECT throws_ok('SET multitenant.api_key_last_use_interval = -1', '22023', NULL, 'a negative interval is refused');
SELECT throws_ok($$SET multitenant.api_key_last_use_interval = '2h'$$, '22023', NULL, 'an interval over an hour is refused');
DROP ROLE IF EXISTS mt_lastuse_app;
CREATE ROLE mt_lastuse_app;
SET ROLE mt_lastuse_app;
SELECT throws_ok($$SET multitenant.api_key_last_use_interval = '1h'$$, '42501', NULL,
                 'a role that is not a superuser cannot set the interval');
SELECT throws_ok($$SELECT set_config('multitenant.api_key_last_use_interval', '0', false)$$, '42501', NULL,
                 'nor through set_config');
RESET ROLE;
DROP ROLE mt_lastuse_app;

SELECT * FROM finish();
