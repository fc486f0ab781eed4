/*-------------------------------------------------------------------------
 *
 * security_policy.c
 *	  Per-tenant security policies: the validated jsonb document of
 *	  mt.security_policies, its per-backend cache, the checks made where
 *	  the database holds the lever (entering a token's context, entering
 *	  an API key's, creating an API key); each refusal is reported as a
 *	  security event (security_events.c).  The rule mfa_required_for is
 *	  answered here (mt_policy_mfa_required) and enforced by authz.c.
 *	  The SQL functions that set and read a policy are in
 *	  security_policy_sql.c (they need SPI and the audit).
 *
 * Cache: each backend keeps the parsed policies it looked up (tenant ->
 * policy or "none"; or, when the table was empty, "none" for every
 * tenant without a lookup), trusted while no relcache invalidation of
 * mt.security_policies has arrived: the mt.tenants_changed statement
 * trigger on the table queues one with every change (also a cascade from
 * a deleted tenant), delivered to every backend of the primary at its next
 * transaction (or lock), and by WAL replay on a standby.  So a policy
 * change holds from each backend's next transaction on, and the cache
 * does not depend on the registry generation (which the flush of API
 * keys' last-use times bumps every flush interval).  Lookups read through
 * the primary key without SPI; in parallel mode they use the query's
 * snapshot and are not cached.
 *
 * Security events: a refusal raises an error, which rolls back whatever
 * the refused transaction wrote, so each refusal is logged and handed to
 * mt_security_event() (security_events.c: a bounded ring in shared memory
 * that the flush worker drains into mt.security_event_log and the tenant's
 * audit chain as security.<kind>, in its own transaction).  No lock or
 * shared state of this file.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <netdb.h>
#include <sys/socket.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/ip.h"
#include "fmgr.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inet.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "permission.h"
#include "security_events.h"
#include "security_policy.h"
#include "util.h"

char	   *mt_client_addr_string = NULL;

#define POLICY_MAX_LIST		50
#define POLICY_MAX_STRING	255

typedef struct MtCidr
{
	int			family;			/* PGSQL_AF_INET or PGSQL_AF_INET6 */
	int			bits;
	unsigned char addr[16];
} MtCidr;

typedef struct MtPolicy
{
	int64		max_token_lifetime; /* seconds; 0: no rule */
	int			n_issuers;
	char	  **issuers;
	int64		api_key_max_lifetime;	/* seconds; 0: no rule */
	bool		has_scopes;
	int			n_scopes;
	char	  **scopes;
	int			n_cidrs;
	MtCidr	   *cidrs;
	int64		session_idle_limit; /* seconds; 0: no rule */
	int			n_mfa;
	char	  **mfa;			/* mfa_required_for: permission patterns */
} MtPolicy;

/* ---------------------------------------------------------------------
 * The document
 * --------------------------------------------------------------------- */

static void
bad_policy(const char *path, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid security policy"),
			 errdetail("%s: %s", path, problem),
			 errhint("Keys: max_token_lifetime, allowed_issuers, api_key_max_lifetime, api_key_allowed_scopes, client_cidrs, session_idle_limit, mfa_required_for (doc/identity.md, \"Security policies\").")));
}

static bool
parse_cidr(const char *s, MtCidr *out)
{
	int			bits;

	memset(out, 0, sizeof(*out));
	if (strchr(s, ':') != NULL)
	{
		bits = pg_inet_net_pton(PGSQL_AF_INET6, s, out->addr, -1);
		out->family = PGSQL_AF_INET6;
		if (bits < 0 || bits > 128)
			return false;
		if (strchr(s, '/') == NULL)
			bits = 128;
	}
	else
	{
		bits = pg_inet_net_pton(PGSQL_AF_INET, s, out->addr, -1);
		out->family = PGSQL_AF_INET;
		if (bits < 0 || bits > 32)
			return false;
		if (strchr(s, '/') == NULL)
			bits = 32;
	}
	out->bits = bits;
	return true;
}

static bool
cidr_contains(const MtCidr *net, const MtCidr *addr)
{
	int			full = net->bits / 8;
	int			rest = net->bits % 8;

	if (net->family != addr->family)
		return false;
	if (memcmp(net->addr, addr->addr, full) != 0)
		return false;
	if (rest != 0)
	{
		unsigned char mask = (unsigned char) (0xff << (8 - rest));

		if ((net->addr[full] & mask) != (addr->addr[full] & mask))
			return false;
	}
	return true;
}

