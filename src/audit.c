/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The tamper-evident audit log: mt.audit() appends to per-tenant hash
 *	  chains in mt.audit_log; mt.audit_verify() recomputes them (optionally
 *	  against a saved digest); mt.audit_digest() returns chain heads;
 *	  mt.audit_prune() removes old rows behind a checkpoint; the C row-change
 *	  trigger behind mt.audit_table(); search and JSON-lines export; the
 *	  append-only guard trigger; sealing (mt.audit_seal() and the worker's
 *	  pass); mt.audit_forget_subject(); importing a
 *	  tenant's chain (mt.import_tenant, verbatim or re-chained under the
 *	  chain lock of the new tenant).  Subject keys
 *	  and details encryption live in audit_keys.c.
 *
 * Chains.  Every event belongs to one chain, keyed by tenant_id (the nil
 * uuid for events without a tenant).  Row n of a chain carries seq = n,
 * prev_hash = hash of row n-1 (32 zero bytes for row 1, or the checkpoint
 * hash after pruning) and hash = SHA-256 over a domain tag, prev_hash and
 * a length-prefixed canonical serialization of every other column (see
 * audit_compute_hash() and doc/audit.md, which an external verifier
 * follows).
 *
 * Appending and sealing.  mt.audit() takes no chain lock: it inserts the
 * event unsealed (seq and prev_hash NULL, hash = its content hash: the same
 * message with seq NULL and a zero prev_hash), with an id from
 * mt.audit_log_id_seq, and at commit flags the database for the worker
 * (flush_request.c).  The sealer (seal_chain: the worker every
 * multitenant.audit_seal_interval, mt.audit_seal(), and mt.audit_verify(),
 * mt.audit_digest(), mt.audit_prune() before they read) takes the chain's
 * lock, reads the head with SnapshotSelf, and links every unsealed row
 * visible to a snapshot taken after the lock (committed ones and its own
 * transaction's) in id order, checking each content hash first; see
 * seal_chain() for why that order is consistent with commit order.  The
 * partial index audit_log_unsealed (tenant_id, id) WHERE seq IS NULL is its
 * work list; the chain index audit_log_chain (tenant_id, seq) holds sealed
 * rows only (WHERE seq IS NOT NULL, 0.8.0), so each event has one index
 * entry in each state.  A sealed event leaves a dead entry in the work
 * list until VACUUM; sealers read it from the floor of seal_floor.c on
 * (every committed event below it is sealed), which the worker's full
 * passes raise: an append takes its xid before its id for that.  Before
 * the 0.5.0 update (no such index) appends chain at once under the chain
 * lock, as 0.4.0 did.
 *
 * Locks.  The chain lock is a transaction-scoped heavyweight lock (an
 * advisory-type tag with locktag_field4 = MT_AUDIT_LOCK_SPACE, keyed by the
 * tenant uuid, never colliding with user advisory locks), held to commit or
 * abort by sealers, mt.audit_prune() and the chain import; the worker's
 * sealer skips chains whose lock is taken.  Sealers take several chain
 * locks in uuid order.  Appends with encrypted details take the tenant's
 * subject-key lock (MT_AUDIT_KEYS_LOCK_SPACE), as mt.audit_forget_subject()
 * does.  The unique index (tenant_id, seq) is the backstop against forks.
 * Ids have no index (0.7.0): a verbatim chain import keeps exported ids
 * only after waiting for every transaction that took ids from
 * mt.audit_log_id_seq (nextval holds RowExclusiveLock on it to commit) and
 * moving the sequence past them under a brief ShareLock on it
 * (mt_audit_import_ids_free).  Nothing is shared between backends
 * otherwise.
 *
 * Row-change trigger.  mt.audit_row_change builds each row image as jsonb
 * and its hashed text directly and appends through the transaction's
 * inserter; what it knows of an audited table (TrigRel) is backend-local,
 * kept for one transaction and flagged stale by relcache and pg_namespace
 * invalidation callbacks (no locks: see TrigRel).
 *
 * Append-only.  Statement triggers (mt.audit_guard, ENABLE ALWAYS) refuse
 * INSERT/UPDATE/DELETE/TRUNCATE on mt.audit_log and mt.audit_checkpoints
 * unless the backend-local audit_write_mode was set by this file's own C
 * code for exactly that statement (insert by mt.audit, delete and
 * checkpoint insert by mt.audit_prune).  The flag is reset in PG_FINALLY.
 * Sealing updates rows through the table AM directly (no trigger fires),
 * so no SQL statement can link, relink or rewrite a row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* the SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP (see sha256()) */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inet.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "audit_keys.h"
#include "catalog.h"
#include "flush_request.h"
#include "citus_node.h"
#include "context.h"
#include "crypto.h"
#include "seal_floor.h"
#include "security_events.h"
#include "spi_util.h"
#include "tenant_stats.h"
#include "util.h"

/* Limits on event fields (bytes); details: multitenant.audit_max_details */
#define MT_AUDIT_MAX_ACTION		200
#define MT_AUDIT_MAX_RTYPE		200
#define MT_AUDIT_MAX_RID		1000
#define MT_AUDIT_MAX_SUBJECT	255
#define MT_AUDIT_MAX_ROWS		100000	/* per search page */
#define MT_AUDIT_MAX_VALUE		4096	/* row-change trigger: larger values are hashed */

#define MT_AUDIT_LOCK_SPACE		0x6175	/* locktag_field4 of chain locks ("au") */
#define MT_AUDIT_KEYS_LOCK_SPACE	0x616b	/* ... of subject-key locks ("ak") */

/* domain tag that starts every hashed message: "mt.audit.v1" and a NUL */
#define MT_AUDIT_DOMAIN			"mt.audit.v1"
#define MT_AUDIT_DOMAIN_LEN		12

/* µs between the Unix epoch and the PostgreSQL epoch (2000-01-01) */
#define MT_UNIX_EPOCH_OFFSET	INT64CONST(946684800000000)

#if PG_VERSION_NUM >= 180000
#define mt_index_beginscan(h, i, s, n) index_beginscan((h), (i), (s), NULL, (n), 0)
#else
#define mt_index_beginscan(h, i, s, n) index_beginscan((h), (i), (s), (n), 0)
#endif

int			mt_audit_max_details = 65536;

const pg_uuid_t mt_audit_nil_tenant = {{0}};

/* which write the guard trigger lets through right now (see header) */
typedef enum AuditWriteMode
{
	AUDIT_WRITE_NONE = 0,
	AUDIT_WRITE_LOG_INSERT,
	AUDIT_WRITE_LOG_DELETE,
	AUDIT_WRITE_CHECKPOINT_INSERT
} AuditWriteMode;

static AuditWriteMode audit_write_mode = AUDIT_WRITE_NONE;
static int	mt_uuid_cmp(const void *a, const void *b);

static void mt_audit_note_unsealed(void);

/* mt.audit_log column numbers; checked against the catalog on open */
enum
{
	A_ID = 1, A_TENANT, A_SEQ, A_AT, A_ACTOR, A_ACTION, A_RTYPE, A_RID,
	A_DETAILS, A_KEY_ID, A_ENC, A_CLIENT, A_DB_USER, A_PREV, A_HASH,
	A_NATTS = A_HASH
};

static const char *const audit_log_columns[A_NATTS] = {
	"id", "tenant_id", "seq", "at", "actor", "action", "resource_type",
	"resource_id", "details", "details_key_id", "details_enc", "client_addr",
	"db_user", "prev_hash", "hash"
};

/* ---------------------------------------------------------------------
 * Catalog lookups
 * --------------------------------------------------------------------- */
typedef struct AuditRels
{
	Oid			nsp;
	Oid			log;
	Oid			chain_idx;		/* audit_log_chain (tenant_id, seq), sealed rows
								 * (WHERE seq IS NOT NULL from 0.8.0) */
	Oid			ckpt;
	Oid			ckpt_idx;		/* audit_checkpoints_pkey (tenant_id, seq) */
	Oid			id_seq;
	Oid			unsealed_idx;	/* audit_log_unsealed (tenant_id, id) WHERE seq
								 * IS NULL; InvalidOid before the 0.5.0 update */
} AuditRels;

/*
 * Tables must belong to the extension (mt_catalog_relid); their indexes and
 * sequences are looked up beside them in the extension's schema.
 */
static Oid
audit_relid(Oid nsp, const char *name, bool table)
{
	Oid			relid = table ? mt_catalog_relid(name) : get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("relation mt.%s does not exist", name),
				 errhint("Is the multitenant extension installed in this database?")));
	return relid;
}

/*
 * The lookups of audit_rels, remembered across transactions: every append
 * needs them, and eight catalog lookups by name cost about as much as the
 * append's heap insert.  A relcache invalidation of any of the relations
 * (drop, rename, a new index on mt.audit_log) or a change of any schema
 * forgets them; the next call looks them up again.
 */
static AuditRels rels_cache;
static bool rels_cache_valid = false;
static uint64 rels_cache_gen = 0;	/* invalidations seen */

static void
rels_cache_invalidate(Datum arg, Oid relid)
{
	/* while not valid, a lookup may be under way: any relation may be its */
	if (!rels_cache_valid || relid == InvalidOid ||
		relid == rels_cache.log || relid == rels_cache.chain_idx ||
		relid == rels_cache.ckpt || relid == rels_cache.ckpt_idx ||
		relid == rels_cache.id_seq || relid == rels_cache.unsealed_idx)
	{
		rels_cache_valid = false;
		rels_cache_gen++;
	}
}

static void
rels_cache_namespace_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	rels_cache_valid = false;
	rels_cache_gen++;
}

static void
audit_rels_lookup(AuditRels *r)
{
	r->nsp = get_namespace_oid("mt", true);
	if (!OidIsValid(r->nsp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("schema mt does not exist"),
				 errhint("Run CREATE EXTENSION multitenant.")));
	r->log = audit_relid(r->nsp, "audit_log", true);
	r->chain_idx = audit_relid(r->nsp, "audit_log_chain", false);
	r->ckpt = audit_relid(r->nsp, "audit_checkpoints", true);
	r->ckpt_idx = audit_relid(r->nsp, "audit_checkpoints_pkey", false);
	r->id_seq = audit_relid(r->nsp, "audit_log_id_seq", false);
	/* absent in a database not yet updated to 0.5.0: appends chain at once */
	r->unsealed_idx = get_relname_relid("audit_log_unsealed", r->nsp);
}

static void
audit_rels(AuditRels *r)
{
	static bool callbacks = false;

	if (!callbacks)
	{
		mt_register_relcache_callback(rels_cache_invalidate);
		CacheRegisterSyscacheCallback(NAMESPACEOID, rels_cache_namespace_invalidate, (Datum) 0);
		callbacks = true;
	}
	if (!rels_cache_valid)
	{
		uint64		gen = rels_cache_gen;
		AuditRels	fresh;

		/*
		 * May throw (nothing cached then).  The lookups may read
		 * invalidations that concern their own results: after any
		 * invalidation meanwhile, the result is used once, not kept.
		 */
		audit_rels_lookup(&fresh);
		*r = fresh;
		if (rels_cache_gen == gen)
		{
			rels_cache = fresh;
			rels_cache_valid = true;
		}
		return;
	}
	*r = rels_cache;
}

static void
check_log_layout(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (desc->natts != A_NATTS)
		goto bad;
	for (int i = 0; i < A_NATTS; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), audit_log_columns[i]) != 0)
			goto bad;
	}
	return;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("mt.audit_log does not have the columns this version of multitenant expects")));
}

/* ---------------------------------------------------------------------
 * Rows and the canonical hash
 * --------------------------------------------------------------------- */

/* a text-like field: p == NULL is SQL NULL */
typedef struct AField
{
	const char *p;
	int			len;
} AField;

typedef struct AuditRow
{
	int64		id;
	pg_uuid_t	tenant;
	int64		seq;
	bool		sealed;			/* seq and prev_hash set (else hash is the
								 * content hash) */
	TimestampTz at;
	AField		actor;
	AField		action;
	AField		resource_type;
	AField		resource_id;
	AField		details;		/* jsonb text as PostgreSQL prints it */
	bool		has_key_id;
	int64		details_key_id;
	AField		details_enc;	/* raw bytes */
	AField		client_addr;	/* inet text */
	AField		db_user;
	uint8		prev_hash[MT_SHA256_LEN];
	uint8		hash[MT_SHA256_LEN];
	bool		hash_lengths_ok;
} AuditRow;

static inline AField
afield(const char *s)
{
	AField		f;

	f.p = s;
	f.len = s ? (int) strlen(s) : 0;
	return f;
}

/*
 * SHA-256 through OpenSSL's low-level interface: no allocation, no provider
 * lookup or lock per call (EVP and even the one-shot SHA256() fetch the
 * algorithm under a lock in OpenSSL 3), and it uses the CPU's SHA
 * extensions.  Verification hashes a million rows per second, so this
 * matters.
 */
static void
sha256(const void *data, size_t len, uint8 *out)
{
	SHA256_CTX	c;

	SHA256_Init(&c);
	SHA256_Update(&c, data, len);
	SHA256_Final(out, &c);
}

/* callers reserve room first (see audit_compute_hash) */
static inline void
put_field(StringInfo b, const char *p, int len)
{
	uint8	   *d = (uint8 *) b->data + b->len;

	if (p == NULL)
	{
		memset(d, 0xFF, 4);
		b->len += 4;
		return;
	}
	d[0] = (uint8) (len >> 24);
	d[1] = (uint8) (len >> 16);
	d[2] = (uint8) (len >> 8);
	d[3] = (uint8) len;
	memcpy(d + 4, p, len);
	b->len += 4 + len;
}

static inline void
put_int(StringInfo b, int64 v)
{
	char		tmp[MAXINT8LEN + 1];
	int			n = pg_lltoa(v, tmp);

	put_field(b, tmp, n);
}

static void
uuid_text(const pg_uuid_t *u, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = out;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u->data[i] >> 4];
		*p++ = hex[u->data[i] & 15];
	}
	*p = '\0';
}

static char *
hex_text(const uint8 *b, int len)
{
	static const char hex[] = "0123456789abcdef";
	char	   *out = palloc(len * 2 + 1);

	for (int i = 0; i < len; i++)
	{
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[len * 2] = '\0';
	return out;
}

/*
 * hash = SHA-256( "mt.audit.v1" NUL || prev_hash || F(id) || F(tenant_id)
 *				   || F(seq) || F(at) || F(actor) || F(action)
 *				   || F(resource_type) || F(resource_id) || F(details)
 *				   || F(details_key_id) || F(details_enc) || F(client_addr)
 *				   || F(db_user) )
 * F(NULL) = FF FF FF FF; F(v) = 4-byte big-endian length || bytes of v.
 * Integers in decimal, at as µs since the Unix epoch, tenant_id as the
 * lowercase 36-character uuid, details as PostgreSQL's jsonb text.
 *
 * The content hash of an unsealed row is the same message with seq NULL
 * (FF FF FF FF) and prev_hash 32 zero bytes: it cannot equal the chain
 * hash of any sealed row, whose seq is never NULL.
 */
static void
audit_compute_hash(const AuditRow *r, StringInfo b, uint8 *out)
{
	char		u[UUID_LEN * 2 + 5];

	/* 14 fields of at most 4 + 20 bytes besides the variable ones */
	resetStringInfo(b);
	enlargeStringInfo(b, MT_AUDIT_DOMAIN_LEN + MT_SHA256_LEN + 14 * (4 + MAXINT8LEN + 16) +
					  r->actor.len + r->action.len + r->resource_type.len +
					  r->resource_id.len + r->details.len + r->details_enc.len +
					  r->client_addr.len + r->db_user.len);
	memcpy(b->data, MT_AUDIT_DOMAIN, MT_AUDIT_DOMAIN_LEN);
	memcpy(b->data + MT_AUDIT_DOMAIN_LEN, r->prev_hash, MT_SHA256_LEN);
	b->len = MT_AUDIT_DOMAIN_LEN + MT_SHA256_LEN;
	put_int(b, r->id);
	uuid_text(&r->tenant, u);
	put_field(b, u, 36);
	if (r->sealed)
		put_int(b, r->seq);
	else
		put_field(b, NULL, 0);
	put_int(b, r->at + MT_UNIX_EPOCH_OFFSET);
	put_field(b, r->actor.p, r->actor.len);
	put_field(b, r->action.p, r->action.len);
	put_field(b, r->resource_type.p, r->resource_type.len);
	put_field(b, r->resource_id.p, r->resource_id.len);
	put_field(b, r->details.p, r->details.len);
	if (r->has_key_id)
		put_int(b, r->details_key_id);
	else
		put_field(b, NULL, 0);
	put_field(b, r->details_enc.p, r->details_enc.len);
	put_field(b, r->client_addr.p, r->client_addr.len);
	put_field(b, r->db_user.p, r->db_user.len);
	sha256(b->data, b->len, out);
}

static AField
text_field(Datum d, bool isnull)
{
	AField		f = {NULL, 0};

	if (!isnull)
	{
		text	   *t = DatumGetTextPP(d);

		f.p = VARDATA_ANY(t);
		f.len = VARSIZE_ANY_EXHDR(t);
	}
	return f;
}

/*
 * Fill r from a stored row.  Pointers refer to the slot's tuple or to
 * memory allocated in the current context (detoasted values) or to dbuf
 * (details text); valid until the slot moves on and the context is reset.
 */
static void
audit_row_from_slot(TupleTableSlot *slot, AuditRow *r, StringInfo dbuf)
{
	Datum	   *v;
	bool	   *n;

	slot_getallattrs(slot);
	v = slot->tts_values;
	n = slot->tts_isnull;
	memset(r, 0, sizeof(*r));
	r->id = DatumGetInt64(v[A_ID - 1]);
	memcpy(&r->tenant, DatumGetUUIDP(v[A_TENANT - 1]), sizeof(pg_uuid_t));
	r->sealed = !n[A_SEQ - 1];
	r->seq = r->sealed ? DatumGetInt64(v[A_SEQ - 1]) : 0;
	r->at = DatumGetTimestampTz(v[A_AT - 1]);
	r->actor = text_field(v[A_ACTOR - 1], n[A_ACTOR - 1]);
	r->action = text_field(v[A_ACTION - 1], n[A_ACTION - 1]);
	r->resource_type = text_field(v[A_RTYPE - 1], n[A_RTYPE - 1]);
	r->resource_id = text_field(v[A_RID - 1], n[A_RID - 1]);
	if (!n[A_DETAILS - 1])
	{
		Jsonb	   *jb = DatumGetJsonbP(v[A_DETAILS - 1]);

		resetStringInfo(dbuf);
		JsonbToCString(dbuf, &jb->root, VARSIZE(jb));
		r->details.p = dbuf->data;
		r->details.len = dbuf->len;
	}
	r->has_key_id = !n[A_KEY_ID - 1];
	if (r->has_key_id)
		r->details_key_id = DatumGetInt64(v[A_KEY_ID - 1]);
	r->details_enc = text_field(v[A_ENC - 1], n[A_ENC - 1]);
	if (!n[A_CLIENT - 1])
		r->client_addr = afield(DatumGetCString(DirectFunctionCall1(inet_out, v[A_CLIENT - 1])));
	r->db_user = text_field(v[A_DB_USER - 1], n[A_DB_USER - 1]);
	{
		AField		ph = text_field(v[A_PREV - 1], n[A_PREV - 1]);
		AField		h = text_field(v[A_HASH - 1], n[A_HASH - 1]);

		r->hash_lengths_ok = (r->sealed ? ph.len == MT_SHA256_LEN : ph.p == NULL) &&
			h.len == MT_SHA256_LEN;
		if (ph.p && ph.len == MT_SHA256_LEN)
			memcpy(r->prev_hash, ph.p, MT_SHA256_LEN);
		if (h.p && h.len == MT_SHA256_LEN)
			memcpy(r->hash, h.p, MT_SHA256_LEN);
	}
}

/* ---------------------------------------------------------------------
 * Chain scans (index audit_log_chain), heads, checkpoints, locks
 * --------------------------------------------------------------------- */
typedef struct ChainScan
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanDirection dir;
	pg_uuid_t	tenant;			/* the scan key points here */
	ScanKeyData keys[2];
} ChainScan;

