-- multitenant 0.2.0 -> 0.3.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.2.0 appears here too;
-- test/shell/extension_upgrade.sh checks that an updated 0.2.0 (and 0.1.0,
-- through 0.2.0) has exactly the objects of a fresh 0.3.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- pg_upgrade: mt.privileged_functions stores signatures as text (regprocedure's
-- output under search_path = pg_catalog, pg_temp: 'mt.f(uuid,text)'), not as
-- regprocedure, a type pg_upgrade refuses in user tables; rows are kept
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
ALTER TABLE mt.privileged_functions ALTER COLUMN f TYPE pg_catalog.text USING f::pg_catalog.text;
SELECT pg_catalog.set_config('search_path', 'mt, pg_temp', true);
COMMENT ON TABLE mt.privileged_functions IS 'The functions installed without EXECUTE for PUBLIC (signatures as text, schema-qualified), so that compliance check MT-PRIV-002 notices a later grant to PUBLIC.';