static int64
policy_seconds(const char *path, JsonbValue *v, int64 min, int64 max)
{
	int64		n;

	if (v->type != jbvNumeric)
		bad_policy(path, "must be a number of seconds");
	if (!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(v->val.numeric),
										  DirectFunctionCall1(numeric_floor, NumericGetDatum(v->val.numeric)))))
		bad_policy(path, "must be a whole number of seconds");
	if (DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(v->val.numeric),
										 DirectFunctionCall1(int8_numeric, Int64GetDatum(min)))) ||
		DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(v->val.numeric),
										 DirectFunctionCall1(int8_numeric, Int64GetDatum(max)))))
		bad_policy(path, psprintf("must be from " INT64_FORMAT " to " INT64_FORMAT " seconds", min, max));
	n = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
	return n;
}

/* an array of 0 or more (min_items) strings of 1..255 bytes */
static char **
policy_strings(const char *path, JsonbValue *v, int min_items, int *n_out)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	char	  **out;
	int			n = 0;
	int			cap;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerIsScalar(v->val.binary.data))
		bad_policy(path, "must be an array of strings");
	cap = JsonContainerSize(v->val.binary.data);
	if (cap < min_items || cap > POLICY_MAX_LIST)
		bad_policy(path, psprintf("must hold %d to %d items", min_items, POLICY_MAX_LIST));
	out = palloc0(sizeof(char *) * (cap + 1));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString)
			bad_policy(psprintf("%s[%d]", path, n), "must be a string");
		if (e.val.string.len < 1 || e.val.string.len > POLICY_MAX_STRING)
			bad_policy(psprintf("%s[%d]", path, n), "must be 1 to 255 bytes");
		out[n++] = pnstrdup(e.val.string.val, e.val.string.len);
	}
	*n_out = n;
	return out;
}

/*
 * Parse (and validate) a policy document in the current memory context.
 * Errors 22023 naming the path.
 */
static MtPolicy *
policy_parse(Jsonb *doc)
{
	MtPolicy   *p = palloc0(sizeof(MtPolicy));
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	char	   *path = "$";

	if (VARSIZE(doc) > 65536)
		bad_policy("$", "the document is larger than 64 kB");
	if (!JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
		bad_policy("$", "must be a JSON object");
	it = JsonbIteratorInit(&doc->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			path = psprintf("$.%s", strlen(key) > 64 ? "(long key)" : key);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (strcmp(key, "max_token_lifetime") == 0)
			p->max_token_lifetime = policy_seconds(path, &v, 60, 31536000);
		else if (strcmp(key, "api_key_max_lifetime") == 0)
			p->api_key_max_lifetime = policy_seconds(path, &v, 3600, 315360000);
		else if (strcmp(key, "session_idle_limit") == 0)
			p->session_idle_limit = policy_seconds(path, &v, 1, 31536000);
		else if (strcmp(key, "allowed_issuers") == 0)
			p->issuers = policy_strings(path, &v, 1, &p->n_issuers);
		else if (strcmp(key, "api_key_allowed_scopes") == 0)
		{
			p->scopes = policy_strings(path, &v, 0, &p->n_scopes);
			p->has_scopes = true;
		}
		else if (strcmp(key, "client_cidrs") == 0)
		{
			int			n;
			char	  **s = policy_strings(path, &v, 1, &n);

			p->cidrs = palloc0(sizeof(MtCidr) * n);
			for (int i = 0; i < n; i++)
				if (!parse_cidr(s[i], &p->cidrs[i]))
					bad_policy(psprintf("%s[%d]", path, i), "not an IPv4 or IPv6 address or CIDR network");
			p->n_cidrs = n;
		}
		else if (strcmp(key, "mfa_required_for") == 0)
		{
			p->mfa = policy_strings(path, &v, 1, &p->n_mfa);
			for (int i = 0; i < p->n_mfa; i++)
				if (!mt_permission_valid(p->mfa[i]))
					bad_policy(psprintf("%s[%d]", path, i),
							   "not a permission pattern (\"*\" or \"<resource>:<action>\", each part \"*\" or 1 to 63 of A-Z a-z 0-9 _ . -)");
		}
		else
			bad_policy(path, "unknown key");
	}
	return p;
}

Jsonb *
mt_security_policy_validate(Jsonb *doc)
{
	(void) policy_parse(doc);
	return doc;
}

/* ---------------------------------------------------------------------
 * Per-backend cache
 * --------------------------------------------------------------------- */

typedef struct PolicyCacheEntry
{
	pg_uuid_t	tenant;			/* hash key */
	MtPolicy   *policy;			/* NULL: the tenant has none */
} PolicyCacheEntry;

#define POLICY_CACHE_MAX 4096

static HTAB *policy_cache = NULL;
static MemoryContext policy_cxt = NULL;
static uint64 cache_own_inval = 0;
static bool cache_all_none = false;	/* the table had no row: no tenant has a policy */
static uint64 policy_invalidations = 0;
static Oid	watched_policies = InvalidOid;
static bool policy_callback_registered = false;

static void
policy_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == watched_policies || !OidIsValid(watched_policies))
		policy_invalidations++;
}

