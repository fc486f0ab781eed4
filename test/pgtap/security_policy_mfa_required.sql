-- Security policy mfa_required_for (issue 17 item 6): for a permission a
-- pattern of the tenant's list covers or overlaps, mt.has_permission()
-- answers false and mt.require_permission() raises 42501 (a second factor
-- is required) until mt.totp_verify() succeeds for the context's subject:
-- then both admit it in the same transaction (the per-transaction answer
-- is not kept stale) and in the next transaction of the same context; a
-- new context needs the factor again.  Parallel workers (a policy checking
-- the permission, forced parallel plans) answer as the leader, and the
-- setting that passes the marker to them cannot be forged.  Other
-- permissions and other tenants are unaffected; bad documents are refused
-- with 22023.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
-- a table whose policy checks the protected permission (for parallel query)
DROP ROLE IF EXISTS mt_mfa_app;
CREATE ROLE mt_mfa_app;
CREATE TABLE public.mfa_invoices (id int, tenant_id uuid NOT NULL);
ALTER TABLE public.mfa_invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.mfa_invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY write_invoices ON public.mfa_invoices FOR SELECT
    USING (tenant_id = mt.current_tenant() AND mt.has_permission('invoices:write'));
INSERT INTO public.mfa_invoices SELECT g, :'acme'::uuid FROM generate_series(1, 200000) g;
ANALYZE public.mfa_invoices;
GRANT SELECT ON public.mfa_invoices TO mt_mfa_app;
\i sql/include/workers_launched.psql
\set QUIET 0

SELECT plan(34);

-- bad documents
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT throws_ok(format('SELECT mt.set_security_policy(%L, %L)', :'acme', '{"mfa_required_for": "invoices:write"}'),
                 '22023', NULL, 'mfa_required_for that is not an array is refused');
SELECT throws_ok(format('SELECT mt.set_security_policy(%L, %L)', :'acme', '{"mfa_required_for": ["invoices"]}'),
                 '22023', NULL, 'a pattern without an action is refused');
SELECT throws_ok(format('SELECT mt.set_security_policy(%L, %L)', :'acme', '{"mfa_required_for": ["inv oices:write"]}'),
                 '22023', NULL, 'a pattern with a bad character is refused');
SELECT throws_ok(format('SELECT mt.set_security_policy(%L, %L)', :'acme', '{"mfa_required_for": [1]}'),
                 '22023', NULL, 'a pattern that is not a string is refused');
SELECT lives_ok(format('SELECT mt.set_security_policy(%L, %L)', :'acme', '{"mfa_required_for": ["invoices:write", "billing:*"]}'),
                'a list of permission patterns is accepted');
SELECT is(mt.security_policy(:'acme') -> 'mfa_required_for', '["invoices:write", "billing:*"]'::jsonb, 'and stored');

