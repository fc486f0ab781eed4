/*-------------------------------------------------------------------------
 *
 * api_keys.c
 *	  API keys: the key format (prefix, public key id, secret, CRC32),
 *	  generation, keyed-hash storage, verification, mt.authenticate(),
 *	  revocation and rotation, scopes of the authenticated key, last-use
 *	  times and client networks (IPv4 /24, IPv6 /48 of multitenant.client_addr
 *	  or the connection's address) kept in shared memory and flushed in
 *	  batches into mt.api_key_secrets and mt.api_key_networks (not noted on
 *	  a hot standby, which keeps nothing of a verification but its own
 *	  throttle), the brute-force throttle, and the log hook that keeps
 *	  plaintext keys out of the server log.
 *
 * Key format (doc/api-keys.md):
 *
 *	  mt_live_<key id: 12 base62>_<secret: 22 base62><crc: 6 base62>
 *
 * The CRC-32 (ISO-HDLC, as zlib's crc32()) covers the first 43 characters
 * and is written as 6 base62 digits, so malformed or mistyped keys are
 * rejected before any table access.  Only HMAC-SHA256(pepper, key) is
 * stored; the pepper is a version of the 'api_key' key derived from the
 * server secret (secret_versions.c; version 1 is mt_derive_key("multitenant
 * api-key pepper v1")) and never stored.  Each row names its pepper version
 * (pepper_version); a key hashed with an older version is re-hashed under
 * the active one at its next successful use on the primary (the plaintext
 * is at hand only then): the new hash waits in the key's shared last-use
 * entry and the flush writes it, so the caller's transaction locks no key
 * row.  A key stops working when its version is retired.
 *
 * Verification reads mt.api_key_secrets through its primary key directly
 * (one index probe, no SPI) with the latest snapshot, into a per-backend
 * key cache trusted only under the registry stamp (tenant_status.c), so a
 * revocation is seen by every session as soon as it commits, even inside a
 * transaction that started earlier (in parallel mode, where no new
 * snapshot may be taken, with the query's snapshot, uncached).  A cache
 * entry also holds the tenant's status, the parsed scopes, handles on the
 * tenant's api_calls counter and statistics row, and the key's last use
 * not yet noted in shared memory (at most once per
 * multitenant.api_key_last_use_interval per client network).
 *
 * Shared state (requested by multitenant.c in shmem_request_hook):
 *	- usage_lock (LWLock) protects the last-use hash: insertions, removals,
 *	  the "flushed" field and a waiting re-hash (rehash_*) take it
 *	  exclusively; the per-entry last_used atomic is advanced under the
 *	  shared lock (CAS max), and so are the network slots (claimed by CAS
 *	  from 0, times by CAS max); the flush's commit frees the network slots
 *	  it wrote under the exclusive lock.
 *	- throttle_lock (LWLock) protects the throttle hash: lookups under the
 *	  shared lock, failures and resets under the exclusive lock.  A bucket
 *	  is (client address, key id) for a well-formed key whose key id exists,
 *	  and (client address, no key id) for malformed keys and unknown key
 *	  ids, so failures on one key id never refuse another key id.
 *
 * Backend-local state: the key cache (above); the key authenticated in
 * the current transaction (id, scopes, and the number of the context
 * mt.authenticate() entered: mt_context_entry_id), cleared at transaction
 * end and ignored once another context is in effect; and the list of
 * last-use flushes to mark as written if the transaction commits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>

#include <sodium.h>

#include "access/detoast.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inet.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "api_keys.h"
#include "catalog.h"
#include "context.h"
#include "secret_rotation.h"
#include "secret_versions.h"
#include "security_events.h"
#include "security_policy.h"
#include "crypto.h"
#include "spi_util.h"
#include "tenant_stats.h"
#include "tenant_status.h"
#include "usage.h"
#include "util.h"

/* ---- key format ---- */
#define KEY_PREFIX_LEN	8		/* "mt_live_" or "mt_test_" */
#define KEY_ID_LEN		12
#define KEY_SECRET_LEN	22		/* 22 base62 characters = 131 bits */
#define KEY_CRC_LEN		6
#define KEY_BODY_LEN	(KEY_PREFIX_LEN + KEY_ID_LEN + 1 + KEY_SECRET_LEN)	/* 43 */
#define KEY_LEN			(KEY_BODY_LEN + KEY_CRC_LEN)	/* 49 */

#define MAX_SCOPES		64
#define MAX_SCOPE_LEN	64
#define MAX_NAME_LEN	200

#define THROTTLE_SLOTS	4096

#define KEYS_TABLE		"api_key_secrets"

static const char base62[] =
"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* ---- GUCs ---- */
int			mt_api_key_max_failures = 20;
int			mt_api_key_failure_window = 60;
int			mt_api_key_lockout = 300;
int			mt_api_key_last_use_interval = 1000;
int			mt_api_key_usage_slots = 10000;

/* ---- shared memory ---- */
typedef struct UsageKey
{
	Oid			dbid;
	char		key_id[KEY_ID_LEN + 1];
} UsageKey;

#define NET_SLOTS		8		/* networks per key between two flushes */
#define NETWORKS_PER_KEY 32		/* rows per key in mt.api_key_networks */
#define NETWORKS_TABLE	"api_key_networks"

typedef struct UsageEntry
{
	UsageKey	key;			/* hash key: zeroed, then filled */
	pg_atomic_uint64 last_used; /* TimestampTz; CAS max under shared lock */
	TimestampTz flushed;		/* last value written; exclusive lock */
	/* a re-hash waiting for the flush; exclusive lock */
	int32		rehash_from;	/* the pepper version the row holds */
	int32		rehash_to;		/* the active version; 0: none waiting */
	uint8		rehash_hash[MT_SHA256_LEN]; /* HMAC under rehash_to */

	/*
	 * Client networks of the key's uses since the last flush (packed by
	 * client_network(); 0: a free slot).  A slot is claimed (CAS from 0) and
	 * its times advanced under the shared lock; the flush's commit frees the
	 * slots it wrote under the exclusive lock.
	 */
	pg_atomic_uint64 net[NET_SLOTS];
	pg_atomic_uint64 net_first[NET_SLOTS];	/* TimestampTz; 0 while claiming */
	pg_atomic_uint64 net_last[NET_SLOTS];	/* TimestampTz; CAS max */
} UsageEntry;

#define BUCKET_LOCAL	0		/* Unix socket or no client address */
#define BUCKET_IPV4		4
#define BUCKET_IPV6		6

typedef struct ThrottleKey
{
	uint8		family;
	uint8		addr[16];
	char		key_id[KEY_ID_LEN + 1]; /* all zero: malformed or unknown ids */
} ThrottleKey;

typedef struct ThrottleEntry
{
	ThrottleKey key;			/* hash key: zeroed, then filled */
	int			failures;		/* in the current window */
	TimestampTz window_start;
	TimestampTz blocked_until;	/* 0 when not blocked */
} ThrottleEntry;

typedef struct ApiKeysShared
{
	LWLock	   *usage_lock;
	LWLock	   *throttle_lock;
	pg_atomic_uint64 usage_dropped; /* last-use updates lost to a full hash */
	pg_atomic_uint64 net_dropped;	/* networks lost to full slots */
	pg_atomic_uint64 blocked_until_max; /* latest end of any cool-down: a
										 * lock-free "nobody is blocked" test */
} ApiKeysShared;

static ApiKeysShared *keys_shared = NULL;
static HTAB *usage_hash = NULL;
static HTAB *throttle_hash = NULL;

/* ---- backend-local state ---- */

/*
 * the key mt.authenticate() verified in this transaction; its scopes are
 * copied into auth_scope_buf (kept, grown when a key has more)
 */
static bool auth_valid = false;
static uint64 auth_entry = 0;	/* the context it entered (mt_context_entry_id) */
static char auth_key_id[KEY_ID_LEN + 1];
static int	auth_nscopes = 0;
static char **auth_scopes = NULL;
static int	auth_scopes_cap = 0;
static char *auth_scope_buf = NULL;
static int	auth_scope_buf_cap = 0;

/*
 * last-use values and re-hashes written by this transaction, marked
 * flushed at commit
 */
typedef struct PendingMark
{
	UsageKey	key;
	TimestampTz ts;
	int32		rehash_from;	/* rehash_to 0: no re-hash written */
	int32		rehash_to;
	uint64		nets[NET_SLOTS];	/* the slots written (0: none) */
	TimestampTz nets_last[NET_SLOTS];	/* with the last use written */
	int			nest_level;
} PendingMark;

static List *pending_marks = NIL;

static void note_unnoted_uses(void);

/* the client's throttle bucket, computed once per backend */
static ThrottleKey my_bucket;
static bool my_bucket_known = false;

/* pepper-keyed HMAC state, computed once per backend */

/*
 * mt.api_key_secrets: its oid and column numbers, resolved once and
 * forgotten on any relcache invalidation of it (DROP/ALTER/reinstall)
 */
static Oid	keys_relid = InvalidOid;
static bool relcache_callback_registered = false;
static AttrNumber att_key_id,
			att_tenant,
			att_scopes,
			att_hash,
			att_expires,
			att_revoked,
			att_pepper;			/* InvalidAttrNumber before 0.3.0's update */

static emit_log_hook_type prev_emit_log_hook = NULL;

/* ---------------------------------------------------------------------
 * Format: base62, CRC-32, parsing, generation, keyed hash
 * --------------------------------------------------------------------- */

/*
 * base62 characters, as a bitmap of the 128 ASCII codes held in two
 * constants (parse_key_format runs on every mt.authenticate: no table to
 * load)
 */
#define BASE62_MASK_LO	UINT64CONST(0x03FF000000000000)	/* '0'..'9' */
#define BASE62_MASK_HI	UINT64CONST(0x07FFFFFE07FFFFFE)	/* 'A'..'Z', 'a'..'z' */

static inline bool
is_base62(unsigned char c)
{
	uint64		mask = (c & 64) ? BASE62_MASK_HI : BASE62_MASK_LO;

	return c < 128 && ((mask >> (c & 63)) & 1) != 0;
}

/* whether every one of the n bytes at s is base62 (no branch per byte) */
static inline bool
all_base62(const char *s, int n)
{
	bool		ok = true;

	for (int i = 0; i < n; i++)
		ok &= is_base62((unsigned char) s[i]);
	return ok;
}

/* CRC-32/ISO-HDLC (zlib crc32, polynomial 0xEDB88320 reflected), by table */
static uint32 crc_table[256];
static bool crc_table_ready = false;

static uint32
key_crc32(const char *data, size_t len)
{
	uint32		crc = 0xFFFFFFFF;

	if (!crc_table_ready)
	{
		for (uint32 n = 0; n < 256; n++)
		{
			uint32		c = n;

			for (int b = 0; b < 8; b++)
				c = (c >> 1) ^ (0xEDB88320 & (0 - (c & 1)));
			crc_table[n] = c;
		}
		crc_table_ready = true;
	}
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ (unsigned char) data[i]) & 0xFF] ^ (crc >> 8);
	return crc ^ 0xFFFFFFFF;
}

/* 6 base62 digits, most significant first */
static void
encode_crc(uint32 crc, char *out)
{
	for (int i = KEY_CRC_LEN - 1; i >= 0; i--)
	{
		out[i] = base62[crc % 62];
		crc /= 62;
	}
}

/*
 * Checks the format of a KEY_LEN-byte candidate (prefix, separator, base62
 * characters; not the checksum) and copies out its key id.
 */
