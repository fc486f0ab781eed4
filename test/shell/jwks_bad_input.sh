#!/usr/bin/env bash
# Hostile tokens and key sets around multitenant.jwks: alg "none", an
# unknown kid, a key of the wrong type for alg, HS256 signed with an RSA
# public key's bytes (the algorithm-confusion attack), a DER (not JOSE)
# ES256 signature, a tampered signature: each refused with 28000.  Key
# sets with an RSA key under 2048 bits, symmetric or private key material,
# over the size limit, or a jwks_file outside the data directory: refused
# with 22023 when set, and nothing of them is in force.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

work=$(mktemp -d)
chmod 755 "$work"
cluster_settings_save
trap 'rm -rf "$work" "$MT_PGDATA/jwks_ok.json" "$MT_PGDATA/jwks_link.json"; cluster_settings_restore reload' EXIT
db=mt_jwks_bad
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
tenant=$(mt_psql -d $db -c "SELECT mt.create_tenant('Bad', 'bad')")

# Debian python3-jwt (scripts/deps.sh) lives with /usr/bin/python3
mint() { /usr/bin/python3 test/jwt_mint.py "$@"; }
for k in rsa:rsa weak:rsa1024 ec:ec; do mint key "$work" "${k%%:*}" "${k##*:}"; done
exp=$(( $(date +%s) + 600 ))
claims="{\"tid\":\"$tenant\",\"exp\":$exp,\"sub\":\"mallory\"}"
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

try() {
    PGOPTIONS="-c test.tok=$1" mt_psql -d $db 2>&1 <<'SQL' || true
\set VERBOSITY verbose
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT coalesce(mt.current_subject(), 'none') || ' in ' || coalesce(mt.current_tenant()::text, 'none');
SQL
}
refused_28000() {   # refused_28000 <what> <token> <detail fragment>
    local out; out=$(try "$2")
    grep -c "ERROR:  28000: invalid tenant token" <<<"$out" >/dev/null && grep -cF -- "$3" <<<"$out" >/dev/null ||
        fail "$1: not refused with 28000 / \"$3\": $out"
    echo "ok: $1 refused (28000)"
}
set_refused_22023() {   # set_refused_22023 <what> <setting> <value> <message fragment>
    local out
    out=$(mt_psql -d postgres -c "\\set VERBOSITY verbose" -c "ALTER SYSTEM SET $2 = '$3'" 2>&1 || true)
    grep -c "ERROR:  22023:" <<<"$out" >/dev/null && grep -cF -- "$4" <<<"$out" >/dev/null ||
        fail "$1: not refused with 22023 / \"$4\": $out"
    echo "ok: $1 refused (22023)"
}

good_jwks=$(mint jwks "$work" rsa:kR ec:kE)
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwks = '$good_jwks'" >/dev/null
cluster_reload_wait
good=$(mint token "$work" rsa RS256 kR "$claims")
[ "$(try "$good")" = "mallory in $tenant" ] || fail "the good RS256 token is refused: $(try "$good")"
echo "ok: the provider's RS256 token is accepted"

# --- tokens
none="$(printf '{"alg":"none","typ":"JWT","kid":"kR"}' | b64url).$(printf '%s' "$claims" | b64url)."
refused_28000 'alg "none" (empty signature)' "$none" 'algorithm "none" is not accepted'
refused_28000 'alg "none" (a signature copied from a good token)' "${none}${good##*.}" 'algorithm "none" is not accepted'
refused_28000 "unknown kid" "$(mint token "$work" rsa RS256 kX "$claims")" 'names no key'
refused_28000 "ES256 token naming the RSA key" "$(mint token "$work" ec ES256 kR "$claims")" 'is not a key for ES256'
refused_28000 "RS256 token naming the EC key" "$(mint token "$work" rsa RS256 kE "$claims")" 'is not a key for RS256'
refused_28000 "HS256 signed with the RSA public key (PEM) as secret" \
    "$(mint hs256 "$work/rsa.pub.pem" "$claims")" 'signature does not verify'
refused_28000 "HS256 signed with the RSA public key, naming its kid" \
    "$(mint hs256 "$work/rsa.pub.pem" "$claims" '{"kid":"kR"}')" "key id is not one of this server's"
