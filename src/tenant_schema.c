/*-------------------------------------------------------------------------
 *
 * tenant_schema.c
 *	  Schema per tenant: mt.provision_schema (the tenant's schema cloned
 *	  from a template schema, no data, every table bound to the tenant),
 *	  mt.apply_template (template changes rolled out to every tenant
 *	  schema, each tenant in its own subtransaction),
 *	  and the event triggers that keep tenant schemas bound: tables created
 *	  in or moved into one get the generated policies, DDL that would
 *	  remove them is refused, a table cannot leave one nor sit below a
 *	  parent outside it, a tenant schema cannot be dropped, a renamed
 *	  one keeps its placement; mt.tenant_schema() and
 *	  mt.use_tenant_schema(), which make the schema of the verified
 *	  context's tenant resolvable without building names.
 *
 * A table in the schema of tenant T has row-level security enabled and
 * forced and two generated policies FOR ALL TO PUBLIC, USING and WITH
 * CHECK (mt.current_tenant() = 'T'::uuid): mt_schema_isolation
 * (RESTRICTIVE: whatever other policy a migration adds, only T's context
 * passes) and mt_schema_access (PERMISSIVE: the one that grants access).
 * No tenant column: the schema is the tenant.  Without a context, or in
 * another tenant's, nothing is visible and nothing can be written.
 *
 * DDL runs through SPI as the calling role (PostgreSQL's ownership and
 * CREATE checks apply), through isolation.c's mt_isolation_run_ddl, so
 * that the event triggers of both files let it through.  That DDL
 * evaluates the template's expressions (CHECKs validated on rows, new
 * columns' defaults, index expressions) with the caller's rights, so a
 * template is refused (42501, check_template_trusted) unless it and the
 * functions and domains its expressions use belong to roles that have
 * the caller's privileges already (SECURITY DEFINER functions excepted);
 * the same check (mt_require_trusted_code, exported) guards the tables
 * mt.move_tenant (tenant_move.c) copies rows into and out of.  The placement
 * row is written as the extension owner (placement.c's registry) in the
 * caller's transaction: an error anywhere leaves nothing behind.  No
 * shared state, no locks of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "context.h"
#include "isolation.h"
#include "placement.h"
#include "spi_util.h"
#include "tenant_schema.h"
#include "tenant_status.h"
#include "util.h"

#define SCHEMA_POLICY_RESTRICTIVE	"mt_schema_isolation"
#define SCHEMA_POLICY_PERMISSIVE	"mt_schema_access"

/*
 * What a template may hold that mt.provision_schema cannot clone, one
 * description per object ($1 = the template's oid).
 */
static const char *const uncloneable_sql =
"SELECT d FROM ("
" SELECT 1 AS o, c.relname::text AS n, pg_catalog.format('%s %s',"
"   CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'"
"     WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table'"
"     WHEN 'c' THEN 'composite type' WHEN 'I' THEN 'partitioned index' ELSE 'relation' END,"
"   c.oid::pg_catalog.regclass) AS d"
"  FROM pg_catalog.pg_class c WHERE c.relnamespace = $1 AND c.relkind NOT IN ('r', 'S', 'i')"
" UNION ALL"
" SELECT 2, c.relname::text, pg_catalog.format('table %s (a partition or inheritance child)', c.oid::pg_catalog.regclass)"
"  FROM pg_catalog.pg_class c WHERE c.relnamespace = $1"
"   AND EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid)"
" UNION ALL"
" SELECT 3, p.proname::text, pg_catalog.format('%s %s',"
"   CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function' ELSE 'function' END,"
"   p.oid::pg_catalog.regprocedure)"
"  FROM pg_catalog.pg_proc p WHERE p.pronamespace = $1"
" UNION ALL"
" SELECT 4, t.typname::text, pg_catalog.format('type %s', t.oid::pg_catalog.regtype)"
"  FROM pg_catalog.pg_type t WHERE t.typnamespace = $1 AND t.typrelid = 0"
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.oid = t.typelem AND e.typarray = t.oid)"
" UNION ALL"
" SELECT 5, g.tgname::text, pg_catalog.format('trigger %I on %s', g.tgname, g.tgrelid::pg_catalog.regclass)"
"  FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid"
"  WHERE c.relnamespace = $1 AND NOT g.tgisinternal"
" UNION ALL"
" SELECT 6, p.polname::text, pg_catalog.format('policy %I on %s (tenant schemas get generated policies)',"
"   p.polname, p.polrelid::pg_catalog.regclass)"
"  FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = $1"
" UNION ALL"
" SELECT 7, r.rulename::text, pg_catalog.format('rule %I on %s', r.rulename, r.ev_class::pg_catalog.regclass)"
"  FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class"
"  WHERE c.relnamespace = $1 AND c.relkind = 'r'"
" UNION ALL"
" SELECT 8, o.oprname::text, pg_catalog.format('operator %s', o.oid::pg_catalog.regoperator)"
"  FROM pg_catalog.pg_operator o WHERE o.oprnamespace = $1"
" UNION ALL"
" SELECT 9, x.collname::text, pg_catalog.format('collation %I', x.collname)"
"  FROM pg_catalog.pg_collation x WHERE x.collnamespace = $1"
" UNION ALL"
" SELECT 9, x.conname::text, pg_catalog.format('conversion %I', x.conname)"
"  FROM pg_catalog.pg_conversion x WHERE x.connamespace = $1"
" UNION ALL"
" SELECT 9, x.opcname::text, pg_catalog.format('operator class %I', x.opcname)"
"  FROM pg_catalog.pg_opclass x WHERE x.opcnamespace = $1"
" UNION ALL"
" SELECT 9, x.opfname::text, pg_catalog.format('operator family %I', x.opfname)"
"  FROM pg_catalog.pg_opfamily x WHERE x.opfnamespace = $1"
" UNION ALL"
" SELECT 9, x.cfgname::text, pg_catalog.format('text search configuration %I', x.cfgname)"
"  FROM pg_catalog.pg_ts_config x WHERE x.cfgnamespace = $1"
" UNION ALL"
" SELECT 9, x.dictname::text, pg_catalog.format('text search dictionary %I', x.dictname)"
"  FROM pg_catalog.pg_ts_dict x WHERE x.dictnamespace = $1"
" UNION ALL"
" SELECT 10, a.attname::text, pg_catalog.format('default of column %I of %s (%s: only a plain nextval of a template sequence is re-pointed)',"
"   a.attname, c.oid::pg_catalog.regclass, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid))"
"  FROM pg_catalog.pg_attrdef ad JOIN pg_catalog.pg_class c ON c.oid = ad.adrelid"
"  JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum"
"  WHERE c.relnamespace = $1 AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend dp"
"    JOIN pg_catalog.pg_class s ON s.oid = dp.refobjid AND s.relkind = 'S' AND s.relnamespace = $1"
"    WHERE dp.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND dp.objid = ad.oid"
"      AND dp.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
"      AND pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)"
"          <> pg_catalog.format('nextval(%L::regclass)', s.oid::pg_catalog.regclass::text))"
" UNION ALL"
" SELECT 11, k.conname::text, pg_catalog.format('foreign key %I of %s (%s)', k.conname, k.conrelid::pg_catalog.regclass,"
"   CASE WHEN k.confmatchtype = 'p' THEN 'MATCH PARTIAL' ELSE 'SET NULL/SET DEFAULT of some columns' END)"
"  FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid"
"  WHERE c.relnamespace = $1 AND k.contype = 'f' AND (k.confdelsetcols IS NOT NULL OR k.confmatchtype = 'p')"
") x ORDER BY o, n, d";

