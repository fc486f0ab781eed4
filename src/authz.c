/*-------------------------------------------------------------------------
 *
 * authz.c
 *	  Authorization inside a tenant: roles (built-in and per tenant, with a
 *	  parent and permission patterns), assignments of roles to subjects
 *	  (optionally in one workspace, from valid_from until valid_until),
 *	  workspaces, and the checks mt.has_permission() /
 *	  mt.require_permission() / mt.current_workspace() (doc/authorization.md).
 *
 * The current subject's effective permissions are resolved once (a few
 * index probes of the tables, without SPI or RLS, as tenant_status.c reads
 * mt.tenants) and kept in this backend's memory: a cache of AuthzState
 * entries keyed by the context's claims (bounded; emptied when full), so
 * a backend serving many tenants and subjects resolves each once.  The resolution is reused, without any read, while all of
 * these stay unchanged:
 *
 *	- the claims of the verified context (tenant, sub, role, workspace,
 *	  back office or not), checked once per transaction and again after
 *	  every change of multitenant.token (context.c's generation);
 *	- the shared registry generation (tenant_status.c): the statement
 *	  trigger mt.tenants_changed on mt.roles, mt.role_assignments and
 *	  mt.workspaces bumps it around the commit of any change, so every
 *	  session sees a grant or revocation at its next transaction;
 *	- this backend's count of relcache invalidations of those tables (and
 *	  of mt.api_key_secrets): the same trigger queues one, which replay
 *	  delivers, so a change replayed on a hot standby is seen there at the
 *	  next transaction too;
 *	- the transaction start time stays before the next valid_from or
 *	  valid_until of the subject's assignments: an assignment that starts
 *	  or expires takes effect at the next transaction.
 *
 * Within a transaction the answer does not change (a change committed
 * meanwhile is seen at the next one).  In parallel mode nothing resolved is
 * kept beyond the transaction; a parallel worker resolves once with the
 * query's snapshot (it restores the leader's verified context, context.c).
 *
 * The management functions write as the extension owner
 * (mt_catalog_execute); they run for the current tenant only, and require
 * roles:manage (roles and assignments) or workspaces:manage (workspaces)
 * of the caller, who can grant only what it holds itself (and change or
 * drop only a role whose current permissions it holds); what it holds
 * only in its workspace (an assignment there, a key bound to it) manages
 * only that workspace's assignments: tenant-wide or other workspaces'
 * assignments and the tenant's roles need the permissions tenant-wide
 * (AuthzState.wide).
 *
 * The OIDs of those four tables are looked up once per backend and again
 * after a relcache invalidation of any of them (or of everything).
 *
 * Locks: none of its own.  All state here is per backend.
 *
 *-------------------------------------------------------------------------
 */
#include "citus_node.h"
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "authz.h"
#include "catalog.h"
#include "context.h"
#include "mfa.h"
#include "permission.h"
#include "security_policy.h"
#include "spi_util.h"
#include "tenant_status.h"
#include "util.h"

#define MT_MAX_ROLE_NAME	63
#define MT_MAX_SUBJECT_LEN	255
#define MT_MAX_ROLE_PERMS	100
#define MT_MAX_WORKSPACE_NAME 200
#define MT_MEMO_SLOTS		4

/* what a resolution is for: the claims of a context (hash key, zero-padded) */
typedef struct AuthzKey
{
	pg_uuid_t	tenant;
	pg_uuid_t	wid;
	bool		has_sub;
	bool		has_role;
	bool		has_wid;
	bool		backoffice;
	bool		bearer;
	char		sub[MT_MAX_SUBJECT_LEN + 1];
	char		role[MT_MAX_ROLE_NAME + 1];
} AuthzKey;

/*
 * A subject's resolved permissions (header comment); an entry of the
 * per-backend cache, keyed by the claims, bounded (MT_AUTHZ_CACHE_MAX, then
 * emptied).  Its strings live in its own memory context.
 */
typedef struct AuthzState
{
	AuthzKey	key;			/* hash key: keep first */
	MemoryContext cxt;
	bool		resolved;
	/* while it holds */
	bool		cacheable;
	uint64		reg_gen;
	uint64		inval;
	TimestampTz until;			/* next valid_from / valid_until */
	/* the result */
	int			nperms;
	char	  **perms;			/* patterns; just "*" when it holds everything */
	int			nwide;
	char	  **wide;			/* the part held tenant-wide: by no assignment
								 * of one workspace, nor by a key bound to one
								 * (what management beyond the current
								 * workspace needs) */
	bool		has_ws;			/* the current workspace */
	pg_uuid_t	ws;
	bool		spans;			/* sees every workspace of the tenant */
	int			err_code;		/* the context cannot be authorized: raised at
								 * every check */
	char	   *err_msg;
	char	   *err_detail;
} AuthzState;

#define MT_AUTHZ_CACHE_MAX	1024

static HTAB *authz_cache = NULL;
static AuthzState *cur = NULL;	/* the entry of the current context */

/* checked in this transaction, for context generation xact_ctx_gen */
static bool xact_ok = false;
static uint64 xact_ctx_gen = 0;
static bool xact_has_ctx = false;

/* the last permissions asked (valid while xact_ok holds) */
typedef struct MemoSlot
{
	int			len;
	char		perm[MT_MAX_PERM_LEN + 1];
	bool		answer;			/* held (by the roles, before the MFA rule) */
	bool		mfa;			/* held, and the tenant's mfa_required_for
								 * covers it: only with mt_mfa_current() */
} MemoSlot;

static MemoSlot memo[MT_MEMO_SLOTS];
static int	memo_next = 0;

/* relcache invalidations of the authorization tables (header comment) */
static uint64 authz_invalidations = 0;
static Oid	watched[4] = {InvalidOid, InvalidOid, InvalidOid, InvalidOid};
static bool authz_callback_registered = false;

/*
 * whether watched[] holds the four tables' current OIDs: cleared by a
 * relcache invalidation of any of them or of everything (the extension
 * dropped and re-created), so they are looked up once, not per resolution
 */
static bool watched_current = false;

static void
authz_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == watched[0] || relid == watched[1] ||
		relid == watched[2] || relid == watched[3])
		watched_current = false;
	if (relid == InvalidOid || !OidIsValid(watched[0]) || !OidIsValid(watched[1]) ||
		relid == watched[0] || relid == watched[1] || relid == watched[2] ||
		relid == watched[3])
		authz_invalidations++;
}

static uint64
authz_inval_count(void)
{
	if (!authz_callback_registered)
	{
		mt_register_relcache_callback(authz_relcache_callback);
		authz_callback_registered = true;
	}
	return authz_invalidations;
}

static void
memo_reset(void)
{
	for (int i = 0; i < MT_MEMO_SLOTS; i++)
		memo[i].len = -1;
}

void
mt_authz_xact_reset(void)
{
	xact_ok = false;
}

static bool
state_holds(const AuthzState *st, const char *perm)
{
	for (int i = 0; i < st->nperms; i++)
		if (mt_permission_covers(st->perms[i], perm))
			return true;
	return false;
}

