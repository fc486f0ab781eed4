#!/usr/bin/env bash
# Tokens of an identity provider, minted with a real JWT library (PyJWT),
# verify against its JWKS in every algorithm (RS256, PS256, ES256, EdDSA),
# the key set rotates on reload without a restart (key A, then A+B, then B
# only), kid selection works (no kid: only when exactly one key fits), and
# a malformed JWKS at a reload leaves the previous keys in force with a
# WARNING in the log.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

work=$(mktemp -d)
chmod 755 "$work"
cluster_settings_save
trap 'rm -rf "$work" "$MT_PGDATA/jwks.json"; cluster_settings_restore reload' EXIT
db=mt_jwks_tokens
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
tenant=$(mt_psql -d $db -c "SELECT mt.create_tenant('Provider', 'provider')")

# Debian python3-jwt (scripts/deps.sh) lives with /usr/bin/python3
mint() { /usr/bin/python3 test/jwt_mint.py "$@"; }
for k in rsaA:rsa rsaB:rsa ec:ec ed:ed; do mint key "$work" "${k%%:*}" "${k##*:}"; done
exp=$(( $(date +%s) + 600 ))
claims="{\"tid\":\"$tenant\",\"exp\":$exp,\"sub\":\"alice\"}"

# the token travels in a placeholder setting of the startup packet (a
# literal token in the statement is refused); prints the subject or the error
try() {
    PGOPTIONS="-c test.tok=$1" mt_psql -d $db 2>&1 <<'SQL' || true
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT mt.current_subject() || ' in ' || mt.current_tenant();
SQL
}
accepted() { [ "$(try "$1")" = "alice in $tenant" ]; }
refused_with() {   # refused_with <token> <detail fragment>
    local out; out=$(try "$1")
    grep -c "invalid tenant token" <<<"$out" >/dev/null && grep -cF -- "$2" <<<"$out" >/dev/null
}
set_jwks_file() {   # set_jwks_file <key specs...>: writes the file, reloads
    mint jwks "$work" "$@" >"$MT_PGDATA/jwks.json"
    chown postgres "$MT_PGDATA/jwks.json"
    cluster_reload_wait
}

tokA=$(mint token "$work" rsaA RS256 kA "$claims")
tokB=$(mint token "$work" rsaB RS256 kB "$claims")
refused_with "$tokA" "names no key" || fail "RS256 accepted without any key set: $(try "$tokA")"
echo "ok: RS256 refused while no key set is configured"

# key A
mint jwks "$work" rsaA:kA >"$MT_PGDATA/jwks.json"; chown postgres "$MT_PGDATA/jwks.json"
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwks_file = 'jwks.json'" >/dev/null
cluster_reload_wait
wait_for 10 accepted "$tokA" || fail "RS256 token of key A refused: $(try "$tokA")"
refused_with "$tokB" "names no key" || fail "token of key B accepted before B was published: $(try "$tokB")"
echo "ok: key A: its token accepted, key B's refused (unknown kid)"

# A + B
set_jwks_file rsaA:kA rsaB:kB
wait_for 10 accepted "$tokB" || fail "token of key B refused after rotation to A+B: $(try "$tokB")"
accepted "$tokA" || fail "token of key A refused during the overlap: $(try "$tokA")"
nokid=$(mint token "$work" rsaB RS256 - "$claims")
refused_with "$nokid" "several keys" || fail "token without kid accepted with two RSA keys: $(try "$nokid")"
echo "ok: keys A+B: both accepted; a token without kid refused (two keys fit)"

# B only
set_jwks_file rsaB:kB
wait_for 10 refused_with "$tokA" "names no key" || fail "token of retired key A still accepted: $(try "$tokA")"
accepted "$tokB" || fail "token of key B refused: $(try "$tokB")"
accepted "$nokid" || fail "token without kid refused although one RSA key fits: $(try "$nokid")"
echo "ok: key B only: A's token refused, B's accepted, also without kid"

# every algorithm; kid selection across types
set_jwks_file rsaB:kB ec:kE ed:kD
for alg in RS256 PS256; do
    t=$(mint token "$work" rsaB $alg kB "$claims")
    accepted "$t" || fail "$alg token refused: $(try "$t")"
done
t=$(mint token "$work" ec ES256 kE "$claims"); accepted "$t" || fail "ES256 token refused: $(try "$t")"
t=$(mint token "$work" ec ES256 - "$claims"); accepted "$t" || fail "ES256 token without kid refused: $(try "$t")"
t=$(mint token "$work" ed EdDSA kD "$claims"); accepted "$t" || fail "EdDSA token refused: $(try "$t")"
echo "ok: RS256, PS256, ES256 (with and without kid), EdDSA tokens accepted"

# a key restricted to one alg by its own "alg"
set_jwks_file rsaB:kB:RS256
t=$(mint token "$work" rsaB PS256 kB "$claims")
refused_with "$t" "not a key for PS256" || fail "PS256 token accepted by an RS256-only key: $(try "$t")"
echo "ok: a key whose JWK says alg RS256 does not verify PS256"

# a malformed JWKS at a reload: previous keys stay, WARNING logged
set_jwks_file rsaB:kB ec:kE
logsize=$(stat -c %s "$MT_LOG")
printf '{"keys":[{"kty":"RSA","n":' >"$MT_PGDATA/jwks.json"
cluster_reload_wait
warned() { tail -c +"$((logsize + 1))" "$MT_LOG" | grep -c "WARNING:  invalid JWKS in multitenant.jwks_file: the previous keys stay in force" >/dev/null; }
wait_for 10 warned || fail "no WARNING for a malformed JWKS at reload: $(tail -c +"$((logsize + 1))" "$MT_LOG")"
tail -c +"$((logsize + 1))" "$MT_LOG" | grep -c "ERROR\|FATAL" >/dev/null && fail "reload of a malformed JWKS logged an error"
accepted "$tokB" || fail "previous keys lost after a malformed JWKS: $(try "$tokB")"
t=$(mint token "$work" ec ES256 kE "$claims"); accepted "$t" || fail "previous EC key lost: $(try "$t")"
echo "ok: malformed JWKS at reload: WARNING logged, previous keys in force"

mt_psql -d postgres -c "DROP DATABASE $db" >/dev/null
echo "all ok"
