#!/usr/bin/env bash
# Per-tenant security policies (issue 17 item 6): a validated document
# (unknown keys, wrong types, out-of-range values: 22023 naming the path,
# the previous policy unchanged), set only in the tenant's own context with
# security:manage, and enforced where the database holds the lever:
#   - entering a token's context: max_token_lifetime (exp - iat),
#     allowed_issuers, client_cidrs (28000), also for a token of the
#     startup packet (the connection is refused);
#   - mt.authenticate: client_cidrs (28000);
#   - mt.create_api_key: api_key_max_lifetime, api_key_allowed_scopes (42501);
#   - session_idle_limit: a session context unused between transactions for
#     longer is dropped until entered again;
#   - the client address is the connection's, or multitenant.client_addr,
#     which only a superuser or a role granted SET on it can set.
# Every refusal rolls its transaction back, yet reaches the tenant's audit
# chain as a security.* event (written by the flush worker), and the chain
# still verifies.  Tokens are minted with Debian's python3-jwt.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_security_policy
PY=/usr/bin/python3
$PY -c 'import jwt' 2>/dev/null || fail "python3-jwt is not installed (scripts/deps.sh installs it)"
secret=$(printf 'q%.0s' $(seq 40))

cluster_settings_save
cleanup() {
    mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.jwt_secret" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP ROLE IF EXISTS mt_policy_app" >/dev/null 2>&1 || true
    cluster_settings_restore reload
}
trap cleanup EXIT

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
    -c "DROP ROLE IF EXISTS mt_policy_app" -c "CREATE ROLE mt_policy_app LOGIN" \
    -c "ALTER SYSTEM SET multitenant.jwt_secret = '$secret'" >/dev/null
cluster_reload_wait
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")
key=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'before the policy', '{read}')")

# as <sql...>: psql in Acme's back-office context (verbose errors)
as_acme() { mt_psql -d $db -v VERBOSITY=verbose -c "SELECT mt.set_tenant('$acme', false) IS NOT NULL" "$@" 2>&1 | tail -n +2; }
policy() { as_acme -c "SELECT mt.security_policy()"; }

