/*-------------------------------------------------------------------------
 *
 * sso.c
 *	  SSO provider registry and external identities: per-tenant provider
 *	  records (saml, oidc, oauth; issuer or metadata URL, allowed email
 *	  domains, a validated attribute mapping, an OAuth client id and a
 *	  client secret stored sealed: sealed.c), mt.sso_provider_for(email)
 *	  for a login page, and the mapping of a provider's external user id to
 *	  a subject of its tenant (mt.link_identity / mt.resolve_identity),
 *	  unique per provider.  The protocols stay in the application.
 *
 * Locks: the primary keys of mt.sso_email_domains (one provider per email
 * domain) and mt.sso_identities (one subject per external id and
 * provider) serialize competing claims; no shared state here.
 *
 *-------------------------------------------------------------------------
 */
#include "citus_node.h"
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "audit.h"
#include "crypto.h"
#include "domains.h"
#include "sealed.h"
#include "spi_util.h"
#include "util.h"

#define SSO_TEXT_MAX 2000
#define SSO_MAPPING_MAX 32
#define SSO_DOMAINS_MAX 50

static void
bad(const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg),
			 detail ? errdetail("%s", detail) : 0));
}

static void
check_text(const char *what, const char *s, int min, int max)
{
	if ((int) strlen(s) < min || (int) strlen(s) > max)
		bad(psprintf("%s must be %d to %d bytes", what, min, max), NULL);
}

/* the attribute mapping: an object of at most 32 string members */
static void
check_mapping(Jsonb *j)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;
	int			depth = 0;

	if (!JB_ROOT_IS_OBJECT(j) || JB_ROOT_IS_SCALAR(j))
		bad("invalid SSO attribute mapping", "The mapping is a JSON object of attribute names (strings).");
	it = JsonbIteratorInit(&j->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
		{
			if (++depth > 1)
				bad("invalid SSO attribute mapping", "Values are strings, not objects or arrays.");
		}
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			depth--;
		else if (tok == WJB_KEY)
		{
			if (++n > SSO_MAPPING_MAX)
				bad("invalid SSO attribute mapping", "At most 32 attributes.");
			if (v.val.string.len < 1 || v.val.string.len > 200)
				bad("invalid SSO attribute mapping", "A key is 1 to 200 bytes.");
		}
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString || v.val.string.len < 1 || v.val.string.len > 200)
				bad("invalid SSO attribute mapping", "A value is a string of 1 to 200 bytes (the provider's attribute name).");
		}
	}
}

/* normalized email domain of an address or a bare domain; NULL when none */
static char *
email_domain(const char *s, bool is_address)
{
	const char *at = strrchr(s, '@');
	const char *d = s;
	char	   *buf = palloc(256);

	if (is_address)
	{
		if (at == NULL || at == s)
			return NULL;
		d = at + 1;
	}
	if (mt_domain_normalize(d, strlen(d), buf) != NULL)
		return NULL;
	return buf;
}