/* rows of one chain with seq > after_seq, in seq order (or reversed) */
static ChainScan *
chain_scan_begin(const AuditRels *rels, Snapshot snap, const pg_uuid_t *tenant,
				 int64 after_seq, ScanDirection dir)
{
	ChainScan  *cs = palloc0(sizeof(ChainScan));
	int			nkeys;

	cs->heap = table_open(rels->log, AccessShareLock);
	check_log_layout(cs->heap);
	cs->index = index_open(rels->chain_idx, AccessShareLock);
	cs->tenant = *tenant;
	cs->dir = dir;
	ScanKeyInit(&cs->keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&cs->tenant));
	if (after_seq > 0)
		ScanKeyInit(&cs->keys[1], 2, BTGreaterStrategyNumber, F_INT8GT, Int64GetDatum(after_seq));
	else
	{
		/* sealed rows only: unsealed ones (seq NULL) are not in the chain yet */
		ScanKeyEntryInitialize(&cs->keys[1], SK_ISNULL | SK_SEARCHNOTNULL, 2,
							   InvalidStrategy, InvalidOid, InvalidOid, InvalidOid, (Datum) 0);
	}
	nkeys = 2;
	cs->scan = mt_index_beginscan(cs->heap, cs->index, snap, nkeys);
	index_rescan(cs->scan, cs->keys, nkeys, NULL, 0);
	cs->slot = table_slot_create(cs->heap, NULL);
	return cs;
}

static bool
chain_scan_next(ChainScan *cs)
{
	return index_getnext_slot(cs->scan, cs->dir, cs->slot);
}

static void
chain_scan_end(ChainScan *cs)
{
	index_endscan(cs->scan);
	ExecDropSingleTupleTableSlot(cs->slot);
	index_close(cs->index, AccessShareLock);
	table_close(cs->heap, AccessShareLock);
	pfree(cs);
}

/*
 * The first tenant with a visible row after *after (all when NULL) in an
 * index led by tenant_id: audit_log_chain (sealed rows; every row before
 * 0.8.0) or audit_log_unsealed.
 */
static bool
next_chain_tenant(const AuditRels *rels, Oid indexoid, Snapshot snap, const pg_uuid_t *after,
				  pg_uuid_t *out)
{
	Relation	heap = table_open(rels->log, AccessShareLock);
	Relation	index = index_open(indexoid, AccessShareLock);
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	bool		found;
	pg_uuid_t	after_copy;

	if (after)
	{
		after_copy = *after;
		ScanKeyInit(&key, 1, BTGreaterStrategyNumber, F_UUID_GT, UUIDPGetDatum(&after_copy));
	}
	scan = mt_index_beginscan(heap, index, snap, after ? 1 : 0);
	index_rescan(scan, after ? &key : NULL, after ? 1 : 0, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
	{
		bool		isnull;

		memcpy(out, DatumGetUUIDP(slot_getattr(slot, A_TENANT, &isnull)), sizeof(pg_uuid_t));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return found;
}

/*
 * The scan keys of one tenant's part of the work list from id floor on
 * (seal_floor.c): the sealed events below it left dead entries only.
 */
static void
worklist_keys(ScanKeyData *key, const pg_uuid_t *tenant, int64 floor)
{
	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(tenant));
	ScanKeyInit(&key[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(floor));
}

/*
 * Every tenant with an unsealed row visible to snap at or above floor, in
 * uuid order.  Each next tenant is the key of the first index entry past
 * the previous one, dead or not (entries marked dead are not skipped, no
 * heap visit), then one look at that tenant's entries from the floor: the
 * dead entries below it are never read.
 */
static List *
worklist_tenants(const AuditRels *rels, Snapshot snap, int64 floor)
{
	Relation	heap = table_open(rels->log, AccessShareLock);
	Relation	index = index_open(rels->unsealed_idx, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	List	   *result = NIL;
	pg_uuid_t  *prev = NULL;

	for (;;)
	{
		IndexScanDesc probe;
		IndexScanDesc scan;
		ScanKeyData key[2];
		pg_uuid_t	cur;
		bool		isnull;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		if (prev)
			ScanKeyInit(&key[0], 1, BTGreaterStrategyNumber, F_UUID_GT, UUIDPGetDatum(prev));
		probe = mt_index_beginscan(heap, index, snap, prev ? 1 : 0);
		probe->xs_want_itup = true;
		probe->ignore_killed_tuples = false;
		index_rescan(probe, prev ? key : NULL, prev ? 1 : 0, NULL, 0);
		found = index_getnext_tid(probe, ForwardScanDirection) != NULL;
		if (found)
			memcpy(&cur, DatumGetUUIDP(index_getattr(probe->xs_itup, 1, probe->xs_itupdesc, &isnull)),
				   sizeof(pg_uuid_t));
		index_endscan(probe);
		if (!found)
			break;

		worklist_keys(key, &cur, floor);
		scan = mt_index_beginscan(heap, index, snap, 2);
		index_rescan(scan, key, 2, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, slot);
		index_endscan(scan);
		prev = palloc(sizeof(pg_uuid_t));
		*prev = cur;
		if (found)
			result = lappend(result, prev);
	}
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return result;
}

/*
 * Whether mt.audit_log_id_seq hands its ids out one at a time (CACHE 1, as
 * created): with a cache, a backend hands out ids of a range it took
 * earlier, and the premise of a rising floor (seal_floor.c) does not hold.
 */
static bool
seq_uncached(const AuditRels *rels)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(rels->id_seq));
	bool		uncached;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", rels->id_seq);
	uncached = ((Form_pg_sequence) GETSTRUCT(tup))->seqcache <= 1;
	ReleaseSysCache(tup);
	return uncached;
}

/* mt.audit_log_id_seq's relfilenode (a floor belongs to one, seal_floor.c) */
static Oid
seq_relfilenode(const AuditRels *rels)
{
	Relation	seq = relation_open(rels->id_seq, AccessShareLock);
	Oid			node = seq->rd_node.relNode;

	relation_close(seq, AccessShareLock);
	return node;
}

/* the last id mt.audit_log_id_seq handed out, 0 if none (as a superuser or the owner) */
static int64
seq_last_value(const AuditRels *rels)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		d;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(rels->id_seq);
	fcinfo->args[0].isnull = false;
	d = pg_sequence_last_value(fcinfo);
	return fcinfo->isnull ? 0 : DatumGetInt64(d);
}

/* every tenant with a row in the index, in uuid order */
static List *
index_tenants(const AuditRels *rels, Oid indexoid, Snapshot snap)
{
	List	   *result = NIL;
	pg_uuid_t	cur;
	pg_uuid_t  *prev = NULL;

	while (next_chain_tenant(rels, indexoid, snap, prev, &cur))
	{
		prev = palloc(sizeof(pg_uuid_t));
		*prev = cur;
		result = lappend(result, prev);
	}
	return result;
}

/*
 * every tenant with a chain (sealed or unsealed rows), in uuid order: the
 * chain index holds sealed rows only (0.8.0), so a chain whose events are
 * all unsealed is found in the work list
 */
static List *
chain_tenants(const AuditRels *rels, Snapshot snap)
{
	List	   *sealed = index_tenants(rels, rels->chain_idx, snap);
	List	   *unsealed;
	List	   *result = NIL;
	ListCell   *a,
			   *b;

	if (!OidIsValid(rels->unsealed_idx))
		return sealed;
	unsealed = index_tenants(rels, rels->unsealed_idx, snap);
	a = list_head(sealed);
	b = list_head(unsealed);
	while (a || b)
	{
		int			c = !a ? 1 : !b ? -1 : mt_uuid_cmp(lfirst(a), lfirst(b));

		result = lappend(result, c <= 0 ? lfirst(a) : lfirst(b));
		if (c <= 0)
			a = lnext(sealed, a);
		if (c >= 0)
			b = lnext(unsealed, b);
	}
	return result;
}

/* the newest checkpoint of a chain; false when it was never pruned */
static bool
latest_checkpoint(const AuditRels *rels, Snapshot snap, const pg_uuid_t *tenant,
				  int64 *seq, uint8 *hash)
{
	Relation	heap = table_open(rels->ckpt, AccessShareLock);
	Relation	index = index_open(rels->ckpt_idx, AccessShareLock);
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	bool		found;
	pg_uuid_t	t = *tenant;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&t));
	scan = mt_index_beginscan(heap, index, snap, 1);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, BackwardScanDirection, slot);
	if (found)
	{
		bool		isnull;
		bytea	   *h;

		*seq = DatumGetInt64(slot_getattr(slot, 2, &isnull));
		h = DatumGetByteaPP(slot_getattr(slot, 3, &isnull));
		if (VARSIZE_ANY_EXHDR(h) == MT_SHA256_LEN)
			memcpy(hash, VARDATA_ANY(h), MT_SHA256_LEN);
		else
			memset(hash, 0xFF, MT_SHA256_LEN);	/* never matches */
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	return found;
}

/* where a chain starts: the newest checkpoint, else position 0, zero hash */
static void
chain_base(const AuditRels *rels, Snapshot snap, const pg_uuid_t *tenant,
		   int64 *seq, uint8 *hash)
{
	if (!latest_checkpoint(rels, snap, tenant, seq, hash))
	{
		*seq = 0;
		memset(hash, 0, MT_SHA256_LEN);
	}
}

typedef struct ChainHead
{
	int64		seq;
	uint8		hash[MT_SHA256_LEN];
	int64		id;				/* 0 when the head is a checkpoint */
	TimestampTz at;
	bool		exists;			/* any row or checkpoint */
} ChainHead;

/*
 * The chain's newest row visible to snap (else its newest checkpoint, else
 * position 0).  min_seq > 1: a position the head is likely at or after (a
 * sealer's hint, head_hint()); the scan then reads only the rows from
 * there, and the whole chain's end only when none of them is visible.  The
 * result does not depend on the hint.
 */
static void
chain_head(const AuditRels *rels, Snapshot snap, const pg_uuid_t *tenant, ChainHead *h,
		   int64 min_seq)
{
	ChainScan  *cs = NULL;
	bool		found = false;

	memset(h, 0, sizeof(*h));
	if (min_seq > 1)
	{
		cs = chain_scan_begin(rels, snap, tenant, min_seq - 1, BackwardScanDirection);
		found = chain_scan_next(cs);
		if (!found)
			chain_scan_end(cs);
	}
	if (!found)
	{
		cs = chain_scan_begin(rels, snap, tenant, 0, BackwardScanDirection);
		found = chain_scan_next(cs);
	}
	if (found)
	{
		bool		isnull;
		bytea	   *hb;

		h->exists = true;
		h->id = DatumGetInt64(slot_getattr(cs->slot, A_ID, &isnull));
		h->seq = DatumGetInt64(slot_getattr(cs->slot, A_SEQ, &isnull));
		h->at = DatumGetTimestampTz(slot_getattr(cs->slot, A_AT, &isnull));
		hb = DatumGetByteaPP(slot_getattr(cs->slot, A_HASH, &isnull));
		if (VARSIZE_ANY_EXHDR(hb) != MT_SHA256_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the head of audit chain %s has a malformed hash",
							mt_uuid_to_cstring(tenant)),
					 errhint("Run mt.audit_verify() for this tenant.")));
		memcpy(h->hash, VARDATA_ANY(hb), MT_SHA256_LEN);
	}
	else
	{
		h->exists = latest_checkpoint(rels, snap, tenant, &h->seq, h->hash);
		if (!h->exists)
		{
			h->seq = 0;
			memset(h->hash, 0, MT_SHA256_LEN);
		}
	}
	chain_scan_end(cs);
}

/*
 * Transaction-scoped lock on one chain, held to commit or abort.  Keyed by
 * the tenant uuid folded to 64 bits; locktag_field4 keeps it apart from
 * pg_advisory_xact_lock() keys (which use 1 and 2).
 */
static bool
lock_tenant_space(const pg_uuid_t *tenant, uint16 space, bool dont_wait)
{
	LOCKTAG		tag;
	uint32		w[4];

	memcpy(w, tenant->data, sizeof(w));
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, w[0] ^ w[2], w[1] ^ w[3], space);
	return LockAcquire(&tag, ExclusiveLock, false, dont_wait) != LOCKACQUIRE_NOT_AVAIL;
}

static void
lock_chain(const pg_uuid_t *tenant)
{
	(void) lock_tenant_space(tenant, MT_AUDIT_LOCK_SPACE, false);
}

/*
 * The lock under which a tenant's subject keys are created (an append with
 * a subject) and destroyed (mt.audit_forget_subject), held to commit: the
 * chain lock no longer covers appends.
 */
static void
lock_subject_keys(const pg_uuid_t *tenant)
{
	(void) lock_tenant_space(tenant, MT_AUDIT_KEYS_LOCK_SPACE, false);
}

/* ---------------------------------------------------------------------
 * Who and where
 * --------------------------------------------------------------------- */

static char *
session_user_name(void)
{
	static Oid	cached_id = InvalidOid;
	static char *cached_name = NULL;
	Oid			id = GetSessionUserId();

	/* a role rename changes the name: looked up again per transaction */
	static LocalTransactionId cached_lxid = InvalidLocalTransactionId;

	if (id != cached_id || cached_name == NULL || cached_lxid != MyProc->lxid)
	{
		char	   *name = GetUserNameFromId(id, false);

		if (cached_name)
			pfree(cached_name);
		cached_name = MemoryContextStrdup(TopMemoryContext, name);
		cached_id = id;
		cached_lxid = MyProc->lxid;
	}
	return pstrdup(cached_name);
}

/* the client's address, computed once per backend; NULL for local sockets */
static bool client_done = false;
static Datum client_inet = (Datum) 0;
static char *client_text = NULL;

static void
client_address(Datum *inet, char **text)
{
	if (!client_done)
	{
		LOCAL_FCINFO(fcinfo, 0);
		Datum		d;

		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		d = inet_client_addr(fcinfo);
		if (!fcinfo->isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			client_inet = datumCopy(d, false, -1);
			client_text = DatumGetCString(DirectFunctionCall1(inet_out, client_inet));
			MemoryContextSwitchTo(old);
		}
		client_done = true;
	}
	*inet = client_inet;
	*text = client_text;
}

/* ---------------------------------------------------------------------
 * Append
 * --------------------------------------------------------------------- */
static void
check_length(const char *what, const char *s, int max, bool required)
{
	if (s == NULL)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("audit %s must not be NULL", what)));
		return;
	}
	if ((required && s[0] == '\0') || strlen(s) > (size_t) max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("audit %s must be %d to %d bytes long", what, required ? 1 : 0, max)));
}

/* runs one statement with the guard trigger letting exactly mode through */
static int
flagged_execute(AuditWriteMode mode, const char *sql, SPIPlanPtr plan, int nargs,
				Oid *types, Datum *values, const char *nulls)
{
	int			rc;

	audit_write_mode = mode;
	PG_TRY();
	{
		if (plan != NULL)
			rc = SPI_execute_plan(plan, values, nulls, false, 0);
		else
			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		audit_write_mode = AUDIT_WRITE_NONE;
	}
	PG_END_TRY();
	return rc;
}

/*
 * Rows are written by this file's C code through the table AM and the
 * executor's index insertion, not by SQL: no parse, plan or trigger per
 * row (the append-only guard is for SQL statements; CHECK constraints are
 * met by construction).  One inserter serves a whole batch.
 */
typedef struct AuditInserter
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
} AuditInserter;

static void
inserter_open(AuditInserter *ins, Oid relid)
{
	ins->rel = table_open(relid, RowExclusiveLock);
	check_log_layout(ins->rel);
	ins->estate = CreateExecutorState();
	ins->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(ins->rri, ins->rel, 1, NULL, 0);
	ExecOpenIndices(ins->rri, false);
	ins->slot = MakeSingleTupleTableSlot(RelationGetDescr(ins->rel), &TTSOpsVirtual);
	ins->slot->tts_tableOid = RelationGetRelid(ins->rel);
}

static void
inserter_close(AuditInserter *ins)
{
	ExecDropSingleTupleTableSlot(ins->slot);
	ExecCloseIndices(ins->rri);
	FreeExecutorState(ins->estate);
	table_close(ins->rel, NoLock);	/* RowExclusiveLock kept to commit */
}

/* the slot holds the new version: insert it (update_tid NULL) or update */
static void
inserter_write(AuditInserter *ins, ItemPointer update_tid, Snapshot snap)
{
	bool		update_indexes = true;

	ExecStoreVirtualTuple(ins->slot);
	if (update_tid == NULL)
		table_tuple_insert(ins->rel, ins->slot, GetCurrentCommandId(true), 0, NULL);
	else
	{
#if PG_VERSION_NUM >= 160000
		TU_UpdateIndexes upd;

		simple_table_tuple_update(ins->rel, update_tid, ins->slot, snap, &upd);
		update_indexes = upd != TU_None;
#else
		simple_table_tuple_update(ins->rel, update_tid, ins->slot, snap, &update_indexes);
#endif
	}
	if (update_indexes)
#if PG_VERSION_NUM >= 160000
		(void) ExecInsertIndexTuples(ins->rri, ins->slot, ins->estate, false, false, NULL, NIL, false);
#else
		(void) ExecInsertIndexTuples(ins->rri, ins->slot, ins->estate, false, false, NULL, NIL);
#endif
	ResetPerTupleExprContext(ins->estate);
}

static bytea *
hash_bytea(const uint8 *h)
{
	bytea	   *b = palloc(VARHDRSZ + MT_SHA256_LEN);

	SET_VARSIZE(b, VARHDRSZ + MT_SHA256_LEN);
	memcpy(VARDATA(b), h, MT_SHA256_LEN);
	return b;
}

