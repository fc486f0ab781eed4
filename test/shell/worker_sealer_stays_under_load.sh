#!/usr/bin/env bash
# The sealing worker stays for further passes while appends keep coming
# (one process start every 10 s instead of every pass: a start costs about
# 30 ms of CPU), and its stay holds nothing up: a flush of its database
# (mt.flush_usage()) makes it leave at its next pass, a new
# multitenant.audit_seal_interval is read between passes, and the database
# can be dropped as soon as its sessions are gone.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_sealer_stays
work=$(mktemp -d)
cleanup() {
    touch "$work/stop"
    wait 2>/dev/null || true
    mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.audit_seal_interval" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
mt_psql -d $db -c "CREATE EXTENSION multitenant" >/dev/null
t=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme')")
tok=$(mt_psql -d $db -c "SELECT mt.tenant_token('$t', '1 hour')")

# steady appends, about 40 a second, until told to stop (at most 120 s)
(
    for _ in $(seq 6000); do
        [ -e "$work/stop" ] && break
        printf "SELECT mt.audit('load.tick');\n"
        sleep 0.02
    done
) | PGOPTIONS="-c multitenant.token=$tok" "$MT_PGBIN/psql" -X -q -d $db >"$work/load.out" 2>&1 &
load=$!

workers() {
    mt_psql -d postgres -c "SELECT coalesce(string_agg(pid::text, ' ' ORDER BY pid), '') FROM pg_stat_activity
                            WHERE backend_type = 'multitenant flush' AND datname = '$db'"
}
has_worker() { [ -n "$(workers)" ]; }
wait_for 10 has_worker || fail "no sealing worker started for the appends"
# 4 s of appends: the processes that served them (sampled every 0.1 s).
# One worker stays through them; a round of multitenant.flush_interval
# may replace it once (the flush worker then stays in its place).  With a
# new worker per pass or per second there would be four or more.
seen=""
for _ in $(seq 40); do
    seen="$seen $(workers)"
    sleep 0.1
done
n=$(tr ' ' '\n' <<<"$seen" | grep -c . || true)
distinct=$(tr ' ' '\n' <<<"$seen" | grep . | sort -u | tr '\n' ' ' || true)
[ "$n" -ge 20 ] || fail "a sealing worker ran in only $n of 40 samples under steady appends"
[ "$(wc -w <<<"$distinct")" -le 2 ] || fail "4 s of appends were served by the workers $distinct (a new one every second or pass)"
unsealed=$(mt_psql -d $db -c "SELECT count(*) FROM mt.audit_log WHERE seq IS NULL AND at < now() - interval '2 seconds'")
[ "$unsealed" = 0 ] || fail "$unsealed events older than 2 s are unsealed while the worker stays"
echo "ok: the worker(s) $distinct served 4 s of appends, sealing as they came"

# a flush of the database does not wait for the stay to end
PGOPTIONS="-c multitenant.token=$tok" mt_psql -d $db -c "SELECT mt.track('exports')" >/dev/null
t0=$(date +%s%N)
rows=$(PGOPTIONS="-c statement_timeout=20s" mt_psql -d $db -c "SELECT mt.flush_usage()")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rows" -ge 1 ] || fail "mt.flush_usage() wrote no rollup row: $rows"
[ "$ms" -lt 3000 ] || fail "mt.flush_usage() waited $ms ms for the staying sealer"
echo "ok: mt.flush_usage() ran while appends continued ($ms ms, $rows rollup rows)"

# a new multitenant.audit_seal_interval is read between passes: with 1 h
# the worker leaves (a worker's stay ends before its next pass would)
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.audit_seal_interval = '1h'" -c "SELECT pg_reload_conf()" >/dev/null
no_worker() { [ -z "$(workers)" ]; }
wait_for 5 no_worker || fail "the sealing worker stayed after audit_seal_interval became 1 h: $(workers)"
echo "ok: the worker left once audit_seal_interval became 1 h"
mt_psql -d postgres -c "ALTER SYSTEM RESET multitenant.audit_seal_interval" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 10 has_worker || fail "no sealing worker started again after the interval was reset"

# the appends end: the worker leaves, and the database can be dropped at once
touch "$work/stop"
wait $load || fail "the appending session failed: $(cat "$work/load.out")"
grep -q ERROR "$work/load.out" && fail "an append failed: $(cat "$work/load.out")"
t0=$(date +%s%N)
mt_psql -d postgres -c "DROP DATABASE $db" >/dev/null || fail "DROP DATABASE failed after the appends ended"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 3000 ] || fail "DROP DATABASE waited $ms ms for the sealing worker"
echo "ok: DROP DATABASE right after the appends took $ms ms"
echo "all ok"