/* whether the current subject holds perm tenant-wide (AuthzState.wide) */
static bool
state_holds_wide(const AuthzState *st, const char *perm)
{
	for (int i = 0; i < st->nwide; i++)
		if (mt_permission_covers(st->wide[i], perm))
			return true;
	return false;
}

/* 22023 unless perm is a permission of the grammar */
static void
check_permission_arg(const char *perm)
{
	if (!mt_permission_valid(perm))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid permission \"%s\"",
						strlen(perm) > MT_MAX_PERM_LEN ? "(too long)" : perm),
				 errdetail("A permission is \"*\" or \"<resource>:<action>\", each part \"*\" or 1 to %d of the characters A-Z a-z 0-9 _ . -, at most %d bytes in all.",
						   MT_MAX_SEGMENT_LEN, MT_MAX_PERM_LEN)));
}

/* ---------------------------------------------------------------------
 * Resolution
 * --------------------------------------------------------------------- */

static bool
is_key_subject(const char *sub)
{
	return sub != NULL && strncmp(sub, MT_KEY_SUBJECT_PREFIX, strlen(MT_KEY_SUBJECT_PREFIX)) == 0;
}

/*
 * The read-only queries of the management functions, planned once per
 * backend and kept (the plan cache replans them after DDL on the tables).
 * SPI connected, as the extension owner with the safe search_path.
 */
typedef enum AuthzQuery
{
	Q_ASSIGNMENTS,
	Q_CLOSURE,
	Q_WORKSPACE,
	Q_COUNT
} AuthzQuery;

static SPIPlanPtr saved_plans[Q_COUNT];

