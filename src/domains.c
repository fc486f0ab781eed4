/*-------------------------------------------------------------------------
 *
 * domains.c
 *	  Custom domains of tenants (mt.domains): mt.add_domain (a claim with a
 *	  verification token), mt.verify_domain (the application proved control
 *	  of the name, e.g. by a DNS TXT record), mt.remove_domain, and
 *	  mt.tenant_by_host for request routing, which resolves verified
 *	  domains only.  Host names are normalized here, once, for every
 *	  caller (mt_domain_normalize): ASCII case folded, one trailing dot
 *	  dropped, letters-digits-hyphen labels, punycode A-labels decoded and
 *	  refused when they mix scripts or hold characters we cannot normalize.
 *
 * Locks: a claim takes a row lock on the domain (SELECT ... FOR UPDATE)
 * and the primary key of mt.domains keeps one tenant per host; no shared
 * state here.  mt.tenant_by_host reads through the primary key without SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "citus_node.h"
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "audit.h"
#include "catalog.h"
#include "domains.h"
#include "spi_util.h"
#include "util.h"

#define MT_HOST_MAX 253
#define MT_LABEL_MAX 63

/* ---------------------------------------------------------------------
 * Punycode (RFC 3492) decoding of one A-label's tail, and its scripts
 * --------------------------------------------------------------------- */

#define PC_BASE 36
#define PC_TMIN 1
#define PC_TMAX 26
#define PC_SKEW 38
#define PC_DAMP 700
#define PC_INITIAL_BIAS 72
#define PC_INITIAL_N 128

static uint32
pc_adapt(uint32 delta, uint32 numpoints, bool firsttime)
{
	uint32		k = 0;

	delta = firsttime ? delta / PC_DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2)
	{
		delta /= PC_BASE - PC_TMIN;
		k += PC_BASE;
	}
	return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

static int
pc_digit(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '0' && c <= '9')
		return c - '0' + 26;
	return -1;
}

/*
 * Decodes the punycode text in[0..len) (lowercase already) into out (at
 * most MT_LABEL_MAX code points); false when it is not valid punycode.
 */
static bool
punycode_decode(const char *in, int len, uint32 *out, int *outlen)
{
	uint32		n = PC_INITIAL_N;
	uint32		i = 0;
	uint32		bias = PC_INITIAL_BIAS;
	int			b = 0;
	int			count = 0;
	int			in_pos;

	for (int j = 0; j < len; j++)
		if (in[j] == '-')
			b = j;
	for (int j = 0; j < b; j++)
		out[count++] = (unsigned char) in[j];
	for (in_pos = b > 0 ? b + 1 : 0; in_pos < len;)
	{
		uint32		oldi = i;
		uint32		w = 1;

		for (uint32 k = PC_BASE;; k += PC_BASE)
		{
			int			digit;
			uint32		t;

			if (in_pos >= len)
				return false;
			digit = pc_digit(in[in_pos++]);
			if (digit < 0)
				return false;
			if ((uint32) digit > (PG_UINT32_MAX - i) / w)
				return false;
			i += digit * w;
			t = k <= bias ? PC_TMIN : (k >= bias + PC_TMAX ? PC_TMAX : k - bias);
			if ((uint32) digit < t)
				break;
			if (w > PG_UINT32_MAX / (PC_BASE - t))
				return false;
			w *= PC_BASE - t;
		}
		if (count >= MT_LABEL_MAX)
			return false;
		bias = pc_adapt(i - oldi, count + 1, oldi == 0);
		if (i / (count + 1) > PG_UINT32_MAX - n)
			return false;
		n += i / (count + 1);
		i %= (count + 1);
		memmove(out + i + 1, out + i, (count - i) * sizeof(uint32));
		out[i++] = n;
		count++;
	}
	*outlen = count;
	return true;
}

/* scripts a decoded label may use; a label uses one (digits and '-' aside) */
typedef enum
{
	SCRIPT_NONE = 0,			/* digits, hyphen */
	SCRIPT_LATIN,
	SCRIPT_GREEK,
	SCRIPT_CYRILLIC,
	SCRIPT_ARMENIAN,
	SCRIPT_HEBREW,
	SCRIPT_ARABIC,
	SCRIPT_DEVANAGARI,
	SCRIPT_THAI,
	SCRIPT_HANGUL,
	SCRIPT_CJK,					/* Han, Hiragana, Katakana (one writing system) */
	SCRIPT_REFUSED				/* anything else: not normalizable here */
} MtScript;

