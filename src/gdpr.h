/*-------------------------------------------------------------------------
 *
 * gdpr.h
 *	  Declarations shared by gdpr.c and retention.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_GDPR_H
#define MT_GDPR_H

#include "postgres.h"

#include "utils/uuid.h"

/* 42501 unless the current user owns the relation (superusers do) */
extern void mt_gdpr_require_owner(Oid relid);


/* name of the role the caller acts as (SET ROLE), for *_by columns */
extern char *mt_gdpr_actor_role(void);

#endif							/* MT_GDPR_H */
