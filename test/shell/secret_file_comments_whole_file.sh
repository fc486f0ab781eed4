#!/usr/bin/env bash
# multitenant.secret may hold comment lines ('#') between its master
# secrets; the whole file is read however long the comments are.  The
# attack on an operator's master rotation: after a comment longer than
# the reader's buffer, the appended master was silently cut off, and
# mt.rotate_secret() "rotated" onto the old (possibly leaked) master.
# Also: mt.rotate_secret() refuses (XX001 / 58P01) a file it cannot read
# whole (a malformed appended line, an oversized file, no file) instead of
# deriving the new version from the masters loaded so far.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_secret_comments
secret_file="$MT_PGDATA/multitenant.secret"
saved=$(mktemp)
cp -p "$secret_file" "$saved"
cleanup() {
    cp -p "$saved" "$secret_file"; rm -f "$saved"
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
q() { mt_psql -d $db -c "$1"; }
fp_of() { printf '%s' "multitenant master fingerprint" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" -r | cut -c1-8; }

new=$(openssl rand -hex 32)
{
    echo "# master added $(date -u +%F) after the incident; the ticket says why:"
    printf '# %s\n' "$(printf 'x%.0s' $(seq 1500))"
    echo "$new"
} >>"$secret_file"
[ "$(q "SELECT mt.rotate_secret('token')")" = 2 ] || fail "rotation"
got=$(q "SELECT master FROM mt.secret_versions WHERE purpose = 'token' AND version = 2")
[ "$got" = "$(fp_of "$new")" ] \
    || fail "the rotation did not use the master appended after a long comment (version 2 derives from $got, the new master is $(fp_of "$new"))"
echo "ok: a master after a long comment line is read; the rotation derives from it"

sqlstate() { mt_psql -d $db -v VERBOSITY=verbose -c "$1" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1; }
versions() { q "SELECT count(*) FROM mt.secret_versions WHERE purpose = 'token'"; }

# a file the rotation cannot read whole is an error, not a rotation onto
# an older master: an appended line with a typo ...
cp -p "$secret_file" "$MT_ROOT/secret-good"
openssl rand -hex 31 >>"$secret_file"
[ "$(sqlstate "SELECT mt.rotate_secret('token')")" = XX001 ] || fail "rotation with a malformed line: $(q "SELECT * FROM mt.secret_versions")"
# ... or a file far larger than any secret file
cp -p "$MT_ROOT/secret-good" "$secret_file"
printf '# %s\n' "$(head -c 200000 /dev/zero | tr '\0' 'y')" >>"$secret_file"
[ "$(sqlstate "SELECT mt.rotate_secret('token')")" = XX001 ] || fail "rotation with an oversized file: $(q "SELECT * FROM mt.secret_versions")"
rm -f "$secret_file"
[ "$(sqlstate "SELECT mt.rotate_secret('token')")" = 58P01 ] || fail "rotation without a secret file"
cp -p "$MT_ROOT/secret-good" "$secret_file"; rm -f "$MT_ROOT/secret-good"
[ "$(versions)" = 2 ] || fail "a refused rotation added a version"
# tokens keep verifying meanwhile (a re-read outside rotation only warns)
t=$(q "SELECT mt.tenant_token(mt.create_tenant('Acme', 'acme'), '1 hour')")
[ -n "$t" ] || fail "no token after the refused rotations"
echo "ok: mt.rotate_secret refuses a secret file with a malformed line, an oversized or a missing one"
echo "all ok"
