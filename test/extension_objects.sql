-- Every object of the multitenant extension, one line each, in a form that
-- does not depend on oids or creation order: two databases hold the same
-- extension schema exactly when this prints the same lines.  Used by the
-- upgrade test (fresh install vs. ALTER EXTENSION ... UPDATE).
WITH ext AS (
    SELECT e.oid, e.extversion, e.extconfig, e.extcondition, e.extnamespace
    FROM pg_catalog.pg_extension e WHERE e.extname = 'multitenant'),
members AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
    WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid
      AND d.deptype = 'e'),
rels AS (
    SELECT c.* FROM pg_catalog.pg_class c JOIN members m
      ON m.classid = 'pg_catalog.pg_class'::regclass AND m.objid = c.oid),
lines AS (
    SELECT 'schema mt acl=' || coalesce(n.nspacl::text, '') AS line
    FROM pg_catalog.pg_namespace n, ext WHERE n.oid = ext.extnamespace
  UNION ALL
    SELECT 'config ' || c::regclass::text || ' where=' || coalesce(w, '')
    FROM ext, unnest(ext.extconfig, ext.extcondition) AS u(c, w)
  UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text
        || ' acl=' || coalesce(p.proacl::text, '')
        || ' comment=' || coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '')
        || E'\n' || CASE WHEN p.prokind IN ('f', 'p') THEN pg_catalog.pg_get_functiondef(p.oid)
                         ELSE p.prokind::text END
    FROM pg_catalog.pg_proc p JOIN members m
      ON m.classid = 'pg_catalog.pg_proc'::regclass AND m.objid = p.oid
  UNION ALL
    SELECT 'relation ' || c.oid::regclass::text || ' kind=' || c.relkind::text
        || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity || ' replident=' || c.relreplident::text
        || ' acl=' || coalesce(c.relacl::text, '')
        || ' options=' || coalesce(c.reloptions::text, '')
        || ' comment=' || coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), '')
        || CASE WHEN c.relkind IN ('v', 'm') THEN E'\n' || pg_catalog.pg_get_viewdef(c.oid) ELSE '' END
    FROM rels c
  UNION ALL
    SELECT 'column ' || c.oid::regclass::text || ' #' || a.attnum || ' ' || a.attname
        || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
        || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
        || coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '')
        || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
        || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END
        || ' acl=' || coalesce(a.attacl::text, '')
        || ' comment=' || coalesce(pg_catalog.col_description(c.oid, a.attnum), '')
    FROM rels c
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'c', 'f')
  UNION ALL
    SELECT 'constraint ' || con.conrelid::regclass::text || ' ' || con.conname || ' '
        || pg_catalog.pg_get_constraintdef(con.oid)
    FROM pg_catalog.pg_constraint con JOIN rels c ON c.oid = con.conrelid
  UNION ALL
    SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
    FROM pg_catalog.pg_index i JOIN rels c ON c.oid = i.indrelid
  UNION ALL
    SELECT 'trigger ' || pg_catalog.pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
    FROM pg_catalog.pg_trigger t JOIN rels c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal
  UNION ALL
    SELECT 'policy ' || pol.polrelid::regclass::text || ' ' || pol.polname
        || ' ' || pol.polcmd::text || ' permissive=' || pol.polpermissive
        || ' roles=' || pol.polroles::regrole[]::text
        || ' using=' || coalesce(pg_catalog.pg_get_expr(pol.polqual, pol.polrelid), '')
        || ' check=' || coalesce(pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid), '')
    FROM pg_catalog.pg_policy pol JOIN rels c ON c.oid = pol.polrelid
  UNION ALL
    SELECT 'sequence ' || s.seqrelid::regclass::text || ' ' || pg_catalog.format_type(s.seqtypid, NULL)
        || ' start=' || s.seqstart || ' inc=' || s.seqincrement || ' cycle=' || s.seqcycle
    FROM pg_catalog.pg_sequence s JOIN rels c ON c.oid = s.seqrelid
  UNION ALL
    SELECT 'type ' || t.oid::regtype::text || ' ' || t.typtype::text
        || coalesce(' labels=' || (SELECT pg_catalog.string_agg(e.enumlabel::text, ',' ORDER BY e.enumsortorder)
                                   FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid), '')
        || coalesce(' base=' || pg_catalog.format_type(NULLIF(t.typbasetype, 0), t.typtypmod), '')
    FROM pg_catalog.pg_type t JOIN members m
      ON m.classid = 'pg_catalog.pg_type'::regclass AND m.objid = t.oid
  UNION ALL
    SELECT 'event trigger ' || et.evtname || ' on ' || et.evtevent
        || ' tags=' || coalesce(et.evttags::text, '') || ' fn=' || et.evtfoid::regproc::text
        || ' enabled=' || et.evtenabled::text
        || ' comment=' || coalesce(pg_catalog.obj_description(et.oid, 'pg_event_trigger'), '')
    FROM pg_catalog.pg_event_trigger et JOIN members m
      ON m.classid = 'pg_catalog.pg_event_trigger'::regclass AND m.objid = et.oid
  UNION ALL
    SELECT 'other member ' || m.classid::regclass::text || ' '
        || pg_catalog.pg_describe_object(m.classid, m.objid, 0)
    FROM members m
    WHERE m.classid NOT IN ('pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_class'::regclass,
                            'pg_catalog.pg_type'::regclass, 'pg_catalog.pg_event_trigger'::regclass)
)
SELECT line FROM lines ORDER BY line;
