-- The audit integration points of mt.gdpr_export / mt.gdpr_erase
-- (gdpr_audit_hooks() in src/gdpr.c), exercised against STUBS of the audit
-- log of issue 6 (mt.audit_log, mt.audit, mt.audit_forget_subject,
-- mt.audit_search) with the signatures of that branch.
-- MERGE NOTE: once the real audit log is merged, drop the stubs and check
-- the same things against it (chains verify after erasure, details read
-- back as unreadable).
\set ON_ERROR_STOP 1
\set QUIET 1
-- with the real audit log installed, gdpr_audit_real.sql covers this
SELECT to_regclass('mt.audit_log') IS NULL AS stubs \gset
\if :stubs
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
CREATE TABLE public.users (tenant_id uuid NOT NULL, email text NOT NULL, name text);
CREATE INDEX ON public.users (tenant_id, email);
SELECT mt.enable_isolation('public.users');
SELECT mt.register_subject('public.users', 'email');
INSERT INTO public.users VALUES (:'acme', 'alice@example.com', 'Alice'), (:'globex', 'alice@example.com', 'Alice G');

-- stubs
CREATE TABLE mt.audit_log (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, action text NOT NULL,
    resource_type text, resource_id text, details jsonb, subject text);
CREATE TABLE public.forget_calls (subject text, tenant uuid);
CREATE FUNCTION mt.audit(action text, resource_type text DEFAULT NULL, resource_id text DEFAULT NULL,
                         details jsonb DEFAULT NULL, subject text DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO mt.audit_log (tenant_id, action, resource_type, resource_id, details, subject)
    VALUES (mt.current_tenant(), action, resource_type, resource_id, details, subject) RETURNING id $$;
CREATE FUNCTION mt.audit_forget_subject(subject text, tenant uuid DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO public.forget_calls VALUES (subject, coalesce(tenant, mt.current_tenant()));
    SELECT 1::bigint $$;
CREATE FUNCTION mt.audit_search(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL,
                                action text DEFAULT NULL, actor text DEFAULT NULL,
                                resource_type text DEFAULT NULL, resource_id text DEFAULT NULL,
                                subject text DEFAULT NULL, after_id bigint DEFAULT NULL,
                                max_rows integer DEFAULT 100, newest_first boolean DEFAULT false)
    RETURNS TABLE (id bigint, action text, details jsonb)
LANGUAGE sql AS $$
    SELECT a.id, a.action, a.details FROM mt.audit_log a
    WHERE a.tenant_id = mt.current_tenant() AND a.subject = audit_search.subject
      AND a.id > coalesce(audit_search.after_id, 0)
    ORDER BY a.id LIMIT audit_search.max_rows $$;

SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT mt.audit('user.login', 'user', '1', '{"ip": "192.0.2.1"}', 'alice@example.com') AS e1 \gset
SELECT mt.audit('user.login', 'user', '2', '{"ip": "192.0.2.2"}', 'bob@example.com') AS e2 \gset
-- more than one page (10,000) of events about alice
INSERT INTO mt.audit_log (tenant_id, action, details, subject)
SELECT :'acme', 'page.view', jsonb_build_object('n', g), 'alice@example.com' FROM generate_series(1, 10005) g;
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered \gset
SELECT mt.audit('user.login', 'user', '3', '{"ip": "198.51.100.7"}', 'alice@example.com') AS e3 \gset
\set QUIET 0

SELECT plan(11);

SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT mt.gdpr_export('alice@example.com') AS doc \gset
SELECT is(jsonb_array_length(:'doc'::jsonb -> 'audit_events'), 10006, 'export: every audit event about the subject, over two pages');
SELECT is(:'doc'::jsonb -> 'audit_events' -> 0 -> 'details', '{"ip": "192.0.2.1"}'::jsonb, 'export: with the (decrypted) details');
SELECT is((SELECT count(*)::int FROM jsonb_array_elements(:'doc'::jsonb -> 'audit_events') e
           WHERE e -> 'details' ->> 'ip' IN ('192.0.2.2', '198.51.100.7')), 0,
          'export: no event of another subject or tenant');

SELECT mt.gdpr_erase('alice@example.com') AS receipt \gset
SELECT is((:'receipt'::jsonb ->> 'audit_keys_destroyed')::int, 1, 'receipt counts the destroyed audit key');
SELECT is((:'receipt'::jsonb ->> 'audit_log')::boolean, true, 'receipt says the audit log was there');
SELECT is((SELECT array_agg(subject || '/' || (tenant = :'acme')) FROM public.forget_calls), '{alice@example.com/true}'::text[],
          'mt.audit_forget_subject called once, for the subject in the current tenant');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE action = 'gdpr.erase'), 1, 'one erasure event recorded');
SELECT is((SELECT resource_id FROM mt.audit_log WHERE action = 'gdpr.erase'), :'receipt'::jsonb ->> 'request_id',
          'the event points at the erasure request');
SELECT is((SELECT details ->> 'digest' FROM mt.audit_log WHERE action = 'gdpr.erase'), :'receipt'::jsonb ->> 'digest',
          'the event carries the receipt digest');
SELECT ok((SELECT details::text NOT LIKE '%alice%' AND subject IS NULL FROM mt.audit_log WHERE action = 'gdpr.erase'),
          'the erasure event holds no personal data and no subject');
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered \gset
SELECT is(jsonb_array_length(mt.gdpr_export('alice@example.com') -> 'audit_events'), 1,
          'the other tenant''s events about the same id are still exported there');
RESET multitenant.token;
\else
\set QUIET 0
SELECT plan(11);
SELECT skip('the real audit log is installed: see gdpr_audit_real.sql', 11);
\endif
SELECT * FROM finish();
