/*-------------------------------------------------------------------------
 *
 * audit_keys.c
 *	  Per-subject keys for encrypted audit details (crypto-shredding): key
 *	  creation and lookup in mt.audit_subject_keys, wrapping with the server
 *	  key-encryption key, encryption and decryption of details, and
 *	  forgetting a subject.
 *
 * A subject key is 32 random bytes.  It is stored only wrapped:
 *	  wrapped_key = nonce(24) || crypto_secretbox(key, nonce, KEK)
 * with KEK = version kek_version of the 'audit_kek' key
 * (secret_versions.c; version 1 is mt_derive_key("multitenant audit kek
 * v1")).  New keys are wrapped with the active version;
 * mt.rewrap_audit_keys() moves older rows to it in batches.  Rows are found by
 *	  subject_hash = HMAC-SHA256(mt_derive_key("multitenant audit subject v1"),
 *								 tenant uuid (16 bytes) || subject)
 * so the subject itself is stored nowhere.  Details are encrypted as
 *	  details_enc = nonce(24) || crypto_secretbox(details text, nonce, key)
 * Deleting the key row (mt.audit_forget_subject) makes every details_enc
 * written under it unreadable, while the hash chain, which covers the
 * ciphertext, still verifies.
 *
 * A key that does not unwrap with the current server secret (another
 * secret file after a restore, a damaged row) fails an append under it
 * (XX001) but never a reader: mt_audit_key_by_id reports it sealed and the
 * reader marks the row undecryptable.  Because subject_hash is keyed by the
 * secret too, a subject's key cannot even be found under another secret;
 * mt_audit_tenant_keys_sealed samples a tenant's keys so that subject
 * searches can say they may be incomplete.
 *
 * Plaintext keys live in local buffers only for the duration of a call and
 * are wiped.  No shared state, no locks beyond the row locks of the
 * statements run here (callers hold an SPI connection).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "audit_keys.h"
#include "catalog.h"
#include "crypto.h"
#include "sealed.h"
#include "secret_rotation.h"
#include "secret_versions.h"
#include "spi_util.h"
#include "util.h"

#define WRAPPED_LEN (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + MT_AUDIT_KEY_LEN)

/* keyed hash of (tenant, subject) as the bytea stored in subject_hash */
static bytea *
subject_hash(const pg_uuid_t *tenant, const char *subject)
{
	uint8		k[MT_SECRET_LEN];
	size_t		slen = strlen(subject);
	uint8	   *msg = palloc(UUID_LEN + slen);
	bytea	   *hb = palloc(VARHDRSZ + MT_SHA256_LEN);

	memcpy(msg, tenant->data, UUID_LEN);
	memcpy(msg + UUID_LEN, subject, slen);
	mt_derive_key("multitenant audit subject v1", k);
	SET_VARSIZE(hb, VARHDRSZ + MT_SHA256_LEN);
	mt_hmac_sha256(k, sizeof(k), msg, UUID_LEN + slen, (uint8 *) VARDATA(hb));
	mt_wipe(k, sizeof(k));
	pfree(msg);
	return hb;
}

/*
 * Whether mt.audit_subject_keys has kek_version (0.3.0 and later; the
 * library also serves a database whose extension is not updated yet, where
 * every key is version 1).
 */
static bool
has_kek_version(void)
{
	Oid			relid = mt_catalog_relid("audit_subject_keys");

	return OidIsValid(relid) && get_attnum(relid, "kek_version") != InvalidAttrNumber;
}

/* the KEK of a version that is not retired; false when there is none here */
static bool
kek_of(int version, uint8 *kek)
{
	const MtSecretVersion *v = mt_secret_version(MT_SECRET_AUDIT_KEK, version);

	return v != NULL && v->state != MT_SECRET_RETIRED &&
		mt_secret_key(MT_SECRET_AUDIT_KEK, version, v->master, kek);
}

static bool
unwrap_key(const uint8 *wrapped, int len, int version, uint8 *key)
{
	uint8		kek[MT_SECRET_LEN];
	bool		ok;

	if (len != WRAPPED_LEN || !kek_of(version, kek))
		return false;
	ok = crypto_secretbox_open_easy(key, wrapped + crypto_secretbox_NONCEBYTES,
									len - crypto_secretbox_NONCEBYTES,
									wrapped, kek) == 0;
	mt_wipe(kek, sizeof(kek));
	return ok;
}

