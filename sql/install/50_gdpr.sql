-- multitenant install script, part 50: GDPR (subject registry, export,
-- erasure, consent, requests, restriction, breach register) and retention
-- jobs.  Implemented in C (src/gdpr.c, src/retention.c); see doc/gdpr.md.

-- ---------------------------------------------------------------------
-- Where a data subject's personal data lives
-- ---------------------------------------------------------------------
CREATE TABLE mt.subject_tables (
    tbl                regclass NOT NULL,
    subject_column     name NOT NULL,
    on_erase           text NOT NULL CHECK (on_erase IN ('delete', 'anonymize')),
    anonymize_columns  name[] NOT NULL DEFAULT '{}',
    registered_at      timestamptz NOT NULL DEFAULT now(),
    registered_by      text NOT NULL,
    PRIMARY KEY (tbl, subject_column),
    CHECK (on_erase = 'anonymize' OR cardinality(anonymize_columns) = 0)
);

-- ---------------------------------------------------------------------
-- Consent history: append-only (a trigger refuses UPDATE, DELETE and
-- TRUNCATE to every role; only mt.gdpr_erase() may replace an erased
-- subject by its pseudonym).
-- ---------------------------------------------------------------------
CREATE TABLE mt.consents (
    id           bigserial PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    subject      text NOT NULL,
    purpose      text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 200),
    granted      boolean NOT NULL,
    version      text,
    source       text,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    recorded_by  text NOT NULL,      -- database role
    actor        text                -- the tenant token's subject (mt.current_subject())
);
CREATE INDEX consents_subject ON mt.consents (tenant_id, subject, purpose, id);

-- ---------------------------------------------------------------------
-- Data-subject requests (due 30 days after submission)
-- ---------------------------------------------------------------------
CREATE TABLE mt.gdpr_requests (
    id            bigserial PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    subject       text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('access', 'erasure', 'portability',
                                                'rectification', 'restriction', 'objection')),
    reason        text,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed')),
    submitted_at  timestamptz NOT NULL DEFAULT now(),
    submitted_by  text NOT NULL,
    due_at        timestamptz NOT NULL,
    processed_at  timestamptz,
    processed_by  text,
    result        jsonb,             -- PII-free summary, or the erasure receipt
    CHECK (due_at = submitted_at + interval '30 days'),
    CHECK ((status = 'completed') = (processed_at IS NOT NULL))
);
CREATE INDEX gdpr_requests_subject ON mt.gdpr_requests (tenant_id, subject);
CREATE INDEX gdpr_requests_open ON mt.gdpr_requests (tenant_id, due_at) WHERE status = 'pending';

-- subjects whose processing is restricted (Art. 18); mt.is_restricted()
CREATE TABLE mt.gdpr_restrictions (
    id             bigserial PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    subject        text NOT NULL,
    request_id     bigint,
    restricted_at  timestamptz NOT NULL DEFAULT now(),
    restricted_by  text NOT NULL,
    lifted_at      timestamptz,
    lifted_by      text
);
CREATE UNIQUE INDEX gdpr_restrictions_active ON mt.gdpr_restrictions (tenant_id, subject)
    WHERE lifted_at IS NULL;
CREATE INDEX gdpr_restrictions_subject ON mt.gdpr_restrictions (tenant_id, subject);

-- ---------------------------------------------------------------------
-- Breach register (Art. 33: notify the authority within 72 hours)
-- ---------------------------------------------------------------------
CREATE TABLE mt.breaches (
    id                bigserial PRIMARY KEY,
    description       text NOT NULL CHECK (description <> ''),
    severity          text NOT NULL DEFAULT 'high' CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    detected_at       timestamptz NOT NULL,
    reported_at       timestamptz NOT NULL DEFAULT now(),
    reported_by       text NOT NULL,
    notify_deadline   timestamptz NOT NULL,
    affected_tenants  uuid[] NOT NULL DEFAULT '{}',
    notified_at       timestamptz,
    notified_by       text,
    authority         text,
    notification_ref  text,
    CHECK (notify_deadline = detected_at + interval '72 hours')
);
CREATE TABLE mt.breach_subjects (
    breach_id  bigint NOT NULL REFERENCES mt.breaches (id) ON DELETE CASCADE,
    tenant_id  uuid NOT NULL,
    subject    text NOT NULL,
    PRIMARY KEY (breach_id, tenant_id, subject)
);
CREATE INDEX breach_subjects_subject ON mt.breach_subjects (tenant_id, subject);

-- unnotified breaches past their deadline (compliance checks read this)
CREATE VIEW mt.breaches_overdue AS
    SELECT id, description, severity, detected_at, notify_deadline, affected_tenants,
           now() - notify_deadline AS overdue_by
    FROM mt.breaches
    WHERE notified_at IS NULL AND notify_deadline < now();

