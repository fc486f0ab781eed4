-- Export: completeness (planted rows across several tables, one of them
-- partitioned; consents, requests), indexes are usable for every supported
-- subject column type, and privileges (a DPO role without any privilege on
-- the tables exports and erases completely; the application cannot).
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
CREATE DOMAIN public.email AS text CHECK (VALUE LIKE '%@%');
CREATE TABLE public.t_text (tenant_id uuid NOT NULL, s text NOT NULL, v int);
CREATE TABLE public.t_varchar (tenant_id uuid NOT NULL, s varchar(50) NOT NULL, v int);
CREATE TABLE public.t_char (tenant_id uuid NOT NULL, s char(20) NOT NULL, v int);
CREATE TABLE public.t_domain (tenant_id uuid NOT NULL, s public.email NOT NULL, v int);
CREATE TABLE public.t_uuid (tenant_id uuid NOT NULL, s uuid NOT NULL, v int);
CREATE TABLE public.t_int2 (tenant_id uuid NOT NULL, s smallint NOT NULL, v int);
CREATE TABLE public.t_int4 (tenant_id uuid NOT NULL, s integer NOT NULL, v int);
CREATE TABLE public.t_part (tenant_id uuid NOT NULL, s text NOT NULL, v int NOT NULL) PARTITION BY RANGE (v);
CREATE TABLE public.t_part_lo PARTITION OF public.t_part FOR VALUES FROM (0) TO (500);
CREATE TABLE public.t_part_hi PARTITION OF public.t_part FOR VALUES FROM (500) TO (1000);
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['t_text', 't_varchar', 't_char', 't_domain', 't_uuid', 't_int2', 't_int4', 't_part'] LOOP
        EXECUTE format('CREATE INDEX ON public.%I (tenant_id, s)', t);
        PERFORM mt.enable_isolation(format('public.%I', t)::regclass);
        PERFORM mt.register_subject(format('public.%I', t)::regclass, 's');
    END LOOP;
END $$;
-- 1,000 rows per table and tenant, 10 of them for the subject
INSERT INTO public.t_text SELECT t, CASE WHEN g <= 10 THEN 'alice@example.com' ELSE 'u' || g || '@x' END, g
    FROM unnest(ARRAY[:'acme', :'globex']::uuid[]) t, generate_series(1, 1000) g;
INSERT INTO public.t_varchar SELECT tenant_id, s, v FROM public.t_text;
INSERT INTO public.t_char SELECT tenant_id, s, v FROM public.t_text WHERE length(s) <= 20;
INSERT INTO public.t_domain SELECT tenant_id, s, v FROM public.t_text;
INSERT INTO public.t_uuid SELECT t, CASE WHEN g <= 10 THEN '0b0e5a8c-0000-4000-8000-000000000001'::uuid ELSE gen_random_uuid() END, g
    FROM unnest(ARRAY[:'acme', :'globex']::uuid[]) t, generate_series(1, 1000) g;
INSERT INTO public.t_int2 SELECT t, CASE WHEN g <= 10 THEN 77 ELSE g + 100 END, g
    FROM unnest(ARRAY[:'acme', :'globex']::uuid[]) t, generate_series(1, 1000) g;
INSERT INTO public.t_int4 SELECT tenant_id, s, v FROM public.t_int2;
INSERT INTO public.t_part SELECT tenant_id, s, v - 1 FROM public.t_text;
ANALYZE;
CREATE ROLE mt_gx_dpo;
CREATE ROLE mt_gx_app;
GRANT EXECUTE ON FUNCTION mt.gdpr_export(text), mt.gdpr_erase(text), mt.set_tenant(uuid, boolean) TO mt_gx_dpo;

-- sequential and index scans of the registered tables in this transaction
CREATE FUNCTION pg_temp.scans(OUT seq bigint, OUT idx bigint) LANGUAGE sql AS $$
    SELECT sum(seq_scan)::bigint, sum(idx_scan)::bigint FROM pg_stat_xact_user_tables WHERE relname LIKE 't\_%' $$;
\set QUIET 0

SELECT plan(24);

SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT mt.record_consent('alice@example.com', 'newsletter', true, 'v3', 'app') AS c \gset
SELECT mt.gdpr_request('alice@example.com', 'portability', 'wants to move') AS req \gset

SELECT mt.gdpr_export('alice@example.com') AS doc \gset
SELECT is(jsonb_path_query_array(:'doc'::jsonb, '$.tables[*].table'),
          '["public.t_char", "public.t_domain", "public.t_int2", "public.t_int4", "public.t_part", "public.t_text", "public.t_uuid", "public.t_varchar"]'::jsonb,
          'every registered table is in the export');
SELECT is(jsonb_path_query_array(:'doc'::jsonb, '$.tables[*].rows.size()'), '[10, 10, 0, 0, 10, 10, 0, 10]'::jsonb,
          'text-like tables (and both partitions of t_part) give the subject''s 10 rows each');
SELECT is((SELECT count(DISTINCT r ->> 'tenant_id')::int FROM jsonb_path_query(:'doc'::jsonb, '$.tables[*].rows[*]') r), 1,
          'only the current tenant''s rows');
SELECT is((SELECT array_agg(DISTINCT (r ->> 'v')::int < 500) FROM jsonb_path_query(:'doc'::jsonb, '$.tables[4].rows[*]') r),
          '{t}'::boolean[], 't_part rows come from the partitions');
