-- mt.detect_anomalies(since), rule new_network: an API key used from a
-- client network (IPv4 /24, IPv6 /48) it was not used from before the
-- window is a finding; a key steady on its network, and a key's very first
-- network, are not.  Networks come from multitenant.client_addr (set here
-- as a superuser, as a gateway would) and reach mt.api_key_networks
-- through the last-use flush (shared memory, no write on mt.authenticate).
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_api_key(:'acme', 'mover') AS kmove \gset
SELECT mt.create_api_key(:'acme', 'steady') AS ksteady \gset
SELECT mt.create_api_key(:'acme', 'fresh') AS kfresh \gset
SELECT mt.create_api_key(:'acme', 'v6') AS kv6 \gset
SELECT mt.api_key_id(:'kmove') AS idmove, mt.api_key_id(:'ksteady') AS idsteady,
       mt.api_key_id(:'kfresh') AS idfresh, mt.api_key_id(:'kv6') AS idv6 \gset
-- before the window: mover on net A, steady on its net, v6 on its /48
SET multitenant.client_addr = '203.0.113.10';
SELECT mt.authenticate(:'kmove') IS NOT NULL AS ok \gset
SET multitenant.client_addr = '198.51.100.20';
SELECT mt.authenticate(:'ksteady') IS NOT NULL AS ok \gset
SET multitenant.client_addr = '2001:db8:abcd:1::1';
SELECT mt.authenticate(:'kv6') IS NOT NULL AS ok \gset
RESET multitenant.client_addr;
SELECT mt.flush_api_key_usage() AS flushed \gset
SELECT clock_timestamp() AS since \gset
-- in the window: mover again on net A, then on net B; steady and v6 on
-- other hosts of their own networks; fresh used for the first time
SET multitenant.client_addr = '203.0.113.99';
SELECT mt.authenticate(:'kmove') IS NOT NULL AS ok \gset
SET multitenant.client_addr = '192.0.2.55';
SELECT mt.authenticate(:'kmove') IS NOT NULL AS ok \gset
SET multitenant.client_addr = '198.51.100.21';
SELECT mt.authenticate(:'ksteady') IS NOT NULL AS ok \gset
SET multitenant.client_addr = '2001:db8:abcd:ffff::2';
SELECT mt.authenticate(:'kv6') IS NOT NULL AS ok \gset
SET multitenant.client_addr = '192.0.2.1';
SELECT mt.authenticate(:'kfresh') IS NOT NULL AS ok \gset
RESET multitenant.client_addr;
SELECT mt.flush_api_key_usage() AS flushed \gset
CREATE TEMP TABLE run1 AS SELECT * FROM mt.detect_anomalies(:'since'::timestamptz);
CREATE TEMP TABLE run2 AS SELECT * FROM mt.detect_anomalies(:'since'::timestamptz);
\set QUIET 0

SELECT plan(10);

SELECT is((SELECT array_agg(network::text ORDER BY network) FROM mt.api_key_networks WHERE key_id = :'idmove'),
          '{192.0.2.0/24,203.0.113.0/24}', 'the flush recorded the mover''s two networks as /24s');
SELECT is((SELECT array_agg(network::text) FROM mt.api_key_networks WHERE key_id = :'idv6'),
          '{2001:db8:abcd::/48}', 'IPv6 addresses are grouped by /48');
SELECT ok((SELECT last_seen > :'since'::timestamptz AND first_seen < :'since'::timestamptz
           FROM mt.api_key_networks WHERE key_id = :'idmove' AND network = '203.0.113.0/24'),
          'a network used again keeps its first use and advances its last');
SELECT is((SELECT count(*)::int FROM run1 WHERE rule = 'new_network' AND subject = :'idmove'
           AND client = '192.0.2.0/24' AND tenant_id = :'acme'), 1,
          'the mover used from a new network is a finding (key, tenant, network)');
SELECT ok((SELECT (evidence->>'key_id') = :'idmove' AND (evidence->>'network') = '192.0.2.0/24'
                  AND (evidence->>'first_seen')::timestamptz >= :'since'::timestamptz
                  AND (evidence->>'known_networks')::int = 1
           FROM run1 WHERE rule = 'new_network' AND subject = :'idmove'),
          'with the key, the network, its first use and the networks known before as evidence');
SELECT is((SELECT count(*)::int FROM run1 WHERE subject = :'idsteady'), 0,
          'a key steady on its network (another host of the same /24) is no finding');
SELECT is((SELECT count(*)::int FROM run1 WHERE subject = :'idv6'), 0,
          'another host of the same IPv6 /48 is no finding');
SELECT is((SELECT count(*)::int FROM run1 WHERE subject = :'idfresh'), 0,
          'a key''s very first network is no finding');
SELECT ok((SELECT bool_and(new) FROM run1) AND (SELECT count(*) FROM run1) = 1,
          'the first run: 1 finding, new');
SELECT ok((SELECT NOT bool_or(new) FROM run2) AND (SELECT count(*) FROM run2) = 1,
          'the second run: the same finding, not new');

SELECT * FROM finish();
