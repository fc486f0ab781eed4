/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  SPI helpers (parameterized statements only, never pasted values),
 *	  argument checks and uuid helpers shared by the capability files,
 *	  mt_catalog_execute(): one statement run as the extension owner so
 *	  that functions executed with the caller's rights can write the
 *	  extension's catalog tables, and mt_owner_execute(): one statement on
 *	  a user table run as that table's owner in a security-restricted
 *	  operation (optionally inside a tenant's context), so that the
 *	  owner's triggers, casts, defaults and domains never run with the
 *	  extension owner's rights.  No shared state, no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "multitenant.h"
#include "spi_util.h"

void
mt_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("multitenant: SPI_connect failed")));
}

void
mt_spi_finish(void)
{
	if (SPI_finish() != SPI_OK_FINISH)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("multitenant: SPI_finish failed")));
}

int
mt_spi_execute_nulls(const char *sql, int nargs, Oid *types, Datum *values,
					 const char *nulls, int expected_rc)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (expected_rc != 0 && rc != expected_rc)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("multitenant: internal query failed: %s", SPI_result_code_string(rc))));
	return rc;
}

int
mt_spi_execute(const char *sql, int nargs, Oid *types, Datum *values, int expected_rc)
{
	return mt_spi_execute_nulls(sql, nargs, types, values, NULL, expected_rc);
}

bool
mt_spi_exists(const char *sql, int nargs, Oid *types, Datum *values)
{
	/* not read-only: see the effects of the current command (DDL in event triggers) */
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 1);

	if (rc != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("multitenant: internal query failed: %s", SPI_result_code_string(rc))));
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
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("multitenant: internal query failed: %s", SPI_result_code_string(rc))));
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
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("multitenant: internal query returned no value")));
	return d;
}

char *
mt_spi_text(const char *sql, int nargs, Oid *types, Datum *values, bool *isnull)
{
	Datum		d = mt_spi_value(sql, nargs, types, values, false, isnull);

	return *isnull ? NULL : TextDatumGetCString(d);
}

/*
 * The oid of the extension's own table mt.<name>, or InvalidOid when there
 * is none in this database.  A relation of that name is trusted only when
 * it belongs to the multitenant extension (pg_depend): in a database
 * without the extension, any role with CREATE on the database could plant
 * a schema "mt" and tables in it.  Verified oids are remembered for the
 * life of the backend (a dropped and recreated table gets a new oid).
 */
#define MT_VERIFIED_RELS 16
static Oid	verified_rels[MT_VERIFIED_RELS];
static int	n_verified_rels = 0;

Oid
mt_catalog_relid(const char *name)
{
	Oid			nsp = get_namespace_oid("mt", true);
	Oid			relid;
	Oid			ext;
	char	   *extname;
	bool		ours;

	if (!OidIsValid(nsp))
		return InvalidOid;
	relid = get_relname_relid(name, nsp);
	if (!OidIsValid(relid))
		return InvalidOid;
	for (int i = 0; i < n_verified_rels; i++)
		if (verified_rels[i] == relid)
			return relid;

	ext = getExtensionOfObject(RelationRelationId, relid);
	extname = OidIsValid(ext) ? get_extension_name(ext) : NULL;
	ours = extname != NULL && strcmp(extname, "multitenant") == 0;
	if (!ours)
		return InvalidOid;
	if (n_verified_rels < MT_VERIFIED_RELS)
		verified_rels[n_verified_rels++] = relid;
	return relid;
}

/*
 * The extension owner: the owner of mt.isolated_tables, a table the
 * extension script creates (a pre-existing schema "mt" could belong to
 * someone else, the extension's own tables cannot).
 */
Oid
mt_extension_owner(void)
{
	Oid			catalog = mt_catalog_relid("isolated_tables");
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(catalog))
		elog(ERROR, "multitenant: mt.isolated_tables is missing");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(catalog));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for mt.isolated_tables");
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Run one parameterized statement as the extension owner (catalog writes
 * from functions that otherwise run with the caller's rights).  The user
 * is switched only around this statement and restored on error too;
 * search_path is pg_catalog, pg_temp meanwhile.
 * Returns the SPI result code; SPI_tuptable / SPI_processed hold the
 * statement's result (e.g. a RETURNING list) until the next SPI call.
 */
int
mt_catalog_execute(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	Oid			save_userid;
	int			save_sec;
	Oid			owner = mt_extension_owner();
	volatile int rc = 0;

	int			nestlevel;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	/* as in SECURITY DEFINER functions: the caller's search_path cannot redirect operators */
	nestlevel = mt_enter_safe_search_path();
	PG_TRY();
	{
		rc = mt_spi_execute_nulls(sql, nargs, types, values, nulls, 0);
		if (rc < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("multitenant: internal query failed: %s", SPI_result_code_string(rc))));
	}
	PG_CATCH();
	{
		/* the (sub)transaction abort unwinds the GUC nest level */
		SetUserIdAndSecContext(save_userid, save_sec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	mt_leave_safe_search_path(nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec);
	return rc;
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
int
mt_owner_execute(Oid relid, const pg_uuid_t *tenant, const char *sql,
				 int nargs, Oid *types, Datum *values, const char *nulls,
				 bool read_only, long tcount)
{
	HeapTuple	tup;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;
	volatile int rc = 0;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	nestlevel = mt_enter_safe_search_path();
	if (tenant != NULL)
		mt_enter_tenant_maintenance(tenant);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, tcount);
		if (rc < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("multitenant: internal query failed: %s", SPI_result_code_string(rc))));
	}
	PG_CATCH();
	{
		/* the (sub)transaction abort unwinds the GUC nest level */
		SetUserIdAndSecContext(save_userid, save_sec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	SetUserIdAndSecContext(save_userid, save_sec);
	/* false: roll back every GUC change of the level (SET LOCAL included) */
	AtEOXact_GUC(false, nestlevel);
	return rc;
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

/* 22004 when any of the first nargs arguments is NULL */
void
mt_require_args(FunctionCallInfo fcinfo, int nargs, const char *names)
{
	for (int i = 0; i < nargs; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", names)));
}

char *
mt_uuid_to_cstring(const pg_uuid_t *u)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum((pg_uuid_t *) u)));
}

/* Canonical 8-4-4-4-12 hex form only; never raises. */
bool
mt_parse_uuid(const char *s, pg_uuid_t *out)
{
	int			j = 0;

	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++)
	{
		char		c = s[i];
		int			v;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
			continue;
		}
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return false;
		if (j % 2 == 0)
			out->data[j / 2] = (unsigned char) (v << 4);
		else
			out->data[j / 2] |= (unsigned char) v;
		j++;
	}
	return true;
}
