#!/usr/bin/env bash
# The verified-token cache (token_cache.c) never outlives what it depends
# on.  One session sets the same tokens again and again (the cached path)
# while, around it, the signing key changes (HS256 multitenant.jwt_secret),
# an identity provider's key set changes (multitenant.jwks), the claim
# mapping changes (multitenant.tenant_claim), the tenant is suspended, a
# token expires, a token is exposed in a statement's text (burned), and a
# tenant's security policy starts limiting token lifetimes: each use after
# the change gives exactly what a session that never saw the token gives.
# Also: multitenant.token_cache_size = 0 turns the cache off; only
# superusers change it.  (A reload re-applies every setting of the
# configuration files, so each reload here starts a new generation of the
# keys in them: the test shows that a change empties the cache, not which
# of the stamp's members caught it.  With the stamp made constant, the
# first check after the secret changes fails.)  The session polls
# pg_conf_load_time(), which moves when it has processed the reload.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

work=$(mktemp -d)
chmod 755 "$work"
cluster_settings_save
trap 'rm -rf "$work"; cluster_settings_restore reload' EXIT
db=mt_token_cache
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwt_secret = 'first-secret-first-secret-first-secret-0001'" >/dev/null
cluster_reload_wait
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme-cache')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex-cache')")
own=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min', 'alice', NULL)")

mint() { /usr/bin/python3 test/jwt_mint.py "$@"; }
mint key "$work" idp rsa
mint key "$work" idp2 rsa
jwks1=$(mint jwks "$work" idp:k1)
jwks2=$(mint jwks "$work" idp2:k1)
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwks = '$jwks1'" >/dev/null
cluster_reload_wait
exp=$(( $(date +%s) + 600 ))
# names acme by tid and globex by org: the claim mapping decides
idp=$(mint token "$work" idp RS256 k1 "{\"tid\":\"$acme\",\"org\":\"$globex\",\"sub\":\"carol\",\"exp\":$exp,\"iat\":$(( $(date +%s) - 3600 ))}")
# over the 4 kB the cache keeps: checked in full at every set
pad=$(printf 'x%.0s' $(seq 3500))
big=$(mint token "$work" idp RS256 k1 "{\"tid\":\"$acme\",\"sub\":\"dave\",\"exp\":$exp,\"pad\":\"$pad\"}")
[ "${#big}" -gt 4096 ] || fail "the big token is only ${#big} bytes"

# One session, the tokens passed as settings (never in a statement's text).
# A step prints "== name" and then the context or the refusal.
step() {   # step <name> <token setting>
    cat <<SQL
\\echo == $1
SELECT set_config('multitenant.token', current_setting('test.$2'), false) IS NOT NULL AS entered \\gset
SELECT 'context ' || coalesce(mt.current_tenant()::text, '-') || ' ' || coalesce(mt.current_subject(), '-');
SELECT set_config('multitenant.token', '', false) IS NOT NULL AS cleared \\gset
SQL
}
reload() {   # ALTER SYSTEM in the session, and wait (up to 10 s) for its own reload
    cat <<SQL
SELECT pg_conf_load_time() AS loaded_before \\gset
ALTER SYSTEM SET $1 = '$2';
SELECT pg_reload_conf() \\gset
SQL
    for _ in $(seq 100); do
        cat <<'SQL'
SELECT pg_conf_load_time() > :'loaded_before' AS reloaded \gset
\if :reloaded
\else
SELECT pg_sleep(0.1) \gset
\endif
SQL
    done
}
# the same session changes the registry (without a context of its own)
as_admin() { echo "$1 \\gset"; }
# ... and a tenant's security policy (in the tenant's back-office context)
policy() {
    echo "SELECT mt.set_tenant('$acme', false) IS NOT NULL AS entered \\gset"
    echo "SELECT mt.set_security_policy('$acme', '$1') IS NOT NULL AS set \\gset"
    echo "SELECT set_config('multitenant.token', '', false) IS NOT NULL AS cleared \\gset"
}
{
    echo '\set ON_ERROR_STOP off'
    step "short token" short
    step "short token again" short
    echo "SELECT pg_sleep(6) \\gset"
    step "short token after its exp" short
    step "own token" own
    step "own token again" own
    reload multitenant.jwt_secret 'second-secret-second-secret-second-002'
    step "own token after the secret changed" own
    reload multitenant.jwt_secret 'first-secret-first-secret-first-secret-0001'
    step "own token with the first secret back" own
    as_admin "SELECT mt.suspend_tenant('$acme')"
    step "own token of a suspended tenant" own
    as_admin "SELECT mt.resume_tenant('$acme')"
    step "own token of the resumed tenant" own
    step "provider token" idp
    step "provider token again" idp
    step "big token" big
    step "big token again" big
    reload multitenant.tenant_claim org
    step "provider token under tenant_claim org" idp
    reload multitenant.tenant_claim tid
    step "provider token under tenant_claim tid" idp
    reload multitenant.jwks "$jwks2"
    step "provider token after its key left the key set" idp
    reload multitenant.jwks "$jwks1"
    step "provider token with its key back" idp
    policy '{"max_token_lifetime": 600}'
    step "provider token under a max_token_lifetime policy" idp
    policy '{}'
    step "provider token without the policy" idp
    # exposed: the token's text in a statement burns it for its lifetime
    echo '\echo == own token in the statement text'
    echo "SELECT set_config('multitenant.token', '$own', false) IS NOT NULL AS entered \\gset"
    step "own token after it was exposed" own
    echo '\echo == cache size'
    echo 'SHOW multitenant.token_cache_size;'
    echo 'SET multitenant.token_cache_size = 0;'
    step "provider token with the cache off" idp
    step "provider token with the cache off, again" idp
} >"$work/session.sql"

