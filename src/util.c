/*-------------------------------------------------------------------------
 *
 * util.c
 *	  The bottom layer: NULL-argument checks (22004), uuid text helpers
 *	  (and the refusal of a tenant slug of uuid form, 22023), relation
 *	  names, the check that the library was preloaded, and the
 *	  refusal of writes on a hot standby or in a read-only transaction
 *	  (25006), and the one relcache invalidation callback that serves every
 *	  module.  Calls nothing else of the extension.  Per-process state only
 *	  (a flag set when shared memory is attached, the modules' relcache
 *	  callbacks); no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

#include "util.h"

/*
 * 22004 when any argument whose bit is set in argmask is NULL, with the
 * message "<names> must not be NULL" (names: what the caller calls them).
 */
void
mt_require_arg_set(FunctionCallInfo fcinfo, uint32 argmask, const char *names)
{
	for (int i = 0; argmask != 0; i++, argmask >>= 1)
		if ((argmask & 1) && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", names)));
}

/* 22004 when any of the first nargs arguments is NULL */
void
mt_require_args(FunctionCallInfo fcinfo, int nargs, const char *names)
{
	mt_require_arg_set(fcinfo, MT_ARG(nargs) - 1, names);
}

static bool shared_memory_attached = false;

void
mt_shared_memory_attached(void)
{
	shared_memory_attached = true;
}

void
mt_row_table_init(HTAB *htab, long nrows, Size keysize,
				  size_t mutex_off, size_t incarnation_off)
{
	char	   *key = palloc0(keysize);

	Assert(keysize >= sizeof(long));
	/* every row in turn: the table hands out each free row once */
	for (long i = 0; i < nrows; i++)
	{
		char	   *row;
		bool		found;

		memcpy(key, &i, Min(sizeof(i), keysize));
		row = hash_search(htab, key, HASH_ENTER_NULL, &found);
		if (row == NULL || found)
			elog(ERROR, "multitenant: shared hash table smaller than %ld rows", nrows);
		SpinLockInit((slock_t *) (row + mutex_off));
		*(uint64 *) (row + incarnation_off) = 0;
	}
	for (long i = 0; i < nrows; i++)
	{
		memcpy(key, &i, Min(sizeof(i), keysize));
		(void) hash_search(htab, key, HASH_REMOVE, NULL);
	}
	pfree(key);
}

/*
 * Functions that cannot work without shared memory call this first, so that
 * a library loaded on demand (not preloaded) fails with a clear message
 * instead of touching a NULL pointer.
 */
void
mt_require_shared_memory(const char *what)
{
	if (!shared_memory_attached)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires multitenant to be loaded via shared_preload_libraries", what),
				 errhint("Add 'multitenant' to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * Every function that writes calls this first, so that on a hot standby, or
 * in a read-only transaction, it fails with one clear error naming it
 * (25006, PostgreSQL's own code for both) instead of the error of whichever
 * internal statement happens to write first ("cannot execute INSERT in a
 * read-only transaction" with that statement's text as CONTEXT).  Functions
 * that write only shared memory (the flush worker writes their counts out
 * in its own transaction) are refused on a hot standby only: there the
 * counts would never reach a table the primary has.  Two flag tests, cheap
 * enough for the hot paths (RecoveryInProgress() reads a backend-local flag
 * once recovery has ended).
 */
void
mt_require_writable(const char *what, MtWrites writes)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("%s cannot run on a hot standby", what),
				 errdetail("A standby replays the primary's changes and writes nothing itself."),
				 errhint("Run it on the primary server.")));
	if (writes == MT_WRITES_TABLES && XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("%s cannot run in a read-only transaction", what),
				 errhint("Run it in a read-write transaction.")));
}

bool
mt_can_write_tables(void)
{
	return !RecoveryInProgress() && !XactReadOnly;
}

char *
mt_relation_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  relname);
}

/*
 * s cut to at most maxbytes at a character boundary: what an error text
 * quotes of a caller's value ("%.16s" could end inside a multibyte
 * character, and the message would not convert to the client's encoding).
 */
const char *
mt_clipped(const char *s, int maxbytes)
{
	int			len = strnlen(s, maxbytes + 1);

	if (len <= maxbytes)
		return s;
	return pnstrdup(s, pg_mbcliplen(s, len, maxbytes));
}

/* uuid_out's text (lowercase 8-4-4-4-12) into out[37], without fmgr or StringInfo */
void
mt_uuid_format(const pg_uuid_t *u, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = out;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u->data[i] >> 4];
		*p++ = hex[u->data[i] & 0x0f];
	}
	*p = '\0';
}

char *
mt_uuid_to_cstring(const pg_uuid_t *u)
{
	char	   *s = palloc(UUID_LEN * 2 + 5);

	mt_uuid_format(u, s);
	return s;
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

/*
 * 22023 for a tenant slug in the form of a uuid: a token's tenant claim of
 * that form is a tenant id (context.c), so such a slug would name another
 * tenant (or none) in the tokens of an identity provider that carries
 * slugs (mt.create_tenant, mt.import_tenant's new_slug).
 */
void
mt_refuse_uuid_slug(const char *slug)
{
	pg_uuid_t	u;

	if (mt_parse_uuid(slug, &u))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid tenant slug"),
				 errdetail("A slug cannot have the form of a uuid: a token's tenant claim of that form names the tenant of that id.")));
}

/*
 * The batch size of a batch job (argument 0: mt.run_retention,
 * mt.rewrap_audit_keys): not NULL (22004), at least 1 (22023).
 */
int32
mt_batch_arg(FunctionCallInfo fcinfo)
{
	int32		batch;

	mt_require_args(fcinfo, 1, "batch");
	batch = PG_GETARG_INT32(0);
	if (batch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch must be at least 1")));
	return batch;
}

/* the modules' relcache callbacks (mt_register_relcache_callback) */
#define MT_MAX_RELCACHE_CALLBACKS 8
static RelcacheCallbackFunction relcache_callbacks[MT_MAX_RELCACHE_CALLBACKS];
static int	n_relcache_callbacks = 0;

static void
relcache_dispatch(Datum arg, Oid relid)
{
	for (int i = 0; i < n_relcache_callbacks; i++)
		relcache_callbacks[i] (arg, relid);
}

void
mt_register_relcache_callback(RelcacheCallbackFunction func)
{
	for (int i = 0; i < n_relcache_callbacks; i++)
		if (relcache_callbacks[i] == func)
			return;
	if (n_relcache_callbacks >= MT_MAX_RELCACHE_CALLBACKS)
		elog(FATAL, "out of multitenant relcache callback slots");
	/* the one PostgreSQL slot, taken with the first module's callback */
	if (n_relcache_callbacks == 0)
		CacheRegisterRelcacheCallback(relcache_dispatch, (Datum) 0);
	relcache_callbacks[n_relcache_callbacks++] = func;
}
