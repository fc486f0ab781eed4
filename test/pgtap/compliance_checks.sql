-- Every compliance check that can be planted inside one session: plant the
-- violation (fail/warn, details name the object), fix it (pass).
-- Server-level checks that need a restart, a new connection or files
-- (ssl, pg_hba, checksums, pgaudit, connection logging) are in
-- test/shell/compliance_server.sh.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE FUNCTION pg_temp.status_of(id text) RETURNS text LANGUAGE sql AS
$$ SELECT status FROM mt.run_compliance_checks() WHERE check_id = id $$;
CREATE FUNCTION pg_temp.details_of(id text) RETURNS text LANGUAGE sql AS
$$ SELECT details::text FROM mt.run_compliance_checks() WHERE check_id = id $$;
DROP ROLE IF EXISTS mt_cc_bypass;
DROP ROLE IF EXISTS mt_cc_md5;
DROP ROLE IF EXISTS mt_cc_viewer;
\set QUIET 0
SELECT plan(85);

SELECT is((SELECT count(*)::int FROM mt.compliance_catalog()), (SELECT count(DISTINCT check_id)::int FROM mt.run_compliance_checks()),
          'every catalogued check runs');
SELECT ok((SELECT bool_and(check_id ~ '^MT-[A-Z]+-[0-9]{3}$' AND cardinality(standards) > 0 AND cardinality(controls) > 0
                           AND severity IN ('high', 'medium', 'low')) FROM mt.compliance_catalog()),
          'every check has a stable id, standards, controls and a severity');

-- MT-ISO-001: a table with a tenant column that is not isolated
CREATE TABLE public.cc_forgotten (id int, tenant_id uuid);
SELECT is(pg_temp.status_of('MT-ISO-001'), 'fail', 'ISO-001 fails on a forgotten tenant table');
SELECT matches(pg_temp.details_of('MT-ISO-001'), 'cc_forgotten', 'ISO-001 names the table');
SELECT mt.enable_isolation('public.cc_forgotten');
SELECT is(pg_temp.status_of('MT-ISO-001'), 'pass', 'ISO-001 passes once it is isolated');

-- MT-ISO-002: protections switched off behind the guard
SET multitenant.allow_unsafe_ddl = on;
ALTER TABLE public.cc_forgotten NO FORCE ROW LEVEL SECURITY;
RESET multitenant.allow_unsafe_ddl;
SELECT is(pg_temp.status_of('MT-ISO-002'), 'fail', 'ISO-002 fails when FORCE was removed');
SELECT matches(pg_temp.details_of('MT-ISO-002'), 'cc_forgotten', 'ISO-002 names the table');
SELECT mt.enable_isolation('public.cc_forgotten');
SELECT is(pg_temp.status_of('MT-ISO-002'), 'pass', 'ISO-002 passes after enable_isolation repaired it');

-- MT-ISO-003: a unique index across tenants
CREATE UNIQUE INDEX cc_email ON public.cc_forgotten (id);
SELECT is(pg_temp.status_of('MT-ISO-003'), 'warn', 'ISO-003 warns on a unique index without the tenant column');
SELECT matches(pg_temp.details_of('MT-ISO-003'), 'cc_email', 'ISO-003 names the index');
DROP INDEX public.cc_email;
CREATE UNIQUE INDEX cc_email ON public.cc_forgotten (tenant_id, id);
SELECT is(pg_temp.status_of('MT-ISO-003'), 'pass', 'ISO-003 passes when the index includes the tenant column');

-- MT-ISO-004: a view owned by a superuser without security_invoker, a matview
CREATE VIEW public.cc_view AS SELECT * FROM public.cc_forgotten;
SELECT is(pg_temp.status_of('MT-ISO-004'), 'fail', 'ISO-004 fails on a bypassing view');
SELECT matches(pg_temp.details_of('MT-ISO-004'), 'cc_view', 'ISO-004 names the view');
ALTER VIEW public.cc_view SET (security_invoker = true);
SELECT is(pg_temp.status_of('MT-ISO-004'), 'pass', 'ISO-004 passes with security_invoker');
CREATE MATERIALIZED VIEW public.cc_mv AS SELECT * FROM public.cc_forgotten;
SELECT is(pg_temp.status_of('MT-ISO-004'), 'fail', 'ISO-004 fails on a materialized view over an isolated table');
DROP MATERIALIZED VIEW public.cc_mv;
SELECT is(pg_temp.status_of('MT-ISO-004'), 'pass', 'ISO-004 passes once it is gone');

