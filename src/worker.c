/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Background workers: the launcher (one static worker, registered in
 *	  _PG_init when the library is preloaded) and the per-database flush
 *	  workers it starts.  It serves the flush requests of flush_request.c
 *	  and calls the usage, API-key and security-event flushes; no
 *	  capability calls it.
 *
 * The launcher needs no configuration: every multitenant.flush_interval
 * (reloaded on SIGHUP) it looks at the shared counter table, and for each
 * database that has counts to flush (or security events to write) it starts a dynamic flush worker
 * connected to that database (pg_partman's pattern: one short-lived
 * worker per database and round).  A flush worker checks that recovery is
 * over and that the extension exists, flushes in one transaction, reports
 * its statistics, seals the database's committed audit events (audit.c)
 * and exits (the same transaction closes the usage periods that ended,
 * billing.c).  Databases flagged by mt_flush_request_audit() get a worker at
 * most every multitenant.audit_seal_interval; when no flush is due there,
 * it is a seal-only worker (bgw_extra 's'), which leaves the usage and
 * API-key flushes to their own rounds.  A worker stays for further sealing
 * passes while they find events (10 s at most), and leaves at once when a
 * flush of its database is waiting or a session wants the database to
 * itself (DROP DATABASE, CREATE DATABASE ... TEMPLATE, ALTER DATABASE
 * RENAME or SET TABLESPACE: it tries the database object's lock at each
 * pass), so those keep working.  For the database owner's DROP DATABASE
 * ... WITH (FORCE), which PostgreSQL would refuse while a worker is there,
 * mt_worker_utility (ProcessUtility) takes that lock itself and waits for
 * the workers to leave.  Every worker transaction that reads the
 * extension's tables first takes AccessShareLock on the extension object
 * (extension_locked), so DROP EXTENSION waits for it rather than
 * deadlocking with it.
 * The launcher restarts after a failure (bgw_restart_time); a failed
 * flush leaves the counts pending for the next round.  Databases that no
 * longer exist lose their counters.
 *
 * The flush never depends on a free max_worker_processes slot: a second
 * static worker, the reserved flush worker, holds one slot from server
 * start.  It waits without a database connection; when the launcher cannot
 * start a dynamic flush worker (every slot taken, say by parallel
 * queries), it hands the database to the reserved worker, which connects
 * to it, runs the same flush as a dynamic worker and exits with code 1 so
 * that the postmaster starts it again (bgw_restart_time 1 s) in a fresh
 * process, ready for the next database.  The launcher never runs two
 * flushes of one database at once (dynamic or reserved).
 *
 * Shutdown: a flush worker that receives SIGTERM finishes its flush (it
 * installs SignalHandlerForShutdownRequest rather than die); whatever is
 * still pending when every process has exited is written to a file by the
 * postmaster (usage.c) and put back at the next start, so a clean shutdown
 * loses nothing.
 *
 * Locks: MtWorkerShared->lock (flush_request.c, which owns that struct,
 * its shared memory and the "multitenant workers" tranche) protects the
 * launcher's and the reserved worker's PGPROC pointers, reserved_dbid,
 * flush_all and the flush request slots.  The launcher's list of running
 * workers is local to it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_subscription.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "api_keys.h"
#include "audit.h"
#include "billing.h"
#include "flush_request.h"
#include "insight.h"
#include "seal_floor.h"
#include "security_events.h"
#include "usage.h"
#include "worker.h"

int			mt_audit_seal_interval_ms = 200;

/*
 * How long a worker stays for further sealing passes while they find work
 * (a worker's start costs about 30 ms of CPU: under steady appends, one
 * start every 10 s instead of every second); the reserved flush worker,
 * which every database shares, stays 1 s.
 */
#define MT_SEAL_STAY_MS 10000
#define MT_SEAL_STAY_RESERVED_MS 1000