/* ---------------------------------------------------------------------
 * Providers (privileged: back office)
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_add_sso_provider);
Datum
mt_add_sso_provider(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	char	   *kind;
	char	   *name;
	char	   *issuer;
	ArrayType  *domains;
	Jsonb	   *mapping;
	Datum	   *elems;
	bool	   *enulls;
	int			nelems;
	Datum		args[8];
	char		nulls[8];
	bool		isnull;
	int			version = 0;
	pg_uuid_t  *id;

	mt_require_coordinator("mt.add_sso_provider()");
	mt_require_writable("mt.add_sso_provider()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 6, "tenant, kind, name, issuer, email_domains and attribute_mapping");
	tenant = PG_GETARG_UUID_P(0);
	kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	name = text_to_cstring(PG_GETARG_TEXT_PP(2));
	issuer = text_to_cstring(PG_GETARG_TEXT_PP(3));
	domains = PG_GETARG_ARRAYTYPE_P(4);
	mapping = PG_GETARG_JSONB_P(5);

	if (strcmp(kind, "saml") != 0 && strcmp(kind, "oidc") != 0 && strcmp(kind, "oauth") != 0)
		bad(psprintf("unknown SSO provider kind \"%s\"", kind), "The kinds are saml, oidc and oauth.");
	check_text("an SSO provider name", name, 1, 200);
	check_text("an SSO issuer or metadata URL", issuer, 1, SSO_TEXT_MAX);
	if (strcmp(kind, "saml") != 0 && strncmp(issuer, "https://", 8) != 0)
		bad("invalid SSO issuer", "The issuer of an OIDC or OAuth provider is an https:// URL.");
	check_mapping(mapping);
	if (ARR_NDIM(domains) > 1)
		bad("invalid email domains", "Give a one-dimensional text array.");
	deconstruct_array(domains, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &nelems);
	if (nelems < 1 || nelems > SSO_DOMAINS_MAX)
		bad("invalid email domains", "An SSO provider has 1 to 50 email domains.");
	for (int i = 0; i < nelems; i++)
	{
		char	   *d;

		if (enulls[i] || (d = email_domain(TextDatumGetCString(elems[i]), false)) == NULL)
			bad("invalid email domain",
				enulls[i] ? "An email domain is NULL." :
				psprintf("\"%s\" is not a domain name mt.add_domain would accept.",
						 TextDatumGetCString(elems[i])));
		elems[i] = CStringGetTextDatum(d);
	}

	memset(nulls, ' ', sizeof(nulls));
	mt_spi_connect();
	mt_lock_active_tenant(tenant);
	args[0] = UUIDPGetDatum(tenant);

	args[1] = CStringGetTextDatum(kind);
	args[2] = CStringGetTextDatum(name);
	args[3] = CStringGetTextDatum(issuer);
	args[4] = JsonbPGetDatum(mapping);
	if (PG_ARGISNULL(6))
		nulls[5] = 'n';
	else
	{
		char	   *cid = text_to_cstring(PG_GETARG_TEXT_PP(6));

		check_text("an OAuth client id", cid, 1, 500);
		args[5] = CStringGetTextDatum(cid);
	}
	if (PG_ARGISNULL(7))
	{
		nulls[6] = 'n';
		nulls[7] = 'n';
	}
	else
	{
		text	   *sec = PG_GETARG_TEXT_PP(7);

		if (VARSIZE_ANY_EXHDR(sec) < 1 || VARSIZE_ANY_EXHDR(sec) > 1000)
			bad("a client secret must be 1 to 1000 bytes", NULL);
		args[6] = PointerGetDatum(mt_seal(MT_SEAL_LABEL_SSO, (uint8 *) VARDATA_ANY(sec),
										  VARSIZE_ANY_EXHDR(sec), &version));
		args[7] = Int32GetDatum(version);
	}
	mt_spi_execute_nulls("INSERT INTO mt.sso_providers (tenant_id, kind, name, issuer, "
						 "attribute_mapping, client_id, client_secret_enc, kek_version) "
						 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
						 8, (Oid[]) {UUIDOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID,
						 TEXTOID, BYTEAOID, INT4OID}, args, nulls, SPI_OK_INSERT_RETURNING);
	id = (pg_uuid_t *) DatumGetPointer(SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0],
																	   SPI_tuptable->tupdesc, 1,
																	   &isnull), false, UUID_LEN));
	for (int i = 0; i < nelems; i++)
	{
		Datum		a[2];

		a[0] = elems[i];
		a[1] = UUIDPGetDatum(id);
		mt_spi_execute("INSERT INTO mt.sso_email_domains (domain, provider_id) VALUES ($1, $2) "
					   "ON CONFLICT (domain) DO NOTHING RETURNING domain",
					   2, (Oid[]) {TEXTOID, UUIDOID}, a, SPI_OK_INSERT_RETURNING);
		if (SPI_processed == 0 &&
			!mt_spi_exists("SELECT 1 FROM mt.sso_email_domains WHERE domain = $1 AND provider_id = $2",
						   2, (Oid[]) {TEXTOID, UUIDOID}, a))
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("email domain \"%s\" already has an SSO provider", TextDatumGetCString(elems[i])),
					 errhint("An email domain leads to one provider: remove the other one first (mt.remove_sso_provider).")));
	}
	mt_spi_finish();
	mt_audit_record(tenant, "sso.provider_add", "sso_provider", mt_uuid_to_cstring(id), 2,
					(const char *[]) {"kind", kind, "issuer", issuer});
	PG_RETURN_UUID_P(id);
}

PG_FUNCTION_INFO_V1(mt_remove_sso_provider);
Datum
mt_remove_sso_provider(PG_FUNCTION_ARGS)
{
	Datum		args[1];
	pg_uuid_t  *tenant = NULL;
	bool		isnull;

	mt_require_coordinator("mt.remove_sso_provider()");
	mt_require_writable("mt.remove_sso_provider()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "provider");
	mt_spi_connect();
	args[0] = PG_GETARG_DATUM(0);
	mt_spi_execute("DELETE FROM mt.sso_providers WHERE id = $1 RETURNING tenant_id",
				   1, (Oid[]) {UUIDOID}, args, SPI_OK_DELETE_RETURNING);
	if (SPI_processed > 0)
		tenant = (pg_uuid_t *) SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 1, &isnull),
												 false, UUID_LEN);
	mt_spi_finish();
	if (tenant != NULL)
		mt_audit_record(tenant, "sso.provider_remove", "sso_provider",
						mt_uuid_to_cstring(PG_GETARG_UUID_P(0)), 0, NULL);
	PG_RETURN_BOOL(tenant != NULL);
}

/* the client secret in clear: for the login service only (privileged) */
PG_FUNCTION_INFO_V1(mt_sso_client_secret);
Datum
mt_sso_client_secret(PG_FUNCTION_ARGS)
{
	Datum		args[1];
	bool		n1,
				n2;
	bytea	   *enc;
	int			version;
	uint8		buf[MT_SEALED_MAX];
	int			len;
	text	   *out;

	mt_require_coordinator("mt.sso_client_secret()");
	mt_require_args(fcinfo, 1, "provider");
	mt_spi_connect();
	args[0] = PG_GETARG_DATUM(0);
	mt_spi_select("SELECT client_secret_enc, kek_version FROM mt.sso_providers WHERE id = $1",
				  1, (Oid[]) {UUIDOID}, args, NULL);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("SSO provider %s does not exist", mt_uuid_to_cstring(PG_GETARG_UUID_P(0)))));
	enc = (bytea *) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &n1));
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &n2));
	if (n1)
	{
		mt_spi_finish();
		PG_RETURN_NULL();
	}
	len = mt_unseal(MT_SEAL_LABEL_SSO, enc, version, buf);
	mt_spi_finish();
	if (len < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an SSO client secret cannot be decrypted"),
				 errhint("The server secret file (multitenant.secret) differs from the one the secret was stored with, or its key version was retired.")));
	out = cstring_to_text_with_len((char *) buf, len);
	mt_wipe(buf, sizeof(buf));
	PG_RETURN_TEXT_P(out);
}

