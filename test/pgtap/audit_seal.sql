-- Sealing (doc/audit.md, "Sealing: appends without a lock"): appends go in
-- unsealed with a content hash; the sealer links committed events (and its
-- own transaction's) in id order; SQL cannot link or relink a row; an
-- unsealed row changed behind the guard is refused by the sealer and named
-- by mt.audit_verify(); a tenant reads its own events, sealed or not;
-- rolled-back events are never sealed; crypto-shredding and pruning work
-- across sealing.  Everything runs in one transaction, so the background
-- worker (which sees committed events only) cannot seal under the test.
\set ON_ERROR_STOP 1
\set QUIET 1
BEGIN;
CREATE FUNCTION pg_temp.f(x bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN x IS NULL THEN '\xffffffff'::bytea ELSE int4send(length(x)) || x END $$;
CREATE FUNCTION pg_temp.t(x text) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT convert_to(x, 'UTF8') $$;
-- doc/audit.md, "Canonical serialization and hash": the content hash of an unsealed row
CREATE FUNCTION pg_temp.content_hash(l mt.audit_log) RETURNS bytea LANGUAGE sql AS $$
    SELECT sha256(convert_to('mt.audit.v1', 'UTF8') || '\x00'::bytea || '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
        || pg_temp.f(pg_temp.t(l.id::text)) || pg_temp.f(pg_temp.t(l.tenant_id::text))
        || pg_temp.f(NULL)
        || pg_temp.f(pg_temp.t((extract(epoch FROM l.at) * 1000000)::bigint::text))
        || pg_temp.f(pg_temp.t(l.actor)) || pg_temp.f(pg_temp.t(l.action))
        || pg_temp.f(pg_temp.t(l.resource_type)) || pg_temp.f(pg_temp.t(l.resource_id))
        || pg_temp.f(pg_temp.t(l.details::text)) || pg_temp.f(pg_temp.t(l.details_key_id::text))
        || pg_temp.f(l.details_enc) || pg_temp.f(pg_temp.t(l.client_addr::text))
        || pg_temp.f(pg_temp.t(l.db_user)))
$$;
CREATE ROLE mt_seal_app NOLOGIN;
GRANT USAGE ON SCHEMA mt TO mt_seal_app;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.audit_seal() >= 0 AS sealed \gset
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT max(mt.audit('doc.view', 'doc', g::text, jsonb_build_object('n', g))) AS last_acme FROM generate_series(1, 5) g \gset
SELECT mt.audit('doc.share', 'doc', '9', '{"with": "eve@example.com"}', 'eve') > 0 AS appended \gset
SAVEPOINT s;
SELECT mt.audit('rolled.back') > 0 AS appended \gset
ROLLBACK TO SAVEPOINT s;
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered \gset
SELECT mt.audit('report.run') > 0 AS appended \gset
RESET multitenant.token;
\set QUIET 0

SELECT plan(22);

-- unsealed: no position, no link, the documented content hash
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE seq IS NULL AND tenant_id = :'acme'), 6,
    'appends are unsealed: seq NULL');
SELECT is((SELECT count(*)::int FROM mt.audit_log l WHERE seq IS NULL AND prev_hash IS NULL AND hash = pg_temp.content_hash(l)), 7,
    'an unsealed row carries no link and its documented content hash');

-- a tenant reads its own events, sealed or not, and nobody else's
SELECT set_config('multitenant.token', mt.tenant_token(:'acme', '1 hour', 'alice'), false) IS NOT NULL AS entered \gset
SET ROLE mt_seal_app;
SELECT is((SELECT count(*)::int FROM mt.audit_log), 7, 'a tenant sees its 7 events (1 sealed, 6 unsealed)');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE tenant_id <> :'acme'), 0, 'and none of another tenant');
SELECT is((SELECT count(*)::int FROM mt.audit_search(max_rows => 100)), 7, 'mt.audit_search returns unsealed events too');
SELECT is((SELECT action FROM mt.audit_search(newest_first => true, max_rows => 1)), 'doc.share', 'newest first: the newest unsealed event');
SELECT throws_ok('SELECT mt.audit_seal()', '42501', NULL, 'a tenant cannot run the sealer');
RESET ROLE;
RESET multitenant.token;

-- SQL cannot link a row: only the sealer's C code writes seq, prev_hash, hash
SELECT throws_ok(format($$UPDATE mt.audit_log SET seq = 2 WHERE id = %s$$, :last_acme), '42501', NULL,
    'UPDATE of an unsealed row is refused by the guard (owner and superuser alike)');

-- the sealer links in id order; the rolled-back event never appears
SELECT is(mt.audit_seal(), 7::bigint, 'mt.audit_seal() links the 7 events of this transaction');
SELECT is((SELECT array_agg(seq ORDER BY id) FROM mt.audit_log WHERE tenant_id = :'acme'), '{1,2,3,4,5,6,7}'::bigint[],
    'positions follow id order');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE action = 'rolled.back'), 0, 'the rolled-back event is not in the log');
SELECT results_eq($$SELECT ok, unsealed, oldest_unsealed IS NULL FROM mt.audit_verify() ORDER BY tenant_id$$,
    $$VALUES (true, 0::bigint, true), (true, 0::bigint, true)$$,
    'every chain verifies with nothing unsealed');
SELECT is(mt.audit_seal(), 0::bigint, 'a second seal has nothing to do');

-- an unsealed row changed behind the guard: refused at sealing, named by verify
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT mt.audit('doc.view', 'doc', '10') AS tampered \gset
SELECT mt.audit('doc.view', 'doc', '11') AS after_tampered \gset
RESET multitenant.token;
ALTER TABLE mt.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE mt.audit_log SET resource_id = '666' WHERE id = :tampered;
ALTER TABLE mt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
SELECT is(mt.audit_seal(), 0::bigint, 'the sealer does not link the changed row nor the ones after it');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE id IN (:tampered, :after_tampered) AND seq IS NULL), 2,
    'both stay unsealed');
SELECT results_eq(format($$SELECT ok, first_bad_id, unsealed, problem FROM mt.audit_verify(%L)$$, :'acme'),
    format($$VALUES (false, %s::bigint, 2::bigint, 'unsealed row %s: row content does not match its content hash (modified before sealing)')$$, :tampered, :tampered),
    'mt.audit_verify names the changed unsealed row and counts the unsealed tail');
SELECT is((SELECT ok FROM mt.audit_verify(:'globex')), true, 'another chain is not affected');
-- put the row back: it matches its content hash again and is sealed
ALTER TABLE mt.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE mt.audit_log SET resource_id = '10' WHERE id = :tampered;
ALTER TABLE mt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
SELECT is(mt.audit_seal(), 2::bigint, 'restored, the two rows are linked');

-- crypto-shredding across sealing
SELECT is(mt.audit_forget_subject('eve', :'acme'), 1::bigint, 'the subject''s key is destroyed');
SELECT set_config('multitenant.token', mt.tenant_token(:'acme', '1 hour', 'alice'), false) IS NOT NULL AS entered \gset
SELECT is((SELECT details_state FROM mt.audit_search(action => 'doc.share')), 'shredded', 'its sealed details read as shredded');
RESET multitenant.token;

-- pruning seals first and leaves a verifiable rest
SELECT cmp_ok(mt.audit_prune('0 s', :'acme'), '>=', 10::bigint, 'prune removes the sealed chain, including the shredding event it sealed first');
SELECT is((SELECT bool_and(ok) AND sum(unsealed) = 0 FROM mt.audit_verify()), true, 'after pruning every chain verifies, nothing unsealed');

SELECT * FROM finish();
ROLLBACK;
