-- mt.audit_digest() in a read-only transaction (as on a hot standby, where
-- every transaction is read-only): it returns the chain heads all the same,
-- so an auditor can take a digest from a replica, and records the digest in
-- mt.audit_digests (what compliance check MT-AUD-002 reads) only where it
-- can write.  test/shell/standby_matrix.sh checks the same on a real standby.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT mt.audit('invoice.sent') > 0 AS appended \gset
SELECT mt.audit('invoice.paid') > 0 AS appended \gset
RESET multitenant.token;
SELECT mt.audit('maintenance.started') > 0 AS appended \gset
-- a digest covers sealed events (a replica cannot seal): link them all
SELECT mt.audit_seal() >= 0 AS sealed \gset
SELECT hash AS acme_head FROM mt.audit_digest(:'acme') \gset
DELETE FROM mt.audit_digests;
\set QUIET 0

SELECT plan(7);

BEGIN READ ONLY;
SELECT results_eq(
    format($$SELECT seq, hash FROM mt.audit_digest(%L)$$, :'acme'),
    format($$SELECT rows_checked, %L::text FROM mt.audit_verify(%L)$$, :'acme_head', :'acme'),
    'a read-only transaction gets the head of the chain');
SELECT cmp_ok((SELECT count(*) FROM mt.audit_digest()), '>=', 2::bigint,
    'a read-only transaction gets the heads of every chain (Acme and the no-tenant chain)');
SELECT is((SELECT count(*) FROM mt.audit_digests), 0::bigint,
    'nothing is recorded in a read-only transaction');
COMMIT;

SET default_transaction_read_only = on;
SELECT is((SELECT count(*) FROM mt.audit_digest(:'acme')), 1::bigint,
    'default_transaction_read_only: the digest is returned');
RESET default_transaction_read_only;
SELECT is((SELECT count(*) FROM mt.audit_digests), 0::bigint,
    'default_transaction_read_only: nothing was recorded');

SELECT is((SELECT count(*) FROM mt.audit_digest()), (SELECT count(DISTINCT tenant_id) FROM mt.audit_log),
    'a read-write transaction gets every chain head');
SELECT ok((SELECT count(*) = 1 AND bool_and(all_tenants) FROM mt.audit_digests),
    'and records the digest of all chains for MT-AUD-002');

SELECT * FROM finish();
