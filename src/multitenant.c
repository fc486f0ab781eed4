/*-------------------------------------------------------------------------
 *
 * multitenant.c
 *	  Module entry point and top layer: _PG_init, the definition of every
 *	  GUC of the extension (each variable lives in and is declared by the
 *	  module that uses it), hook chaining, the shared-memory request and
 *	  startup hooks, and the transaction callback that the capability
 *	  files share.  The only file that includes the headers of every
 *	  module; no module includes a header of this one (there is none).
 *
 * Shared memory: none of its own.  Each module that has shared state owns
 * it (struct, size, lock tranche) and exports size / request / startup
 * functions that the hooks here call, so that everything is requested in
 * shmem_request_hook, as PostgreSQL 15 requires.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "optimizer/planner.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#include "api_keys.h"
#include "audit.h"
#include "authz.h"
#include "citus.h"
#include "citus_route.h"
#include "compliance.h"
#include "context.h"
#include "crypto.h"
#include "drop_guard.h"
#include "flush_request.h"
#include "insight.h"
#include "isolation.h"
#include "jwks.h"
#include "mfa.h"
#include "move_gate.h"
#include "ratelimit.h"
#include "redact.h"
#include "security_events.h"
#include "tenant_stats.h"
#include "seal_floor.h"
#include "security_policy.h"
#include "tenant_status.h"
#include "token_cache.h"
#include "usage.h"
#include "util.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static bool mt_preloaded = false;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static planner_hook_type prev_planner = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorCheckPerms_hook_type prev_ExecutorCheckPerms = NULL;

/*
 * Utility statements: isolation.c may rewrite a CREATE POLICY of the
 * generated restrictive policy that arrives permissive (from Citus, on
 * every node), and hands the Citus workers an approval around a statement
 * weakening isolation that it sanctioned; citus.c keeps SET
 * multitenant.token out of Citus' SET propagation and passes the tenant
 * context to the workers of a COPY; worker.c makes its workers leave a
 * database its owner drops WITH (FORCE); everything else passes through
 * unchanged.
 */
static void
mt_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	int			nest;
	bool		approved;

	mt_audit_release_cache();
	mt_worker_utility(pstmt->utilityStmt, context == PROCESS_UTILITY_TOPLEVEL);
	mt_context_utility(pstmt->utilityStmt);
	pstmt = mt_isolation_utility_stmt(pstmt, &readOnlyTree);
	nest = mt_citus_suppress_set_propagation(pstmt->utilityStmt);
	mt_citus_pass_context_utility(pstmt->utilityStmt);
	approved = mt_isolation_sanction_begin(pstmt->utilityStmt);
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
	mt_isolation_sanction_end(approved);
	mt_citus_end_suppress(nest);
}

/*
 * Planning and executor start: citus_route.c routes a tenant-scoped query
 * on a Citus table to the tenant's shard.  With shared_preload_libraries =
 * 'citus,multitenant' these run before Citus's (its hooks are installed
 * first), so Citus plans the query with the clause citus_route.c added.
 */
static PlannedStmt *
mt_planner(Query *parse, const char *query_string, int cursorOptions,
		   ParamListInfo boundParams)
{
	int			route_param = mt_citus_route_query(parse, boundParams);
	Oid			insert_guard = mt_citus_insert_guard(parse);
	PlannedStmt *result;

	if (prev_planner)
		result = prev_planner(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);
	if (route_param > 0)
		mt_citus_route_mark(result, route_param);
	if (OidIsValid(insert_guard))
		mt_citus_insert_mark(result, insert_guard);
	return result;
}

/*
 * Every statement: on Citus, the workers get the tenant context (citus.c)
 * and a routed plan gets the tenant as its parameter (citus_route.c); the
 * parallel workers of a plan get the MFA marker (mfa.c).
 */
