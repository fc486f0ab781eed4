-- multitenant 0.4.0 -> 0.5.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.4.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.4.0 (and every earlier release, through the chain of
-- scripts) has exactly the objects of a fresh 0.5.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- PostgREST db-pre-request: mt.enter_from_request() (issue 17 item 2; src/request.c)
CREATE FUNCTION mt.enter_from_request() RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_enter_from_request' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mt.enter_from_request() IS 'PostgREST db-pre-request: the bearer token of the Authorization header in request.headers enters the verified context for the transaction (as SET LOCAL multitenant.token); no header: no context; a malformed header or a token that does not verify: 28000. Never reads request.jwt.claims. Returns the tenant or NULL.';

-- Per-tenant branding: mt.branding, mt.set_branding, mt.branding_for_host (issue 17 item 4; src/branding.c)
CREATE TABLE mt.branding (
    tenant_id  uuid PRIMARY KEY REFERENCES mt.tenants (id) ON DELETE CASCADE,
    doc        jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE FUNCTION mt.set_branding(tenant uuid, doc jsonb) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_set_branding' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.branding_for_host(host text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_branding_for_host' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.set_branding(uuid, jsonb) FROM PUBLIC;
GRANT SELECT ON mt.branding TO PUBLIC;
ALTER TABLE mt.branding ENABLE ROW LEVEL SECURITY;
CREATE POLICY branding_tenant_self ON mt.branding FOR SELECT USING (tenant_id = mt.current_tenant());
SELECT pg_catalog.pg_extension_config_dump('mt.branding', '');
COMMENT ON TABLE mt.branding IS 'Per-tenant branding for a login page (a validated jsonb document: name, logo and links as https URLs, #rrggbb colours, support email); a role sees only its current tenant''s row, only the extension owner writes it.';
COMMENT ON FUNCTION mt.set_branding(uuid, jsonb) IS 'Privileged (back office): validates and stores an active tenant''s branding document (unknown keys, wrong types and bad formats refused with 22023 naming the path); returns it. Audited (branding.set).';
COMMENT ON FUNCTION mt.branding_for_host(text) IS 'For a login page, every role: the branding document of the active tenant whose verified custom domain the host is (normalized as mt.tenant_by_host), or NULL.';
INSERT INTO mt.privileged_functions (f) VALUES ('mt.set_branding(uuid,jsonb)');

-- Per-tenant security policies: mt.security_policies, mt.set_security_policy, mt.security_policy (issue 17 item 6; src/security_policy.c)
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
-- the built-in admin role manages its tenant's security policy
UPDATE mt.roles SET permissions = permissions || '{security:manage}'::text[]
 WHERE tenant_id IS NULL AND name = 'admin' AND builtin AND NOT 'security:manage' = ANY (permissions);