static void
insert_row(AuditInserter *ins, const AuditRow *r, Datum details, Datum enc, Datum client)
{
	Datum	   *v = ins->slot->tts_values;
	bool	   *nulls = ins->slot->tts_isnull;

	ExecClearTuple(ins->slot);
	memset(nulls, 0, sizeof(bool) * A_NATTS);
	v[A_ID - 1] = Int64GetDatum(r->id);
	v[A_TENANT - 1] = UUIDPGetDatum((pg_uuid_t *) &r->tenant);
	v[A_SEQ - 1] = Int64GetDatum(r->seq);
	v[A_AT - 1] = TimestampTzGetDatum(r->at);
	v[A_ACTOR - 1] = PointerGetDatum(cstring_to_text_with_len(r->actor.p, r->actor.len));
	v[A_ACTION - 1] = PointerGetDatum(cstring_to_text_with_len(r->action.p, r->action.len));
#define OPT_TEXT(att, f) \
	if ((f).p) v[(att) - 1] = PointerGetDatum(cstring_to_text_with_len((f).p, (f).len)); \
	else nulls[(att) - 1] = true
	OPT_TEXT(A_RTYPE, r->resource_type);
	OPT_TEXT(A_RID, r->resource_id);
#undef OPT_TEXT
	if (r->details.p)
		v[A_DETAILS - 1] = details;
	else
		nulls[A_DETAILS - 1] = true;
	if (r->has_key_id)
	{
		v[A_KEY_ID - 1] = Int64GetDatum(r->details_key_id);
		v[A_ENC - 1] = enc;
	}
	else
		nulls[A_KEY_ID - 1] = nulls[A_ENC - 1] = true;
	if (r->client_addr.p)
		v[A_CLIENT - 1] = client;
	else
		nulls[A_CLIENT - 1] = true;
	v[A_DB_USER - 1] = PointerGetDatum(cstring_to_text_with_len(r->db_user.p, r->db_user.len));
	v[A_PREV - 1] = PointerGetDatum(hash_bytea(r->prev_hash));
	v[A_HASH - 1] = PointerGetDatum(hash_bytea(r->hash));
	if (!r->sealed)
		nulls[A_SEQ - 1] = nulls[A_PREV - 1] = true;
	inserter_write(ins, NULL, NULL);
}

/*
 * The appends of one transaction share one inserter (and the catalog
 * lookups): opened on first use under the transaction's resource owner,
 * closed before commit or prepare (mt_audit_xact_callback) and before every
 * utility statement (mt_audit_release_cache, from the ProcessUtility hook:
 * ALTER, DROP or TRUNCATE of mt.audit_log must not find it still open); an
 * abort releases it with the transaction.  A row-change trigger firing for
 * 250,000 rows opens the table and its indexes once.
 */
typedef struct AuditCache
{
	LocalTransactionId lxid;
	AuditRels	rels;
	AuditInserter ins;
} AuditCache;

static AuditCache *audit_cache = NULL;

static AuditInserter *
cached_inserter(AuditRels *rels)
{
	if (audit_cache == NULL || audit_cache->lxid != MyProc->lxid)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		ResourceOwner owner = CurrentResourceOwner;
		AuditCache *c = palloc0(sizeof(AuditCache));

		audit_cache = NULL;
		audit_rels(&c->rels);
		CurrentResourceOwner = TopTransactionResourceOwner;
		PG_TRY();
		{
			inserter_open(&c->ins, c->rels.log);
		}
		PG_FINALLY();
		{
			CurrentResourceOwner = owner;
			MemoryContextSwitchTo(old);
		}
		PG_END_TRY();
		c->lxid = MyProc->lxid;
		audit_cache = c;
	}
	*rels = audit_cache->rels;
	return &audit_cache->ins;
}

void
mt_audit_release_cache(void)
{
	if (audit_cache != NULL && audit_cache->lxid == MyProc->lxid)
	{
		ResourceOwner owner = CurrentResourceOwner;

		CurrentResourceOwner = TopTransactionResourceOwner;
		inserter_close(&audit_cache->ins);
		CurrentResourceOwner = owner;
	}
	audit_cache = NULL;
}

/* one event of a batch; details NULL: none */
typedef struct AuditEvent
{
	const char *action;
	const char *resource_type;
	const char *resource_id;
	Jsonb	   *details;
	StringInfo	details_text;	/* details as JsonbToCString() prints them,
								 * when the caller has that text already
								 * (the row trigger); else NULL */
} AuditEvent;

static AuditEvent
audit_event(const char *action, const char *resource_type, const char *resource_id,
			Jsonb *details, StringInfo details_text)
{
	AuditEvent	ev;

	ev.action = action;
	ev.resource_type = resource_type;
	ev.resource_id = resource_id;
	ev.details = details;
	ev.details_text = details_text;
	return ev;
}

/*
 * Appends n events to one chain (tenant NULL: the no-tenant chain), all
 * with the same actor, session and subject; returns the id of the last.
 */
static int64
audit_append_events(const pg_uuid_t *tenant, int n, const AuditEvent *ev, const char *subject)
{
	AuditRels	rels;
	AuditInserter *ins;
	AuditRow	r;
	ChainHead	head;
	StringInfoData dtext;
	StringInfoData canon;
	Datum		client = (Datum) 0;
	char	   *client_txt;
	char	   *actor;
	char	   *user;
	bool		legacy;
	bool		spi = false;
	MemoryContext rowcxt = NULL;
	MemoryContext outer = CurrentMemoryContext;

	/* mt.audit() itself, and the appends of functions that refused already */
	mt_require_writable("mt.audit()", MT_WRITES_TABLES);
	for (int i = 0; i < n; i++)
	{
		check_length("action", ev[i].action, MT_AUDIT_MAX_ACTION, true);
		check_length("resource_type", ev[i].resource_type, MT_AUDIT_MAX_RTYPE, false);
		check_length("resource_id", ev[i].resource_id, MT_AUDIT_MAX_RID, false);
	}
	check_length("subject", subject, MT_AUDIT_MAX_SUBJECT, false);
	if (subject != NULL && subject[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("audit subject must not be empty"),
				 errhint("Pass NULL when the details concern no data subject.")));

	memset(&r, 0, sizeof(r));
	r.tenant = tenant ? *tenant : mt_audit_nil_tenant;
	actor = mt_context_subject();
	user = session_user_name();
	r.actor = afield(actor ? actor : user);
	r.db_user = afield(user);
	client_address(&client, &client_txt);
	r.client_addr = afield(client_txt);

	ins = cached_inserter(&rels);

	/*
	 * Before the 0.5.0 update (no index audit_log_unsealed): chained at
	 * once under the chain lock, as 0.4.0 did.  Otherwise no chain lock:
	 * the rows go in unsealed and the sealer links them later.  The
	 * subject-key lock (or the chain lock) comes first, so that key
	 * creation never waits on a transaction that waits for this lock.
	 */
	legacy = !OidIsValid(rels.unsealed_idx);
	if (legacy)
	{
		lock_chain(&r.tenant);
		chain_head(&rels, SnapshotSelf, &r.tenant, &head, 0);
	}
	else if (subject != NULL)
	{
		for (int i = 0; i < n; i++)
			if (ev[i].details != NULL)
			{
				lock_subject_keys(&r.tenant);
				break;
			}
	}

	/* details printed here unless the caller has the text (the row trigger) */
	memset(&dtext, 0, sizeof(dtext));
	for (int i = 0; i < n; i++)
		if (ev[i].details != NULL && ev[i].details_text == NULL)
		{
			initStringInfo(&dtext);
			break;
		}
	initStringInfo(&canon);
	if (n > 1)
		rowcxt = AllocSetContextCreate(CurrentMemoryContext, "audit append rows", ALLOCSET_DEFAULT_SIZES);
	/* the transaction has its xid before it takes an id (seal_floor.c) */
	(void) GetCurrentTransactionId();
	for (int i = 0; i < n; i++)
	{
		Datum		enc = (Datum) 0;
		Jsonb	   *details = ev[i].details;
		StringInfo	dt;

		CHECK_FOR_INTERRUPTS();
		if (rowcxt)
		{
			MemoryContextReset(rowcxt);
			MemoryContextSwitchTo(rowcxt);
		}
		r.action = afield(ev[i].action);
		r.resource_type = afield(ev[i].resource_type);
		r.resource_id = afield(ev[i].resource_id);
		r.details.p = NULL;
		r.details.len = 0;
		r.has_key_id = false;
		r.details_enc.p = NULL;
		r.details_enc.len = 0;
		dt = ev[i].details_text ? ev[i].details_text : &dtext;
		if (details != NULL)
		{
			if (ev[i].details_text == NULL)
			{
				resetStringInfo(&dtext);
				JsonbToCString(&dtext, &details->root, VARSIZE(details));
			}
			if (dt->len > mt_audit_max_details)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("audit details are too large (%d bytes)", dt->len),
						 errdetail("The limit is multitenant.audit_max_details = %d bytes.",
								   mt_audit_max_details)));
			r.details.p = dt->data;
			r.details.len = dt->len;
		}
		if (details != NULL && subject != NULL)
		{
			uint8		key[MT_AUDIT_KEY_LEN];
			bytea	   *e;

			if (!spi)
			{
				MemoryContext c = MemoryContextSwitchTo(outer);

				mt_spi_connect();
				MemoryContextSwitchTo(c);
				spi = true;
			}
			r.details_key_id = mt_audit_subject_key(&r.tenant, subject, true, key);
			r.has_key_id = true;
			e = mt_audit_encrypt(key, dt->data, dt->len);
			mt_wipe(key, sizeof(key));
			mt_wipe(dt->data, dt->len);
			enc = PointerGetDatum(e);
			r.details_enc.p = VARDATA(e);
			r.details_enc.len = VARSIZE(e) - VARHDRSZ;
			r.details.p = NULL;
			r.details.len = 0;
		}
		if (legacy)
		{
			r.sealed = true;
			r.seq = ++head.seq;
			memcpy(r.prev_hash, head.hash, MT_SHA256_LEN);
		}
		r.id = nextval_internal(rels.id_seq, false);
		r.at = GetCurrentTimestamp();
		audit_compute_hash(&r, &canon, r.hash);
		if (legacy)
			memcpy(head.hash, r.hash, MT_SHA256_LEN);
		insert_row(ins, &r, details ? PointerGetDatum(details) : (Datum) 0, enc, client);
	}
	MemoryContextSwitchTo(outer);
	if (rowcxt)
		MemoryContextDelete(rowcxt);
	if (spi)
		mt_spi_finish();
	if (!legacy && n > 0)
		mt_audit_note_unsealed();
	for (int i = 0; i < n; i++)
		mt_stat_count(tenant, MT_STAT_AUDIT);
	return r.id;
}

/*
 * Appends n events as the extension owner (owner: audit_owner() or the
 * row trigger's cached mt_extension_owner()),
 * for every SQL-callable append: mt.audit() and mt.audit_many() run as the
 * caller (no SECURITY DEFINER: its per-call GUC switch cost about 8,000
 * instructions per append) and the row trigger runs as the writer, so that
 * require_writer_tenant sees who wrote.  The rows go in through the table
 * AM (audit_append_events), which checks no privilege; SQL runs only for
 * subject keys, under search_path = pg_catalog, pg_temp.  The user and the
 * search_path are restored afterwards and on error.
 */
/* the extension owner, looked up once per transaction (mt.audit() per call) */
static Oid
audit_owner(void)
{
	static LocalTransactionId lxid = InvalidLocalTransactionId;
	static Oid	owner = InvalidOid;

	if (lxid != MyProc->lxid || !OidIsValid(owner))
	{
		owner = mt_extension_owner();
		lxid = MyProc->lxid;
	}
	return owner;
}

static int64
append_events_as_owner(Oid owner, const pg_uuid_t *tenant, int n, const AuditEvent *ev,
					   const char *subject)
{
	Oid			save_userid;
	int			save_sec;
	int			nest = -1;
	int64		id;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (subject != NULL)
		for (int i = 0; i < n && nest < 0; i++)
			if (ev[i].details != NULL)
				nest = mt_enter_safe_search_path();
	PG_TRY();
	{
		id = audit_append_events(tenant, n, ev, subject);
	}
	PG_CATCH();
	{
		/* the (sub)transaction abort unwinds the GUC nest level */
		SetUserIdAndSecContext(save_userid, save_sec);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (nest >= 0)
		mt_leave_safe_search_path(nest);
	SetUserIdAndSecContext(save_userid, save_sec);
	return id;
}

int64
mt_audit_append(const pg_uuid_t *tenant, const char *action,
				const char *resource_type, const char *resource_id,
				Jsonb *details, const char *subject)
{
	AuditEvent	ev = audit_event(action, resource_type, resource_id, details, NULL);

	return audit_append_events(tenant, 1, &ev, subject);
}

static Jsonb *
jsonb_from_text(const char *s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

int64
mt_audit_record(const pg_uuid_t *tenant, const char *action,
				const char *resource_type, const char *resource_id,
				int npairs, const char *const *pairs)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	for (int i = 0; i < npairs; i++)
	{
		if (i > 0)
			appendStringInfoChar(&s, ',');
		escape_json(&s, pairs[2 * i]);
		appendStringInfoChar(&s, ':');
		if (pairs[2 * i + 1] == NULL)
			appendStringInfoString(&s, "null");
		else
			escape_json(&s, pairs[2 * i + 1]);
	}
	appendStringInfoChar(&s, '}');
	return mt_audit_append(tenant, action, resource_type, resource_id,
						   npairs > 0 ? jsonb_from_text(s.data) : NULL, NULL);
}

/* ---------------------------------------------------------------------
 * Importing a tenant's chain (mt.import_tenant, tenant_export.c)
 * --------------------------------------------------------------------- */

/*
 * See audit.h.  Each row is first checked as the exporting database wrote
 * it (tenant src, seq base_seq + 1, + 2, ..., prev_hash the hash of the row
 * before it or base_hash, hash recomputed from its own columns): an export
 * whose chain was altered, cut or reordered raises XX001 and nothing is
 * written.  Then the row is inserted unchanged, or re-chained onto the head
 * of dst's chain (id from mt.audit_log_id_seq, tenant dst, seq, prev_hash
 * and hash recomputed: everything else, "at" and the actor included, as
 * recorded).  Rows whose details are encrypted cannot be re-chained under
 * another tenant: their subject key is found by a hash over the tenant.
 */
/*
 * An imported row given to the importing tenant (dst) under a new id, for
 * sealed and unsealed rows alike; one with encrypted details only under
 * its own tenant id (feature not supported otherwise).
 */
static void
rechain_row(AuditRow *r, const pg_uuid_t *dst, bool same_tenant, Oid id_seq)
{
	if (r->has_key_id && !same_tenant)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot import audit events with encrypted details under a new tenant id"),
				 errdetail("Their subject keys are found by a keyed hash over the tenant id."),
				 errhint("Import under the original tenant id.")));
	(void) GetCurrentTransactionId();	/* before the id: seal_floor.c */
	r->id = nextval_internal(id_seq, false);
	r->tenant = *dst;
}

int64
mt_audit_import_chain(Portal portal, const pg_uuid_t *src, const pg_uuid_t *dst,
					  int64 base_seq, const uint8 *base_hash, bool rechain)
{
	AuditRels	rels;
	ChainHead	head;
	StringInfoData canon;
	StringInfoData dbuf;
	uint8		src_prev[MT_SHA256_LEN];
	uint8		dst_prev[MT_SHA256_LEN];
	int64		expect_seq = base_seq + 1;
	int64		dst_seq = 0;
	int64		max_id = 0;
	int64		n = 0;
	bool		same_tenant = memcmp(src, dst, sizeof(pg_uuid_t)) == 0;
	bool		unsealed_seen = false;
	AuditInserter ins;

	mt_require_writable("mt.import_tenant()", MT_WRITES_TABLES);
	audit_rels(&rels);
	lock_chain(dst);
	if (!rechain)
		mt_seal_floor_explicit_ids();	/* ids kept, not from the sequence */
	inserter_open(&ins, rels.log);
	memcpy(src_prev, base_hash, MT_SHA256_LEN);
	if (rechain)
	{
		chain_head(&rels, SnapshotSelf, dst, &head, 0);
		dst_seq = head.seq;
		memcpy(dst_prev, head.hash, MT_SHA256_LEN);
	}
	initStringInfo(&canon);
	initStringInfo(&dbuf);

	for (;;)
	{
		TupleTableSlot *slot;
		SPITupleTable *batch;
		uint64		nbatch;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, 1000);
		/* the inserts below replace SPI_tuptable and SPI_processed */
		batch = SPI_tuptable;
		nbatch = SPI_processed;
		if (nbatch == 0)
			break;
		if (batch->tupdesc->natts != A_NATTS)
			elog(ERROR, "multitenant: the audit rows to import do not have the columns of mt.audit_log");
		slot = MakeSingleTupleTableSlot(batch->tupdesc, &TTSOpsHeapTuple);
		for (uint64 i = 0; i < nbatch; i++)
		{
			AuditRow	r;
			uint8		h[MT_SHA256_LEN];
			Datum	   *v;
			bool	   *nl;

			ExecStoreHeapTuple(batch->vals[i], slot, false);
			for (int a = 0; a < A_NATTS; a++)
				if (a + 1 != A_RTYPE && a + 1 != A_RID && a + 1 != A_DETAILS &&
					a + 1 != A_KEY_ID && a + 1 != A_ENC && a + 1 != A_CLIENT &&
					a + 1 != A_SEQ && a + 1 != A_PREV &&
					slot_attisnull(slot, a + 1))
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("the audit chain in the export does not verify"),
							 errdetail("Column %s of an audit row is NULL.", audit_log_columns[a])));
			audit_row_from_slot(slot, &r, &dbuf);
			v = slot->tts_values;
			nl = slot->tts_isnull;
			if (r.hash_lengths_ok)
				audit_compute_hash(&r, &canon, h);

			/*
			 * The unsealed tail of the export (after every sealed row):
			 * checked against its content hash and written unsealed, to be
			 * sealed here.
			 */
			if (!r.sealed)
			{
				if (!OidIsValid(rels.unsealed_idx) ||
					memcmp(&r.tenant, src, sizeof(pg_uuid_t)) != 0 ||
					!r.hash_lengths_ok || memcmp(h, r.hash, MT_SHA256_LEN) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("the audit chain in the export does not verify"),
							 errdetail("The unsealed row (id " INT64_FORMAT ") belongs to another chain or does not match its content hash.",
									   r.id),
							 errhint("Export the tenant again; an export file must not be edited.")));
				unsealed_seen = true;
				if (rechain)
				{
					rechain_row(&r, dst, same_tenant, rels.id_seq);
					audit_compute_hash(&r, &canon, r.hash);
				}
				else if (r.id > max_id)
					max_id = r.id;
				insert_row(&ins, &r, nl[A_DETAILS - 1] ? (Datum) 0 : v[A_DETAILS - 1],
						   nl[A_ENC - 1] ? (Datum) 0 : v[A_ENC - 1],
						   nl[A_CLIENT - 1] ? (Datum) 0 : v[A_CLIENT - 1]);
				n++;
				continue;
			}
			if (unsealed_seen)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the audit chain in the export does not verify"),
						 errdetail("A sealed row (id " INT64_FORMAT ") follows an unsealed one.", r.id)));
			if (memcmp(&r.tenant, src, sizeof(pg_uuid_t)) != 0 || r.seq != expect_seq ||
				!r.hash_lengths_ok || memcmp(r.prev_hash, src_prev, MT_SHA256_LEN) != 0 ||
				memcmp(h, r.hash, MT_SHA256_LEN) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("the audit chain in the export does not verify"),
						 errdetail("The row expected at position " INT64_FORMAT " (id " INT64_FORMAT ", seq " INT64_FORMAT ") is missing, belongs to another chain or was altered.",
								   expect_seq, r.id, r.seq),
						 errhint("Export the tenant again; an export file must not be edited.")));
			memcpy(src_prev, r.hash, MT_SHA256_LEN);
			expect_seq++;

			if (rechain)
			{
				rechain_row(&r, dst, same_tenant, rels.id_seq);
				r.seq = ++dst_seq;
				memcpy(r.prev_hash, dst_prev, MT_SHA256_LEN);
				audit_compute_hash(&r, &canon, r.hash);
				memcpy(dst_prev, r.hash, MT_SHA256_LEN);
			}
			else if (r.id > max_id)
				max_id = r.id;
			insert_row(&ins, &r, nl[A_DETAILS - 1] ? (Datum) 0 : v[A_DETAILS - 1],
					   nl[A_ENC - 1] ? (Datum) 0 : v[A_ENC - 1],
					   nl[A_CLIENT - 1] ? (Datum) 0 : v[A_CLIENT - 1]);
			n++;
		}
		ExecDropSingleTupleTableSlot(slot);
		SPI_freetuptable(batch);
	}
	inserter_close(&ins);

	/* ids kept: later appends must take larger ones */
	if (max_id > 0)
	{
		Oid			t[1] = {INT8OID};
		Datum		a[1] = {Int64GetDatum(max_id)};

		mt_spi_execute("SELECT pg_catalog.setval('mt.audit_log_id_seq'::pg_catalog.regclass, $1) "
					   "FROM mt.audit_log_id_seq WHERE NOT is_called OR last_value OPERATOR(pg_catalog.<) $1",
					   1, t, a, SPI_OK_SELECT);
	}
	return n;
}

