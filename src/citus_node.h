/*-------------------------------------------------------------------------
 *
 * citus_node.h
 *	  What this node is in a Citus cluster (citus_node.c): is Citus loaded,
 *	  is this node a worker, which column hash-distributes a table; and
 *	  mt_require_coordinator(), the one check of the capabilities whose
 *	  state lives on the coordinator only.  Includes no header of the
 *	  extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_CITUS_NODE_H
#define MT_CITUS_NODE_H

#include "postgres.h"

#include "access/attnum.h"

/* Citus is loaded in this backend (preloaded: it cannot be loaded later) */
extern bool mt_citus_loaded(void);

/*
 * This node belongs to a Citus cluster and is not its coordinator (its
 * pg_dist_local_group.groupid is not 0).  False without Citus.
 */
extern bool mt_citus_worker_node(void);

/*
 * This node's Citus node id (the node id in the global pids of its
 * sessions: Citus' GetLocalNodeId()).  Only with Citus loaded, in a
 * transaction.  Cached per backend until pg_dist_node or
 * pg_dist_local_group changes.
 */
extern int32 mt_citus_local_node_id(void);

/*
 * 0A000 "<what> runs on the Citus coordinator only" on a Citus worker:
 * in a shard query the coordinator pushed down, or called there directly.
 * Free on a server without Citus (one test of a cached flag).
 */
extern void mt_require_coordinator(const char *what);

/*
 * The attribute number of the column that hash-distributes relid, or
 * InvalidAttrNumber when relid is not a hash-distributed Citus table (or
 * Citus is not there).  Cached per backend until Citus changes the
 * table's metadata (a relcache invalidation of relid).
 */
extern AttrNumber mt_citus_hash_column(Oid relid);

#endif							/* MT_CITUS_NODE_H */
