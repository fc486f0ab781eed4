/*-------------------------------------------------------------------------
 *
 * sealed.c
 *	  Secrets of the identity capabilities (TOTP secrets, SSO client
 *	  secrets) stored encrypted under the extension's key-encryption key:
 *	  sealed = nonce(24) || crypto_secretbox(data, nonce, K) with
 *	  K = HMAC-SHA256(audit_kek version v, purpose label), v recorded by the
 *	  caller beside the ciphertext.  Plaintext keys live in local buffers for
 *	  one call and are wiped.  No shared state, no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "crypto.h"
#include "sealed.h"
#include "secret_versions.h"

#define SEAL_OVERHEAD (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)

static bool
purpose_key(const char *label, int version, uint8 *out)
{
	const MtSecretVersion *v = mt_secret_version(MT_SECRET_AUDIT_KEK, version);
	uint8		kek[MT_SECRET_LEN];

	if (v == NULL || v->state == MT_SECRET_RETIRED ||
		!mt_secret_key(MT_SECRET_AUDIT_KEK, version, v->master, kek))
		return false;
	mt_hmac_sha256(kek, sizeof(kek), (const uint8 *) label, strlen(label), out);
	mt_wipe(kek, sizeof(kek));
	return true;
}

bytea *
mt_seal(const char *label, const uint8 *data, int len, int *version)
{
	const MtSecretVersion *v = mt_secret_active(MT_SECRET_AUDIT_KEK);
	uint8		key[MT_SECRET_LEN];
	bytea	   *out;
	uint8	   *p;

	Assert(len >= 0 && len <= MT_SEALED_MAX);
	if (v == NULL || !purpose_key(label, v->version, key))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no usable key-encryption key to store a secret"),
				 errdetail(v == NULL ? "Every version of the audit_kek key is retired." :
						   "The secret file lacks the master secret of the active audit_kek version."),
				 errhint("See mt.secret_fingerprints() and doc/operations.md, \"Rotating secrets\".")));
	*version = v->version;
	out = palloc(VARHDRSZ + SEAL_OVERHEAD + len);
	SET_VARSIZE(out, VARHDRSZ + SEAL_OVERHEAD + len);
	p = (uint8 *) VARDATA(out);
	mt_random_bytes(p, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(p + crypto_secretbox_NONCEBYTES, data, len, p, key);
	mt_wipe(key, sizeof(key));
	return out;
}

int
mt_unseal(const char *label, bytea *sealed, int version, uint8 *out)
{
	uint8		key[MT_SECRET_LEN];
	int			len = (int) VARSIZE_ANY_EXHDR(sealed) - SEAL_OVERHEAD;
	const uint8 *p = (const uint8 *) VARDATA_ANY(sealed);
	bool		ok;

	if (len < 0 || len > MT_SEALED_MAX || !purpose_key(label, version, key))
		return -1;
	ok = crypto_secretbox_open_easy(out, p + crypto_secretbox_NONCEBYTES,
									len + crypto_secretbox_MACBYTES, p, key) == 0;
	mt_wipe(key, sizeof(key));
	return ok ? len : -1;
}
