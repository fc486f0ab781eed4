#!/usr/bin/env bash
# Tokens of an identity provider (PyJWT, RS256) are held to the operator's
# multitenant.token_issuer / token_audience and to exp / nbf / iat within
# multitenant.token_leeway; their tenant, subject, roles and workspace come
# from the claims the claim settings name: nested paths
# (app_metadata.tenant_id, realm_access.roles), URL-named claims
# (https://example.com/tenant), a roles array, a tenant named by its slug.
# An unknown or suspended tenant named by the claim is refused.  The
# server's own tokens (mt.tenant_token) keep working under every setting.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

work=$(mktemp -d)
chmod 755 "$work"
cluster_settings_save
trap 'rm -rf "$work"; cluster_settings_restore reload' EXIT
db=mt_jwks_claims
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
tenant=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme-corp')")
other=$(mt_psql -d $db -c "SELECT mt.create_tenant('Gone', 'gone-corp')")
mt_psql -d $db -c "SELECT mt.suspend_tenant('$other')" >/dev/null
nobody=$(mt_psql -d $db -c "SELECT gen_random_uuid()")
wid=$(mt_psql -d $db -c "BEGIN" -c "SELECT mt.set_tenant('$tenant') IS NULL" -c "SELECT mt.create_workspace('ws')" -c "COMMIT" | sed -n 2p)

# Debian python3-jwt (scripts/deps.sh) lives with /usr/bin/python3
mint() { /usr/bin/python3 test/jwt_mint.py "$@"; }
mint key "$work" idp rsa
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwks = '$(mint jwks "$work" idp:k1)'" >/dev/null
now=$(date +%s); exp=$((now + 600))
tok() { mint token "$work" idp RS256 k1 "$1"; }
conf() {   # conf <setting> <value>: ALTER SYSTEM (RESET for "-") and reload
    if [ "$2" = - ]; then mt_psql -d postgres -c "ALTER SYSTEM RESET $1" >/dev/null
    else mt_psql -d postgres -c "ALTER SYSTEM SET $1 = '$2'" >/dev/null; fi
    cluster_reload_wait
}
# prints "<subject>|<tenant>|<role>|<workspace>" of the context, or the error
no_ws=
try() {
    PGOPTIONS="-c test.tok=$1 -c test.ws=${no_ws:+no}" mt_psql -d $db 2>&1 <<'SQL' || true
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT concat_ws('|', coalesce(mt.current_subject(), '-'), coalesce(mt.current_tenant()::text, '-'),
                 coalesce(mt.current_tenant_role(), '-'),
                 CASE WHEN current_setting('test.ws') = '' THEN coalesce(mt.current_workspace()::text, '-') END);
SQL
}
expect() {   # expect <what> <token> <output or refusal fragment>
    local out; out=$(try "$2")
    [ "$out" = "$3" ] || { grep -c "invalid tenant token" <<<"$out" >/dev/null && grep -cF -- "$3" <<<"$out" >/dev/null; } ||
        fail "$1: expected \"$3\", got: $out"
    echo "ok: $1"
}
own=$(mt_psql -d $db -c "SELECT mt.tenant_token('$tenant', '10 min', 'backoffice-user', NULL)")
cluster_reload_wait

# --- issuer
conf multitenant.token_issuer 'https://idp.example.com/, https://login.example.org/v2'
expect "issuer in the list" "$(tok "{\"tid\":\"$tenant\",\"exp\":$exp,\"sub\":\"u1\",\"iss\":\"https://login.example.org/v2\"}")" "u1|$tenant|-|-"
expect "issuer not in the list" "$(tok "{\"tid\":\"$tenant\",\"exp\":$exp,\"iss\":\"https://evil.example.com/\"}")" "issuer is not one of multitenant.token_issuer"
expect "no issuer while one is required" "$(tok "{\"tid\":\"$tenant\",\"exp\":$exp}")" "issuer is not one of multitenant.token_issuer"
expect "issuer prefix of an allowed one" "$(tok "{\"tid\":\"$tenant\",\"exp\":$exp,\"iss\":\"https://idp.example.com\"}")" "issuer is not one of"
expect "the server's own token without iss" "$own" "backoffice-user|$tenant|-|-"
conf multitenant.token_issuer -

# --- audience
conf multitenant.token_audience 'api://multitenant'
expect "audience (array) naming the configured one" "$(tok "{\"tid\":\"$tenant\",\"exp\":$exp,\"sub\":\"u2\",\"aud\":[\"account\",\"api://multitenant\"]}")" "u2|$tenant|-|-"
expect "audience of another API" "$(tok "{\"tid\":\"$tenant\",\"exp\":$exp,\"aud\":\"api://billing\"}")" "does not include one of multitenant.token_audience"
expect "no audience while one is required" "$(tok "{\"tid\":\"$tenant\",\"exp\":$exp}")" "does not include one of multitenant.token_audience"
expect "the database name is not enough once an audience is configured" "$(tok "{\"tid\":\"$tenant\",\"exp\":$exp,\"aud\":\"$db\"}")" "does not include one of"
expect "the server's own token (aud = database)" "$own" "backoffice-user|$tenant|-|-"
conf multitenant.token_audience -
expect "without the setting, aud must name the database" "$(tok "{\"tid\":\"$tenant\",\"exp\":$exp,\"aud\":\"api://multitenant\"}")" "does not include this database"

