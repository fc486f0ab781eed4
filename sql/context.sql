-- The signed tenant context: SET / SET LOCAL / RESET / DISCARD / ROLLBACK
CREATE EXTENSION multitenant;
\i sql/include/helpers.psql
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour', 'alice', 'admin'), false) AS tok_acme \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour'), false) AS tok_globex \gset

-- fail closed: no context, no tenant
SELECT mt.current_tenant() IS NULL AS no_tenant, mt.current_subject(), mt.current_tenant_role();
SELECT pg_temp.err('SELECT mt.require_tenant()');

-- session SET
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT mt.current_tenant() = :'acme'::uuid AS is_acme, mt.current_subject(), mt.current_tenant_role();
SELECT mt.require_tenant() = :'acme'::uuid AS required;

-- a failing SET keeps the previous context
SELECT pg_temp.err('SET multitenant.token = ''garbage''');
SELECT mt.current_tenant() = :'acme'::uuid AS still_acme;

-- SET LOCAL lasts for the transaction only
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), true) IS NOT NULL AS entered \gset
SELECT mt.current_tenant() = :'globex'::uuid AS is_globex_inside;
COMMIT;
SELECT mt.current_tenant() = :'acme'::uuid AS back_to_acme;

-- set_config(..., true) is SET LOCAL
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), true) IS NOT NULL AS set;
SELECT mt.current_tenant() = :'globex'::uuid AS is_globex_inside;
ROLLBACK;
SELECT mt.current_tenant() = :'acme'::uuid AS back_to_acme;

-- ROLLBACK undoes a session SET made in the transaction
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), false) IS NOT NULL AS entered \gset
ROLLBACK;
SELECT mt.current_tenant() = :'acme'::uuid AS rolled_back_to_acme;

-- savepoints
BEGIN;
SAVEPOINT s1;
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), true) IS NOT NULL AS entered \gset
SELECT mt.current_tenant() = :'globex'::uuid AS globex_in_savepoint;
ROLLBACK TO s1;
SELECT mt.current_tenant() = :'acme'::uuid AS acme_after_rollback_to;
COMMIT;

-- RESET and DISCARD ALL clear it
RESET multitenant.token;
SELECT mt.current_tenant() IS NULL AS cleared_by_reset;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
DISCARD ALL;
SELECT mt.current_tenant() IS NULL AS cleared_by_discard;
\i sql/include/helpers.psql
-- DISCARD ALL also reset the test's own placeholder: mint again
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour', 'alice', 'admin'), false) IS NOT NULL AS minted \gset
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT mt.current_tenant() = :'acme'::uuid AS entered_again;
RESET ALL;
SELECT mt.current_tenant() IS NULL AS cleared_by_reset_all;
-- RESET ALL reset the test's placeholder too: mint again
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour', 'alice', 'admin'), false) IS NOT NULL AS minted \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour'), false) IS NOT NULL AS minted \gset

-- set_tenant: the privileged shortcut, local by default
BEGIN;
SELECT mt.set_tenant(:'globex') = :'globex'::uuid AS entered;
SELECT mt.current_tenant() = :'globex'::uuid AS is_globex;
COMMIT;
SELECT mt.current_tenant() IS NULL AS gone_after_commit;
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered_for_session;
SELECT mt.current_tenant() = :'globex'::uuid AS still_globex;
RESET multitenant.token;

-- tenant_token argument checks
SELECT pg_temp.err('SELECT mt.tenant_token(' || quote_literal(:'acme') || ', ''0 seconds'')');
SELECT pg_temp.err('SELECT mt.tenant_token(' || quote_literal(:'acme') || ', ''-1 hour'')');
SELECT pg_temp.err('SELECT mt.tenant_token(' || quote_literal(:'acme') || ', ''400 days'')');
SELECT pg_temp.err('SELECT mt.tenant_token(NULL)');
SELECT pg_temp.err('SELECT mt.tenant_token(' || quote_literal(:'acme') || ', ''1 hour'', repeat(''s'', 256))');
SELECT pg_temp.err('SELECT mt.tenant_token(''00000000-0000-0000-0000-000000000000'')');
SELECT pg_temp.err('SELECT mt.set_tenant(NULL)');

-- suspension: SET refuses, and a context already set stops yielding a tenant
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SELECT mt.suspend_tenant(:'acme');
SELECT mt.current_tenant() IS NULL AS suspended_yields_nothing;
SELECT pg_temp.err($$SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false)$$);
SELECT mt.resume_tenant(:'acme');
SELECT mt.current_tenant() = :'acme'::uuid AS resumed_yields_acme;
SELECT mt.drop_tenant(:'acme');
SELECT mt.current_tenant() IS NULL AS dropped_yields_nothing;
RESET multitenant.token;

-- expiry: at SET, and again at the next transaction
SELECT set_config('test.tok_short', mt.tenant_token(:'globex', '1 second'), false) AS tok_short \gset
SELECT pg_sleep(1.5);
SELECT pg_temp.err($$SELECT set_config('multitenant.token', current_setting('test.tok_short'), false)$$);
SELECT set_config('test.tok_short', mt.tenant_token(:'globex', '4 seconds'), false) AS tok_short \gset
SELECT set_config('multitenant.token', current_setting('test.tok_short'), false) IS NOT NULL AS entered \gset
SELECT mt.current_tenant() = :'globex'::uuid AS valid_now;
SELECT pg_sleep(4.5);
SELECT mt.current_tenant() IS NULL AS expired_next_transaction;
RESET multitenant.token;

-- the token's text in the statement: refused (other sessions of the role
-- read statement text in pg_stat_activity), and burned for good
SELECT set_config('test.tok_lit', mt.tenant_token(:'globex', '1 hour', 'literal'), false) AS tok_lit \gset
SELECT pg_temp.err('SET multitenant.token = ' || quote_literal(:'tok_lit'));
SELECT pg_temp.err($$SELECT set_config('multitenant.token', current_setting('test.tok_lit'), false)$$);
SELECT mt.current_tenant() IS NULL AS no_context;

-- the prefix is reserved: typos are errors, not placeholders
SELECT pg_temp.err('SET multitenant.tokn = ''x''');
\i sql/include/cleanup.psql
