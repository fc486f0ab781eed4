\pset footer off
\set QUIET on
SELECT id AS acme FROM mt.tenants WHERE slug = 'acme' \gset
\echo
\echo '--- 12. Moving a growing tenant to a schema of its own, and back ----'
SELECT mt.create_tenant('Initech', 'initech', 'pro') AS initech \gset
SELECT set_config('demo.tok_initech', mt.tenant_token(:'initech'), false) IS NOT NULL AS minted \gset
SET ROLE demo_app;
BEGIN; SELECT set_config('multitenant.token', current_setting('demo.tok_initech'), true) IS NOT NULL AS entered \gset
INSERT INTO projects (name) VALUES ('tps reports'), ('printer'), ('stapler');
COMMIT;
RESET ROLE;
CREATE SCHEMA grow_template;
CREATE TABLE grow_template.projects (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL);
GRANT USAGE ON SCHEMA grow_template TO demo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA grow_template TO demo_app;
\echo 'Initech (plan pro) shares the projects table with everyone; the back office moves it'
\echo 'to a schema cloned from a template, in one transaction (same ids; its writes wait meanwhile):'
SELECT item, rows FROM mt.move_tenant(:'initech', 'schema', 'grow_template') WHERE item <> 'placement';
SELECT level, schema_name FROM mt.tenant_placement(:'initech');
SET ROLE demo_app;
BEGIN; SELECT set_config('multitenant.token', current_setting('demo.tok_initech'), true) IS NOT NULL AS entered \gset
\echo 'Its token still works; its projects now live in its schema, with the same ids:'
SELECT mt.use_tenant_schema() AS search_path_starts_with;
SELECT id, name FROM projects ORDER BY id;
COMMIT;
RESET ROLE;
\echo 'And back to the shared table (the schema is dropped, the audit chain continues):'
SELECT item, rows FROM mt.move_tenant(:'initech', 'shared') WHERE item <> 'placement';
SELECT count(*) AS initech_rows_in_shared_projects FROM projects WHERE tenant_id = :'initech';
SELECT ok AS initech_chain_verifies, rows_checked FROM mt.audit_verify(:'initech');
\echo
\echo '--- 13. Billing: an exactly-once usage export and an invoice preview ----'
\echo 'A biller pulls closed usage hours after its last cursor; each record has a deterministic'
\echo 'idempotency key (Stripe meter events, Lago and OpenMeter de-duplicate on it). This hour'
\echo 'has not ended yet, so nothing of this demo is exported so far:'
SELECT count(*) AS records_after_cursor_0 FROM mt.usage_export(0);
\echo 'Acme''s invoice for this month so far (plan price prorated by seconds from its creation):'
SELECT p->>'proration' AS proration, p->'segments'->0->>'plan' AS plan,
       p->>'base_cents' AS base_cents, p->>'overage_cents' AS overage_cents, p->>'total_cents' AS total_cents
FROM mt.invoice_preview(:'acme', date_trunc('month', now(), 'UTC')) AS p;
