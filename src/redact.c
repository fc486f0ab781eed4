/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Keeps bearer credentials (tenant tokens, API keys) out of places other
 *	  sessions or the server log can show: the statement text reported in
 *	  pg_stat_activity and the statement text attached to error reports.
 *
 * All state is per backend; no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"

#include "multitenant.h"

/*
 * If the statement being executed contains the secret, replace every
 * occurrence with <redacted> in what pg_stat_activity shows and in the
 * statement text used for error reports of this statement.  Cheap when
 * the secret is absent (a strstr).
 */
void
mt_redact_statement(const char *secret)
{
	const char *q = debug_query_string;
	const char *hit;
	size_t		seclen;
	StringInfoData buf;
	MemoryContext oldcxt;

	if (q == NULL || secret == NULL || (seclen = strlen(secret)) == 0 ||
		(hit = strstr(q, secret)) == NULL)
		return;

	/* lives as long as debug_query_string's own buffer: the message */
	oldcxt = MemoryContextSwitchTo(MessageContext ? MessageContext : CurrentMemoryContext);
	initStringInfo(&buf);
	while (hit != NULL)
	{
		appendBinaryStringInfo(&buf, q, hit - q);
		appendStringInfoString(&buf, "<redacted>");
		q = hit + seclen;
		hit = strstr(q, secret);
	}
	appendStringInfoString(&buf, q);
	MemoryContextSwitchTo(oldcxt);

	pgstat_report_activity(STATE_RUNNING, buf.data);
	debug_query_string = buf.data;
}