static bool
parse_key_format(const char *key, char *key_id)
{
	if (memcmp(key, "mt_live_", KEY_PREFIX_LEN) != 0 &&
		memcmp(key, "mt_test_", KEY_PREFIX_LEN) != 0)
		return false;
	if (key[KEY_PREFIX_LEN + KEY_ID_LEN] != '_')
		return false;
	/* the key id, then the secret and the checksum after the '_' */
	if (!all_base62(key + KEY_PREFIX_LEN, KEY_ID_LEN) ||
		!all_base62(key + KEY_PREFIX_LEN + KEY_ID_LEN + 1,
					KEY_SECRET_LEN + KEY_CRC_LEN))
		return false;
	memcpy(key_id, key + KEY_PREFIX_LEN, KEY_ID_LEN);
	key_id[KEY_ID_LEN] = '\0';
	return true;
}

/* whether the checksum of a KEY_LEN-byte candidate holds */
static bool
key_checksum_ok(const char *key)
{
	char		crc[KEY_CRC_LEN];

	encode_crc(key_crc32(key, KEY_BODY_LEN), crc);
	return memcmp(crc, key + KEY_BODY_LEN, KEY_CRC_LEN) == 0;
}

/* the checksum's verdict on a candidate, computed once (*verdict -1: not yet) */
static inline bool
checksum_holds(const char *key, int *verdict)
{
	if (*verdict < 0)
		*verdict = key_checksum_ok(key) ? 1 : 0;
	return *verdict == 1;
}

/*
 * Checks the format and checksum of a candidate and copies out its key id.
 * Touches no table.
 */
static bool
parse_key(const char *key, size_t len, char *key_id)
{
	return len == KEY_LEN && parse_key_format(key, key_id) && key_checksum_ok(key);
}

/* uniform base62 characters from libsodium's randombytes (rejection sampling) */
static void
random_base62(char *out, int n)
{
	uint8		buf[64];
	int			used = sizeof(buf);

	while (n > 0)
	{
		if (used == sizeof(buf))
		{
			mt_random_bytes(buf, sizeof(buf));
			used = 0;
		}
		if (buf[used] < 248)	/* 248 = 4 * 62 */
		{
			*out++ = base62[buf[used] % 62];
			n--;
		}
		used++;
	}
	mt_wipe(buf, sizeof(buf));
}

/* a fresh key (KEY_LEN characters + NUL) */
static void
generate_key(bool test_mode, char *key)
{
	memcpy(key, test_mode ? "mt_test_" : "mt_live_", KEY_PREFIX_LEN);
	random_base62(key + KEY_PREFIX_LEN, KEY_ID_LEN);
	key[KEY_PREFIX_LEN + KEY_ID_LEN] = '_';
	random_base62(key + KEY_PREFIX_LEN + KEY_ID_LEN + 1, KEY_SECRET_LEN);
	encode_crc(key_crc32(key, KEY_BODY_LEN), key + KEY_BODY_LEN);
	key[KEY_LEN] = '\0';
}

/*
 * HMAC-SHA256 of the whole key under a pepper version; false when that
 * version is unknown here, retired, or its master secret is missing (out
 * then holds a hash under the active version, so the work is the same).
 */
static bool
key_hash_version(const char *key, int version, uint8 *out)
{
	const MtSecretVersion *v = mt_secret_version(MT_SECRET_API_KEY, version);

	if (v != NULL && v->state != MT_SECRET_RETIRED &&
		mt_secret_hmac(MT_SECRET_API_KEY, v->version, v->master,
					   (const uint8 *) key, KEY_LEN, out))
		return true;
	v = mt_secret_active(MT_SECRET_API_KEY);
	if (v == NULL || !mt_secret_hmac(MT_SECRET_API_KEY, v->version, v->master,
									 (const uint8 *) key, KEY_LEN, out))
		memset(out, 0, MT_SHA256_LEN);
	return false;
}

/*
 * A key that verified under an older pepper version is re-hashed under the
 * active one, while its plaintext is at hand: its hash under the active
 * version (to *digest, the version to *to) waits in the key's shared
 * last-use entry (note_rehash) and the flush (worker,
 * mt.flush_api_key_usage()) writes it in its own short transaction.  The
 * caller's transaction writes and locks nothing: a revocation never waits
 * for it, and it may be read only or prepared (two-phase).  False when no
 * re-hash is due, and on a hot standby (nothing flushes there).
 */
static bool
rehash_due(const char *key, int version, uint8 *digest, int32 *to)
{
	const MtSecretVersion *active = mt_secret_active(MT_SECRET_API_KEY);

	if (active == NULL || active->version == version || att_pepper == InvalidAttrNumber ||
		keys_shared == NULL || RecoveryInProgress())
		return false;
	if (!mt_secret_hmac(MT_SECRET_API_KEY, active->version, active->master,
						(const uint8 *) key, KEY_LEN, digest))
		return false;
	*to = active->version;
	return true;
}

/* the active pepper version (new keys, re-hashing); 55000 when there is none */
static const MtSecretVersion *
active_pepper(void)
{
	const MtSecretVersion *v = mt_secret_active(MT_SECRET_API_KEY);

	if (v == NULL || mt_master_index(v->master) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no usable API-key pepper"),
				 errdetail(v == NULL ? "Every version of the api_key key is retired." :
						   "The secret file lacks the master secret of the active api_key version."),
				 errhint("See mt.secret_fingerprints() and doc/operations.md, \"Rotating secrets\".")));
	return v;
}

/* ---------------------------------------------------------------------
 * Shared memory
 * --------------------------------------------------------------------- */

Size
mt_api_keys_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(ApiKeysShared));

	size = add_size(size, hash_estimate_size(mt_api_key_usage_slots, sizeof(UsageEntry)));
	size = add_size(size, hash_estimate_size(THROTTLE_SLOTS, sizeof(ThrottleEntry)));
	return size;
}

void
mt_api_keys_shmem_request(void)
{
	RequestNamedLWLockTranche("multitenant api keys", 2);
}

/* called by mt_shmem_startup while it holds AddinShmemInitLock */
void
mt_api_keys_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	keys_shared = ShmemInitStruct("multitenant api keys", sizeof(ApiKeysShared), &found);
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche("multitenant api keys");

		keys_shared->usage_lock = &locks[0].lock;
		keys_shared->throttle_lock = &locks[1].lock;
		pg_atomic_init_u64(&keys_shared->usage_dropped, 0);
		pg_atomic_init_u64(&keys_shared->blocked_until_max, 0);
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(UsageKey);
	info.entrysize = sizeof(UsageEntry);
	usage_hash = ShmemInitHash("multitenant api key last use",
							   mt_api_key_usage_slots, mt_api_key_usage_slots,
							   &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(ThrottleKey);
	info.entrysize = sizeof(ThrottleEntry);
	throttle_hash = ShmemInitHash("multitenant api key throttle",
								  THROTTLE_SLOTS, THROTTLE_SLOTS,
								  &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
}

/* advances v to ts unless it is already later (CAS loop) */
static void
atomic_advance(pg_atomic_uint64 *v, uint64 ts)
{
	uint64		old = pg_atomic_read_u64(v);

	while (old < ts && !pg_atomic_compare_exchange_u64(v, &old, ts))
		;
}

/* ---------------------------------------------------------------------
 * Brute-force throttle, keyed by client address and key id
 * --------------------------------------------------------------------- */

/*
 * The client's bucket for a key id (NULL: malformed key or unknown key
 * id).  The address comes from inet_client_addr() (libpq/libpq-be.h is not
 * usable here); NULL there (Unix socket, background process) means the
 * shared local address.
 */
static void
connection_address(void)
{
	if (!my_bucket_known)
	{
		LOCAL_FCINFO(fcinfo, 0);
		Datum		d;

		memset(&my_bucket, 0, sizeof(my_bucket));
		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		fcinfo->isnull = false;
		d = inet_client_addr(fcinfo);
		if (fcinfo->isnull)
			my_bucket.family = BUCKET_LOCAL;
		else
		{
			inet	   *ip = DatumGetInetPP(d);

			my_bucket.family = ip_family(ip) == PGSQL_AF_INET ? BUCKET_IPV4 : BUCKET_IPV6;
			memcpy(my_bucket.addr, ip_addr(ip), ip_addrsize(ip));
		}
		my_bucket_known = true;
	}
}

static const ThrottleKey *
client_bucket(const char *key_id)
{
	connection_address();
	memset(my_bucket.key_id, 0, sizeof(my_bucket.key_id));
	if (key_id != NULL)
		memcpy(my_bucket.key_id, key_id, KEY_ID_LEN);
	return &my_bucket;
}

/*
 * Whether any bucket may be cooling down, without reading the clock: the
 * latest end of a cool-down is compared with the statement's start (the
 * clock reads later).  False: throttle_blocked() would answer false.
 */
static inline bool
throttle_may_block(void)
{
	return mt_api_key_max_failures > 0 &&
		pg_atomic_read_u64(&keys_shared->blocked_until_max) >
		(uint64) GetCurrentStatementStartTimestamp();
}

/*
 * Whether this client's bucket for key_id is cooling down; *until gets
 * the end of the cool-down.  The caller raises 53400 (after wiping what
 * it holds).
 */
static bool
throttle_blocked(const char *key_id, TimestampTz *until)
{
	const ThrottleKey *bucket;
	ThrottleEntry *e;
	TimestampTz now;

	*until = 0;
	if (mt_api_key_max_failures <= 0)
		return false;
	now = GetCurrentTimestamp();
	if ((uint64) now >= pg_atomic_read_u64(&keys_shared->blocked_until_max))
		return false;			/* no bucket is cooling down */
	bucket = client_bucket(key_id);
	LWLockAcquire(keys_shared->throttle_lock, LW_SHARED);
	e = hash_search(throttle_hash, bucket, HASH_FIND, NULL);
	if (e != NULL)
		*until = e->blocked_until;
	LWLockRelease(keys_shared->throttle_lock);
	return *until > now;
}

static void
throttle_raise(TimestampTz until)
{
	TimestampTz now = GetCurrentTimestamp();

	mt_security_event(NULL, MT_SEC_THROTTLED, NULL, "API key attempts refused during a lockout");
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("too many failed API key attempts from this client address"),
			 errdetail("This key is refused from this address for another %d seconds.",
					   (int) ((until - now) / USECS_PER_SEC) + 1),
			 errhint("An administrator can clear the lockout with mt.reset_api_key_throttle()."),
			 errhidestmt(true)));
}

/*
 * Makes room for a new bucket (exclusive lock held): drops the buckets
 * that are neither blocked nor inside a failure window; if none is, the
 * unblocked bucket with the oldest window (its few failures are
 * forgotten).  Blocked buckets are never dropped.
 */
static void
throttle_evict(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	ThrottleEntry *e;
	TimestampTz window = (TimestampTz) mt_api_key_failure_window * USECS_PER_SEC;
	ThrottleKey oldest;
	TimestampTz oldest_start = PG_INT64_MAX;
	int			removed = 0;

	hash_seq_init(&seq, throttle_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->blocked_until > now)
			continue;
		if (e->window_start + window <= now)
		{
			hash_search(throttle_hash, &e->key, HASH_REMOVE, NULL);
			removed++;
		}
		else if (e->window_start < oldest_start)
		{
			oldest_start = e->window_start;
			oldest = e->key;
		}
	}
	if (removed == 0 && oldest_start != PG_INT64_MAX)
		hash_search(throttle_hash, &oldest, HASH_REMOVE, NULL);
}

