/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  SPI helpers (parameterized statements only, never pasted values)
 *	  shared by the capability files: the mt_spi_* statements run as the
 *	  caller; mt_catalog_execute() (one statement) and mt_catalog_begin/
 *	  end (several): run as the extension owner with a forced safe
 *	  search_path, so that functions executed with the caller's rights
 *	  can read and write the extension's catalog tables; and mt_owner_execute(): one
 *	  statement on a user table run as that table's owner in a security-
 *	  restricted operation (optionally inside a tenant's maintenance
 *	  context, context.c, the layer below), so that the owner's triggers,
 *	  casts, defaults and domains never run with the extension owner's
 *	  rights; mt_role_execute(): the same as a given role (mt.move_tenant
 *	  runs as its caller); mt_owner_cursor_*: the same for a query read in
 *	  batches through a cursor (mt.export_tenant).  No shared state, no
 *	  locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/tuplestore.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/dependency.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "context.h"
#include "spi_util.h"

/*
 * The one report of an internal statement that failed without raising an
 * error itself (a can't-happen: elog, SQLSTATE XX000): "multitenant: <what>
 * failed: <SPI result code>".
 */
void
mt_spi_failed(const char *what, int rc)
{
	elog(ERROR, "multitenant: %s failed: %s", what, SPI_result_code_string(rc));
}

void
mt_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		mt_spi_failed("SPI_connect", rc);
}

void
mt_spi_finish(void)
{
	int			rc = SPI_finish();

	if (rc != SPI_OK_FINISH)
		mt_spi_failed("SPI_finish", rc);
}

int
mt_spi_execute_nulls(const char *sql, int nargs, Oid *types, Datum *values,
					 const char *nulls, int expected_rc)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (expected_rc != 0 && rc != expected_rc)
		mt_spi_failed("internal query", rc);
	return rc;
}

int
mt_spi_execute(const char *sql, int nargs, Oid *types, Datum *values, int expected_rc)
{
	return mt_spi_execute_nulls(sql, nargs, types, values, NULL, expected_rc);
}

/* every row of SPI_tuptable into the SRF's tuplestore (spi_util.h) */
void
mt_spi_rows_to_tuplestore(ReturnSetInfo *rsinfo)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);

	for (uint64 i = 0; i < SPI_processed; i++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * A read-only query (SPI read_only: the caller's snapshot, no command
 * counter increment), as STABLE functions must run their SQL.
 */
void
mt_spi_select(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, true, 0);

	if (rc != SPI_OK_SELECT)
		mt_spi_failed("internal query", rc);
}

bool
mt_spi_exists(const char *sql, int nargs, Oid *types, Datum *values)
{
	/* not read-only: see the effects of the current command (DDL in event triggers) */
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 1);

	if (rc != SPI_OK_SELECT)
		mt_spi_failed("internal query", rc);
	return SPI_processed > 0;
}

/*
 * First column of the first row, copied out of SPI memory so that it
 * survives SPI_finish.  No row counts as NULL.
 */
Datum
mt_spi_value(const char *sql, int nargs, Oid *types, Datum *values,
			 bool read_only, bool *isnull)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, read_only, 0);
	bool		null = true;
	Datum		d = (Datum) 0;

	if (rc < 0)
		mt_spi_failed("internal query", rc);
	if (SPI_processed > 0 && SPI_tuptable != NULL)
	{
		Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, 0);

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null);
		if (!null)
			d = SPI_datumTransfer(d, att->attbyval, att->attlen);
	}
	if (isnull)
		*isnull = null;
	else if (null)
		elog(ERROR, "multitenant: internal query returned no value");
	return d;
}

char *
mt_spi_text(const char *sql, int nargs, Oid *types, Datum *values, bool *isnull)
{
	Datum		d = mt_spi_value(sql, nargs, types, values, false, isnull);

	return *isnull ? NULL : TextDatumGetCString(d);
}

/*
 * As the extension owner with search_path = pg_catalog, pg_temp (as in a
 * SECURITY DEFINER function: the caller's search_path cannot redirect
 * operators), until catalog_leave(); the two halves of mt_catalog_execute
 * and of mt_catalog_begin/end.
 */
static void
catalog_enter(MtCatalogCtx *c)
{
	Oid			owner = mt_extension_owner();

	c->outer = CurrentMemoryContext;
	GetUserIdAndSecContext(&c->save_userid, &c->save_sec);
	SetUserIdAndSecContext(owner, c->save_sec | SECURITY_LOCAL_USERID_CHANGE);
	c->nestlevel = mt_enter_safe_search_path();
}

static void
catalog_leave(MtCatalogCtx *c)
{
	mt_leave_safe_search_path(c->nestlevel);
	SetUserIdAndSecContext(c->save_userid, c->save_sec);
}

