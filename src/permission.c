/*-------------------------------------------------------------------------
 *
 * permission.c
 *	  The permission grammar shared by authorization (authz.c: roles,
 *	  mt.has_permission) and security policies (security_policy.c:
 *	  mfa_required_for): "*", or "<resource>:<action>" where each part is
 *	  "*" or 1..63 of [A-Za-z0-9_.-] (doc/authorization.md); whether a
 *	  pattern grants a permission, whether two patterns overlap.
 *
 * Pure functions: no state, no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "permission.h"

static bool
segment_valid(const char *s, size_t len)
{
	if (len == 1 && s[0] == '*')
		return true;
	if (len == 0 || len > MT_MAX_SEGMENT_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

bool
mt_permission_valid(const char *perm)
{
	const char *colon;
	size_t		len = strlen(perm);

	if (len > MT_MAX_PERM_LEN)
		return false;
	if (strcmp(perm, "*") == 0)
		return true;
	colon = strchr(perm, ':');
	if (colon == NULL || strchr(colon + 1, ':') != NULL)
		return false;
	return segment_valid(perm, colon - perm) &&
		segment_valid(colon + 1, len - (colon + 1 - perm));
}

static bool
segment_covers(const char *p, size_t plen, const char *q, size_t qlen)
{
	if (plen == 1 && p[0] == '*')
		return true;
	return plen == qlen && memcmp(p, q, plen) == 0;
}

/*
 * Whether the pattern p grants q (both valid): "*" grants everything; a
 * part "*" grants any value of that part, including "*" itself; otherwise
 * the parts must be equal.
 */
bool
mt_permission_covers(const char *p, const char *q)
{
	const char *pc,
			   *qc;

	if (p[0] == '*' && p[1] == '\0')
		return true;
	if (q[0] == '*' && q[1] == '\0')
		return false;
	pc = strchr(p, ':');
	qc = strchr(q, ':');
	return segment_covers(p, pc - p, q, qc - q) &&
		segment_covers(pc + 1, strlen(pc + 1), qc + 1, strlen(qc + 1));
}

/*
 * Whether p and q (both valid) have a permission in common: "*" overlaps
 * everything; otherwise each part of one covers the other's.
 * ("invoices:write" and "invoices:*", "*:write" and "invoices:*" overlap.)
 */
bool
mt_permission_overlaps(const char *p, const char *q)
{
	const char *pc,
			   *qc;

	if ((p[0] == '*' && p[1] == '\0') || (q[0] == '*' && q[1] == '\0'))
		return true;
	pc = strchr(p, ':');
	qc = strchr(q, ':');
	return (segment_covers(p, pc - p, q, qc - q) || segment_covers(q, qc - q, p, pc - p)) &&
		(segment_covers(pc + 1, strlen(pc + 1), qc + 1, strlen(qc + 1)) ||
		 segment_covers(qc + 1, strlen(qc + 1), pc + 1, strlen(pc + 1)));
}
