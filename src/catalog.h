/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  The extension's own tables (catalog.c): which relation is really
 *	  ours, who owns the extension, and the primary-key probe that the
 *	  tenant-status and API-key lookups share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_CATALOG_H
#define MT_CATALOG_H

#include "postgres.h"

#include "access/genam.h"
#include "access/htup.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

extern Oid	mt_catalog_relid(const char *name);
extern Oid	mt_extension_owner(void);
extern AttrNumber mt_catalog_attnum(Oid relid, const char *table, const char *column);
extern bool mt_extension_identity(Oid *owner, Oid *nsp);

/* an open primary-key probe (mt_pk_probe_begin .. mt_pk_probe_end) */
typedef struct MtPkProbe
{
	SysScanDesc scan;
	Snapshot	snap;
} MtPkProbe;

extern HeapTuple mt_pk_probe_begin(MtPkProbe *probe, Relation rel, AttrNumber keyatt,
								   RegProcedure eqproc, Datum key, bool fresh);
extern void mt_pk_probe_end(MtPkProbe *probe);

/* the latest snapshot, registered (a catalog one in a parallel worker's setup) */
extern Snapshot mt_fresh_snapshot(Oid relid);

#endif							/* MT_CATALOG_H */
