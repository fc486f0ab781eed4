#!/usr/bin/env bash
# PostgREST's db-pre-request, mt.enter_from_request(): replays PostgREST's
# per-request prelude in one transaction (its set_config calls for
# search_path, role, request.jwt.claims, request.method, request.path,
# request.headers, then SET LOCAL ROLE, then the pre-request function, then
# the request's query on an isolated table), with tokens minted by Debian's
# python3-jwt.  Proves: the tenant comes from the signed bearer token of
# request.headers, never from request.jwt.claims (set here to forged claims
# naming another tenant); a forged, expired or malformed bearer is refused
# with 28000 and shows nothing; a request without Authorization header runs
# with no context even when the pooled session held one; the same for a
# Supabase-style token (HS256, aud "authenticated", role "authenticated",
# the tenant claim added by a custom access-token hook).
#
# PostgREST binds every prelude value as a parameter, so the token never
# appears in statement text; the replay passes the headers the same way
# (a setting of the startup packet read with current_setting()).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_request_prelude
PY=/usr/bin/python3   # Debian's python3, where python3-jwt is installed
$PY -c 'import jwt' 2>/dev/null || fail "python3-jwt is not installed (scripts/deps.sh installs it)"
secret=$(printf 's%.0s' $(seq 40))
other=$(printf 'x%.0s' $(seq 40))

cluster_settings_save
cleanup() {
    mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.jwt_secret" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS pgrst_authenticator" \
        -c "DROP ROLE IF EXISTS pgrst_authenticated" >/dev/null 2>&1 || true
    cluster_settings_restore reload
}
trap cleanup EXIT

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
    -c "DROP ROLE IF EXISTS pgrst_authenticator" -c "DROP ROLE IF EXISTS pgrst_authenticated" \
    -c "CREATE ROLE pgrst_authenticated NOLOGIN" \
    -c "CREATE ROLE pgrst_authenticator LOGIN NOINHERIT IN ROLE pgrst_authenticated" \
    -c "ALTER SYSTEM SET multitenant.jwt_secret = '$secret'" >/dev/null
cluster_reload_wait
mt_psql -d $db >/dev/null <<'SQL'
CREATE EXTENSION multitenant;
CREATE SCHEMA api;
CREATE TABLE api.notes (id int, tenant_id uuid NOT NULL DEFAULT mt.current_tenant(), body text,
                        PRIMARY KEY (tenant_id, id));
SELECT mt.enable_isolation('api.notes');
GRANT USAGE ON SCHEMA api TO pgrst_authenticated;
GRANT SELECT ON api.notes TO pgrst_authenticated;
SQL
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")
mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "INSERT INTO api.notes VALUES (1, DEFAULT, 'acme note')" \
    -c "SELECT mt.set_tenant('$globex', false)" -c "INSERT INTO api.notes VALUES (1, DEFAULT, 'globex secret')" >/dev/null

# mint <key> <json claims; "exp" relative seconds>
mint() {
    $PY - "$1" "$2" <<'PY'
import json, sys, time, jwt
claims = json.loads(sys.argv[2])
now = int(time.time())
claims["iat"] = now
claims["exp"] = now + claims["exp"]
print(jwt.encode(claims, sys.argv[1], algorithm="HS256"))
PY
}

# request <Authorization header or '-' for none> [session token]: one
# PostgREST request in one transaction, as role pgrst_authenticator; the
# forged request.jwt.claims name Globex.  Prints the pre-request's result,
# then the request's rows, or the error (SQLSTATE with VERBOSITY verbose).
request() {
    local hdrs opts
    if [ "$1" = - ]; then
        hdrs='{"accept":"application/json","host":"api.example"}'
    elif [ "${1:0:1}" = "=" ]; then   # =<headers JSON> as it stands (no spaces)
        hdrs=${1:1}
    else
        hdrs="{\"accept\":\"application/json\",\"${HDR_NAME:-authorization}\":\"${1// /\\ }\",\"host\":\"api.example\"}"
    fi
    opts="-c pgrst.headers=$hdrs -c pgrst.claims={\"tid\":\"$globex\",\"role\":\"pgrst_authenticated\",\"sub\":\"mallory\"}"
    [ -n "${2:-}" ] && opts="$opts -c multitenant.token=$2"
    PGOPTIONS="$opts" mt_psql -d $db -U pgrst_authenticator -v VERBOSITY=verbose 2>&1 <<'SQL' || true
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('search_path', 'api', true), set_config('role', 'pgrst_authenticated', true),
       set_config('request.jwt.claims', current_setting('pgrst.claims'), true),
       set_config('request.method', 'GET', true), set_config('request.path', '/notes', true),
       set_config('request.headers', current_setting('pgrst.headers'), true),
       set_config('request.cookies', '{}', true) \gset
SET LOCAL ROLE pgrst_authenticated;
SELECT coalesce(mt."enter_from_request"()::text, 'anonymous');
SELECT coalesce(string_agg(body, ',' ORDER BY body), 'no rows') FROM api.notes;
COMMIT;
SQL
}

