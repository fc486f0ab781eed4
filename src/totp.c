/*-------------------------------------------------------------------------
 *
 * totp.c
 *	  TOTP second factor (RFC 6238 over RFC 4226 HOTP; SHA-1, SHA-256,
 *	  SHA-512; 6 to 8 digits; 30 s steps): enrolment (mt.totp_enroll, the
 *	  secret generated here and stored encrypted, the otpauth:// URI
 *	  returned once), verification with a +-1 step window and replay
 *	  protection (mt.totp_verify), single-use recovery codes stored hashed
 *	  (mt.totp_recovery_codes), removal (mt.totp_disable), the pure code
 *	  function (mt.totp_code, for tests and RFC vectors), and the MFA marker
 *	  of the current context (mt.current_mfa).
 *
 * A secret is stored sealed (sealed.c, label "multitenant totp secret v1":
 * secretbox under a key derived from audit_kek version kek_version).  Recovery codes are stored as
 *	  HMAC-SHA256(mt_derive_key("multitenant totp recovery v1"),
 *				  tenant uuid || subject || 0 || code)
 * Plaintext secrets live in local buffers for one call and are wiped.
 *
 * Locks: verification and enrolment lock the subject's row (SELECT ... FOR
 * UPDATE), so two sessions cannot accept the same code.  The MFA marker
 * (mfa.c, below authz.c, which reads it for the security policy rule
 * mfa_required_for) is set by a successful verification of the context's
 * own subject, valid while the context (mt_context_generation) is the one
 * it was set in, dropped when the verifying transaction aborts.
 *
 *-------------------------------------------------------------------------
 */
#include "citus_node.h"
#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "audit.h"
#include "context.h"
#include "crypto.h"
#include "mfa.h"
#include "sealed.h"
#include "spi_util.h"
#include "util.h"

#define TOTP_PERIOD 30
#define TOTP_SUBJECT_MAX 200
#define TOTP_RECOVERY_CODES 10
#define TOTP_RECOVERY_LEN 10	/* base32 characters, shown as xxxxx-xxxxx */
#define TOTP_MAX_FAILURES 5		/* consecutive failures before the pause */
#define TOTP_PAUSE_SECONDS 300
#define SECRET_MAX 64

static const char b32alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* ---------------------------------------------------------------------
 * HOTP / TOTP
 * --------------------------------------------------------------------- */

static const EVP_MD *
totp_md(const char *alg, int *keylen)
{
	if (strcmp(alg, "SHA1") == 0)
	{
		*keylen = 20;
		return EVP_sha1();
	}
	if (strcmp(alg, "SHA256") == 0)
	{
		*keylen = 32;
		return EVP_sha256();
	}
	if (strcmp(alg, "SHA512") == 0)
	{
		*keylen = 64;
		return EVP_sha512();
	}
	return NULL;
}

static const EVP_MD *
totp_md_or_error(const char *alg, int *keylen)
{
	const EVP_MD *md = totp_md(alg, keylen);

	if (md == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown TOTP algorithm \"%s\"", alg),
				 errhint("Use SHA1, SHA256 or SHA512.")));
	return md;
}

static void
check_digits(int digits)
{
	if (digits < 6 || digits > 8)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("TOTP codes have 6 to 8 digits, not %d", digits)));
}

/* RFC 4226 HOTP value of counter, as a number below 10^digits */
static uint32
hotp(const EVP_MD *md, const uint8 *key, int keylen, uint64 counter, int digits)
{
	uint8		msg[8];
	uint8		mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int			off;
	uint32		bin;
	static const uint32 pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000,
	10000000, 100000000};

	for (int i = 7; i >= 0; i--)
	{
		msg[i] = counter & 0xff;
		counter >>= 8;
	}
	if (HMAC(md, key, keylen, msg, sizeof(msg), mac, &maclen) == NULL)
		elog(ERROR, "HMAC failed");
	off = mac[maclen - 1] & 0x0f;
	bin = ((uint32) (mac[off] & 0x7f) << 24) | ((uint32) mac[off + 1] << 16) |
		((uint32) mac[off + 2] << 8) | (uint32) mac[off + 3];
	mt_wipe(mac, sizeof(mac));
	return bin % pow10[digits];
}

