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