printf '%s' "$good" | cut -d. -f1-2 | tr -d '\n' >"$work/si"
es=$(mint token "$work" ec ES256 kE "$claims")
der=$(printf '%s' "${es%.*}" | openssl dgst -sha256 -sign "$work/ec.pem" | b64url)
refused_28000 "ES256 with a DER signature (not JOSE r||s)" "${es%.*}.$der" 'signature does not verify'
sig=${good##*.}; flip=${sig:0:10}$( [ "${sig:10:1}" = A ] && echo B || echo A )${sig:11}
refused_28000 "RS256 with a tampered signature" "${good%.*}.$flip" 'signature does not verify'
other=$(mint token "$work" rsa RS256 kR "{\"tid\":\"$tenant\",\"exp\":$exp,\"sub\":\"admin\"}")
refused_28000 "RS256 payload swapped under a good signature" "${other%.*}.${good##*.}" 'signature does not verify'

# --- key sets
set_refused_22023 "RSA key of 1024 bits" multitenant.jwks "$(mint jwks "$work" weak:kW)" "has 1024 bits"
priv=$(/usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['keys'][0]['d']='AAAA'; print(json.dumps(d))" "$good_jwks")
set_refused_22023 "private key member" multitenant.jwks "$priv" "private or symmetric key material"
set_refused_22023 "symmetric key" multitenant.jwks '{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}' "private or symmetric key material"
set_refused_22023 "symmetric key without k" multitenant.jwks '{"keys":[{"kty":"oct","kid":"h"}]}' 'symmetric ("kty": "oct")'
big=$(/usr/bin/python3 -c "import json,sys; d=json.loads(sys.argv[1]); d['pad']='x'*70000; print(json.dumps(d))" "$good_jwks")
set_refused_22023 "oversized JWKS (70 kB)" multitenant.jwks "$big" "longer than 65536 bytes"
set_refused_22023 "malformed JWKS" multitenant.jwks '{"keys":[{"kty":"RSA"' "not valid JSON"
set_refused_22023 "EC point off the curve" multitenant.jwks \
    '{"keys":[{"kty":"EC","crv":"P-256","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}' "not a point of P-256"
dup=$(mint jwks "$work" rsa:same ec:same)
set_refused_22023 "two keys with one kid" multitenant.jwks "$dup" 'two keys have the "kid"'
set_refused_22023 "jwks_file with an absolute path" multitenant.jwks_file /etc/passwd "relative to the data directory"
set_refused_22023 "jwks_file climbing out" multitenant.jwks_file ../jwks.json "relative to the data directory"
mint jwks "$work" rsa:kR >"$work/outside.json"
ln -sf "$work/outside.json" "$MT_PGDATA/jwks_link.json"
set_refused_22023 "jwks_file as a symlink leaving the data directory" multitenant.jwks_file jwks_link.json "symbolic links included"
set_refused_22023 "missing jwks_file" multitenant.jwks_file no-such.json "cannot be found"

# nothing refused is in force: still exactly the good set
[ "$(mt_psql -d $db -c "SELECT current_setting('multitenant.jwks') = '$good_jwks'")" = t ] ||
    fail "a refused key set replaced the good one"
[ "$(try "$good")" = "mallory in $tenant" ] || fail "the good token is refused after the refused key sets: $(try "$good")"
weak=$(mint token "$work" weak RS256 kW "$claims")
refused_28000 "token of the refused 1024-bit key" "$weak" 'names no key'
echo "ok: the refused key sets left the good one in force"

# a non-superuser neither reads nor sets the key set
mt_psql -d postgres -c "DROP ROLE IF EXISTS jwks_app" -c "CREATE ROLE jwks_app LOGIN" >/dev/null
out=$(mt_psql -d $db -U jwks_app -c "SHOW multitenant.jwks" 2>&1 || true)
grep -c "permission denied\|must be superuser" <<<"$out" >/dev/null || fail "a non-superuser read multitenant.jwks: $out"
out=$(mt_psql -d $db -U jwks_app -c "SET multitenant.jwks = '{\"keys\":[]}'" 2>&1 || true)
grep -c "cannot be changed now\|permission denied" <<<"$out" >/dev/null || fail "a session set multitenant.jwks: $out"
mt_psql -d postgres -c "DROP ROLE jwks_app" >/dev/null
echo "ok: multitenant.jwks is neither readable nor settable by a non-superuser"

mt_psql -d postgres -c "DROP DATABASE $db" >/dev/null
echo "all ok"
