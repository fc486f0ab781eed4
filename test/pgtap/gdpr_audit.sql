-- Erasure against the audit log: the export decrypts the subject's audit details, the erasure
-- shreds them (unreadable afterwards), records a PII-free event, and every
-- tenant's hash chain still verifies; the same subject in another tenant
-- keeps its readable events.
\set ON_ERROR_STOP 1
\set QUIET 1
\set QUIET 0
SELECT plan(8);
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
CREATE TABLE public.users (tenant_id uuid NOT NULL, email text NOT NULL, name text);
SELECT mt.enable_isolation('public.users');
SELECT mt.register_subject('public.users', 'email');
INSERT INTO public.users VALUES (:'acme', 'alice@example.com', 'Alice'), (:'globex', 'alice@example.com', 'Alice G');
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT mt.audit('user.login', 'user', '1', '{"ip": "192.0.2.1"}', 'alice@example.com') AS e \gset
SELECT mt.audit('user.login', 'user', '2', '{"ip": "192.0.2.2"}', 'bob@example.com') AS e \gset
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered \gset
SELECT mt.audit('user.login', 'user', '3', '{"ip": "198.51.100.9"}', 'alice@example.com') AS e \gset
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
\set QUIET 0
SELECT is(mt.gdpr_export('alice@example.com') -> 'audit_events' -> 0 -> 'details', '{"ip": "192.0.2.1"}'::jsonb,
          'export: the subject''s audit details, decrypted');
SELECT is((mt.gdpr_erase('alice@example.com') ->> 'audit_keys_destroyed')::int, 1, 'erasure destroys the subject''s key');
SELECT is((SELECT details_state FROM mt.audit_search(action => 'user.login', resource_id => '1')), 'shredded',
          'the subject''s event details are unreadable afterwards');
SELECT is((SELECT details FROM mt.audit_search(action => 'user.login', resource_id => '2')), '{"ip": "192.0.2.2"}'::jsonb,
          'another subject''s details still read');
SELECT is(jsonb_array_length(mt.gdpr_export('alice@example.com') -> 'audit_events'), 0, 'export holds no audit event of her');
SELECT ok((SELECT details::text NOT LIKE '%alice%' FROM mt.audit_search(action => 'gdpr.erase')),
          'the erasure event holds no personal data');
RESET multitenant.token;
SELECT is((SELECT array_agg(ok) FROM mt.audit_verify()), '{t,t}'::boolean[], 'both tenants'' chains verify');
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered \gset
SELECT is(mt.gdpr_export('alice@example.com') -> 'audit_events' -> 0 -> 'details', '{"ip": "198.51.100.9"}'::jsonb,
          'the same id in the other tenant keeps its readable events');
RESET multitenant.token;
SELECT * FROM finish();
