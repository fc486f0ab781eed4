-- multitenant 0.1.0 -> 0.2.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.1.0 appears here too;
-- test/shell/extension_upgrade.sh checks that an updated 0.1.0 has exactly
-- the objects of a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- auto-isolated schemas follow ALTER SCHEMA ... RENAME
DROP EVENT TRIGGER mt_ddl_isolate_new;
CREATE EVENT TRIGGER mt_ddl_isolate_new ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'ALTER SCHEMA')
    EXECUTE FUNCTION mt.ddl_isolate_new();

-- the API-key throttle counts failures per (address, key id): one more column
DELETE FROM mt.privileged_functions WHERE f = 'mt.api_key_throttle()'::regprocedure;
DROP FUNCTION mt.api_key_throttle();
CREATE FUNCTION mt.api_key_throttle()
    RETURNS TABLE (client inet, kind text, failures integer,
                   window_start timestamptz, blocked_until timestamptz, key_id text)
    AS 'MODULE_PATHNAME', 'mt_api_key_throttle' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
REVOKE ALL ON FUNCTION mt.api_key_throttle() FROM PUBLIC;
INSERT INTO mt.privileged_functions VALUES ('mt.api_key_throttle()'::regprocedure);

-- the audit row trigger runs as the writer (it checks the writer's verified
-- tenant and appends as the extension owner itself)
ALTER FUNCTION mt.audit_row_change() SECURITY INVOKER;
ALTER FUNCTION mt.audit_row_change() RESET search_path;

