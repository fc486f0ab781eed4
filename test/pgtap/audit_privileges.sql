-- Least privilege: an application role appends and reads its own tenant's
-- chain only; it cannot tamper, read keys, or reach other tenants; an
-- auditor role granted the privileged functions verifies every chain.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour', 'alice'), false) AS tok_acme \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour', 'bob'), false) AS tok_globex \gset
DROP ROLE IF EXISTS mt_audit_app;
DROP ROLE IF EXISTS mt_audit_auditor;
DROP ROLE IF EXISTS mt_audit_admin;
CREATE ROLE mt_audit_app NOLOGIN;
CREATE ROLE mt_audit_auditor NOLOGIN;
CREATE ROLE mt_audit_admin NOLOGIN;
GRANT EXECUTE ON FUNCTION mt.audit_verify(uuid, jsonb), mt.audit_digest(uuid),
      mt.audit_search_tenant(uuid, timestamptz, timestamptz, text, text, text, text, text, bigint, integer, boolean),
      mt.audit_export_tenant(uuid, bigint) TO mt_audit_auditor;
GRANT EXECUTE ON FUNCTION mt.audit_table(regclass, name, name), mt.audit_untable(regclass) TO mt_audit_admin;
CREATE TABLE public.docs (id int PRIMARY KEY, tenant_id uuid DEFAULT mt.current_tenant(), body text);
SELECT mt.enable_isolation('public.docs');   -- audit_table chains by tenant column only on isolated tables
GRANT SELECT, INSERT, UPDATE, DELETE ON public.docs TO mt_audit_app;
CREATE TABLE public.admin_docs (id int PRIMARY KEY, tenant_id uuid);
GRANT TRIGGER ON public.docs TO mt_audit_admin;
\set QUIET 0

SELECT plan(37);

SET ROLE mt_audit_app;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT ok(mt.audit('doc.view', 'doc', '1', '{"ip": "10.0.0.1"}') > 0, 'app appends inside its tenant');
SELECT ok(mt.audit('doc.share', 'doc', '1', '{"with": "eve@example.com"}', 'eve') > 0, 'app appends encrypted details');
SELECT is((SELECT actor FROM mt.audit_log WHERE action = 'doc.view'), 'alice', 'actor is the token subject');
SELECT is((SELECT db_user FROM mt.audit_log WHERE action = 'doc.view'), 'postgres', 'db_user is the session user');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE tenant_id <> :'acme'), 0, 'RLS: no row of another chain is visible');
SELECT is((SELECT count(*)::int FROM mt.audit_log), 3, 'RLS: acme sees its 3 rows');
SELECT is((SELECT details FROM mt.audit_search(subject => 'eve')), '{"with": "eve@example.com"}'::jsonb, 'search decrypts the tenant''s own subject details');
-- the export holds sealed events (the worker seals within audit_seal_interval; here at once)
RESET ROLE;
SELECT mt.audit_seal() >= 0 AS sealed \gset
SET ROLE mt_audit_app;
SELECT is((SELECT count(*)::int FROM mt.audit_export()), 4, 'export of the own chain: header + 3 rows');

SELECT throws_ok($$UPDATE mt.audit_log SET action = 'x'$$, '42501', NULL, 'app cannot update the log');
SELECT throws_ok($$DELETE FROM mt.audit_log$$, '42501', NULL, 'app cannot delete from the log');
SELECT throws_ok($$TRUNCATE mt.audit_log$$, '42501', NULL, 'app cannot truncate the log');
SELECT throws_ok($$INSERT INTO mt.audit_log (id, tenant_id, seq, at, actor, action, db_user, prev_hash, hash)
                   VALUES (1, mt.current_tenant(), 99, now(), 'x', 'x', 'x', sha256('a'), sha256('b'))$$,
                 '42501', NULL, 'app cannot insert into the log directly');