/* the time step of a timestamp (Unix seconds / 30) */
static int64
totp_step(TimestampTz t)
{
	int64		unix_s = (t / USECS_PER_SEC) +
		((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY);

	if (t < 0 && t % USECS_PER_SEC != 0)
		unix_s--;
	return unix_s >= 0 ? unix_s / TOTP_PERIOD : -1;
}

PG_FUNCTION_INFO_V1(mt_totp_code);
Datum
mt_totp_code(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(1);
	char	   *alg = text_to_cstring(PG_GETARG_TEXT_PP(2));
	int			digits = PG_GETARG_INT32(3);
	int			keylen;
	const EVP_MD *md = totp_md_or_error(alg, &keylen);
	int64		step = totp_step(at);

	check_digits(digits);
	if (VARSIZE_ANY_EXHDR(key) < 1 || VARSIZE_ANY_EXHDR(key) > SECRET_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a TOTP key has 1 to %d bytes", SECRET_MAX)));
	if (step < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("TOTP time steps start at the Unix epoch")));
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%0*u", digits,
											  hotp(md, (uint8 *) VARDATA_ANY(key),
												   VARSIZE_ANY_EXHDR(key), step, digits))));
}

/* ---------------------------------------------------------------------
 * Secrets at rest
 * --------------------------------------------------------------------- */


static int
open_secret(bytea *enc, int version, uint8 *secret)
{
	uint8		buf[MT_SEALED_MAX];
	int			len = mt_unseal(MT_SEAL_LABEL_TOTP, enc, version, buf);

	if (len < 1 || len > SECRET_MAX)
	{
		mt_wipe(buf, sizeof(buf));
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a TOTP secret cannot be decrypted"),
				 errhint("The server secret file (multitenant.secret) differs from the one the secret was enrolled with, or its key version was retired.")));
	}
	memcpy(secret, buf, len);
	mt_wipe(buf, sizeof(buf));
	return len;
}

/* ---------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */

static char *
checked_subject(FunctionCallInfo fcinfo, int argno)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(argno));

	if (s[0] == '\0' || strlen(s) > TOTP_SUBJECT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a TOTP subject is 1 to %d bytes", TOTP_SUBJECT_MAX)));
	return s;
}

static char *
base32(const uint8 *data, int len)
{
	StringInfoData s;
	uint32		buf = 0;
	int			bits = 0;

	initStringInfo(&s);
	for (int i = 0; i < len; i++)
	{
		buf = (buf << 8) | data[i];
		bits += 8;
		while (bits >= 5)
		{
			appendStringInfoChar(&s, b32alpha[(buf >> (bits - 5)) & 31]);
			bits -= 5;
		}
	}
	if (bits > 0)
		appendStringInfoChar(&s, b32alpha[(buf << (5 - bits)) & 31]);
	return s.data;
}

/* percent-encoding of an otpauth label or parameter (RFC 3986 unreserved kept) */
static void
append_pct(StringInfo s, const char *v)
{
	for (const unsigned char *p = (const unsigned char *) v; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			appendStringInfoChar(s, *p);
		else
			appendStringInfo(s, "%%%02X", *p);
	}
}

static bytea *
recovery_hash(const pg_uuid_t *tenant, const char *subject, const char *code)
{
	uint8		key[MT_SECRET_LEN];
	StringInfoData m;
	bytea	   *out = palloc(VARHDRSZ + MT_SHA256_LEN);

	mt_load_server_secret();
	mt_derive_key("multitenant totp recovery v1", key);
	initStringInfo(&m);
	appendBinaryStringInfo(&m, (const char *) tenant->data, UUID_LEN);
	appendBinaryStringInfo(&m, subject, strlen(subject) + 1);
	appendStringInfoString(&m, code);
	SET_VARSIZE(out, VARHDRSZ + MT_SHA256_LEN);
	mt_hmac_sha256(key, sizeof(key), (const uint8 *) m.data, m.len, (uint8 *) VARDATA(out));
	mt_wipe(key, sizeof(key));
	mt_wipe(m.data, m.len);
	return out;
}

