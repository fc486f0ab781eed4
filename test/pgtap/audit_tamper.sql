-- Tampering behind the guard triggers (a superuser disables them): every
-- kind of change is found by mt.audit_verify(), which names the first bad
-- row; a truncated tail and a fully re-hashed chain need the saved digest.
-- Also: an independent SQL implementation of the documented hash agrees
-- with the C code on every row.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE FUNCTION pg_temp.f(x bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN x IS NULL THEN '\xffffffff'::bytea ELSE int4send(length(x)) || x END $$;
CREATE FUNCTION pg_temp.t(x text) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT convert_to(x, 'UTF8') $$;
-- doc/audit.md, "Canonical serialization and hash", in SQL
CREATE FUNCTION pg_temp.row_hash(l mt.audit_log) RETURNS bytea LANGUAGE sql AS $$
    -- an unsealed row (seq and prev_hash NULL): its content hash, prev_hash as 32 zero bytes
    SELECT sha256(convert_to('mt.audit.v1', 'UTF8') || '\x00'::bytea
        || coalesce(l.prev_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
        || pg_temp.f(pg_temp.t(l.id::text)) || pg_temp.f(pg_temp.t(l.tenant_id::text))
        || pg_temp.f(pg_temp.t(l.seq::text))
        || pg_temp.f(pg_temp.t((extract(epoch FROM l.at) * 1000000)::bigint::text))
        || pg_temp.f(pg_temp.t(l.actor)) || pg_temp.f(pg_temp.t(l.action))
        || pg_temp.f(pg_temp.t(l.resource_type)) || pg_temp.f(pg_temp.t(l.resource_id))
        || pg_temp.f(pg_temp.t(l.details::text)) || pg_temp.f(pg_temp.t(l.details_key_id::text))
        || pg_temp.f(l.details_enc) || pg_temp.f(pg_temp.t(l.client_addr::text))
        || pg_temp.f(pg_temp.t(l.db_user)))
$$;
CREATE FUNCTION pg_temp.fill(t uuid, n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mt.set_tenant(t);
    PERFORM mt.audit('event.' || g, 'thing', g::text, jsonb_build_object('n', g, 'note', 'ünïcödé "quoted"'))
    FROM generate_series(1, n) g;
    PERFORM mt.audit('secret', 'thing', 'x', '{"pii": true}', 'subject-1');
END $$;
CREATE TABLE pg_temp.chains (name text PRIMARY KEY, tid uuid);
INSERT INTO pg_temp.chains
SELECT name, mt.create_tenant(name, name) FROM unnest(ARRAY['clean', 'modified', 'details', 'deleted',
    'inserted', 'reordered', 'truncated', 'rehashed', 'prevhash', 'pruned', 'vanished']) name;
SELECT pg_temp.fill(tid, 10) FROM pg_temp.chains;
-- rows: seq 1 tenant.create, 2..11 event.1..10, 12 secret (encrypted)
-- the hash of every row (sealed or not) follows the documented definition
SELECT count(*) = (SELECT count(*) FROM mt.audit_log) AS all_hashes_documented
FROM mt.audit_log l WHERE pg_temp.row_hash(l) = l.hash \gset
-- the tampering below works on chain positions: link everything first
SELECT mt.audit_seal() >= 0 AS sealed \gset
CREATE FUNCTION pg_temp.tid(n text) RETURNS uuid LANGUAGE sql AS $$ SELECT tid FROM pg_temp.chains WHERE name = n $$;
CREATE FUNCTION pg_temp.id_at(n text, s bigint) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM mt.audit_log WHERE tenant_id = pg_temp.tid(n) AND seq = s $$;
\set QUIET 0

SELECT plan(32);

SELECT ok(:'all_hashes_documented', 'a SQL implementation of the documented hash matches every row before sealing (content hashes)');
SELECT is((SELECT count(*)::int FROM mt.audit_log l WHERE pg_temp.row_hash(l) = l.hash),
          (SELECT count(*)::int FROM mt.audit_log), 'a SQL implementation of the documented hash matches every row');
SELECT is((SELECT bool_and(ok) FROM mt.audit_verify()), true, 'all chains verify before tampering');
SELECT jsonb_agg(d) AS digest FROM mt.audit_digest() d \gset

-- the superuser has to disable the guard first; replica mode is not enough
SET session_replication_role = replica;
SELECT throws_ok($$UPDATE mt.audit_log SET action = 'x'$$, '42501', NULL, 'session_replication_role = replica does not bypass the guard');
RESET session_replication_role;
ALTER TABLE mt.audit_log DISABLE TRIGGER audit_log_append_only;
ALTER TABLE mt.audit_checkpoints DISABLE TRIGGER audit_checkpoints_append_only;

UPDATE mt.audit_log SET action = 'forged' WHERE tenant_id = pg_temp.tid('modified') AND seq = 5;
UPDATE mt.audit_log SET details = '{"n": 999}' WHERE tenant_id = pg_temp.tid('details') AND seq = 7;
DELETE FROM mt.audit_log WHERE tenant_id = pg_temp.tid('deleted') AND seq = 4;
-- insert a row at seq 6 whose own hash is correct: renumber the rest
UPDATE mt.audit_log SET seq = seq + 1000 WHERE tenant_id = pg_temp.tid('inserted') AND seq >= 6;
UPDATE mt.audit_log SET seq = seq - 999 WHERE tenant_id = pg_temp.tid('inserted') AND seq >= 1000;
INSERT INTO mt.audit_log
SELECT nextval('mt.audit_log_id_seq'), tenant_id, 6, at, actor, 'forged.insert', resource_type, resource_id,
       details, NULL, NULL, client_addr, db_user, hash, sha256('placeholder')
FROM mt.audit_log WHERE tenant_id = pg_temp.tid('inserted') AND seq = 5;
UPDATE mt.audit_log l SET hash = pg_temp.row_hash(l) WHERE tenant_id = pg_temp.tid('inserted') AND seq = 6;
-- swap two positions
UPDATE mt.audit_log SET seq = CASE seq WHEN 3 THEN 4 ELSE 3 END + 1000
WHERE tenant_id = pg_temp.tid('reordered') AND seq IN (3, 4);
UPDATE mt.audit_log SET seq = seq - 1000 WHERE tenant_id = pg_temp.tid('reordered') AND seq > 1000;
-- cut the tail
DELETE FROM mt.audit_log WHERE tenant_id = pg_temp.tid('truncated') AND seq >= 10;
-- rewrite a row and re-hash everything after it, as a careful forger would
UPDATE mt.audit_log SET actor = 'nobody' WHERE tenant_id = pg_temp.tid('rehashed') AND seq = 3;
DO $$
DECLARE r record; prev bytea;
BEGIN
    FOR r IN SELECT * FROM mt.audit_log WHERE tenant_id = pg_temp.tid('rehashed') AND seq >= 3 ORDER BY seq LOOP
        IF prev IS NOT NULL THEN UPDATE mt.audit_log SET prev_hash = prev WHERE id = r.id; END IF;
        UPDATE mt.audit_log l SET hash = pg_temp.row_hash(l) WHERE id = r.id RETURNING hash INTO prev;
    END LOOP;
END $$;
UPDATE mt.audit_log SET prev_hash = sha256('x') WHERE tenant_id = pg_temp.tid('prevhash') AND seq = 8;
DELETE FROM mt.audit_log WHERE tenant_id = pg_temp.tid('vanished');

ALTER TABLE mt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
SELECT throws_ok($$UPDATE mt.audit_log SET action = 'x'$$, '42501', NULL, 'guard is back');

CREATE TABLE pg_temp.res AS
SELECT c.name, v.* FROM pg_temp.chains c LEFT JOIN mt.audit_verify(NULL, :'digest') v ON v.tenant_id = c.tid;
CREATE TABLE pg_temp.res_nodigest AS
SELECT c.name, v.* FROM pg_temp.chains c LEFT JOIN mt.audit_verify() v ON v.tenant_id = c.tid;

SELECT is((SELECT ok FROM pg_temp.res WHERE name = 'clean'), true, 'untouched chain verifies');
SELECT is((SELECT first_bad_id FROM pg_temp.res WHERE name = 'modified'), pg_temp.id_at('modified', 5), 'modified row: named');
SELECT matches((SELECT problem FROM pg_temp.res WHERE name = 'modified'), '^seq 5: .*modified', 'modified row: explained');
SELECT is((SELECT first_bad_id FROM pg_temp.res WHERE name = 'details'), pg_temp.id_at('details', 7), 'modified details: named');
SELECT is((SELECT first_bad_id FROM pg_temp.res WHERE name = 'deleted'), pg_temp.id_at('deleted', 5), 'deleted row: the row after the gap is named');
SELECT matches((SELECT problem FROM pg_temp.res WHERE name = 'deleted'), 'gap', 'deleted row: reported as a gap');
SELECT is((SELECT first_bad_id FROM pg_temp.res WHERE name = 'inserted'), pg_temp.id_at('inserted', 7),
          'inserted row with a correct own hash: the renumbered row after it is named');
SELECT is((SELECT ok FROM pg_temp.res WHERE name = 'inserted'), false, 'inserted row: chain fails');
SELECT is((SELECT first_bad_id FROM pg_temp.res WHERE name = 'reordered'), pg_temp.id_at('reordered', 3), 'reordered rows: first position named');
SELECT is((SELECT ok FROM pg_temp.res_nodigest WHERE name = 'truncated'), true, 'truncated tail: invisible without a digest');
SELECT is((SELECT ok FROM pg_temp.res WHERE name = 'truncated'), false, 'truncated tail: found with the digest');
SELECT matches((SELECT problem FROM pg_temp.res WHERE name = 'truncated'), 'ends at seq 9 but the digest records seq 12',
               'truncated tail: explained');
SELECT is((SELECT ok FROM pg_temp.res_nodigest WHERE name = 'rehashed'), true, 'fully re-hashed chain: invisible without a digest');
SELECT is((SELECT first_bad_id FROM pg_temp.res WHERE name = 'rehashed'), pg_temp.id_at('rehashed', 12), 'fully re-hashed chain: the digest names the head');
SELECT is((SELECT first_bad_id FROM pg_temp.res WHERE name = 'prevhash'), pg_temp.id_at('prevhash', 8), 'changed prev_hash: named');
SELECT is((SELECT ok FROM pg_temp.res WHERE name = 'vanished'), false, 'deleted chain: found with the digest');
SELECT is((SELECT rows_checked FROM pg_temp.res WHERE name = 'vanished'), 0::bigint, 'deleted chain: no rows');
SELECT is((SELECT rows_checked FROM pg_temp.res WHERE name = 'modified'), 12::bigint, 'every row is still checked after the first bad one');

-- a single tenant, and the chain check via the export format
SELECT is((SELECT first_bad_id FROM mt.audit_verify(pg_temp.tid('modified'))), pg_temp.id_at('modified', 5), 'verify(tenant) alone names the same row');

-- pruning refuses to discard a tampered prefix
SELECT throws_ok(format('SELECT mt.audit_prune(''0 s'', %L)', pg_temp.tid('modified')), 'XX001', NULL,
                 'prune refuses a chain that fails verification');
-- (not counting the security events a flush may have added to the chain since
-- verification found the tampering)
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE tenant_id = pg_temp.tid('modified') AND action NOT LIKE 'security.%'), 12, 'nothing was pruned');

-- a checkpoint changed after pruning breaks the link to the first remaining row
SELECT is(mt.audit_prune('0 s', pg_temp.tid('pruned')), 12::bigint, 'prune a clean chain');
SELECT is((SELECT ok FROM mt.audit_verify(pg_temp.tid('pruned'))), true, 'pruned chain verifies');
UPDATE mt.audit_checkpoints SET hash = sha256('forged') WHERE tenant_id = pg_temp.tid('pruned');
SELECT is((SELECT first_bad_id FROM mt.audit_verify(pg_temp.tid('pruned'))), pg_temp.id_at('pruned', 13),
          'forged checkpoint: the first row after it is named');
SELECT matches((SELECT problem FROM mt.audit_verify(pg_temp.tid('pruned'))), 'prev_hash', 'forged checkpoint: broken link');
ALTER TABLE mt.audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_append_only;

-- appends after tampering chain to the (tampered) head: the damage stays visible
SELECT lives_ok(format('SELECT pg_temp.fill(%L, 1)', pg_temp.tid('modified')), 'appending still works');
SELECT is((SELECT first_bad_id FROM mt.audit_verify(pg_temp.tid('modified'))), pg_temp.id_at('modified', 5), 'still named after more appends');

SELECT * FROM finish();
