#!/usr/bin/env bash
# The sealing worker stays for further passes while appends keep coming
# (one process start every 10 s instead of every pass or second: a start
# costs about 30 ms of CPU), and its stay holds nothing up: a flush of its
# database (mt.flush_usage()) makes it leave at its next pass, a longer
# multitenant.audit_seal_interval is read between passes, and the database
# can be dropped as soon as its sessions are gone.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_sealer_stays
load_out=$(mktemp)
cleanup() {
    rm -f "$load_out"
    mt_psql -d $db -c "INSERT INTO load_stop VALUES (true)" >/dev/null 2>&1 || true
    wait 2>/dev/null || true
    mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.audit_seal_interval" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" -c "CREATE TABLE load_stop (stop boolean)" >/dev/null
t=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
tok=$(mt_psql -d $db -c "SELECT mt.tenant_token('$t', '1 hour')")

# steady appends from one server-side loop, each committed, about 50 a
# second, until a row in load_stop says to stop
steady_appends $db "$tok" >"$load_out" 2>&1 &
load=$!

workers() { flush_workers $db; }
has_worker() { [ -n "$(workers)" ]; }
# the load runs and is being sealed (the setup's own events get a worker
# of their own first, which leaves when it finds nothing more)
wait_for 20 mt_true $db "SELECT EXISTS (SELECT FROM mt.audit_log WHERE action = 'load.tick' AND seq IS NOT NULL)" ||
    fail "the appends are not being sealed"
wait_for 10 has_worker || fail "no sealing worker started for the appends"
# 8 s of appends: the processes that served them, sampled every 0.1 s.
# One worker stays 10 s; its stay's end and a round of
# multitenant.flush_interval may each bring another (at most three).  A
# new worker every second would make eight or more.
seen=""; n=0; with=0
end=$(( $(date +%s%N) + 8000000000 ))
while [ "$(date +%s%N)" -lt "$end" ]; do
    w=$(workers)
    n=$((n + 1)); [ -n "$w" ] && with=$((with + 1))
    seen="$seen $w"
    sleep 0.1
done
distinct=$(tr ' ' '\n' <<<"$seen" | grep . | sort -u | tr '\n' ' ' || true)
[ $((with * 10)) -ge $((n * 8)) ] || fail "a sealing worker ran in only $with of $n samples under steady appends"
[ "$(wc -w <<<"$distinct")" -le 3 ] || fail "8 s of appends were served by the workers $distinct (a new one every second or pass)"
unsealed=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE seq IS NULL AND at < now() - interval '2 seconds'")
[ "$unsealed" = 0 ] || fail "$unsealed events older than 2 s are unsealed while the worker stays"
echo "ok: the workers $distinct served 8 s of appends ($with of $n samples), sealing as they came"

# a flush of the database does not wait for the stay to end
PGOPTIONS="-c multitenant.token=$tok" mt_psql -d $db -c "SELECT mt.track('exports')" >/dev/null
t0=$(date +%s%N)
rows=$(PGOPTIONS="-c statement_timeout=20s" mt_psql -d $db -c "SELECT mt.flush_usage()")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rows" -ge 1 ] || fail "mt.flush_usage() wrote no rollup row: $rows"
[ "$ms" -lt 5000 ] || fail "mt.flush_usage() waited $ms ms for the staying sealer"
echo "ok: mt.flush_usage() ran while appends continued ($ms ms, $rows rollup rows)"

# a longer multitenant.audit_seal_interval is read between passes: with
# 1 h the worker leaves before its next pass
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.audit_seal_interval = '1h'" -c "SELECT pg_reload_conf()" >/dev/null
no_worker() { [ -z "$(workers)" ]; }
wait_for 5 no_worker || fail "the sealing worker stayed after audit_seal_interval became 1 h: $(workers)"
echo "ok: the worker left once audit_seal_interval became 1 h"
mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.audit_seal_interval" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 10 has_worker || fail "no sealing worker started again after the interval was reset"

# the appends end: the worker leaves, and the database can be dropped at
# once (DROP DATABASE fails after 5 s while a session stays connected)
mt_psql -d $db -c "INSERT INTO load_stop VALUES (true)" >/dev/null
wait $load || fail "the appending loop failed: $(cat "$load_out")"
t0=$(date +%s%N)
out=$(mt_psql -d postgres -c "DROP DATABASE $db" 2>&1) || fail "DROP DATABASE failed right after the appends: $out"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "ok: DROP DATABASE right after the appends succeeded ($ms ms)"
echo "all ok"
