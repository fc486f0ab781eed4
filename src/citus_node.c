/*-------------------------------------------------------------------------
 *
 * citus_node.c
 *	  What this node is in a Citus cluster, read from Citus's own catalog
 *	  tables without calling into Citus: whether Citus is loaded, whether
 *	  this node is a worker (pg_dist_local_group.groupid is not the
 *	  coordinator's 0), its node id (pg_dist_node: the node part of the
 *	  Citus global pids of its sessions), and which column
 *	  hash-distributes a table (pg_dist_partition).
 *	  mt_require_coordinator() is the one check of the capabilities whose state lives on the coordinator only (usage,
 *	  rate limits, audit, GDPR: doc/citus.md, "What runs where"): Citus
 *	  pushes a function call in a query on a distributed table down into
 *	  the shard queries, which run on the workers, where the call would
 *	  count, append and read the worker's own state.
 *
 * All state is per backend: the node's group, its node id and the
 * distribution columns looked up so far, kept until a relcache
 * invalidation of pg_dist_local_group (group, node id), pg_dist_node
 * (node id) or of the table (Citus's triggers on its metadata
 * tables send one on every change) or a full cache reset.  No locks.
 * Includes no header of the extension.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_namespace.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "citus_node.h"
#include "util.h"

/* Citus's catalog: pg_dist_local_group (groupid int4) and pg_dist_partition */
#define CITUS_COORDINATOR_GROUP			0
#define ANUM_LOCAL_GROUP_GROUPID		1
#define ANUM_PARTITION_LOGICALRELID		1
#define ANUM_PARTITION_PARTMETHOD		2
#define ANUM_PARTITION_PARTKEY			3
#define CITUS_HASH_DISTRIBUTED			'h'
/* pg_dist_node (nodeid int4, groupid int4, ..., isactive bool, ..., nodecluster name) */
#define ANUM_DIST_NODE_NODEID			1
#define ANUM_DIST_NODE_GROUPID			2
#define ANUM_DIST_NODE_ISACTIVE			7
#define ANUM_DIST_NODE_NODECLUSTER		9
/* Citus' node id of a node missing from pg_dist_node (GetLocalNodeId) */
#define CITUS_NODE_ID_NOT_IN_METADATA	99999999
/* application_name of the backends that run the coordinator's shard queries */
#define CITUS_INTERNAL_APP_PREFIX		"citus_internal gpid="

static int	citus_state = -1;	/* -1 not looked at yet, 0 absent, 1 loaded */

static bool callback_registered = false;
static uint64 invalidations = 0;	/* callbacks so far (see local_group()) */
static int32 cached_group = -1;		/* -1: look it up */
static Oid	cached_group_relid = InvalidOid;
static int32 cached_node_id = -1;	/* -1: look it up */
static Oid	cached_node_relid = InvalidOid;

typedef struct MtCitusTable
{
	Oid			relid;			/* hash key */
	AttrNumber	hash_column;	/* InvalidAttrNumber: not hash-distributed */
} MtCitusTable;

static HTAB *citus_tables = NULL;

bool
mt_citus_loaded(void)
{
	if (citus_state < 0)
		citus_state = GetConfigOption("citus.version", true, false) != NULL ? 1 : 0;
	return citus_state == 1;
}

static void
citus_relcache_callback(Datum arg, Oid relid)
{
	invalidations++;
	if (!OidIsValid(relid) || relid == cached_group_relid ||
		!OidIsValid(cached_group_relid))
		cached_group = -1;
	if (!OidIsValid(relid) || relid == cached_node_relid ||
		relid == cached_group_relid || !OidIsValid(cached_node_relid))
		cached_node_id = -1;
	if (citus_tables == NULL)
		return;
	if (OidIsValid(relid))
		(void) hash_search(citus_tables, &relid, HASH_REMOVE, NULL);
	else
	{
		HASH_SEQ_STATUS seq;
		MtCitusTable *t;

		hash_seq_init(&seq, citus_tables);
		while ((t = hash_seq_search(&seq)) != NULL)
			(void) hash_search(citus_tables, &t->relid, HASH_REMOVE, NULL);
	}
}

static void
register_callback(void)
{
	if (callback_registered)
		return;
	mt_register_relcache_callback(citus_relcache_callback);
	callback_registered = true;
}