/* ---------------------------------------------------------------------
 * Login page: which provider serves an email address (every role)
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_sso_provider_for);
Datum
mt_sso_provider_for(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *email;
	char	   *d;
	Datum		args[1];

	mt_require_coordinator("mt.sso_provider_for()");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	email = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strlen(email) > 320 || (d = email_domain(email, true)) == NULL)
		return (Datum) 0;
	mt_spi_connect();
	args[0] = CStringGetTextDatum(d);
	mt_spi_select("SELECT p.tenant_id, p.id, p.kind, p.issuer FROM mt.sso_email_domains e "
				  "JOIN mt.sso_providers p ON p.id = e.provider_id "
				  "JOIN mt.tenants t ON t.id = p.tenant_id "
				  "WHERE e.domain = $1 AND t.status = 'active'",
				  1, (Oid[]) {TEXTOID}, args, NULL);
	mt_spi_rows_to_tuplestore(rsinfo);
	mt_spi_finish();
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * External identities (privileged: the login service)
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_link_identity);
Datum
mt_link_identity(PG_FUNCTION_ARGS)
{
	char	   *ext;
	char	   *subject;
	Datum		args[3];
	bool		isnull;
	pg_uuid_t  *tenant;
	char	   *existing;

	mt_require_coordinator("mt.link_identity()");
	mt_require_writable("mt.link_identity()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 3, "provider, external_id and subject");
	ext = text_to_cstring(PG_GETARG_TEXT_PP(1));
	subject = text_to_cstring(PG_GETARG_TEXT_PP(2));
	check_text("an external id", ext, 1, 500);
	check_text("a subject", subject, 1, 200);

	mt_spi_connect();
	args[0] = PG_GETARG_DATUM(0);
	args[1] = CStringGetTextDatum(ext);
	args[2] = CStringGetTextDatum(subject);
	tenant = DatumGetUUIDP(mt_spi_value("SELECT tenant_id FROM mt.sso_providers WHERE id = $1 FOR SHARE",
									   1, (Oid[]) {UUIDOID}, args, false, &isnull));
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("SSO provider %s does not exist", mt_uuid_to_cstring(PG_GETARG_UUID_P(0)))));
	mt_spi_execute("INSERT INTO mt.sso_identities (provider_id, external_id, tenant_id, subject) "
				   "SELECT $1, $2, p.tenant_id, $3 FROM mt.sso_providers p WHERE p.id = $1 "
				   "ON CONFLICT (provider_id, external_id) DO NOTHING",
				   3, (Oid[]) {UUIDOID, TEXTOID, TEXTOID}, args, SPI_OK_INSERT);
	existing = mt_spi_text("SELECT subject FROM mt.sso_identities WHERE provider_id = $1 AND external_id = $2",
						   2, (Oid[]) {UUIDOID, TEXTOID}, args, &isnull);
	if (isnull || strcmp(existing, subject) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("external id \"%s\" of this SSO provider is linked to another subject", ext),
				 errhint("An external identity maps to one subject: unlink it first (mt.unlink_identity).")));
	mt_spi_finish();
	mt_audit_record(tenant, "sso.identity_link", "sso_identity", ext, 1,
					(const char *[]) {"subject", subject});
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(mt_unlink_identity);
Datum
mt_unlink_identity(PG_FUNCTION_ARGS)
{
	char	   *ext;
	Datum		args[2];
	pg_uuid_t  *tenant = NULL;
	bool		isnull;

	mt_require_coordinator("mt.unlink_identity()");
	mt_require_writable("mt.unlink_identity()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 2, "provider and external_id");
	ext = text_to_cstring(PG_GETARG_TEXT_PP(1));
	mt_spi_connect();
	args[0] = PG_GETARG_DATUM(0);
	args[1] = CStringGetTextDatum(ext);
	mt_spi_execute("DELETE FROM mt.sso_identities WHERE provider_id = $1 AND external_id = $2 "
				   "RETURNING tenant_id", 2, (Oid[]) {UUIDOID, TEXTOID}, args, SPI_OK_DELETE_RETURNING);
	if (SPI_processed > 0)
		tenant = (pg_uuid_t *) SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 1, &isnull),
												 false, UUID_LEN);
	mt_spi_finish();
	if (tenant != NULL)
		mt_audit_record(tenant, "sso.identity_unlink", "sso_identity", ext, 0, NULL);
	PG_RETURN_BOOL(tenant != NULL);
}

PG_FUNCTION_INFO_V1(mt_resolve_identity);
Datum
mt_resolve_identity(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		args[2];

	mt_require_coordinator("mt.resolve_identity()");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	mt_spi_connect();
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PointerGetDatum(PG_GETARG_TEXT_PP(1));
	mt_spi_select("SELECT i.tenant_id, i.subject FROM mt.sso_identities i "
				  "JOIN mt.tenants t ON t.id = i.tenant_id "
				  "WHERE i.provider_id = $1 AND i.external_id = $2 AND t.status = 'active'",
				  2, (Oid[]) {UUIDOID, TEXTOID}, args, NULL);
	mt_spi_rows_to_tuplestore(rsinfo);
	mt_spi_finish();
	return (Datum) 0;
}