/*
 * The statements that bring schema $2 (oid $3; 0 while it does not exist
 * yet) up to template $1, in order: what is missing there by name is
 * created, nothing is changed or dropped.  Sequences (not identity ones:
 * LIKE makes those); tables (LIKE ... INCLUDING ALL EXCLUDING INDEXES:
 * columns, defaults, identity, generated columns, NOT NULL, CHECK,
 * statistics, column comments, storage, compression); columns a table
 * lacks (ALTER TABLE ... ADD COLUMN); defaults that call nextval on a
 * template sequence re-pointed to the schema's own copy, and OWNED BY;
 * PRIMARY KEY / UNIQUE / EXCLUDE / CHECK constraints and the other
 * indexes under the template's names (so that a later mt.apply_template
 * recognizes them); foreign keys (between template tables re-pointed
 * inside the schema, others kept); comments; the template's grants on
 * new tables and sequences (and on the schema when it is new).
 */
static const char *const clone_sql =
"WITH tt AS (SELECT c.*, EXISTS (SELECT 1 FROM pg_catalog.pg_class x WHERE x.relnamespace = $3"
"              AND x.relname = c.relname AND x.relkind = c.relkind) AS present"
"            FROM pg_catalog.pg_class c WHERE c.relnamespace = $1 AND c.relkind IN ('r', 'S')),"
" ident AS (SELECT d.objid FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
"           AND d.deptype = 'i' AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass),"
/* template sequences used by defaults: (attrdef oid, sequence name) */
" seqdef AS (SELECT ad.oid AS adoid, s.relname AS seqname, s.oid AS seqoid"
"            FROM pg_catalog.pg_attrdef ad"
"            JOIN pg_catalog.pg_depend dp ON dp.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND dp.objid = ad.oid"
"              AND dp.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
"            JOIN pg_catalog.pg_class s ON s.oid = dp.refobjid AND s.relkind = 'S' AND s.relnamespace = $1)"
"SELECT stmt FROM ("
" SELECT 1 AS o, s.relname::text AS n, pg_catalog.format("
"   'CREATE %sSEQUENCE %I.%I AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s',"
"   CASE WHEN s.relpersistence = 'u' THEN 'UNLOGGED ' ELSE '' END, $2, s.relname, q.seqtypid::pg_catalog.regtype,"
"   q.seqincrement, q.seqmin, q.seqmax, q.seqstart, q.seqcache,"
"   CASE WHEN q.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END) AS stmt"
"  FROM tt s JOIN pg_catalog.pg_sequence q ON q.seqrelid = s.oid"
"  WHERE s.relkind = 'S' AND NOT s.present AND s.oid NOT IN (SELECT objid FROM ident)"
" UNION ALL"
" SELECT 2, c.relname::text, pg_catalog.format('CREATE %sTABLE %I.%I (LIKE %s INCLUDING ALL EXCLUDING INDEXES)%s',"
"   CASE WHEN c.relpersistence = 'u' THEN 'UNLOGGED ' ELSE '' END, $2, c.relname, c.oid::pg_catalog.regclass,"
"   CASE WHEN c.reloptions IS NOT NULL"
"     THEN pg_catalog.format(' WITH (%s)', pg_catalog.array_to_string(c.reloptions, ', ')) ELSE '' END)"
"  FROM tt c WHERE c.relkind = 'r' AND NOT c.present"
" UNION ALL"
" SELECT 3, c.relname || '.' || pg_catalog.lpad(a.attnum::text, 5, '0'), pg_catalog.format('ALTER TABLE %I.%I ADD COLUMN %I %s%s%s%s',"
"   $2, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),"
"   CASE WHEN a.attcollation <> 0 AND a.attcollation <> (SELECT typcollation FROM pg_catalog.pg_type WHERE oid = a.atttypid)"
"     THEN ' COLLATE ' || a.attcollation::pg_catalog.regcollation::text ELSE '' END,"
"   CASE WHEN a.attidentity = 'a' THEN ' GENERATED ALWAYS AS IDENTITY'"
"        WHEN a.attidentity = 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY'"
"        WHEN a.attgenerated = 's' THEN ' GENERATED ALWAYS AS (' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) || ') STORED'"
"        WHEN sd.seqname IS NOT NULL THEN pg_catalog.format(' DEFAULT pg_catalog.nextval(%L::pg_catalog.regclass)',"
"                                                          pg_catalog.format('%I.%I', $2, sd.seqname))"
"        WHEN ad.oid IS NOT NULL THEN ' DEFAULT ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END,"
"   CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END)"
"  FROM tt c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
"  LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum"
"  LEFT JOIN seqdef sd ON sd.adoid = ad.oid"
"  WHERE c.relkind = 'r' AND c.present AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b"
"    JOIN pg_catalog.pg_class x ON x.oid = b.attrelid AND x.relnamespace = $3 AND x.relname = c.relname"
"    WHERE b.attname = a.attname AND b.attnum > 0 AND NOT b.attisdropped)"
" UNION ALL"
" SELECT 4, c.relname || '.' || a.attname, pg_catalog.format("
"   'ALTER TABLE %I.%I ALTER COLUMN %I SET DEFAULT pg_catalog.nextval(%L::pg_catalog.regclass)',"
"   $2, c.relname, a.attname, pg_catalog.format('%I.%I', $2, sd.seqname))"
"  FROM tt c JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid"
"  JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum"
"  JOIN seqdef sd ON sd.adoid = ad.oid"
"  WHERE c.relkind = 'r' AND NOT c.present"
" UNION ALL"
" SELECT 5, s.relname::text, pg_catalog.format('ALTER SEQUENCE %I.%I OWNED BY %I.%I.%I',"
"   $2, s.relname, $2, t.relname, a.attname)"
"  FROM tt s JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
"   AND d.objid = s.oid AND d.deptype = 'a' AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
"  JOIN pg_catalog.pg_class t ON t.oid = d.refobjid AND t.relnamespace = $1"
"  JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
"  WHERE s.relkind = 'S' AND NOT s.present"
" UNION ALL"
" SELECT 6, c.relname || '.' || k.contype::text || k.conname, pg_catalog.format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s',"
"   $2, c.relname, k.conname, pg_catalog.pg_get_constraintdef(k.oid))"
"  FROM pg_catalog.pg_constraint k JOIN tt c ON c.oid = k.conrelid"
"  WHERE c.relkind = 'r' AND (k.contype IN ('p', 'u', 'x') OR (k.contype = 'c' AND c.present))"
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint y JOIN pg_catalog.pg_class x ON x.oid = y.conrelid"
"     WHERE x.relnamespace = $3 AND x.relname = c.relname AND y.conname = k.conname)"
" UNION ALL"
" SELECT 7, i.relname::text, pg_catalog.replace(pg_catalog.pg_get_indexdef(x.indexrelid),"
"   ' ON ' || c.oid::pg_catalog.regclass::text || ' USING ', ' ON ' || pg_catalog.format('%I.%I', $2, c.relname) || ' USING ')"
"  FROM pg_catalog.pg_index x JOIN tt c ON c.oid = x.indrelid JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid"
"  WHERE c.relkind = 'r' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = x.indexrelid"
"     AND k.conrelid = c.oid AND k.contype IN ('p', 'u', 'x'))"
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class y WHERE y.relnamespace = $3 AND y.relname = i.relname)"
" UNION ALL"
" SELECT 8, c.relname || '.' || k.conname, pg_catalog.format("
"   'ALTER TABLE %I.%I ADD CONSTRAINT %I FOREIGN KEY (%s) REFERENCES %s (%s)%s ON UPDATE %s ON DELETE %s%s',"
"   $2, c.relname, k.conname,"
"   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY u.ord)"
"      FROM pg_catalog.unnest(k.conkey) WITH ORDINALITY u(num, ord)"
"      JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num),"
"   CASE WHEN r.relnamespace = $1 THEN pg_catalog.format('%I.%I', $2, r.relname)"
"        ELSE r.oid::pg_catalog.regclass::text END,"
"   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY u.ord)"
"      FROM pg_catalog.unnest(k.confkey) WITH ORDINALITY u(num, ord)"
"      JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num),"
"   CASE WHEN k.confmatchtype = 'f' THEN ' MATCH FULL' ELSE '' END,"
"   CASE k.confupdtype WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL'"
"     WHEN 'd' THEN 'SET DEFAULT' ELSE 'NO ACTION' END,"
"   CASE k.confdeltype WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL'"
"     WHEN 'd' THEN 'SET DEFAULT' ELSE 'NO ACTION' END,"
"   CASE WHEN k.condeferrable THEN ' DEFERRABLE INITIALLY '"
"     || CASE WHEN k.condeferred THEN 'DEFERRED' ELSE 'IMMEDIATE' END ELSE '' END)"
"  FROM pg_catalog.pg_constraint k JOIN tt c ON c.oid = k.conrelid"
"  JOIN pg_catalog.pg_class r ON r.oid = k.confrelid"
"  WHERE c.relkind = 'r' AND k.contype = 'f'"
"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint y JOIN pg_catalog.pg_class x ON x.oid = y.conrelid"
"     WHERE x.relnamespace = $3 AND x.relname = c.relname AND y.conname = k.conname)"
" UNION ALL"
" SELECT 9, c.relname::text, pg_catalog.format('COMMENT ON %s %I.%I IS %L',"
"   CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, $2, c.relname, ds.description)"
"  FROM tt c JOIN pg_catalog.pg_description ds ON ds.objoid = c.oid"
"   AND ds.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND ds.objsubid = 0"
"  WHERE NOT c.present AND c.oid NOT IN (SELECT objid FROM ident)"
" UNION ALL"
" SELECT 10, '', pg_catalog.format('GRANT %s ON SCHEMA %I TO %s%s', g.privilege_type, $2,"
"   CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,"
"   CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)"
"  FROM pg_catalog.pg_namespace ns, pg_catalog.aclexplode(ns.nspacl) g"
"  WHERE ns.oid = $1 AND g.grantee <> ns.nspowner AND $3 = 0"
" UNION ALL"
" SELECT 11, c.relname::text, pg_catalog.format('GRANT %s ON %s %I.%I TO %s%s', g.privilege_type,"
"   CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, $2, c.relname,"
"   CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,"
"   CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)"
"  FROM tt c, pg_catalog.aclexplode(c.relacl) g"
"  WHERE NOT c.present AND g.grantee <> c.relowner AND c.oid NOT IN (SELECT objid FROM ident)"
") x ORDER BY o, n, stmt";

