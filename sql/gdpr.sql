-- GDPR: subject registry, export, erasure, consent, requests, restriction,
-- breach register, retention jobs.
CREATE EXTENSION multitenant;
\i sql/include/helpers.psql
-- JSON without the values that change from run to run
CREATE FUNCTION pg_temp.scrub(j jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(jsonb_pretty(j),
    '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g'),
    '"\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)"', '"<time>"', 'g'),
    'erased:[0-9a-f]{64}', 'erased:<pseudonym>', 'g'),
    'erased-[0-9a-f]{16}', 'erased-<random>', 'g'),
    '"[0-9a-f]{64}"', '"<sha256>"', 'g') $$;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset

-- ---------------------------------------------------------------------
-- Schema: customers are anonymized (invoices reference them), orders and
-- a partitioned event log are deleted.
-- ---------------------------------------------------------------------
CREATE TABLE customers (
    id        int PRIMARY KEY,
    tenant_id uuid NOT NULL,
    email     text NOT NULL CHECK (email LIKE '%@%'),
    name      text,
    phone     varchar(12) NOT NULL,
    age       int NOT NULL CHECK (age >= 0),
    birthday  date NOT NULL,
    prefs     jsonb NOT NULL,
    vip       boolean NOT NULL DEFAULT false,
    UNIQUE (tenant_id, email),
    UNIQUE (phone)
);
CREATE TABLE invoices (id int PRIMARY KEY, tenant_id uuid NOT NULL,
    customer_id int NOT NULL REFERENCES customers (id), total numeric NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, tenant_id uuid NOT NULL, customer_email text NOT NULL,
    item text NOT NULL);
CREATE INDEX ON orders (tenant_id, customer_email);
CREATE TABLE events (id int, tenant_id uuid NOT NULL, subject text NOT NULL, at timestamptz NOT NULL,
    what text) PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
SELECT mt.enable_isolation(t) FROM unnest(ARRAY['customers', 'invoices', 'orders', 'events']::regclass[]) t;

-- ---------------------------------------------------------------------
-- Registration
-- ---------------------------------------------------------------------
SELECT mt.register_subject('customers', 'email', 'anonymize', '{name, phone, age, birthday, prefs, vip}');
SELECT mt.register_subject('orders', 'customer_email');
SELECT mt.register_subject('events', 'subject', 'delete');
SELECT tbl, subject_column, on_erase, anonymize_columns FROM mt.subject_tables ORDER BY tbl::text;
-- re-registering updates the row
SELECT mt.register_subject('orders', 'customer_email', 'anonymize', '{item}');
SELECT mt.register_subject('orders', 'customer_email', 'delete');
SELECT tbl, on_erase, anonymize_columns FROM mt.subject_tables WHERE tbl = 'orders'::regclass;

-- bad registrations
CREATE TABLE plain (id int, tenant_id uuid, email text);
SELECT pg_temp.err('SELECT mt.register_subject(''plain'', ''email'')');
SELECT pg_temp.err('SELECT mt.register_subject(''no_such_table'', ''email'')');
SELECT pg_temp.err('SELECT mt.register_subject(NULL, ''email'')');
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', NULL)');
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', ''nope'')');
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', ''prefs'')');
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', ''tenant_id'')');
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', ''email'', ''shred'')');
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', ''email'', ''delete'', ''{name}'')');
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', ''email'', ''anonymize'', ''{nope}'')');
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', ''email'', ''anonymize'', ''{name, name}'')');
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', ''email'', ''anonymize'', ''{tenant_id}'')');
CREATE TABLE odd (tenant_id uuid NOT NULL, email text NOT NULL, spot point NOT NULL, ip inet,
    tag int GENERATED ALWAYS AS IDENTITY, g int GENERATED ALWAYS AS (1) STORED);