/*
 * How long a staying worker goes on after its passes stopped finding
 * events: appends a few times a second leave every other pass empty, and
 * leaving at the first empty pass started a new worker for nearly every
 * event (twenty-second session).
 */
#define MT_SEAL_IDLE_MS 1000

PGDLLEXPORT void mt_launcher_main(Datum main_arg);
PGDLLEXPORT void mt_flush_worker_main(Datum main_arg);
PGDLLEXPORT void mt_reserved_flush_main(Datum main_arg);

static void note_flush_waiting(Oid dbid, bool waiting);

/* this process is the reserved flush worker: exit 1 so it is restarted */
static bool flush_is_reserved = false;

/* the bgw_type of the flush workers, dynamic and reserved */
#define MT_FLUSH_WORKER_TYPE "multitenant flush"

#define MT_MAX_RUNNING 64		/* flush workers the launcher tracks */
#define MT_MAX_DATABASES 8192	/* pg_database rows the launcher reads */

void
mt_worker_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "multitenant");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "mt_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "multitenant launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "multitenant launcher");
	RegisterBackgroundWorker(&worker);

	/* the reserved flush worker: a slot no parallel query can take */
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "mt_reserved_flush_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "multitenant reserved flush");
	snprintf(worker.bgw_type, BGW_MAXLEN, MT_FLUSH_WORKER_TYPE);
	RegisterBackgroundWorker(&worker);
}

/*
 * Whether the extension exists in the worker's database, locked for the
 * rest of the transaction: AccessShareLock on its pg_extension object,
 * which DROP EXTENSION takes (AccessExclusiveLock) before it locks and
 * drops the tables one by one.  Without it a pass and a DROP EXTENSION
 * could each hold a table the other waits for (they lock them in
 * different orders) and one of them fail with a deadlock; with it the
 * drop waits for the pass, or the pass for the drop and then finds the
 * extension gone.  Called first in every worker transaction that reads
 * the extension's tables.
 */
static bool
extension_locked(void)
{
	Oid			ext = get_extension_oid("multitenant", true);

	if (!OidIsValid(ext))
		return false;
	LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
	/* a drop committed while this waited: read the catalog again */
	InvalidateCatalogSnapshot();
	return get_extension_oid("multitenant", true) == ext;
}

/* ---------------------------------------------------------------------
 * Launcher
 * --------------------------------------------------------------------- */

typedef struct MtRunning
{
	Oid			dbid;
	BackgroundWorkerHandle *handle;
} MtRunning;

static MtRunning running[MT_MAX_RUNNING];
static int	n_running = 0;

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	if (mt_worker_shared->launcher == MyProc)
		mt_worker_shared->launcher = NULL;
	LWLockRelease(mt_worker_shared->lock);
}

static void
reap_workers(void)
{
	int			kept = 0;

	for (int i = 0; i < n_running; i++)
	{
		pid_t		pid;

		if (GetBackgroundWorkerPid(running[i].handle, &pid) == BGWH_STOPPED)
		{
			pfree(running[i].handle);
			/* whoever waited for it is started anew if still wanted */
			note_flush_waiting(running[i].dbid, false);
		}
		else
			running[kept++] = running[i];
	}
	n_running = kept;
}

static bool
is_running(Oid dbid)
{
	bool		reserved;

	for (int i = 0; i < n_running; i++)
		if (running[i].dbid == dbid)
			return true;
	LWLockAcquire(mt_worker_shared->lock, LW_SHARED);
	reserved = (mt_worker_shared->reserved_dbid == dbid);
	LWLockRelease(mt_worker_shared->lock);
	return reserved;
}

/* is_running() for a caller that holds the worker lock */
static bool
is_running_locked(Oid dbid)
{
	for (int i = 0; i < n_running; i++)
		if (running[i].dbid == dbid)
			return true;
	return mt_worker_shared->reserved_dbid == dbid;
}

