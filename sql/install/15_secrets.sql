-- multitenant install script, part 15: versions of the server's keys
-- (src/secret_versions.c, src/secret_rotation.c).
--
-- Every key the extension derives from the master secret (the file
-- multitenant.secret in the data directory) has a purpose and a version:
-- 'token' signs the tokens mt.tenant_token() mints, 'api_key' peppers the
-- stored API-key hashes, 'audit_kek' wraps the audit subject keys.  A row
-- here names a version, the master it derives from (by fingerprint) and
-- the fingerprint of the key it derived when it was created; no key
-- material.  A purpose without rows has one implicit active version 1 of
-- the file's first master (every release before 0.3.0).

CREATE TABLE mt.secret_versions (
    purpose      text NOT NULL CHECK (purpose IN ('token', 'api_key', 'audit_kek')),
    version      integer NOT NULL CHECK (version BETWEEN 1 AND 1000000),
    master       text NOT NULL CHECK (master ~ '^[0-9a-f]{8}$'),
    fingerprint  text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{16}$'),
    state        text NOT NULL CHECK (state IN ('active', 'previous', 'retired')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz,
    PRIMARY KEY (purpose, version)
);
CREATE UNIQUE INDEX secret_versions_one_active ON mt.secret_versions (purpose)
    WHERE state = 'active';
REVOKE ALL ON mt.secret_versions FROM PUBLIC;
ALTER TABLE mt.secret_versions ENABLE ROW LEVEL SECURITY;   -- no policy: owner only
SELECT pg_catalog.pg_extension_config_dump('mt.secret_versions', '');

-- every backend caches these rows; a change moves the registry generation
-- (and queues a relcache invalidation that standbys replay)
CREATE TRIGGER secret_versions_changed AFTER INSERT OR UPDATE OR DELETE ON mt.secret_versions
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER secret_versions_truncated AFTER TRUNCATE ON mt.secret_versions
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
ALTER TABLE mt.secret_versions ENABLE ALWAYS TRIGGER secret_versions_changed;
ALTER TABLE mt.secret_versions ENABLE ALWAYS TRIGGER secret_versions_truncated;

CREATE FUNCTION mt.secret_fingerprints()
    RETURNS TABLE (purpose text, version integer, fingerprint text, active boolean,
                   state text, master text, recorded_fingerprint text,
                   usable boolean, in_use bigint)
    AS 'MODULE_PATHNAME', 'mt_secret_fingerprints' LANGUAGE C STABLE PARALLEL RESTRICTED
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.rotate_secret(purpose text) RETURNS integer
    AS 'MODULE_PATHNAME', 'mt_rotate_secret' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.retire_secret(purpose text, version integer, force boolean DEFAULT false)
    RETURNS void
    AS 'MODULE_PATHNAME', 'mt_retire_secret' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.rewrap_audit_keys(batch integer DEFAULT 1000) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_rewrap_audit_keys' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.secret_fingerprints() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.rotate_secret(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.retire_secret(text, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.rewrap_audit_keys(integer) FROM PUBLIC;

COMMENT ON TABLE mt.secret_versions IS 'Versions of the keys derived from the master secret (token signing, API-key pepper, audit key wrapping): master fingerprint, key fingerprint at creation, active/previous/retired; no key material.';
COMMENT ON FUNCTION mt.secret_fingerprints() IS 'Privileged (DBAs, operators): every key version with the fingerprint this server derives for it, the fingerprint recorded when it was created, whether they match, and how many keys or subject keys still use it; compare across clusters before a cut-over.';
COMMENT ON FUNCTION mt.rotate_secret(text) IS 'Privileged (DBAs, operators): introduces a new version of a key (token, api_key, audit_kek) derived from the newest master secret; the previous version keeps working until mt.retire_secret.';
COMMENT ON FUNCTION mt.retire_secret(text, integer, boolean) IS 'Privileged (DBAs, operators): retires a previous key version: tokens signed, API keys hashed with it stop working; refuses while keys or audit subject keys still use it unless force (never for audit_kek).';
COMMENT ON FUNCTION mt.rewrap_audit_keys(integer) IS 'Privileged (DBAs, operators, pg_cron): re-wraps up to batch audit subject keys, then TOTP secrets and SSO client secrets, under the active audit_kek version; returns how many; resumable, schedulable with pg_cron.';