/*
 * mt.import_tenant, before it keeps the exported ids lo..hi (verbatim):
 * whether no event has an id in that range, none of a transaction still
 * open either.  mt.audit_log has no unique index on id, so this check is
 * what keeps ids unique.  First waits (no lock queued, as CREATE INDEX
 * CONCURRENTLY does) for the transactions that took ids from
 * mt.audit_log_id_seq (nextval keeps RowExclusiveLock on the sequence to
 * commit), then takes ShareLock on the sequence for a moment (no nextval
 * meanwhile; an append that took an id since the wait ends first), moves
 * the sequence past hi (later appends take larger ids; the ids skipped
 * when the import re-chains after all are never used) and releases the
 * lock.  The range is then read with a fresh snapshot, in which every
 * append that took an id up to hi has committed or aborted.  A verbatim
 * import holds RowExclusiveLock on the sequence from its move on, so a
 * second one waits for it and sees its rows.  SPI connected.
 */
bool
mt_audit_import_ids_free(int64 lo, int64 hi)
{
	AuditRels	rels;
	LOCKTAG		tag;
	Datum		a[2] = {Int64GetDatum(lo), Int64GetDatum(hi)};
	bool		none;

	audit_rels(&rels);
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, rels.id_seq);
	WaitForLockers(tag, ShareLock, false);
	LockRelationOid(rels.id_seq, ShareLock);
	mt_spi_execute("SELECT pg_catalog.setval('mt.audit_log_id_seq'::pg_catalog.regclass, $1) "
				   "FROM mt.audit_log_id_seq WHERE NOT is_called OR last_value OPERATOR(pg_catalog.<) $1",
				   1, (Oid[]) {INT8OID}, &a[1], SPI_OK_SELECT);
	UnlockRelationOid(rels.id_seq, ShareLock);

	PushActiveSnapshot(GetLatestSnapshot());
	(void) mt_spi_value("SELECT 1 FROM mt.audit_log WHERE id OPERATOR(pg_catalog.>=) $1 "
						"AND id OPERATOR(pg_catalog.<=) $2 LIMIT 1",
						2, (Oid[]) {INT8OID, INT8OID}, a, true, &none);
	PopActiveSnapshot();
	return none;
}

void
mt_audit_import_checkpoint(const pg_uuid_t *tenant, int64 seq, bytea *hash,
						   int64 rows_pruned, TimestampTz pruned_at, const char *pruned_by)
{
	Oid			t[6] = {UUIDOID, INT8OID, BYTEAOID, INT8OID, TIMESTAMPTZOID, TEXTOID};
	Datum		v[6];
	int			rc;

	v[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	v[1] = Int64GetDatum(seq);
	v[2] = PointerGetDatum(hash);
	v[3] = Int64GetDatum(rows_pruned);
	v[4] = TimestampTzGetDatum(pruned_at);
	v[5] = CStringGetTextDatum(pruned_by);
	rc = flagged_execute(AUDIT_WRITE_CHECKPOINT_INSERT,
						 "INSERT INTO mt.audit_checkpoints (tenant_id, seq, hash, rows_pruned, pruned_at, pruned_by) "
						 "VALUES ($1, $2, $3, $4, $5, $6)", NULL, 6, t, v, NULL);
	if (rc != SPI_OK_INSERT)
		mt_spi_failed("audit checkpoint import", rc);
}

static char *
opt_text(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* mt.audit(action, resource_type, resource_id, details, subject) */
PG_FUNCTION_INFO_V1(mt_audit);
Datum
mt_audit(PG_FUNCTION_ARGS)
{
	AuditEvent	ev;

	mt_require_coordinator("mt.audit()");
	mt_require_args(fcinfo, 1, "audit action");
	ev = audit_event(text_to_cstring(PG_GETARG_TEXT_PP(0)), opt_text(fcinfo, 1), opt_text(fcinfo, 2),
					 PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), NULL);
	PG_RETURN_INT64(append_events_as_owner(audit_owner(), mt_context_tenant(), 1, &ev,
										   opt_text(fcinfo, 4)));
}

/* text[] argument n as C strings (NULL array: *len -1) */
static char **
text_array_arg(FunctionCallInfo fcinfo, int n, int *len)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*len = -1;
	if (PG_ARGISNULL(n))
		return NULL;
	a = PG_GETARG_ARRAYTYPE_P(n);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("mt.audit_many() takes one-dimensional arrays")));
	deconstruct_array(a, ARR_ELEMTYPE(a), -1, false, TYPALIGN_INT, &elems, &nulls, len);
	out = palloc(sizeof(char *) * Max(*len, 1));
	for (int i = 0; i < *len; i++)
		out[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return out;
}

static void
check_many_length(int len, int n, const char *what)
{
	if (len >= 0 && len != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mt.audit_many(): %s has %d elements, actions has %d", what, len, n),
				 errhint("Pass arrays of the same length, or NULL for none.")));
}

/*
 * mt.audit_many(actions text[], resource_types text[], resource_ids text[],
 * details jsonb[]): appends one event per element of actions to the current
 * tenant's chain in one pass (the other arrays NULL or of the same length)
 * and returns how many.  No subject: details are stored as they are.
 */
PG_FUNCTION_INFO_V1(mt_audit_many);
Datum
mt_audit_many(PG_FUNCTION_ARGS)
{
	char	  **actions;
	char	  **rtypes;
	char	  **rids;
	int			n,
				nt,
				nr,
				nd = -1;
	Datum	   *dvals = NULL;
	bool	   *dnulls = NULL;
	AuditEvent *ev;

	mt_require_writable("mt.audit_many()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.audit_many()");
	mt_require_args(fcinfo, 1, "audit actions");
	actions = text_array_arg(fcinfo, 0, &n);
	rtypes = text_array_arg(fcinfo, 1, &nt);
	rids = text_array_arg(fcinfo, 2, &nr);
	check_many_length(nt, n, "resource_types");
	check_many_length(nr, n, "resource_ids");
	if (!PG_ARGISNULL(3))
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(3);

		if (ARR_NDIM(a) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("mt.audit_many() takes one-dimensional arrays")));
		deconstruct_array(a, JSONBOID, -1, false, TYPALIGN_INT, &dvals, &dnulls, &nd);
		check_many_length(nd, n, "details");
	}
	if (n == 0)
		PG_RETURN_INT64(0);
	ev = palloc(sizeof(AuditEvent) * n);
	for (int i = 0; i < n; i++)
	{
		ev[i].action = actions[i];
		ev[i].resource_type = rtypes ? rtypes[i] : NULL;
		ev[i].resource_id = rids ? rids[i] : NULL;
		ev[i].details = (nd >= 0 && !dnulls[i]) ? DatumGetJsonbP(dvals[i]) : NULL;
		ev[i].details_text = NULL;
	}
	(void) append_events_as_owner(audit_owner(), mt_context_tenant(), n, ev, NULL);
	PG_RETURN_INT64(n);
}

/* ---------------------------------------------------------------------
 * Append-only guard (statement trigger on mt.audit_log, mt.audit_checkpoints)
 * --------------------------------------------------------------------- */
PG_FUNCTION_INFO_V1(mt_audit_guard);
Datum
mt_audit_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *rel;
	bool		is_log;
	const char *op;
	bool		allowed = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.audit_guard() must be called as a trigger")));
	rel = RelationGetRelationName(td->tg_relation);
	is_log = strcmp(rel, "audit_log") == 0;

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		/*
		 * Superusers may insert directly: that is how pg_dump/pg_restore
		 * reload the log (a superuser could disable the guard anyway).
		 * Anything inserted this way must still verify.
		 */
		op = "INSERT";
		allowed = (is_log ? audit_write_mode == AUDIT_WRITE_LOG_INSERT
				   : audit_write_mode == AUDIT_WRITE_CHECKPOINT_INSERT) || superuser();
		/* a superuser's rows keep their own ids: no floor while they go in */
		if (allowed && is_log && audit_write_mode != AUDIT_WRITE_LOG_INSERT)
			mt_seal_floor_explicit_ids();
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		op = "DELETE";
		allowed = is_log && audit_write_mode == AUDIT_WRITE_LOG_DELETE;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		op = "UPDATE";
	else
		op = "TRUNCATE";

	if (!allowed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("mt.%s is append-only: %s is not allowed", rel, op),
				 errdetail("Rows are added only by mt.audit() (or by a superuser restoring a dump) and removed only by mt.audit_prune(); this applies to the owner and superusers too.")));
	return PointerGetDatum(NULL);
}

/* ---------------------------------------------------------------------
 * Sealing: linking committed events into their chains
 * --------------------------------------------------------------------- */

/*
 * One sealing pass over a chain, under its lock: every unsealed row visible
 * to a snapshot taken after the lock was granted (committed rows, and this
 * transaction's own), in id order, gets seq = head + 1, + 2, ..., prev_hash
 * and its chain hash, after its content hash was checked.  The update is
 * made here, in C, through the table AM (no trigger fires: the append-only
 * guard refuses UPDATE to SQL), and the indexes get the new version.
 *
 * Why this order is consistent with commit order: every row of a pass
 * committed before the pass's snapshot; a row first seen by a later pass
 * (the next pass on this chain takes the lock, so starts after this one
 * committed) committed after that snapshot, so after every row of this
 * pass.  Within one pass rows are ordered by id: when an event's
 * transaction committed before another event was appended, the first has
 * the smaller id (mt.audit_log_id_seq only grows) and it is sealed in the
 * same or an earlier pass.  Only events of transactions that overlapped
 * may appear in either order.  Events of an aborted transaction are never
 * visible, so never sealed; events this transaction sealed itself commit
 * or abort together with their seal.
 */
typedef struct SealState
{
	AuditInserter ins;
	Relation	heap;			/* ins.rel */
	TupleTableSlot *newslot;	/* ins.slot */
	MemoryContext rowcxt;
	StringInfoData canon;
	StringInfoData dbuf;
	bool		incomplete;		/* a chain was skipped or stopped */
	int64		floor;			/* the work list is read from this id on
								 * (seal_floor.c) */
	Oid			seq_node;		/* mt.audit_log_id_seq's relfilenode */
} SealState;

static void
seal_begin(SealState *ss, const AuditRels *rels)
{
	memset(ss, 0, sizeof(*ss));
	inserter_open(&ss->ins, rels->log);
	ss->heap = ss->ins.rel;
	ss->newslot = ss->ins.slot;
	ss->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "audit seal rows", ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&ss->canon);
	initStringInfo(&ss->dbuf);
}

static void
seal_end(SealState *ss)
{
	inserter_close(&ss->ins);
	MemoryContextDelete(ss->rowcxt);
	/* later scans of this transaction see the sealed versions */
	CommandCounterIncrement();
}

/*
 * Where each chain's head was when this backend last sealed it: chain_head's
 * hint (a worker's passes find each head by reading its newest rows only).
 * Heads only move forward while a chain exists, and a hint past the head
 * costs one more index descent, never a wrong head.  Forgotten when it has
 * MT_HEAD_HINTS chains.
 */
#define MT_HEAD_HINTS 65536

typedef struct HeadHint
{
	pg_uuid_t	tenant;			/* hash key */
	int64		seq;
} HeadHint;

static HTAB *head_hints = NULL;

static HeadHint *
head_hint(const pg_uuid_t *tenant)
{
	HeadHint   *e;
	bool		found;

	if (head_hints != NULL && hash_get_num_entries(head_hints) >= MT_HEAD_HINTS)
	{
		hash_destroy(head_hints);
		head_hints = NULL;
	}
	if (head_hints == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(HeadHint);
		ctl.hcxt = TopMemoryContext;
		head_hints = hash_create("multitenant audit head hints", 256, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(head_hints, tenant, HASH_ENTER, &found);
	if (!found)
		e->seq = 0;
	return e;
}

/* returns the rows sealed; wait false: skip the chain when its lock is taken */
static int64
seal_chain(SealState *ss, const AuditRels *rels, const pg_uuid_t *tenant, bool wait)
{
	ChainHead	head;
	Snapshot	snap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData key[2];
	pg_uuid_t	t = *tenant;
	int			natts = RelationGetDescr(ss->heap)->natts;
	int64		n = 0;
	int64		floor;
	HeadHint   *hint;

	if (!lock_tenant_space(tenant, MT_AUDIT_LOCK_SPACE, !wait))
	{
		ss->incomplete = true;
		return 0;
	}
	/* taken under the lock: every earlier pass over this chain has committed */
	snap = RegisterSnapshot(GetLatestSnapshot());
	hint = head_hint(tenant);
	chain_head(rels, SnapshotSelf, tenant, &head, hint->seq);

	/*
	 * The floor again, after the snapshot: rows with ids of their own that
	 * it sees went in after their transaction dropped the floor, maybe
	 * after this pass read it (while it waited for this lock), and are
	 * linked in id order with the rest (seal_floor.c).
	 */
	floor = Min(ss->floor, mt_seal_floor_read(MyDatabaseId, rels->id_seq, ss->seq_node));
	index = index_open(rels->unsealed_idx, AccessShareLock);
	worklist_keys(key, &t, floor);
	scan = mt_index_beginscan(ss->heap, index, snap, 2);
	index_rescan(scan, key, 2, NULL, 0);
	slot = table_slot_create(ss->heap, NULL);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		AuditRow	r;
		uint8		h[MT_SHA256_LEN];
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(ss->rowcxt);
		old = MemoryContextSwitchTo(ss->rowcxt);
		audit_row_from_slot(slot, &r, &ss->dbuf);
		if (r.sealed)
		{
			MemoryContextSwitchTo(old);
			continue;
		}
		if (r.hash_lengths_ok)
			audit_compute_hash(&r, &ss->canon, h);
		if (!r.hash_lengths_ok || memcmp(h, r.hash, MT_SHA256_LEN) != 0)
		{
			MemoryContextSwitchTo(old);
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("unsealed audit row " INT64_FORMAT " of chain %s does not match its content hash",
							r.id, mt_uuid_to_cstring(tenant)),
					 errdetail("The row was modified after it was appended; it and the later events of this chain stay unsealed."),
					 errhint("Investigate with mt.audit_verify().")));
			ss->incomplete = true;
			break;
		}
		r.sealed = true;
		r.seq = head.seq + 1;
		memcpy(r.prev_hash, head.hash, MT_SHA256_LEN);
		audit_compute_hash(&r, &ss->canon, r.hash);

		/* the new version: the same values with seq, prev_hash and hash */
		slot_getallattrs(slot);
		ExecClearTuple(ss->newslot);
		memcpy(ss->newslot->tts_values, slot->tts_values, natts * sizeof(Datum));
		memcpy(ss->newslot->tts_isnull, slot->tts_isnull, natts * sizeof(bool));
		ss->newslot->tts_values[A_SEQ - 1] = Int64GetDatum(r.seq);
		ss->newslot->tts_isnull[A_SEQ - 1] = false;
		ss->newslot->tts_values[A_PREV - 1] = PointerGetDatum(hash_bytea(r.prev_hash));
		ss->newslot->tts_isnull[A_PREV - 1] = false;
		ss->newslot->tts_values[A_HASH - 1] = PointerGetDatum(hash_bytea(r.hash));
		ss->newslot->tts_isnull[A_HASH - 1] = false;
		inserter_write(&ss->ins, &slot->tts_tid, snap);
		head.seq = r.seq;
		memcpy(head.hash, r.hash, MT_SHA256_LEN);
		n++;
		MemoryContextSwitchTo(old);
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(index, AccessShareLock);
	UnregisterSnapshot(snap);
	hint->seq = head.seq;
	return n;
}

/*
 * Seals one tenant's chain (only != NULL) or every chain with unsealed
 * rows, in uuid order (so concurrent sealers take chain locks in the same
 * order).  No-op before the 0.5.0 update.  *incomplete (may be NULL):
 * whether a chain was skipped or stopped at a tampered row.  pass: the
 * worker's full pass (seal_floor.c), NULL for every other sealer, which
 * reads the floor and leaves it.
 */
static int64
seal_tenants(const AuditRels *rels, const pg_uuid_t *only, bool wait, bool *incomplete,
			 MtSealPass *pass)
{
	SealState	ss;
	List	   *tenants;
	ListCell   *lc;
	int64		n = 0;
	int64		floor;
	TransactionId walk_xmin = InvalidTransactionId;
	Oid			seq_node;

	if (incomplete)
		*incomplete = false;
	if (!OidIsValid(rels->unsealed_idx))
		return 0;
	if (pass != NULL && !seq_uncached(rels))
		pass = NULL;			/* use the floor, never raise it */
	seq_node = seq_relfilenode(rels);
	floor = pass ? mt_seal_floor_begin(MyDatabaseId, rels->id_seq, seq_node, seq_last_value(rels), pass)
		: mt_seal_floor_read(MyDatabaseId, rels->id_seq, seq_node);
	if (only != NULL)
	{
		pg_uuid_t  *t = palloc(sizeof(pg_uuid_t));

		*t = *only;
		tenants = list_make1(t);
	}
	else
	{
		Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());

		walk_xmin = snap->xmin;
		tenants = worklist_tenants(rels, snap, floor);
		UnregisterSnapshot(snap);
		if (tenants == NIL)
		{
			if (pass != NULL)
				mt_seal_floor_passed(pass, walk_xmin, seq_last_value(rels));
			return 0;
		}
	}
	seal_begin(&ss, rels);
	ss.floor = floor;
	ss.seq_node = seq_node;
	foreach(lc, tenants)
		n += seal_chain(&ss, rels, lfirst(lc), wait);
	if (incomplete)
		*incomplete = ss.incomplete;
	if (pass != NULL && only == NULL && !ss.incomplete)
		mt_seal_floor_passed(pass, walk_xmin, seq_last_value(rels));
	seal_end(&ss);
	return n;
}

