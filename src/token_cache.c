/*-------------------------------------------------------------------------
 *
 * token_cache.c
 *	  Per-backend cache of verified tenant tokens.  Checking a signed token
 *	  (context.c) has a part that depends on nothing but the token's bytes
 *	  and the server's configuration: base64url, the header, the signature,
 *	  the payload's JSON and its claims, issuer and audience.  That part's
 *	  result (the claims, and the decoded payload the tenant's security
 *	  policy reads) is remembered here, keyed by the whole token, so that a
 *	  client setting the same token again (a pooled connection serving the
 *	  same users, a request per statement) skips it.  The caller re-checks
 *	  everything that can change on every use: expiry, not-before, the
 *	  tenant's status, retired key versions, burned tokens, the security
 *	  policy, and whether the statement's text holds the token.
 *
 * A result holds under a stamp (MtTokenStamp) the caller computes from
 * everything the cached part depends on: the generations of the HS256 and
 * Ed25519 keys (crypto.c), of the identity providers' key sets (jwks.c), of
 * the claim, issuer and audience settings (context.c), and the registry
 * generation and invalidation count (tenant_status.c: key versions of
 * mt.secret_versions).  A lookup or insertion under another stamp empties
 * the cache first.  Only tokens that passed are remembered; a forged or
 * malformed token is checked in full every time.
 *
 * Tokens are found by a 64-bit hash of their bytes and then compared in
 * full, in constant time.  Memory is bounded by multitenant.token_cache_size
 * (kB of this backend's memory; 0 turns the cache off): an insertion that
 * would go beyond it empties the cache first.  Forgotten tokens are wiped.
 *
 * No locks: everything here is per-process state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "crypto.h"
#include "token_cache.h"

/* GUC variable */
int			mt_token_cache_size = 2048;

/* a token longer than this is not remembered (identity providers' access
 * tokens are well below it) */
#define MAX_CACHED_TOKEN	4096

/* bytes counted per entry besides its data (hash element and entry) */
#define ENTRY_OVERHEAD		(sizeof(CacheEntry) + 32)

typedef struct CacheEntry
{
	uint64		hash;			/* key: hash of the token's bytes */
	char	   *data;			/* token, then payload, then claims */
	uint32		toklen;
	uint32		claims_len;
	int			plen;
	Size		bytes;			/* counted against the budget */
} CacheEntry;

static MemoryContext cache_cxt = NULL;
static HTAB *cache = NULL;
static MtTokenStamp cache_stamp;
static Size cache_bytes = 0;

/* wipes every remembered token and payload and frees the cache */
static void
forget_all(void)
{
	HASH_SEQ_STATUS seq;
	CacheEntry *e;

	if (cache == NULL)
		return;
	hash_seq_init(&seq, cache);
	while ((e = hash_seq_search(&seq)) != NULL)
		mt_wipe(e->data, e->toklen + e->plen + e->claims_len);
	MemoryContextReset(cache_cxt);	/* the table lives in it too */
	cache = NULL;
	cache_bytes = 0;
}

static inline bool
same_stamp(const MtTokenStamp *stamp)
{
	return memcmp(stamp, &cache_stamp, sizeof(MtTokenStamp)) == 0;
}

bool
mt_token_cache_get(const char *tok, size_t toklen, const MtTokenStamp *stamp,
				   void *claims, size_t claims_len,
				   const uint8 **payload, int *plen)
{
	uint64		h;
	CacheEntry *e;

	if (cache == NULL || toklen > MAX_CACHED_TOKEN)
		return false;
	if (mt_token_cache_size <= 0 || !same_stamp(stamp))
	{
		forget_all();
		return false;
	}
	h = hash_bytes_extended((const unsigned char *) tok, (int) toklen, 0);
	e = hash_search(cache, &h, HASH_FIND, NULL);
	if (e == NULL || e->toklen != toklen || e->claims_len != claims_len ||
		!mt_ct_equal((const uint8 *) e->data, (const uint8 *) tok, toklen))
		return false;
	*payload = (const uint8 *) e->data + toklen;
	*plen = e->plen;
	memcpy(claims, e->data + toklen + e->plen, claims_len);
	return true;
}

void
mt_token_cache_put(const char *tok, size_t toklen, const MtTokenStamp *stamp,
				   const void *claims, size_t claims_len,
				   const uint8 *payload, int plen)
{
	Size		budget = (Size) mt_token_cache_size * 1024;
	Size		need = toklen + plen + claims_len;
	uint64		h;
	CacheEntry *e;
	bool		found;
	char	   *data;

	if (mt_token_cache_size <= 0 || toklen > MAX_CACHED_TOKEN || plen < 0 ||
		need + ENTRY_OVERHEAD > budget)
		return;
	if (cache != NULL && (!same_stamp(stamp) ||
						  cache_bytes + need + ENTRY_OVERHEAD > budget))
		forget_all();
	/* a generation context: entries take their exact size (no power of 2) */
	if (cache_cxt == NULL)
		cache_cxt = GenerationContextCreate(TopMemoryContext, "multitenant token cache",
											0, 8 * 1024, 64 * 1024);
	if (cache == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(CacheEntry);
		ctl.hcxt = cache_cxt;
		cache = hash_create("multitenant verified tenant tokens", 256, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		memcpy(&cache_stamp, stamp, sizeof(MtTokenStamp));
	}

	/* the entry first: the token is copied only where forget_all finds it */
	h = hash_bytes_extended((const unsigned char *) tok, (int) toklen, 0);
	e = hash_search(cache, &h, HASH_ENTER, &found);
	if (found)
	{
		/* another token with the same hash (or this one again): replaced */
		mt_wipe(e->data, e->toklen + e->plen + e->claims_len);
		pfree(e->data);
		cache_bytes -= e->bytes;
	}
	data = MemoryContextAllocExtended(cache_cxt, need, MCXT_ALLOC_NO_OOM);
	if (data == NULL)
	{
		(void) hash_search(cache, &h, HASH_REMOVE, NULL);
		return;
	}
	memcpy(data, tok, toklen);
	memcpy(data + toklen, payload, plen);
	memcpy(data + toklen + plen, claims, claims_len);
	e->data = data;
	e->toklen = (uint32) toklen;
	e->plen = plen;
	e->claims_len = (uint32) claims_len;
	e->bytes = GetMemoryChunkSpace(data) + ENTRY_OVERHEAD;
	cache_bytes += e->bytes;
}

void
mt_assign_token_cache_size(int newval, void *extra)
{
	forget_all();
}
