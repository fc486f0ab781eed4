-- multitenant install script, part 00: schema privileges, plans, tenants,
-- and the tenant context.  (The parts in sql/install/ are concatenated in
-- name order into multitenant--<version>.sql by the Makefile.)

\echo Use "CREATE EXTENSION multitenant" to load this file. \quit

GRANT USAGE ON SCHEMA mt TO PUBLIC;

-- ---------------------------------------------------------------------
-- Plans and their limits.  NULL hard_limit = unlimited.  Byte metrics use
-- binary units (1 GB = 2^30 bytes).  Seeded rows are marked builtin and
-- are re-created by CREATE EXTENSION, so pg_dump keeps only the others.
-- ---------------------------------------------------------------------
CREATE TABLE mt.plans (
    name                 text PRIMARY KEY CHECK (name ~ '^[a-z0-9_]{1,63}$'),
    display_name         text NOT NULL,
    price_monthly_cents  bigint NOT NULL DEFAULT 0 CHECK (price_monthly_cents >= 0),
    price_yearly_cents   bigint NOT NULL DEFAULT 0 CHECK (price_yearly_cents >= 0),
    currency             text NOT NULL DEFAULT 'USD',
    builtin              boolean NOT NULL DEFAULT false,
    -- isolation levels a tenant on this plan may be placed at (doc/isolation-levels.md)
    isolation_levels     text[] NOT NULL DEFAULT '{shared}'
        CHECK (pg_catalog.cardinality(isolation_levels) > 0
               AND isolation_levels <@ '{shared,schema,database,shard}'::text[])
);

CREATE TABLE mt.plan_limits (
    plan                 text NOT NULL REFERENCES mt.plans (name) ON UPDATE CASCADE ON DELETE CASCADE,
    metric               text NOT NULL CHECK (metric ~ '^[a-z0-9_.:-]{1,63}$'),
    period               text NOT NULL CHECK (period IN ('day', 'month')),
    hard_limit           bigint CHECK (hard_limit >= 0),
    soft_limit           bigint CHECK (soft_limit >= 0),
    overage_price_cents  numeric CHECK (overage_price_cents >= 0),
    overage_unit         bigint NOT NULL DEFAULT 1 CHECK (overage_unit > 0),
    builtin              boolean NOT NULL DEFAULT false,
    PRIMARY KEY (plan, metric),
    CHECK (soft_limit IS NULL OR hard_limit IS NULL OR soft_limit <= hard_limit)
);

INSERT INTO mt.plans (name, display_name, price_monthly_cents, price_yearly_cents, builtin, isolation_levels) VALUES
    ('free',       'Free',           0,      0, true, '{shared}'),
    ('starter',    'Starter',     2900,  29000, true, '{shared}'),
    ('pro',        'Pro',         9900,  99000, true, '{shared,schema}'),
    ('enterprise', 'Enterprise', 49900, 499000, true, '{shared,schema,database,shard}');

-- soft limits are 80 % of the hard limit
INSERT INTO mt.plan_limits (plan, metric, period, hard_limit, soft_limit, builtin)
SELECT p.plan, p.metric, p.period, p.hard_limit, p.hard_limit * 8 / 10, true
FROM (VALUES
    ('free',       'users',           'month', 3::bigint),
    ('starter',    'users',           'month', 10),
    ('pro',        'users',           'month', 50),
    ('enterprise', 'users',           'month', NULL),
    ('free',       'projects',        'month', 5),
    ('starter',    'projects',        'month', 25),
    ('pro',        'projects',        'month', 100),
    ('enterprise', 'projects',        'month', NULL),
    ('free',       'storage_bytes',   'month', 1::bigint << 30),
    ('starter',    'storage_bytes',   'month', 10::bigint << 30),
    ('pro',        'storage_bytes',   'month', 100::bigint << 30),
    ('enterprise', 'storage_bytes',   'month', NULL),
    ('free',       'api_calls',       'day',   1000),
    ('starter',    'api_calls',       'day',   10000),
    ('pro',        'api_calls',       'day',   100000),
    ('enterprise', 'api_calls',       'day',   NULL),
    ('free',       'bandwidth_bytes', 'month', 10::bigint << 30),
    ('starter',    'bandwidth_bytes', 'month', 100::bigint << 30),
    ('pro',        'bandwidth_bytes', 'month', 1::bigint << 40),
    ('enterprise', 'bandwidth_bytes', 'month', NULL)
) AS p (plan, metric, period, hard_limit);

-- ---------------------------------------------------------------------
-- Tenants
-- ---------------------------------------------------------------------
CREATE TABLE mt.tenants (
    id                 uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug               text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    plan               text NOT NULL REFERENCES mt.plans (name) ON UPDATE CASCADE,
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    status_changed_at  timestamptz
);

