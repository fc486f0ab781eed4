-- multitenant 0.4.0 -> 0.5.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.4.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.4.0 (and every earlier release, through the chain of
-- scripts) has exactly the objects of a fresh 0.5.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- audit sealing (issue 18): appends go in unsealed, without the chain lock;
-- the sealer (background worker, mt.audit_seal(), verify, digest, prune)
-- links committed events into their chains.  Rows of 0.4.0 are all sealed
-- already and keep verifying unchanged.
ALTER TABLE mt.audit_log ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE mt.audit_log ALTER COLUMN prev_hash DROP NOT NULL;
CREATE INDEX audit_log_unsealed ON mt.audit_log (tenant_id, id) WHERE seq IS NULL;
COMMENT ON INDEX mt.audit_log_unsealed IS 'The audit events not yet linked into their chain, per tenant in id order (the sealer''s work list).';
CREATE FUNCTION mt.audit_seal() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_seal' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.audit_seal() FROM PUBLIC;
COMMENT ON FUNCTION mt.audit_seal() IS 'Privileged (auditors, admins): links every committed, not yet sealed audit event into its chain now (the background worker does it every multitenant.audit_seal_interval).';
INSERT INTO mt.privileged_functions (f) VALUES ('mt.audit_seal()');
-- mt.audit_verify gains unsealed and oldest_unsealed.  DROP FUNCTION loses
-- the EXECUTE grants a DBA gave (auditors): note them, give them back below
SELECT pg_catalog.set_config('mt.upgrade_grantees_audit_verify',
    coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ')
              FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a, pg_catalog.pg_roles r
              WHERE p.oid = 'mt.audit_verify(uuid,jsonb)'::pg_catalog.regprocedure
                AND a.privilege_type = 'EXECUTE' AND r.oid = a.grantee AND a.grantee <> p.proowner), ''),
    true);
DROP FUNCTION mt.audit_verify(uuid, jsonb);
CREATE FUNCTION mt.audit_verify(tenant uuid DEFAULT NULL, digest jsonb DEFAULT NULL)
    RETURNS TABLE (tenant_id uuid, ok boolean, rows_checked bigint, first_bad_id bigint,
                   head_seq bigint, problem text, unsealed bigint, oldest_unsealed timestamptz)
    AS 'MODULE_PATHNAME', 'mt_audit_verify' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.audit_verify(uuid, jsonb) FROM PUBLIC;
DO $$
DECLARE
    grantees text := pg_catalog.current_setting('mt.upgrade_grantees_audit_verify', true);
BEGIN
    IF grantees <> '' THEN
        EXECUTE 'GRANT EXECUTE ON FUNCTION mt.audit_verify(uuid, jsonb) TO ' || grantees;
    END IF;
END $$;
COMMENT ON FUNCTION mt.audit_verify(uuid, jsonb) IS 'Privileged (auditors): seals, then recomputes one or every audit chain, optionally against an earlier digest, and reports the first bad row and the unsealed tail.';
-- audit sealing (issue 18), bulk appends: mt.audit_many
CREATE FUNCTION mt.audit_many(actions text[], resource_types text[] DEFAULT NULL,
                              resource_ids text[] DEFAULT NULL, details jsonb[] DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_many' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION mt.audit_many(text[], text[], text[], jsonb[]) IS 'Appends one event per element of actions (with the resource types, ids and details at the same positions) to the current tenant''s audit chain and returns how many; for applications.';