# --- leeway (offsets of 60 s: the checks below run well within that)
now=$(date +%s)
past=$(tok "{\"tid\":\"$tenant\",\"exp\":$((now - 60)),\"sub\":\"u3\"}")
future_nbf=$(tok "{\"tid\":\"$tenant\",\"exp\":$exp,\"nbf\":$((now + 60)),\"sub\":\"u3\"}")
future_iat=$(tok "{\"tid\":\"$tenant\",\"exp\":$exp,\"iat\":$((now + 60)),\"sub\":\"u3\"}")
expect "expired 60 s ago, no leeway" "$past" "has expired"
expect "nbf 60 s ahead, no leeway" "$future_nbf" "not valid yet"
expect "iat 60 s ahead, no leeway" "$future_iat" "issued in the future"
conf multitenant.token_leeway 180
expect "expired 60 s ago, leeway 180 s" "$past" "u3|$tenant|-|-"
expect "nbf 60 s ahead, leeway 180 s" "$future_nbf" "u3|$tenant|-|-"
expect "iat 60 s ahead, leeway 180 s" "$future_iat" "u3|$tenant|-|-"
expect "expired 400 s ago, leeway 180 s" "$(tok "{\"tid\":\"$tenant\",\"exp\":$(($(date +%s) - 400))}")" "has expired"
conf multitenant.token_leeway -

# --- claim mapping
conf multitenant.tenant_claim 'app_metadata.tenant_id'
expect "nested tenant claim" "$(tok "{\"app_metadata\":{\"plan\":\"x\",\"tenant_id\":\"$tenant\"},\"exp\":$exp,\"sub\":\"u4\"}")" "u4|$tenant|-|-"
expect "top-level tid ignored once the claim is mapped" "$(tok "{\"tid\":\"$tenant\",\"exp\":$exp}")" 'no tenant claim ("app_metadata.tenant_id")'
expect "the path through an array does not match" "$(tok "{\"app_metadata\":[{\"tenant_id\":\"$tenant\"}],\"exp\":$exp}")" "no tenant claim"
expect "tenant claim holding an object" "$(tok "{\"app_metadata\":{\"tenant_id\":{\"id\":\"$tenant\"}},\"exp\":$exp}")" 'The mapped claim "tenant" must not be an object.'
expect "tenant claim twice" "$(mint raw "$work" idp RS256 k1 "{\"app_metadata\":{\"tenant_id\":\"$other\",\"tenant_id\":\"$tenant\"},\"exp\":$exp}")" 'appears twice'
expect "the server's own token still uses tid" "$own" "backoffice-user|$tenant|-|-"
conf multitenant.tenant_claim 'https://example.com/tenant'
expect "URL-named tenant claim" "$(tok "{\"https://example.com/tenant\":\"$tenant\",\"exp\":$exp,\"sub\":\"u5\"}")" "u5|$tenant|-|-"
conf multitenant.tenant_claim '"https://example.com/claims".org'
expect "quoted URL-named object, nested" "$(tok "{\"https://example.com/claims\":{\"org\":\"$tenant\"},\"exp\":$exp,\"sub\":\"u6\"}")" "u6|$tenant|-|-"
conf multitenant.tenant_claim '"extn.tenant"'
expect "quoted claim name holding a dot (Entra extension claim)" "$(tok "{\"extn.tenant\":\"$tenant\",\"exp\":$exp,\"sub\":\"u6b\",\"tid\":{\"not\":\"ours\"}}")" "u6b|$tenant|-|-"
conf multitenant.tenant_claim 'org_id'
expect "tenant named by its slug" "$(tok "{\"org_id\":\"acme-corp\",\"exp\":$exp,\"sub\":\"u7\"}")" "u7|$tenant|-|-"
expect "unknown slug" "$(tok "{\"org_id\":\"nobody-corp\",\"exp\":$exp}")" "The tenant does not exist."
expect "suspended tenant by slug" "$(tok "{\"org_id\":\"gone-corp\",\"exp\":$exp}")" "The tenant is not active."
expect "suspended tenant by uuid" "$(tok "{\"org_id\":\"$other\",\"exp\":$exp}")" "The tenant is not active."
expect "unknown tenant uuid" "$(tok "{\"org_id\":\"$nobody\",\"exp\":$exp}")" "The tenant does not exist."
conf multitenant.subject_claim 'email'
conf multitenant.roles_claim 'realm_access.roles'
conf multitenant.workspace_claim 'ctx.workspace'
expect "subject and workspace mapped" \
    "$(tok "{\"org_id\":\"$tenant\",\"exp\":$exp,\"sub\":\"ignored\",\"email\":\"ann@acme.test\",\"ctx\":{\"workspace\":\"$wid\"}}")" \
    "ann@acme.test|$tenant|-|$wid"