static MtScript
script_of(uint32 c)
{
	if ((c >= 'a' && c <= 'z'))
		return SCRIPT_LATIN;
	if ((c >= '0' && c <= '9') || c == '-')
		return SCRIPT_NONE;
	if (c < 0x80)
		return SCRIPT_REFUSED;	/* uppercase, punctuation, controls */
	/* Latin-1 letters (not the multiplication and division signs) */
	if (c >= 0xDF && c <= 0xFF && c != 0xF7)
		return SCRIPT_LATIN;
	if (c >= 0x100 && c <= 0x24F)
		return SCRIPT_LATIN;
	if (c >= 0x1E00 && c <= 0x1EFF)
		return SCRIPT_LATIN;
	if (c >= 0x3AC && c <= 0x3CE)	/* lowercase Greek (with tonos) */
		return SCRIPT_GREEK;
	if (c >= 0x430 && c <= 0x45F)	/* lowercase Cyrillic */
		return SCRIPT_CYRILLIC;
	if (c >= 0x561 && c <= 0x587)
		return SCRIPT_ARMENIAN;
	if (c >= 0x5D0 && c <= 0x5EA)
		return SCRIPT_HEBREW;
	if (c >= 0x620 && c <= 0x64A)
		return SCRIPT_ARABIC;
	if (c >= 0x900 && c <= 0x97F)
		return SCRIPT_DEVANAGARI;
	if (c >= 0xE01 && c <= 0xE5B)
		return SCRIPT_THAI;
	if (c >= 0xAC00 && c <= 0xD7A3)
		return SCRIPT_HANGUL;
	if ((c >= 0x3041 && c <= 0x30FF) || (c >= 0x4E00 && c <= 0x9FFF))
		return SCRIPT_CJK;
	return SCRIPT_REFUSED;
}

/*
 * Checks an A-label ("xn--" + punycode): NULL when acceptable, else why not.
 */
static const char *
alabel_problem(const char *label, int len)
{
	uint32		cps[MT_LABEL_MAX];
	int			ncp;
	MtScript	seen = SCRIPT_NONE;
	bool		non_ascii = false;

	if (!punycode_decode(label + 4, len - 4, cps, &ncp) || ncp == 0)
		return "is not valid punycode";
	for (int i = 0; i < ncp; i++)
	{
		MtScript	s = script_of(cps[i]);

		if (cps[i] >= 0x80)
			non_ascii = true;
		if (s == SCRIPT_REFUSED)
			return "holds a character outside the scripts accepted (uppercase, symbols, full-width forms, compatibility characters)";
		if (s == SCRIPT_NONE)
			continue;
		if (seen != SCRIPT_NONE && s != seen)
			return "mixes scripts (a confusable name)";
		seen = s;
	}
	if (!non_ascii)
		return "encodes plain ASCII";
	return NULL;
}

/* ---------------------------------------------------------------------
 * Normalization
 * --------------------------------------------------------------------- */

/*
 * Normalizes a host name into buf (MT_HOST_MAX + 1 bytes): ASCII lowercased,
 * one trailing dot dropped.  Returns NULL when the name is acceptable, else
 * a reason (for errdetail).  Bounded work: input past the limit is refused
 * before it is looked at.
 */
const char *
mt_domain_normalize(const char *in, size_t len, char *buf)
{
	int			nlabels = 0;
	size_t		start = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return "the name is empty";
	if (len > MT_HOST_MAX)
		return "the name is longer than 253 characters";
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) in[i];

		if (c >= 0x80)
			return "the name is not ASCII: give internationalized labels as A-labels (xn--...)";
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return "a label holds a character other than letters, digits and hyphens";
		buf[i] = (char) c;
	}
	buf[len] = '\0';

	for (size_t i = 0; i <= len; i++)
	{
		if (i < len && buf[i] != '.')
			continue;
		{
			const char *label = buf + start;
			int			llen = (int) (i - start);

			if (llen == 0)
				return "the name has an empty label";
			if (llen > MT_LABEL_MAX)
				return "a label is longer than 63 characters";
			if (label[0] == '-' || label[llen - 1] == '-')
				return "a label starts or ends with a hyphen";
			if (llen >= 4 && label[2] == '-' && label[3] == '-')
			{
				const char *why;

				if (label[0] != 'x' || label[1] != 'n')
					return "a label has hyphens in its third and fourth characters but is no A-label (xn--)";
				why = alabel_problem(label, llen);
				if (why != NULL)
					return psprintf("label \"%.*s\" %s", llen, label, why);
			}
			nlabels++;
			start = i + 1;
		}
	}
	if (nlabels < 2)
		return "a custom domain has at least two labels";
	/* the last label is a top-level domain: not all digits (an IPv4 address) */
	{
		const char *tld = strrchr(buf, '.') + 1;

		if (strspn(tld, "0123456789") == strlen(tld))
			return "the name is an IP address, not a domain name";
	}
	return NULL;
}