/*
 * Counts one invalid key against the client's bucket for key_id (NULL:
 * malformed or unknown id); starts the cool-down at the threshold.  When
 * the table is full of blocked buckets the failure is not counted (no
 * bucket is shared between addresses or key ids).
 */
static void
throttle_failure(const char *key_id)
{
	const ThrottleKey *bucket;
	ThrottleEntry *e;
	bool		found;
	TimestampTz now;

	if (mt_api_key_max_failures <= 0)
		return;
	bucket = client_bucket(key_id);
	now = GetCurrentTimestamp();
	LWLockAcquire(keys_shared->throttle_lock, LW_EXCLUSIVE);
	e = hash_search(throttle_hash, bucket, HASH_FIND, NULL);
	if (e == NULL)
	{
		if (hash_get_num_entries(throttle_hash) >= THROTTLE_SLOTS)
			throttle_evict(now);
		e = hash_search(throttle_hash, bucket, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			LWLockRelease(keys_shared->throttle_lock);
			return;
		}
		if (!found)
		{
			e->failures = 0;
			e->window_start = now;
			e->blocked_until = 0;
		}
	}
	if (e->window_start + (TimestampTz) mt_api_key_failure_window * USECS_PER_SEC <= now)
	{
		e->failures = 0;
		e->window_start = now;
	}
	e->failures++;
	if (e->failures >= mt_api_key_max_failures)
	{
		e->blocked_until = now + (TimestampTz) mt_api_key_lockout * USECS_PER_SEC;
		atomic_advance(&keys_shared->blocked_until_max, (uint64) e->blocked_until);
		e->failures = 0;
		e->window_start = now;
	}
	LWLockRelease(keys_shared->throttle_lock);
}

/* ---------------------------------------------------------------------
 * Last-use times in shared memory
 * --------------------------------------------------------------------- */

/* whether an entry holds networks the flush has not written (lock held) */
static bool
usage_nets_pending(UsageEntry *e)
{
	for (int i = 0; i < NET_SLOTS; i++)
		if (pg_atomic_read_u64(&e->net[i]) != 0)
			return true;
	return false;
}

/*
 * Makes room (exclusive lock held): removes the entries whose last use has
 * been written; if there are none (say, entries of a database nobody
 * flushes), the least recently used entry goes, losing one update.
 */
static void
usage_evict(void)
{
	HASH_SEQ_STATUS seq;
	UsageEntry *e;
	UsageKey	oldest;
	uint64		oldest_ts = PG_UINT64_MAX;
	long		before = hash_get_num_entries(usage_hash);

	hash_seq_init(&seq, usage_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		uint64		ts = pg_atomic_read_u64(&e->last_used);

		if ((TimestampTz) ts <= e->flushed && e->rehash_to == 0 && !usage_nets_pending(e))
			hash_search(usage_hash, &e->key, HASH_REMOVE, NULL);
		else if (ts < oldest_ts)
		{
			oldest_ts = ts;
			oldest = e->key;
		}
	}
	if (hash_get_num_entries(usage_hash) == before && oldest_ts != PG_UINT64_MAX)
	{
		hash_search(usage_hash, &oldest, HASH_REMOVE, NULL);
		pg_atomic_fetch_add_u64(&keys_shared->usage_dropped, 1);
	}
}

/*
 * The entry of key k, inserted if there is none (usage_lock held
 * exclusively); NULL, counted as dropped, when the table is full.
 */
static UsageEntry *
usage_entry(const UsageKey *k)
{
	UsageEntry *e = hash_search(usage_hash, k, HASH_FIND, NULL);
	bool		found;

	if (e != NULL)
		return e;
	if (hash_get_num_entries(usage_hash) >= mt_api_key_usage_slots)
		usage_evict();
	e = hash_search(usage_hash, k, HASH_ENTER_NULL, &found);
	if (e == NULL)
	{
		pg_atomic_fetch_add_u64(&keys_shared->usage_dropped, 1);
		return NULL;
	}
	if (!found)
	{
		pg_atomic_init_u64(&e->last_used, 0);
		e->flushed = 0;
		e->rehash_from = 0;
		e->rehash_to = 0;
		for (int i = 0; i < NET_SLOTS; i++)
		{
			pg_atomic_init_u64(&e->net[i], 0);
			pg_atomic_init_u64(&e->net_first[i], 0);
			pg_atomic_init_u64(&e->net_last[i], 0);
		}
	}
	return e;
}

/*
 * The client network of this use, packed into 64 bits (0: none, i.e. a
 * Unix socket or a background process): byte 0 the family (4 or 6), then
 * the IPv4 /24 (3 bytes) or the IPv6 /48 (6 bytes).  The address is
 * multitenant.client_addr when the request set it, else the connection's
 * (read once per backend).
 */
static uint64
client_network(void)
{
	unsigned char addr[16];
	int			family = mt_client_addr_override(addr);
	uint8		packed[8] = {0};
	uint64		v;

	if (family == 0)
	{
		connection_address();
		if (my_bucket.family == BUCKET_LOCAL)
			return 0;
		family = my_bucket.family == BUCKET_IPV4 ? PGSQL_AF_INET : PGSQL_AF_INET6;
		memcpy(addr, my_bucket.addr, sizeof(addr));
	}
	if (family == PGSQL_AF_INET)
	{
		packed[0] = 4;
		memcpy(packed + 1, addr, 3);
	}
	else
	{
		packed[0] = 6;
		memcpy(packed + 1, addr, 6);
	}
	memcpy(&v, packed, sizeof(v));
	return v;
}

/* the network of a packed value as a cidr datum */
static Datum
network_datum(uint64 v)
{
	uint8		packed[8];
	inet	   *ip = palloc0(sizeof(inet));

	memcpy(packed, &v, sizeof(packed));
	if (packed[0] == 4)
	{
		ip_family(ip) = PGSQL_AF_INET;
		ip_bits(ip) = 24;
		memcpy(ip_addr(ip), packed + 1, 3);
	}
	else
	{
		ip_family(ip) = PGSQL_AF_INET6;
		ip_bits(ip) = 48;
		memcpy(ip_addr(ip), packed + 1, 6);
	}
	SET_INET_VARSIZE(ip);
	return InetPGetDatum(ip);
}

/*
 * Records network net used at now in the entry (usage_lock held, shared
 * or exclusive): advances its slot, or claims a free one; with every slot
 * taken the network is counted as dropped.
 */
static void
note_network(UsageEntry *e, uint64 net, uint64 now)
{
	for (int i = 0; i < NET_SLOTS; i++)
	{
		uint64		v = pg_atomic_read_u64(&e->net[i]);

		if (v == net)
		{
			atomic_advance(&e->net_last[i], now);
			return;
		}
		if (v == 0)
		{
			uint64		expected = 0;

			if (pg_atomic_compare_exchange_u64(&e->net[i], &expected, net))
			{
				pg_atomic_write_u64(&e->net_first[i], now);
				atomic_advance(&e->net_last[i], now);
				return;
			}
			if (expected == net)
			{
				atomic_advance(&e->net_last[i], now);
				return;
			}
		}
	}
	pg_atomic_fetch_add_u64(&keys_shared->net_dropped, 1);
}

/*
 * Notes a use of key_id at ts from network net (0: none) in shared memory
 * (note_use decides when; never on a hot standby)
 */
static void
note_last_used(const char *key_id, TimestampTz ts, uint64 net)
{
	UsageKey	k;
	UsageEntry *e;
	uint64		now = (uint64) ts;

	memset(&k, 0, sizeof(k));
	k.dbid = MyDatabaseId;
	memcpy(k.key_id, key_id, KEY_ID_LEN);

	LWLockAcquire(keys_shared->usage_lock, LW_SHARED);
	e = hash_search(usage_hash, &k, HASH_FIND, NULL);
	if (e != NULL)
	{
		atomic_advance(&e->last_used, now);
		if (net != 0)
			note_network(e, net, now);
		LWLockRelease(keys_shared->usage_lock);
		return;
	}
	LWLockRelease(keys_shared->usage_lock);

	/* no entry: insert under the exclusive lock (another may have won) */
	LWLockAcquire(keys_shared->usage_lock, LW_EXCLUSIVE);
	e = usage_entry(&k);
	if (e != NULL)
	{
		atomic_advance(&e->last_used, now);
		if (net != 0)
			note_network(e, net, now);
	}
	LWLockRelease(keys_shared->usage_lock);
}

/* the new hash of a key for the flush to write (rehash_due) */
static void
note_rehash(const char *key_id, int32 from, int32 to, const uint8 *digest)
{
	UsageKey	k;
	UsageEntry *e;

	memset(&k, 0, sizeof(k));
	k.dbid = MyDatabaseId;
	memcpy(k.key_id, key_id, KEY_ID_LEN);

	LWLockAcquire(keys_shared->usage_lock, LW_EXCLUSIVE);
	e = usage_entry(&k);
	if (e != NULL)
	{
		e->rehash_from = from;
		e->rehash_to = to;
		memcpy(e->rehash_hash, digest, MT_SHA256_LEN);
	}
	LWLockRelease(keys_shared->usage_lock);
}

/* the oid of mt.api_key_secrets in this database, or InvalidOid */
static Oid
keys_table_oid(void)
{
	return mt_catalog_relid(KEYS_TABLE);
}

/*
 * The UPDATE of last_used_at (key ids, times): no cache holds that column,
 * so this statement invalidates none (tenant_status.c)
 */
static void
write_last_used(Datum *args)
{
	mt_registry_last_use_only(true);
	PG_TRY();
	{
		mt_catalog_execute("UPDATE mt.api_key_secrets AS s SET last_used_at = u.ts "
						   "FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.timestamptz[])) AS u (key_id, ts) "
						   "WHERE s.key_id OPERATOR(pg_catalog.=) u.key_id "
						   "AND (s.last_used_at IS NULL OR s.last_used_at OPERATOR(pg_catalog.<) u.ts)",
						   2, (Oid[]) {TEXTARRAYOID, TIMESTAMPTZARRAYOID}, args, NULL);
	}
	PG_FINALLY();
	{
		mt_registry_last_use_only(false);
	}
	PG_END_TRY();
}

/*
 * Writes this database's last-use times and waiting re-hashes held in
 * shared memory (one statement each); the entries are marked written when
 * (and only if) this transaction commits.  Returns the number of keys
 * whose last use was updated.
 */
