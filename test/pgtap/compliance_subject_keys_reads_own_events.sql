-- MT-SEC-001 (mt.run_compliance_checks) tries every subject key of a
-- tenant whose sampled key does not unwrap and counts the events encrypted
-- under the failing ones, per tenant.  Since 0.8.0 no index of
-- mt.audit_log holds all of a tenant's events (audit_log_chain: sealed
-- ones, audit_log_unsealed: the unsealed tail), and "WHERE tenant_id = $1"
-- read the whole table once per failing tenant: after a restore without
-- the server secret (every tenant fails) that is tenants x events.  The
-- count reads the tenant's sealed part and unsealed tail through their
-- indexes, and still counts both.
\set ON_ERROR_STOP 1
\set QUIET 1
\i sql/include/audit_big_neighbour.psql
BEGIN;
SELECT mt.set_tenant(:'acme');
SELECT mt.audit('profile.update', 'user', 'u1', '{"email": "finn@example.com"}', 'finn') AS sec1 \gset
COMMIT;
SELECT mt.audit_seal() > 0 AS sealed \gset
\set QUIET 0

SELECT plan(3);

\i sql/include/audit_log_reads.psql

-- one transaction: the worker cannot seal the event appended here
BEGIN;
\set QUIET 1
SELECT mt.set_tenant(:'acme');
SELECT mt.audit('profile.update', 'user', 'u1', '{"email": "finn@example.org"}', 'finn') AS sec2 \gset
RESET multitenant.token;
UPDATE mt.audit_subject_keys SET wrapped_key = set_byte(wrapped_key, 40, get_byte(wrapped_key, 40) # 1)
WHERE id = (SELECT details_key_id FROM mt.audit_log WHERE id = :sec1);
\set QUIET 0
SELECT is((SELECT count(*) FILTER (WHERE seq IS NULL) || ' unsealed, ' || count(*) FILTER (WHERE seq IS NOT NULL) || ' sealed'
           FROM mt.audit_log WHERE tenant_id = :'acme' AND details_key_id IS NOT NULL),
          '1 unsealed, 1 sealed', 'the tenant has an encrypted sealed event and an encrypted unsealed one');
SELECT cmp_ok(pg_temp.audit_log_reads($$SELECT count(*) FROM mt.run_compliance_checks()$$),
              '<', 200::bigint,
              'MT-SEC-001 counts the events of a failing tenant with a few events, not the 20,000 of another');
SELECT is((SELECT (details -> 'audit_subject_keys' ->> 'keys_unreadable') || ' ' || (details -> 'audit_subject_keys' ->> 'events_unreadable')
           FROM mt.run_compliance_checks() WHERE check_id = 'MT-SEC-001'),
          '1 2', 'MT-SEC-001 counts the unreadable events, sealed and unsealed');
\set QUIET 1
UPDATE mt.audit_subject_keys SET wrapped_key = set_byte(wrapped_key, 40, get_byte(wrapped_key, 40) # 1)
WHERE id = (SELECT details_key_id FROM mt.audit_log WHERE id = :sec1);
\set QUIET 0
COMMIT;

SELECT * FROM finish();
