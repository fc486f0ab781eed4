/*-------------------------------------------------------------------------
 *
 * mfa.c
 *	  The MFA marker of the current context: set when a second factor of
 *	  the context's own subject passes (mt.totp_verify, totp.c), valid
 *	  while the context (mt_context_generation) is the one it was set in,
 *	  dropped when the transaction that set it aborts.  Read by
 *	  mt.current_mfa() (totp.c) and by mt.has_permission() /
 *	  mt.require_permission() for the permissions of a tenant's security
 *	  policy rule mfa_required_for (authz.c).  It sits below both so that
 *	  authorization need not depend on the TOTP module.
 *
 * Parallel workers: the marker is backend-local, so the leader passes it
 * the way every setting reaches a worker: the internal setting
 * multitenant.mfa_marker, "<tenant>:<hash of multitenant.token>:<subject>"
 * or "", set LOCAL by the leader at the ExecutorStart of every statement
 * whose plan needs parallel mode (mt_mfa_executor_start, from
 * multitenant.c; before parallel mode begins) to what the marker is at
 * that moment, when that differs from the setting (nothing to do, and no
 * cost beyond one test, while this backend never passed a second factor).
 * A worker (which restores the leader's settings) counts the second factor
 * only when the value names its restored context's tenant and subject and
 * the hash of its restored token.  Only this file sets a non-empty value
 * (the check hook refuses every other source, 42501); clearing it (anyone
 * may) only withholds the factor from workers until the next statement.
 * So the workers of a parallel query answer as the leader does at its
 * start.
 *
 * No lock or shared state: everything here is per backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "context.h"
#include "mfa.h"
#include "util.h"

#define MFA_SUBJECT_MAX 255
#define MFA_VALUE_MAX (36 + 1 + 16 + 1 + MFA_SUBJECT_MAX)

/* GUC multitenant.mfa_marker (internal: the leader's marker for its workers) */
char	   *mt_mfa_marker_string = NULL;
static bool mfa_publishing = false;
static char mfa_value[MFA_VALUE_MAX + 1];

/* a parallel worker's answer, for its context generation */
static bool worker_known = false;
static uint64 worker_generation;
static bool worker_answer;

static bool mfa_set = false;
static bool mfa_this_xact = false;
static uint64 mfa_generation;
static pg_uuid_t mfa_tenant;
static char mfa_subject[MFA_SUBJECT_MAX + 1];

void
mt_mfa_xact_callback(int event)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		if (mfa_this_xact)
			mfa_set = false;
		mfa_this_xact = false;
	}
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
			 event == XACT_EVENT_PREPARE)
		mfa_this_xact = false;
}

/* "<tenant>:<hash of the token setting>:<subject>" of a context */
static void
marker_value(char *out, size_t outlen, const pg_uuid_t *tenant, const char *subject)
{
	const char *tok = mt_context_setting();	/* the transaction context's too */
	uint64		h = tok == NULL ? 0 :
		hash_bytes_extended((const unsigned char *) tok, strlen(tok), 0x6d6661);

	snprintf(out, outlen, "%s:%016llx:%s", mt_uuid_to_cstring(tenant),
			 (unsigned long long) h, subject);
}

bool
mt_check_mfa_marker(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || mfa_publishing ||
		InitializingParallelWorker)
		return true;
	GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
	GUC_check_errdetail("multitenant.mfa_marker is set only by multitenant (a second factor passed, mt.totp_verify()).");
	return false;
}

/* the leader: the setting its workers restore (value, or "") */
static void
publish(const char *value)
{
	if (IsInParallelMode() || !IsTransactionState() ||
		strcmp(mt_mfa_marker_string != NULL ? mt_mfa_marker_string : "", value) == 0)
		return;
	mfa_publishing = true;
	PG_TRY();
	{
		(void) set_config_option("multitenant.mfa_marker", value, PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	}
	PG_FINALLY();
	{
		mfa_publishing = false;
	}
	PG_END_TRY();
}

/* a parallel worker: does the leader's marker name this (restored) context? */
static bool
worker_current(void)
{
	const pg_uuid_t *ct;
	char	   *cs;
	char		want[MFA_VALUE_MAX + 1];

	if (worker_known && worker_generation == mt_context_generation())
		return worker_answer;
	worker_answer = false;
	ct = mt_context_tenant();
	cs = mt_context_subject();
	if (mt_mfa_marker_string != NULL && mt_mfa_marker_string[0] != '\0' &&
		ct != NULL && cs != NULL && strlen(cs) <= MFA_SUBJECT_MAX)
	{
		marker_value(want, sizeof(want), ct, cs);
		worker_answer = strcmp(want, mt_mfa_marker_string) == 0;
	}
	worker_generation = mt_context_generation();
	worker_known = true;
	return worker_answer;
}

void
mt_mfa_mark(const pg_uuid_t *tenant, const char *subject)
{
	const pg_uuid_t *ct = mt_context_tenant();
	char	   *cs = mt_context_subject();

	if (ct == NULL || cs == NULL || memcmp(ct, tenant, sizeof(pg_uuid_t)) != 0 ||
		strcmp(cs, subject) != 0 || strlen(subject) > MFA_SUBJECT_MAX)
		return;
	mfa_generation = mt_context_generation();
	memcpy(&mfa_tenant, tenant, sizeof(pg_uuid_t));
	strlcpy(mfa_subject, subject, sizeof(mfa_subject));
	marker_value(mfa_value, sizeof(mfa_value), tenant, subject);
	mfa_set = true;
	mfa_this_xact = true;
}

/* the marker of this backend's own context (not a worker's) */
static bool
leader_current(void)
{
	const pg_uuid_t *ct;
	char	   *cs;

	if (!mfa_set || mfa_generation != mt_context_generation())
		return false;
	ct = mt_context_tenant();
	cs = mt_context_subject();
	return ct != NULL && cs != NULL &&
		memcmp(ct, &mfa_tenant, sizeof(pg_uuid_t)) == 0 && strcmp(cs, mfa_subject) == 0;
}

bool
mt_mfa_current(void)
{
	if (IsParallelWorker())
		return worker_current();
	return leader_current();
}

void
mt_mfa_executor_start(bool parallel_mode_needed)
{
	if (!parallel_mode_needed || IsParallelWorker() ||
		(!mfa_set && (mt_mfa_marker_string == NULL || mt_mfa_marker_string[0] == '\0')))
		return;
	publish(leader_current() ? mfa_value : "");
}