-- comments on every object (\d+ documents the extension)
COMMENT ON TABLE mt.plans IS 'Plans tenants subscribe to, with monthly and yearly prices; readable by everyone, built-in rows are re-created by CREATE EXTENSION.';
COMMENT ON TABLE mt.plan_limits IS 'Limits of each plan per metric and UTC day or month (hard_limit NULL = unlimited, soft limit for alerts, overage price); readable by everyone.';
COMMENT ON TABLE mt.tenants IS 'The tenant registry (id, name, slug, plan, status); a role sees only its current tenant''s row, only the extension owner writes it.';
COMMENT ON FUNCTION mt.current_tenant() IS 'The verified tenant of the current context (multitenant.token, mt.set_tenant, mt.authenticate), or NULL.';
COMMENT ON FUNCTION mt.require_tenant() IS 'As mt.current_tenant(), but raises 42501 when no tenant context is set.';
COMMENT ON FUNCTION mt.current_subject() IS 'The sub claim (a user or API key id) of the verified tenant context, or NULL.';
COMMENT ON FUNCTION mt.current_tenant_role() IS 'The role claim of the verified tenant context, or NULL.';
COMMENT ON FUNCTION mt.tenant_token(uuid, interval, text, text) IS 'Privileged (the role that issues tokens to applications): mints an HS256 tenant token for an active tenant, with aud set to the current database.';
COMMENT ON FUNCTION mt.set_tenant(uuid, boolean) IS 'Privileged (admins, DPO, back office): enters the tenant''s context, SET LOCAL by default, for at most multitenant.default_token_ttl.';
COMMENT ON FUNCTION mt.create_tenant(text, text, text) IS 'Privileged (tenant administrators): registers a tenant on a plan and returns its id.';
COMMENT ON FUNCTION mt.suspend_tenant(uuid) IS 'Privileged (tenant administrators): suspends a tenant; its tokens, contexts and keys stop working at every session''s next transaction.';
COMMENT ON FUNCTION mt.resume_tenant(uuid) IS 'Privileged (tenant administrators): makes a suspended tenant active again.';
COMMENT ON FUNCTION mt.drop_tenant(uuid) IS 'Privileged (tenant administrators): soft-deletes a tenant for good (status deleted); its data stays until purged explicitly.';
COMMENT ON FUNCTION mt.tenants_changed() IS 'Internal: statement trigger on mt.tenants and mt.api_key_secrets that invalidates every backend''s tenant-status and key caches at commit.';
COMMENT ON TABLE mt.isolated_tables IS 'Tables isolated by mt.enable_isolation() (tenant column, parent for partitions and children); readable by everyone, written only by the extension.';
COMMENT ON TABLE mt.auto_isolate_schemas IS 'Schemas registered with mt.auto_isolate(): tables created there with the tenant column are isolated at creation; readable by everyone.';
COMMENT ON FUNCTION mt.enable_isolation(regclass, name) IS 'Privileged (the migration role, which must own the table): isolates a table and its partitions by tenant with forced row-level security and generated policies.';
COMMENT ON FUNCTION mt.disable_isolation(regclass) IS 'Privileged (the migration role, which must own the table): removes the generated policies and row-level security of an isolated table and its children.';
COMMENT ON FUNCTION mt.auto_isolate(name, name) IS 'Privileged (the migration role): tables created later in the schema that have the tenant column are isolated at creation.';
COMMENT ON FUNCTION mt.stop_auto_isolate(name) IS 'Privileged (the migration role): ends mt.auto_isolate() for the schema.';
COMMENT ON FUNCTION mt.isolation_status() IS 'Privileged (admins, auditors): one row per table with a tenant column and per view over an isolated table, with the issues of its isolation.';
COMMENT ON FUNCTION mt.ddl_guard() IS 'Internal: event trigger function that refuses DDL disabling row-level security or dropping or altering the generated policies of isolated tables.';
COMMENT ON FUNCTION mt.ddl_isolate_new() IS 'Internal: event trigger function that isolates new partitions and children of isolated tables and new tables of auto-isolated schemas.';
COMMENT ON FUNCTION mt.ddl_forget_dropped() IS 'Internal: event trigger function that forgets dropped isolated tables and auto-isolated schemas and refuses to drop a generated policy of a table that stays isolated.';
COMMENT ON EVENT TRIGGER mt_ddl_guard IS 'Refuses, to every role, DDL that disables row-level security or drops or alters the generated tenant policies of an isolated table.';
COMMENT ON EVENT TRIGGER mt_ddl_isolate_new IS 'Isolates new partitions and children of isolated tables and new tables of auto-isolated schemas; follows schema renames.';
COMMENT ON EVENT TRIGGER mt_ddl_forget_dropped IS 'Forgets dropped isolated tables and auto-isolated schemas; refuses drops of generated policies of tables that stay isolated.';
COMMENT ON TABLE mt.api_key_secrets IS 'API keys: per key only a keyed hash (HMAC-SHA256) and its metadata; readable by the extension owner only (tenants use the view mt.api_keys).';
COMMENT ON VIEW mt.api_keys IS 'The current tenant''s API keys with their status and without hashes (security_barrier view); readable by everyone.';
COMMENT ON FUNCTION mt.verify_api_key(text) IS 'One row (tenant, key id, scopes) for a valid API key, none otherwise; invalid keys count against the client''s brute-force throttle.';
COMMENT ON FUNCTION mt.authenticate(text) IS 'Verifies an API key, enters its tenant for the current transaction and returns the tenant; 28000 for any invalid key.';
COMMENT ON FUNCTION mt.require_scope(text) IS 'Raises 42501 unless the API key authenticated in this transaction has exactly that scope.';
COMMENT ON FUNCTION mt.has_scope(text) IS 'Whether the API key authenticated in this transaction has exactly that scope (usable in policies).';
COMMENT ON FUNCTION mt.api_key_id(text) IS 'The key id of a well-formed API key (format and checksum only, no table access), else NULL.';
COMMENT ON FUNCTION mt.create_api_key(uuid, text, text[], timestamptz, text) IS 'Privileged (key administrators): creates an API key for an active tenant and returns its plaintext, visible only this once.';
COMMENT ON FUNCTION mt.revoke_api_key(text) IS 'Privileged (key administrators): revokes a key, given by id or whole; true if this call revoked it.';
COMMENT ON FUNCTION mt.rotate_api_key(text, interval) IS 'Privileged (key administrators): creates a successor key, ends the old one after the grace interval and returns the new plaintext.';
COMMENT ON FUNCTION mt.flush_api_key_usage() IS 'Privileged (maintenance role; the background worker does it too): writes the last-use times held in shared memory to the keys; returns how many.';
COMMENT ON FUNCTION mt.api_key_throttle() IS 'Privileged (admins): the brute-force throttle buckets (client address, key id, failures, cool-down).';
COMMENT ON FUNCTION mt.reset_api_key_throttle() IS 'Privileged (admins): clears every brute-force throttle bucket, ending every cool-down; returns how many there were.';
COMMENT ON TABLE mt.usage_rollup IS 'Flushed usage, one row per tenant, metric and UTC hour, written only by the flush workers; tenants read their own rows.';
COMMENT ON TABLE mt.tenant_quotas IS 'Per-tenant overrides of the plan''s limits (mt.set_quota); tenants read their own rows.';
COMMENT ON TABLE mt.usage_alerts IS 'First crossing of a soft limit, once per tenant, metric and period (NOTIFY multitenant_usage); tenants read their own rows.';
COMMENT ON FUNCTION mt.track(text, bigint) IS 'Counts an amount of a metric for the current tenant and returns the total of its quota period; never refused by a quota.';
COMMENT ON FUNCTION mt.consume(text, bigint) IS 'As mt.track(), but refused with 54000 (nothing counted) when the total would exceed the hard limit.';
COMMENT ON FUNCTION mt.usage(uuid, text) IS 'Usage per metric in the current UTC day or month with its limits, for the current tenant or a tenant the caller can see.';
COMMENT ON FUNCTION mt.usage_history(uuid, text, timestamptz, timestamptz, text) IS 'Usage summed per hour, day, week or month over a time range, for the current tenant or a tenant the caller can see.';
COMMENT ON FUNCTION mt.usage_cost(uuid, timestamptz) IS 'Cost estimate for a UTC month: the plan price, the overage of each plan limit, and the total.';
COMMENT ON FUNCTION mt.rate_limit(text, double precision, integer) IS 'GCRA rate limit in shared memory per bucket of the current tenant (or database): true when the call is allowed.';
COMMENT ON FUNCTION mt.set_quota(uuid, text, bigint, bigint, text) IS 'Privileged (billing administrators): creates or replaces a tenant''s override of its plan''s limits for a metric.';
COMMENT ON FUNCTION mt.reset_quota(uuid, text) IS 'Privileged (billing administrators): removes a tenant''s override, so the plan''s limit applies again.';
COMMENT ON FUNCTION mt.flush_usage() IS 'Privileged (admins): flushes this database''s pending counts to mt.usage_rollup now and returns the rows written.';
COMMENT ON FUNCTION mt.usage_quota_changed() IS 'Internal: statement trigger on mt.plan_limits, mt.tenant_quotas and mt.tenants that makes every session re-read its cached quotas.';
COMMENT ON TABLE mt.audit_log IS 'The tamper-evident audit log: one append-only hash chain per tenant (nil uuid: no tenant); tenants read their own chain.';
COMMENT ON TABLE mt.audit_checkpoints IS 'One row per pruning of an audit chain (last pruned position and its hash), where verification starts; append-only.';
COMMENT ON TABLE mt.audit_subject_keys IS 'Per (tenant, subject) keys that encrypt audit details, wrapped with a server key and destroyed for crypto-shredding; extension owner only.';
COMMENT ON TABLE mt.audit_digests IS 'When audit chain heads were taken out with mt.audit_digest(), for compliance check MT-AUD-002.';
COMMENT ON FUNCTION mt.audit_guard() IS 'Internal: append-only trigger that refuses INSERT, UPDATE, DELETE and TRUNCATE on the audit tables except from the extension''s own code.';
COMMENT ON FUNCTION mt.audit(text, text, text, jsonb, text) IS 'Appends an event to the current tenant''s audit chain (the no-tenant chain without a context) and returns its id; for applications.';
COMMENT ON FUNCTION mt.audit_verify(uuid, jsonb) IS 'Privileged (auditors): recomputes one or every audit chain, optionally against an earlier digest, and reports the first bad row.';
COMMENT ON FUNCTION mt.audit_digest(uuid) IS 'Privileged (auditors, a scheduled job): the head (position, hash, time) of one or every audit chain, to store outside the database.';
COMMENT ON FUNCTION mt.audit_prune(interval, uuid) IS 'Privileged (admins): removes verified audit rows older than the interval and leaves a checkpoint from which the rest still verifies.';
COMMENT ON FUNCTION mt.audit_row_change() IS 'Internal: row and TRUNCATE trigger installed by mt.audit_table() that appends each change to the row''s tenant chain.';
COMMENT ON FUNCTION mt.audit_table(regclass, name, name) IS 'Privileged (admins holding TRIGGER on the table): records every row change of the table in its tenant''s audit chain.';
COMMENT ON FUNCTION mt.audit_untable(regclass) IS 'Privileged (admins holding TRIGGER on the table): removes the audit triggers installed by mt.audit_table().';
COMMENT ON FUNCTION mt.audit_search(timestamptz, timestamptz, text, text, text, text, text, bigint, integer, boolean) IS 'Searches the current tenant''s audit chain, decrypting details whose key still exists; for applications.';
COMMENT ON FUNCTION mt.audit_search_tenant(uuid, timestamptz, timestamptz, text, text, text, text, text, bigint, integer, boolean) IS 'Privileged (auditors): searches any tenant''s audit chain, or every chain.';
COMMENT ON FUNCTION mt.audit_export(bigint) IS 'The current tenant''s audit chain as JSON lines that can be verified outside the database.';
COMMENT ON FUNCTION mt.audit_export_tenant(uuid, bigint) IS 'Privileged (auditors): any audit chain, or every chain, as JSON lines that can be verified outside the database.';
COMMENT ON FUNCTION mt.audit_forget_subject(text, uuid) IS 'Privileged (admins, the GDPR process): crypto-shredding, destroys a subject''s audit details key so that its encrypted details become unreadable.';
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
COMMENT ON TABLE mt.compliance_checks IS 'History of compliance check results, one row per check and run; not readable by PUBLIC.';
COMMENT ON FUNCTION mt.run_compliance_checks() IS 'Privileged (admins, auditors): runs every compliance check, stores the results in mt.compliance_checks and returns them.';
COMMENT ON FUNCTION mt.compliance_catalog() IS 'The compliance checks with their standards, controls and severity.';
COMMENT ON FUNCTION mt.compliance_report(text, timestamptz, timestamptz) IS 'Privileged (admins, auditors): compliance report as jsonb, per standard and control, over the check runs in a time window.';
COMMENT ON FUNCTION mt.compliance_report_text(text, timestamptz, timestamptz) IS 'Privileged (admins, auditors): the compliance report rendered as text for people.';
COMMENT ON TABLE mt.privileged_functions IS 'The functions installed without EXECUTE for PUBLIC, so that compliance check MT-PRIV-002 notices a later grant to PUBLIC.';
