/*-------------------------------------------------------------------------
 *
 * context.c
 *	  The tenant context: the multitenant.token GUC (a compact JWT verified
 *	  in its check hook), token minting, and the SQL functions that read
 *	  the verified context (mt.current_tenant() and friends).
 *
 * A token is verified once, when it is SET: signature (HS256 with the
 * server key, EdDSA with the configured public key, or RS256 / PS256 /
 * ES256 / EdDSA with the keys of identity providers: jwks.c), expiry,
 * audience, and, when a transaction is open, that the tenant is active.  The parsed
 * claims travel as the GUC's "extra", so SET LOCAL, RESET, DISCARD ALL and
 * rollback restore the previous context exactly as PostgreSQL restores the
 * setting.  Expiry and tenant status are checked again once per
 * transaction (first call of a context function), so an expired token or a
 * suspended tenant stops yielding a tenant at the next transaction.
 *
 * A token whose text appears in the statement that sets it (SET ...
 * = '<jwt>', set_config('multitenant.token', '<jwt>', ...)) is refused:
 * statement text is shown to every session of the role in pg_stat_activity
 * before any check hook runs, and can reach the server log, so only the
 * bound-parameter form (set_config('multitenant.token', $1, true)) or the
 * startup packet may carry a token.  The refused token is also burned: for
 * the rest of its lifetime no session of this server accepts it, at SET or
 * at its next transaction.
 *
 * Authorization (authz.c) reads the claims through mt_context_claims():
 * besides sub and role, a token's "wid" (workspace) and "mt_trust", which
 * tokens of mt.tenant_token() carry ("backoffice": their role is trusted;
 * honoured for HS256 only), and internal values carry a workspace
 * ("|w<uuid>") and are the back office unless their subject is an API key
 * (key:<id>, mt.authenticate()).  That subject namespace is the API keys':
 * a token, mt.tenant_token() or mt.set_tenant_subject() with a subject
 * key:<id> is refused (it would act with the roles assigned to the key).
 *
 * On a Citus cluster the context reaches the workers as
 * multitenant.node_context (citus.c sends it with each distributed
 * transaction): the claims of the coordinator's verified context, bound to
 * the coordinator session's Citus global pid, valid for a few minutes and
 * signed with a key derived from the master secret every node shares.  A
 * worker accepts it only on a connection Citus opened for that session; it
 * confines rows there (mt.current_tenant()) but does not act as the tenant
 * (metering, audit and GDPR functions refuse to run on a worker).  The
 * node that made a value (the node id in its gpid is this node's: Citus
 * connects to the node it runs on too) accepts it only while the backend
 * with that pid is alive and passing that very value (PassedContexts): the
 * application_name that binds it is the client's choice.
 *
 * On a Citus cluster this file also makes and checks the coordinator's
 * approval of DDL that weakens isolation on the workers
 * (multitenant.node_ddl_approval: signed like the node context with its
 * own derived key, bound to the session's gpid, and usable on a node only
 * in the transaction that received it first there; see its section).
 *
 * While mt.move_tenant moves a tenant, the first use of that tenant's
 * context in a transaction passes the move gate (move_gate.c): it may wait
 * for the move's transaction; one atomic read while no move runs.
 *
 * A context entered for the transaction (mt.authenticate, mt.set_tenant)
 * is kept in backend memory rather than SET LOCAL on multitenant.token,
 * and behaves as that SET LOCAL would ("the transaction context", below
 * the check hook's helpers): savepoints, changes of the setting, SHOW,
 * parallel workers (the setting is written before a parallel query).
 *
 * Shared state: the burned-token list (BurnedTokens), protected by its
 * LWLock; its n_live and latest_exp atomics are read without the lock, so
 * while nothing is burned the check costs one atomic read.  The node
 * contexts each backend is passing (PassedContexts, one slot per PGPROC):
 * written by their backend only, read by any, atomics and no lock.  The
 * DDL approvals this node has seen (SeenApprovals), protected by their
 * own LWLock (the owner's PGPROC is read after releasing it).  Everything
 * else here is per backend (the transaction context: in
 * TopTransactionContext, dropped at the transaction's end).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/parallel.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "common/jsonapi.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#if PG_VERSION_NUM < 170000
#include "storage/sinvaladt.h"
#endif
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "citus_node.h"
#include "context.h"
#include "crypto.h"
#include "jwks.h"
#include "move_gate.h"
#include "redact.h"
#include "secret_versions.h"
#include "security_events.h"
#include "tenant_stats.h"
#include "security_policy.h"
#include "tenant_status.h"
#include "token_cache.h"
#include "util.h"

/* GUC variables (defined in multitenant.c) */
char	   *mt_token_string = NULL;
char	   *mt_node_context_string = NULL;
char	   *mt_node_ddl_approval_string = NULL;
int			mt_token_max_ttl = 86400;
int			mt_default_token_ttl = 900;
char	   *mt_token_issuer = NULL;
char	   *mt_token_audience = NULL;
int			mt_token_leeway = 0;
char	   *mt_tenant_claim = NULL;
char	   *mt_subject_claim = NULL;
char	   *mt_roles_claim = NULL;
char	   *mt_workspace_claim = NULL;

/* Limits that keep verification cheap and bounded on hostile input. */
#define MT_MAX_TOKEN_LEN	8192
#define MT_MAX_HEADER_LEN	512
#define MT_MAX_PAYLOAD_LEN	6144
#define MT_MAX_SIG_LEN		1024	/* RSA 8192 bits */
#define MT_MAX_SUB_LEN		255
#define MT_MAX_ROLE_LEN		63

/* bytes of a signature that identify a burned token */
#define MT_FP_LEN			16

/* Verified claims; lives in malloc'd GUC "extra" memory. */
typedef struct MtContext
{
	pg_uuid_t	tenant;
	int64		exp;			/* seconds since the Unix epoch */
	bool		has_sub;
	bool		has_role;
	char		sub[MT_MAX_SUB_LEN + 1];
	char		role[MT_MAX_ROLE_LEN + 1];
	bool		has_fp;			/* a signed token (not an internal value) */
	uint8		fp[MT_FP_LEN];	/* its signature's first bytes */
	bool		maintenance;	/* internal, for the extension's own work on a
								 * tenant that is not active (retention) */
	int			key_version;	/* version of the server's token key that
								 * signed it; 0: another key */
	bool		remote;			/* passed by a Citus coordinator
								 * (multitenant.node_context) */
	bool		has_wid;		/* workspace claim (authz.c) */
	pg_uuid_t	wid;
	bool		backoffice;		/* minted by this server (mt.tenant_token,
								 * mt.set_tenant): its role claim is trusted */
	bool		policy_unchecked;	/* a token set outside a transaction: the
									 * tenant's security policy was not read */
	bool		idle_expired;	/* dropped by the tenant's session_idle_limit */
	uint64		entry_id;		/* entered by enter_internal(): its number in
								 * this backend (mt_context_entry_id); 0:
								 * anything else */
} MtContext;

static MtContext *active_context = NULL;
static MtContext *node_context = NULL;	/* multitenant.node_context */
static uint64 context_generation = 0;	/* bumped by every assignment */

/*
 * multitenant.node_context: "mt-node|1|<gpid>|<tenant>|<exp>|<hex sub>|
 * <hex role>|<maintenance 0/1>|<hex HMAC of all before>" (MT_NODE_PREFIX).
 */
#define MT_NODE_VERSION		"1"
#define MT_NODE_TTL			300		/* seconds a value is valid at most */
#define MT_CITUS_APP_PREFIX	"citus_internal gpid="
/* Citus' global pid: node id * this + pid (GLOBAL_PID_NODE_ID_MULTIPLIER) */
#define MT_CITUS_GPID_NODE_MULTIPLIER	UINT64CONST(10000000000)

/*
 * The node contexts each backend is passing (header comment), one slot per
 * PGPROC (pgprocno): the owner's pid and the first 64 bits of the MACs of
 * the values it passed in its current transaction, 0 when unused.  Citus
 * sends every SET LOCAL of the transaction (and of its open
 * subtransactions) to a connection it opens later, so a transaction that
 * passed several values (another tenant, a refresh before expiry) needs
 * each of them accepted: the most recent MT_PASSED_MAX are kept.  Written
 * by the owner only, read by any backend, no lock.
 */
#define MT_PASSED_MAX		8

typedef struct PassedContexts
{
	pg_atomic_uint32 pid;		/* the owner (0: never used) */
	pg_atomic_uint64 mac[MT_PASSED_MAX];
} PassedContexts;

static PassedContexts *passed = NULL;	/* [passed_count] */
static int	passed_count = 0;
static int	passed_next = 0;	/* this backend: next mac[] to write */
static int	passed_used = 0;	/* this backend: mac[] written in this xact */

/*
 * Tokens refused because their text appeared in a statement (header
 * comment).  Bounded: expired entries are dropped at the next burn, and
 * when the list is full the tenant holding the most entries gives up the
 * one that expires first.  So a tenant that burns many of its own tokens
 * only ever evicts its own, never another tenant's (which would make that
 * exposed token valid again).
 */
#define MT_BURNED_MAX		1024

typedef struct BurnedToken
{
	uint8		fp[MT_FP_LEN];
	int64		exp;
	pg_uuid_t	tenant;
} BurnedToken;

typedef struct BurnedTokens
{
	LWLock	   *lock;
	pg_atomic_uint32 n_live;	/* copy of n */
	pg_atomic_uint64 latest_exp;	/* no entry expires later */
	int			n;
	BurnedToken entries[MT_BURNED_MAX];
} BurnedTokens;

static BurnedTokens *burned = NULL;

/*
 * Citus DDL approvals this node has seen (multitenant.node_ddl_approval,
 * see its section below), protected by their LWLock.  Bounded: expired
 * entries are dropped at the next registration; when the list is full of
 * live ones, the one expiring first is forgotten and "floor" rises to its
 * expiry, so no approval that may have been forgotten is usable again.
 */
#define MT_NONCE_LEN		16
#define MT_APPROVALS_MAX	1024

typedef struct SeenApproval
{
	uint8		nonce[MT_NONCE_LEN];
	int64		exp;
	int			owner;			/* backend that set it first */
	LocalTransactionId owner_lxid;	/* in this transaction */
} SeenApproval;

typedef struct SeenApprovals
{
	LWLock	   *lock;
	int64		since;			/* unix time the list started */
	int64		floor;			/* approvals expiring at or before this
								 * may have been forgotten: not usable */
	int			n;
	SeenApproval entries[MT_APPROVALS_MAX];
} SeenApprovals;

static SeenApprovals *approvals = NULL;

/*
 * Contexts entered by mt_enter_tenant() are stored in the setting as
 * "mt-internal|<tenant>|<exp>|<hex sub>|<hex role>" (MT_INTERNAL_PREFIX):
 * the claims, no signature.  mt_enter_tenant_maintenance() appends "|m":
 * such a context also holds for a suspended or deleted tenant (the
 * extension's own retention work, see spi_util.c mt_owner_execute), and
 * only confines rows (mt_context_row_tenant): nothing acts as its tenant
 * (mt_context_tenant() is NULL in it).  pending_internal points at the value only
 * while mt_enter_tenant() sets it (see the check hook).
 */
static const char *pending_internal = NULL;
static const MtContext *pending_internal_ctx = NULL;	/* its claims */

/*
 * The transaction context (issue "Performance", mt.authenticate at its
 * floor): a context entered with is_local (mt.authenticate, mt.set_tenant,
 * mt.set_tenant_subject) is kept here, in backend memory, for the rest of
 * the transaction instead of being SET LOCAL on multitenant.token: a SET
 * LOCAL costs set_config_option and, at commit, PostgreSQL 15's walk of
 * every GUC (AtEOXact_GUC), about as much as the rest of mt.authenticate.
 * It behaves as that SET LOCAL would:
 *	- it is the context (current_context) until the setting changes: any
 *	  assignment of multitenant.token inside the transaction (SET, RESET,
 *	  set_config, another context) replaces it, recorded as a "replaced"
 *	  entry so that a rollback to a savepoint taken before brings it back;
 *	- entries belong to the subtransaction level they were made at: an
 *	  aborted subtransaction drops its entries (the context of its start
 *	  comes back, exactly as guc.c restores the setting), a committed one
 *	  hands them to its parent; the transaction's end drops everything;
 *	- SHOW / current_setting('multitenant.token') show its internal value
 *	  (show hook), the value the SET LOCAL would have set;
 *	- it is written into the setting for real ("materialized", SET LOCAL at
 *	  the current GUC nest level) where the setting itself is needed:
 *	  before a parallel query starts (workers restore the leader's
 *	  settings), before RESET ALL / DISCARD (which skip a setting at its
 *	  default), and before a table owner's code runs in a nest level that
 *	  is rolled back (spi_util.c owner scope);
 *	- it is used only where the GUC nest level is the transaction's own
 *	  (not inside a function with SET clauses or an owner scope): there a
 *	  real SET LOCAL is made, as before.
 * A function whose own SET clause names multitenant.token restores the
 * setting at its exit; a context kept here and replaced inside such a
 * function is not restored then (fail closed: no context).  Entries live
 * in TopTransactionContext; at most one per subtransaction level.
 */
typedef struct XactContext
{
	struct XactContext *prev;	/* the entry it replaced (an abort of its
								 * level goes back to it) */
	int			level;			/* transaction nest level it belongs to */
	bool		live;			/* false: replaced by a change of the setting */
	MtContext	ctx;
	char	   *value;			/* its internal value, built when needed */
} XactContext;

static XactContext *xact_ctx = NULL;
static bool xact_ctx_callback = false;
static bool materializing = false;	/* mt_context_materialize() sets it */
static uint64 entry_counter = 0;

