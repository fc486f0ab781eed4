-- multitenant 0.1.0 -> 0.2.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.1.0 appears here too;
-- test/shell/extension_upgrade.sh checks that an updated 0.1.0 has exactly
-- the objects of a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- auto-isolated schemas follow ALTER SCHEMA ... RENAME
DROP EVENT TRIGGER mt_ddl_isolate_new;
CREATE EVENT TRIGGER mt_ddl_isolate_new ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'ALTER SCHEMA')
    EXECUTE FUNCTION mt.ddl_isolate_new();

-- the API-key throttle counts failures per (address, key id): one more column
DELETE FROM mt.privileged_functions WHERE f = 'mt.api_key_throttle()'::regprocedure;
DROP FUNCTION mt.api_key_throttle();
CREATE FUNCTION mt.api_key_throttle()
    RETURNS TABLE (client inet, kind text, failures integer,
                   window_start timestamptz, blocked_until timestamptz, key_id text)
    AS 'MODULE_PATHNAME', 'mt_api_key_throttle' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
REVOKE ALL ON FUNCTION mt.api_key_throttle() FROM PUBLIC;
INSERT INTO mt.privileged_functions VALUES ('mt.api_key_throttle()'::regprocedure);

-- the audit row trigger runs as the writer (it checks the writer's verified
-- tenant and appends as the extension owner itself)
ALTER FUNCTION mt.audit_row_change() SECURITY INVOKER;
ALTER FUNCTION mt.audit_row_change() RESET search_path;
