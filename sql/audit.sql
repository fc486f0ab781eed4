-- Tamper-evident audit log: chains, bad input, append-only, encryption,
-- search, export, tenant lifecycle events, row-change trigger, pruning.
CREATE EXTENSION multitenant;
\i sql/include/helpers.psql
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour', 'alice'), false) AS tok_acme \gset
SELECT set_config('test.tok_globex', mt.tenant_token(:'globex', '1 hour'), false) AS tok_globex \gset
CREATE FUNCTION pg_temp.chain(t uuid) RETURNS TABLE (seq bigint, actor text, action text,
    resource_type text, resource_id text, details text, linked boolean)
LANGUAGE sql AS $$
    -- appends are linked by the sealer (doc/audit.md, "Sealing"): seal first
    SELECT mt.audit_seal();
    SELECT l.seq, l.actor, l.action, l.resource_type,
           regexp_replace(l.resource_id, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g'),
           regexp_replace(l.details::text, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g'),
           l.prev_hash = coalesce(lag(l.hash) OVER (ORDER BY l.seq), '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
    FROM mt.audit_log l WHERE l.tenant_id = t ORDER BY l.seq
$$;
CREATE FUNCTION pg_temp.verify_all() RETURNS TABLE (chain text, ok boolean, rows_checked bigint, bad boolean, head_seq bigint, problem text)
LANGUAGE sql AS $$
    SELECT coalesce(t.slug, CASE WHEN v.tenant_id = '00000000-0000-0000-0000-000000000000' THEN '(no tenant)' END),
           v.ok, v.rows_checked, v.first_bad_id IS NOT NULL, v.head_seq, v.problem
    FROM mt.audit_verify() v LEFT JOIN mt.tenants t ON t.id = v.tenant_id ORDER BY 1
$$;

-- creating a tenant recorded the first event of its chain
SELECT * FROM pg_temp.chain(:'acme');

-- no context: the no-tenant chain (nil uuid), actor = session user
SELECT mt.audit('system.start') > 0 AS appended;
SELECT mt.audit('system.config', 'setting', 'work_mem', '{"old": "4MB", "new": "8MB"}') > 0 AS appended;
SELECT * FROM pg_temp.chain('00000000-0000-0000-0000-000000000000');

-- inside a tenant: the tenant's chain, actor = the token's subject
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT mt.audit('document.update', 'document', '17', '{"field": "title"}') AS id1 \gset
SELECT mt.audit('document.delete', 'document', '18') AS id2 \gset
SELECT :id2 > :id1 AS ids_grow;
COMMIT;
-- without a subject claim, the actor is the session user
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_globex'), true) IS NOT NULL AS entered \gset
SELECT mt.audit('login') > 0 AS appended;
COMMIT;
SELECT * FROM pg_temp.chain(:'acme');
SELECT * FROM pg_temp.chain(:'globex');
SELECT db_user, client_addr IS NULL AS local_socket, length(hash) AS hash_len,
       at <= clock_timestamp() AS at_set
FROM mt.audit_log WHERE id = :id1;

-- an aborted append leaves no gap
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT mt.audit('aborted') > 0 AS appended;
ROLLBACK;
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT mt.audit('after.abort') > 0 AS appended;
SAVEPOINT s;
SELECT mt.audit('rolled.back.to.savepoint') > 0 AS appended;
ROLLBACK TO SAVEPOINT s;
SELECT mt.audit('after.savepoint') > 0 AS appended;
SELECT count(mt.audit('batch.' || g)) AS appended_in_one_statement FROM generate_series(1, 3) g;
COMMIT;
SELECT seq, action, linked FROM pg_temp.chain(:'acme') WHERE seq > 3;
SELECT * FROM pg_temp.verify_all();

-- bad input
SELECT pg_temp.err('SELECT mt.audit(NULL)');
SELECT pg_temp.err('SELECT mt.audit('''')');
SELECT pg_temp.err('SELECT mt.audit(repeat(''a'', 201))');
SELECT pg_temp.err('SELECT mt.audit(''x'', repeat(''t'', 201))');
SELECT pg_temp.err('SELECT mt.audit(''x'', ''t'', repeat(''i'', 1001))');
SELECT pg_temp.err('SELECT mt.audit(''x'', details => ''{"unterminated": '')');
SELECT pg_temp.err('SELECT mt.audit(''x'', details => jsonb_build_object(''blob'', repeat(''x'', 1024 * 1024)))');
SELECT pg_temp.err('SELECT mt.audit(''x'', details => ''{"a": 1}'', subject => '''')');
SELECT pg_temp.err('SELECT mt.audit(''x'', details => ''{"a": 1}'', subject => repeat(''s'', 256))');
SET multitenant.audit_max_details = '1kB';
SELECT pg_temp.err('SELECT mt.audit(''x'', details => jsonb_build_object(''blob'', repeat(''x'', 2000)))');
RESET multitenant.audit_max_details;
SELECT mt.audit('x', details => jsonb_build_object('blob', repeat('x', 2000))) > 0 AS default_limit_allows_2kB;
SELECT pg_temp.err('SET multitenant.audit_max_details = 100');

-- append-only: refused even for the superuser owner
SELECT pg_temp.err('UPDATE mt.audit_log SET action = ''forged'' WHERE seq = 1');
SELECT pg_temp.err('DELETE FROM mt.audit_log');
SELECT pg_temp.err('TRUNCATE mt.audit_log');
SELECT pg_temp.err('UPDATE mt.audit_checkpoints SET seq = 1');
SELECT pg_temp.err('DELETE FROM mt.audit_checkpoints');
-- a superuser may insert (that is how a dump is restored), but a forged row does not verify
BEGIN;
INSERT INTO mt.audit_log (id, tenant_id, seq, at, actor, action, db_user, prev_hash, hash)
SELECT nextval('mt.audit_log_id_seq'), tenant_id, seq + 1, now(), 'mallory', 'forged', 'mallory', hash, sha256('x')
FROM mt.audit_log WHERE tenant_id = :'globex' ORDER BY seq DESC LIMIT 1;
SELECT ok, problem FROM mt.audit_verify(:'globex');
ROLLBACK;
-- a failed verification records a security event (audit_tamper) that the
-- flush writes into the chain, now rather than at the worker's next round
SELECT mt.flush_usage() >= 0 AS flushed;
SET session_replication_role = replica;   -- the guard triggers are ENABLE ALWAYS
SELECT pg_temp.err('DELETE FROM mt.audit_log');
RESET session_replication_role;
SELECT count(*) AS rows_still_there FROM mt.audit_log;

-- digests and verification against a digest
SELECT chain, seq, length(hash) AS hex_len, at IS NOT NULL AS has_at
FROM (SELECT coalesce(t.slug, '(no tenant)') AS chain, d.* FROM mt.audit_digest() d
      LEFT JOIN mt.tenants t ON t.id = d.tenant_id) s ORDER BY 1;
SELECT jsonb_agg(d) AS digest FROM mt.audit_digest() d \gset
SELECT bool_and(ok) AS all_ok, count(*) AS chains FROM mt.audit_verify(NULL, :'digest');
SELECT ok, rows_checked, head_seq FROM mt.audit_verify(:'acme', (SELECT to_jsonb(d) FROM mt.audit_digest(:'acme') d));
SELECT pg_temp.err('SELECT * FROM mt.audit_verify(NULL, ''[{"tenant_id": "x"}]'')');
SELECT pg_temp.err('SELECT * FROM mt.audit_verify(NULL, ''[{"seq": 1, "hash": "00"}]'')');
SELECT pg_temp.err($$SELECT * FROM mt.audit_verify(NULL, '[{"tenant_id": "00000000-0000-0000-0000-000000000000", "seq": 1, "hash": "zz"}]')$$);
-- a digest naming a chain that does not exist
SELECT ok, rows_checked, problem FROM mt.audit_verify(NULL,
    '{"tenant_id": "00000000-0000-0000-0000-0000000000ff", "seq": 3, "hash": "0000000000000000000000000000000000000000000000000000000000000000"}')
WHERE tenant_id = '00000000-0000-0000-0000-0000000000ff';
SELECT mt.flush_usage() >= 0 AS flushed;   -- the tamper event now, not at the worker's next round

-- personal data: details encrypted with the subject's key
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT mt.audit('profile.update', 'user', 'u1', '{"email": "carol@example.com"}', 'carol') AS carol1 \gset
SELECT mt.audit('profile.update', 'user', 'u1', '{"phone": "+1 555 0100"}', 'carol') AS carol2 \gset
SELECT mt.audit('profile.update', 'user', 'u2', '{"email": "dave@example.com"}', 'dave') AS dave1 \gset
SELECT mt.audit('subject.none', 'user', 'u3', NULL, 'erin') > 0 AS no_details_no_key;
COMMIT;
SELECT id = :carol1 AS carol, details IS NULL AS no_plaintext, details_key_id IS NOT NULL AS keyed,
       position(convert_to('carol@example.com', 'UTF8') IN details_enc) = 0 AS ciphertext_only
FROM mt.audit_log WHERE id IN (:carol1, :dave1) ORDER BY id;
SELECT count(DISTINCT details_key_id) AS keys_for_two_subjects FROM mt.audit_log WHERE id IN (:carol1, :carol2, :dave1);
SELECT count(*) AS subject_keys FROM mt.audit_subject_keys;
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT action, resource_id, details, details_state FROM mt.audit_search(action => 'profile.update');
SELECT resource_id, details FROM mt.audit_search(subject => 'carol');
SELECT count(*) AS nothing_for_unknown_subject FROM mt.audit_search(subject => 'zed');
COMMIT;
-- crypto-shredding: forget carol in acme
SELECT pg_temp.err('SELECT mt.audit_forget_subject(NULL)');
SELECT mt.audit_forget_subject('carol', :'acme') AS keys_destroyed;
SELECT mt.audit_forget_subject('carol', :'acme') AS keys_destroyed_again;
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT action, resource_id, details, details_state FROM mt.audit_search(action => 'profile.update');
SELECT count(*) AS carol_rows_findable FROM mt.audit_search(subject => 'carol');
SELECT action, details FROM mt.audit_search(action => 'audit.subject_forgotten');
COMMIT;
SELECT * FROM pg_temp.verify_all();

-- search: filters, pagination, ordering
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT seq, action FROM mt.audit_search(max_rows => 3);
SELECT seq, action FROM mt.audit_search(after_id => (SELECT max(id) FROM mt.audit_search(max_rows => 3)), max_rows => 3);
SELECT seq, action FROM mt.audit_search(newest_first => true, max_rows => 2);
SELECT seq, action FROM mt.audit_search(action => 'document.update', actor => 'alice', resource_type => 'document', resource_id => '17');
SELECT count(*) AS none_before_epoch FROM mt.audit_search(to_time => '2000-01-01');
SELECT count(*) = (SELECT count(*) FROM mt.audit_log WHERE tenant_id = :'acme') AS whole_acme_chain FROM mt.audit_search(max_rows => 1000);
SELECT pg_temp.err('SELECT * FROM mt.audit_search(max_rows => 0)');
SELECT pg_temp.err('SELECT * FROM mt.audit_search_tenant(NULL, subject => ''carol'')');
COMMIT;
SELECT pg_temp.err('SELECT * FROM mt.audit_search()');
SELECT count(*) AS all_chains FROM mt.audit_search_tenant(NULL, max_rows => 1000);
SELECT DISTINCT tenant_id = :'globex' AS globex_only FROM mt.audit_search_tenant(:'globex');

-- export: one header per chain, one line per row
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT count(*) AS lines, count(*) FILTER (WHERE l::jsonb ? 'format') AS headers FROM mt.audit_export() l;
SELECT (l::jsonb) - 'tenant_id' - 'base_hash' AS header FROM mt.audit_export(after_seq => 3) l LIMIT 1;
SELECT (l::jsonb)->>'seq' AS first_seq FROM mt.audit_export(after_seq => 3) l OFFSET 1 LIMIT 1;
SELECT pg_temp.err('SELECT * FROM mt.audit_export(after_seq => 100000)');
COMMIT;
SELECT count(*) FILTER (WHERE l::jsonb ? 'format') AS chains FROM mt.audit_export_tenant() l;

-- tenant lifecycle events
SELECT mt.suspend_tenant(:'globex');
SELECT mt.suspend_tenant(:'globex');     -- no change, no event
SELECT mt.resume_tenant(:'globex');
SELECT mt.drop_tenant(:'globex');
-- (the security event of the forged row's verification above: its time varies)
SELECT seq, action, CASE WHEN action LIKE 'security.%' THEN (details::jsonb - 'at')::text ELSE details END AS details
FROM pg_temp.chain(:'globex');

-- row-change trigger
CREATE TABLE public.invoices (id int PRIMARY KEY, tenant_id uuid, customer text, amount numeric,
                              paid boolean, lines jsonb, note text);
-- a tenant column names the chain only on a table the extension isolates
SELECT pg_temp.err('SELECT mt.audit_table(''public.invoices'')');
SELECT mt.enable_isolation('public.invoices');
SELECT mt.audit_table('public.invoices');
-- (a superuser bypasses RLS: its changes go to the row's chain without a context)
INSERT INTO public.invoices VALUES (1, :'acme', 'ACME Ltd', 100.50, false, '[{"sku": "A", "qty": 2}]', NULL);
UPDATE public.invoices SET paid = true, note = 'wire' WHERE id = 1;
UPDATE public.invoices SET amount = amount WHERE id = 1;    -- nothing changed
DELETE FROM public.invoices WHERE id = 1;
-- no tenant column: the writer's context chain (here none: the no-tenant chain)
CREATE TABLE public.notes (id int PRIMARY KEY, customer text, note text);
SELECT mt.audit_table('public.notes', NULL);
INSERT INTO public.notes VALUES (2, 'No Tenant', repeat('n', 5000));
TRUNCATE public.invoices;
SELECT seq, action, resource_type, resource_id, details FROM pg_temp.chain(:'acme') WHERE resource_type = 'public.invoices';
SELECT seq, action, resource_id, details FROM pg_temp.chain('00000000-0000-0000-0000-000000000000') WHERE seq > 2 AND action <> 'x';
SELECT pg_temp.err('SELECT mt.audit_table(''public.invoices'', ''no_such_column'')');
SELECT pg_temp.err('SELECT mt.audit_table(''public.invoices'', ''customer'')');
SELECT pg_temp.err('SELECT mt.audit_table(''public.invoices'', subject_column => ''nope'')');
SELECT pg_temp.err('SELECT mt.audit_table(''mt.audit_log'')');
SELECT pg_temp.err('SELECT mt.audit_table(''pg_class'')');
CREATE VIEW public.v AS SELECT 1 AS x;
SELECT pg_temp.err('SELECT mt.audit_table(''public.v'')');
-- a relation that does not exist (a dropped table's oid): 42P01
SELECT pg_temp.err('SELECT mt.audit_table(0::oid::regclass)');
SELECT pg_temp.err('SELECT mt.audit_untable(0::oid::regclass)');
SELECT pg_temp.err('SELECT mt.audit_table(NULL)');
-- subject column: row images are encrypted under the row's subject key
SELECT mt.audit_table('public.invoices', subject_column => 'customer');
INSERT INTO public.invoices VALUES (3, :'acme', 'Carol', 5, false, NULL, NULL);
SELECT details IS NULL AS encrypted FROM mt.audit_log WHERE resource_type = 'public.invoices' AND resource_id = '3';
SELECT mt.audit_untable('public.invoices') AS was_audited;
SELECT mt.audit_untable('public.invoices') AS audited_again;
INSERT INTO public.invoices VALUES (4, :'acme', 'Untracked', 5, false, NULL, NULL);
SELECT count(*) AS rows_for_4 FROM mt.audit_log WHERE resource_type = 'public.invoices' AND resource_id = '4';
SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.invoices'::regclass;
SELECT * FROM pg_temp.verify_all();

-- pruning keeps what remains verifiable
SELECT jsonb_agg(d) AS digest_before FROM mt.audit_digest() d \gset
SELECT pg_temp.err('SELECT mt.audit_prune(NULL)');
SELECT pg_temp.err('SELECT mt.audit_prune(''-1 day'')');
SELECT mt.audit_prune('1 day') AS nothing_that_old;
SELECT max(seq) AS acme_head FROM mt.audit_log WHERE tenant_id = :'acme' \gset
SELECT mt.audit_prune('0 s', :'acme') = :acme_head AS pruned_whole_acme_chain;
SELECT seq = :acme_head AS ckpt_at_head, rows_pruned = :acme_head AS all_rows, pruned_by FROM mt.audit_checkpoints WHERE tenant_id = :'acme';
-- the audit.prune event is linked by the next seal
SELECT mt.audit_seal() >= 0 AS sealed;  -- (or the worker did)
SELECT seq = :acme_head + 1 AS continues, action, details->'through_seq' = to_jsonb(:acme_head) AS through
FROM mt.audit_log WHERE tenant_id = :'acme';
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), true) IS NOT NULL AS entered \gset
SELECT mt.audit('after.prune') > 0 AS appended;
COMMIT;
SELECT * FROM pg_temp.verify_all();
-- the digest taken before pruning still matches (acme's head is now the checkpoint)
SELECT bool_and(ok) AS digest_still_ok FROM mt.audit_verify(NULL, :'digest_before');
-- a digest of the checkpoint position is compared with the checkpoint
SELECT ok FROM mt.audit_verify(:'acme', jsonb_build_object('tenant_id', :'acme', 'seq', :acme_head,
    'hash', encode((SELECT hash FROM mt.audit_checkpoints WHERE tenant_id = :'acme'), 'hex')));
SELECT ok, problem FROM mt.audit_verify(:'acme', jsonb_build_object('tenant_id', :'acme', 'seq', :acme_head,
    'hash', repeat('ab', 32)));
SELECT mt.flush_usage() >= 0 AS flushed;   -- the tamper event now, not at the worker's next round
SELECT pg_temp.err('UPDATE mt.audit_checkpoints SET rows_pruned = 0');

DROP TABLE public.invoices, public.notes;
-- the tenants go with it: permitted (doc/operations.md, "Removing the extension")
BEGIN;
SET LOCAL multitenant.allow_drop_extension = on;
DROP EXTENSION multitenant;
COMMIT;
