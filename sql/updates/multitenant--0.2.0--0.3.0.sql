-- multitenant 0.2.0 -> 0.3.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.2.0 appears here too;
-- test/shell/extension_upgrade.sh checks that an updated 0.2.0 (and 0.1.0,
-- through 0.2.0) has exactly the objects of a fresh 0.3.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------
-- Secret rotation: versions of the server's keys (sql/install/15_secrets.sql)
-- ---------------------------------------------------------------------
ALTER TABLE mt.api_key_secrets ADD COLUMN pepper_version integer NOT NULL DEFAULT 1;
ALTER TABLE mt.audit_subject_keys ADD COLUMN kek_version integer NOT NULL DEFAULT 1;
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
COMMENT ON FUNCTION mt.rewrap_audit_keys(integer) IS 'Privileged (DBAs, operators, pg_cron): re-wraps up to batch audit subject keys under the active audit_kek version; returns how many; resumable, schedulable with pg_cron.';
INSERT INTO mt.privileged_functions VALUES
    ('mt.secret_fingerprints()'::regprocedure),
    ('mt.rotate_secret(text)'::regprocedure),
    ('mt.retire_secret(text, integer, boolean)'::regprocedure),
    ('mt.rewrap_audit_keys(integer)'::regprocedure);
-- drop guard: DROP EXTENSION multitenant, DROP SCHEMA mt and DROP OWNED BY
-- the extension owner are refused while tenants exist, unless a superuser
-- sets multitenant.allow_drop_extension (sql/install/05_drop_guard.sql)
CREATE FUNCTION mt.drop_guard() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'mt_drop_guard' LANGUAGE C;
REVOKE ALL ON FUNCTION mt.drop_guard() FROM PUBLIC;
INSERT INTO mt.privileged_functions VALUES ('mt.drop_guard()'::regprocedure);
CREATE EVENT TRIGGER mt_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION mt.drop_guard();
ALTER EVENT TRIGGER mt_drop_guard ENABLE ALWAYS;
COMMENT ON FUNCTION mt.drop_guard() IS 'Internal: event trigger function that refuses DROP EXTENSION multitenant, DROP SCHEMA mt and DROP OWNED BY the extension owner while tenants exist, unless multitenant.allow_drop_extension is on.';
COMMENT ON EVENT TRIGGER mt_drop_guard IS 'Refuses to drop the extension, and with it every tenant, API key, audit event and consent, while tenants exist, unless a superuser set multitenant.allow_drop_extension in the session.';
-- pg_upgrade: mt.privileged_functions stores signatures as text (regprocedure's
-- output under search_path = pg_catalog, pg_temp: 'mt.f(uuid,text)'), not as
-- regprocedure, a type pg_upgrade refuses in user tables; rows are kept
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
ALTER TABLE mt.privileged_functions ALTER COLUMN f TYPE pg_catalog.text USING f::pg_catalog.text;
SELECT pg_catalog.set_config('search_path', 'mt, pg_temp', true);
COMMENT ON TABLE mt.privileged_functions IS 'The functions installed without EXECUTE for PUBLIC (signatures as text, schema-qualified), so that compliance check MT-PRIV-002 notices a later grant to PUBLIC.';

-- ---------------------------------------------------------------------
-- Citus: isolation on every placement (sql/install/10_isolation.sql,
-- doc/citus.md)
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.placement_isolation_issues(tbl regclass, tenant_column name) RETURNS text[]
    AS 'MODULE_PATHNAME', 'mt_placement_isolation_issues' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION mt.placement_isolation_issues(regclass, name) IS 'The isolation lints of a relation on this node (a Citus placement or worker copy of an isolated table): row-level security disabled or not forced, generated policies missing or altered; mt.isolation_status() asks every node.';