SELECT mt.enable_isolation('odd');
SELECT pg_temp.err('SELECT mt.register_subject(''odd'', ''email'', ''anonymize'', ''{spot}'')');
SELECT pg_temp.err('SELECT mt.register_subject(''odd'', ''email'', ''anonymize'', ''{tag}'')');
SELECT pg_temp.err('SELECT mt.register_subject(''odd'', ''email'', ''anonymize'', ''{g}'')');
SELECT mt.register_subject('odd', 'email', 'anonymize', '{ip}');   -- nullable: NULL
SELECT pg_temp.err('SELECT mt.register_subject(''events_2024'', ''subject'')');   -- covered by the parent
CREATE ROLE mt_gdpr_app;
CREATE ROLE mt_gdpr_dpo;
GRANT EXECUTE ON FUNCTION mt.register_subject(regclass, name, text, name[]) TO mt_gdpr_dpo;
SET ROLE mt_gdpr_dpo;
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', ''email'')');   -- not the owner
RESET ROLE;
SET ROLE mt_gdpr_app;
SELECT pg_temp.err('SELECT mt.register_subject(''customers'', ''email'')');   -- no EXECUTE
RESET ROLE;

-- the lint: a registered subject column without an index
SELECT tbl, issues FROM mt.isolation_status() WHERE tbl IN ('customers'::regclass, 'orders', 'events', 'odd')
ORDER BY tbl::text;
CREATE INDEX ON events (subject);
SELECT tbl, issues FROM mt.isolation_status() WHERE tbl = 'events'::regclass;
SELECT mt.unregister_subject('odd');
DROP TABLE odd;

-- ---------------------------------------------------------------------
-- Data: the same subject id in both tenants
-- ---------------------------------------------------------------------
INSERT INTO customers VALUES
    (1, :'acme', 'alice@example.com', 'Alice', '+1-555-0101', 34, '1990-05-01', '{"lang": "en"}', true),
    (2, :'acme', 'bob@example.com', 'Bob', '+1-555-0102', 41, '1983-02-11', '{}', false),
    (3, :'globex', 'alice@example.com', 'Alice G', '+1-555-0103', 29, '1995-07-21', '{}', false);
INSERT INTO invoices VALUES (10, :'acme', 1, 99.50), (11, :'acme', 2, 12), (12, :'globex', 3, 7);
INSERT INTO orders VALUES (20, :'acme', 'alice@example.com', 'book'), (21, :'acme', 'alice@example.com', 'lamp'),
    (22, :'acme', 'bob@example.com', 'pen'), (23, :'globex', 'alice@example.com', 'mug');
INSERT INTO events VALUES (30, :'acme', 'alice@example.com', '2023-06-01', 'login'),
    (31, :'acme', 'alice@example.com', '2024-06-01', 'login'),
    (32, :'globex', 'alice@example.com', '2024-06-02', 'login');

-- no tenant context: refused
SELECT pg_temp.err('SELECT mt.gdpr_export(''alice@example.com'')');
SELECT pg_temp.err('SELECT mt.gdpr_erase(''alice@example.com'')');
SELECT pg_temp.err('SELECT mt.record_consent(''alice@example.com'', ''newsletter'', true)');
SELECT mt.has_consent('alice@example.com', 'newsletter') AS consent_without_tenant,
       mt.is_restricted('alice@example.com') AS restricted_without_tenant;

-- ---------------------------------------------------------------------
-- Consent (tenant Acme from here on)
-- ---------------------------------------------------------------------
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered;
SELECT mt.record_consent('alice@example.com', 'newsletter', true, 'v1', 'signup form');
SELECT mt.has_consent('alice@example.com', 'newsletter') AS newsletter;
SELECT mt.record_consent('alice@example.com', 'newsletter', false, 'v1', 'account settings');
SELECT mt.record_consent('alice@example.com', 'analytics', true, 'v2', 'cookie banner');
SELECT mt.has_consent('alice@example.com', 'newsletter') AS newsletter,
       mt.has_consent('alice@example.com', 'analytics') AS analytics,
       mt.has_consent('alice@example.com', 'never-asked') AS never_asked,
       mt.has_consent('bob@example.com', 'analytics') AS bob_analytics;