static char *
normalize_or_error(text *host)
{
	char	   *buf = palloc(MT_HOST_MAX + 1);
	size_t		len = VARSIZE_ANY_EXHDR(host);
	const char *why = mt_domain_normalize(VARDATA_ANY(host), len, buf);

	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid domain name"),
				 errdetail("%s.", why),
				 errhint("Give a DNS name of letters, digits and hyphens; convert internationalized names to A-labels (IDNA 2008, UTS #46) first.")));
	return buf;
}

/* ---------------------------------------------------------------------
 * Admin functions (SECURITY DEFINER, EXECUTE revoked from PUBLIC)
 * --------------------------------------------------------------------- */

/*
 * The tenant's registry row locked (FOR SHARE, so it cannot be suspended or
 * dropped before the caller commits), or 42704 / 55000 unless it exists
 * and is active.  SPI connected, as the caller (mt.tenants' row-level
 * security applies).
 */
void
mt_lock_active_tenant(pg_uuid_t *tenant)
{
	Datum		arg = UUIDPGetDatum(tenant);
	bool		isnull;
	char	   *status;

	status = mt_spi_text("SELECT status FROM mt.tenants WHERE id = $1 FOR SHARE",
						 1, (Oid[]) {UUIDOID}, &arg, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant %s does not exist", mt_uuid_to_cstring(tenant))));
	if (strcmp(status, "active") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("tenant %s is not active", mt_uuid_to_cstring(tenant))));
}

PG_FUNCTION_INFO_V1(mt_add_domain);
Datum
mt_add_domain(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	char	   *host;
	Datum		args[3];
	uint8		rnd[20];
	char		token[64];

	mt_require_coordinator("mt.add_domain()");
	mt_require_writable("mt.add_domain()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 2, "tenant and host");
	tenant = PG_GETARG_UUID_P(0);
	host = normalize_or_error(PG_GETARG_TEXT_PP(1));

	mt_spi_connect();
	mt_lock_active_tenant(tenant);

	/* the claim, or the claim of another tenant, locked */
	args[0] = CStringGetTextDatum(host);
	mt_spi_execute("SELECT tenant_id, verified_at IS NOT NULL FROM mt.domains "
				   "WHERE host = $1 FOR UPDATE", 1, (Oid[]) {TEXTOID}, args, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		bool		n1,
					n2;
		pg_uuid_t  *owner = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &n1));
		bool		verified = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 2, &n2));

		if (memcmp(owner, tenant, sizeof(pg_uuid_t)) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("domain \"%s\" is already claimed by another tenant", host),
					 errdetail(verified ? "The domain is verified for that tenant." :
							   "That tenant's claim is not verified yet."),
					 errhint("A domain belongs to one tenant: remove the other claim first (mt.remove_domain) once you know who controls the name.")));
		if (verified)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("domain \"%s\" is already verified for this tenant", host)));
	}

	if (!pg_strong_random(rnd, sizeof(rnd)))
		elog(ERROR, "could not generate random bytes");
	memcpy(token, "mt-domain-verification=", 23);
	hex_encode((const char *) rnd, sizeof(rnd), token + 23);
	token[23 + 2 * sizeof(rnd)] = '\0';

	args[1] = UUIDPGetDatum(tenant);
	args[2] = CStringGetTextDatum(token);
	mt_spi_execute("INSERT INTO mt.domains (host, tenant_id, verification_token) "
				   "VALUES ($1, $2, $3) ON CONFLICT (host) DO UPDATE "
				   "SET verification_token = excluded.verification_token, "
				   "created_at = pg_catalog.now()",
				   3, (Oid[]) {TEXTOID, UUIDOID, TEXTOID}, args, SPI_OK_INSERT);
	mt_spi_finish();
	mt_audit_record(tenant, "domain.add", "domain", host, 0, NULL);
	PG_RETURN_TEXT_P(cstring_to_text(token));
}

