/*-------------------------------------------------------------------------
 *
 * crypto.h
 *	  Server secrets (the master secrets of the secret file, keys derived
 *	  from them per purpose and version) and cryptographic primitives
 *	  (crypto.c), and the GUCs multitenant.jwt_secret / jwt_secret_previous
 *	  / jwt_public_key (variables and hooks live in crypto.c, multitenant.c
 *	  defines the GUCs).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_CRYPTO_H
#define MT_CRYPTO_H

#include "postgres.h"

#include <openssl/sha.h>

#include "utils/guc.h"

#define MT_SECRET_LEN 32
#define MT_SHA256_LEN 32
#define MT_MAX_MASTERS 8
#define MT_MASTER_FP_LEN 8		/* hex digits of a master's fingerprint */
#define MT_KEY_FP_LEN 16		/* hex digits of a derived key's fingerprint */

/* GUC variables */
extern char *mt_jwt_secret;
extern char *mt_jwt_public_key;
extern char *mt_jwt_secret_previous;

extern void mt_load_server_secret(void);
extern const uint8 *mt_token_key(size_t *len);
extern void mt_derive_key(const char *label, uint8 *out);
extern void mt_derive_versioned_key(const char *label_base, int version, int master,
									uint8 *out);
extern void mt_key_fingerprint(const uint8 *key, char *out);
extern int	mt_master_count(void);
extern const char *mt_master_fingerprint(int i);
extern int	mt_master_index(const char *fp);
extern void mt_reload_masters(bool force);
extern void mt_reload_masters_strict(void);
/* a key's HMAC-SHA256 state: its pads hashed once (crypto.c); secret */
typedef struct MtHmacKeyed
{
	SHA256_CTX	inner;
	SHA256_CTX	outer;
} MtHmacKeyed;

extern void mt_hmac_keyed_init(MtHmacKeyed *k, const uint8 *key, size_t keylen);
extern void mt_hmac_keyed(const MtHmacKeyed *k, const uint8 *msg, size_t msglen,
						  uint8 *out);
extern void mt_token_hmac(const uint8 *msg, size_t msglen, uint8 *out);
extern bool mt_token_hmac_previous(const uint8 *msg, size_t msglen, uint8 *out);
extern uint64 mt_token_keys_generation(void);
extern void mt_hmac_sha256(const uint8 *key, size_t keylen,
						   const uint8 *msg, size_t msglen, uint8 *out);
extern bool mt_ed25519_verify(const uint8 *sig, size_t siglen,
							  const uint8 *msg, size_t msglen);
extern bool mt_ct_equal(const void *a, const void *b, size_t len);
extern void mt_random_bytes(void *buf, size_t len);
extern void mt_wipe(void *buf, size_t len);
extern char *mt_base64url_encode(const uint8 *data, size_t len);

/* 0..63 for a base64url character, -1 for anything else */
static inline int
mt_base64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

extern int	mt_base64url_decode(const char *src, size_t srclen,
								uint8 *dst, size_t dstlen);
extern bool mt_hex_decode(const char *src, uint8 *out, size_t outlen);

/* 0..15 for a hex digit (either case), -1 for anything else */
static inline int
mt_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

extern bool mt_check_jwt_secret(char **newval, void **extra, GucSource source);
extern void mt_assign_jwt_secret(const char *newval, void *extra);
extern bool mt_check_jwt_secret_previous(char **newval, void **extra, GucSource source);
extern void mt_assign_jwt_secret_previous(const char *newval, void *extra);
extern const char *mt_show_jwt_secret(void);
extern const char *mt_show_jwt_secret_previous(void);
extern bool mt_check_jwt_public_key(char **newval, void **extra, GucSource source);
extern void mt_assign_jwt_public_key(const char *newval, void *extra);

#endif							/* MT_CRYPTO_H */