/* the stored policy of a tenant, parsed in the current memory context, or NULL */
static MtPolicy *
policy_read(const pg_uuid_t *tenant, bool *fresh)
{
	Oid			relid = mt_catalog_relid("security_policies");
	Relation	rel;
	MtPkProbe	probe;
	HeapTuple	tup;
	MtPolicy   *result = NULL;

	*fresh = !IsInParallelMode();
	if (!OidIsValid(relid))
		return NULL;			/* not updated to 0.5.0: no policies */
	watched_policies = relid;
	if (!*fresh && !ActiveSnapshotSet())
		return NULL;
	rel = table_open(relid, AccessShareLock);
	tup = mt_pk_probe_begin(&probe, rel,
							mt_catalog_attnum(relid, "security_policies", "tenant_id"),
							F_UUID_EQ, UUIDPGetDatum((pg_uuid_t *) tenant), *fresh);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, mt_catalog_attnum(relid, "security_policies", "policy"),
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			result = policy_parse(DatumGetJsonbP(d));
	}
	mt_pk_probe_end(&probe);
	table_close(rel, AccessShareLock);
	return result;
}

/* does mt.security_policies hold no row? (false when unsure: parallel mode) */
static bool
policy_table_empty(void)
{
	Oid			relid;
	Relation	rel;
	Snapshot	snap;
	SysScanDesc scan;
	bool		empty;

	if (IsInParallelMode())
		return false;
	relid = mt_catalog_relid("security_policies");
	if (!OidIsValid(relid))
		return true;
	watched_policies = relid;
	rel = table_open(relid, AccessShareLock);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = systable_beginscan(rel, InvalidOid, false, snap, 0, NULL);
	empty = !HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return empty;
}