-- MT-PRIV-001: login role with BYPASSRLS
CREATE ROLE mt_cc_bypass LOGIN BYPASSRLS;
SELECT is(pg_temp.status_of('MT-PRIV-001'), 'fail', 'PRIV-001 fails on a BYPASSRLS login role');
SELECT matches(pg_temp.details_of('MT-PRIV-001'), 'mt_cc_bypass', 'PRIV-001 names the role');
ALTER ROLE mt_cc_bypass NOBYPASSRLS;
SELECT is(pg_temp.status_of('MT-PRIV-001'), 'pass', 'PRIV-001 passes after NOBYPASSRLS');

-- MT-PRIV-002: PUBLIC execute on a privileged function
GRANT EXECUTE ON FUNCTION mt.tenant_token(uuid, interval, text, text) TO PUBLIC;
SELECT is(pg_temp.status_of('MT-PRIV-002'), 'fail', 'PRIV-002 fails when mt.tenant_token is granted to PUBLIC');
SELECT matches(pg_temp.details_of('MT-PRIV-002'), 'tenant_token', 'PRIV-002 names the function');
REVOKE EXECUTE ON FUNCTION mt.tenant_token(uuid, interval, text, text) FROM PUBLIC;
SELECT is(pg_temp.status_of('MT-PRIV-002'), 'pass', 'PRIV-002 passes after REVOKE');
-- signatures are stored as text (pg_upgrade refuses regprocedure columns);
-- a row that names no function is reported, also one with an unknown type
-- name (which to_regprocedure would raise on), and the check still runs
INSERT INTO mt.privileged_functions VALUES ('mt.no_such_function(uuid)'), ('mt.api_key_id(no_such_type)');
SELECT is(pg_temp.status_of('MT-PRIV-002'), 'fail', 'PRIV-002 fails on a recorded function that no longer exists');
SELECT matches(pg_temp.details_of('MT-PRIV-002'), 'no_such_function.*no such function', 'PRIV-002 names it');
SELECT matches(pg_temp.details_of('MT-PRIV-002'), 'no_such_type', 'PRIV-002 reports a signature with an unknown type');
DELETE FROM mt.privileged_functions WHERE f IN ('mt.no_such_function(uuid)', 'mt.api_key_id(no_such_type)');
SELECT is(pg_temp.status_of('MT-PRIV-002'), 'pass', 'PRIV-002 passes again');

-- MT-PRIV-003: CREATE on schema public for PUBLIC
GRANT CREATE ON SCHEMA public TO PUBLIC;
SELECT is(pg_temp.status_of('MT-PRIV-003'), 'fail', 'PRIV-003 fails when PUBLIC can create in public');
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT is(pg_temp.status_of('MT-PRIV-003'), 'pass', 'PRIV-003 passes after REVOKE');

-- MT-PRIV-004: SECURITY DEFINER without search_path
CREATE FUNCTION public.cc_definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
SELECT is(pg_temp.status_of('MT-PRIV-004'), 'fail', 'PRIV-004 fails on a SECURITY DEFINER function without search_path');
SELECT matches(pg_temp.details_of('MT-PRIV-004'), 'cc_definer', 'PRIV-004 names the function');
ALTER FUNCTION public.cc_definer() SET search_path = pg_catalog, pg_temp;
SELECT is(pg_temp.status_of('MT-PRIV-004'), 'pass', 'PRIV-004 passes with a fixed search_path');

