-- A token's tenant claim is a tenant id when it has the form of a uuid, and
-- a slug otherwise (identity providers often carry the organization's
-- slug, which a customer picks at sign-up).  A slug in the form of a uuid
-- would let a customer who picks the id of another tenant as its slug
-- receive tokens that enter that other tenant: mt.create_tenant and
-- mt.import_tenant(..., new_slug) refuse such a slug (22023).
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
\set QUIET 0

SELECT plan(5);
SELECT throws_ok(format($$SELECT mt.create_tenant('Evil', %L)$$, :'acme'), '22023', NULL,
                 'a slug in the form of a uuid (another tenant''s id) is refused');
SELECT throws_ok($$SELECT mt.create_tenant('Evil', '00000000-0000-4000-8000-000000000000')$$, '22023', NULL,
                 'a slug in the form of any uuid is refused');
SELECT throws_ok(format($$SELECT * FROM mt.import_tenant('pg_class', NULL, %L)$$, :'acme'), '22023',
                 'invalid tenant slug', 'mt.import_tenant refuses a new slug in the form of a uuid');
SELECT is((SELECT count(*)::int FROM mt.tenants WHERE name = 'Evil'), 0, 'no tenant was created');
SELECT lives_ok($$SELECT mt.create_tenant('Hex', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1')$$,
                'a slug of hex digits and hyphens that is not a uuid is still a slug');
SELECT * FROM finish();
