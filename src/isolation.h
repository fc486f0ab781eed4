/*-------------------------------------------------------------------------
 *
 * isolation.h
 *	  Tenant isolation's GUC variable (isolation.c; multitenant.c defines
 *	  the GUC multitenant.allow_unsafe_ddl).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_ISOLATION_H
#define MT_ISOLATION_H

#include "postgres.h"

extern bool mt_allow_unsafe_ddl;

#endif							/* MT_ISOLATION_H */