SELECT id, subject, purpose, granted, version, source, recorded_by FROM mt.consents ORDER BY id;
-- append-only, for superusers too
SELECT pg_temp.err('UPDATE mt.consents SET granted = true');
SELECT pg_temp.err('DELETE FROM mt.consents');
SELECT pg_temp.err('TRUNCATE mt.consents');
SELECT pg_temp.err('SELECT mt.record_consent(NULL, ''newsletter'', true)');
SELECT pg_temp.err('SELECT mt.record_consent(''alice@example.com'', '''', true)');
SELECT pg_temp.err('SELECT mt.record_consent(''alice@example.com'', ''newsletter'', NULL)');
SELECT pg_temp.err('SELECT mt.record_consent('''', ''newsletter'', true)');
SELECT pg_temp.err('SELECT mt.record_consent(''erased:abc'', ''newsletter'', true)');

-- ---------------------------------------------------------------------
-- Requests
-- ---------------------------------------------------------------------
SELECT mt.gdpr_request('alice@example.com', 'access', 'e-mail of 2024-06-03') AS access_req \gset
SELECT kind, status, due_at - submitted_at AS due_in, submitted_by, processed_at IS NULL AS open
FROM mt.gdpr_requests WHERE id = :access_req;
SELECT pg_temp.err('SELECT mt.gdpr_request(''alice@example.com'', ''forget-me'')');
SELECT pg_temp.err('SELECT mt.gdpr_request(''alice@example.com'', NULL)');
SELECT pg_temp.err('SELECT mt.gdpr_request(NULL, ''access'')');
-- all six kinds are accepted
SELECT k, mt.gdpr_request('carol@example.com', k) > 0 AS filed
FROM unnest(ARRAY['access', 'erasure', 'portability', 'rectification', 'restriction', 'objection']) k;

-- ---------------------------------------------------------------------
-- Export: every registered table (partitions included), consents,
-- requests, restriction, breaches; audit_events is null without the
-- audit log
-- ---------------------------------------------------------------------
SELECT pg_temp.scrub(mt.gdpr_export('alice@example.com'));
-- processing the access request returns the same document and closes it
SELECT jsonb_array_length(e -> 'tables') AS tables,
       (SELECT sum(jsonb_array_length(t -> 'rows')) FROM jsonb_array_elements(e -> 'tables') t) AS rows
FROM mt.gdpr_process(:access_req) e;
SELECT status, processed_by, result FROM mt.gdpr_requests WHERE id = :access_req;
SELECT pg_temp.err('SELECT mt.gdpr_process(' || :access_req || ')');
SELECT pg_temp.err('SELECT mt.gdpr_process(999999)');
SELECT pg_temp.err('SELECT mt.gdpr_process(NULL)');
-- unknown subject: empty, not an error
SELECT pg_temp.scrub(mt.gdpr_export('nobody@example.com') - 'tables'),
       mt.gdpr_export('nobody@example.com') -> 'tables' -> 0 -> 'rows' AS customer_rows;

-- ---------------------------------------------------------------------
-- Restriction and objection
-- ---------------------------------------------------------------------
SELECT mt.gdpr_request('alice@example.com', 'restriction', 'disputes accuracy') AS restrict_req \gset
SELECT mt.is_restricted('alice@example.com') AS before;
SELECT mt.gdpr_process(:restrict_req) - 'request_id' AS processed;
SELECT mt.is_restricted('alice@example.com') AS alice, mt.is_restricted('bob@example.com') AS bob;
-- applications use it in their own policies
CREATE POLICY not_restricted ON orders AS RESTRICTIVE FOR SELECT TO mt_gdpr_app
    USING (NOT mt.is_restricted(customer_email));
