/*-------------------------------------------------------------------------
 *
 * secret_rotation.c
 *	  Rotation of the server's keys: mt.rotate_secret(purpose) adds a new
 *	  version derived from the newest master secret and makes it active,
 *	  mt.retire_secret(purpose, version, force) retires a previous one,
 *	  mt.secret_fingerprints() shows every version with the fingerprint this
 *	  server derives for it (and whether it matches the one recorded when
 *	  the version was created), and mt_secret_record_in_use() writes the
 *	  implicit version 1 as a row once a key or subject key depends on it,
 *	  so that a restore under another secret is noticed.
 *
 * What each purpose's versions mean to its users (secret_versions.c):
 * tokens carry their version in the "kid" header and verify while it is not
 * retired; API keys carry theirs in mt.api_key_secrets.pepper_version and
 * are re-hashed under the active version at their next successful use
 * (api_keys.c); audit subject keys carry theirs in kek_version and are
 * re-wrapped by mt.rewrap_audit_keys() (audit_keys.c).
 *
 * Locks: rotation and retirement take SHARE ROW EXCLUSIVE on
 * mt.secret_versions (one change at a time; readers are not blocked).
 * Retirement then waits for the transactions holding write locks on the
 * table of the version's users (WaitForLockers, no lock queued) before it
 * counts them with a fresh snapshot.  The
 * table's statement trigger publishes the change to every backend's cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "crypto.h"
#include "secret_rotation.h"
#include "secret_versions.h"
#include "spi_util.h"
#include "util.h"

static MtSecretPurpose
purpose_arg(text *t)
{
	char	   *name = text_to_cstring(t);
	MtSecretPurpose p;

	if (!mt_secret_purpose_from_name(name, &p))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown secret purpose \"%s\"", name),
				 errhint("The purposes are token, api_key and audit_kek.")));
	return p;
}

/* INSERT of one version row; SPI connected, as the extension owner */
static void
insert_version(MtSecretPurpose p, int version, const char *master, const char *state)
{
	char		fp[MT_KEY_FP_LEN + 1];
	Datum		args[5];

	if (!mt_secret_fingerprint(p, version, master, fp))
		elog(ERROR, "multitenant: master secret %s is not loaded", master);
	args[0] = CStringGetTextDatum(mt_secret_purpose_name(p));
	args[1] = Int32GetDatum(version);
	args[2] = CStringGetTextDatum(master);
	args[3] = CStringGetTextDatum(fp);
	args[4] = CStringGetTextDatum(state);
	(void) mt_catalog_execute("INSERT INTO mt.secret_versions (purpose, version, master, fingerprint, state) "
							  "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
							  5, (Oid[]) {TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID}, args, NULL);
}

/*
 * Once an API key or an audit subject key depends on the implicit version
 * 1 of a purpose, record it with its fingerprint: a copy of the database
 * restored under another secret then shows the mismatch
 * (mt.secret_fingerprints(), compliance).  Cheap when already recorded (a
 * cache lookup); nothing on a hot standby.
 */
void
mt_secret_record_in_use(MtSecretPurpose p)
{
	const MtSecretVersion *v = mt_secret_active(p);

	if (v == NULL || !v->implicit || RecoveryInProgress() ||
		!OidIsValid(mt_catalog_relid("secret_versions")))	/* 0.2.0 SQL */
		return;
	insert_version(p, v->version, v->master, "active");
}

static void
lock_versions(void)
{
	(void) mt_catalog_execute("LOCK TABLE mt.secret_versions IN SHARE ROW EXCLUSIVE MODE",
							  0, NULL, NULL, NULL);
}

/* the highest version and the state of `version` (NULL if no row), locked */
static int
read_rows(MtSecretPurpose p, int version, char **state)
{
	Datum		args[2];
	bool		isnull;
	int			max;

	args[0] = CStringGetTextDatum(mt_secret_purpose_name(p));
	args[1] = Int32GetDatum(version);
	max = DatumGetInt32(mt_spi_value("SELECT COALESCE(pg_catalog.max(version), 0) "
									 "FROM mt.secret_versions WHERE purpose OPERATOR(pg_catalog.=) $1",
									 1, (Oid[]) {TEXTOID}, args, false, NULL));
	*state = mt_spi_text("SELECT state FROM mt.secret_versions "
						 "WHERE purpose OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
						 2, (Oid[]) {TEXTOID, INT4OID}, args, &isnull);
	return max;
}