/* wraps key with the active KEK version, which goes to *version */
static bytea *
wrap_key(const uint8 *key, int *version)
{
	uint8		kek[MT_SECRET_LEN];
	bytea	   *out = palloc(VARHDRSZ + WRAPPED_LEN);
	uint8	   *p = (uint8 *) VARDATA(out);
	const MtSecretVersion *v = mt_secret_active(MT_SECRET_AUDIT_KEK);

	if (v == NULL || !mt_secret_key(MT_SECRET_AUDIT_KEK, v->version, v->master, kek))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no usable audit key-encryption key"),
				 errdetail(v == NULL ? "Every version of the audit_kek key is retired." :
						   "The secret file lacks the master secret of the active audit_kek version."),
				 errhint("See mt.secret_fingerprints() and doc/operations.md, \"Rotating secrets\".")));
	*version = v->version;
	SET_VARSIZE(out, VARHDRSZ + WRAPPED_LEN);
	mt_random_bytes(p, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(p + crypto_secretbox_NONCEBYTES, key, MT_AUDIT_KEY_LEN, p, kek);
	mt_wipe(kek, sizeof(kek));
	return out;
}

static void
unwrap_or_fail(bytea *wrapped, int version, uint8 *key)
{
	if (!unwrap_key((uint8 *) VARDATA_ANY(wrapped), VARSIZE_ANY_EXHDR(wrapped), version, key))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("an audit subject key cannot be unwrapped"),
				 errhint("The server secret file (multitenant.secret) differs from the one the key was created with.")));
}

/*
 * The subject's key id in tenant's chain, with the plaintext key in *key;
 * created when missing and create is true.  -1 when missing otherwise.
 */
int64
mt_audit_subject_key(const pg_uuid_t *tenant, const char *subject, bool create, uint8 *key)
{
	bytea	   *hb = subject_hash(tenant, subject);
	Datum		args[4];
	int			rc;

	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = PointerGetDatum(hb);

	for (int attempt = 0; attempt < 2; attempt++)
	{
		rc = SPI_execute_with_args(has_kek_version() ?
								   "SELECT id, wrapped_key, kek_version FROM mt.audit_subject_keys "
								   "WHERE tenant_id = $1 AND subject_hash = $2" :
								   "SELECT id, wrapped_key, 1 FROM mt.audit_subject_keys "
								   "WHERE tenant_id = $1 AND subject_hash = $2",
								   2, (Oid[]) {UUIDOID, BYTEAOID}, args, NULL, false, 1);
		if (rc != SPI_OK_SELECT)
			mt_spi_failed("subject key lookup", rc);
		if (SPI_processed > 0)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull));
			bytea	   *w = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 2, &isnull));
			int			ver = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 3, &isnull));

			unwrap_or_fail(w, ver, key);
			return id;
		}
		if (!create || attempt > 0)
			break;

		/* create; a concurrent creator wins the race and we read its row */
		{
			uint8		fresh[MT_AUDIT_KEY_LEN];
			int			ver;

			mt_random_bytes(fresh, sizeof(fresh));
			args[2] = PointerGetDatum(wrap_key(fresh, &ver));
			args[3] = Int32GetDatum(ver);
			mt_secret_record_in_use(MT_SECRET_AUDIT_KEK);
			rc = SPI_execute_with_args(has_kek_version() ?
									   "INSERT INTO mt.audit_subject_keys (tenant_id, subject_hash, wrapped_key, kek_version) "
									   "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, subject_hash) DO NOTHING "
									   "RETURNING id" :
									   "INSERT INTO mt.audit_subject_keys (tenant_id, subject_hash, wrapped_key) "
									   "VALUES ($1, $2, $3) ON CONFLICT (tenant_id, subject_hash) DO NOTHING "
									   "RETURNING id",
									   has_kek_version() ? 4 : 3, (Oid[]) {UUIDOID, BYTEAOID, BYTEAOID, INT4OID}, args, NULL, false, 0);
			if (rc != SPI_OK_INSERT_RETURNING)
				mt_spi_failed("subject key insert", rc);
			if (SPI_processed > 0)
			{
				bool		isnull;
				int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 1, &isnull));

				memcpy(key, fresh, MT_AUDIT_KEY_LEN);
				mt_wipe(fresh, sizeof(fresh));
				return id;
			}
			mt_wipe(fresh, sizeof(fresh));
		}
	}
	if (create)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not create an audit subject key because of a concurrent update"),
				 errhint("Retry the transaction.")));
	return -1;
}

