-- Fill the chains to BENCH_VERIFY_ROWS rows in total (100 tenants, with
-- mt.audit_many), then time mt.audit_verify() over every chain.
CREATE OR REPLACE FUNCTION bench_fill(total bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r record;
    have bigint := (SELECT count(*) FROM mt.audit_log);
    per int;
BEGIN
    IF have >= total THEN RETURN have; END IF;
    per := ceil((total - have) / 100.0);
    FOR r IN SELECT tid FROM bench_tenants ORDER BY i LOOP
        PERFORM mt.set_tenant(r.tid);
        PERFORM mt.audit_many(array_agg('document.update'::text), array_agg('document'::text), array_agg(g::text),
                              array_agg(jsonb_build_object('field', 'title', 'ip', '10.0.0.1', 'n', g)))
        FROM generate_series(1, per) g;
    END LOOP;
    RETURN (SELECT count(*) FROM mt.audit_log);
END $$;

CREATE OR REPLACE FUNCTION bench_verify(OUT rows bigint, OUT bad bigint, OUT secs float8)
LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    SELECT sum(rows_checked), count(*) FILTER (WHERE NOT ok OR unsealed > 0) INTO rows, bad FROM mt.audit_verify();
    secs := extract(epoch FROM clock_timestamp() - t0);
END $$;
