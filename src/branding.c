/*-------------------------------------------------------------------------
 *
 * branding.c
 *	  Per-tenant branding for a login page (mt.branding): a validated
 *	  jsonb document per tenant, set by the back office
 *	  (mt.set_branding, audited) and read by host name
 *	  (mt.branding_for_host, through the verified custom domains of
 *	  domains.c).  Only known keys, each with its type and format: the
 *	  document is shown to users before they log in, so a URL is https
 *	  with a host name that normalizes, a colour is #rrggbb, text holds no
 *	  control characters.
 *
 * Locks: mt.set_branding locks the tenant row (FOR SHARE, an active
 * tenant) and upserts its one row (primary key tenant_id); no shared
 * state here.
 *
 *-------------------------------------------------------------------------
 */
#include "citus_node.h"
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "audit.h"
#include "domains.h"
#include "spi_util.h"
#include "util.h"

#define BRANDING_MAX_BYTES	16384
#define BRANDING_URL_MAX	2048
#define BRANDING_NAME_MAX	100
#define BRANDING_MESSAGE_MAX 500

typedef enum BrandKind
{
	BRAND_TEXT,					/* one line of text */
	BRAND_MESSAGE,				/* text, newlines allowed */
	BRAND_URL,					/* https URL */
	BRAND_COLOUR,				/* #rrggbb */
	BRAND_EMAIL
} BrandKind;

static const struct
{
	const char *key;
	BrandKind	kind;
}			brand_keys[] =
{
	{"name", BRAND_TEXT},
	{"logo_url", BRAND_URL},
	{"favicon_url", BRAND_URL},
	{"primary_color", BRAND_COLOUR},
	{"accent_color", BRAND_COLOUR},
	{"background_color", BRAND_COLOUR},
	{"text_color", BRAND_COLOUR},
	{"support_email", BRAND_EMAIL},
	{"support_url", BRAND_URL},
	{"privacy_url", BRAND_URL},
	{"terms_url", BRAND_URL},
	{"login_message", BRAND_MESSAGE},
};

static void
bad_branding(const char *path, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid branding document"),
			 errdetail("%s: %s", path, problem),
			 errhint("Keys: name, logo_url, favicon_url, primary_color, accent_color, background_color, text_color, support_email, support_url, privacy_url, terms_url, login_message (doc/identity.md, \"Branding\").")));
}

/* no control characters (a message may hold newlines) */
static void
check_text(const char *path, const char *s, int len, int max_chars, bool newlines)
{
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if ((c < 0x20 && !(newlines && c == '\n')) || c == 0x7f)
			bad_branding(path, "control characters are not allowed");
	}
	if (len == 0 || pg_mbstrlen_with_len(s, len) > max_chars)
		bad_branding(path, psprintf("must be 1 to %d characters", max_chars));
}

/* https://host[:port][/path...]; host normalizes as a domain; no userinfo */
static void
check_url(const char *path, const char *s, int len)
{
	const char *host;
	const char *end;
	char		buf[256];

	if (len > BRANDING_URL_MAX)
		bad_branding(path, psprintf("a URL is at most %d bytes", BRANDING_URL_MAX));
	if (len < 9 || pg_strncasecmp(s, "https://", 8) != 0)
		bad_branding(path, "must be an https:// URL");
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("\"'<>\\`{}|^", c) != NULL)
			bad_branding(path, "a URL holds only printable ASCII without spaces, quotes, <, >, \\, `, {, }, |, ^ (percent-encode the rest)");
	}
	host = s + 8;
	end = host;
	while (end < s + len && *end != '/' && *end != '?' && *end != '#')
		end++;
	if (memchr(host, '@', end - host) != NULL)
		bad_branding(path, "a URL must not hold user information (user@host)");
	/* an optional :port */
	{
		const char *colon = memchr(host, ':', end - host);

		if (colon != NULL)
		{
			if (colon + 1 == end || end - colon > 6)
				bad_branding(path, "the URL's port is not a number from 1 to 65535");
			for (const char *p = colon + 1; p < end; p++)
				if (*p < '0' || *p > '9')
					bad_branding(path, "the URL's port is not a number from 1 to 65535");
			if (atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
				bad_branding(path, "the URL's port is not a number from 1 to 65535");
			end = colon;
		}
	}
	if (end == host || mt_domain_normalize(host, end - host, buf) != NULL)
		bad_branding(path, "the URL's host is not a valid domain name");
}

static void
check_colour(const char *path, const char *s, int len)
{
	if (len != 7 || s[0] != '#')
		bad_branding(path, "a colour is #rrggbb");
	for (int i = 1; i < 7; i++)
		if (!isxdigit((unsigned char) s[i]))
			bad_branding(path, "a colour is #rrggbb");
}