/*
 * What mt.apply_template cannot bring schema $2 (oid $3) to from template
 * $1 without changing or dropping something: a column whose type or NOT
 * NULL differs, a column the template no longer has.
 */
static const char *const drift_sql =
"SELECT d FROM ("
" SELECT c.relname::text AS n, pg_catalog.format('column %I of %I.%I is %s in the template, %s here',"
"   a.attname, $2, c.relname, pg_catalog.format_type(a.atttypid, a.atttypmod),"
"   pg_catalog.format_type(b.atttypid, b.atttypmod)) AS d"
"  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
"  JOIN pg_catalog.pg_class x ON x.relnamespace = $3 AND x.relname = c.relname AND x.relkind = 'r'"
"  JOIN pg_catalog.pg_attribute b ON b.attrelid = x.oid AND b.attname = a.attname AND NOT b.attisdropped"
"  WHERE c.relnamespace = $1 AND c.relkind = 'r' AND (a.atttypid <> b.atttypid OR a.atttypmod <> b.atttypmod)"
" UNION ALL"
" SELECT c.relname::text, pg_catalog.format('column %I of %I.%I is %s in the template, %s here',"
"   a.attname, $2, c.relname, CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'nullable' END,"
"   CASE WHEN b.attnotnull THEN 'NOT NULL' ELSE 'nullable' END)"
"  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
"  JOIN pg_catalog.pg_class x ON x.relnamespace = $3 AND x.relname = c.relname AND x.relkind = 'r'"
"  JOIN pg_catalog.pg_attribute b ON b.attrelid = x.oid AND b.attname = a.attname AND NOT b.attisdropped"
"  WHERE c.relnamespace = $1 AND c.relkind = 'r' AND a.attnotnull <> b.attnotnull"
" UNION ALL"
" SELECT c.relname::text, pg_catalog.format('column %I of %I.%I is not in the template (dropped or renamed there)',"
"   b.attname, $2, c.relname)"
"  FROM pg_catalog.pg_class c"
"  JOIN pg_catalog.pg_class x ON x.relnamespace = $3 AND x.relname = c.relname AND x.relkind = 'r'"
"  JOIN pg_catalog.pg_attribute b ON b.attrelid = x.oid AND b.attnum > 0 AND NOT b.attisdropped"
"  WHERE c.relnamespace = $1 AND c.relkind = 'r' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
"    WHERE a.attrelid = c.oid AND a.attname = b.attname AND a.attnum > 0 AND NOT a.attisdropped)"
") x ORDER BY n, d";

/* the generated policies' expression, as pg_get_expr prints it */
static char *
schema_policy_expr(const pg_uuid_t *tenant)
{
	return psprintf("(mt.current_tenant() = '%s'::uuid)", mt_uuid_to_cstring(tenant));
}

/*
 * Bind one table of tenant's schema to the tenant: row-level security
 * enabled and forced, both generated policies exactly right.  Idempotent.
 * SPI connected, safe search_path.
 */
static void
protect_table(Oid relid, const pg_uuid_t *tenant)
{
	char	   *qname = mt_relation_name(relid);
	char	   *expr = schema_policy_expr(tenant);
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		rls,
				forced;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	rls = ((Form_pg_class) GETSTRUCT(tup))->relrowsecurity;
	forced = ((Form_pg_class) GETSTRUCT(tup))->relforcerowsecurity;
	ReleaseSysCache(tup);

	if (!rls || !forced)
		mt_isolation_run_ddl(psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY",
									  qname));
	mt_isolation_ensure_policy(relid, qname, SCHEMA_POLICY_RESTRICTIVE, false, expr, false);
	mt_isolation_ensure_policy(relid, qname, SCHEMA_POLICY_PERMISSIVE, true, expr, false);
}

/*
 * 0A000 naming every object of the template that cannot be cloned; before
 * anything is created.  SPI connected, safe search_path.
 */
