/*-------------------------------------------------------------------------
 *
 * isolation.h
 *	  Tenant isolation's GUC variable (isolation.c; multitenant.c defines
 *	  the GUC multitenant.allow_unsafe_ddl) and the rewrite of CREATE POLICY
 *	  that multitenant.c's ProcessUtility hook applies.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_ISOLATION_H
#define MT_ISOLATION_H

#include "postgres.h"

#include "nodes/plannodes.h"

extern bool mt_allow_unsafe_ddl;

extern PlannedStmt *mt_isolation_utility_stmt(PlannedStmt *pstmt, bool *readOnlyTree);

#endif							/* MT_ISOLATION_H */
