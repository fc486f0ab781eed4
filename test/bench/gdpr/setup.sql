-- One tenant, one registered table of :rows rows, 10 rows per subject
-- ('user-0' .. 'user-<rows/10 - 1>'), spread over the whole table as they
-- would be when written over time.  Index on (tenant_id, subject).
CREATE EXTENSION IF NOT EXISTS multitenant;
SELECT mt.create_tenant('Bench', 'bench') AS tenant \gset
CREATE TABLE bench_token (token text NOT NULL);
INSERT INTO bench_token SELECT mt.tenant_token(:'tenant', '6 hours');
CREATE TABLE events (tenant_id uuid NOT NULL, subject text NOT NULL, at timestamptz NOT NULL, payload text);
INSERT INTO events
SELECT :'tenant', 'user-' || (g % (:rows / 10)), '2024-01-01'::timestamptz + g * interval '1 second',
       '/p/' || (g % 977)
FROM generate_series(1, :rows) g;
CREATE INDEX events_subject ON events (tenant_id, subject);
SELECT mt.enable_isolation('events');
SELECT mt.register_subject('events', 'subject');
VACUUM ANALYZE events;
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
SELECT pg_prewarm('events'), pg_prewarm('events_subject');
