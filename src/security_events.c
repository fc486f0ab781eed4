/*-------------------------------------------------------------------------
 *
 * security_events.c
 *	  Security events: failed authentications, throttled clients, forged
 *	  and expired tokens, quota breaches, audit chains found tampered,
 *	  policy violations.  A capability that refuses something calls
 *	  mt_security_event() once; the event goes into a bounded ring in
 *	  shared memory, because the refusing statement rolls back and could
 *	  not keep a row.  The flush worker of the event's database drains the
 *	  ring (insight.c writes mt.security_event_log and the tenant's audit
 *	  chain in the worker's own transaction).  Per-kind counters since
 *	  server start are kept beside the ring for the metrics.
 *
 * Bounds: the ring holds multitenant.security_event_buffer events of all
 * databases; recording into a full ring overwrites the oldest undrained
 * event and counts it as lost, so a flood of distinct addresses or keys
 * cannot grow memory.  Subject, detail and client are cut to fixed
 * lengths.
 *
 * Shared state and locks: SecShared->lock (LWLock, tranche "multitenant
 * security events") protects the ring, next_seq and lost: EXCLUSIVE to
 * record and to take or give back events, SHARED to list the databases
 * with events.  The per-kind counters are atomics (no lock).  A slot
 * "taken" by a drain keeps its event until the drain's transaction ends:
 * committed, the slot is freed (unless the event was overwritten
 * meanwhile); aborted, the event is given back for the next drain.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <netdb.h>
#include <sys/socket.h>

#include "common/ip.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "security_events.h"

/* GUC variable (defined in multitenant.c) */
int			mt_security_event_buffer = 1000;

static const char *const kind_names[MT_SEC_NKINDS] = {
	"auth_failed", "throttled", "token_forged", "token_expired",
	"quota_breach", "audit_tamper", "policy_violation",
	"token_refused", "api_key_refused", "api_key_create_refused", "session_idle"
};

typedef struct SecShared
{
	LWLock	   *lock;
	uint64		next_seq;		/* seq of the next event (from 1) */
	uint64		lost;			/* undrained events overwritten */
	pg_atomic_uint64 counts[MT_SEC_NKINDS];
	MtSecEvent	ring[FLEXIBLE_ARRAY_MEMBER];
} SecShared;

static SecShared *sec = NULL;

Size
mt_security_events_shmem_size(void)
{
	return add_size(offsetof(SecShared, ring),
					mul_size(mt_security_event_buffer, sizeof(MtSecEvent)));
}

void
mt_security_events_shmem_request(void)
{
	RequestNamedLWLockTranche("multitenant security events", 1);
}

/* Called from mt_shmem_startup with AddinShmemInitLock held. */
void
mt_security_events_shmem_startup(void)
{
	bool		found;

	sec = ShmemInitStruct("multitenant security events",
						  mt_security_events_shmem_size(), &found);
	if (!found)
	{
		memset(sec, 0, mt_security_events_shmem_size());
		sec->lock = &(GetNamedLWLockTranche("multitenant security events"))->lock;
		sec->next_seq = 1;
		for (int k = 0; k < MT_SEC_NKINDS; k++)
			pg_atomic_init_u64(&sec->counts[k], 0);
	}
}

const char *
mt_security_kind_name(int kind)
{
	return (kind >= 0 && kind < MT_SEC_NKINDS) ? kind_names[kind] : "unknown";
}

/* the client address of this backend ("" for a Unix socket or a worker) */
static void
client_address(char *out, size_t len)
{
	out[0] = '\0';
	if (MyProcPort == NULL)
		return;
	if (MyProcPort->raddr.addr.ss_family != AF_INET &&
		MyProcPort->raddr.addr.ss_family != AF_INET6)
		return;
	if (pg_getnameinfo_all(&MyProcPort->raddr.addr, MyProcPort->raddr.salen,
						   out, len, NULL, 0, NI_NUMERICHOST) != 0)
		out[0] = '\0';
}