static inline MtContext *
xact_context_live(void)
{
	return xact_ctx != NULL && xact_ctx->live ? &xact_ctx->ctx : NULL;
}
static void xact_context_replaced(void);

static bool parse_internal_value(const char *val, MtContext *out);
static bool parse_hex_claim(const char *start, const char *end, char *out, size_t outlen,
							bool *present);
static void append_hex_claim(StringInfo buf, const char *s);
static bool key_subject(const char *sub);
static MtContext *current_context(void);
static bool parse_kid(const char *kid, int *version, char *master);
static inline bool status_allows(MtTenantStatus status, bool maintenance);
static bool context_checked = false;	/* validated in this transaction? */
static bool context_usable = false;

#if PG_VERSION_NUM >= 160000
#define JSON_ACTION_RESULT JsonParseErrorType
#define JSON_ACTION_DONE return JSON_SUCCESS
#else
#define JSON_ACTION_RESULT void
#define JSON_ACTION_DONE return
#endif

/* ---------------------------------------------------------------------
 * Minimal JSON object reader for JWT headers and payloads: collects the
 * top-level scalar members we know and rejects duplicates of them, and
 * (payloads) the claims the claim settings name, nested paths included
 * (ClaimPath), in the same single pass.
 * --------------------------------------------------------------------- */
typedef enum JwtField
{
	F_OTHER = 0,
	F_ALG, F_TYP, F_CRIT, F_KID,
	F_EXP, F_NBF, F_IAT, F_AUD, F_ISS, F_TRUST,
	F_COUNT
} JwtField;

static const char *const jwt_field_names[F_COUNT] = {
	NULL, "alg", "typ", "crit", "kid", "exp", "nbf", "iat", "aud", "iss", "mt_trust"
};

/* claim mt_trust of the tokens mt.tenant_token() mints (authz.c trust rule) */
#define MT_TRUST_BACKOFFICE "backoffice"

/*
 * A claim named by a setting (multitenant.tenant_claim ...): its path of
 * member names from the top-level object (doc/identity.md, "Claim
 * mapping").
 */
#define MT_CLAIM_MAX_SEGS	4
#define MT_CLAIM_SEG_LEN	128
#define MT_CLAIM_MAX_ROLES	32	/* elements of a roles array */

typedef struct ClaimPath
{
	int			nseg;
	char		seg[MT_CLAIM_MAX_SEGS][MT_CLAIM_SEG_LEN + 1];
} ClaimPath;

/*
 * The claims read from a payload: the four the settings map (tokens of
 * other issuers) and the fixed ones of this server's own tokens (tid,
 * sub, role, wid: mt_trust "backoffice", HS256).
 */
typedef enum JwtClaim
{
	C_TENANT, C_SUB, C_ROLE, C_WID,
	C_OWN_TENANT, C_OWN_SUB, C_OWN_ROLE, C_OWN_WID,
	C_COUNT
} JwtClaim;

static const char *const jwt_claim_names[C_COUNT] = {
	"tenant", "subject", "roles", "workspace", "tid", "sub", "role", "wid"
};


static const ClaimPath own_paths[4] = {
	{1, {"tid"}}, {1, {"sub"}}, {1, {"role"}}, {1, {"wid"}}
};

/* the mapped claims (GUC extras; NULL: the default, as own_paths) */
static const ClaimPath *claim_paths[4] = {NULL, NULL, NULL, NULL};

/* moves when a claim, issuer or audience setting is assigned (token cache) */
static uint64 claim_settings_generation = 0;

typedef struct JwtJson
{
	int			depth;
	JwtField	current;
	bool		seen[F_COUNT];
	char	   *str[F_COUNT];	/* string values */
	char	   *num[F_COUNT];	/* numeric values */
	bool		aud_is_array;
	List	   *aud_list;
	const char *problem;		/* first structural problem found */
	/* claims by path (payloads only: paths[] NULL for a header) */
	const ClaimPath *paths[C_COUNT];
	const char *stack[MT_CLAIM_MAX_SEGS];	/* member names of the path */
	uint32		arrays;			/* bit d: the container at depth d is an array */
	uint32		cur_claims;		/* claims the value at cur_depth is */
	int			cur_depth;
	uint32		arr_claims;		/* role claims whose array is at arr_depth */
	int			arr_depth;
	int			arr_n;
	bool		cseen[C_COUNT];
	char	   *cval[C_COUNT];
	const char *cproblem[C_COUNT];	/* claim_problem */
	uint32		aliased;		/* own claims the same as their mapped one */
} JwtJson;

/*
 * A claim's value is malformed: recorded per claim, since only one of the
 * two sets (mapped or own) counts, which the payload itself decides
 * (mt_trust); the check hook refuses a problem of the set it uses.
 */
static void
claim_problem(JwtJson *js, uint32 claims, const char *what)
{
	for (int c = 0; c < C_COUNT; c++)
		if ((claims & (1u << c)) && js->cproblem[c] == NULL)
			js->cproblem[c] = psprintf("The %s claim \"%s\" %s.", c < C_OWN_TENANT ? "mapped" : "token's",
									   jwt_claim_names[c], what);
}

static JSON_ACTION_RESULT
jwt_object_start(void *state)
{
	JwtJson    *js = state;

	if (js->depth == 1 && js->current != F_OTHER)
		js->problem = psprintf("claim \"%s\" must not be an object", jwt_field_names[js->current]);
	if (js->cur_claims && js->depth == js->cur_depth)
		claim_problem(js, js->cur_claims, "must not be an object");
	if (js->arr_claims && js->depth == js->arr_depth)
		claim_problem(js, js->arr_claims, "must hold strings");
	js->cur_claims = 0;
	js->depth++;
	if (js->depth < 32)
		js->arrays &= ~(1u << js->depth);
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
jwt_object_end(void *state)
{
	((JwtJson *) state)->depth--;
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
jwt_array_start(void *state)
{
	JwtJson    *js = state;

	if (js->depth == 0)
		js->problem = "not a JSON object";
	else if (js->depth == 1 && js->current == F_AUD)
		js->aud_is_array = true;
	else if (js->depth == 1 && js->current != F_OTHER)
		js->problem = psprintf("claim \"%s\" must not be an array", jwt_field_names[js->current]);
	if (js->cur_claims && js->depth == js->cur_depth)
	{
		uint32		roles = js->cur_claims & ((1u << C_ROLE) | (1u << C_OWN_ROLE));

		if (js->cur_claims & ~roles)
			claim_problem(js, js->cur_claims & ~roles, "must not be an array");
		js->arr_claims = roles;
		js->arr_depth = js->depth + 1;
		js->arr_n = 0;
	}
	else if (js->arr_claims && js->depth == js->arr_depth)
		claim_problem(js, js->arr_claims, "must hold strings");
	js->cur_claims = 0;
	js->depth++;
	if (js->depth < 32)
		js->arrays |= (1u << js->depth);
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
jwt_array_end(void *state)
{
	JwtJson    *js = state;

	if (js->arr_claims && js->depth == js->arr_depth)
		js->arr_claims = 0;
	js->depth--;
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
jwt_field_start(void *state, char *fname, bool isnull)
{
	JwtJson    *js = state;
	int			d = js->depth;

	js->cur_claims = 0;
	if (js->paths[0] != NULL && d >= 1 && d <= MT_CLAIM_MAX_SEGS &&
		(js->arrays & (((1u << (d + 1)) - 1) & ~1u)) == 0)
	{
		/* a member on a path of objects only: one of the mapped claims? */
		js->stack[d - 1] = fname;
		for (int c = 0; c < C_COUNT; c++)
		{
			const ClaimPath *p = js->paths[c];
			bool		match = p->nseg == d && !(js->aliased & (1u << c));

			for (int i = 0; match && i < d; i++)
				match = strcmp(p->seg[i], js->stack[i]) == 0;
			if (!match)
				continue;
			if (js->cseen[c])
				claim_problem(js, 1u << c, "appears twice");
			js->cseen[c] = true;
			js->cur_claims |= 1u << c;
			js->cur_depth = d;
		}
	}
	if (d != 1)
		JSON_ACTION_DONE;
	js->current = F_OTHER;
	for (int f = 1; f < F_COUNT; f++)
	{
		if (strcmp(fname, jwt_field_names[f]) == 0)
		{
			if (js->seen[f])
				js->problem = psprintf("duplicate claim \"%s\"", fname);
			js->seen[f] = true;
			js->current = (JwtField) f;
			break;
		}
	}
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
jwt_scalar(void *state, char *token, JsonTokenType tokentype)
{
	JwtJson    *js = state;

	if (js->cur_claims && js->depth == js->cur_depth)
	{
		if (tokentype == JSON_TOKEN_STRING)
		{
			for (int c = 0; c < C_COUNT; c++)
				if (js->cur_claims & (1u << c))
					js->cval[c] = token;
		}
		else if (tokentype != JSON_TOKEN_NULL)
			claim_problem(js, js->cur_claims, "must be a string");
		js->cur_claims = 0;
	}
	else if (js->arr_claims && js->depth == js->arr_depth)
	{
		if (tokentype != JSON_TOKEN_STRING)
			claim_problem(js, js->arr_claims, "must hold strings");
		else if (++js->arr_n > MT_CLAIM_MAX_ROLES)
			claim_problem(js, js->arr_claims, psprintf("holds more than %d roles", MT_CLAIM_MAX_ROLES));
		else
		{
			for (int c = 0; c < C_COUNT; c++)
				if ((js->arr_claims & (1u << c)) && js->cval[c] == NULL)
					js->cval[c] = token;
		}
	}
	if (js->depth == 0)
		js->problem = "not a JSON object";
	else if (js->depth == 2 && js->current == F_AUD && js->aud_is_array)
	{
		if (tokentype == JSON_TOKEN_STRING)
			js->aud_list = lappend(js->aud_list, token);
		else
			js->problem = "claim \"aud\" must hold strings";
	}
	else if (js->depth == 1 && js->current != F_OTHER)
	{
		if (tokentype == JSON_TOKEN_STRING)
			js->str[js->current] = token;
		else if (tokentype == JSON_TOKEN_NUMBER)
			js->num[js->current] = token;
		else if (tokentype != JSON_TOKEN_NULL)
			js->problem = psprintf("claim \"%s\" has the wrong type", jwt_field_names[js->current]);
	}
	JSON_ACTION_DONE;
}

/*
 * A claim setting's path: member names separated by dots, a name with
 * dots in double quotes ("https://example.com/claims".tenant); a setting
 * holding "://" and no quote is one name (a URL-named claim).  False with
 * *problem when malformed.
 */
static bool
parse_claim_path(const char *s, ClaimPath *out, const char **problem)
{
	const char *p = s;

	memset(out, 0, sizeof(*out));
	if (strstr(s, "://") != NULL && strchr(s, '"') == NULL)
	{
		if (strlen(s) > MT_CLAIM_SEG_LEN)
		{
			*problem = psprintf("A claim name is at most %d bytes.", MT_CLAIM_SEG_LEN);
			return false;
		}
		out->nseg = 1;
		strlcpy(out->seg[0], s, sizeof(out->seg[0]));
		return true;
	}
	for (;;)
	{
		char	   *seg;
		int			n = 0;

		if (out->nseg == MT_CLAIM_MAX_SEGS)
		{
			*problem = psprintf("A claim path has at most %d names.", MT_CLAIM_MAX_SEGS);
			return false;
		}
		seg = out->seg[out->nseg++];
		if (*p == '"')
		{
			for (p++; *p && *p != '"'; p++)
			{
				if (n == MT_CLAIM_SEG_LEN)
					break;
				seg[n++] = *p;
			}
			if (*p++ != '"')
			{
				*problem = psprintf("A quoted claim name must end with a quote and be at most %d bytes.",
									MT_CLAIM_SEG_LEN);
				return false;
			}
		}
		else
		{
			for (; *p && *p != '.' && *p != '"'; p++)
			{
				if (n == MT_CLAIM_SEG_LEN)
				{
					*problem = psprintf("A claim name is at most %d bytes.", MT_CLAIM_SEG_LEN);
					return false;
				}
				seg[n++] = *p;
			}
		}
		seg[n] = '\0';
		if (n == 0)
		{
			*problem = "A claim path has an empty name.";
			return false;
		}
		if (*p == '\0')
			return true;
		if (*p++ != '.')
		{
			*problem = "Names of a claim path are separated by dots.";
			return false;
		}
	}
}

bool
mt_check_claim_setting(char **newval, void **extra, GucSource source)
{
	ClaimPath	path;
	ClaimPath  *copy;
	const char *problem = NULL;

	*extra = NULL;
	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errdetail("A claim setting cannot be empty.");
		return false;
	}
	if (!parse_claim_path(*newval, &path, &problem))
	{
		GUC_check_errdetail("%s", problem);
		return false;
	}
	copy = mt_guc_extra_alloc(sizeof(ClaimPath));
	if (copy == NULL)
		return false;
	memcpy(copy, &path, sizeof(path));
	*extra = copy;
	return true;
}

void
mt_assign_tenant_claim(const char *newval, void *extra)
{
	claim_paths[C_TENANT] = extra;
	claim_settings_generation++;
}

void
mt_assign_subject_claim(const char *newval, void *extra)
{
	claim_paths[C_SUB] = extra;
	claim_settings_generation++;
}

void
mt_assign_roles_claim(const char *newval, void *extra)
{
	claim_paths[C_ROLE] = extra;
	claim_settings_generation++;
}

void
mt_assign_workspace_claim(const char *newval, void *extra)
{
	claim_paths[C_WID] = extra;
	claim_settings_generation++;
}

/* assign hook of multitenant.token_issuer and token_audience */
void
mt_assign_claim_values(const char *newval, void *extra)
{
	claim_settings_generation++;
}

/* for error details: the setting's text (bounded), or dflt */
static const char *
claim_setting_text(const char *setting, const char *dflt)
{
	if (setting == NULL || setting[0] == '\0')
		return dflt;
	return strlen(setting) > MT_CLAIM_SEG_LEN ? "?" : setting;
}

/*
 * multitenant.token_issuer / token_audience: comma-separated values
 * (spaces around them ignored), at most 16, none empty.
 */
#define MT_CLAIM_VALUES_MAX 16

bool
mt_check_claim_values(char **newval, void **extra, GucSource source)
{
	const char *p = *newval;
	int			n = 0;

	if (p == NULL || *p == '\0')
		return true;
	for (;;)
	{
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);

		while (p < end && *p == ' ')
			p++;
		while (end > p && end[-1] == ' ')
			end--;
		if (end == p)
		{
			GUC_check_errdetail("The list has an empty value.");
			return false;
		}
		if (++n > MT_CLAIM_VALUES_MAX)
		{
			GUC_check_errdetail("The list has more than %d values.", MT_CLAIM_VALUES_MAX);
			return false;
		}
		if (comma == NULL)
			return true;
		p = comma + 1;
	}
}

/* is value one of the comma-separated values of setting (checked above)? */
static bool
setting_list_contains(const char *setting, const char *value)
{
	const char *p = setting;
	size_t		vlen = strlen(value);

	for (;;)
	{
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);

		while (p < end && *p == ' ')
			p++;
		while (end > p && end[-1] == ' ')
			end--;
		if ((size_t) (end - p) == vlen && memcmp(p, value, vlen) == 0)
			return true;
		if (comma == NULL)
			return false;
		p = comma + 1;
	}
}

/* Parses a decoded JSON object; returns false (with *problem) when invalid. */
static bool
jwt_parse_json(uint8 *text, int len, JwtJson *js, const char **problem, bool claims)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	JsonParseErrorType rc;

	memset(js, 0, sizeof(*js));
	if (claims)
	{
		for (int c = 0; c < 4; c++)
		{
			js->paths[c] = claim_paths[c] ? claim_paths[c] : &own_paths[c];
			js->paths[C_OWN_TENANT + c] = &own_paths[c];
			/* mapped as the fixed claim (the default): matched once, copied below */
			if (js->paths[c] == &own_paths[c] ||
				(js->paths[c]->nseg == 1 && strcmp(js->paths[c]->seg[0], own_paths[c].seg[0]) == 0))
				js->aliased |= 1u << (C_OWN_TENANT + c);
		}
	}
	if (!pg_verify_mbstr(PG_UTF8, (const char *) text, len, true))
	{
		*problem = "not valid UTF-8";
		return false;
	}
	memset(&sem, 0, sizeof(sem));
	sem.semstate = js;
	sem.object_start = jwt_object_start;
	sem.object_end = jwt_object_end;
	sem.array_start = jwt_array_start;
	sem.array_end = jwt_array_end;
	sem.object_field_start = jwt_field_start;
	sem.scalar = jwt_scalar;

#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, (char *) text, len, PG_UTF8, true);
#else
	lex = makeJsonLexContextCstringLen((char *) text, len, PG_UTF8, true);
#endif
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
	{
		*problem = "not valid JSON";
		return false;
	}
	if (js->problem)
	{
		*problem = js->problem;
		return false;
	}
	for (int c = C_OWN_TENANT; c < C_COUNT; c++)
		if (js->aliased & (1u << c))
		{
			js->cval[c] = js->cval[c - C_OWN_TENANT];
			js->cproblem[c] = js->cproblem[c - C_OWN_TENANT];
		}
	return true;
}

/* A JSON number as whole seconds; false when not a finite in-range number. */
static bool
jwt_numeric_date(const char *num, int64 *out)
{
	char	   *end;
	double		d;

	errno = 0;
	d = strtod(num, &end);
	if (errno != 0 || *end != '\0' || !isfinite(d) || d < 0 || d > 253402300799.0)
		return false;
	*out = (int64) floor(d);
	return true;
}

static int64
unix_seconds(TimestampTz ts)
{
	return (int64) (ts / USECS_PER_SEC) +
		((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);
}

/*
 * The name of the database this session is connected to; NULL outside a
 * transaction, where the catalog cannot be read (the audience check then
 * fails closed).
 */
static const char *
session_database_name(void)
{
	if (IsTransactionState() && OidIsValid(MyDatabaseId))
		return get_database_name(MyDatabaseId);
	return NULL;
}

/* ---------------------------------------------------------------------
 * Burned tokens (header comment)
 * --------------------------------------------------------------------- */

Size
mt_context_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(BurnedTokens)), MAXALIGN(sizeof(SeenApprovals)));
}

