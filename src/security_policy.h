/*-------------------------------------------------------------------------
 *
 * security_policy.h
 *	  Per-tenant security policies (mt.security_policies): the validated
 *	  document, its per-backend cache, the checks the context, API keys
 *	  call (their refusals are security events: security_events.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_SECURITY_POLICY_H
#define MT_SECURITY_POLICY_H

#include "postgres.h"

#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* GUC multitenant.client_addr (superuser, or GRANT SET ON PARAMETER) */
extern char *mt_client_addr_string;
extern bool mt_check_client_addr(char **newval, void **extra, GucSource source);
extern void mt_assign_client_addr(const char *newval, void *extra);
extern int	mt_client_addr_override(unsigned char *addr);

/* validate a policy document (22023 naming the path); the normalized copy */
extern Jsonb *mt_security_policy_validate(Jsonb *doc);

/*
 * Checks.  Each returns NULL when the policy of the tenant admits the
 * request, else the reason (palloc'd); the caller refuses, and the event
 * is already recorded (mt_security_event, kind security.*), so it reaches
 * the tenant's audit chain even though the refusal rolls back.
 * A tenant without a policy costs one per-backend hash lookup.
 */
extern const char *mt_policy_check_token(const pg_uuid_t *tenant,
										 const uint8 *payload, int plen,
										 int64 exp, bool backoffice);
extern const char *mt_policy_check_client(const pg_uuid_t *tenant, const char *what);
extern const char *mt_policy_check_new_key(const pg_uuid_t *tenant, Datum scopes,
										   bool has_expires, TimestampTz expires_at);
/* a session context unused for idle_seconds: NULL, or the reason (the context is dropped) */
extern const char *mt_policy_check_idle(const pg_uuid_t *tenant, int64 idle_seconds);
/*
 * Does the tenant's policy (mfa_required_for) require a second factor for
 * perm (a valid permission; any of its patterns overlapping it)?  Not a
 * refusal by itself: authz.c answers has_permission false without one.
 */
extern bool mt_policy_mfa_required(const pg_uuid_t *tenant, const char *perm);
/* does the tenant have a policy with token rules? (tokens set outside a transaction) */
extern bool mt_policy_has_token_rules(const pg_uuid_t *tenant);

/* the flush worker: write this database's queued events (worker.c) */

#endif							/* MT_SECURITY_POLICY_H */