/* local@domain: a dot-atom local part (RFC 5322), a domain that normalizes */
static void
check_email(const char *path, const char *s, int len)
{
	const char *at = len > 0 ? memchr(s, '@', len) : NULL;
	char		buf[256];

	if (len > 254 || at == NULL || at == s || at - s > 64 ||
		memchr(at + 1, '@', s + len - at - 1) != NULL)
		bad_branding(path, "must be an email address local@domain (at most 254 bytes)");
	if (s[0] == '.' || at[-1] == '.')
		bad_branding(path, "the local part of the address is not a dot-atom");
	for (const char *p = s; p < at; p++)
	{
		if (!isalnum((unsigned char) *p) && strchr(".!#$%&*+/=?^_{|}~-", *p) == NULL)
			bad_branding(path, "the local part of the address is not a dot-atom");
		if (*p == '.' && p[1] == '.')
			bad_branding(path, "the local part of the address is not a dot-atom");
	}
	if (mt_domain_normalize(at + 1, s + len - at - 1, buf) != NULL)
		bad_branding(path, "the address's domain is not a valid domain name");
}

/* every member known, of its type and format; nothing nested */
static void
check_branding(Jsonb *doc)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			kind = -1;
	const char *path = "$";

	if (VARSIZE(doc) > BRANDING_MAX_BYTES)
		bad_branding("$", psprintf("the document is larger than %d bytes", BRANDING_MAX_BYTES));
	if (!JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
		bad_branding("$", "must be a JSON object");

	it = JsonbIteratorInit(&doc->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

			path = psprintf("$.%s", strlen(key) > 64 ? "(long key)" : key);
			kind = -1;
			for (int i = 0; i < lengthof(brand_keys); i++)
				if (strcmp(key, brand_keys[i].key) == 0)
					kind = brand_keys[i].kind;
			if (kind < 0)
				bad_branding(path, "unknown key");
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString)
				bad_branding(path, "must be a string");
			switch ((BrandKind) kind)
			{
				case BRAND_TEXT:
					check_text(path, v.val.string.val, v.val.string.len, BRANDING_NAME_MAX, false);
					break;
				case BRAND_MESSAGE:
					check_text(path, v.val.string.val, v.val.string.len, BRANDING_MESSAGE_MAX, true);
					break;
				case BRAND_URL:
					check_url(path, v.val.string.val, v.val.string.len);
					break;
				case BRAND_COLOUR:
					check_colour(path, v.val.string.val, v.val.string.len);
					break;
				case BRAND_EMAIL:
					check_email(path, v.val.string.val, v.val.string.len);
					break;
			}
		}
		else if (tok == WJB_BEGIN_ARRAY || (tok == WJB_BEGIN_OBJECT && path[1] != '\0'))
			bad_branding(path, "must be a string");
	}
}

/* mt.set_branding(tenant uuid, doc jsonb) RETURNS jsonb: privileged (back office) */
PG_FUNCTION_INFO_V1(mt_set_branding);
Datum
mt_set_branding(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	Jsonb	   *doc;
	Datum		args[2];

	mt_require_coordinator("mt.set_branding()");
	mt_require_writable("mt.set_branding()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 2, "tenant and doc");
	tenant = PG_GETARG_UUID_P(0);
	doc = PG_GETARG_JSONB_P(1);
	check_branding(doc);

	mt_spi_connect();
	mt_lock_active_tenant(tenant);
	args[0] = UUIDPGetDatum(tenant);
	args[1] = JsonbPGetDatum(doc);
	mt_spi_execute("INSERT INTO mt.branding (tenant_id, doc) VALUES ($1, $2) "
				   "ON CONFLICT (tenant_id) DO UPDATE SET doc = excluded.doc, "
				   "updated_at = pg_catalog.now()",
				   2, (Oid[]) {UUIDOID, JSONBOID}, args, SPI_OK_INSERT);
	mt_spi_finish();
	mt_audit_record(tenant, "branding.set", "tenant", mt_uuid_to_cstring(tenant), 0, NULL);
	PG_RETURN_JSONB_P(doc);
}

/*
 * mt.branding_for_host(host text) RETURNS jsonb: the branding of the
 * active tenant a verified custom domain belongs to, or NULL; every role.
 */
PG_FUNCTION_INFO_V1(mt_branding_for_host);
Datum
mt_branding_for_host(PG_FUNCTION_ARGS)
{
	Datum		args[1];
	bool		isnull;
	Datum		result;

	mt_require_coordinator("mt.branding_for_host()");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	args[0] = PG_GETARG_DATUM(0);
	mt_spi_connect();
	result = mt_spi_value("SELECT b.doc FROM mt.branding b JOIN mt.tenants t ON t.id = b.tenant_id "
						  "WHERE b.tenant_id = mt.tenant_by_host($1) AND t.status = 'active'",
						  1, (Oid[]) {TEXTOID}, args, true, &isnull);
	mt_spi_finish();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}