PG_FUNCTION_INFO_V1(mt_verify_domain);
Datum
mt_verify_domain(PG_FUNCTION_ARGS)
{
	char	   *host;
	Datum		args[1];
	pg_uuid_t  *tenant;
	bool		n1,
				n2;
	bool		verified;

	mt_require_coordinator("mt.verify_domain()");
	mt_require_writable("mt.verify_domain()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "host");
	host = normalize_or_error(PG_GETARG_TEXT_PP(0));

	mt_spi_connect();
	args[0] = CStringGetTextDatum(host);
	mt_spi_execute("SELECT tenant_id, verified_at IS NOT NULL FROM mt.domains "
				   "WHERE host = $1 FOR UPDATE", 1, (Oid[]) {TEXTOID}, args, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("domain \"%s\" has not been claimed", host),
				 errhint("Claim it for a tenant with mt.add_domain first.")));
	tenant = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &n1));
	tenant = (pg_uuid_t *) SPI_datumTransfer(UUIDPGetDatum(tenant), false, 16);
	verified = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &n2));
	if (!verified)
		mt_spi_execute("UPDATE mt.domains SET verified_at = pg_catalog.now() WHERE host = $1",
					   1, (Oid[]) {TEXTOID}, args, SPI_OK_UPDATE);
	mt_spi_finish();
	if (!verified)
		mt_audit_record(tenant, "domain.verify", "domain", host, 0, NULL);
	PG_RETURN_UUID_P(tenant);
}

PG_FUNCTION_INFO_V1(mt_remove_domain);
Datum
mt_remove_domain(PG_FUNCTION_ARGS)
{
	char	   *host;
	Datum		args[1];
	pg_uuid_t  *tenant = NULL;
	bool		isnull;

	mt_require_coordinator("mt.remove_domain()");
	mt_require_writable("mt.remove_domain()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "host");
	host = normalize_or_error(PG_GETARG_TEXT_PP(0));

	mt_spi_connect();
	args[0] = CStringGetTextDatum(host);
	mt_spi_execute("DELETE FROM mt.domains WHERE host = $1 RETURNING tenant_id",
				   1, (Oid[]) {TEXTOID}, args, SPI_OK_DELETE_RETURNING);
	if (SPI_processed > 0)
		tenant = (pg_uuid_t *) SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 1,
															   &isnull), false, 16);
	mt_spi_finish();
	if (tenant != NULL)
		mt_audit_record(tenant, "domain.remove", "domain", host, 0, NULL);
	PG_RETURN_BOOL(tenant != NULL);
}

/* ---------------------------------------------------------------------
 * mt.tenant_by_host: routing, for every role, through the primary key
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_tenant_by_host);
Datum
mt_tenant_by_host(PG_FUNCTION_ARGS)
{
	char		buf[MT_HOST_MAX + 1];
	text	   *host;
	Oid			relid;
	Relation	rel;
	MtPkProbe	probe;
	HeapTuple	tup;
	AttrNumber	host_att,
				tenant_att,
				verified_att;
	pg_uuid_t  *result = NULL;
	bool		fresh = !IsInParallelMode();

	mt_require_coordinator("mt.tenant_by_host()");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	host = PG_GETARG_TEXT_PP(0);
	/* a name that does not normalize is no one's domain */
	if (mt_domain_normalize(VARDATA_ANY(host), VARSIZE_ANY_EXHDR(host), buf) != NULL)
		PG_RETURN_NULL();
	relid = mt_catalog_relid("domains");
	if (!OidIsValid(relid) || (!fresh && !ActiveSnapshotSet()))
		PG_RETURN_NULL();

	rel = table_open(relid, AccessShareLock);
	host_att = mt_catalog_attnum(relid, "domains", "host");
	tenant_att = mt_catalog_attnum(relid, "domains", "tenant_id");
	verified_att = mt_catalog_attnum(relid, "domains", "verified_at");
	tup = mt_pk_probe_begin(&probe, rel, host_att, F_TEXTEQ,
							CStringGetTextDatum(buf), fresh);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;

		(void) heap_getattr(tup, verified_att, RelationGetDescr(rel), &isnull);
		if (!isnull)
		{
			Datum		d = heap_getattr(tup, tenant_att, RelationGetDescr(rel), &isnull);

			if (!isnull)
			{
				result = palloc(sizeof(pg_uuid_t));
				memcpy(result, DatumGetUUIDP(d), sizeof(pg_uuid_t));
			}
		}
	}
	mt_pk_probe_end(&probe);
	table_close(rel, AccessShareLock);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(result);
}
