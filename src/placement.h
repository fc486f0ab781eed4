/*-------------------------------------------------------------------------
 *
 * placement.h
 *	  Where each tenant lives (placement.c): the placement registry
 *	  mt.tenant_placements read as the extension owner, for the modules
 *	  that place tenants (tenant_schema.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_PLACEMENT_H
#define MT_PLACEMENT_H

#include "postgres.h"

#include "utils/uuid.h"

/* what a tenant's row says (level "shared" and no schema without one) */
typedef struct MtPlacement
{
	char	   *level;
	char	   *schema_name;	/* NULL unless set */
} MtPlacement;

/* SPI must be connected; both read every row, whatever the context */
extern void mt_placement_of(const pg_uuid_t *tenant, MtPlacement *out);
extern bool mt_placement_schema_tenant(Oid nspid, pg_uuid_t *tenant);
extern void mt_placement_require_live(const pg_uuid_t *tenant, MtPlacement *placement);
extern void mt_placement_require_shared(const pg_uuid_t *tenant, const char *fn);

#endif							/* MT_PLACEMENT_H */