/* ---------------------------------------------------------------------
 * The MFA marker of the current context
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_current_mfa);
Datum
mt_current_mfa(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(mt_mfa_current());
}

/* ---------------------------------------------------------------------
 * Enrolment, recovery codes, removal (tenant context)
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(mt_totp_enroll);
Datum
mt_totp_enroll(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant;
	char	   *subject;
	char	   *alg;
	int			digits;
	int			keylen;
	uint8		secret[SECRET_MAX];
	int			version;
	bytea	   *enc;
	Datum		args[6];
	bool		isnull;
	char	   *issuer;
	char	   *b32;
	StringInfoData uri;

	mt_require_coordinator("mt.totp_enroll()");
	mt_require_writable("mt.totp_enroll()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 3, "subject, algorithm and digits");
	tenant = mt_require_context_tenant();
	subject = checked_subject(fcinfo, 0);
	alg = text_to_cstring(PG_GETARG_TEXT_PP(1));
	digits = PG_GETARG_INT32(2);
	(void) totp_md_or_error(alg, &keylen);
	check_digits(digits);

	mt_spi_connect();
	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = CStringGetTextDatum(subject);
	issuer = mt_spi_text("SELECT name FROM mt.tenants WHERE id = $1", 1,
						 (Oid[]) {UUIDOID}, args, &isnull);
	if (isnull)
		issuer = "multitenant";
	if (mt_spi_exists("SELECT 1 FROM mt.totp_secrets WHERE tenant_id = $1 AND subject = $2 FOR UPDATE",
					  2, (Oid[]) {UUIDOID, TEXTOID}, args))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("subject \"%s\" already has a TOTP secret", subject),
				 errdetail("An enrolment's secret is shown once; it is never replaced silently."),
				 errhint("Remove it first with mt.totp_disable(subject), after checking who asks.")));

	mt_random_bytes(secret, keylen);
	enc = mt_seal(MT_SEAL_LABEL_TOTP, secret, keylen, &version);
	args[2] = CStringGetTextDatum(alg);
	args[3] = Int32GetDatum(digits);
	args[4] = Int32GetDatum(version);
	args[5] = PointerGetDatum(enc);
	mt_spi_execute("INSERT INTO mt.totp_secrets (tenant_id, subject, algorithm, digits, "
				   "kek_version, secret_enc) VALUES ($1, $2, $3, $4, $5, $6)",
				   6, (Oid[]) {UUIDOID, TEXTOID, TEXTOID, INT4OID, INT4OID, BYTEAOID},
				   args, SPI_OK_INSERT);
	mt_spi_finish();

	b32 = base32(secret, keylen);
	mt_wipe(secret, sizeof(secret));
	initStringInfo(&uri);
	appendStringInfoString(&uri, "otpauth://totp/");
	append_pct(&uri, issuer);
	appendStringInfoChar(&uri, ':');
	append_pct(&uri, subject);
	appendStringInfo(&uri, "?secret=%s&issuer=", b32);
	append_pct(&uri, issuer);
	appendStringInfo(&uri, "&algorithm=%s&digits=%d&period=%d", alg, digits, TOTP_PERIOD);
	mt_wipe(b32, strlen(b32));
	mt_audit_record(tenant, "totp.enroll", "totp", subject, 2,
					(const char *[]) {"algorithm", alg, "digits", psprintf("%d", digits)});
	PG_RETURN_TEXT_P(cstring_to_text(uri.data));
}

PG_FUNCTION_INFO_V1(mt_totp_disable);
Datum
mt_totp_disable(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant;
	char	   *subject;
	Datum		args[2];
	int			n;

	mt_require_coordinator("mt.totp_disable()");
	mt_require_writable("mt.totp_disable()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "subject");
	tenant = mt_require_context_tenant();
	subject = checked_subject(fcinfo, 0);
	mt_spi_connect();
	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = CStringGetTextDatum(subject);
	mt_spi_execute("DELETE FROM mt.totp_secrets WHERE tenant_id = $1 AND subject = $2",
				   2, (Oid[]) {UUIDOID, TEXTOID}, args, SPI_OK_DELETE);
	n = (int) SPI_processed;
	mt_spi_finish();
	if (n > 0)
		mt_audit_record(tenant, "totp.disable", "totp", subject, 0, NULL);
	PG_RETURN_BOOL(n > 0);
}

PG_FUNCTION_INFO_V1(mt_totp_recovery_codes);
Datum
mt_totp_recovery_codes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const pg_uuid_t *tenant;
	char	   *subject;
	Datum		args[3];
	char	   *codes[TOTP_RECOVERY_CODES];

	mt_require_coordinator("mt.totp_recovery_codes()");
	mt_require_writable("mt.totp_recovery_codes()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "subject");
	tenant = mt_require_context_tenant();
	subject = checked_subject(fcinfo, 0);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	mt_spi_connect();
	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = CStringGetTextDatum(subject);
	if (!mt_spi_exists("SELECT 1 FROM mt.totp_secrets WHERE tenant_id = $1 AND subject = $2 FOR UPDATE",
					   2, (Oid[]) {UUIDOID, TEXTOID}, args))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subject \"%s\" has no TOTP enrolment", subject),
				 errhint("Enrol it first with mt.totp_enroll(subject).")));
	mt_spi_execute("DELETE FROM mt.totp_recovery_codes WHERE tenant_id = $1 AND subject = $2",
				   2, (Oid[]) {UUIDOID, TEXTOID}, args, SPI_OK_DELETE);
	for (int i = 0; i < TOTP_RECOVERY_CODES; i++)
	{
		uint8		rnd[TOTP_RECOVERY_LEN];
		char		code[TOTP_RECOVERY_LEN + 2];
		int			k = 0;

		mt_random_bytes(rnd, sizeof(rnd));
		for (int j = 0; j < TOTP_RECOVERY_LEN; j++)
		{
			if (j == TOTP_RECOVERY_LEN / 2)
				code[k++] = '-';
			code[k++] = b32alpha[rnd[j] & 31];
		}
		code[k] = '\0';
		codes[i] = pstrdup(code);
		args[2] = PointerGetDatum(recovery_hash(tenant, subject, code));
		mt_spi_execute("INSERT INTO mt.totp_recovery_codes (tenant_id, subject, code_hash) "
					   "VALUES ($1, $2, $3)", 3, (Oid[]) {UUIDOID, TEXTOID, BYTEAOID},
					   args, SPI_OK_INSERT);
	}
	mt_spi_finish();
	for (int i = 0; i < TOTP_RECOVERY_CODES; i++)
	{
		Datum		v = CStringGetTextDatum(codes[i]);
		bool		n = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &n);
	}
	mt_audit_record(tenant, "totp.recovery_codes", "totp", subject, 0, NULL);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Verification
 * --------------------------------------------------------------------- */