# a token that lives 5 seconds, minted just before the session starts (after
# the session's script is written: that forks hundreds of processes)
short=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '5 seconds', 'bob', NULL)")
PGOPTIONS="-c test.own=$own -c test.short=$short -c test.idp=$idp -c test.big=$big" \
    mt_psql -d $db -f "$work/session.sql" >"$work/out.txt" 2>&1 || true

# what a step printed (its context line, or its refusal detail)
got() {
    awk -v s="== $1" '$0 == s { on = 1; next } /^== / { on = 0 } on' "$work/out.txt"
}
expect() {   # expect <step> <fragment>
    local out; out=$(got "$1")
    grep -cF -- "$2" <<<"$out" >/dev/null || fail "$1: expected \"$2\", got: $out"
    echo "ok: $1: $2"
}
expect "own token" "context $acme alice"
expect "own token again" "context $acme alice"
expect "own token after the secret changed" "The token signature does not verify."
expect "own token after the secret changed" "context - -"
expect "own token with the first secret back" "context $acme alice"
expect "own token of a suspended tenant" "The tenant is not active."
expect "own token of the resumed tenant" "context $acme alice"
expect "short token" "context $acme bob"
expect "short token again" "context $acme bob"
expect "short token after its exp" "The token has expired."
expect "provider token" "context $acme carol"
expect "provider token again" "context $acme carol"
expect "big token" "context $acme dave"
expect "big token again" "context $acme dave"
expect "provider token under tenant_claim org" "context $globex carol"
expect "provider token under tenant_claim tid" "context $acme carol"
expect "provider token after its key left the key set" "invalid tenant token"
expect "provider token after its key left the key set" "context - -"
expect "provider token with its key back" "context $acme carol"
expect "provider token under a max_token_lifetime policy" "exceeds the tenant's max_token_lifetime"
expect "provider token without the policy" "context $acme carol"
expect "own token in the statement text" "must not appear in the statement text"
expect "own token after it was exposed" "has been withdrawn"
expect "cache size" "2MB"
expect "provider token with the cache off" "context $acme carol"
expect "provider token with the cache off, again" "context $acme carol"

# only superusers size the cache
mt_psql -d postgres -c "DROP ROLE IF EXISTS mt_cache_user" -c "CREATE ROLE mt_cache_user LOGIN" >/dev/null
out=$(mt_psql -d $db -U mt_cache_user -c "SET multitenant.token_cache_size = 65536" 2>&1 || true)
grep -c "permission denied to set parameter" <<<"$out" >/dev/null || fail "a plain role resized the token cache: $out"
echo "ok: only superusers set multitenant.token_cache_size"
for v in -1 65537 2GB; do
    out=$(mt_psql -d $db -v VERBOSITY=verbose -c "SET multitenant.token_cache_size = '$v'" 2>&1 || true)
    grep -c "ERROR:  22023" <<<"$out" >/dev/null || fail "token_cache_size = $v not refused with 22023: $out"
done
echo "ok: token_cache_size out of 0..64MB is refused (22023)"
mt_psql -d postgres -c "DROP ROLE mt_cache_user" >/dev/null
mt_psql -d postgres -c "DROP DATABASE $db" >/dev/null