/*
 * The id of the subject's key in tenant's chain without opening it, or -1
 * when there is none (also when the server secret differs from the one the
 * key was created under: subject_hash is keyed by it).
 */
int64
mt_audit_subject_key_id(const pg_uuid_t *tenant, const char *subject)
{
	Datum		args[2];
	bool		isnull;
	Datum		d;

	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = PointerGetDatum(subject_hash(tenant, subject));
	d = mt_spi_value("SELECT id FROM mt.audit_subject_keys WHERE tenant_id = $1 AND subject_hash = $2",
					 2, (Oid[]) {UUIDOID, BYTEAOID}, args, true, &isnull);
	return isnull ? -1 : DatumGetInt64(d);
}

/*
 * The plaintext key of a key id in *key: MT_AUDIT_KEY_OPEN;
 * MT_AUDIT_KEY_DESTROYED when the row is gone (crypto-shredded);
 * MT_AUDIT_KEY_SEALED when the row is there but does not unwrap with the
 * current server secret (another secret file, a damaged row).  Never
 * raises for a key that does not open: readers degrade per row.
 */
MtAuditKeyState
mt_audit_key_by_id(int64 key_id, uint8 *key)
{
	Datum		arg = Int64GetDatum(key_id);
	int			rc;
	bool		isnull;
	bytea	   *w;
	int			version;

	rc = SPI_execute_with_args(has_kek_version() ?
							   "SELECT wrapped_key, kek_version FROM mt.audit_subject_keys WHERE id = $1" :
							   "SELECT wrapped_key, 1 FROM mt.audit_subject_keys WHERE id = $1",
							   1, (Oid[]) {INT8OID}, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		mt_spi_failed("subject key lookup", rc);
	if (SPI_processed == 0)
		return MT_AUDIT_KEY_DESTROYED;
	w = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!unwrap_key((uint8 *) VARDATA_ANY(w), VARSIZE_ANY_EXHDR(w), version, key))
		return MT_AUDIT_KEY_SEALED;
	return MT_AUDIT_KEY_OPEN;
}

/* Does a wrapped_key value of KEK version `version` unwrap here? */
bool
mt_audit_wrapped_key_opens(bytea *wrapped, int version)
{
	uint8		key[MT_AUDIT_KEY_LEN];
	bool		ok;

	ok = unwrap_key((uint8 *) VARDATA_ANY(wrapped), VARSIZE_ANY_EXHDR(wrapped), version, key);
	mt_wipe(key, sizeof(key));
	return ok;
}

/*
 * Sampled: does tenant's chain hold subject keys that the current server
 * secret cannot open?  Tries the tenant's oldest and newest key (two
 * lookups): keys are wrapped under the secret of their creation time, so a
 * restore without the secret file makes every older key fail and a secret
 * put back later makes the keys created meanwhile fail.
 */
bool
mt_audit_tenant_keys_sealed(const pg_uuid_t *tenant)
{
	Datum		arg = UUIDPGetDatum((pg_uuid_t *) tenant);
	bool		sealed = false;
	int			rc;

	rc = SPI_execute_with_args(has_kek_version() ?
							   "SELECT wrapped_key, kek_version FROM mt.audit_subject_keys WHERE id IN ("
							   " SELECT min(id) FROM mt.audit_subject_keys WHERE tenant_id = $1"
							   " UNION ALL SELECT max(id) FROM mt.audit_subject_keys WHERE tenant_id = $1)" :
							   "SELECT wrapped_key, 1 FROM mt.audit_subject_keys WHERE id IN ("
							   " SELECT min(id) FROM mt.audit_subject_keys WHERE tenant_id = $1"
							   " UNION ALL SELECT max(id) FROM mt.audit_subject_keys WHERE tenant_id = $1)",
							   1, (Oid[]) {UUIDOID}, &arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		mt_spi_failed("subject key sample", rc);
	for (uint64 i = 0; i < SPI_processed && !sealed; i++)
	{
		bool		isnull;

		sealed = !mt_audit_wrapped_key_opens(DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i],
																		   SPI_tuptable->tupdesc, 1, &isnull)),
											 DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
																		 SPI_tuptable->tupdesc, 2, &isnull)));
	}
	return sealed;
}