static void
select_saved(AuthzQuery q, const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc;

	if (saved_plans[q] == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			mt_spi_failed("SPI_prepare", SPI_result);
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		saved_plans[q] = p;
	}
	rc = SPI_execute_plan(saved_plans[q], values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		mt_spi_failed("internal query", rc);
}

/* the cache key of the claims c (zero-padded: the whole struct is hashed) */
static void
claims_key(const MtContextClaims *c, AuthzKey *k)
{
	memset(k, 0, sizeof(*k));
	memcpy(&k->tenant, c->tenant, sizeof(pg_uuid_t));
	if (c->wid)
	{
		k->has_wid = true;
		memcpy(&k->wid, c->wid, sizeof(pg_uuid_t));
	}
	if (c->sub)
	{
		k->has_sub = true;
		strlcpy(k->sub, c->sub, sizeof(k->sub));
	}
	if (c->role)
	{
		k->has_role = true;
		strlcpy(k->role, c->role, sizeof(k->role));
	}
	k->backoffice = c->backoffice;
	k->bearer = c->bearer;
}

/* the cache entry for key k (new and unresolved if there was none) */
static AuthzState *
cache_entry(const AuthzKey *k)
{
	AuthzState *st;
	bool		found;

	if (authz_cache == NULL || hash_get_num_entries(authz_cache) >= MT_AUTHZ_CACHE_MAX)
	{
		HASHCTL		ctl;

		if (authz_cache != NULL)
		{
			HASH_SEQ_STATUS seq;

			hash_seq_init(&seq, authz_cache);
			while ((st = hash_seq_search(&seq)) != NULL)
				if (st->cxt != NULL)
					MemoryContextDelete(st->cxt);
			hash_destroy(authz_cache);
		}
		cur = NULL;
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(AuthzKey);
		ctl.entrysize = sizeof(AuthzState);
		ctl.hcxt = TopMemoryContext;
		authz_cache = hash_create("multitenant authz cache", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	st = hash_search(authz_cache, k, HASH_ENTER, &found);
	if (!found)
	{
		memset(((char *) st) + sizeof(AuthzKey), 0, sizeof(AuthzState) - sizeof(AuthzKey));
		st->cxt = AllocSetContextCreate(TopMemoryContext, "multitenant authz entry",
										ALLOCSET_SMALL_SIZES);
	}
	return st;
}

static bool
still_valid(const AuthzState *st)
{
	uint64		gen;

	return st->resolved && st->cacheable &&
		mt_registry_generation(&gen) && gen == st->reg_gen &&
		authz_inval_count() == st->inval &&
		GetCurrentTransactionStartTimestamp() < st->until;
}

static void
defer_error(AuthzState *st, int code, char *msg, char *detail)
{
	if (st->err_code != 0)
		return;
	st->err_code = code;
	st->err_msg = MemoryContextStrdup(st->cxt, msg);
	st->err_detail = detail ? MemoryContextStrdup(st->cxt, detail) : NULL;
}

/*
 * The permission patterns of the roles in roots and of their ancestors, in
 * tenant's roles and the built-ins; SPI connected, as the extension owner.
 * Returns a List of palloc'd strings (in CurrentMemoryContext of the caller,
 * cxt).
 */
static List *
role_closure_perms(const pg_uuid_t *tenant, List *roots, MemoryContext cxt)
{
	Datum	   *elems;
	int			n = list_length(roots);
	int			i = 0;
	ListCell   *lc;
	Oid			types[2] = {UUIDOID, TEXTARRAYOID};
	Datum		values[2];
	List	   *result = NIL;

	if (n == 0)
		return NIL;
	elems = palloc(sizeof(Datum) * n);
	foreach(lc, roots)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	values[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	values[1] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	select_saved(Q_CLOSURE, "WITH RECURSIVE r(name, depth) AS ("
				 " SELECT n, 0 FROM pg_catalog.unnest($2) AS n"
				  " UNION"
				  " SELECT ro.parent, r.depth OPERATOR(pg_catalog.+) 1"
				  " FROM r JOIN mt.roles ro ON ro.name OPERATOR(pg_catalog.=) r.name"
				  "  AND (ro.tenant_id OPERATOR(pg_catalog.=) $1 OR ro.tenant_id IS NULL)"
				  " WHERE ro.parent IS NOT NULL AND r.depth OPERATOR(pg_catalog.<) 64)"
				  " SELECT DISTINCT p FROM r JOIN mt.roles ro"
				  " ON ro.name OPERATOR(pg_catalog.=) r.name"
				  "  AND (ro.tenant_id OPERATOR(pg_catalog.=) $1 OR ro.tenant_id IS NULL),"
				  " pg_catalog.unnest(ro.permissions) AS p",
				 2, types, values);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			result = lappend(result, MemoryContextStrdup(cxt, TextDatumGetCString(d)));
	}
	return result;
}

static bool
workspace_of_tenant(const pg_uuid_t *tenant, const pg_uuid_t *ws)
{
	Oid			types[2] = {UUIDOID, UUIDOID};
	Datum		values[2] = {UUIDPGetDatum((pg_uuid_t *) tenant), UUIDPGetDatum((pg_uuid_t *) ws)};

	select_saved(Q_WORKSPACE, "SELECT 1 FROM mt.workspaces WHERE id OPERATOR(pg_catalog.=) $2"
				 " AND tenant_id OPERATOR(pg_catalog.=) $1",
				 2, types, values);
	return SPI_processed > 0;
}

/* appends a copy of p to *perms when it is a permission; all in cxt */
static void
add_perm(MemoryContext cxt, List **perms, const char *p)
{
	if (mt_permission_valid(p))
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		*perms = lappend(*perms, pstrdup(p));
		MemoryContextSwitchTo(old);
	}
}

static bool
list_has_string(List *l, const char *s)
{
	ListCell   *lc;

	foreach(lc, l)
		if (strcmp((char *) lfirst(lc), s) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------------
 * Direct index probes of a resolution: no SPI, no RLS, no user switch
 * (as tenant_status.c reads mt.tenants), with the query's active snapshot
 * (the latest one when there is none, outside parallel mode).  A
 * resolution of a subject is then a few index probes.
 * --------------------------------------------------------------------- */
typedef struct AuthzProbe
{
	Relation	rel;
	SysScanDesc scan;
	Snapshot	snap;
} AuthzProbe;

/*
 * Starts a scan of mt.<relid>'s index `index` for columns[i] = keys[i]
 * (procs[i] the equality function; InvalidOid: the column IS NULL).  False
 * when there is no such index or no snapshot may be taken.
 */
static bool
probe_begin(AuthzProbe *p, Oid relid, const char *index, int nkeys,
			const char *const *columns, const RegProcedure *procs, const Datum *keys)
{
	ScanKeyData sk[2];
	Oid			idx = get_relname_relid(index, get_rel_namespace(relid));
	Snapshot	snap;

	memset(p, 0, sizeof(*p));
	Assert(nkeys <= 2);
	if (!OidIsValid(idx))
		return false;
	if (ActiveSnapshotSet())
		snap = GetActiveSnapshot();
	else if (!IsInParallelMode())
		snap = GetLatestSnapshot();
	else
		return false;
	for (int i = 0; i < nkeys; i++)
	{
		AttrNumber	att = get_attnum(relid, columns[i]);
		Oid			typ,
					coll;
		int32		typmod;

		if (att == InvalidAttrNumber)
			elog(ERROR, "mt table %u has no column \"%s\"", relid, columns[i]);
		if (procs[i] == InvalidOid)
			ScanKeyEntryInitialize(&sk[i], SK_ISNULL | SK_SEARCHNULL, att, InvalidStrategy,
								   InvalidOid, InvalidOid, InvalidOid, (Datum) 0);
		else
		{
			get_atttypetypmodcoll(relid, att, &typ, &typmod, &coll);
			ScanKeyEntryInitialize(&sk[i], 0, att, BTEqualStrategyNumber, InvalidOid,
								   coll, procs[i], keys[i]);
		}
	}
	p->rel = table_open(relid, AccessShareLock);
	p->snap = RegisterSnapshot(snap);
	p->scan = systable_beginscan(p->rel, idx, true, p->snap, nkeys, sk);
	return true;
}

static void
probe_end(AuthzProbe *p)
{
	if (p->scan)
		systable_endscan(p->scan);
	if (p->snap)
		UnregisterSnapshot(p->snap);
	if (p->rel)
		table_close(p->rel, AccessShareLock);
}

static Datum
tuple_attr(AuthzProbe *p, HeapTuple tup, const char *column, bool *isnull)
{
	AttrNumber	att = get_attnum(RelationGetRelid(p->rel), column);

	if (att == InvalidAttrNumber)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return heap_getattr(tup, att, RelationGetDescr(p->rel), isnull);
}

/*
 * The role `name` of the tenant, or the built-in of that name: appends its
 * permissions to *perms (in cxt) and returns its parent (palloc'd, NULL if
 * none); *found false when there is no such role.
 */
static char *
probe_role(const pg_uuid_t *tenant, const char *name, MemoryContext cxt, List **perms,
		   bool *found)
{
	static const char *const cols[2] = {"tenant_id", "name"};
	char	   *parent = NULL;

	*found = false;
	for (int builtin = 0; builtin <= 1 && !*found; builtin++)
	{
		AuthzProbe p;
		RegProcedure procs[2] = {builtin ? InvalidOid : F_UUID_EQ, F_TEXTEQ};
		Datum		keys[2] = {UUIDPGetDatum((pg_uuid_t *) tenant), CStringGetTextDatum(name)};
		HeapTuple	tup;

		if (!probe_begin(&p, watched[0], "roles_name_once", 2, cols, procs, keys))
			return NULL;
		if ((tup = systable_getnext(p.scan)) != NULL)
		{
			bool		isnull;
			Datum		d = tuple_attr(&p, tup, "permissions", &isnull);

			*found = true;
			if (!isnull && perms != NULL)
			{
				Datum	   *elems;
				bool	   *nulls;
				int			n;

				deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
								  &elems, &nulls, &n);
				for (int i = 0; i < n; i++)
					if (!nulls[i])
						add_perm(cxt, perms, TextDatumGetCString(elems[i]));
			}
			d = tuple_attr(&p, tup, "parent", &isnull);
			if (!isnull)
				parent = TextDatumGetCString(d);
		}
		probe_end(&p);
	}
	return parent;
}

/* the permissions of roots and of their ancestors, appended to *perms (in cxt) */
static void
probe_closure(const pg_uuid_t *tenant, List *roots, MemoryContext cxt, List **perms)
{
	List	   *seen = NIL;
	ListCell   *lc;

	foreach(lc, roots)
	{
		char	   *name = (char *) lfirst(lc);

		/* a chain of at most 64 parents (cycles are refused when made) */
		for (int depth = 0; name != NULL && depth < 64; depth++)
		{
			bool		found;

			if (list_has_string(seen, name))
				break;
			seen = lappend(seen, name);
			name = probe_role(tenant, name, cxt, perms, &found);
		}
	}
}

/* whether ws is a workspace of tenant (primary-key probe) */
static bool
probe_workspace(const pg_uuid_t *tenant, const pg_uuid_t *ws)
{
	static const char *const cols[1] = {"id"};
	RegProcedure procs[1] = {F_UUID_EQ};
	Datum		keys[1] = {UUIDPGetDatum((pg_uuid_t *) ws)};
	AuthzProbe	p;
	HeapTuple	tup;
	bool		ok = false;

	if (!probe_begin(&p, watched[2], "workspaces_pkey", 1, cols, procs, keys))
		return false;
	if ((tup = systable_getnext(p.scan)) != NULL)
	{
		bool		isnull;
		Datum		d = tuple_attr(&p, tup, "tenant_id", &isnull);

		ok = !isnull && memcmp(DatumGetUUIDP(d), tenant, sizeof(pg_uuid_t)) == 0;
	}
	probe_end(&p);
	return ok;
}

/*
 * The roles the subject holds now in the current workspace (palloc'd
 * names); moves st->until to the next valid_from/valid_until; *spans
 * when one of them is tenant-wide, and *wide_roles gets those.
 */
static List *
subject_roles(AuthzState *st, const pg_uuid_t *tenant, const char *sub, TimestampTz now,
			  bool *spans, List **wide_roles)
{
	static const char *const cols[2] = {"tenant_id", "subject"};
	RegProcedure procs[2] = {F_UUID_EQ, F_TEXTEQ};
	Datum		keys[2] = {UUIDPGetDatum((pg_uuid_t *) tenant), CStringGetTextDatum(sub)};
	List	   *roles = NIL;
	AuthzProbe	p;
	HeapTuple	tup;

	*spans = false;
	*wide_roles = NIL;
	if (!probe_begin(&p, watched[1], "role_assignments_subject_idx", 2, cols, procs, keys))
		return NIL;
	while ((tup = systable_getnext(p.scan)) != NULL)
	{
		bool		n_ws,
					n_from,
					n_until,
					n_role;
		Datum		role = tuple_attr(&p, tup, "role", &n_role);
		Datum		ws = tuple_attr(&p, tup, "workspace_id", &n_ws);
		TimestampTz from = DatumGetTimestampTz(tuple_attr(&p, tup, "valid_from", &n_from));
		TimestampTz until = DatumGetTimestampTz(tuple_attr(&p, tup, "valid_until", &n_until));

		if (n_role)
			continue;
		if (n_from)
			from = DT_NOBEGIN;
		if (n_until)
			until = DT_NOEND;
		if (from > now && from < st->until)
			st->until = from;
		if (until > now && until < st->until)
			st->until = until;
		if (!(from <= now && now < until))
			continue;
		if (!n_ws && !(st->has_ws &&
					   memcmp(DatumGetUUIDP(ws), &st->ws, sizeof(pg_uuid_t)) == 0))
			continue;
		roles = lappend(roles, TextDatumGetCString(role));
		if (n_ws)
		{
			*spans = true;
			*wide_roles = lappend(*wide_roles, llast(roles));
		}
	}
	probe_end(&p);
	return roles;
}

/* resolves the permissions of the entry st (header comment) */
static void
resolve(AuthzState *st)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	uint64		gen = 0;
	bool		have_gen;
	bool		is_key;
	bool		spans = false;
	List	   *roots = NIL;
	List	   *wide_roots = NIL;
	List	   *perms = NIL;
	List	   *wide_perms = NIL;
	bool		all_wide;
	ListCell   *lc;
	int			i;

	MemoryContext cxt = st->cxt;

	MemoryContextReset(cxt);
	memset(((char *) st) + sizeof(AuthzKey), 0, sizeof(AuthzState) - sizeof(AuthzKey));
	st->cxt = cxt;

	/* read both before the catalog, so that a racing change re-resolves */
	have_gen = mt_registry_generation(&gen);
	st->inval = authz_inval_count();
	st->reg_gen = gen;
	st->cacheable = have_gen && !IsInParallelMode();
	st->until = DT_NOEND;

	is_key = !st->key.bearer && st->key.has_sub && is_key_subject(st->key.sub);

	/*
	 * looked up again after an invalidation of any of them (the extension
	 * may have been dropped and re-created; authz_inval_count registered
	 * the callback above), and while one is missing (an older SQL)
	 */
	if (!watched_current)
	{
		watched[0] = mt_catalog_relid("roles");
		watched[1] = mt_catalog_relid("role_assignments");
		watched[2] = mt_catalog_relid("workspaces");
		watched[3] = mt_catalog_relid("api_key_secrets");
		watched_current = OidIsValid(watched[0]) && OidIsValid(watched[1]) &&
			OidIsValid(watched[2]) && OidIsValid(watched[3]);
	}
	if (!OidIsValid(watched[0]) || !OidIsValid(watched[1]) || !OidIsValid(watched[2]))
	{
		/* the extension's SQL is older than 0.4.0: nobody holds anything */
		st->cacheable = false;
		st->resolved = true;
		return;
	}

	/* the workspace: an API key's own, or the context's claim */
	if (is_key)
	{
		static const char *const cols[1] = {"key_id"};
		RegProcedure procs[1] = {F_TEXTEQ};
		Datum		keys[1] = {CStringGetTextDatum(st->key.sub + strlen(MT_KEY_SUBJECT_PREFIX))};
		AuthzProbe	p;
		HeapTuple	tup;

		if (probe_begin(&p, watched[3], "api_key_secrets_pkey", 1, cols, procs, keys))
		{
			bool		isnull;
			Datum		d;

			tup = systable_getnext(p.scan);
			d = tup ? tuple_attr(&p, tup, "tenant_id", &isnull) : (Datum) 0;
			if (tup != NULL && !isnull &&
				memcmp(DatumGetUUIDP(d), &st->key.tenant, sizeof(pg_uuid_t)) == 0)
			{
				d = tuple_attr(&p, tup, "scopes", &isnull);
				if (!isnull)
				{
					Datum	   *elems;
					bool	   *nulls;
					int			n;

					deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
									  &elems, &nulls, &n);
					for (i = 0; i < n; i++)
						if (!nulls[i])
							add_perm(cxt, &perms, TextDatumGetCString(elems[i]));
				}
				/* absent before ALTER EXTENSION UPDATE to 0.4.0: tuple_attr gives NULL */
				d = tuple_attr(&p, tup, "workspace_id", &isnull);
				if (!isnull)
				{
					st->has_ws = true;
					memcpy(&st->ws, DatumGetUUIDP(d), sizeof(pg_uuid_t));
				}
				/* the scopes of a key bound to no workspace are tenant-wide */
				spans = perms != NIL && !st->has_ws;
				if (!st->has_ws)
					wide_perms = list_copy(perms);
			}
			probe_end(&p);
		}
	}
	else if (st->key.has_wid)
	{
		if (probe_workspace(&st->key.tenant, &st->key.wid))
		{
			st->has_ws = true;
			memcpy(&st->ws, &st->key.wid, sizeof(pg_uuid_t));
		}
		else
			defer_error(st, ERRCODE_UNDEFINED_OBJECT,
						psprintf("workspace %s of the context is not a workspace of tenant %s",
								 mt_uuid_to_cstring(&st->key.wid), mt_uuid_to_cstring(&st->key.tenant)),
						NULL);
	}

	/* the roots: the roles the context acts with */
	if (st->key.backoffice && !st->key.has_sub && !st->key.has_role)
	{
		add_perm(cxt, &perms, "*");
		wide_perms = list_copy(perms);
		spans = true;
	}
	else if (st->key.backoffice && st->key.has_role)
	{
		bool		found;

		(void) probe_role(&st->key.tenant, st->key.role, cxt, NULL, &found);
		if (found)
			roots = wide_roots = list_make1(pstrdup(st->key.role));
		else
			defer_error(st, ERRCODE_UNDEFINED_OBJECT,
						psprintf("role \"%s\" of the context does not exist in tenant %s",
								 st->key.role, mt_uuid_to_cstring(&st->key.tenant)),
						NULL);
		spans = true;
	}
	else if (st->key.has_sub)
	{
		bool		tenant_wide;
		List	   *held_wide;
		List	   *held = subject_roles(st, &st->key.tenant, st->key.sub, now, &tenant_wide,
										 &held_wide);

		spans |= tenant_wide;

		if (st->key.has_role && !st->key.backoffice)
		{
			/* the trust rule: a bearer token's role is capped by the assignments */
			if (list_has_string(held, st->key.role))
			{
				roots = list_make1(pstrdup(st->key.role));
				if (list_has_string(held_wide, st->key.role))
					wide_roots = roots;
			}
			else
				defer_error(st, ERRCODE_INSUFFICIENT_PRIVILEGE,
							psprintf("the token's role \"%s\" exceeds the assignments of subject \"%s\"",
									 st->key.role, st->key.sub),
							"A token's role claim selects one of the roles assigned to its subject (mt.grant_role) in the tenant and workspace; only a token minted by mt.tenant_token() or a context entered by mt.set_tenant() is trusted with any role.");
		}
		else
		{
			roots = held;
			wide_roots = held_wide;
		}
	}
	else if (st->key.has_role)
		defer_error(st, ERRCODE_INSUFFICIENT_PRIVILEGE,
					psprintf("the token's role \"%s\" exceeds the assignments of its subject", st->key.role),
					"The token has a role claim but no sub claim, so no assignment can confirm the role.");

	/* an API key bound to a workspace never spans workspaces */
	if (is_key && st->has_ws)
		wide_roots = NIL;

	if (roots != NIL)
		probe_closure(&st->key.tenant, roots, cxt, &perms);

	/* what is held tenant-wide: everything unless a root is of one workspace */
	all_wide = !(is_key && st->has_ws);
	foreach(lc, roots)
		if (!list_has_string(wide_roots, (char *) lfirst(lc)))
			all_wide = false;
	if (all_wide)
		wide_perms = perms;
	else if (wide_roots != NIL)
		probe_closure(&st->key.tenant, wide_roots, cxt, &wide_perms);

	/* an API key bound to a workspace never spans workspaces */
	st->spans = spans && !(is_key && st->has_ws);

	/* "*" makes every other pattern redundant */
	st->nperms = 0;
	st->perms = MemoryContextAlloc(cxt, sizeof(char *) * Max(list_length(perms), 1));
	foreach(lc, perms)
	{
		char	   *p = (char *) lfirst(lc);

		if (strcmp(p, "*") == 0)
		{
			st->perms[0] = p;
			st->nperms = 1;
			break;
		}
		st->perms[st->nperms++] = p;
	}
	st->nwide = 0;
	st->wide = MemoryContextAlloc(cxt, sizeof(char *) * Max(list_length(wide_perms), 1));
	foreach(lc, wide_perms)
	{
		char	   *p = (char *) lfirst(lc);

		if (strcmp(p, "*") == 0)
		{
			st->wide[0] = p;
			st->nwide = 1;
			break;
		}
		st->wide[st->nwide++] = p;
	}

	/*
	 * What the current workspace's assignments add applies there only: a
	 * subject holding more than its tenant-wide permissions does not span
	 * workspaces (else the generated policies would let a workspace role
	 * write every workspace a tenant-wide role makes visible).
	 */
	for (i = 0; st->spans && !all_wide && i < st->nperms; i++)
		if (!state_holds_wide(st, st->perms[i]))
			st->spans = false;
	st->resolved = true;
}

/*
 * The resolved state of the current context (header comment), or NULL when
 * there is no tenant context.
 */
static AuthzState *
current_state(void)
{
	MtContextClaims c;
	AuthzKey	key;
	uint64		ctx_gen = mt_context_generation();

	if (xact_ok && xact_ctx_gen == ctx_gen)
		return xact_has_ctx ? cur : NULL;

	memo_reset();
	xact_ok = false;
	if (!mt_context_claims(&c))
	{
		xact_has_ctx = false;
		xact_ctx_gen = ctx_gen;
		xact_ok = true;
		return NULL;
	}
	claims_key(&c, &key);
	if (cur == NULL || memcmp(&cur->key, &key, sizeof(AuthzKey)) != 0)
		cur = cache_entry(&key);
	if (!still_valid(cur))
	{
		cur->resolved = false;
		resolve(cur);
	}
	xact_has_ctx = true;
	xact_ctx_gen = ctx_gen;
	xact_ok = true;
	return cur;
}

static void
raise_deferred(const AuthzState *st)
{
	if (st->err_code != 0)
		ereport(ERROR,
				(errcode(st->err_code),
				 errmsg("%s", st->err_msg),
				 st->err_detail ? errdetail("%s", st->err_detail) : 0));
}

/*
 * Whether the current subject holds perm (text argument, any length).  A
 * permission the tenant's security policy lists in mfa_required_for is held
 * only while mt_mfa_current() is true (*needs_mfa set when that alone
 * denies it); the memo keeps the answer of the roles and whether the rule
 * applies, and the marker is read at every call, so an mt.totp_verify()
 * later in the transaction counts at once.
 */
static bool
holds_text(text *t, AuthzState **st_out, bool *needs_mfa)
{
	AuthzState *st = current_state();
	int			len = VARSIZE_ANY_EXHDR(t);
	const char *data = VARDATA_ANY(t);
	char		perm[MT_MAX_PERM_LEN + 1];
	bool		answer;
	bool		mfa;
	MemoSlot   *slot;

	*st_out = st;
	*needs_mfa = false;
	if (st != NULL)
		raise_deferred(st);
	for (int i = 0; i < MT_MEMO_SLOTS; i++)
		if (memo[i].len == len && memcmp(memo[i].perm, data, len) == 0)
		{
			if (memo[i].mfa && !mt_mfa_current())
			{
				*needs_mfa = true;
				return false;
			}
			return memo[i].answer;
		}
	if (len > MT_MAX_PERM_LEN)
		check_permission_arg(text_to_cstring(t));
	memcpy(perm, data, len);
	perm[len] = '\0';
	check_permission_arg(perm);
	answer = st != NULL && state_holds(st, perm);
	mfa = answer && mt_policy_mfa_required(&st->key.tenant, perm);

	slot = &memo[memo_next];
	memo_next = (memo_next + 1) % MT_MEMO_SLOTS;
	memcpy(slot->perm, perm, len + 1);
	slot->len = len;
	slot->answer = answer;
	slot->mfa = mfa;
	if (mfa && !mt_mfa_current())
	{
		*needs_mfa = true;
		return false;
	}
	return answer;
}

PG_FUNCTION_INFO_V1(mt_has_permission);
Datum
mt_has_permission(PG_FUNCTION_ARGS)
{
	AuthzState *st;
	bool		needs_mfa;

	mt_require_args(fcinfo, 1, "permission");
	PG_RETURN_BOOL(holds_text(PG_GETARG_TEXT_PP(0), &st, &needs_mfa));
}

PG_FUNCTION_INFO_V1(mt_require_permission);
Datum
mt_require_permission(PG_FUNCTION_ARGS)
{
	AuthzState *st;
	text	   *t;
	bool		needs_mfa;

	mt_require_args(fcinfo, 1, "permission");
	t = PG_GETARG_TEXT_PP(0);
	if (holds_text(t, &st, &needs_mfa))
		PG_RETURN_VOID();
	if (needs_mfa)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission \"%s\" requires a second factor", text_to_cstring(t)),
				 errdetail("The security policy of tenant %s lists it in mfa_required_for, and subject %s has not passed a second factor in this context.",
						   mt_uuid_to_cstring(&st->key.tenant),
						   st->key.has_sub ? quote_literal_cstr(st->key.sub) : "(none)"),
				 errhint("Verify a second factor with mt.totp_verify() in this context.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission \"%s\" denied", text_to_cstring(t)),
			 st == NULL ? errdetail("No tenant context is set.") :
			 errdetail("Subject %s holds no role or scope in tenant %s that grants \"%s\".",
					   st->key.has_sub ? quote_literal_cstr(st->key.sub) : "(none)",
					   mt_uuid_to_cstring(&st->key.tenant), text_to_cstring(t))));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_current_workspace);
