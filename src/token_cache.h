/*-------------------------------------------------------------------------
 *
 * token_cache.h
 *	  Per-backend cache of verified tenant tokens: the part of a token's
 *	  check that does not depend on the clock or the tenant's state,
 *	  remembered under a stamp of everything it does depend on
 *	  (token_cache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_TOKEN_CACHE_H
#define MT_TOKEN_CACHE_H

#include "postgres.h"

/* GUC variable: the cache's memory budget in kB (0: no cache) */
extern int	mt_token_cache_size;

/*
 * What the cached results were computed under (keys, key sets, claim
 * settings, registry): any change of any member empties the cache.
 */
#define MT_TOKEN_STAMP_WORDS 5
typedef struct MtTokenStamp
{
	uint64		w[MT_TOKEN_STAMP_WORDS];
} MtTokenStamp;

/*
 * Copies the claims (claims_len bytes) remembered for exactly this token
 * under this stamp into *claims, and points *payload / *plen at the
 * remembered payload (valid until the next call of this module).  False
 * when there is none.
 */
extern bool mt_token_cache_get(const char *tok, size_t toklen, const MtTokenStamp *stamp,
							   void *claims, size_t claims_len,
							   const uint8 **payload, int *plen);

/* Remembers a verified token (ignored when the cache is off or it is too big). */
extern void mt_token_cache_put(const char *tok, size_t toklen, const MtTokenStamp *stamp,
							   const void *claims, size_t claims_len,
							   const uint8 *payload, int plen);

/* assign hook of multitenant.token_cache_size: forgets everything */
extern void mt_assign_token_cache_size(int newval, void *extra);

#endif							/* MT_TOKEN_CACHE_H */