-- ---------------------------------------------------------------------
-- Retention policies
-- ---------------------------------------------------------------------
CREATE TABLE mt.retention_policies (
    tbl            regclass PRIMARY KEY,
    time_column    name NOT NULL,
    keep           interval NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL,
    last_run_at    timestamptz,
    last_deleted   bigint,
    last_more      boolean,           -- expired rows were left for the next run
    total_deleted  bigint NOT NULL DEFAULT 0
);

-- ---------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.register_subject(tbl regclass, subject_column name, on_erase text DEFAULT 'delete',
                                    anonymize_columns name[] DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_register_subject' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.unregister_subject(tbl regclass, subject_column name DEFAULT NULL) RETURNS integer
    AS 'MODULE_PATHNAME', 'mt_unregister_subject' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mt.gdpr_export(subject text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_gdpr_export' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.gdpr_erase(subject text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_gdpr_erase' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.record_consent(subject text, purpose text, granted boolean,
                                  version text DEFAULT NULL, source text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_record_consent' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.has_consent(subject text, purpose text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_has_consent' LANGUAGE C STABLE PARALLEL UNSAFE;
CREATE FUNCTION mt.consents_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_consents_guard' LANGUAGE C;

CREATE FUNCTION mt.gdpr_request(subject text, kind text, reason text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_gdpr_request' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.gdpr_process(request_id bigint) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_gdpr_process' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.is_restricted(subject text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_is_restricted' LANGUAGE C STABLE PARALLEL UNSAFE;
CREATE FUNCTION mt.lift_restriction(subject text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_lift_restriction' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mt.report_breach(description text, detected_at timestamptz DEFAULT now(),
                                 affected_tenants uuid[] DEFAULT NULL, affected_subjects text[] DEFAULT NULL,
                                 severity text DEFAULT 'high') RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_report_breach' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.add_breach_subjects(breach_id bigint, subjects text[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'mt_add_breach_subjects' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.record_breach_notification(breach_id bigint, authority text, reference text DEFAULT NULL,
                                              notified_at timestamptz DEFAULT now()) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_record_breach_notification' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mt.set_retention(tbl regclass, time_column name, keep interval) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_set_retention' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.drop_retention(tbl regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_drop_retention' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.run_retention(batch integer DEFAULT 10000)
    RETURNS TABLE (tbl regclass, deleted bigint, more boolean, status text)
    AS 'MODULE_PATHNAME', 'mt_run_retention' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.gdpr_forget_dropped() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'mt_gdpr_forget_dropped' LANGUAGE C;
CREATE EVENT TRIGGER mt_gdpr_forget_dropped ON sql_drop
    EXECUTE FUNCTION mt.gdpr_forget_dropped();

CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON mt.consents
    FOR EACH STATEMENT EXECUTE FUNCTION mt.consents_guard();
CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON mt.consents
    FOR EACH STATEMENT EXECUTE FUNCTION mt.consents_guard();
ALTER TABLE mt.consents ENABLE ALWAYS TRIGGER consents_append_only;
ALTER TABLE mt.consents ENABLE ALWAYS TRIGGER consents_no_truncate;

-- ---------------------------------------------------------------------
-- Privileges and confinement
-- ---------------------------------------------------------------------
-- privileged: registry and retention (the caller must also own the table),
-- export/erasure/processing (run as the extension owner), breaches
REVOKE ALL ON FUNCTION mt.register_subject(regclass, name, text, name[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.unregister_subject(regclass, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.gdpr_export(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.gdpr_erase(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.gdpr_process(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.lift_restriction(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.report_breach(text, timestamptz, uuid[], text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.add_breach_subjects(bigint, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.record_breach_notification(bigint, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.set_retention(regclass, name, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.drop_retention(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.run_retention(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.consents_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.gdpr_forget_dropped() FROM PUBLIC;
-- mt.record_consent, mt.has_consent, mt.gdpr_request and mt.is_restricted
-- stay executable by PUBLIC: they act inside the caller's tenant context.

REVOKE ALL ON mt.subject_tables, mt.consents, mt.gdpr_requests, mt.gdpr_restrictions,
              mt.breaches, mt.breach_subjects, mt.breaches_overdue, mt.retention_policies FROM PUBLIC;
GRANT SELECT ON mt.subject_tables, mt.retention_policies TO PUBLIC;
GRANT SELECT ON mt.consents, mt.gdpr_requests, mt.gdpr_restrictions TO PUBLIC;
ALTER TABLE mt.consents ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.gdpr_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.gdpr_restrictions ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.breach_subjects ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON mt.consents FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_read ON mt.gdpr_requests FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_read ON mt.gdpr_restrictions FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_read ON mt.breach_subjects FOR SELECT USING (tenant_id = mt.current_tenant());

SELECT pg_catalog.pg_extension_config_dump('mt.subject_tables', '');
SELECT pg_catalog.pg_extension_config_dump('mt.consents', '');
SELECT pg_catalog.pg_extension_config_dump('mt.consents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.gdpr_requests', '');
SELECT pg_catalog.pg_extension_config_dump('mt.gdpr_requests_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.gdpr_restrictions', '');
SELECT pg_catalog.pg_extension_config_dump('mt.gdpr_restrictions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.breaches', '');
SELECT pg_catalog.pg_extension_config_dump('mt.breaches_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.breach_subjects', '');
SELECT pg_catalog.pg_extension_config_dump('mt.retention_policies', '');

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/gdpr.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.subject_tables IS 'Where data subjects'' personal data lives (mt.register_subject): table, subject column, erasure by delete or anonymize; readable by everyone.';
COMMENT ON TABLE mt.consents IS 'Consent history, append-only: grants and withdrawals per subject and purpose; tenants read their own rows.';
COMMENT ON TABLE mt.gdpr_requests IS 'Data-subject requests (access, erasure, portability, rectification, restriction, objection), due 30 days after submission; tenants read their own rows.';
COMMENT ON TABLE mt.gdpr_restrictions IS 'Subjects whose processing is restricted (Art. 18), kept as history when lifted; tenants read their own rows.';
COMMENT ON TABLE mt.breaches IS 'Breach register (Art. 33: notify the authority within 72 hours); cross-tenant, admins only.';
COMMENT ON TABLE mt.breach_subjects IS 'Data subjects affected by a breach, per tenant; pseudonymized by erasure.';
COMMENT ON VIEW mt.breaches_overdue IS 'Unnotified breaches past their 72-hour notification deadline (the compliance checks read it).';
COMMENT ON TABLE mt.retention_policies IS 'Retention policies (mt.set_retention): rows older than keep are deleted by mt.run_retention(), which records its runs here.';
COMMENT ON FUNCTION mt.register_subject(regclass, name, text, name[]) IS 'Privileged (the migration role, which must own the table): declares that a column of an isolated table holds data-subject ids, and how erasure treats the rows.';
COMMENT ON FUNCTION mt.unregister_subject(regclass, name) IS 'Privileged (the migration role, which must own the table): removes the table''s subject registrations, or one of them.';
COMMENT ON FUNCTION mt.gdpr_export(text) IS 'Privileged (DPO, inside the tenant): everything the current tenant holds on a data subject, as jsonb (access, portability).';
COMMENT ON FUNCTION mt.gdpr_erase(text) IS 'Privileged (DPO, inside the tenant): erases a data subject in the current tenant, keeping evidence under a pseudonym, and returns a receipt.';
COMMENT ON FUNCTION mt.record_consent(text, text, boolean, text, text) IS 'Appends a consent grant or withdrawal for a subject and purpose in the current tenant and returns its id.';
COMMENT ON FUNCTION mt.has_consent(text, text) IS 'Whether the latest consent event of the subject for the purpose, in the current tenant, is a grant.';
COMMENT ON FUNCTION mt.consents_guard() IS 'Internal: trigger that keeps mt.consents append-only (refuses UPDATE, DELETE and TRUNCATE except erasure''s pseudonymization).';
COMMENT ON FUNCTION mt.gdpr_request(text, text, text) IS 'Files a data-subject request in the current tenant, due in 30 days, and returns its id.';
COMMENT ON FUNCTION mt.gdpr_process(bigint) IS 'Privileged (DPO, inside the tenant): processes a pending data-subject request of the current tenant and returns its result.';
COMMENT ON FUNCTION mt.is_restricted(text) IS 'Whether the subject''s processing is restricted in the current tenant (usable in policies).';
COMMENT ON FUNCTION mt.lift_restriction(text) IS 'Privileged (DPO, inside the tenant): ends the active processing restriction of a subject, kept as history.';
COMMENT ON FUNCTION mt.report_breach(text, timestamptz, uuid[], text[], text) IS 'Privileged (DPO): records a personal-data breach with its 72-hour notification deadline and returns its id.';
COMMENT ON FUNCTION mt.add_breach_subjects(bigint, text[]) IS 'Privileged (DPO, inside the tenant): adds affected subjects of the current tenant to a breach and returns how many were new.';
COMMENT ON FUNCTION mt.record_breach_notification(bigint, text, text, timestamptz) IS 'Privileged (DPO): records that the supervisory authority was notified of a breach.';
COMMENT ON FUNCTION mt.set_retention(regclass, name, interval) IS 'Privileged (the migration role, which must own the table): mt.run_retention() will delete the rows whose time column is older than keep.';
COMMENT ON FUNCTION mt.drop_retention(regclass) IS 'Privileged (the migration role, which must own the table): removes the table''s retention policy.';
COMMENT ON FUNCTION mt.run_retention(integer) IS 'Privileged (a scheduled maintenance job): deletes at most batch expired rows per retention policy, as each table''s owner.';
COMMENT ON FUNCTION mt.gdpr_forget_dropped() IS 'Internal: event trigger function that removes the subject registrations and retention policies of dropped tables.';
COMMENT ON EVENT TRIGGER mt_gdpr_forget_dropped IS 'Removes the subject registrations and retention policies of dropped tables.';