void
mt_context_shmem_request(void)
{
	RequestNamedLWLockTranche("multitenant burned tokens", 1);
	RequestNamedLWLockTranche("multitenant ddl approvals", 1);
}

/* called by mt_shmem_startup while it holds AddinShmemInitLock */
void
mt_context_shmem_startup(void)
{
	bool		found;

	burned = ShmemInitStruct("multitenant burned tokens", sizeof(BurnedTokens), &found);
	if (!found)
	{
		burned->lock = &(GetNamedLWLockTranche("multitenant burned tokens"))[0].lock;
		pg_atomic_init_u32(&burned->n_live, 0);
		pg_atomic_init_u64(&burned->latest_exp, 0);
		burned->n = 0;
	}
	approvals = ShmemInitStruct("multitenant ddl approvals", sizeof(SeenApprovals), &found);
	if (!found)
	{
		approvals->lock = &(GetNamedLWLockTranche("multitenant ddl approvals"))[0].lock;
		approvals->since = unix_seconds(GetCurrentTimestamp());
		approvals->floor = 0;
		approvals->n = 0;
	}
}

/* ---------------------------------------------------------------------
 * Node contexts being passed (PassedContexts, header comment)
 * --------------------------------------------------------------------- */

static int
passed_slots(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

Size
mt_node_context_shmem_size(void)
{
	return MAXALIGN(mul_size(sizeof(PassedContexts), passed_slots()));
}

/* called by mt_shmem_startup while it holds AddinShmemInitLock */
void
mt_node_context_shmem_startup(void)
{
	bool		found;
	int			n = passed_slots();

	passed = ShmemInitStruct("multitenant node contexts passed",
							 mul_size(sizeof(PassedContexts), n), &found);
	if (!found)
	{
		for (int i = 0; i < n; i++)
		{
			pg_atomic_init_u32(&passed[i].pid, 0);
			for (int j = 0; j < MT_PASSED_MAX; j++)
				pg_atomic_init_u64(&passed[i].mac[j], 0);
		}
	}
	passed_count = n;
}

/* the first 64 bits of a MAC, never 0 (0 marks an unused mac[]) */
static inline uint64
passed_tag(const uint8 *mac)
{
	uint64		tag;

	memcpy(&tag, mac, sizeof(tag));
	return tag | 1;
}

static PassedContexts *
my_passed(void)
{
	if (passed == NULL || MyProc == NULL || MyProc->pgprocno < 0 ||
		MyProc->pgprocno >= passed_count)
		return NULL;
	return &passed[MyProc->pgprocno];
}

/*
 * citus.c is about to pass value (made by mt_node_context_value or
 * mt_node_ddl_approval_value) to the
 * connections of this transaction: a connection to this node itself
 * accepts it only while this backend is passing it.
 */
void
mt_node_context_passing(const char *value)
{
	PassedContexts *slot = my_passed();
	const char *macpos = strrchr(value, '|');
	uint8		mac[MT_SHA256_LEN];

	if (slot == NULL || macpos == NULL || !mt_hex_decode(macpos + 1, mac, sizeof(mac)))
		return;
	if (pg_atomic_read_u32(&slot->pid) != (uint32) MyProcPid)
	{
		/* a previous owner of this PGPROC: its values are not ours */
		for (int j = 0; j < MT_PASSED_MAX; j++)
			pg_atomic_write_u64(&slot->mac[j], 0);
		pg_write_barrier();
		pg_atomic_write_u32(&slot->pid, (uint32) MyProcPid);
		passed_next = 0;
		passed_used = 0;
	}
	pg_atomic_write_u64(&slot->mac[passed_next], passed_tag(mac));
	/* visible before Citus sends the value to the other backend */
	pg_memory_barrier();
	passed_next = (passed_next + 1) % MT_PASSED_MAX;
	passed_used = Min(passed_used + 1, MT_PASSED_MAX);
}

/* the transaction ended: nothing of it is passed any more */
static void
passed_clear(void)
{
	PassedContexts *slot;

	if (passed_used == 0 || (slot = my_passed()) == NULL)
		return;
	for (int j = 0; j < MT_PASSED_MAX; j++)
		pg_atomic_write_u64(&slot->mac[j], 0);
	passed_next = 0;
	passed_used = 0;
}

/*
 * A value made on this node (its gpid's node id is ours): the backend
 * with the gpid's pid is alive and passing this very value.
 */
static bool
passed_by_live_backend(uint64 gpid, const uint8 *mac)
{
	uint64		pid64 = gpid % MT_CITUS_GPID_NODE_MULTIPLIER;
	PGPROC	   *proc;
	int			procno;
	uint64		tag = passed_tag(mac);

	if (passed == NULL || pid64 == 0 || pid64 > PG_INT32_MAX)
		return false;
	proc = BackendPidGetProc((int) pid64);
	if (proc == NULL)
		return false;
	procno = proc->pgprocno;
	if (procno < 0 || procno >= passed_count ||
		pg_atomic_read_u32(&passed[procno].pid) != (uint32) pid64)
		return false;
	for (int j = 0; j < MT_PASSED_MAX; j++)
		if (pg_atomic_read_u64(&passed[procno].mac[j]) == tag)
			return true;
	return false;
}

/* qsort order of entry indexes: by tenant, then by expiry */
static int
burned_index_cmp(const void *a, const void *b)
{
	const BurnedToken *x = &burned->entries[*(const int *) a];
	const BurnedToken *y = &burned->entries[*(const int *) b];
	int			c = memcmp(&x->tenant, &y->tenant, sizeof(pg_uuid_t));

	if (c != 0)
		return c;
	return (x->exp > y->exp) - (x->exp < y->exp);
}

/*
 * The entry to give way when the list is full: the earliest-expiring entry
 * of the tenant that holds the most entries.  Caller holds the lock
 * exclusively.
 */
static int
burned_victim(void)
{
	int			order[MT_BURNED_MAX];
	int			best = 0,
				best_len = 0;

	for (int i = 0; i < burned->n; i++)
		order[i] = i;
	qsort(order, burned->n, sizeof(int), burned_index_cmp);
	for (int start = 0, end; start < burned->n; start = end)
	{
		for (end = start + 1; end < burned->n &&
			 memcmp(&burned->entries[order[end]].tenant,
					&burned->entries[order[start]].tenant, sizeof(pg_uuid_t)) == 0;
			 end++)
			;
		if (end - start > best_len)
		{
			best_len = end - start;
			best = order[start];
		}
	}
	return best;
}

/* remembers a token until it expires; without shared memory, a no-op */
static void
burn_token(const uint8 *fp, int64 exp, const pg_uuid_t *tenant, int64 now)
{
	int			j = 0;
	bool		dup = false;

	if (burned == NULL)
		return;
	LWLockAcquire(burned->lock, LW_EXCLUSIVE);
	for (int i = 0; i < burned->n; i++)
	{
		if (burned->entries[i].exp <= now)
			continue;			/* expired: drop */
		dup |= (memcmp(burned->entries[i].fp, fp, MT_FP_LEN) == 0);
		burned->entries[j++] = burned->entries[i];
	}
	burned->n = j;
	if (!dup)
	{
		int			slot = burned->n;

		if (slot == MT_BURNED_MAX)
			slot = burned_victim();	/* full of live entries */
		else
			burned->n++;
		memcpy(burned->entries[slot].fp, fp, MT_FP_LEN);
		burned->entries[slot].exp = exp;
		burned->entries[slot].tenant = *tenant;
		if ((uint64) exp > pg_atomic_read_u64(&burned->latest_exp))
			pg_atomic_write_u64(&burned->latest_exp, (uint64) exp);
	}
	pg_atomic_write_u32(&burned->n_live, (uint32) burned->n);
	LWLockRelease(burned->lock);
}

/* has this token been burned?  One atomic read while none is. */
static bool
token_burned(const MtContext *ctx, int64 now)
{
	bool		hit = false;

	if (burned == NULL || !ctx->has_fp ||
		pg_atomic_read_u32(&burned->n_live) == 0 ||
		(int64) pg_atomic_read_u64(&burned->latest_exp) <= now)
		return false;
	LWLockAcquire(burned->lock, LW_SHARED);
	for (int i = 0; i < burned->n && !hit; i++)
		hit = burned->entries[i].exp > now &&
			memcmp(burned->entries[i].fp, ctx->fp, MT_FP_LEN) == 0;
	LWLockRelease(burned->lock);
	return hit;
}

#define REJECT(detail_fmt, ...) \
	do { \
		GUC_check_errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION); \
		GUC_check_errmsg("invalid tenant token"); \
		GUC_check_errdetail(detail_fmt, ##__VA_ARGS__); \
		return false; \
	} while (0)

/*
 * Check hook of multitenant.token: verifies the token and hands the claims
 * to the assign hook.  Never echoes the token in an error.
 */
/* a verified context as a check hook's extra (freed by the GUC machinery) */
static bool
context_extra(const MtContext *verified, void **extra)
{
	MtContext  *ctx = mt_guc_extra_alloc(sizeof(MtContext));

	if (ctx == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	memcpy(ctx, verified, sizeof(MtContext));
	*extra = ctx;
	return true;
}

/*
 * Does the token's aud (a string, or an array of strings) name one of the
 * values of setting, or (setting NULL) the database dbname?
 */
static bool
aud_names(JwtJson *pj, const char *setting, const char *dbname)
{
	ListCell   *lc;

	if (!pj->aud_is_array)
		return pj->str[F_AUD] != NULL &&
			(setting ? setting_list_contains(setting, pj->str[F_AUD]) :
			 strcmp(pj->str[F_AUD], dbname) == 0);
	foreach(lc, pj->aud_list)
	{
		const char *v = (const char *) lfirst(lc);

		if (setting ? setting_list_contains(setting, v) : strcmp(v, dbname) == 0)
			return true;
	}
	return false;
}

/*
 * The issuer and audience checks of a token's payload: NULL when they
 * pass, else the reason (multitenant.token_issuer / token_audience; an aud
 * claim without token_audience must name the database).
 */
static const char *
token_claims_problem(JwtJson *pj, bool backoffice)
{
	const char *dbname;

	if (pj->seen[F_ISS] && pj->str[F_ISS] == NULL)
		return "The token's \"iss\" claim is not a string.";
	if (!backoffice && mt_token_issuer != NULL && mt_token_issuer[0] != '\0' &&
		(pj->str[F_ISS] == NULL || !setting_list_contains(mt_token_issuer, pj->str[F_ISS])))
		return "The token's issuer is not one of multitenant.token_issuer.";
	if (!backoffice && mt_token_audience != NULL && mt_token_audience[0] != '\0')
	{
		/* the audiences the operator configured, required */
		if (!aud_names(pj, mt_token_audience, NULL))
			return "The token audience does not include one of multitenant.token_audience.";
	}
	else if (pj->seen[F_AUD])
	{
		dbname = session_database_name();
		if (dbname == NULL)
			return "The token audience cannot be checked outside a transaction.";
		if (!aud_names(pj, NULL, dbname))
			return "The token audience does not include this database.";
	}
	return NULL;
}

/*
 * The part of a token's check that depends only on the token's bytes and
 * the server's configuration (keys, key sets, claim, issuer and audience
 * settings, key versions): token_cache.c remembers it for the tokens that
 * pass.  What it finds wrong with the nbf / iat claims, the issuer or the
 * audience is recorded in *vt and refused by check_token_now() at the
 * point of the check it always had (after expiry).
 */
typedef struct VerifiedToken
{
	MtContext	parsed;			/* the claims; exp as the token says */
	bool		has_nbf;
	bool		nbf_bad;		/* present, not a NumericDate */
	int64		nbf;
	bool		has_iat;
	bool		iat_bad;
	int64		iat;
	const char *claims_problem; /* issuer or audience refused (NULL: none) */
	bool		cacheable;
} VerifiedToken;

static bool
verify_token(const char *tok, size_t toklen, bool in_worker, VerifiedToken *vt,
			 uint8 *payload, int *plen_out)
{
	const char *dot1;
	const char *dot2;
	uint8		header[MT_MAX_HEADER_LEN];
	uint8		sig[MT_MAX_SIG_LEN];
	int			hlen,
				plen,
				slen;
	JwtJson		hj,
				pj;
	const char *problem = NULL;
	const char *alg;
	int			key_version;
	int			cl;

	dot1 = strchr(tok, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL ||
		dot1 == tok || dot2 == dot1 + 1)
		REJECT("The token is not a compact JWT (header.payload.signature).");

	hlen = mt_base64url_decode(tok, dot1 - tok, header, sizeof(header));
	if (hlen <= 0)
		REJECT("The token header is not valid base64url.");
	if (!jwt_parse_json(header, hlen, &hj, &problem, false))
		REJECT("The token header is %s.", problem);
	alg = hj.str[F_ALG];
	if (alg == NULL)
		REJECT("The token header has no \"alg\".");
	if (hj.seen[F_CRIT])
		REJECT("The token header has a \"crit\" member, which is not supported.");
	/* JWT, or a JWT access token (RFC 9068) as identity providers issue */
	if (hj.seen[F_TYP] && (hj.str[F_TYP] == NULL ||
						   (pg_strcasecmp(hj.str[F_TYP], "JWT") != 0 &&
							pg_strcasecmp(hj.str[F_TYP], "at+jwt") != 0 &&
							pg_strcasecmp(hj.str[F_TYP], "application/at+jwt") != 0)))
		REJECT("The token type must be JWT (or at+jwt).");

	/* signature over the ASCII bytes of "header.payload" */
	slen = mt_base64url_decode(dot2 + 1, toklen - (dot2 + 1 - tok), sig, sizeof(sig));
	key_version = 0;
	if (strcmp(alg, "HS256") == 0)
	{
		uint8		expected[MT_SHA256_LEN];
		bool		good;

		if (mt_jwt_secret != NULL && mt_jwt_secret[0] != '\0')
		{
			/* the operator's key, or during a change of it the previous one */
			mt_token_hmac((const uint8 *) tok, dot2 - tok, expected);
			good = (slen == MT_SHA256_LEN && mt_ct_equal(expected, sig, MT_SHA256_LEN));
			if (!good && mt_token_hmac_previous((const uint8 *) tok, dot2 - tok, expected))
				good = (slen == MT_SHA256_LEN && mt_ct_equal(expected, sig, MT_SHA256_LEN));
		}
		else if (hj.str[F_KID] == NULL)
		{
			/* version 1 of the server's token key (every release before 0.3.0) */
			mt_token_hmac((const uint8 *) tok, dot2 - tok, expected);
			good = (slen == MT_SHA256_LEN && mt_ct_equal(expected, sig, MT_SHA256_LEN));
			key_version = 1;
		}
		else
		{
			char		master[MT_MASTER_FP_LEN + 1];
			const MtSecretVersion *v;

			if (!parse_kid(hj.str[F_KID], &key_version, master))
				REJECT("The token's key id is not one of this server's.");

			/*
			 * Only the master the version was created from: a kid naming
			 * an older master (one whose versions are retired, or the
			 * first line, which stays in the file) must not turn it into
			 * a key of the active version.
			 */
			v = mt_secret_version(MT_SECRET_TOKEN, key_version);
			if (v == NULL || strcmp(v->master, master) != 0)
				REJECT("The token's key id is not one of this server's.");
			good = mt_secret_hmac(MT_SECRET_TOKEN, key_version, v->master,
								  (const uint8 *) tok, dot2 - tok, expected) &&
				slen == MT_SHA256_LEN && mt_ct_equal(expected, sig, MT_SHA256_LEN);
		}
		mt_wipe(expected, sizeof(expected));
		if (!good)
		{
			mt_security_event(NULL, MT_SEC_TOKEN_FORGED, NULL, "HS256 signature does not verify");
			REJECT("The token signature does not verify.");
		}
	}
	else if (mt_jwks_alg(alg))
	{
		/* an identity provider's key (jwks.c) */
		bool		no_key;
		const char *why;

		if (slen <= 0)
			REJECT("The token signature is not valid base64url or is too long.");
		why = mt_jwks_verify(alg, hj.str[F_KID], tok, toklen, dot2 - tok, sig, slen, &no_key);
		/* EdDSA: else the single key of multitenant.jwt_public_key */
		if (why != NULL && no_key && strcmp(alg, "EdDSA") == 0 &&
			mt_jwt_public_key != NULL && mt_jwt_public_key[0] != '\0')
			why = mt_ed25519_verify(sig, slen, (const uint8 *) tok, dot2 - tok) ? NULL :
				"The token signature does not verify.";
		if (why != NULL)
		{
			mt_security_event(NULL, MT_SEC_TOKEN_FORGED, NULL,
							  no_key ? "no key of multitenant.jwks fits the token" : "signature does not verify");
			REJECT("%s", why);
		}
	}
	else
		REJECT("The token algorithm \"%s\" is not accepted (HS256, RS256, PS256, ES256 or EdDSA only).",
			   strlen(alg) > 16 ? "?" : alg);

	/* only now, with the signature verified, look at the claims */
	plen = mt_base64url_decode(dot1 + 1, dot2 - (dot1 + 1), payload, MT_MAX_PAYLOAD_LEN);
	if (plen <= 0)
		REJECT("The token payload is not valid base64url or is too long.");
	if (!jwt_parse_json(payload, plen, &pj, &problem, true))
		REJECT("The token payload is %s.", problem);
	*plen_out = plen;

	memset(vt, 0, sizeof(*vt));
	vt->cacheable = true;
	vt->parsed.key_version = key_version;
	vt->parsed.has_fp = true;		/* slen >= 32 once a signature verified */
	memcpy(vt->parsed.fp, sig, MT_FP_LEN);

	/*
	 * This server's own tokens (mt.tenant_token: HS256, mt_trust
	 * "backoffice") carry the fixed claims; every other token the claims
	 * the settings map (doc/identity.md, "Claim mapping").
	 */
	vt->parsed.backoffice = strcmp(alg, "HS256") == 0 && pj.str[F_TRUST] != NULL &&
		strcmp(pj.str[F_TRUST], MT_TRUST_BACKOFFICE) == 0;
	cl = vt->parsed.backoffice ? C_OWN_TENANT : C_TENANT;
	for (int c = cl; c < cl + 4; c++)
		if (pj.cproblem[c] != NULL)
			REJECT("%s", pj.cproblem[c]);
	if (pj.cval[cl + C_TENANT] == NULL)
		REJECT("The token has no tenant claim (\"%s\").",
			   vt->parsed.backoffice ? "tid" : claim_setting_text(mt_tenant_claim, "tid"));
	if (!mt_parse_uuid(pj.cval[cl + C_TENANT], &vt->parsed.tenant))
	{
		/* the tenant's slug (its external key) */
		if (strlen(pj.cval[cl + C_TENANT]) > 63)
			REJECT("The token's tenant claim is neither a tenant uuid nor a tenant slug.");
		if (!IsTransactionState())
			REJECT("A token naming its tenant by slug can be checked only inside a transaction.");
		if (!mt_tenant_by_slug(pj.cval[cl + C_TENANT], &vt->parsed.tenant))
			REJECT("The tenant does not exist.");
		/* the registry may give the slug to another tenant: not cached */
		vt->cacheable = false;
	}
	if (pj.num[F_EXP] == NULL || !jwt_numeric_date(pj.num[F_EXP], &vt->parsed.exp))
		REJECT("The token has no valid \"exp\" claim.");
	if (pj.cval[cl + C_SUB] != NULL)
	{
		if (strlen(pj.cval[cl + C_SUB]) > MT_MAX_SUB_LEN)
			REJECT("The subject claim is longer than %d bytes.", MT_MAX_SUB_LEN);
		/* the API keys' namespace: the roles assigned to a key are not a token's */
		if (key_subject(pj.cval[cl + C_SUB]))
			REJECT("The subject claim cannot start with \"%s\": subjects of that form are API keys, which only mt.authenticate() enters.",
				   MT_KEY_SUBJECT_PREFIX);
		strlcpy(vt->parsed.sub, pj.cval[cl + C_SUB], sizeof(vt->parsed.sub));
		vt->parsed.has_sub = true;
	}
	if (pj.cval[cl + C_ROLE] != NULL)
	{
		if (strlen(pj.cval[cl + C_ROLE]) > MT_MAX_ROLE_LEN)
			REJECT("The role claim is longer than %d bytes.", MT_MAX_ROLE_LEN);
		strlcpy(vt->parsed.role, pj.cval[cl + C_ROLE], sizeof(vt->parsed.role));
		vt->parsed.has_role = true;
	}
	if (pj.cval[cl + C_WID] != NULL)
	{
		if (!mt_parse_uuid(pj.cval[cl + C_WID], &vt->parsed.wid))
			REJECT("The workspace claim is not a workspace uuid.");
		vt->parsed.has_wid = true;
	}

	/* a NumericDate is a JSON number: a string or null is malformed, not absent */
	vt->has_nbf = pj.num[F_NBF] != NULL;
	vt->nbf_bad = (pj.seen[F_NBF] && !vt->has_nbf) ||
		(vt->has_nbf && !jwt_numeric_date(pj.num[F_NBF], &vt->nbf));
	vt->has_iat = pj.num[F_IAT] != NULL;
	vt->iat_bad = (pj.seen[F_IAT] && !vt->has_iat) ||
		(vt->has_iat && !jwt_numeric_date(pj.num[F_IAT], &vt->iat));

	/* issuer and audience (a parallel worker's leader checked them) */
	if (!in_worker)
		vt->claims_problem = token_claims_problem(&pj, vt->parsed.backoffice);
	if (vt->nbf_bad || vt->iat_bad || vt->claims_problem != NULL || in_worker)
		vt->cacheable = false;
	return true;
}

/*
 * The part of a token's check that is made at every use, cached or not:
 * time, the issuer and audience verdict, the tenant's status, retired key
 * versions, burned tokens, the security policy.  A parallel worker
 * restores the leader's already-verified setting; the leader checked
 * time, audience and status, and the worker could see a later clock.
 */
static bool
check_token_now(const VerifiedToken *vt, const uint8 *payload, int plen,
				bool in_worker, bool in_statement, void **extra)
{
	MtContext	parsed;

	memcpy(&parsed, &vt->parsed, sizeof(MtContext));
	if (!in_worker)
	{
		int64		now = unix_seconds(GetCurrentTimestamp());

		/* clock skew: exp, nbf and iat are compared with this leeway */
		if (parsed.exp + mt_token_leeway <= now)
		{
			mt_security_event(&parsed.tenant, MT_SEC_TOKEN_EXPIRED,
							  parsed.has_sub ? parsed.sub : NULL, "token past its exp");
			REJECT("The token has expired.");
		}
		parsed.exp += mt_token_leeway;
		if (vt->nbf_bad)
			REJECT("The token has an invalid \"nbf\" claim.");
		if (vt->has_nbf && vt->nbf - mt_token_leeway > now)
			REJECT("The token is not valid yet.");
		if (vt->iat_bad)
			REJECT("The token has an invalid \"iat\" claim.");
		if (vt->has_iat && vt->iat - mt_token_leeway > now)
			REJECT("The token was issued in the future.");
		if (vt->claims_problem != NULL)
			REJECT("%s", vt->claims_problem);
		if (IsTransactionState())
		{
			MtTenantStatus status = mt_tenant_status_cached(&parsed.tenant);

			if (parsed.key_version > 0 && !mt_secret_usable(MT_SECRET_TOKEN, parsed.key_version))
				REJECT("The token was signed with a retired key.");

			if (status == MT_TENANT_SUSPENDED || status == MT_TENANT_DELETED)
				REJECT("The tenant is not active.");
			if (status == MT_TENANT_UNKNOWN)
				REJECT("The tenant does not exist.");
		}

		/* a valid token whose text others could read: refuse and burn it */
		if (in_statement)
		{
			burn_token(parsed.fp, parsed.exp, &parsed.tenant, now);
			GUC_check_errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
			GUC_check_errmsg("tenant token must not appear in the statement text");
			GUC_check_errdetail("Other sessions of the role can read statement text in pg_stat_activity, and the server log may record it. This token is now refused for the rest of its lifetime.");
			GUC_check_errhint("Mint a new token and pass it as a bound parameter: SELECT set_config('multitenant.token', $1, true).");
			return false;
		}
		if (token_burned(&parsed, now))
			REJECT("The token was exposed in the text of a statement and has been withdrawn.");

		/* the tenant's security policy (security_policy.c records the refusal) */
		if (IsTransactionState())
		{
			/* the token's own exp: the lifetime rule is exp - iat, no leeway */
			const char *why = mt_policy_check_token(&parsed.tenant, payload, plen,
													vt->parsed.exp, parsed.backoffice);

			if (why != NULL)
				REJECT("Refused by the tenant's security policy: %s.", why);
		}
		else
			parsed.policy_unchecked = true;
		mt_stat_count(&parsed.tenant, MT_STAT_TOKENS);
	}

	return context_extra(&parsed, extra);
}

/*
 * What a verified token's cached part depends on (token_cache.c): false
 * when there is no cache (off, or no shared registry generation).
 */
static bool
token_stamp(MtTokenStamp *stamp)
{
	uint64		gen;

	if (mt_token_cache_size <= 0 || !mt_registry_generation(&gen))
		return false;
	stamp->w[0] = mt_token_keys_generation();
	stamp->w[1] = mt_jwks_generation();
	stamp->w[2] = claim_settings_generation;
	stamp->w[3] = gen;
	stamp->w[4] = mt_registry_inval_count();
	return true;
}

bool
mt_check_token(char **newval, void **extra, GucSource source)
{
	const char *tok = *newval;
	size_t		toklen;
	uint8		payload[MT_MAX_PAYLOAD_LEN];
	const uint8 *cached_payload;
	int			plen;
	VerifiedToken vt;
	MtTokenStamp stamp;
	bool		use_cache;
	bool		in_worker = InitializingParallelWorker;
	bool		in_statement;
	const char *lastdot;

	*extra = NULL;
	if (tok == NULL || tok[0] == '\0')
		return true;			/* no context */

	/*
	 * Is the token's text in the statement that sets it?  Then other
	 * sessions of the role have been able to read it in pg_stat_activity:
	 * take it out of there (and out of this statement's error reports),
	 * and refuse the token below once it is known to be valid.  Any 8
	 * consecutive characters of the signature count, so a token split
	 * into concatenated literals, even inside its signature, is caught
	 * too.
	 */
	lastdot = strrchr(tok, '.');
	if (lastdot != NULL && strlen(lastdot + 1) >= 16)
		in_statement = mt_redact_signature_fragments(tok, lastdot + 1);
	else
		in_statement = mt_redact_statement(tok);

	/*
	 * A token is a per-connection credential: only the client (startup
	 * packet, SET, set_config) may supply one.  Stored defaults (ALTER ROLE
	 * / ALTER DATABASE ... SET, whose validation runs as PGC_S_TEST,
	 * postgresql.conf, ALTER SYSTEM, function SET clauses) would put every
	 * later session of that role into one tenant and would store the bearer
	 * token in a world-readable catalog.
	 */
	if (source != PGC_S_CLIENT && source != PGC_S_OVERRIDE &&
		source != PGC_S_INTERACTIVE && source != PGC_S_SESSION)
	{
		GUC_check_errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
		GUC_check_errmsg("invalid tenant token");
		GUC_check_errdetail("multitenant.token can only be set by the client for a session or transaction, not stored as a default.");
		return false;
	}

	/*
	 * A context entered by mt_enter_tenant() (mt.authenticate, mt.set_tenant)
	 * is not a bearer token: the value is accepted only while that call sets
	 * it, or when a parallel worker restores its leader's setting.  Copied
	 * into another session or a later SET it is refused, so nothing read
	 * from current_setting() outlives a revoked key or a suspended tenant.
	 */
	if (strncmp(tok, MT_INTERNAL_PREFIX, strlen(MT_INTERNAL_PREFIX)) == 0)
	{
		MtContext	internal;
		bool		pending = pending_internal != NULL && strcmp(tok, pending_internal) == 0;

		if (!pending && !in_worker)
			REJECT("This context value was set by mt.authenticate() or mt.set_tenant() and cannot be set directly.");
		/* the claims enter_internal() wrote are at hand: no need to read them back */
		if (pending && pending_internal_ctx != NULL)
			memcpy(&internal, pending_internal_ctx, sizeof(MtContext));
		else if (!parse_internal_value(tok, &internal))
			REJECT("The token is malformed.");
		if (!in_worker && !materializing && IsTransactionState() &&
			!status_allows(mt_tenant_status_cached(&internal.tenant), internal.maintenance))
			REJECT("The tenant is not active.");
		return context_extra(&internal, extra);
	}

	toklen = strlen(tok);
	if (toklen > MT_MAX_TOKEN_LEN)
		REJECT("The token is longer than %d bytes.", MT_MAX_TOKEN_LEN);

	/* verified before under the same keys and settings? */
	use_cache = !in_worker && token_stamp(&stamp);
	if (use_cache &&
		mt_token_cache_get(tok, toklen, &stamp, &vt, sizeof(vt), &cached_payload, &plen))
		return check_token_now(&vt, cached_payload, plen, in_worker, in_statement, extra);

	if (!verify_token(tok, toklen, in_worker, &vt, payload, &plen))
		return false;
	if (!check_token_now(&vt, payload, plen, in_worker, in_statement, extra))
		return false;
	if (use_cache && vt.cacheable)
		mt_token_cache_put(tok, toklen, &stamp, &vt, sizeof(vt), payload, plen);
	return true;
}

void
mt_assign_token(const char *newval, void *extra)
{
	active_context = (MtContext *) extra;
	/* a change of the setting replaces the transaction context */
	if (xact_ctx != NULL && xact_ctx->live && IsTransactionState())
		xact_context_replaced();
	/* materializing writes the very context in effect: nothing changed */
	if (materializing)
		return;
	context_checked = false;
	context_generation++;
}

/* ---------------------------------------------------------------------
 * multitenant.node_context: the context a Citus coordinator passes to the
 * workers of a distributed transaction (header comment; citus.c sends it)
 * --------------------------------------------------------------------- */

/*
 * HMAC-SHA256 of data with a node key derived from the first master for
 * one purpose (label): the node context, or a DDL approval
 */
#define MT_NODE_CONTEXT_LABEL	"multitenant node context v1"
#define MT_NODE_DDL_LABEL		"multitenant node ddl approval v1"

static void
node_mac(const char *label, const char *data, size_t len, uint8 *out)
{
	uint8		key[MT_SHA256_LEN];

	mt_derive_key(label, key);
	mt_hmac_sha256(key, sizeof(key), (const uint8 *) data, len, out);
	mt_wipe(key, sizeof(key));
}

/*
 * What both signed node values (multitenant.node_context and
 * multitenant.node_ddl_approval) check before their fields: kept out of the
 * statement text others read, set only by the extension (the coordinator's
 * connection SETs them), the prefix, and the HMAC under label of all before
 * the last '|'.  Returns where the fields start (after the prefix), with
 * *macpos at that last '|' and mac[MT_SHA256_LEN] its decoded MAC, or NULL
 * with the check hook's error set; what names the value in its message.
 */
static const char *
node_value_signed(const char *val, GucSource source, const char *guc, const char *prefix,
				  const char *label, const char *what, const char **macpos, uint8 *mac)
{
	uint8		expected[MT_SHA256_LEN];
	const char *detail;
	bool		ok;

	/* never in the statement text others can read (pg_stat_activity) */
	if (!InitializingParallelWorker)
		(void) mt_redact_statement(val);
	if (source != PGC_S_SESSION && source != PGC_S_OVERRIDE)
		detail = psprintf("%s is set only by multitenant on a Citus coordinator.", guc);
	else if (strncmp(val, prefix, strlen(prefix)) != 0 ||
			 (*macpos = strrchr(val, '|')) == NULL || strlen(*macpos + 1) != 2 * MT_SHA256_LEN ||
			 !mt_hex_decode(*macpos + 1, mac, MT_SHA256_LEN))
		detail = "The value is malformed.";
	else
	{
		node_mac(label, val, *macpos - val, expected);
		ok = mt_ct_equal(mac, expected, MT_SHA256_LEN);
		mt_wipe(expected, sizeof(expected));
		if (ok)
			return val + strlen(prefix);
		detail = "Its signature does not verify with this node's multitenant.secret.";
		GUC_check_errhint("Every node of a Citus cluster needs the same multitenant.secret file (doc/citus.md).");
	}
	GUC_check_errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
	GUC_check_errmsg("invalid %s from the Citus coordinator", what);
	GUC_check_errdetail("%s", detail);
	return NULL;
}

/* the gpid in this connection's startup application_name, or 0 */
static uint64
startup_citus_gpid(void)
{
	const char *app = MyProcPort ? MyProcPort->application_name : NULL;
	char	   *end;
	uint64		gpid;

	if (app == NULL || strncmp(app, MT_CITUS_APP_PREFIX, strlen(MT_CITUS_APP_PREFIX)) != 0)
		return 0;
	errno = 0;
	gpid = strtou64(app + strlen(MT_CITUS_APP_PREFIX), &end, 10);
	return (errno != 0 || *end != '\0') ? 0 : gpid;
}

#define REJECT_NODE(detail_fmt, ...) \
	do { \
		GUC_check_errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION); \
		GUC_check_errmsg("invalid tenant context from the Citus coordinator"); \
		GUC_check_errdetail(detail_fmt, ##__VA_ARGS__); \
		return false; \
	} while (0)

bool
mt_check_node_context(char **newval, void **extra, GucSource source)
{
	const char *val = *newval;
	const char *p;
	const char *bar;
	const char *macpos;
	uint8		mac[MT_SHA256_LEN];
	uint64		gpid;
	char	   *end;
	MtContext	parsed;
	bool		in_worker = InitializingParallelWorker;

	*extra = NULL;
	if (val == NULL || val[0] == '\0')
		return true;			/* no context passed */

	p = node_value_signed(val, source, "multitenant.node_context", MT_NODE_PREFIX MT_NODE_VERSION "|",
						  MT_NODE_CONTEXT_LABEL, "tenant context", &macpos, mac);
	if (p == NULL)
		return false;

	/* mt-node|1|<gpid>|<tenant>|<exp>|<hex sub>|<hex role>|<0/1>|<mac> */
	memset(&parsed, 0, sizeof(parsed));
	parsed.remote = true;
	errno = 0;
	gpid = strtou64(p, &end, 10);
	if (errno != 0 || *end != '|' || end == p)
		REJECT_NODE("The value is malformed.");
	p = end + 1;
	{
		char		uuidbuf[37];
		const char *b2,
				   *b3,
				   *b4,
				   *b5;

		bar = strchr(p, '|');
		if (bar == NULL || bar - p != 36)
			REJECT_NODE("The value is malformed.");
		memcpy(uuidbuf, p, 36);
		uuidbuf[36] = '\0';
		if (!mt_parse_uuid(uuidbuf, &parsed.tenant))
			REJECT_NODE("The value is malformed.");
		errno = 0;
		parsed.exp = strtoi64(bar + 1, &end, 10);
		if (errno != 0 || *end != '|')
			REJECT_NODE("The value is malformed.");
		b2 = end;
		b3 = strchr(b2 + 1, '|');
		b4 = b3 ? strchr(b3 + 1, '|') : NULL;
		b5 = b4 ? strchr(b4 + 1, '|') : NULL;
		if (b3 == NULL || b4 == NULL || b5 != macpos || b5 - b4 != 2 ||
			(b4[1] != '0' && b4[1] != '1') ||
			!parse_hex_claim(b2 + 1, b3, parsed.sub, sizeof(parsed.sub), &parsed.has_sub) ||
			!parse_hex_claim(b3 + 1, b4, parsed.role, sizeof(parsed.role), &parsed.has_role))
			REJECT_NODE("The value is malformed.");
		parsed.maintenance = (b4[1] == '1');
	}

	/* a parallel worker restores its leader's verified setting */
	if (!in_worker)
	{
		if (parsed.exp <= unix_seconds(GetCurrentTimestamp()))
			REJECT_NODE("The value has expired.");
		if (gpid == 0 || startup_citus_gpid() != gpid)
			REJECT_NODE("It is accepted only on a connection Citus opened for the coordinator session that set it.");

		/*
		 * Made on this node (Citus connects to the node it runs on, e.g. a
		 * coordinator with shards): the application_name proves nothing
		 * here, the session that made it must be passing it right now.
		 */
		if (!IsTransactionState())
			REJECT_NODE("The value is accepted only inside a transaction.");
		if ((!mt_citus_loaded() ||
			 gpid / MT_CITUS_GPID_NODE_MULTIPLIER == (uint64) mt_citus_local_node_id()) &&
			!passed_by_live_backend(gpid, mac))
			REJECT_NODE("It was made on this node, and the session that made it is not passing it now.");
	}

	return context_extra(&parsed, extra);
}

void
mt_assign_node_context(const char *newval, void *extra)
{
	node_context = (MtContext *) extra;
	context_checked = false;
	context_generation++;
}

/* changes whenever either context setting is assigned (citus.c) */
uint64
mt_context_generation(void)
{
	return context_generation;
}

/*
 * The value of multitenant.node_context that passes the current context
 * to the Citus workers of this transaction, for the session whose Citus
 * global pid is gpid; *exp_out is its expiry.  NULL when there is no
 * usable context, or when it was itself passed by a coordinator: a
 * worker does not pass it on (Citus runs what a worker executes for a
 * distributed transaction there, and a worker starting a coordinated
 * transaction of its own would break the coordinator's).
 */
char *
mt_node_context_value(uint64 gpid, int64 *exp_out)
{
	MtContext  *ctx = current_context();
	StringInfoData val;
	uint8		mac[MT_SHA256_LEN];
	int64		exp;

	if (ctx == NULL || ctx->remote)
		return NULL;
	exp = Min(ctx->exp, unix_seconds(GetCurrentTimestamp()) + MT_NODE_TTL);
	initStringInfo(&val);
	appendStringInfo(&val, MT_NODE_PREFIX MT_NODE_VERSION "|" UINT64_FORMAT "|%s|" INT64_FORMAT "|",
					 gpid, mt_uuid_to_cstring(&ctx->tenant), exp);
	append_hex_claim(&val, ctx->has_sub ? ctx->sub : NULL);
	appendStringInfoChar(&val, '|');
	append_hex_claim(&val, ctx->has_role ? ctx->role : NULL);
	appendStringInfo(&val, "|%c", ctx->maintenance ? '1' : '0');
	node_mac(MT_NODE_CONTEXT_LABEL, val.data, val.len, mac);
	appendStringInfoChar(&val, '|');
	for (int i = 0; i < MT_SHA256_LEN; i++)
		appendStringInfo(&val, "%02x", mac[i]);
	mt_wipe(mac, sizeof(mac));
	*exp_out = exp;
	return val.data;
}

/* ---------------------------------------------------------------------
 * multitenant.node_ddl_approval: a Citus coordinator's sanction of DDL that
 * weakens the generated isolation (mt.disable_isolation,
 * mt.enable_isolation's repair, a superuser's multitenant.allow_unsafe_ddl),
 * passed to the workers of its distributed transaction like the node
 * context (citus.c) and required by the workers' DDL guard (isolation.c)
 * for such DDL on the placements and worker copies of isolated tables.
 *
 * "mt-node|dd|<gpid>|<exp>|<nonce>|<hex HMAC of all before>": signed with
 * its own key derived from the shared master, valid for MT_NODE_TTL
 * seconds, accepted only on a connection whose startup application_name
 * names that gpid (as the node context).  Because application_name is a
 * client's choice and the value travels as statement text (redacted from
 * pg_stat_activity and the log, but kept verbatim by pg_stat_statements),
 * each node also keeps the approvals it has seen (SeenApprovals, shared
 * memory): the first backend that sets one owns it, and it is usable only
 * while that backend is still in the transaction in which it set it.  The
 * coordinator sends it to every connection of its distributed transaction
 * at once, so they are all in that transaction; a session that replays a
 * value it read somewhere, later, or a session-level SET used in a later
 * transaction, gets nothing.  A node remembers approvals from the moment
 * its shared memory was set up: an older approval is not usable there.
 * --------------------------------------------------------------------- */

#define MT_NODE_DDL_PREFIX	MT_NODE_PREFIX "dd|"

/* the approval in effect in this backend (GUC extra), or NULL */
typedef struct MtDdlApproval
{
	int64		exp;
	bool		usable;			/* this backend may use it (owner below) */
	int			owner;
	LocalTransactionId owner_lxid;
} MtDdlApproval;

static MtDdlApproval *ddl_approval = NULL;

#if PG_VERSION_NUM >= 170000
#define MY_BACKEND			MyProcNumber
#define MY_LXID				(MyProc->vxid.lxid)
#define BACKEND_PROC(b)		ProcNumberGetProc(b)
#define PROC_LXID(p)		((p)->vxid.lxid)
#else
#define MY_BACKEND			MyBackendId
#define MY_LXID				(MyProc->lxid)
#define BACKEND_PROC(b)		BackendIdGetProc(b)
#define PROC_LXID(p)		((p)->lxid)
#endif

/* is backend still in the transaction lxid? */
static bool
owner_in_transaction(int owner, LocalTransactionId lxid)
{
	PGPROC	   *proc;

	if (owner == MY_BACKEND)
		return MY_LXID == lxid;
	proc = BACKEND_PROC(owner);
	return proc != NULL && PROC_LXID(proc) == lxid;
}

/*
 * Register the approval nonce (expiring at exp) as set by this backend in
 * its current transaction, or find who set it first.  True when this
 * backend may use it: it is the first, or the first is still in the
 * transaction in which it set it.  *owner and *owner_lxid name the first.
 */
static bool
admit_approval(const uint8 *nonce, int64 exp, int64 now, int *owner,
			   LocalTransactionId *owner_lxid)
{
	int			j = 0;
	int			found = -1;

	if (approvals == NULL || exp - MT_NODE_TTL < approvals->since)
		return false;
	LWLockAcquire(approvals->lock, LW_EXCLUSIVE);
	for (int i = 0; i < approvals->n; i++)
	{
		if (approvals->entries[i].exp <= now)
			continue;			/* expired: useless anyway */
		approvals->entries[j] = approvals->entries[i];
		if (memcmp(approvals->entries[j].nonce, nonce, MT_NONCE_LEN) == 0)
			found = j;
		j++;
	}
	approvals->n = j;
	if (found < 0)
	{
		int			slot = approvals->n;

		if (exp <= approvals->floor)
		{
			LWLockRelease(approvals->lock);
			return false;		/* it may have been seen and forgotten */
		}
		if (slot == MT_APPROVALS_MAX)
		{
			/* full of live approvals: forget the one expiring first */
			slot = 0;
			for (int i = 1; i < approvals->n; i++)
				if (approvals->entries[i].exp < approvals->entries[slot].exp)
					slot = i;
			approvals->floor = Max(approvals->floor, approvals->entries[slot].exp);
		}
		else
			approvals->n++;
		memcpy(approvals->entries[slot].nonce, nonce, MT_NONCE_LEN);
		approvals->entries[slot].exp = exp;
		approvals->entries[slot].owner = MY_BACKEND;
		approvals->entries[slot].owner_lxid = MY_LXID;
		found = slot;
	}
	*owner = approvals->entries[found].owner;
	*owner_lxid = approvals->entries[found].owner_lxid;
	LWLockRelease(approvals->lock);
	return owner_in_transaction(*owner, *owner_lxid);
}

#define REJECT_APPROVAL(detail_fmt, ...) \
	do { \
		GUC_check_errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION); \
		GUC_check_errmsg("invalid DDL approval from the Citus coordinator"); \
		GUC_check_errdetail(detail_fmt, ##__VA_ARGS__); \
		return false; \
	} while (0)

bool
mt_check_node_ddl_approval(char **newval, void **extra, GucSource source)
{
	const char *val = *newval;
	const char *macpos;
	const char *p;
	char	   *end;
	uint8		mac[MT_SHA256_LEN];
	uint8		nonce[MT_NONCE_LEN];
	uint64		gpid;
	MtDdlApproval parsed;
	MtDdlApproval *a;
	bool		in_worker = InitializingParallelWorker;
	int64		now = unix_seconds(GetCurrentTimestamp());

	*extra = NULL;
	if (val == NULL || val[0] == '\0')
		return true;			/* no approval */

	p = node_value_signed(val, source, "multitenant.node_ddl_approval", MT_NODE_DDL_PREFIX,
						  MT_NODE_DDL_LABEL, "DDL approval", &macpos, mac);
	if (p == NULL)
		return false;

	/* mt-node|dd|<gpid>|<exp>|<nonce>|<mac> */
	memset(&parsed, 0, sizeof(parsed));
	errno = 0;
	gpid = strtou64(p, &end, 10);
	if (errno != 0 || *end != '|' || end == p)
		REJECT_APPROVAL("The value is malformed.");
	p = end + 1;
	errno = 0;
	parsed.exp = strtoi64(p, &end, 10);
	if (errno != 0 || *end != '|' || end == p || macpos - (end + 1) != 2 * MT_NONCE_LEN)
		REJECT_APPROVAL("The value is malformed.");
	{
		char		hex[2 * MT_NONCE_LEN + 1];

		memcpy(hex, end + 1, 2 * MT_NONCE_LEN);
		hex[2 * MT_NONCE_LEN] = '\0';
		if (!mt_hex_decode(hex, nonce, sizeof(nonce)))
			REJECT_APPROVAL("The value is malformed.");
	}

	/* a parallel worker restores the setting but never runs DDL */
	if (!in_worker)
	{
		if (gpid == 0 || startup_citus_gpid() != gpid)
			REJECT_APPROVAL("It is accepted only on a connection Citus opened for the coordinator session that made it.");
		/* made on this node: as for the node context, its session must be passing it */
		if ((!mt_citus_loaded() ||
			 gpid / MT_CITUS_GPID_NODE_MULTIPLIER == (uint64) mt_citus_local_node_id()) &&
			!passed_by_live_backend(gpid, mac))
			REJECT_APPROVAL("It was made on this node, and the session that made it is not passing it now.");

		/*
		 * An expired or already used approval is not an error here: Citus
		 * sends the SET LOCAL commands of a transaction again with the
		 * BEGIN of every connection it opens later in it.  It just approves
		 * nothing (mt_node_ddl_approved).
		 */
		parsed.usable = parsed.exp > now &&
			admit_approval(nonce, parsed.exp, now, &parsed.owner, &parsed.owner_lxid);
	}

	a = mt_guc_extra_alloc(sizeof(MtDdlApproval));
	if (a == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	memcpy(a, &parsed, sizeof(parsed));
	*extra = a;
	return true;
}

void
mt_assign_node_ddl_approval(const char *newval, void *extra)
{
	ddl_approval = (MtDdlApproval *) extra;
}

/*
 * Does a coordinator's approval sanction DDL that weakens isolation in
 * this transaction (header comment of this section)?
 */
bool
mt_node_ddl_approved(void)
{
	MtDdlApproval *a = ddl_approval;

	return a != NULL && a->usable &&
		a->exp > unix_seconds(GetCurrentTimestamp()) &&
		owner_in_transaction(a->owner, a->owner_lxid);
}

/*
 * A new approval for the workers of the distributed transaction of the
 * session whose Citus global pid is gpid (palloc'd).
 */
char *
mt_node_ddl_approval_value(uint64 gpid)
{
	StringInfoData val;
	uint8		nonce[MT_NONCE_LEN];
	uint8		mac[MT_SHA256_LEN];

	mt_random_bytes(nonce, sizeof(nonce));
	initStringInfo(&val);
	appendStringInfo(&val, MT_NODE_DDL_PREFIX UINT64_FORMAT "|" INT64_FORMAT "|",
					 gpid, unix_seconds(GetCurrentTimestamp()) + MT_NODE_TTL);
	for (int i = 0; i < MT_NONCE_LEN; i++)
		appendStringInfo(&val, "%02x", nonce[i]);
	node_mac(MT_NODE_DDL_LABEL, val.data, val.len, mac);
	appendStringInfoChar(&val, '|');
	for (int i = 0; i < MT_SHA256_LEN; i++)
		appendStringInfo(&val, "%02x", mac[i]);
	mt_wipe(mac, sizeof(mac));
	return val.data;
}

/*
 * The end of this backend's last transaction and the context generation
 * then: a context still in place at the next transaction start was held
 * idle in between (security_policy.c, session_idle_limit).
 */
static TimestampTz last_xact_end = 0;
static uint64 last_xact_end_generation = 0;

void
mt_context_xact_reset(void)
{
	if ((active_context != NULL || xact_context_live() != NULL) && !IsParallelWorker())
	{
		last_xact_end = GetCurrentTimestamp();
		last_xact_end_generation = context_generation;
	}
	else
		last_xact_end = 0;
	/* the transaction context ends with the transaction (its memory too) */
	if (xact_ctx != NULL)
	{
		xact_ctx = NULL;
		context_generation++;
	}
	context_checked = false;
	passed_clear();
}

/* an active tenant, or (maintenance context) one that still exists */
static inline bool
status_allows(MtTenantStatus status, bool maintenance)
{
	return status == MT_TENANT_ACTIVE ||
		(maintenance && (status == MT_TENANT_SUSPENDED || status == MT_TENANT_DELETED));
}

/*
 * The verified context, re-validated once per transaction (expiry against
 * the transaction start, tenant status), or NULL.
 */
static MtContext *
current_context(void)
{
	MtContext  *ctx = xact_context_live();

	if (ctx == NULL)
		ctx = active_context ? active_context : node_context;

	if (ctx == NULL)
		return NULL;
	if (!context_checked)
	{
		int64		now = unix_seconds(GetCurrentTransactionStartTimestamp());

		/*
		 * A context passed by the Citus coordinator: the coordinator checked
		 * the tenant's status for this transaction (this node has no
		 * registry); the value expires within minutes.
		 */
		if (ctx->remote)
			context_usable = ctx->exp > now;
		else
			context_usable = ctx->exp > now &&
				status_allows(mt_tenant_status_cached(&ctx->tenant),
							  ctx->maintenance) &&
				!token_burned(ctx, now) &&
				(ctx->key_version == 0 ||
				 mt_secret_usable(MT_SECRET_TOKEN, ctx->key_version)) &&
				!(ctx->policy_unchecked && mt_policy_has_token_rules(&ctx->tenant));

		/* a session context held idle longer than the tenant allows: dropped */
		if (context_usable && !ctx->idle_expired && ctx == active_context &&
			!ctx->remote && !ctx->maintenance &&
			last_xact_end != 0 && last_xact_end_generation == context_generation &&
			!IsParallelWorker())
		{
			int64		idle = unix_seconds(GetCurrentTransactionStartTimestamp()) -
				unix_seconds(last_xact_end);

			if (mt_policy_check_idle(&ctx->tenant, idle) != NULL)
				ctx->idle_expired = true;
		}
		context_usable = context_usable && !ctx->idle_expired;
		/* a move of the tenant holds it (move_gate.c): one atomic read */
		if (context_usable && !ctx->remote && !IsParallelWorker())
			mt_move_gate_check(&ctx->tenant);
		context_checked = true;
	}
	return context_usable ? ctx : NULL;
}

/*
 * The tenant the caller acts as (mt.audit, mt.track, GDPR requests,
 * consents ...), or NULL.  A maintenance context is not one: while
 * retention cleans a tenant's rows, the table owner's triggers and
 * policies run inside it, and must not act as that tenant (which may be
 * suspended or deleted, and need never have touched the owner's table).
 */
const pg_uuid_t *
mt_context_tenant(void)
{
	MtContext  *ctx = current_context();

	return ctx && !ctx->maintenance && !ctx->remote ? &ctx->tenant : NULL;
}

/*
 * The tenant the context was entered for, not validated (no status check,
 * nothing remembered for the transaction), or NULL; NULL too for a
 * maintenance or a remote context.  Only for checks that refuse (fail
 * closed) whether or not the context is still usable: isolation.c keeps a
 * tenant placed elsewhere out of the shared tables with it, on every
 * statement, without validating the context earlier than its first use
 * would (a context ends in the transaction that suspends its tenant only
 * if nothing validated it before).
 */
const pg_uuid_t *
mt_context_claimed_tenant(void)
{
	MtContext  *ctx = xact_context_live();

	if (ctx == NULL)
		ctx = active_context ? active_context : node_context;

	return ctx && !ctx->maintenance && !ctx->remote ? &ctx->tenant : NULL;
}

/*
 * The tenant whose rows the current statement may see and write:
 * mt_context_tenant(), or the tenant of a maintenance context.  Serves
 * mt.current_tenant() (the generated policies and column defaults) and
 * the audit row trigger (retention's deletes are recorded in the rows'
 * chain), nothing that acts as the tenant.
 */
const pg_uuid_t *
mt_context_row_tenant(void)
{
	MtContext  *ctx = current_context();

	return ctx ? &ctx->tenant : NULL;
}

/*
 * Whether a trigger is running (PostgreSQL's pg_trigger_depth() > 0).
 * Only asked in a maintenance context, never on the hot path.
 */
static bool
in_trigger(void)
{
	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	return DatumGetInt32(pg_trigger_depth(fcinfo)) > 0;
}

/*
 * Mints an HS256 token for a tenant; the caller checks privileges.  With
 * claims_out, also returns the claims as the check hook would parse them.
 */
static void
check_claim_lengths(const char *sub, const char *role)
{
	if (sub != NULL && strlen(sub) > MT_MAX_SUB_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token subject is longer than %d bytes", MT_MAX_SUB_LEN)));
	if (role != NULL && strlen(role) > MT_MAX_ROLE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token role is longer than %d bytes", MT_MAX_ROLE_LEN)));
}

/* whether sub is of the API keys' subject namespace (key:<id>) */
static bool
key_subject(const char *sub)
{
	return sub != NULL && strncmp(sub, MT_KEY_SUBJECT_PREFIX, strlen(MT_KEY_SUBJECT_PREFIX)) == 0;
}

/*
 * 22023 for a subject key:<id> given to fn: subjects of that form are API
 * keys, which only mt.authenticate() enters (authz.c gives such a subject
 * the roles assigned to the key).
 */
static void
refuse_key_subject(const char *sub, const char *fn)
{
	if (key_subject(sub))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a subject given to %s cannot start with \"%s\"", fn, MT_KEY_SUBJECT_PREFIX),
				 errdetail("Subjects of that form are API keys; only mt.authenticate() enters them.")));
}

static void
append_hex_claim(StringInfo buf, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; s != NULL && *s; s++)
	{
		appendStringInfoCharMacro(buf, hex[(unsigned char) *s >> 4]);
		appendStringInfoCharMacro(buf, hex[(unsigned char) *s & 0x0f]);
	}
}

/* the hex form append_hex_claim() wrote, into out (size outlen); NULL claim if empty */
static bool
parse_hex_claim(const char *start, const char *end, char *out, size_t outlen, bool *present)
{
	size_t		n = (end - start) / 2;
	uint8		bytes[MT_MAX_SUB_LEN + 1];

	if ((end - start) % 2 != 0 || n >= outlen || n > MT_MAX_SUB_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		int			hi = mt_hex_value(start[2 * i]);
		int			lo = mt_hex_value(start[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		bytes[i] = (uint8) (hi << 4 | lo);
	}
	memcpy(out, bytes, n);
	out[n] = '\0';
	*present = n > 0;
	return true;
}

/* mt.set_tenant() is the back office; mt.authenticate() (subject key:<id>) is not */
static bool
internal_backoffice(const MtContext *ctx)
{
	return !ctx->maintenance && !(ctx->has_sub && key_subject(ctx->sub));
}

/* parses "mt-internal|<tenant>|<exp>|<hex sub>|<hex role>[|w<workspace>][|m]" */
static bool
parse_internal_value(const char *val, MtContext *out)
{
	const char *p = val + strlen(MT_INTERNAL_PREFIX);
	const char *bar1 = strchr(p, '|');
	const char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
	const char *bar3 = bar2 ? strchr(bar2 + 1, '|') : NULL;
	const char *bar4 = bar3 ? strchr(bar3 + 1, '|') : NULL;
	char		uuidbuf[37];
	char	   *end;

	memset(out, 0, sizeof(MtContext));
	if (bar1 == NULL || bar2 == NULL || bar3 == NULL || bar1 - p != 36)
		return false;
	memcpy(uuidbuf, p, 36);
	uuidbuf[36] = '\0';
	if (!mt_parse_uuid(uuidbuf, &out->tenant))
		return false;
	errno = 0;
	out->exp = strtoi64(bar1 + 1, &end, 10);
	if (errno != 0 || end != bar2)
		return false;
	if (bar4 != NULL && bar4[1] == 'w')
	{
		const char *next = strchr(bar4 + 1, '|');

		if (strlen(bar4 + 2) < 36 || (next != NULL && next - (bar4 + 2) != 36) ||
			(next == NULL && strlen(bar4 + 2) != 36))
			return false;
		memcpy(uuidbuf, bar4 + 2, 36);
		if (!mt_parse_uuid(uuidbuf, &out->wid))
			return false;
		out->has_wid = true;
		if (next != NULL && strcmp(next, "|m") != 0)
			return false;
		out->maintenance = next != NULL;
	}
	else if (bar4 != NULL)
	{
		if (strcmp(bar4, "|m") != 0)
			return false;
		out->maintenance = true;
	}
	if (!parse_hex_claim(bar2 + 1, bar3, out->sub, sizeof(out->sub), &out->has_sub) ||
		!parse_hex_claim(bar3 + 1, bar4 ? bar4 : bar3 + 1 + strlen(bar3 + 1),
						 out->role, sizeof(out->role), &out->has_role))
		return false;
	out->backoffice = internal_backoffice(out);
	return true;
}

/* 55000: no version of the server's token key can sign (mint_token) */
static void
token_key_missing(const MtSecretVersion *active)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("no usable token signing key"),
			 errdetail(active == NULL ? "Every version of the token key is retired." :
					   "The secret file lacks the master secret of the active token key version."),
			 errhint("See mt.secret_fingerprints() and doc/operations.md, \"Rotating secrets\".")));
}

