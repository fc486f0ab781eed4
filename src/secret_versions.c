/*-------------------------------------------------------------------------
 *
 * secret_versions.c
 *	  Versions of the server's keys: the rows of mt.secret_versions (which
 *	  versions of the token, api_key and audit_kek keys exist, the master
 *	  each derives from, active / previous / retired), a per-backend cache
 *	  of them, and the keys themselves, derived on demand by crypto.c and
 *	  kept as keyed HMAC states for the hot paths.  Rotation and
 *	  retirement (the SQL functions) are in secret_rotation.c.
 *
 * A purpose without rows has one implicit version: 1, active, derived from
 * the secret file's first master, which is the key of every release before
 * 0.3.0.  mt.rotate_secret() writes that row before it adds version 2.
 *
 * The table is read with a heap scan (a handful of rows; no SPI, so the
 * token check hook may use it) with the latest snapshot, and cached per
 * backend while the registry generation and this backend's registry
 * invalidation count stay unchanged (tenant_status.c): the table's
 * statement trigger moves the generation on the primary and queues the
 * relcache invalidation that standbys replay.  Without shared memory the
 * table is read once per transaction; in parallel mode with the query's
 * snapshot, uncached.
 *
 * Per-backend state only; no locks.  Keyed HMAC states hold key material
 * in backend memory, like the rest of crypto.c's derived keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "secret_versions.h"
#include "tenant_status.h"

static const char *const purpose_names[MT_SECRET_PURPOSES] = {
	"token", "api_key", "audit_kek"
};

/* HMAC labels of the keys; version N appends " vN" (crypto.c) */
static const char *const purpose_labels[MT_SECRET_PURPOSES] = {
	"multitenant token signing",
	"multitenant api-key pepper",
	"multitenant audit kek"
};

#define MAX_VERSIONS 64			/* kept per purpose; rotation refuses beyond */

typedef struct PurposeVersions
{
	int			n;
	MtSecretVersion v[MAX_VERSIONS];
} PurposeVersions;

static PurposeVersions cache[MT_SECRET_PURPOSES];
static bool cache_valid = false;
static uint64 cache_generation = 0;
static uint64 cache_inval = 0;
static LocalTransactionId cache_lxid = InvalidLocalTransactionId;

const char *
mt_secret_purpose_name(MtSecretPurpose p)
{
	return purpose_names[p];
}

bool
mt_secret_purpose_from_name(const char *name, MtSecretPurpose *p)
{
	for (int i = 0; i < MT_SECRET_PURPOSES; i++)
		if (strcmp(name, purpose_names[i]) == 0)
		{
			*p = (MtSecretPurpose) i;
			return true;
		}
	return false;
}

const char *
mt_secret_state_name(MtSecretState s)
{
	switch (s)
	{
		case MT_SECRET_ACTIVE:
			return "active";
		case MT_SECRET_PREVIOUS:
			return "previous";
		case MT_SECRET_RETIRED:
			return "retired";
	}
	return "?";
}

static MtSecretState
state_from_name(const char *s)
{
	if (strcmp(s, "active") == 0)
		return MT_SECRET_ACTIVE;
	if (strcmp(s, "previous") == 0)
		return MT_SECRET_PREVIOUS;
	return MT_SECRET_RETIRED;	/* the CHECK constraint allows nothing else */
}

static void
add_implicit_versions(PurposeVersions *pv)
{
	for (int p = 0; p < MT_SECRET_PURPOSES; p++)
	{
		MtSecretVersion *v;

		if (pv[p].n > 0)
			continue;
		v = &pv[p].v[0];
		memset(v, 0, sizeof(*v));
		v->version = 1;
		v->state = MT_SECRET_ACTIVE;
		v->implicit = true;
		strlcpy(v->master, mt_master_fingerprint(0), sizeof(v->master));
		(void) mt_secret_fingerprint((MtSecretPurpose) p, 1, v->master, v->fingerprint);
		pv[p].n = 1;
	}
}

/* insertion in version order (a handful of rows) */
static void
add_version(PurposeVersions *pv, const MtSecretVersion *v)
{
	int			i;

	if (pv->n >= MAX_VERSIONS)
		return;					/* older ones are kept; rotation refuses first */
	for (i = pv->n; i > 0 && pv->v[i - 1].version > v->version; i--)
		pv->v[i] = pv->v[i - 1];
	pv->v[i] = *v;
	pv->n++;
}

