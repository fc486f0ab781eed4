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

-- ---------------------------------------------------------------------
-- Hybrid isolation, items 1 and 2: the placement registry (levels shared /
-- schema / database / shard, plans say which they allow), mt.tenant_placement,
-- mt.route, schema per tenant (mt.provision_schema and its event triggers);
-- sql/install/00_core.sql (mt.plans.isolation_levels) and 12_placement.sql
-- ---------------------------------------------------------------------
ALTER TABLE mt.plans ADD COLUMN isolation_levels text[] NOT NULL DEFAULT '{shared}'
    CHECK (pg_catalog.cardinality(isolation_levels) > 0
           AND isolation_levels <@ '{shared,schema,database,shard}'::text[]);
UPDATE mt.plans SET isolation_levels = CASE name
        WHEN 'pro' THEN '{shared,schema}'::text[]
        WHEN 'enterprise' THEN '{shared,schema,database,shard}'::text[]
        ELSE '{shared}'::text[] END
    WHERE builtin;
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
INSERT INTO mt.privileged_functions VALUES
    ('mt.provision_schema(uuid,name,name)'),
    ('mt.tenant_schema_guard()'),
    ('mt.tenant_schema_protect_new()'),
    ('mt.tenant_schema_dropped()');

-- hybrid isolation, item 3: the context's schema resolvable without building names
CREATE FUNCTION mt.tenant_schema() RETURNS name
    AS 'MODULE_PATHNAME', 'mt_tenant_schema' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION mt.use_tenant_schema() RETURNS name
    AS 'MODULE_PATHNAME', 'mt_use_tenant_schema' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mt.tenant_schema() IS 'The schema of the verified context''s tenant (schema level), or NULL.';
COMMENT ON FUNCTION mt.use_tenant_schema() IS 'Sets search_path for the rest of the transaction (as SET LOCAL) to the schema of the verified context''s tenant followed by the caller''s other schemas, without any tenant schema; returns the schema; 42501 without a context, 55000 for a tenant without a schema.';

-- hybrid isolation, item 7: template changes rolled out to every tenant schema
CREATE FUNCTION mt.apply_template(template_schema name,
    OUT tenant uuid, OUT schema_name name, OUT status text, OUT detail text) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mt_apply_template' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.apply_template(name) FROM PUBLIC;
COMMENT ON FUNCTION mt.apply_template(name) IS 'Privileged (the migration role): brings every tenant schema provisioned from the template up to it (new tables, sequences, columns, constraints, indexes, foreign keys), each tenant in its own subtransaction; one row per tenant: applied, unchanged, skipped (differences it does not apply, nothing applied) or failed (rolled back), with the detail.';
INSERT INTO mt.privileged_functions VALUES ('mt.apply_template(name)');

-- ---------------------------------------------------------------------
-- Authorization inside a tenant (issue 16, src/authz.c, doc/authorization.md):
-- roles, assignments, workspaces, the checks, the back office's set_tenant
-- with a subject, role and workspace.
-- ---------------------------------------------------------------------

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
    (NULL, 'admin',   NULL, '{*:read,*:write,roles:manage,workspaces:manage}', true),
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
INSERT INTO mt.privileged_functions (f) VALUES ('mt.set_tenant_subject(uuid,text,text,uuid,boolean)');
COMMENT ON FUNCTION mt.tenants_changed() IS 'Internal: statement trigger on mt.tenants, mt.api_key_secrets, mt.roles, mt.role_assignments and mt.workspaces that invalidates every backend''s tenant-status, key and permission caches at commit.';

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
-- DROP FUNCTION loses the EXECUTE grants a DBA gave on the old signature:
-- note them (this transaction only) and give them on the new one below
SELECT pg_catalog.set_config('mt.upgrade_grantees_create_api_key',
    coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ')
              FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a, pg_catalog.pg_roles r
              WHERE p.oid = 'mt.create_api_key(uuid,text,text[],timestamptz,text)'::pg_catalog.regprocedure
                AND a.privilege_type = 'EXECUTE' AND r.oid = a.grantee AND a.grantee <> p.proowner), ''),
    true);