static void
check_cloneable(Oid template_oid, const char *template)
{
	Datum		arg = ObjectIdGetDatum(template_oid);

	mt_spi_select(uncloneable_sql, 1, (Oid[]) {OIDOID}, &arg, NULL);
	if (SPI_processed > 0)
	{
		StringInfoData all;

		initStringInfo(&all);
		for (uint64 i = 0; i < SPI_processed; i++)
			appendStringInfo(&all, "%s%s", i > 0 ? "; " : "",
							 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("template schema \"%s\" holds %s, which mt.provision_schema cannot clone",
						template, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("Objects that cannot be cloned: %s.", all.data),
				 errhint("A template holds tables, sequences, indexes and constraints only; nothing was created or applied.")));
	}
}

/*
 * What runs, or could run, code of a role that does not have the
 * privileges of role $2 (the caller) when rows are copied into or out of
 * the relations of namespace $1 (0: none) and the relations $3 (oid[]),
 * with their partitions and inheritance children, with the caller's
 * rights: mt.provision_schema and mt.apply_template evaluating a
 * template's expressions, mt.move_tenant inserting and deleting a
 * tenant's rows with session_replication_role = replica.  Listed: the
 * namespace and the relations (their owner writes the defaults, CHECKs,
 * generated columns, index expressions, policies and triggers), their
 * triggers that fire under replica (enabled ALWAYS or REPLICA; not the
 * internal foreign-key triggers, which do not), the functions all these
 * call (directly, through an operator, or through a domain's constraints,
 * domains of domains and arrays of domains included; trigger functions
 * and their WHEN clauses, row-level security policies, rules enabled
 * ALWAYS or REPLICA) and the domains themselves (their owner can add a
 * constraint).  SECURITY DEFINER functions run as their owner whoever
 * calls them: they are not listed.  One description per object.
 */
static const char *const untrusted_sql =
"WITH RECURSIVE rels(relid) AS ("
"  SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relnamespace = $1"
"  UNION SELECT r FROM pg_catalog.unnest($3::pg_catalog.oid[]) r"
"  UNION SELECT i.inhrelid FROM rels JOIN pg_catalog.pg_inherits i ON i.inhparent = rels.relid),"
" objs(classid, objid) AS ("
"  SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, r.relid FROM rels r"
"  UNION ALL SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid, x.indexrelid"
"   FROM pg_catalog.pg_index x WHERE x.indrelid IN (SELECT relid FROM rels)"
"  UNION ALL SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass::pg_catalog.oid, ad.oid"
"   FROM pg_catalog.pg_attrdef ad WHERE ad.adrelid IN (SELECT relid FROM rels)"
"  UNION ALL SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::pg_catalog.oid, k.oid"
"   FROM pg_catalog.pg_constraint k WHERE k.conrelid IN (SELECT relid FROM rels)"
"  UNION ALL SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass::pg_catalog.oid, g.oid"
"   FROM pg_catalog.pg_trigger g WHERE g.tgrelid IN (SELECT relid FROM rels) AND g.tgenabled IN ('A', 'R')"
"  UNION ALL SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass::pg_catalog.oid, p.oid"
"   FROM pg_catalog.pg_policy p WHERE p.polrelid IN (SELECT relid FROM rels)"
"  UNION ALL SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass::pg_catalog.oid, w.oid"
"   FROM pg_catalog.pg_rewrite w WHERE w.ev_class IN (SELECT relid FROM rels) AND w.ev_enabled IN ('A', 'R')),"
" refs(classid, objid) AS ("
"  SELECT d.refclassid, d.refobjid FROM pg_catalog.pg_depend d"
"   JOIN objs o ON o.classid = d.classid AND o.objid = d.objid"
"  UNION"
"  SELECT x.classid, x.objid FROM refs r JOIN pg_catalog.pg_type t"
"   ON r.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND t.oid = r.objid,"
"   LATERAL (SELECT dd.refclassid AS classid, dd.refobjid AS objid FROM pg_catalog.pg_constraint k"
"     JOIN pg_catalog.pg_depend dd ON dd.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND dd.objid = k.oid"
"     WHERE k.contypid = t.oid"
"    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid, t.typbasetype WHERE t.typbasetype <> 0"
"    UNION ALL SELECT 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid, t.typelem WHERE t.typelem <> 0) x),"
" owned(o, d, owner) AS ("
"  SELECT 1, pg_catalog.format('schema %I', n.nspname), n.nspowner FROM pg_catalog.pg_namespace n WHERE n.oid = $1"
"  UNION ALL SELECT 2, pg_catalog.format('%s %s', CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END,"
"    c.oid::pg_catalog.regclass), c.relowner FROM pg_catalog.pg_class c"
"   WHERE c.oid IN (SELECT relid FROM rels) AND c.relkind <> 'i'"
"  UNION ALL SELECT 3, pg_catalog.format('trigger %I on %s (enabled %s)', g.tgname, c.oid::pg_catalog.regclass,"
"    CASE g.tgenabled WHEN 'A' THEN 'ALWAYS' ELSE 'REPLICA' END), c.relowner"
"   FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid"
"   WHERE g.tgrelid IN (SELECT relid FROM rels) AND g.tgenabled IN ('A', 'R')"
"  UNION ALL SELECT 4, pg_catalog.format('function %s', p.oid::pg_catalog.regprocedure), p.proowner"
"   FROM pg_catalog.pg_proc p WHERE NOT p.prosecdef AND p.oid IN (SELECT objid FROM refs"
"     WHERE classid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
"    UNION ALL SELECT op.oprcode::pg_catalog.oid FROM refs r JOIN pg_catalog.pg_operator op"
"     ON r.classid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND op.oid = r.objid)"
"  UNION ALL SELECT 5, pg_catalog.format('type %s', t.oid::pg_catalog.regtype), t.typowner"
"   FROM pg_catalog.pg_type t WHERE t.typtype = 'd' AND t.oid IN (SELECT objid FROM refs"
"     WHERE classid = 'pg_catalog.pg_type'::pg_catalog.regclass))"
"SELECT pg_catalog.format('%s (owner %I)', d, pg_catalog.pg_get_userbyid(owner)) FROM owned"
" WHERE NOT pg_catalog.pg_has_role(owner, $2, 'USAGE') ORDER BY o, d";

/*
 * 42501 unless every object whose code a copy into or out of namespace nsp
 * and the relations relids could run with the caller's rights
 * (untrusted_sql) belongs to a role that has the caller's privileges
 * already (the caller, a member of it, a superuser): a migration role or a
 * table owner must not get the back office's rights by planting a
 * function in a CHECK, a DEFAULT, an index expression or a trigger that
 * fires under replica.  The one check of mt.provision_schema,
 * mt.apply_template (the template) and mt.move_tenant (the tables it
 * reads and writes), before anything is created, applied or moved.  SPI
 * connected, safe search_path.
 */
void
mt_require_trusted_code(Oid nsp, List *relids, const char *subject,
						const char *evaluates, const char *hint)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(relids), 1));
	Datum		args[3];
	ListCell   *lc;
	int			n = 0;

	foreach(lc, relids)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	args[0] = ObjectIdGetDatum(nsp);
	args[1] = ObjectIdGetDatum(GetUserId());
	args[2] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	mt_spi_select(untrusted_sql, 3, (Oid[]) {OIDOID, OIDOID, OIDARRAYOID}, args, NULL);
	if (SPI_processed > 0)
	{
		StringInfoData all;

		initStringInfo(&all);
		for (uint64 i = 0; i < SPI_processed; i++)
			appendStringInfo(&all, "%s%s", i > 0 ? "; " : "",
							 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s runs code of a role that does not have the privileges of %s: %s",
						subject, GetUserNameFromId(GetUserId(), false),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errdetail("%s Not trusted: %s.", evaluates, all.data),
				 errhint("%s", hint)));
	}
}

