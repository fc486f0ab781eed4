/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  Server secrets and the cryptographic primitives every capability uses:
 *	  the master secret kept in the data directory, keys derived from it,
 *	  HMAC-SHA256, Ed25519 verification, base64url, constant-time compares,
 *	  random bytes and wiping.
 *
 * The master secret (32 random bytes) lives in $PGDATA/multitenant.secret,
 * mode 0600, created on first start.  The file may hold several masters,
 * one per line (an operator appends a line to rotate the master; the first
 * line is the original, the last the newest).  It is read once per process
 * into static memory (the postmaster reads it when preloaded, backends
 * inherit it by fork), re-read by a backend that meets a master it does
 * not know, and never written to a table or a log.  Separate keys are
 * derived from a master per purpose and version (token signing, API-key
 * pepper, audit key wrapping: HMAC(master, "<purpose label> v<N>")) so
 * that one never doubles as another; which versions exist is
 * secret_versions.c's business.  Masters are named by a public
 * fingerprint (HMAC(master, fixed label), 8 hex digits).
 *
 * The HS256 keys an operator supplies (multitenant.jwt_secret and, during
 * a change of it, multitenant.jwt_secret_previous) are GUCs defined here.
 *
 * No locks: everything here is per-process state.
 *
 *-------------------------------------------------------------------------
 */
/* SHA256_Init/Update/Final: deprecated in OpenSSL 3, still its fastest (SHA-NI) path */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sodium.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "crypto.h"
#include "util.h"

/* GUC variables (defined in multitenant.c) */
char	   *mt_jwt_secret = NULL;
char	   *mt_jwt_public_key = NULL;
char	   *mt_jwt_secret_previous = NULL;

#define MT_SECRET_FILE "multitenant.secret"
#define MT_SECRET_FILE_MAX 16384	/* bytes, comments included */

/* the master secrets of the file, first (original) to last (newest) */
static uint8 masters[MT_MAX_MASTERS][MT_SECRET_LEN];
static char master_fps[MT_MAX_MASTERS][MT_MASTER_FP_LEN + 1];
static int	n_masters = 0;
static bool master_secret_loaded = false;
static TimestampTz last_reread = 0;
static uint8 derived_token_key[MT_SECRET_LEN];
static uint8 ed25519_public_key[crypto_sign_PUBLICKEYBYTES];
static bool ed25519_configured = false;
static int	token_key_version = 0;	/* bumped when multitenant.jwt_secret changes */
static int	previous_key_version = 0;	/* ... and jwt_secret_previous */
static uint64 public_key_version = 0;	/* ... and jwt_public_key */

