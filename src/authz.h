/*-------------------------------------------------------------------------
 *
 * authz.h
 *	  Authorization inside a tenant (authz.c): roles, permissions,
 *	  assignments and workspaces; mt.has_permission() answered from the
 *	  per-backend resolution of the current subject's permissions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_AUTHZ_H
#define MT_AUTHZ_H

#include "postgres.h"

/* called from mt_xact_callback at the end of every transaction */
extern void mt_authz_xact_reset(void);

/*
 * For functions of other modules that manage the current tenant: 25006 on
 * a standby or in a read-only transaction, 42501 without a tenant context
 * or unless the context holds perm tenant-wide.
 */
extern void mt_require_context_permission(const char *what, const char *perm);

#endif							/* MT_AUTHZ_H */
