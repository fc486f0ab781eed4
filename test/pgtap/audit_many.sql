-- mt.audit_many(): many events of the current tenant in one call, the same
-- rows mt.audit() would write (actor, db_user, details, content hash), in
-- array order; argument errors before anything is written.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT set_config('multitenant.token', mt.tenant_token(:'acme', '1 hour', 'alice'), false) IS NOT NULL AS entered \gset
\set QUIET 0

SELECT plan(13);

SELECT is(mt.audit_many(ARRAY['bulk.a', 'bulk.b', 'bulk.c'], ARRAY['doc', NULL, 'doc'], ARRAY['1', '2', NULL],
                        ARRAY['{"n": 1}', NULL, '{"n": 3}']::jsonb[]), 3::bigint, 'three events appended');
SELECT is(mt.audit_many(ARRAY['bulk.d']), 1::bigint, 'the other arrays may be NULL');
SELECT is(mt.audit_many('{}'::text[]), 0::bigint, 'an empty array appends nothing');
SELECT results_eq($$SELECT action, resource_type, resource_id, details, actor, tenant_id FROM mt.audit_log WHERE action LIKE 'bulk.%' ORDER BY id$$,
    format($$VALUES ('bulk.a', 'doc', '1', '{"n": 1}'::jsonb, 'alice', %L::uuid), ('bulk.b', NULL, '2', NULL, 'alice', %L),
                    ('bulk.c', 'doc', NULL, '{"n": 3}', 'alice', %L), ('bulk.d', NULL, NULL, NULL, 'alice', %L)$$, :'acme', :'acme', :'acme', :'acme'),
    'the rows, in array order, in the current tenant''s chain, actor from the token');
SELECT throws_ok($$SELECT mt.audit_many(NULL)$$, '22004', NULL, 'actions must not be NULL');
SELECT throws_ok($$SELECT mt.audit_many(ARRAY['x', NULL])$$, '22004', 'audit action must not be NULL', 'no NULL action');
SELECT throws_ok($$SELECT mt.audit_many(ARRAY['x', 'y'], ARRAY['t'])$$, '22023', NULL, 'arrays of different lengths are refused');
SELECT throws_ok($$SELECT mt.audit_many(ARRAY['x'], NULL, NULL, ARRAY['{}', '{}']::jsonb[])$$, '22023', NULL, 'details of another length too');
SELECT throws_ok($$SELECT mt.audit_many(ARRAY[['x'], ['y']])$$, '2202E', NULL, 'two-dimensional arrays are refused');
SELECT throws_ok($$SELECT mt.audit_many(ARRAY[repeat('a', 201)])$$, '22023', NULL, 'each action is checked like mt.audit()''s');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE action IN ('x', 'y')), 0, 'nothing was written by the refused calls');
RESET multitenant.token;
SELECT cmp_ok(mt.audit_seal(), '>=', 0::bigint, 'sealed');
SELECT is((SELECT ok AND rows_checked = 5 AND unsealed = 0 FROM mt.audit_verify(:'acme')), true,
    'the chain verifies: tenant.create and the four events');

SELECT * FROM finish();