/* decodes exactly outlen bytes of hex; false on any other input */
bool
mt_hex_decode(const char *src, uint8 *out, size_t outlen)
{
	if (strlen(src) != outlen * 2)
		return false;
	for (size_t i = 0; i < outlen; i++)
	{
		int			hi = mt_hex_value(src[2 * i]);
		int			lo = mt_hex_value(src[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8) (hi << 4 | lo);
	}
	return true;
}

/*
 * Parses the secret file's text: one master secret (64 hex digits) per
 * line, blank lines and lines starting with '#' ignored, at most
 * MT_MAX_MASTERS.  The first line is the original master (version 1 of
 * every key derives from it unless mt.secret_versions says otherwise), the
 * last one the newest (new versions derive from it).  Returns the number
 * of masters, or -1 with *problem set.
 */
static int
parse_secret_text(char *text, uint8 out[][MT_SECRET_LEN], const char **problem)
{
	int			n = 0;
	char	   *line = text;

	while (line != NULL && *line != '\0')
	{
		char	   *next = strchr(line, '\n');
		size_t		len;

		if (next != NULL)
			*next++ = '\0';
		len = strlen(line);
		while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = '\0';
		if (len > 0 && line[0] != '#')
		{
			if (n == MT_MAX_MASTERS)
			{
				*problem = "it holds more than " CppAsString2(MT_MAX_MASTERS) " master secrets";
				return -1;
			}
			if (!mt_hex_decode(line, out[n], MT_SECRET_LEN))
			{
				*problem = "a line is not 64 hexadecimal digits";
				return -1;
			}
			n++;
		}
		line = next;
	}
	if (n == 0)
	{
		*problem = "it holds no master secret";
		return -1;
	}
	return n;
}

/*
 * Reads the secret file into masters[]; false when it does not exist.  A
 * file that exists but cannot be read or parsed raises elevel (FATAL at
 * load; WARNING on a re-read, which then keeps what was loaded).
 */
static bool
read_secret_file(const char *path, int elevel)
{
	char		buf[MT_SECRET_FILE_MAX + 2];
	uint8		parsed[MT_MAX_MASTERS][MT_SECRET_LEN];
	int			fd;
	ssize_t		n = 0;
	ssize_t		r = 0;
	int			count;
	const char *problem = NULL;

	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not open multitenant secret file \"%s\": %m", path)));
		return false;
	}
	/* the whole file (one read() may return less), up to one byte too many */
	while (n < (ssize_t) sizeof(buf) - 1 &&
		   ((r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0 || (r < 0 && errno == EINTR)))
		n += Max(r, 0);
	if (r < 0)
	{
		int			save_errno = errno;

		close(fd);
		mt_wipe(buf, sizeof(buf));
		errno = save_errno;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not read multitenant secret file \"%s\": %m", path)));
		return false;
	}
	close(fd);
	buf[n] = '\0';
	if (n > MT_SECRET_FILE_MAX)
	{
		count = -1;
		problem = "it is larger than " CppAsString2(MT_SECRET_FILE_MAX) " bytes";
	}
	else if (memchr(buf, '\0', n) != NULL)
	{
		count = -1;
		problem = "it holds a NUL byte";
	}
	else
		count = parse_secret_text(buf, parsed, &problem);
	mt_wipe(buf, sizeof(buf));
	if (count < 0)
	{
		mt_wipe(parsed, sizeof(parsed));
		ereport(elevel,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("multitenant secret file \"%s\" is malformed: %s", path, problem),
				 errhint("Restore it from backup: API keys and encrypted audit details depend on it.")));
		return false;
	}

	/*
	 * The first line never changes while the server runs: version 1 of every
	 * key, the audit subject-lookup key and the GDPR pseudonym key derive
	 * from it.  A re-read that finds another first line keeps what it had.
	 */
	if (n_masters > 0 && !mt_ct_equal(parsed[0], masters[0], MT_SECRET_LEN))
	{
		mt_wipe(parsed, sizeof(parsed));
		ereport(elevel,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the first master secret in \"%s\" changed; the file is not reloaded", path),
				 errhint("Restore the original first line: the audit subject-lookup and pseudonym keys derive from it. New masters are added as later lines.")));
		return false;
	}
	memcpy(masters, parsed, sizeof(parsed));
	mt_wipe(parsed, sizeof(parsed));
	n_masters = count;
	for (int i = 0; i < count; i++)
	{
		uint8		fp[MT_SHA256_LEN];

		mt_hmac_sha256(masters[i], MT_SECRET_LEN, (const uint8 *) "multitenant master fingerprint",
					   strlen("multitenant master fingerprint"), fp);
		for (int j = 0; j < MT_MASTER_FP_LEN / 2; j++)
			snprintf(master_fps[i] + 2 * j, 3, "%02x", fp[j]);
	}
	return true;
}

/*
 * Write a new secret to a temporary file, then link() it into place: link
 * fails if another process won the race, and readers never see a partial
 * file.
 */
