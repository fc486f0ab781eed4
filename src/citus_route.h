/*-------------------------------------------------------------------------
 *
 * citus_route.h
 *	  Tenant-scoped queries on Citus tables routed to the tenant's shard
 *	  (citus_route.c): the planner and ExecutorStart halves that
 *	  multitenant.c chains into PostgreSQL's hooks, and the GUC
 *	  multitenant.citus_route_tenant.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_CITUS_ROUTE_H
#define MT_CITUS_ROUTE_H

#include "postgres.h"

#include "executor/execdesc.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"

/* GUC multitenant.citus_route_tenant */
extern bool mt_citus_route_tenant;

/*
 * Before planning: when parse is a SELECT, UPDATE or DELETE Citus can route to one shard
 * once it knows the tenant (one hash-distributed table, distributed by its
 * tenant column) and the query is confined to the verified tenant (its
 * WHERE clause says "<tenant column> = mt.current_tenant()", or the role is
 * subject to the generated policy), put "<tenant column> = $n" in its
 * WHERE clause and return n (a parameter number the statement does not
 * use); else 0.
 */
extern int	mt_citus_route_query(Query *parse, ParamListInfo boundParams);

/* after planning: mark the plan as reading parameter n (the tenant) */
extern void mt_citus_route_mark(PlannedStmt *stmt, int paramid);

/*
 * Before planning: when parse is an INSERT ... VALUES into a
 * hash-distributed table whose generated policy's WITH CHECK applies to
 * the role, the table's oid (to mark the plan with); else InvalidOid.
 */
extern Oid	mt_citus_insert_guard(Query *parse);

/* after planning: mark the plan as refused without a tenant (42501) */
extern void mt_citus_insert_mark(PlannedStmt *stmt, Oid relid);

/*
 * Before ExecutorStart: a plan marked by mt_citus_insert_guard fails with
 * 42501 when there is no tenant; a marked plan gets parameters that add $n =
 * mt.current_tenant() of this moment.
 */
extern void mt_citus_route_params(QueryDesc *queryDesc);

#endif							/* MT_CITUS_ROUTE_H */
