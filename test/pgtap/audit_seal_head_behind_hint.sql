-- A sealer remembers where each chain's head was when it last sealed it
-- and reads only the chain's rows from there to find the head (src/audit.c,
-- head_hint).  The hint must never decide the head: when the newest rows
-- are gone (deleted behind the guard, as a tamper test does), the next
-- sealing in the same session links from the real head, and the chain
-- verifies without a digest.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Hinted', 'hinted') AS t \gset
SELECT mt.set_tenant(:'t', false);
SELECT count(mt.audit('event.' || g)) FROM generate_series(1, 10) g;
SELECT mt.audit_seal();
\set QUIET 0

SELECT plan(7);
SELECT is((SELECT max(seq) FROM mt.audit_log WHERE tenant_id = :'t' AND seq IS NOT NULL), 11::bigint,
          'tenant.create and ten events sealed by this session (its hint for the chain: 11)');

ALTER TABLE mt.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM mt.audit_log WHERE tenant_id = :'t' AND seq >= 7;
ALTER TABLE mt.audit_log ENABLE TRIGGER audit_log_append_only;

SELECT lives_ok($$SELECT mt.audit('after.delete')$$, 'an append after the newest five rows were deleted');
SELECT is(mt.audit_seal(), 1::bigint, 'sealed by the same session');
SELECT is((SELECT seq FROM mt.audit_log WHERE tenant_id = :'t' AND action = 'after.delete'), 7::bigint,
          'linked after the real head (6), not after the hint (11)');
SELECT is((SELECT prev_hash FROM mt.audit_log WHERE tenant_id = :'t' AND action = 'after.delete'),
          (SELECT hash FROM mt.audit_log WHERE tenant_id = :'t' AND seq = 6),
          'its prev_hash is the hash of row 6');
SELECT ok((SELECT ok FROM mt.audit_verify(:'t')), 'the chain verifies without a digest');

-- the hint is now 7, the real head: the next sealing finds it there
SELECT count(mt.audit('more.' || g)) FROM generate_series(1, 3) g;
SELECT mt.audit_seal();
SELECT is((SELECT array_agg(seq ORDER BY seq) FROM mt.audit_log WHERE tenant_id = :'t'),
          ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]::bigint[], 'positions 1 to 10 without gaps');
RESET multitenant.token;
SELECT * FROM finish();
