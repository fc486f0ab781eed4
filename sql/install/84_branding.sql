-- multitenant install script: per-tenant branding for a login page (issue 17 item 4;
-- src/branding.c, doc/identity.md "Branding")
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
