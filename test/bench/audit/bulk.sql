-- Bulk appends: 250,000 events in one statement, three ways, against a
-- plain INSERT ... SELECT of the same event rows into plain_log.  Each
-- function returns its elapsed seconds (the work rolls back: the next run
-- starts from the same tables).
CREATE TABLE IF NOT EXISTS bulk_docs (id bigint PRIMARY KEY, tenant_id uuid NOT NULL DEFAULT mt.current_tenant(), body text);
CREATE TABLE IF NOT EXISTS bulk_docs_plain (id bigint PRIMARY KEY, tenant_id uuid NOT NULL DEFAULT mt.current_tenant(), body text);
SELECT mt.enable_isolation('bulk_docs') WHERE NOT EXISTS (SELECT FROM mt.isolated_tables WHERE tbl = 'bulk_docs'::regclass);
SELECT mt.audit_table('bulk_docs');
CREATE OR REPLACE FUNCTION bench_bulk(kind text, n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
    PERFORM mt.set_tenant((SELECT tid FROM bench_tenants WHERE i = 1));
    t0 := clock_timestamp();
    IF kind = 'plain' THEN
        INSERT INTO plain_log (tenant_id, actor, action, resource_type, resource_id, details)
        SELECT mt.current_tenant(), coalesce(mt.current_subject(), session_user), 'bulk.event', 'document', g::text,
               jsonb_build_object('field', 'title', 'n', g)
        FROM generate_series(1, n) g;
    ELSIF kind = 'many' THEN
        PERFORM mt.audit_many(array_agg('bulk.event'::text), array_agg('document'::text), array_agg(g::text),
                              array_agg(jsonb_build_object('field', 'title', 'n', g)))
        FROM generate_series(1, n) g;
    ELSIF kind = 'many_sealed' THEN
        -- a transaction's sealer links its own events too (doc/audit.md, "Sealing")
        PERFORM mt.audit_many(array_agg('bulk.event'::text), array_agg('document'::text), array_agg(g::text),
                              array_agg(jsonb_build_object('field', 'title', 'n', g)))
        FROM generate_series(1, n) g;
        PERFORM mt.audit_seal();
    ELSIF kind = 'trigger' THEN
        INSERT INTO bulk_docs (id, body) SELECT g, 'title ' || g FROM generate_series(1, n) g;
    ELSIF kind = 'table' THEN
        INSERT INTO bulk_docs_plain (id, body) SELECT g, 'title ' || g FROM generate_series(1, n) g;
    END IF;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
