/*-------------------------------------------------------------------------
 *
 * secret_versions.h
 *	  Versions of the server's keys (secret_versions.c): which versions of
 *	  each purpose exist in mt.secret_versions, per-backend cached, and the
 *	  keys of those versions, derived on demand from the master secrets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_SECRET_VERSIONS_H
#define MT_SECRET_VERSIONS_H

#include "postgres.h"

#include "crypto.h"
#include "utils/timestamp.h"

typedef enum MtSecretPurpose
{
	MT_SECRET_TOKEN,			/* signs the tokens mt.tenant_token() mints */
	MT_SECRET_API_KEY,			/* peppers stored API-key hashes */
	MT_SECRET_AUDIT_KEK,		/* wraps audit subject keys */
	MT_SECRET_PURPOSES
} MtSecretPurpose;

typedef enum MtSecretState
{
	MT_SECRET_ACTIVE,			/* new tokens, hashes and wraps use it */
	MT_SECRET_PREVIOUS,			/* still opens what was made with it */
	MT_SECRET_RETIRED			/* opens nothing any more */
} MtSecretState;

typedef struct MtSecretVersion
{
	int			version;
	MtSecretState state;
	bool		implicit;		/* no row: version 1 of the first master */
	char		master[MT_MASTER_FP_LEN + 1];	/* master fingerprint */
	char		fingerprint[MT_KEY_FP_LEN + 1]; /* recorded at creation */
	TimestampTz created_at;		/* 0 when implicit */
	TimestampTz retired_at;		/* 0 when not retired */
} MtSecretVersion;

extern const char *mt_secret_purpose_name(MtSecretPurpose p);
extern bool mt_secret_purpose_from_name(const char *name, MtSecretPurpose *p);
extern const char *mt_secret_state_name(MtSecretState s);

/* the versions of a purpose, oldest first (needs a transaction) */
extern int	mt_secret_versions(MtSecretPurpose p, const MtSecretVersion **out);
extern const MtSecretVersion *mt_secret_version(MtSecretPurpose p, int version);
extern const MtSecretVersion *mt_secret_active(MtSecretPurpose p);
extern bool mt_secret_usable(MtSecretPurpose p, int version);

extern bool mt_secret_original_master_present(void);

/* keys: false when this server's secret file lacks the version's master */
extern bool mt_secret_key(MtSecretPurpose p, int version, const char *master, uint8 *out);
extern bool mt_secret_hmac(MtSecretPurpose p, int version, const char *master,
						   const uint8 *msg, size_t msglen, uint8 *out);
/* the fingerprint this server derives for a version; false as above */
extern bool mt_secret_fingerprint(MtSecretPurpose p, int version, const char *master,
								  char *out);

#endif							/* MT_SECRET_VERSIONS_H */