GRANT SELECT ON orders TO mt_gdpr_app;
SET ROLE mt_gdpr_app;
SELECT id, customer_email FROM orders ORDER BY id;
RESET ROLE;
SELECT mt.lift_restriction('alice@example.com') AS lifted, mt.lift_restriction('alice@example.com') AS again;
SELECT mt.is_restricted('alice@example.com') AS after_lift;
SET ROLE mt_gdpr_app;
SELECT id, customer_email FROM orders ORDER BY id;
RESET ROLE;
DROP POLICY not_restricted ON orders;
SELECT mt.gdpr_request('alice@example.com', 'restriction') AS restrict_req2 \gset
SELECT mt.gdpr_process(:restrict_req2) ->> 'restricted' AS restricted_again;
SELECT mt.record_consent('bob@example.com', 'newsletter', true);
SELECT mt.record_consent('bob@example.com', 'profiling', true);
SELECT mt.record_consent('bob@example.com', 'surveys', false);
SELECT mt.gdpr_request('bob@example.com', 'objection', 'no more marketing') AS object_req \gset
SELECT mt.gdpr_process(:object_req) - 'request_id' AS processed;
SELECT purpose, mt.has_consent('bob@example.com', purpose) AS granted
FROM unnest(ARRAY['newsletter', 'profiling', 'surveys']) purpose;
SELECT purpose, granted, source FROM mt.consents WHERE subject = 'bob@example.com' ORDER BY id;

-- ---------------------------------------------------------------------
-- Breach register
-- ---------------------------------------------------------------------
SELECT mt.report_breach('backup bucket was public', '2024-06-01 10:00+00', NULL,
                        ARRAY['alice@example.com', 'bob@example.com'], 'critical') AS breach \gset
SELECT severity, notify_deadline - detected_at AS deadline_after, affected_tenants = ARRAY[:'acme'::uuid] AS acme_only,
       notified_at IS NULL AS unnotified
