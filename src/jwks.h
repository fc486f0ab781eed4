/*-------------------------------------------------------------------------
 *
 * jwks.h
 *	  Public keys of external identity providers (multitenant.jwks and
 *	  multitenant.jwks_file, JWKS documents) and the verification of the
 *	  signatures of tokens they sign: RS256, PS256, ES256, EdDSA (jwks.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_JWKS_H
#define MT_JWKS_H

#include "postgres.h"

#include "utils/guc.h"

/* limits (doc/identity.md, "Keys of identity providers") */
#define MT_JWKS_MAX_BYTES	65536	/* one JWKS document */
#define MT_JWKS_MAX_KEYS	32		/* keys of one document */
#define MT_JWKS_MAX_KID		128		/* bytes of a kid */

/* GUC variables */
extern char *mt_jwks;
extern char *mt_jwks_file;

/* Is alg one of the algorithms the key sets verify (RS256 PS256 ES256 EdDSA)? */
extern bool mt_jwks_alg(const char *alg);

/*
 * Verifies the signature sig of a token (msg = the ASCII "header.payload")
 * with the key the token's alg and kid (NULL: none) select.  NULL when it
 * verifies, else the reason (a constant or palloc'd string, no token text).
 * *no_key is set when the key sets hold no key at all for alg, so that the
 * caller may try another key (multitenant.jwt_public_key for EdDSA).
 */
extern const char *mt_jwks_verify(const char *alg, const char *kid,
								  const char *token, size_t toklen,
								  size_t msglen, const uint8 *sig, size_t siglen,
								  bool *no_key);

/* moves at every assignment of multitenant.jwks or multitenant.jwks_file */
extern uint64 mt_jwks_generation(void);

extern bool mt_check_jwks(char **newval, void **extra, GucSource source);
extern void mt_assign_jwks(const char *newval, void *extra);
extern bool mt_check_jwks_file(char **newval, void **extra, GucSource source);
extern void mt_assign_jwks_file(const char *newval, void *extra);

#endif							/* MT_JWKS_H */
