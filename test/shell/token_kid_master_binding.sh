#!/usr/bin/env bash
# A token's kid "mt<N>.<master>" is honoured only with the master that
# version N was created from (mt.secret_versions).  The attack: the
# original master secret (first line of multitenant.secret, which never
# leaves the file) leaks; the operator appends a new master, rotates the
# token key onto it (version 2) and retires version 1, as
# doc/operations.md says.  Whoever holds the leaked master signs with
# HMAC(old master, "multitenant token signing v2") and names it in the
# kid: version 2 is active, so the forged token must still be refused.
# Also: a kid naming a version that does not exist is refused, and the
# genuine version-2 token (new master) works.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_kid_master
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

b64u() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
hmac_hex() { openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" -r | cut -d' ' -f1; }
# forge <master hex> <version> <tenant>: a token with kid mt<version>.<fp of master>,
# signed with that master's derivation of the version's token key
forge() {
    local m=$1 v=$2 tid=$3 fp k h p sig
    fp=$(printf '%s' "multitenant master fingerprint" | hmac_hex "$m" | cut -c1-8)
    k=$(printf '%s' "multitenant token signing v$v" | hmac_hex "$m")
    h=$(printf '{"alg":"HS256","typ":"JWT","kid":"mt%s.%s"}' "$v" "$fp" | b64u)
    p=$(printf '{"tid":"%s","exp":%d}' "$tid" $(( $(date +%s) + 3600 )) | b64u)
    sig=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$k" -binary | b64u)
    printf '%s.%s.%s' "$h" "$p" "$sig"
}
# the tenant a token enters (through a placeholder of the startup packet)
tenant_of() {
    PGOPTIONS="-c test.tok=$1" mt_psql -d $db 2>&1 <<'SQL' || true
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT mt.current_tenant();
SQL
}

acme=$(q "SELECT mt.create_tenant('Acme', 'acme')")
leaked=$(sed -n 1p "$secret_file")

# the forging helper is right: before any rotation, version 1 of the
# original master is the token key, and a token named mt1.<original> verifies
[ "$(tenant_of "$(forge "$leaked" 1 "$acme")")" = "$acme" ] || fail "forge() does not reproduce the server's version-1 key"

# rotation onto a new master, the old version retired
openssl rand -hex 32 >>"$secret_file"
[ "$(q "SELECT mt.rotate_secret('token')")" = 2 ] || fail "rotation"
q "SELECT mt.retire_secret('token', 1)" >/dev/null
new_master=$(q "SELECT master FROM mt.secret_versions WHERE purpose = 'token' AND version = 2")
old_master=$(q "SELECT master FROM mt.secret_versions WHERE purpose = 'token' AND version = 1")
[ "$new_master" != "$old_master" ] || fail "version 2 does not derive from the new master"

genuine=$(q "SELECT mt.tenant_token('$acme', '1 hour')")
[ "$(tenant_of "$genuine")" = "$acme" ] || fail "the genuine version-2 token is refused"
out=$(tenant_of "$(forge "$leaked" 1 "$acme")")
grep -q "invalid tenant token" <<<"$out" || fail "a version-1 token of the leaked master is accepted after retirement: $out"
echo "ok: after rotation onto a new master the genuine token works, version 1 is refused"

out=$(tenant_of "$(forge "$leaked" 2 "$acme")")
grep -q "invalid tenant token" <<<"$out" \
    || fail "a token signed with the leaked original master under kid mt2.<original> enters the tenant: $out"
echo "ok: a kid naming an active version with another master than its own is refused"

out=$(tenant_of "$(forge "$leaked" 7 "$acme")")
grep -q "invalid tenant token" <<<"$out" || fail "a kid naming a version that does not exist is accepted: $out"
echo "ok: a kid naming a version that does not exist is refused"
echo "all ok"
