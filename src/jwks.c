/*-------------------------------------------------------------------------
 *
 * jwks.c
 *	  Public keys of external identity providers and the verification of
 *	  their token signatures: the GUCs multitenant.jwks (a JWKS document)
 *	  and multitenant.jwks_file (the same read from a file inside the data
 *	  directory), RS256 / PS256 (RSA, 2048 to 8192 bits), ES256 (EC P-256,
 *	  JOSE r||s signatures) and EdDSA (OKP Ed25519), all through OpenSSL's
 *	  EVP interface.
 *
 * A document is parsed and every key built and checked in the GUC check
 * hook (so ALTER SYSTEM refuses a bad one with 22023, and a bad one at a
 * reload leaves the previous value, hence the previous keys, in force:
 * the postmaster logs a WARNING).  The hook keeps the document's text as
 * the GUC's extra; each backend builds its key set (EVP_PKEY objects) from
 * the two extras the first time it verifies a token after an assignment,
 * and frees the previous set then.  HS256 never uses these keys: symmetric
 * ("oct") keys and private key members are refused in a JWKS.
 *
 * Verified signatures are remembered per backend (verified_cache: the
 * SHA-256 of the whole token, with the key-set generation it verified
 * under), so a token set again costs one hash instead of an RSA or ECDSA
 * verification; every assignment of either GUC starts a new generation,
 * which forgets them all.  Bounded: the cache is emptied when full.  The
 * caller still checks every claim (expiry, tenant) each time.
 *
 * No locks: everything here is per-process state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "crypto.h"
#include "jwks.h"
#include "util.h"

/* GUC variables (defined in multitenant.c) */
char	   *mt_jwks = NULL;
char	   *mt_jwks_file = NULL;

#define MT_RSA_MIN_BITS		2048
#define MT_RSA_MAX_BITS		8192
#define MT_VERIFIED_MAX		1024	/* entries of verified_cache */

/* GUC extra of both settings: the document's text */
typedef struct JwksText
{
	size_t		len;
	char		text[FLEXIBLE_ARRAY_MEMBER];
} JwksText;

typedef enum JwkType
{
	JWK_RSA, JWK_EC, JWK_OKP
} JwkType;

static const char *const jwk_type_names[] = {"RSA", "EC P-256", "OKP Ed25519"};

typedef struct MtJwk
{
	JwkType		type;
	bool		has_kid;
	char		kid[MT_JWKS_MAX_KID + 1];
	char		alg[16];		/* the key's own "alg", "" when absent */
	EVP_PKEY   *pkey;
} MtJwk;

/* this backend's key set (header comment) */
static const JwksText *jwks_text = NULL;	/* extra of multitenant.jwks */
static const JwksText *jwks_file_text = NULL;	/* ... of jwks_file */
static uint64 jwks_generation = 1;	/* bumped by every assignment */
static uint64 built_generation = 0; /* generation of keys[] */
static MtJwk keys[2 * MT_JWKS_MAX_KEYS];
static int	n_keys = 0;

typedef struct VerifiedToken
{
	uint8		digest[MT_SHA256_LEN];	/* hash key */
	uint64		generation;
} VerifiedToken;

static HTAB *verified_cache = NULL;

/* ---------------------------------------------------------------------
 * JWKS documents
 * --------------------------------------------------------------------- */

typedef enum JwkMember
{
	JM_OTHER = 0, JM_KTY, JM_KID, JM_ALG, JM_USE, JM_CRV, JM_N, JM_E, JM_X, JM_Y,
	JM_PRIVATE,					/* d p q dp dq qi k: never in a public JWKS */
	JM_COUNT
} JwkMember;

typedef struct JwkRaw
{
	char	   *m[JM_COUNT];
	bool		seen[JM_COUNT];
} JwkRaw;

typedef struct JwksParse
{
	int			depth;
	bool		in_keys;		/* inside the top-level "keys" member */
	bool		seen_keys;
	int			n;				/* keys started */
	JwkRaw		raw[MT_JWKS_MAX_KEYS];
	JwkMember	current;
	const char *problem;
} JwksParse;

#if PG_VERSION_NUM >= 160000
#define JSON_ACTION_RESULT JsonParseErrorType
#define JSON_ACTION_DONE return JSON_SUCCESS
#else
#define JSON_ACTION_RESULT void
#define JSON_ACTION_DONE return
#endif