# (the role a token claims is honoured by authorization only when assigned:
# mt.current_tenant_role() shows the claim)
no_ws=1
expect "roles array: the first element" \
    "$(tok "{\"org_id\":\"$tenant\",\"exp\":$exp,\"email\":\"ann@acme.test\",\"realm_access\":{\"roles\":[\"editor\",\"viewer\"]}}")" \
    "ann@acme.test|$tenant|editor"
expect "roles as one string" "$(tok "{\"org_id\":\"$tenant\",\"exp\":$exp,\"email\":\"b@acme.test\",\"realm_access\":{\"roles\":\"admin\"}}")" "b@acme.test|$tenant|admin"
expect "roles array holding a number" "$(tok "{\"org_id\":\"$tenant\",\"exp\":$exp,\"realm_access\":{\"roles\":[1]}}")" 'The mapped claim "roles" must hold strings.'
no_ws=
expect "workspace claim not a uuid" "$(tok "{\"org_id\":\"$tenant\",\"exp\":$exp,\"ctx\":{\"workspace\":\"w1\"}}")" "workspace claim is not a workspace uuid"
expect "the server's own token still uses its fixed claims" "$own" "backoffice-user|$tenant|-|-"

# --- typ of JWT access tokens (RFC 9068)
expect "typ at+jwt" "$(mint token "$work" idp RS256 k1 "{\"org_id\":\"$tenant\",\"exp\":$exp,\"email\":\"c@acme.test\"}" '{"typ":"at+jwt"}')" "c@acme.test|$tenant|-|-"
expect "typ of something else" "$(mint token "$work" idp RS256 k1 "{\"org_id\":\"$tenant\",\"exp\":$exp}" '{"typ":"JWE"}')" "The token type must be JWT"

# --- a Supabase-style token: HS256 with the project's secret, aud
# authenticated, the tenant added by an access-token hook, Supabase's own
# role claim left alone
conf multitenant.tenant_claim 'app_metadata.tenant_id'
conf multitenant.roles_claim 'app_metadata.tenant_role'
conf multitenant.subject_claim 'sub'
conf multitenant.workspace_claim -
conf multitenant.token_audience 'authenticated'
printf '%s' 'super-secret-jwt-token-with-at-least-32-characters-long' >"$work/supabase.secret"
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwt_secret = '$(cat "$work/supabase.secret")'" >/dev/null
cluster_reload_wait
sb=$(mint hs256 "$work/supabase.secret" "{\"aud\":\"authenticated\",\"exp\":$exp,\"sub\":\"2f1c0e8e-user\",\"role\":\"authenticated\",\"app_metadata\":{\"provider\":\"email\",\"tenant_id\":\"$tenant\",\"tenant_role\":\"member\"}}")
no_ws=1
expect "Supabase-style HS256 token" "$sb" "2f1c0e8e-user|$tenant|member"
no_ws=
expect "Supabase-style token for another audience" "$(mint hs256 "$work/supabase.secret" "{\"aud\":\"anon\",\"exp\":$exp,\"app_metadata\":{\"tenant_id\":\"$tenant\"}}")" "does not include one of multitenant.token_audience"
own2=$(mt_psql -d $db -c "SELECT mt.tenant_token('$tenant', '10 min', 'backoffice-user', NULL)")
expect "the server's own token, signed with jwt_secret, keeps its fixed claims" "$own2" "backoffice-user|$tenant|-|-"

# --- settings refused
for bad in '' 'a..b' 'a.b.c.d.e' '"unterminated'; do
    out=$(mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.tenant_claim = '$bad'" 2>&1 || true)
    grep -c "invalid value for parameter" <<<"$out" >/dev/null || fail "claim path '$bad' accepted: $out"
done
out=$(mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.token_issuer = 'a,,b'" 2>&1 || true)
grep -c "invalid value for parameter" <<<"$out" >/dev/null || fail "issuer list with an empty value accepted: $out"
out=$(mt_psql -d $db -c "SET multitenant.tenant_claim = 'sub'" 2>&1 || true)
grep -c "cannot be changed now" <<<"$out" >/dev/null || fail "a session changed the tenant claim: $out"
echo "ok: malformed claim paths and lists refused; a session cannot remap claims"

mt_psql -d postgres -c "DROP DATABASE $db" >/dev/null
echo "all ok"