Datum
mt_current_workspace(PG_FUNCTION_ARGS)
{
	AuthzState *st = current_state();
	pg_uuid_t  *res;

	if (st == NULL)
		PG_RETURN_NULL();
	raise_deferred(st);
	if (!st->has_ws)
		PG_RETURN_NULL();
	res = palloc(sizeof(pg_uuid_t));
	memcpy(res, &st->ws, sizeof(pg_uuid_t));
	PG_RETURN_UUID_P(res);
}

/*
 * mt.workspace_visible(ws): whether rows of workspace ws are visible to the
 * current subject: rows of no workspace (NULL), of the current workspace,
 * or of any when its role spans workspaces (a tenant-wide assignment, the
 * back office; never an API key bound to a workspace).
 */
PG_FUNCTION_INFO_V1(mt_workspace_visible);
Datum
mt_workspace_visible(PG_FUNCTION_ARGS)
{
	AuthzState *st = current_state();

	if (st == NULL)
		PG_RETURN_BOOL(false);
	raise_deferred(st);
	if (PG_ARGISNULL(0) || st->spans)
		PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(st->has_ws &&
				   memcmp(PG_GETARG_UUID_P(0), &st->ws, sizeof(pg_uuid_t)) == 0);
}

/* ---------------------------------------------------------------------
 * Management
 * --------------------------------------------------------------------- */

