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
-- multitenant install script, part 05: the guard against dropping the
-- extension by accident.  DROP EXTENSION deletes every tenant, API key,
-- audit event and consent (the extension's tables hold them), so while
-- tenants exist it is refused unless a superuser sets
-- multitenant.allow_drop_extension in the session (src/drop_guard.c,
-- doc/operations.md "Removing the extension").

CREATE FUNCTION mt.drop_guard() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'mt_drop_guard' LANGUAGE C;
REVOKE ALL ON FUNCTION mt.drop_guard() FROM PUBLIC;

CREATE EVENT TRIGGER mt_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION mt.drop_guard();
-- also under session_replication_role = replica
ALTER EVENT TRIGGER mt_drop_guard ENABLE ALWAYS;

COMMENT ON FUNCTION mt.drop_guard() IS 'Internal: event trigger function that refuses DROP EXTENSION multitenant, DROP SCHEMA mt and DROP OWNED BY the extension owner while tenants exist, unless multitenant.allow_drop_extension is on.';
COMMENT ON EVENT TRIGGER mt_drop_guard IS 'Refuses to drop the extension, and with it every tenant, API key, audit event and consent, while tenants exist, unless a superuser set multitenant.allow_drop_extension in the session.';
-- multitenant install script, part 10: tenant isolation of user tables.

CREATE TABLE mt.isolated_tables (
    tbl            regclass PRIMARY KEY,
    tenant_column  name NOT NULL,
    parent         regclass,              -- set for partitions and inheritance children
    isolated_at    timestamptz NOT NULL DEFAULT now(),
    isolated_by    name NOT NULL DEFAULT current_user
);

CREATE TABLE mt.auto_isolate_schemas (
    schema_name    name PRIMARY KEY,
    tenant_column  name NOT NULL DEFAULT 'tenant_id',
    created_at     timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT ON mt.isolated_tables, mt.auto_isolate_schemas TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('mt.isolated_tables', '');
SELECT pg_catalog.pg_extension_config_dump('mt.auto_isolate_schemas', '');

CREATE FUNCTION mt.enable_isolation(tbl regclass, tenant_column name DEFAULT 'tenant_id',
                                    workspace_column name DEFAULT NULL,
                                    permissions boolean DEFAULT false) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_enable_isolation_authz' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.disable_isolation(tbl regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_disable_isolation' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.auto_isolate(schema_name name, tenant_column name DEFAULT 'tenant_id') RETURNS void
    AS 'MODULE_PATHNAME', 'mt_auto_isolate' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.stop_auto_isolate(schema_name name) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_stop_auto_isolate' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.isolation_status(
    OUT tbl regclass, OUT kind text, OUT tenant_column name, OUT isolated boolean,
    OUT rls_enabled boolean, OUT rls_forced boolean, OUT policies_ok boolean,
    OUT tenant_index boolean, OUT issues text[]) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mt_isolation_status' LANGUAGE C STABLE PARALLEL SAFE;
-- Citus: every node checks its placements of an isolated table (doc/citus.md)
CREATE FUNCTION mt.placement_isolation_issues(tbl regclass, tenant_column name) RETURNS text[]
    AS 'MODULE_PATHNAME', 'mt_placement_isolation_issues' LANGUAGE C STABLE PARALLEL SAFE;

REVOKE ALL ON FUNCTION mt.enable_isolation(regclass, name, name, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.disable_isolation(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.auto_isolate(name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.stop_auto_isolate(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.isolation_status() FROM PUBLIC;

CREATE FUNCTION mt.ddl_guard() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'mt_ddl_guard' LANGUAGE C;
CREATE FUNCTION mt.ddl_isolate_new() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'mt_ddl_isolate_new' LANGUAGE C;
CREATE FUNCTION mt.ddl_forget_dropped() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'mt_ddl_forget_dropped' LANGUAGE C;
REVOKE ALL ON FUNCTION mt.ddl_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.ddl_isolate_new() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.ddl_forget_dropped() FROM PUBLIC;

CREATE EVENT TRIGGER mt_ddl_guard ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE', 'DROP POLICY', 'ALTER POLICY')
    EXECUTE FUNCTION mt.ddl_guard();
CREATE EVENT TRIGGER mt_ddl_isolate_new ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'ALTER SCHEMA')
    EXECUTE FUNCTION mt.ddl_isolate_new();
CREATE EVENT TRIGGER mt_ddl_forget_dropped ON sql_drop
    EXECUTE FUNCTION mt.ddl_forget_dropped();

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/reference.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.isolated_tables IS 'Tables isolated by mt.enable_isolation() (tenant column, parent for partitions and children); readable by everyone, written only by the extension.';
COMMENT ON TABLE mt.auto_isolate_schemas IS 'Schemas registered with mt.auto_isolate(): tables created there with the tenant column are isolated at creation; readable by everyone.';
COMMENT ON FUNCTION mt.enable_isolation(regclass, name, name, boolean) IS 'Privileged (the migration role, which must own the table): isolates a table and its partitions by tenant with forced row-level security and generated policies, optionally by workspace and with read/write permissions.';
COMMENT ON FUNCTION mt.disable_isolation(regclass) IS 'Privileged (the migration role, which must own the table): removes the generated policies and row-level security of an isolated table and its children.';
COMMENT ON FUNCTION mt.auto_isolate(name, name) IS 'Privileged (the migration role): tables created later in the schema that have the tenant column are isolated at creation.';
COMMENT ON FUNCTION mt.stop_auto_isolate(name) IS 'Privileged (the migration role): ends mt.auto_isolate() for the schema.';
COMMENT ON FUNCTION mt.isolation_status() IS 'Privileged (admins, auditors): one row per table with a tenant column and per view over an isolated table, with the issues of its isolation.';
COMMENT ON FUNCTION mt.placement_isolation_issues(regclass, name) IS 'The isolation lints of a relation on this node (a Citus placement or worker copy of an isolated table): row-level security disabled or not forced, generated policies missing or altered; mt.isolation_status() asks every node.';
COMMENT ON FUNCTION mt.ddl_guard() IS 'Internal: event trigger function that refuses DDL disabling row-level security or dropping or altering the generated policies of isolated tables.';
COMMENT ON FUNCTION mt.ddl_isolate_new() IS 'Internal: event trigger function that isolates new partitions and children of isolated tables and new tables of auto-isolated schemas.';
COMMENT ON FUNCTION mt.ddl_forget_dropped() IS 'Internal: event trigger function that forgets dropped isolated tables and auto-isolated schemas and refuses to drop a generated policy of a table that stays isolated.';
COMMENT ON EVENT TRIGGER mt_ddl_guard IS 'Refuses, to every role, DDL that disables row-level security or drops or alters the generated tenant policies of an isolated table.';
COMMENT ON EVENT TRIGGER mt_ddl_isolate_new IS 'Isolates new partitions and children of isolated tables and new tables of auto-isolated schemas; follows schema renames.';
COMMENT ON EVENT TRIGGER mt_ddl_forget_dropped IS 'Forgets dropped isolated tables and auto-isolated schemas; refuses drops of generated policies of tables that stay isolated.';
-- multitenant install script, part 12: where each tenant lives (placement
-- registry, routing) and schema-per-tenant isolation (doc/isolation-levels.md).

COMMENT ON COLUMN mt.plans.isolation_levels IS 'Isolation levels a tenant on this plan may be placed at (shared, schema, database, shard); checked by mt.provision_schema and the other placement functions.';

-- A tenant without a row here is at the shared level (rows of shared,
-- isolated tables).  No passwords: a database placement names host, port
-- and database only; credentials stay with the connection router.
CREATE TABLE mt.tenant_placements (
    tenant_id        uuid PRIMARY KEY REFERENCES mt.tenants (id) ON DELETE CASCADE,
    level            text NOT NULL CHECK (level IN ('shared', 'schema', 'database', 'shard')),
    schema_name      name,
    host             text CHECK (host ~ '^[A-Za-z0-9._:/-]{1,255}$'),
    port             integer CHECK (port BETWEEN 1 AND 65535),
    dbname           name,
    template_schema  name,
    placed_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (level <> 'schema' OR schema_name IS NOT NULL),
    CHECK (level <> 'database' OR dbname IS NOT NULL)
);
CREATE UNIQUE INDEX tenant_placements_schema_key ON mt.tenant_placements (schema_name)
    WHERE level = 'schema';
GRANT SELECT ON mt.tenant_placements TO PUBLIC;
ALTER TABLE mt.tenant_placements ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_own_placement ON mt.tenant_placements FOR SELECT
    USING (tenant_id = mt.current_tenant());
SELECT pg_catalog.pg_extension_config_dump('mt.tenant_placements', '');
-- a tenant's level is cached per backend (the shared isolated tables refuse
-- a tenant placed elsewhere): every change invalidates the caches at commit.
-- Per row: the sql_drop event trigger runs a DELETE on every DROP, and a
-- statement trigger would mark each such transaction (Citus' 2PC included)
-- as having changed the registry, which PREPARE refuses
CREATE TRIGGER tenant_placements_changed AFTER INSERT OR UPDATE OR DELETE ON mt.tenant_placements
    FOR EACH ROW EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER tenant_placements_truncated AFTER TRUNCATE ON mt.tenant_placements
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
ALTER TABLE mt.tenant_placements ENABLE ALWAYS TRIGGER tenant_placements_changed;
ALTER TABLE mt.tenant_placements ENABLE ALWAYS TRIGGER tenant_placements_truncated;

CREATE FUNCTION mt.tenant_placement(tenant uuid DEFAULT mt.current_tenant(),
    OUT level text, OUT schema_name name, OUT host text, OUT port integer, OUT dbname name)
    RETURNS record
    AS 'MODULE_PATHNAME', 'mt_tenant_placement' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION mt.route(
    OUT level text, OUT schema_name name, OUT host text, OUT port integer, OUT dbname name)
    RETURNS record
    AS 'MODULE_PATHNAME', 'mt_route' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION mt.provision_schema(tenant uuid, template_schema name, schema_name name DEFAULT NULL)
    RETURNS name
    AS 'MODULE_PATHNAME', 'mt_provision_schema' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.provision_schema(uuid, name, name) FROM PUBLIC;
CREATE FUNCTION mt.apply_template(template_schema name,
    OUT tenant uuid, OUT schema_name name, OUT status text, OUT detail text) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mt_apply_template' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.apply_template(name) FROM PUBLIC;
CREATE FUNCTION mt.provision_database(tenant uuid, host text, port integer, dbname name)
    RETURNS void
    AS 'MODULE_PATHNAME', 'mt_provision_database' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.provision_database(uuid, text, integer, name) FROM PUBLIC;
CREATE FUNCTION mt.tenant_schema() RETURNS name
    AS 'MODULE_PATHNAME', 'mt_tenant_schema' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION mt.use_tenant_schema() RETURNS name
    AS 'MODULE_PATHNAME', 'mt_use_tenant_schema' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mt.tenant_schema_guard() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'mt_tenant_schema_guard' LANGUAGE C;
CREATE FUNCTION mt.tenant_schema_protect_new() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'mt_tenant_schema_protect_new' LANGUAGE C;
CREATE FUNCTION mt.tenant_schema_dropped() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'mt_tenant_schema_dropped' LANGUAGE C;
REVOKE ALL ON FUNCTION mt.tenant_schema_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.tenant_schema_protect_new() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.tenant_schema_dropped() FROM PUBLIC;

CREATE EVENT TRIGGER mt_tenant_schema_guard ON ddl_command_start
    WHEN TAG IN ('ALTER TABLE', 'DROP POLICY', 'ALTER POLICY')
    EXECUTE FUNCTION mt.tenant_schema_guard();
CREATE EVENT TRIGGER mt_tenant_schema_protect_new ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'ALTER SCHEMA')
    EXECUTE FUNCTION mt.tenant_schema_protect_new();
CREATE EVENT TRIGGER mt_tenant_schema_dropped ON sql_drop
    EXECUTE FUNCTION mt.tenant_schema_dropped();

COMMENT ON TABLE mt.tenant_placements IS 'Where each tenant lives: isolation level (shared, schema, database, shard) and location (schema name; host, port, database name; never a password). No row = shared. A role sees only its current tenant''s row, only the extension owner writes it.';
COMMENT ON FUNCTION mt.tenant_placement(uuid) IS 'Where a tenant lives (level, schema name, host, port, database name): the current tenant by default, or a tenant whose mt.tenants row the caller can see (back office); 42704 for an unknown or invisible tenant.';
COMMENT ON FUNCTION mt.route() IS 'Where the tenant of the verified context (token or API key) lives, for an application or a connection router: level, schema name, host, port, database name; 42501 without a context (a suspended tenant has none).';
COMMENT ON FUNCTION mt.provision_schema(uuid, name, name) IS 'Privileged (the migration role): creates the tenant''s own schema from a template schema (tables, columns, defaults, sequences, identity, indexes, constraints, foreign keys; no data), every table bound to the tenant by generated forced policies; records the placement; returns the schema name.';
COMMENT ON FUNCTION mt.tenant_schema_guard() IS 'Internal: event trigger function that refuses DDL disabling row-level security or dropping or altering the generated policies of tables in tenant schemas.';
COMMENT ON FUNCTION mt.tenant_schema_protect_new() IS 'Internal: event trigger function that binds tables created in, or moved into, a tenant schema to the schema''s tenant (forced row-level security, generated policies) and follows renames of tenant schemas.';
COMMENT ON FUNCTION mt.tenant_schema_dropped() IS 'Internal: event trigger function that refuses to drop a tenant schema or a generated policy of a table that stays in one.';
COMMENT ON EVENT TRIGGER mt_tenant_schema_guard IS 'Refuses, to every role, DDL that disables row-level security or drops or alters the generated policies of a table in a tenant schema.';
COMMENT ON EVENT TRIGGER mt_tenant_schema_protect_new IS 'Binds tables created in, or moved into, a tenant schema to the schema''s tenant; follows renames of tenant schemas.';
COMMENT ON EVENT TRIGGER mt_tenant_schema_dropped IS 'Refuses to drop a tenant schema (its placement would point nowhere) or a generated policy of a table in one.';
COMMENT ON FUNCTION mt.tenant_schema() IS 'The schema of the verified context''s tenant (schema level), or NULL.';
COMMENT ON FUNCTION mt.use_tenant_schema() IS 'Sets search_path for the rest of the transaction (as SET LOCAL) to the schema of the verified context''s tenant followed by the caller''s other schemas, without any tenant schema; returns the schema; 42501 without a context, 55000 for a tenant without a schema.';
COMMENT ON FUNCTION mt.apply_template(name) IS 'Privileged (the migration role): brings every tenant schema provisioned from the template up to it (new tables, sequences, columns, constraints, indexes, foreign keys), each tenant in its own subtransaction; one row per tenant: applied, unchanged, skipped (differences it does not apply, nothing applied) or failed (rolled back), with the detail.';
COMMENT ON FUNCTION mt.provision_database(uuid, text, integer, name) IS 'Privileged (the migration role): records that a tenant of the shared level lives in its own database (host, port, database name; host and port NULL = the router''s defaults; never a password); the plan must allow the database level. Creating and filling that database is the client''s part (bin/mt-tenant move-to-database).';

-- Moving a tenant between the shared and the schema level (tenant_move.c,
-- move_gate.c; doc/isolation-levels.md "Moving a tenant").
CREATE FUNCTION mt.move_tenant(tenant uuid, to_level text, target text DEFAULT NULL,
    OUT item text, OUT rows bigint, OUT detail text) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mt_move_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.move_tenant(uuid, text, text) FROM PUBLIC;
COMMENT ON FUNCTION mt.move_tenant(uuid, text, text) IS 'Privileged (the migration role): moves a tenant between the shared level and its own schema (to_level schema, target = the template schema; to_level shared) in the caller''s READ COMMITTED transaction: rows of every isolated table moved with their ids, sequences advanced, placement switched, tenant.moved audited; the tenant''s transactions that start meanwhile wait for the move''s end. On Citus, to_level shard (target = an optional node host:port) gives a shared tenant its own shard group. One row per table (or co-location group) and one for the placement.';
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
-- multitenant install script, part 30: usage metering, quotas, rate limits.
-- Counting happens in shared memory (src/usage.c); a background worker
-- flushes the counts into mt.usage_rollup every multitenant.flush_interval.

-- ---------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------

-- Flushed usage, one row per tenant, metric and UTC hour.
CREATE TABLE mt.usage_rollup (
    tenant_id  uuid NOT NULL,
    metric     text NOT NULL CHECK (metric ~ '^[a-z0-9_.:-]{1,63}$'),
    bucket     timestamptz NOT NULL CHECK (bucket = pg_catalog.date_trunc('hour', bucket, 'UTC')),
    value      bigint NOT NULL CHECK (value >= 0),
    PRIMARY KEY (tenant_id, metric, bucket)
);

-- Per-tenant overrides of the plan's limits (mt.plan_limits).
CREATE TABLE mt.tenant_quotas (
    tenant_id   uuid NOT NULL REFERENCES mt.tenants (id) ON DELETE CASCADE,
    metric      text NOT NULL CHECK (metric ~ '^[a-z0-9_.:-]{1,63}$'),
    period      text NOT NULL DEFAULT 'month' CHECK (period IN ('day', 'month')),
    hard_limit  bigint CHECK (hard_limit >= 0),
    soft_limit  bigint CHECK (soft_limit >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, metric),
    CHECK (soft_limit IS NULL OR hard_limit IS NULL OR soft_limit <= hard_limit)
);

-- First crossing of a soft limit, once per tenant, metric and period.
CREATE TABLE mt.usage_alerts (
    tenant_id     uuid NOT NULL,
    metric        text NOT NULL,
    period        text NOT NULL CHECK (period IN ('day', 'month')),
    period_start  timestamptz NOT NULL,
    used          bigint NOT NULL,
    soft_limit    bigint NOT NULL,
    hard_limit    bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, metric, period, period_start)
);

-- ---------------------------------------------------------------------
-- Functions.  Counting and reading run as the caller; the C code runs its
-- internal SQL as the owner of these tables with a fixed search_path.
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.track(metric text, amount bigint DEFAULT 1) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_track' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.consume(metric text, amount bigint DEFAULT 1) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_consume' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.usage(tenant uuid DEFAULT mt.current_tenant(), period text DEFAULT 'month')
    RETURNS TABLE (metric text, used bigint, soft_limit bigint, hard_limit bigint,
                   period_start timestamptz, limit_period text)
    AS 'MODULE_PATHNAME', 'mt_usage' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.usage_history(tenant uuid DEFAULT mt.current_tenant(), metric text DEFAULT NULL,
                                 from_time timestamptz DEFAULT now() - interval '30 days',
                                 to_time timestamptz DEFAULT now(),
                                 granularity text DEFAULT 'day')
    RETURNS TABLE (bucket timestamptz, metric text, value bigint)
    AS 'MODULE_PATHNAME', 'mt_usage_history' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.usage_cost(tenant uuid DEFAULT mt.current_tenant(), month timestamptz DEFAULT now())
    RETURNS TABLE (item text, metric text, period text, used bigint, included bigint,
                   billable_units bigint, amount_cents numeric, currency text)
    AS 'MODULE_PATHNAME', 'mt_usage_cost' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.rate_limit(bucket text, per_second float8, burst integer) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_rate_limit' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- privileged: quota management and flushing
CREATE FUNCTION mt.set_quota(tenant uuid, metric text, hard_limit bigint,
                             soft_limit bigint DEFAULT NULL, period text DEFAULT 'month') RETURNS void
    AS 'MODULE_PATHNAME', 'mt_set_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.reset_quota(tenant uuid, metric text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_reset_quota' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.flush_usage() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_flush_usage' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- cached quotas are re-read after any change to where they come from
CREATE FUNCTION mt.usage_quota_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_usage_quota_changed' LANGUAGE C;
CREATE TRIGGER usage_quota_changed AFTER INSERT OR UPDATE OR DELETE ON mt.plan_limits
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();
CREATE TRIGGER usage_quota_truncated AFTER TRUNCATE ON mt.plan_limits
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();
CREATE TRIGGER usage_quota_changed AFTER INSERT OR UPDATE OR DELETE ON mt.tenant_quotas
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();
CREATE TRIGGER usage_quota_truncated AFTER TRUNCATE ON mt.tenant_quotas
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();
CREATE TRIGGER usage_quota_changed AFTER UPDATE OF plan OR DELETE ON mt.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();
CREATE TRIGGER usage_quota_truncated AFTER TRUNCATE ON mt.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_quota_changed();

-- counters left in shared memory by an earlier installation in this
-- database belong to tables that no longer exist
CREATE FUNCTION mt.usage_reset_database() RETURNS void
    AS 'MODULE_PATHNAME', 'mt_usage_reset_database' LANGUAGE C;
SELECT mt.usage_reset_database();
DROP FUNCTION mt.usage_reset_database();

-- ---------------------------------------------------------------------
-- Privileges and confinement
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION mt.set_quota(uuid, text, bigint, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.reset_quota(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.flush_usage() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.usage_quota_changed() FROM PUBLIC;

GRANT SELECT ON mt.usage_rollup, mt.usage_alerts, mt.tenant_quotas TO PUBLIC;
ALTER TABLE mt.usage_rollup ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.usage_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.tenant_quotas ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON mt.usage_rollup FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_rows ON mt.usage_alerts FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_rows ON mt.tenant_quotas FOR SELECT USING (tenant_id = mt.current_tenant());

SELECT pg_catalog.pg_extension_config_dump('mt.usage_rollup', '');
SELECT pg_catalog.pg_extension_config_dump('mt.usage_alerts', '');
SELECT pg_catalog.pg_extension_config_dump('mt.tenant_quotas', '');

-- quota caches must hear about changes made under
-- session_replication_role = replica too (apply workers, restores)
ALTER TABLE mt.plan_limits ENABLE ALWAYS TRIGGER usage_quota_changed;
ALTER TABLE mt.plan_limits ENABLE ALWAYS TRIGGER usage_quota_truncated;
ALTER TABLE mt.tenant_quotas ENABLE ALWAYS TRIGGER usage_quota_changed;
ALTER TABLE mt.tenant_quotas ENABLE ALWAYS TRIGGER usage_quota_truncated;
ALTER TABLE mt.tenants ENABLE ALWAYS TRIGGER usage_quota_changed;
ALTER TABLE mt.tenants ENABLE ALWAYS TRIGGER usage_quota_truncated;

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/usage.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.usage_rollup IS 'Flushed usage, one row per tenant, metric and UTC hour, written only by the flush workers; tenants read their own rows.';
COMMENT ON TABLE mt.tenant_quotas IS 'Per-tenant overrides of the plan''s limits (mt.set_quota); tenants read their own rows.';
COMMENT ON TABLE mt.usage_alerts IS 'First crossing of a soft limit, once per tenant, metric and period (NOTIFY multitenant_usage); tenants read their own rows.';
COMMENT ON FUNCTION mt.track(text, bigint) IS 'Counts an amount of a metric for the current tenant and returns the total of its quota period; never refused by a quota.';
COMMENT ON FUNCTION mt.consume(text, bigint) IS 'As mt.track(), but refused with 54000 (nothing counted) when the total would exceed the hard limit.';
COMMENT ON FUNCTION mt.usage(uuid, text) IS 'Usage per metric in the current UTC day or month with its limits, for the current tenant or a tenant the caller can see.';
COMMENT ON FUNCTION mt.usage_history(uuid, text, timestamptz, timestamptz, text) IS 'Usage summed per hour, day, week or month over a time range, for the current tenant or a tenant the caller can see.';
COMMENT ON FUNCTION mt.usage_cost(uuid, timestamptz) IS 'Cost estimate for a UTC month: the plan price, the overage of each plan limit, and the total.';
COMMENT ON FUNCTION mt.rate_limit(text, double precision, integer) IS 'GCRA rate limit in shared memory per bucket of the current tenant (or database): true when the call is allowed.';
COMMENT ON FUNCTION mt.set_quota(uuid, text, bigint, bigint, text) IS 'Privileged (billing administrators): creates or replaces a tenant''s override of its plan''s limits for a metric.';
COMMENT ON FUNCTION mt.reset_quota(uuid, text) IS 'Privileged (billing administrators): removes a tenant''s override, so the plan''s limit applies again.';
COMMENT ON FUNCTION mt.flush_usage() IS 'Privileged (admins): flushes this database''s pending counts to mt.usage_rollup now and returns the rows written.';
COMMENT ON FUNCTION mt.usage_quota_changed() IS 'Internal: statement trigger on mt.plan_limits, mt.tenant_quotas and mt.tenants that makes every session re-read its cached quotas.';
-- multitenant install script, part 32: billing: usage export and invoice preview
-- (src/billing.c, doc/billing.md).  Closed usage periods (UTC hours) are
-- appended to mt.usage_export_log by the flush worker's transaction, one
-- closer at a time, with a cursor in commit order; mt.usage_export() reads
-- them after a cursor.  Late usage for a closed hour appends a new version.

-- ---------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------
CREATE TABLE mt.usage_export_log (
    cursor           bigint PRIMARY KEY CHECK (cursor > 0),
    idempotency_key  text NOT NULL UNIQUE,
    tenant_id        uuid NOT NULL,
    metric           text NOT NULL CHECK (metric ~ '^[a-z0-9_.:-]{1,63}$'),
    period_start     timestamptz NOT NULL
        CHECK (period_start = pg_catalog.date_trunc('hour', period_start, 'UTC')),
    period_end       timestamptz NOT NULL,
    quantity         bigint NOT NULL CHECK (quantity >= 0),
    version          integer NOT NULL CHECK (version > 0),
    closed_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (tenant_id, metric, period_start, version),
    CHECK (period_end = period_start + interval '1 hour')
);
CREATE INDEX usage_export_log_period ON mt.usage_export_log (period_start);

-- the closer scans the rollup by hour
CREATE INDEX usage_rollup_bucket ON mt.usage_rollup (bucket);

-- Prices of plans (part 00): a base price per month (mt.plans.price_monthly_cents,
-- integer cents, mt.plans.currency), and per plan and metric an included
-- amount (NULL = the hard limit) and an overage price (numeric cents per
-- overage_unit units) in mt.plan_limits.
ALTER TABLE mt.plan_limits ADD COLUMN included bigint CHECK (included >= 0);

-- Which plan a tenant was on since when (written by a trigger on
-- mt.tenants; mt.invoice_preview prorates by it).
CREATE TABLE mt.tenant_plan_history (
    tenant_id   uuid NOT NULL REFERENCES mt.tenants (id) ON DELETE CASCADE,
    plan        text NOT NULL REFERENCES mt.plans (name) ON UPDATE CASCADE,
    valid_from  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, valid_from)
);

-- ---------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.usage_export(after_cursor bigint DEFAULT 0, max_rows integer DEFAULT 10000)
    RETURNS TABLE (cursor bigint, idempotency_key text, tenant_id uuid, metric text,
                   period_start timestamptz, period_end timestamptz, quantity bigint,
                   version integer)
    AS 'MODULE_PATHNAME', 'mt_usage_export' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mt.invoice_preview(tenant uuid, period_start timestamptz) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_invoice_preview' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- a tenant's plan from now on (creation and every change of plan)
CREATE FUNCTION mt.tenant_plan_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_tenant_plan_changed' LANGUAGE C;
CREATE TRIGGER tenant_plan_changed AFTER INSERT OR UPDATE OF plan ON mt.tenants
    FOR EACH ROW EXECUTE FUNCTION mt.tenant_plan_changed();

-- late usage for a closed hour: a new version, in the writing transaction
CREATE FUNCTION mt.usage_export_correct() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_usage_export_correct' LANGUAGE C;
CREATE TRIGGER usage_export_insert AFTER INSERT ON mt.usage_rollup
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_export_correct();
CREATE TRIGGER usage_export_update AFTER UPDATE ON mt.usage_rollup
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION mt.usage_export_correct();

-- ---------------------------------------------------------------------
-- Privileges: the log is read through mt.usage_export only (billing role)
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION mt.usage_export(bigint, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.usage_export_correct() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.invoice_preview(uuid, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.tenant_plan_changed() FROM PUBLIC;
REVOKE ALL ON mt.usage_export_log FROM PUBLIC;
ALTER TABLE mt.usage_export_log ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('mt.usage_export_log', '');
GRANT SELECT ON mt.tenant_plan_history TO PUBLIC;
ALTER TABLE mt.tenant_plan_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON mt.tenant_plan_history FOR SELECT USING (tenant_id = mt.current_tenant());
SELECT pg_catalog.pg_extension_config_dump('mt.tenant_plan_history', '');

-- ---------------------------------------------------------------------
-- Comments (wording from doc/billing.md)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.usage_export_log IS 'Closed usage periods (UTC hours) per tenant and metric, append-only, one row per version, in cursor (commit) order; read through mt.usage_export().';
COMMENT ON FUNCTION mt.usage_export(bigint, integer) IS 'Privileged (billing role, back office): closed usage periods after a cursor, each with a deterministic idempotency key (tenant, metric, period start, version), at most max_rows, in cursor order.';
COMMENT ON FUNCTION mt.usage_export_correct() IS 'Internal: statement trigger on mt.usage_rollup that appends a new version to mt.usage_export_log when usage arrives for an hour already exported.';
COMMENT ON COLUMN mt.plan_limits.included IS 'Amount included in the plan''s price per period before overage is charged; NULL = the hard limit.';
COMMENT ON TABLE mt.tenant_plan_history IS 'Which plan each tenant was on since when (written when a tenant is created or its plan changes); mt.invoice_preview prorates by it; tenants read their own rows.';
COMMENT ON FUNCTION mt.invoice_preview(uuid, timestamptz) IS 'Privileged (billing role, back office): prices a tenant''s UTC month from its plans'' base prices, included amounts and overage prices, prorated by seconds across plan changes, as jsonb.';
COMMENT ON FUNCTION mt.tenant_plan_changed() IS 'Internal: row trigger on mt.tenants that records a tenant''s plan from now on in mt.tenant_plan_history.';
COMMENT ON INDEX mt.usage_export_log_period IS 'The latest closed hour (where the next close of usage periods starts).';
COMMENT ON INDEX mt.usage_rollup_bucket IS 'Rollup rows of an hour range (the close of usage periods for billing).';
-- ---------------------------------------------------------------------
-- multitenant install script, part 40: the tamper-evident audit log
-- (doc/audit.md).  One hash chain per tenant, plus the "no tenant" chain
-- keyed by the nil uuid 00000000-0000-0000-0000-000000000000.
-- Everything is implemented in C (src/audit.c, src/audit_keys.c).
-- ---------------------------------------------------------------------

-- ids are taken at append, without a lock; the sealer links a chain's
-- committed events in id order (doc/audit.md, "Sealing").  CACHE 1 (the
-- default) keeps ids monotonic across backends.
CREATE SEQUENCE mt.audit_log_id_seq AS bigint;

CREATE TABLE mt.audit_log (
    id              bigint NOT NULL,
    tenant_id       uuid NOT NULL,
    seq             bigint CHECK (seq > 0),   -- NULL until sealed
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    action          text NOT NULL,
    resource_type   text,
    resource_id     text,
    details         jsonb,          -- plaintext details (NULL when encrypted)
    details_key_id  bigint,         -- subject key that encrypted details_enc
    details_enc     bytea,          -- nonce || crypto_secretbox(details text)
    client_addr     inet,
    db_user         text NOT NULL,  -- session_user of the appending session
    prev_hash       bytea CHECK (length(prev_hash) = 32),   -- NULL until sealed
    hash            bytea NOT NULL CHECK (length(hash) = 32),  -- content hash until sealed
    CONSTRAINT audit_log_chain UNIQUE (tenant_id, seq),
    CHECK ((details_key_id IS NULL) = (details_enc IS NULL)),
    CHECK (details IS NULL OR details_enc IS NULL)
);
ALTER SEQUENCE mt.audit_log_id_seq OWNED BY mt.audit_log.id;
-- the events the sealer has not linked yet, per chain in id order
CREATE INDEX audit_log_unsealed ON mt.audit_log (tenant_id, id) WHERE seq IS NULL;
-- No index on id alone (ids are unique by construction: mt.audit_log_id_seq,
-- and imports only into a free range): sealing rewrites every row once, and
-- an index on id cost an entry per append and per rewrite (doc/audit.md).
-- sealing updates rows: publications carry the whole old row
ALTER TABLE mt.audit_log REPLICA IDENTITY FULL;

-- What mt.audit_prune() removed: the last pruned position of a chain and
-- its hash, from which the remaining rows still verify.
CREATE TABLE mt.audit_checkpoints (
    tenant_id    uuid NOT NULL,
    seq          bigint NOT NULL CHECK (seq > 0),
    hash         bytea NOT NULL CHECK (length(hash) = 32),
    rows_pruned  bigint NOT NULL,
    pruned_at    timestamptz NOT NULL,
    pruned_by    text NOT NULL,
    CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (tenant_id, seq)
);

-- Per-subject keys for encrypted details, wrapped (crypto_secretbox) with
-- a key derived from the server secret.  subject_hash is a keyed hash of
-- (tenant, subject): the subject itself is stored nowhere.  Nobody but the
-- extension owner can read this table.
CREATE TABLE mt.audit_subject_keys (
    id            bigserial PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    subject_hash  bytea NOT NULL CHECK (length(subject_hash) = 32),
    wrapped_key   bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    kek_version   integer NOT NULL DEFAULT 1,   -- mt.secret_versions, purpose 'audit_kek'
    CONSTRAINT audit_subject_keys_subject UNIQUE (tenant_id, subject_hash)
);

-- ---------------------------------------------------------------------
-- Append-only guard: statement triggers that refuse INSERT, UPDATE,
-- DELETE and TRUNCATE to everyone (the owner and superusers too) except
-- the extension's own C code (mt.audit(), mt.audit_prune()).  ENABLE
-- ALWAYS: session_replication_role = replica does not bypass them.
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.audit_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_audit_guard' LANGUAGE C;

CREATE TRIGGER audit_log_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON mt.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION mt.audit_guard();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON mt.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION mt.audit_guard();
CREATE TRIGGER audit_checkpoints_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON mt.audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION mt.audit_guard();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON mt.audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION mt.audit_guard();
ALTER TABLE mt.audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE mt.audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;
ALTER TABLE mt.audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_append_only;
ALTER TABLE mt.audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_truncate;

-- ---------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------
-- mt.audit() and mt.audit_many() run as the caller (no SECURITY DEFINER, no
-- per-call search_path: they are the hot path); their C code appends as the
-- extension owner and runs SQL only for subject keys, under a fixed
-- search_path (audit.c, append_events_as_owner).
CREATE FUNCTION mt.audit(action text, resource_type text DEFAULT NULL,
                         resource_id text DEFAULT NULL, details jsonb DEFAULT NULL,
                         subject text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- many events in one call: one pass, no SQL per event
CREATE FUNCTION mt.audit_many(actions text[], resource_types text[] DEFAULT NULL,
                              resource_ids text[] DEFAULT NULL, details jsonb[] DEFAULT NULL)
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_many' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mt.audit_verify(tenant uuid DEFAULT NULL, digest jsonb DEFAULT NULL)
    RETURNS TABLE (tenant_id uuid, ok boolean, rows_checked bigint, first_bad_id bigint,
                   head_seq bigint, problem text, unsealed bigint, oldest_unsealed timestamptz)
    AS 'MODULE_PATHNAME', 'mt_audit_verify' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.audit_digest(tenant uuid DEFAULT NULL)
    RETURNS TABLE (tenant_id uuid, seq bigint, hash text, at timestamptz)
    AS 'MODULE_PATHNAME', 'mt_audit_digest' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- link every committed, not yet sealed event into its chain now
CREATE FUNCTION mt.audit_seal() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_seal' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.audit_prune(older_than interval, tenant uuid DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_prune' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- not SECURITY DEFINER: it runs as the writer of the audited row, checks
-- that the row's tenant is the writer's verified context, and appends as
-- the extension owner itself (src/audit.c)
CREATE FUNCTION mt.audit_row_change() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_audit_row_change' LANGUAGE C;

CREATE FUNCTION mt.audit_table(tbl regclass, tenant_column name DEFAULT 'tenant_id',
                               subject_column name DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_audit_table' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.audit_untable(tbl regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_audit_untable' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- the current tenant's chain (any role inside a tenant context)
CREATE FUNCTION mt.audit_search(from_time timestamptz DEFAULT NULL, to_time timestamptz DEFAULT NULL,
                                action text DEFAULT NULL, actor text DEFAULT NULL,
                                resource_type text DEFAULT NULL, resource_id text DEFAULT NULL,
                                subject text DEFAULT NULL, after_id bigint DEFAULT NULL,
                                max_rows integer DEFAULT 100, newest_first boolean DEFAULT false)
    RETURNS TABLE (id bigint, tenant_id uuid, seq bigint, at timestamptz, actor text, action text,
                   resource_type text, resource_id text, details jsonb, details_state text,
                   client_addr inet, db_user text)
    AS 'MODULE_PATHNAME', 'mt_audit_search' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- any tenant's chain, or all (tenant NULL): auditors
CREATE FUNCTION mt.audit_search_tenant(tenant uuid, from_time timestamptz DEFAULT NULL,
                                       to_time timestamptz DEFAULT NULL,
                                       action text DEFAULT NULL, actor text DEFAULT NULL,
                                       resource_type text DEFAULT NULL, resource_id text DEFAULT NULL,
                                       subject text DEFAULT NULL, after_id bigint DEFAULT NULL,
                                       max_rows integer DEFAULT 100, newest_first boolean DEFAULT false)
    RETURNS TABLE (id bigint, tenant_id uuid, seq bigint, at timestamptz, actor text, action text,
                   resource_type text, resource_id text, details jsonb, details_state text,
                   client_addr inet, db_user text)
    AS 'MODULE_PATHNAME', 'mt_audit_search_tenant' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- JSON lines that doc/audit.md's algorithm (test/audit_verify_export.py) verifies
CREATE FUNCTION mt.audit_export(after_seq bigint DEFAULT 0) RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'mt_audit_export' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.audit_export_tenant(tenant uuid DEFAULT NULL, after_seq bigint DEFAULT 0)
    RETURNS SETOF text
    AS 'MODULE_PATHNAME', 'mt_audit_export_tenant' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- crypto-shredding: destroy a subject's details key (current tenant by default)
CREATE FUNCTION mt.audit_forget_subject(subject text, tenant uuid DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_audit_forget_subject' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------
-- Privileges and confinement
-- ---------------------------------------------------------------------
REVOKE ALL ON FUNCTION mt.audit_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_verify(uuid, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_digest(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_prune(interval, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_seal() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_row_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_table(regclass, name, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_untable(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_search_tenant(uuid, timestamptz, timestamptz, text, text, text, text,
                                              text, bigint, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_export_tenant(uuid, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.audit_forget_subject(text, uuid) FROM PUBLIC;
-- mt.audit(), mt.audit_many(), mt.audit_search() and mt.audit_export() stay executable by
-- PUBLIC: they act on the caller's own tenant context only.

REVOKE ALL ON mt.audit_log, mt.audit_checkpoints, mt.audit_subject_keys FROM PUBLIC;
REVOKE ALL ON SEQUENCE mt.audit_log_id_seq FROM PUBLIC;
GRANT SELECT ON mt.audit_log, mt.audit_checkpoints TO PUBLIC;
ALTER TABLE mt.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.audit_subject_keys ENABLE ROW LEVEL SECURITY;   -- no policy: owner only
CREATE POLICY tenant_read ON mt.audit_log FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_read ON mt.audit_checkpoints FOR SELECT USING (tenant_id = mt.current_tenant());

SELECT pg_catalog.pg_extension_config_dump('mt.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('mt.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.audit_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('mt.audit_subject_keys', '');
SELECT pg_catalog.pg_extension_config_dump('mt.audit_subject_keys_id_seq', '');

-- When chain heads were taken out (mt.audit_digest), for compliance check
-- MT-AUD-002.  Written only by mt.audit_digest().
CREATE TABLE mt.audit_digests (
    taken_at     timestamptz NOT NULL DEFAULT now(),
    taken_by     name NOT NULL DEFAULT session_user,
    chains       bigint NOT NULL,
    all_tenants  boolean NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('mt.audit_digests', '');

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/audit.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.audit_log IS 'The tamper-evident audit log: one append-only hash chain per tenant (nil uuid: no tenant); tenants read their own chain.';
COMMENT ON TABLE mt.audit_checkpoints IS 'One row per pruning of an audit chain (last pruned position and its hash), where verification starts; append-only.';
COMMENT ON TABLE mt.audit_subject_keys IS 'Per (tenant, subject) keys that encrypt audit details, wrapped with a server key and destroyed for crypto-shredding; extension owner only.';
COMMENT ON TABLE mt.audit_digests IS 'When audit chain heads were taken out with mt.audit_digest(), for compliance check MT-AUD-002.';
COMMENT ON FUNCTION mt.audit_guard() IS 'Internal: append-only trigger that refuses INSERT, UPDATE, DELETE and TRUNCATE on the audit tables except from the extension''s own code.';
COMMENT ON FUNCTION mt.audit(text, text, text, jsonb, text) IS 'Appends an event to the current tenant''s audit chain (the no-tenant chain without a context) and returns its id; for applications.';
COMMENT ON FUNCTION mt.audit_verify(uuid, jsonb) IS 'Privileged (auditors): seals, then recomputes one or every audit chain, optionally against an earlier digest, and reports the first bad row and the unsealed tail.';
COMMENT ON FUNCTION mt.audit_many(text[], text[], text[], jsonb[]) IS 'Appends one event per element of actions (with the resource types, ids and details at the same positions) to the current tenant''s audit chain and returns how many; for applications.';
COMMENT ON FUNCTION mt.audit_seal() IS 'Privileged (auditors, admins): links every committed, not yet sealed audit event into its chain now (the background worker does it every multitenant.audit_seal_interval).';
COMMENT ON INDEX mt.audit_log_unsealed IS 'The audit events not yet linked into their chain, per tenant in id order (the sealer''s work list).';
COMMENT ON FUNCTION mt.audit_digest(uuid) IS 'Privileged (auditors, a scheduled job): the head (position, hash, time) of one or every audit chain, to store outside the database.';
COMMENT ON FUNCTION mt.audit_prune(interval, uuid) IS 'Privileged (admins): removes verified audit rows older than the interval and leaves a checkpoint from which the rest still verifies.';
COMMENT ON FUNCTION mt.audit_row_change() IS 'Internal: row and TRUNCATE trigger installed by mt.audit_table() that appends each change to the row''s tenant chain.';
COMMENT ON FUNCTION mt.audit_table(regclass, name, name) IS 'Privileged (admins holding TRIGGER on the table): records every row change of the table in its tenant''s audit chain.';
COMMENT ON FUNCTION mt.audit_untable(regclass) IS 'Privileged (admins holding TRIGGER on the table): removes the audit triggers installed by mt.audit_table().';
COMMENT ON FUNCTION mt.audit_search(timestamptz, timestamptz, text, text, text, text, text, bigint, integer, boolean) IS 'Searches the current tenant''s audit chain, decrypting details whose key still exists; for applications.';
COMMENT ON FUNCTION mt.audit_search_tenant(uuid, timestamptz, timestamptz, text, text, text, text, text, bigint, integer, boolean) IS 'Privileged (auditors): searches any tenant''s audit chain, or every chain.';
COMMENT ON FUNCTION mt.audit_export(bigint) IS 'The current tenant''s audit chain as JSON lines that can be verified outside the database.';
COMMENT ON FUNCTION mt.audit_export_tenant(uuid, bigint) IS 'Privileged (auditors): any audit chain, or every chain, as JSON lines that can be verified outside the database.';
COMMENT ON FUNCTION mt.audit_forget_subject(text, uuid) IS 'Privileged (admins, the GDPR process): crypto-shredding, destroys a subject''s audit details key so that its encrypted details become unreadable.';
-- multitenant install script, part 50: GDPR (subject registry, export,
-- erasure, consent, requests, restriction, breach register) and retention
-- jobs.  Implemented in C (src/gdpr.c, src/retention.c); see doc/gdpr.md.

-- ---------------------------------------------------------------------
-- Where a data subject's personal data lives
-- ---------------------------------------------------------------------
CREATE TABLE mt.subject_tables (
    tbl                regclass NOT NULL,
    subject_column     name NOT NULL,
    on_erase           text NOT NULL CHECK (on_erase IN ('delete', 'anonymize')),
    anonymize_columns  name[] NOT NULL DEFAULT '{}',
    registered_at      timestamptz NOT NULL DEFAULT now(),
    registered_by      text NOT NULL,
    PRIMARY KEY (tbl, subject_column),
    CHECK (on_erase = 'anonymize' OR cardinality(anonymize_columns) = 0)
);

-- ---------------------------------------------------------------------
-- Consent history: append-only (a trigger refuses UPDATE, DELETE and
-- TRUNCATE to every role; only mt.gdpr_erase() may replace an erased
-- subject by its pseudonym).
-- ---------------------------------------------------------------------
CREATE TABLE mt.consents (
    id           bigserial PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    subject      text NOT NULL,
    purpose      text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 200),
    granted      boolean NOT NULL,
    version      text,
    source       text,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    recorded_by  text NOT NULL,      -- database role
    actor        text                -- the tenant token's subject (mt.current_subject())
);
CREATE INDEX consents_subject ON mt.consents (tenant_id, subject, purpose, id);

-- ---------------------------------------------------------------------
-- Data-subject requests (due 30 days after submission)
-- ---------------------------------------------------------------------
CREATE TABLE mt.gdpr_requests (
    id            bigserial PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    subject       text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('access', 'erasure', 'portability',
                                                'rectification', 'restriction', 'objection')),
    reason        text,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed')),
    submitted_at  timestamptz NOT NULL DEFAULT now(),
    submitted_by  text NOT NULL,
    due_at        timestamptz NOT NULL,
    processed_at  timestamptz,
    processed_by  text,
    result        jsonb,             -- PII-free summary, or the erasure receipt
    CHECK (due_at = submitted_at + interval '30 days'),
    CHECK ((status = 'completed') = (processed_at IS NOT NULL))
);
CREATE INDEX gdpr_requests_subject ON mt.gdpr_requests (tenant_id, subject);
CREATE INDEX gdpr_requests_open ON mt.gdpr_requests (tenant_id, due_at) WHERE status = 'pending';

-- subjects whose processing is restricted (Art. 18); mt.is_restricted()
CREATE TABLE mt.gdpr_restrictions (
    id             bigserial PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    subject        text NOT NULL,
    request_id     bigint,
    restricted_at  timestamptz NOT NULL DEFAULT now(),
    restricted_by  text NOT NULL,
    lifted_at      timestamptz,
    lifted_by      text
);
CREATE UNIQUE INDEX gdpr_restrictions_active ON mt.gdpr_restrictions (tenant_id, subject)
    WHERE lifted_at IS NULL;
CREATE INDEX gdpr_restrictions_subject ON mt.gdpr_restrictions (tenant_id, subject);

-- ---------------------------------------------------------------------
-- Breach register (Art. 33: notify the authority within 72 hours)
-- ---------------------------------------------------------------------
CREATE TABLE mt.breaches (
    id                bigserial PRIMARY KEY,
    description       text NOT NULL CHECK (description <> ''),
    severity          text NOT NULL DEFAULT 'high' CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    detected_at       timestamptz NOT NULL,
    reported_at       timestamptz NOT NULL DEFAULT now(),
    reported_by       text NOT NULL,
    notify_deadline   timestamptz NOT NULL,
    affected_tenants  uuid[] NOT NULL DEFAULT '{}',
    notified_at       timestamptz,
    notified_by       text,
    authority         text,
    notification_ref  text,
    CHECK (notify_deadline = detected_at + interval '72 hours')
);
CREATE TABLE mt.breach_subjects (
    breach_id  bigint NOT NULL REFERENCES mt.breaches (id) ON DELETE CASCADE,
    tenant_id  uuid NOT NULL,
    subject    text NOT NULL,
    PRIMARY KEY (breach_id, tenant_id, subject)
);
CREATE INDEX breach_subjects_subject ON mt.breach_subjects (tenant_id, subject);

-- unnotified breaches past their deadline (compliance checks read this)
CREATE VIEW mt.breaches_overdue AS
    SELECT id, description, severity, detected_at, notify_deadline, affected_tenants,
           now() - notify_deadline AS overdue_by
    FROM mt.breaches
    WHERE notified_at IS NULL AND notify_deadline < now();

-- ---------------------------------------------------------------------
-- Retention policies
-- ---------------------------------------------------------------------
CREATE TABLE mt.retention_policies (
    tbl            regclass PRIMARY KEY,
    time_column    name NOT NULL,
    keep           interval NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL,
    last_run_at    timestamptz,
    last_deleted   bigint,
    last_more      boolean,           -- expired rows were left for the next run
    total_deleted  bigint NOT NULL DEFAULT 0
);

-- ---------------------------------------------------------------------
-- Functions
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.register_subject(tbl regclass, subject_column name, on_erase text DEFAULT 'delete',
                                    anonymize_columns name[] DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_register_subject' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.unregister_subject(tbl regclass, subject_column name DEFAULT NULL) RETURNS integer
    AS 'MODULE_PATHNAME', 'mt_unregister_subject' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mt.gdpr_export(subject text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_gdpr_export' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.gdpr_erase(subject text) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_gdpr_erase' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.record_consent(subject text, purpose text, granted boolean,
                                  version text DEFAULT NULL, source text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_record_consent' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.has_consent(subject text, purpose text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_has_consent' LANGUAGE C STABLE PARALLEL UNSAFE;
CREATE FUNCTION mt.consents_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mt_consents_guard' LANGUAGE C;

CREATE FUNCTION mt.gdpr_request(subject text, kind text, reason text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_gdpr_request' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.gdpr_process(request_id bigint) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_gdpr_process' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.is_restricted(subject text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_is_restricted' LANGUAGE C STABLE PARALLEL UNSAFE;
CREATE FUNCTION mt.lift_restriction(subject text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_lift_restriction' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mt.report_breach(description text, detected_at timestamptz DEFAULT now(),
                                 affected_tenants uuid[] DEFAULT NULL, affected_subjects text[] DEFAULT NULL,
                                 severity text DEFAULT 'high') RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_report_breach' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.add_breach_subjects(breach_id bigint, subjects text[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'mt_add_breach_subjects' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.record_breach_notification(breach_id bigint, authority text, reference text DEFAULT NULL,
                                              notified_at timestamptz DEFAULT now()) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_record_breach_notification' LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION mt.set_retention(tbl regclass, time_column name, keep interval) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_set_retention' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.drop_retention(tbl regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_drop_retention' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.run_retention(batch integer DEFAULT 10000)
    RETURNS TABLE (tbl regclass, deleted bigint, more boolean, status text)
    AS 'MODULE_PATHNAME', 'mt_run_retention' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION mt.gdpr_forget_dropped() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'mt_gdpr_forget_dropped' LANGUAGE C;
CREATE EVENT TRIGGER mt_gdpr_forget_dropped ON sql_drop
    EXECUTE FUNCTION mt.gdpr_forget_dropped();

CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON mt.consents
    FOR EACH STATEMENT EXECUTE FUNCTION mt.consents_guard();
CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON mt.consents
    FOR EACH STATEMENT EXECUTE FUNCTION mt.consents_guard();
ALTER TABLE mt.consents ENABLE ALWAYS TRIGGER consents_append_only;
ALTER TABLE mt.consents ENABLE ALWAYS TRIGGER consents_no_truncate;

-- ---------------------------------------------------------------------
-- Privileges and confinement
-- ---------------------------------------------------------------------
-- privileged: registry and retention (the caller must also own the table),
-- export/erasure/processing (run as the extension owner), breaches
REVOKE ALL ON FUNCTION mt.register_subject(regclass, name, text, name[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.unregister_subject(regclass, name) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.gdpr_export(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.gdpr_erase(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.gdpr_process(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.lift_restriction(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.report_breach(text, timestamptz, uuid[], text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.add_breach_subjects(bigint, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.record_breach_notification(bigint, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.set_retention(regclass, name, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.drop_retention(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.run_retention(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.consents_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.gdpr_forget_dropped() FROM PUBLIC;
-- mt.record_consent, mt.has_consent, mt.gdpr_request and mt.is_restricted
-- stay executable by PUBLIC: they act inside the caller's tenant context.

REVOKE ALL ON mt.subject_tables, mt.consents, mt.gdpr_requests, mt.gdpr_restrictions,
              mt.breaches, mt.breach_subjects, mt.breaches_overdue, mt.retention_policies FROM PUBLIC;
GRANT SELECT ON mt.subject_tables, mt.retention_policies TO PUBLIC;
GRANT SELECT ON mt.consents, mt.gdpr_requests, mt.gdpr_restrictions TO PUBLIC;
ALTER TABLE mt.consents ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.gdpr_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.gdpr_restrictions ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.breach_subjects ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON mt.consents FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_read ON mt.gdpr_requests FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_read ON mt.gdpr_restrictions FOR SELECT USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_read ON mt.breach_subjects FOR SELECT USING (tenant_id = mt.current_tenant());

SELECT pg_catalog.pg_extension_config_dump('mt.subject_tables', '');
SELECT pg_catalog.pg_extension_config_dump('mt.consents', '');
SELECT pg_catalog.pg_extension_config_dump('mt.consents_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.gdpr_requests', '');
SELECT pg_catalog.pg_extension_config_dump('mt.gdpr_requests_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.gdpr_restrictions', '');
SELECT pg_catalog.pg_extension_config_dump('mt.gdpr_restrictions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.breaches', '');
SELECT pg_catalog.pg_extension_config_dump('mt.breaches_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.breach_subjects', '');
SELECT pg_catalog.pg_extension_config_dump('mt.retention_policies', '');

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/gdpr.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.subject_tables IS 'Where data subjects'' personal data lives (mt.register_subject): table, subject column, erasure by delete or anonymize; readable by everyone.';
COMMENT ON TABLE mt.consents IS 'Consent history, append-only: grants and withdrawals per subject and purpose; tenants read their own rows.';
COMMENT ON TABLE mt.gdpr_requests IS 'Data-subject requests (access, erasure, portability, rectification, restriction, objection), due 30 days after submission; tenants read their own rows.';
COMMENT ON TABLE mt.gdpr_restrictions IS 'Subjects whose processing is restricted (Art. 18), kept as history when lifted; tenants read their own rows.';
COMMENT ON TABLE mt.breaches IS 'Breach register (Art. 33: notify the authority within 72 hours); cross-tenant, admins only.';
COMMENT ON TABLE mt.breach_subjects IS 'Data subjects affected by a breach, per tenant; pseudonymized by erasure.';
COMMENT ON VIEW mt.breaches_overdue IS 'Unnotified breaches past their 72-hour notification deadline (the compliance checks read it).';
COMMENT ON TABLE mt.retention_policies IS 'Retention policies (mt.set_retention): rows older than keep are deleted by mt.run_retention(), which records its runs here.';
COMMENT ON FUNCTION mt.register_subject(regclass, name, text, name[]) IS 'Privileged (the migration role, which must own the table): declares that a column of an isolated table holds data-subject ids, and how erasure treats the rows.';
COMMENT ON FUNCTION mt.unregister_subject(regclass, name) IS 'Privileged (the migration role, which must own the table): removes the table''s subject registrations, or one of them.';
COMMENT ON FUNCTION mt.gdpr_export(text) IS 'Privileged (DPO, inside the tenant): everything the current tenant holds on a data subject, as jsonb (access, portability).';
COMMENT ON FUNCTION mt.gdpr_erase(text) IS 'Privileged (DPO, inside the tenant): erases a data subject in the current tenant, keeping evidence under a pseudonym, and returns a receipt.';
COMMENT ON FUNCTION mt.record_consent(text, text, boolean, text, text) IS 'Appends a consent grant or withdrawal for a subject and purpose in the current tenant and returns its id.';
COMMENT ON FUNCTION mt.has_consent(text, text) IS 'Whether the latest consent event of the subject for the purpose, in the current tenant, is a grant.';
COMMENT ON FUNCTION mt.consents_guard() IS 'Internal: trigger that keeps mt.consents append-only (refuses UPDATE, DELETE and TRUNCATE except erasure''s pseudonymization).';
COMMENT ON FUNCTION mt.gdpr_request(text, text, text) IS 'Files a data-subject request in the current tenant, due in 30 days, and returns its id.';
COMMENT ON FUNCTION mt.gdpr_process(bigint) IS 'Privileged (DPO, inside the tenant): processes a pending data-subject request of the current tenant and returns its result.';
COMMENT ON FUNCTION mt.is_restricted(text) IS 'Whether the subject''s processing is restricted in the current tenant (usable in policies).';
COMMENT ON FUNCTION mt.lift_restriction(text) IS 'Privileged (DPO, inside the tenant): ends the active processing restriction of a subject, kept as history.';
COMMENT ON FUNCTION mt.report_breach(text, timestamptz, uuid[], text[], text) IS 'Privileged (DPO): records a personal-data breach with its 72-hour notification deadline and returns its id.';
COMMENT ON FUNCTION mt.add_breach_subjects(bigint, text[]) IS 'Privileged (DPO, inside the tenant): adds affected subjects of the current tenant to a breach and returns how many were new.';
COMMENT ON FUNCTION mt.record_breach_notification(bigint, text, text, timestamptz) IS 'Privileged (DPO): records that the supervisory authority was notified of a breach.';
COMMENT ON FUNCTION mt.set_retention(regclass, name, interval) IS 'Privileged (the migration role, which must own the table): mt.run_retention() will delete the rows whose time column is older than keep.';
COMMENT ON FUNCTION mt.drop_retention(regclass) IS 'Privileged (the migration role, which must own the table): removes the table''s retention policy.';
COMMENT ON FUNCTION mt.run_retention(integer) IS 'Privileged (a scheduled maintenance job): deletes at most batch expired rows per retention policy, as each table''s owner.';
COMMENT ON FUNCTION mt.gdpr_forget_dropped() IS 'Internal: event trigger function that removes the subject registrations and retention policies of dropped tables.';
COMMENT ON EVENT TRIGGER mt_gdpr_forget_dropped IS 'Removes the subject registrations and retention policies of dropped tables.';
-- multitenant install script, part 60: compliance checks and reports.

CREATE SEQUENCE mt.compliance_run_seq;
CREATE TABLE mt.compliance_checks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL,
    check_id    text NOT NULL,
    title       text NOT NULL,
    standards   text[] NOT NULL,
    controls    text[] NOT NULL,
    severity    text NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    status      text NOT NULL CHECK (status IN ('pass', 'warn', 'fail')),
    details     jsonb NOT NULL,
    checked_at  timestamptz NOT NULL
);
CREATE INDEX ON mt.compliance_checks (checked_at);
CREATE INDEX ON mt.compliance_checks (check_id, checked_at);
SELECT pg_catalog.pg_extension_config_dump('mt.compliance_checks', '');
SELECT pg_catalog.pg_extension_config_dump('mt.compliance_run_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.compliance_checks_id_seq', '');

CREATE FUNCTION mt.run_compliance_checks(
    OUT check_id text, OUT title text, OUT standards text[], OUT severity text,
    OUT status text, OUT details jsonb, OUT checked_at timestamptz) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mt_run_compliance_checks' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.compliance_catalog(
    OUT check_id text, OUT title text, OUT standards text[], OUT controls text[], OUT severity text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mt_compliance_catalog' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mt.compliance_report(standard text DEFAULT NULL,
                                     "from" timestamptz DEFAULT now() - interval '30 days',
                                     "to" timestamptz DEFAULT now()) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_compliance_report' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.compliance_report_text(standard text DEFAULT NULL,
                                          "from" timestamptz DEFAULT now() - interval '30 days',
                                          "to" timestamptz DEFAULT now()) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_compliance_report_text' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.run_compliance_checks() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.compliance_report(text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.compliance_report_text(text, timestamptz, timestamptz) FROM PUBLIC;

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/compliance.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.compliance_checks IS 'History of compliance check results, one row per check and run; not readable by PUBLIC.';
COMMENT ON FUNCTION mt.run_compliance_checks() IS 'Privileged (admins, auditors): runs every compliance check, stores the results in mt.compliance_checks and returns them.';
COMMENT ON FUNCTION mt.compliance_catalog() IS 'The compliance checks with their standards, controls and severity.';
COMMENT ON FUNCTION mt.compliance_report(text, timestamptz, timestamptz) IS 'Privileged (admins, auditors): compliance report as jsonb, per standard and control, over the check runs in a time window.';
COMMENT ON FUNCTION mt.compliance_report_text(text, timestamptz, timestamptz) IS 'Privileged (admins, auditors): the compliance report rendered as text for people.';
-- multitenant install script, part 70: authorization inside a tenant
-- (src/authz.c, doc/authorization.md): roles with a parent and permission
-- patterns (built-in rows have no tenant), assignments of roles to
-- subjects, optionally in one workspace and for a time, and workspaces.
-- Everyone reads its own tenant's rows (and the built-in roles); only the
-- extension owner writes, through the management functions, which check
-- the caller's permissions in its tenant context.

CREATE TABLE mt.workspaces (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES mt.tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text,
    CONSTRAINT workspaces_name_once UNIQUE (tenant_id, name),
    CONSTRAINT workspaces_tenant_id UNIQUE (tenant_id, id)
);

CREATE TABLE mt.roles (
    tenant_id    uuid REFERENCES mt.tenants (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    parent       text CHECK (parent ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    permissions  text[] NOT NULL DEFAULT '{}' CHECK (cardinality(permissions) <= 100),
    builtin      boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text,
    CONSTRAINT roles_name_once UNIQUE NULLS NOT DISTINCT (tenant_id, name),
    CONSTRAINT roles_builtin_no_tenant CHECK (builtin = (tenant_id IS NULL)),
    CONSTRAINT roles_not_own_parent CHECK (parent IS DISTINCT FROM name)
);

CREATE TABLE mt.role_assignments (
    id            uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    tenant_id     uuid NOT NULL REFERENCES mt.tenants (id) ON DELETE CASCADE,
    subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    role          text NOT NULL,
    workspace_id  uuid,
    valid_from    timestamptz NOT NULL DEFAULT now(),
    valid_until   timestamptz,
    granted_by    text,
    granted_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT role_assignments_once UNIQUE NULLS NOT DISTINCT (tenant_id, subject, role, workspace_id),
    CONSTRAINT role_assignments_workspace FOREIGN KEY (tenant_id, workspace_id)
        REFERENCES mt.workspaces (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT role_assignments_period CHECK (valid_until IS NULL OR valid_until > valid_from)
);
CREATE INDEX role_assignments_subject_idx ON mt.role_assignments (tenant_id, subject);

-- built-in roles (doc/authorization.md "Built-in roles"); re-created by
-- CREATE EXTENSION, so pg_dump keeps only the tenants' own
INSERT INTO mt.roles (tenant_id, name, parent, permissions, builtin) VALUES
    (NULL, 'owner',   NULL, '{*}', true),
    (NULL, 'admin',   NULL, '{*:read,*:write,roles:manage,workspaces:manage,security:manage}', true),
    (NULL, 'member',  NULL, '{*:read,*:write}', true),
    (NULL, 'viewer',  NULL, '{*:read}', true),
    (NULL, 'auditor', NULL, '{*:read,audit:export}', true);

GRANT SELECT ON mt.workspaces, mt.roles, mt.role_assignments TO PUBLIC;
ALTER TABLE mt.workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE mt.role_assignments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_own_workspaces ON mt.workspaces FOR SELECT
    USING (tenant_id = mt.current_tenant());
CREATE POLICY tenant_own_roles ON mt.roles FOR SELECT
    USING (tenant_id IS NULL OR tenant_id = mt.current_tenant());
CREATE POLICY tenant_own_assignments ON mt.role_assignments FOR SELECT
    USING (tenant_id = mt.current_tenant());

SELECT pg_catalog.pg_extension_config_dump('mt.workspaces', '');
SELECT pg_catalog.pg_extension_config_dump('mt.roles', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('mt.role_assignments', '');

-- a change moves the shared generation that validates every backend's
-- resolved permissions (src/authz.c), also replayed on standbys
CREATE TRIGGER roles_changed AFTER INSERT OR UPDATE OR DELETE ON mt.roles
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER roles_truncated AFTER TRUNCATE ON mt.roles
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER role_assignments_changed AFTER INSERT OR UPDATE OR DELETE ON mt.role_assignments
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER role_assignments_truncated AFTER TRUNCATE ON mt.role_assignments
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER workspaces_changed AFTER INSERT OR UPDATE OR DELETE ON mt.workspaces
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER workspaces_truncated AFTER TRUNCATE ON mt.workspaces
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
ALTER TABLE mt.roles ENABLE ALWAYS TRIGGER roles_changed;
ALTER TABLE mt.roles ENABLE ALWAYS TRIGGER roles_truncated;
ALTER TABLE mt.role_assignments ENABLE ALWAYS TRIGGER role_assignments_changed;
ALTER TABLE mt.role_assignments ENABLE ALWAYS TRIGGER role_assignments_truncated;
ALTER TABLE mt.workspaces ENABLE ALWAYS TRIGGER workspaces_changed;
ALTER TABLE mt.workspaces ENABLE ALWAYS TRIGGER workspaces_truncated;

-- API keys bound to a workspace (mt.create_api_key(..., workspace => ...)):
-- such a key acts only in that workspace (src/authz.c)
ALTER TABLE mt.api_key_secrets ADD COLUMN workspace_id uuid;
ALTER TABLE mt.api_key_secrets ADD CONSTRAINT api_key_secrets_workspace FOREIGN KEY (tenant_id, workspace_id)
    REFERENCES mt.workspaces (tenant_id, id) ON DELETE CASCADE;
CREATE OR REPLACE VIEW mt.api_keys WITH (security_barrier = true) AS
SELECT k.key_id, k.tenant_id, k.name, k.mode, k.scopes,
       k.created_at, k.created_by, k.expires_at, k.revoked_at, k.last_used_at,
       k.rotated_from, k.rotated_to,
       CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
            WHEN k.expires_at <= pg_catalog.now() THEN 'expired'
            WHEN k.rotated_to IS NOT NULL THEN 'rotating'
            ELSE 'active' END AS status,
       k.workspace_id
FROM mt.api_key_secrets k
WHERE k.tenant_id = mt.current_tenant();

-- authorization options of isolated tables (mt.enable_isolation(tbl,
-- workspace_column => ..., permissions => true), src/isolation.c)
ALTER TABLE mt.isolated_tables ADD COLUMN workspace_column name;
ALTER TABLE mt.isolated_tables ADD COLUMN permissions boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN mt.isolated_tables.workspace_column IS 'The workspace column whose rows only mt.workspace_visible() workspaces see (generated policy mt_workspace_isolation), or NULL.';
COMMENT ON COLUMN mt.isolated_tables.permissions IS 'Whether reads need <table>:read and writes <table>:write (generated policies mt_permission_*).';

-- ---------------------------------------------------------------------
-- Checks: for the current subject, answered from backend memory
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.has_permission(perm text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_has_permission' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mt.require_permission(perm text) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_require_permission' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mt.current_workspace() RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_current_workspace' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION mt.workspace_visible(workspace uuid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_workspace_visible' LANGUAGE C STABLE PARALLEL SAFE;

-- the back office enters a tenant as a subject, with a trusted role and a
-- workspace (mt.set_tenant without them is in part 00)
CREATE FUNCTION mt.set_tenant_subject(tenant uuid, sub text, role text DEFAULT NULL,
                                      workspace uuid DEFAULT NULL,
                                      is_local boolean DEFAULT true) RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_set_tenant_as' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.set_tenant_subject(uuid, text, text, uuid, boolean) FROM PUBLIC;

-- ---------------------------------------------------------------------
-- Management: callable by everyone; each checks the caller's permission
-- (roles:manage, workspaces:manage) in its current tenant
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.create_role(name text, permissions text[], parent text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_create_role' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.alter_role(name text, permissions text[], parent text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_alter_role' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.drop_role(name text) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_drop_role' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.grant_role(subject text, role text, workspace uuid DEFAULT NULL,
                              valid_until timestamptz DEFAULT NULL,
                              valid_from timestamptz DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_grant_role' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.revoke_role(subject text, role text, workspace uuid DEFAULT NULL) RETURNS boolean
    AS 'MODULE_PATHNAME', 'mt_revoke_role' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION mt.create_workspace(name text) RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_create_workspace' LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/authorization.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.workspaces IS 'Workspaces (projects, environments) inside a tenant; a role sees its current tenant''s rows, only the extension owner writes (mt.create_workspace).';
COMMENT ON TABLE mt.roles IS 'Roles: the built-in ones (no tenant) and each tenant''s own, with a parent and permission patterns; a role sees the built-in and its current tenant''s rows, only the extension owner writes (mt.create_role).';
COMMENT ON TABLE mt.role_assignments IS 'Roles assigned to subjects (users, service accounts, API keys as key:<id>) in a tenant, optionally in one workspace, from valid_from until valid_until; a role sees its current tenant''s rows, only the extension owner writes (mt.grant_role).';
COMMENT ON FUNCTION mt.has_permission(text) IS 'Whether the current subject holds the permission in the current tenant and workspace (resolved once, answered from memory; usable in policies).';
COMMENT ON FUNCTION mt.require_permission(text) IS 'Raises 42501 naming the permission unless the current subject holds it in the current tenant and workspace.';
COMMENT ON FUNCTION mt.current_workspace() IS 'The workspace of the current context (token claim wid, the API key''s workspace, mt.set_tenant_subject), or NULL.';
COMMENT ON FUNCTION mt.workspace_visible(uuid) IS 'Whether rows of that workspace are visible to the current subject: NULL, the current workspace, or any when its role spans workspaces (policies of workspace columns).';
COMMENT ON FUNCTION mt.set_tenant_subject(uuid, text, text, uuid, boolean) IS 'Privileged (back office): enters the tenant''s context as a subject, with a role trusted as given and a workspace, SET LOCAL by default.';
COMMENT ON FUNCTION mt.create_role(text, text[], text) IS 'Creates a custom role in the current tenant (needs roles:manage and every permission it gives); 42710 if the name is taken.';
COMMENT ON FUNCTION mt.alter_role(text, text[], text) IS 'Replaces the permissions and parent of a custom role of the current tenant (needs roles:manage); 42P19 for a parent cycle.';
COMMENT ON FUNCTION mt.drop_role(text) IS 'Drops a custom role of the current tenant that is neither assigned nor a parent (needs roles:manage); 2BP01 otherwise.';
COMMENT ON FUNCTION mt.grant_role(text, text, uuid, timestamptz, timestamptz) IS 'Assigns a role to a subject in the current tenant, optionally in one workspace and for a period (needs roles:manage and the role''s permissions); a second grant replaces the period.';
COMMENT ON FUNCTION mt.revoke_role(text, text, uuid) IS 'Removes an assignment in the current tenant (needs roles:manage); true if there was one; every session sees it at its next transaction.';
COMMENT ON FUNCTION mt.create_workspace(text) IS 'Creates a workspace in the current tenant (needs workspaces:manage) and returns its id.';
-- multitenant install script, part 70: export and import of one tenant
-- (src/tenant_export.c; doc/isolation-levels.md, "Export and import one
-- tenant").  Back office only: EXECUTE is revoked from PUBLIC.

CREATE FUNCTION mt.export_tenant(tenant uuid)
    RETURNS TABLE (section text, name text, data text)
    AS 'MODULE_PATHNAME', 'mt_export_tenant' LANGUAGE C STABLE PARALLEL UNSAFE;
CREATE FUNCTION mt.import_tenant(source regclass, new_tenant uuid DEFAULT NULL, new_slug text DEFAULT NULL)
    RETURNS TABLE (item text, expected bigint, imported bigint, ok boolean, detail text)
    AS 'MODULE_PATHNAME', 'mt_import_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION mt.export_tenant(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.import_tenant(regclass, uuid, text) FROM PUBLIC;

COMMENT ON FUNCTION mt.export_tenant(uuid) IS 'Privileged (back office): one tenant''s rows of every isolated table in foreign-key order and its extension state (registry row, custom plan, quotas, API key hashes, consents, GDPR requests, usage, audit chain), as (section, name, data) rows for COPY ... TO STDOUT.';
COMMENT ON FUNCTION mt.import_tenant(regclass, uuid, text) IS 'Privileged (back office): loads an export of mt.export_tenant from a staging table (section, name, data), optionally under a new tenant id and slug, in the caller''s transaction; checks version, counts and the audit chain and returns a report.';
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
-- multitenant install script: the tenant context from a gateway's request (issue 17 item 2;
-- src/request.c, doc/identity.md "PostgREST and Supabase")
CREATE FUNCTION mt.enter_from_request() RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_enter_from_request' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mt.enter_from_request() IS 'PostgREST db-pre-request: the bearer token of the Authorization header in request.headers enters the verified context for the transaction (as SET LOCAL multitenant.token); no header: no context; a malformed header or a token that does not verify: 28000. Never reads request.jwt.claims. Returns the tenant or NULL.';
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
-- ---------------------------------------------------------------------
-- Insight: per-tenant statistics from shared memory (doc/observability.md)
-- ---------------------------------------------------------------------
CREATE FUNCTION mt.stat_tenants_rows()
    RETURNS TABLE (scope text, tenant_id uuid, auth_ok bigint, auth_failed bigint,
                   tokens_entered bigint, metered_calls bigint, quota_refusals bigint,
                   rate_limited bigint, audit_events bigint,
                   since timestamptz, last_active timestamptz)
    AS 'MODULE_PATHNAME', 'mt_stat_tenants_rows' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE VIEW mt.stat_tenants AS
    SELECT scope, tenant_id, auth_ok, auth_failed, tokens_entered, metered_calls,
           quota_refusals, rate_limited, audit_events, since, last_active
    FROM mt.stat_tenants_rows();
GRANT SELECT ON mt.stat_tenants TO PUBLIC;
CREATE FUNCTION mt.stat_tenants_reset() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mt_stat_tenants_reset' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.stat_tenants_reset() FROM PUBLIC;

COMMENT ON FUNCTION mt.stat_tenants_rows() IS 'The rows of mt.stat_tenants: inside a tenant context that tenant''s own row, outside one every row of the database for superusers and members of pg_read_all_stats (pg_monitor), none for anyone else.';
COMMENT ON VIEW mt.stat_tenants IS 'Per-tenant statistics counted in shared memory (authentications, tokens entered, metered calls, quota and rate-limit refusals, audit events); scope none counts calls without a known tenant, scope evicted the sum of the tenants evicted from shared memory.';
COMMENT ON FUNCTION mt.stat_tenants_reset() IS 'Privileged (admins): removes every statistics row of this database from shared memory; returns how many there were.';
CREATE FUNCTION mt.metrics() RETURNS text
    AS 'MODULE_PATHNAME', 'mt_metrics' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION mt.metrics_series()
    RETURNS TABLE (series text, tenant_id uuid, tenant text, plan text, tenants bigint,
                   last_active timestamptz, auth_ok bigint, auth_failed bigint,
                   tokens_entered bigint, metered_calls bigint, quota_refusals bigint,
                   rate_limited bigint, audit_events bigint)
    AS 'MODULE_PATHNAME', 'mt_metrics_series' LANGUAGE C VOLATILE PARALLEL RESTRICTED;

COMMENT ON FUNCTION mt.metrics() IS 'Prometheus text exposition of the per-tenant statistics: series for the multitenant.metrics_top_tenants most active tenants, sums per plan, tenant counts; for superusers and pg_read_all_stats (pg_monitor) outside a tenant context.';
COMMENT ON FUNCTION mt.metrics_series() IS 'The numbers of mt.metrics() as rows (series tenant: the most active tenants; series plan: sums per plan), for postgres_exporter''s queries.yaml (contrib/prometheus).';
CREATE TABLE mt.security_event_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    tenant_id   uuid,
    kind        text NOT NULL,
    client      inet,
    subject     text,
    detail      text,
    recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX security_event_log_at ON mt.security_event_log (at);
CREATE INDEX security_event_log_tenant ON mt.security_event_log (tenant_id, at);
REVOKE ALL ON mt.security_event_log FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('mt.security_event_log', '');
SELECT pg_catalog.pg_extension_config_dump('mt.security_event_log_id_seq', '');
CREATE VIEW mt.security_events WITH (security_barrier = true) AS
    SELECT id, at, tenant_id, kind, client, subject, detail, recorded_at
    FROM mt.security_event_log
    WHERE CASE WHEN mt.current_tenant() IS NOT NULL
               THEN tenant_id OPERATOR(pg_catalog.=) mt.current_tenant()
               ELSE pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE') END;
GRANT SELECT ON mt.security_events TO PUBLIC;

COMMENT ON TABLE mt.security_event_log IS 'Security events (failed authentications, throttled clients, forged and expired tokens, quota breaches, audit chains found tampered, policy violations) written by the flush worker from shared memory; bounded by multitenant.security_event_max_age and security_event_max_rows; readable through mt.security_events.';
COMMENT ON VIEW mt.security_events IS 'Security events: inside a tenant context that tenant''s own, outside one every event for superusers and members of pg_read_all_stats (pg_monitor), none for anyone else.';
COMMENT ON INDEX mt.security_event_log_at IS 'Pruning by age (multitenant.security_event_max_age) and reading by time.';
COMMENT ON INDEX mt.security_event_log_tenant IS 'A tenant''s security events by time.';
CREATE TABLE mt.anomaly_findings (
    id          bigserial PRIMARY KEY,
    rule        text NOT NULL,
    score       float8 NOT NULL,
    tenant_id   uuid,
    subject     text,
    client      inet,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    evidence    jsonb NOT NULL,
    fingerprint text NOT NULL UNIQUE,
    detected_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON mt.anomaly_findings FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('mt.anomaly_findings', '');
SELECT pg_catalog.pg_extension_config_dump('mt.anomaly_findings_id_seq', '');
CREATE FUNCTION mt.detect_anomalies(since timestamptz DEFAULT pg_catalog.now() - interval '1 hour')
    RETURNS TABLE (rule text, score float8, tenant_id uuid, subject text, client inet,
                   first_seen timestamptz, last_seen timestamptz, evidence jsonb, new boolean)
    AS 'MODULE_PATHNAME', 'mt_detect_anomalies' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.detect_anomalies(timestamptz) FROM PUBLIC;

COMMENT ON TABLE mt.anomaly_findings IS 'Findings of mt.detect_anomalies(), one row per finding (by fingerprint), for a job to page on; readable by the extension owner and whom it grants.';
-- Known client networks per API key (src/api_keys.c flush; rule new_network of mt.detect_anomalies)
CREATE TABLE mt.api_key_networks (
    key_id     text COLLATE "C" NOT NULL REFERENCES mt.api_key_secrets (key_id) ON DELETE CASCADE,
    network    cidr NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (key_id, network)
);
CREATE INDEX api_key_networks_first_seen ON mt.api_key_networks (first_seen);
REVOKE ALL ON mt.api_key_networks FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('mt.api_key_networks', '');
COMMENT ON TABLE mt.api_key_networks IS 'Client networks (IPv4 /24, IPv6 /48) each API key was used from, with first and last use, written by the last-use flush from shared memory; the 32 most recently used per key; readable by the extension owner only; read by the new_network rule of mt.detect_anomalies().';
COMMENT ON INDEX mt.api_key_networks_first_seen IS 'The networks first seen since a time (rule new_network of mt.detect_anomalies()).';
COMMENT ON FUNCTION mt.detect_anomalies(timestamptz) IS 'Privileged (security operators): scored anomalies since a time (failure bursts per client, key and tenant; usage spikes over the tenant''s hourly baseline; usage outside its usual hours; an API key used from a network it was not used from before) with evidence; records new ones in mt.anomaly_findings and NOTIFYs mt_anomalies with counts only.';
-- multitenant install script: per-tenant security policies (issue 17 item 6;
-- src/security_policy.c, src/security_policy_sql.c, doc/identity.md "Security policies")
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
-- multitenant install script, last part: remember which functions were
-- installed without EXECUTE for PUBLIC, so that compliance check
-- MT-PRIV-002 notices when someone grants one of them to PUBLIC later.
-- A function is stored by its signature as text: regprocedure's output under
-- search_path = pg_catalog, pg_temp (schema-qualified, no spaces:
-- 'mt.tenant_token(uuid,interval,text,text)'), the form the compliance check
-- compares pg_proc with.  Not as regprocedure: function oids are not kept by
-- pg_upgrade, which refuses user tables with such a column.  An update
-- script that adds a row writes that form as a text literal.
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
CREATE TABLE mt.privileged_functions AS
SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text AS f
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'mt'::pg_catalog.regnamespace
  AND NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE');
-- back to the search_path CREATE EXTENSION runs the script with
SELECT pg_catalog.set_config('search_path', 'mt, pg_temp', true);
ALTER TABLE mt.privileged_functions ADD PRIMARY KEY (f);
GRANT SELECT ON mt.privileged_functions TO PUBLIC;

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/compliance.md, security.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.privileged_functions IS 'The functions installed without EXECUTE for PUBLIC (signatures as text, schema-qualified), so that compliance check MT-PRIV-002 notices a later grant to PUBLIC.';
