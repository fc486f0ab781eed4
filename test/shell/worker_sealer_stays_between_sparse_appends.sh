#!/usr/bin/env bash
# Appends a few times a second (one every 0.4 s, so every other sealing
# pass finds nothing) are served by one staying worker, not a new process
# for every event: a worker leaves once its passes have found nothing for
# a second (it used to leave at the first empty pass: about two process
# starts a second, each about 30 ms of CPU).  When the appends end the
# worker leaves, and no worker is started after it for events it had
# sealed (the commits of its stay used to leave the database flagged, and
# the launcher started one more worker that found nothing).  Worker starts
# are counted from the postmaster's own log line for each (log_min_messages
# = debug1 while the test runs): a worker that finds nothing lives a few
# milliseconds, too short to be seen reliably in pg_stat_activity.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_sealer_sparse
load_out=$(mktemp)
cleanup() {
    rm -f "$load_out"
    mt_psql -d $db -c "INSERT INTO load_stop VALUES (true)" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    mt_psql -d postgres -c "ALTER SYSTEM RESET log_min_messages" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" -c "CREATE TABLE load_stop (stop boolean)" >/dev/null
t=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
tok=$(mt_psql -d $db -c "SELECT mt.tenant_token('$t', '1 hour')")
dboid=$(mt_psql -d postgres -c "SELECT oid FROM pg_database WHERE datname = '$db'")
workers() { flush_workers $db; }
no_worker() { [ -z "$(workers)" ]; }
# the setup's own events are sealed and their worker gone
wait_for 15 no_worker || fail "a worker stayed after the setup's events: $(workers)"
mt_psql -d postgres -c "ALTER SYSTEM SET log_min_messages = debug1" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
log_at() { stat -c %s "$MT_LOG"; }
# starts_since <offset>: workers started for the database since that log offset
starts_since() {
    tail -c +"$(( $1 + 1 ))" "$MT_LOG" | grep -c "starting background worker process \"multitenant flush for database $dboid\"" || true
}

MT_APPEND_SLEEP=0.4 steady_appends $db "$tok" >"$load_out" 2>&1 &
load=$!
wait_for 20 mt_true $db "SELECT EXISTS (SELECT FROM mt.audit_log WHERE action = 'load.tick' AND seq IS NOT NULL)" ||
    fail "the appends are not being sealed"
# 8 s of appends: one worker stays 10 s, its stay's end and a round of
# flush_interval may each bring another (at most three); a worker for
# every event or two makes ten or more
o=$(log_at)
sleep 8
n=$(starts_since "$o")
[ "$n" -le 3 ] || fail "8 s of appends every 0.4 s started $n workers (a new one every few passes)"
unsealed=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE seq IS NULL AND at < now() - interval '2 seconds'")
[ "$unsealed" = 0 ] || fail "$unsealed events older than 2 s are unsealed"
echo "ok: 8 s of appends every 0.4 s started $n sealing workers"

# the appends end: the worker leaves, and none comes after it for nothing.
# The stop comes while a worker has at least 3 s of its 10 s stay left, so
# that no worker leaves at the end of its stay with events still to seal.
young() {
    mt_true postgres "SELECT count(*) = 1 AND bool_and(now() - backend_start BETWEEN interval '0.2 s' AND interval '7 s')
                      FROM pg_stat_activity WHERE backend_type = 'multitenant flush' AND datname = '$db'"
}
wait_for 15 young || fail "no worker early in its stay to stop the appends under: $(workers)"
o=$(log_at)
mt_psql -d $db -c "INSERT INTO load_stop VALUES (true)" >/dev/null
wait $load || fail "the appending loop failed: $(cat "$load_out")"
wait_for 10 no_worker || fail "the worker stayed after the appends ended: $(workers)"
sleep 2   # the launcher looks every audit_seal_interval while the flag is up
n=$(starts_since "$o")
[ "$n" = 0 ] || fail "$n workers were started after the appends ended, for events the staying worker had sealed"
unsealed=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE seq IS NULL")
[ "$unsealed" = 0 ] || fail "$unsealed events are unsealed after the worker left"
echo "ok: the worker left after the appends and no other was started after it"
echo "all ok"
