-- pg_upgrade accepts the extension's tables: no column of a relation in
-- schema mt (tables, indexes, views) has a type pg_upgrade --check refuses
-- in user tables, directly or through an array, a domain, a composite or a
-- range over it: the reg* types whose oids pg_upgrade does not keep (all but
-- regclass, regrole, regtype), system-defined composite types, aclitem
-- (refused by pg_upgrade 16+ from a 15 cluster), unknown and sql_identifier.
-- test/shell/ops_pg_upgrade.sh runs the real pg_upgrade; this is the quick
-- catalog check that names the offending column.  And
-- mt.privileged_functions (which held regprocedure before 0.3.0) stores
-- signatures as text in the form compliance check MT-PRIV-002 matches.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE FUNCTION pg_temp.refused_columns() RETURNS text[] LANGUAGE sql AS $$
    WITH RECURSIVE refused(oid) AS (
        SELECT t.oid FROM pg_catalog.pg_type t
        WHERE (t.typnamespace = 'pg_catalog'::regnamespace
               AND t.typname IN ('regcollation', 'regconfig', 'regdictionary', 'regnamespace',
                                 'regoper', 'regoperator', 'regproc', 'regprocedure',
                                 'aclitem', 'unknown'))
           OR t.oid = 'information_schema.sql_identifier'::regtype
           OR (t.typtype = 'c' AND t.oid < 16384)            -- system-defined composites
      UNION
        SELECT t.oid FROM refused r JOIN pg_catalog.pg_type t ON
               (t.typtype = 'd' AND t.typbasetype = r.oid)
            OR (t.typelem = r.oid AND t.typsubscript = 'pg_catalog.array_subscript_handler'::regproc)
            OR (t.typtype = 'c' AND EXISTS (SELECT FROM pg_catalog.pg_attribute a
                                            WHERE a.attrelid = t.typrelid AND a.atttypid = r.oid
                                              AND NOT a.attisdropped))
            OR (t.typtype = 'r' AND EXISTS (SELECT FROM pg_catalog.pg_range g
                                            WHERE g.rngtypid = t.oid AND g.rngsubtype = r.oid))
    )
    SELECT coalesce(array_agg(c.oid::regclass::text || '.' || a.attname || ' '
                              || a.atttypid::regtype::text ORDER BY c.oid::regclass::text, a.attname), '{}')
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relnamespace = 'mt'::regnamespace
      AND a.atttypid IN (SELECT oid FROM refused)
$$;
\set QUIET 0

SELECT plan(5);

SELECT is(pg_temp.refused_columns(), '{}'::text[],
          'no column in schema mt has a type pg_upgrade refuses in user tables');

-- the check above sees such a column (it would have listed the old one)
CREATE TABLE mt.pgu_probe (f regprocedure, n regnamespace[]);
SELECT is(pg_temp.refused_columns(),
          '{"mt.pgu_probe.f regprocedure","mt.pgu_probe.n regnamespace[]"}'::text[],
          'the check names reg* columns and arrays of them');
DROP TABLE mt.pgu_probe;

SELECT is(format_type(atttypid, atttypmod), 'text', 'mt.privileged_functions.f is text')
FROM pg_attribute WHERE attrelid = 'mt.privileged_functions'::regclass AND attname = 'f';

-- every row names an extension function in regprocedure's output under the
-- compliance check's search_path
SET search_path = pg_catalog, pg_temp, public;   -- public: pgTAP
SELECT is((SELECT count(*)::int FROM mt.privileged_functions pf
           WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_proc p
                             WHERE p.pronamespace = 'mt'::regnamespace
                               AND p.oid::regprocedure::text = pf.f)),
          0, 'every recorded signature matches a function of schema mt');
SELECT ok((SELECT count(*) > 20 AND bool_and(f LIKE 'mt.%(%)') FROM mt.privileged_functions),
          'signatures are schema-qualified');
RESET search_path;

SELECT * FROM finish();