PG_FUNCTION_INFO_V1(mt_rotate_secret);
Datum
mt_rotate_secret(PG_FUNCTION_ARGS)
{
	MtSecretPurpose p;
	int			max;
	int			newest;
	char	   *state;
	Datum		args[1];

	mt_require_args(fcinfo, 1, "purpose");
	p = purpose_arg(PG_GETARG_TEXT_PP(0));
	mt_require_writable("mt.rotate_secret()", MT_WRITES_TABLES);
	mt_reload_masters_strict();	/* a master line appended since start */
	newest = mt_master_count() - 1;

	mt_spi_connect();
	lock_versions();
	max = read_rows(p, 1, &state);
	if (max == 0)
	{
		/* the implicit version 1 becomes a row first */
		insert_version(p, 1, mt_master_fingerprint(0), "previous");
		max = 1;
	}
	if (max >= 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many versions of the %s key", mt_secret_purpose_name(p))));
	args[0] = CStringGetTextDatum(mt_secret_purpose_name(p));
	(void) mt_catalog_execute("UPDATE mt.secret_versions SET state = 'previous' "
							  "WHERE purpose OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'active'",
							  1, (Oid[]) {TEXTOID}, args, NULL);
	insert_version(p, max + 1, mt_master_fingerprint(newest), "active");
	mt_spi_finish();
	PG_RETURN_INT32(max + 1);
}

/*
 * Before counting the users of a version it retires: waits until every
 * transaction that holds a write lock on the table of those users
 * (mt.api_key_secrets, mt.audit_subject_keys) has ended, without queueing
 * a lock that would hold up new writers (as CREATE INDEX CONCURRENTLY
 * waits).  A key or subject key made with the version by a transaction
 * still open when the version was retired would otherwise be committed
 * afterwards, unusable.  The count that follows uses a fresh snapshot.
 */
static void
wait_for_writers(MtSecretPurpose p)
{
	Oid			relid;
	LOCKTAG		tag;

	if (p == MT_SECRET_API_KEY)
		relid = mt_catalog_relid("api_key_secrets");
	else if (p == MT_SECRET_AUDIT_KEK)
		relid = mt_catalog_relid("audit_subject_keys");
	else
		return;
	if (!OidIsValid(relid))
		return;
	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	WaitForLockers(tag, ShareLock, false);
}

/* how many live keys (api_key) or subject keys (audit_kek) use a version */
static int64
in_use(MtSecretPurpose p, int version)
{
	Datum		arg = Int32GetDatum(version);

	if (p == MT_SECRET_API_KEY)
		return DatumGetInt64(mt_spi_value("SELECT pg_catalog.count(*) FROM mt.api_key_secrets "
										  "WHERE pepper_version OPERATOR(pg_catalog.=) $1 AND revoked_at IS NULL "
										  "AND (expires_at IS NULL OR expires_at OPERATOR(pg_catalog.>) pg_catalog.now())",
										  1, (Oid[]) {INT4OID}, &arg, true, NULL));
	if (p == MT_SECRET_AUDIT_KEK)
	{
		int64		n = DatumGetInt64(mt_spi_value("SELECT pg_catalog.count(*) FROM mt.audit_subject_keys "
												   "WHERE kek_version OPERATOR(pg_catalog.=) $1",
												   1, (Oid[]) {INT4OID}, &arg, true, NULL));

		/* TOTP secrets are sealed under a key derived from it (sealed.c; 0.4.0) */
		if (OidIsValid(mt_catalog_relid("totp_secrets")))
			n += DatumGetInt64(mt_spi_value("SELECT pg_catalog.count(*) FROM mt.totp_secrets "
											"WHERE kek_version OPERATOR(pg_catalog.=) $1",
											1, (Oid[]) {INT4OID}, &arg, true, NULL));
		/* and SSO client secrets (sso.c; 0.4.0) */
		if (OidIsValid(mt_catalog_relid("sso_providers")))
			n += DatumGetInt64(mt_spi_value("SELECT pg_catalog.count(*) FROM mt.sso_providers "
											"WHERE kek_version OPERATOR(pg_catalog.=) $1",
											1, (Oid[]) {INT4OID}, &arg, true, NULL));
		return n;
	}
	return -1;					/* tokens: not tracked */
}

PG_FUNCTION_INFO_V1(mt_retire_secret);
Datum
mt_retire_secret(PG_FUNCTION_ARGS)
{
	MtSecretPurpose p;
	int32		version;
	bool		force;
	char	   *state;
	int64		users;
	Datum		args[2];

	mt_require_args(fcinfo, 3, "purpose, version and force");
	p = purpose_arg(PG_GETARG_TEXT_PP(0));
	version = PG_GETARG_INT32(1);
	force = PG_GETARG_BOOL(2);
	mt_require_writable("mt.retire_secret()", MT_WRITES_TABLES);

	mt_spi_connect();
	lock_versions();
	(void) read_rows(p, version, &state);
	if (state == NULL)
	{
		const MtSecretVersion *v = mt_secret_version(p, version);

		if (v != NULL && v->implicit)
			state = "active";
		else
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("version %d of the %s key does not exist", version, mt_secret_purpose_name(p))));
	}
	if (strcmp(state, "active") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("version %d of the %s key is the active one", version, mt_secret_purpose_name(p)),
				 errhint("Rotate first: SELECT mt.rotate_secret('%s').", mt_secret_purpose_name(p))));
	if (strcmp(state, "retired") == 0)
	{
		mt_spi_finish();
		PG_RETURN_VOID();
	}
	wait_for_writers(p);
	PushActiveSnapshot(GetLatestSnapshot());
	users = in_use(p, version);
	PopActiveSnapshot();
	if (users > 0 && (p == MT_SECRET_AUDIT_KEK || !force))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("version %d of the %s key is still in use", version, mt_secret_purpose_name(p)),
				 p == MT_SECRET_AUDIT_KEK ?
				 errdetail("%lld audit subject keys, TOTP secrets or SSO client secrets are encrypted with it; retiring it would make them unreadable.",
						   (long long) users) :
				 errdetail("%lld API keys were hashed with it and have not been used since the rotation.",
						   (long long) users),
				 p == MT_SECRET_AUDIT_KEK ?
				 errhint("Run SELECT mt.rewrap_audit_keys() until it returns 0 (it re-wraps the audit subject keys and re-seals TOTP and SSO secrets), then retire.") :
				 errhint("Wait until the keys have been used (they are re-hashed then; SELECT mt.flush_api_key_usage() writes waiting re-hashes), or pass force => true: those keys stop working.")));
	args[0] = CStringGetTextDatum(mt_secret_purpose_name(p));
	args[1] = Int32GetDatum(version);
	(void) mt_catalog_execute("UPDATE mt.secret_versions SET state = 'retired', retired_at = pg_catalog.now() "
							  "WHERE purpose OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
							  2, (Oid[]) {TEXTOID, INT4OID}, args, NULL);
	mt_spi_finish();
	PG_RETURN_VOID();
}

