/*-------------------------------------------------------------------------
 *
 * tenant_schema.h
 *	  Schema per tenant (tenant_schema.c): the check that copying rows or a
 *	  template runs no code of a role without the caller's privileges, for
 *	  the modules that copy rows with the caller's rights (tenant_move.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_TENANT_SCHEMA_H
#define MT_TENANT_SCHEMA_H

#include "postgres.h"

#include "nodes/pg_list.h"

/*
 * 42501 unless every object whose code a copy into or out of namespace nsp
 * (InvalidOid: none) and the relations relids (their partitions and
 * inheritance children included) would run with the caller's rights
 * belongs to a role that has the caller's privileges.  errmsg "<subject>
 * runs code of a role that does not have the privileges of <caller>:
 * <first object>", errdetail "<evaluates> Not trusted: <all>.", errhint
 * hint.  SPI connected, safe search_path.
 */
extern void mt_require_trusted_code(Oid nsp, List *relids, const char *subject,
									const char *evaluates, const char *hint);

#endif							/* MT_TENANT_SCHEMA_H */