-- MT-SRV-002 / MT-SRV-003: md5 passwords
ALTER SYSTEM SET password_encryption = 'md5';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT is(pg_temp.status_of('MT-SRV-002'), 'fail', 'SRV-002 fails with password_encryption = md5');
SET password_encryption = 'md5';
CREATE ROLE mt_cc_md5 PASSWORD 'not-a-real-password';
RESET password_encryption;
SELECT is(pg_temp.status_of('MT-SRV-003'), 'fail', 'SRV-003 fails on an MD5 password hash');
SELECT matches(pg_temp.details_of('MT-SRV-003'), 'mt_cc_md5', 'SRV-003 names the role');
SET password_encryption = 'scram-sha-256';
ALTER ROLE mt_cc_md5 PASSWORD 'not-a-real-password';
RESET password_encryption;
SELECT is(pg_temp.status_of('MT-SRV-003'), 'pass', 'SRV-003 passes once the password is re-hashed with SCRAM');
ALTER SYSTEM RESET password_encryption;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT is(pg_temp.status_of('MT-SRV-002'), 'pass', 'SRV-002 passes with scram-sha-256');

-- MT-SRV-008: log_line_prefix
ALTER SYSTEM SET log_line_prefix = '%m ';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT is(pg_temp.status_of('MT-SRV-008'), 'warn', 'SRV-008 warns on a prefix without process/db/user/client');
ALTER SYSTEM SET log_line_prefix = '%m [%p] %q%u@%d from %h ';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT is(pg_temp.status_of('MT-SRV-008'), 'pass', 'SRV-008 passes with time, pid, user, database and host');
ALTER SYSTEM RESET log_line_prefix;
SELECT pg_reload_conf();

-- MT-AUD-001: a tampered audit row; MT-AUD-002: no digest yet; MT-AUD-003: no pruning
SELECT mt.create_tenant('Audited', 'audited') AS audited \gset
SELECT mt.set_tenant(:'audited', false);
SELECT mt.audit('invoice.paid', 'invoice', 'inv-1');
RESET multitenant.token;
ALTER TABLE mt.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE mt.audit_log SET resource_id = 'inv-2' WHERE action = 'invoice.paid';
SELECT is(pg_temp.status_of('MT-AUD-001'), 'fail', 'AUD-001 fails on a tampered audit row');
SELECT matches(pg_temp.details_of('MT-AUD-001'), :'audited', 'AUD-001 names the tenant whose chain is broken');
UPDATE mt.audit_log SET resource_id = 'inv-1' WHERE action = 'invoice.paid';
ALTER TABLE mt.audit_log ENABLE TRIGGER audit_log_append_only;
SELECT is(pg_temp.status_of('MT-AUD-001'), 'pass', 'AUD-001 passes once the row is restored');
SELECT is(pg_temp.status_of('MT-AUD-002'), 'fail', 'AUD-002 fails when no digest was ever exported');
SELECT ok(count(*) > 0, 'digest taken') FROM mt.audit_digest();
SELECT is(pg_temp.status_of('MT-AUD-002'), 'pass', 'AUD-002 passes after mt.audit_digest()');
SET multitenant.audit_digest_max_age = '1min';
UPDATE mt.audit_digests SET taken_at = now() - interval '2 minutes';
SELECT is(pg_temp.status_of('MT-AUD-002'), 'fail', 'AUD-002 fails when the last digest is older than the configured age');
RESET multitenant.audit_digest_max_age;
SELECT is(pg_temp.status_of('MT-AUD-003'), 'warn', 'AUD-003 warns when audit pruning never ran nor is scheduled');
SELECT ok(mt.audit_prune('0 seconds') > 0, 'pruning removed old rows');
SELECT is(pg_temp.status_of('MT-AUD-003'), 'pass', 'AUD-003 passes once pruning ran');