static int64
flush_last_used(void)
{
	HASH_SEQ_STATUS seq;
	UsageEntry *e;
	int			n = 0;
	int			nts = 0;
	int			nre = 0;
	int			nnet = 0;
	int			netcap = 64;
	int			cap = 64;
	PendingMark *marks;
	Datum	   *net_ids;
	Datum	   *net_vals;
	Datum	   *net_first;
	Datum	   *net_last;
	uint64		dropped;
	int64		updated = 0;
	MemoryContext oldcxt;
	bool		have_networks;

	if (keys_shared == NULL || !OidIsValid(keys_table_oid()))
		return 0;
	/* this backend's own uses waiting in its key cache (note_use) first */
	note_unnoted_uses();
	/* mt.api_key_networks is 0.5.0's: older scripts keep no networks */
	have_networks = OidIsValid(mt_catalog_relid(NETWORKS_TABLE));

	dropped = pg_atomic_exchange_u64(&keys_shared->net_dropped, 0);
	if (dropped > 0)
		ereport(LOG,
				(errmsg("multitenant: " UINT64_FORMAT " API key client networks were dropped because a key was used from more than %d networks between two flushes",
						dropped, NET_SLOTS),
				 errhint("Flush more often (multitenant.flush_interval).")));

	dropped = pg_atomic_exchange_u64(&keys_shared->usage_dropped, 0);
	if (dropped > 0)
		ereport(LOG,
				(errmsg("multitenant: " UINT64_FORMAT " API key last-use updates were dropped because the table of %d slots was full",
						dropped, mt_api_key_usage_slots),
				 errhint("Raise multitenant.api_key_usage_slots or flush more often.")));

	marks = palloc(cap * sizeof(PendingMark));
	net_ids = palloc(netcap * sizeof(Datum));
	net_vals = palloc(netcap * sizeof(Datum));
	net_first = palloc(netcap * sizeof(Datum));
	net_last = palloc(netcap * sizeof(Datum));
	{
		uint8	   *hashes = NULL;

		LWLockAcquire(keys_shared->usage_lock, LW_SHARED);
		hash_seq_init(&seq, usage_hash);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			TimestampTz ts = (TimestampTz) pg_atomic_read_u64(&e->last_used);

			if (e->key.dbid != MyDatabaseId ||
				(ts <= e->flushed && e->rehash_to == 0 && !usage_nets_pending(e)))
				continue;
			if (n == cap)
			{
				cap *= 2;
				marks = repalloc(marks, cap * sizeof(PendingMark));
			}
			marks[n].key = e->key;
			marks[n].ts = ts > e->flushed ? ts : 0;
			marks[n].rehash_from = e->rehash_from;
			marks[n].rehash_to = e->rehash_to;
			if (e->rehash_to != 0)
			{
				hashes = hashes ? repalloc(hashes, (nre + 1) * MT_SHA256_LEN) : palloc(MT_SHA256_LEN);
				memcpy(hashes + nre * MT_SHA256_LEN, e->rehash_hash, MT_SHA256_LEN);
				nre++;
			}
			for (int i = 0; i < NET_SLOTS; i++)
			{
				uint64		v = pg_atomic_read_u64(&e->net[i]);
				TimestampTz last = (TimestampTz) pg_atomic_read_u64(&e->net_last[i]);
				TimestampTz first = (TimestampTz) pg_atomic_read_u64(&e->net_first[i]);

				/* a slot being claimed right now (no time yet) waits */
				marks[n].nets[i] = (v != 0 && last != 0) ? v : 0;
				marks[n].nets_last[i] = last;
				if (marks[n].nets[i] == 0 || !have_networks)
					continue;
				if (nnet == netcap)
				{
					netcap *= 2;
					net_ids = repalloc(net_ids, netcap * sizeof(Datum));
					net_vals = repalloc(net_vals, netcap * sizeof(Datum));
					net_first = repalloc(net_first, netcap * sizeof(Datum));
					net_last = repalloc(net_last, netcap * sizeof(Datum));
				}
				net_ids[nnet] = CStringGetTextDatum(e->key.key_id);
				net_vals[nnet] = network_datum(v);
				net_first[nnet] = TimestampTzGetDatum(first != 0 && first < last ? first : last);
				net_last[nnet] = TimestampTzGetDatum(last);
				nnet++;
			}
			nts += marks[n].ts != 0;
			n++;
		}
		LWLockRelease(keys_shared->usage_lock);
		if (n == 0)
			return 0;

		mt_spi_connect();
		if (nts > 0)
		{
			Datum	   *ids = palloc(nts * sizeof(Datum));
			Datum	   *stamps = palloc(nts * sizeof(Datum));
			Datum		args[2];
			int			k = 0;

			for (int i = 0; i < n; i++)
				if (marks[i].ts != 0)
				{
					ids[k] = CStringGetTextDatum(marks[i].key.key_id);
					stamps[k++] = TimestampTzGetDatum(marks[i].ts);
				}
			args[0] = PointerGetDatum(construct_array(ids, nts, TEXTOID, -1, false, TYPALIGN_INT));
			args[1] = PointerGetDatum(construct_array(stamps, nts, TIMESTAMPTZOID, sizeof(TimestampTz),
													  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

			/*
			 * As the extension owner with search_path = pg_catalog, pg_temp
			 * and qualified operators: the flush worker (a superuser) runs
			 * this with the database's default search_path otherwise.
			 */
			write_last_used(args);
			updated = (int64) SPI_processed;
		}
		if (nre > 0)
		{
			Datum	   *ids = palloc(nre * sizeof(Datum));
			Datum	   *hs = palloc(nre * sizeof(Datum));
			Datum	   *from = palloc(nre * sizeof(Datum));
			Datum	   *to = palloc(nre * sizeof(Datum));
			Datum		args[4];
			int			k = 0;

			for (int i = 0; i < n; i++)
				if (marks[i].rehash_to != 0)
				{
					bytea	   *h = palloc(VARHDRSZ + MT_SHA256_LEN);

					SET_VARSIZE(h, VARHDRSZ + MT_SHA256_LEN);
					memcpy(VARDATA(h), hashes + k * MT_SHA256_LEN, MT_SHA256_LEN);
					ids[k] = CStringGetTextDatum(marks[i].key.key_id);
					hs[k] = PointerGetDatum(h);
					from[k] = Int32GetDatum(marks[i].rehash_from);
					to[k++] = Int32GetDatum(marks[i].rehash_to);
				}
			args[0] = PointerGetDatum(construct_array(ids, nre, TEXTOID, -1, false, TYPALIGN_INT));
			args[1] = PointerGetDatum(construct_array(hs, nre, BYTEAOID, -1, false, TYPALIGN_INT));
			args[2] = PointerGetDatum(construct_array(from, nre, INT4OID, sizeof(int32), true, TYPALIGN_INT));
			args[3] = PointerGetDatum(construct_array(to, nre, INT4OID, sizeof(int32), true, TYPALIGN_INT));
			/* only a row still holding the hash the new one replaces */
			mt_catalog_execute("UPDATE mt.api_key_secrets AS s SET key_hash = u.h, pepper_version = u.nv "
							   "FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.bytea[]), "
							   "pg_catalog.unnest($3::pg_catalog.int4[]), pg_catalog.unnest($4::pg_catalog.int4[])) AS u (key_id, h, ov, nv) "
							   "WHERE s.key_id OPERATOR(pg_catalog.=) u.key_id "
							   "AND s.pepper_version OPERATOR(pg_catalog.=) u.ov",
							   4, (Oid[]) {TEXTARRAYOID, BYTEAARRAYOID, INT4ARRAYOID, INT4ARRAYOID}, args, NULL);
			mt_wipe(hashes, nre * MT_SHA256_LEN);
		}
		if (nnet > 0)
		{
			Datum		args[5];

			args[0] = PointerGetDatum(construct_array(net_ids, nnet, TEXTOID, -1, false, TYPALIGN_INT));
			args[1] = PointerGetDatum(construct_array(net_vals, nnet, CIDROID, -1, false, TYPALIGN_INT));
			args[2] = PointerGetDatum(construct_array(net_first, nnet, TIMESTAMPTZOID, sizeof(TimestampTz),
													  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			args[3] = PointerGetDatum(construct_array(net_last, nnet, TIMESTAMPTZOID, sizeof(TimestampTz),
													  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			args[4] = Int32GetDatum(NETWORKS_PER_KEY);

			/*
			 * Known networks per key: first and last use, then only the
			 * NETWORKS_PER_KEY most recently used are kept.  The keys' rows
			 * are locked FOR KEY SHARE: a key deleted meanwhile is skipped
			 * rather than failing the foreign key (and the worker's batch).
			 */
			mt_catalog_execute("WITH u AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.cidr[]), "
							   "pg_catalog.unnest($3::pg_catalog.timestamptz[]), pg_catalog.unnest($4::pg_catalog.timestamptz[])) AS u (key_id, net, f, l)), "
							   "k AS (SELECT s.key_id FROM mt.api_key_secrets s "
							   "WHERE s.key_id OPERATOR(pg_catalog.=) ANY (SELECT u.key_id FROM u) FOR KEY SHARE OF s), "
							   "ins AS (INSERT INTO mt.api_key_networks AS n (key_id, network, first_seen, last_seen) "
							   "SELECT u.key_id, u.net, u.f, u.l FROM u JOIN k ON k.key_id OPERATOR(pg_catalog.=) u.key_id "
							   "ON CONFLICT (key_id, network) DO UPDATE "
							   "SET first_seen = LEAST(n.first_seen, excluded.first_seen), last_seen = GREATEST(n.last_seen, excluded.last_seen) "
							   "RETURNING n.key_id) "
							   "SELECT pg_catalog.count(*) FROM ins",
							   4, (Oid[]) {TEXTARRAYOID, CIDRARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID}, args, NULL);
			mt_catalog_execute("DELETE FROM mt.api_key_networks AS d USING ("
							   "SELECT n.key_id, n.network, pg_catalog.row_number() OVER (PARTITION BY n.key_id "
							   "ORDER BY n.last_seen DESC, n.first_seen DESC) AS r "
							   "FROM mt.api_key_networks n WHERE n.key_id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])) AS x "
							   "WHERE d.key_id OPERATOR(pg_catalog.=) x.key_id AND d.network OPERATOR(pg_catalog.=) x.network "
							   "AND x.r OPERATOR(pg_catalog.>) $2",
							   2, (Oid[]) {TEXTARRAYOID, INT4OID}, (Datum[]) {args[0], args[4]}, NULL);
		}
		mt_spi_finish();
	}

	/* mark the entries written when (and only if) this transaction commits */
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	for (int i = 0; i < n; i++)
	{
		PendingMark *m = palloc(sizeof(PendingMark));

		*m = marks[i];
		m->nest_level = GetCurrentTransactionNestLevel();
		pending_marks = lappend(pending_marks, m);
	}
	MemoryContextSwitchTo(oldcxt);
	return updated;
}

void
mt_api_keys_flush_last_used(void)
{
	(void) flush_last_used();
}

static void
apply_pending_marks(void)
{
	ListCell   *lc;

	if (pending_marks == NIL || keys_shared == NULL)
		return;
	LWLockAcquire(keys_shared->usage_lock, LW_EXCLUSIVE);
	foreach(lc, pending_marks)
	{
		PendingMark *m = lfirst(lc);
		UsageEntry *e = hash_search(usage_hash, &m->key, HASH_FIND, NULL);

		if (e == NULL)
			continue;
		if (e->flushed < m->ts)
			e->flushed = m->ts;
		/* the networks written, unless used again since */
		for (int i = 0; i < NET_SLOTS; i++)
			if (m->nets[i] != 0 && pg_atomic_read_u64(&e->net[i]) == m->nets[i] &&
				(TimestampTz) pg_atomic_read_u64(&e->net_last[i]) <= m->nets_last[i])
			{
				pg_atomic_write_u64(&e->net[i], 0);
				pg_atomic_write_u64(&e->net_first[i], 0);
				pg_atomic_write_u64(&e->net_last[i], 0);
			}
		/* the re-hash written, unless a newer one replaced it meanwhile */
		if (m->rehash_to != 0 && e->rehash_to == m->rehash_to &&
			e->rehash_from == m->rehash_from)
		{
			e->rehash_to = 0;
			mt_wipe(e->rehash_hash, MT_SHA256_LEN);
		}
	}
	LWLockRelease(keys_shared->usage_lock);
}

/* ---------------------------------------------------------------------
 * The key authenticated in this transaction
 * --------------------------------------------------------------------- */

static void
auth_clear(void)
{
	auth_entry = 0;
	auth_nscopes = 0;
	auth_valid = false;
}

/*
 * Remembers the key just authenticated with its scopes: n strings, each
 * NUL-terminated, one after the other in blob (bytes long)
 */
static void
auth_remember(const char *key_id, int n, const char *blob, int bytes)
{
	const char *p;

	auth_clear();
	auth_entry = mt_context_entered_id();	/* mt_enter_tenant() just entered it */
	if (auth_entry == 0)
		return;
	if (bytes > auth_scope_buf_cap)
	{
		auth_scope_buf_cap = Max(bytes, 1024);
		auth_scope_buf = auth_scope_buf == NULL ?
			MemoryContextAlloc(TopMemoryContext, auth_scope_buf_cap) :
			repalloc(auth_scope_buf, auth_scope_buf_cap);
	}
	if (n > auth_scopes_cap)
	{
		auth_scopes_cap = Max(n, MAX_SCOPES);
		auth_scopes = auth_scopes == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(char *) * auth_scopes_cap) :
			repalloc(auth_scopes, sizeof(char *) * auth_scopes_cap);
	}
	if (bytes > 0)
		memcpy(auth_scope_buf, blob, bytes);
	p = auth_scope_buf;
	for (int i = 0; i < n; i++)
	{
		auth_scopes[i] = (char *) p;
		p += strlen(p) + 1;
	}
	auth_nscopes = n;
	strlcpy(auth_key_id, key_id, sizeof(auth_key_id));
	auth_valid = true;
}

/* true while the context mt.authenticate() set is still the active one */
static bool
auth_current(void)
{
	return auth_valid && auth_entry != 0 &&
		mt_context_entry_id() == auth_entry &&
		mt_context_tenant() != NULL;
}

void
mt_api_keys_xact_callback(int event)
{
	switch ((XactEvent) event)
	{
		case XACT_EVENT_COMMIT:
			apply_pending_marks();
			pending_marks = NIL;
			auth_clear();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			pending_marks = NIL;
			auth_clear();
			break;
		default:
			break;
	}
}

/* a flush inside a rolled-back subtransaction wrote nothing */
static void
api_keys_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (pending_marks == NIL)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, pending_marks)
		{
			PendingMark *m = lfirst(lc);

			if (m->nest_level >= level)
				pending_marks = foreach_delete_current(pending_marks, lc);
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, pending_marks)
		{
			PendingMark *m = lfirst(lc);

			if (m->nest_level >= level)
				m->nest_level = level - 1;
		}
	}
}

/* ---------------------------------------------------------------------
 * Keeping plaintext keys out of the server log
 * --------------------------------------------------------------------- */

/* next "mt_live_" / "mt_test_" in s, or NULL */
static char *
find_key_prefix(const char *s)
{
	const char *p = s;

	while ((p = strstr(p, "mt_")) != NULL)
	{
		if (strncmp(p + 3, "live_", 5) == 0 || strncmp(p + 3, "test_", 5) == 0)
			return (char *) p;
		p += 3;
	}
	return NULL;
}

/*
 * Overwrites, in place, what follows each key prefix with '*', keeping
 * the public key id when it is well formed.
 */
static void
redact_keys(char *s)
{
	char	   *p;

	if (s == NULL)
		return;
	p = s;
	while ((p = find_key_prefix(p)) != NULL)
	{
		char	   *q = p + KEY_PREFIX_LEN;
		int			n = 0;

		while (n < KEY_ID_LEN && is_base62((unsigned char) q[n]))
			n++;
		if (n == KEY_ID_LEN && q[KEY_ID_LEN] == '_')
			q += KEY_ID_LEN + 1;
		while (is_base62((unsigned char) *q) || *q == '_' || *q == '-')
			*q++ = '*';
		p = q;
	}
}

static void
api_keys_emit_log(ErrorData *edata)
{
	redact_keys(edata->message);
	redact_keys(edata->detail);
	redact_keys(edata->detail_log);
	redact_keys(edata->hint);
	redact_keys(edata->context);
	redact_keys(edata->internalquery);
	if (debug_query_string != NULL && find_key_prefix(debug_query_string) != NULL)
		edata->hide_stmt = true;
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
mt_api_keys_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = api_keys_emit_log;
	RegisterSubXactCallback(api_keys_subxact_callback, NULL);
}

/* ---------------------------------------------------------------------
 * Lookup and verification
 * --------------------------------------------------------------------- */

typedef struct KeyRow
{
	uint8		hash[MT_SHA256_LEN];
	pg_uuid_t	tenant;
	TimestampTz expires_at;
	ArrayType  *scopes;
	int			pepper_version;
	bool		hash_ok;
	bool		has_expires;
	bool		revoked;
} KeyRow;

static void
keys_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == keys_relid)
		keys_relid = InvalidOid;
}