/*
 * The server's token key id "mt<version>.<master fingerprint>" (the
 * tokens minted after a rotation carry it); false for anything else.
 */
static bool
parse_kid(const char *kid, int *version, char *master)
{
	const char *p = kid;
	int64		v = 0;

	if (strncmp(p, "mt", 2) != 0)
		return false;
	p += 2;
	if (*p < '1' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9' && v <= 1000000)
		v = v * 10 + (*p++ - '0');
	if (v > 1000000 || *p++ != '.' || strlen(p) != MT_MASTER_FP_LEN)
		return false;
	for (int i = 0; i < MT_MASTER_FP_LEN; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	memcpy(master, p, MT_MASTER_FP_LEN + 1);
	*version = (int) v;
	return true;
}

static char *
mint_token(const pg_uuid_t *tenant, int64 ttl_seconds,
		   const char *sub, const char *role, const pg_uuid_t *wid)
{
	StringInfoData claims;
	StringInfoData tok;
	char	   *payload64;
	uint8		mac[MT_SHA256_LEN];
	int64		now = unix_seconds(GetCurrentTimestamp());
	const char *dbname = session_database_name();
	const MtSecretVersion *active = mt_secret_active(MT_SECRET_TOKEN);

	check_claim_lengths(sub, role);
	refuse_key_subject(sub, "mt.tenant_token()");
	if (active == NULL && (mt_jwt_secret == NULL || mt_jwt_secret[0] == '\0'))
		token_key_missing(NULL);

	initStringInfo(&claims);
	appendStringInfo(&claims, "{\"tid\":\"%s\",\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT,
					 mt_uuid_to_cstring(tenant), now, now + ttl_seconds);
	if (dbname != NULL)
	{
		appendStringInfoString(&claims, ",\"aud\":");
		escape_json(&claims, dbname);
	}
	if (sub != NULL)
	{
		appendStringInfoString(&claims, ",\"sub\":");
		escape_json(&claims, sub);
	}
	if (role != NULL)
	{
		appendStringInfoString(&claims, ",\"role\":");
		escape_json(&claims, role);
	}
	if (wid != NULL)
		appendStringInfo(&claims, ",\"wid\":\"%s\"", mt_uuid_to_cstring(wid));
	appendStringInfoString(&claims, ",\"mt_trust\":\"" MT_TRUST_BACKOFFICE "\"}");
	payload64 = mt_base64url_encode((const uint8 *) claims.data, claims.len);

	initStringInfo(&tok);
	if ((mt_jwt_secret != NULL && mt_jwt_secret[0] != '\0') ||
		(active->version == 1 && strcmp(active->master, mt_master_fingerprint(0)) == 0))
	{
		/* base64url of {"alg":"HS256","typ":"JWT"} */
		appendStringInfo(&tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.%s", payload64);
		mt_token_hmac((const uint8 *) tok.data, tok.len, mac);
	}
	else
	{
		char	   *header = psprintf("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"mt%d.%s\"}",
									  active->version, active->master);

		appendStringInfo(&tok, "%s.%s",
						 mt_base64url_encode((const uint8 *) header, strlen(header)), payload64);
		if (!mt_secret_hmac(MT_SECRET_TOKEN, active->version, active->master,
							(const uint8 *) tok.data, tok.len, mac))
			token_key_missing(active);
	}
	appendStringInfo(&tok, ".%s", mt_base64url_encode(mac, sizeof(mac)));
	mt_wipe(mac, sizeof(mac));

	return tok.data;
}

char *
mt_mint_token(const pg_uuid_t *tenant, int64 ttl_seconds,
			  const char *sub, const char *role)
{
	return mint_token(tenant, ttl_seconds, sub, role, NULL);
}

/* "mt-internal|<tenant>|<exp>|<hex sub>|<hex role>[|w<workspace>][|m]" of claims */
static char *
internal_value(const MtContext *ctx)
{
	StringInfoData val;
	char		num[MAXINT8LEN + 1];
	char		uuid[UUID_LEN * 2 + 5];

	/* mt.authenticate() enters a tenant per call: no printf here */
	initStringInfo(&val);
	appendBinaryStringInfo(&val, MT_INTERNAL_PREFIX, strlen(MT_INTERNAL_PREFIX));
	mt_uuid_format(&ctx->tenant, uuid);
	appendBinaryStringInfo(&val, uuid, UUID_LEN * 2 + 4);
	appendStringInfoCharMacro(&val, '|');
	appendBinaryStringInfo(&val, num, pg_lltoa(ctx->exp, num));
	appendStringInfoCharMacro(&val, '|');
	append_hex_claim(&val, ctx->has_sub ? ctx->sub : NULL);
	appendStringInfoCharMacro(&val, '|');
	append_hex_claim(&val, ctx->has_role ? ctx->role : NULL);
	if (ctx->has_wid)
	{
		appendBinaryStringInfo(&val, "|w", 2);
		mt_uuid_format(&ctx->wid, uuid);
		appendBinaryStringInfo(&val, uuid, UUID_LEN * 2 + 4);
	}
	if (ctx->maintenance)
		appendStringInfoString(&val, "|m");
#ifdef USE_ASSERT_CHECKING
	{
		MtContext	parsed;
		MtContext	want = *ctx;

		want.entry_id = 0;
		Assert(parse_internal_value(val.data, &parsed) &&
			   memcmp(&parsed, &want, sizeof(MtContext)) == 0);
	}
#endif
	return val.data;
}

/* SET (LOCAL) multitenant.token to the internal value of ctx (the check hook takes ctx) */
static void
set_internal(const MtContext *ctx, bool is_local)
{
	char	   *val = internal_value(ctx);

	pending_internal = val;
	pending_internal_ctx = ctx;
	PG_TRY();
	{
		(void) set_config_option("multitenant.token", val,
								 PGC_USERSET, PGC_S_SESSION,
								 is_local ? GUC_ACTION_LOCAL : GUC_ACTION_SET,
								 true, ERROR, false);
	}
	PG_FINALLY();
	{
		pending_internal = NULL;
		pending_internal_ctx = NULL;
	}
	PG_END_TRY();
	pfree(val);
}

/* an abort of a subtransaction drops its entries; a commit hands them to the parent */
static void
xact_context_subxact(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (xact_ctx == NULL)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		XactContext *was = xact_ctx;

		while (xact_ctx != NULL && xact_ctx->level >= level)
			xact_ctx = xact_ctx->prev;
		if (xact_ctx != was)
		{
			context_checked = false;
			context_generation++;
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (XactContext *x = xact_ctx; x != NULL && x->level >= level; x = x->prev)
			x->level = level - 1;
	}
}

/* a new entry at the current level (the top one is reused if it is of this level) */
static XactContext *
xact_context_push(bool live)
{
	int			level = GetCurrentTransactionNestLevel();
	XactContext *x;

	if (xact_ctx != NULL && xact_ctx->level == level)
		x = xact_ctx;
	else
	{
		x = MemoryContextAlloc(TopTransactionContext, sizeof(XactContext));
		x->prev = xact_ctx;
		x->level = level;
	}
	x->live = live;
	x->value = NULL;
	xact_ctx = x;
	return x;
}

/* multitenant.token changed in this transaction: the entry in effect is replaced */
static void
xact_context_replaced(void)
{
	XactContext *top = xact_ctx;

	if (top->level == GetCurrentTransactionNestLevel())
		top->live = false;		/* its level ends as the change's does */
	else
		(void) xact_context_push(false);
}

/*
 * Whether the GUC nest level is the transaction's own: not inside a
 * function with SET clauses or another nest level (an owner scope), whose
 * end may roll back what was set in it.  The level is not exported: open
 * one and close it at once (nothing set in it; when no setting changed in
 * the transaction this costs a few instructions).
 */
static bool
guc_level_is_transactions(void)
{
	int			nest = NewGUCNestLevel();

	AtEOXact_GUC(true, nest);
	return nest - 1 == GetCurrentTransactionNestLevel();
}

/*
 * Enter a context: the claims, as the check hook of multitenant.token
 * would have them.  is_local: for this transaction (the transaction
 * context above where it can be used, else SET LOCAL), else SET.
 */
static void
enter_internal(const pg_uuid_t *tenant, int64 ttl_seconds,
			   const char *sub, const char *role, const pg_uuid_t *wid,
			   bool is_local, bool maintenance)
{
	MtContext	ctx;

	check_claim_lengths(sub, role);

	/* the same claims as parse_internal_value() reads from the value */
	memset(&ctx, 0, sizeof(ctx));
	memcpy(&ctx.tenant, tenant, sizeof(pg_uuid_t));
	ctx.exp = unix_seconds(GetCurrentTimestamp()) + ttl_seconds;
	ctx.has_sub = sub != NULL && sub[0] != '\0';
	if (ctx.has_sub)
		strlcpy(ctx.sub, sub, sizeof(ctx.sub));
	ctx.has_role = role != NULL && role[0] != '\0';
	if (ctx.has_role)
		strlcpy(ctx.role, role, sizeof(ctx.role));
	if (wid != NULL)
	{
		memcpy(&ctx.wid, wid, sizeof(pg_uuid_t));
		ctx.has_wid = true;
	}
	ctx.maintenance = maintenance;
	ctx.backoffice = internal_backoffice(&ctx);
	ctx.entry_id = ++entry_counter;

	if (is_local && !maintenance && IsTransactionState() && !IsInParallelMode() &&
		guc_level_is_transactions())
	{
		XactContext *x;

		/* what the check hook checks of an internal value it is handed */
		if (!status_allows(mt_tenant_status_cached(&ctx.tenant), false))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("invalid tenant token"),
					 errdetail("The tenant is not active.")));
		if (!xact_ctx_callback)
		{
			RegisterSubXactCallback(xact_context_subxact, NULL);
			xact_ctx_callback = true;
		}
		x = xact_context_push(true);
		x->ctx = ctx;
		/* as the assign hook does */
		context_checked = false;
		context_generation++;
		return;
	}
	set_internal(&ctx, is_local);
}

/*
 * Writes the transaction context into multitenant.token (SET LOCAL at the
 * current nest level), where the setting itself is needed (see above).
 * Nothing when there is none or the setting cannot change now.
 */
void
mt_context_materialize(void)
{
	MtContext	ctx;

	if (xact_context_live() == NULL || IsInParallelMode() || !IsTransactionState())
		return;
	ctx = xact_ctx->ctx;
	materializing = true;
	PG_TRY();
	{
		set_internal(&ctx, true);
	}
	PG_FINALLY();
	{
		materializing = false;
	}
	PG_END_TRY();
}

/* RESET ALL and DISCARD skip a setting at its default: materialize first */
void
mt_context_utility(Node *stmt)
{
	if (xact_ctx == NULL || stmt == NULL)
		return;
	if ((IsA(stmt, VariableSetStmt) && ((VariableSetStmt *) stmt)->kind == VAR_RESET_ALL) ||
		(IsA(stmt, DiscardStmt) && ((DiscardStmt *) stmt)->target == DISCARD_ALL))
		mt_context_materialize();
}

/*
 * The setting as it reads: the transaction context's internal value, or
 * multitenant.token.  Show hook of multitenant.token (SHOW,
 * current_setting, pg_settings) and the MFA marker's (mfa.c).
 */
const char *
mt_context_setting(void)
{
	if (xact_context_live() != NULL)
	{
		if (xact_ctx->value == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			xact_ctx->value = internal_value(&xact_ctx->ctx);
			MemoryContextSwitchTo(old);
		}
		return xact_ctx->value;
	}
	return mt_token_string != NULL ? mt_token_string : "";
}

const char *
mt_show_token(void)
{
	return mt_context_setting();
}

/*
 * The number enter_internal() gave the context in effect (0: none, or a
 * context it did not enter): mt.authenticate's scopes hold while it is the
 * same (api_keys.c).  mt_context_entered_id(): the number of the last
 * context entered, right after mt_enter_tenant() returned (not validated:
 * the first use of the context in the transaction does that).
 */
uint64
mt_context_entered_id(void)
{
	return entry_counter;
}

uint64
mt_context_entry_id(void)
{
	MtContext  *ctx = current_context();

	return ctx != NULL ? ctx->entry_id : 0;
}

void
mt_enter_tenant(const pg_uuid_t *tenant, int64 ttl_seconds,
				const char *sub, const char *role, bool is_local)
{
	enter_internal(tenant, ttl_seconds, sub, role, NULL, is_local, false);
}

/*
 * The tenant's context for the extension's own maintenance of its rows
 * (retention), SET LOCAL: unlike mt_enter_tenant() it also holds while the
 * tenant is suspended or deleted.  Only C code sets it, like every internal
 * value.
 */
void
mt_enter_tenant_maintenance(const pg_uuid_t *tenant)
{
	enter_internal(tenant, mt_default_token_ttl, NULL, NULL, NULL, true, true);
}

static int64
ttl_seconds_from_interval(Interval *ttl)
{
	double		secs;

	secs = (double) ttl->time / USECS_PER_SEC +
		(double) ttl->day * SECS_PER_DAY +
		(double) ttl->month * DAYS_PER_MONTH * SECS_PER_DAY;
	if (!(secs >= 1) || secs > mt_token_max_ttl)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token lifetime must be between 1 second and multitenant.token_max_ttl (%d s)",
						mt_token_max_ttl)));
	return (int64) secs;
}

