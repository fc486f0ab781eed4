-- multitenant 0.3.0 -> 0.4.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.3.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.3.0 (and 0.1.0, 0.2.0 through the earlier scripts) has
-- exactly the objects of a fresh 0.4.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- Export and import one tenant (mt.export_tenant, mt.import_tenant; issue 15 item 4)
CREATE FUNCTION mt.export_tenant(tenant uuid)
    RETURNS TABLE (section text, name text, data text)
    AS 'MODULE_PATHNAME', 'mt_export_tenant' LANGUAGE C STABLE PARALLEL UNSAFE;
CREATE FUNCTION mt.import_tenant(source regclass, new_tenant uuid DEFAULT NULL, new_slug text DEFAULT NULL)
    RETURNS TABLE (item text, expected bigint, imported bigint, ok boolean, detail text)
    AS 'MODULE_PATHNAME', 'mt_import_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.export_tenant(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.import_tenant(regclass, uuid, text) FROM PUBLIC;
INSERT INTO mt.privileged_functions VALUES ('mt.export_tenant(uuid)'), ('mt.import_tenant(regclass,uuid,text)');
COMMENT ON FUNCTION mt.export_tenant(uuid) IS 'Privileged (back office): one tenant''s rows of every isolated table in foreign-key order and its extension state (registry row, custom plan, quotas, API key hashes, consents, GDPR requests, usage, audit chain), as (section, name, data) rows for COPY ... TO STDOUT.';
COMMENT ON FUNCTION mt.import_tenant(regclass, uuid, text) IS 'Privileged (back office): loads an export of mt.export_tenant from a staging table (section, name, data), optionally under a new tenant id and slug, in the caller''s transaction; checks version, counts and the audit chain and returns a report.';

-- Custom domains: mt.domains, mt.add_domain / verify_domain / remove_domain / tenant_by_host (issue 17 item 4)
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
INSERT INTO mt.privileged_functions VALUES ('mt.add_domain(uuid,text)'), ('mt.verify_domain(text)'), ('mt.remove_domain(text)');

-- TOTP second factor: mt.totp_secrets, mt.totp_recovery_codes, mt.totp_code / totp_enroll / totp_verify / totp_recovery_codes / totp_disable, mt.current_mfa (issue 17 item 5)
CREATE TABLE mt.totp_secrets (
    tenant_id    uuid NOT NULL REFERENCES mt.tenants (id) ON DELETE CASCADE,
    subject      text NOT NULL CHECK (pg_catalog.length(subject) BETWEEN 1 AND 200),
    algorithm    text NOT NULL CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
    digits       integer NOT NULL CHECK (digits BETWEEN 6 AND 8),
    kek_version  integer NOT NULL,
    secret_enc   bytea NOT NULL,
    last_step    bigint NOT NULL DEFAULT -1,
    failures     integer NOT NULL DEFAULT 0,
    last_failure timestamptz,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, subject)
);
CREATE TABLE mt.totp_recovery_codes (
    tenant_id uuid NOT NULL,
    subject   text NOT NULL,
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (tenant_id, subject, code_hash),
    FOREIGN KEY (tenant_id, subject) REFERENCES mt.totp_secrets (tenant_id, subject) ON DELETE CASCADE
);
CREATE FUNCTION mt.totp_code(key bytea, at timestamptz, algorithm text DEFAULT 'SHA1', digits integer DEFAULT 6) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_totp_code' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION mt.totp_enroll(subject text, algorithm text DEFAULT 'SHA1', digits integer DEFAULT 6) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_totp_enroll' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.totp_verify(subject text, code text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_totp_verify' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.totp_recovery_codes(subject text) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'mt_totp_recovery_codes' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.totp_disable(subject text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_totp_disable' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.current_mfa() RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_current_mfa' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON TABLE mt.totp_secrets IS 'TOTP enrolments per tenant and subject: algorithm, digits, the secret encrypted under the key-encryption key (kek_version), the last accepted time step (replay protection) and failure count; readable by the extension owner only.';
COMMENT ON TABLE mt.totp_recovery_codes IS 'Single-use TOTP recovery codes, stored as keyed hashes only (used_at once spent); readable by the extension owner only.';
COMMENT ON FUNCTION mt.totp_code(bytea, timestamptz, text, integer) IS 'The RFC 6238 TOTP code of a key at a time (30 s steps; SHA1, SHA256 or SHA512; 6 to 8 digits): for tests and test vectors.';
COMMENT ON FUNCTION mt.totp_enroll(text, text, integer) IS 'In the tenant''s context: creates a TOTP secret for a subject (stored encrypted) and returns its otpauth:// URI, the only time the secret is shown.';
COMMENT ON FUNCTION mt.totp_verify(text, text) IS 'In the tenant''s context: checks a TOTP code (+-1 step, each step accepted once) or an unused recovery code; a success for the context''s own subject sets mt.current_mfa().';
COMMENT ON FUNCTION mt.totp_recovery_codes(text) IS 'In the tenant''s context: replaces a subject''s recovery codes with 10 new single-use codes, returned once and stored hashed.';
COMMENT ON FUNCTION mt.totp_disable(text) IS 'In the tenant''s context: removes a subject''s TOTP secret and recovery codes; returns whether there was one.';
COMMENT ON FUNCTION mt.current_mfa() IS 'Whether the current context''s subject passed a second factor (mt.totp_verify) in this context.';
SELECT pg_catalog.pg_extension_config_dump('mt.totp_secrets', '');
SELECT pg_catalog.pg_extension_config_dump('mt.totp_recovery_codes', '');

-- SSO providers and external identities: mt.sso_providers, mt.sso_email_domains, mt.sso_identities and their functions (issue 17 item 3)
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
INSERT INTO mt.privileged_functions VALUES ('mt.add_sso_provider(uuid,text,text,text,text[],jsonb,text,text)'), ('mt.remove_sso_provider(uuid)'), ('mt.sso_client_secret(uuid)'), ('mt.link_identity(uuid,text,text)'), ('mt.unlink_identity(uuid,text)'), ('mt.resolve_identity(uuid,text)');