static void
mt_executor_start(QueryDesc *queryDesc, int eflags)
{
	/* parallel workers restore the leader's settings: the context must be one */
	if (queryDesc->plannedstmt->parallelModeNeeded)
		mt_context_materialize();
	mt_citus_pass_context();
	mt_citus_route_params(queryDesc);
	mt_mfa_executor_start(queryDesc->plannedstmt->parallelModeNeeded);
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* a tenant placed elsewhere stays out of the shared tables (isolation.c) */
static bool
mt_executor_check_perms(List *rangeTable, bool ereport_on_violation)
{
	if (prev_ExecutorCheckPerms &&
		!prev_ExecutorCheckPerms(rangeTable, ereport_on_violation))
		return false;
	mt_isolation_check_rtable(rangeTable);
	return true;
}

static Size
mt_shmem_size(void)
{
	Size		size = mt_tenant_status_shmem_size();

	size = add_size(size, mt_context_shmem_size());
	size = add_size(size, mt_node_context_shmem_size());
	size = add_size(size, mt_api_keys_shmem_size());
	size = add_size(size, mt_usage_shmem_size());
	size = add_size(size, mt_ratelimit_shmem_size());
	size = add_size(size, mt_flush_request_shmem_size());
	size = add_size(size, mt_move_gate_shmem_size());
	size = add_size(size, mt_tenant_stats_shmem_size());
	size = add_size(size, mt_security_events_shmem_size());
	size = add_size(size, mt_seal_floor_shmem_size());
	return size;
}

/* every module's LWLock tranches */
static void
mt_shmem_request_locks(void)
{
	mt_context_shmem_request();
	mt_api_keys_shmem_request();
	mt_usage_shmem_request();
	mt_ratelimit_shmem_request();
	mt_flush_request_shmem_request();
	mt_tenant_stats_shmem_request();
	mt_security_events_shmem_request();
}

static void
mt_shmem_request(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(mt_shmem_size());
	mt_shmem_request_locks();
}

static void
mt_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	mt_tenant_status_shmem_startup();
	mt_context_shmem_startup();
	mt_node_context_shmem_startup();
	mt_api_keys_shmem_startup();
	mt_usage_shmem_startup();
	mt_ratelimit_shmem_startup();
	mt_flush_request_shmem_startup();
	mt_move_gate_shmem_startup();
	mt_tenant_stats_shmem_startup();
	mt_security_events_shmem_startup();
	mt_seal_floor_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
	mt_shared_memory_attached();
}

static void
mt_xact_callback(XactEvent event, void *arg)
{
	mt_tenants_xact_callback((int) event);
	mt_api_keys_xact_callback((int) event);
	mt_usage_xact_callback((int) event);
	mt_mfa_xact_callback((int) event);
	mt_move_gate_xact_end((int) event);
	mt_audit_xact_callback((int) event);
	mt_seal_floor_xact_callback((int) event);
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			mt_context_xact_reset();
			mt_authz_xact_reset();
			mt_stat_flush();
			break;
		default:
			break;
	}
}