/* the template's check (mt_require_trusted_code) */
static void
check_template_trusted(Oid template_oid, const char *template)
{
	mt_require_trusted_code(template_oid, NIL,
							psprintf("template schema \"%s\"", template),
							"Copying a template evaluates its defaults, CHECK constraints and index expressions with the caller's rights.",
							"Let the template, and the functions and domains its expressions use, be owned by the calling role (or a role that is a member of it), or make such functions SECURITY DEFINER; nothing was created or applied.");
}

/* every table of schema nsp bound to tenant (protect_table) */
static void
protect_schema_tables(Oid nsp, const pg_uuid_t *tenant)
{
	Datum		arg = ObjectIdGetDatum(nsp);
	List	   *relids = NIL;
	ListCell   *lc;
	bool		isnull;

	mt_spi_execute("SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relnamespace = $1 "
				   "AND c.relkind IN ('r', 'p') ORDER BY c.relname",
				   1, (Oid[]) {OIDOID}, &arg, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		relids = lappend_oid(relids,
							 DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc, 1, &isnull)));
	foreach(lc, relids)
		protect_table(lfirst_oid(lc), tenant);
}

/* a schema no tenant may get: the system's and the extension's */
static bool
reserved_schema(const char *name)
{
	return strcmp(name, "mt") == 0 || strcmp(name, "pg_catalog") == 0 ||
		strcmp(name, "information_schema") == 0 || strncmp(name, "pg_", 3) == 0;
}

/*
 * mt.provision_schema(tenant, template_schema, schema_name DEFAULT NULL)
 * -> the new schema's name (tenant_<slug> by default).
 */
PG_FUNCTION_INFO_V1(mt_provision_schema);
Datum
mt_provision_schema(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	char	   *template;
	char	   *target = NULL;
	Oid			template_oid;
	Oid			target_oid;
	int			nest;
	Datum		arg;
	Datum		args[4];
	bool		isnull;
	List	   *stmts = NIL;
	ListCell   *lc;
	Datum		result;

	mt_require_writable("mt.provision_schema()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 2, "tenant and template schema");
	tenant = PG_GETARG_UUID_P(0);
	template = pstrdup(NameStr(*PG_GETARG_NAME(1)));
	if (!PG_ARGISNULL(2))
		target = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	template_oid = get_namespace_oid(template, false);	/* 3F000 */
	if (reserved_schema(template))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("schema \"%s\" cannot be a tenant template", template)));

	mt_spi_connect();
	nest = mt_enter_safe_search_path();

	mt_placement_require_shared(tenant, "mt.provision_schema");

	/* the tenant's plan allows the schema level */
	arg = UUIDPGetDatum(tenant);
	mt_catalog_execute("SELECT p.name, 'schema' OPERATOR(pg_catalog.=) ANY (p.isolation_levels), "
					   "  pg_catalog.array_to_string(p.isolation_levels, ', '), "
					   "  pg_catalog.replace(t.slug, '-', '_') "
					   "FROM mt.tenants t JOIN mt.plans p ON p.name OPERATOR(pg_catalog.=) t.plan "
					   "WHERE t.id OPERATOR(pg_catalog.=) $1",
					   1, (Oid[]) {UUIDOID}, &arg, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "plan of tenant %s not found", mt_uuid_to_cstring(tenant));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("plan \"%s\" of tenant %s does not allow the schema level",
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
						mt_uuid_to_cstring(tenant)),
				 errdetail("The plan allows: %s.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3)),
				 errhint("Move the tenant to a plan whose isolation_levels include schema (mt.plans).")));
	if (target == NULL)
	{
		char	   *slug = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);

		target = psprintf("tenant_%s", slug);
		if (strlen(target) >= NAMEDATALEN)
		{
			char	   *hex = mt_uuid_to_cstring(tenant);
			StringInfoData b;

			initStringInfo(&b);
			appendStringInfoString(&b, "tenant_");
			for (char *p = hex; *p; p++)
				if (*p != '-')
					appendStringInfoChar(&b, *p);
			target = b.data;
		}
	}
	if (target[0] == '\0' || reserved_schema(target))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" cannot be the name of a tenant schema", target)));
	if (OidIsValid(get_namespace_oid(target, true)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_SCHEMA),
				 errmsg("schema \"%s\" already exists", target),
				 errdetail("mt.provision_schema creates the tenant's schema; it never adopts an existing one."),
				 errhint("Pass another schema_name.")));
	{
		pg_uuid_t	other;

		if (mt_placement_schema_tenant(template_oid, &other))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("schema \"%s\" is the schema of tenant %s, not a template",
							template, mt_uuid_to_cstring(&other))));
	}

	/* everything the template holds must be cloneable: else nothing is made */
	check_cloneable(template_oid, template);
	check_template_trusted(template_oid, template);

	/* the statements first (SPI_tuptable is reused by each statement) */
	args[0] = ObjectIdGetDatum(template_oid);
	args[1] = CStringGetTextDatum(target);
	args[2] = ObjectIdGetDatum(InvalidOid);	/* the schema does not exist yet */
	mt_spi_select(clone_sql, 3, (Oid[]) {OIDOID, TEXTOID, OIDOID}, args, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
		stmts = lappend(stmts, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));

	mt_isolation_run_ddl(psprintf("CREATE SCHEMA %s", quote_identifier(target)));
	foreach(lc, stmts)
		mt_isolation_run_ddl((char *) lfirst(lc));

	/* every table of the new schema bound to the tenant */
	CommandCounterIncrement();
	target_oid = get_namespace_oid(target, false);
	protect_schema_tables(target_oid, tenant);

	args[0] = UUIDPGetDatum(tenant);
	args[1] = CStringGetTextDatum(target);
	args[2] = CStringGetTextDatum(template);
	mt_catalog_execute("INSERT INTO mt.tenant_placements (tenant_id, level, schema_name, template_schema) "
					   "VALUES ($1, 'schema', $2, $3) "
					   "ON CONFLICT (tenant_id) DO UPDATE SET level = EXCLUDED.level, "
					   "schema_name = EXCLUDED.schema_name, template_schema = EXCLUDED.template_schema, "
					   "host = NULL, port = NULL, dbname = NULL, placed_at = pg_catalog.now()",
					   3, (Oid[]) {UUIDOID, TEXTOID, TEXTOID}, args, NULL);

	result = DirectFunctionCall1(namein, CStringGetDatum(target));
	result = SPI_datumTransfer(result, false, NAMEDATALEN);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_DATUM(result);
}

/* ---------------------------------------------------------------------
 * mt.apply_template
 * --------------------------------------------------------------------- */

typedef struct ApplyWork
{
	List	   *stmts;
	Oid			nsp;
	const pg_uuid_t *tenant;
} ApplyWork;

/* how many tables of schema $1 lack the protection binding them to tenant $2 */
static const char *const unbound_tables_sql =
"SELECT pg_catalog.count(*) FROM pg_catalog.pg_class c WHERE c.relnamespace = $1 AND c.relkind IN ('r', 'p')"
" AND NOT (c.relrowsecurity AND c.relforcerowsecurity AND"
"  (SELECT pg_catalog.count(*) = 2 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid AND p.polcmd = '*'"
"    AND p.polroles = '{0}'"
"    AND ((p.polname = '" SCHEMA_POLICY_RESTRICTIVE "' AND NOT p.polpermissive)"
"      OR (p.polname = '" SCHEMA_POLICY_PERMISSIVE "' AND p.polpermissive))"
"    AND pg_catalog.pg_get_expr(p.polqual, p.polrelid) = pg_catalog.format('(mt.current_tenant() = %L::uuid)', $2)"
"    AND pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) = pg_catalog.format('(mt.current_tenant() = %L::uuid)', $2)))";

