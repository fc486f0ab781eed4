#!/usr/bin/env bash
# Secret rotation without downtime (doc/operations.md, "Rotating secrets"):
# a token, an API key and encrypted audit details made before
# mt.rotate_secret() keep working through the overlap; the key is re-hashed
# under the new pepper at its next use; audit subject keys are re-wrapped
# by mt.rewrap_audit_keys(); once retired, the old token and an unused old
# key stop working while the audit details stay readable.  Also: the
# operator's multitenant.jwt_secret_previous overlap, and a new master
# secret appended to multitenant.secret.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_rotation
secret_file="$MT_PGDATA/multitenant.secret"
saved=$(mktemp)
cp -p "$secret_file" "$saved"
cleanup() {
    cp -p "$saved" "$secret_file"; rm -f "$saved" "$MT_ROOT/with-new-master" "$MT_ROOT/rotation-session.out"
    mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.jwt_secret" \
        -c "ALTER SYSTEM RESET multitenant.jwt_secret_previous" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
q() { mt_psql -d $db -c "$1"; }
sqlstate() {   # sqlstate <sql>: the SQLSTATE the statement fails with
    mt_psql -d $db -v VERBOSITY=verbose -c "$1" 2>&1 | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1
}

# the tenant a token enters, through a placeholder of the startup packet
# (a token in the statement text is refused)
tenant_of() {
    PGOPTIONS="-c test.tok=$1" mt_psql -d $db 2>&1 <<'SQL' || true
SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \gset
SELECT mt.current_tenant();
SQL
}
auth() { q "SELECT mt.authenticate('$1')" 2>&1 || true; }

acme=$(q "SELECT mt.create_tenant('Acme', 'acme')")
t1=$(q "SELECT mt.tenant_token('$acme', '1 hour')")
k_used=$(q "SELECT mt.create_api_key('$acme', 'used', '{}')")
k_idle=$(q "SELECT mt.create_api_key('$acme', 'idle', '{}')")
mt_psql -d $db >/dev/null <<SQL
BEGIN;
SELECT mt.set_tenant('$acme');
SELECT mt.audit('invoice.sent', 'invoice', '1', '{"email": "alice@example.com"}', 'alice');
COMMIT;
SQL
details_alice() {
    q "SELECT string_agg(details->>'email', ',') FROM mt.audit_search_tenant('$acme', subject => 'alice')"
}
[ "$(details_alice)" = "alice@example.com" ] || fail "audit details not readable before rotation: $(details_alice)"

# --- fingerprints before rotation: version 1 of each purpose ------------
[ "$(q "SELECT string_agg(purpose || ':' || version || ':' || state || ':' || usable, ' ' ORDER BY purpose)
        FROM mt.secret_fingerprints()")" = "api_key:1:active:true audit_kek:1:active:true token:1:active:true" ] \
    || fail "unexpected versions: $(q "SELECT * FROM mt.secret_fingerprints()")"
[ "$(q "SELECT count(*) FROM mt.secret_fingerprints() WHERE fingerprint ~ '^[0-9a-f]{16}$'")" = 3 ] \
    || fail "fingerprints missing"
# the key and subject key made version 1 a recorded row (a restore under another secret shows it)
[ "$(q "SELECT string_agg(purpose, ',' ORDER BY purpose) FROM mt.secret_versions")" = "api_key,audit_kek" ] \
    || fail "version 1 not recorded once in use: $(q "SELECT * FROM mt.secret_versions")"
echo "ok: before rotation every purpose is at version 1, recorded once in use"

# a TOTP secret and an SSO client secret, sealed under audit_kek 1
otpauth=$(mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false) IS NOT NULL" \
    -c "SELECT mt.totp_enroll('carol')" | tail -1)
totp_key=$(sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' <<<"$otpauth" |
    /usr/bin/python3 -c 'import base64, sys; s = sys.stdin.read().strip(); print(base64.b32decode(s + "=" * (-len(s) % 8)).hex())')
[ -n "$totp_key" ] || fail "no TOTP secret in the enrolment URI: $otpauth"
sso=$(q "SELECT mt.add_sso_provider('$acme', 'oidc', 'corp', 'https://login.example.com', '{example.com}', '{}', 'client-1', 'sso-client-secret-1')")
totp_ok() {
    mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false) IS NOT NULL" \
        -c "SELECT mt.totp_verify('carol', mt.totp_code('\\x$totp_key'::bytea, now()))" | tail -1
}