static void
create_secret_file(const char *path)
{
	char		tmppath[MAXPGPATH];
	char		hex[MT_SECRET_LEN * 2 + 2];
	uint8		fresh[MT_SECRET_LEN];
	int			fd;

	snprintf(tmppath, sizeof(tmppath), "%s.tmp.%d", path, (int) getpid());
	mt_random_bytes(fresh, sizeof(fresh));
	for (int i = 0; i < MT_SECRET_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", fresh[i]);
	hex[MT_SECRET_LEN * 2] = '\n';
	hex[MT_SECRET_LEN * 2 + 1] = '\0';
	mt_wipe(fresh, sizeof(fresh));

	fd = open(tmppath, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not create multitenant secret file \"%s\": %m", tmppath)));
	if (write(fd, hex, MT_SECRET_LEN * 2 + 1) != MT_SECRET_LEN * 2 + 1 || pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		close(fd);
		unlink(tmppath);
		errno = save_errno;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not write multitenant secret file \"%s\": %m", tmppath)));
	}
	close(fd);
	mt_wipe(hex, sizeof(hex));
	if (link(tmppath, path) != 0 && errno != EEXIST)
	{
		int			save_errno = errno;

		unlink(tmppath);
		errno = save_errno;
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not install multitenant secret file \"%s\": %m", path)));
	}
	unlink(tmppath);
	fsync_fname(".", true);
}

/*
 * Load (creating on first start) the master secret and derive the default
 * token key.  Called from _PG_init; the working directory is the data
 * directory in the postmaster and in every backend.
 */
void
mt_load_server_secret(void)
{
	if (master_secret_loaded)
		return;
	if (sodium_init() < 0)
		ereport(FATAL, (errmsg("multitenant: libsodium could not be initialized")));
	if (DataDir == NULL)
		ereport(FATAL, (errmsg("multitenant: data directory is not known")));

	if (!read_secret_file(MT_SECRET_FILE, FATAL))
	{
		create_secret_file(MT_SECRET_FILE);
		if (!read_secret_file(MT_SECRET_FILE, FATAL))
			ereport(FATAL,
					(errmsg("multitenant secret file \"%s\" vanished after creation", MT_SECRET_FILE)));
	}
	master_secret_loaded = true;
	mt_derive_key("multitenant token signing v1", derived_token_key);
}

/* A purpose-specific key: HMAC-SHA256(original master secret, label). */
void
mt_derive_key(const char *label, uint8 *out)
{
	Assert(master_secret_loaded);
	mt_hmac_sha256(masters[0], MT_SECRET_LEN,
				   (const uint8 *) label, strlen(label), out);
}

/*
 * Version `version` of a purpose's key under master `master`:
 * HMAC-SHA256(master, "<label base> v<version>").  Version 1 under the
 * original master is the key every release before 0.3.0 used.
 */
void
mt_derive_versioned_key(const char *label_base, int version, int master, uint8 *out)
{
	char		label[128];

	Assert(master_secret_loaded && master >= 0 && master < n_masters);
	snprintf(label, sizeof(label), "%s v%d", label_base, version);
	mt_hmac_sha256(masters[master], MT_SECRET_LEN,
				   (const uint8 *) label, strlen(label), out);
}

/* A key's public fingerprint: 16 hex digits of HMAC(key, fixed label). */
void
mt_key_fingerprint(const uint8 *key, char *out)
{
	uint8		fp[MT_SHA256_LEN];

	mt_hmac_sha256(key, MT_SECRET_LEN, (const uint8 *) "multitenant key fingerprint",
				   strlen("multitenant key fingerprint"), fp);
	for (int j = 0; j < MT_KEY_FP_LEN / 2; j++)
		snprintf(out + 2 * j, 3, "%02x", fp[j]);
	mt_wipe(fp, sizeof(fp));
}

int
mt_master_count(void)
{
	return n_masters;
}

/* the fingerprint (MT_MASTER_FP_LEN hex digits) of master i */
const char *
mt_master_fingerprint(int i)
{
	Assert(i >= 0 && i < n_masters);
	return master_fps[i];
}

/*
 * Re-reads the secret file (a line appended by the operator is a new
 * master; see doc/operations.md, "Rotating secrets").  Rate-limited to
 * once a second unless forced; on a problem it warns and keeps what it
 * had.
 */