/* no free slot: give the database to the reserved flush worker if it waits */
static bool
start_reserved_flush(Oid dbid)
{
	bool		given = false;

	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	if (mt_worker_shared->reserved != NULL &&
		mt_worker_shared->reserved_dbid == InvalidOid)
	{
		mt_worker_shared->reserved_dbid = dbid;
		SetLatch(&mt_worker_shared->reserved->procLatch);
		given = true;
	}
	LWLockRelease(mt_worker_shared->lock);
	return given;
}

/*
 * A flush of dbid is waiting for the worker that runs there (waiting) or
 * has started: a worker staying for sealing passes leaves when it sees the
 * flag (audit_seal_passes), so that the flush is not held up by its stay.
 */
static void
note_flush_waiting(Oid dbid, bool waiting)
{
	MtFlushRequest *r;

	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	r = mt_flush_request_slot(dbid, waiting);
	if (r != NULL)
		r->flush_waiting = waiting;
	LWLockRelease(mt_worker_shared->lock);
}

/* false when the database's flush must be tried again later */
static bool
start_flush_worker(Oid dbid, bool seal_only)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext old;
	static TimestampTz last_warning = 0;

	if (is_running(dbid) || n_running >= MT_MAX_RUNNING)
		return false;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher starts the next one */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "multitenant");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "mt_flush_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "multitenant flush for database %u", dbid);
	snprintf(worker.bgw_type, BGW_MAXLEN, MT_FLUSH_WORKER_TYPE);
	worker.bgw_main_arg = ObjectIdGetDatum(dbid);
	worker.bgw_notify_pid = MyProcPid;
	/* 's': only audit events to seal; the usage flush keeps its rounds */
	worker.bgw_extra[0] = seal_only ? 's' : 'f';

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		MemoryContextSwitchTo(old);
		if (start_reserved_flush(dbid))
			return true;
		if (TimestampDifferenceExceeds(last_warning, GetCurrentTimestamp(), 60000))
		{
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("multitenant could not start a usage flush worker"),
					 errhint("Raise max_worker_processes.")));
			last_warning = GetCurrentTimestamp();
		}
		return false;
	}
	MemoryContextSwitchTo(old);
	running[n_running].dbid = dbid;
	running[n_running].handle = handle;
	n_running++;
	return true;
}

/* databases (oid, datallowconn) from pg_database */
static int
database_list(Oid *oids, bool *allowconn, int max)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	int			n = 0;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (n < max && HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		oids[n] = db->oid;
		allowconn[n] = db->datallowconn;
		n++;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return n;
}

/* a dropped database: its counters and flush requests go */
static void
forget_database(Oid dbid)
{
	MtFlushRequest *r;

	mt_usage_discard_database(dbid);
	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	r = mt_flush_request_slot(dbid, false);
	if (r != NULL)
	{
		r->failed = r->requested;
		r->flush_waiting = false;
	}
	LWLockRelease(mt_worker_shared->lock);
}