# --- rotate every purpose ----------------------------------------------
[ "$(q "SELECT mt.rotate_secret('token')")" = 2 ] || fail "token rotation"
[ "$(q "SELECT mt.rotate_secret('api_key')")" = 2 ] || fail "api_key rotation"
[ "$(q "SELECT mt.rotate_secret('audit_kek')")" = 2 ] || fail "audit_kek rotation"
[ "$(q "SELECT string_agg(purpose || ':' || version || ':' || state, ' ' ORDER BY purpose, version) FROM mt.secret_fingerprints()")" \
    = "api_key:1:previous api_key:2:active audit_kek:1:previous audit_kek:2:active token:1:previous token:2:active" ] \
    || fail "unexpected versions after rotation: $(q "SELECT * FROM mt.secret_fingerprints()")"
[ "$(q "SELECT count(DISTINCT fingerprint) FROM mt.secret_fingerprints()")" = 6 ] || fail "versions share a key"
[ "$(sqlstate "SELECT mt.rotate_secret('master')")" = 22023 ] || fail "unknown purpose accepted"
[ "$(sqlstate "SELECT mt.rotate_secret(NULL)")" = 22004 ] || fail "NULL purpose not refused with 22004"
[ "$(sqlstate "SELECT mt.retire_secret('token', NULL)")" = 22004 ] || fail "NULL version not refused with 22004"
[ "$(sqlstate "SELECT mt.retire_secret('token', 2147483647)")" = 42704 ] || fail "a version that does not exist not refused with 42704"
[ "$(sqlstate "SELECT mt.rewrap_audit_keys(0)")" = 22023 ] || fail "batch 0 not refused with 22023"
[ "$(sqlstate "SELECT mt.rewrap_audit_keys(NULL)")" = 22004 ] || fail "NULL batch not refused with 22004"
echo "ok: rotate_secret introduced version 2 of token, api_key and audit_kek"
sec002() { q "SELECT status || ' ' || coalesce(details::text, '') FROM mt.run_compliance_checks() WHERE check_id = 'MT-SEC-002'"; }
[ "$(sec002 | cut -d' ' -f1)" = pass ] || fail "MT-SEC-002 does not pass with every version usable: $(sec002)"

# overlap: everything made before works, new things use version 2
[ "$(tenant_of "$t1")" = "$acme" ] || fail "token minted before rotation refused during the overlap: $(tenant_of "$t1")"
t2=$(q "SELECT mt.tenant_token('$acme', '1 hour')")
hdr=$(printf '%s' "${t2%%.*}" | tr '_-' '/+' | base64 -d 2>/dev/null || true)
grep -q '"kid":"mt2\.' <<<"$hdr" || fail "new token does not carry version 2: $hdr"
[ "$(tenant_of "$t2")" = "$acme" ] || fail "token of version 2 refused"
echo "ok: tokens of version 1 and 2 both verify during the overlap; new ones carry kid mt2"

[ "$(auth "$k_used")" = "$acme" ] || fail "key minted before rotation refused during the overlap"
q "SELECT mt.flush_api_key_usage()" >/dev/null   # writes the re-hash (and last use)
[ "$(q "SELECT pepper_version FROM mt.api_key_secrets WHERE key_id = mt.api_key_id('$k_used')")" = 2 ] \
    || fail "the key was not re-hashed under version 2 at its use"
[ "$(auth "$k_used")" = "$acme" ] || fail "re-hashed key refused"
[ "$(q "SELECT in_use FROM mt.secret_fingerprints() WHERE purpose = 'api_key' AND version = 1")" = 1 ] \
    || fail "report of keys not yet migrated is wrong"
k_new=$(q "SELECT mt.create_api_key('$acme', 'new', '{}')")
[ "$(q "SELECT pepper_version FROM mt.api_key_secrets WHERE key_id = mt.api_key_id('$k_new')")" = 2 ] || fail "new key not under version 2"
echo "ok: old key authenticates and is re-hashed at its use; 1 key reported not yet migrated"