/* one tenant's statements, then its tables bound (in a subtransaction) */
static void
apply_statements(void *arg)
{
	ApplyWork  *w = (ApplyWork *) arg;
	ListCell   *lc;

	foreach(lc, w->stmts)
	{
		char	   *stmt = (char *) lfirst(lc);

		if (strncmp(stmt, "--", 2) != 0)	/* the note of a protection restored */
			mt_isolation_run_ddl(stmt);
	}
	CommandCounterIncrement();
	protect_schema_tables(w->nsp, w->tenant);
}

/*
 * mt.apply_template(template_schema) -> (tenant, schema_name, status,
 * detail): brings every tenant schema provisioned from the template up to
 * it, each tenant in its own subtransaction: what the schema lacks by name
 * (tables, sequences, columns, constraints, indexes, foreign keys) is
 * created, and the generated protection of every table of the schema is
 * restored.  status: applied (detail: the statements), unchanged, skipped
 * (differences it does not apply -- a changed column type or NOT NULL, a
 * column the template no longer has --: nothing applied, detail lists
 * them), failed (an error: that tenant's changes rolled back, detail: the
 * error).  A template holding objects that cannot be cloned: 0A000 before
 * anything is applied.
 */
PG_FUNCTION_INFO_V1(mt_apply_template);
Datum
mt_apply_template(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *template;
	Oid			template_oid;
	int			nest;
	Datum		arg;
	int			ntenants;
	pg_uuid_t  *tenants;
	char	  **schemas;

	mt_require_writable("mt.apply_template()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "template schema");
	template = pstrdup(NameStr(*PG_GETARG_NAME(0)));
	template_oid = get_namespace_oid(template, false);	/* 3F000 */
	if (reserved_schema(template))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("schema \"%s\" cannot be a tenant template", template)));

	InitMaterializedSRF(fcinfo, 0);
	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	check_cloneable(template_oid, template);
	check_template_trusted(template_oid, template);

	arg = CStringGetTextDatum(template);
	mt_catalog_execute("SELECT tenant_id, schema_name::text FROM mt.tenant_placements "
					   "WHERE level OPERATOR(pg_catalog.=) 'schema' "
					   "AND template_schema OPERATOR(pg_catalog.=) $1 ORDER BY schema_name",
					   1, (Oid[]) {TEXTOID}, &arg, NULL);
	ntenants = (int) SPI_processed;
	tenants = palloc0(sizeof(pg_uuid_t) * Max(ntenants, 1));
	schemas = palloc0(sizeof(char *) * Max(ntenants, 1));
	for (int i = 0; i < ntenants; i++)
	{
		bool		isnull;

		memcpy(&tenants[i], DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)),
			   sizeof(pg_uuid_t));
		schemas[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}

	for (int i = 0; i < ntenants; i++)
	{
		Oid			nsp = get_namespace_oid(schemas[i], true);
		const char *status;
		StringInfoData detail;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		MemoryContext oldcxt;

		initStringInfo(&detail);
		if (!OidIsValid(nsp))
		{
			status = "failed";
			appendStringInfo(&detail, "schema \"%s\" does not exist", schemas[i]);
		}
		else
		{
			Datum		args[3] = {ObjectIdGetDatum(template_oid), CStringGetTextDatum(schemas[i]),
			ObjectIdGetDatum(nsp)};

			mt_spi_select(drift_sql, 3, (Oid[]) {OIDOID, TEXTOID, OIDOID}, args, NULL);
			if (SPI_processed > 0)
			{
				status = "skipped";
				for (uint64 j = 0; j < SPI_processed; j++)
					appendStringInfo(&detail, "%s%s", j > 0 ? "; " : "",
									 SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1));
				appendStringInfoString(&detail, " (nothing applied)");
			}
			else
			{
				ApplyWork	w = {NIL, nsp, &tenants[i]};
				ErrorData  *edata;
				ListCell   *lc;

				Datum		pargs[2] = {ObjectIdGetDatum(nsp), UUIDPGetDatum(&tenants[i])};
				bool		isnull;
				int64		unbound;

				mt_spi_select(clone_sql, 3, (Oid[]) {OIDOID, TEXTOID, OIDOID}, args, NULL);
				for (uint64 j = 0; j < SPI_processed; j++)
					w.stmts = lappend(w.stmts, SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1));
				/* tables whose generated protection is missing: restored too */
				unbound = DatumGetInt64(mt_spi_value(unbound_tables_sql, 2, (Oid[]) {OIDOID, UUIDOID},
													 pargs, true, &isnull));
				if (unbound > 0)
					w.stmts = lappend(w.stmts,
									  psprintf("-- the generated protection of %lld table(s) restored",
											   (long long) unbound));
				if (w.stmts == NIL)
					status = "unchanged";
				else if ((edata = mt_try_in_subxact(apply_statements, &w)) != NULL)
				{
					status = "failed";
					appendStringInfo(&detail, "%s (SQLSTATE %s; nothing applied)", edata->message,
									 unpack_sql_state(edata->sqlerrcode));
					FreeErrorData(edata);
				}
				else
				{
					status = "applied";
					foreach(lc, w.stmts)
						appendStringInfo(&detail, "%s%s", foreach_current_index(lc) > 0 ? "; " : "",
										 (char *) lfirst(lc));
				}
			}
		}
		values[0] = UUIDPGetDatum(&tenants[i]);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(schemas[i]));
		values[2] = CStringGetTextDatum(status);
		values[3] = CStringGetTextDatum(detail.data);
		nulls[3] = detail.len == 0;
		oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(oldcxt);
	}
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * The context's schema
 * --------------------------------------------------------------------- */

/*
 * mt.tenant_schema(): the schema of the verified context's tenant, or NULL
 * (no context, or a tenant of another level).  Read-only.
 */