static text *
optional_text_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : PG_GETARG_TEXT_PP(argno);
}

/* ---------------------------------------------------------------------
 * SQL functions
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_current_tenant);
Datum
mt_current_tenant(PG_FUNCTION_ARGS)
{
	MtContext  *ctx = current_context();
	pg_uuid_t  *res;

	/*
	 * A maintenance context (retention) confines the extension's own
	 * statement on the table; the table owner's triggers that statement
	 * fires see no tenant, so they cannot read other tenants' rows of any
	 * table (the extension's included) through it.
	 */
	if (ctx == NULL || (ctx->maintenance && in_trigger()))
		PG_RETURN_NULL();
	res = palloc(sizeof(pg_uuid_t));
	memcpy(res, &ctx->tenant, sizeof(pg_uuid_t));
	PG_RETURN_UUID_P(res);
}

/* The verified tenant, or 42501 when there is none (every caller's check). */
const pg_uuid_t *
mt_require_context_tenant(void)
{
	const pg_uuid_t *t = mt_context_tenant();
	MtContext  *ctx;

	/* a Citus worker confines rows for the coordinator's tenant, no more */
	if (t == NULL && (ctx = current_context()) != NULL && ctx->remote)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("tenant actions cannot run on a Citus worker"),
				 errdetail("This call runs on a worker node inside a query distributed by the coordinator; metering, audit and GDPR functions act for a tenant only on the node the client is connected to."),
				 errhint("Call the function at the top level of a statement on the coordinator, not inside a query on a distributed table.")));
	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("no tenant context is set"),
				 errhint("Enter a tenant with set_config('multitenant.token', $1, true), the token bound as a parameter, or call mt.authenticate() or mt.set_tenant().")));
	return t;
}

