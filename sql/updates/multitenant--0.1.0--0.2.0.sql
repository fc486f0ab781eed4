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