void
mt_reload_masters(bool force)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!force && now - last_reread < USECS_PER_SEC)
		return;
	last_reread = now;
	(void) read_secret_file(MT_SECRET_FILE, WARNING);
}

/*
 * Re-reads the secret file for an operator's action that derives from the
 * newest master (mt.rotate_secret): a file that is missing, unreadable or
 * malformed raises an ERROR instead of leaving the masters loaded so far,
 * which would silently make the new version derive from an older master.
 */
void
mt_reload_masters_strict(void)
{
	last_reread = GetCurrentTimestamp();
	if (!read_secret_file(MT_SECRET_FILE, ERROR))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("multitenant secret file \"%s\" does not exist", MT_SECRET_FILE)));
}

/*
 * The index of the master with this fingerprint, re-reading the file once
 * (rate-limited) when it is not loaded; -1 when the file does not hold it.
 */
int
mt_master_index(const char *fp)
{
	for (int pass = 0; pass < 2; pass++)
	{
		for (int i = 0; i < n_masters; i++)
			if (strcmp(master_fps[i], fp) == 0)
				return i;
		if (pass == 0)
			mt_reload_masters(false);
	}
	return -1;
}

/* The HS256 key: the operator's multitenant.jwt_secret, else derived. */
const uint8 *
mt_token_key(size_t *len)
{
	if (mt_jwt_secret != NULL && mt_jwt_secret[0] != '\0')
	{
		*len = strlen(mt_jwt_secret);
		return (const uint8 *) mt_jwt_secret;
	}
	*len = MT_SECRET_LEN;
	return derived_token_key;
}

/*
 * A key's HMAC-SHA256 state (RFC 2104): the inner and outer pads hashed
 * once, so that each message costs two SHA-256 compressions (for messages
 * up to 55 bytes) and no key schedule.  OpenSSL's SHA-256 (SHA-NI or AVX2
 * where the CPU has them) is several times faster than libsodium's
 * portable one on these short messages.  The state is as secret as the key.
 */
void
mt_hmac_keyed_init(MtHmacKeyed *k, const uint8 *key, size_t keylen)
{
	uint8		block[SHA256_CBLOCK];
	uint8		hashed[MT_SHA256_LEN];

	if (keylen > SHA256_CBLOCK)
	{
		SHA256(key, keylen, hashed);
		key = hashed;
		keylen = MT_SHA256_LEN;
	}
	memset(block, 0x36, sizeof(block));
	for (size_t i = 0; i < keylen; i++)
		block[i] ^= key[i];
	SHA256_Init(&k->inner);
	SHA256_Update(&k->inner, block, sizeof(block));
	memset(block, 0x5c, sizeof(block));
	for (size_t i = 0; i < keylen; i++)
		block[i] ^= key[i];
	SHA256_Init(&k->outer);
	SHA256_Update(&k->outer, block, sizeof(block));
	mt_wipe(block, sizeof(block));
	mt_wipe(hashed, sizeof(hashed));
}

void
mt_hmac_keyed(const MtHmacKeyed *k, const uint8 *msg, size_t msglen, uint8 *out)
{
	SHA256_CTX	c;
	uint8		inner[MT_SHA256_LEN];

	c = k->inner;
	SHA256_Update(&c, msg, msglen);
	SHA256_Final(inner, &c);
	c = k->outer;
	SHA256_Update(&c, inner, sizeof(inner));
	SHA256_Final(out, &c);
	mt_wipe(&c, sizeof(c));
	mt_wipe(inner, sizeof(inner));
}

/* HMAC-SHA256 with the token key (its keyed state computed once per key) */
void
mt_token_hmac(const uint8 *msg, size_t msglen, uint8 *out)
{
	static MtHmacKeyed keyed;
	static int	keyed_version = -1;

	if (keyed_version != token_key_version)
	{
		size_t		keylen;
		const uint8 *key = mt_token_key(&keylen);

		mt_hmac_keyed_init(&keyed, key, keylen);
		keyed_version = token_key_version;
	}
	mt_hmac_keyed(&keyed, msg, msglen, out);
}

