#!/usr/bin/env bash
# Counter-table exhaustion across tenants.  Tenant A fills
# multitenant.max_counters with distinct metric names while no dynamic
# background worker can start (every max_worker_processes slot taken by
# A's parallel queries).  Afterwards tenant B's mt.authenticate, mt.track
# and mt.consume must still work at once: A holds at most its share
# (multitenant.tenant_counter_share) and gets 53400 for its own new
# metrics; the flush still runs (reserved flush worker); and
# mt.authenticate never fails because metering is full (its count is kept
# by the session and added later).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_counter_bound
pids=()
cluster_settings_save
restore() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    cluster_settings_restore restart
}
trap restore EXIT
cluster_conf multitenant.max_counters 1000
cluster_conf multitenant.flush_interval 1h
cluster_conf max_worker_processes 4
cluster_restart
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
a=$(mt_psql -d $db -c "SELECT mt.create_tenant('Attacker', 'attacker', 'enterprise')")
b=$(mt_psql -d $db -c "SELECT mt.create_tenant('Victim', 'victim', 'enterprise')")
kb=$(mt_psql -d $db -c "SELECT mt.create_api_key('$b', 'app')")
mt_psql -d $db -c "SELECT mt.set_quota('$b', 'exports', 100)" >/dev/null

# the audit events written so far sealed, and no flush or sealing worker of
# this database left running: it would hold one of the slots taken next
mt_psql -d $db -c "SELECT mt.audit_seal()" >/dev/null
no_db_worker() {
    [ "$(mt_psql -d $db -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'multitenant flush' AND datname = '$db'")" = 0 ]
}
wait_for 20 no_db_worker || fail "a flush worker of $db keeps running"
# occupy every free background-worker slot with parallel workers that sleep
for i in 1 2 3 4; do
    PGOPTIONS="-c force_parallel_mode=on -c max_parallel_workers=8" \
        "$MT_PGBIN/psql" -X -q -d $db -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
    pids+=($!)
