-- multitenant install script, last part: remember which functions were
-- installed without EXECUTE for PUBLIC, so that compliance check
-- MT-PRIV-002 notices when someone grants one of them to PUBLIC later.
CREATE TABLE mt.privileged_functions AS
SELECT p.oid::regprocedure AS f
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'mt'::regnamespace
  AND NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE');
ALTER TABLE mt.privileged_functions ADD PRIMARY KEY (f);
GRANT SELECT ON mt.privileged_functions TO PUBLIC;

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/compliance.md, security.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.privileged_functions IS 'The functions installed without EXECUTE for PUBLIC, so that compliance check MT-PRIV-002 notices a later grant to PUBLIC.';
