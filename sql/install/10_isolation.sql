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
