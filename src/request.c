/*-------------------------------------------------------------------------
 *
 * request.c
 *	  The tenant context from an HTTP request that a gateway hands the
 *	  database: mt.enter_from_request(), PostgREST's db-pre-request
 *	  function.  It reads the raw bearer token of the Authorization header
 *	  from the request.headers setting (JSON, set per transaction by
 *	  PostgREST) and enters it exactly as SET LOCAL multitenant.token would
 *	  (the token check hook of context.c verifies signature, expiry,
 *	  audience and tenant).  It never reads request.jwt.claims: PostgREST
 *	  fills that setting with the claims it decoded, unsigned, and any
 *	  session can set it to anything.
 *
 * No Authorization header: the request is anonymous, and the transaction
 * runs with no context (SET LOCAL multitenant.token = '', so a context a
 * pooled session still held does not carry over).  A header that is not
 * "Bearer <token>", a token that does not verify, or request.headers that
 * is not a JSON object: 28000 / 22023, and the previous context stays.
 *
 * No shared state; nothing is cached.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "context.h"

/* request.headers larger than this is refused before it is parsed */
#define MT_MAX_REQUEST_HEADERS	65536

/*
 * The value of the Authorization header in a JSON object of headers (name
 * compared case-insensitively; PostgREST sends lower-case names), or NULL
 * when there is none.  Two members naming it are refused: which one a
 * gateway honoured cannot be known.
 */
static void
authorization_not_a_string(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("malformed Authorization header"),
			 errdetail("The Authorization header in request.headers is not a string.")));
}

static char *
authorization_header(const char *headers)
{
	Jsonb	   *jb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *found = NULL;
	int			level = 0;
	bool		want_value = false;

	if (strlen(headers) > MT_MAX_REQUEST_HEADERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request.headers is longer than %d bytes", MT_MAX_REQUEST_HEADERS)));
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(headers)));
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("request.headers is not a JSON object"),
				 errhint("A gateway sets it to the request's headers, e.g. {\"authorization\": \"Bearer <token>\"}.")));

	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
		{
			if (level == 1 && want_value)
				authorization_not_a_string();
			level++;
		}
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			level--;
		else if (tok == WJB_KEY && level == 1)
			want_value = (v.val.string.len == 13 &&
						  pg_strncasecmp(v.val.string.val, "authorization", 13) == 0);
		else if (tok == WJB_VALUE && level == 1 && want_value)
		{
			if (found != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						 errmsg("malformed Authorization header"),
						 errdetail("request.headers names the Authorization header more than once.")));
			if (v.type != jbvString)
				authorization_not_a_string();
			found = pnstrdup(v.val.string.val, v.val.string.len);
			want_value = false;
		}
	}
	return found;
}

/*
 * The token of "Bearer <token>" (scheme case-insensitive, RFC 6750), or an
 * error naming what is wrong; never echoes the header.
 */
static char *
bearer_token(const char *header)
{
	const char *p = header;
	const char *end;

	if (pg_strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("malformed Authorization header"),
				 errdetail("Only the Bearer scheme is accepted (\"Authorization: Bearer <token>\")."),
				 errhint("Send no Authorization header for an anonymous request.")));
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end == p)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("malformed Authorization header"),
				 errdetail("The Bearer scheme is not followed by a token.")));
	for (const char *q = p; q < end; q++)
		if (isspace((unsigned char) *q) || (unsigned char) *q < 0x21 || (unsigned char) *q > 0x7e)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("malformed Authorization header"),
					 errdetail("The bearer token holds characters a token cannot hold.")));
	return pnstrdup(p, end - p);
}

/*
 * mt.enter_from_request() RETURNS uuid: the tenant of the request's bearer
 * token (its context now holds for the rest of the transaction), or NULL
 * for an anonymous request (no context for the rest of the transaction).
 */
PG_FUNCTION_INFO_V1(mt_enter_from_request);
Datum
mt_enter_from_request(PG_FUNCTION_ARGS)
{
	const char *headers = GetConfigOption("request.headers", true, false);
	char	   *header = NULL;
	char	   *token;
	const pg_uuid_t *tenant;
	pg_uuid_t  *result;

	if (headers != NULL && headers[0] != '\0')
		header = authorization_header(headers);

	if (header == NULL)
	{
		(void) set_config_option("multitenant.token", "",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, ERROR, false);
		PG_RETURN_NULL();
	}

	token = bearer_token(header);
	/* the check hook of multitenant.token verifies it; an error leaves the context as it was */
	(void) set_config_option("multitenant.token", token,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
							 true, ERROR, false);
	explicit_bzero(token, strlen(token));
	explicit_bzero(header, strlen(header));

	tenant = mt_context_tenant();
	if (tenant == NULL)
		PG_RETURN_NULL();
	result = palloc(sizeof(pg_uuid_t));
	memcpy(result, tenant, sizeof(pg_uuid_t));
	PG_RETURN_UUID_P(result);
}