/* copies s into a fixed field, cut at a character boundary */
static void
copy_field(char *dst, const char *src, int len)
{
	int			n;

	dst[0] = '\0';
	if (src == NULL)
		return;
	n = strnlen(src, len - 1);
	if (n == len - 1 && src[n] != '\0')
		n = pg_mbcliplen(src, n, n);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void
mt_security_event(const pg_uuid_t *tenant, MtSecKind kind,
				  const char *subject, const char *detail)
{
	MtSecEvent *e;
	char		client[MT_SEC_CLIENT_LEN];
	TimestampTz now;

	if (sec == NULL || kind < 0 || kind >= MT_SEC_NKINDS)
		return;
	pg_atomic_fetch_add_u64(&sec->counts[kind], 1);
	if (!OidIsValid(MyDatabaseId))
		return;
	client_address(client, sizeof(client));
	now = GetCurrentTimestamp();

	LWLockAcquire(sec->lock, LW_EXCLUSIVE);
	e = &sec->ring[(sec->next_seq - 1) % mt_security_event_buffer];
	if (e->seq != 0 && !e->taken)
		sec->lost++;
	e->seq = sec->next_seq++;
	e->dbid = MyDatabaseId;
	e->taken = false;
	e->has_tenant = tenant != NULL;
	if (tenant != NULL)
		memcpy(&e->tenant, tenant, sizeof(pg_uuid_t));
	else
		memset(&e->tenant, 0, sizeof(pg_uuid_t));
	e->kind = kind;
	e->at = now;
	memcpy(e->client, client, sizeof(client));
	copy_field(e->subject, subject, MT_SEC_SUBJECT_LEN);
	copy_field(e->detail, detail, MT_SEC_DETAIL_LEN);
	LWLockRelease(sec->lock);
}

void
mt_security_counts(uint64 *counts, uint64 *lost)
{
	for (int k = 0; k < MT_SEC_NKINDS; k++)
		counts[k] = sec ? pg_atomic_read_u64(&sec->counts[k]) : 0;
	*lost = 0;
	if (sec == NULL)
		return;
	LWLockAcquire(sec->lock, LW_SHARED);
	*lost = sec->lost;
	LWLockRelease(sec->lock);
}

int
mt_security_databases_pending(Oid *dbids, int max)
{
	int			n = 0;

	if (sec == NULL)
		return 0;
	LWLockAcquire(sec->lock, LW_SHARED);
	for (int i = 0; i < mt_security_event_buffer && n < max; i++)
	{
		MtSecEvent *e = &sec->ring[i];
		int			j;

		if (e->seq == 0 || e->taken)
			continue;
		for (j = 0; j < n; j++)
			if (dbids[j] == e->dbid)
				break;
		if (j == n)
			dbids[n++] = e->dbid;
	}
	LWLockRelease(sec->lock);
	return n;
}

MtSecEvent *
mt_security_drain_take(Oid dbid, int max, int *n)
{
	MtSecEvent *out = palloc(sizeof(MtSecEvent) * Max(max, 1));
	uint64		first;

	*n = 0;
	if (sec == NULL)
		return out;
	LWLockAcquire(sec->lock, LW_EXCLUSIVE);
	/* oldest first: from the slot the next event will overwrite */
	first = sec->next_seq - 1;
	for (int i = 0; i < mt_security_event_buffer && *n < max; i++)
	{
		MtSecEvent *e = &sec->ring[(first + i) % mt_security_event_buffer];

		if (e->seq == 0 || e->taken || e->dbid != dbid)
			continue;
		e->taken = true;
		out[(*n)++] = *e;
	}
	LWLockRelease(sec->lock);
	return out;
}

void
mt_security_drain_done(const MtSecEvent *ev, int n, bool committed)
{
	if (sec == NULL)
		return;
	LWLockAcquire(sec->lock, LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
	{
		MtSecEvent *e = &sec->ring[(ev[i].seq - 1) % mt_security_event_buffer];

		if (e->seq != ev[i].seq)
			continue;			/* overwritten meanwhile */
		if (committed)
			e->seq = 0;
		else
			e->taken = false;
	}
	LWLockRelease(sec->lock);
}