bytea *
mt_audit_encrypt(const uint8 *key, const char *plain, int len)
{
	int			outlen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
	bytea	   *out = palloc(VARHDRSZ + outlen);
	uint8	   *p = (uint8 *) VARDATA(out);

	SET_VARSIZE(out, VARHDRSZ + outlen);
	mt_random_bytes(p, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(p + crypto_secretbox_NONCEBYTES, (const uint8 *) plain, len, p, key);
	return out;
}

/* palloc'd NUL-terminated plaintext, or NULL when it does not authenticate */
char *
mt_audit_decrypt(const uint8 *key, const uint8 *enc, int enclen, int *outlen)
{
	int			len = enclen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
	char	   *out;

	if (len < 0)
		return NULL;
	out = palloc(len + 1);
	if (crypto_secretbox_open_easy((uint8 *) out, enc + crypto_secretbox_NONCEBYTES,
								   enclen - crypto_secretbox_NONCEBYTES, enc, key) != 0)
	{
		pfree(out);
		return NULL;
	}
	out[len] = '\0';
	*outlen = len;
	return out;
}

/*
 * Deletes the subject's key row(s); caller holds an SPI connection.
 * Refuses (55000) when this server's secret file is not the one the keys
 * were made under: the subject's rows could not be found, and an erasure
 * would report success while the details stay readable to anyone who
 * restores the right secret.
 */
int64
mt_audit_delete_subject_keys(const pg_uuid_t *tenant, const char *subject)
{
	bytea	   *hb;
	Datum		args[2];
	int			rc;

	if (!mt_secret_original_master_present())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot forget an audit subject: this server's secret file is not the one its keys were made with"),
				 errdetail("Audit subject keys are found by a key derived from the first master secret in multitenant.secret, which differs from the one recorded in mt.secret_versions."),
				 errhint("Restore the original multitenant.secret (see mt.secret_fingerprints() and doc/operations.md), then retry.")));
	hb = subject_hash(tenant, subject);

	args[0] = UUIDPGetDatum((pg_uuid_t *) tenant);
	args[1] = PointerGetDatum(hb);
	rc = SPI_execute_with_args("DELETE FROM mt.audit_subject_keys WHERE tenant_id = $1 AND subject_hash = $2",
							   2, (Oid[]) {UUIDOID, BYTEAOID}, args, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		mt_spi_failed("subject key delete", rc);
	return (int64) SPI_processed;
}

/*
 * mt.rewrap_audit_keys(batch): re-wraps up to batch subject keys that are
 * wrapped with an older KEK version under the active one, oldest first,
 * skipping rows another session has locked (two runs at once share the
 * work).  Returns how many it re-wrapped; 0 when none is left.  A key that
 * does not unwrap (its version's master is missing here, or it is damaged)
 * is left as it is and reported in a WARNING.
 */
/*
 * Re-seals, under the active audit_kek version, up to limit secrets of one
 * of the sealed-secret tables (TOTP secrets, SSO client secrets: sealed.c)
 * that another version seals.  Returns how many; *failed counts those that
 * do not open (left as they are).  table, column and label are constants
 * of this file.  A database not yet updated to 0.4.0 has no such tables.
 */