int64
mt_audit_seal_database(bool *incomplete, MtSealPass *pass)
{
	AuditRels	rels;

	audit_rels(&rels);
	return seal_tenants(&rels, NULL, false, incomplete, pass);
}

/*
 * The sealer's backlog in this database (mt_audit_backlog in audit.h): the
 * unsealed events a fresh snapshot sees and the append time of the oldest.
 * It reads the work list as a sealing pass does (worklist_tenants, then
 * each tenant's entries from the floor, read after the snapshot as
 * seal_chain does), so the dead entries sealed events left below the floor
 * cost nothing, and takes no chain lock: a pass running meanwhile may seal
 * some of what it counts.  When the sequence's last id is the one just
 * below the floor, nothing can be unsealed and nothing is walked; below
 * that, setval moved the sequence back and the floor is not trusted (the
 * worker's next pass drops it, seal_floor.c).  Past MT_BACKLOG_MAX_COUNT
 * events it reads only each remaining tenant's first unsealed event (the
 * oldest, to within the moment between nextval and the clock read), so a
 * stopped worker's backlog does not make every scrape read all of it: the
 * count is then a lower bound.
 * Monitoring must not queue behind DDL: every lock is tried, not waited
 * for, and false is returned when one is taken.
 */
#define MT_BACKLOG_MAX_COUNT 100000

bool
mt_audit_backlog(int64 *count, TimestampTz *oldest)
{
	AuditRels	rels;
	Snapshot	snap;
	List	   *tenants;
	ListCell   *lc;
	int64		floor;
	Relation	heap;
	Relation	index;
	TupleTableSlot *slot;

	*count = 0;
	*oldest = 0;
	audit_rels(&rels);
	if (!OidIsValid(rels.unsealed_idx))
		return true;
	if (!ConditionalLockRelationOid(rels.log, AccessShareLock) ||
		!ConditionalLockRelationOid(rels.unsealed_idx, AccessShareLock) ||
		!ConditionalLockRelationOid(rels.id_seq, AccessShareLock))
		return false;
	snap = RegisterSnapshot(GetLatestSnapshot());
	floor = mt_seal_floor_read(MyDatabaseId, rels.id_seq, seq_relfilenode(&rels));
	if (floor > 0 && ConditionalLockRelationOid(rels.id_seq, RowExclusiveLock))
	{
		/* read as the extension owner: the caller is a monitoring role */
		Oid			save_userid;
		int			save_sec;
		int64		last;

		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(audit_owner(), save_sec | SECURITY_LOCAL_USERID_CHANGE);
		last = seq_last_value(&rels);
		SetUserIdAndSecContext(save_userid, save_sec);
		if (last == floor - 1)
		{
			UnregisterSnapshot(snap);
			return true;
		}
		if (last < floor - 1)
			floor = 0;
	}
	tenants = worklist_tenants(&rels, snap, floor);
	heap = table_open(rels.log, AccessShareLock);
	index = index_open(rels.unsealed_idx, AccessShareLock);
	slot = table_slot_create(heap, NULL);
	foreach(lc, tenants)
	{
		IndexScanDesc scan;
		ScanKeyData key[2];

		CHECK_FOR_INTERRUPTS();
		worklist_keys(key, lfirst(lc), floor);
		scan = mt_index_beginscan(heap, index, snap, 2);
		index_rescan(scan, key, 2, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			Datum		at;

			CHECK_FOR_INTERRUPTS();
			(void) slot_getattr(slot, A_SEQ, &isnull);
			if (!isnull)
				continue;
			(*count)++;
			at = slot_getattr(slot, A_AT, &isnull);
			if (!isnull && (*oldest == 0 || DatumGetTimestampTz(at) < *oldest))
				*oldest = DatumGetTimestampTz(at);
			if (*count >= MT_BACKLOG_MAX_COUNT)
				break;			/* past the bound: each tenant's first only */
		}
		index_endscan(scan);
	}
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	UnregisterSnapshot(snap);
	return true;
}

/* this transaction appended unsealed events: tell the worker at commit */
static bool seal_note_pending = false;

static void
mt_audit_note_unsealed(void)
{
	seal_note_pending = true;
}

void
mt_audit_xact_callback(int event)
{
	switch ((XactEvent) event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			mt_audit_release_cache();
			return;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			audit_cache = NULL; /* released with the transaction */
			break;
		default:
			break;
	}
	if (!seal_note_pending)
		return;
	switch ((XactEvent) event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			mt_flush_request_audit(MyDatabaseId);
			seal_note_pending = false;
			break;
		case XACT_EVENT_ABORT:
			seal_note_pending = false;
			break;
		default:
			break;
	}
}

/* mt.audit_seal(): seal every chain now; returns the events sealed */
PG_FUNCTION_INFO_V1(mt_audit_seal);
Datum
mt_audit_seal(PG_FUNCTION_ARGS)
{
	AuditRels	rels;

	mt_require_writable("mt.audit_seal()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.audit_seal()");
	audit_rels(&rels);
	PG_RETURN_INT64(seal_tenants(&rels, NULL, true, NULL, NULL));
}

/* ---------------------------------------------------------------------
 * Verification and digests
 * --------------------------------------------------------------------- */
typedef struct ChainState
{
	int64		expect_seq;
	uint8		expect_prev[MT_SHA256_LEN];
} ChainState;

/* checks one row against its hash and its predecessor; NULL when good */
static const char *
check_row(ChainState *st, const AuditRow *r, StringInfo canon)
{
	const char *problem = NULL;
	uint8		h[MT_SHA256_LEN];

	if (!r->hash_lengths_ok)
		problem = "stored hash or prev_hash is not 32 bytes";
	else
	{
		audit_compute_hash(r, canon, h);
		if (memcmp(h, r->hash, MT_SHA256_LEN) != 0)
			problem = "row content does not match its hash (modified)";
		else if (r->seq > st->expect_seq)
			problem = "rows are missing before this row (sequence gap)";
		else if (r->seq < st->expect_seq)
			problem = "duplicate or out-of-order position";
		else if (memcmp(r->prev_hash, st->expect_prev, MT_SHA256_LEN) != 0)
			problem = "prev_hash does not match the hash of the previous row";
	}
	st->expect_seq = r->seq + 1;
	memcpy(st->expect_prev, r->hash, MT_SHA256_LEN);
	return problem;
}

typedef struct DigestEntry
{
	pg_uuid_t	tenant;
	int64		seq;
	uint8		hash[MT_SHA256_LEN];
} DigestEntry;

typedef struct VerifyResult
{
	bool		ok;
	int64		rows;
	int64		first_bad_id;	/* 0 = none */
	int64		head_seq;
	char	   *problem;
	int64		unsealed;		/* rows not linked yet */
	TimestampTz oldest_unsealed;
} VerifyResult;

static void
verify_chain(const AuditRels *rels, Snapshot snap, const pg_uuid_t *tenant,
			 const DigestEntry *dig, VerifyResult *res, MemoryContext rowcxt)
{
	ChainState	st;
	ChainScan  *cs;
	StringInfoData canon;
	StringInfoData dbuf;
	int64		base_seq;
	uint8		base_hash[MT_SHA256_LEN];
	bool		digest_seen = false;
	MemoryContext old;

	memset(res, 0, sizeof(*res));
	res->ok = true;
	chain_base(rels, snap, tenant, &base_seq, base_hash);
	st.expect_seq = base_seq + 1;
	memcpy(st.expect_prev, base_hash, MT_SHA256_LEN);
	res->head_seq = base_seq;
	initStringInfo(&canon);
	initStringInfo(&dbuf);

	cs = chain_scan_begin(rels, snap, tenant, 0, ForwardScanDirection);
	while (chain_scan_next(cs))
	{
		AuditRow	r;
		const char *problem;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(rowcxt);
		old = MemoryContextSwitchTo(rowcxt);
		audit_row_from_slot(cs->slot, &r, &dbuf);
		problem = check_row(&st, &r, &canon);
		if (problem == NULL && dig != NULL && r.seq == dig->seq)
		{
			digest_seen = true;
			if (memcmp(r.hash, dig->hash, MT_SHA256_LEN) != 0)
				problem = "row hash differs from the saved digest";
		}
		res->rows++;
		res->head_seq = r.seq;
		if (problem != NULL && res->ok)
		{
			res->ok = false;
			res->first_bad_id = r.id;
			res->problem = MemoryContextStrdup(old, psprintf("seq " INT64_FORMAT ": %s", r.seq, problem));
		}
		MemoryContextSwitchTo(old);
	}
	chain_scan_end(cs);

	/*
	 * The unsealed tail: counted, its age reported, and each row checked
	 * against its content hash (a change made before sealing shows here,
	 * and stops the sealer at that row).
	 */
	if (OidIsValid(rels->unsealed_idx))
	{
		Relation	heap = table_open(rels->log, AccessShareLock);
		Relation	index = index_open(rels->unsealed_idx, AccessShareLock);
		ScanKeyData key;
		IndexScanDesc scan;
		TupleTableSlot *slot = table_slot_create(heap, NULL);
		pg_uuid_t	t = *tenant;

		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&t));
		scan = mt_index_beginscan(heap, index, snap, 1);
		index_rescan(scan, &key, 1, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			AuditRow	r;
			uint8		h[MT_SHA256_LEN];

			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(rowcxt);
			old = MemoryContextSwitchTo(rowcxt);
			audit_row_from_slot(slot, &r, &dbuf);
			if (r.sealed)
			{
				MemoryContextSwitchTo(old);
				continue;
			}
			if (res->unsealed == 0 || r.at < res->oldest_unsealed)
				res->oldest_unsealed = r.at;
			res->unsealed++;
			if (r.hash_lengths_ok)
				audit_compute_hash(&r, &canon, h);
			if ((!r.hash_lengths_ok || memcmp(h, r.hash, MT_SHA256_LEN) != 0) && res->ok)
			{
				res->ok = false;
				res->first_bad_id = r.id;
				res->problem = MemoryContextStrdup(old, psprintf("unsealed row " INT64_FORMAT
																 ": row content does not match its content hash (modified before sealing)",
																 r.id));
			}
			MemoryContextSwitchTo(old);
		}
		index_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		index_close(index, AccessShareLock);
		table_close(heap, AccessShareLock);
	}

	if (dig != NULL && !digest_seen && res->ok)
	{
		if (dig->seq > res->head_seq)
		{
			res->ok = false;
			res->problem = psprintf("chain ends at seq " INT64_FORMAT " but the digest records seq " INT64_FORMAT
									": rows were removed from the tail",
									res->head_seq, dig->seq);
		}
		else if (dig->seq == base_seq && base_seq > 0 &&
				 memcmp(base_hash, dig->hash, MT_SHA256_LEN) != 0)
		{
			res->ok = false;
			res->problem = psprintf("checkpoint at seq " INT64_FORMAT " differs from the saved digest", base_seq);
		}
		/* a digest position older than the checkpoint cannot be compared */
	}
}

static bool
parse_hash_hex(const char *s, uint8 *out)
{
	if (s[0] == '\\' && s[1] == 'x')
		s += 2;
	return mt_hex_decode(s, out, MT_SHA256_LEN);
}

/*
 * A saved digest: the output of mt.audit_digest() as jsonb, either one
 * object or an array of objects with tenant_id, seq and hash (hex).
 */
static List *
parse_digest(Jsonb *digest)
{
	List	   *result = NIL;
	Datum		arg = PointerGetDatum(digest);
	uint64		n;
	MemoryContext outer = CurrentMemoryContext;

	mt_spi_connect();
	if (SPI_execute_with_args("SELECT (e->>'tenant_id')::uuid, (e->>'seq')::bigint, e->>'hash' "
							  "FROM pg_catalog.jsonb_array_elements(CASE pg_catalog.jsonb_typeof($1) "
							  "WHEN 'array' THEN $1 ELSE pg_catalog.jsonb_build_array($1) END) e",
							  1, (Oid[]) {JSONBOID}, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "multitenant: could not read the digest");
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		n1,
					n2,
					n3;
		Datum		t = SPI_getbinval(tup, desc, 1, &n1);
		Datum		s = SPI_getbinval(tup, desc, 2, &n2);
		char	   *h = SPI_getvalue(tup, desc, 3);
		DigestEntry *e;

		n3 = (h == NULL);
		if (n1 || n2 || n3)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("digest entries need tenant_id, seq and hash"),
					 errhint("Pass the output of mt.audit_digest() as jsonb, e.g. (SELECT jsonb_agg(d) FROM mt.audit_digest() d).")));
		e = SPI_palloc(sizeof(DigestEntry));
		memcpy(&e->tenant, DatumGetUUIDP(t), sizeof(pg_uuid_t));
		e->seq = DatumGetInt64(s);
		if (!parse_hash_hex(h, e->hash))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("digest hash must be 64 hexadecimal digits")));
		{
			MemoryContext old = MemoryContextSwitchTo(outer);

			result = lappend(result, e);
			MemoryContextSwitchTo(old);
		}
	}
	mt_spi_finish();
	return result;
}

static int
mt_uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, UUID_LEN);
}

static int
digest_cmp(const void *a, const void *b)
{
	return memcmp(&((const DigestEntry *) a)->tenant, &((const DigestEntry *) b)->tenant, UUID_LEN);
}

static int
uuid_list_cmp(const ListCell *a, const ListCell *b)
{
	return mt_uuid_cmp(lfirst(a), lfirst(b));
}

/* the chains to look at: one tenant, or every chain (plus extra tenants) */
static List *
target_tenants(const AuditRels *rels, Snapshot snap, FunctionCallInfo fcinfo, int argno,
			   DigestEntry *extra, int nextra)
{
	List	   *tenants;

	if (!PG_ARGISNULL(argno))
	{
		pg_uuid_t  *t = palloc(sizeof(pg_uuid_t));

		*t = *PG_GETARG_UUID_P(argno);
		return list_make1(t);
	}
	tenants = chain_tenants(rels, snap);
	for (int i = 0; i < nextra; i++)
	{
		ListCell   *lc;
		bool		found = false;

		foreach(lc, tenants)
			if (mt_uuid_cmp(lfirst(lc), &extra[i].tenant) == 0)
				found = true;
		if (!found)
			tenants = lappend(tenants, &extra[i].tenant);
	}
	list_sort(tenants, uuid_list_cmp);
	return tenants;
}

/*
 * mt.audit_verify() and mt.audit_digest() seal first where this
 * transaction can write (one tenant, argument argno, or every chain), then
 * read through a snapshot that sees the seals.  On a hot standby or in a
 * read-only transaction they read as they are: the unsealed tail is
 * reported (verify) or not part of the heads (digest).  The caller
 * unregisters the snapshot.
 */
static Snapshot
seal_first(const AuditRels *rels, FunctionCallInfo fcinfo, int argno)
{
	if (!OidIsValid(rels->unsealed_idx) || !mt_can_write_tables())
		return RegisterSnapshot(GetActiveSnapshot());
	(void) seal_tenants(rels, PG_ARGISNULL(argno) ? NULL : PG_GETARG_UUID_P(argno), true, NULL, NULL);
	return RegisterSnapshot(GetLatestSnapshot());
}

