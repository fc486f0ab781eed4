-- mt.audit_table cannot be used to write into another tenant's audit
-- chain: it refuses a table that the extension does not isolate by the
-- tenant column it would take the chain from (55000), so a table owner
-- (the documented app_owner, EXECUTE on mt.audit_table) can neither forge
-- events into any tenant's chain nor hold any tenant's chain lock; and the
-- row-change trigger chains a row only into the writer's verified tenant
-- context (42501 otherwise; a role that bypasses RLS, which may write any
-- tenant's rows anyway, excepted).
\set ON_ERROR_STOP 1
\set QUIET 1
DROP ROLE IF EXISTS mt_atf_owner;
CREATE ROLE mt_atf_owner NOLOGIN NOSUPERUSER;
GRANT CREATE ON SCHEMA public TO mt_atf_owner;
GRANT EXECUTE ON FUNCTION mt.enable_isolation(regclass, name, name, boolean), mt.audit_table(regclass, name, name) TO mt_atf_owner;
SELECT mt.create_tenant('Victim', 'victim') AS victim \gset
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour', 'owner-app'), false) IS NOT NULL AS minted \gset
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT mt.audit('acme.first') AS first \gset
RESET multitenant.token;
CREATE FUNCTION pg_temp.victim_forged() RETURNS int LANGUAGE sql AS
$$ SELECT count(*)::int FROM mt.audit_log WHERE tenant_id = (SELECT id FROM mt.tenants WHERE slug = 'victim')
   AND resource_type LIKE 'public.%' $$;
SET ROLE mt_atf_owner;
CREATE TABLE public.forge (id int, tenant_id uuid, what text);
CREATE TABLE public.iso (id int, tenant_id uuid NOT NULL, other uuid, what text);
SELECT mt.enable_isolation('public.iso');
RESET ROLE;
\set QUIET 0

SELECT plan(16);

SET ROLE mt_atf_owner;
SELECT throws_ok($$SELECT mt.audit_table('public.forge')$$, '55000', NULL,
                 'audit_table refuses a tenant column on a table the extension does not isolate');
SELECT throws_ok($$SELECT mt.audit_table('public.iso', 'other')$$, '55000', NULL,
                 'audit_table refuses a tenant column that is not the isolation column');
SELECT lives_ok($$SELECT mt.audit_table('public.forge', NULL)$$,
                'audit_table without a tenant column: events go to the writer''s context chain');
INSERT INTO public.forge VALUES (1, :'victim', 'forged');
SELECT is(pg_temp.victim_forged(), 0, 'a row naming the victim lands in no victim chain');
SELECT lives_ok($$SELECT mt.audit_table('public.iso')$$, 'audit_table on an isolated table with its isolation column');
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
INSERT INTO public.iso (id, what) VALUES (1, 'mine');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE resource_type = 'public.iso'), 1,
          'the owner''s own row is chained into its context''s tenant');
RESET multitenant.token;
RESET ROLE;

-- if the table loses its isolation later, the trigger still refuses foreign rows
SELECT mt.disable_isolation('public.iso');
SET ROLE mt_atf_owner;
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT throws_ok(format($$INSERT INTO public.iso VALUES (2, %L, NULL, 'forged')$$, :'victim'), '42501', NULL,
                 'trigger: a row of another tenant than the verified context is refused');
SELECT throws_ok(format($$UPDATE public.iso SET tenant_id = %L WHERE id = 1$$, :'victim'), '42501', NULL,
                 'trigger: moving a row into another tenant is refused');
-- chain locks: advisory-type locks with objsubid (locktag_field4) 0x6175
SELECT is((SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 24949 AND pid = pg_backend_pid()), 0,
          'the owner''s transaction holds no chain lock after the refused writes');
COMMIT;
SELECT throws_ok(format($$INSERT INTO public.iso VALUES (3, %L, NULL, 'forged')$$, :'victim'), '42501', NULL,
                 'trigger: a tenant''s row written without a context is refused');
SELECT throws_ok($$SELECT mt.audit_table('public.iso')$$, '55000', NULL, 'audit_table refuses the table once it is no longer isolated');
RESET ROLE;
SELECT is(pg_temp.victim_forged(), 0, 'the victim''s chain holds no forged event');

-- legitimate uses keep working: a superuser (bypasses RLS) without context
INSERT INTO public.iso VALUES (4, :'victim', NULL, 'back office');
SELECT is(pg_temp.victim_forged(), 1, 'a superuser''s change of a victim row is chained into the victim''s chain');
SELECT is((SELECT bool_and(ok) FROM mt.audit_verify()), true, 'every chain verifies');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE tenant_id = :'acme' AND resource_type LIKE 'public.%'), 1,
          'acme''s chain: the owner''s own row only (the refused UPDATE left nothing)');
SELECT is((SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'mt_atf_owner'), false, 'the owner has no bypass');

SELECT * FROM finish();