PG_FUNCTION_INFO_V1(mt_require_tenant);
Datum
mt_require_tenant(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *t = mt_require_context_tenant();
	pg_uuid_t  *res;

	res = palloc(sizeof(pg_uuid_t));
	memcpy(res, t, sizeof(pg_uuid_t));
	PG_RETURN_UUID_P(res);
}

char *
mt_context_subject(void)
{
	MtContext  *ctx = current_context();

	if (ctx == NULL || !ctx->has_sub)
		return NULL;
	return pstrdup(ctx->sub);
}

PG_FUNCTION_INFO_V1(mt_current_subject);
Datum
mt_current_subject(PG_FUNCTION_ARGS)
{
	char	   *sub = mt_context_subject();

	if (sub == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(sub));
}

PG_FUNCTION_INFO_V1(mt_current_tenant_role);
Datum
mt_current_tenant_role(PG_FUNCTION_ARGS)
{
	MtContext  *ctx = current_context();

	if (ctx == NULL || !ctx->has_role)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ctx->role));
}

PG_FUNCTION_INFO_V1(mt_tenant_token);
Datum
mt_tenant_token(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	int64		ttl;
	text	   *sub = optional_text_arg(fcinfo, 2);
	text	   *role = optional_text_arg(fcinfo, 3);

	mt_require_args(fcinfo, 2, "tenant and ttl");
	tenant = PG_GETARG_UUID_P(0);
	ttl = ttl_seconds_from_interval(PG_GETARG_INTERVAL_P(1));
	mt_require_active_tenant(tenant);
	PG_RETURN_TEXT_P(cstring_to_text(mt_mint_token(tenant, ttl,
												   sub ? text_to_cstring(sub) : NULL,
												   role ? text_to_cstring(role) : NULL)));
}