FROM mt.breaches WHERE id = :breach;
SELECT id = :breach AS listed, overdue_by > interval '0' AS overdue FROM mt.breaches_overdue;
SELECT pg_temp.scrub(mt.gdpr_export('alice@example.com') -> 'breaches');
SELECT mt.record_breach_notification(:breach, 'CNIL', 'ref-2024-0042', '2024-06-03 09:00+00');
SELECT count(*) AS overdue_after_notification FROM mt.breaches_overdue;
SELECT notified_at - detected_at AS notified_after, authority, notification_ref FROM mt.breaches WHERE id = :breach;
SELECT pg_temp.err('SELECT mt.record_breach_notification(' || :breach || ', ''CNIL'')');
SELECT pg_temp.err('SELECT mt.record_breach_notification(424242, ''CNIL'')');
SELECT pg_temp.err('SELECT mt.report_breach('''')');
SELECT pg_temp.err('SELECT mt.report_breach(''x'', now(), NULL, NULL, ''apocalyptic'')');
SELECT mt.report_breach('laptop stolen', now() - interval '1 hour') AS breach2 \gset
SELECT count(*) AS overdue_with_fresh_breach FROM mt.breaches_overdue;
-- the other tenant adds its own affected subjects
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered_globex;
SELECT mt.add_breach_subjects(:breach, ARRAY['alice@example.com']) AS added;
SELECT cardinality(affected_tenants) AS tenants FROM mt.breaches WHERE id = :breach;
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered_acme;

-- ---------------------------------------------------------------------
-- Erasure
-- ---------------------------------------------------------------------
SELECT mt.gdpr_erase('alice@example.com') AS receipt \gset
SELECT pg_temp.scrub(:'receipt');
-- the digest covers the canonical receipt without it
SELECT encode(sha256(convert_to((:'receipt'::jsonb - 'digest')::text, 'UTF8')), 'hex') = :'receipt'::jsonb ->> 'digest'
    AS digest_verifies;
-- nothing personal in the receipt
SELECT :'receipt' LIKE '%alice%' AS receipt_names_subject;
-- the export holds nothing about her any more
SELECT pg_temp.scrub(mt.gdpr_export('alice@example.com'));
-- customers row anonymized, constraints hold, the invoice still points at it
SELECT id, email ~ '^erased-[0-9a-f]{16}@erased\.invalid$' AS email_erased,
       name ~ '^erased-[0-9a-f]{16}@erased\.invalid$' AS name_erased,
       regexp_replace(phone, '^erased-[0-9a-f]{5}$', 'erased-<5 hex>') AS phone, age, birthday, prefs, vip
FROM customers ORDER BY id;
SELECT i.id, c.id AS customer FROM invoices i JOIN customers c ON c.id = i.customer_id ORDER BY i.id;
SELECT id, customer_email FROM orders ORDER BY id;
SELECT id, subject FROM events ORDER BY id;
-- evidence kept under a pseudonym
SELECT subject ~ '^erased:[0-9a-f]{64}$' AS pseudonym, count(*) FROM mt.consents GROUP BY 1 ORDER BY 1;
SELECT kind, status, subject ~ '^erased:' AS pseudonym FROM mt.gdpr_requests
WHERE subject <> 'carol@example.com' ORDER BY id;
SELECT (SELECT count(DISTINCT subject) FROM mt.consents WHERE subject LIKE 'erased:%')
     = (SELECT count(DISTINCT subject) FROM mt.gdpr_requests WHERE subject LIKE 'erased:%') AS same_pseudonym;
SELECT lifted_by, subject ~ '^erased:' AS pseudonym FROM mt.gdpr_restrictions ORDER BY id;
SELECT tenant_id = :'acme' AS acme, subject ~ '^erased:' AS pseudonym, subject = 'alice@example.com' AS clear
FROM mt.breach_subjects WHERE subject <> 'bob@example.com' ORDER BY 1, 2;
-- erasing again: nothing left, a new receipt
SELECT r -> 'tables' AS tables, r -> 'consents_pseudonymized' AS consents FROM mt.gdpr_erase('alice@example.com') r;
-- an erasure request goes through gdpr_process and keeps its receipt
SELECT mt.gdpr_request('bob@example.com', 'erasure') AS erase_req \gset
SELECT (r ->> 'request_id')::bigint = :erase_req AS same_request, r -> 'tables' AS tables
FROM mt.gdpr_process(:erase_req) r;
SELECT status, result ->> 'digest' IS NOT NULL AS has_receipt, subject ~ '^erased:' AS pseudonym
FROM mt.gdpr_requests WHERE id = :erase_req;
SELECT pg_temp.err('SELECT mt.gdpr_erase(NULL)');
SELECT pg_temp.err('SELECT mt.gdpr_erase('''')');
SELECT pg_temp.err('SELECT mt.gdpr_erase(repeat(''x'', 300))');

-- the other tenant is untouched
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered_globex;
SELECT jsonb_path_query_array(mt.gdpr_export('alice@example.com'), '$.tables[*].rows.size()') AS globex_rows;
RESET multitenant.token;
SELECT id, tenant_id = :'globex' AS globex, email, name FROM customers WHERE id = 3;
SELECT count(*) AS globex_orders FROM orders WHERE tenant_id = :'globex';
SELECT count(*) AS globex_events FROM events WHERE tenant_id = :'globex';

-- ---------------------------------------------------------------------
-- Retention
-- ---------------------------------------------------------------------
CREATE TABLE sessions (id int, tenant_id uuid NOT NULL, started_at timestamptz NOT NULL);
SELECT mt.enable_isolation('sessions');
INSERT INTO sessions SELECT g, CASE WHEN g % 2 = 0 THEN :'acme'::uuid ELSE :'globex'::uuid END,
    now() - CASE WHEN g <= 25 THEN interval '100 days' ELSE interval '1 day' END
