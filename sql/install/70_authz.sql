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