SELECT is(:'doc'::jsonb -> 'consents' -> 0 ->> 'purpose', 'newsletter', 'consent history included');
SELECT is((:'doc'::jsonb -> 'requests' -> 0 ->> 'id')::bigint, :req::bigint, 'request history included');
SELECT is((:'doc'::jsonb -> 'requests' -> 0 ->> 'kind'), 'portability', '... with its kind');
SELECT is(jsonb_path_query_array(mt.gdpr_export('0b0e5a8c-0000-4000-8000-000000000001'), '$.tables[*].rows.size()'),
          '[0, 0, 0, 0, 0, 0, 10, 0]'::jsonb, 'uuid subject');
SELECT is(jsonb_path_query_array(mt.gdpr_export('{0B0E5A8C00004000-8000000000000001}'), '$.tables[*].rows.size()'),
          '[0, 0, 0, 0, 0, 0, 10, 0]'::jsonb, 'uuid subject in another accepted spelling');
SELECT is(jsonb_path_query_array(mt.gdpr_export(' 77 '), '$.tables[*].rows.size()'),
          '[0, 0, 10, 10, 0, 0, 0, 0]'::jsonb, 'integer subjects (smallint, integer)');
SELECT is(jsonb_path_query_array(mt.gdpr_export('70000'), '$.tables[*].rows.size()'),
          '[0, 0, 0, 0, 0, 0, 0, 0]'::jsonb, 'out of smallint range: no rows, no error');
SELECT is(jsonb_path_query_array(mt.gdpr_export('nobody'), '$.tables[*].rows.size()'),
          '[0, 0, 0, 0, 0, 0, 0, 0]'::jsonb, 'unknown subject: empty');

-- every lookup can use the (tenant_id, s) index: with sequential scans
-- disabled the planner would still pick one if the index did not match
-- (pg_stat_xact_user_tables also holds counts not flushed yet: compare deltas)
BEGIN;
SET LOCAL enable_seqscan = off;
SELECT seq AS seq0, idx AS idx0 FROM pg_temp.scans() \gset
SELECT mt.gdpr_export('alice@example.com') IS NOT NULL AS exported \gset
SELECT mt.gdpr_export('0b0e5a8c-0000-4000-8000-000000000001') IS NOT NULL AS exported \gset
SELECT mt.gdpr_export('77') IS NOT NULL AS exported \gset
SELECT is((SELECT seq FROM pg_temp.scans()) - :seq0, 0::bigint, 'no sequential scan of a registered table');
SELECT is((SELECT idx FROM pg_temp.scans()) - :idx0, 21::bigint,
          'one index scan per table (partition) whose column type the id fits: 6 + 7 + 8');
COMMIT;
-- the lint has nothing to say
SELECT is((SELECT count(*)::int FROM mt.isolation_status() WHERE tbl::text LIKE 't\_%'
           AND EXISTS (SELECT 1 FROM unnest(issues) i WHERE i LIKE 'subject column%')), 0, 'no subject-index lint');
DROP INDEX public.t_int4_tenant_id_s_idx;
SELECT is((SELECT array_agg(i) FROM mt.isolation_status(), unnest(issues) i
           WHERE tbl = 'public.t_int4'::regclass AND i LIKE 'subject%'),
          '{"subject column s (mt.register_subject) has no index led by it or by (tenant_id, s): export and erasure scan the table"}'::text[],
          'dropping the index is flagged');
CREATE INDEX ON public.t_int4 (s);
SELECT is((SELECT count(*)::int FROM mt.isolation_status(), unnest(issues) i
           WHERE tbl = 'public.t_int4'::regclass AND i LIKE 'subject%'), 0,
          'an index led by the subject column is enough');

-- privileges
SET ROLE mt_gx_app;
SELECT throws_ok($$SELECT mt.gdpr_export('alice@example.com')$$, '42501', NULL, 'the application cannot export');
SELECT throws_ok($$SELECT mt.gdpr_erase('alice@example.com')$$, '42501', NULL, 'the application cannot erase');
RESET ROLE;
SET ROLE mt_gx_dpo;
SELECT throws_ok($$SELECT count(*) FROM public.t_text$$, '42501', NULL, 'the DPO role has no privilege on the tables');
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT is(jsonb_path_query_array(mt.gdpr_export('alice@example.com'), '$.tables[*].rows.size()'),
          '[10, 10, 0, 0, 10, 10, 0, 10]'::jsonb, 'the DPO exports everything anyway (SECURITY DEFINER)');
SELECT is(jsonb_path_query_array(mt.gdpr_erase('alice@example.com'), '$.tables[*].rows'),
          '[10, 10, 0, 0, 10, 10, 0, 10]'::jsonb, 'and erases everything');
SELECT is((SELECT processed_by FROM mt.gdpr_requests WHERE kind = 'erasure'), 'mt_gx_dpo',
          'the erasure request records the DPO role as processor');
RESET multitenant.token;
RESET ROLE;
SELECT is((SELECT count(*)::int FROM public.t_text WHERE s = 'alice@example.com'), 10,
          'Globex''s 10 rows of the same subject remain');

REVOKE EXECUTE ON FUNCTION mt.gdpr_export(text), mt.gdpr_erase(text), mt.set_tenant(uuid, boolean) FROM mt_gx_dpo;
DROP ROLE mt_gx_dpo, mt_gx_app;
SELECT * FROM finish();