/* a recovery code as typed (any case, the hyphen optional) into XXXXX-XXXXX */
static bool
normalize_recovery(const char *in, char *out)
{
	char		buf[TOTP_RECOVERY_LEN];
	int			n = 0;

	for (int i = 0; in[i] != '\0'; i++)
	{
		char		c = in[i];

		if (c == '-' && i == TOTP_RECOVERY_LEN / 2)
			continue;
		if (c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')) || n >= TOTP_RECOVERY_LEN)
			return false;
		buf[n++] = c;
	}
	if (n != TOTP_RECOVERY_LEN)
		return false;
	memcpy(out, buf, TOTP_RECOVERY_LEN / 2);
	out[TOTP_RECOVERY_LEN / 2] = '-';
	memcpy(out + TOTP_RECOVERY_LEN / 2 + 1, buf + TOTP_RECOVERY_LEN / 2, TOTP_RECOVERY_LEN / 2);
	out[TOTP_RECOVERY_LEN + 1] = '\0';
	return true;
}

PG_FUNCTION_INFO_V1(mt_totp_verify);
Datum
mt_totp_verify(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant;
	char	   *subject;
	char	   *code;
	size_t		codelen;
	Datum		args[3];
	HeapTuple	row;
	TupleDesc	desc;
	bool		isnull;
	char	   *alg;
	int			digits;
	int			version;
	int64		last_step;
	int			failures;
	bool		paused;
	bytea	   *enc;
	bool		all_digits = true;
	char		recovery[TOTP_RECOVERY_LEN + 2] = {0};
	bool		ok = false;
	int64		matched = -1;

	mt_require_coordinator("mt.totp_verify()");
	mt_require_writable("mt.totp_verify()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 2, "subject and code");
	tenant = mt_require_context_tenant();
	subject = checked_subject(fcinfo, 0);
	code = text_to_cstring(PG_GETARG_TEXT_PP(1));
	codelen = strlen(code);
	for (size_t i = 0; i < codelen; i++)
		if (code[i] < '0' || code[i] > '9')
			all_digits = false;

	mt_spi_connect();
	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = CStringGetTextDatum(subject);
	mt_spi_execute("SELECT algorithm, digits, kek_version, last_step, failures, "
				   "coalesce(last_failure > pg_catalog.now() - pg_catalog.make_interval(secs => "
				   CppAsString2(TOTP_PAUSE_SECONDS) "), false), secret_enc "
				   "FROM mt.totp_secrets WHERE tenant_id = $1 AND subject = $2 FOR UPDATE",
				   2, (Oid[]) {UUIDOID, TEXTOID}, args, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subject \"%s\" has no TOTP enrolment", subject),
				 errhint("Enrol it first with mt.totp_enroll(subject).")));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	alg = TextDatumGetCString(SPI_getbinval(row, desc, 1, &isnull));
	digits = DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull));
	version = DatumGetInt32(SPI_getbinval(row, desc, 3, &isnull));
	last_step = DatumGetInt64(SPI_getbinval(row, desc, 4, &isnull));
	failures = DatumGetInt32(SPI_getbinval(row, desc, 5, &isnull));
	paused = DatumGetBool(SPI_getbinval(row, desc, 6, &isnull)) && failures >= TOTP_MAX_FAILURES;
	enc = DatumGetByteaPCopy(SPI_getbinval(row, desc, 7, &isnull));

	if (!(all_digits && (int) codelen == digits) && !normalize_recovery(code, recovery))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed TOTP code"),
				 errdetail("Subject \"%s\" uses %d-digit codes; a recovery code is 10 letters and digits (xxxxx-xxxxx).",
						   subject, digits)));

	if (paused)
		ok = false;				/* too many failures: nothing is checked */
	else if (recovery[0] != '\0')
	{
		args[2] = PointerGetDatum(recovery_hash(tenant, subject, recovery));
		mt_spi_execute("UPDATE mt.totp_recovery_codes SET used_at = pg_catalog.now() "
					   "WHERE tenant_id = $1 AND subject = $2 AND code_hash = $3 "
					   "AND used_at IS NULL", 3, (Oid[]) {UUIDOID, TEXTOID, BYTEAOID},
					   args, SPI_OK_UPDATE);
		ok = SPI_processed == 1;
	}
	else
	{
		uint8		secret[SECRET_MAX];
		int			keylen;
		int			len = open_secret(enc, version, secret);
		const EVP_MD *md = totp_md_or_error(alg, &keylen);
		int64		now = totp_step(GetCurrentTimestamp());
		uint32		want = (uint32) strtoul(code, NULL, 10);

		/* every candidate is computed: no early exit */
		for (int64 s = now - 1; s <= now + 1; s++)
		{
			uint32		got = hotp(md, secret, len, (uint64) s, digits);

			if (s > last_step && mt_ct_equal(&got, &want, sizeof(got)) && matched < 0)
				matched = s;
		}
		mt_wipe(secret, sizeof(secret));
		ok = matched >= 0;
	}

	if (ok)
	{
		args[2] = Int64GetDatum(matched >= 0 ? matched : last_step);
		mt_spi_execute("UPDATE mt.totp_secrets SET last_step = $3, failures = 0, "
					   "last_failure = NULL, last_used_at = pg_catalog.now() "
					   "WHERE tenant_id = $1 AND subject = $2",
					   3, (Oid[]) {UUIDOID, TEXTOID, INT8OID}, args, SPI_OK_UPDATE);
	}
	else if (!paused)
		mt_spi_execute("UPDATE mt.totp_secrets SET failures = failures + 1, "
					   "last_failure = pg_catalog.now() "
					   "WHERE tenant_id = $1 AND subject = $2",
					   2, (Oid[]) {UUIDOID, TEXTOID}, args, SPI_OK_UPDATE);
	mt_spi_finish();
	if (ok)
		mt_mfa_mark(tenant, subject);
	if (ok && recovery[0] != '\0')
		mt_audit_record(tenant, "totp.recovery_code_used", "totp", subject, 0, NULL);
	PG_RETURN_BOOL(ok);
}