done
# wait until the sessions hold their workers (the count is the same in two
# looks 0.5 s apart: a poll for a stable count, not a fixed wait)
prev=-1; busy=0
for _ in $(seq 50); do
    busy=$(mt_psql -d $db -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'")
    [ "$busy" -ge 1 ] && [ "$busy" = "$prev" ] && break
    prev=$busy; sleep 0.5
done
[ "$busy" -ge 1 ] || fail "could not occupy the worker slots"
echo "ok: $busy parallel workers hold the free worker slots"

# the attack: A tracks 1000 distinct metrics (the whole table) in one call
out=$(mt_psql -d $db -v VERBOSITY=verbose -c "SELECT mt.set_tenant('$a', false)" \
      -c "SELECT count(mt.track('m' || g)) FROM generate_series(1, 1000) g" 2>&1 || true)
attack=$out

# the victim is unaffected, and fast
t0=$(date +%s%N)
out=$(mt_psql -d $db -v VERBOSITY=verbose -c "BEGIN" -c "SELECT mt.authenticate('$kb') = '$b'" \
      -c "SELECT mt.track('bandwidth_bytes', 10)" -c "SELECT mt.consume('exports')" -c "COMMIT" 2>&1) ||
    fail "the victim's calls failed: $out"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(echo "$out" | head -1)" = t ] || fail "authenticate: $out"
[ "$ms" -lt 2000 ] || fail "the victim's first use took $ms ms"
echo "ok: the victim authenticates, tracks and consumes at once ($ms ms)"
grep -q "53400: too many usage counters for this tenant" <<<"$attack" ||
    fail "the attacker filled the table without an error for itself: $attack"
echo "ok: the attacker gets 53400 for its own new metric past its share"

# the flush does not need a free worker slot: the reserved flush worker
# runs it.  That worker waits unconnected (not in pg_stat_activity) and
# exits after one flush, to be started again by the postmaster; the
# launcher gives it a database only when no dynamic worker can start.  So
# the one waiting when the flush is asked for must be gone once the flush
# is done (not a warning in the log: that one needs the reserved worker to
# be busy too).  The attack's flush (its share full, it asks for one) may
# have taken it: wait until a new one waits.
reserved_pid() { pgrep -P "$(head -1 "$MT_PGDATA/postmaster.pid")" -f '^postgres: multitenant reserved flush' || true; }
reserved_waits() {
    reserved=$(reserved_pid)
    [ -n "$reserved" ] && mt_true $db "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $reserved)"
}
reserved_gone() { [ "$(reserved_pid)" != "$reserved" ]; }
wait_for 20 reserved_waits || fail "no reserved flush worker waits"
# The attack's flush can run after the victim's calls above and take their
# counts too (seen on a fast machine: then nothing was left to flush), so
# the victim counts once more now, while the reserved worker waits: the
# flush asked for below has that count to write.
mt_psql -d $db -c "SELECT mt.set_tenant('$b', false)" -c "SELECT mt.track('bandwidth_bytes', 5)" >/dev/null
out=$(PGOPTIONS="-c statement_timeout=20s" mt_psql -d $db -c "SELECT mt.flush_usage() > 0" 2>&1) ||
    fail "mt.flush_usage() without a free worker slot: $out"
[ "$out" = t ] || fail "flush wrote nothing: $out"
[ "$(mt_psql -d $db -c "SELECT sum(value) FROM mt.usage_rollup WHERE tenant_id = '$b' AND metric = 'bandwidth_bytes'")" = 15 ] ||
    fail "the victim's counts are not in the rollup"
wait_for 10 reserved_gone ||
    fail "the reserved flush worker (pid $reserved) did not run the flush: the test did not take every slot"
echo "ok: the flush ran while no dynamic worker could start (reserved flush worker)"

# after the flush the attacker's counters are idle: its share makes room again
out=$(mt_psql -d $db -c "SELECT mt.set_tenant('$a', false)" -c "SELECT count(mt.track('n' || g)) FROM generate_series(1, 50) g" 2>&1) ||
    fail "the attacker's idle counters did not make room after the flush: $out"
echo "ok: after a flush a tenant's idle counters make room within its share"

# authentication never fails because metering is full: with the whole table
# holding unflushed counts and the flush blocked, api_calls is kept by the session
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
mt_psql -d postgres -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = '$db' AND query = 'SELECT pg_sleep(60)'" >/dev/null
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
mt_psql -d $db -c "BEGIN" -c "LOCK TABLE mt.usage_rollup IN SHARE MODE" -c "SELECT pg_sleep(8)" >/dev/null 2>&1 &
locker=$!
wait_for 10 lock_granted $db mt.usage_rollup ShareLock || fail "the rollup lock was not taken"
for i in $(seq 1 10); do   # ten tenants, each at its share: the table is full
    id=$(mt_psql -d $db -c "SELECT mt.create_tenant('Filler $i', 'filler-$i', 'enterprise')")
    mt_psql -d $db -c "SELECT mt.set_tenant('$id', false)" -c "SELECT count(mt.track('f' || g)) FROM generate_series(1, 100) g" >/dev/null 2>&1 || true
done
full=$(mt_psql -d $db -c "SELECT sum((SELECT count(*) FROM mt.usage(t.id) u WHERE u.metric LIKE 'f%' AND u.used > 0))
                           FROM mt.tenants t WHERE t.slug LIKE 'filler-%'")
[ "$full" = 1000 ] || fail "the table is not full of unflushed counts ($full)"
coproc AUTH { PGOPTIONS="-c client_min_messages=warning" "$MT_PGBIN/psql" -X -q -At -d $db 2>&1; }
echo "SELECT mt.authenticate('$kb') = '$b';" >&"${AUTH[1]}"
read -r -t 3 line <&"${AUTH[0]}" || fail "mt.authenticate did not answer within 3 s with a full counter table"
[ "$line" = t ] || fail "mt.authenticate failed with a full counter table: $line"
echo "ok: mt.authenticate succeeds at once with the table full of unflushed counts"
wait $locker || true
mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null
# the next call of that session adds the kept count
echo "SELECT mt.authenticate('$kb') = '$b';" >&"${AUTH[1]}"
read -r -t 10 line <&"${AUTH[0]}" || fail "second authenticate did not answer"
[ "$line" = t ] || fail "second authenticate: $line"
used=$(mt_psql -d $db -c "SELECT used FROM mt.usage('$b', 'day') WHERE metric = 'api_calls'")
[ "$used" = 3 ] || fail "api_calls of the victim: $used, expected 3 (the kept count was lost)"
echo "ok: the count kept by the session is added once there is room (api_calls = $used)"
exec {AUTH[1]}>&-
mt_psql -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
echo "all ok"
