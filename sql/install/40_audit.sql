-- ---------------------------------------------------------------------
-- multitenant install script, part 40: the tamper-evident audit log
-- (doc/audit.md).  One hash chain per tenant, plus the "no tenant" chain
-- keyed by the nil uuid 00000000-0000-0000-0000-000000000000.
-- Everything is implemented in C (src/audit.c, src/audit_keys.c).
-- ---------------------------------------------------------------------

-- ids are taken at append, without a lock; the sealer links a chain's
-- committed events in id order (doc/audit.md, "Sealing").  CACHE 1 (the
-- default) keeps ids monotonic across backends.
CREATE SEQUENCE mt.audit_log_id_seq AS bigint;

CREATE TABLE mt.audit_log (
    id              bigint NOT NULL,
    tenant_id       uuid NOT NULL,
    seq             bigint CHECK (seq > 0),   -- NULL until sealed
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    action          text NOT NULL,
    resource_type   text,
    resource_id     text,
    details         jsonb,          -- plaintext details (NULL when encrypted)
    details_key_id  bigint,         -- subject key that encrypted details_enc
    details_enc     bytea,          -- nonce || crypto_secretbox(details text)
    client_addr     inet,
    db_user         text NOT NULL,  -- session_user of the appending session
    prev_hash       bytea CHECK (length(prev_hash) = 32),   -- NULL until sealed
    hash            bytea NOT NULL CHECK (length(hash) = 32),  -- content hash until sealed
    CHECK ((details_key_id IS NULL) = (details_enc IS NULL)),
    CHECK (details IS NULL OR details_enc IS NULL)
);
ALTER SEQUENCE mt.audit_log_id_seq OWNED BY mt.audit_log.id;
-- Two partial indexes, one entry per row in each state: an append enters
-- the work list only, sealing enters the chain only (doc/audit.md,
-- "Indexes and replica identity").
-- the chains: sealed events by position, one per position
CREATE UNIQUE INDEX audit_log_chain ON mt.audit_log (tenant_id, seq) WHERE seq IS NOT NULL;
-- the events the sealer has not linked yet, per chain in id order
CREATE INDEX audit_log_unsealed ON mt.audit_log (tenant_id, id) WHERE seq IS NULL;
-- No index on id alone (ids are unique by construction: mt.audit_log_id_seq,
-- and imports only into a free range): sealing rewrites every row once, and
-- an index on id cost an entry per append and per rewrite (doc/audit.md).
-- sealing updates rows: publications carry the whole old row
ALTER TABLE mt.audit_log REPLICA IDENTITY FULL;

-- What mt.audit_prune() removed: the last pruned position of a chain and
-- its hash, from which the remaining rows still verify.
CREATE TABLE mt.audit_checkpoints (
    tenant_id    uuid NOT NULL,
    seq          bigint NOT NULL CHECK (seq > 0),
    hash         bytea NOT NULL CHECK (length(hash) = 32),
    rows_pruned  bigint NOT NULL,
    pruned_at    timestamptz NOT NULL,
    pruned_by    text NOT NULL,
    CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (tenant_id, seq)
);

-- Per-subject keys for encrypted details, wrapped (crypto_secretbox) with
-- a key derived from the server secret.  subject_hash is a keyed hash of
-- (tenant, subject): the subject itself is stored nowhere.  Nobody but the
-- extension owner can read this table.
CREATE TABLE mt.audit_subject_keys (
    id            bigserial PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    subject_hash  bytea NOT NULL CHECK (length(subject_hash) = 32),
    wrapped_key   bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    kek_version   integer NOT NULL DEFAULT 1,   -- mt.secret_versions, purpose 'audit_kek'
    CONSTRAINT audit_subject_keys_subject UNIQUE (tenant_id, subject_hash)
);

-- ---------------------------------------------------------------------
-- Append-only guard: statement triggers that refuse INSERT, UPDATE,
-- DELETE and TRUNCATE to everyone (the owner and superusers too) except
-- the extension's own C code (mt.audit(), mt.audit_prune()).  ENABLE
-- ALWAYS: session_replication_role = replica does not bypass them.
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.audit_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_audit_guard' LANGUAGE C;