/*
 * 42501 unless the caller holds perm: tenant-wide when `wide` (management
 * beyond the current workspace: tenant-wide or other workspaces'
 * assignments, the tenant's roles), else in the current workspace.
 */
static void
require_held(const AuthzState *st, const char *perm, const char *what, bool wide)
{
	if (wide ? !state_holds_wide(st, perm) : !state_holds(st, perm))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission \"%s\" denied", perm),
				 wide && state_holds(st, perm) ?
				 errdetail("%s needs \"%s\" tenant-wide here; subject %s holds it only in the current workspace.",
						   what, perm, st->key.has_sub ? quote_literal_cstr(st->key.sub) : "(none)") :
				 errdetail("%s needs \"%s\" in the current tenant; subject %s does not hold it.",
						   what, perm, st->key.has_sub ? quote_literal_cstr(st->key.sub) : "(none)"),
				 wide ? errhint("A role assigned in one workspace (or an API key bound to one) manages assignments of that workspace only.") : 0));
}

/*
 * The tenant of the caller's context, which must hold perm (42501;
 * tenant-wide when `wide`, require_held); first refuses on a standby or
 * read-only transaction (25006).
 */
static const AuthzState *
require_manager(const char *what, const char *perm, bool wide)
{
	AuthzState *st;

	mt_require_writable(what, MT_WRITES_TABLES);
	(void) mt_require_context_tenant();
	st = current_state();
	if (st == NULL)
		elog(ERROR, "tenant context without authorization state");
	raise_deferred(st);
	require_held(st, perm, what, wide);
	return st;
}