static void
mt_define_gucs(void)
{
	DefineCustomStringVariable("multitenant.jwt_secret",
							   "Shared secret (at least 32 bytes) that signs and verifies HS256 tenant tokens.",
							   "Empty: a random secret kept in the data directory (multitenant.secret) is used.",
							   &mt_jwt_secret,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   mt_check_jwt_secret, mt_assign_jwt_secret, mt_show_jwt_secret);

	DefineCustomStringVariable("multitenant.jwt_secret_previous",
							   "The previous multitenant.jwt_secret: HS256 tokens signed with it still verify while it is set.",
							   "Set it to the old secret when changing multitenant.jwt_secret, clear it once those tokens have expired.",
							   &mt_jwt_secret_previous,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   mt_check_jwt_secret_previous, mt_assign_jwt_secret_previous,
							   mt_show_jwt_secret_previous);

	DefineCustomStringVariable("multitenant.jwt_public_key",
							   "Ed25519 public key (base64url or hex, 32 bytes) that verifies EdDSA tenant tokens.",
							   "Empty: EdDSA tokens are refused.",
							   &mt_jwt_public_key,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   mt_check_jwt_public_key, mt_assign_jwt_public_key, NULL);

	DefineCustomStringVariable("multitenant.jwks",
							   "Public keys (a JWKS document) that verify RS256, PS256, ES256 and EdDSA tokens of identity providers.",
							   "Empty: no key set. Reloadable; a malformed set at a reload leaves the previous keys in force.",
							   &mt_jwks,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   mt_check_jwks, mt_assign_jwks, NULL);

	DefineCustomStringVariable("multitenant.jwks_file",
							   "A file (relative to the data directory, inside it) holding a JWKS document, read at start and at every reload.",
							   "Empty: no file. Its keys are used together with those of multitenant.jwks.",
							   &mt_jwks_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							   mt_check_jwks_file, mt_assign_jwks_file, NULL);
	DefineCustomStringVariable("multitenant.client_addr",
							   "Client address the tenants' security policies check (client_cidrs) instead of the connection's.",
							   "Set per request (SET LOCAL) by a trusted gateway: superusers, or roles given GRANT SET ON PARAMETER multitenant.client_addr.",
							   &mt_client_addr_string,
							   "",
							   PGC_SUSET,
							   0,
							   mt_check_client_addr, mt_assign_client_addr, NULL);

	DefineCustomStringVariable("multitenant.token",
							   "Signed tenant token (JWT) that sets the tenant context; verified when set.",
							   "Pass it as a bound parameter: set_config('multitenant.token', $1, true); a token in the statement text is refused.",
							   &mt_token_string,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   mt_check_token, mt_assign_token, mt_show_token);

	DefineCustomStringVariable("multitenant.node_context",
							   "Internal: the tenant context a Citus coordinator passes to the workers of a distributed transaction.",
							   "Set only by multitenant (doc/citus.md); a worker accepts it only on a connection Citus opened for the session that set it.",
							   &mt_node_context_string,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   mt_check_node_context, mt_assign_node_context, NULL);

	DefineCustomStringVariable("multitenant.mfa_marker",
							   "Internal: the second factor of the current context, passed to parallel workers.",
							   "Set only by multitenant (doc/identity.md, \"Security policies\"); setting it otherwise fails with 42501.",
							   &mt_mfa_marker_string,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   mt_check_mfa_marker, NULL, NULL);

	DefineCustomStringVariable("multitenant.node_ddl_approval",
							   "Internal: a Citus coordinator's approval of DDL that weakens tenant isolation on the workers of a distributed transaction.",
							   "Set only by multitenant (doc/citus.md); a worker accepts it once, on connections Citus opened for the session that made it, in one transaction.",
							   &mt_node_ddl_approval_string,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   mt_check_node_ddl_approval, mt_assign_node_ddl_approval, NULL);

	DefineCustomStringVariable("multitenant.token_issuer",
							   "Issuers (iss) whose tokens are accepted, comma-separated; empty: iss is not checked.",
							   "Does not apply to the tokens mt.tenant_token() mints.",
							   &mt_token_issuer,
							   "",
							   PGC_SIGHUP,
							   GUC_NOT_IN_SAMPLE,
							   mt_check_claim_values, mt_assign_claim_values, NULL);

	DefineCustomStringVariable("multitenant.token_audience",
							   "Audiences (aud) of which a token must name one, comma-separated; empty: aud, when present, must name the database.",
							   "Does not apply to the tokens mt.tenant_token() mints.",
							   &mt_token_audience,
							   "",
							   PGC_SIGHUP,
							   GUC_NOT_IN_SAMPLE,
							   mt_check_claim_values, mt_assign_claim_values, NULL);

	DefineCustomIntVariable("multitenant.token_leeway",
							"Clock skew allowed when checking a token's exp, nbf and iat.",
							NULL,
							&mt_token_leeway,
							0, 0, 300,
							PGC_SIGHUP,
							GUC_UNIT_S | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomStringVariable("multitenant.tenant_claim",
							   "The claim of a token that names its tenant (a uuid or the tenant's slug); a path like app_metadata.tenant_id, or a URL-named claim.",
							   "The tokens mt.tenant_token() mints always use tid.",
							   &mt_tenant_claim,
							   "tid",
							   PGC_SIGHUP,
							   GUC_NOT_IN_SAMPLE,
							   mt_check_claim_setting, mt_assign_tenant_claim, NULL);

	DefineCustomStringVariable("multitenant.subject_claim",
							   "The claim of a token that names its subject (mt.current_subject()).",
							   NULL,
							   &mt_subject_claim,
							   "sub",
							   PGC_SIGHUP,
							   GUC_NOT_IN_SAMPLE,
							   mt_check_claim_setting, mt_assign_subject_claim, NULL);

	DefineCustomStringVariable("multitenant.roles_claim",
							   "The claim of a token that names its tenant role: a string, or an array of strings whose first element is used.",
							   NULL,
							   &mt_roles_claim,
							   "role",
							   PGC_SIGHUP,
							   GUC_NOT_IN_SAMPLE,
							   mt_check_claim_setting, mt_assign_roles_claim, NULL);

	DefineCustomStringVariable("multitenant.workspace_claim",
							   "The claim of a token that names its workspace (a uuid).",
							   NULL,
							   &mt_workspace_claim,
							   "wid",
							   PGC_SIGHUP,
							   GUC_NOT_IN_SAMPLE,
							   mt_check_claim_setting, mt_assign_workspace_claim, NULL);

	DefineCustomIntVariable("multitenant.token_cache_size",
							"Memory each backend may use to remember verified tenant tokens, so that setting the same token again skips its signature and JSON.",
							"0 turns the cache off. Expiry, the tenant's status, key versions and security policies are checked at every use.",
							&mt_token_cache_size,
							2048, 0, 65536,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, mt_assign_token_cache_size, NULL);

	DefineCustomIntVariable("multitenant.token_max_ttl",
							"Longest lifetime mt.tenant_token() and mt.set_tenant() will mint.",
							NULL,
							&mt_token_max_ttl,
							86400, 1, 365 * 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.default_token_ttl",
							"Lifetime of the tokens mt.set_tenant() mints.",
							NULL,
							&mt_default_token_ttl,
							900, 1, 365 * 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("multitenant.citus_route_tenant",
							 "Route tenant-scoped queries on Citus tables to the tenant's shard.",
							 "Adds <tenant column> = the verified tenant, which the isolation policy already requires, to a single-table query Citus can route; off: every shard runs it.",
							 &mt_citus_route_tenant,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("multitenant.allow_unsafe_ddl",
							 "Lets DDL disable or alter the generated tenant isolation (escape hatch).",
							 "Superuser only; use mt.disable_isolation() instead.",
							 &mt_allow_unsafe_ddl,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("multitenant.allow_drop_extension",
							 "Lets DROP EXTENSION multitenant (or DROP SCHEMA mt, DROP OWNED BY its owner) delete existing tenants.",
							 "Superuser only, and only with SET in a session: SET LOCAL in the transaction that drops.",
							 &mt_allow_drop_extension,
							 false,
							 PGC_SUSET,
							 GUC_NOT_IN_SAMPLE,
							 mt_check_allow_drop_extension, NULL, NULL);

	DefineCustomIntVariable("multitenant.audit_max_details",
							"Largest details (bytes of JSON text) mt.audit() accepts.",
							NULL,
							&mt_audit_max_details,
							65536, 1024, 64 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.audit_digest_max_age",
							"Compliance: the newest exported audit digest may be at most this old.",
							NULL,
							&mt_audit_digest_max_age,
							86400, 60, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.api_key_rotation_age",
							"Compliance: active API keys older than this should be rotated.",
							NULL,
							&mt_api_key_rotation_age,
							180 * 86400, 86400, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.api_key_max_failures",
							"Invalid API keys from one client address, within multitenant.api_key_failure_window, that start a lockout.",
							"0 disables the brute-force throttle.",
							&mt_api_key_max_failures,
							20, 0, 1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.api_key_failure_window",
							"Window in which invalid API keys from one client address are counted.",
							NULL,
							&mt_api_key_failure_window,
							60, 1, 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.api_key_lockout",
							"How long a client address that reached multitenant.api_key_max_failures is refused.",
							NULL,
							&mt_api_key_lockout,
							300, 1, 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.api_key_last_use_interval",
							"How often a backend notes the use of one API key from one client network in shared memory.",
							"A later use within this time is noted by the key's next use after it, by the backend's own flush or when it exits; 0 notes every use.",
							&mt_api_key_last_use_interval,
							1000, 0, 3600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/* sizes of shared memory exist only when it does (postmaster GUCs) */
	if (mt_preloaded)
	{
		DefineCustomIntVariable("multitenant.api_key_usage_slots",
								"API keys whose last-use time shared memory holds between flushes.",
								NULL,
								&mt_api_key_usage_slots,
								10000, 100, 1000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomIntVariable("multitenant.max_counters",
								"Usage counters (database, tenant, metric) kept in shared memory.",
								NULL,
								&mt_max_counters,
								10000, 100, 10000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomIntVariable("multitenant.max_tenant_stats",
								"Tenants whose statistics shared memory holds (the least recently active are evicted).",
								NULL,
								&mt_max_tenant_stats,
								10000, 100, 1000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomIntVariable("multitenant.security_event_buffer",
								"Security events shared memory holds until the flush worker writes them.",
								"A full buffer overwrites its oldest unwritten event (counted as lost).",
								&mt_security_event_buffer,
								1000, 100, 100000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomIntVariable("multitenant.max_rate_limits",
								"Rate-limit buckets kept in shared memory (idle ones are evicted).",
								NULL,
								&mt_max_rate_limits,
								10000, 100, 10000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
	}

	DefineCustomIntVariable("multitenant.audit_seal_interval",
							"How often committed audit events are linked into their chains.",
							"The background worker seals at most this often per database; mt.audit_seal() seals at once.",
							&mt_audit_seal_interval_ms,
							200, 10, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.flush_interval",
							"How often usage counters are flushed into mt.usage_rollup.",
							NULL,
							&mt_flush_interval_ms,
							10000, 100, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.tenant_counter_share",
							"Percent of multitenant.max_counters one tenant may hold.",
							"A tenant past its share gets 53400 for its own new metric; others are unaffected.",
							&mt_tenant_counter_share,
							10, 1, 100,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.tenant_rate_limit_share",
							"Percent of multitenant.max_rate_limits one tenant may hold.",
							"A tenant past its share gets 53400 for its own new bucket; busy buckets are never evicted.",
							&mt_tenant_rate_limit_share,
							10, 1, 100,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("multitenant.track_stats",
							 "Counts per-tenant statistics (mt.stat_tenants) in shared memory.",
							 NULL,
							 &mt_track_stats,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.metrics_top_tenants",
							"Tenants that get their own series in mt.metrics() (the most active).",
							"Every tenant is also summed per plan; this bounds the label cardinality.",
							&mt_metrics_top_tenants,
							20, 0, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.security_event_max_age",
							"How long mt.security_event_log keeps an event.",
							NULL,
							&mt_security_event_max_age,
							30 * 86400, 60, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.security_event_max_rows",
							"Most events mt.security_event_log keeps (the newest).",
							NULL,
							&mt_security_event_max_rows,
							100000, 100, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.anomaly_burst_window",
							"Window (fixed, in seconds) in which mt.detect_anomalies() counts failures per client, key and tenant.",
							NULL,
							&mt_anomaly_burst_window,
							300, 10, 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.anomaly_burst_threshold",
							"Failures in one window that make a failure burst.",
							NULL,
							&mt_anomaly_burst_threshold,
							20, 1, 1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.anomaly_baseline_hours",
							"Hours before since that form a tenant's usage baseline.",
							NULL,
							&mt_anomaly_baseline_hours,
							168, 24, 8784,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.anomaly_min_baseline_hours",
							"Hours with usage a baseline needs before usage rules judge a tenant.",
							NULL,
							&mt_anomaly_min_baseline_hours,
							24, 1, 8784,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomRealVariable("multitenant.anomaly_stddevs",
							"Standard deviations above the baseline's hourly mean that make a usage spike.",
							NULL,
							&mt_anomaly_stddevs,
							4.0, 0.5, 100.0,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("multitenant.anomaly_min_usage",
							"Usage of an hour below which usage rules never fire.",
							NULL,
							&mt_anomaly_min_usage,
							100, 1, INT_MAX,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomRealVariable("multitenant.anomaly_off_hours_share",
							"Percent of a tenant's baseline usage below which an hour of the day counts as outside its usual hours.",
							NULL,
							&mt_anomaly_off_hours_share,
							1.0, 0.0, 100.0,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("multitenant");
}

void
_PG_init(void)
{
	/* pg_upgrade loads libraries only to check them: do nothing. */
	if (IsBinaryUpgrade)
		return;

	mt_preloaded = process_shared_preload_libraries_in_progress;

	/*
	 * The server secret is read (or created) before GUCs are defined so that
	 * their check hooks can rely on it.  In the postmaster this happens once
	 * and every backend inherits it.
	 */
	mt_load_server_secret();

	mt_define_gucs();

	RegisterXactCallback(mt_xact_callback, NULL);
	mt_api_keys_init();
	mt_redact_init();
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = mt_process_utility;
	prev_planner = planner_hook;
	planner_hook = mt_planner;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = mt_executor_start;
	prev_ExecutorCheckPerms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = mt_executor_check_perms;
	mt_citus_init();

	if (!mt_preloaded)
		return;

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = mt_shmem_request;
#else
	RequestAddinShmemSpace(mt_shmem_size());
	mt_shmem_request_locks();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = mt_shmem_startup;

	mt_worker_register_launcher();
}