mt_psql -d $db >/dev/null <<SQL
BEGIN;
SELECT mt.set_tenant('$acme');
SELECT mt.audit('invoice.sent', 'invoice', '2', '{"email": "bob@example.com"}', 'bob');
COMMIT;
SQL
[ "$(details_alice)" = "alice@example.com" ] || fail "details under the previous KEK unreadable during the overlap"
[ "$(q "SELECT string_agg(kek_version::text, ',' ORDER BY id) FROM mt.audit_subject_keys")" = "1,2" ] \
    || fail "new subject key not wrapped with version 2"
echo "ok: audit details readable during the overlap; new subject keys wrapped with version 2"

# --- retirement -----------------------------------------------------------
[ "$(sqlstate "SELECT mt.retire_secret('token', 2)")" = 55000 ] || fail "the active version was retired"
[ "$(sqlstate "SELECT mt.retire_secret('audit_kek', 1)")" = 55000 ] || fail "audit_kek retired while subject keys use it"
[ "$(sqlstate "SELECT mt.retire_secret('audit_kek', 1, force => true)")" = 55000 ] || fail "audit_kek retired by force while in use"
# version 1 seals one subject key, one TOTP secret, one SSO client secret
[ "$(q "SELECT in_use FROM mt.secret_fingerprints() WHERE purpose = 'audit_kek' AND version = 1")" = 3 ] \
    || fail "audit_kek 1 not reported in use by the key and the two sealed secrets"
for i in 1 2 3; do
    [ "$(q "SELECT mt.rewrap_audit_keys(1)")" = 1 ] || fail "rewrap did not move one key or sealed secret (batch $i)"
done
[ "$(q "SELECT mt.rewrap_audit_keys(1)")" = 0 ] || fail "rewrap is not done after the three old ones"
[ "$(q "SELECT string_agg(kek_version::text, ',') FROM (SELECT kek_version FROM mt.totp_secrets
        UNION ALL SELECT kek_version FROM mt.sso_providers) s")" = "2,2" ] || fail "sealed secrets not under version 2"
q "SELECT mt.retire_secret('audit_kek', 1)" >/dev/null
[ "$(details_alice)" = "alice@example.com" ] || fail "details unreadable after the KEK was rewrapped and retired"
[ "$(totp_ok)" = t ] || fail "TOTP does not verify after its secret was re-sealed and version 1 retired"
[ "$(q "SELECT mt.sso_client_secret('$sso')")" = sso-client-secret-1 ] \
    || fail "SSO client secret unreadable after it was re-sealed and version 1 retired"
echo "ok: rewrap is resumable batch by batch, TOTP and SSO secrets included; audit_kek 1 retires once unused; details, TOTP and the SSO secret stay usable"

[ "$(sqlstate "SELECT mt.retire_secret('api_key', 1)")" = 55000 ] || fail "api_key retired while a key still uses it"
q "SELECT mt.retire_secret('api_key', 1, force => true)" >/dev/null
out=$(auth "$k_idle"); grep -q "invalid API key" <<<"$out" || fail "key hashed with the retired pepper still authenticates: $out"
[ "$(auth "$k_used")" = "$acme" ] || fail "re-hashed key refused after retirement"
echo "ok: after retirement the unused old key is refused, the re-hashed one works"

# a session that entered the old token before retirement loses it at its next transaction
# (it polls for the retirement statement by statement: one statement would
# keep the snapshot it started with)
{
    echo "SELECT set_config('multitenant.token', current_setting('test.tok'), false) IS NOT NULL AS entered \\gset"
    echo "SELECT 'before:' || mt.current_tenant();"
    for _ in $(seq 300); do
        echo "SELECT EXISTS (SELECT FROM mt.secret_versions WHERE purpose = 'token' AND version = 1 AND state = 'retired') AS retired \\gset"
        echo "\\if :retired"
        echo "\\else"
        echo "SELECT pg_sleep(0.1) \\gset"
        echo "\\endif"
    done
    echo "SELECT 'after:' || coalesce(mt.current_tenant()::text, 'none');"
} >"$MT_ROOT/rotation-session.sql"
PGOPTIONS="-c test.tok=$t1" mt_psql -d $db -f "$MT_ROOT/rotation-session.sql" >"$MT_ROOT/rotation-session.out" 2>&1 &
sess=$!
wait_for 10 grep -q before: "$MT_ROOT/rotation-session.out" || fail "the session did not enter the old token"
q "SELECT mt.retire_secret('token', 1)" >/dev/null
wait $sess || true
grep -q "after:none" "$MT_ROOT/rotation-session.out" || fail "a session kept a retired token: $(cat "$MT_ROOT/rotation-session.out")"
out=$(tenant_of "$t1"); grep -q "signed with a retired key" <<<"$out" || fail "token of the retired version accepted: $out"
[ "$(tenant_of "$t2")" = "$acme" ] || fail "token of the active version refused after retirement"
echo "ok: after retirement tokens of version 1 are refused (also in a session that held one), version 2 works"

