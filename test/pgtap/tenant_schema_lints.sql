-- mt.isolation_status() lints tenant schemas: every table of a tenant
-- schema is listed (forced RLS, generated policies bound to the schema's
-- tenant); a table without the policy, a grant to PUBLIC, CREATE for PUBLIC
-- on the schema, a view that reads across schemas, a materialized view over
-- a tenant table and a view that runs as a role bypassing RLS are reported.
-- The caller needs no context and no BYPASSRLS (the registry is read as the
-- extension owner).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT mt.create_tenant('Acme', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'pro') AS globex \gset
DROP ROLE IF EXISTS mt_sl_auditor;
CREATE ROLE mt_sl_auditor;
GRANT EXECUTE ON FUNCTION mt.isolation_status() TO mt_sl_auditor;
CREATE SCHEMA tmpl;
-- a tenant_id column in a tenant schema table is no shared-isolation candidate
CREATE TABLE tmpl.notes (id int PRIMARY KEY, tenant_id uuid, body text);
CREATE TABLE tmpl.tags (id int PRIMARY KEY, label text);
SELECT mt.provision_schema(:'acme', 'tmpl') IS NOT NULL AS ok \gset
SELECT mt.provision_schema(:'globex', 'tmpl') IS NOT NULL AS ok \gset
CREATE TABLE public.shared_lookup (id int PRIMARY KEY);
CREATE FUNCTION pg_temp.issues(rel regclass) RETURNS text[] LANGUAGE sql AS
$$ SELECT issues FROM mt.isolation_status() WHERE tbl = rel $$;
\set QUIET 0

SELECT plan(15);

SET ROLE mt_sl_auditor;
SELECT results_eq($$SELECT tbl::text COLLATE "default", kind, isolated, rls_forced, policies_ok, cardinality(issues)
                    FROM mt.isolation_status() WHERE tbl::text LIKE 'tenant_%' ORDER BY 1$$,
                  $$VALUES ('tenant_acme.notes', 'tenant schema table', true, true, true, 0),
                           ('tenant_acme.tags', 'tenant schema table', true, true, true, 0),
                           ('tenant_globex.notes', 'tenant schema table', true, true, true, 0),
                           ('tenant_globex.tags', 'tenant schema table', true, true, true, 0)$$,
                  'every table of a tenant schema is listed, intact, once (a role without a context or BYPASSRLS)');
RESET ROLE;

-- a table without the policy (the superuser's escape hatch)
SET multitenant.allow_unsafe_ddl = on;
DROP POLICY mt_schema_isolation ON tenant_acme.notes;
ALTER TABLE tenant_acme.tags NO FORCE ROW LEVEL SECURITY;
RESET multitenant.allow_unsafe_ddl;
SELECT is(pg_temp.issues('tenant_acme.notes'),
          ARRAY[format('generated policies binding the table to tenant %s are missing or altered', :'acme')],
          'a dropped generated policy is reported');
SELECT is((SELECT policies_ok FROM mt.isolation_status() WHERE tbl = 'tenant_acme.notes'::regclass), false,
          'policies_ok is false');
SELECT is(pg_temp.issues('tenant_acme.tags'), ARRAY['row level security is not forced (the owner bypasses it)'],
          'RLS not forced is reported');
SELECT is((SELECT status FROM mt.run_compliance_checks() WHERE check_id = 'MT-ISO-002'), 'fail',
          'compliance check MT-ISO-002 fails on them');
-- a policy bound to another tenant is "altered"
SET multitenant.allow_unsafe_ddl = on;
DROP POLICY mt_schema_access ON tenant_globex.tags;
CREATE POLICY mt_schema_access ON tenant_globex.tags USING (mt.current_tenant() = :'acme'::uuid)
    WITH CHECK (mt.current_tenant() = :'acme'::uuid);
RESET multitenant.allow_unsafe_ddl;
SELECT is(pg_temp.issues('tenant_globex.tags'),
          ARRAY[format('generated policies binding the table to tenant %s are missing or altered', :'globex')],
          'a generated policy bound to another tenant is reported');
-- repaired by mt.apply_template
SELECT results_eq($$SELECT schema_name::text COLLATE "default", status, detail FROM mt.apply_template('tmpl') ORDER BY 1$$,
                  $$VALUES ('tenant_acme', 'applied', '-- the generated protection of 2 table(s) restored'),
                           ('tenant_globex', 'applied', '-- the generated protection of 1 table(s) restored')$$,
                  'mt.apply_template restores the generated protection and says so');
SELECT is((SELECT count(*)::int FROM mt.isolation_status() WHERE kind = 'tenant schema table' AND cardinality(issues) > 0), 0,
          'no lint left');

-- grants to PUBLIC
GRANT SELECT ON tenant_acme.tags TO PUBLIC;
SELECT is(pg_temp.issues('tenant_acme.tags'),
          ARRAY['privileges granted to PUBLIC (every role may try it: only the policies stand between)'],
          'a table granted to PUBLIC is reported');
REVOKE SELECT ON tenant_acme.tags FROM PUBLIC;
GRANT CREATE ON SCHEMA tenant_globex TO PUBLIC;
SELECT ok(pg_temp.issues('tenant_globex.notes') @> ARRAY['its tenant schema grants CREATE to PUBLIC (any role can add functions or views that mt.use_tenant_schema() puts on the tenant''s path)'],
          'CREATE for PUBLIC on a tenant schema is reported');
REVOKE CREATE ON SCHEMA tenant_globex FROM PUBLIC;

-- views
CREATE VIEW tenant_acme.cross_view AS SELECT n.id FROM tenant_acme.notes n JOIN tenant_globex.notes g USING (id)
    JOIN public.shared_lookup l USING (id);
SELECT is(pg_temp.issues('tenant_acme.cross_view'),
          ARRAY['view in a tenant schema reads across schemas: public.shared_lookup, tenant_globex.notes',
                'view over tenant schema table tenant_acme.notes, tenant_globex.notes runs as its owner postgres, who bypasses row level security (set security_invoker = true)'],
          'a view in a tenant schema that reads across schemas is reported');
CREATE VIEW tenant_acme.own_view WITH (security_invoker = true) AS SELECT * FROM tenant_acme.tags;
SELECT is((SELECT count(*)::int FROM mt.isolation_status() WHERE tbl = 'tenant_acme.own_view'::regclass), 0,
          'a view reading its own schema only (security_invoker) is not reported');
CREATE MATERIALIZED VIEW public.acme_copy AS SELECT * FROM tenant_acme.tags;
SELECT is(pg_temp.issues('public.acme_copy'),
          ARRAY['materialized view over tenant schema table tenant_acme.tags stores the tenant''s rows without row level security'],
          'a materialized view over a tenant table is reported');
CREATE VIEW public.acme_view AS SELECT * FROM tenant_acme.tags;
SELECT is(pg_temp.issues('public.acme_view'),
          ARRAY['view over tenant schema table tenant_acme.tags runs as its owner postgres, who bypasses row level security (set security_invoker = true)'],
          'a view over a tenant table owned by a superuser is reported');
ALTER VIEW public.acme_view SET (security_invoker = true);
SELECT is((SELECT count(*)::int FROM mt.isolation_status() WHERE tbl = 'public.acme_view'::regclass), 0,
          'with security_invoker it is not');

SELECT * FROM finish();
