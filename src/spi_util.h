/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  The one way the extension runs SQL (spi_util.c), for every capability
 *	  file: parameterized statements as the caller (mt_spi_*), as the
 *	  extension owner on its own catalog tables with a safe search_path
 *	  (mt_catalog_execute, mt_catalog_begin/end), or as a user table's owner in a security-
 *	  restricted operation (mt_owner_execute; as a given role: mt_role_execute).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_SPI_UTIL_H
#define MT_SPI_UTIL_H

#include "postgres.h"

#include "nodes/execnodes.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/snapshot.h"
#include "utils/uuid.h"

/* as the extension owner (mt_catalog_begin .. mt_catalog_end) */
typedef struct MtCatalogCtx
{
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;
	MemoryContext outer;		/* the caller's memory context */
} MtCatalogCtx;

extern void mt_spi_failed(const char *what, int rc) pg_attribute_noreturn();
extern void mt_spi_connect(void);
extern void mt_spi_finish(void);
extern int	mt_spi_execute(const char *sql, int nargs, Oid *types, Datum *values,
						   int expected_rc);
extern int	mt_spi_execute_nulls(const char *sql, int nargs, Oid *types, Datum *values,
								 const char *nulls, int expected_rc);
extern void mt_spi_select(const char *sql, int nargs, Oid *types, Datum *values,
						  const char *nulls);
/*
 * Appends every row of SPI_tuptable (its columns those of the result) to a
 * materialized SRF's tuplestore (InitMaterializedSRF), in per-query memory.
 */
extern void mt_spi_rows_to_tuplestore(ReturnSetInfo *rsinfo);
extern bool mt_spi_exists(const char *sql, int nargs, Oid *types, Datum *values);
extern Datum mt_spi_value(const char *sql, int nargs, Oid *types, Datum *values,
						  bool read_only, bool *isnull);
extern char *mt_spi_text(const char *sql, int nargs, Oid *types, Datum *values,
						 bool *isnull);
extern int	mt_enter_safe_search_path(void);
extern void mt_leave_safe_search_path(int nest);
extern int	mt_catalog_execute(const char *sql, int nargs, Oid *types, Datum *values,
							   const char *nulls);
extern void mt_catalog_begin(MtCatalogCtx *c);
extern void mt_catalog_end(MtCatalogCtx *c);
extern void mt_spi_select_snapshot(Snapshot snap, const char *sql, int nargs, Oid *types,
								   Datum *values, const char *nulls);
extern void mt_spi_select_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
							   Datum *values, const char *nulls);
extern int	mt_owner_execute(Oid relid, const pg_uuid_t *tenant, const char *sql,
							 int nargs, Oid *types, Datum *values, const char *nulls,
							 bool read_only, long tcount);
extern int	mt_role_execute(Oid role, const pg_uuid_t *tenant, const char *sql,
							int nargs, Oid *types, Datum *values, const char *nulls,
							bool read_only, long tcount);
/* a cursor run as a table's owner (mt_owner_cursor_open .. _close) */
typedef struct MtOwnerCursor
{
	Portal		portal;
	Oid			owner;
	bool		has_tenant;
	pg_uuid_t	tenant;
} MtOwnerCursor;

extern void mt_owner_cursor_open(MtOwnerCursor *c, Oid relid, const pg_uuid_t *tenant,
								 const char *sql, int nargs, Oid *types, Datum *values,
								 const char *nulls);
extern uint64 mt_owner_cursor_fetch(MtOwnerCursor *c, long count);
extern uint64 mt_owner_cursor_fetch_then(MtOwnerCursor *c, long count,
										void (*then) (void *arg), void *arg);
extern void mt_owner_cursor_close(MtOwnerCursor *c);
extern ErrorData *mt_try_in_subxact(void (*fn) (void *arg), void *arg);

#endif							/* MT_SPI_UTIL_H */
