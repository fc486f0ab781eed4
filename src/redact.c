/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Keeps tenant tokens out of places other sessions or the server log
 *	  can show: the statement text reported in pg_stat_activity and used
 *	  for error reports (mt_redact_statement), and every field of every log
 *	  message (the emit_log_hook below: message, detail -- where
 *	  log_statement / log_min_duration_statement print "parameters: $1 =
 *	  '...'" --, hint, context, internal query, and the STATEMENT line).
 *	  API keys have their own log hook in api_keys.c.
 *
 * What counts as a token here: a JWT-shaped value (three base64url
 * segments separated by dots, the first starting with 'e' as the encoding
 * of every JSON object does, long enough to carry a signature), whose
 * payload and signature are overwritten with '*'; the tail of one split
 * into concatenated literals before its signature (a base64url run, a dot,
 * and a run of 40 or more: a signature), overwritten whole; and the
 * internal context value of mt_enter_tenant() ("mt-internal|...") and the
 * context a Citus coordinator passes to workers ("mt-node|..."), whose
 * bodies are.  A token cut inside its signature is not recognised in the
 * log, but it is refused and burned by the check hook (context.c), which
 * finds any 8 consecutive characters of its signature in the statement
 * (mt_redact_signature_fragments) and takes them out of pg_stat_activity.
 *
 * All state is per backend; no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/elog.h"
#include "utils/memutils.h"

#include "crypto.h"
#include "redact.h"

/* shortest segments of a JWT-shaped value: a real signature is 43+ chars */
#define MIN_HEADER_LEN		8
#define MIN_PAYLOAD_LEN		8
#define MIN_SIGNATURE_LEN	16
/* ... and of the signature when the header was split off: HS256 has 43 */
#define MIN_FRAGMENT_SIG_LEN 40
/* a piece of a signature that the check hook looks for in the statement */
#define MIN_SIG_FRAGMENT_LEN 8

static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * If the statement being executed contains the secret, replace every
 * occurrence with <redacted> in what pg_stat_activity shows and in the
 * statement text used for error reports of this statement.  Cheap when
 * the secret is absent (a strstr).  Returns true when it was present.
 */
bool
mt_redact_statement(const char *secret)
{
	const char *q = debug_query_string;
	const char *hit;
	size_t		seclen;
	StringInfoData buf;
	MemoryContext oldcxt;

	if (q == NULL || secret == NULL || (seclen = strlen(secret)) == 0 ||
		(hit = strstr(q, secret)) == NULL)
		return false;

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
	return true;
}

static inline bool
is_base64url(unsigned char c)
{
	return mt_base64url_value(c) >= 0;
}

static size_t
base64url_run(const char *s)
{
	size_t		n = 0;

	while (is_base64url((unsigned char) s[n]))
		n++;
	return n;
}

/*
 * The pairs of characters that start a MIN_SIG_FRAGMENT_LEN window of the
 * signature: bit b of pairs[a] for the pair (a, b).  A statement position
 * whose two characters are no such pair (nearly all of them) is skipped
 * without comparing, so the scan costs about one lookup per character.
 */
typedef struct SigPairs
{
	uint64		pairs[64];
} SigPairs;

static void
sig_pairs_init(SigPairs *sp, const char *sig, size_t siglen)
{
	memset(sp, 0, sizeof(SigPairs));
	for (size_t j = 0; j + MIN_SIG_FRAGMENT_LEN <= siglen; j++)
	{
		int			a = mt_base64url_value((unsigned char) sig[j]);
		int			b = mt_base64url_value((unsigned char) sig[j + 1]);

		if (a >= 0 && b >= 0)
			sp->pairs[a] |= UINT64CONST(1) << b;
	}
}

/* does run[0..len) hold MIN_SIG_FRAGMENT_LEN consecutive characters of sig? */
static bool
run_has_fragment(const char *run, size_t len, const char *sig, size_t siglen,
				 const SigPairs *sp)
{
	for (size_t i = 0; i + MIN_SIG_FRAGMENT_LEN <= len; i++)
	{
		/* run holds base64url characters only: both indexes are valid */
		int			a = mt_base64url_value((unsigned char) run[i]);
		int			b = mt_base64url_value((unsigned char) run[i + 1]);

		if (!((sp->pairs[a] >> b) & 1))
			continue;
		for (size_t j = 0; j + MIN_SIG_FRAGMENT_LEN <= siglen; j++)
			if (sig[j] == run[i] && memcmp(sig + j, run + i, MIN_SIG_FRAGMENT_LEN) == 0)
				return true;
	}
	return false;
}

/*
 * Does the statement being executed hold any MIN_SIG_FRAGMENT_LEN
 * consecutive characters of the token's signature sig?  That catches the
 * token written whole, and split into concatenated literals anywhere, its
 * signature included (a fragment shorter than that is no use to a
 * reader).  One pass over the statement's base64url runs.  When it does,
 * the token (tok) is replaced by <redacted>, and every run holding a
 * fragment by '*', in what pg_stat_activity shows and in the statement
 * text of this statement's error reports; returns true.
 */
bool
mt_redact_signature_fragments(const char *tok, const char *sig)
{
	const char *q = debug_query_string;
	size_t		siglen = strlen(sig);
	char	   *copy = NULL;
	bool		found = false;
	SigPairs	sp;

	if (q == NULL || siglen < MIN_SIG_FRAGMENT_LEN)
		return false;
	sig_pairs_init(&sp, sig, siglen);
	for (int pass = 0; pass < 2; pass++)
	{
		for (const char *p = q; *p;)
		{
			size_t		n = base64url_run(p);

			if (n == 0)
			{
				p++;
				continue;
			}
			if (n >= MIN_SIG_FRAGMENT_LEN && run_has_fragment(p, n, sig, siglen, &sp))
			{
				if (pass == 0)
				{
					found = true;
					break;
				}
				memset(copy + (p - q), '*', n);
			}
			p += n;
		}
		if (!found)
			return false;
		if (pass == 0)
		{
			/* whole tokens become <redacted>; then star the fragments left */
			(void) mt_redact_statement(tok);
			q = debug_query_string;
			copy = MemoryContextStrdup(MessageContext ? MessageContext : CurrentMemoryContext, q);
		}
	}
	pgstat_report_activity(STATE_RUNNING, copy);
	debug_query_string = copy;
	return true;
}

/*
 * Finds the tokens in s (see the header comment); with redact, overwrites
 * them in place (the length of s does not change).  Returns true if s holds
 * any.
 */
static bool
scan_tokens(char *s, bool redact)
{
	bool		found = false;
	char	   *p;

	if (s == NULL)
		return false;

	for (p = s; *p; p++)
	{
		size_t		len1,
					len2,
					len3;
		char	   *seg2,
				   *seg3;

		if (!is_base64url((unsigned char) *p) ||
			(p > s && is_base64url((unsigned char) p[-1])))
			continue;
		len1 = base64url_run(p);
		if (len1 < MIN_HEADER_LEN || p[len1] != '.')
		{
			p += len1 ? len1 - 1 : 0;
			continue;
		}
		seg2 = p + len1 + 1;
		len2 = base64url_run(seg2);
		seg3 = seg2 + len2 + 1;
		len3 = seg2[len2] == '.' ? base64url_run(seg3) : 0;
		if (*p == 'e' && len2 >= MIN_PAYLOAD_LEN && len3 >= MIN_SIGNATURE_LEN)
		{
			/* header.payload.signature: keep the header */
			found = true;
			if (!redact)
				return true;
			memset(seg2, '*', len2);
			memset(seg3, '*', len3);
			p = seg3 + len3 - 1;
		}
		else if (seg2[len2] != '.' && len2 >= MIN_FRAGMENT_SIG_LEN)
		{
			/* "<part of header or payload>.signature": a split token */
			found = true;
			if (!redact)
				return true;
			memset(p, '*', len1);
			memset(seg2, '*', len2);
			p = seg2 + len2 - 1;
		}
		else
			p += len1;
	}

	for (p = strstr(s, MT_INTERNAL_PREFIX); p != NULL; p = strstr(p, MT_INTERNAL_PREFIX))
	{
		found = true;
		if (!redact)
			return true;
		p += strlen(MT_INTERNAL_PREFIX);
		while (*p && (isxdigit((unsigned char) *p) || *p == '|' || *p == '-'))
			*p++ = '*';
	}
	for (p = strstr(s, MT_NODE_PREFIX); p != NULL; p = strstr(p, MT_NODE_PREFIX))
	{
		found = true;
		if (!redact)
			return true;
		p += strlen(MT_NODE_PREFIX);
		while (*p && (isxdigit((unsigned char) *p) || *p == '|' || *p == '-'))
			*p++ = '*';
	}
	return found;
}

/* overwrites the tokens in s in place; true if there were any */
bool
mt_redact_tokens(char *s)
{
	return scan_tokens(s, true);
}

static void
redact_emit_log(ErrorData *edata)
{
	mt_redact_tokens(edata->message);
	mt_redact_tokens(edata->detail);
	mt_redact_tokens(edata->detail_log);
	mt_redact_tokens(edata->hint);
	mt_redact_tokens(edata->context);
	mt_redact_tokens(edata->internalquery);
	if (debug_query_string != NULL && scan_tokens((char *) debug_query_string, false))
		edata->hide_stmt = true;
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
mt_redact_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = redact_emit_log;
}
