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
