/*-------------------------------------------------------------------------
 *
 * domains.h
 *	  Custom domains of tenants (domains.c): the one normalization of host
 *	  names.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_DOMAINS_H
#define MT_DOMAINS_H

#include "postgres.h"

/*
 * Normalizes in[0..len) into buf (254 bytes); NULL when acceptable, else
 * the reason it is not (for errdetail)
 */
extern const char *mt_domain_normalize(const char *in, size_t len, char *buf);

#endif							/* MT_DOMAINS_H */
