-- multitenant install script: SSO providers and external identities (issue 17 item 3; src/sso.c, doc/identity.md)
CREATE TABLE mt.sso_providers (
    id                uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES mt.tenants (id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('saml', 'oidc', 'oauth')),
    name              text NOT NULL,
    issuer            text NOT NULL,
    attribute_mapping jsonb NOT NULL DEFAULT '{}',
    client_id         text,
    client_secret_enc bytea,
    kek_version       integer,
    created_at        timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX sso_providers_tenant ON mt.sso_providers (tenant_id);
CREATE TABLE mt.sso_email_domains (
    domain      text COLLATE "C" PRIMARY KEY,
    provider_id uuid NOT NULL REFERENCES mt.sso_providers (id) ON DELETE CASCADE
);
CREATE INDEX sso_email_domains_provider ON mt.sso_email_domains (provider_id);
CREATE TABLE mt.sso_identities (
    provider_id uuid NOT NULL REFERENCES mt.sso_providers (id) ON DELETE CASCADE,
    external_id text NOT NULL,
    tenant_id   uuid NOT NULL,
    subject     text NOT NULL,
    linked_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (provider_id, external_id)
);
CREATE FUNCTION mt.add_sso_provider(tenant uuid, kind text, name text, issuer text, email_domains text[],
                                    attribute_mapping jsonb DEFAULT '{}', client_id text DEFAULT NULL,
                                    client_secret text DEFAULT NULL) RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_add_sso_provider' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.remove_sso_provider(provider uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_remove_sso_provider' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.sso_client_secret(provider uuid) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_sso_client_secret' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.sso_provider_for(email text)
    RETURNS TABLE (tenant_id uuid, provider_id uuid, kind text, issuer text)
    AS 'MODULE_PATHNAME', 'mt_sso_provider_for' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.link_identity(provider uuid, external_id text, subject text) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_link_identity' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.unlink_identity(provider uuid, external_id text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_unlink_identity' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.resolve_identity(provider uuid, external_id text)
    RETURNS TABLE (tenant_id uuid, subject text)
    AS 'MODULE_PATHNAME', 'mt_resolve_identity' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.add_sso_provider(uuid, text, text, text, text[], jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.remove_sso_provider(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.sso_client_secret(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.link_identity(uuid, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.unlink_identity(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.resolve_identity(uuid, text) FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('mt.sso_providers', '');
SELECT pg_catalog.pg_extension_config_dump('mt.sso_email_domains', '');
SELECT pg_catalog.pg_extension_config_dump('mt.sso_identities', '');
COMMENT ON TABLE mt.sso_providers IS 'SSO providers of tenants (saml, oidc, oauth; issuer or metadata URL, attribute mapping, client id, client secret sealed under the key-encryption key); readable by the extension owner only.';
COMMENT ON INDEX mt.sso_providers_tenant IS 'A tenant''s SSO providers (and the cascade when a tenant row is deleted).';
COMMENT ON TABLE mt.sso_email_domains IS 'Email domains (normalized) and the one SSO provider each leads to; readable by the extension owner only.';
COMMENT ON INDEX mt.sso_email_domains_provider IS 'A provider''s email domains (and the cascade when a provider is removed).';
COMMENT ON TABLE mt.sso_identities IS 'External identities: (provider, external id) mapped to one subject of the provider''s tenant; readable by the extension owner only.';
COMMENT ON FUNCTION mt.add_sso_provider(uuid, text, text, text, text[], jsonb, text, text) IS 'Privileged (back office): registers an SSO provider of an active tenant with its email domains (each leads to one provider), a validated attribute mapping and a client secret stored sealed.';
COMMENT ON FUNCTION mt.remove_sso_provider(uuid) IS 'Privileged (back office): removes an SSO provider with its email domains and linked identities.';
COMMENT ON FUNCTION mt.sso_client_secret(uuid) IS 'Privileged (the login service): the client secret of an SSO provider in clear, for the OAuth/OIDC code exchange.';
COMMENT ON FUNCTION mt.sso_provider_for(text) IS 'For a login page, every role: the tenant, provider, kind and issuer that serve an email address''s domain (active tenants), or no row.';
COMMENT ON FUNCTION mt.link_identity(uuid, text, text) IS 'Privileged (the login service): maps a provider''s external user id to a subject of its tenant; refused when the external id is linked to another subject.';
COMMENT ON FUNCTION mt.unlink_identity(uuid, text) IS 'Privileged (the login service): removes the mapping of an external user id; returns whether there was one.';
COMMENT ON FUNCTION mt.resolve_identity(uuid, text) IS 'Privileged (the login service): the tenant and subject an external user id of a provider maps to (active tenants), or no row.';
