/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  The tenant context on a Citus cluster (doc/citus.md): it travels
 *	  with each distributed transaction from the node the client is
 *	  connected to (the coordinator) to the workers, while
 *	  multitenant.token itself never leaves the node that verified it.
 *
 * At the start of every statement (ExecutorStart, multitenant.c; and of
 * a COPY, which Citus runs without the executor for a distributed table)
 * of a transaction with a usable tenant context, the context is handed to Citus
 * as "SET LOCAL multitenant.node_context TO '<value>'" (context.c makes
 * and checks the value): Citus sends it to the worker connections already
 * in the transaction and with the BEGIN of every worker connection it
 * opens later in it.  A coordinated transaction is started, so that Citus
 * opens remote transaction blocks (which carry the value) for single
 * statements in autocommit mode too.  When the context changes inside the
 * transaction a new value follows; when it ends (RESET), an empty one.
 * The SET is not run on this node: nothing changes here.  A value is
 * passed again when Citus forgot it (the subtransaction that passed it
 * ended: Citus keeps SET LOCAL commands per subtransaction) or when it is
 * near expiry.
 *
 * Citus' own SET propagation (citus.propagate_set_commands = 'local')
 * would send "SET LOCAL multitenant.token = '<token>'" to the workers as
 * statement text, where other sessions could read the token; and it would
 * carry a client's own "SET LOCAL multitenant.node_context TO '<value>'"
 * to the workers: a value read on a worker (pg_stat_statements keeps it)
 * replayed through the coordinator by a client that names itself
 * 'citus_internal gpid=<the gpid in the value>' (application_name is the
 * client's choice, and Citus adopts that gpid for its worker
 * connections).  mt_citus_suppress_set_propagation() turns the
 * propagation off around SET and RESET of either setting; the values this
 * file passes do not go through ProcessUtility.
 *
 * Citus goes back to the parent's SET LOCAL commands when a subtransaction
 * ends, committed or not: after a RELEASE the parent's value would reach
 * the worker connections opened later even though the context ended in
 * the subtransaction, so once a value was passed in a transaction, a
 * statement without a context passes an empty one again.
 *
 * The same path carries the coordinator's approval of DDL that weakens
 * isolation (mt_citus_pass_ddl_approval, called by isolation.c around
 * such a statement that this node sanctioned): "SET LOCAL
 * multitenant.node_ddl_approval TO '<value>'" before Citus propagates the
 * statement to the placements, an empty value after it (context.c makes
 * and checks the value; the workers' DDL guard requires it).
 *
 * Citus is reached through the C symbols of citus.so
 * (load_external_function: CitusHasBeenLoaded, GetGlobalPID,
 * UseCoordinatedTransaction, PostprocessVariableSetStmt), so the library
 * builds and runs without Citus; all of it is skipped when Citus is not
 * loaded.
 *
 * Before a value is handed to Citus it is published in context.c's
 * PassedContexts (mt_node_context_passing), so that Citus' connections to
 * this node itself accept it while this transaction passes it.
 *
 * Backend-local state only (what was passed in this transaction); no
 * shared memory of its own, no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "citus.h"
#include "context.h"

/* re-pass a value whose remaining lifetime fell below this (seconds) */
#define MT_NODE_REFRESH		150

typedef bool (*CitusHasBeenLoaded_fn) (void);
typedef uint64 (*GetGlobalPID_fn) (void);
typedef void (*UseCoordinatedTransaction_fn) (void);
typedef void (*PostprocessVariableSetStmt_fn) (VariableSetStmt *setStmt,
											   const char *setStmtString);

static bool citus_probed = false;
static bool citus_usable = false;
static CitusHasBeenLoaded_fn citus_has_been_loaded;
static GetGlobalPID_fn citus_get_global_pid;
static UseCoordinatedTransaction_fn citus_use_coordinated_transaction;
static PostprocessVariableSetStmt_fn citus_postprocess_set;

/* what this transaction passed (header comment) */
static LocalTransactionId passed_lxid = InvalidLocalTransactionId;
static SubTransactionId passed_subid = InvalidSubTransactionId;
static uint64 passed_generation = 0;
static int64 passed_exp = 0;
static bool passed_value = false;	/* a context (not an empty value) */
/* the transaction in which a context (not an empty value) was passed */
static LocalTransactionId valued_lxid = InvalidLocalTransactionId;
static bool passing = false;

/* is citus.so loaded in this backend, with the symbols we call? */
static bool
citus_probe(void)
{
	if (citus_probed)
		return citus_usable;
	citus_probed = true;
	if (GetConfigOption("citus.propagate_set_commands", true, false) == NULL)
		return false;
	citus_has_been_loaded = (CitusHasBeenLoaded_fn)
		load_external_function("citus", "CitusHasBeenLoaded", false, NULL);
	citus_get_global_pid = (GetGlobalPID_fn)
		load_external_function("citus", "GetGlobalPID", false, NULL);
	citus_use_coordinated_transaction = (UseCoordinatedTransaction_fn)
		load_external_function("citus", "UseCoordinatedTransaction", false, NULL);
	citus_postprocess_set = (PostprocessVariableSetStmt_fn)
		load_external_function("citus", "PostprocessVariableSetStmt", false, NULL);
	citus_usable = citus_has_been_loaded && citus_get_global_pid &&
		citus_use_coordinated_transaction && citus_postprocess_set;
	if (!citus_usable)
		ereport(WARNING,
				(errmsg("multitenant cannot pass tenant contexts to Citus workers"),
				 errdetail("The loaded Citus library lacks a function multitenant calls."),
				 errhint("Use a Citus version documented in doc/citus.md.")));
	return citus_usable;
}

static int64
unix_now(void)
{
	TimestampTz ts = GetCurrentTimestamp();

	return (int64) (ts / USECS_PER_SEC) +
		((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
}

/*
 * hand "SET LOCAL <name> TO value" to Citus (name: multitenant.node_context
 * or multitenant.node_ddl_approval); a value (not an empty one) is
 * published first (header comment)
 */
static void
pass_value(const char *name, const char *value)
{
	VariableSetStmt *stmt = makeNode(VariableSetStmt);
	StringInfoData sql;

	stmt->kind = VAR_SET_VALUE;
	stmt->name = (char *) name;
	stmt->is_local = true;
	initStringInfo(&sql);
	appendStringInfo(&sql, "SET LOCAL %s TO %s", name, quote_literal_cstr(value));
	if (value[0] != '\0')
		mt_node_context_passing(value);

	passing = true;
	PG_TRY();
	{
		citus_use_coordinated_transaction();
		citus_postprocess_set(stmt, sql.data);
	}
	PG_FINALLY();
	{
		passing = false;
	}
	PG_END_TRY();
	pfree(sql.data);
}

/*
 * ExecutorStart: make sure the workers of this transaction get its tenant
 * context (header comment).  Cheap when nothing changed: a few compares.
 */
void
mt_citus_pass_context(void)
{
	uint64		generation;
	bool		same_xact;
	char	   *value;
	int64		exp = 0;

	if (!citus_probe() || passing || IsParallelWorker() || !IsTransactionState())
		return;
	generation = mt_context_generation();
	same_xact = passed_lxid == MyProc->lxid;
	if (same_xact && generation == passed_generation &&
		(!passed_value || passed_exp - MT_NODE_REFRESH > unix_now()))
		return;
	if (!citus_has_been_loaded())
		return;					/* no citus extension in this database */

	value = mt_node_context_value(citus_get_global_pid(), &exp);
	if (value != NULL)
	{
		pass_value("multitenant.node_context", value);
		valued_lxid = MyProc->lxid;
	}
	else if (valued_lxid == MyProc->lxid && (passed_value || !same_xact))
	{
		/*
		 * the context ended in this transaction (or Citus went back to a
		 * parent's value)
		 */
		pass_value("multitenant.node_context", "");
	}

	passed_lxid = MyProc->lxid;
	passed_subid = GetCurrentSubTransactionId();
	passed_generation = generation;
	passed_value = value != NULL;
	passed_exp = exp;
	if (value)
		pfree(value);
}

/*
 * ProcessUtility: Citus runs COPY of a distributed table itself, without
 * the executor (no ExecutorStart on this node), over worker connections
 * that need the context as much as a query's.
 */
void
mt_citus_pass_context_utility(Node *stmt)
{
	if (stmt != NULL && IsA(stmt, CopyStmt))
		mt_citus_pass_context();
}

/*
 * Around a utility statement that weakens tenant isolation and that this
 * node sanctioned (isolation.c): approve = true hands Citus a new
 * multitenant.node_ddl_approval for the workers of this transaction (the
 * ones in it and those it opens later), before Citus propagates the
 * statement to the placements; approve = false, after the statement, an
 * empty one, so that the approval ends with the statement on the worker
 * connections.  Returns whether anything was passed (false without Citus,
 * in a database without the citus extension, in a parallel worker).
 */
bool
mt_citus_pass_ddl_approval(bool approve)
{
	char	   *value;

	if (!citus_probe() || passing || IsParallelWorker() || !IsTransactionState() ||
		!citus_has_been_loaded())
		return false;
	value = approve ? mt_node_ddl_approval_value(citus_get_global_pid()) : pstrdup("");
	pass_value("multitenant.node_ddl_approval", value);
	pfree(value);
	return true;
}

/* Citus drops SET LOCAL commands of a subtransaction when it ends */
static void
citus_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if ((event == SUBXACT_EVENT_COMMIT_SUB || event == SUBXACT_EVENT_ABORT_SUB) &&
		mySubid == passed_subid)
		passed_lxid = InvalidLocalTransactionId;
}

void
mt_citus_init(void)
{
	RegisterSubXactCallback(citus_subxact_callback, NULL);
}

/*
 * Around SET / RESET of multitenant.token, multitenant.node_context or
 * multitenant.node_ddl_approval:
 * Citus must not send them to the workers (header comment).  Returns the
 * GUC nest level to close with mt_citus_end_suppress(), or -1 when there
 * is nothing to do.
 */
int
mt_citus_suppress_set_propagation(Node *stmt)
{
	VariableSetStmt *set;
	int			nest;

	if (stmt == NULL || !IsA(stmt, VariableSetStmt))
		return -1;
	set = (VariableSetStmt *) stmt;
	if (set->name == NULL ||
		(pg_strcasecmp(set->name, "multitenant.token") != 0 &&
		 pg_strcasecmp(set->name, "multitenant.node_context") != 0 &&
		 pg_strcasecmp(set->name, "multitenant.node_ddl_approval") != 0) ||
		!citus_probe())
		return -1;
	nest = NewGUCNestLevel();
	(void) set_config_option("citus.propagate_set_commands", "none",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
mt_citus_end_suppress(int nest)
{
	/* true: the SET of multitenant.token itself stays */
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
}
