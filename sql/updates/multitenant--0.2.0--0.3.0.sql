-- multitenant 0.2.0 -> 0.3.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.2.0 appears here too;
-- test/shell/extension_upgrade.sh checks that an updated 0.2.0 (and 0.1.0,
-- through 0.2.0) has exactly the objects of a fresh 0.3.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

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