/*
 * The row of key_id, read through the primary key with the latest
 * snapshot (so a committed revocation is seen at once).  False when there
 * is no such row or no table.  In parallel mode (a leader running a
 * parallel query), where no new snapshot may be taken, it reads with the
 * query's active snapshot and the answer must not be cached (*fresh =
 * false).
 */
static bool
lookup_key_uncached(const char *key_id, KeyRow *row, bool *fresh)
{
	Relation	rel = NULL;
	MtPkProbe	probe;
	HeapTuple	tup;
	bool		found = false;

	*fresh = !IsInParallelMode();
	if (!*fresh && !ActiveSnapshotSet())
		return false;			/* fail closed */
	if (!relcache_callback_registered)
	{
		mt_register_relcache_callback(keys_relcache_callback);
		relcache_callback_registered = true;
	}

	/*
	 * Open the cached relation; if the lock brought an invalidation of it
	 * (or it is gone), resolve it again once.
	 */
	for (int attempt = 0; attempt < 2 && rel == NULL; attempt++)
	{
		Oid			relid;

		if (!OidIsValid(keys_relid))
		{
			relid = keys_table_oid();
			if (!OidIsValid(relid))
				return false;
			att_key_id = mt_catalog_attnum(relid, KEYS_TABLE, "key_id");
			att_tenant = mt_catalog_attnum(relid, KEYS_TABLE, "tenant_id");
			att_scopes = mt_catalog_attnum(relid, KEYS_TABLE, "scopes");
			att_hash = mt_catalog_attnum(relid, KEYS_TABLE, "key_hash");
			att_expires = mt_catalog_attnum(relid, KEYS_TABLE, "expires_at");
			att_revoked = mt_catalog_attnum(relid, KEYS_TABLE, "revoked_at");
			att_pepper = get_attnum(relid, "pepper_version");
			keys_relid = relid;
		}
		relid = keys_relid;
		rel = try_table_open(relid, AccessShareLock);
		if (rel != NULL && keys_relid != relid)
		{
			table_close(rel, AccessShareLock);
			rel = NULL;
		}
		if (rel == NULL)
			keys_relid = InvalidOid;
	}
	if (rel == NULL)
		return false;
	tup = mt_pk_probe_begin(&probe, rel, att_key_id, F_TEXTEQ,
							CStringGetTextDatum(key_id), *fresh);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;
		Datum		d;

		memset(row, 0, sizeof(*row));
		d = heap_getattr(tup, att_tenant, desc, &isnull);
		if (!isnull)
		{
			memcpy(&row->tenant, DatumGetUUIDP(d), sizeof(pg_uuid_t));
			d = heap_getattr(tup, att_hash, desc, &isnull);
			if (!isnull)
			{
				bytea	   *h = DatumGetByteaPP(d);

				if (VARSIZE_ANY_EXHDR(h) == MT_SHA256_LEN)
				{
					memcpy(row->hash, VARDATA_ANY(h), MT_SHA256_LEN);
					row->hash_ok = true;
				}
			}
			d = heap_getattr(tup, att_scopes, desc, &isnull);
			row->scopes = isnull ? construct_empty_array(TEXTOID) : DatumGetArrayTypePCopy(d);
			d = heap_getattr(tup, att_expires, desc, &isnull);
			row->has_expires = !isnull;
			if (!isnull)
				row->expires_at = DatumGetTimestampTz(d);
			(void) heap_getattr(tup, att_revoked, desc, &isnull);
			row->revoked = !isnull;
			row->pepper_version = 1;
			if (att_pepper != InvalidAttrNumber)
			{
				d = heap_getattr(tup, att_pepper, desc, &isnull);
				if (!isnull)
					row->pepper_version = DatumGetInt32(d);
			}
			found = true;
		}
	}
	mt_pk_probe_end(&probe);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Per-backend cache of key rows (found or not), valid while the shared
 * registry generation and this backend's registry invalidation count do
 * not move.  Every statement that changes mt.api_key_secrets (create,
 * revoke, rotate, a re-hash; not the last-use flush's UPDATE of
 * last_used_at, which no cache holds) or mt.tenants bumps the generation
 * before and after its commit (tenant_status.c), so on the primary a revocation
 * is seen by every session's next call once the revoking COMMIT has
 * returned: no cache window.  The same statements queue a relcache
 * invalidation that replay delivers, so on a hot standby a revocation or
 * a new key is seen at the standby backend's next transaction.  Misses
 * read with a fresh snapshot.
 */
#define KEY_CACHE_MAX 4096

/*
 * The cache is an open-addressing table (simplehash) whose elements are
 * the entries themselves: a lookup reads the slot it lands on, and that is
 * the entry.  A found entry also keeps, under the same stamp, what each
 * use of the key needs besides its row: the tenant's status (read at the
 * key's first successful use), its scopes parsed, this backend's handles
 * on the tenant's api_calls counter (usage.c) and statistics row
 * (tenant_stats.c), and the key's last use not yet noted in shared memory
 * (note_use).
 */
typedef struct KeyIdKey
{
	char		id[KEY_ID_LEN];	/* not NUL-terminated */
} KeyIdKey;

typedef struct KeyCacheEntry
{
	KeyIdKey	key;			/* the key id: simplehash's key */
	uint32		hash;			/* simplehash's */
	char		status;			/* simplehash's */
	/* the rest is zeroed when the entry is filled */
	bool		found;
	bool		cached;			/* in the cache (not a one-call copy) */
	int8		tenant_status;	/* MtTenantStatus; -1: not read yet */
	KeyRow		row;			/* row.scopes lives in key_cache_cxt */
	MtRowHandle usage;
	MtRowHandle stats;
	TimestampTz noted_at;		/* the last use noted in shared memory */
	uint64		noted_net;		/* with its client network */
	TimestampTz unnoted_at;		/* a later use of the same network, not
								 * noted yet; 0: none */
	int			nscopes;		/* -1: not parsed yet */
	int			scope_bytes;
	char	   *scope_blob;		/* the scopes, each NUL-terminated */
} KeyCacheEntry;

static inline uint32
key_id_hash(KeyIdKey k)
{
	uint32		w[3];

	memcpy(w, k.id, sizeof(w));
	return murmurhash32(w[0] ^ murmurhash32(w[1] ^ murmurhash32(w[2])));
}

