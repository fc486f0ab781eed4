/*-------------------------------------------------------------------------
 *
 * audit_keys.h
 *	  Per-subject details keys of the audit chain (audit_keys.c), used by
 *	  audit.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_AUDIT_KEYS_H
#define MT_AUDIT_KEYS_H

#include "postgres.h"

#include "utils/uuid.h"

/* callers hold an SPI connection */
#define MT_AUDIT_KEY_LEN 32

extern int64 mt_audit_subject_key(const pg_uuid_t *tenant, const char *subject,
								  bool create, uint8 *key);
/* what mt_audit_key_by_id found */
typedef enum MtAuditKeyState
{
	MT_AUDIT_KEY_OPEN,			/* unwrapped into *key */
	MT_AUDIT_KEY_DESTROYED,		/* no row: crypto-shredded */
	MT_AUDIT_KEY_SEALED			/* does not unwrap with the current server secret */
} MtAuditKeyState;

extern int64 mt_audit_subject_key_id(const pg_uuid_t *tenant, const char *subject);
extern MtAuditKeyState mt_audit_key_by_id(int64 key_id, uint8 *key);
extern bool mt_audit_wrapped_key_opens(bytea *wrapped, int version);
extern bool mt_audit_tenant_keys_sealed(const pg_uuid_t *tenant);
extern bytea *mt_audit_encrypt(const uint8 *key, const char *plain, int len);
extern char *mt_audit_decrypt(const uint8 *key, const uint8 *enc, int enclen, int *outlen);
extern int64 mt_audit_delete_subject_keys(const pg_uuid_t *tenant, const char *subject);

#endif							/* MT_AUDIT_KEYS_H */
