-- multitenant install script, part 70: export and import of one tenant
-- (src/tenant_export.c; doc/isolation-levels.md, "Export and import one
-- tenant").  Back office only: EXECUTE is revoked from PUBLIC.

CREATE FUNCTION mt.export_tenant(tenant uuid)
    RETURNS TABLE (section text, name text, data text)
    AS 'MODULE_PATHNAME', 'mt_export_tenant' LANGUAGE C STABLE PARALLEL UNSAFE;
CREATE FUNCTION mt.import_tenant(source regclass, new_tenant uuid DEFAULT NULL, new_slug text DEFAULT NULL)
    RETURNS TABLE (item text, expected bigint, imported bigint, ok boolean, detail text)
    AS 'MODULE_PATHNAME', 'mt_import_tenant' LANGUAGE C VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION mt.export_tenant(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.import_tenant(regclass, uuid, text) FROM PUBLIC;

COMMENT ON FUNCTION mt.export_tenant(uuid) IS 'Privileged (back office): one tenant''s rows of every isolated table in foreign-key order and its extension state (registry row, custom plan, quotas, API key hashes, consents, GDPR requests, usage, audit chain), as (section, name, data) rows for COPY ... TO STDOUT.';
COMMENT ON FUNCTION mt.import_tenant(regclass, uuid, text) IS 'Privileged (back office): loads an export of mt.export_tenant from a staging table (section, name, data), optionally under a new tenant id and slug, in the caller''s transaction; checks version, counts and the audit chain and returns a report.';