void
mt_require_context_permission(const char *what, const char *perm)
{
	(void) require_manager(what, perm, true);
}

/*
 * 42501 unless the caller holds every pattern of perms (no escalation);
 * tenant-wide when `wide` (require_held)
 */
static void
require_covered(const AuthzState *st, List *perms, const char *what, bool wide)
{
	ListCell   *lc;

	foreach(lc, perms)
	{
		const char *p = (const char *) lfirst(lc);

		if (mt_permission_valid(p) && !(wide ? state_holds_wide(st, p) : state_holds(st, p)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("cannot %s: permission \"%s\" is not held by the caller", what, p),
					 wide ?
					 errdetail("A subject can give others only permissions it holds itself, tenant-wide for a tenant-wide assignment, another workspace's or a role.") :
					 errdetail("A subject can give others only permissions it holds itself.")));
	}
}

static char *
text_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static void
check_role_name(const char *name)
{
	size_t		len = strlen(name);
	bool		ok = len >= 1 && len <= MT_MAX_ROLE_NAME && name[0] >= 'a' && name[0] <= 'z';

	for (size_t i = 0; ok && i < len; i++)
	{
		char		c = name[i];

		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid role name \"%s\"", len > MT_MAX_ROLE_NAME ? "(too long)" : name),
				 errdetail("A role name is 1 to %d of a-z 0-9 _ . -, starting with a letter.",
						   MT_MAX_ROLE_NAME)));
}

/* the permission array argument: 1-D, no NULLs, each valid, at most 100 */
static List *
permissions_arg(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *perms = NIL;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("permissions must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n > MT_MAX_ROLE_PERMS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a role can have at most %d permissions", MT_MAX_ROLE_PERMS)));
	for (int i = 0; i < n; i++)
	{
		char	   *p;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("permissions must not contain NULL")));
		p = TextDatumGetCString(elems[i]);
		check_permission_arg(p);
		perms = lappend(perms, p);
	}
	return perms;
}

/* 0: no such role; 1: built in; 2: the tenant's own.  SPI connected. */
static int
role_kind(const pg_uuid_t *tenant, const char *name)
{
	Oid			types[2] = {UUIDOID, TEXTOID};
	Datum		values[2] = {UUIDPGetDatum((pg_uuid_t *) tenant), CStringGetTextDatum(name)};
	bool		isnull;
	Datum		d;

	mt_spi_select("SELECT tenant_id IS NULL FROM mt.roles WHERE name OPERATOR(pg_catalog.=) $2"
				  " AND (tenant_id OPERATOR(pg_catalog.=) $1 OR tenant_id IS NULL)",
				  2, types, values, NULL);
	if (SPI_processed == 0)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetBool(d) ? 1 : 2;
}

static void
unknown_role(const char *name, const pg_uuid_t *tenant)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("role \"%s\" does not exist in tenant %s", name, mt_uuid_to_cstring(tenant)),
			 errhint("Built-in roles: owner, admin, member, viewer, auditor; custom roles: mt.create_role().")));
}

static void
unknown_workspace(const pg_uuid_t *ws, const pg_uuid_t *tenant)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("workspace %s does not exist in tenant %s",
					mt_uuid_to_cstring(ws), mt_uuid_to_cstring(tenant))));
}

/* the names on the parent chain of role name (SPI connected) */
static List *
role_ancestors(const pg_uuid_t *tenant, const char *name)
{
	Oid			types[2] = {UUIDOID, TEXTOID};
	Datum		values[2] = {UUIDPGetDatum((pg_uuid_t *) tenant), CStringGetTextDatum(name)};
	List	   *result = NIL;

	mt_spi_select("WITH RECURSIVE r(name, depth) AS ("
				  " SELECT $2, 0"
				  " UNION"
				  " SELECT ro.parent, r.depth OPERATOR(pg_catalog.+) 1"
				  " FROM r JOIN mt.roles ro ON ro.name OPERATOR(pg_catalog.=) r.name"
				  "  AND (ro.tenant_id OPERATOR(pg_catalog.=) $1 OR ro.tenant_id IS NULL)"
				  " WHERE ro.parent IS NOT NULL AND r.depth OPERATOR(pg_catalog.<) 64)"
				  " SELECT DISTINCT name FROM r",
				  2, types, values, NULL);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			result = lappend(result, TextDatumGetCString(d));
	}
	return result;
}