#define SH_PREFIX		keyslots
#define SH_ELEMENT_TYPE	KeyCacheEntry
#define SH_KEY_TYPE		KeyIdKey
#define SH_KEY			key
#define SH_HASH_KEY(tb, k)	key_id_hash(k)
#define SH_EQUAL(tb, a, b)	(memcmp((a).id, (b).id, KEY_ID_LEN) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a)	((a)->hash)
#define SH_SCOPE		static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static keyslots_hash *key_cache = NULL;
static MemoryContext key_cache_cxt = NULL;
static uint64 key_cache_generation = 0;
static uint64 key_cache_inval = 0;
static int	key_cache_unnoted = 0;	/* entries with unnoted_at set */
static bool unnoted_exit_hook = false;

/*
 * Last-use times: a backend notes a key's use in shared memory (the
 * usage_lock and the key's entry, which the other backends write too) at
 * most once per multitenant.api_key_last_use_interval for the same client
 * network.  A later use within that time waits in the backend's cache
 * entry and is noted by the key's next use after it, by this backend's own
 * flush (mt.flush_api_key_usage()), before its key cache is emptied and
 * when it exits: the last use the flush writes is at most that much older
 * than the true one.  A use from another network is noted at once.
 */

/* notes every use waiting in the key cache */
static void
note_unnoted_uses(void)
{
	keyslots_iterator it;
	KeyCacheEntry *e;

	if (key_cache_unnoted == 0 || key_cache == NULL)
		return;
	keyslots_start_iterate(key_cache, &it);
	while ((e = keyslots_iterate(key_cache, &it)) != NULL)
	{
		if (e->unnoted_at != 0)
		{
			note_last_used(e->key.id, e->unnoted_at, e->noted_net);
			e->noted_at = e->unnoted_at;
			e->unnoted_at = 0;
		}
	}
	key_cache_unnoted = 0;
}

static void
unnoted_at_exit(int code, Datum arg)
{
	if (!RecoveryInProgress())
		note_unnoted_uses();
}

/* a successful use of the key of entry e (not on a hot standby) */
static void
note_use(KeyCacheEntry *e)
{
	TimestampTz now;
	uint64		net;

	/*
	 * Not on a hot standby: no flush could ever write it there, and one
	 * written after a promotion would be a use the primary never saw.  A
	 * standby records nothing of mt.authenticate() (no api_calls either);
	 * its throttle is its own (doc/operations.md, "Hot standby").
	 */
	if (RecoveryInProgress())
		return;
	now = GetCurrentStatementStartTimestamp();
	net = client_network();
	if (e->cached && e->noted_at != 0 && net == e->noted_net &&
		now >= e->noted_at &&
		now - e->noted_at < (TimestampTz) mt_api_key_last_use_interval * 1000)
	{
		if (now > e->noted_at && now > e->unnoted_at)
		{
			if (e->unnoted_at == 0)
				key_cache_unnoted++;
			e->unnoted_at = now;
			if (unlikely(!unnoted_exit_hook))
			{
				before_shmem_exit(unnoted_at_exit, (Datum) 0);
				unnoted_exit_hook = true;
			}
		}
		return;
	}
	if (e->unnoted_at != 0)
	{
		/* this use supersedes a waiting one of its network */
		if (net != e->noted_net)
			note_last_used(e->key.id, e->unnoted_at, e->noted_net);
		e->unnoted_at = 0;
		key_cache_unnoted--;
	}
	note_last_used(e->key.id, now, net);
	e->noted_at = now;
	e->noted_net = net;
}

/*
 * The cache entry of key_id, or NULL when this backend has not looked it
 * up under the current stamp; empties the cache when the stamp moved (or
 * it is full).  NULL without shared memory.
 */
static KeyCacheEntry *
key_cache_find(const char *key_id)
{
	KeyIdKey	k;
	uint64		gen;
	uint64		inval;

	if (!mt_registry_generation(&gen))
		return NULL;
	inval = mt_registry_inval_count();
	if (key_cache == NULL || gen != key_cache_generation ||
		inval != key_cache_inval || key_cache->members >= KEY_CACHE_MAX)
	{
		if (!RecoveryInProgress())
			note_unnoted_uses();
		key_cache_unnoted = 0;
		key_cache = NULL;		/* nothing points into freed memory if the
								 * allocation below fails */
		if (key_cache_cxt == NULL)
			key_cache_cxt = AllocSetContextCreate(TopMemoryContext, "multitenant key cache",
												  ALLOCSET_SMALL_SIZES);
		else
			MemoryContextReset(key_cache_cxt);
		key_cache = keyslots_create(key_cache_cxt, 256, NULL);
		key_cache_generation = gen;	/* read before the lookups below */
		key_cache_inval = inval;
		return NULL;
	}
	memcpy(k.id, key_id, KEY_ID_LEN);
	return keyslots_lookup(key_cache, k);
}

/*
 * Reads key_id's row (key_cache_find found no entry) into a new cache
 * entry, or into *once when the read may not be cached (parallel mode, no
 * shared memory): the entry to use either way.
 */
static KeyCacheEntry *
key_cache_fill(const char *key_id, KeyCacheEntry *once)
{
	KeyCacheEntry *e = once;
	KeyRow		row;
	bool		fresh;
	bool		hit = lookup_key_uncached(key_id, &row, &fresh);

	if (fresh && key_cache != NULL)
	{
		KeyIdKey	k;
		bool		found;

		/* allocate first: an entry is never left pointing at freed memory */
		if (hit)
		{
			MemoryContext old = MemoryContextSwitchTo(key_cache_cxt);

			row.scopes = DatumGetArrayTypePCopy(PointerGetDatum(row.scopes));
			MemoryContextSwitchTo(old);
		}
		memcpy(k.id, key_id, KEY_ID_LEN);
		e = keyslots_insert(key_cache, k, &found);
	}
	else
		memcpy(e->key.id, key_id, KEY_ID_LEN);
	/* everything after simplehash's fields */
	memset(&e->found, 0, sizeof(KeyCacheEntry) - offsetof(KeyCacheEntry, found));
	e->cached = e != once;
	e->found = hit;
	e->tenant_status = -1;
	e->nscopes = -1;
	if (hit)
		e->row = row;
	return e;
}

/* the scopes of a found entry, parsed once (in the entry's memory) */
static void
key_scopes(KeyCacheEntry *e)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			bytes = 0;
	char	   *p;
	MemoryContext old;

	if (e->nscopes >= 0)
		return;
	old = MemoryContextSwitchTo(e->cached ? key_cache_cxt : CurrentMemoryContext);
	deconstruct_array(e->row.scopes, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			bytes += VARSIZE_ANY_EXHDR(DatumGetPointer(elems[i])) + 1;
	p = e->scope_blob = palloc(Max(bytes, 1));
	e->nscopes = 0;
	for (int i = 0; i < n; i++)
	{
		text	   *t;

		if (nulls[i])
			continue;
		t = DatumGetTextPP(elems[i]);
		memcpy(p, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		p += VARSIZE_ANY_EXHDR(t);
		*p++ = '\0';
		e->nscopes++;
	}
	e->scope_bytes = bytes;
	MemoryContextSwitchTo(old);
}

/*
 * The status of a found entry's tenant, read once per entry; handed back to
 * tenant_status.c under the cache's stamp, so that entering the tenant
 * (context.c checks the status again) finds it without a lookup.  Kept only
 * when read with the latest snapshot: in parallel mode the status comes
 * from the query's snapshot (tenant_status.c uses it but does not cache
 * it), which may predate a suspension that already moved the stamp.
 */
static MtTenantStatus
key_tenant_status(KeyCacheEntry *e)
{
	MtTenantStatus st;

	if (e->tenant_status >= 0)
	{
		st = (MtTenantStatus) e->tenant_status;
		mt_tenant_status_prime(&e->row.tenant, st, key_cache_generation, key_cache_inval);
		return st;
	}
	st = mt_tenant_status_cached(&e->row.tenant);
	if (e->cached && !IsInParallelMode())
		e->tenant_status = (int8) st;
	return st;
}

typedef struct VerifiedKey
{
	pg_uuid_t	tenant;
	char		key_id[KEY_ID_LEN + 1];
	KeyCacheEntry *entry;		/* the cache's, or &once */
	KeyCacheEntry once;			/* a read that is not cached */
} VerifiedKey;

/*
 * What a successful mt.authenticate will touch after the key's hash: the
 * rest of its cache entry, its tenant's usage counter and statistics row
 * (shared memory, each often last written by another core).  Asked for
 * before the hash is computed, they arrive while it is (util.h,
 * mt_prefetch_range).  Nothing of the shared rows is read or locked here;
 * a key that then fails costs the fetches only.
 */
static inline void
key_prefetch(const KeyCacheEntry *e)
{
	mt_prefetch_range(e, sizeof(KeyCacheEntry));
	mt_usage_prefetch(&e->usage);
	mt_stat_prefetch(&e->stats);
}

/*
 * Verifies argument 0 of fcinfo as an API key.  Refuses (53400) a key
 * whose bucket (client address and key id, or the address's bucket for
 * malformed keys and unknown key ids) is cooling down, before checking the
 * secret; counts every invalid non-NULL key against that bucket.
 *
 * The checksum keeps malformed and mistyped keys away from the table: a
 * key id this backend has not looked up yet is read only when it holds.
 * For a key id in the cache it is checked only when the key fails or a
 * bucket may be cooling down (a key whose hash matches is an issued key,
 * so its checksum holds), and the failure is classified exactly as if it
 * had been checked first.
 */
static bool
verify_key_arg(FunctionCallInfo fcinfo, VerifiedKey *out)
{
	char		key[KEY_LEN + 1];
	char		key_id[KEY_ID_LEN + 1];
	uint8		digest[MT_SHA256_LEN];
	KeyCacheEntry *e = NULL;
	bool		format_ok;
	int			crc = -1;		/* the checksum's verdict, -1: not checked */
	bool		parsed;
	bool		found;
	bool		ok = false;
	uint8		rehash[MT_SHA256_LEN];
	int32		rehash_to = 0;
	text	   *t;
	TimestampTz until;

	if (PG_ARGISNULL(0))
		return false;

	/* the length is known without detoasting a huge value */
	if (toast_raw_datum_size(PG_GETARG_DATUM(0)) != VARHDRSZ + KEY_LEN)
	{
		if (throttle_blocked(NULL, &until))
			throttle_raise(until);
		throttle_failure(NULL);
		mt_stat_count(NULL, MT_STAT_AUTH_FAILED);
		mt_security_event(NULL, MT_SEC_AUTH_FAILED, NULL, "malformed API key");
		return false;
	}
	t = PG_GETARG_TEXT_PP(0);
	memcpy(key, VARDATA_ANY(t), KEY_LEN);
	key[KEY_LEN] = '\0';

	format_ok = parse_key_format(key, key_id);
	if (format_ok)
	{
		e = key_cache_find(key_id);
		if (e == NULL && checksum_holds(key, &crc))
			e = key_cache_fill(key_id, &out->once);
	}
	if (throttle_may_block())
	{
		found = format_ok && checksum_holds(key, &crc) && e != NULL && e->found;
		if (throttle_blocked(found ? key_id : NULL, &until))
		{
			mt_wipe(key, sizeof(key));
			throttle_raise(until);
		}
	}
	if (e != NULL && e->found)
		key_prefetch(e);
	if (format_ok && crc != 0)
	{
		/* hash whether or not the id exists: same work either way */
		bool		known = e != NULL && e->found;
		bool		usable = key_hash_version(key, known ? e->row.pepper_version : 1, digest);

		if (known && e->row.hash_ok)
			ok = mt_ct_equal(digest, e->row.hash, MT_SHA256_LEN) && usable;
		else
		{
			uint8		dummy[MT_SHA256_LEN] = {0};

			(void) mt_ct_equal(digest, dummy, MT_SHA256_LEN);
		}
		mt_wipe(digest, sizeof(digest));
		if (ok && !e->row.revoked && !rehash_due(key, e->row.pepper_version, rehash, &rehash_to))
			rehash_to = 0;
	}
	/* an issued key's checksum holds; any other is checked now if not yet */
	parsed = ok || (format_ok && checksum_holds(key, &crc));
	mt_wipe(key, sizeof(key));
	found = parsed && e != NULL && e->found;

	if (ok && e->row.revoked)
		ok = false;
	if (ok && e->row.has_expires && e->row.expires_at <= GetCurrentTimestamp())
		ok = false;
	if (ok && key_tenant_status(e) != MT_TENANT_ACTIVE)
		ok = false;
	if (!ok)
	{
		mt_wipe(rehash, sizeof(rehash));
		throttle_failure(found ? key_id : NULL);
		mt_stat_count(found ? &e->row.tenant : NULL, MT_STAT_AUTH_FAILED);
		mt_security_event(found ? &e->row.tenant : NULL, MT_SEC_AUTH_FAILED,
						  parsed ? key_id : NULL,
						  !parsed ? "malformed API key" : !found ? "unknown API key" : "API key refused");
		return false;
	}

	if (rehash_to != 0)
		note_rehash(key_id, e->row.pepper_version, rehash_to, rehash);
	mt_wipe(rehash, sizeof(rehash));
	memcpy(&out->tenant, &e->row.tenant, sizeof(pg_uuid_t));
	memcpy(out->key_id, key_id, sizeof(out->key_id));
	out->entry = e;
	note_use(e);
	return true;
}

/* ---------------------------------------------------------------------
 * SQL functions: verification, authentication, scopes
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_verify_api_key);
Datum
mt_verify_api_key(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VerifiedKey vk;

	mt_require_shared_memory("mt.verify_api_key()");
	InitMaterializedSRF(fcinfo, 0);
	if (verify_key_arg(fcinfo, &vk))
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = UUIDPGetDatum(&vk.tenant);
		values[1] = CStringGetTextDatum(vk.key_id);
		values[2] = PointerGetDatum(vk.entry->row.scopes);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(mt_authenticate);
Datum
mt_authenticate(PG_FUNCTION_ARGS)
{
	VerifiedKey vk;
	char		sub[4 + KEY_ID_LEN + 1];
	pg_uuid_t  *res;
	const char *why;

	mt_require_shared_memory("mt.authenticate()");
	if (!verify_key_arg(fcinfo, &vk))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid API key"),
				 errhidestmt(true)));

	/* the tenant's security policy (security_policy.c records the refusal) */
	if ((why = mt_policy_check_client(&vk.tenant, "api_key")) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("API key refused by the tenant's security policy"),
				 errdetail("%s.", why),
				 errhidestmt(true)));

	memcpy(sub, "key:", 4);
	memcpy(sub + 4, vk.key_id, KEY_ID_LEN + 1);
	mt_enter_tenant(&vk.tenant, mt_default_token_ttl, sub, NULL, true);
	key_scopes(vk.entry);
	auth_remember(vk.key_id, vk.entry->nscopes, vk.entry->scope_blob, vk.entry->scope_bytes);
	/* every successful mt.authenticate() counts one api_calls event */
	mt_usage_count_api_call(&vk.tenant, &vk.entry->usage);
	mt_stat_count_at(&vk.tenant, MT_STAT_AUTH_OK, &vk.entry->stats);

	res = palloc(sizeof(pg_uuid_t));
	memcpy(res, &vk.tenant, sizeof(pg_uuid_t));
	PG_RETURN_UUID_P(res);
}