FROM generate_series(1, 40) g;
CREATE TABLE logs (id int, at date NOT NULL, k int NOT NULL) PARTITION BY LIST (k);
CREATE TABLE logs_1 PARTITION OF logs FOR VALUES IN (1);
CREATE TABLE logs_2 PARTITION OF logs FOR VALUES IN (2);
INSERT INTO logs SELECT g, current_date - (g * 10), 1 + g % 2 FROM generate_series(1, 12) g;
SELECT mt.set_retention('sessions', 'started_at', '90 days');
SELECT mt.set_retention('logs', 'at', '35 days');
SELECT tbl, time_column, keep, last_run_at FROM mt.retention_policies ORDER BY tbl::text;
-- batches of at most 10 rows per table per call (deletion bypasses RLS)
SELECT * FROM mt.run_retention(10);
SELECT * FROM mt.run_retention(10);
SELECT * FROM mt.run_retention(10);
SELECT count(*) AS sessions_left, min(id) FROM sessions;
SELECT count(*) AS logs_left, max(current_date - at) AS oldest_days FROM logs;
SELECT tbl, last_run_at IS NOT NULL AS ran, last_deleted, last_more, total_deleted
FROM mt.retention_policies ORDER BY tbl::text;
SELECT pg_temp.err('SELECT mt.set_retention(''mt.consents'', ''recorded_at'', ''1 year'')');
SELECT pg_temp.err('SELECT mt.set_retention(''mt.tenants'', ''created_at'', ''1 year'')');
SELECT pg_temp.err('SELECT mt.set_retention(''sessions'', ''id'', ''1 year'')');
SELECT pg_temp.err('SELECT mt.set_retention(''sessions'', ''nope'', ''1 year'')');
SELECT pg_temp.err('SELECT mt.set_retention(''sessions'', ''started_at'', ''-1 day'')');
SELECT pg_temp.err('SELECT mt.set_retention(''sessions'', ''started_at'', NULL)');
SELECT pg_temp.err('SELECT mt.run_retention(0)');
SELECT pg_temp.err('SELECT mt.run_retention(NULL)');
SELECT mt.drop_retention('logs') AS dropped, mt.drop_retention('logs') AS again;
-- a dropped table leaves the registry and the policies
DROP TABLE sessions;
SELECT count(*) AS policies FROM mt.retention_policies;
DROP TABLE events;
SELECT tbl FROM mt.subject_tables ORDER BY tbl::text;

-- ---------------------------------------------------------------------
-- Privileges: an application role acts inside its tenant only
-- ---------------------------------------------------------------------
SET ROLE mt_gdpr_app;
SELECT pg_temp.err('SELECT mt.gdpr_export(''bob@example.com'')');
SELECT pg_temp.err('SELECT mt.gdpr_erase(''bob@example.com'')');
SELECT pg_temp.err('SELECT mt.gdpr_process(1)');
SELECT pg_temp.err('SELECT * FROM mt.run_retention()');
SELECT pg_temp.err('SELECT mt.report_breach(''x'')');
SELECT pg_temp.err('SELECT * FROM mt.breaches');
SELECT count(*) AS consents_visible_without_tenant FROM mt.consents;
RESET ROLE;
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered_globex;
SET ROLE mt_gdpr_app;
SELECT mt.record_consent('dave@example.com', 'newsletter', true) > 0 AS recorded;
SELECT mt.gdpr_request('dave@example.com', 'access') > 0 AS filed;
SELECT DISTINCT tenant_id = :'globex' AS own_tenant_only FROM mt.consents;
SELECT count(*) AS requests_visible FROM mt.gdpr_requests;
RESET ROLE;
RESET multitenant.token;
DROP TABLE customers, invoices, orders, plain, logs CASCADE;
REVOKE EXECUTE ON FUNCTION mt.register_subject(regclass, name, text, name[]) FROM mt_gdpr_dpo;
DROP ROLE mt_gdpr_app, mt_gdpr_dpo;
\i sql/include/cleanup.psql