/*
 * mt.secret_fingerprints(): one row per version of every purpose.  Works
 * on a hot standby and in read-only transactions (it only reads).
 */
PG_FUNCTION_INFO_V1(mt_secret_fingerprints);
Datum
mt_secret_fingerprints(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	mt_spi_connect();
	for (int p = 0; p < MT_SECRET_PURPOSES; p++)
	{
		const MtSecretVersion *cached;
		int			n = mt_secret_versions((MtSecretPurpose) p, &cached);
		MtSecretVersion *vs = palloc(sizeof(MtSecretVersion) * Max(n, 1));

		/* a copy: the queries below may process invalidations */
		memcpy(vs, cached, sizeof(MtSecretVersion) * n);

		for (int i = 0; i < n; i++)
		{
			const MtSecretVersion *v = &vs[i];
			Datum		values[9];
			bool		nulls[9] = {0};
			char		fp[MT_KEY_FP_LEN + 1];
			bool		have = mt_secret_fingerprint((MtSecretPurpose) p, v->version, v->master, fp);
			int64		users = in_use((MtSecretPurpose) p, v->version);

			values[0] = CStringGetTextDatum(mt_secret_purpose_name((MtSecretPurpose) p));
			values[1] = Int32GetDatum(v->version);
			if (have)
				values[2] = CStringGetTextDatum(fp);
			else
				nulls[2] = true;
			values[3] = BoolGetDatum(v->state == MT_SECRET_ACTIVE);
			values[4] = CStringGetTextDatum(mt_secret_state_name(v->state));
			values[5] = CStringGetTextDatum(v->master);
			if (v->implicit)
				nulls[6] = true;
			else
				values[6] = CStringGetTextDatum(v->fingerprint);
			values[7] = BoolGetDatum(have && (v->implicit || strcmp(fp, v->fingerprint) == 0));
			if (users < 0)
				nulls[8] = true;
			else
				values[8] = Int64GetDatum(users);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	mt_spi_finish();
	return (Datum) 0;
}
