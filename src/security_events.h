/*-------------------------------------------------------------------------
 *
 * security_events.h
 *	  Security events (security_events.c): the one call every capability
 *	  makes when it refuses something suspicious (mt_security_event), the
 *	  bounded shared-memory ring the flush worker drains into
 *	  mt.security_event_log, per-kind counters, GUC variables
 *	  (multitenant.c defines the GUCs) and shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_SECURITY_EVENTS_H
#define MT_SECURITY_EVENTS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/uuid.h"

/* the kinds; mt.security_events shows their names (mt_security_kind_name) */
typedef enum MtSecKind
{
	MT_SEC_AUTH_FAILED = 0,		/* an API key was refused */
	MT_SEC_THROTTLED,			/* the key throttle refused a client */
	MT_SEC_TOKEN_FORGED,		/* a token whose signature does not verify */
	MT_SEC_TOKEN_EXPIRED,		/* a valid token past its exp */
	MT_SEC_QUOTA_BREACH,		/* mt.consume refused by a hard limit */
	MT_SEC_AUDIT_TAMPER,		/* mt.audit_verify found a broken chain */
	MT_SEC_POLICY_VIOLATION,	/* a security policy refused (other modules) */
	MT_SEC_POLICY_TOKEN,		/* security_policy.c: a token refused */
	MT_SEC_POLICY_API_KEY,		/* ... an API key refused (client_cidrs) */
	MT_SEC_POLICY_KEY_CREATE,	/* ... mt.create_api_key refused */
	MT_SEC_POLICY_IDLE,			/* ... a session context dropped as idle */
	MT_SEC_NKINDS
} MtSecKind;

#define MT_SEC_SUBJECT_LEN	64
#define MT_SEC_DETAIL_LEN	160
#define MT_SEC_CLIENT_LEN	48

/* one event as the drain hands it out */
typedef struct MtSecEvent
{
	uint64		seq;			/* ring position + 1; 0: free slot */
	Oid			dbid;
	bool		has_tenant;
	bool		taken;			/* being written by a drain */
	pg_uuid_t	tenant;
	int32		kind;			/* MtSecKind */
	TimestampTz at;
	char		client[MT_SEC_CLIENT_LEN];	/* "" : local or unknown */
	char		subject[MT_SEC_SUBJECT_LEN];	/* key id, token sub, ... */
	char		detail[MT_SEC_DETAIL_LEN];
} MtSecEvent;

/* GUC variables */
extern int	mt_security_event_buffer;

/* shared memory (called from multitenant.c) */
extern Size mt_security_events_shmem_size(void);
extern void mt_security_events_shmem_request(void);
extern void mt_security_events_shmem_startup(void);

/*
 * Records a security event of this database: tenant may be NULL (not
 * known), subject and detail may be NULL (cut to their lengths).  Takes the
 * client address of this backend.  Never raises an error and never
 * allocates: callers are about to refuse (and roll back) themselves.  A
 * full ring overwrites its oldest undrained event (counted as lost).
 */
extern void mt_security_event(const pg_uuid_t *tenant, MtSecKind kind,
							  const char *subject, const char *detail);

extern const char *mt_security_kind_name(int kind);

/* counters since server start: events per kind, events lost */
extern void mt_security_counts(uint64 *counts, uint64 *lost);

/* databases with undrained events (for the launcher); returns how many */
extern int	mt_security_databases_pending(Oid *dbids, int max);

/*
 * The drain, for the flush worker of dbid: a palloc'd copy of up to max
 * undrained events of dbid, marked taken; then mt_security_drain_done
 * (committed: free their slots; else: give them back).
 */
extern MtSecEvent *mt_security_drain_take(Oid dbid, int max, int *n);
extern void mt_security_drain_done(const MtSecEvent *ev, int n, bool committed);

#endif							/* MT_SECURITY_EVENTS_H */
