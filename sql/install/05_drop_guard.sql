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
