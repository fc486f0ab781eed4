/*-------------------------------------------------------------------------
 *
 * drop_guard.c
 *	  The guard against removing the extension by accident.  DROP EXTENSION
 *	  deletes every tenant, API key, audit event and consent for good (they
 *	  live in the extension's tables), so the event trigger mt_drop_guard
 *	  (ddl_command_start, tags DROP EXTENSION, DROP SCHEMA, DROP OWNED)
 *	  refuses a statement that would drop the extension -- DROP EXTENSION
 *	  multitenant, DROP SCHEMA of its schema, DROP OWNED BY its owner -- while
 *	  mt.tenants holds rows, unless a superuser turned
 *	  multitenant.allow_drop_extension on in the session; a permitted drop
 *	  gets a WARNING that says what goes and what stays (doc/operations.md,
 *	  "Removing the extension").  Without tenants (fresh installs, tests)
 *	  nothing is refused.
 *
 * Why an event trigger rather than a ProcessUtility hook: it works without
 * preloading the library (PostgreSQL calls the extension's own C function),
 * and PostgreSQL filters by command tag before calling it, so other DDL
 * never reaches this code; the three tags it sees return after a look at
 * the parse tree (one pg_extension index lookup for DROP SCHEMA and DROP
 * OWNED) unless the statement names the extension, its schema or its
 * owner.  The trigger is a member of the extension (it cannot be dropped
 * alone) and ENABLE ALWAYS (session_replication_role = replica does not
 * skip it).  It cannot stop a superuser who disables it, single-user mode
 * (no event triggers) or DROP DATABASE: it prevents accidents, it is not a
 * fence against superusers.
 *
 * multitenant.allow_drop_extension (PGC_SUSET) can be turned on only by a
 * SET in a session (or a client's connection options, for pg_restore
 * --clean): never by postgresql.conf, ALTER SYSTEM, ALTER DATABASE or
 * ALTER ROLE, so that it is never left on for everyone.
 *
 * No shared state, no locks of its own: the counts are read as the
 * extension owner (mt_catalog_begin) under the statement's snapshot.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "drop_guard.h"
#include "spi_util.h"

/* GUC variable (defined in multitenant.c) */
bool		mt_allow_drop_extension = false;

/* on only from a SET in a session or a client's connection options */
bool
mt_check_allow_drop_extension(bool *newval, void **extra, GucSource source)
{
	if (*newval && source != PGC_S_SESSION && source != PGC_S_CLIENT)
	{
		GUC_check_errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM);
		GUC_check_errmsg("multitenant.allow_drop_extension can be turned on only in a session");
		GUC_check_errhint("Use SET LOCAL multitenant.allow_drop_extension = on in the transaction that drops the extension.");
		return false;
	}
	return true;
}

static bool
names_contain(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		Node	   *n = lfirst(lc);

		if (IsA(n, String) && strcmp(strVal(n), name) == 0)
			return true;
	}
	return false;
}

/*
 * Would this statement drop the extension?  *schema_too: the extension's
 * schema goes as well.
 */
static bool
drops_extension(Node *parsetree, bool *schema_too)
{
	Oid			owner;
	Oid			nsp;

	*schema_too = false;
	if (IsA(parsetree, DropStmt))
	{
		DropStmt   *stmt = (DropStmt *) parsetree;
		char	   *nspname;

		if (stmt->removeType == OBJECT_EXTENSION)
			return names_contain(stmt->objects, "multitenant");
		if (stmt->removeType != OBJECT_SCHEMA || !mt_extension_identity(&owner, &nsp))
			return false;
		nspname = get_namespace_name(nsp);
		*schema_too = nspname != NULL && names_contain(stmt->objects, nspname);
		return *schema_too;
	}
	if (IsA(parsetree, DropOwnedStmt) && mt_extension_identity(&owner, &nsp))
	{
		ListCell   *lc;

		foreach(lc, ((DropOwnedStmt *) parsetree)->roles)
			if (get_rolespec_oid(lfirst(lc), true) == owner)
				return true;
	}
	return false;
}