static bool
has_scope(const char *scope)
{
	for (int i = 0; i < auth_nscopes; i++)
		if (strcmp(auth_scopes[i], scope) == 0)
			return true;
	return false;
}

PG_FUNCTION_INFO_V1(mt_require_scope);
Datum
mt_require_scope(PG_FUNCTION_ARGS)
{
	char	   *scope;

	mt_require_args(fcinfo, 1, "scope");
	scope = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!auth_current())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("no API key has been authenticated in this transaction"),
				 errhint("Call mt.authenticate(key) in the same transaction first.")));
	if (!has_scope(scope))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the API key lacks the scope \"%s\"", mt_clipped(scope, 64))));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_has_scope);
Datum
mt_has_scope(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BOOL(auth_current() &&
				   has_scope(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}

/* the public key id of a well-formed key (format and checksum), else NULL */
PG_FUNCTION_INFO_V1(mt_api_key_id);
Datum
mt_api_key_id(PG_FUNCTION_ARGS)
{
	char		key_id[KEY_ID_LEN + 1];
	text	   *t;
	bool		ok;

	if (PG_ARGISNULL(0) ||
		toast_raw_datum_size(PG_GETARG_DATUM(0)) != VARHDRSZ + KEY_LEN)
		PG_RETURN_NULL();
	t = PG_GETARG_TEXT_PP(0);
	ok = parse_key(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), key_id);
	if (!ok)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(key_id));
}

/* ---------------------------------------------------------------------
 * SQL functions: management (SECURITY DEFINER, revoked from PUBLIC)
 * --------------------------------------------------------------------- */

static bool
valid_scope(const char *s)
{
	size_t		len = strlen(s);

	if (len < 1 || len > MAX_SCOPE_LEN || !is_base62((unsigned char) s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_base62((unsigned char) s[i]) && strchr("_.:/-", s[i]) == NULL)
			return false;
	return true;
}

static void
check_scopes(ArrayType *scopes)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(scopes) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scopes must be a one-dimensional array")));
	deconstruct_array(scopes, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n > MAX_SCOPES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an API key can have at most %d scopes", MAX_SCOPES)));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] || !valid_scope(TextDatumGetCString(elems[i])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid API key scope"),
					 errdetail("A scope is 1 to %d characters: letters, digits and _ . : / -, starting with a letter or digit.",
							   MAX_SCOPE_LEN)));
	}
}

/*
 * Generates a key and inserts its row (inside an SPI connection).  The
 * plaintext goes to key (KEY_LEN + 1 bytes); only its hash is stored.
 * Scopes are stored sorted and without duplicates.
 */
static void
insert_new_key(char *key, const pg_uuid_t *tenant, const char *name, bool test_mode,
			   Datum scopes, bool has_expires, TimestampTz expires_at,
			   const char *rotated_from, const pg_uuid_t *workspace)
{
	char		key_id[KEY_ID_LEN + 1];
	uint8		digest[MT_SHA256_LEN];
	bytea	   *hash = palloc(VARHDRSZ + MT_SHA256_LEN);
	Datum		args[10];
	char		nulls[11] = "          ";
	char	   *creator = GetUserNameFromId(GetOuterUserId(), true);
	const MtSecretVersion *pepper = active_pepper();
	int			pepper_version = pepper->version;
	bool		has_pepper_version = get_attnum(keys_table_oid(), "pepper_version") != InvalidAttrNumber;

	mt_secret_record_in_use(MT_SECRET_API_KEY);
	for (int attempt = 0;; attempt++)
	{
		generate_key(test_mode, key);
		memcpy(key_id, key + KEY_PREFIX_LEN, KEY_ID_LEN);
		key_id[KEY_ID_LEN] = '\0';
		if (!key_hash_version(key, pepper_version, digest))
			elog(ERROR, "multitenant: the active API-key pepper is not usable");
		SET_VARSIZE(hash, VARHDRSZ + MT_SHA256_LEN);
		memcpy(VARDATA(hash), digest, MT_SHA256_LEN);
		mt_wipe(digest, sizeof(digest));

		args[0] = CStringGetTextDatum(key_id);
		args[1] = UUIDPGetDatum((pg_uuid_t *) tenant);
		args[2] = CStringGetTextDatum(name);
		args[3] = CStringGetTextDatum(test_mode ? "test" : "live");
		args[4] = scopes;
		args[5] = PointerGetDatum(hash);
		args[6] = TimestampTzGetDatum(expires_at);
		nulls[6] = has_expires ? ' ' : 'n';
		args[7] = rotated_from ? CStringGetTextDatum(rotated_from) : (Datum) 0;
		nulls[7] = rotated_from ? ' ' : 'n';
		args[8] = creator ? CStringGetTextDatum(creator) : (Datum) 0;
		nulls[8] = creator ? ' ' : 'n';
		args[9] = Int32GetDatum(pepper_version);
		/* a database not yet updated to 0.3.0 has no pepper_version (= 1) */
		mt_spi_execute_nulls(has_pepper_version ?
							 "INSERT INTO mt.api_key_secrets "
							 "(key_id, tenant_id, name, mode, scopes, key_hash, expires_at, rotated_from, created_by, pepper_version) "
							 "VALUES ($1, $2, $3, $4, "
							 "ARRAY(SELECT DISTINCT s FROM pg_catalog.unnest($5::pg_catalog.text[]) AS s ORDER BY 1), "
							 "$6, $7, $8, $9, $10) "
							 "ON CONFLICT (key_id) DO NOTHING" :
							 "INSERT INTO mt.api_key_secrets "
							 "(key_id, tenant_id, name, mode, scopes, key_hash, expires_at, rotated_from, created_by) "
							 "VALUES ($1, $2, $3, $4, "
							 "ARRAY(SELECT DISTINCT s FROM pg_catalog.unnest($5::pg_catalog.text[]) AS s ORDER BY 1), "
							 "$6, $7, $8, $9) "
							 "ON CONFLICT (key_id) DO NOTHING",
							 has_pepper_version ? 10 : 9, (Oid[]) {TEXTOID, UUIDOID, TEXTOID, TEXTOID, TEXTARRAYOID,
								 BYTEAOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT4OID},
							 args, nulls, SPI_OK_INSERT);
		if (SPI_processed == 1)
		{
			/*
			 * The key's workspace (0.4.0, src/authz.c): the one given, or a
			 * successor keeps its predecessor's.
			 */
			if ((workspace != NULL || rotated_from != NULL) &&
				get_attnum(keys_table_oid(), "workspace_id") != InvalidAttrNumber)
			{
				Datum		wargs[3] = {CStringGetTextDatum(key_id),
					workspace ? UUIDPGetDatum((pg_uuid_t *) workspace) : (Datum) 0,
				rotated_from ? CStringGetTextDatum(rotated_from) : (Datum) 0};
				char		wnulls[4] = {' ', workspace ? ' ' : 'n', rotated_from ? ' ' : 'n', '\0'};

				mt_spi_execute_nulls("UPDATE mt.api_key_secrets SET workspace_id = "
									 "COALESCE($2, (SELECT o.workspace_id FROM mt.api_key_secrets o "
									 "WHERE o.key_id OPERATOR(pg_catalog.=) $3)) "
									 "WHERE key_id OPERATOR(pg_catalog.=) $1",
									 3, (Oid[]) {TEXTOID, UUIDOID, TEXTOID}, wargs, wnulls,
									 SPI_OK_UPDATE);
			}
			break;
		}
		/* a key id collision (72 random bits): draw again */
		if (attempt >= 4)
			elog(ERROR, "could not generate a unique API key id");
	}
}

