-- multitenant install script, last part: remember which functions were
-- installed without EXECUTE for PUBLIC, so that compliance check
-- MT-PRIV-002 notices when someone grants one of them to PUBLIC later.
-- A function is stored by its signature as text: regprocedure's output under
-- search_path = pg_catalog, pg_temp (schema-qualified, no spaces:
-- 'mt.tenant_token(uuid,interval,text,text)'), the form the compliance check
-- compares pg_proc with.  Not as regprocedure: function oids are not kept by
-- pg_upgrade, which refuses user tables with such a column.  An update
-- script that adds a row writes that form as a text literal.
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
CREATE TABLE mt.privileged_functions AS
SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text AS f
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'mt'::pg_catalog.regnamespace
  AND NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE');
-- back to the search_path CREATE EXTENSION runs the script with
SELECT pg_catalog.set_config('search_path', 'mt, pg_temp', true);
ALTER TABLE mt.privileged_functions ADD PRIMARY KEY (f);
GRANT SELECT ON mt.privileged_functions TO PUBLIC;

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/compliance.md, security.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.privileged_functions IS 'The functions installed without EXECUTE for PUBLIC (signatures as text, schema-qualified), so that compliance check MT-PRIV-002 notices a later grant to PUBLIC.';
