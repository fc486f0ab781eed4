-- Every function, table, view and event trigger of the extension (the
-- members of extension multitenant, found through pg_depend) carries a
-- COMMENT, so that \df+ mt.*, \dt+ mt.* and \dv+ mt.* document it, both in a
-- fresh install and in a 0.1.0 database updated by ALTER EXTENSION UPDATE
-- (the update script must add the same comments).  A new object added to
-- sql/install/ without a COMMENT ON fails here; the failure lists the
-- objects that lack one.  The comment of every function PUBLIC cannot
-- execute says so: "Privileged" (grant it to an admin role, named in the
-- comment) or "Internal" (a trigger function the extension attaches itself).
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE FUNCTION pg_temp.members(cls regclass) RETURNS SETOF oid LANGUAGE sql AS $$
    SELECT d.objid
    FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e
      ON d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = e.oid
    WHERE e.extname = 'multitenant' AND d.deptype = 'e' AND d.classid = cls
$$;
-- the members of one kind that have no (or a blank) comment
CREATE FUNCTION pg_temp.undocumented(kind text) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM (
        SELECT p.oid::regprocedure::text AS name, 'function' AS k,
               pg_catalog.obj_description(p.oid, 'pg_proc') AS c
        FROM pg_catalog.pg_proc p WHERE p.oid IN (SELECT pg_temp.members('pg_catalog.pg_proc'))
      UNION ALL
        SELECT c.oid::regclass::text,
               CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END,
               pg_catalog.obj_description(c.oid, 'pg_class')
        FROM pg_catalog.pg_class c WHERE c.oid IN (SELECT pg_temp.members('pg_catalog.pg_class'))
          AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
      UNION ALL
        SELECT et.evtname::text, 'event trigger',
               pg_catalog.obj_description(et.oid, 'pg_event_trigger')
        FROM pg_catalog.pg_event_trigger et
        WHERE et.oid IN (SELECT pg_temp.members('pg_catalog.pg_event_trigger'))
    ) o WHERE k = kind AND coalesce(btrim(c), '') = ''
$$;
\set QUIET 0

SELECT plan(12);

-- guard against a vacuous pass (the member lookup finding nothing)
SELECT cmp_ok((SELECT count(*)::int FROM pg_temp.members('pg_catalog.pg_proc')), '>=', 50,
              'the extension''s functions are found through pg_depend');
SELECT cmp_ok((SELECT count(*)::int FROM pg_catalog.pg_class
               WHERE oid IN (SELECT pg_temp.members('pg_catalog.pg_class')) AND relkind IN ('r', 'v')), '>=', 20,
              'the extension''s tables and views are found through pg_depend');

SELECT is(pg_temp.undocumented('function'), '{}', 'every function and procedure of the extension has a comment');
SELECT is(pg_temp.undocumented('table'), '{}', 'every table of the extension has a comment');
SELECT is(pg_temp.undocumented('view'), '{}', 'every view of the extension has a comment');
SELECT is(pg_temp.undocumented('event trigger'), '{}', 'every event trigger of the extension has a comment');

-- who may call it: functions without EXECUTE for PUBLIC say so
SELECT is((SELECT coalesce(array_agg(p.oid::regprocedure::text ORDER BY 1), '{}')
           FROM pg_catalog.pg_proc p
           WHERE p.oid IN (SELECT pg_temp.members('pg_catalog.pg_proc'))
             AND NOT pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')
             AND p.prorettype NOT IN ('pg_catalog.trigger'::regtype, 'pg_catalog.event_trigger'::regtype)
             AND coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') !~ '^Privileged \(.+\): '),
          '{}', 'the comment of every privileged function starts with "Privileged (who): "');
SELECT is((SELECT coalesce(array_agg(p.oid::regprocedure::text ORDER BY 1), '{}')
           FROM pg_catalog.pg_proc p
           WHERE p.oid IN (SELECT pg_temp.members('pg_catalog.pg_proc'))
             AND p.prorettype IN ('pg_catalog.trigger'::regtype, 'pg_catalog.event_trigger'::regtype)
             AND coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') !~ '^Internal: '),
          '{}', 'the comment of every trigger function starts with "Internal: "');

-- the same after ALTER EXTENSION UPDATE from the previous release
\set QUIET 1
DROP EXTENSION multitenant;
CREATE EXTENSION multitenant VERSION '0.1.0';
ALTER EXTENSION multitenant UPDATE;
\set QUIET 0
SELECT is(pg_temp.undocumented('function'), '{}', 'updated from 0.1.0: every function has a comment');
SELECT is(pg_temp.undocumented('table'), '{}', 'updated from 0.1.0: every table has a comment');
SELECT is(pg_temp.undocumented('view'), '{}', 'updated from 0.1.0: every view has a comment');
SELECT is(pg_temp.undocumented('event trigger'), '{}', 'updated from 0.1.0: every event trigger has a comment');

SELECT * FROM finish();
