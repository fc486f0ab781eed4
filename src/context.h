/*-------------------------------------------------------------------------
 *
 * context.h
 *	  The tenant context (context.c): the multitenant.token and
 *	  multitenant.node_context GUCs (variables and hooks live in context.c,
 *	  multitenant.c defines the GUCs), token minting, entering a tenant,
 *	  reading the verified context, the value that passes it to Citus
 *	  workers, and the Citus coordinator's approval of DDL that weakens
 *	  isolation on the workers (multitenant.node_ddl_approval).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_CONTEXT_H
#define MT_CONTEXT_H

#include "postgres.h"

#include "nodes/nodes.h"
#include "utils/guc.h"
#include "utils/uuid.h"

/* GUC variables */
extern char *mt_token_string;
extern char *mt_node_context_string;
extern char *mt_node_ddl_approval_string;
extern int	mt_token_max_ttl;
extern int	mt_default_token_ttl;
extern char *mt_token_issuer;
extern char *mt_token_audience;
extern int	mt_token_leeway;
extern char *mt_tenant_claim;
extern char *mt_subject_claim;
extern char *mt_roles_claim;
extern char *mt_workspace_claim;

/*
 * shared memory (the burned-token list and the Citus DDL approvals seen;
 * called from multitenant.c)
 */
extern Size mt_context_shmem_size(void);
extern void mt_context_shmem_request(void);
extern void mt_context_shmem_startup(void);
/* shared memory (the node contexts each backend is passing) */
extern Size mt_node_context_shmem_size(void);
extern void mt_node_context_shmem_startup(void);

extern bool mt_check_token(char **newval, void **extra, GucSource source);
extern void mt_assign_token(const char *newval, void *extra);
extern const char *mt_show_token(void);
/* the transaction context (context.c): the setting as it reads, materializing */
extern const char *mt_context_setting(void);
extern void mt_context_materialize(void);
extern void mt_context_utility(Node *stmt);
extern uint64 mt_context_entry_id(void);
extern uint64 mt_context_entered_id(void);
extern bool mt_check_claim_setting(char **newval, void **extra, GucSource source);
extern void mt_assign_tenant_claim(const char *newval, void *extra);
extern void mt_assign_subject_claim(const char *newval, void *extra);
extern void mt_assign_roles_claim(const char *newval, void *extra);
extern void mt_assign_workspace_claim(const char *newval, void *extra);
extern void mt_assign_claim_values(const char *newval, void *extra);
extern bool mt_check_claim_values(char **newval, void **extra, GucSource source);
extern bool mt_check_node_context(char **newval, void **extra, GucSource source);
extern void mt_assign_node_context(const char *newval, void *extra);
/* the context passed to Citus workers (citus.c) */
extern uint64 mt_context_generation(void);
extern char *mt_node_context_value(uint64 gpid, int64 *exp_out);
extern void mt_node_context_passing(const char *value);
/* a coordinator's approval of DDL that weakens isolation on the workers */
extern bool mt_check_node_ddl_approval(char **newval, void **extra, GucSource source);
extern void mt_assign_node_ddl_approval(const char *newval, void *extra);
extern char *mt_node_ddl_approval_value(uint64 gpid);
extern bool mt_node_ddl_approved(void);
/* called from mt_xact_callback at the end of every transaction */
extern void mt_context_xact_reset(void);

extern char *mt_mint_token(const pg_uuid_t *tenant, int64 ttl_seconds,
						   const char *sub, const char *role);
extern void mt_enter_tenant_maintenance(const pg_uuid_t *tenant);
extern void mt_enter_tenant(const pg_uuid_t *tenant, int64 ttl_seconds,
							const char *sub, const char *role, bool is_local);
extern const pg_uuid_t *mt_context_tenant(void);
extern const pg_uuid_t *mt_context_claimed_tenant(void);
extern const pg_uuid_t *mt_context_row_tenant(void);
extern const pg_uuid_t *mt_require_context_tenant(void);
/* the context's subject (palloc'd), or NULL */
extern char *mt_context_subject(void);

/* the subject mt.authenticate() enters for an API key: key:<key id> */
#define MT_KEY_SUBJECT_PREFIX "key:"

/* the claims authorization reads (authz.c); pointers valid until the next SET */
typedef struct MtContextClaims
{
	const pg_uuid_t *tenant;
	const char *sub;			/* NULL: none */
	const char *role;			/* NULL: none */
	const pg_uuid_t *wid;		/* workspace claim; NULL: none */
	bool		backoffice;		/* mt.set_tenant(), or a token of mt.tenant_token() */
	bool		bearer;			/* a signed token (not mt.set_tenant / mt.authenticate) */
} MtContextClaims;

extern bool mt_context_claims(MtContextClaims *out);

#endif							/* MT_CONTEXT_H */
