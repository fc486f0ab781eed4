-- multitenant install script: per-tenant security policies (issue 17 item 6;
-- src/security_policy.c, src/security_policy_sql.c, doc/identity.md "Security policies")
CREATE TABLE mt.security_policies (
    tenant_id  uuid PRIMARY KEY REFERENCES mt.tenants (id) ON DELETE CASCADE,
    policy     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_by text
);
-- cached per backend (src/security_policy.c): every change bumps the registry generation
CREATE TRIGGER security_policies_changed AFTER INSERT OR UPDATE OR DELETE ON mt.security_policies
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER security_policies_truncated AFTER TRUNCATE ON mt.security_policies
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE FUNCTION mt.set_security_policy(tenant uuid, policy jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_set_security_policy' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.security_policy(tenant uuid DEFAULT mt.current_tenant()) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_security_policy' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT SELECT ON mt.security_policies TO PUBLIC;
ALTER TABLE mt.security_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY security_policies_tenant_self ON mt.security_policies FOR SELECT USING (tenant_id = mt.current_tenant());
SELECT pg_catalog.pg_extension_config_dump('mt.security_policies', '');
COMMENT ON TABLE mt.security_policies IS 'Per-tenant security policies (a validated jsonb document: token lifetime and issuers, API-key lifetime and scopes, client address allowlist, session idle limit), enforced at context entry, mt.authenticate, mt.create_api_key and per transaction; a role sees only its current tenant''s row, only the extension owner writes it.';
COMMENT ON TRIGGER security_policies_changed ON mt.security_policies IS 'Publishes a policy change to every backend''s policy cache (registry generation; relcache invalidation on standbys).';
COMMENT ON TRIGGER security_policies_truncated ON mt.security_policies IS 'As security_policies_changed, for TRUNCATE.';
COMMENT ON FUNCTION mt.set_security_policy(uuid, jsonb) IS 'In the tenant''s own context, with security:manage (the back office after mt.set_tenant, the tenant''s owner or admin): validates and replaces the tenant''s security policy (22023 naming the path, nothing half-applied); ''{}'' removes every rule. Audited (security.policy_set).';
COMMENT ON FUNCTION mt.security_policy(uuid) IS 'The security policy of the current context''s tenant (''{}'' when it has none).';