-- carol (member: *:read, *:write) enrolled in Acme
SELECT mt.totp_enroll('carol') AS uri \gset
CREATE FUNCTION pg_temp.b32decode(s text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT decode(string_agg(lpad(to_hex(byte), 2, '0'), '' ORDER BY i), 'hex')
  FROM (SELECT i, (SELECT sum(((bits >> (7 - j)) & 1) << (7 - j))::int FROM generate_series(0, 7) j) AS byte
        FROM (SELECT i, substr(b, i * 8 + 1, 8)::bit(8)::int AS bits
              FROM (SELECT string_agg((strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', c) - 1)::bit(5)::text, '' ORDER BY n) AS b
                    FROM regexp_split_to_table(s, '') WITH ORDINALITY AS x(c, n)) q,
                   generate_series(0, length(s) * 5 / 8 - 1) i) r) t $$;
SELECT pg_temp.b32decode(substring(:'uri' FROM 'secret=([A-Z2-7]+)')) AS secret \gset
SELECT set_config('test.tok', mt.tenant_token(:'acme', '1 hour', 'carol', 'member'), false) IS NOT NULL AS t \gset
-- no step boundary while a code is used
SELECT 1 AS waited FROM pg_sleep(CASE WHEN extract(epoch FROM clock_timestamp())::numeric % 30 > 20
                                  THEN 30 - extract(epoch FROM clock_timestamp())::numeric % 30 ELSE 0 END) \gset

SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS t \gset
BEGIN;
SELECT is(mt.current_mfa(), false, 'no second factor yet');
SELECT is(mt.has_permission('invoices:write'), false, 'an MFA-protected permission is not held before mt.totp_verify');
SELECT is(mt.has_permission('billing:read'), false, 'a permission a wildcard pattern covers is not held either');
SELECT is(mt.has_permission('invoices:*'), false, 'nor a wildcard request overlapping a protected permission');
SELECT is(mt.has_permission('invoices:read'), true, 'another permission is unaffected');
SELECT throws_ok($$SELECT mt.require_permission('invoices:write')$$, '42501', NULL,
                 'require_permission raises 42501 before mt.totp_verify');
SELECT throws_like($$SELECT mt.require_permission('invoices:write')$$, '%second factor%',
                   'saying that a second factor is required');
SELECT lives_ok($$SELECT mt.require_permission('invoices:read')$$, 'require_permission of another permission passes');
SELECT is(mt.totp_verify('carol', mt.totp_code(:'secret'::bytea, now())), true, 'carol verifies her code');
SELECT is(mt.has_permission('invoices:write'), true, 'held in the same transaction after mt.totp_verify');
SELECT is(mt.has_permission('billing:read'), true, 'the wildcard-protected one too');
SELECT lives_ok($$SELECT mt.require_permission('invoices:write')$$, 'require_permission passes after mt.totp_verify');
COMMIT;
SELECT is(mt.has_permission('invoices:write'), true, 'held in the next transaction of the same context');
SELECT is(mt.has_permission('orders:write'), true, 'other permissions still held');
-- a new context (the same token SET again) needs the factor again
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS t \gset
SELECT is(mt.has_permission('invoices:write'), false, 'a new context needs the second factor again');

-- a verification that rolls back does not count
BEGIN;
SELECT is(mt.totp_verify('carol', mt.totp_code(:'secret'::bytea, now() + interval '30 seconds')), true, 'verified in a transaction');
SELECT is(mt.has_permission('invoices:write'), true, 'held in it');
ROLLBACK;
SELECT is(mt.has_permission('invoices:write'), false, 'not held after it rolled back');

-- parallel query: the policy runs in the workers, which answer like the leader
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET ROLE mt_mfa_app;
SELECT cmp_ok(pg_temp.workers_launched('SELECT count(*) FROM public.mfa_invoices'), '>', 0,
              'parallel: the count runs with workers');
SELECT count(*) AS c1 FROM public.mfa_invoices \gset
SELECT is(:c1::bigint, 0::bigint, 'parallel: nothing visible before the second factor');
SET force_parallel_mode = regress;
SELECT cmp_ok(pg_temp.workers_launched('SELECT count(*) FROM public.mfa_invoices WHERE id % 10 = 0'), '>', 0,
              'force_parallel_mode: the count runs in a worker');
SELECT count(*) AS c2 FROM public.mfa_invoices WHERE id % 10 = 0 \gset
SELECT is(:c2::bigint, 0::bigint, 'force_parallel_mode: nothing visible in a worker before the second factor');
RESET force_parallel_mode;
RESET ROLE;
SELECT is(mt.totp_verify('carol', mt.totp_code(:'secret'::bytea, now() + interval '30 seconds')), true, 'verified again');
SET ROLE mt_mfa_app;
SELECT count(*) AS c3 FROM public.mfa_invoices \gset
SELECT is(:c3::bigint, 200000::bigint, 'parallel: workers see the second factor of the leader');
SET force_parallel_mode = regress;
SELECT count(*) AS c4 FROM public.mfa_invoices WHERE id % 10 = 0 \gset
SELECT is(:c4::bigint, 20000::bigint, 'force_parallel_mode: every node in a worker, same answer');
RESET force_parallel_mode;
RESET ROLE;
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS t \gset
SET ROLE mt_mfa_app;
SET force_parallel_mode = regress;
SELECT count(*) AS c5 FROM public.mfa_invoices WHERE id % 10 = 0 \gset
SELECT is(:c5::bigint, 0::bigint, 'force_parallel_mode: a new context, the same token again, needs the factor in the workers too');
RESET force_parallel_mode;
RESET ROLE;

-- the marker the workers read cannot be forged
SELECT throws_ok(format('SET multitenant.mfa_marker = %L', :'acme' || ':0000000000000000:carol'), '42501', NULL,
                 'multitenant.mfa_marker cannot be set by a session');

-- another tenant is unaffected
SELECT set_config('multitenant.token', mt.tenant_token(:'globex', '1 hour', 'carol', 'member'), false) IS NOT NULL AS t \gset
SELECT is(mt.has_permission('invoices:write'), true, 'another tenant without the rule is unaffected');

RESET multitenant.token;
SELECT * FROM finish();
DROP TABLE public.mfa_invoices;
DROP ROLE mt_mfa_app;