static int64
reseal_table(const char *table, const char *column, const char *label,
			 int active, int limit, int64 *failed)
{
	char	   *sql;
	Datum		args[2];
	int			rc;
	int64		done = 0;
	SPITupleTable *tt;
	uint64		n;

	if (limit <= 0 || !OidIsValid(mt_catalog_relid(table)))
		return 0;
	sql = psprintf("SELECT ctid, %s, kek_version FROM mt.%s "
				   "WHERE kek_version OPERATOR(pg_catalog.<>) $1 AND %s IS NOT NULL LIMIT $2 "
				   "FOR UPDATE SKIP LOCKED", column, table, column);
	args[0] = Int32GetDatum(active);
	args[1] = Int32GetDatum(limit);
	rc = SPI_execute_with_args(sql, 2, (Oid[]) {INT4OID, INT4OID}, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		mt_spi_failed("sealed secret rewrap scan", rc);
	tt = SPI_tuptable;
	n = SPI_processed;
	sql = psprintf("UPDATE mt.%s SET %s = $1, kek_version = $2 WHERE ctid OPERATOR(pg_catalog.=) $3",
				   table, column);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		ctid = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
		bytea	   *sealed = DatumGetByteaPP(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		int			ver = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		uint8		plain[MT_SEALED_MAX];
		int			len = mt_unseal(label, sealed, ver, plain);
		Datum		uargs[3];
		int			newver;

		if (len < 0)
		{
			(*failed)++;
			continue;
		}
		uargs[0] = PointerGetDatum(mt_seal(label, plain, len, &newver));
		mt_wipe(plain, sizeof(plain));
		uargs[1] = Int32GetDatum(newver);
		uargs[2] = ctid;
		rc = SPI_execute_with_args(sql, 3, (Oid[]) {BYTEAOID, INT4OID, TIDOID}, uargs, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			mt_spi_failed("sealed secret rewrap", rc);
		done++;
	}
	return done;
}

PG_FUNCTION_INFO_V1(mt_rewrap_audit_keys);
Datum
mt_rewrap_audit_keys(PG_FUNCTION_ARGS)
{
	int32		batch;
	const MtSecretVersion *active;
	int64		done = 0;
	int64		failed = 0;
	Datum		args[2];
	int			rc;

	batch = mt_batch_arg(fcinfo);
	mt_require_writable("mt.rewrap_audit_keys()", MT_WRITES_TABLES);
	active = mt_secret_active(MT_SECRET_AUDIT_KEK);
	if (active == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no active audit_kek version")));

	mt_spi_connect();
	args[0] = Int32GetDatum(active->version);
	args[1] = Int32GetDatum(batch);
	rc = SPI_execute_with_args("SELECT id, wrapped_key, kek_version FROM mt.audit_subject_keys "
							   "WHERE kek_version OPERATOR(pg_catalog.<>) $1 ORDER BY id LIMIT $2 "
							   "FOR UPDATE SKIP LOCKED",
							   2, (Oid[]) {INT4OID, INT4OID}, args, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		mt_spi_failed("subject key rewrap scan", rc);
	{
		SPITupleTable *tt = SPI_tuptable;
		uint64		n = SPI_processed;

		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			bytea	   *w = DatumGetByteaPP(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
			int			ver = DatumGetInt32(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
			uint8		key[MT_AUDIT_KEY_LEN];
			Datum		uargs[3];
			int			newver;

			if (!unwrap_key((uint8 *) VARDATA_ANY(w), VARSIZE_ANY_EXHDR(w), ver, key))
			{
				failed++;
				continue;
			}
			uargs[0] = PointerGetDatum(wrap_key(key, &newver));
			mt_wipe(key, sizeof(key));
			uargs[1] = Int32GetDatum(newver);
			uargs[2] = Int64GetDatum(id);
			rc = SPI_execute_with_args("UPDATE mt.audit_subject_keys SET wrapped_key = $1, kek_version = $2 "
									   "WHERE id OPERATOR(pg_catalog.=) $3",
									   3, (Oid[]) {BYTEAOID, INT4OID, INT8OID}, uargs, NULL, false, 0);
			if (rc != SPI_OK_UPDATE)
				mt_spi_failed("subject key rewrap", rc);
			done++;
		}
	}
	/* then the sealed secrets of TOTP and SSO, within the same batch size */
	done += reseal_table("totp_secrets", "secret_enc", MT_SEAL_LABEL_TOTP,
						 active->version, batch - (int) done, &failed);
	done += reseal_table("sso_providers", "client_secret_enc", MT_SEAL_LABEL_SSO,
						 active->version, batch - (int) done, &failed);
	mt_spi_finish();
	if (failed > 0)
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%lld audit subject keys or sealed secrets could not be opened and were left as they are",
						(long long) failed),
				 errhint("See mt.secret_fingerprints(): the master secret of their audit_kek version may be missing from multitenant.secret.")));
	PG_RETURN_INT64(done);
}