void
mt_launcher_main(Datum main_arg)
{
	TimestampTz next_round = 0;
	TimestampTz last_round = 0;
	TimestampTz last_seal = 0;
	bool		again = false;	/* a database's flush could not start yet */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/* no database: the launcher only reads the shared catalog pg_database */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	mt_worker_shared->launcher = MyProc;
	LWLockRelease(mt_worker_shared->lock);
	before_shmem_exit(launcher_detach, (Datum) 0);

	for (;;)
	{
		TimestampTz now;
		bool		round;
		bool		flush_all;
		Oid			targets[MT_MAX_RUNNING];
		bool		seal[MT_MAX_RUNNING];
		bool		flush[MT_MAX_RUNNING];
		int			n_targets = 0;
		long		timeout;
		bool		seal_round;
		bool		seal_waiting = false;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			proc_exit(1);		/* non-zero: restarted if killed by hand */
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* a new multitenant.flush_interval applies to the coming round */
			if (last_round != 0)
				next_round = TimestampTzPlusMilliseconds(last_round, mt_flush_interval_ms);
		}

		reap_workers();
		now = GetCurrentTimestamp();
		round = now >= next_round;
		seal_round = TimestampDifferenceExceeds(last_seal, now, mt_audit_seal_interval_ms);

		/*
		 * Audit events to seal: at most one worker start per database and
		 * multitenant.audit_seal_interval.  The flag is cleared before the
		 * worker starts (see mt_flush_request_audit) and put back when it
		 * cannot start.
		 */
		LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
		flush_all = mt_worker_shared->flush_all;
		mt_worker_shared->flush_all = false;
		for (int i = 0; i < MT_MAX_FLUSH_REQUESTS && n_targets < MT_MAX_RUNNING; i++)
		{
			MtFlushRequest *r = &mt_worker_shared->requests[i];
			bool		want_flush;
			bool		want_seal;

			if (r->dbid == InvalidOid)
				continue;
			want_flush = r->requested > r->completed && r->requested > r->failed;
			want_seal = r->audit_unsealed && seal_round && !is_running_locked(r->dbid);
			if (r->audit_unsealed && !want_seal)
				seal_waiting = true;
			if (want_flush || want_seal)
			{
				seal[n_targets] = want_seal;
				flush[n_targets] = want_flush;
				if (want_seal)
					r->audit_unsealed = false;
				targets[n_targets++] = r->dbid;
			}
		}
		LWLockRelease(mt_worker_shared->lock);
		if (seal_round)
			last_seal = now;

		if ((round || flush_all || again) && !RecoveryInProgress())
		{
			Oid			pending[MT_MAX_RUNNING];
			int			n_pending = mt_usage_databases_with_pending(pending, MT_MAX_RUNNING);

			/* and the databases with security events to write (insight.c) */
			n_pending += mt_security_databases_pending(pending + n_pending,
													   MT_MAX_RUNNING - n_pending);

			for (int i = 0; i < n_pending && n_targets < MT_MAX_RUNNING; i++)
			{
				int			j;

				for (j = 0; j < n_targets; j++)
					if (targets[j] == pending[i])
						break;
				if (j == n_targets)
				{
					seal[n_targets] = false;
					flush[n_targets] = true;
					targets[n_targets++] = pending[i];
				}
				else
					flush[j] = true;
			}
			if (round)
			{
				last_round = now;
				next_round = TimestampTzPlusMilliseconds(now, mt_flush_interval_ms);
			}
		}

		/*
		 * Start one flush worker per target database that still exists and
		 * accepts connections; the counters and requests of dropped
		 * databases are forgotten.  A database whose previous flush worker
		 * is still running (it may have taken its counts before this
		 * request) is retried when that worker exits, which sets our latch.
		 */
		again = false;
		if (n_targets > 0 && !RecoveryInProgress())
		{
			Oid		   *oids = palloc(sizeof(Oid) * MT_MAX_DATABASES);
			bool	   *allow = palloc(sizeof(bool) * MT_MAX_DATABASES);
			int			n_db = database_list(oids, allow, MT_MAX_DATABASES);

			for (int i = 0; i < n_targets; i++)
			{
				int			j;

				for (j = 0; j < n_db; j++)
					if (oids[j] == targets[i])
						break;
				if (j == n_db)
				{
					if (n_db < MT_MAX_DATABASES)
						forget_database(targets[i]);	/* dropped */
				}
				else if (allow[j] && !start_flush_worker(targets[i], !flush[i]))
				{
					again = true;
					if (seal[i])
						mt_flush_request_audit(targets[i]);
					if (flush[i])
						note_flush_waiting(targets[i], true);
				}
				else if (allow[j] && flush[i])
					note_flush_waiting(targets[i], false);
			}
			pfree(oids);
			pfree(allow);
		}

		timeout = Max(10, Min((long) (again ? 100 : mt_flush_interval_ms),
							  (long) ((next_round - GetCurrentTimestamp()) / 1000)));
		if (seal_waiting)
			timeout = Max(10, Min(timeout, (long) mt_audit_seal_interval_ms));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---------------------------------------------------------------------
 * Flush worker (one database, one flush, then exit)
 * --------------------------------------------------------------------- */

/*
 * Whether the worker should leave its database now: a flush is waiting for
 * it to exit (note_flush_waiting), or a session wants the database to
 * itself.  DROP DATABASE, ALTER DATABASE RENAME and SET TABLESPACE
 * (AccessExclusiveLock on the database object) and CREATE DATABASE ...
 * TEMPLATE (ShareLock) take their lock, then wait for the database's other
 * connections to end; a connection takes RowExclusiveLock on the database
 * object while it starts.  The worker tries it too before each pass,
 * without waiting, and lets it go at once (a pass held up by a table lock
 * must not hold up DROP DATABASE ... WITH (FORCE), which would end the
 * holder): when it cannot have it, it leaves.  Called inside the pass's
 * transaction.
 */
static bool
should_leave(Oid dbid)
{
	LOCKTAG		tag;
	bool		waiting = false;
	MtFlushRequest *r;

	LWLockAcquire(mt_worker_shared->lock, LW_SHARED);
	r = mt_flush_request_slot(dbid, false);
	if (r != NULL)
		waiting = r->flush_waiting;
	LWLockRelease(mt_worker_shared->lock);
	if (waiting)
		return true;
	SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, dbid, 0);
	if (LockAcquire(&tag, RowExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	/* a probe: a pass that then waits for a table lock must not hold it */
	LockRelease(&tag, RowExclusiveLock, false);
	return false;
}

/*
 * The workers connected to database dbid now, as DROP DATABASE sees them:
 * background workers of type "multitenant flush" in the process array (a
 * worker's backend status entry goes before it leaves the array).  The
 * unlocked look at every PGPROC finds candidates; BackendPidGetProc
 * (ProcArrayLock) confirms each.
 */
static int
workers_connected(Oid dbid)
{
	int			n = 0;

	for (uint32 i = 0; i < ProcGlobal->allProcCount; i++)
	{
		PGPROC	   *proc = &ProcGlobal->allProcs[i];
		int			pid = proc->pid;
		PGPROC	   *live;
		const char *type;

		if (pid == 0 || proc->databaseId != dbid || !proc->isBackgroundWorker)
			continue;
		live = BackendPidGetProc(pid);
		if (live == NULL || live->databaseId != dbid)
			continue;
		type = GetBackgroundWorkerTypeByPid(pid);
		if (type != NULL && strcmp(type, MT_FLUSH_WORKER_TYPE) == 0)
			n++;
	}
	return n;
}

/*
 * DROP DATABASE ... WITH (FORCE) ends the database's other sessions, but
 * PostgreSQL lets a role end only the sessions of roles whose privileges
 * it has (or with pg_signal_backend), and the workers' process entries
 * carry no role (they connect without one): the owner's FORCE failed with
 * 42501 while one was connected.  For the owner (not a superuser or a
 * member of pg_signal_backend, whose FORCE ends the workers itself; nobody
 * else may drop the database) this takes the lock DROP DATABASE takes
 * first, AccessExclusiveLock on the database object, before the statement
 * runs: no session can connect from then on, and a worker leaves at its
 * next pass when it cannot have that lock (should_leave).  It waits for
 * them to be gone, up to 5 s as DROP DATABASE waits for sessions; a cancel
 * ends the wait (57014).  The lock stays with the statement's transaction,
 * where DROP DATABASE takes it again.  Where PostgreSQL refuses the
 * statement before it ends sessions, nothing is done, so that its error
 * comes at once (toplevel: the statement is the client's, not run from a
 * function).  Anything else passes through.
 */
void
mt_worker_utility(Node *parsetree, bool toplevel)
{
	DropdbStmt *stmt;
	ListCell   *lc;
	bool		force = false;
	Oid			dbid;
	HeapTuple	tup;
	Oid			owner;
	bool		is_template;
	int			nslots;
	int			nslots_active;
	TimestampTz until;

	if (!IsA(parsetree, DropdbStmt) || !toplevel || superuser() ||
		has_privs_of_role(GetUserId(), ROLE_PG_SIGNAL_BACKEND) ||
		IsTransactionBlock() || RecoveryInProgress() || XactReadOnly)
		return;
#ifdef XACT_FLAGS_PIPELINING
	if (MyXactFlags & XACT_FLAGS_PIPELINING)
		return;
#endif
	stmt = (DropdbStmt *) parsetree;
	foreach(lc, stmt->options)
	{
		DefElem    *opt = lfirst_node(DefElem, lc);

		if (strcmp(opt->defname, "force") == 0)
			force = true;
	}
	if (!force)
		return;
	dbid = get_database_oid(stmt->dbname, true);
	if (!OidIsValid(dbid) || dbid == MyDatabaseId)
		return;
	/* the row once: a concurrent drop is PostgreSQL's to report */
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dbid));
	if (!HeapTupleIsValid(tup))
		return;
	owner = ((Form_pg_database) GETSTRUCT(tup))->datdba;
	is_template = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
	ReleaseSysCache(tup);
	/* dropdb's checks before it ends sessions: ownership, template, replication */
	if (!has_privs_of_role(GetUserId(), owner) || is_template ||
		(ReplicationSlotsCountDBSlots(dbid, &nslots, &nslots_active) && nslots_active > 0) ||
		CountDBSubscriptions(dbid) > 0)
		return;
	LockSharedObject(DatabaseRelationId, dbid, 0, AccessExclusiveLock);
	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 5000);
	while (workers_connected(dbid) > 0 && GetCurrentTimestamp() < until)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Whether a worker staying until stay_until has no time for another pass.
 * Between passes it sleeps a whole interval and DROP DATABASE waits 5 s
 * for the database's sessions: with an interval over 1 s it never stays.
 */
