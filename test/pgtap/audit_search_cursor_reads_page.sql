-- mt.audit_search pages through a chain with after_id (the id of the last
-- row of the previous page).  Since 0.7.0 mt.audit_log has no index on id:
-- finding the cursor row's chain position by "id = $1 AND tenant_id = $2"
-- read every event of the tenant through the chain index, on every page
-- (paging through a chain of n events read n^2/page events).  The cursor
-- is now found by a binary search over the chain index (ids grow with seq
-- in a chain): a page reads about its own rows, and the pages are the same
-- as before (sealed cursor, unsealed cursor, newest first, pruned cursor
-- row, an id of another chain).
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
BEGIN;
SELECT mt.set_tenant(:'acme');
SELECT mt.audit_many(array_agg('doc.view'::text), array_agg('doc'::text), array_agg(i::text)) AS n
FROM generate_series(1, 20000) i \gset
COMMIT;
BEGIN;
SELECT mt.set_tenant(:'globex');
SELECT mt.audit('invoice.sent', 'invoice', '1') AS globex_id \gset
COMMIT;
SELECT mt.audit_seal() > 0 AS sealed \gset
SELECT max(seq) AS head FROM mt.audit_log WHERE tenant_id = :'acme' \gset
SELECT id AS cur FROM mt.audit_log WHERE tenant_id = :'acme' AND seq = :head - 100 \gset
\set QUIET 0

SELECT plan(8);

-- events of mt.audit_log read by one call, in this transaction's statistics
\i sql/include/audit_log_reads.psql

BEGIN;
SELECT cmp_ok(pg_temp.audit_log_reads(format($$SELECT count(*) FROM mt.audit_search_tenant(%L, after_id => %s, max_rows => 50)$$,
                                   :'acme', :cur)), '<', 2000::bigint,
              'a page after a sealed cursor row reads about its own rows, not the whole chain of 20,000');
COMMIT;

SELECT results_eq(format($$SELECT seq FROM mt.audit_search_tenant(%L, after_id => %s, max_rows => 5)$$, :'acme', :cur),
                  format($$SELECT seq FROM generate_series(%s::bigint, %s) seq$$, :head - 99, :head - 95),
                  'the page after a sealed cursor starts right after it');
SELECT results_eq(format($$SELECT seq FROM mt.audit_search_tenant(%L, after_id => %s, max_rows => 5, newest_first => true)$$, :'acme', :cur),
                  format($$SELECT seq FROM generate_series(%s::bigint, %s, -1) seq$$, :head - 101, :head - 105),
                  'newest first: the page ends right before it');
-- an unsealed tail of three events (uncommitted: no sealer links it meanwhile)
BEGIN;
\set QUIET 1
SELECT mt.set_tenant(:'acme');
SELECT mt.audit_many(ARRAY['tail.1', 'tail.2', 'tail.3']) AS tail \gset
SELECT id AS cur_unsealed FROM mt.audit_log WHERE tenant_id = :'acme' AND action = 'tail.1' \gset
\set QUIET 0
SELECT results_eq(format($$SELECT action, seq FROM mt.audit_search_tenant(%L, after_id => %s)$$, :'acme', :cur_unsealed),
                  $$VALUES ('tail.2', NULL::bigint), ('tail.3', NULL)$$,
                  'after an unsealed cursor row: the rest of the unsealed tail');
SELECT results_eq(format($$SELECT action FROM mt.audit_search_tenant(%L, after_id => %s, max_rows => 3)$$, :'acme', :globex_id),
                  $$VALUES ('tail.1'), ('tail.2'), ('tail.3')$$,
                  'an id of another chain: the events after the chain position it would have (after every sealed one)');
COMMIT;
SELECT is((SELECT count(*)::int FROM mt.audit_search_tenant(:'acme', after_id => 0, max_rows => 5)), 5,
          'an id before the chain: its first page');

-- the cursor row pruned: the page starts at the first event after it
SELECT mt.audit_prune('0 seconds', :'acme') >= 0 AS pruned \gset
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE tenant_id = :'acme' AND id = :cur), 0,
          'control: the cursor row was pruned');
SELECT is((SELECT count(*)::int FROM mt.audit_search_tenant(:'acme', after_id => :cur)),
          (SELECT count(*)::int FROM mt.audit_log WHERE tenant_id = :'acme'),
          'after a pruned cursor row: every remaining event');

SELECT * FROM finish();
