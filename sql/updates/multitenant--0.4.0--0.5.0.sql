-- multitenant 0.4.0 -> 0.5.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.4.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.4.0 (and every earlier release, through the chain of
-- scripts) has exactly the objects of a fresh 0.5.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- moving a tenant between the shared and the schema level: mt.move_tenant
CREATE FUNCTION mt.move_tenant(tenant uuid, to_level text, target text DEFAULT NULL,
    OUT item text, OUT rows bigint, OUT detail text) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mt_move_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION mt.move_tenant(uuid, text, text) FROM PUBLIC;
COMMENT ON FUNCTION mt.move_tenant(uuid, text, text) IS 'Privileged (the migration role): moves a tenant between the shared level and its own schema (to_level schema, target = the template schema; to_level shared) in the caller''s READ COMMITTED transaction: rows of every isolated table moved with their ids, sequences advanced, placement switched, tenant.moved audited; the tenant''s transactions that start meanwhile wait for the move''s end. On Citus, to_level shard (target = an optional node host:port) gives a shared tenant its own shard group. One row per table (or co-location group) and one for the placement.';
INSERT INTO mt.privileged_functions VALUES ('mt.move_tenant(uuid,text,text)');