/* mt.audit_verify(tenant uuid DEFAULT NULL, digest jsonb DEFAULT NULL) */
PG_FUNCTION_INFO_V1(mt_audit_verify);
Datum
mt_audit_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AuditRels	rels;
	DigestEntry *dig = NULL;
	int			ndig = 0;
	List	   *tenants;
	ListCell   *lc;
	Snapshot	snap;
	MemoryContext rowcxt;

	mt_require_coordinator("mt.audit_verify()");
	InitMaterializedSRF(fcinfo, 0);
	audit_rels(&rels);
	if (!PG_ARGISNULL(1))
	{
		List	   *l = parse_digest(PG_GETARG_JSONB_P(1));
		int			i = 0;

		ndig = list_length(l);
		dig = palloc(sizeof(DigestEntry) * Max(ndig, 1));
		foreach(lc, l)
			dig[i++] = *(DigestEntry *) lfirst(lc);
		qsort(dig, ndig, sizeof(DigestEntry), digest_cmp);
		for (i = 1; i < ndig; i++)
			if (digest_cmp(&dig[i - 1], &dig[i]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the digest lists tenant %s twice", mt_uuid_to_cstring(&dig[i].tenant))));
	}
	snap = seal_first(&rels, fcinfo, 0);
	tenants = target_tenants(&rels, snap, fcinfo, 0, dig, ndig);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "audit verify rows", ALLOCSET_DEFAULT_SIZES);

	foreach(lc, tenants)
	{
		pg_uuid_t  *t = lfirst(lc);
		DigestEntry key;
		DigestEntry *d = NULL;
		VerifyResult res;
		Datum		values[8];
		bool		nulls[8] = {0};

		if (ndig > 0)
		{
			key.tenant = *t;
			d = bsearch(&key, dig, ndig, sizeof(DigestEntry), digest_cmp);
		}
		verify_chain(&rels, snap, t, d, &res, rowcxt);
		if (!res.ok)
			mt_security_event(t, MT_SEC_AUDIT_TAMPER, NULL, res.problem);
		values[0] = UUIDPGetDatum(t);
		values[1] = BoolGetDatum(res.ok);
		values[2] = Int64GetDatum(res.rows);
		values[3] = Int64GetDatum(res.first_bad_id);
		nulls[3] = res.first_bad_id == 0;
		values[4] = Int64GetDatum(res.head_seq);
		if (res.problem)
			values[5] = CStringGetTextDatum(res.problem);
		else
			nulls[5] = true;
		values[6] = Int64GetDatum(res.unsealed);
		values[7] = TimestampTzGetDatum(res.oldest_unsealed);
		nulls[7] = res.unsealed == 0;
		/* the 0.4.0 definition (6 columns) takes the first ones only */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextDelete(rowcxt);
	UnregisterSnapshot(snap);
	return (Datum) 0;
}

/* mt.audit_digest(tenant uuid DEFAULT NULL): chain heads */
PG_FUNCTION_INFO_V1(mt_audit_digest);
Datum
mt_audit_digest(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AuditRels	rels;
	Snapshot	snap;
	List	   *tenants;
	ListCell   *lc;

	int64		heads = 0;
	Datum		arg;

	mt_require_coordinator("mt.audit_digest()");
	InitMaterializedSRF(fcinfo, 0);
	audit_rels(&rels);
	snap = seal_first(&rels, fcinfo, 0);
	tenants = target_tenants(&rels, snap, fcinfo, 0, NULL, 0);
	foreach(lc, tenants)
	{
		pg_uuid_t  *t = lfirst(lc);
		ChainHead	h;
		Datum		values[4];
		bool		nulls[4] = {0};

		chain_head(&rels, snap, t, &h, 0);
		if (!h.exists)
			continue;
		heads++;
		values[0] = UUIDPGetDatum(t);
		values[1] = Int64GetDatum(h.seq);
		values[2] = CStringGetTextDatum(hex_text(h.hash, MT_SHA256_LEN));
		values[3] = TimestampTzGetDatum(h.at);
		nulls[3] = h.id == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	UnregisterSnapshot(snap);

	/*
	 * Compliance (MT-AUD-002) asks when chain heads were last taken out.
	 * Recorded where this transaction can write; on a hot standby or in a
	 * read-only transaction the digest is returned all the same (an auditor
	 * may take it from a replica) and goes unrecorded.
	 */
	if (mt_can_write_tables())
	{
		arg = Int64GetDatum(heads);
		mt_spi_connect();
		mt_spi_execute("INSERT INTO mt.audit_digests (chains, all_tenants) VALUES ($1, $2)",
					   2, (Oid[]) {INT8OID, BOOLOID},
					   (Datum[]) {arg, BoolGetDatum(PG_ARGISNULL(0))}, SPI_OK_INSERT);
		mt_spi_finish();
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Pruning
 * --------------------------------------------------------------------- */

/*
 * Removes the longest prefix of one chain whose rows are older than cutoff,
 * after verifying it, records a checkpoint (last removed seq and hash) and
 * appends an audit.prune event.  Returns the number of rows removed.
 */
static int64
prune_chain(const AuditRels *rels, const pg_uuid_t *tenant, TimestampTz cutoff,
			const char *older_than, MemoryContext rowcxt)
{
	ChainState	st;
	ChainScan  *cs;
	StringInfoData canon;
	StringInfoData dbuf;
	int64		base_seq;
	int64		n = 0;
	int64		last_seq;
	uint8		last_hash[MT_SHA256_LEN];
	Datum		args[6];
	int			rc;

	lock_chain(tenant);
	(void) seal_tenants(rels, tenant, true, NULL, NULL);
	chain_base(rels, SnapshotSelf, tenant, &base_seq, st.expect_prev);
	st.expect_seq = base_seq + 1;
	last_seq = base_seq;
	memcpy(last_hash, st.expect_prev, MT_SHA256_LEN);
	initStringInfo(&canon);
	initStringInfo(&dbuf);

	cs = chain_scan_begin(rels, SnapshotSelf, tenant, 0, ForwardScanDirection);
	while (chain_scan_next(cs))
	{
		AuditRow	r;
		const char *problem;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(rowcxt);
		old = MemoryContextSwitchTo(rowcxt);
		audit_row_from_slot(cs->slot, &r, &dbuf);
		MemoryContextSwitchTo(old);
		if (r.at >= cutoff)
			break;
		problem = check_row(&st, &r, &canon);
		if (problem != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("audit chain %s fails verification at row " INT64_FORMAT " (seq " INT64_FORMAT "): %s",
							mt_uuid_to_cstring(tenant), r.id, r.seq, problem),
					 errdetail("Pruning would discard the evidence; nothing was pruned."),
					 errhint("Investigate with mt.audit_verify().")));
		n++;
		last_seq = r.seq;
		memcpy(last_hash, r.hash, MT_SHA256_LEN);
	}
	chain_scan_end(cs);
	if (n == 0)
		return 0;

	mt_spi_connect();
	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = Int64GetDatum(last_seq);
	rc = flagged_execute(AUDIT_WRITE_LOG_DELETE,
						 "DELETE FROM mt.audit_log WHERE tenant_id = $1 AND seq <= $2",
						 NULL, 2, (Oid[]) {UUIDOID, INT8OID}, args, NULL);
	if (rc != SPI_OK_DELETE || (int64) SPI_processed != n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("audit prune of chain %s removed " UINT64_FORMAT " rows, expected " INT64_FORMAT,
						mt_uuid_to_cstring(tenant), (uint64) SPI_processed, n)));
	{
		bytea	   *h = palloc(VARHDRSZ + MT_SHA256_LEN);

		SET_VARSIZE(h, VARHDRSZ + MT_SHA256_LEN);
		memcpy(VARDATA(h), last_hash, MT_SHA256_LEN);
		args[2] = PointerGetDatum(h);
		args[3] = Int64GetDatum(n);
		args[4] = TimestampTzGetDatum(GetCurrentTimestamp());
		args[5] = CStringGetTextDatum(session_user_name());
	}
	rc = flagged_execute(AUDIT_WRITE_CHECKPOINT_INSERT,
						 "INSERT INTO mt.audit_checkpoints (tenant_id, seq, hash, rows_pruned, pruned_at, pruned_by) "
						 "VALUES ($1, $2, $3, $4, $5, $6)",
						 NULL, 6, (Oid[]) {UUIDOID, INT8OID, BYTEAOID, INT8OID, TIMESTAMPTZOID, TEXTOID},
						 args, NULL);
	if (rc != SPI_OK_INSERT)
		mt_spi_failed("checkpoint insert", rc);
	mt_spi_finish();

	{
		char	   *details = psprintf("{\"through_seq\": " INT64_FORMAT ", \"rows\": " INT64_FORMAT
									   ", \"checkpoint_hash\": \"%s\", \"older_than\": ",
									   last_seq, n, hex_text(last_hash, MT_SHA256_LEN));
		StringInfoData s;

		initStringInfo(&s);
		appendStringInfoString(&s, details);
		escape_json(&s, older_than);
		appendStringInfoChar(&s, '}');
		mt_audit_append(tenant, "audit.prune", "audit_log", NULL, jsonb_from_text(s.data), NULL);
	}
	return n;
}

/* mt.audit_prune(older_than interval, tenant uuid DEFAULT NULL) */
PG_FUNCTION_INFO_V1(mt_audit_prune);
Datum
mt_audit_prune(PG_FUNCTION_ARGS)
{
	AuditRels	rels;
	Interval   *older;
	TimestampTz cutoff;
	List	   *tenants;
	ListCell   *lc;
	int64		total = 0;
	char	   *older_text;
	MemoryContext rowcxt;

	mt_require_writable("mt.audit_prune()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.audit_prune()");
	mt_require_args(fcinfo, 1, "older_than");
	older = PG_GETARG_INTERVAL_P(0);
	if (older->time < 0 || older->day < 0 || older->month < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative")));
	older_text = DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(older)));
	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(GetCurrentTimestamp()),
													 IntervalPGetDatum(older)));
	audit_rels(&rels);
	tenants = target_tenants(&rels, GetActiveSnapshot(), fcinfo, 1, NULL, 0);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "audit prune rows", ALLOCSET_DEFAULT_SIZES);
	foreach(lc, tenants)
		total += prune_chain(&rels, lfirst(lc), cutoff, older_text, rowcxt);
	MemoryContextDelete(rowcxt);
	PG_RETURN_INT64(total);
}

/* ---------------------------------------------------------------------
 * Row-change trigger and mt.audit_table()
 *
 * The trigger builds each row image as a jsonb value tree directly, its
 * keys already in jsonb's order (no text, no escaping, no parse, no sort):
 * the same jsonb, byte for byte, that JSON text of the row parsed by
 * jsonb_in gave before 0.6.0 (test audit_table_row_images); the details
 * text that is hashed (what JsonbToCString prints for that jsonb) is
 * written beside the tree in the same pass, not by serializing the jsonb
 * and printing it again; every sealing and verification checks it.  What does not change
 * from row to row (column names in key order, kinds and output functions,
 * the tenant, subject and primary-key columns, the table's qualified name,
 * the extension owner) is looked up once per transaction and trigger: see
 * TrigRel.
 * --------------------------------------------------------------------- */
static bool
looks_like_json_number(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char) *p))
		return false;
	for (; *p; p++)
		if (!isdigit((unsigned char) *p) && *p != '.' && *p != 'e' && *p != 'E' &&
			*p != '+' && *p != '-')
			return false;
	return true;
}

/* how a column's values appear in a row image (by base type) */
typedef enum ValueKind
{
	VK_TEXT,					/* the output text, as a JSON string */
	VK_STRING,					/* text, varchar: the bytes (textout's
								 * output) as a JSON string */
	VK_BOOL,					/* boolean: true / false */
	VK_INT,						/* int2, int4, int8, oid: a JSON number */
	VK_NUMBER,					/* float4, float8, numeric: a JSON number
								 * when the output text is one (not NaN,
								 * Infinity), else a string */
	VK_JSON,					/* json, jsonb: the value itself */
	VK_UUID						/* uuid: uuid_out's text, as a JSON string */
} ValueKind;

typedef struct TrigColumn
{
	bool		dropped;
	ValueKind	kind;
	Oid			base;			/* base type (domains resolved) */
	bool		byval;
	int16		len;
	int			namelen;
	char	   *name;
	FmgrInfo	out;			/* the column type's output function */
} TrigColumn;

/*
 * What the trigger needs of one audited table, per trigger (its arguments
 * name the tenant and subject columns).  Built on the first row change of
 * a transaction, in trig_cxt (under CacheMemoryContext, reset when a new
 * transaction first uses it), and marked invalid by any relcache
 * invalidation of the table (ALTER TABLE, a new primary key, CREATE or
 * DROP TRIGGER, a rolled-back subtransaction that changed it) and any
 * pg_namespace change (a schema rename changes the qualified name) or of
 * mt.isolated_tables (whose owner is the extension owner); an invalid
 * entry is rebuilt at the next row.  The callbacks only flag
 * entries (the memory stays until the next transaction), so an
 * invalidation arriving while a row is being built (an output function
 * that reads the catalog) frees nothing in use.  Output functions run as
 * the writer, as the trigger function does: caching their FmgrInfo
 * changes nothing about who runs them.
 */
typedef struct TrigRel
{
	struct TrigRel *next;
	Oid			tgoid;
	Oid			relid;
	bool		valid;
	int			natts;
	AttrNumber	tenant_att;		/* uuid tenant column; 0: none */
	AttrNumber	subject_att;	/* 0: none */
	int			npk;
	AttrNumber *pk;				/* primary-key columns in column order */
	char	   *qname;			/* schema-qualified, quoted table name */
	Oid			owner;			/* mt_extension_owner() */
	Oid			owner_relid;	/* the table it is read from */
	TrigColumn *cols;
	int			nkeys;
	int		   *keys;			/* live columns in jsonb key order */
} TrigRel;

static MemoryContext trig_cxt = NULL;
static TrigRel *trig_rels = NULL;
static LocalTransactionId trig_lxid = InvalidLocalTransactionId;

static void
trig_rels_invalidate(Datum arg, Oid relid)
{
	for (TrigRel *t = trig_rels; t != NULL; t = t->next)
		if (relid == InvalidOid || t->relid == relid || t->owner_relid == relid)
			t->valid = false;
}

static void
trig_rels_namespace_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	trig_rels_invalidate(arg, InvalidOid);
}

static char *
qualified_relname(Relation rel)
{
	return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									  RelationGetRelationName(rel));
}

/* jsonb's key order: shorter first, then bytewise */
static int
trig_key_cmp(const void *a, const void *b, void *arg)
{
	const TrigColumn *cols = arg;
	const TrigColumn *x = &cols[*(const int *) a];
	const TrigColumn *y = &cols[*(const int *) b];

	if (x->namelen != y->namelen)
		return x->namelen < y->namelen ? -1 : 1;
	return memcmp(x->name, y->name, x->namelen);
}

static TrigRel *
trig_rel_build(Relation rel, Trigger *tg)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old = MemoryContextSwitchTo(trig_cxt);
	TrigRel    *t = palloc0(sizeof(TrigRel));
	Bitmapset  *pk;
	int			x = -1;

	t->tgoid = tg->tgoid;
	t->relid = RelationGetRelid(rel);
	t->natts = desc->natts;
	t->cols = palloc0(sizeof(TrigColumn) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		TrigColumn *c = &t->cols[i];
		Oid			outfn;
		bool		isvarlena;

		c->dropped = att->attisdropped;
		if (c->dropped)
			continue;
		c->name = pstrdup(NameStr(att->attname));
		c->namelen = strlen(c->name);
		c->byval = att->attbyval;
		c->len = att->attlen;
		c->base = getBaseType(att->atttypid);
		switch (c->base)
		{
			case BOOLOID:
				c->kind = VK_BOOL;
				break;
			case INT2OID:
			case INT4OID:
			case INT8OID:
			case OIDOID:
				c->kind = VK_INT;
				break;
			case FLOAT4OID:
			case FLOAT8OID:
			case NUMERICOID:
				c->kind = VK_NUMBER;
				break;
			case JSONOID:
			case JSONBOID:
				c->kind = VK_JSON;
				break;
			case TEXTOID:
			case VARCHAROID:
				c->kind = VK_STRING;
				break;
			case UUIDOID:
				c->kind = VK_UUID;
				break;
			default:
				c->kind = VK_TEXT;
		}
		getTypeOutputInfo(att->atttypid, &outfn, &isvarlena);
		fmgr_info_cxt(outfn, &c->out, trig_cxt);
	}
	t->keys = palloc(sizeof(int) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
		if (!t->cols[i].dropped)
			t->keys[t->nkeys++] = i;
	qsort_arg(t->keys, t->nkeys, sizeof(int), trig_key_cmp, t->cols);
	if (tg->tgnargs > 0 && tg->tgargs[0][0] != '\0')
	{
		int			attno = SPI_fnumber(desc, tg->tgargs[0]);

		if (attno > 0 && TupleDescAttr(desc, attno - 1)->atttypid == UUIDOID)
			t->tenant_att = attno;
	}
	if (tg->tgnargs > 1 && tg->tgargs[1][0] != '\0')
	{
		int			attno = SPI_fnumber(desc, tg->tgargs[1]);

		if (attno > 0)
			t->subject_att = attno;
	}
	pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	if (pk != NULL)
	{
		t->pk = palloc(sizeof(AttrNumber) * bms_num_members(pk));
		while ((x = bms_next_member(pk, x)) >= 0)
			t->pk[t->npk++] = x + FirstLowInvalidHeapAttributeNumber;
	}
	t->qname = qualified_relname(rel);
	t->owner = mt_extension_owner();
	t->owner_relid = mt_catalog_relid("isolated_tables");
	MemoryContextSwitchTo(old);
	t->valid = true;
	return t;
}

static TrigRel *
trig_rel(Relation rel, Trigger *tg)
{
	TrigRel    *t;

	if (trig_cxt == NULL)
	{
		trig_cxt = AllocSetContextCreate(CacheMemoryContext, "multitenant audit trigger cache",
										 ALLOCSET_DEFAULT_SIZES);
		mt_register_relcache_callback(trig_rels_invalidate);
		CacheRegisterSyscacheCallback(NAMESPACEOID, trig_rels_namespace_invalidate, (Datum) 0);
	}
	if (trig_lxid != MyProc->lxid)
	{
		trig_rels = NULL;
		MemoryContextReset(trig_cxt);
		trig_lxid = MyProc->lxid;
	}
	for (t = trig_rels; t != NULL; t = t->next)
		if (t->valid && t->tgoid == tg->tgoid && t->relid == RelationGetRelid(rel) &&
			t->natts == RelationGetDescr(rel)->natts)
			return t;
	t = trig_rel_build(rel, tg);
	t->next = trig_rels;
	trig_rels = t;
	return t;
}

/* escape_json()'s output for s: the bytes quoted when none needs escaping */
static void
json_string_text(StringInfo out, const char *s, int len)
{
	for (int i = 0; i < len; i++)
	{
		unsigned char ch = (unsigned char) s[i];

		if (ch < ' ' || ch == '"' || ch == '\\')
		{
			escape_json(out, pnstrdup(s, len));
			return;
		}
	}
	enlargeStringInfo(out, len + 2);
	out->data[out->len++] = '"';
	memcpy(out->data + out->len, s, len);
	out->len += len;
	out->data[out->len++] = '"';
	out->data[out->len] = '\0';
}

static inline void
jv_string(JsonbValue *jv, const char *s, int len)
{
	jv->type = jbvString;
	jv->val.string.val = (char *) s;
	jv->val.string.len = len;
}

static inline void
jv_numeric(JsonbValue *jv, Numeric n)
{
	jv->type = jbvNumeric;
	jv->val.numeric = n;
}

/*
 * An empty object for up to n pairs.  Pairs must be added in jsonb's key
 * order (shorter keys first, then bytewise) with unique keys: the order
 * pushJsonbValue would sort them into, which JsonbValueToJsonb expects.
 */
static void
jv_object(JsonbValue *jv, int n)
{
	jv->type = jbvObject;
	jv->val.object.nPairs = 0;
	jv->val.object.pairs = palloc(sizeof(JsonbPair) * Max(n, 1));
}

static JsonbValue *
jv_add_key(JsonbValue *obj, const char *key, int len)
{
	JsonbPair  *p = &obj->val.object.pairs[obj->val.object.nPairs];

	jv_string(&p->key, key, len);
	p->order = obj->val.object.nPairs++;
	return &p->value;
}

/* the value tree of a jsonb datum (what pushJsonbValue makes of it) */
static void
jv_from_jsonb(JsonbValue *jv, Jsonb *jb)
{
	JsonbParseState *ps = NULL;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	JsonbValue *res = NULL;

	if (JB_ROOT_IS_SCALAR(jb))
	{
		if (!JsonbExtractScalar(&jb->root, jv))
			elog(ERROR, "could not extract a jsonb scalar");
		return;
	}
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
		res = pushJsonbValue(&ps, tok, tok < WJB_BEGIN_ARRAY ? &v : NULL);
	*jv = *res;
}

static int64
int_value(Oid base, Datum v)
{
	switch (base)
	{
		case INT2OID:
			return DatumGetInt16(v);
		case INT4OID:
			return DatumGetInt32(v);
		case OIDOID:
			return DatumGetObjectId(v);
		default:
			return DatumGetInt64(v);
	}
}

static void
append_int_text(StringInfo txt, int64 v)
{
	enlargeStringInfo(txt, MAXINT8LEN + 1);
	txt->len += pg_lltoa(v, txt->data + txt->len);
}

/*
 * One column value, as a jsonb value (jv) and as the text JsonbToCString()
 * prints for it (appended to txt): numbers, booleans and json stay typed;
 * values whose text exceeds MT_AUDIT_MAX_VALUE bytes become
 * {"sha256": hex, "bytes": n}.
 */
