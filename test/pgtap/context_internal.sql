-- Contexts entered by mt.authenticate() and mt.set_tenant() are not bearer
-- tokens: the value current_setting() shows cannot be SET again (so it
-- cannot outlive a revoked key), yet parallel workers still get the tenant.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_api_key(:'acme', 'ci', '{read}') AS key \gset
DROP ROLE IF EXISTS mt_ci_app;
CREATE ROLE mt_ci_app;
CREATE TABLE public.ci_items (id int, tenant_id uuid NOT NULL);
SELECT mt.enable_isolation('public.ci_items');
INSERT INTO public.ci_items SELECT g, :'acme' FROM generate_series(1, 50000) g;
ANALYZE public.ci_items;
GRANT SELECT ON public.ci_items TO mt_ci_app;
\set QUIET 0
SELECT plan(8);

SET ROLE mt_ci_app;
BEGIN;
SELECT is(mt.authenticate(:'key'), :'acme'::uuid, 'authenticate enters the key''s tenant');
SELECT current_setting('multitenant.token') AS val \gset
SELECT ok(:'val' NOT LIKE 'eyJ%', 'the setting does not hold a signed token');
SELECT is(mt.current_subject(), 'key:' || mt.api_key_id(:'key'), 'the subject is the key id');
COMMIT;
SELECT is(mt.current_tenant(), NULL, 'the context ended with the transaction');
SELECT throws_ok(format('SET multitenant.token = %L', :'val'), '28000', NULL,
                 'the value read from current_setting() cannot be set again');
RESET ROLE;
SELECT mt.revoke_api_key(mt.api_key_id(:'key'));
SET ROLE mt_ci_app;
SELECT throws_ok(format('SELECT set_config(''multitenant.token'', %L, true)', :'val'), '28000', NULL,
                 'nor after the key was revoked');
RESET ROLE;

-- parallel workers restore the internal context of their leader
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
BEGIN;
SELECT mt.set_tenant(:'acme') IS NOT NULL AS entered \gset
SET LOCAL ROLE mt_ci_app;
SELECT is((SELECT count(*)::int FROM public.ci_items), 50000, 'parallel scan after mt.set_tenant sees the tenant');
COMMIT;
SET ROLE mt_ci_app;
SELECT is((SELECT count(*)::int FROM public.ci_items), 0, 'and nothing afterwards');
RESET ROLE;

SELECT * FROM finish();
DROP TABLE public.ci_items;
DROP OWNED BY mt_ci_app;
DROP ROLE mt_ci_app;