/* Reads mt.secret_versions into out (implicit versions added). */
static void
read_versions(PurposeVersions *out, bool fresh)
{
	Oid			relid = mt_catalog_relid("secret_versions");
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Snapshot	snap;
	AttrNumber	a_purpose,
				a_version,
				a_master,
				a_fp,
				a_state,
				a_created,
				a_retired;

	memset(out, 0, sizeof(PurposeVersions) * MT_SECRET_PURPOSES);
	if (OidIsValid(relid) && (rel = try_table_open(relid, AccessShareLock)) != NULL)
	{
		TupleDesc	desc = RelationGetDescr(rel);

		a_purpose = mt_catalog_attnum(relid, "secret_versions", "purpose");
		a_version = mt_catalog_attnum(relid, "secret_versions", "version");
		a_master = mt_catalog_attnum(relid, "secret_versions", "master");
		a_fp = mt_catalog_attnum(relid, "secret_versions", "fingerprint");
		a_state = mt_catalog_attnum(relid, "secret_versions", "state");
		a_created = mt_catalog_attnum(relid, "secret_versions", "created_at");
		a_retired = mt_catalog_attnum(relid, "secret_versions", "retired_at");

		snap = fresh ? mt_fresh_snapshot(relid) : GetActiveSnapshot();
		scan = table_beginscan(rel, snap, 0, NULL);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			MtSecretVersion v;
			MtSecretPurpose p;
			bool		isnull;
			char	   *s;
			Datum		d;

			memset(&v, 0, sizeof(v));
			d = heap_getattr(tup, a_purpose, desc, &isnull);
			if (isnull)
				continue;
			s = TextDatumGetCString(d);
			if (!mt_secret_purpose_from_name(s, &p))
				continue;
			v.version = DatumGetInt32(heap_getattr(tup, a_version, desc, &isnull));
			s = TextDatumGetCString(heap_getattr(tup, a_master, desc, &isnull));
			strlcpy(v.master, s, sizeof(v.master));
			s = TextDatumGetCString(heap_getattr(tup, a_fp, desc, &isnull));
			strlcpy(v.fingerprint, s, sizeof(v.fingerprint));
			s = TextDatumGetCString(heap_getattr(tup, a_state, desc, &isnull));
			v.state = state_from_name(s);
			v.created_at = DatumGetTimestampTz(heap_getattr(tup, a_created, desc, &isnull));
			d = heap_getattr(tup, a_retired, desc, &isnull);
			v.retired_at = isnull ? 0 : DatumGetTimestampTz(d);
			add_version(&out[p], &v);
		}
		table_endscan(scan);
		if (fresh)
			UnregisterSnapshot(snap);
		table_close(rel, AccessShareLock);
	}
	add_implicit_versions(out);
}

/*
 * The cached versions, refreshed when the registry moved (header
 * comment).  Outside a transaction the last cached state is used, or the
 * implicit versions when nothing was ever read.
 */
static PurposeVersions *
versions(void)
{
	static PurposeVersions uncached[MT_SECRET_PURPOSES];
	uint64		gen = 0;
	uint64		inval;
	bool		shared;

	if (!IsTransactionState())
	{
		if (!cache_valid)
		{
			memset(cache, 0, sizeof(cache));
			add_implicit_versions(cache);
		}
		return cache;
	}
	if (IsInParallelMode())
	{
		if (!ActiveSnapshotSet())
		{
			/* nothing to read with: only what is implicit, nothing retired */
			memset(uncached, 0, sizeof(uncached));
			add_implicit_versions(uncached);
			return uncached;
		}
		read_versions(uncached, false);
		return uncached;
	}
	shared = mt_registry_generation(&gen);
	inval = mt_registry_inval_count();
	if (cache_valid && inval == cache_inval &&
		(shared ? gen == cache_generation : MyProc->lxid == cache_lxid))
		return cache;

	cache_valid = false;
	read_versions(cache, true);
	cache_generation = gen;		/* read before the table */
	cache_inval = inval;
	cache_lxid = MyProc->lxid;
	cache_valid = true;
	return cache;
}