static void
row_value(JsonbValue *jv, StringInfo txt, const TrigColumn *c, Datum v, bool isnull)
{
	char	   *out;
	size_t		len;

	if (isnull)
	{
		jv->type = jbvNull;
		appendBinaryStringInfo(txt, "null", 4);
		return;
	}
	switch (c->kind)
	{
		case VK_BOOL:
			jv->type = jbvBool;
			jv->val.boolean = DatumGetBool(v);
			if (jv->val.boolean)
				appendBinaryStringInfo(txt, "true", 4);
			else
				appendBinaryStringInfo(txt, "false", 5);
			return;
		case VK_INT:
			{
				int64		i = int_value(c->base, v);

				/* numeric_out of an integral numeric: its decimal digits */
				jv_numeric(jv, int64_to_numeric(i));
				append_int_text(txt, i);
			}
			return;
		case VK_STRING:
			{
				text	   *t = DatumGetTextPP(v);

				out = VARDATA_ANY(t);
				len = VARSIZE_ANY_EXHDR(t);
			}
			break;
		case VK_UUID:
			out = palloc(UUID_LEN * 2 + 5);
			uuid_text(DatumGetUUIDP(v), out);
			len = UUID_LEN * 2 + 4;
			break;
		default:
			out = OutputFunctionCall((FmgrInfo *) &c->out, v);
			len = strlen(out);
	}
	if (len > MT_AUDIT_MAX_VALUE)
	{
		uint8		h[MT_SHA256_LEN];

		char	   *hex;

		sha256(out, len, h);
		hex = hex_text(h, MT_SHA256_LEN);
		jv_object(jv, 2);
		jv_numeric(jv_add_key(jv, "bytes", 5), int64_to_numeric((int64) len));
		jv_string(jv_add_key(jv, "sha256", 6), hex, MT_SHA256_LEN * 2);
		appendBinaryStringInfo(txt, "{\"bytes\": ", 10);
		append_int_text(txt, (int64) len);
		appendStringInfo(txt, ", \"sha256\": \"%s\"}", hex);
	}
	else if (c->kind == VK_NUMBER && looks_like_json_number(out))
	{
		Datum		num = DirectFunctionCall3(numeric_in, CStringGetDatum(out),
											  ObjectIdGetDatum(InvalidOid),
											  Int32GetDatum(-1));

		jv_numeric(jv, DatumGetNumeric(num));
		appendStringInfoString(txt, DatumGetCString(DirectFunctionCall1(numeric_out, num)));
	}
	else if (c->kind == VK_JSON)
	{
		Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(out)));

		jv_from_jsonb(jv, jb);
		(void) JsonbToCString(txt, &jb->root, VARSIZE(jb));
	}
	else
	{
		jv_string(jv, out, (int) len);
		json_string_text(txt, out, (int) len);
	}
}

/*
 * {"col": value, ...} of a row image, as a jsonb value and as its text;
 * only changed columns when ov != NULL
 */
static void
row_image(JsonbValue *obj, StringInfo txt, const TrigRel *t, const Datum *v, const bool *n,
		  const Datum *ov, const bool *on)
{
	jv_object(obj, t->nkeys);
	appendStringInfoChar(txt, '{');
	for (int k = 0; k < t->nkeys; k++)
	{
		int			i = t->keys[k];
		const TrigColumn *c = &t->cols[i];

		if (ov != NULL)
		{
			if (n[i] && on[i])
				continue;
			if (!n[i] && !on[i] && datum_image_eq(v[i], ov[i], c->byval, c->len))
				continue;
		}
		if (obj->val.object.nPairs > 0)
			appendBinaryStringInfo(txt, ", ", 2);
		json_string_text(txt, c->name, c->namelen);
		appendBinaryStringInfo(txt, ": ", 2);
		row_value(jv_add_key(obj, c->name, c->namelen), txt, c, v[i], n[i]);
	}
	appendStringInfoChar(txt, '}');
}

/* primary-key values joined by ',' (NULL without a primary key) */
static char *
primary_key_text(const TrigRel *t, const Datum *v, const bool *n)
{
	StringInfoData s;

	if (t->npk == 0)
		return NULL;
	initStringInfo(&s);
	for (int i = 0; i < t->npk; i++)
	{
		int			a = t->pk[i] - 1;

		if (i > 0)
			appendStringInfoChar(&s, ',');
		if (n[a])
			continue;
		/* what int2/4/8out, oidout, uuid_out and textout print, without a call */
		switch (t->cols[a].kind)
		{
			case VK_INT:
				append_int_text(&s, int_value(t->cols[a].base, v[a]));
				break;
			case VK_UUID:
				enlargeStringInfo(&s, UUID_LEN * 2 + 5);
				uuid_text(DatumGetUUIDP(v[a]), s.data + s.len);
				s.len += UUID_LEN * 2 + 4;
				break;
			case VK_STRING:
				{
					text	   *txt = DatumGetTextPP(v[a]);

					appendBinaryStringInfo(&s, VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt));
				}
				break;
			default:
				appendStringInfoString(&s, OutputFunctionCall((FmgrInfo *) &t->cols[a].out, v[a]));
		}
	}
	return s.data;
}

/* the uuid of a tenant column value; false when NULL */
static bool
row_tenant_of(const Datum *v, const bool *n, int attno, pg_uuid_t *out)
{
	if (n[attno - 1])
		return false;
	memcpy(out, DatumGetUUIDP(v[attno - 1]), sizeof(pg_uuid_t));
	return true;
}

/*
 * A row change goes into the row's tenant chain only when the writer (the
 * current user of the audited statement) is inside that tenant's verified
 * context, or may write any tenant's rows anyway (superuser, BYPASSRLS).
 * Otherwise a table owner could forge events into, and take the chain lock
 * of, any tenant by writing its uuid into the tenant column.  Checked
 * before anything is locked or written.
 */
static void
require_writer_tenant(const pg_uuid_t *row_tenant, Relation rel)
{
	const pg_uuid_t *ctx = mt_context_row_tenant();
	Oid			writer = GetUserId();

	if (ctx != NULL && memcmp(ctx, row_tenant, sizeof(pg_uuid_t)) == 0)
		return;
	if (superuser_arg(writer) || has_bypassrls_privilege(writer))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot audit a change of a row of another tenant in %s", qualified_relname(rel)),
			 errdetail(ctx == NULL ?
					   "The row's tenant column names a tenant, and there is no tenant context." :
					   "The row's tenant column names another tenant than the current tenant context."),
			 errhint("Row changes are recorded in the row's tenant chain only inside that tenant's context.")));
}

/*
 * mt.audit_row_change(tenant_column, subject_column): AFTER ROW trigger
 * (INSERT/UPDATE/DELETE) and AFTER STATEMENT trigger (TRUNCATE) that
 * records the change in the row's tenant chain.  Empty arguments: no such
 * column (the context's tenant; no subject encryption).  Runs as the
 * writer (not SECURITY DEFINER): the row's tenant must be the writer's
 * verified context (require_writer_tenant); the append itself runs as the
 * extension owner (append_events_as_owner).
 */
PG_FUNCTION_INFO_V1(mt_audit_row_change);
Datum
mt_audit_row_change(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TrigRel    *t;
	HeapTuple	oldt = NULL;
	HeapTuple	newt = NULL;
	Datum	   *ov = NULL;
	Datum	   *nv = NULL;
	bool	   *on = NULL;
	bool	   *nn = NULL;
	Datum	   *rv;
	bool	   *rn;
	const char *action;
	const pg_uuid_t *tenant = NULL;
	pg_uuid_t	row_tenant;
	char	   *subject = NULL;
	JsonbValue	details;
	AuditEvent	ev;
	StringInfoData dtext;

	mt_require_coordinator("mt.audit_row_change()");
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.audit_row_change() must be called as a trigger")));
	rel = td->tg_relation;

	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		AuditEvent	ev = audit_event("TRUNCATE", qualified_relname(rel), NULL, NULL, NULL);

		(void) append_events_as_owner(audit_owner(), mt_context_row_tenant(), 1, &ev, NULL);
		return PointerGetDatum(NULL);
	}
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_AFTER(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.audit_row_change() must fire AFTER ... FOR EACH ROW"),
				 errhint("Use mt.audit_table() to install it.")));

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		action = "INSERT";
		newt = td->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		action = "DELETE";
		oldt = td->tg_trigtuple;
	}
	else
	{
		action = "UPDATE";
		oldt = td->tg_trigtuple;
		newt = td->tg_newtuple;
	}

	t = trig_rel(rel, td->tg_trigger);
	if (oldt != NULL)
	{
		ov = palloc(sizeof(Datum) * t->natts);
		on = palloc(sizeof(bool) * t->natts);
		heap_deform_tuple(oldt, RelationGetDescr(rel), ov, on);
	}
	if (newt != NULL)
	{
		nv = palloc(sizeof(Datum) * t->natts);
		nn = palloc(sizeof(bool) * t->natts);
		heap_deform_tuple(newt, RelationGetDescr(rel), nv, nn);
	}
	rv = nv ? nv : ov;
	rn = nv ? nn : on;

	if (t->tenant_att > 0)
	{
		if (row_tenant_of(rv, rn, t->tenant_att, &row_tenant))
			tenant = &row_tenant;
		/* the old image of an UPDATE must belong to the same writer */
		if (oldt != NULL && newt != NULL)
		{
			pg_uuid_t	old_tenant;

			if (row_tenant_of(ov, on, t->tenant_att, &old_tenant))
				require_writer_tenant(&old_tenant, rel);
		}
	}
	if (tenant != NULL)
		require_writer_tenant(tenant, rel);
	else
		tenant = mt_context_row_tenant();
	if (t->subject_att > 0 && !rn[t->subject_att - 1])
	{
		subject = OutputFunctionCall(&t->cols[t->subject_att - 1].out, rv[t->subject_att - 1]);
		if (subject[0] == '\0')
			subject = NULL;
	}

	/*
	 * {"new": ..., "old": ...}, keys in jsonb's order; dtext gets the text
	 * JsonbToCString() prints for it, which is what is hashed
	 */
	jv_object(&details, 2);
	initStringInfo(&dtext);
	appendStringInfoChar(&dtext, '{');
	if (newt != NULL)
	{
		appendBinaryStringInfo(&dtext, "\"new\": ", 7);
		row_image(jv_add_key(&details, "new", 3), &dtext, t, nv, nn, ov, on);
	}
	if (oldt != NULL)
	{
		appendBinaryStringInfo(&dtext, newt != NULL ? ", \"old\": " : "\"old\": ", newt != NULL ? 9 : 7);
		row_image(jv_add_key(&details, "old", 3), &dtext, t, ov, on, nv, nn);
	}
	appendStringInfoChar(&dtext, '}');

	ev = audit_event(action, t->qname, primary_key_text(t, rv, rn), JsonbValueToJsonb(&details), &dtext);
	(void) append_events_as_owner(t->owner, tenant, 1, &ev, subject);
	return PointerGetDatum(NULL);
}

static void
require_trigger_privilege(Oid relid)
{
	if (pg_class_aclcheck(relid, GetOuterUserId(), ACL_TRIGGER) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to audit table %s", get_rel_name(relid)),
				 errdetail("Auditing a table requires the TRIGGER privilege on it.")));
}

/* drops our triggers from a table; returns whether any existed */
static bool
drop_audit_triggers(Oid relid, const char *qname)
{
	static const char *const names[] = {"mt_audit_row_change", "mt_audit_truncate"};
	bool		any = false;

	for (int i = 0; i < lengthof(names); i++)
	{
		Datum		args[2] = {ObjectIdGetDatum(relid), CStringGetTextDatum(names[i])};
		bool		isnull;

		(void) mt_spi_value("SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = $1 AND tgname = $2",
							2, (Oid[]) {OIDOID, TEXTOID}, args, false, &isnull);
		if (isnull)
			continue;
		any = true;
		mt_spi_execute(psprintf("DROP TRIGGER %s ON %s", names[i], qname), 0, NULL, NULL, SPI_OK_UTILITY);
	}
	return any;
}

/* mt.audit_table(tbl regclass, tenant_column name, subject_column name) */
PG_FUNCTION_INFO_V1(mt_audit_table);
Datum
mt_audit_table(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char		kind;
	const char *tenant_col = NULL;
	const char *subject_col = NULL;
	char	   *qname;
	char	   *targs;
	const char *pairs[4];

	mt_require_writable("mt.audit_table()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "table");
	relid = PG_GETARG_OID(0);
	qname = mt_relation_name(relid);	/* 42P01 when there is no such relation */
	kind = get_rel_relkind(relid);
	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid))));
	require_trigger_privilege(relid);
	{
		Oid			nsp = get_namespace_oid("mt", true);
		const char *name = get_rel_name(relid);

		if (get_rel_namespace(relid) == nsp && strncmp(name, "audit_", 6) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the audit tables cannot be audited by row triggers")));
	}
	if (!PG_ARGISNULL(1))
	{
		AttrNumber	att;

		tenant_col = NameStr(*PG_GETARG_NAME(1));
		att = get_attnum(relid, tenant_col);
		if (att == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table \"%s\" does not exist", tenant_col, get_rel_name(relid)),
					 errhint("Pass tenant_column => NULL to record changes in the current context's chain.")));
		if (get_atttype(relid, att) != UUIDOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("tenant column \"%s\" must be of type uuid", tenant_col)));
	}
	if (tenant_col != NULL)
	{
		Datum		arg = ObjectIdGetDatum(relid);
		bool		isnull;
		char	   *iso_col;

		mt_spi_connect();
		iso_col = mt_spi_text("SELECT tenant_column::pg_catalog.text FROM mt.isolated_tables "
							  "WHERE tbl OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, (Oid[]) {OIDOID}, &arg, &isnull);
		if (iso_col != NULL)
			iso_col = MemoryContextStrdup(TopTransactionContext, iso_col);
		mt_spi_finish();
		if (iso_col == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" is not isolated", get_rel_name(relid)),
					 errdetail("Changes are recorded in the chain named by a tenant column only for tables that mt.enable_isolation() protects: elsewhere the column's values are not confined to the writer's tenant."),
					 errhint("Call mt.enable_isolation() first, or pass tenant_column => NULL to record changes in the writer's context chain.")));
		if (strcmp(iso_col, tenant_col) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" is not the tenant column of table \"%s\"", tenant_col, get_rel_name(relid)),
					 errdetail("The table is isolated by column \"%s\".", iso_col),
					 errhint("Pass tenant_column => '%s'.", iso_col)));
	}
	if (!PG_ARGISNULL(2))
	{
		subject_col = NameStr(*PG_GETARG_NAME(2));
		if (get_attnum(relid, subject_col) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table \"%s\" does not exist", subject_col, get_rel_name(relid))));
	}

	targs = psprintf("%s, %s", quote_literal_cstr(tenant_col ? tenant_col : ""),
					 quote_literal_cstr(subject_col ? subject_col : ""));
	mt_spi_connect();
	(void) drop_audit_triggers(relid, qname);
	mt_spi_execute(psprintf("CREATE TRIGGER mt_audit_row_change AFTER INSERT OR UPDATE OR DELETE ON %s "
							"FOR EACH ROW EXECUTE FUNCTION mt.audit_row_change(%s)", qname, targs),
				   0, NULL, NULL, SPI_OK_UTILITY);
	mt_spi_execute(psprintf("CREATE TRIGGER mt_audit_truncate AFTER TRUNCATE ON %s "
							"FOR EACH STATEMENT EXECUTE FUNCTION mt.audit_row_change(%s)", qname, targs),
				   0, NULL, NULL, SPI_OK_UTILITY);
	mt_spi_finish();

	pairs[0] = "tenant_column";
	pairs[1] = tenant_col;
	pairs[2] = "subject_column";
	pairs[3] = subject_col;
	mt_audit_record(NULL, "audit.table_enabled", "table", qname, 2, pairs);
	PG_RETURN_VOID();
}

/* mt.audit_untable(tbl regclass) → whether the table was audited */
PG_FUNCTION_INFO_V1(mt_audit_untable);
Datum
mt_audit_untable(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *qname;
	bool		existed;

	mt_require_writable("mt.audit_untable()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "table");
	relid = PG_GETARG_OID(0);
	qname = mt_relation_name(relid);
	require_trigger_privilege(relid);
	mt_spi_connect();
	existed = drop_audit_triggers(relid, qname);
	mt_spi_finish();
	if (existed)
		mt_audit_record(NULL, "audit.table_disabled", "table", qname, 0, NULL);
	PG_RETURN_BOOL(existed);
}

/* ---------------------------------------------------------------------
 * Search
 * --------------------------------------------------------------------- */

/* details as the reader sees them: plaintext, decrypted, shredded, undecryptable */
typedef struct KeyCache
{
	int64		key_id;
	MtAuditKeyState state;
	uint8		key[MT_AUDIT_KEY_LEN];
} KeyCache;

/*
 * The chain position (seq) of event id of tenant's chain, for the search
 * cursor: *found false when the chain has no such event, *isnull when it
 * is not sealed yet.  mt.audit_log has no index on id (0.7.0), and
 * "id = $1 AND tenant_id = $2" read the whole chain through the chain
 * index on every page.  An unsealed event is found through
 * audit_log_unsealed (tenant_id, id); a sealed one by a binary search over
 * the chain index (ids grow with seq in a chain), a few probes.  Only
 * events of overlapping transactions may be sealed out of id order: when
 * the search misses (that, a pruned row, an id of another chain), the
 * chain is read as before.  SPI connected; the statement's snapshot.
 */
static Datum
cursor_position(const pg_uuid_t *tenant, int64 id, bool *found, bool *isnull)
{
	Datum		args[2] = {Int64GetDatum(id), UUIDPGetDatum((pg_uuid_t *) tenant)};
	SPIPlanPtr	probe;
	Datum		s;
	bool		null;
	int64		lo,
				hi;
	int			rc;

	/* unsealed: the sealer's work list has (tenant_id, id) */
	(void) mt_spi_value("SELECT 1 FROM mt.audit_log WHERE tenant_id = $2 AND id = $1 AND seq IS NULL",
						2, (Oid[]) {INT8OID, UUIDOID}, args, true, &null);
	if (!null)
	{
		*found = true;
		*isnull = true;
		return (Datum) 0;
	}

	/* sealed: the largest position whose id is at most id */
	rc = SPI_execute_with_args("SELECT min(seq), max(seq) FROM mt.audit_log WHERE tenant_id = $1",
							   1, (Oid[]) {UUIDOID}, &args[1], NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		mt_spi_failed("audit cursor lookup", rc);
	lo = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null));
	if (!null)
	{
		hi = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &null));
		probe = SPI_prepare("SELECT id FROM mt.audit_log WHERE tenant_id = $1 AND seq = $2",
							2, (Oid[]) {UUIDOID, INT8OID});
		if (probe == NULL)
			mt_spi_failed("audit cursor lookup", SPI_result);
		while (lo <= hi)
		{
			int64		mid = lo + (hi - lo) / 2;
			Datum		pargs[2] = {args[1], Int64GetDatum(mid)};
			int64		mid_id;

			CHECK_FOR_INTERRUPTS();
			rc = SPI_execute_plan(probe, pargs, NULL, true, 1);
			if (rc != SPI_OK_SELECT)
				mt_spi_failed("audit cursor lookup", rc);
			if (SPI_processed == 0)
				break;			/* a gap: read the chain below */
			mid_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null));
			if (mid_id == id)
			{
				SPI_freeplan(probe);
				*found = true;
				*isnull = false;
				return Int64GetDatum(mid);
			}
			if (mid_id < id)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		SPI_freeplan(probe);
	}

	/* not where the ids say: read the chain */
	s = mt_spi_value("SELECT seq FROM mt.audit_log WHERE id = $1 AND tenant_id = $2 AND seq IS NOT NULL",
					 2, (Oid[]) {INT8OID, UUIDOID}, args, true, isnull);
	*found = SPI_processed > 0;
	return s;
}