DROP FUNCTION mt.create_api_key(uuid, text, text[], timestamptz, text);
CREATE FUNCTION mt.create_api_key(tenant uuid, name text, scopes text[] DEFAULT '{}',
                                  expires_at timestamptz DEFAULT NULL,
                                  mode text DEFAULT 'live', workspace uuid DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_create_api_key_ws' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.create_api_key(uuid, text, text[], timestamptz, text, uuid) FROM PUBLIC;
DO $$
DECLARE
    grantees text := pg_catalog.current_setting('mt.upgrade_grantees_create_api_key', true);
BEGIN
    IF grantees <> '' THEN
        EXECUTE 'GRANT EXECUTE ON FUNCTION mt.create_api_key(uuid, text, text[], timestamptz, text, uuid) TO ' || grantees;
    END IF;
END $$;
COMMENT ON FUNCTION mt.create_api_key(uuid, text, text[], timestamptz, text, uuid) IS 'Privileged (key administrators): creates an API key for an active tenant, optionally bound to one of its workspaces, and returns its plaintext, visible only this once.';
UPDATE mt.privileged_functions SET f = 'mt.create_api_key(uuid,text,text[],timestamp with time zone,text,uuid)'
 WHERE f = 'mt.create_api_key(uuid,text,text[],timestamp with time zone,text)';

-- authorization options of isolated tables (mt.enable_isolation(tbl,
-- workspace_column => ..., permissions => true), src/isolation.c)
ALTER TABLE mt.isolated_tables ADD COLUMN workspace_column name;
ALTER TABLE mt.isolated_tables ADD COLUMN permissions boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN mt.isolated_tables.workspace_column IS 'The workspace column whose rows only mt.workspace_visible() workspaces see (generated policy mt_workspace_isolation), or NULL.';
COMMENT ON COLUMN mt.isolated_tables.permissions IS 'Whether reads need <table>:read and writes <table>:write (generated policies mt_permission_*).';
-- DROP FUNCTION loses the EXECUTE grants a DBA gave on the old signature:
-- note them (this transaction only) and give them on the new one below
SELECT pg_catalog.set_config('mt.upgrade_grantees_enable_isolation',
    coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.rolname), ', ')
              FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a, pg_catalog.pg_roles r
              WHERE p.oid = 'mt.enable_isolation(regclass,name)'::pg_catalog.regprocedure
                AND a.privilege_type = 'EXECUTE' AND r.oid = a.grantee AND a.grantee <> p.proowner), ''),
    true);
DROP FUNCTION mt.enable_isolation(regclass, name);
CREATE FUNCTION mt.enable_isolation(tbl regclass, tenant_column name DEFAULT 'tenant_id',
                                    workspace_column name DEFAULT NULL,
                                    permissions boolean DEFAULT false) RETURNS void
    AS 'MODULE_PATHNAME', 'mt_enable_isolation_authz' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.enable_isolation(regclass, name, name, boolean) FROM PUBLIC;
DO $$
DECLARE
    grantees text := pg_catalog.current_setting('mt.upgrade_grantees_enable_isolation', true);
BEGIN
    IF grantees <> '' THEN
        EXECUTE 'GRANT EXECUTE ON FUNCTION mt.enable_isolation(regclass, name, name, boolean) TO ' || grantees;
    END IF;
END $$;
COMMENT ON FUNCTION mt.enable_isolation(regclass, name, name, boolean) IS 'Privileged (the migration role, which must own the table): isolates a table and its partitions by tenant with forced row-level security and generated policies, optionally by workspace and with read/write permissions.';
UPDATE mt.privileged_functions SET f = 'mt.enable_isolation(regclass,name,name,boolean)'
 WHERE f = 'mt.enable_isolation(regclass,name)';

-- hybrid isolation, database per tenant: mt.provision_database records the placement
CREATE FUNCTION mt.provision_database(tenant uuid, host text, port integer, dbname name)
    RETURNS void
    AS 'MODULE_PATHNAME', 'mt_provision_database' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.provision_database(uuid, text, integer, name) FROM PUBLIC;
COMMENT ON FUNCTION mt.provision_database(uuid, text, integer, name) IS 'Privileged (the migration role): records that a tenant of the shared level lives in its own database (host, port, database name; host and port NULL = the router''s defaults; never a password); the plan must allow the database level. Creating and filling that database is the client''s part (bin/mt-tenant move-to-database).';
INSERT INTO mt.privileged_functions VALUES ('mt.provision_database(uuid,text,integer,name)');

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
