-- multitenant install script: custom domains of tenants (issue 17 item 4; src/domains.c,
-- doc/identity.md)
CREATE TABLE mt.domains (
    host               text COLLATE "C" PRIMARY KEY
                       CHECK (pg_catalog.length(host) BETWEEN 1 AND 253),
    tenant_id          uuid NOT NULL REFERENCES mt.tenants (id) ON DELETE CASCADE,
    verification_token text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    verified_at        timestamptz
);
CREATE INDEX domains_tenant ON mt.domains (tenant_id);
CREATE FUNCTION mt.add_domain(tenant uuid, host text) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_add_domain' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.verify_domain(host text) RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_verify_domain' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.remove_domain(host text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_remove_domain' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.tenant_by_host(host text) RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_tenant_by_host' LANGUAGE C STABLE STRICT PARALLEL SAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.add_domain(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.verify_domain(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.remove_domain(text) FROM PUBLIC;
GRANT SELECT ON mt.domains TO PUBLIC;
ALTER TABLE mt.domains ENABLE ROW LEVEL SECURITY;
CREATE POLICY domains_tenant_self ON mt.domains FOR SELECT USING (tenant_id = mt.current_tenant());
SELECT pg_catalog.pg_extension_config_dump('mt.domains', '');
COMMENT ON TABLE mt.domains IS 'Custom domains of tenants (normalized host, one tenant per host, verification token, verified_at); a role sees only its current tenant''s rows, only the extension owner writes it.';
COMMENT ON INDEX mt.domains_tenant IS 'A tenant''s domains (and the cascade when a tenant row is deleted).';
COMMENT ON FUNCTION mt.add_domain(uuid, text) IS 'Privileged (back office): claims a custom domain (normalized) for an active tenant and returns a new verification token; refused when another tenant holds the domain.';
COMMENT ON FUNCTION mt.verify_domain(text) IS 'Privileged (back office): marks a claimed domain verified once the application has checked the verification token in DNS; returns its tenant.';
COMMENT ON FUNCTION mt.remove_domain(text) IS 'Privileged (back office): removes a domain claim, verified or not; returns whether there was one.';
COMMENT ON FUNCTION mt.tenant_by_host(text) IS 'The tenant of a verified custom domain (the host normalized as mt.add_domain does), or NULL; for request routing, callable by every role.';