-- MT-SEC-001: a subject key the server secret cannot open (here a damaged
-- row; test/shell/audit_details_wrong_secret.sh starts with another secret)
SELECT is(pg_temp.status_of('MT-SEC-001'), 'pass', 'SEC-001 passes without encrypted details');
SELECT mt.set_tenant(:'audited', false);
SELECT mt.audit('profile.update', 'user', 'u1', '{"email": "erin@example.com"}', 'erin') AS sec1 \gset
SELECT mt.audit('profile.update', 'user', 'u1', '{"email": "erin@example.org"}', 'erin') AS sec2 \gset
SELECT mt.audit('profile.update', 'user', 'u2', '{"email": "finn@example.com"}', 'finn') AS sec3 \gset
RESET multitenant.token;
SELECT is(pg_temp.status_of('MT-SEC-001'), 'pass', 'SEC-001 passes when every key opens');
UPDATE mt.audit_subject_keys SET wrapped_key = set_byte(wrapped_key, 40, get_byte(wrapped_key, 40) # 1)
WHERE id = (SELECT details_key_id FROM mt.audit_log WHERE id = :sec1);
SELECT is(pg_temp.status_of('MT-SEC-001'), 'warn', 'SEC-001 warns when a subject key does not unwrap');
SELECT is((SELECT details -> 'offenders' -> 0 ->> 'object' || ' ' || (details -> 'audit_subject_keys' ->> 'keys_unreadable')
                  || ' ' || (details -> 'audit_subject_keys' ->> 'events_unreadable')
           FROM mt.run_compliance_checks() WHERE check_id = 'MT-SEC-001'),
          'tenant ' || :'audited' || ' 1 2', 'SEC-001 names the tenant and counts the unreadable keys and events');
UPDATE mt.audit_subject_keys SET wrapped_key = set_byte(wrapped_key, 40, get_byte(wrapped_key, 40) # 1)
WHERE id = (SELECT details_key_id FROM mt.audit_log WHERE id = :sec1);
SELECT is(pg_temp.status_of('MT-SEC-001'), 'pass', 'SEC-001 passes once the key row is restored');

-- MT-GDPR-001: an overdue request
SELECT mt.set_tenant(:'audited', false);
SELECT mt.gdpr_request('alice@example.com', 'access') AS rid \gset
SELECT is(pg_temp.status_of('MT-GDPR-001'), 'pass', 'GDPR-001 passes while the request is within 30 days');
UPDATE mt.gdpr_requests SET submitted_at = now() - interval '31 days', due_at = now() - interval '1 day' WHERE id = :rid;
SELECT is(pg_temp.status_of('MT-GDPR-001'), 'fail', 'GDPR-001 fails on a request past its due date');
SELECT matches(pg_temp.details_of('MT-GDPR-001'), 'request ' || :rid, 'GDPR-001 names the request');
SELECT ok(mt.gdpr_process(:rid) IS NOT NULL, 'the request is processed');
SELECT is(pg_temp.status_of('MT-GDPR-001'), 'pass', 'GDPR-001 passes once it is processed');

-- MT-GDPR-002: a breach not notified within 72 hours
SELECT mt.report_breach('laptop with exports stolen', now() - interval '4 days') AS bid \gset
SELECT is(pg_temp.status_of('MT-GDPR-002'), 'fail', 'GDPR-002 fails on a breach past its 72-hour deadline');
SELECT matches(pg_temp.details_of('MT-GDPR-002'), 'breach ' || :bid, 'GDPR-002 names the breach');
SELECT mt.record_breach_notification(:bid, 'supervisory authority');
SELECT is(pg_temp.status_of('MT-GDPR-002'), 'pass', 'GDPR-002 passes once the notification is recorded');

-- MT-GDPR-003 / MT-GDPR-004: personal data not registered; no retention
ALTER TABLE public.cc_forgotten ADD COLUMN email text, ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
SELECT is(pg_temp.status_of('MT-GDPR-003'), 'warn', 'GDPR-003 warns on an unregistered email column');
SELECT matches(pg_temp.details_of('MT-GDPR-003'), 'cc_forgotten.email', 'GDPR-003 names the column');
CREATE INDEX ON public.cc_forgotten (tenant_id, email);
SELECT mt.register_subject('public.cc_forgotten', 'email');
SELECT is(pg_temp.status_of('MT-GDPR-003'), 'pass', 'GDPR-003 passes once the table is registered');
SELECT is(pg_temp.status_of('MT-GDPR-004'), 'warn', 'GDPR-004 warns on a registered table without retention');
SELECT matches(pg_temp.details_of('MT-GDPR-004'), 'no retention policy', 'GDPR-004 says why');
SELECT mt.set_retention('public.cc_forgotten', 'created_at', '2 years');
SELECT ok(count(*) > 0, 'retention ran') FROM mt.run_retention();
SELECT is(pg_temp.status_of('MT-GDPR-004'), 'pass', 'GDPR-004 passes once retention is defined and ran');

-- MT-KEY-001..003: keys without expiry, idle, old
SELECT mt.api_key_id(mt.create_api_key(:'audited', 'forever key')) AS kid \gset
SELECT is(pg_temp.status_of('MT-KEY-001'), 'warn', 'KEY-001 warns on a key without expiry');
SELECT matches(pg_temp.details_of('MT-KEY-001'), :'kid', 'KEY-001 names the key id');
SELECT mt.revoke_api_key(:'kid');
SELECT is(pg_temp.status_of('MT-KEY-001'), 'pass', 'KEY-001 passes once it is revoked');
SELECT mt.api_key_id(mt.create_api_key(:'audited', 'old key', '{}', now() + interval '1 year')) AS kid2 \gset
SELECT is(pg_temp.status_of('MT-KEY-002'), 'pass', 'KEY-002 passes for a new key');
UPDATE mt.api_key_secrets SET created_at = now() - interval '100 days' WHERE key_id = :'kid2';
SELECT is(pg_temp.status_of('MT-KEY-002'), 'warn', 'KEY-002 warns on a key unused for 100 days');
SELECT matches(pg_temp.details_of('MT-KEY-002'), :'kid2', 'KEY-002 names the key id');
SET multitenant.api_key_rotation_age = '30d';
SELECT is(pg_temp.status_of('MT-KEY-003'), 'warn', 'KEY-003 warns on a key older than the rotation age');
SELECT ok(mt.rotate_api_key(:'kid2', '0 seconds') IS NOT NULL, 'the key is rotated');
SELECT is(pg_temp.status_of('MT-KEY-003'), 'pass', 'KEY-003 passes after rotation');
RESET multitenant.api_key_rotation_age;

-- MT-USE-001: a tenant over a hard limit (track does not refuse, consume does)
SELECT mt.set_quota(:'audited', 'widgets', 5);
SELECT mt.set_tenant(:'audited', false);
SELECT mt.track('widgets', 7);
RESET multitenant.token;
SELECT is(pg_temp.status_of('MT-USE-001'), 'warn', 'USE-001 warns on a tenant over its hard limit');
SELECT matches(pg_temp.details_of('MT-USE-001'), 'audited widgets', 'USE-001 names tenant and metric');
SELECT mt.set_quota(:'audited', 'widgets', 100);
SELECT is(pg_temp.status_of('MT-USE-001'), 'pass', 'USE-001 passes once the quota is raised');
SELECT is(pg_temp.status_of('MT-USE-002'), 'pass', 'USE-002 passes: the launcher runs (stopping it: test/shell/compliance_server.sh)');

-- history and the report
SELECT ok((SELECT count(DISTINCT run_id) FROM mt.compliance_checks) > 20, 'every run is kept as history');
SELECT is((SELECT jsonb_array_length(mt.compliance_report('SOC2')->'standards')), 1, 'report for one standard');
SELECT ok((SELECT mt.compliance_report()->'standards' @> '[{"standard":"GDPR"},{"standard":"HIPAA"},{"standard":"PCI"},{"standard":"SOC2"}]'),
          'report for all standards covers SOC2, GDPR, HIPAA and PCI');
SELECT throws_ok($$SELECT mt.compliance_report('ISO27001')$$, '22023', NULL, 'unknown standard is refused');

SELECT * FROM finish();
DROP ROLE mt_cc_bypass;
DROP ROLE mt_cc_md5;