/* this node's Citus group; 0 (the coordinator's) when there is none */
static int32
local_group(void)
{
	uint64		before;
	int32		group = CITUS_COORDINATOR_GROUP;
	Oid			relid;

	if (cached_group >= 0)
		return cached_group;
	register_callback();
	before = invalidations;
	relid = get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE);
	if (OidIsValid(relid))
	{
		Relation	rel = table_open(relid, AccessShareLock);
		SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		HeapTuple	tup = systable_getnext(scan);
		bool		isnull;

		/* empty only while pg_upgrade is finishing: the coordinator's then */
		if (HeapTupleIsValid(tup))
		{
			Datum		d = heap_getattr(tup, ANUM_LOCAL_GROUP_GROUPID,
										 RelationGetDescr(rel), &isnull);

			if (!isnull)
				group = DatumGetInt32(d);
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	/* an invalidation during the lookup: use it once, read it again next time */
	cached_group_relid = relid;
	if (invalidations == before)
		cached_group = group;
	return group;
}

bool
mt_citus_worker_node(void)
{
	return mt_citus_loaded() && IsTransactionState() &&
		local_group() != CITUS_COORDINATOR_GROUP;
}

void
mt_require_coordinator(const char *what)
{
	int32		group;
	bool		shard_query;

	if (citus_state == 0 || !mt_citus_loaded() || !IsTransactionState())
		return;
	group = local_group();
	if (group == CITUS_COORDINATOR_GROUP)
		return;
	shard_query = application_name != NULL &&
		strncmp(application_name, CITUS_INTERNAL_APP_PREFIX,
				strlen(CITUS_INTERNAL_APP_PREFIX)) == 0;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s runs on the Citus coordinator only", what),
			 shard_query ?
			 errdetail("This is Citus worker group %d running a query the coordinator sent: the call was pushed down into a query on a distributed table. The extension's state (usage, rate limits, audit, GDPR, the tenant registry, placements, roles, domains, second factors, identities) lives on the coordinator.", group) :
			 errdetail("This is Citus worker group %d. The extension's state (usage, rate limits, audit, GDPR, the tenant registry, placements, roles, domains, second factors, identities) lives on the coordinator.", group),
			 errhint("Call it on the coordinator in a statement of its own, not inside a query on a distributed table.")));
}

/*
 * This node's Citus node id, as Citus' GetLocalNodeId() finds it: the
 * active pg_dist_node row of this cluster (citus.cluster_name) in this
 * node's group; Citus' "not in metadata" id when there is none.
 */
int32
mt_citus_local_node_id(void)
{
	uint64		before;
	int32		group;
	int32		node_id = CITUS_NODE_ID_NOT_IN_METADATA;
	Oid			relid;
	const char *cluster;

	if (cached_node_id >= 0)
		return cached_node_id;
	register_callback();
	before = invalidations;
	group = local_group();
	cluster = GetConfigOption("citus.cluster_name", true, false);
	relid = get_relname_relid("pg_dist_node", PG_CATALOG_NAMESPACE);
	if (OidIsValid(relid))
	{
		Relation	rel = table_open(relid, AccessShareLock);
		TupleDesc	desc = RelationGetDescr(rel);
		SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		HeapTuple	tup;

		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		d;

			d = heap_getattr(tup, ANUM_DIST_NODE_GROUPID, desc, &isnull);
			if (isnull || DatumGetInt32(d) != group)
				continue;
			d = heap_getattr(tup, ANUM_DIST_NODE_ISACTIVE, desc, &isnull);
			if (isnull || !DatumGetBool(d))
				continue;
			d = heap_getattr(tup, ANUM_DIST_NODE_NODECLUSTER, desc, &isnull);
			if (!isnull && cluster != NULL &&
				strcmp(NameStr(*DatumGetName(d)), cluster) != 0)
				continue;
			d = heap_getattr(tup, ANUM_DIST_NODE_NODEID, desc, &isnull);
			if (isnull)
				continue;
			node_id = DatumGetInt32(d);
			break;
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	/* an invalidation during the lookup: use it once, read it again next time */
	cached_node_relid = relid;
	if (invalidations == before)
		cached_node_id = node_id;
	return node_id;
}

/* pg_dist_partition's row of relid: the hash-distribution column, if any */
static AttrNumber
read_hash_column(Oid relid)
{
	Oid			part = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	Oid			index;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	AttrNumber	attno = InvalidAttrNumber;

	if (!OidIsValid(part))
		return InvalidAttrNumber;
	index = get_relname_relid("pg_dist_partition_logical_relid_index", PG_CATALOG_NAMESPACE);
	ScanKeyInit(&key, ANUM_PARTITION_LOGICALRELID, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	rel = table_open(part, AccessShareLock);
	scan = systable_beginscan(rel, index, OidIsValid(index), NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Datum		method = heap_getattr(tup, ANUM_PARTITION_PARTMETHOD, desc, &isnull);

		if (!isnull && DatumGetChar(method) == CITUS_HASH_DISTRIBUTED)
		{
			Datum		partkey = heap_getattr(tup, ANUM_PARTITION_PARTKEY, desc, &isnull);

			if (!isnull)
			{
				Node	   *n = stringToNode(TextDatumGetCString(partkey));

				if (n != NULL && IsA(n, Var))
					attno = ((Var *) n)->varattno;
			}
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return attno;
}

AttrNumber
mt_citus_hash_column(Oid relid)
{
	MtCitusTable *t;
	AttrNumber	attno;
	uint64		before;
	bool		found;

	if (!mt_citus_loaded())
		return InvalidAttrNumber;
	register_callback();
	if (citus_tables == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(MtCitusTable);
		ctl.hcxt = TopMemoryContext;
		citus_tables = hash_create("multitenant Citus tables", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	t = hash_search(citus_tables, &relid, HASH_FIND, NULL);
	if (t != NULL)
		return t->hash_column;

	before = invalidations;
	attno = read_hash_column(relid);
	/* an invalidation during the lookup: answer, but do not remember it */
	if (invalidations == before)
	{
		t = hash_search(citus_tables, &relid, HASH_ENTER, &found);
		t->hash_column = attno;
	}
	return attno;
}