/*
 * Run one parameterized statement as the extension owner (catalog writes
 * from functions that otherwise run with the caller's rights).  The user
 * is switched only around this statement and restored on error too;
 * search_path is pg_catalog, pg_temp meanwhile.  SPI must be connected.
 * Returns the SPI result code; SPI_tuptable / SPI_processed hold the
 * statement's result (e.g. a RETURNING list) until the next SPI call.
 */
int
mt_catalog_execute(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	MtCatalogCtx c;
	volatile int rc = 0;

	catalog_enter(&c);
	PG_TRY();
	{
		rc = mt_spi_execute_nulls(sql, nargs, types, values, nulls, 0);
		if (rc < 0)
			mt_spi_failed("internal query", rc);
	}
	PG_CATCH();
	{
		/* the (sub)transaction abort unwinds the GUC nest level */
		SetUserIdAndSecContext(c.save_userid, c.save_sec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	catalog_leave(&c);
	return rc;
}

/*
 * Several statements as the extension owner, as mt_catalog_execute runs
 * one: mt_catalog_begin switches the user, sets the safe search_path and
 * connects SPI; mt_catalog_end finishes SPI and restores both.  On error
 * the (sub)transaction abort restores the user, unwinds the GUC nest level
 * and SPI.  c->outer is the caller's memory context (results that must
 * survive mt_catalog_end go there).
 */
void
mt_catalog_begin(MtCatalogCtx *c)
{
	catalog_enter(c);
	mt_spi_connect();
}

void
mt_catalog_end(MtCatalogCtx *c)
{
	mt_spi_finish();
	catalog_leave(c);
}

/*
 * A read-only query with the snapshot snap, or with the latest snapshot
 * when snap is NULL: it sees what other transactions committed after this
 * transaction's snapshot was taken (usage counters compare with it).
 */
void
mt_spi_select_snapshot(Snapshot snap, const char *sql, int nargs, Oid *types,
					   Datum *values, const char *nulls)
{
	PushActiveSnapshot(snap ? snap : GetLatestSnapshot());
	mt_spi_select(sql, nargs, types, values, nulls);
	PopActiveSnapshot();
}

/*
 * mt_spi_select_snapshot(NULL, ...) with a plan prepared at the first call
 * of the backend and kept in *plan (NULL until then; the caller's static):
 * for statements run once per new usage counter, where parsing and
 * planning cost more than the query does.  The plan cache (plancache.c)
 * re-plans after DDL on what the statement reads, and when the search_path
 * or, under row level security, the user differ from the planning's, so a
 * kept plan follows DROP and CREATE EXTENSION in the same session.  sql,
 * nargs and types must be the same at every call with the same *plan.
 */
void
mt_spi_select_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
				   Datum *values, const char *nulls)
{
	int			rc;

	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			mt_spi_failed("internal query", SPI_result);
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "multitenant: could not keep an internal query's plan");
		*plan = p;
	}
	PushActiveSnapshot(GetLatestSnapshot());
	rc = SPI_execute_plan(*plan, values, nulls, true, 0);
	PopActiveSnapshot();
	if (rc != SPI_OK_SELECT)
		mt_spi_failed("internal query", rc);
}

/*
 * Run one parameterized statement on the user table relid as the table's
 * owner, the way PostgreSQL runs user code in REFRESH MATERIALIZED VIEW
 * and in autovacuum's index work:
 *
 *	- a new GUC nest level, search_path = pg_catalog, pg_temp in it;
 *	- when tenant is not NULL, that tenant's maintenance context
 *	  (mt_enter_tenant_maintenance, at the new nest level: it also holds
 *	  for a suspended or deleted tenant), so that FORCE ROW LEVEL SECURITY
 *	  confines the statement to the tenant even though it runs as the
 *	  owner (the owner's code run meanwhile sees the tenant's rows but
 *	  cannot act as the tenant: mt_context_tenant() is NULL in it, see
 *	  context.c); NULL keeps the caller's context (or none);
 *	- SetUserIdAndSecContext(owner, ... | SECURITY_RESTRICTED_OPERATION):
 *	  the owner's triggers, casts, domain checks and defaults run with the
 *	  owner's rights and cannot SET ROLE, create temporary objects or
 *	  change the session;
 *	- afterwards the user and security context are restored and every GUC
 *	  change of the nest level (ours and the owner code's) is rolled back;
 *	  on error the user is restored here and the (sub)transaction abort
 *	  unwinds the nest level.
 *
 * The statement may only touch that table (and what its owner's code
 * touches): writes to the extension's own tables go through
 * mt_catalog_execute outside of this call.  SPI must be connected.
 * Returns the SPI result code (errors on failure); SPI_tuptable and
 * SPI_processed hold the result until the next SPI call.
 */
static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* the three steps of "become the owner" (see above) and their undoing */
typedef struct OwnerScope
{
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;
} OwnerScope;