PG_FUNCTION_INFO_V1(mt_tenant_schema);
Datum
mt_tenant_schema(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant = mt_context_tenant();
	MtPlacement placement;
	int			nest;
	Datum		result = (Datum) 0;

	if (tenant == NULL)
		PG_RETURN_NULL();
	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	mt_placement_of(tenant, &placement);
	if (strcmp(placement.level, "schema") == 0 && placement.schema_name != NULL)
		result = SPI_datumTransfer(DirectFunctionCall1(namein, CStringGetDatum(placement.schema_name)),
								   false, NAMEDATALEN);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	if (result == (Datum) 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * mt.use_tenant_schema(): search_path, for the rest of the transaction (as
 * SET LOCAL), becomes the schema of the verified context's tenant followed
 * by the caller's other schemas, without any tenant schema: a path this
 * function sets never names another tenant's schema.  No context: 42501;
 * a tenant without a schema: 55000.  Returns the schema.
 */
PG_FUNCTION_INFO_V1(mt_use_tenant_schema);
Datum
mt_use_tenant_schema(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant = mt_context_tenant();
	MtPlacement placement;
	int			nest;
	bool		isnull;
	Datum		schemas;
	StringInfoData path;
	char	   *rest;
	MemoryContext outer = CurrentMemoryContext;
	Datum		result;

	if (tenant == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("mt.use_tenant_schema() needs a verified tenant context"),
				 errhint("SET multitenant.token to the tenant's token, or call mt.authenticate(key), first.")));
	mt_spi_connect();
	/* the caller's path, resolved with the caller's search_path */
	schemas = mt_spi_value("SELECT pg_catalog.current_schemas(false)::pg_catalog.text[]", 0, NULL, NULL, true, &isnull);
	nest = mt_enter_safe_search_path();
	mt_placement_of(tenant, &placement);
	if (strcmp(placement.level, "schema") != 0 || placement.schema_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %s has no schema of its own (level %s)",
						mt_uuid_to_cstring(tenant), placement.level)));
	if (!OidIsValid(get_namespace_oid(placement.schema_name, true)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("schema \"%s\" of tenant %s does not exist",
						placement.schema_name, mt_uuid_to_cstring(tenant))));
	/* every tenant schema leaves the rest of the path */
	mt_catalog_execute("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(u.s), ', ' ORDER BY u.o) "
					   "FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY u(s, o) "
					   "WHERE NOT EXISTS (SELECT 1 FROM mt.tenant_placements p "
					   "  WHERE p.level OPERATOR(pg_catalog.=) 'schema' "
					   "  AND p.schema_name::pg_catalog.text OPERATOR(pg_catalog.=) u.s)",
					   1, (Oid[]) {TEXTARRAYOID}, &schemas, isnull ? "n" : " ");
	rest = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	/* what outlives SPI goes to the caller's memory context */
	{
		MemoryContext spicxt = MemoryContextSwitchTo(outer);

		initStringInfo(&path);
		appendStringInfoString(&path, quote_identifier(placement.schema_name));
		if (rest != NULL && rest[0] != '\0')
			appendStringInfo(&path, ", %s", rest);
		result = DirectFunctionCall1(namein, CStringGetDatum(placement.schema_name));
		MemoryContextSwitchTo(spicxt);
	}
	mt_leave_safe_search_path(nest);
	mt_spi_finish();

	(void) set_config_option("search_path", path.data, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	PG_RETURN_DATUM(result);
}

/* ---------------------------------------------------------------------
 * Event triggers
 * --------------------------------------------------------------------- */

static bool
is_schema_policy(const char *name)
{
	return strcmp(name, SCHEMA_POLICY_RESTRICTIVE) == 0 ||
		strcmp(name, SCHEMA_POLICY_PERMISSIVE) == 0;
}

/* relid when rv names a table in a tenant schema, else InvalidOid */
static Oid
tenant_schema_relid(RangeVar *rv, pg_uuid_t *tenant)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);	/* caller's path */
	int			nest;
	bool		found;

	if (!OidIsValid(relid))
		return InvalidOid;
	nest = mt_enter_safe_search_path();
	found = mt_placement_schema_tenant(get_rel_namespace(relid), tenant);
	mt_leave_safe_search_path(nest);
	return found ? relid : InvalidOid;
}

static void
schema_guard_refuse(Oid relid, const pg_uuid_t *tenant, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot %s on %s: the table is in the schema of tenant %s",
					what, mt_relation_name(relid), mt_uuid_to_cstring(tenant)),
			 errdetail("Tables of a tenant schema stay bound to their tenant by forced row-level security.")));
}

/*
 * ddl_command_start: refuse DISABLE / NO FORCE ROW LEVEL SECURITY and
 * DROP / ALTER / RENAME of the generated policies on tables of tenant
 * schemas, for every role, unless the extension's own DDL is running or a
 * superuser turned on multitenant.allow_unsafe_ddl.
 */
PG_FUNCTION_INFO_V1(mt_tenant_schema_guard);
Datum
mt_tenant_schema_guard(PG_FUNCTION_ARGS)
{
	Node	   *parsetree;
	pg_uuid_t	tenant;
	Oid			relid;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.tenant_schema_guard() must be called as an event trigger")));
	if (mt_isolation_ddl_running() || mt_allow_unsafe_ddl)
		PG_RETURN_VOID();
	parsetree = ((EventTriggerData *) fcinfo->context)->parsetree;

	mt_spi_connect();
	if (IsA(parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
		ListCell   *lc;

		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst(lc);

			if (cmd->subtype != AT_DisableRowSecurity && cmd->subtype != AT_NoForceRowSecurity)
				continue;
			if (OidIsValid(relid = tenant_schema_relid(stmt->relation, &tenant)))
				schema_guard_refuse(relid, &tenant, cmd->subtype == AT_DisableRowSecurity ?
									"disable row level security" : "stop forcing row level security");
		}
	}
	else if (IsA(parsetree, DropStmt) && ((DropStmt *) parsetree)->removeType == OBJECT_POLICY)
	{
		ListCell   *lc;

		foreach(lc, ((DropStmt *) parsetree)->objects)
		{
			List	   *names = lfirst(lc);

			if (!is_schema_policy(strVal(llast(names))))
				continue;
			relid = tenant_schema_relid(makeRangeVarFromNameList(list_truncate(list_copy(names),
																			   list_length(names) - 1)),
										&tenant);
			if (OidIsValid(relid))
				schema_guard_refuse(relid, &tenant, "drop a generated tenant policy");
		}
	}
	else if (IsA(parsetree, AlterPolicyStmt))
	{
		AlterPolicyStmt *stmt = (AlterPolicyStmt *) parsetree;

		if (is_schema_policy(stmt->policy_name) &&
			OidIsValid(relid = tenant_schema_relid(stmt->table, &tenant)))
			schema_guard_refuse(relid, &tenant, "alter a generated tenant policy");
	}
	else if (IsA(parsetree, RenameStmt) && ((RenameStmt *) parsetree)->renameType == OBJECT_POLICY)
	{
		RenameStmt *stmt = (RenameStmt *) parsetree;

		if (is_schema_policy(stmt->subname) &&
			OidIsValid(relid = tenant_schema_relid(stmt->relation, &tenant)))
			schema_guard_refuse(relid, &tenant, "rename a generated tenant policy");
	}
	else if (IsA(parsetree, AlterObjectSchemaStmt) &&
			 ((AlterObjectSchemaStmt *) parsetree)->objectType == OBJECT_TABLE)
	{
		AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;

		/* out of the schema, the table's protection could be taken off */
		if (OidIsValid(relid = tenant_schema_relid(stmt->relation, &tenant)) &&
			strcmp(get_namespace_name(get_rel_namespace(relid)), stmt->newschema) != 0)
			schema_guard_refuse(relid, &tenant, "move the table out of its tenant schema");
	}
	mt_spi_finish();
	PG_RETURN_VOID();
}

/*
 * A table of a tenant schema must not sit below a parent outside that
 * schema (ALTER TABLE ... INHERIT, ATTACH PARTITION, CREATE TABLE ...
 * INHERITS / PARTITION OF, a child moved in): reading the parent applies
 * only the parent's policies, and would return the tenant's rows to anyone.
 * relid is the table a command created or altered, as child or parent.
 * SPI connected, safe search_path.
 */
