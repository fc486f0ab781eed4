/*-------------------------------------------------------------------------
 *
 * util.h
 *	  The bottom layer (util.c): argument checks, uuid and relation names, the
 *	  "library preloaded?" check, the "can this write?" refusal (hot
 *	  standby, read-only transaction), and GUC "extra" allocation.  Includes
 *	  no header of the extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_UTIL_H
#define MT_UTIL_H

#include "postgres.h"

#include "fmgr.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/uuid.h"

/*
 * GUC "extra" values: PostgreSQL 16 and later free them with guc_free(), so
 * they must come from guc_malloc(); up to 15 the GUC machinery free()s them.
 */
#if PG_VERSION_NUM >= 160000
#define mt_guc_extra_alloc(size)	guc_malloc(LOG, (size))
#define mt_guc_extra_free(ptr)		guc_free(ptr)
#else
#define mt_guc_extra_alloc(size)	malloc(size)
#define mt_guc_extra_free(ptr)		free(ptr)
#endif

/*
 * A backend's handle on a row of a shared hash table (usage counters,
 * tenant statistics): the row's address and the incarnation it had.  The
 * module owning the table gives a row a new incarnation when it inserts it
 * and zero when it removes it, with its lock held EXCLUSIVE and the row's
 * spinlock held, so a handle whose incarnation still matches under the
 * row's spinlock alone is that row: the table's lock and the hash lookup
 * are skipped.  Rows of such a table are reused, never freed, and their
 * spinlocks are initialized once, when the table is created
 * (mt_row_table_init), never when a row is reused: a stale handle locks
 * a row that no longer matches, never freed or re-initialized memory.
 * Zeroed: no row yet.
 */
typedef struct MtRowHandle
{
	void	   *row;
	uint64		incarnation;
} MtRowHandle;

/*
 * Asks the CPU to bring the len bytes at p into its cache, for writing
 * (each 64-byte line once).  A hint only: nothing is read or locked, and
 * it cannot fault.  For callers that know well before they touch memory
 * which it will be: mt.authenticate knows its key's cache entry and its
 * tenant's rows in shared memory (often last written by another core)
 * before it hashes the key.
 */
static inline void
mt_prefetch_range(const void *p, size_t len)
{
#if defined(__GNUC__)
	uintptr_t	line = (uintptr_t) p & ~((uintptr_t) 63);
	uintptr_t	end = (uintptr_t) p + len;

	for (; line < end; line += 64)
		__builtin_prefetch((const void *) line, 1);
#endif
}

/* the same for the bytes [from, to) of the row handle h names, if any */
static inline void
mt_handle_prefetch(const MtRowHandle *h, size_t from, size_t to)
{
	if (h->row != NULL)
		mt_prefetch_range((const char *) h->row + from, to - from);
}

/*
 * The row of type `type` (with fields `slock_t mutex` and `uint64
 * incarnation`) that handle h (may be NULL) names, returned with its mutex
 * held, if it is still that row; else NULL with nothing held.  No other
 * lock is needed.  MT_HANDLE_SET: h points at row e (whose incarnation is
 * stable: its mutex or the table's lock held).
 */
#define MT_HANDLE_LOCK(h, type) \
	((type *) mt_handle_lock_row((h), offsetof(type, mutex), offsetof(type, incarnation)))
#define MT_HANDLE_SET(h, e) \
	((h)->row = (e), (h)->incarnation = (e)->incarnation)

static inline void *
mt_handle_lock_row(const MtRowHandle *h, size_t mutex_off, size_t incarnation_off)
{
	char	   *row;

	if (h == NULL || h->row == NULL)
		return NULL;
	row = (char *) h->row;
	SpinLockAcquire((slock_t *) (row + mutex_off));
	if (*(uint64 *) (row + incarnation_off) == h->incarnation)
		return row;
	SpinLockRelease((slock_t *) (row + mutex_off));
	return NULL;
}

/*
 * At the creation of a shared hash table whose rows all exist from the
 * start (ShmemInitHash with HASH_FIXED_SIZE and init_size == max_size =
 * nrows): initializes the spinlock of every row and zeroes its
 * incarnation, by entering and removing nrows placeholder keys.
 */
extern void mt_row_table_init(HTAB *htab, long nrows, Size keysize,
							  size_t mutex_off, size_t incarnation_off);

/* bit of argument i for mt_require_arg_set() */
#define MT_ARG(i)	(((uint32) 1) << (i))

/* 22004 "<names> must not be NULL" when any of the first nargs args is NULL */
extern void mt_require_args(FunctionCallInfo fcinfo, int nargs, const char *names);
/* the same for the arguments whose bits (MT_ARG(i)) are set in argmask */
extern void mt_require_arg_set(FunctionCallInfo fcinfo, uint32 argmask, const char *names);

/* argument 0 as a batch size: 22004 when NULL, 22023 below 1 */
extern int32 mt_batch_arg(FunctionCallInfo fcinfo);

/* multitenant.c calls this once its shared memory is attached */
extern void mt_shared_memory_attached(void);
/* raises 55000 with a hint when the library was not preloaded */
extern void mt_require_shared_memory(const char *what);

/*
 * What a function writes, for mt_require_writable(): tables in the caller's
 * transaction (refused on a hot standby and in a read-only transaction), or
 * only shared memory that the flush worker writes out later (refused on a
 * hot standby only: mt.track, mt.consume, mt.flush_usage).
 */
typedef enum MtWrites
{
	MT_WRITES_TABLES,
	MT_WRITES_SHARED_MEMORY
} MtWrites;

/*
 * 25006 "<what> cannot run on a hot standby" (hint: the primary), or for
 * MT_WRITES_TABLES "<what> cannot run in a read-only transaction"; called
 * first by every function that writes, before any SQL runs
 */
extern void mt_require_writable(const char *what, MtWrites writes);
/* whether this transaction can write tables (not in recovery, not read-only) */
extern bool mt_can_write_tables(void);

/* quoted, schema-qualified name of a relation; 42P01 when there is none */
extern char *mt_relation_name(Oid relid);

/* s cut to at most maxbytes at a character boundary (for error texts) */
extern const char *mt_clipped(const char *s, int maxbytes);

extern void mt_uuid_format(const pg_uuid_t *u, char *out);
extern char *mt_uuid_to_cstring(const pg_uuid_t *u);
extern bool mt_parse_uuid(const char *s, pg_uuid_t *out);
extern void mt_refuse_uuid_slug(const char *slug);

/*
 * Relcache invalidation callbacks of the extension's modules, all behind
 * one PostgreSQL callback slot: a backend has only ten
 * (MAX_RELCACHE_CALLBACKS) for every library together, and Citus takes
 * several.  Registering the same function twice is a no-op.
 */
extern void mt_register_relcache_callback(RelcacheCallbackFunction func);

#endif							/* MT_UTIL_H */
