-- multitenant 0.4.0 -> 0.5.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.4.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.4.0 (and every earlier release, through the chain of
-- scripts) has exactly the objects of a fresh 0.5.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- tenant-rest: a tenant placed at the schema or database level is refused by
-- the shared isolated tables; its level is cached per backend and
-- invalidated by the registry trigger (as mt.tenants; per row, so that the
-- empty DELETE of the sql_drop event trigger marks nothing)
CREATE TRIGGER tenant_placements_changed AFTER INSERT OR UPDATE OR DELETE ON mt.tenant_placements
    FOR EACH ROW EXECUTE FUNCTION mt.tenants_changed();
CREATE TRIGGER tenant_placements_truncated AFTER TRUNCATE ON mt.tenant_placements
    FOR EACH STATEMENT EXECUTE FUNCTION mt.tenants_changed();
ALTER TABLE mt.tenant_placements ENABLE ALWAYS TRIGGER tenant_placements_changed;
ALTER TABLE mt.tenant_placements ENABLE ALWAYS TRIGGER tenant_placements_truncated;
COMMENT ON FUNCTION mt.tenants_changed() IS 'Internal: statement trigger on mt.tenants, mt.api_key_secrets, mt.roles, mt.role_assignments and mt.workspaces (row trigger on mt.tenant_placements) that invalidates every backend''s tenant-status, placement-level, key and permission caches at commit.';