int
mt_secret_versions(MtSecretPurpose p, const MtSecretVersion **out)
{
	PurposeVersions *pv = &versions()[p];

	*out = pv->v;
	return pv->n;
}

const MtSecretVersion *
mt_secret_version(MtSecretPurpose p, int version)
{
	PurposeVersions *pv = &versions()[p];

	for (int i = 0; i < pv->n; i++)
		if (pv->v[i].version == version)
			return &pv->v[i];
	return NULL;
}

const MtSecretVersion *
mt_secret_active(MtSecretPurpose p)
{
	PurposeVersions *pv = &versions()[p];

	for (int i = pv->n - 1; i >= 0; i--)
		if (pv->v[i].state == MT_SECRET_ACTIVE)
			return &pv->v[i];
	return NULL;				/* every version retired: nothing is made */
}

/* a version that exists here and is not retired */
bool
mt_secret_usable(MtSecretPurpose p, int version)
{
	const MtSecretVersion *v = mt_secret_version(p, version);

	return v != NULL && v->state != MT_SECRET_RETIRED;
}

bool
mt_secret_key(MtSecretPurpose p, int version, const char *master, uint8 *out)
{
	int			m = mt_master_index(master);

	if (m < 0)
		return false;
	mt_derive_versioned_key(purpose_labels[p], version, m, out);
	return true;
}

bool
mt_secret_fingerprint(MtSecretPurpose p, int version, const char *master, char *out)
{
	uint8		key[MT_SECRET_LEN];

	if (!mt_secret_key(p, version, master, key))
	{
		out[0] = '\0';
		return false;
	}
	mt_key_fingerprint(key, out);
	mt_wipe(key, sizeof(key));
	return true;
}

/*
 * HMAC-SHA256 under a version's key.  The keyed states of the last few
 * (purpose, version, master) used are kept, so the hot paths (token
 * verification, API-key hashing) cost two SHA-256 compressions of the
 * message, as with a single key.
 */
#define KEYED_SLOTS 8

typedef struct KeyedSlot
{
	bool		used;
	MtSecretPurpose purpose;
	int			version;
	char		master[MT_MASTER_FP_LEN + 1];
	MtHmacKeyed state;
} KeyedSlot;

static KeyedSlot keyed[KEYED_SLOTS];
static int	keyed_next = 0;

bool
mt_secret_hmac(MtSecretPurpose p, int version, const char *master,
			   const uint8 *msg, size_t msglen, uint8 *out)
{
	KeyedSlot  *slot = NULL;

	for (int i = 0; i < KEYED_SLOTS; i++)
		if (keyed[i].used && keyed[i].purpose == p && keyed[i].version == version &&
			strcmp(keyed[i].master, master) == 0)
		{
			slot = &keyed[i];
			break;
		}
	if (slot == NULL)
	{
		uint8		key[MT_SECRET_LEN];

		if (!mt_secret_key(p, version, master, key))
			return false;
		slot = &keyed[keyed_next];
		keyed_next = (keyed_next + 1) % KEYED_SLOTS;
		mt_hmac_keyed_init(&slot->state, key, sizeof(key));
		mt_wipe(key, sizeof(key));
		slot->purpose = p;
		slot->version = version;
		strlcpy(slot->master, master, sizeof(slot->master));
		slot->used = true;
	}
	mt_hmac_keyed(&slot->state, msg, msglen, out);
	return true;
}

/*
 * Whether this server's first master secret is the one the recorded
 * versions 1 derive from.  False after a restore or pg_upgrade without the
 * secret file: then the keys that find audit rows by subject (and GDPR
 * pseudonyms) differ from the ones the stored rows were made with.  True
 * when nothing recorded says otherwise.
 */
bool
mt_secret_original_master_present(void)
{
	PurposeVersions *pv = versions();

	for (int p = 0; p < MT_SECRET_PURPOSES; p++)
		for (int i = 0; i < pv[p].n; i++)
			if (pv[p].v[i].version == 1 && !pv[p].v[i].implicit &&
				strcmp(pv[p].v[i].master, mt_master_fingerprint(0)) != 0)
				return false;
	return true;
}