/*
 * One query of audit_search(): the filters ($1..$8) plus tail (cursor,
 * order, LIMIT $10); the rows go to the result with their details
 * decrypted where the key still exists.  Returns the rows added.
 */
static uint64
search_part(ReturnSetInfo *rsinfo, KeyCache *kc, const char *tail, Oid *types,
			Datum *v, char *nulls)
{
	StringInfoData q;
	uint64		nrows;

	initStringInfo(&q);
	appendStringInfoString(&q,
						   "SELECT id, tenant_id, seq, at, actor, action, resource_type, resource_id, "
						   "details, details_key_id, details_enc, client_addr, db_user "
						   "FROM mt.audit_log WHERE ($1::uuid IS NULL OR tenant_id = $1) "
						   "AND ($2::timestamptz IS NULL OR at >= $2) "
						   "AND ($3::timestamptz IS NULL OR at < $3) "
						   "AND ($4::text IS NULL OR action = $4) "
						   "AND ($5::text IS NULL OR actor = $5) "
						   "AND ($6::text IS NULL OR resource_type = $6) "
						   "AND ($7::text IS NULL OR resource_id = $7) "
						   "AND ($8::bigint IS NULL OR details_key_id = $8) ");
	appendStringInfoString(&q, tail);
	if (SPI_execute_with_args(q.data, 11, types, v, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "multitenant: audit search failed");
	nrows = SPI_processed;
	{
		SPITupleTable *tt = SPI_tuptable;

		for (uint64 i = 0; i < nrows; i++)
		{
			HeapTuple	tup = tt->vals[i];
			Datum		out[12];
			bool		onull[12];
			bool		isnull;
			int			c;

			for (c = 0; c < 8; c++)
				out[c] = SPI_getbinval(tup, tt->tupdesc, c + 1, &onull[c]);
			out[8] = SPI_getbinval(tup, tt->tupdesc, 9, &onull[8]);
			onull[9] = false;
			if (!onull[8])
				out[9] = CStringGetTextDatum("plain");
			else
			{
				Datum		kid = SPI_getbinval(tup, tt->tupdesc, 10, &isnull);

				if (isnull)
					onull[9] = true;
				else
				{
					int64		id = DatumGetInt64(kid);
					bytea	   *enc = DatumGetByteaPP(SPI_getbinval(tup, tt->tupdesc, 11, &isnull));
					char	   *plain;
					int			plen;

					if (kc->key_id != id)
					{
						kc->key_id = id;
						kc->state = mt_audit_key_by_id(id, kc->key);
					}
					if (kc->state == MT_AUDIT_KEY_DESTROYED)
						out[9] = CStringGetTextDatum("shredded");
					else if (kc->state == MT_AUDIT_KEY_SEALED)
						out[9] = CStringGetTextDatum("undecryptable");
					else if ((plain = mt_audit_decrypt(kc->key, (uint8 *) VARDATA_ANY(enc),
													   VARSIZE_ANY_EXHDR(enc), &plen)) == NULL)
						out[9] = CStringGetTextDatum("undecryptable");
					else
					{
						out[8] = PointerGetDatum(jsonb_from_text(plain));
						onull[8] = false;
						mt_wipe(plain, plen);
						out[9] = CStringGetTextDatum("decrypted");
					}
				}
			}
			out[10] = SPI_getbinval(tup, tt->tupdesc, 12, &onull[10]);
			out[11] = SPI_getbinval(tup, tt->tupdesc, 13, &onull[11]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, onull);
		}
	}
	pfree(q.data);
	return nrows;
}

/*
 * Shared body of mt.audit_search() and mt.audit_search_tenant().  tenant
 * NULL: every chain.  a points at the first filter argument.
 */
static void
audit_search(FunctionCallInfo fcinfo, const pg_uuid_t *tenant, int a)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		newest_first = PG_ARGISNULL(a + 9) ? false : PG_GETARG_BOOL(a + 9);
	int32		max_rows = PG_ARGISNULL(a + 8) ? 100 : PG_GETARG_INT32(a + 8);
	char	   *subject = opt_text(fcinfo, a + 6);
	Datum		v[11];
	char		nulls[11];
	Oid			types[11] = {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, INT8OID, INT8OID, INT4OID, INT8OID};
	KeyCache	kc;
	int64		key_id = -1;
	uint64		emitted;

	if (max_rows < 1 || max_rows > MT_AUDIT_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be between 1 and %d", MT_AUDIT_MAX_ROWS)));
	if (subject != NULL && tenant == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("searching by subject needs a tenant"),
				 errdetail("Subject keys are per tenant.")));
	InitMaterializedSRF(fcinfo, 0);
	memset(nulls, ' ', sizeof(nulls));
	memset(&kc, 0, sizeof(kc));
	kc.key_id = -1;

	mt_spi_connect();
	if (subject != NULL)
	{
		/*
		 * The subject's key is found by a hash keyed by the server secret:
		 * under another secret (a restore without the secret file) its rows
		 * cannot be identified.  Say so rather than answer "none" silently.
		 */
		if (mt_audit_tenant_keys_sealed(tenant))
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("the audit search by subject may be incomplete"),
					 errdetail("Subject keys of this tenant cannot be unwrapped with the current server secret, so events of the subject written under another secret cannot be identified."),
					 errhint("Start the server with the multitenant.secret file the keys were created with (doc/operations.md, \"The server secret\").")));
		key_id = mt_audit_subject_key_id(tenant, subject);
		if (key_id < 0)
		{
			mt_spi_finish();
			return;				/* nothing is encrypted for this subject */
		}
	}

	if (tenant)
		v[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	else
		nulls[0] = 'n';
	for (int i = 0; i < 6; i++)
	{
		if (PG_ARGISNULL(a + i))
			nulls[1 + i] = 'n';
		else
			v[1 + i] = PG_GETARG_DATUM(a + i);
	}
	if (key_id >= 0)
		v[7] = Int64GetDatum(key_id);
	else
		nulls[7] = 'n';
	v[9] = Int32GetDatum(max_rows);

	/*
	 * The cursor: after_id, turned into a chain position for one tenant
	 * ($9), or kept as an id ($11) when that row is not sealed yet (the
	 * unsealed rows come after the sealed ones, in id order).
	 */
	nulls[8] = 'n';
	nulls[10] = 'n';
	if (!PG_ARGISNULL(a + 7))
	{
		int64		after_id = PG_GETARG_INT64(a + 7);

		if (tenant == NULL)
		{
			v[8] = Int64GetDatum(after_id);
			nulls[8] = ' ';
		}
		else
		{
			Datum		cargs[2] = {Int64GetDatum(after_id), UUIDPGetDatum((pg_uuid_t *) tenant)};
			bool		isnull;
			Datum		s;

			bool		found;

			s = cursor_position(tenant, after_id, &found, &isnull);
			if (found && isnull)
			{
				v[10] = Int64GetDatum(after_id);
				nulls[10] = ' ';
			}
			else if (isnull)
			{
				/* the cursor row was pruned: ids grow with seq in a chain */
				s = mt_spi_value("SELECT coalesce(max(seq), 0) FROM mt.audit_log "
								 "WHERE tenant_id = $2 AND id < $1 AND seq IS NOT NULL",
								 2, (Oid[]) {INT8OID, UUIDOID}, cargs, true, &isnull);
				if (newest_first)
					s = Int64GetDatum(DatumGetInt64(s) + 1);
			}
			if (nulls[10] == 'n')
			{
				v[8] = s;
				nulls[8] = ' ';
			}
		}
	}

	/*
	 * One tenant: its sealed rows in chain order through audit_log_chain,
	 * then its unsealed ones in id order through audit_log_unsealed (both
	 * partial indexes, 0.8.0), reversed for newest_first; two queries, one
	 * snapshot (the statement's).  A cursor on a sealed row ($9) leaves
	 * every unsealed row after it (none before it, newest first); on an
	 * unsealed row ($11), no sealed row after it (all, newest first).
	 * Every chain: in id order.
	 */
	if (tenant)
	{
		const char *sealed = newest_first
			? "AND seq IS NOT NULL AND ($9::bigint IS NULL OR seq < $9) "
			"ORDER BY seq DESC LIMIT $10"
			: "AND seq IS NOT NULL AND ($9::bigint IS NULL OR seq > $9) "
			"AND $11::bigint IS NULL ORDER BY seq LIMIT $10";
		const char *unsealed = newest_first
			? "AND seq IS NULL AND $9::bigint IS NULL AND ($11::bigint IS NULL OR id < $11) "
			"ORDER BY id DESC LIMIT $10"
			: "AND seq IS NULL AND ($11::bigint IS NULL OR id > $11) ORDER BY id LIMIT $10";

		emitted = search_part(rsinfo, &kc, newest_first ? unsealed : sealed, types, v, nulls);
		if (emitted < max_rows)
		{
			v[9] = Int32GetDatum(max_rows - (int32) emitted);
			(void) search_part(rsinfo, &kc, newest_first ? sealed : unsealed, types, v, nulls);
		}
	}
	else
		(void) search_part(rsinfo, &kc, newest_first
						   ? "AND ($9::bigint IS NULL OR id < $9) ORDER BY id DESC LIMIT $10"
						   : "AND ($9::bigint IS NULL OR id > $9) ORDER BY id LIMIT $10",
						   types, v, nulls);
	mt_wipe(kc.key, sizeof(kc.key));
	mt_spi_finish();
}

/* mt.audit_search(from_time, to_time, action, actor, resource_type, resource_id,
 *				   subject, after_id, max_rows, newest_first): the current tenant */
PG_FUNCTION_INFO_V1(mt_audit_search);
Datum
mt_audit_search(PG_FUNCTION_ARGS)
{
	mt_require_coordinator("mt.audit_search()");
	audit_search(fcinfo, mt_require_context_tenant(), 0);
	return (Datum) 0;
}

/* mt.audit_search_tenant(tenant, ...): any tenant, or all (NULL); privileged */
PG_FUNCTION_INFO_V1(mt_audit_search_tenant);
Datum
mt_audit_search_tenant(PG_FUNCTION_ARGS)
{
	mt_require_coordinator("mt.audit_search()");
	audit_search(fcinfo, PG_ARGISNULL(0) ? NULL : PG_GETARG_UUID_P(0), 1);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Export as JSON lines
 * --------------------------------------------------------------------- */
static void
append_base64(StringInfo s, const uint8 *p, int len)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int			i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = (uint32) p[i] << 16 | (uint32) p[i + 1] << 8 | p[i + 2];

		appendStringInfoChar(s, tbl[(v >> 18) & 63]);
		appendStringInfoChar(s, tbl[(v >> 12) & 63]);
		appendStringInfoChar(s, tbl[(v >> 6) & 63]);
		appendStringInfoChar(s, tbl[v & 63]);
	}
	if (i < len)
	{
		uint32		v = (uint32) p[i] << 16 | (i + 1 < len ? (uint32) p[i + 1] << 8 : 0);

		appendStringInfoChar(s, tbl[(v >> 18) & 63]);
		appendStringInfoChar(s, tbl[(v >> 12) & 63]);
		appendStringInfoChar(s, i + 1 < len ? tbl[(v >> 6) & 63] : '=');
		appendStringInfoChar(s, '=');
	}
}

static void
json_key(StringInfo s, const char *key)
{
	appendStringInfo(s, ",\"%s\":", key);
}

static void
json_field(StringInfo s, const char *key, AField f)
{
	json_key(s, key);
	if (f.p == NULL)
		appendStringInfoString(s, "null");
	else
		escape_json(s, pnstrdup(f.p, f.len));
}

/* ISO 8601 UTC with 6 fractional digits: 2024-05-01T12:34:56.123456Z */
static void
json_timestamp(StringInfo s, TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	appendStringInfo(s, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

static void
export_line(ReturnSetInfo *rsinfo, const char *line)
{
	Datum		v = CStringGetTextDatum(line);
	bool		n = false;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &n);
}

static void
export_chain(ReturnSetInfo *rsinfo, const AuditRels *rels, Snapshot snap,
			 const pg_uuid_t *tenant, int64 after_seq, MemoryContext rowcxt)
{
	int64		base_seq;
	uint8		base_hash[MT_SHA256_LEN];
	ChainScan  *cs;
	StringInfoData s;
	StringInfoData dbuf;
	char		u[40];

	chain_base(rels, snap, tenant, &base_seq, base_hash);
	if (after_seq > base_seq)
	{
		bool		found = false;

		cs = chain_scan_begin(rels, snap, tenant, after_seq - 1, ForwardScanDirection);
		if (chain_scan_next(cs))
		{
			bool		isnull;
			bytea	   *h;

			if (DatumGetInt64(slot_getattr(cs->slot, A_SEQ, &isnull)) == after_seq)
			{
				h = DatumGetByteaPP(slot_getattr(cs->slot, A_HASH, &isnull));
				if (VARSIZE_ANY_EXHDR(h) == MT_SHA256_LEN)
				{
					memcpy(base_hash, VARDATA_ANY(h), MT_SHA256_LEN);
					found = true;
				}
			}
		}
		chain_scan_end(cs);
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("audit chain %s has no row at seq " INT64_FORMAT,
							mt_uuid_to_cstring(tenant), after_seq)));
		base_seq = after_seq;
	}

	uuid_text(tenant, u);
	initStringInfo(&s);
	appendStringInfo(&s, "{\"format\":\"mt.audit.v1\",\"tenant_id\":\"%s\",\"base_seq\":" INT64_FORMAT
					 ",\"base_hash\":\"%s\"}", u, base_seq, hex_text(base_hash, MT_SHA256_LEN));
	export_line(rsinfo, s.data);

	initStringInfo(&dbuf);
	cs = chain_scan_begin(rels, snap, tenant, base_seq, ForwardScanDirection);
	while (chain_scan_next(cs))
	{
		AuditRow	r;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(rowcxt);
		old = MemoryContextSwitchTo(rowcxt);
		audit_row_from_slot(cs->slot, &r, &dbuf);
		initStringInfo(&s);
		uuid_text(&r.tenant, u);
		appendStringInfo(&s, "{\"id\":" INT64_FORMAT ",\"tenant_id\":\"%s\",\"seq\":" INT64_FORMAT,
						 r.id, u, r.seq);
		json_key(&s, "at");
		json_timestamp(&s, r.at);
		json_field(&s, "actor", r.actor);
		json_field(&s, "action", r.action);
		json_field(&s, "resource_type", r.resource_type);
		json_field(&s, "resource_id", r.resource_id);
		json_field(&s, "details", r.details);
		json_key(&s, "details_key_id");
		if (r.has_key_id)
			appendStringInfo(&s, INT64_FORMAT, r.details_key_id);
		else
			appendStringInfoString(&s, "null");
		json_key(&s, "details_enc");
		if (r.details_enc.p)
		{
			appendStringInfoChar(&s, '"');
			append_base64(&s, (const uint8 *) r.details_enc.p, r.details_enc.len);
			appendStringInfoChar(&s, '"');
		}
		else
			appendStringInfoString(&s, "null");
		json_field(&s, "client_addr", r.client_addr);
		json_field(&s, "db_user", r.db_user);
		appendStringInfo(&s, ",\"prev_hash\":\"%s\",\"hash\":\"%s\"}",
						 hex_text(r.prev_hash, MT_SHA256_LEN), hex_text(r.hash, MT_SHA256_LEN));
		MemoryContextSwitchTo(old);
		export_line(rsinfo, s.data);
	}
	chain_scan_end(cs);
}

static void
audit_export(FunctionCallInfo fcinfo, const pg_uuid_t *tenant, int after_arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		after_seq = PG_ARGISNULL(after_arg) ? 0 : PG_GETARG_INT64(after_arg);
	AuditRels	rels;
	Snapshot	snap;
	MemoryContext rowcxt;
	List	   *tenants;
	ListCell   *lc;

	if (after_seq < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after_seq must not be negative")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	audit_rels(&rels);
	snap = GetActiveSnapshot();
	if (tenant)
	{
		pg_uuid_t  *t = palloc(sizeof(pg_uuid_t));

		*t = *tenant;
		tenants = list_make1(t);
	}
	else
		tenants = chain_tenants(&rels, snap);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "audit export rows", ALLOCSET_DEFAULT_SIZES);
	foreach(lc, tenants)
		export_chain(rsinfo, &rels, snap, lfirst(lc), tenant ? after_seq : 0, rowcxt);
	MemoryContextDelete(rowcxt);
}

/* mt.audit_export(after_seq bigint DEFAULT 0): the current tenant's chain */
PG_FUNCTION_INFO_V1(mt_audit_export);
Datum
mt_audit_export(PG_FUNCTION_ARGS)
{
	mt_require_coordinator("mt.audit_export()");
	audit_export(fcinfo, mt_require_context_tenant(), 0);
	return (Datum) 0;
}

/* mt.audit_export_tenant(tenant uuid DEFAULT NULL, after_seq bigint DEFAULT 0) */
PG_FUNCTION_INFO_V1(mt_audit_export_tenant);
Datum
mt_audit_export_tenant(PG_FUNCTION_ARGS)
{
	mt_require_coordinator("mt.audit_export()");
	audit_export(fcinfo, PG_ARGISNULL(0) ? NULL : PG_GETARG_UUID_P(0), 1);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Crypto-shredding
 * --------------------------------------------------------------------- */
int64
mt_audit_forget_subject_keys(const pg_uuid_t *tenant, const char *subject)
{
	int64		n;
	char	   *details;

	mt_require_writable("mt.audit_forget_subject()", MT_WRITES_TABLES);
	check_length("subject", subject, MT_AUDIT_MAX_SUBJECT, true);
	if (tenant == NULL)
		tenant = &mt_audit_nil_tenant;
	lock_subject_keys(tenant);
	mt_spi_connect();
	n = mt_audit_delete_subject_keys(tenant, subject);
	mt_spi_finish();
	details = psprintf("{\"keys_destroyed\": " INT64_FORMAT "}", n);
	mt_audit_append(tenant, "audit.subject_forgotten", "subject", NULL, jsonb_from_text(details), NULL);
	return n;
}

/* mt.audit_forget_subject(subject text, tenant uuid DEFAULT NULL) */
PG_FUNCTION_INFO_V1(mt_audit_forget_subject);
Datum
mt_audit_forget_subject(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant;

	mt_require_writable("mt.audit_forget_subject()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.audit_forget_subject()");
	mt_require_args(fcinfo, 1, "audit subject");
	tenant = PG_ARGISNULL(1) ? mt_context_tenant() : PG_GETARG_UUID_P(1);
	PG_RETURN_INT64(mt_audit_forget_subject_keys(tenant, text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