static Datum
actor_datum(const AuthzState *st)
{
	return CStringGetTextDatum(st->key.has_sub ? st->key.sub : GetUserNameFromId(GetUserId(), false));
}

/* create (is_create) or change a custom role of the current tenant */
static void
define_role(FunctionCallInfo fcinfo, bool is_create)
{
	const char *what = is_create ? "mt.create_role()" : "mt.alter_role()";
	const AuthzState *st;
	char	   *name;
	char	   *parent;
	List	   *perms;
	List	   *all;
	MtCatalogCtx cc;
	int			kind;

	st = require_manager(what, "roles:manage", true);
	mt_require_args(fcinfo, 2, "name and permissions");
	name = text_arg(fcinfo, 0);
	parent = text_arg(fcinfo, 2);
	check_role_name(name);
	perms = permissions_arg(PG_GETARG_ARRAYTYPE_P(1));
	if (parent != NULL)
		check_role_name(parent);

	mt_catalog_begin(&cc);
	kind = role_kind(&st->key.tenant, name);
	if (is_create && kind != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg(kind == 1 ? "role \"%s\" is a built-in role" :
						"role \"%s\" already exists in this tenant", name)));
	if (!is_create && kind == 0)
		unknown_role(name, &st->key.tenant);
	if (!is_create && kind == 1)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("built-in role \"%s\" cannot be changed", name),
				 errhint("Create a custom role with it as parent.")));
	if (parent != NULL)
	{
		if (role_kind(&st->key.tenant, parent) == 0)
			unknown_role(parent, &st->key.tenant);
		if (!is_create && list_has_string(role_ancestors(&st->key.tenant, parent), name))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_RECURSION),
					 errmsg("role \"%s\" cannot have parent \"%s\": the parents would form a cycle",
							name, parent)));
	}

	/*
	 * Changing a role needs what it gives now (its permissions and its
	 * parents'), as dropping it does: else an admin could strip or re-parent
	 * a role above it (test/pgtap/authz_alter_role_covers_current.sql).
	 */
	if (!is_create)
		require_covered(st, role_closure_perms(&st->key.tenant, list_make1(name),
											   CurrentMemoryContext),
						"change the role", true);

	/* no escalation: the role's permissions and its parents' */
	all = list_copy(perms);
	if (parent != NULL)
		all = list_concat(all, role_closure_perms(&st->key.tenant, list_make1(parent),
												  CurrentMemoryContext));
	require_covered(st, all, is_create ? "create the role" : "change the role", true);

	{
		Oid			types[5] = {UUIDOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID};
		Datum		values[5];
		char		nulls[5] = {' ', ' ', parent ? ' ' : 'n', ' ', ' '};

		values[0] = UUIDPGetDatum((pg_uuid_t *) &st->key.tenant);
		values[1] = CStringGetTextDatum(name);
		values[2] = parent ? CStringGetTextDatum(parent) : (Datum) 0;
		values[3] = PointerGetDatum(PG_GETARG_ARRAYTYPE_P(1));
		values[4] = actor_datum(st);
		if (is_create)
			mt_catalog_execute("INSERT INTO mt.roles (tenant_id, name, parent, permissions, created_by)"
							   " VALUES ($1, $2, $3, $4, $5)", 5, types, values, nulls);
		else
			mt_catalog_execute("UPDATE mt.roles SET parent = $3, permissions = $4"
							   " WHERE tenant_id OPERATOR(pg_catalog.=) $1"
							   " AND name OPERATOR(pg_catalog.=) $2", 5, types, values, nulls);
	}
	mt_catalog_end(&cc);
}

PG_FUNCTION_INFO_V1(mt_create_role);
Datum
mt_create_role(PG_FUNCTION_ARGS)
{
	mt_require_coordinator("mt.create_role()");
	define_role(fcinfo, true);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_alter_role);
Datum
mt_alter_role(PG_FUNCTION_ARGS)
{
	mt_require_coordinator("mt.alter_role()");
	define_role(fcinfo, false);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_drop_role);
Datum
mt_drop_role(PG_FUNCTION_ARGS)
{
	const AuthzState *st = require_manager("mt.drop_role()", "roles:manage", true);
	char	   *name;
	MtCatalogCtx cc;
	int			kind;
	Oid			types[2] = {UUIDOID, TEXTOID};
	Datum		values[2];

	mt_require_coordinator("mt.drop_role()");
	mt_require_args(fcinfo, 1, "name");
	name = text_arg(fcinfo, 0);
	values[0] = UUIDPGetDatum((pg_uuid_t *) &st->key.tenant);
	values[1] = CStringGetTextDatum(name);
	mt_catalog_begin(&cc);
	kind = role_kind(&st->key.tenant, name);
	if (kind == 0)
		unknown_role(name, &st->key.tenant);
	if (kind == 1)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("built-in role \"%s\" cannot be dropped", name)));
	require_covered(st, role_closure_perms(&st->key.tenant, list_make1(name), CurrentMemoryContext),
					"drop the role", true);
	/* the lock keeps a concurrent grant or child from slipping in */
	mt_catalog_execute("SELECT 1 FROM mt.roles WHERE tenant_id OPERATOR(pg_catalog.=) $1"
					   " AND name OPERATOR(pg_catalog.=) $2 FOR UPDATE", 2, types, values, NULL);
	mt_spi_select("SELECT 1 FROM mt.role_assignments WHERE tenant_id OPERATOR(pg_catalog.=) $1"
				  " AND role OPERATOR(pg_catalog.=) $2"
				  " UNION ALL SELECT 1 FROM mt.roles WHERE tenant_id OPERATOR(pg_catalog.=) $1"
				  " AND parent OPERATOR(pg_catalog.=) $2", 2, types, values, NULL);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("role \"%s\" is still assigned or is the parent of another role", name),
				 errhint("Revoke its assignments (mt.revoke_role) and change its children (mt.alter_role) first.")));
	mt_catalog_execute("DELETE FROM mt.roles WHERE tenant_id OPERATOR(pg_catalog.=) $1"
					   " AND name OPERATOR(pg_catalog.=) $2", 2, types, values, NULL);
	mt_catalog_end(&cc);
	PG_RETURN_VOID();
}

/*
 * checks of grant/revoke: subject, role, workspace (SPI connected); an
 * assignment other than of the current workspace needs roles:manage and
 * the role's permissions tenant-wide
 */
