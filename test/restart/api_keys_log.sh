#!/usr/bin/env bash
# Plaintext API keys never reach the server log: failing statements that
# contain a key, logged statements (log_statement = all), error messages
# that quote the key and PL/pgSQL contexts are redacted and the STATEMENT
# line is hidden.  Also: without preloading, the key functions refuse with
# a hint (the throttle and last-use table need shared memory) and still
# keep the key out of the log.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_restart_keys
cluster_settings_save   # usage slots and the preload list change below
trap 'cluster_settings_restore restart' EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant" -c "SELECT mt.reset_api_key_throttle()" >/dev/null
tenant=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
key=$(mt_psql -d $db -c "SELECT mt.create_api_key('$tenant', 'ci')")
revoked=$(mt_psql -d $db -c "SELECT mt.create_api_key('$tenant', 'old', mode => 'test')")
mt_psql -d $db -c "SELECT mt.revoke_api_key(mt.api_key_id('$revoked'))" >/dev/null
secret=${key:20}              # '_' + secret + checksum: what must never be logged
rsecret=${revoked:20}
key_id=${key:8:12}
log_offset=$(stat -c %s "$MT_LOG")

# failing statements with a key in them (each must fail)
try_fail() {
    if mt_psql -d $db "$@" >/dev/null 2>&1; then fail "statement unexpectedly succeeded: $*"; fi
}
try_fail -c "SELECT mt.authenticate('$revoked')"                                  # 28000
try_fail -c "SELECT mt.authenticate('$key')::int"                                 # parse-time error
try_fail -c "SELECT 1 / 0 FROM mt.verify_api_key('$key')"                         # run-time error
try_fail -c "SELECT '$key'::uuid"                                                 # the message quotes the key
try_fail -c "DO \$\$ BEGIN PERFORM mt.authenticate('$revoked'); END \$\$"         # PL/pgSQL context
try_fail -c "SET log_statement = 'all'" -c "SELECT mt.authenticate('$key')" \
         -c "PREPARE p (text) AS SELECT mt.authenticate(\$1)" -c "EXECUTE p ('$key')" -c "SELECT 1 / 0"
mt_psql -d $db -c "SET log_min_duration_statement = 0" -c "SELECT count(*) FROM mt.verify_api_key('$key')" >/dev/null
# the last statement's duration line is the last line these write
logged_since() { tail -c +"$(($1 + 1))" "$MT_LOG" | grep -c -- "$2" >/dev/null; }
wait_for 10 logged_since "$log_offset" "duration: .*mt.verify_api_key(" || true

new_log=$(tail -c +"$((log_offset + 1))" "$MT_LOG")
grep -q "invalid API key" <<<"$new_log" || fail "the 28000 error was not logged at all"
grep -q "statement: SELECT mt.authenticate('mt_live_${key_id}_\*\*\*\*" <<<"$new_log" \
    || fail "log_statement line missing or not redacted"
grep -q "invalid input syntax for type uuid: \"mt_live_${key_id}_\*\*\*\*" <<<"$new_log" \
    || fail "uuid error not logged or not redacted"
grep -q "duration: .*mt.verify_api_key('mt_live_${key_id}_\*\*\*\*" <<<"$new_log" \
    || fail "duration line missing or not redacted"
if grep -q -- <<<"$new_log" "$secret"; then
    echo "$new_log" | grep -- "$secret"; fail "a plaintext key reached the server log"
fi
if grep -q -- <<<"$new_log" "$rsecret"; then fail "the revoked key reached the server log"; fi
grep -q "STATEMENT:.*mt_" <<<"$new_log" && fail "a STATEMENT line with a key was logged"
echo "ok: failing and logged statements keep the key out of the server log"
# nothing in the whole log of this cluster looks like a key
if grep -Eq 'mt_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{28}' "$MT_LOG"; then
    grep -E 'mt_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{28}' "$MT_LOG" | head -3
    fail "the server log holds something shaped like a key"
fi
echo "ok: no key-shaped string anywhere in the server log"

# keys survive a restart and a crash (only the hash is stored; the pepper is
# derived from the secret file)
for how in cluster_restart cluster_crash_restart; do
    $how
    got=$(mt_psql -d $db -c "BEGIN" -c "SELECT mt.authenticate('$key')" -c "SELECT mt.current_subject()" -c "COMMIT" | tail -1)
    [ "$got" = "key:$key_id" ] || fail "key not accepted after $how (got '$got')"
    echo "ok: key valid after $how"
done

# last-use slots: a full table first evicts entries already written, so
# flushing between bursts keeps every key's last_used_at
cluster_conf multitenant.api_key_usage_slots 100
cluster_restart
mt_psql -d $db -c "CREATE TABLE many AS SELECT g, mt.create_api_key('$tenant', 'k' || g) AS k FROM generate_series(1, 150) g" >/dev/null
for lo in 1 51 101; do
    mt_psql -d $db -c "SELECT count(mt.authenticate(k)) FROM many WHERE g BETWEEN $lo AND $lo + 49" >/dev/null
    got=$(mt_psql -d $db -c "SELECT mt.flush_api_key_usage()")
    [ "$got" = 50 ] || fail "flush after 50 keys wrote $got rows"
done
got=$(mt_psql -d $db -c "SELECT count(*) FROM mt.api_key_secrets s JOIN many ON mt.api_key_id(many.k) = s.key_id WHERE s.last_used_at IS NOT NULL")
[ "$got" = 150 ] || fail "only $got of 150 keys have last_used_at"
# without flushing, 150 keys do not fit: the oldest updates are dropped, nothing fails
mt_psql -d $db -c "SELECT count(mt.authenticate(k)) FROM many" >/dev/null
got=$(mt_psql -d $db -c "SELECT mt.flush_api_key_usage()")
[ "$got" -ge 1 ] && [ "$got" -le 100 ] || fail "overfull flush wrote $got rows"
echo "ok: last-use slots evict written entries first and never fail a call"
as_pg sed -i '/multitenant.api_key_usage_slots/d' "$MT_PGDATA/postgresql.conf"

# without preloading
cluster_conf shared_preload_libraries ''
cluster_restart
log_offset=$(stat -c %s "$MT_LOG")
out=$(mt_psql -d $db -c "SELECT mt.authenticate('$key')" 2>&1 || true)
grep -q "requires multitenant to be loaded via shared_preload_libraries" <<<"$out" \
    || fail "authenticate without preload: unexpected '$out'"
grep -q -- <<<"$out" "$secret" && fail "the key was echoed to the client"
out=$(mt_psql -d $db -c "SELECT count(*) FROM mt.verify_api_key('$key')" 2>&1 || true)
grep -q "shared_preload_libraries" <<<"$out" || fail "verify without preload: unexpected '$out'"
got=$(mt_psql -d $db -c "SELECT mt.api_key_id('$key')")
[ "$got" = "$key_id" ] || fail "api_key_id without preload (got '$got')"
wait_for 10 logged_since "$log_offset" "requires multitenant to be loaded" || fail "the refusal was not logged"
tail -c +"$((log_offset + 1))" "$MT_LOG" | grep -c -- "$secret" >/dev/null && fail "key logged without preload"
echo "ok: without preloading the key functions refuse with a hint and log no key"

cluster_settings_restore restart   # multitenant preloaded again
mt_psql -d postgres -c "DROP DATABASE $db"
echo "all ok"
