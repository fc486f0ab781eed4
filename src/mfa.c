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
 * Parallel workers: the marker is backend-local, so a worker has none of
 * its own; authz.c answers an MFA-protected permission in a worker from
 * what the leader passed (see there).
 *
 * No lock or shared state: everything here is per backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "context.h"
#include "mfa.h"

#define MFA_SUBJECT_MAX 255

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
	mfa_set = true;
	mfa_this_xact = true;
}

bool
mt_mfa_current(void)
{
	const pg_uuid_t *ct;
	char	   *cs;

	if (!mfa_set || mfa_generation != mt_context_generation())
		return false;
	ct = mt_context_tenant();
	cs = mt_context_subject();
	return ct != NULL && cs != NULL &&
		memcmp(ct, &mfa_tenant, sizeof(pg_uuid_t)) == 0 &&
		strcmp(cs, mfa_subject) == 0;
}
