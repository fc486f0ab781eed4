/*-------------------------------------------------------------------------
 *
 * multitenant.h
 *	  Declarations shared by the capability files of the multitenant
 *	  extension: GUC variables, the shared-memory header, crypto helpers,
 *	  the tenant context and the tenant registry.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MULTITENANT_H
#define MULTITENANT_H

#include "postgres.h"

#include "port/atomics.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/*
 * GUC "extra" values: PostgreSQL 16 and later free them with guc_free(), so
 * they must come from guc_malloc(); up to 15 the GUC machinery free()s them.
 */
#if PG_VERSION_NUM >= 160000
#define mt_guc_extra_alloc(size)	guc_malloc(LOG, (size))
#define mt_guc_extra_free(ptr)		guc_free(ptr)
#else
#define mt_guc_extra_alloc(size)	malloc(size)
#define mt_guc_extra_free(ptr)		free(ptr)
#endif

/* ---- GUC variables (multitenant.c) ---- */
extern char *mt_jwt_secret;
extern char *mt_jwt_public_key;
extern char *mt_token_string;
extern int	mt_token_max_ttl;
extern int	mt_default_token_ttl;
extern bool mt_allow_unsafe_ddl;
extern int	mt_audit_digest_max_age;
extern int	mt_api_key_rotation_age;

/* ---- shared memory (multitenant.c) ---- */

/*
 * The one shared struct.  Every field is an atomic, so no lock protects it.
 * tenant_generation is bumped after any commit that changed mt.tenants or
 * mt.api_key_secrets, so that backends re-read a tenant's status or a key
 * instead of trusting their cache.  It is never bumped on a hot standby:
 * caches there are invalidated by replayed relcache invalidations
 * (tenants.c, mt_registry_inval_count()).
 */
typedef struct MultitenantShared
{
	pg_atomic_uint64 tenant_generation;
} MultitenantShared;

extern MultitenantShared *mt_shared;

/* raises 55000 with a hint when the library was not preloaded */
extern void mt_require_shared_memory(const char *what);

/* ---- crypto.c ---- */
#define MT_SECRET_LEN 32
#define MT_SHA256_LEN 32

extern void mt_load_server_secret(void);
extern const uint8 *mt_token_key(size_t *len);
extern void mt_derive_key(const char *label, uint8 *out);
extern void mt_token_hmac(const uint8 *msg, size_t msglen, uint8 *out);
extern void mt_hmac_sha256(const uint8 *key, size_t keylen,
						   const uint8 *msg, size_t msglen, uint8 *out);
extern bool mt_ed25519_verify(const uint8 *sig, size_t siglen,
							  const uint8 *msg, size_t msglen);
extern bool mt_ct_equal(const void *a, const void *b, size_t len);
extern void mt_random_bytes(void *buf, size_t len);
extern void mt_wipe(void *buf, size_t len);
extern char *mt_base64url_encode(const uint8 *data, size_t len);
extern int	mt_base64url_decode(const char *src, size_t srclen,
								uint8 *dst, size_t dstlen);

extern bool mt_check_jwt_secret(char **newval, void **extra, GucSource source);
extern void mt_assign_jwt_secret(const char *newval, void *extra);
extern bool mt_check_jwt_public_key(char **newval, void **extra, GucSource source);
extern void mt_assign_jwt_public_key(const char *newval, void *extra);

/* ---- context.c ---- */
/* how mt_enter_tenant() contexts are stored in the setting */
#define MT_INTERNAL_PREFIX "mt-internal|"
extern Size mt_context_shmem_size(void);
extern void mt_context_shmem_request(void);
extern void mt_context_shmem_startup(void);
extern bool mt_check_token(char **newval, void **extra, GucSource source);
extern void mt_assign_token(const char *newval, void *extra);
extern void mt_context_xact_reset(void);
extern char *mt_mint_token(const pg_uuid_t *tenant, int64 ttl_seconds,
						   const char *sub, const char *role);
extern void mt_enter_tenant_maintenance(const pg_uuid_t *tenant);
extern void mt_enter_tenant(const pg_uuid_t *tenant, int64 ttl_seconds,
							const char *sub, const char *role, bool is_local);
extern const pg_uuid_t *mt_context_tenant(void);
extern const pg_uuid_t *mt_context_row_tenant(void);
extern const pg_uuid_t *mt_require_context_tenant(void);
extern bool mt_hex_decode(const char *src, uint8 *out, size_t outlen);

/* ---- redact.c ---- */
extern bool mt_redact_statement(const char *secret);
extern bool mt_redact_signature_fragments(const char *tok, const char *sig);
extern bool mt_redact_tokens(char *s);
extern void mt_redact_init(void);

/* ---- tenants.c ---- */
typedef enum MtTenantStatus
{
	MT_TENANT_UNKNOWN,			/* no such row (or no mt.tenants here) */
	MT_TENANT_ACTIVE,
	MT_TENANT_SUSPENDED,
	MT_TENANT_DELETED
} MtTenantStatus;

extern MtTenantStatus mt_tenant_status(const pg_uuid_t *tenant);
extern MtTenantStatus mt_tenant_status_cached(const pg_uuid_t *tenant);
extern uint64 mt_registry_inval_count(void);
extern void mt_tenants_xact_callback(int event);
extern void mt_require_active_tenant(const pg_uuid_t *tenant);

/* ---- small shared helpers ---- */
extern char *mt_uuid_to_cstring(const pg_uuid_t *u);
extern bool mt_parse_uuid(const char *s, pg_uuid_t *out);

#endif							/* MULTITENANT_H */