typedef struct HeldData
{
	int64		tenants;
	int64		api_keys;
	int64		audit_events;
	int64		consents;
	int64		isolated;		/* isolated tables */
	char	   *isolated_names; /* the first ten, schema-qualified */
} HeldData;

static int64
int8_column(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* false (and nothing else read) when there are no tenants */
static bool
held_data(HeldData *h)
{
	MtCatalogCtx c;
	bool		isnull;
	Datum		d;

	memset(h, 0, sizeof(*h));
	mt_catalog_begin(&c);
	d = mt_spi_value("SELECT pg_catalog.count(*) FROM mt.tenants", 0, NULL, NULL, true, NULL);
	h->tenants = DatumGetInt64(d);
	if (h->tenants > 0)
	{
		mt_spi_select("SELECT (SELECT pg_catalog.count(*) FROM mt.api_key_secrets),"
					  " (SELECT pg_catalog.count(*) FROM mt.audit_log),"
					  " (SELECT pg_catalog.count(*) FROM mt.consents),"
					  " (SELECT pg_catalog.count(*) FROM mt.isolated_tables)",
					  0, NULL, NULL, NULL);
		h->api_keys = int8_column(1);
		h->audit_events = int8_column(2);
		h->consents = int8_column(3);
		h->isolated = int8_column(4);
		d = mt_spi_value("SELECT pg_catalog.string_agg(t, ', ') FROM"
						 " (SELECT tbl::pg_catalog.text AS t FROM mt.isolated_tables ORDER BY 1 LIMIT 10) s",
						 0, NULL, NULL, true, &isnull);
		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(c.outer);

			h->isolated_names = TextDatumGetCString(d);
			MemoryContextSwitchTo(old);
		}
	}
	mt_catalog_end(&c);
	return h->tenants > 0;
}

/*
 * ddl_command_start, tags DROP EXTENSION, DROP SCHEMA, DROP OWNED: refuse
 * to drop the extension while it holds tenants, unless
 * multitenant.allow_drop_extension is on.
 */
PG_FUNCTION_INFO_V1(mt_drop_guard);
Datum
mt_drop_guard(PG_FUNCTION_ARGS)
{
	bool		schema_too;
	HeldData	h;
	char	   *held;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.drop_guard() must be called as an event trigger")));
	if (!drops_extension(((EventTriggerData *) fcinfo->context)->parsetree, &schema_too))
		PG_RETURN_VOID();
	if (!held_data(&h))
		PG_RETURN_VOID();

	held = psprintf("tenants: " INT64_FORMAT ", API keys: " INT64_FORMAT
					", audit events: " INT64_FORMAT ", consent records: " INT64_FORMAT,
					h.tenants, h.api_keys, h.audit_events, h.consents);
	if (!mt_allow_drop_extension)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop extension multitenant while it holds tenants"),
				 errdetail("Dropping it would delete for good what its tables hold (%s).", held),
				 errhint("Back up first (pg_dump of the database and a copy of $PGDATA/multitenant.secret, "
						 "doc/operations.md \"Backup and restore\"), then drop it as a superuser in a transaction "
						 "with SET LOCAL multitenant.allow_drop_extension = on.")));

	ereport(WARNING,
			(errmsg("dropping extension multitenant deletes for good what its tables hold (%s)", held),
			 h.isolated > 0 ?
			 errdetail("%s The isolated tables keep row level security enabled and forced, without policies, "
					   "so only superusers and roles with BYPASSRLS read or write their rows (" INT64_FORMAT ": %s%s).",
					   schema_too ? "Schema mt goes too." : "Schema mt stays, empty.",
					   h.isolated, h.isolated_names, h.isolated > 10 ? ", ..." : "") :
			 errdetail("%s", schema_too ? "Schema mt goes too." : "Schema mt stays, empty."),
			 errhint("To get them back: CREATE EXTENSION multitenant, restore the extension's data from the backup "
					 "(pg_restore --data-only --schema=mt) and call mt.enable_isolation() for each isolated table "
					 "(doc/operations.md, \"Removing the extension\").")));
	PG_RETURN_VOID();
}