# --- the document -----------------------------------------------------------
out=$(as_acme -c "SELECT mt.set_security_policy('$acme', '{\"max_token_lifetime\": 3600, \"api_key_max_lifetime\": 86400, \"api_key_allowed_scopes\": [\"read\"]}')")
grep -q '"max_token_lifetime": 3600' <<<"$out" || fail "a valid policy was not stored: $out"
before=$(policy)
for case in '{"max_token_lifetime": "1 hour"}|$.max_token_lifetime: must be a number of seconds' \
            '{"max_token_lifetime": 30}|$.max_token_lifetime: must be from 60 to 31536000 seconds' \
            '{"max_token_lifetime": 90.5}|$.max_token_lifetime: must be a whole number of seconds' \
            '{"api_key_max_lifetime": 86400, "mfa_for": ["x"]}|$.mfa_for: unknown key' \
            '{"allowed_issuers": []}|$.allowed_issuers: must hold 1 to 50 items' \
            '{"allowed_issuers": "https://idp.example/"}|$.allowed_issuers: must be an array of strings' \
            '{"api_key_allowed_scopes": ["read", 7]}|$.api_key_allowed_scopes[1]: must be a string' \
            '{"client_cidrs": ["10.0.0.0/8", "10.0.0.0/33"]}|$.client_cidrs[1]: not an IPv4 or IPv6 address or CIDR network' \
            '{"client_cidrs": ["example.com"]}|$.client_cidrs[0]: not an IPv4 or IPv6 address or CIDR network' \
            '[]|$: must be a JSON object'; do
    doc=${case%%|*}; want=${case#*|}
    out=$(as_acme -c "SELECT mt.set_security_policy('$acme', '$doc')" || true)
    grep -q "ERROR:  22023: invalid security policy" <<<"$out" || fail "policy $doc: not refused with 22023: $out"
    grep -qF "DETAIL:  $want" <<<"$out" || fail "policy $doc: the detail does not name $want: $out"
done
[ "$(policy)" = "$before" ] || fail "a refused policy changed the stored one: $(policy)"
echo "ok: malformed policies are refused with 22023 naming the path; the stored policy is unchanged"

out=$(mt_psql -d $db -v VERBOSITY=verbose -c "SELECT mt.set_security_policy('$acme', '{}')" 2>&1 || true)
grep -q "42501" <<<"$out" || fail "a policy was set without a tenant context: $out"
out=$(mt_psql -d $db -v VERBOSITY=verbose -c "SELECT mt.set_tenant('$globex', false) IS NOT NULL" \
      -c "SELECT mt.set_security_policy('$acme', '{}')" 2>&1 || true)
grep -q "42501" <<<"$out" || fail "another tenant's context set Acme's policy: $out"
out=$(mt_psql -d $db -v VERBOSITY=verbose -c "SELECT mt.set_tenant_subject('$acme', 'bob', 'member', NULL, false) IS NOT NULL" \
      -c "SELECT mt.set_security_policy('$acme', '{}')" 2>&1 || true)
grep -q "42501.*security:manage" <<<"$out" || fail "a member set the policy: $out"
out=$(mt_psql -d $db -c "SELECT mt.set_tenant_subject('$acme', 'ann', 'admin', NULL, false) IS NOT NULL" \
      -c "SELECT mt.set_security_policy('$acme', mt.security_policy())" 2>&1 || true)
grep -q '"max_token_lifetime": 3600' <<<"$out" || fail "the tenant's admin cannot set the policy: $out"
echo "ok: only the tenant's own context with security:manage (back office, owner, admin) sets the policy"

# --- mt.create_api_key -------------------------------------------------------
for call in "'{write}', now() + interval '1 hour'|scope \"write\" is not in the tenant's api_key_allowed_scopes" \
            "'{read}'|the tenant's api_key_max_lifetime (86400 s) requires an expires_at" \
            "'{read}', now() + interval '2 days'|expires_at is later than the tenant's api_key_max_lifetime (86400 s) allows"; do
    args=${call%%|*}; want=${call#*|}
    out=$(as_acme -c "SELECT mt.create_api_key('$acme', 'k', $args)" || true)
    grep -q "ERROR:  42501: API key refused by the tenant's security policy" <<<"$out" || fail "create_api_key($args) not refused: $out"
    grep -qF "$want" <<<"$out" || fail "create_api_key($args): wrong reason: $out"
done
as_acme -c "SELECT mt.create_api_key('$acme', 'k', '{read}', now() + interval '1 hour') IS NOT NULL" | grep -c '^t$' >/dev/null \
    || fail "a key within the policy was refused"
echo "ok: mt.create_api_key enforces api_key_max_lifetime and api_key_allowed_scopes (42501)"
# the successor mt.rotate_api_key makes is a new key: held to the policy
# (the key made before the policy has no expiry, which it now requires)
old_id=$(mt_psql -d $db -c "SELECT key_id FROM mt.api_key_secrets WHERE name = 'before the policy'")
out=$(as_acme -c "SELECT mt.rotate_api_key('$old_id', '1 hour')" || true)
grep -c "ERROR:  42501: API key refused by the tenant's security policy" <<<"$out" >/dev/null ||
    fail "mt.rotate_api_key made a successor the policy forbids: $out"
grep -cF "requires an expires_at" <<<"$out" >/dev/null || fail "rotate_api_key: wrong reason: $out"
[ "$(mt_psql -d $db -c "SELECT rotated_to IS NULL FROM mt.api_key_secrets WHERE key_id = '$old_id'")" = t ] ||
    fail "a refused rotation changed the old key"
echo "ok: mt.rotate_api_key holds the successor to the policy (42501), the old key unchanged"

# --- tokens --------------------------------------------------------------------
mint() {   # mint <json claims; iat/exp relative seconds, "iat": null drops it>
    $PY - "$secret" "$1" <<'PY'
import json, sys, time, jwt
c = json.loads(sys.argv[2]); now = int(time.time())
for k in ("iat", "exp"):
    if c.get(k) is None: c.pop(k, None)
    else: c[k] = now + c[k]
print(jwt.encode(c, sys.argv[1], algorithm="HS256"))
PY
}
# enter <token> [psql options...]: enter in a transaction, print the tenant or the error
enter() {
    local tok=$1; shift
    PGOPTIONS="-c test.tok=$tok" mt_psql -d $db -v VERBOSITY=verbose "$@" 2>&1 <<'SQL' || true
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok'), true) IS NOT NULL AS entered \gset
SELECT mt.current_tenant();
COMMIT;
SQL
}
as_acme -c "SELECT mt.set_security_policy('$acme', '{\"max_token_lifetime\": 3600, \"allowed_issuers\": [\"https://idp.acme.example/\"]}')" >/dev/null
iss='"iss": "https://idp.acme.example/"'
out=$(enter "$(mint "{\"tid\": \"$acme\", $iss, \"iat\": 0, \"exp\": 600}")")
[ "$out" = "$acme" ] || fail "a token within the policy was refused: $out"
for case in "{\"tid\": \"$acme\", $iss, \"iat\": -4000, \"exp\": 600}|exceeds the tenant's max_token_lifetime (3600 s)" \
            "{\"tid\": \"$acme\", $iss, \"iat\": null, \"exp\": 600}|the token has no \"iat\" claim" \
            "{\"tid\": \"$acme\", \"iss\": \"https://evil.example/\", \"iat\": 0, \"exp\": 600}|the token's issuer is not one of the tenant's allowed_issuers" \
            "{\"tid\": \"$acme\", \"iat\": 0, \"exp\": 600}|the token has no \"iss\" claim"; do
    claims=${case%%|*}; want=${case#*|}
    out=$(enter "$(mint "$claims")")
    grep -q "ERROR:  28000: invalid tenant token" <<<"$out" || fail "token $claims not refused with 28000: $out"
    grep -qF "Refused by the tenant's security policy: " <<<"$out" || fail "token $claims: not the policy's refusal: $out"
    grep -qF "$want" <<<"$out" || fail "token $claims: wrong reason ($want): $out"
done
# the lifetime is exp - iat as the token says: multitenant.token_leeway does not add to it
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.token_leeway = 300" >/dev/null
cluster_reload_wait
out=$(enter "$(mint "{\"tid\": \"$acme\", $iss, \"iat\": -3000, \"exp\": 600}")")
[ "$out" = "$acme" ] || fail "a token of exactly max_token_lifetime was refused under a token_leeway: $out"
mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.token_leeway" >/dev/null
cluster_reload_wait
echo "ok: max_token_lifetime compares exp - iat, without the leeway"
out=$(enter "$(mint "{\"tid\": \"$globex\", \"iat\": -4000, \"exp\": 600}")")
[ "$out" = "$globex" ] || fail "Acme's policy applied to Globex: $out"
tok=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min')")
out=$(enter "$tok")
[ "$out" = "$acme" ] || fail "a back-office token (mt.tenant_token, no issuer) was refused: $out"
# the startup packet: the connection is refused (PostgreSQL applies it in a
# transaction); were it applied outside one, its context would be unusable
long=$(mint "{\"tid\": \"$acme\", $iss, \"iat\": -4000, \"exp\": 600}")
out=$(PGOPTIONS="-c multitenant.token=$long" mt_psql -d $db -c "SELECT coalesce(mt.current_tenant()::text, 'none')" 2>&1 || true)
grep -qF "Refused by the tenant's security policy: the token's lifetime" <<<"$out" || [ "$out" = none ] \
    || fail "a token of the startup packet bypassed the policy: $out"
echo "ok: max_token_lifetime and allowed_issuers refuse tokens with 28000 (also in the startup packet); other tenants and back-office tokens unaffected"

# --- client addresses ------------------------------------------------------------
good=$(mint "{\"tid\": \"$acme\", $iss, \"iat\": 0, \"exp\": 600}")
as_acme -c "SELECT mt.set_security_policy('$acme', '{\"client_cidrs\": [\"10.9.0.0/16\", \"2001:db8::/32\"]}')" >/dev/null
out=$(enter "$good" -h 127.0.0.1)
grep -qF "the client address 127.0.0.1 is not in the tenant's client_cidrs" <<<"$out" || fail "a token from 127.0.0.1 accepted: $out"
out=$(enter "$good")
grep -qF "the client address local is not in the tenant's client_cidrs" <<<"$out" || fail "a token over the Unix socket accepted: $out"
out=$(mt_psql -d $db -h 127.0.0.1 -v VERBOSITY=verbose -c "SELECT mt.authenticate('$key')" 2>&1 || true)
grep -q "ERROR:  28000: API key refused by the tenant's security policy" <<<"$out" || fail "an API key from 127.0.0.1 accepted: $out"
# a trusted gateway passes the request's address
out=$(PGOPTIONS="-c test.tok=$good" mt_psql -d $db -h 127.0.0.1 2>&1 <<'SQL' || true
BEGIN;
SET LOCAL multitenant.client_addr = '10.9.3.4';
SELECT set_config('multitenant.token', current_setting('test.tok'), true) IS NOT NULL AS entered \gset
SELECT mt.current_tenant();
COMMIT;
SQL
)
[ "$out" = "$acme" ] || fail "multitenant.client_addr in client_cidrs refused: $out"
out=$(mt_psql -d $db -U mt_policy_app -v VERBOSITY=verbose -c "SET multitenant.client_addr = '10.9.3.4'" 2>&1 || true)
grep -q "42501" <<<"$out" || fail "an ordinary role set multitenant.client_addr: $out"
mt_psql -d $db -c "GRANT SET ON PARAMETER multitenant.client_addr TO mt_policy_app" >/dev/null
out=$(mt_psql -d $db -U mt_policy_app -c "BEGIN" -c "SET LOCAL multitenant.client_addr = '10.9.3.4'" \
      -c "SELECT mt.authenticate('$key') IS NOT NULL" -c "COMMIT" 2>&1 || true)
[ "$out" = t ] || fail "a role granted SET on multitenant.client_addr could not pass an allowed address: $out"
mt_psql -d $db -c "REVOKE SET ON PARAMETER multitenant.client_addr FROM mt_policy_app" >/dev/null
out=$(mt_psql -d $db -v VERBOSITY=verbose -c "SET multitenant.client_addr = '10.9.0.0/16'" 2>&1 || true)
grep -q "22023" <<<"$out" || fail "a network accepted as multitenant.client_addr: $out"
echo "ok: client_cidrs refuse tokens and API keys from other addresses (28000); multitenant.client_addr only from a trusted role"

# --- session_idle_limit ------------------------------------------------------------
as_acme -c "SELECT mt.set_security_policy('$acme', '{\"session_idle_limit\": 2}')" >/dev/null
out=$(PGOPTIONS="-c test.tok=$good" mt_psql -d $db 2>&1 <<'SQL' || true
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT 'busy:' || coalesce(mt.current_tenant()::text, 'none');
SELECT pg_sleep(2.5);
SELECT 'after a long statement:' || coalesce(mt.current_tenant()::text, 'none');
\! sleep 3
SELECT 'after idling:' || coalesce(mt.current_tenant()::text, 'none');
SELECT 'still:' || coalesce(mt.current_tenant()::text, 'none');
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT 'entered again:' || coalesce(mt.current_tenant()::text, 'none');
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok'), true) IS NOT NULL AS entered \gset
COMMIT;
\! sleep 3
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok'), true) IS NOT NULL AS entered \gset
SELECT 'per transaction:' || coalesce(mt.current_tenant()::text, 'none');
COMMIT;
SQL
)
[ "$out" = "busy:$acme

after a long statement:$acme
after idling:none
still:none
entered again:$acme
per transaction:$acme" ] || fail "session_idle_limit not enforced as expected: $out"
echo "ok: session_idle_limit drops a session context held idle too long (until entered again); SET LOCAL per transaction is unaffected"

# --- the events outlive the refused transactions ---------------------------------
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
events() {
    mt_psql -d $db -c "SELECT string_agg(action || '=' || n, ',' ORDER BY action) FROM (SELECT action, count(*) n
        FROM mt.audit_search_tenant('$acme') WHERE action LIKE 'security.%refused' OR action = 'security.session_idle' GROUP BY action) s"
}
# (api_key_create_refused: the three refused mt.create_api_key calls and the refused rotation)
want="security.api_key_create_refused=4,security.api_key_refused=1,security.session_idle=1,security.token_refused=7"
events_recorded() { mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null; [ "$(events)" = "$want" ]; }
wait_for 20 events_recorded || fail "the refusals are not in Acme's audit chain as security events: $(events) (want $want)"
detail=$(mt_psql -d $db -c "SELECT details->>'detail' FROM mt.audit_search_tenant('$acme') WHERE action = 'security.api_key_refused'")
grep -qF "127.0.0.1 is not in the tenant's client_cidrs" <<<"$detail" || fail "the event does not give the reason: $detail"
[ "$(mt_psql -d $db -c "SELECT ok FROM mt.audit_verify('$acme')")" = t ] || fail "Acme's audit chain does not verify"
[ "$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_search_tenant('$globex') WHERE action LIKE 'security.%refused'")" = 0 ] \
    || fail "Globex's chain holds Acme's events"
echo "ok: every refusal is a security event in the tenant's audit chain (written after the rollback); the chain verifies"
echo "all ok"