static void
owner_enter(OwnerScope *s, Oid owner, const pg_uuid_t *tenant)
{
	GetUserIdAndSecContext(&s->save_userid, &s->save_sec);
	/* the level is rolled back at the end: the caller's context must survive that */
	mt_context_materialize();
	s->nestlevel = mt_enter_safe_search_path();
	if (tenant != NULL)
		mt_enter_tenant_maintenance(tenant);
	SetUserIdAndSecContext(owner, s->save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

static void
owner_leave(OwnerScope *s)
{
	SetUserIdAndSecContext(s->save_userid, s->save_sec);
	/* false: roll back every GUC change of the level (SET LOCAL included) */
	AtEOXact_GUC(false, s->nestlevel);
}

int
mt_owner_execute(Oid relid, const pg_uuid_t *tenant, const char *sql,
				 int nargs, Oid *types, Datum *values, const char *nulls,
				 bool read_only, long tcount)
{
	return mt_role_execute(relation_owner(relid), tenant, sql, nargs, types, values,
						   nulls, read_only, tcount);
}

/*
 * The same as role instead of a table's owner (mt.move_tenant runs its
 * statements, which read one table and write another, as its caller).
 */
int
mt_role_execute(Oid role, const pg_uuid_t *tenant, const char *sql,
				int nargs, Oid *types, Datum *values, const char *nulls,
				bool read_only, long tcount)
{
	OwnerScope	s;
	volatile int rc = 0;

	owner_enter(&s, role, tenant);
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, tcount);
		if (rc < 0)
			mt_spi_failed("internal query", rc);
	}
	PG_CATCH();
	{
		/* the (sub)transaction abort unwinds the GUC nest level */
		SetUserIdAndSecContext(s.save_userid, s.save_sec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	owner_leave(&s);
	return rc;
}

/*
 * The same for a query whose result is too large to hold at once (a
 * tenant's rows of a table, mt.export_tenant): mt_owner_cursor_open opens a
 * read-only SPI cursor (the caller's snapshot) as the table's owner, in a
 * security-restricted operation with the safe search_path and, when
 * tenant is not NULL, the tenant's maintenance context; every
 * mt_owner_cursor_fetch runs in that same setting again (the owner's code
 * runs while rows are fetched) and leaves the next count rows in
 * SPI_tuptable.  SPI must stay connected until mt_owner_cursor_close.
 */
void
mt_owner_cursor_open(MtOwnerCursor *c, Oid relid, const pg_uuid_t *tenant,
					 const char *sql, int nargs, Oid *types, Datum *values,
					 const char *nulls)
{
	OwnerScope	s;

	c->owner = relation_owner(relid);
	c->has_tenant = tenant != NULL;
	if (tenant != NULL)
		c->tenant = *tenant;
	owner_enter(&s, c->owner, tenant);
	PG_TRY();
	{
		c->portal = SPI_cursor_open_with_args(NULL, sql, nargs, types, values, nulls,
											  true, 0);
		if (c->portal == NULL)
			mt_spi_failed("cursor open", SPI_result);
	}
	PG_CATCH();
	{
		SetUserIdAndSecContext(s.save_userid, s.save_sec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	owner_leave(&s);
}

uint64
mt_owner_cursor_fetch(MtOwnerCursor *c, long count)
{
	return mt_owner_cursor_fetch_then(c, count, NULL, NULL);
}

/*
 * The same, then then(arg) in that same setting (when not NULL): code that
 * reads SPI_tuptable, such as the output functions of its columns, runs as
 * the owner too.
 */
uint64
mt_owner_cursor_fetch_then(MtOwnerCursor *c, long count,
						   void (*then) (void *arg), void *arg)
{
	OwnerScope	s;

	owner_enter(&s, c->owner, c->has_tenant ? &c->tenant : NULL);
	PG_TRY();
	{
		SPI_cursor_fetch(c->portal, true, count);
		if (then != NULL)
			then(arg);
	}
	PG_CATCH();
	{
		SetUserIdAndSecContext(s.save_userid, s.save_sec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	owner_leave(&s);
	return SPI_processed;
}

void
mt_owner_cursor_close(MtOwnerCursor *c)
{
	SPI_cursor_close(c->portal);
	c->portal = NULL;
}

/*
 * search_path = pg_catalog, pg_temp until mt_leave_safe_search_path (or
 * the end of the (sub)transaction on error): statements the extension
 * builds cannot pick up a caller's operators, functions or types.
 */
int
mt_enter_safe_search_path(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
mt_leave_safe_search_path(int nest)
{
	AtEOXact_GUC(true, nest);
}

/*
 * Run fn(arg) in an internal subtransaction, for work whose failure must
 * not fail the caller (one compliance check, a usage alert).  Returns NULL
 * when fn succeeded.  Otherwise the subtransaction is rolled back and the
 * error is returned, copied into the caller's memory context; the caller
 * reports it and frees it with FreeErrorData.  A query cancel or statement
 * timeout (57014) is never returned: it is rethrown, so Ctrl-C and
 * statement_timeout always end the statement (as PL/pgSQL's WHEN OTHERS
 * does).
 */
ErrorData *
mt_try_in_subxact(void (*fn) (void *arg), void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;

	if (edata != NULL && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	return edata;
}