static const MtPolicy *
policy_for(const pg_uuid_t *tenant)
{
	PolicyCacheEntry *entry;
	bool		found;
	bool		fresh;
	uint64		inval;
	MtPolicy   *p;
	MemoryContext old;

	if (!policy_callback_registered)
	{
		mt_register_relcache_callback(policy_relcache_callback);
		policy_callback_registered = true;
	}
	if (policy_cache != NULL &&
		(policy_invalidations != cache_own_inval ||
		 (!cache_all_none && hash_get_num_entries(policy_cache) >= POLICY_CACHE_MAX)))
	{
		hash_destroy(policy_cache);
		policy_cache = NULL;
		MemoryContextReset(policy_cxt);
	}
	if (policy_cache == NULL)
	{
		HASHCTL		ctl;

		if (policy_cxt == NULL)
			policy_cxt = AllocSetContextCreate(TopMemoryContext, "multitenant security policies",
											   ALLOCSET_SMALL_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(PolicyCacheEntry);
		ctl.hcxt = policy_cxt;
		policy_cache = hash_create("multitenant security policy cache", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		cache_own_inval = policy_invalidations;
		/* the common case, no policy anywhere: one scan, then no lookups */
		cache_all_none = policy_table_empty() && cache_own_inval == policy_invalidations;
	}
	if (cache_all_none)
		return NULL;
	entry = hash_search(policy_cache, tenant, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->policy;

	inval = policy_invalidations;
	old = MemoryContextSwitchTo(policy_cxt);
	p = policy_read(tenant, &fresh);
	MemoryContextSwitchTo(old);
	/* a read that an invalidation overtook (or a parallel one): used, not cached */
	if (fresh && inval == policy_invalidations && inval == cache_own_inval)
	{
		entry = hash_search(policy_cache, tenant, HASH_ENTER, &found);
		entry->policy = p;
	}
	return p;
}

/* ---------------------------------------------------------------------
 * Security events: every refusal goes to the server log and to
 * security_events.c (mt_security_event), whose ring the flush worker
 * drains into mt.security_event_log and the tenant's audit chain.
 * --------------------------------------------------------------------- */

/* the client address a policy checks: multitenant.client_addr, else the connection's */
static bool
client_address(MtCidr *out, char *text, size_t textlen)
{
	if (mt_client_addr_string != NULL && mt_client_addr_string[0] != '\0')
	{
		strlcpy(text, mt_client_addr_string, textlen);
		return parse_cidr(mt_client_addr_string, out);
	}
	if (MyProcPort == NULL ||
		(MyProcPort->raddr.addr.ss_family != AF_INET &&
		 MyProcPort->raddr.addr.ss_family != AF_INET6))
	{
		strlcpy(text, "local", textlen);
		return false;			/* a Unix socket or a background process */
	}
	if (pg_getnameinfo_all(&MyProcPort->raddr.addr, MyProcPort->raddr.salen,
						   text, textlen, NULL, 0, NI_NUMERICHOST) != 0)
	{
		strlcpy(text, "unknown", textlen);
		return false;
	}
	return parse_cidr(text, out);
}

static void
record_event(const pg_uuid_t *tenant, MtSecKind kind, const char *detail)
{
	ereport(LOG,
			(errmsg("multitenant: security.%s for tenant %s: %s", mt_security_kind_name(kind),
					mt_uuid_to_cstring(tenant), detail),
			 errhidestmt(true)));
	mt_security_event(tenant, kind, NULL, detail);
}

/* ---------------------------------------------------------------------
 * The checks
 * --------------------------------------------------------------------- */

static const char *
refuse(const pg_uuid_t *tenant, MtSecKind kind, const char *detail)
{
	record_event(tenant, kind, detail);
	return detail;
}

bool
mt_policy_has_token_rules(const pg_uuid_t *tenant)
{
	const MtPolicy *p = policy_for(tenant);

	return p != NULL && (p->max_token_lifetime > 0 || p->n_issuers > 0 || p->n_cidrs > 0);
}

/* a numeric or string member of a JSON object, as text, or NULL */
static char *
payload_member(Jsonb *jb, const char *name, bool want_string)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, name, strlen(name), NULL);

	if (v == NULL)
		return NULL;
	if (want_string && v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (!want_string && v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return NULL;
}

const char *
mt_policy_check_token(const pg_uuid_t *tenant, const uint8 *payload, int plen, int64 exp,
					  bool backoffice)
{
	const MtPolicy *p = policy_for(tenant);
	Jsonb	   *jb = NULL;

	if (p == NULL)
		return NULL;
	if (p->max_token_lifetime > 0 || (p->n_issuers > 0 && !backoffice))
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												CStringGetDatum(pnstrdup((const char *) payload, plen))));
	if (p->max_token_lifetime > 0)
	{
		char	   *iat = payload_member(jb, "iat", false);
		double		iat_s;

		if (iat == NULL)
			return refuse(tenant, MT_SEC_POLICY_TOKEN,
						  "the tenant's security policy limits the token lifetime, and the token has no \"iat\" claim");
		iat_s = strtod(iat, NULL);
		if ((double) exp - iat_s > (double) p->max_token_lifetime)
			return refuse(tenant, MT_SEC_POLICY_TOKEN,
						  psprintf("the token's lifetime (exp - iat = %.0f s) exceeds the tenant's max_token_lifetime (" INT64_FORMAT " s)",
								   (double) exp - iat_s, p->max_token_lifetime));
	}
	/* the server's own tokens (mt.tenant_token) have no issuer to check */
	if (p->n_issuers > 0 && !backoffice)
	{
		char	   *iss = payload_member(jb, "iss", true);
		bool		ok = false;

		for (int i = 0; iss != NULL && i < p->n_issuers; i++)
			ok |= strcmp(iss, p->issuers[i]) == 0;
		if (!ok)
			return refuse(tenant, MT_SEC_POLICY_TOKEN,
						  iss == NULL ? "the token has no \"iss\" claim, and the tenant's security policy names its allowed issuers" :
						  "the token's issuer is not one of the tenant's allowed_issuers");
	}
	return mt_policy_check_client(tenant, "token");
}

const char *
mt_policy_check_client(const pg_uuid_t *tenant, const char *what)
{
	const MtPolicy *p = policy_for(tenant);
	MtCidr		addr;
	char		text[64];

	if (p == NULL || p->n_cidrs == 0)
		return NULL;
	if (client_address(&addr, text, sizeof(text)))
		for (int i = 0; i < p->n_cidrs; i++)
			if (cidr_contains(&p->cidrs[i], &addr))
				return NULL;
	return refuse(tenant, strcmp(what, "token") == 0 ? MT_SEC_POLICY_TOKEN : MT_SEC_POLICY_API_KEY,
				  psprintf("the client address %s is not in the tenant's client_cidrs", text));
}

const char *
mt_policy_check_new_key(const pg_uuid_t *tenant, Datum scopes, bool has_expires,
						TimestampTz expires_at)
{
	const MtPolicy *p = policy_for(tenant);

	if (p == NULL)
		return NULL;
	if (p->api_key_max_lifetime > 0)
	{
		TimestampTz limit = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														p->api_key_max_lifetime * 1000);

		if (!has_expires)
			return refuse(tenant, MT_SEC_POLICY_KEY_CREATE,
						  psprintf("the tenant's api_key_max_lifetime (" INT64_FORMAT " s) requires an expires_at",
								   p->api_key_max_lifetime));
		if (expires_at > limit)
			return refuse(tenant, MT_SEC_POLICY_KEY_CREATE,
						  psprintf("expires_at is later than the tenant's api_key_max_lifetime (" INT64_FORMAT " s) allows",
								   p->api_key_max_lifetime));
	}
	if (p->has_scopes)
	{
		ArrayType  *arr = DatumGetArrayTypeP(scopes);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			char	   *s;
			bool		ok = false;

			if (nulls[i])
				continue;
			s = TextDatumGetCString(elems[i]);
			for (int j = 0; j < p->n_scopes; j++)
				ok |= strcmp(s, p->scopes[j]) == 0;
			if (!ok)
				return refuse(tenant, MT_SEC_POLICY_KEY_CREATE,
							  psprintf("scope \"%s\" is not in the tenant's api_key_allowed_scopes",
									   strlen(s) > 64 ? "(long)" : s));
		}
	}
	return NULL;
}