/*
 * HMAC-SHA256 with multitenant.jwt_secret_previous, the operator's previous
 * HS256 key, kept while tokens signed with it may still be in use; false
 * when it is not set.
 */
bool
mt_token_hmac_previous(const uint8 *msg, size_t msglen, uint8 *out)
{
	static MtHmacKeyed keyed;
	static int	keyed_version = -1;

	if (mt_jwt_secret_previous == NULL || mt_jwt_secret_previous[0] == '\0')
		return false;
	if (keyed_version != previous_key_version)
	{
		mt_hmac_keyed_init(&keyed, (const uint8 *) mt_jwt_secret_previous,
						   strlen(mt_jwt_secret_previous));
		keyed_version = previous_key_version;
	}
	mt_hmac_keyed(&keyed, msg, msglen, out);
	return true;
}

void
mt_hmac_sha256(const uint8 *key, size_t keylen,
			   const uint8 *msg, size_t msglen, uint8 *out)
{
	unsigned int outlen = MT_SHA256_LEN;

	if (HMAC(EVP_sha256(), key, (int) keylen, msg, msglen, out, &outlen) == NULL)
		elog(ERROR, "multitenant: HMAC-SHA256 failed");
}

bool
mt_ed25519_verify(const uint8 *sig, size_t siglen, const uint8 *msg, size_t msglen)
{
	if (!ed25519_configured || siglen != crypto_sign_BYTES)
		return false;
	return crypto_sign_verify_detached(sig, msg, msglen, ed25519_public_key) == 0;
}

/*
 * Constant time in the contents: every byte is compared, eight at a time,
 * and the differences are only accumulated; the empty asm makes the
 * accumulator opaque to the compiler at each step, so that it cannot stop
 * early once it is non-zero.  (libsodium's sodium_memcmp, used before, goes
 * a byte at a time through a volatile: a tenth of mt.authenticate's time.)
 */
bool
mt_ct_equal(const void *a, const void *b, size_t len)
{
#if defined(__GNUC__)			/* clang too */
	const unsigned char *x = a;
	const unsigned char *y = b;
	uint64		acc = 0;
	size_t		i = 0;

	for (; i + sizeof(uint64) <= len; i += sizeof(uint64))
	{
		uint64		u;
		uint64		v;

		memcpy(&u, x + i, sizeof(u));
		memcpy(&v, y + i, sizeof(v));
		acc |= u ^ v;
		__asm__ __volatile__("" : "+r"(acc));
	}
	for (; i < len; i++)
	{
		acc |= (uint64) (x[i] ^ y[i]);
		__asm__ __volatile__("" : "+r"(acc));
	}
	return acc == 0;
#else
	return sodium_memcmp(a, b, len) == 0;
#endif
}

void
mt_random_bytes(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

void
mt_wipe(void *buf, size_t len)
{
	sodium_memzero(buf, len);
}

static const char b64url_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding (RFC 7515 section 2), palloc'd */
char *
mt_base64url_encode(const uint8 *data, size_t len)
{
	char	   *out = palloc(((len + 2) / 3) * 4 + 1);
	char	   *p = out;
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = (uint32) data[i] << 16 | (uint32) data[i + 1] << 8 | data[i + 2];

		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
		*p++ = b64url_alphabet[(v >> 6) & 63];
		*p++ = b64url_alphabet[v & 63];
	}
	if (i < len)
	{
		uint32		v = (uint32) data[i] << 16;

		if (i + 1 < len)
			v |= (uint32) data[i + 1] << 8;
		*p++ = b64url_alphabet[(v >> 18) & 63];
		*p++ = b64url_alphabet[(v >> 12) & 63];
		if (i + 1 < len)
			*p++ = b64url_alphabet[(v >> 6) & 63];
	}
	*p = '\0';
	return out;
}

