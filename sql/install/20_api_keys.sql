-- multitenant install script, part 20: API keys (src/api_keys.c).
--
-- mt.api_key_secrets holds, per key, only a keyed hash (HMAC-SHA256 under
-- a pepper derived from the server secret, which no table holds) plus the
-- metadata.  Nobody but the extension owner can read it; tenants list
-- their own keys through the mt.api_keys view, which has no hash column.

CREATE TABLE mt.api_key_secrets (
    key_id        text COLLATE "C" PRIMARY KEY CHECK (key_id ~ '^[0-9A-Za-z]{12}$'),
    tenant_id     uuid NOT NULL REFERENCES mt.tenants (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    mode          text NOT NULL DEFAULT 'live' CHECK (mode IN ('live', 'test')),
    scopes        text[] NOT NULL DEFAULT '{}',
    key_hash      bytea NOT NULL CHECK (length(key_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    rotated_from  text COLLATE "C",
    rotated_to    text COLLATE "C",
    pepper_version integer NOT NULL DEFAULT 1   -- mt.secret_versions, purpose 'api_key'
);
CREATE INDEX api_key_secrets_tenant_idx ON mt.api_key_secrets (tenant_id);

-- no grants: only the owner (and so the SECURITY DEFINER functions) reads it;
-- RLS as a second fence should a grant ever be added by mistake
ALTER TABLE mt.api_key_secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_own_keys ON mt.api_key_secrets USING (tenant_id = mt.current_tenant());
SELECT pg_catalog.pg_extension_config_dump('mt.api_key_secrets', '');

CREATE VIEW mt.api_keys WITH (security_barrier = true) AS
SELECT k.key_id, k.tenant_id, k.name, k.mode, k.scopes,
       k.created_at, k.created_by, k.expires_at, k.revoked_at, k.last_used_at,
       k.rotated_from, k.rotated_to,
       CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
            WHEN k.expires_at <= pg_catalog.now() THEN 'expired'
            WHEN k.rotated_to IS NOT NULL THEN 'rotating'
            ELSE 'active' END AS status
FROM mt.api_key_secrets k
WHERE k.tenant_id = mt.current_tenant();
GRANT SELECT ON mt.api_keys TO PUBLIC;

-- ---------------------------------------------------------------------
-- Verification: callable by any role (the brute-force throttle guards it)
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.verify_api_key(key text)
    RETURNS TABLE (tenant_id uuid, key_id text, scopes text[])
    AS 'MODULE_PATHNAME', 'mt_verify_api_key' LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 1;
CREATE FUNCTION mt.authenticate(key text) RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_authenticate' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.require_scope(scope text) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_require_scope' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION mt.has_scope(scope text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_has_scope' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION mt.api_key_id(key text) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_api_key_id' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- ---------------------------------------------------------------------
-- Management: run as the extension owner; EXECUTE revoked from PUBLIC
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.create_api_key(tenant uuid, name text, scopes text[] DEFAULT '{}',
                                  expires_at timestamptz DEFAULT NULL,
                                  mode text DEFAULT 'live', workspace uuid DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_create_api_key_ws' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.revoke_api_key(key_id text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_revoke_api_key' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.rotate_api_key(key_id text, grace interval) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_rotate_api_key' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.flush_api_key_usage() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_flush_api_key_usage' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.api_key_throttle()
    RETURNS TABLE (client inet, kind text, failures integer,
                   window_start timestamptz, blocked_until timestamptz, key_id text)
    AS 'MODULE_PATHNAME', 'mt_api_key_throttle' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION mt.reset_api_key_throttle() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_reset_api_key_throttle' LANGUAGE C VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION mt.create_api_key(uuid, text, text[], timestamptz, text, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.revoke_api_key(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.rotate_api_key(text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.flush_api_key_usage() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.api_key_throttle() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.reset_api_key_throttle() FROM PUBLIC;

-- any change to the key rows moves the shared generation that validates
-- every backend's key cache (see tenants.c / api_keys.c)
CREATE TRIGGER api_key_secrets_changed AFTER INSERT OR UPDATE OR DELETE ON mt.api_key_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER api_key_secrets_truncated AFTER TRUNCATE ON mt.api_key_secrets
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
-- fire under every session_replication_role (replication apply, restores):
-- the per-backend key and tenant caches are invalidated only by these
ALTER TABLE mt.api_key_secrets ENABLE ALWAYS TRIGGER api_key_secrets_changed;
ALTER TABLE mt.api_key_secrets ENABLE ALWAYS TRIGGER api_key_secrets_truncated;

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/api-keys.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.api_key_secrets IS 'API keys: per key only a keyed hash (HMAC-SHA256) and its metadata; readable by the extension owner only (tenants use the view mt.api_keys).';
COMMENT ON VIEW mt.api_keys IS 'The current tenant''s API keys with their status and without hashes (security_barrier view); readable by everyone.';
COMMENT ON FUNCTION mt.verify_api_key(text) IS 'One row (tenant, key id, scopes) for a valid API key, none otherwise; invalid keys count against the client''s brute-force throttle.';
COMMENT ON FUNCTION mt.authenticate(text) IS 'Verifies an API key, enters its tenant for the current transaction and returns the tenant; 28000 for any invalid key.';
COMMENT ON FUNCTION mt.require_scope(text) IS 'Raises 42501 unless the API key authenticated in this transaction has exactly that scope.';
COMMENT ON FUNCTION mt.has_scope(text) IS 'Whether the API key authenticated in this transaction has exactly that scope (usable in policies).';
COMMENT ON FUNCTION mt.api_key_id(text) IS 'The key id of a well-formed API key (format and checksum only, no table access), else NULL.';
COMMENT ON FUNCTION mt.create_api_key(uuid, text, text[], timestamptz, text, uuid) IS 'Privileged (key administrators): creates an API key for an active tenant, optionally bound to one of its workspaces, and returns its plaintext, visible only this once.';
COMMENT ON FUNCTION mt.revoke_api_key(text) IS 'Privileged (key administrators): revokes a key, given by id or whole; true if this call revoked it.';
COMMENT ON FUNCTION mt.rotate_api_key(text, interval) IS 'Privileged (key administrators): creates a successor key, ends the old one after the grace interval and returns the new plaintext.';
COMMENT ON FUNCTION mt.flush_api_key_usage() IS 'Privileged (maintenance role; the background worker does it too): writes the last-use times held in shared memory to the keys; returns how many.';
COMMENT ON FUNCTION mt.api_key_throttle() IS 'Privileged (admins): the brute-force throttle buckets (client address, key id, failures, cool-down).';
COMMENT ON FUNCTION mt.reset_api_key_throttle() IS 'Privileged (admins): clears every brute-force throttle bucket, ending every cool-down; returns how many there were.';