static void
check_assignment(const AuthzState *st, const char *subject, const char *role,
				 const pg_uuid_t *ws, const char *what, const char *fn)
{
	size_t		len = strlen(subject);
	bool		wide = !(ws != NULL && st->has_ws &&
						 memcmp(ws, &st->ws, sizeof(pg_uuid_t)) == 0);

	if (len < 1 || len > MT_MAX_SUBJECT_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a subject must be 1 to %d bytes long", MT_MAX_SUBJECT_LEN)));
	if (strlen(role) > MT_MAX_ROLE_NAME)
		check_role_name(role);
	if (role_kind(&st->key.tenant, role) == 0)
		unknown_role(role, &st->key.tenant);
	if (ws != NULL && !workspace_of_tenant(&st->key.tenant, ws))
		unknown_workspace(ws, &st->key.tenant);
	if (is_key_subject(subject))
	{
		Oid			types[2] = {UUIDOID, TEXTOID};
		Datum		values[2] = {UUIDPGetDatum((pg_uuid_t *) &st->key.tenant),
		CStringGetTextDatum(subject + strlen(MT_KEY_SUBJECT_PREFIX))};

		mt_spi_select("SELECT 1 FROM mt.api_key_secrets WHERE key_id OPERATOR(pg_catalog.=) $2"
					  " AND tenant_id OPERATOR(pg_catalog.=) $1", 2, types, values, NULL);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("API key \"%s\" does not exist in tenant %s",
							subject + strlen(MT_KEY_SUBJECT_PREFIX), mt_uuid_to_cstring(&st->key.tenant)),
					 errdetail("A subject key:<key id> names an API key of the current tenant.")));
	}
	if (wide)
		require_held(st, "roles:manage", fn, true);
	require_covered(st, role_closure_perms(&st->key.tenant, list_make1((char *) role),
										   CurrentMemoryContext), what, wide);
}

PG_FUNCTION_INFO_V1(mt_grant_role);
Datum
mt_grant_role(PG_FUNCTION_ARGS)
{
	const AuthzState *st = require_manager("mt.grant_role()", "roles:manage", false);
	char	   *subject;
	char	   *role;
	pg_uuid_t  *ws;
	TimestampTz from;
	MtCatalogCtx cc;
	Oid			types[7] = {UUIDOID, TEXTOID, TEXTOID, UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	mt_require_coordinator("mt.grant_role()");
	mt_require_args(fcinfo, 2, "subject and role");
	subject = text_arg(fcinfo, 0);
	role = text_arg(fcinfo, 1);
	ws = PG_ARGISNULL(2) ? NULL : PG_GETARG_UUID_P(2);
	from = PG_ARGISNULL(4) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(4);
	if (!PG_ARGISNULL(3) && PG_GETARG_TIMESTAMPTZ(3) <= from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("valid_until must be later than valid_from (or now)")));

	mt_catalog_begin(&cc);
	check_assignment(st, subject, role, ws, "grant the role", "mt.grant_role()");
	values[0] = UUIDPGetDatum((pg_uuid_t *) &st->key.tenant);
	values[1] = CStringGetTextDatum(subject);
	values[2] = CStringGetTextDatum(role);
	values[3] = ws ? UUIDPGetDatum(ws) : (Datum) 0;
	nulls[3] = ws ? ' ' : 'n';
	values[4] = TimestampTzGetDatum(from);
	values[5] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[5] = PG_ARGISNULL(3) ? 'n' : ' ';
	values[6] = actor_datum(st);
	mt_catalog_execute("INSERT INTO mt.role_assignments"
					   " (tenant_id, subject, role, workspace_id, valid_from, valid_until, granted_by)"
					   " VALUES ($1, $2, $3, $4, $5, $6, $7)"
					   " ON CONFLICT ON CONSTRAINT role_assignments_once DO UPDATE"
					   " SET valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until,"
					   " granted_by = EXCLUDED.granted_by, granted_at = pg_catalog.now()",
					   7, types, values, nulls);
	mt_catalog_end(&cc);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_revoke_role);
Datum
mt_revoke_role(PG_FUNCTION_ARGS)
{
	const AuthzState *st = require_manager("mt.revoke_role()", "roles:manage", false);
	char	   *subject;
	char	   *role;
	pg_uuid_t  *ws;
	MtCatalogCtx cc;
	Oid			types[4] = {UUIDOID, TEXTOID, TEXTOID, UUIDOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	int			rc;
	uint64		n;

	mt_require_coordinator("mt.revoke_role()");
	mt_require_args(fcinfo, 2, "subject and role");
	subject = text_arg(fcinfo, 0);
	role = text_arg(fcinfo, 1);
	ws = PG_ARGISNULL(2) ? NULL : PG_GETARG_UUID_P(2);

	mt_catalog_begin(&cc);
	check_assignment(st, subject, role, ws, "revoke the role", "mt.revoke_role()");
	values[0] = UUIDPGetDatum((pg_uuid_t *) &st->key.tenant);
	values[1] = CStringGetTextDatum(subject);
	values[2] = CStringGetTextDatum(role);
	values[3] = ws ? UUIDPGetDatum(ws) : (Datum) 0;
	nulls[3] = ws ? ' ' : 'n';
	rc = mt_catalog_execute("DELETE FROM mt.role_assignments"
							" WHERE tenant_id OPERATOR(pg_catalog.=) $1"
							" AND subject OPERATOR(pg_catalog.=) $2 AND role OPERATOR(pg_catalog.=) $3"
							" AND workspace_id IS NOT DISTINCT FROM $4",
							4, types, values, nulls);
	n = SPI_processed;
	(void) rc;
	mt_catalog_end(&cc);
	PG_RETURN_BOOL(n > 0);
}

PG_FUNCTION_INFO_V1(mt_create_workspace);
Datum
mt_create_workspace(PG_FUNCTION_ARGS)
{
	const AuthzState *st = require_manager("mt.create_workspace()", "workspaces:manage", false);
	char	   *name;
	size_t		len;
	MtCatalogCtx cc;
	Oid			types[3] = {UUIDOID, TEXTOID, TEXTOID};
	Datum		values[3];
	bool		isnull;
	pg_uuid_t  *res;

	mt_require_coordinator("mt.create_workspace()");
	mt_require_args(fcinfo, 1, "name");
	name = text_arg(fcinfo, 0);
	len = strlen(name);
	if (len < 1 || len > MT_MAX_WORKSPACE_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a workspace name must be 1 to %d bytes long", MT_MAX_WORKSPACE_NAME)));
	values[0] = UUIDPGetDatum((pg_uuid_t *) &st->key.tenant);
	values[1] = CStringGetTextDatum(name);
	values[2] = actor_datum(st);
	mt_catalog_begin(&cc);
	mt_spi_select("SELECT 1 FROM mt.workspaces WHERE tenant_id OPERATOR(pg_catalog.=) $1"
				  " AND name OPERATOR(pg_catalog.=) $2", 2, types, values, NULL);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("workspace \"%s\" already exists in this tenant", name)));
	mt_catalog_execute("INSERT INTO mt.workspaces (tenant_id, name, created_by) VALUES ($1, $2, $3)"
					   " RETURNING id", 3, types, values, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "workspace insert returned no row");
	res = MemoryContextAlloc(cc.outer, sizeof(pg_uuid_t));
	memcpy(res, DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	mt_catalog_end(&cc);
	PG_RETURN_UUID_P(res);
}
