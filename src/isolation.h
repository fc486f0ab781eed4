/*-------------------------------------------------------------------------
 *
 * isolation.h
 *	  Tenant isolation's GUC variable (isolation.c; multitenant.c defines
 *	  the GUC multitenant.allow_unsafe_ddl), the rewrite of CREATE POLICY
 *	  that multitenant.c's ProcessUtility hook applies, and the approval of
 *	  sanctioned DDL it hands Citus workers around a statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_ISOLATION_H
#define MT_ISOLATION_H

#include "postgres.h"

#include "nodes/plannodes.h"

extern bool mt_allow_unsafe_ddl;

extern PlannedStmt *mt_isolation_utility_stmt(PlannedStmt *pstmt, bool *readOnlyTree);
extern bool mt_isolation_sanction_begin(Node *stmt);
extern void mt_isolation_sanction_end(bool passed);

#endif							/* MT_ISOLATION_H */