CREATE TRIGGER audit_log_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON mt.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION mt.audit_guard();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON mt.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION mt.audit_guard();
CREATE TRIGGER audit_checkpoints_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON mt.audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION mt.audit_guard();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON mt.audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION mt.audit_guard();
ALTER TABLE mt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE mt.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;
ALTER TABLE mt.audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_append_only;
ALTER TABLE mt.audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_truncate;

-- ---------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------
-- mt.audit() and mt.audit_many() run as the caller (no SECURITY DEFINER, no
-- per-call search_path: they are the hot path); their C code appends as the
-- extension owner and runs SQL only for subject keys, under a fixed
-- search_path (audit.c, append_events_as_owner).
CREATE FUNCTION mt.audit(action text, resource_type text DEFAULT NULL,
                         resource_id text DEFAULT NULL, details jsonb DEFAULT NULL,
                         subject text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- many events in one call: one pass, no SQL per event
CREATE FUNCTION mt.audit_many(actions text[], resource_types text[] DEFAULT NULL,
                              resource_ids text[] DEFAULT NULL, details jsonb[] DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_many' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mt.audit_verify(tenant uuid DEFAULT NULL, digest jsonb DEFAULT NULL)
    RETURNS TABLE (tenant_id uuid, ok boolean, rows_checked bigint, first_bad_id bigint,
                   head_seq bigint, problem text, unsealed bigint, oldest_unsealed timestamptz)
    AS 'MODULE_PATHNAME', 'mt_audit_verify' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.audit_digest(tenant uuid DEFAULT NULL)
    RETURNS TABLE (tenant_id uuid, seq bigint, hash text, at timestamptz)
    AS 'MODULE_PATHNAME', 'mt_audit_digest' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- link every committed, not yet sealed event into its chain now
CREATE FUNCTION mt.audit_seal() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_seal' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.audit_prune(older_than interval, tenant uuid DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_prune' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- not SECURITY DEFINER: it runs as the writer of the audited row, checks
-- that the row's tenant is the writer's verified context, and appends as
-- the extension owner itself (src/audit.c)
CREATE FUNCTION mt.audit_row_change() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_audit_row_change' LANGUAGE C;

CREATE FUNCTION mt.audit_table(tbl regclass, tenant_column name DEFAULT 'tenant_id',
                               subject_column name DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_audit_table' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.audit_untable(tbl regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_audit_untable' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- the current tenant's chain (any role inside a tenant context)
CREATE FUNCTION mt.audit_search(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL,
                                action text DEFAULT NULL, actor text DEFAULT NULL,
                                resource_type text DEFAULT NULL, resource_id text DEFAULT NULL,
                                subject text DEFAULT NULL, after_id bigint DEFAULT NULL,
                                max_rows integer DEFAULT 100, newest_first boolean DEFAULT false)
    RETURNS TABLE (id bigint, tenant_id uuid, seq bigint, at timestamptz, actor text, action text,
                   resource_type text, resource_id text, details jsonb, details_state text,
                   client_addr inet, db_user text)
    AS 'MODULE_PATHNAME', 'mt_audit_search' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- any tenant's chain, or all (tenant NULL): auditors
CREATE FUNCTION mt.audit_search_tenant(tenant uuid, from_time timestamptz DEFAULT NULL,
                                       to_time timestamptz DEFAULT NULL,
                                       action text DEFAULT NULL, actor text DEFAULT NULL,
                                       resource_type text DEFAULT NULL, resource_id text DEFAULT NULL,
                                       subject text DEFAULT NULL, after_id bigint DEFAULT NULL,
                                       max_rows integer DEFAULT 100, newest_first boolean DEFAULT false)
    RETURNS TABLE (id bigint, tenant_id uuid, seq bigint, at timestamptz, actor text, action text,
                   resource_type text, resource_id text, details jsonb, details_state text,
                   client_addr inet, db_user text)
    AS 'MODULE_PATHNAME', 'mt_audit_search_tenant' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- JSON lines that doc/audit.md's algorithm (test/audit_verify_export.py) verifies
CREATE FUNCTION mt.audit_export(after_seq bigint DEFAULT 0) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'mt_audit_export' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.audit_export_tenant(tenant uuid DEFAULT NULL, after_seq bigint DEFAULT 0)
    RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'mt_audit_export_tenant' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- crypto-shredding: destroy a subject's details key (current tenant by default)
CREATE FUNCTION mt.audit_forget_subject(subject text, tenant uuid DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_forget_subject' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------
-- Privileges and confinement
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION mt.audit_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_verify(uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_digest(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_prune(interval, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_seal() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_row_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_table(regclass, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_untable(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_search_tenant(uuid, timestamptz, timestamptz, text, text, text, text,
                                              text, bigint, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_export_tenant(uuid, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_forget_subject(text, uuid) FROM PUBLIC;
-- mt.audit(), mt.audit_many(), mt.audit_search() and mt.audit_export() stay executable by
-- PUBLIC: they act on the caller's own tenant context only.

REVOKE ALL ON mt.audit_log, mt.audit_checkpoints, mt.audit_subject_keys FROM PUBLIC;
REVOKE ALL ON SEQUENCE mt.audit_log_id_seq FROM PUBLIC;
GRANT SELECT ON mt.audit_log, mt.audit_checkpoints TO PUBLIC;
ALTER TABLE mt.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.audit_subject_keys ENABLE ROW LEVEL SECURITY;   -- no policy: owner only
-- tenant_id = mt.current_tenant(), spelled per partial index (no index of
-- mt.audit_log holds all of a tenant's events): a tenant's SELECT reads its
-- sealed events through audit_log_chain and its unsealed ones through
-- audit_log_unsealed (a BitmapOr), not the whole table
CREATE POLICY tenant_read ON mt.audit_log FOR SELECT
    USING ((tenant_id = mt.current_tenant() AND seq IS NOT NULL)
           OR (tenant_id = mt.current_tenant() AND seq IS NULL));
CREATE POLICY tenant_read ON mt.audit_checkpoints FOR SELECT USING (tenant_id = mt.current_tenant());

SELECT pg_catalog.pg_extension_config_dump('mt.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('mt.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.audit_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('mt.audit_subject_keys', '');
SELECT pg_catalog.pg_extension_config_dump('mt.audit_subject_keys_id_seq', '');

-- When chain heads were taken out (mt.audit_digest), for compliance check
-- MT-AUD-002.  Written only by mt.audit_digest().
CREATE TABLE mt.audit_digests (
    taken_at     timestamptz NOT NULL DEFAULT now(),
    taken_by     name NOT NULL DEFAULT session_user,
    chains       bigint NOT NULL,
    all_tenants  boolean NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('mt.audit_digests', '');

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/audit.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.audit_log IS 'The tamper-evident audit log: one append-only hash chain per tenant (nil uuid: no tenant); tenants read their own chain.';
COMMENT ON TABLE mt.audit_checkpoints IS 'One row per pruning of an audit chain (last pruned position and its hash), where verification starts; append-only.';
COMMENT ON TABLE mt.audit_subject_keys IS 'Per (tenant, subject) keys that encrypt audit details, wrapped with a server key and destroyed for crypto-shredding; extension owner only.';
COMMENT ON TABLE mt.audit_digests IS 'When audit chain heads were taken out with mt.audit_digest(), for compliance check MT-AUD-002.';
COMMENT ON FUNCTION mt.audit_guard() IS 'Internal: append-only trigger that refuses INSERT, UPDATE, DELETE and TRUNCATE on the audit tables except from the extension''s own code.';
COMMENT ON FUNCTION mt.audit(text, text, text, jsonb, text) IS 'Appends an event to the current tenant''s audit chain (the no-tenant chain without a context) and returns its id; for applications.';
COMMENT ON FUNCTION mt.audit_verify(uuid, jsonb) IS 'Privileged (auditors): seals, then recomputes one or every audit chain, optionally against an earlier digest, and reports the first bad row and the unsealed tail.';
COMMENT ON FUNCTION mt.audit_many(text[], text[], text[], jsonb[]) IS 'Appends one event per element of actions (with the resource types, ids and details at the same positions) to the current tenant''s audit chain and returns how many; for applications.';
COMMENT ON FUNCTION mt.audit_seal() IS 'Privileged (auditors, admins): links every committed, not yet sealed audit event into its chain now (the background worker does it every multitenant.audit_seal_interval).';
COMMENT ON INDEX mt.audit_log_chain IS 'The sealed audit events, one per chain position (tenant, seq); unsealed events are in audit_log_unsealed only.';
COMMENT ON INDEX mt.audit_log_unsealed IS 'The audit events not yet linked into their chain, per tenant in id order (the sealer''s work list).';
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