static JSON_ACTION_RESULT
jwks_object_start(void *state)
{
	JwksParse  *p = state;

	if (p->depth == 2 && p->in_keys)
	{
		if (p->n == MT_JWKS_MAX_KEYS)
			p->problem = psprintf("it holds more than %d keys", MT_JWKS_MAX_KEYS);
		else
			p->n++;
	}
	else if (p->depth == 3 && p->in_keys && p->current != JM_OTHER)
		p->problem = "a key member has the wrong type";
	else if (p->depth == 1 && p->in_keys)
		p->problem = "\"keys\" must be an array";
	p->depth++;
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
jwks_object_end(void *state)
{
	((JwksParse *) state)->depth--;
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
jwks_array_start(void *state)
{
	JwksParse  *p = state;

	if (p->depth == 0)
		p->problem = "it is not a JSON object";
	else if (p->depth == 2 && p->in_keys)
		p->problem = "\"keys\" must hold objects";
	else if (p->depth == 3 && p->in_keys && p->current != JM_OTHER)
		p->problem = "a key member has the wrong type";
	p->depth++;
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
jwks_array_end(void *state)
{
	((JwksParse *) state)->depth--;
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
jwks_field_start(void *state, char *fname, bool isnull)
{
	JwksParse  *p = state;
	static const char *const names[] = {NULL, "kty", "kid", "alg", "use", "crv", "n", "e", "x", "y"};
	static const char *const private_names[] = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"};

	if (p->depth == 1)
	{
		p->in_keys = strcmp(fname, "keys") == 0;
		if (p->in_keys && p->seen_keys)
			p->problem = "duplicate member \"keys\"";
		p->seen_keys |= p->in_keys;
	}
	else if (p->depth == 3 && p->in_keys && p->n > 0)
	{
		JwkRaw	   *r = &p->raw[p->n - 1];

		p->current = JM_OTHER;
		for (int i = 1; i < lengthof(names); i++)
			if (strcmp(fname, names[i]) == 0)
				p->current = (JwkMember) i;
		for (int i = 0; i < lengthof(private_names); i++)
			if (strcmp(fname, private_names[i]) == 0)
				p->current = JM_PRIVATE;
		if (p->current == JM_PRIVATE)
			p->problem = "a key holds private or symmetric key material (a JWKS for token verification holds public keys only)";
		else if (p->current != JM_OTHER && r->seen[p->current])
			p->problem = psprintf("a key has a duplicate member \"%s\"", fname);
		r->seen[p->current] = true;
	}
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
jwks_scalar(void *state, char *token, JsonTokenType tokentype)
{
	JwksParse  *p = state;

	if (p->depth == 0)
		p->problem = "it is not a JSON object";
	else if (p->depth == 1 && p->in_keys)
		p->problem = "\"keys\" must be an array";
	else if (p->depth == 2 && p->in_keys)
		p->problem = "\"keys\" must hold objects";
	else if (p->depth == 3 && p->in_keys && p->current != JM_OTHER && p->n > 0)
	{
		if (tokentype != JSON_TOKEN_STRING)
			p->problem = "a key member has the wrong type";
		else
			p->raw[p->n - 1].m[p->current] = token;
	}
	JSON_ACTION_DONE;
}

/* base64url member into a palloc'd buffer; its length, or -1 */
static int
b64_member(const char *s, uint8 **out)
{
	size_t		len = strlen(s);
	size_t		max = len * 3 / 4 + 3;

	*out = palloc(max);
	return mt_base64url_decode(s, len, *out, max);
}

/* an RSA public key from n and e; NULL with *problem */
static EVP_PKEY *
build_rsa(JwkRaw *r, const char **problem)
{
	uint8	   *n,
			   *e;
	int			nlen,
				elen;
	BIGNUM	   *bn_n = NULL,
			   *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY   *pkey = NULL;
	int			bits;

	if (r->m[JM_N] == NULL || r->m[JM_E] == NULL)
	{
		*problem = "an RSA key lacks \"n\" or \"e\"";
		return NULL;
	}
	nlen = b64_member(r->m[JM_N], &n);
	elen = b64_member(r->m[JM_E], &e);
	if (nlen <= 0 || elen <= 0 || elen > 8)
	{
		*problem = "an RSA key's \"n\" or \"e\" is not valid base64url";
		return NULL;
	}
	bn_n = BN_bin2bn(n, nlen, NULL);
	bn_e = BN_bin2bn(e, elen, NULL);
	bits = bn_n ? BN_num_bits(bn_n) : 0;
	if (bits < MT_RSA_MIN_BITS || bits > MT_RSA_MAX_BITS)
		*problem = psprintf("an RSA key has %d bits (%d to %d accepted)", bits,
							MT_RSA_MIN_BITS, MT_RSA_MAX_BITS);
	else if (bn_e == NULL || !BN_is_odd(bn_e) || BN_is_one(bn_e))
		*problem = "an RSA key has an invalid exponent";
	else if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
			 !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
			 !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
			 (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
			 (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
			 EVP_PKEY_fromdata_init(ctx) <= 0 ||
			 EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
	{
		*problem = "an RSA key could not be loaded";
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return pkey;
}

/* an EC P-256 public key from x and y (a point on the curve); NULL with *problem */
static EVP_PKEY *
build_ec(JwkRaw *r, const char **problem)
{
	uint8	   *x,
			   *y;
	uint8		point[65];
	OSSL_PARAM	params[3];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY_CTX *check = NULL;
	EVP_PKEY   *pkey = NULL;

	if (r->m[JM_X] == NULL || r->m[JM_Y] == NULL ||
		b64_member(r->m[JM_X], &x) != 32 || b64_member(r->m[JM_Y], &y) != 32)
	{
		*problem = "an EC key's \"x\" and \"y\" must be 32 bytes of base64url each";
		return NULL;
	}
	point[0] = 0x04;			/* uncompressed */
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
		EVP_PKEY_fromdata_init(ctx) <= 0 ||
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0 ||
		(check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
		EVP_PKEY_public_check(check) <= 0)
	{
		*problem = "an EC key is not a point of P-256";
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/*
 * Parses a JWKS document and builds its keys into out (room for
 * MT_JWKS_MAX_KEYS); returns how many, or -1 with *problem.  Keys meant
 * for encryption ("use": "enc") and key types or curves this module does
 * not verify with are skipped.  Caller frees the keys (free_keys).
 */
static int
parse_jwks(const char *doc, size_t len, MtJwk *out, const char **problem)
{
	JwksParse  *p = palloc0(sizeof(JwksParse));
	JsonLexContext *lex;
	JsonSemAction sem;
	int			n = 0;

	if (len > MT_JWKS_MAX_BYTES)
	{
		*problem = psprintf("it is longer than %d bytes", MT_JWKS_MAX_BYTES);
		return -1;
	}
	if (!pg_verify_mbstr(PG_UTF8, doc, len, true))
	{
		*problem = "it is not valid UTF-8";
		return -1;
	}
	memset(&sem, 0, sizeof(sem));
	sem.semstate = p;
	sem.object_start = jwks_object_start;
	sem.object_end = jwks_object_end;
	sem.array_start = jwks_array_start;
	sem.array_end = jwks_array_end;
	sem.object_field_start = jwks_field_start;
	sem.scalar = jwks_scalar;
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, (char *) doc, len, PG_UTF8, true);
#else
	lex = makeJsonLexContextCstringLen((char *) doc, len, PG_UTF8, true);
#endif
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
	{
		*problem = "it is not valid JSON";
		return -1;
	}
	if (p->problem == NULL && !p->seen_keys)
		p->problem = "it has no \"keys\" array";
	if (p->problem)
	{
		*problem = p->problem;
		return -1;
	}

	for (int i = 0; i < p->n; i++)
	{
		JwkRaw	   *r = &p->raw[i];
		MtJwk	   *k = &out[n];
		const char *kty = r->m[JM_KTY];
		const char *crv = r->m[JM_CRV];

		*problem = NULL;
		if (kty == NULL)
			*problem = "a key has no \"kty\"";
		else if (strcmp(kty, "oct") == 0)
			*problem = "a key is symmetric (\"kty\": \"oct\"); HS256 tokens verify with multitenant.jwt_secret only";
		else if (r->m[JM_KID] != NULL && strlen(r->m[JM_KID]) > MT_JWKS_MAX_KID)
			*problem = psprintf("a key's \"kid\" is longer than %d bytes", MT_JWKS_MAX_KID);
		else if (r->m[JM_ALG] != NULL && strlen(r->m[JM_ALG]) >= sizeof(k->alg))
			*problem = "a key has an unknown \"alg\"";
		if (*problem)
			break;
		if (r->m[JM_USE] != NULL && strcmp(r->m[JM_USE], "sig") != 0)
			continue;			/* an encryption key */

		memset(k, 0, sizeof(*k));
		if (strcmp(kty, "RSA") == 0)
		{
			k->type = JWK_RSA;
			k->pkey = build_rsa(r, problem);
		}
		else if (strcmp(kty, "EC") == 0 && crv != NULL && strcmp(crv, "P-256") == 0)
		{
			k->type = JWK_EC;
			k->pkey = build_ec(r, problem);
		}
		else if (strcmp(kty, "OKP") == 0 && crv != NULL && strcmp(crv, "Ed25519") == 0)
		{
			uint8	   *x;

			k->type = JWK_OKP;
			if (r->m[JM_X] == NULL || b64_member(r->m[JM_X], &x) != 32 ||
				(k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32)) == NULL)
				*problem = "an Ed25519 key's \"x\" must be 32 bytes of base64url";
		}
		else
			continue;			/* a key type or curve not verified here */
		if (k->pkey == NULL)
			break;
		if (r->m[JM_KID] != NULL)
		{
			for (int j = 0; j < n; j++)
				if (out[j].has_kid && strcmp(out[j].kid, r->m[JM_KID]) == 0)
					*problem = psprintf("two keys have the \"kid\" \"%s\"", r->m[JM_KID]);
			k->has_kid = true;
			strlcpy(k->kid, r->m[JM_KID], sizeof(k->kid));
		}
		if (r->m[JM_ALG] != NULL)
			strlcpy(k->alg, r->m[JM_ALG], sizeof(k->alg));
		n++;
		if (*problem)
			break;
	}
	if (*problem)
	{
		for (int j = 0; j < n; j++)
			EVP_PKEY_free(out[j].pkey);
		return -1;
	}
	return n;
}

static void
free_keys(MtJwk *k, int n)
{
	for (int i = 0; i < n; i++)
	{
		EVP_PKEY_free(k[i].pkey);
		k[i].pkey = NULL;
	}
}

/* ---------------------------------------------------------------------
 * The GUCs
 * --------------------------------------------------------------------- */

/*
 * Validates doc (built keys are freed again) and makes the extra.  A bad
 * document read from the configuration files is also reported as a
 * WARNING by the postmaster: at a reload, the previous value stays.
 */
static bool
check_document(const char *setting, const char *doc, size_t len,
			   void **extra, GucSource source)
{
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "multitenant jwks check",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(tmp);
	MtJwk	   *built = palloc0(sizeof(MtJwk) * MT_JWKS_MAX_KEYS);
	const char *problem = NULL;
	int			n = parse_jwks(doc, len, built, &problem);
	JwksText   *t;

	if (n >= 0)
		free_keys(built, n);
	else
	{
		char	   *msg = pstrdup(problem);

		MemoryContextSwitchTo(old);
		GUC_check_errmsg("invalid JWKS in %s", setting);
		GUC_check_errdetail("The key set %s.", msg);
		if (source == PGC_S_FILE && !IsUnderPostmaster)
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid JWKS in %s: the previous keys stay in force", setting),
					 errdetail("The key set %s.", msg)));
		MemoryContextDelete(tmp);
		return false;
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);

	t = mt_guc_extra_alloc(offsetof(JwksText, text) + len + 1);
	if (t == NULL)
		return false;
	t->len = len;
	memcpy(t->text, doc, len);
	t->text[len] = '\0';
	*extra = t;
	return true;
}

bool
mt_check_jwks(char **newval, void **extra, GucSource source)
{
	*extra = NULL;
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	return check_document("multitenant.jwks", *newval, strlen(*newval), extra, source);
}

void
mt_assign_jwks(const char *newval, void *extra)
{
	jwks_text = extra;
	jwks_generation++;
}

/* reads the file named by multitenant.jwks_file (relative to the data directory) */
bool
mt_check_jwks_file(char **newval, void **extra, GucSource source)
{
	const char *rel = *newval;
	char	   *path;
	char		real_dir[PATH_MAX];
	char		real_file[PATH_MAX];
	char	   *buf;
	int			fd;
	ssize_t		got = 0,
				r;
	const char *problem = NULL;
	bool		ok;

	*extra = NULL;
	if (rel == NULL || rel[0] == '\0')
		return true;
	if (rel[0] == '/' || strcmp(rel, "..") == 0 || strncmp(rel, "../", 3) == 0 ||
		strstr(rel, "/../") != NULL || (strlen(rel) >= 3 && strcmp(rel + strlen(rel) - 3, "/..") == 0))
		problem = "The path must be relative to the data directory and stay inside it.";
	else if (DataDir == NULL)
		problem = "The data directory is not known yet.";
	if (problem == NULL)
	{
		path = psprintf("%s/%s", DataDir, rel);
		if (realpath(DataDir, real_dir) == NULL || realpath(path, real_file) == NULL)
			problem = psprintf("The file cannot be found: %m.");
		else if (strncmp(real_file, real_dir, strlen(real_dir)) != 0 ||
				 real_file[strlen(real_dir)] != '/')
			problem = "The path must be relative to the data directory and stay inside it (symbolic links included).";
	}
	if (problem != NULL)
	{
		GUC_check_errmsg("invalid multitenant.jwks_file");
		GUC_check_errdetail("%s", problem);
		if (source == PGC_S_FILE && !IsUnderPostmaster)
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid multitenant.jwks_file: the previous keys stay in force"),
					 errdetail("%s", problem)));
		return false;
	}
	fd = open(real_file, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
	{
		GUC_check_errmsg("could not open multitenant.jwks_file: %m");
		if (source == PGC_S_FILE && !IsUnderPostmaster)
			ereport(WARNING,
					(errmsg("could not open multitenant.jwks_file: %m; the previous keys stay in force")));
		return false;
	}
	buf = palloc(MT_JWKS_MAX_BYTES + 1);
	while (got <= MT_JWKS_MAX_BYTES &&
		   (r = read(fd, buf + got, MT_JWKS_MAX_BYTES + 1 - got)) > 0)
		got += r;
	close(fd);
	ok = check_document("multitenant.jwks_file", buf, got, extra, source);
	pfree(buf);
	return ok;
}

void
mt_assign_jwks_file(const char *newval, void *extra)
{
	jwks_file_text = extra;
	jwks_generation++;
}

/* this backend's key set for the current assignments (header comment) */
static void
ensure_keys(void)
{
	MemoryContext tmp;
	MemoryContext old;
	const JwksText *docs[2] = {jwks_text, jwks_file_text};

	if (built_generation == jwks_generation)
		return;
	free_keys(keys, n_keys);
	n_keys = 0;
	if (verified_cache != NULL)
	{
		hash_destroy(verified_cache);
		verified_cache = NULL;
	}
	tmp = AllocSetContextCreate(CurrentMemoryContext, "multitenant jwks load",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(tmp);
	for (int d = 0; d < 2; d++)
	{
		const char *problem = NULL;
		int			n;

		if (docs[d] == NULL)
			continue;
		n = parse_jwks(docs[d]->text, docs[d]->len, keys + n_keys, &problem);
		if (n < 0)				/* was valid in the check hook: can't happen */
			elog(WARNING, "multitenant: a JWKS that was valid no longer loads: %s", problem);
		else
			n_keys += n;
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
	built_generation = jwks_generation;
}

/* ---------------------------------------------------------------------
 * Verification
 * --------------------------------------------------------------------- */

bool
mt_jwks_alg(const char *alg)
{
	return strcmp(alg, "RS256") == 0 || strcmp(alg, "PS256") == 0 ||
		strcmp(alg, "ES256") == 0 || strcmp(alg, "EdDSA") == 0;
}

static JwkType
alg_key_type(const char *alg)
{
	if (alg[0] == 'R' || alg[0] == 'P')
		return JWK_RSA;
	if (alg[0] == 'E' && alg[1] == 'S')
		return JWK_EC;
	return JWK_OKP;
}

static bool
key_fits(const MtJwk *k, const char *alg)
{
	return k->type == alg_key_type(alg) && (k->alg[0] == '\0' || strcmp(k->alg, alg) == 0);
}

/* one signature check with key k; sig in JOSE form */
static bool
verify_with(const MtJwk *k, const char *alg, const uint8 *msg, size_t msglen,
			const uint8 *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8	   *der = NULL;
	bool		ok = false;

	if (md == NULL)
		return false;
	if (k->type == JWK_OKP)
	{
		ok = siglen == 64 &&
			EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) == 1 &&
			EVP_DigestVerify(md, sig, siglen, msg, msglen) == 1;
	}
	else if (k->type == JWK_RSA)
	{
		ok = siglen == (size_t) EVP_PKEY_get_size(k->pkey) &&
			EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, k->pkey) == 1;
		if (ok && alg[0] == 'P')
			ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
				EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
				EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
		ok = ok && EVP_DigestVerify(md, sig, siglen, msg, msglen) == 1;
	}
	else
	{
		/* JOSE's r || s (RFC 7518 3.4) as the DER OpenSSL verifies */
		ECDSA_SIG  *es = NULL;
		BIGNUM	   *r,
				   *s;
		int			derlen;

		if (siglen == 64 && (es = ECDSA_SIG_new()) != NULL)
		{
			r = BN_bin2bn(sig, 32, NULL);
			s = BN_bin2bn(sig + 32, 32, NULL);
			if (r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1)
			{
				derlen = i2d_ECDSA_SIG(es, &der);
				ok = derlen > 0 &&
					EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
					EVP_DigestVerify(md, der, derlen, msg, msglen) == 1;
			}
			else
			{
				BN_free(r);
				BN_free(s);
			}
			ECDSA_SIG_free(es);
		}
	}
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return ok;
}

uint64
mt_jwks_generation(void)
{
	return jwks_generation;
}

const char *
mt_jwks_verify(const char *alg, const char *kid, const char *token, size_t toklen,
			   size_t msglen, const uint8 *sig, size_t siglen, bool *no_key)
{
	uint8		digest[MT_SHA256_LEN];
	unsigned int dlen;
	VerifiedToken *hit;
	bool		found;
	const MtJwk *chosen = NULL;
	int			fitting = 0;
	bool		good = false;

	*no_key = false;
	ensure_keys();

	/* verified before under this key set? */
	if (EVP_Digest(token, toklen, digest, &dlen, EVP_sha256(), NULL) != 1)
		return "The token could not be hashed.";
	if (verified_cache != NULL &&
		(hit = hash_search(verified_cache, digest, HASH_FIND, NULL)) != NULL &&
		hit->generation == jwks_generation)
		return NULL;

	if (kid != NULL)
	{
		const MtJwk *named = NULL;

		for (int i = 0; i < n_keys; i++)
		{
			if (!keys[i].has_kid || strcmp(keys[i].kid, kid) != 0)
				continue;
			named = &keys[i];
			if (!key_fits(&keys[i], alg))
				continue;
			fitting++;
			good |= verify_with(&keys[i], alg, (const uint8 *) token, msglen, sig, siglen);
		}
		if (!named)
		{
			*no_key = true;
			return "The token's key id (\"kid\") names no key of multitenant.jwks or multitenant.jwks_file.";
		}
		if (fitting == 0)
			return psprintf("The key the token names (%s%s%s) is not a key for %s.",
							jwk_type_names[named->type], named->alg[0] ? ", alg " : "",
							named->alg, alg);
	}
	else
	{
		for (int i = 0; i < n_keys; i++)
			if (key_fits(&keys[i], alg))
			{
				fitting++;
				chosen = &keys[i];
			}
		if (fitting == 0)
		{
			*no_key = true;
			return psprintf("No key of multitenant.jwks or multitenant.jwks_file verifies %s tokens.", alg);
		}
		if (fitting > 1)
			return "The token has no key id (\"kid\") and several keys could verify it.";
		good = verify_with(chosen, alg, (const uint8 *) token, msglen, sig, siglen);
	}
	if (!good)
		return "The token signature does not verify.";

	/* remember it (bounded: emptied when full) */
	if (verified_cache != NULL && hash_get_num_entries(verified_cache) >= MT_VERIFIED_MAX)
	{
		hash_destroy(verified_cache);
		verified_cache = NULL;
	}
	if (verified_cache == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = MT_SHA256_LEN;
		ctl.entrysize = sizeof(VerifiedToken);
		ctl.hcxt = TopMemoryContext;
		verified_cache = hash_create("multitenant verified tokens", 64, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	hit = hash_search(verified_cache, digest, HASH_ENTER, &found);
	hit->generation = jwks_generation;
	return NULL;
}