PG_FUNCTION_INFO_V1(mt_set_tenant);
Datum
mt_set_tenant(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	bool		is_local = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);

	mt_require_args(fcinfo, 1, "tenant");
	tenant = PG_GETARG_UUID_P(0);
	mt_require_active_tenant(tenant);
	mt_enter_tenant(tenant, mt_default_token_ttl, NULL, NULL, is_local);
	PG_RETURN_UUID_P(tenant);
}

/*
 * The claims of the verified context for authorization (authz.c), or
 * false when there is none.  The strings point into the context, valid
 * until the next change of multitenant.token: copy them.
 */
bool
mt_context_claims(MtContextClaims *out)
{
	MtContext  *ctx = current_context();

	memset(out, 0, sizeof(*out));
	if (ctx == NULL || ctx->maintenance || ctx->remote)
		return false;
	out->tenant = &ctx->tenant;
	out->sub = ctx->has_sub ? ctx->sub : NULL;
	out->role = ctx->has_role ? ctx->role : NULL;
	out->wid = ctx->has_wid ? &ctx->wid : NULL;
	out->backoffice = ctx->backoffice;
	out->bearer = ctx->has_fp;
	return true;
}

/*
 * mt.set_tenant_subject(tenant, sub, role, workspace, is_local): the back
 * office enters a tenant as a subject, with a role (trusted:
 * doc/authorization.md) and a workspace; otherwise as mt.set_tenant.
 */
PG_FUNCTION_INFO_V1(mt_set_tenant_as);
Datum
mt_set_tenant_as(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	text	   *sub = optional_text_arg(fcinfo, 1);
	text	   *role = optional_text_arg(fcinfo, 2);
	pg_uuid_t  *wid = PG_ARGISNULL(3) ? NULL : PG_GETARG_UUID_P(3);
	bool		is_local = PG_ARGISNULL(4) ? true : PG_GETARG_BOOL(4);
	char	   *subs = sub ? text_to_cstring(sub) : NULL;

	mt_require_args(fcinfo, 1, "tenant");
	tenant = PG_GETARG_UUID_P(0);
	mt_require_active_tenant(tenant);
	refuse_key_subject(subs, "mt.set_tenant_subject()");
	enter_internal(tenant, mt_default_token_ttl, subs,
				   role ? text_to_cstring(role) : NULL, wid, is_local, false);
	PG_RETURN_UUID_P(tenant);
}