static void
check_tenant_children(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	List	   *children = NIL;
	List	   *parents = NIL;
	ListCell   *lc1,
			   *lc2;

	mt_spi_execute("SELECT inhrelid, inhparent FROM pg_catalog.pg_inherits "
				   "WHERE inhrelid OPERATOR(pg_catalog.=) $1 OR inhparent OPERATOR(pg_catalog.=) $1",
				   1, (Oid[]) {OIDOID}, &arg, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		children = lappend_oid(children, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																		SPI_tuptable->tupdesc, 1, &isnull)));
		parents = lappend_oid(parents, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	  SPI_tuptable->tupdesc, 2, &isnull)));
	}
	forboth(lc1, children, lc2, parents)
	{
		Oid			child = lfirst_oid(lc1);
		Oid			parent = lfirst_oid(lc2);
		Oid			nsp = get_rel_namespace(child);
		pg_uuid_t	tenant;

		if (nsp != get_rel_namespace(parent) && mt_placement_schema_tenant(nsp, &tenant))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot place %s below %s: the table is in the schema of tenant %s",
							mt_relation_name(child), mt_relation_name(parent),
							mt_uuid_to_cstring(&tenant)),
					 errdetail("Reading the parent applies only the parent's policies: it would return the tenant's rows of the child."),
					 errhint("Partitions and children of a tenant schema's table belong in the same schema.")));
	}
}

/*
 * ddl_command_end: tables created in, or moved into, a tenant schema
 * (CREATE TABLE [AS], SELECT INTO, ALTER TABLE ... SET SCHEMA) are bound
 * to the schema's tenant; no table of a tenant schema may end below a
 * parent outside it (check_tenant_children); ALTER SCHEMA ... RENAME of a
 * tenant schema updates its placement.
 */
PG_FUNCTION_INFO_V1(mt_tenant_schema_protect_new);
Datum
mt_tenant_schema_protect_new(PG_FUNCTION_ARGS)
{
	Node	   *parsetree;
	int			nest;
	List	   *relids = NIL;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.tenant_schema_protect_new() must be called as an event trigger")));
	parsetree = ((EventTriggerData *) fcinfo->context)->parsetree;
	if (IsA(parsetree, RenameStmt))
	{
		RenameStmt *stmt = (RenameStmt *) parsetree;
		Datum		args[2];

		if (stmt->renameType != OBJECT_SCHEMA)
			PG_RETURN_VOID();
		args[0] = CStringGetTextDatum(stmt->subname);
		args[1] = CStringGetTextDatum(stmt->newname);
		mt_spi_connect();
		nest = mt_enter_safe_search_path();
		mt_catalog_execute("UPDATE mt.tenant_placements SET schema_name = $2 "
						   "WHERE level OPERATOR(pg_catalog.=) 'schema' "
						   "AND schema_name OPERATOR(pg_catalog.=) $1",
						   2, (Oid[]) {TEXTOID, TEXTOID}, args, NULL);
		mt_leave_safe_search_path(nest);
		mt_spi_finish();
		PG_RETURN_VOID();
	}
	if (mt_isolation_ddl_running() || mt_allow_unsafe_ddl)
		PG_RETURN_VOID();

	/*
	 * Only tables that arrive in a tenant schema: created there, or moved
	 * there (ALTER TABLE ... SET SCHEMA) are bound.  Other ALTER TABLE
	 * commands leave the table's policies alone (pg_restore adds
	 * constraints (ALTER TABLE) after the registry's rows and before the
	 * dumped policies, which it then creates itself); they are only checked
	 * for a parent outside the schema (INHERIT, ATTACH PARTITION).
	 */
	if (!IsA(parsetree, CreateStmt) && !IsA(parsetree, CreateTableAsStmt) &&
		!IsA(parsetree, AlterTableStmt) &&
		!(IsA(parsetree, AlterObjectSchemaStmt) &&
		  ((AlterObjectSchemaStmt *) parsetree)->objectType == OBJECT_TABLE))
		PG_RETURN_VOID();

	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	mt_spi_execute("SELECT DISTINCT objid FROM pg_catalog.pg_event_trigger_ddl_commands() "
				   "WHERE classid = 'pg_catalog.pg_class'::regclass AND object_type = 'table'",
				   0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			relids = lappend_oid(relids, DatumGetObjectId(d));
	}
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		char		relkind = get_rel_relkind(relid);
		pg_uuid_t	tenant;

		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
			continue;			/* dropped again, or not a table */
		check_tenant_children(relid);
		/* other ALTER TABLE commands leave the policies alone (above) */
		if (!IsA(parsetree, AlterTableStmt) &&
			mt_placement_schema_tenant(get_rel_namespace(relid), &tenant))
			protect_table(relid, &tenant);
	}
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_VOID();
}

/*
 * sql_drop: a tenant schema cannot be dropped (the tenant's placement
 * would point nowhere and its data would be gone), nor can a generated
 * policy disappear from a table that stays (DROP POLICY after a rename,
 * anything that cascades to it); unless the extension's own DDL runs or a
 * superuser set multitenant.allow_unsafe_ddl: then the dropped schema's
 * placement is forgotten.
 */
PG_FUNCTION_INFO_V1(mt_tenant_schema_dropped);
Datum
mt_tenant_schema_dropped(PG_FUNCTION_ARGS)
{
	int			nest;
	Oid			mtnsp;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.tenant_schema_dropped() must be called as an event trigger")));
	/* DROP EXTENSION removes the registry itself */
	mtnsp = get_namespace_oid("mt", true);
	if (!OidIsValid(mtnsp) || !OidIsValid(get_relname_relid("tenant_placements", mtnsp)))
		PG_RETURN_VOID();

	mt_spi_connect();
	nest = mt_enter_safe_search_path();
	if (!mt_isolation_ddl_running() && !mt_allow_unsafe_ddl)
	{
		mt_catalog_execute("SELECT p.schema_name::text, p.tenant_id::text "
						   "FROM pg_catalog.pg_event_trigger_dropped_objects() o "
						   "JOIN mt.tenant_placements p ON p.level OPERATOR(pg_catalog.=) 'schema' "
						   "  AND p.schema_name OPERATOR(pg_catalog.=) o.object_name "
						   "WHERE o.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass LIMIT 1",
						   0, NULL, NULL, NULL);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot drop schema %s: it is the schema of tenant %s",
							quote_identifier(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
					 errdetail("The tenant's placement would point nowhere and its data would be gone."),
					 errhint("Move the tenant out of the schema first.")));

		mt_catalog_execute("SELECT o.address_names[1] || '.' || o.address_names[2] "
						   "FROM pg_catalog.pg_event_trigger_dropped_objects() o "
						   "JOIN mt.tenant_placements p ON p.level OPERATOR(pg_catalog.=) 'schema' "
						   "  AND p.schema_name OPERATOR(pg_catalog.=) o.address_names[1] "
						   "WHERE o.object_type = 'policy' AND o.address_names[3] IN ('"
						   SCHEMA_POLICY_RESTRICTIVE "', '" SCHEMA_POLICY_PERMISSIVE "') "
						   "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() t "
						   "  WHERE t.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND t.objsubid = 0 "
						   "  AND t.object_type IN ('table', 'partitioned table') "
						   "  AND t.address_names[1] OPERATOR(pg_catalog.=) o.address_names[1] "
						   "  AND t.address_names[2] OPERATOR(pg_catalog.=) o.address_names[2]) LIMIT 1",
						   0, NULL, NULL, NULL);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot drop a generated tenant policy on %s: the table is in a tenant schema",
							SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))));
	}
	mt_catalog_execute("DELETE FROM mt.tenant_placements WHERE level OPERATOR(pg_catalog.=) 'schema' "
					   "AND schema_name IN (SELECT object_name FROM pg_catalog.pg_event_trigger_dropped_objects() "
					   "  WHERE classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass)",
					   0, NULL, NULL, NULL);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_VOID();
}
