-- mt.export_tenant writes the tenant's audit chain (mt.audit_log) with the
-- rest of its state.  Since 0.8.0 no index of mt.audit_log holds all of a
-- tenant's events (audit_log_chain: sealed ones, audit_log_unsealed: the
-- unsealed tail), and "WHERE tenant_id = $1" read the whole table: the
-- export of a tenant with a few events next to one with 20,000 read all
-- 20,000.  It reads the sealed part and the unsealed tail through their
-- indexes, and still writes every event of the tenant, sealed or not.
\set ON_ERROR_STOP 1
\set QUIET 1
\i sql/include/audit_big_neighbour.psql
BEGIN;
SELECT mt.set_tenant(:'acme');
SELECT mt.audit_many(ARRAY['s.1', 's.2', 's.3']) AS n \gset
COMMIT;
SELECT mt.audit_seal() > 0 AS sealed \gset
\set QUIET 0

SELECT plan(3);

\i sql/include/audit_log_reads.psql

-- one transaction: the worker cannot seal the events appended here
BEGIN;
\set QUIET 1
SELECT mt.set_tenant(:'acme');
SELECT mt.audit_many(ARRAY['u.1', 'u.2']) AS n \gset
RESET multitenant.token;
\set QUIET 0
SELECT is((SELECT count(*) FILTER (WHERE seq IS NULL) || ' unsealed, ' || count(*) FILTER (WHERE seq IS NOT NULL) || ' sealed'
           FROM mt.audit_log WHERE tenant_id = :'acme'),
          '2 unsealed, 4 sealed', 'the tenant has sealed events and an unsealed tail');
SELECT cmp_ok(pg_temp.audit_log_reads(format($$SELECT count(*) FROM mt.export_tenant(%L)$$, :'acme')),
              '<', 200::bigint,
              'exporting a small tenant reads its own audit events, not the 20,000 of another');
SELECT is((SELECT count(*) FROM mt.export_tenant(:'acme') e WHERE e.section = 'row' AND e.name = 'mt.audit_log'),
          (SELECT count(*) FROM mt.audit_log WHERE tenant_id = :'acme'),
          'the export holds every audit event of the tenant, sealed and unsealed');
COMMIT;

SELECT * FROM finish();
