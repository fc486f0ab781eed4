-- The backend remembers the OIDs of mt.audit_log, its indexes, its id
-- sequence and mt.audit_checkpoints across transactions (src/audit.c,
-- audit_rels) and looks them up again after their invalidation: a session
-- that saw the extension dropped and created again, or created and rolled
-- back, appends to and seals the tables that exist now.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
\set QUIET 0

SELECT plan(8);
SELECT mt.set_tenant(:'acme', false);
SELECT ok(mt.audit('first.tables') > 0, 'an append to the first tables');
RESET multitenant.token;
BEGIN;
SET LOCAL multitenant.allow_drop_extension = on;
SET LOCAL client_min_messages = error;
DROP EXTENSION multitenant;
COMMIT;
CREATE EXTENSION multitenant;
SELECT mt.create_tenant('Acme', 'acme') AS acme2 \gset
SELECT mt.set_tenant(:'acme2', false);
SELECT lives_ok($$SELECT mt.audit('second.tables')$$, 'the same session appends after the extension was re-created');
SELECT ok(mt.audit_seal() >= 1, 'and seals it');
SELECT is((SELECT count(*) FROM mt.audit_log WHERE seq IS NULL), 0::bigint, 'nothing left unsealed');
SELECT is((SELECT array_agg(action) FROM mt.audit_log WHERE action LIKE '%.tables'), ARRAY['second.tables'],
          'into the new table');
RESET multitenant.token;

-- created in a transaction that rolls back: the session's lookups of the
-- rolled-back tables are forgotten with them
BEGIN;
SET LOCAL multitenant.allow_drop_extension = on;
SET LOCAL client_min_messages = error;
DROP EXTENSION multitenant;
CREATE EXTENSION multitenant;
SELECT mt.create_tenant('Acme', 'acme') AS acme3 \gset
SELECT mt.set_tenant(:'acme3');
SELECT ok(mt.audit('rolled.back') > 0, 'an append to tables created in a transaction');
ROLLBACK;
SELECT mt.set_tenant(:'acme2', false);
SELECT lives_ok($$SELECT mt.audit('after.rollback')$$, 'after its rollback, appends go to the tables that exist');
SELECT is((SELECT array_agg(action ORDER BY id) FROM mt.audit_log WHERE action NOT LIKE 'tenant.%'), ARRAY['second.tables', 'after.rollback'],
          'which hold the events of the committed transactions only');
RESET multitenant.token;
SELECT * FROM finish();