/*
 * Strict base64url decode (no padding, no whitespace, no stray low bits).
 * Returns the decoded length, or -1 on malformed input or overflow of dst.
 */
int
mt_base64url_decode(const char *src, size_t srclen, uint8 *dst, size_t dstlen)
{
	size_t		outlen = 0;
	uint32		acc = 0;
	int			bits = 0;

	if (srclen % 4 == 1)
		return -1;
	for (size_t i = 0; i < srclen; i++)
	{
		int			v = mt_base64url_value((unsigned char) src[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (outlen >= dstlen)
				return -1;
			dst[outlen++] = (uint8) ((acc >> bits) & 0xFF);
		}
	}
	/* leftover bits must be zero, else the encoding is not canonical */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (int) outlen;
}

bool
mt_check_jwt_secret(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && (*newval)[0] != '\0' && strlen(*newval) < 32)
	{
		GUC_check_errmsg("multitenant.jwt_secret must be at least 32 bytes long");
		return false;
	}
	return true;
}

void
mt_assign_jwt_secret(const char *newval, void *extra)
{
	token_key_version++;
}

/*
 * Moves whenever multitenant.jwt_secret, jwt_secret_previous or
 * jwt_public_key is assigned (token_cache.c's stamp).
 */
uint64
mt_token_keys_generation(void)
{
	return (uint64) token_key_version + (uint64) previous_key_version + public_key_version;
}

/*
 * SHOW hook of jwt_secret and jwt_secret_previous: GUC_SUPERUSER_ONLY still
 * lets members of pg_read_all_settings (pg_monitor) read a setting, and
 * either secret mints tokens.  Nobody reads them back through SQL: a mask
 * when set, '' when not (the value is in postgresql.conf or
 * postgresql.auto.conf, readable by the server's OS user only).  GUC state
 * passed to parallel workers is the value itself, not this.
 */
static const char *
masked(const char *secret)
{
	return secret == NULL || secret[0] == '\0' ? "" : "********";
}

const char *
mt_show_jwt_secret(void)
{
	return masked(mt_jwt_secret);
}

const char *
mt_show_jwt_secret_previous(void)
{
	return masked(mt_jwt_secret_previous);
}

bool
mt_check_jwt_secret_previous(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && (*newval)[0] != '\0' && strlen(*newval) < 32)
	{
		GUC_check_errmsg("multitenant.jwt_secret_previous must be at least 32 bytes long");
		return false;
	}
	return true;
}

void
mt_assign_jwt_secret_previous(const char *newval, void *extra)
{
	previous_key_version++;
}

/* Accepts 64 hex digits or 43 base64url characters; the key goes in extra. */
bool
mt_check_jwt_public_key(char **newval, void **extra, GucSource source)
{
	uint8	   *key;
	const char *s = *newval;

	if (s == NULL || s[0] == '\0')
	{
		*extra = NULL;
		return true;
	}
	key = mt_guc_extra_alloc(crypto_sign_PUBLICKEYBYTES);
	if (key == NULL)
		return false;
	if (!mt_hex_decode(s, key, crypto_sign_PUBLICKEYBYTES) &&
		mt_base64url_decode(s, strlen(s), key, crypto_sign_PUBLICKEYBYTES) != crypto_sign_PUBLICKEYBYTES)
	{
		mt_guc_extra_free(key);
		GUC_check_errmsg("multitenant.jwt_public_key must be a 32-byte Ed25519 public key in hex or base64url");
		return false;
	}
	*extra = key;
	return true;
}

void
mt_assign_jwt_public_key(const char *newval, void *extra)
{
	public_key_version++;
	if (extra == NULL)
	{
		ed25519_configured = false;
		return;
	}
	memcpy(ed25519_public_key, extra, crypto_sign_PUBLICKEYBYTES);
	ed25519_configured = true;
}