static bool
stay_over(TimestampTz stay_until)
{
	return mt_audit_seal_interval_ms > MT_SEAL_STAY_RESERVED_MS ||
		GetCurrentTimestamp() + (int64) mt_audit_seal_interval_ms * 1000 > stay_until;
}

/*
 * Seal the database's committed audit events, each pass in a transaction of
 * its own (a failure leaves them for the next round; it does not undo the
 * flush).  Chains locked by someone else are skipped and the database is
 * flagged again.  While passes find events, and for MT_SEAL_IDLE_MS after
 * the last one that did (a worker whose first pass finds nothing, as after
 * most usage flushes, leaves at once), the worker stays for further passes
 * every audit_seal_interval, for at most stay_ms, which saves a process
 * start per pass under steady or sparse appends.  Each pass takes the
 * database's flag down before its snapshot (mt_flush_request_audit_taken),
 * so that only commits it may have missed raise it again for the launcher,
 * which does not start a second worker for the database while this one
 * runs; a worker that leaves having sealed everything leaves no flag
 * behind.  It leaves earlier when a flush of the database is waiting or a
 * session wants the database to itself (should_leave), and reads a changed
 * configuration between passes.
 */
static void
audit_seal_passes(Oid dbid, int stay_ms)
{
	pgstat_report_activity(STATE_RUNNING, "sealing audit events");
	{
		TimestampTz stay_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), stay_ms);
		TimestampTz next_pass;
		bool		first = true;
		bool		reload_ends_stay = false;
		TimestampTz last_found = 0;	/* no pass found events yet */

		for (;;)
		{
			volatile int64 sealed = 0;
			volatile bool leave = false;
			MtSealPass	pass;
			TimestampTz pass_start = GetCurrentTimestamp();

			PG_TRY();
			{
				bool		incomplete = false;

				SetCurrentStatementStartTimestamp();
				StartTransactionCommand();
				/* the first pass: the worker was just started for it */
				if (!first && should_leave(dbid))
					leave = true;
				else
				{
					mt_flush_request_audit_taken(dbid);
					PushActiveSnapshot(GetTransactionSnapshot());
					memset(&pass, 0, sizeof(pass));
					if (extension_locked())
						sealed = mt_audit_seal_database(&incomplete, &pass);
					PopActiveSnapshot();
				}
				CommitTransactionCommand();
				if (!leave)
				{
					/* committed: the pass may raise the sealer's floor */
					mt_seal_floor_commit(&pass);
					if (incomplete)
						mt_flush_request_audit(dbid);
				}
			}
			PG_CATCH();
			{
				EmitErrorReport();
				FlushErrorState();
				AbortCurrentTransaction();
			}
			PG_END_TRY();
			first = false;
			if (leave)
			{
				/* events of the commits since the last pass: the next worker's */
				mt_flush_request_audit(dbid);
				break;
			}
			if (sealed > 0)
				last_found = pass_start;
			else if (TimestampDifferenceExceeds(last_found, pass_start, MT_SEAL_IDLE_MS))
				break;
			if (ShutdownRequestPending || stay_over(stay_until))
				break;

			/*
			 * The next pass a whole interval after this one started: at
			 * once when this one took longer.  Sleeping a whole interval
			 * after a long pass left the worker idle while events piled
			 * up: under an append rate close to what one worker seals, the
			 * backlog then grew without bound (a 30 s run at 16,000
			 * appends/s on 2 cores ended 9.9 s behind).  The latch may be
			 * set for other reasons (every procsignal sets it; seen right
			 * after most workers' starts): a pass that came at once found
			 * nothing yet and ended the stay, so under light load a new
			 * worker started every interval; hence the wait for the time,
			 * not for the latch.  A shutdown or a longer interval ends the
			 * stay before the next pass.
			 */
			next_pass = TimestampTzPlusMilliseconds(pass_start, mt_audit_seal_interval_ms);
			while (!ShutdownRequestPending)
			{
				long		ms;

				if (ConfigReloadPending)
				{
					ConfigReloadPending = false;
					ProcessConfigFile(PGC_SIGHUP);
					if (stay_over(stay_until))
					{
						reload_ends_stay = true;
						break;
					}
				}
				/* at most an interval: the clock may have stepped back */
				ms = Min(TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_pass),
						 (long) mt_audit_seal_interval_ms);
				if (ms <= 0)
					break;
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 ms, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
			if (ShutdownRequestPending)
				break;
			if (reload_ends_stay)
			{
				mt_flush_request_audit(dbid);
				break;
			}
		}
	}
}

