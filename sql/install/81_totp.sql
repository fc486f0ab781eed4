-- multitenant install script: TOTP second factor (issue 17 item 5; src/totp.c, doc/identity.md)
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
