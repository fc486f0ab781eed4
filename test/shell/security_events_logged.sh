#!/usr/bin/env bash
# Security events survive the refusal that caused them and stay bounded:
#
# - a malformed API key, a revoked key of Acme, a forged token, an expired
#   token of Acme, a quota breach of Acme, the key throttle's lockout and an
#   audit chain found tampered are refused (each statement rolls back), yet
#   after the flush worker runs (mt.flush_usage()) each is a row of
#   mt.security_events with its kind, tenant, client address (the test
#   connects over TCP: 127.0.0.1) and subject, and those of Acme are
#   appended to Acme's audit chain (action security.<kind>), which still
#   verifies;
# - visibility: Acme's context sees only Acme's events, a role without
#   pg_monitor sees none, pg_monitor sees all;
# - bounded: with multitenant.security_event_buffer = 100, a flood of 500
#   forged tokens overflows the ring: each event is a new row or counted
#   in mt_security_events_lost_total (at least 100 are), and with
#   multitenant.security_event_max_rows = 100 the table keeps 100 rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_sec_events
cleanup() {
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS mt_sec_app" \
        -c "DROP ROLE IF EXISTS mt_sec_mon" >/dev/null 2>&1 || true
    cluster_settings_restore restart
}
cluster_settings_save
trap cleanup EXIT
cluster_conf multitenant.security_event_buffer 100
cluster_conf multitenant.api_key_max_failures 5
cluster_restart

tcp() { PGHOST=127.0.0.1 mt_psql -d $db "$@"; }
# a statement that must fail (its transaction rolls back)
refused() {
    local out
    out=$(PGHOST=127.0.0.1 "$MT_PGBIN/psql" -X -q -At -d $db "$@" 2>&1) && fail "not refused: $*"
    return 0
}

mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
    -c "DROP ROLE IF EXISTS mt_sec_app" -c "DROP ROLE IF EXISTS mt_sec_mon" \
    -c "CREATE ROLE mt_sec_app LOGIN" -c "CREATE ROLE mt_sec_mon LOGIN IN ROLE pg_monitor" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex')")
revoked=$(mt_psql -d $db -c "SELECT mt.create_api_key('$acme', 'old')")
revoked_id=$(mt_psql -d $db -c "SELECT mt.api_key_id('$revoked')")
mt_psql -d $db -c "SELECT mt.revoke_api_key('$revoked_id')" -c "SELECT mt.set_quota('$acme', 'exports', 1)" >/dev/null
mt_psql -d $db -c "SELECT mt.set_tenant('$globex', false)" -c "SELECT mt.audit('globex.first')" \
    -c "SELECT mt.audit('globex.second')" >/dev/null

# --- the refusals ------------------------------------------------------------------
refused -c "SELECT mt.authenticate('$revoked')"
refused -c "SELECT mt.authenticate('mt_live_not-a-key')"
good=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '10 min', 'mallory')")
forged="${good%.*}.$(printf 'A%.0s' $(seq 1 43))"
PGOPTIONS="-c multitenant.token=$forged" refused -c "SELECT 1"
short=$(mt_psql -d $db -c "SELECT mt.tenant_token('$acme', '1 second', 'eve')")
expired_refused() { ! PGHOST=127.0.0.1 PGOPTIONS="-c multitenant.token=$short" "$MT_PGBIN/psql" -X -q -At -d $db -c "SELECT 1" >/dev/null 2>&1; }
wait_for 10 expired_refused || fail "the short token never expired"
refused -c "SELECT mt.set_tenant('$acme', false)" -c "SELECT mt.consume('exports', 5)"
# the throttle: 5 failures from 127.0.0.1, then a lockout
for _ in 1 2 3 4 5 6; do refused -c "SELECT mt.authenticate('mt_live_still-not-a-key')"; done
# a tampered chain of Globex, found by verification
mt_psql -d $db -c "ALTER TABLE mt.audit_log DISABLE TRIGGER audit_log_append_only" \
    -c "UPDATE mt.audit_log SET action = 'forged' WHERE tenant_id = '$globex' AND seq = 1" \
    -c "ALTER TABLE mt.audit_log ENABLE TRIGGER audit_log_append_only" >/dev/null
[ "$(mt_psql -d $db -c "SELECT ok FROM mt.audit_verify('$globex')")" = f ] || fail "the tampered chain verified"

mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null

# --- what was recorded ---------------------------------------------------------------
q() { mt_psql -d $db -c "$1"; }
[ "$(q "SELECT count(*) FROM mt.security_events WHERE kind = 'auth_failed' AND tenant_id = '$acme' AND subject = '$revoked_id' AND client = '127.0.0.1'")" = 1 ] \
    || fail "the revoked key's failure is missing: $(q "SELECT * FROM mt.security_events")"
