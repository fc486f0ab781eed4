#!/usr/bin/env bash
# Usage counts survive a clean restart exactly (what is not flushed yet is
# written to a file by the postmaster at shutdown and put back at start);
# after an immediate-mode stop and after a crash, everything flushed
# survives and at most what was counted after the last flush is lost.
# Also: multitenant.flush_interval is reloadable and the worker flushes on
# its own.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

db=mt_restart_usage
cluster_settings_save   # flush_interval changes below
trap 'cluster_settings_restore' EXIT
mt_psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
mt_psql -d $db -c "CREATE EXTENSION multitenant"
acme=$(mt_psql -d $db -c "SELECT mt.create_tenant('Acme', 'acme', 'enterprise')")
globex=$(mt_psql -d $db -c "SELECT mt.create_tenant('Globex', 'globex', 'enterprise')")

# the periodic flush waits an hour, so this script decides what is flushed
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.flush_interval = '1h'" >/dev/null
cluster_reload_wait

count() {   # count <tenant> <metric> <amount> <times>
    mt_psql -d $db -c "SELECT mt.set_tenant('$1', false)" \
        -c "SELECT count(mt.track('$2', $3)) FROM generate_series(1, $4)" >/dev/null
}
counted() { # exact totals of both tenants, flushed + pending
    mt_psql -d $db -c "SELECT coalesce(sum(used), 0) FROM (
        SELECT used FROM mt.usage('$acme') UNION ALL SELECT used FROM mt.usage('$globex')) u"
}
flushed() { mt_psql -d $db -c "SELECT coalesce(sum(value), 0) FROM mt.usage_rollup"; }
flush() { mt_psql -d $db -c "SELECT mt.flush_usage()" >/dev/null; }
wait_ready() { wait_for 60 mt_true postgres "SELECT true" || fail "server did not come back"; }
launcher_pid() { mt_psql -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'multitenant launcher'" 2>/dev/null; }
launcher_replaced() { local p; p=$(launcher_pid) && [ -n "$p" ] && [ "$p" != "$1" ]; }

# --- clean restart: nothing lost ---------------------------------------
count "$acme" api_calls 1 500
count "$globex" storage_bytes 4096 20
flush
count "$acme" api_calls 1 250          # pending
count "$acme" exports 3 10             # pending, never flushed
count "$globex" api_calls 7 3          # pending
before=$(counted); fl=$(flushed)
[ "$before" = $((500 + 4096 * 20 + 250 + 30 + 21)) ] || fail "unexpected total before restart: $before"
[ "$fl" = $((500 + 4096 * 20)) ] || fail "unexpected flushed total: $fl"
echo "ok: counted $before, flushed $fl before the clean restart"

cluster_stop fast
[ -s "$MT_PGDATA/pg_stat/multitenant_usage.stat" ] || fail "no counter file written at shutdown"
echo "ok: pending counts written to pg_stat/multitenant_usage.stat at shutdown"
cluster_start
[ -e "$MT_PGDATA/pg_stat/multitenant_usage.stat" ] && fail "counter file not consumed at start"
after=$(counted)
[ "$after" = "$before" ] || fail "clean restart: counted $after, expected $before"
echo "ok: clean restart kept every count ($after)"
flush
[ "$(flushed)" = "$before" ] || fail "after flush the rollup holds $(flushed), expected $before"
echo "ok: restored counts flushed exactly"
# a second clean restart with nothing pending writes no file and keeps totals
cluster_restart
[ "$(counted)" = "$before" ] || fail "second restart changed totals"
echo "ok: second clean restart"

# --- immediate-mode stop -------------------------------------------------
count "$acme" api_calls 1 100
flush
count "$globex" api_calls 1 40        # after the last flush
fl=$(flushed); before=$(counted)
cluster_stop immediate
cluster_start
wait_ready
after=$(counted)
[ "$after" -ge "$fl" ] || fail "immediate stop lost flushed counts ($after < $fl)"
[ "$after" -le "$before" ] || fail "immediate stop invented counts ($after > $before)"
echo "ok: immediate stop: flushed $fl, counted $before, after restart $after (lost $((before - after)))"
flush
[ "$(flushed)" = "$after" ] || fail "after immediate stop the rollup holds $(flushed), usage says $after"

# --- crash (a backend killed with SIGKILL: shared memory is reset) --------
count "$acme" api_calls 1 60
flush
count "$acme" api_calls 1 25          # after the last flush: may be lost
fl=$(flushed); before=$(counted)
launcher=$(launcher_pid)
[ -n "$launcher" ] || fail "no launcher running"
mt_psql -d $db -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
sleeper=$!
sleeper_pid() { pid=$(mt_psql -d postgres -c "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' LIMIT 1"); [ -n "$pid" ]; }
wait_for 5 sleeper_pid || fail "no backend to kill"
as_pg kill -9 "$pid"
wait "$sleeper" 2>/dev/null || true
# the postmaster reinitialised shared memory: a new launcher runs
wait_for 60 launcher_replaced "$launcher" || fail "the server did not restart after the crash"
wait_ready
after=$(counted)
[ "$after" -ge "$fl" ] || fail "crash lost flushed counts ($after < $fl)"
[ "$after" -le "$before" ] || fail "crash invented counts ($after > $before)"
[ "$after" = "$fl" ] || fail "after a crash the pending counts should be gone ($after, flushed $fl)"
echo "ok: crash: flushed $fl survived, counted $before, after $after (lost the $((before - after)) counted after the last flush)"

# --- the worker flushes by itself; the interval is reloadable --------------
mt_psql -d postgres -c "ALTER SYSTEM SET multitenant.flush_interval = '200ms'" -c "SELECT pg_reload_conf()" >/dev/null
count "$globex" exports 1 5
want=$(counted)
all_flushed() { [ "$(flushed)" = "$want" ]; }
wait_for 10 all_flushed || true
[ "$(flushed)" = "$want" ] || fail "the worker did not flush on its own ($(flushed) of $want)"
echo "ok: the worker flushed on its own after SIGHUP lowered the interval"

# --- DROP DATABASE is not blocked by the flush workers ---------------------
count "$acme" api_calls 1 5
mt_psql -d postgres -c "DROP DATABASE $db"
echo "ok: database with counters dropped"

cluster_settings_restore
echo "all ok"
