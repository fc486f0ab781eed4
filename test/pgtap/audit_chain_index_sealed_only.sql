-- Since 0.8.0 the chain index audit_log_chain (tenant_id, seq) holds
-- sealed events only (WHERE seq IS NOT NULL) and the work list
-- audit_log_unsealed (tenant_id, id) unsealed ones only: an append takes
-- one index entry, sealing one more, as a plain INSERT into a table with a
-- primary key and a tenant index does (doc/audit.md, "Indexes and replica
-- identity").  What read the chain index for every event of a tenant reads
-- both now: a chain whose events are all unsealed is still listed by
-- mt.audit_verify() of every chain, and mt.audit_search pages through the
-- sealed part and the unsealed tail in both directions, reading about its
-- own rows (not the whole table) for a small tenant next to a large one.
\set ON_ERROR_STOP 1
\set QUIET 1
\i sql/include/audit_big_neighbour.psql
BEGIN;
SELECT mt.set_tenant(:'acme');
SELECT mt.audit_many(ARRAY['s.1', 's.2', 's.3', 's.4']) AS n \gset
COMMIT;
SELECT mt.audit_seal() > 0 AS sealed \gset
\set QUIET 0

SELECT plan(12);

SELECT is((SELECT indisunique AND pg_get_expr(indpred, indrelid) = '(seq IS NOT NULL)'
           FROM pg_index WHERE indexrelid = 'mt.audit_log_chain'::regclass), true,
          'audit_log_chain is unique over sealed events only');
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'mt.audit_log_unsealed'::regclass),
          '(seq IS NULL)', 'audit_log_unsealed holds unsealed events only');

-- everything below runs in one transaction: the worker cannot seal under it
BEGIN;
\set QUIET 1
SELECT mt.create_tenant('Initech', 'initech') AS initech \gset
SELECT mt.set_tenant(:'initech');
SELECT mt.audit('report.run') > 0 AS appended \gset
SELECT mt.set_tenant(:'acme');
SELECT mt.audit_many(ARRAY['u.1', 'u.2', 'u.3']) AS n \gset
SELECT id AS u2 FROM mt.audit_log WHERE tenant_id = :'acme' AND action = 'u.2' \gset
RESET multitenant.token;
\set QUIET 0

-- read only: verification reads as it is, without sealing first
SAVEPOINT ro;
SET TRANSACTION READ ONLY;
SELECT results_eq(format($$SELECT rows_checked, unsealed FROM mt.audit_verify() WHERE tenant_id = %L$$, :'initech'),
                  $$VALUES (0::bigint, 2::bigint)$$,
                  'a chain whose events are all unsealed is listed by mt.audit_verify() of every chain');
ROLLBACK TO SAVEPOINT ro;

\i sql/include/audit_log_reads.psql
SELECT cmp_ok(pg_temp.audit_log_reads(format($$SELECT count(*) FROM mt.audit_search_tenant(%L)$$, :'acme')),
              '<', 100::bigint,
              'searching a small tenant reads its own events, not the 20,000 of another');
SELECT cmp_ok(pg_temp.audit_log_reads(format($$SELECT count(*) FROM mt.audit_search_tenant(%L, newest_first => true, max_rows => 50)$$, :'globex')),
              '<', 200::bigint,
              'the newest page of a chain of 20,000 reads about its own rows');

-- a tenant's own SELECT of the table: the read policy names both indexes
\set QUIET 1
CREATE ROLE mt_chain_index_app NOLOGIN;
GRANT USAGE ON SCHEMA mt TO mt_chain_index_app;
SELECT count(*) AS acme_events FROM mt.audit_log WHERE tenant_id = :'acme' \gset
SELECT set_config('multitenant.token', mt.tenant_token(:'acme', '1 hour', 'alice'), true) IS NOT NULL AS entered \gset
SET LOCAL ROLE mt_chain_index_app;
\set QUIET 0
SELECT is((SELECT count(*) FROM mt.audit_log), :'acme_events'::bigint,
          'a tenant''s SELECT of mt.audit_log returns its own events, sealed and unsealed');
SELECT cmp_ok(pg_temp.audit_log_reads('SELECT count(*) FROM mt.audit_log'), '<', 200::bigint,
              'and reads them through the two indexes, not the 20,000 of another tenant');
RESET ROLE;
RESET multitenant.token;

SELECT results_eq(format($$SELECT action, seq IS NULL FROM mt.audit_search_tenant(%L, action => NULL)$$, :'acme'),
                  $$SELECT action, seq IS NULL FROM mt.audit_log WHERE tenant_id = '$$ || :'acme' || $$'
                    ORDER BY seq NULLS LAST, id$$,
                  'oldest first: the sealed chain, then the unsealed tail');
SELECT results_eq(format($$SELECT action FROM mt.audit_search_tenant(%L, newest_first => true, max_rows => 2)$$, :'acme'),
                  $$VALUES ('u.3'), ('u.2')$$,
                  'newest first: the unsealed tail first');
SELECT results_eq(format($$SELECT action FROM mt.audit_search_tenant(%L, newest_first => true, after_id => %s, max_rows => 3)$$,
                         :'acme', :u2),
                  $$VALUES ('u.1'), ('s.4'), ('s.3')$$,
                  'newest first after an unsealed cursor: the rest of the tail, then the sealed chain');
SELECT results_eq(format($$SELECT action FROM mt.audit_search_tenant(%L, after_id => (SELECT id FROM mt.audit_log WHERE tenant_id = %L AND action = 's.3'), max_rows => 3)$$,
                         :'acme', :'acme'),
                  $$VALUES ('s.4'), ('u.1'), ('u.2')$$,
                  'oldest first after a sealed cursor: the rest of the chain, then the tail');
SELECT results_eq(format($$SELECT action FROM mt.audit_search_tenant(%L, after_id => %s)$$, :'acme', :u2),
                  $$VALUES ('u.3')$$,
                  'oldest first after an unsealed cursor: no sealed event comes again');
SELECT * FROM finish();
ROLLBACK;   -- drops the role
