/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  Small SPI and argument helpers shared by every capability file, so
 *	  that each caller runs parameterized SQL the same way: as the caller,
 *	  as the extension owner on its own catalog tables
 *	  (mt_catalog_execute), or as a user table's owner in a security-
 *	  restricted operation (mt_owner_execute).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_SPI_UTIL_H
#define MT_SPI_UTIL_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/uuid.h"

extern void mt_spi_connect(void);
extern void mt_spi_finish(void);
extern int	mt_spi_execute(const char *sql, int nargs, Oid *types, Datum *values,
						   int expected_rc);
extern int	mt_spi_execute_nulls(const char *sql, int nargs, Oid *types, Datum *values,
								 const char *nulls, int expected_rc);
extern bool mt_spi_exists(const char *sql, int nargs, Oid *types, Datum *values);
extern Datum mt_spi_value(const char *sql, int nargs, Oid *types, Datum *values,
						  bool read_only, bool *isnull);
extern char *mt_spi_text(const char *sql, int nargs, Oid *types, Datum *values,
						 bool *isnull);
extern Oid	mt_catalog_relid(const char *name);
extern Oid	mt_extension_owner(void);
extern int	mt_enter_safe_search_path(void);
extern void mt_leave_safe_search_path(int nest);
extern int	mt_catalog_execute(const char *sql, int nargs, Oid *types, Datum *values,
							   const char *nulls);
extern int	mt_owner_execute(Oid relid, const pg_uuid_t *tenant, const char *sql,
							 int nargs, Oid *types, Datum *values, const char *nulls,
							 bool read_only, long tcount);
extern ErrorData *mt_try_in_subxact(void (*fn) (void *arg), void *arg);
extern void mt_require_args(FunctionCallInfo fcinfo, int nargs, const char *names);

#endif							/* MT_SPI_UTIL_H */
