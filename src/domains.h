/*-------------------------------------------------------------------------
 *
 * domains.h
 *	  Custom domains of tenants (domains.c): the one normalization of host
 *	  names, and the check that a tenant is active with its row locked.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_DOMAINS_H
#define MT_DOMAINS_H

#include "postgres.h"

#include "utils/uuid.h"

/*
 * Normalizes in[0..len) into buf (254 bytes); NULL when acceptable, else
 * the reason it is not (for errdetail)
 */
extern const char *mt_domain_normalize(const char *in, size_t len, char *buf);

/* the tenant's row locked FOR SHARE, or 42704 / 55000 unless active (sso.c too) */
extern void mt_lock_active_tenant(pg_uuid_t *tenant);

#endif							/* MT_DOMAINS_H */
