/*-------------------------------------------------------------------------
 *
 * isolation.h
 *	  Tenant isolation's GUC variable (isolation.c; multitenant.c defines
 *	  the GUC multitenant.allow_unsafe_ddl), the rewrite of CREATE POLICY
 *	  that multitenant.c's ProcessUtility hook applies, the approval of
 *	  sanctioned DDL it hands Citus workers around a statement, and the
 *	  DDL and policy helpers the schema-per-tenant isolation shares.
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

/*
 * The extension's own DDL (the event triggers of isolation.c and
 * tenant_schema.c let it through) and the generated policies, for
 * tenant_schema.c.  SPI connected, safe search_path.
 */
extern void mt_isolation_run_ddl(const char *sql);
extern bool mt_isolation_ddl_running(void);
extern void mt_isolation_check_rtable(List *rangeTable);
extern void mt_isolation_ensure_policy(Oid relid, const char *qname, const char *policy,
									   bool permissive, const char *expr, bool force);

#endif							/* MT_ISOLATION_H */