const char *
mt_policy_check_idle(const pg_uuid_t *tenant, int64 idle_seconds)
{
	const MtPolicy *p = policy_for(tenant);

	if (p == NULL || p->session_idle_limit <= 0 || idle_seconds <= p->session_idle_limit)
		return NULL;
	return refuse(tenant, MT_SEC_POLICY_IDLE,
				  psprintf("the session was idle for " INT64_FORMAT " s, longer than the tenant's session_idle_limit (" INT64_FORMAT " s); its context was dropped",
						   idle_seconds, p->session_idle_limit));
}

bool
mt_policy_mfa_required(const pg_uuid_t *tenant, const char *perm)
{
	const MtPolicy *p = policy_for(tenant);

	if (p == NULL)
		return false;
	for (int i = 0; i < p->n_mfa; i++)
		if (mt_permission_overlaps(p->mfa[i], perm))
			return true;
	return false;
}

/* ---------------------------------------------------------------------
 * GUC multitenant.client_addr
 * --------------------------------------------------------------------- */

bool
mt_check_client_addr(char **newval, void **extra, GucSource source)
{
	MtCidr		c;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (strchr(*newval, '/') != NULL || !parse_cidr(*newval, &c))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errdetail("multitenant.client_addr is one IPv4 or IPv6 address.");
		return false;
	}
	return true;
}

/*
 * The parsed value, kept by the assign hook so that readers on the hot
 * path (api_keys.c: the network of a key's use) copy it without parsing.
 */
static MtCidr client_addr_parsed;
static bool client_addr_valid = false;

void
mt_assign_client_addr(const char *newval, void *extra)
{
	client_addr_valid = newval != NULL && newval[0] != '\0' &&
		parse_cidr(newval, &client_addr_parsed);
}

/*
 * multitenant.client_addr as bytes: its family (PGSQL_AF_INET or
 * PGSQL_AF_INET6) with the address copied into addr[16], or 0 when unset.
 */
int
mt_client_addr_override(unsigned char *addr)
{
	if (!client_addr_valid)
		return 0;
	memcpy(addr, client_addr_parsed.addr, sizeof(client_addr_parsed.addr));
	return client_addr_parsed.family;
}