/* a flush ended: publish it to the mt.flush_usage() callers it covers */
static void
flush_report(Oid dbid, uint64 req, bool ok, int64 rows)
{
	MtFlushRequest *r;

	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	r = mt_flush_request_slot(dbid, false);
	if (r != NULL)
	{
		r->running_pid = 0;
		if (ok)
		{
			r->completed = Max(r->completed, req);
			r->last_rows = rows;
		}
		else
			r->failed = Max(r->failed, req);
	}
	LWLockRelease(mt_worker_shared->lock);
}

void
mt_flush_worker_main(Datum main_arg)
{
	Oid			dbid = DatumGetObjectId(main_arg);
	volatile uint64 req = 0;
	volatile int64 rows = 0;
	MtFlushRequest *r;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	/* SIGTERM (shutdown): finish this flush, then exit */
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);

	/*
	 * The worker is the bootstrap superuser and has picked up the database's
	 * and role's defaults (ALTER DATABASE ... SET search_path, which the
	 * database owner controls).  Nothing it runs may resolve a name through
	 * them: force pg_catalog, pg_temp over every other source for the life
	 * of the worker (both flushes also run their SQL as the extension
	 * owner, with qualified operators).
	 */
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_SUSET, PGC_S_OVERRIDE, GUC_ACTION_SET,
							 true, 0, false);
	/* the close of usage periods appends in commit order (billing.c) */
	(void) set_config_option("default_transaction_isolation", "read committed",
							 PGC_SUSET, PGC_S_OVERRIDE, GUC_ACTION_SET,
							 true, 0, false);

	if (RecoveryInProgress())
		proc_exit(0);

	/*
	 * Started only to seal audit events: the usage and API-key flushes keep
	 * their own rounds (multitenant.flush_interval) and requests.
	 */
	if (!flush_is_reserved && MyBgworkerEntry != NULL && MyBgworkerEntry->bgw_extra[0] == 's')
	{
		audit_seal_passes(dbid, MT_SEAL_STAY_MS);
		pgstat_report_stat(true);
		pgstat_report_activity(STATE_IDLE, NULL);
		proc_exit(0);
	}

	/* requests made up to now are covered by this flush */
	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	r = mt_flush_request_slot(dbid, false);
	if (r != NULL)
	{
		req = r->requested;
		r->running_pid = MyProcPid;
	}
	LWLockRelease(mt_worker_shared->lock);

	pgstat_report_activity(STATE_RUNNING, "flushing usage counters");
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (!extension_locked())
		{
			/* the extension was dropped: its counts have nowhere to go */
			mt_usage_discard_database(dbid);
			mt_insight_discard_security_events(dbid);
		}
		else
		{
			rows = mt_usage_flush_database();

			/*
			 * API keys' last-use times, batched in the same transaction.  A
			 * key in use always has api_calls waiting here too, so the
			 * launcher visits its database.
			 */
			mt_api_keys_flush_last_used();

			/* hours that ended before this transaction: closed for billing */
			(void) mt_billing_close();
			/* security events, in a subtransaction of their own */
			mt_insight_flush_security_events();
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		mt_usage_flush_finish(true);
		mt_insight_flush_finish(true);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		mt_usage_flush_finish(false);
		mt_insight_flush_finish(false);
		flush_report(dbid, req, false, 0);
		proc_exit(1);
	}
	PG_END_TRY();

	flush_report(dbid, req, true, rows);

	audit_seal_passes(dbid, flush_is_reserved ? MT_SEAL_STAY_RESERVED_MS : MT_SEAL_STAY_MS);

	pgstat_report_stat(true);
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(flush_is_reserved ? 1 : 0);
}

