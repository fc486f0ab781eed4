/*-------------------------------------------------------------------------
 *
 * sealed.h
 *	  Secrets stored encrypted under the extension's key-encryption key
 *	  (sealed.c): one derived key per purpose label and KEK version.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_SEALED_H
#define MT_SEALED_H

#include "postgres.h"

#define MT_SEALED_MAX 4096		/* bytes of plaintext at most */

/* the purpose labels of the sealed secrets (totp.c, sso.c, tenant_export.c) */
#define MT_SEAL_LABEL_TOTP	"multitenant totp secret v1"
#define MT_SEAL_LABEL_SSO	"multitenant sso client secret v1"

/* nonce || secretbox(data) under the active KEK version (into *version) */
extern bytea *mt_seal(const char *label, const uint8 *data, int len, int *version);
/* the plaintext length into out (MT_SEALED_MAX bytes); -1 when it does not open */
extern int	mt_unseal(const char *label, bytea *sealed, int version, uint8 *out);

#endif							/* MT_SEALED_H */