SELECT throws_ok($$ALTER TABLE mt.audit_log DISABLE TRIGGER audit_log_append_only$$, '42501', NULL, 'app cannot disable the guard');
SELECT throws_ok($$SELECT * FROM mt.audit_subject_keys$$, '42501', NULL, 'app cannot read subject keys');
SELECT throws_ok($$SELECT nextval('mt.audit_log_id_seq')$$, '42501', NULL, 'app cannot consume log ids');
SELECT throws_ok($$SELECT * FROM mt.audit_verify()$$, '42501', NULL, 'app cannot verify all chains');
SELECT throws_ok($$SELECT * FROM mt.audit_digest()$$, '42501', NULL, 'app cannot take digests');
SELECT throws_ok($$SELECT mt.audit_prune('0 s')$$, '42501', NULL, 'app cannot prune');
SELECT throws_ok(format('SELECT * FROM mt.audit_search_tenant(%L)', :'globex'), '42501', NULL, 'app cannot search another tenant');
SELECT throws_ok($$SELECT * FROM mt.audit_export_tenant()$$, '42501', NULL, 'app cannot export every chain');
SELECT throws_ok($$SELECT mt.audit_forget_subject('eve')$$, '42501', NULL, 'app cannot shred keys');
SELECT throws_ok($$SELECT mt.audit_table('public.docs')$$, '42501', NULL, 'app cannot install audit triggers');
SELECT throws_ok($$CREATE TRIGGER t AFTER INSERT ON public.docs FOR EACH ROW EXECUTE FUNCTION mt.audit_row_change()$$,
                 '42501', NULL, 'app cannot attach the audit trigger function itself');
SELECT throws_ok($$UPDATE mt.audit_checkpoints SET seq = 1$$, '42501', NULL, 'app cannot touch checkpoints');

RESET multitenant.token;
SELECT is((SELECT count(*)::int FROM mt.audit_log), 0, 'no context: the log shows nothing');
SELECT throws_ok($$SELECT * FROM mt.audit_search()$$, '42501', NULL, 'no context: search refuses');
RESET ROLE;

-- a misconfigured grant does not open the table: the guard refuses
GRANT INSERT, UPDATE, DELETE, TRUNCATE ON mt.audit_log TO mt_audit_app;
SET ROLE mt_audit_app;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT throws_ok($$INSERT INTO mt.audit_log (id, tenant_id, seq, at, actor, action, db_user, prev_hash, hash)
                   VALUES (1000, mt.current_tenant(), 99, now(), 'x', 'x', 'x', sha256('a'), sha256('b'))$$,
                 '42501', 'mt.audit_log is append-only: INSERT is not allowed', 'granted INSERT still refused by the guard');
RESET multitenant.token;
SELECT throws_ok($$UPDATE mt.audit_log SET action = 'x'$$, '42501', 'mt.audit_log is append-only: UPDATE is not allowed',
                 'granted UPDATE still refused by the guard');
SELECT throws_ok($$TRUNCATE mt.audit_log$$, '42501', 'mt.audit_log is append-only: TRUNCATE is not allowed',
                 'granted TRUNCATE still refused by the guard');
RESET ROLE;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON mt.audit_log FROM mt_audit_app;

-- admin: installs row auditing where it holds TRIGGER; changes land in the row's chain
SET ROLE mt_audit_admin;
SELECT lives_ok($$SELECT mt.audit_table('public.docs')$$, 'admin audits a table it may trigger on');
SELECT throws_ok($$SELECT mt.audit_table('public.admin_docs')$$, '42501', NULL, 'admin cannot audit a table without TRIGGER');
RESET ROLE;
SET ROLE mt_audit_app;
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), false) IS NOT NULL AS entered \gset
INSERT INTO public.docs (id, body) VALUES (1, 'hello');
SELECT is((SELECT action || ' ' || resource_type || ' ' || resource_id FROM mt.audit_log WHERE resource_type = 'public.docs'),
          'INSERT public.docs 1', 'app''s row change recorded in its own chain');
SELECT is((SELECT actor FROM mt.audit_log WHERE resource_type = 'public.docs'), 'bob', 'with the app''s subject as actor');
RESET multitenant.token;
RESET ROLE;

-- auditor: verifies and reads every chain, but cannot write or shred
SET ROLE mt_audit_auditor;
SELECT is((SELECT bool_and(ok) FROM mt.audit_verify()), true, 'auditor verifies every chain');
SELECT is((SELECT count(*)::int FROM mt.audit_digest()), 3, 'auditor takes the digest (acme, globex, no-tenant chain)');
SELECT is((SELECT details_state FROM mt.audit_search_tenant(:'acme', subject => 'eve')), 'decrypted', 'auditor reads decrypted details');
SELECT throws_ok($$SELECT mt.audit_prune('0 s')$$, '42501', NULL, 'auditor cannot prune');
RESET ROLE;

SELECT * FROM finish();