/* ---------------------------------------------------------------------
 * Reserved flush worker (static: waits unconnected, flushes one database
 * when the launcher finds no free slot, exits to be started again)
 * --------------------------------------------------------------------- */

static void
reserved_detach(int code, Datum arg)
{
	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	if (mt_worker_shared->reserved == MyProc)
		mt_worker_shared->reserved = NULL;
	mt_worker_shared->reserved_dbid = InvalidOid;
	if (mt_worker_shared->launcher != NULL)
		SetLatch(&mt_worker_shared->launcher->procLatch);
	LWLockRelease(mt_worker_shared->lock);
}

void
mt_reserved_flush_main(Datum main_arg)
{
	Oid			dbid = InvalidOid;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	LWLockAcquire(mt_worker_shared->lock, LW_EXCLUSIVE);
	mt_worker_shared->reserved = MyProc;
	mt_worker_shared->reserved_dbid = InvalidOid;
	LWLockRelease(mt_worker_shared->lock);
	before_shmem_exit(reserved_detach, (Datum) 0);

	while (!OidIsValid(dbid))
	{
		if (ShutdownRequestPending)
			proc_exit(0);		/* the server stops: no restart needed */
		LWLockAcquire(mt_worker_shared->lock, LW_SHARED);
		dbid = mt_worker_shared->reserved_dbid;
		LWLockRelease(mt_worker_shared->lock);
		if (OidIsValid(dbid))
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	/* from here on this process is a flush worker of dbid; restarted after it */
	flush_is_reserved = true;
	mt_flush_worker_main(ObjectIdGetDatum(dbid));
}