# --- the operator's own HS256 secret: jwt_secret_previous overlap ----------
secret_a=$(printf 'a%.0s' $(seq 40)); secret_b=$(printf 'b%.0s' $(seq 40))
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwt_secret = '$secret_a'" >/dev/null
cluster_reload_wait
ta=$(q "SELECT mt.tenant_token('$acme', '1 hour')")
[ "$(tenant_of "$ta")" = "$acme" ] || fail "token of jwt_secret refused"
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.jwt_secret = '$secret_b'" \
    -c "ALTER SYSTEM SET multitenant.jwt_secret_previous = '$secret_a'" >/dev/null
cluster_reload_wait
[ "$(tenant_of "$ta")" = "$acme" ] || fail "token of the previous jwt_secret refused during the overlap"
tb=$(q "SELECT mt.tenant_token('$acme', '1 hour')")
[ "$(tenant_of "$tb")" = "$acme" ] || fail "token of the new jwt_secret refused"
mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.jwt_secret_previous" >/dev/null
cluster_reload_wait
out=$(tenant_of "$ta"); grep -q "signature does not verify" <<<"$out" || fail "token of the old jwt_secret accepted after the overlap: $out"
[ "$(tenant_of "$tb")" = "$acme" ] || fail "token of the new jwt_secret refused after the overlap"
mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.jwt_secret" >/dev/null
cluster_reload_wait
echo "ok: jwt_secret_previous keeps the old operator secret's tokens valid until it is cleared"

# --- a new master secret: appended to the file, used by the next rotation ---
old_master=$(q "SELECT master FROM mt.secret_fingerprints() WHERE purpose = 'token' AND version = 2")
openssl rand -hex 32 >>"$secret_file"
[ "$(q "SELECT mt.rotate_secret('token')")" = 3 ] || fail "rotation onto the new master"
new_master=$(q "SELECT master FROM mt.secret_fingerprints() WHERE purpose = 'token' AND version = 3")
[ -n "$new_master" ] && [ "$new_master" != "$old_master" ] || fail "version 3 does not derive from the new master ($new_master)"
t3=$(q "SELECT mt.tenant_token('$acme', '1 hour')")
[ "$(tenant_of "$t3")" = "$acme" ] || fail "token of the new master refused by a new session"
[ "$(tenant_of "$t2")" = "$acme" ] || fail "token of the old master refused during the overlap"
# without the new master (a standby or restored copy that lacks the line) the version is not usable
cp -p "$secret_file" "$MT_ROOT/with-new-master"
cp -p "$saved" "$secret_file"
[ "$(q "SELECT usable FROM mt.secret_fingerprints() WHERE purpose = 'token' AND version = 3")" = f ] \
    || fail "a version whose master is missing is reported usable"
out=$(tenant_of "$t3"); grep -q "signature does not verify" <<<"$out" || fail "token of a missing master accepted: $out"
out=$(sec002); grep -q '^fail .*token v3' <<<"$out" || fail "MT-SEC-002 does not name the unusable active version: $out"
echo "ok: a master appended to multitenant.secret signs the next version; without it that version is reported unusable (MT-SEC-002 fails)"

# the first line never changes under a running server: a file whose first
# line is another secret is not reloaded (audit subject lookups and GDPR
# pseudonyms derive from the first master)
{ openssl rand -hex 32; sed -n 2p "$MT_ROOT/with-new-master"; } >"$secret_file"
out=$(tenant_of "$t3"); grep -q "first master secret .* changed" <<<"$out" || fail "a changed first line was reloaded: $out"
[ "$(details_alice)" = "alice@example.com" ] || fail "subject lookup broken after a changed first line"
cp -p "$saved" "$secret_file"
echo "ok: a secret file whose first line changed is refused by a running server (WARNING), lookups keep working"
echo "all ok"
