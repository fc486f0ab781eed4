#!/usr/bin/env bash
# EdDSA (Ed25519) tokens signed outside the database with OpenSSL are
# accepted once multitenant.jwt_public_key is configured (verify-only), and
# refused when signed by another key or when no public key is configured.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

work=$(mktemp -d)
trap 'rm -rf "$work"; mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.jwt_public_key" -c "SELECT pg_reload_conf()" >/dev/null' EXIT
db=mt_eddsa
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
tenant=$(mt_psql -d $db -c "SELECT mt.create_tenant('Ed', 'ed')")

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
openssl genpkey -algorithm ed25519 -out "$work/good.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/evil.pem" 2>/dev/null
pub=$(openssl pkey -in "$work/good.pem" -pubout -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')
[ ${#pub} = 64 ] || fail "could not extract the public key"

sign() {   # sign <pem> <payload-json>
    local signing_input
    signing_input="$(printf '%s' '{"alg":"EdDSA","typ":"JWT"}' | b64url).$(printf '%s' "$2" | b64url)"
    printf '%s' "$signing_input" >"$work/msg"
    openssl pkeyutl -sign -inkey "$1" -rawin -in "$work/msg" -out "$work/sig"
    printf '%s.%s' "$signing_input" "$(b64url <"$work/sig")"
}
exp=$(( $(date +%s) + 600 ))
good=$(sign "$work/good.pem" "{\"tid\":\"$tenant\",\"exp\":$exp,\"sub\":\"ed-user\"}")
evil=$(sign "$work/evil.pem" "{\"tid\":\"$tenant\",\"exp\":$exp}")

# enters the token without its text in the statement (a literal token is
# refused): it travels in a placeholder setting of the startup packet
try() {
    PGOPTIONS="-c test.tok=$1" mt_psql -d $db 2>&1 <<'SQL' || true
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT mt.current_subject();
SQL
}

out=$(try "$good"); grep -q "invalid tenant token" <<<"$out" || fail "EdDSA accepted without a public key: $out"
echo "ok: EdDSA refused while no public key is configured"

mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwt_public_key = '$pub'" >/dev/null
cluster_reload_wait
out=$(try "$good"); [ "$out" = "ed-user" ] || fail "EdDSA token with the configured key refused: $out"
echo "ok: EdDSA token signed with the configured key accepted"
out=$(try "$evil"); grep -q "signature does not verify" <<<"$out" || fail "EdDSA token of another key accepted: $out"
echo "ok: EdDSA token signed with another key refused"
out=$(mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwt_public_key = 'not-a-key'" 2>&1 || true)
grep -q "32-byte Ed25519 public key" <<<"$out" || fail "malformed public key accepted: $out"
echo "ok: malformed public key refused"
mt_psql -d postgres -c "DROP DATABASE $db"
echo "all ok"