-- ---------------------------------------------------------------------
-- Tenant context
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.current_tenant() RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_current_tenant' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mt.require_tenant() RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_require_tenant' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mt.current_subject() RETURNS text
    AS 'MODULE_PATHNAME', 'mt_current_subject' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mt.current_tenant_role() RETURNS text
    AS 'MODULE_PATHNAME', 'mt_current_tenant_role' LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION mt.tenant_token(tenant uuid, ttl interval DEFAULT '15 min',
                                sub text DEFAULT NULL, role text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_tenant_token' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.set_tenant(tenant uuid, is_local boolean DEFAULT true) RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_set_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- ---------------------------------------------------------------------
-- Registry functions: run as the extension owner (the tables are not
-- writable by anyone else); EXECUTE is revoked from PUBLIC below.
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.create_tenant(name text, slug text, plan text DEFAULT 'free') RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_create_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.suspend_tenant(tenant uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_suspend_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.resume_tenant(tenant uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_resume_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.drop_tenant(tenant uuid) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_drop_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.tenants_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_tenants_changed' LANGUAGE C;
CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE ON mt.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER tenants_truncated AFTER TRUNCATE ON mt.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
-- fire under every session_replication_role (replication apply, restores):
-- the per-backend key and tenant caches are invalidated only by these
ALTER TABLE mt.tenants ENABLE ALWAYS TRIGGER tenants_changed;
ALTER TABLE mt.tenants ENABLE ALWAYS TRIGGER tenants_truncated;

-- ---------------------------------------------------------------------
-- Privileges and confinement
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION mt.tenant_token(uuid, interval, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.set_tenant(uuid, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.create_tenant(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.suspend_tenant(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.resume_tenant(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.drop_tenant(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.tenants_changed() FROM PUBLIC;

GRANT SELECT ON mt.plans, mt.plan_limits TO PUBLIC;
GRANT SELECT ON mt.tenants TO PUBLIC;
ALTER TABLE mt.tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_self ON mt.tenants FOR SELECT USING (id = mt.current_tenant());

SELECT pg_catalog.pg_extension_config_dump('mt.tenants', '');
SELECT pg_catalog.pg_extension_config_dump('mt.plans', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('mt.plan_limits', 'WHERE NOT builtin');

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/reference.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.plans IS 'Plans tenants subscribe to, with monthly and yearly prices; readable by everyone, built-in rows are re-created by CREATE EXTENSION.';
COMMENT ON TABLE mt.plan_limits IS 'Limits of each plan per metric and UTC day or month (hard_limit NULL = unlimited, soft limit for alerts, overage price); readable by everyone.';
COMMENT ON TABLE mt.tenants IS 'The tenant registry (id, name, slug, plan, status); a role sees only its current tenant''s row, only the extension owner writes it.';
COMMENT ON FUNCTION mt.current_tenant() IS 'The verified tenant of the current context (multitenant.token, mt.set_tenant, mt.authenticate), or NULL.';
COMMENT ON FUNCTION mt.require_tenant() IS 'As mt.current_tenant(), but raises 42501 when no tenant context is set.';
COMMENT ON FUNCTION mt.current_subject() IS 'The sub claim (a user or API key id) of the verified tenant context, or NULL.';
COMMENT ON FUNCTION mt.current_tenant_role() IS 'The role claim of the verified tenant context, or NULL.';
COMMENT ON FUNCTION mt.tenant_token(uuid, interval, text, text) IS 'Privileged (the role that issues tokens to applications): mints an HS256 tenant token for an active tenant, with aud set to the current database.';
COMMENT ON FUNCTION mt.set_tenant(uuid, boolean) IS 'Privileged (admins, DPO, back office): enters the tenant''s context, SET LOCAL by default, for at most multitenant.default_token_ttl.';
COMMENT ON FUNCTION mt.create_tenant(text, text, text) IS 'Privileged (tenant administrators): registers a tenant on a plan and returns its id.';
COMMENT ON FUNCTION mt.suspend_tenant(uuid) IS 'Privileged (tenant administrators): suspends a tenant; its tokens, contexts and keys stop working at every session''s next transaction.';
COMMENT ON FUNCTION mt.resume_tenant(uuid) IS 'Privileged (tenant administrators): makes a suspended tenant active again.';
COMMENT ON FUNCTION mt.drop_tenant(uuid) IS 'Privileged (tenant administrators): soft-deletes a tenant for good (status deleted); its data stays until purged explicitly.';
COMMENT ON FUNCTION mt.tenants_changed() IS 'Internal: statement trigger on mt.tenants, mt.api_key_secrets, mt.roles, mt.role_assignments and mt.workspaces (row trigger on mt.tenant_placements) that invalidates every backend''s tenant-status, placement-level, key and permission caches at commit.';