static bool
parse_mode(const char *mode)
{
	if (strcmp(mode, "live") == 0)
		return false;
	if (strcmp(mode, "test") == 0)
		return true;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("API key mode must be 'live' or 'test'")));
	return false;				/* keep the compiler quiet */
}

/*
 * mt.create_api_key(tenant, name, scopes, expires_at, mode[, workspace]):
 * the SQL function of 0.4.0 passes the workspace the key is bound to
 * (mt_create_api_key_ws); earlier releases' call mt_create_api_key.
 */
static Datum create_api_key(FunctionCallInfo fcinfo, const pg_uuid_t *workspace);

/*
 * A new key (mt.create_api_key, or the successor mt.rotate_api_key makes)
 * under the tenant's security policy: 42501 with the reason when it breaks
 * api_key_max_lifetime or api_key_allowed_scopes (security_policy.c
 * records the refusal as a security event).
 */
static void
require_key_policy(const pg_uuid_t *tenant, Datum scopes, bool has_expires,
				   TimestampTz expires_at)
{
	const char *why = mt_policy_check_new_key(tenant, scopes, has_expires, expires_at);

	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("API key refused by the tenant's security policy"),
				 errdetail("%s.", why)));
}

PG_FUNCTION_INFO_V1(mt_create_api_key);
Datum
mt_create_api_key(PG_FUNCTION_ARGS)
{
	return create_api_key(fcinfo, NULL);
}

PG_FUNCTION_INFO_V1(mt_create_api_key_ws);
Datum
mt_create_api_key_ws(PG_FUNCTION_ARGS)
{
	return create_api_key(fcinfo, PG_ARGISNULL(5) ? NULL : PG_GETARG_UUID_P(5));
}

static Datum
create_api_key(FunctionCallInfo fcinfo, const pg_uuid_t *workspace)
{
	pg_uuid_t  *tenant;
	char	   *name;
	ArrayType  *scopes;
	bool		has_expires = !PG_ARGISNULL(3);
	TimestampTz expires_at = has_expires ? PG_GETARG_TIMESTAMPTZ(3) : 0;
	bool		test_mode;
	char		key[KEY_LEN + 1];
	text	   *result;

	mt_require_writable("mt.create_api_key()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 3, "tenant, name and scopes");
	mt_require_arg_set(fcinfo, MT_ARG(4), "mode");
	tenant = PG_GETARG_UUID_P(0);
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	scopes = PG_GETARG_ARRAYTYPE_P(2);
	test_mode = parse_mode(text_to_cstring(PG_GETARG_TEXT_PP(4)));

	if (strlen(name) == 0 || pg_mbstrlen(name) > MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("API key name must be 1 to %d characters", MAX_NAME_LEN)));
	check_scopes(scopes);
	if (has_expires && expires_at <= GetCurrentTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at must be in the future")));
	mt_require_active_tenant(tenant);
	require_key_policy(tenant, PointerGetDatum(scopes), has_expires, expires_at);

	mt_spi_connect();
	if (workspace != NULL &&
		!mt_spi_exists("SELECT 1 FROM mt.workspaces WHERE id OPERATOR(pg_catalog.=) $1 "
					   "AND tenant_id OPERATOR(pg_catalog.=) $2", 2,
					   (Oid[]) {UUIDOID, UUIDOID},
					   (Datum[]) {UUIDPGetDatum((pg_uuid_t *) workspace), UUIDPGetDatum(tenant)}))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("workspace %s does not exist in tenant %s",
						mt_uuid_to_cstring(workspace), mt_uuid_to_cstring(tenant))));
	insert_new_key(key, tenant, name, test_mode, PointerGetDatum(scopes),
				   has_expires, expires_at, NULL, workspace);
	mt_spi_finish();

	result = cstring_to_text(key);
	mt_wipe(key, sizeof(key));
	PG_RETURN_TEXT_P(result);
}

/*
 * The key id argument of revoke/rotate; a whole key is accepted too (its
 * id is used), so that a leaked key can be revoked as found.
 */
static text *
key_id_arg(FunctionCallInfo fcinfo, int argno)
{
	text	   *t = PG_GETARG_TEXT_PP(argno);
	char		key_id[KEY_ID_LEN + 1];

	if (VARSIZE_ANY_EXHDR(t) == KEY_LEN &&
		parse_key(VARDATA_ANY(t), KEY_LEN, key_id))
		return cstring_to_text(key_id);
	return t;
}

PG_FUNCTION_INFO_V1(mt_revoke_api_key);
Datum
mt_revoke_api_key(PG_FUNCTION_ARGS)
{
	Datum		args[1];
	bool		revoked;
	text	   *key_id;

	mt_require_writable("mt.revoke_api_key()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "key_id");
	key_id = key_id_arg(fcinfo, 0);
	args[0] = PointerGetDatum(key_id);
	mt_spi_connect();
	mt_spi_execute("UPDATE mt.api_key_secrets SET revoked_at = pg_catalog.now() "
				   "WHERE key_id = $1 AND revoked_at IS NULL",
				   1, (Oid[]) {TEXTOID}, args, SPI_OK_UPDATE);
	revoked = (SPI_processed == 1);
	if (!revoked && !mt_spi_exists("SELECT 1 FROM mt.api_key_secrets WHERE key_id = $1",
								   1, (Oid[]) {TEXTOID}, args))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("API key \"%s\" does not exist", mt_clipped(text_to_cstring(key_id), 16))));
	mt_spi_finish();
	PG_RETURN_BOOL(revoked);
}

PG_FUNCTION_INFO_V1(mt_rotate_api_key);
Datum
mt_rotate_api_key(PG_FUNCTION_ARGS)
{
	text	   *old_id;
	Interval   *grace;
	Interval	zero;
	Datum		args[2];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	pg_uuid_t	tenant;
	char	   *name;
	bool		test_mode;
	Datum		scopes;
	bool		has_expires;
	TimestampTz expires_at = 0;
	char		key[KEY_LEN + 1];
	char	   *old_id_str;
	text	   *result;
	int			rc;

	mt_require_writable("mt.rotate_api_key()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 2, "key_id and grace");
	old_id = key_id_arg(fcinfo, 0);
	old_id_str = text_to_cstring(old_id);
	grace = PG_GETARG_INTERVAL_P(1);
	memset(&zero, 0, sizeof(zero));
	if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(grace),
										 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("grace period must not be negative")));

	mt_spi_connect();
	args[0] = PointerGetDatum(old_id);
	rc = SPI_execute_with_args("SELECT tenant_id, name, mode, scopes, expires_at, "
							   "revoked_at IS NOT NULL, rotated_to IS NOT NULL, "
							   "expires_at IS NOT NULL AND expires_at <= pg_catalog.now() "
							   "FROM mt.api_key_secrets WHERE key_id = $1 FOR UPDATE",
							   1, (Oid[]) {TEXTOID}, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		mt_spi_failed("internal query", rc);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("API key \"%s\" does not exist", mt_clipped(old_id_str, 16))));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	memcpy(&tenant, DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull)), sizeof(pg_uuid_t));
	name = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
	test_mode = parse_mode(TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull)));
	scopes = SPI_getbinval(tup, desc, 4, &isnull);
	if (isnull)
		scopes = PointerGetDatum(construct_empty_array(TEXTOID));
	expires_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5, &isnull));
	has_expires = !isnull;
	if (DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key \"%s\" has been revoked", old_id_str)));
	if (DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key \"%s\" has already been rotated", old_id_str),
				 errhint("Rotate its successor instead.")));
	if (DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("API key \"%s\" has expired", old_id_str)));
	mt_require_active_tenant(&tenant);
	/* the successor is a new key: held to the policy in force now */
	require_key_policy(&tenant, scopes, has_expires, expires_at);

	insert_new_key(key, &tenant, name, test_mode, scopes, has_expires, expires_at, old_id_str, NULL);

	/* the old key lives on for the grace period only */
	args[0] = PointerGetDatum(old_id);
	args[1] = IntervalPGetDatum(grace);
	{
		Datum		uargs[3];

		uargs[0] = args[0];
		uargs[1] = args[1];
		uargs[2] = CStringGetTextDatum(pnstrdup(key + KEY_PREFIX_LEN, KEY_ID_LEN));
		mt_spi_execute("UPDATE mt.api_key_secrets "
					   "SET expires_at = LEAST(expires_at, pg_catalog.now() + $2), "
					   "rotated_to = $3 WHERE key_id = $1",
					   3, (Oid[]) {TEXTOID, INTERVALOID, TEXTOID}, uargs, SPI_OK_UPDATE);
	}
	mt_spi_finish();

	result = cstring_to_text(key);
	mt_wipe(key, sizeof(key));
	PG_RETURN_TEXT_P(result);
}

PG_FUNCTION_INFO_V1(mt_flush_api_key_usage);
Datum
mt_flush_api_key_usage(PG_FUNCTION_ARGS)
{
	mt_require_writable("mt.flush_api_key_usage()", MT_WRITES_TABLES);
	mt_require_shared_memory("mt.flush_api_key_usage()");
	PG_RETURN_INT64(flush_last_used());
}

/* ---------------------------------------------------------------------
 * SQL functions: throttle administration
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_api_key_throttle);
Datum
mt_api_key_throttle(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	ThrottleEntry *e;
	ThrottleEntry *copy;
	int			n = 0;
	long		cap;

	mt_require_shared_memory("mt.api_key_throttle()");
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(keys_shared->throttle_lock, LW_SHARED);
	cap = hash_get_num_entries(throttle_hash) + 1;
	copy = palloc(sizeof(ThrottleEntry) * cap);
	hash_seq_init(&seq, throttle_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (n < cap)
			copy[n++] = *e;
	}
	LWLockRelease(keys_shared->throttle_lock);

	for (int i = 0; i < n; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		ThrottleEntry *t = &copy[i];
		const char *kind;

		if (t->key.family == BUCKET_IPV4 || t->key.family == BUCKET_IPV6)
		{
			inet	   *ip = palloc0(sizeof(inet));
			bool		v4 = (t->key.family == BUCKET_IPV4);

			ip_family(ip) = v4 ? PGSQL_AF_INET : PGSQL_AF_INET6;
			ip_bits(ip) = v4 ? 32 : 128;
			memcpy(ip_addr(ip), t->key.addr, v4 ? 4 : 16);
			SET_INET_VARSIZE(ip);
			values[0] = InetPGetDatum(ip);
			kind = "tcp";
		}
		else
		{
			nulls[0] = true;
			kind = "local";
		}
		values[1] = CStringGetTextDatum(kind);
		values[2] = Int32GetDatum(t->failures);
		values[3] = TimestampTzGetDatum(t->window_start);
		values[4] = TimestampTzGetDatum(t->blocked_until);
		nulls[4] = (t->blocked_until == 0);
		if (t->key.key_id[0] != '\0')
			values[5] = CStringGetTextDatum(t->key.key_id);
		else
			nulls[5] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(mt_reset_api_key_throttle);
Datum
mt_reset_api_key_throttle(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS seq;
	ThrottleEntry *e;
	int64		n = 0;

	mt_require_shared_memory("mt.reset_api_key_throttle()");
	LWLockAcquire(keys_shared->throttle_lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, throttle_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		hash_search(throttle_hash, &e->key, HASH_REMOVE, NULL);
		n++;
	}
	pg_atomic_write_u64(&keys_shared->blocked_until_max, 0);
	LWLockRelease(keys_shared->throttle_lock);
	PG_RETURN_INT64(n);
}