[ "$(q "SELECT count(*) >= 1 FROM mt.security_events WHERE kind = 'auth_failed' AND tenant_id IS NULL AND detail = 'malformed API key'")" = t ] \
    || fail "the malformed key's failure is missing"
[ "$(q "SELECT count(*) FROM mt.security_events WHERE kind = 'token_forged' AND tenant_id IS NULL")" = 1 ] \
    || fail "the forged token is missing: $(q "SELECT kind, count(*) FROM mt.security_events GROUP BY 1")"
[ "$(q "SELECT count(*) >= 1 FROM mt.security_events WHERE kind = 'token_expired' AND tenant_id = '$acme' AND subject = 'eve'")" = t ] \
    || fail "the expired token is missing"
[ "$(q "SELECT count(*) FROM mt.security_events WHERE kind = 'quota_breach' AND tenant_id = '$acme' AND detail = 'exports'")" = 1 ] \
    || fail "the quota breach is missing"
[ "$(q "SELECT count(*) >= 1 FROM mt.security_events WHERE kind = 'throttled' AND client = '127.0.0.1'")" = t ] \
    || fail "the throttle's lockout is missing"
[ "$(q "SELECT count(*) FROM mt.security_events WHERE kind = 'audit_tamper' AND tenant_id = '$globex'")" = 1 ] \
    || fail "the tampered chain is missing"

# Acme's audit chain holds its events and still verifies
[ "$(q "SELECT count(*) >= 3 FROM mt.audit_log WHERE tenant_id = '$acme' AND action LIKE 'security.%'")" = t ] \
    || fail "Acme's security events are not in its audit chain: $(q "SELECT action FROM mt.audit_log WHERE tenant_id = '$acme'")"
[ "$(q "SELECT count(*) FROM mt.audit_log WHERE tenant_id = '$acme' AND action = 'security.quota_breach' AND details->>'detail' = 'exports'")" = 1 ] \
    || fail "the quota breach is not in Acme's chain"
[ "$(q "SELECT ok FROM mt.audit_verify('$acme')")" = t ] || fail "Acme's chain does not verify after the appends"

# visibility
[ "$(mt_psql -d $db -U mt_sec_app -c "SELECT count(*) FROM mt.security_events")" = 0 ] || fail "a plain role sees security events"
[ "$(mt_psql -d $db -U mt_sec_mon -c "SELECT count(DISTINCT kind) FROM mt.security_events")" = 6 ] || fail "pg_monitor does not see every kind"
got=$(mt_psql -d $db -c "SELECT mt.set_tenant('$acme', false)" -c "SET ROLE mt_sec_app" \
      -c "SELECT count(*) FILTER (WHERE tenant_id = '$acme') > 0 AND count(*) FILTER (WHERE tenant_id IS DISTINCT FROM '$acme') = 0 FROM mt.security_events" | tail -1)
[ "$got" = t ] || fail "Acme's context does not see exactly Acme's events"

# --- bounded ---------------------------------------------------------------------------
before=$(q "SELECT count(*) FROM mt.security_event_log")
lost_before=$(q "SELECT substring(mt.metrics() from 'mt_security_events_lost_total ([0-9]+)')")
for i in $(seq 1 500); do
    echo "SET multitenant.token = '${good%.*}.$(printf '%043d' "$i")';"
done | PGHOST=127.0.0.1 "$MT_PGBIN/psql" -X -q -At -d $db >/dev/null 2>&1 || true
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
after=$(q "SELECT count(*) FROM mt.security_event_log")
new=$((after - before))
lost=$(q "SELECT substring(mt.metrics() from 'mt_security_events_lost_total ([0-9]+)')")
# every event was either written or lost (the periodic flush may drain
# during the flood), and the 100-event ring did overflow
[ $((new + lost - lost_before)) = 500 ] || fail "written $new + lost $((lost - lost_before)) != 500 events"
[ $((lost - lost_before)) -ge 100 ] || fail "expected >= 100 lost events, got $((lost - lost_before))"
forged_total=$(q "SELECT substring(mt.metrics() from 'mt_security_events_total\{kind=\"token_forged\"\} ([0-9]+)')")
[ "$forged_total" -ge 501 ] || fail "the counter saw $forged_total forged tokens, expected >= 501"
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.security_event_max_rows = 100" >/dev/null
cluster_reload_wait
PGOPTIONS="-c multitenant.token=$forged" refused -c "SELECT 1"
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
rows=$(q "SELECT count(*) FROM mt.security_event_log")
[ "$after" -gt 101 ] || fail "the flood left only $after rows: the cap below is not tested"
[ "$rows" = 100 ] || fail "security_event_max_rows = 100 kept $rows rows"
echo "security events: $new rows of 500 flooded, $((lost - lost_before)) lost, table capped at $rows"