good=$(mint "$secret" "{\"tid\":\"$acme\",\"sub\":\"alice\",\"exp\":600}")
out=$(request "Bearer $good")
[ "$out" = "$acme
acme note" ] || fail "the bearer token of request.headers did not decide the tenant: $out"
echo "ok: the signed bearer token enters Acme; the forged request.jwt.claims naming Globex are ignored"

out=$(HDR_NAME=Authorization request "bearer  $good")
[ "$out" = "$acme
acme note" ] || fail "header name or scheme compared case-sensitively: $out"
echo "ok: header name and Bearer scheme are case-insensitive"

out=$(request -)
[ "$out" = "anonymous
no rows" ] || fail "a request without Authorization header saw rows: $out"
session_tok=$(mint "$secret" "{\"tid\":\"$globex\",\"exp\":600}")
out=$(request - "$session_tok")
[ "$out" = "anonymous
no rows" ] || fail "an anonymous request kept the pooled session's context: $out"
echo "ok: no Authorization header: no context, also when the session held one"

forged=$(mint "$other" "{\"tid\":\"$globex\",\"sub\":\"mallory\",\"exp\":600}")
expired=$(mint "$secret" "{\"tid\":\"$acme\",\"exp\":-60}")
for case in "forged:Bearer $forged:signature does not verify" "expired:Bearer $expired:has expired" \
            "basic:Basic YWxpY2U6cHc=:malformed Authorization header" "empty:Bearer :malformed Authorization header" \
            "unsigned:Bearer $(cut -d. -f1-2 <<<"$good").:invalid tenant token"; do
    name=${case%%:*}; rest=${case#*:}; hdr=${rest%:*}; want=${rest##*:}
    out=$(request "$hdr")
    grep -q "ERROR:  28000" <<<"$out" || fail "$name bearer: not refused with 28000: $out"
    grep -q "$want" <<<"$out" || fail "$name bearer: not refused for the right reason ($want): $out"
    grep -q "globex secret" <<<"$out" && fail "$name bearer: Globex's rows shown: $out"
    case $out in *"$forged"*|*"$expired"*) fail "$name bearer: the error echoes the token: $out" ;; esac
done
echo "ok: forged, expired, unsigned and malformed bearers are refused with 28000, nothing shown"

# an Authorization header that is not a string (an array, an object, null,
# a number) is refused, not taken for an anonymous request
for raw in '{"authorization":["Bearer","x"]}' '{"Authorization":{"Bearer":1}}' \
           '{"authorization":null}' '{"authorization":5}'; do
    out=$(request "=$raw")
    grep -q "ERROR:  28000" <<<"$out" || fail "authorization header $raw: not refused with 28000: $out"
    grep -q "is not a string" <<<"$out" || fail "authorization header $raw: not refused for the right reason: $out"
done
echo "ok: an Authorization header that is not a string is refused with 28000"

out=$(PGOPTIONS='-c pgrst.h=[1]' mt_psql -d $db -U pgrst_authenticator -v VERBOSITY=verbose 2>&1 \
      -c "SELECT set_config('request.headers', current_setting('pgrst.h'), false)" -c "SELECT mt.enter_from_request()" || true)
grep -q "22023.*not a JSON object" <<<"$out" || fail "request.headers that is not an object accepted: $out"
echo "ok: request.headers that is not a JSON object: 22023"

# Supabase: HS256 with the project's JWT secret, aud "authenticated", role
# "authenticated" (PostgREST's role), the tenant claim "tid" added by the
# custom access-token hook (doc/identity.md).  Where the server checks a
# configured audience (multitenant.token_audience), it is set to Supabase's;
# otherwise aud is checked against the database name, so the token carries both.
if [ "$(mt_psql -d postgres -c "SELECT count(*) FROM pg_settings WHERE name = 'multitenant.token_audience'")" = 1 ]; then
    mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.token_audience = 'authenticated'" >/dev/null
    cluster_reload_wait
    aud='"authenticated"'
else
    aud="[\"authenticated\",\"$db\"]"
fi
supa=$(mint "$secret" "{\"aud\":$aud,\"role\":\"authenticated\",\"sub\":\"9b2f0d7e-1111-4c3a-8a5e-0d1f2e3a4b5c\",\"email\":\"alice@acme.example\",\"aal\":\"aal1\",\"session_id\":\"4f1c\",\"is_anonymous\":false,\"tid\":\"$acme\",\"exp\":600}")
out=$(request "Bearer $supa")
[ "$out" = "$acme
acme note" ] || fail "a Supabase-style token did not enter Acme: $out"
wrong_aud=$(mint "$secret" "{\"aud\":\"anon-elsewhere\",\"role\":\"authenticated\",\"tid\":\"$acme\",\"exp\":600}")
out=$(request "Bearer $wrong_aud")
grep -q "ERROR:  28000" <<<"$out" || fail "a token for another audience accepted: $out"
mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.token_audience" >/dev/null 2>&1 || true
echo "ok: a Supabase-style token (aud authenticated, tid from the access-token hook) enters Acme; another audience is refused"
echo "all ok"
