/*-------------------------------------------------------------------------
 *
 * mfa.h
 *	  The MFA marker of the current context (mfa.c): set by a successful
 *	  second factor (totp.c), read by mt.current_mfa() (totp.c) and by the
 *	  security policy rule mfa_required_for (authz.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_MFA_H
#define MT_MFA_H

#include "postgres.h"

#include "utils/guc.h"
#include "utils/uuid.h"

/* GUC multitenant.mfa_marker: internal, the leader's marker for its parallel workers */
extern char *mt_mfa_marker_string;
extern bool mt_check_mfa_marker(char **newval, void **extra, GucSource source);

/* a second factor of subject in tenant passed: marks the current context if it is theirs */
extern void mt_mfa_mark(const pg_uuid_t *tenant, const char *subject);

/* whether the current context's subject passed a second factor in this context */
extern bool mt_mfa_current(void);

/* ExecutorStart (multitenant.c): pass the marker to the workers of a parallel plan */
extern void mt_mfa_executor_start(bool parallel_mode_needed);

/* called from mt_xact_callback at the end of every transaction */
extern void mt_mfa_xact_callback(int event);

#endif							/* MT_MFA_H */
