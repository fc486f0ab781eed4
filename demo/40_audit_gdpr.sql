\pset footer off
\set QUIET on
SELECT id AS acme FROM mt.tenants WHERE slug = 'acme' \gset
\echo
\echo '--- 6. Tamper-evident audit log --------------------------------------'
BEGIN;
SELECT mt.set_tenant(:'acme') IS NOT NULL AS entered \gset
SELECT mt.audit('invoice.paid', 'invoice', 'inv-42', '{"amount": 99}') AS e1 \gset
SELECT mt.audit('user.login', 'user', 'alice', '{"ip": "192.0.2.7"}', 'alice@acme.test') AS e2 \gset
COMMIT;
SELECT seq, action, resource_id, left(encode(hash, 'hex'), 16) || '...' AS hash
FROM mt.audit_log WHERE tenant_id = :'acme' ORDER BY seq;
SELECT tenant_id = :'acme' AS acme, ok, rows_checked FROM mt.audit_verify(:'acme');
\echo 'A superuser edits a row behind the triggers...'
ALTER TABLE mt.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE mt.audit_log SET details = '{"amount": 9}' WHERE action = 'invoice.paid';
ALTER TABLE mt.audit_log ENABLE TRIGGER audit_log_append_only;
\echo '...and verification names the first bad row:'
SELECT ok, rows_checked, first_bad_id = :'e1' AS first_bad_is_the_edited_row, problem FROM mt.audit_verify(:'acme');
ALTER TABLE mt.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE mt.audit_log SET details = '{"amount": 99}' WHERE action = 'invoice.paid';
ALTER TABLE mt.audit_log ENABLE TRIGGER audit_log_append_only;
SELECT ok AS repaired_chain_verifies FROM mt.audit_verify(:'acme');

\echo
\echo '--- 7. GDPR: export and erasure in one call each ----------------------'
CREATE TABLE customers (id int GENERATED ALWAYS AS IDENTITY, email text NOT NULL, full_name text);
SELECT mt.enable_isolation('customers') \gset
CREATE INDEX ON customers (tenant_id, email);
SELECT mt.register_subject('customers', 'email', 'anonymize', '{full_name}') \gset
BEGIN;
SELECT mt.set_tenant(:'acme') IS NOT NULL AS entered \gset
INSERT INTO customers (email, full_name) VALUES ('alice@acme.test', 'Alice Liddell'), ('bob@acme.test', 'Bob');
SELECT mt.record_consent('alice@acme.test', 'newsletter', true, 'v1', 'signup form') \gset
\echo 'Export (access / portability):'
SELECT jsonb_pretty(jsonb_build_object(
    'tables', mt.gdpr_export('alice@acme.test') -> 'tables',
    'consents', jsonb_path_query_array(mt.gdpr_export('alice@acme.test') -> 'consents', '$[*].purpose'),
    'audit_events', jsonb_path_query_array(mt.gdpr_export('alice@acme.test') -> 'audit_events', '$[*].details'))) AS export;
\echo 'Erasure receipt (no personal data in it):'
SELECT jsonb_pretty(mt.gdpr_erase('alice@acme.test') - 'tables') AS receipt;
SELECT email, full_name FROM customers ORDER BY id;
COMMIT;
SELECT bool_and(ok) AS every_audit_chain_still_verifies FROM mt.audit_verify();
